//! One client connection: frames in, batches to the pipeline, ACKs out.
//!
//! The rules that matter to a Beats client, and how they are kept:
//!
//! - **A window is acknowledged only once every event of it is delivered.** Each window's
//!   events go out as one or more batches (cut at the pipeline's `batch_size`/`batch_bytes`),
//!   each with its own ack token; the ACK carrying the window's last sequence number is written
//!   only when every one of those batches came back [`BatchStatus::Delivered`], and windows are
//!   acknowledged strictly in the order they arrived, so pipelining clients (Filebeat's
//!   `pipelining: 2`) see one final ACK per window, in order. Acking the last frame's own
//!   sequence number satisfies clients that restart at 1 every window (Filebeat, go-lumber) and
//!   clients that keep counting (pylogbeat).
//! - **A failed batch is never acknowledged.** The connection is closed instead, so the client
//!   resends the window at once rather than after its timeout.
//! - **A waiting client is kept alive.** While batches are in the pipeline (including while the
//!   pipeline refuses new batches: backpressure), an ACK 0 goes out `keepalive_interval` after
//!   the last write, so Filebeat does not time out and resend (duplicates).
//! - **One task per connection, no unbounded buffers.** Reading stops while a batch waits for
//!   room in the pipeline and while too many windows are unacknowledged, so a fast client is
//!   slowed down by TCP instead of by our memory.
//!
//! On shutdown the connection stops reading, abandons (fails) the batch it could not hand over,
//! acknowledges what the pipeline still delivers, and closes.

use super::config::Settings;
use super::decode::{decode_batch, RawBatch};
use super::events::Source;
use super::frame::{self, Frame, FrameError, Inflater, Limits};
use crate::event::{
    ack_channel, format_timestamp, AckReceipt, AckReceiver, AckSender, Batch, BatchStatus,
};
use crate::inputs::{BatchSender, InputContext, PipelineClosed};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{sleep_until, timeout, Instant};

/// Windows received but not yet acknowledged before reading pauses. Filebeat keeps at most
/// two in flight; the bound only matters against a client that never reads its ACKs.
const MAX_UNACKED_WINDOWS: usize = 16;
/// How much the read buffer grows by before each read.
const READ_CHUNK: usize = 64 * 1024;

/// Why a connection was closed by us.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("protocol error: {0}")]
    Frame(#[from] FrameError),
    #[error("protocol error: data frame outside a window")]
    FrameOutsideWindow,
    #[error("protocol error: new window after {received} of {count} announced frames")]
    WindowInterrupted { received: u32, count: u32 },
    #[error("idle for longer than `idle_timeout`")]
    Idle,
    #[error("the client did not read its acknowledgements for longer than `idle_timeout`")]
    WriteTimeout,
    #[error("a batch of this connection failed in an output; closing so the client resends")]
    BatchFailed,
    #[error(transparent)]
    PipelineClosed(#[from] PipelineClosed),
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
}

impl ConnectionError {
    /// Whether this is a fault (counted in `errors`) rather than a normal way to end.
    pub fn is_fault(&self) -> bool {
        !matches!(self, Self::Idle | Self::PipelineClosed(_))
    }

    /// Whether the client broke the protocol (counted in `beats_protocol_errors_total`).
    pub fn is_protocol_error(&self) -> bool {
        matches!(
            self,
            Self::Frame(_) | Self::FrameOutsideWindow | Self::WindowInterrupted { .. }
        )
    }
}

/// What every connection of one input shares.
#[derive(Debug)]
pub struct Shared {
    pub settings: Settings,
    /// Present when clients must use TLS.
    pub tls: Option<super::tls::Tls>,
    pub limits: Limits,
    pub context: InputContext,
    pub metrics: super::metrics::BeatsMetrics,
}

/// The window whose data frames are arriving.
#[derive(Debug)]
struct OpenWindow {
    count: u32,
    received: u32,
    events: RawBatch,
    bytes: usize,
}

/// A window in acknowledgement order.
#[derive(Debug)]
struct PendingWindow {
    version: u8,
    /// Sequence number of the last data frame received.
    last_seq: u32,
    /// Batch ids `first_batch..end_batch` carry this window's events.
    first_batch: u64,
    end_batch: u64,
    /// Batches sent (or about to be) and not yet delivered.
    outstanding: usize,
    /// Every announced frame has arrived.
    complete: bool,
}

/// Serves one client until it leaves, misbehaves, idles out, or the input shuts down.
pub async fn serve<R, W>(
    reader: R,
    writer: W,
    peer_ip: Arc<str>,
    shared: Arc<Shared>,
) -> Result<(), ConnectionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (acks, receipts) = ack_channel();
    let output = shared.context.output.clone();
    let now = Instant::now();
    let mut connection = Connection {
        reader,
        writer,
        buffer: BytesMut::with_capacity(READ_CHUNK),
        inflater: Inflater::default(),
        peer_ip,
        shared,
        acks,
        receipts,
        open: None,
        pending: VecDeque::new(),
        outbox: VecDeque::new(),
        next_batch_id: 0,
        last_write: now,
        last_read: now,
    };
    match connection.run(&output).await {
        // Nobody is there to receive further ACKs; what is in the pipeline is still delivered.
        Ok(Ended::ClientLeft) => Ok(()),
        Ok(Ended::Shutdown) => {
            drop(output);
            connection.drain().await
        }
        Err(ConnectionError::BatchFailed) if connection.shutting_down() => Ok(()),
        Err(e) => Err(e),
    }
}

/// How reading ended without an error.
enum Ended {
    ClientLeft,
    Shutdown,
}

struct Connection<R, W> {
    reader: R,
    writer: W,
    buffer: BytesMut,
    inflater: Inflater,
    peer_ip: Arc<str>,
    shared: Arc<Shared>,
    acks: AckSender,
    receipts: AckReceiver,
    open: Option<OpenWindow>,
    pending: VecDeque<PendingWindow>,
    outbox: VecDeque<(Batch, u64)>,
    next_batch_id: u64,
    last_write: Instant,
    last_read: Instant,
}

impl<R, W> Connection<R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    fn shutting_down(&self) -> bool {
        self.shared.context.shutdown.is_cancelled()
    }

    /// Batches of this connection are in the pipeline: the client is waiting on us.
    fn awaiting_pipeline(&self) -> bool {
        self.pending.iter().any(|w| w.outstanding > 0)
    }

    fn keepalive_due(&self) -> Instant {
        self.last_write + self.shared.settings.keepalive_interval
    }

    /// Reads and delivers until the client leaves or shutdown begins.
    async fn run(&mut self, output: &BatchSender) -> Result<Ended, ConnectionError> {
        let shutdown = self.shared.context.shutdown.clone();
        loop {
            self.decode_buffered()?;
            self.write_ready_acks().await?;
            if let Some((batch, events)) = self.outbox.pop_front() {
                self.deliver(batch, events, output).await?;
                continue;
            }
            if shutdown.is_cancelled() {
                return Ok(Ended::Shutdown);
            }
            let may_read = self.pending.len() < MAX_UNACKED_WINDOWS;
            let awaiting = self.awaiting_pipeline();
            let keepalive_due = self.keepalive_due();
            let idle_deadline = self.last_read + self.shared.settings.idle_timeout;
            self.buffer.reserve(READ_CHUNK);
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(Ended::Shutdown),
                Some(receipt) = self.receipts.recv() => self.on_receipt(receipt)?,
                _ = sleep_until(keepalive_due), if awaiting => self.keepalive().await?,
                _ = sleep_until(idle_deadline), if !awaiting => {
                    return Err(ConnectionError::Idle);
                }
                read = self.reader.read_buf(&mut self.buffer), if may_read => {
                    let read = read?;
                    if read == 0 {
                        return Ok(Ended::ClientLeft);
                    }
                    self.last_read = Instant::now();
                    self.shared.context.metrics.bytes.fetch_add(read as u64, Ordering::Relaxed);
                }
            }
        }
    }

    /// After shutdown: acknowledges what the pipeline still delivers, keeping the client alive
    /// meanwhile, then returns.
    async fn drain(&mut self) -> Result<(), ConnectionError> {
        // Batches never handed over are failed, so their windows are not acknowledged.
        for (batch, _) in self.outbox.drain(..) {
            if let Some(token) = batch.token() {
                token.mark_failed();
            }
        }
        while self.awaiting_pipeline() {
            let keepalive_due = self.keepalive_due();
            tokio::select! {
                receipt = self.receipts.recv() => match receipt {
                    Some(receipt) => match self.on_receipt(receipt) {
                        Ok(()) => self.write_ready_acks().await?,
                        Err(ConnectionError::BatchFailed) => return Ok(()),
                        Err(e) => return Err(e),
                    },
                    None => return Ok(()),
                },
                _ = sleep_until(keepalive_due) => self.keepalive().await?,
            }
        }
        Ok(())
    }

    /// Hands one batch to the pipeline, acknowledging and keeping alive while it waits.
    async fn deliver(
        &mut self,
        batch: Batch,
        events: u64,
        output: &BatchSender,
    ) -> Result<(), ConnectionError> {
        let token = batch.token().cloned();
        let send = output.send(batch);
        tokio::pin!(send);
        let shutdown = self.shared.context.shutdown.clone();
        loop {
            let keepalive_due = self.keepalive_due();
            tokio::select! {
                biased;
                sent = &mut send => {
                    sent?;
                    crate::inputs::count_handed_over(&self.shared.context.metrics, events, 0);
                    return Ok(());
                }
                Some(receipt) = self.receipts.recv() => {
                    self.on_receipt(receipt)?;
                    self.write_ready_acks().await?;
                }
                _ = sleep_until(keepalive_due) => self.keepalive().await?,
                _ = shutdown.cancelled() => {
                    // The batch is dropped with the send: fail it so its window is not acked.
                    if let Some(token) = token {
                        token.mark_failed();
                    }
                    return Ok(());
                }
            }
        }
    }

    fn on_receipt(&mut self, receipt: AckReceipt) -> Result<(), ConnectionError> {
        if receipt.status == BatchStatus::Failed {
            return Err(ConnectionError::BatchFailed);
        }
        if let Some(window) = self
            .pending
            .iter_mut()
            .find(|w| (w.first_batch..w.end_batch).contains(&receipt.batch_id))
        {
            window.outstanding = window.outstanding.saturating_sub(1);
        }
        Ok(())
    }

    /// Writes the final ACK of every leading window that is complete and delivered.
    async fn write_ready_acks(&mut self) -> Result<(), ConnectionError> {
        while let Some(window) = self.pending.front() {
            if !window.complete || window.outstanding > 0 {
                break;
            }
            let ack = frame::ack(window.version, window.last_seq);
            self.pending.pop_front();
            self.write(&ack).await?;
        }
        Ok(())
    }

    async fn keepalive(&mut self) -> Result<(), ConnectionError> {
        let version = self.pending.front().map_or(frame::VERSION_2, |w| w.version);
        self.write(&frame::ack(version, 0)).await
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), ConnectionError> {
        let limit = self.shared.settings.idle_timeout;
        let written = timeout(limit, async {
            self.writer.write_all(bytes).await?;
            self.writer.flush().await
        })
        .await
        .map_err(|_| ConnectionError::WriteTimeout)?;
        written?;
        self.last_write = Instant::now();
        Ok(())
    }

    /// Decodes every complete frame in the read buffer.
    fn decode_buffered(&mut self) -> Result<(), ConnectionError> {
        let limits = self.shared.limits;
        while let Some(len) = frame::check(&self.buffer, &limits)? {
            let bytes = self.buffer.split_to(len).freeze();
            match frame::parse(&bytes) {
                Frame::Window { version, count } => self.open_window(version, count)?,
                Frame::Compressed { zlib } => {
                    if self.open.is_none() {
                        return Err(ConnectionError::FrameOutsideWindow);
                    }
                    let inflated = Bytes::from(
                        self.inflater
                            .inflate(zlib, self.shared.settings.max_decompressed_bytes)?,
                    );
                    for inner in frame::inner_frames(&inflated, &limits)? {
                        self.data_frame(inner, &inflated)?;
                    }
                }
                data => self.data_frame(data, &bytes)?,
            }
        }
        Ok(())
    }

    fn open_window(&mut self, version: u8, count: u32) -> Result<(), ConnectionError> {
        if let Some(open) = &self.open {
            return Err(ConnectionError::WindowInterrupted {
                received: open.received,
                count: open.count,
            });
        }
        self.shared.metrics.windows_total.inc();
        self.pending.push_back(PendingWindow {
            version,
            last_seq: 0,
            first_batch: self.next_batch_id,
            end_batch: self.next_batch_id,
            outstanding: 0,
            // An empty window is acknowledged (with 0) right away, as Logstash does.
            complete: count == 0,
        });
        if count > 0 {
            self.open = Some(OpenWindow {
                count,
                received: 0,
                events: RawBatch::default(),
                bytes: 0,
            });
        }
        Ok(())
    }

    /// Adds one `J` or `D` frame (borrowing from `source`) to the open window.
    fn data_frame(&mut self, data: Frame<'_>, source: &Bytes) -> Result<(), ConnectionError> {
        if matches!(data, Frame::Window { .. } | Frame::Compressed { .. }) {
            return Ok(());
        }
        let settings = &self.shared.context.settings;
        let (batch_size, batch_bytes) = (settings.batch_size.max(1), settings.batch_bytes);
        let Some(open) = self.open.as_mut() else {
            return Err(ConnectionError::FrameOutsideWindow);
        };
        let (seq, size) = match data {
            Frame::Json { seq, payload } => (seq, open.events.push_json(source, payload)),
            Frame::Data { seq, pairs } => (seq, open.events.push_pairs(pairs)),
            Frame::Window { .. } | Frame::Compressed { .. } => return Ok(()),
        };
        open.received += 1;
        open.bytes += size;
        if let Some(window) = self.pending.back_mut() {
            window.last_seq = seq;
        }
        let finished = open.received >= open.count;
        if finished || open.events.len() >= batch_size || open.bytes >= batch_bytes {
            let events = std::mem::take(&mut open.events);
            open.bytes = 0;
            if finished {
                self.open = None;
            }
            self.cut_batch(events, finished);
        }
        Ok(())
    }

    /// Queues `events` as one batch of the newest window.
    fn cut_batch(&mut self, events: RawBatch, completes_window: bool) {
        let id = self.next_batch_id;
        self.next_batch_id += 1;
        if let Some(window) = self.pending.back_mut() {
            window.end_batch = id + 1;
            window.outstanding += 1;
            window.complete = completes_window;
        }
        let source = Source::new(self.peer_ip.clone(), self.shared.settings.shape);
        let now = format_timestamp(chrono::Utc::now());
        let count = events.len() as u64;
        // With filters every event's fields are read: building them at once is cheaper.
        let raw = !self.shared.context.filters;
        let batch = Batch::deferred(events.len(), Some(self.acks.token(id)), move |out| {
            decode_batch(events, source, now, raw, out);
        });
        self.outbox.push_back((batch, count));
    }
}
