//! Several nodes on a real nats-server (`ui-flow-nats-harness`): merged
//! presence, a dead node's users expiring, signals and targeted
//! notifications across nodes, and `/healthz` following the path through
//! NATS.
//!
//! The nodes are separate `FlowServer`s in this one process. That is sound
//! here because nodes share nothing in memory: each has its own hub, its
//! own listener on 127.0.0.1 and its own NATS client connection, and
//! everything one node learns about another comes through nats-server over
//! TCP. A node "dying" is its mesh stopping without a goodbye (its tasks
//! aborted: no heartbeat, no message), which is what the others see of a
//! `kill -9`.
#![cfg(feature = "nats")]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use common::{Client, Msg, STUCK, Text};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ui_flow::{ClientMessage, PresenceInfo, PresenceStatus, SignalPayload};
use ui_flow_nats_harness::NatsServer;
use ui_flow_server::broker::{Broker, Publication};
use ui_flow_server::nats::{MeshConfig, NatsMesh};
use ui_flow_server::{FlowHandler, FlowServer, Identity, ServerConfig, UnverifiedUserToken};

/// A handler whose events are strings; an event `only:NAME` is for user
/// NAME alone (its filter runs on whichever node the recipient is on).
#[derive(Default)]
struct Gate;

/// Its payload types.
struct GateModel;

impl ui_flow::Model for GateModel {
    type State = Text;
    type Delta = String;
    type Event = String;
    type Action = String;
}

#[async_trait::async_trait]
impl FlowHandler for Gate {
    type Model = GateModel;
    const APP_OWNED_STATE: bool = true;

    async fn snapshot(&self, _: &str) -> Result<(Text, u64), ui_flow_server::BoxError> {
        Ok((Text::default(), 0))
    }

    async fn handle_action(
        &self,
        _: &ui_flow_server::ActionContext<Self>,
        _: String,
    ) -> ui_flow_server::ActionOutcome {
        ui_flow_server::ActionOutcome::ok()
    }

    fn filter_notification(&self, user: &Identity, _: &str, event: &String) -> bool {
        event
            .strip_prefix("only:")
            .is_none_or(|who| who == user.user_id)
    }
}

struct Node {
    server: FlowServer<Gate>,
    addr: SocketAddr,
    mesh: Option<NatsMesh>,
}

async fn node(nats: &NatsServer) -> Node {
    let server = FlowServer::with_config(Gate, UnverifiedUserToken, ServerConfig::default());
    let mesh = NatsMesh::join(&server, &nats.url(), MeshConfig::default())
        .await
        .expect("join the mesh");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = server.router().merge(server.health_router());
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(listener, app).await });
    Node {
        server,
        addr,
        mesh: Some(mesh),
    }
}

async fn join(node: &Node, user: &str) -> (Client, Vec<PresenceInfo>) {
    let (client, joined) = Client::join(node.addr, "room", user).await;
    (client, joined.users)
}

/// Reads until a `PresenceDiff` satisfies `pred`; returns every diff read.
async fn diff_until(
    client: &mut Client,
    mut pred: impl FnMut(&ui_flow::PresenceDiff) -> bool,
) -> Vec<ui_flow::PresenceDiff> {
    let mut seen = Vec::new();
    tokio::time::timeout(STUCK, async {
        loop {
            if let Msg::PresenceDiff(d) = client.recv().await {
                let done = pred(&d);
                seen.push(d);
                if done {
                    return;
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("stuck waiting for a presence diff; saw {seen:?}"));
    seen
}

/// Polls a condition on a node's state until it holds (bounded by `STUCK`).
async fn until(mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < STUCK, "stuck waiting for a node's state");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn names(list: &[PresenceInfo]) -> Vec<&str> {
    list.iter().map(|p| p.user_id.as_str()).collect()
}

fn joined(d: &ui_flow::PresenceDiff, user: &str) -> bool {
    d.joined.iter().any(|p| p.user_id == user)
}

fn updated_to(d: &ui_flow::PresenceDiff, user: &str, status: PresenceStatus) -> bool {
    d.updated
        .iter()
        .any(|p| p.user_id == user && p.status == status)
}

fn presence_ping(status: PresenceStatus) -> ClientMessage<String> {
    ClientMessage::Ping {
        ts: 1,
        presence: Some(status),
    }
}

/// Sends a Ping and reads up to its Pong: everything sent before it has
/// been applied by the node.
async fn barrier(client: &mut Client) {
    client
        .send(&ClientMessage::<String>::Ping {
            ts: 7,
            presence: None,
        })
        .await;
    tokio::time::timeout(STUCK, async {
        while !matches!(client.recv().await, Msg::Pong { client_ts: 7, .. }) {}
    })
    .await
    .expect("stuck waiting for the pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_tabs_on_two_nodes_is_one_entry_until_both_close() {
    let nats = NatsServer::start().expect("nats-server");
    let (a, b, c) = (node(&nats).await, node(&nats).await, node(&nats).await);
    let (mut olga, _) = join(&c, "olga").await;

    // alice's first tab, on A, hidden: the others see her away.
    let (mut tab1, _) = join(&a, "alice").await;
    diff_until(&mut olga, |d| joined(d, "alice")).await;
    tab1.send(&presence_ping(PresenceStatus::Away)).await;
    diff_until(&mut olga, |d| updated_to(d, "alice", PresenceStatus::Away)).await;

    // Her second tab, on B, is active: C merges both nodes' entries into
    // one, active.
    let (tab2, on_b) = join(&b, "alice").await;
    assert_eq!(names(&on_b).iter().filter(|u| **u == "alice").count(), 1);
    diff_until(&mut olga, |d| {
        updated_to(d, "alice", PresenceStatus::Active)
    })
    .await;
    let (_pete, list) = join(&c, "pete").await;
    assert_eq!(
        names(&list),
        ["alice", "olga", "pete"],
        "one entry for alice across nodes"
    );
    assert_eq!(c.server.session("room").presence().len(), 3);

    // Closing the tab on A keeps her: A's "left" is followed, on the same
    // connection, by zed joining on A, and nothing between says she left.
    drop(tab1);
    until(|| a.server.session("room").connection_count() == 0).await;
    let (_zed, _) = join(&a, "zed").await;
    let diffs = diff_until(&mut olga, |d| joined(d, "zed")).await;
    assert!(
        diffs.iter().all(|d| !d.left.iter().any(|u| u == "alice")),
        "{diffs:?}"
    );
    assert!(names(&c.server.session("room").presence()).contains(&"alice"));

    // Closing the tab on B too: she leaves.
    drop(tab2);
    diff_until(&mut olga, |d| d.left.iter().any(|u| u == "alice")).await;
    assert!(!names(&c.server.session("room").presence()).contains(&"alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_goes_silent_takes_its_users_out_of_presence() {
    let nats = NatsServer::start().expect("nats-server");
    let mut a = node(&nats).await;
    let b = node(&nats).await;
    let (mut olga, _) = join(&b, "olga").await;
    let (_alice, _) = join(&a, "alice").await;
    diff_until(&mut olga, |d| joined(d, "alice")).await;

    // A's mesh stops without a goodbye; alice's socket to A stays open.
    let died = Instant::now();
    drop(a.mesh.take());
    diff_until(&mut olga, |d| d.left.iter().any(|u| u == "alice")).await;
    eprintln!(
        "a silent node's user left the others' presence after {:?} (bound: expire_after + heartbeat = 4 s)",
        died.elapsed()
    );
    assert_eq!(names(&b.server.session("room").presence()), ["olga"]);
    // A itself still serves alice.
    assert_eq!(a.server.session("room").connection_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_crosses_nodes() {
    let nats = NatsServer::start().expect("nats-server");
    let (a, b) = (node(&nats).await, node(&nats).await);
    let (mut alice, _) = join(&a, "alice").await;
    let (mut bob, _) = join(&b, "bob").await;
    diff_until(&mut alice, |d| joined(d, "bob")).await;

    let offer = SignalPayload::Offer {
        sdp: "v=0 from alice".into(),
    };
    alice
        .send(&ClientMessage::<String>::Signal {
            target_user_id: "bob".into(),
            signal: offer.clone(),
        })
        .await;
    let got = tokio::time::timeout(STUCK, async {
        loop {
            if let Msg::Signal {
                from_user_id,
                signal,
            } = bob.recv().await
            {
                return (from_user_id, signal);
            }
        }
    })
    .await
    .expect("stuck waiting for the signal");
    assert_eq!(got, ("alice".to_owned(), offer));

    // Nobody called carol is on any node: the sender is told, as on one node.
    alice
        .send(&ClientMessage::<String>::Signal {
            target_user_id: "carol".into(),
            signal: SignalPayload::Offer { sdp: "v=0".into() },
        })
        .await;
    let m = tokio::time::timeout(STUCK, async {
        loop {
            let m = alice.recv().await;
            if common::error_code(&m).is_some() {
                return m;
            }
        }
    })
    .await
    .expect("stuck waiting for the error");
    assert_eq!(
        common::error_code(&m),
        Some(("unknown_target".to_owned(), false))
    );
}

async fn subscribe(client: &mut Client, domain: &str) {
    client
        .send(&ClientMessage::<String>::Subscribe {
            domains: vec![domain.to_owned()],
        })
        .await;
    barrier(client).await;
}

async fn next_notify(client: &mut Client) -> String {
    tokio::time::timeout(STUCK, async {
        loop {
            if let Msg::Notify { event, .. } = client.recv().await {
                return event.as_str().expect("a string event").to_owned();
            }
        }
    })
    .await
    .expect("stuck waiting for a notification")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_cross_nodes_and_are_filtered_where_they_arrive() {
    let nats = NatsServer::start().expect("nats-server");
    let (a, b, c) = (node(&nats).await, node(&nats).await, node(&nats).await);
    let (mut bob, _) = join(&b, "bob").await;
    let (mut carol, _) = join(&c, "carol").await;
    // A reaches both: its user's arrival is seen on B and C.
    let (_alice, _) = join(&a, "alice").await;
    diff_until(&mut bob, |d| joined(d, "alice")).await;
    diff_until(&mut carol, |d| joined(d, "alice")).await;
    subscribe(&mut bob, "alerts").await;
    subscribe(&mut carol, "alerts").await;

    // Sent on A, which has no connection of bob's.
    let room = a.server.session("room");
    room.notify_user("bob", "alerts", &"for bob".to_owned(), None)
        .expect("notify");
    assert_eq!(next_notify(&mut bob).await, "for bob");

    // A broadcast for carol only: A cannot filter for users it does not
    // have, so C's filter lets carol's through and B's keeps bob's back.
    room.broadcast_notify("alerts", &"only:carol".to_owned(), None)
        .expect("notify");
    assert_eq!(next_notify(&mut carol).await, "only:carol");
    room.notify_user("bob", "alerts", &"after".to_owned(), None)
        .expect("notify");
    assert_eq!(
        next_notify(&mut bob).await,
        "after",
        "bob got carol's event"
    );
}

/// `GET /healthz`: the status code and the body.
async fn health(addr: SocketAddr) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).await.expect("read");
    let code = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (code, body)
}

/// Polls `/healthz` until `want`, failing after `within`.
async fn health_becomes(addr: SocketAddr, want: u16, within: Duration) -> (String, Duration) {
    let start = Instant::now();
    loop {
        let (code, body) = health(addr).await;
        if code == want {
            return (body, start.elapsed());
        }
        assert!(
            start.elapsed() < within,
            "/healthz still {code} {body:?} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_goes_red_without_nats_and_presence_resyncs_after() {
    let mut nats = NatsServer::start().expect("nats-server");
    let (a, b) = (node(&nats).await, node(&nats).await);
    let (mut alice, _) = join(&a, "alice").await;
    let (_bob, _) = join(&b, "bob").await;
    diff_until(&mut alice, |d| joined(d, "bob")).await;
    let (body, _) = health_becomes(a.addr, 200, STUCK).await;
    assert_eq!(body, "ok");

    nats.kill();
    // The bound: red within 10 s of the path stopping.
    let (body, took) = health_becomes(a.addr, 503, Duration::from_secs(10)).await;
    eprintln!("/healthz went red {took:?} after nats-server was killed: {body}");
    assert!(body.starts_with("degraded: nats:"), "{body}");
    assert_eq!(health(b.addr).await.0, 503);
    // Without NATS, A cannot vouch for bob any more.
    diff_until(&mut alice, |d| d.left.iter().any(|u| u == "bob")).await;
    // A keeps serving its own connections meanwhile.
    barrier(&mut alice).await;

    nats.restart().expect("restart nats-server");
    let (body, took) = health_becomes(a.addr, 200, STUCK).await;
    eprintln!("/healthz green again {took:?} after nats-server came back");
    assert_eq!(body, "ok");
    // B's next heartbeat brings bob back.
    diff_until(&mut alice, |d| joined(d, "bob")).await;
    assert_eq!(
        names(&a.server.session("room").presence()),
        ["alice", "bob"]
    );
}

/// A broker set before the mesh: records the last delta seq it was given,
/// and is unhealthy on demand.
#[derive(Clone, Default)]
struct Earlier {
    last: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
}

impl Broker for Earlier {
    fn publish(&self, publication: Publication<'_>) {
        if let Publication::Deltas { last, .. } = publication {
            self.last.store(last, SeqCst);
        }
    }

    fn health(&self) -> Result<(), String> {
        if self.down.load(SeqCst) {
            Err("earlier broker down".into())
        } else {
            Ok(())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mesh_passes_deltas_and_health_on_to_the_broker_set_before_it() {
    let nats = NatsServer::start().expect("nats-server");
    let server = FlowServer::with_config(Gate, UnverifiedUserToken, ServerConfig::default());
    let earlier = Earlier::default();
    server.set_broker(earlier.clone());
    let _mesh = NatsMesh::join(&server, &nats.url(), MeshConfig::default())
        .await
        .expect("join the mesh");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = server.router().merge(server.health_router());
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(listener, app).await });
    let (_alice, _) = Client::join(addr, "room", "alice").await;

    server
        .session("room")
        .broadcast_delta(&"x".to_owned(), 1)
        .expect("broadcast");
    assert_eq!(earlier.last.load(SeqCst), 1);

    assert_eq!(health(addr).await, (200, "ok".to_owned()));
    earlier.down.store(true, SeqCst);
    assert_eq!(
        health(addr).await,
        (503, "degraded: earlier broker down".to_owned())
    );
}

/// The presence every node shows, sorted.
fn views(nodes: &[&Node]) -> Vec<Vec<String>> {
    nodes
        .iter()
        .map(|n| {
            n.server
                .session("room")
                .presence()
                .into_iter()
                .map(|p| p.user_id)
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_converges_on_the_same_list_through_joins_and_leaves() {
    let nats = NatsServer::start().expect("nats-server");
    let (a, b, c) = (node(&nats).await, node(&nats).await, node(&nats).await);
    let nodes = [&a, &b, &c];
    // One observer per node keeps each node's session open.
    let mut keep = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        keep.push(join(n, &format!("obs{i}")).await.0);
    }
    // 12 users; the even ones have a tab on two nodes.
    let mut tabs: Vec<(usize, Client)> = Vec::new();
    for u in 0..12usize {
        let user = format!("u{u:02}");
        tabs.push((u, join(nodes[u % 3], &user).await.0));
        if u % 2 == 0 {
            tabs.push((u, join(nodes[(u + 1) % 3], &user).await.0));
        }
    }
    let expect = |users: &[usize]| -> Vec<Vec<String>> {
        let mut list: Vec<String> = (0..3).map(|i| format!("obs{i}")).collect();
        list.extend(users.iter().map(|u| format!("u{u:02}")));
        list.sort();
        vec![list; 3]
    };
    let all: Vec<usize> = (0..12).collect();
    until(|| views(&nodes) == expect(&all)).await;

    // Every user closes their first tab: only the even ones remain (their
    // second tab is on another node).
    let mut seen = std::collections::HashSet::new();
    tabs.retain(|(u, _)| !seen.insert(*u));
    let evens: Vec<usize> = (0..12).step_by(2).collect();
    until(|| views(&nodes) == expect(&evens)).await;

    // And the rest: only the observers.
    tabs.clear();
    until(|| views(&nodes) == expect(&[])).await;
    drop(keep);
}
