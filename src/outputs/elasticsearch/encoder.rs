//! `_bulk` NDJSON, written straight into one buffer.
//!
//! Each event becomes an action line and a source line appended to the request buffer; the
//! encoder keeps only the byte range of each item, so a per-item retry copies those bytes into
//! a smaller request and a dead letter quotes the source line, neither serialises the event
//! again. The event is written by `event::json` (byte-identical to `serde_json`, a third
//! cheaper). Index names come from the `index` template, whose date part is rendered once per
//! `@timestamp` day ([`CachingTemplate`]); a name that still holds an unresolved
//! `%{...}` is refused here (the caller dead-letters it) instead of creating a strangely named
//! index.
//!
//! ## Deterministic ids
//! Without `document_id`, an event that has an origin gets the id
//! `hex(sha256(host.name, log.file.path, log.offset, source)[..16])`: reading the same line
//! again (a restart before the checkpoint was written, a Filebeat reconnect resending its
//! window) produces the same id, so `create` answers 409 and nothing is duplicated. The
//! document itself is part of the hash because the origin alone is not unique: after a
//! copy-truncate rotation the same path and offsets come back with other lines, and a script
//! may emit several events from one line. The price: where `@timestamp` is the read time
//! (lines without their own time), a resend after a crash is a second document, never a lost
//! one. The id is reserved as 32 placeholder bytes in the action line and patched once the
//! source line is written, so nothing is moved.

use super::config::{index_name_problem, Action};
use crate::event::{find_small, json, CachingTemplate, Event, Template, TIMESTAMP};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::ops::Range;

/// Length of a derived id (hex of 128 bits).
const DERIVED_ID_LEN: usize = 32;

/// One encoded item: where its two lines are in the request buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemSpan {
    /// Action line and source line, both newlines included.
    pub range: Range<usize>,
    /// Where the source line starts inside `range`.
    pub source_start: usize,
}

impl ItemSpan {
    pub fn action<'a>(&self, buffer: &'a [u8]) -> &'a [u8] {
        &buffer[self.range.start..self.source_start.saturating_sub(1)]
    }

    /// The document as sent (JSON, without the newline).
    pub fn source<'a>(&self, buffer: &'a [u8]) -> &'a [u8] {
        &buffer[self.source_start..self.range.end.saturating_sub(1)]
    }

    pub fn len(&self) -> usize {
        self.range.len()
    }

    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }
}

/// Why an event cannot be sent (it is dead-lettered with status 400 and this reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub index: String,
    pub error_type: &'static str,
    pub reason: String,
}

/// How ids are chosen.
#[derive(Debug, Clone)]
pub enum IdPolicy {
    /// The cluster generates ids.
    Auto,
    /// A template per event.
    Template(Template),
    /// `[@metadata][_id]` when present, else derived from the origin when there is one.
    Derived,
}

/// Turns events into `_bulk` items.
#[derive(Debug)]
pub struct Encoder {
    /// The index name template, with its daily part rendered once per day.
    index: CachingTemplate,
    /// Whether each rendered index name is checked (templates with `%{...}` parts).
    check_index_name: bool,
    /// `{"create":{"_index":` or `{"index":{"_index":`.
    action_prefix: &'static [u8],
    ids: IdPolicy,
    data_stream: bool,
    index_name: String,
    id_text: String,
}

impl Encoder {
    pub fn new(index: Template, action: Action, ids: IdPolicy, data_stream: bool) -> Self {
        Self {
            check_index_name: !index.is_static(),
            index: CachingTemplate::new(index),
            action_prefix: match action {
                Action::Create => br#"{"create":{"_index":"#,
                Action::Index => br#"{"index":{"_index":"#,
            },
            ids,
            data_stream,
            index_name: String::with_capacity(64),
            id_text: String::with_capacity(64),
        }
    }

    /// Appends `event` to `buffer` as one item. On a rejection `buffer` is left as it was.
    pub fn encode(&mut self, event: &Event, buffer: &mut Vec<u8>) -> Result<ItemSpan, Rejection> {
        self.index_name.clear();
        if !self.index.render_into(event, &mut self.index_name) {
            return Err(Rejection {
                index: self.index_name.clone(),
                error_type: "unresolved_index_name",
                reason: format!(
                    "index name `{}` has a reference the event cannot resolve",
                    self.index_name
                ),
            });
        }
        // A static name was checked when the pipeline was built; `%{...}` parts can make any
        // name, which Elasticsearch would refuse item by item.
        if self.check_index_name {
            if let Some(problem) = index_name_problem(&self.index_name) {
                return Err(Rejection {
                    index: self.index_name.clone(),
                    error_type: "invalid_index_name",
                    reason: format!("index name `{}`: {problem}", self.index_name),
                });
            }
        }
        if self.data_stream && !matches!(event.get_field(TIMESTAMP), Some(Value::String(_))) {
            return Err(Rejection {
                index: self.index_name.clone(),
                error_type: "missing_timestamp",
                reason: "data stream timestamp field [@timestamp] is missing".into(),
            });
        }
        // The origin to derive an id from, looked up once and only when one is derived.
        let mut derive = None;
        let mut explicit_id = false;
        match &self.ids {
            IdPolicy::Auto => {}
            IdPolicy::Template(template) => {
                self.id_text.clear();
                if !template.render_into(event, &mut self.id_text) {
                    return Err(Rejection {
                        index: self.index_name.clone(),
                        error_type: "unresolved_document_id",
                        reason: format!(
                            "document id `{}` has a reference the event cannot resolve",
                            self.id_text
                        ),
                    });
                }
                explicit_id = true;
            }
            IdPolicy::Derived => match event.metadata().get("_id") {
                Some(Value::String(id)) if !id.is_empty() => {
                    self.id_text.clear();
                    self.id_text.push_str(id);
                    explicit_id = true;
                }
                _ => derive = origin(event),
            },
        }

        let start = buffer.len();
        buffer.extend_from_slice(self.action_prefix);
        write_json_string(buffer, &self.index_name);
        let mut placeholder = None;
        if explicit_id {
            buffer.extend_from_slice(br#","_id":"#);
            write_json_string(buffer, &self.id_text);
        } else if derive.is_some() {
            buffer.extend_from_slice(br#","_id":""#);
            placeholder = Some(buffer.len());
            buffer.extend_from_slice(&[b'0'; DERIVED_ID_LEN]);
            buffer.push(b'"');
        }
        buffer.extend_from_slice(b"}}\n");
        let source_start = buffer.len();
        if let Err(e) = event.write_json(buffer) {
            buffer.truncate(start);
            return Err(Rejection {
                index: self.index_name.clone(),
                error_type: "serialization_error",
                reason: format!("the event cannot be written as JSON: {e}"),
            });
        }
        if let (Some(at), Some((host, path, offset))) = (placeholder, derive) {
            let mut hasher = Sha256::new();
            for part in [host.as_bytes(), path.as_bytes()] {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part);
            }
            hasher.update(offset.to_le_bytes());
            hasher.update(&buffer[source_start..]);
            let digest = hasher.finalize();
            write_hex(
                &digest[..DERIVED_ID_LEN / 2],
                &mut buffer[at..at + DERIVED_ID_LEN],
            );
        }
        buffer.push(b'\n');
        Ok(ItemSpan {
            range: start..buffer.len(),
            source_start,
        })
    }
}

/// `(host.name, log.file.path, log.offset)` when the event came from a file (ours or
/// Filebeat's).
fn origin(event: &Event) -> Option<(&str, &str, u64)> {
    let fields = event.fields();
    let log = find_small(fields, "log")?.as_object()?;
    let path = find_small(find_small(log, "file")?.as_object()?, "path")?.as_str()?;
    let offset = find_small(log, "offset")?.as_u64()?;
    let host = find_small(fields, "host")
        .and_then(Value::as_object)
        .and_then(|h| find_small(h, "name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    Some((host, path, offset))
}

/// A JSON string literal, quotes included.
pub fn write_json_string(buffer: &mut Vec<u8>, text: &str) {
    // Writing into a `Vec` cannot fail.
    let _ = json::write_str(buffer, text);
}

fn write_hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(byte >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn encoder(action: Action, ids: IdPolicy) -> Encoder {
        Encoder::new(
            Template::parse("mqtt-logs-%{+YYYY.MM.dd}").unwrap(),
            action,
            ids,
            false,
        )
    }

    fn file_event(offset: u64, message: &str) -> Event {
        Event::from_value(json!({
            "@timestamp": "2024-05-01T23:59:59.999Z",
            "message": message,
            "log": {"file": {"path": "/var/log/mqtt.log"}, "offset": offset},
            "host": {"name": "gw-01"}
        }))
    }

    fn lines(buffer: &[u8]) -> Vec<Value> {
        buffer
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    #[test]
    fn items_are_an_action_line_and_the_source_line() {
        let mut encoder = encoder(Action::Index, IdPolicy::Auto);
        let mut buffer = Vec::new();
        let event = Event::from_value(
            json!({"@timestamp": "2024-05-02T00:00:00.000Z", "message": "a \"quoted\"\nline"}),
        );
        let span = encoder.encode(&event, &mut buffer).unwrap();
        assert_eq!(span.range, 0..buffer.len());
        assert!(buffer.ends_with(b"\n"));
        assert_eq!(
            lines(&buffer),
            vec![
                json!({"index": {"_index": "mqtt-logs-2024.05.02"}}),
                event.to_value()
            ]
        );
        assert_eq!(
            serde_json::from_slice::<Value>(span.source(&buffer)).unwrap(),
            event.to_value()
        );
        assert_eq!(
            serde_json::from_slice::<Value>(span.action(&buffer)).unwrap(),
            json!({"index": {"_index": "mqtt-logs-2024.05.02"}})
        );
    }

    #[test]
    fn derived_ids_are_stable_and_differ_by_origin_and_content() {
        let mut encoder = encoder(Action::Create, IdPolicy::Derived);
        let id = |encoder: &mut Encoder, event: &Event| {
            let mut buffer = Vec::new();
            encoder.encode(event, &mut buffer).unwrap();
            let action = &lines(&buffer)[0];
            action["create"]["_id"].as_str().unwrap().to_string()
        };
        let first = id(&mut encoder, &file_event(10, "hello"));
        assert_eq!(first.len(), 32);
        assert_eq!(first, id(&mut encoder, &file_event(10, "hello")));
        assert_ne!(first, id(&mut encoder, &file_event(11, "hello")));
        assert_ne!(first, id(&mut encoder, &file_event(10, "other line")));
        let mut filebeat = file_event(10, "hello");
        filebeat
            .metadata_mut()
            .insert("_id".into(), json!("from-filebeat"));
        assert_eq!(id(&mut encoder, &filebeat), "from-filebeat");
        // No origin (stdin): the cluster picks the id.
        let mut buffer = Vec::new();
        encoder
            .encode(
                &Event::from_value(json!({"@timestamp": "2024-05-01T00:00:00Z"})),
                &mut buffer,
            )
            .unwrap();
        assert_eq!(
            lines(&buffer)[0],
            json!({"create": {"_index": "mqtt-logs-2024.05.01"}})
        );
    }

    #[test]
    fn unresolved_references_are_refused_and_leave_the_buffer_alone() {
        let mut encoder = Encoder::new(
            Template::parse("logs-%{[device][id]}").unwrap(),
            Action::Create,
            IdPolicy::Auto,
            false,
        );
        let mut buffer = b"previous\n".to_vec();
        let rejection = encoder
            .encode(&file_event(1, "x"), &mut buffer)
            .unwrap_err();
        assert_eq!(rejection.index, "logs-%{[device][id]}");
        assert_eq!(rejection.error_type, "unresolved_index_name");
        assert_eq!(buffer, b"previous\n");

        let mut encoder = encoder_with_id_template("%{[missing]}");
        assert_eq!(
            encoder
                .encode(&file_event(1, "x"), &mut buffer)
                .unwrap_err()
                .error_type,
            "unresolved_document_id"
        );
    }

    /// A name made from an event's fields can be one Elasticsearch refuses; it is
    /// dead-lettered with the reason instead of failing in the bulk response.
    #[test]
    fn rendered_index_names_elasticsearch_refuses_are_rejected_with_the_reason() {
        let mut encoder = Encoder::new(
            Template::parse("logs-%{[host][name]}").unwrap(),
            Action::Create,
            IdPolicy::Auto,
            false,
        );
        let mut buffer = b"previous\n".to_vec();
        let event = Event::from_value(json!({"host": {"name": "GW 01"}}));
        let rejection = encoder.encode(&event, &mut buffer).unwrap_err();
        assert_eq!(rejection.error_type, "invalid_index_name");
        assert_eq!(
            rejection.reason,
            "index name `logs-GW 01`: an index name must be lowercase (`G`)"
        );
        assert_eq!(buffer, b"previous\n");
        assert!(encoder.encode(&file_event(2, "x"), &mut buffer).is_ok());
    }

    fn encoder_with_id_template(template: &str) -> Encoder {
        encoder(
            Action::Index,
            IdPolicy::Template(Template::parse(template).unwrap()),
        )
    }

    #[test]
    fn ids_and_index_names_are_json_escaped() {
        let mut encoder = Encoder::new(
            Template::parse("%{name}").unwrap(),
            Action::Index,
            IdPolicy::Template(Template::parse("%{id}").unwrap()),
            false,
        );
        let mut buffer = Vec::new();
        // A quote is refused in an index name (`index_name_problem`), a control character is
        // not.
        let event = Event::from_value(json!({"name": "a\u{1}b", "id": "x\\y\"\u{1}"}));
        encoder.encode(&event, &mut buffer).unwrap();
        assert_eq!(
            lines(&buffer)[0],
            json!({"index": {"_index": "a\u{1}b", "_id": "x\\y\"\u{1}"}})
        );
    }

    #[test]
    fn data_streams_need_a_timestamp() {
        let mut encoder = Encoder::new(
            Template::parse("logs-mqtt-default").unwrap(),
            Action::Create,
            IdPolicy::Auto,
            true,
        );
        let mut buffer = Vec::new();
        let rejection = encoder
            .encode(&Event::from_value(json!({"message": "x"})), &mut buffer)
            .unwrap_err();
        assert_eq!(rejection.error_type, "missing_timestamp");
        assert!(encoder.encode(&file_event(0, "x"), &mut buffer).is_ok());
    }
}
