//! Cross-node latency on a NATS mesh: a `Signal` from a client on node A to
//! a client on node B, and a join on A seen by a client on B.
//!
//! ```text
//! cargo run --release -p ui-flow-server --features nats --example mesh_latency -- [--signals 2000] [--joins 200]
//! ```
//!
//! Starts a real nats-server (`ui-flow-nats-harness`: Debian's
//! `nats-server` on PATH) on a loopback port and two nodes in this process;
//! everything stops by itself. One clock for sender and receiver, so the
//! latencies are receive time − send time.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use ui_flow::codec::Decoded;
use ui_flow::{ClientMessage, ServerMessage, SignalPayload};
use ui_flow_nats_harness::NatsServer;
use ui_flow_server::counter::Counter;
use ui_flow_server::nats::{MeshConfig, NatsMesh};
use ui_flow_server::{FlowServer, RateLimit, ServerConfig, UnverifiedUserToken};

type Msg = ServerMessage<rmpv::Value, rmpv::Value, rmpv::Value>;
type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn node(nats: &NatsServer) -> (FlowServer<Counter>, NatsMesh, std::net::SocketAddr) {
    // The per-connection frame limit would drop a sender that waits for
    // nothing but the previous signal's arrival.
    let mut config = ServerConfig::default();
    config.rate_limit = RateLimit {
        per_second: 1e6,
        burst: 1_000_000,
    };
    let server = FlowServer::with_config(Counter, UnverifiedUserToken, config);
    let mesh = NatsMesh::join(&server, &nats.url(), MeshConfig::default())
        .await
        .expect("join the mesh");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = server.router();
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(listener, app).await });
    (server, mesh, addr)
}

async fn connect(addr: std::net::SocketAddr, user: &str) -> Ws {
    let url = format!("ws://{addr}/realtime/room?token={user}");
    tokio_tungstenite::connect_async(url)
        .await
        .expect("connect")
        .0
}

async fn next(ws: &mut Ws) -> Msg {
    loop {
        match ws.next().await.expect("open").expect("frame") {
            Message::Binary(b) => {
                if let Ok(Decoded::Message(m)) = Msg::decode(&b) {
                    return m;
                }
            }
            _ => continue,
        }
    }
}

fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    ticks as f64 / 100.0
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what}: n={} p50={:.2} ms p99={:.2} ms max={:.2} ms",
        samples.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() {
    let (mut signals, mut joins) = (2000usize, 200usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse().ok());
        match arg.as_str() {
            "--signals" => signals = value.expect("--signals N"),
            "--joins" => joins = value.expect("--joins N"),
            other => panic!("unknown argument {other}"),
        }
    }
    let nats = NatsServer::start().expect("nats-server");
    let (_a, _mesh_a, addr_a) = node(&nats).await;
    let (_b, _mesh_b, addr_b) = node(&nats).await;
    let mut bob = connect(addr_b, "bob").await;
    let mut alice = connect(addr_a, "alice").await;
    // alice's node knows bob once her list or a diff names him.
    loop {
        match next(&mut alice).await {
            Msg::Presence { users } if users.iter().any(|u| u.user_id == "bob") => break,
            Msg::PresenceDiff(d) if d.joined.iter().any(|u| u.user_id == "bob") => break,
            _ => {}
        }
    }

    let signal = ClientMessage::<()>::Signal {
        target_user_id: "bob".into(),
        signal: SignalPayload::Offer {
            sdp: "v=0 o=- 0 0 IN IP4 127.0.0.1".into(),
        },
    }
    .encode()
    .expect("encode");
    let mut samples = Vec::with_capacity(signals);
    let cpu = cpu_secs();
    for _ in 0..signals {
        let sent = Instant::now();
        alice
            .send(Message::Binary(signal.clone().into()))
            .await
            .expect("send");
        while !matches!(next(&mut bob).await, Msg::Signal { .. }) {}
        samples.push(sent.elapsed());
    }
    let cpu = cpu_secs() - cpu;
    report("signal A->B, send to receive", samples);
    println!(
        "  process CPU (both nodes, both clients, not nats-server): {:.0} us per signal",
        cpu * 1e6 / signals as f64
    );

    let mut samples = Vec::with_capacity(joins);
    for i in 0..joins {
        let user = format!("p{i}");
        let started = Instant::now();
        let joiner = connect(addr_a, &user).await;
        loop {
            if let Msg::PresenceDiff(d) = next(&mut bob).await {
                if d.joined.iter().any(|u| u.user_id == user) {
                    break;
                }
            }
        }
        samples.push(started.elapsed());
        drop(joiner);
        loop {
            if let Msg::PresenceDiff(d) = next(&mut bob).await {
                if d.left.contains(&user) {
                    break;
                }
            }
        }
    }
    report(
        "join on A seen on B, from connect (includes WebSocket handshake and the 50 ms presence batch)",
        samples,
    );
}
