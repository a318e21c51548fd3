//! The application's callbacks, as registered on the builder, and how the
//! drivers hand events to them.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::model::Model;
use crate::op::OpId;
use crate::presence::{PresenceDiff, PresenceInfo};
use crate::signal::SignalPayload;
use crate::state::FlowState;
use crate::status::ConnectionStatus;

use super::channels::{ResourceEvent, ResourceStatus};
use super::event::Event;
use super::ops::OpState;

/// `Send` where the driver runs on a thread pool (native), nothing in the
/// single-threaded browser, so browser callbacks may capture `Rc`s and JS
/// values.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send> MaybeSend for T {}

/// `Send` where the driver runs on a thread pool (native), nothing in the
/// single-threaded browser, so browser callbacks may capture `Rc`s and JS
/// values.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T> MaybeSend for T {}

/// `Sync` on native targets, nothing in the single-threaded browser: what a
/// function shared by several callbacks (a token provider in options) needs.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSync: Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Sync> MaybeSync for T {}

/// `Sync` on native targets, nothing in the single-threaded browser: what a
/// function shared by several callbacks (a token provider in options) needs.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSync {}
#[cfg(target_arch = "wasm32")]
impl<T> MaybeSync for T {}

#[cfg(not(target_arch = "wasm32"))]
macro_rules! callback {
    ($($arg:ty),*) => { Option<Box<dyn FnMut($($arg),*) + Send>> };
}
#[cfg(target_arch = "wasm32")]
macro_rules! callback {
    ($($arg:ty),*) => { Option<Box<dyn FnMut($($arg),*)>> };
}

/// Every callback an application may register. All are optional; each runs
/// on the driver's task, never while the client is locked, so a callback may
/// call back into the connection handle.
pub(crate) struct Callbacks<S: FlowState, E> {
    pub(crate) snapshot: callback!(&S, u64),
    pub(crate) delta: callback!(&S::Delta, u64),
    pub(crate) state: callback!(&S),
    pub(crate) shared_state: callback!(&Arc<S>),
    pub(crate) notify: callback!(&str, E, Option<OpId>),
    pub(crate) status: callback!(&ConnectionStatus),
    pub(crate) action: callback!(OpId, &OpState),
    pub(crate) presence: callback!(&[PresenceInfo], &PresenceDiff),
    pub(crate) signal: callback!(&str, SignalPayload),
    pub(crate) event: callback!(&Event<S, E>),
}

impl<S: FlowState, E> Default for Callbacks<S, E> {
    fn default() -> Self {
        Callbacks {
            snapshot: None,
            delta: None,
            state: None,
            shared_state: None,
            notify: None,
            status: None,
            action: None,
            presence: None,
            signal: None,
            event: None,
        }
    }
}

/// What a driver took out of the client in one go, to deliver after
/// unlocking it.
pub(crate) struct Batch<S: FlowState, E> {
    pub(crate) events: VecDeque<Event<S, E>>,
    /// The shown state, shared, taken when it changed and someone listens.
    pub(crate) state: Option<Arc<S>>,
    /// The presence list, taken when it changed and someone listens.
    pub(crate) presence: Option<Vec<PresenceInfo>>,
}

impl<S: FlowState, E> Callbacks<S, E> {
    /// Whether a changed state must be copied out for [`Self::state`].
    pub(crate) fn wants_state(&self) -> bool {
        self.state.is_some() || self.shared_state.is_some()
    }

    /// Whether a changed presence list must be copied out.
    pub(crate) fn wants_presence(&self) -> bool {
        self.presence.is_some()
    }

    /// Hands one batch of events to the callbacks, in order; the state
    /// callback runs once, after the batch.
    pub(crate) fn deliver(&mut self, batch: Batch<S, E>) {
        for event in batch.events {
            if let Some(f) = &mut self.event {
                f(&event);
            }
            match event {
                Event::Status(status) => {
                    if let Some(f) = &mut self.status {
                        f(&status);
                    }
                }
                Event::Snapshot { state, seq, .. } => {
                    if let Some(f) = &mut self.snapshot {
                        f(&state, seq);
                    }
                }
                Event::Delta { delta, seq } => {
                    if let Some(f) = &mut self.delta {
                        f(&delta, seq);
                    }
                }
                Event::Action { op_id, state } => {
                    if let Some(f) = &mut self.action {
                        f(op_id, &state);
                    }
                }
                Event::Notify {
                    domain,
                    event,
                    correlation_id,
                } => {
                    if let Some(f) = &mut self.notify {
                        f(&domain, event, correlation_id);
                    }
                }
                Event::Presence(diff) => {
                    if let (Some(f), Some(members)) = (&mut self.presence, &batch.presence) {
                        f(members, &diff);
                    }
                }
                Event::Signal {
                    from_user_id,
                    signal,
                } => {
                    if let Some(f) = &mut self.signal {
                        f(&from_user_id, signal);
                    }
                }
                _ => {}
            }
        }
        if let Some(state) = &batch.state {
            if let Some(f) = &mut self.state {
                f(state);
            }
            if let Some(f) = &mut self.shared_state {
                f(state);
            }
        }
    }
}

/// Every callback an application may register for one joined resource
/// ([`ResourceBuilder`](super::ResourceBuilder)). Like [`Callbacks`], each
/// runs on the driver's task with nothing locked.
pub(crate) struct ResourceCallbacks<R: Model> {
    pub(crate) delta: callback!(&R::Delta, u64),
    pub(crate) state: callback!(&R::State),
    pub(crate) shared_state: callback!(&Arc<R::State>),
    pub(crate) notify: callback!(&str, R::Event, Option<OpId>),
    pub(crate) status: callback!(&ResourceStatus),
    pub(crate) connection: callback!(&ConnectionStatus),
    pub(crate) action: callback!(OpId, &OpState),
    pub(crate) presence: callback!(&[PresenceInfo]),
    pub(crate) signal: callback!(&str, SignalPayload),
    pub(crate) event: callback!(&ResourceEvent<R>),
}

impl<R: Model> Default for ResourceCallbacks<R> {
    fn default() -> Self {
        ResourceCallbacks {
            delta: None,
            state: None,
            shared_state: None,
            notify: None,
            status: None,
            connection: None,
            action: None,
            presence: None,
            signal: None,
            event: None,
        }
    }
}

/// What a resource's listener took out of the client in one go.
pub(crate) struct ResourceBatch<R: Model> {
    pub(crate) events: VecDeque<ResourceEvent<R>>,
    /// The shown state, shared, when it changed and someone listens.
    pub(crate) state: Option<Arc<R::State>>,
    /// The presence list, when it changed and someone listens.
    pub(crate) presence: Option<Vec<PresenceInfo>>,
    /// The connection's status, when it changed since the last batch.
    pub(crate) connection: Option<ConnectionStatus>,
}

impl<R: Model> ResourceCallbacks<R> {
    /// Whether a changed state must be copied out.
    pub(crate) fn wants_state(&self) -> bool {
        self.state.is_some() || self.shared_state.is_some()
    }

    /// Whether a changed presence list must be copied out.
    pub(crate) fn wants_presence(&self) -> bool {
        self.presence.is_some()
    }

    /// Hands one batch to the callbacks: the connection's status first,
    /// then the events in order, then the state once.
    pub(crate) fn deliver(&mut self, batch: ResourceBatch<R>) {
        if let (Some(f), Some(status)) = (&mut self.connection, &batch.connection) {
            f(status);
        }
        for event in batch.events {
            if let Some(f) = &mut self.event {
                f(&event);
            }
            match event {
                ResourceEvent::Status(status) => {
                    if let Some(f) = &mut self.status {
                        f(&status);
                    }
                }
                ResourceEvent::Delta { delta, seq } => {
                    if let Some(f) = &mut self.delta {
                        f(&delta, seq);
                    }
                }
                ResourceEvent::Action { op_id, state } => {
                    if let Some(f) = &mut self.action {
                        f(op_id, &state);
                    }
                }
                ResourceEvent::Notify {
                    domain,
                    event,
                    correlation_id,
                } => {
                    if let Some(f) = &mut self.notify {
                        f(&domain, event, correlation_id);
                    }
                }
                ResourceEvent::Presence => {
                    if let (Some(f), Some(members)) = (&mut self.presence, &batch.presence) {
                        f(members);
                    }
                }
                ResourceEvent::Signal {
                    from_user_id,
                    signal,
                } => {
                    if let Some(f) = &mut self.signal {
                        f(&from_user_id, signal);
                    }
                }
                _ => {}
            }
        }
        if let Some(state) = &batch.state {
            if let Some(f) = &mut self.state {
                f(state);
            }
            if let Some(f) = &mut self.shared_state {
                f(state);
            }
        }
    }
}
