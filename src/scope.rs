//! Scoped jobs: [`Executor::scope`], whose jobs may borrow from the
//! caller's stack because the scope does not return before every one of
//! them has finished.
//!
//! This module sits above [`Executor`]: it submits through the pool's
//! public paths, and only the lifetime erasure it needs lives below, in the
//! job slot (`crate::slot::scoped`, invariant 5, whose obligations this
//! module keeps; each is marked *invariant 5* where it is kept).
//!
//! # The record
//!
//! Each scoped job is a [`Record`]: its stage under a mutex, and a condition
//! variable for the threads that wait for it.
//!
//! ```text
//!  QUEUED(f) ─▶ RUNNING ─▶ DONE(result) ─▶ TAKEN
//!                    └───────────────────────▲   (result dropped by its finisher:
//!                                                 its handle was gone)
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
//! A result nobody will take is dropped as soon as both its job has
//! finished and its handle is gone, by whichever of the two comes second:
//! the handle's drop (the record is then `TAKEN`), or the job's finisher,
//! which drops it while the record is still `RUNNING`, so that the scope's
//! end waits for that drop as for the job (invariant 5). A panic nobody
//! joined stays in its record, for the scope to resume.
//!
//! # The scope's list: unfinished records only
//!
//! The scope lists the records that are not `TAKEN` ([`List`]): a vector of
//! places with a free list, each record knowing its own place, so a record
//! leaves the list in O(1) as soon as it is `TAKEN` (its result joined or
//! dropped). A long-lived scope's memory is then that of its unfinished
//! jobs (and of unjoined results whose handles are alive), not of every job
//! it ever spawned. Beside it, the list keeps the records that may still be
//! `QUEUED` in spawn order, for a spawn into a full bounded pool to run
//! (oldest first) instead of blocking; records that have started are
//! dropped from its front at every spawn, so it stays as short as the run
//! of jobs not yet started, and a spawn does O(1) work amortised.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

#[cfg(doc)]
use crate::builder::Builder;
use crate::error::JobError;
use crate::executor::Executor;
use crate::handle::JobHandle;
use crate::job::{Deadline, Job};
use crate::panic::{drop_caught, drop_payload};
use crate::slot::scoped::{erase, Erased, RunnerOutcome, ScopedTask};
#[cfg(doc)]
use crate::stats::Stats;
use crate::sync::{lock, Arc, AtomicBool, AtomicUsize, Condvar, Mutex, Ordering};

impl Executor {
    /// Runs `f` with a [`Scope`] whose jobs may borrow from the caller: they
    /// need not be `'static`, because `scope` returns only after every job
    /// spawned in it has finished, as [`std::thread::scope`] does with
    /// threads. Returns `f`'s value.
    ///
    /// The calling thread works too: a job no worker has started when its
    /// handle is [joined](ScopedJoinHandle::join), or when `f` has returned,
    /// runs on the calling thread, and the scope waits only for jobs running
    /// on other threads. So a scope opened inside one of the pool's own jobs
    /// finishes even on a one-thread pool (its caller runs its jobs itself),
    /// and a scope of a pool that is shut down runs its jobs on the caller.
    /// A scoped job reaches the pool through an ordinary job of its own (its
    /// runner), which is what [`Stats`] counts and times: a runner that ran
    /// its scoped job counts as completed; one whose job another thread ran
    /// first (a joiner, a spawn into a full pool, the scope's end) counts as
    /// cancelled and is not timed, whether it was withdrawn from the queue
    /// or a worker had taken it already; and the pool's
    /// [`queue_timeout`](Builder::queue_timeout) never expires one. A
    /// scoped job's panic belongs to its joiner or its scope (below): it is
    /// not counted in [`Stats::panicked`] nor passed to
    /// [`Builder::on_panic`]. A scope keeps only what its unfinished jobs
    /// need: a joined job's record, and a finished job's result once its
    /// handle is dropped, are freed at once, so a scope may live as long as
    /// a service and spawn without end.
    ///
    /// # Blocking
    ///
    /// Blocks until every job of the scope has finished: call it from a
    /// blocking context (a plain thread, a job of a pool, or
    /// `tokio::task::spawn_blocking`), not from async code. There is no
    /// async twin: a future cannot promise to be polled to its end, which a
    /// scope's borrows need.
    ///
    /// # Panics
    ///
    /// After every job has finished: with `f`'s panic if `f` panicked, else
    /// with the panic of the first job (in spawn order) that panicked and was
    /// not [joined](ScopedJoinHandle::join) (a joined panic is the joiner's
    /// `Err`).
    ///
    /// # Examples
    ///
    /// ```
    /// use thread_exec::Executor;
    ///
    /// let pool = Executor::new(2);
    /// let mut data = vec![1_u64, 2, 3, 4, 5, 6];
    /// let sum = std::sync::atomic::AtomicU64::new(0);
    /// pool.scope(|s| {
    ///     for chunk in data.chunks_mut(2) {
    ///         let sum = &sum;
    ///         s.spawn(move || {
    ///             chunk.iter_mut().for_each(|x| *x *= 2);
    ///             sum.fetch_add(chunk.iter().sum(), std::sync::atomic::Ordering::Relaxed);
    ///         });
    ///     }
    /// });
    /// assert_eq!(data, [2, 4, 6, 8, 10, 12]);
    /// assert_eq!(sum.into_inner(), 42);
    /// ```
    ///
    /// A borrow cannot escape the scope: its handle names the scope's
    /// lifetime, so it cannot be returned from it.
    ///
    /// ```compile_fail
    /// let pool = thread_exec::Executor::new(1);
    /// let text = String::from("borrowed");
    /// let escaped = pool.scope(|s| s.spawn(|| text.len()));
    /// ```
    ///
    /// Nor can a job borrow a local that the scope outlives.
    ///
    /// ```compile_fail
    /// let pool = thread_exec::Executor::new(1);
    /// pool.scope(|s| {
    ///     let short_lived = vec![1, 2, 3];
    ///     s.spawn(|| short_lived.len());
    /// });
    /// ```
    pub fn scope<'env, F, R>(&self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        scope(self, f)
    }
}

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
    runner: Mutex<Option<JobHandle<RunnerOutcome>>>,
    /// Whether the job's [`ScopedJoinHandle`] still exists. Changed only
    /// under `stage`'s lock, where the finisher reads it to decide who drops
    /// the result; the scope's end reads it without, once the job finished.
    handle_alive: AtomicBool,
    /// The scope's list, and this record's place in it.
    list: Arc<List>,
    place: usize,
}

impl<F, T> Record<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn new(f: F, list: Arc<List>, place: usize) -> Self {
        Record {
            stage: Mutex::new(Stage::Queued(f)),
            finished: Condvar::new(),
            runner: Mutex::new(None),
            handle_alive: AtomicBool::new(true),
            list,
            place,
        }
    }

    fn address(&self) -> *const () {
        std::ptr::from_ref(self).cast()
    }

    /// Leaves the scope's list: the record is `TAKEN`.
    fn unlist(&self) {
        self.list.remove(self.place, self.address());
    }

    /// Publishes the closure's outcome (the caller moved the stage to
    /// `RUNNING` and ran it). If the handle is gone, nobody will take a
    /// value: it is dropped here, before the record leaves `RUNNING`
    /// (invariant 5: the scope's end waits for this drop as for the job).
    fn finish(&self, result: Result<T, Box<dyn Any + Send>>) {
        let mut stage = lock(&self.stage);
        match result {
            Ok(value) if !self.handle_alive.load(Ordering::SeqCst) => {
                drop(stage);
                // The record leaves `RUNNING` after the drop, and also if
                // the drop's report unwinds (a tracing subscriber that
                // panics): a waiter must not wait for it for ever.
                let _taken = MarkTaken(self);
                drop_caught(value, "a scoped job's result");
            }
            result => {
                *stage = Stage::Done(result);
                drop(stage);
                self.list.unfinished.fetch_sub(1, Ordering::SeqCst);
                self.finished.notify_all();
            }
        }
    }
}

/// Marks a record whose finisher dropped its result `TAKEN` when dropped,
/// on return or unwind: it is finished, and leaves the scope's list.
struct MarkTaken<'a, F, T>(&'a Record<F, T>)
where
    F: FnOnce() -> T + Send,
    T: Send;

impl<F, T> Drop for MarkTaken<'_, F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn drop(&mut self) {
        let record = self.0;
        *lock(&record.stage) = Stage::Taken;
        record.list.unfinished.fetch_sub(1, Ordering::SeqCst);
        record.finished.notify_all();
        record.unlist();
    }
}

impl<F, T> ScopedTask for Record<F, T>
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
        self.finish(catch_unwind(AssertUnwindSafe(f)));
        true
    }

    fn is_queued(&self) -> bool {
        matches!(*lock(&self.stage), Stage::Queued(_))
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

/// A scope's records that are not `TAKEN`, and the ones that may still be
/// `QUEUED` (see "The scope's list"). Shared with the records, which leave
/// it themselves; `'static`, as it holds them erased.
struct List {
    inner: Mutex<Places>,
    /// Jobs spawned and not finished (`Scope`'s `Debug`).
    unfinished: AtomicUsize,
}

#[derive(Default)]
struct Places {
    /// A record's place holds it from before its runner is queued until it
    /// is `TAKEN` (invariant 5: listed before queued), or until the scope's
    /// end takes every place to finish the records itself.
    places: Vec<Option<Erased>>,
    /// Empty places, for reuse: the vector grows to the most records ever
    /// unfinished at once, not to the number spawned.
    free: Vec<usize>,
    /// Records in spawn order that may still be `QUEUED`.
    unstarted: VecDeque<Erased>,
}

impl List {
    fn new() -> Self {
        List {
            inner: Mutex::new(Places::default()),
            unfinished: AtomicUsize::new(0),
        }
    }

    /// A place for a record about to be built.
    fn reserve(&self) -> usize {
        let mut inner = lock(&self.inner);
        match inner.free.pop() {
            Some(place) => place,
            None => {
                inner.places.push(None);
                inner.places.len() - 1
            }
        }
    }

    fn fill(&self, place: usize, record: Erased) {
        lock(&self.inner).places[place] = Some(record);
    }

    /// Empties `place` if it still holds the record at `address` (the
    /// scope's end may have taken it, and the place been reused).
    fn remove(&self, place: usize, address: *const ()) {
        let removed = {
            let mut inner = lock(&self.inner);
            let ours = inner
                .places
                .get(place)
                .and_then(Option::as_ref)
                .is_some_and(|record| Arc::as_ptr(record).cast::<()>() == address);
            if ours {
                inner.free.push(place);
                inner.places[place].take()
            } else {
                None
            }
        };
        // Dropped out of the lock: it may be the record's last reference.
        drop(removed);
    }

    /// Queues `record` as a candidate for a spawn into a full pool, first
    /// dropping the candidates at the front that have started: each record
    /// enters and leaves once, so this is O(1) amortised.
    fn push_unstarted(&self, record: Erased) {
        let mut started = Vec::new();
        {
            let mut inner = lock(&self.inner);
            while inner
                .unstarted
                .front()
                .is_some_and(|front| !front.is_queued())
            {
                started.extend(inner.unstarted.pop_front());
            }
            inner.unstarted.push_back(record);
        }
        drop(started);
    }

    /// The oldest candidate, if any (it may have started since).
    fn pop_unstarted(&self) -> Option<Erased> {
        lock(&self.inner).unstarted.pop_front()
    }

    /// Every listed record, for the scope's end; the list is left empty.
    fn take_all(&self) -> Vec<Erased> {
        let (places, unstarted) = {
            let mut inner = lock(&self.inner);
            inner.free.clear();
            (
                std::mem::take(&mut inner.places),
                std::mem::take(&mut inner.unstarted),
            )
        };
        drop(unstarted);
        places.into_iter().flatten().collect()
    }
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
    /// Every job spawned and not yet `TAKEN`. Erased like the runners'
    /// pointers: a scope whose drop could reach a `'scope` value would have
    /// to outlive `'scope` itself.
    list: Arc<List>,
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
    /// ends, runs on the thread that joins it or ends the scope; so does
    /// every job of a pool that is shut down (it still runs: a scoped job
    /// is never cancelled, and the pool's queue deadline does not apply to
    /// it). Each spawn costs the same however many jobs the scope has
    /// spawned before.
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
        self.list.unfinished.fetch_add(1, Ordering::SeqCst);
        let place = self.list.reserve();
        let record = Arc::new(Record::new(f, Arc::clone(&self.list), place));
        let erased = erase(record.clone());
        // Invariant 5: listed before its runner is queued.
        self.list.fill(place, Arc::clone(&erased));
        let runner = Arc::clone(&erased);
        let handle = self.send_runner(Job {
            deadline: Deadline::NEVER,
            ..Job::new(move || RunnerOutcome {
                ran: runner.run_if_queued(),
            })
        });
        *lock(&record.runner) = Some(handle);
        self.list.push_unstarted(erased);
        ScopedJoinHandle {
            record,
            _scope: PhantomData,
        }
    }

    /// Queues a runner; while a bounded queue is full, runs this scope's
    /// own jobs that nobody has started (each one run frees its runner's
    /// place), oldest first, and only then blocks as [`Executor::send`]
    /// does. Without this the scope's own thread would wait for room that
    /// only a queued job of its scope makes, while the workers may be
    /// waiting for that very job. (The job being spawned is not a
    /// candidate yet: it joins the candidates once its runner is queued.)
    fn send_runner<G>(&self, job: Job<G>) -> JobHandle<RunnerOutcome>
    where
        G: FnOnce() -> RunnerOutcome + Send + 'static,
    {
        let shared = &self.executor.shared;
        loop {
            match shared.accept() {
                Ok(queued) => return crate::submit::enqueue(shared, job, queued),
                Err(crate::state::Refused::Closed) => {
                    return crate::submit::refused(job, JobError::closed())
                }
                Err(crate::state::Refused::Full) => {
                    if !self.run_one_queued() {
                        return self.executor.send(job);
                    }
                }
            }
        }
    }

    /// Runs the oldest job of this scope that nobody has started; `false`
    /// if there is none.
    fn run_one_queued(&self) -> bool {
        while let Some(candidate) = self.list.pop_unstarted() {
            if candidate.run_here() {
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
            let records = self.list.take_all();
            if records.is_empty() {
                return first_panic;
            }
            // Start everything nobody has started, then wait for the rest:
            // what runs elsewhere overlaps with what runs here.
            // A job run here whose handle is gone has its result dropped
            // here too, whose report may reach a tracing subscriber that
            // panics: swallowed, the record is finished all the same.
            for record in &records {
                without_unwinding(|| record.run_here());
            }
            for record in &records {
                record.wait_finished();
            }
            // Results whose handle is gone first: dropping one may join (or
            // drop) a handle held inside it, whose result is then taken or
            // free to go in the next pass. What is left once a pass drops
            // nothing has a handle that nothing will drop here (leaked, or in
            // a cycle of results): dropped anyway, the handle cannot be
            // joined after the scope.
            let mut left = records;
            while !left.is_empty() {
                let (mut unjoined, alive): (Vec<_>, Vec<_>) =
                    left.into_iter().partition(|record| !record.handle_alive());
                left = alive;
                if unjoined.is_empty() {
                    // No progress: drop the rest in spawn order.
                    unjoined = std::mem::take(&mut left);
                }
                for record in unjoined {
                    if let Some(Some(payload)) = without_unwinding(|| record.take_unjoined()) {
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
            .field("unfinished", &self.list.unfinished.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

/// `Executor::scope`: runs `f` with a new scope, finishes every job spawned
/// in it, then returns `f`'s value or resumes a panic (the closure's first,
/// else the first unjoined job's).
fn scope<'env, F, R>(executor: &Executor, f: F) -> R
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
{
    let scope = Scope {
        executor: executor.clone(),
        list: Arc::new(List::new()),
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
/// or let the scope's end wait for it. Dropped unjoined, the job still runs
/// and its result is dropped once it has finished.
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
trait ResultOf<T>: ScopedTask {
    /// The result, once (the handle is consumed); the record leaves the
    /// scope's list.
    fn result(&self) -> Result<T, Box<dyn Any + Send>>;
    fn finished(&self) -> bool;
    /// The handle is gone: a finished job's value is dropped now, an
    /// unfinished one's by its finisher.
    fn release_handle(&self);
}

impl<F, T> ResultOf<T> for Record<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn result(&self) -> Result<T, Box<dyn Any + Send>> {
        let stage = std::mem::replace(&mut *lock(&self.stage), Stage::Taken);
        match stage {
            Stage::Done(result) => {
                self.unlist();
                result
            }
            // The handle's `join` ran or waited for the job first.
            Stage::Queued(_) | Stage::Running | Stage::Taken => {
                unreachable!("a scoped job's result is taken once, after it finished")
            }
        }
    }

    fn finished(&self) -> bool {
        matches!(*lock(&self.stage), Stage::Done(_) | Stage::Taken)
    }

    fn release_handle(&self) {
        let value = {
            let mut stage = lock(&self.stage);
            self.handle_alive.store(false, Ordering::SeqCst);
            match &*stage {
                Stage::Done(Ok(_)) => match std::mem::replace(&mut *stage, Stage::Taken) {
                    Stage::Done(Ok(value)) => Some(value),
                    _ => unreachable!("the stage was DONE under the lock"),
                },
                // Unfinished: the finisher drops the value. A panic stays
                // for the scope to resume; a taken result is gone.
                _ => None,
            }
        };
        if let Some(value) = value {
            // On the thread that drops the handle: code the scope's end
            // waits for, as a handle cannot outlive the scope.
            drop_caught(value, "a scoped job's result");
            self.unlist();
        }
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
    //! Under Miri (`cargo +nightly miri test --lib scope`): a job or a runner
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
