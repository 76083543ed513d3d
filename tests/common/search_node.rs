//! A real search-engine node for the integration tests: OpenSearch 2.19 (and Elasticsearch 7.17)
//! started from its Maven Central jars by a small Java main under `tests/peers/<flavour>/`.
//!
//! Why a real node: what sluice's Elasticsearch output must get right is the server's side of
//! `_bulk` (per-item statuses, mapping conflicts, version conflicts on `create`, templates
//! applied to daily indices); a fake would only echo our own reading of the docs.
//!
//! How: the first test that calls [`search_node`] builds the peer with Maven into
//! `target/tmp/search-node/<flavour>/build` (skipped when a build of the same sources exists;
//! test binaries running in parallel serialise on a file lock), then starts one node for the
//! whole test process on an ephemeral loopback port and waits for the single
//! `READY http=127.0.0.1:<port>` line it prints on stdout. The node runs until its standard
//! input ends: this process keeps the write end of that pipe for its whole life, so however the
//! tests end (success, panic, SIGKILL) the kernel closes it and the JVM closes the node and
//! exits. Each node gets its own home directory `run-<pid>`, locked while it runs; the next start
//! removes the directories whose owner is gone.
//!
//! Java 17 and Maven are required: without them the test fails with a message saying so (CI has
//! both), it is never skipped silently.
//!
//! Tests in one binary share the node and run in parallel: each test uses its own index names
//! (and template names and patterns). The HTTP helpers are blocking and callable both from plain
//! `#[test]`s and from inside a tokio runtime: they run on the harness's own runtime.
//!
//! ```ignore
//! let node = search_node(); // OpenSearch 2.19.6; search_node_flavour(Flavour::Elasticsearch7)
//! node.delete_indices("es-resend-*");
//! // ... run sluice with `hosts = ["<node.url()>"]`, `index = "es-resend-%{+YYYY.MM.dd}"` ...
//! assert_eq!(node.wait_for_count("es-resend-*", 333, Duration::from_secs(60)), 333);
//! assert_eq!(node.field_type("es-resend-*", "durationMs").as_deref(), Some("long"));
//! ```

/// One `#[test]` per case and flavour: `opensearch::<case>` and `elasticsearch7::<case>`, each
/// calling `<case>(search_node_flavour(..))` of the test file (which imports
/// `search_node_flavour` and `Flavour`).
#[allow(unused_macros)]
macro_rules! search_node_tests {
    ($($case:ident),* $(,)?) => {
        search_node_tests!(@flavour opensearch, OpenSearch, [$($case),*]);
        search_node_tests!(@flavour elasticsearch7, Elasticsearch7, [$($case),*]);
    };
    (@flavour $module:ident, $flavour:ident, [$($case:ident),*]) => {
        mod $module {
            $(
                #[test]
                fn $case() {
                    super::$case(super::search_node_flavour(super::Flavour::$flavour));
                }
            )*
        }
    };
}

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a node may take from `java` to READY (a cold JVM on a busy 2-core machine).
const START_DEADLINE: Duration = Duration::from_secs(180);
/// How long a single HTTP request to the node may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Which search engine a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// OpenSearch 2.19 (`tests/peers/opensearch`).
    OpenSearch,
    /// Elasticsearch 7.17 (`tests/peers/elasticsearch7`).
    Elasticsearch7,
}

impl Flavour {
    /// The peer's folder under `tests/peers/`.
    fn dir_name(self) -> &'static str {
        match self {
            Flavour::OpenSearch => "opensearch",
            Flavour::Elasticsearch7 => "elasticsearch7",
        }
    }

    fn main_class(self) -> &'static str {
        "sluice.peer.SearchNode"
    }

    /// The version line the node must report on `GET /`.
    pub fn expected_version_prefix(self) -> &'static str {
        match self {
            Flavour::OpenSearch => "2.19.",
            Flavour::Elasticsearch7 => "7.17.",
        }
    }

    /// `version.distribution` on `GET /` (Elasticsearch has none).
    pub fn distribution(self) -> Option<&'static str> {
        match self {
            Flavour::OpenSearch => Some("opensearch"),
            Flavour::Elasticsearch7 => None,
        }
    }

    fn peer_dir(self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/peers")
            .join(self.dir_name())
    }

    fn work_dir(self) -> PathBuf {
        Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("search-node")
            .join(self.dir_name())
    }
}

/// A running node, shared by every test of the test process.
pub struct SearchNode {
    url: String,
    flavour: Flavour,
    version: String,
    log_path: PathBuf,
    /// The JVM runs until this pipe closes (when this process exits).
    _stdin: ChildStdin,
    _child: Child,
    /// Held while the node runs, so that no other start removes its home directory.
    _run_lock: File,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

/// A response from the node: the status, the headers (e.g. `x-elastic-product`) and the JSON
/// body (`Value::Null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

/// How long a freshly created index may answer 503 while its shards start.
const SHARDS_STARTING: Duration = Duration::from_secs(30);

/// The OpenSearch node of this test process, started on first use. Panics (failing the test)
/// with the reason when it cannot be built or started.
pub fn search_node() -> &'static SearchNode {
    search_node_flavour(Flavour::OpenSearch)
}

/// The node of the given flavour for this test process, started on first use.
pub fn search_node_flavour(flavour: Flavour) -> &'static SearchNode {
    static OPENSEARCH: OnceLock<Result<SearchNode, String>> = OnceLock::new();
    static ELASTICSEARCH7: OnceLock<Result<SearchNode, String>> = OnceLock::new();
    let cell = match flavour {
        Flavour::OpenSearch => &OPENSEARCH,
        Flavour::Elasticsearch7 => &ELASTICSEARCH7,
    };
    // A failed start is remembered: every test that needs the node fails with the same reason
    // instead of building and starting again.
    match cell.get_or_init(|| SearchNode::start(flavour)) {
        Ok(node) => node,
        Err(reason) => panic!("the {flavour:?} test node is not available: {reason}"),
    }
}

impl SearchNode {
    fn start(flavour: Flavour) -> Result<Self, String> {
        let work = flavour.work_dir();
        std::fs::create_dir_all(&work)
            .map_err(|e| format!("cannot create {}: {e}", work.display()))?;
        let lock_path = work.join("build.lock");
        let lock = File::create(&lock_path)
            .map_err(|e| format!("cannot create {}: {e}", lock_path.display()))?;
        lock.lock()
            .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
        let build = build_peer(flavour, &work)?;
        remove_abandoned_runs(&work);
        let run = work.join(format!("run-{}", std::process::id()));
        let run_lock_path = run.with_extension("lock");
        let run_lock = File::create(&run_lock_path)
            .map_err(|e| format!("cannot create {}: {e}", run_lock_path.display()))?;
        run_lock
            .lock()
            .map_err(|e| format!("cannot lock {}: {e}", run_lock_path.display()))?;
        drop(lock);

        let _ = std::fs::remove_dir_all(&run);
        std::fs::create_dir_all(&run)
            .map_err(|e| format!("cannot create {}: {e}", run.display()))?;
        let log_path = run.with_extension("log");
        let log = File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let classpath = format!(
            "{}:{}",
            build.join("classes").display(),
            build.join("lib/*").display()
        );
        let started = Instant::now();
        let mut child = Command::new("java")
            // C1 only: half the CPU to start on a busy 2-core machine (measured 12.5 s -> 6.8 s
            // of CPU), and the tests index far too little for C2 to pay off.
            .args(["-Xms512m", "-Xmx1g", "-XX:TieredStopAtLevel=1"])
            .args(["-cp", &classpath, flavour.main_class()])
            .arg(&run)
            .arg("0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot run java ({e}): Java 17 must be installed and on PATH to run the \
                     search-node tests"
                )
            })?;
        let stdin = child.stdin.take().ok_or("java has no stdin pipe")?;
        let stdout = child.stdout.take().ok_or("java has no stdout pipe")?;
        let port = match wait_for_ready(stdout) {
            Ok(port) => port,
            Err(reason) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!(
                    "{reason}; node log {}:\n{}",
                    log_path.display(),
                    tail(&log, 6000)
                ));
            }
        };
        let ready_after = started.elapsed();

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("search-node-http")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot build the HTTP runtime: {e}"))?;
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let mut node = SearchNode {
            url: format!("http://127.0.0.1:{port}"),
            flavour,
            version: String::new(),
            log_path,
            _stdin: stdin,
            _child: child,
            _run_lock: run_lock,
            runtime,
            client,
        };
        let root = node.try_request("GET", "/", None)?;
        let version = root.body["version"]["number"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let distribution = root.body["version"]["distribution"].as_str();
        if root.status != 200
            || !version.starts_with(flavour.expected_version_prefix())
            || distribution != flavour.distribution()
        {
            return Err(format!(
                "GET / answered {} with {}, not {flavour:?} {}x",
                root.status,
                root.body,
                flavour.expected_version_prefix()
            ));
        }
        node.version = version;
        eprintln!(
            "search node: {flavour:?} {} at {} ready after {:.1} s",
            node.version,
            node.url,
            ready_after.as_secs_f64()
        );
        Ok(node)
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    /// `version.number` from `GET /`, e.g. `2.19.6`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The node's own log (stderr: warnings and errors), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends `method path` with an optional JSON body. Panics when the node cannot be reached.
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Response {
        let body = body.map(|b| (b.to_string(), "application/json"));
        self.try_request(method, path, body)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sends NDJSON (e.g. a `_bulk` body, every line ending in `\n`).
    pub fn request_ndjson(&self, method: &str, path: &str, ndjson: &str) -> Response {
        self.try_request(
            method,
            path,
            Some((ndjson.to_string(), "application/x-ndjson")),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `POST /_bulk` with the given NDJSON lines; returns the response (asserting status 200:
    /// item failures are in `items`).
    pub fn bulk(&self, ndjson: &str) -> Value {
        let response = self.request_ndjson("POST", "/_bulk", ndjson);
        assert_eq!(response.status, 200, "_bulk failed: {}", response.body);
        response.body
    }

    /// Makes everything indexed so far into indices matching `index` visible to search.
    pub fn refresh(&self, index: &str) {
        let response = self.request(
            "POST",
            &format!("/{index}/_refresh?ignore_unavailable=true&allow_no_indices=true"),
            None,
        );
        assert_eq!(
            response.status, 200,
            "refresh {index} failed: {}",
            response.body
        );
    }

    /// Documents in the indices matching `index_pattern` (refreshed first, so everything
    /// indexed before the call counts); 0 when no index matches.
    ///
    /// An index sluice has just created may not have its shard started yet: the node then
    /// answers 503 ("all shards failed"), which is retried for up to [`SHARDS_STARTING`].
    pub fn count(&self, index_pattern: &str) -> u64 {
        let starting = Instant::now() + SHARDS_STARTING;
        let response = loop {
            self.refresh(index_pattern);
            let response = self.request(
                "GET",
                &format!("/{index_pattern}/_count?ignore_unavailable=true&allow_no_indices=true"),
                None,
            );
            if response.status != 503 || Instant::now() >= starting {
                break response;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(
            response.status, 200,
            "count {index_pattern} failed: {}",
            response.body
        );
        response.body["count"]
            .as_u64()
            .unwrap_or_else(|| panic!("count without a number: {}", response.body))
    }

    /// Polls [`count`](Self::count) until it reaches `expected` or `timeout` passes; returns
    /// the last count (so a test can assert it equals `expected`: more means duplicates).
    pub fn wait_for_count(&self, index_pattern: &str, expected: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let count = self.count(index_pattern);
            if count >= expected || Instant::now() >= deadline {
                return count;
            }
            // Each poll refreshes: a slower pace than `wait_until`'s keeps the node's work low.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `POST /<index>/_search` with `query` as the whole request body (e.g.
    /// `{"query": {...}, "size": 100}`), refreshed first. Returns the response body.
    pub fn search(&self, index: &str, query: &Value) -> Value {
        self.refresh(index);
        let response = self.request("POST", &format!("/{index}/_search"), Some(query));
        assert_eq!(
            response.status, 200,
            "search {index} failed: {}",
            response.body
        );
        response.body
    }

    /// The `_source` of every document in `index` (up to 10,000), sorted by nothing in
    /// particular.
    pub fn sources(&self, index: &str) -> Vec<Value> {
        let body = self.search(
            index,
            &json!({ "size": 10000, "query": { "match_all": {} } }),
        );
        body["hits"]["hits"]
            .as_array()
            .map(|hits| hits.iter().map(|h| h["_source"].clone()).collect())
            .unwrap_or_default()
    }

    /// `GET /<index>/_mapping`: `{"<index>": {"mappings": {...}}, ...}`.
    pub fn mapping(&self, index: &str) -> Value {
        let response = self.request("GET", &format!("/{index}/_mapping"), None);
        assert_eq!(
            response.status, 200,
            "mapping of {index} failed: {}",
            response.body
        );
        response.body
    }

    /// The mapped type of `field` (a dotted path such as `log.file.path` or `message.keyword`)
    /// in the first of the indices matching `index` that maps it, or `None` when none does.
    /// Objects report `object`.
    pub fn field_type(&self, index: &str, field: &str) -> Option<String> {
        let mapping = self.mapping(index);
        mapping
            .as_object()?
            .values()
            .find_map(|index| mapped_type(&index["mappings"], field))
    }

    /// Deletes the indices matching `pattern` (nothing when none does).
    pub fn delete_indices(&self, pattern: &str) {
        let response = self.request(
            "DELETE",
            &format!("/{pattern}?ignore_unavailable=true&allow_no_indices=true"),
            None,
        );
        assert!(
            response.status == 200 || response.status == 404,
            "delete {pattern} failed: {} {}",
            response.status,
            response.body
        );
    }

    /// `PUT /_index_template/<name>` (a composable template); panics unless acknowledged.
    pub fn put_index_template(&self, name: &str, body: &Value) {
        let response = self.request("PUT", &format!("/_index_template/{name}"), Some(body));
        assert_eq!(
            response.status, 200,
            "index template {name} refused: {}",
            response.body
        );
    }

    /// `DELETE /_index_template/<name>` (nothing when it does not exist).
    pub fn delete_index_template(&self, name: &str) {
        let response = self.request("DELETE", &format!("/_index_template/{name}"), None);
        assert!(
            response.status == 200 || response.status == 404,
            "delete index template {name} failed: {} {}",
            response.status,
            response.body
        );
    }

    fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<(String, &'static str)>,
    ) -> Result<Response, String> {
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| format!("bad method {method}: {e}"))?;
        let url = format!("{}{path}", self.url);
        let mut request = self.client.request(method.clone(), &url);
        if let Some((body, content_type)) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body);
        }
        let run = async move {
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let bytes = response.bytes().await.map_err(|e| e.to_string())?;
            Ok::<_, String>(Response {
                status,
                headers,
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            })
        };
        // A scoped thread has no runtime context, so this works from inside async tests too.
        std::thread::scope(|scope| {
            scope
                .spawn(|| self.runtime.block_on(run))
                .join()
                .map_err(|_| "the HTTP request thread panicked".to_string())?
        })
        .map_err(|e| format!("{method} {url}: {e}"))
    }
}

/// The type of `field` in one index's `mappings`.
fn mapped_type(mappings: &Value, field: &str) -> Option<String> {
    let mut node = mappings;
    for part in field.split('.') {
        let property = &node["properties"][part];
        // `message.keyword`: a multi-field lives under `fields`.
        node = if property.is_null() {
            &node["fields"][part]
        } else {
            property
        };
        if node.is_null() {
            return None;
        }
    }
    Some(node["type"].as_str().unwrap_or("object").to_string())
}

/// Builds the peer unless `work/build` holds a build of the current sources; returns the build
/// directory. The caller holds the build lock.
fn build_peer(flavour: Flavour, work: &Path) -> Result<PathBuf, String> {
    build_maven_peer(&flavour.peer_dir(), work, "test search node")
}

/// Builds the Maven peer in `peer` (`tests/peers/<name>`) into `work/build`, unless it holds
/// a build of the current sources; returns the build directory (`classes/`, `lib/`). The caller
/// holds the build lock. `what` names the peer in messages. Shared with the Kafka broker.
pub fn build_maven_peer(peer: &Path, work: &Path, what: &str) -> Result<PathBuf, String> {
    let fingerprint = source_fingerprint(peer)?;
    let build = work.join("build");
    let marker = build.join("built-from.sha256");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(fingerprint.as_str()) {
        return Ok(build);
    }
    // Stale jars of an older version must not stay on the classpath.
    let _ = std::fs::remove_dir_all(&build);
    let started = Instant::now();
    let output = Command::new("mvn")
        .args(["-q", "-B", "-f"])
        .arg(peer.join("pom.xml"))
        .arg(format!("-Dpeer.build.dir={}", build.display()))
        .args(["package", "dependency:copy-dependencies"])
        .output()
        .map_err(|e| {
            format!(
                "cannot run mvn ({e}): Maven and Java 17 must be installed and on PATH to build \
                 the {what} in {}",
                peer.display()
            )
        })?;
    if !output.status.success() {
        return Err(format!(
            "building the {what} failed (mvn in {}, {}):\n{}\n{}",
            peer.display(),
            output.status,
            tail(&String::from_utf8_lossy(&output.stdout), 6000),
            tail(&String::from_utf8_lossy(&output.stderr), 6000)
        ));
    }
    std::fs::write(&marker, &fingerprint)
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    eprintln!(
        "{what}: built {} in {:.1} s",
        peer.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(build)
}

/// A hash of the pom and every file under `src/`: a changed pin or main rebuilds the peer.
fn source_fingerprint(peer: &Path) -> Result<String, String> {
    let mut files = vec![peer.join("pom.xml")];
    let mut dirs = vec![peer.join("src")];
    while let Some(dir) = dirs.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        let bytes =
            std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        hasher.update(
            file.strip_prefix(peer)
                .unwrap_or(&file)
                .to_string_lossy()
                .as_bytes(),
        );
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Removes the home directories of nodes whose test process is gone (their lock is free).
/// The caller holds the build lock, so no start is between creating and locking its run.
pub fn remove_abandoned_runs(work: &Path) {
    let Ok(entries) = std::fs::read_dir(work) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_run_lock = path.extension().is_some_and(|e| e == "lock")
            && path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("run-"));
        if !is_run_lock {
            continue;
        }
        let Ok(file) = File::open(&path) else {
            continue;
        };
        if file.try_lock().is_ok() {
            let _ = std::fs::remove_dir_all(path.with_extension(""));
            let _ = std::fs::remove_file(path.with_extension("log"));
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Reads the node's stdout until the READY line and returns the HTTP port; keeps draining
/// stdout afterwards on a thread so that the JVM never blocks on a full pipe.
fn wait_for_ready(stdout: std::process::ChildStdout) -> Result<u16, String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::Builder::new()
        .name("search-node-stdout".into())
        .spawn(move || {
            let mut sender = Some(sender);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(address) = line.strip_prefix("READY http=") {
                    if let Some(sender) = sender.take() {
                        let _ = sender.send(address.to_string());
                    }
                }
            }
        })
        .map_err(|e| format!("cannot start the stdout reader: {e}"))?;
    let address = match receiver.recv_timeout(START_DEADLINE) {
        Ok(address) => address,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            return Err(format!(
                "the node printed no READY line within {} s",
                START_DEADLINE.as_secs()
            ))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            return Err("the node exited before it was ready".to_string())
        }
    };
    address
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .ok_or_else(|| format!("the READY line has no port: {address:?}"))
}

/// The last `max` bytes of `text` (on a character boundary).
pub fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}
