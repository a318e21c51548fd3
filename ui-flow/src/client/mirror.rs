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
    early: VecDeque<Early<S::Delta>>,
}

/// Deltas that arrived before the first snapshot: they take the state from
/// `from` to `to` together (one entry of a plain batch is `to - 1` to `to`).
#[derive(Debug)]
struct Early<D> {
    from: u64,
    to: u64,
    epoch: Option<u32>,
    deltas: Vec<D>,
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
        for early in std::mem::take(&mut self.early) {
            if early.epoch.is_some() && early.epoch != epoch || early.to <= last {
                continue;
            }
            if early.from > last {
                return Err(ProtocolViolation::SeqGap {
                    expected: last + 1,
                    got: early.from + 1,
                });
            }
            for delta in early.deltas {
                emit(early.to, &delta);
                self.state.apply_delta(delta);
            }
            last = early.to;
            self.seq = Some(last);
        }
        Ok(())
    }

    /// Applies contiguous deltas ending at `seq` (one `Delta` is a batch of
    /// one). `emit` sees each applied delta before it is applied.
    ///
    /// With `prev` (a view that skipped seqs), the deltas together take the
    /// state from `prev` to `seq` and have no seqs of their own: they apply
    /// whole to a state at any seq from `prev` to `seq - 1` (the sender
    /// vouches that the view did not change in between), are stale at or
    /// after `seq`, and are a gap below `prev`.
    pub(crate) fn deltas(
        &mut self,
        seq: u64,
        epoch: Option<u32>,
        prev: Option<u64>,
        deltas: Vec<S::Delta>,
        emit: &mut impl FnMut(u64, &S::Delta),
    ) -> Sync {
        if let Some(prev) = prev {
            return self.deltas_after(prev, seq, epoch, deltas, emit);
        }
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
                self.buffer(Early {
                    from: seq - 1,
                    to: seq,
                    epoch,
                    deltas: vec![delta],
                });
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

    /// [`deltas`](Self::deltas) for a batch that names the seq it follows.
    fn deltas_after(
        &mut self,
        prev: u64,
        seq: u64,
        epoch: Option<u32>,
        deltas: Vec<S::Delta>,
        emit: &mut impl FnMut(u64, &S::Delta),
    ) -> Sync {
        if prev >= seq {
            return Sync::Invalid(ProtocolViolation::UnexpectedMessage {
                message: "Delta",
                context: "with a prev that is not below its seq",
            });
        }
        let Some(last) = self.seq else {
            self.buffer(Early {
                from: prev,
                to: seq,
                epoch,
                deltas,
            });
            return Sync::Buffered;
        };
        if epoch.is_some() && epoch != self.epoch {
            return Sync::EpochChanged;
        }
        if seq <= last {
            return Sync::Stale;
        }
        if prev > last {
            return Sync::Gap(ProtocolViolation::SeqGap {
                expected: last + 1,
                got: prev + 1,
            });
        }
        self.seq = Some(seq);
        if deltas.is_empty() {
            // The state at `prev` is the state at `seq`: only the seq moves.
            return Sync::Stale;
        }
        for delta in deltas {
            emit(seq, &delta);
            self.state.apply_delta(delta);
        }
        Sync::Applied
    }

    fn buffer(&mut self, early: Early<S::Delta>) {
        if self.early.len() == EARLY_DELTAS_MAX {
            self.early.pop_front();
        }
        self.early.push_back(early);
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
        m.deltas(seq, epoch, None, deltas.to_vec(), &mut |_, _| {})
    }

    fn after(m: &mut Mirror<Log>, prev: u64, seq: u64, deltas: &[u64]) -> Sync {
        m.deltas(seq, None, Some(prev), deltas.to_vec(), &mut |_, _| {})
    }

    #[test]
    fn a_batch_with_prev_skips_seqs_without_a_gap() {
        let mut m = Mirror::<Log>::new();
        m.snapshot(Log(vec![]), 3, None, &mut |_, _| {})
            .expect("no gap");
        // The view skipped 4..=6; the change after 3 is at 7.
        assert_eq!(after(&mut m, 3, 7, &[70, 71]), Sync::Applied);
        assert_eq!(m.state(), &Log(vec![70, 71]));
        assert_eq!(m.seq(), Some(7));
        // A state at 8 (an empty view batch) takes a change that follows 7.
        assert_eq!(after(&mut m, 7, 8, &[]), Sync::Stale);
        assert_eq!(m.seq(), Some(8));
        assert_eq!(after(&mut m, 7, 9, &[90]), Sync::Applied);
        assert_eq!(after(&mut m, 7, 9, &[90]), Sync::Stale, "a duplicate");
        assert!(matches!(after(&mut m, 12, 13, &[130]), Sync::Gap(_)));
        assert!(matches!(after(&mut m, 13, 13, &[1]), Sync::Invalid(_)));
        assert_eq!(m.state(), &Log(vec![70, 71, 90]));
    }

    #[test]
    fn early_batches_with_prev_wait_for_the_snapshot() {
        let mut m = Mirror::<Log>::new();
        assert_eq!(after(&mut m, 2, 5, &[5]), Sync::Buffered);
        assert_eq!(after(&mut m, 5, 9, &[9]), Sync::Buffered);
        m.snapshot(Log(vec![]), 4, None, &mut |_, _| {})
            .expect("4 is between 2 and 5");
        assert_eq!((m.state(), m.seq()), (&Log(vec![5, 9]), Some(9)));
        let mut m = Mirror::<Log>::new();
        assert_eq!(after(&mut m, 6, 8, &[8]), Sync::Buffered);
        assert!(
            m.snapshot(Log(vec![]), 4, None, &mut |_, _| {}).is_err(),
            "5 and 6 are missing"
        );
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
