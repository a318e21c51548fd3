//! # demo-world
//!
//! The model of the flagship demo, shared by its server (`demo-server`) and
//! its Leptos frontend (`demo-web`): a small hexagonal world where people
//! move, pick up items, dig for loot and see each other.
//!
//! - [`World`] is the state every client mirrors, [`WorldDelta`] a change
//!   to it; their [`FlowState`](ui_flow::FlowState) implementation is the
//!   one both sides run, so a client's copy equals the server's.
//! - [`WorldAction`] is what a client asks for, [`WorldEvent`] what it is
//!   told in the `world` and `rewards` notification [`domain`]s.
//! - The [`rules`] decide which actions are legal and with which
//!   `ActionErr` code an illegal one is refused.
//!
//! It is not a game engine and not a library to depend on: it exists so the
//! demo's programs agree on types. `docs/demo-protocol.md` shows every type
//! as it appears on the wire, for clients written in other languages.
//!
//! ```
//! use demo_world::{Hex, World, WorldDelta};
//! use ui_flow::FlowState;
//!
//! let mut world = World::new();
//! let enter = world.check_enter("ann", "Ann")?.expect("not in yet");
//! world.apply_delta(enter);
//! // An illegal move is refused with its ActionErr code...
//! assert_eq!(world.check_move("ann", Hex::new(9, 9)).unwrap_err().code(), "off_grid");
//! // ...a step to a free neighbour is not.
//! let to = Hex::ORIGIN.neighbours()[0];
//! for change in world.check_move("ann", to)? {
//!     world.apply_delta(change);
//! }
//! assert_eq!(world.player("ann").map(|p| p.at), Some(to));
//! # Ok::<(), demo_world::Refusal>(())
//! ```

mod action;
mod event;
mod hex;
mod map;
pub mod rules;
mod sight;
mod world;

pub use action::{DIG_STEPS, DigResult, WorldAction};
pub use event::{WorldEvent, domain};

/// The demo's types, named once: `demo-server`'s handler and the frontends
/// are built from it, so they agree on the wire types at compile time.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorldModel;

impl ui_flow::Model for WorldModel {
    type State = World;
    type Delta = WorldDelta;
    type Action = WorldAction;
    type Event = WorldEvent;
}
pub use hex::Hex;
pub use map::RADIUS;
pub use rules::{Refusal, display_name};
pub use sight::{SIGHT, in_sight};
pub use world::{Item, ItemKind, Player, World, WorldDelta, hue_for};
