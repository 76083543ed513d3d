//! Asking the CPU for the memory of the next events while the current one is read.
//!
//! An event is a tree of ~60 heap blocks: the root map's entries, each key, each text, each
//! nested map's entries and what they hold. An output that writes a batch built on another
//! thread misses the cache on nearly every block, one after another, because each pointer is
//! known only once the block holding it has arrived. Asking for the blocks of the next events
//! ahead of time (`prefetcht0`, a hint that never faults) overlaps those misses with the work
//! on the current event. The tree is fetched in steps one event apart, each reading only what
//! the step before fetched: the event's own struct (in the batch's array) six events ahead,
//! the root map's entries four ahead, what they point to three ahead, what the nested maps'
//! entries point to two ahead, one level deeper (`log.file.path`) one ahead.
//!
//! Outputs read a batch through [`walk`]; a filter worker frees the events handed back to
//! it with [`free`]. On the Elasticsearch output this cut both the encoding threads' CPU and the
//! cost of freeing by about a third (BENCHMARKS.md has the figures). Lazy events (still in their input's form) are skipped: reading their fields would
//! build them.

use super::Event;
use serde_json::{Map, Value};

/// `events` in order, each one yielded after asking for the blocks of the next ones.
pub fn walk(events: &[Event]) -> impl Iterator<Item = &Event> {
    events.iter().enumerate().map(move |(at, event)| {
        ahead(events, at);
        event
    })
}

/// Call before reading `events[at]` in a loop over `events` in order.
fn ahead(events: &[Event], at: usize) {
    // Deepest first: each step reads only what an earlier call fetched.
    for (distance, depth) in [(1, 2), (2, 1), (3, 0)] {
        if let Some(fields) = events.get(at + distance).and_then(built_fields) {
            contents_at(fields, depth);
        }
    }
    if let Some(fields) = events.get(at + 4).and_then(built_fields) {
        map_entries(fields);
    }
    // The event itself, read by the step above two events later: the batch's array of
    // events was written by another thread, too.
    if let Some(sixth) = events.get(at + 6) {
        let start = std::ptr::from_ref(sixth).cast::<u8>();
        for offset in (0..std::mem::size_of::<Event>()).step_by(64) {
            line(start.wrapping_add(offset));
        }
    }
}

/// [`map_contents`] of the maps `depth` levels below `map` (0: `map` itself).
fn contents_at(map: &Map<String, Value>, depth: usize) {
    if depth == 0 {
        map_contents(map);
        return;
    }
    for value in map.values() {
        if let Value::Object(nested) = value {
            contents_at(nested, depth - 1);
        }
    }
}

/// Frees `events` in order, fetching the next ones' blocks first: freeing writes into every
/// block, so it waits on the same misses as reading.
pub fn free(events: Vec<Event>) {
    let mut events = events.into_iter();
    loop {
        ahead(events.as_slice(), 0);
        if events.next().is_none() {
            break;
        }
    }
}

/// The event's fields when they are already built.
fn built_fields(event: &Event) -> Option<&Map<String, Value>> {
    event.lazy.is_none().then_some(&event.fields)
}

/// Fetches the cache lines of `map`'s entries (taking an entry's address reads nothing). An
/// entry (~100 bytes) spans two lines or three: its key's and its value's are the ones read.
fn map_entries(map: &Map<String, Value>) {
    for (key, value) in map {
        line(std::ptr::from_ref(key).cast());
        line(std::ptr::from_ref(value).cast());
    }
}

/// Fetches what `map`'s entries point to: keys, texts, nested maps' entries, arrays' items.
fn map_contents(map: &Map<String, Value>) {
    for (key, value) in map {
        line(key.as_ptr());
        match value {
            Value::String(text) => {
                // A text of more than a few words may end on the next line.
                line(text.as_ptr());
                line(text.as_ptr().wrapping_add(text.len().saturating_sub(1)));
            }
            Value::Object(map) => map_entries(map),
            Value::Array(items) => line(items.as_ptr().cast()),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

#[inline(always)]
fn line(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: `prefetcht0` is a hint. It never faults, whatever the address, and changes
    // nothing a program can observe; `address` is not dereferenced.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

#[cfg(test)]
mod tests {
    use super::super::{Lazy, LineBlock, LineOrigin};
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn written(events: &[Event]) -> Vec<u8> {
        let mut out = Vec::new();
        for event in events {
            event.write_json(&mut out).unwrap();
        }
        out
    }

    /// Prefetching changes no event, at any position and past the end, and leaves a lazy
    /// event unbuilt (building it there would be work done on the wrong thread).
    #[test]
    fn prefetching_changes_nothing_and_builds_no_lazy_event() {
        let built = |value: Value| match value {
            Value::Object(map) => Event::from_fields(map),
            _ => unreachable!(),
        };
        let mut events = vec![
            built(json!({})),
            built(json!({"a": "text", "b": {"c": [1, {"d": null}], "e": "x"}, "f": [true]})),
            built(json!({"@timestamp": "2026-11-26T00:00:00.000Z", "n": 1.5})),
        ];
        let origin = Arc::new(LineOrigin::new(None, Vec::new(), Vec::new()));
        let mut block = LineBlock::default();
        block.push(b"{\"a\":1}", 0, false, &origin, "2026-11-26T00:00:00.000Z");
        block.into_events(&mut events);
        let before = written(&events);
        for at in 0..events.len() + 3 {
            ahead(&events, at);
        }
        let walked: Vec<*const Event> = walk(&events).map(std::ptr::from_ref).collect();
        let all: Vec<*const Event> = events.iter().map(std::ptr::from_ref).collect();
        assert_eq!(walked, all, "walk yields every event once, in order");
        let Some(Lazy::Line(line)) = &events[3].lazy else {
            panic!("the line event is not lazy");
        };
        assert!(line.is_unbuilt(), "prefetching built the lazy event");
        assert_eq!(written(&events), before);
    }
}
