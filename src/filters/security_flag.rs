//! `type = "security_flag"`: mark security events for investigation, the seed's
//! "セキュリティイベントの強化" block: when `category == "security"`, set
//! `alert_type = "security"` and `requires_investigation = true`.
//!
//! Options: `category_field` (default `category`), `category` (default `security`),
//! `alert_field` (default `alert_type`), `alert_value` (default `security`), `flag_field`
//! (default `requires_investigation`).
//!
//! `requires_investigation` is the JSON boolean `true`. The seed's `add_field` makes it the
//! *string* `"true"` (add_field values are always strings in Logstash); a boolean is what
//! the field means and what Elasticsearch maps as `boolean`, so queries such as
//! `requires_investigation:true` behave the same while aggregations and scripts see a real
//! boolean. Dashboards built on the string `"true"` keyword need no change in Kibana's query
//! bar, but a `terms` filter on the string value would.

use super::{FilterBuild, FilterType, Outcome};
use crate::config::ConfigError;
use crate::event::{Event, FieldPath};
use serde::Deserialize;
use serde_json::Value;

fn default_category_field() -> FieldPath {
    FieldPath::top_level("category")
}

fn default_category() -> String {
    "security".to_string()
}

fn default_alert_field() -> FieldPath {
    FieldPath::top_level("alert_type")
}

fn default_alert_value() -> String {
    "security".to_string()
}

fn default_flag_field() -> FieldPath {
    FieldPath::top_level("requires_investigation")
}

/// Settings of the security_flag filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityFlagConfig {
    #[serde(default = "default_category_field")]
    pub category_field: FieldPath,
    #[serde(default = "default_category")]
    pub category: String,
    #[serde(default = "default_alert_field")]
    pub alert_field: FieldPath,
    #[serde(default = "default_alert_value")]
    pub alert_value: String,
    #[serde(default = "default_flag_field")]
    pub flag_field: FieldPath,
}

/// The compiled security_flag filter.
#[derive(Debug)]
pub struct SecurityFlagFilter {
    config: SecurityFlagConfig,
    alert_value: Value,
}

impl SecurityFlagFilter {
    pub fn new(config: &SecurityFlagConfig) -> Self {
        Self {
            config: config.clone(),
            alert_value: Value::String(config.alert_value.clone()),
        }
    }
}

impl FilterType for SecurityFlagFilter {
    type Config = SecurityFlagConfig;

    fn apply(&self, event: &mut Event) -> Outcome {
        let in_category = matches!(
            event.get(&self.config.category_field),
            Some(Value::String(category)) if *category == self.config.category
        );
        if in_category {
            event.insert(&self.config.alert_field, self.alert_value.clone());
            event.insert(&self.config.flag_field, Value::Bool(true));
        }
        Outcome::Keep
    }

    fn writes(&self) -> Option<Vec<FieldPath>> {
        Some(vec![
            self.config.alert_field.clone(),
            self.config.flag_field.clone(),
        ])
    }

    fn build(config: &SecurityFlagConfig, _build: &FilterBuild<'_>) -> Result<Self, ConfigError> {
        Ok(Self::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(config: Value, event: Value) -> Value {
        let config: SecurityFlagConfig = serde_json::from_value(config).unwrap();
        let mut event = Event::from_value(event);
        SecurityFlagFilter::new(&config).apply(&mut event);
        event.to_value()
    }

    #[test]
    fn security_events_are_flagged_with_a_boolean() {
        assert_eq!(
            run(json!({}), json!({"category": "security"})),
            json!({"category": "security", "alert_type": "security", "requires_investigation": true})
        );
    }

    #[test]
    fn other_events_are_untouched() {
        assert_eq!(
            run(json!({}), json!({"category": "Security"})),
            json!({"category": "Security"})
        );
        assert_eq!(run(json!({}), json!({})), json!({}));
    }

    #[test]
    fn names_are_configurable() {
        assert_eq!(
            run(
                json!({"category_field": "kind", "category": "auth", "alert_field": "alert.kind",
                       "alert_value": "auth", "flag_field": "alert.investigate"}),
                json!({"kind": "auth"})
            ),
            json!({"kind": "auth", "alert": {"kind": "auth", "investigate": true}})
        );
    }
}
