//! Settings of `type = "beats"`, and their validation.
//!
//! Defaults follow Logstash's beats input where it has one (port 5044, 60 s client inactivity
//! timeout, a keep-alive ACK at most 5 s after the last write) and go-lumber's server where
//! Logstash has no bound at all (windows of at most 10,000 events). The size caps exist because
//! a Beats server faces whatever connects to it: without them one client could make us buffer a
//! 4 GiB frame or inflate a zip bomb. They are generous for Filebeat (2,048-event windows, lines
//! of at most 10 MiB) and can be raised when a fleet needs more.

use super::tls::{self, Tls};
use crate::config::Interval;
use crate::config::{BuildContext, ConfigError};
use serde::Deserialize;
use serde_spanned::Spanned;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const DEFAULT_ADDRESS: &str = "0.0.0.0:5044";
const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_MAX_WINDOW_SIZE: u32 = 10_000;
const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;
const DEFAULT_MAX_CONNECTIONS: usize = 1000;

/// `type = "beats"`: the settings, boxed so the input enum stays small.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct BeatsInputConfig(Box<BeatsInputSettings>);

/// The keys of a `type = "beats"` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeatsInputSettings {
    /// `IP:port` to listen on.
    #[serde(default = "default_address")]
    pub address: Spanned<String>,
    /// While a window waits for the pipeline, an ACK 0 is sent this long after the last write
    /// so the client does not time out (Filebeat's `timeout` is 30 s) and resend.
    #[serde(default = "default_keepalive_interval")]
    pub keepalive_interval: Spanned<Interval>,
    /// A connection with nothing received and nothing pending for this long is closed.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: Spanned<Interval>,
    /// Most events one window may announce; a larger window closes the connection.
    #[serde(default = "default_max_window_size")]
    pub max_window_size: Spanned<u32>,
    /// Most bytes of one frame as sent (a compressed window, or one JSON event).
    #[serde(default = "default_max_frame_bytes")]
    pub max_frame_bytes: Spanned<usize>,
    /// Most bytes one compressed frame may inflate to.
    #[serde(default = "default_max_decompressed_bytes")]
    pub max_decompressed_bytes: Spanned<usize>,
    /// Most clients connected at once; further clients wait in the listen backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: Spanned<usize>,
    /// PEM certificate chain: with `tls_key`, clients must connect with TLS. Relative paths of
    /// the `tls_*` files start at the pipeline file's folder.
    #[serde(default)]
    pub tls_certificate: Option<Spanned<PathBuf>>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `tls_certificate`.
    #[serde(default)]
    pub tls_key: Option<Spanned<PathBuf>>,
    /// PEM CA certificates that sign client certificates.
    #[serde(default)]
    pub tls_client_ca: Option<Spanned<PathBuf>>,
    /// Whether clients present a certificate (Logstash's `ssl_client_authentication`):
    /// `none`, `optional` (checked when presented) or `required`. Defaults to `required` when
    /// `tls_client_ca` is set, `none` otherwise.
    #[serde(default)]
    pub tls_client_authentication: Option<Spanned<ClientAuthentication>>,
    /// Where the enrichments go, as Logstash's `ecs_compatibility`: `v8` (Logstash 8's
    /// default) and `v1` put the client IP in `[@metadata][input][beats][host][ip]` and the raw
    /// line in `[event][original]`; `disabled` puts the IP in `[@metadata][ip_address]` and
    /// keeps no original.
    #[serde(default)]
    pub ecs_compatibility: EcsCompatibility,
    /// What the input adds to each event (Logstash's `enrich`): `source_metadata` (the
    /// client's IP, for events that carry `@metadata`, as Filebeat's do), `codec_metadata`
    /// (the tag `beats_input_codec_plain_applied` and, with ECS, `[event][original]`), or
    /// `none`. Both by default.
    #[serde(default = "default_enrich")]
    pub enrich: Spanned<Vec<Enrichment>>,
    /// Overrides whether the `beats_input_codec_plain_applied` tag is added (Logstash's
    /// deprecated `include_codec_tag`); by default it follows `codec_metadata`.
    #[serde(default)]
    pub include_codec_tag: Option<bool>,
    /// Copies a legacy Beat's `[beat][hostname]` into `host` (with ECS: into
    /// `[@metadata][input][beats][host][name]`) when that is not set (Logstash's deprecated
    /// `add_hostname`).
    #[serde(default)]
    pub add_hostname: bool,
}

/// `ecs_compatibility`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EcsCompatibility {
    /// Logstash 7's field names.
    Disabled,
    /// ECS 1 field names (the same as `v8` for this input).
    V1,
    /// ECS 8 field names (Logstash 8's default).
    #[default]
    V8,
}

/// One value of `enrich`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enrichment {
    /// The client's IP address in metadata.
    SourceMetadata,
    /// The codec tag and `[event][original]`.
    CodecMetadata,
    /// Nothing (alone).
    None,
}

/// How events are shaped, resolved from `ecs_compatibility`, `enrich`, `include_codec_tag`
/// and `add_hostname`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventShape {
    pub ecs: bool,
    pub source_metadata: bool,
    /// `[event][original]` (only with ECS).
    pub event_original: bool,
    pub codec_tag: bool,
    pub add_hostname: bool,
}

impl Default for EventShape {
    /// Logstash 8's defaults.
    fn default() -> Self {
        Self {
            ecs: true,
            source_metadata: true,
            event_original: true,
            codec_tag: true,
            add_hostname: false,
        }
    }
}

/// `tls_client_authentication`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthentication {
    /// Clients are not asked for a certificate.
    None,
    /// A certificate is checked against `tls_client_ca` when the client presents one.
    Optional,
    /// Every client must present a certificate signed by `tls_client_ca`.
    Required,
}

fn default_address() -> Spanned<String> {
    Spanned::new(0..0, DEFAULT_ADDRESS.to_string())
}

fn default_keepalive_interval() -> Spanned<Interval> {
    Spanned::new(0..0, Interval(DEFAULT_KEEPALIVE_INTERVAL))
}

fn default_idle_timeout() -> Spanned<Interval> {
    Spanned::new(0..0, Interval(DEFAULT_IDLE_TIMEOUT))
}

fn default_max_window_size() -> Spanned<u32> {
    Spanned::new(0..0, DEFAULT_MAX_WINDOW_SIZE)
}

fn default_max_frame_bytes() -> Spanned<usize> {
    Spanned::new(0..0, DEFAULT_MAX_FRAME_BYTES)
}

fn default_max_decompressed_bytes() -> Spanned<usize> {
    Spanned::new(0..0, DEFAULT_MAX_DECOMPRESSED_BYTES)
}

fn default_max_connections() -> Spanned<usize> {
    Spanned::new(0..0, DEFAULT_MAX_CONNECTIONS)
}

fn default_enrich() -> Spanned<Vec<Enrichment>> {
    Spanned::new(
        0..0,
        vec![Enrichment::SourceMetadata, Enrichment::CodecMetadata],
    )
}

/// The settings after validation, in the form the server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub address: SocketAddr,
    pub keepalive_interval: Duration,
    pub idle_timeout: Duration,
    pub max_window_size: u32,
    pub max_frame_bytes: usize,
    pub max_decompressed_bytes: usize,
    pub max_connections: usize,
    pub shape: EventShape,
}

/// The settings plus the TLS configuration, when TLS is on.
#[derive(Debug)]
pub struct Validated {
    pub settings: Settings,
    pub tls: Option<Tls>,
}

impl Settings {
    /// Checks every value; a problem points at the value that causes it.
    pub fn validate(
        config: BeatsInputConfig,
        context: &BuildContext,
    ) -> Result<Validated, ConfigError> {
        let config = *config.0;
        let tls = Self::tls(&config, context)?;
        let address = config
            .address
            .get_ref()
            .parse::<SocketAddr>()
            .map_err(|_| {
                context.error_at(
                    Some(config.address.span()),
                    format!(
                        "invalid `address` `{}`: expected `IP:port`, e.g. `0.0.0.0:5044`",
                        config.address.get_ref()
                    ),
                )
            })?;
        let non_zero = |value: &Spanned<Interval>, name: &str| {
            if value.get_ref().0.is_zero() {
                Err(context.error_at(
                    Some(value.span()),
                    format!("`{name}` must be longer than zero"),
                ))
            } else {
                Ok(value.get_ref().0)
            }
        };
        let positive = |value: &Spanned<usize>, name: &str| {
            if *value.get_ref() == 0 {
                Err(context.error_at(Some(value.span()), format!("`{name}` must be at least 1")))
            } else {
                Ok(*value.get_ref())
            }
        };
        if *config.max_window_size.get_ref() == 0 {
            return Err(context.error_at(
                Some(config.max_window_size.span()),
                "`max_window_size` must be at least 1",
            ));
        }
        let settings = Self {
            address,
            keepalive_interval: non_zero(&config.keepalive_interval, "keepalive_interval")?,
            idle_timeout: non_zero(&config.idle_timeout, "idle_timeout")?,
            max_window_size: *config.max_window_size.get_ref(),
            max_frame_bytes: positive(&config.max_frame_bytes, "max_frame_bytes")?,
            max_decompressed_bytes: positive(
                &config.max_decompressed_bytes,
                "max_decompressed_bytes",
            )?,
            max_connections: positive(&config.max_connections, "max_connections")?,
            shape: Self::shape(&config, context)?,
        };
        Ok(Validated { settings, tls })
    }

    /// Resolves the enrichments the way Logstash's beats input does.
    fn shape(
        config: &BeatsInputSettings,
        context: &BuildContext,
    ) -> Result<EventShape, ConfigError> {
        let enrich = config.enrich.get_ref();
        if enrich.contains(&Enrichment::None) && enrich.len() > 1 {
            return Err(context.error_at(
                Some(config.enrich.span()),
                "`enrich`: `none` cannot be combined with other values",
            ));
        }
        let ecs = config.ecs_compatibility != EcsCompatibility::Disabled;
        let codec_metadata = enrich.contains(&Enrichment::CodecMetadata);
        Ok(EventShape {
            ecs,
            source_metadata: enrich.contains(&Enrichment::SourceMetadata),
            event_original: ecs && codec_metadata,
            codec_tag: config.include_codec_tag.unwrap_or(codec_metadata),
            add_hostname: config.add_hostname,
        })
    }

    /// Loads the TLS files; a problem points at the setting it comes from.
    fn tls(
        config: &BeatsInputSettings,
        context: &BuildContext,
    ) -> Result<Option<Tls>, ConfigError> {
        let (certificate, key) = match (&config.tls_certificate, &config.tls_key) {
            (None, None) => {
                if let Some(ca) = &config.tls_client_ca {
                    return Err(context.error_at(
                        Some(ca.span()),
                        "`tls_client_ca` needs `tls_certificate` and `tls_key`",
                    ));
                }
                return Ok(None);
            }
            (Some(certificate), Some(key)) => (certificate, key),
            (Some(only), None) | (None, Some(only)) => {
                return Err(context.error_at(
                    Some(only.span()),
                    "TLS needs both `tls_certificate` and `tls_key`",
                ))
            }
        };
        let client_ca = config.tls_client_ca.as_ref();
        let authentication = match (&config.tls_client_authentication, client_ca) {
            (None, None) => ClientAuthentication::None,
            (None, Some(_)) => ClientAuthentication::Required,
            (Some(mode), None) if *mode.get_ref() != ClientAuthentication::None => {
                return Err(context.error_at(
                    Some(mode.span()),
                    "client authentication needs `tls_client_ca` (the CA that signs client certificates)",
                ))
            }
            (Some(mode), _) => *mode.get_ref(),
        };
        let client_ca_file = client_ca.map(|ca| context.companion_file(ca.get_ref()));
        let verify_clients = match authentication {
            ClientAuthentication::None => None,
            ClientAuthentication::Optional => client_ca_file.as_deref().map(|ca| (ca, false)),
            ClientAuthentication::Required => client_ca_file.as_deref().map(|ca| (ca, true)),
        };
        tls::acceptor(
            &context.companion_file(certificate.get_ref()),
            &context.companion_file(key.get_ref()),
            verify_clients,
        )
        .map(Some)
        .map_err(|e| {
            let span = match e.setting {
                "tls_certificate" => certificate.span(),
                "tls_client_ca" => client_ca.map_or(certificate.span(), |ca| ca.span()),
                _ => key.span(),
            };
            context.error_at(Some(span), format!("`{}`: {}", e.setting, e.message))
        })
    }
}
