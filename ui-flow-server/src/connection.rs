//! The task that drives one upgraded WebSocket (the HTTP side is in
//! [`crate::endpoint`]).
//!
//! The task authenticates, registers with the hub, then runs one `select!`
//! over the socket's read half, the writer (which drains the connection's
//! outbox into the write half), the liveness timer and, once the connection
//! is closing, the close grace timer. It holds no protocol logic: frames go
//! to the hub as they are.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use tokio::time::{Instant, sleep_until};
use ui_flow::{CloseCode, ErrorCode, ServerMessage};

use crate::counters::Live;
use crate::endpoint::Handshake;
use crate::handler::FlowHandler;
use crate::hub::{ConnectionId, Now};
use crate::outbox::{Next, Outbox};
use crate::server::Inner;

/// Runs one upgraded connection: authenticates, registers with the hub,
/// then drives the socket until the connection is over.
pub(crate) async fn serve<H: FlowHandler>(inner: Arc<Inner<H>>, socket: WebSocket, hs: Handshake) {
    let config = &inner.config;
    let identity = match tokio::time::timeout(
        config.handshake_timeout,
        hs.authenticate(inner.auth.as_ref()),
    )
    .await
    {
        Ok(Ok(identity)) => identity,
        Ok(Err(e)) => {
            Live::add(&inner.counters.connections_refused, 1);
            tracing::info!(error = %e, "authentication failed");
            let frame = error_frame(ErrorCode::UNAUTHORIZED, "authentication failed");
            refuse(
                &inner,
                socket,
                Some(frame),
                CloseCode::UNAUTHORIZED,
                "unauthorized",
            )
            .await;
            return;
        }
        Err(_) => {
            Live::add(&inner.counters.connections_refused, 1);
            tracing::info!("authentication did not finish within the handshake timeout");
            refuse(
                &inner,
                socket,
                None,
                CloseCode::HANDSHAKE_TIMEOUT,
                "handshake timeout",
            )
            .await;
            return;
        }
    };
    let user_id = identity.user_id.clone();
    let outbox = Arc::new(Outbox::new(config.outbound_queue_bytes));
    let id = match inner.register(&hs.resource, identity, hs.resume, outbox.clone()) {
        Ok(id) => id,
        Err(refusal) => {
            Live::add(&inner.counters.connections_refused, 1);
            tracing::info!(user = %user_id, reason = %refusal, "connection refused");
            let (code, close) = refusal.codes();
            let frame = error_frame(code, &refusal.to_string());
            refuse(&inner, socket, Some(frame), close, "refused").await;
            return;
        }
    };
    let span = tracing::Span::current();
    span.record("conn", id.0);
    span.record("user", user_id.as_str());
    tracing::debug!("connected");
    run(&inner, socket, id, &outbox).await;
    inner.unregister(id);
    tracing::debug!("disconnected");
}

/// The connection's main loop; returns when the connection is over.
async fn run<H: FlowHandler>(
    inner: &Arc<Inner<H>>,
    socket: WebSocket,
    id: ConnectionId,
    outbox: &Outbox,
) {
    let config = &inner.config;
    let counters = &inner.counters;
    let (mut sink, mut stream) = socket.split();
    let writer = write_all(&mut sink, outbox, counters);
    tokio::pin!(writer);
    let liveness = tokio::time::sleep(config.liveness_timeout);
    tokio::pin!(liveness);
    let closing = outbox.closing();
    tokio::pin!(closing);
    let mut grace: Option<Instant> = None;
    let mut reading = true;
    loop {
        tokio::select! {
            () = &mut writer => break,
            msg = stream.next(), if reading => {
                liveness.as_mut().reset(Instant::now() + config.liveness_timeout);
                match msg {
                    Some(Ok(Message::Binary(bytes))) => {
                        Live::add(&counters.frames_in, 1);
                        Live::add(&counters.bytes_in, bytes.len() as u64);
                        inner.run(|hub| hub.handle_frame(Now::system(), id, &bytes));
                    }
                    Some(Ok(Message::Text(text))) => {
                        Live::add(&counters.frames_in, 1);
                        Live::add(&counters.bytes_in, text.len() as u64);
                        inner.run(|hub| hub.handle_text_frame(id));
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Err(e)) => {
                        reading = false;
                        if is_too_big(e) {
                            Live::add(&counters.drops, 1);
                            inner.run(|hub| hub.handle_oversized(id));
                        } else {
                            break;
                        }
                    }
                }
            }
            () = &mut liveness, if grace.is_none() => {
                Live::add(&counters.liveness_timeouts, 1);
                inner.run(|hub| hub.handle_liveness_timeout(id));
                grace = Some(Instant::now() + config.close_grace);
            }
            () = &mut closing, if grace.is_none() => {
                grace = Some(Instant::now() + config.close_grace);
            }
            () = sleep_until(grace.unwrap_or_else(Instant::now)), if grace.is_some() => break,
        }
    }
}

/// Writes the outbox to the socket until the outbox closes or the socket fails.
async fn write_all(sink: &mut SplitSink<WebSocket, Message>, outbox: &Outbox, counters: &Live) {
    loop {
        match outbox.next().await {
            Next::Frames(frames, size) => {
                let count = frames.len() as u64;
                for frame in frames {
                    if sink.feed(Message::Binary(frame)).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
                outbox.written(size);
                Live::add(&counters.frames_out, count);
                Live::add(&counters.bytes_out, size as u64);
            }
            Next::Close(code, reason) => {
                let _ = sink.send(close_message(code, reason)).await;
                return;
            }
        }
    }
}

/// Sends an optional error frame and a close to a connection the hub never saw.
async fn refuse<H: FlowHandler>(
    inner: &Inner<H>,
    mut socket: WebSocket,
    frame: Option<Vec<u8>>,
    code: CloseCode,
    reason: &'static str,
) {
    let send = async {
        if let Some(frame) = frame {
            socket.send(Message::Binary(frame.into())).await?;
        }
        socket.send(close_message(code, reason)).await
    };
    let _ = tokio::time::timeout(inner.config.close_grace, send).await;
}

fn close_message(code: CloseCode, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code: code.0,
        reason: reason.into(),
    }))
}

fn error_frame(code: ErrorCode, message: &str) -> Vec<u8> {
    ServerMessage::<(), (), ()>::Error {
        code: Some(code),
        message: message.to_owned(),
        fatal: true,
    }
    .encode()
    .unwrap_or_default()
}

/// Whether a read error is "message or frame over the size limit".
fn is_too_big(error: axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error as WsError;
    matches!(
        error.into_inner().downcast_ref::<WsError>(),
        Some(WsError::Capacity(_))
    )
}
