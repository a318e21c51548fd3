//! Memory of action outcomes, so a retried `op_id` is not applied twice.
//!
//! Keyed by (resource, user, op id): another user reusing an id cannot read
//! or block someone else's action. Running actions are always remembered.
//! A finished action's outcome is remembered for at least the retention
//! window, whatever anyone else does, and longer while the bounds allow:
//!
//! - each (resource, user) holds at most `per_user` running or remembered
//!   actions. At the bound, that user's oldest outcome goes if it is older
//!   than the window; otherwise the new action is refused
//!   (`too_many_actions`), never made room for by forgetting a young one;
//! - all outcomes together hold at most `max_bytes`. At the bound, the
//!   oldest outcomes older than the window go; if that is not enough, new
//!   actions are refused (`server_busy`).
//!
//! The byte bound counts the outcomes of every hub sharing the node's
//! [`NodeShare`] (one hub per resource, say); the other bounds are per hub.
//!
//! So nobody can push someone else's outcome out of memory, memory stays
//! bounded however many actions pass through, and outcomes are forgotten
//! only when memory is needed.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ui_flow::code::action_code;

use super::node::NodeShare;
use super::transmit::{ConnectionId, OpKey};

/// Where one action stands.
#[derive(Debug)]
pub(crate) enum OpState {
    /// Running; these connections get its progress and outcome.
    Running(Vec<ConnectionId>),
    /// Finished; the encoded `ActionOk` / `ActionErr` frame.
    Done(Bytes),
}

/// Why a new action was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Busy {
    /// The (resource, user) is at its bound of actions within the window.
    User,
    /// All remembered outcomes together are at the byte bound.
    Server,
}

impl Busy {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Busy::User => action_code::TOO_MANY_ACTIONS,
            Busy::Server => action_code::SERVER_BUSY,
        }
    }

    pub(crate) fn message(self) -> &'static str {
        match self {
            Busy::User => {
                "too many actions of this user on this resource within the retry window; it was not run"
            }
            Busy::Server => {
                "the server remembers too many action outcomes right now; it was not run"
            }
        }
    }
}

/// Bytes one remembered outcome costs besides its frame (key, bookkeeping).
const OVERHEAD: usize = 96;

/// The bounds; see the module docs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) per_user: usize,
    pub(crate) retention: Duration,
    pub(crate) max_bytes: usize,
}

type UserKey = (Arc<str>, Arc<str>);

#[derive(Debug)]
pub(crate) struct OpLog {
    ops: HashMap<OpKey, OpState>,
    /// Per (resource, user): how many actions run, and the finished ones,
    /// oldest first, with when they finished.
    users: HashMap<UserKey, UserOps>,
    /// Every finished op, oldest first (entries already forgotten through
    /// their user's bound are skipped when met).
    finished: VecDeque<(OpKey, Instant)>,
    /// This log's bytes; `node.op_bytes` sums those of the node's logs.
    bytes: usize,
    bounds: Bounds,
    node: Arc<NodeShare>,
}

impl Drop for OpLog {
    fn drop(&mut self) {
        self.node.op_bytes.fetch_sub(self.bytes, Relaxed);
    }
}

#[derive(Debug, Default)]
struct UserOps {
    running: usize,
    finished: VecDeque<(ui_flow::OpId, Instant, usize)>,
}

impl OpLog {
    pub(crate) fn new(bounds: Bounds, node: Arc<NodeShare>) -> Self {
        OpLog {
            ops: HashMap::new(),
            users: HashMap::new(),
            finished: VecDeque::new(),
            bytes: 0,
            bounds,
            node,
        }
    }

    pub(crate) fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// Whether no action runs and every outcome is older than the window.
    pub(crate) fn is_idle(&self, now: Instant) -> bool {
        self.users.values().all(|ops| ops.running == 0)
            && self.retained_until().is_none_or(|until| now > until)
    }

    /// When the newest remembered outcome leaves the retention window.
    pub(crate) fn retained_until(&self) -> Option<Instant> {
        self.users
            .values()
            .filter_map(|ops| ops.finished.back().map(|(_, at, _)| *at))
            .max()
            .map(|at| at + self.bounds.retention)
    }

    fn add_bytes(&mut self, n: usize) {
        self.bytes += n;
        self.node.op_bytes.fetch_add(n, Relaxed);
    }

    fn sub_bytes(&mut self, n: usize) {
        let n = n.min(self.bytes);
        self.bytes -= n;
        self.node.op_bytes.fetch_sub(n, Relaxed);
    }

    pub(crate) fn get_mut(&mut self, key: &OpKey) -> Option<&mut OpState> {
        self.ops.get_mut(key)
    }

    /// Starts `key` unless a bound says no.
    pub(crate) fn start(
        &mut self,
        key: OpKey,
        conn: ConnectionId,
        now: Instant,
    ) -> Result<(), Busy> {
        let user = (key.resource.clone(), key.user.clone());
        let per_user = self.bounds.per_user;
        let full = |log: &Self| {
            log.users
                .get(&user)
                .is_some_and(|ops| ops.running + ops.finished.len() >= per_user)
        };
        if full(self) {
            self.forget_oldest_of(&user, now);
            if full(self) {
                return Err(Busy::User);
            }
        }
        while self.node.op_bytes.load(Relaxed) + OVERHEAD > self.bounds.max_bytes {
            if !self.forget_oldest(now) {
                return Err(Busy::Server);
            }
        }
        let ops = self.users.entry(user).or_default();
        ops.running += 1;
        self.add_bytes(OVERHEAD);
        self.ops.insert(key, OpState::Running(vec![conn]));
        Ok(())
    }

    /// Records the outcome and returns who was waiting for it.
    pub(crate) fn finish(&mut self, key: &OpKey, frame: Bytes, now: Instant) -> Vec<ConnectionId> {
        let size = frame.len();
        let waiters = match self.ops.get_mut(key) {
            Some(state @ OpState::Running(_)) => {
                match std::mem::replace(state, OpState::Done(frame)) {
                    OpState::Running(w) => w,
                    OpState::Done(_) => Vec::new(),
                }
            }
            _ => return Vec::new(),
        };
        let ops = self
            .users
            .entry((key.resource.clone(), key.user.clone()))
            .or_default();
        ops.running = ops.running.saturating_sub(1);
        ops.finished.push_back((key.op_id, now, size));
        self.finished.push_back((key.clone(), now));
        self.add_bytes(size);
        waiters
    }

    /// The connections waiting for a running op.
    pub(crate) fn waiters(&self, key: &OpKey) -> &[ConnectionId] {
        match self.ops.get(key) {
            Some(OpState::Running(w)) => w,
            _ => &[],
        }
    }

    /// Forgets `user`'s oldest outcome if it is older than the window.
    fn forget_oldest_of(&mut self, user: &UserKey, now: Instant) {
        let Some(ops) = self.users.get_mut(user) else {
            return;
        };
        let Some(&(op_id, at, size)) = ops.finished.front() else {
            return;
        };
        if now.saturating_duration_since(at) <= self.bounds.retention {
            return;
        }
        ops.finished.pop_front();
        let emptied = ops.running == 0 && ops.finished.is_empty();
        self.sub_bytes(size + OVERHEAD);
        self.ops.remove(&OpKey {
            resource: user.0.clone(),
            user: user.1.clone(),
            op_id,
        });
        if emptied {
            self.users.remove(user);
        }
    }

    /// Forgets the oldest outcome of all if it is older than the window;
    /// false when there is none to forget.
    fn forget_oldest(&mut self, now: Instant) -> bool {
        while let Some((key, at)) = self.finished.front().cloned() {
            let user = (key.resource.clone(), key.user.clone());
            let still_kept = self
                .users
                .get(&user)
                .and_then(|ops| ops.finished.front())
                .is_some_and(|(op_id, _, _)| *op_id == key.op_id);
            if !still_kept {
                // Already forgotten through its user's bound.
                self.finished.pop_front();
                continue;
            }
            if now.saturating_duration_since(at) <= self.bounds.retention {
                return false;
            }
            self.finished.pop_front();
            self.forget_oldest_of(&user, now);
            return true;
        }
        false
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ops.len()
    }
}

#[cfg(test)]
mod tests {
    use ui_flow::OpId;

    use super::*;

    fn key(user: &str, n: u128) -> OpKey {
        OpKey {
            resource: Arc::from("r"),
            user: Arc::from(user),
            op_id: OpId::from_u128(n),
        }
    }

    fn bounds(per_user: usize, max_bytes: usize) -> Bounds {
        Bounds {
            per_user,
            retention: Duration::from_secs(10),
            max_bytes,
        }
    }

    fn run(log: &mut OpLog, k: &OpKey, at: Instant) -> Result<(), Busy> {
        log.start(k.clone(), ConnectionId(1), at)?;
        log.finish(k, Bytes::from_static(b"outcome"), at);
        Ok(())
    }

    #[test]
    fn nobody_can_push_out_another_users_outcome_within_the_window() {
        let t0 = Instant::now();
        let mut log = OpLog::new(bounds(3, usize::MAX), Arc::default());
        run(&mut log, &key("victim", 1), t0).expect("runs");
        for n in 0..3 {
            run(&mut log, &key("flooder", n), t0).expect("within the bound");
        }
        assert_eq!(
            run(&mut log, &key("flooder", 99), t0),
            Err(Busy::User),
            "refused, not made room for"
        );
        assert!(matches!(
            log.get_mut(&key("victim", 1)),
            Some(OpState::Done(_))
        ));
        // After the window the flooder's oldest goes to make room, and it
        // may act again; the victim's outcome stays (nothing needed its room).
        let later = t0 + Duration::from_secs(11);
        run(&mut log, &key("flooder", 99), later).expect("room again");
        assert!(
            log.get_mut(&key("flooder", 0)).is_none(),
            "the oldest made room"
        );
        assert!(log.get_mut(&key("flooder", 1)).is_some());
        assert!(
            log.get_mut(&key("victim", 1)).is_some(),
            "kept while memory allows"
        );
    }

    #[test]
    fn the_byte_bound_refuses_new_actions_instead_of_forgetting_young_outcomes() {
        let t0 = Instant::now();
        let one = OVERHEAD + b"outcome".len();
        let mut log = OpLog::new(bounds(100, 3 * one), Arc::default());
        for n in 0..3 {
            run(&mut log, &key(&format!("u{n}"), n), t0).expect("fits");
        }
        assert_eq!(run(&mut log, &key("u9", 9), t0), Err(Busy::Server));
        for n in 0..3 {
            assert!(log.get_mut(&key(&format!("u{n}"), n)).is_some(), "kept");
        }
        let later = t0 + Duration::from_secs(11);
        run(&mut log, &key("u9", 9), later).expect("old outcomes left the window");
        assert_eq!(log.len(), 3, "one old outcome made room, the rest stay");
        assert!(
            log.get_mut(&key("u0", 0)).is_none(),
            "the oldest went first"
        );
    }

    #[test]
    fn running_ops_are_never_forgotten() {
        let t0 = Instant::now();
        let mut log = OpLog::new(bounds(1, usize::MAX), Arc::default());
        log.start(key("u", 1), ConnectionId(1), t0).expect("starts");
        let much_later = t0 + Duration::from_secs(3600);
        assert_eq!(
            log.start(key("u", 2), ConnectionId(1), much_later),
            Err(Busy::User),
            "a running action is never made room for"
        );
        assert!(matches!(
            log.get_mut(&key("u", 1)),
            Some(OpState::Running(_))
        ));
    }
}
