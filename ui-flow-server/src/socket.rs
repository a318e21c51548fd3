//! The task that drives one upgraded WebSocket.
//!
//! It registers the socket with the hub of its URL's resource (which
//! starts the handshake timeout) and keeps that resource's slot, so its
//! frames lock that resource only (see `crate::server`), authenticates, then runs one `select!` over the socket's read
//! half, the writer (which drains the connection's outbox into the write
//! half) and the abort signal. It holds no protocol logic and no timer:
//! frames go to the hub as they are, and the hub decides when to ping, when
//! a peer is dead and when a closing socket is dropped.
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
use futures::{SinkExt, StreamExt};
use ui_flow::CloseCode;

use crate::auth::Identity;
use crate::channels::Channels;
use crate::counters::Live;
use crate::endpoint::Handshake;
use crate::handler::FlowHandler;
use crate::hub::{ConnectionId, HandshakeError, Now};
use crate::outbox::{Next, Outbox, Unwritten};
use crate::server::{Inner, Slot};

pub(crate) async fn serve<H: FlowHandler>(inner: Arc<Inner<H>>, socket: WebSocket, hs: Handshake) {
    let outbox = Arc::new(Outbox::new(inner.config.outbound_queue_bytes));
    let (slot, id) = inner.begin(&hs.resource, outbox.clone());
    let identity = authenticate(&inner, &slot, id, &hs, &outbox).await;
    let admitted = identity.is_some();
    if admitted {
        tracing::debug!("connected");
    }
    let mut channels = identity.and_then(|identity| {
        Channels::new(
            &inner,
            &slot,
            id,
            &hs.resource,
            &outbox,
            identity,
            hs.for_joins(),
        )
    });
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

/// Authenticates and joins: the identity (kept only when the server
/// serves channels, whose joins are authorized for it), or `None` when the
/// connection was refused (its `Error` and close are then queued) or the
/// handshake timed out first.
async fn authenticate<H: FlowHandler>(
    inner: &Arc<Inner<H>>,
    slot: &Arc<Slot<H>>,
    id: ConnectionId,
    hs: &Handshake,
    outbox: &Outbox,
) -> Option<Identity> {
    let result = tokio::select! {
        result = hs.authenticate(inner.auth.as_ref()) => result,
        () = outbox.closing() => {
            Live::add(&inner.counters.connections_refused, 1);
            tracing::info!("authentication did not finish within the handshake timeout");
            return None;
        }
    };
    let identity = match result {
        Ok(identity) => identity,
        Err(e) => {
            Live::add(&inner.counters.connections_refused, 1);
            tracing::info!(error = %e, "authentication failed");
            inner.run_on(slot, |hub| hub.fail_handshake(Now::system(), id));
            return None;
        }
    };
    let user_id = identity.user_id.clone();
    let kept = if inner.config.max_channels > 0 {
        identity.clone()
    } else {
        Identity::new(String::new())
    };
    match inner.admit(slot, id, identity, hs.resume) {
        Ok(()) => {
            let span = tracing::Span::current();
            span.record("conn", id.0);
            span.record("user", user_id.as_str());
            Some(kept)
        }
        Err(e) => {
            Live::add(&inner.counters.connections_refused, 1);
            match e {
                HandshakeError::Refused(refusal) => {
                    tracing::info!(user = %user_id, reason = %refusal, "connection refused");
                }
                _ => tracing::info!("authentication finished after the handshake timeout"),
            }
            None
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
    let writer = write_all(&mut sink, outbox, counters, inner.config.write_batch_bytes);
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
                let now = Now::system();
                match msg {
                    Some(Ok(Message::Binary(bytes))) => {
                        Live::add(&counters.frames_in, 1);
                        Live::add(&counters.bytes_in, bytes.len() as u64);
                        match channels.as_deref_mut() {
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
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Err(e)) => {
                        if !is_too_big(e) {
                            break;
                        }
                        // Reading on would buffer the rest of the frame.
                        reading = false;
                        Live::add(&counters.drops, 1);
                        inner.run_on(slot, |hub| hub.handle_oversized(id));
                    }
                }
            }
        }
    }
}

/// Writes the outbox to the socket until the outbox closes or the socket fails.
///
/// Frames are fed to the sink, which gathers up to `batch` bytes
/// ([`ServerConfig::write_batch_bytes`](crate::ServerConfig::write_batch_bytes),
/// set on the upgrade) before it writes; the writer flushes when the outbox
/// runs empty, so a connection that keeps up gets each frame at once. A
/// frame leaves the outbox's count once the library can no longer be
/// holding it ([`Unwritten`]).
async fn write_all(
    sink: &mut SplitSink<WebSocket, Message>,
    outbox: &Outbox,
    counters: &Live,
    batch: usize,
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
