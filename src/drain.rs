//! Draining: a service's bounded stop. The pool stops admitting jobs, runs
//! what it accepted, and at a deadline hands back what has not started and
//! reports what still runs, instead of waiting for it.
//!
//! The protocol, over [`crate::shutdown`]'s:
//!
//! 1. The pool closes at the call (`close`): every later submission is
//!    refused as after `shutdown`.
//! 2. The drain waits until every thread has exited (the queue ran dry),
//!    or the deadline passes.
//! 3. At the deadline it takes the unstarted jobs out of the queue as
//!    `shutdown_now` does, and counts the jobs still running. A running job
//!    is never interrupted: its thread finishes it and exits on its own.
//!
//! The async drain needs a clock without a runtime: a timer thread of its
//! own, started at its first wait and told to exit when the drain ends or
//! is dropped.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crate::shutdown::PendingJob;
use crate::state::{Condition, Shared, Until};
use crate::sync::Arc;

/// What a drain did: the jobs that finished while it waited, the jobs it
/// handed back at the deadline (not started), and the jobs still running
/// when it gave up. The three add up to the jobs the pool had accepted and
/// not finished when the drain closed it.
///
/// The jobs handed back are [`PendingJob`]s: take them with
/// [`into_pending`](DrainReport::into_pending) to run or store them, or
/// drop the report to cancel them (their handles, and the handlers
/// awaiting them, see [`JobError::is_cancelled`](crate::JobError::is_cancelled)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let pool = thread_exec::Executor::new(2);
/// let handle = pool.spawn(|| 1 + 1);
/// let report = pool.drain(Duration::from_secs(10));
/// assert!(report.is_complete());
/// assert_eq!((report.handed_back(), report.still_running()), (0, 0));
/// assert_eq!(handle.join().unwrap(), 2);
/// ```
#[must_use = "dropping a DrainReport cancels the jobs it handed back; check is_complete"]
pub struct DrainReport {
    finished: u64,
    pending: Vec<PendingJob>,
    still_running: u64,
    complete: bool,
}

impl DrainReport {
    /// Jobs that were accepted and unfinished when the drain began, and
    /// finished while it waited: they ran (returning or panicking), or
    /// their queue deadline passed, or their handles cancelled them.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = thread_exec::Executor::new(1);
    /// let (release, rx) = std::sync::mpsc::channel::<()>();
    /// pool.spawn(move || rx.recv().ok());
    /// for i in 0..3 {
    ///     pool.spawn(move || i);
    /// }
    /// let drain = pool.drain_async(std::time::Duration::MAX); // begins here
    /// drop(release);
    /// assert_eq!(drain.await.finished(), 4);
    /// # });
    /// ```
    pub fn finished(&self) -> u64 {
        self.finished
    }

    /// Jobs that had not started at the deadline and were taken out of the
    /// queue: see [`into_pending`](DrainReport::into_pending).
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = thread_exec::Executor::new(1);
    /// assert_eq!(pool.drain(std::time::Duration::ZERO).handed_back(), 0);
    /// ```
    pub fn handed_back(&self) -> usize {
        self.pending.len()
    }

    /// Jobs still running when the drain gave up. They are not
    /// interrupted: each finishes on its thread, and the pool's threads
    /// exit once the last has (idle ones stay parked until then). A
    /// process that returns from `main` meanwhile ends them with it (Rust
    /// does not wait for other threads at exit).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = thread_exec::Executor::new(1);
    /// let (release, rx) = std::sync::mpsc::channel::<()>();
    /// let (started_tx, started) = std::sync::mpsc::channel();
    /// pool.spawn(move || { started_tx.send(()).unwrap(); rx.recv().ok() });
    /// started.recv().unwrap();
    /// let report = pool.drain(Duration::from_millis(10));
    /// assert_eq!(report.still_running(), 1);
    /// # drop(release);
    /// ```
    pub fn still_running(&self) -> u64 {
        self.still_running
    }

    /// `true` if the pool finished every job it had accepted and every
    /// thread exited before the deadline: nothing was handed back, nothing
    /// still runs.
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = thread_exec::Executor::new(1);
    /// assert!(pool.drain(std::time::Duration::from_secs(5)).is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The jobs handed back at the deadline, to run (on this thread, or
    /// another pool) or to store; dropping one cancels it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = thread_exec::Executor::new(1);
    /// let (release, rx) = std::sync::mpsc::channel::<()>();
    /// let (started_tx, started) = std::sync::mpsc::channel();
    /// pool.spawn(move || { started_tx.send(()).unwrap(); rx.recv().ok() });
    /// started.recv().unwrap();
    /// let queued = pool.spawn(|| "late");
    /// let report = pool.drain(Duration::ZERO);
    /// for job in report.into_pending() {
    ///     job.run(); // here, before the process exits
    /// }
    /// assert_eq!(queued.join().unwrap(), "late");
    /// # drop(release);
    /// ```
    pub fn into_pending(self) -> Vec<PendingJob> {
        self.pending
    }
}

impl fmt::Debug for DrainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DrainReport")
            .field("complete", &self.complete)
            .field("finished", &self.finished)
            .field("handed_back", &self.pending.len())
            .field("still_running", &self.still_running)
            .finish()
    }
}

impl fmt::Display for DrainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} jobs finished, {} handed back at the deadline, {} still running",
            self.finished,
            self.pending.len(),
            self.still_running
        )
    }
}

/// The jobs accepted and not finished: at the drain's start, once the pool
/// is closed (it accepts no more), this is what the drain is about.
fn unfinished(shared: &Shared) -> u64 {
    shared.counts().unfinished
}

/// Step 3: the deadline passed with jobs unfinished.
fn give_up(shared: &Shared, unfinished_before: u64) -> DrainReport {
    let pending = crate::shutdown::shutdown_now(shared);
    let counts = shared.counts();
    let still_running = counts.unfinished - counts.queued;
    DrainReport {
        finished: unfinished_before
            .saturating_sub(pending.len() as u64)
            .saturating_sub(still_running),
        pending,
        still_running,
        complete: false,
    }
}

fn complete(unfinished_before: u64) -> DrainReport {
    DrainReport {
        finished: unfinished_before,
        pending: Vec::new(),
        still_running: 0,
        complete: true,
    }
}

/// `Executor::drain`: the blocking drain.
pub(crate) fn drain(shared: &Shared, timeout: Duration) -> DrainReport {
    crate::shutdown::close_and_settle_starts(shared);
    let unfinished_before = unfinished(shared);
    if crate::shutdown::shutdown_until(shared, crate::sync::deadline_after(timeout)) {
        complete(unfinished_before)
    } else {
        give_up(shared, unfinished_before)
    }
}

/// `Executor::drain_async`: closes the pool at the call.
pub(crate) fn drain_async(shared: &Arc<Shared>, timeout: Duration) -> DrainAsync {
    crate::shutdown::close_and_settle_starts(shared);
    DrainAsync {
        exited: Until::new(shared, Condition::Exited),
        shared: Arc::clone(shared),
        deadline: crate::sync::deadline_after(timeout),
        unfinished_before: unfinished(shared),
        alarm: None,
        done: false,
    }
}

/// The future of [`Executor::drain_async`](crate::Executor::drain_async):
/// resolves to a [`DrainReport`] once every thread has exited, or at the
/// deadline.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = thread_exec::Executor::new(2);
/// let handle = pool.spawn(|| 7);
/// let report = pool.drain_async(std::time::Duration::from_secs(10)).await;
/// assert!(report.is_complete());
/// assert_eq!(handle.await.unwrap(), 7);
/// # }
/// ```
#[must_use = "the pool is closed already; await this to drain it"]
pub struct DrainAsync {
    shared: Arc<Shared>,
    exited: Until,
    /// `None`: no deadline (a timeout too long for `Instant`).
    deadline: Option<Instant>,
    /// The jobs accepted and unfinished when the pool closed.
    unfinished_before: u64,
    /// Started at the first wait with a deadline ahead.
    alarm: Option<Alarm>,
    done: bool,
}

impl Future for DrainAsync {
    type Output = DrainReport;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<DrainReport> {
        let this = &mut *self;
        assert!(!this.done, "`DrainAsync` polled after completion");
        if this.shared.holds(Condition::Exited) {
            return Poll::Ready(this.finish(true));
        }
        loop {
            if this
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline)
            {
                return Poll::Ready(this.finish(false));
            }
            // It would wait: not on one of the pool's own threads, whose
            // exit it waits for.
            this.shared.refuse_own_worker("drain_async");
            if Pin::new(&mut this.exited).poll(cx).is_ready() {
                return Poll::Ready(this.finish(true));
            }
            let Some(deadline) = this.deadline else {
                return Poll::Pending;
            };
            let alarm = match &mut this.alarm {
                Some(alarm) => alarm,
                slot @ None => match Alarm::start(deadline) {
                    Some(alarm) => slot.insert(alarm),
                    // No thread for the clock: give up now rather than wait
                    // without a bound.
                    None => return Poll::Ready(this.finish(false)),
                },
            };
            alarm.set_waker(cx.waker());
            // The alarm fires after the deadline: if it did before the
            // waker was set, the check above sees the deadline passed.
            if Instant::now() < deadline {
                return Poll::Pending;
            }
        }
    }
}

impl DrainAsync {
    fn finish(&mut self, exited: bool) -> DrainReport {
        self.done = true;
        self.alarm = None;
        if exited {
            complete(self.unfinished_before)
        } else {
            give_up(&self.shared, self.unfinished_before)
        }
    }
}

impl fmt::Debug for DrainAsync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DrainAsync")
            .field("deadline", &self.deadline)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// A timer thread that wakes the drain at its deadline; told to exit when
/// dropped.
struct Alarm {
    state: std::sync::Arc<AlarmState>,
    thread: Thread,
}

struct AlarmState {
    waker: Mutex<Option<Waker>>,
    /// Set when the alarm is dropped: the thread exits without waking.
    stop: AtomicBool,
}

impl Alarm {
    /// `None` if the operating system refused the thread.
    fn start(deadline: Instant) -> Option<Alarm> {
        let state = std::sync::Arc::new(AlarmState {
            waker: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        let in_thread = std::sync::Arc::clone(&state);
        let handle = std::thread::Builder::new()
            .name("thread-exec-drain".into())
            .spawn(move || loop {
                if in_thread.stop.load(Ordering::Acquire) {
                    return;
                }
                let now = Instant::now();
                if now >= deadline {
                    let waker = in_thread
                        .waker
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .take();
                    // Woken outside the lock: a waker's code is the
                    // runtime's.
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                    return;
                }
                std::thread::park_timeout(deadline - now);
            })
            .ok()?;
        Some(Alarm {
            state,
            thread: handle.thread().clone(),
        })
    }

    fn set_waker(&self, waker: &Waker) {
        let mut slot = self
            .state
            .waker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &mut *slot {
            Some(old) if old.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }
}

impl Drop for Alarm {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Release);
        self.thread.unpark();
    }
}
