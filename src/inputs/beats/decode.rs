//! One batch of Beats data frames, kept raw until a filter worker decodes it into events.
//!
//! The connection task only slices frames out of the window it read ([`RawBatch`]); the
//! decoding runs on the filter workers, so JSON work is spread over every core.
//! [`decode_batch`] decides per payload whether the event can stay its raw payload
//! (`lazy.rs`) or is built at once (`events.rs`); it sits above both, which therefore never
//! need each other's decision.

use super::events::{build_json, build_pairs, Source};
use super::lazy::{JsonBlock, Planner};
use crate::event::{Event, RawBlock};
use bytes::Bytes;
use std::sync::Arc;

/// The data frames of one batch, kept raw until a filter worker builds the events: `J`
/// payloads as spans of the buffers they arrived in (an inflated compressed frame holds a
/// whole window), so a batch holds one reference per buffer rather than one per event.
#[derive(Debug, Default)]
pub struct RawBatch {
    chunks: Vec<Bytes>,
    frames: Vec<RawFrame>,
}

#[derive(Debug)]
enum RawFrame {
    /// A `J` frame's payload: `chunks[chunk][start..end]`.
    Json {
        chunk: usize,
        start: usize,
        end: usize,
    },
    /// A `D` frame's pairs (protocol v1).
    Pairs(Vec<(String, String)>),
}

impl RawBatch {
    /// Adds a `J` payload that lies in `source`; returns its size, for batch sizing.
    pub fn push_json(&mut self, source: &Bytes, payload: &[u8]) -> usize {
        let offset = (payload.as_ptr() as usize).wrapping_sub(source.as_ptr() as usize);
        let within = offset <= source.len() && payload.len() <= source.len() - offset;
        let (chunk, start) = if !within {
            // Not a slice of `source` (not how the connection calls this): keep a copy.
            self.chunks.push(Bytes::copy_from_slice(payload));
            (self.chunks.len() - 1, 0)
        } else {
            let same = self
                .chunks
                .last()
                .is_some_and(|last| last.as_ptr() == source.as_ptr() && last.len() == source.len());
            if !same {
                self.chunks.push(source.clone());
            }
            (self.chunks.len() - 1, offset)
        };
        self.frames.push(RawFrame::Json {
            chunk,
            start,
            end: start + payload.len(),
        });
        payload.len()
    }

    /// Adds a `D` frame's pairs; returns their size, for batch sizing.
    pub fn push_pairs(&mut self, pairs: Vec<(String, String)>) -> usize {
        let size = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
        self.frames.push(RawFrame::Pairs(pairs));
        size
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }
}

/// Appends the events of `batch` to `out`, in frame order: with `raw`, `J` payloads that
/// `lazy.rs` can keep raw become lazy events sharing one block; the others are built at once.
pub fn decode_batch(batch: RawBatch, source: Source, now: String, raw: bool, out: &mut Vec<Event>) {
    let RawBatch { chunks, frames } = batch;
    out.reserve(frames.len());
    let mut planner = Planner::new(source.shape, raw);
    let mut plans = Vec::new();
    // Events built at once, with their frame index (usually none).
    let mut built: Vec<(usize, Event)> = Vec::new();
    for (index, frame) in frames.into_iter().enumerate() {
        match frame {
            RawFrame::Json { chunk, start, end } => {
                let payload = &chunks[chunk][start..end];
                match planner.plan(payload) {
                    Some(plan) => plans.push(plan.locate(chunk, start, end)),
                    None => built.push((index, build_json(payload, &source, &now))),
                }
            }
            RawFrame::Pairs(pairs) => built.push((index, build_pairs(pairs, &source, &now))),
        }
    }
    if plans.is_empty() {
        out.extend(built.into_iter().map(|(_, event)| event));
        return;
    }
    let count = plans.len() + built.len();
    let block: Arc<dyn RawBlock> = Arc::new(JsonBlock::new(chunks, plans, source, now));
    let mut built = built.into_iter().peekable();
    let mut next_raw = 0;
    for index in 0..count {
        match built.next_if(|(at, _)| *at == index) {
            Some((_, event)) => out.push(event),
            None => {
                out.push(Event::from_raw(block.clone(), next_raw));
                next_raw += 1;
            }
        }
    }
}
