//! `type = "date"`: parse a time field into `@timestamp` (or another `target`).
//!
//! Why: daily indices (`mqtt-logs-%{+YYYY.MM.dd}`) and every time query depend on the event
//! time being the time the client logged, in UTC. Behaviour follows Logstash's date filter:
//!
//! * Logstash's form: `match = ["field", "ISO8601", "dd/MMM/yyyy:HH:mm:ss Z", ...]`: the field,
//!   then formats that are `ISO8601`, `UNIX`, `UNIX_MS` or **Joda-Time patterns** (`yyyy`,
//!   `MM`/`MMM`/`MMMM`, `dd`, `HH`, `hh` with `a`, `mm`, `ss`, `SSS`, `Z`/`ZZ`, `EEE`, `D`,
//!   text in `'...'`). A pattern without a year (syslog's `MMM dd HH:mm:ss`) takes the
//!   current year, or the previous one when that would put the event more than 30 days in
//!   the future (a December line read in January). `locale` may only name English
//!   (`en`, `en-US`, `en_GB`, ...): month and day names are English.
//! * The native form: `field` (default `@timestamp`) is parsed with each of `formats` (default `["ISO8601"]`)
//!   in order; the first that succeeds wins. The result is written to `target` (default
//!   `@timestamp`) as `YYYY-MM-DDTHH:MM:SS.mmmZ`: UTC, millisecond precision (sub-millisecond
//!   digits are dropped, as Joda does).
//! * A missing field is a no-op without a tag; when no format parses the value the event gets
//!   `_dateparsefailure` (`tag_on_failure`) and is otherwise unchanged.
//! * Formats: `ISO8601` (`2024-05-01T12:00:00Z`, `...T12:00:00.123+09:00`, `+0900`, a space
//!   instead of `T`, a `,` before the fraction, no seconds' fraction, no offset), `UNIX`
//!   (seconds, integer or fractional, number or string), `UNIX_MS` (milliseconds), or a
//!   chrono `strftime` pattern such as `%d/%b/%Y:%H:%M:%S %z` (not a Joda pattern: that
//!   differs from Logstash). A pattern without a date part is rejected at load.
//! * Offsets in the text (`+09:00`) are always honoured. **Text without an offset is read in
//!   `timezone`, which defaults to UTC.** Logstash reads it in the JVM's default zone (the
//!   host's local time), which makes results depend on the machine; we prefer the same answer
//!   everywhere. `timezone` is `UTC`, `Z`, a fixed offset like `+09:00` or an IANA zone name
//!   (`Europe/London`, `EST`), whose daylight-saving rules apply (an ambiguous wall-clock time
//!   in the autumn overlap is read as the earlier one; a time skipped in spring fails).

use super::{FilterBuild, FilterType, Outcome};
use crate::config::ConfigError;
use crate::event::{
    is_canonical_utc_millis, local_to_utc, parse_iso8601, Event, FieldPath, TIMESTAMP,
};
use chrono::format::Item;
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;

fn default_field() -> FieldPath {
    FieldPath::top_level(TIMESTAMP)
}

fn default_formats() -> Vec<String> {
    vec!["ISO8601".to_string()]
}

fn default_failure_tags() -> Vec<String> {
    vec!["_dateparsefailure".to_string()]
}

/// Settings of the date filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateConfig {
    /// Logstash's `["field", "format", ...]` with Joda-Time patterns; instead of `field` and
    /// `formats`.
    #[serde(default, rename = "match")]
    pub match_formats: Option<Vec<String>>,
    /// Default `@timestamp`.
    #[serde(default)]
    pub field: Option<FieldPath>,
    /// strftime patterns or `ISO8601`, `UNIX`, `UNIX_MS`; default `["ISO8601"]`.
    #[serde(default)]
    pub formats: Option<Vec<String>>,
    #[serde(default = "default_field")]
    pub target: FieldPath,
    /// Zone for text without an offset: `UTC` (default) or `+HH:MM`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Language of month and day names: English only.
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default = "default_failure_tags")]
    pub tag_on_failure: Vec<String>,
}

#[derive(Debug, Clone)]
enum Format {
    Iso8601,
    Unix,
    UnixMillis,
    Pattern(String),
    /// A Joda-Time pattern (the `match` form), as chrono items.
    Joda(Vec<Item<'static>>),
}

/// The compiled date filter.
#[derive(Debug)]
pub struct DateFilter {
    field: FieldPath,
    target: FieldPath,
    formats: Vec<Format>,
    zone: Zone,
    tag_on_failure: Vec<String>,
    /// Field and target are both `@timestamp`: an already canonical value needs no rewrite.
    in_place_timestamp: bool,
}

/// The zone for text without an offset.
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl Zone {
    /// A wall-clock time in this zone, in UTC (`None` when the zone's clock never shows it).
    fn to_utc(self, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self {
            Self::Fixed(offset) => local_to_utc(naive, offset),
            Self::Named(zone) => zone
                .from_local_datetime(&naive)
                .earliest()
                .map(|time| time.with_timezone(&Utc)),
        }
    }
}

fn utc() -> FixedOffset {
    chrono::Offset::fix(&Utc)
}

/// Parses a `timezone` setting.
pub fn parse_zone(text: &str) -> Result<Zone, String> {
    let trimmed = text.trim();
    if matches!(trimmed, "UTC" | "utc" | "Z" | "Etc/UTC" | "GMT") {
        return Ok(Zone::Fixed(utc()));
    }
    if let Ok(time) = DateTime::parse_from_str(
        &format!("2000-01-01T00:00:00{trimmed}"),
        "%Y-%m-%dT%H:%M:%S%z",
    ) {
        return Ok(Zone::Fixed(*time.offset()));
    }
    trimmed.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
        format!(
            "timezone `{text}` is not known: use `UTC`, a fixed offset like `+09:00` or an IANA zone name like `Europe/London`"
        )
    })
}

impl DateFilter {
    pub fn new(config: &DateConfig) -> Result<Self, String> {
        if let Some(locale) = &config.locale {
            let language = locale.split(['-', '_']).next().unwrap_or_default();
            if !language.eq_ignore_ascii_case("en") && !locale.eq_ignore_ascii_case("english") {
                return Err(format!(
                    "`locale = \"{locale}\"` is not supported: month and day names are English (`en`)"
                ));
            }
        }
        let (field, formats, joda) =
            match (&config.match_formats, &config.field, &config.formats) {
                (Some(_), Some(_), _) | (Some(_), _, Some(_)) => return Err(
                    "`match` already names the field and formats: leave out `field` and `formats`"
                        .into(),
                ),
                (Some(list), None, None) => {
                    let Some((field, formats)) = list.split_first() else {
                        return Err("`match` needs the field, then at least one format".into());
                    };
                    let field = FieldPath::parse(field).map_err(|e| format!("`match`: {e}"))?;
                    (field, formats.to_vec(), true)
                }
                (None, field, formats) => (
                    field.clone().unwrap_or_else(default_field),
                    formats.clone().unwrap_or_else(default_formats),
                    false,
                ),
            };
        if formats.is_empty() {
            return Err("`formats` needs at least one format (e.g. `[\"ISO8601\"]`)".into());
        }
        let zone = match &config.timezone {
            Some(text) => parse_zone(text)?,
            None => Zone::Fixed(utc()),
        };
        let formats = formats
            .iter()
            .map(|format| match format.as_str() {
                "ISO8601" => Ok(Format::Iso8601),
                "UNIX" => Ok(Format::Unix),
                "UNIX_MS" => Ok(Format::UnixMillis),
                "TAI64N" => Err("format `TAI64N` is not supported".to_string()),
                pattern if joda => crate::event::joda_to_chrono(pattern)
                    .map(Format::Joda)
                    .map_err(|e| e.to_string()),
                pattern => validate_pattern(pattern).map(|()| Format::Pattern(pattern.to_string())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let timestamp = default_field();
        Ok(Self {
            in_place_timestamp: field == timestamp && config.target == timestamp,
            field,
            target: config.target.clone(),
            formats,
            zone,
            tag_on_failure: config.tag_on_failure.clone(),
        })
    }
}

impl FilterType for DateFilter {
    type Config = DateConfig;

    fn apply(&self, event: &mut Event) -> Outcome {
        let Some(value) = event.get(&self.field) else {
            return Outcome::Skipped;
        };
        if self.in_place_timestamp {
            if let Value::String(text) = value {
                if is_canonical_utc_millis(text) {
                    return Outcome::Keep;
                }
            }
        }
        let parsed = self
            .formats
            .iter()
            .find_map(|format| parse_with(format, value, self.zone));
        match parsed {
            Some(time) => {
                let time = truncate_to_millis(time);
                if self.target == default_field() {
                    event.set_timestamp(time);
                } else {
                    event.insert(
                        &self.target,
                        Value::String(crate::event::format_timestamp(time)),
                    );
                }
                Outcome::Keep
            }
            None => {
                for tag in &self.tag_on_failure {
                    event.add_tag(tag);
                }
                Outcome::Failed
            }
        }
    }

    fn writes(&self) -> Option<Vec<FieldPath>> {
        Some(vec![self.target.clone()])
    }

    fn build(config: &DateConfig, build: &FilterBuild<'_>) -> Result<Self, ConfigError> {
        Self::new(config).map_err(|message| build.invalid(message))
    }
}

fn truncate_to_millis(time: DateTime<Utc>) -> DateTime<Utc> {
    let millis = time.timestamp_millis();
    Utc.timestamp_millis_opt(millis).single().unwrap_or(time)
}

/// Rejects patterns that could never produce a date (typos such as `%Q`, no date part).
fn validate_pattern(pattern: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(pattern).any(|item| matches!(item, Item::Error)) {
        return Err(format!(
            "format `{pattern}` is not a valid strftime pattern"
        ));
    }
    if !["%Y", "%F", "%D", "%y", "%s", "%c", "%+"]
        .iter()
        .any(|spec| pattern.contains(spec))
    {
        return Err(format!(
            "format `{pattern}` has no date: use ISO8601, UNIX, UNIX_MS or a strftime pattern with a year (`%Y`)"
        ));
    }
    Ok(())
}

fn parse_with(format: &Format, value: &Value, zone: Zone) -> Option<DateTime<Utc>> {
    match format {
        Format::Iso8601 => {
            let text = value.as_str()?;
            match zone {
                Zone::Fixed(offset) => parse_iso8601(text, Some(offset)),
                // With an offset in the text it wins; without, the wall-clock time is read
                // as UTC first, then placed in the zone.
                Zone::Named(_) => parse_iso8601(text, None)
                    .or_else(|| zone.to_utc(parse_iso8601(text, Some(utc()))?.naive_utc())),
            }
        }
        Format::Unix => {
            let seconds = crate::condition::numeric(value)?;
            from_millis((seconds * 1000.0).round())
        }
        Format::UnixMillis => from_millis(crate::condition::numeric(value)?.trunc()),
        Format::Pattern(pattern) => parse_pattern(value.as_str()?, pattern, zone),
        Format::Joda(items) => parse_joda(value.as_str()?, items, zone, Utc::now()),
    }
}

/// Parses with a Joda pattern's items. Missing time fields are midnight; a missing year is
/// `now`'s, or the year before when that would be more than 30 days after `now`.
fn parse_joda(
    text: &str,
    items: &[Item<'static>],
    zone: Zone,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    use chrono::format::{parse, Parsed};
    let mut parsed = Parsed::new();
    parse(&mut parsed, text.trim(), items.iter()).ok()?;
    if parsed.hour_div_12().is_none() && parsed.hour_mod_12().is_none() {
        parsed.set_hour(0).ok()?;
    }
    if parsed.minute().is_none() {
        parsed.set_minute(0).ok()?;
    }
    let resolve = |parsed: &Parsed| match parsed.offset() {
        Some(_) => parsed.to_datetime().ok().map(|t| t.with_timezone(&Utc)),
        None => zone.to_utc(parsed.to_naive_datetime_with_offset(0).ok()?),
    };
    if parsed.year().is_some() || parsed.isoyear().is_some() || parsed.timestamp().is_some() {
        return resolve(&parsed);
    }
    let mut this_year = parsed.clone();
    this_year.set_year(i64::from(now.year())).ok()?;
    match resolve(&this_year) {
        Some(time) if time <= now + chrono::Duration::days(30) => Some(time),
        _ => {
            parsed.set_year(i64::from(now.year()) - 1).ok()?;
            resolve(&parsed)
        }
    }
}

fn from_millis(millis: f64) -> Option<DateTime<Utc>> {
    if !millis.is_finite() || millis.abs() > 8.0e15 {
        return None;
    }
    Utc.timestamp_millis_opt(millis as i64).single()
}

fn parse_pattern(text: &str, pattern: &str, zone: Zone) -> Option<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_str(text, pattern) {
        return Some(time.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(text, pattern)
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, pattern)
                .ok()
                .and_then(|date| date.and_hms_opt(0, 0, 0))
        })?;
    zone.to_utc(naive)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(config: Value) -> DateFilter {
        let config: DateConfig = serde_json::from_value(config).unwrap();
        DateFilter::new(&config).unwrap()
    }

    fn run(config: Value, event: Value) -> (Event, Outcome) {
        let mut event = Event::from_value(event);
        let outcome = filter(config).apply(&mut event);
        (event, outcome)
    }

    #[test]
    fn offsets_move_the_day_across_midnight_utc() {
        let (event, outcome) = run(
            json!({}),
            json!({"@timestamp": "2024-05-01T08:59:59.999+09:00"}),
        );
        assert_eq!(outcome, Outcome::Keep);
        assert_eq!(
            event.get_field(TIMESTAMP),
            Some(&json!("2024-04-30T23:59:59.999Z"))
        );
    }

    #[test]
    fn sub_millisecond_digits_are_dropped() {
        let (event, _) = run(
            json!({}),
            json!({"@timestamp": "2024-05-01T00:00:00.123999Z"}),
        );
        assert_eq!(
            event.get_field(TIMESTAMP),
            Some(&json!("2024-05-01T00:00:00.123Z"))
        );
    }

    #[test]
    fn timezone_applies_only_without_an_offset() {
        let config = json!({"field": "t", "timezone": "+09:00"});
        let (event, _) = run(config.clone(), json!({"t": "2024-05-01 09:00:00"}));
        assert_eq!(
            event.get_field(TIMESTAMP),
            Some(&json!("2024-05-01T00:00:00.000Z"))
        );
        let (event, _) = run(config, json!({"t": "2024-05-01T09:00:00Z"}));
        assert_eq!(
            event.get_field(TIMESTAMP),
            Some(&json!("2024-05-01T09:00:00.000Z"))
        );
    }

    #[test]
    fn unix_formats_and_custom_target() {
        let (event, _) = run(
            json!({"field": "ts", "formats": ["UNIX"], "target": "parsed"}),
            json!({"ts": 1714521600.5}),
        );
        assert_eq!(
            event.get_field("parsed"),
            Some(&json!("2024-05-01T00:00:00.500Z"))
        );
        let (event, _) = run(
            json!({"field": "ts", "formats": ["UNIX_MS"]}),
            json!({"ts": "1714521600123"}),
        );
        assert_eq!(
            event.get_field(TIMESTAMP),
            Some(&json!("2024-05-01T00:00:00.123Z"))
        );
    }

    #[test]
    fn formats_are_tried_in_order() {
        let (event, outcome) = run(
            json!({"field": "t", "formats": ["UNIX", "%d/%m/%Y %H:%M:%S %z"]}),
            json!({"t": "01/05/2024 09:00:00 +0900"}),
        );
        assert_eq!(outcome, Outcome::Keep);
        assert_eq!(
            event.get_field(TIMESTAMP),
            Some(&json!("2024-05-01T00:00:00.000Z"))
        );
    }

    #[test]
    fn failures_are_tagged_and_missing_fields_ignored() {
        let (event, outcome) = run(json!({}), json!({"@timestamp": "not a date"}));
        assert_eq!(outcome, Outcome::Failed);
        assert!(event.has_tag("_dateparsefailure"));
        assert_eq!(event.get_field(TIMESTAMP), Some(&json!("not a date")));
        let (event, outcome) = run(json!({}), json!({"message": "x"}));
        assert_eq!(outcome, Outcome::Skipped);
        assert_eq!(event, Event::from_value(json!({"message": "x"})));
    }

    #[test]
    fn logstash_match_form_with_joda_patterns() {
        let config = json!({"match": ["logged", "ISO8601", "dd/MMM/yyyy:HH:mm:ss Z", "yyyy-MM-dd HH:mm:ss,SSS"],
                            "timezone": "+02:00", "locale": "en"});
        let (event, outcome) = run(
            config.clone(),
            json!({"logged": "17/May/2015:10:05:03 +0000"}),
        );
        assert_eq!(outcome, Outcome::Keep);
        assert_eq!(
            event.get_field(TIMESTAMP),
            Some(&json!("2015-05-17T10:05:03.000Z"))
        );
        let (event, _) = run(config.clone(), json!({"logged": "2024-05-01 09:00:00,250"}));
        assert_eq!(
            event.get_field(TIMESTAMP),
            Some(&json!("2024-05-01T07:00:00.250Z"))
        );
        let (event, outcome) = run(config, json!({"logged": "yesterday"}));
        assert_eq!(outcome, Outcome::Failed);
        assert!(event.has_tag("_dateparsefailure"));
        let (event, _) = run(
            json!({"match": ["d", "MMMM d, yyyy hh:mm a", "yyyy-MM-dd"], "target": "day"}),
            json!({"d": "March 7, 2024 02:30 PM"}),
        );
        assert_eq!(
            event.get_field("day"),
            Some(&json!("2024-03-07T14:30:00.000Z"))
        );
        let (event, _) = run(
            json!({"match": ["d", "yyyy-MM-dd"]}),
            json!({"d": "2024-03-07"}),
        );
        assert_eq!(
            event.get_field(TIMESTAMP),
            Some(&json!("2024-03-07T00:00:00.000Z"))
        );
    }

    #[test]
    fn iana_zones_follow_daylight_saving_time() {
        let config = json!({"match": ["t", "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", "ISO8601"], "timezone": "Europe/London"});
        // The corpus's form: a literal 'Z' in the pattern, the zone from `timezone`.
        let (event, _) = run(config.clone(), json!({"t": "2024-07-01T12:00:00.000Z"}));
        assert_eq!(
            event.get_field(TIMESTAMP),
            Some(&json!("2024-07-01T11:00:00.000Z"))
        );
        let (event, _) = run(config.clone(), json!({"t": "2024-01-01 12:00:00"}));
        assert_eq!(
            event.get_field(TIMESTAMP),
            Some(&json!("2024-01-01T12:00:00.000Z"))
        );
        let (event, _) = run(config, json!({"t": "2024-07-01T12:00:00+02:00"}));
        assert_eq!(
            event.get_field(TIMESTAMP),
            Some(&json!("2024-07-01T10:00:00.000Z"))
        );
        let (event, _) = run(
            json!({"field": "t", "formats": ["%Y-%m-%d %H:%M"], "timezone": "EST"}),
            json!({"t": "2024-07-01 12:00"}),
        );
        assert_eq!(
            event.get_field(TIMESTAMP),
            Some(&json!("2024-07-01T17:00:00.000Z"))
        );
    }

    #[test]
    fn syslog_dates_without_a_year_take_the_nearest_past_year() {
        let items = crate::event::joda_to_chrono("MMM dd HH:mm:ss").unwrap();
        let utc = Zone::Fixed(utc());
        let now = "2025-01-02T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            parse_joda("Dec 31 23:59:59", &items, utc, now),
            Some("2024-12-31T23:59:59Z".parse().unwrap())
        );
        assert_eq!(
            parse_joda("Jan 15 08:00:00", &items, utc, now),
            Some("2025-01-15T08:00:00Z".parse().unwrap())
        );
        let items = crate::event::joda_to_chrono("MMM  d HH:mm:ss").unwrap();
        assert_eq!(
            parse_joda("Jan  1 00:00:01", &items, utc, now),
            Some("2025-01-01T00:00:01Z".parse().unwrap())
        );
    }

    #[test]
    fn bad_settings_are_rejected() {
        for config in [
            json!({"match": ["t"]}),
            json!({"match": []}),
            json!({"match": ["t", "ISO8601"], "field": "t"}),
            json!({"match": ["t", "yyyy-MM-dd qq"]}),
            json!({"match": ["t", "ISO8601"], "locale": "de"}),
            json!({"formats": []}),
            json!({"formats": ["%H:%M"]}),
            json!({"formats": ["%Q"]}),
            json!({"timezone": "Mars/Olympus_Mons"}),
        ] {
            let config: DateConfig = serde_json::from_value(config.clone()).unwrap();
            assert!(DateFilter::new(&config).is_err(), "{config:?}");
        }
    }
}
