//! The platform-independent half of a driver loop, and what its halves
//! say to each other.
//!
//! A driver (native or browser) owns the sockets and the timer; [`Driver`]
//! owns the [`Client`] side: it feeds inputs in and carries outputs out,
//! running the application's callbacks with the client unlocked.

use std::sync::{Arc, Mutex};

use web_time::Instant;

use crate::model::Model;
use crate::presence::PresenceStatus;
use crate::state::FlowState;
use crate::status::ConnectionStatus;

use super::callbacks::{Batch, Callbacks};
use super::connection::{FlowConnection, lock};
use super::cut;
use super::event::{Event, SocketCommand, SocketId};
use super::handle::{self, Registry};
use super::machine::{Client, Outputs};
use super::queue::{UnboundedReceiver, UnboundedSender, unbounded};

pub(crate) struct Prepared<M: Model> {
    pub(crate) handle: FlowConnection<M>,
    pub(crate) driver: Driver<M>,
    pub(crate) inputs: UnboundedReceiver<Input>,
    pub(crate) target: Arc<Target>,
}

/// Where each socket connects.
pub(crate) struct Target {
    pub(crate) url: String,
}

/// Where the token of each dial comes from.
pub(crate) enum TokenSource {
    /// No token, or the same one every time.
    Fixed(Option<String>),
    /// Asked before every dial, so an expiring token can be refreshed.
    Provider(TokenProvider),
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) type TokenProvider = Box<dyn FnMut() -> Option<String> + Send>;
#[cfg(target_arch = "wasm32")]
pub(crate) type TokenProvider = Box<dyn FnMut() -> Option<String>>;

/// What [`FlowConnectionBuilder::state_scope`](super::FlowConnectionBuilder::state_scope)
/// registered: runs the work it is given inside the application's context.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type StateScope = Box<dyn FnMut(&mut dyn FnMut()) + Send>;
#[cfg(target_arch = "wasm32")]
pub(crate) type StateScope = Box<dyn FnMut(&mut dyn FnMut())>;

impl TokenSource {
    /// The subprotocols to offer on the next dial: empty, or `ui-flow` and
    /// the token. A provided token that is not a header token is not sent
    /// (the server then refuses the connection as unauthorized, a final and
    /// readable error).
    fn protocols(&mut self) -> Vec<String> {
        let token = match self {
            TokenSource::Fixed(token) => token.clone(),
            TokenSource::Provider(provide) => provide(),
        };
        match token {
            Some(token) if is_header_token(&token) => {
                vec![SUBPROTOCOL.to_owned(), format!("{TOKEN_PREFIX}{token}")]
            }
            _ => Vec::new(),
        }
    }
}

/// Reports what a person debugging a connection wants to see as `tracing`
/// events (target `ui_flow::client`). Never the token: it is not part of
/// any event.
fn trace_event<S: FlowState, E>(event: &Event<S, E>) {
    match event {
        Event::Status(ConnectionStatus::Closed { reason }) => {
            tracing::info!(target: "ui_flow::client", ?reason, "connection closed for good");
        }
        Event::Status(ConnectionStatus::Reconnecting { attempt, .. }) => {
            tracing::info!(target: "ui_flow::client", attempt, "connection lost; reconnecting");
        }
        Event::Status(status) => {
            tracing::debug!(target: "ui_flow::client", ?status, "status");
        }
        Event::Connected {
            connection_id,
            user_id,
            ..
        } => {
            tracing::debug!(target: "ui_flow::client", connection_id, ?user_id, "connected");
        }
        Event::ServerError {
            code,
            message,
            fatal,
        } => {
            tracing::warn!(target: "ui_flow::client", ?code, %message, fatal, "server error");
        }
        Event::BadFrame(error) => {
            tracing::warn!(target: "ui_flow::client", %error, "a server frame did not decode");
        }
        Event::Violation(violation) => {
            tracing::warn!(target: "ui_flow::client", %violation, "protocol violation");
        }
        _ => {}
    }
}

/// The subprotocol a ui-flow server selects (see `spec/PROTOCOL.md`).
const SUBPROTOCOL: &str = "ui-flow";
/// The prefix of the offered subprotocol that carries the token.
const TOKEN_PREFIX: &str = "ui-flow.token.";

/// Whether `token` may travel in a header field's token list (RFC 9110
/// `token`), so it needs no quoting and cannot break the header.
pub(crate) fn is_header_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .as_bytes()
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || cut::is_one_of(b, b"!#$%&'*+-.^_`|~"))
}

/// Something that happened outside the client, for the driver loop.
pub(crate) enum Input {
    /// A socket task reports.
    Socket(SocketId, SocketReport),
    /// A handle ran a command: carry out its outputs.
    Wake,
    /// The network came back (browser only).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    Online,
    /// The page became visible (true) or hidden (false) (browser only).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    Visible(bool),
}

/// What a socket task reports.
pub(crate) enum SocketReport {
    Opened,
    /// The server answered the upgrade with this HTTP status (native), or
    /// the refusal probe did after the socket failed to open (browser).
    Refused(u16),
    Frame(Vec<u8>),
    Closed {
        code: Option<u16>,
        reason: String,
    },
}

/// What the driver tells a socket task.
pub(crate) enum Outgoing {
    Frame(Vec<u8>),
    Close { code: u16, reason: &'static str },
}

/// What the loop does next.
pub(crate) enum Step {
    /// Wait for an input until this instant, then call [`Driver::timeout`].
    Wait(Instant),
    /// The connection is closed for good: end the loop.
    Done,
}

/// The platform-independent half of a driver loop: feeds inputs to the
/// client and carries out its outputs. The platform half owns the sockets
/// and the timer.
pub(crate) struct Driver<M: Model> {
    client: Arc<Mutex<Client<M>>>,
    callbacks: Callbacks<M::State, M::Event>,
    /// The listeners of resources joined through handles.
    listeners: Registry,
    /// The current socket task's command channel.
    socket: Option<(SocketId, UnboundedSender<Outgoing>)>,
    /// The token for each dial.
    token: TokenSource,
    /// Where socket tasks (and browser listeners) report.
    reports: UnboundedSender<Input>,
    /// Runs around every input and timeout, if the application asked.
    scope: Option<StateScope>,
}

impl<M: Model> Driver<M> {
    pub(crate) fn new(
        client: Arc<Mutex<Client<M>>>,
        callbacks: Callbacks<M::State, M::Event>,
        listeners: Registry,
        reports: UnboundedSender<Input>,
        token: TokenSource,
        scope: Option<StateScope>,
    ) -> Self {
        Driver {
            client,
            callbacks,
            listeners,
            socket: None,
            token,
            reports,
            scope,
        }
    }

    /// Hands the client `input` (`None`: its timer fired), inside the
    /// application's state scope if there is one; exactly once either way.
    /// One function for both, so that the scope's closure is compiled once.
    fn scoped(&mut self, input: Option<Input>) {
        let client = &self.client;
        let mut work = Some(input);
        let mut run = || match work.take() {
            Some(Some(input)) => Self::feed(&mut lock(client), Instant::now(), input),
            Some(None) => lock(client).handle_timeout(Instant::now()),
            None => {}
        };
        if let Some(scope) = &mut self.scope {
            scope(&mut run);
        }
        run();
    }
}

impl<M: Model> Driver<M> {
    /// A sender for reports to this loop.
    pub(crate) fn reports(&self) -> UnboundedSender<Input> {
        self.reports.clone()
    }

    pub(crate) fn input(&mut self, input: Input) {
        self.scoped(Some(input));
    }

    fn feed(client: &mut Client<M>, now: Instant, input: Input) {
        match input {
            Input::Socket(id, SocketReport::Opened) => client.handle_open(now, id),
            Input::Socket(id, SocketReport::Refused(status)) => {
                client.handle_refused(now, id, status)
            }
            Input::Socket(id, SocketReport::Frame(frame)) => client.handle_frame(now, id, &frame),
            Input::Socket(id, SocketReport::Closed { code, reason }) => {
                client.handle_close(now, id, code, &reason)
            }
            Input::Wake => {}
            Input::Online => client.handle_resume(now),
            Input::Visible(visible) => {
                let report = if visible {
                    PresenceStatus::Active
                } else {
                    PresenceStatus::Away
                };
                client.set_presence(now, Some(report));
                if visible {
                    client.handle_resume(now);
                }
            }
        }
    }

    pub(crate) fn timeout(&mut self) {
        self.scoped(None);
    }

    /// Carries out everything the client produced: sockets to open (through
    /// `open`, which starts a socket task dialing the given URL, offering
    /// the given subprotocols, and reading the given channel) or close, frames to send, then callbacks, with the
    /// client unlocked. `base` is the configured URL.
    pub(crate) fn flush(
        &mut self,
        base: &str,
        mut open: impl FnMut(SocketId, String, Vec<String>, UnboundedReceiver<Outgoing>),
    ) -> Step {
        let (commands, frames, batch, deadline, url, listeners) = {
            let mut client = lock(&self.client);
            let listeners = handle::collect(&self.listeners, &mut client.channels());
            let Outputs {
                sockets: commands,
                transmits: frames,
                events,
            } = client.take_outputs();
            // Only a socket to open needs the URL (with the resume point).
            let url = if commands.iter().any(|c| matches!(c, SocketCommand::Open(_))) {
                client.dial_url(base)
            } else {
                String::new()
            };
            // One pass over the batch for both questions.
            let (mut state_changed, mut presence_changed) = (false, false);
            for event in &events {
                match event {
                    Event::StateChanged => state_changed = true,
                    Event::Presence(_) => presence_changed = true,
                    _ => {}
                }
            }
            let state =
                (state_changed && self.callbacks.wants_state()).then(|| client.shared_state());
            let presence = (presence_changed && self.callbacks.wants_presence())
                .then(|| client.presence().to_vec());
            let batch = Batch {
                events,
                state,
                presence,
            };
            let deadline = client.poll_timeout();
            (commands, frames, batch, deadline, url, listeners)
        };
        for command in commands {
            match command {
                SocketCommand::Open(id) => {
                    let (sender, receiver) = unbounded();
                    self.socket = Some((id, sender));
                    // Asked per dial, with the client unlocked.
                    let protocols = self.token.protocols();
                    open(id, url.clone(), protocols, receiver);
                }
                SocketCommand::Close {
                    socket,
                    code,
                    reason,
                } => {
                    if let Some((_, sender)) = self.socket.take_if(|(id, _)| *id == socket) {
                        let _ = sender.unbounded_send(Outgoing::Close {
                            code: code.0,
                            reason,
                        });
                    }
                }
            }
        }
        if let Some((_, sender)) = &self.socket {
            for frame in frames {
                let _ = sender.unbounded_send(Outgoing::Frame(frame));
            }
        }
        for event in &batch.events {
            trace_event(event);
        }
        self.callbacks.deliver(batch);
        for listener in listeners {
            lock(&listener).deliver();
        }
        match deadline {
            Some(at) => Step::Wait(at),
            None => Step::Done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{TokenSource, is_header_token};

    #[test]
    fn tokens_must_fit_a_header_token_list() {
        assert!(is_header_token("eyJhbGciOi.J9eyJzdWIi-Oi_IxM"));
        assert!(is_header_token("alice"));
        for bad in ["", "a b", "a,b", "a\r\nX-Evil: 1", "é"] {
            assert!(!is_header_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_provider_is_asked_before_every_dial() {
        let mut n = 0;
        let mut source = TokenSource::Provider(Box::new(move || {
            n += 1;
            (n != 2).then(|| format!("t{n}"))
        }));
        assert_eq!(source.protocols(), ["ui-flow", "ui-flow.token.t1"]);
        assert!(source.protocols().is_empty());
        assert_eq!(source.protocols(), ["ui-flow", "ui-flow.token.t3"]);
        let mut bad = TokenSource::Fixed(Some("a b".into()));
        assert!(bad.protocols().is_empty());
    }
}
