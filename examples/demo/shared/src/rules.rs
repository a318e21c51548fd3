//! What players may do: the checks the server runs before it changes the
//! world, and the `ActionErr` codes it answers with when a check fails.
//!
//! The client does not run these before sending: it shows a move at once
//! (optimistically) and lets the server decide, so an illegal move is
//! visibly rolled back.

use std::fmt;

use crate::hex::Hex;
use crate::world::{Player, World, WorldDelta, hue_for};

/// The longest display name kept, in characters.
pub const MAX_NAME: usize = 16;

/// Why the server refused an action. [`Refusal::code`] is the `ActionErr`
/// code, the `Display` text its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The acting user has no player yet (send `enter` first).
    NotInWorld,
    /// Every free hex is taken.
    WorldFull,
    /// The target is outside the grid.
    OffGrid {
        /// The target.
        to: Hex,
    },
    /// The target is a wall.
    Wall {
        /// The target.
        to: Hex,
    },
    /// Another player stands on the target.
    Occupied {
        /// The target.
        to: Hex,
        /// Who stands there.
        by: String,
    },
    /// The target is more than one step away.
    TooFar {
        /// The target.
        to: Hex,
        /// How many steps away it is.
        steps: u32,
    },
    /// The target is where the player already stands.
    AlreadyThere,
    /// The hex under the player has been dug before.
    AlreadyDug {
        /// The hex.
        at: Hex,
    },
    /// The player is already digging.
    Busy,
}

impl Refusal {
    /// The `ActionErr` code.
    pub const fn code(&self) -> &'static str {
        match self {
            Refusal::NotInWorld => "not_in_world",
            Refusal::WorldFull => "world_full",
            Refusal::OffGrid { .. } => "off_grid",
            Refusal::Wall { .. } => "wall",
            Refusal::Occupied { .. } => "occupied",
            Refusal::TooFar { .. } => "too_far",
            Refusal::AlreadyThere => "already_there",
            Refusal::AlreadyDug { .. } => "already_dug",
            Refusal::Busy => "busy",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotInWorld => write!(f, "you are not in the world yet"),
            Refusal::WorldFull => write!(f, "the world is full"),
            Refusal::OffGrid { to } => write!(f, "{to} is off the grid"),
            Refusal::Wall { to } => write!(f, "{to} is a wall"),
            Refusal::Occupied { to, by } => write!(f, "{by} is standing on {to}"),
            Refusal::TooFar { to, steps } => {
                write!(f, "{to} is {steps} steps away; move one step at a time")
            }
            Refusal::AlreadyThere => write!(f, "you are already there"),
            Refusal::AlreadyDug { at } => write!(f, "{at} has already been dug"),
            Refusal::Busy => write!(f, "you are already digging"),
        }
    }
}

impl World {
    /// Checks a step by `user` to `to`. `Ok` holds the changes it makes:
    /// `moved`, then `took` when an item lies there.
    pub fn check_move(&self, user: &str, to: Hex) -> Result<Vec<WorldDelta>, Refusal> {
        let me = self.player(user).ok_or(Refusal::NotInWorld)?;
        if !self.on_grid(to) {
            return Err(Refusal::OffGrid { to });
        }
        if self.is_wall(to) {
            return Err(Refusal::Wall { to });
        }
        match me.at.distance(to) {
            0 => return Err(Refusal::AlreadyThere),
            1 => {}
            steps => return Err(Refusal::TooFar { to, steps }),
        }
        if let Some(other) = self.player_at(to) {
            return Err(Refusal::Occupied {
                to,
                by: other.name.clone(),
            });
        }
        let mut changes = vec![WorldDelta::Moved {
            user: user.to_owned(),
            to,
        }];
        if let Some(item) = self.item_at(to) {
            changes.push(WorldDelta::Took {
                user: user.to_owned(),
                item: item.id,
                points: item.kind.points(),
            });
        }
        Ok(changes)
    }

    /// Checks that `user` may dig where they stand; `Ok` is that hex.
    pub fn check_dig(&self, user: &str) -> Result<Hex, Refusal> {
        let me = self.player(user).ok_or(Refusal::NotInWorld)?;
        if self.is_dug(me.at) {
            return Err(Refusal::AlreadyDug { at: me.at });
        }
        Ok(me.at)
    }

    /// The change that brings `user` into the world under `name`, on the
    /// free hex nearest the centre; `None` when the user is already in it
    /// under that name.
    pub fn check_enter(&self, user: &str, name: &str) -> Result<Option<WorldDelta>, Refusal> {
        let name = display_name(name, user);
        if let Some(me) = self.player(user) {
            if me.name == name {
                return Ok(None);
            }
            let player = Player { name, ..me.clone() };
            return Ok(Some(WorldDelta::Entered { player }));
        }
        let at = Hex::ORIGIN
            .spiral(self.radius)
            .find(|h| self.is_free(*h))
            .ok_or(Refusal::WorldFull)?;
        Ok(Some(WorldDelta::Entered {
            player: Player {
                user: user.to_owned(),
                name,
                at,
                hue: hue_for(user),
                score: 0,
            },
        }))
    }

    /// Whether a player or item could be put here: on the grid, not a wall,
    /// nobody standing and nothing lying on it.
    pub fn is_free(&self, at: Hex) -> bool {
        self.on_grid(at)
            && !self.is_wall(at)
            && self.player_at(at).is_none()
            && self.item_at(at).is_none()
    }

    /// Every free hex, in grid order (see [`World::is_free`]).
    pub fn free_hexes(&self) -> Vec<Hex> {
        Hex::all_within(self.radius)
            .filter(|h| self.is_free(*h))
            .collect()
    }
}

/// The name shown for a player: `raw` without control characters, trimmed
/// and cut to [`MAX_NAME`] characters, or the user id when nothing is left.
pub fn display_name(raw: &str, user: &str) -> String {
    let cleaned: String = raw.chars().filter(|c| !c.is_control()).collect();
    let name: String = cleaned.trim().chars().take(MAX_NAME).collect();
    let name = name.trim_end();
    if name.is_empty() {
        user.chars().take(MAX_NAME).collect()
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{Item, ItemKind};
    use ui_flow::FlowState;

    fn world() -> World {
        let mut w = World {
            radius: 3,
            walls: vec![Hex::new(1, 0)],
            ..World::default()
        };
        for (user, name) in [("ann", "Ann"), ("bob", "Bob")] {
            let enter = w.check_enter(user, name).expect("room").expect("new");
            w.apply_delta(enter);
        }
        w
    }

    #[test]
    fn players_enter_nearest_the_centre() {
        let w = world();
        assert_eq!(w.player("ann").map(|p| p.at), Some(Hex::ORIGIN));
        assert_eq!(w.player("bob").map(|p| p.at.distance(Hex::ORIGIN)), Some(1));
        assert_eq!(w.check_enter("ann", "Ann"), Ok(None));
        let renamed = w.check_enter("ann", "  Annie\u{7} ").expect("ok");
        assert!(matches!(renamed, Some(WorldDelta::Entered { player }) if player.name == "Annie"));
    }

    #[test]
    fn each_illegal_move_has_its_code() {
        let w = world();
        let bob_at = w.player("bob").expect("bob").at;
        let cases = [
            ("zed", Hex::new(0, 1), "not_in_world"),
            ("ann", Hex::new(4, 0), "off_grid"),
            ("ann", Hex::new(1, 0), "wall"),
            ("ann", bob_at, "occupied"),
            ("ann", Hex::new(0, 2), "too_far"),
            ("ann", Hex::ORIGIN, "already_there"),
        ];
        for (user, to, code) in cases {
            let refusal = w.check_move(user, to).expect_err(code);
            assert_eq!(refusal.code(), code, "{refusal}");
        }
    }

    #[test]
    fn stepping_onto_an_item_takes_it() {
        let mut w = world();
        let to = Hex::ORIGIN
            .neighbours()
            .into_iter()
            .find(|h| w.is_free(*h))
            .expect("a free neighbour");
        w.apply_delta(WorldDelta::Spawned {
            item: Item {
                id: 3,
                kind: ItemKind::Coin,
                at: to,
            },
        });
        let changes = w.check_move("ann", to).expect("legal");
        assert_eq!(changes.len(), 2);
        for change in changes {
            w.apply_delta(change);
        }
        assert_eq!(w.player("ann").map(|p| (p.at, p.score)), Some((to, 3)));
    }

    #[test]
    fn a_hex_is_dug_once() {
        let mut w = world();
        let at = w.check_dig("ann").expect("diggable");
        w.apply_delta(WorldDelta::Dug {
            user: "ann".into(),
            at,
            points: 0,
        });
        assert_eq!(w.check_dig("ann").map_err(|r| r.code()), Err("already_dug"));
        assert_eq!(
            w.check_dig("zed").map_err(|r| r.code()),
            Err("not_in_world")
        );
    }

    #[test]
    fn names_are_cleaned_and_cut() {
        assert_eq!(display_name("  Ann  ", "u1"), "Ann");
        assert_eq!(display_name("\n\t", "u1"), "u1");
        assert_eq!(display_name(&"x".repeat(40), "u1").len(), MAX_NAME);
    }
}
