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

use super::codec::Decoded;
use super::{count_handed_over, InputContext, PipelineClosed};
use crate::event::{ack_channel, format_timestamp, AckReceiver, AckSender, Batch, Event};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
