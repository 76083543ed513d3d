//! A fault-injecting fake Elasticsearch/OpenSearch node for what a real node cannot be made to
//! do on demand: 429 storms, item-level 429s, 5xx, slow answers, connections reset in the
//! middle of a request, a node that is down for a while and comes back.
//!
//! It is a real HTTP/1.1 server (hyper) on a loopback port and behaves like a node where it
//! matters to the client: it parses the real `_bulk` NDJSON (gzip too, and refuses a body whose
//! last line lacks its `\n` with 400, as a node does), keeps the documents by index and id
//! (`create` on an existing id is a 409 `version_conflict_engine_exception`, `index`
//! overwrites), generates ids when none is given, can enforce a numeric field (a
//! `mapper_parsing_exception` 400 otherwise), and answers with a node's JSON shapes (`took`,
//! `errors`, `items[{create|index:{_index,_id,_version,result,status,error:{type,reason}}}]`,
//! `GET /` as OpenSearch 2.19.6 or Elasticsearch 8.13.4). It does not implement
//! `filter_path` (it always sends the full item shape, which the client must accept anyway).
//!
//! Faults are scripted per bulk request ([`Fault`], consumed in order) or switched on and off
//! ([`FakeBulk::set_down`]). Every bulk request is recorded with the instant it arrived, so
//! tests can check backoff on the server side without sleeping.

#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to do with one bulk request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer the whole request with this status (nothing is indexed).
    Status(u16),
    /// Read the request, then close the connection without answering (nothing indexed).
    Reset,
    /// Index normally, then wait this long before answering.
    Delay(Duration),
    /// Reject every `every`-th item (positions 0, every, 2·every, ...) with `status`.
    Items { every: usize, status: u16 },
}

/// One bulk request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub items: usize,
    pub gzip: bool,
    /// The HTTP status answered, 0 when the connection was dropped.
    pub status: u16,
    pub body_bytes: usize,
    /// Items refused by an injected [`Fault::Items`].
    pub rejected: usize,
    /// Items answered 409 (already there).
    pub conflicts: usize,
}

#[derive(Default)]
struct State {
    /// index → id → document.
    docs: Mutex<HashMap<String, HashMap<String, Value>>>,
    faults: Mutex<VecDeque<Fault>>,
    seen: Mutex<Vec<Seen>>,
    down: AtomicBool,
    next_id: AtomicU64,
    /// Field that must be numeric (a mapping), like `durationMs: long`.
    numeric_field: Mutex<Option<String>>,
    elasticsearch: AtomicBool,
    /// Required `Authorization` header value.
    authorization: Mutex<Option<String>>,
    /// Root requests (`GET /`) answered.
    roots: AtomicU64,
    /// Template PUT bodies by name.
    templates: Mutex<HashMap<String, Value>>,
    /// Requests being handled now, and the most at once so far.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// Counts a request as in flight while it lives.
struct InFlight(Arc<State>);

impl InFlight {
    fn enter(state: &Arc<State>) -> Self {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running fake node; stops when dropped.
pub struct FakeBulk {
    addr: SocketAddr,
    state: Arc<State>,
    _runtime: tokio::runtime::Runtime,
}

impl FakeBulk {
    /// Starts on a free loopback port.
    pub fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap())
    }

    /// Starts on `addr` (to come back on the same port after [`FakeBulk::stop`]).
    pub fn start_on(addr: SocketAddr) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let state = Arc::new(State::default());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .expect("bind the fake node");
        let addr = listener.local_addr().unwrap();
        let serving = state.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                if serving.down.load(Ordering::SeqCst) {
                    drop(stream); // refused in effect: closed before any answer
                    continue;
                }
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(state.clone(), request));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            state,
            _runtime: runtime,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues faults for the next bulk requests, in order.
    pub fn push(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state.faults.lock().unwrap().extend(faults);
    }

    /// Faults not yet consumed.
    pub fn pending_faults(&self) -> usize {
        self.state.faults.lock().unwrap().len()
    }

    /// While down, every connection is closed before anything is answered.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    /// Documents whose `field` is not a number are refused like a `long` mapping does.
    pub fn require_numeric(&self, field: &str) {
        *self.state.numeric_field.lock().unwrap() = Some(field.to_string());
    }

    /// Answer `GET /` as Elasticsearch 8 instead of OpenSearch 2.
    pub fn as_elasticsearch(&self) {
        self.state.elasticsearch.store(true, Ordering::SeqCst);
    }

    /// Requests without exactly this `Authorization` header get 401.
    pub fn require_authorization(&self, value: &str) {
        *self.state.authorization.lock().unwrap() = Some(value.to_string());
    }

    /// Every bulk request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// The most requests that were being handled at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn root_requests(&self) -> u64 {
        self.state.roots.load(Ordering::SeqCst)
    }

    pub fn templates(&self) -> HashMap<String, Value> {
        self.state.templates.lock().unwrap().clone()
    }

    /// Documents per index.
    pub fn counts(&self) -> HashMap<String, usize> {
        self.state
            .docs
            .lock()
            .unwrap()
            .iter()
            .map(|(index, docs)| (index.clone(), docs.len()))
            .collect()
    }

    pub fn total(&self) -> usize {
        self.counts().values().sum()
    }

    /// Every stored document with its index and id.
    /// Calls `visit` with every stored document, without copying them (cheap enough to poll).
    pub fn visit_documents(&self, mut visit: impl FnMut(&Value)) {
        let docs = self.state.docs.lock().unwrap();
        for doc in docs.values().flat_map(HashMap::values) {
            visit(doc);
        }
    }

    pub fn documents(&self) -> Vec<(String, String, Value)> {
        let docs = self.state.docs.lock().unwrap();
        let mut all = Vec::new();
        for (index, by_id) in docs.iter() {
            for (id, doc) in by_id {
                all.push((index.clone(), id.clone(), doc.clone()));
            }
        }
        all
    }
}

type Answer = Result<Response<Full<Bytes>>, std::io::Error>;

fn respond(status: u16, body: Value) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    Ok(response)
}

fn error_body(status: u16, kind: &str, reason: &str) -> Value {
    json!({"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}, "status": status})
}

async fn handle(state: Arc<State>, request: Request<Incoming>) -> Answer {
    let _in_flight = InFlight::enter(&state);
    if state.down.load(Ordering::SeqCst) {
        return Err(std::io::Error::other("down"));
    }
    let required = state.authorization.lock().unwrap().clone();
    if let Some(required) = required {
        let given = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if given != Some(required.as_str()) {
            return respond(
                401,
                error_body(
                    401,
                    "security_exception",
                    "missing authentication credentials",
                ),
            );
        }
    }
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let gzip = request
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    let body = request
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    match (method.as_str(), path.as_str()) {
        ("GET", "/") => {
            state.roots.fetch_add(1, Ordering::SeqCst);
            if state.elasticsearch.load(Ordering::SeqCst) {
                let mut response = respond(
                    200,
                    json!({"name": "fake", "cluster_name": "fake-cluster", "version": {"number": "8.13.4", "build_flavor": "default"}, "tagline": "You Know, for Search"}),
                )?;
                response
                    .headers_mut()
                    .insert("x-elastic-product", "Elasticsearch".parse().unwrap());
                Ok(response)
            } else {
                respond(
                    200,
                    json!({"name": "fake", "cluster_name": "fake-cluster", "version": {"distribution": "opensearch", "number": "2.19.6"}, "tagline": "The OpenSearch Project: https://opensearch.org/"}),
                )
            }
        }
        ("GET", p) if p.starts_with("/_index_template/") => {
            let name = &p["/_index_template/".len()..];
            match state.templates.lock().unwrap().get(name) {
                Some(t) => respond(
                    200,
                    json!({"index_templates": [{"name": name, "index_template": t}]}),
                ),
                None => respond(
                    404,
                    error_body(
                        404,
                        "resource_not_found_exception",
                        "index template matching [x] not found",
                    ),
                ),
            }
        }
        ("PUT", p) if p.starts_with("/_index_template/") => {
            let name = p["/_index_template/".len()..].to_string();
            match serde_json::from_slice::<Value>(&body) {
                Ok(template) => {
                    state.templates.lock().unwrap().insert(name, template);
                    respond(200, json!({"acknowledged": true}))
                }
                Err(_) => respond(400, error_body(400, "parse_exception", "not JSON")),
            }
        }
        ("POST", "/_bulk") => bulk(&state, &body, gzip).await,
        _ => respond(404, error_body(404, "not_found", "no handler")),
    }
}

async fn bulk(state: &State, body: &[u8], gzip: bool) -> Answer {
    let started = Instant::now();
    let raw = if gzip {
        let mut text = Vec::new();
        if flate2::read::GzDecoder::new(body)
            .read_to_end(&mut text)
            .is_err()
        {
            return respond(400, error_body(400, "parse_exception", "bad gzip"));
        }
        text
    } else {
        body.to_vec()
    };
    let lines: Vec<&[u8]> = raw.split(|b| *b == b'\n').collect();
    let items = lines.len().saturating_sub(1) / 2;
    let fault = state.faults.lock().unwrap().pop_front();
    let record_with = |status: u16, rejected: usize, conflicts: usize| {
        state.seen.lock().unwrap().push(Seen {
            at: started,
            items,
            gzip,
            status,
            body_bytes: body.len(),
            rejected,
            conflicts,
        });
    };
    let record = |status: u16| record_with(status, 0, 0);
    let mut rejected_count = 0;
    let mut conflict_count = 0;
    if !raw.ends_with(b"\n") {
        record(400);
        return respond(
            400,
            error_body(
                400,
                "illegal_argument_exception",
                "The bulk request must be terminated by a newline [\\n]",
            ),
        );
    }
    match &fault {
        Some(Fault::Status(status)) => {
            record(*status);
            let kind = if *status == 429 {
                "es_rejected_execution_exception"
            } else {
                "internal_server_error"
            };
            return respond(*status, error_body(*status, kind, "injected"));
        }
        Some(Fault::Reset) => {
            record(0);
            return Err(std::io::Error::other("reset"));
        }
        _ => {}
    }
    let numeric = state.numeric_field.lock().unwrap().clone();
    let mut results = Vec::new();
    let mut errors = false;
    for (position, pair) in lines[..lines.len() - 1].chunks(2).enumerate() {
        let [action, source] = pair else {
            record(400);
            return respond(
                400,
                error_body(400, "illegal_argument_exception", "action without source"),
            );
        };
        let (Ok(action), Ok(source)) = (
            serde_json::from_slice::<Map<String, Value>>(action),
            serde_json::from_slice::<Value>(source),
        ) else {
            record(400);
            return respond(
                400,
                error_body(400, "x_content_parse_exception", "malformed line"),
            );
        };
        let Some((op, meta)) = action.into_iter().next() else {
            record(400);
            return respond(
                400,
                error_body(400, "illegal_argument_exception", "empty action"),
            );
        };
        let index = meta["_index"].as_str().unwrap_or("").to_string();
        let id = match meta.get("_id").and_then(Value::as_str) {
            Some(id) => id.to_string(),
            None => format!("auto-{}", state.next_id.fetch_add(1, Ordering::SeqCst)),
        };
        let rejected = match &fault {
            Some(Fault::Items { every, status }) if position.is_multiple_of(*every) => {
                Some(*status)
            }
            _ => None,
        };
        let outcome = if let Some(status) = rejected {
            rejected_count += 1;
            Err((
                status,
                "es_rejected_execution_exception".to_string(),
                "rejected execution (injected)".to_string(),
            ))
        } else if index.is_empty() || index.contains('%') || index != index.to_lowercase() {
            Err((
                400,
                "invalid_index_name_exception".into(),
                format!("Invalid index name [{index}]"),
            ))
        } else if let Some(field) = numeric
            .as_ref()
            .filter(|f| source.get(f.as_str()).is_some_and(|v| !v.is_number()))
        {
            Err((
                400,
                "mapper_parsing_exception".into(),
                format!(
                    "failed to parse field [{field}] of type [long] in document with id '{id}'"
                ),
            ))
        } else {
            let mut docs = state.docs.lock().unwrap();
            let by_id = docs.entry(index.clone()).or_default();
            match (op.as_str(), by_id.contains_key(&id)) {
                ("create", true) => Err((
                    409,
                    "version_conflict_engine_exception".into(),
                    format!(
                        "[{id}]: version conflict, document already exists (current version [1])"
                    ),
                )),
                (_, existed) => {
                    by_id.insert(id.clone(), source);
                    Ok(if existed {
                        (200, "updated")
                    } else {
                        (201, "created")
                    })
                }
            }
        };
        let item = match outcome {
            Ok((status, result)) => {
                json!({"_index": index, "_id": id, "_version": 1, "result": result, "_shards": {"total": 1, "successful": 1, "failed": 0}, "_seq_no": 0, "_primary_term": 1, "status": status})
            }
            Err((status, kind, reason)) => {
                errors = true;
                conflict_count += usize::from(status == 409);
                json!({"_index": index, "_id": id, "status": status, "error": {"type": kind, "reason": reason, "index": index}})
            }
        };
        results.push(json!({ op: item }));
    }
    if let Some(Fault::Delay(delay)) = fault {
        tokio::time::sleep(delay).await;
    }
    record_with(200, rejected_count, conflict_count);
    respond(
        200,
        json!({"took": started.elapsed().as_millis() as u64, "errors": errors, "items": results}),
    )
}
