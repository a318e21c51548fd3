//! Server CPU per committed delta with 1, 10 and 100 distinct views over the
//! same number of WebSocket connections, side by side in one run.
//!
//! ```text
//! cargo run --release -p ui-flow-server --example views -- [CONNECTIONS] [DELTAS]
//! ```
//!
//! For each view count V it starts a server on 127.0.0.1 whose whole
//! runtime (commits, projection, encoding, fan-out, socket writes) runs on
//! one thread, joins CONNECTIONS clients (default 1,000; connection i has
//! view `i % V`) from a runtime on other threads, then commits DELTAS deltas
//! (default 200) back to back. Every delta changes every view (projected as
//! a delta of its own per view, so each view costs a projection and an
//! encoding), and every client must receive every delta. It prints the
//! server thread's CPU time (from `/proc/thread-self/schedstat`) per delta
//! and per delivered frame, and the view frames encoded per delta.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use ui_flow::codec::Decoded;
use ui_flow::{FlowState, ServerMessage};
use ui_flow_server::{
    ActionContext, ActionOutcome, FlowHandler, FlowServer, Identity, Projected, ServerConfig,
    UnverifiedUserToken, ViewKey,
};

/// A counter per view.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Counters(Vec<u64>);

/// `Bump(None)` bumps every view's counter; a view sees `Bump(Some(i))`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Bump(Option<usize>);

impl FlowState for Counters {
    type Delta = Bump;
    fn apply_delta(&mut self, bump: Bump) {
        match bump.0 {
            Some(i) => {
                if self.0.len() <= i {
                    self.0.resize(i + 1, 0);
                }
                self.0[i] += 1;
            }
            None => self.0.iter_mut().for_each(|c| *c += 1),
        }
    }
}

struct Bench {
    views: usize,
}

fn view_index(view: &ViewKey) -> usize {
    view.name().and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// The payload types of [`Bench`].
struct BenchModel;

impl ui_flow::Model for BenchModel {
    type State = Counters;
    type Delta = Bump;
    type Event = ();
    type Action = ();
}

#[async_trait]
impl FlowHandler for Bench {
    type Model = BenchModel;

    async fn initial_state(&self, _: &str) -> Result<Counters, ui_flow_server::BoxError> {
        Ok(Counters(vec![0; self.views]))
    }

    async fn handle_action(&self, _: &ActionContext<Self>, _: ()) -> ActionOutcome {
        ActionOutcome::ok()
    }

    fn view(&self, user: &Identity, _: &str) -> ViewKey {
        let n: usize = user.user_id[1..].parse().unwrap_or(0);
        ViewKey::new((n % self.views).to_string())
    }

    fn project_state(&self, view: &ViewKey, state: &Counters) -> Counters {
        let i = view_index(view);
        let mut seen = vec![0; i + 1];
        seen[i] = state.0.get(i).copied().unwrap_or(0);
        Counters(seen)
    }

    fn project_delta(
        &self,
        view: &ViewKey,
        _before: &Counters,
        _after: &Counters,
        _bump: &Bump,
    ) -> Projected<Bump> {
        Projected::Deltas(vec![Bump(Some(view_index(view)))])
    }
}

/// This thread's CPU time so far, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

struct Run {
    cpu_ns: u64,
    view_frames: u64,
}

fn run(views: usize, connections: usize, deltas: usize) -> Run {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = oneshot::channel::<oneshot::Receiver<()>>();
    let (result_tx, result_rx) = std::sync::mpsc::channel();
    let server_thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let mut config = ServerConfig::default();
            config.max_connections = connections + 10;
            config.join_rate.burst = connections as u32 + 10;
            config.join_rate_per_ip.burst = connections as u32 + 10;
            config.ping_interval = std::time::Duration::from_secs(3600);
            config.liveness_timeout = std::time::Duration::from_secs(3600);
            let server = FlowServer::with_config(Bench { views }, UnverifiedUserToken, config);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            addr_tx
                .send(listener.local_addr().expect("addr"))
                .expect("send");
            let app = server.router();
            let serving = server.clone();
            tokio::spawn(async move { serving.serve(listener, app).await });
            let all_received = go_rx.await.expect("go");
            let room = server.session("room");
            let frames_before = server.view_frame_count();
            let cpu = thread_cpu_ns();
            for _ in 0..deltas {
                room.commit(Bump(None)).await.expect("commit");
            }
            all_received
                .await
                .expect("every client received every delta");
            let cpu_ns = thread_cpu_ns() - cpu;
            result_tx
                .send(Run {
                    cpu_ns,
                    view_frames: server.view_frame_count() - frames_before,
                })
                .expect("send");
        });
    });
    let addr = addr_rx.recv().expect("addr");
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let run = clients.block_on(async move {
        let done = Arc::new(AtomicUsize::new(0));
        let (all_tx, all_rx) = oneshot::channel();
        let all_tx = Arc::new(std::sync::Mutex::new(Some(all_tx)));
        for i in 0..connections {
            let url = format!("ws://{addr}/realtime/room?token=u{i}");
            let (mut ws, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("connect");
            // Wait for the snapshot, so every client is in before the commits.
            loop {
                let Some(Ok(Message::Binary(b))) = ws.next().await else {
                    continue;
                };
                if let Ok(Decoded::Message(
                    ServerMessage::<rmpv::Value, rmpv::Value, ()>::Snapshot { .. },
                )) = ServerMessage::decode(&b)
                {
                    break;
                }
            }
            let (done, all_tx) = (done.clone(), all_tx.clone());
            tokio::spawn(async move {
                let mut seen = 0;
                while seen < deltas {
                    let Some(Ok(Message::Binary(b))) = ws.next().await else {
                        panic!("a connection ended");
                    };
                    if let Ok(Decoded::Message(
                        ServerMessage::<rmpv::Value, rmpv::Value, ()>::Delta { .. },
                    )) = ServerMessage::decode(&b)
                    {
                        seen += 1;
                    }
                }
                if done.fetch_add(1, Ordering::SeqCst) + 1 == connections {
                    if let Some(tx) = all_tx.lock().expect("lock").take() {
                        let _ = tx.send(());
                    }
                }
                // Keep the socket open until the run ends.
                while ws.next().await.is_some() {}
            });
        }
        go_tx.send(all_rx).expect("go");
        tokio::task::spawn_blocking(move || result_rx.recv().expect("result"))
            .await
            .expect("join")
    });
    drop(clients);
    server_thread.join().expect("the server thread");
    run
}

fn main() {
    let mut args = std::env::args().skip(1);
    let connections: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let deltas: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    println!("{connections} connections, {deltas} deltas, every delta changes every view");
    println!(
        "| distinct views | server CPU per delta | per delivered frame | view frames encoded per delta |"
    );
    println!("|---:|---:|---:|---:|");
    for views in [1, 10, 100] {
        let started = Instant::now();
        let run = run(views, connections, deltas);
        let per_delta = run.cpu_ns as f64 / deltas as f64;
        println!(
            "| {views} | {:.0} µs | {:.2} µs | {:.1} |",
            per_delta / 1000.0,
            per_delta / connections as f64 / 1000.0,
            run.view_frames as f64 / deltas as f64,
        );
        eprintln!("(views {views}: {:.1} s)", started.elapsed().as_secs_f64());
    }
}
