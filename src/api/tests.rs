//! Routing, over a real loopback connection where the transport matters and directly on the
//! handler otherwise. The binary's end-to-end behaviour is in `tests/monitoring.rs`.

use super::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};

fn state() -> ApiState {
    ApiState {
        registry: Arc::new(Registry::default()),
        readiness: Arc::new(Readiness::default()),
        info: stats::NodeInfo {
            host: "box".to_string(),
            version: "0.0.0".to_string(),
            http_address: "127.0.0.1:9600".parse().unwrap(),
            settings: PipelineSettings::default(),
        },
        started: SystemTime::now(),
    }
}

fn get(state: &ApiState, uri: &str) -> (StatusCode, String, String) {
    let request = Request::get(uri).body(()).unwrap();
    let response = handle(state, &request);
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = futures_body(response.into_body());
    (status, content_type, body)
}

fn futures_body(body: Full<Bytes>) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let bytes = runtime.block_on(body.collect()).unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn health_is_always_ok_and_unknown_paths_are_json_404() {
    let state = state();
    let (status, content_type, body) = get(&state, "/health");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["status"],
        "ok"
    );
    let (status, _, body) = get(&state, "/nope?x=1");
    assert_eq!(status, StatusCode::NOT_FOUND);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["path"], "/nope");
    assert_eq!(get(&state, "/_node/stats/jvm").0, StatusCode::NOT_FOUND);
}

#[test]
fn ready_names_what_is_not_ready() {
    let state = state();
    let input = state.readiness.register("input", "logs", "file");
    let output = state.readiness.register("output", "archive", "file");
    input.set_ready();
    output.set_not_ready("cannot create out: Permission denied");
    let (status, _, body) = get(&state, "/ready");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["not_ready"].as_array().unwrap().len(), 1);
    assert_eq!(body["not_ready"][0]["id"], "archive");
    assert_eq!(body["not_ready"][0]["kind"], "output");
    assert_eq!(
        body["not_ready"][0]["reason"],
        "cannot create out: Permission denied"
    );
    output.set_ready();
    assert_eq!(get(&state, "/ready").0, StatusCode::OK);
}

#[test]
fn metrics_use_the_prometheus_content_type() {
    let state = state();
    let (status, content_type, body) = get(&state, "/metrics");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, prometheus::CONTENT_TYPE);
    assert!(body.contains("# TYPE sluice_build_info gauge"));
}

#[test]
fn other_methods_are_refused() {
    let state = state();
    let request = Request::post("/metrics").body(()).unwrap();
    assert_eq!(
        handle(&state, &request).status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn a_taken_port_moves_to_the_next_of_the_range_and_a_single_port_fails() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = taken.local_addr().unwrap().port();
    let single: ApiAddress = format!("127.0.0.1:{port}").parse().unwrap();
    let error = BoundApi::bind(&single).await.unwrap_err().to_string();
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    assert!(error.contains("enabled = false"), "{error}");
    if port < u16::MAX {
        let range: ApiAddress = format!("127.0.0.1:{port}-{}", port + 1).parse().unwrap();
        // The next port may itself be taken by something else on a busy machine.
        if let Ok(bound) = BoundApi::bind(&range).await {
            assert_eq!(bound.local_addr().port(), port + 1);
        }
    }
}
