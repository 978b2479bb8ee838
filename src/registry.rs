//! The registry of worker threads: their join handles, for `shutdown` to
//! reap, and their job counters, for `stats()` to sum.
//!
//! Only scaling (starting a thread), a worker leaving, `stats()` and
//! `shutdown` take the registry's lock; the job path never does.

use crate::slot::Outcome;
use crate::sync::thread::{self, JoinHandle};
use crate::sync::{Arc, AtomicU64, Ordering::Relaxed};

/// One worker's job counts, written only by that worker (so a plain load and
/// store, no read-modify-write) and on their own cache line, so counting
/// costs nothing shared on the job path. `stats()` sums them.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct WorkerCounters {
    completed: AtomicU64,
    panicked: AtomicU64,
}

impl WorkerCounters {
    pub(crate) fn count(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Completed => &self.completed,
            Outcome::Panicked => &self.panicked,
        };
        // Single writer: this worker. The store is published to `stats()`
        // by the SeqCst release of the job that follows it.
        counter.store(counter.load(Relaxed) + 1, Relaxed);
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
    /// Counts of workers that are gone.
    retired_completed: u64,
    retired_panicked: u64,
    next_id: usize,
}

struct Entry {
    id: usize,
    counters: Arc<WorkerCounters>,
    handle: JoinHandle<()>,
}

impl Registry {
    /// The id and the counters of the next worker.
    pub(crate) fn next_worker(&mut self) -> (usize, Arc<WorkerCounters>) {
        let id = self.next_id;
        self.next_id += 1;
        (id, Arc::new(WorkerCounters::default()))
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
            self.retired_completed += entry.counters.completed.load(Relaxed);
            self.retired_panicked += entry.counters.panicked.load(Relaxed);
            self.exited.push(entry.handle);
        }
    }

    /// Joins the threads that have returned already, so `exited` stays short
    /// however many scale operations a long-lived pool sees.
    pub(crate) fn reap_finished(&mut self) {
        let (done, running): (Vec<_>, Vec<_>) = std::mem::take(&mut self.exited)
            .into_iter()
            .partition(thread::is_finished);
        self.exited = running;
        for handle in done {
            let _ = handle.join();
        }
    }

    /// Takes every handle of an exited thread, for joining.
    pub(crate) fn take_exited(&mut self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut self.exited)
    }

    /// Completed and panicked counts over the pool's whole life.
    pub(crate) fn totals(&self) -> (u64, u64) {
        self.workers.iter().fold(
            (self.retired_completed, self.retired_panicked),
            |(completed, panicked), entry| {
                (
                    completed + entry.counters.completed.load(Relaxed),
                    panicked + entry.counters.panicked.load(Relaxed),
                )
            },
        )
    }
}
