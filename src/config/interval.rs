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
        let digits = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(digits);
        let number: u64 = number.parse().map_err(|_| {
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
        struct IntervalVisitor;
        impl Visitor<'_> for IntervalVisitor {
            type Value = Interval;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a duration such as \"500ms\", \"10s\" or \"5m\", or a number of seconds",
                )
            }

            fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Interval, E> {
                Ok(Interval(Duration::from_secs(seconds)))
            }

            fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Interval, E> {
                u64::try_from(seconds)
                    .map(|s| Interval(Duration::from_secs(s)))
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Interval, E> {
                Interval::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(IntervalVisitor)
    }
}
