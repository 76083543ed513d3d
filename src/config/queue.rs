//! `[pipeline.queue]`: which queue runs between the inputs and the filter workers.
//!
//! The table is flat (`type` beside the disk queue's keys) as Logstash's `queue.type`,
//! `queue.max_bytes`, `path.queue` and Vector's `buffer.type`/`buffer.max_size` are, so a
//! user moving from either finds the same words. Keys that only the disk queue reads are
//! refused with `type = "memory"`: a `max_bytes` that silently does nothing would let someone
//! believe their data is on disk. Sizes are written as bytes or as `"256MiB"`-style text
//! ([`ByteSize`]), durations as everywhere else ([`Interval`]).

use super::interval::{deserialize_number_or_text, number_and_unit, Interval};
use serde::{Deserialize, Deserializer};
use std::path::PathBuf;
use std::time::Duration;

/// A size in bytes written as a number or as `"512KiB"`, `"256MiB"`, `"1GiB"`, `"10MB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses a number of bytes with an optional unit: `B`, `KB`/`MB`/`GB` (powers of
    /// 1000), `KiB`/`MiB`/`GiB` (powers of 1024); `k`, `m`, `g` and `kb`... are read as
    /// Logstash reads them (`"1024mb"`), as powers of 1024.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (number, unit) = number_and_unit(text)
            .ok_or_else(|| format!("invalid size `{text}`, expected e.g. `256MiB` or `1GiB`"))?;
        let multiplier: u64 = match unit {
            "" | "B" | "b" => 1,
            "KB" => 1000,
            "MB" => 1000 * 1000,
            "GB" => 1000 * 1000 * 1000,
            "KiB" | "k" | "kb" => 1 << 10,
            "MiB" | "m" | "mb" => 1 << 20,
            "GiB" | "g" | "gb" => 1 << 30,
            other => {
                return Err(format!(
                    "unknown size unit `{other}` in `{text}`, expected `KiB`, `MiB`, `GiB`, `KB`, `MB` or `GB`"
                ))
            }
        };
        number
            .checked_mul(multiplier)
            .map(Self)
            .ok_or_else(|| format!("size `{text}` is too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_number_or_text(
            deserializer,
            "a size such as 268435456 or \"256MiB\"",
            ByteSize,
            ByteSize::parse,
        )
    }
}

/// When the disk queue makes what it wrote durable (`fsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    /// Every batch is synced before its input is acknowledged (one fsync for every batch
    /// written while the previous one ran): survives power loss.
    #[default]
    Batch,
    /// At most every `fsync_interval`: a power loss can lose that long of acknowledged
    /// batches; a crash of sluice alone loses nothing (the kernel holds the writes).
    Interval,
    /// Never explicitly; the kernel writes back when it will. Survives a crash of sluice,
    /// not a power loss.
    Never,
}

/// The disk queue's settings (`[pipeline.queue]` with `type = "disk"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskQueueConfig {
    /// Most bytes of segment files on disk; a full queue makes the inputs wait.
    pub max_bytes: u64,
    /// Where the segments live; `None`: `<data_dir>/queue`.
    pub path: Option<PathBuf>,
    pub fsync: Fsync,
    /// With `fsync = "interval"`, the longest a written batch waits for its fsync.
    pub fsync_interval: Duration,
    /// Size at which a segment file is closed and the next one started; a segment is
    /// deleted once every record in it is settled, so this is also the grain in which disk
    /// space comes back.
    pub segment_bytes: u64,
}

impl DiskQueueConfig {
    /// Logstash's `queue.max_bytes` default.
    pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
    pub const DEFAULT_SEGMENT_BYTES: u64 = 16 << 20;
}

impl Default for DiskQueueConfig {
    fn default() -> Self {
        Self {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            path: None,
            fsync: Fsync::Batch,
            fsync_interval: Duration::from_secs(1),
            segment_bytes: Self::DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// `[pipeline.queue]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "QueueTable")]
pub enum QueueConfig {
    /// Batches in memory, at most `pipeline.queue_batches` of them (the default).
    #[default]
    Memory,
    /// Batches in segment files on disk.
    Disk(DiskQueueConfig),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum QueueType {
    #[default]
    Memory,
    Disk,
}

/// The table as written, before the keys are checked against `type`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueTable {
    #[serde(rename = "type", default)]
    kind: QueueType,
    max_bytes: Option<ByteSize>,
    path: Option<PathBuf>,
    fsync: Option<Fsync>,
    fsync_interval: Option<Interval>,
    segment_bytes: Option<ByteSize>,
}

impl TryFrom<QueueTable> for QueueConfig {
    type Error = String;

    fn try_from(table: QueueTable) -> Result<Self, String> {
        match table.kind {
            QueueType::Memory => {
                let disk_keys = [
                    ("max_bytes", table.max_bytes.is_some()),
                    ("path", table.path.is_some()),
                    ("fsync", table.fsync.is_some()),
                    ("fsync_interval", table.fsync_interval.is_some()),
                    ("segment_bytes", table.segment_bytes.is_some()),
                ];
                let set: Vec<&str> = disk_keys
                    .iter()
                    .filter(|(_, set)| *set)
                    .map(|(key, _)| *key)
                    .collect();
                if set.is_empty() {
                    Ok(Self::Memory)
                } else {
                    Err(format!(
                        "`{}` applies to the disk queue only; set `type = \"disk\"` or remove it \
                         (the memory queue is bounded by `pipeline.queue_batches`)",
                        set.join("`, `")
                    ))
                }
            }
            QueueType::Disk => {
                let defaults = DiskQueueConfig::default();
                let config = DiskQueueConfig {
                    max_bytes: table.max_bytes.map_or(defaults.max_bytes, |s| s.0),
                    path: table.path,
                    fsync: table.fsync.unwrap_or(defaults.fsync),
                    fsync_interval: table
                        .fsync_interval
                        .map_or(defaults.fsync_interval, |i| i.0),
                    segment_bytes: table.segment_bytes.map_or(defaults.segment_bytes, |s| s.0),
                };
                if table.fsync_interval.is_some() && config.fsync != Fsync::Interval {
                    return Err(
                        "`fsync_interval` applies with `fsync = \"interval\"` only".to_string()
                    );
                }
                if config.fsync_interval.is_zero() {
                    return Err("`fsync_interval` must be more than 0".to_string());
                }
                if config.max_bytes < 1 << 20 {
                    return Err(format!(
                        "`max_bytes` is {} bytes; the disk queue needs at least 1MiB",
                        config.max_bytes
                    ));
                }
                if config.segment_bytes < 4096 {
                    return Err("`segment_bytes` must be at least 4KiB".to_string());
                }
                Ok(Self::Disk(config))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_logstash_and_vector_users_write_them() {
        assert_eq!(ByteSize::parse("256MiB"), Ok(ByteSize(256 << 20)));
        assert_eq!(ByteSize::parse("1024mb"), Ok(ByteSize(1 << 30)));
        assert_eq!(ByteSize::parse("10MB"), Ok(ByteSize(10_000_000)));
        assert_eq!(ByteSize::parse("4096"), Ok(ByteSize(4096)));
        assert!(ByteSize::parse("12 parsecs").is_err());
        assert!(ByteSize::parse("99999999999GiB").is_err());
    }
}
