//! Messages shaped like a line event as sluice writes it, split without parsing them whole.
//!
//! `{"@timestamp":"<time>","message":"<line>",…}`: the time, the message's text (unescaped in
//! one pass) and the bytes after it, for `lines.rs` to match against the origins it knows or
//! to parse on their own. Everything here steps aside (`None`) where `serde_json` might see
//! the bytes differently, so that errors and edge cases stay the whole parse's.

use crate::event::parse_object_slice;
use serde_json::{Map, Value};

/// Room reserved for the fields of a parsed message (the seed corpus has about ten).
pub(super) const EXPECTED_FIELDS: usize = 16;

/// How every event read as a line starts when sluice writes it (`event/line.rs`): the read
/// time, then the line's text as a JSON string.
const LINE_HEAD: &[u8] = br#"{"@timestamp":""#;
const MESSAGE_KEY: &[u8] = br#"","message":""#;

/// A payload shaped like a line event as sluice writes it, split: `{"@timestamp":"<time>"`,
/// the `message` string (unescaped into the caller's buffer) and what follows it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Envelope<'a> {
    /// `{"@timestamp":"<time>"`.
    pub head: &'a [u8],
    /// The time, checked to be a JSON string's text without escapes.
    pub timestamp: &'a str,
    /// What follows the message's closing quote.
    pub tail: &'a [u8],
}

/// Splits a payload shaped like a line event as sluice writes it (a shipper's file input to
/// the Kafka output, the two-tier layout), its message's text into `message`; `None` for
/// anything else, or anything the split is not sure of (an unknown escape, a raw control
/// character, a surrogate escape, invalid UTF-8), which is then parsed whole by `serde_json`.
///
/// Why: such a payload is mostly its `message`, a log line that is itself JSON, so nearly
/// every byte of it is a `\"` escape, and `serde_json` handles each escape as a separate step
/// (about 26,000 instructions per seed-corpus message, two thirds of the Kafka input's cost).
/// Here the message string is unescaped in one pass; the rest of the object (`log`, `host`,
/// `fields`: a hundred-odd bytes) is matched against the lines seen before (`lines.rs`) or
/// parsed by `serde_json` without it ([`parse_envelope_rest`]).
pub(super) fn split_envelope<'a>(payload: &'a [u8], message: &mut Vec<u8>) -> Option<Envelope<'a>> {
    let rest = payload.strip_prefix(LINE_HEAD)?;
    let timestamp_end = memchr::memchr2(b'"', b'\\', rest)?;
    let timestamp = &rest[..timestamp_end];
    if timestamp.iter().any(|&b| b < 0x20) {
        return None;
    }
    let timestamp = std::str::from_utf8(timestamp).ok()?;
    let after_message_key = rest[timestamp_end..].strip_prefix(MESSAGE_KEY)?;
    let used = unescape_json_string(after_message_key, message)?;
    Some(Envelope {
        head: &payload[..LINE_HEAD.len() + timestamp_end + 1],
        timestamp,
        tail: &after_message_key[used..],
    })
}

/// The fields of a split payload, exactly what parsing it whole gives: the object without its
/// `message` member parsed by `serde_json`, then the message put back in second place. `None`
/// when the rest has a `message` of its own (duplicate-key rules stay `serde_json`'s) or does
/// not parse.
pub(super) fn parse_envelope_rest(
    envelope: &Envelope<'_>,
    message: &[u8],
) -> Option<Map<String, Value>> {
    let mut without = Vec::with_capacity(envelope.head.len() + envelope.tail.len());
    without.extend_from_slice(envelope.head);
    without.extend_from_slice(envelope.tail);
    let mut fields = parse_object_slice(&without, EXPECTED_FIELDS).ok()?;
    if fields.contains_key(crate::event::MESSAGE) {
        return None;
    }
    // `unescape_json_string` checked that the text is UTF-8.
    let message = String::from_utf8(message.to_vec()).ok()?;
    fields.shift_insert(1, crate::event::MESSAGE.into(), Value::String(message));
    Some(fields)
}

/// The fields of a payload shaped like a line event, or `None` for anything else (see
/// [`split_envelope`]). Exactly what parsing it whole gives, only cheaper.
#[cfg(test)]
pub(super) fn parse_line_envelope(payload: &[u8]) -> Option<Map<String, Value>> {
    let mut message = Vec::new();
    let envelope = split_envelope(payload, &mut message)?;
    parse_envelope_rest(&envelope, &message)
}

/// Bytes that end a run of a JSON string's plain text: the closing quote, an escape, and the
/// control characters JSON forbids raw.
const STRING_SPECIAL: [bool; 256] = {
    let mut special = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        special[byte] = true;
        byte += 1;
    }
    special[b'"' as usize] = true;
    special[b'\\' as usize] = true;
    special
};

/// Where the run of plain string text that starts at `at` ends: the first special byte (see
/// [`STRING_SPECIAL`]), or the end. Eight bytes at a time while no special byte is among them
/// (a log line's runs between its `\"` escapes are a few to a few dozen bytes; byte by byte,
/// this scan was most of the unescape's cost).
fn end_of_plain_run(bytes: &[u8], mut at: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // Flags a byte that is zero, and maybe bytes after it (the borrow): the first flag is exact.
    let zero = |word: u64| word.wrapping_sub(ONES) & !word & HIGH;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let word = u64::from_le_bytes(chunk);
        let special = zero(word ^ (ONES * u64::from(b'"')))
            | zero(word ^ (ONES * u64::from(b'\\')))
            // Below 0x20: the subtraction borrows into the high bit of a byte that had none.
            | (word.wrapping_sub(ONES * 0x20) & !word & HIGH);
        if special != 0 {
            return at + (special.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while at < bytes.len() && !STRING_SPECIAL[usize::from(bytes[at])] {
        at += 1;
    }
    at
}

/// Unescapes the JSON string whose opening quote came just before `bytes` into `text`
/// (cleared first, checked to be UTF-8), answering how many bytes it took up to and including
/// its closing quote; `None` for anything `serde_json` might see differently (see
/// [`split_envelope`]).
fn unescape_json_string(bytes: &[u8], text: &mut Vec<u8>) -> Option<usize> {
    text.clear();
    text.reserve(bytes.len());
    let mut at = 0;
    loop {
        let run_start = at;
        at = end_of_plain_run(bytes, at);
        text.extend_from_slice(&bytes[run_start..at]);
        match *bytes.get(at)? {
            b'"' => break,
            b'\\' => {
                let unescaped = match *bytes.get(at + 1)? {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => {
                        // What serde_json writes for other control characters; surrogates
                        // (pairs, and the errors of lone ones) are left to serde_json.
                        let hex = bytes.get(at + 2..at + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        let hex = std::str::from_utf8(hex).ok()?;
                        let code = u32::from_str_radix(hex, 16).ok()?;
                        let c = char::from_u32(code)?;
                        let mut utf8 = [0; 4];
                        text.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                        at += 6;
                        continue;
                    }
                    _ => return None,
                };
                text.push(unescaped);
                at += 2;
            }
            // A control character must be escaped: not valid JSON.
            _ => return None,
        }
    }
    std::str::from_utf8(text).ok()?;
    Some(at + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The word-at-a-time scan stops where the byte-by-byte one does.
        #[test]
        fn a_plain_run_ends_at_the_first_special_byte(
            bytes in prop::collection::vec(
                prop_oneof![any::<u8>(), Just(b'"'), Just(b'\\'), Just(0x1f), Just(0x20), Just(0x7f), Just(0x80)],
                0..40,
            ),
            start in 0usize..40,
        ) {
            let start = start.min(bytes.len());
            let naive = bytes[start..]
                .iter()
                .position(|&b| STRING_SPECIAL[usize::from(b)])
                .map_or(bytes.len(), |at| start + at);
            prop_assert_eq!(end_of_plain_run(&bytes, start), naive);
        }
    }
}
