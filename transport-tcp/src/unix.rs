//! Unix domain sockets: [`UnixAddr`] (`ipc://[/path/to.sock]`), its
//! [`Address`] implementation and the socket-file rules.
//!
//! - Connecting to a path where no socket file exists is [`Error::NotFound`];
//!   to a socket file nobody listens on, [`Error::ConnectionRefused`].
//! - A server refuses to start on a path that exists and is not a socket
//!   ([`Error::AddrInUse`]): a user's file is never deleted. A socket file
//!   that nobody listens on any more (left by a crashed server) is replaced;
//!   one that a live server listens on is [`Error::AddrInUse`]. A server of
//!   this process is known without connecting to it; a server of another
//!   process is found by a probe connection (which it sees accepted and
//!   closed at once).
//! - A server removes its socket file when closed, if the file is still the
//!   one it created.

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};

use async_trait::async_trait;
use tokio::net::{UnixListener, UnixStream};
use transport_api::{boxed_factory, Address, Endpoint, Error, Protocol, ProtocolHandle, Result};

use crate::conn::{self, ConnInfo};
use crate::server::Listener;
use crate::tcp_addr::strip_scheme;
use crate::{SocketServer, SocketTransport, UnixServer};

/// The longest socket path the OS accepts (`sun_path` holds 108 bytes with
/// the terminating NUL on Linux; 104 on some BSDs).
const MAX_PATH_LEN: usize = 107;

/// A Unix domain socket address, `ipc://[/path/to.sock]` (aiomas's form: the
/// path in brackets). Relative paths are relative to the working directory.
///
/// ```
/// use transport_tcp::UnixAddr;
/// let addr: UnixAddr = "ipc://[/tmp/agent.sock]".parse().unwrap();
/// assert_eq!(addr.path(), std::path::Path::new("/tmp/agent.sock"));
/// assert_eq!(addr.to_string(), "ipc://[/tmp/agent.sock]");
/// assert!("ipc://[]".parse::<UnixAddr>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnixAddr {
    path: PathBuf,
}

impl UnixAddr {
    /// The URL scheme.
    pub const SCHEME: &'static str = "ipc";

    /// An address for `path`, checked.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] naming the path if it is empty, contains a
    /// NUL byte or is longer than the OS allows.
    pub fn new(path: impl Into<PathBuf>) -> Result<Self> {
        let addr = UnixAddr { path: path.into() };
        addr.validate(&addr.to_string())?;
        Ok(addr)
    }

    /// The socket file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn validate(&self, input: &str) -> Result<()> {
        let bytes = self.path.as_os_str().as_encoded_bytes();
        if bytes.is_empty() {
            return Err(Error::invalid_address(input, "empty socket path"));
        }
        if bytes.contains(&0) {
            return Err(Error::invalid_address(
                input,
                "a socket path cannot contain a NUL byte",
            ));
        }
        if bytes.len() > MAX_PATH_LEN {
            return Err(Error::invalid_address(
                input,
                format!(
                    "socket path too long ({} bytes, at most {MAX_PATH_LEN})",
                    bytes.len()
                ),
            ));
        }
        Ok(())
    }
}

impl fmt::Display for UnixAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ipc://[{}]", self.path.display())
    }
}

impl FromStr for UnixAddr {
    type Err = Error;

    /// Parses `ipc://[path]`.
    fn from_str(input: &str) -> Result<Self> {
        let rest = strip_scheme(input, Self::SCHEME)?;
        let bad = |reason: &str| Error::invalid_address(input, reason);
        let Some(after_open) = rest.strip_prefix('[') else {
            return Err(bad(if rest.contains(']') {
                "unbalanced brackets: ']' without '['"
            } else {
                "expected the path in brackets: ipc://[/path/to.sock]"
            }));
        };
        let Some(close) = after_open.rfind(']') else {
            return Err(bad("unbalanced brackets: '[' without ']'"));
        };
        if close + 1 != after_open.len() {
            return Err(bad("unexpected text after ']'"));
        }
        let addr = UnixAddr {
            path: PathBuf::from(&after_open[..close]),
        };
        addr.validate(input)?;
        Ok(addr)
    }
}

/// Unchecked: a bad path is reported when binding or connecting.
impl From<PathBuf> for UnixAddr {
    fn from(path: PathBuf) -> Self {
        UnixAddr { path }
    }
}

/// Unchecked: a bad path is reported when binding or connecting.
impl From<&Path> for UnixAddr {
    fn from(path: &Path) -> Self {
        UnixAddr {
            path: path.to_owned(),
        }
    }
}

#[async_trait]
impl Address for UnixAddr {
    type Transport = SocketTransport;
    type Server = UnixServer;

    fn scheme(&self) -> &'static str {
        UnixAddr::SCHEME
    }

    /// Listens on the socket file (see the [module docs](self) for the rules
    /// about existing files).
    ///
    /// # Errors
    ///
    /// [`Error::AddrInUse`] when a live server owns the path or the path is
    /// not a socket; [`Error::InvalidAddress`] for a bad path;
    /// [`Error::NoRuntime`] outside tokio; other OS errors as [`Error::Io`].
    async fn create_server<P, F>(&self, factory: F) -> Result<UnixServer>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let runtime = conn::runtime()?;
        self.validate(&self.to_string())?;
        clear_stale_socket(self)?;
        let listener = UnixListener::bind(&self.path).map_err(|e| Error::from_io(e, self))?;
        let ours = std::fs::symlink_metadata(&self.path)
            .map(|m| (m.dev(), m.ino()))
            .ok();
        let listener = LiveListener::new(listener, ours);
        let path = self.path.clone();
        let on_close = Box::new(move || remove_if_ours(&path, ours));
        let factory = boxed_factory(factory);
        let local = Endpoint::Unix(Some(self.path.clone()));
        let spawner = runtime.clone();
        let handle = move |stream: UnixStream, token| {
            let info = ConnInfo {
                kind: UnixAddr::SCHEME,
                peer: stream.peer_addr().ok().map(|a| unix_endpoint(&a)),
                local: Some(local.clone()),
                #[cfg(feature = "tls")]
                tls: None,
            };
            conn::spawn_accepted(&spawner, stream, info, factory.clone(), token);
        };
        Ok(SocketServer::start(
            &runtime,
            listener,
            self.clone(),
            handle,
            Some(on_close),
        ))
    }

    /// Connects to the socket file and returns once `protocol` got
    /// `connection_made`.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is no socket file,
    /// [`Error::ConnectionRefused`] when nobody listens on it,
    /// [`Error::InvalidAddress`] for a bad path, [`Error::ProtocolPanicked`]
    /// when `protocol`'s `connection_made` panicked (the socket is then
    /// closed), [`Error::NoRuntime`] outside tokio, other OS errors as
    /// [`Error::Io`].
    async fn create_connection<P: Protocol>(
        &self,
        protocol: P,
    ) -> Result<(SocketTransport, ProtocolHandle<P>)> {
        conn::runtime()?;
        self.validate(&self.to_string())?;
        let stream = UnixStream::connect(&self.path)
            .await
            .map_err(|e| Error::from_io(e, self))?;
        let info = ConnInfo {
            kind: UnixAddr::SCHEME,
            peer: Some(Endpoint::Unix(Some(self.path.clone()))),
            local: stream.local_addr().ok().map(|a| unix_endpoint(&a)),
            #[cfg(feature = "tls")]
            tls: None,
        };
        conn::start_client(stream, info, protocol).await
    }
}

fn unix_endpoint(addr: &tokio::net::unix::SocketAddr) -> Endpoint {
    Endpoint::Unix(addr.as_pathname().map(Path::to_path_buf))
}

/// Makes way for a new server at `addr`: nothing there is fine; a socket
/// nobody listens on is removed; a live socket or any other file is an error.
fn clear_stale_socket(addr: &UnixAddr) -> Result<()> {
    let meta = match std::fs::symlink_metadata(&addr.path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(Error::from_io(err, addr)),
    };
    if !meta.file_type().is_socket() {
        return Err(Error::AddrInUse {
            addr: addr.to_string(),
            source: Some(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the path exists and is not a socket; refusing to replace it",
            )),
        });
    }
    if live_files().contains(&(meta.dev(), meta.ino())) {
        // Ours: say so without connecting (a probe would be a connection
        // that the live server accepts and hands to its protocol).
        return Err(Error::AddrInUse {
            addr: addr.to_string(),
            source: Some(io::Error::new(
                io::ErrorKind::AddrInUse,
                "a server in this process is listening on this socket",
            )),
        });
    }
    match std::os::unix::net::UnixStream::connect(&addr.path) {
        Ok(_) => Err(Error::AddrInUse {
            addr: addr.to_string(),
            source: Some(io::Error::new(
                io::ErrorKind::AddrInUse,
                "another server is listening on this socket",
            )),
        }),
        Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
            match std::fs::remove_file(&addr.path) {
                Ok(()) => Ok(()),
                Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(err) => Err(Error::from_io(err, addr)),
            }
        }
        Err(err) => Err(Error::from_io(err, addr)),
    }
}

/// The socket files (device, inode) that listeners of this process hold.
static LIVE: Mutex<BTreeSet<(u64, u64)>> = Mutex::new(BTreeSet::new());

fn live_files() -> MutexGuard<'static, BTreeSet<(u64, u64)>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A listener whose socket file is known to be live for as long as it
/// exists, so that another server of this process starting on the same
/// path is refused without a probe connection.
struct LiveListener {
    listener: UnixListener,
    file: Option<(u64, u64)>,
}

impl LiveListener {
    fn new(listener: UnixListener, file: Option<(u64, u64)>) -> Self {
        if let Some(file) = file {
            live_files().insert(file);
        }
        LiveListener { listener, file }
    }
}

impl Drop for LiveListener {
    fn drop(&mut self) {
        if let Some(file) = self.file {
            live_files().remove(&file);
        }
    }
}

impl Listener for LiveListener {
    type Conn = UnixStream;

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<UnixStream>> {
        Listener::poll_accept(&self.listener, cx)
    }
}

/// Removes the server's socket file, unless it was replaced by another file
/// since the server created it.
fn remove_if_ours(path: &Path, ours: Option<(u64, u64)>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    let same = ours == Some((meta.dev(), meta.ino()));
    if same && meta.file_type().is_socket() {
        // Nothing useful to do if this fails: `close` cannot report it.
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let addr: UnixAddr = "ipc://[/tmp/a.sock]".parse().expect("valid");
        assert_eq!(addr.path(), Path::new("/tmp/a.sock"));
        assert_eq!(addr.to_string(), "ipc://[/tmp/a.sock]");
        let rel: UnixAddr = "ipc://[rel.sock]".parse().expect("valid");
        assert_eq!(rel.path(), Path::new("rel.sock"));
    }
}
