//! `type = "severity"`: map a log level to a severity (`error` → `high`, `warn` → `medium`,
//! anything else → `low`), the seed's "エラーレベルの分類" block as one lookup.
//!
//! Why a filter instead of three guarded `mutate`s: the seed's if/else-if/else chain is one
//! decision, and one native step is both clearer and cheaper. Options: `field` (default
//! `level`), `target` (default `severity`), `mapping` (level → severity, default
//! `{ error = "high", warn = "medium" }`), `default` (default `low`; used for any other level,
//! a missing level, or a non-string level). Matching is exact (case-sensitive), like the
//! seed's `==`.
//!
//! Difference from the seed: Logstash's `add_field` appends when the target already exists
//! (turning it into an array); this filter sets the value, so a re-processed event keeps a
//! single severity. `append = true` appends as Logstash does: the `.conf` front end compiles
//! the seed's `if [level] == … else …` chain of `add_field`s to this filter with it.

use super::{FilterBuild, FilterType, Outcome};
use crate::config::ConfigError;
use crate::event::{Event, FieldPath};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

fn default_field() -> FieldPath {
    FieldPath::top_level("level")
}

fn default_target() -> FieldPath {
    FieldPath::top_level("severity")
}

fn default_mapping() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("error".to_string(), "high".to_string()),
        ("warn".to_string(), "medium".to_string()),
    ])
}

fn default_severity() -> String {
    "low".to_string()
}

/// Settings of the severity filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityConfig {
    #[serde(default = "default_field")]
    pub field: FieldPath,
    #[serde(default = "default_target")]
    pub target: FieldPath,
    #[serde(default = "default_mapping")]
    pub mapping: BTreeMap<String, String>,
    #[serde(default = "default_severity")]
    pub default: String,
    /// Append to an existing target (Logstash's `add_field`) instead of replacing it.
    #[serde(default)]
    pub append: bool,
}

/// The compiled severity filter.
#[derive(Debug)]
pub struct SeverityFilter {
    field: FieldPath,
    target: FieldPath,
    /// Few entries: a linear scan over (level, severity value) beats hashing.
    mapping: Vec<(String, Value)>,
    default: Value,
    append: bool,
}

impl SeverityFilter {
    pub fn new(config: &SeverityConfig) -> Self {
        Self {
            field: config.field.clone(),
            target: config.target.clone(),
            mapping: config
                .mapping
                .iter()
                .map(|(level, severity)| (level.clone(), Value::String(severity.clone())))
                .collect(),
            default: Value::String(config.default.clone()),
            append: config.append,
        }
    }
}

impl FilterType for SeverityFilter {
    type Config = SeverityConfig;

    fn apply(&self, event: &mut Event) -> Outcome {
        let severity = match event.get(&self.field) {
            Some(Value::String(level)) => self
                .mapping
                .iter()
                .find(|(known, _)| known == level)
                .map_or(&self.default, |(_, severity)| severity),
            _ => &self.default,
        };
        let severity = severity.clone();
        if self.append {
            super::common::add_value(event, &self.target, severity);
        } else {
            event.insert(&self.target, severity);
        }
        Outcome::Keep
    }

    fn writes(&self) -> Option<Vec<FieldPath>> {
        Some(vec![self.target.clone()])
    }

    fn build(config: &SeverityConfig, _build: &FilterBuild<'_>) -> Result<Self, ConfigError> {
        Ok(Self::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn severity_of(config: Value, event: Value) -> Option<Value> {
        let config: SeverityConfig = serde_json::from_value(config).unwrap();
        let mut event = Event::from_value(event);
        SeverityFilter::new(&config).apply(&mut event);
        event.get(&config.target).cloned()
    }

    #[test]
    fn seed_mapping() {
        for (level, expected) in [
            (json!("error"), "high"),
            (json!("warn"), "medium"),
            (json!("info"), "low"),
            (json!("debug"), "low"),
            (json!("ERROR"), "low"),
            (json!(3), "low"),
        ] {
            assert_eq!(
                severity_of(json!({}), json!({"level": level})),
                Some(json!(expected)),
                "{level}"
            );
        }
        assert_eq!(severity_of(json!({}), json!({})), Some(json!("low")));
    }

    #[test]
    fn configurable_field_target_mapping_and_default() {
        let config = json!({
            "field": "log.level", "target": "alert.severity",
            "mapping": {"fatal": "critical"}, "default": "none"
        });
        assert_eq!(
            severity_of(config.clone(), json!({"log": {"level": "fatal"}})),
            Some(json!("critical"))
        );
        assert_eq!(
            severity_of(config, json!({"log": {"level": "error"}})),
            Some(json!("none"))
        );
    }

    #[test]
    fn append_adds_to_an_existing_severity_as_add_field() {
        let append = || json!({"append": true});
        assert_eq!(
            severity_of(append(), json!({"level": "error", "severity": "low"})),
            Some(json!(["low", "high"]))
        );
        assert_eq!(
            severity_of(append(), json!({"level": "warn"})),
            Some(json!("medium"))
        );
    }

    #[test]
    fn existing_severity_is_replaced_not_appended() {
        assert_eq!(
            severity_of(json!({}), json!({"level": "error", "severity": "low"})),
            Some(json!("high"))
        );
    }
}
