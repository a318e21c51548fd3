//! [`Room`]: one resource's world with its seq line and recent history.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use demo_world::{Hex, Item, ItemKind, World, WorldDelta};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use ui_flow::FlowState;
use ui_flow_server::SessionHandle;

use crate::worlds::Worlds;

/// How many past changes a room keeps, so a client that reconnects within
/// them catches up with `Deltas` instead of a snapshot.
pub const HISTORY: usize = 512;

/// Items lying about at most; the steward stops spawning beyond this.
pub const MAX_ITEMS: usize = 7;

/// One world and everything the server remembers about it.
#[derive(Debug)]
pub struct Room {
    pub(crate) world: World,
    pub(crate) seq: u64,
    history: VecDeque<(WorldDelta, u64)>,
    next_item: u32,
    /// Users with a dig running.
    pub(crate) digging: HashSet<String>,
    /// Players whose user has no connection, and since when.
    pub(crate) absent: HashMap<String, Instant>,
    pub(crate) last_spawn: Instant,
    pub(crate) rng: SmallRng,
    /// Since when nobody has been connected, as the steward saw it.
    pub(crate) deserted_since: Option<Instant>,
}

impl Room {
    /// A room with the starting world at `seq`.
    pub fn new(now: Instant, seed: u64, seq: u64) -> Self {
        let world = World::new();
        let next_item = world.items.iter().map(|i| i.id).max().unwrap_or(0) + 1;
        Room {
            world,
            seq,
            history: VecDeque::new(),
            next_item,
            digging: HashSet::new(),
            absent: HashMap::new(),
            last_spawn: now,
            rng: SmallRng::seed_from_u64(seed),
            deserted_since: None,
        }
    }

    /// Applies `changes` in order, one seq each, remembers them and
    /// broadcasts them: one `Delta`, or one `Deltas` for several. Called with
    /// the room locked, so seqs leave in order.
    pub fn commit(&mut self, session: &SessionHandle<Worlds>, changes: Vec<WorldDelta>) {
        if changes.is_empty() {
            return;
        }
        for change in &changes {
            self.world.apply_delta(change.clone());
            self.seq += 1;
            if self.history.len() == HISTORY {
                self.history.pop_front();
            }
            self.history.push_back((change.clone(), self.seq));
        }
        // Only encoding can fail, and these types always encode; a failed
        // broadcast would make clients resync, never diverge.
        let _ = match changes.as_slice() {
            [one] => session.broadcast_delta(one, self.seq),
            many => session.broadcast_deltas(many, self.seq),
        };
    }

    /// The remembered changes after `seq`, oldest first.
    pub fn changes_since(&self, seq: u64) -> Vec<(WorldDelta, u64)> {
        self.history
            .iter()
            .filter(|(_, s)| *s > seq)
            .cloned()
            .collect()
    }

    /// A new item of a random common kind on a random free hex, if any.
    pub fn new_item(&mut self) -> Option<Item> {
        let free = self.world.free_hexes();
        if free.is_empty() {
            return None;
        }
        let at: Hex = free[self.rng.random_range(0..free.len())];
        let kind = match self.rng.random_range(0..10) {
            0..5 => ItemKind::Berry,
            5..8 => ItemKind::Coin,
            _ => ItemKind::Gem,
        };
        let id = self.next_item;
        self.next_item += 1;
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
