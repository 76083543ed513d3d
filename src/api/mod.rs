//! The monitoring API: sluice must be as observable as the fleet it watches.
//!
//! `sluice run` serves, on `[api] address` (default `127.0.0.1:9600-9700`, the first free
//! port, as Logstash does; `--api-address` overrides it, `enabled = false` turns it off):
//!
//! | path | answers |
//! |---|---|
//! | `/metrics` | Prometheus text format 0.0.4 ([`prometheus`]): every component's counters, its own metrics, process metrics |
//! | `/health` | 200 while the process runs (liveness) |
//! | `/ready` | 200 when every input listens and every output is reachable, else 503 with the JSON list of what is not ([`crate::readiness`]) |
//! | `/_node/stats[/events\|process\|pipelines]` | Logstash-shaped JSON ([`stats`]) |
//! | `/` | host, version, address, status, pipeline settings |
//!
//! Anything else is a JSON 404. If no port of the range is free the run fails (exit 1) with
//! the address in the message, as Logstash does; a monitoring endpoint that silently moved
//! or vanished would be worse than a clear refusal to start.
//!
//! ## Readiness, for component authors
//!
//! Every input and output finds a [`ReadinessHandle`](crate::readiness::ReadinessHandle) in its context
//! (`InputContext::readiness`, `OutputContext::readiness`). It starts not ready; call
//! `context.readiness.set_ready()` once the component can do its job (listening, connected,
//! the destination writable) and `context.readiness.set_not_ready(reason)` when it cannot
//! (connection refused, cluster red, webhook disabled). The pipeline marks a component that
//! stopped with an error not ready itself, and the whole process not ready once shutdown
//! begins. Calls are cheap but meant for state changes, not for every event.
//!
//! ## Metrics every output gets for free
//!
//! The pipeline observes `end_to_end_latency_seconds` (event `@timestamp` → the output
//! settling its delivery) and `batch_events` (events per delivery) when an output calls
//! `Delivery::settle`; an output needs no code for them.

pub mod process;
pub mod prometheus;
mod server;
pub mod stats;

pub use server::{handle, ApiState};

use crate::config::{ApiAddress, PipelineSettings};
use crate::metrics::Registry;
use crate::readiness::Readiness;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot serve the monitoring API on {address}: {source} (set `[api] address`, pass `--api-address`, or `[api] enabled = false`)")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

/// A bound, not yet serving API.
#[derive(Debug)]
pub struct BoundApi {
    listener: TcpListener,
    address: SocketAddr,
}

impl BoundApi {
    /// Binds the first free port of `address`.
    pub async fn bind(address: &ApiAddress) -> Result<Self, ApiError> {
        let listener = server::bind(address).await?;
        let address = server::local_address(&listener)?;
        Ok(Self { listener, address })
    }

    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Serves until `shutdown` is cancelled.
    pub async fn serve(
        self,
        registry: Arc<Registry>,
        readiness: Arc<Readiness>,
        settings: PipelineSettings,
        started: SystemTime,
        shutdown: CancellationToken,
    ) {
        let state = ApiState {
            registry,
            readiness,
            info: stats::NodeInfo {
                host: crate::event::host_name(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                http_address: self.address,
                settings,
            },
            started,
        };
        server::serve(self.listener, Arc::new(state), shutdown).await;
    }
}

#[cfg(test)]
mod tests;
