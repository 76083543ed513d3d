//! Writes events to standard output: NDJSON for machines, `pretty` for people.

use super::{OutputContext, OutputError, OutputType};
use crate::config::{BuildContext, ConfigErrors};
use crate::event::Delivery;
use crate::metrics::ComponentMetrics;
use serde::Deserialize;
use std::io::Write;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;

/// How events are rendered.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StdoutCodec {
    /// One JSON object per line.
    #[default]
    Json,
    /// Indented JSON, for reading.
    Pretty,
}

/// `type = "stdout"`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {
    #[serde(default)]
    pub codec: StdoutCodec,
}

#[derive(Debug)]
pub struct StdoutOutput {
    settings: StdoutConfig,
}

impl OutputType for StdoutOutput {
    type Config = StdoutConfig;

    fn build(settings: &StdoutConfig, _context: &BuildContext) -> Result<Self, ConfigErrors> {
        let settings = settings.clone();
        Ok(Self { settings })
    }

    async fn run(
        self,
        deliveries: mpsc::Receiver<Delivery>,
        context: OutputContext,
    ) -> Result<(), OutputError> {
        context.readiness.set_ready();
        let thread_context = context.clone();
        let closed_by_reader =
            super::run_on_own_thread(move || self.write_deliveries(deliveries, &thread_context))
                .await??;
        if let Some(rest) = closed_by_reader {
            super::settle_all(rest, &context, super::Disposal::Dropped).await;
        }
        Ok(())
    }
}

impl StdoutOutput {
    /// The output's loop, on a thread of its own (`super::run_on_own_thread`). Returns the
    /// deliveries still to come when stdout's reader went away (broken pipe).
    fn write_deliveries(
        self,
        mut deliveries: mpsc::Receiver<Delivery>,
        context: &OutputContext,
    ) -> Result<Option<mpsc::Receiver<Delivery>>, OutputError> {
        let mut buffer = Vec::with_capacity(64 * 1024);
        while let Some(delivery) = deliveries.blocking_recv() {
            buffer.clear();
            let mut count = 0u64;
            for event in
                crate::event::prefetch::walk(delivery.events()).filter(|e| context.wants(e))
            {
                match self.settings.codec {
                    StdoutCodec::Json => event.write_json(&mut buffer)?,
                    StdoutCodec::Pretty => {
                        serde_json::to_writer_pretty(&mut buffer, event.fields())
                            .map_err(std::io::Error::from)?;
                    }
                }
                buffer.push(b'\n');
                count += 1;
            }
            context
                .metrics
                .events_in
                .fetch_add(count, Ordering::Relaxed);
            if !buffer.is_empty() {
                let mut stdout = std::io::stdout().lock();
                match stdout.write_all(&buffer).and_then(|()| stdout.flush()) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                        // `sluice run ... | head`: the reader left on purpose. Holding the
                        // pipeline (or failing every batch, so that the other outputs'
                        // events are read and sent again) would punish that; what stdout
                        // would have shown is disposed of, counted and logged once.
                        tracing::warn!(output = %context.id, "stdout was closed by its reader (broken pipe); this output drops its events from now on (counted as dropped).");
                        ComponentMetrics::add(&context.metrics.events_dropped, count);
                        delivery.settle();
                        return Ok(Some(deliveries));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            context
                .metrics
                .events_out
                .fetch_add(count, Ordering::Relaxed);
            delivery.settle();
        }
        Ok(None)
    }
}
