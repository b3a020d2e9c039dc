//! [`Rule`]s: what the simulation does to messages that match them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use agentwire::channel::MessageKind;

use crate::event::MessageInfo;

/// What a rule does to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Lose it: the receiver never sees it. A lost request leaves its
    /// caller waiting (a timeout, if the caller set one).
    Drop,
    /// Deliver it this much later than the link would (messages behind it
    /// on the same connection wait too, as on a stream socket).
    Delay(Duration),
    /// Deliver it twice, one copy right after the other.
    Duplicate,
    /// Hold it back and deliver it right after the next message in the
    /// same direction of the same connection (or when that connection
    /// closes).
    Reorder,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Drop => f.write_str("drop"),
            Action::Delay(d) => write!(f, "delay {d:?}"),
            Action::Duplicate => f.write_str("duplicate"),
            Action::Reorder => f.write_str("reorder"),
        }
    }
}

/// A message as rules see it: who sends it to whom, and its envelope
/// (`None` for bytes that are not a channel frame).
#[derive(Debug, Clone, Copy)]
pub struct MessageView<'a> {
    /// Sender.
    pub from: &'a str,
    /// Receiver.
    pub to: &'a str,
    /// The decoded envelope.
    pub info: Option<&'a MessageInfo>,
}

type Decide = Arc<dyn Fn(&MessageView<'_>) -> Option<Action> + Send + Sync>;

/// A message-level rule: a match (endpoints, path, kind) and an action,
/// taken with a seeded probability, or a closure that decides.
///
/// Rules are tried in the order they were added; the first that fires
/// decides what happens to a message. A probability draws from the
/// simulation's seed only for messages the rule matches.
///
/// ```
/// use agentwire::channel::MessageKind;
/// use agentwire_debug::{Action, Rule};
/// // Lose half of the `vote` requests from a to b.
/// let rule = Rule::new("lossy votes", Action::Drop)
///     .from("a").to("b")
///     .path("agents/0/vote")
///     .kind(MessageKind::Request)
///     .probability(0.5);
/// # let _ = rule;
/// ```
#[derive(Clone)]
pub struct Rule {
    pub(crate) name: String,
    from: Option<String>,
    to: Option<String>,
    path: Option<String>,
    kind: Option<MessageKind>,
    probability: f64,
    action: Option<Action>,
    decide: Option<Decide>,
}

impl Rule {
    /// A rule named `name` (the name appears in traces) that takes
    /// `action` on every message (narrow it with the other methods).
    pub fn new(name: impl Into<String>, action: Action) -> Self {
        Rule {
            name: name.into(),
            from: None,
            to: None,
            path: None,
            kind: None,
            probability: 1.0,
            action: Some(action),
            decide: None,
        }
    }

    /// A rule whose closure decides, for each message that passes the
    /// match, which action to take (`None`: leave it alone).
    ///
    /// The closure runs on the sending task with nothing of the
    /// simulation locked: it may set faults or add rules on the [`Sim`]
    /// (they apply from the next message on). It must not block: the
    /// message waits for it. If it panics, the panic is caught, recorded
    /// as that rule's decision (`panicked: <message>`) and the message is
    /// left alone.
    ///
    /// [`Sim`]: crate::Sim
    pub fn custom<F>(name: impl Into<String>, decide: F) -> Self
    where
        F: Fn(&MessageView<'_>) -> Option<Action> + Send + Sync + 'static,
    {
        Rule {
            action: None,
            decide: Some(Arc::new(decide)),
            ..Rule::new(name, Action::Drop)
        }
    }

    /// Only messages sent by `endpoint`.
    pub fn from(mut self, endpoint: impl Into<String>) -> Self {
        self.from = Some(endpoint.into());
        self
    }

    /// Only messages to `endpoint`.
    pub fn to(mut self, endpoint: impl Into<String>) -> Self {
        self.to = Some(endpoint.into());
        self
    }

    /// Only messages whose path is `path` (a reply has its request's
    /// path); a trailing `*` matches any path starting with the rest.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Only messages of this kind.
    pub fn kind(mut self, kind: MessageKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Fire on a matching message with this probability (seeded), instead
    /// of always. Clamped to `0.0..=1.0`; a NaN is `0.0` (never fires).
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        self
    }

    /// Whether the match part applies to `msg`.
    pub(crate) fn matches(&self, msg: &MessageView<'_>) -> bool {
        if self.from.as_deref().is_some_and(|f| f != msg.from)
            || self.to.as_deref().is_some_and(|t| t != msg.to)
        {
            return false;
        }
        if let Some(kind) = self.kind {
            let name = crate::event::kind_name(kind);
            if msg.info.is_none_or(|i| i.kind != name) {
                return false;
            }
        }
        if let Some(pattern) = &self.path {
            let Some(path) = msg.info.and_then(|i| i.path.as_deref()) else {
                return false;
            };
            let hit = match pattern.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => path == pattern,
            };
            if !hit {
                return false;
            }
        }
        true
    }

    /// Whether the rule wants to draw its probability.
    pub(crate) fn needs_draw(&self) -> bool {
        self.probability < 1.0
    }

    /// The action for a matching message whose draw passed, or the
    /// message of the panic of a custom rule's closure.
    pub(crate) fn action_for(&self, msg: &MessageView<'_>) -> Result<Option<Action>, String> {
        let Some(decide) = &self.decide else {
            return Ok(self.action);
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decide(msg)))
            .map_err(|panic| transport_api::error::panic_message(panic.as_ref()).to_owned())
    }

    pub(crate) fn get_probability(&self) -> f64 {
        self.probability
    }
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("name", &self.name)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("probability", &self.probability)
            .field("action", &self.action)
            .field("custom", &self.decide.is_some())
            .finish()
    }
}
