//! `type = "kv"`: `key=value` pairs out of a text field, as Logstash's kv filter does.
//!
//! Why: query strings, firewall and appliance logs (`src=10.0.0.1 dst=... action=drop`) are
//! pairs; naming every key with grok is tedious. Options (Logstash's names and defaults):
//!
//! * `source` (`message`); `target`: put the pairs under this field instead of at the root.
//! * `field_split` (`" "`) and `value_split` (`"="`): **sets of characters**, each of which
//!   separates (`field_split = "&?"`), as in Logstash.
//! * Values may be quoted: `"..."`, `'...'`, and with `include_brackets` (true) `(...)`,
//!   `[...]`, `<...>`; the quotes are removed. `whitespace` `"lenient"` (default) allows
//!   spaces around `value_split`, `"strict"` does not.
//! * `trim_key` / `trim_value`: characters stripped from both ends; `remove_char_key` /
//!   `remove_char_value`: characters removed everywhere; `transform_key` / `transform_value`:
//!   `lowercase`, `uppercase` or `capitalize`.
//! * `include_keys` / `exclude_keys` (after trimming, before `prefix`); `prefix` is put
//!   before every key; `default_keys = { key = "value" }` sets keys the text did not have.
//! * `allow_duplicate_values` (true): a key seen twice gets an array of its values; with
//!   false, repeated identical values are kept once. `allow_empty_values` (false): keep
//!   `key=` as `""`.
//! * A missing source field leaves the event as it is (no common options, as Logstash).
//!
//! Keys become top-level field names as written (a key `a.b` is the field `a.b`, not a
//! nested one). `field_split_pattern`, `value_split_pattern` and `recursive` are not
//! supported and rejected at load.

use super::{FilterBuild, FilterType, Outcome};
use crate::config::ConfigError;
use crate::event::{Event, FieldPath};
use serde::Deserialize;
use serde_json::{Map, Value};

fn default_source() -> FieldPath {
    super::known_path("message")
}

fn default_field_split() -> String {
    " ".to_string()
}

fn default_value_split() -> String {
    "=".to_string()
}

fn yes() -> bool {
    true
}

/// Settings of the kv filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvConfig {
    #[serde(default = "default_source")]
    pub source: FieldPath,
    #[serde(default)]
    pub target: Option<FieldPath>,
    #[serde(default)]
    pub prefix: String,
    #[serde(default = "default_field_split")]
    pub field_split: String,
    #[serde(default = "default_value_split")]
    pub value_split: String,
    #[serde(default)]
    pub include_keys: Vec<String>,
    #[serde(default)]
    pub exclude_keys: Vec<String>,
    #[serde(default)]
    pub trim_key: String,
    #[serde(default)]
    pub trim_value: String,
    #[serde(default)]
    pub remove_char_key: String,
    #[serde(default)]
    pub remove_char_value: String,
    #[serde(default)]
    pub transform_key: Option<Transform>,
    #[serde(default)]
    pub transform_value: Option<Transform>,
    #[serde(default)]
    pub default_keys: Map<String, Value>,
    #[serde(default = "yes")]
    pub allow_duplicate_values: bool,
    #[serde(default)]
    pub allow_empty_values: bool,
    #[serde(default = "yes")]
    pub include_brackets: bool,
    #[serde(default)]
    pub whitespace: Whitespace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    Lowercase,
    Uppercase,
    Capitalize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Whitespace {
    #[default]
    Lenient,
    Strict,
}

/// The compiled kv filter.
#[derive(Debug)]
pub struct KvFilter {
    config: KvConfig,
    scan: regex::Regex,
    default_keys: Vec<(String, Value)>,
}

/// A character class body matching any of `chars`, each escaped.
fn class(chars: &str) -> String {
    chars
        .chars()
        .map(|c| regex::escape(&c.to_string()))
        .collect()
}

impl KvFilter {
    pub fn new(config: &KvConfig) -> Result<Self, String> {
        if config.field_split.is_empty() || config.value_split.is_empty() {
            return Err("`field_split` and `value_split` need at least one character".into());
        }
        let fields = class(&config.field_split);
        let values = class(&config.value_split);
        let space = match config.whitespace {
            Whitespace::Lenient => r"\s*",
            Whitespace::Strict => "",
        };
        let brackets = if config.include_brackets {
            r"|\(([^)]*)\)|\[([^\]]*)\]|<([^>]*)>"
        } else {
            ""
        };
        let pattern = format!(
            r#"((?:\\ |[^{fields}{values}])+){space}[{values}]{space}(?:"([^"]*)"|'([^']*)'{brackets}|((?:\\ |[^{fields}])*))"#
        );
        let scan =
            regex::Regex::new(&pattern).map_err(|e| format!("cannot build the scanner: {e}"))?;
        let default_keys = config
            .default_keys
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        Ok(Self {
            config: config.clone(),
            scan,
            default_keys,
        })
    }

    /// The pairs of `text`, keys and values cleaned as configured, in order.
    fn pairs(&self, text: &str) -> Vec<(String, String)> {
        let config = &self.config;
        self.scan
            .captures_iter(text)
            .filter_map(|captures| {
                let key = captures.get(1)?.as_str();
                let value = (2..captures.len())
                    .find_map(|group| captures.get(group))
                    .map_or("", |m| m.as_str());
                let key = clean(
                    key,
                    &config.trim_key,
                    &config.remove_char_key,
                    config.transform_key,
                );
                let value = clean(
                    value,
                    &config.trim_value,
                    &config.remove_char_value,
                    config.transform_value,
                );
                if key.is_empty() || (value.is_empty() && !config.allow_empty_values) {
                    return None;
                }
                if !config.include_keys.is_empty() && !config.include_keys.contains(&key) {
                    return None;
                }
                if config.exclude_keys.contains(&key) {
                    return None;
                }
                Some((format!("{}{key}", config.prefix), value))
            })
            .collect()
    }
}

/// Trims `trim`'s characters at both ends, removes `remove`'s everywhere, transforms.
fn clean(text: &str, trim: &str, remove: &str, transform: Option<Transform>) -> String {
    let trimmed = text.trim_matches(|c| trim.contains(c));
    let mut cleaned: String = if remove.is_empty() {
        trimmed.to_string()
    } else {
        trimmed.chars().filter(|c| !remove.contains(*c)).collect()
    };
    match transform {
        None => {}
        Some(Transform::Lowercase) => cleaned = cleaned.to_lowercase(),
        Some(Transform::Uppercase) => cleaned = cleaned.to_uppercase(),
        Some(Transform::Capitalize) => {
            let mut chars = cleaned.chars();
            if let Some(first) = chars.next() {
                cleaned = first
                    .to_uppercase()
                    .chain(chars.as_str().to_lowercase().chars())
                    .collect();
            }
        }
    }
    cleaned
}

impl FilterType for KvFilter {
    type Config = KvConfig;

    fn apply(&self, event: &mut Event) -> Outcome {
        let Some(Value::String(text)) = event.get(&self.config.source) else {
            return Outcome::Skipped;
        };
        let mut found: Map<String, Value> = Map::new();
        for (key, value) in self.pairs(text) {
            let value = Value::String(value);
            match found.get_mut(&key) {
                None => {
                    found.insert(key, value);
                }
                Some(Value::Array(items)) => {
                    if self.config.allow_duplicate_values || !items.contains(&value) {
                        items.push(value);
                    }
                }
                Some(existing) => {
                    if self.config.allow_duplicate_values || *existing != value {
                        let previous = std::mem::take(existing);
                        *existing = Value::Array(vec![previous, value]);
                    }
                }
            }
        }
        for (key, value) in &self.default_keys {
            let key = format!("{}{key}", self.config.prefix);
            found.entry(key).or_insert_with(|| value.clone());
        }
        match &self.config.target {
            Some(target) => {
                if !found.is_empty() {
                    event.insert(target, Value::Object(found));
                }
            }
            None => {
                for (key, value) in found {
                    event.insert(&FieldPath::top_level(&key), value);
                }
            }
        }
        Outcome::Keep
    }

    fn build(config: &KvConfig, build: &FilterBuild<'_>) -> Result<Self, ConfigError> {
        Self::new(config).map_err(|message| build.invalid(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(config: Value, event: Value) -> (Value, Outcome) {
        let config: KvConfig = serde_json::from_value(config).unwrap();
        let mut event = Event::from_value(event);
        let outcome = KvFilter::new(&config).unwrap().apply(&mut event);
        (event.to_value(), outcome)
    }

    #[test]
    fn pairs_with_quotes_and_brackets_go_to_the_root() {
        let line = r#"ip=1.2.3.4 error=REFUSED msg="no route" list=[a b] when=(now) x=<y> empty="#;
        let (event, outcome) = run(json!({}), json!({"message": line}));
        assert_eq!(outcome, Outcome::Keep);
        assert_eq!(
            event,
            json!({"message": line, "ip": "1.2.3.4", "error": "REFUSED", "msg": "no route",
                   "list": "a b", "when": "now", "x": "y"})
        );
    }

    #[test]
    fn logstash_query_string_example_with_target_and_prefix() {
        // From Logstash's kv documentation: field_split "&?" on a URL query string.
        let (event, _) = run(
            json!({"field_split": "&?", "target": "query", "prefix": "q_"}),
            json!({"message": "pin=12345~0&d=123&e=foo@bar.com&oq=bobo&ss=12345"}),
        );
        assert_eq!(
            event["query"],
            json!({"q_pin": "12345~0", "q_d": "123", "q_e": "foo@bar.com", "q_oq": "bobo", "q_ss": "12345"})
        );
    }

    #[test]
    fn include_exclude_trim_remove_transform_and_defaults() {
        let (event, _) = run(
            json!({"source": "text", "field_split": ",", "value_split": ":",
                   "trim_key": " ", "trim_value": "<>", "remove_char_value": "-",
                   "transform_key": "uppercase", "transform_value": "capitalize",
                   "exclude_keys": ["SKIP"], "default_keys": {"LEVEL": "info", "A": "unused"}}),
            json!({"text": " a:<hello-WORLD>, skip:x,b : two"}),
        );
        assert_eq!(
            event,
            json!({"text": " a:<hello-WORLD>, skip:x,b : two", "A": "Helloworld", "B": "Two", "LEVEL": "info"})
        );
        let (event, _) = run(
            json!({"include_keys": ["keep"]}),
            json!({"message": "keep=1 drop=2"}),
        );
        assert_eq!(event, json!({"message": "keep=1 drop=2", "keep": "1"}));
    }

    #[test]
    fn duplicate_keys_and_empty_values() {
        let (event, _) = run(
            json!({"allow_empty_values": true}),
            json!({"message": "a=1 a=1 a=2 e="}),
        );
        assert_eq!(event["a"], json!(["1", "1", "2"]));
        assert_eq!(event["e"], json!(""));
        let (event, _) = run(
            json!({"allow_duplicate_values": false}),
            json!({"message": "a=1 a=1 a=2"}),
        );
        assert_eq!(event["a"], json!(["1", "2"]));
    }

    #[test]
    fn strict_whitespace_and_missing_source() {
        let (event, _) = run(
            json!({"whitespace": "strict"}),
            json!({"message": "a = 1 b=2"}),
        );
        assert_eq!(event, json!({"message": "a = 1 b=2", "b": "2"}));
        let (event, _) = run(json!({}), json!({"message": "a = 1"}));
        assert_eq!(event["a"], json!("1"));
        let (_, outcome) = run(json!({}), json!({"other": "a=1"}));
        assert_eq!(outcome, Outcome::Skipped);
    }
}
