//! The world a server starts with.

use crate::hex::Hex;
use crate::world::{Item, ItemKind, World};

/// The grid's radius: 91 hexes.
pub const RADIUS: u8 = 5;

/// Walls: a few ridges and boulders, clear of the centre so that players
/// always have somewhere to enter.
const WALLS: [(i32, i32); 14] = [
    (-4, 1),
    (-3, 1),
    (-3, 2),
    (2, -4),
    (2, -3),
    (3, -3),
    (-1, 4),
    (0, 3),
    (1, 3),
    (3, 0),
    (4, -1),
    (-2, -2),
    (-1, -3),
    (5, -3),
];

/// Items lying about at the start.
const ITEMS: [(ItemKind, i32, i32); 4] = [
    (ItemKind::Gem, 2, -1),
    (ItemKind::Coin, -2, 3),
    (ItemKind::Berry, -1, -1),
    (ItemKind::Berry, 3, 1),
];

impl World {
    /// The starting world: radius [`RADIUS`], its walls and four items
    /// (ids 1 to 4), nobody in it and nothing dug.
    pub fn new() -> Self {
        World {
            radius: RADIUS,
            walls: WALLS.iter().map(|&(q, r)| Hex::new(q, r)).collect(),
            items: ITEMS
                .iter()
                .zip(1..)
                .map(|(&(kind, q, r), id)| Item {
                    id,
                    kind,
                    at: Hex::new(q, r),
                })
                .collect(),
            dug: Vec::new(),
            players: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_is_consistent() {
        let w = World::new();
        assert!(w.walls.iter().all(|h| w.on_grid(*h)));
        assert!(w.items.iter().all(|i| w.on_grid(i.at) && !w.is_wall(i.at)));
        // The centre and its ring are open, so the first seven players fit.
        assert!(Hex::ORIGIN.spiral(1).all(|h| w.is_free(h)));
        assert_eq!(w.free_hexes().len(), 91 - WALLS.len() - ITEMS.len());
    }
}
