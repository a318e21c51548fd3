//! Small application types, standing in for an app's `State`, `Delta`,
//! `Event` and `Action`, so the typed decode paths get fuzzed too.

use arbitrary::Arbitrary;
use serde::{Deserialize, Serialize};

/// A client action: an externally tagged enum with struct, newtype and unit
/// variants, the shapes serde apps use most.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary)]
pub enum Action {
    /// Move by an offset at a speed.
    Move {
        /// Columns.
        dx: i32,
        /// Rows.
        dy: i32,
        /// Cells per second.
        speed: f32,
    },
    /// Say something.
    Say(String),
    /// Start over.
    Reset,
}

/// A snapshot state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary)]
pub struct Board {
    /// The board's title.
    pub name: String,
    /// Cell values, row by row.
    pub cells: Vec<u32>,
    /// Who owns it, if anyone.
    pub owner: Option<String>,
}

/// A change to a [`Board`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary)]
pub enum Change {
    /// One cell gets a value.
    Set {
        /// The cell.
        index: u32,
        /// Its new value.
        value: u32,
    },
    /// The board gets a new title.
    Rename(String),
    /// Every cell goes back to zero.
    Clear,
}

/// A notification event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary)]
pub struct Reward {
    /// What was won.
    pub kind: String,
    /// How much of it.
    pub amount: u64,
    /// A score that may be fractional.
    pub score: f64,
}
