//! [`JsState`]: the state a JavaScript app mirrors, and the client's
//! `applyDelta` function that changes it.
//!
//! The client core applies deltas itself (confirmed state, then optimistic
//! changes on top), through [`FlowState::apply_delta`], which has no way to
//! tell which connection it works for. So each `FlowClient` runs every
//! stretch of work that may apply a delta inside a [`Reducer`] scope,
//! handed to `ui_flow::client::FlowOptions::state_scope`: the binding runs
//! the connection's inputs and its state-changing commands (`send`,
//! `resync`, `close`) inside it. Inside it, `apply_delta` calls that
//! client's function. Two clients on one page may so pass different
//! functions. A resource joined on a `FlowSocket` has a scope of its own
//! (the core runs its frames and optimistic changes inside it, nested in
//! the connection's), so resources on one socket may pass different
//! functions too. The connection (or resource) and the binding let go of
//! the function at `close()` or when the connection has closed for good,
//! not when the JavaScript object is freed.

use std::cell::RefCell;

use js_sys::Function;
use ui_flow::FlowState;
use wasm_bindgen::JsValue;

use crate::payload::JsPayload;

/// The state as a JavaScript value (`undefined` before the first snapshot).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct JsState(pub(crate) JsPayload);

impl<'de> serde::Deserialize<'de> for JsState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        JsPayload::deserialize(d).map(JsState)
    }
}

impl serde::Serialize for JsState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// The JavaScript client's model: every payload is a JavaScript value,
/// converted to and from MessagePack at the edge.
pub(crate) struct JsModel;

impl ui_flow::Model for JsModel {
    type State = JsState;
    type Delta = JsPayload;
    type Action = JsPayload;
    type Event = JsPayload;
}

impl FlowState for JsState {
    type Delta = JsPayload;

    /// Replaces the state with `applyDelta(state, delta)`, the function of
    /// the client whose work is running. Outside any client's scope (which
    /// the adapter never lets happen) the state is left as it is; if the
    /// function throws, the state is left as it is and the error is logged.
    fn apply_delta(&mut self, delta: JsPayload) {
        let Some(apply) = CURRENT.with(|c| c.borrow().clone()) else {
            return;
        };
        match apply.call2(&JsValue::NULL, &self.0.0, &delta.0) {
            Ok(next) => self.0 = JsPayload(next),
            Err(error) => {
                web_sys::console::error_2(&"ui-flow-js: applyDelta threw".into(), &error);
            }
        }
    }
}

thread_local! {
    /// The `applyDelta` of the client whose work runs now.
    static CURRENT: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// One client's `applyDelta` (or none), and the scope that makes it the
/// one [`JsState::apply_delta`] calls.
#[derive(Clone, Debug)]
pub(crate) struct Reducer(pub(crate) Option<Function>);

impl Reducer {
    /// Runs `work` with this reducer in charge, then puts back whichever
    /// was in charge before (a callback of one client may call another).
    pub(crate) fn scope<R>(&self, work: impl FnOnce() -> R) -> R {
        let outer = CURRENT.with(|c| c.replace(self.0.clone()));
        let result = work();
        CURRENT.with(|c| *c.borrow_mut() = outer);
        result
    }
}
