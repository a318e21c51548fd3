//! Error codes sent in `Error` messages, and WebSocket close codes.
//!
//! Both are open sets: a peer may send a code this build does not know, so
//! each is a newtype over its wire value with associated constants, and each
//! table ([`ErrorCode::ALL`], [`CloseCode::ALL`]) says what a client should do
//! when it receives one. `spec/PROTOCOL.md` documents the same tables and a
//! test keeps them equal.

use std::borrow::Cow;
use std::fmt;

use crate::quoted::Quoted;

/// What one error code means for the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCodeInfo {
    /// The code string.
    pub code: &'static str,
    /// Whether the server closes the connection after sending it.
    pub fatal: bool,
    /// Whether a client should reconnect after the close (ignored when not fatal).
    pub reconnect: bool,
    /// When the server sends it.
    pub description: &'static str,
}

/// The `code` of an `Error` message: a short snake_case string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(Cow<'static, str>);

macro_rules! error_codes {
    ($( $(#[$m:meta])* $konst:ident = $code:literal, fatal: $fatal:literal, reconnect: $rec:literal, $desc:literal; )*) => {
        impl ErrorCode {
            $( $(#[$m])* pub const $konst: ErrorCode = ErrorCode(Cow::Borrowed($code)); )*

            /// Every code this build knows.
            pub const ALL: &'static [ErrorCodeInfo] = &[
                $( ErrorCodeInfo { code: $code, fatal: $fatal, reconnect: $rec, description: $desc }, )*
            ];
        }
    };
}

error_codes! {
    /// A frame could not be decoded; it was dropped.
    BAD_FRAME = "bad_frame", fatal: false, reconnect: true,
        "a frame could not be decoded (the message says why); the frame was dropped";
    /// A frame was larger than the server's maximum message size.
    FRAME_TOO_LARGE = "frame_too_large", fatal: true, reconnect: true,
        "a frame exceeded the maximum message size; the connection closes with 1009";
    /// A message that is not allowed in this direction or at this point.
    UNEXPECTED_MESSAGE = "unexpected_message", fatal: false, reconnect: true,
        "a well-formed message that is not allowed here; it was ignored";
    /// The signal's target user is not connected to this resource.
    UNKNOWN_TARGET = "unknown_target", fatal: false, reconnect: true,
        "a Signal named a user who is not connected to this resource";
    /// A signal payload was over the relay's size cap.
    SIGNAL_TOO_LARGE = "signal_too_large", fatal: false, reconnect: true,
        "a Signal payload exceeded the relay's size cap and was not relayed";
    /// The connection sent messages faster than its rate limit.
    RATE_LIMITED = "rate_limited", fatal: false, reconnect: true,
        "frames arrived faster than the connection's rate limit; the excess was dropped (one Error per run of drops)";
    /// A Subscribe went over a per-connection subscription limit.
    SUBSCRIPTION_LIMIT = "subscription_limit", fatal: false, reconnect: true,
        "a Subscribe went over a subscription limit (domain count, name length or total bytes); the domains over it were not subscribed";
    /// A Join would take the connection over its channel limit.
    CHANNEL_LIMIT = "channel_limit", fatal: false, reconnect: true,
        "a Join went over the connection's channel limit (Connected.channels); the resource was not joined";
    /// A Join named a resource this user may not join.
    FORBIDDEN = "forbidden", fatal: false, reconnect: true,
        "the user may not join this resource, or no longer may; the connection and its other channels stay";
    /// A Join named a resource id the server does not accept.
    BAD_RESOURCE = "bad_resource", fatal: false, reconnect: true,
        "a Join named an empty or too long resource id, or one the server does not serve; it was not joined";
    /// A Join named a resource the connection already holds.
    ALREADY_JOINED = "already_joined", fatal: false, reconnect: true,
        "a Join named a resource the connection already holds, on the URL or another channel; it was not joined again";
    /// A Join named a channel that is in use.
    CHANNEL_IN_USE = "channel_in_use", fatal: false, reconnect: true,
        "a Join named a channel that is joined or still being left; the Join was ignored and the channel is unchanged";
    /// A frame named a channel that is not joined.
    UNKNOWN_CHANNEL = "unknown_channel", fatal: false, reconnect: true,
        "a frame named a channel that is not joined; it was dropped";
    /// Authentication failed.
    UNAUTHORIZED = "unauthorized", fatal: true, reconnect: false,
        "the token was missing, invalid or expired; reconnecting with the same token will fail";
    /// The protocol versions differ.
    INCOMPATIBLE_VERSION = "incompatible_version", fatal: true, reconnect: false,
        "client and server speak different major protocol versions";
    /// Too many connections on the node or for this user.
    TOO_MANY_CONNECTIONS = "too_many_connections", fatal: true, reconnect: true,
        "the node or this user has reached the connection limit; retry after backoff";
    /// The client did not read fast enough.
    SLOW_CONSUMER = "slow_consumer", fatal: true, reconnect: true,
        "the client fell behind its outbound queue bound; reconnect and resync";
    /// Nothing arrived from the client for too long.
    LIVENESS_TIMEOUT = "liveness_timeout", fatal: true, reconnect: true,
        "no frame arrived within the liveness timeout";
    /// The server is shutting down or restarting.
    SHUTDOWN = "shutdown", fatal: true, reconnect: true,
        "the server is shutting down; reconnect (to it or another node) after backoff";
    /// The application failed to serve the request.
    INTERNAL = "internal", fatal: false, reconnect: true,
        "the server failed to serve a request (for example building a snapshot)";
    /// The server could not bring this connection in sync.
    SYNC_FAILED = "sync_failed", fatal: true, reconnect: true,
        "the application failed to produce a snapshot for this connection; reconnect after backoff";
}

/// What one server-set `ActionErr.code` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionCodeInfo {
    /// The code string.
    pub code: &'static str,
    /// When the server sends it.
    pub description: &'static str,
}

/// The `ActionErr.code` values a server sets itself, for an action it
/// refuses before the application sees it. Every other `ActionErr.code`
/// is the application's own.
pub mod action_code {
    use super::ActionCodeInfo;

    /// The action arrived while the connection was over its rate limit.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// The Action frame could not be read as an action of the application.
    pub const BAD_ACTION: &str = "bad_action";
    /// The user has as many actions on this resource within the retry window
    /// as the server remembers per user.
    pub const TOO_MANY_ACTIONS: &str = "too_many_actions";
    /// The server's memory of action outcomes is full.
    pub const SERVER_BUSY: &str = "server_busy";
    /// The Action named a channel that is not joined.
    pub const UNKNOWN_CHANNEL: &str = "unknown_channel";

    /// Every code above, with its meaning.
    pub const ALL: &[ActionCodeInfo] = &[
        ActionCodeInfo {
            code: RATE_LIMITED,
            description: "the action arrived while the connection was over its rate limit; it was not run",
        },
        ActionCodeInfo {
            code: BAD_ACTION,
            description: "the Action frame could not be decoded (the payload is not an action of the application, or a field is missing or invalid); it was not run",
        },
        ActionCodeInfo {
            code: TOO_MANY_ACTIONS,
            description: "the user already has as many actions on this resource within the retry window as the server remembers per user; it was not run",
        },
        ActionCodeInfo {
            code: SERVER_BUSY,
            description: "the server's memory of action outcomes is full; it was not run (retry later as a new action or the same one)",
        },
        ActionCodeInfo {
            code: UNKNOWN_CHANNEL,
            description: "the Action named a channel that is not joined (never joined, left, or removed); it was not run",
        },
    ];
}

impl ErrorCode {
    /// A code from its wire string.
    pub fn new(code: impl Into<Cow<'static, str>>) -> Self {
        ErrorCode(code.into())
    }

    /// The wire string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The table row, if this build knows the code.
    pub fn info(&self) -> Option<&'static ErrorCodeInfo> {
        Self::ALL.iter().find(|row| row.code == self.as_str())
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrorCode({})", Quoted(self.as_str()))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for ErrorCode {
    fn from(s: String) -> Self {
        ErrorCode(Cow::Owned(s))
    }
}

impl From<&'static str> for ErrorCode {
    fn from(s: &'static str) -> Self {
        ErrorCode(Cow::Borrowed(s))
    }
}

/// What one close code means for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseCodeInfo {
    /// The WebSocket close code.
    pub code: u16,
    /// A short name.
    pub name: &'static str,
    /// Whether the client should reconnect (with backoff) after this close.
    pub reconnect: bool,
    /// When it is sent.
    pub description: &'static str,
}

/// A WebSocket close code, as sent by a ui-flow server.
///
/// Codes the table does not list (including 1006, an abnormal close with no
/// close frame) are treated as "reconnect with backoff".
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

macro_rules! close_codes {
    ($( $(#[$m:meta])* $konst:ident = $code:literal, $name:literal, reconnect: $rec:literal, $desc:literal; )*) => {
        impl CloseCode {
            $( $(#[$m])* pub const $konst: CloseCode = CloseCode($code); )*

            /// Every close code a ui-flow server sends.
            pub const ALL: &'static [CloseCodeInfo] = &[
                $( CloseCodeInfo { code: $code, name: $name, reconnect: $rec, description: $desc }, )*
            ];
        }
    };
}

close_codes! {
    /// The client asked to close.
    NORMAL = 1000, "normal", reconnect: false,
        "the connection was closed on purpose by the side that sent it";
    /// The server is going away (shutdown, restart, deploy).
    GOING_AWAY = 1001, "going_away", reconnect: true,
        "the server is shutting down; reconnect after backoff";
    /// A frame was over the maximum message size.
    MESSAGE_TOO_BIG = 1009, "message_too_big", reconnect: true,
        "a frame exceeded the maximum message size";
    /// The server failed.
    INTERNAL_ERROR = 1011, "internal_error", reconnect: true,
        "the server hit an unexpected condition";
    /// Fatal protocol error (see the preceding `Error` message).
    PROTOCOL_ERROR = 4000, "protocol_error", reconnect: false,
        "the client broke the protocol in a way the server will not tolerate again";
    /// Authentication failed.
    UNAUTHORIZED = 4001, "unauthorized", reconnect: false,
        "authentication failed; a new token is needed before reconnecting";
    /// Protocol versions differ.
    INCOMPATIBLE_VERSION = 4002, "incompatible_version", reconnect: false,
        "client and server speak different major protocol versions";
    /// The client could not keep up with its outbound queue.
    SLOW_CONSUMER = 4003, "slow_consumer", reconnect: true,
        "the client's outbound queue went over its byte bound";
    /// No frame from the client within the liveness timeout.
    LIVENESS_TIMEOUT = 4004, "liveness_timeout", reconnect: true,
        "no frame arrived from the client within the liveness timeout";
    /// The handshake did not finish in time.
    HANDSHAKE_TIMEOUT = 4005, "handshake_timeout", reconnect: true,
        "the connection did not finish its handshake in time";
    /// Too many connections for the node or the user.
    TOO_MANY_CONNECTIONS = 4006, "too_many_connections", reconnect: true,
        "the node or the user has reached its connection limit";
}

impl CloseCode {
    /// The table row, if this is a code the server sends.
    pub fn info(self) -> Option<&'static CloseCodeInfo> {
        Self::ALL.iter().find(|row| row.code == self.0)
    }

    /// Whether a client should reconnect after this close. Unknown codes
    /// (1006 included) mean yes.
    pub fn reconnects(self) -> bool {
        self.info().is_none_or(|row| row.reconnect)
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.info() {
            Some(row) => write!(f, "CloseCode({} {})", self.0, row.name),
            None => write!(f, "CloseCode({})", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_unique_entries() {
        let mut codes: Vec<_> = ErrorCode::ALL.iter().map(|r| r.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
        let mut close: Vec<_> = CloseCode::ALL.iter().map(|r| r.code).collect();
        close.dedup();
        assert_eq!(close.len(), CloseCode::ALL.len());
    }

    #[test]
    fn unknown_close_codes_reconnect() {
        assert!(CloseCode(1006).reconnects());
        assert!(!CloseCode::UNAUTHORIZED.reconnects());
        assert!(CloseCode::SLOW_CONSUMER.reconnects());
    }

    #[test]
    fn error_code_lookup() {
        assert_eq!(ErrorCode::new("slow_consumer"), ErrorCode::SLOW_CONSUMER);
        let info = ErrorCode::UNAUTHORIZED
            .info()
            .map(|i| (i.fatal, i.reconnect));
        assert_eq!(info, Some((true, false)));
        assert_eq!(ErrorCode::new("made_up").info(), None);
    }
}
