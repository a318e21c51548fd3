//! The client snippet of the repository's README ("A client"), compiled
//! natively and for wasm32 (the builder is the same; clippy runs on both
//! with `-D warnings`) so it cannot rot. `tests/readme.rs` checks that the
//! README shows exactly the lines between the markers, indented here by
//! four spaces.
//!
//! Run it: `cargo run -p ui-flow-client-tests --example readme_client`. It
//! starts a connection to a host that does not exist and exits at once; it
//! is here to be compiled.

use serde::{Deserialize, Serialize};
use ui_flow::{ConnectionStatus, FlowState, OpId};

/// A board of cards in columns.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct BoardState {
    /// Each card's column, by card id.
    cards: std::collections::BTreeMap<u32, u8>,
}

/// One change to a board.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum BoardDelta {
    Moved { card: u32, to: u8 },
}

/// What a client asks for.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum BoardAction {
    Move { card: u32, to: u8 },
}

/// A notification.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BoardEvent {
    text: String,
}

impl FlowState for BoardState {
    type Delta = BoardDelta;

    fn apply_delta(&mut self, delta: BoardDelta) {
        let BoardDelta::Moved { card, to } = delta;
        self.cards.insert(card, to);
    }
}

/// The board's payload types, as the server names them.
struct BoardModel;

impl ui_flow::Model for BoardModel {
    type State = BoardState;
    type Delta = BoardDelta;
    type Action = BoardAction;
    type Event = BoardEvent;
}

fn render(board: &BoardState) {
    println!("{} cards", board.cards.len());
}

fn toast(domain: &str, event: BoardEvent, op: Option<OpId>) {
    println!("{domain}: {} ({op:?})", event.text);
}

fn indicator(status: &ConnectionStatus) {
    println!("{status:?}");
}

#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
#[allow(clippy::redundant_closure)] // the README shows what each callback gets
#[rustfmt::skip]
fn start(token: String, card: u32, to: u8) -> Result<OpId, ui_flow::Error> {
    // README: begin
    use ui_flow::FlowConnection;

    let conn = FlowConnection::<BoardModel>::builder()
        .url("wss://example.com/realtime/board-42")
        .token(token)                                   // sent in Sec-WebSocket-Protocol, not the URL
        .on_state(|board| render(board))                // confirmed state + pending optimistic changes
        .on_notify(|domain, event, op| toast(domain, event, op))
        .on_status(|status| indicator(status))          // Connecting, Open, Reconnecting{attempt, next_try}, Closed{reason}
        .subscribe(["board", "chat"])
        .connect()?;

    // Shows at once; rolled back by itself if the server answers ActionErr.
    let op_id = conn.send_optimistic(BoardAction::Move { card, to }, BoardDelta::Moved { card, to })?;
    // README: end
    Ok(op_id)
}

#[cfg(not(target_arch = "wasm32"))]
#[tokio::main]
async fn main() -> Result<(), ui_flow::Error> {
    let op = start("alice".into(), 1, 2)?;
    println!("sent {op}");
    Ok(())
}

#[cfg(target_arch = "wasm32")]
fn main() {}
