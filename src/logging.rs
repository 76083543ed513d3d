//! sluice's own log lines: human-readable by default, JSON with `--log-format json`.
//!
//! A JSON line is one object shaped like an event sluice itself could ship:
//! `{"@timestamp": "2024-05-01T12:00:00.123Z", "level": "WARN", "message": "...",
//! "component_kind": "output", "component_id": "archive", "component_type": "file",
//! "target": "sluice::outputs::file", ...fields}`. The component fields come from the span
//! every input, output and worker task runs in (see `sluice::pipeline`), so a line logged
//! anywhere inside a component carries them without each call site repeating them.

use serde_json::{Map, Value};
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The JSON line format.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        line.insert(
            "@timestamp".into(),
            Value::String(sluice::event::format_timestamp(chrono::Utc::now())),
        );
        line.insert(
            "level".into(),
            Value::String(event.metadata().level().to_string()),
        );
        // Outer spans first, so the innermost component wins.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<JsonFields>>() else {
                    continue;
                };
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&fields.fields) {
                    if fields.contains_key("component_id") {
                        line.insert(
                            "component_kind".into(),
                            Value::String(span.name().to_string()),
                        );
                    }
                    line.extend(fields);
                }
            }
        }
        let mut visitor = Fields(&mut line);
        event.record(&mut visitor);
        line.entry("message")
            .or_insert_with(|| Value::String(String::new()));
        line.insert(
            "target".into(),
            Value::String(event.metadata().target().to_string()),
        );
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Records an event's fields as JSON values.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().into(), Value::String(value.to_string()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().into(), Value::String(value.to_string()));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_carry_timestamp_level_message_and_the_component() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span =
                tracing::error_span!("output", component_id = "archive", component_type = "file");
            let _entered = span.enter();
            tracing::warn!(path = "out/x.ndjson", bytes = 12u64, "Cannot \"write\".");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "Cannot \"write\".");
        assert_eq!(line["component_kind"], "output");
        assert_eq!(line["component_id"], "archive");
        assert_eq!(line["component_type"], "file");
        assert_eq!(line["path"], "out/x.ndjson");
        assert_eq!(line["bytes"], 12);
        let timestamp = line["@timestamp"].as_str().unwrap();
        assert!(
            sluice::event::parse_timestamp(timestamp).is_some(),
            "{timestamp}"
        );
    }
}
