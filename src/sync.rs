//! Lock helpers shared by every component.
//!
//! A panic while a lock is held poisons it. Everything sluice guards with a mutex (metrics,
//! readiness, script state, HTTP host state, the dead-letter file handle, the Slack queue)
//! stays consistent between statements, so the data is still usable: taking it back is better
//! than turning one panic into a cascade of them.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, recovering the guard if an earlier panic poisoned it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
