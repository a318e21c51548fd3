//! Example: a small headless simulation served with `ui-flow-bevy`.
//!
//! A few hundred entities with [`Position`], [`Velocity`] and [`Name`]
//! move inside a square and bounce off its walls; clients mirror them and
//! send [`WorldCommand`]s (spawn one, change one's velocity, rename one,
//! despawn one).
//! The types are plain serde types so a browser client can share them
//! without Bevy (default features off); the `server` feature adds the
//! Bevy `Component` derives, [`simulation`] and [`site`] (the page's
//! static files, served beside the world by `bevy-world-server --site`).
//!
//! The page itself is the `bevy-world-web` crate (`examples/bevy-world/web`,
//! Leptos): `./scripts/demo.sh bevy` builds it and starts the server.

use serde::{Deserialize, Serialize};

/// The side of the square the entities move in.
pub const SIZE: f32 = 1000.0;

/// Where an entity is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(bevy_ecs::component::Component))]
pub struct Position {
    /// From 0 to [`SIZE`].
    pub x: f32,
    /// From 0 to [`SIZE`].
    pub y: f32,
}

/// How far an entity moves per frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(bevy_ecs::component::Component))]
pub struct Velocity {
    /// Along x.
    pub dx: f32,
    /// Along y.
    pub dy: f32,
}

/// The longest [`Name`] a client may give an entity, in characters.
pub const NAME_MAX_CHARS: usize = 32;

/// A label for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(bevy_ecs::component::Component))]
pub struct Name(pub String);

/// What a client may ask of the world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WorldCommand {
    /// Spawn an entity at a point, standing still; answered with its id.
    Spawn {
        /// Where.
        x: f32,
        /// Where.
        y: f32,
    },
    /// Set an entity's velocity (the inspector's edit).
    SetVelocity {
        /// The entity (`EntityId.0`).
        entity: u64,
        /// The new velocity.
        velocity: Velocity,
    },
    /// Rename an entity (the inspector's edit): the name is trimmed and
    /// must then have from 1 to [`NAME_MAX_CHARS`] characters, none of them
    /// a control character; otherwise the action fails with
    /// `invalid_name` and nothing changes.
    Rename {
        /// The entity (`EntityId.0`).
        entity: u64,
        /// The new name.
        name: String,
    },
    /// Despawn an entity.
    Despawn {
        /// The entity (`EntityId.0`).
        entity: u64,
    },
}

impl Name {
    /// The name a client asked for, trimmed, or why it is refused.
    pub fn parse(asked: &str) -> Result<Name, String> {
        let name = asked.trim();
        if name.is_empty() {
            return Err("a name cannot be empty".to_owned());
        }
        if name.chars().count() > NAME_MAX_CHARS {
            return Err(format!("a name has at most {NAME_MAX_CHARS} characters"));
        }
        if name.chars().any(char::is_control) {
            return Err("a name cannot hold control characters".to_owned());
        }
        Ok(Name(name.to_owned()))
    }
}

#[cfg(feature = "server")]
pub mod simulation;
#[cfg(feature = "server")]
pub mod site;
