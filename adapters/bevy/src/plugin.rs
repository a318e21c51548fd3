//! The Bevy side: [`UiFlowPlugin`], [`SyncApp::sync_component`], and the
//! systems that turn a frame's changes into one commit.
//!
//! Every frame, in `PostUpdate`, one small system per registered component
//! marks the `(entity, component)` pairs that were added, changed or
//! removed (a despawn removes every component). In `Last`, on every
//! `sync_every`-th frame, one exclusive system reads the marked components'
//! current values and hands them to the server thread as one
//! [`WorldDelta`]: a component changed on several frames travels once, with
//! its value at the tick, and a tick with nothing marked commits nothing.
//! Client actions are written as [`ClientAction`] messages in `PreUpdate`.

use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;
use std::mem;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use bevy_app::{App, Last, Plugin, PostUpdate, PreUpdate};
use bevy_ecs::component::Component;
use bevy_ecs::entity::Entity;
use bevy_ecs::lifecycle::RemovedComponents;
use bevy_ecs::message::MessageWriter;
use bevy_ecs::query::Changed;
use bevy_ecs::resource::Resource;
use bevy_ecs::schedule::IntoScheduleConfigs;
use bevy_ecs::system::{Query, Res, ResMut};
use bevy_ecs::world::{EntityRef, World};
use serde::Serialize;
use serde::de::DeserializeOwned;
use ui_flow::EncodeError;
use ui_flow_server::{Authenticator, ServerConfig, UnverifiedUserToken};

use crate::action::{Answered, ClientAction};
use crate::interest::{Interest, RefreshQueue, Views};
use crate::server::{self, Launch, ServerThread, SharedAuthenticator, Tick};
use crate::world::{ComponentValue, EntityId, WorldDelta, component_name};

/// Serves the app's world as one ui-flow resource, with client actions of
/// type `A` arriving as [`ClientAction<A>`] messages.
///
/// Build it with [`bind`](Self::bind) (the socket is bound there, so a
/// taken port is an error you get, not a panic), add it, then register
/// components with [`SyncApp::sync_component`]:
///
/// ```no_run
/// use bevy_app::App;
/// use bevy_ecs::prelude::*;
/// use serde::{Deserialize, Serialize};
/// use ui_flow_bevy::{SyncApp, UiFlowPlugin};
///
/// #[derive(Component, Serialize, Deserialize)]
/// struct Position { x: f32, y: f32 }
///
/// #[derive(Serialize, Deserialize)]
/// enum Command { Spawn { x: f32, y: f32 } }
///
/// # fn main() -> std::io::Result<()> {
/// let mut app = App::new();
/// app.add_plugins(UiFlowPlugin::<Command>::bind("127.0.0.1:9000")?.sync_every(3))
///     .sync_component::<Position>();
/// # Ok(()) }
/// ```
///
/// It is not a renderer or a network-replication layer for Bevy clients.
/// Every client of the resource sees every synced entity unless the plugin
/// is built with [`interest`](Self::interest).
pub struct UiFlowPlugin<A> {
    launch: Mutex<Option<Setup>>,
    _action: PhantomData<fn() -> A>,
}

struct Setup {
    listener: std::net::TcpListener,
    resource: String,
    sync_every: u32,
    authenticator: Arc<dyn Authenticator>,
    config: ServerConfig,
    interest: Option<InterestSetup>,
}

/// The views the server thread projects with, and what the app gets to
/// set interests in.
struct InterestSetup {
    views: Arc<dyn Views>,
    install: Box<dyn FnOnce(&mut App) + Send>,
}

impl<A> UiFlowPlugin<A> {
    /// Binds the listening socket (`127.0.0.1:0` picks a free port; the
    /// address is in [`SyncServer::addr`]). Defaults: resource `"world"`,
    /// a sync tick every frame, [`UnverifiedUserToken`] authentication
    /// (the token is the user id: for development only), the default
    /// [`ServerConfig`].
    pub fn bind(addr: impl ToSocketAddrs) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        Ok(UiFlowPlugin {
            launch: Mutex::new(Some(Setup {
                listener,
                resource: "world".to_owned(),
                sync_every: 1,
                authenticator: Arc::new(UnverifiedUserToken),
                config: ServerConfig::default(),
                interest: None,
            })),
            _action: PhantomData,
        })
    }

    fn with(self, f: impl FnOnce(&mut Setup)) -> Self {
        if let Some(setup) = self
            .launch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            f(setup);
        }
        self
    }

    /// The resource id clients connect to (`/realtime/{resource}`).
    pub fn resource(self, resource: impl Into<String>) -> Self {
        let resource = resource.into();
        self.with(|s| s.resource = resource)
    }

    /// Commits on every `frames`-th frame only (at least 1), coalescing
    /// the changes in between: with a 60 Hz schedule, `sync_every(3)` syncs
    /// at 20 Hz. Counted in frames, not time, so it follows the app's own
    /// clock (its runner) and a test stepping `app.update()` is exact.
    pub fn sync_every(self, frames: u32) -> Self {
        self.with(|s| s.sync_every = frames.max(1))
    }

    /// Who may connect, and as whom.
    pub fn authenticator(self, authenticator: impl Authenticator) -> Self {
        let authenticator: Arc<dyn Authenticator> = Arc::new(authenticator);
        self.with(|s| s.authenticator = authenticator)
    }

    /// The server's limits and timers.
    pub fn server_config(self, config: ServerConfig) -> Self {
        self.with(|s| s.config = config)
    }

    /// Interest management (see [`Interest`]): each user sees only the
    /// entities their interest sees. The app sets interests in the
    /// [`Interests<I>`](crate::Interests) resource; a user it has set none for gets
    /// `default`, or sees nothing when `default` is `None`. Without this
    /// call every user sees every synced entity.
    pub fn interest<I: Interest>(self, default: Option<I>) -> Self {
        let (resource, refresh, views) = crate::interest::interests(default);
        self.with(move |s| {
            s.interest = Some(InterestSetup {
                views,
                install: Box::new(move |app: &mut App| {
                    app.insert_resource(resource).insert_resource(refresh);
                }),
            });
        })
    }
}

impl<A> Plugin for UiFlowPlugin<A>
where
    A: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn build(&self, app: &mut App) {
        let Some(setup) = self
            .launch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            tracing::warn!("UiFlowPlugin added twice; the second is ignored");
            return;
        };
        let answered = Answered::default();
        let authenticator = setup.authenticator;
        let (views, install) = match setup.interest {
            Some(interest) => (Some(interest.views), Some(interest.install)),
            None => (None, None),
        };
        let launch = Launch {
            listener: setup.listener,
            resource: setup.resource.clone(),
            authenticator: Box::new(move || SharedAuthenticator(authenticator)),
            config: setup.config,
            views,
        };
        let (thread, incoming, addr) = match server::start::<A>(launch, answered.clone()) {
            Ok(started) => started,
            Err(e) => {
                // Only thread or runtime creation can fail here (the socket
                // is already bound): the app runs without a server.
                tracing::error!(error = %e, "the ui-flow server could not start");
                return;
            }
        };
        app.world_mut()
            .get_resource_or_init::<SyncTicks>()
            .sync_every = setup.sync_every;
        app.init_resource::<SyncRegistry>()
            .insert_resource(SyncServer {
                addr,
                resource: setup.resource,
                thread,
                coalesced: 0,
            })
            .init_resource::<SyncTicks>()
            .insert_resource(PendingAnswers(answered))
            .insert_resource(Incoming(Mutex::new(incoming)))
            .add_message::<ClientAction<A>>()
            .add_systems(PreUpdate, deliver_actions::<A>)
            .add_systems(Last, flush);
        if let Some(install) = install {
            install(app);
        }
    }
}

/// Registering components for sync.
pub trait SyncApp {
    /// Syncs component `T` to clients under [`component_name::<T>()`]:
    /// every entity's `T` is in the snapshot, and each sync tick carries
    /// the `T`s added, changed or removed since the last one.
    ///
    /// Registering a type twice does nothing the second time.
    fn sync_component<T: Component + Serialize>(&mut self) -> &mut Self;
}

impl SyncApp for App {
    fn sync_component<T: Component + Serialize>(&mut self) -> &mut Self {
        let name = component_name::<T>();
        let slot = {
            let mut registry = self.world_mut().get_resource_or_init::<SyncRegistry>();
            if registry.components.iter().any(|c| c.name == name) {
                return self;
            }
            registry.components.push(Registered {
                name,
                read: read_component::<T>,
            });
            registry.components.len() - 1
        };
        // The marking systems need their resource even when the plugin is
        // added later, or could not start its server.
        self.world_mut().get_resource_or_init::<SyncTicks>();
        self.add_systems(
            PostUpdate,
            (move |changed: Query<'_, '_, Entity, Changed<T>>,
                   mut removed: RemovedComponents<'_, '_, T>,
                   mut ticks: ResMut<'_, SyncTicks>| {
                let marked = &mut ticks.marked;
                marked.extend(changed.iter().map(|e| (slot, e)));
                marked.extend(removed.read().map(|e| (slot, e)));
            })
            .in_set(Mark),
        )
    }
}

/// The systems that mark changes (all of them run in `PostUpdate`); order
/// your own systems `.before(Mark)` there if they change synced components.
#[derive(bevy_ecs::schedule::SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mark;

/// The running server: its address and connection counts.
#[derive(Resource)]
pub struct SyncServer {
    addr: SocketAddr,
    resource: String,
    thread: ServerThread,
    coalesced: u64,
}

impl SyncServer {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The resource id clients connect to.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The WebSocket URL of the world, without a token.
    pub fn url(&self) -> String {
        format!("ws://{}/realtime/{}", self.addr, self.resource)
    }

    /// Open connections (every per-connection state the server holds is
    /// per open connection: this reaching 0 means none is left).
    pub fn connection_count(&self) -> usize {
        self.thread.counts.connections()
    }

    /// Sync ticks that found the server thread's queue full
    /// ([`TICK_QUEUE`](crate::TICK_QUEUE) ticks waiting) and were put off: their changes went
    /// with a later tick, in one commit. Nothing is dropped; a client sees
    /// fewer, larger deltas.
    pub fn coalesced_ticks(&self) -> u64 {
        self.coalesced
    }

    /// Resources with at least one connection (0 or 1).
    pub fn session_count(&self) -> usize {
        self.thread.counts.sessions()
    }
}

/// The registered components, in registration order.
#[derive(Resource, Default)]
struct SyncRegistry {
    components: Vec<Registered>,
}

struct Registered {
    name: String,
    read: fn(EntityRef<'_>) -> Option<Result<ComponentValue, EncodeError>>,
}

fn read_component<T: Component + Serialize>(
    entity: EntityRef<'_>,
) -> Option<Result<ComponentValue, EncodeError>> {
    entity.get::<T>().map(ComponentValue::encode)
}

/// Marks since the last tick, and what clients have been sent.
#[derive(Resource, Default)]
struct SyncTicks {
    sync_every: u32,
    frame: u64,
    /// `(registry slot, entity)` added, changed or removed since the last
    /// tick (slot first: a tick's entries come grouped by component, as
    /// they travel).
    marked: BTreeSet<(usize, Entity)>,
    /// The slots each entity has in the committed state.
    synced: HashMap<Entity, BTreeSet<usize>>,
    /// A due tick found the server thread's queue full: retry every frame.
    put_off: bool,
}

#[derive(Resource)]
struct PendingAnswers(Answered);

#[derive(Resource)]
struct Incoming<A>(Mutex<std_mpsc::Receiver<ClientAction<A>>>);

fn deliver_actions<A: Send + Sync + 'static>(
    incoming: Res<'_, Incoming<A>>,
    mut writer: MessageWriter<'_, ClientAction<A>>,
) {
    let receiver = incoming.0.lock().unwrap_or_else(PoisonError::into_inner);
    writer.write_batch(receiver.try_iter());
}

/// On a sync tick: builds the tick's delta from the marks and the world as
/// it is now, and hands it with the held answers to the server thread.
///
/// When the server thread's queue is full ([`TICK_QUEUE`](crate::TICK_QUEUE) ticks waiting),
/// the tick is put off: its marks and answers stay and go with the next
/// tick that finds room, one commit for both (counted in
/// [`SyncServer::coalesced_ticks`]). Nothing here waits.
fn flush(world: &mut World) {
    world.resource_scope(|world, mut ticks: bevy_ecs::world::Mut<'_, SyncTicks>| {
        ticks.frame += 1;
        let due = ticks
            .frame
            .is_multiple_of(u64::from(ticks.sync_every.max(1)));
        if !due && !ticks.put_off {
            return;
        }
        let Some(server) = world.get_resource::<SyncServer>() else {
            return;
        };
        let Ok(permit) = server.thread.ticks.clone().try_reserve_owned() else {
            // Full (or the server thread is gone): keep the marks. A quiet
            // tick has nothing to put off.
            let quiet = ticks.marked.is_empty()
                && world
                    .resource::<PendingAnswers>()
                    .0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_empty()
                && world.get_resource::<RefreshQueue>().is_none_or(|queue| {
                    queue
                        .0
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .is_empty()
                });
            if quiet {
                return;
            }
            ticks.put_off = true;
            if due {
                world.resource_mut::<SyncServer>().coalesced += 1;
            }
            return;
        };
        ticks.put_off = false;
        let ticks = &mut *ticks;
        let marked = mem::take(&mut ticks.marked);
        let registry = world.resource::<SyncRegistry>();
        let mut delta = WorldDelta::default();
        for (slot, entity) in marked {
            let id = EntityId(entity.to_bits());
            let Ok(entity_ref) = world.get_entity(entity) else {
                if ticks.synced.remove(&entity).is_some() {
                    delta.despawned.push(id);
                }
                continue;
            };
            let component = &registry.components[slot];
            match (component.read)(entity_ref) {
                Some(Ok(value)) => {
                    ticks.synced.entry(entity).or_default().insert(slot);
                    delta.set.push((id, component.name.clone(), value));
                }
                Some(Err(e)) => {
                    tracing::warn!(entity = %id, component = %component.name, error = %e,
                        "a component could not be encoded; it is not synced this tick");
                }
                None => {
                    let Some(slots) = ticks.synced.get_mut(&entity) else {
                        continue;
                    };
                    if slots.remove(&slot) {
                        delta.removed.push((id, component.name.clone()));
                    }
                    if slots.is_empty() {
                        ticks.synced.remove(&entity);
                    }
                }
            }
        }
        let answers = mem::take(
            &mut *world
                .resource::<PendingAnswers>()
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let refresh = world
            .get_resource::<RefreshQueue>()
            .map(RefreshQueue::take)
            .unwrap_or_default();
        if delta.is_empty() && answers.is_empty() && refresh.is_empty() {
            return;
        }
        let tick = Tick {
            delta: (!delta.is_empty()).then_some(delta),
            answers,
            refresh,
        };
        permit.send(tick);
    });
}
