//! The filter chain: an ordered list of stages, each a filter with an optional `if`.
//!
//! Why native filters: the seed pipeline (Logstash `mqtt.conf`) is `json`, `date`, a
//! severity mapping, a topic split, and two alert rules. Those run for every event, so they
//! are plain Rust over precompiled [`FieldPath`](crate::event::FieldPath)s; the Rhai
//! [`script`] filter is there for what they cannot express.
//!
//! How a batch flows ([`ChainWorker::process`]): stage by stage, every event of the batch is
//! tested against the stage's condition (compiled once at load) and, if it matches, handed to
//! the filter. A filter keeps the event, drops it (removed with one `retain` pass per stage,
//! so dropping costs no shifting per event) or, for scripts, emits new events; emitted events
//! are appended to the batch and go through the *following* stages only. Metrics are counted
//! locally and added to the stage's shared counters once per batch.
//!
//! Logstash's options common to every filter (`add_field`, `add_tag`, `remove_field`,
//! `remove_tag`) are applied here, after a filter succeeded ([`common`]), not by each filter.
//!
//! Per-filter options and Logstash differences are documented on each filter's module:
//! [`json`], [`date`], [`severity`], [`topic_split`], [`slow_operation`], [`security_flag`],
//! [`mutate`], [`drop`](mod@drop).
//!
//! Every filter type is registered once, in the table of `filter_types!` below: the settings
//! enum [`FilterConfig`], the type names and their parsing, the compiled filter and its
//! per-event dispatch (one `match`, no boxed trait object) all follow from it.
//!
//! To add a filter: give it a module (`filters/geoip.rs`) whose compiled filter implements
//! [`FilterType`] (its settings type, how it is built, what it does to one event), then add
//! one line to the table.

pub mod common;
pub mod date;
pub mod dissect;
pub mod drop;
pub mod fingerprint;
pub mod grok;
pub mod json;
pub mod kv;
pub mod mutate;
pub mod script;
pub mod security_flag;
pub mod severity;
pub mod slow_operation;
pub mod split;
pub mod topic_split;
pub mod uuid;

use crate::condition::{Forget, Memo, SharedCondition, SharedTests};
use crate::config::{BuildContext, Component, ConfigError, Inline};
use crate::event::{Event, FieldPath};
use crate::metrics::ComponentMetrics;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Declares every filter type from one table (below): each line is
/// `"type name" => Variant(settings type => compiled filter)`, the filter implementing
/// [`FilterType`] for those settings. Compiled filters are held in place, not boxed: they are
/// reached for every event.
macro_rules! filter_types {
    ($($name:literal => $variant:ident($config:ty => $filter:ty),)+) => {
        impl Filter {
            /// Runs the filter on one event (a script stage runs through its worker instead,
            /// see [`ChainWorker::process`]); events it splits off go to `emitted`.
            fn apply(&self, event: &mut Event, emitted: &mut Vec<Event>) -> Outcome {
                match self {
                    $(Self::$variant(filter) => FilterType::apply_emitting(filter, event, emitted),)+
                }
            }

            /// The fields the filter may write when it succeeds; `None`: any.
            fn writes(&self) -> Option<Vec<FieldPath>> {
                match self {
                    $(Self::$variant(filter) => FilterType::writes(filter),)+
                }
            }
        }

        crate::config::component_types! {
            pub enum FilterConfig: "filter", conditional: true;
            enum Filter of Inline, built by FilterType from FilterBuild<'_>;
            $($name => $variant($config => $filter),)+
        }
    };
}

filter_types! {
    "json" => Json(json::JsonConfig => json::JsonFilter),
    "date" => Date(date::DateConfig => date::DateFilter),
    "severity" => Severity(severity::SeverityConfig => severity::SeverityFilter),
    "topic_split" => TopicSplit(topic_split::TopicSplitConfig => topic_split::TopicSplitFilter),
    "slow_operation" => SlowOperation(slow_operation::SlowOperationConfig => slow_operation::SlowOperationFilter),
    "security_flag" => SecurityFlag(security_flag::SecurityFlagConfig => security_flag::SecurityFlagFilter),
    "mutate" => Mutate(mutate::MutateConfig => mutate::MutateFilter),
    "drop" => Drop(drop::DropConfig => drop::DropFilter),
    "script" => Script(script::ScriptConfig => script::ScriptFilter),
    "grok" => Grok(grok::GrokConfig => grok::GrokFilter),
    "dissect" => Dissect(dissect::DissectConfig => dissect::DissectFilter),
    "kv" => Kv(kv::KvConfig => kv::KvFilter),
    "split" => Split(split::SplitConfig => split::SplitFilter),
    "fingerprint" => Fingerprint(fingerprint::FingerprintConfig => fingerprint::FingerprintFilter),
    "uuid" => Uuid(uuid::UuidConfig => uuid::UuidFilter),
}

/// What a filter type gives the chain: implemented by each compiled filter and named in the
/// `filter_types!` table.
pub trait FilterType: Sized {
    /// Its settings: the filter's table in the pipeline file, less `type`, `id` and `if`.
    type Config;

    /// Does the filter's work on one event. Called for every event that reaches the stage, so
    /// it allocates only what the event needs.
    fn apply(&self, event: &mut Event) -> Outcome;

    /// Like [`apply`](Self::apply), for a filter that may turn one event into several (`split`):
    /// it pushes them to `emitted` and returns [`Outcome::Replaced`]. Others need not care.
    fn apply_emitting(&self, event: &mut Event, emitted: &mut Vec<Event>) -> Outcome {
        let _ = emitted;
        self.apply(event)
    }

    /// The fields the filter may write when it keeps or skips an event (not when it fails:
    /// failure tags), or `None` when that is not known (the default): the chain answers a
    /// condition part again after a stage that may have written a field it reads
    /// ([`crate::condition::SharedTests`]). Writing `[a]` covers everything inside `[a]`.
    fn writes(&self) -> Option<Vec<FieldPath>> {
        None
    }

    /// Compiles the settings once, at load; problems point at the filter's table.
    fn build(config: &Self::Config, build: &FilterBuild<'_>) -> Result<Self, ConfigError>;
}

/// What building one filter is given: its place in the pipeline file and the build context.
#[derive(Debug, Clone, Copy)]
pub struct FilterBuild<'a> {
    pub component: &'a Component<FilterConfig>,
    pub context: &'a BuildContext,
}

impl FilterBuild<'_> {
    /// A settings error pointing at the filter's table: ``filter `id` (type): message``.
    pub fn invalid(&self, message: impl std::fmt::Display) -> ConfigError {
        self.context.error_at(
            Some(self.component.span.clone()),
            format!(
                "filter `{}` ({}): {message}",
                self.component.id, self.component.type_name
            ),
        )
    }
}

/// What a native filter did with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Processed (possibly unchanged); pass it on. The common options (`add_field`, ...) run.
    Keep,
    /// Kept untouched because there was nothing to do (the source field is missing): passed
    /// on, not an error, but the common options do not run (Logstash calls no
    /// `filter_matched` then).
    Skipped,
    /// Kept, but the filter failed on it (tagged, e.g. `_jsonparsefailure`): counted as an
    /// error; the common options do not run.
    Failed,
    /// Remove the event from the batch.
    Drop,
    /// The event was replaced by the events the filter emitted (`split`), which go on from
    /// the next stage with the common options applied to each; it goes no further itself.
    Replaced,
}

/// One filter with its condition and counters.
#[derive(Debug)]
struct Stage {
    /// The `if`, as parts of the chain's [`SharedTests`].
    condition: Option<SharedCondition>,
    /// Which condition answers this stage may have changed when it ran.
    forget: Forget,
    filter: Filter,
    /// `add_field`, `add_tag`, ...; `None` (one branch per event) when the filter has none.
    common: Option<Box<common::Common>>,
    metrics: Arc<ComponentMetrics>,
}

/// The compiled chain, shared by every worker.
#[derive(Debug, Default)]
pub struct FilterChain {
    stages: Vec<Stage>,
    /// The distinct parts of the stages' conditions.
    tests: SharedTests,
}

impl FilterChain {
    /// Compiles the configured filters, reporting every problem.
    pub fn build(
        components: &[Component<FilterConfig>],
        context: &BuildContext,
    ) -> Result<Self, Vec<ConfigError>> {
        let mut stages = Vec::with_capacity(components.len());
        let mut tests = SharedTests::default();
        let mut errors = Vec::new();
        for component in components {
            let condition = context.compile_condition(component.condition.as_ref());
            let build = FilterBuild { component, context };
            let filter = Filter::build(&component.config, &build);
            let common = common::Common::new(&component.common).map_err(|e| build.invalid(e));
            match (condition, filter, common) {
                (Ok(condition), Ok(filter), Ok(common)) => stages.push(Stage {
                    condition: condition.map(|condition| tests.add(&condition)),
                    // Worked out below, once every condition part is known.
                    forget: Forget::All,
                    filter,
                    common,
                    metrics: context.metrics.component(
                        "filter",
                        &component.id,
                        &component.type_name,
                    ),
                }),
                (condition, filter, common) => {
                    errors.extend(condition.err());
                    errors.extend(filter.err().into_iter().flat_map(|e| e.0));
                    errors.extend(common.err());
                }
            }
        }
        for stage in &mut stages {
            // `add_field` & co. may write anything.
            let writes = stage
                .common
                .is_none()
                .then(|| stage.filter.writes())
                .flatten();
            stage.forget = tests.forget(writes.as_deref());
        }
        if errors.is_empty() {
            Ok(Self { stages, tests })
        } else {
            Err(errors)
        }
    }

    /// Number of stages.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Per-worker state (script scopes); one per filter worker thread.
    pub fn worker(self: &Arc<Self>) -> ChainWorker {
        let scripts = self
            .stages
            .iter()
            .map(|stage| match &stage.filter {
                Filter::Script(script) => Some(script.worker()),
                _ => None,
            })
            .collect();
        ChainWorker {
            chain: self.clone(),
            scripts,
            tallies: Vec::new(),
            pending: Vec::new(),
            kept: Vec::new(),
            emitted: Vec::new(),
            memo: self.tests.memo(),
        }
    }
}

/// One worker's view of the chain.
#[derive(Debug)]
pub struct ChainWorker {
    chain: Arc<FilterChain>,
    /// The script worker of each stage that is a script (same index as the stage).
    scripts: Vec<Option<script::ScriptWorker>>,
    /// Per-stage counts of the batch being processed, added to the shared counters once.
    tallies: Vec<Tally>,
    /// Reused buffers: events still to run (with the stage they start at), events kept,
    /// and events a script just emitted.
    pending: Vec<(Event, usize)>,
    kept: Vec<Event>,
    emitted: Vec<Event>,
    /// The condition answers known for the event running through the chain.
    memo: Memo,
}

/// Counts of one stage over one batch, added to the shared counters once.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    events_in: u64,
    events_out: u64,
    dropped: u64,
    errors: u64,
}

impl ChainWorker {
    /// Runs every filter over `events` in place; filters may drop or add events.
    ///
    /// Each event goes through the whole chain before the next one starts (event-major):
    /// the event's map stays in cache across the stages, where a stage-major loop would walk
    /// the whole batch (megabytes of small allocations) once per stage. Events a script emits
    /// continue from the stage after that script, and come out right after their parent.
    ///
    /// A line event (file, stdin) gets its map built in place as it enters the chain: the
    /// first condition or filter reads a field anyway, and building it once, owned, costs
    /// less than a cached copy that the first write then takes over. With no filters nothing
    /// is built.
    pub fn process(&mut self, events: &mut Vec<Event>) {
        let chain = self.chain.clone();
        let stages = &chain.stages;
        if stages.is_empty() {
            return;
        }
        self.tallies.clear();
        self.tallies.resize(stages.len(), Tally::default());
        self.kept.clear();
        self.kept.reserve(events.len());
        // Events enter as their input made them: a line event's map is built by the first
        // filter that needs it (the json filter parses the line without building it, and
        // conditions on the input's constant fields answer without it).
        for event in events.drain(..) {
            self.pending.push((event, 0));
            while let Some((mut event, first_stage)) = self.pending.pop() {
                if self.run_from(stages, first_stage, &mut event) {
                    self.kept.push(event);
                }
            }
        }
        std::mem::swap(events, &mut self.kept);
        for (stage, tally) in stages.iter().zip(&self.tallies) {
            let metrics = &stage.metrics;
            if tally.events_in > 0 {
                metrics
                    .events_in
                    .fetch_add(tally.events_in, Ordering::Relaxed);
                metrics
                    .events_out
                    .fetch_add(tally.events_out, Ordering::Relaxed);
            }
            if tally.dropped > 0 {
                metrics
                    .events_dropped
                    .fetch_add(tally.dropped, Ordering::Relaxed);
            }
            if tally.errors > 0 {
                metrics.errors.fetch_add(tally.errors, Ordering::Relaxed);
            }
        }
    }

    /// Runs `event` through the stages from `first_stage` on; false when it was dropped.
    /// Events emitted by a script are queued to start at the following stage.
    fn run_from(&mut self, stages: &[Stage], first_stage: usize, event: &mut Event) -> bool {
        self.memo.reset();
        for (index, stage) in stages.iter().enumerate().skip(first_stage) {
            if let Some(condition) = &stage.condition {
                if !self.chain.tests.matches(condition, event, &mut self.memo) {
                    continue;
                }
            }
            let tally = &mut self.tallies[index];
            tally.events_in += 1;
            let outcome = match (&stage.filter, self.scripts[index].as_mut()) {
                (Filter::Script(_), Some(worker)) => {
                    let verdict = worker.apply(event, &mut self.emitted);
                    tally.events_out += self.emitted.len() as u64;
                    // Pushed in reverse so they pop (run) in the order they were emitted.
                    while let Some(extra) = self.emitted.pop() {
                        self.pending.push((extra, index + 1));
                    }
                    match verdict {
                        script::Verdict::Keep => Outcome::Keep,
                        script::Verdict::Drop => Outcome::Drop,
                    }
                }
                (filter, _) => filter.apply(event, &mut self.emitted),
            };
            match outcome {
                Outcome::Keep => {
                    tally.events_out += 1;
                    if let Some(common) = &stage.common {
                        common.apply(event);
                    }
                    self.memo.forget(&stage.forget);
                }
                Outcome::Skipped => {
                    tally.events_out += 1;
                    self.memo.forget(&stage.forget);
                }
                Outcome::Failed => {
                    tally.events_out += 1;
                    tally.errors += 1;
                    // Failure tags: written where no declaration says.
                    self.memo.reset();
                }
                Outcome::Drop => {
                    tally.dropped += 1;
                    return false;
                }
                Outcome::Replaced => {
                    // Split into nothing (an empty array): the event is gone, counted as dropped.
                    if self.emitted.is_empty() {
                        tally.dropped += 1;
                    }
                    tally.events_out += self.emitted.len() as u64;
                    // Pushed in reverse so they pop (run) in the order they were emitted.
                    while let Some(mut extra) = self.emitted.pop() {
                        if let Some(common) = &stage.common {
                            common.apply(&mut extra);
                        }
                        self.pending.push((extra, index + 1));
                    }
                    return false;
                }
            }
        }
        true
    }
}

/// A path written in this crate's source (a default setting). Such paths are valid; should one
/// ever not parse, it is used as one top-level name rather than failing at run time.
pub(crate) fn known_path(text: &'static str) -> crate::event::FieldPath {
    crate::event::FieldPath::parse(text)
        .unwrap_or_else(|_| crate::event::FieldPath::top_level(text))
}
