//! HTTP towards the cluster: hosts, authentication, TLS, one request at a time.
//!
//! Requests go round-robin over the configured nodes. A node that cannot be reached (refused,
//! reset, timed out, TLS failure) is skipped for a while that doubles with each consecutive
//! failure (1 s up to 64 s); when every node is marked dead the one due soonest is tried
//! anyway, so a single-node cluster is retried at the pace of the caller's backoff. Any HTTP
//! answer marks a node alive again.
//!
//! Secrets never reach a log line: URLs carry no credentials (they were moved into the
//! `Authorization` header at validation), the header is marked sensitive, and errors are
//! rendered from their cause chain, which reqwest builds from the URL without userinfo.

use super::config::{Auth, HostUrl, Settings};
use crate::sync::lock;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const DEAD_BACKOFF_START: Duration = Duration::from_secs(1);
const DEAD_BACKOFF_MAX: Duration = Duration::from_secs(64);

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RequestError {
    /// TLS handshake or certificate problem: retrying will not help until the setup changes.
    #[error("TLS failure talking to {host}: {message}")]
    Tls { host: String, message: String },
    /// The answer was not HTTP (often `http://` to a TLS port).
    #[error("{host} does not speak HTTP: {message}")]
    Protocol { host: String, message: String },
    /// Refused, reset, DNS, timed out: the node may come back.
    #[error("{host} unreachable: {message}")]
    Unreachable { host: String, message: String },
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub host: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Debug)]
struct Host {
    url: HostUrl,
    bulk_url: String,
    state: Mutex<HostState>,
}

#[derive(Debug, Default)]
struct HostState {
    failures: u32,
    dead_until: Option<Instant>,
}

/// The cluster's nodes and an HTTP client configured for them.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    hosts: Vec<Host>,
    next: std::sync::atomic::AtomicUsize,
}

/// Why the HTTP client could not be built (bad TLS material).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client: {0}")]
pub struct BuildError(String);

impl Client {
    pub fn new(settings: &Settings) -> Result<Self, BuildError> {
        let mut headers = HeaderMap::new();
        let authorization = match &settings.auth {
            Auth::None => None,
            Auth::Basic { user, password } => {
                use base64::Engine;
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                Some(format!("Basic {encoded}"))
            }
            Auth::Header(value) => Some(value.clone()),
        };
        if let Some(value) = authorization {
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                BuildError("the credentials contain characters not allowed in a header".into())
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(settings.concurrency.max(2))
            .pool_idle_timeout(Duration::from_secs(50))
            .tcp_nodelay(true);
        if let Some(pem) = &settings.tls.ca_pem {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| BuildError(format!("`tls.ca_file`: {e}")))?;
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        if let Some(pem) = &settings.tls.identity_pem {
            let identity = reqwest::Identity::from_pem(pem)
                .map_err(|e| BuildError(format!("`tls.certificate`/`tls.key`: {e}")))?;
            builder = builder.identity(identity);
        }
        if !settings.tls.verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder.build().map_err(|e| BuildError(chain(&e)))?;
        let hosts = settings
            .hosts
            .iter()
            .map(|url| Host {
                bulk_url: format!(
                    "{}/_bulk?filter_path=took,errors,items.*._index,items.*._id,items.*.status,items.*.error.type,items.*.error.reason",
                    url.0
                ),
                url: url.clone(),
                state: Mutex::new(HostState::default()),
            })
            .collect();
        Ok(Self {
            http,
            hosts,
            next: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    pub fn host_url(&self, index: usize) -> &str {
        self.hosts.get(index).map_or("", |h| h.url.0.as_str())
    }

    /// Whether some node other than the one just tried is currently considered alive.
    pub fn has_live_host(&self) -> bool {
        let now = Instant::now();
        self.hosts.iter().any(|host| {
            lock(&host.state)
                .dead_until
                .is_none_or(|until| until <= now)
        })
    }

    /// The next node to use: round-robin over live nodes, else the one due soonest.
    fn pick(&self) -> usize {
        let count = self.hosts.len().max(1);
        let start = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = Instant::now();
        let mut soonest: Option<(Instant, usize)> = None;
        for step in 0..count {
            let index = (start + step) % count;
            let Some(host) = self.hosts.get(index) else {
                continue;
            };
            match lock(&host.state).dead_until {
                None => return index,
                Some(until) if until <= now => return index,
                Some(until) => {
                    if soonest.is_none_or(|(best, _)| until < best) {
                        soonest = Some((until, index));
                    }
                }
            }
        }
        soonest.map_or(0, |(_, index)| index)
    }

    fn mark(&self, index: usize, alive: bool) {
        let Some(host) = self.hosts.get(index) else {
            return;
        };
        let mut state = lock(&host.state);
        if alive {
            *state = HostState::default();
        } else {
            state.failures = state.failures.saturating_add(1);
            let backoff = DEAD_BACKOFF_START
                .saturating_mul(1u32 << state.failures.saturating_sub(1).min(6))
                .min(DEAD_BACKOFF_MAX);
            state.dead_until = Some(Instant::now() + backoff);
        }
    }

    /// `POST /_bulk` to the next node. `gzip` says whether `body` is compressed.
    pub async fn bulk(&self, body: Bytes, gzip: bool) -> Result<Answer, RequestError> {
        let index = self.pick();
        let Some(host) = self.hosts.get(index) else {
            return Err(RequestError::Unreachable {
                host: String::new(),
                message: "no hosts configured".into(),
            });
        };
        let mut request = self
            .http
            .post(&host.bulk_url)
            .header(CONTENT_TYPE, "application/x-ndjson")
            .body(body);
        if gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        self.send(index, request).await
    }

    /// A request to one node by index (start-up checks address every node).
    pub async fn request(
        &self,
        index: usize,
        method: reqwest::Method,
        path: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<Answer, RequestError> {
        let Some(host) = self.hosts.get(index) else {
            return Err(RequestError::Unreachable {
                host: String::new(),
                message: "no such host".into(),
            });
        };
        let mut request = self.http.request(method, format!("{}{path}", host.url.0));
        if let Some(json) = json {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(json).unwrap_or_default());
        }
        self.send(index, request).await
    }

    async fn send(
        &self,
        index: usize,
        request: reqwest::RequestBuilder,
    ) -> Result<Answer, RequestError> {
        let host = self.host_url(index).to_string();
        let result = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        }
        .await;
        match result {
            Ok((status, headers, body)) => {
                self.mark(index, true);
                Ok(Answer {
                    host,
                    status,
                    headers,
                    body,
                })
            }
            Err(e) => {
                self.mark(index, false);
                let message = chain(&e);
                Err(if is_tls(&e, &message) {
                    RequestError::Tls { host, message }
                } else if is_parse_error(&e) {
                    RequestError::Protocol { host, message }
                } else {
                    RequestError::Unreachable { host, message }
                })
            }
        }
    }
}

/// An error and its causes, `: `-separated, without the URL (which reqwest prints first).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = error.source();
    while let Some(cause) = current {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = cause.source();
    }
    if parts.is_empty() {
        if let Some(e) = error.downcast_ref::<reqwest::Error>() {
            if e.is_timeout() {
                return "timed out".into();
            }
        }
        return error.to_string();
    }
    parts.join(": ")
}

fn is_tls(error: &reqwest::Error, message: &str) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = current {
        if cause.is::<tokio_rustls::rustls::Error>() {
            return true;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<tokio_rustls::rustls::Error>())
            {
                return true;
            }
        }
        current = cause.source();
    }
    // reqwest does not always keep the rustls error in the chain; its text is recognisable.
    let lower = message.to_ascii_lowercase();
    [
        "certificate",
        "tls",
        "handshake",
        "corrupt message",
        "invalidcontenttype",
        "peer is incompatible",
        "alert",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

fn is_parse_error(error: &reqwest::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = current {
        if cause
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_parse)
        {
            return true;
        }
        current = cause.source();
    }
    false
}
