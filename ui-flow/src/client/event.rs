//! What the client core hands out: events for the application and socket
//! commands for the driver.

use std::fmt;
use std::time::Duration;

use crate::code::{CloseCode, ErrorCode};
use crate::error::{DecodeError, ProtocolViolation};
use crate::op::OpId;
use crate::presence::PresenceDiff;
use crate::signal::SignalPayload;
use crate::state::FlowState;
use crate::status::ConnectionStatus;

use super::ops::OpState;

/// Something the application may want to react to, drained with
/// [`Client::poll_event`](super::Client::poll_event).
///
/// Events report changes; the current values are always available from the
/// client's getters ([`state`](super::Client::state),
/// [`presence`](super::Client::presence), ...), so an app that only renders
/// can ignore everything but [`Event::StateChanged`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event<S: FlowState, E> {
    /// The connection status changed.
    Status(ConnectionStatus),
    /// The server accepted a socket (its `Connected` message).
    Connected {
        /// The server's id for this connection.
        connection_id: String,
        /// The authenticated user, when the server says.
        user_id: Option<String>,
    },
    /// The confirmed state was replaced by a snapshot. Deltas that arrived
    /// before it and follow it come next as [`Event::Delta`]s.
    Snapshot {
        /// The state at `seq` (a copy: the client keeps its own).
        state: S,
        /// The snapshot's seq.
        seq: u64,
        /// The snapshot's epoch.
        epoch: Option<u32>,
    },
    /// One server delta was applied to the confirmed state, in seq order,
    /// after the snapshot it follows. An app that keeps its own copy of the
    /// server state applies exactly these.
    Delta {
        /// The change (a copy: the client applied its own).
        delta: S::Delta,
        /// The seq it moved the confirmed state to.
        seq: u64,
    },
    /// The state the UI shows ([`Client::state`](super::Client::state),
    /// confirmed plus optimistic changes) changed. At most one per input.
    StateChanged,
    /// An action's state changed: progress, or its single final outcome.
    Action {
        /// The action.
        op_id: OpId,
        /// Its new state.
        state: OpState,
    },
    /// An application event in a subscribed domain.
    Notify {
        /// The domain.
        domain: String,
        /// The event.
        event: E,
        /// The action that caused it, if any.
        correlation_id: Option<OpId>,
    },
    /// The presence list changed: who joined, changed or left. A full list
    /// from the server is reported as the difference to the previous list.
    /// The whole list is [`Client::presence`](super::Client::presence).
    Presence(PresenceDiff),
    /// A WebRTC signalling message from another user.
    Signal {
        /// The authenticated sender.
        from_user_id: String,
        /// The payload.
        signal: SignalPayload,
    },
    /// The server sent an `Error` message. A fatal one is followed by a
    /// reconnect or, when its code says so, by [`ConnectionStatus::Closed`].
    ServerError {
        /// The error's code.
        code: Option<ErrorCode>,
        /// The server's explanation.
        message: String,
        /// Whether the server closes the connection after it.
        fatal: bool,
    },
    /// A `Pong` measured the round trip.
    Latency(Duration),
    /// A frame from the server could not be decoded. It was ignored; the
    /// connection goes on.
    BadFrame(DecodeError),
    /// The server broke a protocol rule (for example a delta skipped a seq).
    /// The client already asked for a resync; this is for logs.
    Violation(ProtocolViolation),
}

/// Which socket an input or command is about.
///
/// Every socket the client asks a driver to open gets a new id, and the
/// driver passes it back with everything that socket reports. Reports for any
/// socket but the current one are ignored, so a late frame, or the close that
/// follows an error, from a socket already given up never counts twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(pub u64);

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "socket#{}", self.0)
    }
}

/// What the driver must do with its WebSocket, drained with
/// [`Client::poll_socket`](super::Client::poll_socket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketCommand {
    /// Open a new WebSocket to the server and report it as `socket`. The
    /// client never asks for a second socket before the first one is closed
    /// (a `Close` command for it comes first, or the driver reported its close).
    Open(SocketId),
    /// Close this socket, or stop opening it, and drop it. Any report from it
    /// after this is ignored, so the driver need not wait for the close
    /// handshake.
    Close {
        /// The socket.
        socket: SocketId,
        /// The close code to send.
        code: CloseCode,
        /// The close reason to send.
        reason: &'static str,
    },
}
