//! The global pool: a default [`Executor`] built on first use, for code that
//! just needs blocking work off the async runtime, as
//! `tokio::task::spawn_blocking` and `blocking::unblock` offer. Free
//! functions submit to it; [`Builder::build_global`] configures it once,
//! before first use, as rayon's `ThreadPoolBuilder::build_global` does.

use std::sync::OnceLock;
use std::time::Duration;

use crate::builder::Builder;
use crate::error::{BuildError, BuildErrorKind, TrySpawnError};
use crate::executor::{Executor, WaitAsync};
use crate::handle::JobHandle;
use crate::job::IntoJob;
use crate::submit::{Run, SpawnAsync, TryRun};

/// The most threads the default global pool runs: tokio's blocking pool's
/// default (512; `blocking` allows 500).
pub const GLOBAL_MAX_THREADS: usize = 512;

/// The global pool, once built.
static GLOBAL: OnceLock<Executor> = OnceLock::new();

/// The default global pool's settings: elastic, for blocking I/O that
/// mostly waits, as tokio's blocking pool is.
fn default_builder() -> Builder {
    Builder::new()
        .min_threads(0)
        .max_threads(GLOBAL_MAX_THREADS)
        .keep_alive(Duration::from_secs(10))
        .thread_name("thread-exec-global")
}

/// The global pool, built with the default settings on first use unless
/// [`Builder::build_global`] built it first.
///
/// The default is sized for blocking I/O, as tokio's blocking pool is: no
/// thread until a job needs one, up to [`GLOBAL_MAX_THREADS`] (512) threads
/// started on demand, each leaving after 10 s idle; an unbounded queue;
/// threads named `thread-exec-global-N`. For CPU-heavy work, or a bounded
/// queue that sheds load, build a pool of your own (or configure this one
/// with [`Builder::build_global`]).
///
/// It lives for the process and is never closed by dropping: every
/// returned `&Executor` is the same pool. Calling
/// [`shutdown`](Executor::shutdown) or [`drain`](Executor::drain) on it
/// closes it for good (later submissions are refused), which a service
/// does at its end.
///
/// # Panics
///
/// On first use, if the default pool cannot be built. It starts no thread
/// when built (its threads start as jobs need them), so its build does not
/// fail in practice.
///
/// # Examples
///
/// ```
/// let pool = thread_exec::global();
/// assert_eq!(pool.spawn(|| 6 * 7).join().unwrap(), 42);
/// ```
pub fn global() -> &'static Executor {
    GLOBAL.get_or_init(|| match default_builder().build() {
        Ok(executor) => executor,
        Err(err) => panic!("thread_exec::global(): {err}"),
    })
}

impl Builder {
    /// Builds this pool as the global one ([`global`], and the free
    /// functions [`spawn`], [`try_run`], ...): call it once, before any
    /// use of the global pool, as rayon's `build_global`.
    ///
    /// # Errors
    ///
    /// As [`build`](Builder::build), and an error if the global pool was
    /// built already (by an earlier call, or by a first use); the pool
    /// built here is then closed and dropped, and the global one is
    /// unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// thread_exec::Executor::builder()
    ///     .min_threads(1)
    ///     .max_threads(64)
    ///     .max_queue_size(10_000)
    ///     .build_global()?;
    /// assert_eq!(thread_exec::spawn(|| 1).join().unwrap(), 1);
    /// assert!(thread_exec::Executor::builder().build_global().is_err()); // once only
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn build_global(self) -> Result<(), BuildError> {
        if GLOBAL.get().is_some() {
            return Err(BuildError::new(BuildErrorKind::GlobalBuilt));
        }
        let executor = self.build()?;
        GLOBAL
            .set(executor)
            .map_err(|_| BuildError::new(BuildErrorKind::GlobalBuilt))
    }
}

/// [`Executor::spawn`] on the [`global`] pool: queues a closure or a
/// [`Job`](crate::Job) and returns its handle; dropping the handle detaches
/// the job. The crate's `spawn_blocking`.
///
/// # Blocking
///
/// Never with the default global pool (its queue is unbounded); on a full
/// bounded queue of one built with [`Builder::build_global`], as
/// [`Executor::spawn`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), thread_exec::JobError> {
/// let entries = thread_exec::spawn(|| std::fs::read_dir(".").map(|d| d.count())).await?;
/// assert!(entries.unwrap() > 0);
/// # Ok(())
/// # }
/// ```
pub fn spawn<J, T>(job: J) -> JobHandle<T>
where
    J: IntoJob<T>,
    T: Send + 'static,
{
    global().spawn(job)
}

/// [`Executor::try_spawn`] on the [`global`] pool.
///
/// # Errors
///
/// As [`Executor::try_spawn`]: the job back if the pool is full (only a
/// bounded one from [`Builder::build_global`]) or closed.
///
/// # Examples
///
/// ```
/// let handle = thread_exec::try_spawn(|| "queued").unwrap();
/// assert_eq!(handle.join().unwrap(), "queued");
/// ```
pub fn try_spawn<J, T>(job: J) -> Result<JobHandle<T>, TrySpawnError<J>>
where
    J: IntoJob<T>,
    T: Send + 'static,
{
    global().try_spawn(job)
}

/// [`Executor::spawn_async`] on the [`global`] pool.
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// let handle = thread_exec::spawn_async(|| 5).await.unwrap();
/// assert_eq!(handle.await.unwrap(), 5);
/// # });
/// ```
pub fn spawn_async<J, T>(job: J) -> SpawnAsync<'static, J, T>
where
    J: IntoJob<T>,
    T: Send + 'static,
{
    global().spawn_async(job)
}

/// [`Executor::run`] on the [`global`] pool: the job's result, without
/// blocking the runtime; dropping the future cancels the job.
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// assert_eq!(thread_exec::run(|| 2 + 2).await.unwrap(), 4);
/// # });
/// ```
pub fn run<J, T>(job: J) -> Run<'static, J, T>
where
    J: IntoJob<T>,
    T: Send + 'static,
{
    global().run(job)
}

/// [`Executor::try_run`] on the [`global`] pool.
///
/// # Errors
///
/// As [`Executor::try_run`].
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// let sum = thread_exec::try_run(|| (1..=10).sum::<u32>()).unwrap().await.unwrap();
/// assert_eq!(sum, 55);
/// # });
/// ```
pub fn try_run<J, T>(job: J) -> Result<TryRun<T>, TrySpawnError<J>>
where
    J: IntoJob<T>,
    T: Send + 'static,
{
    global().try_run(job)
}

/// [`Executor::wait`] on the [`global`] pool: blocks until every job
/// accepted so far, by any part of the process, has finished.
///
/// # Blocking
///
/// Parks the thread; from async code use [`wait_async`].
///
/// # Panics
///
/// On one of the global pool's own threads, as [`Executor::wait`].
///
/// # Examples
///
/// ```
/// thread_exec::spawn(|| ());
/// thread_exec::wait();
/// ```
pub fn wait() {
    global().wait();
}

/// [`Executor::wait_async`] on the [`global`] pool.
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// thread_exec::spawn(|| ());
/// thread_exec::wait_async().await;
/// # });
/// ```
pub fn wait_async() -> WaitAsync {
    global().wait_async()
}
