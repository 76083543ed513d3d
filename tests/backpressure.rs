//! A stalled output must stall the inputs, not grow memory.
//!
//! The file output writes into a FIFO that nobody reads, so its first `write` blocks for
//! good. The test then offers sluice a gigabyte on stdin and counts how much it accepts
//! before it stops reading: with bounded queues that is a few batches; an unbounded queue
//! would swallow everything. sluice's resident memory is checked against the bound stated in
//! the README at the same time.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::process::{Command, Stdio};

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

/// Waits up to `timeout_ms` for `fd` to accept writes.
fn writable_within(fd: i32, timeout_ms: i32) -> bool {
    let mut poll = [libc_pollfd(fd)];
    poll_fds(&mut poll, timeout_ms) > 0
}

fn libc_pollfd(fd: i32) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    }
}

#[allow(unsafe_code)]
fn poll_fds(fds: &mut [libc::pollfd], timeout_ms: i32) -> i32 {
    // SAFETY: `fds` is a valid, exclusively borrowed slice for the duration of the call.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) }
}

#[allow(unsafe_code)]
fn set_nonblocking(fd: i32) {
    // SAFETY: plain fcntl calls on a file descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        assert!(flags >= 0);
        assert_eq!(libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK), 0);
    }
}

#[test]
fn a_stalled_output_stops_the_input_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("stalled.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // Hold the read end open (never read) so the output's open succeeds and its writes block.
    let _reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[inputs.in]\ntype = \"stdin\"\n[outputs.stalled]\ntype = \"file\"\npath = \"{}\"\n",
            dir.path().join("data").display(),
            fifo.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "-c"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    set_nonblocking(stdin.as_raw_fd());

    let line = format!("{}\n", "x".repeat(1023));
    let offered_limit: u64 = 1 << 30;
    let mut accepted: u64 = 0;
    let mut pending: &[u8] = line.as_bytes();
    let mut peak_rss = 0;
    // Write until sluice has refused input for two seconds straight (it is stalled), or until
    // it has swallowed the whole gigabyte (it is not).
    while accepted < offered_limit {
        match stdin.write(pending) {
            Ok(n) => {
                accepted += n as u64;
                pending = &pending[n..];
                if pending.is_empty() {
                    pending = line.as_bytes();
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                peak_rss = peak_rss.max(rss_bytes(pid));
                if !writable_within(stdin.as_raw_fd(), 2000) {
                    break;
                }
            }
            Err(e) => panic!("write failed: {e}"),
        }
    }
    peak_rss = peak_rss.max(rss_bytes(pid));
    child.kill().unwrap();
    child.wait().unwrap();

    let accepted_mb = accepted as f64 / 1048576.0;
    let rss_mb = peak_rss as f64 / 1048576.0;
    println!("accepted {accepted_mb:.1} MiB before stalling; peak RSS {rss_mb:.1} MiB");
    // Defaults: 64-event batches of at most 128 KiB, 2-batch queues → about 8 batches in flight.
    assert!(
        accepted < 64 << 20,
        "sluice kept reading: {accepted_mb:.1} MiB accepted"
    );
    assert!(peak_rss < 160 << 20, "memory grew to {rss_mb:.1} MiB");
}
