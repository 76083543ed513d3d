//! Waking the reader thread early: filesystem notifications and shutdown.
//!
//! The reader is a plain blocking thread that polls its files with a growing back-off; that
//! alone is correct everywhere (NFS, containers without inotify, notify failures). To keep
//! latency low without polling hard, `notify` watches the directories that hold the tailed
//! files and any event there ends the current wait at once; a create, remove or rename also
//! asks for an immediate rescan, so a rotated-in file is picked up without waiting for
//! `scan_interval`. Cancellation of the shutdown token wakes the thread the same way.
//!
//! A busy log writer produces one notification per write. They are coalesced: the callback
//! sends a wake-up only when none is pending, so the channel holds at most a handful of
//! messages however fast files change.

use notify::event::ModifyKind;
use notify::{EventKind, RecursiveMode, Watcher};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Default)]
struct Flags {
    wake_pending: AtomicBool,
    rescan: AtomicBool,
}

/// The reader's alarm clock.
pub struct Wakeups {
    receiver: mpsc::Receiver<()>,
    flags: Arc<Flags>,
    watcher: Option<notify::RecommendedWatcher>,
    watched: HashSet<PathBuf>,
    /// When the shutdown token was cancelled: the reader may be blocked by backpressure at
    /// that moment and notice it only later, but its last read is bounded from the signal.
    stopped_at: Arc<OnceLock<Instant>>,
}

impl std::fmt::Debug for Wakeups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakeups")
            .field("notify", &self.watcher.is_some())
            .field("watched", &self.watched)
            .finish()
    }
}

impl Wakeups {
    /// Wake-ups on `shutdown` and, when `use_notify` and the platform allows, on filesystem
    /// events in watched directories.
    pub fn new(shutdown: &CancellationToken, use_notify: bool) -> Self {
        let (sender, receiver) = mpsc::channel();
        let flags = Arc::new(Flags::default());
        let stopped_at = Arc::new(OnceLock::new());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let shutdown = shutdown.clone();
            let sender = sender.clone();
            let stopped = stopped_at.clone();
            runtime.spawn(async move {
                shutdown.cancelled().await;
                let _ = stopped.set(Instant::now());
                // The reader may be gone already; then nobody needs waking.
                let _ = sender.send(());
            });
        }
        let watcher = if use_notify {
            let callback_flags = flags.clone();
            let callback = move |result: notify::Result<notify::Event>| {
                let Ok(event) = result else {
                    // Lost events (queue overflow): rescan to be sure.
                    callback_flags.rescan.store(true, Ordering::Release);
                    let _ = sender.send(());
                    return;
                };
                if matches!(
                    event.kind,
                    EventKind::Create(_)
                        | EventKind::Remove(_)
                        | EventKind::Modify(ModifyKind::Name(_))
                ) {
                    callback_flags.rescan.store(true, Ordering::Release);
                }
                if !callback_flags.wake_pending.swap(true, Ordering::AcqRel) {
                    let _ = sender.send(());
                }
            };
            match notify::recommended_watcher(callback) {
                Ok(watcher) => Some(watcher),
                Err(error) => {
                    tracing::warn!(%error, "Filesystem notifications unavailable; polling only.");
                    None
                }
            }
        } else {
            None
        };
        Self {
            receiver,
            flags,
            watcher,
            watched: HashSet::new(),
            stopped_at,
        }
    }

    /// When the shutdown token was cancelled, if it was (and a runtime was there to see it).
    pub fn stopped_at(&self) -> Option<Instant> {
        self.stopped_at.get().copied()
    }

    /// Watches `dir` (not recursively) if it is not watched yet. Failure only costs latency.
    pub fn watch(&mut self, dir: &Path) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        if self.watched.contains(dir) {
            return;
        }
        match watcher.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                self.watched.insert(dir.to_path_buf());
            }
            Err(error) => {
                tracing::debug!(dir = %dir.display(), %error, "Cannot watch directory; polling it.");
            }
        }
    }

    /// Stops watching directories that no longer hold tailed files.
    pub fn retain(&mut self, keep: &HashSet<PathBuf>) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        self.watched.retain(|dir| {
            if keep.contains(dir) {
                true
            } else {
                let _ = watcher.unwatch(dir);
                false
            }
        });
    }

    /// Sleeps until something happens or `timeout` passes; true when something happened.
    pub fn wait(&self, timeout: Duration) -> bool {
        let woken = self.receiver.recv_timeout(timeout).is_ok();
        self.flags.wake_pending.store(false, Ordering::Release);
        while self.receiver.try_recv().is_ok() {}
        woken
    }

    /// Whether a notification asked for a rescan since the last call.
    pub fn take_rescan(&self) -> bool {
        self.flags.rescan.swap(false, Ordering::AcqRel)
    }
}
