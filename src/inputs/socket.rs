//! What the `tcp` and `udp` inputs share: the listen address, handing decoded events to the
//! pipeline in batches, and waiting for them at shutdown.
//!
//! Neither protocol can acknowledge anything to its sender (TCP's own ACKs only say the
//! bytes arrived; Logstash's tcp and udp inputs acknowledge nothing either), so a receipt is
//! used for one thing: at shutdown the input waits until every batch it handed on has been
//! delivered or disposed of before it reports done. Backpressure is what keeps memory
//! bounded: while the pipeline is full, `send` waits and the input reads nothing more, so a
//! TCP sender is slowed by its full window and UDP datagrams wait in (and beyond its size
//! are dropped by) the kernel's receive buffer.

use super::codec::{Decoded, Decoder};
use super::{count_handed_over, InputContext, PipelineClosed};
use crate::event::{ack_channel, format_timestamp, AckReceiver, AckSender, Batch, Event};
use crate::metrics::ComponentMetrics;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

/// Who a TCP server serves and how: the accept loop every TCP input shares.
#[derive(Debug, Clone, Copy)]
pub struct Server<'a> {
    /// The input's id, for its log lines.
    pub input: &'a str,
    /// What the clients are, for log lines (`Beats`, `TCP`).
    pub clients: &'a str,
    /// Most clients served at once; further clients wait in the kernel's listen backlog and
    /// are served as soon as a slot frees, instead of being refused.
    pub max_connections: usize,
    pub shutdown: &'a CancellationToken,
    pub metrics: &'a ComponentMetrics,
}

impl Server<'_> {
    /// Accepts clients until shutdown, each served by `serve` in its own task (so a client
    /// that sends garbage, stalls or floods is slowed or closed without touching the others),
    /// then closes the listener and waits for every connection to finish.
    pub async fn run<F, Fut>(&self, listener: TcpListener, serve: F)
    where
        F: Fn(TcpStream, SocketAddr) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let slots = Arc::new(Semaphore::new(self.max_connections.max(1)));
        let mut connections = JoinSet::new();
        loop {
            let accept = async {
                let slot = slots.clone().acquire_owned().await;
                (slot, listener.accept().await)
            };
            let (slot, accepted) = tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => break,
                Some(finished) = connections.join_next() => {
                    self.report_panic(finished);
                    continue;
                }
                accepted = accept => accepted,
            };
            let Ok(slot) = slot else { break };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Typically out of file descriptors: say so, and give the system a moment.
                    tracing::warn!(input = %self.input, %error, "Cannot accept a {} connection.", self.clients);
                    self.metrics.errors.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let connection = serve(stream, peer);
            connections.spawn(
                async move {
                    connection.await;
                    drop(slot);
                }
                .in_current_span(),
            );
        }
        drop(listener);
        while let Some(finished) = connections.join_next().await {
            self.report_panic(finished);
        }
    }

    fn report_panic(&self, finished: Result<(), tokio::task::JoinError>) {
        if let Err(error) = finished {
            self.metrics.errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(input = %self.input, %error, "A {} connection task failed.", self.clients);
        }
    }
}

/// Where a socket input listens unless told (Logstash: every interface).
pub fn default_host() -> String {
    "0.0.0.0".into()
}

/// The longest line a socket input keeps whole (longer ones are cut and tagged).
pub fn default_max_line_bytes() -> usize {
    1024 * 1024
}

/// `host:port` as a socket address string (`[::1]:514` for an IPv6 host).
pub fn address(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Hands batches to the pipeline; clones share the batch numbering.
#[derive(Debug, Clone)]
pub struct Delivery {
    context: InputContext,
    acks: AckSender,
    /// Batches handed on so far (also the next batch id).
    sent: Arc<AtomicU64>,
}

impl Delivery {
    pub fn new(context: InputContext) -> (Self, AckReceiver) {
        let (acks, receipts) = ack_channel();
        let delivery = Self {
            context,
            acks,
            sent: Arc::new(AtomicU64::new(0)),
        };
        (delivery, receipts)
    }

    /// Sends what was decoded in batches of the pipeline's `batch_size`, waiting while the
    /// pipeline is full; `decorate` adds the input's fields to each event first.
    pub async fn send(
        &self,
        decoded: Decoded,
        decorate: impl Fn(&mut Event),
    ) -> Result<(), PipelineClosed> {
        if decoded.skipped > 0 {
            count_handed_over(&self.context.metrics, 0, decoded.skipped);
        }
        if decoded.events.is_empty() {
            return Ok(());
        }
        let now = format_timestamp(chrono::Utc::now());
        let batch_size = self.context.settings.batch_size.max(1);
        let mut events = decoded.events;
        for event in &mut events {
            event.ensure_timestamp(&now);
            decorate(event);
        }
        while !events.is_empty() {
            let rest = events.split_off(batch_size.min(events.len()));
            let batch = std::mem::replace(&mut events, rest);
            let count = batch.len() as u64;
            let id = self.sent.fetch_add(1, Ordering::Relaxed);
            self.context
                .output
                .send(Batch::new(batch, Some(self.acks.token(id))))
                .await?;
            count_handed_over(&self.context.metrics, count, 0);
        }
        Ok(())
    }

    /// Lets the pipeline go (drops this sender) and waits until every batch handed on has
    /// been delivered or disposed of. Other clones must be gone already.
    pub async fn finish(self, mut receipts: AckReceiver) {
        let sent = self.sent.load(Ordering::Relaxed);
        drop(self);
        for _ in 0..sent {
            if receipts.recv().await.is_none() {
                break;
            }
        }
    }

    pub fn context(&self) -> &InputContext {
        &self.context
    }
}

/// How much of a stream one read takes at most.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Why [`read_stream`] returned.
#[derive(Debug)]
pub enum StreamEnd {
    /// The other end closed the stream.
    Closed,
    /// Reading failed (a reset connection); what was read before is delivered.
    Failed(std::io::Error),
    /// The input is shutting down.
    Shutdown,
    /// The pipeline is gone.
    PipelineClosed,
}

/// Reads a byte stream (a TCP connection, stdin) until it ends, fails or the input shuts
/// down, decoding each read and delivering its events before reading more (so a full
/// pipeline stops the reads). A pending multiline event is flushed at the end, and by its
/// `auto_flush_interval` meanwhile. `observe` sees what each read decoded, before delivery;
/// the truncated lines it reports are counted as errors here.
pub async fn read_stream<R: AsyncRead + Unpin>(
    reader: &mut R,
    decoder: &mut Decoder,
    delivery: &Delivery,
    decorate: impl Fn(&mut Event),
    mut observe: impl FnMut(&Decoded),
) -> StreamEnd {
    let context = delivery.context();
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    loop {
        let mut decoded = Decoded::default();
        let deadline = decoder.flush_deadline();
        let end = tokio::select! {
            read = reader.read(&mut chunk) => match read {
                Ok(0) => {
                    decoder.finish(&mut decoded);
                    Some(StreamEnd::Closed)
                }
                Ok(n) => {
                    context.metrics.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    decoder.feed(&chunk[..n], &mut decoded);
                    None
                }
                Err(error) => {
                    decoder.finish(&mut decoded);
                    Some(StreamEnd::Failed(error))
                }
            },
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => {
                decoder.flush_due(tokio::time::Instant::now(), &mut decoded);
                None
            }
            _ = context.shutdown.cancelled() => {
                decoder.finish(&mut decoded);
                Some(StreamEnd::Shutdown)
            }
        };
        if decoded.truncated > 0 {
            context
                .metrics
                .errors
                .fetch_add(decoded.truncated, Ordering::Relaxed);
        }
        observe(&decoded);
        if delivery.send(decoded, &decorate).await.is_err() {
            return StreamEnd::PipelineClosed;
        }
        if let Some(end) = end {
            return end;
        }
    }
}
