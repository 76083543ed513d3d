//! How sluice connects to a Kafka cluster: the settings the Kafka input and output share
//! (brokers, TLS, SASL, librdkafka overrides) and the librdkafka configuration made from them.
//!
//! Both sides talk to the same cluster with the same credentials, so they read the same keys
//! and are checked the same way: a mechanism outside PLAIN / SCRAM, a TLS file that cannot be
//! read or an override of a setting sluice's guarantees rest on is a configuration error with
//! its position, not a surprise at run time. Passwords are [`Secret`]s: they reach librdkafka
//! and nothing else (no log line, no `Debug` output, and the librdkafka configuration itself
//! is never logged).

use crate::config::{BuildContext, ConfigError};
use rdkafka::ClientConfig;
use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `tls` table of a Kafka input or output; relative paths start at the pipeline file's folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaTls {
    /// CA certificates (PEM) that sign the brokers' certificates; unset: the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM), for brokers that require one (with `key_file`).
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// Client key (PEM).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Password of an encrypted `key_file`.
    #[serde(default)]
    pub key_password: Option<Secret>,
    /// Check the brokers' certificates and host names (default true).
    #[serde(default = "yes")]
    pub verify: bool,
}

/// SASL mechanisms sluice supports (librdkafka's built-in ones that need no Kerberos).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// `sasl` table of a Kafka input or output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSasl {
    pub mechanism: SaslMechanism,
    pub username: String,
    /// Use `${ENV}` interpolation rather than writing it in the file.
    pub password: Secret,
}

/// The connection keys shared by `[inputs.*] type = "kafka"` and `[outputs.*] type = "kafka"`,
/// borrowed from either's settings (each lists them itself: `deny_unknown_fields` and
/// `flatten` do not mix).
#[derive(Debug, Clone, Copy)]
pub struct Connection<'a> {
    /// `host:port` of one or more brokers, comma-separated.
    pub bootstrap_servers: &'a Spanned<String>,
    pub tls: Option<&'a Spanned<KafkaTls>>,
    pub sasl: Option<&'a KafkaSasl>,
    /// Any other librdkafka setting (`"socket.keepalive.enable" = "true"`), applied last.
    /// Settings sluice's delivery guarantees rest on are refused (see [`PROTECTED`]).
    pub librdkafka: Option<&'a Spanned<BTreeMap<String, String>>>,
}

/// A librdkafka configuration whose `Debug` output shows the keys but no values: it holds
/// passwords, and a component's settings may be debug-printed.
#[derive(Clone)]
pub struct ClientSettings(pub ClientConfig);

impl std::fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.config_map().keys()).finish()
    }
}

/// librdkafka settings an override may not change: they are what makes the output
/// lose nothing (idempotence, acks, no delivery timeout) and the input commit only what was
/// delivered (manual offset store).
pub const PROTECTED: &[&str] = &[
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "enable.auto.offset.store",
    "bootstrap.servers",
    "group.id",
];

fn yes() -> bool {
    true
}

/// A password that never appears in logs or `Debug` output.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl Connection<'_> {
    /// The librdkafka configuration for these settings; `base` is what the input or output
    /// sets itself (overrides may not replace those of [`PROTECTED`]).
    pub fn client_config(
        &self,
        context: &BuildContext,
        base: &[(&str, String)],
    ) -> Result<ClientSettings, ConfigError> {
        let servers = self.bootstrap_servers.get_ref().trim();
        if servers.is_empty() || servers.split(',').any(|s| !s.trim().contains(':')) {
            return Err(context.error_at(
                Some(self.bootstrap_servers.span()),
                format!("bootstrap_servers must be `host:port[,host:port...]`, got {servers:?}"),
            ));
        }
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", servers);
        for (key, value) in base {
            config.set(*key, value.as_str());
        }
        let protocol = match (self.tls, self.sasl) {
            (None, None) => "plaintext",
            (Some(_), None) => "ssl",
            (None, Some(_)) => "sasl_plaintext",
            (Some(_), Some(_)) => "sasl_ssl",
        };
        config.set("security.protocol", protocol);
        if let Some(tls) = self.tls {
            let span = tls.span();
            let tls = tls.get_ref();
            for (key, path) in [
                ("ssl.ca.location", &tls.ca_file),
                ("ssl.certificate.location", &tls.cert_file),
                ("ssl.key.location", &tls.key_file),
            ] {
                if let Some(path) = path {
                    let path = context.companion_file(path);
                    if let Err(e) = std::fs::metadata(&path) {
                        return Err(context.error_at(
                            Some(span.clone()),
                            format!("cannot read {}: {e}", path.display()),
                        ));
                    }
                    config.set(key, path.to_string_lossy());
                }
            }
            if tls.cert_file.is_some() != tls.key_file.is_some() {
                return Err(
                    context.error_at(Some(span), "tls.cert_file and tls.key_file go together")
                );
            }
            if let Some(password) = &tls.key_password {
                config.set("ssl.key.password", password.0.as_str());
            }
            if !tls.verify {
                config.set("enable.ssl.certificate.verification", "false");
                config.set("ssl.endpoint.identification.algorithm", "none");
            }
        }
        if let Some(sasl) = self.sasl {
            config.set("sasl.mechanism", sasl.mechanism.name());
            config.set("sasl.username", sasl.username.as_str());
            config.set("sasl.password", sasl.password.0.as_str());
        }
        let overrides = self.librdkafka.map(Spanned::get_ref).into_iter().flatten();
        for (key, value) in overrides {
            if PROTECTED.contains(&key.as_str()) {
                return Err(context.error_at(
                    self.librdkafka.map(Spanned::span),
                    format!(
                        "librdkafka.{key:?} cannot be overridden: sluice's delivery guarantees \
                         depend on it"
                    ),
                ));
            }
            config.set(key, value);
        }
        // librdkafka checks every key and value here, without connecting.
        if let Err(e) = config.create_native_config() {
            return Err(context.error_at(self.librdkafka.map(Spanned::span), e.to_string()));
        }
        Ok(ClientSettings(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_names_the_settings_but_never_their_values() {
        let mut config = ClientConfig::new();
        config.set("sasl.password", "hunter2-secret");
        config.set("bootstrap.servers", "kafka:9092");
        let text = format!("{:?}", ClientSettings(config));
        assert!(text.contains("sasl.password"), "{text}");
        assert!(!text.contains("hunter2-secret"), "{text}");
        assert_eq!(
            format!("{:?}", Secret("hunter2-secret".into())),
            "\"<redacted>\""
        );
    }
}
