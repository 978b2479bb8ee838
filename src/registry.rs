//! The registry of worker threads: their join handles, for `shutdown` to
//! reap, and their job counters, for `stats()` to sum.
//!
//! Only scaling (starting a thread), a worker leaving, `stats()` and
//! `shutdown` take the registry's lock; the job path never does.

use crate::error::{JobError, ShedReason};
use crate::job::Stamp;
use crate::slot::{Outcome, Started};
use crate::sync::thread::{self, JoinHandle};
use crate::sync::{Arc, AtomicU64, Ordering::Relaxed};
use crate::timings::{Recorder, Timings};

/// One worker's job counts, written only by that worker (so a plain load and
/// store, no read-modify-write) and on their own cache line, so counting
/// costs nothing shared on the job path. `stats()` sums them.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct WorkerCounters {
    completed: AtomicU64,
    panicked: AtomicU64,
    expired: AtomicU64,
    /// Jobs this worker shed at dequeue: in a standing queue, and because
    /// they would have missed their deadline.
    shed_standing: AtomicU64,
    shed_late: AtomicU64,
    /// Scoped jobs' runners that found their job run by another thread.
    withdrawn: AtomicU64,
    /// The worker's histograms, if the pool records timings: allocated when
    /// the worker starts, beside the counters, and written the same way.
    timings: Option<Box<WorkerTimings>>,
}

/// A worker's two histograms.
struct WorkerTimings {
    /// From submission to start, of each job this worker started.
    queue_wait: Recorder,
    /// From start to the end of its callbacks, of each job it ran.
    run_time: Recorder,
}

impl WorkerCounters {
    pub(crate) fn count(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Completed => &self.completed,
            Outcome::Panicked => &self.panicked,
            Outcome::Withdrawn => &self.withdrawn,
        };
        bump(counter);
    }

    /// A job this worker reached and settled unrun with `error`: expired,
    /// or shed.
    pub(crate) fn count_unrun(&self, error: &JobError) {
        let counter = match error.shed_reason() {
            None => &self.expired,
            Some(ShedReason::WouldMissDeadline) => &self.shed_late,
            Some(_) => &self.shed_standing,
        };
        bump(counter);
    }

    /// Counters for a worker of a pool that records timings (`timed`) or
    /// not.
    pub(crate) fn new(timed: bool) -> WorkerCounters {
        WorkerCounters {
            timings: timed.then(|| {
                Box::new(WorkerTimings {
                    queue_wait: Recorder::new(),
                    run_time: Recorder::new(),
                })
            }),
            ..WorkerCounters::default()
        }
    }

    /// A timed job started: records how long it waited.
    pub(crate) fn record_wait(&self, started: Started) {
        if let Some(timings) = &self.timings {
            timings
                .queue_wait
                .record(started.at.nanos_since(started.submitted));
        }
    }

    /// A timed job ended now: reads the clock and records how long it ran.
    pub(crate) fn record_run(&self, started: Started) {
        if let Some(timings) = &self.timings {
            timings
                .run_time
                .record(Stamp::now().nanos_since(started.at));
        }
    }
}

/// Adds one to a counter only its worker writes: a plain load and store.
/// The store is published to `stats()` by the SeqCst release of the job
/// that follows it.
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Relaxed) + 1, Relaxed);
}

/// A worker's counts, summed over workers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Totals {
    pub(crate) completed: u64,
    pub(crate) panicked: u64,
    pub(crate) expired: u64,
    pub(crate) shed_standing: u64,
    pub(crate) shed_late: u64,
    /// Counted in `Stats::cancelled`, beside the pool's own count.
    pub(crate) withdrawn: u64,
    pub(crate) queue_wait: Timings,
    pub(crate) run_time: Timings,
}

impl Totals {
    fn add(&mut self, counters: &WorkerCounters) {
        self.completed += counters.completed.load(Relaxed);
        self.panicked += counters.panicked.load(Relaxed);
        self.expired += counters.expired.load(Relaxed);
        self.shed_standing += counters.shed_standing.load(Relaxed);
        self.shed_late += counters.shed_late.load(Relaxed);
        self.withdrawn += counters.withdrawn.load(Relaxed);
        if let Some(timings) = &counters.timings {
            self.queue_wait.add(&timings.queue_wait);
            self.run_time.add(&timings.run_time);
        }
    }
}

/// The pool's threads, for joining and for `stats()`.
#[derive(Default)]
pub(crate) struct Registry {
    workers: Vec<Entry>,
    /// Join handles of threads that have left their loop; joined (quickly:
    /// they have nothing left to do) by the next thread start or by
    /// `shutdown`.
    exited: Vec<JoinHandle<()>>,
    /// Handles a `shutdown` took out of `exited` and is joining, outside
    /// every lock: a concurrent `shutdown` returns once this is 0 and
    /// `exited` is empty (see [`crate::shutdown`]).
    joining: usize,
    /// Counts of workers that are gone.
    retired: Totals,
    next_id: usize,
}

struct Entry {
    id: usize,
    counters: Arc<WorkerCounters>,
    handle: JoinHandle<()>,
}

impl Registry {
    /// The id and the counters of the next worker (with histograms if
    /// `timed`).
    pub(crate) fn next_worker(&mut self, timed: bool) -> (usize, Arc<WorkerCounters>) {
        let id = self.next_id;
        self.next_id += 1;
        (id, Arc::new(WorkerCounters::new(timed)))
    }

    /// Records a started worker. Called under the same lock as
    /// [`next_worker`](Registry::next_worker) and the spawn, so the worker
    /// cannot deregister before it is registered.
    pub(crate) fn register(
        &mut self,
        id: usize,
        counters: Arc<WorkerCounters>,
        handle: JoinHandle<()>,
    ) {
        self.workers.push(Entry {
            id,
            counters,
            handle,
        });
    }

    /// Removes an exiting worker, keeping its counts and its join handle.
    pub(crate) fn deregister(&mut self, id: usize) {
        if let Some(index) = self.workers.iter().position(|entry| entry.id == id) {
            let entry = self.workers.swap_remove(index);
            self.retired.add(&entry.counters);
            self.exited.push(entry.handle);
        }
    }

    /// Takes the handles of threads that have returned already, for the
    /// caller to join once it holds no lock (a finished thread may still be
    /// running thread-local destructors, user code that may call into the
    /// pool), so `exited` stays short however many scale operations a
    /// long-lived pool sees.
    pub(crate) fn take_finished(&mut self) -> Vec<JoinHandle<()>> {
        let (done, running): (Vec<_>, Vec<_>) = std::mem::take(&mut self.exited)
            .into_iter()
            .partition(thread::is_finished);
        self.exited = running;
        done
    }

    /// Takes every handle of an exited thread, for the caller to join
    /// outside the lock; counted in `joining` until [`joined`](Self::joined).
    pub(crate) fn take_exited(&mut self) -> Vec<JoinHandle<()>> {
        let taken = std::mem::take(&mut self.exited);
        self.joining += taken.len();
        taken
    }

    /// The caller joined `taken` handles of those it took, except `kept`,
    /// which go back (not joinable in time, or the caller's own thread).
    pub(crate) fn joined(&mut self, taken: usize, kept: Vec<JoinHandle<()>>) {
        self.joining -= taken;
        self.exited.extend(kept);
    }

    /// Whether handles of threads that left their loop wait to be taken.
    pub(crate) fn has_exited(&self) -> bool {
        !self.exited.is_empty()
    }

    /// Whether every thread that left its loop has been joined.
    pub(crate) fn all_joined(&self) -> bool {
        self.exited.is_empty() && self.joining == 0
    }

    /// The workers' counts over the pool's whole life. Allocates the
    /// histograms' snapshot if the pool records timings (no user code runs
    /// under the registry's lock, and the job path never takes it).
    pub(crate) fn totals(&self) -> Totals {
        let mut totals = self.retired.clone();
        for entry in &self.workers {
            totals.add(&entry.counters);
        }
        totals
    }
}
