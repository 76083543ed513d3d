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
    // The separators, then the digits: fixed positions, so the loops unroll into a few
    // comparisons (a `match` on every byte's position cost ~10 instructions a byte).
    const SEPARATORS: [(usize, u8); 7] = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ];
    const DIGITS: [usize; 17] = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];
    if SEPARATORS
        .iter()
        .any(|&(at, separator)| bytes[at] != separator)
        || DIGITS.iter().any(|&at| !bytes[at].is_ascii_digit())
    {
        return None;
    }
    // The digits read directly: chrono's RFC 3339 parser costs more than the rest of the
    // json and date filters' work on `@timestamp`. A leap second (`:60`), which chrono
    // represents its own way, is left to that parser.
    let number = |range: std::ops::Range<usize>| {
        bytes[range]
            .iter()
            .fold(0u32, |n, digit| n * 10 + u32::from(digit - b'0'))
    };
    let second = number(17..19);
    if second == 60 {
        return parse_timestamp(text);
    }
    let year = i32::try_from(number(0..4)).ok()?;
    NaiveDate::from_ymd_opt(year, number(5..7), number(8..10))?
        .and_hms_milli_opt(number(11..13), number(14..16), second, number(20..23))
        .map(|time| time.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Reading the digits directly answers what chrono's RFC 3339 parser answers, for
        /// every text of the canonical shape (invalid dates, hours, leap seconds included).
        #[test]
        fn canonical_parse_equals_the_rfc3339_parse(
            text in "[0-9]{4}-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9]\\.[0-9]{3}Z",
        ) {
            prop_assert_eq!(parse_canonical_utc_millis(&text), parse_timestamp(&text));
        }
    }

    #[test]
    fn canonical_parse_of_edge_dates() {
        for text in [
            "2024-02-29T23:59:59.999Z",
            "2023-02-29T00:00:00.000Z",
            "2016-12-31T23:59:60.500Z",
            "2024-05-01T24:00:00.000Z",
            "0000-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59.999Z",
            "2024-13-01T00:00:00.000Z",
            "2024-00-10T00:00:00.000Z",
        ] {
            assert_eq!(
                parse_canonical_utc_millis(text),
                parse_timestamp(text),
                "{text}"
            );
        }
        assert!(parse_canonical_utc_millis("2024-02-29T23:59:59.999Z").is_some());
    }

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
