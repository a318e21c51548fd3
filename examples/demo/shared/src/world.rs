//! The world every client mirrors, and the changes that move it on.

use serde::{Deserialize, Serialize};
use ui_flow::FlowState;

use crate::hex::Hex;

/// The shared world: a hexagonal grid with walls, items lying about, dug
/// holes and the players standing on it.
///
/// The server owns it; clients get it in a `Snapshot` and keep it current
/// with [`WorldDelta`]s. [`World::default`] is the empty world a client
/// holds before its first snapshot (radius 0, nothing on it); the server
/// starts from [`World::new`].
///
/// On the wire: `{radius, walls: [Hex], items: [Item], dug: [Hex],
/// players: [Player]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct World {
    /// Hexes at most this many steps from the origin are on the grid.
    pub radius: u8,
    /// Hexes nobody can enter. They never change.
    pub walls: Vec<Hex>,
    /// Items lying on the grid, each on its own hex.
    pub items: Vec<Item>,
    /// Hexes that have been dug; each can be dug once.
    pub dug: Vec<Hex>,
    /// Everyone in the world, in the order they entered.
    pub players: Vec<Player>,
}

/// Someone standing on the grid.
///
/// On the wire: `{user, name, at, hue, score}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Player {
    /// The authenticated user id (the server's, never the client's word).
    pub user: String,
    /// The name shown next to the avatar.
    pub name: String,
    /// Where the player stands.
    pub at: Hex,
    /// The avatar's colour, a hue in degrees (0 to 359), derived from the
    /// user id by [`hue_for`].
    pub hue: u16,
    /// Points from items picked up and loot dug up.
    pub score: u32,
}

/// Something lying on the grid, picked up by stepping onto it.
///
/// On the wire: `{id, kind, at}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Unique within the world.
    pub id: u32,
    /// What it is.
    pub kind: ItemKind,
    /// Where it lies.
    pub at: Hex,
}

/// The kinds of things on (and under) the grid. On the wire: the lowercase
/// name (`"berry"`, `"coin"`, `"gem"`, `"relic"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    /// Common, worth 1 point.
    Berry,
    /// Worth 3 points.
    Coin,
    /// Worth 5 points.
    Gem,
    /// Only ever dug up, worth 10 points.
    Relic,
}

impl ItemKind {
    /// What picking it up adds to a score.
    pub const fn points(self) -> u32 {
        match self {
            ItemKind::Berry => 1,
            ItemKind::Coin => 3,
            ItemKind::Gem => 5,
            ItemKind::Relic => 10,
        }
    }

    /// The wire name, also used in the UI.
    pub const fn name(self) -> &'static str {
        match self {
            ItemKind::Berry => "berry",
            ItemKind::Coin => "coin",
            ItemKind::Gem => "gem",
            ItemKind::Relic => "relic",
        }
    }
}

/// One change to the [`World`]. The server sends each as a `Delta` (or
/// several in one `Deltas`), and a client applies them in seq order with
/// [`FlowState::apply_delta`].
///
/// On the wire a map whose `type` names the variant, followed by its fields:
/// `{type: "moved", user, to}` and so on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorldDelta {
    /// A player appeared on the grid.
    Entered {
        /// The new player.
        player: Player,
    },
    /// A player stepped to another hex.
    Moved {
        /// Who.
        user: String,
        /// Where to.
        to: Hex,
    },
    /// A player picked up an item (and its points).
    Took {
        /// Who.
        user: String,
        /// The item's id; it leaves the grid.
        item: u32,
        /// Points added to the player's score.
        points: u32,
    },
    /// A player finished digging a hex.
    Dug {
        /// Who.
        user: String,
        /// The hex, now dug.
        at: Hex,
        /// Points the find was worth (0 when nothing was found).
        points: u32,
    },
    /// A new item appeared on the grid.
    Spawned {
        /// The item.
        item: Item,
    },
    /// A player's score grew by something this connection does not see
    /// (an item taken or a hex dug out of its sight; see `sight`).
    Scored {
        /// The player.
        user: String,
        /// The points added.
        points: u32,
    },
    /// A player left the world.
    Left {
        /// Who.
        user: String,
    },
}

impl World {
    /// The player with this user id.
    pub fn player(&self, user: &str) -> Option<&Player> {
        self.players.iter().find(|p| p.user == user)
    }

    /// The item lying on this hex.
    pub fn item_at(&self, at: Hex) -> Option<&Item> {
        self.items.iter().find(|i| i.at == at)
    }

    /// The player standing on this hex.
    pub fn player_at(&self, at: Hex) -> Option<&Player> {
        self.players.iter().find(|p| p.at == at)
    }

    /// Whether the hex is on the grid.
    pub fn on_grid(&self, at: Hex) -> bool {
        at.distance(Hex::ORIGIN) <= u32::from(self.radius)
    }

    /// Whether the hex is a wall.
    pub fn is_wall(&self, at: Hex) -> bool {
        self.walls.contains(&at)
    }

    /// Whether the hex has been dug.
    pub fn is_dug(&self, at: Hex) -> bool {
        self.dug.contains(&at)
    }

    fn player_mut(&mut self, user: &str) -> Option<&mut Player> {
        self.players.iter_mut().find(|p| p.user == user)
    }
}

impl FlowState for World {
    type Delta = WorldDelta;

    /// Applies a change. A change naming a player or item that is not there
    /// does nothing, so a stale optimistic change can never corrupt a world.
    fn apply_delta(&mut self, delta: WorldDelta) {
        match delta {
            WorldDelta::Entered { player } => match self.player_mut(&player.user) {
                Some(slot) => *slot = player,
                None => self.players.push(player),
            },
            WorldDelta::Moved { user, to } => {
                if let Some(p) = self.player_mut(&user) {
                    p.at = to;
                }
            }
            WorldDelta::Took { user, item, points } => {
                let before = self.items.len();
                self.items.retain(|i| i.id != item);
                if self.items.len() < before
                    && let Some(p) = self.player_mut(&user)
                {
                    p.score += points;
                }
            }
            WorldDelta::Dug { user, at, points } => {
                if !self.dug.contains(&at) {
                    self.dug.push(at);
                }
                if let Some(p) = self.player_mut(&user) {
                    p.score += points;
                }
            }
            WorldDelta::Spawned { item } => {
                if !self.items.iter().any(|i| i.id == item.id) {
                    self.items.push(item);
                }
            }
            WorldDelta::Scored { user, points } => {
                if let Some(p) = self.player_mut(&user) {
                    p.score += points;
                }
            }
            WorldDelta::Left { user } => self.players.retain(|p| p.user != user),
        }
    }
}

/// The avatar hue for a user id: a stable hash (FNV-1a) of the id, spread
/// over the colour wheel. Every client and the server compute the same.
pub fn hue_for(user: &str) -> u16 {
    let hash = user.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    (hash % 360) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn player(user: &str, at: Hex) -> Player {
        Player {
            user: user.into(),
            name: user.into(),
            at,
            hue: hue_for(user),
            score: 0,
        }
    }

    #[test]
    fn deltas_move_take_dig_and_leave() {
        let mut w = World {
            radius: 3,
            ..World::default()
        };
        w.apply_delta(WorldDelta::Entered {
            player: player("ann", Hex::ORIGIN),
        });
        w.apply_delta(WorldDelta::Spawned {
            item: Item {
                id: 7,
                kind: ItemKind::Gem,
                at: Hex::new(1, 0),
            },
        });
        w.apply_delta(WorldDelta::Moved {
            user: "ann".into(),
            to: Hex::new(1, 0),
        });
        w.apply_delta(WorldDelta::Took {
            user: "ann".into(),
            item: 7,
            points: 5,
        });
        w.apply_delta(WorldDelta::Dug {
            user: "ann".into(),
            at: Hex::new(1, 0),
            points: 10,
        });
        let ann = w.player("ann").expect("ann entered");
        assert_eq!((ann.at, ann.score), (Hex::new(1, 0), 15));
        assert!(w.items.is_empty());
        assert!(w.is_dug(Hex::new(1, 0)));
        w.apply_delta(WorldDelta::Left { user: "ann".into() });
        assert!(w.players.is_empty());
    }

    #[test]
    fn deltas_about_missing_things_change_nothing() {
        let mut w = World::default();
        w.apply_delta(WorldDelta::Moved {
            user: "ghost".into(),
            to: Hex::new(1, 0),
        });
        w.apply_delta(WorldDelta::Took {
            user: "ghost".into(),
            item: 1,
            points: 5,
        });
        assert_eq!(w, World::default());
        // Taking an item that is already gone adds no points twice.
        w.apply_delta(WorldDelta::Entered {
            player: player("ann", Hex::ORIGIN),
        });
        w.apply_delta(WorldDelta::Took {
            user: "ann".into(),
            item: 1,
            points: 5,
        });
        assert_eq!(w.player("ann").map(|p| p.score), Some(0));
    }

    #[test]
    fn entering_twice_keeps_one_player() {
        let mut w = World::default();
        for _ in 0..2 {
            w.apply_delta(WorldDelta::Entered {
                player: player("ann", Hex::ORIGIN),
            });
        }
        assert_eq!(w.players.len(), 1);
    }

    #[test]
    fn hues_are_stable_and_on_the_wheel() {
        assert_eq!(hue_for("alice"), hue_for("alice"));
        assert_ne!(hue_for("alice"), hue_for("bob"));
        assert!(
            ["", "a", "alice", "bob", "zoë"]
                .iter()
                .all(|u| hue_for(u) < 360)
        );
    }
}
