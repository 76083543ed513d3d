//! Reads newline-delimited events from standard input, for `cat app.log | sluice run` and
//! for tests. Ends at end of input.

use super::{InputContext, InputError};
use crate::event::{ack_channel, format_timestamp, Batch, Event, MESSAGE};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::atomic::Ordering;
use tokio::io::{AsyncBufReadExt, BufReader};

/// How long a partial batch waits for more lines.
const BATCH_LINGER: std::time::Duration = std::time::Duration::from_millis(50);

/// `type = "stdin"`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StdinInputConfig {}

/// The stdin input.
#[derive(Debug)]
pub struct StdinInput {
    _settings: StdinInputConfig,
}

impl StdinInput {
    pub fn new(settings: StdinInputConfig) -> Self {
        Self {
            _settings: settings,
        }
    }

    pub async fn run(self, context: InputContext) -> Result<(), InputError> {
        let (acks, mut receipts) = ack_channel();
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        let host = crate::inputs::file::host_name();
        let mut batch = Vec::new();
        let mut next_id = 0u64;
        let mut sent = 0u64;
        let mut first_line_at: Option<tokio::time::Instant> = None;
        loop {
            // A partial batch leaves at most BATCH_LINGER after its first line, so interactive
            // use stays live.
            let deadline = first_line_at.unwrap_or_else(tokio::time::Instant::now);
            let (line, idle) = tokio::select! {
                line = lines.next_line() => (line?, false),
                _ = context.shutdown.cancelled() => (None, false),
                _ = tokio::time::sleep_until(deadline), if !batch.is_empty() => (None, true),
            };
            let finished = line.is_none() && !idle;
            if let Some(line) = line {
                let mut fields = Map::new();
                fields.insert(
                    "@timestamp".into(),
                    Value::String(format_timestamp(chrono::Utc::now())),
                );
                fields.insert(MESSAGE.into(), Value::String(line));
                let mut host_map = Map::new();
                host_map.insert("name".into(), Value::String(host.clone()));
                fields.insert("host".into(), Value::Object(host_map));
                let mut input = Map::new();
                input.insert("type".into(), Value::String("stdin".into()));
                fields.insert("input".into(), Value::Object(input));
                batch.push(Event::from_fields(fields));
                if batch.len() == 1 {
                    first_line_at = Some(tokio::time::Instant::now() + BATCH_LINGER);
                }
            }
            if ((finished || idle) && !batch.is_empty())
                || batch.len() >= context.settings.batch_size
            {
                let events = std::mem::take(&mut batch);
                first_line_at = None;
                context
                    .metrics
                    .events_in
                    .fetch_add(events.len() as u64, Ordering::Relaxed);
                context
                    .output
                    .send(Batch::new(events, Some(acks.token(next_id))))
                    .await?;
                next_id += 1;
                sent += 1;
            }
            if finished {
                break;
            }
        }
        drop(context.output);
        for _ in 0..sent {
            if receipts.recv().await.is_none() {
                break;
            }
        }
        Ok(())
    }
}
