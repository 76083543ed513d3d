//! The compiled script shared by every worker, and its hot reload.
//!
//! Pipeline authors iterate on scripts while data flows, so a `path` script is picked up again
//! when its file changes, without restarting the pipeline. Checking must stay off the hot
//! path: a worker looks at the file at most once per interval, a `stat` first (modification
//! time and size) and a content hash only when those moved, and only one worker does it at a
//! time (`try_lock`; the others skip). A new AST is published by bumping a generation counter
//! each worker compares with one atomic load per event. A broken edit is reported once per
//! distinct content and the previous AST keeps running.

use super::engine::EngineSettings;
use super::handle::EventHandle;
use crate::config::{ConfigError, Source};
use crate::metrics::ComponentMetrics;
use crate::sync::lock;
use rhai::{Engine, ParseError, Scope, AST};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

/// Where a script's text comes from.
pub enum Origin {
    File(PathBuf),
    /// `source = '...'` of filter `filter`, at `span` of the pipeline file.
    Inline {
        filter: String,
        span: Range<usize>,
        source: Arc<Source>,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Inline { filter, .. } => write!(f, "filter `{filter}` (inline source)"),
        }
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// Why a version of a script was refused, at the script's own line and column.
#[derive(Debug, Clone)]
pub struct CompileError {
    message: String,
    line: usize,
    column: usize,
}

impl From<ParseError> for CompileError {
    fn from(error: ParseError) -> Self {
        Self {
            message: format!("script does not compile: {}", error.0),
            line: error.1.line().unwrap_or(1),
            column: error.1.position().unwrap_or(1),
        }
    }
}

impl Origin {
    /// A compile error at the script's own line and column.
    fn compile_error(&self, id: &str, text: &str, error: &CompileError) -> ConfigError {
        let message = format!("filter `{id}`: {}", error.message);
        let (line, column) = (error.line, error.column);
        match self {
            Origin::File(path) => ConfigError {
                file: path.clone(),
                line,
                column,
                message,
            },
            Origin::Inline { span, source, .. } => {
                source.error_in_string(span, byte_offset(text, line, column), message)
            }
        }
    }
}

/// The byte offset of 1-based `line`/`column` (in characters) in `text`.
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = &text[line_start.min(text.len())..];
    let within: usize = rest
        .chars()
        .take(column.saturating_sub(1))
        .map(char::len_utf8)
        .sum();
    line_start + within
}

/// One version of a script: its AST and the engine built for it.
///
/// The engine is built per version because it carries a getter and a setter for each field
/// name the script writes as a property (`event.payloadSize`): without them Rhai would find no
/// getter, format an error message, and only then fall back to the indexer, on every access
/// (see `engine::build`).
pub struct Compiled {
    pub engine: Engine,
    pub ast: AST,
}

impl fmt::Debug for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compiled").finish_non_exhaustive()
    }
}

/// Compiles `text` the way every version of a script is compiled: Rhai's compiler, then a
/// check that every function the script calls exists (Rhai looks calls up only when it runs
/// them, see [`super::calls`]).
fn compile(settings: &EngineSettings, text: &str) -> Result<Compiled, CompileError> {
    let engine = settings.build(text);
    let mut scope = Scope::new();
    // Strict variables: the compiler must know `event` exists.
    scope.push("event", EventHandle::default());
    let ast = engine.compile_with_scope(&scope, text)?;
    let calls = super::calls::calls(text);
    if !calls.is_empty() {
        let mut known: BTreeSet<String> = engine
            .gen_fn_signatures(true)
            .iter()
            .filter_map(|signature| signature.split('(').next())
            .map(|name| name.trim().to_string())
            .collect();
        known.extend(ast.iter_functions().map(|f| f.name.to_string()));
        let unknown: Vec<&super::calls::Call> = calls
            .iter()
            .filter(|call| !known.contains(&call.name))
            .collect();
        if let Some(first) = unknown.first() {
            let others: Vec<String> = unknown[1..]
                .iter()
                .map(|call| format!("`{}` at {}:{}", call.name, call.line, call.column))
                .collect();
            let also = if others.is_empty() {
                String::new()
            } else {
                format!(" (also unknown: {})", others.join(", "))
            };
            return Err(CompileError {
                message: format!(
                    "unknown function `{}`: neither the script nor sluice's script API defines it{also}; scripts/README.md lists the API",
                    first.name
                ),
                line: first.line,
                column: first.column,
            });
        }
    }
    Ok(Compiled { engine, ast })
}

/// What the reloader knows about the script file.
#[derive(Default)]
struct FileState {
    modified: Option<SystemTime>,
    len: u64,
    digest: [u8; 32],
    /// Whether the file being unreadable has been reported (reset once it reads again).
    unreadable_reported: bool,
}

struct Reloader {
    path: PathBuf,
    interval: Duration,
    state: Mutex<FileState>,
    last_error: Mutex<Option<ConfigError>>,
}

/// A compiled script and how to compile its next version.
pub struct Program {
    id: String,
    settings: EngineSettings,
    origin: Origin,
    current: RwLock<Arc<Compiled>>,
    generation: AtomicU64,
    reloader: Option<Reloader>,
    metrics: Arc<ComponentMetrics>,
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Program")
            .field("id", &self.id)
            .field("origin", &self.origin)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Program {
    /// Compiles the first version; `reload_interval` enables reloading (file scripts only).
    pub fn compile(
        id: &str,
        settings: EngineSettings,
        origin: Origin,
        text: &str,
        reload_interval: Option<Duration>,
        metrics: Arc<ComponentMetrics>,
    ) -> Result<Self, ConfigError> {
        let compiled = compile(&settings, text).map_err(|e| origin.compile_error(id, text, &e))?;
        let reloader = match (&origin, reload_interval) {
            (Origin::File(path), Some(interval)) => {
                let metadata = std::fs::metadata(path).ok();
                Some(Reloader {
                    path: path.clone(),
                    interval,
                    state: Mutex::new(FileState {
                        modified: metadata.as_ref().and_then(|m| m.modified().ok()),
                        len: metadata.as_ref().map_or(0, |m| m.len()),
                        digest: Sha256::digest(text.as_bytes()).into(),
                        unreadable_reported: false,
                    }),
                    last_error: Mutex::new(None),
                })
            }
            _ => None,
        };
        Ok(Self {
            id: id.to_string(),
            settings,
            origin,
            current: RwLock::new(Arc::new(compiled)),
            generation: AtomicU64::new(0),
            reloader,
            metrics,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    pub fn metrics(&self) -> &ComponentMetrics {
        &self.metrics
    }

    pub fn reload_interval(&self) -> Option<Duration> {
        self.reloader.as_ref().map(|r| r.interval)
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current version and its generation.
    pub fn current(&self) -> (Arc<Compiled>, u64) {
        let compiled = match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        (compiled, self.generation())
    }

    pub fn reload_error(&self) -> Option<ConfigError> {
        let reloader = self.reloader.as_ref()?;
        lock(&reloader.last_error).clone()
    }

    /// Recompiles the script if its file changed; another worker already checking wins.
    pub fn reload_if_changed(&self) {
        let Some(reloader) = &self.reloader else {
            return;
        };
        let Ok(mut state) = reloader.state.try_lock() else {
            return;
        };
        let metadata = match std::fs::metadata(&reloader.path) {
            Ok(metadata) => metadata,
            Err(e) => {
                if !state.unreadable_reported {
                    state.unreadable_reported = true;
                    tracing::warn!(filter = %self.id, "cannot check script {} for changes: {e}; the loaded version keeps running", reloader.path.display());
                }
                return;
            }
        };
        let modified = metadata.modified().ok();
        if modified == state.modified && metadata.len() == state.len {
            return;
        }
        let text = match std::fs::read_to_string(&reloader.path) {
            Ok(text) => text,
            Err(e) => {
                if !state.unreadable_reported {
                    state.unreadable_reported = true;
                    tracing::warn!(filter = %self.id, "cannot read script {}: {e}; the loaded version keeps running", reloader.path.display());
                }
                return;
            }
        };
        state.unreadable_reported = false;
        state.modified = modified;
        state.len = metadata.len();
        let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        if digest == state.digest {
            return;
        }
        state.digest = digest;
        match compile(&self.settings, &text) {
            Ok(compiled) => {
                match self.current.write() {
                    Ok(mut guard) => *guard = Arc::new(compiled),
                    Err(poisoned) => *poisoned.into_inner() = Arc::new(compiled),
                }
                self.generation.fetch_add(1, Ordering::AcqRel);
                *lock(&reloader.last_error) = None;
                tracing::info!(filter = %self.id, "reloaded script {}", reloader.path.display());
            }
            Err(e) => {
                let error = self.origin.compile_error(&self.id, &text, &e);
                ComponentMetrics::add(&self.metrics.errors, 1);
                tracing::warn!(filter = %self.id, "{error}; the previous version keeps running");
                *lock(&reloader.last_error) = Some(error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::byte_offset;

    #[test]
    fn byte_offsets_count_characters_within_a_line() {
        let text = "let a = 1;\nlet é = ;\n";
        assert_eq!(byte_offset(text, 1, 1), 0);
        assert_eq!(byte_offset(text, 2, 1), 11);
        // `=` after the two-byte `é`: column 7 is byte 7 of the line + 1.
        assert_eq!(
            &text[byte_offset(text, 2, 7)..byte_offset(text, 2, 7) + 1],
            "="
        );
    }
}
