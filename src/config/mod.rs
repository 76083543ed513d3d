//! Loading a pipeline file: TOML in, a validated [`PipelineConfig`] out, or every problem
//! reported as `FILE:LINE:COL: message`.
//!
//! Inputs and outputs are named tables with a `type`, filters an ordered array of tables.
//! Each component type has a closed config struct with `deny_unknown_fields`. serde's
//! internally tagged enums would buffer the table and lose positions, so the loader reads the
//! document with `toml_edit` (which keeps the byte span of every key and value), looks at
//! `type` itself, and deserializes the table into the struct of that type: a typo then points
//! at the offending key, with the list of keys that type accepts. The keys every component
//! shares (`type`, `id`, `if`) are taken out here, once, instead of in every struct.
//!
//! # Relative paths
//!
//! A pipeline file names two kinds of files, and a relative path means something different
//! for each:
//!
//! - Companion files, part of the configuration itself and read when the pipeline is built:
//!   an Elasticsearch index `template`, TLS material (`tls.*`, `tls_*`), a script's `path` and
//!   `imports_from`. They start at the pipeline file's folder ([`BuildContext::companion_file`]),
//!   as `sluice test` files name their pipeline: a pipeline copied to `/etc/sluice/` with its
//!   template beside it works whatever the service's working directory is (systemd's is the
//!   state directory), and `sluice validate` checks a copy in another folder as it will run.
//! - Data, read and written while the pipeline runs: `data_dir`, file input `paths`, file
//!   output `path`, `dead_letter_path`. They start at the working directory, as every path
//!   does in Logstash and in Vector: a service gets its writable state directory as its
//!   working directory (the pipeline's folder, `/etc/sluice`, is read-only under systemd's
//!   `ProtectSystem=strict`), and `sluice run -c pipelines/quickstart.toml` from a checkout
//!   reads and writes `pipelines/sample/`, `out/` and `data/` of that checkout.

mod interpolate;
mod interval;
mod messages;
mod registry;

pub use interpolate::{interpolate, InterpolationError};
pub use interval::Interval;
pub use messages::humanize;
pub(crate) use registry::{component_types, Inline};

use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::Deserialize;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toml_edit::{ImDocument, Item, Value};

/// One problem in a configuration file, with its position in the file as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem has no position (the file cannot be read).
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.file.display(), self.message);
        }
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// Every problem found in one file (loading goes on after the first to report them all).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// The text of a configuration file, kept to turn byte spans into positions.
#[derive(Debug)]
pub struct Source {
    path: PathBuf,
    original: String,
    interpolated: interpolate::Interpolated,
}

impl Source {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory the file's companion files (templates, scripts, TLS material) are
    /// found in when their paths are relative: the pipeline file's own folder.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// `path` as written in the file, relative ones taken from [`Source::dir`].
    pub fn companion(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir().join(path)
        }
    }

    fn position(&self, original_offset: usize) -> (usize, usize) {
        line_column(&self.original, original_offset)
    }

    fn error_at_original(&self, offset: usize, message: impl Into<String>) -> ConfigError {
        let (line, column) = self.position(offset);
        ConfigError {
            file: self.path.clone(),
            line,
            column,
            message: message.into(),
        }
    }

    /// An error at a span of the interpolated text (what `toml_edit` reports).
    pub fn error_at(&self, span: Option<Range<usize>>, message: impl Into<String>) -> ConfigError {
        let offset = span.map_or(0, |s| self.interpolated.original_offset(s.start));
        self.error_at_original(offset, message)
    }

    /// An error `inner` bytes into a string value whose span (quotes included) is `span`.
    pub fn error_in_string(
        &self,
        span: &Range<usize>,
        inner: usize,
        message: impl Into<String>,
    ) -> ConfigError {
        let text = &self.interpolated.text;
        let quote_len = match text.get(span.start..span.start + 3) {
            // TOML drops a newline right after the opening triple quote from the value.
            Some("\"\"\"") | Some("'''") => {
                let after = text.get(span.start + 3..).unwrap_or_default();
                if after.starts_with("\r\n") {
                    5
                } else if after.starts_with('\n') {
                    4
                } else {
                    3
                }
            }
            _ => 1,
        };
        let start = self.interpolated.original_offset(span.start) + quote_len + inner;
        self.error_at_original(start, message)
    }
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

/// A condition as written, with where it was written.
#[derive(Debug, Clone)]
pub struct ConditionText {
    pub text: String,
    pub span: Range<usize>,
}

/// One configured component: its id, its shared keys, and its type's settings.
#[derive(Debug, Clone)]
pub struct Component<T> {
    /// The table name for inputs/outputs; `id` or `<type>#<n>` for filters.
    pub id: String,
    pub type_name: String,
    /// Span of the component's table in the interpolated text.
    pub span: Range<usize>,
    /// The `if` condition, for filters and outputs.
    pub condition: Option<ConditionText>,
    pub config: T,
}

/// A closed set of component types (inputs, filters or outputs), dispatched on `type`.
pub trait ComponentKind: Sized {
    /// "input", "filter" or "output", for messages.
    const KIND: &'static str;
    /// Every accepted `type`.
    const TYPES: &'static [&'static str];
    /// Whether `if` is accepted.
    const CONDITIONAL: bool;
    /// Deserializes the table (without `type`, `id`, `if`) as `type_name`'s settings.
    fn from_type(type_name: &str, table: Value) -> Result<Self, toml_edit::de::Error>;
}

/// Deserializes a component table into its type's settings struct.
pub fn settings<T: DeserializeOwned>(table: Value) -> Result<T, toml_edit::de::Error> {
    T::deserialize(table.into_deserializer())
}

/// Deserializes `value` with `deserialize`, reporting every key it refuses, not only the
/// first: serde stops at the first unknown or invalid key, so that key (the innermost one
/// holding the error's position, in nested tables too) is taken out and the rest tried
/// again, until the table deserializes or an error no longer points at a key. A required key
/// is not reported missing when a key taken out was it or a likely typo of it (`paht` for
/// `path`), and an error that points at no key (a rule over several keys) is reported only
/// when nothing was taken out, as it may be caused by that.
fn deserialize_every_problem<T>(
    mut value: Value,
    deserialize: impl Fn(Value) -> Result<T, toml_edit::de::Error>,
) -> Result<T, Vec<toml_edit::de::Error>> {
    let mut errors = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    loop {
        match deserialize(value.clone()) {
            Ok(parsed) if errors.is_empty() => return Ok(parsed),
            Ok(_) => return Err(errors),
            Err(error) => {
                let key = error
                    .span()
                    .and_then(|span| remove_key_at(&mut value, &span));
                match key {
                    Some(key) => {
                        removed.push(key);
                        errors.push(error);
                    }
                    None => {
                        let caused_by_removal = match missing_field(error.message()) {
                            Some(missing) => removed.iter().any(|key| close(key, missing)),
                            None => !removed.is_empty(),
                        };
                        if !caused_by_removal {
                            errors.push(error);
                        }
                        return Err(errors);
                    }
                }
            }
        }
    }
}

/// The key a serde "missing field `x`" message names.
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
}

/// Whether `written` is `expected` or at most two single-character edits away from it.
fn close(written: &str, expected: &str) -> bool {
    let written: Vec<char> = written.chars().collect();
    let expected: Vec<char> = expected.chars().collect();
    let mut previous: Vec<usize> = (0..=expected.len()).collect();
    for (i, a) in written.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, b) in expected.iter().enumerate() {
            let substitution = previous[j] + usize::from(a != b);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[expected.len()] <= 2
}

/// Removes the innermost key of `value`'s tables whose key and value hold `span`; returns
/// its name.
fn remove_key_at(value: &mut Value, span: &Range<usize>) -> Option<String> {
    let Value::InlineTable(table) = value else {
        return None;
    };
    let mut found = None;
    for (name, item) in table.iter() {
        let start = table
            .key(name)
            .and_then(|k| k.span())
            .or_else(|| item.span())
            .map(|s| s.start);
        let end = item.span().map(|s| s.end);
        if let (Some(start), Some(end)) = (start, end) {
            if start <= span.start && span.end <= end {
                found = Some(name.to_string());
                break;
            }
        }
    }
    let name = found?;
    if let Some(inner) = table.get_mut(&name) {
        if let Some(key) = remove_key_at(inner, span) {
            return Some(key);
        }
    }
    table.remove(&name);
    Some(name)
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

/// Runtime knobs of the pipeline itself (`[pipeline]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineSettings {
    /// Most events an input puts in one batch.
    pub batch_size: usize,
    /// Most bytes of raw input in one batch.
    pub batch_bytes: usize,
    /// Filter workers; 0 means one per core.
    pub workers: usize,
    /// Batches each channel between stages holds before the sender waits.
    pub queue_batches: usize,
    /// How long the outputs get to deliver what is in flight once shutdown starts (or, with
    /// `--once`, once the inputs have read everything) before the run gives up on it and
    /// exits with an error; what was not delivered is read again on the next start.
    pub shutdown_timeout: Interval,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            batch_size: 1024,
            batch_bytes: 1024 * 1024,
            workers: 0,
            queue_batches: 4,
            shutdown_timeout: Interval(std::time::Duration::from_secs(30)),
        }
    }
}

impl PipelineSettings {
    pub fn worker_count(&self) -> usize {
        if self.workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            self.workers
        }
    }
}

/// A loaded, validated pipeline description.
#[derive(Debug)]
pub struct PipelineConfig<I, F, O> {
    pub source: Arc<Source>,
    pub data_dir: PathBuf,
    pub settings: PipelineSettings,
    pub inputs: Vec<Component<I>>,
    pub filters: Vec<Component<F>>,
    pub outputs: Vec<Component<O>>,
    /// The monitoring API (`[api]`).
    pub api: crate::api::ApiSettings,
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "data_dir", "pipeline", "api", "inputs", "filters", "outputs",
];

/// Reads, interpolates and parses `path`.
pub fn load<I, F, O>(path: &Path) -> Result<PipelineConfig<I, F, O>, ConfigErrors>
where
    I: ComponentKind,
    F: ComponentKind,
    O: ComponentKind,
{
    load_partial(path).and_then(Partial::complete)
}

/// A pipeline file as far as it parsed: every component that parsed, and the problems of
/// the others. `sluice validate` builds what parsed, so the checks that need a built
/// component (a URL's scheme, a script's functions) run in the same pass as the parsing.
#[derive(Debug)]
pub struct Partial<I, F, O> {
    pub config: PipelineConfig<I, F, O>,
    pub errors: Vec<ConfigError>,
}

impl<I, F, O> Partial<I, F, O> {
    /// The configuration if nothing was wrong.
    pub fn complete(self) -> Result<PipelineConfig<I, F, O>, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(self.config)
        } else {
            Err(ConfigErrors(self.errors))
        }
    }
}

/// Like [`load`], but keeps what parsed; fails only when nothing can be parsed (the file
/// cannot be read, a variable is missing, the TOML is malformed).
pub fn load_partial<I, F, O>(path: &Path) -> Result<Partial<I, F, O>, ConfigErrors>
where
    I: ComponentKind,
    F: ComponentKind,
    O: ComponentKind,
{
    let original = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("cannot read configuration: {e}"),
        }])
    })?;
    parse_partial(path, original, |name| std::env::var(name).ok())
}

/// Parses configuration text; `lookup` resolves `${VAR}`.
pub fn parse<I, F, O>(
    path: &Path,
    original: String,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<PipelineConfig<I, F, O>, ConfigErrors>
where
    I: ComponentKind,
    F: ComponentKind,
    O: ComponentKind,
{
    parse_partial(path, original, lookup).and_then(Partial::complete)
}

/// Like [`parse`], but keeps what parsed (see [`Partial`]).
pub fn parse_partial<I, F, O>(
    path: &Path,
    original: String,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Partial<I, F, O>, ConfigErrors>
where
    I: ComponentKind,
    F: ComponentKind,
    O: ComponentKind,
{
    let interpolated = match interpolate(&original, lookup) {
        Ok(interpolated) => interpolated,
        Err(errors) => {
            let source = Source {
                path: path.to_path_buf(),
                interpolated: interpolate::Interpolated::verbatim(original.clone()),
                original,
            };
            return Err(ConfigErrors(
                errors
                    .into_iter()
                    .map(|e| match e {
                        InterpolationError::Missing(m) => source.error_at_original(
                            m.offset,
                            format!(
                                "environment variable `{}` is not set (set it, or give a default: `${{{}:-value}}`)",
                                m.name, m.name
                            ),
                        ),
                        InterpolationError::Malformed(m) => {
                            source.error_at_original(m.offset, m.reason)
                        }
                    })
                    .collect(),
            ));
        }
    };
    let source = Arc::new(Source {
        path: path.to_path_buf(),
        original,
        interpolated,
    });
    let document = match ImDocument::parse(source.interpolated.text.clone()) {
        Ok(document) => document,
        Err(e) => {
            return Err(ConfigErrors(vec![source.error_at(
                e.span(),
                format!("invalid TOML: {}", humanize(e.message())),
            )]))
        }
    };
    let mut loader = Loader {
        source: source.clone(),
        errors: Vec::new(),
    };
    let mut config = PipelineConfig {
        source: source.clone(),
        data_dir: default_data_dir(),
        settings: PipelineSettings::default(),
        inputs: Vec::new(),
        filters: Vec::new(),
        outputs: Vec::new(),
        api: crate::api::ApiSettings::default(),
    };
    for (key, item) in document.as_table().iter() {
        let key_span = document
            .as_table()
            .key(key)
            .and_then(|k| k.span())
            .or_else(|| item.span());
        match key {
            "data_dir" => {
                if let Some(dir) = loader.value::<PathBuf>(item, "data_dir") {
                    config.data_dir = dir;
                }
            }
            "pipeline" => {
                if let Some(settings) = loader.value::<PipelineSettings>(item, "[pipeline]") {
                    config.settings = settings;
                }
            }
            "inputs" => config.inputs = loader.named_components::<I>(item, key_span),
            "outputs" => config.outputs = loader.named_components::<O>(item, key_span),
            "filters" => config.filters = loader.filter_components::<F>(item, key_span),
            "api" => {
                if let Some(api) = loader.value::<crate::api::ApiSettings>(item, "[api]") {
                    config.api = api;
                }
            }
            other => loader.errors.push(source.error_at(
                key_span,
                format!(
                    "unknown key `{other}`, expected one of {}",
                    list(TOP_LEVEL_KEYS)
                ),
            )),
        }
    }
    if config.inputs.is_empty() && !has_key(&document, "inputs") {
        loader.errors.push(source.error_at(
            Some(0..0),
            "the pipeline has no inputs: add an `[inputs.<name>]` table",
        ));
    }
    if config.outputs.is_empty() && !has_key(&document, "outputs") {
        loader.errors.push(source.error_at(
            Some(0..0),
            "the pipeline has no outputs: add an `[outputs.<name>]` table",
        ));
    }
    loader.errors.sort_by_key(|e| (e.line, e.column));
    Ok(Partial {
        config,
        errors: loader.errors,
    })
}

fn has_key(document: &ImDocument<String>, key: &str) -> bool {
    document.as_table().contains_key(key)
}

/// Formats names as "`a`, `b`, `c`".
pub fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Loader {
    source: Arc<Source>,
    errors: Vec<ConfigError>,
}

impl Loader {
    fn value<T: DeserializeOwned>(&mut self, item: &Item, what: &str) -> Option<T> {
        let value = match item_to_value(item) {
            Some(value) => value,
            None => {
                self.errors.push(
                    self.source
                        .error_at(item.span(), format!("`{what}` has an invalid form")),
                );
                return None;
            }
        };
        match deserialize_every_problem(value, settings::<T>) {
            Ok(value) => Some(value),
            Err(errors) => {
                for e in errors {
                    self.errors.push(self.source.error_at(
                        e.span().or_else(|| item.span()),
                        format!("{what}: {}", humanize(e.message())),
                    ));
                }
                None
            }
        }
    }

    fn named_components<K: ComponentKind>(
        &mut self,
        item: &Item,
        key_span: Option<Range<usize>>,
    ) -> Vec<Component<K>> {
        let Some(table) = item.as_table_like() else {
            self.errors.push(self.source.error_at(
                key_span,
                format!("`{}s` must be a table of named {}s", K::KIND, K::KIND),
            ));
            return Vec::new();
        };
        let mut components = Vec::new();
        for (name, entry) in table.iter() {
            let span = table
                .get_key_value(name)
                .and_then(|(k, _)| k.span())
                .or_else(|| entry.span());
            if let Some(component) = self.component::<K>(name.to_string(), entry, span) {
                components.push(component);
            }
        }
        components
    }

    fn filter_components<K: ComponentKind>(
        &mut self,
        item: &Item,
        key_span: Option<Range<usize>>,
    ) -> Vec<Component<K>> {
        let tables: Vec<(Item, Option<Range<usize>>)> = match item {
            Item::ArrayOfTables(array) => array
                .iter()
                .map(|t| (Item::Table(t.clone()), t.span()))
                .collect(),
            Item::Value(Value::Array(array)) => array
                .iter()
                .map(|v| (Item::Value(v.clone()), v.span()))
                .collect(),
            _ => {
                self.errors.push(self.source.error_at(
                    key_span,
                    "`filters` must be an array of tables: write each filter as `[[filters]]`",
                ));
                return Vec::new();
            }
        };
        let mut components = Vec::new();
        for (index, (entry, span)) in tables.iter().enumerate() {
            let fallback_id = format!("filter#{}", index + 1);
            if let Some(component) = self.component::<K>(fallback_id, entry, span.clone()) {
                components.push(component);
            }
        }
        components
    }

    fn component<K: ComponentKind>(
        &mut self,
        mut id: String,
        entry: &Item,
        span: Option<Range<usize>>,
    ) -> Option<Component<K>> {
        let Some(Value::InlineTable(mut table)) = item_to_value(entry) else {
            self.errors.push(self.source.error_at(
                span,
                format!("{} `{id}` must be a table with a `type`", K::KIND),
            ));
            return None;
        };
        let table_span = span.clone().unwrap_or(0..0);
        let type_name = match table.remove("type") {
            Some(Value::String(s)) => s.value().clone(),
            Some(other) => {
                self.errors.push(self.source.error_at(
                    other.span(),
                    format!("`type` of {} `{id}` must be a string", K::KIND),
                ));
                return None;
            }
            None => {
                self.errors.push(self.source.error_at(
                    span,
                    format!(
                        "{} `{id}` has no `type`; expected one of {}",
                        K::KIND,
                        list(K::TYPES)
                    ),
                ));
                return None;
            }
        };
        if !K::TYPES.contains(&type_name.as_str()) {
            let type_span = entry
                .as_table_like()
                .and_then(|t| t.get("type"))
                .and_then(|v| v.span());
            self.errors.push(self.source.error_at(
                type_span.or(span),
                format!(
                    "unknown {} type `{type_name}`, expected one of {}",
                    K::KIND,
                    list(K::TYPES)
                ),
            ));
            return None;
        }
        if K::KIND == "filter" {
            if id.starts_with("filter#") {
                id = format!("{type_name}{}", id.trim_start_matches("filter"));
            }
            match table.remove("id") {
                Some(Value::String(s)) => id = s.value().clone(),
                Some(other) => {
                    self.errors.push(
                        self.source
                            .error_at(other.span(), "`id` must be a string".to_string()),
                    );
                }
                None => {}
            }
        }
        let condition = match table.remove("if") {
            Some(Value::String(s)) if K::CONDITIONAL => Some(ConditionText {
                text: s.value().clone(),
                span: s.span().unwrap_or(table_span.clone()),
            }),
            Some(other) if K::CONDITIONAL => {
                self.errors.push(
                    self.source
                        .error_at(other.span(), "`if` must be a string holding a condition"),
                );
                return None;
            }
            Some(other) => {
                self.errors.push(self.source.error_at(
                    other.span(),
                    format!("{}s do not take an `if` condition", K::KIND),
                ));
                return None;
            }
            None => None,
        };
        let parsed = deserialize_every_problem(Value::InlineTable(table), |table| {
            K::from_type(&type_name, table)
        });
        match parsed {
            Ok(config) => Some(Component {
                id,
                type_name,
                span: table_span,
                condition,
                config,
            }),
            Err(errors) => {
                for e in errors {
                    self.errors.push(self.source.error_at(
                        e.span().or(span.clone()),
                        format!(
                            "{} `{id}` ({type_name}): {}",
                            K::KIND,
                            humanize(e.message())
                        ),
                    ));
                }
                None
            }
        }
    }
}

/// Any TOML item as a value (tables become inline tables); spans are kept.
fn item_to_value(item: &Item) -> Option<Value> {
    match item {
        Item::Value(value) => Some(value.clone()),
        Item::Table(table) => Some(Value::InlineTable(table.clone().into_inline_table())),
        Item::ArrayOfTables(array) => Some(Value::Array(array.clone().into_array())),
        Item::None => None,
    }
}

/// What components need while they are built from their settings.
#[derive(Debug, Clone)]
pub struct BuildContext {
    pub source: Arc<Source>,
    pub data_dir: PathBuf,
    pub settings: PipelineSettings,
    pub metrics: Arc<crate::metrics::Registry>,
}

impl BuildContext {
    /// An error at a span of the configuration file.
    pub fn error_at(&self, span: Option<Range<usize>>, message: impl Into<String>) -> ConfigError {
        self.source.error_at(span, message)
    }

    /// Where a file that belongs to the configuration (an index template, a script, a
    /// script's `imports_from`, TLS material) is: a relative path starts at the pipeline
    /// file's folder. Paths of data sluice reads and writes while running (`data_dir`, file
    /// input `paths`, file output `path`, `dead_letter_path`) are not companions: they start
    /// at the working directory. The module docs say why.
    pub fn companion_file(&self, path: &Path) -> PathBuf {
        self.source.companion(path)
    }

    /// Compiles a component's `if`, pointing compile errors at the offending column.
    pub fn compile_condition(
        &self,
        condition: Option<&ConditionText>,
    ) -> Result<Option<crate::condition::Condition>, ConfigError> {
        let Some(condition) = condition else {
            return Ok(None);
        };
        crate::condition::Condition::compile(&condition.text)
            .map(Some)
            .map_err(|e| {
                self.source.error_in_string(
                    &condition.span,
                    e.offset,
                    format!("invalid condition: {}", e.message),
                )
            })
    }
}

#[cfg(test)]
mod tests;
