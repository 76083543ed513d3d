//! `type = "split"`: one event into several, one per line (or per array element) of a
//! field, as Logstash's split filter does.
//!
//! Why: a record that carries a batch (`"readings": [...]`, a multi-line message) is easier
//! to search and alert on as one event per item. Options (Logstash's names and defaults):
//!
//! * `field` (`message`): a string, split on `terminator` (`"\n"`), or an array, one event
//!   per element.
//! * `target`: where each piece goes (default: `field` itself).
//! * Each new event is a copy of the original with its piece; empty pieces make no event.
//!   The original goes no further. The common options (`add_field`, ...) run on every new
//!   event. A string with no terminator in it is left as it is (and the common options do
//!   not run), as Logstash does.
//! * A field that is neither a string nor an array gets the tag `_split_type_failure`; a
//!   missing field leaves the event as it is.
//!
//! New events continue from the next filter and leave in the original's place, in order.

use super::{FilterBuild, FilterType, Outcome};
use crate::config::ConfigError;
use crate::event::{Event, FieldPath};
use serde::Deserialize;
use serde_json::Value;

/// The tag of an event whose field cannot be split.
pub const TYPE_FAILURE_TAG: &str = "_split_type_failure";

fn default_field() -> FieldPath {
    super::known_path("message")
}

fn default_terminator() -> String {
    "\n".to_string()
}

/// Settings of the split filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    #[serde(default = "default_field")]
    pub field: FieldPath,
    #[serde(default)]
    pub target: Option<FieldPath>,
    #[serde(default = "default_terminator")]
    pub terminator: String,
}

/// The compiled split filter.
#[derive(Debug)]
pub struct SplitFilter {
    config: SplitConfig,
}

impl SplitFilter {
    pub fn new(config: &SplitConfig) -> Result<Self, String> {
        if config.terminator.is_empty() {
            return Err("`terminator` must not be empty".to_string());
        }
        Ok(Self {
            config: config.clone(),
        })
    }
}

impl FilterType for SplitFilter {
    type Config = SplitConfig;

    /// Without a place for new events this only checks the field; the chain calls
    /// [`apply_emitting`](FilterType::apply_emitting).
    fn apply(&self, event: &mut Event) -> Outcome {
        let mut emitted = Vec::new();
        let outcome = self.apply_emitting(event, &mut emitted);
        if outcome == Outcome::Replaced {
            // Nowhere to send the pieces: keep the original rather than lose it.
            return Outcome::Keep;
        }
        outcome
    }

    fn apply_emitting(&self, event: &mut Event, emitted: &mut Vec<Event>) -> Outcome {
        let pieces: Vec<Value> = match event.get(&self.config.field) {
            None => return Outcome::Skipped,
            Some(Value::String(text)) => {
                if !text.contains(self.config.terminator.as_str()) {
                    return Outcome::Skipped;
                }
                text.split(self.config.terminator.as_str())
                    .filter(|piece| !piece.is_empty())
                    .map(|piece| Value::String(piece.to_string()))
                    .collect()
            }
            Some(Value::Array(items)) => items
                .iter()
                .filter(|item| !matches!(item, Value::String(text) if text.is_empty()))
                .cloned()
                .collect(),
            Some(_) => {
                event.add_tag(TYPE_FAILURE_TAG);
                return Outcome::Failed;
            }
        };
        let target = self.config.target.as_ref().unwrap_or(&self.config.field);
        emitted.extend(pieces.into_iter().map(|piece| {
            let mut copy = event.clone();
            copy.insert(target, piece);
            copy
        }));
        Outcome::Replaced
    }

    fn build(config: &SplitConfig, build: &FilterBuild<'_>) -> Result<Self, ConfigError> {
        Self::new(config).map_err(|message| build.invalid(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn split(config: Value, event: Value) -> (Outcome, Value, Vec<Value>) {
        let config: SplitConfig = serde_json::from_value(config).unwrap();
        let mut event = Event::from_value(event);
        let mut emitted = Vec::new();
        let outcome = SplitFilter::new(&config)
            .unwrap()
            .apply_emitting(&mut event, &mut emitted);
        (
            outcome,
            event.to_value(),
            emitted.iter().map(Event::to_value).collect(),
        )
    }

    #[test]
    fn lines_become_events_and_empty_lines_none() {
        let (outcome, _, emitted) = split(json!({}), json!({"message": "a\n\nb\n", "k": 1}));
        assert_eq!(outcome, Outcome::Replaced);
        assert_eq!(
            emitted,
            [
                json!({"message": "a", "k": 1}),
                json!({"message": "b", "k": 1})
            ]
        );
    }

    #[test]
    fn arrays_split_per_element_into_a_target() {
        let (_, _, emitted) = split(
            json!({"field": "readings", "target": "reading"}),
            json!({"readings": [{"v": 1}, {"v": 2}]}),
        );
        assert_eq!(
            emitted,
            [
                json!({"readings": [{"v": 1}, {"v": 2}], "reading": {"v": 1}}),
                json!({"readings": [{"v": 1}, {"v": 2}], "reading": {"v": 2}})
            ]
        );
    }

    #[test]
    fn custom_terminator_single_piece_missing_field_and_wrong_type() {
        let (_, _, emitted) = split(json!({"terminator": ", "}), json!({"message": "x, y"}));
        assert_eq!(emitted, [json!({"message": "x"}), json!({"message": "y"})]);
        let (outcome, event, emitted) = split(json!({}), json!({"message": "one line"}));
        assert_eq!((outcome, emitted.len()), (Outcome::Skipped, 0));
        assert_eq!(event, json!({"message": "one line"}));
        let (outcome, _, _) = split(json!({}), json!({"other": 1}));
        assert_eq!(outcome, Outcome::Skipped);
        let (outcome, event, _) = split(json!({}), json!({"message": 5}));
        assert_eq!(outcome, Outcome::Failed);
        assert_eq!(event["tags"], json!([TYPE_FAILURE_TAG]));
    }

    #[test]
    fn an_empty_terminator_is_rejected() {
        let config: SplitConfig = serde_json::from_value(json!({"terminator": ""})).unwrap();
        assert!(SplitFilter::new(&config).is_err());
    }
}
