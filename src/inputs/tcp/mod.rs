//! `type = "tcp"`: a server reading events from TCP clients (Logstash's tcp input in its
//! default `mode => server`).
//!
//! Each client gets its own task and its own [`Decoder`] (so a multiline event never mixes
//! two clients), reads in 64 KiB chunks, and hands what it decoded to the pipeline before
//! reading more: while the pipeline is full a client is slowed by TCP itself. A line longer
//! than `max_line_bytes` is cut, tagged `_line_truncated` and logged, and the rest of it
//! skipped, so a client cannot make the input buffer without bound; at most
//! `max_connections` clients are served at once, the others wait in the listen backlog.
//!
//! TCP has no acknowledgement a log shipper could wait for, and Logstash's tcp input sends
//! none: what a client wrote before a crash of sluice may be lost. Use the Beats input (or
//! Kafka) where that matters. At shutdown the input stops accepting, decodes what each
//! client already sent (flushing a pending multiline event), and waits until all of it has
//! been delivered.
//!
//! As Logstash 8 does (ECS mode), each event carries the client's address in
//! `[@metadata][input][tcp][source][ip]` and `[...][port]`, and `@timestamp` is the time the
//! data was read, unless the codec decoded one (`json_lines`).

mod config;
#[cfg(test)]
mod tests;

pub use config::TcpInputConfig;

use super::codec::{Decoded, Decoder};
use super::socket::{address, Delivery};
use super::{InputContext, InputError, InputType};
use crate::config::{BuildContext, ConfigError};
use crate::event::Event;
use crate::metrics::{Counter, Gauge};
use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Why the tcp input stopped.
#[derive(Debug, thiserror::Error)]
pub enum TcpInputError {
    #[error("tcp input cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

/// The tcp input.
#[derive(Debug)]
pub struct TcpInput {
    settings: TcpInputConfig,
}

impl InputType for TcpInput {
    type Config = TcpInputConfig;
    const FINITE: bool = false;

    fn build(settings: &TcpInputConfig, context: &BuildContext) -> Result<Self, ConfigError> {
        settings.validate(context)?;
        Ok(Self {
            settings: settings.clone(),
        })
    }

    async fn run(self, context: InputContext) -> Result<(), InputError> {
        let address = address(&self.settings.host, self.settings.port);
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|source| TcpInputError::Bind { address, source })?;
        serve(listener, self.settings, context).await;
        Ok(())
    }
}

/// Connection counters (Logstash reports `current_connections` for its tcp input too).
#[derive(Debug, Clone)]
struct TcpMetrics {
    connections: Gauge,
    connections_total: Counter,
    truncated_lines_total: Counter,
}

impl TcpMetrics {
    fn register(context: &InputContext) -> Self {
        let metrics = &context.metrics;
        Self {
            connections: metrics.gauge("tcp_connections", "TCP clients connected now."),
            connections_total: metrics
                .counter("tcp_connections_total", "TCP client connections accepted."),
            truncated_lines_total: metrics.counter(
                "tcp_truncated_lines_total",
                "Lines longer than max_line_bytes, cut and tagged _line_truncated.",
            ),
        }
    }
}

struct Shared {
    settings: TcpInputConfig,
    delivery: Delivery,
    metrics: TcpMetrics,
}

/// Serves clients until shutdown, then waits for what they sent to be delivered.
async fn serve(listener: TcpListener, settings: TcpInputConfig, context: InputContext) {
    let shutdown = context.shutdown.clone();
    let id = context.id.clone();
    if let Ok(local) = listener.local_addr() {
        tracing::info!(input = %id, address = %local, "Listening for TCP clients.");
    }
    let metrics = TcpMetrics::register(&context);
    context.readiness.set_ready();
    let (delivery, receipts) = Delivery::new(context);
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let shared = Arc::new(Shared {
        settings,
        delivery,
        metrics,
    });
    let mut connections = JoinSet::new();
    loop {
        let accept = async {
            let slot = slots.clone().acquire_owned().await;
            (slot, listener.accept().await)
        };
        let (slot, accepted) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(finished) = connections.join_next() => {
                report_panic(&shared, finished);
                continue;
            }
            accepted = accept => accepted,
        };
        let Ok(slot) = slot else { break };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Typically out of file descriptors: say so, and give the system a moment.
                tracing::warn!(input = %id, %error, "Cannot accept a TCP connection.");
                shared
                    .delivery
                    .context()
                    .metrics
                    .errors
                    .fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = shared.clone();
        connections.spawn(async move {
            connection(stream, peer, &shared).await;
            drop(slot);
        });
    }
    drop(listener);
    while let Some(finished) = connections.join_next().await {
        report_panic(&shared, finished);
    }
    match Arc::try_unwrap(shared) {
        Ok(shared) => shared.delivery.finish(receipts).await,
        Err(_) => tracing::warn!(input = %id, "TCP connections outlived the input."),
    }
}

fn report_panic(shared: &Shared, finished: Result<(), tokio::task::JoinError>) {
    if let Err(error) = finished {
        let context = shared.delivery.context();
        context.metrics.errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(input = %context.id, %error, "A TCP connection task failed.");
    }
}

/// Reads one client until it closes, fails or the input shuts down.
async fn connection(mut stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let context = shared.delivery.context();
    let metrics = &shared.metrics;
    metrics.connections_total.inc();
    metrics.connections.add(1);
    let _connected = ConnectionCount(metrics.connections.clone());
    tracing::debug!(input = %context.id, %peer, "TCP client connected.");
    let source = source_metadata(peer);
    let decorate = |event: &mut Event| {
        event.metadata_mut().insert("input".into(), source.clone());
    };
    let mut decoder: Decoder = shared
        .settings
        .codec
        .decoder(shared.settings.max_line_bytes);
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    let mut warned = false;
    loop {
        let mut decoded = Decoded::default();
        let deadline = decoder.flush_deadline();
        let ended = tokio::select! {
            read = stream.read(&mut chunk) => match read {
                Ok(0) => {
                    decoder.finish(&mut decoded);
                    true
                }
                Ok(n) => {
                    context.metrics.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    decoder.feed(&chunk[..n], &mut decoded);
                    false
                }
                Err(error) => {
                    tracing::info!(input = %context.id, %peer, %error, "TCP connection failed.");
                    decoder.finish(&mut decoded);
                    true
                }
            },
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => {
                decoder.flush_due(tokio::time::Instant::now(), &mut decoded);
                false
            }
            _ = context.shutdown.cancelled() => {
                decoder.finish(&mut decoded);
                true
            }
        };
        if decoded.truncated > 0 {
            metrics.truncated_lines_total.add(decoded.truncated);
            context
                .metrics
                .errors
                .fetch_add(decoded.truncated, Ordering::Relaxed);
            if !warned {
                warned = true;
                tracing::warn!(
                    input = %context.id,
                    %peer,
                    max_line_bytes = shared.settings.max_line_bytes,
                    "A line from a TCP client is longer than max_line_bytes: it was cut and tagged _line_truncated (later ones from this client are counted in tcp_truncated_lines_total)."
                );
            }
        }
        if shared.delivery.send(decoded, decorate).await.is_err() {
            return;
        }
        if ended {
            tracing::debug!(input = %context.id, %peer, "TCP client disconnected.");
            return;
        }
    }
}

/// `[@metadata][input]` of a client's events: `{ tcp: { source: { ip, port } } }`.
fn source_metadata(peer: SocketAddr) -> Value {
    let mut source = Map::new();
    source.insert("ip".into(), Value::String(peer.ip().to_string()));
    source.insert("port".into(), Value::from(peer.port()));
    let mut tcp = Map::new();
    tcp.insert("source".into(), Value::Object(source));
    let mut input = Map::new();
    input.insert("tcp".into(), Value::Object(tcp));
    Value::Object(input)
}

/// Takes one off the connection gauge when the connection ends, panics included.
struct ConnectionCount(Gauge);

impl Drop for ConnectionCount {
    fn drop(&mut self) {
        self.0.add(-1);
    }
}
