//! The output's metrics, registered once when it starts; updated lock-free per request.

use crate::metrics::{
    ComponentMetrics, Counter, Histogram, BATCH_SIZE_BUCKETS, LATENCY_SECONDS_BUCKETS,
};
use crate::outputs::delivery::DeadLetterMetrics;
use std::sync::Arc;

/// HTTP statuses counted under their own label; the rest fall under `other`.
const STATUSES: &[u16] = &[200, 400, 401, 403, 404, 408, 413, 429, 500, 502, 503, 504];

#[derive(Debug)]
pub struct OutputMetrics {
    pub component: Arc<ComponentMetrics>,
    pub requests: Counter,
    pub retries: Counter,
    pub dead_letters: DeadLetterMetrics,
    pub duration: Histogram,
    pub batch_events: Histogram,
    responses: Vec<(u16, Counter)>,
    other_status: Counter,
    no_answer: Counter,
}

impl OutputMetrics {
    pub fn register(component: Arc<ComponentMetrics>) -> Self {
        const RESPONSES: &str = "Bulk responses by HTTP status (`error` = no answer).";
        let responses = STATUSES
            .iter()
            .map(|&status| {
                (
                    status,
                    component.counter_with(
                        "bulk_responses_total",
                        RESPONSES,
                        &[("status", &status.to_string())],
                    ),
                )
            })
            .collect();
        Self {
            requests: component.counter(
                "bulk_requests_total",
                "Bulk requests sent, retries included.",
            ),
            retries: component.counter(
                "retries_total",
                "Bulk requests resent (whole requests or their failed items).",
            ),
            dead_letters: DeadLetterMetrics::register(&component),
            duration: component.histogram(
                "bulk_request_duration_seconds",
                "Time from sending a bulk request to its complete answer.",
                LATENCY_SECONDS_BUCKETS,
            ),
            batch_events: component.histogram(
                "bulk_batch_events",
                "Events per bulk request (first attempt).",
                BATCH_SIZE_BUCKETS,
            ),
            other_status: component.counter_with(
                "bulk_responses_total",
                RESPONSES,
                &[("status", "other")],
            ),
            no_answer: component.counter_with(
                "bulk_responses_total",
                RESPONSES,
                &[("status", "error")],
            ),
            responses,
            component,
        }
    }

    /// Counts one answer (`None`: the request got none).
    pub fn response(&self, status: Option<u16>) {
        match status {
            None => self.no_answer.inc(),
            Some(status) => match self.responses.iter().find(|(s, _)| *s == status) {
                Some((_, counter)) => counter.inc(),
                None => self.other_status.inc(),
            },
        }
    }
}
