//! Notifications, in two domains a client can subscribe to separately.

use serde::{Deserialize, Serialize};

use crate::hex::Hex;
use crate::world::ItemKind;

/// Notification domains.
pub mod domain {
    /// What happens in the world, sent to every subscriber.
    pub const WORLD: &str = "world";
    /// Loot, sent only to the player who found it (`notify_user`).
    pub const REWARDS: &str = "rewards";
    /// Both, in the order a client subscribes to them by default.
    pub const ALL: [&str; 2] = [WORLD, REWARDS];
}

/// A notification's event. The `Notify` frame carries the domain beside it
/// and, when an action caused it, that action's op id as `correlation_id`.
///
/// On the wire a map whose `type` names the variant, like the deltas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorldEvent {
    /// Domain `world`: someone entered.
    Entered {
        /// Their display name.
        name: String,
    },
    /// Domain `world`: someone left.
    Left {
        /// Their display name.
        name: String,
    },
    /// Domain `world`: someone picked up an item (correlated with the move).
    Took {
        /// Their display name.
        name: String,
        /// What they picked up.
        kind: ItemKind,
    },
    /// Domain `world`: someone finished digging (correlated with the dig).
    /// Whether they found anything is their secret.
    Dug {
        /// Their display name.
        name: String,
        /// Where.
        at: Hex,
    },
    /// Domain `world`: an item appeared.
    Spawned {
        /// What.
        kind: ItemKind,
        /// Where.
        at: Hex,
    },
    /// Domain `rewards`, only to the finder: what they got for a pick-up or
    /// a dig (correlated with that action).
    Loot {
        /// What they found.
        kind: ItemKind,
        /// Points it added.
        points: u32,
        /// Where.
        at: Hex,
    },
}
