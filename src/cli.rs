//! The command line (clap derive). Runtime-only knobs are flags; what the pipeline does is
//! in its configuration file.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// sluice: tail MQTT client logs and Beats traffic, enrich them, ship them to
/// Elasticsearch and Slack.
#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about,
    after_help = "Examples:\n  \
        sluice run -c pipelines/quickstart.toml --once   # process the bundled sample and exit\n  \
        sluice run -c pipelines/mqtt.toml                # run until Ctrl-C\n  \
        sluice validate -c pipelines/mqtt.toml           # check a pipeline without running it\n  \
        sluice test pipelines/                           # run every pipelines/**/*.test.toml\n  \
        sluice run -c pipelines/logstash/mqtt.conf       # a Logstash pipeline, unchanged\n  \
        sluice convert pipelines/logstash/mqtt.conf      # ... and the native TOML it is\n\n\
        Exit codes: 0 success, 1 runtime failure, 2 invalid configuration or usage, 3 events left \
        undelivered after shutdown_timeout, 130 interrupted twice."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Format of sluice's own log lines (written to stderr).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    /// Log filter, e.g. `info`, `debug`, `sluice=debug` (overrides SLUICE_LOG).
    #[arg(long, global = true)]
    pub log_level: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline until SIGINT/SIGTERM (or, with --once, until its inputs are read).
    Run {
        /// The pipeline file.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Read what exists now, deliver everything, write checkpoints, exit.
        #[arg(long)]
        once: bool,
        /// Serve the monitoring API here instead of `[api] address`: `host:port` or
        /// `host:first-last`; port 0 picks a free port. The bound address is logged.
        #[arg(long, value_name = "ADDRESS")]
        api_address: Option<sluice::config::ApiAddress>,
        /// Do not serve the monitoring API (overrides `[api] enabled`).
        #[arg(long, conflicts_with = "api_address")]
        no_api: bool,
        /// The file's language (auto: Logstash for `.conf`/`.cfg`, a directory or a glob).
        #[arg(long, value_enum, default_value_t = ConfigFormat::Auto)]
        format: ConfigFormat,
    },
    /// Run a pipeline's tests: `*.test.toml` files of example events and expected results,
    /// pushed through the real filter chain and output conditions (no input or output runs).
    Test {
        /// A `*.test.toml` file, or a directory searched recursively for them.
        #[arg(value_name = "PATH", required = true)]
        paths: Vec<PathBuf>,
    },
    /// Check a pipeline file: parse and compile everything, report every problem.
    Validate {
        /// The pipeline file.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// The file's language (auto: Logstash for `.conf`/`.cfg`, a directory or a glob).
        #[arg(long, value_enum, default_value_t = ConfigFormat::Auto)]
        format: ConfigFormat,
    },
    /// Print the native TOML pipeline a Logstash `.conf` (file, directory or glob) is; exits
    /// 2, after printing what it could, when something has no sluice equivalent.
    Convert {
        /// The Logstash configuration.
        #[arg(value_name = "PATH")]
        path: PathBuf,
        /// Write the TOML here instead of printing it: a path ending in `.toml` is the file;
        /// any other path is a directory that gets `pipeline.toml` and, for translated
        /// `ruby` filters, `scripts/<id>.rhai` files the TOML names by `path`.
        #[arg(short, long, value_name = "FILE|DIR")]
        output: Option<PathBuf>,
    },
    /// Look into a disk queue (`[pipeline.queue] type = "disk"`).
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Print the segments, the reader's cursor, pending events and bytes, and any damage
    /// (every record's checksum is checked). Read-only and takes no lock, so it also works
    /// beside a running sluice (a record being written may then show as a torn tail).
    Inspect {
        /// The pipeline's data_dir (its `queue/` is read), or the queue's own `path`.
        #[arg(value_name = "DATA_DIR")]
        data_dir: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line (`@timestamp`, `level`, `message`, fields).
    Json,
}

/// `--format`: which front end reads the pipeline file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConfigFormat {
    /// Logstash for `.conf`/`.cfg` files, directories and globs; TOML otherwise.
    Auto,
    /// sluice's native TOML.
    Toml,
    /// Logstash's configuration language.
    Logstash,
}

impl From<ConfigFormat> for sluice::config::Format {
    fn from(format: ConfigFormat) -> Self {
        match format {
            ConfigFormat::Auto => Self::Auto,
            ConfigFormat::Toml => Self::Toml,
            ConfigFormat::Logstash => Self::Logstash,
        }
    }
}
