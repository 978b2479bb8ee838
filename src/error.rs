//! Error types, one per operation that can fail.
//!
//! Errors that carry a job back to the caller ([`TrySpawnError`],
//! [`SpawnError`]) give it back untouched through `into_inner()`, and their
//! `Debug` does not require the job to be `Debug`, as flume's errors do.
//! They are `Send + Sync` for any job that is `Send` (the job is reachable
//! only by value, through `into_inner`), so `?` turns them into
//! `Box<dyn Error + Send + Sync>` or `anyhow::Error`; and each converts into
//! a [`JobError`] without the job, so a handler can use one error type for
//! "not accepted" and "did not produce a value":
//! `pool.try_run(f)?.await?`.

use std::any::Any;
use std::fmt;
use std::sync::{Mutex, PoisonError};

/// Why a job produced no value: it panicked, it was cancelled before it
/// started, its queue deadline passed before it started, or it was not
/// accepted (the executor was shut down, or, converted from a
/// [`TrySpawnError`], its bounded queue was full).
///
/// Returned by awaiting or [joining](crate::JobHandle::join) a
/// [`JobHandle`](crate::JobHandle), and passed to completion callbacks. Its
/// representation is private (like tokio's `JoinError`); ask it with
/// [`is_panic`](JobError::is_panic), [`is_cancelled`](JobError::is_cancelled)
/// [`is_closed`](JobError::is_closed), [`is_expired`](JobError::is_expired)
/// and [`is_full`](JobError::is_full).
///
/// It converts into a [`std::io::Error`] (`?` in a function returning
/// `io::Result`), keeping itself as the `io::Error`'s inner error: a panic is
/// [`ErrorKind::Other`](std::io::ErrorKind::Other), a cancelled job
/// `Interrupted`, an expired one `TimedOut`, a full queue `WouldBlock` and a
/// shut-down executor `NotConnected`.
///
/// # Examples
///
/// ```
/// use thread_exec::Executor;
///
/// let pool = Executor::new(1);
/// let err = pool.spawn(|| panic!("boom")).join().unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(err.to_string(), "job panicked: boom");
/// ```
pub struct JobError {
    // Boxed so that `Result<T, JobError>` costs one word beside `T` in every
    // job slot; errors are the cold path.
    repr: Box<Repr>,
}

enum Repr {
    Panic {
        /// The message, read once at construction when the payload is a
        /// string, so `Display` needs no access to the payload.
        message: Option<String>,
        /// Behind a mutex only to make `JobError: Sync` (a payload is just
        /// `Send`), so it fits `Box<dyn Error + Send + Sync>`; it is locked
        /// only by `into_panic`, which owns the error.
        payload: Mutex<Box<dyn Any + Send + 'static>>,
    },
    Cancelled,
    Closed,
    Expired,
    Full,
    Shed(ShedReason),
}

impl JobError {
    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> Self {
        JobError {
            repr: Box::new(Repr::Panic {
                message: panic_message(payload.as_ref()).map(str::to_owned),
                payload: Mutex::new(payload),
            }),
        }
    }

    pub(crate) fn cancelled() -> Self {
        JobError {
            repr: Box::new(Repr::Cancelled),
        }
    }

    pub(crate) fn closed() -> Self {
        JobError {
            repr: Box::new(Repr::Closed),
        }
    }

    pub(crate) fn expired() -> Self {
        JobError {
            repr: Box::new(Repr::Expired),
        }
    }

    fn full() -> Self {
        JobError {
            repr: Box::new(Repr::Full),
        }
    }

    pub(crate) fn shed(reason: ShedReason) -> Self {
        JobError {
            repr: Box::new(Repr::Shed(reason)),
        }
    }

    /// `true` if the pool shed the job under overload: it refused it at
    /// submission, or settled it unrun because it waited in a standing
    /// queue, would have missed its deadline, or gave its place to a job
    /// of a higher lane (see
    /// [`Builder::overload_control`](crate::Builder::overload_control)).
    /// The job did not run; answer "busy, retry later".
    ///
    /// # Examples
    ///
    /// ```
    /// use thread_exec::{Executor, JobError};
    ///
    /// async fn answer(pool: &Executor) -> Result<u64, JobError> {
    ///     match pool.try_run(|| 42)?.await {
    ///         Err(err) if err.is_shed() => Err(err), // 503 with Retry-After
    ///         other => other,
    ///     }
    /// }
    /// # let pool = Executor::new(1);
    /// # assert_eq!(futures::executor::block_on(answer(&pool)).unwrap(), 42);
    /// ```
    pub fn is_shed(&self) -> bool {
        matches!(*self.repr, Repr::Shed(_))
    }

    /// Why the pool shed the job, if it did (see [`is_shed`](JobError::is_shed)).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(1);
    /// assert_eq!(pool.spawn(|| 1).join().map_err(|err| err.shed_reason()), Ok(1));
    /// ```
    pub fn shed_reason(&self) -> Option<ShedReason> {
        match *self.repr {
            Repr::Shed(reason) => Some(reason),
            _ => None,
        }
    }

    /// `true` if the job panicked; the payload is in
    /// [`into_panic`](JobError::into_panic).
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = thread_exec::Executor::new(1);
    /// let err = pool.spawn(|| panic!("boom")).join().unwrap_err();
    /// assert!(err.is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(*self.repr, Repr::Panic { .. })
    }

    /// `true` if the job was cancelled before it started (by
    /// [`JobHandle::cancel`](crate::JobHandle::cancel), by dropping a
    /// [`Run`](crate::Run) future or a [`PendingJob`](crate::PendingJob)),
    /// so it never ran.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// # let pool = thread_exec::Executor::new(1);
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let blocker = pool.spawn(move || rx.recv().ok());
    /// let queued = pool.spawn(|| 1);
    /// assert!(queued.cancel());
    /// drop(tx);
    /// # blocker.join().unwrap();
    /// assert!(queued.join().unwrap_err().is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(*self.repr, Repr::Cancelled)
    }

    /// `true` if the executor had been shut down when the job was submitted,
    /// so it was never accepted and never ran.
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = thread_exec::Executor::new(1);
    /// pool.shutdown();
    /// assert!(pool.spawn(|| 1).join().unwrap_err().is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(*self.repr, Repr::Closed)
    }

    /// `true` if the job's queue deadline ([`Job::deadline`],
    /// [`Job::queue_timeout`] or the pool's
    /// [`Builder::queue_timeout`](crate::Builder::queue_timeout)) passed
    /// before a worker could start it, so it never ran.
    ///
    /// [`Job::deadline`]: crate::Job::deadline
    /// [`Job::queue_timeout`]: crate::Job::queue_timeout
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use thread_exec::{Executor, Job};
    ///
    /// let pool = Executor::new(1);
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let blocker = pool.spawn(move || rx.recv().ok());
    /// let late = pool.send(Job::new(|| 1).queue_timeout(Duration::ZERO));
    /// drop(tx);
    /// # blocker.join().unwrap();
    /// assert!(late.join().unwrap_err().is_expired());
    /// ```
    pub fn is_expired(&self) -> bool {
        matches!(*self.repr, Repr::Expired)
    }

    /// `true` if the job was not accepted because the executor's bounded
    /// queue was full: the error a [`TrySpawnError`] converts into.
    ///
    /// # Examples
    ///
    /// ```
    /// use thread_exec::{Executor, JobError};
    ///
    /// let pool = Executor::builder().threads(1).max_queue_size(1).build()?;
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let (started_tx, started) = std::sync::mpsc::channel();
    /// let _busy = pool.spawn(move || { started_tx.send(()).ok(); rx.recv().ok() });
    /// started.recv()?;
    /// let _queued = pool.spawn(|| ());
    /// let err: JobError = pool.try_spawn(|| ()).unwrap_err().into();
    /// assert!(err.is_full());
    /// # drop(tx);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(*self.repr, Repr::Full)
    }

    /// The panic payload, or the error itself if the job did not panic.
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = thread_exec::Executor::new(1);
    /// let err = pool.spawn(|| std::panic::panic_any(7_u32)).join().unwrap_err();
    /// let payload = err.try_into_panic().unwrap();
    /// assert_eq!(payload.downcast_ref::<u32>(), Some(&7));
    /// ```
    ///
    /// # Errors
    ///
    /// Returns `Err(self)` when the job did not panic.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JobError> {
        match *self.repr {
            Repr::Panic { payload, .. } => {
                Ok(payload.into_inner().unwrap_or_else(PoisonError::into_inner))
            }
            repr => Err(JobError {
                repr: Box::new(repr),
            }),
        }
    }

    /// The panic payload, to inspect it or to resume the panic with
    /// [`std::panic::resume_unwind`].
    ///
    /// # Panics
    ///
    /// Panics if the job did not panic; check [`is_panic`](JobError::is_panic)
    /// first, or use [`try_into_panic`](JobError::try_into_panic).
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = thread_exec::Executor::new(1);
    /// let err = pool.spawn(|| panic!("boom")).join().unwrap_err();
    /// let payload = err.into_panic();
    /// assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    /// ```
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.try_into_panic() {
            Ok(payload) => payload,
            Err(err) => {
                panic!("`JobError::into_panic` called on an error that is not a panic: {err}")
            }
        }
    }

    /// The panic message when the payload is a `&str` or a `String` (what
    /// `panic!` produces), `None` otherwise.
    fn panic_message(&self) -> Option<&str> {
        match &*self.repr {
            Repr::Panic { message, .. } => message.as_deref(),
            _ => None,
        }
    }
}

/// The message of a panic payload made by `panic!`, if it is one.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// A panic payload's message, or a placeholder, for log events.
pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> &str {
    panic_message(payload).unwrap_or("<non-string payload>")
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.repr {
            Repr::Panic { .. } => match self.panic_message() {
                Some(message) => write!(f, "job panicked: {message}"),
                None => f.write_str("job panicked"),
            },
            Repr::Cancelled => f.write_str("job was cancelled before it started"),
            Repr::Closed => f.write_str("job was not accepted: the executor is shut down"),
            Repr::Expired => {
                f.write_str("job expired: its queue deadline passed before it started")
            }
            Repr::Full => f.write_str("job was not accepted: the executor's queue is full"),
            Repr::Shed(reason) => write!(f, "job was shed under overload: {reason}"),
        }
    }
}

impl fmt::Debug for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.repr {
            Repr::Panic { .. } => f
                .debug_tuple("JobError::Panic")
                .field(&self.panic_message().unwrap_or("<non-string payload>"))
                .finish(),
            Repr::Cancelled => f.write_str("JobError::Cancelled"),
            Repr::Closed => f.write_str("JobError::Closed"),
            Repr::Expired => f.write_str("JobError::Expired"),
            Repr::Full => f.write_str("JobError::Full"),
            Repr::Shed(reason) => f.debug_tuple("JobError::Shed").field(reason).finish(),
        }
    }
}

impl std::error::Error for JobError {}

impl From<JobError> for std::io::Error {
    fn from(err: JobError) -> std::io::Error {
        use std::io::ErrorKind;
        let kind = match *err.repr {
            Repr::Panic { .. } => ErrorKind::Other,
            Repr::Cancelled => ErrorKind::Interrupted,
            Repr::Expired => ErrorKind::TimedOut,
            Repr::Full | Repr::Shed(_) => ErrorKind::WouldBlock,
            Repr::Closed => ErrorKind::NotConnected,
        };
        std::io::Error::new(kind, err)
    }
}

/// The error of [`Executor::try_spawn`](crate::Executor::try_spawn) and
/// [`Executor::try_run`](crate::Executor::try_run) (and of the deprecated
/// [`Executor::try_send`](crate::Executor::try_send)): the job could not be
/// queued without blocking: [`is_full`](TrySpawnError::is_full) or
/// [`is_closed`](TrySpawnError::is_closed). The job comes back untouched
/// either way; take it with [`into_inner`](TrySpawnError::into_inner).
///
/// # Examples
///
/// ```
/// use thread_exec::{Executor, TrySpawnError};
///
/// let pool = Executor::new(1);
/// pool.shutdown();
/// match pool.try_spawn(|| 1) {
///     Err(err) if err.is_closed() => assert_eq!(err.into_inner()(), 1),
///     other => panic!("expected closed, got {other:?}"),
/// }
/// ```
pub struct TrySpawnError<F> {
    reason: Refusal,
    /// Behind a mutex only so that the error is `Sync` whatever the job (see
    /// the module docs); locked once, by `into_inner`, which owns the error.
    job: Mutex<F>,
}

/// Why a `try_*` submission was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Full,
    Closed,
    Overloaded,
}

impl<F> TrySpawnError<F> {
    pub(crate) fn full(job: F) -> Self {
        TrySpawnError {
            reason: Refusal::Full,
            job: Mutex::new(job),
        }
    }

    pub(crate) fn closed(job: F) -> Self {
        TrySpawnError {
            reason: Refusal::Closed,
            job: Mutex::new(job),
        }
    }

    pub(crate) fn overloaded(job: F) -> Self {
        TrySpawnError {
            reason: Refusal::Overloaded,
            job: Mutex::new(job),
        }
    }

    /// The job that was not queued.
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = thread_exec::Executor::new(1);
    /// pool.shutdown();
    /// let job = pool.try_spawn(|| 2).unwrap_err().into_inner();
    /// assert_eq!(job(), 2);
    /// ```
    pub fn into_inner(self) -> F {
        self.job
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// `true` if the bounded queue holds `max_queue_size` jobs already: shed
    /// the load (answer "busy"), or retry later.
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = thread_exec::Executor::new(1);
    /// pool.shutdown();
    /// assert!(!pool.try_spawn(|| 2).unwrap_err().is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.reason == Refusal::Full
    }

    /// `true` if the pool is overloaded and the job, which it may shed
    /// (see [`Builder::overload_control`](crate::Builder::overload_control)),
    /// would only have waited to be shed: answer "busy", as for a full
    /// queue. Converted into a [`JobError`], it is
    /// [`is_shed`](JobError::is_shed) with [`ShedReason::Submit`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = thread_exec::Executor::new(1);
    /// pool.shutdown();
    /// assert!(!pool.try_spawn(|| 2).unwrap_err().is_overloaded());
    /// ```
    pub fn is_overloaded(&self) -> bool {
        self.reason == Refusal::Overloaded
    }

    /// `true` if the executor is shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = thread_exec::Executor::new(1);
    /// pool.shutdown();
    /// assert!(pool.try_spawn(|| 2).unwrap_err().is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.reason == Refusal::Closed
    }

    /// Changes the job inside, keeping the reason (the `try_spawn` family
    /// uses it to hand back a closure instead of the whole [`Job`]).
    ///
    /// [`Job`]: crate::Job
    pub(crate) fn map<G>(self, f: impl FnOnce(F) -> G) -> TrySpawnError<G> {
        let reason = self.reason;
        TrySpawnError {
            reason,
            job: Mutex::new(f(self.into_inner())),
        }
    }
}

impl<F> fmt::Debug for TrySpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrySpawnError")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for TrySpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.reason {
            Refusal::Full => "the executor's queue is full",
            Refusal::Closed => "the executor is shut down",
            Refusal::Overloaded => "the executor is overloaded: the job would wait to be shed",
        })
    }
}

impl<F> std::error::Error for TrySpawnError<F> {}

impl<F> From<TrySpawnError<F>> for JobError {
    /// The reason, without the job (dropped here): [`JobError::is_full`],
    /// [`JobError::is_closed`], or [`JobError::is_shed`] with
    /// [`ShedReason::Submit`].
    fn from(err: TrySpawnError<F>) -> JobError {
        match err.reason {
            Refusal::Full => JobError::full(),
            Refusal::Closed => JobError::closed(),
            Refusal::Overloaded => JobError::shed(ShedReason::Submit),
        }
    }
}

/// The error of [`Executor::spawn_async`](crate::Executor::spawn_async) (and
/// of the deprecated
/// [`Executor::send_async`](crate::Executor::send_async)): the executor was
/// shut down before the job could be queued (possibly while waiting for room
/// in a full queue). The job comes back untouched through
/// [`into_inner`](SpawnError::into_inner).
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// let pool = thread_exec::Executor::new(1);
/// pool.shutdown();
/// let job = pool.spawn_async(|| 3).await.unwrap_err().into_inner();
/// assert_eq!(job(), 3);
/// # });
/// ```
pub struct SpawnError<F> {
    /// As in [`TrySpawnError`]: a mutex only for `Sync`.
    job: Mutex<F>,
}

impl<F> SpawnError<F> {
    pub(crate) fn new(job: F) -> Self {
        SpawnError {
            job: Mutex::new(job),
        }
    }

    /// The job that was not queued.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// # let pool = thread_exec::Executor::new(1);
    /// pool.shutdown();
    /// let job = pool.spawn_async(|| 3).await.unwrap_err().into_inner();
    /// assert_eq!(job(), 3);
    /// # });
    /// ```
    pub fn into_inner(self) -> F {
        self.job
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<F> fmt::Debug for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SpawnError(..)")
    }
}

impl<F> fmt::Display for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the executor is shut down")
    }
}

impl<F> std::error::Error for SpawnError<F> {}

impl<F> From<SpawnError<F>> for JobError {
    /// [`JobError::is_closed`], without the job (dropped here).
    fn from(_: SpawnError<F>) -> JobError {
        JobError::closed()
    }
}

/// The error of [`Builder::build`](crate::Builder::build): the configuration
/// is invalid, or the operating system refused to start a thread.
///
/// Opaque (like rayon's `ThreadPoolBuildError`), so new causes are not
/// breaking changes; its `Display` says what went wrong.
///
/// # Examples
///
/// ```
/// let err = thread_exec::Executor::builder().threads(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "a pool needs at least one thread");
/// ```
#[derive(Debug)]
pub struct BuildError {
    kind: BuildErrorKind,
}

#[derive(Debug)]
pub(crate) enum BuildErrorKind {
    ZeroThreads,
    MinAboveMax {
        min: usize,
        max: usize,
    },
    TooManyThreads {
        requested: usize,
    },
    NulInName,
    Spawn(std::io::Error),
    /// `build_global` after the global pool was built.
    GlobalBuilt,
}

impl BuildError {
    pub(crate) fn new(kind: BuildErrorKind) -> Self {
        BuildError { kind }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BuildErrorKind::ZeroThreads => f.write_str("a pool needs at least one thread"),
            BuildErrorKind::MinAboveMax { min, max } => {
                write!(f, "min_threads ({min}) is above max_threads ({max})")
            }
            BuildErrorKind::TooManyThreads { requested } => write!(
                f,
                "{requested} threads to start is above the limit of {}",
                crate::MAX_THREADS
            ),
            BuildErrorKind::NulInName => {
                f.write_str("thread_name contains a NUL byte, which a thread name cannot hold")
            }
            BuildErrorKind::Spawn(err) => write!(f, "could not start a worker thread: {err}"),
            BuildErrorKind::GlobalBuilt => f.write_str(
                "the global pool is already built (build_global must come before its first use)",
            ),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            BuildErrorKind::Spawn(err) => Some(err),
            _ => None,
        }
    }
}

/// The error of [`Executor::scale_up`](crate::Executor::scale_up) and
/// [`Executor::set_threads`](crate::Executor::set_threads).
///
/// # Examples
///
/// ```
/// let pool = thread_exec::Executor::new(1);
/// pool.shutdown();
/// assert!(pool.scale_up(1).unwrap_err().is_closed());
/// ```
#[derive(Debug)]
pub struct ScaleError {
    kind: ScaleErrorKind,
}

#[derive(Debug)]
pub(crate) enum ScaleErrorKind {
    Closed,
    ZeroThreads,
    TooManyThreads { requested: usize },
    Spawn(std::io::Error),
}

impl ScaleError {
    pub(crate) fn new(kind: ScaleErrorKind) -> Self {
        ScaleError { kind }
    }

    /// `true` if the executor is shut down, so it has no threads to scale.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(1);
    /// pool.shutdown();
    /// assert!(pool.scale_up(2).unwrap_err().is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self.kind, ScaleErrorKind::Closed)
    }
}

impl fmt::Display for ScaleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ScaleErrorKind::Closed => f.write_str("the executor is shut down"),
            ScaleErrorKind::ZeroThreads => {
                f.write_str("set_threads(0): a pool needs at least one thread")
            }
            ScaleErrorKind::TooManyThreads { requested } => write!(
                f,
                "a target of {requested} threads is above the limit of {}",
                crate::MAX_THREADS
            ),
            ScaleErrorKind::Spawn(err) => write!(f, "could not start a worker thread: {err}"),
        }
    }
}

impl std::error::Error for ScaleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ScaleErrorKind::Spawn(err) => Some(err),
            ScaleErrorKind::Closed
            | ScaleErrorKind::ZeroThreads
            | ScaleErrorKind::TooManyThreads { .. } => None,
        }
    }
}

/// Why the pool settled a job without running it under overload (see
/// [`JobError::shed_reason`](crate::JobError::shed_reason)).
///
/// # Examples
///
/// ```
/// use thread_exec::ShedReason;
///
/// let reason = ShedReason::StandingQueue;
/// assert_eq!(reason.to_string(), "it waited in a standing queue");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ShedReason {
    /// Refused at submission: the pool was overloaded and the job would
    /// have waited past its slough time.
    Submit,
    /// The pool was overloaded and the job had waited past its slough time.
    StandingQueue,
    /// The pool was overloaded and the job's deadline was nearer than the
    /// run time the pool expects: it would have answered too late.
    WouldMissDeadline,
    /// The bounded queue was full and a job of a higher lane took its
    /// place.
    Displaced,
}

impl fmt::Display for ShedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShedReason::Submit => "the pool was overloaded at submission",
            ShedReason::StandingQueue => "it waited in a standing queue",
            ShedReason::WouldMissDeadline => "it would have missed its deadline",
            ShedReason::Displaced => "a job of a higher lane took its place",
        })
    }
}
