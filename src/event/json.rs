//! Compact JSON for `serde_json` values: byte for byte what `serde_json::to_writer` writes,
//! in fewer instructions.
//!
//! Writing events out is the hot loop of every output (the Elasticsearch `_bulk` encoder spent
//! ~9,800 of its ~13,400 instructions per event in `serde_json`). Two things make
//! `serde_json` slow for log events: it escapes strings by looking every byte up in a table and
//! branching on it, and it drives every map entry through its generic `Serializer` /
//! `Formatter` machinery. Log events are mostly strings without anything to escape (messages,
//! keys, topics, ids). So this writer:
//! - walks `Value`s directly (`{`, key, `:`, value, `,`, ... `}`), no serializer state;
//! - finds the bytes that need escaping eight bytes at a time (a SWAR test on a `u64` for
//!   "below 0x20, `"` or `\`"), and copies each clean run with one `extend_from_slice`, or,
//!   when it is shorter than a word (a log line that holds JSON has a quote every few bytes),
//!   with one fixed 8-byte copy cut back to the run;
//! - writes texts of at most 16 bytes (most keys and many values) as two fixed-size,
//!   overlapping pieces, tested as one or two words, without a `memcpy` call;
//! - writes into a `Vec<u8>` only: every caller has one, and the short-text copy needs to
//!   back up over the overlap.
//!
//! The output must stay identical to `serde_json`'s, because other code relies on that: a line
//! event's raw form must equal its built map's serialisation (`line.rs`), and derived
//! Elasticsearch ids hash the written document, so one different byte after an upgrade would
//! turn a resent event into a duplicate. The rules reproduced here (serde_json 1.x, compact
//! formatter):
//! - strings: `"` → `\"`, `\` → `\\`, 0x08 → `\b`, 0x0C → `\f`, 0x0A → `\n`, 0x0D → `\r`,
//!   0x09 → `\t`, every other byte below 0x20 → `\u00XX` with lowercase hex; everything else
//!   raw, DEL (0x7F), `/` and non-ASCII included;
//! - numbers: handed to `serde_json` itself (`Number`'s own serialisation: integers through
//!   `itoa`, floats through its shortest round-trip formatter, which is not `ryu` in current
//!   versions), so they cannot differ;
//! - maps in their stored order (`preserve_order`), `{}` and `[]` for empty ones, no spaces.
//!
//! The property test below holds the writer to `serde_json::to_vec` on arbitrary nested values
//! (every escape class, control characters, emoji, float and integer extremes, empty
//! containers, keys that need escaping).

use serde_json::{Map, Number, Value};
use std::io::{self, Write};

/// Writes `value` as compact JSON.
pub fn write_value(writer: &mut Vec<u8>, value: &Value) -> io::Result<()> {
    match value {
        Value::Null => writer.write_all(b"null"),
        Value::Bool(true) => writer.write_all(b"true"),
        Value::Bool(false) => writer.write_all(b"false"),
        Value::Number(number) => write_number(writer, number),
        Value::String(text) => write_str(writer, text),
        Value::Array(items) => {
            let Some((first, rest)) = items.split_first() else {
                return writer.write_all(b"[]");
            };
            writer.write_all(b"[")?;
            write_value(writer, first)?;
            for item in rest {
                writer.write_all(b",")?;
                write_value(writer, item)?;
            }
            writer.write_all(b"]")
        }
        Value::Object(map) => write_object(writer, map),
    }
}

/// Writes `map` as a compact JSON object, entries in the map's order.
pub fn write_object(writer: &mut Vec<u8>, map: &Map<String, Value>) -> io::Result<()> {
    if map.is_empty() {
        return writer.write_all(b"{}");
    }
    // Punctuation around keys and string values is written in as few pieces as possible:
    // `{"` / `,"` before a key, `":"` between a key and a string value.
    let mut first = true;
    for (key, value) in map {
        writer.write_all(if first { b"{\"" } else { b",\"" })?;
        first = false;
        write_str_contents(writer, key)?;
        match value {
            Value::String(text) => {
                writer.write_all(b"\":\"")?;
                write_str_contents(writer, text)?;
                writer.write_all(b"\"")?;
            }
            other => {
                writer.write_all(b"\":")?;
                write_value(writer, other)?;
            }
        }
    }
    writer.write_all(b"}")
}

/// Writes a number exactly as `serde_json` does, by letting it do so.
fn write_number(writer: &mut Vec<u8>, number: &Number) -> io::Result<()> {
    serde_json::to_writer(writer, number).map_err(io::Error::from)
}

/// Writes `text` as a JSON string literal, quotes included.
pub fn write_str(writer: &mut Vec<u8>, text: &str) -> io::Result<()> {
    writer.write_all(b"\"")?;
    write_str_contents(writer, text)?;
    writer.write_all(b"\"")
}

/// Writes `text` escaped, without quotes. The common case, a text without anything to
/// escape, is one scan a word at a time and one write; the first word holding a byte to
/// escape hands over to [`write_escaped`]. Texts of at most 16 bytes (most keys, levels,
/// ids) take [`write_short`] instead.
#[inline]
fn write_str_contents(writer: &mut Vec<u8>, text: &str) -> io::Result<()> {
    let bytes = text.as_bytes();
    let len = bytes.len();
    if len <= 16 {
        return write_short(writer, bytes);
    }
    let last = len - 8;
    let mut at = 0;
    while let Some(word) = word_at(bytes, at) {
        if escape_mask(word) != 0 {
            return write_escaped(writer, bytes, at);
        }
        at += 8;
    }
    if at < len {
        // The last 8 bytes as one word, the ones already scanned made clean.
        let word = word_at(bytes, last).map_or(0, |word| cleaned(word, at - last));
        if escape_mask(word) != 0 {
            return write_escaped(writer, bytes, at);
        }
    }
    writer.extend_from_slice(bytes);
    Ok(())
}

/// Writes a text of at most 16 bytes. Such a text is covered by two pieces of a fixed size
/// (its first and its last 8, 4, 2 or 1 bytes, overlapping in the middle): both are tested
/// for escapes as one or two words and written as two fixed-size copies, the second one
/// over the overlap. A `memcpy` call and a byte-by-byte scan cost more than the text itself
/// at these lengths (callgrind: ~90 of the ~105 instructions each of the ~33 strings of an
/// event cost).
#[inline]
fn write_short(writer: &mut Vec<u8>, bytes: &[u8]) -> io::Result<()> {
    match bytes.len() {
        0 => Ok(()),
        1 => match bytes[0] {
            byte if needs_escape(byte) => {
                write_escape(writer, byte);
                Ok(())
            }
            byte => {
                writer.push(byte);
                Ok(())
            }
        },
        2..=3 => write_two_pieces::<2>(writer, bytes),
        4..=7 => write_two_pieces::<4>(writer, bytes),
        _ => write_two_pieces::<8>(writer, bytes),
    }
}

/// Writes `bytes` (`N ≤ len ≤ 2N`, `N` one of 2, 4, 8) as its first and its last `N`
/// bytes, or escaped when either holds a byte that needs it.
#[inline]
fn write_two_pieces<const N: usize>(writer: &mut Vec<u8>, bytes: &[u8]) -> io::Result<()> {
    let len = bytes.len();
    let (Some(head), Some(tail)) = (piece::<N>(bytes, 0), piece::<N>(bytes, len - N)) else {
        return write_escaped(writer, bytes, 0);
    };
    // Up to 4 bytes each, both pieces fit one word: one test.
    let mask = if N <= 4 {
        escape_mask(as_word(&head) & LOW_HALF | as_word(&tail) << 32)
    } else {
        escape_mask(as_word(&head)) | escape_mask(as_word(&tail))
    };
    if mask != 0 {
        return write_escaped(writer, bytes, 0);
    }
    let at = writer.len();
    writer.extend_from_slice(&head);
    // Back up over the overlap (`len - N ≤ N`): the tail rewrites those bytes with the
    // same values and ends exactly at `at + len`.
    writer.truncate(at + len - N);
    writer.extend_from_slice(&tail);
    Ok(())
}

/// The `N` bytes of `bytes` at `at`.
#[inline]
fn piece<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at + N)?.try_into().ok()
}

/// Up to 8 bytes as a word for [`escape_mask`], the missing high bytes filled with a byte
/// that needs no escape.
#[inline]
fn as_word<const N: usize>(piece: &[u8; N]) -> u64 {
    let mut word = [b'A'; 8];
    word[..N].copy_from_slice(piece);
    u64::from_le_bytes(word)
}

/// Writes `bytes` escaped, without quotes, knowing that `bytes[..from]` needs no escapes:
/// one pass a word at a time from `from` on.
fn write_escaped(writer: &mut Vec<u8>, bytes: &[u8], from: usize) -> io::Result<()> {
    let len = bytes.len();
    // Start of the run of clean bytes not written yet.
    let mut start = 0;
    let mut at = from;
    while let Some(word) = word_at(bytes, at) {
        start = write_escapes_in_word(writer, bytes, at, exact_escape_mask(word), start);
        at += 8;
    }
    if at < len {
        if let Some(word) = len.checked_sub(8).and_then(|last| word_at(bytes, last)) {
            // The last 8 bytes as one word, the ones already handled made clean.
            let last = len - 8;
            let mask = exact_escape_mask(cleaned(word, at - last));
            start = write_escapes_in_word(writer, bytes, last, mask, start);
        } else {
            // A text shorter than a word.
            for (i, &byte) in bytes.iter().enumerate().skip(at) {
                if needs_escape(byte) {
                    if i > start {
                        writer.write_all(&bytes[start..i])?;
                    }
                    write_escape(writer, byte);
                    start = i + 1;
                }
            }
        }
    }
    if start < len {
        writer.write_all(&bytes[start..])?;
    }
    Ok(())
}

/// Handles the bytes needing escapes in the 8 bytes of `bytes` at `at`, flagged in `mask`
/// (see [`exact_escape_mask`]): writes the clean run before each (from `start`) and its
/// escape. Returns where the next run starts. Inlined into its loop: in escape-dense text it
/// runs for most words, and a call per word (with the word's mask computed twice) was over a
/// quarter of the escaping's instructions (callgrind).
#[inline(always)]
fn write_escapes_in_word(
    writer: &mut Vec<u8>,
    bytes: &[u8],
    at: usize,
    mut mask: u64,
    mut start: usize,
) -> usize {
    while mask != 0 {
        let offset = (mask.trailing_zeros() / 8) as usize;
        let position = at + offset;
        if position > start {
            extend_with_run(writer, bytes, start, position);
        }
        match bytes[position] {
            // A quote inside a log line that holds JSON: by far the most common escape.
            b'"' => writer.extend_from_slice(b"\\\""),
            byte => write_escape(writer, byte),
        }
        start = position + 1;
        mask &= mask - 1;
    }
    start
}

/// Appends `bytes[start..end]` to `writer`: a run of text between two escapes. In a log line
/// that holds JSON an escape comes every 7 bytes on average, so most runs are shorter than a
/// word: those are copied as the 8 bytes at `start` (a copy whose length is known when
/// compiling: no `memcpy` call) and cut back to the run.
#[inline]
fn extend_with_run(writer: &mut Vec<u8>, bytes: &[u8], start: usize, end: usize) {
    let run = end - start;
    match piece::<8>(bytes, start) {
        Some(word) if run <= 8 => {
            let keep = writer.len() + run;
            writer.extend_from_slice(&word);
            writer.truncate(keep);
        }
        _ => writer.extend_from_slice(&bytes[start..end]),
    }
}

/// `word` with its first `count` bytes (1 to 7) replaced by a byte that needs no escape.
#[inline]
fn cleaned(word: u64, count: usize) -> u64 {
    let keep = !0u64 << (8 * count);
    (word & keep) | ((ONES * u64::from(b'A')) & !keep)
}

/// Writes the escape sequence of a byte that needs one.
fn write_escape(writer: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match byte {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x0c => b'f',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        _ => {
            writer.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0x0f)],
            ]);
            return;
        }
    };
    writer.extend_from_slice(&[b'\\', short]);
}

/// Whether a byte must be escaped inside a JSON string.
const fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW_HALF: u64 = 0xffff_ffff;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of every byte of `word` that needs escaping, and possibly of bytes after the
/// first such byte (the borrow of a subtraction can carry into the next byte); the lowest set
/// bit is always exact. A yes-or-no test of a word; [`exact_escape_mask`] says which bytes.
///
/// `(x - n·ONES) & !x & HIGH_BITS` flags the bytes of `x` below `n` (n ≤ 0x80); a byte equal
/// to `c` is a zero byte of `x ^ c·ONES`. `!x` and `!(x ^ c·ONES)` have the same high bits for
/// the ASCII `c` used here, so one `& !x` serves all three tests; non-ASCII bytes (high bit
/// set) are never flagged.
const fn escape_mask(word: u64) -> u64 {
    let control = word.wrapping_sub(ONES * 0x20);
    let quote = (word ^ (ONES * b'"' as u64)).wrapping_sub(ONES);
    let backslash = (word ^ (ONES * b'\\' as u64)).wrapping_sub(ONES);
    (control | quote | backslash) & !word & HIGH_BITS
}

/// The high bit of exactly the bytes of `word` that need escaping. Costs a few instructions
/// more than [`escape_mask`], but its flags can be taken one after the other (`mask &= mask -
/// 1`) where that one's must be tested again after each escape: in text with an escape every
/// few bytes, this is the cheaper of the two.
///
/// Seven bits of a byte plus `0x7f` (or `0x60`) stay within the byte, so no test borrows or
/// carries into its neighbour: `(x & 0x7f) + 0x7f` has its high bit clear only for a zero
/// `x & 0x7f`, `(x & 0x7f) + 0x60` only below `0x20`; `& !word` keeps the bytes without their
/// own high bit (the ASCII ones) as in [`escape_mask`].
const fn exact_escape_mask(word: u64) -> u64 {
    const LOW_BITS: u64 = !HIGH_BITS;
    let control = (word & LOW_BITS).wrapping_add(ONES * 0x60);
    let quote = ((word ^ (ONES * b'"' as u64)) & LOW_BITS).wrapping_add(LOW_BITS);
    let backslash = ((word ^ (ONES * b'\\' as u64)) & LOW_BITS).wrapping_add(LOW_BITS);
    !(control & quote & backslash) & !word & HIGH_BITS
}

/// The eight bytes at `at` as a little-endian word (the first byte lowest).
fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// Arbitrary JSON values for the property tests of every raw-versus-built writer (this
/// module's, line events', raw Beats events'): all escape classes, extreme numbers, nesting.
#[cfg(test)]
pub(crate) mod strategies {
    use proptest::prelude::*;
    use serde_json::Value;

    /// Texts like a log line that holds JSON, an escape every few bytes: `first` clean bytes,
    /// then clean runs of 0 to `longest` bytes, each after a quote and before one of `ends` in
    /// turn. Over `first` in 0..8 the runs start at every offset of a word.
    pub(crate) fn escape_dense_text(first: usize, longest: usize, ends: &[char]) -> String {
        let mut text = "x".repeat(first);
        for run in 0..=longest {
            text.push('"');
            text.extend(std::iter::repeat_n('r', run));
            text.push(ends[run % ends.len()]);
        }
        text
    }

    /// Strings of every kind a writer must escape or copy.
    pub(crate) fn string() -> BoxedStrategy<String> {
        prop_oneof![
            ".{0,40}",
            "[a-z\"\\\\\u{0}-\u{1f}\u{7f}é😀/\u{2028} ]{0,40}",
            prop::collection::vec(any::<char>(), 0..30).prop_map(|c| c.into_iter().collect()),
        ]
        .boxed()
    }

    /// Values whose object keys are any [`string`].
    pub(crate) fn json_value() -> BoxedStrategy<Value> {
        json_value_with_keys(string())
    }

    /// Values whose object keys come from `keys` (short alphabets make duplicate keys).
    pub(crate) fn json_value_with_keys(keys: BoxedStrategy<String>) -> BoxedStrategy<Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(-1), Just(0)].prop_map(Value::from),
            Just(Value::from(u64::MAX)),
            any::<f64>().prop_map(Value::from),
            prop_oneof![
                Just(f64::MAX),
                Just(f64::MIN),
                Just(f64::MIN_POSITIVE),
                Just(5e-324),
                Just(-0.0),
                Just(1e15),
                Just(1e16),
                Just(1e21),
                Just(1e-7)
            ]
            .prop_map(Value::from),
            string().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((keys.clone(), inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::strategies::{escape_dense_text, json_value, string};
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn ours(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        write_value(&mut out, value).unwrap();
        out
    }

    fn theirs(value: &Value) -> Vec<u8> {
        serde_json::to_vec(value).unwrap()
    }

    #[test]
    fn every_byte_escapes_as_serde_json_escapes_it() {
        // Each ASCII byte alone, and inside clean runs of every length around the word size.
        for byte in 0u8..0x80 {
            let c = char::from(byte);
            for (before, after) in [(0, 0), (1, 0), (7, 1), (8, 8), (9, 15), (16, 3)] {
                let text = format!("{}{c}{}", "a".repeat(before), "é".repeat(after));
                let value = Value::String(text);
                assert_eq!(ours(&value), theirs(&value), "byte {byte:#04x}");
            }
        }
        assert_eq!(
            ours(&json!("\u{1}\u{1f}\u{7f}")),
            "\"\\u0001\\u001f\u{7f}\"".as_bytes()
        );
    }

    #[test]
    fn every_escape_is_found_after_borrows_and_in_the_overlapping_last_word() {
        // Bytes that need escapes followed by bytes just above the thresholds (a borrow
        // could flag them), at every position of texts around the word size.
        let after = [0x20, 0x21, 0x23, 0x5d, 0x7f, b'"', 0x00, b'\\', 0x1f];
        for len in 1..=24 {
            for at in 0..len {
                for gap in 1..4 {
                    let mut bytes = vec![b'#'; len]; // 0x23, one above `"`
                    for (i, b) in bytes.iter_mut().enumerate().skip(at) {
                        *b = if (i - at) % gap == 0 {
                            0x00
                        } else {
                            after[i % after.len()]
                        };
                    }
                    let text = String::from_utf8(bytes).unwrap();
                    let value = Value::String(text);
                    assert_eq!(ours(&value), theirs(&value), "len {len} at {at} gap {gap}");
                }
            }
        }
    }

    #[test]
    fn the_exact_mask_flags_exactly_the_bytes_that_need_escapes() {
        // Every byte value at every position, among neighbours on both sides of each threshold.
        for neighbour in [
            b'A', 0x00, 0x1f, 0x20, b'"', b'#', b'\\', b']', 0x7f, 0x80, 0xff,
        ] {
            for position in 0..8 {
                for byte in 0..=u8::MAX {
                    let mut bytes = [neighbour; 8];
                    bytes[position] = byte;
                    let expected = bytes.iter().enumerate().fold(0u64, |mask, (i, &b)| {
                        if needs_escape(b) {
                            mask | 0x80 << (8 * i)
                        } else {
                            mask
                        }
                    });
                    let mask = exact_escape_mask(u64::from_le_bytes(bytes));
                    assert_eq!(mask, expected, "{bytes:02x?}");
                }
            }
        }
    }

    #[test]
    fn escape_dense_text_with_runs_of_every_length() {
        // A log line that holds JSON: quotes every few bytes. Clean runs of 0 to 19 bytes
        // between escapes, starting at every offset of a word, written after earlier output.
        for first in 0..8 {
            for longest in 0..20 {
                let text = escape_dense_text(first, longest, &['\\', '"', '"']);
                let mut out = b"[1,".to_vec();
                write_str(&mut out, &text).unwrap();
                let mut expected = b"[1,".to_vec();
                expected.extend(theirs(&Value::String(text.clone())));
                assert_eq!(out, expected, "{text:?}");
            }
        }
    }

    #[test]
    fn short_texts_of_every_length_are_copied_whole_after_what_is_already_written() {
        // Lengths around each piece size (1, 2, 4, 8, 16) and past the short path, clean or
        // with one byte to escape at each position, written after earlier output.
        for len in 0..=20 {
            let clean: String = "abcdefghijklmnopqrstuvwxyz".chars().take(len).collect();
            let mut texts = vec![clean.clone(), "é".repeat(len / 2) + &clean[..len % 2]];
            for at in 0..len {
                for special in ['"', '\\', '\n', '\u{1}', '\u{7f}'] {
                    let mut text: Vec<char> = clean.chars().collect();
                    text[at] = special;
                    texts.push(text.into_iter().collect());
                }
            }
            for text in texts {
                let mut out = b"[1,".to_vec();
                write_str(&mut out, &text).unwrap();
                let mut expected = b"[1,".to_vec();
                expected.extend(theirs(&Value::String(text.clone())));
                assert_eq!(out, expected, "{text:?}");
            }
        }
    }

    #[test]
    fn containers_and_numbers() {
        for value in [
            json!({}),
            json!([]),
            json!({"": {"a\"b": [[], {}, null, true, false]}}),
            json!([
                u64::MAX,
                i64::MIN,
                0,
                -0.0,
                1e300,
                5e-324,
                0.1,
                1e21,
                123456789.0
            ]),
            json!({"emoji 😀": "😀\n\u{2028}"}),
        ] {
            assert_eq!(ours(&value), theirs(&value));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn output_equals_serde_json(value in json_value()) {
            prop_assert_eq!(ours(&value), theirs(&value));
            if let Value::Object(map) = &value {
                let mut out = Vec::new();
                write_object(&mut out, map).unwrap();
                prop_assert_eq!(out, theirs(&value));
            }
        }

        #[test]
        fn strings_equal_serde_json(text in string()) {
            let mut out = Vec::new();
            write_str(&mut out, &text).unwrap();
            prop_assert_eq!(out, serde_json::to_vec(&text).unwrap());
        }
    }
}
