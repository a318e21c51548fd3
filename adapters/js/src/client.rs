//! [`FlowClient`]: the JavaScript class.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function, Promise};
use ui_flow::client::{Binding, Event, FlowOptions, Latest, OpState, Part};
use ui_flow::{ConnectionStatus, OpId, PresenceStatus};
use wasm_bindgen::prelude::*;

use crate::payload::{JsPayload, int_to_js};
use crate::shape::{
    self, flow_error, function, millis, named_error, object, option, parse_config, parse_op_id,
    parse_signal, type_error,
};
use crate::state::{JsModel, JsState, Reducer};

/// The `resolve` and `reject` of each `sendAction` promise not yet settled
/// (a list: a handful wait at a time, and it keeps a hash table's code out
/// of the package).
type Waiting = Rc<RefCell<Vec<(OpId, Function, Function)>>>;

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
    let mut list = waiting.borrow_mut();
    let Some(at) = list.iter().position(|(id, ..)| *id == op_id) else {
        return;
    };
    let (_, resolve, reject) = list.swap_remove(at);
    drop(list);
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
    let waiting = std::mem::take(&mut *waiting.borrow_mut());
    for (op_id, _, reject) in waiting {
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

/// A ui-flow connection for JavaScript: a [`Binding`] (options, commands,
/// op tracking, a connection that cannot start) mapped to JavaScript values,
/// callbacks and a promise per action. See `index.d.ts` for the options,
/// callbacks and value shapes.
#[wasm_bindgen]
pub struct FlowClient {
    binding: Binding<JsModel>,
    waiting: Waiting,
    /// Whether the app passed `applyDelta` (without it `state` is not
    /// available and optimistic changes are refused).
    reduces: bool,
}

/// The application's callbacks from the options, each optional, in the
/// order of [`Callbacks::NAMES`].
struct Callbacks([Option<Function>; 8]);

impl Callbacks {
    const NAMES: [&str; 8] = [
        "onSnapshot",
        "onDelta",
        "onState",
        "onNotify",
        "onPresence",
        "onAction",
        "onStatus",
        "onServerError",
    ];
    const SNAPSHOT: usize = 0;
    const DELTA: usize = 1;
    const STATE: usize = 2;
    const NOTIFY: usize = 3;
    const PRESENCE: usize = 4;
    const ACTION: usize = 5;
    const STATUS: usize = 6;
    const SERVER_ERROR: usize = 7;

    /// Reads them from the options; a value that is not a function throws.
    fn read(options: &JsValue) -> Result<Self, JsValue> {
        let mut all: [Option<Function>; 8] = Default::default();
        for (slot, name) in all.iter_mut().zip(Self::NAMES) {
            *slot = function(options, name)?;
        }
        Ok(Callbacks(all))
    }
    /// An event as it arrives: the callbacks that take raw events, and the
    /// promise of an action whose outcome it is.
    fn event(&self, event: &Event<JsState, JsPayload>, waiting: &Waiting, diff: &PresenceCell) {
        match event {
            Event::Snapshot { state, seq, .. } => {
                if let Some(f) = &self.0[Self::SNAPSHOT] {
                    call(f, &[state.0.0.clone(), int_to_js((*seq).into())]);
                }
            }
            Event::Delta { delta, seq } => {
                if let Some(f) = &self.0[Self::DELTA] {
                    call(f, &[delta.0.clone(), int_to_js((*seq).into())]);
                }
            }
            Event::Action { op_id, state } => {
                settle(waiting, *op_id, state);
                if let Some(f) = &self.0[Self::ACTION] {
                    call(f, &[op_id.to_string().into(), shape::op_state(state)]);
                }
            }
            Event::Notify {
                domain,
                event,
                correlation_id,
            } => {
                if let Some(f) = &self.0[Self::NOTIFY] {
                    let cause =
                        correlation_id.map_or(JsValue::UNDEFINED, |id| id.to_string().into());
                    call(f, &[domain.as_str().into(), event.0.clone(), cause]);
                }
            }
            // Told with the whole list once the binding has it.
            Event::Presence(change) if self.0[Self::PRESENCE].is_some() => {
                *diff.borrow_mut() = Some(shape::presence_diff(change));
            }
            Event::ServerError {
                code,
                message,
                fatal,
            } => {
                if let Some(f) = &self.0[Self::SERVER_ERROR] {
                    let info = object(&[
                        (
                            "code",
                            code.as_ref()
                                .map_or(JsValue::UNDEFINED, |c| c.as_str().into()),
                        ),
                        ("message", message.as_str().into()),
                        ("fatal", (*fatal).into()),
                    ]);
                    call(f, &[info]);
                }
            }
            _ => {}
        }
    }

    /// A value of the binding changed.
    fn change(
        &self,
        part: Part,
        latest: &Latest<JsState, JsPayload>,
        waiting: &Waiting,
        diff: &PresenceCell,
    ) {
        match part {
            Part::State => {
                if let Some(f) = &self.0[Self::STATE] {
                    call(f, std::slice::from_ref(&latest.state().0.0));
                }
            }
            Part::Status => {
                let status = latest.status();
                if let Some(f) = &self.0[Self::STATUS] {
                    call(f, &[shape::status(&status)]);
                }
                if matches!(status, ConnectionStatus::Closed { .. }) {
                    reject_all(waiting);
                }
            }
            Part::Presence => {
                if let (Some(f), Some(change)) = (&self.0[Self::PRESENCE], diff.borrow_mut().take())
                {
                    call(f, &[shape::members(&latest.presence()), change]);
                }
            }
            _ => {}
        }
    }
}

/// The presence change an `Event::Presence` reported (as `PresenceDiff` in
/// `index.d.ts`), until the binding tells the list it made.
type PresenceCell = Rc<RefCell<Option<JsValue>>>;

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
    /// A URL that is not `ws://` or `wss://` (or a token that is not a
    /// header token) does not throw: the client is closed at once with
    /// status `{kind: "closed", reason: {kind: "misconfigured"}}`, told to
    /// `onStatus` before `connect` returns, as in the Rust adapters. A
    /// malformed option throws a `TypeError`.
    pub fn connect(url: String, options: JsValue) -> Result<FlowClient, JsValue> {
        // Everything that may throw first, so that a throw has little to
        // drop.
        let reducer = Reducer(function(&options, "applyDelta")?);
        let reduces = reducer.0.is_some();
        let mut callbacks = Callbacks::read(&options)?;
        if !reduces {
            // No state to tell.
            callbacks.0[Callbacks::STATE] = None;
        }
        let callbacks = Rc::new(callbacks);
        let token_provider = function(&options, "tokenProvider")?;
        let on_signal = function(&options, "onSignal")?;
        let token = option(&options, "token");
        let token = if token.is_undefined() || token.is_null() {
            None
        } else {
            Some(
                token
                    .as_string()
                    .ok_or_else(|| type_error("options.token must be a string"))?,
            )
        };
        let domains = option(&options, "subscribe");
        let domains: Vec<String> = if domains.is_undefined() {
            Vec::new()
        } else {
            domains
                .dyn_into::<Array>()
                .ok()
                .and_then(|list| list.iter().map(|d| d.as_string()).collect())
                .ok_or_else(|| type_error("options.subscribe must be an array of strings"))?
        };
        let config = parse_config(&option(&options, "config"))?;
        let mut flow = FlowOptions::default()
            .config(config)
            .map_err(|e| type_error(&e.to_string()))?
            .subscribe(domains)
            // Only the callbacks below read notifications.
            .notifications_kept(0)
            .state_scope(move |work| reducer.scope(work));
        if let Some(token) = token {
            flow = flow.token(token);
        }
        if let Some(f) = token_provider {
            // Called before every (re)connect; a non-string (or a throw)
            // means no token.
            flow = flow
                .token_provider(move || f.call0(&JsValue::NULL).ok().and_then(|t| t.as_string()));
        }
        if let Some(f) = on_signal {
            flow = flow.on_signal(move |from: &str, signal| {
                call(&f, &[from.into(), shape::signal(&signal)]);
            });
        }
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
            binding,
            waiting,
            reduces,
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
        let optimistic = if optimistic.is_undefined() {
            None
        } else if !self.reduces {
            return Promise::reject(&type_error(
                "an optimistic change needs options.applyDelta at connect",
            ));
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
    /// every reconnect).
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

    /// Sets the presence this connection reports in its pings: `"active"`,
    /// `"idle"` (after a quiet spell) or `"away"`; `null` reports nothing.
    /// The client reports `away` and `active` by itself when the page is
    /// hidden or shown. Once closed it does nothing.
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

    /// Closes the connection for good. Actions still waiting reject with a
    /// `FlowError` of code `"closed"`. The client lets go of `applyDelta`
    /// (the connection as it ends); `state` keeps its last value.
    pub fn close(&self) {
        self.binding.close();
    }

    /// The state to show (confirmed plus optimistic changes); `undefined`
    /// without `applyDelta` or before the first snapshot.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> JsValue {
        match (self.reduces, self.binding.connection()) {
            // Read now, so a change made by this call's caller (an
            // optimistic send) is there before it is told.
            (true, Some(connection)) => connection.with_state(|s| s.0.0.clone()),
            // Never connected (misconfigured), or no `applyDelta`.
            _ => JsValue::UNDEFINED,
        }
    }

    /// Where the connection stands (`FlowStatus`), as last told to
    /// `onStatus` (after `close()`, `closed` once the close is reported,
    /// when waiting actions reject).
    #[wasm_bindgen(getter)]
    pub fn status(&self) -> JsValue {
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
        self.binding
            .connection()
            .and_then(|c| c.seq())
            .map_or(JsValue::UNDEFINED, |seq| int_to_js(seq.into()))
    }

    /// Everyone connected to the resource (`PresenceInfo[]`).
    #[wasm_bindgen(getter)]
    pub fn presence(&self) -> JsValue {
        shape::members(&self.binding.latest().presence())
    }

    /// An action's state (`OpState`) while the client keeps it, or
    /// `undefined`.
    pub fn op(&self, op_id: &str) -> Result<JsValue, JsValue> {
        let op_id = parse_op_id(op_id)?;
        Ok(self
            .binding
            .latest()
            .op(op_id)
            .map_or(JsValue::UNDEFINED, |state| shape::op_state(&state)))
    }
}
