//! `type = "fingerprint"`: a hash of one or more fields, as Logstash's fingerprint filter
//! computes it.
//!
//! Why: a stable document id (`document_id => "%{fingerprint}"`) makes re-delivered events
//! overwrite instead of duplicating, and a keyed hash pseudonymises personal data. Options
//! (Logstash's names and defaults):
//!
//! * `source` (`["message"]`, a string or an array), `target` (`fingerprint`).
//! * `method`: `SHA1` (default), `SHA256`, `SHA384`, `SHA512`, `MD5` (hex, or base64 with
//!   `base64encode = true`), **HMAC** of those when `key` is set; `MURMUR3` (32-bit, seed 0,
//!   an integer); `UUID` (a random one, sources ignored); `PUNCTUATION` (the text without
//!   letters, digits and whitespace).
//! * `concatenate_sources` (false): hash `|field1|value1|field2|value2|` over the sources
//!   sorted by name, in one target. Without it each present source is hashed into the target
//!   in turn (the last one wins) and an array is hashed element by element.
//!
//! Values are hashed as Ruby's `to_s` writes scalars (`12`, `1.5`, `true`; `null` as empty);
//! objects and arrays inside a concatenation are hashed as compact JSON with sorted keys,
//! where Logstash hashes Ruby's `inspect` text (so those fingerprints differ from Logstash's).
//! `IPV4_NETWORK`, `MURMUR3_128` and `concatenate_all_fields` are not supported.

use super::{FilterBuild, FilterType, Outcome};
use crate::config::ConfigError;
use crate::event::{Event, FieldPath};
use base64::Engine as _;
use hmac::{Mac, SimpleHmac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Digest;

fn default_source() -> Sources {
    Sources::Many(vec![super::known_path("message")])
}

fn default_target() -> FieldPath {
    super::known_path("fingerprint")
}

/// One field or several (Logstash accepts both).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Sources {
    One(FieldPath),
    Many(Vec<FieldPath>),
}

/// The hash method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    Sha1,
    Sha256,
    Sha384,
    Sha512,
    Md5,
    Murmur3,
    Uuid,
    Punctuation,
}

/// Settings of the fingerprint filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FingerprintConfig {
    #[serde(default = "default_source")]
    pub source: Sources,
    #[serde(default = "default_target")]
    pub target: FieldPath,
    #[serde(default)]
    pub method: Method,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub base64encode: bool,
    #[serde(default)]
    pub concatenate_sources: bool,
}

/// The compiled fingerprint filter.
#[derive(Debug)]
pub struct FingerprintFilter {
    sources: Vec<FieldPath>,
    target: FieldPath,
    method: Method,
    key: Option<Vec<u8>>,
    base64: bool,
    concatenate: bool,
}

impl FingerprintFilter {
    pub fn new(config: &FingerprintConfig) -> Result<Self, String> {
        let mut sources = match &config.source {
            Sources::One(path) => vec![path.clone()],
            Sources::Many(paths) => paths.clone(),
        };
        if sources.is_empty() && config.method != Method::Uuid {
            return Err("`source` needs at least one field".to_string());
        }
        if config.concatenate_sources {
            sources.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        }
        Ok(Self {
            sources,
            target: config.target.clone(),
            method: config.method,
            key: config.key.as_ref().map(|key| key.as_bytes().to_vec()),
            base64: config.base64encode,
            concatenate: config.concatenate_sources,
        })
    }

    /// The fingerprint of `data` as Logstash writes it.
    fn fingerprint(&self, data: &str) -> Value {
        let digest = match self.method {
            Method::Sha1 => self.digest::<sha1::Sha1>(data),
            Method::Sha256 => self.digest::<sha2::Sha256>(data),
            Method::Sha384 => self.digest::<sha2::Sha384>(data),
            Method::Sha512 => self.digest::<sha2::Sha512>(data),
            Method::Md5 => self.digest::<md5::Md5>(data),
            Method::Murmur3 => {
                let hash = murmur3::murmur3_32(&mut std::io::Cursor::new(data.as_bytes()), 0)
                    .unwrap_or_default();
                return Value::from(hash);
            }
            Method::Uuid => return Value::String(uuid::Uuid::new_v4().to_string()),
            Method::Punctuation => {
                return Value::String(
                    data.chars()
                        .filter(|c| !c.is_ascii_alphanumeric() && !matches!(c, ' ' | '\t'))
                        .collect(),
                )
            }
        };
        Value::String(if self.base64 {
            base64::engine::general_purpose::STANDARD.encode(&digest)
        } else {
            digest.iter().map(|byte| format!("{byte:02x}")).collect()
        })
    }

    /// The digest of `data`, keyed (HMAC) when a key is set.
    fn digest<D>(&self, data: &str) -> Vec<u8>
    where
        D: Digest + hmac::digest::core_api::BlockSizeUser,
    {
        match &self.key {
            Some(key) => match <SimpleHmac<D> as hmac::digest::KeyInit>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(data.as_bytes());
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => D::digest(data.as_bytes()).to_vec(),
            },
            None => D::digest(data.as_bytes()).to_vec(),
        }
    }
}

/// A value as Logstash hashes it: scalars as Ruby's `to_s`, structures as sorted JSON.
fn text_of(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        Some(Value::Bool(flag)) => flag.to_string(),
        Some(other) => sorted(other).to_string(),
    }
}

/// `value` with every object's keys sorted (Logstash's `deep_sort_hashes`).
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

impl FilterType for FingerprintFilter {
    type Config = FingerprintConfig;

    fn apply(&self, event: &mut Event) -> Outcome {
        if self.concatenate || self.method == Method::Uuid {
            let mut text = String::new();
            for source in &self.sources {
                text.push('|');
                text.push_str(source.as_str());
                text.push('|');
                text.push_str(&text_of(event.get(source)));
            }
            text.push('|');
            let value = self.fingerprint(&text);
            event.insert(&self.target, value);
            return Outcome::Keep;
        }
        for source in &self.sources {
            let value = match event.get(source) {
                None => continue,
                Some(Value::Array(items)) => Value::Array(
                    items
                        .iter()
                        .map(|item| self.fingerprint(&text_of(Some(item))))
                        .collect(),
                ),
                Some(value) => self.fingerprint(&text_of(Some(value))),
            };
            event.insert(&self.target, value);
        }
        Outcome::Keep
    }

    fn build(config: &FingerprintConfig, build: &FilterBuild<'_>) -> Result<Self, ConfigError> {
        Self::new(config).map_err(|message| build.invalid(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(config: Value, event: Value) -> Value {
        let config: FingerprintConfig = serde_json::from_value(config).unwrap();
        let mut event = Event::from_value(event);
        assert_eq!(
            FingerprintFilter::new(&config).unwrap().apply(&mut event),
            Outcome::Keep
        );
        event.to_value()
    }

    fn fingerprint_of(config: Value, message: &str) -> Value {
        run(config, json!({"message": message}))["fingerprint"].clone()
    }

    #[test]
    fn plain_digests_match_the_reference_values() {
        // Well-known digests of "abc" (FIPS 180 / RFC 1321 test vectors).
        assert_eq!(
            fingerprint_of(json!({}), "abc"),
            json!("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert_eq!(
            fingerprint_of(json!({"method": "SHA256"}), "abc"),
            json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            fingerprint_of(json!({"method": "MD5"}), "abc"),
            json!("900150983cd24fb0d6963f7d28e17f72")
        );
        assert_eq!(
            fingerprint_of(json!({"method": "SHA256", "base64encode": true}), "abc"),
            json!("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=")
        );
        let sha512 = fingerprint_of(json!({"method": "SHA512"}), "abc");
        assert!(
            sha512.as_str().unwrap().starts_with("ddaf35a193617aba"),
            "{sha512}"
        );
        let sha384 = fingerprint_of(json!({"method": "SHA384"}), "abc");
        assert!(
            sha384.as_str().unwrap().starts_with("cb00753f45a35e8b"),
            "{sha384}"
        );
    }

    #[test]
    fn a_key_makes_it_an_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            fingerprint_of(
                json!({"method": "SHA256", "key": "Jefe"}),
                "what do ya want for nothing?"
            ),
            json!("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        // RFC 2202 test case 2 for HMAC-SHA1.
        assert_eq!(
            fingerprint_of(json!({"key": "Jefe"}), "what do ya want for nothing?"),
            json!("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        );
    }

    #[test]
    fn murmur3_punctuation_and_uuid() {
        // MurmurHash3 x86_32 of "hello", seed 0.
        assert_eq!(
            fingerprint_of(json!({"method": "MURMUR3"}), "hello"),
            json!(613153351)
        );
        assert_eq!(
            fingerprint_of(json!({"method": "PUNCTUATION"}), "Mar 1 [pid=12]: ok."),
            json!("[=]:.")
        );
        let first = fingerprint_of(json!({"method": "UUID"}), "x");
        let second = fingerprint_of(json!({"method": "UUID"}), "x");
        assert_eq!(first.as_str().unwrap().len(), 36);
        assert_ne!(first, second);
    }

    #[test]
    fn concatenated_sources_are_sorted_and_framed() {
        let event = json!({"b": 2, "a": "x", "c": null});
        let out = run(
            json!({"source": ["b", "a", "c"], "concatenate_sources": true, "method": "MD5", "target": "id"}),
            event.clone(),
        );
        let expected = run(
            json!({"source": "text", "method": "MD5", "target": "id"}),
            json!({"text": "|a|x|b|2|c||"}),
        );
        assert_eq!(out["id"], expected["id"]);
    }

    #[test]
    fn separate_sources_last_wins_and_arrays_hash_each_element() {
        let out = run(
            json!({"source": ["list", "missing"], "method": "MD5"}),
            json!({"list": ["abc", "abc"]}),
        );
        assert_eq!(
            out["fingerprint"],
            json!([
                "900150983cd24fb0d6963f7d28e17f72",
                "900150983cd24fb0d6963f7d28e17f72"
            ])
        );
        let out = run(json!({}), json!({"other": 1}));
        assert!(out.get("fingerprint").is_none());
    }
}
