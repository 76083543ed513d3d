//! The Beats input's own metrics, registered once when it starts.

use crate::metrics::{ComponentMetrics, Counter, Gauge};

/// Connection and protocol counters (Logstash reports `current_connections` too).
#[derive(Debug, Clone)]
pub struct BeatsMetrics {
    /// Clients connected now.
    pub connections: Gauge,
    /// Clients accepted since start.
    pub connections_total: Counter,
    /// Windows (`W` frames) received.
    pub windows_total: Counter,
    /// Connections closed because the client broke the protocol.
    pub protocol_errors_total: Counter,
}

impl BeatsMetrics {
    pub fn register(metrics: &ComponentMetrics) -> Self {
        Self {
            connections: metrics.gauge("beats_connections", "Beats clients connected now."),
            connections_total: metrics.counter(
                "beats_connections_total",
                "Beats client connections accepted.",
            ),
            windows_total: metrics.counter(
                "beats_windows_total",
                "Lumberjack windows received from Beats clients.",
            ),
            protocol_errors_total: metrics.counter(
                "beats_protocol_errors_total",
                "Beats connections closed for breaking the Lumberjack protocol.",
            ),
        }
    }
}

/// Counts one connection for as long as it lives, panics included.
#[derive(Debug)]
pub struct ConnectionGuard(Gauge);

impl ConnectionGuard {
    pub fn new(metrics: &BeatsMetrics) -> Self {
        metrics.connections_total.inc();
        metrics.connections.add(1);
        Self(metrics.connections.clone())
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.add(-1);
    }
}
