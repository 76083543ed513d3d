//! Writes NDJSON files whose path is a template, so daily files mirror daily indices
//! (`out/mqtt-logs-%{+YYYY.MM.dd}.ndjson`).
//!
//! A batch is encoded into one buffer per destination file and written with one `write` per
//! file; the delivery is settled only after every write is flushed to the operating system
//! (and, with `fsync = true`, to the disk). A few files stay open for reuse; the least recently
//! used is closed beyond `max_open_files`, so a template with a field per device cannot
//! exhaust file descriptors.
//!
//! Readiness: at start the output checks that its destination can be written (the file itself
//! when it exists, else the directory before the first `%{` or the file name, with a probe
//! file created and removed) and reports not ready, with the reason, when it cannot; every successful write
//! reports it ready again.

use super::{OutputContext, OutputError, OutputType};
use crate::config::{BuildContext, ConfigErrors};
use crate::event::{CachingTemplate, Delivery, Template};
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

impl OutputType for FileOutput {
    type Config = FileOutputConfig;

    fn build(settings: &FileOutputConfig, _context: &BuildContext) -> Result<Self, ConfigErrors> {
        Ok(Self {
            settings: settings.clone(),
            open: HashMap::new(),
            clock: 0,
        })
    }

    async fn run(
        self,
        deliveries: mpsc::Receiver<Delivery>,
        context: OutputContext,
    ) -> Result<(), OutputError> {
        super::run_on_own_thread(move || self.write_deliveries(deliveries, &context)).await?
    }
}

/// One buffer per destination of a delivery, kept from one delivery to the next.
#[derive(Debug, Default)]
struct Destinations {
    buffers: Vec<(String, Vec<u8>)>,
    index: HashMap<String, usize>,
    /// The destination of the previous event: consecutive events nearly always share it, and
    /// comparing the path costs less than hashing it.
    last: usize,
}

impl Destinations {
    /// The buffer of `path`; the path is only copied when a new destination appears.
    fn buffer(&mut self, path: &str) -> &mut Vec<u8> {
        let hit = self
            .buffers
            .get(self.last)
            .is_some_and(|(last, _)| last == path);
        if !hit {
            self.last = match self.index.get(path) {
                Some(&at) => at,
                None => {
                    self.index.insert(path.to_owned(), self.buffers.len());
                    self.buffers.push((path.to_owned(), Vec::new()));
                    self.buffers.len() - 1
                }
            };
        }
        &mut self.buffers[self.last].1
    }

    /// The destinations with something to write.
    fn filled(&mut self) -> impl Iterator<Item = (&str, &mut Vec<u8>)> {
        self.buffers
            .iter_mut()
            .filter(|(_, buffer)| !buffer.is_empty())
            .map(|(path, buffer)| (path.as_str(), buffer))
    }

    /// After a delivery is written: forgets the destinations when there are more than
    /// `most` (a template with a field per device must not grow this without bound), and
    /// gives back a buffer a huge delivery grew.
    fn trim(&mut self, most: usize) {
        if self.buffers.len() > most.max(1) {
            self.buffers.clear();
            self.index.clear();
            self.last = 0;
        }
        for (_, buffer) in &mut self.buffers {
            if buffer.capacity() > 4 * 1024 * 1024 {
                *buffer = Vec::new();
            }
        }
    }
}

impl FileOutput {
    /// The output's loop, on a thread of its own (`super::run_on_own_thread`): encodes each
    /// delivery into one buffer per destination, writes them, then settles the delivery.
    fn write_deliveries(
        mut self,
        mut deliveries: mpsc::Receiver<Delivery>,
        context: &OutputContext,
    ) -> Result<(), OutputError> {
        let mut per_file = Destinations::default();
        // The daily part of the path is rendered once per day, not once per event.
        let mut path_template = CachingTemplate::new(self.settings.path.clone());
        match self.probe() {
            Ok(()) => context.readiness.set_ready(),
            Err(reason) => {
                tracing::warn!(output = %context.id, %reason, "File output cannot write its destination yet.");
                context.readiness.set_not_ready(reason);
            }
        }
        let mut path = String::new();
        while let Some(delivery) = deliveries.blocking_recv() {
            let mut count = 0u64;
            for event in
                crate::event::prefetch::walk(delivery.events()).filter(|e| context.wants(e))
            {
                path.clear();
                path_template.render_into(event, &mut path);
                let buffer = per_file.buffer(&path);
                event.write_json(buffer)?;
                buffer.push(b'\n');
                count += 1;
            }
            context
                .metrics
                .events_in
                .fetch_add(count, Ordering::Relaxed);
            let mut bytes = 0u64;
            for (path, buffer) in per_file.filled() {
                if let Err(e) = self.write(PathBuf::from(path), buffer) {
                    let error = std::io::Error::new(e.kind(), format!("{path}: {e}"));
                    context.readiness.set_not_ready(error.to_string());
                    return Err(error.into());
                }
                bytes += buffer.len() as u64;
                buffer.clear();
            }
            if !context.readiness.is_ready() {
                context.readiness.set_ready();
            }
            per_file.trim(self.settings.max_open_files);
            context.metrics.bytes.fetch_add(bytes, Ordering::Relaxed);
            context
                .metrics
                .events_out
                .fetch_add(count, Ordering::Relaxed);
            delivery.settle();
        }
        Ok(())
    }

    /// Whether the destination looks writable; the reason when not.
    fn probe(&self) -> Result<(), String> {
        let source = self.settings.path.source();
        if self.settings.path.is_static() && std::path::Path::new(source).exists() {
            return OpenOptions::new()
                .append(true)
                .open(source)
                .map(drop)
                .map_err(|e| format!("cannot open {source}: {e}"));
        }
        let literal = source.split("%{").next().unwrap_or_default();
        let dir = match literal.rfind('/') {
            Some(0) => std::path::Path::new("/"),
            Some(end) => std::path::Path::new(&literal[..end]),
            None => std::path::Path::new("."),
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let probe = dir.join(format!(".sluice-probe-{}", std::process::id()));
        OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&probe)
            .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
        let _ = std::fs::remove_file(&probe);
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
