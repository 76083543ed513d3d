//! The Kafka output's metrics, registered once when it starts.

use crate::metrics::{ComponentMetrics, Counter};
use crate::outputs::delivery::DeadLetterMetrics;
use std::sync::Arc;

#[derive(Debug)]
pub struct OutputMetrics {
    component: Arc<ComponentMetrics>,
    /// Messages resent after a failed delivery report.
    pub retries: Counter,
    pub dead_letters: DeadLetterMetrics,
}

impl OutputMetrics {
    pub fn register(component: Arc<ComponentMetrics>) -> Self {
        Self {
            retries: component.counter(
                "kafka_retries_total",
                "Messages resent after Kafka failed to take them (retriable errors).",
            ),
            dead_letters: DeadLetterMetrics::register(&component),
            component,
        }
    }

    /// Events this output took from a delivery.
    pub fn component_in(&self, events: u64) {
        ComponentMetrics::add(&self.component.events_in, events);
    }

    /// Bytes of JSON handed to librdkafka.
    pub fn bytes(&self, bytes: u64) {
        ComponentMetrics::add(&self.component.bytes, bytes);
    }

    /// Events the brokers acknowledged.
    pub fn delivered(&self, events: u64) {
        ComponentMetrics::add(&self.component.events_out, events);
    }
}
