//! Actions the client sent or will send, and what became of them.

use std::collections::VecDeque;

use crate::op::OpId;
use crate::raw::RawValue;

/// Where one action stands, as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpState {
    /// Sent (or waiting for a connection) with no feedback yet.
    Pending,
    /// The server reported progress.
    Progress {
        /// Percent done, when the server knows.
        percent: Option<u8>,
        /// What the server is doing now.
        message: Option<String>,
    },
    /// Final: the action succeeded.
    Ok {
        /// The handler's result, if it returned one.
        result: Option<RawValue>,
    },
    /// Final: the action failed and changed nothing.
    Err {
        /// The application's error code.
        code: Option<String>,
        /// The server's explanation.
        message: String,
    },
}

impl OpState {
    /// True for the two final states, [`OpState::Ok`] and [`OpState::Err`].
    pub fn is_settled(&self) -> bool {
        matches!(self, OpState::Ok { .. } | OpState::Err { .. })
    }
}

/// An action without an outcome yet.
#[derive(Debug)]
struct Unresolved<D> {
    op_id: OpId,
    state: OpState,
    /// The encoded `Action` frame, sent again unchanged after a reconnect so
    /// the server recognises the op id and does not apply it twice.
    frame: Vec<u8>,
    /// The change the UI shows until the outcome arrives.
    optimistic: Option<D>,
}

/// The client's actions: unresolved ones in the order they were issued, then
/// the most recently settled ones.
#[derive(Debug)]
pub(crate) struct Ops<D> {
    unresolved: Vec<Unresolved<D>>,
    settled: VecDeque<(OpId, OpState)>,
    keep_settled: usize,
}

impl<D> Ops<D> {
    pub(crate) fn new(keep_settled: usize) -> Self {
        Ops {
            unresolved: Vec::new(),
            settled: VecDeque::new(),
            keep_settled,
        }
    }

    /// How many actions wait for an outcome.
    pub(crate) fn unresolved_len(&self) -> usize {
        self.unresolved.len()
    }

    /// Records a new action.
    pub(crate) fn insert(&mut self, op_id: OpId, frame: Vec<u8>, optimistic: Option<D>) {
        self.unresolved.push(Unresolved {
            op_id,
            state: OpState::Pending,
            frame,
            optimistic,
        });
    }

    /// The frames of every unresolved action, oldest first: what a new
    /// connection must (re)send.
    pub(crate) fn frames(&self) -> impl Iterator<Item = &[u8]> {
        self.unresolved.iter().map(|op| op.frame.as_slice())
    }

    /// Records progress; returns the new state, or `None` when the op is not
    /// unresolved (unknown, or already settled).
    pub(crate) fn progress(
        &mut self,
        op_id: OpId,
        percent: Option<u8>,
        message: Option<String>,
    ) -> Option<OpState> {
        let op = self.unresolved.iter_mut().find(|op| op.op_id == op_id)?;
        op.state = OpState::Progress { percent, message };
        Some(op.state.clone())
    }

    /// Records an action's outcome. Returns whether it carried an optimistic
    /// change, or `None` when the op is not unresolved: an outcome is taken
    /// once, and repeats are ignored.
    pub(crate) fn settle(&mut self, op_id: OpId, outcome: OpState) -> Option<bool> {
        let at = self.unresolved.iter().position(|op| op.op_id == op_id)?;
        let op = self.unresolved.remove(at);
        if self.keep_settled > 0 {
            if self.settled.len() == self.keep_settled {
                self.settled.pop_front();
            }
            self.settled.push_back((op_id, outcome));
        }
        Some(op.optimistic.is_some())
    }

    /// The optimistic changes still waiting, oldest first.
    pub(crate) fn optimistic(&self) -> impl Iterator<Item = &D> {
        self.unresolved
            .iter()
            .filter_map(|op| op.optimistic.as_ref())
    }

    /// Whether any optimistic change is waiting.
    pub(crate) fn has_optimistic(&self) -> bool {
        self.optimistic().next().is_some()
    }

    /// Every known action and its state: unresolved first (oldest first), then
    /// the kept settled ones (oldest first).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (OpId, &OpState)> {
        self.unresolved
            .iter()
            .map(|op| (op.op_id, &op.state))
            .chain(self.settled.iter().map(|(id, state)| (*id, state)))
    }

    /// One action's state.
    pub(crate) fn get(&self, op_id: OpId) -> Option<&OpState> {
        self.iter()
            .find(|(id, _)| *id == op_id)
            .map(|(_, state)| state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outcome_is_taken_once_and_settled_ops_are_bounded() {
        let mut ops: Ops<()> = Ops::new(2);
        let ids: Vec<_> = (1..=3).map(OpId::from_u128).collect();
        for id in &ids {
            ops.insert(*id, vec![], None);
        }
        let ok = OpState::Ok { result: None };
        assert_eq!(ops.settle(ids[0], ok.clone()), Some(false));
        assert_eq!(ops.settle(ids[0], ok.clone()), None, "repeat ignored");
        assert_eq!(ops.progress(ids[0], Some(5), None), None);
        ops.settle(ids[1], ok.clone());
        ops.settle(ids[2], ok);
        assert_eq!(ops.unresolved_len(), 0);
        let kept: Vec<_> = ops.iter().map(|(id, _)| id).collect();
        assert_eq!(kept, [ids[1], ids[2]], "oldest settled op forgotten");
    }
}
