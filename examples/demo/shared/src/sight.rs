//! Fog of war: what a player sees of the world.
//!
//! A player sees every player, every wall and the grid, but items and dug
//! hexes only within [`SIGHT`] steps of where they stand. A user who has no
//! player on the grid yet sees no items and no dug hexes. The server sends
//! each connection only what its player sees: a state projected with
//! [`World::seen_from`] and each change projected with
//! [`World::change_seen_from`].

use crate::hex::Hex;
use crate::world::{World, WorldDelta};

/// How far a player sees items and dug hexes, in steps.
pub const SIGHT: u32 = 2;

/// Whether a player standing at `from` sees the hex `at`.
pub fn in_sight(from: Option<Hex>, at: Hex) -> bool {
    from.is_some_and(|from| from.distance(at) <= SIGHT)
}

impl World {
    /// The world as a player standing at `from` sees it.
    pub fn seen_from(&self, from: Option<Hex>) -> World {
        World {
            radius: self.radius,
            walls: self.walls.clone(),
            items: self
                .items
                .iter()
                .filter(|i| in_sight(from, i.at))
                .copied()
                .collect(),
            dug: self
                .dug
                .iter()
                .filter(|at| in_sight(from, **at))
                .copied()
                .collect(),
            players: self.players.clone(),
        }
    }

    /// What `change`, made to this world, is to a player standing at
    /// `from`: the change itself, another change (a score without the
    /// unseen item or hex that earned it), or nothing.
    pub fn change_seen_from(&self, from: Option<Hex>, change: &WorldDelta) -> Option<WorldDelta> {
        let score = |user: &String, points: u32| {
            (points > 0).then(|| WorldDelta::Scored {
                user: user.clone(),
                points,
            })
        };
        match change {
            WorldDelta::Spawned { item } => in_sight(from, item.at).then(|| change.clone()),
            WorldDelta::Took { user, item, points } => {
                match self.items.iter().find(|i| i.id == *item) {
                    Some(seen) if in_sight(from, seen.at) => Some(change.clone()),
                    Some(_) => score(user, *points),
                    None => None,
                }
            }
            WorldDelta::Dug { user, at, points } if !in_sight(from, *at) => score(user, *points),
            _ => Some(change.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use ui_flow::FlowState;

    use super::*;
    use crate::world::{Item, ItemKind};

    #[test]
    fn a_far_item_is_hidden_and_its_taking_is_only_a_score() {
        let mut world = World::new();
        let far = Item {
            id: 99,
            kind: ItemKind::Gem,
            at: Hex::new(4, 0),
        };
        let spawned = WorldDelta::Spawned { item: far };
        let me = Some(Hex::new(-4, 0));
        assert_eq!(world.change_seen_from(me, &spawned), None);
        world.apply_delta(spawned);
        assert!(!world.seen_from(me).items.contains(&far));
        let took = WorldDelta::Took {
            user: "bob".into(),
            item: 99,
            points: 5,
        };
        assert_eq!(
            world.change_seen_from(me, &took),
            Some(WorldDelta::Scored {
                user: "bob".into(),
                points: 5
            })
        );
        assert!(world.seen_from(Some(Hex::new(3, 0))).items.contains(&far));
    }
}
