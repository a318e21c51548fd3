//! Reconnect delays: exponential ceilings with full jitter.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The delay before each reconnect attempt.
///
/// Attempt `n` (1 for the first retry after a loss) waits a delay drawn
/// uniformly from `0..=min(max, min * 2^(n-1))`. Drawing from zero ("full
/// jitter") spreads a crowd of clients dropped by the same server restart
/// over the whole window instead of bunching them at its edge.
///
/// The randomness comes from a seeded [`SmallRng`], never from the OS or a
/// thread-local generator, so a test replays the same schedule every time.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    rng: SmallRng,
}

impl Backoff {
    /// A schedule with the given bounds and jitter seed.
    pub fn new(min: Duration, max: Duration, seed: u64) -> Self {
        Backoff {
            min,
            max: max.max(min),
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// The upper bound of attempt `attempt`'s delay (attempts count from 1).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.min
            .checked_mul(1u32 << doublings)
            .map_or(self.max, |d| d.min(self.max))
    }

    /// Draws the delay before attempt `attempt`.
    pub fn delay(&mut self, attempt: u32) -> Duration {
        let ceiling = u64::try_from(self.ceiling(attempt).as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(self.rng.random_range(0..=ceiling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(20);

    #[test]
    fn ceilings_double_up_to_the_max() {
        let b = Backoff::new(MIN, MAX, 1);
        let ceilings: Vec<_> = (1..=8).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000]);
        assert_eq!(b.ceiling(u32::MAX), MAX);
    }

    #[test]
    fn delays_stay_under_the_ceiling_and_replay_from_the_seed() {
        let mut a = Backoff::new(MIN, MAX, 42);
        let mut b = Backoff::new(MIN, MAX, 42);
        let mut c = Backoff::new(MIN, MAX, 43);
        let mut differs = false;
        for attempt in 1..200 {
            let d = a.delay(attempt);
            assert!(d <= a.ceiling(attempt));
            assert_eq!(d, b.delay(attempt));
            differs |= d != c.delay(attempt);
        }
        assert!(differs, "another seed gives another schedule");
    }

    #[test]
    fn jitter_covers_the_whole_window() {
        let mut b = Backoff::new(MIN, MAX, 7);
        let draws: Vec<_> = (0..1000).map(|_| b.delay(1)).collect();
        assert!(draws.iter().any(|d| *d < MIN / 4));
        assert!(draws.iter().any(|d| *d > MIN * 3 / 4));
    }
}
