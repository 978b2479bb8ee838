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
use crate::sync::thread;
use crate::sync::{lock, Arc};

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

/// Starts one worker thread in the place `reservation` holds; on failure
/// (or an unwind) the reservation is undone.
fn spawn_worker(
    shared: &Arc<Shared>,
    reservation: Reservation<'_>,
    reason: StartReason,
) -> io::Result<()> {
    let mut registry = lock(&shared.registry);
    registry.reap_finished();
    let (id, counters) = registry.next_worker();
    let mut builder = thread::Builder::new().name(format!("{}-{id}", shared.config.name));
    if let Some(size) = shared.config.stack_size {
        builder = builder.stack_size(size);
    }
    let thread_shared = Arc::clone(shared);
    let thread_counters = Arc::clone(&counters);
    let body = move || {
        let lost = catch_unwind(AssertUnwindSafe(|| {
            crate::worker::main(Arc::clone(&thread_shared), id, thread_counters)
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
            tracing::debug!(
                worker = id,
                reason = reason.as_str(),
                "worker thread started"
            );
            Ok(())
        }
        Err(err) => {
            drop(registry);
            drop(reservation);
            tracing::error!(reason = reason.as_str(), error = %err, "could not start a worker thread");
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
    let _scaling = lock(&shared.scaling);
    if shared.is_drained() {
        return;
    }
    tracing::warn!("starting a worker thread in place of one that was lost");
    let target = if shared.config.dynamic {
        shared.min_threads()
    } else {
        shared.max_threads()
    };
    if grow_to(shared, target, StartReason::Replacement).is_ok() && shared.config.dynamic {
        grow_for_backlog(shared);
    }
}

/// Starts threads until `target` are live (a pool's build, a fixed pool's
/// growth). Stops at the first spawn failure. Callers hold `scaling`, or
/// own the pool alone (`build`).
pub(crate) fn grow_to(shared: &Arc<Shared>, target: usize, reason: StartReason) -> io::Result<()> {
    while let Some(reservation) = shared.reserve_thread(target) {
        spawn_worker(shared, reservation, reason)?;
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
    let scaling = lock(&shared.scaling);
    let Some(Err(_)) = start_for_backlog(shared) else {
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
fn grow_for_backlog(shared: &Arc<Shared>) {
    while let Some(Ok(())) = start_for_backlog(shared) {}
}

/// Starts one thread if more jobs are queued than workers are idle and the
/// pool is below `max`; `None` if no thread is needed or allowed. The demand
/// is read fresh: a job counted earlier may have run already. Callers hold
/// `Shared::scaling`.
fn start_for_backlog(shared: &Arc<Shared>) -> Option<io::Result<()>> {
    if !shared.lacks_workers() {
        return None;
    }
    let reservation = shared.reserve_thread(shared.max_threads())?;
    Some(spawn_worker(
        shared,
        reservation,
        StartReason::DynamicGrowth,
    ))
}

/// `Executor::scale_up`: raises the target by `n`.
pub(crate) fn scale_up(shared: &Arc<Shared>, n: usize) -> Result<usize, ScaleError> {
    let _scaling = lock(&shared.scaling);
    let target = shared.max_threads().saturating_add(n);
    retarget(shared, target)
}

/// `Executor::scale_down`: lowers the target by `n`, never below 1 nor a
/// dynamic pool's `min`.
pub(crate) fn scale_down(shared: &Arc<Shared>, n: usize) -> usize {
    let _scaling = lock(&shared.scaling);
    let current = shared.max_threads();
    let floor = if shared.config.dynamic {
        shared.min_threads().max(1)
    } else {
        1
    };
    let target = current.saturating_sub(n).max(floor).min(current);
    // Lowering the target cannot fail: `retarget` only errs when growing.
    retarget(shared, target).unwrap_or(current)
}

/// `Executor::set_threads`: sets the target to `n` (at least 1).
pub(crate) fn set_threads(shared: &Arc<Shared>, n: usize) -> Result<usize, ScaleError> {
    let _scaling = lock(&shared.scaling);
    retarget(shared, n)
}

/// Moves the thread target to `target` (callers hold `Shared::scaling`).
fn retarget(shared: &Arc<Shared>, target: usize) -> Result<usize, ScaleError> {
    if shared.counts().closed {
        return Err(ScaleError::new(ScaleErrorKind::Closed));
    }
    let min = if shared.config.dynamic {
        shared.min_threads().min(target)
    } else {
        target
    };
    let previous = shared.set_range(min, target);
    tracing::debug!(from = previous, to = target, "thread target changed");
    if target < previous {
        shared.nudge(shared.threads().saturating_sub(target));
        return Ok(target);
    }
    if shared.config.dynamic {
        grow_for_backlog(shared);
        return Ok(target);
    }
    if let Err(err) = grow_to(shared, target, StartReason::ScaleUp) {
        // Keep the target honest: it is what could be started.
        let live = shared.threads().max(1);
        shared.set_range(live, live);
        return Err(ScaleError::new(ScaleErrorKind::Spawn(err)));
    }
    Ok(target)
}
