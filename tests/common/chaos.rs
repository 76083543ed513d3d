//! Helpers of the chaos suite (`tests/chaos.rs`): the pipeline it runs, reading a running
//! sluice's metrics and peak memory, and tallying what reached Elasticsearch by line id.
//!
//! Every line the winston producer writes carries a unique `seq` (`tests/fixtures/node/
//! producer.js`), and the Elasticsearch output runs with `deterministic_ids = false`, so a line
//! delivered twice is stored twice: the tally sees the pipeline's duplicates instead of the
//! node hiding them behind a 409.

use super::Sluice;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Events per batch in the chaos pipelines, both the inputs' batches and the Elasticsearch
/// output's bulk requests: "one batch" in the duplicate bounds.
pub const BATCH_SIZE: u64 = 128;

/// The disk queue as issue 17 configures it.
pub const DISK_QUEUE: &str =
    "[pipeline.queue]\ntype = \"disk\"\nmax_bytes = \"256MiB\"\nfsync = \"batch\"\n";

/// Where the chaos pipelines' winston writes (`app.log`, rotated to `app1.log`, `app2.log`...).
pub fn logs_dir(dir: &Path) -> PathBuf {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).expect("create the logs directory");
    logs
}

/// Writes the pipeline of a chaos case: winston's files → `json` → Elasticsearch at
/// `elasticsearch_url` (one bulk request at a time of at most [`BATCH_SIZE`] events, so "a
/// batch in flight" is one batch; ids picked by the
/// node, retries every 50 to 400 ms so a node coming back is noticed at once), with `queue` appended to `[pipeline]` (empty: the memory queue)
/// and `more_outputs` after the Elasticsearch output.
pub fn write_pipeline(
    dir: &Path,
    elasticsearch_url: &str,
    queue: &str,
    more_outputs: &str,
) -> PathBuf {
    write_pipeline_into(dir, elasticsearch_url, None, queue, more_outputs)
}

/// [`write_pipeline`] indexing into `index` (an `index` option of the Elasticsearch output)
/// instead of the output's default: a case against the shared real node keeps to its own
/// indices.
pub fn write_pipeline_into(
    dir: &Path,
    elasticsearch_url: &str,
    index: Option<&str>,
    queue: &str,
    more_outputs: &str,
) -> PathBuf {
    let index = index.map_or(String::new(), |index| format!("index = {index:?}\n"));
    let text = format!(
        "data_dir = {data:?}\n\
         [pipeline]\nbatch_size = {BATCH_SIZE}\nworkers = 1\nqueue_batches = 2\nshutdown_timeout = \"20s\"\n\
         {queue}\n\
         [inputs.app]\ntype = \"file\"\npaths = [{logs:?}]\nscan_interval = \"100ms\"\n\n\
         [[filters]]\ntype = \"json\"\nsource = \"message\"\n\n\
         [outputs.es]\ntype = \"elasticsearch\"\nhosts = [{elasticsearch_url:?}]\n\
         max_events = {BATCH_SIZE}\nconcurrency = 1\nflush_interval = \"50ms\"\ndeterministic_ids = false\n\
         retry_initial_interval = \"50ms\"\nretry_max_interval = \"400ms\"\n{index}\n\
         {more_outputs}\n",
        data = dir.join("data").display().to_string(),
        logs = logs_dir(dir).join("app*.log").display().to_string(),
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).expect("write the chaos pipeline");
    path
}

/// The id of the newest line winston has written so far (the highest `seq` among the last
/// whole lines of its files), `None` before the first.
pub fn newest_written_seq(logs: &Path) -> Option<u64> {
    let entries = std::fs::read_dir(logs).ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let mut file = std::fs::File::open(entry.path()).ok()?;
            let len = file.metadata().ok()?.len();
            let start = len.saturating_sub(4096);
            std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(start)).ok()?;
            let mut tail = String::new();
            file.read_to_string(&mut tail).ok()?;
            let whole = &tail[..tail.rfind('\n')?];
            let last = whole.rsplit('\n').next()?;
            serde_json::from_str::<Value>(last).ok()?["seq"].as_u64()
        })
        .max()
}

/// The peak resident set of a running process (`VmHWM` in `/proc/<pid>/status`), in MiB.
pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
        .unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status:\n{status}"))
}

/// Asserts that a running sluice's peak RSS so far is under `bound_mib`; returns it.
pub fn assert_peak_rss_under(sluice: &Sluice, bound_mib: f64) -> f64 {
    let peak = peak_rss_mib(sluice.pid());
    assert!(
        peak < bound_mib,
        "peak RSS {peak:.1} MiB is over the bound of {bound_mib} MiB\n{}",
        sluice.stderr()
    );
    peak
}

/// The monitoring API's base URL, from the `API listening on http://...` log line (sluice
/// picks the first free port of 9600-9700, so parallel runs each get their own).
pub fn api_url(sluice: &Sluice) -> String {
    let mut url = None;
    let found = super::wait_until(Duration::from_secs(30), || {
        url = sluice.stderr().lines().find_map(|line| {
            line.split_whitespace()
                .find(|word| word.starts_with("http://"))
                .filter(|_| line.contains("API listening on"))
                .map(|word| word.trim_end_matches(['.', ',', '"']).to_string())
        });
        url.is_some()
    });
    assert!(found, "no API address logged:\n{}", sluice.stderr());
    url.unwrap_or_default()
}

/// `GET url` (plain HTTP on loopback): the body when the answer is 200.
fn http_get(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = std::net::TcpStream::connect(authority).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| dechunk(head, body))
}

/// The body of a response, undoing `Transfer-Encoding: chunked` when the head says so.
fn dechunk(head: &str, body: &str) -> String {
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return body.to_string();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

/// A component's counter from `/metrics` (`sluice_<name>_total{component_kind, component_id}`);
/// `None` while the API does not answer.
pub fn counter(api: &str, name: &str, kind: &str, id: &str) -> Option<u64> {
    let text = http_get(&format!("{api}/metrics"))?;
    let series = format!("sluice_{name}_total{{");
    let kind = format!("component_kind=\"{kind}\"");
    let id = format!("component_id=\"{id}\"");
    text.lines()
        .filter(|line| line.starts_with(&series) && line.contains(&kind) && line.contains(&id))
        .find_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|value| value as u64)
}

/// How often each line id (`seq`) is stored; `visit` calls its argument with every document.
pub fn seq_counts(visit: impl FnOnce(&mut dyn FnMut(&Value))) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    visit(&mut |document: &Value| {
        if let Some(seq) = document["seq"].as_u64() {
            *counts.entry(seq).or_insert(0) += 1;
        }
    });
    counts
}

/// What reached Elasticsearch of `total` lines numbered `0..total`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub total: u64,
    /// Ids never stored.
    pub lost: Vec<u64>,
    /// Extra copies, summed over every id stored more than once.
    pub duplicates: usize,
    /// Ids outside `0..total` (there must be none).
    pub unknown: usize,
}

impl Tally {
    pub fn of(counts: &BTreeMap<u64, usize>, total: u64) -> Self {
        Self {
            total,
            lost: (0..total).filter(|seq| !counts.contains_key(seq)).collect(),
            duplicates: counts.values().map(|n| n - 1).sum(),
            unknown: counts.keys().filter(|seq| **seq >= total).count(),
        }
    }

    /// Runs of consecutive ids that were stored more than once, as `first..=last`, for
    /// messages (where the duplicates came from).
    pub fn duplicated_runs(counts: &BTreeMap<u64, usize>) -> Vec<std::ops::RangeInclusive<u64>> {
        let mut runs: Vec<std::ops::RangeInclusive<u64>> = Vec::new();
        for (&seq, _) in counts.iter().filter(|(_, n)| **n > 1) {
            match runs.last_mut() {
                Some(run) if *run.end() + 1 == seq => *run = *run.start()..=seq,
                _ => runs.push(seq..=seq),
            }
        }
        runs
    }

    /// The first few lost ids, for messages.
    pub fn first_lost(&self) -> &[u64] {
        &self.lost[..self.lost.len().min(10)]
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} lines arrived, {} lost (first: {:?}), {} duplicates, {} unknown ids",
            self.total - self.lost.len() as u64,
            self.total,
            self.lost.len(),
            self.first_lost(),
            self.duplicates,
            self.unknown
        )
    }
}

/// The indices of one case on the shared real search node (`tests/common/search_node.rs`):
/// `<prefix>-YYYY.MM.dd`, deleted before the case.
pub struct NodeIndices {
    node: &'static super::search_node::SearchNode,
    prefix: String,
}

impl NodeIndices {
    pub fn new(case: &str) -> Self {
        let node = super::search_node::search_node();
        let prefix = format!("chaos-{case}-{}", std::process::id());
        node.delete_indices(&format!("{prefix}-*"));
        Self { node, prefix }
    }

    pub fn url(&self) -> &str {
        self.node.url()
    }

    /// The Elasticsearch output's `index` option.
    pub fn index_option(&self) -> String {
        format!("{}-%{{+YYYY.MM.dd}}", self.prefix)
    }

    fn pattern(&self) -> String {
        format!("{}-*", self.prefix)
    }

    /// Documents stored so far, duplicates included (0 before the first index exists).
    pub fn total(&self) -> u64 {
        self.node.count(&self.pattern())
    }

    /// Whether the line `seq` is stored.
    pub fn has(&self, seq: u64) -> bool {
        let pattern = self.pattern();
        self.node.refresh(&pattern);
        let response = self.node.request(
            "POST",
            &format!("/{pattern}/_count?ignore_unavailable=true&allow_no_indices=true"),
            Some(&serde_json::json!({ "query": { "term": { "seq": seq } } })),
        );
        // 503: an index just created whose shard has not started; not stored yet either way.
        response.status == 200 && response.body["count"].as_u64().unwrap_or(0) > 0
    }

    /// How often each line id (`seq`) is stored, read with a composite aggregation page by
    /// page (every id, however many).
    pub fn seq_counts(&self) -> BTreeMap<u64, usize> {
        let pattern = self.pattern();
        self.node.refresh(&pattern);
        let mut counts = BTreeMap::new();
        let mut after: Option<Value> = None;
        loop {
            let mut composite = serde_json::json!({
                "size": 10000,
                "sources": [{ "seq": { "terms": { "field": "seq" } } }]
            });
            if let Some(after) = &after {
                composite["after"] = after.clone();
            }
            let response = self.node.request(
                "POST",
                &format!("/{pattern}/_search?ignore_unavailable=true&allow_no_indices=true"),
                Some(&serde_json::json!({ "size": 0, "aggs": { "seqs": { "composite": composite } } })),
            );
            if response.status == 503 {
                return counts;
            }
            assert_eq!(
                response.status, 200,
                "aggregating seq failed: {}",
                response.body
            );
            let seqs = &response.body["aggregations"]["seqs"];
            let Some(buckets) = seqs["buckets"].as_array() else {
                return counts;
            };
            if buckets.is_empty() {
                return counts;
            }
            for bucket in buckets {
                if let (Some(seq), Some(n)) =
                    (bucket["key"]["seq"].as_u64(), bucket["doc_count"].as_u64())
                {
                    counts.insert(seq, n as usize);
                }
            }
            after = Some(seqs["after_key"].clone());
        }
    }

    pub fn delete(&self) {
        self.node.delete_indices(&self.pattern());
    }
}
