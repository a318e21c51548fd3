//! The journal app's wire types, shared by the test server and the clients.

use serde::{Deserialize, Serialize};
use ui_flow::FlowState;

/// The notification domain the journal announces appends in.
pub const DOMAIN: &str = "journal";

/// The state: every value appended so far, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// The values.
    pub entries: Vec<u32>,
}

/// One change: a value appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The value.
    pub value: u32,
}

impl FlowState for Journal {
    type Delta = Entry;

    fn apply_delta(&mut self, delta: Entry) {
        self.entries.push(delta.value);
    }
}

/// What a client can ask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JournalAction {
    /// Append a value; the result is the seq it landed at.
    Append {
        /// The value.
        value: u32,
    },
    /// Always fails with code `"rejected"` and this message.
    Reject {
        /// The message.
        reason: String,
    },
    /// Test control: the proxy in front of the server cuts every connection
    /// (once per op id, so the retry after the reconnect succeeds).
    CutConnections,
}

/// The notification sent in [`DOMAIN`] after each append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appended {
    /// Who appended.
    pub by: String,
    /// The value.
    pub value: u32,
}

/// The journal application's types, named once for the server and the
/// clients.
#[derive(Debug, Clone, Copy, Default)]
pub struct JournalModel;

impl ui_flow::Model for JournalModel {
    type State = Journal;
    type Delta = Entry;
    type Action = JournalAction;
    type Event = Appended;
}
