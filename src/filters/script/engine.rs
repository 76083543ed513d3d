//! The hardened Rhai engine every script of one filter runs on.
//!
//! Scripts come from pipeline authors, not from us, and run on every event, so one bad script
//! must cost one event, never the process: every limit Rhai has is set (an endless loop hits
//! `max_operations`, a memory bomb the string/array/map sizes, runaway recursion the call
//! depth) and a wall-clock budget per run (`timeout_ms`: operations on large strings or
//! arrays can each take long, so a run within `max_operations` can still stall a worker). The engine starts from `Engine::new_raw()`, which has no module resolver (so
//! `import` cannot read files or anything else) and no `print`; imports are enabled only from
//! a directory the configuration names, and `print`/`debug` go to `tracing`. The engine is
//! built once per filter and then only read: an immutable `Engine` is re-entrant and, with
//! Rhai's `sync` feature, shared by every worker thread.

use super::{api, ruby};
use rhai::module_resolvers::FileModuleResolver;
use rhai::packages::{Package, StandardPackage};
use rhai::{Engine, Shared};
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Expression nesting allowed at the top level and inside functions.
const MAX_EXPR_DEPTH: usize = 64;
const MAX_FN_EXPR_DEPTH: usize = 32;
/// Modules a script may import when `imports_from` is set.
const MAX_MODULES: usize = 16;

/// How many operations run between two looks at the clock (a power of two).
const CLOCK_EVERY_OPERATIONS: u64 = 64;

thread_local! {
    /// When the script run in progress on this thread must stop. Engines are shared by the
    /// worker threads and a run never leaves its thread, so the deadline is per thread.
    static RUN_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Marks the start of a script run on this thread: it ends with
/// `EvalAltResult::ErrorTerminated` once `budget` has passed. The deadline stays until the
/// next run on the thread replaces it (a stale one is never looked at outside a run).
pub fn start_run(budget: Duration) {
    RUN_DEADLINE.with(|deadline| deadline.set(Instant::now().checked_add(budget)));
}

/// The token an overlong run is terminated with.
pub const TIMEOUT_TOKEN: &str = "timeout";

/// The resource limits of one script run (one event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget of one run.
    pub timeout: Duration,
    pub max_operations: u64,
    pub max_call_levels: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
}

/// Rhai's standard library, built once per process: building it registers hundreds of
/// functions, and every engine can share the same module.
fn standard_library() -> Shared<rhai::Module> {
    static STANDARD: OnceLock<Shared<rhai::Module>> = OnceLock::new();
    STANDARD
        .get_or_init(|| StandardPackage::new().as_shared_module())
        .clone()
}

/// What every engine of one filter is built from.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// The filter id, for log lines.
    pub id: String,
    pub limits: Limits,
    pub imports_from: Option<PathBuf>,
}

impl EngineSettings {
    /// The engine for one version of the script `source`: the API, plus a getter and setter
    /// for each name `source` uses after a dot. Rhai looks up a property getter first and, for
    /// a type without one, builds an error message before falling back to the indexer; that
    /// costs more than the rest of a small script, so the names are found in the text
    /// (a superset: method names and words in strings too, which is harmless) and registered.
    /// Names not found there (used only in imported modules) still work through the indexer.
    pub fn build(&self, source: &str) -> Engine {
        let mut engine = build(&self.id, &self.limits, self.imports_from.as_deref());
        api::register_properties(&mut engine, &api::property_names(source));
        engine
    }
}

/// Builds the engine of filter `id`, with the API but no property getters.
pub fn build(id: &str, limits: &Limits, imports_from: Option<&std::path::Path>) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(standard_library());
    api::register(&mut engine);
    ruby::register(&mut engine);

    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(MAX_EXPR_DEPTH, MAX_FN_EXPR_DEPTH)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        // A misspelt variable is a compile error (`sluice validate` finds it), not a `()`.
        .set_strict_variables(true);
    engine.on_progress(|operations| {
        if operations % CLOCK_EVERY_OPERATIONS != 0 {
            return None;
        }
        let expired = RUN_DEADLINE
            .with(Cell::get)
            .is_some_and(|deadline| Instant::now() >= deadline);
        expired.then(|| TIMEOUT_TOKEN.into())
    });

    match imports_from {
        Some(directory) => {
            engine
                .set_module_resolver(FileModuleResolver::new_with_path(directory))
                .set_max_modules(MAX_MODULES);
        }
        None => {
            engine.set_max_modules(0);
        }
    }

    let filter = id.to_string();
    engine.on_print(move |text| tracing::info!(filter = %filter, "script: {text}"));
    let filter = id.to_string();
    engine.on_debug(move |text, _source, position| {
        tracing::debug!(filter = %filter, position = %position, "script: {text}")
    });
    engine
}
