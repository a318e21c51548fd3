//! [`FileStore`]: resource logs in one database file on disk.
//!
//! The file is a [redb](https://docs.rs/redb) database: pure Rust, one file,
//! copy-on-write B-trees, ACID transactions, an exclusive `flock` on the
//! file while it is open. Its tables:
//!
//! | table | key | value |
//! |---|---|---|
//! | `ui_flow_meta` | name (`"format"`) | our format version ([`FORMAT_VERSION`]) |
//! | `ui_flow_checkpoints` | resource | (epoch, seq, encoded state) |
//! | `ui_flow_entries` | (resource, seq) | encoded delta |
//! | `ui_flow_ops` | (resource, user, op id) | (finished at, Unix ms; the answer frame, or none when only committed) |
//!
//! Entries sort by (resource, seq), so [`Store::entries`] is one range scan
//! and a checkpoint's "drop below `keep_from`" is one range delete.
//!
//! Why redb: among the embedded stores we weighed, it is the one that is
//! pure Rust (no C toolchain, unlike SQLite through rusqlite), one file
//! with one lock (fjall keeps a folder of LSM segments and a journal),
//! crash-safe by copy-on-write with checksummed commits, and stable in its
//! file format within a major version. Its cost: one writer at a time
//! (hence the group commit) and a file that grows in regions of a few MiB.
//! We stay on redb 2.6, the newest line that builds on the workspace's
//! Rust 1.85, and write its v3 file format, which redb 3 and later read.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use redb::{
    Database, DatabaseError, ReadableTable, StorageError, TableDefinition, TableHandle,
    WriteTransaction,
};
use tokio::sync::oneshot::{self, Sender};
use ui_flow::OpId;

use super::{Checkpoint, Entry, Loaded, OpRecord, Outcome, Store, StoreError, check_follows};

/// The layout of our tables. A file with another version is refused at
/// open; bump it with any change to the tables above.
pub const FORMAT_VERSION: u64 = 1;

/// With [`Durability::Eventual`], every this many appends one is made
/// durable (which also lets redb reuse the pages of older commits).
const EVENTUAL_SYNC_EVERY: u32 = 64;

/// redb's page cache for reads: enough for the recent history of many
/// resources, far below redb's own default of 1 GiB.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

const META: TableDefinition<'_, &str, u64> = TableDefinition::new("ui_flow_meta");
const CHECKPOINTS: TableDefinition<'_, &str, (u32, u64, &[u8])> =
    TableDefinition::new("ui_flow_checkpoints");
const ENTRIES: TableDefinition<'_, (&str, u64), &[u8]> = TableDefinition::new("ui_flow_entries");
/// (resource, user, op id as a big-endian u128).
type OpKey<'a> = (&'a str, &'a str, u128);
/// (finished at, Unix ms; the answer frame, `None` when only committed).
type OpValue<'a> = (u64, Option<&'a [u8]>);
const OPS: TableDefinition<'_, OpKey<'_>, OpValue<'_>> = TableDefinition::new("ui_flow_ops");

/// When an append counts as kept.
///
/// What a crash can cost, per setting:
///
/// | setting | process killed | machine loses power |
/// |---|---|---|
/// | `Immediate` | nothing acknowledged | nothing acknowledged |
/// | `Eventual` | up to the last 63 appends | up to the last 63 appends |
///
/// In both cases the file reopens to a consistent prefix of the log: a
/// commit is all there or not at all, never torn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Every append is on disk (`fsync`) before it returns, so an action's
    /// `ActionOk` is sent only once its deltas would survive a power cut.
    /// The default. Its cost is one `fsync` per commit: a few hundred to a
    /// few thousand commits per second on an SSD, far fewer on a spinning
    /// disk (see BENCHMARKS.md). Appends that arrive while one commits
    /// (commits to other resources) share the next commit and its `fsync`.
    #[default]
    Immediate,
    /// Appends return once written to the database's memory; every 64th
    /// append, and every create and checkpoint, is made durable with the
    /// ones before it. A crash (even of the process alone: redb reopens at
    /// its last durable commit) loses at most the appends since then, and
    /// those may already have been acknowledged to clients. For data that
    /// can be lost, when commit rate matters more. The file grows faster
    /// than with `Immediate`: redb reuses the pages a commit frees only
    /// after a durable commit.
    Eventual,
}

/// Keeps every resource's log in one redb database file: the durable
/// store.
///
/// A server restarted on the same file continues each resource's epoch and
/// seq line, so its clients resume with `Deltas` rather than a snapshot,
/// and a retried action gets its first outcome. What "kept" means is set by
/// [`Durability`] (default: `fsync` before every append returns).
///
/// One file holds any number of resources. It is not shared: one
/// `FileStore` per file, in one process at a time (the file is locked while
/// open; clone an `Arc<FileStore>` to share it between servers in a
/// process). It is not a replicated or multi-node store, and it keeps bytes
/// only: the server's resource logs decide what they mean.
///
/// Each call runs its transaction on tokio's blocking pool, so it never
/// blocks the async runtime. redb runs one write transaction at a time, so
/// appends queue: those queued while a commit runs go into the next
/// transaction together (group commit), each with its own result; a
/// refused append (`Conflict`) writes nothing and does not affect the
/// others. Dropping the last handle of a store with
/// [`Durability::Eventual`] appends not yet durable commits them (one
/// `fsync`, on the dropping thread).
///
/// ```no_run
/// use ui_flow_server::store::FileStore;
/// use ui_flow_server::{FlowServer, ServerConfig, UnverifiedUserToken, counter::Counter};
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// std::fs::create_dir_all("data")?;
/// let server = FlowServer::with_store(
///     Counter::default(),
///     UnverifiedUserToken,
///     ServerConfig::default(),
///     FileStore::open("data/flow.redb")?,
/// );
/// # let _ = server;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FileStore {
    shared: Arc<Shared>,
    durability: Durability,
}

/// The database, shared by the store and its transactions in flight.
#[derive(Debug)]
struct Shared {
    db: Database,
    path: PathBuf,
    /// Appends since the last durable commit ([`Durability::Eventual`]).
    unsynced: AtomicU32,
    /// Appends waiting for the next write transaction (group commit).
    queue: Mutex<Vec<Queued>>,
}

/// One append's writes, run inside a shared write transaction. It checks
/// before it writes, so an `Err` it returns has written nothing.
type Job = Box<dyn FnOnce(&WriteTransaction) -> Result<(), StoreError> + Send>;

/// An append waiting in [`Shared::queue`], and where its result goes.
struct Queued {
    job: Job,
    /// Its store is [`Durability::Eventual`]: it may be committed without
    /// `fsync` (unless another in the group must not).
    eventual: bool,
    done: oneshot::Sender<Result<(), StoreError>>,
}

impl std::fmt::Debug for Queued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Queued")
    }
}

impl FileStore {
    /// Opens the store at `path`, creating the file (not its directory) if
    /// it does not exist. Blocks while it opens and checks the file, and
    /// after a crash while redb repairs it (a scan whose time grows with
    /// the file's size): call it at startup, before serving.
    ///
    /// Fails with [`StoreError::Open`] naming `path` when the directory is
    /// missing or not writable, another process or `FileStore` has the
    /// file open, the file is not a redb database or is damaged, it was
    /// written in a redb format or with a [`FORMAT_VERSION`] this build does
    /// not read, or it is some other application's redb database. A file
    /// is never truncated or recreated.
    pub fn open(path: impl AsRef<Path>) -> Result<FileStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let refuse = |reason: String| StoreError::Open {
            path: path.clone(),
            reason,
        };
        let db = Database::builder()
            .create_with_file_format_v3(true)
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|e| refuse(open_reason(e)))?;
        check_format(&db).map_err(refuse)?;
        Ok(FileStore {
            shared: Arc::new(Shared {
                db,
                path,
                unsynced: AtomicU32::new(0),
                queue: Mutex::new(Vec::new()),
            }),
            durability: Durability::default(),
        })
    }

    /// The same store, with appends kept as `durability` says.
    pub fn with_durability(mut self, durability: Durability) -> FileStore {
        self.durability = durability;
        self
    }

    /// The file this store keeps.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Runs `work` in one write transaction on the blocking pool and commits
    /// it durably (which makes any [`Durability::Eventual`] appends before
    /// it durable too).
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let shared = self.shared.clone();
        blocking(move || {
            let txn = shared.db.begin_write().map_err(io)?;
            let out = work(&txn)?;
            txn.commit().map_err(io)?;
            shared.unsynced.store(0, Ordering::Relaxed);
            Ok(out)
        })
        .await
    }

    /// Runs `job` in a write transaction shared with the appends queued
    /// meanwhile, so they share one commit (and one `fsync`): the group
    /// commit. Each job's result is its own; an IO failure of the shared
    /// commit fails them all, and none of their writes is kept.
    async fn append_job(&self, job: Job) -> Result<(), StoreError> {
        let (done, result) = oneshot::channel();
        let eventual = self.durability == Durability::Eventual;
        lock(&self.shared.queue).push(Queued {
            job,
            eventual,
            done,
        });
        let shared = self.shared.clone();
        // Commits what is queued, ours included, unless a transaction
        // that began earlier took ours: it answers it, then.
        blocking(move || {
            shared.commit_queued();
            Ok(())
        })
        .await?;
        result
            .await
            .map_err(|_| StoreError::Io("the append's transaction was abandoned".to_owned()))?
    }

    /// Runs `work` in one read transaction on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&redb::ReadTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let shared = self.shared.clone();
        blocking(move || work(&shared.db.begin_read().map_err(io)?)).await
    }
}

impl Shared {
    /// Takes every queued append and runs them in one write transaction.
    /// Blocks; call it on the blocking pool.
    fn commit_queued(&self) {
        let mut txn = match self.db.begin_write() {
            Ok(txn) => txn,
            Err(e) => return self.fail_queued(&io(e)),
        };
        // Taken only once the transaction is ours: appends queued while
        // another commits wait for this one.
        let queued = std::mem::take(&mut *lock(&self.queue));
        if queued.is_empty() {
            return;
        }
        let count = u32::try_from(queued.len()).unwrap_or(u32::MAX);
        let eventual = queued.iter().all(|q| q.eventual);
        let durable = !eventual
            || self
                .unsynced
                .fetch_add(count, Ordering::Relaxed)
                .saturating_add(count)
                >= EVENTUAL_SYNC_EVERY;
        if !durable {
            txn.set_durability(redb::Durability::None);
        }
        let mut answers = Vec::with_capacity(queued.len());
        for Queued { job, done, .. } in queued {
            let result = job(&txn);
            if let Err(StoreError::Io(e)) = &result {
                // Writes may be half done: nothing of this transaction is kept.
                let error = StoreError::Io(e.clone());
                drop(txn);
                for (done, _) in answers {
                    let _ = Sender::send(done, Err(StoreError::Io(e.clone())));
                }
                let _ = Sender::send(done, Err(error));
                return;
            }
            answers.push((done, result));
        }
        if let Err(e) = txn.commit() {
            let e = e.to_string();
            for (done, _) in answers {
                let _ = Sender::send(done, Err(StoreError::Io(e.clone())));
            }
            return;
        }
        if durable {
            self.unsynced.store(0, Ordering::Relaxed);
        }
        for (done, result) in answers {
            let _ = Sender::send(done, result);
        }
    }

    /// Answers every queued append with `error` (their transaction could
    /// not begin).
    fn fail_queued(&self, error: &StoreError) {
        for Queued { done, .. } in std::mem::take(&mut *lock(&self.queue)) {
            let _ = Sender::send(done, Err(StoreError::Io(error.to_string())));
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Drop for Shared {
    /// Makes [`Durability::Eventual`] appends durable on an orderly shutdown.
    fn drop(&mut self) {
        if *self.unsynced.get_mut() == 0 {
            return;
        }
        let synced = match self.db.begin_write() {
            Ok(txn) => txn.commit().map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = synced {
            tracing::warn!(path = %self.path.display(), error = %e, "last appends not made durable");
        }
    }
}

#[async_trait]
impl Store for FileStore {
    async fn load(&self, resource: &str) -> Result<Option<Loaded>, StoreError> {
        let resource = resource.to_owned();
        self.read(move |txn| {
            let checkpoints = txn.open_table(CHECKPOINTS).map_err(io)?;
            let Some(checkpoint) = checkpoints.get(resource.as_str()).map_err(io)? else {
                return Ok(None);
            };
            let (epoch, seq, state) = checkpoint.value();
            let checkpoint = Checkpoint {
                epoch,
                seq,
                state: Bytes::copy_from_slice(state),
            };
            let entries = read_entries(txn, &resource, checkpoint.seq, usize::MAX)?;
            Ok(Some(Loaded {
                checkpoint,
                entries,
            }))
        })
        .await
    }

    async fn create(&self, resource: &str, checkpoint: Checkpoint) -> Result<(), StoreError> {
        let resource = resource.to_owned();
        self.write(move |txn| {
            clear(txn, &resource)?;
            let mut checkpoints = txn.open_table(CHECKPOINTS).map_err(io)?;
            checkpoints
                .insert(
                    resource.as_str(),
                    (checkpoint.epoch, checkpoint.seq, &checkpoint.state[..]),
                )
                .map_err(io)?;
            Ok(())
        })
        .await
    }

    async fn append(
        &self,
        resource: &str,
        entries: Vec<Entry>,
        ops: Vec<OpRecord>,
    ) -> Result<(), StoreError> {
        let resource = resource.to_owned();
        self.append_job(Box::new(move |txn| {
            let head = stored_head(txn, &resource)?;
            check_follows(&resource, head, &entries)?;
            let mut table = txn.open_table(ENTRIES).map_err(io)?;
            for entry in &entries {
                table
                    .insert((resource.as_str(), entry.seq), &entry.delta[..])
                    .map_err(io)?;
            }
            let mut table = txn.open_table(OPS).map_err(io)?;
            for op in &ops {
                let answer = match &op.outcome {
                    Outcome::Committed => None,
                    Outcome::Answered(frame) => Some(&frame[..]),
                };
                table
                    .insert(
                        (resource.as_str(), op.user.as_str(), op_key(op.op_id)),
                        (op.at_unix_ms, answer),
                    )
                    .map_err(io)?;
            }
            Ok(())
        }))
        .await
    }

    async fn entries(
        &self,
        resource: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let resource = resource.to_owned();
        self.read(move |txn| read_entries(txn, &resource, after, limit))
            .await
    }

    async fn checkpoint(
        &self,
        resource: &str,
        checkpoint: Checkpoint,
        keep_from: u64,
    ) -> Result<(), StoreError> {
        let resource = resource.to_owned();
        self.write(move |txn| {
            let mut checkpoints = txn.open_table(CHECKPOINTS).map_err(io)?;
            if checkpoints.get(resource.as_str()).map_err(io)?.is_none() {
                return Err(missing(&resource));
            }
            checkpoints
                .insert(
                    resource.as_str(),
                    (checkpoint.epoch, checkpoint.seq, &checkpoint.state[..]),
                )
                .map_err(io)?;
            let keep_from = keep_from.min(checkpoint.seq + 1);
            if keep_from > 0 {
                let mut entries = txn.open_table(ENTRIES).map_err(io)?;
                entries
                    .retain_in(
                        (resource.as_str(), 0)..(resource.as_str(), keep_from),
                        |_, _| false,
                    )
                    .map_err(io)?;
            }
            Ok(())
        })
        .await
    }

    async fn outcome(
        &self,
        resource: &str,
        user: &str,
        op_id: OpId,
    ) -> Result<Option<Outcome>, StoreError> {
        let (resource, user) = (resource.to_owned(), user.to_owned());
        self.read(move |txn| {
            let ops = txn.open_table(OPS).map_err(io)?;
            let found = ops
                .get((resource.as_str(), user.as_str(), op_key(op_id)))
                .map_err(io)?;
            Ok(found.map(|record| match record.value().1 {
                None => Outcome::Committed,
                Some(frame) => Outcome::Answered(Bytes::copy_from_slice(frame)),
            }))
        })
        .await
    }

    async fn forget_ops(&self, resource: &str, before_unix_ms: u64) -> Result<(), StoreError> {
        let resource = resource.to_owned();
        self.write(move |txn| {
            let mut ops = txn.open_table(OPS).map_err(io)?;
            let after = after_resource(&resource);
            ops.retain_in(
                (resource.as_str(), "", 0)..(after.as_str(), "", 0),
                |_, (at, _)| at >= before_unix_ms,
            )
            .map_err(io)?;
            Ok(())
        })
        .await
    }

    async fn remove(&self, resource: &str) -> Result<(), StoreError> {
        let resource = resource.to_owned();
        self.write(move |txn| {
            clear(txn, &resource)?;
            let mut checkpoints = txn.open_table(CHECKPOINTS).map_err(io)?;
            checkpoints.remove(resource.as_str()).map_err(io)?;
            Ok(())
        })
        .await
    }
}

/// Deletes a resource's entries and op records (not its checkpoint).
fn clear(txn: &WriteTransaction, resource: &str) -> Result<(), StoreError> {
    let mut entries = txn.open_table(ENTRIES).map_err(io)?;
    entries
        .retain_in((resource, 0)..=(resource, u64::MAX), |_, _| false)
        .map_err(io)?;
    let mut ops = txn.open_table(OPS).map_err(io)?;
    let after = after_resource(resource);
    ops.retain_in((resource, "", 0)..(after.as_str(), "", 0), |_, _| false)
        .map_err(io)?;
    Ok(())
}

/// Checks (or, in a new file, writes) our format version, and makes sure
/// every table exists so reads never meet a missing one.
fn check_format(db: &Database) -> Result<(), String> {
    let txn = db.begin_write().map_err(|e| e.to_string())?;
    let found = {
        let meta = txn.open_table(META).map_err(|e| e.to_string())?;
        let version = meta.get("format").map_err(|e| e.to_string())?;
        version.map(|v| v.value())
    };
    match found {
        Some(FORMAT_VERSION) => {}
        Some(other) => {
            // Dropping the transaction aborts it: the file is left as it was.
            return Err(format!(
                "it holds ui-flow store format {other}; this build reads format {FORMAT_VERSION} only"
            ));
        }
        None => {
            let foreign: Vec<String> = txn
                .list_tables()
                .map_err(|e| e.to_string())?
                .map(|t| t.name().to_owned())
                .filter(|name| name != META.name())
                .collect();
            if !foreign.is_empty() {
                return Err(format!(
                    "it is a redb database of another application (tables {foreign:?}, no ui-flow format version)"
                ));
            }
            let mut meta = txn.open_table(META).map_err(|e| e.to_string())?;
            meta.insert("format", FORMAT_VERSION)
                .map_err(|e| e.to_string())?;
        }
    }
    txn.open_table(CHECKPOINTS).map_err(|e| e.to_string())?;
    txn.open_table(ENTRIES).map_err(|e| e.to_string())?;
    txn.open_table(OPS).map_err(|e| e.to_string())?;
    txn.commit().map_err(|e| e.to_string())
}

/// Why redb could not open the file, for people.
fn open_reason(e: DatabaseError) -> String {
    match e {
        DatabaseError::DatabaseAlreadyOpen => {
            "the file is locked: another process (or another FileStore in this one) has it open"
                .to_owned()
        }
        DatabaseError::UpgradeRequired(v) => {
            format!("it is in redb file format {v}, which this build cannot read")
        }
        DatabaseError::Storage(StorageError::Corrupted(what)) => {
            format!("it is not a redb database or is damaged: {what}")
        }
        DatabaseError::Storage(StorageError::Io(e)) => match e.kind() {
            std::io::ErrorKind::NotFound => "its directory does not exist".to_owned(),
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => {
                format!("it is not a redb database or is damaged: {e}")
            }
            std::io::ErrorKind::PermissionDenied => {
                format!("permission denied (the file and its directory must be writable): {e}")
            }
            _ => e.to_string(),
        },
        other => other.to_string(),
    }
}

/// The stored head: the last entry's seq, or the checkpoint's.
fn stored_head(txn: &WriteTransaction, resource: &str) -> Result<u64, StoreError> {
    let entries = txn.open_table(ENTRIES).map_err(io)?;
    let last = entries
        .range((resource, 0)..=(resource, u64::MAX))
        .map_err(io)?
        .next_back()
        .transpose()
        .map_err(io)?;
    if let Some((key, _)) = last {
        return Ok(key.value().1);
    }
    let checkpoints = txn.open_table(CHECKPOINTS).map_err(io)?;
    let checkpoint = checkpoints.get(resource).map_err(io)?;
    checkpoint
        .map(|c| c.value().1)
        .ok_or_else(|| missing(resource))
}

/// Entries of `resource` with seq above `after`, at most `limit`.
fn read_entries(
    txn: &redb::ReadTransaction,
    resource: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<Entry>, StoreError> {
    let Some(first) = after.checked_add(1) else {
        return Ok(Vec::new());
    };
    let table = txn.open_table(ENTRIES).map_err(io)?;
    let mut out = Vec::new();
    for item in table
        .range((resource, first)..=(resource, u64::MAX))
        .map_err(io)?
        .take(limit)
    {
        let (key, delta) = item.map_err(io)?;
        out.push(Entry {
            seq: key.value().1,
            delta: Bytes::copy_from_slice(delta.value()),
        });
    }
    Ok(out)
}

/// The least string above `resource` and every string it starts: op keys
/// `(resource, ..)` lie between `(resource, "", 0)` and `(this, "", 0)`.
fn after_resource(resource: &str) -> String {
    format!("{resource}\0")
}

fn op_key(op_id: OpId) -> u128 {
    u128::from_be_bytes(*op_id.as_bytes())
}

fn missing(resource: &str) -> StoreError {
    StoreError::Corrupt {
        resource: resource.to_owned(),
        reason: "the log was never created".to_owned(),
    }
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

/// Runs `work` on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Io(format!("the store's blocking task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_store_conformance() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FileStore::open(dir.path().join("flow.redb")).expect("open");
        super::super::conformance::run(&store).await;
    }

    /// Appends queued behind a held write transaction go into one group:
    /// each gets its own result, a refused one does not spoil the others,
    /// and a later one sees the earlier ones' writes.
    #[tokio::test]
    async fn a_group_commit_answers_each_append() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FileStore::open(dir.path().join("flow.redb")).expect("open");
        let checkpoint = Checkpoint {
            epoch: 1,
            seq: 0,
            state: Bytes::from_static(b"s"),
        };
        store.create("r", checkpoint).await.expect("create");
        let entry = |seq| Entry {
            seq,
            delta: Bytes::from(format!("delta {seq}")),
        };
        let held = store.shared.db.begin_write().expect("hold the writer");
        let mut appends = Vec::new();
        for seq in [1, 1, 2, 4, 3] {
            let store = store.clone();
            appends.push(tokio::spawn(async move {
                store.append("r", vec![entry(seq)], Vec::new()).await
            }));
        }
        while lock(&store.shared.queue).len() < 5 {
            tokio::task::yield_now().await;
        }
        drop(held);
        let mut results = Vec::new();
        for append in appends {
            results.push(append.await.expect("task"));
        }
        let won: Vec<bool> = results.iter().map(Result::is_ok).collect();
        assert_eq!(won, [true, false, true, false, true], "{results:?}");
        assert!(matches!(
            results[1],
            Err(StoreError::Conflict { stored_head: 1, .. })
        ));
        assert!(matches!(
            results[3],
            Err(StoreError::Conflict { stored_head: 2, .. })
        ));
        let loaded = store.load("r").await.expect("load").expect("kept");
        assert_eq!(loaded.entries, (1..=3).map(entry).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn eventual_file_store_conformance() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FileStore::open(dir.path().join("flow.redb"))
            .expect("open")
            .with_durability(Durability::Eventual);
        super::super::conformance::run(&store).await;
    }
}
