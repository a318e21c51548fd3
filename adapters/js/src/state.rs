//! [`JsState`]: the state a JavaScript app mirrors, and the page's
//! `applyDelta` function that changes it.
//!
//! The client core applies deltas itself (confirmed state, then optimistic
//! changes on top), through [`FlowState::apply_delta`], which has no way to
//! tell which connection it works for. So the function that applies a delta
//! is the page's, not a connection's: every `FlowClient` that passes
//! `applyDelta` must pass the same function, which dispatches on the shape of
//! what it is given when a page mirrors several kinds of state.

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

    /// Replaces the state with `applyDelta(state, delta)`. Without a
    /// registered function the state is left as it is; if the function
    /// throws, the state is left as it is and the error is logged.
    fn apply_delta(&mut self, delta: JsPayload) {
        let Some(apply) = APPLIER.with(|a| a.borrow().as_ref().map(|a| a.function.clone())) else {
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

/// The page's `applyDelta` and how many live clients registered it.
struct Applier {
    function: Function,
    users: usize,
}

thread_local! {
    static APPLIER: RefCell<Option<Applier>> = const { RefCell::new(None) };
}

/// A client's claim on the page's `applyDelta`; dropping it releases the
/// claim, and the last release unregisters the function.
#[derive(Debug)]
pub(crate) struct ApplierClaim(());

impl ApplierClaim {
    /// Registers `function` as the page's `applyDelta`, or joins it when it
    /// is already the registered one. Fails when live clients registered a
    /// different function.
    pub(crate) fn register(function: Function) -> Result<Self, &'static str> {
        APPLIER.with(|a| {
            let mut slot = a.borrow_mut();
            match slot.as_mut() {
                Some(current) if JsValue::from(&current.function) == JsValue::from(&function) => {
                    current.users += 1;
                }
                Some(_) => {
                    return Err("every FlowClient on a page must pass the same applyDelta \
                                function; dispatch on the state's shape inside it");
                }
                None => {
                    *slot = Some(Applier { function, users: 1 });
                }
            }
            Ok(ApplierClaim(()))
        })
    }
}

impl Drop for ApplierClaim {
    fn drop(&mut self) {
        APPLIER.with(|a| {
            let mut slot = a.borrow_mut();
            if let Some(current) = slot.as_mut() {
                current.users -= 1;
                if current.users == 0 {
                    *slot = None;
                }
            }
        });
    }
}
