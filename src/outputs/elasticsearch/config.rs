//! Settings of `type = "elasticsearch"`, and their validation.
//!
//! Defaults follow Logstash's `elasticsearch` output where it has one (2 s → 64 s retry
//! backoff, unlimited retries, gzip level 1, 60 s request timeout, `X-Elastic-Product` style
//! start-up check) and the issue where it deviates on purpose: `create` with deterministic ids
//! by default, so a resend after a crash or a Beats reconnect is a 409 (success) instead of a
//! duplicate document. Everything that can be checked without the network (URLs, TLS files,
//! the template file, the combination of settings) is checked here, so `sluice validate`
//! reports it with a position.

use crate::config::{BuildContext, ConfigError, ConfigErrors, Interval};
use crate::event::Template;
use serde::Deserialize;
use serde_spanned::Spanned;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The default index: one index per UTC day of the event's `@timestamp`.
pub const DEFAULT_INDEX: &str = "mqtt-logs-%{+YYYY.MM.dd}";
const DEFAULT_MAX_EVENTS: usize = 2000;
const DEFAULT_MAX_BYTES: usize = 10 * 1024 * 1024;
const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_CONCURRENCY: usize = 2;
/// One encoding task: on the 2-core machine the output already keeps both cores busy with
/// one (encoding on one, requests and freeing events on the other), and two were no faster
/// (BENCHMARKS.md). More help only where cores are left over.
const DEFAULT_ENCODERS: usize = 1;
const DEFAULT_COMPRESSION_LEVEL: u32 = 1;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_RETRY_INITIAL: Duration = Duration::from_secs(2);
const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(64);

/// `type = "elasticsearch"`: the settings, boxed so the output enum stays small.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct ElasticsearchConfig(pub Box<ElasticsearchSettings>);

/// The keys of a `type = "elasticsearch"` output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchSettings {
    /// Node URLs (`http://host:9200`, `https://...`), one string or a list; requests go
    /// round-robin over the live ones. Credentials in a URL (`https://user:pass@host`) are
    /// moved into basic auth and never logged.
    pub hosts: Spanned<Hosts>,
    /// Index name template (default `mqtt-logs-%{+YYYY.MM.dd}`: the UTC day of `@timestamp`).
    /// An event whose index still contains an unresolved `%{...}` is dead-lettered instead of
    /// creating a strangely named index, and so is one Elasticsearch would refuse
    /// ([`index_name_problem`]); the template's static text is checked at load. With
    /// `data_stream = true`, the data stream's name.
    #[serde(default)]
    pub index: Option<Spanned<Template>>,
    /// `create` (default: an existing id is a 409, which counts as success) or `index`
    /// (overwrites a document with the same id).
    #[serde(default)]
    pub action: Option<Spanned<Action>>,
    /// Document id template, e.g. `%{[@metadata][_id]}`. Unset: an id derived from the
    /// event's origin (see `deterministic_ids`); an unresolved reference dead-letters the event.
    #[serde(default)]
    pub document_id: Option<Template>,
    /// Without `document_id`: give events that have an origin (`log.file.path` + `log.offset`,
    /// with `host.name`, as the file input and Filebeat set) an id hashed from that origin and
    /// the document, so resends are recognised. Also uses Filebeat's `[@metadata][_id]` when
    /// present. `false`: let the cluster generate ids.
    #[serde(default = "yes")]
    pub deterministic_ids: bool,
    /// Write to a data stream named `index`: `create` only, every event needs `@timestamp`
    /// (the index template must enable `data_stream`).
    #[serde(default)]
    pub data_stream: bool,
    /// Most events in one `_bulk` request.
    #[serde(default = "default_max_events")]
    pub max_events: Spanned<usize>,
    /// Most bytes (uncompressed NDJSON) in one `_bulk` request; a larger single event goes alone.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: Spanned<usize>,
    /// A partly filled request is sent this long after its first event arrived.
    #[serde(default = "default_flush_interval")]
    pub flush_interval: Spanned<Interval>,
    /// `_bulk` requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: Spanned<usize>,
    /// Tasks that encode deliveries into requests in parallel, each filling its own request
    /// (default 1).
    #[serde(default = "default_encoders")]
    pub encoders: Spanned<usize>,
    /// gzip level of request bodies, 1 (fast, default) to 9; 0 sends them uncompressed.
    #[serde(default = "default_compression_level")]
    pub compression_level: Spanned<u32>,
    /// Time limit of one request (connect + send + answer).
    #[serde(default = "default_timeout")]
    pub timeout: Spanned<Interval>,
    /// First wait before retrying a failed request or rejected items; doubles each round.
    #[serde(default = "default_retry_initial")]
    pub retry_initial_interval: Spanned<Interval>,
    /// Longest wait between retries.
    #[serde(default = "default_retry_max")]
    pub retry_max_interval: Spanned<Interval>,
    /// Retries of one event before it is dead-lettered; unset = retry until it succeeds
    /// (the pipeline waits meanwhile, nothing is lost).
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// Basic auth user (with `password`).
    #[serde(default)]
    pub user: Option<Spanned<String>>,
    /// Basic auth password; use `${ENV}` interpolation rather than writing it in the file.
    #[serde(default)]
    pub password: Option<Secret>,
    /// API key: the base64 `encoded` value Elasticsearch returns, or `id:api_key`.
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// Bearer token (`Authorization: Bearer ...`).
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// TLS towards the cluster.
    #[serde(default)]
    pub tls: Option<TlsSettings>,
    /// A composable index template (JSON file with `index_patterns`, `template`, ...) to
    /// install at start-up with `PUT _index_template/<template_name>`; a relative path starts
    /// at the pipeline file's folder.
    #[serde(default)]
    pub template: Option<Spanned<PathBuf>>,
    /// Name of the installed template (default `mqtt-logs`).
    #[serde(default = "default_template_name")]
    pub template_name: String,
    /// Replace an existing template of that name (default false: leave it, as Logstash).
    #[serde(default)]
    pub template_overwrite: bool,
    /// Dead-letter file (default `<data_dir>/dead_letter/<output id>.ndjson`); a relative path
    /// starts at the working directory, like `data_dir`.
    #[serde(default)]
    pub dead_letter_path: Option<PathBuf>,
    /// Largest size of the dead-letter file in bytes (default 1 GiB, 0 = no limit). Refused
    /// events that no longer fit are dropped and counted (`dead_letters_dropped_total`).
    #[serde(default = "default_dead_letter_max_bytes")]
    pub dead_letter_max_bytes: u64,
}

fn default_dead_letter_max_bytes() -> u64 {
    1 << 30
}

/// `tls` table; relative paths start at the pipeline file's folder.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM CA certificate(s) to trust in addition to the system's web roots (ES 8's
    /// `http_ca.crt`).
    #[serde(default)]
    pub ca_file: Option<Spanned<PathBuf>>,
    /// PEM client certificate chain (with `key`) for clusters that require one.
    #[serde(default)]
    pub certificate: Option<Spanned<PathBuf>>,
    /// PEM private key of `certificate` (PKCS#8 or PKCS#1).
    #[serde(default)]
    pub key: Option<Spanned<PathBuf>>,
    /// `false` accepts any server certificate: only for testing, it allows interception.
    #[serde(default = "yes")]
    pub verify: bool,
}

/// One URL or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Hosts {
    One(String),
    Many(Vec<String>),
}

impl Hosts {
    fn list(&self) -> Vec<&str> {
        match self {
            Self::One(host) => vec![host.as_str()],
            Self::Many(hosts) => hosts.iter().map(String::as_str).collect(),
        }
    }
}

/// `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Fails with 409 when the id exists (counted as success: already indexed).
    Create,
    /// Creates or overwrites.
    Index,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Index => "index",
        }
    }
}

/// A string that never appears in logs or `Debug` output.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

fn yes() -> bool {
    true
}
fn unspanned<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}
fn default_max_events() -> Spanned<usize> {
    unspanned(DEFAULT_MAX_EVENTS)
}
fn default_max_bytes() -> Spanned<usize> {
    unspanned(DEFAULT_MAX_BYTES)
}
fn default_flush_interval() -> Spanned<Interval> {
    unspanned(Interval(DEFAULT_FLUSH_INTERVAL))
}
fn default_concurrency() -> Spanned<usize> {
    unspanned(DEFAULT_CONCURRENCY)
}
fn default_encoders() -> Spanned<usize> {
    unspanned(DEFAULT_ENCODERS)
}
fn default_compression_level() -> Spanned<u32> {
    unspanned(DEFAULT_COMPRESSION_LEVEL)
}
fn default_timeout() -> Spanned<Interval> {
    unspanned(Interval(DEFAULT_TIMEOUT))
}
fn default_retry_initial() -> Spanned<Interval> {
    unspanned(Interval(DEFAULT_RETRY_INITIAL))
}
fn default_retry_max() -> Spanned<Interval> {
    unspanned(Interval(DEFAULT_RETRY_MAX))
}
fn default_template_name() -> String {
    "mqtt-logs".to_string()
}

/// How requests authenticate.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic {
        user: String,
        password: String,
    },
    /// The complete `Authorization` header value (`ApiKey ...` or `Bearer ...`).
    Header(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Basic { user, .. } => write!(f, "Basic({user}, <redacted>)"),
            Self::Header(_) => f.write_str("Header(<redacted>)"),
        }
    }
}

/// A node URL without credentials, ending without `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostUrl(pub String);

/// The settings after validation, in the form the output uses.
#[derive(Debug, Clone)]
pub struct Settings {
    pub hosts: Vec<HostUrl>,
    pub index: Template,
    pub action: Action,
    pub document_id: Option<Template>,
    pub deterministic_ids: bool,
    pub data_stream: bool,
    pub max_events: usize,
    pub max_bytes: usize,
    pub flush_interval: Duration,
    pub concurrency: usize,
    pub encoders: usize,
    pub compression_level: u32,
    pub timeout: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub max_retries: Option<u32>,
    pub auth: Auth,
    pub tls: TlsFiles,
    /// The template's name and JSON body, read at build time.
    pub template: Option<(String, serde_json::Value)>,
    pub template_overwrite: bool,
    /// Explicit dead-letter file, or the data directory to put the default one in.
    pub dead_letter: DeadLetterPath,
    /// 0 = no limit.
    pub dead_letter_max_bytes: u64,
}

/// Where dead letters go.
#[derive(Debug, Clone)]
pub enum DeadLetterPath {
    Explicit(PathBuf),
    /// `<data_dir>/dead_letter/<output id>.ndjson`, decided when the output starts.
    UnderDataDir(PathBuf),
}

impl DeadLetterPath {
    pub fn resolve(&self, output_id: &str) -> PathBuf {
        match self {
            Self::Explicit(path) => path.clone(),
            Self::UnderDataDir(data_dir) => data_dir
                .join("dead_letter")
                .join(format!("{output_id}.ndjson")),
        }
    }
}

/// TLS material, read and checked at build time.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    pub ca_pem: Option<Vec<u8>>,
    /// Certificate chain followed by the key, PEM (what reqwest's `Identity::from_pem` reads).
    pub identity_pem: Option<Vec<u8>>,
    pub verify: bool,
}

impl Settings {
    /// Checks every value and reports every problem at once, each pointing at the value that
    /// causes it.
    pub fn validate(
        config: &ElasticsearchConfig,
        context: &BuildContext,
    ) -> Result<Self, ConfigErrors> {
        let config = &*config.0;
        let mut problems = Vec::new();
        let err =
            |span: std::ops::Range<usize>, message: String| context.error_at(Some(span), message);
        let positive = |value: &Spanned<usize>, name: &str| {
            if *value.get_ref() == 0 {
                Err(err(value.span(), format!("`{name}` must be at least 1")))
            } else {
                Ok(*value.get_ref())
            }
        };
        let non_zero = |value: &Spanned<Interval>, name: &str| {
            if value.get_ref().0.is_zero() {
                Err(err(
                    value.span(),
                    format!("`{name}` must be longer than zero"),
                ))
            } else {
                Ok(value.get_ref().0)
            }
        };

        let hosts = parse_hosts(config.hosts.get_ref()).map_err(|m| err(config.hosts.span(), m));
        let url_credentials = hosts.as_ref().ok().and_then(|(_, c)| c.clone());
        let disabled = hosts.as_ref().is_ok_and(|(hosts, _)| hosts.is_empty());
        let hosts = take(hosts, &mut problems).map(|(hosts, _)| hosts);
        let index = match &config.index {
            Some(index) => match static_index_problem(index.get_ref().source()) {
                Some((offset, problem)) => Err(context.source.error_in_string(
                    &index.span(),
                    offset,
                    format!("Elasticsearch refuses this index name: {problem}"),
                )),
                None => Ok(index.get_ref().clone()),
            },
            None => {
                Template::parse(DEFAULT_INDEX).map_err(|e| err(config.hosts.span(), e.to_string()))
            }
        };
        let index = take(index, &mut problems);
        let action = match (&config.action, config.data_stream) {
            (Some(action), true) if *action.get_ref() != Action::Create => Err(err(
                action.span(),
                "data streams accept only `action = \"create\"`".into(),
            )),
            (Some(action), _) => Ok(*action.get_ref()),
            (None, _) => Ok(Action::Create),
        };
        let action = take(action, &mut problems);
        let max_events = take(positive(&config.max_events, "max_events"), &mut problems);
        let max_bytes = take(positive(&config.max_bytes, "max_bytes"), &mut problems);
        let flush_interval = take(
            non_zero(&config.flush_interval, "flush_interval"),
            &mut problems,
        );
        let concurrency = take(positive(&config.concurrency, "concurrency"), &mut problems);
        let encoders = take(positive(&config.encoders, "encoders"), &mut problems);
        let compression_level = if *config.compression_level.get_ref() > 9 {
            Err(err(
                config.compression_level.span(),
                "`compression_level` must be 0 (off) to 9".into(),
            ))
        } else {
            Ok(*config.compression_level.get_ref())
        };
        let compression_level = take(compression_level, &mut problems);
        let timeout = take(non_zero(&config.timeout, "timeout"), &mut problems);
        let retry_initial = take(
            non_zero(&config.retry_initial_interval, "retry_initial_interval"),
            &mut problems,
        );
        let retry_max = match non_zero(&config.retry_max_interval, "retry_max_interval") {
            Ok(max) if retry_initial.is_some_and(|initial| max < initial) => Err(err(
                config.retry_max_interval.span(),
                "`retry_max_interval` must not be shorter than `retry_initial_interval`".into(),
            )),
            other => other,
        };
        let retry_max = take(retry_max, &mut problems);
        let auth = auth(config, url_credentials).map_err(|(span, message)| err(span, message));
        let auth = take(auth, &mut problems);
        let tls =
            tls_files(config.tls.as_ref(), context).map_err(|(span, message)| err(span, message));
        let tls = take(tls, &mut problems);
        let template = match &config.template {
            // A disabled output (no hosts) installs nothing: it needs no template file.
            _ if disabled => Ok(None),
            None => Ok(None),
            Some(path) => read_template(&context.companion_file(path.get_ref()))
                .map(|template| Some((config.template_name.clone(), template)))
                .map_err(|message| err(path.span(), message)),
        };
        let template = take(template, &mut problems);

        // Every value was checked; any problem found means some value above is missing.
        let (
            Some(hosts),
            Some(index),
            Some(action),
            Some(max_events),
            Some(max_bytes),
            Some(flush_interval),
            Some(concurrency),
            Some(encoders),
            Some(compression_level),
            Some(timeout),
            Some(retry_initial),
            Some(retry_max),
            Some(auth),
            Some(tls),
            Some(template),
        ) = (
            hosts,
            index,
            action,
            max_events,
            max_bytes,
            flush_interval,
            concurrency,
            encoders,
            compression_level,
            timeout,
            retry_initial,
            retry_max,
            auth,
            tls,
            template,
        )
        else {
            return Err(ConfigErrors(problems));
        };
        Ok(Self {
            hosts,
            index,
            action,
            document_id: config.document_id.clone(),
            deterministic_ids: config.deterministic_ids,
            data_stream: config.data_stream,
            max_events,
            max_bytes,
            flush_interval,
            concurrency,
            encoders,
            compression_level,
            timeout,
            retry_initial,
            retry_max,
            max_retries: config.max_retries,
            auth,
            tls,
            template,
            template_overwrite: config.template_overwrite,
            dead_letter: match &config.dead_letter_path {
                Some(path) => DeadLetterPath::Explicit(path.clone()),
                None => DeadLetterPath::UnderDataDir(context.data_dir.clone()),
            },
            dead_letter_max_bytes: config.dead_letter_max_bytes,
        })
    }
}

/// The value of a check that passed; a failed one's problem joins `problems`.
fn take<T>(result: Result<T, ConfigError>, problems: &mut Vec<ConfigError>) -> Option<T> {
    result.map_err(|problem| problems.push(problem)).ok()
}

/// Splits credentials out of the URLs and normalises them (no trailing `/`).
/// `(user, password)` found in a URL.
type UrlCredentials = Option<(String, String)>;

fn parse_hosts(hosts: &Hosts) -> Result<(Vec<HostUrl>, UrlCredentials), String> {
    let list = hosts.list();
    if list.is_empty() {
        return Err("`hosts` needs at least one URL".into());
    }
    // Every entry empty (`hosts = ["${ELASTICSEARCH_URL:-}"]` with the variable unset): the
    // output is disabled, as the Slack output is without a webhook; `run` says so once and
    // counts the events as dropped.
    if list.iter().all(|host| host.trim().is_empty()) {
        return Ok((Vec::new(), None));
    }
    let mut urls = Vec::new();
    let mut credentials = None;
    for host in list {
        // `host:port` without a scheme is http, as Logstash's `hosts` takes it.
        let host = host.trim();
        let with_scheme;
        let host = if host.contains("://") {
            host
        } else {
            with_scheme = format!("http://{host}");
            &with_scheme
        };
        let Ok(mut url) = reqwest::Url::parse(host) else {
            // Do not echo the text: it may hold a password.
            return Err("invalid URL in `hosts`: expected e.g. `http://localhost:9200`".into());
        };
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "`hosts` URLs must be http:// or https:// with a host, not `{}://`",
                url.scheme()
            ));
        }
        if !url.username().is_empty() {
            let user = percent_decode(url.username());
            let password = percent_decode(url.password().unwrap_or(""));
            credentials = Some((user, password));
            // Setting these cannot fail on an http(s) URL with a host.
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("`hosts` URLs must not have a query or fragment".into());
        }
        urls.push(HostUrl(url.as_str().trim_end_matches('/').to_string()));
    }
    Ok((urls, credentials))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(value) = u8::from_str_radix(hex, 16) {
                out.push(value);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

type Located = (std::ops::Range<usize>, String);

fn auth(config: &ElasticsearchSettings, url_credentials: UrlCredentials) -> Result<Auth, Located> {
    let hosts_span = config.hosts.span();
    let mut methods = Vec::new();
    if let Some(user) = &config.user {
        methods.push(Auth::Basic {
            user: user.get_ref().clone(),
            password: config
                .password
                .as_ref()
                .map(|p| p.0.clone())
                .unwrap_or_default(),
        });
    } else if config.password.is_some() {
        return Err((hosts_span, "`password` needs `user`".into()));
    }
    if let Some((user, password)) = url_credentials {
        if config.user.is_none() {
            methods.push(Auth::Basic { user, password });
        }
    }
    if let Some(key) = &config.api_key {
        let key = key.0.trim();
        // `id:key` is encoded here; the `encoded` form from the API is used as is.
        let encoded = if key.contains(':') {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(key)
        } else {
            key.to_string()
        };
        methods.push(Auth::Header(format!("ApiKey {encoded}")));
    }
    if let Some(token) = &config.bearer_token {
        methods.push(Auth::Header(format!("Bearer {}", token.0.trim())));
    }
    match methods.len() {
        0 => Ok(Auth::None),
        1 => Ok(methods.remove(0)),
        _ => Err((
            hosts_span,
            "use one authentication method: `user`/`password`, `api_key` or `bearer_token`".into(),
        )),
    }
}

fn tls_files(tls: Option<&TlsSettings>, context: &BuildContext) -> Result<TlsFiles, Located> {
    let Some(tls) = tls else {
        return Ok(TlsFiles {
            verify: true,
            ..TlsFiles::default()
        });
    };
    let read = |path: &Spanned<PathBuf>, what: &str| -> Result<Vec<u8>, Located> {
        let file = context.companion_file(path.get_ref());
        let bytes = std::fs::read(&file).map_err(|e| {
            (
                path.span(),
                format!("cannot read {what} `{}`: {e}", file.display()),
            )
        })?;
        if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            return Err((
                path.span(),
                format!("{what} `{}` is not PEM", file.display()),
            ));
        }
        Ok(bytes)
    };
    let ca_pem = match &tls.ca_file {
        Some(path) => {
            let pem = read(path, "`tls.ca_file`")?;
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                (
                    path.span(),
                    format!("`tls.ca_file`: no usable certificate: {e}"),
                )
            })?;
            Some(pem)
        }
        None => None,
    };
    let identity_pem = match (&tls.certificate, &tls.key) {
        (None, None) => None,
        (Some(certificate), Some(key)) => {
            let mut pem = read(certificate, "`tls.certificate`")?;
            pem.push(b'\n');
            pem.extend_from_slice(&read(key, "`tls.key`")?);
            reqwest::Identity::from_pem(&pem).map_err(|e| {
                (
                    key.span(),
                    format!("`tls.certificate`/`tls.key` are not a usable pair: {e}"),
                )
            })?;
            Some(pem)
        }
        (Some(only), None) | (None, Some(only)) => {
            return Err((
                only.span(),
                "a client certificate needs both `tls.certificate` and `tls.key`".into(),
            ))
        }
    };
    Ok(TlsFiles {
        ca_pem,
        identity_pem,
        verify: tls.verify,
    })
}

/// Characters Elasticsearch refuses anywhere in an index or data stream name (`:` since 7.0).
const INDEX_FORBIDDEN: &[char] = &['\\', '/', '*', '?', '"', '<', '>', '|', ',', '#', ':', ' '];

/// Why Elasticsearch would refuse `name` as an index or data stream name, if it would
/// (`MetadataCreateIndexService.validateIndexOrAliasName` and friends): lowercase only, none
/// of `\ / * ? " < > | , # :` or a space, not starting with `-`, `_` or `+`, not `.` or `..`,
/// at most 255 bytes.
pub fn index_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("an index name must not be empty".into());
    }
    if name == "." || name == ".." {
        return Some(format!("`{name}` is not an index name"));
    }
    if let Some(first) = name.chars().next().filter(|c| matches!(c, '-' | '_' | '+')) {
        return Some(format!("an index name must not start with `{first}`"));
    }
    if let Some(c) = name.chars().find(|c| c.is_uppercase()) {
        return Some(format!("an index name must be lowercase (`{c}`)"));
    }
    if let Some(c) = name.chars().find(|c| INDEX_FORBIDDEN.contains(c)) {
        return Some(format!(
            "an index name must not contain `{c}` (nor any of `\\ / * ? \" < > | , # :` or a space)"
        ));
    }
    if name.len() > 255 {
        return Some("an index name must not be longer than 255 bytes".into());
    }
    None
}

/// The first problem of an index template's static text: its byte offset in `source` and
/// why. `%{...}` parts are left to [`index_name_problem`] on each rendered name.
fn static_index_problem(source: &str) -> Option<(usize, String)> {
    let mut offset = 0;
    let mut rest = source;
    while !rest.is_empty() {
        let (literal, after) = match rest.find("%{") {
            Some(start) => {
                let end = rest[start..]
                    .find('}')
                    .map_or(rest.len(), |e| start + e + 1);
                (&rest[..start], &rest[end..])
            }
            None => (rest, ""),
        };
        for (i, c) in literal.char_indices() {
            let at_start = offset + i == 0;
            let problem = if at_start && matches!(c, '-' | '_' | '+') {
                Some(format!("an index name must not start with `{c}`"))
            } else if c.is_uppercase() {
                Some(format!("an index name must be lowercase (`{c}`)"))
            } else if INDEX_FORBIDDEN.contains(&c) {
                Some(format!(
                    "an index name must not contain `{c}` (nor any of `\\ / * ? \" < > | , # :` or a space)"
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                return Some((offset + i, problem));
            }
        }
        offset += rest.len() - after.len();
        rest = after;
    }
    if matches!(source, "." | "..") {
        return Some((0, format!("`{source}` is not an index name")));
    }
    None
}

fn read_template(path: &std::path::Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `template` `{}`: {e}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("`template` `{}` is not JSON: {e}", path.display()))?;
    if value.get("index_patterns").is_none() {
        return Err(format!(
            "`template` `{}` is not a composable index template (no `index_patterns`)",
            path.display()
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url_and_become_basic_auth() {
        let (hosts, credentials) = parse_hosts(&Hosts::Many(vec![
            "https://elastic:p%40ss@es1:9200/".into(),
            "http://es2:9200".into(),
        ]))
        .unwrap();
        assert_eq!(
            hosts,
            vec![
                HostUrl("https://es1:9200".into()),
                HostUrl("http://es2:9200".into())
            ]
        );
        assert_eq!(credentials, Some(("elastic".into(), "p@ss".into())));
    }

    #[test]
    fn bad_urls_are_reported_without_echoing_them() {
        let error = parse_hosts(&Hosts::One("not a url secret".into())).unwrap_err();
        assert!(!error.contains("secret"), "{error}");
        assert!(parse_hosts(&Hosts::One("ftp://x".into())).is_err());
        assert!(parse_hosts(&Hosts::Many(vec![])).is_err());
    }

    #[test]
    fn index_names_follow_elasticsearch_rules() {
        for good in ["mqtt-logs-2024.05.01", "a", ".hidden", "logs_1+2"] {
            assert_eq!(index_name_problem(good), None, "{good}");
        }
        for (bad, problem) in [
            ("Logs", "lowercase (`L`)"),
            ("-logs", "start with `-`"),
            ("_logs", "start with `_`"),
            ("+logs", "start with `+`"),
            ("a b", "contain ` `"),
            ("a#b", "contain `#`"),
            ("a:b", "contain `:`"),
            ("a\\b", "contain `\\`"),
            ("..", "not an index name"),
            ("", "empty"),
        ] {
            let found = index_name_problem(bad).unwrap_or_default();
            assert!(found.contains(problem), "{bad}: {found}");
        }
        assert!(index_name_problem(&"a".repeat(256)).is_some());
        for forbidden in ['/', '*', '?', '"', '<', '>', '|', ','] {
            assert!(
                index_name_problem(&format!("a{forbidden}b")).is_some(),
                "{forbidden}"
            );
        }
    }

    #[test]
    fn static_parts_of_index_templates_are_checked_where_they_are() {
        assert_eq!(static_index_problem("mqtt-logs-%{+YYYY.MM.dd}"), None);
        // References can render anything; only the text around them is known.
        assert_eq!(static_index_problem("%{[Service]}-%{+YYYY}"), None);
        assert_eq!(
            static_index_problem("logs-%{[a]}-X"),
            Some((12, "an index name must be lowercase (`X`)".into()))
        );
        assert_eq!(
            static_index_problem("_x-%{[a]}"),
            Some((0, "an index name must not start with `_`".into()))
        );
        // A leading `_` after a reference is not at the start of the name.
        assert_eq!(static_index_problem("%{[a]}_x"), None);
        assert!(static_index_problem("logs|%{[a]}").is_some());
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let auth = Auth::Basic {
            user: "elastic".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
        assert!(!format!("{:?}", Secret("hunter2".into())).contains("hunter2"));
        assert!(!format!("{:?}", Auth::Header("ApiKey abc".into())).contains("abc"));
    }
}
