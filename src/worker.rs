//! The worker thread: its main function, its loop, and its retire protocol.
//!
//! # The loop
//!
//! A worker is BUSY while the queue yields entries: it pops one, claims and
//! runs it (or settles it if it was cancelled), does the accounting, and
//! after every entry checks whether a scale-down asked it to retire. When the
//! queue is empty it checks whether the pool is closed and drained (then it
//! exits), and otherwise goes IDLE:
//!
//! 1. it counts itself in `idle` (see [`crate::state`]),
//! 2. SPINS briefly, if the idle policy below says it pays, watching the
//!    state word's `queued` count (a plain load, so spinning does not
//!    contend on the queue's lock) and popping when it becomes non-zero,
//! 3. then PARKS ([`crate::queue::Queue::pop`]; the most recently parked
//!    worker is the first one woken, so a light load keeps one warm worker
//!    busy and lets the others reach their keep-alive), with
//!    a `keep_alive` deadline when it is above a dynamic pool's `min`.
//!
//! # The idle policy: spin only when it pays
//!
//! Spinning is what makes a stream of small jobs, and a round trip of one
//! job at a time, cheap: while a worker spins, a submitter's push finds no
//! sleeper and skips the futex wake-up (5-15 µs of two threads' CPU on a
//! VM), and the job starts within a fraction of a microsecond. But a spin
//! that ends with no job is pure cost: at one job per millisecond, a
//! 50 µs spin after every job doubled the pool's CPU against tokio's
//! `spawn_blocking`, which never spins, and took that CPU from the async
//! runtime on a small machine. So:
//!
//! - **At most one worker spins at a time** (`Shared::try_start_spinning`).
//!   Two spinners on a two-core machine starve the very thread that would
//!   submit the next job; the others park at once. While one spins, a push
//!   wakes nobody (`Shared::push_job`): the spinner takes the job, and a
//!   spinner that finds more than one job queued wakes a parked worker for
//!   each of the others.
//! - **A worker spins only if its last waits would have been served by a
//!   spin**: it measures each idle gap, from going idle to the arrival of
//!   its next job (the moment it found it; for a parked worker, the moment
//!   a push signalled it, since on a VM the wake-up of an idle vCPU lags
//!   that by tens of µs, and a gap measured to the wake-up kept a worker
//!   that parked once parking for good), and spins next time only if the
//!   gap was shorter than the spin budget
//!   ([`Builder::max_spin`](crate::Builder::max_spin), 20 µs by default:
//!   longer than a futex wake-up of the thread that awaits a result plus its
//!   next submission, and about what two such wake-ups cost in CPU, so a
//!   spin that pays never costs more than the wake-up it saves). With one
//!   job every 50 µs a 50 µs budget spun through every gap: a round trip
//!   2.3× faster than tokio's, for ten times its CPU per job; at 20 µs the
//!   pool parks there and uses less CPU per job than tokio. Jobs arriving
//!   close together keep it spinning; one long gap (light, steady load)
//!   switches it to parking at once; short gaps switch it back.
//! - **A spin that found nothing makes the next one wait**: it doubles the
//!   number of short gaps in a row the worker needs before it spins again
//!   (up to 16), and two spins in a row that caught their job bring it
//!   back to one. A submitter that paces its jobs (one every 50 µs, each
//!   round trip fast once a spin caught it) alternates short and long gaps,
//!   and without the back-off spun in vain every other time (a third more
//!   CPU per job than parking); a stream of round trips keeps catching and
//!   never waits.
//! - **The first spin after a park is longer** by the lag of the wake-up
//!   that ended the park (at most three budgets in all): the submitter
//!   waited for that job's result parked, so its next job comes only after
//!   its own wake-up, about as slow; a bare-budget spin ended just before
//!   it, and round trips that had fallen out of spinning stayed out (a
//!   p99 of 50-90 µs against 1-5 µs on a two-vCPU VM).
//!
//! The cost of a wrong guess is one futex wake-up (a job that came soon
//! after the worker parked) or one fruitless spin.
//!
//! The waiting side follows the same rule: a submission that found a
//! worker spinning marks its handle, and the first wait on that handle
//! (a poll or a `join`) looks for the result for up to 2 µs before it
//! registers a waker or parks. The spinner starts the job within a fraction
//! of a microsecond, so a tiny job's result is there by then, and the
//! round trip skips a park and a wake-up of the waiting thread (an async
//! runtime's, often) on top of the worker's. A pool that parks (light load,
//! `max_spin(0)`) never marks a handle, so it never spins on that side
//! either.
//!
//! The spin looks every ~0.2 µs (a few `spin_loop` hints) and yields every
//! 16 looks, so it does not starve a submitter on a small machine. An idle
//! pool parks every thread. Spinning is a performance choice, not part of
//! the protocol's safety: a push skips its wake-up only while a worker
//! spins, and that worker looks at the queue before it parks and wakes a
//! parked worker for every job it does not take itself
//! (`pass_on_skipped_wakes`; the argument is on `Shared::push_job`). The
//! loom models keep the policy fixed and take the spinner's role on every
//! idle episode (their spin finds nothing, so they explore the pushes that
//! skip their wake-up and the pass-on after the park).
//!
//! Wake-ups: a parked worker wakes for a job (a push signals one sleeper),
//! for a nudge (scale-down or shutdown, see [`crate::state`]), or on its
//! keep-alive deadline. Any wake-up simply re-runs the loop, so a spurious
//! or stale one costs one iteration and nothing else.
//!
//! # Accounting
//!
//! The accounting costs one read-modify-write of the pool's state word per
//! job, not two: a finished job's `unfinished` count is *owed*
//! ([`Owed`](crate::state::Owed)) until the worker starts its next job, and
//! is subtracted in the same `fetch_sub` that moves that job out of
//! `queued`. The slot starts a job in two steps, claim then run, so that
//! this happens between them. Whenever the worker finds no job to start
//! (empty queue, a nudge, a cancelled entry, retiring) it pays what it owes
//! first. So a job counts as unfinished for at most one queue pop after its
//! callbacks ran, and `wait` never waits on a worker that has stopped.
//! Nothing else waits on it: a job's handle is woken when the job settles,
//! before any accounting.
//!
//! # Retiring
//!
//! A worker gives up its place in `live` by compare-and-swapping it down
//! while `live > max` ([`Shared::retire`]), so no more than the excess ever
//! retire, whoever races. It checks after every entry it handles, so a busy
//! worker retires as soon as its current job ends, however long the queue.
//! Idle workers are parked; a scale-down pushes one nudge per excess worker.
//! The queue is empty whenever a worker is idle (it would be busy
//! otherwise), so the nudges reach parked workers at once rather than after
//! a backlog. A nudge that a busy worker picks up instead is harmless.
//!
//! A worker above a dynamic pool's `min` whose keep-alive expires retires
//! the same way against `min`, then re-checks `queued > idle` after it left
//! `idle`, and stays if a job arrived: with SeqCst on both sides, either the
//! submitter saw it gone from `idle` (and started a thread) or it sees the
//! submitter's job.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::error::JobError;
use crate::job::Stamp;
use crate::overload::{RunEstimate, Verdict};
use crate::queue::Msg;
use crate::registry::WorkerCounters;
use crate::slot::{Claim, Outcome, TaskRef};
use crate::state::{Owed, Shared};
use crate::sync::{lock, Arc};

/// `spin_loop` hints between two looks at the queue (about 0.2 µs): a job
/// must be picked up before the submitter's thread has gone to sleep.
#[cfg(not(thread_exec_loom))]
const SPIN_PAUSES: u32 = 8;
/// Looks between two `yield_now`s, so a spinner hands its core to any
/// runnable thread (the one it is about to serve, often) every few µs.
#[cfg(not(thread_exec_loom))]
const LOOKS_PER_YIELD: u32 = 16;

/// Why a worker thread stopped; reported through `tracing`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ExitReason {
    ScaleDown,
    KeepAlive,
    Shutdown,
}

impl ExitReason {
    fn as_str(self) -> &'static str {
        match self {
            ExitReason::ScaleDown => "scale_down",
            ExitReason::KeepAlive => "keep-alive expiry",
            ExitReason::Shutdown => "shutdown",
        }
    }
}

/// The body of every worker thread. Its [`Reservation`] was committed: the
/// thread owns a place in `live`, `alive` and `idle`.
///
/// [`Reservation`]: crate::state::Reservation
pub(crate) fn main(shared: Arc<Shared>, id: usize, counters: Arc<WorkerCounters>, reason: &str) {
    // Bookkeeping that must happen however the thread ends.
    let mut guard = ExitGuard {
        shared: &shared,
        id,
        counted: true,
    };
    // Dropped before the guard: the mark's clone of `shared` is gone before
    // the thread counts itself out.
    let mark = shared.enter_worker(&counters);
    // The shard this worker looks at first, and its jobs submit to.
    crate::queue::set_home(id);
    let starting = shared.starting_idle();
    // Declared after the guard so that it drops first: the thread's clone
    // of the user's hook is gone before the thread counts itself out.
    let panic_hook = crate::panic::install(shared.config.on_panic.clone());
    if let Some(hook) = &shared.config.on_thread_start {
        run_hook(hook, "on_thread_start");
    }
    tracing::debug!(worker = id, reason, "worker started");
    drop(starting);
    let reason = run_loop(&shared, &counters);
    guard.counted = false; // `run_loop` gave up the `live` place already
    tracing::debug!(worker = id, reason = reason.as_str(), "worker stopped");
    if let Some(hook) = &shared.config.on_thread_stop {
        run_hook(hook, "on_thread_stop");
    }
    drop(panic_hook);
    drop(mark);
    drop(guard);
}

/// After a worker's main function unwound and the unwind was caught: the
/// thread says goodbye as a worker that stops does.
pub(crate) fn lost(shared: &Shared, id: usize) {
    crate::panic::run_caught(
        || tracing::error!(worker = id, "worker loop unwound; thread lost"),
        "reporting ",
        "a lost worker",
    );
    if let Some(hook) = &shared.config.on_thread_stop {
        run_hook(hook, "on_thread_stop");
    }
}

fn run_hook(hook: &(dyn Fn() + Send + Sync), which: &str) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(hook)) {
        tracing::error!(
            panic = crate::error::panic_text(payload.as_ref()),
            "{which} hook panicked"
        );
        crate::panic::drop_payload(payload);
    }
}

/// Runs when a worker thread ends, normally or by an unexpected unwind of the
/// crate's own code: releases the `live` place if the loop did not, removes
/// the worker from the registry, and counts the thread out of `alive`.
struct ExitGuard<'a> {
    shared: &'a Arc<Shared>,
    id: usize,
    /// Still counted in `live` (only if the loop did not return).
    counted: bool,
}

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        if self.counted {
            // The loop unwound. No user code here (a panic while unwinding
            // aborts): `lost` runs the stop hook once the unwind is caught.
            self.shared.leave();
        }
        lock(&self.shared.registry).deregister(self.id);
        self.shared.thread_exited();
    }
}

/// The worker loop. Returns once this worker gave up its `live` place.
fn run_loop(shared: &Shared, counters: &WorkerCounters) -> ExitReason {
    let mut owed = Owed::default();
    let mut policy = SpinPolicy::new(shared.config.max_spin);
    let mut estimate = RunEstimate::default();
    loop {
        // BUSY: drain whatever is queued.
        while let Some(msg) = shared.queue.try_pop() {
            if let Some(reason) = handle(shared, counters, &mut owed, &mut estimate, msg) {
                return reason;
            }
        }
        shared.pay(&mut owed);
        // The gap until the next job is idleness, not a run time.
        estimate.interrupted();
        // Empty queue: exit if the pool is closed and every job settled.
        if shared.is_drained() {
            return leave_drained(shared);
        }
        // IDLE: spin, then park.
        let idle = shared.enter_idle();
        let msg = wait_for_work(shared, &mut policy);
        drop(idle);
        match msg {
            Some(msg) => {
                if let Some(reason) = handle(shared, counters, &mut owed, &mut estimate, msg) {
                    return reason;
                }
            }
            None => {
                if retire_idle(shared) {
                    return ExitReason::KeepAlive;
                }
            }
        }
    }
}

/// Runs (or settles) one queue entry and does its accounting, then decides
/// whether this worker leaves (and if so, gives up its `live` place, having
/// paid what it owes).
///
/// A nudge is checked for shutdown at once, before the worker pops anything
/// else: the nudges are counted one per worker, so a worker that swallowed a
/// second one in its busy loop would leave another worker parked forever.
fn handle(
    shared: &Shared,
    counters: &WorkerCounters,
    owed: &mut Owed,
    estimate: &mut RunEstimate,
    msg: Msg,
) -> Option<ExitReason> {
    match msg {
        Msg::Nudge => {
            shared.pay(owed);
            if shared.is_drained() {
                return Some(leave_drained(shared));
            }
        }
        Msg::Job(task) => run_job(shared, counters, owed, estimate, task),
    }
    if shared.retire(shared.max_threads()) {
        shared.pay(owed);
        // Leaving with jobs queued: make sure a parked worker takes them (a
        // push may have skipped its wake-up for this worker's spin).
        if shared.counts().queued != 0 {
            let _ = shared.queue.wake_one();
        }
        return Some(ExitReason::ScaleDown);
    }
    None
}

/// Claims and runs one job (or settles it if it was cancelled), with its
/// accounting.
///
/// A job that does not run (expired, shed) leaves `queued` before its
/// callbacks run, so a callback that submits finds its place in a bounded
/// queue free, and `unfinished` after them, so `wait` waits for them.
fn run_job(
    shared: &Shared,
    counters: &WorkerCounters,
    owed: &mut Owed,
    estimate: &mut RunEstimate,
    task: TaskRef,
) {
    match task.claim() {
        Claim::Run(job, reached) => {
            let shed_lane = reached.shed;
            if shed_lane.is_some() {
                // The claim's clock read ends the last sheddable job's run.
                estimate.reached(reached.at.nanos(), &shared.overload);
            } else {
                estimate.interrupted();
            }
            let verdict = if reached.expired() {
                Err(JobError::expired())
            } else if let Some(lane) = shed_lane {
                match shared.verdict(&reached, lane) {
                    Verdict::Run => Ok(()),
                    Verdict::Shed(reason) => Err(JobError::shed(reason)),
                }
            } else {
                Ok(())
            };
            if let Err(error) = verdict {
                // Its place in the queue is given back first (a callback
                // that submits to this full pool finds it), then its user
                // code runs; it counts as unfinished until then, as a job
                // that runs does, so `wait` waits for its callbacks.
                counters.count_unrun(&error);
                shared.start_job(owed);
                job.settle(error);
                owed.finished_one();
                return;
            }
            if shed_lane.is_some() {
                estimate.started(reached.at.nanos());
            }
            // Starting the job pays the previous one's count too.
            shared.start_job(owed);
            let outcome = job.run();
            // A timed job (the pool records timings): the claim's clock
            // read is its start; one more read at its end. Untimed jobs
            // read no clock here. A withdrawn scoped runner counts as
            // cancelled, and cancelled jobs are not timed.
            let started = reached.started();
            if let Some(started) = started.filter(|_| outcome != Outcome::Withdrawn) {
                counters.record_wait(started);
                counters.record_run(started);
            }
            counters.count(outcome);
            owed.finished_one();
        }
        // Cancelled, and counted here unless its handle counted it when it
        // cancelled (a bounded pool's handles give the place back at once).
        Claim::Settled { account: true } => shared.settle_cancelled(owed),
        Claim::Settled { account: false } => shared.pay(owed),
    }
}

/// Runs one of the pool's queued jobs on the calling thread, a worker of
/// `shared` whose own job is about to block on the pool (a blocking submit
/// to its full queue, a `join` of a job not finished): the blocked call then
/// makes progress instead of waiting for a worker that may never come (on a
/// one-thread pool, or when every worker blocks the same way). `false` if no
/// job was queued.
///
/// Nudges found on the way are put back for a worker's loop to handle once
/// the search is over: each is a request to that loop (retire, or exit),
/// not to the job, and putting one back at once would only find it again
/// (nudges travel in the `Normal` lane, ahead of `Low` jobs).
pub(crate) fn help(shared: &Shared, counters: &WorkerCounters) -> bool {
    let mut nudges = 0_usize;
    let mut found = None;
    while shared.counts().queued != 0 {
        match shared.queue.try_pop() {
            None => break,
            Some(Msg::Nudge) => nudges += 1,
            Some(Msg::Job(task)) => {
                found = Some(task);
                break;
            }
        }
    }
    // Before the job runs, which may take long: a worker may wait for them.
    for _ in 0..nudges {
        shared.queue.push(Msg::Nudge);
    }
    let Some(task) = found else {
        return false;
    };
    let mut owed = Owed::default();
    // Not this worker's loop: its run times are not a back-to-back series.
    run_job(
        shared,
        counters,
        &mut owed,
        &mut RunEstimate::default(),
        task,
    );
    shared.pay(&mut owed);
    true
}

/// Leaves a closed pool whose every job has settled, passing a nudge on to
/// the next worker. The nudges sent when the pool drained are counted one per
/// live worker, but a thread started concurrently (a `scale_up` racing
/// shutdown) may take one that was meant for another; handing the baton on
/// makes every exit wake one more worker, so none stays parked whatever the
/// count.
fn leave_drained(shared: &Shared) -> ExitReason {
    if shared.leave() > 0 {
        shared.queue.push(Msg::Nudge);
    }
    ExitReason::Shutdown
}

/// A worker's keep-alive expired: retire it if the pool is above `min` and
/// no queued job would be left without a worker (see "Retiring").
fn retire_idle(shared: &Shared) -> bool {
    if !shared.retire(shared.min_threads()) {
        return false;
    }
    if shared.lacks_workers() {
        shared.unretire();
        return false;
    }
    true
}

/// Whether a worker spins before it parks (see "The idle policy").
#[cfg_attr(thread_exec_loom, allow(dead_code))]
struct SpinPolicy {
    /// The spin budget; zero never spins.
    budget: Duration,
    /// Idle gaps in a row that a spin would have covered.
    short_gaps: u32,
    /// How many such gaps in a row it takes to spin again: 1, doubled by
    /// every spin that found nothing (up to [`MAX_PATIENCE`]), back to 1
    /// once two spins in a row caught their job.
    patience: u32,
    /// The last spin caught its job.
    caught_last: bool,
    /// How long the next spin lasts: the budget, plus the lag of the
    /// wake-up that ended the last episode if it parked (see
    /// [`arrival`]), at most [`MAX_EXTENSION`] times the budget in all.
    next_spin: Duration,
}

/// How an idle episode ended, for [`SpinPolicy::record`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Episode {
    /// The worker spun and took a job.
    Caught,
    /// It spun, found nothing, and parked.
    Missed,
    /// It parked without spinning.
    Parked,
}

/// The most short gaps in a row a worker whose spins keep missing waits
/// for before it spins again: one fruitless spin in about this many idle
/// episodes, against one in two without the back-off.
#[cfg_attr(thread_exec_loom, allow(dead_code))]
const MAX_PATIENCE: u32 = 16;

/// The longest spin, in budgets: a spin that follows a parked episode
/// covers the budget plus the wake-up lag that episode measured (and never
/// more than `Builder::max_spin`'s 1 ms ceiling).
#[cfg_attr(thread_exec_loom, allow(dead_code))]
const MAX_EXTENSION: u32 = 3;

impl SpinPolicy {
    fn new(budget: Duration) -> Self {
        SpinPolicy {
            budget,
            // The first idle episode spins.
            short_gaps: 1,
            patience: 1,
            caught_last: false,
            next_spin: budget,
        }
    }

    /// Whether the next idle episode spins: a budget, and as many short
    /// gaps in a row as the patience asks for.
    fn spin_next(&self) -> bool {
        !self.budget.is_zero() && self.short_gaps >= self.patience
    }

    /// A job came `gap` after the worker went idle (see [`arrival`]), in
    /// an episode that ended as `episode`, whose wake-up (if it parked)
    /// lagged its signal by `lag`. Loom models keep the policy fixed (they
    /// must be deterministic, and time is real): every idle episode takes
    /// the spinner's role, so the models explore the pushes that skip their
    /// wake-up while a worker spins.
    fn record(&mut self, gap: Duration, lag: Duration, episode: Episode) {
        #[cfg(not(thread_exec_loom))]
        {
            match episode {
                Episode::Caught => {
                    if self.caught_last {
                        self.patience = 1;
                    }
                    self.caught_last = true;
                }
                Episode::Missed => {
                    self.patience = (self.patience * 2).min(MAX_PATIENCE);
                    self.caught_last = false;
                }
                Episode::Parked => {}
            }
            // Against the bare budget, even for a job the longer spin after
            // a park caught past it: that spin covers one slow wake-up of
            // the submitter; gaps that keep needing it are longer than a
            // spin pays for. (Counting such a catch as short was tried: on
            // the 2-vCPU VM, back-to-back round trips had a p99 above 10 µs
            // in 13 runs of 20 against 4 of 20, and in 6 of them fell into
            // parking on both sides at every trip, a p50 above 2 µs.)
            self.short_gaps = if gap < self.budget {
                self.short_gaps.saturating_add(1)
            } else {
                0
            };
            self.next_spin = self
                .budget
                .saturating_add(lag)
                .min(self.budget.saturating_mul(MAX_EXTENSION))
                .min(crate::builder::MAX_SPIN.max(self.budget));
        }
        #[cfg(thread_exec_loom)]
        let _ = (gap, lag, episode);
    }
}

/// Spins (if the policy says so and no other worker spins), then parks;
/// after a wake-up that brought no message (another worker took it) it
/// parks again. `None` once the keep-alive timeout passed with no message.
fn wait_for_work(shared: &Shared, policy: &mut SpinPolicy) -> Option<Msg> {
    let idle_since = Instant::now();
    let spun = policy.spin_next() && shared.try_start_spinning();
    if spun {
        let msg = spin(shared, idle_since, policy.next_spin);
        shared.stop_spinning();
        if let Some(msg) = msg {
            policy.record(idle_since.elapsed(), Duration::ZERO, Episode::Caught);
            pass_on_skipped_wakes(shared, &msg);
            return Some(msg);
        }
    }
    // `None` if the keep-alive is so long that it never expires.
    let deadline = keep_alive(shared).and_then(|keep_alive| idle_since.checked_add(keep_alive));
    loop {
        let timeout = match deadline {
            None => None,
            Some(deadline) => Some(deadline.checked_duration_since(Instant::now())?),
        };
        if let Some(msg) = shared.queue.pop(timeout) {
            let episode = if spun {
                Episode::Missed
            } else {
                Episode::Parked
            };
            let (gap, lag) = arrival(idle_since);
            policy.record(gap, lag, episode);
            if spun {
                pass_on_skipped_wakes(shared, &msg);
            }
            return Some(msg);
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return None;
        }
    }
}

/// For a worker that parked: how long after `idle_since` its work came,
/// and how long its wake-up lagged the push that signalled it.
///
/// The gap runs to the signal, not to the wake-up, which an idle vCPU can
/// delay by tens of µs (see [`crate::queue::woken_at`]): measured to the
/// wake-up, a round trip at a time that fell out of spinning once (a
/// preempted spinner) saw two wake-ups per gap, more than the budget on a
/// VM, and parked for good. The lag lengthens the next spin
/// ([`SpinPolicy::record`]): its submitter, which waited for the last
/// result parked, takes about as long to wake up and submit again, and a
/// spin of the bare budget would end just before it does.
fn arrival(idle_since: Instant) -> (Duration, Duration) {
    match crate::queue::woken_at() {
        Some(at) => {
            let lag = Stamp::now().nanos_since(at);
            let gap = at.nanos_since(Stamp::at(idle_since));
            (Duration::from_nanos(gap), Duration::from_nanos(lag))
        }
        None => (idle_since.elapsed(), Duration::ZERO),
    }
}

/// Pushes skipped their wake-up while this worker spun (see
/// `Shared::push_job`): wake a parked worker for each job queued beyond the
/// one this worker took (`taken`). Every push that skipped accepted its job
/// before it read `spinning`, so before this worker cleared it, so before
/// this read of `queued` (all SeqCst): each is counted here. `taken` is
/// left out of the count only if it is a job that `queued` still counted
/// when it was read: not a nudge, and not an entry its handle had cancelled
/// (a bounded pool's handle counts its job out at once). A push counted
/// here that woke a worker itself costs one wake-up too many, no more.
fn pass_on_skipped_wakes(shared: &Shared, taken: &Msg) {
    let queued = shared.counts().queued;
    // Read after `queued`: a job cancelled in between is left in the count,
    // which wakes one worker too many rather than one too few.
    let counted = matches!(taken, Msg::Job(task) if task.is_queued());
    let others = queued.saturating_sub(u64::from(counted));
    for _ in 0..others {
        if !shared.queue.wake_one() {
            break; // nobody else is parked
        }
    }
}

/// Looks at the queue every few hundred ns until `budget` has passed since
/// `since`. Loom models park at once.
#[cfg(not(thread_exec_loom))]
fn spin(shared: &Shared, since: Instant, budget: Duration) -> Option<Msg> {
    let mut looks: u32 = 0;
    loop {
        if shared.counts().queued != 0 {
            if let Some(msg) = shared.queue.try_pop() {
                return Some(msg);
            }
        }
        looks = looks.wrapping_add(1);
        if looks.is_multiple_of(LOOKS_PER_YIELD) {
            if since.elapsed() >= budget {
                return None;
            }
            std::thread::yield_now();
        } else {
            for _ in 0..SPIN_PAUSES {
                std::hint::spin_loop();
            }
        }
    }
}

#[cfg(thread_exec_loom)]
fn spin(_: &Shared, _: Instant, _: Duration) -> Option<Msg> {
    None
}

/// The park timeout: a thread above a dynamic pool's `min` may expire.
fn keep_alive(shared: &Shared) -> Option<Duration> {
    let above_min = shared.threads() > shared.min_threads();
    (shared.config.dynamic && above_min).then_some(shared.config.keep_alive)
}

#[cfg(all(test, not(thread_exec_loom)))]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    /// A paced submitter: every spin that catches its job is followed by
    /// one that finds nothing. The back-off makes the fruitless spins rare.
    #[test]
    fn a_spin_that_finds_nothing_makes_the_next_one_wait_for_more_short_gaps() {
        let mut policy = SpinPolicy::new(20 * US);
        assert!(policy.spin_next());
        policy.record(48 * US, 25 * US, Episode::Missed);
        assert!(!policy.spin_next(), "a long gap parks");
        assert_eq!(policy.patience, 2);
        policy.record(10 * US, 25 * US, Episode::Parked);
        assert!(
            !policy.spin_next(),
            "one short gap is not enough after a miss"
        );
        policy.record(10 * US, 25 * US, Episode::Parked);
        assert!(policy.spin_next(), "two in a row are");
        // The spin after a park covers the budget and the wake-up's lag.
        assert_eq!(policy.next_spin, 45 * US);
        // Caught once, then missed again: the wait doubles.
        policy.record(10 * US, Duration::ZERO, Episode::Caught);
        assert_eq!(policy.next_spin, 20 * US);
        policy.record(48 * US, 25 * US, Episode::Missed);
        assert_eq!(policy.patience, 4);
        let mut spins = 0;
        let mut misses = 0;
        for _ in 0..1_000 {
            if policy.spin_next() {
                spins += 1;
                // A paced job: the spin catches one, misses the next.
                policy.record(10 * US, Duration::ZERO, Episode::Caught);
                if policy.spin_next() {
                    misses += 1;
                    policy.record(48 * US, 25 * US, Episode::Missed);
                }
            } else {
                policy.record(10 * US, 25 * US, Episode::Parked);
            }
        }
        assert_eq!(policy.patience, MAX_PATIENCE);
        assert!(
            spins + misses <= 1_000 / MAX_PATIENCE as usize * 2 + 8,
            "{spins} catches and {misses} misses in 1,000 episodes"
        );
    }

    /// A stream of round trips: a preempted spinner misses once, and the
    /// worker is back to spinning after the short gaps its patience asks
    /// for, and back to a patience of one after two catches.
    #[test]
    fn round_trips_that_fall_out_of_spinning_come_back() {
        let mut policy = SpinPolicy::new(20 * US);
        policy.record(60 * US, 30 * US, Episode::Missed);
        assert!(!policy.spin_next());
        policy.record(15 * US, 30 * US, Episode::Parked);
        policy.record(15 * US, 30 * US, Episode::Parked);
        assert!(policy.spin_next());
        assert_eq!(policy.next_spin, 50 * US);
        policy.record(US, Duration::ZERO, Episode::Caught);
        policy.record(US, Duration::ZERO, Episode::Caught);
        assert_eq!(policy.patience, 1);
        assert!(policy.spin_next());
    }

    /// The longer spin after a park catches its job past the bare budget
    /// (the submitter's own slow wake-up); the worker parks once more, and
    /// the next short gap, which the catch makes likely (the submitter
    /// waited for that job spinning), brings it back to spinning.
    #[test]
    fn a_catch_past_the_budget_parks_once_then_spins_on_a_short_gap() {
        let mut policy = SpinPolicy::new(20 * US);
        policy.record(10 * US, 30 * US, Episode::Parked);
        assert!(policy.spin_next());
        assert_eq!(policy.next_spin, 50 * US);
        policy.record(35 * US, Duration::ZERO, Episode::Caught);
        assert!(!policy.spin_next(), "a catch past the budget is a long gap");
        assert_eq!(policy.patience, 1, "a catch never makes the worker wait");
        policy.record(US, 5 * US, Episode::Parked);
        assert!(policy.spin_next());
        assert_eq!(policy.next_spin, 25 * US);
    }

    /// The extension is capped, a zero budget never spins, and extreme
    /// durations saturate.
    #[test]
    fn extremes() {
        let mut policy = SpinPolicy::new(20 * US);
        policy.record(Duration::ZERO, Duration::MAX, Episode::Parked);
        assert_eq!(policy.next_spin, 60 * US);
        for _ in 0..100 {
            policy.record(Duration::MAX, Duration::MAX, Episode::Missed);
        }
        assert_eq!(policy.patience, MAX_PATIENCE);
        // The longest budget's spins stay within the 1 ms ceiling.
        let mut longest = SpinPolicy::new(crate::builder::MAX_SPIN);
        longest.record(Duration::ZERO, Duration::from_millis(5), Episode::Parked);
        assert_eq!(longest.next_spin, crate::builder::MAX_SPIN);
        let mut off = SpinPolicy::new(Duration::ZERO);
        assert!(!off.spin_next());
        off.record(Duration::ZERO, Duration::ZERO, Episode::Parked);
        assert!(!off.spin_next());
    }
}
