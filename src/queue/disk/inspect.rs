//! `sluice queue inspect`: what a disk queue holds, read without changing a byte.
//!
//! It takes no lock on the data directory: it only reads, so it can look at the queue of a
//! running sluice (a record being written at that moment may show as a torn tail) or of one
//! that will not start. Every record's checksum is checked, one record in memory at a time.
//!
//! Positions records (zero events: where the inputs' streams end, see `segment`) are not
//! counted as records; the `positions` column says how many streams' newest positions a
//! segment holds, carried over or written with its batches.

use super::segment;
use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// One segment as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentReport {
    pub id: u64,
    pub bytes: u64,
    /// Batch records (positions records left out).
    pub records: u32,
    pub events: u64,
    /// Records every output settled (listed in the acks file).
    pub settled_records: u32,
    pub pending_records: u32,
    pub pending_events: u64,
    /// Bytes of the records not yet settled.
    pub pending_bytes: u64,
    /// The first record not yet settled.
    pub first_pending: Option<u32>,
    /// Streams whose newest position the segment holds (0 for format 1).
    pub positions: usize,
    /// Damage found: what, and at which byte.
    pub damage: Option<(String, u64)>,
}

/// The whole queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub path: PathBuf,
    pub segments: Vec<SegmentReport>,
    /// Segments renamed aside earlier (`*.seg.corrupt`).
    pub quarantined: Vec<PathBuf>,
}

impl Report {
    pub fn pending_events(&self) -> u64 {
        self.segments.iter().map(|s| s.pending_events).sum()
    }

    pub fn pending_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.pending_bytes).sum()
    }

    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Where a reader starts: the first record not yet settled (segment id, record index).
    pub fn cursor(&self) -> Option<(u64, u32)> {
        self.segments
            .iter()
            .find_map(|s| s.first_pending.map(|index| (s.id, index)))
    }

    pub fn damaged(&self) -> usize {
        self.segments.iter().filter(|s| s.damage.is_some()).count()
    }
}

/// Reads the queue in `dir`.
pub fn inspect(dir: &Path) -> io::Result<Report> {
    let (ids, quarantined) = segment::list(dir)?;
    let mut segments = Vec::new();
    for id in ids {
        let file = File::open(segment::segment_path(dir, id))?;
        let bytes = file.metadata()?.len();
        let Some(format) = segment::format_of(&file, bytes)? else {
            segments.push(SegmentReport {
                id,
                bytes,
                records: 0,
                events: 0,
                settled_records: 0,
                pending_records: 0,
                pending_events: 0,
                pending_bytes: 0,
                first_pending: None,
                positions: 0,
                damage: Some((
                    "it does not start with a segment header this build reads".into(),
                    0,
                )),
            });
            continue;
        };
        let walk = segment::walk(&file, bytes, true, format)?;
        let batches: Vec<_> = walk.records.iter().filter(|r| r.events > 0).collect();
        let settled: HashSet<u32> = segment::read_acks(&segment::acks_path(dir, id))?
            .into_iter()
            .collect();
        let pending: Vec<_> = batches
            .iter()
            .filter(|r| !settled.contains(&r.index))
            .collect();
        segments.push(SegmentReport {
            id,
            bytes,
            records: batches.len() as u32,
            events: batches.iter().map(|r| u64::from(r.events)).sum(),
            settled_records: (batches.len() - pending.len()) as u32,
            pending_records: pending.len() as u32,
            pending_events: pending.iter().map(|r| u64::from(r.events)).sum(),
            pending_bytes: pending.iter().map(|r| r.bytes).sum(),
            first_pending: pending.first().map(|r| r.index),
            positions: walk.positions.len(),
            damage: walk.damage.map(|why| (why.to_string(), walk.valid_end)),
        });
    }
    Ok(Report {
        path: dir.to_path_buf(),
        segments,
        quarantined: quarantined
            .into_iter()
            .map(|id| segment::quarantine_path(dir, id))
            .collect(),
    })
}

/// The report as `sluice queue inspect` prints it.
pub fn render(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "queue: {}", report.path.display());
    let _ = writeln!(
        out,
        "{:<26} {:>12} {:>8} {:>8} {:>15} {:>14} {:>9}  damage",
        "segment", "bytes", "records", "settled", "pending events", "pending bytes", "positions"
    );
    for segment in &report.segments {
        let damage = match &segment.damage {
            Some((why, at)) => format!("at byte {at}: {why}"),
            None => "-".to_string(),
        };
        let _ = writeln!(
            out,
            "{:<26} {:>12} {:>8} {:>8} {:>15} {:>14} {:>9}  {damage}",
            segment::segment_path(Path::new(""), segment.id).display(),
            segment.bytes,
            segment.records,
            segment.settled_records,
            segment.pending_events,
            segment.pending_bytes,
            segment.positions,
        );
    }
    let _ = writeln!(
        out,
        "total: {} segments, {} bytes; pending: {} events, {} bytes",
        report.segments.len(),
        report.bytes(),
        report.pending_events(),
        report.pending_bytes()
    );
    let _ = match report.cursor() {
        Some((id, index)) => writeln!(
            out,
            "cursor: the next start delivers from segment {id}, record {index}"
        ),
        None => writeln!(out, "cursor: nothing pending"),
    };
    let _ = match report.damaged() {
        0 => writeln!(out, "damage: none"),
        n => writeln!(
            out,
            "damage: {n} segment(s); the next start cuts a torn tail off the newest segment and quarantines older damaged ones (records before the damage are delivered)"
        ),
    };
    for path in &report.quarantined {
        let _ = writeln!(out, "quarantined earlier: {}", path.display());
    }
    out
}
