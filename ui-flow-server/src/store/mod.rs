//! Where each resource's log is kept: [`Store`], with [`MemoryStore`] (the
//! default) and [`FileStore`] (durable, one file on disk).
//!
//! | store | survives a restart | limits |
//! |---|---|---|
//! | [`MemoryStore`] | no: a restarted server starts every resource over, in a new epoch, and clients take a snapshot | none of its own; holds what the logs keep ([`LogConfig`](crate::LogConfig)) |
//! | [`FileStore`] | yes: same epoch and seq line, clients resume with `Deltas`, recorded op outcomes answer retries | one process per file; `fsync` per commit by default ([`Durability`]) |
//! | `JetStreamStore` (feature `nats`, [`crate::nats`]) | yes, and shared: any number of nodes commit to and follow the same logs; a client resumes on any node with `Deltas` | one NATS round trip per commit; concurrent commits to one resource from several nodes retry (see `docs/cluster.md`) |
//!
//! A store holds, per resource:
//!
//! - a [`Checkpoint`]: the resource's epoch and its state (encoded) at a seq;
//! - the [`Entry`]s after some seq: each committed delta, encoded once, with
//!   its seq. They replay the state from the checkpoint to the head, and
//!   serve resyncs without a snapshot;
//! - [`OpRecord`]s: what became of each action, so a retried action is
//!   answered with its first outcome and never runs twice, across restarts
//!   too when the store is durable.
//!
//! The store is not the state's owner: the server's resource log is. It
//! decides seqs, applies deltas and calls the store to keep them. A store
//! checks only what it can check cheaply and must: that an append continues
//! the stored seq line ([`StoreError::Conflict`] otherwise).
//!
//! Everything the store keeps is bytes, so one store serves any
//! application's types. Implement the trait to keep logs elsewhere; every
//! method is called from async code and must not block the runtime (move
//! blocking IO to `spawn_blocking`).

#[cfg(test)]
pub(crate) mod conformance;
mod file;
mod memory;

use std::fmt;
use std::path::PathBuf;

use async_trait::async_trait;
use bytes::Bytes;
use ui_flow::OpId;

pub use file::{Durability, FORMAT_VERSION, FileStore};
pub use memory::MemoryStore;

/// A resource's state at one seq, as its log last saved it.
#[derive(Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The resource's seq lineage. It changes only when a log starts over.
    pub epoch: u32,
    /// The seq the state is at (0 for a new resource).
    pub seq: u64,
    /// The state, encoded as frames carry it.
    pub state: Bytes,
}

impl fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkpoint")
            .field("epoch", &self.epoch)
            .field("seq", &self.seq)
            .field("state_bytes", &self.state.len())
            .finish()
    }
}

/// One committed delta.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its seq: the one after its predecessor's.
    pub seq: u64,
    /// The delta, encoded as frames carry it.
    pub delta: Bytes,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Entry(seq {}, {} bytes)", self.seq, self.delta.len())
    }
}

/// What a store holds of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The latest checkpoint.
    pub checkpoint: Checkpoint,
    /// Every entry after the checkpoint's seq, in order, without gaps.
    pub entries: Vec<Entry>,
}

impl Loaded {
    /// The seq of the last entry (or of the checkpoint when there is none).
    pub fn head(&self) -> u64 {
        self.entries.last().map_or(self.checkpoint.seq, |e| e.seq)
    }
}

/// What became of one action, as the store remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It committed deltas, but its answer was not recorded (the server
    /// stopped in between). A retry is answered `ActionOk` without a result.
    Committed,
    /// Its answer: an encoded `ActionOk` or `ActionErr` frame.
    Answered(Bytes),
}

/// A record of one action of one user on one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRecord {
    /// Who sent it.
    pub user: String,
    /// Its operation id.
    pub op_id: OpId,
    /// When it finished (Unix ms): records are kept at least the retention
    /// window after this.
    pub at_unix_ms: u64,
    /// What became of it.
    pub outcome: Outcome,
}

/// Entries another writer (or this one) appended to a shared store, as
/// [`Store::follow`] reports them: one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The epoch of the log they were appended to.
    pub epoch: u32,
    /// When they were committed (Unix ms, the committing node's clock).
    pub at_unix_ms: u64,
    /// The entries, contiguous.
    pub entries: Vec<Entry>,
}

/// A live feed of one resource's commits, made by [`Store::follow`].
///
/// It is not a replay: it starts at the commit that is last when it is
/// made (or later) and may skip commits after a reconnect; the reader
/// fills gaps with [`Store::entries`].
#[derive(Debug)]
pub struct Follow {
    receiver: tokio::sync::mpsc::Receiver<Result<Appended, StoreError>>,
}

/// The writing end of a [`Follow`].
#[derive(Debug, Clone)]
pub struct FollowSender {
    sender: tokio::sync::mpsc::Sender<Result<Appended, StoreError>>,
}

impl Follow {
    /// A feed and its writing end, holding at most `capacity` commits not
    /// yet read.
    pub fn channel(capacity: usize) -> (FollowSender, Follow) {
        let (sender, receiver) = tokio::sync::mpsc::channel(capacity.max(1));
        (FollowSender { sender }, Follow { receiver })
    }

    /// The next commit; `None` when the feed has ended.
    pub async fn next(&mut self) -> Option<Result<Appended, StoreError>> {
        self.receiver.recv().await
    }
}

impl FollowSender {
    /// Hands one commit (or an error) to the reader, waiting while it is
    /// behind. False once the reader is gone: stop feeding.
    pub async fn send(&self, item: Result<Appended, StoreError>) -> bool {
        self.sender.send(item).await.is_ok()
    }
}

/// Why a store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be opened: missing permissions, held by another
    /// process, written by an incompatible version, or corrupt.
    #[error("cannot open the ui-flow store at {}: {reason}", path.display())]
    Open {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong, for people.
        reason: String,
    },
    /// An append did not continue the stored seq line (another writer got
    /// there first, or the caller lost track).
    #[error(
        "log of {resource:?} is at seq {stored_head}; an append starting at {first} does not follow it"
    )]
    Conflict {
        /// The resource.
        resource: String,
        /// The head the store has.
        stored_head: u64,
        /// The first seq of the refused append.
        first: u64,
    },
    /// What the store holds does not make sense (a gap, an undecodable record).
    #[error("the stored log of {resource:?} is damaged: {reason}")]
    Corrupt {
        /// The resource.
        resource: String,
        /// What is wrong.
        reason: String,
    },
    /// A read or write failed (IO, a lost connection to a remote store).
    #[error("store IO failed: {0}")]
    Io(String),
}

/// Keeps resource logs. See the [module docs](self).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// What the store holds of `resource`, or `None` if it has none.
    async fn load(&self, resource: &str) -> Result<Option<Loaded>, StoreError>;

    /// Starts (or restarts) `resource`'s log at `checkpoint`, dropping any
    /// entries it had.
    async fn create(&self, resource: &str, checkpoint: Checkpoint) -> Result<(), StoreError>;

    /// Appends `entries` (the first right after the stored head, then one
    /// seq each) and `ops`, all or nothing. When it returns `Ok`, both are
    /// kept as durably as the store promises.
    async fn append(
        &self,
        resource: &str,
        entries: Vec<Entry>,
        ops: Vec<OpRecord>,
    ) -> Result<(), StoreError>;

    /// Entries with seq above `after`, oldest first, at most `limit`. Fewer
    /// (or none) when the store no longer has them: the caller checks that
    /// the first is `after + 1`.
    async fn entries(
        &self,
        resource: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError>;

    /// Saves `checkpoint` as the resource's latest and forgets entries with
    /// seq below `keep_from` (never ones above the checkpoint).
    async fn checkpoint(
        &self,
        resource: &str,
        checkpoint: Checkpoint,
        keep_from: u64,
    ) -> Result<(), StoreError>;

    /// What became of `op_id` of `user` on `resource`, if recorded.
    async fn outcome(
        &self,
        resource: &str,
        user: &str,
        op_id: OpId,
    ) -> Result<Option<Outcome>, StoreError>;

    /// Forgets op records of `resource` that finished before `before_unix_ms`.
    async fn forget_ops(&self, resource: &str, before_unix_ms: u64) -> Result<(), StoreError>;

    /// Forgets everything about `resource` (its next use starts a new log).
    async fn remove(&self, resource: &str) -> Result<(), StoreError>;

    /// Starts `resource`'s log at `checkpoint` unless it exists: then
    /// returns what the store holds (another node created it first) and
    /// changes nothing. Stores with one writer need not override it: the
    /// default calls [`create`](Self::create).
    async fn create_new(
        &self,
        resource: &str,
        checkpoint: Checkpoint,
    ) -> Result<Option<Loaded>, StoreError> {
        self.create(resource, checkpoint).await?;
        Ok(None)
    }

    /// For stores that several nodes write: a feed of the commits any
    /// writer makes to `resource` from now on, so a node can apply and
    /// deliver other nodes' deltas. `None` (the default): this process is
    /// the only writer.
    async fn follow(&self, resource: &str) -> Result<Option<Follow>, StoreError> {
        let _ = resource;
        Ok(None)
    }
}

/// A shared store is a store: several servers in one process (or one
/// server's successive incarnations in a test) can keep their logs in it.
#[async_trait]
impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    async fn load(&self, resource: &str) -> Result<Option<Loaded>, StoreError> {
        (**self).load(resource).await
    }
    async fn create(&self, resource: &str, checkpoint: Checkpoint) -> Result<(), StoreError> {
        (**self).create(resource, checkpoint).await
    }
    async fn append(
        &self,
        resource: &str,
        entries: Vec<Entry>,
        ops: Vec<OpRecord>,
    ) -> Result<(), StoreError> {
        (**self).append(resource, entries, ops).await
    }
    async fn entries(
        &self,
        resource: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        (**self).entries(resource, after, limit).await
    }
    async fn checkpoint(
        &self,
        resource: &str,
        checkpoint: Checkpoint,
        keep_from: u64,
    ) -> Result<(), StoreError> {
        (**self).checkpoint(resource, checkpoint, keep_from).await
    }
    async fn outcome(
        &self,
        resource: &str,
        user: &str,
        op_id: OpId,
    ) -> Result<Option<Outcome>, StoreError> {
        (**self).outcome(resource, user, op_id).await
    }
    async fn forget_ops(&self, resource: &str, before_unix_ms: u64) -> Result<(), StoreError> {
        (**self).forget_ops(resource, before_unix_ms).await
    }
    async fn remove(&self, resource: &str) -> Result<(), StoreError> {
        (**self).remove(resource).await
    }
    async fn create_new(
        &self,
        resource: &str,
        checkpoint: Checkpoint,
    ) -> Result<Option<Loaded>, StoreError> {
        (**self).create_new(resource, checkpoint).await
    }
    async fn follow(&self, resource: &str) -> Result<Option<Follow>, StoreError> {
        (**self).follow(resource).await
    }
}

/// Checks that `entries` start right after `head` and go up by one.
pub(crate) fn check_follows(
    resource: &str,
    head: u64,
    entries: &[Entry],
) -> Result<(), StoreError> {
    for (i, entry) in entries.iter().enumerate() {
        if entry.seq != head + 1 + i as u64 {
            return Err(StoreError::Conflict {
                resource: resource.to_owned(),
                stored_head: head,
                first: entries[0].seq,
            });
        }
    }
    Ok(())
}
