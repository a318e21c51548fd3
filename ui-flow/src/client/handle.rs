//! [`ResourceHandle`]: a further resource on a [`FlowConnection`]'s socket.
//!
//! A connection mirrors the resource its URL names. [`FlowConnection::join`]
//! (or [`FlowConnection::resource`] with callbacks) joins another resource
//! on the same socket as a channel (spec/PROTOCOL.md, "Channels") and gives
//! back a typed handle with what the connection has for its own resource:
//! state, status, seq, actions, presence, notifications and callbacks.
//! The protocol work is the client core's ([`Client::join`] and the
//! `*_on` commands); this module only routes the core's per-resource
//! events to the handle's callbacks and its commands to the core.
//!
//! It is not a second connection: a handle keeps its connection open, its
//! resource ends with the connection, and it is joined again after every
//! reconnect from its own resume point.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::channel::Channel;
use crate::error::{ChannelError, Error};
use crate::model::Model;
use crate::op::OpId;
use crate::presence::PresenceInfo;
use crate::signal::SignalPayload;
use crate::status::ConnectionStatus;

use super::callbacks::{MaybeSend, MaybeSync, ResourceBatch, ResourceCallbacks};
use super::cell::{self, Lock, lock};
use super::channels::{Channels, Resource, ResourceEvent, ResourceStatus, ScopeFn};
use super::ops::OpState;
use super::socket::{FlowSocket, Shared};

#[cfg(doc)]
use super::{Client, FlowConnection};

/// The handles' listeners of one connection, which its driver drains
/// after every input.
pub(crate) type Registry = Arc<Lock<Vec<Entry>>>;

/// One handle's listener in the [`Registry`].
pub(crate) struct Entry {
    id: u64,
    channel: Channel,
    slot: Arc<Lock<Slot>>,
    listener: Arc<Lock<dyn Listener>>,
}

/// What a handle's listener tells the handle without the client.
pub(crate) struct Slot {
    /// The last status the listener saw.
    last: ResourceStatus,
    /// The channel was given to another resource (this one had been left):
    /// the handle no longer reads the client.
    detached: bool,
}

/// A joined resource's listener, whatever its `Model`, for its
/// connection's driver.
pub(crate) trait Listener: MaybeSend {
    /// With the client locked: takes this resource's events out, and what
    /// its callbacks need with them.
    fn collect(&mut self, channels: &mut Channels<'_>);
    /// With nothing locked: runs the callbacks on what was collected.
    fn deliver(&mut self);
}

struct ResourceListener<R: Model> {
    channel: Channel,
    slot: Arc<Lock<Slot>>,
    callbacks: ResourceCallbacks<R>,
    batches: Vec<ResourceBatch<R>>,
    /// The connection status last handed to `on_connection_status`.
    connection: Option<ConnectionStatus>,
}

impl<R: Model> Listener for ResourceListener<R> {
    fn collect(&mut self, channels: &mut Channels<'_>) {
        let connection = (self.connection.as_ref() != Some(channels.status)).then(|| {
            let status = channels.status.clone();
            self.connection = Some(status.clone());
            status
        });
        let mut slot = lock(&self.slot);
        let resource = match channels.resources.get_mut::<R>(self.channel) {
            Some(resource) if !slot.detached => resource,
            _ => {
                drop(slot);
                if connection.is_some() {
                    self.batches.push(ResourceBatch {
                        events: VecDeque::new(),
                        state: None,
                        presence: None,
                        connection,
                    });
                }
                return;
            }
        };
        let events = resource.take_events();
        for event in &events {
            if let ResourceEvent::Status(status) = event {
                slot.last = status.clone();
            }
        }
        drop(slot);
        let changed = |f: fn(&ResourceEvent<R>) -> bool| events.iter().any(f);
        let state = (self.callbacks.wants_state()
            && changed(|e| matches!(e, ResourceEvent::StateChanged)))
        .then(|| Arc::new(resource.state().clone()));
        let presence = (self.callbacks.wants_presence()
            && changed(|e| matches!(e, ResourceEvent::Presence)))
        .then(|| resource.presence().to_vec());
        if !events.is_empty() || connection.is_some() {
            self.batches.push(ResourceBatch {
                events,
                state,
                presence,
                connection,
            });
        }
    }

    fn deliver(&mut self) {
        for batch in std::mem::take(&mut self.batches) {
            self.callbacks.deliver(batch);
        }
    }
}

/// The client half of [`ResourceBuilder::join`]: joins on the client and
/// registers the listener, under the client's lock.
pub(crate) fn join<R: Model>(
    channels: &mut Channels<'_>,
    registry: &Registry,
    resource: String,
    domains: Vec<String>,
    callbacks: ResourceCallbacks<R>,
    scope: Option<Arc<ScopeFn>>,
) -> Result<(u64, Channel, Arc<Lock<Slot>>), Error> {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let channel = channels.join::<R>(resource, scope)?;
    if !domains.is_empty() {
        channels.subscribe::<R>(channel, domains)?;
    }
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let slot = cell::shared(Slot {
        last: ResourceStatus::Joining,
        detached: false,
    });
    let listener = ResourceListener {
        channel,
        slot: Arc::clone(&slot),
        callbacks,
        batches: Vec::new(),
        connection: None,
    };
    let mut entries = lock(registry);
    // The client gave this channel again: the resource an older handle held
    // on it was left (its handle still lives); that handle stops reading it.
    // Taken out one by one with `remove`, which `forget` uses too, rather
    // than `retain` (a copy of its own in the browser build).
    while let Some(at) = entries.iter().position(|e| e.channel == channel) {
        let old = entries.remove(at);
        let mut old = lock(&old.slot);
        old.detached = true;
        if !matches!(old.last, ResourceStatus::Left { .. }) {
            old.last = ResourceStatus::Left {
                code: None,
                message: None,
            };
        }
    }
    entries.push(Entry {
        id,
        channel,
        slot: Arc::clone(&slot),
        listener: cell::shared(listener),
    });
    Ok((id, channel, slot))
}

/// The driver's part: every registered listener collects with the client
/// locked, in registration order.
pub(crate) fn collect(
    registry: &Registry,
    channels: &mut Channels<'_>,
) -> Vec<Arc<Lock<dyn Listener>>> {
    let listeners: Vec<_> = lock(registry)
        .iter()
        .map(|e| Arc::clone(&e.listener))
        .collect();
    for listener in &listeners {
        lock(listener).collect(channels);
    }
    listeners
}

/// Forgets the listener of the handle `id`; says whether the resource it
/// held must be left (not when its channel was given to another).
pub(crate) fn forget(registry: &Registry, id: u64) -> bool {
    let mut entries = lock(registry);
    let Some(at) = entries.iter().position(|e| e.id == id) else {
        return false; // detached: its channel holds another resource now
    };
    let entry = entries.remove(at);
    !lock(&entry.slot).detached
}

/// A resource joined on a [`FlowConnection`] besides its URL's, with its
/// own `Model` `R`: its own state, seq, actions, presence, notifications
/// and status.
///
/// Get one with [`FlowConnection::join`], or [`FlowConnection::resource`]
/// to register callbacks first. Clones share the resource; dropping the
/// last one leaves it (a `Leave` on its channel). A handle keeps its
/// connection open. After a reconnect the resource is joined again from
/// its resume point by itself; its status goes back to `Joining` until
/// then.
///
/// It is not a connection: closing, latency and the presence report are
/// the [`FlowConnection`]'s. A server that does not serve channels (its
/// `Connected` announces none) gets no `Join`: joining then fails with
/// [`ChannelError::Unsupported`] once connected, or, when joined before
/// the first `Connected`, the status becomes `Left` with code
/// `channel_limit`.
///
/// ```no_run
/// # #[cfg(any(feature = "native", feature = "browser"))]
/// # fn demo() -> Result<(), ui_flow::Error> {
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Clone, Default, Serialize, Deserialize)] struct Board;
/// # impl ui_flow::FlowState for Board { type Delta = (); fn apply_delta(&mut self, _: ()) {} }
/// # struct BoardModel;
/// # impl ui_flow::Model for BoardModel { type State = Board; type Delta = (); type Action = (); type Event = (); }
/// # #[derive(Clone, Default, Serialize, Deserialize)] struct Chat { lines: Vec<String> }
/// # impl ui_flow::FlowState for Chat { type Delta = String; fn apply_delta(&mut self, d: String) { self.lines.push(d) } }
/// # #[derive(Serialize, Deserialize)] struct Say(String);
/// # struct ChatModel;
/// # impl ui_flow::Model for ChatModel { type State = Chat; type Delta = String; type Action = Say; type Event = (); }
/// use ui_flow::FlowConnection;
///
/// let conn = FlowConnection::<BoardModel>::builder()
///     .url("wss://example.com/realtime/board-42")
///     .connect()?;
/// // The chat rides on the board's socket.
/// let chat = conn
///     .resource::<ChatModel>("chat-7")
///     .on_state(|chat| println!("{} lines", chat.lines.len()))
///     .on_status(|status| println!("chat: {status:?}"))
///     .join()?;
/// chat.send_optimistic(Say("hi".into()), "hi".into())?;
/// drop(chat); // leaves chat-7; the board stays
/// # Ok(()) }
/// ```
pub struct ResourceHandle<R: Model> {
    inner: Arc<Joined<R>>,
}

struct Joined<R: Model> {
    shared: Arc<Shared>,
    id: u64,
    channel: Channel,
    resource: String,
    slot: Arc<Lock<Slot>>,
    model: PhantomData<fn() -> R>,
}

impl<R: Model> Drop for Joined<R> {
    fn drop(&mut self) {
        self.shared.release::<R>(self.id, self.channel);
    }
}

impl<R: Model> Clone for ResourceHandle<R> {
    fn clone(&self) -> Self {
        ResourceHandle {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<R: Model> fmt::Debug for ResourceHandle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceHandle")
            .field("resource", &self.inner.resource)
            .field("channel", &self.inner.channel)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl<R: Model> ResourceHandle<R> {
    pub(crate) fn new(
        shared: Arc<Shared>,
        id: u64,
        channel: Channel,
        resource: String,
        slot: Arc<Lock<Slot>>,
    ) -> Self {
        ResourceHandle {
            inner: Arc::new(Joined {
                shared,
                id,
                channel,
                resource,
                slot,
                model: PhantomData,
            }),
        }
    }

    /// Runs `f` on the resource while the client holds it for this handle.
    fn read<T>(&self, f: impl FnOnce(Option<&Resource<R>>) -> T) -> T {
        let detached = lock(&self.inner.slot).detached;
        let mut client = lock(&self.inner.shared.client);
        let channels = client.channels();
        f(channels
            .resources
            .get::<R>(self.inner.channel)
            .filter(|_| !detached))
    }

    fn command<T>(
        &self,
        f: impl FnOnce(&mut Channels<'_>, Channel) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let channel = self.inner.channel;
        if lock(&self.inner.slot).detached {
            return Err(ChannelError::NotJoined(channel).into());
        }
        let result = f(&mut lock(&self.inner.shared.client).channels(), channel);
        self.inner.shared.wake();
        result
    }

    /// The resource id this handle joined.
    pub fn resource_id(&self) -> &str {
        &self.inner.resource
    }

    /// The channel the resource is on, on this connection.
    pub fn channel(&self) -> Channel {
        self.inner.channel
    }

    /// Where the resource stands: `Joining` until the server's `Joined`
    /// (again after every reconnect), `Left` with the server's code when it
    /// refused or ended the resource.
    pub fn status(&self) -> ResourceStatus {
        let last = lock(&self.inner.slot).last.clone();
        self.read(|resource| match resource {
            Some(resource) => resource.status().clone(),
            None if matches!(last, ResourceStatus::Left { .. }) => last,
            None => ResourceStatus::Left {
                code: None,
                message: None,
            },
        })
    }

    /// The connection's status.
    pub fn connection_status(&self) -> ConnectionStatus {
        self.inner.shared.status()
    }

    /// The shared connection this resource is on.
    pub fn socket(&self) -> FlowSocket {
        FlowSocket::from_shared(Arc::clone(&self.inner.shared))
    }

    /// A copy of the state to show (confirmed plus optimistic changes);
    /// the default state before the first snapshot and after the resource
    /// was left and forgotten.
    pub fn state(&self) -> R::State {
        self.with_state(Clone::clone)
    }

    /// Runs `f` on the state to show, without copying it. Do not call the
    /// handle or its connection from inside `f`.
    pub fn with_state<T>(&self, f: impl FnOnce(&R::State) -> T) -> T {
        self.read(|resource| match resource {
            Some(resource) => f(resource.state()),
            None => f(&R::State::default()),
        })
    }

    /// The seq of the resource's confirmed state; `None` before its first
    /// snapshot.
    pub fn seq(&self) -> Option<u64> {
        self.read(|resource| resource.and_then(Resource::seq))
    }

    /// The epoch of the resource's confirmed state.
    pub fn epoch(&self) -> Option<u32> {
        self.read(|resource| resource.and_then(Resource::epoch))
    }

    /// One action's state, while it is known.
    pub fn op(&self, op_id: OpId) -> Option<OpState> {
        self.read(|resource| resource.and_then(|r| r.op_state(op_id).cloned()))
    }

    /// The users of this resource.
    pub fn presence(&self) -> Vec<PresenceInfo> {
        self.read(|resource| resource.map(|r| r.presence().to_vec()).unwrap_or_default())
    }

    /// Sends an action on this resource. While the resource is being
    /// (re)joined it waits and goes after the server's `Joined`. Fails with
    /// [`ChannelError::NotJoined`] once the resource was left, and like
    /// [`FlowConnection::send_action`] otherwise.
    pub fn send_action(&self, action: R::Action) -> Result<OpId, Error> {
        self.command(|c, channel| c.send::<R>(channel, action, None))
    }

    /// Sends an action and shows `change` in this resource's state until
    /// its outcome arrives (removed again if the server refuses it).
    pub fn send_optimistic(&self, action: R::Action, change: R::Delta) -> Result<OpId, Error> {
        self.command(|c, channel| c.send::<R>(channel, action, Some(change)))
    }

    /// Receives this resource's notifications in these domains, from now
    /// on and again after every rejoin.
    pub fn subscribe<D: Into<String>>(
        &self,
        domains: impl IntoIterator<Item = D>,
    ) -> Result<(), Error> {
        let domains = domains.into_iter().map(Into::into).collect();
        self.command(|c, channel| c.subscribe::<R>(channel, domains))
    }

    /// Stops this resource's notifications in these domains.
    pub fn unsubscribe<D: Into<String>>(
        &self,
        domains: impl IntoIterator<Item = D>,
    ) -> Result<(), Error> {
        let domains = domains.into_iter().map(Into::into).collect();
        self.command(|c, channel| c.unsubscribe::<R>(channel, domains))
    }

    /// Asks the server to bring this resource up to date (`Resync` on its
    /// channel); see [`Client::resync_on`].
    pub fn resync(&self) -> Result<(), Error> {
        self.command(|c, channel| c.resync::<R>(channel))
    }

    /// Leaves the resource now, before the last clone is dropped: its
    /// status becomes `Leaving`, then `Left`, and commands fail with
    /// [`ChannelError::NotJoined`]. Leaving twice does nothing.
    pub fn leave(&self) {
        self.inner.shared.leave::<R>(self.inner.channel);
    }

    /// Sends a WebRTC signal to another user of this resource; only while
    /// it is joined (see [`Client::send_signal_on`]).
    pub fn send_signal(
        &self,
        target_user_id: impl Into<String>,
        signal: SignalPayload,
    ) -> Result<(), Error> {
        let to = target_user_id.into();
        self.command(|c, channel| c.signal::<R>(channel, to, signal))
    }
}

/// Describes a [`ResourceHandle`] before it joins: callbacks and
/// notification domains, then [`join`](Self::join). Made by
/// [`FlowConnection::resource`] or [`FlowSocket::resource`].
pub struct ResourceBuilder<R: Model> {
    shared: Arc<Shared>,
    resource: String,
    domains: Vec<String>,
    callbacks: ResourceCallbacks<R>,
    scope: Option<Arc<ScopeFn>>,
}

impl<R: Model> ResourceBuilder<R> {
    pub(crate) fn new(shared: Arc<Shared>, resource: String) -> Self {
        ResourceBuilder {
            shared,
            resource,
            domains: Vec::new(),
            callbacks: ResourceCallbacks::default(),
            scope: None,
        }
    }

    /// Runs `scope` around every stretch of this resource's work that may
    /// change its state (a frame on its channel, an optimistic change),
    /// inside the connection's own scope, if any; see
    /// [`FlowOptions::state_scope`](crate::client::FlowOptions::state_scope).
    /// Each resource on a socket may so have its own. The resource lets go
    /// of it once it is being left.
    pub fn state_scope(
        self,
        scope: impl Fn(&mut dyn FnMut()) + MaybeSend + MaybeSync + 'static,
    ) -> Self {
        self.shared_scope(Some(Arc::new(scope)))
    }

    pub(crate) fn shared_scope(mut self, scope: Option<Arc<ScopeFn>>) -> Self {
        self.scope = scope;
        self
    }

    /// Notification domains of this resource to subscribe to from the start.
    pub fn subscribe<D: Into<String>>(mut self, domains: impl IntoIterator<Item = D>) -> Self {
        self.domains.extend(domains.into_iter().map(Into::into));
        self
    }

    /// Called with each server delta applied to the resource's confirmed
    /// state, in seq order.
    pub fn on_delta(mut self, f: impl FnMut(&R::Delta, u64) + MaybeSend + 'static) -> Self {
        self.callbacks.delta = Some(Box::new(f));
        self
    }

    /// Called with the resource's state to show whenever it changed, at
    /// most once per batch of input.
    pub fn on_state(mut self, f: impl FnMut(&R::State) + MaybeSend + 'static) -> Self {
        self.callbacks.state = Some(Box::new(f));
        self
    }

    /// [`on_state`](Self::on_state) with the state as one shared value:
    /// copied once per change, however many listeners keep it.
    pub fn on_shared_state(mut self, f: impl FnMut(&Arc<R::State>) + MaybeSend + 'static) -> Self {
        self.callbacks.shared_state = Some(Box::new(f));
        self
    }

    /// Called with each notification of this resource.
    pub fn on_notify(
        mut self,
        f: impl FnMut(&str, R::Event, Option<OpId>) + MaybeSend + 'static,
    ) -> Self {
        self.callbacks.notify = Some(Box::new(f));
        self
    }

    /// Called whenever the resource's status changes.
    pub fn on_status(mut self, f: impl FnMut(&ResourceStatus) + MaybeSend + 'static) -> Self {
        self.callbacks.status = Some(Box::new(f));
        self
    }

    /// Called with the connection's status once at the first batch and
    /// whenever it changes.
    pub fn on_connection_status(
        mut self,
        f: impl FnMut(&ConnectionStatus) + MaybeSend + 'static,
    ) -> Self {
        self.callbacks.connection = Some(Box::new(f));
        self
    }

    /// Called when an action on this resource progresses or settles.
    pub fn on_action(mut self, f: impl FnMut(OpId, &OpState) + MaybeSend + 'static) -> Self {
        self.callbacks.action = Some(Box::new(f));
        self
    }

    /// Called with the resource's member list whenever it changed.
    pub fn on_presence(mut self, f: impl FnMut(&[PresenceInfo]) + MaybeSend + 'static) -> Self {
        self.callbacks.presence = Some(Box::new(f));
        self
    }

    /// Called with each WebRTC signal from another user of this resource.
    pub fn on_signal(mut self, f: impl FnMut(&str, SignalPayload) + MaybeSend + 'static) -> Self {
        self.callbacks.signal = Some(Box::new(f));
        self
    }

    /// Called with every event of this resource before the specific
    /// callbacks, including those no other callback covers (server errors
    /// on the channel, violations, bad frames).
    pub fn on_event(mut self, f: impl FnMut(&ResourceEvent<R>) + MaybeSend + 'static) -> Self {
        self.callbacks.event = Some(Box::new(f));
        self
    }

    /// Joins the resource. Fails with [`ChannelError::Unsupported`] when
    /// the connection is up and its server announced no channels,
    /// [`ChannelError::Limit`] when it holds as many resources as the
    /// server allows, [`ChannelError::AlreadyJoined`] when this connection
    /// already holds the resource (its URL's included), and
    /// [`ApiMisuse::Closed`](crate::ApiMisuse::Closed) after the
    /// connection closed for good.
    pub fn join(self) -> Result<ResourceHandle<R>, Error> {
        let shared = self.shared;
        if self.resource == shared.url_resource {
            // A resource is held at most once per connection.
            return Err(ChannelError::AlreadyJoined(self.resource).into());
        }
        let joined = join::<R>(
            &mut lock(&shared.client).channels(),
            &shared.listeners,
            self.resource.clone(),
            self.domains,
            self.callbacks,
            self.scope,
        );
        shared.wake();
        let (id, channel, slot) = joined?;
        Ok(ResourceHandle::new(
            shared,
            id,
            channel,
            self.resource,
            slot,
        ))
    }
}
