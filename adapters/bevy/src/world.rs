//! What a client mirrors: [`SyncedWorld`], a map entity → registered
//! components, and [`WorldDelta`], the batched change one sync tick commits.
//!
//! These types have no Bevy in them, so a browser client (the Leptos
//! adapter, with this crate's default features off) mirrors the world
//! without compiling an ECS. A component travels as its own MessagePack
//! encoding (wrapped in a MessagePack `bin`), keyed by its
//! [`component_name`]; a client decodes only the components it reads.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ui_flow::{DecodeError, EncodeError, FlowState, Model, RawValue};

/// An entity as clients know it: Bevy's `Entity::to_bits()` (index and
/// generation), so a despawned entity's id is never reused for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EntityId(pub u64);

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "e{}", self.0)
    }
}

/// One component's value, as MessagePack.
///
/// On the wire it is a `bin` holding the component's own encoding (structs
/// as maps, as everywhere in ui-flow); decoding checks the bytes are one
/// well-formed value within the codec's limits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ComponentValue(RawValue);

impl ComponentValue {
    /// Encodes a component.
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Self, EncodeError> {
        RawValue::encode(value).map(ComponentValue)
    }

    /// Decodes it as `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, DecodeError> {
        self.0.decode()
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for ComponentValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for ComponentValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0.as_bytes())
    }
}

impl<'de> Deserialize<'de> for ComponentValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = serde_bytes::ByteBuf::deserialize(deserializer)?;
        RawValue::from_bytes(bytes.into_vec())
            .map(ComponentValue)
            .map_err(serde::de::Error::custom)
    }
}

/// The components of one entity, by [`component_name`].
pub type Components = BTreeMap<String, ComponentValue>;

/// The synced part of a world: every entity that has at least one
/// registered component, with those components (and no others).
///
/// It is what the server's log holds for the resource, what a snapshot
/// carries and what a client mirrors. An entity whose last registered
/// component goes away leaves the map.
///
/// It travels column by column (see the serialized form in the crate's
/// `wire` module): an entity with no component is not in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncedWorld {
    /// Entity → its registered components.
    pub entities: BTreeMap<EntityId, Components>,
}

impl SyncedWorld {
    /// How many entities have a registered component.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// True when no entity has a registered component.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// One component of one entity, decoded; `None` when the entity does
    /// not have it.
    pub fn component<T: DeserializeOwned>(
        &self,
        entity: EntityId,
    ) -> Option<Result<T, DecodeError>> {
        self.entities
            .get(&entity)?
            .get(component_name::<T>().as_str())
            .map(ComponentValue::decode)
    }

    /// Every entity that has component `T`, with `T` decoded (an entity
    /// whose value does not decode as `T` is left out).
    pub fn components<T: DeserializeOwned>(&self) -> BTreeMap<EntityId, T> {
        let name = component_name::<T>();
        self.entities
            .iter()
            .filter_map(|(id, components)| {
                let value = components.get(name.as_str())?.decode().ok()?;
                Some((*id, value))
            })
            .collect()
    }
}

/// What changed in one sync tick, coalesced: applied as despawns, then
/// removals, then sets. A component changed many times between two ticks
/// travels once, with its value at the tick.
///
/// On the wire the sets and removals of one component travel together with
/// its name once; sets (and removals) of different components may come back
/// in another order, which applies the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorldDelta {
    /// Entities despawned (every component they had goes).
    pub despawned: Vec<EntityId>,
    /// Components removed from entities that still exist.
    pub removed: Vec<(EntityId, String)>,
    /// Components added or changed, with their new value.
    pub set: Vec<(EntityId, String, ComponentValue)>,
}

impl WorldDelta {
    /// True when it changes nothing (a quiet tick commits nothing).
    pub fn is_empty(&self) -> bool {
        self.despawned.is_empty() && self.removed.is_empty() && self.set.is_empty()
    }
}

impl FlowState for SyncedWorld {
    type Delta = WorldDelta;

    fn apply_delta(&mut self, delta: WorldDelta) {
        for entity in delta.despawned {
            self.entities.remove(&entity);
        }
        for (entity, name) in delta.removed {
            if let Some(components) = self.entities.get_mut(&entity) {
                components.remove(&name);
                if components.is_empty() {
                    self.entities.remove(&entity);
                }
            }
        }
        for (entity, name, value) in delta.set {
            self.entities.entry(entity).or_default().insert(name, value);
        }
    }
}

/// Component `T` among one entity's components, decoded; `None` when the
/// entity does not have it (for [`Interest::sees`](crate::Interest)).
pub fn get_component<T: DeserializeOwned>(
    components: &Components,
) -> Option<Result<T, DecodeError>> {
    components
        .get(component_name::<T>().as_str())
        .map(ComponentValue::decode)
}

/// The name a component type travels under: its type name with every
/// module path dropped (`game::Position` → `Position`,
/// `game::Tagged<game::Red>` → `Tagged<Red>`). Server and client compute it
/// from the same Rust type, so they agree as long as both use that type.
pub fn component_name<T: ?Sized>() -> String {
    let full = std::any::type_name::<T>();
    let mut out = String::with_capacity(full.len());
    let mut segment_start = 0;
    for (i, c) in full.char_indices() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            continue;
        }
        out.push_str(last_segment(&full[segment_start..i]));
        out.push(c);
        segment_start = i + c.len_utf8();
    }
    out.push_str(last_segment(&full[segment_start..]));
    out
}

fn last_segment(path: &str) -> &str {
    path.rsplit("::").next().unwrap_or(path)
}

/// The model a Bevy world is served with: the [`SyncedWorld`] and its
/// [`WorldDelta`], the app's action type `A`, and no events. The plugin's
/// server uses it, and so does a client of the world
/// (`FlowConnection::<SyncedModel<MyAction>>`).
pub struct SyncedModel<A>(std::marker::PhantomData<fn() -> A>);

impl<A> Model for SyncedModel<A>
where
    A: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    type State = SyncedWorld;
    type Delta = WorldDelta;
    type Action = A;
    type Event = ();
}

#[cfg(test)]
mod tests {
    use super::*;

    mod game {
        #[allow(dead_code)]
        pub struct Position;
        #[allow(dead_code)]
        pub struct Tagged<T>(pub T);
    }

    #[test]
    fn names_drop_module_paths() {
        assert_eq!(component_name::<game::Position>(), "Position");
        assert_eq!(
            component_name::<game::Tagged<game::Position>>(),
            "Tagged<Position>"
        );
        assert_eq!(component_name::<(u8, String)>(), "(u8, String)");
    }

    #[test]
    fn a_delta_round_trips_and_applies_in_order() {
        let v = |n: i32| ComponentValue::encode(&n).expect("encode");
        let mut world = SyncedWorld::default();
        world.apply_delta(WorldDelta {
            set: vec![
                (EntityId(1), "A".into(), v(1)),
                (EntityId(1), "B".into(), v(2)),
                (EntityId(2), "A".into(), v(3)),
            ],
            ..WorldDelta::default()
        });
        let delta = WorldDelta {
            despawned: vec![EntityId(2)],
            removed: vec![(EntityId(1), "A".into())],
            set: vec![(EntityId(3), "A".into(), v(4))],
        };
        let bytes = RawValue::encode(&delta).expect("encode");
        let back: WorldDelta = bytes.decode().expect("decode");
        assert_eq!(back, delta);
        world.apply_delta(back);
        assert_eq!(world.len(), 2);
        assert!(!world.entities[&EntityId(1)].contains_key("A"));
        // The last component of an entity going takes the entity too.
        world.apply_delta(WorldDelta {
            removed: vec![(EntityId(1), "B".into())],
            ..WorldDelta::default()
        });
        assert_eq!(
            world.entities.keys().copied().collect::<Vec<_>>(),
            [EntityId(3)]
        );
    }

    #[test]
    fn a_world_travels_by_column_with_each_name_once() {
        let v = |n: i32| ComponentValue::encode(&n).expect("encode");
        let mut world = SyncedWorld::default();
        for id in 0..3u64 {
            let mut components = Components::new();
            components.insert("Position".into(), v(id as i32));
            components.insert("Velocity".into(), v(-(id as i32)));
            world.entities.insert(EntityId(id), components);
        }
        let bytes = RawValue::encode(&world).expect("encode");
        let back: SyncedWorld = bytes.decode().expect("decode");
        assert_eq!(back, world);
        let count = |needle: &[u8]| {
            bytes
                .as_bytes()
                .windows(needle.len())
                .filter(|w| *w == needle)
                .count()
        };
        assert_eq!(count(b"Position"), 1);
        assert_eq!(count(b"Velocity"), 1);

        // A tick's sets of one component, as the plugin groups them: the
        // name once, and the delta comes back equal.
        let delta = WorldDelta {
            set: (0..3)
                .map(|id| (EntityId(id), "Position".to_owned(), v(7)))
                .collect(),
            ..WorldDelta::default()
        };
        let bytes = RawValue::encode(&delta).expect("encode");
        assert_eq!(bytes.decode::<WorldDelta>().expect("decode"), delta);
        assert_eq!(
            bytes
                .as_bytes()
                .windows(8)
                .filter(|w| *w == b"Position")
                .count(),
            1
        );
        // A quiet delta is one byte: an empty list.
        let empty = RawValue::encode(&WorldDelta::default()).expect("encode");
        assert_eq!(empty.as_bytes(), [0x90]);
        assert_eq!(
            empty.decode::<WorldDelta>().expect("decode"),
            WorldDelta::default()
        );
    }

    #[test]
    fn malformed_worlds_and_deltas_are_refused() {
        let value = ComponentValue::encode(&1).expect("encode");
        // An id without its value.
        let odd = RawValue::encode(&vec![("Position", vec![1u64])]).expect("encode");
        assert!(odd.decode::<SyncedWorld>().is_err());
        // A value where an id belongs.
        let swapped =
            RawValue::encode(&vec![("Position", (value.clone(), EntityId(1)))]).expect("encode");
        assert!(swapped.decode::<SyncedWorld>().is_err());
        // Not a list at all.
        let map = RawValue::encode(&BTreeMap::from([("set", 1)])).expect("encode");
        assert!(map.decode::<WorldDelta>().is_err());
        assert!(map.decode::<SyncedWorld>().is_err());
    }

    #[test]
    fn a_component_that_is_not_one_value_is_refused() {
        // A bin holding two values (0x01 0x02) is not one component.
        let frame = RawValue::encode(&serde_bytes::Bytes::new(&[1, 2])).expect("encode");
        assert!(frame.decode::<ComponentValue>().is_err());
    }
}
