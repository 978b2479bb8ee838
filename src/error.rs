//! Error types, one per operation that can fail.
//!
//! Errors that carry a job back to the caller ([`TrySpawnError`],
//! [`SpawnError`]) give it back untouched through `into_inner()`, and their
//! `Debug` does not require the job to be `Debug`, as flume's errors do.

use std::any::Any;
use std::fmt;
use std::sync::{Mutex, PoisonError};

/// Why a job produced no value: it panicked, it was cancelled before it
/// started, or the executor was shut down before it was accepted.
///
/// Returned by awaiting or [joining](crate::JobHandle::join) a
/// [`JobHandle`](crate::JobHandle), and passed to completion callbacks. Its
/// representation is private (like tokio's `JoinError`); ask it with
/// [`is_panic`](JobError::is_panic), [`is_cancelled`](JobError::is_cancelled)
/// and [`is_closed`](JobError::is_closed).
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
    /// Returns `Err(self)` when the job was cancelled or closed, not panicked.
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
        }
    }
}

impl std::error::Error for JobError {}

/// The error of [`Executor::try_spawn`](crate::Executor::try_spawn) and
/// [`Executor::try_send`](crate::Executor::try_send): the job could not be
/// queued without blocking. The job comes back untouched in either variant;
/// take it with [`into_inner`](TrySpawnError::into_inner).
///
/// # Examples
///
/// ```
/// use thread_exec::{Executor, TrySpawnError};
///
/// let pool = Executor::new(1);
/// pool.shutdown();
/// match pool.try_spawn(|| 1) {
///     Err(TrySpawnError::Closed(job)) => assert_eq!(job(), 1),
///     other => panic!("expected Closed, got {other:?}"),
/// }
/// ```
pub enum TrySpawnError<F> {
    /// The queue holds `max_queue_size` jobs already.
    Full(F),
    /// The executor is shut down.
    Closed(F),
}

impl<F> TrySpawnError<F> {
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
        match self {
            TrySpawnError::Full(job) | TrySpawnError::Closed(job) => job,
        }
    }

    /// `true` for [`TrySpawnError::Full`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = thread_exec::Executor::new(1);
    /// pool.shutdown();
    /// assert!(!pool.try_spawn(|| 2).unwrap_err().is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, TrySpawnError::Full(_))
    }

    /// `true` for [`TrySpawnError::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = thread_exec::Executor::new(1);
    /// pool.shutdown();
    /// assert!(pool.try_spawn(|| 2).unwrap_err().is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, TrySpawnError::Closed(_))
    }
}

impl<F> fmt::Debug for TrySpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySpawnError::Full(_) => f.write_str("Full(..)"),
            TrySpawnError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<F> fmt::Display for TrySpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySpawnError::Full(_) => f.write_str("the executor's queue is full"),
            TrySpawnError::Closed(_) => f.write_str("the executor is shut down"),
        }
    }
}

impl<F> std::error::Error for TrySpawnError<F> {}

/// The error of [`Executor::spawn_async`](crate::Executor::spawn_async) and
/// [`Executor::send_async`](crate::Executor::send_async): the executor was
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
pub struct SpawnError<F>(pub(crate) F);

impl<F> SpawnError<F> {
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
        self.0
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
    MinAboveMax { min: usize, max: usize },
    NulInName,
    Spawn(std::io::Error),
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
            BuildErrorKind::NulInName => {
                f.write_str("thread_name contains a NUL byte, which a thread name cannot hold")
            }
            BuildErrorKind::Spawn(err) => write!(f, "could not start a worker thread: {err}"),
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
            ScaleErrorKind::Spawn(err) => write!(f, "could not start a worker thread: {err}"),
        }
    }
}

impl std::error::Error for ScaleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ScaleErrorKind::Spawn(err) => Some(err),
            ScaleErrorKind::Closed => None,
        }
    }
}
