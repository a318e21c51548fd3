//! [`connect`], the [`Flow`] handle and the [`FlowMsg`] messages.

use std::time::Duration;

use futures_channel::mpsc::{UnboundedSender, unbounded};
use futures_util::StreamExt;
use seed::app::StreamHandle;
use seed::prelude::Orders;
use ui_flow::client::{ClientConfig, Event, FlowConnection, OpState};
use ui_flow::{
    ApiMisuse, ConnectionStatus, Error, ErrorCode, FlowState, Model, OpId, PresenceDiff,
    PresenceInfo, PresenceStatus, SignalPayload,
};

/// How [`connect`] connects.
#[derive(Debug, Clone, Default)]
pub struct FlowOptions {
    domains: Vec<String>,
    config: ClientConfig,
    token: Option<Token>,
}

/// The token to authenticate with, fixed or asked before every dial.
#[derive(Clone)]
enum Token {
    Fixed(String),
    Provider(std::rc::Rc<dyn Fn() -> Option<String>>),
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl FlowOptions {
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
        self.token = Some(Token::Provider(std::rc::Rc::new(provide)));
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
}

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
    /// changes of unresolved actions on top) changed; this is a copy.
    State(S),
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
        members: Vec<PresenceInfo>,
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
    connection: Option<FlowConnection<M>>,
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
/// `update`) and keep the returned [`Flow`] in the model.
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
    let send = |sender: &UnboundedSender<FlowMsg<M::State, M::Event>>| {
        let sender = sender.clone();
        move |msg: FlowMsg<M::State, M::Event>| {
            // Fails only once the app dropped the Flow: nobody listens.
            let _ = sender.unbounded_send(msg);
        }
    };
    let (to_state, to_presence, to_notify, to_signal, to_event) = (
        send(&sender),
        send(&sender),
        send(&sender),
        send(&sender),
        send(&sender),
    );
    let mut builder = FlowConnection::<M>::builder().url(url);
    builder = match options.token {
        Some(Token::Fixed(token)) => builder.token(token),
        Some(Token::Provider(provide)) => builder.token_provider(move || provide()),
        None => builder,
    };
    let connected = builder
        .config(options.config)
        .subscribe(options.domains)
        .on_state(move |shown: &M::State| to_state(FlowMsg::State(shown.clone())))
        .on_presence(move |members: &[PresenceInfo], diff: &PresenceDiff| {
            to_presence(FlowMsg::Presence {
                members: members.to_vec(),
                diff: diff.clone(),
            })
        })
        .on_notify(move |domain: &str, event: M::Event, correlation_id| {
            to_notify(FlowMsg::Notify {
                domain: domain.to_owned(),
                event,
                correlation_id,
            })
        })
        .on_signal(move |from: &str, signal| {
            to_signal(FlowMsg::Signal {
                from_user_id: from.to_owned(),
                signal,
            })
        })
        .on_event(move |event: &Event<M::State, M::Event>| {
            if let Some(msg) = event_msg(event) {
                to_event(msg);
            }
        })
        .connect();
    let connection = match connected {
        Ok(connection) => Some(connection),
        // A URL that is not ws:// or wss://, or a token that is not a
        // header token (the options checked the configuration). Without a
        // connection every command reports `ApiMisuse::Closed`.
        Err(error) => {
            web_sys::console::error_1(&format!("ui-flow-seed: could not connect: {error}").into());
            None
        }
    };
    Flow {
        connection,
        _messages: messages,
    }
}

/// The message for an event no specific callback covers.
fn event_msg<S, E>(event: &Event<S, E>) -> Option<FlowMsg<S, E>>
where
    S: FlowState + Clone,
    S::Delta: Clone,
{
    Some(match event {
        Event::Status(status) => FlowMsg::Status(status.clone()),
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
        Event::Latency(rtt) => FlowMsg::Latency(*rtt),
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
    fn with_connection<R>(
        &self,
        f: impl FnOnce(&FlowConnection<M>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        match &self.connection {
            Some(connection) => f(connection),
            None => Err(ApiMisuse::Closed.into()),
        }
    }

    /// Sends an action, with an optional change to show at once until its
    /// outcome arrives (rolled back if the server rejects it). Its progress
    /// and outcome arrive as [`FlowMsg::Action`].
    pub fn send(&self, action: M::Action, optimistic: Option<M::Delta>) -> Result<OpId, Error> {
        self.with_connection(|c| match optimistic {
            Some(change) => c.send_optimistic(action, change),
            None => c.send_action(action),
        })
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

    /// A copy of the state to show, read from the client now.
    pub fn state(&self) -> M::State {
        self.connection
            .as_ref()
            .map(FlowConnection::state)
            .unwrap_or_default()
    }

    /// One action's state, while the client keeps it.
    pub fn op(&self, op_id: OpId) -> Option<OpState> {
        self.connection.as_ref()?.op(op_id)
    }

    /// Closes the connection for good; a last [`FlowMsg::Status`] follows.
    pub fn close(&self) {
        if let Some(connection) = &self.connection {
            connection.close();
        }
    }
}

impl<M: Model> Drop for Flow<M> {
    fn drop(&mut self) {
        if let Some(connection) = &self.connection {
            connection.close();
        }
    }
}
