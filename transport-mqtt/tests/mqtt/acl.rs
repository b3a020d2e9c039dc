//! A broker whose ACLs refuse our subscriptions (SUBACK return code
//! 0x80): a server or a client that cannot hear on its topics is an error
//! that names them, not a server that never gets a SYN or a client that
//! never gets its answer.

use std::io::ErrorKind;
use std::time::Duration;

use transport_api::conformance::{Log, Recorder};
use transport_api::{Address, Server};

use crate::brokers::Mosquitto;
use crate::support::{addr, say};

const WAIT: Duration = Duration::from_secs(20);

/// The dynamic security plugin's configuration: anonymous clients may do
/// anything but subscribe to the server topics under `test/denied/`; the
/// client `deaf` (password `deaf`: PBKDF2-SHA512, 101 rounds, salt
/// `agentwire-12`) may not subscribe to any inbox. (mosquitto 2.0's
/// `acl_file` never refuses a subscription; it filters deliveries.)
const DYNAMIC_SECURITY: &str = r#"{
  "defaultACLAccess": {"publishClientSend": true, "publishClientReceive": true,
                       "subscribe": true, "unsubscribe": true},
  "clients": [{"username": "deaf", "iterations": 101,
               "salt": "YWdlbnR3aXJlLTEy",
               "password": "SHka5yiN4GJ9s00cVmBCxdXj5qGUtjf8dCHK7kioNxOyoyxpFltgZ7N7Ebjvj1ZNGxDC0w0+0mPPoNjKjeo2Ng==",
               "roles": [{"rolename": "deaf"}]}],
  "groups": [{"groupname": "anonymous", "roles": [{"rolename": "no-denied-servers"}]}],
  "roles": [
    {"rolename": "no-denied-servers", "acls": [{"acltype": "subscribePattern",
      "topic": "agentwire/srv/test/denied/#", "priority": 0, "allow": false}]},
    {"rolename": "deaf", "acls": [{"acltype": "subscribePattern",
      "topic": "agentwire/in/#", "priority": 0, "allow": false}]}
  ],
  "anonymousGroup": "anonymous"
}"#;

#[tokio::test]
async fn refused_subscriptions_are_errors_that_name_the_topic() {
    let Some(broker) = Mosquitto::start_with_dynamic_security(DYNAMIC_SECURITY) else {
        say(
            "refused subscriptions on mosquitto: NOT RUN, mosquitto or its dynamic security \
             plugin is not installed",
        );
        return;
    };

    // A server whose topic the broker refuses.
    let denied = addr(broker.port, "denied");
    let err = tokio::time::timeout(WAIT, denied.create_server(Recorder::default))
        .await
        .expect("answers in time")
        .map(|_| ())
        .expect_err("the broker refuses the server topic");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    let topic = format!("agentwire/srv/{}", denied.name());
    assert!(err.to_string().contains(&topic), "{err}");
    assert!(
        !err.to_string().contains("agentwire/in/"),
        "only the refused filter is named: {err}"
    );

    // The same broker takes a server under another name, and a client
    // reaches it: the refusal was that topic's, not the broker's.
    let allowed = addr(broker.port, "allowed");
    let server = tokio::time::timeout(WAIT, allowed.create_server(Recorder::default))
        .await
        .expect("answers in time")
        .expect("the broker takes this server topic");
    let log = Log::new();
    let (transport, _) = tokio::time::timeout(WAIT, allowed.create_connection(Recorder::new(&log)))
        .await
        .expect("connects in time")
        .expect("connects");
    transport_api::Transport::close(&transport);

    // A client whose inbox the broker refuses (it would never hear the
    // server's answer).
    let deaf = allowed.clone().with_credentials("deaf", "deaf");
    let err = tokio::time::timeout(WAIT, deaf.create_connection(Recorder::new(&log)))
        .await
        .expect("answers in time")
        .map(|_| ())
        .expect_err("the broker refuses the client's inbox");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    assert!(err.to_string().contains("agentwire/in/"), "{err}");

    server.close();
    tokio::time::timeout(WAIT, server.wait_closed())
        .await
        .expect("closes in time");
}
