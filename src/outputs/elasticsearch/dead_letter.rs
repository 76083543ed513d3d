//! What the Elasticsearch output writes into its dead letters (the file itself, shared by
//! every output, is [`crate::outputs::delivery::dead_letter`]): the index the event was
//! going to, its `_id` when it had one, and the item's HTTP status, 0 when there was no
//! answer to give one (`retries_exhausted`).

use crate::outputs::delivery::{DeadLetter, DeadLetters, FieldWriter, LetterFields, Written};

/// Where a refused event was going and what the cluster answered.
#[derive(Debug, Clone, Copy)]
pub struct RefusedItem<'a> {
    pub index: &'a str,
    pub id: Option<&'a str>,
    /// The item's HTTP status; 0 when it got none.
    pub status: u16,
}

impl LetterFields for RefusedItem<'_> {
    fn write_fields(&self, fields: &mut FieldWriter<'_>) {
        fields.text("index", self.index);
        if let Some(id) = self.id {
            fields.text("_id", id);
        }
        fields.number("status", u64::from(self.status));
    }
}

/// Logs each refused event once its fate is known: written to the dead-letter file (the
/// first `written.kept`), or dropped because the file is at its size limit (the rest, also
/// reported in one error line).
pub fn report_letters(
    output: &str,
    refused: &'static str,
    letters: &[DeadLetter<'_, RefusedItem<'_>>],
    file: &DeadLetters,
    written: Written,
) {
    for (at, letter) in letters.iter().enumerate() {
        let fate = if at < written.kept {
            "written to the dead-letter file"
        } else {
            "dropped, the dead-letter file is full"
        };
        tracing::warn!(
            output = %output,
            index = %letter.fields.index,
            status = letter.fields.status,
            error = %letter.error_type,
            reason = %letter.reason,
            "{refused}; {fate}."
        );
    }
    file.report_dropped(written);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn item<'a>(index: &'a str, id: Option<&'a str>, status: u16) -> RefusedItem<'a> {
        RefusedItem { index, id, status }
    }

    /// What the file holds after each of `writes` was written on its own.
    fn file_after(writes: &[&[DeadLetter<'_, RefusedItem<'_>>]]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead_letter/es.ndjson");
        let letters = DeadLetters::new(path.clone(), "es", 0);
        for write in writes {
            letters.write(write).unwrap();
        }
        std::fs::read_to_string(&path).unwrap()
    }

    #[test]
    fn letters_are_ndjson_with_the_event_embedded() {
        let text = file_after(&[
            &[DeadLetter {
                fields: item("mqtt-logs-2024.05.01", Some("abc"), 400),
                error_type: "mapper_parsing_exception",
                reason: "failed to parse field [durationMs] of type [long]",
                source: br#"{"durationMs":"slow"}"#,
            }],
            &[DeadLetter {
                fields: item("x", None, 404),
                error_type: "index_not_found_exception",
                reason: "no such index",
                source: b"{}",
            }],
        ]);
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], json!({"durationMs": "slow"}));
        assert_eq!(lines[0]["status"], json!(400));
        assert_eq!(lines[0]["error"]["type"], json!("mapper_parsing_exception"));
        assert_eq!(lines[0]["_id"], json!("abc"));
        assert_eq!(lines[1]["output"], json!("es"));
        assert!(lines[1].get("_id").is_none());
    }

    /// The on-disk format the README documents and replay tooling reads, byte for byte
    /// (the time aside): a change of key order, spacing or escaping breaks those readers.
    #[test]
    fn a_letter_line_is_written_byte_for_byte_as_documented() {
        let text = file_after(&[&[
            DeadLetter {
                fields: item("mqtt-logs-2024.05.01", Some("a\"b"), 400),
                error_type: "mapper_parsing_exception",
                reason: "failed to parse [x]\n",
                source: br#"{"x":"slow"}"#,
            },
            DeadLetter {
                fields: item("", None, 0),
                error_type: "retries_exhausted",
                reason: "gave up",
                source: b"not json",
            },
        ]]);
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        assert_eq!(lines.len(), 2);
        let mut without_time = Vec::new();
        for line in &lines {
            let time = serde_json::from_str::<Value>(line).unwrap()["@timestamp"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(
                chrono::DateTime::parse_from_rfc3339(&time).is_ok(),
                "{time}"
            );
            without_time.push(line.replacen(&time, "T", 1));
        }
        assert_eq!(
            without_time,
            [
                concat!(
                    r#"{"@timestamp":"T","output":"es","index":"mqtt-logs-2024.05.01","_id":"a\"b","#,
                    r#""status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse [x]\n"},"#,
                    r#""event":{"x":"slow"}}"#,
                    "\n"
                ),
                concat!(
                    r#"{"@timestamp":"T","output":"es","index":"","status":0,"#,
                    r#""error":{"type":"retries_exhausted","reason":"gave up"},"event":"not json"}"#,
                    "\n"
                ),
            ]
        );
    }
}
