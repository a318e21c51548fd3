//! The hooks, the provider component and the handle they return.

use std::rc::Rc;
use std::time::Duration;

use ui_flow::client::{FlowConnection, OpState};
use ui_flow::{
    ApiMisuse, ConnectionStatus, Error, Model, OpId, PresenceInfo, PresenceStatus, SignalPayload,
};
use yew::prelude::*;

use crate::store::{Concern, Listener, Notification, Store, UseFlowOptions};

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
    /// The state to show: the server's confirmed state with the optimistic
    /// changes of unresolved actions on top.
    pub fn state(&self) -> Rc<M::State> {
        self.listener.read(Concern::State);
        Rc::clone(&self.store.values.borrow().state)
    }

    /// Where the connection stands.
    pub fn status(&self) -> ConnectionStatus {
        self.listener.read(Concern::Status);
        self.store.values.borrow().status.clone()
    }

    /// The last measured round trip.
    pub fn latency(&self) -> Option<Duration> {
        self.listener.read(Concern::Latency);
        self.store.values.borrow().latency
    }

    /// The actions sent through this connection's handles, oldest first,
    /// with their state, for as long as the client keeps them.
    pub fn ops(&self) -> Rc<Vec<(OpId, OpState)>> {
        self.listener.read(Concern::Ops);
        Rc::clone(&self.store.values.borrow().ops)
    }

    /// One action's state, while it is known.
    pub fn op(&self, op_id: OpId) -> Option<OpState> {
        self.ops()
            .iter()
            .find(|(id, _)| *id == op_id)
            .map(|(_, state)| state.clone())
    }

    /// Everyone connected to the resource.
    pub fn presence(&self) -> Rc<Vec<PresenceInfo>> {
        self.listener.read(Concern::Presence);
        Rc::clone(&self.store.values.borrow().presence)
    }

    /// The most recent notifications, oldest first.
    pub fn notifications(&self) -> Rc<Vec<Notification<M::Event>>> {
        self.listener.read(Concern::Notifications);
        Rc::clone(&self.store.values.borrow().notifications)
    }

    fn with_connection<R>(
        &self,
        f: impl FnOnce(&FlowConnection<M>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        match &self.store.connection {
            Some(connection) => f(connection),
            None => Err(ApiMisuse::Closed.into()),
        }
    }

    /// Sends an action, with an optional change to show at once until its
    /// outcome arrives (rolled back if the server rejects it). Returns its
    /// op id; its progress and outcome appear in [`ops`](Self::ops).
    pub fn send(&self, action: M::Action, optimistic: Option<M::Delta>) -> Result<OpId, Error> {
        let op_id = self.with_connection(|c| match optimistic {
            Some(change) => c.send_optimistic(action, change),
            None => c.send_action(action),
        })?;
        self.store.issued(op_id);
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
        self.with_connection(|c| Ok(c.subscribe(domains)?))
    }

    /// Stops notifications in these domains.
    pub fn unsubscribe<D: Into<String>>(
        &self,
        domains: impl IntoIterator<Item = D>,
    ) -> Result<(), Error> {
        self.with_connection(|c| Ok(c.unsubscribe(domains)?))
    }

    /// Sends a WebRTC signalling message to another user of the resource.
    pub fn send_signal(
        &self,
        target_user_id: impl Into<String>,
        signal: SignalPayload,
    ) -> Result<(), Error> {
        self.with_connection(|c| c.send_signal(target_user_id, signal))
    }

    /// Asks the server to catch up now.
    pub fn resync(&self) -> Result<(), Error> {
        self.with_connection(|c| Ok(c.resync()?))
    }

    /// Sets the presence this connection reports in its pings (`idle` after
    /// a quiet spell, `active` again on input); `None` reports nothing. The
    /// client reports `away` and `active` by itself when the page is hidden
    /// or shown.
    pub fn set_presence(&self, report: Option<PresenceStatus>) -> Result<(), Error> {
        self.with_connection(|c| {
            c.set_presence(report);
            Ok(())
        })
    }

    /// Closes the connection for good, before the owning component
    /// unmounts.
    pub fn close(&self) {
        self.store.close();
    }
}

/// The connection owned by the calling component: opened on its first
/// render, opened again when `url` or `options` change, closed when it
/// unmounts.
#[hook]
fn use_store<M: Model>(url: &str, options: &UseFlowOptions) -> Rc<Store<M>> {
    let store = use_memo((url.to_owned(), options.clone()), |(url, options)| {
        Shared(Store::open(url, options))
    });
    use_effect_with((*store).clone(), |shared| {
        let store = Rc::clone(&shared.0);
        move || store.close()
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
pub fn use_flow<M: Model>(url: &str, options: UseFlowOptions) -> UseFlowHandle<M> {
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
    pub options: UseFlowOptions,
    /// The components that may call [`use_flow_context`].
    #[prop_or_default]
    pub children: Html,
}

/// Owns one connection and lets every component below it use it through
/// [`use_flow_context`], each re-rendering only for what it reads.
#[component]
pub fn FlowProvider<M: Model>(props: &FlowProviderProps) -> Html {
    let store = use_store::<M>(&props.url, &props.options);
    let context = FlowContext(Shared(store));
    html! {
        <ContextProvider<FlowContext<M>> {context}>
            {props.children.clone()}
        </ContextProvider<FlowContext<M>>>
    }
}

/// The connection of the nearest [`FlowProvider`] with these types above
/// the calling component, or `None` when there is none.
#[hook]
pub fn use_flow_context<M: Model>() -> Option<UseFlowHandle<M>> {
    let store = use_context::<FlowContext<M>>().map(|context| context.0.0);
    let listener = use_listener(store.clone());
    store.map(|store| UseFlowHandle { store, listener })
}
