//! The server snippet of the repository's README, compiled (and linted with
//! `-D warnings`) so it cannot rot. `tests/readme.rs` checks that the README
//! shows exactly the lines between the markers.
//!
//! Run it: `cargo run -p ui-flow-server --example readme`, then connect to
//! `ws://127.0.0.1:9000/realtime/board-1?token=alice`.

use serde::{Deserialize, Serialize};
use ui_flow::FlowState;

/// A board of cards in columns.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BoardState {
    /// Each card's column, by card id.
    pub cards: std::collections::BTreeMap<u32, u8>,
}

/// One change to a board.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BoardDelta {
    /// A card moved to a column.
    Moved {
        /// The card.
        card: u32,
        /// The column.
        to: u8,
    },
}

impl FlowState for BoardState {
    type Delta = BoardDelta;
    fn apply_delta(&mut self, delta: BoardDelta) {
        let BoardDelta::Moved { card, to } = delta;
        self.cards.insert(card, to);
    }
}

/// What clients ask for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BoardAction {
    /// Move a card.
    Move {
        /// The card.
        card: u32,
        /// The column.
        to: u8,
    },
}

/// Notifications (none in this example).
pub type BoardEvent = ();

/// The application: it decides; the server keeps the boards.
#[derive(Debug, Default)]
pub struct Board;

impl Board {
    /// The rule: five columns, and a card must exist to move.
    fn check(state: &BoardState, action: &BoardAction) -> Result<BoardDelta, String> {
        let BoardAction::Move { card, to } = *action;
        if to > 4 {
            return Err(format!("there is no column {to}"));
        }
        if !state.cards.contains_key(&card) && card > 100 {
            return Err(format!("there is no card {card}"));
        }
        Ok(BoardDelta::Moved { card, to })
    }
}

// README: begin
use ui_flow::Model;
use ui_flow_server::{ActionContext, ActionOutcome, FlowHandler, FlowServer, UnverifiedUserToken};

/// The types the server and its clients share (in a crate both depend on).
pub struct BoardModel;

impl Model for BoardModel {
    type State = BoardState; // what clients mirror; FlowState::apply_delta applies a delta
    type Delta = BoardDelta; // one change
    type Event = BoardEvent; // notifications
    type Action = BoardAction; // what clients ask for
}

#[async_trait::async_trait]
impl FlowHandler for Board {
    type Model = BoardModel; // a client built with FlowConnection::<BoardModel> agrees by construction

    async fn handle_action(&self, ctx: &ActionContext<Self>, action: BoardAction) -> ActionOutcome {
        // ctx.user() is the authenticated user, never a field of the payload.
        // transact checks the board as it is and commits in one step: the server
        // numbers the delta, stores it and sends it to every connection, encoded once.
        match ctx
            .transact(|board| Board::check(board, &action).map(|d| vec![d]))
            .await
        {
            Ok(_) => ActionOutcome::ok(),
            Err(refused) => ActionOutcome::err("refused", refused.to_string()),
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let server = FlowServer::new(Board, UnverifiedUserToken); // use a real Authenticator in production
    let listener = tokio::net::TcpListener::bind("127.0.0.1:9000").await?;
    server.serve(listener, server.router()).await // like axum::serve, with bounds before the upgrade
}
// README: end
