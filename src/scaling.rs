//! Threads coming and going: starting workers, dynamic growth, and the
//! `scale_up` / `scale_down` / `set_threads` operations, which
//! [`Executor`](crate::Executor) calls.
//!
//! # Targets
//!
//! A pool has a thread range `min..=max` (in [`Shared`], changed only here,
//! under `Shared::scaling`). A *fixed* pool keeps `min == max` and starts
//! every thread up front; a *dynamic* pool starts `min`, grows toward `max`
//! when a job is queued and no worker is idle, and lets a thread above `min`
//! exit after `keep_alive` idle. Scale operations move `max` (and `min` with
//! it in a fixed pool, or clamp `min` down to `max` in a dynamic one);
//! workers above the new target retire as [`crate::worker`] describes.
//!
//! # Growing without stranding a job
//!
//! A submitter of a dynamic pool starts a thread when, after queuing its job,
//! `queued > idle`. A worker leaves `idle` *before* it decrements `queued` for
//! the job it took, so the comparison can over-count demand (an extra thread,
//! later expired) but never under-count it; a thread being started counts as
//! idle from its reservation on, so a burst does not start one thread per
//! job while the first ones are still on their way to the queue.
//!
//! # Starting threads and shutdown
//!
//! Every thread is started with `Shared::scaling` held (scale operations and
//! dynamic growth alike), after a check that it is still needed. `shutdown`
//! closes the pool, then passes through that lock once, so every thread
//! started before it is already counted in `alive`, and waits for the pool
//! to drain and `alive` to reach zero. A thread that growth starts after
//! close (to run a job accepted just before it) is counted before the
//! pool can drain, since that job is still unfinished.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{ScaleError, ScaleErrorKind};
use crate::queue::Msg;
use crate::state::{Reservation, Shared};
use crate::sync::thread::{self, JoinHandle};
use crate::sync::{lock, Arc, MutexGuard};

/// Why a worker thread was started; reported through `tracing`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StartReason {
    Build,
    ScaleUp,
    DynamicGrowth,
    Replacement,
}

impl StartReason {
    fn as_str(self) -> &'static str {
        match self {
            StartReason::Build => "build",
            StartReason::ScaleUp => "scale_up",
            StartReason::DynamicGrowth => "dynamic growth",
            StartReason::Replacement => "replacing a lost worker",
        }
    }
}

/// `Shared::scaling` held, and what happened under it that others must
/// hear of: its `tracing` events, and a thread start that failed (whose
/// undone reservation may be what a `shutdown` waits for). Both are
/// delivered when the guard drops, after the lock is released: a tracing
/// subscriber and a woken task's waker are user code, and may call back
/// into the pool (to read `stats()`, even to scale it).
pub(crate) struct Scaling<'a> {
    shared: &'a Shared,
    guard: Option<MutexGuard<'a, ()>>,
    events: Vec<Deferred>,
}

/// An event of a scale operation, reported once the lock is released.
enum Deferred {
    Retargeted {
        from: usize,
        to: usize,
    },
    SpawnFailed {
        reason: StartReason,
        error: String,
    },
    /// Threads that have returned, to reap.
    Join(Vec<JoinHandle<()>>),
}

impl<'a> Scaling<'a> {
    pub(crate) fn lock(shared: &'a Shared) -> Self {
        Scaling {
            shared,
            guard: Some(lock(&shared.scaling)),
            events: Vec::new(),
        }
    }
}

impl Drop for Scaling<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut failed = false;
        for event in self.events.drain(..) {
            match event {
                Deferred::Retargeted { from, to } => {
                    tracing::debug!(from, to, "thread target changed");
                }
                Deferred::SpawnFailed { reason, error } => {
                    failed = true;
                    tracing::error!(
                        reason = reason.as_str(),
                        error,
                        "could not start a worker thread"
                    );
                }
                Deferred::Join(handles) => {
                    for handle in handles {
                        let _ = handle.join();
                    }
                }
            }
        }
        if failed {
            self.shared.threads_changed();
        }
    }
}

/// Starts one worker thread in the place `reservation` holds; on failure
/// (or an unwind) the reservation is undone.
fn spawn_worker(
    shared: &Arc<Shared>,
    scaling: &mut Scaling<'_>,
    reservation: Reservation<'_>,
    reason: StartReason,
) -> io::Result<()> {
    let mut registry = lock(&shared.registry);
    let finished = registry.take_finished();
    if !finished.is_empty() {
        scaling.events.push(Deferred::Join(finished));
    }
    let (id, counters) = registry.next_worker(shared.config.record_timings);
    let mut builder = thread::Builder::new().name(format!("{}-{id}", shared.config.name));
    if let Some(size) = shared.config.stack_size {
        builder = builder.stack_size(size);
    }
    let thread_shared = Arc::clone(shared);
    let thread_counters = Arc::clone(&counters);
    let body = move || {
        let lost = catch_unwind(AssertUnwindSafe(|| {
            crate::worker::main(
                Arc::clone(&thread_shared),
                id,
                thread_counters,
                reason.as_str(),
            )
        }));
        if let Err(payload) = lost {
            crate::panic::drop_payload(payload);
            crate::worker::lost(&thread_shared, id);
            replace_lost_worker(&thread_shared);
        }
    };
    match builder.spawn(body) {
        Ok(handle) => {
            registry.register(id, counters, handle);
            reservation.commit();
            Ok(())
        }
        Err(err) => {
            drop(registry);
            drop(reservation);
            scaling.events.push(Deferred::SpawnFailed {
                reason,
                error: err.to_string(),
            });
            Err(err)
        }
    }
}

/// A worker's main function unwound (a panic the crate could not contain,
/// from a tracing subscriber, say); its exit guard already took it out of
/// every count. Starts another in its place, so the pool keeps its
/// strength, unless the pool has drained (it is shutting down and needs
/// no thread).
fn replace_lost_worker(shared: &Arc<Shared>) {
    if shared.is_drained() {
        return;
    }
    tracing::warn!("starting a worker thread in place of one that was lost");
    let mut scaling = Scaling::lock(shared);
    if shared.is_drained() {
        return;
    }
    let target = if shared.config.dynamic {
        shared.min_threads()
    } else {
        shared.max_threads()
    };
    let grown = grow_to(shared, &mut scaling, target, StartReason::Replacement);
    if grown.is_ok() && shared.config.dynamic {
        grow_for_backlog(shared, &mut scaling);
    }
}

/// Starts threads until `target` are live (a pool's build, a fixed pool's
/// growth). Stops at the first spawn failure.
pub(crate) fn grow_to(
    shared: &Arc<Shared>,
    scaling: &mut Scaling<'_>,
    target: usize,
    reason: StartReason,
) -> io::Result<()> {
    while let Some(reservation) = shared.reserve_thread(target) {
        spawn_worker(shared, scaling, reservation, reason)?;
    }
    Ok(())
}

/// A dynamic pool's submit path: start a thread if the job just queued (with
/// `queued` now waiting) may find no idle worker.
pub(crate) fn maybe_grow(shared: &Arc<Shared>, queued: u64) {
    if queued <= shared.idle_threads() as u64 || shared.threads() >= shared.max_threads() {
        return;
    }
    // Threads start only under `scaling`, so `shutdown` (which passes
    // through that lock after closing) never misses one. Growth is still
    // allowed after close: an accepted job must run even if the pool had
    // no thread left.
    let mut scaling = Scaling::lock(shared);
    let Some(Err(_)) = start_for_backlog(shared, &mut scaling) else {
        return;
    };
    if shared.threads() != 0 {
        return;
    }
    // No worker exists and none could be started: whatever is queued would
    // wait forever. Take it out under the lock (no thread can start
    // meanwhile), and settle it as cancelled outside it: cancelling runs
    // user code (closures' destructors, callbacks), which may submit again.
    let stranded = shared.queue.drain();
    drop(scaling);
    tracing::error!(
        jobs = stranded.len(),
        "no worker thread could be started; cancelling queued jobs"
    );
    for msg in stranded {
        if let Msg::Job(task) = msg {
            shared.cancel_unstarted(task);
        }
    }
}

/// A dynamic pool whose `max` was raised: start threads for a backlog that
/// finds no idle worker now, rather than waiting for the next submit.
fn grow_for_backlog(shared: &Arc<Shared>, scaling: &mut Scaling<'_>) {
    while let Some(Ok(())) = start_for_backlog(shared, scaling) {}
}

/// Starts one thread if more jobs are queued than workers are idle and the
/// pool is below `max`; `None` if no thread is needed or allowed. The demand
/// is read fresh: a job counted earlier may have run already. Callers hold
/// `Shared::scaling`.
fn start_for_backlog(shared: &Arc<Shared>, scaling: &mut Scaling<'_>) -> Option<io::Result<()>> {
    if !shared.lacks_workers() {
        return None;
    }
    let reservation = shared.reserve_thread(shared.max_threads())?;
    Some(spawn_worker(
        shared,
        scaling,
        reservation,
        StartReason::DynamicGrowth,
    ))
}

/// `Executor::scale_up`: raises the target by `n`.
pub(crate) fn scale_up(shared: &Arc<Shared>, n: usize) -> Result<usize, ScaleError> {
    let mut scaling = Scaling::lock(shared);
    let target = shared.max_threads().saturating_add(n);
    retarget(shared, &mut scaling, target)
}

/// `Executor::scale_down`: lowers the target by `n`, never below 1 nor a
/// dynamic pool's `min`.
pub(crate) fn scale_down(shared: &Arc<Shared>, n: usize) -> usize {
    let mut scaling = Scaling::lock(shared);
    let current = shared.max_threads();
    let floor = if shared.config.dynamic {
        shared.min_threads().max(1)
    } else {
        1
    };
    let target = current.saturating_sub(n).max(floor).min(current);
    // Lowering the target cannot fail: `retarget` only errs when growing.
    retarget(shared, &mut scaling, target).unwrap_or(current)
}

/// `Executor::set_threads`: sets the target to `n` (at least 1).
pub(crate) fn set_threads(shared: &Arc<Shared>, n: usize) -> Result<usize, ScaleError> {
    let mut scaling = Scaling::lock(shared);
    retarget(shared, &mut scaling, n)
}

/// Moves the thread target to `target` (callers hold `Shared::scaling`).
fn retarget(
    shared: &Arc<Shared>,
    scaling: &mut Scaling<'_>,
    target: usize,
) -> Result<usize, ScaleError> {
    if shared.counts().closed {
        return Err(ScaleError::new(ScaleErrorKind::Closed));
    }
    if !shared.config.dynamic && target > crate::MAX_THREADS {
        return Err(ScaleError::new(ScaleErrorKind::TooManyThreads {
            requested: target,
        }));
    }
    let min = if shared.config.dynamic {
        shared.min_threads().min(target)
    } else {
        target
    };
    let previous = shared.set_range(min, target);
    scaling.events.push(Deferred::Retargeted {
        from: previous,
        to: target,
    });
    if target < previous {
        shared.nudge(shared.threads().saturating_sub(target));
        return Ok(target);
    }
    if shared.config.dynamic {
        grow_for_backlog(shared, scaling);
        return Ok(target);
    }
    if let Err(err) = grow_to(shared, scaling, target, StartReason::ScaleUp) {
        // Keep the target honest: it is what could be started.
        let live = shared.threads().max(1);
        shared.set_range(live, live);
        return Err(ScaleError::new(ScaleErrorKind::Spawn(err)));
    }
    Ok(target)
}
