//! The worker thread: its main function and its loop.
//!
//! # The loop
//!
//! A worker is BUSY while the queue yields entries: it pops one, runs it (or
//! skips it if it was cancelled), does the accounting, and after every entry
//! checks whether a scale-down asked it to retire. When the queue is empty it
//! checks whether the pool is closed and drained (then it exits), and
//! otherwise goes IDLE:
//!
//! 1. it counts itself in `Shared::idle`,
//! 2. SPINS briefly, watching the state word's `queued` count (a plain load,
//!    so spinning does not contend on the queue's lock) and popping when it
//!    becomes non-zero,
//! 3. then PARKS on the queue's condvar ([`crate::queue::Queue::pop`]), with
//!    a `keep_alive` deadline when it is above a dynamic pool's `min`; a
//!    wake-up that brings no message spins again before parking again.
//!
//! Spinning first is what makes a stream of small jobs, and a round trip of
//! one job at a time, cheap: while some worker spins, a submitter's push
//! finds no sleeper and skips the futex wake-up (5-15 µs on a VM), and a
//! worker that finished a job picks up the next one without sleeping. The
//! spin looks every ~0.2 µs (a few `spin_loop` hints), yields every 16 looks
//! so it does not starve a submitter on a small machine, and is bounded at
//! 50 µs per emptying of the queue, so an idle pool parks every thread and
//! uses no CPU. (Measured in `docs/benchmarks.md`: a slower back-off that
//! gave up after ~10 µs missed the awaiting runtime thread and cost a futex
//! wake per round trip.)
//!
//! Wake-ups: a parked worker wakes for a job (a push signals one sleeper),
//! for a nudge (scale-down or shutdown, see [`crate::pool`]), or on its
//! keep-alive deadline. Any wake-up simply re-runs the loop, so a spurious
//! or stale one costs one iteration and nothing else.
//!
//! # Accounting
//!
//! The accounting costs one read-modify-write of the pool's state word per
//! job, not two: a finished job's `unfinished` count is *owed* until the
//! worker starts its next job, and is subtracted in the same `fetch_sub` that
//! moves that job out of `queued`. Whenever the worker finds no job to start
//! (empty queue, a nudge, a cancelled entry, retiring) it pays what it owes
//! first. So a job counts as unfinished for at most one queue pop after its
//! callbacks ran, and `wait` never waits on a worker that has stopped.
//! Nothing else waits on it: a job's handle is woken when the job settles,
//! before any accounting.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::pool::{Shared, ONE_QUEUED, ONE_UNFINISHED};
use crate::queue::Msg;
use crate::scaling::{ExitReason, WorkerCounters};
use crate::slot::Outcome;
use crate::sync::{Arc, Ordering::SeqCst};

#[cfg(not(thread_exec_loom))]
thread_local! {
    /// The address of the `Shared` whose worker this thread is (0 if none):
    /// lets `wait` and `shutdown` refuse to deadlock on their own pool.
    static CURRENT_POOL: Cell<usize> = const { Cell::new(0) };
}

#[cfg(thread_exec_loom)]
loom::thread_local! {
    static CURRENT_POOL: Cell<usize> = Cell::new(0);
}

/// Whether the calling thread is one of `shared`'s workers.
pub(crate) fn is_worker_of(shared: &Shared) -> bool {
    CURRENT_POOL.with(|current| current.get() == shared as *const Shared as usize)
}

/// How long an idle worker keeps looking at the queue before it parks:
/// longer than a futex wake-up of the thread that awaits a result plus its
/// next submission (5 to 15 µs on a virtual machine), so that a loop of
/// submit-and-await finds the worker awake instead of paying a second
/// wake-up. Bounded, so an idle pool still parks every thread.
#[cfg(not(thread_exec_loom))]
const SPIN_FOR: Duration = Duration::from_micros(50);
/// `spin_loop` hints between two looks at the queue (about 0.2 µs): a job
/// must be picked up before the submitter's thread has gone to sleep.
#[cfg(not(thread_exec_loom))]
const SPIN_PAUSES: u32 = 8;
/// Looks between two `yield_now`s, so a spinner hands its core to any
/// runnable thread (the one it is about to serve, often) every few µs.
#[cfg(not(thread_exec_loom))]
const LOOKS_PER_YIELD: u32 = 16;

/// The body of every worker thread.
pub(crate) fn main(shared: Arc<Shared>, id: usize, counters: Arc<WorkerCounters>) {
    CURRENT_POOL.with(|current| current.set(Arc::as_ptr(&shared) as usize));
    // Bookkeeping that must happen however the thread ends.
    let guard = ExitGuard {
        shared: &shared,
        id,
        counted: true,
    };
    // Declared after the guard so that it drops first: the thread's clone
    // of the user's hook is gone before the thread counts itself out.
    let panic_hook = crate::panic::install(shared.config.on_panic.clone());
    if let Some(hook) = &shared.config.on_thread_start {
        run_hook(hook, "on_thread_start");
    }
    tracing::debug!(worker = id, "worker started");
    let reason = run_loop(&shared, &counters);
    tracing::debug!(worker = id, reason = reason.as_str(), "worker stopped");
    let mut guard = guard;
    guard.counted = false; // `run_loop` gave up the `live` slot already
    if let Some(hook) = &shared.config.on_thread_stop {
        run_hook(hook, "on_thread_stop");
    }
    drop(panic_hook);
    drop(guard);
}

fn run_hook(hook: &(dyn Fn() + Send + Sync), which: &str) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(hook)) {
        tracing::error!(
            panic = crate::error::panic_text(payload.as_ref()),
            "{which} hook panicked"
        );
    }
}

/// Runs when a worker thread ends, normally or by an unexpected unwind of the
/// crate's own code: releases the `live` slot if the loop did not, removes
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
            tracing::error!(worker = self.id, "worker loop unwound; thread lost");
            self.shared.live.fetch_sub(1, SeqCst);
        }
        crate::scaling::deregister(self.shared, self.id);
        self.shared.alive.fetch_sub(1, SeqCst);
        self.shared.threads.notify_all();
    }
}

/// The `unfinished` count of the job this worker finished last, not yet
/// subtracted from the state word (see the module docs): 0 or
/// `ONE_UNFINISHED`.
#[derive(Default)]
struct Owed(u64);

impl Owed {
    /// Pays what is owed on its own.
    fn settle(&mut self, shared: &Shared) {
        let owed = std::mem::take(&mut self.0);
        if owed != 0 {
            shared.release(owed);
        }
    }
}

/// The worker loop. Returns once this worker gave up its `live` slot.
fn run_loop(shared: &Shared, counters: &WorkerCounters) -> ExitReason {
    let mut owed = Owed::default();
    loop {
        // BUSY: drain whatever is queued.
        while let Some(msg) = shared.queue.try_pop() {
            if let Some(reason) = handle(shared, counters, &mut owed, msg) {
                return reason;
            }
        }
        owed.settle(shared);
        // Empty queue: exit if the pool is closed and every job settled.
        if shared.is_drained() {
            return leave_drained(shared);
        }
        // IDLE: spin, then park.
        shared.idle.fetch_add(1, SeqCst);
        let msg = wait_for_work(shared);
        shared.idle.fetch_sub(1, SeqCst);
        match msg {
            Some(msg) => {
                if let Some(reason) = handle(shared, counters, &mut owed, msg) {
                    return reason;
                }
            }
            None => {
                if crate::scaling::try_retire_idle(shared) {
                    return ExitReason::KeepAlive;
                }
            }
        }
    }
}

/// Leaves a closed pool whose every job has settled, passing a nudge on to
/// the next worker. The nudges sent when the pool drained are counted one per
/// live worker, but a thread started concurrently (a `scale_up` racing
/// shutdown) may take one that was meant for another; handing the baton on
/// makes every exit wake one more worker, so none stays parked whatever the
/// count.
fn leave_drained(shared: &Shared) -> ExitReason {
    if shared.live.fetch_sub(1, SeqCst) > 1 {
        shared.queue.push(Msg::Nudge);
    }
    ExitReason::Shutdown
}

/// Spins, then parks; after a wake-up that brought no message (another
/// worker took it) spins again rather than going straight back to sleep, so
/// that two idle workers do not take turns waking each other. `None` once
/// the keep-alive timeout passed with no message.
fn wait_for_work(shared: &Shared) -> Option<Msg> {
    let deadline = keep_alive(shared).map(|keep_alive| Instant::now() + keep_alive);
    loop {
        if let Some(msg) = spin(shared) {
            return Some(msg);
        }
        let timeout = match deadline {
            None => None,
            Some(deadline) => Some(deadline.checked_duration_since(Instant::now())?),
        };
        if let Some(msg) = shared.queue.pop(timeout) {
            return Some(msg);
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return None;
        }
    }
}

/// Looks at the queue every few hundred ns for up to `SPIN_FOR`. Loom models
/// park at once: spinning is a performance choice, not part of the protocol.
#[cfg(not(thread_exec_loom))]
fn spin(shared: &Shared) -> Option<Msg> {
    let start = std::time::Instant::now();
    let mut looks: u32 = 0;
    loop {
        if shared.counts().queued != 0 {
            if let Some(msg) = shared.queue.try_pop() {
                return Some(msg);
            }
        }
        looks = looks.wrapping_add(1);
        if looks % LOOKS_PER_YIELD == 0 {
            if start.elapsed() >= SPIN_FOR {
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
fn spin(_: &Shared) -> Option<Msg> {
    None
}

/// The park timeout: a thread above a dynamic pool's `min` may expire.
fn keep_alive(shared: &Shared) -> Option<Duration> {
    let above_min = shared.live.load(SeqCst) > shared.min.load(SeqCst);
    (shared.config.dynamic && above_min).then_some(shared.config.keep_alive)
}

/// Runs (or skips) one queue entry and does its accounting, then decides
/// whether this worker leaves (and if so, gives up its `live` slot, having
/// paid what it owes).
///
/// A nudge is checked for shutdown at once, before the worker pops anything
/// else: the nudges are counted one per worker, so a worker that swallowed a
/// second one in its busy loop would leave another worker parked forever.
fn handle(
    shared: &Shared,
    counters: &WorkerCounters,
    owed: &mut Owed,
    msg: Msg,
) -> Option<ExitReason> {
    match msg {
        Msg::Nudge => {
            owed.settle(shared);
            if shared.is_drained() {
                return Some(leave_drained(shared));
            }
        }
        Msg::Job(task) => {
            let mut paid = std::mem::take(&mut owed.0);
            // Starting the job pays the previous one's count too.
            let outcome = task.run(&mut || {
                shared.release(ONE_QUEUED + std::mem::take(&mut paid));
            });
            match outcome {
                Outcome::Skipped => {
                    shared.cancelled.fetch_add(1, SeqCst);
                    shared.release(paid + ONE_QUEUED + ONE_UNFINISHED);
                }
                outcome => {
                    counters.count(outcome);
                    owed.0 = ONE_UNFINISHED;
                }
            }
        }
    }
    if crate::scaling::try_retire(shared, shared.max.load(SeqCst)) {
        owed.settle(shared);
        return Some(ExitReason::ScaleDown);
    }
    None
}
