//! [`use_flow`] and the value it returns: the Leptos mapping of
//! [`ui_flow::client::Binding`], one signal per [`Part`]; and
//! [`provide_flow_socket`] with [`use_flow_on`], which put every resource
//! of a page on one socket.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use leptos::prelude::*;
use ui_flow::client::{Binding, FlowOptions, Notification, OpState, Part, ResourceStatus};
use ui_flow::{
    ApiMisuse, CloseReason, ConnectionStatus, Error, FlowSocket, Model, OpId, PresenceInfo,
    PresenceStatus, SignalPayload,
};

/// A [`Model`] whose state and events can live in Leptos signals, which
/// need `Send + Sync` even in the browser. Every model of plain data is
/// one; it is a bound, implemented for every such model, never by hand.
pub trait SignalModel: Model<State: Send + Sync, Event: Send + Sync> {}

impl<M: Model<State: Send + Sync, Event: Send + Sync>> SignalModel for M {}

/// What [`use_flow`] returns: signals to read and methods to act.
///
/// It is `Copy`, so closures in a view can capture it freely. Every signal
/// starts empty (the state's `Default`, `Connecting`, ...) and follows the
/// connection from then on. The state, actions, presence and notifications
/// are shared `Arc`s: reading a signal never copies them. Methods fail with
/// [`ApiMisuse::Closed`] once the scope is disposed or
/// [`close`](Self::close) was called; a URL or token the client refuses
/// shows as the status `Closed { reason: Misconfigured }`.
pub struct UseFlow<M: SignalModel> {
    /// The state to show: the server's confirmed state with the optimistic
    /// changes of unresolved actions on top.
    pub state: Signal<Arc<M::State>>,
    /// Where the connection stands.
    pub status: Signal<ConnectionStatus>,
    /// The last measured round trip.
    pub latency: Signal<Option<Duration>>,
    /// The epoch of the last snapshot (see
    /// [`Latest::epoch`](ui_flow::client::Latest::epoch)).
    pub epoch: Signal<Option<u32>>,
    /// The actions sent through this value, oldest first, with their state
    /// (pending, progress, ok, error); see
    /// [`Latest::ops`](ui_flow::client::Latest::ops).
    pub ops: Signal<Arc<Vec<(OpId, OpState)>>>,
    /// Everyone connected to the resource.
    pub presence: Signal<Arc<Vec<PresenceInfo>>>,
    /// The most recent notifications, oldest first.
    pub notifications: Signal<Arc<Vec<Notification<M::Event>>>>,
    /// Where the resource stands on its shared socket, for a value from
    /// [`use_flow_on`] of a resource other than the socket URL's; `None`
    /// otherwise (see [`Latest::resource_status`](ui_flow::client::Latest::resource_status)).
    pub resource_status: Signal<Option<ResourceStatus>>,
    binding: StoredValue<Option<Binding<M>>, LocalStorage>,
}

impl<M: SignalModel> Clone for UseFlow<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: SignalModel> Copy for UseFlow<M> {}

/// Opens a connection to `url` (`ws://` or `wss://host/realtime/{resource}`)
/// for the current reactive scope, with default options.
///
/// Must run inside a reactive owner (a component or `Owner::with`): the
/// connection closes when that owner is cleaned up.
pub fn use_flow<M: SignalModel>(url: impl Into<String>) -> UseFlow<M> {
    use_flow_with_options(url, FlowOptions::default())
}

/// [`use_flow`] with [`FlowOptions`]: token, initial subscriptions,
/// connection policy, how many notifications to keep, WebRTC signals.
pub fn use_flow_with_options<M: SignalModel>(
    url: impl Into<String>,
    options: FlowOptions,
) -> UseFlow<M> {
    bind(|on_change| Some(Binding::<M>::connect(url, &options, on_change)))
}

/// Signals fed by the binding `make` builds with the change listener it is
/// given (none: the value is closed as misconfigured); the binding is
/// closed when the owner is cleaned up.
fn bind<M: SignalModel>(
    make: impl FnOnce(
        Box<dyn FnMut(Part, &ui_flow::client::Latest<M::State, M::Event>)>,
    ) -> Option<Binding<M>>,
) -> UseFlow<M> {
    let state = RwSignal::new(Arc::new(M::State::default()));
    let status = RwSignal::new(ConnectionStatus::Connecting);
    let latency = RwSignal::new(None);
    let epoch = RwSignal::new(None);
    let ops = RwSignal::new(Arc::new(Vec::new()));
    let presence = RwSignal::new(Arc::new(Vec::new()));
    let notifications = RwSignal::new(Arc::new(Vec::new()));
    let resource_status = RwSignal::new(None);

    // Writes signals only; it holds no handle to the binding, so the
    // connection (or the joined resource) lives exactly as long as the
    // scope's stored value.
    let binding = make(Box::new(move |part, latest| {
        match part {
            Part::State => state.try_set(latest.state()).map(drop),
            Part::Status => status.try_set(latest.status()).map(drop),
            Part::Latency => latency.try_set(latest.latency()).map(drop),
            Part::Epoch => epoch.try_set(latest.epoch()).map(drop),
            Part::Ops => ops.try_set(latest.ops()).map(drop),
            Part::Presence => presence.try_set(latest.presence()).map(drop),
            Part::Notifications => notifications.try_set(latest.notifications()).map(drop),
            Part::Resource => resource_status.try_set(latest.resource_status()).map(drop),
            _ => None,
        };
    }));
    match &binding {
        // A binding that could not connect (or join) is closed already.
        Some(binding) => {
            status.set(binding.latest().status());
            resource_status.set(binding.latest().resource_status());
        }
        None => status.set(ConnectionStatus::Closed {
            reason: CloseReason::Misconfigured {
                message: "use_flow_on needs provide_flow_socket in an enclosing scope".into(),
            },
        }),
    }
    let binding = StoredValue::new_local(binding);
    on_cleanup(move || {
        binding.try_with_value(|b| b.as_ref().map(Binding::close));
    });

    UseFlow {
        state: state.into(),
        status: status.into(),
        latency: latency.into(),
        epoch: epoch.into(),
        ops: ops.into(),
        presence: presence.into(),
        notifications: notifications.into(),
        resource_status: resource_status.into(),
        binding,
    }
}

/// The page's one socket, provided by [`provide_flow_socket`].
#[derive(Clone)]
struct SharedSocket {
    /// Held by the provider's scope (a socket is not `Send` in a browser).
    socket: StoredValue<Option<FlowSocket>, LocalStorage>,
    url_resource: String,
    /// The `UseFlow<U>` of the socket URL's resource.
    url_flow: Arc<dyn Any + Send + Sync>,
}

/// Opens one connection to `url` for the current scope and everything
/// under it, and returns its URL resource's value (like
/// [`use_flow_with_options`]). Every [`use_flow_on`] below joins its
/// resource on this same socket instead of opening another; the socket
/// closes when this scope is cleaned up.
///
/// `U` is the URL resource's model; a `use_flow_on::<U>` of that resource
/// gets this same value. What it is not: a pool of connections. A page
/// that needs two servers calls it in two sibling scopes.
pub fn provide_flow_socket<U: SignalModel>(
    url: impl Into<String>,
    options: FlowOptions,
) -> UseFlow<U> {
    let url: String = url.into();
    let flow = use_flow_with_options::<U>(url, options);
    let socket = flow
        .binding
        .try_with_value(|b| b.as_ref().and_then(|b| b.connection().map(|c| c.socket())))
        .flatten();
    let url_resource = socket
        .as_ref()
        .map(|s| s.url_resource().to_owned())
        .unwrap_or_default();
    provide_context(SharedSocket {
        socket: StoredValue::new_local(socket),
        url_resource,
        url_flow: Arc::new(flow),
    });
    flow
}

/// The value of `resource` on the socket of the nearest
/// [`provide_flow_socket`] above: the URL's own value when `resource` is
/// the socket URL's resource (and `M` its model), otherwise a resource
/// joined on that socket as a channel, left when this scope is cleaned up.
/// With default options; see [`use_flow_on_with_options`].
///
/// Its `status` is the shared socket's, and `resource_status` says where
/// the resource stands (a server without channels, or over its limit,
/// leaves it `Left` with code `channel_limit`). Without a provider above,
/// the status is `Closed { Misconfigured }`.
pub fn use_flow_on<M: SignalModel>(resource: impl Into<String>) -> UseFlow<M> {
    use_flow_on_with_options(resource, FlowOptions::default())
}

/// [`use_flow_on`] with [`FlowOptions`]: the domains, notifications kept,
/// settled actions kept, WebRTC signals and state scope apply to this
/// resource; the token and connection policy are the provider's.
pub fn use_flow_on_with_options<M: SignalModel>(
    resource: impl Into<String>,
    options: FlowOptions,
) -> UseFlow<M> {
    let resource: String = resource.into();
    let shared = use_context::<SharedSocket>();
    if let Some(shared) = &shared
        && resource == shared.url_resource
        && let Some(flow) = shared.url_flow.downcast_ref::<UseFlow<M>>()
    {
        return *flow;
    }
    let socket = shared.and_then(|shared| shared.socket.try_get_value().flatten());
    bind(move |on_change| {
        socket.map(|socket| Binding::<M>::join(&socket, resource, &options, on_change))
    })
}

impl<M: SignalModel> UseFlow<M> {
    fn with_binding<R>(&self, f: impl FnOnce(&Binding<M>) -> Result<R, Error>) -> Result<R, Error> {
        self.binding
            .try_with_value(|b| match b {
                Some(b) => f(b),
                None => Err(ApiMisuse::Closed.into()),
            })
            .unwrap_or(Err(ApiMisuse::Closed.into()))
    }

    /// Sends an action, with an optional change to show at once until its
    /// outcome arrives (rolled back if the server rejects it). Returns its
    /// op id; its progress and outcome appear in [`ops`](Self::ops).
    pub fn send(&self, action: M::Action, optimistic: Option<M::Delta>) -> Result<OpId, Error> {
        self.with_binding(|b| b.send(action, optimistic))
    }

    /// Sends an action without an optimistic change.
    pub fn send_action(&self, action: M::Action) -> Result<OpId, Error> {
        self.send(action, None)
    }

    /// Sends an action and shows `change` until its outcome arrives.
    pub fn send_optimistic(&self, action: M::Action, change: M::Delta) -> Result<OpId, Error> {
        self.send(action, Some(change))
    }

    /// One action's state, while [`ops`](Self::ops) lists it (untracked).
    pub fn op(&self, op_id: OpId) -> Option<OpState> {
        self.binding
            .try_with_value(|b| b.as_ref().and_then(|b| b.latest().op(op_id)))
            .flatten()
    }

    /// Receives notifications in these domains from now on (and after
    /// every reconnect).
    pub fn subscribe<D: Into<String>>(
        &self,
        domains: impl IntoIterator<Item = D>,
    ) -> Result<(), Error> {
        self.with_binding(|b| b.subscribe(domains))
    }

    /// Stops notifications in these domains.
    pub fn unsubscribe<D: Into<String>>(
        &self,
        domains: impl IntoIterator<Item = D>,
    ) -> Result<(), Error> {
        self.with_binding(|b| b.unsubscribe(domains))
    }

    /// Sends a WebRTC signalling message to another user of the resource.
    pub fn send_signal(
        &self,
        target_user_id: impl Into<String>,
        signal: SignalPayload,
    ) -> Result<(), Error> {
        self.with_binding(|b| b.send_signal(target_user_id, signal))
    }

    /// Sets the presence this connection reports in its pings; see
    /// [`Binding::set_presence`].
    pub fn set_presence(&self, report: Option<PresenceStatus>) -> Result<(), Error> {
        self.with_binding(|b| b.set_presence(report))
    }

    /// Asks the server to catch up now.
    pub fn resync(&self) -> Result<(), Error> {
        self.with_binding(Binding::resync)
    }

    /// Closes the connection for good, before the scope ends (for a value
    /// of [`use_flow_on`] on a joined resource: leaves the resource).
    pub fn close(&self) {
        self.binding
            .try_with_value(|b| b.as_ref().map(Binding::close));
    }
}
