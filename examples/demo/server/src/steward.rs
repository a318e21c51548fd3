//! The steward: what happens in a world when nobody acts.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use demo_world::{WorldDelta, WorldEvent};
use ui_flow_server::FlowServer;

use crate::room::MAX_ITEMS;
use crate::worlds::{Worlds, tell_world};

/// Tends every world each `tick`, for as long as the server lives.
pub async fn run(server: FlowServer<Worlds>, tick: Duration) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        tend(&server, Instant::now());
    }
}

/// One round: takes players off the grid whose user has had no connection
/// for [`leave_after`](crate::Settings::leave_after), drops a new item
/// when it is time and there is room, and forgets worlds nobody has been
/// connected to for [`forget_after`](crate::Settings::forget_after).
pub fn tend(server: &FlowServer<Worlds>, now: Instant) {
    let worlds = server.handler();
    let settings = &worlds.settings;
    let ids: Vec<String> = worlds.rooms().keys().cloned().collect();
    for id in ids {
        let session = server.session(&id);
        // Ask the hub before locking the rooms: actions lock rooms, then
        // the hub (to broadcast), so the steward must never hold the rooms
        // while it waits for the hub.
        let present: HashSet<String> = session.presence().into_iter().map(|p| p.user_id).collect();
        if worlds.forget_if_deserted(&id, !present.is_empty(), now) {
            continue;
        }
        let mut rooms = worlds.rooms();
        let Some(room) = rooms.get_mut(&id) else {
            continue;
        };
        let mut gone = Vec::new();
        for player in &room.world.players {
            if present.contains(&player.user) {
                room.absent.remove(&player.user);
                continue;
            }
            let since = *room.absent.entry(player.user.clone()).or_insert(now);
            if now.duration_since(since) >= settings.leave_after {
                gone.push((player.user.clone(), player.name.clone()));
            }
        }
        for (user, name) in gone {
            room.absent.remove(&user);
            room.commit(&session, vec![WorldDelta::Left { user }]);
            tell_world(&session, &WorldEvent::Left { name }, None);
        }
        let due = now.duration_since(room.last_spawn) >= settings.spawn_every;
        if due && room.world.items.len() < MAX_ITEMS {
            room.last_spawn = now;
            if let Some(item) = room.new_item() {
                room.commit(&session, vec![WorldDelta::Spawned { item }]);
                let event = WorldEvent::Spawned {
                    kind: item.kind,
                    at: item.at,
                };
                tell_world(&session, &event, None);
            }
        }
    }
}
