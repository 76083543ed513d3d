//! Duplicate suppression: an alert whose `dedupe_key` was seen within `dedupe_window` is not
//! sent again (a Filebeat resend after a reconnect repeats the same lines).
//!
//! Keys are remembered as 64-bit hashes (randomly keyed per run) with the time they were
//! first seen, at most `dedupe_max_entries` of them: because the window is the same for every
//! key, insertion order is expiry order, so a queue gives both expiry and the eviction of the
//! oldest when the cap is reached. Memory is bounded by the cap whatever the key cardinality.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug)]
pub struct Deduper {
    window: Duration,
    cap: usize,
    hasher: RandomState,
    seen: HashMap<u64, Instant>,
    order: VecDeque<(u64, Instant)>,
    evicted_early: u64,
}

impl Deduper {
    pub fn new(window: Duration, cap: usize) -> Self {
        Self {
            window,
            cap: cap.max(1),
            hasher: RandomState::new(),
            seen: HashMap::new(),
            order: VecDeque::new(),
            evicted_early: 0,
        }
    }

    /// True when `key` is new within the window (send the alert), false for a duplicate.
    pub fn first_sighting(&mut self, key: &str, now: Instant) -> bool {
        if self.window.is_zero() {
            return true;
        }
        self.expire(now);
        let hash = self.hasher.hash_one(key);
        if self.seen.contains_key(&hash) {
            return false;
        }
        while self.seen.len() >= self.cap {
            let Some((oldest, at)) = self.order.pop_front() else {
                break;
            };
            if self.seen.get(&oldest) == Some(&at) {
                self.seen.remove(&oldest);
                self.evicted_early += 1;
            }
        }
        self.seen.insert(hash, now);
        self.order.push_back((hash, now));
        true
    }

    /// Keys remembered right now.
    pub fn remembered(&self) -> usize {
        self.seen.len()
    }

    /// Keys forgotten before their window ended because of the cap.
    pub fn evicted_early(&self) -> u64 {
        self.evicted_early
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(hash, at)) = self.order.front() {
            if at + self.window > now {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&hash) == Some(&at) {
                self.seen.remove(&hash);
            }
        }
    }
}
