//! The browser driver: the client on gloo-net WebSockets and browser timers.
//!
//! One local task runs the loop (inputs in, client outputs out, one
//! `setTimeout`); each socket gets a local task of its own. The loop also
//! listens for the window's `online` and the document's `visibilitychange`
//! events, to retry at once when the network or the page comes back and to
//! report the page's visibility as presence. Those two listeners are added
//! once per connection and removed when it closes, whatever the number of
//! reconnects.
//!
//! A socket that closes without ever opening may have been refused with an
//! HTTP status the page cannot see; its task then runs the refusal probe
//! (`probe.rs`) and reports the status it reads, so a 404 or 403 ends the
//! connection with [`CloseReason::Refused`](crate::CloseReason::Refused)
//! instead of retrying forever.

use std::future::poll_fn;
use std::pin::{Pin, pin};
use std::sync::Arc;

use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender};
use futures_util::future::{Either, select};
use futures_util::{Sink, SinkExt, StreamExt};
use gloo_events::EventListener;
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::{Message, State, WebSocketError};
use gloo_timers::future::TimeoutFuture;
use web_time::Instant;

use crate::error::Error;
use crate::model::Model;

use super::connection::{FlowConnection, FlowConnectionBuilder};
use super::driver::{Driver, Input, Outgoing, SocketReport, Step, Target};
use super::event::SocketId;
use super::probe;

impl<M: Model> FlowConnectionBuilder<M> {
    /// Starts the connection on the page's event loop and returns its
    /// handle at once; the first socket opens in the background.
    ///
    /// Fails without a `url` or with an invalid configuration.
    pub fn connect(self) -> Result<FlowConnection<M>, Error> {
        let prepared = self.prepare()?;
        let listeners = PageListeners::add(&prepared.driver.reports());
        wasm_bindgen_futures::spawn_local(run(
            prepared.driver,
            prepared.inputs,
            prepared.target,
            listeners,
        ));
        Ok(prepared.handle)
    }
}

/// The page events the loop listens to; dropping it removes the listeners.
struct PageListeners {
    _online: Option<EventListener>,
    _visibility: Option<EventListener>,
}

impl PageListeners {
    fn add(inputs: &UnboundedSender<Input>) -> Self {
        let window = web_sys::window();
        let online = window.as_ref().map(|window| {
            let inputs = inputs.clone();
            EventListener::new(window, "online", move |_| {
                let _ = inputs.unbounded_send(Input::Online);
            })
        });
        let visibility = window.and_then(|w| w.document()).map(|document| {
            let inputs = inputs.clone();
            let page = document.clone();
            EventListener::new(&document, "visibilitychange", move |_| {
                let _ = inputs.unbounded_send(Input::Visible(!page.hidden()));
            })
        });
        PageListeners {
            _online: online,
            _visibility: visibility,
        }
    }
}

async fn run<M: Model>(
    mut driver: Driver<M>,
    mut inputs: UnboundedReceiver<Input>,
    target: Arc<Target>,
    listeners: PageListeners,
) {
    let _listeners = listeners;
    let reports = driver.reports();
    loop {
        let step = driver.flush(&target.url, |id, url, protocols, commands| {
            wasm_bindgen_futures::spawn_local(socket(
                id,
                url,
                protocols,
                commands,
                reports.clone(),
            ));
        });
        let Step::Wait(at) = step else { return };
        let wait = at.saturating_duration_since(Instant::now()).as_millis();
        // Dropping the timer clears it.
        let timer = TimeoutFuture::new(u32::try_from(wait).unwrap_or(u32::MAX));
        match select(inputs.next(), timer).await {
            Either::Left((Some(input), _)) => driver.input(input),
            Either::Left((None, _)) => return,
            Either::Right(_) => driver.timeout(),
        }
    }
}

/// Opens a WebSocket to `url` offering `protocols`. gloo-net's own
/// `open_with_protocols` converts the list through JSON, which would link
/// serde_json into every browser client for one array of strings.
fn open_offering(url: &str, protocols: &[String]) -> Result<WebSocket, String> {
    let list: js_sys::Array = protocols
        .iter()
        .map(|protocol| wasm_bindgen::JsValue::from_str(protocol))
        .collect();
    let socket = web_sys::WebSocket::new_with_str_sequence(url, &list).map_err(js_text)?;
    WebSocket::try_from(socket).map_err(|error| error.to_string())
}

/// What a JavaScript exception says: an `Error`'s `toString()` (its name
/// and message, as gloo-net reports it), or the value itself as text.
fn js_text(value: wasm_bindgen::JsValue) -> String {
    use wasm_bindgen::JsCast;
    match value.dyn_into::<js_sys::Error>() {
        Ok(error) => String::from(error.to_string()),
        Err(other) => other
            .as_string()
            .unwrap_or_else(|| "the WebSocket could not be created".to_owned()),
    }
}

/// One WebSocket, from dial to close.
async fn socket(
    id: SocketId,
    url: String,
    protocols: Vec<String>,
    mut commands: UnboundedReceiver<Outgoing>,
    reports: UnboundedSender<Input>,
) {
    let report = |r| {
        let _ = reports.unbounded_send(Input::Socket(id, r));
    };
    let closed = |reason: String| SocketReport::Closed { code: None, reason };
    let opened = if protocols.is_empty() {
        WebSocket::open(&url).map_err(|error| error.to_string())
    } else {
        open_offering(&url, &protocols)
    };
    let mut ws = match opened {
        Ok(ws) => ws,
        Err(error) => return report(closed(error)),
    };
    // Ready means no longer connecting: open, or already failed (then the
    // stream below reports how).
    let settled = poll_fn(|cx| Pin::new(&mut ws).poll_ready(cx));
    if let Either::Right(_) = select(settled, commands.next()).await {
        return; // given up before it opened; dropping closes it
    }
    if !matches!(ws.state(), State::Open) {
        // Closed without ever opening: refused, or never reached. The
        // browser hides which; the refusal probe asks the server.
        let close = match ws.next().await {
            Some(Err(WebSocketError::ConnectionClose(event))) => SocketReport::Closed {
                code: Some(event.code),
                reason: event.reason,
            },
            Some(Err(error)) => closed(error.to_string()),
            _ => closed("the socket closed before it opened".into()),
        };
        drop(ws);
        let asked = pin!(probe::status(&url));
        return match select(asked, commands.next()).await {
            Either::Left((Some(status), _)) => report(SocketReport::Refused(status)),
            Either::Left((None, _)) => report(close),
            Either::Right(_) => {} // given up meanwhile
        };
    }
    report(SocketReport::Opened);
    loop {
        let next = match select(ws.next(), commands.next()).await {
            Either::Left((message, _)) => Either::Left(message),
            Either::Right((command, _)) => Either::Right(command),
        };
        match next {
            Either::Left(Some(Ok(Message::Bytes(frame)))) => report(SocketReport::Frame(frame)),
            Either::Left(Some(Ok(Message::Text(_)))) => {} // not part of the protocol
            Either::Left(Some(Err(WebSocketError::ConnectionClose(event)))) => {
                report(SocketReport::Closed {
                    code: Some(event.code),
                    reason: event.reason,
                })
            }
            // An error event; the browser fires the close event next, which
            // the client then ignores, so the pair counts once.
            Either::Left(Some(Err(error))) => report(closed(error.to_string())),
            Either::Left(None) => return,
            Either::Right(Some(Outgoing::Frame(frame))) => {
                if let Err(error) = ws.send(Message::Bytes(frame)).await {
                    report(closed(error.to_string()));
                }
            }
            Either::Right(Some(Outgoing::Close { code, reason })) => {
                let _ = ws.close(Some(code), Some(reason));
                return;
            }
            Either::Right(None) => return,
        }
    }
}
