//! Who is in which team, for the test handlers that split one resource by
//! team (views in `views.rs`, presence scopes in `presence_scopes.rs`).
//!
//! Users are named `team-n` and belong to `team`; `admin` belongs to no
//! team (the handlers let it see everything); a test moves a user to
//! another team with [`Membership::move_to`], then asks the server to
//! refresh that user's views. It is not a handler: each test file wraps it
//! in its own.

use std::collections::HashMap;
use std::sync::Mutex;

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
