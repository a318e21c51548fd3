//! The sans-IO core of the server: every session, connection, presence list
//! and running action, with no sockets, no clock and no `async`.
//!
//! [`Hub`] is a state machine. Its methods are of four kinds:
//!
//! - **inputs** from the connections: [`connect`](Hub::connect),
//!   [`handle_frame`](Hub::handle_frame), [`handle_departure`](Hub::handle_departure),
//!   [`handle_timeout`](Hub::handle_timeout) and the other `handle_*`;
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
//! Every broadcast is encoded once; its [`Transmit`] names all recipients
//! and carries one [`Bytes`], which the driver clones per connection.
//!
//! The driver in this crate (`FlowServer`) runs a hub behind a mutex on
//! tokio and axum; another runtime could drive it the same way.

mod ops;
mod rate;
mod roster;
mod session;
mod sync;
mod transmit;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use ui_flow::codec::{Decoded, Limits};
use ui_flow::{
    ClientMessage, CloseCode, EncodeError, ErrorCode, OpId, PROTOCOL_VERSION, PresenceDiff,
    PresenceInfo, ServerMessage,
};

pub use transmit::{
    ConnectionId, Departure, Now, OpKey, Recipients, Refusal, Request, SyncTicket, Transmit,
};

use crate::auth::Identity;
use crate::config::ServerConfig;
use crate::handler::{ActionOutcome, FlowHandler};
use ops::{OpLog, OpState};
use rate::TokenBucket;
use roster::Change;
use session::{Connection, Held, Session};

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

/// When a user of a resource turns idle if nothing happens: (at, resource, user).
type IdleDeadline = Reverse<(Instant, Arc<str>, Arc<str>)>;

/// Frames the hub produces that carry no application payload.
type Control = ServerMessage<(), (), ()>;

/// The sans-IO server core, generic over the application's handler types
/// (it never calls the handler: see [`Request`]).
pub struct Hub<H: FlowHandler> {
    config: ServerConfig,
    decode_limits: Limits,
    epoch: u32,
    next_id: u64,
    next_attempt: u64,
    connections: HashMap<ConnectionId, Connection>,
    sessions: HashMap<Arc<str>, Session>,
    per_user: HashMap<Arc<str>, usize>,
    ops: OpLog,
    idle_timers: BinaryHeap<IdleDeadline>,
    transmits: VecDeque<Transmit>,
    requests: VecDeque<Request<H::Action>>,
    stats: HubStats,
    shutting_down: bool,
    /// The latest time an input carried, for changes made by inputs that
    /// carry none (closes).
    latest: Option<Instant>,
    /// Syncs are answered from resource logs ([`Request::Sync`]) rather
    /// than by the application's `snapshot`/`deltas_since`.
    logged: bool,
    _handler: PhantomData<fn() -> H>,
}

impl<H: FlowHandler> Hub<H> {
    /// A hub with no connections. `epoch` is sent on snapshots and catch-up
    /// batches (see [`ServerConfig::epoch`]).
    pub fn new(config: ServerConfig, epoch: u32) -> Self {
        Hub {
            decode_limits: Limits::default()
                .max_frame_len(config.max_message_size)
                .max_depth(config.max_depth),
            ops: OpLog::new(config.op_memory.0, config.op_memory.1),
            config,
            epoch,
            next_id: 0,
            next_attempt: 0,
            connections: HashMap::new(),
            sessions: HashMap::new(),
            per_user: HashMap::new(),
            idle_timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            requests: VecDeque::new(),
            stats: HubStats::default(),
            shutting_down: false,
            latest: None,
            logged: false,
            _handler: PhantomData,
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

    /// Connections to one resource.
    pub fn session_len(&self, resource: &str) -> usize {
        self.sessions.get(resource).map_or(0, Session::len)
    }

    /// The presence list of a resource (empty when nobody is connected).
    pub fn presence(&self, resource: &str) -> Vec<PresenceInfo> {
        self.sessions
            .get(resource)
            .map(|s| s.roster.list())
            .unwrap_or_default()
    }

    // ----- inputs -------------------------------------------------------

    /// An authenticated connection to `resource`. Queues `Connected` and asks
    /// for its snapshot (or, with `resume = Some((last_seq, epoch))`, tries
    /// deltas after `last_seq` first, as for a `Resync`).
    pub fn connect(
        &mut self,
        now: Now,
        resource: &str,
        user: Identity,
        resume: Option<(u64, Option<u32>)>,
    ) -> Result<ConnectionId, Refusal> {
        self.latest = Some(now.instant);
        if self.shutting_down {
            return Err(Refusal::ShuttingDown);
        }
        if self.connections.len() >= self.config.max_connections {
            return Err(Refusal::NodeFull);
        }
        let user_key: Arc<str> = Arc::from(user.user_id.as_str());
        let count = self.per_user.get(&user_key).copied().unwrap_or(0);
        if count >= self.config.max_connections_per_user {
            return Err(Refusal::UserFull);
        }
        self.per_user.insert(user_key.clone(), count + 1);
        self.next_id += 1;
        let id = ConnectionId(self.next_id);
        let resource: Arc<str> = match self.sessions.get_key_value(resource) {
            Some((key, _)) => key.clone(),
            None => Arc::from(resource),
        };
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
        };
        self.connections.insert(
            id,
            Connection {
                resource: resource.clone(),
                user: Arc::new(user),
                user_key: user_key.clone(),
                subscriptions: Vec::new(),
                bucket: TokenBucket::full(&self.config.rate_limit, now.instant),
                sync: Some(session::Sync {
                    attempt: 0,
                    join: true,
                    deltas: None,
                    held: VecDeque::new(),
                    held_bytes: 0,
                }),
                pending_resync: None,
            },
        );
        let frame = self.control(&connected);
        self.transmits.push_back(Transmit::Frame {
            to: Recipients::One(id),
            bytes: frame,
        });
        if let Some(change) = change {
            self.announce(&resource, change);
        }
        self.arm_idle_timer(&resource, &user_key);
        self.start_sync(now, id, resume.map(|(seq, epoch)| (Some(seq), epoch)));
        Ok(id)
    }

    /// One binary frame from a connection.
    pub fn handle_frame(&mut self, now: Now, conn: ConnectionId, frame: &[u8]) {
        self.latest = Some(now.instant);
        let limit = self.config.rate_limit;
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        if !c.bucket.take(&limit, now.instant) {
            self.stats.rate_limited += 1;
            if !c.bucket.told {
                c.bucket.told = true;
                self.send_error(
                    conn,
                    ErrorCode::RATE_LIMITED,
                    "too many messages; this one was dropped",
                );
            }
            return;
        }
        match ClientMessage::<H::Action>::decode_with(frame, &self.decode_limits) {
            Ok(Decoded::Message(msg)) => self.handle_message(now, conn, msg),
            Ok(Decoded::Unknown { .. }) => self.stats.unknown_tags += 1,
            Err(ui_flow::DecodeError::TooLarge { .. }) => self.handle_oversized(conn),
            Err(e) => {
                self.stats.bad_frames += 1;
                self.send_error(conn, ErrorCode::BAD_FRAME, &e.to_string());
            }
        }
    }

    /// A text frame (ui-flow frames are binary): answered with a non-fatal
    /// `unexpected_message` error.
    pub fn handle_text_frame(&mut self, conn: ConnectionId) {
        if self.connections.contains_key(&conn) {
            self.stats.bad_frames += 1;
            self.send_error(
                conn,
                ErrorCode::UNEXPECTED_MESSAGE,
                "text frames are not part of the protocol; send binary MessagePack frames",
            );
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

    /// The connection is gone (or the driver dropped it as a slow consumer).
    pub fn handle_departure(&mut self, now: Now, conn: ConnectionId, why: Departure) {
        let _ = why;
        self.remove(now, conn);
    }

    /// Time passed: presence statuses may turn idle.
    pub fn handle_timeout(&mut self, now: Now) {
        self.latest = Some(now.instant);
        while let Some(Reverse((at, _, _))) = self.idle_timers.peek() {
            if *at > now.instant {
                break;
            }
            let Some(Reverse((_, resource, user))) = self.idle_timers.pop() else {
                break;
            };
            let Some(session) = self.sessions.get_mut(&resource) else {
                continue;
            };
            session.roster.disarm_idle_timer(&user);
            if let Some(change) = session
                .roster
                .refresh(&user, now.instant, self.config.idle_after)
            {
                self.announce(&resource, change);
            }
            self.arm_idle_timer(&resource, &user);
        }
    }

    /// Closes every connection with `Error shutdown` and close 1001, and
    /// refuses new ones.
    pub fn shutdown(&mut self) {
        self.shutting_down = true;
        let mut all: Vec<ConnectionId> = self.connections.keys().copied().collect();
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
    pub fn poll_request(&mut self) -> Option<Request<H::Action>> {
        self.requests.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.idle_timers.peek().map(|Reverse((at, _, _))| *at)
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
        delta: &H::Delta,
        seq: u64,
    ) -> Result<Fanout, BroadcastError> {
        if !self.sessions.contains_key(resource) {
            return Ok(Fanout::default());
        }
        self.check_next(resource, seq)?;
        let frame = self.encode(&ServerMessage::<(), &H::Delta, ()>::Delta {
            delta,
            seq,
            timestamp: now.unix_ms,
            epoch: None,
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
    /// broadcast here (for frames published by another node).
    pub fn deliver_deltas_frame(
        &mut self,
        resource: &str,
        frame: Bytes,
        first: u64,
        last: u64,
    ) -> usize {
        self.fan_out(resource, frame, Some((first, last)), false)
    }

    /// Sends several contiguous deltas ending at `seq` as one `Deltas`
    /// message (the first moves the state from `seq - deltas.len()`).
    pub fn broadcast_deltas(
        &mut self,
        now: Now,
        resource: &str,
        deltas: &[H::Delta],
        seq: u64,
    ) -> Result<Fanout, BroadcastError> {
        let len = deltas.len() as u64;
        if deltas.is_empty() || !self.sessions.contains_key(resource) {
            return Ok(Fanout::default());
        }
        self.check_next(resource, seq + 1 - len)?;
        let frame = self.encode(&ServerMessage::<(), &H::Delta, ()>::Deltas {
            deltas: deltas.iter().collect(),
            seq,
            timestamp: now.unix_ms,
            epoch: Some(self.epoch),
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
        event: &H::Event,
        correlation_id: Option<OpId>,
        filter: &mut dyn FnMut(&Identity, &H::Event) -> bool,
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
        event: &H::Event,
        correlation_id: Option<OpId>,
        filter: &mut dyn FnMut(&Identity, &H::Event) -> bool,
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
            None => session.live.iter().chain(&session.syncing).copied().collect(),
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
        event: &H::Event,
        correlation_id: Option<OpId>,
    ) -> Result<Fanout, EncodeError> {
        self.notify(conns, domain, event, correlation_id, &mut |_, _| true)
    }

    fn notify(
        &mut self,
        candidates: Vec<ConnectionId>,
        domain: &str,
        event: &H::Event,
        correlation_id: Option<OpId>,
        filter: &mut dyn FnMut(&Identity, &H::Event) -> bool,
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
        let frame = self.encode(&ServerMessage::<(), (), &H::Event>::Notify {
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

    fn handle_message(&mut self, now: Now, conn: ConnectionId, msg: ClientMessage<H::Action>) {
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
            ClientMessage::Unsubscribe { domains } => {
                if let Some(c) = self.connections.get_mut(&conn) {
                    c.subscriptions
                        .retain(|d| !domains.iter().any(|x| x == &**d));
                }
            }
            ClientMessage::Signal {
                target_user_id,
                signal,
            } => self.signal(conn, &target_user_id, signal),
        }
    }

    fn action(&mut self, now: Now, conn: ConnectionId, op_id: OpId, action: H::Action) {
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
        match self.ops.get_mut(&key, now.instant) {
            Some(OpState::Done(frame)) => {
                let frame = frame.clone();
                self.send(conn, frame);
            }
            Some(OpState::Running(waiters)) => {
                if !waiters.contains(&conn) {
                    waiters.push(conn);
                }
            }
            None => {
                self.ops.start(key.clone(), conn);
                self.requests
                    .push_back(Request::Action { key, user, action });
            }
        }
    }

    fn subscribe(&mut self, conn: ConnectionId, domains: Vec<String>) {
        let max = self.config.max_subscriptions;
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        let mut refused = false;
        for domain in domains {
            if c.subscribed(&domain) {
                continue;
            }
            if c.subscriptions.len() >= max {
                refused = true;
                continue;
            }
            c.subscriptions.push(domain.into_boxed_str());
        }
        if refused {
            let message = format!("at most {max} subscribed domains; the rest were ignored");
            self.send_error(conn, ErrorCode::UNEXPECTED_MESSAGE, &message);
        }
    }

    fn signal(&mut self, conn: ConnectionId, target: &str, signal: ui_flow::SignalPayload) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        if signal.approx_len() > self.config.max_signal_bytes {
            let message = format!(
                "signal payloads are limited to {} bytes",
                self.config.max_signal_bytes
            );
            self.send_error(conn, ErrorCode::SIGNAL_TOO_LARGE, &message);
            return;
        }
        let from = c.user.user_id.clone();
        let Some(session) = self.sessions.get(&c.resource) else {
            return;
        };
        if !session.roster.contains(target) {
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
        let frame = self.control(&Control::Signal {
            from_user_id: from,
            signal,
        });
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
            self.idle_timers
                .push(Reverse((at, resource.clone(), user.clone())));
        }
    }

    fn announce(&mut self, resource: &str, change: Change) {
        let mut diff = PresenceDiff::default();
        match change {
            Change::Joined(info) => diff.joined.push(info),
            Change::Updated(info) => diff.updated.push(info),
            Change::Left(user) => diff.left.push(user),
        }
        let frame = self.control(&Control::PresenceDiff(diff));
        self.fan_out(resource, frame, None, true);
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
        let frame = self.control(&Control::Error {
            code: Some(code),
            message: message.to_owned(),
            fatal: false,
        });
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
        let frame = self.control(&Control::Error {
            code: Some(code),
            message: message.to_owned(),
            fatal: true,
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
    }

    fn remove(&mut self, now: Now, conn: ConnectionId) {
        self.remove_at(Some(now), conn);
    }

    fn remove_at(&mut self, now: Option<Now>, conn: ConnectionId) {
        let Some(c) = self.connections.remove(&conn) else {
            return;
        };
        if let Some(n) = self.per_user.get_mut(&c.user_key) {
            *n -= 1;
            if *n == 0 {
                self.per_user.remove(&c.user_key);
            }
        }
        let Some(session) = self.sessions.get_mut(&c.resource) else {
            return;
        };
        session.remove(conn);
        if session.is_empty() {
            self.sessions.remove(&c.resource);
            return;
        }
        let Some(at) = now.map(|n| n.instant).or(self.latest) else {
            return;
        };
        if let Some(change) = session
            .roster
            .leave(&c.user_key, conn, at, self.config.idle_after)
        {
            self.announce(&c.resource, change);
        }
    }

    fn control(&mut self, msg: &Control) -> Bytes {
        // Control messages carry no application payload, so they always encode.
        self.encode(msg).unwrap_or_default()
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
