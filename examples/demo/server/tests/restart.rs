//! The demo server with its worlds on disk, killed with SIGKILL in the
//! middle of a burst of actions, twenty times, and started again on the same
//! folder each time. Three native ui-flow clients keep acting throughout.
//!
//! What must hold: the store always reopens; every client resumes every time
//! with `Deltas` (it is sent exactly one snapshot, at its first join, so the
//! epoch never changed); the seqs it applies run 1, 2, 3... with no gap and
//! no repeat; no acknowledged action is lost and none is applied twice (each
//! `ActionOk` for a move is exactly one `Moved` delta of that player, and
//! every action ends with exactly one outcome).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use demo_world::{Hex, World, WorldAction, WorldDelta, WorldModel};
use tokio::sync::watch;
use ui_flow::client::{ClientConfig, OpState};
use ui_flow::{FlowConnection, OpId};

/// A safety net so a broken test fails instead of hanging; never an
/// assertion about speed.
const STUCK: Duration = Duration::from_secs(60);
const KILLS: usize = 20;
const PLAYERS: usize = 3;
/// Outcomes to wait for between two kills.
const ACKS_PER_ROUND: usize = 6;

/// A demo server process on `data`.
struct Server {
    child: Child,
}

impl Server {
    /// Starts the demo server on `addr` (port 0: any) and returns once it
    /// listens, with the address it listens on.
    fn start(addr: SocketAddr, data: &Path) -> (Server, SocketAddr) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_demo-server"))
            .args([
                "--addr",
                &addr.to_string(),
                "--site",
                "/nonexistent",
                // Resuming with deltas is what this test checks; with fog
                // of war a view resumes with a snapshot.
                "--no-fog",
                "--data",
            ])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the demo server starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout);
        let mut first = String::new();
        lines.read_line(&mut first).expect("the first line");
        // Keep reading, so the server's later lines never meet a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
        let listening = first
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|rest| rest.strip_suffix('/'))
            .unwrap_or_else(|| panic!("the demo server did not start: {first:?}"));
        let addr = listening.parse().expect("an address");
        (Server { child }, addr)
    }

    /// SIGKILL: no goodbye to anyone, no chance to flush anything.
    fn kill(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

fn data_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("demo-restart-{}-{nanos}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_twenty_times_mid_burst_every_client_resumes_with_deltas_and_loses_nothing() {
    let data = data_dir();
    let (mut server, addr) = Server::start("127.0.0.1:0".parse().expect("addr"), &data);
    let (acks, mut acked) = watch::channel(0usize);
    let (events, mut heard) = watch::channel(0usize);
    let mut players: Vec<Player> = (0..PLAYERS)
        .map(|i| {
            Player::connect(
                addr,
                &format!("p{i}"),
                7 + i as u64,
                acks.clone(),
                events.clone(),
            )
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
    for kill in 0..KILLS {
        // A burst: keep every player acting until enough outcomes arrived,
        // then kill the server with actions still in flight.
        let target = *acked.borrow() + ACKS_PER_ROUND;
        let deadline = Instant::now() + STUCK;
        while *acked.borrow_and_update() < target {
            assert!(
                Instant::now() < deadline,
                "no outcomes arrive (kill {kill}, {} acks, statuses {:?}, unresolved {:?})",
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
            // Send more as outcomes come back (or every 50 ms of silence).
            let _ = tokio::time::timeout(Duration::from_millis(50), acked.changed()).await;
        }
        server.kill();
        server = Server::start(addr, &data).0;
    }
    // Quiet: every action ends, every client reaches the same head.
    for p in &players {
        until(&mut heard, "every action's outcome", || p.unresolved() == 0).await;
    }
    // The steward may still commit (items, departures): wait for one head.
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
            "{}: every reconnect resumed with Deltas, same epoch",
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
            .skip(1) // the Enter
            .filter(|op| seen.outcomes.get(op) == Some(&vec![true]))
            .count();
        assert_eq!(
            seen.own_moves, moves_ok,
            "{}: each acknowledged move is exactly one Moved delta (none lost, none twice)",
            p.user
        );
        assert!(moves_ok > 0, "{}: the test moved", p.user);
    }
    drop(players);
    server.kill();
    let _ = std::fs::remove_dir_all(&data);
}
