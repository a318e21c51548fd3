//! A resource's delivery lane: where the frames the hub made for one
//! resource's connections wait to be pushed into their outboxes.
//!
//! The hub's lock is held while the hub works out a broadcast (encode once,
//! name the recipients as one shared list); the push into each recipient's
//! [`Outbox`], which costs one short lock per connection, is done here,
//! under the lane's own locks only. So a broadcast to 10,000 connections of
//! resource A keeps the hub (handshakes, timers, every other resource)
//! waiting only for the hub's part, and resource B's frames go through B's
//! lane meanwhile.
//!
//! Order: ops are queued under the hub's lock, so a lane's queue is in the
//! order the hub made them; one thread at a time (whoever finds the lane
//! idle) pushes them, in that order, and every other thread only queues.
//! The thread with the turn pushes one batch (what was queued when it
//! started); if more came meanwhile, a task of its own takes over, so a
//! busy lane never keeps one caller (say the timer task, which serves
//! every resource) delivering for long.
//! A connection belongs to one lane for its whole admitted life, so each
//! connection sees its frames in hub order.
//!
//! Bound: the frames queued on a lane and not yet taken by a delivering
//! thread are bounded in bytes
//! ([`ServerConfig::lane_queue_bytes`](crate::ServerConfig::lane_queue_bytes),
//! each frame counted once however many recipients it has). A frame that
//! would take the lane over it is not queued; each of its recipients is
//! closed as a slow consumer instead ([`LaneOp::Overflow`]), exactly as if
//! the frame had overflowed its outbox. Pushing never waits on a socket,
//! so a lane only fills when its delivering thread gets no CPU for a long
//! while; the bound keeps that from growing memory without end. Joins,
//! leaves, closes, pings and aborts are always queued: they are small and
//! each is some connection's one outcome.
//!
//! Locks: the hub's lock may be held while a lane's queue is locked (to
//! queue), never the other way round; the members map is locked only by
//! the thread delivering, which takes no other lock of the server's while
//! it holds it. A lane is not a hub session: membership, presence and
//! sync state stay in the hub.

use std::collections::{HashMap, VecDeque};
use std::mem;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use tokio::runtime::Handle;
use ui_flow::codec::Limits;
use ui_flow::{Channel, CloseCode, ServerTag};

use crate::counters::Live;
use crate::hub::{ConnectionId, Transmit};
use crate::outbox::{Outbox, Pushed};

/// Recipients above which writers are woken by a task of their own, so the
/// delivering thread is not held for N wakes (each schedules a task).
const WAKE_OFF_THREAD: usize = 64;

/// One thing queued on a lane.
pub(crate) enum LaneOp {
    /// A connection was admitted to the lane's resource: frames for it go
    /// to this outbox from now on.
    Join(ConnectionId, Arc<Outbox>),
    /// A socket joined the lane's resource on a channel other than 0 (a
    /// member, see `hub::members`): frames for it go to this outbox, put
    /// on that channel.
    JoinOn(ConnectionId, Arc<Outbox>, Channel),
    /// A connection's task ended.
    Leave(ConnectionId),
    /// A frame, close, ping or abort for members of this lane.
    Send(Transmit),
    /// A frame for this connection found the lane full: it is closed as a
    /// slow consumer (the hub has already let it go).
    Overflow(ConnectionId),
}

/// What [`Lane::offer`] did with a frame.
pub(crate) enum Offered {
    /// Queued.
    Queued,
    /// The lane was full: the frame was not queued, and these recipients
    /// are to be closed as slow consumers.
    Full(crate::hub::Recipients),
}

/// Whether a delivering thread still has the lane's turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// Nothing left, or another thread has the turn.
    Done,
    /// More was queued meanwhile and the turn is still the caller's.
    More,
}

#[derive(Default)]
struct Queue {
    ops: VecDeque<LaneOp>,
    /// Bytes of the frames in `ops` (each frame once).
    frame_bytes: usize,
    /// A thread is delivering this lane's ops.
    delivering: bool,
}

/// The counters a delivery updates.
pub(crate) struct Tally<'a> {
    pub(crate) slow_disconnects: &'a AtomicU64,
    pub(crate) drops: &'a AtomicU64,
    pub(crate) liveness_timeouts: &'a AtomicU64,
}

impl<'a> Tally<'a> {
    pub(crate) fn of(live: &'a Live) -> Self {
        Tally {
            slow_disconnects: &live.slow_disconnects,
            drops: &live.drops,
            liveness_timeouts: &live.liveness_timeouts,
        }
    }
}

/// The delivery lane of one resource on this node.
#[derive(Default)]
pub(crate) struct Lane {
    queue: Mutex<Queue>,
    members: Mutex<Members>,
    /// Set by [`DeliveryHold`] (tests): delivery waits before each batch.
    hold: Mutex<Option<Arc<Hold>>>,
}

/// The lane's connections, and the channel of those that hold the
/// resource on a channel other than 0.
#[derive(Default)]
struct Members {
    outboxes: HashMap<ConnectionId, Arc<Outbox>>,
    /// Empty on a lane with no member, so channel 0 costs one check.
    channels: HashMap<ConnectionId, Channel>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Lane {
    /// Queues `op` (the caller holds the hub's lock, which orders it).
    /// Frames go through [`offer`](Self::offer), which bounds them.
    pub(crate) fn enqueue(&self, op: LaneOp) {
        let send = matches!(op, LaneOp::Send(_));
        {
            let mut queue = lock(&self.queue);
            if let LaneOp::Send(Transmit::Frame { bytes, .. }) = &op {
                queue.frame_bytes += bytes.len();
            }
            queue.ops.push_back(op);
        }
        if send {
            if let Some(hold) = lock(&self.hold).as_ref() {
                hold.sends
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                hold.queued.notify_waiters();
            }
        }
    }

    /// Queues a transmit, unless it is a frame that would take the lane's
    /// queued frames over `bound` bytes: that frame is handed back as the
    /// recipients to close (see the module docs). The caller holds the
    /// hub's lock, so no other thread queues meanwhile.
    pub(crate) fn offer(&self, transmit: Transmit, bound: usize) -> Offered {
        let full = match &transmit {
            Transmit::Frame { bytes, .. } => {
                lock(&self.queue).frame_bytes.saturating_add(bytes.len()) > bound
            }
            _ => false,
        };
        match transmit {
            Transmit::Frame { to, .. } if full => Offered::Full(to),
            transmit => {
                self.enqueue(LaneOp::Send(transmit));
                Offered::Queued
            }
        }
    }

    /// Takes the lane's delivering turn, unless another thread has it (that
    /// thread, or the one it hands the turn to, then delivers this
    /// caller's ops too, in order), and pushes one batch: everything queued
    /// now. Connections found too slow are handed to `on_slow` with no
    /// lane lock held. Returns [`Turn::More`] when ops were queued
    /// meanwhile: the caller still has the turn and must
    /// [`resume`](Self::resume) (from a task of its own, so no thread
    /// delivers a busy lane for long).
    pub(crate) fn deliver(
        &self,
        tally: &Tally<'_>,
        runtime: Option<&Handle>,
        on_slow: impl FnMut(Vec<ConnectionId>),
    ) -> Turn {
        {
            let mut queue = lock(&self.queue);
            if queue.delivering || queue.ops.is_empty() {
                return Turn::Done;
            }
            queue.delivering = true;
        }
        self.resume(tally, runtime, on_slow)
    }

    /// Pushes one batch with the turn already held (see
    /// [`deliver`](Self::deliver)); gives the turn up when nothing is left.
    pub(crate) fn resume(
        &self,
        tally: &Tally<'_>,
        runtime: Option<&Handle>,
        mut on_slow: impl FnMut(Vec<ConnectionId>),
    ) -> Turn {
        let batch = {
            let mut queue = lock(&self.queue);
            if queue.ops.is_empty() {
                queue.delivering = false;
                return Turn::Done;
            }
            queue.frame_bytes = 0;
            mem::take(&mut queue.ops)
        };
        let hold = lock(&self.hold).clone();
        if let Some(hold) = hold {
            hold.park();
        }
        let mut slow = Vec::new();
        let mut to_wake = Vec::new();
        {
            let mut members = lock(&self.members);
            for op in batch {
                match op {
                    LaneOp::Join(id, outbox) => {
                        members.outboxes.insert(id, outbox);
                    }
                    LaneOp::JoinOn(id, outbox, channel) => {
                        members.outboxes.insert(id, outbox);
                        members.channels.insert(id, channel);
                    }
                    LaneOp::Leave(id) => {
                        members.outboxes.remove(&id);
                        if !members.channels.is_empty() {
                            members.channels.remove(&id);
                        }
                    }
                    LaneOp::Overflow(id) => {
                        if let Some(outbox) = members.outboxes.get(&id) {
                            if let Pushed::Overflow { dropped } = outbox.overflow() {
                                Live::add(tally.slow_disconnects, 1);
                                Live::add(tally.drops, dropped as u64);
                            }
                        }
                    }
                    LaneOp::Send(transmit) => push_on(
                        &members.outboxes,
                        &members.channels,
                        transmit,
                        tally,
                        runtime.is_some(),
                        &mut slow,
                        &mut to_wake,
                    ),
                }
            }
        }
        wake(runtime, to_wake);
        if !slow.is_empty() {
            on_slow(slow);
        }
        let mut queue = lock(&self.queue);
        if queue.ops.is_empty() {
            queue.delivering = false;
            Turn::Done
        } else {
            Turn::More
        }
    }

    /// Makes delivery on this lane wait until the returned hold is dropped.
    pub(crate) fn hold(self: &Arc<Self>) -> DeliveryHold {
        let hold = Arc::new(Hold::default());
        *lock(&self.hold) = Some(hold.clone());
        DeliveryHold {
            lane: self.clone(),
            hold,
        }
    }
}

/// Pushes one transmit into the outboxes of `outboxes` it names (others
/// have left). Frames to more than [`WAKE_OFF_THREAD`] connections are
/// queued unwoken and their outboxes added to `to_wake`.
pub(crate) fn push(
    outboxes: &HashMap<ConnectionId, Arc<Outbox>>,
    transmit: Transmit,
    tally: &Tally<'_>,
    can_defer: bool,
    slow: &mut Vec<ConnectionId>,
    to_wake: &mut Vec<Arc<Outbox>>,
) {
    push_on(
        outboxes,
        &HashMap::new(),
        transmit,
        tally,
        can_defer,
        slow,
        to_wake,
    );
}

/// [`push`], with the frames for the connections in `channels` put on
/// their channel: rewritten once per distinct channel per frame, not once
/// per recipient. A frame already on a channel (a member's `Left`, an
/// answer the hub wrote on the frame's channel) goes as it is, and so does
/// a fatal `Error`: it belongs to the socket, not to a resource, and
/// carries no `c` (the spec's Channels, "Errors").
fn push_on(
    outboxes: &HashMap<ConnectionId, Arc<Outbox>>,
    channels: &HashMap<ConnectionId, Channel>,
    transmit: Transmit,
    tally: &Tally<'_>,
    can_defer: bool,
    slow: &mut Vec<ConnectionId>,
    to_wake: &mut Vec<Arc<Outbox>>,
) {
    match transmit {
        Transmit::Frame { to, bytes } => {
            let defer = can_defer && to.as_slice().len() > WAKE_OFF_THREAD;
            let mut tagged: Vec<(Channel, bytes::Bytes)> = Vec::new();
            // Read once, for the first recipient that is a member.
            let mut fatal = None;
            for id in to.as_slice() {
                let Some(outbox) = outboxes.get(id) else {
                    continue;
                };
                let bytes = match channels.get(id) {
                    Some(_) if *fatal.get_or_insert_with(|| is_fatal_error(&bytes)) => {
                        bytes.clone()
                    }
                    None => bytes.clone(),
                    Some(channel) => on_channel(&mut tagged, &bytes, *channel),
                };
                let pushed = if defer {
                    outbox.push_unwoken(bytes)
                } else {
                    outbox.push(bytes)
                };
                match pushed {
                    Pushed::Queued if defer => to_wake.push(outbox.clone()),
                    Pushed::Overflow { dropped } => {
                        Live::add(tally.slow_disconnects, 1);
                        Live::add(tally.drops, dropped as u64);
                        slow.push(*id);
                    }
                    _ => {}
                }
            }
        }
        Transmit::Close { conn, code, reason } => {
            if code == CloseCode::LIVENESS_TIMEOUT {
                Live::add(tally.liveness_timeouts, 1);
            }
            if let Some(outbox) = outboxes.get(&conn) {
                outbox.close(code, reason);
            }
        }
        Transmit::Ping { conn } => {
            if let Some(outbox) = outboxes.get(&conn) {
                outbox.ping();
            }
        }
        Transmit::Abort { conn } => {
            if let Some(outbox) = outboxes.get(&conn) {
                outbox.abort();
            }
        }
    }
}

/// Whether `frame`, as the hub encodes frames (a small map, `"t"` first),
/// is a fatal `Error` (which belongs to the connection). Costs a look at
/// four bytes for any other frame.
fn is_fatal_error(frame: &[u8]) -> bool {
    let error = [b'\xa1', b't', ServerTag::ERROR.0 as u8];
    let tagged_error = ServerTag::ERROR.0 < 0x80
        && matches!(frame.split_first(), Some((0x80..=0x8f, rest)) if rest.starts_with(&error));
    tagged_error
        && ui_flow::codec::field_bytes(frame, &Limits::default(), "fatal") == Some(&[0xc3][..])
}

/// `frame` on `channel`, from `tagged` when this frame was already put on
/// it for another recipient.
fn on_channel(
    tagged: &mut Vec<(Channel, bytes::Bytes)>,
    frame: &bytes::Bytes,
    channel: Channel,
) -> bytes::Bytes {
    if let Some((_, done)) = tagged.iter().find(|(c, _)| *c == channel) {
        return done.clone();
    }
    let done = ui_flow::codec::encoded::on_channel(frame, channel)
        .map_or_else(|_| frame.clone(), bytes::Bytes::from);
    tagged.push((channel, done.clone()));
    done
}

/// Wakes the writers of frames queued unwoken, from a task of their own.
pub(crate) fn wake(runtime: Option<&Handle>, to_wake: Vec<Arc<Outbox>>) {
    if to_wake.is_empty() {
        return;
    }
    match runtime {
        Some(runtime) => {
            runtime.spawn(async move { to_wake.iter().for_each(|outbox| outbox.wake()) });
        }
        None => to_wake.iter().for_each(|outbox| outbox.wake()),
    }
}

#[derive(Default)]
struct Hold {
    released: Mutex<bool>,
    changed: Condvar,
    parked: tokio::sync::Notify,
    /// Frames (and closes, pings) queued on the lane since the hold began.
    sends: AtomicU64,
    queued: tokio::sync::Notify,
}

impl Hold {
    /// Waits until released, after telling the holder a delivery waits.
    fn park(&self) {
        self.parked.notify_one();
        let mut released = lock(&self.released);
        while !*released {
            released = self
                .changed
                .wait(released)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Holds one resource's deliveries (a test seam, see
/// `FlowServer::hold_delivery`): while it lives, frames for that resource's
/// connections stay queued on its lane, and the thread that would push
/// them waits. Dropping it lets them go, in order.
#[doc(hidden)]
pub struct DeliveryHold {
    lane: Arc<Lane>,
    hold: Arc<Hold>,
}

impl DeliveryHold {
    /// A handle that watches the hold (and can be kept after it is handed
    /// to another thread).
    pub fn probe(&self) -> HoldProbe {
        HoldProbe(self.hold.clone())
    }
}

/// Watches a [`DeliveryHold`] (a test seam).
#[doc(hidden)]
#[derive(Clone)]
pub struct HoldProbe(Arc<Hold>);

impl HoldProbe {
    /// Resolves once a delivery on the lane is waiting for the hold.
    pub async fn waiting(&self) {
        self.0.parked.notified().await;
    }

    /// Resolves once `n` frames (or closes, pings) have been queued on the
    /// lane since the hold began.
    pub async fn queued(&self, n: u64) {
        loop {
            let queued = self.0.queued.notified();
            if self.0.sends.load(std::sync::atomic::Ordering::Relaxed) >= n {
                return;
            }
            queued.await;
        }
    }
}

impl Drop for DeliveryHold {
    fn drop(&mut self) {
        let mut slot = lock(&self.lane.hold);
        if slot.as_ref().is_some_and(|h| Arc::ptr_eq(h, &self.hold)) {
            *slot = None;
        }
        drop(slot);
        *lock(&self.hold.released) = true;
        self.hold.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ui_flow::{ErrorCode, ServerMessage};

    fn error(fatal: bool) -> Vec<u8> {
        ServerMessage::<(), (), ()>::Error {
            code: Some(ErrorCode::SLOW_CONSUMER),
            message: "fatal".into(),
            fatal,
            op_id: None,
        }
        .encode()
        .expect("encodes")
    }

    #[test]
    fn only_a_fatal_error_is_kept_off_a_channel() {
        assert!(is_fatal_error(&error(true)));
        assert!(!is_fatal_error(&error(false)));
        let left = ServerMessage::<(), (), ()>::Left {
            code: None,
            message: None,
        }
        .encode_on(Channel(1))
        .expect("encodes");
        assert!(!is_fatal_error(&left));
        assert!(!is_fatal_error(&[]));
        assert!(!is_fatal_error(b"\x81\xa1t\x02"));
    }
}
