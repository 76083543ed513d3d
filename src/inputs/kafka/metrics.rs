//! The Kafka input's metrics: consumer lag and offsets per partition, from librdkafka's
//! statistics (every `statistics.interval.ms`, 5 s by default), plus commit counters.

use crate::metrics::{ComponentMetrics, Counter};
use rdkafka::Statistics;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct InputMetrics {
    component: Arc<ComponentMetrics>,
    /// Commits of revoked partitions' offsets during rebalances.
    pub rebalance_commits: Counter,
    /// Commits that failed (the offsets stay stored and go with the next commit).
    pub commit_failures: Counter,
}

impl InputMetrics {
    pub fn register(component: Arc<ComponentMetrics>) -> Self {
        Self {
            rebalance_commits: component.counter(
                "kafka_rebalance_commits_total",
                "Offsets of revoked partitions committed before giving them up.",
            ),
            commit_failures: component.counter(
                "kafka_commit_failures_total",
                "Offset commits the group coordinator did not accept.",
            ),
            component,
        }
    }

    /// Updates the per-partition gauges from one librdkafka statistics report: only the
    /// partitions this consumer is reading (librdkafka reports lag -1 for the others).
    pub fn observe(&self, statistics: &Statistics) {
        for (topic, stats) in &statistics.topics {
            for (partition, p) in &stats.partitions {
                if *partition < 0 || p.consumer_lag < 0 {
                    continue;
                }
                let partition = partition.to_string();
                let labels: [(&'static str, &str); 2] =
                    [("topic", topic.as_str()), ("partition", partition.as_str())];
                self.component
                    .gauge_with(
                        "kafka_consumer_lag",
                        "Messages in the partition after the group's committed offset.",
                        &labels,
                    )
                    .set(p.consumer_lag);
                self.component
                    .gauge_with(
                        "kafka_committed_offset",
                        "The group's committed offset (the next message to read).",
                        &labels,
                    )
                    .set(p.committed_offset);
                self.component
                    .gauge_with(
                        "kafka_high_watermark",
                        "The offset after the partition's last message.",
                        &labels,
                    )
                    .set(p.hi_offset);
            }
        }
    }
}
