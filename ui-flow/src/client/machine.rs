//! [`Client`]: the connection state machine.

mod receive;

use std::collections::VecDeque;
use std::fmt;
use std::fmt::Write as _;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use web_time::Instant;

use crate::channel::Channel;
use crate::code::CloseCode;
use crate::codec::Decoded;
use crate::error::{ApiMisuse, Error};
use crate::message::{ClientMessage, ServerMessage};
use crate::model::{MaybeSendSync, Model};
use crate::op::OpId;
use crate::presence::{PresenceInfo, PresenceStatus};
use crate::signal::SignalPayload;
use crate::state::FlowState;
use crate::status::{CloseReason, ConnectionStatus};

#[cfg(doc)]
use super::channels::ResourceStatus;
use super::channels::{self, Channels, Resource, Resources};
use super::config::ClientConfig;
use super::cut;
use super::event::{Event, SocketCommand, SocketId};
use super::link::{Due, Link};
use super::mirror::Mirror;
use super::ops::{OpState, Ops};

/// The client side of one ui-flow connection, without any IO: a state
/// machine that every driver (native, browser, framework adapters) runs the
/// same way, so they all follow the same connection policy.
///
/// It is generic over the application's [`Model`] (its state, delta, action
/// and event types). It is not a WebSocket: a
/// driver owns the socket, the timer and the clock, and feeds the client.
///
/// # Call order
///
/// 1. Create it with [`Client::new`]; it immediately asks for a socket.
/// 2. After creating it, and after **every** input or command below, drain
///    the outputs, in this order:
///    - [`poll_socket`](Self::poll_socket) until `None`: open or close
///      WebSockets as told, remembering each socket's [`SocketId`]; open
///      each one to [`dial_url`](Self::dial_url), which carries the resume
///      point of a reconnect;
///    - [`poll_transmit`](Self::poll_transmit) until `None`: send each frame
///      as one binary message on the current socket;
///    - [`poll_event`](Self::poll_event) until `None`: hand to the app;
///    - [`poll_timeout`](Self::poll_timeout): arm one timer for that instant
///      (replacing the previous one), or none when it says `None`.
/// 3. Inputs, each with the current time and the socket it is about:
///    [`handle_open`](Self::handle_open) when a socket opened,
///    [`handle_frame`](Self::handle_frame) for every binary message,
///    [`handle_close`](Self::handle_close) when it closed **or failed** (call
///    it for an error and again for the close that follows: the second is
///    ignored), [`handle_refused`](Self::handle_refused) when the server
///    answered the upgrade with an HTTP status instead, [`handle_timeout`](Self::handle_timeout) when the timer fires
///    (early or late calls are harmless), and [`handle_resume`](Self::handle_resume)
///    when the network or the page comes back.
/// 4. Commands from the app at any time: [`send_action`](Self::send_action),
///    [`send_optimistic`](Self::send_optimistic), [`subscribe`](Self::subscribe),
///    [`unsubscribe`](Self::unsubscribe), [`send_signal`](Self::send_signal),
///    [`resync`](Self::resync), [`set_presence`](Self::set_presence),
///    [`close`](Self::close).
///
/// Time only enters as the `now` arguments (a [`web_time::Instant`], which is
/// `std::time::Instant` on native targets), and the backoff jitter comes from
/// [`ClientConfig::seed`], so a test drives the client on a fake clock and
/// replays the same run every time. The only other randomness is
/// [`OpId::new`] for action ids, which must be unique across clients.
///
/// # Policy
///
/// - **Status**: [`ConnectionStatus::Connecting`] until the first
///   `Connected`, then `Open`; `Reconnecting { attempt, next_try }` after a
///   loss; `Closed { reason }` for good after [`close`](Self::close), an
///   upgrade refused with a 4xx ([`handle_refused`](Self::handle_refused)), a fatal
///   `Error` or a close code whose table row says not to reconnect
///   ([`ErrorCode::ALL`](crate::ErrorCode::ALL), [`CloseCode::ALL`]), or
///   another protocol version. After a fatal `Error` whose code is not in
///   the table, the close code that follows decides.
/// - **Reconnect** with exponential backoff and full jitter
///   ([`Backoff`](super::Backoff)); one socket at a time, and every report
///   carries its [`SocketId`], so the close that follows an error, or a late
///   frame from a replaced socket, never counts twice.
/// - **Resume**: a reconnect dials [`dial_url`](Self::dial_url), whose
///   `last_seq` and `epoch` query parameters make the server answer the join
///   like a `Resync`: contiguous `Deltas` when it still has them, otherwise a
///   `Snapshot`. The join's answer is awaited as the resync, so no separate
///   `Resync` message is needed (a driver that dials the plain URL gets a
///   `Snapshot` instead, which is also correct).
/// - **After every `Connected`**: `Subscribe` with every current domain, every unresolved action
///   again with its original op id (the server answers a repeat with the
///   outcome it already has), the signals queued meanwhile, and a `Ping`.
/// - **Seq**: a delta that is not `last + 1` is not applied and triggers a
///   `Resync`; seqs at or below `last` are dropped; deltas that arrive before
///   the first snapshot wait for it (those it already contains are dropped);
///   a `Delta`/`Deltas` whose epoch differs from the state's, or a `Deltas`
///   with more entries than its seq allows, triggers a `Resync` too. One
///   `Resync` at a time: no other is sent until a `Snapshot` or `Deltas`
///   answers it (or, against a server that never answers, a ping interval
///   has passed).
/// - **Liveness**: a `Ping` every [`ping_interval`](ClientConfig::ping_interval)
///   (latency from the `Pong`); a server silent for longer than the interval
///   plus [`liveness_grace`](ClientConfig::liveness_grace), with a ping
///   unanswered for at least the grace, is dead and the socket is replaced.
///   (When timers fire late, the overdue ping goes out first.) The interval
///   plus the grace also bounds how long a socket may take to open and greet.
/// - **Optimistic actions**: [`state`](Self::state) is the confirmed state
///   with every unresolved optimistic change re-applied on top, recomputed
///   after each server change (rebase). `ActionErr` removes exactly that
///   change; `ActionOk` drops it too, because the server's deltas carry the
///   real effect.
/// - **Queue**: at most [`queue_bound`](ClientConfig::queue_bound) actions
///   are unresolved at once, and at most as many signals wait for a
///   connection; beyond that the command fails with [`ApiMisuse::QueueFull`]
///   and nothing is queued. Commands after the connection closed for good
///   fail with [`ApiMisuse::Closed`].
/// - **Bad input**: a frame that does not decode is reported as
///   [`Event::BadFrame`] and skipped; unknown tags are skipped silently.
pub struct Client<M: Model> {
    config: ClientConfig,
    /// The zero of `Ping.ts`.
    origin: Instant,
    link: Link,
    status: ConnectionStatus,
    mirror: Mirror<M::State>,
    /// Confirmed state plus optimistic changes, while there are any.
    view: Option<Arc<M::State>>,
    ops: Ops<M::Delta>,
    /// Encoded signals waiting for a connection.
    outbox: VecDeque<Vec<u8>>,
    subscriptions: Vec<String>,
    presence: Vec<PresenceInfo>,
    presence_report: Option<PresenceStatus>,
    /// Whether the next `Ping` carries `presence_report`.
    presence_pending: bool,
    latency: Option<Duration>,
    connection_id: Option<String>,
    user_id: Option<String>,
    /// When the last unanswered `Resync` was sent.
    resync_since: Option<Instant>,
    transmits: VecDeque<Vec<u8>>,
    /// The resources joined besides the URL's, by channel.
    resources: Resources,
    sockets: VecDeque<SocketCommand>,
    events: VecDeque<Event<M::State, M::Event>>,
    action: PhantomData<fn(M::Action)>,
}

/// Getters, outputs and `close`: everything that needs no serde bounds.
impl<M: Model> Client<M> {
    /// Where the connection stands.
    pub fn status(&self) -> &ConnectionStatus {
        &self.status
    }

    /// The state to show: the confirmed server state with the optimistic
    /// changes of unresolved actions applied on top.
    pub fn state(&self) -> &M::State {
        self.view.as_deref().unwrap_or(self.mirror.state())
    }

    /// [`state`](Self::state) as one shared value to hand to every
    /// listener. With optimistic changes applied it is the client's own
    /// copy, shared without copying; otherwise the confirmed state is copied
    /// once. Either way a listener that keeps it never makes the client copy
    /// on the next delta: the client copies only when it changes a shown
    /// state that a listener still holds.
    pub fn shared_state(&self) -> Arc<M::State> {
        match &self.view {
            Some(view) => Arc::clone(view),
            None => Arc::new(self.mirror.state().clone()),
        }
    }

    /// The server's state at [`seq`](Self::seq), without optimistic changes.
    pub fn confirmed_state(&self) -> &M::State {
        self.mirror.state()
    }

    /// The URL to open the next socket to: `base` plus, when the client
    /// holds a state, the resume point as `last_seq` and `epoch` query
    /// parameters, so the server can answer the join with the missed deltas
    /// instead of a full snapshot (see `spec/PROTOCOL.md`, "Resuming").
    ///
    /// ```
    /// # use ui_flow::client::{Client, ClientConfig, Instant};
    /// # #[derive(Clone, Default, serde::Serialize, serde::Deserialize)] struct S;
    /// # impl ui_flow::FlowState for S { type Delta = (); fn apply_delta(&mut self, _: ()) {} }
    /// # struct Doc;
    /// # impl ui_flow::Model for Doc { type State = S; type Delta = (); type Action = (); type Event = (); }
    /// let client: Client<Doc> = Client::new(ClientConfig::default(), Instant::now())?;
    /// // Nothing to resume yet: the URL is unchanged.
    /// assert_eq!(client.dial_url("ws://127.0.0.1:9000/realtime/room"), "ws://127.0.0.1:9000/realtime/room");
    /// # Ok::<(), ui_flow::ApiMisuse>(())
    /// ```
    pub fn dial_url(&self, base: &str) -> String {
        let Some(seq) = self.mirror.seq() else {
            return base.to_owned();
        };
        let (path, fragment) =
            cut::split_first(base, b'#').map_or((base, None), |(p, f)| (p, Some(f)));
        let mut url = String::with_capacity(base.len() + 40);
        url.push_str(path);
        url.push(if cut::holds(path, b'?') { '&' } else { '?' });
        // Written into `url`, not through `format!`: no second string.
        let _ = write!(url, "last_seq={seq}");
        if let Some(epoch) = self.mirror.epoch() {
            let _ = write!(url, "&epoch={epoch}");
        }
        if let Some(fragment) = fragment {
            url.push('#');
            url.push_str(fragment);
        }
        url
    }

    /// The seq of the confirmed state; `None` until the first snapshot.
    pub fn seq(&self) -> Option<u64> {
        self.mirror.seq()
    }

    /// The epoch (seq lineage) of the confirmed state, if the server has one.
    pub fn epoch(&self) -> Option<u32> {
        self.mirror.epoch()
    }

    /// The last round trip measured by a `Ping`/`Pong`.
    pub fn latency(&self) -> Option<Duration> {
        self.latency
    }

    /// Every known action and its state: unresolved ones first, oldest
    /// first, then up to [`settled_ops_kept`](ClientConfig::settled_ops_kept)
    /// settled ones.
    pub fn ops(&self) -> impl Iterator<Item = (OpId, &OpState)> {
        self.ops.iter()
    }

    /// One action's state, while it is known.
    pub fn op(&self, op_id: OpId) -> Option<&OpState> {
        self.ops.get(op_id)
    }

    /// Everyone connected to the resource, as last reported.
    pub fn presence(&self) -> &[PresenceInfo] {
        &self.presence
    }

    /// The notification domains subscribed to, in the order they were added.
    pub fn subscriptions(&self) -> &[String] {
        &self.subscriptions
    }

    /// The server's id for the current (or last) connection.
    pub fn connection_id(&self) -> Option<&str> {
        self.connection_id.as_deref()
    }

    /// The authenticated user, if the server said.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// The socket in use, if one is opening or open.
    pub fn socket(&self) -> Option<SocketId> {
        self.link.socket()
    }

    /// The configuration in force.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The next socket to open or close.
    pub fn poll_socket(&mut self) -> Option<SocketCommand> {
        self.sockets.pop_front()
    }

    /// The next frame to send on the current socket.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event<M::State, M::Event>> {
        self.events.pop_front()
    }

    /// Every socket command, frame and event waiting, taken at once: what
    /// a driver does with [`poll_socket`](Self::poll_socket),
    /// [`poll_transmit`](Self::poll_transmit) and
    /// [`poll_event`](Self::poll_event) until each is empty, without
    /// copying the queues into new vectors.
    #[cfg_attr(
        not(any(
            all(feature = "native", not(target_arch = "wasm32")),
            all(feature = "browser", target_arch = "wasm32")
        )),
        allow(dead_code)
    )]
    pub(crate) fn take_outputs(&mut self) -> Outputs<M> {
        Outputs {
            sockets: std::mem::take(&mut self.sockets),
            transmits: std::mem::take(&mut self.transmits),
            events: std::mem::take(&mut self.events),
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next;
    /// `None` once closed for good.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.link.deadline()
    }

    /// Closes the connection for good. Unresolved actions stay as they are;
    /// nothing more is sent or received. Closing twice does nothing.
    pub fn close(&mut self) {
        if !self.link.is_closed() {
            self.drop_socket(CloseCode::NORMAL, "closed by the application");
            self.finish(CloseReason::Requested);
        }
    }

    fn set_status(&mut self, status: ConnectionStatus) {
        if self.status != status {
            self.status = status.clone();
            self.events.push_back(Event::Status(status));
        }
    }

    /// Tells the driver to drop the current socket, if there is one.
    fn drop_socket(&mut self, code: CloseCode, reason: &'static str) {
        if let Some(socket) = self.link.socket() {
            self.sockets.push_back(SocketCommand::Close {
                socket,
                code,
                reason,
            });
        }
    }

    /// The current socket is gone: retry later.
    fn lose(&mut self, now: Instant) {
        let (attempt, next_try) = self.link.lose(now);
        // Replaced, not `clear`ed: dropping a queue is linked anyway,
        // `VecDeque::clear` (its `truncate`) would be one more copy.
        self.transmits = VecDeque::new();
        self.resync_since = None;
        self.resources.on_lost();
        self.set_status(ConnectionStatus::Reconnecting { attempt, next_try });
    }

    /// Closed for good.
    fn finish(&mut self, reason: CloseReason) {
        self.link.close();
        self.transmits = VecDeque::new();
        self.outbox = VecDeque::new();
        self.resources.on_closed();
        self.set_status(ConnectionStatus::Closed { reason });
    }
}

/// What [`Client::take_outputs`] hands a driver, each queue oldest first.
#[cfg_attr(
    not(any(
        all(feature = "native", not(target_arch = "wasm32")),
        all(feature = "browser", target_arch = "wasm32")
    )),
    allow(dead_code)
)]
pub(crate) struct Outputs<M: Model> {
    pub(crate) sockets: VecDeque<SocketCommand>,
    pub(crate) transmits: VecDeque<Vec<u8>>,
    pub(crate) events: VecDeque<Event<M::State, M::Event>>,
}

impl<M: Model> Client<M> {
    /// A client that asks for its first socket at once (see
    /// [`poll_socket`](Self::poll_socket)). `now` is also the zero of the
    /// ping clock. Fails only for an invalid configuration.
    pub fn new(config: ClientConfig, now: Instant) -> Result<Self, ApiMisuse> {
        config.validate()?;
        let mut client = Client {
            link: Link::new(&config, now),
            ops: Ops::new(config.settled_ops_kept),
            config,
            origin: now,
            status: ConnectionStatus::Connecting,
            mirror: Mirror::new(),
            view: None,
            outbox: VecDeque::new(),
            subscriptions: Vec::new(),
            presence: Vec::new(),
            presence_report: None,
            presence_pending: false,
            latency: None,
            connection_id: None,
            user_id: None,
            resync_since: None,
            resources: Resources::default(),
            transmits: VecDeque::new(),
            sockets: VecDeque::new(),
            events: VecDeque::new(),
            action: PhantomData,
        };
        client
            .events
            .push_back(Event::Status(ConnectionStatus::Connecting));
        client.handle_timeout(now);
        Ok(client)
    }

    // ---- inputs ----

    /// The socket `socket` opened.
    pub fn handle_open(&mut self, now: Instant, socket: SocketId) {
        if self.link.is_current(socket) {
            self.link.opened(now);
        }
    }

    /// A binary message arrived on `socket`.
    pub fn handle_frame(&mut self, now: Instant, socket: SocketId, frame: &[u8]) {
        if !self.link.is_current(socket) {
            return;
        }
        self.link.opened(now);
        self.link.heard(now);
        match ServerMessage::<M::State, M::Delta, M::Event>::decode_routed_with(
            frame,
            &self.config.limits,
        ) {
            Ok((channel, Decoded::Message(message))) if channel.is_url() => {
                self.on_message(now, message)
            }
            // A joined resource's frame, which it decodes with its own types.
            Ok((channel, Decoded::Message(_))) => self.route(channel, frame),
            Ok((_, Decoded::Unknown { .. })) => {}
            // Perhaps a joined resource's frame whose payloads are not this
            // model's; only then is the channel read on its own.
            Err(error) => match self.resources.is_empty() {
                false => match channels::channel_of(frame, &self.config.limits) {
                    channel if !channel.is_url() => self.route(channel, frame),
                    _ => self.events.push_back(Event::BadFrame(error)),
                },
                true => self.events.push_back(Event::BadFrame(error)),
            },
        }
    }

    fn route(&mut self, channel: Channel, frame: &[u8]) {
        self.resources
            .on_frame(channel, frame, &self.config.limits, &mut self.transmits);
    }

    /// The joined resources with what commands on them need, whatever this
    /// client's `Model`: what a driver's resource handles work through.
    pub(crate) fn channels(&mut self) -> Channels<'_> {
        Channels {
            resources: &mut self.resources,
            transmits: &mut self.transmits,
            up: self.link.is_up(),
            closed: self.link.is_closed(),
            settled_kept: self.config.settled_ops_kept,
            queue_bound: self.config.queue_bound,
            status: &self.status,
        }
    }

    /// Joins another resource on this connection, with its own `Model`
    /// `R`, and returns the channel it is on (see [`Resource`]). The `Join`
    /// goes now, or with the next `Connected`; every reconnect joins again
    /// from the resource's resume point. Fails when the server announced no
    /// channels, or as many as the connection already holds.
    pub fn join<R: Model>(&mut self, resource: impl Into<String>) -> Result<Channel, Error> {
        self.channels().join::<R>(resource.into(), None)
    }

    /// [`join`](Self::join), with a state scope of the resource's own: it
    /// runs around every stretch of the resource's work that may apply a
    /// delta (a frame on its channel, an optimistic change), so each
    /// resource's `apply_delta` may find its own context (see
    /// [`FlowOptions::state_scope`](super::FlowOptions::state_scope)). The
    /// resource lets go of it once it is being left.
    pub fn join_scoped<R: Model>(
        &mut self,
        resource: impl Into<String>,
        scope: impl Fn(&mut dyn FnMut()) + MaybeSendSync + 'static,
    ) -> Result<Channel, Error> {
        self.channels()
            .join::<R>(resource.into(), Some(Arc::new(scope)))
    }

    /// Leaves the resource on `channel`; its [`ResourceStatus`] becomes
    /// `Left` when the server answers (at once while disconnected).
    pub fn leave(&mut self, channel: Channel) {
        self.channels().leave(channel);
    }

    /// The resource joined on `channel`, if it has the `Model` `R`.
    pub fn resource<R: Model>(&self, channel: Channel) -> Option<&Resource<R>> {
        self.resources.get::<R>(channel)
    }

    /// The resource joined on `channel`, to drain its events.
    pub fn resource_mut<R: Model>(&mut self, channel: Channel) -> Option<&mut Resource<R>> {
        self.resources.get_mut::<R>(channel)
    }

    /// Sends an action on the resource on `channel`, with an optional
    /// optimistic change applied to that resource's state until the
    /// outcome arrives. At most [`queue_bound`](ClientConfig::queue_bound)
    /// actions of one resource are unresolved at once.
    pub fn send_action_on<R: Model>(
        &mut self,
        channel: Channel,
        action: R::Action,
        change: Option<R::Delta>,
    ) -> Result<OpId, Error> {
        self.channels().send::<R>(channel, action, change)
    }

    /// Receives notifications of the resource on `channel` in these
    /// domains, from now on and again after every rejoin.
    pub fn subscribe_on<R: Model, D: Into<String>>(
        &mut self,
        channel: Channel,
        domains: impl IntoIterator<Item = D>,
    ) -> Result<(), Error> {
        let domains = domains.into_iter().map(Into::into).collect();
        self.channels().subscribe::<R>(channel, domains)
    }

    /// Stops notifications of the resource on `channel` in these domains.
    pub fn unsubscribe_on<R: Model, D: Into<String>>(
        &mut self,
        channel: Channel,
        domains: impl IntoIterator<Item = D>,
    ) -> Result<(), Error> {
        let domains = domains.into_iter().map(Into::into).collect();
        self.channels().unsubscribe::<R>(channel, domains)
    }

    /// Asks the server to bring the resource on `channel` up to date
    /// (`Resync` on its channel), one at a time like
    /// [`resync`](Self::resync). While the resource is being joined this
    /// does nothing: the `Join`'s answer is its resync.
    pub fn resync_on<R: Model>(&mut self, channel: Channel) -> Result<(), Error> {
        self.channels().resync::<R>(channel)
    }

    /// Sends a WebRTC signal to another user of the resource on `channel`.
    /// Unlike [`send_signal`](Self::send_signal) it is not queued: it fails
    /// with [`ChannelError::NotJoined`](crate::ChannelError::NotJoined)
    /// unless the resource is joined.
    pub fn send_signal_on<R: Model>(
        &mut self,
        channel: Channel,
        target_user_id: impl Into<String>,
        signal: SignalPayload,
    ) -> Result<(), Error> {
        self.channels()
            .signal::<R>(channel, target_user_id.into(), signal)
    }

    /// The socket `socket` closed, failed to open or failed. `code` is the
    /// close frame's code when there was one (none for an abnormal close).
    pub fn handle_close(
        &mut self,
        now: Instant,
        socket: SocketId,
        code: Option<u16>,
        reason: &str,
    ) {
        if !self.link.is_current(socket) {
            return;
        }
        match code.map(CloseCode) {
            Some(code) if !code.reconnects() => self.finish(CloseReason::Final {
                code,
                reason: reason.to_owned(),
            }),
            _ => self.lose(now),
        }
    }

    /// The server answered `socket`'s upgrade with HTTP `status` instead
    /// of switching protocols (or, in a browser, the refusal probe after
    /// `socket` closed without opening got this status). A 4xx other than
    /// 408 (timeout), 426 (upgrade required: the endpoint would have taken
    /// an upgrade, so the attempt itself failed) and 429 (too many
    /// requests) will not change on retry: closed for good with
    /// [`CloseReason::Refused`]. Anything else is retried like a lost socket.
    pub fn handle_refused(&mut self, now: Instant, socket: SocketId, status: u16) {
        if !self.link.is_current(socket) {
            return;
        }
        if (400..500).contains(&status) && ![408, 426, 429].contains(&status) {
            self.finish(CloseReason::Refused { status });
        } else {
            self.lose(now);
        }
    }

    /// The timer from [`poll_timeout`](Self::poll_timeout) fired: dials the
    /// next socket, gives up a silent one, or pings.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(due) = self.link.due(now) {
            match due {
                Due::Dial => {
                    let socket = self.link.dial(now);
                    self.sockets.push_back(SocketCommand::Open(socket));
                }
                Due::Silent => {
                    self.drop_socket(CloseCode::LIVENESS_TIMEOUT, "the server went silent");
                    self.lose(now);
                }
                Due::Ping => self.ping(now),
            }
        }
    }

    /// The network came back or the page became visible again: checks the
    /// timers, then retries at once if waiting to reconnect, or pings at once
    /// if connected (the reply, or its absence, tells whether the link
    /// survived).
    pub fn handle_resume(&mut self, now: Instant) {
        self.handle_timeout(now);
        if self.link.hurry(now) {
            self.handle_timeout(now);
        } else if self.link.is_up() {
            self.ping(now);
        }
    }

    // ---- commands ----

    /// Sends an action and returns its op id. Without a connection it is
    /// queued and sent after the next `Connected` (and resync). Its progress
    /// and outcome arrive as [`Event::Action`] and in [`ops`](Self::ops).
    ///
    /// Fails with [`ApiMisuse::QueueFull`] when
    /// [`queue_bound`](ClientConfig::queue_bound) actions are unresolved,
    /// [`ApiMisuse::Closed`] after the connection closed for good, or an
    /// encode error when the action does not serialize.
    pub fn send_action(&mut self, action: M::Action) -> Result<OpId, Error> {
        self.issue(action, None)
    }

    /// Sends an action and shows `change` in [`state`](Self::state) at once,
    /// until the action's outcome arrives. Fails like
    /// [`send_action`](Self::send_action), and then shows nothing.
    pub fn send_optimistic(&mut self, action: M::Action, change: M::Delta) -> Result<OpId, Error> {
        self.issue(action, Some(change))
    }

    /// Receives notifications in these domains from now on, and again after
    /// every reconnect. Domains already subscribed are skipped.
    pub fn subscribe<D: Into<String>>(
        &mut self,
        domains: impl IntoIterator<Item = D>,
    ) -> Result<(), ApiMisuse> {
        self.usable()?;
        let mut added = Vec::new();
        for domain in domains {
            let domain = domain.into();
            if !self.subscriptions.contains(&domain) {
                self.subscriptions.push(domain.clone());
                added.push(domain);
            }
        }
        if self.link.is_up() && !added.is_empty() {
            self.transmit(ClientMessage::Subscribe { domains: added });
        }
        Ok(())
    }

    /// Stops notifications in these domains. Domains not subscribed are
    /// skipped.
    pub fn unsubscribe<D: Into<String>>(
        &mut self,
        domains: impl IntoIterator<Item = D>,
    ) -> Result<(), ApiMisuse> {
        self.usable()?;
        let mut removed = Vec::new();
        for domain in domains {
            let domain = domain.into();
            if let Some(at) = self.subscriptions.iter().position(|d| *d == domain) {
                removed.push(self.subscriptions.remove(at));
            }
        }
        if self.link.is_up() && !removed.is_empty() {
            self.transmit(ClientMessage::Unsubscribe { domains: removed });
        }
        Ok(())
    }

    /// Sends a WebRTC signalling message to another user of the resource.
    /// Without a connection it waits for the next one (bounded like actions).
    /// A signal sent just before a connection drops may be lost: signalling
    /// has no acknowledgement, so WebRTC code must tolerate that anyway.
    pub fn send_signal(
        &mut self,
        target_user_id: impl Into<String>,
        signal: SignalPayload,
    ) -> Result<(), Error> {
        self.usable()?;
        let frame = ClientMessage::<M::Action>::Signal {
            target_user_id: target_user_id.into(),
            signal,
        }
        .encode()?;
        if self.link.is_up() {
            self.transmits.push_back(frame);
        } else if self.outbox.len() >= self.config.queue_bound {
            return Err(ApiMisuse::QueueFull {
                bound: self.config.queue_bound,
            }
            .into());
        } else {
            self.outbox.push_back(frame);
        }
        Ok(())
    }

    /// Asks the server to catch up now (`Resync` with the current seq and
    /// epoch). Without a connection this is what the next one does anyway.
    pub fn resync(&mut self, now: Instant) -> Result<(), ApiMisuse> {
        self.usable()?;
        self.resync_since = None;
        self.request_resync(now);
        Ok(())
    }

    /// Reports this connection's presence to the server, in a `Ping`:
    /// `Active` while the user interacts, `Idle` when the page is visible but
    /// untouched, `Away` when it is hidden; `None` stops reporting.
    ///
    /// A change goes out at once. The same report again rides on the next
    /// scheduled ping, which is how an app says "still interacting"
    /// (call it on user input; it costs nothing until the next ping). Other
    /// pings carry no report, so the server can tell an idle user from an
    /// active one. After a reconnect the report is sent again.
    pub fn set_presence(&mut self, now: Instant, report: Option<PresenceStatus>) {
        let changed = self.presence_report != report;
        self.presence_report = report;
        self.presence_pending |= report.is_some();
        if changed && report.is_some() && self.link.is_up() {
            self.ping(now);
        }
    }

    // ---- internals ----

    fn usable(&self) -> Result<(), ApiMisuse> {
        if self.link.is_closed() {
            Err(ApiMisuse::Closed)
        } else {
            Ok(())
        }
    }

    fn issue(&mut self, action: M::Action, optimistic: Option<M::Delta>) -> Result<OpId, Error> {
        self.usable()?;
        if self.ops.unresolved_len() >= self.config.queue_bound {
            return Err(ApiMisuse::QueueFull {
                bound: self.config.queue_bound,
            }
            .into());
        }
        let op_id = OpId::new();
        let frame = ClientMessage::Action { op_id, action }.encode()?;
        if self.link.is_up() {
            self.transmits.push_back(frame.clone());
        }
        if let Some(change) = &optimistic {
            let view = self
                .view
                .get_or_insert_with(|| Arc::new(self.mirror.state().clone()));
            // Copies only when a listener still holds the state shown before.
            Arc::make_mut(view).apply_delta(change.clone());
            self.events.push_back(Event::StateChanged);
        }
        self.ops.insert(op_id, frame, optimistic);
        Ok(op_id)
    }

    /// Queues a frame that carries no application payload, which cannot
    /// fail to encode.
    fn transmit(&mut self, message: ClientMessage<M::Action>) {
        let encoded = message.encode();
        debug_assert!(encoded.is_ok(), "payload-free frames always encode");
        if let Ok(frame) = encoded {
            self.transmits.push_back(frame);
        }
    }

    fn ping(&mut self, now: Instant) {
        let ts = now.saturating_duration_since(self.origin).as_millis();
        self.transmit(ClientMessage::Ping {
            ts: u64::try_from(ts).unwrap_or(u64::MAX),
            presence: self.presence_report.filter(|_| self.presence_pending),
        });
        self.presence_pending = false;
        self.link.pinged(now);
    }

    /// Sends a `Resync` unless one is already waiting for its answer (for
    /// less than a ping interval). Without a connection the next `Connected`
    /// resyncs anyway.
    fn request_resync(&mut self, now: Instant) {
        let waiting = self
            .resync_since
            .is_some_and(|since| now < since + self.config.ping_interval);
        if self.link.is_up() && !waiting {
            self.transmit(ClientMessage::Resync {
                last_seq: self.mirror.seq(),
                epoch: self.mirror.epoch(),
            });
            self.resync_since = Some(now);
        }
    }

    /// Recomputes the shown state from the confirmed one.
    fn rebase(&mut self) {
        self.view = self.ops.has_optimistic().then(|| {
            let mut view = self.mirror.state().clone();
            for change in self.ops.optimistic() {
                view.apply_delta(change.clone());
            }
            Arc::new(view)
        });
        self.events.push_back(Event::StateChanged);
    }
}

impl<M: Model> fmt::Debug for Client<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("status", &self.status)
            .field("socket", &self.link.socket())
            .field("seq", &self.mirror.seq())
            .field("epoch", &self.mirror.epoch())
            .field("unresolved_ops", &self.ops.unresolved_len())
            .field("subscriptions", &self.subscriptions)
            .finish_non_exhaustive()
    }
}
