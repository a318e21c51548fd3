//! [`use_flow`] and the value it returns.

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::*;
use ui_flow::client::{ClientConfig, Event, FlowConnection, OpState};
use ui_flow::{
    ApiMisuse, ConnectionStatus, Error, Model, OpId, PresenceInfo, PresenceStatus, SignalPayload,
};

/// How [`use_flow_with_options`] connects.
#[derive(Debug, Clone)]
pub struct UseFlowOptions {
    domains: Vec<String>,
    config: ClientConfig,
    notifications_kept: usize,
    on_signal: Option<SignalHandler>,
    token: Option<Token>,
}

/// The token to authenticate with, fixed or asked before every dial.
#[derive(Clone)]
enum Token {
    Fixed(String),
    Provider(Rc<dyn Fn() -> Option<String>>),
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// What the application does with an incoming WebRTC signal.
type SignalFn = dyn Fn(&str, SignalPayload);

/// The application's handler for incoming WebRTC signals.
#[derive(Clone)]
struct SignalHandler(Rc<SignalFn>);

impl fmt::Debug for SignalHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignalHandler")
    }
}

impl Default for UseFlowOptions {
    fn default() -> Self {
        UseFlowOptions {
            domains: Vec::new(),
            config: ClientConfig::default(),
            notifications_kept: Self::DEFAULT_NOTIFICATIONS_KEPT,
            on_signal: None,
            token: None,
        }
    }
}

impl UseFlowOptions {
    /// Default for [`notifications_kept`](Self::notifications_kept).
    pub const DEFAULT_NOTIFICATIONS_KEPT: usize = 32;

    /// The token to authenticate with, sent in the `Sec-WebSocket-Protocol`
    /// header on every (re)connect rather than in the URL. It must be a
    /// header token (a JWT or base64url text qualifies).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Token::Fixed(token.into()));
        self
    }

    /// Asks `provide` for the token before every (re)connect, so an
    /// expiring token can be refreshed; replaces [`token`](Self::token).
    pub fn token_provider(mut self, provide: impl Fn() -> Option<String> + 'static) -> Self {
        self.token = Some(Token::Provider(Rc::new(provide)));
        self
    }

    /// Notification domains to subscribe to from the start.
    pub fn subscribe<D: Into<String>>(mut self, domains: impl IntoIterator<Item = D>) -> Self {
        self.domains.extend(domains.into_iter().map(Into::into));
        self
    }

    /// The client's connection policy (backoff, pings, queue bound),
    /// checked here so that connecting cannot fail later.
    pub fn config(mut self, config: ClientConfig) -> Result<Self, ApiMisuse> {
        config.validate()?;
        self.config = config;
        Ok(self)
    }

    /// How many of the most recent notifications
    /// [`UseFlow::notifications`] holds (default 32).
    pub fn notifications_kept(mut self, kept: usize) -> Self {
        self.notifications_kept = kept;
        self
    }

    /// Called with each WebRTC signal another user sent us (its sender and
    /// payload), in order. A callback rather than a signal, so a burst of
    /// ICE candidates is never collapsed into its last one.
    pub fn on_signal(mut self, f: impl Fn(&str, SignalPayload) + 'static) -> Self {
        self.on_signal = Some(SignalHandler(Rc::new(f)));
        self
    }
}

/// A [`Model`] whose state and events can live in Leptos signals, which
/// need `Send + Sync` even in the browser. Every model of plain data is
/// one; it is a bound, implemented for every such model, never by hand.
pub trait SignalModel: Model<State: Send + Sync, Event: Send + Sync> {}

impl<M: Model<State: Send + Sync, Event: Send + Sync>> SignalModel for M {}

/// A notification as [`UseFlow::notifications`] lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification<E> {
    /// The domain it was sent in.
    pub domain: String,
    /// The application's event.
    pub event: E,
    /// The action that caused it, if any.
    pub correlation_id: Option<OpId>,
}

/// What [`use_flow`] returns: signals to read and methods to act.
///
/// It is `Copy`, so closures in a view can capture it freely. Every signal
/// starts empty (the state's `Default`, `Connecting`, ...) and follows the
/// connection from then on. Methods fail with [`ApiMisuse::Closed`] once the
/// scope is disposed or [`close`](Self::close) was called.
pub struct UseFlow<M: SignalModel> {
    /// The state to show: the server's confirmed state with the optimistic
    /// changes of unresolved actions on top.
    pub state: Signal<M::State>,
    /// Where the connection stands.
    pub status: Signal<ConnectionStatus>,
    /// The last measured round trip.
    pub latency: Signal<Option<Duration>>,
    /// The epoch of the last snapshot: which seq line of the server the
    /// state belongs to. It changes when the server's state was replaced
    /// (a restart that kept nothing) and the client was resynced with a
    /// fresh snapshot; an ordinary reconnect keeps it. `None` until the
    /// first snapshot, or when the server sends no epoch.
    pub epoch: Signal<Option<u32>>,
    /// The actions sent through this value, oldest first, with their state
    /// (pending, progress, ok, error), for as long as the client keeps them
    /// (see [`ClientConfig::settled_ops_kept`]).
    pub ops: Signal<Vec<(OpId, OpState)>>,
    /// Everyone connected to the resource.
    pub presence: Signal<Vec<PresenceInfo>>,
    /// The most recent notifications, oldest first.
    pub notifications: Signal<Vec<Notification<M::Event>>>,
    connection: StoredValue<Option<FlowConnection<M>>, LocalStorage>,
    issued: StoredValue<Vec<OpId>, LocalStorage>,
    ops_signal: RwSignal<Vec<(OpId, OpState)>>,
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
    use_flow_with_options(url, UseFlowOptions::default())
}

/// [`use_flow`] with [`UseFlowOptions`]: initial subscriptions, connection
/// policy, how many notifications to keep.
pub fn use_flow_with_options<M: SignalModel>(
    url: impl Into<String>,
    options: UseFlowOptions,
) -> UseFlow<M> {
    let state = RwSignal::new(M::State::default());
    let status = RwSignal::new(ConnectionStatus::Connecting);
    let latency = RwSignal::new(None);
    let epoch = RwSignal::new(None);
    let ops = RwSignal::new(Vec::new());
    let presence = RwSignal::new(Vec::new());
    let notifications = RwSignal::new(Vec::new());
    let connection = StoredValue::new_local(None::<FlowConnection<M>>);
    let issued = StoredValue::new_local(Vec::new());
    let kept = options.notifications_kept;
    let on_signal = options.on_signal;

    // The callbacks write signals only; they hold no connection handle, so
    // the connection lives exactly as long as the scope's stored value.
    let mut builder = FlowConnection::<M>::builder().url(url);
    builder = match options.token {
        Some(Token::Fixed(token)) => builder.token(token),
        Some(Token::Provider(provide)) => builder.token_provider(move || provide()),
        None => builder,
    };
    let connected = builder
        .config(options.config)
        .subscribe(options.domains)
        .on_state(move |shown: &M::State| {
            state.try_set(shown.clone());
        })
        .on_status(move |now: &ConnectionStatus| {
            status.try_set(now.clone());
        })
        .on_action(move |_, _| refresh_ops(connection, issued, ops))
        .on_presence(move |members: &[PresenceInfo], _| {
            presence.try_set(members.to_vec());
        })
        .on_notify(move |domain: &str, event: M::Event, correlation_id| {
            notifications.try_update(|list| {
                list.push(Notification {
                    domain: domain.to_owned(),
                    event,
                    correlation_id,
                });
                let excess = list.len().saturating_sub(kept);
                list.drain(..excess);
            });
        })
        .on_event(move |event: &Event<M::State, M::Event>| match event {
            Event::Latency(rtt) => {
                latency.try_set(Some(*rtt));
            }
            Event::Snapshot {
                epoch: Some(now), ..
            } if epoch.try_get_untracked().flatten() != Some(*now) => {
                epoch.try_set(Some(*now));
            }
            _ => {}
        })
        .on_signal(move |from: &str, signal: SignalPayload| {
            if let Some(SignalHandler(handler)) = &on_signal {
                handler(from, signal);
            }
        })
        .connect();
    match connected {
        Ok(handle) => connection.set_value(Some(handle)),
        // A URL that is not ws:// or wss://, or a token that is not a
        // header token (the options checked the configuration). Without a
        // connection every command reports `ApiMisuse::Closed`.
        Err(error) => leptos::logging::error!("ui-flow-leptos: could not connect: {error}"),
    }
    on_cleanup(move || {
        connection.try_with_value(|c| c.as_ref().map(FlowConnection::close));
    });

    UseFlow {
        state: state.into(),
        status: status.into(),
        latency: latency.into(),
        epoch: epoch.into(),
        ops: ops.into(),
        presence: presence.into(),
        notifications: notifications.into(),
        connection,
        issued,
        ops_signal: ops,
    }
}

/// Re-reads the state of every action this scope issued from the client,
/// forgetting those the client no longer lists.
fn refresh_ops<M: SignalModel>(
    connection: StoredValue<Option<FlowConnection<M>>, LocalStorage>,
    issued: StoredValue<Vec<OpId>, LocalStorage>,
    ops: RwSignal<Vec<(OpId, OpState)>>,
) {
    let listed = connection.try_with_value(|c| {
        let c = c.as_ref()?;
        issued.try_update_value(|ids| {
            let listed: Vec<_> = ids
                .iter()
                .filter_map(|id| c.op(*id).map(|state| (*id, state)))
                .collect();
            ids.retain(|id| listed.iter().any(|(known, _)| known == id));
            listed
        })
    });
    if let Some(Some(listed)) = listed {
        ops.try_set(listed);
    }
}

impl<M: SignalModel> UseFlow<M> {
    fn with_connection<R>(
        &self,
        f: impl FnOnce(&FlowConnection<M>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.connection
            .try_with_value(|c| c.as_ref().map(f))
            .flatten()
            .unwrap_or(Err(ApiMisuse::Closed.into()))
    }

    /// Sends an action, with an optional change to show at once until its
    /// outcome arrives (rolled back if the server rejects it). Returns its
    /// op id; its progress and outcome appear in [`ops`](Self::ops).
    pub fn send(&self, action: M::Action, optimistic: Option<M::Delta>) -> Result<OpId, Error> {
        let op_id = self.with_connection(|c| match optimistic {
            Some(change) => c.send_optimistic(action, change),
            None => c.send_action(action),
        })?;
        self.issued.update_value(|ids| ids.push(op_id));
        refresh_ops(self.connection, self.issued, self.ops_signal);
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

    /// Asks the server to catch up now.
    pub fn resync(&self) -> Result<(), Error> {
        self.with_connection(|c| Ok(c.resync()?))
    }

    /// Closes the connection for good, before the scope ends.
    pub fn close(&self) {
        self.connection
            .try_with_value(|c| c.as_ref().map(FlowConnection::close));
    }
}
