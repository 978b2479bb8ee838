//! The job slot and [`JobHandle`], the caller's end of it.
//!
//! # The slot
//!
//! Every accepted job lives in exactly one heap allocation, an
//! `Arc<Slot<F, C, T>>`, that holds the closure `F`, its callback `C`, the
//! tracing span it was submitted under, the waker of whoever awaits it, and
//! later its result `T`. The queue holds it as `Arc<dyn Task>` (the worker's
//! view: run or skip), the handle as `Arc<dyn Completion<T>>` (the caller's
//! view: poll, cancel, add a callback). Both are the same allocation.
//!
//! # The state machine
//!
//! ```text
//!            worker pops it                job returns or panics
//!  Queued ───────────────────▶ Running ─────────────────────────▶ Done ──▶ Taken
//!    │        (or PendingJob::run)       callbacks run, then       handle takes
//!    │                                   the waker is woken        the result
//!    └─ cancel / PendingJob dropped ──▶ Running ─▶ Done(Err(cancelled))
//! ```
//!
//! Every transition happens under the slot's mutex, and leaving `Queued` is
//! the single point that decides a job's fate: whoever moves it out (a worker
//! starting it, or a canceller) owns the closure, and everyone else sees
//! `Running` or later and backs off. So `cancel` and job start race safely,
//! and a job runs at most once. The closure and callback are always moved out
//! under the lock and run, or dropped, after it is released.
//!
//! Callbacks that arrive while the job runs ([`JobHandle::on_complete`]) are
//! kept in the slot's waiter (boxed, so jobs without them pay nothing); the finishing thread runs them, outside the lock, in a
//! loop that ends when none are left, and only then publishes `Done` and
//! wakes the waiter. A callback registered after `Done` runs at once on the
//! caller's thread. Either way each callback runs exactly once.

use std::fmt;
use std::future::Future;
use std::mem;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tracing::Span;

use crate::error::{panic_text, JobError};
use crate::job::Callback;
use crate::sync::{lock, Arc, Mutex};

/// A callback added to a handle after submission.
pub(crate) type BoxedCallback<T> = Box<dyn FnOnce(&Result<T, JobError>) + Send + 'static>;

/// How a worker's attempt to run a queued entry ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The job was no longer queued (cancelled): nothing ran.
    Skipped,
    /// The job ran and returned.
    Completed,
    /// The job ran and panicked; its handle holds the payload.
    Panicked,
}

/// The worker's (and [`crate::PendingJob`]'s) view of a job.
pub(crate) trait Task: Send + Sync {
    /// Runs the job on the calling thread if it is still queued; `started` is
    /// called right after the job leaves `Queued`, before it runs.
    fn run(&self, started: &mut dyn FnMut()) -> Outcome;
    /// Settles a still-queued job as cancelled; `false` if it had left
    /// `Queued` already.
    fn cancel(&self) -> bool;
    /// Whether the job has not started and has not been cancelled.
    fn is_queued(&self) -> bool;
}

/// The handle's view of a job.
pub(crate) trait Completion<T>: Send + Sync {
    fn poll_result(&self, cx: &mut Context<'_>) -> Poll<Result<T, JobError>>;
    fn is_finished(&self) -> bool;
    fn cancel(&self) -> bool;
    fn add_callback(&self, callback: BoxedCallback<T>);
}

pub(crate) struct Slot<F, C, T> {
    state: Mutex<State<F, C, T>>,
}

struct State<F, C, T> {
    stage: Stage<F, C, T>,
    waiter: Waiter<T>,
}

/// Who is told when the job settles. One word pair in the common case (a
/// task's waker, or a no-op waker when nobody awaits), so the slot does not
/// pay for `on_complete` callbacks that few jobs have.
enum Waiter<T> {
    /// The task awaiting the result; a no-op waker when none does. Replaced
    /// on every pending poll whose waker would not wake the same task.
    Task(Waker),
    /// Callbacks added by `on_complete` while the job was queued or running,
    /// and the awaiting task's waker.
    Callbacks(Box<Callbacks<T>>),
}

struct Callbacks<T> {
    run: BoxedCallback<T>,
    waker: Waker,
}

impl<T> Waiter<T> {
    fn none() -> Self {
        Waiter::Task(futures::task::noop_waker())
    }

    fn waker_mut(&mut self) -> &mut Waker {
        match self {
            Waiter::Task(waker) => waker,
            Waiter::Callbacks(callbacks) => &mut callbacks.waker,
        }
    }
}

enum Stage<F, C, T> {
    /// Accepted and waiting for a worker. The span is the one current at
    /// submission, boxed so that jobs submitted outside any span (the common
    /// case without a tracing subscriber) pay one null word for it.
    Queued {
        f: F,
        callback: C,
        span: Option<Box<Span>>,
    },
    /// Taken out of `Queued` by a worker (running) or a canceller (settling).
    Running,
    /// Settled; the result waits for the handle.
    Done(Result<T, JobError>),
    /// The handle took the result.
    Taken,
}

impl<F, C, T> Slot<F, C, T>
where
    F: FnOnce() -> T + Send + 'static,
    C: Callback<T>,
    T: Send + 'static,
{
    /// A slot for a job accepted into the queue, capturing the current span.
    pub(crate) fn queued(f: F, callback: C) -> Arc<Self> {
        let current = Span::current();
        let span = (!current.is_none()).then(|| Box::new(current));
        Arc::new(Slot {
            state: Mutex::new(State {
                stage: Stage::Queued { f, callback, span },
                waiter: Waiter::none(),
            }),
        })
    }

    /// A slot settled with `error` before it was ever queued (the executor
    /// refused the job). The callback runs now, on the caller's thread.
    pub(crate) fn refused(f: F, callback: C, error: JobError) -> Arc<Self> {
        drop_caught(f, "a refused job's closure");
        let result = Err(error);
        run_callback(|| callback.call(&result));
        Arc::new(Slot {
            state: Mutex::new(State {
                stage: Stage::Done(result),
                waiter: Waiter::none(),
            }),
        })
    }

    /// Runs the callbacks, publishes the result and wakes the waiter.
    fn finish(&self, result: Result<T, JobError>, callback: C) {
        run_callback(|| callback.call(&result));
        loop {
            let mut state = lock(&self.state);
            if let Waiter::Callbacks(callbacks) = &mut state.waiter {
                let waker = std::mem::replace(&mut callbacks.waker, futures::task::noop_waker());
                let Waiter::Callbacks(callbacks) =
                    std::mem::replace(&mut state.waiter, Waiter::Task(waker))
                else {
                    unreachable!("matched above")
                };
                drop(state);
                run_callback(|| (callbacks.run)(&result));
                continue;
            }
            state.stage = Stage::Done(result);
            let waker = std::mem::replace(&mut state.waiter, Waiter::none());
            drop(state);
            if let Waiter::Task(waker) = waker {
                waker.wake();
            }
            return;
        }
    }

    /// Moves the job out of `Queued`, if it is still there.
    fn take_queued(&self) -> Option<(F, C, Option<Box<Span>>)> {
        let mut state = lock(&self.state);
        if !matches!(state.stage, Stage::Queued { .. }) {
            return None;
        }
        match mem::replace(&mut state.stage, Stage::Running) {
            Stage::Queued { f, callback, span } => Some((f, callback, span)),
            _ => unreachable!("checked above"),
        }
    }
}

impl<F, C, T> Task for Slot<F, C, T>
where
    F: FnOnce() -> T + Send + 'static,
    C: Callback<T>,
    T: Send + 'static,
{
    fn run(&self, started: &mut dyn FnMut()) -> Outcome {
        let Some((f, callback, span)) = self.take_queued() else {
            return Outcome::Skipped;
        };
        started();
        // The submitter's span is the parent of the job's span, so a
        // request's span follows its blocking work (and its callbacks) onto
        // the worker.
        let _parent = span.as_deref().map(Span::enter);
        let _job = tracing::debug_span!("thread_executor::job").entered();
        let result = catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
            tracing::warn!(panic = panic_text(payload.as_ref()), "job panicked");
            JobError::panic(payload)
        });
        let outcome = match result {
            Ok(_) => Outcome::Completed,
            Err(_) => Outcome::Panicked,
        };
        self.finish(result, callback);
        outcome
    }

    fn cancel(&self) -> bool {
        let Some((f, callback, span)) = self.take_queued() else {
            return false;
        };
        drop(span);
        drop_caught(f, "a cancelled job's closure");
        self.finish(Err(JobError::cancelled()), callback);
        true
    }

    fn is_queued(&self) -> bool {
        matches!(lock(&self.state).stage, Stage::Queued { .. })
    }
}

impl<F, C, T> Completion<T> for Slot<F, C, T>
where
    F: FnOnce() -> T + Send + 'static,
    C: Callback<T>,
    T: Send + 'static,
{
    fn poll_result(&self, cx: &mut Context<'_>) -> Poll<Result<T, JobError>> {
        let mut state = lock(&self.state);
        match state.stage {
            Stage::Done(_) => match mem::replace(&mut state.stage, Stage::Taken) {
                Stage::Done(result) => Poll::Ready(result),
                _ => unreachable!("checked above"),
            },
            Stage::Taken => panic!("`JobHandle` polled after it returned its result"),
            Stage::Queued { .. } | Stage::Running => {
                let current = state.waiter.waker_mut();
                let stale = (!current.will_wake(cx.waker()))
                    .then(|| std::mem::replace(current, cx.waker().clone()));
                drop(state);
                drop(stale);
                Poll::Pending
            }
        }
    }

    fn is_finished(&self) -> bool {
        matches!(lock(&self.state).stage, Stage::Done(_) | Stage::Taken)
    }

    fn cancel(&self) -> bool {
        Task::cancel(self)
    }

    fn add_callback(&self, callback: BoxedCallback<T>) {
        let mut state = lock(&self.state);
        match state.stage {
            Stage::Queued { .. } | Stage::Running => {
                let waiter = std::mem::replace(&mut state.waiter, Waiter::none());
                state.waiter = Waiter::Callbacks(Box::new(match waiter {
                    Waiter::Task(waker) => Callbacks {
                        run: callback,
                        waker,
                    },
                    Waiter::Callbacks(earlier) => {
                        let Callbacks { run: first, waker } = *earlier;
                        Callbacks {
                            run: Box::new(move |result| {
                                run_callback(|| first(result));
                                callback(result);
                            }),
                            waker,
                        }
                    }
                }));
            }
            Stage::Done(_) => {
                // Only the (single) handle reaches a `Done` slot, and it is
                // busy here, so lending the result out of the lock is safe.
                let Stage::Done(result) = mem::replace(&mut state.stage, Stage::Running) else {
                    unreachable!("checked above")
                };
                drop(state);
                run_callback(|| callback(&result));
                lock(&self.state).stage = Stage::Done(result);
            }
            Stage::Taken => {
                panic!("`JobHandle::on_complete` called after the handle returned its result")
            }
        }
    }
}

/// Runs a user callback, catching and reporting a panic: a callback never
/// unwinds into a worker or into the code that settled the job.
pub(crate) fn run_callback(callback: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(callback)) {
        tracing::error!(
            panic = panic_text(payload.as_ref()),
            "job callback panicked"
        );
    }
}

/// Drops a user value, catching and reporting a panic in its destructor.
pub(crate) fn drop_caught<V>(value: V, what: &str) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
        tracing::error!(
            panic = panic_text(payload.as_ref()),
            "dropping {what} panicked"
        );
    }
}

/// The handle to one submitted job: a [`Future`] of its result, a blocking
/// [`join`](JobHandle::join) for plain threads, and the place to
/// [`cancel`](JobHandle::cancel) it or attach a callback.
///
/// Returned by [`Executor::spawn`](crate::Executor::spawn),
/// [`Executor::send`](crate::Executor::send) and their `try_`/`_async`
/// siblings. It resolves to `Ok(value)`, or to a [`JobError`] if the job
/// panicked, was cancelled, or was refused by a shut-down executor.
///
/// Dropping a `JobHandle` detaches the job: it still runs, and its result is
/// dropped on the worker. To stop a job that has not started, call
/// [`cancel`](JobHandle::cancel). The handle is deliberately not
/// `#[must_use]` (as tokio's `JoinHandle` is not): the seed's fire-and-forget
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
/// use thread_executor::Executor;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), thread_executor::JobError> {
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
    slot: Arc<dyn Completion<T>>,
}

impl<T> JobHandle<T> {
    pub(crate) fn new(slot: Arc<dyn Completion<T>>) -> Self {
        JobHandle { slot }
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
    /// instead).
    ///
    /// # Panics
    ///
    /// Panics if the handle already returned its result through a poll.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_executor::Executor::new(1);
    /// let handle = pool.spawn(|| "from a worker");
    /// assert_eq!(handle.join().unwrap(), "from a worker");
    /// ```
    pub fn join(self) -> Result<T, JobError> {
        crate::sync::block_on(self)
    }

    /// `true` once the job has settled: it ran (or panicked), was cancelled,
    /// or was refused. [`join`](JobHandle::join) then returns at once.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_executor::Executor::new(1);
    /// let handle = pool.spawn(|| 1);
    /// pool.wait();
    /// assert!(handle.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.slot.is_finished()
    }

    /// Cancels the job if it has not started: returns `true` if it had not
    /// and now never will (the handle then yields an error with
    /// [`JobError::is_cancelled`], and the job's callbacks run with that
    /// error), `false` if it is running or done. A running job is never
    /// interrupted. In a bounded pool a cancelled job keeps its place in the
    /// queue's count until a worker reaches it and skips it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// let pool = thread_executor::Executor::new(1);
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
        self.slot.cancel()
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
    /// let pool = thread_executor::Executor::new(1);
    /// let (tx, rx) = mpsc::channel();
    /// let handle = pool.spawn(|| 5).on_complete(move |result| {
    ///     tx.send(result.is_ok()).unwrap();
    /// });
    /// assert_eq!(handle.join().unwrap(), 5);
    /// assert!(rx.recv().unwrap());
    /// ```
    pub fn on_complete<G>(self, callback: G) -> JobHandle<T>
    where
        G: FnOnce(&Result<T, JobError>) + Send + 'static,
    {
        self.slot.add_callback(Box::new(callback));
        self
    }
}

impl<T> Future for JobHandle<T> {
    type Output = Result<T, JobError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.slot.poll_result(cx)
    }
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle")
            .field("finished", &self.slot.is_finished())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::NoCallback;

    fn slot_size<F: FnOnce() -> T + Send + 'static, T: Send + 'static>(_: &F) -> usize {
        mem::size_of::<Slot<F, NoCallback, T>>()
    }

    /// The job slot's layout is part of the per-job memory budget: guard it.
    /// A job capturing one word and returning one word: mutex word, stage
    /// (closure + span, or the result, + tag), and the waiter's two words.
    #[test]
    fn a_one_word_job_slot_takes_six_words() {
        assert_eq!(mem::size_of::<Waiter<usize>>(), 16);
        let captured = 5_usize;
        assert_eq!(slot_size(&move || captured), 48);
    }
}
