//! [`FlowResource`]: the one class over a [`Binding`], for a connection's
//! URL resource (the package's `FlowClient`, a JavaScript subclass) and for
//! a resource joined on a shared socket (`FlowSocket.join`).
//!
//! The two had the same surface (state, actions, presence, notifications,
//! callbacks), so the package exports it once: `package/index.js` declares
//! `class FlowClient extends FlowResource` with the static `connect`, and
//! `index.d.ts` declares each class with only its own members. The members
//! that differ read which binding they are on: `status` is the
//! connection's `FlowStatus` on a client and the `ResourceStatus` on a
//! joined resource. A `FlowClient` is so `instanceof FlowResource` too (it
//! is its URL's resource); a joined resource is not a `FlowClient`.

use std::rc::Rc;

use js_sys::Promise;
use ui_flow::client::{Binding, Event, Latest, ResourceEvent};
use ui_flow::{OpId, PresenceStatus};
use wasm_bindgen::prelude::*;

use crate::callbacks::{Parsed, PresenceCell, Waiting, parse, resource_status};
use crate::payload::{JsPayload, int_to_js};
use crate::shape::{self, flow_error, millis, option, parse_op_id, parse_signal, type_error};
use crate::socket::FlowSocket;
use crate::state::{JsModel, JsState};

/// A resource's handle: a [`Binding`] (options, commands, op tracking, a
/// connection that cannot start) mapped to JavaScript values, callbacks and
/// a promise per action. See `index.d.ts` for the options, callbacks and
/// value shapes of `FlowClient` and `FlowResource`.
#[wasm_bindgen]
pub struct FlowResource {
    binding: Binding<JsModel>,
    /// The promises of its actions not yet settled.
    waiting: Waiting,
    /// Whether the app passed `applyDelta` (without it `state` is not
    /// available and optimistic changes are refused).
    reduces: bool,
}

impl FlowResource {
    /// Reads `options` and opens the binding: a connection to `name` (a
    /// URL) of its own, or, `on` a socket, the resource `name` joined on it.
    /// A malformed option throws a `TypeError`.
    pub(crate) fn open(
        on: Option<&ui_flow::FlowSocket>,
        name: String,
        options: &JsValue,
    ) -> Result<FlowResource, JsValue> {
        let Parsed {
            flow,
            callbacks,
            reduces,
        } = parse(options, on.is_some())?;
        let waiting = Waiting::default();
        let diff = PresenceCell::default();
        let (for_events, settling, diff_in) =
            (Rc::clone(&callbacks), Rc::clone(&waiting), Rc::clone(&diff));
        let closing = Rc::clone(&waiting);
        // One change listener for both kinds of binding.
        let change = move |part, latest: &Latest<JsState, JsPayload>| {
            callbacks.change(part, latest, &closing, &diff);
        };
        let binding = match on {
            None => Binding::connect_with_events(
                name,
                &flow,
                change,
                move |event: &Event<JsState, JsPayload>| {
                    for_events.event(event, &settling, &diff_in);
                },
            ),
            Some(socket) => Binding::join_with_events(
                socket,
                name,
                &flow,
                change,
                move |event: &ResourceEvent<JsModel>| for_events.resource_event(event, &settling),
            ),
        };
        Ok(FlowResource {
            binding,
            waiting,
            reduces,
        })
    }
}

#[wasm_bindgen]
impl FlowResource {
    /// `FlowClient.connect(url, options)` (through the package's
    /// `FlowClient` subclass): opens a connection to `url` (`ws://` or
    /// `wss://host/realtime/{resource}`) and returns at once; the socket
    /// opens in the background and the callbacks in `options` report what
    /// happens. `options.applyDelta` belongs to this client and is released
    /// at `close()`. A URL that is not `ws://` or `wss://` (or a token that
    /// is not a header token) does not throw: the client is closed at once
    /// with status `{kind: "closed", reason: {kind: "misconfigured"}}`. A
    /// malformed option throws a `TypeError`.
    #[wasm_bindgen(constructor)]
    pub fn new(url: String, options: JsValue) -> Result<FlowResource, JsValue> {
        FlowResource::open(None, url, &options)
    }

    /// The connection this resource is on, as a [`FlowSocket`] to join
    /// further resources on (`socket.join(resource, options)`).
    pub fn socket(&self) -> FlowSocket {
        FlowSocket::of(&self.binding, None)
    }

    /// Sends an action. Resolves with `{opId, result}` on `ActionOk`;
    /// rejects with an `ActionError` (`code`, `message`, `opId`) on
    /// `ActionErr`, or a `FlowError` (`code` `"closed"`, `"queue_full"`,
    /// `"encode"`) when it cannot be sent or the connection (or resource)
    /// closes first. `options.optimistic` is a delta shown in `state` until
    /// the outcome arrives (it needs `applyDelta`).
    #[wasm_bindgen(js_name = sendAction)]
    pub fn send_action(&self, action: JsValue, options: JsValue) -> Promise {
        let optimistic = option(&options, "optimistic");
        let optimistic = if optimistic.is_undefined() {
            None
        } else if !self.reduces {
            return Promise::reject(&type_error("an optimistic change needs options.applyDelta"));
        } else {
            Some(JsPayload(optimistic))
        };
        match self.binding.send(JsPayload(action), optimistic) {
            Ok(op_id) => {
                let waiting = Rc::clone(&self.waiting);
                Promise::new(&mut |resolve, reject| {
                    waiting.borrow_mut().push((op_id, resolve, reject));
                })
            }
            Err(error) => Promise::reject(&flow_error(&error)),
        }
    }

    /// Receives notifications in these domains from now on (and after
    /// every reconnect or rejoin).
    pub fn subscribe(&self, domains: Vec<String>) -> Result<(), JsValue> {
        self.binding.subscribe(domains).map_err(|e| flow_error(&e))
    }

    /// Stops notifications in these domains.
    pub fn unsubscribe(&self, domains: Vec<String>) -> Result<(), JsValue> {
        self.binding
            .unsubscribe(domains)
            .map_err(|e| flow_error(&e))
    }

    /// Sends a WebRTC signalling message (an `RTCSessionDescriptionInit`,
    /// or an `RTCIceCandidateInit` with `type: "candidate"`) to another user
    /// of the resource.
    #[wasm_bindgen(js_name = sendSignal)]
    pub fn send_signal(&self, target_user_id: String, signal: JsValue) -> Result<(), JsValue> {
        let signal = parse_signal(&signal)?;
        self.binding
            .send_signal(target_user_id, signal)
            .map_err(|e| flow_error(&e))
    }

    /// Sets the presence the connection reports in its pings: `"active"`,
    /// `"idle"` (after a quiet spell) or `"away"`; `null` reports nothing.
    /// The client reports `away` and `active` by itself when the page is
    /// hidden or shown. Once closed, and on a joined resource (the report
    /// is the connection's), it does nothing.
    #[wasm_bindgen(js_name = setPresence)]
    pub fn set_presence(&self, status: Option<String>) -> Result<(), JsValue> {
        let report = match status.as_deref() {
            None => None,
            Some(text) => Some(PresenceStatus::from_wire(text).ok_or_else(|| {
                type_error("a presence status is \"active\", \"idle\", \"away\" or null")
            })?),
        };
        // The only failure is a closed client, where there is nothing to
        // report to.
        let _ = self.binding.set_presence(report);
        Ok(())
    }

    /// Asks the server to catch up now.
    pub fn resync(&self) -> Result<(), JsValue> {
        self.binding.resync().map_err(|e| flow_error(&e))
    }

    /// A client: closes the connection for good, with every resource
    /// joined on it. A joined resource: leaves it (`Leave` on its channel;
    /// status `leaving`, then `left`); the socket stays. Actions still
    /// waiting reject with a `FlowError` of code `"closed"`; `applyDelta`
    /// is let go of now; `state` keeps its last value.
    pub fn close(&self) {
        self.binding.close();
    }

    /// The state to show (confirmed plus optimistic changes), read now (so
    /// a change made by this call's caller, an optimistic send, is there
    /// before it is told); `undefined` without `applyDelta` or before the
    /// first snapshot.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> JsValue {
        let read = |s: &JsState| s.0.0.clone();
        match (
            self.reduces,
            self.binding.connection(),
            self.binding.resource(),
        ) {
            (true, Some(connection), _) => connection.with_state(read),
            (true, _, Some(resource)) => resource.with_state(read),
            // Never connected or joined, or no `applyDelta`.
            _ => JsValue::UNDEFINED,
        }
    }

    /// A client: where the connection stands (`FlowStatus`), as last told
    /// to `onStatus` (after `close()`, `closed` once the close is reported,
    /// when waiting actions reject). A joined resource: where it stands
    /// (`ResourceStatus`): `joining`, `joined`, `leaving`, or `left` with
    /// the server's code and message.
    #[wasm_bindgen(getter)]
    pub fn status(&self) -> JsValue {
        let latest = self.binding.latest();
        match latest.resource_status() {
            Some(status) => resource_status(&status),
            None => shape::status(&latest.status()),
        }
    }

    /// Where the connection stands (`FlowStatus`).
    #[wasm_bindgen(getter, js_name = connectionStatus)]
    pub fn connection_status(&self) -> JsValue {
        shape::status(&self.binding.latest().status())
    }

    /// The last measured round trip in milliseconds, or `undefined`.
    #[wasm_bindgen(getter)]
    pub fn latency(&self) -> JsValue {
        self.binding
            .latest()
            .latency()
            .map_or(JsValue::UNDEFINED, millis)
    }

    /// The seq of the confirmed state, or `undefined` before the first
    /// snapshot.
    #[wasm_bindgen(getter)]
    pub fn seq(&self) -> JsValue {
        let seq = match (self.binding.connection(), self.binding.resource()) {
            (Some(connection), _) => connection.seq(),
            (_, Some(resource)) => resource.seq(),
            _ => None,
        };
        seq.map_or(JsValue::UNDEFINED, |seq| int_to_js(seq.into()))
    }

    /// Everyone connected to the resource (`PresenceInfo[]`).
    #[wasm_bindgen(getter)]
    pub fn presence(&self) -> JsValue {
        shape::members(&self.binding.latest().presence())
    }

    /// An action's state (`OpState`) while the client keeps it, or
    /// `undefined`.
    pub fn op(&self, op_id: &str) -> Result<JsValue, JsValue> {
        let op_id: OpId = parse_op_id(op_id)?;
        Ok(self
            .binding
            .latest()
            .op(op_id)
            .map_or(JsValue::UNDEFINED, |state| shape::op_state(&state)))
    }
}
