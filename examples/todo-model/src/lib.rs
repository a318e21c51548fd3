//! The to-do list that the adapter examples and their browser tests share
//! with `examples/adapter-server`: state, deltas, actions and events, and
//! the one [`FlowState`] implementation both sides run.
//!
//! It is not a library to depend on: it exists so that the four adapter
//! examples (Leptos, Yew, Seed, JavaScript) and the server agree on types.
//!
//! On the wire (MessagePack maps, the same shapes the JavaScript example
//! reads as plain objects):
//!
//! | type | shape |
//! |---|---|
//! | [`TodoState`] | `{items: [{id, title, done}]}` |
//! | [`TodoDelta`] | `{type: "added", item}`, `{type: "toggled", id, done}`, `{type: "removed", id}` |
//! | [`TodoAction`] | `{type: "add", id, title}`, `{type: "toggle", id}`, `{type: "remove", id}` |
//! | [`TodoEvent`] | `{by, title}` in domain [`DOMAIN`], after each accepted `add` |
//!
//! Rules the server enforces, so a test can ask for a rejection on demand:
//! a title must have 1 to [`MAX_TITLE`] characters after trimming
//! (`ActionErr` code [`code::INVALID_TITLE`]), an `add` must use an id not in
//! the list ([`code::DUPLICATE_ID`]), and `toggle`/`remove` must name an
//! existing item ([`code::NOT_FOUND`]). Ids are chosen by the client, so an
//! optimistic `added` delta shows the same id the server will confirm.

use serde::{Deserialize, Serialize};
use ui_flow::{ConnectionStatus, FlowState, OpId};

/// The notification domain the server announces accepted additions in.
pub const DOMAIN: &str = "todos";

/// The to-do application's types, named once: the server's `FlowHandler`
/// and every client (`FlowConnection::<TodoModel>`, `use_flow::<TodoModel>`)
/// are built from it, so they agree on the wire types at compile time.
#[derive(Debug, Clone, Copy, Default)]
pub struct TodoModel;

impl ui_flow::Model for TodoModel {
    type State = TodoState;
    type Delta = TodoDelta;
    type Action = TodoAction;
    type Event = TodoEvent;
}

/// The longest title accepted, in characters after trimming.
pub const MAX_TITLE: usize = 100;

/// The `ActionErr` codes the server uses.
pub mod code {
    /// The title is empty or longer than [`MAX_TITLE`](super::MAX_TITLE).
    pub const INVALID_TITLE: &str = "invalid_title";
    /// An `add` reused an id already in the list.
    pub const DUPLICATE_ID: &str = "duplicate_id";
    /// A `toggle` or `remove` named an id not in the list.
    pub const NOT_FOUND: &str = "not_found";
}

/// One to-do item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(ts_rs::TS))]
pub struct Todo {
    /// Chosen by the client that adds it; unique within a list.
    // Within ±(2^53 − 1) a number, beyond it a BigInt (ui-flow-js).
    #[cfg_attr(not(target_arch = "wasm32"), ts(type = "number | bigint"))]
    pub id: u64,
    /// What to do.
    pub title: String,
    /// Whether it is done.
    pub done: bool,
}

/// The whole list, as the server owns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(ts_rs::TS))]
pub struct TodoState {
    /// The items, oldest first.
    pub items: Vec<Todo>,
}

impl TodoState {
    /// The list every new resource starts with, so that a first snapshot
    /// has something to render.
    pub fn seeded() -> Self {
        TodoState {
            items: vec![
                Todo {
                    id: 1,
                    title: "Read the protocol".into(),
                    done: true,
                },
                Todo {
                    id: 2,
                    title: "Try an adapter".into(),
                    done: false,
                },
            ],
        }
    }

    /// The item with this id.
    pub fn item(&self, id: u64) -> Option<&Todo> {
        self.items.iter().find(|t| t.id == id)
    }

    /// Checks `action` against the list; `Ok` carries the delta that
    /// performs it, `Err` the `ActionErr` code and message.
    pub fn check(&self, action: &TodoAction) -> Result<TodoDelta, (&'static str, String)> {
        match action {
            TodoAction::Add { id, title } => {
                let title = title.trim();
                let len = title.chars().count();
                if len == 0 || len > MAX_TITLE {
                    return Err((
                        code::INVALID_TITLE,
                        format!("a title needs 1 to {MAX_TITLE} characters, not {len}"),
                    ));
                }
                if self.item(*id).is_some() {
                    return Err((code::DUPLICATE_ID, format!("item {id} already exists")));
                }
                Ok(TodoDelta::Added {
                    item: Todo {
                        id: *id,
                        title: title.to_owned(),
                        done: false,
                    },
                })
            }
            TodoAction::Toggle { id } => match self.item(*id) {
                Some(item) => Ok(TodoDelta::Toggled {
                    id: *id,
                    done: !item.done,
                }),
                None => Err((code::NOT_FOUND, format!("no item {id}"))),
            },
            TodoAction::Remove { id } => match self.item(*id) {
                Some(_) => Ok(TodoDelta::Removed { id: *id }),
                None => Err((code::NOT_FOUND, format!("no item {id}"))),
            },
        }
    }
}

/// One change to the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[cfg_attr(not(target_arch = "wasm32"), derive(ts_rs::TS))]
pub enum TodoDelta {
    /// An item was appended.
    Added {
        /// The new item.
        item: Todo,
    },
    /// An item was marked done or not done.
    Toggled {
        /// Which item.
        // Within ±(2^53 − 1) a number, beyond it a BigInt (ui-flow-js).
        #[cfg_attr(not(target_arch = "wasm32"), ts(type = "number | bigint"))]
        id: u64,
        /// Its new state.
        done: bool,
    },
    /// An item was removed.
    Removed {
        /// Which item.
        // Within ±(2^53 − 1) a number, beyond it a BigInt (ui-flow-js).
        #[cfg_attr(not(target_arch = "wasm32"), ts(type = "number | bigint"))]
        id: u64,
    },
}

impl FlowState for TodoState {
    type Delta = TodoDelta;

    fn apply_delta(&mut self, delta: TodoDelta) {
        match delta {
            TodoDelta::Added { item } => {
                // Replace rather than duplicate, so that applying an
                // optimistic `added` over a confirmed one shows one row.
                self.items.retain(|t| t.id != item.id);
                self.items.push(item);
            }
            TodoDelta::Toggled { id, done } => {
                if let Some(item) = self.items.iter_mut().find(|t| t.id == id) {
                    item.done = done;
                }
            }
            TodoDelta::Removed { id } => self.items.retain(|t| t.id != id),
        }
    }
}

/// What a client asks the server to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[cfg_attr(not(target_arch = "wasm32"), derive(ts_rs::TS))]
pub enum TodoAction {
    /// Append an item with this id and title.
    Add {
        /// A new id (the client picks it).
        // Within ±(2^53 − 1) a number, beyond it a BigInt (ui-flow-js).
        #[cfg_attr(not(target_arch = "wasm32"), ts(type = "number | bigint"))]
        id: u64,
        /// The title.
        title: String,
    },
    /// Flip an item's `done`.
    Toggle {
        /// Which item.
        // Within ±(2^53 − 1) a number, beyond it a BigInt (ui-flow-js).
        #[cfg_attr(not(target_arch = "wasm32"), ts(type = "number | bigint"))]
        id: u64,
    },
    /// Remove an item.
    Remove {
        /// Which item.
        // Within ±(2^53 − 1) a number, beyond it a BigInt (ui-flow-js).
        #[cfg_attr(not(target_arch = "wasm32"), ts(type = "number | bigint"))]
        id: u64,
    },
}

impl TodoAction {
    /// The change this action makes if the server accepts it, to show
    /// optimistically. It does not validate: the server has the last word,
    /// and a rejected action's change is rolled back by the client.
    /// `state` is the list the user sees (for `toggle`); `None` when the
    /// item to toggle is not in it.
    pub fn optimistic(&self, state: &TodoState) -> Option<TodoDelta> {
        match self {
            TodoAction::Add { id, title } => Some(TodoDelta::Added {
                item: Todo {
                    id: *id,
                    title: title.trim().to_owned(),
                    done: false,
                },
            }),
            TodoAction::Toggle { id } => state.item(*id).map(|item| TodoDelta::Toggled {
                id: *id,
                done: !item.done,
            }),
            TodoAction::Remove { id } => Some(TodoDelta::Removed { id: *id }),
        }
    }
}

/// Sent in domain [`DOMAIN`] when an item was added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(ts_rs::TS))]
pub struct TodoEvent {
    /// The user who added it.
    pub by: String,
    /// Its title.
    pub title: String,
}

/// A fresh item id: random, and small enough (below 2^53) to stay a plain
/// number in JavaScript.
pub fn new_id() -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&OpId::new().as_bytes()[..8]);
    u64::from_le_bytes(bytes) >> 11
}

/// The WebSocket URL of list `list` on the server at `host` (`host:port`),
/// as the examples build it from the page's address. The user travels as
/// the adapters' token option, never in the URL.
pub fn realtime_url(secure: bool, host: &str, list: &str) -> String {
    let scheme = if secure { "wss" } else { "ws" };
    format!("{scheme}://{host}/realtime/{list}")
}

/// The page's query parameter `key`, or `default`.
#[cfg(target_arch = "wasm32")]
fn page_param(key: &str, default: &str) -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|q| web_sys::UrlSearchParams::new_with_str(&q).ok())
        .and_then(|p| p.get(key))
        .unwrap_or_else(|| default.to_owned())
}

/// The WebSocket URL an example page connects to: the page's own host and
/// list `?list=` (default `demo`).
#[cfg(target_arch = "wasm32")]
pub fn page_realtime_url() -> String {
    let location = web_sys::window().map(|w| w.location());
    let location = location.as_ref();
    let host = location.and_then(|l| l.host().ok()).unwrap_or_default();
    let secure = location.and_then(|l| l.protocol().ok()).as_deref() == Some("https:");
    realtime_url(secure, &host, &page_param("list", "demo"))
}

/// The token an example page sends: `?user=` (default `guest`), which the
/// development server takes as the user id. A real app sends its session's
/// token here.
#[cfg(target_arch = "wasm32")]
pub fn page_token() -> String {
    page_param("user", "guest")
}

/// A connection status in a few words, for the examples' badge.
pub fn status_text(status: &ConnectionStatus) -> String {
    match status {
        ConnectionStatus::Connecting => "connecting…".into(),
        ConnectionStatus::Open => "live".into(),
        ConnectionStatus::Reconnecting { attempt, .. } => {
            format!("reconnecting (attempt {attempt})")
        }
        ConnectionStatus::Closed { reason } => format!("closed: {reason:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_accept_and_reject_as_documented() {
        let mut state = TodoState::seeded();
        let add = TodoAction::Add {
            id: 7,
            title: "  milk ".into(),
        };
        let delta = state.check(&add).expect("a valid add");
        state.apply_delta(delta);
        assert_eq!(state.item(7).map(|t| t.title.as_str()), Some("milk"));
        assert_eq!(state.check(&add).map_err(|e| e.0), Err(code::DUPLICATE_ID));
        let blank = TodoAction::Add {
            id: 8,
            title: "   ".into(),
        };
        assert_eq!(
            state.check(&blank).map_err(|e| e.0),
            Err(code::INVALID_TITLE)
        );
        let missing = TodoAction::Toggle { id: 99 };
        assert_eq!(state.check(&missing).map_err(|e| e.0), Err(code::NOT_FOUND));
        let toggle = state.check(&TodoAction::Toggle { id: 2 }).expect("exists");
        state.apply_delta(toggle);
        assert_eq!(state.item(2).map(|t| t.done), Some(true));
    }

    #[test]
    fn new_ids_are_safe_javascript_integers() {
        for _ in 0..1000 {
            assert!(new_id() < 1 << 53);
        }
        assert_ne!(new_id(), new_id());
    }

    #[test]
    fn an_added_item_applied_twice_shows_once() {
        let mut state = TodoState::default();
        let item = Todo {
            id: 1,
            title: "x".into(),
            done: false,
        };
        state.apply_delta(TodoDelta::Added { item: item.clone() });
        state.apply_delta(TodoDelta::Added { item });
        assert_eq!(state.items.len(), 1);
    }
}
