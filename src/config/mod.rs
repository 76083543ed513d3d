//! Loading a pipeline file: TOML in, a validated [`PipelineConfig`] out, or every problem
//! reported as `FILE:LINE:COL: message`.
//!
//! # Front ends
//!
//! The loader is one front end over a model that does not depend on it, so that a second
//! syntax (a Logstash `.conf` loader is the planned one) can sit beside it and produce the
//! same pipeline. One file per job:
//!
//! - `model.rs`: what every front end produces. A [`PipelineConfig`] holds [`Component`]s
//!   (id, `type`, `if`, and the closed settings struct of that type), the
//!   [`PipelineSettings`] and the [`ApiSettings`]. The kinds of component
//!   ([`ComponentKind`]) are defined by `inputs`, `filters` and `outputs`; this module knows
//!   them only as type parameters, which keeps it below the components.
//! - `source.rs` and `error.rs`: the file's text, as written and after `${VAR}`
//!   interpolation, and problems reported at their `FILE:LINE:COL` in the text as written.
//!   A front end reports spans of the text it parsed; [`Source`] maps them back.
//! - `toml.rs`: the TOML front end ([`load`], [`parse`] and their `_partial` forms, which
//!   keep what parsed for `sluice validate`).
//! - `build.rs`: [`BuildContext`], what components are given while they are built from the
//!   model, whichever front end produced it.
//!
//! A component's settings are deserialized from a `toml_edit::Value`
//! ([`ComponentKind::from_type`]), because that value keeps the span of every key and value.
//! A second front end turns its own syntax into such values, with spans into its [`Source`],
//! and its users get the same closed structs and the same messages.
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

mod api;
mod build;
mod error;
mod interpolate;
mod interval;
pub mod logstash;
mod messages;
mod model;
mod origins;
mod queue;
mod registry;
pub mod ruby;
mod source;
mod toml;

pub use api::{ApiAddress, ApiSettings};
pub use build::BuildContext;
pub use error::{ConfigError, ConfigErrors};
pub use interpolate::{interpolate, InterpolationError};
pub use interval::Interval;
pub use messages::{humanize, list};
pub use model::{
    settings, CommonOptions, Component, ComponentKind, ConditionText, Partial, PipelineConfig,
    PipelineSettings,
};
pub use origins::line_column;
pub use queue::{ByteSize, DiskQueueConfig, Fsync, QueueConfig};
pub(crate) use registry::{component_types, Inline};
pub use source::Source;
pub use toml::{load, load_partial, load_partial_as, parse, parse_partial, Format};

#[cfg(test)]
mod tests;
