//! [`FlowClient`]: the JavaScript class.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Array, Function, Promise};
use ui_flow::client::{Event, FlowConnection, OpState};
use ui_flow::{ConnectionStatus, OpId, PresenceDiff, PresenceInfo, PresenceStatus};
use wasm_bindgen::prelude::*;

use crate::payload::{JsPayload, int_to_js};
use crate::shape::{
    self, flow_error, function, millis, named_error, object, option, parse_config, parse_op_id,
    parse_signal, type_error,
};
use crate::state::{JsModel, JsState, Reducer};

type Connection = FlowConnection<JsModel>;

/// The `resolve` and `reject` of each `sendAction` promise not yet settled.
type Waiting = Rc<RefCell<HashMap<OpId, (Function, Function)>>>;

/// Calls an application callback; an exception is logged, not propagated,
/// so one faulty callback cannot stop the connection.
fn call(f: &Function, args: &[JsValue]) {
    let args: Array = args.iter().collect();
    if let Err(error) = f.apply(&JsValue::NULL, &args) {
        web_sys::console::error_2(&"ui-flow-js: a callback threw".into(), &error);
    }
}

/// Settles the promise of `op_id`, if it was sent through this client and
/// its outcome is final.
fn settle(waiting: &Waiting, op_id: OpId, state: &OpState) {
    if !state.is_settled() {
        return;
    }
    let Some((resolve, reject)) = waiting.borrow_mut().remove(&op_id) else {
        return;
    };
    let id = JsValue::from_str(&op_id.to_string());
    match state {
        OpState::Err { code, message } => call(
            &reject,
            &[named_error(
                "ActionError",
                code.as_deref(),
                message,
                &[("opId", id)],
            )],
        ),
        _ => call(
            &resolve,
            &[object(&[("opId", id), ("result", shape::op_result(state))])],
        ),
    }
}

/// Rejects every promise still waiting: the connection closed for good.
fn reject_all(waiting: &Waiting) {
    let waiting: Vec<_> = waiting.borrow_mut().drain().collect();
    for (op_id, (_, reject)) in waiting {
        call(
            &reject,
            &[named_error(
                "FlowError",
                Some("closed"),
                "the connection closed before the action's outcome arrived",
                &[("opId", JsValue::from_str(&op_id.to_string()))],
            )],
        );
    }
}

/// A ui-flow connection for JavaScript. See `index.d.ts` for the options,
/// callbacks and value shapes.
#[wasm_bindgen]
pub struct FlowClient {
    connection: Connection,
    waiting: Waiting,
    /// This client's `applyDelta`, in charge while the client works; `None`
    /// inside when the app did not pass one (then `state` is not
    /// available). The driver holds a copy until the connection closes.
    reducer: Reducer,
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
    /// page may pass other functions, and it is released when the
    /// connection closes.
    ///
    /// Throws a `TypeError` for a URL that is not `ws://` or `wss://` or a
    /// malformed option (a token that is not a header token).
    pub fn connect(url: String, options: JsValue) -> Result<FlowClient, JsValue> {
        let reducer = Reducer(function(&options, "applyDelta")?);
        let scoped = reducer.clone();
        let domains = option(&options, "subscribe");
        let domains: Vec<String> = if domains.is_undefined() {
            Vec::new()
        } else {
            domains
                .dyn_into::<Array>()
                .map_err(|_| type_error("options.subscribe must be an array of strings"))?
                .iter()
                .map(|d| d.as_string())
                .collect::<Option<_>>()
                .ok_or_else(|| type_error("options.subscribe must be an array of strings"))?
        };
        let config = parse_config(&option(&options, "config"))?;
        let waiting = Waiting::default();

        let mut builder = Connection::builder()
            .url(url)
            .config(config)
            .subscribe(domains)
            .state_scope(move |work| scoped.scope(work));
        let token = option(&options, "token");
        if !token.is_undefined() && !token.is_null() {
            let token = token
                .as_string()
                .ok_or_else(|| type_error("options.token must be a string"))?;
            builder = builder.token(token);
        }
        if let Some(f) = function(&options, "tokenProvider")? {
            // Called before every (re)connect; a non-string (or a throw)
            // means no token.
            builder = builder
                .token_provider(move || f.call0(&JsValue::NULL).ok().and_then(|t| t.as_string()));
        }
        if let Some(f) = function(&options, "onSnapshot")? {
            builder = builder.on_snapshot(move |state: &JsState, seq| {
                call(&f, &[state.0.0.clone(), int_to_js(seq.into())]);
            });
        }
        if let Some(f) = function(&options, "onDelta")? {
            builder = builder.on_delta(move |delta: &JsPayload, seq| {
                call(&f, &[delta.0.clone(), int_to_js(seq.into())]);
            });
        }
        if let (Some(f), Some(_)) = (function(&options, "onState")?, &reducer.0) {
            builder =
                builder.on_state(move |state: &JsState| call(&f, std::slice::from_ref(&state.0.0)));
        }
        if let Some(f) = function(&options, "onNotify")? {
            builder =
                builder.on_notify(move |domain: &str, event: JsPayload, cause: Option<OpId>| {
                    let cause = cause.map_or(JsValue::UNDEFINED, |id| id.to_string().into());
                    call(&f, &[domain.into(), event.0, cause]);
                });
        }
        if let Some(f) = function(&options, "onPresence")? {
            builder = builder.on_presence(move |all: &[PresenceInfo], diff: &PresenceDiff| {
                call(&f, &[shape::members(all), shape::presence_diff(diff)]);
            });
        }
        if let Some(f) = function(&options, "onSignal")? {
            builder = builder.on_signal(move |from: &str, signal| {
                call(&f, &[from.into(), shape::signal(&signal)]);
            });
        }
        let on_action = function(&options, "onAction")?;
        let settling = Rc::clone(&waiting);
        builder = builder.on_action(move |op_id, state: &OpState| {
            settle(&settling, op_id, state);
            if let Some(f) = &on_action {
                call(f, &[op_id.to_string().into(), shape::op_state(state)]);
            }
        });
        let on_status = function(&options, "onStatus")?;
        let closing = Rc::clone(&waiting);
        builder = builder.on_status(move |status: &ConnectionStatus| {
            if let Some(f) = &on_status {
                call(f, &[shape::status(status)]);
            }
            if matches!(status, ConnectionStatus::Closed { .. }) {
                reject_all(&closing);
            }
        });
        if let Some(f) = function(&options, "onServerError")? {
            builder = builder.on_event(move |event: &Event<JsState, JsPayload>| {
                if let Event::ServerError {
                    code,
                    message,
                    fatal,
                } = event
                {
                    let info = object(&[
                        (
                            "code",
                            code.as_ref()
                                .map_or(JsValue::UNDEFINED, |c| c.as_str().into()),
                        ),
                        ("message", message.as_str().into()),
                        ("fatal", (*fatal).into()),
                    ]);
                    call(&f, &[info]);
                }
            });
        }
        let connection = builder
            .connect()
            .map_err(|error| type_error(&error.to_string()))?;
        Ok(FlowClient {
            connection,
            waiting,
            reducer,
        })
    }

    /// Sends an action. Resolves with `{opId, result}` on `ActionOk`;
    /// rejects with an `ActionError` (`code`, `message`, `opId`) on
    /// `ActionErr`, or a `FlowError` (`code` `"closed"`, `"queue_full"`,
    /// `"encode"`) when it cannot be sent or the connection closes first.
    /// `options.optimistic` is a delta shown in `state` until the outcome
    /// arrives (it needs `applyDelta`).
    #[wasm_bindgen(js_name = sendAction)]
    pub fn send_action(&self, action: JsValue, options: JsValue) -> Promise {
        let optimistic = option(&options, "optimistic");
        let sent = if optimistic.is_undefined() {
            self.connection.send_action(JsPayload(action))
        } else if self.reducer.0.is_none() {
            return Promise::reject(&type_error(
                "an optimistic change needs options.applyDelta at connect",
            ));
        } else {
            self.reducer.scope(|| {
                self.connection
                    .send_optimistic(JsPayload(action), JsPayload(optimistic))
            })
        };
        match sent {
            Ok(op_id) => {
                let waiting = Rc::clone(&self.waiting);
                Promise::new(&mut |resolve, reject| {
                    waiting.borrow_mut().insert(op_id, (resolve, reject));
                })
            }
            Err(error) => Promise::reject(&flow_error(&error)),
        }
    }

    /// Receives notifications in these domains from now on (and after
    /// every reconnect).
    pub fn subscribe(&self, domains: Vec<String>) -> Result<(), JsValue> {
        self.connection
            .subscribe(domains)
            .map_err(|e| flow_error(&e.into()))
    }

    /// Stops notifications in these domains.
    pub fn unsubscribe(&self, domains: Vec<String>) -> Result<(), JsValue> {
        self.connection
            .unsubscribe(domains)
            .map_err(|e| flow_error(&e.into()))
    }

    /// Sends a WebRTC signalling message (an `RTCSessionDescriptionInit`,
    /// or an `RTCIceCandidateInit` with `type: "candidate"`) to another user
    /// of the resource.
    #[wasm_bindgen(js_name = sendSignal)]
    pub fn send_signal(&self, target_user_id: String, signal: JsValue) -> Result<(), JsValue> {
        let signal = parse_signal(&signal)?;
        self.connection
            .send_signal(target_user_id, signal)
            .map_err(|e| flow_error(&e))
    }

    /// Sets the presence this connection reports in its pings: `"active"`,
    /// `"idle"` (after a quiet spell) or `"away"`; `null` reports nothing.
    /// The client reports `away` and `active` by itself when the page is
    /// hidden or shown.
    #[wasm_bindgen(js_name = setPresence)]
    pub fn set_presence(&self, status: Option<String>) -> Result<(), JsValue> {
        let report = match status.as_deref() {
            None => None,
            Some(text) => Some(PresenceStatus::from_wire(text).ok_or_else(|| {
                type_error("a presence status is \"active\", \"idle\", \"away\" or null")
            })?),
        };
        self.connection.set_presence(report);
        Ok(())
    }

    /// Asks the server to catch up now.
    pub fn resync(&self) -> Result<(), JsValue> {
        self.reducer
            .scope(|| self.connection.resync())
            .map_err(|e| flow_error(&e.into()))
    }

    /// Closes the connection for good. Actions still waiting reject with a
    /// `FlowError` of code `"closed"`. The connection lets go of
    /// `applyDelta` as it ends; `state` keeps its last value.
    pub fn close(&self) {
        self.reducer.scope(|| self.connection.close());
    }

    /// The state to show (confirmed plus optimistic changes); `undefined`
    /// without `applyDelta` or before the first snapshot.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> JsValue {
        match self.reducer.0 {
            Some(_) => self.connection.state().0.0,
            None => JsValue::UNDEFINED,
        }
    }

    /// Where the connection stands (`FlowStatus`).
    #[wasm_bindgen(getter)]
    pub fn status(&self) -> JsValue {
        shape::status(&self.connection.status())
    }

    /// The last measured round trip in milliseconds, or `undefined`.
    #[wasm_bindgen(getter)]
    pub fn latency(&self) -> JsValue {
        self.connection.latency().map_or(JsValue::UNDEFINED, millis)
    }

    /// The seq of the confirmed state, or `undefined` before the first
    /// snapshot.
    #[wasm_bindgen(getter)]
    pub fn seq(&self) -> JsValue {
        self.connection
            .seq()
            .map_or(JsValue::UNDEFINED, |seq| int_to_js(seq.into()))
    }

    /// Everyone connected to the resource (`PresenceInfo[]`).
    #[wasm_bindgen(getter)]
    pub fn presence(&self) -> JsValue {
        shape::members(&self.connection.presence())
    }

    /// An action's state (`OpState`) while the client keeps it, or
    /// `undefined`.
    pub fn op(&self, op_id: &str) -> Result<JsValue, JsValue> {
        let op_id = parse_op_id(op_id)?;
        Ok(self
            .connection
            .op(op_id)
            .map_or(JsValue::UNDEFINED, |state| shape::op_state(&state)))
    }
}
