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
use crate::store::{Checkpoint, Entry, OpRecord, Outcome, Store, StoreError};
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

/// One resource's log. See the [module docs](self).
pub(crate) struct ResourceLog<H: FlowHandler> {
    resource: Arc<str>,
    store: Arc<dyn Store>,
    config: LogConfig,
    /// How long op records are kept at least.
    op_retention: Duration,
    inner: Mutex<Head<H>>,
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
    ) -> Result<Self, CommitError> {
        let open_error = |reason: String| CommitError::Open {
            resource: resource.to_string(),
            reason,
        };
        let head = match store.load(&resource).await? {
            Some(loaded) => {
                let corrupt = |reason: String| StoreError::Corrupt {
                    resource: resource.to_string(),
                    reason,
                };
                let mut state: StateOf<H::Model> =
                    decode(&loaded.checkpoint.state).map_err(|e| {
                        corrupt(format!("checkpoint at seq {}: {e}", loaded.checkpoint.seq))
                    })?;
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
                Head {
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
                }
            }
            None => {
                let state = handler
                    .initial_state(&resource)
                    .await
                    .map_err(|e| open_error(format!("initial_state failed: {e}")))?;
                let encoded = Bytes::from(encoded::encode_payload(&state)?);
                let epoch = new_epoch();
                store
                    .create(
                        &resource,
                        Checkpoint {
                            epoch,
                            seq: 0,
                            state: encoded.clone(),
                        },
                    )
                    .await?;
                Head {
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
                }
            }
        };
        let mut log = ResourceLog {
            resource,
            store,
            config,
            op_retention,
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
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn commit<E>(
        &self,
        handler: &H,
        op: Option<&OpTag>,
        now_unix_ms: u64,
        decide: impl FnOnce(&StateOf<H::Model>) -> Result<Vec<DeltaOf<H::Model>>, E>,
        views: impl FnOnce() -> Vec<ViewKey>,
        fan_out: impl FnOnce(Bytes, ViewFrames, u64, u64),
    ) -> Result<Option<Committed>, TransactError<E>> {
        let mut head = self.inner.lock().await;
        if head.broken {
            return Err(CommitError::Store(StoreError::Io(
                "an earlier store write failed; the log is being reopened".into(),
            ))
            .into());
        }
        let deltas = decide(&head.state).map_err(TransactError::Refused)?;
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
        let last = first + entries.len() as u64 - 1;
        let ops = op
            .map(|op| OpRecord {
                user: op.user.to_string(),
                op_id: op.op_id,
                at_unix_ms: now_unix_ms,
                outcome: Outcome::Committed,
            })
            .into_iter()
            .collect();
        if let Err(e) = self
            .store
            .append(&self.resource, entries.clone(), ops)
            .await
        {
            head.broken = true;
            return Err(CommitError::Store(e).into());
        }
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
        head.seq = last;
        head.snapshot = None;
        head.view_snapshots.clear();
        let view_frames = head.view_frames(projections, first, last, now_unix_ms);
        let frame = if entries.len() == 1 {
            encoded::delta_frame(&entries[0].delta, last, now_unix_ms, None)
        } else {
            encoded::deltas_frame(
                entries.iter().map(|e| &e.delta[..]),
                last,
                now_unix_ms,
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
        fan_out(Bytes::from(frame), view_frames, first, last);
        if head.since_checkpoint.0 >= self.config.checkpoint_every_deltas
            || head.since_checkpoint.1 >= self.config.checkpoint_every_bytes
        {
            self.save_checkpoint(&mut head).await;
        }
        Ok(Some(Committed { first, last }))
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
