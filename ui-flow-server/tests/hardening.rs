//! Hostile and failing peers over real sockets on 127.0.0.1: frozen
//! clients, half-sent upgrade requests, join/leave churn, oversized frames.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use futures::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use ui_flow_server::{RateLimit, ServerConfig};

/// A TCP connection from `source` (any 127.0.0.0/8 address on Linux).
async fn tcp_from(source: [u8; 4], server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((source, 0)))
        .expect("bind source address");
    socket.connect(server).await.expect("tcp connect")
}

/// Waits until the server closes the socket (EOF or reset); returns what
/// it sent before.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let read = tokio::time::timeout(STUCK, stream.read(&mut buf))
            .await
            .expect("stuck: the server kept a pending socket open");
        match read {
            Ok(0) | Err(_) => return seen,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_frozen_client_is_pinged_dropped_and_leaves_presence() {
    let mut config = ServerConfig::default();
    config.ping_interval = Duration::from_millis(200);
    config.pong_timeout = Duration::from_millis(300);
    config.close_grace = Duration::from_millis(300);
    let t = start(Plain::default(), config).await;
    let (mut bystander, _) = Client::join(t.addr, "room", "bystander").await;
    let (mut frozen, _) = Client::join(t.addr, "room", "frozen").await;
    // From here on the frozen client's socket is never polled, so its
    // WebSocket library answers no ping (like a SIGSTOPped process). The
    // bystander reads all along, which answers the pings it gets.
    loop {
        match bystander.recv().await {
            Msg::PresenceDiff(d) if d.left == ["frozen"] => break,
            Msg::PresenceDiff(d) if d.joined.iter().any(|u| u.user_id == "frozen") => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(t.server.session("room").presence().len(), 1);
    assert!(t.server.counters().liveness_timeouts >= 1);
    // Thawed, the client finds the reason before the end of the stream.
    let (msgs, _) = frozen.read_to_close().await;
    assert_eq!(
        msgs.iter().filter_map(error_code).collect::<Vec<_>>(),
        [("liveness_timeout".to_owned(), true)]
    );
}

#[tokio::test]
async fn half_sent_upgrade_requests_are_closed_and_do_not_keep_a_real_client_out() {
    let mut config = ServerConfig::default();
    config.upgrade_timeout = Duration::from_secs(2);
    config.max_pending_per_ip = 50;
    let t = start(Plain::default(), config).await;
    // 150 sockets from one address send half a request and stall.
    let mut stalled = Vec::new();
    for _ in 0..150 {
        let mut s = tcp_from([127, 0, 0, 2], t.addr).await;
        s.write_all(b"GET /realtime/room?token=x HTTP/1.1\r\nHost: a\r\n")
            .await
            .expect("half a request");
        stalled.push(s);
    }
    // A real client from another address joins meanwhile.
    let (mut real, joined) = Client::join(t.addr, "room", "real").await;
    assert_eq!(joined.users.len(), 1);
    real.send(&ui_flow::ClientMessage::<()>::Ping {
        ts: 5,
        presence: None,
    })
    .await;
    assert!(matches!(real.recv().await, Msg::Pong { client_ts: 5, .. }));
    // Every stalled socket is closed without a response: the 100 over the
    // per-address bound at once, the rest at the upgrade timeout.
    for s in &mut stalled {
        assert_eq!(read_until_closed(s).await, b"");
    }
    assert!(t.server.counters().connections_refused >= 100);
}

#[tokio::test]
async fn pending_sockets_count_against_the_connection_limit() {
    let mut config = ServerConfig::default();
    config.max_connections = 20;
    config.upgrade_timeout = Duration::from_secs(3);
    let t = start(Plain::default(), config).await;
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let mut s = tcp_from([127, 0, 0, 3], t.addr).await;
        s.write_all(b"GET /realtime/room HTTP/1.1\r\n")
            .await
            .expect("half a request");
        stalled.push(s);
    }
    // The node is full of pending sockets: a 21st socket is closed at once.
    let refused = Client::connect_request(url(t.addr, "room", "real")).await;
    assert!(refused.is_err(), "a socket over the limit was served");
    // Once the upgrade timeout has closed them, a real client gets in.
    for s in &mut stalled {
        assert_eq!(read_until_closed(s).await, b"");
    }
    let (_real, joined) = Client::join(t.addr, "room", "real").await;
    assert_eq!(joined.users.len(), 1);
}

#[tokio::test]
async fn join_churn_is_rate_limited_and_bystanders_get_few_diffs() {
    let mut config = ServerConfig::default();
    let burst = 5;
    config.join_rate = RateLimit {
        per_second: 0.001,
        burst,
    };
    let t = start(Plain::default(), config).await;
    let (mut bystander, _) = Client::join(t.addr, "room", "bystander").await;
    // One user joins and leaves 100 times as fast as it can.
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..100 {
        let mut churn = Client::connect(t.addr, "room", "churn").await;
        match churn.recv().await {
            Msg::Connected { .. } => accepted += 1,
            m => {
                assert_eq!(
                    error_code(&m),
                    Some(("too_many_connections".to_owned(), true))
                );
                let (_, close) = churn.read_to_close().await;
                assert_eq!(close_code(&close), Some(4006));
                refused += 1;
            }
        }
        churn.ws.close(None).await.ok();
        drop(churn);
    }
    assert_eq!((accepted, refused), (burst, 100 - burst));
    // A marker joins last; count every diff the bystander got until then.
    let (_marker, _) = Client::join(t.addr, "room", "marker").await;
    let mut diffs = 0;
    loop {
        match bystander.recv().await {
            Msg::PresenceDiff(d) => {
                diffs += 1;
                if d.joined.iter().any(|u| u.user_id == "marker") {
                    break;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // At most a join and a leave per accepted join, plus the marker's; the
    // batch window usually merges most of them.
    assert!(diffs <= 2 * burst + 1, "{diffs} diffs");
}

#[tokio::test]
async fn an_oversized_frame_gets_its_error_and_the_1009_close_while_the_client_still_writes() {
    let mut config = ServerConfig::default();
    config.max_message_size = 16 * 1024;
    // Long enough that the client certainly reads before the grace ends.
    config.close_grace = STUCK;
    let t = start(Plain::default(), config).await;
    let (big, _) = Client::join(t.addr, "room", "big").await;
    // A frame larger than the socket buffers, written while the client
    // reads (as a browser does): the server stops reading at its header, so
    // the client is still writing when the server closes.
    let (mut sink, stream) = futures::StreamExt::split(big.ws);
    let write_failed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let failed = write_failed.clone();
    let writer = tokio::spawn(async move {
        let sent = sink
            .send(Message::Binary(vec![0u8; 32 * 1024 * 1024].into()))
            .await;
        failed.store(sent.is_err(), std::sync::atomic::Ordering::SeqCst);
    });
    let mut stream = stream;
    let mut errors = Vec::new();
    let close = loop {
        let next = tokio::time::timeout(STUCK, futures::StreamExt::next(&mut stream))
            .await
            .expect("stuck waiting for the close");
        match next {
            Some(Ok(Message::Binary(b))) => {
                if let Ok(ui_flow::codec::Decoded::Message(m)) = Msg::decode(&b) {
                    errors.extend(error_code(&m));
                }
            }
            Some(Ok(Message::Close(c))) => break c,
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("the connection failed instead of closing: {e}"),
            None => panic!("the stream ended without a close frame"),
        }
    };
    assert_eq!(errors, [("frame_too_large".to_owned(), true)]);
    assert_eq!(close_code(&close), Some(1009));
    // The server did not reset the socket under the client's write: a
    // client that reports a failed write first (many do) would have shown
    // 1006 instead of the close.
    assert!(!write_failed.load(std::sync::atomic::Ordering::SeqCst));
    assert!(!writer.is_finished());
    writer.abort();
}

#[tokio::test]
async fn serve_gives_handlers_the_peer_address() {
    use axum::extract::ConnectInfo;
    let server =
        ui_flow_server::FlowServer::new(Plain::default(), ui_flow_server::UnverifiedUserToken);
    let app = server.router().route(
        "/ip",
        axum::routing::get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
            peer.ip().to_string()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(listener, app).await });
    let mut s = tcp_from([127, 0, 0, 4], addr).await;
    s.write_all(b"GET /ip HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let response = String::from_utf8(read_until_closed(&mut s).await).expect("utf-8");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("127.0.0.4"), "{response}");
}
