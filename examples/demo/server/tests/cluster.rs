//! Demo server processes on one real nats-server (JetStream, a loopback
//! port, a temporary store). Two clients reach a node through a small TCP
//! balancer; five times, that node is killed with SIGKILL in the middle of
//! a burst of actions and the balancer sends them to a freshly started
//! node. A third client stays on a node that is never killed.
//!
//! What must hold: every client is sent exactly one snapshot (its first
//! join): the ones that moved resume on B with `Deltas` in the same epoch,
//! because the log is in JetStream, not in A; the seqs each client applies
//! run 1, 2, 3... with no gap and no repeat across the move; every action
//! ends with exactly one outcome, and each acknowledged move is exactly one
//! `Moved` delta.
//!
//! And the nodes share presence: a node's steward leaves a player on the
//! grid while their user is connected to another node.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use demo_server::{Demo, Settings, steward};
use demo_world::{Hex, World, WorldAction, WorldDelta, WorldModel};
use tokio::sync::watch;
use ui_flow::client::{ClientConfig, OpState};
use ui_flow::{FlowConnection, OpId};
use ui_flow_nats_harness::NatsServer;

/// A safety net so a broken test fails instead of hanging; never an
/// assertion about speed.
const STUCK: Duration = Duration::from_secs(60);
/// Outcomes to wait for before each kill, and after the last.
const ACKS_PER_PHASE: usize = 12;
const KILLS: usize = 5;

/// A demo server process joined to NATS.
struct Node {
    child: Child,
}

impl Node {
    fn start(nats: &str) -> (Node, SocketAddr) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_demo-server"))
            .args([
                "--addr",
                "127.0.0.1:0",
                "--site",
                "/nonexistent",
                "--nats",
                nats,
                // Without fog every player sees the whole world, so a resume
                // is answered with deltas (with fog: a snapshot of the view).
                "--no-fog",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the demo server starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout);
        let mut first = String::new();
        lines.read_line(&mut first).expect("the first line");
        std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
        let listening = first
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|rest| rest.strip_suffix('/'))
            .unwrap_or_else(|| panic!("the demo server did not start: {first:?}"));
        (Node { child }, listening.parse().expect("an address"))
    }

    /// SIGKILL: no goodbye to anyone, no chance to flush anything.
    fn kill(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP balancer on 127.0.0.1: each new connection goes to the current
/// backend, bytes copied both ways, as a load balancer in front of the
/// nodes would.
async fn balancer(backend: Arc<Mutex<SocketAddr>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let to = *backend.lock().expect("lock");
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    addr
}

/// What one client saw.
#[derive(Debug, Default)]
struct Seen {
    snapshots: usize,
    /// Every seq applied, in order.
    seqs: Vec<u64>,
    /// `Moved` deltas of this client's own player.
    own_moves: usize,
    /// Final outcomes, per op.
    outcomes: HashMap<OpId, Vec<bool>>,
}

struct Player {
    user: String,
    conn: FlowConnection<WorldModel>,
    seen: Arc<Mutex<Seen>>,
    sent: Vec<OpId>,
}

fn config(seed: u64) -> ClientConfig {
    ClientConfig {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        seed,
        ..ClientConfig::default()
    }
}

impl Player {
    /// `acks` counts outcomes; `events` counts every callback.
    fn connect(
        addr: SocketAddr,
        user: &str,
        seed: u64,
        acks: watch::Sender<usize>,
        events: watch::Sender<usize>,
    ) -> Player {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let me = user.to_owned();
        let (on_snapshot, on_delta, on_action) = (seen.clone(), seen.clone(), seen.clone());
        let (events_snapshot, events_delta) = (events.clone(), events.clone());
        let conn = FlowConnection::<WorldModel>::builder()
            .url(format!("ws://{addr}/realtime/meadow"))
            .token(user)
            .config(config(seed))
            .on_snapshot(move |_, seq| {
                let mut seen = on_snapshot.lock().expect("lock");
                seen.snapshots += 1;
                seen.seqs.push(seq);
                events_snapshot.send_modify(|n| *n += 1);
            })
            .on_delta(move |delta, seq| {
                let mut seen = on_delta.lock().expect("lock");
                seen.seqs.push(seq);
                if matches!(delta, WorldDelta::Moved { user, .. } if *user == me) {
                    seen.own_moves += 1;
                }
                events_delta.send_modify(|n| *n += 1);
            })
            .on_action(move |op, state| {
                let ok = match state {
                    OpState::Ok { .. } => true,
                    OpState::Err { .. } => false,
                    _ => return,
                };
                on_action
                    .lock()
                    .expect("lock")
                    .outcomes
                    .entry(op)
                    .or_default()
                    .push(ok);
                acks.send_modify(|n| *n += 1);
                events.send_modify(|n| *n += 1);
            })
            .connect()
            .expect("the client starts");
        Player {
            user: user.to_owned(),
            conn,
            seen,
            sent: Vec::new(),
        }
    }

    /// Sends a step to a neighbouring hex (which the rules may refuse).
    fn step(&mut self, round: usize) {
        let here = self.conn.with_state(|w| w.player(&self.user).map(|p| p.at));
        let Some(at) = here else {
            return;
        };
        let (dq, dr) = [(1, 0), (0, 1), (-1, 1), (-1, 0), (0, -1), (1, -1)][round % 6];
        let to = Hex::new(at.q + dq, at.r + dr);
        if let Ok(op) = self.conn.send_action(WorldAction::Move { to }) {
            self.sent.push(op);
        }
    }

    fn unresolved(&self) -> usize {
        let outcomes = &self.seen.lock().expect("lock").outcomes;
        self.sent
            .iter()
            .filter(|op| !outcomes.contains_key(op))
            .count()
    }
}

/// Waits until `done` holds, re-checking whenever a client reports
/// anything (a snapshot, a delta, an outcome).
async fn until(events: &mut watch::Receiver<usize>, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + STUCK;
    while !done() {
        let changed = tokio::time::timeout_at(deadline, events.changed()).await;
        assert!(matches!(changed, Ok(Ok(()))), "stuck waiting for {what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_burst_its_clients_resume_on_another_node_with_deltas_and_lose_nothing() {
    let nats = NatsServer::start().expect("nats-server");
    let (mut killed, a_addr) = Node::start(&nats.url());
    let (_stable, b_addr) = Node::start(&nats.url());
    let backend = Arc::new(Mutex::new(a_addr));
    let front = balancer(backend.clone()).await;
    let (acks, mut acked) = watch::channel(0usize);
    let (events, mut heard) = watch::channel(0usize);
    // p0 and p1 reach the node that will be killed through the balancer;
    // p2 is on the stable node.
    let mut players: Vec<Player> = [(front, "p0"), (front, "p1"), (b_addr, "p2")]
        .into_iter()
        .enumerate()
        .map(|(i, (addr, user))| {
            Player::connect(addr, user, 7 + i as u64, acks.clone(), events.clone())
        })
        .collect();
    for p in &mut players {
        let op = p
            .conn
            .send_action(WorldAction::Enter {
                name: p.user.to_uppercase(),
            })
            .expect("enter");
        p.sent.push(op);
    }
    let mut round = 0;
    for phase in 0..=KILLS {
        let target = *acked.borrow() + ACKS_PER_PHASE;
        let deadline = Instant::now() + STUCK;
        while *acked.borrow_and_update() < target {
            assert!(
                Instant::now() < deadline,
                "no outcomes arrive (phase {phase}, {} acks, statuses {:?}, unresolved {:?})",
                *acked.borrow(),
                players.iter().map(|p| p.conn.status()).collect::<Vec<_>>(),
                players.iter().map(Player::unresolved).collect::<Vec<_>>(),
            );
            for p in &mut players {
                if p.unresolved() < 3 {
                    p.step(round);
                }
            }
            round += 1;
            let _ = tokio::time::timeout(Duration::from_millis(50), acked.changed()).await;
        }
        if phase < KILLS {
            // Actions still in flight: the balancer sends new connections
            // to a new node, and the old one dies.
            let (next, next_addr) = Node::start(&nats.url());
            *backend.lock().expect("lock") = next_addr;
            killed.kill();
            killed = next;
        }
    }
    for p in &players {
        until(&mut heard, "every action's outcome", || p.unresolved() == 0).await;
    }
    until(
        &mut heard,
        "every client at one head with one world",
        || {
            let seqs: Vec<Option<u64>> = players.iter().map(|p| p.conn.seq()).collect();
            let states: Vec<World> = players.iter().map(|p| p.conn.state()).collect();
            seqs[0].is_some()
                && seqs.windows(2).all(|w| w[0] == w[1])
                && states.windows(2).all(|w| w[0] == w[1])
        },
    )
    .await;
    for p in &players {
        let seen = p.seen.lock().expect("lock");
        assert_eq!(
            seen.snapshots, 1,
            "{}: resumed with Deltas in the same epoch",
            p.user
        );
        assert!(
            seen.seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "{}: no gap, no repeat: {:?}",
            p.user,
            seen.seqs
        );
        for (op, outcomes) in &seen.outcomes {
            assert_eq!(outcomes.len(), 1, "{}: op {op} got one outcome", p.user);
        }
        let moves_ok = p
            .sent
            .iter()
            .skip(1)
            .filter(|op| seen.outcomes.get(op) == Some(&vec![true]))
            .count();
        let refused = p
            .sent
            .iter()
            .skip(1)
            .filter(|op| seen.outcomes.get(op) == Some(&vec![false]))
            .count();
        eprintln!(
            "{}: moves {} ok {moves_ok} refused {refused}",
            p.user, seen.own_moves
        );
        assert_eq!(
            seen.own_moves, moves_ok,
            "{}: each acknowledged move is exactly one Moved delta (none lost, none twice)",
            p.user
        );
        assert!(moves_ok > 0, "{}: the test moved", p.user);
    }
}

/// A demo node in this process, served without its background steward:
/// the test runs the steward itself, with the clock it chooses. (In one
/// process, unlike the kill test: nothing here needs a separate process,
/// and the steward's clock can only be chosen in-process.)
async fn node_in_process(nats: &str) -> (Demo, SocketAddr) {
    let settings = Settings {
        fog: false,
        ..Settings::default()
    };
    let demo = Demo::on_nats("/nonexistent", settings, nats)
        .await
        .expect("the node joins NATS");
    assert!(demo.mesh_node().is_some(), "a node on NATS joins the mesh");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = demo.server().clone();
    let app = demo.router();
    tokio::spawn(async move {
        server
            .serve_until(listener, app, std::future::pending())
            .await
    });
    (demo, addr)
}

/// A client that counts every callback on `events`.
fn watched(
    addr: SocketAddr,
    user: &str,
    events: &watch::Sender<usize>,
) -> FlowConnection<WorldModel> {
    let (on_snapshot, on_delta, on_presence) = (events.clone(), events.clone(), events.clone());
    FlowConnection::<WorldModel>::builder()
        .url(format!("ws://{addr}/realtime/meadow"))
        .token(user)
        .config(config(1))
        .on_snapshot(move |_, _| on_snapshot.send_modify(|n| *n += 1))
        .on_delta(move |_, _| on_delta.send_modify(|n| *n += 1))
        .on_presence(move |_, _| on_presence.send_modify(|n| *n += 1))
        .connect()
        .expect("the client starts")
}

fn lists(conn: &FlowConnection<WorldModel>, user: &str) -> bool {
    conn.presence().iter().any(|p| p.user_id == user)
}

fn on_grid(conn: &FlowConnection<WorldModel>, user: &str) -> bool {
    conn.with_state(|w| w.player(user).is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nodes_steward_leaves_a_player_connected_to_another_node_on_the_grid() {
    let nats = NatsServer::start().expect("nats-server");
    let (a, a_addr) = node_in_process(&nats.url()).await;
    let (_b, b_addr) = node_in_process(&nats.url()).await;
    let (events, mut heard) = watch::channel(0usize);
    let ann = watched(a_addr, "ann", &events);
    let bob = watched(b_addr, "bob", &events);
    for (conn, name) in [(&ann, "ANN"), (&bob, "BOB")] {
        conn.send_action(WorldAction::Enter { name: name.into() })
            .expect("enter");
    }
    until(
        &mut heard,
        "both players on both pages, both in presence",
        || {
            [&ann, &bob].iter().all(|c| {
                on_grid(c, "ann") && on_grid(c, "bob") && lists(c, "ann") && lists(c, "bob")
            })
        },
    )
    .await;
    // ann leaves node A: A has the world open but nobody connected to it;
    // bob learns through the mesh that she is gone.
    ann.close();
    until(&mut heard, "ann out of bob's presence", || {
        !lists(&bob, "ann")
    })
    .await;

    let leave_after = Settings::default().leave_after;
    let now = Instant::now();
    let server_a = a.server();
    steward::tend(server_a, now, true).await;
    steward::tend(server_a, now + leave_after, true).await;
    let world = server_a
        .session("meadow")
        .read(|w, _| w.clone())
        .await
        .expect("the world is open on A");
    assert!(
        world.player("ann").is_none(),
        "A's steward takes ann off the grid"
    );
    assert!(
        world.player("bob").is_some(),
        "bob, connected to B, is present for A's steward too"
    );
    until(&mut heard, "ann's departure on bob's page", || {
        !on_grid(&bob, "ann")
    })
    .await;
    assert!(
        on_grid(&bob, "bob"),
        "bob still on the grid on his own page"
    );
}
