//! Alerts waiting for the rate limit, and how they leave: one by one while the bucket has
//! tokens to spare, as one summary message when the last token is used and more than one
//! alert is waiting. Nothing is dropped silently: an alert either goes out whole or is
//! counted, by kind, in a summary.
//!
//! Memory is bounded: at most `queue_size` alerts are kept whole; beyond that an alert only
//! increments the count of its kind (its text is dropped and counted as such), and at most
//! [`MAX_GROUPS`] kinds are tracked by name, the rest as "other kinds".

use super::message::{Alert, Summary};
use std::collections::VecDeque;

/// Kinds counted by name in one summary.
pub const MAX_GROUPS: usize = 64;

/// Where a queued alert went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// Kept whole.
    Whole,
    /// The queue was full: only counted for the next summary.
    CountedOnly,
}

/// What the next message carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    One(Alert),
    Summary(Summary),
}

impl Outgoing {
    /// Alerts this message accounts for.
    pub fn alerts(&self) -> u64 {
        match self {
            Self::One(_) => 1,
            Self::Summary(summary) => summary.total,
        }
    }
}

#[derive(Debug)]
pub struct Pending {
    queue: VecDeque<Alert>,
    capacity: usize,
    max_samples: usize,
    /// Alerts beyond the queue, per kind.
    overflow: Groups,
}

#[derive(Debug, Default)]
struct Groups {
    counts: Vec<(String, u64)>,
    other: u64,
    total: u64,
}

impl Groups {
    fn add(&mut self, group: &str, n: u64) {
        self.total += n;
        if let Some((_, count)) = self.counts.iter_mut().find(|(g, _)| g == group) {
            *count += n;
        } else if self.counts.len() < MAX_GROUPS {
            self.counts.push((group.to_string(), n));
        } else {
            self.other += n;
        }
    }
}

impl Pending {
    pub fn new(capacity: usize, max_samples: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            capacity: capacity.max(1),
            max_samples,
            overflow: Groups::default(),
        }
    }

    pub fn push(&mut self, alert: Alert) -> Queued {
        if self.queue.len() < self.capacity {
            self.queue.push_back(alert);
            Queued::Whole
        } else {
            self.overflow.add(&alert.group, 1);
            Queued::CountedOnly
        }
    }

    /// Alerts waiting, whole or counted.
    pub fn len(&self) -> u64 {
        self.queue.len() as u64 + self.overflow.total
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next message, given how many more messages the rate limit lets through right
    /// after it (`spare`): while tokens remain, alerts go one by one; the last token carries
    /// everything still waiting.
    pub fn take(&mut self, spare: u32) -> Option<Outgoing> {
        let waiting = self.len();
        if waiting == 0 {
            return None;
        }
        if waiting == 1 || (spare > 0 && !self.queue.is_empty()) {
            if let Some(alert) = self.queue.pop_front() {
                return Some(Outgoing::One(alert));
            }
        }
        let mut groups = std::mem::take(&mut self.overflow);
        for alert in &self.queue {
            groups.add(&alert.group, 1);
        }
        let samples = self
            .queue
            .iter()
            .take(self.max_samples)
            .map(|alert| alert.message.text.clone())
            .collect();
        self.queue.clear();
        let mut counts = groups.counts;
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Some(Outgoing::Summary(Summary {
            total: groups.total,
            groups: counts,
            other: groups.other,
            samples,
        }))
    }

    /// Forgets everything waiting (the webhook is disabled or the drain time is over);
    /// returns how many alerts that was.
    pub fn clear(&mut self) -> u64 {
        let n = self.len();
        self.queue.clear();
        self.overflow = Groups::default();
        n
    }
}
