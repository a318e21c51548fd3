//! Interest management: which synced entities each user sees.
//!
//! The app gives each user an *interest*, a value of its own type that
//! implements [`Interest`] (a point and a radius, a set of map cells, a
//! team), through the [`Interests`] resource; [`Interest::sees`] says from
//! an entity's synced components whether that interest sees it. The plugin
//! maps it onto ui-flow-server's per-user views: the interest is the
//! connection's view, so users with equal interests share one view and each
//! tick is projected and encoded once per distinct interest, not per user.
//! An entity entering a user's interest arrives whole (all its synced
//! components), one leaving it is removed from that client's mirror (as a
//! despawn), and a tick that changes nothing a view sees sends that view
//! nothing. Setting a user's interest resyncs their connections with a
//! snapshot of the new view (after the commit of the tick it was set in).
//!
//! It is a bandwidth and secrecy filter: a client never receives an entity
//! outside its interest, not even in its snapshot. It is not a physics or
//! culling layer (the app's systems still see the whole world), not an
//! access check on actions (check those in the systems that answer them),
//! and it does not follow an entity by itself: an interest that depends on
//! where the user's avatar is must be set again when the avatar moves.
//! Every change of interest costs one snapshot to that user, so quantise
//! moving interests (a cell, a rounded point) rather than setting them
//! every frame; quantised interests are also shared by more users.
//!
//! `sees` must depend only on the interest and the entity's own synced
//! components: the server decides with those alone, under its log lock, so
//! keep it quick.
//!
//! ```
//! use bevy_app::{App, Update};
//! use bevy_ecs::prelude::*;
//! use serde::{Deserialize, Serialize};
//! use ui_flow_bevy::{
//!     ClientAction, Components, EntityId, Interest, Interests, SyncApp, UiFlowPlugin,
//!     get_component,
//! };
//!
//! #[derive(Component, Serialize, Deserialize)]
//! struct Position { x: f32, y: f32 }
//!
//! /// A square cell of the map, 100 units wide: users looking at the same
//! /// cell share one view.
//! #[derive(Clone, Copy, Serialize, Deserialize)]
//! struct Cell { cx: i32, cy: i32 }
//!
//! impl Interest for Cell {
//!     fn sees(&self, _entity: EntityId, components: &Components) -> bool {
//!         matches!(get_component::<Position>(components),
//!             Some(Ok(p)) if (p.x / 100.0).floor() as i32 == self.cx
//!                 && (p.y / 100.0).floor() as i32 == self.cy)
//!     }
//! }
//!
//! /// Clients say where they look.
//! #[derive(Serialize, Deserialize)]
//! enum Command { LookAt { x: f32, y: f32 } }
//!
//! fn look(
//!     mut actions: MessageReader<'_, '_, ClientAction<Command>>,
//!     mut interests: ResMut<'_, Interests<Cell>>,
//! ) {
//!     for request in actions.read() {
//!         let Command::LookAt { x, y } = request.action();
//!         let cell = Cell { cx: (x / 100.0).floor() as i32, cy: (y / 100.0).floor() as i32 };
//!         interests.set(request.user_id(), cell);
//!         request.ok();
//!     }
//! }
//!
//! # fn main() -> std::io::Result<()> {
//! let mut app = App::new();
//! app.add_plugins(
//!     // Until a user looks somewhere, they see the cell at the origin.
//!     UiFlowPlugin::<Command>::bind("127.0.0.1:0")?.interest(Some(Cell { cx: 0, cy: 0 })),
//! )
//! .sync_component::<Position>()
//! .add_systems(Update, look);
//! app.world_mut().spawn(Position { x: 50.0, y: 50.0 });
//! // The app can also set an interest itself, say for a user it knows.
//! app.world_mut().resource_mut::<Interests<Cell>>().set("alice", Cell { cx: 3, cy: 1 });
//! app.update();
//! # Ok(()) }
//! ```

use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use bevy_ecs::resource::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use ui_flow::RawValue;
use ui_flow_server::{Projected, ViewKey};

use crate::world::{Components, EntityId, SyncedWorld, WorldDelta};

/// What a user is interested in: the app's own type (serde, because it is
/// the name of the user's view).
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use ui_flow_bevy::{Components, EntityId, Interest, get_component};
///
/// #[derive(Serialize, Deserialize)]
/// struct Position { x: f32, y: f32 }
///
/// /// Sees the entities with a Position within `radius` of `(x, y)`.
/// #[derive(Serialize, Deserialize)]
/// struct Near { x: f32, y: f32, radius: f32 }
///
/// impl Interest for Near {
///     fn sees(&self, _entity: EntityId, components: &Components) -> bool {
///         let Some(Ok(p)) = get_component::<Position>(components) else {
///             return false;
///         };
///         (p.x - self.x).hypot(p.y - self.y) <= self.radius
///     }
/// }
/// ```
pub trait Interest: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Whether a user with this interest sees `entity`, which has these
    /// synced `components`. An entity this returns `false` for is absent
    /// from the user's mirror.
    fn sees(&self, entity: EntityId, components: &Components) -> bool;
}

/// Each user's interest (a Bevy resource, present when the plugin was built
/// with [`UiFlowPlugin::interest`](crate::UiFlowPlugin::interest)).
///
/// A user the app has set no interest for gets the plugin's default (or
/// sees nothing, without one). Entries are the app's: they stay until
/// [`clear`](Self::clear)ed, also while the user is not connected.
#[derive(Resource)]
pub struct Interests<I> {
    shared: Arc<RwLock<HashMap<String, Arc<I>>>>,
    refresh: Arc<Mutex<BTreeSet<String>>>,
}

impl<I: Interest> Interests<I> {
    /// Sets `user_id`'s interest; their connections resync to it after the
    /// next sync tick's commit.
    pub fn set(&mut self, user_id: impl Into<String>, interest: I) {
        let user_id = user_id.into();
        self.shared
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(user_id.clone(), Arc::new(interest));
        self.refresh
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(user_id);
    }

    /// Forgets `user_id`'s interest: back to the default.
    pub fn clear(&mut self, user_id: &str) {
        let removed = self
            .shared
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(user_id);
        if removed.is_some() {
            self.refresh
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(user_id.to_owned());
        }
    }

    /// `user_id`'s interest, when the app set one.
    pub fn get(&self, user_id: &str) -> Option<Arc<I>> {
        self.shared
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(user_id)
            .cloned()
    }

    /// How many users have an interest set.
    pub fn len(&self) -> usize {
        self.shared
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when no user has an interest set.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Users whose interest changed since the last tick (shared by
/// [`Interests`] and the plugin's flush, which has no `I`).
#[derive(Resource, Clone, Default)]
pub(crate) struct RefreshQueue(pub(crate) Arc<Mutex<BTreeSet<String>>>);

impl RefreshQueue {
    pub(crate) fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
            .into_iter()
            .collect()
    }
}

/// The server thread's side of interests, without naming `I`.
pub(crate) trait Views: Send + Sync {
    fn view(&self, user_id: &str) -> ViewKey;
    fn project_state(&self, view: &ViewKey, state: &SyncedWorld) -> SyncedWorld;
    fn project_delta(
        &self,
        view: &ViewKey,
        before: &SyncedWorld,
        after: &SyncedWorld,
        delta: &WorldDelta,
    ) -> Projected<WorldDelta>;
}

/// Builds the resource the app sets interests in and the server thread's
/// views over the same map.
pub(crate) fn interests<I: Interest>(
    default: Option<I>,
) -> (Interests<I>, RefreshQueue, Arc<dyn Views>) {
    let shared = Arc::new(RwLock::new(HashMap::new()));
    let refresh = RefreshQueue::default();
    let views = InterestViews {
        shared: shared.clone(),
        default: default.and_then(|d| key_of(&d)),
        _interest: PhantomData::<fn() -> I>,
    };
    let resource = Interests {
        shared,
        refresh: refresh.0.clone(),
    };
    (resource, refresh, Arc::new(views))
}

/// The view of users with no interest: nothing.
const NOTHING: &str = "-";

/// A view's key is its interest, encoded (MessagePack, in hex): equal
/// interests are the same view, and the key alone says what it sees.
fn key_of<I: Interest>(interest: &I) -> Option<ViewKey> {
    match RawValue::encode(interest) {
        Ok(bytes) => Some(ViewKey::new(hex::encode(bytes.as_bytes()))),
        Err(e) => {
            tracing::warn!(error = %e, "an interest could not be encoded; the user sees nothing");
            None
        }
    }
}

struct InterestViews<I> {
    shared: Arc<RwLock<HashMap<String, Arc<I>>>>,
    default: Option<ViewKey>,
    _interest: PhantomData<fn() -> I>,
}

impl<I: Interest> InterestViews<I> {
    /// The interest a view's key names; `None` sees nothing.
    fn interest(view: &ViewKey) -> Option<I> {
        let bytes = hex::decode(view.name()?).ok()?;
        RawValue::from_bytes(bytes).ok()?.decode().ok()
    }
}

impl<I: Interest> Views for InterestViews<I> {
    fn view(&self, user_id: &str) -> ViewKey {
        let set = self
            .shared
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(user_id)
            .cloned();
        set.and_then(|i| key_of(&*i))
            .or_else(|| self.default.clone())
            .unwrap_or_else(|| ViewKey::new(NOTHING))
    }

    fn project_state(&self, view: &ViewKey, state: &SyncedWorld) -> SyncedWorld {
        let Some(interest) = Self::interest(view) else {
            return SyncedWorld::default();
        };
        SyncedWorld {
            entities: state
                .entities
                .iter()
                .filter(|(id, components)| interest.sees(**id, components))
                .map(|(id, components)| (*id, components.clone()))
                .collect(),
        }
    }

    fn project_delta(
        &self,
        view: &ViewKey,
        before: &SyncedWorld,
        after: &SyncedWorld,
        delta: &WorldDelta,
    ) -> Projected<WorldDelta> {
        let Some(interest) = Self::interest(view) else {
            return Projected::Nothing;
        };
        let sees = |world: &SyncedWorld, id: &EntityId| {
            world
                .entities
                .get(id)
                .is_some_and(|components| interest.sees(*id, components))
        };
        // Each entity the delta touches, once, with its own entries.
        #[derive(Default)]
        struct Touched<'a> {
            removed: Vec<&'a (EntityId, String)>,
            set: Vec<&'a (EntityId, String, crate::world::ComponentValue)>,
        }
        let mut touched: std::collections::BTreeMap<EntityId, Touched<'_>> = delta
            .despawned
            .iter()
            .map(|id| (*id, Touched::default()))
            .collect();
        for entry in &delta.removed {
            touched.entry(entry.0).or_default().removed.push(entry);
        }
        for entry in &delta.set {
            touched.entry(entry.0).or_default().set.push(entry);
        }
        let mut out = WorldDelta::default();
        let mut same = true;
        for (id, own) in touched {
            match (sees(before, &id), sees(after, &id)) {
                (false, false) => same = false,
                // Leaving the interest (or despawned while in it).
                (true, false) => {
                    same &= own.removed.is_empty() && own.set.is_empty();
                    out.despawned.push(id);
                }
                // Entering it: the whole entity.
                (false, true) => {
                    same = false;
                    for (name, value) in &after.entities[&id] {
                        out.set.push((id, name.clone(), value.clone()));
                    }
                }
                // Staying: its own changes, as they are.
                (true, true) => {
                    out.removed.extend(own.removed.into_iter().cloned());
                    out.set.extend(own.set.into_iter().cloned());
                }
            }
        }
        if out.is_empty() {
            Projected::Nothing
        } else if same {
            Projected::Same
        } else {
            Projected::Deltas(vec![out])
        }
    }
}
