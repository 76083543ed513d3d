//! The per-webhook rate limit: a token bucket of `burst` messages refilled one per
//! `rate_interval`, written as GCRA (one "theoretical arrival time" instead of a token count),
//! so it needs no floating point and no refill timer.
//!
//! A 429 pauses the bucket: nothing may be sent before `Retry-After` has passed, and then only
//! one message (the burst is not granted again right after Slack complained).

use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// One token's worth of time.
    interval: Duration,
    /// `(burst - 1) × interval`: how far ahead of the steady rate sends may run.
    tolerance: Duration,
    /// When the bucket would be full again at the steady rate.
    tat: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(burst: u32, interval: Duration, now: Instant) -> Self {
        Self {
            interval,
            tolerance: interval.saturating_mul(burst.saturating_sub(1)),
            tat: now,
        }
    }

    /// When the next message may be sent (`now` or earlier when one may be sent at once).
    pub fn ready_at(&self) -> Instant {
        self.tat.checked_sub(self.tolerance).unwrap_or(self.tat)
    }

    /// Takes a token if one is available at `now`; returns how many more could be taken at
    /// once afterwards (0 when this was the last one), or `None` when none is available.
    pub fn try_take(&mut self, now: Instant) -> Option<u32> {
        if self.ready_at() > now {
            return None;
        }
        self.tat = self.tat.max(now) + self.interval;
        // Another send conforms while tat - tolerance <= now; count how many would.
        let limit = now + self.tolerance;
        if limit < self.tat {
            return Some(0);
        }
        let headroom = limit.duration_since(self.tat);
        let spare = headroom.as_nanos() / self.interval.as_nanos().max(1) + 1;
        Some(u32::try_from(spare).unwrap_or(u32::MAX))
    }

    /// Nothing may be sent before `until`, and then one message at a time.
    pub fn pause_until(&mut self, until: Instant) {
        self.tat = self.tat.max(until + self.tolerance);
    }
}
