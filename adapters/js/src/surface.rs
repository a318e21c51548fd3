//! [`Surface`]: the values and commands a `FlowClient` and a
//! `FlowResource` share, over one [`Binding`] (a connection of its own, or
//! a resource joined on a shared socket). The two classes are thin
//! wasm-bindgen wrappers of it, so the JavaScript API is the same for both.

use std::rc::Rc;

use js_sys::Promise;
use ui_flow::client::Binding;
use ui_flow::{OpId, PresenceStatus};
use wasm_bindgen::prelude::*;

use crate::callbacks::Waiting;
use crate::payload::{JsPayload, int_to_js};
use crate::shape::{self, flow_error, option, parse_op_id, parse_signal, type_error};
use crate::state::JsModel;

/// One binding with the promises of its actions.
pub(crate) struct Surface {
    pub(crate) binding: Binding<JsModel>,
    pub(crate) waiting: Waiting,
    /// Whether the app passed `applyDelta` (without it `state` is not
    /// available and optimistic changes are refused).
    pub(crate) reduces: bool,
}

impl Surface {
    pub(crate) fn send_action(&self, action: JsValue, options: &JsValue) -> Promise {
        let optimistic = option(options, "optimistic");
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

    pub(crate) fn subscribe(&self, domains: Vec<String>, on: bool) -> Result<(), JsValue> {
        if on {
            self.binding.subscribe(domains)
        } else {
            self.binding.unsubscribe(domains)
        }
        .map_err(|e| flow_error(&e))
    }

    pub(crate) fn send_signal(&self, to: String, signal: &JsValue) -> Result<(), JsValue> {
        let signal = parse_signal(signal)?;
        self.binding
            .send_signal(to, signal)
            .map_err(|e| flow_error(&e))
    }

    pub(crate) fn set_presence(&self, status: Option<String>) -> Result<(), JsValue> {
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

    pub(crate) fn resync(&self) -> Result<(), JsValue> {
        self.binding.resync().map_err(|e| flow_error(&e))
    }

    /// The state to show, read now (so a change made by this call's
    /// caller, an optimistic send, is there before it is told).
    pub(crate) fn state(&self) -> JsValue {
        let read = |s: &crate::state::JsState| s.0.0.clone();
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

    pub(crate) fn seq(&self) -> JsValue {
        let seq = match (self.binding.connection(), self.binding.resource()) {
            (Some(connection), _) => connection.seq(),
            (_, Some(resource)) => resource.seq(),
            _ => None,
        };
        seq.map_or(JsValue::UNDEFINED, |seq| int_to_js(seq.into()))
    }

    pub(crate) fn connection_status(&self) -> JsValue {
        shape::status(&self.binding.latest().status())
    }

    pub(crate) fn presence(&self) -> JsValue {
        shape::members(&self.binding.latest().presence())
    }

    pub(crate) fn op(&self, op_id: &str) -> Result<JsValue, JsValue> {
        let op_id: OpId = parse_op_id(op_id)?;
        Ok(self
            .binding
            .latest()
            .op(op_id)
            .map_or(JsValue::UNDEFINED, |state| shape::op_state(&state)))
    }
}
