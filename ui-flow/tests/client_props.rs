//! Property tests: whatever the interleaving of server deltas, actions and
//! their outcomes, lost frames, dropped sockets, refused dials, server
//! restarts and passing time, once the network settles the client's state
//! equals the server's, and every action is resolved exactly once.
//!
//! The server is a model written here against the codec: it keeps a short
//! delta history for resyncs (older requests get a snapshot), starts a new
//! epoch on restart, and answers a repeated op id with the outcome it already
//! gave, as the protocol requires.

mod client_support;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use client_support::{Append, Log, Msg, TestClient, TestEvent};
use proptest::prelude::*;
use ui_flow::client::{ClientConfig, Event, Instant, SocketCommand, SocketId};
use ui_flow::codec::Decoded;
use ui_flow::{ClientMessage, ConnectionStatus, OpId};

/// How many past deltas the model server can replay on a resync.
const HISTORY: usize = 4;

#[derive(Debug, Clone)]
enum Step {
    /// Another user changes the state.
    ServerDelta(u32),
    /// The app sends an action, optionally with an optimistic change.
    Action { value: u32, optimistic: bool },
    /// Up to n frames travel server → client.
    ToClient(usize),
    /// Up to n frames travel client → server.
    ToServer(usize),
    /// The connection breaks; frames in flight are lost.
    Drop,
    /// The server accepts (true) or refuses (false) a pending dial.
    Dial(bool),
    /// Time passes (timers fire).
    Wait(u64),
    /// The server restarts: new epoch, no history; with `true` it also
    /// lost its state (but not its record of action outcomes).
    Restart(bool),
    /// The next delta in flight to the client is lost without the socket
    /// closing (a server that skipped a seq).
    LoseDelta,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u32..1000).prop_map(Step::ServerDelta),
        3 => (0u32..1000, any::<bool>()).prop_map(|(value, optimistic)| Step::Action { value, optimistic }),
        5 => (1usize..6).prop_map(Step::ToClient),
        4 => (1usize..6).prop_map(Step::ToServer),
        1 => Just(Step::Drop),
        2 => any::<bool>().prop_map(Step::Dial),
        2 => (0u64..30_000).prop_map(Step::Wait),
        1 => any::<bool>().prop_map(Step::Restart),
        1 => Just(Step::LoseDelta),
    ]
}

struct Server {
    state: Log,
    seq: u64,
    epoch: u32,
    /// (seq, delta) of the last few deltas.
    history: VecDeque<(u64, u32)>,
    outcomes: HashMap<OpId, Msg>,
    applied_actions: usize,
}

impl Server {
    fn apply(&mut self, value: u32) -> Msg {
        self.state.0.push(value);
        self.seq += 1;
        self.history.push_back((self.seq, value));
        if self.history.len() > HISTORY {
            self.history.pop_front();
        }
        Msg::Delta {
            delta: value,
            seq: self.seq,
            timestamp: 0,
            epoch: Some(self.epoch),
            prev: None,
        }
    }

    fn snapshot(&self) -> Msg {
        Msg::Snapshot {
            state: self.state.clone(),
            seq: self.seq,
            timestamp: 0,
            epoch: Some(self.epoch),
        }
    }

    /// What the server sends back for one client frame.
    fn answer(&mut self, message: ClientMessage<Append>) -> Vec<Msg> {
        match message {
            ClientMessage::Ping { ts, .. } => vec![Msg::Pong {
                client_ts: ts,
                server_ts: 0,
            }],
            ClientMessage::Resync { last_seq, epoch } => {
                let replayable = last_seq.is_some_and(|last| {
                    epoch == Some(self.epoch)
                        && last <= self.seq
                        && self
                            .history
                            .front()
                            .map_or(last == self.seq, |(first, _)| last + 1 >= *first)
                });
                match last_seq {
                    Some(last) if replayable => {
                        let deltas: Vec<u32> = self
                            .history
                            .iter()
                            .filter(|(seq, _)| *seq > last)
                            .map(|(_, d)| *d)
                            .collect();
                        // Empty when the client is at the head: still an answer.
                        vec![Msg::Deltas {
                            deltas,
                            seq: self.seq,
                            timestamp: 0,
                            epoch: Some(self.epoch),
                            prev: None,
                        }]
                    }
                    _ => vec![self.snapshot()],
                }
            }
            // This server announces no channels, so a client never joins.
            ClientMessage::Join { .. } | ClientMessage::Leave => {
                panic!("a Join or Leave sent to a server without channels")
            }
            ClientMessage::Action { op_id, action } => {
                if let Some(known) = self.outcomes.get(&op_id) {
                    return vec![known.clone()];
                }
                self.applied_actions += 1;
                let (mut out, outcome) = if action.0 % 3 == 0 {
                    (
                        vec![],
                        Msg::ActionErr {
                            op_id,
                            code: Some("multiple_of_three".into()),
                            message: "refused".into(),
                        },
                    )
                } else {
                    (
                        vec![self.apply(action.0)],
                        Msg::ActionOk {
                            op_id,
                            result: None,
                        },
                    )
                };
                self.outcomes.insert(op_id, outcome.clone());
                out.push(outcome);
                out
            }
            ClientMessage::Subscribe { .. }
            | ClientMessage::Unsubscribe { .. }
            | ClientMessage::Signal { .. } => vec![],
        }
    }
}

/// An open socket and the frames in flight: (id, to the client, to the server).
type Wire = (SocketId, VecDeque<Vec<u8>>, VecDeque<Vec<u8>>);

struct World {
    client: TestClient,
    server: Server,
    now: Instant,
    dial: Option<SocketId>,
    /// The open connection and the frames in flight each way.
    link: Option<Wire>,
    events: Vec<TestEvent>,
    issued: Vec<OpId>,
    /// The optimistic change of each optimistic action.
    guesses: HashMap<OpId, u32>,
}

impl World {
    fn new(seed: u64) -> Self {
        let now = Instant::now();
        let config = ClientConfig {
            seed,
            queue_bound: 1000,
            ..ClientConfig::default()
        };
        let mut w = World {
            client: TestClient::new(config, now).expect("valid"),
            server: Server {
                state: Log(vec![]),
                seq: 0,
                epoch: 1,
                history: VecDeque::new(),
                outcomes: HashMap::new(),
                applied_actions: 0,
            },
            now,
            dial: None,
            link: None,
            events: vec![],
            issued: vec![],
            guesses: HashMap::new(),
        };
        w.pump();
        w
    }

    fn pump(&mut self) {
        while let Some(cmd) = self.client.poll_socket() {
            match cmd {
                SocketCommand::Open(id) => {
                    assert!(
                        self.dial.is_none() && self.link.is_none(),
                        "two sockets at once"
                    );
                    self.dial = Some(id);
                }
                SocketCommand::Close { socket, .. } => {
                    if self.dial == Some(socket) {
                        self.dial = None;
                    }
                    if self.link.as_ref().is_some_and(|(id, ..)| *id == socket) {
                        self.link = None;
                    }
                }
            }
        }
        while let Some(frame) = self.client.poll_transmit() {
            let (_, _, up) = self.link.as_mut().expect("frames only on an open socket");
            up.push_back(frame);
        }
        while let Some(event) = self.client.poll_event() {
            self.events.push(event);
        }
    }

    fn broadcast(&mut self, msg: &Msg) {
        if let Some((_, down, _)) = self.link.as_mut() {
            down.push_back(msg.encode().expect("encode"));
        }
    }

    fn run(&mut self, step: Step) {
        match step {
            Step::ServerDelta(value) => {
                let msg = self.server.apply(value);
                self.broadcast(&msg);
            }
            Step::Action { value, optimistic } => {
                let sent = if optimistic {
                    self.client.send_optimistic(Append(value), value)
                } else {
                    self.client.send_action(Append(value))
                };
                let op = sent.expect("within the bound");
                self.issued.push(op);
                if optimistic {
                    self.guesses.insert(op, value);
                }
            }
            Step::ToClient(n) => {
                for _ in 0..n {
                    let Some((id, down, _)) = self.link.as_mut() else {
                        break;
                    };
                    let id = *id;
                    let Some(frame) = down.pop_front() else { break };
                    self.client.handle_frame(self.now, id, &frame);
                    self.pump();
                }
            }
            Step::ToServer(n) => {
                for _ in 0..n {
                    let Some(frame) = self.link.as_mut().and_then(|(_, _, up)| up.pop_front())
                    else {
                        break;
                    };
                    let Decoded::Message(message) =
                        ClientMessage::<Append>::decode(&frame).expect("decodes")
                    else {
                        panic!("unknown tag from the client")
                    };
                    for reply in self.server.answer(message) {
                        // Deltas go to every connection; replies to this one.
                        self.broadcast(&reply);
                    }
                }
            }
            Step::Drop => {
                if let Some((id, ..)) = self.link.take() {
                    self.client.handle_close(self.now, id, None, "dropped");
                    self.pump();
                }
            }
            Step::Dial(accept) => {
                if let Some(id) = self.dial.take() {
                    if accept {
                        self.client.handle_open(self.now, id);
                        self.link = Some((id, VecDeque::new(), VecDeque::new()));
                        let hello = Msg::Connected {
                            protocol_version: ui_flow::PROTOCOL_VERSION,
                            connection_id: format!("c{}", id.0),
                            user_id: None,
                            channels: None,
                        };
                        let snapshot = self.server.snapshot();
                        self.broadcast(&hello);
                        self.broadcast(&snapshot);
                    } else {
                        self.client.handle_close(self.now, id, None, "refused");
                    }
                    self.pump();
                }
            }
            Step::Wait(ms) => {
                self.now += Duration::from_millis(ms);
                self.client.handle_timeout(self.now);
                self.pump();
            }
            Step::LoseDelta => {
                if let Some((_, down, _)) = self.link.as_mut() {
                    let tag = |f: &Vec<u8>| ui_flow::codec::peek_tag(f, &Default::default());
                    if let Some(at) = down
                        .iter()
                        .position(|f| tag(f) == Ok(ui_flow::ServerTag::DELTA.0))
                    {
                        down.remove(at);
                    }
                }
            }
            Step::Restart(lose_state) => {
                self.server.epoch += 1;
                self.server.history.clear();
                if lose_state {
                    self.server.state = Log(vec![7777]);
                    self.server.seq = 0;
                }
                if let Some((id, ..)) = self.link.take() {
                    self.client
                        .handle_close(self.now, id, Some(1001), "restart");
                    self.pump();
                }
            }
        }
    }

    /// The shown state is the confirmed one with the optimistic changes of
    /// unresolved actions on top, in the order they were issued.
    fn check_rebase(&self) -> Result<(), TestCaseError> {
        let mut expected = self.client.confirmed_state().clone();
        for (op, state) in self.client.ops() {
            if !state.is_settled() {
                if let Some(guess) = self.guesses.get(&op) {
                    expected.0.push(*guess);
                }
            }
        }
        prop_assert_eq!(self.client.state(), &expected);
        Ok(())
    }

    /// Lets the network deliver everything, with no more faults.
    fn settle(&mut self) {
        for _ in 0..200 {
            let idle = self
                .link
                .as_ref()
                .is_some_and(|(_, down, up)| down.is_empty() && up.is_empty());
            if idle
                && self.client.status() == &ConnectionStatus::Open
                && self.client.seq() == Some(self.server.seq)
                && self.client.ops().all(|(_, s)| s.is_settled())
            {
                return;
            }
            if self.dial.is_some() {
                self.run(Step::Dial(true));
            } else if self.link.is_none() {
                let at = self.client.poll_timeout().expect("a retry is armed");
                self.now = self.now.max(at);
                self.client.handle_timeout(self.now);
                self.pump();
            } else {
                self.run(Step::ToServer(usize::MAX));
                self.run(Step::ToClient(usize::MAX));
                if idle {
                    // Nothing in flight, yet behind: a delta was lost. The
                    // next one reveals the gap.
                    self.run(Step::ServerDelta(4242));
                }
            }
        }
        panic!("did not settle: {:?}", self.client);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn the_client_converges_to_the_server(seed in any::<u64>(), steps in prop::collection::vec(step(), 0..80)) {
        let mut w = World::new(seed);
        for s in steps {
            w.run(s);
            w.check_rebase()?;
        }
        w.settle();

        prop_assert_eq!(w.client.confirmed_state(), &w.server.state);
        prop_assert_eq!(w.client.state(), &w.server.state, "no optimistic change left over");
        prop_assert_eq!(w.client.seq(), Some(w.server.seq));

        // An app mirroring Snapshot and Delta events ends at the same state.
        let mut mirror = vec![];
        for e in &w.events {
            match e {
                Event::Snapshot { state, .. } => mirror = state.0.clone(),
                Event::Delta { delta, .. } => mirror.push(*delta),
                _ => {}
            }
        }
        prop_assert_eq!(&mirror, &w.server.state.0);

        // Every action: applied once by the server, settled once at the client.
        prop_assert_eq!(w.server.applied_actions, w.issued.len());
        for op in &w.issued {
            let outcomes = w.events.iter().filter(|e| matches!(e, Event::Action { op_id, state } if op_id == op && state.is_settled())).count();
            prop_assert_eq!(outcomes, 1, "op {} settled {} times", op, outcomes);
        }
    }
}
