//! The TOML front end: a pipeline file in TOML into the component model.
//!
//! Inputs and outputs are named tables with a `type`, filters an ordered array of tables.
//! Each component type has a closed config struct with `deny_unknown_fields`. serde's
//! internally tagged enums would buffer the table and lose positions, so the loader reads the
//! document with `toml_edit` (which keeps the byte span of every key and value), looks at
//! `type` itself, and deserializes the table into the struct of that type: a typo then points
//! at the offending key, with the list of keys that type accepts. The keys every component
//! shares (`type`, `id`, `if`) are taken out here, once, instead of in every struct.
//!
//! Loading goes on after the first problem, so that one run reports them all: a component
//! whose table has problems is left out and its problems kept ([`Partial`]), and a table that
//! serde refuses is tried again without the refused key until it deserializes.

use super::api::ApiSettings;
use super::error::{ConfigError, ConfigErrors};
use super::interpolate::{interpolate, Interpolated, InterpolationError};
use super::messages::{humanize, list};
use super::model::{
    default_data_dir, settings, CommonOptions, Component, ComponentKind, ConditionText, Partial,
    PipelineConfig, PipelineSettings,
};
use super::source::Source;
use serde::de::DeserializeOwned;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toml_edit::{ImDocument, Item, Value};

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

/// Like [`load`], but keeps what parsed; fails only when nothing can be parsed (the file
/// cannot be read, a variable is missing, the TOML is malformed).
pub fn load_partial<I, F, O>(path: &Path) -> Result<Partial<I, F, O>, ConfigErrors>
where
    I: ComponentKind,
    F: ComponentKind,
    O: ComponentKind,
{
    load_partial_as(path, Format::Auto)
}

/// Which front end reads a pipeline file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Logstash for a `.conf`/`.cfg` file, a directory or a glob; TOML otherwise.
    #[default]
    Auto,
    Toml,
    Logstash,
}

/// [`load_partial`] with the front end chosen by `format`.
pub fn load_partial_as<I, F, O>(
    path: &Path,
    format: Format,
) -> Result<Partial<I, F, O>, ConfigErrors>
where
    I: ComponentKind,
    F: ComponentKind,
    O: ComponentKind,
{
    let logstash = match format {
        Format::Auto => super::logstash::is_logstash(path),
        Format::Toml => false,
        Format::Logstash => true,
    };
    if logstash {
        let (toml, origins, mut problems) = super::logstash::load_source(path)?;
        let parsed =
            parse_partial_with_origins(path, toml, |name| std::env::var(name).ok(), Some(origins));
        // A missing variable stops the TOML loader; what did not translate is reported too.
        let mut partial = match parsed {
            Ok(partial) => partial,
            Err(ConfigErrors(mut errors)) => {
                errors.append(&mut problems);
                errors.sort_by_key(|e| (e.file.clone(), e.line, e.column));
                return Err(ConfigErrors(errors));
            }
        };
        // "The pipeline has no inputs" says nothing new when its inputs were refused.
        for kind in ["input", "output"] {
            if problems
                .iter()
                .any(|p| p.message.starts_with(&format!("{kind} plugin")))
            {
                let empty = format!("the pipeline has no {kind}s");
                partial.errors.retain(|e| !e.message.starts_with(&empty));
            }
        }
        partial.errors.append(&mut problems);
        partial
            .errors
            .sort_by_key(|e| (e.file.clone(), e.line, e.column));
        partial.errors.dedup();
        return Ok(partial);
    }
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
    parse_partial_with_origins(path, original, lookup, None)
}

/// [`parse_partial`] of a document translated from Logstash `.conf` files (`origins`).
pub(super) fn parse_partial_with_origins<I, F, O>(
    path: &Path,
    original: String,
    lookup: impl Fn(&str) -> Option<String>,
    origins: Option<Arc<super::logstash::Origins>>,
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
                interpolated: Interpolated::verbatim(original.clone()),
                original,
                origins: origins.clone(),
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
        origins,
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
        api: ApiSettings::default(),
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
                if let Some(api) = loader.value::<ApiSettings>(item, "[api]") {
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
        let common = match K::KIND {
            "filter" => self.common_options::<K>(
                &mut table,
                &CommonOptions::KEYS,
                (&id, &type_name),
                span.as_ref(),
            ),
            "input" => self.common_options::<K>(
                &mut table,
                &CommonOptions::INPUT_KEYS,
                (&id, &type_name),
                span.as_ref(),
            ),
            _ => CommonOptions::default(),
        };
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
                common,
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

    /// Takes the options every filter (or input) shares (`add_field`, `add_tag`, ...: `keys`)
    /// out of its table; their problems are reported like the table's.
    fn common_options<K: ComponentKind>(
        &mut self,
        table: &mut toml_edit::InlineTable,
        keys: &[&str],
        (id, type_name): (&str, &str),
        span: Option<&Range<usize>>,
    ) -> CommonOptions {
        let mut common = toml_edit::InlineTable::new();
        for &key in keys {
            if let Some((key, value)) = table.remove_entry(key) {
                common.insert_formatted(&key, value);
            }
        }
        if common.is_empty() {
            return CommonOptions::default();
        }
        match deserialize_every_problem(Value::InlineTable(common), settings::<CommonOptions>) {
            Ok(common) => common,
            Err(errors) => {
                for e in errors {
                    self.errors.push(self.source.error_at(
                        e.span().or(span.cloned()),
                        format!(
                            "{} `{id}` ({type_name}): {}",
                            K::KIND,
                            humanize(e.message())
                        ),
                    ));
                }
                CommonOptions::default()
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
