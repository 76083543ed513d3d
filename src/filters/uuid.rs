//! `type = "uuid"`: a random (version 4) UUID in a field, as Logstash's uuid filter does.
//!
//! Why: an id per event for de-duplication downstream or to correlate copies of one event
//! across outputs. Options (Logstash's names): `target` (required), `overwrite` (false: an
//! existing value is kept).

use super::{FilterBuild, FilterType, Outcome};
use crate::config::ConfigError;
use crate::event::{Event, FieldPath};
use serde::Deserialize;
use serde_json::Value;

/// Settings of the uuid filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UuidConfig {
    pub target: FieldPath,
    #[serde(default)]
    pub overwrite: bool,
}

/// The compiled uuid filter.
#[derive(Debug)]
pub struct UuidFilter {
    config: UuidConfig,
}

impl FilterType for UuidFilter {
    type Config = UuidConfig;

    fn apply(&self, event: &mut Event) -> Outcome {
        if self.config.overwrite || !event.contains(&self.config.target) {
            let id = uuid::Uuid::new_v4().to_string();
            event.insert(&self.config.target, Value::String(id));
        }
        Outcome::Keep
    }

    fn build(config: &UuidConfig, _build: &FilterBuild<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            config: config.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(config: Value, event: Value) -> Value {
        let config: UuidConfig = serde_json::from_value(config).unwrap();
        let filter = UuidFilter { config };
        let mut event = Event::from_value(event);
        assert_eq!(filter.apply(&mut event), Outcome::Keep);
        event.to_value()
    }

    #[test]
    fn sets_a_random_v4_uuid_and_keeps_an_existing_one_unless_told() {
        let first = run(json!({"target": "[meta][id]"}), json!({}));
        let id = first["meta"]["id"].as_str().unwrap();
        let parsed = uuid::Uuid::parse_str(id).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        let second = run(json!({"target": "[meta][id]"}), json!({}));
        assert_ne!(first, second);
        assert_eq!(
            run(json!({"target": "id"}), json!({"id": "mine"})),
            json!({"id": "mine"})
        );
        let replaced = run(
            json!({"target": "id", "overwrite": true}),
            json!({"id": "mine"}),
        );
        assert_ne!(replaced["id"], json!("mine"));
    }
}
