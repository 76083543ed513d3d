//! The HTTP/1.1 server (hyper): binding, the accept loop, routing.
//!
//! Everything is computed on request from lock-free counters and a few `/proc` reads, so a
//! scrape costs the pipeline nothing. Connections are capped and must send their headers
//! within a few seconds, so a misbehaving client cannot pile up tasks.

use super::process::ProcessStats;
use super::prometheus;
use super::stats::{self, NodeInfo};
use super::ApiError;
use crate::config::ApiAddress;
use crate::metrics::Registry;
use crate::readiness::Readiness;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Concurrent connections served; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 64;
/// A client must send its request headers within this time.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the handlers read.
#[derive(Debug)]
pub struct ApiState {
    pub registry: Arc<Registry>,
    pub readiness: Arc<Readiness>,
    pub info: NodeInfo,
    pub started: SystemTime,
}

/// Binds the first free address of `address` (a port or a port range).
pub async fn bind(address: &ApiAddress) -> Result<TcpListener, ApiError> {
    let mut last_error = None;
    for candidate in address.candidates() {
        match TcpListener::bind(candidate).await {
            Ok(listener) => return Ok(listener),
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
                tracing::debug!(address = %candidate, "API port in use; trying the next one.");
                last_error = Some(error);
            }
            Err(source) => {
                return Err(ApiError::Bind {
                    address: address.to_string(),
                    source,
                })
            }
        }
    }
    Err(ApiError::Bind {
        address: address.to_string(),
        source: last_error.unwrap_or_else(|| std::io::ErrorKind::AddrInUse.into()),
    })
}

/// Serves until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, state: Arc<ApiState>, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accept = async {
            let slot = slots.clone().acquire_owned().await;
            (slot, listener.accept().await)
        };
        let (slot, accepted) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = accept => accepted,
        };
        let Ok(slot) = slot else { break };
        let (stream, _) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "Cannot accept an API connection.");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let state = state.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let response = handle(&state, &request);
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(slot);
        });
    }
}

/// Routes one request.
pub fn handle<B>(state: &ApiState, request: &Request<B>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"error": "method not allowed", "allowed": ["GET", "HEAD"]}),
            false,
        );
    }
    let path = request.uri().path().trim_end_matches('/');
    let pretty = request.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|p| p == "pretty" || p.starts_with("pretty="))
    });
    match path {
        "/metrics" => {
            let text = prometheus::render(
                &state.registry,
                &state.readiness.report(),
                &ProcessStats::read(state.started),
                &state.info.version,
            );
            let mut response = Response::new(Full::new(Bytes::from(text)));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(prometheus::CONTENT_TYPE),
            );
            response
        }
        "/health" => json_response(StatusCode::OK, &json!({"status": "ok"}), pretty),
        "/ready" => {
            let report = state.readiness.report();
            let status = if report.ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let not_ready: Vec<_> = report.not_ready().cloned().collect();
            let body = json!({
                "status": if report.ready { "ready" } else { "not_ready" },
                "shutting_down": report.shutting_down,
                "not_ready": not_ready,
                "components": report.components,
            });
            json_response(status, &body, pretty)
        }
        "" => json_response(
            StatusCode::OK,
            &stats::node_info(&state.info, &state.readiness.report()),
            pretty,
        ),
        _ => {
            let section = match path {
                "/_node/stats" => Some(None),
                _ => path.strip_prefix("/_node/stats/").map(Some),
            };
            let document = section.and_then(|section| {
                stats::node_stats(
                    &state.info,
                    &state.registry,
                    &state.readiness.report(),
                    &ProcessStats::read(state.started),
                    section,
                )
            });
            match document {
                Some(document) => json_response(StatusCode::OK, &document, pretty),
                None => not_found(request.uri().path()),
            }
        }
    }
}

fn not_found(path: &str) -> Response<Full<Bytes>> {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({
            "error": "not found",
            "path": path,
            "endpoints": ["/metrics", "/health", "/ready", "/_node/stats", "/"],
        }),
        false,
    )
}

fn json_response(status: StatusCode, body: &Value, pretty: bool) -> Response<Full<Bytes>> {
    let mut text = if pretty {
        serde_json::to_vec_pretty(body)
    } else {
        serde_json::to_vec(body)
    }
    .unwrap_or_default();
    text.push(b'\n');
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The address a listener is bound to, for logs and `/`.
pub fn local_address(listener: &TcpListener) -> Result<SocketAddr, ApiError> {
    listener.local_addr().map_err(|source| ApiError::Bind {
        address: "the API listener".to_string(),
        source,
    })
}
