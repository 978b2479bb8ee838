//! The synchronisation primitives the crate is built on, in one place.
//!
//! Every other module imports its mutexes, condition variables, atomics,
//! threads and `block_on` from here rather than from `std`, so that the loom
//! model checker can be swapped in behind one `cfg`:
//!
//! ```sh
//! RUSTFLAGS="--cfg thread_exec_loom" cargo test --release --test loom
//! ```
//!
//! Under `cfg(thread_exec_loom)`, `Mutex`, `Condvar`, the atomics,
//! threads, thread-locals and `block_on` are loom's, and [`crate::queue`]
//! swaps each flume channel for a loom-visible `Mutex<VecDeque>` (its
//! shards, counts and parking stay its own), so loom explores every
//! interleaving of the executor's own protocol. The job
//! slot's [`UnsafeCell`] is loom's too, so a model fails on any access to a
//! slot's stage or waiter that its state word does not order (see
//! [`crate::slot`]). `Arc` is std's in both builds: it only shares the pool's
//! long-lived state, whose reference counting is not this crate's protocol.

pub(crate) use std::sync::Arc;

#[cfg(not(thread_exec_loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering},
    Condvar, Mutex, MutexGuard,
};

#[cfg(thread_exec_loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering},
    Condvar, Mutex, MutexGuard,
};

#[cfg(thread_exec_loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `std`'s `UnsafeCell` behind loom's closure-based API, so the slot's code
/// reads the same in both builds and loom can see where each access begins
/// and ends.
///
/// `repr(transparent)`: a pointer to the cell is a pointer to its value,
/// which the slot relies on to build a slot in place.
#[cfg(not(thread_exec_loom))]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(thread_exec_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// One step of a spin-wait for a lock whose holder runs a few instructions:
/// a growing burst of spin hints, then yielding the core (the holder may
/// have been preempted). Loom needs a yield on every step to make progress.
pub(crate) fn spin(step: &mut u32) {
    #[cfg(not(thread_exec_loom))]
    {
        if *step < 6 {
            for _ in 0..1_u32 << *step {
                std::hint::spin_loop();
            }
            *step += 1;
        } else {
            std::thread::yield_now();
        }
    }
    #[cfg(thread_exec_loom)]
    {
        let _ = step;
        loom::thread::yield_now();
    }
}

/// Pads a value to its own cache line (128 bytes: two 64-byte lines, as
/// adjacent-line prefetchers pair them), so that an atomic written on the
/// job path does not share a line with fields other threads read or write:
/// the pool's state word, the event's waiter count, the queue's lane counts.
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// How long a thread about to wait for a condition that a worker is about to
/// make true (a job a spinning worker took finishing, a place in a full
/// queue of tiny jobs freeing) looks for it first: less than the park and
/// wake-up it saves (a futex call on each side, several µs of CPU).
pub(crate) const BRIEF_SPIN: std::time::Duration = std::time::Duration::from_micros(2);

/// Looks for `condition` for up to [`BRIEF_SPIN`]; whether it held. Loom
/// models do not spin on real time: there it only looks once.
pub(crate) fn spin_briefly(condition: impl FnMut() -> bool) -> bool {
    spin_briefly_unless(condition, || false)
}

/// How long a spinning worker may take to pick up a job: it looks at the
/// queue every ~0.2 µs.
pub(crate) const PICK_UP: std::time::Duration = std::time::Duration::from_nanos(500);

/// As [`spin_briefly`], but gives up once [`PICK_UP`] has passed and
/// `hopeless` holds (the job it waits for has not even started).
pub(crate) fn spin_briefly_unless(
    mut condition: impl FnMut() -> bool,
    mut hopeless: impl FnMut() -> bool,
) -> bool {
    if condition() {
        return true;
    }
    #[cfg(not(thread_exec_loom))]
    {
        let start = std::time::Instant::now();
        loop {
            for _ in 0..8 {
                std::hint::spin_loop();
            }
            if condition() {
                return true;
            }
            let spun = start.elapsed();
            if spun >= BRIEF_SPIN || (spun >= PICK_UP && hopeless()) {
                return false;
            }
        }
    }
    #[cfg(thread_exec_loom)]
    {
        let _ = &mut hopeless;
        false
    }
}

/// The instant `timeout` from now, or `None` if that is past what
/// `Instant` can represent (a timeout of `Duration::MAX` means "never"):
/// durations from users saturate instead of panicking on overflow.
pub(crate) fn deadline_after(timeout: std::time::Duration) -> Option<std::time::Instant> {
    std::time::Instant::now().checked_add(timeout)
}

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

/// Runs a future to completion on the calling thread (`JobHandle::join`),
/// parking it between polls. Unlike `futures::executor::block_on` it may be
/// called from inside another `block_on` (a blocking `join` must work on any
/// thread), and a stray unpark only costs one more poll.
#[cfg(not(thread_exec_loom))]
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};

    /// Wakes by unparking the thread that blocks.
    struct Unpark(std::thread::Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }

    thread_local! {
        /// One waker per thread, made on its first blocking call.
        static UNPARK: Waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    }

    let mut future = std::pin::pin!(future);
    UNPARK.with(|waker| {
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            std::thread::park();
        }
    })
}

#[cfg(thread_exec_loom)]
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    loom::future::block_on(future)
}

/// Threads: std's, or loom's simulated ones.
pub(crate) mod thread {
    #[cfg(not(thread_exec_loom))]
    pub(crate) use std::thread::{current, Builder, JoinHandle, Thread};

    #[cfg(thread_exec_loom)]
    pub(crate) use loom::thread::{current, Builder, JoinHandle, Thread};

    /// Whether the thread has returned, so joining it cannot block. Loom's
    /// handles cannot tell; its models never reap early.
    pub(crate) fn is_finished<T>(handle: &JoinHandle<T>) -> bool {
        #[cfg(not(thread_exec_loom))]
        return handle.is_finished();
        #[cfg(thread_exec_loom)]
        {
            let _ = handle;
            false
        }
    }
}
