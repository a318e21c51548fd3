//! The serialized form of [`SyncedWorld`] and [`WorldDelta`]: column by
//! column, so a component's name travels once per snapshot or delta rather
//! than once per entity, and no field names travel at all.
//!
//! It is the app's payload inside ui-flow's `Snapshot` and `Delta` frames
//! (not part of the ui-flow protocol). In MessagePack:
//!
//! - a column is `[name, [id, value, id, value, ...]]`: a component's name,
//!   then entity ids (`uint`, Bevy's `Entity::to_bits()`, small for
//!   first-generation entities) alternating with the component's value (a
//!   `bin` holding its own MessagePack encoding);
//! - a `SyncedWorld` is `[column, ...]`, one column per component;
//! - a `WorldDelta` is `[set, removed, despawned]` where `set` is
//!   `[column, ...]`, `removed` is `[[name, [id, ...]], ...]` and
//!   `despawned` is `[id, ...]`; trailing empty lists are left out (a tick
//!   that only sets components is `[[column, ...]]`).
//!
//! The entries of one component travel together, in their order; entries of
//! different components are independent, so a delta decodes equal to the
//! one encoded when its sets and removals are grouped by component (the
//! plugin builds them so).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, SerializeTuple};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::world::{ComponentValue, EntityId, SyncedWorld, WorldDelta};

/// Groups `(key, item)` by key, keys in order of first appearance.
fn group<'a, T>(entries: impl Iterator<Item = (&'a str, T)>) -> Vec<(&'a str, Vec<T>)> {
    let mut out: Vec<(&'a str, Vec<T>)> = Vec::new();
    for (name, item) in entries {
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, items)) => items.push(item),
            None => out.push((name, vec![item])),
        }
    }
    out
}

/// `[name, [id, value, ...]]`
struct Column<'a>(&'a str, &'a [(EntityId, &'a ComponentValue)]);

impl Serialize for Column<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Pairs<'a>(&'a [(EntityId, &'a ComponentValue)]);
        impl Serialize for Pairs<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut seq = serializer.serialize_seq(Some(self.0.len() * 2))?;
                for (id, value) in self.0 {
                    seq.serialize_element(id)?;
                    seq.serialize_element(value)?;
                }
                seq.end()
            }
        }
        let mut tuple = serializer.serialize_tuple(2)?;
        tuple.serialize_element(self.0)?;
        tuple.serialize_element(&Pairs(self.1))?;
        tuple.end()
    }
}

fn columns<'a>(groups: &'a [(&'a str, Vec<(EntityId, &'a ComponentValue)>)]) -> Vec<Column<'a>> {
    groups
        .iter()
        .map(|(name, pairs)| Column(name, pairs))
        .collect()
}

/// A decoded column: `(name, [(id, value)])`.
struct OwnedColumn(String, Vec<(EntityId, ComponentValue)>);

impl<'de> Deserialize<'de> for OwnedColumn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Pairs(Vec<(EntityId, ComponentValue)>);
        impl<'de> Deserialize<'de> for Pairs {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = Pairs;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("entity ids alternating with component values")
                    }
                    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Pairs, A::Error> {
                        let mut out =
                            Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096) / 2);
                        while let Some(id) = seq.next_element::<EntityId>()? {
                            let value = seq.next_element::<ComponentValue>()?.ok_or_else(|| {
                                de::Error::custom("an entity id without its component value")
                            })?;
                            out.push((id, value));
                        }
                        Ok(Pairs(out))
                    }
                }
                deserializer.deserialize_seq(V)
            }
        }
        let (name, Pairs(pairs)) = <(String, Pairs)>::deserialize(deserializer)?;
        Ok(OwnedColumn(name, pairs))
    }
}

impl Serialize for SyncedWorld {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let groups = group(self.entities.iter().flat_map(|(id, components)| {
            components
                .iter()
                .map(move |(name, value)| (name.as_str(), (*id, value)))
        }));
        columns(&groups).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SyncedWorld {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let columns = Vec::<OwnedColumn>::deserialize(deserializer)?;
        let mut entities: BTreeMap<EntityId, crate::world::Components> = BTreeMap::new();
        for OwnedColumn(name, pairs) in columns {
            for (id, value) in pairs {
                entities.entry(id).or_default().insert(name.clone(), value);
            }
        }
        Ok(SyncedWorld { entities })
    }
}

impl Serialize for WorldDelta {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let set = group(
            self.set
                .iter()
                .map(|(id, name, value)| (name.as_str(), (*id, value))),
        );
        let removed = group(self.removed.iter().map(|(id, name)| (name.as_str(), *id)));
        let len = if !self.despawned.is_empty() {
            3
        } else if !removed.is_empty() {
            2
        } else {
            usize::from(!set.is_empty())
        };
        let mut seq = serializer.serialize_seq(Some(len))?;
        if len >= 1 {
            seq.serialize_element(&columns(&set))?;
        }
        if len >= 2 {
            seq.serialize_element(&removed)?;
        }
        if len >= 3 {
            seq.serialize_element(&self.despawned)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for WorldDelta {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = WorldDelta;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a world delta: [set, removed, despawned]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WorldDelta, A::Error> {
                let mut delta = WorldDelta::default();
                let Some(set) = seq.next_element::<Vec<OwnedColumn>>()? else {
                    return Ok(delta);
                };
                for OwnedColumn(name, pairs) in set {
                    delta.set.extend(
                        pairs
                            .into_iter()
                            .map(|(id, value)| (id, name.clone(), value)),
                    );
                }
                let Some(removed) = seq.next_element::<Vec<(String, Vec<EntityId>)>>()? else {
                    return Ok(delta);
                };
                for (name, ids) in removed {
                    delta
                        .removed
                        .extend(ids.into_iter().map(|id| (id, name.clone())));
                }
                if let Some(despawned) = seq.next_element::<Vec<EntityId>>()? {
                    delta.despawned = despawned;
                }
                // Parts a later version may add are skipped.
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(delta)
            }
        }
        deserializer.deserialize_seq(V)
    }
}
