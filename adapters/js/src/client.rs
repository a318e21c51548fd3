//! [`FlowClient`]: the JavaScript class for a connection and the resource
//! its URL names.

use std::rc::Rc;

use js_sys::Promise;
use ui_flow::client::{Binding, Event, Latest};
use wasm_bindgen::prelude::*;

use crate::callbacks::{Parsed, PresenceCell, Waiting, parse};
use crate::payload::JsPayload;
use crate::shape::millis;
use crate::socket::FlowSocket;
use crate::state::JsState;
use crate::surface::Surface;

/// A ui-flow connection for JavaScript: a [`Binding`] (options, commands,
/// op tracking, a connection that cannot start) mapped to JavaScript values,
/// callbacks and a promise per action. See `index.d.ts` for the options,
/// callbacks and value shapes.
#[wasm_bindgen]
pub struct FlowClient {
    surface: Surface,
}

#[wasm_bindgen]
impl FlowClient {
    /// Opens a connection to `url` (`ws://` or `wss://host/realtime/{resource}`)
    /// and returns at once; the socket opens in the background and the
    /// callbacks in `options` report what happens.
    ///
    /// `options.token` is sent in the `Sec-WebSocket-Protocol` header, not
    /// the URL; `options.tokenProvider()` is called before every (re)connect
    /// instead, so an expiring token can be refreshed.
    ///
    /// `options.applyDelta` belongs to this client: other clients on the
    /// page may pass other functions, and it is released at `close()` (or
    /// when the connection closes for good), not only when the object is
    /// freed.
    ///
    /// A URL that is not `ws://` or `wss://` (or a token that is not a
    /// header token) does not throw: the client is closed at once with
    /// status `{kind: "closed", reason: {kind: "misconfigured"}}`, told to
    /// `onStatus` before `connect` returns, as in the Rust adapters. A
    /// malformed option throws a `TypeError`.
    pub fn connect(url: String, options: JsValue) -> Result<FlowClient, JsValue> {
        let Parsed {
            flow,
            callbacks,
            reduces,
        } = parse(&options, false)?;
        let waiting = Waiting::default();
        let diff = PresenceCell::default();
        let (for_events, settling, diff_in) =
            (Rc::clone(&callbacks), Rc::clone(&waiting), Rc::clone(&diff));
        let closing = Rc::clone(&waiting);
        let binding = Binding::connect_with_events(
            url,
            &flow,
            move |part, latest: &Latest<JsState, JsPayload>| {
                callbacks.change(part, latest, &closing, &diff);
            },
            move |event: &Event<JsState, JsPayload>| {
                for_events.event(event, &settling, &diff_in);
            },
        );
        Ok(FlowClient {
            surface: Surface {
                binding,
                waiting,
                reduces,
            },
        })
    }

    /// This client's connection as a [`FlowSocket`], to join further
    /// resources on the same WebSocket (`socket.join(resource, options)`).
    /// Closing the socket closes this client too.
    pub fn socket(&self) -> FlowSocket {
        FlowSocket::of(&self.surface.binding, None)
    }

    /// Sends an action. Resolves with `{opId, result}` on `ActionOk`;
    /// rejects with an `ActionError` (`code`, `message`, `opId`) on
    /// `ActionErr`, or a `FlowError` (`code` `"closed"`, `"queue_full"`,
    /// `"encode"`) when it cannot be sent or the connection closes first.
    /// `options.optimistic` is a delta shown in `state` until the outcome
    /// arrives (it needs `applyDelta`).
    #[wasm_bindgen(js_name = sendAction)]
    pub fn send_action(&self, action: JsValue, options: JsValue) -> Promise {
        self.surface.send_action(action, &options)
    }

    /// Receives notifications in these domains from now on (and after
    /// every reconnect).
    pub fn subscribe(&self, domains: Vec<String>) -> Result<(), JsValue> {
        self.surface.subscribe(domains, true)
    }

    /// Stops notifications in these domains.
    pub fn unsubscribe(&self, domains: Vec<String>) -> Result<(), JsValue> {
        self.surface.subscribe(domains, false)
    }

    /// Sends a WebRTC signalling message (an `RTCSessionDescriptionInit`,
    /// or an `RTCIceCandidateInit` with `type: "candidate"`) to another user
    /// of the resource.
    #[wasm_bindgen(js_name = sendSignal)]
    pub fn send_signal(&self, target_user_id: String, signal: JsValue) -> Result<(), JsValue> {
        self.surface.send_signal(target_user_id, &signal)
    }

    /// Sets the presence this connection reports in its pings: `"active"`,
    /// `"idle"` (after a quiet spell) or `"away"`; `null` reports nothing.
    /// The client reports `away` and `active` by itself when the page is
    /// hidden or shown. Once closed it does nothing.
    #[wasm_bindgen(js_name = setPresence)]
    pub fn set_presence(&self, status: Option<String>) -> Result<(), JsValue> {
        self.surface.set_presence(status)
    }

    /// Asks the server to catch up now.
    pub fn resync(&self) -> Result<(), JsValue> {
        self.surface.resync()
    }

    /// Closes the connection for good, with every resource joined on it.
    /// Actions still waiting reject with a `FlowError` of code `"closed"`.
    /// The client lets go of `applyDelta` now; `state` keeps its last
    /// value.
    pub fn close(&self) {
        self.surface.binding.close();
    }

    /// The state to show (confirmed plus optimistic changes); `undefined`
    /// without `applyDelta` or before the first snapshot.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> JsValue {
        self.surface.state()
    }

    /// Where the connection stands (`FlowStatus`), as last told to
    /// `onStatus` (after `close()`, `closed` once the close is reported,
    /// when waiting actions reject).
    #[wasm_bindgen(getter)]
    pub fn status(&self) -> JsValue {
        self.surface.connection_status()
    }

    /// The last measured round trip in milliseconds, or `undefined`.
    #[wasm_bindgen(getter)]
    pub fn latency(&self) -> JsValue {
        self.surface
            .binding
            .latest()
            .latency()
            .map_or(JsValue::UNDEFINED, millis)
    }

    /// The seq of the confirmed state, or `undefined` before the first
    /// snapshot.
    #[wasm_bindgen(getter)]
    pub fn seq(&self) -> JsValue {
        self.surface.seq()
    }

    /// Everyone connected to the resource (`PresenceInfo[]`).
    #[wasm_bindgen(getter)]
    pub fn presence(&self) -> JsValue {
        self.surface.presence()
    }

    /// An action's state (`OpState`) while the client keeps it, or
    /// `undefined`.
    pub fn op(&self, op_id: &str) -> Result<JsValue, JsValue> {
        self.surface.op(op_id)
    }
}
