//! A connection's outbound queue, bounded in bytes.
//!
//! Pushing never waits: a broadcaster queues the same [`Bytes`] to
//! thousands of outboxes under its resource's delivery lane (see
//! [`crate::lane`]), not the hub's lock. When a push would take a
//! connection over its bound, the queued frames are dropped, a
//! `slow_consumer` error and close 4003 are queued instead, and the push
//! reports [`Pushed::Overflow`] so the hub forgets the connection. Nobody
//! else waits for the slow reader.
//!
//! The writer takes one frame at a time, so at an overflow only the frame
//! it is writing stands between the client and the `slow_consumer` error:
//! a client whose socket can still take a few hundred bytes learns why it
//! is closed. Room for that error is reserved in the bound. One that cannot
//! take them is dropped when the hub's close grace ends ([`Outbox::abort`]).
//!
//! The bound counts frames waiting here plus frames the writer has taken
//! that the WebSocket library may not have written yet (at most its write
//! batch plus one frame), so it is all the memory held for the connection's
//! output apart from the library's buffer allocation itself.

use std::collections::VecDeque;
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

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
    /// Send a WebSocket ping (ahead of queued frames).
    Ping,
    /// Write this frame, then call [`Outbox::written`] with its length.
    Frame(Bytes),
    /// Nothing is queued: flush what was written.
    Flush,
    /// Everything is written: send this close frame and stop.
    Close(CloseCode, &'static str),
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Bytes>,
    /// Bytes queued plus bytes taken by the writer and not yet written.
    bytes: usize,
    close: Option<(CloseCode, &'static str)>,
    /// Frames were handed out since the last flush.
    unflushed: bool,
    ping: bool,
    aborted: bool,
}

#[derive(Debug)]
pub(crate) struct Outbox {
    bound: usize,
    state: Mutex<State>,
    writer: Notify,
    closing: Notify,
    abort: Notify,
}

impl Outbox {
    pub(crate) fn new(bound: usize) -> Self {
        Outbox {
            bound,
            state: Mutex::new(State::default()),
            writer: Notify::new(),
            closing: Notify::new(),
            abort: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn push(&self, frame: Bytes) -> Pushed {
        let pushed = self.push_unwoken(frame);
        if pushed == Pushed::Queued {
            self.wake();
        }
        pushed
    }

    /// Like [`push`](Self::push), but a queued frame does not wake the
    /// writer: the caller must call [`wake`](Self::wake) afterwards. Lets a
    /// broadcaster queue a frame to many connections under its lock and
    /// wake their writers after letting go of it.
    pub(crate) fn push_unwoken(&self, frame: Bytes) -> Pushed {
        let mut state = self.lock();
        if state.close.is_some() {
            return Pushed::Closing;
        }
        // Room for the error is kept free, so closing never exceeds the bound.
        if state.bytes + frame.len() + slow_consumer_frame().len() > self.bound {
            return self.overflow_locked(state);
        }
        state.bytes += frame.len();
        state.frames.push_back(frame);
        Pushed::Queued
    }

    /// Closes as a slow consumer now, as a push over the bound does: the
    /// queued frames are dropped, the `slow_consumer` error and close 4003
    /// are queued. For a frame refused before it reached this outbox (its
    /// resource's delivery lane was full, see [`crate::lane`]).
    pub(crate) fn overflow(&self) -> Pushed {
        let state = self.lock();
        if state.close.is_some() {
            return Pushed::Closing;
        }
        self.overflow_locked(state)
    }

    fn overflow_locked(&self, mut state: MutexGuard<'_, State>) -> Pushed {
        let error = slow_consumer_frame();
        let dropped = state.frames.len();
        let removed: usize = state.frames.drain(..).map(|f| f.len()).sum();
        state.bytes = state.bytes - removed + error.len();
        state.frames.push_back(error);
        state.close = Some((CloseCode::SLOW_CONSUMER, "slow consumer"));
        drop(state);
        self.writer.notify_one();
        self.closing.notify_one();
        Pushed::Overflow { dropped }
    }

    /// Wakes the writer for frames queued with [`push_unwoken`](Self::push_unwoken).
    pub(crate) fn wake(&self) {
        self.writer.notify_one();
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

    /// Asks the writer for a WebSocket ping.
    pub(crate) fn ping(&self) {
        self.lock().ping = true;
        self.writer.notify_one();
    }

    /// The close grace ran out: the socket is to be dropped now.
    pub(crate) fn abort(&self) {
        self.lock().aborted = true;
        self.abort.notify_one();
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

    /// Resolves once [`abort`](Self::abort) was called.
    pub(crate) async fn aborted(&self) {
        loop {
            let notified = self.abort.notified();
            if self.lock().aborted {
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
                if std::mem::take(&mut state.ping) {
                    return Next::Ping;
                }
                if let Some(frame) = state.frames.pop_front() {
                    state.unflushed = true;
                    return Next::Frame(frame);
                }
                if std::mem::take(&mut state.unflushed) {
                    return Next::Flush;
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

/// Bytes the writer has handed to the WebSocket library that the library
/// may not have written to the socket yet.
///
/// The library gathers frames up to its write batch and writes when the
/// batch is exceeded; a feed first finishes any write the previous one left
/// pending. So after feeding a frame, at most the batch plus that frame are
/// still unwritten, and after a flush nothing is. This is an upper bound:
/// the outbox keeps counting those bytes until they are surely gone.
#[derive(Debug)]
pub(crate) struct Unwritten {
    batch: usize,
    held: usize,
}

impl Unwritten {
    pub(crate) fn new(batch: usize) -> Self {
        Unwritten { batch, held: 0 }
    }

    /// A frame of `size` bytes was fed; returns the bytes now surely written.
    pub(crate) fn fed(&mut self, size: usize) -> usize {
        self.held += size;
        let keep = self.held.min(self.batch.saturating_add(size));
        let written = self.held - keep;
        self.held = keep;
        written
    }

    /// The library flushed; returns the bytes now surely written.
    pub(crate) fn flushed(&mut self) -> usize {
        std::mem::take(&mut self.held)
    }
}

/// The `slow_consumer` error, encoded once per process: every push checks
/// its length against the bound, and a fresh encoding per push (a `String`
/// and a buffer, then two frees) was about a tenth of the server's CPU in a
/// 10k-connection broadcast.
static SLOW_CONSUMER_FRAME: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let msg = ServerMessage::<(), (), ()>::Error {
        code: Some(ErrorCode::SLOW_CONSUMER),
        message: "the connection fell behind its outbound queue bound; reconnect and resync"
            .to_owned(),
        fatal: true,
        op_id: None,
    };
    msg.encode().unwrap_or_default()
});

fn slow_consumer_frame() -> Bytes {
    Bytes::from_static(SLOW_CONSUMER_FRAME.as_slice())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn is_slow_consumer_error(frame: &Bytes) -> bool {
        let decoded = ServerMessage::<(), (), ()>::decode(frame).expect("decode");
        matches!(
            decoded.message(),
            Some(ServerMessage::Error { code: Some(c), fatal: true, .. }) if c == ErrorCode::SLOW_CONSUMER
        )
    }

    #[tokio::test]
    async fn overflow_drops_the_queue_and_closes_as_slow_consumer() {
        let room = slow_consumer_frame().len();
        let outbox = Outbox::new(10 + room);
        assert_eq!(outbox.push(Bytes::from_static(b"12345")), Pushed::Queued);
        assert_eq!(outbox.push(Bytes::from_static(b"12345")), Pushed::Queued);
        assert_eq!(
            outbox.push(Bytes::from_static(b"x")),
            Pushed::Overflow { dropped: 2 }
        );
        assert_eq!(outbox.push(Bytes::from_static(b"x")), Pushed::Closing);
        match outbox.next().await {
            Next::Frame(frame) => assert!(is_slow_consumer_error(&frame)),
            other => panic!("expected the error frame, got {other:?}"),
        }
        assert!(matches!(outbox.next().await, Next::Flush));
        assert!(matches!(
            outbox.next().await,
            Next::Close(CloseCode::SLOW_CONSUMER, _)
        ));
    }

    #[tokio::test]
    async fn a_forced_overflow_drops_the_queue_once_and_closes_as_slow_consumer() {
        let outbox = Outbox::new(1024);
        assert_eq!(outbox.push(Bytes::from_static(b"12345")), Pushed::Queued);
        assert_eq!(outbox.overflow(), Pushed::Overflow { dropped: 1 });
        assert_eq!(outbox.overflow(), Pushed::Closing);
        match outbox.next().await {
            Next::Frame(frame) => assert!(is_slow_consumer_error(&frame)),
            other => panic!("expected the error frame, got {other:?}"),
        }
        assert!(matches!(outbox.next().await, Next::Flush));
        assert!(matches!(
            outbox.next().await,
            Next::Close(CloseCode::SLOW_CONSUMER, _)
        ));
    }

    #[tokio::test]
    async fn the_frame_being_written_counts_and_the_error_goes_right_after_it() {
        let room = slow_consumer_frame().len();
        let outbox = Outbox::new(10 + room);
        outbox.push(Bytes::from_static(b"123"));
        outbox.push(Bytes::from_static(b"456"));
        let Next::Frame(first) = outbox.next().await else {
            panic!("expected a frame");
        };
        // Taken but not yet written: still counted.
        assert!(matches!(
            outbox.push(Bytes::from_static(b"123456")),
            Pushed::Overflow { dropped: 1 }
        ));
        outbox.written(first.len());
        // The frame still queued behind it was dropped: the error is next.
        let Next::Frame(next) = outbox.next().await else {
            panic!("expected the error");
        };
        assert!(is_slow_consumer_error(&next));
    }

    #[test]
    fn fed_frames_are_released_beyond_the_batch_and_all_at_a_flush() {
        let mut unwritten = Unwritten::new(8192);
        let mut released = 0;
        for _ in 0..100 {
            released += unwritten.fed(1000);
            // Never more than the batch plus the frame just fed is held.
            assert!(unwritten.held <= 9192, "{}", unwritten.held);
        }
        assert_eq!(released, 100_000 - 9192);
        assert_eq!(unwritten.flushed(), 9192);
        assert_eq!(unwritten.flushed(), 0);
    }

    #[test]
    fn without_a_batch_only_the_frame_just_fed_is_held() {
        let mut unwritten = Unwritten::new(0);
        assert_eq!(unwritten.fed(300), 0);
        assert_eq!(unwritten.fed(200), 300);
        assert_eq!(unwritten.fed(50), 200);
        assert_eq!(unwritten.flushed(), 50);
    }

    #[tokio::test]
    async fn an_unwoken_push_is_taken_once_the_writer_is_woken() {
        let outbox = Arc::new(Outbox::new(1024));
        let writer = tokio::spawn({
            let outbox = outbox.clone();
            async move { matches!(outbox.next().await, Next::Frame(f) if &f[..] == b"a") }
        });
        tokio::task::yield_now().await;
        assert_eq!(
            outbox.push_unwoken(Bytes::from_static(b"a")),
            Pushed::Queued
        );
        outbox.wake();
        assert!(writer.await.expect("writer"));
    }

    #[tokio::test]
    async fn a_ping_goes_ahead_of_queued_frames() {
        let outbox = Outbox::new(1024);
        outbox.push(Bytes::from_static(b"a"));
        outbox.ping();
        assert!(matches!(outbox.next().await, Next::Ping));
        assert!(matches!(outbox.next().await, Next::Frame(_)));
        outbox.abort();
        outbox.aborted().await;
    }
}
