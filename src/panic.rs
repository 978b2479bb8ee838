//! The pool's panic hook ([`Builder::on_panic`](crate::Builder::on_panic)):
//! one place to count, log or alert on every job and callback that panics
//! on the pool's threads, including the detached ones whose handle nobody
//! reads (a fire-and-forget `send` followed by `wait`).
//!
//! Each worker thread installs its pool's hook in a thread-local when it
//! starts, so reporting a panic costs nothing until one happens: the job
//! path never looks at the hook. A panic on another thread (a callback run
//! at once by `on_complete` on a finished job, a job cancelled or run by its
//! caller through [`PendingJob`](crate::PendingJob)) still reaches its
//! handle and `tracing`, but not the hook.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{panic_message, panic_text};
use crate::sync::Arc;

/// The hook as the pool stores it.
pub(crate) type PanicHook = dyn Fn(&JobPanic<'_>) + Send + Sync + 'static;

/// A panic caught on a worker thread, as the
/// [`on_panic`](crate::Builder::on_panic) hook sees it. The payload itself
/// still goes to the job's handle (as a [`JobError`](crate::JobError)).
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// use thread_exec::Executor;
///
/// let (tx, rx) = mpsc::channel();
/// let tx = std::sync::Mutex::new(tx);
/// let pool = Executor::builder()
///     .threads(1)
///     .on_panic(move |panic| {
///         let what = panic.message().unwrap_or("?").to_owned();
///         tx.lock().unwrap().send((what, panic.in_callback())).unwrap();
///     })
///     .build()?;
/// let handle = pool.spawn(|| -> u32 { panic!("disk full") });
/// assert!(handle.join().unwrap_err().is_panic());
/// assert_eq!(rx.recv().unwrap(), ("disk full".to_owned(), false));
/// # Ok::<(), thread_exec::BuildError>(())
/// ```
pub struct JobPanic<'a> {
    payload: &'a (dyn Any + Send),
    in_callback: bool,
}

impl<'a> JobPanic<'a> {
    /// The value the job or callback panicked with (what
    /// `std::panic::panic_any` was given; a `&str` or `String` for
    /// `panic!`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::builder()
    ///     .on_panic(|panic| {
    ///         if let Some(code) = panic.payload().downcast_ref::<i32>() {
    ///             eprintln!("job failed with code {code}");
    ///         }
    ///     })
    ///     .build()?;
    /// # drop(pool);
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn payload(&self) -> &'a (dyn Any + Send) {
        self.payload
    }

    /// The panic's message, if it was made by `panic!` (a `&str` or
    /// `String` payload).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::builder()
    ///     .on_panic(|panic| eprintln!("job panicked: {}", panic.message().unwrap_or("?")))
    ///     .build()?;
    /// # drop(pool);
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn message(&self) -> Option<&'a str> {
        panic_message(self.payload)
    }

    /// `true` if a completion callback panicked (the job itself had
    /// returned or panicked already), `false` if the job did.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::builder()
    ///     .on_panic(|panic| {
    ///         let source = if panic.in_callback() { "callback" } else { "job" };
    ///         eprintln!("a {source} panicked");
    ///     })
    ///     .build()?;
    /// # drop(pool);
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn in_callback(&self) -> bool {
        self.in_callback
    }
}

impl fmt::Debug for JobPanic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobPanic")
            .field("message", &panic_text(self.payload))
            .field("in_callback", &self.in_callback)
            .finish()
    }
}

#[cfg(not(thread_exec_loom))]
thread_local! {
    /// The hook of the pool whose worker this thread is, if it has one.
    static HOOK: RefCell<Option<Arc<PanicHook>>> = const { RefCell::new(None) };
}

#[cfg(thread_exec_loom)]
loom::thread_local! {
    static HOOK: RefCell<Option<Arc<PanicHook>>> = RefCell::new(None);
}

/// Installs `hook` for the calling (worker) thread until the guard drops.
pub(crate) fn install(hook: Option<Arc<PanicHook>>) -> Installed {
    HOOK.with(|current| *current.borrow_mut() = hook);
    Installed
}

/// Uninstalls the thread's hook when the worker ends.
pub(crate) struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let hook = HOOK.with(|current| current.borrow_mut().take());
        drop(hook);
    }
}

/// Shows a caught panic to the calling thread's hook, if any. A hook that
/// panics is caught and reported in turn (its payload leaked if even that
/// payload's destructor panics).
pub(crate) fn report(payload: &(dyn Any + Send), in_callback: bool) {
    let Some(hook) = HOOK.with(|current| current.borrow().clone()) else {
        return;
    };
    let panic = JobPanic {
        payload,
        in_callback,
    };
    if let Err(again) = catch_unwind(AssertUnwindSafe(|| hook(&panic))) {
        tracing::error!(panic = panic_text(again.as_ref()), "on_panic hook panicked");
        drop_payload(again);
    }
}

/// Drops a caught panic's payload, which is user code too (its destructor
/// may panic again): under a second catch, leaking the second payload if
/// that one panics as well.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
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
        report(payload.as_ref(), true);
        drop_payload(payload);
    }
}

/// Drops a user value, catching and reporting a panic in its destructor.
pub(crate) fn drop_caught<V>(value: V, what: &str) {
    run_caught(move || drop(value), "dropping ", what);
}

/// Runs user code (a destructor, a waker), catching and reporting a panic.
pub(crate) fn run_caught(f: impl FnOnce(), verb: &str, what: &str) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        tracing::error!(
            panic = panic_text(payload.as_ref()),
            "{verb}{what} panicked"
        );
        drop_payload(payload);
    }
}
