//! The demo server over real WebSockets on 127.0.0.1: its actions, their
//! feedback, its notifications and its catch-up, as a client in another
//! language would see them (typed frames through ui-flow's codec).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use demo_server::{Demo, MAX_ROOMS, Settings, Worlds, steward};
use demo_world::{
    DigResult, Hex, ItemKind, SIGHT, World, WorldAction, WorldDelta, WorldEvent, domain,
};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use ui_flow::codec::Decoded;
use ui_flow::{ClientMessage, FlowState, OpId, ServerMessage};
use ui_flow_server::{FlowHandler, FlowServer};

type Msg = ServerMessage<World, WorldDelta, WorldEvent>;

/// A safety net so a broken test fails instead of hanging; never an
/// assertion about speed.
const STUCK: Duration = Duration::from_secs(20);

fn quick() -> Settings {
    Settings {
        dig_step: Duration::from_millis(10),
        find_chance: 100,
        spawn_every: Duration::from_secs(3600),
        leave_after: Duration::from_secs(10),
        forget_after: Duration::from_secs(3600),
        seed: 7,
        fog: true,
    }
}

async fn start(settings: Settings) -> (FlowServer<demo_server::Worlds>, SocketAddr) {
    let demo = Demo::new("/nonexistent", settings);
    let server = demo.server().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(demo.serve(listener, std::future::pending()));
    (server, addr)
}

/// One user's connection, with the world as the frames it received built it.
struct Player {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    world: World,
    seq: u64,
    epoch: Option<u32>,
}

impl Player {
    /// Connects, reads up to the snapshot, subscribes to both domains and
    /// enters the world.
    async fn join(addr: SocketAddr, user: &str) -> Player {
        let url = format!("ws://{addr}/realtime/meadow?token={user}");
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        let mut me = Player {
            ws,
            world: World::default(),
            seq: 0,
            epoch: None,
        };
        me.until(|m| matches!(m, Msg::Snapshot { .. }).then_some(()))
            .await;
        me.send(ClientMessage::Subscribe {
            domains: domain::ALL.map(String::from).to_vec(),
        })
        .await;
        let op = me
            .act(WorldAction::Enter {
                name: user.to_uppercase(),
            })
            .await;
        me.outcome(op).await.expect("entered");
        me
    }

    async fn send(&mut self, msg: ClientMessage<WorldAction>) {
        let frame = msg.encode().expect("encode");
        self.ws
            .send(Message::Binary(frame.into()))
            .await
            .expect("send");
    }

    async fn act(&mut self, action: WorldAction) -> OpId {
        let op_id = OpId::new();
        self.send(ClientMessage::Action { op_id, action }).await;
        op_id
    }

    /// The next message, with its state changes applied to `self.world`.
    async fn next(&mut self) -> Msg {
        loop {
            let frame = tokio::time::timeout(STUCK, self.ws.next())
                .await
                .expect("a frame in time")
                .expect("socket open")
                .expect("socket ok");
            let Message::Binary(bytes) = frame else {
                continue;
            };
            let Decoded::Message(msg) = Msg::decode(&bytes).expect("decodes") else {
                continue;
            };
            match &msg {
                Msg::Snapshot {
                    state, seq, epoch, ..
                } => {
                    (self.world, self.seq, self.epoch) = (state.clone(), *seq, *epoch);
                }
                // Fog of war: a view skips the seqs it does not see, and
                // says which seq its change follows.
                Msg::Delta {
                    delta, seq, prev, ..
                } => {
                    let from = prev.unwrap_or(seq - 1);
                    assert!(from <= self.seq && self.seq < *seq, "no gap, in order");
                    self.world.apply_delta(delta.clone());
                    self.seq = *seq;
                }
                Msg::Deltas {
                    deltas,
                    seq,
                    prev: Some(from),
                    ..
                } if *seq > self.seq => {
                    assert!(*from <= self.seq, "no gap");
                    for delta in deltas {
                        self.world.apply_delta(delta.clone());
                    }
                    self.seq = *seq;
                }
                Msg::Deltas { prev: Some(_), .. } => {}
                Msg::Deltas { deltas, seq, .. } => {
                    let first = seq - deltas.len() as u64 + 1;
                    for (delta, s) in deltas.iter().zip(first..) {
                        if s > self.seq {
                            assert_eq!(s, self.seq + 1, "no gap");
                            self.world.apply_delta(delta.clone());
                            self.seq = s;
                        }
                    }
                }
                _ => {}
            }
            return msg;
        }
    }

    /// Reads until `pick` returns something, and returns it.
    async fn until<T>(&mut self, mut pick: impl FnMut(&Msg) -> Option<T>) -> T {
        loop {
            let msg = self.next().await;
            if let Some(found) = pick(&msg) {
                return found;
            }
        }
    }

    /// The outcome of `op`: its result bytes, or its error code.
    async fn outcome(&mut self, op: OpId) -> Result<Option<ui_flow::RawValue>, String> {
        self.until(|m| match m {
            Msg::ActionOk { op_id, result } if *op_id == op => Some(Ok(result.clone())),
            Msg::ActionErr { op_id, code, .. } if *op_id == op => {
                Some(Err(code.clone().unwrap_or_default()))
            }
            _ => None,
        })
        .await
    }

    /// Reads everything the server queued for this connection so far: a
    /// ping is answered after whatever was queued before it.
    async fn drain(&mut self) -> Vec<Msg> {
        self.send(ClientMessage::Ping {
            ts: 42,
            presence: None,
        })
        .await;
        let mut seen = Vec::new();
        loop {
            let msg = self.next().await;
            if matches!(msg, Msg::Pong { client_ts: 42, .. }) {
                return seen;
            }
            seen.push(msg);
        }
    }

    fn at(&self, user: &str) -> Hex {
        self.world.player(user).expect("player in world").at
    }
}

/// A neighbour of `user`'s hex that `check_move` allows.
fn free_step(world: &World, user: &str) -> Hex {
    let at = world.player(user).expect("in world").at;
    at.neighbours()
        .into_iter()
        .find(|h| world.check_move(user, *h).is_ok() && world.item_at(*h).is_none())
        .expect("a free neighbour")
}

#[tokio::test]
async fn moves_reach_everyone_and_illegal_moves_are_refused() {
    let (_server, addr) = start(quick()).await;
    let mut ann = Player::join(addr, "ann").await;
    let mut bob = Player::join(addr, "bob").await;
    ann.drain().await;

    let to = free_step(&ann.world, "ann");
    let op = ann.act(WorldAction::Move { to }).await;
    assert_eq!(ann.outcome(op).await, Ok(None));
    let seen_by_bob = bob
        .until(|m| match m {
            Msg::Delta {
                delta: WorldDelta::Moved { user, to },
                ..
            } if user == "ann" => Some(*to),
            _ => None,
        })
        .await;
    assert_eq!(seen_by_bob, to);
    assert_eq!(bob.at("ann"), to);

    let wall = *ann.world.walls.first().expect("walls");
    let cases = [
        (wall, "wall"),
        (bob.at("bob"), "too_far"),
        (Hex::new(40, 0), "off_grid"),
        (ann.at("ann"), "already_there"),
    ];
    for (target, code) in cases {
        let op = ann.act(WorldAction::Move { to: target }).await;
        assert_eq!(ann.outcome(op).await, Err(code.to_owned()), "{target}");
    }
    // Refusals change nothing: bob saw no delta, and both agree.
    assert!(
        bob.drain()
            .await
            .iter()
            .all(|m| !matches!(m, Msg::Delta { .. } | Msg::Deltas { .. }))
    );
    ann.drain().await;
    // Fog of war: they see the same players, not the same items.
    assert_eq!(ann.world.players, bob.world.players);
}

#[tokio::test]
async fn moving_onto_an_item_sends_both_changes_as_one_deltas() {
    let (server, addr) = start(quick()).await;
    let mut ann = Player::join(addr, "ann").await;
    // Lay a coin next to ann, as the steward would.
    let to = free_step(&ann.world, "ann");
    let item = demo_world::Item {
        id: 99,
        kind: ItemKind::Coin,
        at: to,
    };
    lay_item(&server, item).await;

    let op = ann.act(WorldAction::Move { to }).await;
    let batch = ann
        .until(|m| match m {
            Msg::Deltas { deltas, .. } => Some(deltas.clone()),
            _ => None,
        })
        .await;
    assert_eq!(
        batch,
        vec![
            WorldDelta::Moved {
                user: "ann".into(),
                to
            },
            WorldDelta::Took {
                user: "ann".into(),
                item: 99,
                points: 3
            },
        ]
    );
    assert_eq!(ann.outcome(op).await, Ok(None));
    assert_eq!(ann.world.player("ann").map(|p| p.score), Some(3));
}

#[tokio::test]
async fn an_item_out_of_sight_reaches_no_frame_until_the_player_walks_near_it() {
    let (server, addr) = start(quick()).await;
    let mut ann = Player::join(addr, "ann").await;
    let mut bob = Player::join(addr, "bob").await;
    ann.drain().await;
    bob.drain().await;
    let (ann_at, bob_at) = (ann.at("ann"), bob.at("bob"));
    // A hex ann sees and bob does not.
    let near_ann = Hex::all_within(demo_world::RADIUS)
        .filter(|h| h.distance(ann_at) <= SIGHT && h.distance(bob_at) > SIGHT)
        .find(|h| {
            !ann.world.is_wall(*h)
                && ann.world.item_at(*h).is_none()
                && ann.world.player_at(*h).is_none()
        })
        .expect("a free hex only ann sees");
    let gem = demo_world::Item {
        id: 99,
        kind: ItemKind::Gem,
        at: near_ann,
    };
    lay_item(&server, gem).await;
    let seen_by_ann = ann
        .until(|m| match m {
            Msg::Delta {
                delta: WorldDelta::Spawned { item },
                ..
            } => Some(*item),
            _ => None,
        })
        .await;
    assert_eq!(seen_by_ann, gem);

    // Every frame bob gets, until he stands within sight of the gem, is
    // without it.
    let hides_gem = |m: &Msg| match m {
        Msg::Snapshot { state, .. } => state.items.iter().all(|i| i.id != 99),
        Msg::Delta { delta, .. } => !mentions_gem(delta),
        Msg::Deltas { deltas, .. } => !deltas.iter().any(mentions_gem),
        _ => true,
    };
    let mut steps = 0;
    while !demo_world::in_sight(Some(bob.at("bob")), near_ann) {
        steps += 1;
        assert!(steps <= 12, "bob walks to the gem in a few steps");
        let here = bob.at("bob");
        let to = here
            .neighbours()
            .into_iter()
            .filter(|h| bob.world.check_move("bob", *h).is_ok())
            .min_by_key(|h| h.distance(near_ann))
            .expect("a step towards the gem");
        let op = bob.act(WorldAction::Move { to }).await;
        // The view moves with him: a snapshot from where he stands now.
        let (mut done, mut seen) = (false, None);
        while !done || seen.is_none() {
            let msg = bob.next().await;
            match &msg {
                Msg::Snapshot { state, .. } if state.player("bob").map(|p| p.at) == Some(to) => {
                    seen = Some(state.clone());
                }
                other => assert!(hides_gem(other), "bob saw the gem from afar: {other:?}"),
            }
            match &msg {
                Msg::ActionOk { op_id, .. } if *op_id == op => done = true,
                Msg::ActionErr { op_id, code, .. } if *op_id == op => panic!("{code:?}"),
                _ => {}
            }
        }
        let seen = seen.expect("a snapshot");
        let near = demo_world::in_sight(Some(to), near_ann);
        assert_eq!(seen.items.iter().any(|i| i.id == 99), near, "at {to}");
    }
    assert!(
        bob.world.items.contains(&gem),
        "bob sees the gem once near it"
    );
}

fn mentions_gem(delta: &WorldDelta) -> bool {
    matches!(
        delta,
        WorldDelta::Spawned { item } if item.id == 99
    ) || matches!(delta, WorldDelta::Took { item: 99, .. })
}

async fn lay_item(server: &FlowServer<demo_server::Worlds>, item: demo_world::Item) {
    let change = WorldDelta::Spawned { item };
    server
        .session("meadow")
        .commit(change)
        .await
        .expect("the memory store commits");
}

#[tokio::test]
async fn a_dig_reports_progress_and_its_loot_reaches_only_the_finder() {
    let (_server, addr) = start(quick()).await;
    let mut ann = Player::join(addr, "ann").await;
    let mut bob = Player::join(addr, "bob").await;
    ann.drain().await;

    let op = ann.act(WorldAction::Dig).await;
    let mut percents = Vec::new();
    let mut loot = None;
    let result = loop {
        match ann.next().await {
            Msg::Progress {
                op_id,
                percent,
                message,
            } if op_id == op => {
                assert!(message.is_some_and(|m| !m.is_empty()));
                percents.push(percent.expect("a percent"));
            }
            Msg::Notify {
                domain,
                event: WorldEvent::Loot { kind, points, .. },
                correlation_id,
            } => {
                assert_eq!(domain, "rewards");
                assert_eq!(correlation_id, Some(op), "loot names the dig");
                loot = Some((kind, points));
            }
            Msg::ActionOk { op_id, result } if op_id == op => break result,
            Msg::ActionErr { op_id, message, .. } if op_id == op => panic!("dig failed: {message}"),
            _ => {}
        }
    };
    assert_eq!(percents, [0, 25, 50, 75]);
    let result: DigResult = result.expect("a result").decode().expect("a DigResult");
    let (kind, points) = loot.expect("loot before the outcome (find chance 100%)");
    assert_eq!(result.found, Some(kind));
    assert_eq!(result.points, points);
    assert_eq!(ann.world.player("ann").map(|p| p.score), Some(points));

    // Bob hears that ann dug (correlated with her dig) if he sees the hex
    // (fog of war: a notification shows no more than the state), and never
    // what she found.
    let bob_sees_it = demo_world::in_sight(Some(bob.at("bob")), ann.at("ann"));
    let everything_for_bob = bob.drain().await;
    let world_news: Vec<_> = everything_for_bob
        .iter()
        .filter_map(|m| match m {
            Msg::Notify {
                domain,
                event,
                correlation_id,
            } => Some((domain.as_str(), event, *correlation_id)),
            _ => None,
        })
        .collect();
    assert_eq!(
        world_news.iter().any(|(d, e, c)| *d == "world"
            && matches!(e, WorldEvent::Dug { name, .. } if name == "ANN")
            && *c == Some(op)),
        bob_sees_it,
        "bob hears of the dig exactly when he sees its hex"
    );
    assert!(world_news.iter().all(|(d, _, _)| *d != "rewards"));
    assert_eq!(bob.world.player("ann").map(|p| p.score), Some(points));

    // The hex is dug now.
    let again = ann.act(WorldAction::Dig).await;
    assert_eq!(ann.outcome(again).await, Err("already_dug".to_owned()));
}

/// Fog of war covers notifications too: a player out of sight of a dig
/// does not hear of it (its event names the hex), one in sight does.
#[tokio::test]
async fn a_dig_out_of_sight_is_not_heard_of() {
    let (_server, addr) = start(quick()).await;
    let mut ann = Player::join(addr, "ann").await;
    let mut bob = Player::join(addr, "bob").await;
    ann.drain().await;
    bob.drain().await;
    // Bob walks away from ann until he no longer sees her hex.
    let mut steps = 0;
    while demo_world::in_sight(Some(bob.at("bob")), ann.at("ann")) {
        steps += 1;
        assert!(steps <= 12, "bob walks out of sight in a few steps");
        let (here, ann_at) = (bob.at("bob"), ann.at("ann"));
        let to = here
            .neighbours()
            .into_iter()
            .filter(|h| bob.world.check_move("bob", *h).is_ok())
            .max_by_key(|h| h.distance(ann_at))
            .expect("a step away from ann");
        let op = bob.act(WorldAction::Move { to }).await;
        assert!(bob.outcome(op).await.is_ok(), "bob steps away");
    }
    let op = ann.act(WorldAction::Dig).await;
    assert!(ann.outcome(op).await.is_ok(), "the dig succeeds");
    let heard = |news: &[Msg]| {
        news.iter().any(|m| {
            matches!(m, Msg::Notify { event: WorldEvent::Dug { name, .. }, .. } if name == "ANN")
        })
    };
    assert!(!heard(&bob.drain().await), "bob is out of sight of the dig");
}

#[tokio::test]
async fn unsubscribed_domains_are_not_delivered() {
    let (_server, addr) = start(quick()).await;
    let mut ann = Player::join(addr, "ann").await;
    ann.send(ClientMessage::Unsubscribe {
        domains: vec![domain::REWARDS.into()],
    })
    .await;
    ann.drain().await;
    let op = ann.act(WorldAction::Dig).await;
    let mut rest = Vec::new();
    loop {
        let msg = ann.next().await;
        let done = matches!(&msg, Msg::ActionOk { op_id, .. } if *op_id == op);
        rest.push(msg);
        if done {
            break;
        }
    }
    rest.extend(ann.drain().await);
    let domains: Vec<&str> = rest
        .iter()
        .filter_map(|m| match m {
            Msg::Notify { domain, .. } => Some(domain.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(domains, ["world"]);
}

/// Fog of war: a connection's view is where its player stands, and a resume
/// point does not say which view a state was seen from, so a resync is
/// answered with a snapshot of the view (see the spec, "Views and skipped
/// seqs").
#[tokio::test]
async fn a_reconnecting_client_gets_a_snapshot_of_what_it_sees() {
    let (_server, addr) = start(quick()).await;
    let mut ann = Player::join(addr, "ann").await;
    ann.drain().await;
    let (world, seq, epoch) = (ann.world.clone(), ann.seq, ann.epoch);
    drop(ann);

    let mut bob = Player::join(addr, "bob").await;
    let to = free_step(&bob.world, "bob");
    let op = bob.act(WorldAction::Move { to }).await;
    assert!(bob.outcome(op).await.is_ok());
    bob.drain().await;

    // ann comes back, resyncs from what she had, and gets what she sees now.
    let url = format!("ws://{addr}/realtime/meadow?token=ann");
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let mut ann = Player {
        ws,
        world: World::default(),
        seq: 0,
        epoch: None,
    };
    ann.until(|m| matches!(m, Msg::Snapshot { .. }).then_some(()))
        .await;
    (ann.world, ann.seq) = (world, seq);
    ann.send(ClientMessage::Resync {
        last_seq: Some(seq),
        epoch,
    })
    .await;
    let caught_up = ann
        .until(|m| match m {
            Msg::Snapshot { state, seq, .. } => Some((state.clone(), *seq)),
            Msg::Deltas { .. } => panic!("a view's resync is a snapshot"),
            _ => None,
        })
        .await;
    assert_eq!(caught_up.1, bob.seq, "up to bob's enter and move");
    let world = _server.session("meadow").read(|w, _| w.clone()).await;
    let seen = world.expect("open").seen_from(Some(ann.at("ann")));
    assert_eq!(caught_up.0, seen);
    assert_eq!(ann.world.players, bob.world.players);
}

#[tokio::test]
async fn the_steward_takes_departed_players_off_and_drops_items() {
    let settings = Settings {
        spawn_every: Duration::from_secs(5),
        ..quick()
    };
    let leave_after = settings.leave_after;
    let (server, addr) = start(settings).await;
    let ann = Player::join(addr, "ann").await;
    let mut bob = Player::join(addr, "bob").await;
    drop(ann);
    bob.until(|m| match m {
        Msg::PresenceDiff(diff) if diff.left.iter().any(|u| u == "ann") => Some(()),
        _ => None,
    })
    .await;

    let now = Instant::now();
    steward::tend(&server, now, false).await;
    assert!(
        bob.world.player("ann").is_some(),
        "a reload keeps its place"
    );
    let items = |w: Result<World, _>| w.expect("open").items;
    let items_before = items(server.session("meadow").read(|w, _| w.clone()).await);
    steward::tend(&server, now + leave_after, false).await;
    let news = bob.drain().await;
    assert!(bob.world.player("ann").is_none());
    let items_after = items(server.session("meadow").read(|w, _| w.clone()).await);
    assert_eq!(items_after.len(), items_before.len() + 1);
    let spawned = items_after
        .iter()
        .find(|i| !items_before.contains(i))
        .expect("the new item");
    assert!(news.iter().any(|m| matches!(
        m,
        Msg::Notify { event: WorldEvent::Left { name }, correlation_id: None, .. } if name == "ANN"
    )));
    // Fog of war covers notifications too: bob hears of the new item
    // exactly when he sees where it lies.
    assert_eq!(
        news.iter().any(|m| matches!(
            m,
            Msg::Notify {
                event: WorldEvent::Spawned { .. },
                ..
            }
        )),
        demo_world::in_sight(Some(bob.at("bob")), spawned.at)
    );
    // Fog of war: bob holds the world as seen from where he stands.
    let world = server.session("meadow").read(|w, _| w.clone()).await;
    let seen = world.expect("open").seen_from(Some(bob.at("bob")));
    assert_eq!(seen, bob.world.clone());
}

#[tokio::test]
async fn a_world_nobody_visits_is_closed_and_the_next_visitor_starts_afresh() {
    let settings = Settings {
        forget_after: Duration::from_secs(60),
        ..quick()
    };
    let forget_after = settings.forget_after;
    let (server, addr) = start(settings).await;
    let mut ann = Player::join(addr, "ann").await;
    let first_epoch = ann.epoch;
    ann.act(WorldAction::Move {
        to: free_step(&ann.world.clone(), "ann"),
    })
    .await;
    drop(ann);
    // Wait until the server has seen the socket go.
    let mut watcher = Player::join(addr, "watcher").await;
    drop(watcher.drain().await);
    let now = Instant::now();
    steward::tend(&server, now, false).await;
    assert_eq!(server.handler().world_count(), 1, "someone is connected");
    drop(watcher);
    let deadline = Instant::now() + STUCK;
    while server.session("meadow").connection_count() > 0 {
        assert!(Instant::now() < deadline, "connections never closed");
        tokio::task::yield_now().await;
    }
    steward::tend(&server, now, false).await;
    assert_eq!(server.handler().world_count(), 1, "not yet");
    steward::tend(&server, now + forget_after, false).await;
    assert_eq!(server.handler().world_count(), 0, "closed");
    let bob = Player::join(addr, "bob").await;
    assert_ne!(bob.epoch, first_epoch, "a forgotten world starts a new log");
    assert!(bob.world.player("ann").is_none());
}

/// A masked binary WebSocket frame, as a client sends it.
fn client_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x17, 0xc3, 0x08];
    let mut out = vec![0x82];
    let len = u16::try_from(payload.len()).expect("a small frame");
    if len < 126 {
        out.push(0x80 | len as u8);
    } else {
        out.push(0x80 | 126);
        out.extend(len.to_be_bytes());
    }
    out.extend(mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    out
}

/// Opens `world` as `user` with `action` in the same TCP write as the
/// upgrade request, so the server reads the action before it has served
/// any snapshot.
async fn upgrade_with_action(
    addr: SocketAddr,
    world: &str,
    user: &str,
    action: WorldAction,
) -> Player {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let frame = ClientMessage::Action {
        op_id: OpId::new(),
        action,
    }
    .encode()
    .expect("encode");
    let mut write = format!(
        "GET /realtime/{world}?token={user} HTTP/1.1\r\nHost: {addr}\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes();
    write.extend(client_frame(&frame));
    tcp.write_all(&write).await.expect("one write");
    // The response head, byte by byte so no frame after it is consumed.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = tokio::time::timeout(STUCK, tcp.read_u8())
            .await
            .expect("a response in time")
            .expect("response");
        head.push(byte);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "upgraded: {head}");
    let ws = WebSocketStream::from_raw_socket(MaybeTlsStream::Plain(tcp), Role::Client, None).await;
    Player {
        ws,
        world: World::default(),
        seq: 0,
        epoch: None,
    }
}

#[tokio::test]
async fn an_action_in_the_upgrade_write_cannot_make_a_world_beyond_the_cap() {
    let (server, addr) = start(quick()).await;
    let worlds: &Worlds = server.handler();
    for i in worlds.world_count()..MAX_ROOMS {
        worlds
            .initial_state(&format!("made-up-{i}"))
            .await
            .expect("below the cap");
    }
    let enter = WorldAction::Enter { name: "Eve".into() };
    let mut eve = upgrade_with_action(addr, "one-too-many", "eve", enter).await;
    let refused = eve
        .until(|m| match m {
            Msg::Error { code, fatal, .. } => Some((code.as_ref().map(|c| c.to_string()), *fatal)),
            Msg::ActionOk { .. } => panic!("the action ran in a world beyond the cap"),
            _ => None,
        })
        .await;
    assert_eq!(refused, (Some("sync_failed".to_owned()), true));
    assert_eq!(worlds.world_count(), MAX_ROOMS);
    let opened = server.session("one-too-many").read(|w, _| w.clone()).await;
    assert!(opened.is_err(), "no path opens a world beyond the cap");
}

#[tokio::test]
async fn a_client_of_a_forgotten_world_is_not_served_its_successor_as_deltas() {
    let settings = Settings {
        forget_after: Duration::from_secs(60),
        ..quick()
    };
    let forget_after = settings.forget_after;
    let (server, addr) = start(settings).await;
    let mut ann = Player::join(addr, "ann").await;
    ann.drain().await;
    let (old_seq, epoch) = (ann.seq, ann.epoch.expect("an epoch"));
    drop(ann);
    let deadline = Instant::now() + STUCK;
    while server.session("meadow").connection_count() > 0 {
        assert!(Instant::now() < deadline, "connections never closed");
        tokio::task::yield_now().await;
    }
    let now = Instant::now();
    steward::tend(&server, now, false).await;
    steward::tend(&server, now + forget_after, false).await;
    assert_eq!(server.handler().world_count(), 0, "closed");
    // Someone makes the new world's seq line pass the old one.
    let mut bob = Player::join(addr, "bob").await;
    for _ in 0..=old_seq {
        let to = free_step(&bob.world.clone(), "bob");
        let op = bob.act(WorldAction::Move { to }).await;
        assert_eq!(bob.outcome(op).await, Ok(None));
    }
    assert!(bob.seq > old_seq);
    let query = format!("&last_seq={old_seq}&epoch={epoch}");
    let url = format!("ws://{addr}/realtime/meadow?token=ann{query}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let first = loop {
        let frame = tokio::time::timeout(STUCK, ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("frame");
        let Message::Binary(bytes) = frame else {
            continue;
        };
        if let Decoded::Message(m @ (Msg::Snapshot { .. } | Msg::Deltas { .. })) =
            Msg::decode(&bytes).expect("decodes")
        {
            break m;
        }
    };
    assert!(
        matches!(first, Msg::Snapshot { epoch: Some(e), .. } if e != epoch),
        "the old world's seq means nothing in the new one: {first:?}"
    );
}
