//! [`Stats`]: a snapshot of what the pool is doing.

use crate::state::Shared;
use crate::sync::lock;
use crate::timings::Timings;

/// A snapshot of an executor's threads and jobs, from
/// [`Executor::stats`](crate::Executor::stats).
///
/// Reading it takes no lock on the job path: `queued` and `running` come
/// from the pool's state word, `threads` and `idle_threads` from its
/// counters, and the job totals from per-worker counters summed under the
/// registry lock (which only scaling touches), with the histograms of a pool
/// that [records timings](crate::Builder::record_timings): there a snapshot
/// reads each worker's 1,952 buckets and allocates the two merged
/// histograms (7.6 KiB each), a cost for the reader, never for the jobs.
/// While jobs run, the fields are
/// each current but not one atomic picture; once the pool is quiet (after
/// [`Executor::wait`](crate::Executor::wait)) the job counts are exact. `idle_threads` settles a
/// moment later, as the workers finish going idle.
///
/// # Examples
///
/// ```
/// let pool = thread_exec::Executor::new(2);
/// pool.spawn(|| ());
/// pool.spawn(|| panic!("boom"));
/// pool.wait();
/// let stats = pool.stats();
/// assert_eq!((stats.completed, stats.panicked), (1, 1));
/// assert_eq!((stats.queued, stats.running), (0, 0));
/// assert_eq!(stats.threads, 2);
/// assert_eq!(stats.queue_wait.count(), 0); // timings are off by default
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Worker threads counted toward the target (a retiring thread leaves the
    /// count when it decides to exit).
    pub threads: usize,
    /// Of those, the ones waiting for work.
    pub idle_threads: usize,
    /// Jobs accepted and not started. A cancelled job leaves the count at
    /// once in a bounded pool (its handle counts it out), otherwise when a
    /// worker or `shutdown_now` takes its entry out of the queue.
    pub queued: u64,
    /// Jobs started and not finished (their callbacks included), and jobs
    /// settling without running (expired or cancelled) while their closure
    /// is dropped and their callbacks run: their place in a bounded queue
    /// is free by then.
    pub running: u64,
    /// Jobs that ran and returned, over the pool's life (on the pool's
    /// threads: a job run by its caller through
    /// [`PendingJob::run`](crate::PendingJob::run) is not counted).
    pub completed: u64,
    /// Jobs that ran and panicked, over the pool's life (on the pool's
    /// threads). A panic of a job's callback does not count here: the job
    /// counts as completed or panicked by its closure alone.
    pub panicked: u64,
    /// Jobs settled as cancelled without running, over the pool's life:
    /// cancelled by their handle (or a dropped [`Run`](crate::Run) or
    /// [`TryRun`](crate::TryRun) future) while queued, or by the pool when
    /// no thread could be started to run them. Jobs handed back by
    /// `shutdown_now` are not counted here (see `handed_back`). A scoped
    /// job's runner whose job another thread ran first counts here too
    /// (see [`Executor::scope`](crate::Executor::scope)).
    pub cancelled: u64,
    /// Jobs whose queue deadline ([`Job::deadline`](crate::Job::deadline),
    /// [`Job::queue_timeout`](crate::Job::queue_timeout),
    /// [`Builder::queue_timeout`](crate::Builder::queue_timeout)) had
    /// passed when a worker reached them, so they never ran, over the
    /// pool's life.
    pub expired: u64,
    /// Jobs and submissions the pool shed under overload, by reason (see
    /// [`Builder::overload_control`](crate::Builder::overload_control)).
    /// Every accepted job ends exactly one way (see
    /// [`handed_back`](Stats::handed_back)).
    pub shed: Shed,
    /// Whether the pool is overloaded now: the least queue wait of the last
    /// interval was above the target, so its sheddable jobs are being shed.
    /// An idle pool is not.
    pub overloaded: bool,
    /// How loaded the queue is, 0 to 100: the least queue wait of the
    /// current interval as a share of twice the target (folly's load
    /// figure); 100 means waits of twice the target or more.
    pub load: u8,
    /// Jobs [`shutdown_now`](crate::Executor::shutdown_now) took out of the
    /// queue before they started and handed back as
    /// [`PendingJob`](crate::PendingJob)s, over the pool's life. What the
    /// caller then does with them (runs or drops them) happens off the pool
    /// and is not counted. Once the pool is quiet, every accepted job is
    /// counted once: accepted = `completed + panicked + cancelled +
    /// expired + shed.accepted() + handed_back`, plus `queued + running`
    /// while it works.
    pub handed_back: u64,
    /// Submissions refused because the bounded queue was full
    /// ([`try_spawn`](crate::Executor::try_spawn),
    /// [`try_send`](crate::Executor::try_send),
    /// [`try_run`](crate::Executor::try_run) errors), over the pool's life.
    /// Refusals of a shut-down pool are not counted, nor blocking
    /// submissions that waited for room.
    pub rejected: u64,
    /// How long jobs waited from their acceptance to their start on a
    /// worker, over the pool's life: one value per job that started
    /// (expired and cancelled jobs are not timed). Empty unless the pool
    /// was built with [`record_timings(true)`](crate::Builder::record_timings).
    pub queue_wait: Timings,
    /// How long jobs held their worker, from their start to the end of
    /// their completion callback, over the pool's life: one value per job
    /// that ran. Empty unless the pool was built with
    /// [`record_timings(true)`](crate::Builder::record_timings).
    pub run_time: Timings,
}

/// The jobs an executor shed under overload, by reason, over its life
/// (see [`Stats::shed`]).
///
/// # Examples
///
/// ```
/// let pool = thread_exec::Executor::new(1);
/// pool.spawn(|| ());
/// pool.wait();
/// let shed = pool.stats().shed;
/// assert_eq!((shed.accepted(), shed.total()), (0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Shed {
    /// Sheddable submissions refused at once because the pool was
    /// overloaded and they would have waited past their slough time
    /// ([`ShedReason::Submit`](crate::ShedReason::Submit)). Never accepted,
    /// so not in the accounting of accepted jobs (nor in
    /// [`Stats::rejected`]).
    pub at_submit: u64,
    /// Queued jobs settled unrun because they had waited past their slough
    /// time in a standing queue.
    pub standing_queue: u64,
    /// Queued jobs settled unrun because their deadline was nearer than the
    /// run time the pool expected for them.
    pub would_miss_deadline: u64,
    /// Queued jobs that gave their place in a full bounded queue to a job
    /// of a higher lane.
    pub displaced: u64,
}

impl Shed {
    /// Accepted jobs that were shed: all but [`at_submit`](Shed::at_submit).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(thread_exec::Executor::new(1).stats().shed.accepted(), 0);
    /// ```
    pub fn accepted(&self) -> u64 {
        self.standing_queue + self.would_miss_deadline + self.displaced
    }

    /// Every shed job and submission.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(thread_exec::Executor::new(1).stats().shed.total(), 0);
    /// ```
    pub fn total(&self) -> u64 {
        self.at_submit + self.accepted()
    }
}

/// Reads a [`Stats`] off the pool's state (`Executor::stats`).
pub(crate) fn snapshot(shared: &Shared) -> Stats {
    let counts = shared.counts();
    let totals = lock(&shared.registry).totals();
    let (at_submit, displaced) = shared.shed_by_submitters();
    let now = crate::job::Stamp::now().nanos();
    Stats {
        threads: shared.threads(),
        idle_threads: shared.idle_threads(),
        queued: counts.queued,
        running: counts.unfinished - counts.queued,
        completed: totals.completed,
        panicked: totals.panicked,
        cancelled: shared.cancelled() + totals.withdrawn,
        expired: totals.expired,
        handed_back: shared.handed_back(),
        rejected: shared.rejected(),
        shed: Shed {
            at_submit,
            standing_queue: totals.shed_standing,
            would_miss_deadline: totals.shed_late,
            displaced,
        },
        overloaded: shared.overload.is_overloaded(now),
        load: shared.overload.load(now),
        queue_wait: totals.queue_wait,
        run_time: totals.run_time,
    }
}
