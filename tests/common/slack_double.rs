//! A Slack incoming-webhook double: a real HTTP/1.1 server (hyper) on a loopback port that
//! answers exactly as Slack does (peers.md E, protocols.md §4.2), so the output is tested
//! through its real HTTP client:
//!
//! | request | status | content-type | body |
//! |---|---|---|---|
//! | good `{"text": ...}` | 200 | text/html | `ok` |
//! | JSON object without `text` (nor blocks/attachments) | 400 | text/html | `no_text` |
//! | not a JSON object | 400 | text/html | `invalid_payload` |
//! | more than 50 blocks, a section text over 3,000 characters | 400 | text/html | `invalid_blocks` |
//! | wrong token in the URL | 403 | text/html | `invalid_token` |
//! | revoked webhook ([`SlackDouble::revoke`]) | 404 | text/html | `no_service` |
//! | archived channel ([`SlackDouble::archive`]) | 410 | text/html | `channel_is_archived` |
//! | over the rate ([`SlackDouble::rate_limit_next`]) | 429 | application/json; charset=utf-8, `retry-after: k` | `{"retry_after":k,"ok":false,"error":"rate_limited"}` |
//! | Slack unwell ([`SlackDouble::fail_next`]) | 5xx | text/html | `rollup_error` |
//!
//! Every request is recorded with its arrival instant, path, body and the status given, so
//! tests assert content and timing from what the server saw.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The valid webhook path's team and bot parts.
const PATH_PREFIX: &str = "/services/T0SLUICE/B0SLUICE/";

/// One request as the double saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// When the request head arrived.
    pub at: Instant,
    pub path: String,
    pub body: String,
    pub status: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        self.json()["text"].as_str().unwrap_or_default().to_string()
    }
}

#[derive(Debug, Clone, Copy)]
enum Scripted {
    RateLimited { retry_after: u64 },
    Status(u16),
    Stall,
}

#[derive(Debug, Default)]
struct State {
    token: String,
    revoked: bool,
    archived: bool,
    script: VecDeque<Scripted>,
    received: Vec<Received>,
}

pub struct SlackDouble {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SlackDouble {
    /// Starts the server on `127.0.0.1:<free port>` with a fresh secret token.
    pub fn start() -> Self {
        let token = format!(
            "sEcReT{}x{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        );
        let state = Arc::new(Mutex::new(State {
            token,
            ..State::default()
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the Slack double");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("double address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("double runtime");
            runtime.block_on(serve(listener, shared, stopped));
        });
        Self {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The webhook URL (contains the secret token).
    pub fn url(&self) -> String {
        self.url_with_token(&self.token())
    }

    /// A webhook URL with another token (Slack answers 403 `invalid_token`).
    pub fn url_with_token(&self, token: &str) -> String {
        format!("http://{}{PATH_PREFIX}{token}", self.addr)
    }

    /// The secret part of [`SlackDouble::url`].
    pub fn token(&self) -> String {
        self.state.lock().unwrap().token.clone()
    }

    /// The next `n` requests get 429 with `Retry-After: retry_after`.
    pub fn rate_limit_next(&self, n: usize, retry_after: u64) {
        self.push(n, Scripted::RateLimited { retry_after });
    }

    /// The next `n` requests get `status` (5xx) with `rollup_error`.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.push(n, Scripted::Status(status));
    }

    /// The next `n` requests are never answered.
    pub fn stall_next(&self, n: usize) {
        self.push(n, Scripted::Stall);
    }

    /// The webhook is revoked: 404 `no_service` from now on.
    pub fn revoke(&self) {
        self.state.lock().unwrap().revoked = true;
    }

    /// The channel is archived: 410 `channel_is_archived` from now on.
    pub fn archive(&self) {
        self.state.lock().unwrap().archived = true;
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The requests answered `200 ok`.
    pub fn accepted(&self) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|r| r.status == 200)
            .collect()
    }

    fn push(&self, n: usize, what: Scripted) {
        let mut state = self.state.lock().unwrap();
        for _ in 0..n {
            state.script.push_back(what);
        }
    }
}

impl Drop for SlackDouble {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<Mutex<State>>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(request, state.clone()));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

fn reply(status: u16, body: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "text/html")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn answer(
    request: Request<Incoming>,
    state: Arc<Mutex<State>>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let at = Instant::now();
    let path = request.uri().path().to_string();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    let (response, stall) = {
        let mut state = state.lock().unwrap();
        let valid_path = format!("{PATH_PREFIX}{}", state.token);
        let mut stall = false;
        let response = if !path.starts_with(PATH_PREFIX) {
            reply(404, "no_service")
        } else if path != valid_path {
            reply(403, "invalid_token")
        } else if state.revoked {
            reply(404, "no_service")
        } else if state.archived {
            reply(410, "channel_is_archived")
        } else {
            match state.script.pop_front() {
                Some(Scripted::RateLimited { retry_after }) => Response::builder()
                    .status(429)
                    .header("content-type", "application/json; charset=utf-8")
                    .header("retry-after", retry_after.to_string())
                    .body(Full::new(Bytes::from(format!(
                        r#"{{"retry_after":{retry_after},"ok":false,"error":"rate_limited"}}"#
                    ))))
                    .unwrap(),
                Some(Scripted::Status(status)) => reply(status, "rollup_error"),
                Some(Scripted::Stall) => {
                    stall = true;
                    reply(200, "ok")
                }
                None => validate(&body),
            }
        };
        state.received.push(Received {
            at,
            path,
            body,
            status: if stall { 0 } else { response.status().as_u16() },
        });
        (response, stall)
    };
    if stall {
        // Never answered; the connection stays open until the client gives up.
        std::future::pending::<()>().await;
    }
    Ok(response)
}

/// Slack's payload checks.
fn validate(body: &str) -> Response<Full<Bytes>> {
    let Ok(Value::Object(payload)) = serde_json::from_str::<Value>(body) else {
        return reply(400, "invalid_payload");
    };
    let has_text = payload
        .get("text")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    let blocks = payload.get("blocks").and_then(Value::as_array);
    if !has_text && blocks.is_none() && payload.get("attachments").is_none() {
        return reply(400, "no_text");
    }
    if let Some(blocks) = blocks {
        let too_long = blocks.iter().any(|block| {
            block["text"]["text"]
                .as_str()
                .is_some_and(|t| t.chars().count() > 3000)
        });
        if blocks.len() > 50 || too_long {
            return reply(400, "invalid_blocks");
        }
    }
    reply(200, "ok")
}

/// Waits until `condition` holds on the double's requests, or `timeout` passes.
pub fn wait_for(
    double: &SlackDouble,
    timeout: Duration,
    condition: impl Fn(&[Received]) -> bool,
) -> bool {
    super::wait_until(timeout, || condition(&double.requests()))
}
