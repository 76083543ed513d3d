//! Durations in configuration files: `"500ms"`, `"10s"`, `"5m"`, `"1h"`, or a number of
//! seconds, as Filebeat and Logstash users write them. Shared by every component with a
//! timing setting, so they all accept (and reject) the same spellings.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// A duration written as `"500ms"`, `"10s"`, `"5m"`, `"1h"`, or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval(pub Duration);

impl Interval {
    /// Parses `"500ms"`, `"10s"`, `"5m"`, `"1h"` (a bare number is seconds).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (number, unit) = number_and_unit(text).ok_or_else(|| {
            format!("invalid duration `{text}`, expected e.g. `500ms`, `10s`, `5m`")
        })?;
        let duration = match unit.trim() {
            "ms" => Duration::from_millis(number),
            "" | "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.saturating_mul(60)),
            "h" => Duration::from_secs(number.saturating_mul(3600)),
            other => {
                return Err(format!(
                    "unknown duration unit `{other}` in `{text}`, expected `ms`, `s`, `m` or `h`"
                ))
            }
        };
        Ok(Self(duration))
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_number_or_text(
            deserializer,
            "a duration such as \"500ms\", \"10s\" or \"5m\", or a number of seconds",
            |seconds| Interval(Duration::from_secs(seconds)),
            Interval::parse,
        )
    }
}

/// Splits `"500ms"` into `500` and `"ms"`; `None` without leading digits.
pub(super) fn number_and_unit(text: &str) -> Option<(u64, &str)> {
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    Some((number.parse().ok()?, unit.trim()))
}

/// Deserializes a setting written as a plain non-negative number (`from_number`) or as text
/// with a unit (`parse`), as durations and sizes are.
pub(super) fn deserialize_number_or_text<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    expecting: &'static str,
    from_number: fn(u64) -> T,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    struct NumberOrText<T> {
        expecting: &'static str,
        from_number: fn(u64) -> T,
        parse: fn(&str) -> Result<T, String>,
    }
    impl<T> Visitor<'_> for NumberOrText<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }

        fn visit_u64<E: de::Error>(self, number: u64) -> Result<T, E> {
            Ok((self.from_number)(number))
        }

        fn visit_i64<E: de::Error>(self, number: i64) -> Result<T, E> {
            u64::try_from(number)
                .map(self.from_number)
                .map_err(|_| E::custom("a negative number is not allowed here"))
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
            (self.parse)(text).map_err(E::custom)
        }
    }
    deserializer.deserialize_any(NumberOrText {
        expecting,
        from_number,
        parse,
    })
}
