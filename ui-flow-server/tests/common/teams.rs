//! Who is in which team, for the test handlers that split one resource by
//! team (views in `views.rs`, presence scopes in `presence_scopes.rs`).
//!
//! Users are named `team-n` and belong to `team`; `admin` belongs to no
//! team (the handlers let it see everything); a test moves a user to
//! another team with [`Membership::move_to`], then asks the server to
//! refresh that user's views. It is not a handler: each test file wraps it
//! in its own, and the files that project views share the [`Board`] they
//! project and the projections themselves.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use ui_flow::FlowState;
use ui_flow_server::{Projected, ViewKey};

#[derive(Default)]
pub struct Membership {
    moves: Mutex<HashMap<String, String>>,
}

impl Membership {
    /// The user's team; `None` for `admin`.
    pub fn team_of(&self, user: &str) -> Option<String> {
        if let Some(team) = self.moves.lock().expect("lock").get(user) {
            return Some(team.clone());
        }
        if user == "admin" {
            return None;
        }
        Some(user.split('-').next().unwrap_or(user).to_owned())
    }

    /// From now on `user` is in `team`, whatever its name says.
    pub fn move_to(&self, user: &str, team: &str) {
        self.moves
            .lock()
            .expect("lock")
            .insert(user.to_owned(), team.to_owned());
    }
}

impl Membership {
    /// The view of `user`: their team's, or everything for `admin`.
    pub fn view_of(&self, user: &str) -> ViewKey {
        self.team_of(user).map_or(ViewKey::ALL, ViewKey::new)
    }
}

/// Items per team. A team's members see their own team's items only.
#[derive(Clone, Default, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Board {
    pub items: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Change {
    /// One item for one team (creating the team's list).
    Add { team: String, item: String },
    /// One item for every team that has a list.
    Everyone { item: String },
}

impl FlowState for Board {
    type Delta = Change;
    fn apply_delta(&mut self, change: Change) {
        match change {
            Change::Add { team, item } => self.items.entry(team).or_default().push(item),
            Change::Everyone { item } => {
                for list in self.items.values_mut() {
                    list.push(item.clone());
                }
            }
        }
    }
}

/// The payload types of the team handlers.
pub struct TeamsModel;

impl ui_flow::Model for TeamsModel {
    type State = Board;
    type Delta = Change;
    type Event = ();
    type Action = ();
}

/// One item for one team.
pub fn add(team: &str, item: &str) -> Change {
    Change::Add {
        team: team.into(),
        item: item.into(),
    }
}

/// What a team's view shows of the board: its own list only.
pub fn project_board(view: &ViewKey, state: &Board) -> Board {
    let team = view.name().unwrap_or_default();
    Board {
        items: state
            .items
            .iter()
            .filter(|(t, _)| t.as_str() == team)
            .map(|(t, l)| (t.clone(), l.clone()))
            .collect(),
    }
}

/// What a team's view sees of a change to `before`.
pub fn project_change(view: &ViewKey, before: &Board, change: &Change) -> Projected<Change> {
    let team = view.name().unwrap_or_default();
    match change {
        Change::Add { team: t, .. } if t == team => Projected::Same,
        Change::Add { .. } => Projected::Nothing,
        // Said as an Add, so the view's frames never carry a delta meant
        // for everyone.
        Change::Everyone { item } if before.items.contains_key(team) => {
            Projected::Deltas(vec![Change::Add {
                team: team.to_owned(),
                item: item.clone(),
            }])
        }
        Change::Everyone { .. } => Projected::Nothing,
    }
}
