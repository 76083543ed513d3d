//! One event as bytes and back: the form the disk queue and Kafka will store events in.
//!
//! Both pay this per event, once to write and once to read, so it has to be cheap and it must
//! not lose anything. JSON through `serde_json` would do neither well: it has no place for
//! `@metadata` beside the fields without a wrapper object, scans every string for what to
//! escape on the way out and for its closing quote and escapes on the way in, and reads each
//! number back from its decimal text (without its `float_roundtrip` feature, which this tree
//! does not enable, `serde_json` parses floats to best-effort precision only). A
//! length-prefixed binary form copies strings as they are and never scans for a delimiter. A
//! format crate (bincode, MessagePack) would add a dependency and drive every value through
//! serde's generic machinery; the walk below is short and knows exactly the value kinds an
//! event has.
//!
//! The event is read through its public interface ([`Event::fields`], [`Event::metadata`]),
//! so every representation encodes the same way: an owned event, a lazy line (whose fields
//! are built, and kept, when first read) and a lazy Beats event alike. Decoding gives an
//! ordinary owned event that compares equal (`==`, which compares fields and metadata) and
//! writes the same JSON. Framing, where one encoded event ends and the next begins, is left to
//! the store: a disk segment or a Kafka record has its own length.
//!
//! # Format 1
//!
//! ```text
//! event  := 0x01 map(fields) map(metadata)      the leading byte is the format version
//! map    := count (key value)*                  entries in the map's order, each key once
//! key    := length utf8-bytes
//! value  := 0x00                                null
//!         | 0x01 | 0x02                         false | true
//!         | 0x03 varint                         an integer n >= 0
//!         | 0x04 varint                         an integer n < 0, stored as -(n + 1)
//!         | 0x05 8 bytes                        a float: its IEEE 754 bits, little-endian
//!         | 0x06 length utf8-bytes              a string of 128 bytes or more
//!         | 0x07 count value*                   an array
//!         | 0x08 map                            an object
//!         | 0x80 + n, then n utf8-bytes         a string of n < 128 bytes (most of them)
//! count, length, varint := unsigned LEB128 (7 bits a byte, least significant first)
//! ```
//!
//! Integers keep their kind and floats every bit, because `serde_json` tells `1`, `1.0` and
//! `-1` apart (and so does `==`); maps keep their order, because outputs write fields in it.
//! Tags and `@timestamp` are fields like any other. A change to the format gets a new leading
//! byte; a build reads the formats it knows and refuses the others with an error.
//!
//! Decoding trusts nothing: bytes from a disk can be cut short by a crash or damaged. Every
//! length is checked against the bytes left before anything is sliced, what is allocated up
//! front is bounded, nesting is bounded by [`MAX_DEPTH`] (the decoder recurses), and anything
//! wrong (a cut, an unknown format or tag, text that is not UTF-8, a float that is not finite,
//! a key twice in one object, bytes after the event) is a [`DecodeError`], never a panic.
//! Encoding refuses a value nested deeper than the decoder reads, so that whatever is written
//! can be read back.

use crate::event::{
    Event, LineFields, LOG, LOG_FILE, LOG_OFFSET, MESSAGE, TAGS, TIMESTAMP, TRUNCATED_TAG,
};
use serde_json::{Map, Number, Value};

/// The format version this build writes, and the only one it reads.
pub const FORMAT: u8 = 1;

/// Deepest nesting of arrays and objects inside a field or metadata value. Far more than any
/// JSON an input reads (`serde_json` stops at 128), few enough that decoding's recursion uses
/// a small part of a worker thread's stack.
pub const MAX_DEPTH: usize = 512;

/// The byte that starts a value (but a short string, see [`SHORT_STRING`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Tag {
    Null = 0x00,
    False = 0x01,
    True = 0x02,
    Unsigned = 0x03,
    Negative = 0x04,
    Float = 0x05,
    String = 0x06,
    Array = 0x07,
    Object = 0x08,
}

impl Tag {
    /// Every tag, at the index of its byte.
    const ALL: [Self; 9] = [
        Self::Null,
        Self::False,
        Self::True,
        Self::Unsigned,
        Self::Negative,
        Self::Float,
        Self::String,
        Self::Array,
        Self::Object,
    ];

    fn of(byte: u8) -> Option<Self> {
        Self::ALL.get(usize::from(byte)).copied()
    }
}

/// The tag of a short string, plus its length.
const SHORT_STRING: u8 = 0x80;
/// The longest string whose length fits in its tag.
const SHORT_STRING_MAX: usize = 0x7f;

/// The most array items or map entries reserved before they are read: a damaged count must
/// not make a few bytes allocate a lot. Longer arrays and maps grow as they are read.
const RESERVE_AT_MOST: usize = 256;

/// Why an event could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("a value nests deeper than {MAX_DEPTH} arrays and objects")]
    TooDeep,
}

/// Why bytes could not be decoded into an event; `at` is the byte offset of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the encoded event is cut short at byte {at}")]
    Truncated { at: usize },
    #[error("format {found} is not one this build reads (it reads format {FORMAT})")]
    UnknownFormat { found: u8 },
    #[error("unknown value tag {tag:#04x} at byte {at}")]
    UnknownTag { tag: u8, at: usize },
    #[error("a length or integer at byte {at} does not fit in 64 bits")]
    Overflow { at: usize },
    #[error("a number at byte {at} is out of range or not finite")]
    BadNumber { at: usize },
    #[error("text at byte {at} is not UTF-8")]
    NotUtf8 { at: usize },
    #[error("a key at byte {at} appears twice in one object")]
    DuplicateKey { at: usize },
    #[error("a value at byte {at} nests deeper than {MAX_DEPTH} arrays and objects")]
    TooDeep { at: usize },
    #[error("{extra} bytes follow the encoded event")]
    TrailingBytes { extra: usize },
}

/// Appends `event` to `out`. On an error `out` is left as it was.
pub fn encode(event: &Event, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    out.push(FORMAT);
    // A line whose map nothing built is written from its parts, byte for byte what its map
    // would give, without building the map (on the input's thread, for nothing).
    let fields = match event.unbuilt_line_fields() {
        Some(line) => write_line(out, &line),
        None => write_map(out, event.fields(), 0),
    };
    let written = fields.and_then(|()| write_map(out, event.metadata(), 0));
    if written.is_err() {
        out.truncate(start);
    }
    written
}

/// The event encoded in all of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
    let mut reader = Reader { bytes, at: 0 };
    let format = reader.byte()?;
    if format != FORMAT {
        return Err(DecodeError::UnknownFormat { found: format });
    }
    let fields = reader.map(0)?;
    let metadata = reader.map(0)?;
    let extra = bytes.len() - reader.at;
    if extra > 0 {
        return Err(DecodeError::TrailingBytes { extra });
    }
    Ok(Event::from_parts(fields, metadata))
}

fn write_map(out: &mut Vec<u8>, map: &Map<String, Value>, depth: usize) -> Result<(), EncodeError> {
    write_varint(out, map.len() as u64);
    for (key, value) in map {
        write_key(out, key);
        write_value(out, value, depth)?;
    }
    Ok(())
}

/// The fields of an unbuilt line, as [`write_map`] writes the map it would build.
fn write_line(out: &mut Vec<u8>, line: &LineFields<'_>) -> Result<(), EncodeError> {
    write_varint(out, line.count() as u64);
    write_key(out, TIMESTAMP);
    write_string(out, line.timestamp);
    write_key(out, MESSAGE);
    write_string(out, &line.message);
    if let Some((file, offset)) = line.log {
        write_key(out, LOG);
        out.push(Tag::Object as u8);
        write_varint(out, 2);
        write_key(out, LOG_FILE);
        write_value(out, file, 1)?;
        write_key(out, LOG_OFFSET);
        write_number(out, &Number::from(offset));
    }
    for (key, value) in line.constant {
        write_key(out, key);
        write_value(out, value, 0)?;
    }
    if let Some((tags, truncated)) = line.tags {
        write_key(out, TAGS);
        out.push(Tag::Array as u8);
        write_varint(out, (tags.len() + usize::from(truncated)) as u64);
        for tag in tags {
            write_value(out, tag, 1)?;
        }
        if truncated {
            write_string(out, TRUNCATED_TAG);
        }
    }
    Ok(())
}

fn write_key(out: &mut Vec<u8>, key: &str) {
    write_varint(out, key.len() as u64);
    out.extend_from_slice(key.as_bytes());
}

fn write_value(out: &mut Vec<u8>, value: &Value, depth: usize) -> Result<(), EncodeError> {
    match value {
        Value::Null => out.push(Tag::Null as u8),
        Value::Bool(false) => out.push(Tag::False as u8),
        Value::Bool(true) => out.push(Tag::True as u8),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            let depth = deeper(depth)?;
            out.push(Tag::Array as u8);
            write_varint(out, items.len() as u64);
            for item in items {
                write_value(out, item, depth)?;
            }
        }
        Value::Object(map) => {
            let depth = deeper(depth)?;
            out.push(Tag::Object as u8);
            write_map(out, map, depth)?;
        }
    }
    Ok(())
}

fn deeper(depth: usize) -> Result<usize, EncodeError> {
    if depth < MAX_DEPTH {
        Ok(depth + 1)
    } else {
        Err(EncodeError::TooDeep)
    }
}

fn write_number(out: &mut Vec<u8>, number: &Number) {
    if let Some(unsigned) = number.as_u64() {
        out.push(Tag::Unsigned as u8);
        write_varint(out, unsigned);
    } else if let Some(negative) = number.as_i64() {
        // Not a `u64`, so below zero: -(n + 1), which is `!n`, lies in 0..=i64::MAX.
        out.push(Tag::Negative as u8);
        write_varint(out, !negative as u64);
    } else {
        // Without serde_json's `arbitrary_precision` a number that is no integer is an `f64`,
        // so `as_f64` always answers; a NaN would be refused when read, never read wrong.
        out.push(Tag::Float as u8);
        let float = number.as_f64().unwrap_or(f64::NAN);
        out.extend_from_slice(&float.to_bits().to_le_bytes());
    }
}

fn write_string(out: &mut Vec<u8>, text: &str) {
    if text.len() <= SHORT_STRING_MAX {
        out.push(SHORT_STRING | text.len() as u8);
    } else {
        out.push(Tag::String as u8);
        write_varint(out, text.len() as u64);
    }
    out.extend_from_slice(text.as_bytes());
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads values from `bytes`, from `at` on.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let byte = *self
            .bytes
            .get(self.at)
            .ok_or(DecodeError::Truncated { at: self.at })?;
        self.at += 1;
        Ok(byte)
    }

    /// The next `length` bytes.
    fn take(&mut self, length: usize) -> Result<&'a [u8], DecodeError> {
        let taken = self
            .at
            .checked_add(length)
            .and_then(|end| self.bytes.get(self.at..end))
            .ok_or(DecodeError::Truncated {
                at: self.bytes.len(),
            })?;
        self.at += length;
        Ok(taken)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let start = self.at;
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            // The tenth byte has room for one bit only.
            if shift == 63 && bits > 1 {
                return Err(DecodeError::Overflow { at: start });
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::Overflow { at: start })
    }

    /// A count of items or bytes still to come: each takes at least one byte, so a count
    /// larger than what is left is a cut (or damaged) event, found before anything is read.
    fn count(&mut self) -> Result<usize, DecodeError> {
        let start = self.at;
        let count = self.varint()?;
        let left = self.bytes.len() - self.at;
        match usize::try_from(count) {
            Ok(count) if count <= left => Ok(count),
            Ok(_) => Err(DecodeError::Truncated {
                at: self.bytes.len(),
            }),
            Err(_) => Err(DecodeError::Overflow { at: start }),
        }
    }

    fn text(&mut self, length: usize) -> Result<String, DecodeError> {
        let at = self.at;
        let bytes = self.take(length)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::NotUtf8 { at })
    }

    fn map(&mut self, depth: usize) -> Result<Map<String, Value>, DecodeError> {
        let count = self.count()?;
        let mut map = Map::with_capacity(count.min(RESERVE_AT_MOST));
        for _ in 0..count {
            let at = self.at;
            let length = self.count()?;
            let key = self.text(length)?;
            let value = self.value(depth)?;
            if map.insert(key, value).is_some() {
                return Err(DecodeError::DuplicateKey { at });
            }
        }
        Ok(map)
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let at = self.at;
        let byte = self.byte()?;
        let Some(tag) = Tag::of(byte) else {
            return if byte & SHORT_STRING != 0 {
                let length = usize::from(byte & !SHORT_STRING);
                self.text(length).map(Value::String)
            } else {
                Err(DecodeError::UnknownTag { tag: byte, at })
            };
        };
        Ok(match tag {
            Tag::Null => Value::Null,
            Tag::False => Value::Bool(false),
            Tag::True => Value::Bool(true),
            Tag::Unsigned => Value::from(self.varint()?),
            Tag::Negative => {
                let stored =
                    i64::try_from(self.varint()?).map_err(|_| DecodeError::BadNumber { at })?;
                Value::from(!stored)
            }
            Tag::Float => {
                let bits: [u8; 8] = self
                    .take(8)?
                    .try_into()
                    .map_err(|_| DecodeError::Truncated { at })?;
                Number::from_f64(f64::from_bits(u64::from_le_bytes(bits)))
                    .map(Value::Number)
                    .ok_or(DecodeError::BadNumber { at })?
            }
            Tag::String => {
                let length = self.count()?;
                Value::String(self.text(length)?)
            }
            Tag::Array => {
                let depth = Self::deeper(depth, at)?;
                let count = self.count()?;
                let mut items = Vec::with_capacity(count.min(RESERVE_AT_MOST));
                for _ in 0..count {
                    items.push(self.value(depth)?);
                }
                Value::Array(items)
            }
            Tag::Object => Value::Object(self.map(Self::deeper(depth, at)?)?),
        })
    }

    fn deeper(depth: usize, at: usize) -> Result<usize, DecodeError> {
        if depth < MAX_DEPTH {
            Ok(depth + 1)
        } else {
            Err(DecodeError::TooDeep { at })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::strategies::{json_value, string};
    use crate::event::{LineBlock, LineOrigin};
    use proptest::prelude::*;
    use serde_json::json;
    use std::sync::Arc;

    fn encoded(event: &Event) -> Vec<u8> {
        let mut out = Vec::new();
        encode(event, &mut out).unwrap();
        out
    }

    /// Fields and metadata in order, floats to the bit (`==` on maps ignores order, and
    /// `-0.0 == 0.0`).
    fn shown(event: &Event) -> (String, String, String) {
        let mut written = Vec::new();
        event.write_json(&mut written).unwrap();
        (
            serde_json::to_string(event.fields()).unwrap(),
            serde_json::to_string(event.metadata()).unwrap(),
            String::from_utf8(written).unwrap(),
        )
    }

    fn assert_round_trip(event: &Event) -> Result<(), TestCaseError> {
        let bytes = encoded(event);
        let decoded = decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&decoded, event);
        prop_assert_eq!(shown(&decoded), shown(event));
        prop_assert_eq!(decoded.timestamp(), event.timestamp());
        prop_assert_eq!(
            encoded(&decoded),
            bytes,
            "decoding then encoding is the identity"
        );
        Ok(())
    }

    fn map(entries: Vec<(String, Value)>) -> Map<String, Value> {
        entries.into_iter().collect()
    }

    /// Events with any fields and metadata, often with tags and a `@timestamp`.
    fn event() -> impl Strategy<Value = Event> {
        let entries = || prop::collection::vec((string(), json_value()), 0..8);
        (
            entries(),
            entries(),
            prop::option::of(prop::collection::vec(string(), 0..4)),
            prop::option::of(string()),
        )
            .prop_map(|(fields, metadata, tags, timestamp)| {
                let mut fields = map(fields);
                if let Some(timestamp) = timestamp {
                    fields.insert("@timestamp".into(), Value::String(timestamp));
                }
                if let Some(tags) = tags {
                    fields.insert("tags".into(), json!(tags));
                }
                Event::from_parts(fields, map(metadata))
            })
    }

    /// The events of one batch of lines, kept lazy as the file input hands them over.
    fn line_events(lines: &[(Vec<u8>, u64, bool)], tags: &[String], file: bool) -> Vec<Event> {
        let origin = Arc::new(LineOrigin::new(
            file.then(|| json!({"path": "/var/log/mqtt/client.log"})),
            vec![
                ("host".into(), json!({"name": "edge-1"})),
                ("fields".into(), json!({"service": "mqtt"})),
            ],
            tags.iter().map(|tag| json!(tag)).collect(),
        ));
        let mut block = LineBlock::default();
        for (i, (line, offset, truncated)) in lines.iter().enumerate() {
            let now = if i % 2 == 0 {
                "2026-11-24T23:52:00.000Z"
            } else {
                "2026-11-24T23:52:00.001Z"
            };
            block.push(line, *offset, *truncated, &origin, now);
        }
        let mut events = Vec::new();
        block.into_events(&mut events);
        events
    }

    #[test]
    fn format_1_is_stable() {
        // What a disk queue written by this build holds: a later build must read it.
        let mut event = Event::from_value(json!({
            "@timestamp": "2026-11-24T23:52:00.000Z",
            "n": -2, "u": 300, "f": 1.5, "ok": true, "no": false, "none": null,
            "tags": ["a"], "o": {}
        }));
        event.metadata_mut().insert("beat".into(), json!("fb"));
        let mut expected = vec![FORMAT, 9];
        expected.extend(b"\x0a@timestamp\x98");
        expected.extend(b"2026-11-24T23:52:00.000Z");
        expected.extend(b"\x01n\x04\x01");
        expected.extend(b"\x01u\x03\xac\x02");
        expected.extend(b"\x01f\x05");
        expected.extend(1.5f64.to_bits().to_le_bytes());
        expected.extend(b"\x02ok\x02\x02no\x01\x04none\x00");
        expected.extend(b"\x04tags\x07\x01\x81a\x01o\x08\x00");
        expected.extend(b"\x01\x04beat\x82fb");
        assert_eq!(encoded(&event), expected);
        assert_eq!(decode(&expected), Ok(event));
    }

    #[test]
    fn each_tag_is_found_by_its_byte() {
        for tag in Tag::ALL {
            assert_eq!(Tag::of(tag as u8), Some(tag));
        }
        assert_eq!(Tag::of(Tag::ALL.len() as u8), None);
    }

    #[test]
    fn numbers_keep_their_kind_and_every_bit() {
        for value in [
            json!(0),
            json!(1),
            json!(-1),
            json!(1.0),
            json!(-0.0),
            json!(i64::MIN),
            json!(i64::MAX),
            json!(u64::MAX),
            json!(f64::MIN_POSITIVE),
            json!(5e-324),
            json!(0.1 + 0.2),
        ] {
            let event = Event::from_value(json!({ "n": value }));
            let decoded = decode(&encoded(&event)).unwrap();
            let (Some(Value::Number(before)), Some(Value::Number(after))) =
                (event.get_field("n"), decoded.get_field("n"))
            else {
                panic!("{value} did not stay a number");
            };
            assert_eq!(
                (before.is_u64(), before.is_i64(), before.is_f64()),
                (after.is_u64(), after.is_i64(), after.is_f64()),
                "{value}"
            );
            assert_eq!(
                before.as_f64().map(f64::to_bits),
                after.as_f64().map(f64::to_bits)
            );
            assert_eq!(before, after);
        }
    }

    #[test]
    fn long_strings_carry_their_length_after_the_tag() {
        for length in [0, 1, 127, 128, 129, 16_383, 16_384, 100_000] {
            let text = "é".repeat(length / 2) + "x".repeat(length % 2).as_str();
            let event = Event::from_value(json!({ "message": text }));
            let bytes = encoded(&event);
            let header = if text.len() <= SHORT_STRING_MAX {
                1
            } else {
                let bits = u64::BITS - (text.len() as u64).leading_zeros();
                1 + bits.div_ceil(7) as usize
            };
            // Format, field count, key length, key, the string's header and bytes, and the
            // (empty) metadata's count.
            let expected = 1 + 1 + 1 + "message".len() + header + text.len() + 1;
            assert_eq!(bytes.len(), expected, "{length}");
            assert_eq!(decode(&bytes), Ok(event), "{length}");
        }
    }

    fn nested(depth: usize) -> Value {
        (0..depth).fold(json!("leaf"), |inner, i| {
            if i % 2 == 0 {
                json!([inner])
            } else {
                json!({ "k": inner })
            }
        })
    }

    #[test]
    fn nesting_is_bounded_the_same_both_ways() {
        let deepest = Event::from_value(json!({ "deep": nested(MAX_DEPTH) }));
        let bytes = encoded(&deepest);
        assert_eq!(decode(&bytes), Ok(deepest));

        let too_deep = Event::from_value(json!({ "deep": nested(MAX_DEPTH + 1) }));
        let mut out = b"before".to_vec();
        assert_eq!(encode(&too_deep, &mut out), Err(EncodeError::TooDeep));
        assert_eq!(
            out, b"before",
            "a failed encode leaves the buffer as it was"
        );

        // The same nesting written by hand: one more array around the deepest value.
        let mut crafted = vec![FORMAT, 1, 4];
        crafted.extend(b"deep\x07\x01");
        crafted.extend(&bytes[7..]);
        assert!(matches!(decode(&crafted), Err(DecodeError::TooDeep { .. })));
    }

    #[test]
    fn damaged_events_are_refused_with_the_reason() {
        let cases: [(&[u8], DecodeError); 11] = [
            (b"", DecodeError::Truncated { at: 0 }),
            (b"\x02\x00\x00", DecodeError::UnknownFormat { found: 2 }),
            (b"{\"a\":1}", DecodeError::UnknownFormat { found: b'{' }),
            (
                b"\x01\x01\x01a\x09\x00",
                DecodeError::UnknownTag { tag: 9, at: 4 },
            ),
            (
                b"\x01\x01\x01a\x04\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00",
                DecodeError::BadNumber { at: 4 },
            ),
            (
                b"\x01\x01\x01a\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02\x00",
                DecodeError::Overflow { at: 5 },
            ),
            (
                b"\x01\x01\x01a\x05\x00\x00\x00\x00\x00\x00\xf8\x7f\x00",
                DecodeError::BadNumber { at: 4 },
            ),
            (
                b"\x01\x01\x01a\x82\xc3\x28\x00",
                DecodeError::NotUtf8 { at: 5 },
            ),
            (
                b"\x01\x02\x01a\x00\x01a\x01\x00",
                DecodeError::DuplicateKey { at: 5 },
            ),
            (b"\x01\x00\x00\x00", DecodeError::TrailingBytes { extra: 1 }),
            // A count far beyond the bytes left is found before anything is reserved.
            (
                b"\x01\xff\xff\xff\xff\xff\xff\xff\xff\x7f",
                DecodeError::Truncated { at: 10 },
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(decode(bytes), Err(expected), "{bytes:?}");
        }
    }

    #[test]
    fn a_line_event_round_trips_and_is_encoded_from_its_fields() {
        let events = line_events(
            &[
                (b"{\"level\":\"info\"}".to_vec(), 42, false),
                (b"cut \xff".to_vec(), 7, true),
            ],
            &["edge".to_string()],
            true,
        );
        for event in &events {
            assert!(event.is_unbuilt());
            let decoded = decode(&encoded(event)).unwrap();
            assert_eq!(&decoded, event);
            assert_eq!(shown(&decoded), shown(event));
        }
        assert!(events[1].has_tag(crate::event::TRUNCATED_TAG));
        assert_eq!(events[1].get_field("message"), Some(&json!("cut \u{fffd}")));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn any_event_round_trips(event in event()) {
            assert_round_trip(&event)?;
        }

        #[test]
        fn lazy_line_events_round_trip(
            lines in prop::collection::vec(
                (prop::collection::vec(any::<u8>(), 0..120), any::<u64>(), any::<bool>()),
                1..6,
            ),
            tags in prop::collection::vec(string(), 0..3),
            file in any::<bool>(),
        ) {
            for event in line_events(&lines, &tags, file) {
                prop_assert!(event.is_unbuilt());
                // Written from its parts, it stays unbuilt; `assert_round_trip` then holds
                // those bytes equal to what the built map encodes to.
                let bytes = encoded(&event);
                prop_assert!(event.is_unbuilt(), "encoding built the map");
                let mut built = event.clone();
                built.fields_mut();
                prop_assert_eq!(encoded(&built), bytes);
                assert_round_trip(&event)?;
            }
        }

        /// Whatever the bytes, decoding answers (no panic, no runaway allocation), and what
        /// it accepts encodes back to an event it accepts again.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut framed = vec![FORMAT];
            framed.extend(&bytes);
            for input in [&bytes, &framed] {
                if let Ok(event) = decode(input) {
                    assert_round_trip(&event)?;
                }
            }
        }

        /// Damage to a real encoding: every cut is `Truncated`; a changed or inserted byte
        /// gives an error or another event, never a panic.
        #[test]
        fn damaged_encodings_never_panic(
            event in event(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let bytes = encoded(&event);
            let at = at.index(bytes.len());
            prop_assert!(
                matches!(decode(&bytes[..at]), Err(DecodeError::Truncated { .. })),
                "cut at {}", at
            );
            let mut changed = bytes.clone();
            changed[at] = byte;
            let mut inserted = bytes.clone();
            inserted.insert(at, byte);
            for damaged in [changed, inserted] {
                if let Ok(event) = decode(&damaged) {
                    assert_round_trip(&event)?;
                }
            }
        }
    }
}
