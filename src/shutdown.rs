//! Shutdown: stopping the pool without losing a job.
//!
//! The protocol, in four lines (details in [`crate::state`]):
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

use crate::queue::Msg;
use crate::slot::TaskRef;
use crate::state::{Condition, Owed, Shared, Until};
use crate::sync::thread::JoinHandle;
use crate::sync::{lock, Arc};

/// `Executor::shutdown` and `shutdown_timeout`, and the teardown of a pool
/// whose `build` failed: closes the pool, waits until every thread has
/// exited, and joins the threads; `false` if `deadline` passed first.
///
/// Concurrent callers each return only once the threads are joined: each
/// joins the handles it took out of the registry, outside every lock, and
/// then waits until no other caller is joining one. No lock is held across
/// a join: a thread on its way out still runs user code (a waker it wakes
/// as it exits, thread-local destructors), which may call `shutdown`
/// itself, and a join under a lock that code waits for never ends.
///
/// A pool thread on its way out (that waker) returns as soon as every
/// thread has exited, joining nothing: it cannot join itself, and another
/// caller may be joining it, so waiting for that join would wait for
/// itself. Its handle is joined by that other caller, a later `shutdown`,
/// or dropped with the pool (the thread is ending anyway).
///
/// With a `deadline`, only threads that have returned by then are joined;
/// one still running user code on its way out is left in the registry for
/// a later call, and this one returns `false`.
pub(crate) fn shutdown_until(shared: &Shared, deadline: Option<Instant>) -> bool {
    close_and_settle_starts(shared);
    if !shared.block_until(Condition::Exited, deadline) {
        return false;
    }
    if shared.is_exiting_thread() {
        return true;
    }
    let me = crate::sync::thread::current().id();
    loop {
        let handles = lock(&shared.registry).take_exited();
        let taken = handles.len();
        let mut kept = Vec::new();
        for handle in handles {
            // Every thread has left its loop; joining only reaps.
            let joinable =
                handle.thread().id() != me && deadline.is_none_or(|at| finished_by(&handle, at));
            if joinable {
                let _ = handle.join();
            } else {
                kept.push(handle);
            }
        }
        let all_ours_joined = kept.is_empty();
        lock(&shared.registry).joined(taken, kept);
        shared.threads_changed();
        if !all_ours_joined {
            return false;
        }
        // Until every join is done, or a handle comes back for us to join:
        // a concurrent caller with a deadline puts back the handles it
        // could not join in time, and nobody else would join them.
        if !shared.block_until(Condition::Joinable, deadline) {
            return false;
        }
        if shared.holds(Condition::Joined) {
            return true;
        }
    }
}

/// Waits until the thread of `handle` has returned, or `deadline` passes
/// (then `false`). A thread counted out of `alive` returns within
/// instructions unless it runs user code on its way out, so this polls,
/// briefly.
fn finished_by(handle: &JoinHandle<()>, deadline: Instant) -> bool {
    let mut pause = Duration::from_micros(20);
    loop {
        if crate::sync::thread::is_finished(handle) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(1));
    }
}

/// `Executor::shutdown_async`: closes the pool at the call.
pub(crate) fn shutdown_async(shared: &Arc<Shared>) -> ShutdownAsync {
    close_and_settle_starts(shared);
    ShutdownAsync {
        inner: Until::new(shared, Condition::Exited),
    }
}

/// `Executor::shutdown_now`: closes the pool and hands back every job that
/// has not started.
pub(crate) fn shutdown_now(shared: &Shared) -> Vec<PendingJob> {
    shared.close();
    let mut pending = Vec::new();
    for msg in shared.queue.drain() {
        let Msg::Job(task) = msg else { continue };
        // Whoever takes the accounting settles the job in the pool: here,
        // unless its handle cancelled it and did (see `slot`).
        if !task.take_accounting() {
            continue;
        }
        if task.is_queued() {
            pending.push(PendingJob { task: Some(task) });
            shared.settle_handed_back();
        } else {
            shared.settle_cancelled(&mut Owed::default());
        }
    }
    // The drain may have swallowed the nudges that tell idle workers to
    // exit; send them again if the pool has nothing left to run.
    if shared.is_drained() {
        shared.nudge_all();
    }
    tracing::debug!(handed_back = pending.len(), "executor shut down now");
    pending
}

/// Closes the pool, then waits for any thread start already under way (they
/// happen under `Shared::scaling`; see `scaling`'s module docs), so that
/// `alive` counts every thread that will ever run. Brief: at most one
/// scale operation's thread starts.
pub(crate) fn close_and_settle_starts(shared: &Shared) {
    shared.close();
    drop(lock(&shared.scaling));
}

/// The future of [`Executor::shutdown_async`](crate::Executor::shutdown_async).
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

/// A job that [`Executor::shutdown_now`](crate::Executor::shutdown_now) took out of the queue before it
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
    /// It runs whatever its queue deadline ([`Job::deadline`](crate::Job::deadline),
    /// [`Builder::queue_timeout`](crate::Builder::queue_timeout)): that
    /// deadline is for the pool's queue, which the job has left, and the
    /// caller who runs it has decided. To drop late work instead, drop the
    /// `PendingJob` (its handle then yields a cancelled error). The pool
    /// counted the job in [`Stats::handed_back`](crate::Stats::handed_back)
    /// when it handed it back; running it here is not counted.
    ///
    /// # Blocking
    ///
    /// For as long as the job runs: from async code, run it on a blocking
    /// thread (`tokio::task::spawn_blocking(move || job.run())`).
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
            task.run();
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
