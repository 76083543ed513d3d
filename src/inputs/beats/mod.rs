//! Receives events from Filebeat and other Beats over the Lumberjack v2 protocol, as a drop-in
//! for Logstash's beats input (`output.logstash.hosts` just points here).
//!
//! The point of the protocol is at-least-once delivery: a Beat keeps a window of events until
//! the server acknowledges it, and resends it otherwise. So this input acknowledges a window
//! only when every output has delivered every event of it (not, as Logstash does, when the
//! events are merely queued in memory), keeps waiting clients alive with keep-alive ACKs, and
//! closes a connection rather than acknowledging something that failed.
//!
//! - `frame.rs`: the wire format, decoded check-then-parse, with size caps and a bounded inflate.
//! - `connection.rs`: one client: windows to batches, receipts to in-order ACKs, keep-alives.
//! - `server.rs`: the listener, the connection cap, shutdown.
//! - `tls.rs`: optional TLS and client-certificate authentication (rustls).
//! - `events.rs`: payloads to events in Filebeat's shape plus what Logstash 8's beats input
//!   adds (`@metadata` moved to metadata, the client IP, the codec tag, `[event][original]`).
//! - `lazy.rs`, `scan.rs`: events kept as their raw payload until a field is read, for
//!   payloads that one pass finds in `serde_json`'s own form (what Filebeat sends).
//! - `config.rs`: settings and their defaults.

mod config;
mod connection;
mod decode;
mod events;
mod frame;
mod lazy;
mod metrics;
mod scan;
mod server;
#[cfg(test)]
mod tests;
mod tls;

pub use config::{BeatsInputConfig, BeatsInputSettings, EcsCompatibility, Enrichment};
pub use events::{
    CODEC_TAG, IP_ADDRESS_METADATA, JSON_PARSE_FAILURE_TAG, ORIGINAL_TIMESTAMP_FIELD,
    RAW_EVENT_TAG, TIMESTAMP_PARSE_FAILURE_TAG,
};

use super::{InputContext, InputError, InputType};
use crate::config::{BuildContext, ConfigError};
use config::Settings;
use connection::Shared;
use frame::Limits;
use std::net::SocketAddr;
use std::sync::Arc;

/// Why the Beats input stopped.
#[derive(Debug, thiserror::Error)]
pub enum BeatsInputError {
    #[error("cannot listen for Beats on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// The Beats input.
#[derive(Debug)]
pub struct BeatsInput {
    settings: Settings,
    tls: Option<tls::Tls>,
}

impl InputType for BeatsInput {
    type Config = BeatsInputConfig;
    /// A socket has no end: clients may always send more.
    const FINITE: bool = false;

    fn build(settings: &BeatsInputConfig, context: &BuildContext) -> Result<Self, ConfigError> {
        let validated = Settings::validate(settings.clone(), context)?;
        Ok(Self {
            settings: validated.settings,
            tls: validated.tls,
        })
    }

    /// Serves clients until `context.shutdown` is cancelled, then lets every connection
    /// finish its pending windows.
    async fn run(self, context: InputContext) -> Result<(), InputError> {
        let listener = server::bind(self.settings.address).await?;
        context.readiness.set_ready();
        Ok(server::serve(listener, Arc::new(self.into_shared(context))).await?)
    }
}

impl BeatsInput {
    fn into_shared(self, context: InputContext) -> Shared {
        Shared {
            limits: Limits {
                max_window_size: self.settings.max_window_size,
                max_frame_bytes: self.settings.max_frame_bytes,
            },
            settings: self.settings,
            tls: self.tls,
            metrics: metrics::BeatsMetrics::register(&context.metrics),
            context,
        }
    }
}
