//! The connection's status, as an app's connection indicator shows it.

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
    /// retrying will not fix (a 4xx other than 408 and 429: no such
    /// endpoint, forbidden origin, ...). Only the native driver can read
    /// the status; a browser hides it from pages.
    Refused {
        /// The HTTP status, such as 404 or 403.
        status: u16,
    },
    /// The server speaks another protocol version.
    Incompatible {
        /// The server's version.
        server_version: u8,
    },
}
