//! The demo server over real WebSockets on 127.0.0.1: its actions, their
//! feedback, its notifications and its catch-up, as a client in another
//! language would see them (typed frames through ui-flow's codec).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use demo_server::{Demo, MAX_ROOMS, Settings, TOO_MANY_WORLDS, Worlds, steward};
use demo_world::{DigResult, Hex, ItemKind, World, WorldAction, WorldDelta, WorldEvent, domain};
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
        forget_after: Duration::from_secs(60),
        seed: 7,
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
    /// Connects to `meadow` with `query` after the token, and returns the
    /// connection with the first sync message (`Snapshot` or `Deltas`).
    async fn connect(addr: SocketAddr, user: &str, query: &str) -> (Player, Msg) {
        Player::connect_to(addr, "meadow", user, query).await
    }

    /// [`Player::connect`] to any world.
    async fn connect_to(addr: SocketAddr, world: &str, user: &str, query: &str) -> (Player, Msg) {
        let url = format!("ws://{addr}/realtime/{world}?token={user}{query}");
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        let mut me = Player {
            ws,
            world: World::default(),
            seq: 0,
            epoch: None,
        };
        let first = me
            .until(|m| matches!(m, Msg::Snapshot { .. } | Msg::Deltas { .. }).then(|| m.clone()))
            .await;
        (me, first)
    }

    /// Connects, reads up to the snapshot, subscribes to both domains and
    /// enters the world.
    async fn join(addr: SocketAddr, user: &str) -> Player {
        let (mut me, _) = Player::connect(addr, user, "").await;
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
                Msg::Delta { delta, seq, .. } => {
                    assert_eq!(*seq, self.seq + 1, "deltas arrive in seq order");
                    self.world.apply_delta(delta.clone());
                    self.seq = *seq;
                }
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
    assert_eq!(ann.world, bob.world);
    assert_eq!(ann.seq, bob.seq);
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
    lay_item(&server, item);

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

fn lay_item(server: &FlowServer<demo_server::Worlds>, item: demo_world::Item) {
    let change = WorldDelta::Spawned { item };
    server
        .handler()
        .commit(&server.session("meadow"), vec![change])
        .expect("meadow is within the cap");
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

    // Bob hears that ann dug (correlated with her dig), but not what she found.
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
    assert!(world_news.iter().any(|(d, e, c)| *d == "world"
        && matches!(e, WorldEvent::Dug { name, .. } if name == "ANN")
        && *c == Some(op)));
    assert!(world_news.iter().all(|(d, _, _)| *d != "rewards"));
    assert_eq!(bob.world.player("ann").map(|p| p.score), Some(points));

    // The hex is dug now.
    let again = ann.act(WorldAction::Dig).await;
    assert_eq!(ann.outcome(again).await, Err("already_dug".to_owned()));
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

#[tokio::test]
async fn a_reconnecting_client_catches_up_with_deltas() {
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

    // ann comes back, resyncs from what she had, and gets only the changes.
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
            Msg::Deltas { deltas, seq, .. } => Some((deltas.len(), *seq)),
            Msg::Snapshot { .. } => panic!("a resync within history is served with deltas"),
            _ => None,
        })
        .await;
    assert_eq!(caught_up, (2, bob.seq), "bob's enter and move");
    assert_eq!(ann.world, bob.world);
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
    steward::tend(&server, now);
    assert!(
        bob.world.player("ann").is_some(),
        "a reload keeps its place"
    );
    let items_before = bob.world.items.len();
    steward::tend(&server, now + leave_after);
    let news = bob.drain().await;
    assert!(bob.world.player("ann").is_none());
    assert_eq!(bob.world.items.len(), items_before + 1);
    assert!(news.iter().any(|m| matches!(
        m,
        Msg::Notify { event: WorldEvent::Left { name }, correlation_id: None, .. } if name == "ANN"
    )));
    assert!(news.iter().any(|m| matches!(
        m,
        Msg::Notify {
            event: WorldEvent::Spawned { .. },
            ..
        }
    )));
    assert_eq!(
        server.handler().world("meadow").map(|(w, _)| w),
        Some(bob.world.clone())
    );
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
) -> (Player, OpId) {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let op_id = OpId::new();
    let frame = ClientMessage::Action { op_id, action }
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
    let player = Player {
        ws,
        world: World::default(),
        seq: 0,
        epoch: None,
    };
    (player, op_id)
}

/// Makes made-up worlds until the server keeps [`MAX_ROOMS`].
async fn fill_to_the_cap(worlds: &Worlds) {
    for i in worlds.count()..MAX_ROOMS {
        worlds
            .snapshot(&format!("made-up-{i}"))
            .await
            .expect("below the cap");
    }
}

#[tokio::test]
async fn an_action_in_the_upgrade_write_cannot_make_a_world_beyond_the_cap() {
    let (server, addr) = start(quick()).await;
    let worlds = server.handler();
    fill_to_the_cap(worlds).await;

    // The snapshot is refused at once (`sync_failed`, then the close);
    // the action runs beside it, and its outcome is remembered for a
    // retry, as for any action whose connection dropped.
    let enter = WorldAction::Enter { name: "Eve".into() };
    let (mut eve, op) = upgrade_with_action(addr, "one-too-many", "eve", enter.clone()).await;
    let refused = eve
        .until(|m| match m {
            Msg::Error { code, fatal, .. } => Some((code.as_ref().map(|c| c.to_string()), *fatal)),
            Msg::ActionOk { .. } => panic!("the action ran in a world beyond the cap"),
            _ => None,
        })
        .await;
    assert_eq!(refused, (Some("sync_failed".to_owned()), true));

    // Make room (one made-up world deserted long enough), then retry the
    // same op in the world, which a snapshot may now create: the retry
    // gets the first run's outcome.
    let now = Instant::now();
    assert!(!worlds.forget_if_deserted("made-up-0", false, now));
    assert!(worlds.forget_if_deserted("made-up-0", false, now + quick().forget_after));
    let (mut eve, first) = Player::connect_to(addr, "one-too-many", "eve", "").await;
    let Msg::Snapshot { state, .. } = first else {
        panic!("a snapshot of the new world, got {first:?}");
    };
    assert!(
        state.players.is_empty(),
        "nobody entered it before: {state:?}"
    );
    eve.send(ClientMessage::Action {
        op_id: op,
        action: enter,
    })
    .await;
    assert_eq!(eve.outcome(op).await, Err(TOO_MANY_WORLDS.to_owned()));
    assert_eq!(worlds.count(), MAX_ROOMS);
}

/// Waits until the hub lists nobody in `meadow` (it learns of a closed
/// socket on its own schedule; there is no event to await from outside).
async fn until_deserted(server: &FlowServer<Worlds>) {
    let deadline = Instant::now() + STUCK;
    while !server.session("meadow").presence().is_empty() {
        assert!(Instant::now() < deadline, "the hub never let go");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_deserted_world_is_forgotten_and_a_stale_client_is_not_served_its_successor_as_deltas() {
    let settings = quick();
    let (leave_after, forget_after) = (settings.leave_after, settings.forget_after);
    let (server, addr) = start(settings).await;
    let mut ann = Player::join(addr, "ann").await;
    ann.drain().await;
    let (old_seq, epoch) = (ann.seq, ann.epoch.expect("an epoch"));
    drop(ann);
    until_deserted(&server).await;

    let now = Instant::now();
    steward::tend(&server, now);
    steward::tend(&server, now + leave_after);
    steward::tend(&server, now + forget_after - Duration::from_millis(1));
    let (kept, _) = server.handler().world("meadow").expect("kept for a while");
    assert!(kept.player("ann").is_none(), "her player left before");
    steward::tend(&server, now + forget_after);
    assert!(server.handler().world("meadow").is_none(), "forgotten");
    assert_eq!(server.handler().count(), 0);

    // Bob's visit makes a new meadow, numbered above the old one.
    let mut bob = Player::join(addr, "bob").await;
    bob.drain().await;
    assert!(bob.seq > old_seq + 1, "{} after {old_seq}", bob.seq);

    // Ann resumes with the old meadow's seq: she must get a snapshot of
    // the new one, never its changes on top of the world she remembers.
    let resume = format!("&last_seq={old_seq}&epoch={epoch}");
    let (mut ann, first) = Player::connect(addr, "ann", &resume).await;
    assert!(matches!(first, Msg::Snapshot { .. }), "got {first:?}");
    ann.drain().await;
    assert_eq!(ann.world, bob.world);
    assert!(ann.world.player("bob").is_some());
}
