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
//! # Format 2: a line nothing has read yet
//!
//! ```text
//! line   := 0x02 size:u32le origin timestamp:string message:string offset:varint
//!           truncated:(0x00 | 0x01) map(metadata)
//!           (size = 0xffffffff and no origin: the previous line's, within one record)
//! origin := (0x00 | 0x01 value(log.file)) map(constant fields) count value(tag)*
//! ```
//!
//! A line event from the file or stdin input that no filter has read (what the disk queue
//! stores: it is written before the filters run) is its line plus the parts every line of its
//! source shares ([`LineOrigin`]). Format 1 would write it as the map it stands for, and the
//! reader would then build that map: about 31 allocations per line, on the filter worker,
//! where the memory queue hands the json filter a line it parses straight into the event
//! (measured in BENCHMARKS.md, "The disk queue keeps lines lines"). Written as its parts, it
//! decodes back into a line of a [`LineBlock`]: one block per record's run of lines, one
//! [`LineOrigin`] per distinct `origin` (`size` bytes, compared as bytes with the previous
//! line's, so a batch from one file builds it once). The map it gives is the same as format
//! 1's (a test holds the two to that).
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

use crate::event::{Event, LineBlock, LineFields, LineOrigin, LOG, MESSAGE, TAGS, TIMESTAMP};
use serde_json::{Map, Number, Value};
use std::ops::Range;
use std::sync::Arc;

/// The format of an event as its fields and metadata (see the module docs).
pub const FORMAT: u8 = 1;
/// The format of a line event whose fields nothing has built (see the module docs).
pub const LINE_FORMAT: u8 = 2;
/// A format 2 origin size meaning "the origin of the previous line of this run" ([`Encoder`]).
pub const SAME_ORIGIN: u32 = u32::MAX;

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
    #[error(
        "format {found} is not one this build reads (it reads formats {FORMAT} and {LINE_FORMAT})"
    )]
    UnknownFormat { found: u8 },
    #[error("a line's constant field at byte {at} is named like a field every line has")]
    LineKey { at: usize },
    #[error("a line at byte {at} has the origin of the line before it, and none came before")]
    NoOrigin { at: usize },
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
    // A line whose map nothing built is written as its parts (format 2): the reader gets a
    // line back, and nobody builds the map on the input's thread for nothing.
    let fields = match event.unbuilt_line_fields() {
        Some(line) => {
            out.push(LINE_FORMAT);
            write_line(out, &line)
        }
        None => {
            out.push(FORMAT);
            write_map(out, event.fields(), 0)
        }
    };
    let written = fields.and_then(|()| write_map(out, event.metadata(), 0));
    if written.is_err() {
        out.truncate(start);
    }
    written
}

/// Encodes a run of events (one record) into one buffer: like [`encode`], but a line whose
/// origin is the same as the previous line's in the run writes [`SAME_ORIGIN`] instead of
/// the origin (about 90 bytes of a file input's ~500-byte line). Decode the run with one
/// [`Decoder`] or [`decode_lines`].
#[derive(Debug, Default)]
pub struct Encoder {
    /// Where the last line's origin bytes lie in the buffer.
    last_origin: Option<Range<usize>>,
}

impl Encoder {
    /// Appends `event` to `out`, the buffer of this run. On an error `out` is left as it was.
    pub fn encode(&mut self, event: &Event, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        encode(event, out)?;
        if out.get(start) != Some(&LINE_FORMAT) {
            return Ok(());
        }
        let size_at = start + 1;
        let origin = size_at + 4..size_at + 4 + origin_size(&out[size_at..]);
        match &self.last_origin {
            Some(last) if out.get(last.clone()) == out.get(origin.clone()) => {
                out.drain(origin);
                out[size_at..size_at + 4].copy_from_slice(&SAME_ORIGIN.to_le_bytes());
            }
            _ => self.last_origin = Some(origin),
        }
        Ok(())
    }
}

/// The origin size at the start of `bytes` (written by [`write_line`], so present).
fn origin_size(bytes: &[u8]) -> usize {
    bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, |b| u32::from_le_bytes(b) as usize)
}

/// The event encoded in all of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
    let mut events = Vec::with_capacity(1);
    let mut decoder = Decoder::default();
    let decoded = decoder.decode(bytes, &mut events);
    decoder.finish(&mut events);
    decoded?;
    events.pop().ok_or(DecodeError::Truncated { at: 0 })
}

/// Decodes the events of one record (or any run of encoded events) in order, gathering
/// consecutive format 2 lines into one [`LineBlock`] that shares its origins: call
/// [`decode`](Self::decode) for each event, then [`finish`](Self::finish), also after an
/// error, so the events decoded before it are appended. [`decode_lines`] does the same for a
/// buffer of lines only without copying them.
#[derive(Debug, Default)]
pub struct Decoder {
    /// Lines decoded and not yet turned into events.
    block: LineBlock,
    /// Metadata of those lines that have some: index in the block, metadata.
    metadata: Vec<(usize, Map<String, Value>)>,
    /// The last origin read, as bytes and built.
    origin: Option<(Vec<u8>, Arc<LineOrigin>)>,
}

impl Decoder {
    /// Decodes the event in all of `bytes`; it reaches `out` now (format 1) or at the next
    /// format 1 event or [`finish`](Self::finish) (format 2), in order either way.
    pub fn decode(&mut self, bytes: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
        if bytes.first() == Some(&LINE_FORMAT) {
            let line = read_line(&mut self.origin, bytes, 0..bytes.len())?;
            let message = &bytes[line.message.clone()];
            // `read_line` checked both texts.
            let now = std::str::from_utf8(&bytes[line.now.clone()]).unwrap_or_default();
            self.note_metadata(line.metadata);
            self.block
                .push(message, line.offset, line.truncated, &line.origin, now);
            return Ok(());
        }
        let mut reader = Reader { bytes, at: 0 };
        match reader.byte()? {
            FORMAT => {
                let fields = reader.map(0)?;
                let metadata = reader.map(0)?;
                reader.end()?;
                self.finish(out);
                out.push(Event::from_parts(fields, metadata));
                Ok(())
            }
            found => Err(DecodeError::UnknownFormat { found }),
        }
    }

    /// Appends the lines decoded so far as events.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        if self.block.is_empty() {
            return;
        }
        let first = out.len();
        std::mem::take(&mut self.block).into_events(out);
        for (index, metadata) in self.metadata.drain(..) {
            if let Some(event) = out.get_mut(first + index) {
                *event.metadata_mut() = metadata;
            }
        }
    }

    fn note_metadata(&mut self, metadata: Map<String, Value>) {
        if !metadata.is_empty() {
            self.metadata.push((self.block.len(), metadata));
        }
    }
}

/// The format 2 line at `event` of `buffer` (errors at offsets of `buffer`); `cached`: the
/// last origin read, as bytes and built, reused while the bytes are the same.
fn read_line(
    cached: &mut Option<(Vec<u8>, Arc<LineOrigin>)>,
    buffer: &[u8],
    event: Range<usize>,
) -> Result<DecodedLine, DecodeError> {
    let mut reader = Reader {
        bytes: buffer
            .get(..event.end)
            .ok_or(DecodeError::Truncated { at: 0 })?,
        at: event.start,
    };
    let format = reader.byte()?;
    if format != LINE_FORMAT {
        return Err(DecodeError::UnknownFormat { found: format });
    }
    let size_at = reader.at;
    let size: [u8; 4] = reader
        .take(4)?
        .try_into()
        .map_err(|_| DecodeError::Truncated { at: size_at })?;
    let size = u32::from_le_bytes(size);
    let origin = if size == SAME_ORIGIN {
        match cached {
            Some((_, origin)) => origin.clone(),
            None => return Err(DecodeError::NoOrigin { at: size_at }),
        }
    } else {
        let origin_at = reader.at;
        let origin_bytes = reader.take(size as usize)?;
        match cached {
            Some((bytes, origin)) if bytes.as_slice() == origin_bytes => origin.clone(),
            _ => {
                let origin = Arc::new(read_origin(origin_bytes, origin_at)?);
                *cached = Some((origin_bytes.to_vec(), origin.clone()));
                origin
            }
        }
    };
    let now = reader.string_range()?;
    let message = reader.string_range()?;
    for text in [&now, &message] {
        if std::str::from_utf8(&buffer[text.clone()]).is_err() {
            return Err(DecodeError::NotUtf8 { at: text.start });
        }
    }
    let offset = reader.varint()?;
    let truncated_at = reader.at;
    let truncated = match reader.byte()? {
        0 => false,
        1 => true,
        tag => {
            return Err(DecodeError::UnknownTag {
                tag,
                at: truncated_at,
            })
        }
    };
    let metadata = reader.map(0)?;
    reader.end()?;
    Ok(DecodedLine {
        origin,
        now,
        message,
        offset,
        truncated,
        metadata,
    })
}

/// Decodes the format 2 lines at `events` of `buffer` into events that keep `buffer` as
/// their block's bytes (no line is copied). The lines decoded before an error are appended
/// too.
pub fn decode_lines(
    buffer: Vec<u8>,
    events: &[Range<usize>],
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    let mut decoder = Decoder {
        block: LineBlock::adopting(buffer, events.len()),
        ..Decoder::default()
    };
    let mut decode = || {
        for event in events {
            let line = read_line(&mut decoder.origin, decoder.block.buffer(), event.clone())?;
            let at = line.now.start;
            decoder.note_metadata(line.metadata);
            if !decoder.block.push_within(
                line.message,
                line.offset,
                line.truncated,
                &line.origin,
                line.now,
            ) {
                return Err(DecodeError::NotUtf8 { at });
            }
        }
        Ok(())
    };
    let decoded = decode();
    decoder.finish(out);
    decoded
}

/// A format 2 line, its texts as ranges of the bytes it was read from.
struct DecodedLine {
    origin: Arc<LineOrigin>,
    now: Range<usize>,
    message: Range<usize>,
    offset: u64,
    truncated: bool,
    metadata: Map<String, Value>,
}

/// The origin of a format 2 line, from its bytes (which start at byte `at` of the event).
fn read_origin(bytes: &[u8], at: usize) -> Result<LineOrigin, DecodeError> {
    let mut reader = Reader { bytes, at: 0 };
    let located = |error: DecodeError| error.shifted(at);
    let file = match reader.byte().map_err(located)? {
        0 => None,
        1 => Some(reader.value(1).map_err(located)?),
        tag => return Err(DecodeError::UnknownTag { tag, at }),
    };
    let constant_at = reader.at;
    let constant: Vec<(String, Value)> = reader.map(0).map_err(located)?.into_iter().collect();
    if constant
        .iter()
        .any(|(key, _)| [TIMESTAMP, MESSAGE, LOG, TAGS].contains(&key.as_str()))
    {
        return Err(DecodeError::LineKey {
            at: at + constant_at,
        });
    }
    let count = reader.count().map_err(located)?;
    let mut tags = Vec::with_capacity(count.min(RESERVE_AT_MOST));
    for _ in 0..count {
        tags.push(reader.value(1).map_err(located)?);
    }
    reader.end().map_err(located)?;
    Ok(LineOrigin::new(file, constant, tags))
}

impl DecodeError {
    /// The same error with its byte offset moved by `by` (an error found in a part that
    /// starts at byte `by` of the event).
    fn shifted(self, by: usize) -> Self {
        match self {
            Self::Truncated { at } => Self::Truncated { at: at + by },
            Self::UnknownTag { tag, at } => Self::UnknownTag { tag, at: at + by },
            Self::Overflow { at } => Self::Overflow { at: at + by },
            Self::BadNumber { at } => Self::BadNumber { at: at + by },
            Self::NotUtf8 { at } => Self::NotUtf8 { at: at + by },
            Self::DuplicateKey { at } => Self::DuplicateKey { at: at + by },
            Self::TooDeep { at } => Self::TooDeep { at: at + by },
            Self::LineKey { at } => Self::LineKey { at: at + by },
            Self::NoOrigin { at } => Self::NoOrigin { at: at + by },
            other @ (Self::UnknownFormat { .. } | Self::TrailingBytes { .. }) => other,
        }
    }
}

fn write_map(out: &mut Vec<u8>, map: &Map<String, Value>, depth: usize) -> Result<(), EncodeError> {
    write_varint(out, map.len() as u64);
    for (key, value) in map {
        write_key(out, key);
        write_value(out, value, depth)?;
    }
    Ok(())
}

/// An unbuilt line as format 2 (after its leading byte; the metadata follows).
fn write_line(out: &mut Vec<u8>, line: &LineFields<'_>) -> Result<(), EncodeError> {
    let size_at = out.len();
    out.extend_from_slice(&[0; 4]);
    match line.log {
        Some((file, _)) => {
            out.push(1);
            write_value(out, file, 1)?;
        }
        None => out.push(0),
    }
    write_varint(out, line.constant.len() as u64);
    for (key, value) in line.constant {
        write_key(out, key);
        write_value(out, value, 0)?;
    }
    let (tags, truncated) = line.tags.unwrap_or((&[], false));
    write_varint(out, tags.len() as u64);
    for tag in tags {
        write_value(out, tag, 1)?;
    }
    let size = (out.len() - size_at - 4) as u32;
    out[size_at..size_at + 4].copy_from_slice(&size.to_le_bytes());
    write_string(out, line.timestamp);
    write_string(out, &line.message);
    write_varint(out, line.log.map_or(0, |(_, offset)| offset));
    out.push(u8::from(truncated));
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

    /// Where a string value's text lies (not checked as UTF-8: the reader of the range
    /// does that).
    fn string_range(&mut self) -> Result<Range<usize>, DecodeError> {
        let at = self.at;
        let byte = self.byte()?;
        let length = if byte & SHORT_STRING != 0 {
            usize::from(byte & !SHORT_STRING)
        } else if byte == Tag::String as u8 {
            self.count()?
        } else {
            return Err(DecodeError::UnknownTag { tag: byte, at });
        };
        let start = self.at;
        self.take(length)?;
        Ok(start..self.at)
    }

    /// Nothing may follow the event.
    fn end(&self) -> Result<(), DecodeError> {
        match self.bytes.len() - self.at {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes { extra }),
        }
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
        // Before anything reads its fields: a line read once is encoded as its map.
        prop_assert_eq!(
            encoded(&decoded),
            bytes,
            "decoding then encoding is the identity"
        );
        prop_assert_eq!(&decoded, event);
        prop_assert_eq!(shown(&decoded), shown(event));
        prop_assert_eq!(decoded.timestamp(), event.timestamp());
        Ok(())
    }

    /// `event`'s encoding cut at `at` is `Truncated`; with the byte at `at` changed to
    /// `byte`, or `byte` inserted there, it is an error or another event, never a panic.
    fn assert_damage_is_refused_or_read(
        event: &Event,
        at: prop::sample::Index,
        byte: u8,
    ) -> Result<(), TestCaseError> {
        let bytes = encoded(event);
        let at = at.index(bytes.len());
        prop_assert!(
            matches!(decode(&bytes[..at]), Err(DecodeError::Truncated { .. })),
            "cut at {}",
            at
        );
        let mut changed = bytes.clone();
        changed[at] = byte;
        let mut inserted = bytes;
        inserted.insert(at, byte);
        for damaged in [changed, inserted] {
            if let Ok(event) = decode(&damaged) {
                assert_round_trip(&event)?;
            }
        }
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
            (b"\x03\x00\x00", DecodeError::UnknownFormat { found: 3 }),
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
    fn a_line_pointing_back_to_an_origin_needs_one_before_it() {
        let events = line_events(
            &[(b"a".to_vec(), 1, false), (b"b".to_vec(), 2, false)],
            &[],
            true,
        );
        let mut encoder = Encoder::default();
        let (mut first, mut second) = (Vec::new(), Vec::new());
        encoder.encode(&events[0], &mut first).unwrap();
        encoder.encode(&events[1], &mut second).unwrap();
        assert_eq!(second[1..5], SAME_ORIGIN.to_le_bytes());
        assert_eq!(decode(&second), Err(DecodeError::NoOrigin { at: 1 }));
        let mut decoder = Decoder::default();
        let mut decoded = Vec::new();
        decoder.decode(&first, &mut decoded).unwrap();
        decoder.decode(&second, &mut decoded).unwrap();
        decoder.finish(&mut decoded);
        assert_eq!(decoded, events);
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
                // Written from its parts (format 2), it stays unbuilt and decodes back into
                // a line, which stands for the same map as the built event's format 1.
                let bytes = encoded(&event);
                prop_assert!(event.is_unbuilt(), "encoding built the map");
                prop_assert_eq!(bytes[0], LINE_FORMAT);
                let from_line = decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(from_line.is_unbuilt(), "a line decodes into a line");
                let mut built = event.clone();
                built.fields_mut();
                let map_bytes = encoded(&built);
                prop_assert_eq!(map_bytes[0], FORMAT);
                let from_map = decode(&map_bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(shown(&from_line), shown(&from_map));
                prop_assert_eq!(from_line.timestamp(), from_map.timestamp());
                assert_round_trip(&event)?;
            }
        }

        /// A run of lines of two sources and owned events between them decodes in order,
        /// lines back into lines, with the metadata each had.
        #[test]
        fn a_mixed_run_decodes_in_order(
            lines in prop::collection::vec(
                (prop::collection::vec(any::<u8>(), 0..60), any::<u64>(), any::<bool>()),
                1..6,
            ),
            owned in prop::collection::vec(event(), 0..3),
            with_metadata in any::<prop::sample::Index>(),
        ) {
            let mut events = line_events(&lines, &[], true);
            events.extend(line_events(&lines, &["edge".to_string()], false));
            let at = with_metadata.index(events.len());
            events[at].metadata_mut().insert("kept".into(), json!(at));
            prop_assert!(events[at].is_unbuilt());
            for (i, event) in owned.into_iter().enumerate() {
                events.insert((i * 3).min(events.len()), event);
            }
            let mut encoder = Encoder::default();
            let mut decoder = Decoder::default();
            let mut decoded = Vec::new();
            for event in &events {
                let mut bytes = Vec::new();
                encoder.encode(event, &mut bytes).unwrap();
                decoder.decode(&bytes, &mut decoded)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            decoder.finish(&mut decoded);
            prop_assert_eq!(decoded.len(), events.len());
            for (decoded, event) in decoded.iter().zip(&events) {
                prop_assert_eq!(decoded.is_unbuilt(), event.is_unbuilt());
                prop_assert_eq!(shown(decoded), shown(event));
            }
        }

        /// Lines decoded in place from a buffer that holds them among other bytes (a
        /// record) are the lines decoded one by one, and keep the buffer as their bytes.
        #[test]
        fn lines_decoded_in_their_buffer_are_the_lines_decoded_alone(
            lines in prop::collection::vec(
                (prop::collection::vec(any::<u8>(), 0..60), any::<u64>(), any::<bool>()),
                1..6,
            ),
            gap in prop::collection::vec(any::<u8>(), 0..8),
        ) {
            let mut events = line_events(&lines, &[], true);
            events.extend(line_events(&lines, &["edge".to_string()], false));
            events[0].metadata_mut().insert("kept".into(), json!(true));
            let mut buffer = Vec::new();
            let mut ranges = Vec::new();
            let mut encoder = Encoder::default();
            for event in &events {
                buffer.extend(&gap);
                let start = buffer.len();
                encoder.encode(event, &mut buffer).unwrap();
                ranges.push(start..buffer.len());
            }
            // Each source's origin is written once; the other lines point back to it.
            let alone: usize = events.iter().map(|e| encoded(e).len()).sum();
            let written = buffer.len() - gap.len() * events.len();
            if lines.len() > 1 {
                prop_assert!(written < alone);
            } else {
                prop_assert_eq!(written, alone);
            }
            let mut decoded = Vec::new();
            decode_lines(buffer, &ranges, &mut decoded)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(decoded.len(), events.len());
            for (decoded, event) in decoded.iter().zip(&events) {
                prop_assert!(decoded.is_unbuilt());
                prop_assert_eq!(shown(decoded), shown(event));
            }
        }

        /// A damaged line among lines decoded in place: the lines before it are kept.
        #[test]
        fn lines_before_a_damaged_one_are_kept(
            lines in prop::collection::vec(
                (prop::collection::vec(any::<u8>(), 0..60), any::<u64>(), any::<bool>()),
                2..6,
            ),
            damaged in any::<prop::sample::Index>(),
        ) {
            let events = line_events(&lines, &[], true);
            let damaged = damaged.index(events.len());
            let mut buffer = Vec::new();
            let mut ranges = Vec::new();
            for (i, event) in events.iter().enumerate() {
                let start = buffer.len();
                encode(event, &mut buffer).unwrap();
                if i == damaged {
                    buffer[start] = 0x7f;
                }
                ranges.push(start..buffer.len());
            }
            let mut decoded = Vec::new();
            prop_assert_eq!(
                decode_lines(buffer, &ranges, &mut decoded),
                Err(DecodeError::UnknownFormat { found: 0x7f })
            );
            prop_assert_eq!(decoded.len(), damaged);
        }

        /// Damage to a line's encoding: every cut is `Truncated`; a changed or inserted byte
        /// gives an error or another event, never a panic.
        #[test]
        fn damaged_line_encodings_never_panic(
            line in prop::collection::vec(any::<u8>(), 0..60),
            truncated in any::<bool>(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let event = &line_events(&[(line, 9, truncated)], &["t".to_string()], true)[0];
            assert_damage_is_refused_or_read(event, at, byte)?;
        }

        /// Whatever the bytes, decoding answers (no panic, no runaway allocation), and what
        /// it accepts encodes back to an event it accepts again.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut framed = vec![FORMAT];
            framed.extend(&bytes);
            let mut line = vec![LINE_FORMAT];
            line.extend(&bytes);
            for input in [&bytes, &framed, &line] {
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
            assert_damage_is_refused_or_read(&event, at, byte)?;
        }
    }
}
