//! [`FlowConnection`]: the handle and builder both drivers share, and the
//! part of the driver loop that does not depend on the platform.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use web_time::Instant;

use super::cut;
use super::probe::split_scheme;
use crate::error::{ApiMisuse, Error};
use crate::model::Model;
use crate::op::OpId;
use crate::presence::{PresenceDiff, PresenceInfo, PresenceStatus};
use crate::signal::SignalPayload;
use crate::status::ConnectionStatus;

use super::callbacks::{Callbacks, MaybeSend};
use super::cell::{Lock, lock, shared};
use super::config::ClientConfig;
use super::driver::{Driver, Prepared, StateScope, Target, TokenSource, is_header_token};
use super::event::Event;
use super::handle::{Registry, ResourceBuilder, ResourceHandle};
use super::machine::Client;
use super::ops::OpState;
use super::queue::unbounded;
use super::socket::{FlowSocket, Host, Shared};

/// A live ui-flow connection: a [`Client`] run by a driver task over a real
/// WebSocket, reconnecting by itself until [`close`](Self::close)d.
///
/// Build one with [`FlowConnection::builder`]. The handle is cheap to clone;
/// every clone controls the same connection, and when the last one is
/// dropped (with the last [`FlowSocket`] and [`ResourceHandle`] on it) the
/// connection closes. (A callback that captures a clone keeps the
/// connection alive: call [`close`](Self::close) then.) Further resources
/// ride on the same socket with [`join`](Self::join).
///
/// It is not a `Client`: the state machine lives inside, shared with the
/// driver task, and every method here locks it briefly. Use [`Client`]
/// directly to run the protocol over your own transport.
pub struct FlowConnection<M: Model> {
    inner: Arc<Inner<M>>,
}

struct Inner<M: Model> {
    client: Arc<Lock<Client<M>>>,
    /// The same client, type-erased, with what handles share; dropping the
    /// last holder closes the connection.
    shared: Arc<Shared>,
}

impl<M: Model> Clone for FlowConnection<M> {
    fn clone(&self) -> Self {
        FlowConnection {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<M: Model> FlowConnection<M> {
    /// Starts describing a connection: `url`, callbacks and domains, then
    /// `connect()`.
    pub fn builder() -> FlowConnectionBuilder<M> {
        FlowConnectionBuilder {
            url: None,
            token: TokenSource::Fixed(None),
            config: ClientConfig::default(),
            domains: Vec::new(),
            callbacks: Callbacks::default(),
            scope: None,
            action: PhantomData,
        }
    }

    /// Runs a command on the client, then wakes the driver to carry out
    /// what it produced.
    fn command<R>(&self, f: impl FnOnce(&mut Client<M>) -> R) -> R {
        let result = f(&mut lock(&self.inner.client));
        self.inner.shared.wake();
        result
    }

    fn read<R>(&self, f: impl FnOnce(&Client<M>) -> R) -> R {
        f(&lock(&self.inner.client))
    }

    /// Where the connection stands.
    pub fn status(&self) -> ConnectionStatus {
        self.read(|c| c.status().clone())
    }

    /// A copy of the state to show (confirmed plus optimistic changes).
    pub fn state(&self) -> M::State {
        self.read(|c| c.state().clone())
    }

    /// Runs `f` on the state to show, without copying it. Do not call the
    /// handle from inside `f`.
    pub fn with_state<R>(&self, f: impl FnOnce(&M::State) -> R) -> R {
        self.read(|c| f(c.state()))
    }

    /// The seq of the confirmed state; `None` before the first snapshot.
    pub fn seq(&self) -> Option<u64> {
        self.read(Client::seq)
    }

    /// The last measured round trip.
    pub fn latency(&self) -> Option<Duration> {
        self.read(Client::latency)
    }

    /// One action's state, while it is known.
    pub fn op(&self, op_id: OpId) -> Option<OpState> {
        self.read(|c| c.op(op_id).cloned())
    }

    /// Everyone connected to the resource.
    pub fn presence(&self) -> Vec<PresenceInfo> {
        self.read(|c| c.presence().to_vec())
    }

    /// Closes the connection for good (status `Closed { Requested }`).
    pub fn close(&self) {
        self.command(Client::close);
    }

    /// Joins another resource on this connection's socket, with its own
    /// `Model` `R`; see [`ResourceHandle`]. The same as
    /// [`resource`](Self::resource)`(resource).join()`, without callbacks.
    pub fn join<R: Model>(&self, resource: impl Into<String>) -> Result<ResourceHandle<R>, Error> {
        self.resource::<R>(resource).join()
    }

    /// Describes a resource to join on this connection's socket: callbacks
    /// and domains, then [`join`](ResourceBuilder::join).
    pub fn resource<R: Model>(&self, resource: impl Into<String>) -> ResourceBuilder<R> {
        self.socket().resource(resource)
    }

    /// This connection without its URL resource's types, to hand to code
    /// that joins further resources on it (see [`FlowSocket`]).
    pub fn socket(&self) -> FlowSocket {
        FlowSocket::from_shared(Arc::clone(&self.inner.shared))
    }

    /// The resource this connection's URL names (its last path segment).
    pub fn url_resource(&self) -> &str {
        &self.inner.shared.url_resource
    }
}

impl<M: Model> FlowConnection<M> {
    /// Sends an action; see [`Client::send_action`].
    pub fn send_action(&self, action: M::Action) -> Result<OpId, Error> {
        self.command(|c| c.send_action(action))
    }

    /// Sends an action with an optimistic change; see
    /// [`Client::send_optimistic`].
    pub fn send_optimistic(&self, action: M::Action, change: M::Delta) -> Result<OpId, Error> {
        self.command(|c| c.send_optimistic(action, change))
    }

    /// Subscribes to notification domains; see [`Client::subscribe`].
    pub fn subscribe<D: Into<String>>(
        &self,
        domains: impl IntoIterator<Item = D>,
    ) -> Result<(), ApiMisuse> {
        self.command(|c| c.subscribe(domains))
    }

    /// Unsubscribes from notification domains; see [`Client::unsubscribe`].
    pub fn unsubscribe<D: Into<String>>(
        &self,
        domains: impl IntoIterator<Item = D>,
    ) -> Result<(), ApiMisuse> {
        self.command(|c| c.unsubscribe(domains))
    }

    /// Sends a WebRTC signal to another user; see [`Client::send_signal`].
    pub fn send_signal(
        &self,
        target_user_id: impl Into<String>,
        signal: SignalPayload,
    ) -> Result<(), Error> {
        self.command(|c| c.send_signal(target_user_id, signal))
    }

    /// Asks the server to catch up now; see [`Client::resync`].
    pub fn resync(&self) -> Result<(), ApiMisuse> {
        self.command(|c| c.resync(Instant::now()))
    }

    /// Sets the presence reported in pings; see [`Client::set_presence`].
    pub fn set_presence(&self, report: Option<PresenceStatus>) {
        self.command(|c| c.set_presence(Instant::now(), report));
    }
}

/// Describes a [`FlowConnection`] before it connects.
///
/// ```no_run
/// # #[cfg(any(feature = "native", feature = "browser"))]
/// # fn demo() -> Result<(), ui_flow::Error> {
/// use serde::{Deserialize, Serialize};
/// use ui_flow::{FlowConnection, FlowState};
///
/// #[derive(Clone, Default, Serialize, Deserialize)]
/// struct Counter { value: i64 }
/// #[derive(Clone, Serialize, Deserialize)]
/// struct Add { add: i64 }
/// impl FlowState for Counter {
///     type Delta = Add;
///     fn apply_delta(&mut self, d: Add) { self.value += d.add; }
/// }
/// #[derive(Serialize, Deserialize)]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// enum Action { Add { amount: i64 } }
/// #[derive(Clone, Debug, Serialize, Deserialize)]
/// struct CounterEvent { by: String, value: i64 }
/// struct CounterModel;
/// impl ui_flow::Model for CounterModel {
///     type State = Counter;
///     type Delta = Add;
///     type Action = Action;
///     type Event = CounterEvent;
/// }
///
/// let conn = FlowConnection::<CounterModel>::builder()
///     .url("wss://example.com/realtime/room-1")
///     .token("eyJhbGciOi...")
///     .on_state(|state| println!("show {}", state.value))
///     .on_notify(|domain, event, _op| println!("{domain}: {event:?}"))
///     .on_status(|status| println!("{status:?}"))
///     .subscribe(["counter"])
///     .connect()?;
/// let op = conn.send_optimistic(Action::Add { amount: 1 }, Add { add: 1 })?;
/// # let _ = op; Ok(()) }
/// ```
pub struct FlowConnectionBuilder<M: Model> {
    url: Option<String>,
    token: TokenSource,
    config: ClientConfig,
    domains: Vec<String>,
    callbacks: Callbacks<M::State, M::Event>,
    scope: Option<StateScope>,
    action: PhantomData<fn(M::Action)>,
}

impl<M: Model> FlowConnectionBuilder<M> {
    /// Runs `scope` around every stretch of work in which the driver may
    /// change the state (a socket's report, a timer), with that work as its
    /// argument: `scope` sets up what [`FlowState::apply_delta`](crate::FlowState::apply_delta) needs, calls
    /// the work once, and tears down. If it does not call the work, the
    /// driver does it afterwards, so no input is lost.
    ///
    /// It exists for a state whose `apply_delta` needs per-connection context
    /// that the trait cannot pass, such as ui-flow-js's per-client
    /// `applyDelta` function; most applications never need it. Commands
    /// called on a handle (`send_optimistic`, ...) run in the caller's own
    /// context, not inside `scope`; callbacks run outside it too.
    pub fn state_scope(
        mut self,
        scope: impl FnMut(&mut dyn FnMut()) + MaybeSend + 'static,
    ) -> Self {
        self.scope = Some(Box::new(scope));
        self
    }

    /// The server's WebSocket URL, such as
    /// `wss://host/realtime/{resource_id}`. Required; `connect()` fails with
    /// [`ApiMisuse::Config`] unless it starts with `ws://` or `wss://` and
    /// a host. Prefer [`token`](Self::token) to a `?token=` in the URL.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The token to authenticate with, sent in the `Sec-WebSocket-Protocol`
    /// header (offering `ui-flow` and `ui-flow.token.<token>`) rather than
    /// in the URL, so it stays out of URL logs. It is sent again on every
    /// reconnect. It must be a valid header token, such as a JWT or any
    /// base64url text; otherwise `connect()` fails.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = TokenSource::Fixed(Some(token.into()));
        self
    }

    /// Asks `provide` for the token before every dial, the first and each
    /// reconnect, so an expiring token can be replaced: return the freshest
    /// one the app holds (refresh it ahead of expiry in the background), or
    /// `None` to send none. Sent like [`token`](Self::token); a returned
    /// value that is not a header token is not sent, and the server then
    /// refuses the connection as unauthorized (close 4001, final). Replaces
    /// any [`token`](Self::token).
    ///
    /// ```
    /// # #[cfg(any(feature = "native", feature = "browser"))]
    /// # fn demo() {
    /// use std::sync::{Arc, Mutex};
    /// use ui_flow::FlowConnection;
    /// # #[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
    /// # struct Doc;
    /// # impl ui_flow::FlowState for Doc { type Delta = (); fn apply_delta(&mut self, _: ()) {} }
    /// # struct Docs;
    /// # impl ui_flow::Model for Docs { type State = Doc; type Delta = (); type Action = (); type Event = (); }
    ///
    /// // The app's session code keeps this up to date.
    /// let current = Arc::new(Mutex::new(String::from("eyJhbGciOi.first")));
    /// let shared = Arc::clone(&current);
    /// let builder = FlowConnection::<Docs>::builder()
    ///     .url("wss://example.com/realtime/doc-1")
    ///     .token_provider(move || shared.lock().ok().map(|t| t.clone()));
    /// # let _ = builder; }
    /// ```
    pub fn token_provider(
        mut self,
        provide: impl FnMut() -> Option<String> + MaybeSend + 'static,
    ) -> Self {
        self.token = TokenSource::Provider(Box::new(provide));
        self
    }

    /// The connection policy (backoff, pings, queue bound). A `seed` of 0
    /// is replaced by a random one.
    pub fn config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// Notification domains to subscribe to from the start.
    pub fn subscribe<D: Into<String>>(mut self, domains: impl IntoIterator<Item = D>) -> Self {
        self.domains.extend(domains.into_iter().map(Into::into));
        self
    }

    /// Called with each snapshot (the confirmed state replaced) and its seq.
    pub fn on_snapshot(mut self, f: impl FnMut(&M::State, u64) + MaybeSend + 'static) -> Self {
        self.callbacks.snapshot = Some(Box::new(f));
        self
    }

    /// Called with each server delta applied to the confirmed state, in seq
    /// order after its snapshot.
    pub fn on_delta(mut self, f: impl FnMut(&M::Delta, u64) + MaybeSend + 'static) -> Self {
        self.callbacks.delta = Some(Box::new(f));
        self
    }

    /// Called with the state to show (confirmed plus optimistic changes)
    /// whenever it changed, at most once per batch of input.
    pub fn on_state(mut self, f: impl FnMut(&M::State) + MaybeSend + 'static) -> Self {
        self.callbacks.state = Some(Box::new(f));
        self
    }

    /// [`on_state`](Self::on_state) with the state as a shared value, to
    /// keep (clone the `Arc`) without copying the state. Every listener of
    /// one change gets the same `Arc`; a change copies the state at most
    /// once, however many listeners keep it (see [`Client::shared_state`]).
    pub fn on_shared_state(mut self, f: impl FnMut(&Arc<M::State>) + MaybeSend + 'static) -> Self {
        self.callbacks.shared_state = Some(Box::new(f));
        self
    }

    /// Called with each notification: its domain, the event and the action
    /// that caused it, if any.
    pub fn on_notify(
        mut self,
        f: impl FnMut(&str, M::Event, Option<OpId>) + MaybeSend + 'static,
    ) -> Self {
        self.callbacks.notify = Some(Box::new(f));
        self
    }

    /// Called whenever the connection status changes.
    pub fn on_status(mut self, f: impl FnMut(&ConnectionStatus) + MaybeSend + 'static) -> Self {
        self.callbacks.status = Some(Box::new(f));
        self
    }

    /// Called when an action reports progress or its outcome.
    pub fn on_action(mut self, f: impl FnMut(OpId, &OpState) + MaybeSend + 'static) -> Self {
        self.callbacks.action = Some(Box::new(f));
        self
    }

    /// Called with the whole member list and what changed in it.
    pub fn on_presence(
        mut self,
        f: impl FnMut(&[PresenceInfo], &PresenceDiff) + MaybeSend + 'static,
    ) -> Self {
        self.callbacks.presence = Some(Box::new(f));
        self
    }

    /// Called with each WebRTC signal from another user.
    pub fn on_signal(mut self, f: impl FnMut(&str, SignalPayload) + MaybeSend + 'static) -> Self {
        self.callbacks.signal = Some(Box::new(f));
        self
    }

    /// Called with every event before the specific callbacks, including
    /// those no other callback covers (server errors, latency, bad frames).
    pub fn on_event(
        mut self,
        f: impl FnMut(&Event<M::State, M::Event>) + MaybeSend + 'static,
    ) -> Self {
        self.callbacks.event = Some(Box::new(f));
        self
    }
}

impl<M: Model> FlowConnectionBuilder<M> {
    /// Everything a driver needs to start: the handle to return, the loop's
    /// state, its input channel and the URL.
    pub(crate) fn prepare(self) -> Result<Prepared<M>, Error> {
        let url = self
            .url
            .ok_or(ApiMisuse::Config("a connection needs a url"))?;
        check_url(&url)?;
        let token = match self.token {
            TokenSource::Fixed(Some(token)) if !is_header_token(&token) => {
                return Err(ApiMisuse::Config(
                    "the token must be a header token (letters, digits and !#$%&'*+-.^_`|~)",
                )
                .into());
            }
            source => source,
        };
        let mut config = self.config;
        if config.seed == 0 {
            config.seed = random_seed();
        }
        let mut client = Client::new(config, Instant::now())?;
        client.subscribe(self.domains)?;
        let client = shared(client);
        let (inputs, receiver) = unbounded();
        let listeners = Registry::default();
        let host: Arc<Lock<dyn Host>> = client.clone();
        let handle = FlowConnection {
            inner: Arc::new(Inner {
                client: Arc::clone(&client),
                shared: Shared::new(
                    host,
                    inputs.clone(),
                    Arc::clone(&listeners),
                    url_resource(&url).to_owned(),
                ),
            }),
        };
        let driver = Driver::new(client, self.callbacks, listeners, inputs, token, self.scope);
        Ok(Prepared {
            handle,
            driver,
            inputs: receiver,
            target: Arc::new(Target { url }),
        })
    }
}

/// The last path segment of a WebSocket URL: the resource it names.
fn url_resource(url: &str) -> &str {
    let path = cut::before_any(url, b"?#");
    cut::after_last(path, b'/')
}

/// A jitter seed from the OS random source that also makes op ids.
fn random_seed() -> u64 {
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&OpId::new().as_bytes()[..8]);
    u64::from_le_bytes(seed).max(1)
}

/// Checks that `url` is a WebSocket URL a driver can dial: `ws://` or
/// `wss://` (any case) followed by a host, and nothing a header could not
/// carry. Without this check a typo is retried forever.
fn check_url(url: &str) -> Result<(), ApiMisuse> {
    const NOT_WS: &str =
        "the url must be a WebSocket URL: ws://host/... or wss://host/... (no spaces)";
    let Some((scheme, rest)) = split_scheme(url) else {
        return Err(ApiMisuse::Config(NOT_WS));
    };
    let host = cut::before_any(rest, b"/?#");
    let host = cut::after_last(host, b'@');
    let scheme_ok = scheme.eq_ignore_ascii_case("ws") || scheme.eq_ignore_ascii_case("wss");
    let clean = url.as_bytes().iter().all(u8::is_ascii_graphic);
    if scheme_ok && clean && !host.is_empty() && host.as_bytes()[0] != b':' {
        Ok(())
    } else {
        Err(ApiMisuse::Config(NOT_WS))
    }
}

#[cfg(test)]
mod tests {
    use super::{check_url, url_resource};

    #[test]
    fn the_url_names_its_resource_in_its_last_segment() {
        assert_eq!(url_resource("ws://h:1/realtime/board-42"), "board-42");
        assert_eq!(url_resource("ws://h/realtime/b?token=a/b#x"), "b");
    }

    #[test]
    fn only_websocket_urls_are_accepted() {
        for good in [
            "ws://127.0.0.1:9000/realtime/room-1",
            "WSS://example.com/realtime/a?x=1",
            "ws://[::1]:80/realtime/r",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "not a url",
            "",
            "http://example.com/realtime/r",
            "ws://",
            "ws:///realtime/r",
            "ws://:80/x",
            "ws://exa mple.com/",
            "example.com/realtime/r",
        ] {
            assert!(check_url(bad).is_err(), "{bad:?}");
        }
    }
}
