//! Small application types standing in for an app's payloads, so the typed
//! decode paths are exercised as well as `rmpv::Value`.

use serde::{Deserialize, Serialize};

/// A client action: struct, newtype and unit variants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Act {
    Move { dx: i32, dy: i32 },
    Say(String),
    Reset,
}

/// A snapshot state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Board {
    pub name: String,
    pub cells: Vec<u32>,
}

/// A change to a board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Change {
    Set { index: u32, value: u32 },
    Rename(String),
    Clear,
}

/// A notification event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reward {
    pub kind: String,
    pub amount: u64,
}
