//! The connection's status, as an app's connection indicator shows it.

use std::fmt;

use web_time::Instant;

use crate::code::{CloseCode, ErrorCode};

/// Where a client connection stands.
///
/// The client core reports every change as an event; adapters turn it into a
/// signal or message for the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// The first socket is opening (or the handshake is not finished).
    Connecting,
    /// The server accepted the connection (its `Connected` arrived); the
    /// snapshot, or the reply to the client's `Resync`, follows at once.
    Open,
    /// The socket was lost; another attempt is scheduled.
    Reconnecting {
        /// 1 for the first retry after a loss, then 2, 3, ...
        attempt: u32,
        /// When the next attempt starts, on the clock the driver feeds in.
        next_try: Instant,
    },
    /// Closed for good: nothing more will be tried.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

impl ConnectionStatus {
    /// True only for [`ConnectionStatus::Open`].
    pub fn is_open(&self) -> bool {
        matches!(self, ConnectionStatus::Open)
    }
}

/// Why a connection closed for good.
///
/// Its `Display` is a sentence for people (an app's status line), built
/// from the server's message or the code tables' descriptions; `Debug` is
/// for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The application asked for it.
    Requested,
    /// The server sent a fatal `Error` whose code says not to reconnect.
    Fatal {
        /// The error's code, if it had one.
        code: Option<ErrorCode>,
        /// The error's message.
        message: String,
    },
    /// The server closed the socket with a code that says not to reconnect.
    Final {
        /// The close code.
        code: CloseCode,
        /// The close frame's reason text.
        reason: String,
    },
    /// The server answered the WebSocket upgrade with an HTTP error that
    /// retrying will not fix (a 4xx other than 408, 426 and 429: no such
    /// endpoint, forbidden origin, ...). A browser hides that status from
    /// pages; the browser driver learns it from a plain `GET` of the same
    /// URL after a socket closed without opening (the refusal probe: same
    /// origin always, another origin only when its answer allows CORS).
    Refused {
        /// The HTTP status, such as 404 or 403.
        status: u16,
    },
    /// The server speaks another protocol version.
    Incompatible {
        /// The server's version.
        server_version: u8,
    },
    /// Nothing was dialled: the connection was described wrongly (a URL
    /// that is not `ws://` or `wss://`, a token that is not a header
    /// token). Reported by [`Binding`](crate::client::Binding), which turns
    /// a failed `connect()` into this status instead of an error to handle.
    Misconfigured {
        /// What was wrong, as `connect()` reported it.
        message: String,
    },
}

/// Protocol versions (`u8`) are printed as `u32`: each integer width has a
/// printer of its own in core, and the browser client links no other `u8`.
impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Requested => f.write_str("closed by this application"),
            CloseReason::Fatal { code, message } => {
                let said = if message.is_empty() {
                    code.as_ref()
                        .and_then(ErrorCode::info)
                        .map_or("no reason given", |row| row.description)
                } else {
                    message
                };
                match code {
                    Some(code) => write!(f, "the server refused the connection ({code}): {said}"),
                    None => write!(f, "the server refused the connection: {said}"),
                }
            }
            CloseReason::Final { code, reason } => {
                let row = code.info();
                let name = row.map_or("unknown code", |row| row.name);
                let said = match (reason.is_empty(), row) {
                    (false, _) => reason.as_str(),
                    (true, Some(row)) => row.description,
                    (true, None) => "no reason given",
                };
                write!(
                    f,
                    "the server closed the connection ({} {name}): {said}",
                    u32::from(code.0)
                )
            }
            CloseReason::Refused { status } => write!(
                f,
                "the server refused the WebSocket upgrade with HTTP {}; check the URL",
                u32::from(*status)
            ),
            CloseReason::Incompatible { server_version } => write!(
                f,
                "the server speaks protocol version {}, this client {}",
                u32::from(*server_version),
                u32::from(crate::PROTOCOL_VERSION)
            ),
            CloseReason::Misconfigured { message } => write!(f, "not connected: {message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_read_as_sentences_not_rust() {
        let cases = [
            (CloseReason::Requested, "closed by this application"),
            (
                CloseReason::Fatal {
                    code: Some(ErrorCode::UNAUTHORIZED),
                    message: "user id must be 1 to 128 bytes".into(),
                },
                "the server refused the connection (unauthorized): user id must be 1 to 128 bytes",
            ),
            (
                CloseReason::Fatal {
                    code: Some(ErrorCode::UNAUTHORIZED),
                    message: String::new(),
                },
                "the server refused the connection (unauthorized): the token was missing, \
                 invalid or expired; reconnecting with the same token will fail",
            ),
            (
                CloseReason::Final {
                    code: CloseCode::PROTOCOL_ERROR,
                    reason: String::new(),
                },
                "the server closed the connection (4000 protocol_error): the client broke the \
                 protocol in a way the server will not tolerate again",
            ),
            (
                CloseReason::Final {
                    code: CloseCode(4999),
                    reason: "maintenance".into(),
                },
                "the server closed the connection (4999 unknown code): maintenance",
            ),
            (
                CloseReason::Incompatible { server_version: 2 },
                "the server speaks protocol version 2, this client 1",
            ),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.to_string(), text, "{reason:?}");
        }
    }
}
