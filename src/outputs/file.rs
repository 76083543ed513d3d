//! Writes NDJSON files whose path is a template, so daily files mirror daily indices
//! (`out/mqtt-logs-%{+YYYY.MM.dd}.ndjson`).
//!
//! A batch is encoded into one buffer per destination file and written with one `write` per
//! file; the delivery is settled only after every write is flushed to the operating system
//! (and, with `fsync = true`, to the disk). A few files stay open for reuse; the least recently
//! used is closed beyond `max_open_files`, so a template with a field per device cannot
//! exhaust file descriptors.

use super::{OutputContext, OutputError};
use crate::event::{Delivery, Template};
use serde::Deserialize;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;

fn default_max_open_files() -> usize {
    64
}

/// `type = "file"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOutputConfig {
    /// Destination path; `%{field}` and `%{+YYYY.MM.dd}` are resolved per event.
    pub path: Template,
    /// Also `fsync` each write before acknowledging (survives power loss, costs a disk flush).
    #[serde(default)]
    pub fsync: bool,
    #[serde(default = "default_max_open_files")]
    pub max_open_files: usize,
}

#[derive(Debug)]
pub struct FileOutput {
    settings: FileOutputConfig,
    open: HashMap<PathBuf, (File, u64)>,
    clock: u64,
}

impl FileOutput {
    pub fn new(settings: FileOutputConfig) -> Self {
        Self {
            settings,
            open: HashMap::new(),
            clock: 0,
        }
    }

    pub async fn run(
        mut self,
        mut deliveries: mpsc::Receiver<Delivery>,
        context: OutputContext,
    ) -> Result<(), OutputError> {
        let mut per_file: HashMap<String, Vec<u8>> = HashMap::new();
        while let Some(delivery) = deliveries.recv().await {
            let mut count = 0u64;
            let mut path = String::new();
            for event in delivery.events().iter().filter(|e| context.wants(e)) {
                path.clear();
                self.settings.path.render_into(event, &mut path);
                // Look up before inserting: consecutive events nearly always share a file, so
                // the path is only copied when a new destination appears.
                if !per_file.contains_key(path.as_str()) {
                    per_file.insert(path.clone(), Vec::new());
                }
                let Some(buffer) = per_file.get_mut(path.as_str()) else {
                    continue;
                };
                event.write_json(buffer)?;
                buffer.push(b'\n');
                count += 1;
            }
            context
                .metrics
                .events_in
                .fetch_add(count, Ordering::Relaxed);
            let mut bytes = 0u64;
            tokio::task::block_in_place(|| -> Result<(), OutputError> {
                for (path, buffer) in per_file.iter_mut().filter(|(_, b)| !b.is_empty()) {
                    self.write(PathBuf::from(path.as_str()), buffer)?;
                    bytes += buffer.len() as u64;
                    buffer.clear();
                }
                Ok(())
            })?;
            per_file.retain(|_, buffer| buffer.capacity() <= 4 * 1024 * 1024);
            context.metrics.bytes.fetch_add(bytes, Ordering::Relaxed);
            context
                .metrics
                .events_out
                .fetch_add(count, Ordering::Relaxed);
            delivery.settle();
        }
        Ok(())
    }

    fn write(&mut self, path: PathBuf, buffer: &[u8]) -> Result<(), std::io::Error> {
        self.clock += 1;
        let clock = self.clock;
        if !self.open.contains_key(&path) {
            if self.open.len() >= self.settings.max_open_files.max(1) {
                if let Some(oldest) = self
                    .open
                    .iter()
                    .min_by_key(|(_, (_, used))| *used)
                    .map(|(p, _)| p.clone())
                {
                    self.open.remove(&oldest);
                }
            }
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            self.open.insert(path.clone(), (file, clock));
        }
        if let Some((file, used)) = self.open.get_mut(&path) {
            *used = clock;
            file.write_all(buffer)?;
            if self.settings.fsync {
                file.sync_data()?;
            }
        }
        Ok(())
    }
}
