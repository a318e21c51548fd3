//! Memory of action outcomes, so a retried `op_id` is not applied twice.
//!
//! Keyed by (resource, user, op id): another user reusing an id cannot read
//! or block someone else's action. Running actions are always remembered;
//! finished ones are kept up to a count and an age (both configurable,
//! oldest forgotten first), so memory stays bounded however many actions
//! pass through. A retry after its outcome was forgotten runs again.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::transmit::{ConnectionId, OpKey};

/// Where one action stands.
#[derive(Debug)]
pub(crate) enum OpState {
    /// Running; these connections get its progress and outcome.
    Running(Vec<ConnectionId>),
    /// Finished; the encoded `ActionOk` / `ActionErr` frame.
    Done(Bytes),
}

#[derive(Debug)]
pub(crate) struct OpLog {
    ops: HashMap<OpKey, OpState>,
    /// Finished ops, oldest first, with when they finished.
    finished: VecDeque<(OpKey, Instant)>,
    capacity: usize,
    ttl: Duration,
}

impl OpLog {
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        OpLog {
            ops: HashMap::new(),
            finished: VecDeque::new(),
            capacity,
            ttl,
        }
    }

    pub(crate) fn get_mut(&mut self, key: &OpKey, now: Instant) -> Option<&mut OpState> {
        self.expire(now);
        self.ops.get_mut(key)
    }

    pub(crate) fn start(&mut self, key: OpKey, conn: ConnectionId) {
        self.ops.insert(key, OpState::Running(vec![conn]));
    }

    /// Records the outcome and returns who was waiting for it.
    pub(crate) fn finish(&mut self, key: &OpKey, frame: Bytes, now: Instant) -> Vec<ConnectionId> {
        let waiters = match self.ops.get_mut(key) {
            Some(state @ OpState::Running(_)) => {
                match std::mem::replace(state, OpState::Done(frame)) {
                    OpState::Running(w) => w,
                    OpState::Done(_) => Vec::new(),
                }
            }
            _ => return Vec::new(),
        };
        self.finished.push_back((key.clone(), now));
        self.expire(now);
        waiters
    }

    /// The connections waiting for a running op.
    pub(crate) fn waiters(&self, key: &OpKey) -> &[ConnectionId] {
        match self.ops.get(key) {
            Some(OpState::Running(w)) => w,
            _ => &[],
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some((key, at)) = self.finished.front() {
            let too_many = self.finished.len() > self.capacity;
            let too_old = now.saturating_duration_since(*at) > self.ttl;
            if !(too_many || too_old) {
                break;
            }
            self.ops.remove(key);
            self.finished.pop_front();
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ops.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ui_flow::OpId;

    use super::*;

    fn key(n: u128) -> OpKey {
        OpKey {
            resource: Arc::from("r"),
            user: Arc::from("u"),
            op_id: OpId::from_u128(n),
        }
    }

    #[test]
    fn finished_outcomes_are_bounded_by_count_and_age() {
        let t0 = Instant::now();
        let mut log = OpLog::new(2, Duration::from_secs(10));
        for n in 0..5 {
            log.start(key(n), ConnectionId(1));
            log.finish(&key(n), Bytes::from_static(b"x"), t0);
        }
        assert_eq!(log.len(), 2);
        assert!(log.get_mut(&key(0), t0).is_none());
        assert!(log.get_mut(&key(4), t0).is_some());
        assert!(log.get_mut(&key(4), t0 + Duration::from_secs(11)).is_none());
    }

    #[test]
    fn running_ops_are_never_forgotten() {
        let t0 = Instant::now();
        let mut log = OpLog::new(0, Duration::ZERO);
        log.start(key(1), ConnectionId(1));
        assert!(matches!(
            log.get_mut(&key(1), t0 + Duration::from_secs(3600)),
            Some(OpState::Running(_))
        ));
    }
}
