//! `type = "topic_split"`: split an MQTT topic into its levels, the seed's `ruby` block
//! (`topic.split("/")` into `topic_levels`, `topic_root`, `topic_device`, `topic_metric`).
//!
//! Why native: it runs for every message event, and a split over a borrowed string needs no
//! script engine. Options: `source` (default `details.topic`), `prefix` (default `topic_`),
//! `count` (name of the level count field, default `levels`), `levels` (names of the fields
//! for the first levels, default `["root", "device", "metric"]`). Field names are
//! `prefix + name`; a prefix like `topic.` nests them.
//!
//! **MQTT semantics, not Ruby's**: every `/` separates two levels and empty levels count
//! (MQTT 3.1.1 §4.7.1.1). So `/a/b` has 3 levels with root `""`, and `a/b/` has 3 levels with
//! an empty third level. The seed's Ruby `split("/")` drops *trailing* empty strings:
//! `"a/b/".split("/")` gives 2 parts, so Logstash reports `topic_levels = 2` and no
//! `topic_metric` there; leading empty levels (`/a/b`) agree with Ruby. A missing, non-string
//! or empty topic (an empty topic is not a valid MQTT topic) sets no fields.
//!
//! **`split = "ruby"`**: Ruby's semantics instead, exactly what the seed's `ruby` block does
//! in Logstash, so that block (recognised by the `.conf` front end) runs natively: trailing
//! empty levels are dropped (`a/b/` has 2 levels), an empty topic has 0 levels (only the
//! count is set), a missing, `null` or `false` topic sets nothing (`if topic` is false), and
//! any other value that is not a string (Ruby raises `NoMethodError` on `split`) fails the
//! filter: tagged `tag_on_failure` (default `_rubyexception`, the ruby filter's tag), the
//! common options not applied.

use super::{FilterBuild, FilterType, Outcome};
use crate::config::ConfigError;
use crate::event::{Event, FieldPath};
use serde::Deserialize;
use serde_json::Value;

fn default_source() -> FieldPath {
    super::known_path("details.topic")
}

fn default_prefix() -> String {
    "topic_".to_string()
}

fn default_count() -> String {
    "levels".to_string()
}

fn default_levels() -> Vec<String> {
    ["root", "device", "metric"]
        .into_iter()
        .map(String::from)
        .collect()
}

/// Settings of the topic_split filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSplitConfig {
    #[serde(default = "default_source")]
    pub source: FieldPath,
    #[serde(default = "default_prefix")]
    pub prefix: String,
    #[serde(default = "default_count")]
    pub count: String,
    #[serde(default = "default_levels")]
    pub levels: Vec<String>,
    #[serde(default)]
    pub split: SplitSemantics,
    /// With `split = "ruby"`: the tag of a topic that is not a string.
    #[serde(default = "default_tag_on_failure")]
    pub tag_on_failure: String,
}

fn default_tag_on_failure() -> String {
    "_rubyexception".to_string()
}

/// Whose rules cut a topic into levels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitSemantics {
    /// MQTT's: every `/` separates two levels, empty ones included.
    #[default]
    Mqtt,
    /// Ruby's `String#split("/")`, as the seed's Logstash `ruby` block.
    Ruby,
}

/// The compiled topic_split filter.
#[derive(Debug)]
pub struct TopicSplitFilter {
    source: FieldPath,
    count: FieldPath,
    levels: Vec<FieldPath>,
    split: SplitSemantics,
    tag_on_failure: String,
}

impl TopicSplitFilter {
    pub fn new(config: &TopicSplitConfig) -> Result<Self, String> {
        let field = |name: &str| {
            let full = format!("{}{name}", config.prefix);
            FieldPath::parse(&full).map_err(|e| format!("field name `{full}`: {e}"))
        };
        Ok(Self {
            source: config.source.clone(),
            count: field(&config.count)?,
            levels: config
                .levels
                .iter()
                .map(|name| field(name))
                .collect::<Result<_, _>>()?,
            split: config.split,
            tag_on_failure: config.tag_on_failure.clone(),
        })
    }
}

impl FilterType for TopicSplitFilter {
    type Config = TopicSplitConfig;

    fn apply(&self, event: &mut Event) -> Outcome {
        if self.split == SplitSemantics::Ruby {
            return self.apply_ruby(event);
        }
        let topic = match event.get(&self.source) {
            Some(Value::String(topic)) if !topic.is_empty() => topic,
            _ => return Outcome::Keep,
        };
        let count = topic.bytes().filter(|b| *b == b'/').count() + 1;
        let mut values: Vec<Value> = Vec::with_capacity(self.levels.len());
        values.extend(
            topic
                .split('/')
                .take(self.levels.len())
                .map(|level| Value::String(level.to_string())),
        );
        event.insert(&self.count, Value::from(count));
        for (path, value) in self.levels.iter().zip(values) {
            event.insert(path, value);
        }
        Outcome::Keep
    }

    fn writes(&self) -> Option<Vec<FieldPath>> {
        Some(
            std::iter::once(&self.count)
                .chain(&self.levels)
                .cloned()
                .collect(),
        )
    }

    fn build(config: &TopicSplitConfig, build: &FilterBuild<'_>) -> Result<Self, ConfigError> {
        Self::new(config).map_err(|message| build.invalid(message))
    }
}

impl TopicSplitFilter {
    /// `split = "ruby"`: the seed's ruby block, `parts = topic.split("/")` if `topic`.
    fn apply_ruby(&self, event: &mut Event) -> Outcome {
        let mut levels: Vec<Value> = match event.get(&self.source) {
            None | Some(Value::Null | Value::Bool(false)) => return Outcome::Keep,
            Some(Value::String(topic)) => topic
                .split('/')
                .map(|level| Value::String(level.to_string()))
                .collect(),
            Some(_) => {
                event.add_tag(&self.tag_on_failure);
                return Outcome::Failed;
            }
        };
        while levels
            .last()
            .is_some_and(|level| level.as_str() == Some(""))
        {
            levels.pop();
        }
        event.insert(&self.count, Value::from(levels.len()));
        for (path, value) in self.levels.iter().zip(levels) {
            event.insert(path, value);
        }
        Outcome::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn split(config: Value, topic: Value) -> Value {
        let config: TopicSplitConfig = serde_json::from_value(config).unwrap();
        let mut event = Event::from_value(json!({"details": {"topic": topic}}));
        TopicSplitFilter::new(&config).unwrap().apply(&mut event);
        event.fields_mut().remove("details");
        event.to_value()
    }

    #[test]
    fn levels_one_to_three_and_count() {
        assert_eq!(
            split(json!({}), json!("sensors/dev1/temp/raw")),
            json!({"topic_levels": 4, "topic_root": "sensors", "topic_device": "dev1", "topic_metric": "temp"})
        );
        assert_eq!(
            split(json!({}), json!("sensors/dev1")),
            json!({"topic_levels": 2, "topic_root": "sensors", "topic_device": "dev1"})
        );
        assert_eq!(
            split(json!({}), json!("status")),
            json!({"topic_levels": 1, "topic_root": "status"})
        );
    }

    #[test]
    fn empty_levels_count_as_in_mqtt() {
        assert_eq!(
            split(json!({}), json!("/a/b")),
            json!({"topic_levels": 3, "topic_root": "", "topic_device": "a", "topic_metric": "b"})
        );
        assert_eq!(
            split(json!({}), json!("a/b/")),
            json!({"topic_levels": 3, "topic_root": "a", "topic_device": "b", "topic_metric": ""})
        );
    }

    #[test]
    fn no_topic_no_fields() {
        assert_eq!(split(json!({}), json!("")), json!({}));
        assert_eq!(split(json!({}), json!(null)), json!({}));
        assert_eq!(split(json!({}), json!(7)), json!({}));
    }

    #[test]
    fn ruby_split_drops_trailing_empty_levels_and_fails_on_non_strings() {
        let ruby = || json!({"split": "ruby"});
        assert_eq!(
            split(ruby(), json!("a/b/")),
            json!({"topic_levels": 2, "topic_root": "a", "topic_device": "b"})
        );
        assert_eq!(
            split(ruby(), json!("/a//b/c")),
            json!({"topic_levels": 5, "topic_root": "", "topic_device": "a", "topic_metric": ""})
        );
        assert_eq!(split(ruby(), json!("")), json!({"topic_levels": 0}));
        assert_eq!(split(ruby(), json!("//")), json!({"topic_levels": 0}));
        assert_eq!(split(ruby(), json!(null)), json!({}));
        assert_eq!(split(ruby(), json!(false)), json!({}));
        assert_eq!(split(ruby(), json!(7)), json!({"tags": ["_rubyexception"]}));
        assert_eq!(
            split(
                json!({"split": "ruby", "tag_on_failure": "bad"}),
                json!(true)
            ),
            json!({"tags": ["bad"]})
        );
    }

    #[test]
    fn names_and_prefix_are_configurable() {
        assert_eq!(
            split(
                json!({"prefix": "mqtt.", "count": "depth", "levels": ["site", "room"]}),
                json!("plant/hall/t")
            ),
            json!({"mqtt": {"depth": 3, "site": "plant", "room": "hall"}})
        );
    }
}
