//! Channels: one socket, many resources (the spec's "Channels").
//!
//! A socket's task keeps a [`Table`] from channel number to the resource
//! held there. A joined channel is a *member* in that resource's slot hub
//! (see `hub::members`): a connection of the hub's own kind, with the
//! socket's identity, so sync, actions, presence, views, scopes,
//! subscriptions and signals work there as for a connection opened for
//! the resource. The task routes each client frame by its `c`: channel 0
//! and channels not joined go to the URL's hub (which answers the latter
//! with `unknown_channel`), a joined channel's frames to its member.
//! `Join` and `Leave` are handled here.
//!
//! What stays per socket: the rate limit (every frame, `Join` and `Leave`
//! included, takes its token from the URL connection's bucket before it is
//! routed), the outbound queue (every member writes into the socket's
//! outbox, so a slow consumer drops the socket with all its channels), the
//! keepalive, and the node's connection counts. The socket's presence
//! reports (`Ping.presence`) are forwarded to every member.
//!
//! The subscription limits are the socket's too: its URL connection and
//! its members count against one `SubscriptionShare` from its first join.
//!
//! Order per channel: the member's `Joined`, its frames and its `Left`
//! all go through its resource's lane (see `crate::lane`), which puts
//! them on the channel as it delivers them; a refused `Join` is answered
//! through the URL connection's lane (nothing of that channel is queued
//! anywhere then).
//!
//! Leaving: from the `Leave` the task reads (or the `Left` a hub sends of
//! its own) until the writer hands that `Left` to the socket, the channel
//! is [`Entry::Leaving`]. A client cannot have seen the `Left` before it
//! was written, so a `Join` read meanwhile broke the spec's "wait for
//! `Left`" rule: it is answered `Error channel_in_use`, after the `Left`
//! (the writer sends those answers when it has written the `Left`, see
//! [`LeftWatch`]). Once written, the channel number is free. What this is
//! not: a promise about a `Join` the client sent before the `Left` reached
//! it but that the server reads after writing the `Left`; nothing on the
//! server can tell those apart from a `Join` sent in time, and it joins.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use bytes::Bytes;
use futures::future::BoxFuture;
use ui_flow::codec::{Decoded, Limits};
use ui_flow::model::ActionOf;
use ui_flow::{Channel, ClientMessage, ClientTag, ErrorCode, ServerMessage, ServerTag};

use crate::auth::{AuthError, Identity, JoinRequest};
use crate::endpoint::MAX_RESOURCE_ID;
use crate::handler::FlowHandler;
use crate::hub::{ConnectionId, Now, SubscriptionShare};
use crate::outbox::Outbox;
use crate::server::{Inner, Slot};

/// Frames the driver makes that carry no application payload.
type Control = ServerMessage<(), (), ()>;

/// Frames sent on a channel while its `Join` is being authorized, kept
/// for it; beyond this many they are answered as on a channel not joined.
const EARLY_FRAMES: usize = 64;

/// What a connection kept of its upgrade request for its `Join`s: the
/// token and origin only (headers and extensions would cost every
/// connection their memory).
#[derive(Clone)]
pub(crate) struct JoinCredentials {
    pub(crate) token: Option<Box<str>>,
    pub(crate) origin: Option<Box<str>>,
    pub(crate) decided: bool,
}

/// One channel of a socket.
pub(crate) enum Entry<H: FlowHandler> {
    /// Its `Join` is being authorized.
    Joining {
        resource: Arc<str>,
        /// Frames sent on it meanwhile (their rate-limit tokens taken).
        early: Vec<Bytes>,
        /// A `Leave` came meanwhile: answered once the join is decided.
        leave: bool,
    },
    /// A member of the resource's hub.
    Joined {
        resource: Arc<str>,
        slot: Arc<Slot<H>>,
        id: ConnectionId,
    },
    /// Left: the resource is no longer held, and the channel's `Left` is
    /// on its way to the socket (see the module docs). It holds no
    /// resource and does not count against `max_channels`.
    Leaving {
        /// The answers to the `Join`s and `Leave`s read on it meanwhile,
        /// in order, sent once the `Left` is written (at most
        /// [`DEFERRED`]; further ones are answered at once).
        deferred: Vec<Deferred>,
    },
}

/// An answer that waits for a leaving channel's `Left` (see
/// [`Entry::Leaving`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Deferred {
    /// To a `Join`: `Error channel_in_use`.
    InUse,
    /// To a second `Leave`: `Left unknown_channel`.
    NotJoined,
}

impl Deferred {
    fn frame(self, channel: Channel) -> Bytes {
        match self {
            Deferred::InUse => in_use_frame(channel),
            Deferred::NotJoined => not_joined_frame(channel),
        }
    }
}

/// Answers a leaving channel keeps for after its `Left`; beyond this many
/// they are sent at once (each frame still gets its one answer).
const DEFERRED: usize = 64;

impl<H: FlowHandler> Entry<H> {
    /// The resource held or being joined; `None` once left.
    fn resource(&self) -> Option<&str> {
        match self {
            Entry::Joining { resource, .. } | Entry::Joined { resource, .. } => Some(resource),
            Entry::Leaving { .. } => None,
        }
    }
}

/// A socket's channels, shared with the slots of its members (which
/// mark a channel leaving when their hub ends the member) and with the
/// socket's writer (which frees it once its `Left` is written).
pub(crate) struct Table<H: FlowHandler> {
    entries: Mutex<HashMap<u16, Entry<H>>>,
    /// How many entries are [`Entry::Leaving`], so that the writer looks
    /// at the frames it writes only while one is.
    leaving: AtomicUsize,
}

impl<H: FlowHandler> Table<H> {
    fn new() -> Self {
        Table {
            entries: Mutex::new(HashMap::new()),
            leaving: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u16, Entry<H>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks `channel` leaving (under the caller's lock of `entries`);
    /// returns what it held.
    fn start_leaving(
        &self,
        entries: &mut HashMap<u16, Entry<H>>,
        channel: Channel,
    ) -> Option<Entry<H>> {
        let before = entries.insert(
            channel.0,
            Entry::Leaving {
                deferred: Vec::new(),
            },
        );
        if !matches!(before, Some(Entry::Leaving { .. })) {
            self.leaving.fetch_add(1, Relaxed);
        }
        before
    }

    /// The `Left` on `channel` is being written: a leaving channel is
    /// free. Returns the answers that waited for it.
    fn left_written(&self, channel: Channel) -> Vec<Deferred> {
        let mut entries = self.lock();
        if !matches!(entries.get(&channel.0), Some(Entry::Leaving { .. })) {
            return Vec::new();
        }
        self.leaving.fetch_sub(1, Relaxed);
        match entries.remove(&channel.0) {
            Some(Entry::Leaving { deferred }) => deferred,
            _ => Vec::new(),
        }
    }

    /// Keeps `answer` for after the `Left` of `channel` when it is
    /// leaving (and has room); false when it is to be sent now.
    fn defer(&self, channel: Channel, answer: Deferred) -> bool {
        match self.lock().get_mut(&channel.0) {
            Some(Entry::Leaving { deferred }) if deferred.len() < DEFERRED => {
                deferred.push(answer);
                true
            }
            _ => false,
        }
    }
}

/// Records a member in its socket's table (under its slot's lock).
pub(crate) fn joined<H: FlowHandler>(
    table: &Table<H>,
    channel: Channel,
    slot: Arc<Slot<H>>,
    id: ConnectionId,
) {
    let mut entries = table.lock();
    let resource = match entries.get(&channel.0).and_then(Entry::resource) {
        Some(resource) => Arc::from(resource),
        None => Arc::from(""),
    };
    entries.insert(channel.0, Entry::Joined { resource, slot, id });
}

/// Where a slot tells a socket that its hub ended a member.
pub(crate) struct MemberEnd<H: FlowHandler> {
    channel: Channel,
    table: Weak<Table<H>>,
}

impl<H: FlowHandler> MemberEnd<H> {
    pub(crate) fn new(channel: Channel, table: &Arc<Table<H>>) -> Self {
        MemberEnd {
            channel,
            table: Arc::downgrade(table),
        }
    }

    pub(crate) fn channel(&self) -> Channel {
        self.channel
    }

    /// The hub ended member `id` (its `Left` is queued): its channel is
    /// leaving until that `Left` is written, unless the socket already
    /// let it go.
    pub(crate) fn ended(&self, id: ConnectionId) {
        let Some(table) = self.table.upgrade() else {
            return;
        };
        let mut entries = table.lock();
        if matches!(entries.get(&self.channel.0), Some(Entry::Joined { id: mine, .. }) if *mine == id)
        {
            table.start_leaving(&mut entries, self.channel);
        }
    }
}

/// The socket writer's side of [`Entry::Leaving`]: it frees a leaving
/// channel when it hands the channel's `Left` to the socket, and then
/// queues the answers of the `Join`s and `Leave`s read on it meanwhile,
/// so they follow the `Left`.
///
/// Handed, not flushed: under write batching a frame may reach the wire
/// before the batch's flush, and a client that has read the `Left` must
/// not be refused. So a `Join` read between the hand-over and the flush
/// joins, which is what a server without this check did anyway.
pub(crate) struct LeftWatch<H: FlowHandler> {
    table: Arc<Table<H>>,
}

impl<H: FlowHandler> LeftWatch<H> {
    /// The writer is handing `frame` to the socket. Costs one atomic load
    /// while no channel is leaving.
    pub(crate) fn writing(&self, frame: &[u8], outbox: &Outbox) {
        if self.table.leaving.load(Relaxed) == 0 {
            return;
        }
        let Some((tag, Some(channel))) = head(frame) else {
            return;
        };
        if tag != ServerTag::LEFT.0 {
            return;
        }
        for answer in self.table.left_written(channel) {
            // Over the outbound bound this closes the socket as a slow
            // consumer, as any frame would.
            let _ = outbox.push(answer.frame(channel));
        }
    }
}

/// `Joined { c }`.
pub(crate) fn joined_frame(channel: Channel) -> Bytes {
    encode_on(&Control::Joined, channel)
}

/// `Left { c }`, the answer to the client's `Leave`.
pub(crate) fn left_frame(channel: Channel) -> Bytes {
    encode_on(
        &Control::Left {
            code: None,
            message: None,
        },
        channel,
    )
}

/// `Error channel_in_use` on `c`, the answer to a `Join` on a channel in
/// use.
fn in_use_frame(channel: Channel) -> Bytes {
    encode_on(
        &Control::Error {
            code: Some(ErrorCode::CHANNEL_IN_USE),
            message: format!("{channel} is in use; the Join changed nothing"),
            fatal: false,
            op_id: None,
        },
        channel,
    )
}

/// `Left { c, unknown_channel }`, the answer to a `Leave` on a channel not
/// joined.
fn not_joined_frame(channel: Channel) -> Bytes {
    refusal_frame(
        channel,
        ErrorCode::UNKNOWN_CHANNEL,
        &format!("{channel} is not joined"),
    )
}

fn refusal_frame(channel: Channel, code: ErrorCode, message: &str) -> Bytes {
    encode_on(
        &Control::Left {
            code: Some(code),
            message: Some(message.to_owned()),
        },
        channel,
    )
}

fn encode_on(msg: &Control, channel: Channel) -> Bytes {
    // Control messages carry no payload, and the driver puts them on
    // channels other than 0 only: they encode.
    Bytes::from(msg.encode_on(channel).unwrap_or_default())
}

/// Where a member sits at its socket: its channel, the socket's outbox,
/// channel table and subscription count.
pub(crate) struct Seat<'a, H: FlowHandler> {
    pub(crate) channel: Channel,
    pub(crate) outbox: &'a Arc<Outbox>,
    pub(crate) table: &'a Arc<Table<H>>,
    pub(crate) share: Arc<SubscriptionShare>,
}

/// A `Join` whose authorization finished.
pub(crate) struct Authorized {
    channel: Channel,
    resume: Option<(u64, Option<u32>)>,
    result: Result<Identity, AuthError>,
}

/// The channel side of one socket's task.
pub(crate) struct Channels<H: FlowHandler> {
    inner: Arc<Inner<H>>,
    url_slot: Arc<Slot<H>>,
    url_id: ConnectionId,
    outbox: Arc<Outbox>,
    credentials: JoinCredentials,
    table: Arc<Table<H>>,
    /// The subscription count the socket's connections share, made at
    /// its first join.
    share: Option<Arc<SubscriptionShare>>,
    limits: Limits,
}

impl<H: FlowHandler> Channels<H> {
    /// The channels of an admitted socket, when the server serves them.
    pub(crate) fn new(
        inner: &Arc<Inner<H>>,
        url_slot: &Arc<Slot<H>>,
        url_id: ConnectionId,
        outbox: &Arc<Outbox>,
        credentials: JoinCredentials,
    ) -> Option<Self> {
        if inner.config.max_channels == 0 {
            return None;
        }
        Some(Channels {
            inner: inner.clone(),
            url_slot: url_slot.clone(),
            url_id,
            outbox: outbox.clone(),
            credentials,
            table: Arc::new(Table::new()),
            share: None,
            limits: Limits::default()
                .max_frame_len(inner.config.max_message_size)
                .max_depth(inner.config.max_depth),
        })
    }

    /// Routes one client frame; a `Join` to authorize comes back as a
    /// future for the task to await beside its other work.
    pub(crate) fn frame(
        &mut self,
        now: Now,
        bytes: Bytes,
    ) -> Option<BoxFuture<'static, Authorized>> {
        let Some((tag, fast)) = head(&bytes) else {
            self.to_url(now, &bytes);
            return None;
        };
        if tag == ClientTag::JOIN.0 {
            return self.join(now, bytes);
        }
        if tag == ClientTag::LEAVE.0 {
            self.leave(now, &bytes);
            return None;
        }
        if tag == ClientTag::PING.0 {
            // The connection's, whatever `c` it names (an unknown field).
            self.to_url(now, &bytes);
            self.forward_presence(now, &bytes);
            return None;
        }
        let channel = match fast {
            Some(channel) => channel,
            None if self.table.lock().is_empty() => Channel::URL,
            None => self.slow_channel(&bytes),
        };
        if channel.is_url() {
            self.to_url(now, &bytes);
            if tag == ClientTag::ACTION.0 {
                self.interacted(now, None);
            }
            return None;
        }
        let target = match self.table.lock().get_mut(&channel.0) {
            Some(Entry::Joined { slot, id, .. }) => Some((slot.clone(), *id)),
            Some(Entry::Joining { early, .. }) if early.len() < EARLY_FRAMES => {
                if self.take_token(now, &bytes) {
                    early.push(bytes);
                }
                return None;
            }
            _ => None,
        };
        match target {
            Some((slot, id)) => {
                if self.take_token(now, &bytes) {
                    self.inner
                        .run_on(&slot, |hub| hub.handle_frame(now, id, &bytes));
                    if tag == ClientTag::ACTION.0 {
                        self.interacted(now, Some(id));
                    }
                }
            }
            // Not joined: the URL's hub answers `unknown_channel`.
            None => self.to_url(now, &bytes),
        }
        None
    }

    /// An Action on one of the socket's resources (`on`, a member, or the
    /// URL's when `None`) is an interaction on every other it holds.
    fn interacted(&self, now: Now, on: Option<ConnectionId>) {
        let members: Vec<(Arc<Slot<H>>, ConnectionId)> = self
            .table
            .lock()
            .values()
            .filter_map(|e| match e {
                Entry::Joined { slot, id, .. } if Some(*id) != on => Some((slot.clone(), *id)),
                _ => None,
            })
            .collect();
        if on.is_some() {
            let id = self.url_id;
            self.inner
                .run_on(&self.url_slot, |hub| hub.report_interaction(now, id));
        }
        for (slot, id) in members {
            self.inner
                .run_on(&slot, |hub| hub.report_interaction(now, id));
        }
    }

    fn to_url(&self, now: Now, bytes: &[u8]) {
        let id = self.url_id;
        self.inner
            .run_on(&self.url_slot, |hub| hub.handle_frame(now, id, bytes));
    }

    /// Takes the frame's token from the socket's bucket (answering it when
    /// there is none, as the URL's hub answers its own frames).
    fn take_token(&self, now: Now, bytes: &[u8]) -> bool {
        let id = self.url_id;
        self.inner.run_on(&self.url_slot, |hub| {
            hub.admit_channel_frame(now, id, bytes)
        })
    }

    /// Queues a frame the task made for the socket on the URL connection's
    /// lane.
    fn answer(&self, frame: Bytes) {
        let id = self.url_id;
        self.inner
            .run_on(&self.url_slot, |hub| hub.send_to(id, frame));
    }

    fn refuse(&self, channel: Channel, code: ErrorCode, message: &str) {
        self.answer(refusal_frame(channel, code, message));
    }

    /// The channel of a frame whose `c` does not follow `"t"` (or that has
    /// none: channel 0).
    fn slow_channel(&self, bytes: &[u8]) -> Channel {
        let Some(value) = ui_flow::codec::field_bytes(bytes, &self.limits, "c") else {
            return Channel::URL;
        };
        uint16(value).map_or(Channel::URL, Channel)
    }

    /// Answers a `Join` on a channel in use: at once, or, on a leaving
    /// channel, once its `Left` is written (see [`LeftWatch`]).
    fn in_use(&self, channel: Channel) {
        if !self.table.defer(channel, Deferred::InUse) {
            self.answer(in_use_frame(channel));
        }
    }

    /// The writer's side of the leaving channels.
    pub(crate) fn left_watch(&self) -> LeftWatch<H> {
        LeftWatch {
            table: self.table.clone(),
        }
    }

    /// A `Join` that was being authorized ends unjoined with `frame` (its
    /// `Left`): a `Leave` read meanwhile makes the channel leaving until
    /// that `Left` is written.
    fn end_joining(&self, channel: Channel, leave: bool, frame: Bytes) {
        if leave {
            let mut entries = self.table.lock();
            self.table.start_leaving(&mut entries, channel);
        }
        self.answer(frame);
    }

    fn join(&mut self, now: Now, bytes: Bytes) -> Option<BoxFuture<'static, Authorized>> {
        let decoded = ClientMessage::<ActionOf<H::Model>>::decode_routed_with(&bytes, &self.limits);
        let Ok((
            channel,
            Decoded::Message(ClientMessage::Join {
                resource,
                last_seq,
                epoch,
            }),
        )) = decoded
        else {
            // Not a readable Join: the URL's hub answers it as it would.
            self.to_url(now, &bytes);
            return None;
        };
        let id = self.url_id;
        let token = self
            .inner
            .run_on(&self.url_slot, |hub| hub.take_frame_token(now, id));
        if self.table.lock().contains_key(&channel.0) {
            // In use, over the rate limit or not: the Join changes nothing
            // and its answer is `channel_in_use` (a `Left` would end the
            // channel in the client's eyes).
            self.in_use(channel);
            return None;
        }
        if !token {
            self.refuse(
                channel,
                ErrorCode::RATE_LIMITED,
                "too many frames; this Join was dropped",
            );
            return None;
        }
        let max = usize::from(self.inner.config.max_channels);
        let refusal = {
            let mut entries = self.table.lock();
            let held = entries
                .values()
                .filter(|e| !matches!(e, Entry::Leaving { .. }))
                .count();
            if held >= max {
                Some((
                    ErrorCode::CHANNEL_LIMIT,
                    format!("a connection holds at most {max} resources besides its URL's"),
                ))
            } else if resource.is_empty() || resource.len() > MAX_RESOURCE_ID {
                Some((
                    ErrorCode::BAD_RESOURCE,
                    format!("resource ids are 1 to {MAX_RESOURCE_ID} bytes"),
                ))
            } else if *resource == **self.url_slot.resource()
                || entries
                    .values()
                    .any(|e| e.resource() == Some(resource.as_str()))
            {
                Some((
                    ErrorCode::ALREADY_JOINED,
                    "this connection already holds the resource".to_owned(),
                ))
            } else {
                entries.insert(
                    channel.0,
                    Entry::Joining {
                        resource: Arc::from(resource.as_str()),
                        early: Vec::new(),
                        leave: false,
                    },
                );
                None
            }
        };
        if let Some((code, message)) = refusal {
            self.refuse(channel, code, &message);
            return None;
        }
        let auth = self.inner.auth.clone();
        let Some(identity) = self.inner.run_on(&self.url_slot, |hub| hub.identity(id)) else {
            // The socket is ending.
            self.table.lock().remove(&channel.0);
            return None;
        };
        let credentials = self.credentials.clone();
        let timeout = self.inner.config.handshake_timeout;
        let resume = last_seq.map(|seq| (seq, epoch));
        Some(Box::pin(async move {
            let request = JoinRequest {
                token: credentials.token.as_deref(),
                origin: credentials.origin.as_deref(),
                decided: credentials.decided,
            };
            let check = auth.authorize_join(&identity, &resource, request);
            let result = match tokio::time::timeout(timeout, check).await {
                Ok(Ok(joined)) if joined.user_id == identity.user_id => Ok(joined),
                Ok(Ok(_)) => Err(AuthError::Forbidden),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(AuthError::Invalid("authorization timed out".into())),
            };
            Authorized {
                channel,
                resume,
                result,
            }
        }))
    }

    /// A `Join`'s authorization finished: the member joins, or the
    /// channel is refused (`forbidden`) and freed.
    pub(crate) fn authorized(&mut self, done: Authorized) {
        let channel = done.channel;
        let Some(Entry::Joining {
            resource,
            early,
            leave,
        }) = self.table.lock().remove(&channel.0)
        else {
            return;
        };
        let now = Now::system();
        let identity = match done.result {
            Ok(identity) if !leave => identity,
            Ok(_) => {
                self.end_joining(channel, true, left_frame(channel));
                self.unjoined(now, early);
                return;
            }
            Err(e) => {
                tracing::info!(resource = %resource, error = %e, "join refused");
                let frame = refusal_frame(
                    channel,
                    ErrorCode::FORBIDDEN,
                    "not allowed to join this resource",
                );
                self.end_joining(channel, leave, frame);
                self.unjoined(now, early);
                return;
            }
        };
        // Keep the channel taken while the member is made.
        self.table.lock().insert(
            channel.0,
            Entry::Joining {
                resource: resource.clone(),
                early: Vec::new(),
                leave: false,
            },
        );
        let share = match &self.share {
            Some(share) => Some(share.clone()),
            None => {
                let id = self.url_id;
                let share = self
                    .inner
                    .run_on(&self.url_slot, |hub| hub.share_subscriptions(id));
                self.share = share.clone();
                share
            }
        };
        // None only when the URL connection is gone (the socket is ending).
        let joined = match share {
            Some(share) => self.inner.join_member(
                &resource,
                identity,
                done.resume,
                Seat {
                    channel,
                    outbox: &self.outbox,
                    table: &self.table,
                    share,
                },
            ),
            None => Err(crate::hub::Refusal::ShuttingDown),
        };
        if let Err(refusal) = joined {
            self.table.lock().remove(&channel.0);
            let (code, _) = refusal.codes();
            self.refuse(channel, code, &refusal.to_string());
            self.unjoined(now, early);
            return;
        }
        let member = match self.table.lock().get(&channel.0) {
            Some(Entry::Joined { slot, id, .. }) => Some((slot.clone(), *id)),
            _ => None,
        };
        match member {
            Some((slot, id)) => {
                for bytes in early {
                    self.inner
                        .run_on(&slot, |hub| hub.handle_frame(now, id, &bytes));
                }
            }
            None => self.unjoined(now, early),
        }
    }

    /// Frames sent on a channel whose join did not happen: answered as on
    /// a channel not joined (their tokens were taken).
    fn unjoined(&self, now: Now, early: Vec<Bytes>) {
        for bytes in early {
            self.to_url(now, &bytes);
        }
    }

    fn leave(&mut self, now: Now, bytes: &[u8]) {
        let decoded = ClientMessage::<ActionOf<H::Model>>::decode_routed_with(bytes, &self.limits);
        let Ok((channel, Decoded::Message(ClientMessage::Leave))) = decoded else {
            self.to_url(now, bytes);
            return;
        };
        if !self.take_token(now, bytes) {
            return;
        }
        let mut entries = self.table.lock();
        match entries.get_mut(&channel.0) {
            // Left already: this Leave gets a Left of its own, after the
            // one on its way (a Left sent before it would free the channel).
            Some(Entry::Leaving { deferred }) if deferred.len() < DEFERRED => {
                deferred.push(Deferred::NotJoined);
            }
            None | Some(Entry::Leaving { .. }) => {
                drop(entries);
                self.answer(not_joined_frame(channel));
            }
            Some(Entry::Joining { leave, .. }) => *leave = true,
            Some(Entry::Joined { .. }) => {
                let Some(Entry::Joined { slot, id, .. }) =
                    self.table.start_leaving(&mut entries, channel)
                else {
                    return;
                };
                drop(entries);
                // False when the hub ended it first: its Left is sent.
                let _ = self.inner.leave_member(&slot, id);
            }
        }
    }

    /// A `Ping` on the socket: its presence report counts for every
    /// resource the socket holds.
    fn forward_presence(&self, now: Now, bytes: &[u8]) {
        let members: Vec<(Arc<Slot<H>>, ConnectionId)> = self
            .table
            .lock()
            .values()
            .filter_map(|e| match e {
                Entry::Joined { slot, id, .. } => Some((slot.clone(), *id)),
                Entry::Joining { .. } | Entry::Leaving { .. } => None,
            })
            .collect();
        if members.is_empty() {
            return;
        }
        let Ok((
            _,
            Decoded::Message(ClientMessage::Ping {
                presence: Some(status),
                ..
            }),
        )) = ClientMessage::<ActionOf<H::Model>>::decode_routed_with(bytes, &self.limits)
        else {
            return;
        };
        for (slot, id) in members {
            self.inner
                .run_on(&slot, |hub| hub.report_presence(now, id, status));
        }
    }

    /// The socket has ended: every member leaves its resource.
    pub(crate) fn close(&self) {
        let entries: Vec<Entry<H>> = self.table.lock().drain().map(|(_, e)| e).collect();
        for entry in entries {
            if let Entry::Joined { slot, id, .. } = entry {
                self.inner.drop_member(&slot, id);
            }
        }
    }
}

/// A frame's tag and, when it follows `"t"` as senders write it, its
/// channel. `None` when the frame does not start with a map and `"t"`.
fn head(bytes: &[u8]) -> Option<(u16, Option<Channel>)> {
    let rest = match *bytes.first()? {
        0x80..=0x8f => &bytes[1..],
        0xde => bytes.get(3..)?,
        0xdf => bytes.get(5..)?,
        _ => return None,
    };
    let rest = rest.strip_prefix(b"\xa1t")?;
    let (tag, rest) = uint(rest)?;
    let tag = u16::try_from(tag).ok()?;
    let channel = rest
        .strip_prefix(b"\xa1c")
        .and_then(uint)
        .and_then(|(c, _)| u16::try_from(c).ok())
        .map(Channel);
    Some((tag, channel))
}

/// A MessagePack unsigned integer of up to 16 bits at the start of
/// `bytes`, and what follows it.
fn uint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    match *bytes.first()? {
        b @ 0x00..=0x7f => Some((u64::from(b), &bytes[1..])),
        0xcc => Some((u64::from(*bytes.get(1)?), bytes.get(2..)?)),
        0xcd => {
            let b: [u8; 2] = bytes.get(1..3)?.try_into().ok()?;
            Some((u64::from(u16::from_be_bytes(b)), bytes.get(3..)?))
        }
        _ => None,
    }
}

/// A whole value that is a MessagePack `uint16`.
fn uint16(value: &[u8]) -> Option<u16> {
    match uint(value)? {
        (v, []) => u16::try_from(v).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_reads_the_tag_and_a_channel_right_after_it() {
        let on = ClientMessage::<()>::Leave
            .encode_on(Channel(300))
            .expect("encodes");
        assert_eq!(head(&on), Some((ClientTag::LEAVE.0, Some(Channel(300)))));
        let url = ClientMessage::<()>::Ping {
            ts: 1,
            presence: None,
        }
        .encode()
        .expect("encodes");
        assert_eq!(head(&url), Some((ClientTag::PING.0, None)));
        assert_eq!(head(b"\x91\x01"), None);
        assert_eq!(head(&[]), None);
    }
}
