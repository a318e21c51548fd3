//! The hooks, the provider component and the handle they return.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use ui_flow::client::{FlowOptions, Latest, Notification, OpState, ResourceStatus};
use ui_flow::{
    ConnectionStatus, Error, FlowSocket, Model, OpId, PresenceInfo, PresenceStatus, SignalPayload,
};
use yew::prelude::*;

use crate::store::{Concern, Listener, Store};

/// A store compared by identity, for hook dependencies and the context.
struct Shared<M: Model>(Rc<Store<M>>);

impl<M: Model> Clone for Shared<M> {
    fn clone(&self) -> Self {
        Shared(Rc::clone(&self.0))
    }
}

impl<M: Model> PartialEq for Shared<M> {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

/// What [`use_flow`] and [`use_flow_context`] return: getters for the
/// connection's latest values and methods to act on it.
///
/// Reading a value (`state()`, `status()`, ...) during a render subscribes
/// the component to that value only: the component re-renders when
/// something it read in its last render changes, and not for the rest. So
/// a status badge that calls only `status()` does not re-render for each
/// state delta.
pub struct UseFlowHandle<M: Model> {
    store: Rc<Store<M>>,
    listener: Rc<Listener>,
}

impl<M: Model> Clone for UseFlowHandle<M> {
    fn clone(&self) -> Self {
        UseFlowHandle {
            store: Rc::clone(&self.store),
            listener: Rc::clone(&self.listener),
        }
    }
}

/// Two handles are equal when they use the same connection.
impl<M: Model> PartialEq for UseFlowHandle<M> {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.store, &other.store)
    }
}

impl<M: Model> UseFlowHandle<M> {
    fn latest(&self, concern: Concern) -> &Latest<M::State, M::Event> {
        self.listener.read(concern);
        self.store.binding.latest()
    }

    /// The state to show: the server's confirmed state with the optimistic
    /// changes of unresolved actions on top, shared (never copied).
    pub fn state(&self) -> Arc<M::State> {
        self.latest(Concern::State).state()
    }

    /// Where the connection stands. A URL or token the client refuses
    /// shows as `Closed { reason: Misconfigured }`.
    pub fn status(&self) -> ConnectionStatus {
        self.latest(Concern::Status).status()
    }

    /// The last measured round trip.
    pub fn latency(&self) -> Option<Duration> {
        self.latest(Concern::Latency).latency()
    }

    /// The epoch of the last snapshot (see [`Latest::epoch`]).
    pub fn epoch(&self) -> Option<u32> {
        self.latest(Concern::Epoch).epoch()
    }

    /// The actions sent through this connection's handles, oldest first,
    /// with their state (see [`Latest::ops`]).
    pub fn ops(&self) -> Arc<Vec<(OpId, OpState)>> {
        self.latest(Concern::Ops).ops()
    }

    /// One action's state, while [`ops`](Self::ops) lists it.
    pub fn op(&self, op_id: OpId) -> Option<OpState> {
        self.latest(Concern::Ops).op(op_id)
    }

    /// Everyone connected to the resource.
    pub fn presence(&self) -> Arc<Vec<PresenceInfo>> {
        self.latest(Concern::Presence).presence()
    }

    /// The most recent notifications, oldest first.
    pub fn notifications(&self) -> Arc<Vec<Notification<M::Event>>> {
        self.latest(Concern::Notifications).notifications()
    }

    /// Where the resource stands on its shared socket, for a handle from
    /// [`use_flow_on`] of a resource other than the provider URL's; `None`
    /// otherwise (see [`Latest::resource_status`]).
    pub fn resource_status(&self) -> Option<ResourceStatus> {
        self.latest(Concern::Resource).resource_status()
    }

    /// Sends an action, with an optional change to show at once until its
    /// outcome arrives (rolled back if the server rejects it). Returns its
    /// op id; its progress and outcome appear in [`ops`](Self::ops).
    pub fn send(&self, action: M::Action, optimistic: Option<M::Delta>) -> Result<OpId, Error> {
        self.store.binding.send(action, optimistic)
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
        self.store.binding.subscribe(domains)
    }

    /// Stops notifications in these domains.
    pub fn unsubscribe<D: Into<String>>(
        &self,
        domains: impl IntoIterator<Item = D>,
    ) -> Result<(), Error> {
        self.store.binding.unsubscribe(domains)
    }

    /// Sends a WebRTC signalling message to another user of the resource.
    pub fn send_signal(
        &self,
        target_user_id: impl Into<String>,
        signal: SignalPayload,
    ) -> Result<(), Error> {
        self.store.binding.send_signal(target_user_id, signal)
    }

    /// Asks the server to catch up now.
    pub fn resync(&self) -> Result<(), Error> {
        self.store.binding.resync()
    }

    /// Sets the presence this connection reports in its pings; see
    /// [`Binding::set_presence`](ui_flow::client::Binding::set_presence).
    pub fn set_presence(&self, report: Option<PresenceStatus>) -> Result<(), Error> {
        self.store.binding.set_presence(report)
    }

    /// Closes the connection for good, before the owning component
    /// unmounts.
    pub fn close(&self) {
        self.store.binding.close();
    }
}

/// The connection owned by the calling component: opened on its first
/// render, opened again when `url` or `options` change, closed when it
/// unmounts.
#[hook]
fn use_store<M: Model>(url: &str, options: &FlowOptions) -> Rc<Store<M>> {
    let store = use_memo((url.to_owned(), options.clone()), |(url, options)| {
        Shared(Store::open(url, options))
    });
    use_effect_with((*store).clone(), |shared| {
        let store = Rc::clone(&shared.0);
        move || store.binding.close()
    });
    Rc::clone(&store.0)
}

/// The calling component's listener on `store`: what it reads, and how to
/// re-render it. Without a store (no provider) it listens to nothing; the
/// hooks inside run either way, as hooks must.
#[hook]
fn use_listener<M: Model>(store: Option<Rc<Store<M>>>) -> Rc<Listener> {
    let rerender = use_force_update();
    let listener = use_memo(store.map(Shared), move |shared| {
        let listener = Rc::new(Listener::new(rerender));
        if let Some(shared) = shared {
            shared.0.listen(&listener);
        }
        listener
    });
    let listener = Rc::clone(&*listener);
    listener.rendering();
    listener
}

/// Opens a ui-flow connection to `url` (`ws://` or
/// `wss://host/realtime/{resource}`) for this component and returns its
/// handle. The connection closes when the component unmounts, and is
/// replaced when `url` or `options` change.
///
/// To share one connection between components, use [`FlowProvider`] and
/// [`use_flow_context`] instead.
#[hook]
pub fn use_flow<M: Model>(url: &str, options: FlowOptions) -> UseFlowHandle<M> {
    let store = use_store(url, &options);
    let listener = use_listener(Some(Rc::clone(&store)));
    UseFlowHandle { store, listener }
}

/// The context [`FlowProvider`] provides.
struct FlowContext<M: Model>(Shared<M>);

impl<M: Model> Clone for FlowContext<M> {
    fn clone(&self) -> Self {
        FlowContext(self.0.clone())
    }
}

impl<M: Model> PartialEq for FlowContext<M> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

/// The properties of [`FlowProvider`].
#[derive(Properties, PartialEq)]
pub struct FlowProviderProps {
    /// The server's WebSocket URL.
    pub url: AttrValue,
    /// Subscriptions, connection policy, notifications kept.
    #[prop_or_default]
    pub options: FlowOptions,
    /// The components that may call [`use_flow_context`].
    #[prop_or_default]
    pub children: Html,
}

/// The socket of the nearest [`FlowProvider`], whatever its model.
#[derive(Clone, PartialEq)]
struct SocketContext {
    socket: Option<FlowSocket>,
    url_resource: AttrValue,
}

/// Owns one connection and lets every component below it use it through
/// [`use_flow_context`], each re-rendering only for what it reads, and
/// join further resources on the same socket with [`use_flow_on`].
#[component]
pub fn FlowProvider<M: Model>(props: &FlowProviderProps) -> Html {
    let store = use_store::<M>(&props.url, &props.options);
    let socket = store.binding.connection().map(|c| c.socket());
    let sockets = SocketContext {
        url_resource: socket
            .as_ref()
            .map(|s| AttrValue::from(s.url_resource().to_owned()))
            .unwrap_or_default(),
        socket,
    };
    let context = FlowContext(Shared(store));
    html! {
        <ContextProvider<SocketContext> context={sockets}>
            <ContextProvider<FlowContext<M>> {context}>
                {props.children.clone()}
            </ContextProvider<FlowContext<M>>>
        </ContextProvider<SocketContext>>
    }
}

/// `resource` on the socket of the nearest [`FlowProvider`] above (of any
/// model), or `None` without one. For the provider URL's own resource
/// (with the provider's model) it is [`use_flow_context`]; any other
/// resource is joined on the provider's socket as a channel when the
/// component first renders (again when `resource` or `options` change)
/// and left when it unmounts, so a page with several resources opens one
/// socket. The handle's `status()` is the shared socket's;
/// `resource_status()` says where the resource stands (left with code
/// `channel_limit` on a server without channels). The options' domains,
/// notifications kept and signal handler apply; the token and connection
/// policy are the provider's.
#[hook]
pub fn use_flow_on<M: Model>(resource: &str, options: FlowOptions) -> Option<UseFlowHandle<M>> {
    let sockets = use_context::<SocketContext>();
    let url_store = use_context::<FlowContext<M>>().map(|context| context.0.0);
    let is_url =
        sockets.as_ref().is_some_and(|s| s.url_resource == resource) && url_store.is_some();
    let socket = sockets.and_then(|s| s.socket).filter(|_| !is_url);
    let joined = use_memo(
        (socket, AttrValue::from(resource.to_owned()), options),
        |(socket, resource, options)| {
            socket
                .as_ref()
                .map(|socket| Shared(Store::join(socket, resource, options)))
        },
    );
    use_effect_with((*joined).clone(), |joined| {
        let store = joined.as_ref().map(|shared| Rc::clone(&shared.0));
        move || {
            if let Some(store) = store {
                store.binding.close();
            }
        }
    });
    let store = (*joined).clone().map(|shared| shared.0).or(url_store);
    let listener = use_listener(store.clone());
    store.map(|store| UseFlowHandle { store, listener })
}

/// The connection of the nearest [`FlowProvider`] with these types above
/// the calling component, or `None` when there is none.
#[hook]
pub fn use_flow_context<M: Model>() -> Option<UseFlowHandle<M>> {
    let store = use_context::<FlowContext<M>>().map(|context| context.0.0);
    let listener = use_listener(store.clone());
    store.map(|store| UseFlowHandle { store, listener })
}
