//! The synchronisation primitives the crate is built on, in one place.
//!
//! Every other module imports `Arc`, `Mutex`, `Condvar` and the atomics from
//! here rather than from `std::sync`, so a model checker (loom) can be swapped
//! in behind one `cfg` without touching the executor's logic.

pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Locks `mutex`, ignoring poisoning.
///
/// No job, callback, hook or user value's destructor runs while one of the
/// crate's locks is held (only a runtime's `Waker` clone or drop may), so a
/// poisoned lock can only come from a bug in this crate, and every critical
/// section leaves its data valid at each step: the data is still consistent.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
