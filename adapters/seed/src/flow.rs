//! [`connect`], the [`Flow`] handle and the [`FlowMsg`] messages.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_channel::mpsc::unbounded;
use futures_util::StreamExt;
use seed::app::StreamHandle;
use seed::prelude::Orders;
use ui_flow::client::{Binding, Event, FlowOptions, OpState, Part, ResourceEvent, ResourceStatus};
use ui_flow::{
    ConnectionStatus, Error, ErrorCode, FlowSocket, FlowState, Model, OpId, PresenceDiff,
    PresenceInfo, PresenceStatus, SignalPayload,
};

/// What the connection tells the app, as a message for its `update`.
///
/// Wrap it in one of your own messages (`Msg::Flow(FlowMsg<..>)`) and pass
/// that constructor to [`connect`]. Most apps need only [`FlowMsg::State`]
/// and [`FlowMsg::Status`]; the rest are there for apps that show actions,
/// presence or notifications, or keep their own copy of the server state.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FlowMsg<S: FlowState, E> {
    /// The connection status changed.
    Status(ConnectionStatus),
    /// The state to show (the server's confirmed state with the optimistic
    /// changes of unresolved actions on top) changed. It is shared with the
    /// client, not a copy: keep the `Arc`.
    State(Arc<S>),
    /// The confirmed state was replaced by a snapshot at `seq`.
    Snapshot {
        /// The server's state.
        state: S,
        /// Its seq.
        seq: u64,
    },
    /// One server delta was applied to the confirmed state, in seq order.
    Delta {
        /// The change.
        delta: S::Delta,
        /// The seq it moved the confirmed state to.
        seq: u64,
    },
    /// An action reported progress or its outcome.
    Action {
        /// The action.
        op_id: OpId,
        /// Its new state.
        state: OpState,
    },
    /// A notification in a subscribed domain.
    Notify {
        /// The domain.
        domain: String,
        /// The application's event.
        event: E,
        /// The action that caused it, if any.
        correlation_id: Option<OpId>,
    },
    /// The presence list changed.
    Presence {
        /// Everyone connected now.
        members: Arc<Vec<PresenceInfo>>,
        /// Who joined, changed or left.
        diff: PresenceDiff,
    },
    /// A WebRTC signalling message from another user.
    Signal {
        /// The authenticated sender.
        from_user_id: String,
        /// The payload.
        signal: SignalPayload,
    },
    /// A ping measured the round trip.
    Latency(Duration),
    /// Where a resource joined with [`join`] stands on its shared socket
    /// (`Left` with code `channel_limit` on a server without channels).
    Resource(ResourceStatus),
    /// The server reported an error (the client already acted on it).
    ServerError {
        /// The error's code.
        code: Option<ErrorCode>,
        /// The server's explanation.
        message: String,
        /// Whether the connection was closed because of it.
        fatal: bool,
    },
}

/// A live connection, kept in the app's model: methods to act on it and
/// read it. Dropping it (or calling [`close`](Self::close)) closes the
/// connection and stops its messages.
pub struct Flow<M: Model> {
    binding: Binding<M>,
    _messages: StreamHandle,
}

impl<M: Model> std::fmt::Debug for Flow<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow").finish_non_exhaustive()
    }
}

/// Opens a ui-flow connection to `url` (`ws://` or
/// `wss://host/realtime/{resource}`) whose events arrive as messages
/// `to_msg(FlowMsg)` in the app's `update`. Call it from `init` (or from
/// `update`) and keep the returned [`Flow`] in the model. A URL or token
/// the client refuses arrives as `FlowMsg::Status(Closed { reason:
/// Misconfigured })`.
///
/// Messages are delivered through `orders.stream`, never from inside a call
/// to a [`Flow`] method, so `update` may send actions freely.
pub fn connect<M: Model, Ms: 'static>(
    url: impl Into<String>,
    options: FlowOptions,
    orders: &mut impl Orders<Ms>,
    to_msg: impl FnMut(FlowMsg<M::State, M::Event>) -> Ms + 'static,
) -> Flow<M> {
    let (sender, receiver) = unbounded::<FlowMsg<M::State, M::Event>>();
    let messages = orders.stream_with_handle(receiver.map(to_msg));
    // Fails only once the app dropped the Flow: nobody listens.
    let to_app = sender.clone();
    let send = move |msg| drop(to_app.unbounded_send(msg));
    // The diff of the latest presence event, sent with the member list.
    let diff = Rc::new(RefCell::new(PresenceDiff::default()));
    let last_diff = Rc::clone(&diff);
    let binding = Binding::connect_with_events(
        url,
        &options,
        move |part, latest| {
            let msg = match part {
                Part::State => FlowMsg::State(latest.state()),
                Part::Status => FlowMsg::Status(latest.status()),
                Part::Latency => match latest.latency() {
                    Some(rtt) => FlowMsg::Latency(rtt),
                    None => return,
                },
                Part::Presence => FlowMsg::Presence {
                    members: latest.presence(),
                    diff: last_diff.take(),
                },
                _ => return,
            };
            send(msg);
        },
        move |event: &Event<M::State, M::Event>| {
            if let Event::Presence(now) = event {
                *diff.borrow_mut() = now.clone();
            } else if let Some(msg) = event_msg(event) {
                let _ = sender.unbounded_send(msg);
            }
        },
    );
    Flow {
        binding,
        _messages: messages,
    }
}

/// Joins `resource` on a connection's socket (a [`Flow`]'s
/// [`socket`](Flow::socket)) instead of opening another: one socket per
/// page. Its events arrive as `to_msg(FlowMsg)` like [`connect`]'s, plus
/// [`FlowMsg::Resource`] for where the resource stands; `FlowMsg::Status`
/// is the shared connection's. Dropping the returned [`Flow`] (or
/// [`close`](Flow::close)) leaves the resource and keeps the connection.
/// The options' domains, notifications kept and signal handler apply; the
/// token and connection policy are the connection's.
pub fn join<M: Model, Ms: 'static>(
    socket: &FlowSocket,
    resource: impl Into<String>,
    options: FlowOptions,
    orders: &mut impl Orders<Ms>,
    to_msg: impl FnMut(FlowMsg<M::State, M::Event>) -> Ms + 'static,
) -> Flow<M> {
    let (sender, receiver) = unbounded::<FlowMsg<M::State, M::Event>>();
    let messages = orders.stream_with_handle(receiver.map(to_msg));
    let to_app = sender.clone();
    let send = move |msg| drop(to_app.unbounded_send(msg));
    let binding = Binding::join_with_events(
        socket,
        resource,
        &options,
        move |part, latest| {
            let msg = match part {
                Part::State => FlowMsg::State(latest.state()),
                Part::Status => FlowMsg::Status(latest.status()),
                Part::Presence => FlowMsg::Presence {
                    members: latest.presence(),
                    diff: PresenceDiff::default(),
                },
                Part::Resource => match latest.resource_status() {
                    Some(status) => FlowMsg::Resource(status),
                    None => return,
                },
                _ => return,
            };
            send(msg);
        },
        move |event: &ResourceEvent<M>| {
            if let Some(msg) = resource_event_msg(event) {
                let _ = sender.unbounded_send(msg);
            }
        },
    );
    Flow {
        binding,
        _messages: messages,
    }
}

/// The message for a joined resource's event the binding's values do not
/// cover.
fn resource_event_msg<M: Model>(event: &ResourceEvent<M>) -> Option<FlowMsg<M::State, M::Event>> {
    Some(match event {
        ResourceEvent::Delta { delta, seq } => FlowMsg::Delta {
            delta: delta.clone(),
            seq: *seq,
        },
        ResourceEvent::Action { op_id, state } => FlowMsg::Action {
            op_id: *op_id,
            state: state.clone(),
        },
        ResourceEvent::Notify {
            domain,
            event,
            correlation_id,
        } => FlowMsg::Notify {
            domain: domain.clone(),
            event: event.clone(),
            correlation_id: *correlation_id,
        },
        ResourceEvent::Signal {
            from_user_id,
            signal,
        } => FlowMsg::Signal {
            from_user_id: from_user_id.clone(),
            signal: signal.clone(),
        },
        ResourceEvent::ServerError { code, message } => FlowMsg::ServerError {
            code: code.clone(),
            message: message.clone(),
            fatal: false,
        },
        _ => return None,
    })
}

/// The message for an event the binding's values do not cover.
fn event_msg<S, E>(event: &Event<S, E>) -> Option<FlowMsg<S, E>>
where
    S: FlowState + Clone,
    S::Delta: Clone,
    E: Clone,
{
    Some(match event {
        Event::Snapshot { state, seq, .. } => FlowMsg::Snapshot {
            state: state.clone(),
            seq: *seq,
        },
        Event::Delta { delta, seq } => FlowMsg::Delta {
            delta: delta.clone(),
            seq: *seq,
        },
        Event::Action { op_id, state } => FlowMsg::Action {
            op_id: *op_id,
            state: state.clone(),
        },
        Event::Notify {
            domain,
            event,
            correlation_id,
        } => FlowMsg::Notify {
            domain: domain.clone(),
            event: event.clone(),
            correlation_id: *correlation_id,
        },
        Event::Signal {
            from_user_id,
            signal,
        } => FlowMsg::Signal {
            from_user_id: from_user_id.clone(),
            signal: signal.clone(),
        },
        Event::ServerError {
            code,
            message,
            fatal,
        } => FlowMsg::ServerError {
            code: code.clone(),
            message: message.clone(),
            fatal: *fatal,
        },
        _ => return None,
    })
}

impl<M: Model> Flow<M> {
    /// The connection's socket, to [`join`] further resources on it; `None`
    /// for a flow that could not connect, or one made by [`join`] (use the
    /// socket it was joined on).
    pub fn socket(&self) -> Option<FlowSocket> {
        self.binding.connection().map(|c| c.socket())
    }

    /// Where a resource made by [`join`] stands; `None` for a flow made by
    /// [`connect`].
    pub fn resource_status(&self) -> Option<ResourceStatus> {
        self.binding.latest().resource_status()
    }

    /// Sends an action, with an optional change to show at once until its
    /// outcome arrives (rolled back if the server rejects it). Its progress
    /// and outcome arrive as [`FlowMsg::Action`] and in [`ops`](Self::ops).
    pub fn send(&self, action: M::Action, optimistic: Option<M::Delta>) -> Result<OpId, Error> {
        self.binding.send(action, optimistic)
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
        self.binding.subscribe(domains)
    }

    /// Stops notifications in these domains.
    pub fn unsubscribe<D: Into<String>>(
        &self,
        domains: impl IntoIterator<Item = D>,
    ) -> Result<(), Error> {
        self.binding.unsubscribe(domains)
    }

    /// Sends a WebRTC signalling message to another user of the resource.
    pub fn send_signal(
        &self,
        target_user_id: impl Into<String>,
        signal: SignalPayload,
    ) -> Result<(), Error> {
        self.binding.send_signal(target_user_id, signal)
    }

    /// Asks the server to catch up now.
    pub fn resync(&self) -> Result<(), Error> {
        self.binding.resync()
    }

    /// Sets the presence this connection reports in its pings; see
    /// [`Binding::set_presence`].
    pub fn set_presence(&self, report: Option<PresenceStatus>) -> Result<(), Error> {
        self.binding.set_presence(report)
    }

    /// The state to show now, shared with the client (not a copy).
    pub fn state(&self) -> Arc<M::State> {
        self.binding.latest().state()
    }

    /// Where the connection stands now.
    pub fn status(&self) -> ConnectionStatus {
        self.binding.latest().status()
    }

    /// The actions sent through this `Flow`, oldest first, with their state.
    pub fn ops(&self) -> Arc<Vec<(OpId, OpState)>> {
        self.binding.latest().ops()
    }

    /// One action's state, while [`ops`](Self::ops) lists it.
    pub fn op(&self, op_id: OpId) -> Option<OpState> {
        self.binding.latest().op(op_id)
    }

    /// Closes the connection for good; a last [`FlowMsg::Status`] follows.
    pub fn close(&self) {
        self.binding.close();
    }
}
