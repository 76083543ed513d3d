//! User filters written in [Rhai](https://rhai.rs): `type = "script"`.
//!
//! Native filters cover the common cases; a script covers the rest (a lookup table, a
//! computed bucket, splitting one record into several) without a new release. It plays the
//! role of Logstash's `ruby` filter and mirrors its event verbs, so porting a `ruby { code =>
//! ... }` block is mostly syntax.
//!
//! # Calling convention
//!
//! The whole script body runs once per event with the variable `event` bound to that event
//! (exactly like the `code` of a Logstash ruby filter). Functions the script defines can be
//! called as methods so they see the event as `this`: `fn classify() { this.kind = "x" }` then
//! `event.classify();`.
//!
//! ```rhai
//! let size = event.payloadSize;
//! if size == () { return; }
//! event.size_bucket = if size < 1024 { "small" } else if size < 65536 { "medium" } else { "large" };
//! ```
//!
//! # The `event` API
//!
//! | script | effect |
//! |---|---|
//! | `event.name`, `event["name"]` | a top-level field, `()` when missing; assignable |
//! | `event["@metadata"]` | the metadata as a map; assignable (a map) |
//! | `event.get(ref)` / `event.set(ref, v)` / `event.remove(ref)` / `event.contains(ref)` | a field reference `[a][b]`, `a.b` or `[@metadata][x]`; `set` creates parents |
//! | `event.tag(t)` / `event.untag(t)` / `event.has_tag(t)` | the `tags` array |
//! | `event.drop()` (alias `event.cancel()`) | the event leaves the pipeline |
//! | `event.emit(#{...})` | an extra event after this one (`@metadata` key → metadata; inherits `@timestamp` when it has none) |
//! | `event.timestamp()` / `event.set_timestamp(ms or "RFC 3339")` | `@timestamp` as epoch milliseconds |
//! | `event.sprintf("%{[a][b]} %{+yyyy.MM.dd}")` | a Logstash-style template |
//! | `event.keys()` / `event.to_map()` | top-level names / a copy of everything |
//!
//! Helpers: `now()` (epoch ms), `parse_time(text)` (RFC 3339) and `parse_time(text, "%d/%m/%Y
//! %H:%M:%S")` (strftime; `()` when it does not parse), `format_time(ms)` (Logstash's
//! `2024-05-01T12:00:00.000Z`) and `format_time(ms, "%Y.%m.%d")`, `topic_levels("a/b/c")`
//! (`["a", "b", "c"]`), `topic_level(topic, i)` and `topic_matches(topic, "fleet/+/temp")`
//! (MQTT wildcards). `print`/`debug` go to the log (`tracing`, info/debug).
//!
//! A missing field reads as `()`, which Rhai does not treat as a boolean or a number: write
//! `if event.flag == true` or `event.payloadSize ?? 0` (the README shows the idioms).
//!
//! `event` is a handle: `let e = event;` refers to the same event. Nested maps read through
//! it are copies (`let d = event.details; d.x = 1;` changes nothing until
//! `event.details = d;`), but chained assignment writes back: `event.details.x = 1` works.
//! Maps written back come out with their keys sorted (Rhai maps are ordered by key).
//!
//! # Why a custom type and not a map
//!
//! Binding `event` as a Rhai map would convert all fields into Rhai values before every run
//! and back to JSON after it. The custom type converts only what the script touches, and each
//! property name the script uses gets a registered getter/setter (see
//! [`engine::EngineSettings::build`]). `cargo bench --bench script` measured the handle at about
//! three times the speed of a `to_dynamic`/`from_dynamic` map round trip (BENCHMARKS.md).
//!
//! # Sandbox
//!
//! See [`engine`]: every Rhai limit is set (operations, call depth, expression depth,
//! string/array/map sizes), there is no module resolver unless `imports_from` names a
//! directory, and Rhai itself has no file, network or process access. A run that breaks a
//! limit or fails in any other way ends with an error for that event only: the event (with
//! whatever changes the script made before failing) is tagged `_script_error` (`tag_on_error`),
//! the message, with the script's line and column, goes to `[@metadata][script_error]`, the
//! filter's `errors` counter rises, and the pipeline goes on. A failed run's `drop` and
//! `emit`s are discarded.
//!
//! # Compilation and reload
//!
//! The script is compiled once at load; a syntax error (or a misspelt variable: strict
//! variables are on, or a function neither the script nor the API defines, see [`calls`])
//! fails `sluice validate` at the script's `file:line:column` (for inline `source`, at the
//! position inside the pipeline file). Workers share the engine and the
//! compiled AST and keep their own scope. A `path` script is re-read when its file changes,
//! checked at most once per `reload_interval_ms` per worker (modification time and size,
//! then a content hash): a good edit replaces the AST for every worker, a broken one keeps the
//! old version running and is reported once. Imported modules are not watched.

mod api;
mod calls;
mod convert;
pub mod engine;
mod handle;
mod reload;
mod ruby;

pub use api::topic_matches;

use crate::config::{BuildContext, ConfigError};
use crate::event::Event;
use crate::metrics::ComponentMetrics;
use handle::EventHandle;
use reload::{Compiled, Origin, Program};
use rhai::{EvalAltResult, Scope};
use serde::Deserialize;
use serde_spanned::Spanned;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The tag a failed run adds to the event, unless `tag_on_error` says otherwise.
pub const ERROR_TAG: &str = "_script_error";
/// The `@metadata` key holding why the run failed.
pub const ERROR_METADATA: &str = "script_error";

/// `type = "script"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawScriptConfig")]
pub struct ScriptConfig {
    /// A `.rhai` file; a relative path starts at the pipeline file's folder (`scripts/x.rhai`
    /// is the `scripts` folder beside the pipeline), wherever sluice runs from.
    pub path: Option<Spanned<PathBuf>>,
    /// Inline script source.
    pub source: Option<Spanned<String>>,
    /// Longest one run may take, in milliseconds (operations on big strings can each be
    /// slow, so `max_operations` alone does not bound the time).
    pub timeout_ms: u64,
    /// Most Rhai operations one run may take (an endless loop ends here).
    pub max_operations: u64,
    /// Deepest function call nesting.
    pub max_call_levels: usize,
    /// Largest string a script may build, in bytes; also the largest field it may read.
    pub max_string_size: usize,
    /// Most elements of an array a script may build.
    pub max_array_size: usize,
    /// Most entries of a map a script may build.
    pub max_map_size: usize,
    /// A directory scripts may `import` modules from (relative: from the pipeline file's
    /// folder); none by default, and then `import` fails.
    pub imports_from: Option<PathBuf>,
    /// Whether a `path` script is reloaded when its file changes.
    pub reload: bool,
    /// How often each worker looks at the script file, at most.
    pub reload_interval_ms: u64,
    /// The tag added to an event whose script run failed.
    pub tag_on_error: String,
}

/// The keys as written; [`ScriptConfig`] checks that exactly one of `path`/`source` is set,
/// so the loader reports the problem at the filter's table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScriptConfig {
    path: Option<Spanned<PathBuf>>,
    source: Option<Spanned<String>>,
    #[serde(default = "defaults::timeout_ms")]
    timeout_ms: u64,
    #[serde(default = "defaults::max_operations")]
    max_operations: u64,
    #[serde(default = "defaults::max_call_levels")]
    max_call_levels: usize,
    #[serde(default = "defaults::max_string_size")]
    max_string_size: usize,
    #[serde(default = "defaults::max_collection_size")]
    max_array_size: usize,
    #[serde(default = "defaults::max_collection_size")]
    max_map_size: usize,
    imports_from: Option<PathBuf>,
    #[serde(default = "defaults::reload")]
    reload: bool,
    #[serde(default = "defaults::reload_interval_ms")]
    reload_interval_ms: u64,
    #[serde(default = "defaults::tag_on_error")]
    tag_on_error: String,
}

mod defaults {
    /// Far above any sane run (microseconds), far below "the worker is stuck"; high enough
    /// that a run preempted on a starved host is not cut.
    pub fn timeout_ms() -> u64 {
        1000
    }
    pub fn max_operations() -> u64 {
        100_000
    }
    pub fn max_call_levels() -> usize {
        32
    }
    pub fn max_string_size() -> usize {
        1024 * 1024
    }
    pub fn max_collection_size() -> usize {
        10_000
    }
    pub fn reload() -> bool {
        true
    }
    pub fn reload_interval_ms() -> u64 {
        1000
    }
    pub fn tag_on_error() -> String {
        super::ERROR_TAG.to_string()
    }
}

impl TryFrom<RawScriptConfig> for ScriptConfig {
    type Error = String;

    fn try_from(raw: RawScriptConfig) -> Result<Self, Self::Error> {
        match (&raw.path, &raw.source) {
            (Some(_), Some(_)) => {
                return Err("set either `path` or `source`, not both".to_string());
            }
            (None, None) => {
                return Err(
                    "a script needs `path = \"scripts/x.rhai\"` or inline `source = '''...'''`"
                        .to_string(),
                );
            }
            _ => {}
        }
        if raw.max_operations == 0 {
            return Err("`max_operations` must be at least 1 (0 would mean unlimited)".into());
        }
        if raw.timeout_ms == 0 {
            return Err("`timeout_ms` must be at least 1".into());
        }
        Ok(Self {
            path: raw.path,
            source: raw.source,
            timeout_ms: raw.timeout_ms,
            max_operations: raw.max_operations,
            max_call_levels: raw.max_call_levels,
            max_string_size: raw.max_string_size,
            max_array_size: raw.max_array_size,
            max_map_size: raw.max_map_size,
            imports_from: raw.imports_from,
            reload: raw.reload,
            reload_interval_ms: raw.reload_interval_ms,
            tag_on_error: raw.tag_on_error,
        })
    }
}

impl ScriptConfig {
    fn limits(&self) -> engine::Limits {
        engine::Limits {
            timeout: Duration::from_millis(self.timeout_ms),
            max_operations: self.max_operations,
            max_call_levels: self.max_call_levels,
            max_string_size: self.max_string_size,
            max_array_size: self.max_array_size,
            max_map_size: self.max_map_size,
        }
    }
}

/// What a script decided about the event it ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Drop,
}

/// A compiled script, shared by every worker.
#[derive(Debug)]
pub struct ScriptFilter {
    program: Arc<Program>,
    tag_on_error: Arc<str>,
    /// Wall-clock budget of one run.
    timeout: Duration,
}

impl super::FilterType for ScriptFilter {
    type Config = ScriptConfig;

    fn build(config: &ScriptConfig, build: &super::FilterBuild<'_>) -> Result<Self, ConfigError> {
        ScriptFilter::build(&build.component.id, config, build.context)
    }

    /// Never called: a script runs through its [`ScriptWorker`] (per-worker scope, emitted
    /// events), which the chain builds for each script stage. Without one it keeps the event.
    fn apply(&self, _event: &mut Event) -> super::Outcome {
        super::Outcome::Keep
    }
}

impl ScriptFilter {
    /// Compiles the script; compile errors point at file, line and column.
    pub fn build(
        id: &str,
        config: &ScriptConfig,
        context: &BuildContext,
    ) -> Result<Self, ConfigError> {
        let metrics = context.metrics.component("filter", id, "script");
        let settings = engine::EngineSettings {
            id: id.to_string(),
            limits: config.limits(),
            imports_from: config
                .imports_from
                .as_deref()
                .map(|directory| context.companion_file(directory)),
        };
        let (origin, text) = match (&config.path, &config.source) {
            (Some(path), _) => {
                let resolved = context.companion_file(path.get_ref());
                let text = std::fs::read_to_string(&resolved).map_err(|e| {
                    context.error_at(
                        Some(path.span()),
                        format!(
                            "filter `{id}`: cannot read script {}: {e}",
                            resolved.display()
                        ),
                    )
                })?;
                (Origin::File(resolved), text)
            }
            (None, Some(source)) => (
                Origin::Inline {
                    filter: id.to_string(),
                    span: source.span(),
                    source: context.source.clone(),
                },
                source.get_ref().clone(),
            ),
            (None, None) => {
                return Err(context.error_at(
                    None,
                    format!("filter `{id}`: a script needs `path` or `source`"),
                ))
            }
        };
        let reload_interval = (config.reload && matches!(origin, Origin::File(_)))
            .then_some(Duration::from_millis(config.reload_interval_ms));
        let program = Program::compile(id, settings, origin, &text, reload_interval, metrics)?;
        Ok(Self {
            program: Arc::new(program),
            tag_on_error: config.tag_on_error.as_str().into(),
            timeout: Duration::from_millis(config.timeout_ms),
        })
    }

    /// Per-worker state (engine scope).
    pub fn worker(&self) -> ScriptWorker {
        let (compiled, generation) = self.program.current();
        ScriptWorker {
            program: self.program.clone(),
            tag_on_error: self.tag_on_error.clone(),
            timeout: self.timeout,
            compiled,
            generation,
            scope: Scope::new(),
            handle: EventHandle::default(),
            next_reload_check: Instant::now(),
            warned: false,
        }
    }

    /// The problem with the last edit of the script file, while the previous version runs.
    pub fn reload_error(&self) -> Option<ConfigError> {
        self.program.reload_error()
    }
}

/// One worker's instance of a script.
#[derive(Debug)]
pub struct ScriptWorker {
    program: Arc<Program>,
    tag_on_error: Arc<str>,
    timeout: Duration,
    compiled: Arc<Compiled>,
    generation: u64,
    scope: Scope<'static>,
    /// Where the event lives while the script runs; reused for every event.
    handle: EventHandle,
    next_reload_check: Instant,
    /// Whether this worker has logged a script error at `warn` yet (later ones go to debug).
    warned: bool,
}

impl ScriptWorker {
    /// Runs the script on `event`; extra events the script emits are pushed to `emitted`.
    pub fn apply(&mut self, event: &mut Event, emitted: &mut Vec<Event>) -> Verdict {
        self.refresh();
        self.handle.load(std::mem::take(event));
        self.scope.rewind(0);
        self.scope.push("event", self.handle.clone());
        engine::start_run(self.timeout);
        let result = self
            .compiled
            .engine
            .run_ast_with_scope(&mut self.scope, &self.compiled.ast);
        let event_replaced = !self
            .scope
            .get("event")
            .is_some_and(|value| value.is::<EventHandle>());
        self.scope.rewind(0);
        let (processed, dropped, extra) = self.handle.take().into_parts();
        *event = processed;
        let failure = match result {
            Err(error) => Some(self.describe(*error)),
            Ok(()) if event_replaced => Some(format!(
                "{}: `event` was reassigned; change fields with `event.name = value` or `event.set(ref, value)`",
                self.program.origin()
            )),
            Ok(()) => None,
        };
        match failure {
            None => {
                emitted.extend(extra);
                if dropped {
                    Verdict::Drop
                } else {
                    Verdict::Keep
                }
            }
            Some(message) => {
                self.record_failure(event, message);
                Verdict::Keep
            }
        }
    }

    /// Picks up a newer AST, checking the script file when the interval has passed.
    fn refresh(&mut self) {
        if let Some(interval) = self.program.reload_interval() {
            let now = Instant::now();
            if now >= self.next_reload_check {
                self.next_reload_check = now + interval;
                self.program.reload_if_changed();
            }
        }
        if self.program.generation() != self.generation {
            (self.compiled, self.generation) = self.program.current();
        }
    }

    /// `origin:line:column: message` for a failed run.
    fn describe(&self, mut error: EvalAltResult) -> String {
        let position = error.take_position();
        let message = match error {
            // `throw "text"` reads better without Rhai's "Runtime error: " prefix.
            EvalAltResult::ErrorRuntime(ref value, _) if value.is_string() => value.to_string(),
            EvalAltResult::ErrorTerminated(ref token, _)
                if token.clone().into_string().ok().as_deref() == Some(engine::TIMEOUT_TOKEN) =>
            {
                format!(
                    "the run took longer than timeout_ms ({} ms) and was stopped",
                    self.timeout.as_millis()
                )
            }
            ref other => other.to_string(),
        };
        match (position.line(), position.position()) {
            (Some(line), Some(column)) => {
                format!("{}:{line}:{column}: {message}", self.program.origin())
            }
            (Some(line), None) => format!("{}:{line}: {message}", self.program.origin()),
            _ => format!("{}: {message}", self.program.origin()),
        }
    }

    fn record_failure(&mut self, event: &mut Event, message: String) {
        ComponentMetrics::add(&self.program.metrics().errors, 1);
        if self.warned {
            tracing::debug!(filter = %self.program.id(), "script failed: {message}");
        } else {
            self.warned = true;
            tracing::warn!(
                filter = %self.program.id(),
                "script failed: {message} (event tagged `{}`; further failures are logged at debug level)",
                self.tag_on_error
            );
        }
        event.add_tag(&self.tag_on_error);
        event
            .metadata_mut()
            .insert(ERROR_METADATA.to_string(), message.into());
    }
}
