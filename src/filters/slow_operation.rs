//! `type = "slow_operation"`: flag slow operations, the seed's "パフォーマンスアラート" block:
//! when `category == "performance"` and `durationMs > 1000`, set
//! `performance_alert = "slow_operation"`.
//!
//! Options: `category_field` (default `category`), `category` (default `performance`),
//! `field` (default `durationMs`), `threshold` (default `1000`; strictly greater than),
//! `target` (default `performance_alert`), `value` (default `slow_operation`).
//!
//! Numeric strings compare numerically: a duration logged as `"1500"` is slow, as is
//! `1500.5`. Logstash would raise a comparison error on a string (the seed's `[durationMs] >
//! 1000` needs a number), so such events were never flagged there. Non-numeric or missing
//! durations are not slow. As with severity, the value is set rather than appended.

use super::{FilterBuild, FilterType, Outcome};
use crate::config::ConfigError;
use crate::event::{Event, FieldPath};
use serde::Deserialize;
use serde_json::Value;

fn default_category_field() -> FieldPath {
    FieldPath::top_level("category")
}

fn default_category() -> String {
    "performance".to_string()
}

fn default_field() -> FieldPath {
    FieldPath::top_level("durationMs")
}

fn default_threshold() -> f64 {
    1000.0
}

fn default_target() -> FieldPath {
    FieldPath::top_level("performance_alert")
}

fn default_value() -> String {
    "slow_operation".to_string()
}

/// Settings of the slow_operation filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowOperationConfig {
    #[serde(default = "default_category_field")]
    pub category_field: FieldPath,
    #[serde(default = "default_category")]
    pub category: String,
    #[serde(default = "default_field")]
    pub field: FieldPath,
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    #[serde(default = "default_target")]
    pub target: FieldPath,
    #[serde(default = "default_value")]
    pub value: String,
}

/// The compiled slow_operation filter.
#[derive(Debug)]
pub struct SlowOperationFilter {
    config: SlowOperationConfig,
    value: Value,
}

impl SlowOperationFilter {
    pub fn new(config: &SlowOperationConfig) -> Self {
        Self {
            config: config.clone(),
            value: Value::String(config.value.clone()),
        }
    }
}

impl FilterType for SlowOperationFilter {
    type Config = SlowOperationConfig;

    fn apply(&self, event: &mut Event) -> Outcome {
        let in_category = matches!(
            event.get(&self.config.category_field),
            Some(Value::String(category)) if *category == self.config.category
        );
        if !in_category {
            return Outcome::Keep;
        }
        let slow = event
            .get(&self.config.field)
            .and_then(crate::condition::numeric)
            .is_some_and(|duration| duration > self.config.threshold);
        if slow {
            event.insert(&self.config.target, self.value.clone());
        }
        Outcome::Keep
    }

    fn writes(&self) -> Option<Vec<FieldPath>> {
        Some(vec![self.config.target.clone()])
    }

    fn build(config: &SlowOperationConfig, _build: &FilterBuild<'_>) -> Result<Self, ConfigError> {
        Ok(Self::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flagged(config: Value, event: Value) -> bool {
        let config: SlowOperationConfig = serde_json::from_value(config).unwrap();
        let mut event = Event::from_value(event);
        SlowOperationFilter::new(&config).apply(&mut event);
        event.get(&config.target) == Some(&json!(config.value))
    }

    #[test]
    fn threshold_is_strictly_greater() {
        let performance =
            |duration: Value| json!({"category": "performance", "durationMs": duration});
        assert!(!flagged(json!({}), performance(json!(1000))));
        assert!(flagged(json!({}), performance(json!(1001))));
        assert!(flagged(json!({}), performance(json!(1000.5))));
        assert!(flagged(json!({}), performance(json!("1500"))));
        assert!(!flagged(json!({}), performance(json!("slow"))));
        assert!(!flagged(json!({}), json!({"category": "performance"})));
    }

    #[test]
    fn other_categories_are_ignored() {
        assert!(!flagged(
            json!({}),
            json!({"category": "message", "durationMs": 5000})
        ));
        assert!(!flagged(json!({}), json!({"durationMs": 5000})));
    }

    #[test]
    fn everything_is_configurable() {
        let config = json!({
            "category_field": "kind", "category": "db", "field": "took",
            "threshold": 10, "target": "alerts.slow", "value": "yes"
        });
        assert!(flagged(config.clone(), json!({"kind": "db", "took": 11})));
        assert!(!flagged(config, json!({"kind": "db", "took": 10})));
    }
}
