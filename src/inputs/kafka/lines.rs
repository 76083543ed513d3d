//! Messages that are line events as a sluice shipper wrote them become line events again.
//!
//! The two-tier layout's shipper (file input -> Kafka output, `pipelines/kafka-shipper.toml`)
//! writes each line as `{"@timestamp":…,"message":"<line>","log":{"file":…,"offset":N},
//! "host":…,"fields":…}`, and everything after the message is the same for every line of a
//! file but the offset. The file input keeps such a line raw ([`LineBlock`]: its text plus a
//! shared [`LineOrigin`] with the constant part), and the seed chain is cheap on it: the
//! `[fields][service]` condition reads the origin, the json filter parses the text and merges
//! the origin's fields under it without building the line's map first. Parsing the same
//! message into `serde_json` maps instead cost the Kafka input ~25,000 instructions per event
//! (BENCHMARKS.md), most of the difference to the file input.
//!
//! So a message whose `message` unescapes cleanly (`envelope.rs`) and whose remaining bytes are,
//! byte for byte, what a known origin writes after a line's message, with some offset, becomes
//! a line of that origin, read at its `@timestamp`. Because the bytes are the origin's own
//! serialisation, its map is exactly what `serde_json` makes of the payload (same keys, same
//! order, same values); a property test in `tests.rs` holds the two to that. Origins are learnt
//! from messages that do not match a known one: the rest is parsed (which the message needed
//! anyway), and if it has a line's shape, the origin built from it is kept once its own
//! serialisation gives the same bytes back. Everything else is built as before.
//!
//! The known origins are shared by the filter workers that decode batches (a snapshot per
//! batch, so the lock is taken twice per batch, not per message) and bounded: at most
//! [`KNOWN_ORIGINS`] of at most [`MAX_ORIGIN_BYTES`], and at most [`NEW_ORIGINS_PER_BATCH`]
//! learnt per batch, so a topic whose messages are all different pays little for trying.

use super::envelope::{parse_envelope_rest, split_envelope};
use crate::event::{LineOrigin, LOG, LOG_FILE, LOG_OFFSET, MESSAGE, TAGS, TIMESTAMP};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};

/// How many origins are remembered (a file per shipper and topic partition, usually).
const KNOWN_ORIGINS: usize = 64;
/// The longest rest of a message that is remembered as an origin: the constant part of a
/// line is its path, host and configured fields, not data.
const MAX_ORIGIN_BYTES: usize = 4096;
/// How many origins one batch may learn.
const NEW_ORIGINS_PER_BATCH: usize = 4;

/// The origins learnt so far, most recent first.
#[derive(Debug, Default)]
pub struct KnownOrigins(Mutex<Vec<Arc<LineOrigin>>>);

/// What a message under `codec = "json"` is.
pub(super) enum Shape<'a> {
    /// A line of `origin` at `offset`, read at `timestamp`, whose text is in the decoder's
    /// buffer ([`Decoder::message`]).
    Line {
        timestamp: &'a str,
        offset: u64,
        origin: Arc<LineOrigin>,
    },
    /// Shaped like a line but with another rest: its fields.
    Fields(Map<String, Value>),
    /// Anything else: to be parsed whole.
    Other,
}

/// Recognises the lines of one batch.
pub(super) struct Decoder<'k> {
    known: &'k KnownOrigins,
    /// The snapshot of the known origins, then those this batch learnt.
    origins: Vec<Arc<LineOrigin>>,
    /// Where the last message's origin is in `origins` (consecutive messages mostly share one).
    last: usize,
    learnt: usize,
    /// The text of the last message recognised.
    message: Vec<u8>,
}

impl<'k> Decoder<'k> {
    pub(super) fn new(known: &'k KnownOrigins) -> Self {
        Self {
            origins: crate::sync::lock(&known.0).clone(),
            known,
            last: 0,
            learnt: 0,
            message: Vec::new(),
        }
    }

    /// The text of the message [`Decoder::shape`] recognised last (UTF-8).
    pub(super) fn message(&self) -> &[u8] {
        &self.message
    }

    pub(super) fn shape<'p>(&mut self, payload: &'p [u8]) -> Shape<'p> {
        let Some(envelope) = split_envelope(payload, &mut self.message) else {
            return Shape::Other;
        };
        if let Some((index, offset)) = self.find(envelope.tail) {
            self.last = index;
            return Shape::Line {
                timestamp: envelope.timestamp,
                offset,
                origin: self.origins[index].clone(),
            };
        }
        let Some(fields) = parse_envelope_rest(&envelope, &self.message) else {
            return Shape::Other;
        };
        if self.learnt < NEW_ORIGINS_PER_BATCH && envelope.tail.len() <= MAX_ORIGIN_BYTES {
            if let Some(origin) = origin_of(&fields) {
                if let Some(offset) = origin.offset_of(envelope.tail) {
                    let origin = Arc::new(origin);
                    self.learnt += 1;
                    self.origins.push(origin.clone());
                    self.last = self.origins.len() - 1;
                    return Shape::Line {
                        timestamp: envelope.timestamp,
                        offset,
                        origin,
                    };
                }
            }
        }
        Shape::Fields(fields)
    }

    /// The known origin that `tail` is a line of, with the line's offset.
    fn find(&self, tail: &[u8]) -> Option<(usize, u64)> {
        let last = self.origins.get(self.last)?;
        if let Some(offset) = last.offset_of(tail) {
            return Some((self.last, offset));
        }
        self.origins
            .iter()
            .enumerate()
            .filter(|(index, _)| *index != self.last)
            .find_map(|(index, origin)| Some((index, origin.offset_of(tail)?)))
    }
}

impl Drop for Decoder<'_> {
    /// Shares what this batch learnt: first in the list, the oldest beyond the bound dropped.
    fn drop(&mut self) {
        if self.learnt == 0 {
            return;
        }
        let learnt = self.origins.split_off(self.origins.len() - self.learnt);
        let mut known = crate::sync::lock(&self.known.0);
        known.splice(0..0, learnt.into_iter().rev());
        known.truncate(KNOWN_ORIGINS);
    }
}

/// The origin of a line whose fields (`@timestamp` and `message` first) are `fields`, when
/// they have a line's shape: `log` = `{"file": …, "offset": <u64>}` if any, then fields other
/// than a line's own, then `tags` if any (an array, the configured tags). Whether the message
/// really is that origin's line is for [`LineOrigin::offset_of`] to say.
fn origin_of(fields: &Map<String, Value>) -> Option<LineOrigin> {
    let mut members = fields.iter().skip(2).peekable();
    let file = match members.next_if(|(key, _)| *key == LOG) {
        Some((_, Value::Object(log))) => {
            let mut log = log.iter();
            let (Some((file_key, file)), Some((offset_key, offset)), None) =
                (log.next(), log.next(), log.next())
            else {
                return None;
            };
            if file_key != LOG_FILE || offset_key != LOG_OFFSET || !offset.is_u64() {
                return None;
            }
            Some(file.clone())
        }
        Some(_) => return None,
        None => None,
    };
    let mut constant = Vec::new();
    let mut tags = Vec::new();
    while let Some((key, value)) = members.next() {
        match (key.as_str(), value) {
            (TAGS, Value::Array(values)) if members.peek().is_none() => tags.clone_from(values),
            (TIMESTAMP | MESSAGE | LOG | TAGS, _) => return None,
            _ => constant.push((key.clone(), value.clone())),
        }
    }
    Some(LineOrigin::new(file, constant, tags))
}

#[cfg(test)]
impl KnownOrigins {
    pub(super) fn len(&self) -> usize {
        crate::sync::lock(&self.0).len()
    }
}
