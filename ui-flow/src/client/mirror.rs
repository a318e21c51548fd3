//! The client's copy of the server state and the seq rules that keep it exact.

use std::collections::VecDeque;

use crate::error::ProtocolViolation;
use crate::state::FlowState;

/// How many deltas are kept while waiting for the first snapshot. More than
/// this means the server is not sending one; the oldest are dropped and the
/// snapshot's seq check decides whether a resync is needed.
const EARLY_DELTAS_MAX: usize = 1024;

/// What a batch of deltas did to the mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sync {
    /// At least one delta was applied.
    Applied,
    /// Nothing to do: an empty batch, or every delta was already applied.
    Stale,
    /// Held until the first snapshot arrives.
    Buffered,
    /// Not applied: the batch does not start at the next seq.
    Gap(ProtocolViolation),
    /// Not applied: the batch belongs to another seq lineage.
    EpochChanged,
    /// Not applied: the batch holds more deltas than its seq allows.
    Invalid(ProtocolViolation),
}

/// The confirmed server state at a seq, and the deltas seen before the first
/// snapshot.
#[derive(Debug)]
pub(crate) struct Mirror<S: FlowState> {
    state: S,
    seq: Option<u64>,
    epoch: Option<u32>,
    early: VecDeque<(u64, Option<u32>, S::Delta)>,
}

impl<S: FlowState> Mirror<S> {
    pub(crate) fn new() -> Self {
        Mirror {
            state: S::default(),
            seq: None,
            epoch: None,
            early: VecDeque::new(),
        }
    }

    pub(crate) fn state(&self) -> &S {
        &self.state
    }

    /// The seq of the state, `None` before the first snapshot.
    pub(crate) fn seq(&self) -> Option<u64> {
        self.seq
    }

    pub(crate) fn epoch(&self) -> Option<u32> {
        self.epoch
    }

    /// Replaces the state, then applies the deltas that arrived before it
    /// (skipping those the snapshot already contains). `emit` sees each
    /// applied delta before it is applied. A gap among the held deltas is
    /// returned; the state is still replaced.
    pub(crate) fn snapshot(
        &mut self,
        state: S,
        seq: u64,
        epoch: Option<u32>,
        emit: &mut impl FnMut(u64, &S::Delta),
    ) -> Result<(), ProtocolViolation> {
        self.state = state;
        self.seq = Some(seq);
        self.epoch = epoch;
        let mut last = seq;
        for (delta_seq, delta_epoch, delta) in std::mem::take(&mut self.early) {
            if delta_epoch.is_some() && delta_epoch != epoch || delta_seq <= last {
                continue;
            }
            if delta_seq != last + 1 {
                return Err(ProtocolViolation::SeqGap {
                    expected: last + 1,
                    got: delta_seq,
                });
            }
            emit(delta_seq, &delta);
            self.state.apply_delta(delta);
            last = delta_seq;
            self.seq = Some(last);
        }
        Ok(())
    }

    /// Applies contiguous deltas ending at `seq` (one `Delta` is a batch of
    /// one). `emit` sees each applied delta before it is applied.
    pub(crate) fn deltas(
        &mut self,
        seq: u64,
        epoch: Option<u32>,
        deltas: Vec<S::Delta>,
        emit: &mut impl FnMut(u64, &S::Delta),
    ) -> Sync {
        let count = deltas.len() as u64;
        if count == 0 {
            return Sync::Stale;
        }
        let first = seq.checked_add(1).and_then(|end| end.checked_sub(count));
        let Some(first) = first.filter(|first| *first > 0) else {
            return Sync::Invalid(ProtocolViolation::UnexpectedMessage {
                message: "Deltas",
                context: "with more deltas than its seq allows",
            });
        };
        let Some(last) = self.seq else {
            for (seq, delta) in (first..).zip(deltas) {
                if self.early.len() == EARLY_DELTAS_MAX {
                    self.early.pop_front();
                }
                self.early.push_back((seq, epoch, delta));
            }
            return Sync::Buffered;
        };
        if epoch.is_some() && epoch != self.epoch {
            return Sync::EpochChanged;
        }
        if seq <= last {
            return Sync::Stale;
        }
        if first > last + 1 {
            return Sync::Gap(ProtocolViolation::SeqGap {
                expected: last + 1,
                got: first,
            });
        }
        for (delta_seq, delta) in (first..).zip(deltas) {
            if delta_seq > last {
                emit(delta_seq, &delta);
                self.state.apply_delta(delta);
            }
        }
        self.seq = Some(seq);
        Sync::Applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default, Debug, PartialEq)]
    struct Log(Vec<u64>);

    impl FlowState for Log {
        type Delta = u64;
        fn apply_delta(&mut self, delta: u64) {
            self.0.push(delta);
        }
    }

    fn batch(m: &mut Mirror<Log>, seq: u64, epoch: Option<u32>, deltas: &[u64]) -> Sync {
        m.deltas(seq, epoch, deltas.to_vec(), &mut |_, _| {})
    }

    #[test]
    fn a_batch_overlapping_the_state_applies_only_its_new_part() {
        let mut m = Mirror::<Log>::new();
        m.snapshot(Log(vec![]), 2, None, &mut |_, _| {})
            .expect("no gap");
        assert_eq!(batch(&mut m, 4, None, &[2, 3, 4]), Sync::Applied);
        assert_eq!(m.state(), &Log(vec![3, 4]));
        assert_eq!(batch(&mut m, 4, None, &[4]), Sync::Stale);
        assert!(matches!(batch(&mut m, 6, None, &[6]), Sync::Gap(_)));
        assert_eq!(m.seq(), Some(4));
    }

    #[test]
    fn early_deltas_wait_for_the_snapshot() {
        let mut m = Mirror::<Log>::new();
        assert_eq!(batch(&mut m, 5, Some(1), &[5]), Sync::Buffered);
        assert_eq!(batch(&mut m, 6, Some(9), &[6]), Sync::Buffered);
        assert_eq!(batch(&mut m, 7, Some(1), &[6, 7]), Sync::Buffered);
        let mut seen = vec![];
        m.snapshot(Log(vec![]), 5, Some(1), &mut |seq, _| seen.push(seq))
            .expect("contiguous");
        assert_eq!(seen, [6, 7], "5 is in the snapshot, epoch 9 is not ours");
        assert_eq!(m.seq(), Some(7));
    }

    #[test]
    fn impossible_batches_are_refused() {
        let mut m = Mirror::<Log>::new();
        assert!(matches!(batch(&mut m, 1, None, &[1, 2]), Sync::Invalid(_)));
        assert!(matches!(batch(&mut m, 0, None, &[1]), Sync::Invalid(_)));
        assert!(matches!(
            batch(&mut m, u64::MAX, None, &[1]),
            Sync::Invalid(_)
        ));
    }
}
