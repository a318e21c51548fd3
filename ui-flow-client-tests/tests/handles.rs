//! `FlowConnection::join` and its `ResourceHandle`s, with the native driver
//! over real WebSockets on 127.0.0.1.
//!
//! - Against a `ui-flow-server` that serves no channels (`max_channels:
//!   0`): joining gives the documented typed outcome and the URL's resource
//!   (channel 0) works as before.
//! - Against the real server, which serves channels: dropping the last
//!   clone of a handle leaves the resource. The other end-to-end tests
//!   against it are in `tests/pending/channels_e2e.rs` (test target
//!   `channels_e2e`).
//! - Against a scripted peer that announces channels and answers `Join`,
//!   `Leave` and actions as spec/PROTOCOL.md ("Channels") says: what the
//!   handle sends on the wire (Join from the resume point after a
//!   reconnect, Leave only once the last clone is dropped), which the real
//!   server does not show, and what its callbacks see.
//!
//! Every wait is for an event, bounded by [`LIMIT`]; nothing measures time.

#![cfg(not(target_arch = "wasm32"))]

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use ui_flow::client::{Binding, ClientConfig, FlowOptions, OpState, Part, ResourceStatus};
use ui_flow::codec::Decoded;
use ui_flow::{
    Channel, ChannelError, ClientMessage, ConnectionStatus, Error, ErrorCode, FlowConnection,
    ResourceHandle, ServerMessage,
};
use ui_flow_client_tests::journal::{Appended, Entry, Journal, JournalAction, JournalModel};
use ui_flow_client_tests::server::TestServer;

/// The bound on any single wait: a test that needs longer has failed.
const LIMIT: Duration = Duration::from_secs(30);

type Conn = FlowConnection<JournalModel>;
type Msg = ServerMessage<Journal, Entry, Appended>;

fn fast() -> ClientConfig {
    ClientConfig {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(300),
        ..ClientConfig::default()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits until `done` holds, re-checking after every change `changes`
/// reports (a counter the callbacks bump).
async fn until(what: &str, changes: &mut watch::Receiver<u64>, done: impl Fn() -> bool) {
    let wait = async {
        while !done() {
            changes.changed().await.expect("the driver is alive");
        }
    };
    if tokio::time::timeout(LIMIT, wait).await.is_err() {
        panic!("never {what}");
    }
}

/// A connection whose every event bumps the returned counter.
fn connect(url: String) -> (Conn, watch::Receiver<u64>, Arc<watch::Sender<u64>>) {
    let (tick, changes) = watch::channel(0u64);
    let tick = Arc::new(tick);
    let ticks = Arc::clone(&tick);
    let conn = Conn::builder()
        .url(url)
        .config(fast())
        .on_event(move |_| ticks.send_modify(|n| *n += 1))
        .connect()
        .expect("connects");
    (conn, changes, tick)
}

// ---- today's ui-flow-server: no channels announced ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_once_connected_to_a_server_without_channels_fails_as_unsupported() {
    let server = TestServer::start_without_channels()
        .await
        .expect("server starts");
    let (conn, mut changes, _) = connect(server.direct_url("board", "ann"));
    until("open with a snapshot", &mut changes, || {
        conn.status().is_open() && conn.seq().is_some()
    })
    .await;

    let joined = conn.join::<JournalModel>("chat");
    assert!(
        matches!(joined, Err(Error::Channel(ChannelError::Unsupported))),
        "{joined:?}"
    );

    // Channel 0 is untouched: an action and a commit arrive as before.
    let op = conn
        .send_action(JournalAction::Append { value: 7 })
        .expect("sent");
    until("the action settled", &mut changes, || {
        matches!(conn.op(op), Some(OpState::Ok { .. }))
    })
    .await;
    server.append("board", 8).await;
    until("the commit arrived", &mut changes, || {
        conn.state().entries == [7, 8]
    })
    .await;
    assert_eq!(server.head("board").await, (conn.state(), 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_the_urls_own_resource_is_refused_as_already_joined() {
    let server = TestServer::start().await.expect("server starts");
    let (conn, _, _) = connect(server.direct_url("board", "ann"));
    let joined = conn.join::<JournalModel>("board");
    assert!(
        matches!(&joined, Err(Error::Channel(ChannelError::AlreadyJoined(r))) if r == "board"),
        "{joined:?}"
    );
}

/// A current-thread runtime: `connect` spawns the driver, which cannot run
/// before this test awaits, so the join surely precedes `Connected`.
#[tokio::test]
async fn a_resource_joined_before_connected_is_left_with_channel_limit_when_none_are_announced() {
    let server = TestServer::start_without_channels()
        .await
        .expect("server starts");
    let (conn, mut changes, tick) = connect(server.direct_url("board", "ann"));
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&statuses);
    let chat: ResourceHandle<JournalModel> = conn
        .resource::<JournalModel>("chat")
        .on_status(move |status| {
            lock(&seen).push(status.clone());
            tick.send_modify(|n| *n += 1);
        })
        .join()
        .expect("joins, to be sent after Connected");
    assert_eq!(chat.status(), ResourceStatus::Joining);
    assert_eq!(chat.channel(), Channel(1));
    assert_eq!(chat.resource_id(), "chat");

    until("the chat was reported left", &mut changes, || {
        matches!(chat.status(), ResourceStatus::Left { .. })
    })
    .await;
    let ResourceStatus::Left { code, message } = chat.status() else {
        unreachable!("checked above")
    };
    assert_eq!(code, Some(ErrorCode::CHANNEL_LIMIT));
    assert_eq!(
        message.as_deref(),
        Some("the server does not serve channels")
    );
    until("the callback saw it", &mut changes, || {
        lock(&statuses).last() == Some(&chat.status())
    })
    .await;

    // Nothing is queued on a resource that was left: every action gets an
    // outcome, here at once.
    let sent = chat.send_action(JournalAction::Append { value: 1 });
    assert!(
        matches!(
            sent,
            Err(Error::Channel(ChannelError::NotJoined(Channel(1))))
        ),
        "{sent:?}"
    );
    assert!(matches!(
        chat.subscribe(["journal"]),
        Err(Error::Channel(ChannelError::NotJoined(_)))
    ));

    // The URL's resource is unaffected, and the server saw no Join: it
    // would have answered nothing, but the board still works in order.
    let op = conn
        .send_action(JournalAction::Append { value: 3 })
        .expect("sent");
    until("the board's action settled", &mut changes, || {
        matches!(conn.op(op), Some(OpState::Ok { .. }))
    })
    .await;
    until("the board shows it", &mut changes, || {
        conn.state().entries == [3]
    })
    .await;
    assert!(conn.status().is_open());
    drop(chat); // a left resource is not left again
    assert_eq!(server.head("chat").await.0.entries, Vec::<u32>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_that_cannot_join_shows_the_resource_left_and_refuses_commands() {
    let server = TestServer::start_without_channels()
        .await
        .expect("server starts");
    let (conn, mut changes, _) = connect(server.direct_url("board", "ann"));
    until("open", &mut changes, || conn.status().is_open()).await;
    let told = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&told);
    let binding = Binding::<JournalModel>::join(
        &conn.socket(),
        "chat",
        &FlowOptions::default(),
        move |part, latest| lock(&sink).push((part, latest.resource_status())),
    );
    let expected = ResourceStatus::Left {
        code: Some(ErrorCode::CHANNEL_LIMIT),
        message: Some("the server does not serve channels".into()),
    };
    assert_eq!(binding.latest().resource_status(), Some(expected.clone()));
    assert_eq!(*lock(&told), [(Part::Resource, Some(expected))]);
    assert!(matches!(
        binding.send_action(JournalAction::Append { value: 1 }),
        Err(Error::Misuse(ui_flow::ApiMisuse::Closed))
    ));
    assert!(binding.latest().ops().is_empty());
    assert!(conn.status().is_open(), "the connection is not affected");
}

// ---- a scripted peer that serves channels ----

/// What the peer heard: the socket's number (1 for the first connection,
/// 2 after a reconnect, ...), the frame's channel and its message.
type Heard = (usize, Channel, ClientMessage<JournalAction>);

/// A WebSocket peer on 127.0.0.1 that announces 16 channels and answers
/// as spec/PROTOCOL.md says: `Joined` and a snapshot (or the deltas since
/// the resume point) for every `Join`, `Left` for every `Leave`,
/// `ActionOk` for `Append` (with the delta on its channel) and
/// `ActionErr` for `Reject`. Each resource's journal is `[seq]`-numbered.
struct Peer {
    url: String,
    heard: mpsc::UnboundedReceiver<Heard>,
    /// Closing it ends the current socket (close 1001, reconnect).
    cut: watch::Sender<usize>,
    /// The number of each socket whose client closed it or went away.
    ended: mpsc::UnboundedReceiver<usize>,
}

impl Peer {
    async fn start() -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let url = format!(
            "ws://{}/realtime/board",
            listener.local_addr().expect("an address")
        );
        let (heard_tx, heard) = mpsc::unbounded_channel();
        let (ended_tx, ended) = mpsc::unbounded_channel();
        let (cut, cuts) = watch::channel(0usize);
        tokio::spawn(async move {
            // Journals by resource, kept across sockets like a server's store.
            let journals = Arc::new(Mutex::new(std::collections::HashMap::new()));
            let mut socket_number = 0;
            while let Ok((tcp, _)) = listener.accept().await {
                socket_number += 1;
                let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
                    continue;
                };
                let (serving, ended) = (
                    serve(
                        socket_number,
                        ws,
                        heard_tx.clone(),
                        cuts.clone(),
                        Arc::clone(&journals),
                    ),
                    ended_tx.clone(),
                );
                tokio::spawn(async move {
                    serving.await;
                    let _ = ended.send(socket_number);
                });
            }
        });
        Peer {
            url,
            heard,
            cut,
            ended,
        }
    }

    /// The next frame heard that `pick` selects, skipping the others.
    async fn next<T>(&mut self, what: &str, pick: impl Fn(&Heard) -> Option<T>) -> T {
        let wait = async {
            loop {
                let heard = self.heard.recv().await.expect("the peer runs");
                if let Some(found) = pick(&heard) {
                    return found;
                }
            }
        };
        match tokio::time::timeout(LIMIT, wait).await {
            Ok(found) => found,
            Err(_) => panic!("the peer never heard {what}"),
        }
    }
}

type Journals = Arc<Mutex<std::collections::HashMap<String, Vec<u32>>>>;

async fn serve(
    socket_number: usize,
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    heard: mpsc::UnboundedSender<Heard>,
    mut cuts: watch::Receiver<usize>,
    journals: Journals,
) {
    let (mut sink, mut stream) = ws.split();
    let mut out: Vec<Vec<u8>> = Vec::new();
    let frame = |msg: Msg, channel: Channel| msg.encode_on(channel).expect("encodes");
    let snapshot = |entries: &[u32]| Msg::Snapshot {
        state: Journal {
            entries: entries.to_vec(),
        },
        seq: entries.len() as u64,
        timestamp: 0,
        epoch: Some(9),
    };
    out.push(frame(
        Msg::Connected {
            protocol_version: ui_flow::PROTOCOL_VERSION,
            connection_id: format!("socket-{socket_number}"),
            user_id: Some("ann".into()),
            channels: Some(16),
        },
        Channel::URL,
    ));
    let board = lock(&journals).entry("board".into()).or_default().clone();
    out.push(frame(snapshot(&board), Channel::URL));
    let mut resources: std::collections::HashMap<Channel, String> = Default::default();
    cuts.borrow_and_update();
    loop {
        for bytes in out.drain(..) {
            if sink.send(Message::Binary(bytes.into())).await.is_err() {
                return;
            }
        }
        let bytes = tokio::select! {
            message = stream.next() => match message {
                Some(Ok(Message::Binary(bytes))) => bytes,
                Some(Ok(_)) => continue,
                _ => return,
            },
            _ = cuts.changed() => {
                let _ = sink.send(Message::Close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                    code: 1001u16.into(),
                    reason: "going away".into(),
                }))).await;
                return;
            }
        };
        let Ok((channel, Decoded::Message(message))) =
            ClientMessage::<JournalAction>::decode_routed(&bytes)
        else {
            continue;
        };
        match &message {
            ClientMessage::Join {
                resource, last_seq, ..
            } => {
                resources.insert(channel, resource.clone());
                let entries = lock(&journals).entry(resource.clone()).or_default().clone();
                out.push(frame(Msg::Joined, channel));
                match last_seq {
                    // The deltas since the resume point, as a Deltas.
                    Some(last) if (*last as usize) < entries.len() => out.push(frame(
                        Msg::Deltas {
                            deltas: entries[*last as usize..]
                                .iter()
                                .map(|&value| Entry { value })
                                .collect(),
                            seq: entries.len() as u64,
                            timestamp: 0,
                            epoch: Some(9),
                            prev: Some(*last),
                        },
                        channel,
                    )),
                    Some(last) if *last as usize == entries.len() => out.push(frame(
                        Msg::Deltas {
                            deltas: Vec::new(),
                            seq: *last,
                            timestamp: 0,
                            epoch: Some(9),
                            prev: None,
                        },
                        channel,
                    )),
                    _ => out.push(frame(snapshot(&entries), channel)),
                }
            }
            ClientMessage::Leave => {
                resources.remove(&channel);
                out.push(frame(
                    Msg::Left {
                        code: None,
                        message: None,
                    },
                    channel,
                ));
                // A frame on channel 0 after the Left, so that a test can
                // await the Left through the connection's events.
                out.push(frame(
                    Msg::Notify {
                        domain: "peer".into(),
                        event: Appended {
                            by: "peer".into(),
                            value: 0,
                        },
                        correlation_id: None,
                    },
                    Channel::URL,
                ));
            }
            ClientMessage::Action { op_id, action } => {
                let resource = if channel.is_url() {
                    Some("board".to_owned())
                } else {
                    resources.get(&channel).cloned()
                };
                match (action, resource) {
                    (JournalAction::Append { value }, Some(resource)) => {
                        let seq = {
                            let mut journals = lock(&journals);
                            let entries = journals.entry(resource).or_default();
                            entries.push(*value);
                            entries.len() as u64
                        };
                        out.push(frame(
                            Msg::Delta {
                                delta: Entry { value: *value },
                                seq,
                                timestamp: 0,
                                epoch: Some(9),
                                prev: None,
                            },
                            channel,
                        ));
                        out.push(frame(
                            Msg::ActionOk {
                                op_id: *op_id,
                                result: None,
                            },
                            channel,
                        ));
                    }
                    _ => out.push(frame(
                        Msg::ActionErr {
                            op_id: *op_id,
                            code: Some("rejected".into()),
                            message: "refused".into(),
                        },
                        channel,
                    )),
                }
            }
            ClientMessage::Ping { ts, .. } => out.push(frame(
                Msg::Pong {
                    client_ts: *ts,
                    server_ts: 0,
                },
                Channel::URL,
            )),
            _ => {}
        }
        let _ = heard.send((socket_number, channel, message));
    }
}

/// Every state a handle's `on_shared_state` was given.
type Shown = Arc<Mutex<Vec<Vec<u32>>>>;

/// Joins `resource` and counts every callback on the returned counter.
fn join_counted(
    conn: &Conn,
    resource: &str,
) -> (ResourceHandle<JournalModel>, watch::Receiver<u64>, Shown) {
    try_join_counted(conn, resource).expect("joins")
}

/// [`join_counted`], or why the join was refused.
fn try_join_counted(
    conn: &Conn,
    resource: &str,
) -> Result<(ResourceHandle<JournalModel>, watch::Receiver<u64>, Shown), Error> {
    let (tick, changes) = watch::channel(0u64);
    let tick = Arc::new(tick);
    let shown = Arc::new(Mutex::new(Vec::new()));
    let (t1, t2, t3) = (Arc::clone(&tick), Arc::clone(&tick), tick);
    let keep = Arc::clone(&shown);
    let handle = conn
        .resource::<JournalModel>(resource)
        .on_shared_state(move |state| {
            lock(&keep).push(state.entries.clone());
            t1.send_modify(|n| *n += 1);
        })
        .on_status(move |_| t2.send_modify(|n| *n += 1))
        .on_action(move |_, _| t3.send_modify(|n| *n += 1))
        .join()?;
    Ok((handle, changes, shown))
}

/// Against the real server, which now serves channels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_clone_of_a_handle_leaves_its_resource() {
    let server = TestServer::start().await.expect("server starts");
    let (conn, mut conn_changes, _) = connect(server.direct_url("board", "ann"));
    until("open", &mut conn_changes, || conn.status().is_open()).await;
    let (chat, mut changes, _) = join_counted(&conn, "chat");
    until("joined", &mut changes, || {
        chat.status() == ResourceStatus::Joined
    })
    .await;
    let channel = chat.channel();

    let clone = chat.clone();
    drop(chat);
    // Still held: an action on the clone runs on the server's chat.
    let op = clone
        .send_action(JournalAction::Append { value: 1 })
        .expect("sent");
    until("the clone's action settled", &mut changes, || {
        matches!(clone.op(op), Some(OpState::Ok { .. }))
    })
    .await;
    assert_eq!(server.head("chat").await.0.entries, [1]);

    drop(clone);
    // The channel is free again after the server's Left: the next join of
    // the same resource gets it, and the chat's state from the server. A
    // Left is no connection event, so each retry follows a board commit's
    // delta (an event of this connection).
    let again = async {
        let mut value = 100;
        loop {
            match try_join_counted(&conn, "chat") {
                Ok(joined) => return joined,
                Err(Error::Channel(ChannelError::AlreadyJoined(_))) => {}
                Err(other) => panic!("{other:?}"),
            }
            value += 1;
            server.append("board", value).await;
            conn_changes.changed().await.expect("the driver is alive");
        }
    };
    let (again, mut changes, _) = tokio::time::timeout(LIMIT, again)
        .await
        .expect("joined again after the Left");
    assert_eq!(again.channel(), channel);
    until("joined again with the chat", &mut changes, || {
        again.status() == ResourceStatus::Joined && again.state().entries == [1]
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_rejoins_every_handle_from_its_resume_point() {
    let mut peer = Peer::start().await;
    let (conn, mut conn_changes, _) = connect(peer.url.clone());
    until("open", &mut conn_changes, || conn.status().is_open()).await;
    let mut handles = Vec::new();
    for (resource, value) in [("chat", 1), ("inbox", 2), ("map", 3)] {
        let (handle, mut changes, _) = join_counted(&conn, resource);
        until("joined", &mut changes, || {
            handle.status() == ResourceStatus::Joined
        })
        .await;
        let op = handle
            .send_action(JournalAction::Append { value })
            .expect("sent");
        until("appended", &mut changes, || {
            matches!(handle.op(op), Some(OpState::Ok { .. })) && handle.seq() == Some(1)
        })
        .await;
        handles.push((handle, changes, value));
    }
    let channels: Vec<Channel> = handles.iter().map(|(h, _, _)| h.channel()).collect();
    assert_eq!(channels, [Channel(1), Channel(2), Channel(3)]);

    peer.cut.send_modify(|n| *n += 1);
    // On the second socket, every resource is joined again on its channel,
    // from seq 1 in epoch 9.
    let mut rejoined = Vec::new();
    while rejoined.len() < 3 {
        let (channel, resource, last_seq, epoch) = peer
            .next("a Join on the second socket", |(socket, c, m)| match m {
                ClientMessage::Join {
                    resource,
                    last_seq,
                    epoch,
                } if *socket == 2 => Some((*c, resource.clone(), *last_seq, *epoch)),
                _ => None,
            })
            .await;
        assert_eq!((last_seq, epoch), (Some(1), Some(9)), "{resource}");
        rejoined.push((channel, resource));
    }
    rejoined.sort();
    assert_eq!(
        rejoined,
        [
            (Channel(1), "chat".to_owned()),
            (Channel(2), "inbox".to_owned()),
            (Channel(3), "map".to_owned())
        ]
    );
    for (handle, changes, value) in &mut handles {
        until("joined again", changes, || {
            handle.status() == ResourceStatus::Joined
        })
        .await;
        assert_eq!(handle.state().entries, [*value]);
        assert_eq!(handle.connection_status(), ConnectionStatus::Open);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_on_a_joined_resource_keeps_its_values_and_close_leaves() {
    let mut peer = Peer::start().await;
    let (conn, mut conn_changes, _) = connect(peer.url.clone());
    until("open", &mut conn_changes, || conn.status().is_open()).await;
    let (tick, mut changes) = watch::channel(0u64);
    let parts = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&parts);
    let binding = Binding::<JournalModel>::join(
        &conn.socket(),
        "chat",
        &FlowOptions::default(),
        move |part, _| {
            lock(&seen).push(part);
            tick.send_modify(|n| *n += 1);
        },
    );
    let latest = binding.latest().clone();
    until("joined", &mut changes, || {
        latest.resource_status() == Some(ResourceStatus::Joined)
    })
    .await;
    assert!(latest.status().is_open(), "the shared connection's status");

    let kept = binding
        .send_optimistic(JournalAction::Append { value: 4 }, Entry { value: 4 })
        .expect("sent");
    let refused = binding
        .send_optimistic(
            JournalAction::Reject {
                reason: "no".into(),
            },
            Entry { value: 66 },
        )
        .expect("sent");
    until(
        "both settled and the refusal rolled back",
        &mut changes,
        || {
            let ops = latest.ops();
            ops.len() == 2
                && matches!(ops[0], (id, OpState::Ok { .. }) if id == kept)
                && matches!(ops[1], (id, OpState::Err { .. }) if id == refused)
                && latest.state().entries == [4]
        },
    )
    .await;
    let shown = latest.state();
    assert!(
        Arc::ptr_eq(&shown, &binding.latest().state()),
        "every reader shares one state"
    );
    assert_eq!(
        conn.state().entries,
        Vec::<u32>::new(),
        "channel 0 untouched"
    );
    for part in [Part::Status, Part::Resource, Part::State, Part::Ops] {
        assert!(lock(&parts).contains(&part), "{part:?} was told");
    }

    let channel = binding.resource().expect("a resource binding").channel();
    binding.close();
    peer.next("the Leave", |(_, c, m)| {
        (*c == channel && matches!(m, ClientMessage::Leave)).then_some(())
    })
    .await;
    until("left", &mut changes, || {
        matches!(
            latest.resource_status(),
            Some(ResourceStatus::Left { code: None, .. })
        )
    })
    .await;
    assert!(matches!(
        binding.send_action(JournalAction::Append { value: 1 }),
        Err(Error::Channel(ChannelError::NotJoined(_)))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_past_the_announced_limit_or_twice_fails_with_a_typed_error() {
    let peer = Peer::start().await;
    let (conn, mut conn_changes, _) = connect(peer.url.clone());
    until("open", &mut conn_changes, || conn.status().is_open()).await;
    let socket = conn.socket();
    let mut held: Vec<ResourceHandle<JournalModel>> = (0..15)
        .map(|n| socket.join(format!("r{n}")).expect("within the limit"))
        .collect();
    let twice = socket.join::<JournalModel>("r3");
    assert!(
        matches!(&twice, Err(Error::Channel(ChannelError::AlreadyJoined(r))) if r == "r3"),
        "{twice:?}"
    );
    held.push(socket.join("r15").expect("the 16th"));
    let over = socket.join::<JournalModel>("r16");
    assert!(
        matches!(over, Err(Error::Channel(ChannelError::Limit { limit: 16 }))),
        "{over:?}"
    );
    assert_eq!(held.len(), 16);
    // Closed for good: joining is a misuse.
    socket.close();
    until("closed", &mut conn_changes, || {
        matches!(conn.status(), ConnectionStatus::Closed { .. })
    })
    .await;
    assert!(matches!(
        socket.join::<JournalModel>("late"),
        Err(Error::Misuse(ui_flow::ApiMisuse::Closed))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handles_callbacks_see_its_deltas_actions_and_the_connections_status() {
    let peer = Peer::start().await;
    let (conn, mut conn_changes, _) = connect(peer.url.clone());
    until("open", &mut conn_changes, || conn.status().is_open()).await;
    let (tick, mut changes) = watch::channel(0u64);
    let tick = Arc::new(tick);
    let deltas = Arc::new(Mutex::new(Vec::new()));
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let connection = Arc::new(Mutex::new(Vec::new()));
    let (d, o, c) = (
        Arc::clone(&deltas),
        Arc::clone(&outcomes),
        Arc::clone(&connection),
    );
    let (t1, t2, t3) = (Arc::clone(&tick), Arc::clone(&tick), tick);
    let chat = conn
        .resource::<JournalModel>("chat")
        .on_delta(move |delta, seq| {
            lock(&d).push((delta.value, seq));
            t1.send_modify(|n| *n += 1);
        })
        .on_action(move |op, state| {
            if state.is_settled() {
                lock(&o).push(op);
            }
            t2.send_modify(|n| *n += 1);
        })
        .on_connection_status(move |status| {
            lock(&c).push(status.clone());
            t3.send_modify(|n| *n += 1);
        })
        .join()
        .expect("joins");
    let first = chat
        .send_action(JournalAction::Append { value: 10 })
        .expect("sent");
    let second = chat
        .send_action(JournalAction::Append { value: 20 })
        .expect("sent");
    until("both deltas and outcomes", &mut changes, || {
        lock(&deltas).len() == 2 && lock(&outcomes).len() == 2
    })
    .await;
    assert_eq!(*lock(&deltas), [(10, 1), (20, 2)], "in seq order");
    assert_eq!(*lock(&outcomes), [first, second]);
    assert_eq!(
        *lock(&connection),
        [ConnectionStatus::Open],
        "told once, at the first batch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_keeps_the_socket_open_after_the_connection_is_dropped() {
    let mut peer = Peer::start().await;
    let (conn, mut conn_changes, _) = connect(peer.url.clone());
    until("open", &mut conn_changes, || conn.status().is_open()).await;
    let (chat, mut changes, _) = join_counted(&conn, "chat");
    until("joined", &mut changes, || {
        chat.status() == ResourceStatus::Joined
    })
    .await;
    drop(conn);
    // The handle still works on the same socket.
    let op = chat
        .send_action(JournalAction::Append { value: 1 })
        .expect("sent");
    let socket = peer
        .next("the action", |(socket, _, m)| match m {
            ClientMessage::Action { op_id, .. } if *op_id == op => Some(*socket),
            _ => None,
        })
        .await;
    assert_eq!(socket, 1, "the first socket, still open");
    // The last holder gone, the connection closes.
    drop(chat);
    let ended = tokio::time::timeout(LIMIT, peer.ended.recv())
        .await
        .expect("the socket ended");
    assert_eq!(ended, Some(1));
}

/// A state scope that counts the stretches of work it ran, and what holds
/// it (to see it released).
fn counting_scope() -> (
    Arc<std::sync::atomic::AtomicUsize>,
    impl Fn(&mut dyn FnMut()) + Send + Sync + 'static,
) {
    let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&ran);
    (ran, move |work: &mut dyn FnMut()| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        work();
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_joined_on_one_socket_run_their_own_state_scope_and_let_go_at_close() {
    use std::sync::atomic::Ordering::SeqCst;
    let peer = Peer::start().await;
    let (conn, mut conn_changes, _) = connect(peer.url.clone());
    until("open", &mut conn_changes, || conn.status().is_open()).await;
    let (tick, mut changes) = watch::channel(0u64);
    let tick = Arc::new(tick);
    let join = |resource: &str| {
        let (ran, scope) = counting_scope();
        let ticks = Arc::clone(&tick);
        let binding = Binding::<JournalModel>::join(
            &conn.socket(),
            resource,
            &FlowOptions::default().state_scope(scope),
            move |_, _| ticks.send_modify(|n| *n += 1),
        );
        (binding, ran)
    };
    let (chat, chat_ran) = join("chat");
    let (notes, notes_ran) = join("notes");
    for binding in [&chat, &notes] {
        let latest = binding.latest().clone();
        let handle = binding.resource().expect("joined").clone();
        until("joined with a snapshot", &mut changes, || {
            latest.resource_status() == Some(ResourceStatus::Joined) && handle.seq().is_some()
        })
        .await;
    }
    let notes_before = notes_ran.load(SeqCst);
    let chat_before = chat_ran.load(SeqCst);
    chat.send_optimistic(JournalAction::Append { value: 4 }, Entry { value: 4 })
        .expect("sent");
    let latest = chat.latest().clone();
    until("the chat's action settled", &mut changes, || {
        matches!(latest.ops().first(), Some((_, OpState::Ok { .. })))
            && latest.state().entries == [4]
    })
    .await;
    assert!(
        chat_ran.load(SeqCst) > chat_before,
        "the chat's work ran in the chat's scope"
    );
    assert_eq!(
        notes_ran.load(SeqCst),
        notes_before,
        "nothing of the chat ran in the notes' scope"
    );
    assert!(
        Arc::strong_count(&notes_ran) > 1,
        "the notes hold their scope"
    );
    // Closing one binding lets go of its scope at once on the binding's
    // side, and on the resource's once it is being left; the other keeps
    // its own.
    notes.close();
    assert_eq!(
        Arc::strong_count(&notes_ran),
        1,
        "the notes' binding and resource let go of their scope"
    );
    assert!(Arc::strong_count(&chat_ran) > 1, "the chat keeps its scope");
    // Closing the connection lets go of the rest, while `chat` lives on.
    conn.close();
    let wait = async {
        while Arc::strong_count(&chat_ran) > 1 {
            changes.changed().await.expect("the driver is alive");
        }
    };
    assert!(
        tokio::time::timeout(LIMIT, wait).await.is_ok(),
        "the chat's scope is still held after the connection closed"
    );
    drop(chat);
}
