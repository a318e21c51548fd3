//! The task that drives one upgraded WebSocket.
//!
//! It registers the socket with the hub of its URL's resource (which
//! starts the handshake timeout) and keeps that resource's slot, so its
//! frames lock that resource only (see `crate::server`), authenticates, then runs one `select!` over the socket's read
//! half, the writer (which drains the connection's outbox into the write
//! half) and the abort signal. It holds no protocol logic and no timer:
//! frames go to the hub as they are (through `crate::channels` when the
//! server serves channels: it routes each frame by its channel and answers
//! `Join` and `Leave`), and the hub decides when to ping, when a peer is
//! dead and when a closing socket is dropped.
//!
//! Closing: after its close frame, the task keeps reading until the
//! client's close frame (or the end of the stream), so the client sees the
//! close handshake finish instead of a reset. After an oversized frame it
//! cannot read any further (the rest of that frame would have to be
//! buffered), so it holds the socket open without reading until the hub's
//! close grace ends, giving the client time to read the `Error` and 1009.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::stream::FuturesUnordered;
use futures::stream::SplitSink;
use futures::{FutureExt, SinkExt, StreamExt};
use ui_flow::CloseCode;

use crate::channels::{Channels, LeftWatch};
use crate::counters::Live;
use crate::endpoint::Handshake;
use crate::handler::FlowHandler;
use crate::hub::{ConnectionId, HandshakeError, Now};
use crate::outbox::{Next, Outbox, Unwritten};
use crate::server::{Inner, Slot};

pub(crate) async fn serve<H: FlowHandler>(inner: Arc<Inner<H>>, socket: WebSocket, hs: Handshake) {
    let outbox = Arc::new(Outbox::new(inner.config.outbound_queue_bytes));
    let (slot, id) = inner.begin(&hs.resource, outbox.clone());
    let admitted = authenticate(&inner, &slot, id, &hs, &outbox).await;
    if admitted {
        tracing::debug!("connected");
    }
    let mut channels = admitted
        .then(|| Channels::new(&inner, &slot, id, &outbox, hs.for_joins()))
        .flatten();
    // The upgrade request's headers are slices of the HTTP read buffer
    // (8 KiB): holding them would keep that buffer for the connection's
    // whole life.
    drop(hs);
    run(&inner, &slot, socket, id, &outbox, channels.as_mut()).await;
    if let Some(channels) = &channels {
        channels.close();
    }
    inner.unregister(&slot, id, admitted);
    tracing::debug!("disconnected");
}

/// Authenticates and joins; false when the connection was refused (its
/// `Error` and close are then queued) or the handshake timed out first.
async fn authenticate<H: FlowHandler>(
    inner: &Arc<Inner<H>>,
    slot: &Arc<Slot<H>>,
    id: ConnectionId,
    hs: &Handshake,
    outbox: &Outbox,
) -> bool {
    let result = tokio::select! {
        result = hs.authenticate(inner.auth.as_ref()) => result,
        () = outbox.closing() => {
            Live::add(&inner.counters.connections_refused, 1);
            tracing::info!("authentication did not finish within the handshake timeout");
            return false;
        }
    };
    let identity = match result {
        Ok(identity) => identity,
        Err(e) => {
            Live::add(&inner.counters.connections_refused, 1);
            tracing::info!(error = %e, "authentication failed");
            inner.run_on(slot, |hub| hub.fail_handshake(Now::system(), id));
            return false;
        }
    };
    let user_id = identity.user_id.clone();
    match inner.admit(slot, id, identity, hs.resume) {
        Ok(()) => {
            let span = tracing::Span::current();
            span.record("conn", id.0);
            span.record("user", user_id.as_str());
            true
        }
        Err(e) => {
            Live::add(&inner.counters.connections_refused, 1);
            match e {
                HandshakeError::Refused(refusal) => {
                    tracing::info!(user = %user_id, reason = %refusal, "connection refused");
                }
                _ => tracing::info!("authentication finished after the handshake timeout"),
            }
            false
        }
    }
}

/// How the writer stopped.
enum Written {
    /// The close frame went out.
    Closed,
    /// The socket failed.
    Failed,
}

/// The connection's main loop; returns when the connection is over.
async fn run<H: FlowHandler>(
    inner: &Arc<Inner<H>>,
    slot: &Arc<Slot<H>>,
    socket: WebSocket,
    id: ConnectionId,
    outbox: &Outbox,
    mut channels: Option<&mut Channels<H>>,
) {
    let counters = &inner.counters;
    let mut joins = FuturesUnordered::new();
    let (mut sink, mut stream) = socket.split();
    let watch = channels.as_deref().map(Channels::left_watch);
    let writer = write_all(
        &mut sink,
        outbox,
        counters,
        inner.config.write_batch_bytes,
        watch,
    );
    tokio::pin!(writer);
    let aborted = outbox.aborted();
    tokio::pin!(aborted);
    let mut reading = true;
    let mut closed = false;
    loop {
        tokio::select! {
            () = &mut aborted => break,
            Some(done) = joins.next(), if !joins.is_empty() => {
                if let Some(channels) = channels.as_deref_mut() {
                    channels.authorized(done);
                }
            }
            written = &mut writer, if !closed => match written {
                Written::Closed => closed = true,
                Written::Failed => break,
            },
            msg = stream.next(), if reading => {
                let mut step = read(inner, slot, id, msg, channels.as_deref_mut(), &mut joins);
                // Frames already read from the socket are handled before the
                // writer's next turn (up to a bound, so the writer is not
                // starved): a burst the client wrote at once is read as
                // one, whatever the writer has meanwhile (see
                // `crate::channels` on leaving channels).
                let mut burst = 1;
                while step == Step::Next && burst < READ_BURST {
                    let Some(msg) = stream.next().now_or_never() else {
                        break;
                    };
                    step = read(inner, slot, id, msg, channels.as_deref_mut(), &mut joins);
                    burst += 1;
                }
                match step {
                    Step::Next => {}
                    Step::StopReading => reading = false,
                    Step::End => break,
                }
            }
        }
    }
}

/// Frames handled from one wake of the read half before the loop turns to
/// the writer and the joins again.
const READ_BURST: usize = 16;

/// What the loop does after one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Next,
    /// An oversized frame: the rest of it cannot be read.
    StopReading,
    /// The socket ended or closed.
    End,
}

/// Handles one item of the read half.
fn read<H: FlowHandler>(
    inner: &Arc<Inner<H>>,
    slot: &Arc<Slot<H>>,
    id: ConnectionId,
    msg: Option<Result<Message, axum::Error>>,
    channels: Option<&mut Channels<H>>,
    joins: &mut FuturesUnordered<futures::future::BoxFuture<'static, crate::channels::Authorized>>,
) -> Step {
    let counters = &inner.counters;
    let now = Now::system();
    match msg {
        Some(Ok(Message::Binary(bytes))) => {
            Live::add(&counters.frames_in, 1);
            Live::add(&counters.bytes_in, bytes.len() as u64);
            match channels {
                Some(channels) => joins.extend(channels.frame(now, bytes)),
                None => inner.run_on(slot, |hub| hub.handle_frame(now, id, &bytes)),
            }
        }
        Some(Ok(Message::Text(text))) => {
            Live::add(&counters.frames_in, 1);
            Live::add(&counters.bytes_in, text.len() as u64);
            inner.run_on(slot, |hub| hub.handle_text_frame(now, id));
        }
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
            inner.run_on(slot, |hub| hub.handle_heartbeat(now, id));
        }
        Some(Ok(Message::Close(_))) | None => return Step::End,
        Some(Err(e)) => {
            if !is_too_big(e) {
                return Step::End;
            }
            // Reading on would buffer the rest of the frame.
            Live::add(&counters.drops, 1);
            inner.run_on(slot, |hub| hub.handle_oversized(id));
            return Step::StopReading;
        }
    }
    Step::Next
}

/// Writes the outbox to the socket until the outbox closes or the socket fails.
///
/// Frames are fed to the sink, which gathers up to `batch` bytes
/// ([`ServerConfig::write_batch_bytes`](crate::ServerConfig::write_batch_bytes),
/// set on the upgrade) before it writes; the writer flushes when the outbox
/// runs empty, so a connection that keeps up gets each frame at once. A
/// frame leaves the outbox's count once the library can no longer be
/// holding it ([`Unwritten`]).
///
/// On a socket with channels, `watch` sees every frame before it is fed,
/// to free a leaving channel once its `Left` goes to the socket.
async fn write_all<H: FlowHandler>(
    sink: &mut SplitSink<WebSocket, Message>,
    outbox: &Outbox,
    counters: &Live,
    batch: usize,
    watch: Option<LeftWatch<H>>,
) -> Written {
    let mut unwritten = Unwritten::new(batch);
    loop {
        match outbox.next().await {
            Next::Ping => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return Written::Failed;
                }
                outbox.written(unwritten.flushed());
            }
            Next::Frame(frame) => {
                let size = frame.len();
                if let Some(watch) = &watch {
                    watch.writing(&frame, outbox);
                }
                if sink.feed(Message::Binary(frame)).await.is_err() {
                    return Written::Failed;
                }
                outbox.written(unwritten.fed(size));
                Live::add(&counters.frames_out, 1);
                Live::add(&counters.bytes_out, size as u64);
            }
            Next::Flush => {
                if sink.flush().await.is_err() {
                    return Written::Failed;
                }
                outbox.written(unwritten.flushed());
            }
            Next::Close(code, reason) => {
                return match sink.send(close_message(code, reason)).await {
                    Ok(()) => Written::Closed,
                    Err(_) => Written::Failed,
                };
            }
        }
    }
}

fn close_message(code: CloseCode, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code: code.0,
        reason: reason.into(),
    }))
}

/// Whether a read error is "message or frame over the size limit".
fn is_too_big(error: axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error as WsError;
    matches!(
        error.into_inner().downcast_ref::<WsError>(),
        Some(WsError::Capacity(_))
    )
}
