//! The `sluice` binary: parse the command line, set up logging, run, map the outcome to an
//! exit code. Everything else lives in the library.

#![warn(clippy::unwrap_used, clippy::expect_used)]

use anyhow::Context as _;
use clap::Parser;
use sluice::pipeline::{self, RunOptions};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

mod cli;
mod logging;
mod progress;

/// Events are allocated on the reader thread and freed on output threads; glibc's allocator
/// spent half the CPU time of the core benchmark on that cross-thread traffic, mimalloc's
/// per-thread free lists do not (BENCHMARKS.md). It is built with `no_thp`: mimalloc otherwise
/// asks for transparent huge pages on its arenas, and every first touch then makes a whole
/// 2 MiB page resident: 10 of the 20 MiB an idle sluice held, and a quarter of the seed
/// chain's peak (BENCHMARKS.md, "Memory of a sidecar").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long mimalloc keeps memory freed back to its arena resident before returning it to the
/// system, in milliseconds. Its default (1 s) kept ~2 MiB of pages freed between batches
/// resident through the seed chain's run (peak 21.7 - 22.5 MiB); 25 ms returns them while
/// the next batches are built, without more `madvise` calls than the batches' rhythm needs
/// (19.7 - 20.3 MiB at the same system time; 0 ms, purging at once, cost 2.7 µs of system time
/// per event). `MIMALLOC_PURGE_DELAY` in the environment still wins.
const ALLOCATOR_PURGE_DELAY_MS: std::ffi::c_long = 25;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (`mimalloc.h`; the enum's values are
/// part of its stable API, deprecated options keep their slots).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

#[allow(unsafe_code)]
mod mimalloc_options {
    extern "C" {
        /// mimalloc's option setter (linked in with the allocator).
        pub fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
}

fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: sets an integer option; mimalloc reads options atomically at each use, and
    // the value is one its documentation allows (0 = at once, -1 = never).
    #[allow(unsafe_code)]
    unsafe {
        mimalloc_options::mi_option_set(MI_OPTION_PURGE_DELAY, ALLOCATOR_PURGE_DELAY_MS);
    }
}

use cli::{Cli, Command, LogFormat};

const EXIT_RUNTIME: u8 = 1;
const EXIT_CONFIG: u8 = 2;
/// The outputs did not deliver everything within `pipeline.shutdown_timeout`.
const EXIT_SHUTDOWN_TIMEOUT: u8 = 3;
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    init_logging(cli.log_format, cli.log_level.as_deref());
    match cli.command {
        Command::Validate { config, format } => validate(&config, format.into()),
        Command::Run {
            config,
            once,
            api_address,
            no_api,
            format,
        } => {
            let api = ApiOverride {
                address: api_address,
                disabled: no_api,
            };
            run(&config, format.into(), once, api)
        }
        Command::Test { paths } => test(&paths),
        Command::Queue {
            command: cli::QueueCommand::Inspect { data_dir },
        } => queue_inspect(&data_dir),
        Command::Convert { path, output } => convert(&path, output.as_deref()),
    }
}

/// `sluice queue inspect`: the queue under `data_dir/queue`, or `data_dir` itself when it
/// holds segments (a queue with its own `path`).
fn queue_inspect(data_dir: &std::path::Path) -> ExitCode {
    use sluice::queue::disk::inspect;
    let nested = data_dir.join("queue");
    let dir = if nested.is_dir() {
        nested
    } else {
        data_dir.to_path_buf()
    };
    match inspect::inspect(&dir) {
        Ok(report) => {
            print_stdout(&inspect::render(&report));
            ExitCode::SUCCESS
        }
        Err(e) => {
            print_stderr(&format!("cannot read the queue in {}: {e}", dir.display()));
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn init_logging(format: LogFormat, level: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = level
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_env("SLUICE_LOG").ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    use std::io::IsTerminal as _;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only for people: log files and journald get plain `key=value` text.
        .with_ansi(std::io::stderr().is_terminal())
        // A failed write is reported with `eprintln!`, which panics when stderr is the very
        // pipe that failed; `LogWriter` drops such lines itself (see there).
        .log_internal_errors(false)
        .with_writer(|| progress::LogWriter);
    match format {
        LogFormat::Human => builder.with_target(false).init(),
        LogFormat::Json => builder
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(logging::JsonLines)
            .init(),
    }
}

/// `--api-address` / `--no-api`.
struct ApiOverride {
    address: Option<sluice::config::ApiAddress>,
    disabled: bool,
}

fn validate(path: &std::path::Path, format: sluice::config::Format) -> ExitCode {
    match pipeline::load_and_compile_as(path, format) {
        Ok(_) => {
            print_stdout(&format!("{}: ok\n", path.display()));
            ExitCode::SUCCESS
        }
        Err(errors) => {
            print_stderr(&errors);
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// `sluice convert`: the TOML on stdout (or in `output`), then whatever had no equivalent
/// on stderr (exit 2); a file that does not parse prints nothing but its errors.
fn convert(path: &std::path::Path, output: Option<&std::path::Path>) -> ExitCode {
    use sluice::config::logstash::Scripts;
    let directory = output.filter(|o| o.extension().is_none_or(|e| e != "toml"));
    let scripts = if directory.is_some() {
        Scripts::Files
    } else {
        Scripts::Inline
    };
    let translation = match sluice::config::logstash::translate_with(path, scripts) {
        Ok(translation) => translation,
        Err(errors) => {
            print_stderr(&errors);
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let written = match (directory, output) {
        (Some(dir), _) => write_conversion(dir, &translation),
        (None, Some(file)) => std::fs::write(file, &translation.toml)
            .map_err(|e| format!("{}: cannot write: {e}", file.display())),
        (None, None) => {
            print_stdout(&translation.toml);
            Ok(())
        }
    };
    if let Err(message) = written {
        print_stderr(&message);
        return ExitCode::from(EXIT_RUNTIME);
    }
    if translation.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        print_stderr(&sluice::config::ConfigErrors(translation.problems));
        ExitCode::from(EXIT_CONFIG)
    }
}

/// `convert -o DIR`: `DIR/pipeline.toml` and the Rhai files it names.
fn write_conversion(
    dir: &std::path::Path,
    translation: &sluice::config::logstash::Translation,
) -> Result<(), String> {
    let write = |path: std::path::PathBuf, text: &str| {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("{}: cannot create: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("{}: cannot write: {e}", path.display()))
    };
    write(dir.join("pipeline.toml"), &translation.toml)?;
    for script in &translation.scripts {
        write(dir.join(&script.path), &script.code)?;
    }
    Ok(())
}

/// `sluice test`: 0 when every case passes, 1 when one fails, 2 when a test or pipeline file
/// is invalid.
fn test(paths: &[std::path::PathBuf]) -> ExitCode {
    let mut report = sluice::testing::Report::default();
    for path in paths {
        match sluice::testing::run_path(path) {
            Ok(mut partial) => report.files.append(&mut partial.files),
            Err(error) => {
                print_stderr(&error);
                return ExitCode::from(EXIT_CONFIG);
            }
        }
    }
    print_stdout(&report.render());
    if report.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_RUNTIME)
    }
}

fn run(
    path: &std::path::Path,
    format: sluice::config::Format,
    once: bool,
    api: ApiOverride,
) -> ExitCode {
    let compiled = match pipeline::load_and_compile_as(path, format) {
        Ok(compiled) => compiled,
        Err(errors) => {
            print_stderr(&errors);
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // First of all: a second run on the same data directory must not start anything. Held
    // until the process ends.
    let _data_dir_lock = match compiled.lock_data_dir() {
        Ok(lock) => lock,
        Err(e) => {
            tracing::error!(error = %e, "Cannot lock the data directory.");
            print_stderr(&format_args!("sluice: {e}"));
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sluice")
        .build()
        .context("cannot start the async runtime")
    {
        Ok(runtime) => runtime,
        Err(e) => {
            print_stderr(&format_args!("sluice: {e:#}"));
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let shutdown = CancellationToken::new();
    let abort = CancellationToken::new();
    let metrics = compiled.metrics();
    let mut api_settings = compiled.api_settings().clone();
    if let Some(address) = api.address {
        api_settings.address = address;
        api_settings.enabled = true;
    }
    if api.disabled {
        api_settings.enabled = false;
    }
    let show_progress = progress::wanted(once, compiled.has_output_type("stdout"));
    let result = runtime.block_on(async {
        let started = std::time::Instant::now();
        let api_stop = CancellationToken::new();
        if api_settings.enabled {
            match sluice::api::BoundApi::bind(&api_settings.address).await {
                Ok(bound) => {
                    tracing::info!(
                        address = %bound.local_addr(),
                        "API listening on http://{}",
                        bound.local_addr()
                    );
                    tokio::spawn(bound.serve(
                        metrics.clone(),
                        compiled.readiness(),
                        compiled.settings().clone(),
                        std::time::SystemTime::now() - started.elapsed(),
                        api_stop.clone(),
                    ));
                }
                Err(e) => return Err(RunFailure::Api(e)),
            }
        }
        let signals = tokio::spawn(watch_signals(shutdown.clone(), abort.clone()));
        let bar = show_progress.then(|| progress::Progress::start(metrics.clone()));
        let result = compiled
            .run(RunOptions { once }, shutdown.clone(), abort.clone())
            .await;
        if let Some(bar) = bar {
            bar.finish();
        }
        signals.abort();
        api_stop.cancel();
        summarise(&metrics, started.elapsed());
        result.map_err(RunFailure::Pipeline)
    });
    // A blocked stdin read lives on a blocking thread that cannot be interrupted; everything
    // that matters has finished, so do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) if abort.is_cancelled() => ExitCode::from(EXIT_INTERRUPTED),
        Ok(()) => ExitCode::SUCCESS,
        Err(RunFailure::Api(e)) => {
            tracing::error!(error = %e, "Cannot start the monitoring API.");
            print_stderr(&format_args!("sluice: {e}"));
            ExitCode::from(EXIT_RUNTIME)
        }
        Err(RunFailure::Pipeline(e @ pipeline::RunError::ShutdownTimedOut { .. })) => {
            tracing::error!(error = %e, "Shutdown timed out.");
            ExitCode::from(EXIT_SHUTDOWN_TIMEOUT)
        }
        Err(RunFailure::Pipeline(e)) => {
            tracing::error!(error = %e, "Pipeline stopped with an error.");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// Writes `text` to stdout as it is. Unlike `print!`, which panics when the reader has gone
/// (`sluice validate ... | head -0`), a failed write is dropped: the exit code still tells.
fn print_stdout(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _dropped_if_failed = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// Writes `message` and a newline to stderr, dropping it if stderr is gone (a closed pipe),
/// where `eprintln!` would panic and turn the exit code into 101.
fn print_stderr(message: &dyn std::fmt::Display) {
    use std::io::Write as _;
    let _dropped_if_failed = writeln!(std::io::stderr(), "{message}");
}

enum RunFailure {
    Api(sluice::api::ApiError),
    Pipeline(pipeline::RunError),
}

/// First SIGINT/SIGTERM: drain and exit. Second: stop retrying, exit with what was
/// acknowledged (checkpoints never cover unacknowledged events, so nothing is lost).
///
/// Each signal is acted on before it is logged, and the log line is written on a thread of
/// its own: a log write can fail (stderr a closed pipe) or block (a full pipe nobody reads),
/// and neither may keep sluice from stopping.
async fn watch_signals(shutdown: CancellationToken, abort: CancellationToken) {
    let mut count = 0;
    loop {
        wait_for_signal().await;
        count += 1;
        if count == 1 {
            shutdown.cancel();
            drop(log_aside(|| {
                tracing::info!(
                    "Shutting down: finishing in-flight events (signal again to stop now)."
                );
            }));
        } else {
            abort.cancel();
            let logged = log_aside(|| {
                tracing::warn!(
                    "Stopping now; unacknowledged events will be read again on restart."
                );
            });
            // The line usually takes microseconds; a stuck log pipe gets a second, not more.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), logged).await;
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
    }
}

/// Runs `log` on a thread of its own; the receiver completes once it has returned (or at
/// once if no thread could be started, and the line is skipped).
fn log_aside(log: impl FnOnce() + Send + 'static) -> tokio::sync::oneshot::Receiver<()> {
    let (written, done) = tokio::sync::oneshot::channel();
    let _skipped_if_no_thread = std::thread::Builder::new()
        .name("sluice-signal-log".into())
        .spawn(move || {
            log();
            let _ = written.send(());
        });
    done
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

fn summarise(metrics: &sluice::metrics::Registry, elapsed: std::time::Duration) {
    use sluice::metrics::ComponentMetrics as M;
    for (key, counters) in metrics.snapshot() {
        let counted = counted_extras(&counters);
        macro_rules! totals {
            ($($extra:tt)*) => {
                tracing::info!(
                    component_kind = %key.kind,
                    component_id = %key.id,
                    component_type = %key.type_name,
                    events_in = M::get(&counters.events_in),
                    events_out = M::get(&counters.events_out),
                    dropped = M::get(&counters.events_dropped),
                    failed = M::get(&counters.events_failed),
                    errors = M::get(&counters.errors),
                    $($extra)*
                    "Component totals."
                )
            };
        }
        if counted.is_empty() {
            totals!();
        } else {
            totals!(counted = ?counted,);
        }
    }
    tracing::info!(seconds = elapsed.as_secs_f64(), "Pipeline finished.");
}

/// The component's own counters that counted something (`dead_letters_total=2
/// bulk_responses_total{status=200}=40`), so a `--once` run's summary says what happened
/// beyond events in and out without a scrape of `/metrics`.
fn counted_extras(counters: &sluice::metrics::ComponentMetrics) -> String {
    use sluice::metrics::ExtraValue;
    use std::fmt::Write as _;
    let mut text = String::new();
    for extra in counters.extras() {
        let ExtraValue::Counter(counter) = &extra.value else {
            continue;
        };
        let value = counter.get();
        if value == 0 {
            continue;
        }
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(extra.name);
        if !extra.labels.is_empty() {
            let labels: Vec<String> = extra
                .labels
                .iter()
                .map(|(key, label)| format!("{key}={label}"))
                .collect();
            let _ = write!(text, "{{{}}}", labels.join(","));
        }
        let _ = write!(text, "={value}");
    }
    text
}
