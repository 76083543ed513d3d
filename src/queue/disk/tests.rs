//! The disk queue against its promises: what was acknowledged comes back, settled segments
//! go, damage is cut off or set aside and never stops a start, a full queue or disk waits.

use super::*;
use crate::event::{AckReceiver, Event};
use serde_json::json;
use std::time::Duration;

fn config(max_bytes: u64, segment_bytes: u64) -> DiskQueueConfig {
    DiskQueueConfig {
        max_bytes,
        segment_bytes,
        ..DiskQueueConfig::default()
    }
}

/// A queue of `config` in `dir`, draining as `--once` does.
fn open_in(dir: &Path, config: &DiskQueueConfig) -> (Writer, Reader, Settler) {
    open(dir, config, true, Arc::new(ComponentMetrics::default())).unwrap()
}

/// A batch of events `{"id": n}` for `ids`, acknowledged on `acks` as batch `batch_id`.
fn batch(ids: std::ops::Range<u64>, acks: &AckSender, batch_id: u64) -> Batch {
    let events = ids
        .map(|id| Event::from_value(json!({ "id": id })))
        .collect();
    Batch::new(events, Some(acks.token(batch_id)))
}

fn ids(batch: &mut Batch) -> Vec<u64> {
    batch.materialize();
    batch
        .events
        .iter()
        .map(|e| e.fields()["id"].as_u64().unwrap())
        .collect()
}

/// Every id the queue delivers once `writer` is gone; each batch is settled as it is read.
async fn read_all(writer: Writer, reader: &Reader) -> Vec<u64> {
    drop(writer);
    let mut all = Vec::new();
    while let Some(mut batch) = reader.recv().await {
        all.extend(ids(&mut batch));
    }
    all
}

/// Writes `batches` batches of `per_batch` events (ids counting from 0) and closes the
/// queue, waiting until its settler is done.
async fn write_and_close(dir: &Path, config: &DiskQueueConfig, batches: u64, per_batch: u64) {
    let (writer, reader, settler) = open_in(dir, config);
    let (acks, _receipts) = ack_channel();
    for n in 0..batches {
        let from = n * per_batch;
        writer
            .send(batch(from..from + per_batch, &acks, n))
            .await
            .unwrap();
    }
    drop((writer, reader));
    settler.finish().await;
}

async fn wait_for(mut condition: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn receipts(rx: &mut AckReceiver) -> Vec<u64> {
    let mut ids = Vec::new();
    while let Ok(receipt) = rx.try_recv() {
        assert_eq!(receipt.status, BatchStatus::Delivered);
        ids.push(receipt.batch_id);
    }
    ids
}

/// The next receipt on `rx` (a batch acknowledged as delivered), waiting for it.
async fn next_receipt(rx: &mut AckReceiver) -> u64 {
    let receipt = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a receipt within 10 s")
        .expect("the acknowledgement channel is open");
    assert_eq!(receipt.status, BatchStatus::Delivered);
    receipt.batch_id
}

fn segment_files(dir: &Path) -> Vec<u64> {
    segment::list(dir).unwrap().0
}

#[tokio::test]
async fn a_batch_is_acknowledged_to_its_input_once_written_and_read_back_equal() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, reader, _settler) = open_in(dir.path(), &config(1 << 20, 1 << 16));
    let (acks, mut input) = ack_channel();
    let mut original = batch(0..3, &acks, 7);
    original.events[1]
        .metadata_mut()
        .insert("kept".into(), json!({"a": [1, 2.5, null]}));
    let expected: Vec<Event> = original.events.clone();
    writer.send(original).await.unwrap();
    assert_eq!(
        next_receipt(&mut input).await,
        7,
        "acknowledged once durable, not delivered"
    );

    let mut read = reader.recv().await.unwrap();
    read.materialize();
    assert_eq!(read.events, expected);
    assert!(reader.is_empty());
}

#[tokio::test]
async fn a_segment_is_deleted_only_once_every_record_in_it_is_settled_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, reader, _settler) = open_in(dir.path(), &config(1 << 20, 4096));
    let (acks, _input) = ack_channel();
    // 100 events (~1.3 KB) a batch: three batches to a 4 KiB segment.
    for n in 0..9 {
        writer
            .send(batch(n * 100..(n + 1) * 100, &acks, n))
            .await
            .unwrap();
    }
    let first = segment_files(dir.path())[0];
    let mut held = Vec::new();
    for _ in 0..9 {
        held.push(reader.recv().await.unwrap());
    }
    assert!(reader.is_empty());
    // Settle every batch but the first, newest first.
    let oldest = held.remove(0);
    while let Some(batch) = held.pop() {
        drop(batch);
    }
    let shared = reader.0.shared.clone();
    wait_for(
        || lock(&shared.state).events == 100,
        "every batch but one settled",
    )
    .await;
    assert!(
        segment::segment_path(dir.path(), first).exists(),
        "one record of the oldest segment is not settled"
    );
    drop(oldest);
    wait_for(
        || !segment::segment_path(dir.path(), first).exists(),
        "the oldest segment to be deleted",
    )
    .await;
    wait_for(
        || segment_files(dir.path()).len() == 1,
        "every written-past segment to be deleted",
    )
    .await;
    assert_eq!(lock(&shared.state).events, 0);
    assert_eq!(shared.metrics.events.get(), 0);
}

#[tokio::test]
async fn after_a_restart_only_what_was_not_settled_is_delivered_again() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(1 << 20, 1 << 16);
    write_and_close(dir.path(), &config, 5, 10).await;
    {
        let (writer, reader, settler) = open_in(dir.path(), &config);
        let mut read = Vec::new();
        for _ in 0..5 {
            read.push(reader.recv().await.unwrap());
        }
        // Batches 0, 2 and 4 are left unsettled (an output gave up on them at shutdown).
        for (n, batch) in read.into_iter().enumerate() {
            if n % 2 == 0 {
                batch.token().unwrap().mark_failed();
            }
        }
        drop((writer, reader));
        settler.finish().await;
    }
    let (writer, reader, _settler) = open_in(dir.path(), &config);
    assert_eq!(lock(&reader.0.shared.state).events, 30);
    let mut ids = read_all(writer, &reader).await;
    ids.sort_unstable();
    let expected: Vec<u64> = (0..10).chain(20..30).chain(40..50).collect();
    assert_eq!(ids, expected);
}

/// The segment files in `dir` and where the last record of the newest one starts.
fn newest_segment(dir: &Path) -> (PathBuf, Vec<u8>, u64) {
    let id = *segment_files(dir).iter().max().unwrap();
    let path = segment::segment_path(dir, id);
    let bytes = std::fs::read(&path).unwrap();
    let file = File::open(&path).unwrap();
    let walk = segment::walk(&file, bytes.len() as u64, true, segment::Format::V2).unwrap();
    let last = walk.records.last().unwrap();
    (path, bytes.clone(), walk.valid_end - last.bytes)
}

/// Reopens a copy of `source` whose newest segment is replaced by `damaged`, and returns
/// what it delivers and what it counted as corrupt.
async fn deliver_with_newest(source: &Path, name: &Path, damaged: &[u8]) -> (Vec<u64>, u64) {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(source).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(copy.path().join(name.file_name().unwrap()), damaged).unwrap();
    let (writer, reader, _settler) = open_in(copy.path(), &config(1 << 20, 1 << 16));
    let ids = read_all(writer, &reader).await;
    (ids, reader.0.shared.metrics.corrupt_records.get())
}

#[tokio::test]
async fn a_torn_tail_is_cut_off_at_every_byte_offset_of_the_last_record() {
    let dir = tempfile::tempdir().unwrap();
    write_and_close(dir.path(), &config(1 << 20, 1 << 16), 3, 4).await;
    let (path, bytes, last_record) = newest_segment(dir.path());
    assert!(
        bytes.len() as u64 - last_record > 20,
        "a record of some size"
    );
    for cut in last_record..bytes.len() as u64 {
        let (delivered, corrupt) =
            deliver_with_newest(dir.path(), &path, &bytes[..cut as usize]).await;
        assert_eq!(delivered, (0..8).collect::<Vec<_>>(), "cut at byte {cut}");
        let expected_corrupt = u64::from(cut > last_record);
        assert_eq!(corrupt, expected_corrupt, "cut at byte {cut}");
    }
    let (whole, corrupt) = deliver_with_newest(dir.path(), &path, &bytes).await;
    assert_eq!((whole, corrupt), ((0..12).collect::<Vec<_>>(), 0));
}

#[tokio::test]
async fn a_flipped_byte_in_the_last_record_is_caught_by_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    write_and_close(dir.path(), &config(1 << 20, 1 << 16), 3, 4).await;
    let (path, bytes, last_record) = newest_segment(dir.path());
    for at in last_record as usize..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x5a;
        let (delivered, corrupt) = deliver_with_newest(dir.path(), &path, &damaged).await;
        assert_eq!(delivered, (0..8).collect::<Vec<_>>(), "byte {at} flipped");
        assert_eq!(corrupt, 1, "byte {at} flipped");
    }
}

#[tokio::test]
async fn a_damaged_older_segment_is_quarantined_and_reading_goes_on_with_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(1 << 20, 4096);
    write_and_close(dir.path(), &config, 9, 100).await;
    let ids = segment_files(dir.path());
    assert!(ids.len() >= 3, "{ids:?}");
    // A byte inside the second batch of the oldest segment (after its positions record).
    let oldest = segment::segment_path(dir.path(), ids[0]);
    let mut bytes = std::fs::read(&oldest).unwrap();
    let file = File::open(&oldest).unwrap();
    let walk = segment::walk(&file, bytes.len() as u64, true, segment::Format::V2).unwrap();
    assert_eq!(
        walk.records[0].events, 0,
        "a segment starts with its positions"
    );
    let second = segment::MAGIC.len() + (walk.records[0].bytes + walk.records[1].bytes) as usize;
    bytes[second + 20] ^= 0xff;
    std::fs::write(&oldest, &bytes).unwrap();

    for start in 0..2 {
        let (writer, reader, settler) = open_in(dir.path(), &config);
        let mut delivered = read_all(writer, &reader).await;
        let quarantined = reader.0.shared.metrics.quarantined_segments.get();
        drop(reader);
        settler.finish().await;
        delivered.sort_unstable();
        let lost = walk.records.len() as u64 - 2;
        let expected: Vec<u64> = (0..100).chain((1 + lost) * 100..900).collect();
        if start == 0 {
            assert_eq!(delivered, expected);
            assert_eq!(quarantined, 1);
        } else {
            assert!(
                delivered.is_empty(),
                "a second start has nothing left: {delivered:?}"
            );
        }
    }
    assert!(segment::quarantine_path(dir.path(), ids[0]).exists());
}

#[tokio::test]
async fn a_full_queue_makes_writers_wait_until_a_segment_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, reader, _settler) = open_in(dir.path(), &config(16 << 10, 4096));
    let (acks, mut input) = ack_channel();
    let shared = reader.0.shared.clone();
    let blocking = writer.clone();
    let acks_for_writer = acks.clone();
    let writing = std::thread::spawn(move || {
        for n in 0..40 {
            blocking
                .send_blocking(batch(n * 100..(n + 1) * 100, &acks_for_writer, n))
                .unwrap();
        }
    });
    wait_for(|| shared.metrics.full.get() == 1, "the queue to fill").await;
    let written = receipts(&mut input).len();
    assert!(written < 40, "the writer waits: {written} batches taken");
    assert!(lock(&shared.state).bytes <= 16 << 10);

    let mut delivered = Vec::new();
    while delivered.len() < 4000 {
        let mut batch = reader.recv().await.unwrap();
        delivered.extend(ids(&mut batch));
    }
    writing.join().unwrap();
    assert_eq!(delivered, (0..4000).collect::<Vec<_>>());
    assert_eq!(shared.metrics.full.get(), 0);
}

#[tokio::test]
async fn failing_writes_make_writers_wait_and_resume_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, reader, _settler) = open_in(dir.path(), &config(1 << 20, 1 << 16));
    let (acks, mut input) = ack_channel();
    let shared = reader.0.shared.clone();
    lock(&shared.state).failing_writes = 3;
    let sending = tokio::spawn({
        let writer = writer.clone();
        let acks = acks.clone();
        async move { writer.send(batch(0..10, &acks, 1)).await }
    });
    wait_for(|| shared.metrics.disk_full.get() == 1, "the write to fail").await;
    sending.await.unwrap().unwrap();
    assert_eq!(next_receipt(&mut input).await, 1);
    assert_eq!(shared.metrics.write_errors.get(), 3);
    assert_eq!(shared.metrics.disk_full.get(), 0, "resumed");
    writer.send(batch(10..20, &acks, 2)).await.unwrap();
    assert_eq!(read_all(writer, &reader).await, (0..20).collect::<Vec<_>>());
}

#[tokio::test]
async fn writers_learn_the_queue_closed_and_readers_end_when_writers_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(1 << 20, 1 << 16);
    let (writer, reader, _settler) = open(
        dir.path(),
        &config,
        false,
        Arc::new(ComponentMetrics::default()),
    )
    .unwrap();
    let (acks, mut input) = ack_channel();
    writer.send(batch(0..1, &acks, 1)).await.unwrap();
    assert_eq!(next_receipt(&mut input).await, 1, "durable");
    drop(writer);
    assert!(
        reader.recv().await.is_none(),
        "without drain, what is left waits for the next start"
    );
    drop(reader);
    let (writer, reader, _settler) = open_in(dir.path(), &config);
    let (second, _input) = ack_channel();
    let mut left = reader.recv().await.unwrap();
    assert_eq!(ids(&mut left), [0]);
    drop(reader);
    assert!(writer.send(batch(1..2, &second, 2)).await.is_err());
}

/// Holds the syncer at each sync: `reached` says it got there, `release` lets it sync (or
/// fail, with an error). Dropped, every sync goes through.
struct HeldSync {
    reached: std::sync::mpsc::Receiver<()>,
    release: std::sync::mpsc::Sender<io::Result<()>>,
}

/// A draining queue in a new directory whose syncer is held ([`HeldSync`]), and an input's
/// acknowledgement channel.
struct HeldQueue {
    _dir: tempfile::TempDir,
    writer: Writer,
    reader: Reader,
    shared: Arc<Shared>,
    held: HeldSync,
    acks: AckSender,
    input: AckReceiver,
}

fn held_queue(config: &DiskQueueConfig) -> HeldQueue {
    let dir = tempfile::tempdir().unwrap();
    let (writer, reader, _settler) = open_in(dir.path(), config);
    let shared = reader.0.shared.clone();
    let held = hold_syncs(&shared);
    let (acks, input) = ack_channel();
    HeldQueue {
        _dir: dir,
        writer,
        reader,
        shared,
        held,
        acks,
        input,
    }
}

fn hold_syncs(shared: &Shared) -> HeldSync {
    let (reached_tx, reached) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel::<io::Result<()>>();
    *lock(&shared.sync_hook.0) = Some(Box::new(move || {
        let _ = reached_tx.send(());
        release_rx.recv().unwrap_or(Ok(()))
    }));
    HeldSync { reached, release }
}

impl HeldSync {
    /// Waits until the syncer is at a sync (in a blocking thread: the syncer is one).
    async fn syncer_waiting(&self) {
        let reached =
            tokio::task::block_in_place(|| self.reached.recv_timeout(Duration::from_secs(10)));
        assert!(reached.is_ok(), "the syncer never reached its sync");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_is_acknowledged_and_its_record_read_only_after_the_sync_that_covers_it() {
    let mut q = held_queue(&config(1 << 20, 1 << 16));
    q.writer.send(batch(0..10, &q.acks, 1)).await.unwrap();
    q.held.syncer_waiting().await;
    // The record is written (send returned) and the syncer is about to sync it.
    assert!(
        receipts(&mut q.input).is_empty(),
        "acknowledged before its sync"
    );
    assert!(q.reader.is_empty(), "readable before its sync");
    assert_eq!(lock(&q.shared.state).events, 0);

    // A second batch while the first is syncing: it waits for the next round.
    q.writer.send(batch(10..20, &q.acks, 2)).await.unwrap();
    q.held.release.send(Ok(())).unwrap();
    assert_eq!(next_receipt(&mut q.input).await, 1);
    q.held.syncer_waiting().await;
    assert!(
        receipts(&mut q.input).is_empty(),
        "the second is not synced yet"
    );
    let mut first = q.reader.recv().await.unwrap();
    assert_eq!(ids(&mut first), (0..10).collect::<Vec<_>>());
    assert!(q.reader.is_empty());

    q.held.release.send(Ok(())).unwrap();
    assert_eq!(next_receipt(&mut q.input).await, 2);
    drop(q.held);
    assert_eq!(
        read_all(q.writer, &q.reader).await,
        (10..20).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sync_covers_every_record_written_while_the_previous_one_ran() {
    let mut q = held_queue(&config(1 << 20, 1 << 16));
    q.writer.send(batch(0..1, &q.acks, 0)).await.unwrap();
    q.held.syncer_waiting().await;
    for n in 1..6 {
        q.writer.send(batch(n..n + 1, &q.acks, n)).await.unwrap();
    }
    q.held.release.send(Ok(())).unwrap();
    assert_eq!(next_receipt(&mut q.input).await, 0);
    q.held.syncer_waiting().await;
    assert!(receipts(&mut q.input).is_empty());
    q.held.release.send(Ok(())).unwrap();
    for n in 1..6 {
        assert_eq!(next_receipt(&mut q.input).await, n, "all five in one round");
    }
    drop(q.held);
    assert_eq!(
        read_all(q.writer, &q.reader).await,
        (0..6).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_syncer_one_record_buffer_serves_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let config = DiskQueueConfig {
        fsync: Fsync::Never,
        ..config(1 << 20, 1 << 16)
    };
    let (writer, reader, _settler) = open_in(dir.path(), &config);
    let (acks, _receipts) = ack_channel();
    for n in 0..5 {
        writer
            .send_blocking(batch(n * 30..(n + 1) * 30, &acks, n))
            .unwrap();
        let buffers = &lock(&writer.guard.0.unsynced).buffers;
        assert_eq!(buffers.spare(), 1, "the record's buffer came back");
    }
    assert_eq!(
        read_all(writer, &reader).await,
        (0..150).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_wait_while_the_unsynced_bytes_are_at_their_bound() {
    // Segments of 4 KiB: at most 2 KiB written and not synced.
    let mut q = held_queue(&config(1 << 20, 4096));
    let blocking = q.writer.clone();
    let acks_for_writer = q.acks.clone();
    let writing = std::thread::spawn(move || {
        // ~440 bytes a batch: the bound is passed by the fifth.
        for n in 0..20 {
            blocking
                .send_blocking(batch(n * 30..(n + 1) * 30, &acks_for_writer, n))
                .unwrap();
        }
    });
    q.held.syncer_waiting().await;
    wait_for(
        || lock(&q.shared.unsynced).bytes > q.shared.max_unsynced,
        "the writer to pass the bound",
    )
    .await;
    let unsynced = lock(&q.shared.unsynced).bytes;
    assert!(!writing.is_finished(), "the writer waits for the syncer");
    assert!(
        unsynced < q.shared.max_unsynced + 1024,
        "one record past the bound at most: {unsynced}"
    );
    assert!(receipts(&mut q.input).is_empty());
    // Every sync goes through from here on.
    drop(q.held);
    tokio::task::block_in_place(|| writing.join().unwrap());
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 20 {
        acknowledged.push(next_receipt(&mut q.input).await);
    }
    assert_eq!(acknowledged, (0..20).collect::<Vec<_>>());
    assert_eq!(
        read_all(q.writer, &q.reader).await,
        (0..600).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_writes_the_records_again_and_acknowledges_only_after_a_sync_succeeds() {
    let mut q = held_queue(&config(1 << 20, 1 << 16));
    q.writer.send(batch(0..10, &q.acks, 1)).await.unwrap();
    q.held.syncer_waiting().await;
    q.held
        .release
        .send(Err(io::Error::from_raw_os_error(libc::EIO)))
        .unwrap();
    q.held.syncer_waiting().await;
    assert_eq!(q.shared.metrics.write_errors.get(), 1);
    assert_eq!(q.shared.metrics.disk_full.get(), 1);
    assert!(
        receipts(&mut q.input).is_empty(),
        "acknowledged after a failed sync"
    );
    assert!(q.reader.is_empty());
    q.held.release.send(Ok(())).unwrap();
    assert_eq!(next_receipt(&mut q.input).await, 1);
    assert_eq!(q.shared.metrics.disk_full.get(), 0);
    drop(q.held);
    assert_eq!(
        read_all(q.writer, &q.reader).await,
        (0..10).collect::<Vec<_>>()
    );
}

/// Where a test batch ends: `(source, stream, position)`, one byte each for stream and
/// position.
fn positioned(mut batch: Batch, positions: &[(&str, u8, u8)]) -> Batch {
    let positions = positions
        .iter()
        .map(|&(source, stream, position)| SourcePosition {
            source: Arc::from(source),
            stream: Box::from([stream]),
            position: Box::from([position]),
        })
        .collect();
    batch = batch.with_positions(positions);
    batch
}

/// What the queue recovered for `source`, as `(stream, position)` bytes, sorted.
fn recovered(writer: &Writer, source: &str) -> Vec<(u8, u8)> {
    let mut found: Vec<(u8, u8)> = writer
        .recovered_positions(source)
        .into_iter()
        .map(|p| (p.stream[0], p.position[0]))
        .collect();
    found.sort_unstable();
    found
}

/// A copy of the files in `dir` as they are now: what a `kill -9` would leave.
fn snapshot(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
    }
    copy
}

#[tokio::test]
async fn positions_durable_with_their_batches_come_back_at_the_next_start_newest_per_stream() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(1 << 20, 1 << 16);
    let (writer, _reader, _settler) = open_in(dir.path(), &config);
    assert!(
        recovered(&writer, "app").is_empty(),
        "a new queue knows none"
    );
    let (acks, mut input) = ack_channel();
    let sent = [
        positioned(batch(0..10, &acks, 0), &[("app", 1, 10)]),
        positioned(batch(10..20, &acks, 1), &[("app", 1, 20), ("app", 2, 7)]),
        positioned(batch(20..30, &acks, 2), &[("other", 1, 99)]),
        batch(30..40, &acks, 3),
    ];
    for batch in sent {
        writer.send(batch).await.unwrap();
    }
    for _ in 0..4 {
        next_receipt(&mut input).await;
    }
    // Killed right after the inputs were acknowledged: no settling, no clean close.
    let killed = snapshot(dir.path());
    let (writer, reader, _settler) = open_in(killed.path(), &config);
    assert_eq!(recovered(&writer, "app"), vec![(1, 20), (2, 7)]);
    assert_eq!(recovered(&writer, "other"), vec![(1, 99)]);
    assert!(recovered(&writer, "ap").is_empty());
    assert_eq!(lock(&reader.0.shared.state).events, 40);
    assert_eq!(read_all(writer, &reader).await, (0..40).collect::<Vec<_>>());
}

/// Writes batches of 100 events whose positions are `("app", stream, n)` (n counting from
/// `first`) until the queue has rolled `rolls` times; returns the last n.
async fn write_until_rolled(
    writer: &Writer,
    dir: &Path,
    stream: u8,
    first: u8,
    rolls: usize,
) -> u8 {
    let (acks, _input) = ack_channel();
    let head = |dir: &Path| *segment_files(dir).iter().max().unwrap();
    let start = head(dir);
    let mut n = first;
    loop {
        let from = u64::from(n) * 100;
        writer
            .send(positioned(
                batch(from..from + 100, &acks, u64::from(n)),
                &[("app", stream, n)],
            ))
            .await
            .unwrap();
        if head(dir) >= start + rolls as u64 {
            return n;
        }
        n += 1;
    }
}

#[tokio::test]
async fn a_new_segment_carries_the_positions_written_in_the_segment_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(1 << 20, 4096);
    let (writer, reader, settler) = open_in(dir.path(), &config);
    let (acks, _input) = ack_channel();
    // Stream 1 is written once, into the first segment only; stream 2 until the queue rolls.
    writer
        .send(positioned(batch(0..100, &acks, 0), &[("app", 1, 0)]))
        .await
        .unwrap();
    let first = segment_files(dir.path())[0];
    let last = write_until_rolled(&writer, dir.path(), 2, 1, 1).await;
    // Everything delivered and settled: the first segment is deleted, so stream 1's position
    // can only come from the positions record the second one starts with.
    read_all(writer, &reader).await;
    drop(reader);
    settler.finish().await;
    assert!(!segment_files(dir.path()).contains(&first));

    let (writer, reader, settler) = open_in(dir.path(), &config);
    assert_eq!(recovered(&writer, "app"), vec![(1, 0), (2, last)]);
    // Streams not written while a segment filled are not carried past it: the set stays
    // bounded by what was written recently.
    let last = write_until_rolled(&writer, dir.path(), 2, last + 1, 2).await;
    read_all(writer, &reader).await;
    drop(reader);
    settler.finish().await;
    let (writer, _reader, _settler) = open_in(dir.path(), &config);
    assert_eq!(recovered(&writer, "app"), vec![(2, last)]);
}

#[tokio::test]
async fn a_torn_positions_record_falls_back_to_the_segment_before() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(1 << 20, 1 << 16);
    {
        let (writer, reader, settler) = open_in(dir.path(), &config);
        let (acks, _input) = ack_channel();
        writer
            .send(positioned(batch(0..10, &acks, 0), &[("app", 1, 10)]))
            .await
            .unwrap();
        drop((writer, reader));
        settler.finish().await;
    }
    // The next start died while creating its segment: half a positions record.
    let (writer, _reader, _settler) = open_in(dir.path(), &config);
    let newest = *segment_files(dir.path()).iter().max().unwrap();
    let path = segment::segment_path(dir.path(), newest);
    let bytes = std::fs::read(&path).unwrap();
    drop(writer);
    // Cut inside the positions record (a torn record), or inside the header (no segment).
    for (cut, corrupt) in [(segment::MAGIC.len() + 6, 1), (4, 0)] {
        let killed = snapshot(dir.path());
        std::fs::write(segment::segment_path(killed.path(), newest), &bytes[..cut]).unwrap();
        let (writer, reader, _settler) = open_in(killed.path(), &config);
        assert_eq!(
            reader.0.shared.metrics.corrupt_records.get(),
            corrupt,
            "cut at {cut}"
        );
        assert_eq!(recovered(&writer, "app"), vec![(1, 10)], "cut at {cut}");
        assert_eq!(read_all(writer, &reader).await, (0..10).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn a_segment_of_format_1_is_still_read() {
    let dir = tempfile::tempdir().unwrap();
    // Format 1: magic `SLQSEG01`, payloads without positions.
    let mut bytes = b"SLQSEG01".to_vec();
    for n in 0..3u64 {
        let events: Vec<Event> = (n * 5..n * 5 + 5)
            .map(|id| Event::from_value(json!({ "id": id })))
            .collect();
        let mut record = Vec::new();
        segment::encode_record(&events, &[], &mut record);
        let header = segment::HEADER as usize;
        // Drop the positions count (two bytes after the event count) and seal it again.
        let mut payload = record[header..header + 4].to_vec();
        payload.extend_from_slice(&record[header + 6..]);
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
    }
    std::fs::write(segment::segment_path(dir.path(), 4), &bytes).unwrap();

    let report = inspect::inspect(dir.path()).unwrap();
    assert_eq!(
        (report.segments[0].records, report.segments[0].events),
        (3, 15)
    );
    let (writer, reader, _settler) = open_in(dir.path(), &config(1 << 20, 1 << 16));
    assert!(recovered(&writer, "app").is_empty());
    assert_eq!(read_all(writer, &reader).await, (0..15).collect::<Vec<_>>());
}
