//! [`Executor`]: the handle users hold. Every public operation of the pool
//! is a method here; the protocols behind them live in [`crate::submit`],
//! [`crate::scaling`] and [`crate::shutdown`], over [`crate::state`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::builder::Builder;
use crate::drain::{DrainAsync, DrainReport};
#[cfg(doc)]
use crate::error::JobError;
use crate::error::{ScaleError, ScaleErrorKind, TrySpawnError};
use crate::handle::JobHandle;
use crate::job::{Callback, IntoJob, Job};
use crate::shutdown::{PendingJob, ShutdownAsync};
use crate::state::{Condition, Shared, Until};
use crate::stats::Stats;
use crate::submit::{submit_blocking, try_submit, Run, SendAsync, SpawnAsync, TryRun};
use crate::sync::Arc;

/// A pool of OS threads that runs blocking jobs, and the handle to it.
///
/// `Executor` is a cheap [`Clone`] (an `Arc`) and is `Send + Sync`: hand
/// clones to every part of a service. All clones drive one pool; when the
/// last clone is dropped, the pool stops accepting jobs, its threads run
/// every job already queued, then exit. Dropping never blocks the dropping
/// thread (it may be an async runtime's worker); call
/// [`shutdown`](Executor::shutdown) to wait for the threads.
///
/// Choose it over `tokio::task::spawn_blocking` when you want the blocking
/// pool sized, bounded, observable and independent of a runtime; over a
/// thread per task when jobs are many; over rayon when the jobs block (I/O,
/// sync clients) rather than compute in parallel.
///
/// # Examples
///
/// ```
/// use thread_exec::{Executor, Job};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), thread_exec::JobError> {
/// let pool = Executor::new(4);
///
/// // From async code: the handle is a future.
/// let digest = pool.spawn(|| "expensive".len()).await?;
/// assert_eq!(digest, 9);
///
/// // From a plain thread: join it.
/// let handle = pool.spawn(|| 2 + 2);
/// assert_eq!(handle.join()?, 4);
///
/// // With a callback, then wait for everything.
/// pool.send(Job::new(|| 1).callback(|result| assert!(result.is_ok())));
/// pool.wait();
/// # Ok(())
/// # }
/// ```
pub struct Executor {
    pub(crate) shared: Arc<Shared>,
}

impl Executor {
    /// A fixed pool of `number_threads` threads with an unbounded queue. Use
    /// [`Executor::builder`] for everything else.
    ///
    /// # Panics
    ///
    /// Panics if `number_threads` is 0, or if the operating system refuses
    /// to start a thread. [`Builder::build`] reports both as errors instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(10);
    /// assert_eq!(pool.stats().threads, 10);
    /// ```
    pub fn new(number_threads: usize) -> Executor {
        assert!(
            number_threads > 0,
            "Executor::new(0): a pool needs at least one thread"
        );
        match Builder::new().threads(number_threads).build() {
            Ok(executor) => executor,
            Err(err) => panic!("Executor::new({number_threads}): {err}"),
        }
    }

    /// A [`Builder`] for a pool with non-default settings.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::builder()
    ///     .threads(2)
    ///     .max_queue_size(100)
    ///     .thread_name("hashers")
    ///     .build()?;
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Queues a job to run on a worker thread and returns its handle:
    /// `job` is a closure, or a whole [`Job`] (with a
    /// [callback](Job::callback), a [priority](Job::priority), a
    /// [queue deadline](Job::deadline)). Dropping the handle detaches the
    /// job: it still runs.
    ///
    /// The submitting methods, one per choice:
    ///
    /// | on a full bounded queue | dropping what it returns | method |
    /// | --- | --- | --- |
    /// | wait, blocking the thread | detaches | `spawn` (`send` is the same) |
    /// | refuse, handing the job back | detaches | [`try_spawn`](Executor::try_spawn) |
    /// | wait without blocking (async) | detaches | [`spawn_async`](Executor::spawn_async) |
    /// | wait without blocking (async) | cancels | [`run`](Executor::run) |
    /// | refuse, handing the job back | cancels, once awaited | [`try_run`](Executor::try_run) |
    ///
    /// If the executor is shut down, the job is dropped (a `Job`'s callback
    /// runs at once on this thread with the error) and the handle yields an
    /// error with [`JobError::is_closed`]; use
    /// [`try_spawn`](Executor::try_spawn) to get the job back instead.
    ///
    /// # Blocking
    ///
    /// With a bounded queue ([`Builder::max_queue_size`]) that is full, this
    /// blocks the calling thread until a slot frees or the pool closes. Do
    /// not call it from async code on a bounded pool: use
    /// [`spawn_async`](Executor::spawn_async) or
    /// [`try_spawn`](Executor::try_spawn). With the default unbounded queue
    /// it never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// use thread_exec::{Executor, Job, Priority};
    ///
    /// let pool = Executor::new(2);
    /// let handle = pool.spawn(|| std::fs::metadata(".").is_ok());
    /// assert!(handle.join().unwrap());
    ///
    /// let job = Job::new(|| [1, 2, 3]).priority(Priority::High).callback(|result| println!("{result:?}"));
    /// assert_eq!(pool.spawn(job).join().unwrap(), [1, 2, 3]);
    /// ```
    pub fn spawn<J, T>(&self, job: J) -> JobHandle<T>
    where
        J: IntoJob<T>,
        T: Send + 'static,
    {
        submit_blocking(&self.shared, job.into_job())
    }

    /// The Python package's name for [`spawn`](Executor::spawn), which it
    /// is: queues a [`Job`] (or a closure) and returns its handle. To block
    /// until that job is done, `join` the handle: `executor.send(job).join()`
    /// is Python's `block=True`.
    ///
    /// # Blocking
    ///
    /// As [`spawn`](Executor::spawn): only on a full bounded queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use thread_exec::{Executor, Job};
    ///
    /// let pool = Executor::new(2);
    /// let job = Job::new(|| [1, 2, 3]).callback(|result| println!("{result:?}"));
    /// assert_eq!(pool.send(job).join().unwrap(), [1, 2, 3]);
    /// ```
    pub fn send<J, T>(&self, job: J) -> JobHandle<T>
    where
        J: IntoJob<T>,
        T: Send + 'static,
    {
        submit_blocking(&self.shared, job.into_job())
    }

    /// Queues a job (a closure or a [`Job`]) if that needs no waiting;
    /// never blocks. Dropping the handle detaches the job.
    ///
    /// # Errors
    ///
    /// [`TrySpawnError`] if the bounded queue is full
    /// ([`is_full`](TrySpawnError::is_full), counted in
    /// [`Stats::rejected`]), the pool is overloaded and would only shed the
    /// job ([`is_overloaded`](TrySpawnError::is_overloaded); only a job that
    /// may be shed), or the executor is shut down
    /// ([`is_closed`](TrySpawnError::is_closed)); each hands the job back
    /// untouched, as it was passed (the closure, or the `Job`).
    ///
    /// # Examples
    ///
    /// Shedding load when the pool is saturated:
    ///
    /// ```
    /// use thread_exec::{Executor, TrySpawnError};
    ///
    /// let pool = Executor::builder().threads(1).max_queue_size(1).build()?;
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let (started_tx, started) = std::sync::mpsc::channel();
    /// let busy = pool.spawn(move || { started_tx.send(()).unwrap(); rx.recv().ok() });
    /// started.recv().unwrap();
    /// let queued = pool.try_spawn(|| 1).unwrap(); // fills the queue
    /// match pool.try_spawn(|| 2) {
    ///     Err(full) if full.is_full() => assert_eq!(full.into_inner()(), 2), // shed: run it elsewhere, or drop it
    ///     other => panic!("{other:?}"),
    /// }
    /// drop(tx);
    /// # busy.join().unwrap();
    /// assert_eq!(queued.join().unwrap(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_spawn<J, T>(&self, job: J) -> Result<JobHandle<T>, TrySpawnError<J>>
    where
        J: IntoJob<T>,
        T: Send + 'static,
    {
        try_submit(&self.shared, job.into_job()).map_err(|err| err.map(J::from_job))
    }

    /// Queues a [`Job`] if that needs no waiting; never blocks.
    ///
    /// # Errors
    ///
    /// As [`try_spawn`](Executor::try_spawn), handing the whole job back.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(deprecated)]
    /// use thread_exec::{Executor, Job};
    ///
    /// let pool = Executor::new(1);
    /// let handle = pool.try_send(Job::new(|| 1).callback(|_| {})).unwrap();
    /// assert_eq!(handle.join().unwrap(), 1);
    /// ```
    #[deprecated(since = "0.1.0", note = "use `try_spawn`, which takes a `Job` too")]
    pub fn try_send<F, C, T>(
        &self,
        job: Job<F, C>,
    ) -> Result<JobHandle<T>, TrySpawnError<Job<F, C>>>
    where
        F: FnOnce() -> T + Send + 'static,
        C: Callback<T>,
        T: Send + 'static,
    {
        try_submit(&self.shared, job)
    }

    /// Queues a job (a closure or a [`Job`]), waiting for room in a full
    /// bounded queue without blocking the runtime: the future resolves to
    /// the job's handle once queued. Dropping that handle detaches the job.
    ///
    /// # Errors
    ///
    /// The future yields [`SpawnError`](crate::SpawnError) with the job inside (as it was
    /// passed) if the executor is shut down (by any clone) before the job
    /// was queued. The future borrows the executor, as flume's `send_async`
    /// borrows its sender: cloning the pool's `Arc` for every submission
    /// cost more than the rest of an uncontended submission. Clone the
    /// `Executor` into a task that must own it.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it resolved drops the job unqueued;
    /// nothing runs.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use thread_exec::Job;
    ///
    /// let pool = thread_exec::Executor::builder().threads(1).max_queue_size(8).build()?;
    /// let handle = pool.spawn_async(|| 40 + 2).await?;
    /// assert_eq!(handle.await?, 42);
    /// let handle = pool.spawn_async(Job::new(|| "ok").callback(|_| {})).await?;
    /// assert_eq!(handle.await?, "ok");
    /// # Ok(())
    /// # }
    /// ```
    pub fn spawn_async<J, T>(&self, job: J) -> SpawnAsync<'_, J, T>
    where
        J: IntoJob<T>,
        T: Send + 'static,
    {
        SpawnAsync::new(&self.shared, job)
    }

    /// Queues a [`Job`], waiting for room without blocking the runtime, as
    /// [`spawn_async`](Executor::spawn_async) does.
    ///
    /// # Errors
    ///
    /// The future yields [`SpawnError`](crate::SpawnError) with the whole job inside if the
    /// executor is shut down before the job was queued.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it resolved drops the job unqueued.
    ///
    /// # Examples
    ///
    /// ```
    /// # #![allow(deprecated)]
    /// use thread_exec::{Executor, Job};
    /// # futures::executor::block_on(async {
    /// let pool = Executor::new(1);
    /// let handle = pool.send_async(Job::new(|| "ok").callback(|_| {})).await.unwrap();
    /// assert_eq!(handle.await.unwrap(), "ok");
    /// # });
    /// ```
    #[deprecated(since = "0.1.0", note = "use `spawn_async`, which takes a `Job` too")]
    pub fn send_async<F, C, T>(&self, job: Job<F, C>) -> SendAsync<'_, F, C, T>
    where
        F: FnOnce() -> T + Send + 'static,
        C: Callback<T>,
        T: Send + 'static,
    {
        SendAsync::new(&self.shared, job)
    }

    /// Runs a job (a closure or a [`Job`]) on the pool and resolves to its
    /// result: waits for room in the queue, then for the job, without
    /// blocking the runtime. The web handler's blocking bridge when it
    /// should wait for room rather than shed.
    ///
    /// If the executor is shut down the result is an error for which
    /// [`JobError::is_closed`] holds.
    ///
    /// # Cancel safety
    ///
    /// Nothing is queued until the future is first polled. Dropping the
    /// future before the job started cancels it: it never runs, so a
    /// handler whose client went away stops costing CPU. Once started, the
    /// job is asked to stop ([`crate::is_cancelled`] turns `true` inside
    /// it); a job that does not look runs to the end, and its result is
    /// dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), thread_exec::JobError> {
    /// use std::time::Duration;
    /// use thread_exec::Job;
    ///
    /// let pool = thread_exec::Executor::new(2);
    /// let len = pool.run(|| std::fs::read_dir(".").map(|d| d.count()).unwrap_or(0)).await?;
    /// assert!(len > 0);
    /// let fresh = pool.run(Job::new(|| "fresh").queue_timeout(Duration::from_secs(1))).await?;
    /// assert_eq!(fresh, "fresh");
    /// # Ok(())
    /// # }
    /// ```
    pub fn run<J, T>(&self, job: J) -> Run<'_, J, T>
    where
        J: IntoJob<T>,
        T: Send + 'static,
    {
        crate::submit::run_job(&self.shared, job)
    }

    /// Queues a job (a closure or a [`Job`]) if there is room now, and
    /// returns a future of its result that cancels the job if dropped: the
    /// web handler's blocking bridge that sheds load instead of waiting
    /// (`pool.try_run(f)?.await?`). Its caller waits for the answer, so
    /// the job is one the pool may shed under overload (its error then has
    /// [`JobError::is_shed`]; see the crate docs' "Under overload").
    ///
    /// # Errors
    ///
    /// As [`try_spawn`](Executor::try_spawn): [`TrySpawnError`] with the
    /// job inside if the bounded queue is full (counted in
    /// [`Stats::rejected`]) or the executor is shut down. It converts into
    /// a [`JobError`] (without the job), so a handler returning
    /// `Result<_, JobError>` can use `?` on both the submission and the
    /// result; with the `axum` feature both answer as HTTP responses.
    ///
    /// # Cancel safety
    ///
    /// The job is queued when `try_run` returns. Once the future has been
    /// polled (awaited), dropping it before the job started cancels the
    /// job: it never runs, and in a bounded pool its place in the queue is
    /// free at once. Dropped while the job runs, the job is asked to stop
    /// ([`crate::is_cancelled`] turns `true` inside it); a job that does
    /// not look runs to the end, and its result is dropped.
    ///
    /// A future dropped without ever being polled detaches the job
    /// instead, as a dropped [`JobHandle`] does: `let _ = pool.try_run(f)`
    /// (which the `must_use` lint suggests) runs `f`, rather than cancel it
    /// with no sign. A handler that awaits the future at once, as
    /// `pool.try_run(f)?.await` does, always polls it before it can be
    /// dropped, so a client that goes away cancels its job. (A future that
    /// waits unpolled in a `select!` whose other branch wins at once
    /// detaches too; call [`JobHandle::cancel`] on a handle from
    /// [`try_spawn`](Executor::try_spawn) for explicit control.)
    ///
    /// # Examples
    ///
    /// ```
    /// use thread_exec::{Executor, JobError};
    ///
    /// async fn handler(pool: &Executor, body: Vec<u8>) -> Result<u64, JobError> {
    ///     // Shed (full queue), cancel (client gone) and wait, in one line.
    ///     let sum = pool.try_run(move || body.iter().map(|&b| u64::from(b)).sum())?.await?;
    ///     Ok(sum)
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), JobError> {
    /// let pool = Executor::builder().threads(2).max_queue_size(64).build().unwrap();
    /// assert_eq!(handler(&pool, vec![1, 2, 3]).await?, 6);
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_run<J, T>(&self, job: J) -> Result<TryRun<T>, TrySpawnError<J>>
    where
        J: IntoJob<T>,
        T: Send + 'static,
    {
        crate::submit::try_run_job(&self.shared, job)
    }

    /// Blocks until the pool drains: every job accepted so far, and every
    /// job accepted while waiting, has finished (callbacks included).
    /// Returns at once if nothing is pending. Jobs that panicked or were
    /// cancelled count as finished, so a job that panics cannot make `wait`
    /// hang.
    ///
    /// Every call waiting when the pool drains returns at that drain, even
    /// if new jobs are accepted before its thread runs again (another
    /// waiter that returned first may submit more at once): under steady
    /// load, `wait` returns at the next moment the pool is idle, not at a
    /// moment when it is idle and the waiting thread happens to look.
    ///
    /// # Blocking
    ///
    /// Parks the thread; from async code use
    /// [`wait_async`](Executor::wait_async).
    ///
    /// # Panics
    ///
    /// Panics if called on one of this pool's threads (from one of its
    /// jobs, callbacks or hooks): the job would wait for itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let pool = thread_exec::Executor::new(3);
    /// let done = Arc::new(AtomicUsize::new(0));
    /// for _ in 0..10 {
    ///     let done = Arc::clone(&done);
    ///     pool.spawn(move || done.fetch_add(1, Ordering::SeqCst));
    /// }
    /// pool.wait();
    /// assert_eq!(done.load(Ordering::SeqCst), 10);
    /// ```
    pub fn wait(&self) {
        self.shared.refuse_own_worker("wait");
        let since = self.shared.drains();
        self.shared.block_until(Condition::Finished(since), None);
    }

    /// The future twin of [`wait`](Executor::wait): resolves once every
    /// accepted job has finished, without blocking a runtime thread. As
    /// with `wait`, every future created before a drain resolves at it,
    /// whatever was accepted after (it counts from this call, not from its
    /// first poll).
    ///
    /// # Panics
    ///
    /// Polling it on one of this pool's threads (in a job, say with a
    /// `block_on` of one's own) while a job is unfinished panics, as
    /// [`wait`](Executor::wait) does: it could only resolve after the job
    /// that polls it, so a `block_on` of it would hang.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it only stops waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = thread_exec::Executor::new(2);
    /// for i in 0..4 {
    ///     pool.spawn(move || i * i);
    /// }
    /// pool.wait_async().await;
    /// assert_eq!(pool.stats().completed, 4);
    /// # }
    /// ```
    pub fn wait_async(&self) -> WaitAsync {
        WaitAsync {
            inner: Until::new(&self.shared, Condition::Finished(self.shared.drains())),
        }
    }

    /// Adds `n` threads to the pool and returns the new thread target.
    ///
    /// In a fixed pool the `n` threads are started before this returns. In a
    /// dynamic pool (built with [`min_threads`](crate::Builder::min_threads)
    /// below [`max_threads`](crate::Builder::max_threads)) it raises
    /// `max_threads` by `n`; threads then start on demand (at once if jobs
    /// are waiting with no idle worker). `n` is an increment: use
    /// [`set_threads`](Executor::set_threads) to set a total.
    ///
    /// # Errors
    ///
    /// - [`ScaleError::is_closed`] if the executor is shut down.
    /// - A fixed pool's target above [`MAX_THREADS`](crate::MAX_THREADS)
    ///   (`scale_up(usize::MAX)`, say) is refused before any thread starts;
    ///   a dynamic pool's `max_threads` saturates instead.
    /// - If the operating system refuses to start a thread, the threads
    ///   started so far stay, the target is lowered to the threads that
    ///   exist, and the I/O error is the error's
    ///   [`source`](std::error::Error::source).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(2);
    /// assert_eq!(pool.scale_up(3)?, 5);
    /// assert_eq!(pool.stats().threads, 5);
    /// # Ok::<(), thread_exec::ScaleError>(())
    /// ```
    pub fn scale_up(&self, n: usize) -> Result<usize, ScaleError> {
        crate::scaling::scale_up(&self.shared, n)
    }

    /// Retires `n` threads and returns the new thread target.
    ///
    /// The target never drops below 1, nor below `min_threads` in a dynamic
    /// pool: a larger `n` is clamped, and the return value shows the clamp.
    /// Idle threads exit promptly, whatever the queue's length; busy threads
    /// finish their current job first, then exit without waiting for the
    /// queue to drain. No job is interrupted or lost: the remaining threads
    /// run the queue. On a shut-down executor it changes nothing and returns
    /// the current target.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(4);
    /// assert_eq!(pool.scale_down(1), 3);
    /// assert_eq!(pool.scale_down(10), 1); // clamped
    /// ```
    pub fn scale_down(&self, n: usize) -> usize {
        crate::scaling::scale_down(&self.shared, n)
    }

    /// Sets the thread target to `n` and returns it: starts threads (fixed
    /// pool) or raises `max_threads` (dynamic pool) when `n` is above it,
    /// retires threads as [`scale_down`](Executor::scale_down) does when
    /// below. In a dynamic pool, `min_threads` is lowered to `n` if it was
    /// above.
    ///
    /// # Errors
    ///
    /// As [`scale_up`](Executor::scale_up): closed, or a thread could not
    /// be started; and an error if `n` is 0 (a pool needs at least one
    /// thread), which changes nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(2);
    /// assert_eq!(pool.set_threads(6)?, 6);
    /// assert_eq!(pool.set_threads(1)?, 1);
    /// # Ok::<(), thread_exec::ScaleError>(())
    /// ```
    pub fn set_threads(&self, n: usize) -> Result<usize, ScaleError> {
        if n == 0 {
            return Err(ScaleError::new(ScaleErrorKind::ZeroThreads));
        }
        crate::scaling::set_threads(&self.shared, n)
    }

    /// Stops accepting jobs, runs every job already accepted, and returns
    /// once every worker thread has exited and been joined. Any clone may
    /// call it; it applies to the pool, and is idempotent.
    ///
    /// After shutdown, [`spawn`](Executor::spawn) and
    /// [`send`](Executor::send) return handles that yield an error with
    /// [`JobError::is_closed`](crate::JobError::is_closed), and
    /// [`try_spawn`](Executor::try_spawn) /
    /// [`spawn_async`](Executor::spawn_async) hand the job back. Senders
    /// blocked on a full queue wake and get the same answer.
    ///
    /// # Blocking
    ///
    /// Blocks until the queue is drained and the threads have exited; from
    /// async code use [`shutdown_async`](Executor::shutdown_async).
    ///
    /// # Panics
    ///
    /// Panics if called on one of this pool's threads while it works (from
    /// one of its jobs, callbacks or hooks): it would wait for that thread.
    /// (Dropping the last `Executor` inside a job is fine: it closes the
    /// pool without waiting. A thread of the pool on its way out, such as a
    /// waker it wakes as it exits, may call it, also while another thread's
    /// shutdown is joining the pool: there it returns once every thread has
    /// exited, without joining any, since one of them is its own.)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let pool = thread_exec::Executor::new(2);
    /// let ran = Arc::new(AtomicUsize::new(0));
    /// for _ in 0..100 {
    ///     let ran = Arc::clone(&ran);
    ///     pool.spawn(move || ran.fetch_add(1, Ordering::SeqCst));
    /// }
    /// pool.shutdown();
    /// assert_eq!(ran.load(Ordering::SeqCst), 100); // nothing queued was lost
    /// assert!(pool.spawn(|| ()).join().unwrap_err().is_closed());
    /// ```
    pub fn shutdown(&self) {
        self.shared.refuse_own_worker("shutdown");
        let finished = crate::shutdown::shutdown_until(&self.shared, None);
        debug_assert!(finished, "an unbounded shutdown always finishes");
    }

    /// As [`shutdown`](Executor::shutdown), but gives up waiting after
    /// `timeout`: returns `true` if every thread exited and was joined in
    /// time (by this call or a concurrent shutdown). The pool is closed
    /// either way, and the threads that are still running finish the queue
    /// and exit on their own; a thread still running user code on its way
    /// out (a waker it woke, a thread-local destructor) is joined by a later
    /// shutdown, or by nobody once the pool is dropped.
    ///
    /// # Blocking
    ///
    /// Blocks for at most `timeout` (plus a scheduling delay), also while
    /// another thread's shutdown is joining the pool's threads.
    ///
    /// # Panics
    ///
    /// As [`shutdown`](Executor::shutdown), on one of the pool's threads.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = thread_exec::Executor::new(1);
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// pool.spawn(move || rx.recv().ok());
    /// assert!(!pool.shutdown_timeout(Duration::from_millis(50))); // still busy
    /// drop(tx);
    /// assert!(pool.shutdown_timeout(Duration::from_secs(10)));
    /// ```
    pub fn shutdown_timeout(&self, timeout: Duration) -> bool {
        self.shared.refuse_own_worker("shutdown_timeout");
        crate::shutdown::shutdown_until(&self.shared, crate::sync::deadline_after(timeout))
    }

    /// The future twin of [`shutdown`](Executor::shutdown). The pool closes
    /// when this is called, not when the future is first polled; the future
    /// resolves once every worker thread has exited. It does not join the
    /// threads (that would block); they have returned from their work when
    /// it resolves.
    ///
    /// # Panics
    ///
    /// Polling it on one of this pool's threads (in a job) before every
    /// thread has exited panics, as [`shutdown`](Executor::shutdown) does:
    /// it would wait for the thread that polls it.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future only stops waiting; the pool stays closed and its
    /// threads finish the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = thread_exec::Executor::new(2);
    /// let handle = pool.spawn(|| 1);
    /// pool.shutdown_async().await;
    /// assert_eq!(handle.await.unwrap(), 1);
    /// assert!(pool.is_shutdown());
    /// # }
    /// ```
    pub fn shutdown_async(&self) -> ShutdownAsync {
        crate::shutdown::shutdown_async(&self.shared)
    }

    /// Stops accepting jobs and takes every job that has not started out of
    /// the queue, handing each back as a [`PendingJob`]. Jobs already running
    /// finish on the pool, whose threads then exit; this call does not wait
    /// for them (follow it with [`shutdown`](Executor::shutdown) to).
    ///
    /// Nothing is lost silently: run a `PendingJob` to deliver its result to
    /// its original handle, or drop it to settle that handle as cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(1);
    /// let (started_tx, started) = std::sync::mpsc::channel();
    /// let (release, rx) = std::sync::mpsc::channel::<()>();
    /// pool.spawn(move || { started_tx.send(()).unwrap(); rx.recv().ok() });
    /// started.recv().unwrap();
    /// let handles: Vec<_> = (0..3).map(|i| pool.spawn(move || i)).collect();
    ///
    /// let pending = pool.shutdown_now();
    /// assert_eq!(pending.len(), 3);
    /// for job in pending {
    ///     job.run(); // on this thread, e.g. while persisting state
    /// }
    /// drop(release);
    /// let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    /// assert_eq!(results, [0, 1, 2]);
    /// pool.shutdown();
    /// ```
    pub fn shutdown_now(&self) -> Vec<PendingJob> {
        crate::shutdown::shutdown_now(&self.shared)
    }

    /// Stops admitting jobs; the jobs already accepted, queued or running,
    /// go on, and the threads exit once the queue is empty. Returns at once.
    /// Any clone may call it; it applies to the pool, and is idempotent.
    ///
    /// The first step of a service's stop: every later submission is
    /// refused as after [`shutdown`](Executor::shutdown) (a
    /// [`JobError::is_closed`] error, or the job handed back by
    /// [`try_spawn`](Executor::try_spawn) and
    /// [`spawn_async`](Executor::spawn_async)), which with the `axum`
    /// feature answers 503 with `Retry-After`, so a load balancer sends the
    /// client elsewhere. Follow it with [`drain_async`](Executor::drain_async)
    /// to wait, within a deadline, for what was accepted.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(1);
    /// let accepted = pool.spawn(|| "runs");
    /// pool.close();
    /// assert!(pool.spawn(|| "refused").join().unwrap_err().is_closed());
    /// assert_eq!(accepted.join().unwrap(), "runs");
    /// ```
    pub fn close(&self) {
        crate::shutdown::close_and_settle_starts(&self.shared);
    }

    /// Stops admitting jobs and waits for the pool to finish the jobs it
    /// accepted, but only until `timeout` has passed: the blocking twin of
    /// [`drain_async`](Executor::drain_async), which says what happens at
    /// the deadline. Returns once every thread has exited (and been joined),
    /// or at the deadline with the unstarted jobs handed back.
    ///
    /// `Duration::ZERO` hands back every queued job at once (as
    /// [`shutdown_now`](Executor::shutdown_now)); a timeout too long for
    /// `Instant` waits without a bound (as [`shutdown`](Executor::shutdown)).
    ///
    /// # Blocking
    ///
    /// Blocks for at most `timeout`; from async code use
    /// [`drain_async`](Executor::drain_async).
    ///
    /// # Panics
    ///
    /// As [`shutdown`](Executor::shutdown), on one of the pool's threads.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = thread_exec::Executor::new(2);
    /// let handles: Vec<_> = (0..4).map(|i| pool.spawn(move || i)).collect();
    /// let report = pool.drain(Duration::from_secs(10));
    /// assert!(report.is_complete(), "{report}");
    /// let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    /// assert_eq!(results, [0, 1, 2, 3]);
    /// ```
    pub fn drain(&self, timeout: Duration) -> DrainReport {
        self.shared.refuse_own_worker("drain");
        crate::drain::drain(&self.shared, timeout)
    }

    /// Stops admitting jobs at the call (as [`close`](Executor::close)) and
    /// resolves, without blocking the runtime, once the pool has finished
    /// every job it accepted or `timeout` has passed, to a [`DrainReport`]:
    ///
    /// - jobs that finished meanwhile ([`finished`](DrainReport::finished));
    /// - at the deadline, the jobs that had not started, taken out of the
    ///   queue and handed back ([`into_pending`](DrainReport::into_pending)):
    ///   run them, store them, or drop the report to cancel them, so the
    ///   handlers awaiting them answer at once;
    /// - the jobs still running then ([`still_running`](DrainReport::still_running)).
    ///   A running job is never interrupted (threads cannot be killed
    ///   safely); it finishes on its thread, or ends with the process: a
    ///   Rust process exits when `main` returns, whatever other threads
    ///   still run, so return from `main` after the drain and the exit is
    ///   bounded by the deadline, not by the longest job. A job that checks
    ///   [`is_cancelled`](crate::is_cancelled) can stop early when the
    ///   handle or future that waited for it is dropped.
    ///
    /// The deadline needs a clock, and the crate needs no runtime: the
    /// first time the future waits with a deadline ahead, it starts a timer
    /// thread that ends with the drain. If the operating system refuses that
    /// thread, the drain gives up at once.
    ///
    /// # In a service
    ///
    /// The order of tokio's graceful-shutdown guide (a signal, then a
    /// `CancellationToken`, then waiting for the tasks to finish): on the
    /// signal, stop accepting connections (axum's
    /// `serve(..).with_graceful_shutdown(token.cancelled_owned())`) and
    /// [`close`](Executor::close) the pool, so handlers that reach it late
    /// answer 503 with `Retry-After`; let the in-flight handlers finish,
    /// within the deadline (those waiting for their jobs get them); then
    /// drain the pool with what is left of the deadline, for the jobs no
    /// handler waits for; then return from `main`.
    /// `examples/graceful_shutdown.rs` is that service, driven by SIGTERM
    /// or ctrl-c.
    ///
    /// ```no_run
    /// use std::time::{Duration, Instant};
    /// use thread_exec::Executor;
    ///
    /// async fn stop(pool: Executor, server: impl std::future::Future<Output = ()>) {
    ///     let deadline = Instant::now() + Duration::from_secs(10);
    ///     pool.close(); // late handlers answer 503
    ///     // In-flight handlers finish, within the deadline.
    ///     let _ = tokio::time::timeout_at(deadline.into(), server).await;
    ///     let report = pool.drain_async(deadline.saturating_duration_since(Instant::now())).await;
    ///     eprintln!("drained: {report}"); // then return from main
    /// }
    /// ```
    ///
    /// # Panics
    ///
    /// Polling it on one of this pool's threads (in a job) while it would
    /// wait panics, as [`shutdown_async`](Executor::shutdown_async) does.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops waiting (and its timer thread); the pool
    /// stays closed, and its threads finish the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = thread_exec::Executor::new(1);
    /// let (release, rx) = std::sync::mpsc::channel::<()>();
    /// let (started_tx, started) = std::sync::mpsc::channel();
    /// let stuck = pool.spawn(move || { started_tx.send(()).unwrap(); rx.recv().ok() });
    /// started.recv().unwrap();
    /// let queued = pool.spawn(|| "never started");
    ///
    /// let report = pool.drain_async(Duration::from_millis(20)).await;
    /// assert_eq!((report.handed_back(), report.still_running()), (1, 1));
    /// drop(report); // cancels the handed-back job
    /// assert!(queued.await.unwrap_err().is_cancelled());
    /// # drop(release);
    /// # stuck.await.unwrap();
    /// # }
    /// ```
    pub fn drain_async(&self, timeout: Duration) -> DrainAsync {
        crate::drain::drain_async(&self.shared, timeout)
    }

    /// `true` once a shutdown call (on any clone) closed the pool. Dropping
    /// the last clone closes it too, but then no clone is left to ask.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(1);
    /// assert!(!pool.is_shutdown());
    /// pool.shutdown();
    /// assert!(pool.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.shared.counts().closed
    }

    /// A snapshot of the pool's threads and job counts; see [`Stats`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(3);
    /// assert_eq!(pool.stats().threads, 3);
    /// ```
    pub fn stats(&self) -> Stats {
        crate::stats::snapshot(&self.shared)
    }

    /// Publishes the pool's figures through the [`metrics`] facade to the
    /// recorder in effect on the calling thread (the global one, or one
    /// set with `metrics::with_local_recorder`), each with the label
    /// `pool` = [`Builder::metrics_label`]. Feature `metrics`.
    ///
    /// | name | kind | value |
    /// | --- | --- | --- |
    /// | `thread_exec_threads` | gauge | [`Stats::threads`] |
    /// | `thread_exec_idle_threads` | gauge | [`Stats::idle_threads`] |
    /// | `thread_exec_queued_jobs` | gauge | [`Stats::queued`] |
    /// | `thread_exec_running_jobs` | gauge | [`Stats::running`] |
    /// | `thread_exec_jobs_completed_total` | counter | [`Stats::completed`] |
    /// | `thread_exec_jobs_panicked_total` | counter | [`Stats::panicked`] |
    /// | `thread_exec_jobs_cancelled_total` | counter | [`Stats::cancelled`] |
    /// | `thread_exec_jobs_expired_total` | counter | [`Stats::expired`] |
    /// | `thread_exec_jobs_rejected_total` | counter | [`Stats::rejected`] |
    /// | `thread_exec_jobs_handed_back_total` | counter | [`Stats::handed_back`] |
    /// | `thread_exec_jobs_shed_total` | counter, one per label `reason` (`submit`, `standing_queue`, `would_miss_deadline`, `displaced`) | [`Stats::shed`] |
    /// | `thread_exec_overloaded` | gauge, 0 or 1 | [`Stats::overloaded`] |
    /// | `thread_exec_load` | gauge, 0 to 100 | [`Stats::load`] |
    /// | `thread_exec_queue_wait_seconds` | histogram | [`Stats::queue_wait`] |
    /// | `thread_exec_run_time_seconds` | histogram | [`Stats::run_time`] |
    ///
    /// Gauges are set, and counters set to the pool's totals
    /// (`Counter::absolute`). The histograms get, for each of the pool's
    /// histogram buckets that gained values since the previous call, its
    /// midpoint in seconds (within 3.2 % of each value) that many times;
    /// they stay empty unless the pool
    /// [records timings](Builder::record_timings). That growth is handed to
    /// whichever recorder is in effect at the call, once: a call with no
    /// recorder installed, or whose recorder panics, uses it up, and a
    /// recorder installed later hears only the growth after its first call
    /// (the gauges and counters are absolute, so it hears those whole).
    /// Every name is registered, with a description and a unit, on every
    /// call.
    ///
    /// Publication is on read, by design: the job path only writes each
    /// worker's own counters and histograms (no lock, no allocation, no
    /// recorder call), and this call reads them as [`stats`](Executor::stats)
    /// does. Call it from a timer, or before each scrape: its cost (a
    /// snapshot of every worker's histograms, and the recorder's own work)
    /// is paid by the caller, not by the jobs. Call it from one place: two
    /// concurrent calls each publish part of the histograms' growth, and
    /// the counters may step back until the next call.
    ///
    /// No lock of the pool is held while the recorder runs; a recorder
    /// that panics is caught and reported through `tracing`.
    ///
    /// The recorder's work on the histograms grows with the jobs timed since
    /// the previous call: the `metrics` facade's histograms take samples
    /// (one `record` per value, as a bucket's count of them), and a recorder
    /// that keeps samples, as `metrics-exporter-prometheus` does, works per
    /// job. At a service's rates (thousands of jobs a second) that is
    /// microseconds a second; in the benchmarks, a thread publishing every
    /// 50 ms to that exporter's default recorder while two workers ran
    /// about two million tiny jobs a second took that CPU from the workers
    /// on a 2-vCPU machine: tiny jobs took 42-45 % (async) and 56-76 %
    /// (plain thread) longer than in a pool with timings alone, over two
    /// runs. At such
    /// rates publish less often, or read [`Stats::queue_wait`] directly.
    ///
    /// # Examples
    ///
    /// ```
    /// use metrics_util::debugging::DebuggingRecorder;
    ///
    /// let pool = thread_exec::Executor::builder()
    ///     .threads(2)
    ///     .metrics_label("hashing")
    ///     .record_timings(true)
    ///     .build()?;
    /// pool.spawn(|| ());
    /// pool.wait();
    ///
    /// let recorder = DebuggingRecorder::new();
    /// let snapshotter = recorder.snapshotter();
    /// metrics::with_local_recorder(&recorder, || pool.publish_metrics());
    /// let names: Vec<String> = snapshotter
    ///     .snapshot()
    ///     .into_vec()
    ///     .into_iter()
    ///     .map(|(key, ..)| key.key().name().to_owned())
    ///     .collect();
    /// assert!(names.iter().any(|name| name == "thread_exec_jobs_completed_total"));
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn publish_metrics(&self) {
        crate::metrics::publish(&self.shared);
    }
}

impl Executor {
    /// A handle to the pool that does not keep it open: for code the pool
    /// itself holds, such as a [`Builder`] hook that resubmits a failed job.
    /// An `Executor` captured by a hook would be a cycle (the pool owns its
    /// hooks), so the pool would never close when the last outside clone
    /// is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, OnceLock};
    /// use thread_exec::{Executor, WeakExecutor};
    ///
    /// let weak: Arc<OnceLock<WeakExecutor>> = Arc::default();
    /// let in_hook = Arc::clone(&weak);
    /// let pool = Executor::builder()
    ///     .threads(1)
    ///     .on_panic(move |_| {
    ///         // Reach the pool from its own hook without keeping it alive.
    ///         if let Some(pool) = in_hook.get().and_then(WeakExecutor::upgrade) {
    ///             pool.spawn(|| println!("retrying"));
    ///         }
    ///     })
    ///     .build()?;
    /// weak.set(pool.downgrade()).unwrap();
    /// pool.spawn(|| panic!("first try fails"));
    /// pool.wait();
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn downgrade(&self) -> WeakExecutor {
        WeakExecutor {
            shared: Arc::downgrade(&self.shared),
        }
    }
}

/// A handle to a pool that does not keep it open, from
/// [`Executor::downgrade`]; [`upgrade`](WeakExecutor::upgrade) it to use the
/// pool.
///
/// # Examples
///
/// ```
/// let pool = thread_exec::Executor::new(1);
/// let weak = pool.downgrade();
/// assert!(weak.upgrade().is_some());
/// drop(pool); // the last Executor: the pool closes
/// assert!(weak.upgrade().is_none());
/// ```
#[derive(Clone)]
pub struct WeakExecutor {
    shared: std::sync::Weak<Shared>,
}

impl WeakExecutor {
    /// An `Executor` for the pool, or `None` once every `Executor` of it was
    /// dropped (the pool then closes, and stays closed).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(1);
    /// let weak = pool.downgrade();
    /// let again = weak.upgrade().expect("the pool is open");
    /// assert_eq!(again.spawn(|| 2).join().unwrap(), 2);
    /// ```
    pub fn upgrade(&self) -> Option<Executor> {
        let shared = self.shared.upgrade()?;
        shared.try_add_executor().then_some(Executor { shared })
    }
}

impl fmt::Debug for WeakExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakExecutor").finish_non_exhaustive()
    }
}

impl Clone for Executor {
    fn clone(&self) -> Self {
        self.shared.add_executor();
        Executor {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Executor {
    /// The last clone's drop closes the pool: the threads run every queued
    /// job, then exit. Never blocks.
    fn drop(&mut self) {
        self.shared.remove_executor();
    }
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

/// The future of [`Executor::wait_async`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct WaitAsync {
    inner: Until,
}

impl Future for WaitAsync {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.inner).poll(cx)
    }
}
