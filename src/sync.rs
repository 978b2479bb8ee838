//! The synchronisation primitives the crate is built on, in one place.
//!
//! Every other module imports its mutexes, condition variables, atomics,
//! threads and `block_on` from here rather than from `std`, so that the loom
//! model checker can be swapped in behind one `cfg`:
//!
//! ```sh
//! RUSTFLAGS="--cfg thread_executor_loom" cargo test --release --test loom
//! ```
//!
//! Under `cfg(thread_executor_loom)`, `Mutex`, `Condvar`, the atomics,
//! threads, thread-locals and `block_on` are loom's, and [`crate::queue`]
//! swaps flume for a loom-visible `Mutex<VecDeque>` + `Condvar` queue, so
//! loom explores every interleaving of the executor's own protocol. `Arc` is
//! std's in both builds: loom's `Arc` cannot unsize to the `Arc<dyn Task>` /
//! `Arc<dyn Completion<T>>` the job slot is shared through, and reference
//! counting is not this crate's protocol (the models count drops instead).

pub(crate) use std::sync::Arc;

#[cfg(not(thread_executor_loom))]
pub(crate) use std::sync::{
    atomic::{AtomicU64, AtomicUsize, Ordering},
    Condvar, Mutex, MutexGuard,
};

#[cfg(thread_executor_loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicU64, AtomicUsize, Ordering},
    Condvar, Mutex, MutexGuard,
};

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

/// Runs a future to completion on the calling thread (`JobHandle::join`).
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    #[cfg(not(thread_executor_loom))]
    return futures::executor::block_on(future);
    #[cfg(thread_executor_loom)]
    return loom::future::block_on(future);
}

/// Threads: std's, or loom's simulated ones.
pub(crate) mod thread {
    #[cfg(not(thread_executor_loom))]
    pub(crate) use std::thread::{Builder, JoinHandle};

    #[cfg(thread_executor_loom)]
    pub(crate) use loom::thread::{Builder, JoinHandle};

    /// Whether the thread has returned, so joining it cannot block. Loom's
    /// handles cannot tell; its models never reap early.
    pub(crate) fn is_finished<T>(handle: &JoinHandle<T>) -> bool {
        #[cfg(not(thread_executor_loom))]
        return handle.is_finished();
        #[cfg(thread_executor_loom)]
        {
            let _ = handle;
            false
        }
    }
}
