//! [`FlowOptions`]: how an adapter connects, the description every
//! adapter takes.

use std::fmt;
use std::sync::Arc;

use crate::error::ApiMisuse;
use crate::signal::SignalPayload;

use crate::client::callbacks::{MaybeSend, MaybeSync};
use crate::client::config::ClientConfig;

#[cfg(not(target_arch = "wasm32"))]
type TokenFn = dyn Fn() -> Option<String> + Send + Sync;
#[cfg(target_arch = "wasm32")]
type TokenFn = dyn Fn() -> Option<String>;

pub(super) use crate::client::channels::ScopeFn;

#[cfg(not(target_arch = "wasm32"))]
type SignalFn = dyn Fn(&str, SignalPayload) + Send + Sync;
#[cfg(target_arch = "wasm32")]
type SignalFn = dyn Fn(&str, SignalPayload);

/// The token to authenticate with, fixed or asked before every dial.
#[derive(Clone)]
pub(super) enum Token {
    Fixed(String),
    Provider(Arc<TokenFn>),
}

/// How an adapter connects: token, initial subscriptions, connection
/// policy, notifications kept, what to do with incoming WebRTC signals,
/// and the context a state's `apply_delta` runs in.
///
/// Two options are equal when they hold the same values and the same
/// functions (compared by identity), so a framework that reconnects when
/// its options change (Yew's `use_flow`) reconnects only for a real change:
/// build a `token_provider` or `on_signal` once, not on every render.
#[derive(Clone)]
pub struct FlowOptions {
    pub(super) domains: Vec<String>,
    pub(super) config: ClientConfig,
    pub(super) notifications_kept: usize,
    pub(super) on_signal: Option<Arc<SignalFn>>,
    pub(super) token: Option<Token>,
    pub(super) state_scope: Option<Arc<ScopeFn>>,
}

impl Default for FlowOptions {
    fn default() -> Self {
        FlowOptions {
            domains: Vec::new(),
            config: ClientConfig::default(),
            notifications_kept: Self::DEFAULT_NOTIFICATIONS_KEPT,
            on_signal: None,
            token: None,
            state_scope: None,
        }
    }
}

impl fmt::Debug for FlowOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowOptions")
            .field("domains", &self.domains)
            .field("config", &self.config)
            .field("notifications_kept", &self.notifications_kept)
            .field("on_signal", &self.on_signal.is_some())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("state_scope", &self.state_scope.is_some())
            .finish()
    }
}

impl PartialEq for FlowOptions {
    fn eq(&self, other: &Self) -> bool {
        let token = match (&self.token, &other.token) {
            (None, None) => true,
            (Some(Token::Fixed(a)), Some(Token::Fixed(b))) => a == b,
            (Some(Token::Provider(a)), Some(Token::Provider(b))) => Arc::ptr_eq(a, b),
            _ => false,
        };
        let on_signal = match (&self.on_signal, &other.on_signal) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        let state_scope = match (&self.state_scope, &other.state_scope) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        token
            && on_signal
            && state_scope
            && self.domains == other.domains
            && self.config == other.config
            && self.notifications_kept == other.notifications_kept
    }
}

impl FlowOptions {
    /// Default for [`notifications_kept`](Self::notifications_kept).
    pub const DEFAULT_NOTIFICATIONS_KEPT: usize = 32;

    /// The token to authenticate with, sent in the `Sec-WebSocket-Protocol`
    /// header on every (re)connect rather than in the URL. It must be a
    /// header token (a JWT or base64url text qualifies); otherwise the
    /// status is `Closed { reason: Misconfigured }`.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Token::Fixed(token.into()));
        self
    }

    /// Asks `provide` for the token before every (re)connect, so an
    /// expiring token can be refreshed; replaces [`token`](Self::token).
    pub fn token_provider(
        mut self,
        provide: impl Fn() -> Option<String> + MaybeSend + MaybeSync + 'static,
    ) -> Self {
        self.token = Some(Token::Provider(Arc::new(provide)));
        self
    }

    /// Notification domains to subscribe to from the start.
    pub fn subscribe<D: Into<String>>(mut self, domains: impl IntoIterator<Item = D>) -> Self {
        self.domains.extend(domains.into_iter().map(Into::into));
        self
    }

    /// The client's connection policy (backoff, pings, queue bound),
    /// checked here so that connecting cannot fail later because of it.
    pub fn config(mut self, config: ClientConfig) -> Result<Self, ApiMisuse> {
        config.validate()?;
        self.config = config;
        Ok(self)
    }

    /// How many of the most recent notifications
    /// [`Latest::notifications`](super::Latest::notifications) holds (default 32).
    pub fn notifications_kept(mut self, kept: usize) -> Self {
        self.notifications_kept = kept;
        self
    }

    /// Called with each WebRTC signal another user sent us (its sender and
    /// payload), in order. A callback rather than a value to read, so a
    /// burst of ICE candidates is never collapsed into its last one.
    pub fn on_signal(
        mut self,
        f: impl Fn(&str, SignalPayload) + MaybeSend + MaybeSync + 'static,
    ) -> Self {
        self.on_signal = Some(Arc::new(f));
        self
    }

    /// Runs `scope` around every stretch of work that may change the state:
    /// the connection's own (a socket's report, a timer) and the binding's
    /// commands (`send`, `resync`, `close`). `scope` sets up what the
    /// state's [`FlowState::apply_delta`](crate::FlowState::apply_delta)
    /// needs, calls the work it is given once, and tears down.
    ///
    /// It is for a state whose `apply_delta` needs per-connection context
    /// the trait cannot pass, such as ui-flow-js's per-client `applyDelta`
    /// function; the Rust adapters do not need it. A binding made with
    /// [`Binding::join`](crate::client::Binding::join) runs the joined
    /// resource's work inside it instead (each resource on a shared socket
    /// may so have its own). The connection lets go of it when it has
    /// closed, the binding at [`close`](crate::client::Binding::close) (or
    /// when dropped), a joined resource when it is left.
    pub fn state_scope(
        mut self,
        scope: impl Fn(&mut dyn FnMut()) + MaybeSend + MaybeSync + 'static,
    ) -> Self {
        self.state_scope = Some(Arc::new(scope));
        self
    }
}
