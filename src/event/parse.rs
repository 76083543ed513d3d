//! Reading JSON text that must be an object into an event's field map.
//!
//! The json filter parses a line into the event root and the Beats input parses each payload
//! it cannot keep raw; both know how many keys the map will end up holding and reserve that
//! room up front, since growing an insertion-ordered map rehashes it. `serde_json` does the
//! parse; only the map's first allocation is ours.

use serde::de::DeserializeSeed;
use serde_json::{Map, Value};

/// Parses JSON text that must be an object into a map with room for `capacity` keys.
pub fn parse_object_str(
    text: &str,
    capacity: usize,
) -> Result<Map<String, Value>, serde_json::Error> {
    parse_object(serde_json::Deserializer::from_str(text), capacity)
}

/// Parses JSON bytes that must be an object (checking UTF-8 as it goes) into a map with room
/// for `capacity` keys, so filling it never rehashes (the Beats input's events).
pub fn parse_object_slice(
    bytes: &[u8],
    capacity: usize,
) -> Result<Map<String, Value>, serde_json::Error> {
    parse_object(serde_json::Deserializer::from_slice(bytes), capacity)
}

fn parse_object<'de, R: serde_json::de::Read<'de>>(
    mut deserializer: serde_json::Deserializer<R>,
    capacity: usize,
) -> Result<Map<String, Value>, serde_json::Error> {
    let map = RootMap(capacity).deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(map)
}

struct RootMap(usize);

impl<'de> DeserializeSeed<'de> for RootMap {
    type Value = Map<String, Value>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for RootMap {
    type Value = Map<String, Value>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut access: A,
    ) -> Result<Self::Value, A::Error> {
        let mut map = Map::with_capacity(self.0);
        while let Some((key, value)) = access.next_entry::<String, Value>()? {
            map.insert(key, value);
        }
        Ok(map)
    }
}
