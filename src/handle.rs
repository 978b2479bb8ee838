//! [`JobHandle`], the caller's end of a job: a future of its result, a
//! blocking `join`, cancellation and completion callbacks. The state it reads
//! lives in the job's slot (see [`crate::slot`]); this module is only the
//! public face of [`RawHandle`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::JobError;
use crate::slot::RawHandle;
use crate::state::Shared;
use crate::sync::Arc;

/// The handle to one submitted job: a [`Future`] of its result, a blocking
/// [`join`](JobHandle::join) for plain threads, and the place to
/// [`cancel`](JobHandle::cancel) it or attach a callback.
///
/// Returned by [`Executor::spawn`](crate::Executor::spawn) (and
/// [`send`](crate::Executor::send), the same call),
/// [`try_spawn`](crate::Executor::try_spawn) and
/// [`spawn_async`](crate::Executor::spawn_async). It resolves to `Ok(value)`, or to a [`JobError`] if the job
/// panicked, was cancelled, or was refused by a shut-down executor.
///
/// Dropping a `JobHandle` detaches the job: it still runs, and its result is
/// dropped on the worker. To stop a job that has not started, call
/// [`cancel`](JobHandle::cancel). The handle is deliberately not
/// `#[must_use]` (as tokio's `JoinHandle` is not): a fire-and-forget
/// `send` followed by [`wait`](crate::Executor::wait) is a first-class use.
///
/// The future needs no particular runtime: it works under tokio,
/// `futures::executor::block_on`, smol, or any other executor.
///
/// # Cancel safety
///
/// Dropping the future (for example in a `select!` branch that lost) does not
/// cancel the job; it detaches it, as above. [`Executor::run`] is the variant
/// whose drop cancels a job that has not started.
///
/// # Examples
///
/// ```
/// use thread_exec::Executor;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), thread_exec::JobError> {
/// let pool = Executor::new(2);
/// let sum = pool.spawn(|| (1..=10).sum::<u32>()).await?;
/// assert_eq!(sum, 55);
/// // The same from a plain thread:
/// assert_eq!(pool.spawn(|| 6 * 7).join()?, 42);
/// # Ok(())
/// # }
/// ```
///
/// [`Executor::run`]: crate::Executor::run
pub struct JobHandle<T> {
    raw: RawHandle<T>,
    /// The pool, for a bounded one: a handle that cancels its queued job
    /// gives the job's place in the queue back at once.
    pool: Option<Arc<Shared>>,
    /// A spinning worker took the job: the first wait looks briefly before
    /// it parks (see [`JobHandle::spin_first`]).
    spin: bool,
}

impl<T> JobHandle<T> {
    pub(crate) fn new(raw: RawHandle<T>, pool: Option<Arc<Shared>>, spin: bool) -> Self {
        JobHandle { raw, pool, spin }
    }

    /// The first wait for a job that a spinning worker took: looks for the
    /// result for up to [`BRIEF_SPIN`](crate::sync::BRIEF_SPIN) before it
    /// registers a waker or parks, once per handle. A tiny job is done
    /// within that time, and its waiter skips a park and a wake-up. Only
    /// after a push that found a worker spinning, so a pool that parks (a
    /// light load, or `max_spin(0)`) never spins here either; and it gives
    /// up after [`PICK_UP`](crate::sync::PICK_UP) if the job has not even
    /// started, so the other jobs of a burst pushed while one worker spun,
    /// still queued behind it, do not make their waiters spin in turn.
    fn spin_first(&mut self) {
        if std::mem::take(&mut self.spin) {
            let raw = &self.raw;
            crate::sync::spin_briefly_unless(|| raw.is_finished(), || !raw.is_started());
        }
    }

    /// Blocks the calling thread until the job has finished, and returns its
    /// result.
    ///
    /// # Errors
    ///
    /// Returns the [`JobError`] if the job panicked (the payload is inside),
    /// was cancelled before it started, or was refused because the executor
    /// was shut down.
    ///
    /// # Blocking
    ///
    /// Parks the thread; do not call it from async code (`.await` the handle
    /// instead). It works on any thread, inside another `block_on` too.
    /// Called from a job on one of a pool's worker threads, it first runs
    /// that pool's queued jobs on the calling thread while the joined job is
    /// unfinished, so joining a job queued behind the caller (on a
    /// one-thread pool, say) finishes instead of deadlocking. Awaiting the
    /// handle inside a job (with a `block_on` of your own) does not do
    /// this, and cannot: a poll runs inside your executor, and a job run
    /// there that calls `block_on` itself would panic (`futures` and tokio
    /// both refuse a nested executor). Use `join` there.
    ///
    /// # Panics
    ///
    /// Panics if the handle already returned its result through a poll.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(1);
    /// let handle = pool.spawn(|| "from a worker");
    /// assert_eq!(handle.join().unwrap(), "from a worker");
    /// ```
    pub fn join(mut self) -> Result<T, JobError> {
        self.spin_first();
        if !self.raw.is_finished() {
            // On a worker thread, run the pool's queued jobs while this one
            // is unfinished: it may be one of them, behind this very job.
            if let Some((shared, counters)) = crate::state::current_worker() {
                while !self.raw.is_finished() && crate::worker::help(&shared, &counters) {}
            }
        }
        // A settled job (the common case when joining a batch in order)
        // skips `block_on`'s thread-local setup and waker.
        if self.raw.is_finished() {
            let mut cx = Context::from_waker(futures::task::noop_waker_ref());
            if let Poll::Ready(result) = self.raw.poll(&mut cx) {
                return result;
            }
        }
        crate::sync::block_on(self)
    }

    /// `true` once the job has settled: it ran (or panicked), was cancelled,
    /// or was refused. [`join`](JobHandle::join) then returns at once.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(1);
    /// let handle = pool.spawn(|| 1);
    /// pool.wait();
    /// assert!(handle.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.raw.is_finished()
    }

    /// Cancels the job if it has not started: returns `true` if it had not
    /// and now never will (the handle then yields an error with
    /// [`JobError::is_cancelled`], and the job's callbacks run with that
    /// error), `false` if it is running or done. A running job is never
    /// interrupted, but it is asked to stop: from then on
    /// [`is_cancelled`](crate::is_cancelled) returns `true` inside it, and a
    /// job that checks can return early (cooperative cancellation). In a
    /// bounded pool the cancelled job's place in the queue is free at once:
    /// a blocked [`spawn`](crate::Executor::spawn), a pending
    /// [`spawn_async`](crate::Executor::spawn_async) or the next
    /// [`try_spawn`](crate::Executor::try_spawn) gets it, and so does a
    /// submission from the job's own callbacks (or its closure's
    /// destructor), which run inside `cancel` once the place is given
    /// back. (In an unbounded
    /// pool the job counts as unfinished, for
    /// [`wait`](crate::Executor::wait), until a worker reaches its entry and
    /// skips it.)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// let pool = thread_exec::Executor::new(1);
    /// let (started_tx, started) = mpsc::channel();
    /// let (release, release_rx) = mpsc::channel::<()>();
    /// let busy = pool.spawn(move || {
    ///     started_tx.send(()).unwrap();
    ///     release_rx.recv().ok();
    /// });
    /// started.recv().unwrap(); // `busy` occupies the only worker
    /// let waiting = pool.spawn(|| 1);
    /// assert!(!busy.cancel()); // running: not interrupted
    /// assert!(waiting.cancel()); // queued: will never run
    /// drop(release);
    /// assert!(busy.join().is_ok());
    /// assert!(waiting.join().unwrap_err().is_cancelled());
    /// ```
    pub fn cancel(&self) -> bool {
        let Some(claimed) = self.raw.claim_to_cancel() else {
            return false;
        };
        // A bounded pool's place goes back before the job's user code (its
        // closure's destructor, its callbacks) runs, so that code finds it.
        match &self.pool {
            Some(pool) if self.raw.take_accounting() => pool.cancel_counted(claimed),
            _ => claimed.cancel(),
        }
        true
    }

    /// Attaches a callback that runs exactly once with the job's outcome:
    /// on the thread that finishes the job if it has not finished yet, or at
    /// once on the calling thread if it has. The returned handle still
    /// resolves to the result. A callback that panics is caught and reported
    /// through `tracing`.
    ///
    /// # Panics
    ///
    /// Panics if the handle already returned its result through a poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// let pool = thread_exec::Executor::new(1);
    /// let (tx, rx) = mpsc::channel();
    /// let handle = pool.spawn(|| 5).on_complete(move |result| {
    ///     tx.send(result.is_ok()).unwrap();
    /// });
    /// assert_eq!(handle.join().unwrap(), 5);
    /// assert!(rx.recv().unwrap());
    /// ```
    pub fn on_complete<G>(mut self, callback: G) -> JobHandle<T>
    where
        G: FnOnce(&Result<T, JobError>) + Send + 'static,
    {
        self.raw.add_callback(Box::new(callback));
        self
    }
}

/// Whether the job running on the calling thread has been asked to stop,
/// by [`JobHandle::cancel`] or by dropping its [`Run`](crate::Run) future
/// (a web handler whose client went away): cooperative cancellation for
/// long jobs, which check it between steps and return early. `false`
/// outside a job (and in threads a job starts itself), and in a job nobody
/// asked to stop. Reading it costs a thread-local lookup and one atomic load.
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// use thread_exec::{is_cancelled, Executor};
///
/// let pool = Executor::new(1);
/// let (started_tx, started) = mpsc::channel();
/// let handle = pool.spawn(move || {
///     started_tx.send(()).unwrap();
///     let mut steps = 0_u64;
///     while !is_cancelled() {
///         steps += 1; // one step of a long computation
///         std::thread::yield_now();
///     }
///     steps
/// });
/// started.recv().unwrap();
/// assert!(!handle.cancel()); // running: not cancelled, asked to stop
/// assert!(handle.join().is_ok()); // the job stopped early and returned
/// assert!(!is_cancelled()); // not inside a job
/// ```
pub fn is_cancelled() -> bool {
    crate::slot::stop_requested()
}

impl<T> Future for JobHandle<T> {
    type Output = Result<T, JobError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.spin_first();
        this.raw.poll(cx)
    }
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle")
            .field("finished", &self.raw.is_finished())
            .finish()
    }
}
