//! The client's joined resources: one sub-machine per channel.
//!
//! A [`Client`](super::Client) mirrors the resource of its URL on channel 0.
//! [`Client::join`](super::Client::join) adds another resource on the same
//! connection (spec/PROTOCOL.md, "Channels"): the client picks a free
//! channel number, sends `Join`, and from then on every frame whose `"c"`
//! names that channel goes to the channel's [`Resource`], which keeps that
//! resource's own state, seq and epoch, Resync, optimistic actions and
//! presence. Each resource has its own [`Model`], so the set holds them
//! type-erased and [`Client::resource`](super::Client::resource) gives back
//! the typed one.
//!
//! This module is not a driver and owns no socket: it reads frames and
//! writes frames for the [`Client`](super::Client) to send. Signals and
//! presence reports are not sent per channel from here (a presence report
//! is the connection's, for every resource it holds).
//!
//! A resource may carry its own state scope (the idea of
//! [`FlowOptions::state_scope`](super::FlowOptions::state_scope)): every
//! stretch of its work that may apply a delta (a frame on its channel, an
//! optimistic change) runs inside it, nested in the connection's, so two
//! resources on one socket may reduce their states differently. A
//! resource lets go of its scope once it is being left, or when the
//! connection closes for good.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;

use crate::channel::Channel;
use crate::code::ErrorCode;
use crate::codec::{Decoded, Limits};
use crate::error::{ApiMisuse, ChannelError, DecodeError, Error, ProtocolViolation};
use crate::message::{ClientMessage, ServerMessage};
use crate::model::{MaybeSendSync, Model};
use crate::op::OpId;
use crate::presence::PresenceInfo;
use crate::signal::SignalPayload;
use crate::state::FlowState;

use super::mirror::{Mirror, Sync};
use super::ops::{OpState, Ops};

/// A state scope: runs the work it is given (once) inside what the
/// state's `apply_delta` needs, such as ui-flow-js's per-client
/// `applyDelta` function. See
/// [`FlowOptions::state_scope`](super::FlowOptions::state_scope) (with the `native` or `browser` feature).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type ScopeFn = dyn Fn(&mut dyn FnMut()) + Send + std::marker::Sync;
/// A state scope (see the native definition).
#[cfg(target_arch = "wasm32")]
pub(crate) type ScopeFn = dyn Fn(&mut dyn FnMut());

/// Where a joined resource stands on the current connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceStatus {
    /// `Join` sent (or waiting for a connection); no `Joined` yet.
    Joining,
    /// The server answered `Joined`.
    Joined,
    /// `Leave` sent; frames on the channel are dropped until `Left`.
    Leaving,
    /// The server refused or removed the resource (`Left` with a code), or
    /// answered the `Leave`. The channel is free again.
    Left {
        /// Why, when the server said.
        code: Option<ErrorCode>,
        /// The server's explanation.
        message: Option<String>,
    },
}

/// What happened to one joined resource, for the application.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceEvent<M: Model> {
    /// [`Resource::state`] changed (a snapshot, deltas, or an optimistic
    /// change added or removed).
    StateChanged,
    /// The resource's [`ResourceStatus`] changed.
    Status(ResourceStatus),
    /// A server delta was applied to the confirmed state, in seq order
    /// (after a snapshot, the buffered deltas it did not contain).
    Delta {
        /// The delta.
        delta: M::Delta,
        /// Its seq.
        seq: u64,
    },
    /// An action on this resource progressed or settled.
    Action {
        /// The action.
        op_id: OpId,
        /// Where it stands.
        state: OpState,
    },
    /// The presence list was replaced or changed.
    Presence,
    /// A notification of this resource.
    Notify {
        /// Its domain.
        domain: String,
        /// The event.
        event: M::Event,
        /// The action that caused it.
        correlation_id: Option<OpId>,
    },
    /// A signal from another user of this resource.
    Signal {
        /// The sender.
        from_user_id: String,
        /// The payload.
        signal: SignalPayload,
    },
    /// A non-fatal `Error` about a frame this client sent on the channel
    /// (`unknown_target`, `subscription_limit`, `bad_frame`, ...).
    ServerError {
        /// The error code, when the server gave one.
        code: Option<ErrorCode>,
        /// The server's explanation.
        message: String,
    },
    /// The server broke the seq rules on this channel; a Resync was sent.
    Violation(ProtocolViolation),
    /// A frame on this channel did not decode with this resource's types.
    BadFrame(DecodeError),
}

/// One joined resource: its own mirror of the state, its actions and its
/// presence, with the application's `Model` for it.
pub struct Resource<M: Model> {
    channel: Channel,
    resource: String,
    status: ResourceStatus,
    mirror: Mirror<M::State>,
    view: Option<M::State>,
    ops: Ops<M::Delta>,
    presence: Vec<PresenceInfo>,
    /// Notification domains, subscribed again after every `Joined`.
    subscriptions: Vec<String>,
    /// A Resync (or the Join's answer) is outstanding.
    awaiting_sync: bool,
    events: VecDeque<ResourceEvent<M>>,
    /// Runs around this resource's state work; dropped once it is left.
    scope: Option<Arc<ScopeFn>>,
}

impl<M: Model> Resource<M> {
    fn new(
        channel: Channel,
        resource: String,
        settled_kept: usize,
        scope: Option<Arc<ScopeFn>>,
    ) -> Self {
        Resource {
            channel,
            resource,
            status: ResourceStatus::Joining,
            mirror: Mirror::new(),
            view: None,
            ops: Ops::new(settled_kept),
            presence: Vec::new(),
            subscriptions: Vec::new(),
            awaiting_sync: false,
            events: VecDeque::new(),
            scope,
        }
    }

    /// Runs `work` inside this resource's state scope, if it has one;
    /// exactly once either way. `work` is `dyn`, so that this is compiled
    /// once per `Model`, not once per caller.
    fn scoped(&mut self, work: &mut dyn FnMut(&mut Self)) {
        let mut ran = false;
        if let Some(scope) = self.scope.clone() {
            scope(&mut || {
                if !ran {
                    ran = true;
                    work(self);
                }
            });
        }
        // No scope, or one that did not call the work.
        if !ran {
            work(self);
        }
    }

    /// The channel this resource is on.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// The resource id given to `join`.
    pub fn resource_id(&self) -> &str {
        &self.resource
    }

    /// Where the resource stands.
    pub fn status(&self) -> &ResourceStatus {
        &self.status
    }

    /// The confirmed state with every unresolved optimistic change on top.
    pub fn state(&self) -> &M::State {
        self.view.as_ref().unwrap_or_else(|| self.mirror.state())
    }

    /// The seq of the confirmed state, once a snapshot arrived.
    pub fn seq(&self) -> Option<u64> {
        self.mirror.seq()
    }

    /// The epoch of the confirmed state.
    pub fn epoch(&self) -> Option<u32> {
        self.mirror.epoch()
    }

    /// The users of this resource.
    pub fn presence(&self) -> &[PresenceInfo] {
        &self.presence
    }

    /// Where an action issued on this resource stands.
    pub fn op_state(&self, op_id: OpId) -> Option<&OpState> {
        self.ops.get(op_id)
    }

    /// The next event of this resource, oldest first.
    pub fn poll_event(&mut self) -> Option<ResourceEvent<M>> {
        self.events.pop_front()
    }

    /// Every event of this resource, oldest first, taken whole (what
    /// [`poll_event`](Self::poll_event) until `None` gives, for the drivers'
    /// listeners without collecting into a new list).
    #[cfg_attr(
        not(any(
            all(feature = "native", not(target_arch = "wasm32")),
            all(feature = "browser", target_arch = "wasm32")
        )),
        allow(dead_code)
    )]
    pub(crate) fn take_events(&mut self) -> VecDeque<ResourceEvent<M>> {
        std::mem::take(&mut self.events)
    }

    fn frame(&self, message: &ClientMessage<M::Action>) -> Option<Vec<u8>> {
        message.encode_on(self.channel).ok()
    }

    /// Records an action and its optimistic change; returns its frame.
    fn issue(
        &mut self,
        action: M::Action,
        change: Option<M::Delta>,
    ) -> Result<(OpId, Vec<u8>), crate::EncodeError> {
        let op_id = OpId::new();
        let frame = ClientMessage::Action { op_id, action }.encode_on(self.channel)?;
        let optimistic = change.is_some();
        self.ops.insert(op_id, frame.clone(), change);
        self.events.push_back(ResourceEvent::Action {
            op_id,
            state: OpState::Pending,
        });
        if optimistic {
            self.scoped(&mut Self::rebase);
        }
        Ok((op_id, frame))
    }

    fn rebase(&mut self) {
        self.view = self.ops.has_optimistic().then(|| {
            let mut view = self.mirror.state().clone();
            for change in self.ops.optimistic() {
                view.apply_delta(change.clone());
            }
            view
        });
        self.events.push_back(ResourceEvent::StateChanged);
    }

    fn request_resync(&mut self, out: &mut VecDeque<Vec<u8>>) {
        if self.awaiting_sync {
            return;
        }
        self.awaiting_sync = true;
        let resync = ClientMessage::<M::Action>::Resync {
            last_seq: self.mirror.seq(),
            epoch: self.mirror.epoch(),
        };
        queue(out, self.frame(&resync));
    }

    fn on_deltas(
        &mut self,
        seq: u64,
        epoch: Option<u32>,
        prev: Option<u64>,
        deltas: Vec<M::Delta>,
        out: &mut VecDeque<Vec<u8>>,
    ) {
        let events = &mut self.events;
        let mut emit = |seq: u64, delta: &M::Delta| {
            events.push_back(ResourceEvent::Delta {
                delta: delta.clone(),
                seq,
            });
        };
        match self.mirror.deltas(seq, epoch, prev, deltas, &mut emit) {
            Sync::Applied => self.rebase(),
            Sync::Stale | Sync::Buffered => {}
            Sync::EpochChanged => self.request_resync(out),
            Sync::Gap(violation) | Sync::Invalid(violation) => {
                self.events.push_back(ResourceEvent::Violation(violation));
                self.request_resync(out);
            }
        }
    }

    fn settle(&mut self, op_id: OpId, state: OpState) {
        if let Some(optimistic) = self.ops.settle(op_id, state.clone()) {
            self.events
                .push_back(ResourceEvent::Action { op_id, state });
            if optimistic {
                self.rebase();
            }
        }
    }

    fn set_status(&mut self, status: ResourceStatus) {
        if matches!(
            status,
            ResourceStatus::Leaving | ResourceStatus::Left { .. }
        ) {
            // No state work follows: the scope (and what it holds) goes.
            self.scope = None;
        }
        if self.status != status {
            self.status = status.clone();
            self.events.push_back(ResourceEvent::Status(status));
        }
    }
}

/// What the set needs of a resource, whatever its `Model`.
trait Core: Any + MaybeSendSync {
    fn status(&self) -> &ResourceStatus;
    fn resource_id(&self) -> &str;
    /// The `Join` that (re)joins the resource from its resume point.
    fn join_frame(&self) -> Option<Vec<u8>>;
    /// A frame on this channel arrived.
    fn on_frame(&mut self, frame: &[u8], limits: &Limits, out: &mut VecDeque<Vec<u8>>);
    /// The connection was lost: the channel must be joined again.
    fn on_lost(&mut self);
    /// The connection closed for good: no state work follows.
    fn on_closed(&mut self);
    fn leave(&mut self) -> Option<Vec<u8>>;
    fn set_left(&mut self, code: Option<ErrorCode>, message: Option<String>);
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn as_any(&self) -> &dyn Any;
}

impl<M: Model> Core for Resource<M> {
    fn status(&self) -> &ResourceStatus {
        &self.status
    }

    fn resource_id(&self) -> &str {
        &self.resource
    }

    fn join_frame(&self) -> Option<Vec<u8>> {
        self.frame(&ClientMessage::Join {
            resource: self.resource.clone(),
            last_seq: self.mirror.seq(),
            epoch: self.mirror.epoch(),
        })
    }

    fn on_frame(&mut self, frame: &[u8], limits: &Limits, out: &mut VecDeque<Vec<u8>>) {
        self.scoped(&mut |resource| resource.take_frame(frame, limits, out));
    }

    fn on_lost(&mut self) {
        match self.status {
            ResourceStatus::Joining | ResourceStatus::Joined => {
                self.set_status(ResourceStatus::Joining)
            }
            // Channels end with the connection: a Leave in flight is done.
            ResourceStatus::Leaving => self.set_left(None, None),
            ResourceStatus::Left { .. } => {}
        }
        self.awaiting_sync = false;
    }

    fn set_left(&mut self, code: Option<ErrorCode>, message: Option<String>) {
        self.set_status(ResourceStatus::Left { code, message });
    }

    fn on_closed(&mut self) {
        self.scope = None;
    }

    fn leave(&mut self) -> Option<Vec<u8>> {
        self.set_status(ResourceStatus::Leaving);
        self.frame(&ClientMessage::Leave)
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl<M: Model> Resource<M> {
    /// A frame on this resource's channel, inside its scope.
    fn take_frame(&mut self, frame: &[u8], limits: &Limits, out: &mut VecDeque<Vec<u8>>) {
        let message = match ServerMessage::<M::State, M::Delta, M::Event>::decode_routed_with(
            frame, limits,
        ) {
            Ok((_, Decoded::Message(message))) => message,
            Ok((_, Decoded::Unknown { .. })) => return,
            Err(error) => {
                self.events.push_back(ResourceEvent::BadFrame(error));
                return;
            }
        };
        if self.status == ResourceStatus::Leaving && !matches!(message, ServerMessage::Left { .. })
        {
            return; // sent before the server read our Leave
        }
        match message {
            ServerMessage::Joined => {
                self.set_status(ResourceStatus::Joined);
                // The Join's answer (Snapshot or Deltas) follows: it is the
                // resync. Unresolved actions go again with their op ids.
                self.awaiting_sync = true;
                if !self.subscriptions.is_empty() {
                    let subscribe = ClientMessage::<M::Action>::Subscribe {
                        domains: self.subscriptions.clone(),
                    };
                    queue(out, self.frame(&subscribe));
                }
                for frame in self.ops.frames() {
                    out.push_back(frame.to_vec());
                }
            }
            ServerMessage::Left { code, message } => self.set_left(code, message),
            ServerMessage::Snapshot {
                state, seq, epoch, ..
            } => {
                self.awaiting_sync = false;
                let events = &mut self.events;
                let mut emit = |seq: u64, delta: &M::Delta| {
                    events.push_back(ResourceEvent::Delta {
                        delta: delta.clone(),
                        seq,
                    });
                };
                if let Err(gap) = self.mirror.snapshot(state, seq, epoch, &mut emit) {
                    self.events.push_back(ResourceEvent::Violation(gap));
                    self.request_resync(out);
                }
                self.rebase();
            }
            ServerMessage::Delta {
                delta,
                seq,
                epoch,
                prev,
                ..
            } => self.on_deltas(seq, epoch, prev, vec![delta], out),
            ServerMessage::Deltas {
                deltas,
                seq,
                epoch,
                prev,
                ..
            } => {
                self.awaiting_sync = false;
                self.on_deltas(seq, epoch, prev, deltas, out);
            }
            ServerMessage::Presence { users } => {
                self.presence = users;
                self.events.push_back(ResourceEvent::Presence);
            }
            ServerMessage::PresenceDiff(diff) => {
                diff.apply(&mut self.presence);
                self.events.push_back(ResourceEvent::Presence);
            }
            ServerMessage::Signal {
                from_user_id,
                signal,
            } => self.events.push_back(ResourceEvent::Signal {
                from_user_id,
                signal,
            }),
            ServerMessage::Notify {
                domain,
                event,
                correlation_id,
            } => self.events.push_back(ResourceEvent::Notify {
                domain,
                event,
                correlation_id,
            }),
            ServerMessage::Progress {
                op_id,
                percent,
                message,
            } => {
                if let Some(state) = self.ops.progress(op_id, percent, message) {
                    self.events
                        .push_back(ResourceEvent::Action { op_id, state });
                }
            }
            ServerMessage::ActionOk { op_id, result } => self.settle(op_id, OpState::Ok { result }),
            ServerMessage::ActionErr {
                op_id,
                code,
                message,
            } => self.settle(op_id, OpState::Err { code, message }),
            // Fatal errors belong to the connection and carry no channel.
            ServerMessage::Error { code, message, .. } => {
                self.events
                    .push_back(ResourceEvent::ServerError { code, message });
            }
            // Connected and Pong never travel on a channel.
            ServerMessage::Connected { .. } | ServerMessage::Pong { .. } => {}
        }
    }
}

/// The joined resources by channel number: a `Vec` kept sorted by number,
/// not a `BTreeMap`. A connection holds as many as the server's
/// `Connected.channels` allows (a handful in practice), so a binary search
/// is as quick, and the browser build does not carry the B-tree's
/// insertion and rebalancing code (about 12 KB of wasm) for it.
#[derive(Default)]
struct ByChannel(Vec<(u16, Box<dyn Core>)>);

impl ByChannel {
    fn at(&self, number: u16) -> Result<usize, usize> {
        self.0.binary_search_by_key(&number, |(n, _)| *n)
    }

    fn get(&self, number: u16) -> Option<&dyn Core> {
        let at = self.at(number).ok()?;
        Some(&*self.0[at].1)
    }

    fn get_mut(&mut self, number: u16) -> Option<&mut Box<dyn Core>> {
        let at = self.at(number).ok()?;
        Some(&mut self.0[at].1)
    }

    fn remove(&mut self, number: u16) {
        if let Ok(at) = self.at(number) {
            self.0.remove(at);
        }
    }

    /// The lowest number from 1 that holds nothing, with where it goes.
    fn free(&self) -> Option<(u16, usize)> {
        let mut number: u16 = 1;
        for (at, (taken, _)) in self.0.iter().enumerate() {
            if *taken != number {
                return Some((number, at));
            }
            number = number.checked_add(1)?;
        }
        Some((number, self.0.len()))
    }

    fn values(&self) -> impl Iterator<Item = &Box<dyn Core>> {
        self.0.iter().map(|(_, core)| core)
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut Box<dyn Core>> {
        self.0.iter_mut().map(|(_, core)| core)
    }
}

/// The resources a client joined besides its URL's, by channel.
#[derive(Default)]
pub(crate) struct Resources {
    by_channel: ByChannel,
    /// `Connected.channels` of the current connection; `None` before the
    /// first `Connected` and against a server without channels.
    limit: Option<u16>,
}

impl Resources {
    pub(crate) fn is_empty(&self) -> bool {
        self.by_channel.0.is_empty()
    }

    /// A `Connected` arrived: queues the `Join` of every resource held,
    /// from its resume point, on `out`. Against a server without channels
    /// (or with a smaller limit) the resources over the limit are reported
    /// left.
    pub(crate) fn on_connected(&mut self, limit: Option<u16>, out: &mut VecDeque<Vec<u8>>) {
        self.limit = limit;
        let allowed = usize::from(limit.unwrap_or(0));
        for (at, core) in self.live_mut().enumerate() {
            if at < allowed {
                queue(out, core.join_frame());
            } else {
                let message = match limit {
                    None => "the server does not serve channels".to_owned(),
                    Some(limit) => format!(
                        "the server allows {} resources besides the URL's",
                        u32::from(limit)
                    ),
                };
                core.set_left(Some(ErrorCode::CHANNEL_LIMIT), Some(message));
            }
        }
    }

    fn live_mut(&mut self) -> impl Iterator<Item = &mut Box<dyn Core>> {
        self.by_channel
            .values_mut()
            .filter(|core| !matches!(core.status(), ResourceStatus::Left { .. }))
    }

    /// The connection was lost: every resource is joined again after the
    /// next `Connected`.
    pub(crate) fn on_lost(&mut self) {
        for core in self.by_channel.values_mut() {
            core.on_lost();
        }
    }

    /// The connection closed for good: every resource lets go of its
    /// scope.
    pub(crate) fn on_closed(&mut self) {
        for core in self.by_channel.values_mut() {
            core.on_closed();
        }
    }

    /// Joins `resource` with `M`'s types on the lowest free channel, and
    /// returns the channel and the `Join` to send now (none while no
    /// connection is up: it goes with the next `Connected`).
    pub(crate) fn join<M: Model>(
        &mut self,
        resource: String,
        connected: bool,
        settled_kept: usize,
        scope: Option<Arc<ScopeFn>>,
    ) -> Result<(Channel, Option<Vec<u8>>), ChannelError> {
        let limit = match self.limit {
            Some(limit) => limit,
            None if connected => return Err(ChannelError::Unsupported),
            None => u16::MAX, // checked at the next Connected
        };
        // The left ones go, one by one with `remove` (a handful at most),
        // which `ByChannel::remove` uses too, rather than `retain` (a copy
        // of its own in the browser build).
        while let Some(at) = self
            .by_channel
            .0
            .iter()
            .position(|(_, core)| matches!(core.status(), ResourceStatus::Left { .. }))
        {
            self.by_channel.0.remove(at);
        }
        if self.by_channel.0.len() >= usize::from(limit) {
            return Err(ChannelError::Limit { limit });
        }
        if self
            .by_channel
            .values()
            .any(|c| c.resource_id() == resource)
        {
            return Err(ChannelError::AlreadyJoined(resource));
        }
        let (number, at) = self
            .by_channel
            .free()
            .ok_or(ChannelError::Limit { limit })?;
        let channel = Channel(number);
        let core: Resource<M> = Resource::new(channel, resource, settled_kept, scope);
        let frame = connected.then(|| core.join_frame()).flatten();
        self.by_channel.0.insert(at, (number, Box::new(core)));
        Ok((channel, frame))
    }

    /// Leaves the resource on `channel`; returns the `Leave` to send.
    pub(crate) fn leave(&mut self, channel: Channel, connected: bool) -> Option<Vec<u8>> {
        let core = self.by_channel.get_mut(channel.0)?;
        if connected {
            core.leave()
        } else {
            // Nothing to tell a server we are not connected to.
            self.by_channel.remove(channel.0);
            None
        }
    }

    /// Routes a frame on `channel` (not 0) to its resource; frames for a
    /// channel this client does not hold are dropped.
    pub(crate) fn on_frame(
        &mut self,
        channel: Channel,
        frame: &[u8],
        limits: &Limits,
        out: &mut VecDeque<Vec<u8>>,
    ) {
        if let Some(core) = self.by_channel.get_mut(channel.0) {
            core.on_frame(frame, limits, out);
        }
    }

    pub(crate) fn get<M: Model>(&self, channel: Channel) -> Option<&Resource<M>> {
        self.by_channel
            .get(channel.0)?
            .as_any()
            .downcast_ref::<Resource<M>>()
    }

    pub(crate) fn get_mut<M: Model>(&mut self, channel: Channel) -> Option<&mut Resource<M>> {
        self.by_channel
            .get_mut(channel.0)?
            .as_any_mut()
            .downcast_mut::<Resource<M>>()
    }

    /// The resource on `channel` if it is being joined or joined: commands
    /// on a resource being left or left would never get an answer.
    fn live<M: Model>(&mut self, channel: Channel) -> Result<&mut Resource<M>, ChannelError> {
        let resource = self
            .get_mut::<M>(channel)
            .ok_or(ChannelError::Unknown(channel))?;
        match resource.status {
            ResourceStatus::Joining | ResourceStatus::Joined => Ok(resource),
            ResourceStatus::Leaving | ResourceStatus::Left { .. } => {
                Err(ChannelError::NotJoined(channel))
            }
        }
    }

    /// Subscribes the resource on `channel` to `domains` (`on`; again
    /// after every `Joined`) or stops its notifications in them; returns
    /// the `Subscribe` or `Unsubscribe` to send now, if any. One function
    /// for both ways: they differ only in which domains change.
    pub(crate) fn subscription<M: Model>(
        &mut self,
        channel: Channel,
        domains: Vec<String>,
        on: bool,
    ) -> Result<Option<Vec<u8>>, ChannelError> {
        let resource = self.live::<M>(channel)?;
        // Subscribing: the domains not held yet; stopping: the held ones.
        let changed: Vec<String> = domains
            .into_iter()
            .filter(|d| resource.subscriptions.contains(d) != on)
            .collect();
        if on {
            resource.subscriptions.extend(changed.iter().cloned());
        } else {
            // As the client's own list: `position` and `remove`, not a
            // `retain` of its own; every copy goes (a list subscribed
            // with a domain twice holds it twice).
            for domain in &changed {
                while let Some(at) = resource.subscriptions.iter().position(|d| d == domain) {
                    resource.subscriptions.remove(at);
                }
            }
        }
        if resource.status != ResourceStatus::Joined || changed.is_empty() {
            return Ok(None);
        }
        let message = if on {
            ClientMessage::Subscribe { domains: changed }
        } else {
            ClientMessage::Unsubscribe { domains: changed }
        };
        Ok(resource.frame(&message))
    }

    /// Asks for the resource on `channel` to catch up (`Resync` on its
    /// channel), unless one is outstanding or the resource is not joined
    /// yet (its `Join` is answered like a Resync).
    pub(crate) fn resync<M: Model>(
        &mut self,
        channel: Channel,
        out: &mut VecDeque<Vec<u8>>,
    ) -> Result<(), ChannelError> {
        let resource = self.live::<M>(channel)?;
        if resource.status == ResourceStatus::Joined {
            resource.request_resync(out);
        }
        Ok(())
    }

    /// A `Signal` to another user of the resource on `channel`; only while
    /// it is joined (signals are not queued for a channel).
    pub(crate) fn signal<M: Model>(
        &mut self,
        channel: Channel,
        target_user_id: String,
        signal: SignalPayload,
    ) -> Result<Vec<u8>, ChannelError> {
        let resource = self.live::<M>(channel)?;
        if resource.status != ResourceStatus::Joined {
            return Err(ChannelError::NotJoined(channel));
        }
        Ok(ClientMessage::<M::Action>::Signal {
            target_user_id,
            signal,
        }
        .encode_on(channel)?)
    }

    /// Issues an action on the resource on `channel`; returns its id and,
    /// when the resource is joined, the frame to send now (unresolved
    /// actions go again after the channel's next `Joined` anyway). At most
    /// `bound` actions of one resource are unresolved at once.
    pub(crate) fn issue<M: Model>(
        &mut self,
        channel: Channel,
        action: M::Action,
        change: Option<M::Delta>,
        bound: usize,
    ) -> Result<(OpId, Option<Vec<u8>>), Error> {
        let resource = self.live::<M>(channel)?;
        if resource.ops.unresolved_len() >= bound {
            return Err(ApiMisuse::QueueFull { bound }.into());
        }
        let joined = resource.status == ResourceStatus::Joined;
        let (op_id, frame) = resource.issue(action, change).map_err(ChannelError::from)?;
        Ok((op_id, joined.then_some(frame)))
    }
}

/// A client's joined resources with what commands on them need, borrowed
/// from the client whatever its `Model` ([`Client::channels`](super::Client)),
/// so that resource handles need not know the URL resource's types. The
/// client's `*_on` commands are these.
pub(crate) struct Channels<'a> {
    pub(crate) resources: &'a mut Resources,
    pub(crate) transmits: &'a mut VecDeque<Vec<u8>>,
    /// A `Connected` arrived on the current socket.
    pub(crate) up: bool,
    /// The connection is closed for good.
    pub(crate) closed: bool,
    pub(crate) settled_kept: usize,
    pub(crate) queue_bound: usize,
    /// The connection's status (read by the drivers' resource handles).
    #[cfg_attr(
        not(any(
            all(feature = "native", not(target_arch = "wasm32")),
            all(feature = "browser", target_arch = "wasm32")
        )),
        allow(dead_code)
    )]
    pub(crate) status: &'a crate::status::ConnectionStatus,
}

impl Channels<'_> {
    fn usable(&self) -> Result<(), ApiMisuse> {
        if self.closed {
            Err(ApiMisuse::Closed)
        } else {
            Ok(())
        }
    }

    /// See [`Client::join`](super::Client::join); `scope` runs around the
    /// resource's state work.
    pub(crate) fn join<R: Model>(
        &mut self,
        resource: String,
        scope: Option<Arc<ScopeFn>>,
    ) -> Result<Channel, Error> {
        self.usable()?;
        let (channel, frame) = self
            .resources
            .join::<R>(resource, self.up, self.settled_kept, scope)
            .map_err(Error::Channel)?;
        queue(self.transmits, frame);
        Ok(channel)
    }

    /// See [`Client::leave`](super::Client::leave).
    pub(crate) fn leave(&mut self, channel: Channel) {
        let frame = self.resources.leave(channel, self.up);
        queue(self.transmits, frame);
    }

    /// See [`Client::send_action_on`](super::Client::send_action_on).
    pub(crate) fn send<R: Model>(
        &mut self,
        channel: Channel,
        action: R::Action,
        change: Option<R::Delta>,
    ) -> Result<OpId, Error> {
        self.usable()?;
        let (op_id, frame) =
            self.resources
                .issue::<R>(channel, action, change, self.queue_bound)?;
        queue(self.transmits, frame);
        Ok(op_id)
    }

    /// See [`Client::subscribe_on`](super::Client::subscribe_on).
    pub(crate) fn subscribe<R: Model>(
        &mut self,
        channel: Channel,
        domains: Vec<String>,
    ) -> Result<(), Error> {
        self.subscription::<R>(channel, domains, true)
    }

    /// See [`Client::unsubscribe_on`](super::Client::unsubscribe_on).
    pub(crate) fn unsubscribe<R: Model>(
        &mut self,
        channel: Channel,
        domains: Vec<String>,
    ) -> Result<(), Error> {
        self.subscription::<R>(channel, domains, false)
    }

    fn subscription<R: Model>(
        &mut self,
        channel: Channel,
        domains: Vec<String>,
        on: bool,
    ) -> Result<(), Error> {
        self.usable()?;
        let frame = self
            .resources
            .subscription::<R>(channel, domains, on)
            .map_err(Error::Channel)?;
        queue(self.transmits, frame);
        Ok(())
    }

    /// See [`Client::resync_on`](super::Client::resync_on).
    pub(crate) fn resync<R: Model>(&mut self, channel: Channel) -> Result<(), Error> {
        self.usable()?;
        self.resources
            .resync::<R>(channel, self.transmits)
            .map_err(Error::Channel)
    }

    /// See [`Client::send_signal_on`](super::Client::send_signal_on).
    pub(crate) fn signal<R: Model>(
        &mut self,
        channel: Channel,
        target_user_id: String,
        signal: SignalPayload,
    ) -> Result<(), Error> {
        self.usable()?;
        let frame = self
            .resources
            .signal::<R>(channel, target_user_id, signal)
            .map_err(Error::Channel)?;
        self.transmits.push_back(frame);
        Ok(())
    }
}

/// Queues a frame to send, if there is one: a `push_back`, which the
/// client compiles anyway, where `VecDeque::extend` with an `Option` would
/// compile its own wrapping copy.
fn queue(out: &mut VecDeque<Vec<u8>>, frame: Option<Vec<u8>>) {
    if let Some(frame) = frame {
        out.push_back(frame);
    }
}

/// The channel a server frame is on, read without the payload types (a
/// joined resource's payloads are not the URL resource's). A frame that
/// does not decode at all counts as channel 0, whose decoder reports it.
pub(crate) fn channel_of(frame: &[u8], limits: &Limits) -> Channel {
    crate::codec::frame_channel(frame, limits).unwrap_or(Channel::URL)
}
