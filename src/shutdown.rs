//! Shutdown: stopping the pool without losing a job.
//!
//! The protocol, in four lines (details in [`crate::pool`]):
//!
//! 1. `close` sets `CLOSED` in the state word: from then on every submission
//!    is refused, and the refused job comes back to its submitter.
//! 2. Workers keep running the queue. The thread that settles the last
//!    accepted job (or the closer, if none was pending) nudges every worker.
//! 3. A worker that finds the pool closed and every job settled exits.
//! 4. `shutdown` waits until no worker thread is alive, then joins them.
//!
//! `shutdown_now` takes step 2's queue away instead: it drains every job that
//! has not started and hands it back as a [`PendingJob`], so nothing is lost
//! silently; only the jobs already running finish on the pool.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::executor::Executor;
use crate::pool::{Condition, Shared, Until, ONE_QUEUED, ONE_UNFINISHED};
use crate::queue::Msg;
use crate::slot::TaskRef;
use crate::sync::{lock, Ordering::SeqCst};

impl Executor {
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
    /// Panics if called from one of this pool's own jobs: it would wait for
    /// that job's own thread. (Dropping the last `Executor` inside a job is
    /// fine: it closes the pool without waiting.)
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
        let finished = self.shutdown_until(None);
        debug_assert!(finished, "an unbounded shutdown always finishes");
    }

    /// As [`shutdown`](Executor::shutdown), but gives up waiting after
    /// `timeout`: returns `true` if every thread exited in time. The pool is
    /// closed either way, and the threads that are still running finish the
    /// queue and exit on their own.
    ///
    /// # Blocking
    ///
    /// Blocks for at most `timeout`.
    ///
    /// # Panics
    ///
    /// As [`shutdown`](Executor::shutdown), from one of the pool's own jobs.
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
        self.shutdown_until(Some(Instant::now() + timeout))
    }

    fn shutdown_until(&self, deadline: Option<Instant>) -> bool {
        assert!(
            !crate::worker::is_worker_of(&self.shared),
            "Executor::shutdown called from one of its own jobs: it would wait for its own thread"
        );
        let shared = &self.shared;
        close_and_settle_starts(shared);
        let exited = shared.block_until(Condition::Exited, deadline);
        if exited {
            // Every thread has left its main function; joining only reaps.
            let handles = lock(&shared.registry).take_exited();
            for handle in handles {
                let _ = handle.join();
            }
        }
        exited
    }

    /// The future twin of [`shutdown`](Executor::shutdown). The pool closes
    /// when this is called, not when the future is first polled; the future
    /// resolves once every worker thread has exited. It does not join the
    /// threads (that would block); they have returned from their work when
    /// it resolves.
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
        close_and_settle_starts(&self.shared);
        ShutdownAsync {
            inner: Until::new(&self.shared, Condition::Exited),
        }
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
        let shared = &self.shared;
        shared.close();
        let mut pending = Vec::new();
        for msg in shared.queue.drain() {
            let Msg::Job(task) = msg else { continue };
            if task.is_queued() {
                pending.push(PendingJob { task: Some(task) });
            } else {
                shared.cancelled.fetch_add(1, SeqCst);
            }
            shared.release(ONE_QUEUED + ONE_UNFINISHED);
        }
        // The drain may have swallowed the nudges that tell idle workers to
        // exit; send them again if the pool has nothing left to run.
        if shared.is_drained() {
            shared.nudge_all();
        }
        tracing::debug!(handed_back = pending.len(), "executor shut down now");
        pending
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
}

/// Closes the pool, then waits for any thread start already under way (they
/// happen under `Shared::scaling`; see `scaling`'s module docs), so that
/// `alive` counts every thread that will ever run. Brief: at most one
/// scale operation's thread starts.
fn close_and_settle_starts(shared: &Shared) {
    shared.close();
    drop(lock(&shared.scaling));
}

/// The future of [`Executor::shutdown_async`].
#[must_use = "the pool is closed already; await this to wait for its threads"]
#[derive(Debug)]
pub struct ShutdownAsync {
    inner: Until,
}

impl Future for ShutdownAsync {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.inner).poll(cx)
    }
}

/// A job that [`Executor::shutdown_now`] took out of the queue before it
/// started. Its original [`JobHandle`](crate::JobHandle) is still waiting:
/// [`run`](PendingJob::run) it to deliver the result there, or drop it to
/// settle the handle as cancelled.
///
/// # Examples
///
/// ```
/// let pool = thread_exec::Executor::new(1);
/// let (started_tx, started) = std::sync::mpsc::channel();
/// let (release, rx) = std::sync::mpsc::channel::<()>();
/// pool.spawn(move || { started_tx.send(()).unwrap(); rx.recv().ok() });
/// started.recv().unwrap();
/// let handle = pool.spawn(|| "late");
/// let pending = pool.shutdown_now();
/// drop(pending); // settles `handle` as cancelled
/// assert!(handle.join().unwrap_err().is_cancelled());
/// # drop(release);
/// ```
#[must_use = "dropping a PendingJob cancels it; call `run` to run it"]
pub struct PendingJob {
    /// `None` once run.
    task: Option<TaskRef>,
}

impl PendingJob {
    /// Runs the job on the calling thread and delivers its result (or its
    /// panic, as a [`JobError`](crate::JobError)) to its handle. Callbacks
    /// run here too. Does nothing if the handle cancelled the job meanwhile.
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = thread_exec::Executor::new(1);
    /// # let (started_tx, started) = std::sync::mpsc::channel();
    /// # let (release, rx) = std::sync::mpsc::channel::<()>();
    /// # pool.spawn(move || { started_tx.send(()).unwrap(); rx.recv().ok() });
    /// # started.recv().unwrap();
    /// let handle = pool.spawn(|| 2 + 2);
    /// for job in pool.shutdown_now() {
    ///     job.run();
    /// }
    /// assert_eq!(handle.join().unwrap(), 4);
    /// # drop(release);
    /// ```
    pub fn run(mut self) {
        if let Some(task) = self.task.take() {
            // Frees the slot here if the handle is gone; the result's
            // destructor is caught inside.
            task.run(&mut || {});
        }
    }
}

impl Drop for PendingJob {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.cancel();
        }
    }
}

impl fmt::Debug for PendingJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingJob").finish_non_exhaustive()
    }
}
