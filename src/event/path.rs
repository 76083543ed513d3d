//! Field references: `a.b`, `[a][b]`, `[@metadata][x]`.
//!
//! Logstash users write `[details][topic]`, Vector users write `details.topic`; both must
//! address the same nested value, so both notations compile to one [`FieldPath`]. A path is
//! parsed once when the configuration loads and reused for every event, so the per-event cost
//! is a walk over already split segments with no string splitting or allocation.

use serde_json::{Map, Value};
use std::fmt;

/// Which of the two maps of an [`crate::event::Event`] a path addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Root {
    /// The event's fields: what outputs write.
    Fields,
    /// `@metadata`: travels with the event, never written out.
    Metadata,
}

/// A parsed field reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    root: Root,
    segments: Box<[String]>,
    text: Box<str>,
}

/// Why a field reference could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("empty field reference")]
    Empty,
    #[error("field reference `{0}` has an empty segment")]
    EmptySegment(String),
    #[error("field reference `{0}` has an unbalanced bracket")]
    Unbalanced(String),
}

impl FieldPath {
    /// Parses `a.b`, `[a][b]` or `a` (and `[@metadata][x]` / `@metadata.x`).
    pub fn parse(text: &str) -> Result<Self, PathError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(PathError::Empty);
        }
        let mut segments: Vec<String> = Vec::new();
        if trimmed.starts_with('[') {
            let mut rest = trimmed;
            while !rest.is_empty() {
                let inner = rest
                    .strip_prefix('[')
                    .ok_or_else(|| PathError::Unbalanced(text.to_string()))?;
                let close = inner
                    .find(']')
                    .ok_or_else(|| PathError::Unbalanced(text.to_string()))?;
                let segment = &inner[..close];
                if segment.is_empty() || segment.contains('[') {
                    return Err(if segment.is_empty() {
                        PathError::EmptySegment(text.to_string())
                    } else {
                        PathError::Unbalanced(text.to_string())
                    });
                }
                segments.push(segment.to_string());
                rest = &inner[close + 1..];
            }
        } else {
            if trimmed.contains('[') || trimmed.contains(']') {
                return Err(PathError::Unbalanced(text.to_string()));
            }
            // `@timestamp` and similar keep their dot-free names; dots nest.
            for segment in trimmed.split('.') {
                if segment.is_empty() {
                    return Err(PathError::EmptySegment(text.to_string()));
                }
                segments.push(segment.to_string());
            }
        }
        let root = if segments.first().map(String::as_str) == Some("@metadata") {
            segments.remove(0);
            Root::Metadata
        } else {
            Root::Fields
        };
        Ok(Self {
            root,
            segments: segments.into_boxed_slice(),
            text: trimmed.into(),
        })
    }

    /// A path of one top-level field, for names known at compile time.
    pub fn top_level(name: &str) -> Self {
        Self {
            root: Root::Fields,
            segments: vec![name.to_string()].into_boxed_slice(),
            text: name.into(),
        }
    }

    pub fn root(&self) -> Root {
        self.root
    }

    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// `path` under this one (`[target]` + `[a][b]`): where a filter with a `target` writes
    /// what it would otherwise write at `path`.
    pub fn join(&self, path: &FieldPath) -> FieldPath {
        let segments: Vec<String> = self
            .segments
            .iter()
            .chain(path.segments.iter())
            .cloned()
            .collect();
        let mut text: String = match self.root {
            Root::Metadata => "[@metadata]".to_string(),
            Root::Fields => String::new(),
        };
        for segment in &segments {
            text.push('[');
            text.push_str(segment);
            text.push(']');
        }
        Self {
            root: self.root,
            segments: segments.into_boxed_slice(),
            text: text.into(),
        }
    }

    /// The reference as the user wrote it (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Looks the path up in `map`. An empty path (`[@metadata]`) is not a value lookup.
    pub(crate) fn lookup<'a>(&self, map: &'a Map<String, Value>) -> Option<&'a Value> {
        self.lookup_from(|first| super::find_small(map, first))
    }

    /// Looks the path up below the value `top` finds for its first segment.
    pub(crate) fn lookup_from<'a>(
        &self,
        top: impl FnOnce(&str) -> Option<&'a Value>,
    ) -> Option<&'a Value> {
        let (first, rest) = self.segments.split_first()?;
        let mut current = top(first)?;
        for segment in rest {
            current = step(current, segment)?;
        }
        Some(current)
    }

    pub(crate) fn lookup_mut<'a>(&self, map: &'a mut Map<String, Value>) -> Option<&'a mut Value> {
        let (first, rest) = self.segments.split_first()?;
        let mut current = super::find_small_mut(map, first)?;
        for segment in rest {
            current = step_mut(current, segment)?;
        }
        Some(current)
    }

    /// Sets the value, creating intermediate objects; a non-object in the way is replaced,
    /// as Logstash's `event.set` does.
    pub(crate) fn insert(&self, map: &mut Map<String, Value>, value: Value) {
        let Some((last, parents)) = self.segments.split_last() else {
            return;
        };
        let mut current = map;
        for segment in parents {
            let slot = current
                .entry(segment.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            current = match slot {
                Value::Object(inner) => inner,
                _ => return,
            };
        }
        current.insert(last.clone(), value);
    }

    pub(crate) fn delete(&self, map: &mut Map<String, Value>) -> Option<Value> {
        let (last, parents) = self.segments.split_last()?;
        let mut current = map;
        for segment in parents {
            current = match current.get_mut(segment)? {
                Value::Object(inner) => inner,
                _ => return None,
            };
        }
        current.remove(last)
    }
}

fn step<'a>(value: &'a Value, segment: &str) -> Option<&'a Value> {
    match value {
        // Nested objects are small (`[fields][service]`, `[details][topic]`): comparing
        // their few keys costs less than hashing the segment.
        Value::Object(map) => super::find_small(map, segment),
        Value::Array(items) => index(segment, items.len()).and_then(|i| items.get(i)),
        _ => None,
    }
}

fn step_mut<'a>(value: &'a mut Value, segment: &str) -> Option<&'a mut Value> {
    match value {
        Value::Object(map) => super::find_small_mut(map, segment),
        Value::Array(items) => index(segment, items.len()).and_then(move |i| items.get_mut(i)),
        _ => None,
    }
}

/// Array index segments, including Logstash's negative indices (`[tags][-1]`).
fn index(segment: &str, len: usize) -> Option<usize> {
    if let Some(back) = segment.strip_prefix('-') {
        let back: usize = back.parse().ok()?;
        len.checked_sub(back)
    } else {
        segment.parse().ok()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for FieldPath {
    type Err = PathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> serde::Deserialize<'de> for FieldPath {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_notations_address_the_same_value() {
        let value = json!({"details": {"topic": "a/b"}});
        let map = value.as_object().unwrap();
        for text in ["details.topic", "[details][topic]"] {
            let path = FieldPath::parse(text).unwrap();
            assert_eq!(path.lookup(map), Some(&json!("a/b")), "{text}");
        }
    }

    #[test]
    fn metadata_is_its_own_root() {
        let path = FieldPath::parse("[@metadata][ip_address]").unwrap();
        assert_eq!(path.root(), Root::Metadata);
        assert_eq!(path.segments(), ["ip_address".to_string()]);
        assert_eq!(
            FieldPath::parse("@metadata.beat").unwrap().root(),
            Root::Metadata
        );
    }

    #[test]
    fn malformed_references_are_errors() {
        assert_eq!(FieldPath::parse(""), Err(PathError::Empty));
        assert!(matches!(
            FieldPath::parse("a..b"),
            Err(PathError::EmptySegment(_))
        ));
        assert!(matches!(
            FieldPath::parse("[a][b"),
            Err(PathError::Unbalanced(_))
        ));
        assert!(matches!(
            FieldPath::parse("[a]b"),
            Err(PathError::Unbalanced(_))
        ));
        assert!(matches!(
            FieldPath::parse("[]"),
            Err(PathError::EmptySegment(_))
        ));
    }

    #[test]
    fn insert_creates_parents_and_replaces_scalars_in_the_way() {
        let mut map = Map::new();
        map.insert("a".into(), json!(1));
        FieldPath::parse("a.b.c")
            .unwrap()
            .insert(&mut map, json!("x"));
        assert_eq!(Value::Object(map), json!({"a": {"b": {"c": "x"}}}));
    }

    #[test]
    fn array_indices_including_negative() {
        let value = json!({"tags": ["a", "b", "c"]});
        let map = value.as_object().unwrap();
        assert_eq!(
            FieldPath::parse("[tags][0]").unwrap().lookup(map),
            Some(&json!("a"))
        );
        assert_eq!(
            FieldPath::parse("[tags][-1]").unwrap().lookup(map),
            Some(&json!("c"))
        );
        assert_eq!(FieldPath::parse("[tags][9]").unwrap().lookup(map), None);
    }

    #[test]
    fn delete_returns_the_removed_value() {
        let mut value = json!({"a": {"b": 1, "c": 2}});
        let map = value.as_object_mut().unwrap();
        assert_eq!(FieldPath::parse("a.b").unwrap().delete(map), Some(json!(1)));
        assert_eq!(FieldPath::parse("a.zz").unwrap().delete(map), None);
        assert_eq!(value, json!({"a": {"c": 2}}));
    }
}
