//! The pool's core state: [`Shared`], the one struct every
//! [`Executor`](crate::Executor) clone and every worker holds, its atomic
//! state word, and the named transitions that are the only way to change it.
//!
//! # The state word
//!
//! `Shared::state` packs three things into one `AtomicU64` so that they change
//! together:
//!
//! ```text
//!  bit 63     bits 32..63            bits 0..32
//!  CLOSED  |  queued (31 bits)  |  unfinished (32 bits)
//! ```
//!
//! - `unfinished`: jobs accepted and not yet settled (ran with callbacks done,
//!   cancelled and skipped by a worker, or handed back by `shutdown_now`).
//!   `wait()` waits for it to reach zero.
//! - `queued`: the part of `unfinished` that has not started. The bounded
//!   queue's capacity check reads it, and `running` is `unfinished - queued`.
//! - `CLOSED`: set once by shutdown (or by dropping the last `Executor`),
//!   never cleared.
//!
//! The transitions, each one method below:
//!
//! ```text
//!  accept            +1 queued +1 unfinished   (refused once CLOSED, or full)
//!  start_job         -1 queued                 (a worker claimed the job)
//!  pay               -1 unfinished             (its callbacks ran; see Owed)
//!  settle_unrun      -1 queued -1 unfinished   (settled without running:
//!  settle_cancelled                            handed back, cancelled)
//!  cancel_counted    -1 queued, then           (cancelled by its handle in a
//!                    -1 unfinished             bounded pool: see below)
//!  close             CLOSED
//! ```
//!
//! **Release the place, then run user code.** A job that settles without
//! running still runs user code: its closure's destructor and its
//! callbacks, which may submit to this very pool. Its place in `queued` is
//! given back before that code runs and its `unfinished` count after, as
//! for a job that runs: an expired job is claimed by `start_job` and paid
//! for once its callbacks ran, a cancelled one goes through
//! `cancel_counted`. So a callback that resubmits to its full pool finds
//! the place its job held, and `wait` still waits for the callbacks.
//!
//! A job is *accepted* by the compare-and-swap in [`Shared::accept`] that
//! adds one to both counts while `CLOSED` is clear. Nothing is accepted after
//! `CLOSED` is set, so once it is, `unfinished` only falls, and the moment it
//! reaches zero is unique: whoever makes the word exactly `CLOSED` (the closer
//! if nothing was pending, else the thread that settled the last job) sends
//! every worker a nudge, and each worker that then finds the word `CLOSED`
//! exits. That is the whole graceful-shutdown protocol; no accepted job can
//! be stranded, because workers only exit once every accepted job settled.
//!
//! Every access of the word and of the thread counts is SeqCst. The [`Event`]
//! protocol that lets threads and tasks wait on the word needs less (the
//! change is a read-modify-write made before the notifier's own on the
//! event; see its module docs); SeqCst is for the growth and keep-alive
//! checks, which compare `queued` with `idle`, two atomics written by
//! different threads (see [`crate::scaling`] and [`crate::worker`]).
//!
//! # Thread counts
//!
//! Three counters describe the pool's threads:
//!
//! - `live`: threads that count toward the target. A thread's place is
//!   *reserved* ([`Shared::reserve_thread`]) before it is spawned and given
//!   up by the worker when it decides to retire or exit ([`Shared::retire`]).
//! - `alive`: OS threads started (or being started) and not yet returned
//!   from their main function; `shutdown` waits for it to reach zero. A
//!   thread leaves `live` before it leaves `alive`, so `live <= alive` holds
//!   except while a reservation is being undone.
//! - `idle`: threads waiting for work, and threads being started, which will
//!   look at the queue before they wait. A submitter of a dynamic pool
//!   starts a thread only while `queued > idle`, so a thread that has not
//!   reached its loop yet is not counted as missing.
//!
//! A [`Reservation`] takes a place in all three at once and gives all three
//! back if it is dropped unused, on an error or an unwind alike.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::error::{JobError, ShedReason};
use crate::event::{Event, Listener};
use crate::job::{Deadline, Priority};
use crate::overload::{Overload, Verdict};
use crate::queue::{Msg, Queue};
use crate::registry::{Registry, WorkerCounters};
use crate::slot::{Claim, Claimed, Reached, TaskRef};
use crate::sync::{Arc, AtomicBool, AtomicU64, AtomicUsize, CachePadded, Mutex, Ordering::SeqCst};

const CLOSED: u64 = 1 << 63;
const ONE_QUEUED: u64 = 1 << 32;
const ONE_UNFINISHED: u64 = 1;
const QUEUED_MASK: u64 = !CLOSED & !UNFINISHED_MASK;
const UNFINISHED_MASK: u64 = (1 << 32) - 1;

/// The pool whose worker the calling thread is, with that worker's
/// counters: set for a worker thread's whole life, so that a job's blocking
/// calls can recognise their own pool and run its queued jobs meanwhile
/// instead of deadlocking (see [`crate::worker::help`]).
type CurrentWorker = Option<(Arc<Shared>, Arc<WorkerCounters>)>;

#[cfg(not(thread_exec_loom))]
thread_local! {
    static CURRENT_WORKER: std::cell::RefCell<CurrentWorker> = const { std::cell::RefCell::new(None) };
}

#[cfg(thread_exec_loom)]
loom::thread_local! {
    static CURRENT_WORKER: std::cell::RefCell<CurrentWorker> = std::cell::RefCell::new(None);
}

// The address of the pool whose thread the calling thread was, once that
// thread has left its loop (0 otherwise): see `Shared::is_exiting_thread`.
#[cfg(not(thread_exec_loom))]
thread_local! {
    static EXITING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(thread_exec_loom)]
loom::thread_local! {
    static EXITING: std::cell::Cell<usize> = std::cell::Cell::new(0);
}

/// The calling thread's pool and counters, if it is a worker.
pub(crate) fn current_worker() -> CurrentWorker {
    CURRENT_WORKER.with(|current| current.borrow().clone())
}

/// Marks the calling thread as a worker until dropped.
#[must_use = "dropping a WorkerMark unmarks the thread"]
pub(crate) struct WorkerMark(());

impl Drop for WorkerMark {
    fn drop(&mut self) {
        let mark = CURRENT_WORKER.with(|current| current.borrow_mut().take());
        drop(mark);
    }
}

/// A user hook run on each worker thread (`on_thread_start`/`on_thread_stop`).
pub(crate) type Hook = Box<dyn Fn() + Send + Sync + 'static>;

/// The pool's settings that never change after `build`.
pub(crate) struct Config {
    /// Threads are named `{name}-{id}`.
    pub(crate) name: String,
    pub(crate) stack_size: Option<usize>,
    pub(crate) on_thread_start: Option<Hook>,
    pub(crate) on_thread_stop: Option<Hook>,
    /// Shown every job and callback panic on a worker (see [`crate::panic`]).
    pub(crate) on_panic: Option<Arc<crate::panic::PanicHook>>,
    /// How long a thread above `min` waits idle before it exits.
    pub(crate) keep_alive: Duration,
    /// At most this many jobs queued (not started); 0 means unbounded.
    pub(crate) max_queue_size: usize,
    /// Shards per lane of the queue (see [`crate::queue`]).
    pub(crate) queue_shards: usize,
    /// The deadline of a job that has none of its own, from submission.
    pub(crate) queue_timeout: Option<Duration>,
    /// The longest an idle worker spins before it parks (see
    /// [`crate::worker`]); zero never spins.
    pub(crate) max_spin: Duration,
    /// Built with `min < max`: grows on demand, shrinks after `keep_alive`.
    /// A fixed pool keeps `min == max` through every scale operation.
    pub(crate) dynamic: bool,
    /// Jobs carry their submission time, and workers keep histograms of
    /// queue waits and run times (see [`crate::timings`]).
    pub(crate) record_timings: bool,
    /// How the pool sheds work under overload (see [`crate::overload`]).
    pub(crate) overload: crate::overload::OverloadControl,
    /// The `pool` label of the published metrics.
    #[cfg(feature = "metrics")]
    pub(crate) metrics_label: String,
}

/// Why an acceptance attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    Full,
    Closed,
}

/// A decoded snapshot of the state word.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) closed: bool,
    pub(crate) queued: u64,
    pub(crate) unfinished: u64,
}

impl Counts {
    fn decode(word: u64) -> Counts {
        Counts {
            closed: word & CLOSED != 0,
            queued: (word & QUEUED_MASK) >> 32,
            unfinished: word & UNFINISHED_MASK,
        }
    }
}

/// The `unfinished` count of a job a worker finished, not yet subtracted
/// from the state word: 0 or 1. A worker pays it in the same
/// read-modify-write that starts its next job (see [`crate::worker`]), or on
/// its own with [`Shared::pay`] whenever it finds no job to start.
#[derive(Debug, Default)]
pub(crate) struct Owed(u64);

impl Owed {
    /// Records one finished job; the worker owed nothing before.
    pub(crate) fn finished_one(&mut self) {
        debug_assert_eq!(self.0, 0, "a worker finishes one job at a time");
        self.0 = ONE_UNFINISHED;
    }

    fn take(&mut self) -> u64 {
        std::mem::take(&mut self.0)
    }
}

pub(crate) struct Shared {
    /// CLOSED | queued | unfinished; see the module docs.
    state: CachePadded<AtomicU64>,
    /// The FIFO of jobs and nudges: `config.queue_shards` shards per lane
    /// (see [`crate::queue`]).
    pub(crate) queue: Queue,
    /// Threads that count toward the target (see "Thread counts").
    live: CachePadded<AtomicUsize>,
    /// The thread target: a fixed pool converges to it, a dynamic pool grows
    /// up to it. Changed only under `scaling`.
    max: AtomicUsize,
    /// A dynamic pool keeps at least this many threads. `min <= max`; equal in
    /// a fixed pool. Changed only under `scaling`.
    min: AtomicUsize,
    /// Threads waiting for work or being started (see "Thread counts"). A
    /// worker leaves the count before it decrements `queued` for the job it
    /// took, so `queued > idle` always means a job may lack a worker.
    idle: CachePadded<AtomicUsize>,
    /// OS threads started and not yet returned from their main function.
    alive: AtomicUsize,
    /// A worker is spinning (at most one does; see [`crate::worker`]).
    spinning: CachePadded<AtomicBool>,
    /// Live `Executor` clones; the last one's drop closes the pool.
    executors: AtomicUsize,
    /// Jobs settled as cancelled (counted when they leave the pool's
    /// accounting: see [`Shared::settle_cancelled`]).
    cancelled: AtomicU64,
    /// Submissions refused because the queue was full (`try_*`).
    rejected: AtomicU64,
    /// Sheddable submissions refused because the pool was overloaded, and
    /// queued jobs that gave their place to a higher lane's (counted by
    /// the submitter; the workers count the jobs they shed).
    shed_at_submit: AtomicU64,
    shed_displaced: AtomicU64,
    /// The overload detector (see [`crate::overload`]).
    pub(crate) overload: Overload,
    /// Jobs handed back by `shutdown_now`.
    handed_back: AtomicU64,
    pub(crate) config: Config,
    /// Worker threads: join handles and per-worker counters.
    pub(crate) registry: Mutex<Registry>,
    /// Serialises scale operations and thread starts (see [`crate::scaling`]).
    pub(crate) scaling: Mutex<()>,
    /// Notified when `unfinished` reaches zero (`wait`).
    finished: Event,
    /// How many times `unfinished` has reached zero: the drain generation.
    /// Incremented before `finished` is notified, so every waiter that
    /// registered before a drain sees it, even once new jobs have made
    /// `unfinished` non-zero again (see [`Condition::Finished`]).
    drain_count: AtomicU64,
    /// Notified when `queued` falls in a bounded pool, and on close (blocked
    /// senders).
    pub(crate) capacity: Event,
    /// Notified when `alive` falls, and when a closed pool drains
    /// (`shutdown` waits for both).
    threads: Event,
    /// The histograms as last published to the `metrics` facade, so that
    /// each publication records only what came since (see
    /// [`crate::metrics`]). Held while a publisher takes its snapshot,
    /// never while the recorder runs.
    #[cfg(feature = "metrics")]
    pub(crate) published: Mutex<crate::timings::Published>,
}

impl Shared {
    /// The state of a new pool with no thread yet and one `Executor`.
    pub(crate) fn new(config: Config, min: usize, max: usize) -> Shared {
        Shared {
            state: CachePadded(AtomicU64::new(0)),
            queue: Queue::new(config.queue_shards),
            live: CachePadded(AtomicUsize::new(0)),
            max: AtomicUsize::new(max),
            min: AtomicUsize::new(min),
            idle: CachePadded(AtomicUsize::new(0)),
            alive: AtomicUsize::new(0),
            spinning: CachePadded(AtomicBool::new(false)),
            executors: AtomicUsize::new(1),
            cancelled: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            shed_at_submit: AtomicU64::new(0),
            shed_displaced: AtomicU64::new(0),
            overload: Overload::new(config.overload),
            handed_back: AtomicU64::new(0),
            config,
            registry: Mutex::new(Registry::default()),
            scaling: Mutex::new(()),
            finished: Event::new(),
            drain_count: AtomicU64::new(0),
            capacity: Event::new(),
            threads: Event::new(),
            #[cfg(feature = "metrics")]
            published: Mutex::new(crate::timings::Published::default()),
        }
    }

    // ---- Reading ----

    /// Marks the calling thread as one of this pool's workers, with
    /// `counters`, until the mark drops.
    pub(crate) fn enter_worker(self: &Arc<Self>, counters: &Arc<WorkerCounters>) -> WorkerMark {
        let mark = Some((Arc::clone(self), Arc::clone(counters)));
        CURRENT_WORKER.with(|current| *current.borrow_mut() = mark);
        WorkerMark(())
    }

    /// The calling worker's counters, if it is one of this pool's workers.
    pub(crate) fn own_worker(&self) -> Option<Arc<WorkerCounters>> {
        CURRENT_WORKER.with(|current| match &*current.borrow() {
            Some((shared, counters)) if std::ptr::eq(Arc::as_ptr(shared), self) => {
                Some(Arc::clone(counters))
            }
            _ => None,
        })
    }

    /// Whether the calling thread is one of this pool's workers.
    pub(crate) fn is_own_worker(&self) -> bool {
        self.own_worker().is_some()
    }

    /// Panics if the calling thread is one of this pool's workers: waiting
    /// for `condition` there would wait for the very job that waits.
    pub(crate) fn refuse_own_worker(&self, op: &str) {
        assert!(
            !self.is_own_worker(),
            "Executor::{op} called from one of its own jobs (or a callback or hook on its threads): it would wait for that thread forever"
        );
    }

    pub(crate) fn counts(&self) -> Counts {
        Counts::decode(self.state.load(SeqCst))
    }

    /// Threads counted toward the target.
    pub(crate) fn threads(&self) -> usize {
        self.live.load(SeqCst)
    }

    pub(crate) fn idle_threads(&self) -> usize {
        self.idle.load(SeqCst)
    }

    pub(crate) fn min_threads(&self) -> usize {
        self.min.load(SeqCst)
    }

    pub(crate) fn max_threads(&self) -> usize {
        self.max.load(SeqCst)
    }

    pub(crate) fn cancelled(&self) -> u64 {
        self.cancelled.load(SeqCst)
    }

    pub(crate) fn rejected(&self) -> u64 {
        self.rejected.load(SeqCst)
    }

    pub(crate) fn handed_back(&self) -> u64 {
        self.handed_back.load(SeqCst)
    }

    /// Sheddable submissions refused under overload, and queued jobs
    /// displaced by a higher lane's.
    pub(crate) fn shed_by_submitters(&self) -> (u64, u64) {
        (
            self.shed_at_submit.load(SeqCst),
            self.shed_displaced.load(SeqCst),
        )
    }

    // ---- Overload ----

    /// Whether a job with `deadline` (its own, `Deadline::NONE` if it has
    /// none) submitted as `sheddable` or not may be shed by this pool
    /// (see [`crate::overload`]): a pool that sheds, and a job with a
    /// deadline that can pass, the pool's queue timeout, or a caller that
    /// asked for it.
    pub(crate) fn may_shed(&self, deadline: Deadline, sheddable: bool) -> bool {
        self.overload.is_enabled()
            && (sheddable
                || deadline.can_pass()
                || (!deadline.is_set() && self.config.queue_timeout.is_some()))
    }

    /// Whether a sheddable submission to `lane` with its own `deadline`
    /// (`Deadline::NONE` if it has none) would only wait to be shed (no
    /// clock read; a load of the state word and a lane count): then it is
    /// refused, and counted. Its budget is the pool's queue timeout; that
    /// of a job with a deadline of its own is not known without a clock
    /// read, and counts as none.
    pub(crate) fn refuses_overloaded(&self, lane: Priority, deadline: Deadline) -> bool {
        let budget = match (deadline.is_set(), self.config.queue_timeout) {
            (false, Some(timeout)) => crate::timings::saturating_nanos(timeout),
            _ => 0,
        };
        let ahead = self.queue.ahead(lane, self.counts().queued);
        let refuses = self.overload.refuses(ahead, lane, budget, self.threads());
        if refuses {
            self.shed_at_submit.fetch_add(1, SeqCst);
        }
        refuses
    }

    /// What to do with a sheddable job of `lane` a worker reached.
    pub(crate) fn verdict(&self, reached: &Reached, lane: Priority) -> Verdict {
        let (at, submitted) = (reached.at.nanos(), reached.times.submitted.nanos());
        let deadline = reached.times.deadline.nanos();
        self.overload.dequeued(
            at.saturating_sub(submitted),
            at,
            lane,
            deadline,
            deadline.saturating_sub(submitted),
            self.threads(),
            || self.counts().queued,
        )
    }

    /// A full bounded queue and a submission to `lane`: sheds one queued
    /// job of a lower lane that every job of which may be shed, lowest lane
    /// first, so that the submission takes its place. `true` if a place
    /// may have been freed (try to accept again). Runs the shed job's
    /// callbacks on the calling thread, holding no lock.
    pub(crate) fn displace_below(&self, lane: Priority) -> bool {
        let lower: &[Priority] = match lane {
            Priority::Low => &[],
            Priority::Normal => &[Priority::Low],
            Priority::High => &[Priority::Low, Priority::Normal],
        };
        for &victim in lower {
            let Some(msg) = self.queue.pop_displaceable(victim) else {
                continue;
            };
            let task = match msg {
                Msg::Job(task) if task.shed_lane().is_some() => task,
                // A race let a job that may not be shed (or a nudge) to the
                // front of the lane: it goes back (see the queue's
                // "Sheddable jobs").
                other => {
                    self.queue.send(other, victim);
                    let _ = self.queue.wake_one();
                    return false;
                }
            };
            match task.claim() {
                Claim::Run(job, _) => self.settle_claimed(
                    job,
                    JobError::shed(ShedReason::Displaced),
                    &self.shed_displaced,
                ),
                Claim::Settled { account: true } => self.settle_cancelled(&mut Owed::default()),
                Claim::Settled { account: false } => {}
            }
            return true;
        }
        false
    }

    /// Whether an acceptance attempt now could succeed (or fail for good).
    pub(crate) fn has_room_or_closed(&self) -> bool {
        let counts = self.counts();
        counts.closed
            || self.config.max_queue_size == 0
            || counts.queued < self.config.max_queue_size as u64
    }

    /// `true` once the pool is closed and every accepted job has settled:
    /// workers exit, and `shutdown` returns once none is alive.
    pub(crate) fn is_drained(&self) -> bool {
        self.state.load(SeqCst) == CLOSED
    }

    /// Whether more jobs are queued than threads wait for them: a job may
    /// lack a worker.
    pub(crate) fn lacks_workers(&self) -> bool {
        self.counts().queued > self.idle.load(SeqCst) as u64
    }

    // ---- Jobs ----

    /// Accepts one job if the pool is open and, when bounded, not full.
    /// Returns the number of queued jobs including this one.
    pub(crate) fn accept(&self) -> Result<u64, Refused> {
        let max = self.config.max_queue_size as u64;
        let mut word = self.state.load(SeqCst);
        loop {
            let counts = Counts::decode(word);
            if counts.closed {
                return Err(Refused::Closed);
            }
            if max != 0 && counts.queued >= max {
                return Err(Refused::Full);
            }
            // `queued` (31 bits) fills before `unfinished` (32 bits), and
            // its carry would set `CLOSED`.
            debug_assert!(counts.queued < QUEUED_MASK >> 32, "too many queued jobs");
            match self.state.compare_exchange_weak(
                word,
                word + ONE_QUEUED + ONE_UNFINISHED,
                SeqCst,
                SeqCst,
            ) {
                Ok(_) => return Ok(counts.queued + 1),
                Err(current) => word = current,
            }
        }
    }

    /// A worker claimed a queued job: it leaves `queued` (and the previous
    /// job's count, if owed, leaves `unfinished` in the same step).
    pub(crate) fn start_job(&self, owed: &mut Owed) {
        self.release(ONE_QUEUED + owed.take());
    }

    /// Pays what a worker owes for the job it finished last, if anything.
    pub(crate) fn pay(&self, owed: &mut Owed) {
        let owed = owed.take();
        if owed != 0 {
            self.release(owed);
        }
    }

    /// A queued job settled without running and whose user code has run
    /// already or runs elsewhere (handed back by `shutdown_now`, cancelled
    /// by its handle first, or counted out after an unwind): it leaves both
    /// counts; `owed` is paid in the same step. (An expired job is claimed
    /// with `start_job` instead, see "Release the place, then run user
    /// code".) Its slot decides who calls this, once (see
    /// `slot::Header::take_accounting`).
    pub(crate) fn settle_unrun(&self, owed: &mut Owed) {
        self.release(ONE_QUEUED + ONE_UNFINISHED + owed.take());
    }

    /// A queued job was cancelled (by its handle, or by the pool when no
    /// thread could be started), and is counted so, as
    /// [`settle_unrun`](Shared::settle_unrun) says. In a bounded pool the
    /// handle that cancels calls it at once, giving the job's place in the
    /// queue back to the next submitter; otherwise the worker that pops the
    /// entry does.
    pub(crate) fn settle_cancelled(&self, owed: &mut Owed) {
        self.cancelled.fetch_add(1, SeqCst);
        self.settle_unrun(owed);
    }

    /// Cancels a job taken out of the queue that will not run on the pool,
    /// and settles it, unless its handle did both already. Runs user code
    /// (its closure's destructor, its callbacks): call it holding no lock.
    pub(crate) fn cancel_unstarted(&self, task: TaskRef) {
        let ours = task.take_accounting();
        match task.claim_unrun() {
            Some(claimed) if ours => self.cancel_counted(claimed),
            Some(claimed) => claimed.cancel(),
            None if ours => self.settle_cancelled(&mut Owed::default()),
            None => {}
        }
    }

    /// Cancels a job the caller claimed and took the accounting of: its
    /// place in the queue is given back first, then its user code runs
    /// (the closure's destructor, the callbacks), and only then does it
    /// leave `unfinished` and count as cancelled, so that code finds the
    /// place free and `wait` still waits for it (as for a job that runs).
    pub(crate) fn cancel_counted(&self, claimed: Claimed) {
        self.settle_claimed(claimed, JobError::cancelled(), &self.cancelled);
    }

    /// Settles a job the caller claimed off a worker's loop, and took the
    /// accounting of, with `error` (cancelled, displaced): "release the
    /// place, then run user code", then the job leaves `unfinished` and
    /// counts in `counter`, even if that code unwinds (a tracing
    /// subscriber, say).
    fn settle_claimed(&self, claimed: Claimed, error: JobError, counter: &AtomicU64) {
        self.release(ONE_QUEUED);
        let _settled = SettledOnDrop {
            shared: self,
            counter,
        };
        claimed.settle(error);
    }

    /// A queued job taken out of the queue by `shutdown_now` and handed
    /// back: counted, and settled as [`settle_unrun`](Shared::settle_unrun)
    /// says.
    pub(crate) fn settle_handed_back(&self) {
        self.handed_back.fetch_add(1, SeqCst);
        self.settle_unrun(&mut Owed::default());
    }

    /// Counts a submission refused because the queue was full.
    pub(crate) fn count_rejected(&self) {
        self.rejected.fetch_add(1, SeqCst);
    }

    /// Subtracts `delta` (multiples of `ONE_QUEUED` and `ONE_UNFINISHED`)
    /// for jobs that started or settled, and wakes whoever waits for room
    /// in the queue or for the pool to finish.
    fn release(&self, delta: u64) {
        let previous = self.state.fetch_sub(delta, SeqCst);
        if delta & !UNFINISHED_MASK != 0 && self.config.max_queue_size != 0 {
            self.capacity.notify_all();
        }
        if delta & UNFINISHED_MASK != 0 && (previous - delta) & UNFINISHED_MASK == 0 {
            self.drain_count.fetch_add(1, SeqCst);
            self.finished.notify_all();
            if previous & CLOSED != 0 {
                // `shutdown` waits for a drained pool with no thread alive.
                // Its waiters hear of the drain before any worker is nudged
                // to exit, so they are woken here, on this thread, not by
                // whichever worker happens to exit first.
                self.threads.notify_all();
                self.nudge_all();
            }
        }
    }

    // ---- Closing ----

    /// Sets `CLOSED`. Returns `false` if it was set already.
    pub(crate) fn close(&self) -> bool {
        let previous = self.state.fetch_or(CLOSED, SeqCst);
        if previous & CLOSED != 0 {
            return false;
        }
        tracing::debug!("executor closed");
        if previous & UNFINISHED_MASK == 0 {
            self.nudge_all();
        }
        // Senders blocked on a full queue get their jobs back.
        self.capacity.notify_all();
        true
    }

    /// Counts one more `Executor` clone.
    pub(crate) fn add_executor(&self) {
        self.executors.fetch_add(1, SeqCst);
    }

    /// Counts one more `Executor` made from a weak handle, unless the last
    /// one is gone already (then the pool is closing, and stays unreachable).
    pub(crate) fn try_add_executor(&self) -> bool {
        add_one_if(&self.executors, |executors| executors > 0)
    }

    /// Counts an `Executor` clone gone; the last one closes the pool.
    pub(crate) fn remove_executor(&self) {
        if self.executors.fetch_sub(1, SeqCst) == 1 {
            self.close();
        }
    }

    /// Wakes every worker once, so that each re-checks whether to exit.
    pub(crate) fn nudge_all(&self) {
        self.nudge(self.live.load(SeqCst));
    }

    pub(crate) fn nudge(&self, workers: usize) {
        for _ in 0..workers {
            self.queue.push(Msg::Nudge);
        }
    }

    // ---- Threads ----

    /// Reserves a place for one more thread if fewer than `limit` are live.
    pub(crate) fn reserve_thread(&self, limit: usize) -> Option<Reservation<'_>> {
        if !add_one_if(&self.live, |live| live < limit) {
            return None;
        }
        self.alive.fetch_add(1, SeqCst);
        self.idle.fetch_add(1, SeqCst);
        Some(Reservation {
            shared: self,
            armed: true,
        })
    }

    /// Gives up the calling worker's place if more than `target` threads are
    /// live; `true` if it did (the worker then leaves).
    pub(crate) fn retire(&self, target: usize) -> bool {
        self.live
            .fetch_update(SeqCst, SeqCst, |live| (live > target).then(|| live - 1))
            .is_ok()
    }

    /// Takes back a place given up by [`retire`](Shared::retire) (a worker
    /// whose keep-alive expired just as a job arrived stays).
    pub(crate) fn unretire(&self) {
        self.live.fetch_add(1, SeqCst);
    }

    /// The calling worker waits for work until the guard drops.
    pub(crate) fn enter_idle(&self) -> Idle<'_> {
        self.idle.fetch_add(1, SeqCst);
        Idle(self)
    }

    /// Queues an accepted job. A push wakes a parked worker, unless a
    /// worker spins: that one will take the job, and waking another costs a
    /// futex system call on the submitter's thread (often an async
    /// runtime's) and a context switch for a worker that finds nothing.
    ///
    /// No job is left unseen: the spinner clears `spinning` (SeqCst) before
    /// its last look at the queue, which it makes under the queue's lock
    /// before it parks. If this push read `spinning` as set, the spinner's
    /// clear comes later in the SeqCst order, so its look cannot precede
    /// this push's send in the lock's order (that would make the clear
    /// happen before the read): the look finds the job. For a lane the look
    /// may skip by its count, the count went up before this read of
    /// `spinning`, so before the clear, so before the look (see the queue's
    /// "Lanes").
    ///
    /// Returns whether a worker was spinning: the job is then likely to
    /// start within a fraction of a microsecond (see `JobHandle`'s first
    /// poll).
    pub(crate) fn push_job(&self, task: TaskRef, lane: Priority) -> bool {
        self.queue.send(Msg::Job(task), lane);
        let to_spinner = self.spinning.load(SeqCst);
        if !to_spinner {
            let _ = self.queue.wake_one();
        }
        to_spinner
    }

    /// Becomes the one spinning worker, if none is.
    pub(crate) fn try_start_spinning(&self) -> bool {
        !self.spinning.load(SeqCst)
            && self
                .spinning
                .compare_exchange(false, true, SeqCst, SeqCst)
                .is_ok()
    }

    /// The spinning worker stops spinning.
    pub(crate) fn stop_spinning(&self) {
        self.spinning.store(false, SeqCst);
    }

    /// A just-started worker's place in `idle`, which its [`Reservation`]
    /// took: held until the worker first looks at the queue.
    pub(crate) fn starting_idle(&self) -> Idle<'_> {
        Idle(self)
    }

    /// The calling worker gives up its place in `live` whatever the target
    /// (shutdown, or its loop unwound). Returns how many remain.
    pub(crate) fn leave(&self) -> usize {
        self.live.fetch_sub(1, SeqCst) - 1
    }

    /// A worker thread is about to return from its main function. From
    /// here on it is a thread of this pool on its way out: the wake-ups
    /// below run user code on it (see [`Shared::is_exiting_thread`]).
    pub(crate) fn thread_exited(&self) {
        EXITING.with(|exiting| exiting.set(self.address()));
        self.alive.fetch_sub(1, SeqCst);
        self.threads_changed();
    }

    /// Whether the calling thread is one of this pool's threads on its way
    /// out: it has left its loop and been counted out of `alive`, and runs
    /// the last wake-ups (or thread-local destructors). `shutdown` there
    /// must not wait for joins, one of which may be its own.
    pub(crate) fn is_exiting_thread(&self) -> bool {
        EXITING.with(std::cell::Cell::get) == self.address()
    }

    fn address(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Wakes whoever waits for threads to exit (`shutdown`), after a
    /// change of `alive`.
    pub(crate) fn threads_changed(&self) {
        self.threads.notify_all();
    }

    /// Moves the thread range (callers hold `scaling`). Returns the previous
    /// `max`.
    pub(crate) fn set_range(&self, min: usize, max: usize) -> usize {
        debug_assert!(min <= max);
        self.min.store(min, SeqCst);
        self.max.swap(max, SeqCst)
    }
}

/// Adds one to `counter` if `allowed` holds of its value, atomically.
fn add_one_if(counter: &AtomicUsize, allowed: impl Fn(usize) -> bool) -> bool {
    counter
        .fetch_update(SeqCst, SeqCst, |n| allowed(n).then(|| n + 1))
        .is_ok()
}

/// A thread's place in `live`, `alive` and `idle`, taken before the thread is
/// spawned. [`Reservation::commit`] hands it to the started thread; dropped
/// otherwise (the spawn failed, or something unwound), it gives all three
/// back.
#[must_use = "dropping a Reservation undoes it"]
pub(crate) struct Reservation<'a> {
    shared: &'a Shared,
    armed: bool,
}

impl Reservation<'_> {
    /// The thread started: from now on it owns its place in each count.
    pub(crate) fn commit(mut self) {
        self.armed = false;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.armed {
            // The counts only: the reservation is undone under the scaling
            // lock, and waking `shutdown`'s waiters (runtime code) waits
            // for its release (see `scaling::Scaling`).
            let shared = self.shared;
            shared.idle.fetch_sub(1, SeqCst);
            shared.live.fetch_sub(1, SeqCst);
            shared.alive.fetch_sub(1, SeqCst);
        }
    }
}

/// The last step of a job settled unrun off a worker's loop
/// ([`Shared::settle_claimed`]): it is counted, and leaves `unfinished`,
/// on return or unwind.
struct SettledOnDrop<'a> {
    shared: &'a Shared,
    counter: &'a AtomicU64,
}

impl Drop for SettledOnDrop<'_> {
    fn drop(&mut self) {
        self.counter.fetch_add(1, SeqCst);
        self.shared.release(ONE_UNFINISHED);
    }
}

/// A worker's place in `idle`, given up on drop (on an unwind too, so
/// `idle` never counts a thread that is gone).
#[must_use = "dropping an Idle leaves the idle count"]
pub(crate) struct Idle<'a>(&'a Shared);

impl Drop for Idle<'_> {
    fn drop(&mut self) {
        self.0.idle.fetch_sub(1, SeqCst);
    }
}

/// A condition over the pool's state that callers wait for, blocking or as
/// a future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Condition {
    /// Every accepted job settled, or the pool drained at least once since
    /// the waiter registered, when [`Shared::drains`] read this count
    /// (`wait`): a waiter woken by a drain returns even if new jobs came
    /// before it ran.
    Finished(u64),
    /// The pool is closed, every job settled and every thread has exited
    /// (`shutdown`).
    Exited,
    /// As `Exited`, and every thread has been joined (`shutdown` waits for
    /// the joins of a concurrent `shutdown`).
    Joined,
    /// `Joined`, or a handle waits in the registry to be joined (put back
    /// by a concurrent `shutdown_timeout` whose deadline passed).
    Joinable,
}

impl Shared {
    /// The drain generation, for a waiter about to register: see
    /// [`Condition::Finished`].
    pub(crate) fn drains(&self) -> u64 {
        self.drain_count.load(SeqCst)
    }

    pub(crate) fn holds(&self, condition: Condition) -> bool {
        match condition {
            Condition::Finished(since) => {
                self.counts().unfinished == 0 || self.drain_count.load(SeqCst) != since
            }
            Condition::Exited => self.is_drained() && self.alive.load(SeqCst) == 0,
            Condition::Joined => {
                self.holds(Condition::Exited) && crate::sync::lock(&self.registry).all_joined()
            }
            Condition::Joinable => {
                let registry = crate::sync::lock(&self.registry);
                registry.all_joined() || registry.has_exited()
            }
        }
    }

    /// The event notified when `condition` may have become true.
    fn event(&self, condition: Condition) -> &Event {
        match condition {
            Condition::Finished(_) => &self.finished,
            Condition::Exited | Condition::Joined | Condition::Joinable => &self.threads,
        }
    }

    /// Blocks until `condition` holds, or `deadline` passes (then `false`).
    pub(crate) fn block_until(&self, condition: Condition, deadline: Option<Instant>) -> bool {
        self.event(condition)
            .wait_until(|| self.holds(condition), deadline)
    }
}

/// A future that resolves once a [`Condition`] holds; the body of
/// `WaitAsync` and `ShutdownAsync`. Holds the shared state, not an
/// `Executor`: waiting does not keep the pool open.
pub(crate) struct Until {
    shared: Arc<Shared>,
    condition: Condition,
    listener: Listener,
}

impl Until {
    pub(crate) fn new(shared: &Arc<Shared>, condition: Condition) -> Self {
        Until {
            shared: Arc::clone(shared),
            condition,
            listener: Listener::default(),
        }
    }
}

impl Future for Until {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let (shared, condition) = (&this.shared, this.condition);
        if !shared.holds(condition) {
            shared.refuse_own_worker(match condition {
                Condition::Finished(_) => "wait_async",
                Condition::Exited | Condition::Joined | Condition::Joinable => "shutdown_async",
            });
        }
        shared
            .event(condition)
            .poll_until(&mut this.listener, cx, || shared.holds(condition))
    }
}

impl Drop for Until {
    fn drop(&mut self) {
        self.shared
            .event(self.condition)
            .unlisten(&mut self.listener);
    }
}

impl fmt::Debug for Until {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Until")
            .field("condition", &self.condition)
            .field("holds", &self.shared.holds(self.condition))
            .finish()
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts = self.counts();
        f.debug_struct("Executor")
            .field("name", &self.config.name)
            .field("threads", &self.threads())
            .field("min_threads", &self.min_threads())
            .field("max_threads", &self.max_threads())
            .field("queued", &counts.queued)
            .field("unfinished", &counts.unfinished)
            .field("closed", &counts.closed)
            .finish()
    }
}
