//! Segment files and the records in them: names, the byte layout, and reading them back
//! without trusting a byte.
//!
//! ```text
//! segment   := magic record*                 magic = "SLQSEG02" (8 bytes: the format's version)
//! record    := length:u32le crc:u32le payload
//! payload   := events:u32le positions (size:u32le event)*   event as `queue::codec` encodes it
//!                                                           (a line nothing read: format 2)
//! positions := count:u16le (source stream position)*        each bytes := length:u16le bytes
//! ```
//!
//! `crc` is the CRC-32C of `payload`, `length` its size. A record is one batch as an input
//! handed it over, so a write and a checksum are paid per batch, never per event (and with
//! `fsync = "batch"` one fsync per group of batches written meanwhile). Beside each `NNNN.seg` an `NNNN.acks` file lists, as `u32le`
//! record indexes, the records every output has settled, appended as they settle: after a
//! restart those are skipped, so only batches in flight at the crash are delivered again.
//!
//! `positions` are where the batch ends in its input's streams ([`SourcePosition`]), inside
//! the checksum and the write of the batch itself, so that they are durable exactly when the
//! batch is (see the queue's "Durability and acknowledgement"). A record of zero events is a
//! *positions record*: the first record of every segment, it carries the newest position of
//! each stream written in the segment before, so the newest segment alone says where every
//! recently written stream ends. Readers settle it at once; it is never delivered.
//!
//! Format 1 (`SLQSEG01`, before positions) is still read: its payloads have no `positions`.

use super::super::codec;
use crate::event::{Event, SourcePosition};
use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The first bytes of every segment this build writes: the layout's name and version.
pub const MAGIC: &[u8; 8] = b"SLQSEG02";
/// The first bytes of a segment of format 1 (no positions), still read.
const MAGIC_V1: &[u8; 8] = b"SLQSEG01";

/// Which layout a segment has (its magic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// `SLQSEG01`: payloads without positions.
    V1,
    /// `SLQSEG02`: payloads with positions.
    #[default]
    V2,
}

/// The newest position of each stream, by (source, stream).
pub type Positions = BTreeMap<(Arc<str>, Box<[u8]>), Box<[u8]>>;

/// Sets the positions in `from` over those in `into` (newer ones win).
pub fn overlay(into: &mut Positions, from: &[SourcePosition]) {
    for p in from {
        into.insert((p.source.clone(), p.stream.clone()), p.position.clone());
    }
}

/// `positions` as the list a record carries.
pub fn listed(positions: &Positions) -> Vec<SourcePosition> {
    positions
        .iter()
        .map(|((source, stream), position)| SourcePosition {
            source: source.clone(),
            stream: stream.clone(),
            position: position.clone(),
        })
        .collect()
}
/// Bytes before a record's payload.
pub const HEADER: u64 = 8;
/// A record no writer produces: a length beyond this is damage, not data.
pub const MAX_RECORD: u64 = 1 << 30;

const SEGMENT_SUFFIX: &str = "seg";
const ACKS_SUFFIX: &str = "acks";
/// What a damaged segment is renamed to (kept for inspection, never read again).
pub const QUARANTINE_SUFFIX: &str = "seg.corrupt";

pub fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.{SEGMENT_SUFFIX}"))
}

pub fn acks_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.{ACKS_SUFFIX}"))
}

pub fn quarantine_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.{QUARANTINE_SUFFIX}"))
}

/// The ids of the segment files in `dir`, oldest first; and of quarantined ones.
pub fn list(dir: &Path) -> io::Result<(Vec<u64>, Vec<u64>)> {
    let mut segments = Vec::new();
    let mut quarantined = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((stem, suffix)) = name.split_once('.') else {
            continue;
        };
        let Ok(id) = stem.parse::<u64>() else {
            continue;
        };
        if suffix == SEGMENT_SUFFIX {
            segments.push(id);
        } else if suffix == QUARANTINE_SUFFIX {
            quarantined.push(id);
        }
    }
    segments.sort_unstable();
    quarantined.sort_unstable();
    Ok((segments, quarantined))
}

/// Encodes `events`, and `positions` (where they end in their streams), as a record (header
/// and payload) into `out`, which is cleared first. Events the codec refuses (nested deeper
/// than it reads back) are left out and counted in the returned number; the record holds the
/// rest. A position with a part longer than 64 KiB is left out (no input makes one).
pub fn encode_record(
    events: &[Event],
    positions: &[SourcePosition],
    out: &mut Vec<u8>,
) -> (u32, u64) {
    out.clear();
    out.extend_from_slice(&[0; HEADER as usize]);
    out.extend_from_slice(&[0; 4]);
    encode_positions(positions, out);
    let mut stored: u32 = 0;
    let mut refused = 0u64;
    let mut encoder = codec::Encoder::default();
    for event in events {
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        match encoder.encode(event, out) {
            Ok(()) => {
                let size = (out.len() - at - 4) as u32;
                out[at..at + 4].copy_from_slice(&size.to_le_bytes());
                stored += 1;
            }
            Err(_) => {
                out.truncate(at);
                refused += 1;
            }
        }
    }
    let payload_start = HEADER as usize;
    out[payload_start..payload_start + 4].copy_from_slice(&stored.to_le_bytes());
    let length = (out.len() - payload_start) as u32;
    let crc = crc32c::crc32c(&out[payload_start..]);
    out[0..4].copy_from_slice(&length.to_le_bytes());
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    (stored, refused)
}

fn encode_positions(positions: &[SourcePosition], out: &mut Vec<u8>) {
    let fits = |p: &&SourcePosition| {
        [p.source.len(), p.stream.len(), p.position.len()]
            .iter()
            .all(|&len| len <= usize::from(u16::MAX))
    };
    let count_at = out.len();
    out.extend_from_slice(&[0; 2]);
    let mut count: u16 = 0;
    for position in positions.iter().filter(fits).take(usize::from(u16::MAX)) {
        for part in [
            position.source.as_bytes(),
            &position.stream,
            &position.position,
        ] {
            out.extend_from_slice(&(part.len() as u16).to_le_bytes());
            out.extend_from_slice(part);
        }
        count += 1;
    }
    out[count_at..count_at + 2].copy_from_slice(&count.to_le_bytes());
}

/// Why the events of a record whose checksum matched could not be read back (a bug or a
/// format from another build, never a torn write).
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("the record's event sizes do not add up to its length")]
    Framing,
    #[error("the record's positions do not add up to its length, or a source is not UTF-8")]
    Positions,
    #[error(transparent)]
    Decode(#[from] codec::DecodeError),
}

/// How many events a payload holds (its first four bytes).
pub fn payload_events(payload: &[u8]) -> u32 {
    payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// A little-endian `u16` at the start of `bytes`, and the bytes after it.
fn take_u16(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let value = u16::from_le_bytes(bytes.get(..2)?.try_into().ok()?);
    Some((usize::from(value), &bytes[2..]))
}

/// A `length:u16le bytes` part at the start of `bytes`, and the bytes after it.
fn take_part(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = take_u16(bytes)?;
    Some((rest.get(..len)?, &rest[len..]))
}

/// The positions of a payload of `format` and the bytes after them (the events' frames).
pub fn decode_positions(
    payload: &[u8],
    format: Format,
) -> Result<(Vec<SourcePosition>, &[u8]), PayloadError> {
    let rest = payload.get(4..).ok_or(PayloadError::Framing)?;
    if format == Format::V1 {
        return Ok((Vec::new(), rest));
    }
    let (count, mut rest) = take_u16(rest).ok_or(PayloadError::Positions)?;
    let mut positions = Vec::with_capacity(count.min(rest.len() / 6));
    for _ in 0..count {
        let (source, after) = take_part(rest).ok_or(PayloadError::Positions)?;
        let (stream, after) = take_part(after).ok_or(PayloadError::Positions)?;
        let (position, after) = take_part(after).ok_or(PayloadError::Positions)?;
        let source = std::str::from_utf8(source).map_err(|_| PayloadError::Positions)?;
        positions.push(SourcePosition {
            source: Arc::from(source),
            stream: stream.into(),
            position: position.into(),
        });
        rest = after;
    }
    Ok((positions, rest))
}

/// Appends the events of `payload` (of a segment of `format`) to `events` (those before an
/// error too). A record of lines only (what the file and stdin inputs write) becomes lines
/// that keep `payload` as their bytes (`codec::decode_lines`): no copy, no second buffer.
pub fn decode_payload(
    payload: Vec<u8>,
    format: Format,
    events: &mut Vec<Event>,
) -> Result<(), PayloadError> {
    let count = payload_events(&payload) as usize;
    let frames = payload.get(4..).ok_or(PayloadError::Framing)?;
    let frames = match format {
        Format::V1 => frames,
        // Skipped without building them: a worker has no use for them.
        Format::V2 => {
            let (positions, mut rest) = take_u16(frames).ok_or(PayloadError::Positions)?;
            for _ in 0..positions * 3 {
                rest = take_part(rest).ok_or(PayloadError::Positions)?.1;
            }
            rest
        }
    };
    let mut at = payload.len() - frames.len();
    let mut ranges = Vec::with_capacity(count.min(payload.len() / 4));
    let mut framed = true;
    for _ in 0..count {
        let size = payload
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes);
        let event = size.map(|size| at + 4..at + 4 + size as usize);
        match event {
            Some(event) if event.end <= payload.len() => {
                at = event.end;
                ranges.push(event);
            }
            _ => {
                framed = false;
                break;
            }
        }
    }
    framed &= at == payload.len();
    let decoded = decode_ranges(payload, &ranges, events);
    if !framed {
        return Err(PayloadError::Framing);
    }
    decoded
}

/// The events at `ranges` of `payload`, appended to `events`.
fn decode_ranges(
    payload: Vec<u8>,
    ranges: &[std::ops::Range<usize>],
    events: &mut Vec<Event>,
) -> Result<(), PayloadError> {
    events.reserve(ranges.len());
    if ranges
        .iter()
        .all(|event| payload.get(event.start) == Some(&codec::LINE_FORMAT))
    {
        return Ok(codec::decode_lines(payload, ranges, events)?);
    }
    let mut decoder = codec::Decoder::default();
    let decoded = ranges
        .iter()
        .try_for_each(|event| decoder.decode(&payload[event.clone()], events));
    decoder.finish(events);
    Ok(decoded?)
}

/// What is at a byte offset of a segment.
#[derive(Debug)]
pub enum Read {
    /// A whole record whose checksum matches; `next` is the offset after it.
    Record { payload: Vec<u8>, next: u64 },
    /// Nothing: the offset is the end.
    End,
    /// A record cut short or damaged (`why`): nothing from here on can be trusted.
    Damaged { why: &'static str },
}

/// Reads the record at `offset` of `file`, whose valid bytes end at `end`.
pub fn read_record(file: &File, offset: u64, end: u64) -> io::Result<Read> {
    if offset >= end {
        return Ok(Read::End);
    }
    let Some(length) = record_length(file, offset, end)? else {
        return Ok(Read::Damaged {
            why: "a record header is cut short",
        });
    };
    let (length, crc) = length;
    if !(4..=MAX_RECORD).contains(&length) {
        return Ok(Read::Damaged {
            why: "a record length is out of range",
        });
    }
    let next = offset + HEADER + length;
    if next > end {
        return Ok(Read::Damaged {
            why: "a record is cut short",
        });
    }
    // Capacity rounded up to a power of two: records differ in length by a few bytes, and
    // one allocation size a worker frees and takes again keeps it to one block of one
    // allocator size class instead of a page for every size class the lengths fall in.
    let mut payload = Vec::with_capacity((length as usize).next_power_of_two());
    payload.resize(length as usize, 0);
    file.read_exact_at(&mut payload, offset + HEADER)?;
    if crc32c::crc32c(&payload) != crc {
        return Ok(Read::Damaged {
            why: "a record's CRC-32C does not match",
        });
    }
    Ok(Read::Record { payload, next })
}

/// The length and checksum in the header at `offset`; `None` if the header is cut short.
fn record_length(file: &File, offset: u64, end: u64) -> io::Result<Option<(u64, u32)>> {
    if offset + HEADER > end {
        return Ok(None);
    }
    let mut header = [0u8; HEADER as usize];
    file.read_exact_at(&mut header, offset)?;
    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    Ok(Some((u64::from(length), crc)))
}

/// The format `file` (of `len` bytes) has by its magic; `None` if it has none this build
/// knows.
pub fn format_of(file: &File, len: u64) -> io::Result<Option<Format>> {
    if len < MAGIC.len() as u64 {
        return Ok(None);
    }
    let mut magic = [0u8; 8];
    file.read_exact_at(&mut magic, 0)?;
    Ok(if &magic == MAGIC {
        Some(Format::V2)
    } else if &magic == MAGIC_V1 {
        Some(Format::V1)
    } else {
        None
    })
}

/// One record as a walk over a segment finds it.
#[derive(Debug, Clone, Copy)]
pub struct Found {
    pub index: u32,
    pub events: u32,
    pub bytes: u64,
}

/// What a walk over a segment found.
#[derive(Debug, Default)]
pub struct Walk {
    pub records: Vec<Found>,
    /// Where the last whole record ends.
    pub valid_end: u64,
    /// Why the walk stopped before the end of the file, if it did.
    pub damage: Option<&'static str>,
    /// With `verify`: the newest position of each stream the whole records carry.
    pub positions: Positions,
    /// With `verify`: the first record is a positions record (zero events), so `positions`
    /// also holds every stream's position from before this segment that was carried over.
    pub carries_positions: bool,
}

/// Walks the records of `file` (of `len` bytes, magic already checked). With `verify`, each
/// record is read whole and its checksum checked (one record in memory at a time); without,
/// only the headers and event counts are read, a few bytes a record, and damage inside a
/// payload is left for the reader to find. `format`: the segment's, for the positions.
pub fn walk(file: &File, len: u64, verify: bool, format: Format) -> io::Result<Walk> {
    let mut walk = Walk {
        valid_end: MAGIC.len() as u64,
        ..Walk::default()
    };
    let mut offset = walk.valid_end;
    let mut index = 0u32;
    while offset < len {
        let (events, next) = if verify {
            match read_record(file, offset, len)? {
                Read::Record { payload, next } => {
                    let events = payload_events(&payload);
                    // A record that passed its checksum but whose positions do not parse
                    // is from another build: its events are the reader's to report.
                    if let Ok((positions, _)) = decode_positions(&payload, format) {
                        overlay(&mut walk.positions, &positions);
                        if index == 0 && events == 0 && format == Format::V2 {
                            walk.carries_positions = true;
                        }
                    }
                    (events, next)
                }
                Read::End => break,
                Read::Damaged { why } => {
                    walk.damage = Some(why);
                    break;
                }
            }
        } else {
            let Some((length, _)) = record_length(file, offset, len)? else {
                walk.damage = Some("a record header is cut short");
                break;
            };
            let next = offset + HEADER + length;
            if !(4..=MAX_RECORD).contains(&length) || next > len {
                walk.damage = Some("a record is cut short or its length is out of range");
                break;
            }
            let mut count = [0u8; 4];
            file.read_exact_at(&mut count, offset + HEADER)?;
            (u32::from_le_bytes(count), next)
        };
        walk.records.push(Found {
            index,
            events,
            bytes: next - offset,
        });
        index += 1;
        offset = next;
        walk.valid_end = next;
    }
    Ok(walk)
}

/// The record indexes listed in an acks file (a torn last entry is ignored); empty if the
/// file does not exist.
pub fn read_acks(path: &Path) -> io::Result<Vec<u32>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}
