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
async fn an_oversized_frame_gets_its_error_and_the_1009_close() {
    let mut config = ServerConfig::default();
    config.max_message_size = 16 * 1024;
    config.close_grace = Duration::from_millis(500);
    let t = start(Plain::default(), config).await;
    let (mut big, _) = Client::join(t.addr, "room", "big").await;
    // Sent while the server stops reading at the header: the close handshake
    // must still reach the client instead of a reset.
    big.ws
        .send(Message::Binary(vec![0u8; 64 * 1024].into()))
        .await
        .expect("send");
    let (msgs, close) = big.read_to_close().await;
    assert_eq!(
        msgs.iter().filter_map(error_code).collect::<Vec<_>>(),
        [("frame_too_large".to_owned(), true)]
    );
    assert_eq!(close_code(&close), Some(1009));
}
