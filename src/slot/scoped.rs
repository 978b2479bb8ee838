//! Scoped jobs: [`Executor::scope`](crate::Executor::scope), whose jobs may
//! borrow from the caller's stack because the scope does not return before
//! every one of them has finished.
//!
//! # The record
//!
//! Each scoped job is a [`Record`]: its stage under a mutex, and a condition
//! variable for the threads that wait for it.
//!
//! ```text
//!  QUEUED(f) ─▶ RUNNING ─▶ DONE(result) ─▶ TAKEN
//! ```
//!
//! Whoever moves the stage out of `QUEUED` runs the closure: a pool worker
//! (through the job the scope queued for it, its *runner*), a thread that
//! joins the job's handle, a thread whose spawn into the scope finds a
//! bounded queue full, or the scope's own thread at its end. So a job
//! nobody has started yet never makes its joiner wait: the joiner runs it.
//! The scope's end runs every job no worker has started and waits only for
//! the ones running on other threads, which is why a scope inside a job of
//! a one-thread pool finishes: its caller runs its jobs itself. Critical
//! sections only move values (the closure out, the result in or out); the
//! closure runs, and a result is dropped, outside the lock.
//!
//! # Invariant 5: a scoped job's borrows end before its scope returns
//!
//! A record's closure and result may borrow what the scope's caller borrows
//! (`'scope`). The runner queued on the pool must be `'static`, so it holds
//! the record through a pointer whose lifetime bound is erased
//! ([`erase`], this module's one `unsafe` block); so does the scope's own
//! list of its records. That is sound because no value of a `'scope` type
//! is reachable through a record once the scope has returned:
//!
//! - a record is in its scope's list before its runner is queued, and the
//!   list is only emptied by the scope's end;
//! - the scope's end, which runs whether the scope's closure returned or
//!   panicked, takes each listed record out of `QUEUED` (running its closure)
//!   or waits until it leaves `RUNNING`, then drops any result no handle
//!   took (those whose handle is gone first, since a result may hold a
//!   live handle and join it when dropped); it repeats until the list stays
//!   empty (a running job may spawn more), and nothing in it can unwind (the closure's panic is caught, the
//!   locks ignore poisoning, a result's destructor is caught, and so is a
//!   tracing subscriber that panics on the pool's report of it; anything
//!   else aborts the process);
//! - so when it returns every record is `TAKEN`, holding no closure and no
//!   result: a runner that reaches its record later (a worker, or a
//!   [`PendingJob`](crate::PendingJob) run after `shutdown_now`) finds
//!   nothing to run, and dropping the record drops no `'scope` value;
//! - a handle, which holds the record with its real lifetime, cannot outlive
//!   the scope: its type names `'scope`, which the scope's closure is
//!   generic over, so neither the closure's value nor anything of the
//!   caller's can hold it.
//!
//! The scope's user sees only `&'scope Scope`, never the scope itself, so it
//! cannot be leaked to skip the end (the flaw of scoped-thread APIs that
//! returned a guard).
//!
//! Checked by the loom model `scoped_job_races_its_scope_end` (the runner
//! against the scope's end and a joiner, every interleaving: the closure
//! runs once and its borrow ends before the scope returns) and by Miri over
//! this module's tests (a borrow used after the scope returned would be a
//! use of a dead stack variable).

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use crate::error::JobError;
use crate::executor::Executor;
use crate::handle::JobHandle;
use crate::job::{Deadline, Job};
use crate::panic::{drop_caught, drop_payload};
use crate::sync::{lock, Arc, AtomicBool, Condvar, Mutex, Ordering};

/// The stage of a scoped job (see "The record").
enum Stage<F, T> {
    Queued(F),
    Running,
    Done(Result<T, Box<dyn Any + Send>>),
    Taken,
}

/// One scoped job: its stage, and the pool entry that may run it.
struct Record<F, T> {
    stage: Mutex<Stage<F, T>>,
    finished: Condvar,
    /// The runner's handle, once queued: withdrawn from the pool when
    /// another thread runs the job first, so that it frees its place in a
    /// bounded queue at once.
    runner: Mutex<Option<JobHandle<()>>>,
    /// Whether the job's [`ScopedJoinHandle`] still exists: the scope's end
    /// drops the result of a job whose handle is alive (inside another
    /// result, which may join it when dropped) only after the others.
    handle_alive: AtomicBool,
}

/// What the scope's end and a runner do with a record of any type.
trait Task: Send + Sync {
    /// Runs the closure here if nobody has started it; `true` if it did.
    fn run_if_queued(&self) -> bool;
    /// Blocks until the job has finished (it is not `QUEUED`: the caller
    /// tried to run it first).
    fn wait_finished(&self);
    /// Drops a result no handle took. Returns the payload of a panic no
    /// handle took, for the scope to resume.
    fn take_unjoined(&self) -> Option<Box<dyn Any + Send>>;
    /// The job ran on another thread first: withdraws its runner from the
    /// pool, which frees its place in a bounded queue at once. Never unwinds
    /// (the scope's end calls it): a panic of what the cancel reaches (a
    /// tracing subscriber) is swallowed.
    fn withdraw_runner(&self);
    /// Runs the job here if nobody has started it, then withdraws its
    /// runner; `true` if it ran here.
    fn run_here(&self) -> bool {
        let ran = self.run_if_queued();
        if ran {
            self.withdraw_runner();
        }
        ran
    }
    /// Whether the job's handle still exists (it may still be joined).
    fn handle_alive(&self) -> bool;
}

impl<F, T> Record<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn new(f: F) -> Self {
        Record {
            stage: Mutex::new(Stage::Queued(f)),
            finished: Condvar::new(),
            runner: Mutex::new(None),
            handle_alive: AtomicBool::new(true),
        }
    }

    fn is_finished(&self) -> bool {
        matches!(*lock(&self.stage), Stage::Done(_) | Stage::Taken)
    }

    /// The result, once (the handle is not `Clone` and is consumed).
    fn take(&self) -> Result<T, Box<dyn Any + Send>> {
        let stage = std::mem::replace(&mut *lock(&self.stage), Stage::Taken);
        match stage {
            Stage::Done(result) => result,
            // The handle's `join` ran or waited for the job first.
            Stage::Queued(_) | Stage::Running | Stage::Taken => {
                unreachable!("a scoped job's result is taken once, after it finished")
            }
        }
    }
}

impl<F, T> Task for Record<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn run_if_queued(&self) -> bool {
        let f = {
            let mut stage = lock(&self.stage);
            if !matches!(*stage, Stage::Queued(_)) {
                return false;
            }
            match std::mem::replace(&mut *stage, Stage::Running) {
                Stage::Queued(f) => f,
                _ => unreachable!("the stage was QUEUED under the lock"),
            }
        };
        let result = catch_unwind(AssertUnwindSafe(f));
        *lock(&self.stage) = Stage::Done(result);
        self.finished.notify_all();
        true
    }

    fn wait_finished(&self) {
        let mut stage = lock(&self.stage);
        while matches!(*stage, Stage::Queued(_) | Stage::Running) {
            stage = self
                .finished
                .wait(stage)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn take_unjoined(&self) -> Option<Box<dyn Any + Send>> {
        let stage = std::mem::replace(&mut *lock(&self.stage), Stage::Taken);
        match stage {
            Stage::Done(Ok(value)) => {
                drop_caught(value, "a scoped job's result");
                None
            }
            Stage::Done(Err(payload)) => Some(payload),
            Stage::Taken => None,
            // The scope's end ran or waited for every job first.
            Stage::Queued(_) | Stage::Running => {
                unreachable!("a scoped job is finished before its scope ends")
            }
        }
    }

    fn withdraw_runner(&self) {
        // Out of the lock before the cancel, which drops the runner's closure.
        let runner = lock(&self.runner).take();
        if let Some(runner) = runner {
            without_unwinding(|| runner.cancel());
        }
    }

    fn handle_alive(&self) -> bool {
        self.handle_alive.load(Ordering::SeqCst)
    }
}

/// A record as the runner holds it: with its lifetime bound erased.
type Erased = Arc<dyn Task + 'static>;

/// Erases the lifetime bound of `task`, for its runner on the pool.
fn erase<'scope>(task: Arc<dyn Task + 'scope>) -> Erased {
    // SAFETY: invariant 5. The two types differ only in the trait object's
    // lifetime bound, so they have the same layout; the scope's end makes
    // sure that no `'scope` value is reachable through the record once
    // `'scope` is over, so the `'static` pointer never reaches one.
    unsafe { std::mem::transmute::<Arc<dyn Task + 'scope>, Erased>(task) }
}

/// A scope for jobs that borrow: see [`Executor::scope`].
///
/// # Examples
///
/// ```
/// let pool = thread_exec::Executor::new(2);
/// let words = vec!["a", "bb", "ccc"];
/// let total = pool.scope(|s| {
///     let lengths: Vec<_> = words.iter().map(|w| s.spawn(move || w.len())).collect();
///     lengths.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
/// });
/// assert_eq!(total, 6);
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    executor: Executor,
    /// Every job spawned and not yet finished by the scope's end. Erased
    /// like the runners' pointers: a scope whose drop could reach a
    /// `'scope` value would have to outlive `'scope` itself.
    tasks: Mutex<Vec<Erased>>,
    /// Invariant in both lifetimes, as `std::thread::Scope`: a scope must
    /// not be usable where a shorter or longer one is expected.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

impl<'scope> Scope<'scope, '_> {
    /// Queues `f` on the pool and returns a handle to join it inside the
    /// scope. `f` may borrow anything that outlives the scope, and may
    /// spawn more jobs in it.
    ///
    /// Queued like [`Executor::spawn`], in the `Normal` lane; while a
    /// bounded queue is full, the calling thread first runs the scope's own
    /// jobs that nobody has started (each frees a place), then blocks. A
    /// job the pool has not started when it is joined, or when the scope
    /// ends, runs on the thread that joins it or
    /// ends the scope; so does every job of a pool that is shut down (it
    /// still runs: a scoped job is never cancelled, and the pool's queue
    /// deadline does not apply to it).
    ///
    /// # Blocking
    ///
    /// Only on a full bounded queue, as [`Executor::spawn`]; a scope is a
    /// blocking context already (see [`Executor::scope`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(2);
    /// let mut halves = [vec![1, 2], vec![3, 4]];
    /// pool.scope(|s| {
    ///     for half in &mut halves {
    ///         s.spawn(move || half.iter_mut().for_each(|x| *x *= 10));
    ///     }
    /// });
    /// assert_eq!(halves, [vec![10, 20], vec![30, 40]]);
    /// ```
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let record = Arc::new(Record::new(f));
        let runner = erase(record.clone());
        let this = Arc::as_ptr(&runner).cast::<()>();
        lock(&self.tasks).push(Arc::clone(&runner));
        let handle = self.send_runner(
            Job {
                deadline: Deadline::NEVER,
                ..Job::new(move || {
                    runner.run_if_queued();
                })
            },
            this,
        );
        *lock(&record.runner) = Some(handle);
        ScopedJoinHandle {
            record,
            _scope: PhantomData,
        }
    }

    /// Queues a runner; while a bounded queue is full, runs this scope's
    /// own jobs that nobody has started (each one run frees its runner's
    /// place), other than the one being spawned (`this`), and only then
    /// blocks as [`Executor::send`] does. Without this the scope's own
    /// thread would wait for room that only a queued job of its scope makes,
    /// while the workers may be waiting for that very job.
    fn send_runner<G>(&self, job: Job<G>, this: *const ()) -> JobHandle<()>
    where
        G: FnOnce() + Send + 'static,
    {
        let shared = &self.executor.shared;
        loop {
            match shared.accept() {
                Ok(queued) => return crate::submit::enqueue(shared, job, queued),
                Err(crate::state::Refused::Closed) => {
                    return crate::submit::refused(job, JobError::closed())
                }
                Err(crate::state::Refused::Full) => {
                    if !self.run_one_queued(this) {
                        return self.executor.send(job);
                    }
                }
            }
        }
    }

    /// Runs the oldest job of this scope that nobody has started, other
    /// than `this`; `false` if there is none.
    fn run_one_queued(&self, this: *const ()) -> bool {
        // Cloned out of the lock: running a job is user code.
        let tasks: Vec<Erased> = lock(&self.tasks).clone();
        for task in tasks {
            if Arc::as_ptr(&task).cast::<()>() != this && task.run_here() {
                return true;
            }
        }
        false
    }

    /// The executor the scope's jobs run on.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(1);
    /// pool.scope(|s| assert_eq!(s.executor().stats().threads, 1));
    /// ```
    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    /// The scope's end: finishes every job, then drops what no handle took.
    /// Returns the first unjoined panic. Never unwinds (invariant 5).
    fn finish(&self) -> Option<Box<dyn Any + Send>> {
        let mut first_panic = None;
        loop {
            let tasks = std::mem::take(&mut *lock(&self.tasks));
            if tasks.is_empty() {
                return first_panic;
            }
            // Start everything nobody has started, then wait for the rest:
            // what runs elsewhere overlaps with what runs here.
            for task in &tasks {
                task.run_here();
            }
            for task in &tasks {
                task.wait_finished();
            }
            // Results whose handle is gone first: dropping one may join (or
            // drop) a handle held inside it, whose result is then taken or
            // free to go in the next pass. What is left once a pass drops
            // nothing has a handle that nothing will drop here (leaked, or in
            // a cycle of results): dropped anyway, the handle cannot be
            // joined after the scope.
            let mut left = tasks;
            while !left.is_empty() {
                let (mut unjoined, alive): (Vec<_>, Vec<_>) =
                    left.into_iter().partition(|task| !task.handle_alive());
                left = alive;
                if unjoined.is_empty() {
                    // No progress: drop the rest in spawn order.
                    unjoined = std::mem::take(&mut left);
                }
                for task in unjoined {
                    if let Some(Some(payload)) = without_unwinding(|| task.take_unjoined()) {
                        match first_panic {
                            None => first_panic = Some(payload),
                            Some(_) => drop_payload(payload),
                        }
                    }
                }
            }
        }
    }
}

/// Runs a step of the scope's end that reaches user code beyond the ones it
/// catches itself: the pool's reports of caught panics call the tracing
/// subscriber, which may panic too. The end must not unwind (invariant 5):
/// such a panic is swallowed (its payload dropped under a catch of its own,
/// see `drop_payload`). Every step leaves its record in a stage the end can go
/// on from (`withdraw_runner` takes the runner out before cancelling it,
/// `take_unjoined` marks the record `TAKEN` before dropping the result).
fn without_unwinding<R>(step: impl FnOnce() -> R) -> Option<R> {
    catch_unwind(AssertUnwindSafe(step))
        .map_err(drop_payload)
        .ok()
}

/// Aborts the process if dropped: held across the scope's end, which must
/// not unwind (invariant 5). Unreachable unless a step not wrapped in
/// [`without_unwinding`] panics; a `'scope` borrow reached after the scope
/// returned would be worse than the abort, as in `std::thread::scope`.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        std::process::abort();
    }
}

impl Scope<'_, '_> {
    /// The scope's end, guarded: see [`Scope::finish`].
    fn finish_or_abort(&self) -> Option<Box<dyn Any + Send>> {
        let guard = AbortOnUnwind;
        let first_panic = self.finish();
        std::mem::forget(guard);
        first_panic
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("unfinished", &lock(&self.tasks).len())
            .finish_non_exhaustive()
    }
}

/// `Executor::scope`: runs `f` with a new scope, finishes every job spawned
/// in it, then returns `f`'s value or resumes a panic (the closure's first,
/// else the first unjoined job's).
pub(crate) fn scope<'env, F, R>(executor: &Executor, f: F) -> R
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
{
    let scope = Scope {
        executor: executor.clone(),
        tasks: Mutex::new(Vec::new()),
        scope: PhantomData,
        env: PhantomData,
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    let job_panic = scope.finish_or_abort();
    match (outcome, job_panic) {
        (Err(payload), job_panic) => {
            if let Some(job_panic) = job_panic {
                drop_payload(job_panic);
            }
            resume_unwind(payload)
        }
        (Ok(_), Some(payload)) => resume_unwind(payload),
        (Ok(value), None) => value,
    }
}

/// A job spawned in a [`Scope`]: join it for its result inside the scope,
/// or let the scope's end wait for it.
///
/// # Examples
///
/// ```
/// let pool = thread_exec::Executor::new(2);
/// let data = [1, 2, 3];
/// pool.scope(|s| {
///     let sum = s.spawn(|| data.iter().sum::<i32>());
///     assert_eq!(sum.join().unwrap(), 6);
/// });
/// ```
pub struct ScopedJoinHandle<'scope, T> {
    record: Arc<dyn ResultOf<T> + 'scope>,
    _scope: PhantomData<&'scope ()>,
}

/// A record seen from its handle: it knows `T`, not the closure's type.
trait ResultOf<T>: Task {
    fn result(&self) -> Result<T, Box<dyn Any + Send>>;
    fn finished(&self) -> bool;
    /// The handle is gone: the scope's end may drop the result.
    fn release_handle(&self);
}

impl<F, T> ResultOf<T> for Record<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn result(&self) -> Result<T, Box<dyn Any + Send>> {
        self.take()
    }

    fn finished(&self) -> bool {
        self.is_finished()
    }

    fn release_handle(&self) {
        self.handle_alive.store(false, Ordering::SeqCst);
    }
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the job and returns its value, or a [`JobError`] for which
    /// [`is_panic`](JobError::is_panic) holds if it panicked (the scope then
    /// does not resume that panic: it was handled here). A job no worker
    /// has started runs on the calling thread.
    ///
    /// # Errors
    ///
    /// Only a panic of the job: a scoped job is never cancelled nor expired.
    ///
    /// # Blocking
    ///
    /// Parks the thread until the job is done, or runs it here.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(1);
    /// pool.scope(|s| {
    ///     let boom = s.spawn(|| panic!("boom"));
    ///     assert!(boom.join().unwrap_err().is_panic());
    /// }); // handled: the scope returns normally
    /// ```
    pub fn join(self) -> Result<T, JobError> {
        if !self.record.run_here() {
            self.record.wait_finished();
        }
        self.record.result().map_err(JobError::panic)
    }

    /// Whether the job has finished (its result is waiting to be joined).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(1);
    /// pool.scope(|s| {
    ///     let job = s.spawn(|| 1);
    ///     while !job.is_finished() {
    ///         std::thread::yield_now();
    ///     }
    ///     assert_eq!(job.join().unwrap(), 1);
    /// });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.record.finished()
    }
}

impl<T> Drop for ScopedJoinHandle<'_, T> {
    fn drop(&mut self) {
        self.record.release_handle();
    }
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle")
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(thread_exec_loom)))]
mod tests {
    //! Under Miri (`cargo +nightly miri test --lib slot`): a job or a runner
    //! that touched a borrow after its scope returned would use a dead
    //! stack variable.
    use std::sync::mpsc;

    use crate::{Builder, Executor};

    /// Occupies a one-thread pool's worker until the returned sender sends,
    /// so that the scope's caller runs every job and the runners stay
    /// queued until after the scope's frame is gone.
    fn hold_the_only_worker(pool: &Executor) -> (mpsc::Sender<()>, crate::JobHandle<Option<()>>) {
        let (release, held) = mpsc::channel::<()>();
        let (started_tx, started) = mpsc::channel();
        let blocker = pool.spawn(move || {
            started_tx.send(()).unwrap();
            held.recv().ok()
        });
        started.recv().unwrap();
        (release, blocker)
    }

    /// A scope over a local of its own frame, which is dead once this
    /// returns.
    fn sum_in_scope(pool: &Executor) -> usize {
        let local: Vec<usize> = (1..=4).collect();
        let text = String::from("borrowed");
        pool.scope(|s| {
            let sum = s.spawn(|| local.iter().sum::<usize>());
            // Unjoined results that borrow: dropped by the scope's end.
            let _ = s.spawn(|| &text[..3]);
            let _ = s.spawn(|| local.len());
            sum.join().unwrap()
        })
    }

    #[test]
    fn runners_reaching_their_records_after_the_scope_find_nothing() {
        let pool = Executor::new(1);
        let (release, blocker) = hold_the_only_worker(&pool);
        assert_eq!(sum_in_scope(&pool), 10);
        release.send(()).unwrap();
        blocker.join().unwrap();
        pool.shutdown();
        let stats = pool.stats();
        assert_eq!((stats.completed, stats.cancelled), (1, 3));
    }

    /// Panics once, at its first ERROR event (a report of a caught panic).
    struct Saboteur(std::sync::atomic::AtomicBool);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Saboteur {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            if *event.metadata().level() == tracing::Level::ERROR
                && self.0.swap(false, std::sync::atomic::Ordering::SeqCst)
            {
                panic!("the subscriber fails on an error report");
            }
        }
    }

    /// Spawns a job borrowing `target` into the scope when dropped, then
    /// panics.
    struct SpawnsThenPanics<'scope, 'env> {
        scope: &'scope crate::Scope<'scope, 'env>,
        target: &'env Vec<u8>,
    }

    impl Drop for SpawnsThenPanics<'_, '_> {
        fn drop(&mut self) {
            let target = self.target;
            let _ = self
                .scope
                .spawn(move || target.iter().map(|&b| usize::from(b)).sum::<usize>());
            panic!("a result's destructor panics");
        }
    }

    /// A scope over a local of its own frame whose end meets a panicking
    /// subscriber: the job spawned by the end must run before the frame is
    /// gone (before the fix, the end unwound and a worker ran it later).
    fn scope_with_a_late_job(pool: &Executor) {
        let local = vec![1_u8, 2, 3];
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.scope(|s| {
                let target = &local;
                let _ = s.spawn(move || SpawnsThenPanics { scope: s, target });
            });
        }));
    }

    #[test]
    fn a_panicking_subscriber_does_not_end_the_scope_early() {
        use tracing_subscriber::layer::SubscriberExt;
        let pool = Executor::new(1);
        let (release, blocker) = hold_the_only_worker(&pool);
        let subscriber =
            tracing_subscriber::registry().with(Saboteur(std::sync::atomic::AtomicBool::new(true)));
        tracing::subscriber::with_default(subscriber, || scope_with_a_late_job(&pool));
        release.send(()).unwrap();
        blocker.join().unwrap();
        pool.shutdown(); // a runner still queued would run the late job here
    }

    #[test]
    fn workers_and_the_caller_share_the_jobs() {
        let pool = Executor::new(2);
        for _ in 0..3 {
            assert_eq!(sum_in_scope(&pool), 10);
        }
        pool.shutdown();
    }

    #[test]
    fn pending_runners_outlive_the_scope_after_shutdown_now() {
        let pool = Builder::new().threads(1).max_queue_size(4).build().unwrap();
        let (release, blocker) = hold_the_only_worker(&pool);
        let (pending_tx, pending_rx) = mpsc::channel();
        let local = vec![1_u8, 2, 3];
        pool.scope(|s| {
            let _ = s.spawn(|| local.len());
            let _ = s.spawn(|| local[0]);
            pending_tx.send(pool.shutdown_now()).unwrap();
        });
        drop(local);
        let mut pending = pending_rx.recv().unwrap();
        assert_eq!(pending.len(), 2);
        pending.pop().unwrap().run();
        drop(pending);
        release.send(()).unwrap();
        blocker.join().unwrap();
    }
}
