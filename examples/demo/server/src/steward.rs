//! The steward: what happens in a world when nobody acts.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use demo_world::{WorldDelta, WorldEvent};
use ui_flow_server::FlowServer;

use crate::room::MAX_ITEMS;
use crate::worlds::{Worlds, tell_world};

/// Tends every world each `tick`, for as long as the server lives.
/// `durable`: worlds are kept on disk, so closing one keeps it there.
pub async fn run(server: FlowServer<Worlds>, tick: Duration, durable: bool) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        tend(&server, Instant::now(), durable).await;
    }
}

/// One round, per open world: takes players off the grid whose user has had
/// no connection for [`leave_after`](crate::Settings::leave_after), drops a
/// new item when it is time and there is room, and closes the world when
/// nobody has been connected for [`forget_after`](crate::Settings::forget_after).
///
/// "Connected" is the server's presence list: on a cluster node
/// ([`Demo::on_nats`](crate::Demo::on_nats)) the merged one, so a player
/// whose user is connected to another node stays. Every node tends the
/// worlds it has open, so on a cluster each of them drops items on its own
/// schedule (items come faster with more nodes serving a world; at most
/// [`MAX_ITEMS`] lie about all the same).
pub async fn tend(server: &FlowServer<Worlds>, now: Instant, durable: bool) {
    let worlds = server.handler();
    let settings = &worlds.settings;
    let ids: Vec<String> = worlds.rooms().keys().cloned().collect();
    for id in ids {
        let session = server.session(&id);
        let present: HashSet<String> = session.presence().into_iter().map(|p| p.user_id).collect();
        let idle_since = worlds.with_room(&id, |room| {
            if present.is_empty() {
                *room.empty_since.get_or_insert(now)
            } else {
                room.empty_since = None;
                now
            }
        });
        if now.duration_since(idle_since) >= settings.forget_after
            && server.close_resource(&id, !durable).await.unwrap_or(false)
        {
            worlds.drop_room(&id);
            continue;
        }
        let mut gone: Vec<(String, String)> = Vec::new();
        let mut spawned = None;
        // `transact` may decide again when another node committed first:
        // each run starts afresh, and what only a commit may do (forget
        // that a player was absent) waits for the commit.
        let committed = session
            .transact(|world| {
                gone.clear();
                spawned = None;
                let mut changes = Vec::new();
                worlds.with_room(&id, |room| {
                    for player in &world.players {
                        if present.contains(&player.user) {
                            room.absent.remove(&player.user);
                            continue;
                        }
                        let since = *room.absent.entry(player.user.clone()).or_insert(now);
                        if now.duration_since(since) >= settings.leave_after {
                            gone.push((player.user.clone(), player.name.clone()));
                            changes.push(WorldDelta::Left {
                                user: player.user.clone(),
                            });
                        }
                    }
                    let due = now.duration_since(room.last_spawn) >= settings.spawn_every;
                    if due && world.items.len() < MAX_ITEMS {
                        room.last_spawn = now;
                        if let Some(item) = room.new_item(world) {
                            spawned = Some(item);
                            changes.push(WorldDelta::Spawned { item });
                        }
                    }
                });
                Ok::<_, std::convert::Infallible>(changes)
            })
            .await;
        if committed.is_err() {
            continue;
        }
        worlds.with_room(&id, |room| {
            for (user, _) in &gone {
                room.absent.remove(user);
            }
        });
        for (_, name) in gone {
            tell_world(&session, &WorldEvent::Left { name }, None);
        }
        if let Some(item) = spawned {
            let event = WorldEvent::Spawned {
                kind: item.kind,
                at: item.at,
            };
            crate::worlds::tell_nearby(worlds, &session, item.at, &event, None);
        }
    }
}
