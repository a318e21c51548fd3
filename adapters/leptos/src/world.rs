//! Typed views of a Bevy world served by `ui-flow-bevy` (feature `bevy`).
//!
//! The connection's state is a [`SyncedWorld`]: each component is kept
//! once, as the bytes the server sent. These functions derive memos from
//! it that decode one component type: a memo notifies its readers only when
//! its decoded value changed, so a view of entity 7's `Position` does not
//! re-render when entity 8 moves or when entity 7's `Name` changes.
//!
//! They are not a second copy of the world or a subscription on the wire:
//! every client receives every synced entity (the server has no interest
//! management yet), and the memos only decide what re-renders.

use std::collections::BTreeMap;
use std::sync::Arc;

use leptos::prelude::*;
use serde::de::DeserializeOwned;
use ui_flow_bevy::{EntityId, SyncedWorld};

/// Every entity that has component `T`, with `T` decoded. Pass the
/// `state` signal of `use_flow::<SyncedModel<MyAction>>`.
///
/// An entity whose value does not decode as `T` is left out.
pub fn use_component<T>(world: Signal<Arc<SyncedWorld>>) -> Memo<BTreeMap<EntityId, T>>
where
    T: DeserializeOwned + PartialEq + Send + Sync + 'static,
{
    Memo::new(move |_| world.with(|w| w.components::<T>()))
}

/// Entity `entity`'s component `T`, decoded; `None` while the entity does
/// not have it (or it does not decode as `T`).
pub fn use_entity_component<T>(world: Signal<Arc<SyncedWorld>>, entity: EntityId) -> Memo<Option<T>>
where
    T: DeserializeOwned + PartialEq + Send + Sync + 'static,
{
    Memo::new(move |_| world.with(|w| w.component::<T>(entity).and_then(Result::ok)))
}

/// The ids of every synced entity, in order; changes only when an entity
/// appears or goes.
pub fn use_entities(world: Signal<Arc<SyncedWorld>>) -> Memo<Vec<EntityId>> {
    Memo::new(move |_| world.with(|w| w.entities.keys().copied().collect()))
}
