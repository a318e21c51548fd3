//! The client core against the server's sans-IO hub, on one virtual clock,
//! with no sockets and no runtime (the shape of quinn's `Pair` tests).
//!
//! Property: whatever the interleaving of application changes, actions,
//! partial deliveries in both directions, slow application work (snapshots
//! and actions answered late, so deltas race them), dropped connections,
//! refused dials, passing time (with the hub's own timers: server pings,
//! the pong deadline, liveness, close grace, presence batching), networks
//! that freeze (a peer that stops answering) and server restarts (graceful
//! or a crash, each losing the hub's op memory while the application's data
//! survives),
//! once the network settles every client holds the application's journal at
//! its seq, its event stream had no gap and no repeat, every action settled
//! exactly once at the client, and no server incarnation ran an action twice.

#![cfg(not(target_arch = "wasm32"))]

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use ui_flow::client::{Client, ClientConfig, Event, SocketCommand, SocketId};
use ui_flow::{CloseCode, OpId};
use ui_flow_client_tests::journal::{Appended, Entry, Journal, JournalAction, JournalModel};
use ui_flow_client_tests::server::EPOCH;
use ui_flow_server::hub::{ConnectionId, Departure, HandshakeError, Hub, Now, Request, Transmit};
use ui_flow_server::{ActionOutcome, Identity, RateLimit, ServerConfig};

const ROOM: &str = "room";
const CLIENTS: usize = 3;

type TestClient = Client<JournalModel>;

#[derive(Debug, Clone)]
enum Step {
    /// The application changes the journal (not a client action).
    AppAppend,
    /// A client sends an action.
    Act { client: usize, optimistic: bool },
    /// Up to n frames travel, towards the server or towards the client.
    Deliver { client: usize, up: bool, n: usize },
    /// The application finishes up to n pieces of requested work.
    Work(usize),
    /// A client's connection breaks without a close frame.
    Drop(usize),
    /// A client's pending dial is accepted or fails.
    Dial { client: usize, accept: bool },
    /// Time passes for everyone.
    Wait(u64),
    /// A client's network freezes (nothing moves either way, pings go
    /// unanswered) or thaws.
    Freeze { client: usize, frozen: bool },
    /// The server restarts: gracefully (shutdown, then the closes arrive)
    /// or by crashing (connections just break).
    Restart { graceful: bool },
}

fn step() -> impl Strategy<Value = Step> {
    let client = 0..CLIENTS;
    prop_oneof![
        3 => Just(Step::AppAppend),
        3 => (client.clone(), any::<bool>()).prop_map(|(client, optimistic)| Step::Act { client, optimistic }),
        8 => (client.clone(), any::<bool>(), 1usize..5).prop_map(|(client, up, n)| Step::Deliver { client, up, n }),
        3 => (1usize..4).prop_map(Step::Work),
        1 => client.clone().prop_map(Step::Drop),
        3 => (client, prop::bool::weighted(0.8)).prop_map(|(client, accept)| Step::Dial { client, accept }),
        1 => (0u64..40_000).prop_map(Step::Wait),
        1 => (0..CLIENTS, any::<bool>()).prop_map(|(client, frozen)| Step::Freeze { client, frozen }),
        1 => any::<bool>().prop_map(|graceful| Step::Restart { graceful }),
    ]
}

/// What travels from the hub to one client.
enum Down {
    Frame(Bytes),
    Close(CloseCode),
    /// A WebSocket ping; the client's transport answers it by itself.
    Ping,
}

/// What travels from one client to the hub.
enum Up {
    Frame(Vec<u8>),
    /// The transport's answer to a ping.
    Pong,
}

/// An open connection: the client's socket, the hub's id for it, and the
/// frames in flight each way.
struct Wire {
    socket: SocketId,
    conn: ConnectionId,
    down: VecDeque<Down>,
    up: VecDeque<Up>,
}

struct Peer {
    client: TestClient,
    user: String,
    dial: Option<SocketId>,
    wire: Option<Wire>,
    /// The network is frozen: nothing is delivered either way.
    frozen: bool,
    events: Vec<Event<Journal, Appended>>,
    issued: Vec<OpId>,
}

/// The application's data, which survives server restarts (a database).
#[derive(Default)]
struct App {
    journal: Journal,
    seq: u64,
    done: HashMap<OpId, u64>,
    next_value: u32,
}

impl App {
    fn push(&mut self, value: u32) -> u64 {
        self.journal.entries.push(value);
        self.seq += 1;
        self.seq
    }

    fn value(&mut self) -> u32 {
        self.next_value += 1;
        self.next_value
    }
}

struct Sim {
    now: Now,
    hub: Hub<JournalModel>,
    incarnation: u32,
    app: App,
    work: VecDeque<Request<JournalAction>>,
    /// (incarnation, op) → how many times a hub asked the app to run it.
    runs: HashMap<(u32, OpId), usize>,
    peers: Vec<Peer>,
}

fn hub() -> Hub<JournalModel> {
    let mut config = ServerConfig::default();
    config.rate_limit = RateLimit {
        per_second: 1e9,
        burst: u32::MAX,
    };
    Hub::new(config, EPOCH)
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let now = Now::system();
        let peers = (0..CLIENTS)
            .map(|i| {
                let config = ClientConfig {
                    seed: seed.wrapping_add(i as u64),
                    queue_bound: 10_000,
                    ..ClientConfig::default()
                };
                Peer {
                    client: TestClient::new(config, now.instant).expect("valid"),
                    user: format!("user{i}"),
                    dial: None,
                    wire: None,
                    frozen: false,
                    events: Vec::new(),
                    issued: Vec::new(),
                }
            })
            .collect();
        let mut sim = Sim {
            now,
            hub: hub(),
            incarnation: 0,
            app: App::default(),
            work: VecDeque::new(),
            runs: HashMap::new(),
            peers,
        };
        sim.pump();
        sim
    }

    /// Drains every output of every machine until nothing moves.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.peers.len() {
                while let Some(command) = self.peers[i].client.poll_socket() {
                    moved = true;
                    self.socket_command(i, command);
                }
                let peer = &mut self.peers[i];
                while let Some(frame) = peer.client.poll_transmit() {
                    moved = true;
                    let wire = peer.wire.as_mut().expect("frames only on an open socket");
                    wire.up.push_back(Up::Frame(frame));
                }
                while let Some(event) = peer.client.poll_event() {
                    peer.events.push(event);
                }
            }
            while let Some(transmit) = self.hub.poll_transmit() {
                moved = true;
                self.route(transmit);
            }
            while let Some(request) = self.hub.poll_request() {
                moved = true;
                self.work.push_back(request);
            }
            if !moved {
                return;
            }
        }
    }

    fn socket_command(&mut self, i: usize, command: SocketCommand) {
        let peer = &mut self.peers[i];
        match command {
            SocketCommand::Open(socket) => {
                assert!(
                    peer.dial.is_none() && peer.wire.is_none(),
                    "two sockets at once"
                );
                peer.dial = Some(socket);
            }
            SocketCommand::Close { socket, .. } => {
                if peer.dial == Some(socket) {
                    peer.dial = None;
                }
                if let Some(wire) = peer.wire.take_if(|w| w.socket == socket) {
                    self.hub
                        .handle_departure(self.now, wire.conn, Departure::Gone);
                }
            }
        }
    }

    fn route(&mut self, transmit: Transmit) {
        match transmit {
            Transmit::Frame { to, bytes } => {
                for conn in to.as_slice() {
                    if let Some(wire) = self.wire_of(*conn) {
                        wire.down.push_back(Down::Frame(bytes.clone()));
                    }
                }
            }
            Transmit::Close { conn, code, .. } => {
                if let Some(wire) = self.wire_of(conn) {
                    wire.down.push_back(Down::Close(code));
                }
            }
            Transmit::Ping { conn } => {
                if let Some(wire) = self.wire_of(conn) {
                    wire.down.push_back(Down::Ping);
                }
            }
            Transmit::Abort { conn } => {
                // The server drops the socket: the client sees a reset.
                let at = self.now.instant;
                if let Some(peer) = self
                    .peers
                    .iter_mut()
                    .find(|p| p.wire.as_ref().is_some_and(|w| w.conn == conn))
                {
                    let wire = peer.wire.take().expect("found by its wire");
                    peer.client.handle_close(at, wire.socket, None, "reset");
                }
                self.hub.handle_departure(self.now, conn, Departure::Gone);
            }
        }
    }

    /// The wire of a connection the hub knows, unless its client already
    /// gave it up.
    fn wire_of(&mut self, conn: ConnectionId) -> Option<&mut Wire> {
        self.peers
            .iter_mut()
            .filter_map(|p| p.wire.as_mut())
            .find(|w| w.conn == conn)
    }

    fn run(&mut self, step: Step) {
        match step {
            Step::AppAppend => {
                let value = self.app.value();
                let seq = self.app.push(value);
                let _ = self
                    .hub
                    .broadcast_delta(self.now, ROOM, &Entry { value }, seq);
            }
            Step::Act { client, optimistic } => {
                let value = self.app.value();
                let action = JournalAction::Append { value };
                let peer = &mut self.peers[client];
                let op = if optimistic {
                    peer.client.send_optimistic(action, Entry { value })
                } else {
                    peer.client.send_action(action)
                };
                peer.issued.push(op.expect("within the bound"));
            }
            Step::Deliver { client, up, n } => {
                for _ in 0..n {
                    if !self.deliver(client, up) {
                        break;
                    }
                    self.pump();
                }
            }
            Step::Work(n) => {
                for _ in 0..n {
                    let Some(request) = self.work.pop_front() else {
                        break;
                    };
                    self.answer(request);
                    self.pump();
                }
            }
            Step::Drop(client) => {
                if let Some(wire) = self.peers[client].wire.take() {
                    self.hub
                        .handle_departure(self.now, wire.conn, Departure::Gone);
                    let at = self.now.instant;
                    self.peers[client]
                        .client
                        .handle_close(at, wire.socket, None, "dropped");
                }
            }
            Step::Dial { client, accept } => {
                let Some(socket) = self.peers[client].dial.take() else {
                    return;
                };
                let at = self.now.instant;
                let user = Identity::new(self.peers[client].user.clone());
                // Dial the URL the client asks for, resume point included,
                // as the real endpoint parses it.
                let url = self.peers[client].client.dial_url("ws://sim/realtime/room");
                let resume = resume_point(&url);
                // The upgraded socket authenticates at once, through the
                // same handshake calls as the real socket task.
                let conn = self.hub.begin_handshake(self.now);
                match self
                    .hub
                    .complete_handshake(self.now, conn, ROOM, user, resume)
                {
                    Ok(()) if accept => {
                        self.peers[client].wire = Some(Wire {
                            socket,
                            conn,
                            down: VecDeque::new(),
                            up: VecDeque::new(),
                        });
                        self.peers[client].client.handle_open(at, socket);
                    }
                    Ok(()) => {
                        // Accepted, then the network failed at once.
                        self.hub.handle_departure(self.now, conn, Departure::Gone);
                        self.peers[client]
                            .client
                            .handle_close(at, socket, None, "failed");
                    }
                    Err(HandshakeError::Refused(refusal)) => {
                        // The hub queued the Error and close for a socket
                        // the simulation never wires up; the client sees
                        // the close.
                        let (_, close) = refusal.codes();
                        self.peers[client].client.handle_close(
                            at,
                            socket,
                            Some(close.0),
                            "refused",
                        );
                    }
                    Err(e) => panic!("no time passed, yet {e}"),
                }
            }
            Step::Wait(ms) => self.wait(Duration::from_millis(ms)),
            Step::Freeze { client, frozen } => self.peers[client].frozen = frozen,
            Step::Restart { graceful } => {
                if graceful {
                    self.hub.shutdown();
                    self.pump();
                    for client in 0..self.peers.len() {
                        while self.deliver(client, false) {
                            self.pump();
                        }
                    }
                }
                // Whatever is left breaks with the process.
                for client in 0..self.peers.len() {
                    if let Some(wire) = self.peers[client].wire.take() {
                        let at = self.now.instant;
                        self.peers[client]
                            .client
                            .handle_close(at, wire.socket, None, "crashed");
                    }
                }
                self.hub = hub();
                self.incarnation += 1;
                self.work.clear();
            }
        }
        self.pump();
    }

    /// Time passes; both sides' timers run, the hub's first.
    fn wait(&mut self, d: Duration) {
        self.now = self.now.after(d);
        self.hub.handle_timeout(self.now);
        self.pump();
        for peer in &mut self.peers {
            peer.client.handle_timeout(self.now.instant);
        }
    }

    /// Moves one frame (or close); false when nothing was in flight.
    fn deliver(&mut self, client: usize, up: bool) -> bool {
        let at = self.now.instant;
        let peer = &mut self.peers[client];
        if peer.frozen {
            return false;
        }
        let Some(wire) = peer.wire.as_mut() else {
            return false;
        };
        if up {
            let conn = wire.conn;
            match wire.up.pop_front() {
                None => return false,
                Some(Up::Frame(frame)) => self.hub.handle_frame(self.now, conn, &frame),
                Some(Up::Pong) => self.hub.handle_heartbeat(self.now, conn),
            }
            return true;
        }
        match wire.down.pop_front() {
            None => false,
            Some(Down::Ping) => {
                wire.up.push_back(Up::Pong);
                true
            }
            Some(Down::Frame(bytes)) => {
                let socket = wire.socket;
                peer.client.handle_frame(at, socket, &bytes);
                true
            }
            Some(Down::Close(code)) => {
                let socket = wire.socket;
                peer.wire = None;
                peer.client.handle_close(at, socket, Some(code.0), "closed");
                true
            }
        }
    }

    /// Does what the application's handler would.
    fn answer(&mut self, request: Request<JournalAction>) {
        match request {
            Request::Sync { .. } => unreachable!("this hub syncs through the app, not a log"),
            Request::Snapshot { ticket, .. } => {
                let snapshot = (self.app.journal.clone(), self.app.seq);
                self.hub.complete_snapshot(self.now, ticket, Ok(snapshot));
            }
            Request::Deltas { ticket, after, .. } => {
                let held = usize::try_from(after).ok();
                let later = held.and_then(|n| self.app.journal.entries.get(n..));
                let deltas = later
                    .unwrap_or_default()
                    .iter()
                    .zip(after + 1..)
                    .map(|(value, seq)| (Entry { value: *value }, seq))
                    .collect();
                self.hub.complete_deltas(self.now, ticket, Ok(deltas));
            }
            Request::Action { key, action, .. } => {
                *self
                    .runs
                    .entry((self.incarnation, key.op_id()))
                    .or_default() += 1;
                let JournalAction::Append { value } = action else {
                    unreachable!("the simulation only appends")
                };
                let seq = match self.app.done.get(&key.op_id()) {
                    Some(seq) => *seq, // run before a restart: the data knows
                    None => {
                        let seq = self.app.push(value);
                        self.app.done.insert(key.op_id(), seq);
                        let _ = self
                            .hub
                            .broadcast_delta(self.now, ROOM, &Entry { value }, seq);
                        seq
                    }
                };
                let outcome = ActionOutcome::ok_with(&seq).expect("encodes");
                self.hub.complete_action(self.now, &key, outcome);
            }
        }
    }

    fn settled(&self) -> bool {
        self.work.is_empty()
            && self.peers.iter().all(|p| {
                p.client.status().is_open()
                    && p.client.seq() == Some(self.app.seq)
                    && p.wire
                        .as_ref()
                        .is_some_and(|w| w.up.is_empty() && w.down.is_empty())
                    && p.client.ops().all(|(_, state)| state.is_settled())
            })
    }

    /// Lets everything through, with no more faults.
    fn settle(&mut self) {
        for peer in &mut self.peers {
            peer.frozen = false;
        }
        for _ in 0..500 {
            if self.settled() {
                return;
            }
            let mut progressed = false;
            for client in 0..self.peers.len() {
                if self.peers[client].dial.is_some() {
                    self.run(Step::Dial {
                        client,
                        accept: true,
                    });
                    progressed = true;
                }
                while self.deliver(client, true) || self.deliver(client, false) {
                    self.pump();
                    progressed = true;
                }
            }
            while let Some(request) = self.work.pop_front() {
                self.answer(request);
                self.pump();
                progressed = true;
            }
            if !progressed {
                // Waiting for a retry timer.
                let next = self
                    .peers
                    .iter()
                    .filter_map(|p| p.client.poll_timeout())
                    .min()
                    .expect("some timer");
                let wait = next.saturating_duration_since(self.now.instant);
                self.run(Step::Wait(wait.as_millis() as u64 + 1));
            }
        }
        panic!(
            "never settled: app seq {}, clients {:?}",
            self.app.seq,
            self.peers.iter().map(|p| &p.client).collect::<Vec<_>>()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn clients_and_hub_converge(seed in any::<u64>(), steps in prop::collection::vec(step(), 0..120)) {
        let mut sim = Sim::new(seed);
        for s in steps {
            sim.run(s);
        }
        sim.settle();

        let journal = &sim.app.journal;
        let mut values = journal.entries.clone();
        values.sort_unstable();
        values.dedup();
        prop_assert_eq!(values.len(), journal.entries.len(), "a value applied twice");
        for ((incarnation, op), runs) in &sim.runs {
            prop_assert_eq!(*runs, 1, "incarnation {} ran {} {} times", incarnation, op, runs);
        }
        for peer in &sim.peers {
            prop_assert_eq!(peer.client.confirmed_state(), journal);
            prop_assert_eq!(peer.client.state(), journal);
            // The event stream alone rebuilds the journal, in seq order.
            let mut mirror = Vec::new();
            let mut last = None;
            for event in &peer.events {
                match event {
                    Event::Snapshot { state, seq, .. } => {
                        mirror = state.entries.clone();
                        last = Some(*seq);
                    }
                    Event::Delta { delta, seq } => {
                        prop_assert_eq!(last.map(|l| l + 1), Some(*seq), "gap or repeat");
                        mirror.push(delta.value);
                        last = Some(*seq);
                    }
                    _ => {}
                }
            }
            prop_assert_eq!(&mirror, &journal.entries);
            for op in &peer.issued {
                let settled = peer
                    .events
                    .iter()
                    .filter(|e| matches!(e, Event::Action { op_id, state } if op_id == op && state.is_settled()))
                    .count();
                prop_assert_eq!(settled, 1, "{} settled {} times", op, settled);
            }
        }
    }
}

/// A client whose network freezes stops answering the hub's pings: the
/// others see it leave within ping_interval + pong_timeout on the virtual
/// clock, the frozen socket is dropped after the close grace, and once the
/// network thaws the client comes back and converges.
#[test]
fn a_frozen_client_leaves_presence_within_the_pong_deadline_and_comes_back() {
    let mut sim = Sim::new(7);
    sim.settle();
    let config = ServerConfig::default();
    let bound = config.ping_interval + config.pong_timeout;
    let frozen_user = sim.peers[1].user.clone();
    sim.peers[1].frozen = true;
    let frozen_at = sim.now.instant;
    let watcher_events = sim.peers[0].events.len();
    let mut left_at = None;
    // Time passes in 100 ms steps; everyone else's traffic flows.
    for _ in 0..300 {
        sim.wait(Duration::from_millis(100));
        for client in [0, 2] {
            while sim.deliver(client, true) || sim.deliver(client, false) {
                sim.pump();
            }
        }
        let left = sim.peers[0].events[watcher_events..]
            .iter()
            .any(|e| matches!(e, Event::Presence(d) if d.left.contains(&frozen_user)));
        if left {
            left_at = Some(sim.now.instant);
            break;
        }
    }
    let left_at = left_at.expect("the frozen user left presence");
    // Within the bound, plus the presence batch window and one step.
    let late = left_at.saturating_duration_since(frozen_at);
    assert!(
        late <= bound + config.presence_batch + Duration::from_millis(100),
        "left after {late:?}"
    );
    // The socket that never finished closing is dropped after the grace.
    sim.wait(config.close_grace);
    assert!(sim.peers[1].wire.is_none(), "the frozen socket was dropped");
    sim.settle();
    assert!(sim.peers[1].client.status().is_open());
}

/// The `last_seq` and `epoch` query parameters of a dial URL, read the way
/// the server's endpoint reads them.
fn resume_point(url: &str) -> Option<(u64, Option<u32>)> {
    let query = url.split_once('?')?.1;
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    let seq = param("last_seq")?.parse().ok()?;
    Some((seq, param("epoch").and_then(|e| e.parse().ok())))
}
