//! [`Worlds`]: the demo's [`FlowHandler`], one world per resource, in memory.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use demo_world::{
    DIG_STEPS, DigResult, Hex, Refusal, World, WorldAction, WorldDelta, WorldEvent, domain,
};
use ui_flow::OpId;
use ui_flow_server::{ActionContext, ActionOutcome, BoxError, FlowHandler, SessionHandle};

use crate::room::Room;

/// What a dig says while it runs, one message per step.
const DIG_MESSAGES: [&str; DIG_STEPS as usize] = [
    "Breaking ground",
    "Shovelling",
    "Sifting the soil",
    "Looking closer",
];

/// How many worlds one server keeps. A connection to a new world beyond
/// this gets no snapshot (`sync_failed`) and an action there gets
/// `ActionErr` [`TOO_MANY_WORLDS`], so made-up resource ids cannot fill the
/// memory. Deserted worlds are forgotten after
/// [`forget_after`](Settings::forget_after), which makes room again.
pub const MAX_ROOMS: usize = 1000;

/// The `ActionErr` code of an action in a world that does not exist yet
/// while the server already keeps [`MAX_ROOMS`] worlds.
pub const TOO_MANY_WORLDS: &str = "too_many_worlds";

/// A new world was asked for while [`MAX_ROOMS`] exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyWorlds;

impl fmt::Display for TooManyWorlds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "this server keeps at most {MAX_ROOMS} worlds")
    }
}

impl std::error::Error for TooManyWorlds {}

/// The pace and luck of the world. The defaults suit people; tests make
/// digs quick and lucky.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long each of a dig's [`DIG_STEPS`] takes.
    pub dig_step: Duration,
    /// The odds, in percent, that a dig finds something.
    pub find_chance: u8,
    /// How often the steward drops a new item while fewer than
    /// [`MAX_ITEMS`](crate::room::MAX_ITEMS) lie about.
    pub spawn_every: Duration,
    /// How long a player stays on the grid after their user's last
    /// connection closed (a reload keeps its place).
    pub leave_after: Duration,
    /// How long a world nobody is connected to is kept before it is
    /// forgotten (its players, items and history with it); 5 minutes by
    /// default. The steward checks every tick.
    pub forget_after: Duration,
    /// Seeds item placement and dig luck.
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dig_step: Duration::from_millis(700),
            find_chance: 70,
            spawn_every: Duration::from_secs(8),
            leave_after: Duration::from_secs(10),
            forget_after: Duration::from_secs(300),
            seed: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64),
        }
    }
}

/// One [`Room`] per resource id, created by its first snapshot or action
/// (at most [`MAX_ROOMS`]), forgotten some time after its last connection
/// closed.
#[derive(Debug)]
pub struct Worlds {
    rooms: Mutex<HashMap<String, Room>>,
    /// The seq a new room starts at: above every seq a forgotten room
    /// reached, so a client still holding a forgotten world's seq can never
    /// be served deltas of its successor (it gets a snapshot).
    first_seq: AtomicU64,
    pub(crate) settings: Settings,
}

impl Worlds {
    /// No rooms yet.
    pub fn new(settings: Settings) -> Self {
        Worlds {
            rooms: Mutex::new(HashMap::new()),
            first_seq: AtomicU64::new(0),
            settings,
        }
    }

    pub(crate) fn rooms(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many worlds the server keeps now.
    pub fn count(&self) -> usize {
        self.rooms().len()
    }

    /// Runs `f` on the room of `resource`, creating it when new unless
    /// [`MAX_ROOMS`] exist. Every path that may create a room (snapshot,
    /// action, commit) goes through here, so none bypasses the cap. While
    /// `f` runs the rooms are locked: broadcasts made inside leave in seq
    /// order.
    fn with_room<R>(
        &self,
        resource: &str,
        f: impl FnOnce(&mut Room) -> R,
    ) -> Result<R, TooManyWorlds> {
        let mut rooms = self.rooms();
        if !rooms.contains_key(resource) && rooms.len() >= MAX_ROOMS {
            return Err(TooManyWorlds);
        }
        let seed = self.settings.seed ^ rooms.len() as u64;
        let first_seq = self.first_seq.load(Ordering::Relaxed);
        let room = rooms
            .entry(resource.to_owned())
            .or_insert_with(|| Room::new(Instant::now(), seed, first_seq));
        Ok(f(room))
    }

    /// Forgets the world of `resource` once nobody has been connected to
    /// it for [`forget_after`](Settings::forget_after) and no dig runs
    /// there. `connected` says whether anyone is connected now; the
    /// steward asks every tick. Returns whether the world was forgotten.
    pub fn forget_if_deserted(&self, resource: &str, connected: bool, now: Instant) -> bool {
        let mut rooms = self.rooms();
        let Some(room) = rooms.get_mut(resource) else {
            return false;
        };
        if connected || !room.digging.is_empty() {
            room.deserted_since = None;
            return false;
        }
        let since = *room.deserted_since.get_or_insert(now);
        if now.duration_since(since) < self.settings.forget_after {
            return false;
        }
        if let Some(room) = rooms.remove(resource) {
            // Under the rooms lock, so no room is created in between.
            self.first_seq.fetch_max(room.seq + 1, Ordering::Relaxed);
        }
        true
    }

    /// A copy of the world of `resource` and its seq, if it exists.
    pub fn world(&self, resource: &str) -> Option<(World, u64)> {
        self.rooms()
            .get(resource)
            .map(|room| (room.world.clone(), room.seq))
    }

    /// Applies and broadcasts changes made outside any action, as the
    /// steward makes them (for tools and tests). The changes are not
    /// checked against the rules.
    pub fn commit(
        &self,
        session: &SessionHandle<Worlds>,
        changes: Vec<WorldDelta>,
    ) -> Result<(), TooManyWorlds> {
        self.with_room(session.resource_id(), |room| room.commit(session, changes))
    }

    fn enter(&self, ctx: &ActionContext<Self>, name: &str) -> ActionOutcome {
        let user = &ctx.user().user_id;
        self.with_room(ctx.resource_id(), |room| {
            let is_new = room.world.player(user).is_none();
            let change = match room.world.check_enter(user, name) {
                Ok(Some(change)) => change,
                Ok(None) => return ActionOutcome::ok(),
                Err(refusal) => return refused(&refusal),
            };
            room.absent.remove(user);
            room.commit(ctx.session(), vec![change]);
            if is_new && let Some(me) = room.world.player(user) {
                let event = WorldEvent::Entered {
                    name: me.name.clone(),
                };
                tell_world(ctx.session(), &event, Some(ctx.op_id()));
            }
            ActionOutcome::ok()
        })
        .unwrap_or_else(|full| too_many(&full))
    }

    fn step(&self, ctx: &ActionContext<Self>, to: Hex) -> ActionOutcome {
        let user = &ctx.user().user_id;
        self.with_room(ctx.resource_id(), |room| {
            let changes = match room.world.check_move(user, to) {
                Ok(changes) => changes,
                Err(refusal) => return refused(&refusal),
            };
            let found = room.world.item_at(to).copied();
            room.commit(ctx.session(), changes);
            if let (Some(item), Some(me)) = (found, room.world.player(user)) {
                let took = WorldEvent::Took {
                    name: me.name.clone(),
                    kind: item.kind,
                };
                tell_world(ctx.session(), &took, Some(ctx.op_id()));
                let loot = WorldEvent::Loot {
                    kind: item.kind,
                    points: item.kind.points(),
                    at: to,
                };
                reward(ctx.session(), user, &loot, ctx.op_id());
            }
            ActionOutcome::ok()
        })
        .unwrap_or_else(|full| too_many(&full))
    }

    async fn dig(&self, ctx: &ActionContext<Self>) -> ActionOutcome {
        let user = &ctx.user().user_id;
        let started = self.with_room(ctx.resource_id(), |room| {
            if room.digging.contains(user) {
                return Err(Refusal::Busy);
            }
            let at = room.world.check_dig(user)?;
            room.digging.insert(user.clone());
            Ok(at)
        });
        let at = match started {
            Ok(Ok(at)) => at,
            Ok(Err(refusal)) => return refused(&refusal),
            Err(full) => return too_many(&full),
        };
        let _digging = Digging {
            worlds: self,
            resource: ctx.resource_id(),
            user,
        };
        for (step, message) in (0u32..).zip(DIG_MESSAGES) {
            let percent = u8::try_from(step * 100 / u32::from(DIG_STEPS)).ok();
            ctx.progress(percent, Some(message));
            tokio::time::sleep(self.settings.dig_step).await;
        }
        let chance = self.settings.find_chance;
        self.with_room(ctx.resource_id(), |room| {
            room.digging.remove(user);
            // Someone else may have finished digging the same hex first.
            if room.world.is_dug(at) {
                return refused(&Refusal::AlreadyDug { at });
            }
            let found = room.dig_find(chance);
            let points = found.map_or(0, |kind| kind.points());
            let change = WorldDelta::Dug {
                user: user.clone(),
                at,
                points,
            };
            room.commit(ctx.session(), vec![change]);
            let name = room
                .world
                .player(user)
                .map_or_else(|| user.clone(), |p| p.name.clone());
            tell_world(
                ctx.session(),
                &WorldEvent::Dug { name, at },
                Some(ctx.op_id()),
            );
            if let Some(kind) = found {
                let loot = WorldEvent::Loot { kind, points, at };
                reward(ctx.session(), user, &loot, ctx.op_id());
            }
            ActionOutcome::ok_with(&DigResult { found, points })
                .unwrap_or_else(|_| ActionOutcome::ok())
        })
        // A running dig keeps its world (see `forget_if_deserted`).
        .unwrap_or_else(|full| too_many(&full))
    }
}

/// Marks the end of a dig however it ends (even a panic), so the user is
/// never left `busy`.
struct Digging<'a> {
    worlds: &'a Worlds,
    resource: &'a str,
    user: &'a str,
}

impl Drop for Digging<'_> {
    fn drop(&mut self) {
        if let Some(room) = self.worlds.rooms().get_mut(self.resource) {
            room.digging.remove(self.user);
        }
    }
}

#[async_trait]
impl FlowHandler for Worlds {
    type State = World;
    type Delta = WorldDelta;
    type Event = WorldEvent;
    type Action = WorldAction;

    async fn snapshot(&self, resource_id: &str) -> Result<(World, u64), BoxError> {
        Ok(self.with_room(resource_id, |room| (room.world.clone(), room.seq))?)
    }

    /// Never creates a world: an unknown one has no changes to give, and
    /// the client gets a snapshot instead.
    async fn deltas_since(
        &self,
        resource_id: &str,
        seq: u64,
    ) -> Result<Vec<(WorldDelta, u64)>, BoxError> {
        Ok(self
            .rooms()
            .get(resource_id)
            .map(|room| room.changes_since(seq))
            .unwrap_or_default())
    }

    async fn handle_action(&self, ctx: &ActionContext<Self>, action: WorldAction) -> ActionOutcome {
        match action {
            WorldAction::Enter { name } => self.enter(ctx, &name),
            WorldAction::Move { to } => self.step(ctx, to),
            WorldAction::Dig => self.dig(ctx).await,
        }
    }
}

fn refused(refusal: &Refusal) -> ActionOutcome {
    ActionOutcome::err(refusal.code(), refusal.to_string())
}

fn too_many(full: &TooManyWorlds) -> ActionOutcome {
    ActionOutcome::err(TOO_MANY_WORLDS, full.to_string())
}

/// A `world` notification to every subscriber. Only encoding can fail, and
/// these types always encode.
pub(crate) fn tell_world(session: &SessionHandle<Worlds>, event: &WorldEvent, cause: Option<OpId>) {
    let _ = session.broadcast_notify(domain::WORLD, event, cause);
}

/// A `rewards` notification for `user` alone.
fn reward(session: &SessionHandle<Worlds>, user: &str, event: &WorldEvent, cause: OpId) {
    let _ = session.notify_user(user, domain::REWARDS, event, Some(cause));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn new_worlds_beyond_the_cap_are_refused_and_old_ones_still_served() {
        let worlds = Worlds::new(Settings::default());
        for i in 0..MAX_ROOMS {
            worlds.snapshot(&format!("w{i}")).await.expect("room");
        }
        assert!(worlds.snapshot("one-too-many").await.is_err());
        let (world, seq) = worlds.snapshot("w7").await.expect("existing room");
        assert_eq!((world, seq), (World::new(), 0));
    }
}
