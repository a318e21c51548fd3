//! What goes into and comes out of the [`Hub`](super::Hub) besides frames.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ui_flow::{CloseCode, OpId};

use crate::identity::Identity;

/// The server's id for one connection, unique within a hub.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The current time, as both clocks the hub needs: a monotonic instant for
/// timers and Unix milliseconds for the wire's timestamps. The hub never
/// reads a clock itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time, for deadlines.
    pub instant: Instant,
    /// Wall-clock time in Unix milliseconds, for `timestamp` fields.
    pub unix_ms: u64,
}

impl Now {
    /// Reads the system clocks (drivers only; the hub takes `Now` as input).
    pub fn system() -> Self {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Now {
            instant: Instant::now(),
            unix_ms,
        }
    }

    /// This time plus `d` on both clocks (for simulations).
    pub fn after(self, d: Duration) -> Self {
        Now {
            instant: self.instant + d,
            unix_ms: self
                .unix_ms
                .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

/// Who a transmit goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipients {
    /// One connection.
    One(ConnectionId),
    /// Several connections; shared, so fanning out to many does not copy the list.
    Many(Arc<Vec<ConnectionId>>),
}

impl Recipients {
    /// The recipients as a slice.
    pub fn as_slice(&self) -> &[ConnectionId] {
        match self {
            Recipients::One(id) => std::slice::from_ref(id),
            Recipients::Many(ids) => ids,
        }
    }

    /// How many connections.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// True when nobody receives it.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

/// One output of the hub, in the order it must reach the sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Queue these bytes as one binary WebSocket frame to every recipient.
    /// The bytes were encoded once; clone them (cheaply) per recipient.
    Frame {
        /// Who receives it.
        to: Recipients,
        /// The encoded frame.
        bytes: Bytes,
    },
    /// After the frames already queued to it, close this connection with
    /// this WebSocket close code. The hub has already forgotten it.
    Close {
        /// The connection.
        conn: ConnectionId,
        /// The close code.
        code: CloseCode,
        /// The close frame's reason text.
        reason: &'static str,
    },
    /// Send a WebSocket ping to this connection, ahead of queued frames if
    /// the transport allows. Its pong (or anything else from the client)
    /// goes back in through [`Hub::handle_heartbeat`](super::Hub::handle_heartbeat)
    /// or the other inputs. A transport without pings may ignore it; the
    /// connection is then dropped after `pong_timeout` unless the client
    /// sends something.
    Ping {
        /// The connection.
        conn: ConnectionId,
    },
    /// Drop this connection's socket now, without writing anything more:
    /// it was told to close and did not finish within the close grace (a
    /// client that stopped reading).
    Abort {
        /// The connection.
        conn: ConnectionId,
    },
}

/// Identifies one outstanding sync (snapshot or deltas) request; a
/// completion whose ticket is stale (the connection left or a newer sync
/// started) is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncTicket {
    pub(crate) conn: ConnectionId,
    pub(crate) attempt: u64,
}

impl SyncTicket {
    /// The connection being synced.
    pub fn conn(&self) -> ConnectionId {
        self.conn
    }
}

/// Identifies one running action: resource, acting user and op id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OpKey {
    pub(crate) resource: Arc<str>,
    pub(crate) user: Arc<str>,
    pub(crate) op_id: OpId,
}

impl OpKey {
    /// The action's op id.
    pub fn op_id(&self) -> OpId {
        self.op_id
    }
}

/// Work the hub needs from the application's async [`FlowHandler`]. The
/// driver performs it and hands the result back with the matching
/// `complete_*` method.
///
/// [`FlowHandler`]: crate::FlowHandler
#[derive(Debug)]
pub enum Request<A> {
    /// Bring a connection in sync from the resource's log (the default,
    /// server-owned state): answer with the `Snapshot` or `Deltas` frame the
    /// log produces for `resume`, through [`Hub::complete_sync`](super::Hub::complete_sync).
    Sync {
        /// Hand it back with the result.
        ticket: SyncTicket,
        /// The resource.
        resource: Arc<str>,
        /// The client's resume point, `(last_seq, epoch)`; `None` asks for a
        /// snapshot.
        resume: Option<(u64, Option<u32>)>,
    },
    /// Call `snapshot(resource)`, then [`Hub::complete_snapshot`](super::Hub::complete_snapshot).
    Snapshot {
        /// Hand it back with the result.
        ticket: SyncTicket,
        /// The resource.
        resource: Arc<str>,
    },
    /// Call `deltas_since(resource, after)`, then [`Hub::complete_deltas`](super::Hub::complete_deltas).
    Deltas {
        /// Hand it back with the result.
        ticket: SyncTicket,
        /// The resource.
        resource: Arc<str>,
        /// The seq the client has.
        after: u64,
    },
    /// Call `handle_action`, reporting progress with
    /// [`Hub::report_progress`](super::Hub::report_progress) and finishing with
    /// [`Hub::complete_action`](super::Hub::complete_action).
    Action {
        /// Hand it back with progress and the outcome.
        key: OpKey,
        /// Who acts.
        user: Arc<Identity>,
        /// The decoded action.
        action: A,
    },
}

/// Why a connection left, as the driver reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Departure {
    /// The client closed, or the socket failed or ended.
    Gone,
    /// Its outbound queue went over the byte bound (the driver has already
    /// queued the `slow_consumer` error and close). The hub forgets the
    /// connection and starts its close grace: a later
    /// [`Transmit::Abort`] tells the driver to drop the socket if it is
    /// still open then.
    SlowConsumer,
}

/// Why the hub refused a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The node is at [`ServerConfig::max_connections`](crate::ServerConfig).
    #[error("the node is at its connection limit")]
    NodeFull,
    /// The user is at [`ServerConfig::max_connections_per_user`](crate::ServerConfig).
    #[error("the user is at the per-user connection limit")]
    UserFull,
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The user joined more often than [`ServerConfig::join_rate`](crate::ServerConfig) allows.
    #[error("the user joined too often; retry after backoff")]
    JoinRate,
}

/// Why [`Hub::complete_handshake`](super::Hub::complete_handshake) did not admit a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// Refused; the `Error` and close are queued.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The handshake had already timed out (its close is queued) or was
    /// never begun.
    #[error("the handshake is no longer pending")]
    Expired,
}

impl Refusal {
    /// The error code and close code the client receives.
    pub fn codes(self) -> (ui_flow::ErrorCode, CloseCode) {
        match self {
            Refusal::NodeFull | Refusal::UserFull | Refusal::JoinRate => (
                ui_flow::ErrorCode::TOO_MANY_CONNECTIONS,
                CloseCode::TOO_MANY_CONNECTIONS,
            ),
            Refusal::ShuttingDown => (ui_flow::ErrorCode::SHUTDOWN, CloseCode::GOING_AWAY),
        }
    }
}
