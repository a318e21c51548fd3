//! [`Store`]: one connection's latest values, and which components to
//! re-render when each of them changes.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::Duration;

use ui_flow::client::{ClientConfig, Event, FlowConnection, OpState};
use ui_flow::{ApiMisuse, ConnectionStatus, Model, OpId, PresenceInfo, SignalPayload};
use yew::Callback;
use yew::functional::UseForceUpdateHandle;

/// How [`use_flow`](crate::use_flow) and [`FlowProvider`](crate::FlowProvider)
/// connect.
#[derive(Debug, Clone, PartialEq)]
pub struct UseFlowOptions {
    pub(crate) domains: Vec<String>,
    pub(crate) config: ClientConfig,
    pub(crate) notifications_kept: usize,
    pub(crate) on_signal: Option<Callback<(String, SignalPayload)>>,
    pub(crate) token: Option<Token>,
}

/// The token to authenticate with, fixed or asked before every dial.
#[derive(Clone, PartialEq)]
pub(crate) enum Token {
    Fixed(String),
    Provider(Callback<(), Option<String>>),
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
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
    /// Changing the callback (a new `Callback`) reconnects, like any change
    /// of options.
    pub fn token_provider(mut self, provide: Callback<(), Option<String>>) -> Self {
        self.token = Some(Token::Provider(provide));
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

    /// How many of the most recent notifications are kept (default 32).
    pub fn notifications_kept(mut self, kept: usize) -> Self {
        self.notifications_kept = kept;
        self
    }

    /// Called with each WebRTC signal another user sent (sender, payload),
    /// in order. A callback rather than a value to read, so a burst of ICE
    /// candidates is never collapsed into its last one.
    pub fn on_signal(mut self, callback: Callback<(String, SignalPayload)>) -> Self {
        self.on_signal = Some(callback);
        self
    }
}

/// A notification as [`UseFlowHandle::notifications`](crate::UseFlowHandle::notifications)
/// lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification<E> {
    /// The domain it was sent in.
    pub domain: String,
    /// The application's event.
    pub event: E,
    /// The action that caused it, if any.
    pub correlation_id: Option<OpId>,
}

/// One kind of value a component can read; a bit in [`Listener::reads`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Concern {
    State = 1,
    Status = 2,
    Latency = 4,
    Ops = 8,
    Presence = 16,
    Notifications = 32,
}

/// A component using the store: what it read in its last render, and how
/// to re-render it.
pub(crate) struct Listener {
    reads: Cell<u8>,
    rerender: UseForceUpdateHandle,
}

impl Listener {
    pub(crate) fn new(rerender: UseForceUpdateHandle) -> Self {
        Listener {
            reads: Cell::new(0),
            rerender,
        }
    }

    /// Forgets what the previous render read; called as a render starts.
    pub(crate) fn rendering(&self) {
        self.reads.set(0);
    }

    pub(crate) fn read(&self, concern: Concern) {
        self.reads.set(self.reads.get() | concern as u8);
    }
}

/// The latest value of everything a component can read.
pub(crate) struct Values<S, E> {
    pub(crate) state: Rc<S>,
    pub(crate) status: ConnectionStatus,
    pub(crate) latency: Option<Duration>,
    pub(crate) ops: Rc<Vec<(OpId, OpState)>>,
    pub(crate) presence: Rc<Vec<PresenceInfo>>,
    pub(crate) notifications: Rc<Vec<Notification<E>>>,
}

/// One connection shared by the components that use it.
pub(crate) struct Store<M: Model> {
    pub(crate) connection: Option<FlowConnection<M>>,
    pub(crate) values: RefCell<Values<M::State, M::Event>>,
    listeners: RefCell<Vec<Weak<Listener>>>,
    /// The actions sent through this store, oldest first.
    issued: RefCell<Vec<OpId>>,
}

impl<M: Model> Store<M> {
    /// Connects to `url`. The callbacks hold the store weakly, so dropping
    /// the last `Rc` drops the connection handle, which closes it.
    pub(crate) fn open(url: &str, options: &UseFlowOptions) -> Rc<Self> {
        Rc::new_cyclic(|me: &Weak<Self>| {
            let kept = options.notifications_kept;
            let on = |f: fn(&Self, &Event<M::State, M::Event>)| {
                let me = me.clone();
                move |event: &Event<M::State, M::Event>| {
                    if let Some(store) = me.upgrade() {
                        f(&store, event);
                    }
                }
            };
            let state = {
                let me = me.clone();
                move |shown: &M::State| {
                    if let Some(store) = me.upgrade() {
                        store.values.borrow_mut().state = Rc::new(shown.clone());
                        store.changed(Concern::State);
                    }
                }
            };
            let presence = {
                let me = me.clone();
                move |members: &[PresenceInfo], _: &_| {
                    if let Some(store) = me.upgrade() {
                        store.values.borrow_mut().presence = Rc::new(members.to_vec());
                        store.changed(Concern::Presence);
                    }
                }
            };
            let notify = {
                let me = me.clone();
                move |domain: &str, event: M::Event, correlation_id| {
                    if let Some(store) = me.upgrade() {
                        store.notified(
                            Notification {
                                domain: domain.to_owned(),
                                event,
                                correlation_id,
                            },
                            kept,
                        );
                    }
                }
            };
            let on_signal = options.on_signal.clone();
            let signal = move |from: &str, payload: SignalPayload| {
                if let Some(callback) = &on_signal {
                    callback.emit((from.to_owned(), payload));
                }
            };
            let mut builder = FlowConnection::<M>::builder().url(url);
            builder = match options.token.clone() {
                Some(Token::Fixed(token)) => builder.token(token),
                Some(Token::Provider(provide)) => builder.token_provider(move || provide.emit(())),
                None => builder,
            };
            let connected = builder
                .config(options.config.clone())
                .subscribe(options.domains.iter().cloned())
                .on_state(state)
                .on_presence(presence)
                .on_notify(notify)
                .on_signal(signal)
                .on_event(on(Self::on_event))
                .connect();
            let connection = match connected {
                Ok(connection) => Some(connection),
                // A URL that is not ws:// or wss://, or a token that is not
                // a header token (the options checked the configuration).
                // Without a connection every command reports
                // `ApiMisuse::Closed`.
                Err(error) => {
                    web_sys::console::error_1(
                        &format!("ui-flow-yew: could not connect: {error}").into(),
                    );
                    None
                }
            };
            Store {
                connection,
                values: RefCell::new(Values {
                    state: Rc::new(M::State::default()),
                    status: ConnectionStatus::Connecting,
                    latency: None,
                    ops: Rc::new(Vec::new()),
                    presence: Rc::new(Vec::new()),
                    notifications: Rc::new(Vec::new()),
                }),
                listeners: RefCell::new(Vec::new()),
                issued: RefCell::new(Vec::new()),
            }
        })
    }

    fn on_event(&self, event: &Event<M::State, M::Event>) {
        match event {
            Event::Status(status) => {
                self.values.borrow_mut().status = status.clone();
                self.changed(Concern::Status);
            }
            Event::Latency(rtt) => {
                self.values.borrow_mut().latency = Some(*rtt);
                self.changed(Concern::Latency);
            }
            Event::Action { .. } => self.refresh_ops(),
            _ => {}
        }
    }

    fn notified(&self, notification: Notification<M::Event>, kept: usize) {
        {
            let mut values = self.values.borrow_mut();
            let list = Rc::make_mut(&mut values.notifications);
            list.push(notification);
            let excess = list.len().saturating_sub(kept);
            list.drain(..excess);
        }
        self.changed(Concern::Notifications);
    }

    /// Records an action sent through this store.
    pub(crate) fn issued(&self, op_id: OpId) {
        self.issued.borrow_mut().push(op_id);
        self.refresh_ops();
    }

    /// Re-reads the state of every action this store issued from the
    /// client, forgetting those the client no longer lists.
    fn refresh_ops(&self) {
        let Some(connection) = &self.connection else {
            return;
        };
        let listed: Vec<_> = self
            .issued
            .borrow()
            .iter()
            .filter_map(|id| connection.op(*id).map(|state| (*id, state)))
            .collect();
        self.issued
            .borrow_mut()
            .retain(|id| listed.iter().any(|(known, _)| known == id));
        self.values.borrow_mut().ops = Rc::new(listed);
        self.changed(Concern::Ops);
    }

    pub(crate) fn listen(&self, listener: &Rc<Listener>) {
        self.listeners.borrow_mut().push(Rc::downgrade(listener));
    }

    /// Re-renders every live component that read `concern` last time.
    fn changed(&self, concern: Concern) {
        let due: Vec<Rc<Listener>> = {
            let mut listeners = self.listeners.borrow_mut();
            listeners.retain(|l| l.strong_count() > 0);
            listeners
                .iter()
                .filter_map(Weak::upgrade)
                .filter(|l| l.reads.get() & concern as u8 != 0)
                .collect()
        };
        for listener in due {
            listener.rerender.force_update();
        }
    }

    pub(crate) fn close(&self) {
        if let Some(connection) = &self.connection {
            connection.close();
        }
    }
}
