//! Settings of `type = "tcp"`, named as Logstash's tcp input names them.

use crate::config::{BuildContext, ConfigError};
use crate::inputs::codec::CodecConfig;
use serde::Deserialize;

/// `type = "tcp"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpInputConfig {
    /// The address to listen on (Logstash: `0.0.0.0`).
    #[serde(default = "crate::inputs::socket::default_host")]
    pub host: String,
    /// The port to listen on (required, as in Logstash).
    pub port: u16,
    /// How bytes become events (Logstash's tcp default: `line`).
    #[serde(default = "default_codec")]
    pub codec: CodecConfig,
    /// Longer lines are cut to this many bytes and tagged `_line_truncated`.
    #[serde(default = "crate::inputs::socket::default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Most clients served at once; others wait in the listen backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

fn default_codec() -> CodecConfig {
    CodecConfig::Line
}

fn default_max_connections() -> usize {
    1000
}

impl TcpInputConfig {
    pub fn validate(&self, context: &BuildContext) -> Result<(), ConfigError> {
        if self.max_line_bytes == 0 || self.max_connections == 0 {
            return Err(context.error_at(
                None,
                "tcp input: `max_line_bytes` and `max_connections` must be at least 1",
            ));
        }
        self.codec.validate("tcp", context)
    }
}
