//! The browser driver: the client on the browser's own `WebSocket` and
//! timers.
//!
//! One local task runs the loop: it waits for an input or the client's
//! next deadline (one `setTimeout`), feeds it to the client and carries
//! out the client's outputs. Sockets have no task of their own: the
//! browser calls their handlers, which report to the loop's channel, and
//! the loop hands each socket what the client wrote for it right after
//! the client wrote it. The loop also listens for the window's `online`
//! and the document's `visibilitychange` events, to retry at once when the
//! network or the page comes back and to report the page's visibility as
//! presence. Those two listeners are added once per connection and removed
//! when it closes, whatever the number of reconnects.
//!
//! A socket that closes without ever opening may have been refused with an
//! HTTP status the page cannot see; the driver then runs the refusal probe
//! (`probe.rs`) and reports the status it reads, so a 404 or 403 ends the
//! connection with [`CloseReason::Refused`](crate::CloseReason::Refused)
//! instead of retrying forever.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};

use gloo_events::EventListener;
use gloo_timers::callback::Timeout;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{BinaryType, CloseEvent, MessageEvent};
use web_time::Instant;

use crate::error::Error;
use crate::model::Model;

use super::connection::{FlowConnection, FlowConnectionBuilder};
use super::driver::{Driver, Input, Outgoing, SocketReport, Step, Target};
use super::event::SocketId;
use super::probe;
use super::queue::{TryRecvError, UnboundedReceiver, UnboundedSender};

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
    let mut sockets: Vec<Socket> = Vec::new();
    loop {
        let step = driver.flush(&target.url, |id, url, protocols, commands| {
            if let Some(socket) = Socket::open(id, url, &protocols, commands, &reports) {
                sockets.push(socket);
            }
        });
        // What the flush wrote for each socket is in its channel now.
        sockets.retain_mut(Socket::carry_out);
        let Step::Wait(at) = step else { return };
        let wait = at.saturating_duration_since(Instant::now()).as_millis();
        // Dropping the timer clears it.
        let timer = Timer::start(u32::try_from(wait).unwrap_or(u32::MAX));
        let mut received = pin!(inputs.recv());
        let next = poll_fn(|cx| {
            if let Poll::Ready(input) = received.as_mut().poll(cx) {
                return Poll::Ready(Some(input));
            }
            timer.poll(cx.waker()).map(|()| None)
        })
        .await;
        match next {
            Some(Ok(input)) => driver.input(input),
            Some(Err(_)) => return,
            None => driver.timeout(),
        }
    }
}

/// One `setTimeout` the loop can wait for; dropping it clears the timeout.
struct Timer {
    _timeout: Timeout,
    fired: Rc<Fired>,
}

#[derive(Default)]
struct Fired {
    done: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Timer {
    fn start(millis: u32) -> Self {
        let fired = Rc::new(Fired::default());
        let timeout = Timeout::new(millis, {
            let fired = Rc::clone(&fired);
            move || {
                fired.done.set(true);
                if let Some(waker) = fired.waker.take() {
                    waker.wake();
                }
            }
        });
        Timer {
            _timeout: timeout,
            fired,
        }
    }

    /// Ready once the timeout has fired; until then `waker` is woken when
    /// it does.
    fn poll(&self, waker: &Waker) -> Poll<()> {
        if self.fired.done.get() {
            return Poll::Ready(());
        }
        *self.fired.waker.borrow_mut() = Some(waker.clone());
        Poll::Pending
    }
}

/// Where a socket is in its life, as its handlers and the loop see it.
#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Connecting,
    Open,
    /// Closed without opening; the refusal probe is asking the server.
    Probing,
    /// Closed, or given up: nothing more is reported.
    Ended,
}

/// What a socket's handlers share with the loop.
struct Shared {
    id: SocketId,
    url: String,
    reports: UnboundedSender<Input>,
    phase: Cell<Phase>,
}

impl Shared {
    fn report(&self, report: SocketReport) {
        let _ = self.reports.unbounded_send(Input::Socket(self.id, report));
    }

    /// The socket closed before it opened: refused, or never reached. The
    /// browser hides which; the refusal probe asks the server, and `close`
    /// is reported if it learns nothing.
    fn closed_unopened(self: &Rc<Self>, close: SocketReport) {
        self.phase.set(Phase::Probing);
        let shared = Rc::clone(self);
        wasm_bindgen_futures::spawn_local(async move {
            let status = probe::status(&shared.url).await;
            // Given up meanwhile: the loop ended it.
            if shared.phase.get() == Phase::Probing {
                shared.phase.set(Phase::Ended);
                shared.report(status.map_or(close, SocketReport::Refused));
            }
        });
    }
}

/// What a socket reports for an `error` event. The browser fires `close`
/// next; once open, that is reported too and the client ignores it, so
/// the pair counts once.
const CONNECTION_FAILED: &str = "WebSocket connection failed";

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// `Uint8Array.prototype.set.call(into, from)`: copies `from` into
    /// `into`, which must be as long (js-sys's own copy, made public).
    #[wasm_bindgen(js_namespace = Uint8Array, js_name = "prototype.set.call")]
    fn copy_into(into: &mut [u8], from: &js_sys::Uint8Array);
}

/// A received message's bytes. Not `Uint8Array::to_vec`, whose length
/// check brings core's `assert_eq!` failure path (with its `usize`
/// printing) into the browser build for a length it has just read.
fn frame_bytes(array: &js_sys::Uint8Array) -> Vec<u8> {
    let mut bytes = vec![0; array.length() as usize];
    copy_into(&mut bytes, array);
    bytes
}

fn closed(reason: String) -> SocketReport {
    SocketReport::Closed { code: None, reason }
}

/// One browser `WebSocket`, its handlers and the channel of what the
/// client writes for it. Dropping it removes the handlers and closes the
/// socket.
struct Socket {
    ws: web_sys::WebSocket,
    shared: Rc<Shared>,
    commands: UnboundedReceiver<Outgoing>,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut()>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Socket {
    /// Dials `url` offering `protocols`; if the browser refuses to create
    /// the socket (a malformed URL), reports it closed and returns `None`.
    fn open(
        id: SocketId,
        url: String,
        protocols: &[String],
        commands: UnboundedReceiver<Outgoing>,
        reports: &UnboundedSender<Input>,
    ) -> Option<Self> {
        let created = if protocols.is_empty() {
            web_sys::WebSocket::new(&url)
        } else {
            // The offered subprotocols, as a JavaScript array of strings.
            let list: js_sys::Array = protocols
                .iter()
                .map(|protocol| wasm_bindgen::JsValue::from_str(protocol))
                .collect();
            web_sys::WebSocket::new_with_str_sequence(&url, &list)
        };
        let ws = match created {
            Ok(ws) => ws,
            Err(error) => {
                let _ = reports.unbounded_send(Input::Socket(id, closed(js_text(error))));
                return None;
            }
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        let shared = Rc::new(Shared {
            id,
            url,
            reports: reports.clone(),
            phase: Cell::new(Phase::Connecting),
        });
        let on_open = Closure::<dyn FnMut()>::new({
            let shared = Rc::clone(&shared);
            move || {
                if shared.phase.get() == Phase::Connecting {
                    shared.phase.set(Phase::Open);
                    shared.report(SocketReport::Opened);
                }
            }
        });
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new({
            let shared = Rc::clone(&shared);
            move |event: MessageEvent| {
                // Text messages are not part of the protocol.
                if let (Phase::Open, Ok(buffer)) = (
                    shared.phase.get(),
                    event.data().dyn_into::<js_sys::ArrayBuffer>(),
                ) {
                    let frame = frame_bytes(&js_sys::Uint8Array::new(&buffer));
                    shared.report(SocketReport::Frame(frame));
                }
            }
        });
        let on_error = Closure::<dyn FnMut()>::new({
            let shared = Rc::clone(&shared);
            move || match shared.phase.get() {
                Phase::Connecting => shared.closed_unopened(closed(CONNECTION_FAILED.into())),
                Phase::Open => shared.report(closed(CONNECTION_FAILED.into())),
                Phase::Probing | Phase::Ended => {}
            }
        });
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new({
            let shared = Rc::clone(&shared);
            move |event: CloseEvent| {
                let close = SocketReport::Closed {
                    code: Some(event.code()),
                    reason: event.reason(),
                };
                match shared.phase.get() {
                    Phase::Connecting => shared.closed_unopened(close),
                    Phase::Open => {
                        shared.phase.set(Phase::Ended);
                        shared.report(close);
                    }
                    Phase::Probing | Phase::Ended => {}
                }
            }
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Some(Socket {
            ws,
            shared,
            commands,
            _on_open: on_open,
            _on_message: on_message,
            _on_error: on_error,
            _on_close: on_close,
        })
    }

    /// Carries out what the client wrote for this socket; false once the
    /// loop is done with it (closed by the client, given up before it
    /// opened, or replaced), and dropping it then closes it.
    fn carry_out(&mut self) -> bool {
        loop {
            let command = match self.commands.try_recv() {
                Ok(command) => command,
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Closed) => return false,
            };
            let phase = self.shared.phase.get();
            match command {
                Outgoing::Frame(frame) if phase == Phase::Open => {
                    if let Err(error) = self.ws.send_with_u8_array(&frame) {
                        self.shared.report(closed(js_text(error)));
                    }
                }
                Outgoing::Close { code, reason } if phase == Phase::Open => {
                    let _ = self.ws.close_with_code_and_reason(code, reason);
                    return false;
                }
                // Before it opened, any command means the client gave it up.
                _ if phase != Phase::Ended => return false,
                _ => {}
            }
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.shared.phase.set(Phase::Ended);
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onerror(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

/// What a JavaScript exception says: an `Error`'s `toString()` (its name
/// and message), or the value itself as text.
fn js_text(value: wasm_bindgen::JsValue) -> String {
    match value.dyn_into::<js_sys::Error>() {
        Ok(error) => String::from(error.to_string()),
        Err(other) => other
            .as_string()
            .unwrap_or_else(|| "the WebSocket could not be created".to_owned()),
    }
}
