//! Progress of a `--once` run on a terminal: files, bytes read of the total, events per
//! second, time left.
//!
//! Nothing in the pipeline knows about it: it samples the metrics registry a few times a
//! second (the file inputs' `bytes` counter, their `file_lag_bytes` gauges for what is left,
//! the pipeline's delivered-events counter), so it costs the run nothing. It is only shown
//! when standard error is a terminal, and not when events are printed to the same terminal
//! (a `stdout` output), where the bar would be torn by the event lines. sluice's own log lines
//! go through [`LogWriter`], which lifts the bar while a line is written.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sluice::metrics::{ComponentMetrics, ExtraValue, Registry};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The bar being shown, for [`LogWriter`].
static ACTIVE: OnceLock<ProgressBar> = OnceLock::new();

const TICK: Duration = Duration::from_millis(200);

/// Whether to show progress: `--once`, stderr a terminal, stdout not shared with events.
pub fn wanted(once: bool, prints_to_stdout: bool) -> bool {
    once && std::io::stderr().is_terminal()
        && !(prints_to_stdout && std::io::stdout().is_terminal())
}

/// One sample of the run's progress.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reading {
    /// Files the file inputs know about.
    pub files: u64,
    /// Bytes read by the file inputs.
    pub bytes_read: u64,
    /// Bytes still to read (sum of `file_lag_bytes`).
    pub bytes_left: u64,
    /// Events settled by every output.
    pub events: u64,
}

impl Reading {
    pub fn take(registry: &Registry) -> Self {
        let mut reading = Self::default();
        for (key, metrics) in registry.snapshot() {
            if key.kind == "pipeline" && key.id == sluice::metrics::OUTPUTS_ID {
                reading.events = ComponentMetrics::get(&metrics.events_out);
            }
            if key.kind != "input" || key.type_name != "file" {
                continue;
            }
            reading.bytes_read += ComponentMetrics::get(&metrics.bytes);
            for extra in metrics.extras() {
                if let ("file_lag_bytes", ExtraValue::Gauge(gauge)) = (extra.name, &extra.value) {
                    reading.files += 1;
                    reading.bytes_left += gauge.get().max(0) as u64;
                }
            }
        }
        reading
    }

    pub fn bytes_total(&self) -> u64 {
        self.bytes_read + self.bytes_left
    }
}

/// Rates smoothed over the last few samples.
#[derive(Debug, Clone, Default)]
pub struct Rates {
    events_per_second: Option<f64>,
    bytes_per_second: Option<f64>,
    last: Option<(Reading, Instant)>,
}

impl Rates {
    /// Weight of the newest sample in the moving average.
    const ALPHA: f64 = 0.3;

    pub fn update(&mut self, reading: Reading, now: Instant) {
        if let Some((previous, at)) = self.last {
            let seconds = now.duration_since(at).as_secs_f64();
            if seconds > 0.0 {
                let events = reading.events.saturating_sub(previous.events) as f64 / seconds;
                let bytes = reading.bytes_read.saturating_sub(previous.bytes_read) as f64 / seconds;
                self.events_per_second = Some(smooth(self.events_per_second, events));
                self.bytes_per_second = Some(smooth(self.bytes_per_second, bytes));
            }
        }
        self.last = Some((reading, now));
    }
}

fn smooth(previous: Option<f64>, value: f64) -> f64 {
    previous.map_or(value, |p| p + Rates::ALPHA * (value - p))
}

/// The text beside the bar, e.g. `3 files  1.2 MiB / 4.0 MiB  12,345 events  8,000 events/s  ETA 3s`.
pub fn render(reading: &Reading, rates: &Rates) -> String {
    let mut text = format!(
        "{} file{}  {} / {}  {} events",
        reading.files,
        if reading.files == 1 { "" } else { "s" },
        bytes(reading.bytes_read),
        bytes(reading.bytes_total()),
        thousands(reading.events),
    );
    if let Some(rate) = rates.events_per_second {
        text.push_str(&format!("  {} events/s", thousands(rate.round() as u64)));
    }
    match rates.bytes_per_second {
        _ if reading.bytes_left == 0 => {}
        Some(rate) if rate >= 1.0 => {
            let seconds = (reading.bytes_left as f64 / rate).ceil() as u64;
            text.push_str(&format!("  ETA {}", duration(seconds)));
        }
        _ => text.push_str("  ETA -"),
    }
    text
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = "B";
    for next in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn duration(seconds: u64) -> String {
    match seconds {
        0..=59 => format!("{seconds}s"),
        60..=3599 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, (seconds % 3600) / 60),
    }
}

/// A progress bar updated from the registry until [`Progress::finish`].
pub struct Progress {
    bar: ProgressBar,
    task: tokio::task::JoinHandle<()>,
    registry: Arc<Registry>,
    rates: Arc<std::sync::Mutex<Rates>>,
}

impl Progress {
    /// Starts drawing on stderr (call only when [`wanted`]).
    pub fn start(registry: Arc<Registry>) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{bar:30.cyan/blue} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        let _ = ACTIVE.set(bar.clone());
        let rates = Arc::new(std::sync::Mutex::new(Rates::default()));
        let task = {
            let (bar, registry, rates) = (bar.clone(), registry.clone(), rates.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(TICK);
                loop {
                    tick.tick().await;
                    draw(&bar, &registry, &rates);
                }
            })
        };
        Self {
            bar,
            task,
            registry,
            rates,
        }
    }

    /// Draws the final state and leaves it on the terminal.
    pub fn finish(self) {
        self.task.abort();
        draw(&self.bar, &self.registry, &self.rates);
        self.bar.finish();
    }
}

fn draw(bar: &ProgressBar, registry: &Registry, rates: &std::sync::Mutex<Rates>) {
    let reading = Reading::take(registry);
    let message = match rates.lock() {
        Ok(mut rates) => {
            rates.update(reading, Instant::now());
            render(&reading, &rates)
        }
        Err(_) => render(&reading, &Rates::default()),
    };
    bar.set_length(reading.bytes_total().max(1));
    bar.set_position(reading.bytes_read);
    bar.set_message(message);
}

/// Writes log lines to stderr, lifting the progress bar around each one.
///
/// A line that cannot be written is dropped: when stderr is a pipe whose reader went away
/// (journald restarted, `docker logs` detached, `sluice run 2>&1 | head`), the write fails
/// with EPIPE, and handing that error back would make tracing-subscriber report it with
/// `eprintln!`, which panics on the same closed pipe, in whatever task was logging (the
/// signal handler, the final summary). Logging must never stop or kill the process.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let _dropped_if_failed = match ACTIVE.get() {
            Some(bar) if !bar.is_finished() => bar.suspend(|| std::io::stderr().write_all(buf)),
            _ => std::io::stderr().write_all(buf),
        };
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _dropped_if_failed = std::io::stderr().flush();
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn the_reading_comes_from_file_inputs_and_the_fan_out() {
        let registry = Registry::default();
        let input = registry.component("input", "logs", "file");
        ComponentMetrics::add(&input.bytes, 3000);
        input
            .gauge_with("file_lag_bytes", "h", &[("path", "a")])
            .set(1000);
        input
            .gauge_with("file_lag_bytes", "h", &[("path", "b")])
            .set(0);
        let stdin = registry.component("input", "in", "stdin");
        ComponentMetrics::add(&stdin.bytes, 99);
        let fanout = registry.component("pipeline", sluice::metrics::OUTPUTS_ID, "fanout");
        ComponentMetrics::add(&fanout.events_out, 42);
        let reading = Reading::take(&registry);
        assert_eq!(
            reading,
            Reading {
                files: 2,
                bytes_read: 3000,
                bytes_left: 1000,
                events: 42
            }
        );
        assert_eq!(reading.bytes_total(), 4000);
    }

    #[test]
    fn rates_and_eta_follow_the_samples() {
        let start = Instant::now();
        let mut rates = Rates::default();
        let first = Reading {
            files: 1,
            bytes_read: 0,
            bytes_left: 4 * 1024 * 1024,
            events: 0,
        };
        rates.update(first, start);
        assert_eq!(
            render(&first, &rates),
            "1 file  0 B / 4.0 MiB  0 events  ETA -"
        );
        let second = Reading {
            files: 1,
            bytes_read: 1024 * 1024,
            bytes_left: 3 * 1024 * 1024,
            events: 12_000,
        };
        rates.update(second, start + Duration::from_secs(1));
        assert_eq!(
            render(&second, &rates),
            "1 file  1.0 MiB / 4.0 MiB  12,000 events  12,000 events/s  ETA 3s"
        );
        let done = Reading {
            bytes_read: 4 * 1024 * 1024,
            bytes_left: 0,
            events: 48_000,
            ..second
        };
        rates.update(done, start + Duration::from_secs(2));
        let text = render(&done, &rates);
        assert!(
            text.starts_with("1 file  4.0 MiB / 4.0 MiB  48,000 events  "),
            "{text}"
        );
        assert!(!text.contains("ETA"), "{text}");
    }

    #[test]
    fn units_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(duration(75), "1m15s");
        assert_eq!(duration(7300), "2h01m");
    }
}
