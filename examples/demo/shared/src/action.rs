//! What a client asks the server to do.

use serde::{Deserialize, Serialize};

use crate::hex::Hex;
use crate::world::ItemKind;

/// An action, sent in an `Action` frame with its operation id.
///
/// On the wire a map whose `type` names the variant: `{type: "enter", name}`,
/// `{type: "move", to: {q, r}}`, `{type: "dig"}`. The acting user is never
/// in the payload: the server takes it from authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorldAction {
    /// Enter the world (or change one's name). Answered at once.
    Enter {
        /// The display name wanted; see [`display_name`](crate::display_name).
        name: String,
    },
    /// Step to an adjacent hex. Answered at once; the client shows the step
    /// before the answer and takes it back on `ActionErr`.
    Move {
        /// The target hex.
        to: Hex,
    },
    /// Dig where one stands. Slow: the server reports `Progress` for about
    /// [`DIG_STEPS`](crate::DIG_STEPS) steps before `ActionOk` with a
    /// [`DigResult`].
    Dig,
}

/// The `result` of a successful `dig`, in its `ActionOk`.
///
/// On the wire: `{found: kind or absent, points}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigResult {
    /// What was found, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<ItemKind>,
    /// Points it added to the digger's score.
    pub points: u32,
}

/// How many `Progress` reports a dig sends before its outcome.
pub const DIG_STEPS: u8 = 4;
