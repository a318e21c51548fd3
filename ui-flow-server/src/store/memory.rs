//! [`MemoryStore`]: resource logs in this process's memory.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use ui_flow::OpId;

use super::{Checkpoint, Entry, Loaded, OpRecord, Outcome, Store, StoreError, check_follows};

/// Keeps every resource's log in memory: the default store.
///
/// Nothing survives the process; a restarted server starts every resource
/// over (a new epoch, so clients take a snapshot). How much history it keeps
/// is the server's choice ([`LogConfig`](crate::LogConfig)): it holds what the
/// resource logs keep, no more.
#[derive(Debug, Default)]
pub struct MemoryStore {
    resources: Mutex<HashMap<String, Resource>>,
}

#[derive(Debug)]
struct Resource {
    checkpoint: Checkpoint,
    /// Entries in seq order; the last is the head.
    entries: VecDeque<Entry>,
    ops: HashMap<(String, OpId), OpRecord>,
}

impl Resource {
    fn head(&self) -> u64 {
        self.entries.back().map_or(self.checkpoint.seq, |e| e.seq)
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Resource>> {
        self.resources.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn missing(resource: &str) -> StoreError {
        StoreError::Corrupt {
            resource: resource.to_owned(),
            reason: "the log was never created".to_owned(),
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn load(&self, resource: &str) -> Result<Option<Loaded>, StoreError> {
        Ok(self.lock().get(resource).map(|r| Loaded {
            checkpoint: r.checkpoint.clone(),
            entries: r
                .entries
                .iter()
                .filter(|e| e.seq > r.checkpoint.seq)
                .cloned()
                .collect(),
        }))
    }

    async fn create(&self, resource: &str, checkpoint: Checkpoint) -> Result<(), StoreError> {
        self.lock().insert(
            resource.to_owned(),
            Resource {
                checkpoint,
                entries: VecDeque::new(),
                ops: HashMap::new(),
            },
        );
        Ok(())
    }

    async fn append(
        &self,
        resource: &str,
        entries: Vec<Entry>,
        ops: Vec<OpRecord>,
    ) -> Result<(), StoreError> {
        let mut all = self.lock();
        let r = all.get_mut(resource).ok_or_else(|| Self::missing(resource))?;
        check_follows(resource, r.head(), &entries)?;
        r.entries.extend(entries);
        for op in ops {
            r.ops.insert((op.user.clone(), op.op_id), op);
        }
        Ok(())
    }

    async fn entries(
        &self,
        resource: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let all = self.lock();
        let Some(r) = all.get(resource) else {
            return Ok(Vec::new());
        };
        // Entries are contiguous, so the position of `after + 1` is computable.
        let Some(first) = r.entries.front().map(|e| e.seq) else {
            return Ok(Vec::new());
        };
        let skip = usize::try_from((after + 1).saturating_sub(first)).unwrap_or(usize::MAX);
        Ok(r.entries.iter().skip(skip).take(limit).cloned().collect())
    }

    async fn checkpoint(
        &self,
        resource: &str,
        checkpoint: Checkpoint,
        keep_from: u64,
    ) -> Result<(), StoreError> {
        let mut all = self.lock();
        let r = all.get_mut(resource).ok_or_else(|| Self::missing(resource))?;
        let keep_from = keep_from.min(checkpoint.seq + 1);
        while r.entries.front().is_some_and(|e| e.seq < keep_from) {
            r.entries.pop_front();
        }
        r.checkpoint = checkpoint;
        Ok(())
    }

    async fn outcome(
        &self,
        resource: &str,
        user: &str,
        op_id: OpId,
    ) -> Result<Option<Outcome>, StoreError> {
        Ok(self
            .lock()
            .get(resource)
            .and_then(|r| r.ops.get(&(user.to_owned(), op_id)))
            .map(|op| op.outcome.clone()))
    }

    async fn forget_ops(&self, resource: &str, before_unix_ms: u64) -> Result<(), StoreError> {
        if let Some(r) = self.lock().get_mut(resource) {
            r.ops.retain(|_, op| op.at_unix_ms >= before_unix_ms);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_store_conformance() {
        super::super::conformance::run(&super::MemoryStore::new()).await;
    }
}
