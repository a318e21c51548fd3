//! What the demo's kill tests share: a `demo-server` child process, and
//! native players that keep moving while the server under them dies, with
//! the checks that nothing was lost.
//!
//! Used by `restart.rs` (one server on a data folder, killed and restarted)
//! and `cluster.rs` (nodes on NATS, one killed while another takes over).

#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use demo_world::{Hex, World, WorldAction, WorldDelta, WorldModel};
use tokio::sync::watch;
use ui_flow::client::{ClientConfig, OpState};
use ui_flow::{FlowConnection, OpId};

/// A safety net so a broken test fails instead of hanging; never an
/// assertion about speed.
pub const STUCK: Duration = Duration::from_secs(60);

/// A `demo-server` child process.
pub struct DemoServer {
    child: Child,
}

impl DemoServer {
    /// Starts the demo server with `args` (after `--site /nonexistent
    /// --no-fog`: without fog every player sees the whole world, so a resume
    /// is answered with deltas, which is what the kill tests check) and
    /// returns once it listens, with the address it listens on.
    pub fn start<I, S>(args: I) -> (DemoServer, SocketAddr)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = Command::new(env!("CARGO_BIN_EXE_demo-server"))
            .args(["--site", "/nonexistent", "--no-fog"])
            .args(args)
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
        (DemoServer { child }, addr)
    }

    /// SIGKILL: no goodbye to anyone, no chance to flush anything.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaped");
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one client saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub snapshots: usize,
    /// Every seq applied, in order.
    pub seqs: Vec<u64>,
    /// `Moved` deltas of this client's own player.
    pub own_moves: usize,
    /// Final outcomes, per op.
    pub outcomes: HashMap<OpId, Vec<bool>>,
}

pub struct Player {
    pub user: String,
    pub conn: FlowConnection<WorldModel>,
    pub seen: Arc<Mutex<Seen>>,
    pub sent: Vec<OpId>,
}

pub fn config(seed: u64) -> ClientConfig {
    ClientConfig {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        seed,
        ..ClientConfig::default()
    }
}

impl Player {
    /// `acks` counts outcomes; `events` counts every callback.
    pub fn connect(
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
    pub fn step(&mut self, round: usize) {
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

    pub fn unresolved(&self) -> usize {
        let outcomes = &self.seen.lock().expect("lock").outcomes;
        self.sent
            .iter()
            .filter(|op| !outcomes.contains_key(op))
            .count()
    }
}

/// Waits until `done` holds, re-checking whenever a client reports
/// anything (a snapshot, a delta, an outcome).
pub async fn until(
    events: &mut watch::Receiver<usize>,
    what: &str,
    mut done: impl FnMut() -> bool,
) {
    let deadline = tokio::time::Instant::now() + STUCK;
    while !done() {
        let changed = tokio::time::timeout_at(deadline, events.changed()).await;
        assert!(matches!(changed, Ok(Ok(()))), "stuck waiting for {what}");
    }
}

/// Every player enters the world (their first action).
pub fn enter_all(players: &mut [Player]) {
    for p in players {
        let op = p
            .conn
            .send_action(WorldAction::Enter {
                name: p.user.to_uppercase(),
            })
            .expect("enter");
        p.sent.push(op);
    }
}

/// A burst: keeps every player acting (at most three actions in flight
/// each) until `more` further outcomes arrived; returns with actions still
/// in flight. `round` advances the players' steps.
pub async fn burst(
    players: &mut [Player],
    acked: &mut watch::Receiver<usize>,
    more: usize,
    round: &mut usize,
    what: &str,
) {
    let target = *acked.borrow() + more;
    let deadline = Instant::now() + STUCK;
    while *acked.borrow_and_update() < target {
        assert!(
            Instant::now() < deadline,
            "no outcomes arrive ({what}, {} acks, statuses {:?}, unresolved {:?})",
            *acked.borrow(),
            players.iter().map(|p| p.conn.status()).collect::<Vec<_>>(),
            players.iter().map(Player::unresolved).collect::<Vec<_>>(),
        );
        for p in players.iter_mut() {
            if p.unresolved() < 3 {
                p.step(*round);
            }
        }
        *round += 1;
        // Send more as outcomes come back (or every 50 ms of silence).
        let _ = tokio::time::timeout(Duration::from_millis(50), acked.changed()).await;
    }
}

/// Waits until every action has its outcome and every client holds the
/// same world at the same head (the steward may still commit items and
/// departures meanwhile).
pub async fn settle(players: &[Player], heard: &mut watch::Receiver<usize>) {
    for p in players {
        until(heard, "every action's outcome", || p.unresolved() == 0).await;
    }
    until(heard, "every client at one head with one world", || {
        let seqs: Vec<Option<u64>> = players.iter().map(|p| p.conn.seq()).collect();
        let states: Vec<World> = players.iter().map(|p| p.conn.state()).collect();
        seqs[0].is_some()
            && seqs.windows(2).all(|w| w[0] == w[1])
            && states.windows(2).all(|w| w[0] == w[1])
    })
    .await;
}

/// What must hold after the kills, for every player: one snapshot (its
/// first join, so every resume was `Deltas` in the same epoch); applied
/// seqs 1, 2, 3... with no gap and no repeat; exactly one outcome per
/// action; each acknowledged move exactly one `Moved` delta of its own
/// (none lost, none applied twice); and at least one move acknowledged.
pub fn assert_nothing_lost(players: &[Player]) {
    for p in players {
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
}
