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

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use demo_server::{Demo, Settings, steward};
use demo_world::{WorldAction, WorldModel};
use support::{DemoServer, Player, assert_nothing_lost, burst, config, enter_all, settle, until};
use tokio::sync::watch;
use ui_flow::FlowConnection;
use ui_flow_nats_harness::NatsServer;

/// Outcomes to wait for before each kill, and after the last.
const ACKS_PER_PHASE: usize = 12;
const KILLS: usize = 5;

/// A demo node joined to NATS, on any free port.
fn node(nats: &str) -> (DemoServer, SocketAddr) {
    DemoServer::start(["--addr", "127.0.0.1:0", "--nats", nats])
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_burst_its_clients_resume_on_another_node_with_deltas_and_lose_nothing() {
    let nats = NatsServer::start().expect("nats-server");
    let (mut killed, a_addr) = node(&nats.url());
    let (_stable, b_addr) = node(&nats.url());
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
    enter_all(&mut players);
    let mut round = 0;
    for phase in 0..=KILLS {
        let what = format!("phase {phase}");
        burst(&mut players, &mut acked, ACKS_PER_PHASE, &mut round, &what).await;
        if phase < KILLS {
            // Actions still in flight: the balancer sends new connections
            // to a new node, and the old one dies.
            let (next, next_addr) = node(&nats.url());
            *backend.lock().expect("lock") = next_addr;
            killed.kill();
            killed = next;
        }
    }
    settle(&players, &mut heard).await;
    assert_nothing_lost(&players);
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
