//! `@timestamp` as text: the one rendering every component writes and the forms it reads.
//!
//! The event time is kept as Logstash renders it (`2024-05-01T12:00:00.123Z`: UTC, millisecond
//! precision). The json and date filters, the Beats input, the script API and the outputs all
//! write or recognise that text, so its rules live here, below all of them, rather than in the
//! filter that happened to need them first.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};

/// Renders a time the way Logstash renders `@timestamp`: `2024-05-01T12:00:00.123Z`.
pub fn format_timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 / ISO 8601 timestamp with an offset into UTC.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// A wall-clock time in `zone`, in UTC (`None` when the zone's clock never shows it).
pub fn local_to_utc(naive: NaiveDateTime, zone: FixedOffset) -> Option<DateTime<Utc>> {
    zone.from_local_datetime(&naive)
        .single()
        .map(|time| time.with_timezone(&Utc))
}

/// Parses the ISO 8601 forms Logstash's `ISO8601` accepts. Text without an offset is read in
/// `zone` (or rejected when `zone` is `None`).
pub fn parse_iso8601(text: &str, zone: Option<FixedOffset>) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    // Normalise the separators Logstash also accepts: ' ' for 'T', ',' for '.'.
    let mut normalised = text.replacen(' ', "T", 1);
    if let Some(comma) = normalised.find(',') {
        normalised.replace_range(comma..comma + 1, ".");
    }
    for pattern in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z"] {
        if let Ok(time) = DateTime::parse_from_str(&normalised, pattern) {
            return Some(time.with_timezone(&Utc));
        }
    }
    let trimmed_zulu = normalised.strip_suffix('Z');
    let utc = FixedOffset::east_opt(0)?;
    let (local, zone) = match trimmed_zulu {
        Some(rest) => (rest, utc),
        None => (normalised.as_str(), zone?),
    };
    for pattern in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(local, pattern) {
            return local_to_utc(naive, zone);
        }
    }
    NaiveDate::parse_from_str(local, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .and_then(|naive| local_to_utc(naive, zone))
}

/// True for `YYYY-MM-DDTHH:MM:SS.mmmZ` with valid calendar values: exactly what
/// [`super::Event::set_timestamp`] would produce, so re-formatting can be skipped.
pub(crate) fn is_canonical_utc_millis(text: &str) -> bool {
    parse_canonical_utc_millis(text).is_some()
}

/// The time of a `YYYY-MM-DDTHH:MM:SS.mmmZ` text that is a valid date (see
/// [`is_canonical_utc_millis`]), parsed.
pub(crate) fn parse_canonical_utc_millis(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    if bytes.len() != 24 {
        return None;
    }
    let shape_ok = bytes.iter().enumerate().all(|(i, b)| match i {
        4 | 7 => *b == b'-',
        10 => *b == b'T',
        13 | 16 => *b == b':',
        19 => *b == b'.',
        23 => *b == b'Z',
        _ => b.is_ascii_digit(),
    });
    if !shape_ok {
        return None;
    }
    parse_timestamp(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(text: &str) -> Option<String> {
        parse_iso8601(text, FixedOffset::east_opt(0)).map(format_timestamp)
    }

    #[test]
    fn iso8601_variants() {
        let expected = Some("2024-05-01T03:04:05.678Z".to_string());
        assert_eq!(iso("2024-05-01T03:04:05.678Z"), expected);
        assert_eq!(iso("2024-05-01T12:04:05.678+09:00"), expected);
        assert_eq!(iso("2024-05-01T12:04:05.678+0900"), expected);
        assert_eq!(iso("2024-05-01 03:04:05,678"), expected);
        assert_eq!(iso("2024-05-01T03:04:05.678"), expected);
        assert_eq!(
            iso("2024-05-01T03:04Z"),
            Some("2024-05-01T03:04:00.000Z".into())
        );
        assert_eq!(iso("2024-05-01"), Some("2024-05-01T00:00:00.000Z".into()));
        assert_eq!(iso("May 1st"), None);
        assert_eq!(parse_iso8601("2024-05-01T03:04:05", None), None);
    }

    #[test]
    fn canonical_timestamps_are_recognised() {
        assert!(is_canonical_utc_millis("2024-05-01T12:00:00.123Z"));
        assert!(!is_canonical_utc_millis("2024-13-01T12:00:00.123Z"));
        assert!(!is_canonical_utc_millis("2024-05-01T12:00:00.123+00:00"));
        assert!(!is_canonical_utc_millis("2024-05-01T12:00:00Z"));
    }
}
