//! [`Endpoint`]: where one end of a connection is (asyncio's `peername`/`sockname`).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// One end of a connection, as reported by [`Transport::peer_addr`] and
/// [`Transport::local_addr`](crate::Transport::local_addr).
///
/// It prints as a URL of its scheme: `tcp://127.0.0.1:5555`, `ipc://[/tmp/a.sock]`,
/// `local://queue-id`.
///
/// [`Transport::peer_addr`]: crate::Transport::peer_addr
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// An IP socket address.
    Socket(SocketAddr),
    /// A Unix domain socket; `None` for an unnamed (client) socket.
    Unix(Option<PathBuf>),
    /// A local queue, by id.
    Local(String),
    /// Anything else a third-party backend wants to report, already as a URL.
    Other(String),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Socket(addr) => write!(f, "tcp://{addr}"),
            Endpoint::Unix(Some(path)) => write!(f, "ipc://[{}]", path.display()),
            Endpoint::Unix(None) => f.write_str("ipc://[]"),
            Endpoint::Local(id) => write!(f, "local://{id}"),
            Endpoint::Other(url) => f.write_str(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_as_url() {
        let sa: SocketAddr = "[::1]:80".parse().expect("valid literal");
        assert_eq!(Endpoint::Socket(sa).to_string(), "tcp://[::1]:80");
        assert_eq!(
            Endpoint::Unix(Some("/tmp/a.sock".into())).to_string(),
            "ipc://[/tmp/a.sock]"
        );
        assert_eq!(Endpoint::Local("q".into()).to_string(), "local://q");
    }
}
