//! Reads newline-delimited events from standard input, for `cat app.log | sluice run` and
//! for tests. Ends at end of input.
//!
//! Lines are split by the file input's [`LineSplitter`], so stdin gets the same guarantees:
//! a line longer than `max_line_bytes` is cut and tagged `_line_truncated` instead of being
//! buffered without limit, and invalid UTF-8 is kept lossily instead of ending the input.

use super::file::lines::{Line, LineSplitter};
use super::file::TRUNCATED_TAG;
use super::{InputContext, InputError};
use crate::event::{ack_channel, format_timestamp, Batch, Event, MESSAGE, TAGS};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::atomic::Ordering;
use tokio::io::AsyncReadExt;

/// How long a partial batch waits for more lines.
const BATCH_LINGER: std::time::Duration = std::time::Duration::from_millis(50);

fn default_max_line_bytes() -> usize {
    1024 * 1024
}

/// `type = "stdin"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinInputConfig {
    /// Longer lines are cut to this many bytes and tagged `_line_truncated`.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

impl Default for StdinInputConfig {
    fn default() -> Self {
        Self {
            max_line_bytes: default_max_line_bytes(),
        }
    }
}

/// The stdin input.
#[derive(Debug)]
pub struct StdinInput {
    settings: StdinInputConfig,
}

impl StdinInput {
    pub fn new(settings: StdinInputConfig) -> Self {
        Self { settings }
    }

    pub async fn run(self, context: InputContext) -> Result<(), InputError> {
        let (acks, mut receipts) = ack_channel();
        let mut stdin = tokio::io::stdin();
        let mut chunk = vec![0u8; 64 * 1024];
        let mut splitter = LineSplitter::new(self.settings.max_line_bytes, 0);
        let host = crate::inputs::file::host_name();
        let mut batch = Vec::new();
        let mut next_id = 0u64;
        let mut sent = 0u64;
        let mut first_line_at: Option<tokio::time::Instant> = None;
        context.readiness.set_ready();
        loop {
            // A partial batch leaves at most BATCH_LINGER after its first line, so interactive
            // use stays live.
            let deadline = first_line_at.unwrap_or_else(tokio::time::Instant::now);
            let (read, idle) = tokio::select! {
                read = stdin.read(&mut chunk) => (Some(read?), false),
                _ = context.shutdown.cancelled() => (None, false),
                _ = tokio::time::sleep_until(deadline), if !batch.is_empty() => (None, true),
            };
            let finished = !idle && matches!(read, None | Some(0));
            let mut push = |line: Line<'_>| batch.push(stdin_event(&line, &host));
            match read {
                Some(0) => splitter.finish(&mut push),
                Some(n) => splitter.feed(&chunk[..n], &mut push),
                None => {}
            }
            if first_line_at.is_none() && !batch.is_empty() {
                first_line_at = Some(tokio::time::Instant::now() + BATCH_LINGER);
            }
            // One read can hold many lines: send full batches, and the rest once idle or done.
            let batch_size = context.settings.batch_size.max(1);
            while batch.len() >= batch_size || ((finished || idle) && !batch.is_empty()) {
                let rest = batch.split_off(batch.len().min(batch_size));
                let events = std::mem::replace(&mut batch, rest);
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
            if batch.is_empty() {
                first_line_at = None;
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

/// The event of one stdin line: `message`, `host.name`, `input.type`, ingest `@timestamp`.
fn stdin_event(line: &Line<'_>, host: &str) -> Event {
    let mut fields = Map::new();
    fields.insert(
        "@timestamp".into(),
        Value::String(format_timestamp(chrono::Utc::now())),
    );
    fields.insert(
        MESSAGE.into(),
        Value::String(String::from_utf8_lossy(line.bytes).into_owned()),
    );
    let mut host_map = Map::new();
    host_map.insert("name".into(), Value::String(host.to_string()));
    fields.insert("host".into(), Value::Object(host_map));
    let mut input = Map::new();
    input.insert("type".into(), Value::String("stdin".into()));
    fields.insert("input".into(), Value::Object(input));
    if line.truncated {
        fields.insert(
            TAGS.into(),
            Value::Array(vec![Value::String(TRUNCATED_TAG.into())]),
        );
    }
    Event::from_fields(fields)
}
