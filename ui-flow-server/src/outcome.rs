//! How an action ended: [`ActionOutcome`].
//!
//! A plain value with no IO: the application's handler returns it, the
//! sans-IO hub turns it into `ActionOk` or `ActionErr` and records it.

use serde::Serialize;
use ui_flow::{EncodeError, RawValue};

/// How an action ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionOutcome {
    /// It succeeded; sent as `ActionOk` with the optional result.
    Ok(Option<RawValue>),
    /// It failed; sent as `ActionErr`. (Deltas it committed before failing
    /// stay committed: refuse before committing.)
    Err {
        /// An application error code for programs (`"not_found"`, ...).
        code: Option<String>,
        /// A message for people.
        message: String,
    },
}

impl ActionOutcome {
    /// Success without a result value.
    pub fn ok() -> Self {
        ActionOutcome::Ok(None)
    }

    /// Success with a result value (any serde type, encoded as MessagePack).
    pub fn ok_with<T: Serialize + ?Sized>(result: &T) -> Result<Self, EncodeError> {
        Ok(ActionOutcome::Ok(Some(RawValue::encode(result)?)))
    }

    /// Failure with an application code and a message.
    pub fn err(code: impl Into<String>, message: impl Into<String>) -> Self {
        ActionOutcome::Err {
            code: Some(code.into()),
            message: message.into(),
        }
    }
}
