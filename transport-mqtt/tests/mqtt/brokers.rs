//! Real brokers for the tests: rumqttd embedded in the test process (always
//! available), and Debian's mosquitto started as a child process when the
//! binary is installed. Both listen on a free loopback port.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, then released for the broker).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// Waits until something accepts TCP connections on `port`.
fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start listening on port {port}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The port of this test process's embedded rumqttd (started on first use;
/// its threads end with the process).
pub fn rumqttd() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(rumqttd_of_its_own)
}

/// Starts another embedded rumqttd, for one test alone, and returns its
/// port (its threads end with the process).
///
/// The storms use one each. rumqttd 0.20 can deadlock after hundreds of
/// sessions end at once: its router and listener threads then sit idle and
/// every new session times out waiting for its CONNACK, which on a shared
/// broker failed the tests that ran after a storm.
pub fn rumqttd_of_its_own() -> u16 {
    let port = free_port();
    let config = rumqttd_config(&format!("127.0.0.1:{port}"), 10010);
    std::thread::Builder::new()
        .name("rumqttd".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                eprintln!("rumqttd stopped: {e}");
            }
        })
        .expect("spawn rumqttd");
    wait_listening(port, "rumqttd");
    port
}

/// A mosquitto broker, a child process with a config of its own; killed
/// when dropped.
pub struct Mosquitto {
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl Mosquitto {
    fn binary() -> Option<PathBuf> {
        [
            "/usr/sbin/mosquitto",
            "/usr/bin/mosquitto",
            "/usr/local/sbin/mosquitto",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    }

    /// Starts mosquitto on a free port; `None` when it is not installed.
    pub fn start() -> Option<Mosquitto> {
        Self::start_on(free_port())
    }

    /// Starts mosquitto on `port` (to restart one on the port it had).
    pub fn start_on(port: u16) -> Option<Mosquitto> {
        Self::launch(port, None, "")
    }

    /// Starts mosquitto with a TLS listener on a free port, presenting
    /// `cert` (PEM, with its `key`) and trusting `ca` (PEM) for client
    /// certificates, which it requires with `require_certificate`. `None`
    /// when mosquitto is not installed.
    pub fn start_tls(
        ca: &Path,
        cert: &Path,
        key: &Path,
        require_certificate: bool,
    ) -> Option<Mosquitto> {
        let listener = format!(
            "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {require_certificate}\n",
            ca.display(),
            cert.display(),
            key.display()
        );
        Self::launch(free_port(), None, &listener)
    }

    /// Where mosquitto's dynamic security plugin is, if installed.
    fn dynamic_security_plugin() -> Option<PathBuf> {
        let name = "mosquitto_dynamic_security.so";
        let multiarch = std::fs::read_dir("/usr/lib")
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path().join(name));
        ["/usr/lib", "/usr/local/lib", "/usr/lib/mosquitto"]
            .iter()
            .map(|dir| PathBuf::from(dir).join(name))
            .chain(multiarch)
            .find(|p| p.exists())
    }

    /// Starts mosquitto on a free port with its dynamic security plugin,
    /// configured by `config` (the plugin's JSON: clients, groups, roles
    /// and their ACLs). Its ACLs can refuse subscriptions, which the
    /// `acl_file` of mosquitto 2.0 cannot. `None` when mosquitto or the
    /// plugin is not installed.
    pub fn start_with_dynamic_security(config: &str) -> Option<Mosquitto> {
        let plugin = Self::dynamic_security_plugin()?;
        Self::launch(free_port(), Some((&plugin, config)), "")
    }

    /// `listener`: more settings of the listener (TLS files).
    fn launch(port: u16, dynsec: Option<(&Path, &str)>, listener: &str) -> Option<Mosquitto> {
        let binary = Self::binary()?;
        let dir =
            std::env::temp_dir().join(format!("agentwire-mosquitto-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mosquitto temp dir");
        let conf = dir.join("mosquitto.conf");
        let plugin_lines = match dynsec {
            Some((plugin, config)) => {
                let file = dir.join("dynamic-security.json");
                std::fs::write(&file, config).expect("write the dynamic security config");
                format!(
                    "plugin {}\nplugin_opt_config_file {}\n",
                    plugin.display(),
                    file.display()
                )
            }
            None => String::new(),
        };
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\n\
                 {listener}\
                 allow_anonymous true\n\
                 persistence false\n\
                 max_packet_size 1048576\n\
                 max_queued_messages 100000\n\
                 max_inflight_messages 100\n\
                 set_tcp_nodelay true\n\
                 log_dest stderr\n\
                 log_type error\n\
                 {plugin_lines}"
            ),
        )
        .expect("write mosquitto.conf");
        let child = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        wait_listening(port, "mosquitto");
        Some(Mosquitto { port, child, dir })
    }

    /// Freezes the broker (SIGSTOP): it keeps its sockets but reads and
    /// answers nothing, as a hung broker or a stalled network would.
    pub fn pause(&mut self) {
        let _ = Command::new("kill")
            .arg("-STOP")
            .arg(self.child.id().to_string())
            .status();
    }

    /// Stops the broker (SIGKILL: it goes away as a crashed broker would).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts an embedded rumqttd listening on `0.0.0.0:port` (for a broker in
/// a network namespace of its own) and waits until it accepts.
pub fn rumqttd_on_all_interfaces(port: u16) {
    let config = rumqttd_config(&format!("0.0.0.0:{port}"), 1000);
    std::thread::spawn(move || {
        let _ = rumqttd::Broker::new(config).start();
    });
    wait_listening(port, "rumqttd");
}

/// An embedded rumqttd's configuration: one MQTT 3.1.1 listener on
/// `listen`, 1 MiB payloads.
fn rumqttd_config(listen: &str, max_connections: usize) -> rumqttd::Config {
    let config = serde_json::json!({
        "id": 0,
        "router": {
            "id": 0,
            "max_connections": max_connections,
            "max_outgoing_packet_count": 200,
            "max_segment_size": 4 * 1024 * 1024,
            "max_segment_count": 8,
        },
        "v4": {
            "1": {
                "name": "v4-1",
                "listen": listen,
                "next_connection_delay_ms": 0,
                "connections": {
                    "connection_timeout_ms": 60000,
                    "max_payload_size": 1024 * 1024,
                    "max_inflight_count": 100,
                    "dynamic_filters": true,
                }
            }
        }
    });
    serde_json::from_value(config).expect("rumqttd config")
}
