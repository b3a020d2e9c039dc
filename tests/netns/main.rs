//! Containers on separate hosts: three Linux network namespaces (two
//! "hosts" joined by a veth pair, and a third for the MQTT broker, reached
//! from each host over a link of its own), and agents in processes on the
//! two hosts calling each other over TCP, over TLS with mutual
//! authentication, and through the broker. Nothing runs on loopback
//! between them: every address is a namespace's own interface address.
//!
//! Needs root (`ip netns`); elsewhere the test says that it did not run and
//! why, and passes. CI runs as root. The namespaces are removed however the
//! test ends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../transport-mqtt/tests/mqtt/brokers.rs"]
#[allow(dead_code)]
mod brokers;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use agentwire::rpc::Router;
use agentwire::{Container, ContainerOptions};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// Host A and host B on the veth pair between them.
const A_IP: &str = "10.200.1.1";
const B_IP: &str = "10.200.1.2";
/// The broker's address (on its namespace's loopback, routed to from
/// both hosts over their links to it).
const BROKER_IP: &str = "10.200.9.1";
const BROKER_PORT: u16 = 1883;

/// Environment of the helper processes.
const ROLE: &str = "AGENTWIRE_NETNS_ROLE";
const SERVE: &str = "AGENTWIRE_NETNS_SERVE";
const PKI_DIR: &str = "AGENTWIRE_NETNS_PKI";

/// Why this machine cannot run the test, if it cannot.
fn cannot_run() -> Option<String> {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        });
    if uid.as_deref() != Some("0") {
        return Some(format!(
            "not root (uid {})",
            uid.unwrap_or_else(|| "unknown".into())
        ));
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("the `ip` command (iproute2) is not installed".into()),
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The three namespaces, removed (with their links) when dropped.
struct Net {
    a: String,
    b: String,
    broker: String,
}

impl Net {
    fn create() -> Result<Net, String> {
        let tag = std::process::id();
        let net = Net {
            a: format!("aw{tag}a"),
            b: format!("aw{tag}b"),
            broker: format!("aw{tag}k"),
        };
        for ns in [&net.a, &net.b, &net.broker] {
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        let (a, b, k) = (net.a.as_str(), net.b.as_str(), net.broker.as_str());
        // Host A <-> host B.
        let (va, vb) = (format!("aw{tag}ab"), format!("aw{tag}ba"));
        ip(&[
            "link", "add", &va, "netns", a, "type", "veth", "peer", "name", &vb, "netns", b,
        ])?;
        ip(&["-n", a, "addr", "add", &format!("{A_IP}/24"), "dev", &va])?;
        ip(&["-n", b, "addr", "add", &format!("{B_IP}/24"), "dev", &vb])?;
        ip(&["-n", a, "link", "set", &va, "up"])?;
        ip(&["-n", b, "link", "set", &vb, "up"])?;
        // Each host <-> the broker's namespace, on a subnet of its own; the
        // broker's service address is on its loopback.
        ip(&[
            "-n",
            k,
            "addr",
            "add",
            &format!("{BROKER_IP}/32"),
            "dev",
            "lo",
        ])?;
        for (host, subnet) in [(a, 2), (b, 3)] {
            let (vh, vk) = (format!("{host}k"), format!("aw{tag}k{subnet}"));
            ip(&[
                "link", "add", &vh, "netns", host, "type", "veth", "peer", "name", &vk, "netns", k,
            ])?;
            ip(&[
                "-n",
                host,
                "addr",
                "add",
                &format!("10.200.{subnet}.2/24"),
                "dev",
                &vh,
            ])?;
            ip(&[
                "-n",
                k,
                "addr",
                "add",
                &format!("10.200.{subnet}.1/24"),
                "dev",
                &vk,
            ])?;
            ip(&["-n", host, "link", "set", &vh, "up"])?;
            ip(&["-n", k, "link", "set", &vk, "up"])?;
            ip(&[
                "-n",
                host,
                "route",
                "add",
                &format!("{BROKER_IP}/32"),
                "via",
                &format!("10.200.{subnet}.1"),
            ])?;
        }
        Ok(net)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Deleting a namespace deletes its veth ends, and so their peers.
        for ns in [&self.a, &self.b, &self.broker] {
            let _ = ip(&["netns", "delete", ns]);
        }
    }
}

/// A helper process (this test binary, running `netns_helper`) in a
/// namespace; killed when dropped.
struct Helper {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Helper {
    fn start(ns: &str, envs: &[(&str, String)]) -> Helper {
        let exe = std::env::current_exe().expect("this test binary");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns])
            .arg(exe)
            .args(["netns_helper", "--exact", "--ignored", "--nocapture"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start a helper in a namespace");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let stdin = child.stdin.take();
        Helper {
            child,
            stdin,
            lines,
        }
    }

    /// The rest of the next line that starts with `prefix`.
    fn expect(&self, prefix: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no {prefix:?} line from a helper"));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_owned();
            }
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to helper");
        stdin.flush().expect("flush");
    }

    /// Closes stdin (the helper shuts down) and checks that it succeeded.
    fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "helper failed: {status}");
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A CA and one certificate for both hosts (server and client use, with
/// both host addresses), as DER files in `dir`.
fn write_pki(dir: &Path) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.distinguished_name
        .push(DnType::CommonName, "agentwire netns CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let mut host = CertificateParams::new(vec![A_IP.to_owned(), B_IP.to_owned()]).unwrap();
    host.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = host.signed_by(&key, &issuer).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("ca.der"), ca_cert.der()).unwrap();
    std::fs::write(dir.join("host.der"), cert.der()).unwrap();
    std::fs::write(dir.join("host.key"), key.serialize_der()).unwrap();
}

/// Container options with mutual TLS from the files in `dir`.
fn mtls_options(dir: &Path) -> ContainerOptions {
    use agentwire::tcp::tls::{
        self,
        rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer},
    };
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let ca = CertificateDer::from(read("ca.der"));
    let chain = vec![CertificateDer::from(read("host.der"))];
    let key = || PrivatePkcs8KeyDer::from(read("host.key")).into();
    let roots = || tls::root_store([ca.clone()]).unwrap();
    ContainerOptions::new()
        .tls_server_config(
            tls::server_config_with_client_auth(chain.clone(), key(), roots()).unwrap(),
        )
        .tls_client_config(tls::client_config_with_cert(roots(), chain, key()).unwrap())
}

fn calc() -> Router {
    Router::new().method("add", |(a, b): (i64, i64)| async move {
        Ok::<_, std::convert::Infallible>(a + b)
    })
}

/// One transport: agents on host A and host B, each calling the other.
fn across(net: &Net, url_a: &str, url_b: &str, pki: Option<&PathBuf>) {
    let env = |url: &str| {
        let mut e = vec![(ROLE, "agent".to_owned()), (SERVE, url.to_owned())];
        if let Some(dir) = pki {
            e.push((PKI_DIR, dir.display().to_string()));
        }
        e
    };
    let mut a = Helper::start(&net.a, &env(url_a));
    let mut b = Helper::start(&net.b, &env(url_b));
    let (agent_a, agent_b) = (a.expect("AGENT "), b.expect("AGENT "));
    assert!(!agent_a.contains("127.0.0.1") && !agent_b.contains("127.0.0.1"));
    a.send(&agent_b);
    b.send(&agent_a);
    assert_eq!(a.expect("CALLED "), format!("{agent_b} 5"));
    assert_eq!(b.expect("CALLED "), format!("{agent_a} 5"));
    a.finish();
    b.finish();
    say(&format!("separate hosts: {agent_a} <-> {agent_b} ok"));
}

#[test]
fn agents_on_separate_hosts_over_tcp_tls_and_mqtt() {
    if let Some(why) = cannot_run() {
        say(&format!(
            "separate hosts (network namespaces): NOT RUN: {why}"
        ));
        return;
    }
    let net = match Net::create() {
        Ok(net) => net,
        Err(e) if std::env::var_os("CI").is_none() => {
            say(&format!(
                "separate hosts (network namespaces): NOT RUN: cannot create namespaces: {e}"
            ));
            return;
        }
        Err(e) => panic!("cannot create network namespaces on CI: {e}"),
    };
    let pki = std::env::temp_dir().join(format!("agentwire-netns-pki-{}", std::process::id()));
    write_pki(&pki);

    across(
        &net,
        &format!("tcp://{A_IP}:0"),
        &format!("tcp://{B_IP}:0"),
        None,
    );
    across(
        &net,
        &format!("tls://{A_IP}:0"),
        &format!("tls://{B_IP}:0"),
        Some(&pki),
    );

    let broker = Helper::start(&net.broker, &[(ROLE, "broker".to_owned())]);
    broker.expect("BROKER");
    let mqtt = format!("mqtt://{BROKER_IP}:{BROKER_PORT}/netns");
    across(&net, &format!("{mqtt}/a"), &format!("{mqtt}/b"), None);
    drop(broker);
    let _ = std::fs::remove_dir_all(&pki);
}

/// The helper processes of the test above (does nothing unless started by
/// it): a broker, or a container with a `Calc` agent that prints its URL,
/// calls the agent whose URL it reads from stdin, prints the result, and
/// serves until stdin closes.
#[test]
#[ignore = "a helper that the test above starts inside a network namespace"]
fn netns_helper() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    if role == "broker" {
        brokers::rumqttd_on_all_interfaces(BROKER_PORT);
        println!("BROKER");
        wait_for_stdin_eof();
        return;
    }
    let serve = std::env::var(SERVE).expect("a container URL");
    let options = match std::env::var(PKI_DIR) {
        Ok(dir) => mtls_options(Path::new(&dir)),
        Err(_) => ContainerOptions::new(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let c = Container::create_with(serve.as_str(), options)
            .await
            .expect("container");
        let agent = c.register("Calc", calc()).expect("register");
        println!("AGENT {}", agent.url());
        std::io::stdout().flush().expect("flush");
        let peer = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .expect("read the peer's URL");
            line.trim().to_owned()
        })
        .await
        .expect("stdin");
        let proxy = c.connect(&peer).await.expect("connect to the other host");
        let sum: i64 = proxy.call("add", (2, 3)).await.expect("call across hosts");
        println!("CALLED {peer} {sum}");
        std::io::stdout().flush().expect("flush");
        tokio::task::spawn_blocking(wait_for_stdin_eof)
            .await
            .expect("stdin");
        c.shutdown().await;
    });
}

/// A line in the test output even when the harness captures output.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn wait_for_stdin_eof() {
    let mut buf = String::new();
    while std::io::stdin()
        .read_line(&mut buf)
        .map(|n| n > 0)
        .unwrap_or(false)
    {
        buf.clear();
    }
}
