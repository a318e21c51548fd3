//! [`Worlds`]: the demo's [`FlowHandler`], one world per resource, in memory.

use std::collections::HashMap;
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
/// this gets no snapshot (`sync_failed`), so made-up resource ids cannot
/// fill the memory.
pub const MAX_ROOMS: usize = 1000;

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
            seed: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64),
        }
    }
}

/// One [`Room`] per resource id, created by its first snapshot or action.
#[derive(Debug)]
pub struct Worlds {
    rooms: Mutex<HashMap<String, Room>>,
    pub(crate) settings: Settings,
}

impl Worlds {
    /// No rooms yet.
    pub fn new(settings: Settings) -> Self {
        Worlds {
            rooms: Mutex::new(HashMap::new()),
            settings,
        }
    }

    pub(crate) fn rooms(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the room of `resource`, creating it when new. While `f`
    /// runs the rooms are locked: broadcasts made inside leave in seq order.
    fn with_room<R>(&self, resource: &str, f: impl FnOnce(&mut Room) -> R) -> R {
        let mut rooms = self.rooms();
        let seed = self.settings.seed ^ rooms.len() as u64;
        let room = rooms
            .entry(resource.to_owned())
            .or_insert_with(|| Room::new(Instant::now(), seed));
        f(room)
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
    pub fn commit(&self, session: &SessionHandle<Worlds>, changes: Vec<WorldDelta>) {
        self.with_room(session.resource_id(), |room| room.commit(session, changes));
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
            Ok(at) => at,
            Err(refusal) => return refused(&refusal),
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
        {
            let rooms = self.rooms();
            if rooms.len() >= MAX_ROOMS && !rooms.contains_key(resource_id) {
                return Err(format!("this server keeps at most {MAX_ROOMS} worlds").into());
            }
        }
        Ok(self.with_room(resource_id, |room| (room.world.clone(), room.seq)))
    }

    async fn deltas_since(
        &self,
        resource_id: &str,
        seq: u64,
    ) -> Result<Vec<(WorldDelta, u64)>, BoxError> {
        Ok(self.with_room(resource_id, |room| room.changes_since(seq)))
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
