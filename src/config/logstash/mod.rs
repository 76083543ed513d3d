//! The Logstash front end: `.conf` pipelines run unchanged, and `sluice convert` shows the
//! native pipeline they are.
//!
//! # Why translate to TOML
//!
//! A `.conf` is translated into the native TOML document (the text `sluice convert` prints)
//! and loaded through the TOML loader. So a `.conf` pipeline *is* a native pipeline: the same
//! components, the same validation, the same speed, and what `convert` prints is exactly what
//! runs. Every line of the generated TOML remembers the `.conf` position it came from
//! ([`Origins`]), and the [`Source`](super::Source) reports every problem the loader or a component finds at
//! that FILE:LINE:COL, not in a document the user never saw.
//!
//! # Steps, one file each
//!
//! - `parser.rs`: the text into a tree, after Logstash's treetop grammar.
//! - `plugins.rs` (with `options.rs`): each plugin onto native components, option by option;
//!   what has no equivalent is a problem naming it and the nearest thing sluice has.
//! - `ruby { code => … }` becomes a Rhai `script` through [`super::ruby`], the translator of
//!   the Ruby subset.
//! - `kafka.rs`: the `kafka` input and output, whose connection options (Java client names)
//!   become the native `tls` and `sasl` tables.
//! - `emit.rs`: the TOML text, line by line with origins.
//!
//! # Conditionals
//!
//! `if / else if / else` blocks become components' `if`. Logstash decides a branch once,
//! before the first filter of the arm it takes, and the filters of that arm may change what
//! the conditions test (a `grok` turning `message` into an array, a `mutate` renaming the
//! tested field). So a filter branch records its decision first: one small `mutate` per arm,
//! under the arm's condition (the conditions leading to it, and the negation of the arms
//! before it), sets `[@metadata][_logstash_branch_N]`, and the arm's filters test that
//! marker. A branch of one arm holding one filter, every output branch (nothing runs
//! between the outputs' tests), and a branch whose filters provably write none of the fields
//! its conditions read (`writes.rs`: the seed's severity chain only writes `severity`) is
//! tested in place, with no marker.
//!
//! # Files
//!
//! Like `path.config`, the path may be one file, a directory (every file in it, in name
//! order) or a glob; the files are concatenated, so their sections add up.
//!
//! `${VAR}` and `${VAR:default}` in option values become sluice's `${VAR}` / `${VAR:-default}`
//! in the TOML, resolved when it loads.

mod emit;
mod idioms;
mod kafka;
mod options;
mod parser;
mod plugins;
mod writes;

use super::error::{ConfigError, ConfigErrors};
use super::origins::line_column;
pub use super::origins::{Origins, Pos, Problem};
use emit::{Document, Kind, Table};
use parser::{Node, SectionKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Whether `path` names a Logstash configuration: a `.conf`/`.cfg` file, a directory, or a
/// glob.
pub fn is_logstash(path: &Path) -> bool {
    let text = path.to_string_lossy();
    path.is_dir()
        || text.contains(['*', '?'])
        || matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("conf" | "cfg")
        )
}

/// A `.conf` translated: the TOML text, where its lines came from, and what could not be
/// translated.
#[derive(Debug)]
pub struct Translation {
    pub toml: String,
    pub origins: std::sync::Arc<Origins>,
    pub problems: Vec<ConfigError>,
    /// With [`Scripts::Files`]: the Rhai files the TOML's scripts name by `path`.
    pub scripts: Vec<ScriptFile>,
}

/// Where the translated `ruby` filters' Rhai goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scripts {
    /// Inline, as each script filter's `source`: one self-contained TOML document.
    Inline,
    /// In files beside the TOML (`scripts/<filter id>.rhai`), named by each script filter's
    /// `path`: what `sluice convert -o DIR` writes, for editing the Rhai as Rhai.
    Files,
}

/// A Rhai file of a translation: its path relative to the TOML's folder, and its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptFile {
    pub path: String,
    pub code: String,
}

/// Reads the files `path` names (file, directory or glob), in name order.
fn read_files(path: &Path) -> Result<Vec<(PathBuf, String)>, ConfigErrors> {
    let fail = |message: String| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message,
        }])
    };
    let mut paths: Vec<PathBuf> = if path.is_dir() {
        std::fs::read_dir(path)
            .map_err(|e| fail(format!("cannot read the directory: {e}")))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect()
    } else if path.exists() {
        vec![path.to_path_buf()]
    } else if path.to_string_lossy().contains(['*', '?']) {
        glob::glob(&path.to_string_lossy())
            .map_err(|e| fail(format!("invalid glob: {e}")))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect()
    } else {
        return Err(fail("cannot read configuration: no such file".into()));
    };
    paths.sort();
    if paths.is_empty() {
        return Err(fail("no configuration files found".into()));
    }
    paths
        .into_iter()
        .map(|p| {
            std::fs::read_to_string(&p)
                .map(|text| (p.clone(), text))
                .map_err(|e| {
                    ConfigErrors(vec![ConfigError {
                        file: p.clone(),
                        line: 0,
                        column: 0,
                        message: format!("cannot read configuration: {e}"),
                    }])
                })
        })
        .collect()
}

/// Reads and translates `path` (file, directory or glob). Fails only when a file cannot be
/// read or does not parse; untranslatable plugins and options are in `problems`.
pub fn translate(path: &Path) -> Result<Translation, ConfigErrors> {
    translate_files(read_files(path)?)
}

/// Like [`translate`], with the Rhai of `ruby` filters where `scripts` says.
pub fn translate_with(path: &Path, scripts: Scripts) -> Result<Translation, ConfigErrors> {
    translate_texts(read_files(path)?, scripts)
}

/// Translates `.conf` texts (`files`: path and text, concatenated in this order).
pub fn translate_files(files: Vec<(PathBuf, String)>) -> Result<Translation, ConfigErrors> {
    translate_texts(files, Scripts::Inline)
}

fn translate_texts(
    files: Vec<(PathBuf, String)>,
    scripts: Scripts,
) -> Result<Translation, ConfigErrors> {
    let mut sections = Vec::new();
    let mut syntax_errors = Vec::new();
    for (index, (path, text)) in files.iter().enumerate() {
        match parser::parse(index, text) {
            Ok(mut parsed) => sections.append(&mut parsed),
            Err(error) => {
                let (line, column) = line_column(text, error.pos.offset);
                syntax_errors.push(ConfigError {
                    file: path.clone(),
                    line,
                    column,
                    message: format!("invalid Logstash configuration: {}", error.message),
                });
            }
        }
    }
    if !syntax_errors.is_empty() {
        return Err(ConfigErrors(syntax_errors));
    }
    let mut builder = Builder::default();
    for section in &sections {
        let kind = match section.kind {
            SectionKind::Input => Kind::Input,
            SectionKind::Filter => Kind::Filter,
            SectionKind::Output => Kind::Output,
        };
        builder.walk(kind, &section.body, &[], &[]);
    }
    let script_files = match scripts {
        Scripts::Inline => Vec::new(),
        Scripts::Files => builder.move_scripts_to_files(),
    };
    let mut document = Document::default();
    document.comment(&format!(
        "Converted by `sluice convert` from {}.",
        files
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    document.blank();
    for table in &builder.tables {
        document.table(table);
    }
    let origins = Origins {
        files,
        lines: document.origins,
    };
    let problems = builder.problems.iter().map(|p| origins.error(p)).collect();
    Ok(Translation {
        toml: document.text,
        origins: std::sync::Arc::new(origins),
        problems,
        scripts: script_files,
    })
}

#[derive(Default)]
struct Builder {
    tables: Vec<Table>,
    problems: Vec<Problem>,
    /// How many components of each table name / filter type were named so far.
    counts: BTreeMap<String, usize>,
    /// Filter branches decided through a metadata marker so far.
    branches: usize,
}

/// Each arm's condition parts: the enclosing `conditions`, the negation of every earlier
/// arm, and the arm's own condition (none for `else`).
fn arm_conditions(branch: &parser::Branch, conditions: &[String]) -> Vec<Vec<String>> {
    let mut earlier: Vec<&str> = Vec::new();
    let mut arms = Vec::new();
    for arm in &branch.arms {
        let mut parts = conditions.to_vec();
        parts.extend(earlier.iter().map(|c| format!("not ({c})")));
        if let Some(condition) = &arm.condition {
            parts.push(format!("({})", condition.text));
            earlier.push(&condition.text);
        }
        arms.push(parts);
    }
    arms
}

/// Whether no filter of the branch's arms can write a field in `reads` (what its conditions
/// and the enclosing ones read).
fn untouched(branch: &parser::Branch, reads: &[writes::FieldSegments]) -> bool {
    branch.arms.iter().all(|arm| {
        writes::written(&arm.body).is_some_and(|written| {
            written
                .iter()
                .all(|w| reads.iter().all(|r| !writes::overlaps(w, r)))
        })
    })
}

/// Where a branch starts (its first condition).
fn branch_pos(branch: &parser::Branch) -> Pos {
    branch
        .arms
        .iter()
        .find_map(|a| a.condition.as_ref().map(|c| c.pos))
        .unwrap_or(Pos { file: 0, offset: 0 })
}

impl Builder {
    /// Adds the components of `nodes`, each under `conditions` (whose field references
    /// are `reads`).
    fn walk(
        &mut self,
        kind: Kind,
        nodes: &[Node],
        conditions: &[String],
        reads: &[writes::FieldSegments],
    ) {
        for node in nodes {
            match node {
                Node::Plugin(plugin) => {
                    let (tables, mut problems) = plugins::map(kind, plugin);
                    self.problems.append(&mut problems);
                    for table in tables {
                        self.add(table, conditions, plugin.pos);
                    }
                }

                Node::Branch(branch) => {
                    if kind == Kind::Input {
                        if let Some(condition) = &branch.arms[0].condition {
                            self.problems.push(Problem {
                                pos: condition.pos,
                                message: "conditionals are not allowed in the input section".into(),
                            });
                        }
                        continue;
                    }
                    if let Some(table) = idioms::severity(branch).filter(|_| kind == Kind::Filter) {
                        let pos = table.pos;
                        self.add(table, conditions, pos);
                        continue;
                    }
                    let arms = arm_conditions(branch, conditions);
                    let single_filter = branch.arms.len() == 1
                        && matches!(branch.arms[0].body.as_slice(), [Node::Plugin(_)]);
                    let mut branch_reads = reads.to_vec();
                    for condition in branch.arms.iter().filter_map(|a| a.condition.as_ref()) {
                        branch_reads
                            .extend(condition.fields.iter().filter_map(|f| writes::segments(f)));
                    }
                    if kind == Kind::Output || single_filter || untouched(branch, &branch_reads) {
                        // Nothing runs between the test and the component, or nothing that
                        // runs changes what the conditions read: test in place.
                        for (arm, parts) in branch.arms.iter().zip(arms) {
                            self.walk(kind, &arm.body, &parts, &branch_reads);
                        }
                        continue;
                    }
                    // Logstash decides the branch once, before its first filter; the filters
                    // of an arm may change what the conditions test. So the decision is
                    // recorded first, in the event's metadata, and the arms test that.
                    self.branches += 1;
                    let marker = format!("[@metadata][_logstash_branch_{}]", self.branches);
                    for (index, (arm, parts)) in branch.arms.iter().zip(&arms).enumerate() {
                        let pos = arm.condition.as_ref().map_or(branch_pos(branch), |c| c.pos);
                        let mut decide = Table::new(Kind::Filter, "mutate", pos);
                        decide.name = format!("branch_{}_{}", self.branches, index + 1);
                        let mut field = toml_edit::InlineTable::new();
                        field.insert(&marker, toml_edit::Value::from((index + 1).to_string()));
                        decide.set("add_field", toml_edit::Value::InlineTable(field), pos);
                        if !parts.is_empty() {
                            decide.condition = Some((parts.join(" and "), pos));
                        }
                        self.tables.push(decide);
                    }
                    let marker_reads = writes::segments(&marker).into_iter().collect::<Vec<_>>();
                    for (index, arm) in branch.arms.iter().enumerate() {
                        let taken = format!("{marker} == \"{}\"", index + 1);
                        self.walk(kind, &arm.body, &[taken], &marker_reads);
                    }
                }
            }
        }
    }

    /// Adds a component under `conditions` (and its own condition, if it has one).
    fn add(&mut self, mut table: Table, conditions: &[String], pos: Pos) {
        if !conditions.is_empty() {
            let mut parts: Vec<String> = conditions.to_vec();
            if let Some((own, _)) = &table.condition {
                parts.push(format!("({own})"));
            }
            table.condition = Some((parts.join(" and "), pos));
        }
        table.name = self.unique_name(&table);
        self.tables.push(table);
    }

    /// Replaces each script filter's inline `source` by a `path` to
    /// `scripts/<filter id>.rhai`, returning those files.
    fn move_scripts_to_files(&mut self) -> Vec<ScriptFile> {
        let mut files = Vec::new();
        for table in &mut self.tables {
            if table.type_name != "script" {
                continue;
            }
            let Some(index) = table.entries.iter().position(|(k, _, _)| k == "source") else {
                continue;
            };
            let (_, source, pos) = table.entries.remove(index);
            let path = format!("scripts/{}.rhai", table.name);
            files.push(ScriptFile {
                path: path.clone(),
                code: source.as_str().unwrap_or_default().to_string(),
            });
            table.entries.insert(
                index,
                ("path".to_string(), toml_edit::Value::from(path), pos),
            );
        }
        files
    }

    fn unique_name(&mut self, table: &Table) -> String {
        let base = if table.name.is_empty() {
            table.type_name.clone()
        } else {
            table
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        let count = self.counts.entry(base.clone()).or_insert(0);
        *count += 1;
        match (table.kind, *count) {
            (Kind::Filter, n) if table.name.is_empty() => format!("{base}_{n}"),
            (_, 1) => base,
            (_, n) => format!("{base}_{n}"),
        }
    }
}

/// A loaded `.conf`: the TOML loader's result, with problems of the translation added.
pub(super) fn load_source(
    path: &Path,
) -> Result<(String, std::sync::Arc<Origins>, Vec<ConfigError>), ConfigErrors> {
    let translation = translate(path)?;
    Ok((translation.toml, translation.origins, translation.problems))
}

#[cfg(test)]
mod tests;
