//! [`Room`]: what the demo remembers about one world besides the world
//! itself (which the server's resource log keeps).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use demo_world::{Hex, Item, ItemKind, World};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Items lying about at most; the steward stops spawning beyond this.
pub const MAX_ITEMS: usize = 7;

/// One world's passing facts: who is digging, who left and when, when the
/// last item dropped, and the dice. None of it needs to survive a restart.
#[derive(Debug)]
pub struct Room {
    /// Users with a dig running.
    pub(crate) digging: HashSet<String>,
    /// Players whose user has no connection, and since when.
    pub(crate) absent: HashMap<String, Instant>,
    pub(crate) last_spawn: Instant,
    /// Since when the world has had no connection (`None` while it has).
    pub(crate) empty_since: Option<Instant>,
    pub(crate) rng: SmallRng,
}

impl Room {
    /// A room whose dice are seeded with `seed`.
    pub fn new(now: Instant, seed: u64) -> Self {
        Room {
            digging: HashSet::new(),
            absent: HashMap::new(),
            last_spawn: now,
            empty_since: None,
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// A new item of a random common kind on a random free hex of `world`,
    /// if any, with the next unused id.
    pub fn new_item(&mut self, world: &World) -> Option<Item> {
        let free = world.free_hexes();
        if free.is_empty() {
            return None;
        }
        let at: Hex = free[self.rng.random_range(0..free.len())];
        let kind = match self.rng.random_range(0..10) {
            0..5 => ItemKind::Berry,
            5..8 => ItemKind::Coin,
            _ => ItemKind::Gem,
        };
        let id = world.items.iter().map(|i| i.id).max().unwrap_or(0) + 1;
        Some(Item { id, kind, at })
    }

    /// What a dig turns up: with `chance_percent` odds something, the rarer
    /// the less likely.
    pub fn dig_find(&mut self, chance_percent: u8) -> Option<ItemKind> {
        if self.rng.random_range(0..100u8) >= chance_percent {
            return None;
        }
        Some(match self.rng.random_range(0..10) {
            0..2 => ItemKind::Relic,
            2..5 => ItemKind::Gem,
            5..8 => ItemKind::Coin,
            _ => ItemKind::Berry,
        })
    }
}
