//! [`Job`]: a closure plus an optional completion callback.
//!
//! The closure's captures are the job's arguments. Both the closure
//! and the callback stay unboxed (they are type parameters), so sending a
//! `Job` costs the same single allocation as [`Executor::spawn`]: the job slot
//! that holds closure, callback, state and result together.
//!
//! [`Executor::spawn`]: crate::Executor::spawn

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::error::JobError;

/// A unit of work for [`Executor::spawn`](crate::Executor::spawn) and every
/// other submitting call: a closure to run on a worker thread and,
/// optionally, a callback that receives its outcome on that worker right
/// after it ran, a [priority](Job::priority) and a
/// [queue deadline](Job::deadline).
///
/// `Job::new(f)` is what [`Executor::spawn`](crate::Executor::spawn) sends
/// for you; build a `Job` yourself to attach a
/// [`callback`](Job::callback). To wait for this one job, `join` its handle:
/// `executor.send(job).join()`.
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// use thread_exec::{Executor, Job};
///
/// let pool = Executor::new(2);
/// let (tx, rx) = mpsc::channel();
/// let (a, b) = (1, 2); // the job's arguments
/// let handle = pool.send(Job::new(move || a + b).callback(move |result| {
///     tx.send(*result.as_ref().unwrap()).unwrap();
/// }));
/// assert_eq!(handle.join().unwrap(), 3);
/// assert_eq!(rx.recv().unwrap(), 3);
/// ```
#[must_use = "a Job does nothing until it is sent to an Executor"]
pub struct Job<F, C = NoCallback> {
    pub(crate) f: F,
    pub(crate) callback: C,
    pub(crate) deadline: Deadline,
    pub(crate) priority: Priority,
    /// Its caller waits for the answer and would rather hear at once that
    /// the pool cannot serve it in time (`try_run`): the pool may shed it
    /// under overload even without a deadline (see `crate::overload`).
    pub(crate) sheddable: bool,
}

/// The callback type of a [`Job`] that has none.
///
/// # Examples
///
/// ```
/// use thread_exec::{Job, NoCallback};
///
/// let job: Job<_, NoCallback> = Job::new(|| 1);
/// # drop(job);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCallback;

impl<F> Job<F, NoCallback> {
    /// A job that runs `f`.
    ///
    /// # Examples
    ///
    /// ```
    /// use thread_exec::{Executor, Job};
    ///
    /// let pool = Executor::new(1);
    /// assert_eq!(pool.send(Job::new(|| "done")).join().unwrap(), "done");
    /// ```
    pub fn new<T>(f: F) -> Self
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Job {
            f,
            callback: NoCallback,
            deadline: Deadline::NONE,
            priority: Priority::Normal,
            sheddable: false,
        }
    }

    /// Adds a callback that runs on the worker thread right after the job,
    /// with its outcome: `Ok(value)`, or the [`JobError`] if it panicked. If
    /// the job never runs (cancelled, or refused by a shut-down executor) the
    /// callback still runs once, with that error, on the thread that settled
    /// the job.
    ///
    /// The callback runs before the job counts as finished, so
    /// [`Executor::wait`](crate::Executor::wait) also waits for it. A callback that panics is caught and reported
    /// through `tracing` at error level; the worker lives on and the job's
    /// handle still gets the result.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use thread_exec::{Executor, Job};
    ///
    /// let pool = Executor::new(2);
    /// let sum = Arc::new(AtomicUsize::new(0));
    /// for i in 0..5 {
    ///     let sum = Arc::clone(&sum);
    ///     pool.send(Job::new(move || i * 10).callback(move |result| {
    ///         sum.fetch_add(*result.as_ref().unwrap(), Ordering::SeqCst);
    ///     }));
    /// }
    /// pool.wait();
    /// assert_eq!(sum.load(Ordering::SeqCst), 100);
    /// ```
    pub fn callback<T, G>(self, callback: G) -> Job<F, G>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
        G: FnOnce(&Result<T, JobError>) + Send + 'static,
    {
        Job {
            f: self.f,
            callback,
            deadline: self.deadline,
            priority: self.priority,
            sheddable: self.sheddable,
        }
    }
}

impl<F, C> Job<F, C> {
    /// The job must start by `deadline`: a worker that reaches it later
    /// settles it without running it, its handle yields an error for which
    /// [`JobError::is_expired`] holds, and its callback runs with that
    /// error. For work nobody waits for any more, such as a request whose
    /// client has timed out. Replaces any deadline set before, and the
    /// pool's [`queue_timeout`](crate::Builder::queue_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use thread_exec::{Executor, Job};
    ///
    /// let pool = Executor::new(2);
    /// let client_gives_up = Instant::now() + Duration::from_millis(200);
    /// let handle = pool.send(Job::new(|| "fresh").deadline(client_gives_up));
    /// assert_eq!(handle.join().unwrap(), "fresh"); // started in time
    /// ```
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Deadline::at(deadline);
        self
    }

    /// The job must start within `timeout` of its submission (of this call,
    /// strictly: the clock starts here): as [`deadline`](Job::deadline)
    /// with `Instant::now() + timeout`. A timeout too long for `Instant` to
    /// represent means no deadline. The timeout is what is left of a budget:
    /// `Duration::ZERO` (a client that has no time left) expires the job
    /// unless a worker reaches it at once. (The pool's
    /// [`Builder::queue_timeout`](crate::Builder::queue_timeout) is a
    /// setting instead, where zero means none.)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use thread_exec::{Executor, Job};
    ///
    /// let pool = Executor::new(1);
    /// let handle = pool.send(Job::new(|| 1).queue_timeout(Duration::from_secs(5)));
    /// assert_eq!(handle.join().unwrap(), 1);
    /// ```
    pub fn queue_timeout(mut self, timeout: Duration) -> Self {
        self.deadline = Deadline::after(timeout);
        self
    }

    /// The queue lane the job waits in: a worker always takes the next job
    /// from the highest lane that has one, and jobs of one lane start in the
    /// order they were queued. [`Priority::Normal`] unless set.
    ///
    /// Lanes order the *start* of jobs, nothing else: they share the pool's
    /// bounded capacity ([`max_queue_size`](crate::Builder::max_queue_size)
    /// counts the jobs of every lane), a running job is never preempted, and
    /// deadlines, cancellation and
    /// [`shutdown_now`](crate::Executor::shutdown_now) (which hands jobs
    /// back highest lane first) work the same in every lane. A lower lane
    /// waits as long as a higher one has jobs: a steady flood of `High`
    /// jobs starves `Low` ones indefinitely. Use a queue deadline on work
    /// that is worthless late.
    ///
    /// # Examples
    ///
    /// ```
    /// use thread_exec::{Executor, Job, Priority};
    ///
    /// let pool = Executor::new(2);
    /// let report = pool.send(Job::new(|| "nightly report").priority(Priority::Low));
    /// let answer = pool.send(Job::new(|| "request").priority(Priority::High));
    /// assert_eq!(answer.join().unwrap(), "request");
    /// assert_eq!(report.join().unwrap(), "nightly report");
    /// ```
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }
}

/// A job's queue lane (see [`Job::priority`]): workers take the next job
/// from the highest non-empty lane, first in first out within a lane.
///
/// Ordered by urgency: `Low < Normal < High`.
///
/// # Examples
///
/// ```
/// use thread_exec::Priority;
///
/// assert_eq!(Priority::default(), Priority::Normal);
/// assert!(Priority::High > Priority::Normal && Priority::Normal > Priority::Low);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    /// Background work: starts only when no `Normal` or `High` job waits.
    Low,
    /// The default lane.
    #[default]
    Normal,
    /// Urgent work: starts before any queued `Normal` or `Low` job.
    High,
}

/// When a job must have started by: nanoseconds since a process-wide epoch
/// plus one, so that a deadline fits one word and 0 means none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadline(u64);

/// The instant deadlines count from: the first one made.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Deadline {
    pub(crate) const NONE: Deadline = Deadline(0);

    /// A deadline that never passes and, being set, keeps the pool's
    /// `queue_timeout` off the job: for jobs that must not expire (a scoped
    /// job's runner).
    pub(crate) const NEVER: Deadline = Deadline(u64::MAX);

    /// `instant` as a deadline: one before the epoch has passed already, one
    /// too far to count in nanoseconds (about 584 years) is
    /// [`NEVER`](Deadline::NEVER). A deadline that saturates is a deadline
    /// that never passes, not an unset one: unset, the pool's timeout would
    /// take its place.
    pub(crate) fn at(instant: Instant) -> Deadline {
        let nanos = instant.saturating_duration_since(epoch()).as_nanos();
        match u64::try_from(nanos) {
            Ok(nanos) if nanos < u64::MAX - 1 => Deadline(nanos + 1),
            _ => Deadline::NEVER,
        }
    }

    /// `timeout` from now; saturates to [`NEVER`](Deadline::NEVER).
    pub(crate) fn after(timeout: Duration) -> Deadline {
        crate::sync::deadline_after(timeout).map_or(Deadline::NEVER, Deadline::at)
    }

    /// `timeout` after `stamp` (a clock read already taken); saturates to
    /// [`NEVER`](Deadline::NEVER).
    pub(crate) fn after_stamp(stamp: Stamp, timeout: Duration) -> Deadline {
        match stamp
            .0
            .checked_add(crate::timings::saturating_nanos(timeout))
        {
            Some(at) if at < u64::MAX => Deadline(at),
            _ => Deadline::NEVER,
        }
    }

    /// Whether the job has a deadline of its own (`NEVER` included), which
    /// keeps the pool's timeout off it.
    pub(crate) fn is_set(self) -> bool {
        self != Deadline::NONE
    }

    /// The deadline on the stamps' scale; 0 for none.
    pub(crate) fn nanos(self) -> u64 {
        self.0
    }

    /// Whether the deadline can pass: set, and not `NEVER`.
    pub(crate) fn can_pass(self) -> bool {
        self != Deadline::NONE && self != Deadline::NEVER
    }

    /// Whether the deadline can pass and had passed at `now` (a stamp read
    /// when the job was reached).
    pub(crate) fn has_passed_at(self, now: Stamp) -> bool {
        self.can_pass() && now.0 > self.0
    }
}

/// An instant on the deadlines' scale: nanoseconds since the epoch plus
/// one, 0 meaning none taken. A job's submission time when the pool
/// records timings, and the time a worker reached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp(u64);

impl Stamp {
    pub(crate) const NONE: Stamp = Stamp(0);

    /// Reads the clock (saturating, some 584 years after the epoch, below
    /// [`Deadline::NEVER`]).
    pub(crate) fn now() -> Stamp {
        Stamp::at(Instant::now())
    }

    /// `instant` on the stamps' scale (saturating as [`Stamp::now`]).
    pub(crate) fn at(instant: Instant) -> Stamp {
        Stamp(Deadline::at(instant).0.min(u64::MAX - 1))
    }

    /// A stamp from its [`nanos`](Stamp::nanos).
    pub(crate) fn from_nanos(nanos: u64) -> Stamp {
        Stamp(nanos)
    }

    pub(crate) fn is_set(self) -> bool {
        self != Stamp::NONE
    }

    /// The stamp on the deadlines' scale; 0 for none.
    pub(crate) fn nanos(self) -> u64 {
        self.0
    }

    /// Nanoseconds from `earlier` to `self`, 0 if `earlier` is later (the
    /// clock is monotonic, so only across a saturated deadline).
    pub(crate) fn nanos_since(self, earlier: Stamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// What a queued job carries about time: its queue deadline and, when the
/// pool records timings, when it was submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Times {
    pub(crate) deadline: Deadline,
    pub(crate) submitted: Stamp,
}

impl Times {
    /// No deadline, no submission time.
    #[cfg(test)]
    pub(crate) const NONE: Times = Times {
        deadline: Deadline::NONE,
        submitted: Stamp::NONE,
    };

    /// The clock read a worker needs when it reaches the job: only if the
    /// job has a deadline to check or a wait to time.
    pub(crate) fn reached(self) -> Stamp {
        if self.deadline.can_pass() || self.submitted.is_set() {
            Stamp::now()
        } else {
            Stamp::NONE
        }
    }
}

impl<F, C> fmt::Debug for Job<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("callback", &std::any::type_name::<C>())
            .field("priority", &self.priority)
            .finish_non_exhaustive()
    }
}

/// What can follow a job as its completion callback: [`NoCallback`], or a
/// closure `FnOnce(&Result<T, JobError>) + Send + 'static`.
///
/// Sealed: it exists to let [`Job`] keep its callback unboxed.
pub trait Callback<T>: Send + 'static + sealed::Sealed<T> {
    #[doc(hidden)]
    fn call(self, result: &Result<T, JobError>);
}

impl<T> Callback<T> for NoCallback {
    #[inline]
    fn call(self, _: &Result<T, JobError>) {}
}

impl<T, G> Callback<T> for G
where
    G: FnOnce(&Result<T, JobError>) + Send + 'static,
{
    #[inline]
    fn call(self, result: &Result<T, JobError>) {
        self(result)
    }
}

/// What the submitting methods of [`Executor`](crate::Executor) take: a
/// closure `FnOnce() -> T + Send + 'static`, or a whole [`Job`] (a closure
/// with a [callback](Job::callback), a [priority](Job::priority) or a
/// [queue deadline](Job::deadline)).
///
/// So one method serves both: `pool.spawn(|| 1)` and
/// `pool.spawn(Job::new(|| 1).priority(Priority::High))`. An error that
/// hands the job back ([`TrySpawnError`](crate::TrySpawnError),
/// [`SpawnError`](crate::SpawnError)) hands back what was passed: the
/// closure, or the `Job`.
///
/// Sealed: its methods are the crate's own.
///
/// # Examples
///
/// ```
/// use thread_exec::{Executor, Job, Priority};
///
/// let pool = Executor::new(1);
/// let plain = pool.spawn(|| 1);
/// let urgent = pool.spawn(Job::new(|| 2).priority(Priority::High));
/// assert_eq!(plain.join().unwrap() + urgent.join().unwrap(), 3);
/// ```
pub trait IntoJob<T>: sealed::SealedJob<T> + Sized {
    /// The closure inside.
    #[doc(hidden)]
    type F: FnOnce() -> T + Send + 'static;
    /// The callback inside.
    #[doc(hidden)]
    type C: Callback<T>;

    #[doc(hidden)]
    fn into_job(self) -> Job<Self::F, Self::C>;

    /// What was passed, back from the job made of it (an error hands it back).
    #[doc(hidden)]
    fn from_job(job: Job<Self::F, Self::C>) -> Self;

    /// The `Job` passed, to read its settings; `None` for a bare closure
    /// (a `Job::new`'s settings).
    #[doc(hidden)]
    fn as_job(&self) -> Option<&Job<Self::F, Self::C>>;
}

impl<F, T> IntoJob<T> for F
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    type F = F;
    type C = NoCallback;

    #[inline]
    fn into_job(self) -> Job<F, NoCallback> {
        Job::new(self)
    }

    #[inline]
    fn from_job(job: Job<F, NoCallback>) -> F {
        job.f
    }

    #[inline]
    fn as_job(&self) -> Option<&Job<F, NoCallback>> {
        None
    }
}

impl<F, C, T> IntoJob<T> for Job<F, C>
where
    F: FnOnce() -> T + Send + 'static,
    C: Callback<T>,
    T: Send + 'static,
{
    type F = F;
    type C = C;

    #[inline]
    fn into_job(self) -> Job<F, C> {
        self
    }

    #[inline]
    fn from_job(job: Job<F, C>) -> Job<F, C> {
        job
    }

    #[inline]
    fn as_job(&self) -> Option<&Job<F, C>> {
        Some(self)
    }
}

mod sealed {
    use crate::error::JobError;

    pub trait Sealed<T> {}
    impl<T> Sealed<T> for super::NoCallback {}
    impl<T, G: FnOnce(&Result<T, JobError>)> Sealed<T> for G {}

    pub trait SealedJob<T> {}
    impl<T, F: FnOnce() -> T> SealedJob<T> for F {}
    impl<T, F, C> SealedJob<T> for super::Job<F, C> {}
}
