//! [`Binding`]: a [`FlowConnection`] as a UI shows it, the layer every
//! framework adapter (Leptos, Yew, Seed, JS) is a thin mapping of.
//!
//! A binding holds the latest value of everything a UI renders (the state
//! as one shared `Arc`, status, latency, epoch, the actions it sent with
//! their state, presence, the recent notifications), tells the adapter
//! which of them changed ([`Part`]), and carries the command surface
//! (`send`, `subscribe`, `resync`, `close`, ...). [`FlowOptions`] is the
//! description every adapter takes, and a connection that cannot start
//! (a bad URL or token) becomes the status
//! `Closed { reason: Misconfigured }` rather than an error each adapter
//! handles on its own.
//!
//! A binding works on a connection of its own ([`Binding::connect`]) or
//! on one resource joined on a shared connection ([`Binding::join`], a
//! [`ResourceHandle`] inside): the same values, parts and commands, so a
//! page with several resources on one socket renders each one as it would
//! a connection of its own.
//!
//! It is not a reactive system: the adapter turns a [`Part`] into a signal
//! write, a re-render or a message.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::code::ErrorCode;
use crate::error::{ApiMisuse, ChannelError, Error};
use crate::model::Model;
use crate::op::OpId;
use crate::presence::{PresenceInfo, PresenceStatus};
use crate::signal::SignalPayload;
use crate::status::{CloseReason, ConnectionStatus};

use super::callbacks::MaybeSend;
use super::cell::lock_mutex as lock;
use super::channels::{ResourceEvent, ResourceStatus};
use super::connection::FlowConnection;
use super::event::Event;
use super::handle::ResourceHandle;
use super::ops::OpState;
use super::socket::FlowSocket;

mod options;

pub use options::FlowOptions;
use options::{ScopeFn, Token};

/// The binding's copy of [`FlowOptions::state_scope`], let go of at
/// [`Binding::close`] or when the connection has closed for good.
type HeldScope = Arc<Mutex<Option<Arc<ScopeFn>>>>;

/// The binding's copy of the options' scope.
// In the browser the scope is not `Send` (it may hold JavaScript values)
// and everything runs on the page's one thread.
#[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
fn held(options: &FlowOptions) -> HeldScope {
    Arc::new(Mutex::new(options.state_scope.clone()))
}

/// Lets go of the binding's scope once `status` is closed for good.
fn release_when_closed(scope: &HeldScope, status: &ConnectionStatus) {
    if matches!(status, ConnectionStatus::Closed { .. }) {
        lock(scope).take();
    }
}

#[cfg(not(target_arch = "wasm32"))]
type ChangeFn<S, E> = dyn FnMut(Part, &Latest<S, E>) + Send;
#[cfg(target_arch = "wasm32")]
type ChangeFn<S, E> = dyn FnMut(Part, &Latest<S, E>);

/// The adapter's change listener, shared by the connection's callbacks
/// and the binding's commands.
type SharedChangeFn<S, E> = Arc<Mutex<Box<ChangeFn<S, E>>>>;

#[cfg(not(target_arch = "wasm32"))]
type EventFn<S, E> = dyn FnMut(&Event<S, E>) + Send;
#[cfg(target_arch = "wasm32")]
type EventFn<S, E> = dyn FnMut(&Event<S, E>);

/// A notification as [`Latest::notifications`] lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification<E> {
    /// The domain it was sent in.
    pub domain: String,
    /// The application's event.
    pub event: E,
    /// The action that caused it, if any.
    pub correlation_id: Option<OpId>,
}

/// Which value of a [`Binding`] changed; the adapter re-reads that one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Part {
    /// [`Latest::state`].
    State,
    /// [`Latest::status`].
    Status,
    /// [`Latest::latency`].
    Latency,
    /// [`Latest::epoch`].
    Epoch,
    /// [`Latest::ops`].
    Ops,
    /// [`Latest::presence`].
    Presence,
    /// [`Latest::notifications`].
    Notifications,
    /// [`Latest::resource_status`] (bindings made with [`Binding::join`]).
    Resource,
}

/// The latest value of everything a UI renders from one connection.
/// Cloning it is cheap; every clone reads the same values.
pub struct Latest<S, E> {
    values: Arc<Mutex<Values<S, E>>>,
}

impl<S, E> Clone for Latest<S, E> {
    fn clone(&self) -> Self {
        Latest {
            values: Arc::clone(&self.values),
        }
    }
}

struct Values<S, E> {
    state: Arc<S>,
    status: ConnectionStatus,
    latency: Option<Duration>,
    epoch: Option<u32>,
    ops: Arc<Vec<(OpId, OpState)>>,
    settled_ops_kept: usize,
    presence: Arc<Vec<PresenceInfo>>,
    notifications: Arc<Vec<Notification<E>>>,
    notifications_kept: usize,
    /// The joined resource's status, for a binding on a resource handle.
    resource: Option<ResourceStatus>,
}

impl<S: Default, E> Latest<S, E> {
    /// Empty values: the state's default, `status`, nothing else.
    fn new(options: &FlowOptions, status: ConnectionStatus) -> Self {
        Latest {
            values: Arc::new(Mutex::new(Values {
                state: Arc::new(S::default()),
                status,
                latency: None,
                epoch: None,
                ops: Arc::new(Vec::new()),
                settled_ops_kept: options.config.settled_ops_kept,
                presence: Arc::new(Vec::new()),
                notifications: Arc::new(Vec::new()),
                notifications_kept: options.notifications_kept,
                resource: None,
            })),
        }
    }
}

impl<S, E> Latest<S, E> {
    fn read<R>(&self, f: impl FnOnce(&Values<S, E>) -> R) -> R {
        f(&lock(&self.values))
    }

    /// The state to show: the server's confirmed state with the optimistic
    /// changes of unresolved actions on top, shared with every other reader
    /// (never copied for a reader).
    pub fn state(&self) -> Arc<S> {
        self.read(|v| Arc::clone(&v.state))
    }

    /// Where the connection stands.
    pub fn status(&self) -> ConnectionStatus {
        self.read(|v| v.status.clone())
    }

    /// The last measured round trip.
    pub fn latency(&self) -> Option<Duration> {
        self.read(|v| v.latency)
    }

    /// The epoch of the last snapshot: which seq line of the server the
    /// state belongs to. It changes when the server's state was replaced
    /// (a restart that kept nothing) and the client resynced with a fresh
    /// snapshot; an ordinary reconnect keeps it. `None` until the first
    /// snapshot, or when the server sends no epoch.
    pub fn epoch(&self) -> Option<u32> {
        self.read(|v| v.epoch)
    }

    /// The actions sent through this binding, oldest first, with their
    /// state (pending, progress, ok, error). Unresolved ones stay listed;
    /// of the settled ones the newest
    /// [`ClientConfig::settled_ops_kept`](crate::client::ClientConfig::settled_ops_kept) stay.
    pub fn ops(&self) -> Arc<Vec<(OpId, OpState)>> {
        self.read(|v| Arc::clone(&v.ops))
    }

    /// One action's state, while [`ops`](Self::ops) lists it.
    pub fn op(&self, op_id: OpId) -> Option<OpState> {
        self.read(|v| {
            v.ops
                .iter()
                .find(|(id, _)| *id == op_id)
                .map(|(_, state)| state.clone())
        })
    }

    /// Everyone connected to the resource.
    pub fn presence(&self) -> Arc<Vec<PresenceInfo>> {
        self.read(|v| Arc::clone(&v.presence))
    }

    /// The most recent notifications, oldest first.
    pub fn notifications(&self) -> Arc<Vec<Notification<E>>> {
        self.read(|v| Arc::clone(&v.notifications))
    }

    /// Where the joined resource stands, for a binding made with
    /// [`Binding::join`]; `None` for a binding on a connection of its own.
    /// ([`status`](Self::status) is the shared connection's then.)
    pub fn resource_status(&self) -> Option<ResourceStatus> {
        self.read(|v| v.resource.clone())
    }
}

impl<S, E: Clone> Values<S, E> {
    /// Takes in one event; returns the part it changed, if any.
    fn take(&mut self, event: &Event<S, E>) -> Option<Part>
    where
        S: crate::state::FlowState,
    {
        match event {
            Event::Status(status) => {
                self.status = status.clone();
                Some(Part::Status)
            }
            Event::Latency(rtt) => {
                self.latency = Some(*rtt);
                Some(Part::Latency)
            }
            Event::Snapshot { epoch, .. } if *epoch != self.epoch && epoch.is_some() => {
                self.epoch = *epoch;
                Some(Part::Epoch)
            }
            Event::Action { op_id, state } => self.take_op(*op_id, state),
            Event::Notify {
                domain,
                event,
                correlation_id,
            } => self.take_notification(domain, event, *correlation_id),
            _ => None,
        }
    }

    /// Takes in one event of a joined resource; returns the part it
    /// changed, if any.
    fn take_resource<M: Model<State = S, Event = E>>(
        &mut self,
        event: &ResourceEvent<M>,
    ) -> Option<Part> {
        match event {
            ResourceEvent::Status(status) => {
                self.resource = Some(status.clone());
                Some(Part::Resource)
            }
            ResourceEvent::Action { op_id, state } => self.take_op(*op_id, state),
            ResourceEvent::Notify {
                domain,
                event,
                correlation_id,
            } => self.take_notification(domain, event, *correlation_id),
            _ => None,
        }
    }

    fn take_op(&mut self, op_id: OpId, state: &OpState) -> Option<Part> {
        let ops = Arc::make_mut(&mut self.ops);
        let known = ops.iter_mut().find(|(id, _)| *id == op_id)?;
        known.1 = state.clone();
        trim_settled(ops, self.settled_ops_kept);
        Some(Part::Ops)
    }

    fn take_notification(
        &mut self,
        domain: &str,
        event: &E,
        correlation_id: Option<OpId>,
    ) -> Option<Part> {
        let list = Arc::make_mut(&mut self.notifications);
        list.push(Notification {
            domain: domain.to_owned(),
            event: event.clone(),
            correlation_id,
        });
        // One at a time: at most one is over the limit.
        if list.len() > self.notifications_kept {
            list.remove(0);
        }
        Some(Part::Notifications)
    }
}

/// Drops the oldest settled actions beyond `kept`, as the client forgets
/// them.
fn trim_settled(ops: &mut Vec<(OpId, OpState)>, kept: usize) {
    let settled = ops.iter().filter(|(_, s)| s.is_settled()).count();
    // Usually one at most: actions settle one at a time.
    for _ in kept..settled {
        if let Some(oldest) = ops.iter().position(|(_, s)| s.is_settled()) {
            ops.remove(oldest);
        }
    }
}

/// What a connection's or resource's callbacks need to update the values
/// and tell the adapter: one type for every callback of
/// [`Binding::connect`] and [`Binding::join`], so that the updates they
/// share are compiled once per state type, not once per closure. Each
/// callback updates the values, unlocks them, then tells.
struct Teller<S, E> {
    latest: Latest<S, E>,
    on_change: SharedChangeFn<S, E>,
}

impl<S, E> Clone for Teller<S, E> {
    fn clone(&self) -> Self {
        Teller {
            latest: self.latest.clone(),
            on_change: Arc::clone(&self.on_change),
        }
    }
}

impl<S, E> Teller<S, E> {
    fn new(latest: &Latest<S, E>, on_change: &SharedChangeFn<S, E>) -> Self {
        Teller {
            latest: latest.clone(),
            on_change: Arc::clone(on_change),
        }
    }

    /// Tells the adapter that `part` changed, if one did.
    fn tell(&self, part: Option<Part>) {
        if let Some(part) = part {
            (lock(&self.on_change))(part, &self.latest);
        }
    }

    /// The state to show changed.
    fn state(&self, shown: &Arc<S>) {
        lock(&self.latest.values).state = Arc::clone(shown);
        self.tell(Some(Part::State));
    }

    /// The presence list changed.
    fn presence(&self, members: &[PresenceInfo]) {
        lock(&self.latest.values).presence = Arc::new(members.to_vec());
        self.tell(Some(Part::Presence));
    }
}

/// What [`Binding`] issues its commands to: a connection of its own, or a
/// resource handle on a shared connection. Every command fails with
/// [`ApiMisuse::Closed`] when there is none.
enum Target<M: Model> {
    Connection(FlowConnection<M>),
    Resource(ResourceHandle<M>),
    None,
}

impl<M: Model> Target<M> {
    fn send(&self, action: M::Action, optimistic: Option<M::Delta>) -> Result<OpId, Error> {
        match (self, optimistic) {
            (Target::Connection(c), Some(change)) => c.send_optimistic(action, change),
            (Target::Connection(c), None) => c.send_action(action),
            (Target::Resource(r), Some(change)) => r.send_optimistic(action, change),
            (Target::Resource(r), None) => r.send_action(action),
            (Target::None, _) => Err(ApiMisuse::Closed.into()),
        }
    }

    fn op(&self, op_id: OpId) -> Option<OpState> {
        match self {
            Target::Connection(c) => c.op(op_id),
            Target::Resource(r) => r.op(op_id),
            Target::None => None,
        }
    }

    fn subscribe(&self, domains: Vec<String>, on: bool) -> Result<(), Error> {
        match (self, on) {
            (Target::Connection(c), true) => Ok(c.subscribe(domains)?),
            (Target::Connection(c), false) => Ok(c.unsubscribe(domains)?),
            (Target::Resource(r), true) => r.subscribe(domains),
            (Target::Resource(r), false) => r.unsubscribe(domains),
            (Target::None, _) => Err(ApiMisuse::Closed.into()),
        }
    }

    fn send_signal(&self, to: String, signal: SignalPayload) -> Result<(), Error> {
        match self {
            Target::Connection(c) => c.send_signal(to, signal),
            Target::Resource(r) => r.send_signal(to, signal),
            Target::None => Err(ApiMisuse::Closed.into()),
        }
    }

    fn resync(&self) -> Result<(), Error> {
        match self {
            Target::Connection(c) => Ok(c.resync()?),
            Target::Resource(r) => r.resync(),
            Target::None => Err(ApiMisuse::Closed.into()),
        }
    }

    fn set_presence(&self, report: Option<PresenceStatus>) -> Result<(), Error> {
        match self {
            Target::Connection(c) => {
                c.set_presence(report);
                Ok(())
            }
            // The presence report is the connection's, for all its
            // resources: the shared connection's owner sets it.
            Target::Resource(_) => Ok(()),
            Target::None => Err(ApiMisuse::Closed.into()),
        }
    }

    fn close(&self) {
        match self {
            Target::Connection(c) => c.close(),
            Target::Resource(r) => r.leave(),
            Target::None => {}
        }
    }
}

/// A connection as a UI shows it: the [`Latest`] values, kept up to date
/// from the connection's events, and the commands. See the
/// [module](self).
///
/// Dropping the binding closes the connection (its callbacks hold no
/// handle to it).
pub struct Binding<M: Model> {
    target: Target<M>,
    latest: Latest<M::State, M::Event>,
    on_change: SharedChangeFn<M::State, M::Event>,
    /// [`FlowOptions::state_scope`], until [`close`](Self::close).
    scope: HeldScope,
}

impl<M: Model> fmt::Debug for Binding<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Binding")
            .field("status", &self.latest.status())
            .finish_non_exhaustive()
    }
}

impl<M: Model> Binding<M> {
    /// Connects to `url` (`ws://` or `wss://host/realtime/{resource}`).
    /// `on_change` is called after a value changed, with the part that did
    /// and the values to read it from; it runs on the connection's driver,
    /// with nothing locked.
    ///
    /// It does not fail: a URL or token `connect()` refuses leaves the
    /// binding with status `Closed { reason: Misconfigured }` (reported
    /// through `on_change` too), and every command then fails with
    /// [`ApiMisuse::Closed`].
    pub fn connect(
        url: impl Into<String>,
        options: &FlowOptions,
        on_change: impl FnMut(Part, &Latest<M::State, M::Event>) + MaybeSend + 'static,
    ) -> Self {
        Self::connect_with_events(url, options, on_change, |_| {})
    }

    /// [`connect`](Self::connect), and `on_event` sees every event of the
    /// connection before the values are updated from it, for adapters that
    /// pass raw events on (Seed's messages).
    pub fn connect_with_events(
        url: impl Into<String>,
        options: &FlowOptions,
        on_change: impl FnMut(Part, &Latest<M::State, M::Event>) + MaybeSend + 'static,
        on_event: impl FnMut(&Event<M::State, M::Event>) + MaybeSend + 'static,
    ) -> Self {
        let latest = Latest::new(options, ConnectionStatus::Connecting);
        let on_change: SharedChangeFn<M::State, M::Event> =
            Arc::new(Mutex::new(Box::new(on_change)));
        let mut on_event: Box<EventFn<M::State, M::Event>> = Box::new(on_event);
        let scope = held(options);
        let releasing = Arc::clone(&scope);
        let teller = Teller::new(&latest, &on_change);
        let (for_event, for_state, for_presence) = (teller.clone(), teller.clone(), teller);

        let mut builder = FlowConnection::<M>::builder().url(url);
        if let Some(scope) = options.state_scope.clone() {
            builder = builder.state_scope(move |work| scope(work));
        }
        if let Some(handler) = options.on_signal.clone() {
            builder =
                builder.on_signal(move |from: &str, signal: SignalPayload| handler(from, signal));
        }
        builder = match options.token.clone() {
            Some(Token::Fixed(token)) => builder.token(token),
            Some(Token::Provider(provide)) => builder.token_provider(move || provide()),
            None => builder,
        };
        let connected = builder
            .config(options.config.clone())
            .subscribe(options.domains.iter().cloned())
            .on_event(move |event: &Event<M::State, M::Event>| {
                if let Event::Status(status) = event {
                    release_when_closed(&releasing, status);
                }
                on_event(event);
                let part = lock(&for_event.latest.values).take(event);
                for_event.tell(part);
            })
            .on_shared_state(move |shown: &Arc<M::State>| for_state.state(shown))
            .on_presence(move |members: &[PresenceInfo], _| for_presence.presence(members))
            .connect();
        let target = match connected {
            Ok(connection) => Target::Connection(connection),
            Err(error) => {
                lock(&latest.values).status = ConnectionStatus::Closed {
                    reason: CloseReason::Misconfigured {
                        message: error.to_string(),
                    },
                };
                (lock(&on_change))(Part::Status, &latest);
                Target::None
            }
        };
        Binding {
            target,
            latest,
            on_change,
            scope,
        }
    }

    /// Joins `resource` on a shared connection (see [`ResourceHandle`];
    /// [`FlowConnection::socket`] gives the [`FlowSocket`])
    /// and keeps its values like [`connect`](Self::connect) keeps a
    /// connection's: the state (shared, copied once per change), actions,
    /// presence and notifications of the resource, and the shared
    /// connection's status and [`Latest::resource_status`]. The options'
    /// domains, `notifications_kept`, `settled_ops_kept`, `on_signal` and
    /// `state_scope` apply; the token and connection policy are the
    /// connection's, and [`Latest::latency`] and [`Latest::epoch`] stay
    /// `None` (the connection's own values). Dropping the binding (or [`close`](Self::close)) leaves
    /// the resource.
    ///
    /// It does not fail: a join the connection refuses (no channels, the
    /// limit, a resource it holds already, a closed connection) leaves the
    /// binding with the resource status `Left` (code `channel_limit` or
    /// `already_joined` where one applies, and the error's text), reported
    /// through `on_change` too, and every command then fails with
    /// [`ApiMisuse::Closed`].
    pub fn join(
        socket: &FlowSocket,
        resource: impl Into<String>,
        options: &FlowOptions,
        on_change: impl FnMut(Part, &Latest<M::State, M::Event>) + MaybeSend + 'static,
    ) -> Self {
        Self::join_with_events(socket, resource, options, on_change, |_| {})
    }

    /// [`join`](Self::join), and `on_event` sees every event of the
    /// resource before the values are updated from it, for adapters that
    /// pass raw events on (Seed's messages).
    pub fn join_with_events(
        socket: &FlowSocket,
        resource: impl Into<String>,
        options: &FlowOptions,
        on_change: impl FnMut(Part, &Latest<M::State, M::Event>) + MaybeSend + 'static,
        on_event: impl FnMut(&ResourceEvent<M>) + MaybeSend + 'static,
    ) -> Self {
        let mut on_event = on_event;
        let latest = Latest::new(options, socket.status());
        lock(&latest.values).resource = Some(ResourceStatus::Joining);
        let scope = held(options);
        let releasing = Arc::clone(&scope);
        let on_change: SharedChangeFn<M::State, M::Event> =
            Arc::new(Mutex::new(Box::new(on_change)));
        let teller = Teller::new(&latest, &on_change);
        let (for_event, for_state, for_presence, for_status) =
            (teller.clone(), teller.clone(), teller.clone(), teller);
        let mut builder = socket
            .resource::<M>(resource)
            .subscribe(options.domains.iter().cloned())
            .shared_scope(options.state_scope.clone())
            .on_event(move |event: &ResourceEvent<M>| {
                on_event(event);
                let part = lock(&for_event.latest.values).take_resource(event);
                for_event.tell(part);
            })
            .on_shared_state(move |shown: &Arc<M::State>| for_state.state(shown))
            .on_presence(move |members: &[PresenceInfo]| for_presence.presence(members))
            .on_connection_status(move |status: &ConnectionStatus| {
                release_when_closed(&releasing, status);
                lock(&for_status.latest.values).status = status.clone();
                for_status.tell(Some(Part::Status));
            });
        if let Some(handler) = options.on_signal.clone() {
            builder =
                builder.on_signal(move |from: &str, signal: SignalPayload| handler(from, signal));
        }
        let target = match builder.join() {
            Ok(handle) => Target::Resource(handle),
            Err(error) => {
                let code = match &error {
                    Error::Channel(ChannelError::Unsupported | ChannelError::Limit { .. }) => {
                        Some(ErrorCode::CHANNEL_LIMIT)
                    }
                    Error::Channel(ChannelError::AlreadyJoined(_)) => {
                        Some(ErrorCode::ALREADY_JOINED)
                    }
                    _ => None,
                };
                lock(&latest.values).resource = Some(ResourceStatus::Left {
                    code,
                    message: Some(error.to_string()),
                });
                (lock(&on_change))(Part::Resource, &latest);
                Target::None
            }
        };
        Binding {
            target,
            latest,
            on_change,
            scope,
        }
    }

    /// The latest values, to read or to hand to a view.
    pub fn latest(&self) -> &Latest<M::State, M::Event> {
        &self.latest
    }

    /// The connection commands go to, if the binding has one of its own.
    /// It is there for what the binding does not cover (`on_*` callbacks
    /// are taken).
    pub fn connection(&self) -> Option<&FlowConnection<M>> {
        match &self.target {
            Target::Connection(connection) => Some(connection),
            Target::Resource(_) | Target::None => None,
        }
    }

    /// The resource handle commands go to, for a binding made with
    /// [`join`](Self::join).
    pub fn resource(&self) -> Option<&ResourceHandle<M>> {
        match &self.target {
            Target::Resource(handle) => Some(handle),
            Target::Connection(_) | Target::None => None,
        }
    }

    /// A command that may change the state (`send`, `resync`): it runs
    /// inside the options' `state_scope`, if any.
    fn state_command<R>(&self, f: impl FnOnce(&Target<M>) -> Result<R, Error>) -> Result<R, Error> {
        let mut f = Some(f);
        let mut out = None;
        self.scoped(&mut || {
            if let Some(f) = f.take() {
                out = Some(f(&self.target));
            }
        });
        out.unwrap_or_else(|| Err(ApiMisuse::Closed.into()))
    }

    /// Runs `work` once inside [`FlowOptions::state_scope`], or as it is
    /// when there is none (or after `close`). The scope is called with
    /// nothing locked, so work inside it may call the binding again. Not
    /// generic, so that it is compiled once.
    fn scoped(&self, work: &mut dyn FnMut()) {
        let mut ran = false;
        let scope = lock(&self.scope).clone();
        if let Some(scope) = scope {
            scope(&mut || {
                ran = true;
                work();
            });
        }
        // No scope, or one that did not call the work: it runs here, so no
        // command is lost (as the connection does for its own inputs).
        if !ran {
            work();
        }
    }

    /// Sends an action, with an optional change to show at once until its
    /// outcome arrives (rolled back if the server rejects it). Returns its
    /// op id; it is listed in [`Latest::ops`] at once, as pending.
    pub fn send(&self, action: M::Action, optimistic: Option<M::Delta>) -> Result<OpId, Error> {
        let op_id = self.state_command(|t| t.send(action, optimistic))?;
        let state = self.target.op(op_id).unwrap_or(OpState::Pending);
        {
            let mut values = lock(&self.latest.values);
            let kept = values.settled_ops_kept;
            let ops = Arc::make_mut(&mut values.ops);
            ops.push((op_id, state));
            trim_settled(ops, kept);
        }
        // Not while `on_change` itself runs (a send from inside it): that
        // call reads the values afterwards anyway.
        if let Ok(mut on_change) = self.on_change.try_lock() {
            on_change(Part::Ops, &self.latest);
        }
        Ok(op_id)
    }

    /// Sends an action without an optimistic change.
    pub fn send_action(&self, action: M::Action) -> Result<OpId, Error> {
        self.send(action, None)
    }

    /// Sends an action and shows `change` until its outcome arrives.
    pub fn send_optimistic(&self, action: M::Action, change: M::Delta) -> Result<OpId, Error> {
        self.send(action, Some(change))
    }

    /// Receives notifications in these domains from now on (and after
    /// every reconnect).
    pub fn subscribe<D: Into<String>>(
        &self,
        domains: impl IntoIterator<Item = D>,
    ) -> Result<(), Error> {
        self.target
            .subscribe(domains.into_iter().map(Into::into).collect(), true)
    }

    /// Stops notifications in these domains.
    pub fn unsubscribe<D: Into<String>>(
        &self,
        domains: impl IntoIterator<Item = D>,
    ) -> Result<(), Error> {
        self.target
            .subscribe(domains.into_iter().map(Into::into).collect(), false)
    }

    /// Sends a WebRTC signalling message to another user of the resource.
    pub fn send_signal(
        &self,
        target_user_id: impl Into<String>,
        signal: SignalPayload,
    ) -> Result<(), Error> {
        self.target.send_signal(target_user_id.into(), signal)
    }

    /// Asks the server to catch up now.
    pub fn resync(&self) -> Result<(), Error> {
        self.state_command(Target::resync)
    }

    /// Sets the presence this connection reports in its pings (`idle` after
    /// a quiet spell, `active` again on input); `None` reports nothing. The
    /// browser client reports `away` and `active` by itself when the page
    /// is hidden or shown. On a binding made with [`join`](Self::join) it
    /// does nothing: the report is the shared connection's, for all of its
    /// resources.
    pub fn set_presence(&self, report: Option<PresenceStatus>) -> Result<(), Error> {
        self.target.set_presence(report)
    }

    /// Closes the connection for good; the status becomes
    /// `Closed { Requested }`. On a binding made with [`join`](Self::join),
    /// leaves the resource instead; the shared connection stays.
    ///
    /// The binding lets go of [`FlowOptions::state_scope`] here (or when
    /// the connection closed for good), not when it is dropped; the
    /// connection or resource lets go of its own copy once the close or
    /// leave is done. Nothing changes the state afterwards.
    pub fn close(&self) {
        self.scoped(&mut || self.target.close());
        lock(&self.scope).take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting;
    impl Model for Counting {
        type State = i64State;
        type Delta = i64;
        type Action = i64;
        type Event = ();
    }

    #[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
    #[allow(non_camel_case_types)]
    struct i64State(i64);
    impl crate::state::FlowState for i64State {
        type Delta = i64;
        fn apply_delta(&mut self, delta: i64) {
            self.0 += delta;
        }
    }

    #[test]
    fn a_connection_that_cannot_start_is_closed_as_misconfigured() {
        // The native driver needs a runtime to start; the URL is refused
        // before anything is spawned.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let _entered = runtime.enter();
        let told = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&told);
        let binding = Binding::<Counting>::connect(
            "http://example.com/realtime/r",
            &FlowOptions::default(),
            move |part, latest| lock(&sink).push((part, latest.status())),
        );
        let ConnectionStatus::Closed {
            reason: CloseReason::Misconfigured { message },
        } = binding.latest().status()
        else {
            panic!(
                "not closed as misconfigured: {:?}",
                binding.latest().status()
            );
        };
        assert!(message.contains("WebSocket URL"), "{message}");
        assert_eq!(lock(&told).len(), 1, "the status change was told once");
        assert_eq!(lock(&told)[0].0, Part::Status);
        assert!(matches!(
            binding.send_action(1),
            Err(Error::Misuse(ApiMisuse::Closed))
        ));
        assert!(binding.latest().ops().is_empty(), "nothing was sent");
    }

    thread_local! {
        static IN_SCOPE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        static APPLIED_IN_SCOPE: std::cell::RefCell<Vec<bool>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    #[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
    struct Scoped(i64);
    impl crate::state::FlowState for Scoped {
        type Delta = i64;
        fn apply_delta(&mut self, delta: i64) {
            APPLIED_IN_SCOPE.with(|a| a.borrow_mut().push(IN_SCOPE.get()));
            self.0 += delta;
        }
    }
    struct ScopedModel;
    impl Model for ScopedModel {
        type State = Scoped;
        type Delta = i64;
        type Action = i64;
        type Event = ();
    }

    #[test]
    fn commands_run_inside_the_state_scope_and_it_is_released() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let _entered = runtime.enter();
        let held = Arc::new(());
        let in_scope = Arc::clone(&held);
        let options = FlowOptions::default().state_scope(move |work| {
            let _held = &in_scope;
            IN_SCOPE.set(true);
            work();
            IN_SCOPE.set(false);
        });
        // Nothing listens on port 1: the action waits in the queue, its
        // optimistic change is shown at once.
        let binding =
            Binding::<ScopedModel>::connect("ws://127.0.0.1:1/realtime/r", &options, |_, _| {});
        drop(options);
        binding.send_optimistic(1, 5).expect("queued");
        assert_eq!(
            APPLIED_IN_SCOPE.with(|a| a.borrow().clone()),
            [true],
            "the optimistic change was applied inside the scope"
        );
        assert!(Arc::strong_count(&held) > 1, "the binding holds the scope");
        binding.close();
        assert!(
            APPLIED_IN_SCOPE.with(|a| a.borrow().iter().all(|&inside| inside)),
            "closing (which rolls back) ran inside the scope too"
        );
        // The binding let go of its copy at close, the driver lets go of
        // its own when it has seen the close; the binding itself lives on
        // (a JavaScript object closed on unmount is not freed).
        let released = runtime.block_on(tokio::time::timeout(Duration::from_secs(10), async {
            while Arc::strong_count(&held) > 1 {
                tokio::task::yield_now().await;
            }
        }));
        assert!(
            released.is_ok(),
            "the binding or the driver still holds the scope"
        );
        assert_eq!(Arc::strong_count(&held), 1);
        assert!(matches!(
            binding.send_optimistic(1, 5),
            Err(Error::Misuse(ApiMisuse::Closed))
        ));
        drop(binding);
    }

    #[test]
    fn options_compare_functions_by_identity() {
        let plain = FlowOptions::default().token("ann").subscribe(["todos"]);
        assert_eq!(plain, plain.clone());
        assert_ne!(
            plain,
            FlowOptions::default().token("bob").subscribe(["todos"])
        );
        let provided = FlowOptions::default().token_provider(|| None);
        assert_eq!(provided, provided.clone(), "the same provider");
        assert_ne!(provided, FlowOptions::default().token_provider(|| None));
        assert!(
            !format!("{plain:?}").contains("ann"),
            "the token is not logged"
        );
    }

    #[test]
    fn the_oldest_settled_actions_are_forgotten_first() {
        let ok = || OpState::Ok { result: None };
        let ids: Vec<OpId> = (0..4).map(|_| OpId::new()).collect();
        let mut ops = vec![
            (ids[0], ok()),
            (ids[1], OpState::Pending),
            (ids[2], ok()),
            (ids[3], ok()),
        ];
        trim_settled(&mut ops, 1);
        let left: Vec<_> = ops.iter().map(|(id, _)| *id).collect();
        assert_eq!(
            left,
            [ids[1], ids[3]],
            "pending stays, newest settled stays"
        );
    }
}
