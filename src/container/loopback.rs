//! A container's connection to itself: how the container shows both of its
//! ends that they are its own.
//!
//! Agents of one container call each other through the container's
//! connection to its own address, as in aiomas. Every request on that
//! connection comes from the container's own code, so the bounds that
//! protect a container from its peers (the window of pending requests, the
//! cap on waiting handlers) do not apply to the calls its handlers make
//! over it: with them, agents calling each other deeper (or wider) than
//! the window would wait for ever for slots only their own callers hold.
//!
//! The accepted end cannot tell by itself which connection is its own (a
//! Unix socket's client has no name; a third-party backend may report no
//! address at all). So the end that connects calls the root method
//! [`METHOD`] with a token only this container knows, used once; the
//! handler that sees it marks its connection, and the caller marks its own
//! end once the answer says yes. A peer without the token gets `false`.

use std::collections::hash_map::RandomState;
use std::convert::Infallible;
use std::fmt::Write;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::channel::Codec;
use crate::rpc::{Connection, Handler};

/// The root method that marks a connection as the container's own.
pub(crate) const METHOD: &str = "agentwire_loopback";

/// The token of the container's next connection to itself.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    issued: Mutex<Option<String>>,
}

impl Tokens {
    /// A fresh token, replacing one issued before and not used.
    fn issue(&self) -> String {
        let token = fresh_token();
        *self.lock() = Some(token.clone());
        token
    }

    /// Whether `token` is the one issued, which it then uses up. (A wrong
    /// guess leaves it: a peer guessing 128 bits could not win, but it
    /// could spoil the container's own call by guessing first.)
    fn redeem(&self, token: &str) -> bool {
        let mut issued = self.lock();
        let right = issued.as_deref() == Some(token);
        if right {
            *issued = None;
        }
        right
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.issued.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// 128 unpredictable bits, as hex: SipHash with the process's random keys
/// (which std draws from the OS) of a counter, twice.
fn fresh_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut token = String::with_capacity(32);
    for _ in 0..2 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        let _ = write!(token, "{:016x}", hasher.finish());
    }
    token
}

/// The root method [`METHOD`]`(token)`: true (and the connection it came
/// on marked as the container's own) for the token the container issued.
pub(crate) fn handler<C: Codec>(tokens: Arc<Tokens>) -> Handler<C> {
    Handler::new(move |(token,): (String,)| {
        let tokens = Arc::clone(&tokens);
        async move {
            // Polled as a handler of the connection the call came on.
            let own = tokens.redeem(&token) && crate::rpc::mark_serving_loopback();
            Ok::<_, Infallible>(own)
        }
    })
}

/// Shows both ends of `conn`, a fresh connection to the container's own
/// address, that they are the container's; waits at most `patience` for
/// the answer. Without a yes (another server answered at that address,
/// say) the connection is left as any other.
pub(crate) async fn prove<C: Codec>(
    conn: &Connection<C>,
    tokens: &Tokens,
    patience: Option<Duration>,
) {
    let call = conn.call::<_, bool>(METHOD, (tokens.issue(),));
    let answer = match patience {
        Some(patience) => tokio::time::timeout(patience, call).await.ok(),
        None => Some(call.await),
    };
    if let Some(Ok(true)) = answer {
        conn.channel()
            .shared()
            .loopback
            .store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_and_are_used_once() {
        let tokens = Tokens::default();
        let first = tokens.issue();
        let second = tokens.issue();
        assert_eq!(first.len(), 32);
        assert_ne!(first, second);
        assert!(tokens.redeem(&second));
        assert!(!tokens.redeem(&second), "used up");
        let third = tokens.issue();
        assert!(!tokens.redeem(&first), "replaced");
        assert!(!tokens.redeem(""));
        assert!(tokens.redeem(&third), "wrong guesses leave it");
    }
}
