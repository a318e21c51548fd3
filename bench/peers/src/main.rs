//! The peers that ui-flow-server is measured against in the fan-out
//! benchmark (`ui-flow-server/examples/fanout.rs`), one per process:
//!
//! - `plain`: a tokio broadcast channel and one task per socket doing
//!   `ws.send(frame)` with tokio-tungstenite's defaults; it sends ui-flow's
//!   own `Delta` bytes, so clients read it exactly like ui-flow-server;
//! - `socketioxide common|msgpack`: socketioxide with the given parser, every
//!   client in one room, `io.to(room).emit("d", &tick)`.
//!
//! Each listens on 127.0.0.1 and obeys the benchmark's control lines on
//! stdin, as every server of the benchmark does (see
//! `ui-flow-server/examples/support/control.rs`, shared with `fanout.rs`).
//! This is a benchmark fixture, not an example of how to use either
//! library.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use socketioxide::extract::SocketRef;
use socketioxide::{ParserConfig, SocketIo};
use tokio_tungstenite::tungstenite::Message;
use ui_flow::ServerMessage;

/// The control lines and process measures every server of the benchmark
/// shares (this is another workspace: the file is included by path).
#[path = "../../../ui-flow-server/examples/support/control.rs"]
mod control;

use control::{control, listener, unix_ns};

/// One broadcast: its number, its slot in the schedule, when it was sent,
/// padded to about 100 bytes (the same fields as the ui-flow delta).
#[derive(Debug, Serialize)]
struct Tick {
    seq: u64,
    slot_ns: u64,
    sent_ns: u64,
    pad: &'static str,
}

const PAD: &str = "abcdefghijklmnopqrstuvwxyzabcdefghijklmn";
const ROOM: &str = "bench";

/// Broadcast `seq`, due at `slot_ns`, sent now.
fn tick(seq: u64, slot_ns: u64) -> Tick {
    Tick {
        seq,
        slot_ns,
        sent_ns: unix_ns(),
        pad: PAD,
    }
}

async fn plain() {
    let listener = listener();
    let addr = listener.local_addr().expect("addr");
    let (tx, _) = tokio::sync::broadcast::channel::<Bytes>(4096);
    let accept_tx = tx.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let mut rx = accept_tx.subscribe();
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                loop {
                    tokio::select! {
                        msg = rx.recv() => match msg {
                            Ok(bytes) => if ws.send(Message::Binary(bytes)).await.is_err() { return },
                            Err(_) => return,
                        },
                        incoming = ws.next() => if !matches!(incoming, Some(Ok(_))) { return },
                    }
                }
            });
        }
    });
    println!("addr {addr}");
    control(|seq, slot| {
        let tick = tick(seq, slot);
        let frame = ServerMessage::<(), &Tick, ()>::Delta {
            delta: &tick,
            seq: tick.seq,
            timestamp: tick.sent_ns / 1_000_000,
            epoch: None,
            prev: None,
        }
        .encode()
        .expect("encode");
        let _ = tx.send(frame.into());
        async {}
    })
    .await;
}

async fn socketioxide(parser: &str) {
    let builder = SocketIo::builder()
        // Room for a few seconds of backlog per socket, like ui-flow's
        // outbox bound, so a saturated run queues instead of dropping.
        .max_buffer_size(4096);
    let builder = match parser {
        "msgpack" => builder.with_parser(ParserConfig::msgpack()),
        _ => builder.with_parser(ParserConfig::common()),
    };
    let (layer, io) = builder.build_layer();
    io.ns("/", async |s: SocketRef| s.join(ROOM));
    let app = axum::Router::new().layer(layer);
    let listener = listener();
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("addr {addr}");
    control(|seq, slot| {
        let tick = tick(seq, slot);
        let io = io.clone();
        async move {
            let _ = io.to(ROOM).emit("d", &tick).await;
        }
    })
    .await;
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match args.first().map(String::as_str) {
        Some("plain") => runtime.block_on(plain()),
        Some("socketioxide") => {
            runtime.block_on(socketioxide(args.get(1).map_or("common", String::as_str)))
        }
        _ => eprintln!("usage: fanout-peer plain | fanout-peer socketioxide common|msgpack"),
    }
}
