//! A real server on 127.0.0.1:0 and a tokio-tungstenite test client.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use ui_flow::codec::Decoded;
use ui_flow::{ClientMessage, ServerMessage};
use ui_flow_server::counter::{Counter, CounterDelta};
use ui_flow_server::{
    Authenticator, FlowHandler, FlowServer, ServerConfig, SessionHandle, UnverifiedUserToken,
};

pub mod teams;

pub type Value = rmpv::Value;
pub type Msg = ServerMessage<Value, Value, Value>;

/// A safety net so a broken test fails instead of hanging; never an
/// assertion about speed.
pub const STUCK: Duration = Duration::from_secs(20);

pub struct TestServer<H: FlowHandler> {
    pub server: FlowServer<H>,
    pub addr: SocketAddr,
}

pub async fn start<H: FlowHandler>(handler: H, config: ServerConfig) -> TestServer<H> {
    start_with(handler, UnverifiedUserToken, config).await
}

pub async fn start_with<H: FlowHandler>(
    handler: H,
    auth: impl Authenticator,
    config: ServerConfig,
) -> TestServer<H> {
    serve(FlowServer::with_config(handler, auth, config)).await
}

/// Serves an already built server (one with its own store, say) on
/// 127.0.0.1:0.
pub async fn serve<H: FlowHandler>(server: FlowServer<H>) -> TestServer<H> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = server.router();
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(listener, app).await });
    TestServer { server, addr }
}

/// A task that adds 1 to `session`'s counter `count` times, one commit
/// after another, and returns the seq each commit got, in commit order.
pub fn spawn_adds(
    session: SessionHandle<Counter>,
    count: usize,
) -> tokio::task::JoinHandle<Vec<u64>> {
    tokio::spawn(async move {
        let mut mine = Vec::with_capacity(count);
        for _ in 0..count {
            let seq = session
                .commit(CounterDelta { add: 1 })
                .await
                .expect("commit");
            mine.push(seq);
        }
        mine
    })
}

/// The default config with room for 100 joins in a burst, from one address
/// too: for tests that join many clients at once.
pub fn many_joins() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.join_rate.burst = 100;
    config.join_rate_per_ip.burst = 100;
    config
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

pub fn url(addr: SocketAddr, resource: &str, token: &str) -> String {
    format!("ws://{addr}/realtime/{resource}?token={token}")
}

impl Client {
    pub async fn connect(addr: SocketAddr, resource: &str, user: &str) -> Client {
        Self::connect_url(&url(addr, resource, user)).await
    }

    pub async fn connect_url(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        Client { ws }
    }

    pub async fn connect_request(
        request: impl IntoClientRequest + Unpin,
    ) -> Result<(Client, tungstenite::http::Response<Option<Vec<u8>>>), tungstenite::Error> {
        let (ws, response) = tokio_tungstenite::connect_async(request).await?;
        Ok((Client { ws }, response))
    }

    /// Connects and reads Connected, the snapshot and the presence list.
    pub async fn join(addr: SocketAddr, resource: &str, user: &str) -> (Client, Joined) {
        let mut client = Self::connect(addr, resource, user).await;
        let joined = client.read_join().await;
        (client, joined)
    }

    pub async fn read_join(&mut self) -> Joined {
        let connected = self.recv().await;
        assert!(matches!(connected, Msg::Connected { .. }), "{connected:?}");
        let sync = self.recv().await;
        let (seq, epoch) = match &sync {
            Msg::Snapshot { seq, epoch, .. } | Msg::Deltas { seq, epoch, .. } => {
                (*seq, epoch.expect("epoch"))
            }
            other => panic!("expected a snapshot, got {other:?}"),
        };
        let users = match self.recv().await {
            Msg::Presence { users } => users,
            other => panic!("expected presence, got {other:?}"),
        };
        Joined {
            connected,
            sync,
            seq,
            epoch,
            users,
        }
    }

    pub async fn send<A: Serialize>(&mut self, msg: &ClientMessage<A>) {
        let bytes = msg.encode().expect("encode");
        self.send_raw(bytes).await;
    }

    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        self.ws
            .send(Message::Binary(bytes.into()))
            .await
            .expect("send");
    }

    /// The next ui-flow message (skipping unknown tags).
    pub async fn recv(&mut self) -> Msg {
        loop {
            match self.next_frame().await {
                Frame::Msg(m) => return m,
                Frame::Unknown(_) => continue,
                Frame::Close(c) => panic!("expected a message, got close {c:?}"),
            }
        }
    }

    pub async fn next_frame(&mut self) -> Frame {
        // One deadline for the whole wait (pings must not restart it).
        let deadline = tokio::time::Instant::now() + STUCK;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("stuck waiting for a frame");
            match next {
                Some(Ok(Message::Binary(b))) => {
                    return match Msg::decode(&b).expect("server frames decode") {
                        Decoded::Message(m) => Frame::Msg(m),
                        Decoded::Unknown { tag } => Frame::Unknown(tag),
                    };
                }
                Some(Ok(Message::Close(c))) => return Frame::Close(c),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Frame::Close(None),
            }
        }
    }

    /// The next binary frame as it came off the wire, undecoded.
    pub async fn raw_frame(&mut self) -> Vec<u8> {
        // One deadline for the whole wait: the server's keepalive pings
        // arrive every few seconds and must not restart it.
        let deadline = tokio::time::Instant::now() + STUCK;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("stuck waiting for a frame");
            match next {
                Some(Ok(Message::Binary(b))) => return b.to_vec(),
                Some(Ok(_)) => continue,
                other => panic!("expected a frame, the connection ended: {other:?}"),
            }
        }
    }

    /// Reads until it has been sent seq `last`; returns every seq it was
    /// sent, in order (a `Deltas` frame counts for each of its seqs). Fails
    /// on a snapshot (a live client never needs one) and on anything but
    /// deltas, presence and notifications.
    pub async fn seqs_until(&mut self, last: u64) -> Vec<u64> {
        let mut seen = Vec::new();
        while seen.last().is_none_or(|s| *s < last) {
            match self.recv().await {
                Msg::Delta { seq, .. } => seen.push(seq),
                Msg::Deltas { deltas, seq, .. } => {
                    let first = seq + 1 - deltas.len() as u64;
                    seen.extend(first..=seq);
                }
                Msg::Snapshot { .. } => panic!("a live client was sent a snapshot"),
                Msg::PresenceDiff(_) | Msg::Presence { .. } | Msg::Notify { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        seen
    }

    /// Reads until a message matches; returns it.
    pub async fn recv_until(&mut self, mut pred: impl FnMut(&Msg) -> bool) -> Msg {
        loop {
            let m = self.recv().await;
            if pred(&m) {
                return m;
            }
        }
    }

    /// Reads to the close frame, returning the messages before it.
    pub async fn read_to_close(&mut self) -> (Vec<Msg>, Option<CloseFrame>) {
        let mut seen = Vec::new();
        loop {
            match self.next_frame().await {
                Frame::Msg(m) => seen.push(m),
                Frame::Unknown(_) => {}
                Frame::Close(c) => return (seen, c),
            }
        }
    }
}

pub enum Frame {
    Msg(Msg),
    Unknown(u16),
    Close(Option<CloseFrame>),
}

pub struct Joined {
    pub connected: Msg,
    pub sync: Msg,
    pub seq: u64,
    pub epoch: u32,
    pub users: Vec<ui_flow::PresenceInfo>,
}

/// The error code of an `Error` message.
pub fn error_code(m: &Msg) -> Option<(String, bool)> {
    match m {
        Msg::Error {
            code: Some(code),
            fatal,
            ..
        } => Some((code.as_str().to_owned(), *fatal)),
        _ => None,
    }
}

/// Whether `needle` appears in `haystack` (a frame's bytes, say).
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

pub fn close_code(c: &Option<CloseFrame>) -> Option<u16> {
    c.as_ref().map(|f| u16::from(f.code))
}

/// A handler whose state, deltas, events and actions are strings, and
/// which keeps its own state (the escape hatch): the test drives seqs itself
/// through `head`.
#[derive(Default)]
pub struct Plain {
    pub head: std::sync::atomic::AtomicU64,
}

/// `Plain`'s state: the text of the last delta.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Text(pub String);

impl ui_flow::FlowState for Text {
    type Delta = String;
    fn apply_delta(&mut self, delta: String) {
        self.0 = delta;
    }
}

/// The types of the app-owned-state handler.
pub struct PlainModel;

impl ui_flow::Model for PlainModel {
    type State = Text;
    type Delta = String;
    type Event = String;
    type Action = String;
}

#[async_trait::async_trait]
impl FlowHandler for Plain {
    type Model = PlainModel;
    const APP_OWNED_STATE: bool = true;

    async fn snapshot(&self, _: &str) -> Result<(Text, u64), ui_flow_server::BoxError> {
        let head = self.head.load(std::sync::atomic::Ordering::SeqCst);
        Ok((Text(format!("state@{head}")), head))
    }

    async fn handle_action(
        &self,
        _: &ui_flow_server::ActionContext<Self>,
        action: String,
    ) -> ui_flow_server::ActionOutcome {
        ui_flow_server::ActionOutcome::ok_with(&action).expect("encode")
    }
}

impl TestServer<Plain> {
    /// Advances the head and broadcasts `delta` at the new seq.
    pub fn push(&self, resource: &str, delta: &str) -> u64 {
        let seq = self
            .server
            .handler()
            .head
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        self.server
            .session(resource)
            .broadcast_delta(&delta.to_owned(), seq)
            .expect("broadcast");
        seq
    }
}

/// A server whose accepted sockets have a small kernel send buffer, so a
/// client that stops reading backs up into the outbox quickly.
pub async fn start_small_buffers<H: FlowHandler>(
    handler: H,
    config: ServerConfig,
) -> TestServer<H> {
    let server = FlowServer::with_config(handler, UnverifiedUserToken, config);
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_send_buffer_size(4096).expect("sndbuf");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(128).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let app = server.router();
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(listener, app).await });
    TestServer { server, addr }
}

/// A client whose socket has a small kernel receive buffer.
pub async fn connect_small_buffer(addr: SocketAddr, resource: &str, user: &str) -> Client {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let stream = socket.connect(addr).await.expect("tcp connect");
    let (ws, _) =
        tokio_tungstenite::client_async(url(addr, resource, user), MaybeTlsStream::Plain(stream))
            .await
            .expect("ws handshake");
    Client { ws }
}
