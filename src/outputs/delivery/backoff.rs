//! Exponential backoff with jitter, for every output that retries against a peer.
//!
//! The wait before the first retry is at most `initial`; each later ceiling doubles the one
//! before, up to `max` (Logstash's `retry_initial_interval` / `retry_max_interval`). Each wait
//! is drawn uniformly from the upper half of its ceiling: the randomness keeps many senders
//! (lanes, outputs, sluice instances behind one load balancer) from retrying in step against
//! a peer that is just recovering, and the half that is kept means that every wait is at
//! least as long as the ceiling before it, so a failing peer is never asked sooner than the
//! plain doubling would.
//!
//! The policy is a value with no state: the caller counts its retries (`round`), so one
//! policy serves every request, lane and start-up loop of an output at once.

use std::time::Duration;

/// Exponential backoff with jitter in the upper half of each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first wait.
    pub initial: Duration,
    /// No ceiling after the first grows past this.
    pub max: Duration,
}

impl Backoff {
    /// The ceiling of the wait before retry number `round` (0-based): `initial`, then each
    /// ceiling twice the previous one, capped at `max`.
    pub fn ceiling(&self, round: u32) -> Duration {
        let mut ceiling = self.initial;
        for _ in 0..round {
            // Doubling zero stays zero; at the cap it stays there (`initial` above `max`
            // is taken once, then `max`).
            if ceiling.is_zero() || ceiling >= self.max {
                return ceiling.min(self.max);
            }
            ceiling = ceiling.saturating_mul(2).min(self.max);
        }
        ceiling
    }

    /// The wait before retry number `round`: uniform in `[ceiling / 2, ceiling]`.
    pub fn delay(&self, round: u32) -> Duration {
        let ceiling = self.ceiling(round);
        ceiling / 2 + ceiling.mul_f64(fastrand::f64() / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(initial_ms: u64, max_ms: u64) -> Backoff {
        Backoff {
            initial: Duration::from_millis(initial_ms),
            max: Duration::from_millis(max_ms),
        }
    }

    #[test]
    fn backoff_doubles_within_bounds_and_never_shrinks() {
        let backoff = Backoff {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(64),
        };
        let ceilings: Vec<u64> = (0..8).map(|r| backoff.ceiling(r).as_secs()).collect();
        assert_eq!(ceilings, vec![2, 4, 8, 16, 32, 64, 64, 64]);
        assert_eq!(backoff.ceiling(1000), Duration::from_secs(64));
        for round in 0..10 {
            let delay = backoff.delay(round);
            assert!(delay >= backoff.ceiling(round) / 2 && delay <= backoff.ceiling(round));
            // The next wait's floor is this wait's ceiling (until the cap).
            assert!(
                backoff.ceiling(round + 1) / 2
                    >= backoff.ceiling(round).min(Duration::from_secs(32))
            );
        }
    }

    #[test]
    fn a_first_interval_above_the_cap_is_waited_once_then_the_cap() {
        // Slack does not require retry_max_backoff >= retry_initial_backoff.
        let backoff = policy(5_000, 3_000);
        let ceilings: Vec<u128> = (0..4).map(|r| backoff.ceiling(r).as_millis()).collect();
        assert_eq!(ceilings, vec![5_000, 3_000, 3_000, 3_000]);
    }

    #[test]
    fn a_zero_interval_never_waits() {
        let backoff = policy(0, 60_000);
        for round in [0, 1, 30, u32::MAX] {
            assert_eq!(backoff.delay(round), Duration::ZERO);
        }
    }

    #[test]
    fn huge_rounds_stay_at_the_cap_without_overflowing() {
        let backoff = Backoff {
            initial: Duration::from_nanos(1),
            max: Duration::MAX,
        };
        assert_eq!(backoff.ceiling(200), Duration::MAX);
        assert_eq!(backoff.ceiling(u32::MAX), Duration::MAX);
        let backoff = policy(1, 60_000);
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(60));
    }

    proptest::proptest! {
        /// Whatever the bounds: each ceiling is the previous one doubled and capped (the
        /// sequence Slack's retries always followed), with `min(initial × 2^round, max)` when
        /// `initial <= max` (Elasticsearch's), and every wait lies in the upper half.
        #[test]
        fn ceilings_double_and_waits_stay_in_the_upper_half(
            initial_ms in 0u64..100_000,
            max_ms in 0u64..10_000_000,
            round in 0u32..40,
        ) {
            let backoff = policy(initial_ms, max_ms);
            let ceiling = backoff.ceiling(round);
            let next = backoff.ceiling(round + 1);
            proptest::prop_assert_eq!(next, ceiling.saturating_mul(2).min(backoff.max));
            if initial_ms <= max_ms {
                let doubled = u128::from(initial_ms) << round;
                proptest::prop_assert_eq!(
                    ceiling.as_millis(),
                    doubled.min(u128::from(max_ms))
                );
            }
            let delay = backoff.delay(round);
            proptest::prop_assert!(delay >= ceiling / 2 && delay <= ceiling);
        }
    }
}
