//! A connection's outbound queue, bounded in bytes.
//!
//! Pushing never waits: a broadcaster queues the same [`Bytes`] to
//! thousands of outboxes under the hub's lock. When a push would take a
//! connection over its bound, the queued frames are dropped, a
//! `slow_consumer` error and close 4003 are queued instead, and the push
//! reports [`Pushed::Overflow`] so the hub forgets the connection. Nobody
//! else waits for the slow reader.
//!
//! The bound counts frames waiting here plus the batch being written, so it
//! is all the memory this crate holds for the connection's output.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::Notify;
use ui_flow::{CloseCode, ErrorCode, ServerMessage};

/// The result of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued.
    Queued,
    /// This push went over the bound: the connection is now closing as a
    /// slow consumer. Reported once.
    Overflow {
        /// Frames dropped from the queue.
        dropped: usize,
    },
    /// The connection is closing; the frame was discarded.
    Closing,
}

/// What the writer should do next.
#[derive(Debug)]
pub(crate) enum Next {
    /// Write these frames, then call [`Outbox::written`] with their size.
    Frames(Vec<Bytes>, usize),
    /// Everything is written: send this close frame and stop.
    Close(CloseCode, &'static str),
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Bytes>,
    /// Bytes queued plus bytes taken by the writer and not yet written.
    bytes: usize,
    close: Option<(CloseCode, &'static str)>,
}

#[derive(Debug)]
pub(crate) struct Outbox {
    bound: usize,
    state: Mutex<State>,
    writer: Notify,
    closing: Notify,
}

impl Outbox {
    pub(crate) fn new(bound: usize) -> Self {
        Outbox {
            bound,
            state: Mutex::new(State::default()),
            writer: Notify::new(),
            closing: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn push(&self, frame: Bytes) -> Pushed {
        let mut state = self.lock();
        if state.close.is_some() {
            return Pushed::Closing;
        }
        if state.bytes + frame.len() > self.bound {
            let dropped = state.frames.len();
            let removed: usize = state.frames.drain(..).map(|f| f.len()).sum();
            let error = slow_consumer_frame();
            state.bytes = state.bytes - removed + error.len();
            state.frames.push_back(error);
            state.close = Some((CloseCode::SLOW_CONSUMER, "slow consumer"));
            drop(state);
            self.writer.notify_one();
            self.closing.notify_one();
            return Pushed::Overflow { dropped };
        }
        state.bytes += frame.len();
        state.frames.push_back(frame);
        drop(state);
        self.writer.notify_one();
        Pushed::Queued
    }

    /// Closes after the frames already queued.
    pub(crate) fn close(&self, code: CloseCode, reason: &'static str) {
        let mut state = self.lock();
        if state.close.is_none() {
            state.close = Some((code, reason));
        }
        drop(state);
        self.writer.notify_one();
        self.closing.notify_one();
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.lock().close.is_some()
    }

    /// Resolves once [`close`](Self::close) was called or the bound was hit.
    pub(crate) async fn closing(&self) {
        loop {
            let notified = self.closing.notified();
            if self.is_closing() {
                return;
            }
            notified.await;
        }
    }

    /// Waits for work for the writer.
    pub(crate) async fn next(&self) -> Next {
        loop {
            let notified = self.writer.notified();
            {
                let mut state = self.lock();
                if !state.frames.is_empty() {
                    let frames: Vec<Bytes> = state.frames.drain(..).collect();
                    let size = frames.iter().map(Bytes::len).sum();
                    return Next::Frames(frames, size);
                }
                if let Some((code, reason)) = state.close {
                    return Next::Close(code, reason);
                }
            }
            notified.await;
        }
    }

    /// The writer finished writing `size` bytes taken with [`next`](Self::next).
    pub(crate) fn written(&self, size: usize) {
        let mut state = self.lock();
        state.bytes = state.bytes.saturating_sub(size);
    }
}

fn slow_consumer_frame() -> Bytes {
    let msg = ServerMessage::<(), (), ()>::Error {
        code: Some(ErrorCode::SLOW_CONSUMER),
        message: "the connection fell behind its outbound queue bound; reconnect and resync"
            .to_owned(),
        fatal: true,
        op_id: None,
    };
    msg.encode().map(Bytes::from).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn overflow_drops_the_queue_and_closes_as_slow_consumer() {
        let outbox = Outbox::new(10);
        assert_eq!(outbox.push(Bytes::from_static(b"12345")), Pushed::Queued);
        assert_eq!(outbox.push(Bytes::from_static(b"12345")), Pushed::Queued);
        assert_eq!(
            outbox.push(Bytes::from_static(b"x")),
            Pushed::Overflow { dropped: 2 }
        );
        assert_eq!(outbox.push(Bytes::from_static(b"x")), Pushed::Closing);
        match outbox.next().await {
            Next::Frames(frames, _) => {
                assert_eq!(frames.len(), 1);
                let decoded = ServerMessage::<(), (), ()>::decode(&frames[0]).expect("decode");
                assert!(matches!(
                    decoded.message(),
                    Some(ServerMessage::Error { code: Some(c), fatal: true, .. }) if c == ErrorCode::SLOW_CONSUMER
                ));
            }
            other => panic!("expected the error frame, got {other:?}"),
        }
        assert!(matches!(
            outbox.next().await,
            Next::Close(CloseCode::SLOW_CONSUMER, _)
        ));
    }

    #[tokio::test]
    async fn bytes_being_written_count_against_the_bound() {
        let outbox = Outbox::new(10);
        outbox.push(Bytes::from_static(b"123456"));
        let Next::Frames(_, size) = outbox.next().await else {
            panic!("expected frames");
        };
        // Taken but not yet written: still counted.
        assert!(matches!(
            outbox.push(Bytes::from_static(b"123456")),
            Pushed::Overflow { .. }
        ));
        outbox.written(size);
    }
}
