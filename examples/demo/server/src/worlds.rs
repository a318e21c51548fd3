//! [`Worlds`]: the demo's [`FlowHandler`], one world per resource.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use demo_world::{
    DIG_STEPS, DigResult, Hex, Refusal, World, WorldAction, WorldDelta, WorldEvent, WorldModel,
    domain, in_sight,
};
use ui_flow::OpId;
use ui_flow_server::{
    ActionContext, ActionOutcome, BoxError, CommitError, FlowHandler, Identity, Projected,
    SessionHandle, TransactError, ViewKey,
};

use crate::room::Room;

/// What a dig says while it runs, one message per step.
const DIG_MESSAGES: [&str; DIG_STEPS as usize] = [
    "Breaking ground",
    "Shovelling",
    "Sifting the soil",
    "Looking closer",
];

/// How many worlds one server keeps open. A connection to (or an action on)
/// a new world beyond this gets no world (`sync_failed`, or `ActionErr
/// not_committed`), so made-up resource ids cannot fill the memory. A world
/// nobody has been connected to for [`Settings::forget_after`] is closed.
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
    /// How long a world with no connection stays open before the steward
    /// closes it (in memory it is then gone; on disk it is kept and
    /// reopened by the next visitor).
    pub forget_after: Duration,
    /// Seeds item placement and dig luck.
    pub seed: u64,
    /// Fog of war: each connection sees items and dug hexes only within
    /// [`SIGHT`](demo_world::SIGHT) of its player (players are seen by all).
    pub fog: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dig_step: Duration::from_millis(700),
            find_chance: 70,
            spawn_every: Duration::from_secs(8),
            leave_after: Duration::from_secs(10),
            forget_after: Duration::from_secs(600),
            seed: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64),
            fog: true,
        }
    }
}

/// The demo's handler. The worlds themselves live in the server's resource
/// logs (in memory, or on disk with a durable store); `Worlds` keeps one
/// [`Room`] of passing facts per world and decides what actions do.
#[derive(Debug)]
pub struct Worlds {
    rooms: Mutex<HashMap<String, Room>>,
    /// Where each (world, user)'s player stands: their view (fog of war,
    /// see `demo_world::SIGHT`).
    standing: Mutex<HashMap<(String, String), Hex>>,
    pub(crate) settings: Settings,
}

impl Worlds {
    /// No rooms yet.
    pub fn new(settings: Settings) -> Self {
        Worlds {
            rooms: Mutex::new(HashMap::new()),
            standing: Mutex::new(HashMap::new()),
            settings,
        }
    }

    pub(crate) fn rooms(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the room of `resource`, creating it when new.
    pub(crate) fn with_room<R>(&self, resource: &str, f: impl FnOnce(&mut Room) -> R) -> R {
        let mut rooms = self.rooms();
        let seed = self.settings.seed ^ rooms.len() as u64;
        let room = rooms
            .entry(resource.to_owned())
            .or_insert_with(|| Room::new(Instant::now(), seed));
        f(room)
    }

    /// Records where a user's player stands and moves their connections
    /// to the view from there.
    fn stand(&self, session: &SessionHandle<Self>, user: &str, at: Hex) {
        let key = (session.resource_id().to_owned(), user.to_owned());
        let moved = self
            .standing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, at)
            != Some(at);
        if moved && self.settings.fog {
            session.refresh_views_of(user);
        }
    }

    /// How many worlds this server has open.
    pub fn world_count(&self) -> usize {
        self.rooms().len()
    }

    /// Forgets the room of a world the server no longer serves.
    pub(crate) fn drop_room(&self, resource: &str) {
        self.rooms().remove(resource);
    }

    async fn enter(&self, ctx: &ActionContext<Self>, name: &str) -> ActionOutcome {
        let user = &ctx.user().user_id;
        let mut entered = None;
        let mut standing = None;
        let committed = ctx
            .transact(|world| {
                let is_new = world.player(user).is_none();
                let change = world.check_enter(user, name)?;
                if let (true, Some(WorldDelta::Entered { player })) = (is_new, &change) {
                    entered = Some(player.name.clone());
                }
                standing = match &change {
                    Some(WorldDelta::Entered { player }) => Some(player.at),
                    _ => world.player(user).map(|p| p.at),
                };
                Ok(change.into_iter().collect())
            })
            .await;
        if let Err(e) = committed {
            return failed(e);
        }
        if let Some(at) = standing {
            self.stand(ctx.session(), user, at);
        }
        self.with_room(ctx.resource_id(), |room| room.absent.remove(user));
        if let Some(name) = entered {
            tell_world(
                ctx.session(),
                &WorldEvent::Entered { name },
                Some(ctx.op_id()),
            );
        }
        ActionOutcome::ok()
    }

    async fn step(&self, ctx: &ActionContext<Self>, to: Hex) -> ActionOutcome {
        let user = &ctx.user().user_id;
        let mut found = None;
        let committed = ctx
            .transact(|world| {
                let changes = world.check_move(user, to)?;
                if let (Some(item), Some(me)) = (world.item_at(to), world.player(user)) {
                    found = Some((*item, me.name.clone()));
                }
                Ok(changes)
            })
            .await;
        if let Err(e) = committed {
            return failed(e);
        }
        self.stand(ctx.session(), user, to);
        if let Some((item, name)) = found {
            let took = WorldEvent::Took {
                name,
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
    }

    async fn dig(&self, ctx: &ActionContext<Self>) -> ActionOutcome {
        let user = &ctx.user().user_id;
        let at = match ctx.session().read(|world, _| world.check_dig(user)).await {
            Ok(Ok(at)) => at,
            Ok(Err(refusal)) => return refused(&refusal),
            Err(e) => return failed(TransactError::Commit(e)),
        };
        let started = self.with_room(ctx.resource_id(), |room| room.digging.insert(user.clone()));
        if !started {
            return refused(&Refusal::Busy);
        }
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
        let mut result = None;
        let committed = ctx
            .transact(|world| {
                // Someone else may have finished digging the same hex first.
                if world.is_dug(at) {
                    return Err(Refusal::AlreadyDug { at });
                }
                let found = self.with_room(ctx.resource_id(), |room| room.dig_find(chance));
                let points = found.map_or(0, |kind| kind.points());
                let name = world
                    .player(user)
                    .map_or_else(|| user.clone(), |p| p.name.clone());
                result = Some((found, points, name));
                Ok(vec![WorldDelta::Dug {
                    user: user.clone(),
                    at,
                    points,
                }])
            })
            .await;
        if let Err(e) = committed {
            return failed(e);
        }
        let Some((found, points, name)) = result else {
            return ActionOutcome::ok();
        };
        tell_nearby(
            self,
            ctx.session(),
            at,
            &WorldEvent::Dug { name, at },
            Some(ctx.op_id()),
        );
        if let Some(kind) = found {
            let loot = WorldEvent::Loot { kind, points, at };
            reward(ctx.session(), user, &loot, ctx.op_id());
        }
        ActionOutcome::ok_with(&DigResult { found, points }).unwrap_or_else(|_| ActionOutcome::ok())
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
    type Model = WorldModel;

    /// Every path to a world (a join, a resume, an action sent with the
    /// upgrade, the steward) opens its log through here, so the cap holds
    /// on all of them.
    async fn initial_state(&self, resource_id: &str) -> Result<World, BoxError> {
        let mut rooms = self.rooms();
        if rooms.len() >= MAX_ROOMS && !rooms.contains_key(resource_id) {
            return Err(format!("this server keeps at most {MAX_ROOMS} worlds").into());
        }
        let seed = self.settings.seed ^ rooms.len() as u64;
        rooms
            .entry(resource_id.to_owned())
            .or_insert_with(|| Room::new(Instant::now(), seed));
        Ok(World::new())
    }

    async fn handle_action(&self, ctx: &ActionContext<Self>, action: WorldAction) -> ActionOutcome {
        match action {
            WorldAction::Enter { name } => self.enter(ctx, &name).await,
            WorldAction::Move { to } => self.step(ctx, to).await,
            WorldAction::Dig => self.dig(ctx).await,
        }
    }

    /// Fog of war: a connection's view is where its user's player stands
    /// (`q,r`), or `away` before the player enters. Players on one hex
    /// share a view.
    fn view(&self, user: &Identity, resource_id: &str) -> ViewKey {
        if !self.settings.fog {
            return ViewKey::ALL;
        }
        let key = (resource_id.to_owned(), user.user_id.clone());
        let standing = self.standing.lock().unwrap_or_else(PoisonError::into_inner);
        match standing.get(&key) {
            Some(at) => ViewKey::new(format!("{},{}", at.q, at.r)),
            None => ViewKey::new("away"),
        }
    }

    fn project_state(&self, view: &ViewKey, world: &World) -> World {
        world.seen_from(standing_of(view))
    }

    fn project_delta(
        &self,
        view: &ViewKey,
        before: &World,
        _after: &World,
        change: &WorldDelta,
    ) -> Projected<WorldDelta> {
        match before.change_seen_from(standing_of(view), change) {
            None => Projected::Nothing,
            Some(seen) if seen == *change => Projected::Same,
            Some(seen) => Projected::Deltas(vec![seen]),
        }
    }
}

/// The hex a view stands on (`None` for `away`, or any other name).
fn standing_of(view: &ViewKey) -> Option<Hex> {
    let (q, r) = view.name()?.split_once(',')?;
    Some(Hex::new(q.parse().ok()?, r.parse().ok()?))
}

/// The `ActionErr` code of an action on a new world beyond [`MAX_ROOMS`].
pub const TOO_MANY_WORLDS: &str = "too_many_worlds";

/// The answer to an action that did not commit. The world's log opens only
/// through [`Worlds::initial_state`], which refuses only beyond the cap.
fn failed(error: TransactError<Refusal>) -> ActionOutcome {
    match error {
        TransactError::Refused(refusal) => refused(&refusal),
        TransactError::Commit(CommitError::Open { .. }) => ActionOutcome::err(
            TOO_MANY_WORLDS,
            format!("this server keeps at most {MAX_ROOMS} worlds"),
        ),
        TransactError::Commit(e) => ActionOutcome::err("not_committed", e.to_string()),
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

/// A `world` notification about the hex `at` (a dig, an item appearing):
/// with fog of war, only for the players who see `at` (a notification must
/// not show what the state hides); without, for everyone.
pub(crate) fn tell_nearby(
    worlds: &Worlds,
    session: &SessionHandle<Worlds>,
    at: Hex,
    event: &WorldEvent,
    cause: Option<OpId>,
) {
    if !worlds.settings.fog {
        return tell_world(session, event, cause);
    }
    let resource = session.resource_id();
    let near: Vec<String> = worlds
        .standing
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|((world, _), from)| world == resource && in_sight(Some(**from), at))
        .map(|((_, user), _)| user.clone())
        .collect();
    for user in near {
        let _ = session.notify_user(&user, domain::WORLD, event, cause);
    }
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
            worlds.initial_state(&format!("w{i}")).await.expect("room");
        }
        assert!(worlds.initial_state("one-too-many").await.is_err());
        assert_eq!(
            worlds.initial_state("w7").await.expect("existing room"),
            World::new()
        );
        worlds.drop_room("w7");
        assert!(
            worlds.initial_state("one-too-many").await.is_ok(),
            "a closed world frees its place"
        );
    }
}
