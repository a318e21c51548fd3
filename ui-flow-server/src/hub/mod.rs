//! The sans-IO core of the server: every session, connection, presence list
//! and running action, with no sockets, no clock and no `async`.
//!
//! [`Hub`] is a state machine. Its methods are of four kinds:
//!
//! - **inputs** from the connections: [`connect`](Hub::connect),
//!   [`handle_frame`](Hub::handle_frame), [`handle_departure`](Hub::handle_departure),
//!   [`handle_timeout`](Hub::handle_timeout) and the other `handle_*`
//!   (a socket task may also open with [`begin_handshake`](Hub::begin_handshake)
//!   and [`complete_handshake`](Hub::complete_handshake), so that the
//!   handshake timeout runs here too);
//! - **completions** of work handed out as [`Request`]s:
//!   [`complete_snapshot`](Hub::complete_snapshot), [`complete_deltas`](Hub::complete_deltas),
//!   [`report_progress`](Hub::report_progress), [`complete_action`](Hub::complete_action);
//! - **commands** from the application: [`broadcast_delta`](Hub::broadcast_delta),
//!   [`broadcast_deltas`](Hub::broadcast_deltas), [`broadcast_notify`](Hub::broadcast_notify),
//!   [`notify_user`](Hub::notify_user), [`shutdown`](Hub::shutdown), and the getters;
//! - **outputs**, drained after every call above: [`poll_transmit`](Hub::poll_transmit)
//!   (frames and closes, in order), [`poll_request`](Hub::poll_request) (work for the
//!   application's async handler) and [`poll_timeout`](Hub::poll_timeout) (when to call
//!   `handle_timeout` next).
//!
//! Every protocol timer (idle, server pings and the pong deadline, liveness,
//! handshake, close grace, presence batching) runs on the time the inputs
//! carry; see the `timers` module. A driver sleeps until `poll_timeout`,
//! calls `handle_timeout`, and does IO.
//!
//! Every broadcast is encoded once; its [`Transmit`] names all recipients
//! and carries one [`Bytes`], which the driver clones per connection.
//!
//! A hub can serve any number of resources. The driver in this crate
//! (`FlowServer`) runs one hub per resource, each behind its own mutex on
//! tokio and axum, all sharing one [`NodeShare`] for the node-wide limits
//! ([`Hub::with_node`]); it drops a hub once [`Hub::is_idle`], and pushes
//! each resource's frames into the outboxes after letting go of its lock
//! (one delivery lane per resource). Another runtime could drive it the
//! same way, or run one hub for the whole node.

mod members;
mod node;
mod ops;
mod rate;
mod remote;
mod roster;
mod scopes;
mod session;
mod sync;
mod timers;
mod transmit;
mod views;

use std::collections::{HashMap, HashSet, VecDeque};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use ui_flow::code::action_code;
use ui_flow::codec::{Decoded, FrameHead, Limits};
use ui_flow::{
    Channel, ClientMessage, ClientTag, CloseCode, EncodeError, ErrorCode, Model, OpId,
    PROTOCOL_VERSION, PresenceInfo, ServerMessage,
};

pub use members::{ChannelJoin, SubscriptionShare};
pub use node::NodeShare;
pub use remote::MeshEvent;
pub use transmit::{
    ConnectionId, Departure, HandshakeError, Now, OpKey, Recipients, Refusal, Request, SyncTicket,
    Transmit,
};

use crate::config::ServerConfig;
use crate::identity::Identity;
use crate::outcome::ActionOutcome;
use ops::{OpLog, OpState};
pub(crate) use rate::TokenBucket;
use roster::Change;
use session::{Connection, Held, Session};
use timers::{Keepalive, KeepaliveConfig, Timer, Timers, Verdict};

/// Numbers the hub keeps about itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HubStats {
    /// Frames encoded (each broadcast counts once, however many receive it).
    pub encodes: u64,
    /// Client frames that could not be decoded.
    pub bad_frames: u64,
    /// Client frames dropped by the rate limit.
    pub rate_limited: u64,
    /// Client frames with a tag this build does not know (ignored).
    pub unknown_tags: u64,
    /// Frames projected for one view (see [`crate::view`]) that reached the
    /// hub: one per changed view per commit, however many connections have
    /// that view.
    pub view_frames: u64,
}

/// The result of a broadcast command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fanout {
    /// Connections it was queued or held for.
    pub reached: usize,
    /// The encoded frame (`None` when nothing was encoded: no session, or no
    /// recipient for a notification). A [`Broker`](crate::broker::Broker)
    /// forwards these bytes to other nodes.
    pub frame: Option<Bytes>,
}

/// The `ActionOk` or `ActionErr` frame for an action's outcome.
pub fn outcome_frame(op_id: OpId, outcome: ActionOutcome) -> Bytes {
    let msg = match outcome {
        ActionOutcome::Ok(result) => Control::ActionOk { op_id, result },
        ActionOutcome::Err { code, message } => Control::ActionErr {
            op_id,
            code,
            message,
        },
    };
    // Control messages carry no application payload, so they always encode.
    Bytes::from(msg.encode().unwrap_or_default())
}

/// Why an application's broadcast was not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BroadcastError {
    /// A delta could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The seq does not follow the resource's head: sent, it would make
    /// every client see a gap and resync. Only applications that keep
    /// their own state and number their own seqs can get this.
    #[error("broadcast seq {got} does not follow the head (expected {expected})")]
    OutOfOrder {
        /// The seq that would follow the head.
        expected: u64,
        /// The seq the broadcast carried.
        got: u64,
    },
}

/// Frames the hub produces that carry no application payload.
type Control = ServerMessage<(), (), ()>;

/// The sans-IO server core, generic over the application's [`Model`] (it
/// never calls the application: work for it is handed out as a [`Request`]).
pub struct Hub<M: Model> {
    config: ServerConfig,
    decode_limits: Limits,
    epoch: u32,
    /// What this hub shares with the other hubs of its node.
    node: Arc<NodeShare>,
    next_attempt: u64,
    connections: HashMap<ConnectionId, Connection>,
    sessions: HashMap<Arc<str>, Session>,
    ops: OpLog,
    timers: Timers,
    keepalive: KeepaliveConfig,
    /// Connections still authenticating (see [`Hub::begin_handshake`]).
    handshakes: HashSet<ConnectionId>,
    /// Connections told to close whose socket may still be open.
    closing: HashSet<ConnectionId>,
    transmits: VecDeque<Transmit>,
    requests: VecDeque<Request<M::Action>>,
    stats: HubStats,
    /// The latest time an input carried, for changes made by inputs that
    /// carry none (closes).
    latest: Option<Instant>,
    /// Syncs are answered from resource logs ([`Request::Sync`]) rather
    /// than by the application's `snapshot`/`deltas_since`.
    logged: bool,
    /// `Some` when this hub is one node of several (see `remote`).
    mesh: Option<remote::Mesh>,
    _model: PhantomData<fn() -> M>,
    /// Connections with a view of their own.
    views: views::Views,
    /// Connections with a presence scope of their own.
    scopes: scopes::Scopes,
    /// The connections that are another socket's channel (see `members`).
    members: members::Members,
}

impl<M: Model> Hub<M> {
    /// A hub with no connections. `epoch` is sent on snapshots and catch-up
    /// batches (see [`ServerConfig::epoch`]).
    pub fn new(config: ServerConfig, epoch: u32) -> Self {
        let node = Arc::new(NodeShare::new());
        Hub {
            decode_limits: Limits::default()
                .max_frame_len(config.max_message_size)
                .max_depth(config.max_depth),
            ops: OpLog::new(
                ops::Bounds {
                    per_user: config.op_memory.0,
                    retention: config.op_memory.1,
                    max_bytes: config.op_memory_bytes,
                },
                node.clone(),
            ),
            keepalive: KeepaliveConfig {
                liveness: config.liveness_timeout,
                ping_interval: config.ping_interval,
                pong_timeout: config.pong_timeout,
            },
            config,
            epoch,
            node,
            next_attempt: 0,
            connections: HashMap::new(),
            sessions: HashMap::new(),
            timers: Timers::default(),
            handshakes: HashSet::new(),
            closing: HashSet::new(),
            transmits: VecDeque::new(),
            requests: VecDeque::new(),
            stats: HubStats::default(),
            latest: None,
            logged: false,
            mesh: None,
            _model: PhantomData,
            views: views::Views::default(),
            scopes: scopes::Scopes::default(),
            members: members::Members::default(),
        }
    }

    /// Syncs connections from resource logs: every snapshot and resync
    /// becomes one [`Request::Sync`], answered with
    /// [`complete_sync`](Self::complete_sync). The hub still holds back what
    /// is broadcast meanwhile and skips what the answer already covers.
    pub fn with_logs(mut self) -> Self {
        self.logged = true;
        self
    }

    /// Makes this hub one of several of a node (one per resource, say):
    /// connection ids, the node-wide connection limits, join buckets, the
    /// byte bound of remembered outcomes and shutdown are `node`'s, shared
    /// with the other hubs given the same share. Call it before the first
    /// input.
    pub fn with_node(mut self, node: Arc<NodeShare>) -> Self {
        self.ops = OpLog::new(self.ops.bounds(), node.clone());
        self.node = node;
        self
    }

    /// Whether this hub holds nothing a driver must keep: no connection,
    /// handshake or closing socket, no running action, no outcome younger
    /// than the retention window at `now`, no queued output and no other
    /// node's presence. A driver running one hub per resource may then
    /// drop it (a new one serves the resource's next connection).
    pub fn is_idle(&self, now: Instant) -> bool {
        self.connections.is_empty()
            && self.sessions.is_empty()
            && self.handshakes.is_empty()
            && self.closing.is_empty()
            && self.transmits.is_empty()
            && self.requests.is_empty()
            && self.ops.is_idle(now)
            && self.mesh.as_ref().is_none_or(remote::Mesh::is_empty)
    }

    /// When the last remembered action outcome leaves the retention window
    /// (`None` when none is remembered): a driver that drops idle hubs
    /// checks again then (see [`is_idle`](Self::is_idle)).
    pub fn retained_until(&self) -> Option<Instant> {
        self.ops.retained_until()
    }

    /// The seq lineage this hub announces.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Counters about the hub's own work.
    pub fn stats(&self) -> HubStats {
        self.stats
    }

    /// Open connections, across resources.
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// Resources with at least one connection.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The `k` resources with the most connections, most first (ties by
    /// name), with their connection counts.
    pub fn busiest_sessions(&self, k: usize) -> Vec<(Arc<str>, usize)> {
        let mut all: Vec<(Arc<str>, usize)> = self
            .sessions
            .iter()
            .map(|(r, s)| (r.clone(), s.len()))
            .collect();
        all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(k);
        all
    }

    /// Connections to one resource.
    pub fn session_len(&self, resource: &str) -> usize {
        self.sessions.get(resource).map_or(0, Session::len)
    }

    /// The presence list of a resource (empty when nobody is connected).
    /// Meshed, it is the merged list, and it includes the users connected
    /// on other nodes even when nobody is connected to it on this one.
    pub fn presence(&self, resource: &str) -> Vec<PresenceInfo> {
        match (self.sessions.get(resource), &self.mesh) {
            (Some(session), mesh) => remote::listed(session, mesh.is_some()),
            (None, Some(mesh)) => mesh.merged_all(resource).into_values().collect(),
            (None, None) => Vec::new(),
        }
    }

    // ----- inputs -------------------------------------------------------

    /// An authenticated connection to `resource`. Queues `Connected` and asks
    /// for its snapshot (or, with `resume = Some((last_seq, epoch))`, tries
    /// deltas after `last_seq` first, as for a `Resync`). On `Err` nothing
    /// is queued: the caller tells the client.
    pub fn connect(
        &mut self,
        now: Now,
        resource: &str,
        user: Identity,
        resume: Option<(u64, Option<u32>)>,
    ) -> Result<ConnectionId, Refusal> {
        self.latest = Some(now.instant);
        let id = self.node.next_id();
        self.admit(now, id, resource, user, resume)?;
        Ok(id)
    }

    /// A socket that has upgraded and is about to authenticate. Returns its
    /// id and starts the handshake timeout: unless
    /// [`complete_handshake`](Self::complete_handshake) or
    /// [`fail_handshake`](Self::fail_handshake) comes first, the hub closes
    /// it with 4005 (no `Error` frame) when
    /// [`ServerConfig::handshake_timeout`] runs out.
    pub fn begin_handshake(&mut self, now: Now) -> ConnectionId {
        self.latest = Some(now.instant);
        let id = self.node.next_id();
        self.handshakes.insert(id);
        self.arm_timer(
            now.instant + self.config.handshake_timeout,
            Timer::Handshake(id),
        );
        id
    }

    /// Authentication of `id` succeeded: the connection joins `resource` as
    /// with [`connect`](Self::connect). On `Err` the refusal's `Error` and
    /// close are queued for `id`; an id whose handshake already timed out
    /// (or was never begun) gets `Err` with nothing queued.
    pub fn complete_handshake(
        &mut self,
        now: Now,
        id: ConnectionId,
        resource: &str,
        user: Identity,
        resume: Option<(u64, Option<u32>)>,
    ) -> Result<(), HandshakeError> {
        self.latest = Some(now.instant);
        if !self.handshakes.remove(&id) {
            self.forget_pending_scope(id);
            return Err(HandshakeError::Expired);
        }
        self.admit(now, id, resource, user, resume)
            .map_err(|refusal| {
                self.forget_pending_scope(id);
                let (code, close) = refusal.codes();
                self.refuse(id, code, &refusal.to_string(), close, "refused");
                HandshakeError::Refused(refusal)
            })
    }

    /// Authentication of `id` failed: queues `Error unauthorized` (fatal)
    /// and close 4001.
    pub fn fail_handshake(&mut self, now: Now, id: ConnectionId) {
        self.latest = Some(now.instant);
        self.forget_pending_scope(id);
        if self.handshakes.remove(&id) {
            self.refuse(
                id,
                ErrorCode::UNAUTHORIZED,
                "authentication failed",
                CloseCode::UNAUTHORIZED,
                "unauthorized",
            );
        }
    }

    fn admit(
        &mut self,
        now: Now,
        id: ConnectionId,
        resource: &str,
        user: Identity,
        resume: Option<(u64, Option<u32>)>,
    ) -> Result<(), Refusal> {
        let user_key: Arc<str> = Arc::from(user.user_id.as_str());
        let member = self.members.channel(id).is_some();
        if !member {
            self.node.admit(&self.config, &user_key, now.instant)?;
        }
        let resource: Arc<str> = match self.sessions.get_key_value(resource) {
            Some((key, _)) => key.clone(),
            None => Arc::from(resource),
        };
        if self.mesh.is_some() && !self.sessions.contains_key(&resource) {
            let shown = self.seed_shown(&resource);
            self.sessions.entry(resource.clone()).or_default().shown = shown;
        }
        let session = self.sessions.entry(resource.clone()).or_default();
        session.syncing.push(id);
        let change = session.roster.join(
            &user_key,
            user.name.as_deref(),
            id,
            now.instant,
            now.unix_ms,
            self.config.idle_after,
        );
        let connected = Control::Connected {
            protocol_version: PROTOCOL_VERSION,
            connection_id: format!("{:08x}-{}", self.epoch, id.0),
            user_id: Some(user.user_id.clone()),
            channels: (self.config.max_channels > 0).then_some(self.config.max_channels),
        };
        self.connections.insert(
            id,
            Connection {
                resource: resource.clone(),
                user: Arc::new(user),
                user_key: user_key.clone(),
                subscriptions: Vec::new(),
                share: None,
                bucket: TokenBucket::full(&self.config.rate_limit, now.instant),
                sync: Some(session::Sync {
                    attempt: 0,
                    join: true,
                    deltas: None,
                    held: VecDeque::new(),
                    held_bytes: 0,
                }),
                pending_resync: None,
                keepalive: Keepalive::new(now.instant, &self.keepalive),
            },
        );
        // A channel has no keepalive and no `Connected` of its own: both
        // belong to its socket.
        if !member {
            if let Some(c) = self.connections.get(&id) {
                self.arm_timer(c.keepalive.wake, Timer::Keepalive(id));
            }
            let frame = self.control(&connected);
            self.transmits.push_back(Transmit::Frame {
                to: Recipients::One(id),
                bytes: frame,
            });
        }
        self.join_scope(&resource, id, &user_key);
        if let Some(change) = change {
            self.announce(&resource, change);
        }
        self.arm_idle_timer(&resource, &user_key);
        self.start_sync(now, id, resume.map(|(seq, epoch)| (Some(seq), epoch)));
        Ok(())
    }

    /// One binary frame from a connection.
    ///
    /// Every frame has exactly one answer or none, never more: a frame with
    /// tag `Action` whose `op_id` can be read gets its outcome (an
    /// `ActionErr` when it is refused here); any other refused frame gets one
    /// `Error` (one per run of drops for the rate limit).
    pub fn handle_frame(&mut self, now: Now, conn: ConnectionId, frame: &[u8]) {
        self.latest = Some(now.instant);
        if !self.take_token(now, conn, Some(frame)) {
            return;
        }
        match ClientMessage::<M::Action>::decode_routed_with(frame, &self.decode_limits) {
            Ok((channel, Decoded::Message(msg))) if !self.members.is_on(conn, channel) => {
                self.off_channel(conn, channel, &msg);
            }
            Ok((
                _,
                Decoded::Message(ClientMessage::Signal {
                    target_user_id,
                    signal,
                }),
            )) => self.signal(conn, &target_user_id, &signal, frame),
            Ok((_, Decoded::Message(msg))) => self.handle_message(now, conn, msg),
            Ok((_, Decoded::Unknown { .. })) => self.stats.unknown_tags += 1,
            Err(ui_flow::DecodeError::TooLarge { .. }) => self.handle_oversized(conn),
            // A server that serves channels answers a bad Join or Leave
            // as any bad frame; one that does not drops them unread.
            Err(_) if self.config.max_channels == 0 && self.is_channel_control(frame) => {
                self.stats.unknown_tags += 1
            }
            Err(e) => {
                self.stats.bad_frames += 1;
                let channel = self.frame_channel(frame);
                match self.action_head(frame) {
                    Ok(op_id) => {
                        self.refuse_action_on(conn, channel, op_id, action_code::BAD_ACTION, &e)
                    }
                    Err(op_id) => self.send_error_on(
                        conn,
                        channel,
                        ErrorCode::BAD_FRAME,
                        &e.to_string(),
                        op_id,
                    ),
                }
            }
        }
    }

    /// A frame on a channel other than 0. This hub joins no resource on a
    /// channel (its `Connected` has no `channels`), so no such channel is
    /// joined: `Join` and `Leave` are dropped as a server that predates
    /// channels drops an unknown tag, an Action gets its one outcome,
    /// `ActionErr unknown_channel`, and anything else a non-fatal
    /// `Error unknown_channel`, both on the frame's channel. None of them
    /// acts on the URL's resource.
    fn off_channel(
        &mut self,
        conn: ConnectionId,
        channel: Channel,
        msg: &ClientMessage<M::Action>,
    ) {
        match msg {
            ClientMessage::Join { .. } | ClientMessage::Leave => self.stats.unknown_tags += 1,
            ClientMessage::Action { op_id, .. } => self.refuse_action_on(
                conn,
                channel,
                *op_id,
                action_code::UNKNOWN_CHANNEL,
                &format_args!("{channel} is not joined; the action was not run"),
            ),
            _ => {
                let message = format!("{channel} is not joined; the frame was dropped");
                self.send_error_on(conn, channel, ErrorCode::UNKNOWN_CHANNEL, &message, None);
            }
        }
    }

    /// Whether a frame that did not decode is a `Join` or `Leave`, which
    /// this hub drops unread like an unknown tag (see
    /// [`off_channel`](Self::off_channel)).
    fn is_channel_control(&self, frame: &[u8]) -> bool {
        ui_flow::codec::peek_head(frame, &self.decode_limits)
            .is_some_and(|h| h.tag == ClientTag::JOIN.0 || h.tag == ClientTag::LEAVE.0)
    }

    /// The channel a frame names in its first top-level `c`, as far as the
    /// frame can be read; channel 0 when it names none or the value is not
    /// a `uint16`. For answers to frames refused before they decode.
    fn frame_channel(&self, frame: &[u8]) -> Channel {
        let Some(bytes) = ui_flow::codec::field_bytes(frame, &self.decode_limits, "c") else {
            return Channel::URL;
        };
        let value: Option<u64> = match bytes {
            [b @ 0x00..=0x7f] => Some(u64::from(*b)),
            [0xcc, b] => Some(u64::from(*b)),
            [0xcd, rest @ ..] => rest
                .try_into()
                .ok()
                .map(|b| u64::from(u16::from_be_bytes(b))),
            [0xce, rest @ ..] => rest
                .try_into()
                .ok()
                .map(|b| u64::from(u32::from_be_bytes(b))),
            [0xcf, rest @ ..] => rest.try_into().ok().map(u64::from_be_bytes),
            _ => None,
        };
        value
            .and_then(|v| u16::try_from(v).ok())
            .map_or(Channel::URL, Channel)
    }

    /// A text frame. ui-flow frames are binary, so it is counted against the
    /// rate limit like any frame and answered with a non-fatal `bad_frame`.
    pub fn handle_text_frame(&mut self, now: Now, conn: ConnectionId) {
        self.latest = Some(now.instant);
        if self.take_token(now, conn, None) {
            self.stats.bad_frames += 1;
            self.send_error(
                conn,
                ErrorCode::BAD_FRAME,
                "text frames are not part of the protocol; send binary MessagePack frames",
            );
        }
    }

    /// Takes one token from the connection's rate limit; when there is none,
    /// answers the dropped frame (see [`handle_frame`](Self::handle_frame))
    /// and returns false.
    fn take_token(&mut self, now: Now, conn: ConnectionId, frame: Option<&[u8]>) -> bool {
        let limit = self.config.rate_limit;
        if self.members.channel(conn).is_some() {
            // Its socket's task took the token (see `members`).
            return self.connections.contains_key(&conn);
        }
        let Some(c) = self.connections.get_mut(&conn) else {
            return false;
        };
        // Any frame, kept or dropped, shows the peer is alive.
        let sooner = c.keepalive.heard(now.instant, &self.keepalive);
        let kept = c.bucket.take(&limit, now.instant);
        if let Some(at) = sooner {
            self.arm_timer(at, Timer::Keepalive(conn));
        }
        if kept {
            return true;
        }
        self.stats.rate_limited += 1;
        if let Some(frame) = frame {
            if let Ok(op_id) = self.action_head(frame) {
                let why = "too many frames; this action was dropped, not run";
                let channel = self.frame_channel(frame);
                self.refuse_action_on(conn, channel, op_id, action_code::RATE_LIMITED, &why);
                return false;
            }
        }
        let Some(c) = self.connections.get_mut(&conn) else {
            return false;
        };
        if !c.bucket.told {
            c.bucket.told = true;
            self.send_error(
                conn,
                ErrorCode::RATE_LIMITED,
                "too many frames; this one and the rest of this run are dropped",
            );
        }
        false
    }

    /// The `op_id` of a frame that is an Action in the spec's sense (tag
    /// 1000, an `op_id` readable before any fault); otherwise `Err` with
    /// whatever `op_id` the frame had, for an `Error` about it.
    fn action_head(&self, frame: &[u8]) -> Result<OpId, Option<OpId>> {
        match ui_flow::codec::peek_head(frame, &self.decode_limits) {
            Some(FrameHead {
                tag,
                op_id: Some(op_id),
                ..
            }) if tag == ClientTag::ACTION.0 => Ok(op_id),
            head => Err(head.and_then(|h| h.op_id)),
        }
    }

    /// Answers an action the hub refuses before the application sees it.
    fn refuse_action(
        &mut self,
        conn: ConnectionId,
        op_id: OpId,
        code: &str,
        why: &dyn std::fmt::Display,
    ) {
        self.refuse_action_on(conn, Channel::URL, op_id, code, why);
    }

    /// Answers, on `channel`, an action the hub refuses before the
    /// application sees it.
    fn refuse_action_on(
        &mut self,
        conn: ConnectionId,
        channel: Channel,
        op_id: OpId,
        code: &str,
        why: &dyn std::fmt::Display,
    ) {
        let frame = self.control_on(
            &Control::ActionErr {
                op_id,
                code: Some(code.to_owned()),
                message: why.to_string(),
            },
            channel,
        );
        self.send(conn, frame);
    }

    /// A WebSocket ping or pong arrived from the connection (or anything
    /// else the driver does not pass on): it is alive.
    pub fn handle_heartbeat(&mut self, now: Now, conn: ConnectionId) {
        self.latest = Some(now.instant);
        let sooner = self
            .connections
            .get_mut(&conn)
            .and_then(|c| c.keepalive.heard(now.instant, &self.keepalive));
        if let Some(at) = sooner {
            self.arm_timer(at, Timer::Keepalive(conn));
        }
    }

    /// The connection sent a frame over the maximum message size: fatal.
    pub fn handle_oversized(&mut self, conn: ConnectionId) {
        let message = format!(
            "a frame exceeded the {}-byte limit",
            self.config.max_message_size
        );
        self.close(
            conn,
            ErrorCode::FRAME_TOO_LARGE,
            &message,
            CloseCode::MESSAGE_TOO_BIG,
            "message too big",
        );
    }

    /// Nothing arrived from the connection within the liveness timeout.
    pub fn handle_liveness_timeout(&mut self, conn: ConnectionId) {
        self.close(
            conn,
            ErrorCode::LIVENESS_TIMEOUT,
            "no frame within the liveness timeout",
            CloseCode::LIVENESS_TIMEOUT,
            "liveness timeout",
        );
    }

    /// The connection is gone (or the driver is closing it as a slow
    /// consumer, which starts its close grace).
    pub fn handle_departure(&mut self, now: Now, conn: ConnectionId, why: Departure) {
        self.latest = Some(now.instant);
        self.handshakes.remove(&conn);
        self.remove(now, conn);
        match why {
            Departure::SlowConsumer => self.start_grace(conn),
            Departure::Gone => {
                self.closing.remove(&conn);
            }
        }
    }

    /// Time passed: whatever came due runs (idle statuses, server pings,
    /// dead peers, handshake timeouts, close graces, presence batches).
    pub fn handle_timeout(&mut self, now: Now) {
        self.latest = Some(now.instant);
        while let Some((at, timer)) = self.timers.pop_due(now.instant) {
            match timer {
                Timer::Idle { resource, user } => self.idle_due(now, &resource, &user),
                Timer::Keepalive(conn) => self.keepalive_due(now, at, conn),
                Timer::Handshake(conn) => {
                    self.forget_pending_scope(conn);
                    if self.handshakes.remove(&conn) {
                        self.transmits.push_back(Transmit::Close {
                            conn,
                            code: CloseCode::HANDSHAKE_TIMEOUT,
                            reason: "handshake timeout",
                        });
                        self.start_grace(conn);
                    }
                }
                Timer::Grace(conn) => {
                    if self.closing.remove(&conn) {
                        self.transmits.push_back(Transmit::Abort { conn });
                    }
                }
                Timer::Presence(resource) => self.presence_due(now, at, &resource),
            }
        }
    }

    fn idle_due(&mut self, now: Now, resource: &Arc<str>, user: &Arc<str>) {
        let Some(session) = self.sessions.get_mut(resource) else {
            return;
        };
        session.roster.disarm_idle_timer(user);
        if let Some(change) = session
            .roster
            .refresh(user, now.instant, self.config.idle_after)
        {
            self.announce(resource, change);
        }
        self.arm_idle_timer(resource, user);
    }

    fn keepalive_due(&mut self, now: Now, at: Instant, conn: ConnectionId) {
        let config = self.keepalive;
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        if c.keepalive.wake != at {
            return; // superseded
        }
        match c.keepalive.check(now.instant, &config) {
            Verdict::Alive { ping, next } => {
                if ping {
                    self.transmits.push_back(Transmit::Ping { conn });
                }
                self.arm_timer(next, Timer::Keepalive(conn));
            }
            Verdict::Silent => self.handle_liveness_timeout(conn),
            Verdict::NoPong => self.close(
                conn,
                ErrorCode::LIVENESS_TIMEOUT,
                "no answer to a ping within the pong timeout",
                CloseCode::LIVENESS_TIMEOUT,
                "no pong",
            ),
        }
    }

    fn presence_due(&mut self, now: Now, at: Instant, resource: &Arc<str>) {
        let window = self.config.presence_batch;
        let Some(session) = self.sessions.get_mut(resource) else {
            return;
        };
        if session.batch.until != Some(at) {
            return;
        }
        let Some(flush) = session.batch.close(now.instant, window) else {
            return;
        };
        self.arm_timer(now.instant + window, Timer::Presence(resource.clone()));
        // Connections that got their full list during the window have the
        // changes made before it; they get only the later ones.
        let listed = flush.listed;
        if let Some(diff) = flush.diff {
            self.send_presence_diff(resource, &diff, &listed);
        }
        for (diff, conns) in flush.late {
            // Held for any that started a resync since their list.
            let (syncing, live): (Vec<_>, Vec<_>) = conns
                .into_iter()
                .filter(|c| self.connections.contains_key(c))
                .partition(|c| self.connections.get(c).is_some_and(|c| c.sync.is_some()));
            self.send_presence_to(resource, &diff, live, syncing);
        }
        self.prune_scopes(resource);
    }

    /// Closes every connection with `Error shutdown` and close 1001, and
    /// refuses new ones.
    pub fn shutdown(&mut self) {
        self.node.shut_down();
        // Members end with their socket, which its own resource's hub
        // closes: the client rejoins them when it reconnects.
        let mut all: Vec<ConnectionId> = self
            .connections
            .keys()
            .copied()
            .filter(|c| self.members.channel(*c).is_none())
            .collect();
        all.sort_unstable();
        for conn in all {
            self.close(
                conn,
                ErrorCode::SHUTDOWN,
                "the server is shutting down; reconnect",
                CloseCode::GOING_AWAY,
                "server shutting down",
            );
        }
    }

    // ----- outputs ------------------------------------------------------

    /// The next frame or close to deliver, in order.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next piece of work for the application's handler.
    pub fn poll_request(&mut self) -> Option<Request<M::Action>> {
        self.requests.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Deadlines held, including ones whose owner has gone and that will
    /// do nothing when due (they are swept out as the heap grows). For
    /// tests and diagnostics: after connections come and go it stays
    /// within about twice the live deadlines plus 1,024.
    pub fn timer_count(&self) -> usize {
        self.timers.len()
    }

    /// Arms a deadline, first sweeping out stale ones if enough have piled
    /// up (see the `timers` module).
    fn arm_timer(&mut self, at: Instant, timer: Timer) {
        if self.timers.wants_sweep() {
            let (connections, handshakes, closing, sessions) = (
                &self.connections,
                &self.handshakes,
                &self.closing,
                &self.sessions,
            );
            // Exactly the entries `handle_timeout` would act on, and every
            // idle deadline of a user still present (which may be current).
            self.timers.retain(|at, timer| match timer {
                Timer::Keepalive(conn) => connections
                    .get(conn)
                    .is_some_and(|c| c.keepalive.wake == at),
                Timer::Handshake(conn) => handshakes.contains(conn),
                Timer::Grace(conn) => closing.contains(conn),
                Timer::Idle { resource, user } => sessions
                    .get(resource)
                    .is_some_and(|s| s.roster.contains(user)),
                Timer::Presence(resource) => sessions
                    .get(resource)
                    .is_some_and(|s| s.batch.until == Some(at)),
            });
        }
        self.timers.arm(at, timer);
    }

    // ----- actions ------------------------------------------------------

    /// Progress of a running action, sent to every connection waiting for it.
    pub fn report_progress(&mut self, key: &OpKey, percent: Option<u8>, message: Option<String>) {
        let waiters = self.ops.waiters(key).to_vec();
        if waiters.is_empty() {
            return;
        }
        let frame = self.control(&Control::Progress {
            op_id: key.op_id,
            percent,
            message,
        });
        for conn in waiters {
            self.send(conn, frame.clone());
        }
    }

    /// The outcome of an action: sent to every connection waiting for it
    /// and remembered for retries.
    pub fn complete_action(&mut self, now: Now, key: &OpKey, outcome: ActionOutcome) {
        self.stats.encodes += 1;
        let frame = outcome_frame(key.op_id, outcome);
        self.complete_action_frame(now, key, frame);
    }

    /// Like [`complete_action`](Self::complete_action), with the outcome
    /// already encoded (an `ActionOk` or `ActionErr` frame for `key`'s op id,
    /// as [`outcome_frame`] makes, or as a store recorded it).
    pub fn complete_action_frame(&mut self, now: Now, key: &OpKey, frame: Bytes) {
        self.latest = Some(now.instant);
        for conn in self.ops.finish(key, frame.clone(), now.instant) {
            self.send(conn, frame.clone());
        }
    }

    // ----- commands -----------------------------------------------------

    /// Sends `Delta { delta, seq }` to every connection of `resource`,
    /// encoded once. Returns how many connections it reached (connections
    /// still syncing get it after their snapshot, unless the snapshot
    /// already contains it).
    pub fn broadcast_delta(
        &mut self,
        now: Now,
        resource: &str,
        delta: &M::Delta,
        seq: u64,
    ) -> Result<Fanout, BroadcastError> {
        if !self.sessions.contains_key(resource) {
            return Ok(Fanout::default());
        }
        self.check_next(resource, seq)?;
        let frame = self.encode(&ServerMessage::<(), &M::Delta, ()>::Delta {
            delta,
            seq,
            timestamp: now.unix_ms,
            epoch: None,
            prev: None,
        })?;
        Ok(Fanout {
            reached: self.fan_out(resource, frame.clone(), Some((seq, seq)), false),
            frame: Some(frame),
        })
    }

    /// Refuses a broadcast starting at `first` unless it follows the
    /// resource's head (the highest seq sent or synced so far).
    fn check_next(&self, resource: &str, first: u64) -> Result<(), BroadcastError> {
        match self.sessions.get(resource).and_then(|s| s.head) {
            Some(head) if first != head + 1 => Err(BroadcastError::OutOfOrder {
                expected: head + 1,
                got: first,
            }),
            _ => Ok(()),
        }
    }

    /// Queues an already-encoded `Delta` or `Deltas` frame carrying seqs
    /// `first..=last` to every connection of `resource`, as if it had been
    /// broadcast here (for frames published by another node). The frame is
    /// unprojected: connections with a view of their own do not get it, they
    /// resync with a snapshot of their view.
    pub fn deliver_deltas_frame(
        &mut self,
        resource: &str,
        frame: Bytes,
        first: u64,
        last: u64,
    ) -> usize {
        if let Some(instant) = self.latest.filter(|_| self.has_views(resource)) {
            // Resyncing from a log reads no time; the instant only orders timers.
            let now = Now {
                instant,
                unix_ms: 0,
            };
            let none = crate::view::ViewFrames::default();
            return self.deliver_view_frames(now, resource, frame, &none, first, last);
        }
        self.fan_out(resource, frame, Some((first, last)), false)
    }

    /// Sends several contiguous deltas ending at `seq` as one `Deltas`
    /// message (the first moves the state from `seq - deltas.len()`).
    pub fn broadcast_deltas(
        &mut self,
        now: Now,
        resource: &str,
        deltas: &[M::Delta],
        seq: u64,
    ) -> Result<Fanout, BroadcastError> {
        let len = deltas.len() as u64;
        if deltas.is_empty() || !self.sessions.contains_key(resource) {
            return Ok(Fanout::default());
        }
        self.check_next(resource, seq + 1 - len)?;
        let frame = self.encode(&ServerMessage::<(), &M::Delta, ()>::Deltas {
            deltas: deltas.iter().collect(),
            seq,
            timestamp: now.unix_ms,
            epoch: Some(self.epoch),
            prev: None,
        })?;
        let first = seq.saturating_sub(len - 1);
        Ok(Fanout {
            reached: self.fan_out(resource, frame.clone(), Some((first, seq)), false),
            frame: Some(frame),
        })
    }

    /// Sends `Notify` to the connections of `resource` subscribed to
    /// `domain` for whose user `filter` returns true. Encoded once (and not
    /// at all when nobody qualifies).
    pub fn broadcast_notify(
        &mut self,
        resource: &str,
        domain: &str,
        event: &M::Event,
        correlation_id: Option<OpId>,
        filter: &mut dyn FnMut(&Identity, &M::Event) -> bool,
    ) -> Result<Fanout, EncodeError> {
        let Some(session) = self.sessions.get(resource) else {
            return Ok(Fanout::default());
        };
        let candidates: Vec<ConnectionId> = session
            .live
            .iter()
            .chain(&session.syncing)
            .copied()
            .collect();
        self.notify(candidates, domain, event, correlation_id, filter)
    }

    /// Like [`broadcast_notify`](Self::broadcast_notify), for one user's
    /// connections to `resource` only.
    pub fn notify_user(
        &mut self,
        resource: &str,
        user_id: &str,
        domain: &str,
        event: &M::Event,
        correlation_id: Option<OpId>,
        filter: &mut dyn FnMut(&Identity, &M::Event) -> bool,
    ) -> Result<Fanout, EncodeError> {
        let Some(session) = self.sessions.get(resource) else {
            return Ok(Fanout::default());
        };
        let candidates: Vec<ConnectionId> = session.roster.connections_of(user_id).collect();
        self.notify(candidates, domain, event, correlation_id, filter)
    }

    /// The connections of `resource` (only `user`'s, when given) subscribed
    /// to `domain`, with their users: the candidates for a notification,
    /// for a filter that must run outside the hub.
    pub fn notify_candidates(
        &self,
        resource: &str,
        domain: &str,
        user: Option<&str>,
    ) -> Vec<(ConnectionId, Arc<Identity>)> {
        let Some(session) = self.sessions.get(resource) else {
            return Vec::new();
        };
        let ids: Vec<ConnectionId> = match user {
            Some(user) => session.roster.connections_of(user).collect(),
            None => session
                .live
                .iter()
                .chain(&session.syncing)
                .copied()
                .collect(),
        };
        ids.into_iter()
            .filter_map(|id| {
                let c = self.connections.get(&id)?;
                c.subscribed(domain).then(|| (id, c.user.clone()))
            })
            .collect()
    }

    /// Sends `Notify` to exactly these connections (those still open and
    /// subscribed), encoded once.
    pub fn notify_connections(
        &mut self,
        conns: Vec<ConnectionId>,
        domain: &str,
        event: &M::Event,
        correlation_id: Option<OpId>,
    ) -> Result<Fanout, EncodeError> {
        self.notify(conns, domain, event, correlation_id, &mut |_, _| true)
    }

    fn notify(
        &mut self,
        candidates: Vec<ConnectionId>,
        domain: &str,
        event: &M::Event,
        correlation_id: Option<OpId>,
        filter: &mut dyn FnMut(&Identity, &M::Event) -> bool,
    ) -> Result<Fanout, EncodeError> {
        let recipients: Vec<ConnectionId> = candidates
            .into_iter()
            .filter(|id| {
                self.connections
                    .get(id)
                    .is_some_and(|c| c.subscribed(domain) && filter(&c.user, event))
            })
            .collect();
        if recipients.is_empty() {
            return Ok(Fanout::default());
        }
        let frame = self.encode(&ServerMessage::<(), (), &M::Event>::Notify {
            domain: domain.to_owned(),
            event,
            correlation_id,
        })?;
        let (live, held): (Vec<_>, Vec<_>) = recipients
            .iter()
            .partition(|id| self.connections.get(id).is_some_and(|c| c.sync.is_none()));
        let count = recipients.len();
        if !live.is_empty() {
            self.transmits.push_back(Transmit::Frame {
                to: Recipients::Many(Arc::new(live)),
                bytes: frame.clone(),
            });
        }
        for conn in held {
            self.hold(conn, frame.clone(), None, false);
        }
        Ok(Fanout {
            reached: count,
            frame: Some(frame),
        })
    }

    // ----- internals ----------------------------------------------------

    fn handle_message(&mut self, now: Now, conn: ConnectionId, msg: ClientMessage<M::Action>) {
        match msg {
            ClientMessage::Ping { ts, presence } => {
                let pong = self.control(&Control::Pong {
                    client_ts: ts,
                    server_ts: now.unix_ms,
                });
                self.send(conn, pong);
                if let Some(status) = presence {
                    self.with_roster(conn, |roster, user, idle| {
                        roster.report(user, conn, status, now.instant, idle)
                    });
                }
            }
            ClientMessage::Resync { last_seq, epoch } => self.resync(now, conn, last_seq, epoch),
            ClientMessage::Action { op_id, action } => self.action(now, conn, op_id, action),
            ClientMessage::Subscribe { domains } => self.subscribe(conn, domains),
            // Relayed from handle_frame, which has the sender's bytes.
            ClientMessage::Signal { .. } => {}
            // Not reached: both always name a channel other than 0 (see
            // `off_channel`), and this hub drops them there.
            ClientMessage::Join { .. } | ClientMessage::Leave => self.stats.unknown_tags += 1,
            ClientMessage::Unsubscribe { domains } => {
                if let Some(c) = self.connections.get_mut(&conn) {
                    let before = members::held(&c.subscriptions);
                    c.subscriptions
                        .retain(|d| !domains.iter().any(|x| x == &**d));
                    let after = members::held(&c.subscriptions);
                    if let Some(share) = &c.share {
                        share.release(before.0 - after.0, before.1 - after.1);
                    }
                }
            }
        }
    }

    fn action(&mut self, now: Now, conn: ConnectionId, op_id: OpId, action: M::Action) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let key = OpKey {
            resource: c.resource.clone(),
            user: c.user_key.clone(),
            op_id,
        };
        let user = c.user.clone();
        self.with_roster(conn, |roster, user, idle| {
            roster.interact(user, now.instant, idle)
        });
        match self.ops.get_mut(&key) {
            Some(OpState::Done(frame)) => {
                let frame = frame.clone();
                self.send(conn, frame);
            }
            Some(OpState::Running(waiters)) => {
                if !waiters.contains(&conn) {
                    waiters.push(conn);
                }
            }
            None => match self.ops.start(key.clone(), conn, now.instant) {
                Ok(()) => self
                    .requests
                    .push_back(Request::Action { key, user, action }),
                Err(busy) => self.refuse_action(conn, op_id, busy.code(), &busy.message()),
            },
        }
    }

    /// Subscribes domain by domain, in order; the first ones win at a limit
    /// (count, name length, total bytes), and the rest are refused.
    fn subscribe(&mut self, conn: ConnectionId, domains: Vec<String>) {
        let (max, max_len, max_bytes) = (
            self.config.max_subscriptions,
            self.config.max_domain_len,
            self.config.max_subscription_bytes,
        );
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        // Summed over the socket's channels when it holds any.
        let share = c.share.clone();
        let mut shared = share.as_ref().map(|s| s.lock());
        let (mut count, mut held) = match &shared {
            Some(totals) => **totals,
            None => members::held(&c.subscriptions),
        };
        let mut refused = 0usize;
        for domain in domains {
            if c.subscribed(&domain) {
                continue;
            }
            if domain.len() > max_len || count >= max || held + domain.len() > max_bytes {
                refused += 1;
                continue;
            }
            count += 1;
            held += domain.len();
            c.subscriptions.push(domain.into_boxed_str());
        }
        if let Some(totals) = shared.as_mut() {
            **totals = (count, held);
        }
        drop(shared);
        if refused > 0 {
            let message = format!(
                "{refused} domain(s) not subscribed: at most {max} domains, {max_len} bytes \
                 each and {max_bytes} bytes in all per connection"
            );
            self.send_error(conn, ErrorCode::SUBSCRIPTION_LIMIT, &message);
        }
    }

    /// Relays a Signal, its payload byte for byte as the sender wrote it.
    fn signal(
        &mut self,
        conn: ConnectionId,
        target: &str,
        signal: &ui_flow::SignalPayload,
        frame: &[u8],
    ) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        // The sender's bytes of the `signal` value; the frame decoded, so they
        // are there.
        let payload = ui_flow::codec::field_bytes(frame, &self.decode_limits, "signal");
        let size = payload.map_or_else(|| signal.approx_len(), <[u8]>::len);
        if size > self.config.max_signal_bytes {
            let message = format!(
                "signal payloads are limited to {} bytes",
                self.config.max_signal_bytes
            );
            self.send_error(conn, ErrorCode::SIGNAL_TOO_LARGE, &message);
            return;
        }
        let from = c.user.user_id.clone();
        let resource = c.resource.clone();
        let Some(session) = self.sessions.get(&resource) else {
            return;
        };
        let local = session.roster.contains(target);
        let elsewhere = self.elsewhere(&resource, target);
        // A user outside the sender's presence scope is answered as one who
        // is not connected: the refusal does not tell them apart.
        if (!local && !elsewhere) || !self.may_see(conn, &resource, target) {
            self.send_error(
                conn,
                ErrorCode::UNKNOWN_TARGET,
                "the target user is not connected to this resource",
            );
            return;
        }
        let targets: Vec<ConnectionId> = session
            .roster
            .connections_of(target)
            .filter(|t| *t != conn)
            .collect();
        let relayed = payload
            .and_then(|bytes| ui_flow::codec::encode_relayed_signal(&from, bytes).ok())
            .map(Bytes::from);
        let frame = match relayed {
            Some(frame) => {
                self.stats.encodes += 1;
                frame
            }
            None => self.control(&Control::Signal {
                from_user_id: from,
                signal: signal.clone(),
            }),
        };
        if elsewhere {
            self.relay_signal(&resource, target, frame.clone());
        }
        for t in targets {
            self.send(t, frame.clone());
        }
    }

    /// Applies a roster change for the connection's user and announces it.
    fn with_roster(
        &mut self,
        conn: ConnectionId,
        f: impl FnOnce(&mut roster::Roster, &str, std::time::Duration) -> Option<Change>,
    ) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let (resource, user) = (c.resource.clone(), c.user_key.clone());
        let Some(session) = self.sessions.get_mut(&resource) else {
            return;
        };
        if let Some(change) = f(&mut session.roster, &user, self.config.idle_after) {
            self.announce(&resource, change);
        }
        self.arm_idle_timer(&resource, &user);
    }

    fn arm_idle_timer(&mut self, resource: &Arc<str>, user: &Arc<str>) {
        let idle = self.config.idle_after;
        if let Some(at) = self
            .sessions
            .get_mut(resource)
            .and_then(|s| s.roster.arm_idle_timer(user, idle))
        {
            self.arm_timer(
                at,
                Timer::Idle {
                    resource: resource.clone(),
                    user: user.clone(),
                },
            );
        }
    }

    /// Sends a presence change, or adds it to the resource's open batch
    /// window ([`ServerConfig::presence_batch`]).
    fn announce(&mut self, resource: &str, change: Change) {
        let change = if self.mesh.is_some() {
            match self.merge_local(resource, change) {
                Some(change) => change,
                None => return,
            }
        } else {
            change
        };
        self.emit_presence(resource, change);
    }

    /// Sends a change of the presence list the clients see.
    fn emit_presence(&mut self, resource: &str, change: Change) {
        let window = self.config.presence_batch;
        let Some(at) = self.latest else {
            return;
        };
        let Some(session) = self.sessions.get_mut(resource) else {
            return;
        };
        if !session.batch.open(at, window) {
            session.batch.add(change);
            return;
        }
        if !window.is_zero() {
            if let Some((key, _)) = self.sessions.get_key_value(resource) {
                self.arm_timer(at + window, Timer::Presence(key.clone()));
            }
        }
        self.send_presence_diff(resource, &roster::single(change), &[]);
    }

    /// Sends a frame to every connection of a resource; returns how many.
    fn fan_out(
        &mut self,
        resource: &str,
        frame: Bytes,
        seqs: Option<(u64, u64)>,
        presence: bool,
    ) -> usize {
        let Some(session) = self.sessions.get_mut(resource) else {
            return 0;
        };
        if let Some((_, last)) = seqs {
            session.advance_head(last);
        }
        let live = session.live.clone();
        let syncing = session.syncing.clone();
        let mut count = live.len();
        if !live.is_empty() {
            self.transmits.push_back(Transmit::Frame {
                to: Recipients::Many(live),
                bytes: frame.clone(),
            });
        }
        for conn in syncing {
            if self.hold(conn, frame.clone(), seqs, presence) {
                count += 1;
            }
        }
        count
    }

    /// Sends one frame to one connection, holding it back while it syncs.
    fn send(&mut self, conn: ConnectionId, frame: Bytes) {
        match self.connections.get(&conn) {
            Some(c) if c.sync.is_some() => {
                self.hold(conn, frame, None, false);
            }
            Some(_) => self.transmits.push_back(Transmit::Frame {
                to: Recipients::One(conn),
                bytes: frame,
            }),
            None => {}
        }
    }

    /// Holds a frame for a syncing connection; returns whether it was kept.
    /// A connection whose held frames go over the outbound bound is closed
    /// as a slow consumer.
    fn hold(
        &mut self,
        conn: ConnectionId,
        bytes: Bytes,
        seqs: Option<(u64, u64)>,
        presence: bool,
    ) -> bool {
        let bound = self.config.outbound_queue_bytes;
        let Some(sync) = self
            .connections
            .get_mut(&conn)
            .and_then(|c| c.sync.as_mut())
        else {
            return false;
        };
        if presence && sync.join {
            return false;
        }
        sync.held_bytes += bytes.len();
        sync.held.push_back(Held { bytes, seqs });
        if sync.held_bytes > bound {
            self.close(
                conn,
                ErrorCode::SLOW_CONSUMER,
                "too much arrived while this connection was syncing",
                CloseCode::SLOW_CONSUMER,
                "slow consumer",
            );
            return false;
        }
        true
    }

    fn send_error(&mut self, conn: ConnectionId, code: ErrorCode, message: &str) {
        self.send_error_about(conn, code, message, None);
    }

    /// A non-fatal error about one frame, naming its `op_id` when it had one.
    fn send_error_about(
        &mut self,
        conn: ConnectionId,
        code: ErrorCode,
        message: &str,
        op_id: Option<OpId>,
    ) {
        self.send_error_on(conn, Channel::URL, code, message, op_id);
    }

    /// A non-fatal error about one frame sent on `channel`.
    fn send_error_on(
        &mut self,
        conn: ConnectionId,
        channel: Channel,
        code: ErrorCode,
        message: &str,
        op_id: Option<OpId>,
    ) {
        let frame = self.control_on(
            &Control::Error {
                code: Some(code),
                message: message.to_owned(),
                fatal: false,
                op_id,
            },
            channel,
        );
        self.send(conn, frame);
    }

    /// Sends a fatal error and a close, then forgets the connection.
    fn close(
        &mut self,
        conn: ConnectionId,
        code: ErrorCode,
        message: &str,
        close: CloseCode,
        reason: &'static str,
    ) {
        if !self.connections.contains_key(&conn) {
            return;
        }
        if self.end_member(conn, &code, message, close, reason) {
            return;
        }
        let frame = self.control(&Control::Error {
            code: Some(code),
            message: message.to_owned(),
            fatal: true,
            op_id: None,
        });
        self.transmits.push_back(Transmit::Frame {
            to: Recipients::One(conn),
            bytes: frame,
        });
        self.transmits.push_back(Transmit::Close {
            conn,
            code: close,
            reason,
        });
        self.remove_at(None, conn);
        self.start_grace(conn);
    }

    /// Error and close for a connection the hub never admitted.
    fn refuse(
        &mut self,
        conn: ConnectionId,
        code: ErrorCode,
        message: &str,
        close: CloseCode,
        reason: &'static str,
    ) {
        let frame = self.control(&Control::Error {
            code: Some(code),
            message: message.to_owned(),
            fatal: true,
            op_id: None,
        });
        self.transmits.push_back(Transmit::Frame {
            to: Recipients::One(conn),
            bytes: frame,
        });
        self.transmits.push_back(Transmit::Close {
            conn,
            code: close,
            reason,
        });
        self.start_grace(conn);
    }

    /// A connection told to close gets [`ServerConfig::close_grace`] to
    /// finish; then [`Transmit::Abort`].
    fn start_grace(&mut self, conn: ConnectionId) {
        if let Some(at) = self.latest {
            self.closing.insert(conn);
            self.arm_timer(at + self.config.close_grace, Timer::Grace(conn));
        }
    }

    fn remove(&mut self, now: Now, conn: ConnectionId) {
        self.remove_at(Some(now), conn);
    }

    fn remove_at(&mut self, now: Option<Now>, conn: ConnectionId) {
        let Some(c) = self.connections.remove(&conn) else {
            return;
        };
        self.forget_view(&c.resource, conn);
        if let Some(share) = &c.share {
            let (count, bytes) = members::held(&c.subscriptions);
            share.release(count, bytes);
        }
        if self.members.remove(conn).is_none() {
            self.node.release(&c.user_key);
        }
        let Some(session) = self.sessions.get_mut(&c.resource) else {
            return;
        };
        session.remove(conn);
        if session.is_empty() {
            self.sessions.remove(&c.resource);
            self.leave_scope(&c.resource, conn, &c.user_key);
            self.left_with_session(&c.resource, &c.user_key);
            return;
        }
        let Some(at) = now.map(|n| n.instant).or(self.latest) else {
            self.leave_scope(&c.resource, conn, &c.user_key);
            return;
        };
        let change = session
            .roster
            .leave(&c.user_key, conn, at, self.config.idle_after);
        self.leave_scope(&c.resource, conn, &c.user_key);
        if let Some(change) = change {
            self.announce(&c.resource, change);
        }
    }

    fn control(&mut self, msg: &Control) -> Bytes {
        // Control messages carry no application payload, so they always encode.
        self.encode(msg).unwrap_or_default()
    }

    /// A control message of a resource, on `channel` (its `c` right after
    /// `"t"`; none on channel 0).
    fn control_on(&mut self, msg: &Control, channel: Channel) -> Bytes {
        if channel.is_url() {
            return self.control(msg);
        }
        self.stats.encodes += 1;
        // Only resource messages are sent here, and they encode on any
        // channel.
        Bytes::from(msg.encode_on(channel).unwrap_or_default())
    }

    fn encode<S, D, E>(&mut self, msg: &ServerMessage<S, D, E>) -> Result<Bytes, EncodeError>
    where
        S: serde::Serialize,
        D: serde::Serialize,
        E: serde::Serialize,
    {
        self.stats.encodes += 1;
        let mut buf = Vec::with_capacity(64);
        msg.encode_into(&mut buf)?;
        Ok(Bytes::from(buf))
    }
}

#[cfg(test)]
mod tests;
