//! Reads newline-delimited events from standard input, for `cat app.log | sluice run` and
//! for tests. Ends at end of input.
//!
//! Lines are split by the file input's [`LineSplitter`], so stdin gets the same guarantees:
//! a line longer than `max_line_bytes` is cut and tagged `_line_truncated` instead of being
//! buffered without limit, and invalid UTF-8 is kept lossily instead of ending the input.
//!
//! Lines become line events ([`LineBlock`]), like the file input's: their fields are built
//! only if something reads them. Each line's `@timestamp` is the time of the read that
//! returned it. Blank lines (empty or only whitespace) are skipped and counted as dropped, as
//! the file input does.
//!
//! `codec` (`json_lines`, `json`, `plain`, `multiline`, see [`super::codec`]) decodes the
//! stream as the socket inputs do, for `cat app.log | sluice run` with stack traces or JSON
//! lines; the default (`line`) keeps the lazy line events above.

use super::codec::CodecConfig;
use super::file::lines::{Line, LineSplitter};
use super::socket::{read_stream, Delivery, StreamEnd};
use super::{InputContext, InputError, InputType, PipelineClosed};
use crate::config::{BuildContext, ConfigError};
use crate::event::{ack_channel, format_timestamp, Batch, Event, LineBlock, LineOrigin};
use serde::Deserialize;
use serde_json::{Map, Value};
use serde_spanned::Spanned;
use std::collections::VecDeque;
use std::sync::Arc;
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
    /// How the stream becomes events (default: one event per line).
    #[serde(default)]
    pub codec: Option<Spanned<CodecConfig>>,
}

impl Default for StdinInputConfig {
    fn default() -> Self {
        Self {
            max_line_bytes: default_max_line_bytes(),
            codec: None,
        }
    }
}

/// The stdin input.
#[derive(Debug)]
pub struct StdinInput {
    settings: StdinInputConfig,
}

impl InputType for StdinInput {
    type Config = StdinInputConfig;
    const FINITE: bool = true;

    fn build(settings: &StdinInputConfig, context: &BuildContext) -> Result<Self, ConfigError> {
        if let Some(codec) = &settings.codec {
            codec.get_ref().validate("stdin", codec.span(), context)?;
        }
        let settings = settings.clone();
        Ok(Self { settings })
    }

    async fn run(self, context: InputContext) -> Result<(), InputError> {
        match self.settings.codec.as_ref().map(Spanned::get_ref) {
            None | Some(CodecConfig::Line) => self.run_lines(context).await,
            Some(codec) => run_with_codec(codec, self.settings.max_line_bytes, context).await,
        }
    }
}

/// Reads stdin through a codec, delivering as it decodes.
async fn run_with_codec(
    codec: &CodecConfig,
    max_line_bytes: usize,
    context: InputContext,
) -> Result<(), InputError> {
    context.readiness.set_ready();
    // The fields every stdin event carries, as on the line path (`stdin_origin`).
    let host = Value::Object(Map::from_iter([(
        "name".to_string(),
        Value::String(crate::event::host_name()),
    )]));
    let input = Value::Object(Map::from_iter([(
        "type".to_string(),
        Value::String("stdin".into()),
    )]));
    let (delivery, receipts) = Delivery::new(context);
    let mut decoder = codec.decoder(max_line_bytes);
    let decorate = |event: &mut Event| {
        let fields = event.fields_mut();
        fields.entry("host").or_insert_with(|| host.clone());
        fields.entry("input").or_insert_with(|| input.clone());
    };
    let end = read_stream(
        &mut tokio::io::stdin(),
        &mut decoder,
        &delivery,
        decorate,
        |_| {},
    )
    .await;
    delivery.finish(receipts).await;
    match end {
        StreamEnd::Failed(error) => Err(InputError::Stdin(error)),
        StreamEnd::PipelineClosed => Err(InputError::Closed(PipelineClosed)),
        StreamEnd::Closed | StreamEnd::Shutdown => Ok(()),
    }
}

impl StdinInput {
    /// The default: lazy line events.
    async fn run_lines(self, context: InputContext) -> Result<(), InputError> {
        let (acks, mut receipts) = ack_channel();
        let mut stdin = tokio::io::stdin();
        let mut chunk = vec![0u8; 64 * 1024];
        let mut splitter = LineSplitter::new(self.settings.max_line_bytes, 0);
        let origin = stdin_origin(crate::event::host_name());
        let batch_size = context.settings.batch_size.max(1);
        // The batch being filled, and full ones waiting to be sent (a read holds at most
        // `chunk.len() / batch_size` of them).
        let mut open = LineBlock::default();
        let mut full: VecDeque<LineBlock> = VecDeque::new();
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
                _ = tokio::time::sleep_until(deadline), if !open.is_empty() => (None, true),
            };
            let finished = !idle && matches!(read, None | Some(0));
            // The lines of one read were read at the same time.
            let now = format_timestamp(chrono::Utc::now());
            let mut skipped = 0;
            let mut push = |line: Line<'_>| {
                if line.is_blank() {
                    skipped += 1;
                    return;
                }
                open.push(line.bytes, line.offset, line.truncated, &origin, &now);
                if open.len() >= batch_size {
                    full.push_back(std::mem::take(&mut open));
                }
            };
            match read {
                Some(0) => splitter.finish(&mut push),
                Some(n) => splitter.feed(&chunk[..n], &mut push),
                None => {}
            }
            if skipped > 0 {
                // Nothing to acknowledge for them: stdin keeps no checkpoint.
                super::count_handed_over(&context.metrics, 0, skipped);
            }
            if first_line_at.is_none() && !(open.is_empty() && full.is_empty()) {
                first_line_at = Some(tokio::time::Instant::now() + BATCH_LINGER);
            }
            // One read can hold many lines: send full batches, and the rest once idle or done.
            if (finished || idle) && !open.is_empty() {
                full.push_back(std::mem::take(&mut open));
            }
            while let Some(block) = full.pop_front() {
                let mut events = Vec::new();
                block.into_events(&mut events);
                let count = events.len() as u64;
                context
                    .output
                    .send(Batch::new(events, Some(acks.token(next_id))))
                    .await?;
                super::count_handed_over(&context.metrics, count, 0);
                next_id += 1;
                sent += 1;
            }
            if open.is_empty() {
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

/// What every stdin line's event carries besides `@timestamp` and `message`: `host.name`
/// and `input.type = "stdin"` (and `tags = ["_line_truncated"]` for a cut line).
fn stdin_origin(host: String) -> Arc<LineOrigin> {
    let object = |key: &str, value: String| {
        let mut map = Map::new();
        map.insert(key.into(), Value::String(value));
        Value::Object(map)
    };
    Arc::new(LineOrigin::new(
        None,
        vec![
            ("host".into(), object("name", host)),
            ("input".into(), object("type", "stdin".into())),
        ],
        Vec::new(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, TRUNCATED_TAG};
    use serde_json::json;

    #[test]
    fn a_stdin_line_has_message_host_input_and_its_read_time() {
        let origin = stdin_origin("edge-1".into());
        let mut block = LineBlock::default();
        block.push(b"hello \xff", 0, false, &origin, "2024-05-01T12:00:00.000Z");
        block.push(b"cut", 7, true, &origin, "2024-05-01T12:00:00.001Z");
        let mut events = Vec::new();
        block.into_events(&mut events);
        let values: Vec<Value> = events.iter().map(Event::to_value).collect();
        assert_eq!(
            values,
            vec![
                json!({
                    "@timestamp": "2024-05-01T12:00:00.000Z",
                    "message": "hello \u{fffd}",
                    "host": {"name": "edge-1"},
                    "input": {"type": "stdin"},
                }),
                json!({
                    "@timestamp": "2024-05-01T12:00:00.001Z",
                    "message": "cut",
                    "host": {"name": "edge-1"},
                    "input": {"type": "stdin"},
                    "tags": [TRUNCATED_TAG],
                }),
            ]
        );
    }
}
