//! The application's callbacks and the options they come in, for every
//! [`FlowResource`](crate::resource::FlowResource) (a connection's URL
//! resource, the package's `FlowClient`, or a resource joined on a shared
//! socket): reading the options, and turning the binding's events and
//! changes into calls and settled promises.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function};
use ui_flow::client::{Event, FlowOptions, Latest, OpState, Part, ResourceEvent, ResourceStatus};
use ui_flow::{ConnectionStatus, ErrorCode, OpId};
use wasm_bindgen::prelude::*;

use crate::payload::{JsPayload, int_to_js};
use crate::shape::{self, function, named_error, object, option, parse_config, type_error};
use crate::state::{JsModel, JsState, Reducer};

/// The `resolve` and `reject` of each `sendAction` promise not yet settled
/// (a list: a handful wait at a time, and it keeps a hash table's code out
/// of the package).
pub(crate) type Waiting = Rc<RefCell<Vec<(OpId, Function, Function)>>>;

/// The presence change an `Event::Presence` reported (as `PresenceDiff` in
/// `index.d.ts`), until the binding tells the list it made.
pub(crate) type PresenceCell = Rc<RefCell<Option<JsValue>>>;

/// Calls an application callback; an exception is logged, not propagated,
/// so one faulty callback cannot stop the connection.
pub(crate) fn call(f: &Function, args: &[JsValue]) {
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

/// Rejects every promise still waiting: the connection closed for good,
/// or the resource was left.
fn reject_all(waiting: &Waiting) {
    let waiting = std::mem::take(&mut *waiting.borrow_mut());
    for (op_id, _, reject) in waiting {
        call(
            &reject,
            &[named_error(
                "FlowError",
                Some("closed"),
                "the connection or resource closed before the action's outcome arrived",
                &[("opId", JsValue::from_str(&op_id.to_string()))],
            )],
        );
    }
}

/// The application's callbacks from the options, each optional, in the
/// order of [`Callbacks::NAMES`], and what they are for.
pub(crate) struct Callbacks {
    all: [Option<Function>; 9],
    /// For a joined resource: `onStatus` tells the resource's status,
    /// `onConnectionStatus` the shared connection's.
    resource: bool,
}

impl Callbacks {
    const NAMES: [&str; 9] = [
        "onSnapshot",
        "onDelta",
        "onState",
        "onNotify",
        "onPresence",
        "onAction",
        "onStatus",
        "onServerError",
        "onConnectionStatus",
    ];
    const SNAPSHOT: usize = 0;
    const DELTA: usize = 1;
    const STATE: usize = 2;
    const NOTIFY: usize = 3;
    const PRESENCE: usize = 4;
    const ACTION: usize = 5;
    const STATUS: usize = 6;
    const SERVER_ERROR: usize = 7;
    const CONNECTION: usize = 8;

    fn get(&self, at: usize) -> Option<&Function> {
        self.all[at].as_ref()
    }

    fn delta(&self, delta: &JsPayload, seq: u64) {
        if let Some(f) = self.get(Self::DELTA) {
            call(f, &[delta.0.clone(), int_to_js(seq.into())]);
        }
    }

    fn action(&self, waiting: &Waiting, op_id: OpId, state: &OpState) {
        settle(waiting, op_id, state);
        if let Some(f) = self.get(Self::ACTION) {
            call(f, &[op_id.to_string().into(), shape::op_state(state)]);
        }
    }

    fn notify(&self, domain: &str, event: &JsPayload, correlation_id: Option<OpId>) {
        if let Some(f) = self.get(Self::NOTIFY) {
            let cause = correlation_id.map_or(JsValue::UNDEFINED, |id| id.to_string().into());
            call(f, &[domain.into(), event.0.clone(), cause]);
        }
    }

    fn server_error(&self, code: Option<&ErrorCode>, message: &str, fatal: bool) {
        if let Some(f) = self.get(Self::SERVER_ERROR) {
            let info = object(&[
                (
                    "code",
                    code.map_or(JsValue::UNDEFINED, |c| c.as_str().into()),
                ),
                ("message", message.into()),
                ("fatal", fatal.into()),
            ]);
            call(f, &[info]);
        }
    }

    /// A connection's event as it arrives: the callbacks that take raw
    /// events, and the promise of an action whose outcome it is.
    pub(crate) fn event(
        &self,
        event: &Event<JsState, JsPayload>,
        waiting: &Waiting,
        diff: &PresenceCell,
    ) {
        match event {
            Event::Snapshot { state, seq, .. } => {
                if let Some(f) = self.get(Self::SNAPSHOT) {
                    call(f, &[state.0.0.clone(), int_to_js((*seq).into())]);
                }
            }
            Event::Delta { delta, seq } => self.delta(delta, *seq),
            Event::Action { op_id, state } => self.action(waiting, *op_id, state),
            Event::Notify {
                domain,
                event,
                correlation_id,
            } => self.notify(domain, event, *correlation_id),
            // Told with the whole list once the binding has it.
            Event::Presence(change) if self.get(Self::PRESENCE).is_some() => {
                *diff.borrow_mut() = Some(shape::presence_diff(change));
            }
            Event::ServerError {
                code,
                message,
                fatal,
            } => self.server_error(code.as_ref(), message, *fatal),
            _ => {}
        }
    }

    /// A joined resource's event as it arrives (a resource has no
    /// `onSnapshot`; its presence is told as the whole list).
    pub(crate) fn resource_event(&self, event: &ResourceEvent<JsModel>, waiting: &Waiting) {
        match event {
            ResourceEvent::Delta { delta, seq } => self.delta(delta, *seq),
            ResourceEvent::Action { op_id, state } => self.action(waiting, *op_id, state),
            ResourceEvent::Notify {
                domain,
                event,
                correlation_id,
            } => self.notify(domain, event, *correlation_id),
            ResourceEvent::ServerError { code, message } => {
                self.server_error(code.as_ref(), message, false)
            }
            _ => {}
        }
    }

    /// A value of the binding changed.
    pub(crate) fn change(
        &self,
        part: Part,
        latest: &Latest<JsState, JsPayload>,
        waiting: &Waiting,
        diff: &PresenceCell,
    ) {
        match part {
            Part::State => {
                if let Some(f) = self.get(Self::STATE) {
                    call(f, std::slice::from_ref(&latest.state().0.0));
                }
            }
            Part::Status => {
                let status = latest.status();
                let told = if self.resource {
                    Self::CONNECTION
                } else {
                    Self::STATUS
                };
                if let Some(f) = self.get(told) {
                    call(f, &[shape::status(&status)]);
                }
                if matches!(status, ConnectionStatus::Closed { .. }) {
                    reject_all(waiting);
                }
            }
            Part::Resource => {
                let status = latest.resource_status();
                if let (Some(f), Some(status)) = (self.get(Self::STATUS), &status) {
                    call(f, &[resource_status(status)]);
                }
                if matches!(status, Some(ResourceStatus::Left { .. })) {
                    reject_all(waiting);
                }
            }
            Part::Presence => {
                let change = diff.borrow_mut().take();
                if let Some(f) = self.get(Self::PRESENCE) {
                    if self.resource || change.is_some() {
                        let change = change.unwrap_or(JsValue::UNDEFINED);
                        call(f, &[shape::members(&latest.presence()), change]);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A joined resource's status (`ResourceStatus` in `index.d.ts`).
pub(crate) fn resource_status(status: &ResourceStatus) -> JsValue {
    let (kind, code, message) = match status {
        ResourceStatus::Joining => ("joining", None, None),
        ResourceStatus::Joined => ("joined", None, None),
        ResourceStatus::Leaving => ("leaving", None, None),
        ResourceStatus::Left { code, message } => ("left", code.as_ref(), message.as_deref()),
    };
    object(&[
        ("kind", kind.into()),
        (
            "code",
            code.map_or(JsValue::UNDEFINED, |c| c.as_str().into()),
        ),
        (
            "message",
            message.map_or(JsValue::UNDEFINED, JsValue::from_str),
        ),
    ])
}

/// An array of strings, or `None` for anything else. A loop rather than a
/// `collect` into `Option<Vec<_>>`: the same check without the
/// short-circuiting adapter's code (0.6 KB of wasm).
fn strings(value: JsValue) -> Option<Vec<String>> {
    let list = value.dyn_into::<Array>().ok()?;
    let mut strings = Vec::new();
    for item in list.iter() {
        strings.push(item.as_string()?);
    }
    Some(strings)
}

/// What `FlowClient.connect` and `FlowSocket.join` read from their
/// options: the binding's options (with the `applyDelta` scope), the
/// callbacks, and whether there is an `applyDelta`.
pub(crate) struct Parsed {
    pub(crate) flow: FlowOptions,
    pub(crate) callbacks: Rc<Callbacks>,
    pub(crate) reduces: bool,
}

/// Reads the options; a malformed one throws a `TypeError`. `resource`:
/// for a joined resource (the token and config are the connection's and
/// are not read).
pub(crate) fn parse(options: &JsValue, resource: bool) -> Result<Parsed, JsValue> {
    let reducer = Reducer(function(options, "applyDelta")?);
    let reduces = reducer.0.is_some();
    let mut all: [Option<Function>; 9] = Default::default();
    for (slot, name) in all.iter_mut().zip(Callbacks::NAMES) {
        *slot = function(options, name)?;
    }
    if !reduces {
        // No state to tell.
        all[Callbacks::STATE] = None;
    }
    let callbacks = Rc::new(Callbacks { all, resource });
    let on_signal = function(options, "onSignal")?;
    let domains = option(options, "subscribe");
    let domains = if domains.is_undefined() {
        Vec::new()
    } else {
        strings(domains)
            .ok_or_else(|| type_error("options.subscribe must be an array of strings"))?
    };
    let mut flow = FlowOptions::default()
        .subscribe(domains)
        // Only the callbacks read notifications.
        .notifications_kept(0);
    if !resource {
        let token_provider = function(options, "tokenProvider")?;
        let token = option(options, "token");
        if !(token.is_undefined() || token.is_null()) {
            flow = flow.token(
                token
                    .as_string()
                    .ok_or_else(|| type_error("options.token must be a string"))?,
            );
        }
        let config = parse_config(&option(options, "config"))?;
        flow = flow
            .config(config)
            .map_err(|e| type_error(&e.to_string()))?;
        if let Some(f) = token_provider {
            // Called before every (re)connect; a non-string (or a throw)
            // means no token.
            flow = flow
                .token_provider(move || f.call0(&JsValue::NULL).ok().and_then(|t| t.as_string()));
        }
    }
    if let Some(f) = on_signal {
        flow = flow.on_signal(move |from: &str, signal| {
            call(&f, &[from.into(), shape::signal(&signal)]);
        });
    }
    // Last: nothing may throw after the reducer is handed over.
    let flow = flow.state_scope(move |work| reducer.scope(work));
    Ok(Parsed {
        flow,
        callbacks,
        reduces,
    })
}
