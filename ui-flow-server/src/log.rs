//! A resource's log: the server's copy of its state, the seq line, and the
//! recent deltas, kept in a [`Store`].
//!
//! One [`ResourceLog`] exists per resource in use. It is the only writer of
//! that resource's seq line: a commit takes the log's lock, encodes the
//! deltas once, numbers them `head + 1, head + 2, ...`, hands them to the
//! store, and only when the store has them applies them to the state and
//! fans the frame out, all before the lock is released. So seqs leave in
//! commit order, a failed encode or store write changes nothing and sends
//! nothing, and a snapshot (taken under the same lock) is exactly the state
//! at its seq.
//!
//! It is not the hub: connections, presence and holding frames back while a
//! connection syncs stay there. The log only answers "what is the state"
//! and "what changed since seq N".

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Mutex;
use ui_flow::codec::encoded;
use ui_flow::model::{DeltaOf, StateOf};
use ui_flow::{EncodeError, FlowState, OpId, RawValue};

use crate::config::LogConfig;
use crate::handler::FlowHandler;
use crate::store::{Appended, Checkpoint, Entry, Loaded, OpRecord, Outcome, Store, StoreError};
use crate::view::{Projected, ViewFrames, ViewKey};

/// Why deltas were not committed. Nothing was applied, stored or sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommitError {
    /// A delta could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The store did not keep the deltas. The resource's log is reloaded
    /// from the store on its next use.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The resource's log could not be opened (its initial state failed to
    /// load, or the store failed).
    #[error("the log of {resource:?} could not be opened: {reason}")]
    Open {
        /// The resource.
        resource: String,
        /// Why.
        reason: String,
    },
    /// The handler keeps its own state ([`FlowHandler::APP_OWNED_STATE`]):
    /// broadcast with [`SessionHandle::broadcast_delta`](crate::SessionHandle::broadcast_delta).
    #[error("this handler keeps its own state; the server has no log to commit to")]
    AppOwnedState,
    /// [`FlowHandler::project_state`] panicked for a view: its connection
    /// is closed with `sync_failed` (it reconnects).
    #[error("the state could not be projected for {0}")]
    Projection(String),
}

/// Why a [`transact`](crate::SessionHandle::transact) did not commit.
#[derive(Debug, thiserror::Error)]
pub enum TransactError<E> {
    /// The closure refused: nothing was committed.
    #[error("{0}")]
    Refused(E),
    /// The closure's deltas could not be committed.
    #[error(transparent)]
    Commit(#[from] CommitError),
}

/// Seqs `first..=last` were committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The first new seq.
    pub first: u64,
    /// The last new seq: the head after the commit.
    pub last: u64,
}

/// Who a commit is made for: an action's deltas carry its op, so a retry
/// after a restart is answered and not run again.
#[derive(Debug, Clone)]
pub(crate) struct OpTag {
    pub(crate) user: Arc<str>,
    pub(crate) op_id: OpId,
}

/// Queues a `Delta`/`Deltas` frame carrying seqs `first..=last` to this
/// node's connections of the resource.
pub(crate) type Deliver = Box<dyn Fn(Bytes, u64, u64) + Send + Sync>;

/// How many times a commit that lost the append race to another node
/// catches up and decides again before it gives up with the conflict.
const MAX_COMMIT_ATTEMPTS: usize = 64;

/// One resource's log. See the [module docs](self).
pub(crate) struct ResourceLog<H: FlowHandler> {
    resource: Arc<str>,
    store: Arc<dyn Store>,
    config: LogConfig,
    /// How long op records are kept at least.
    op_retention: Duration,
    /// Delivers commits made by other nodes (and caught up here) locally.
    deliver: Deliver,
    /// The task applying other nodes' commits, stopped with the log.
    follower: std::sync::Mutex<Option<tokio::task::AbortHandle>>,
    /// Set with the follower.
    shared: std::sync::atomic::AtomicBool,
    inner: Mutex<Head<H>>,
}

impl<H: FlowHandler> Drop for ResourceLog<H> {
    fn drop(&mut self) {
        let follower = self
            .follower
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(task) = follower.take() {
            task.abort();
        }
    }
}

/// Everything behind the log's lock.
struct Head<H: FlowHandler> {
    epoch: u32,
    seq: u64,
    state: StateOf<H::Model>,
    /// The latest deltas, contiguous, the last at `seq`.
    recent: VecDeque<Entry>,
    recent_bytes: usize,
    /// Deltas and bytes since the last checkpoint.
    since_checkpoint: (u64, usize),
    /// The encoded state at a seq, shared by joiners until the next commit.
    snapshot: Option<(u64, Bytes)>,
    /// A store write failed: what the store holds may differ from memory.
    broken: bool,
    /// For each view that connections have now: the last seq at which it
    /// changed (or from which it is known not to have changed). Sent as
    /// `prev` so a client can tell a seq its view skipped from a gap.
    view_heads: HashMap<ViewKey, u64>,
    /// Each view's encoded state at a seq, shared by its joiners.
    view_snapshots: HashMap<ViewKey, (u64, Bytes)>,
}

impl<H: FlowHandler> ResourceLog<H> {
    /// Opens `resource`'s log: replays what the store has, or starts a new
    /// log (a new epoch) from the handler's initial state.
    pub(crate) async fn open(
        resource: Arc<str>,
        handler: &H,
        store: Arc<dyn Store>,
        config: LogConfig,
        op_retention: Duration,
        new_epoch: impl FnOnce() -> u32,
        deliver: Deliver,
    ) -> Result<Self, CommitError> {
        let open_error = |reason: String| CommitError::Open {
            resource: resource.to_string(),
            reason,
        };
        let head = match store.load(&resource).await? {
            Some(loaded) => replay::<H>(&resource, loaded)?,
            None => {
                let state = handler
                    .initial_state(&resource)
                    .await
                    .map_err(|e| open_error(format!("initial_state failed: {e}")))?;
                let encoded = Bytes::from(encoded::encode_payload(&state)?);
                let epoch = new_epoch();
                let created = store
                    .create_new(
                        &resource,
                        Checkpoint {
                            epoch,
                            seq: 0,
                            state: encoded.clone(),
                        },
                    )
                    .await?;
                match created {
                    // Another node created it first.
                    Some(loaded) => replay::<H>(&resource, loaded)?,
                    None => Head {
                        epoch,
                        seq: 0,
                        state,
                        recent: VecDeque::new(),
                        recent_bytes: 0,
                        since_checkpoint: (0, 0),
                        snapshot: Some((0, encoded)),
                        broken: false,
                        view_heads: HashMap::new(),
                        view_snapshots: HashMap::new(),
                    },
                }
            }
        };
        let mut log = ResourceLog {
            resource,
            store,
            config,
            op_retention,
            deliver,
            follower: std::sync::Mutex::new(None),
            shared: std::sync::atomic::AtomicBool::new(false),
            inner: Mutex::new(head),
        };
        log.inner.get_mut().trim_history(&log.config);
        Ok(log)
    }

    /// Commits the deltas `decide` returns for the current state (see the
    /// module docs), then calls `fan_out(frame, views, first, last)` with the
    /// one frame that carries them unprojected and one frame per view, still
    /// under the lock. `views` names the views (other than
    /// [`ViewKey::ALL`]) that connections have now; each is projected once
    /// with `handler`. `Ok(None)`: `decide` returned no deltas.
    ///
    /// When another node committed first (the store answers
    /// [`StoreError::Conflict`]), the log catches up from the store,
    /// delivers what it missed, and calls `decide` again on the new state
    /// with the deltas it returned last time (which were not applied).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn commit<E>(
        &self,
        handler: &H,
        op: Option<&OpTag>,
        now_unix_ms: u64,
        mut decide: impl FnMut(
            &StateOf<H::Model>,
            Option<Vec<DeltaOf<H::Model>>>,
        ) -> Result<Vec<DeltaOf<H::Model>>, E>,
        views: impl FnOnce() -> Vec<ViewKey>,
        fan_out: impl FnOnce(Bytes, ViewFrames, u64, u64),
    ) -> Result<Option<Committed>, TransactError<E>> {
        let mut head = self.inner.lock().await;
        let mut previous = None;
        let mut attempt = 0;
        let (deltas, entries) = loop {
            attempt += 1;
            if head.broken {
                let reason = "an earlier store write failed; the log is being reopened";
                // A shared log keeps itself on IO errors: say Corrupt so the
                // server drops this one and the next use reopens it.
                let e = if self.is_shared() {
                    StoreError::Corrupt {
                        resource: self.resource.to_string(),
                        reason: reason.into(),
                    }
                } else {
                    StoreError::Io(reason.into())
                };
                return Err(CommitError::Store(e).into());
            }
            let deltas = decide(&head.state, previous.take()).map_err(TransactError::Refused)?;
            if deltas.is_empty() {
                return Ok(None);
            }
            let first = head.seq + 1;
            let mut entries = Vec::with_capacity(deltas.len());
            for (i, delta) in deltas.iter().enumerate() {
                let bytes = encoded::encode_payload(delta).map_err(CommitError::Encode)?;
                entries.push(Entry {
                    seq: first + i as u64,
                    delta: Bytes::from(bytes),
                });
            }
            let ops = op
                .map(|op| OpRecord {
                    user: op.user.to_string(),
                    op_id: op.op_id,
                    at_unix_ms: now_unix_ms,
                    outcome: Outcome::Committed,
                })
                .into_iter()
                .collect();
            match self
                .store
                .append(&self.resource, entries.clone(), ops)
                .await
            {
                Ok(()) => break (deltas, entries),
                Err(StoreError::Conflict { .. }) if attempt < MAX_COMMIT_ATTEMPTS => {
                    self.catch_up_store(&mut head).await;
                    previous = Some(deltas);
                }
                // A shared log that lost its connection stays: whether
                // the commit was kept or not, the next append learns it
                // (a conflict, then a catch-up that delivers it) and the
                // follower brings what other nodes commit meanwhile.
                Err(e @ StoreError::Io(_)) if self.is_shared() => {
                    return Err(CommitError::Store(e).into());
                }
                Err(e) => {
                    head.broken = true;
                    return Err(CommitError::Store(e).into());
                }
            }
        };
        let (first, last) = (entries[0].seq, entries[entries.len() - 1].seq);
        let views = views();
        let mut projections = Projections::new(&views);
        for (delta, entry) in deltas.into_iter().zip(&entries) {
            if views.is_empty() {
                head.state.apply_delta(delta);
                continue;
            }
            let before = head.state.clone();
            // A copy to project, since applying consumes the delta.
            let copy = decode::<DeltaOf<H::Model>>(&entry.delta);
            head.state.apply_delta(delta);
            match copy {
                Ok(copy) => projections.add(handler, &before, &head.state, &copy, &entry.delta),
                Err(_) => projections.fail_all(),
            }
        }
        let frame = self.record(&mut head, entries, now_unix_ms);
        let view_frames = head.view_frames(projections, first, last, now_unix_ms);
        fan_out(frame, view_frames, first, last);
        if head.since_checkpoint.0 >= self.config.checkpoint_every_deltas
            || head.since_checkpoint.1 >= self.config.checkpoint_every_bytes
        {
            self.save_checkpoint(&mut head).await;
        }
        Ok(Some(Committed { first, last }))
    }

    /// Keeps the task that follows other nodes' commits; it is aborted when
    /// the log is dropped.
    pub(crate) fn set_follower(&self, task: tokio::task::AbortHandle) {
        self.shared
            .store(true, std::sync::atomic::Ordering::Relaxed);
        *self
            .follower
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task);
    }

    /// Whether other nodes write this log too (it follows their commits).
    pub(crate) fn is_shared(&self) -> bool {
        self.shared.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Applies committed deltas (and their entries) at the head and returns
    /// the one frame that carries them.
    fn advance(
        &self,
        head: &mut Head<H>,
        deltas: Vec<DeltaOf<H::Model>>,
        entries: Vec<Entry>,
        at_unix_ms: u64,
    ) -> Bytes {
        for delta in deltas {
            head.state.apply_delta(delta);
        }
        self.record(head, entries, at_unix_ms)
    }

    /// Moves the head to the last of `entries` (their deltas already
    /// applied to the state), keeps them as history, and returns the one
    /// unprojected frame that carries them.
    fn record(&self, head: &mut Head<H>, entries: Vec<Entry>, at_unix_ms: u64) -> Bytes {
        let last = entries.last().map_or(head.seq, |e| e.seq);
        head.seq = last;
        head.snapshot = None;
        head.view_snapshots.clear();
        let frame = if entries.len() == 1 {
            encoded::delta_frame(&entries[0].delta, last, at_unix_ms, None)
        } else {
            encoded::deltas_frame(
                entries.iter().map(|e| &e.delta[..]),
                last,
                at_unix_ms,
                Some(head.epoch),
            )
        };
        for entry in entries {
            head.since_checkpoint.0 += 1;
            head.since_checkpoint.1 += entry.delta.len();
            head.recent_bytes += entry.delta.len();
            head.recent.push_back(entry);
        }
        head.trim_history(&self.config);
        Bytes::from(frame)
    }

    /// Applies commits another node made, and delivers them to this node's
    /// connections, encoded once. Entries this log already has are skipped;
    /// a gap is filled from the store. A commit of another epoch (the log
    /// was started over elsewhere), or a gap the store can no longer fill,
    /// marks the log broken: it is reopened on its next use.
    pub(crate) async fn apply_remote(&self, appended: Appended) -> Result<(), StoreError> {
        let mut head = self.inner.lock().await;
        if head.broken {
            return Ok(());
        }
        if appended.epoch != head.epoch {
            head.broken = true;
            return Err(StoreError::Corrupt {
                resource: self.resource.to_string(),
                reason: format!(
                    "another node started the log over (epoch {} here, {} there)",
                    head.epoch, appended.epoch
                ),
            });
        }
        let Some(first) = appended.entries.first().map(|e| e.seq) else {
            return Ok(());
        };
        if first > head.seq + 1 {
            self.catch_up_store(&mut head).await;
            if head.broken {
                return Err(StoreError::Io(format!(
                    "commits {}..{first} could not be read",
                    head.seq + 1
                )));
            }
        }
        let fresh: Vec<Entry> = appended
            .entries
            .into_iter()
            .filter(|e| e.seq > head.seq)
            .collect();
        self.apply_entries(&mut head, fresh, appended.at_unix_ms)
    }

    /// Reads what the store has after the head and applies it (delivered
    /// locally). Marks the log broken when that fails.
    async fn catch_up_store(&self, head: &mut Head<H>) {
        let wanted = self.config.history_deltas.max(1);
        loop {
            let read = match self.store.entries(&self.resource, head.seq, wanted).await {
                Ok(read) => read,
                Err(e) => {
                    tracing::warn!(resource = %self.resource, error = %e, "catching up failed");
                    head.broken = true;
                    return;
                }
            };
            if read.is_empty() {
                return;
            }
            if read[0].seq != head.seq + 1 {
                tracing::warn!(resource = %self.resource, "the store no longer has the commits this node missed; reopening");
                head.broken = true;
                return;
            }
            let full = read.len() == wanted;
            let now = crate::hub::Now::system().unix_ms;
            if let Err(e) = self.apply_entries(head, read, now) {
                tracing::warn!(resource = %self.resource, error = %e, "catching up failed");
                head.broken = true;
                return;
            }
            if !full {
                return;
            }
        }
    }

    /// Decodes, applies and delivers contiguous entries that follow the head.
    fn apply_entries(
        &self,
        head: &mut Head<H>,
        entries: Vec<Entry>,
        at_unix_ms: u64,
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut deltas = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            if entry.seq != head.seq + 1 + i as u64 {
                head.broken = true;
                return Err(StoreError::Corrupt {
                    resource: self.resource.to_string(),
                    reason: format!("seq {} does not follow {}", entry.seq, head.seq + i as u64),
                });
            }
            deltas.push(decode(&entry.delta).map_err(|e| {
                head.broken = true;
                StoreError::Corrupt {
                    resource: self.resource.to_string(),
                    reason: format!("delta at seq {}: {e}", entry.seq),
                }
            })?);
        }
        let (first, last) = (entries[0].seq, entries[entries.len() - 1].seq);
        let frame = self.advance(head, deltas, entries, at_unix_ms);
        // Commits made elsewhere are not projected here: connections with a
        // view of their own resync (see `Hub::deliver_deltas_frame`), so what
        // each view last saw is learnt again from their snapshots.
        head.view_heads.clear();
        (self.deliver)(frame, first, last);
        Ok(())
    }

    /// Saves the state at the head and lets the store drop entries older
    /// than the kept history. A failure only postpones it.
    async fn save_checkpoint(&self, head: &mut Head<H>) {
        let state = match head.encoded_state() {
            Ok(state) => state,
            Err(e) => {
                tracing::warn!(resource = %self.resource, error = %e, "checkpoint: the state does not encode");
                return;
            }
        };
        let keep_from = head.recent.front().map_or(head.seq + 1, |e| e.seq);
        let checkpoint = Checkpoint {
            epoch: head.epoch,
            seq: head.seq,
            state,
        };
        match self
            .store
            .checkpoint(&self.resource, checkpoint, keep_from)
            .await
        {
            Ok(()) => head.since_checkpoint = (0, 0),
            Err(e) => {
                tracing::warn!(resource = %self.resource, error = %e, "checkpoint failed; will retry")
            }
        }
        let retention = u64::try_from(self.op_retention.as_millis()).unwrap_or(u64::MAX);
        let now_ms = crate::hub::Now::system().unix_ms;
        if let Err(e) = self
            .store
            .forget_ops(&self.resource, now_ms.saturating_sub(retention))
            .await
        {
            tracing::warn!(resource = %self.resource, error = %e, "forgetting old op records failed");
        }
    }

    /// The frame that brings a client from `resume` to the head: `Deltas`
    /// when the client's epoch is this log's and everything after its seq
    /// is at hand (at most `max_deltas`), a `Snapshot` otherwise. Returns the
    /// frame and the seq it ends at.
    ///
    /// A connection with a `view` other than [`ViewKey::ALL`] always gets
    /// its view's snapshot (projected with `handler`): a resume point does
    /// not say which view the client's state was projected for.
    pub(crate) async fn sync(
        &self,
        resume: Option<(u64, Option<u32>)>,
        now_unix_ms: u64,
        max_deltas: u64,
        view: &ViewKey,
        handler: &H,
    ) -> Result<(Bytes, u64), CommitError> {
        let mut head = self.inner.lock().await;
        let (epoch, seq) = (head.epoch, head.seq);
        if !view.is_all() {
            let state = head.view_state(view, handler)?;
            let frame = encoded::snapshot_frame(&state, seq, now_unix_ms, Some(epoch));
            return Ok((Bytes::from(frame), seq));
        }
        let servable = match resume {
            Some((last, Some(e))) if e == epoch && last <= seq && seq - last <= max_deltas => {
                Some(last)
            }
            _ => None,
        };
        if let Some(last) = servable {
            if let Some(frame) = self.catch_up(&head, last, now_unix_ms).await {
                return Ok((frame, seq));
            }
        }
        let state = head.encoded_state()?;
        let frame = encoded::snapshot_frame(&state, seq, now_unix_ms, Some(epoch));
        Ok((Bytes::from(frame), seq))
    }

    /// The `Deltas` frame from `last + 1` to the head, if all of it is at hand.
    async fn catch_up(&self, head: &Head<H>, last: u64, now_unix_ms: u64) -> Option<Bytes> {
        let wanted = usize::try_from(head.seq - last).ok()?;
        let from_memory = head.recent.front().is_some_and(|e| e.seq <= last + 1);
        let stored;
        let entries: Vec<&[u8]> = if wanted == 0 {
            Vec::new()
        } else if from_memory {
            let skip = usize::try_from(last + 1 - head.recent.front()?.seq).ok()?;
            head.recent
                .iter()
                .skip(skip)
                .map(|e| &e.delta[..])
                .collect()
        } else {
            stored = self
                .store
                .entries(&self.resource, last, wanted)
                .await
                .ok()?;
            let complete = stored.len() == wanted
                && stored
                    .iter()
                    .enumerate()
                    .all(|(i, e)| e.seq == last + 1 + i as u64);
            if !complete {
                return None;
            }
            stored.iter().map(|e| &e.delta[..]).collect()
        };
        if entries.len() != wanted {
            return None;
        }
        let frame = encoded::deltas_frame(entries, head.seq, now_unix_ms, Some(head.epoch));
        Some(Bytes::from(frame))
    }

    /// Calls `read` with the state and its seq, under the log's lock.
    pub(crate) async fn read<R>(&self, read: impl FnOnce(&StateOf<H::Model>, u64) -> R) -> R {
        let head = self.inner.lock().await;
        read(&head.state, head.seq)
    }

    /// The log's epoch and head.
    pub(crate) async fn position(&self) -> (u32, u64) {
        let head = self.inner.lock().await;
        (head.epoch, head.seq)
    }
}

impl<H: FlowHandler> Head<H> {
    /// The view's state at the head, projected and encoded (once per view
    /// per head). From here on the view's changes are tracked.
    fn view_state(&mut self, view: &ViewKey, handler: &H) -> Result<Bytes, CommitError> {
        if let Some((seq, bytes)) = self.view_snapshots.get(view) {
            if *seq == self.seq {
                return Ok(bytes.clone());
            }
        }
        let projected = catch_unwind(AssertUnwindSafe(|| {
            handler.project_state(view, &self.state)
        }))
        .map_err(|_| CommitError::Projection(format!("{view:?}")))?;
        let bytes = Bytes::from(encoded::encode_payload(&projected)?);
        self.view_heads.entry(view.clone()).or_insert(self.seq);
        self.view_snapshots
            .insert(view.clone(), (self.seq, bytes.clone()));
        Ok(bytes)
    }

    /// One frame per changed view for the commit `first..=last` (see
    /// [`ViewFrames`]), each carrying `prev` when its view skipped seqs;
    /// moves each view's head. Views no connection has any more are
    /// forgotten.
    fn view_frames(
        &mut self,
        projections: Projections,
        first: u64,
        last: u64,
        now_unix_ms: u64,
    ) -> ViewFrames {
        let mut frames = HashMap::with_capacity(projections.0.len());
        let current: HashSet<&ViewKey> = projections.0.iter().map(|(v, _)| v).collect();
        self.view_heads.retain(|v, _| current.contains(v));
        for (view, entries) in &projections.0 {
            let Some(entries) = entries else {
                // Not projected: its connections are resynced, and its
                // head is learnt again from their snapshots.
                self.view_heads.remove(view);
                continue;
            };
            let prev = *self.view_heads.entry(view.clone()).or_insert(first - 1);
            if entries.is_empty() {
                frames.insert(view.clone(), None);
                continue;
            }
            // Without `prev` a client reads entry i as seq `last - n + 1 + i`:
            // right only for one entry per seq of the commit, following
            // the view's last change directly.
            let n = entries.len() as u64;
            let plain = prev + 1 == first && n == last - first + 1;
            let prev = (!plain).then_some(prev);
            let frame = if entries.len() == 1 {
                encoded::delta_frame_after(&entries[0], last, prev, now_unix_ms, None)
            } else {
                encoded::deltas_frame_after(
                    entries.iter().map(|e| &e[..]),
                    last,
                    prev,
                    now_unix_ms,
                    Some(self.epoch),
                )
            };
            self.view_heads.insert(view.clone(), last);
            frames.insert(view.clone(), Some(Bytes::from(frame)));
        }
        ViewFrames(frames)
    }

    /// The state at the head, encoded (once per head).
    fn encoded_state(&mut self) -> Result<Bytes, EncodeError> {
        if let Some((seq, bytes)) = &self.snapshot {
            if *seq == self.seq {
                return Ok(bytes.clone());
            }
        }
        let bytes = Bytes::from(encoded::encode_payload(&self.state)?);
        self.snapshot = Some((self.seq, bytes.clone()));
        Ok(bytes)
    }

    /// Drops the oldest recent deltas beyond the history bounds.
    fn trim_history(&mut self, config: &LogConfig) {
        while self.recent.len() > config.history_deltas || self.recent_bytes > config.history_bytes
        {
            let Some(old) = self.recent.pop_front() else {
                break;
            };
            self.recent_bytes -= old.delta.len();
        }
    }
}

/// Applies the commits `feed` reports to `log` until the log is dropped.
/// When the feed fails or the log can no longer follow (a gap the store
/// cannot fill, a log started over elsewhere), the log reloads from the
/// store and follows again: this node's connections then see a seq jump
/// and resync.
pub(crate) async fn follow<H: FlowHandler>(
    log: std::sync::Weak<ResourceLog<H>>,
    store: Arc<dyn Store>,
    mut feed: crate::store::Follow,
) {
    loop {
        while let Some(item) = feed.next().await {
            let Some(log) = log.upgrade() else {
                return;
            };
            let result = match item {
                Ok(appended) => log.apply_remote(appended).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::warn!(resource = %log.resource, error = %e, "following the shared log failed; reloading it");
                break;
            }
        }
        let Some(strong) = log.upgrade() else {
            return;
        };
        let resource = strong.resource.clone();
        drop(strong);
        // Follow again first, then reload: nothing falls in between.
        feed = loop {
            match store.follow(&resource).await {
                Ok(Some(feed)) => break feed,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(resource = %resource, error = %e, "cannot follow the shared log; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let Some(strong) = log.upgrade() else {
            return;
        };
        if let Err(e) = strong.reload().await {
            tracing::warn!(resource = %resource, error = %e, "reloading the shared log failed");
        }
    }
}

impl<H: FlowHandler> ResourceLog<H> {
    /// Replaces the state with what the store holds (after following broke).
    async fn reload(&self) -> Result<(), CommitError> {
        let mut head = self.inner.lock().await;
        let Some(loaded) = self.store.load(&self.resource).await? else {
            head.broken = true;
            return Ok(());
        };
        let mut fresh = replay::<H>(&self.resource, loaded)?;
        fresh.trim_history(&self.config);
        let (from, to) = (head.seq, fresh.seq);
        *head = fresh;
        tracing::info!(resource = %self.resource, from, to, "reloaded the shared log");
        Ok(())
    }
}

/// The head a stored log replays to.
fn replay<H: FlowHandler>(resource: &str, loaded: Loaded) -> Result<Head<H>, CommitError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        resource: resource.to_owned(),
        reason,
    };
    let mut state: StateOf<H::Model> = decode(&loaded.checkpoint.state)
        .map_err(|e| corrupt(format!("checkpoint at seq {}: {e}", loaded.checkpoint.seq)))?;
    let mut seq = loaded.checkpoint.seq;
    let mut bytes = 0;
    for entry in &loaded.entries {
        if entry.seq != seq + 1 {
            return Err(corrupt(format!("seq {} follows {seq}", entry.seq)).into());
        }
        let delta = decode(&entry.delta)
            .map_err(|e| corrupt(format!("delta at seq {}: {e}", entry.seq)))?;
        state.apply_delta(delta);
        seq = entry.seq;
        bytes += entry.delta.len();
    }
    let since = (loaded.entries.len() as u64, bytes);
    Ok(Head {
        epoch: loaded.checkpoint.epoch,
        seq,
        state,
        recent_bytes: bytes,
        recent: loaded.entries.into(),
        since_checkpoint: since,
        snapshot: None,
        broken: false,
        view_heads: HashMap::new(),
        view_snapshots: HashMap::new(),
    })
}

/// Decodes a stored payload (checked first, as if it came off the network).
fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ui_flow::DecodeError> {
    RawValue::from_bytes(bytes.to_vec())?.decode()
}

/// The projected, encoded deltas of one commit, per view; `None` for a view
/// whose projection failed (it panicked, or a delta did not encode).
struct Projections(Vec<(ViewKey, Option<Vec<Bytes>>)>);

impl Projections {
    fn new(views: &[ViewKey]) -> Self {
        Projections(
            views
                .iter()
                .map(|v| (v.clone(), Some(Vec::new())))
                .collect(),
        )
    }

    /// Projects one delta (`encoded` is its payload) for every view.
    fn add<H: FlowHandler>(
        &mut self,
        handler: &H,
        before: &StateOf<H::Model>,
        after: &StateOf<H::Model>,
        delta: &DeltaOf<H::Model>,
        payload: &Bytes,
    ) {
        for (view, entries) in &mut self.0 {
            let Some(list) = entries else {
                continue;
            };
            let projected = catch_unwind(AssertUnwindSafe(|| {
                handler.project_delta(view, before, after, delta)
            }));
            let ok = match projected {
                Ok(Projected::Nothing) => true,
                Ok(Projected::Same) => {
                    list.push(payload.clone());
                    true
                }
                Ok(Projected::Deltas(deltas)) => deltas.iter().all(|d| {
                    encoded::encode_payload(d)
                        .map(|bytes| list.push(Bytes::from(bytes)))
                        .is_ok()
                }),
                Err(_) => false,
            };
            if !ok {
                tracing::warn!(
                    ?view,
                    "projecting a delta failed; the view's connections get a snapshot"
                );
                *entries = None;
            }
        }
    }

    fn fail_all(&mut self) {
        for (_, entries) in &mut self.0 {
            *entries = None;
        }
    }
}
