//! A harness for driving the sans-IO client on a fake clock, shared by the
//! client test files. Frames are real: everything goes through the codec.

#![allow(dead_code)] // each test file uses a different part

use std::time::Duration;

use serde::{Deserialize, Serialize};
use ui_flow::client::{Client, ClientConfig, Event, Instant, SocketCommand, SocketId};
use ui_flow::codec::Decoded;
use ui_flow::{Channel, ClientMessage, FlowState, Model, OpId, ServerMessage};

/// A state whose deltas do not commute: a missing, repeated or reordered
/// delta shows up in the log.
#[derive(Clone, Default, Debug, PartialEq, Serialize, Deserialize)]
pub struct Log(pub Vec<u32>);

impl FlowState for Log {
    type Delta = u32;
    fn apply_delta(&mut self, delta: u32) {
        self.0.push(delta);
    }
}

/// The app's action: append a value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Append(pub u32);

/// The app's notification event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Note(pub String);

pub type Msg = ServerMessage<Log, u32, Note>;
/// The test application's model.
pub struct LogModel;

impl Model for LogModel {
    type State = Log;
    type Delta = u32;
    type Action = Append;
    type Event = Note;
}

pub type TestClient = Client<LogModel>;
pub type TestEvent = Event<Log, Note>;

/// A client, the clock it runs on, and everything it put out.
pub struct Harness {
    pub client: TestClient,
    pub start: Instant,
    pub now: Instant,
    /// The socket the driver has open (after `open`).
    pub socket: Option<SocketId>,
    /// Sockets the client asked to open, not yet opened by the harness.
    pub dials: Vec<SocketId>,
    /// Close commands received, in order.
    pub closes: Vec<SocketCommand>,
    /// Frames sent, decoded.
    pub sent: Vec<ClientMessage<Append>>,
    /// The same frames with the channel each was sent on.
    pub routed: Vec<(Channel, ClientMessage<Append>)>,
    pub events: Vec<TestEvent>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with(ClientConfig::default())
    }

    pub fn with(config: ClientConfig) -> Self {
        let start = Instant::now();
        let client = TestClient::new(config, start).expect("valid config");
        let mut h = Harness {
            client,
            start,
            now: start,
            socket: None,
            dials: vec![],
            closes: vec![],
            sent: vec![],
            routed: vec![],
            events: vec![],
        };
        h.pump();
        h
    }

    /// Drains every output, in the documented order.
    pub fn pump(&mut self) {
        while let Some(cmd) = self.client.poll_socket() {
            match cmd {
                SocketCommand::Open(id) => {
                    assert!(
                        self.socket.is_none(),
                        "asked for {id} while {:?} is open",
                        self.socket
                    );
                    self.dials.push(id);
                }
                SocketCommand::Close { socket, .. } => {
                    assert_eq!(Some(socket), self.socket.or(self.dials.last().copied()));
                    self.socket = None;
                    self.dials.clear();
                    self.closes.push(cmd);
                }
            }
        }
        while let Some(frame) = self.client.poll_transmit() {
            match ClientMessage::<Append>::decode_routed(&frame).expect("client frames decode") {
                (channel, Decoded::Message(m)) => {
                    self.sent.push(m.clone());
                    self.routed.push((channel, m));
                }
                (_, Decoded::Unknown { tag }) => panic!("client sent unknown tag {tag}"),
            }
        }
        while let Some(event) = self.client.poll_event() {
            self.events.push(event);
        }
    }

    /// Moves the clock forward and lets due timers fire.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.client.handle_timeout(self.now);
        self.pump();
    }

    /// Moves the clock to the client's next deadline and fires it.
    pub fn fire_timer(&mut self) {
        let at = self.client.poll_timeout().expect("a timer is armed");
        self.now = self.now.max(at);
        self.client.handle_timeout(self.now);
        self.pump();
    }

    /// Opens the socket the client asked for.
    pub fn open(&mut self) -> SocketId {
        let id = self.dials.pop().expect("the client asked for a socket");
        assert!(self.dials.is_empty());
        self.socket = Some(id);
        self.client.handle_open(self.now, id);
        self.pump();
        id
    }

    /// Delivers a server message on the open socket.
    pub fn recv(&mut self, msg: Msg) {
        let socket = self.socket.expect("a socket is open");
        self.recv_on(socket, msg);
    }

    pub fn recv_on(&mut self, socket: SocketId, msg: Msg) {
        let frame = msg.encode().expect("encode");
        self.client.handle_frame(self.now, socket, &frame);
        self.pump();
    }

    pub fn recv_bytes(&mut self, frame: &[u8]) {
        let socket = self.socket.expect("a socket is open");
        self.client.handle_frame(self.now, socket, frame);
        self.pump();
    }

    /// The server's greeting.
    pub fn greet(&mut self) {
        self.recv(Msg::Connected {
            protocol_version: ui_flow::PROTOCOL_VERSION,
            connection_id: "conn".into(),
            user_id: Some("me".into()),
            channels: None,
        });
    }

    /// Opens the requested socket, greets and sends a snapshot.
    pub fn connect(&mut self, state: &[u32], seq: u64) {
        self.open();
        self.greet();
        self.recv(snapshot(state, seq, None));
    }

    /// The socket closes (as the driver reports it).
    pub fn drop_socket(&mut self, code: Option<u16>) {
        let socket = self.socket.take().expect("a socket is open");
        self.client.handle_close(self.now, socket, code, "gone");
        self.pump();
    }

    pub fn take_sent(&mut self) -> Vec<ClientMessage<Append>> {
        self.routed.clear();
        std::mem::take(&mut self.sent)
    }

    /// The frames sent since the last take, with their channels.
    pub fn take_routed(&mut self) -> Vec<(Channel, ClientMessage<Append>)> {
        self.sent.clear();
        std::mem::take(&mut self.routed)
    }

    pub fn take_events(&mut self) -> Vec<TestEvent> {
        std::mem::take(&mut self.events)
    }

    pub fn state(&self) -> &[u32] {
        &self.client.state().0
    }

    pub fn confirmed(&self) -> &[u32] {
        &self.client.confirmed_state().0
    }

    /// The op ids of the `Action` frames sent so far (and not taken).
    pub fn sent_ops(&self) -> Vec<OpId> {
        self.sent
            .iter()
            .filter_map(|m| match m {
                ClientMessage::Action { op_id, .. } => Some(*op_id),
                _ => None,
            })
            .collect()
    }
}

pub fn snapshot(state: &[u32], seq: u64, epoch: Option<u32>) -> Msg {
    Msg::Snapshot {
        state: Log(state.to_vec()),
        seq,
        timestamp: 0,
        epoch,
    }
}

pub fn delta(value: u32, seq: u64) -> Msg {
    Msg::Delta {
        delta: value,
        seq,
        timestamp: 0,
        epoch: None,
        prev: None,
    }
}

pub fn deltas(values: &[u32], seq: u64) -> Msg {
    Msg::Deltas {
        deltas: values.to_vec(),
        seq,
        timestamp: 0,
        epoch: None,
        prev: None,
    }
}
