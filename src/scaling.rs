//! Threads coming and going: starting workers, retiring them, and the
//! `scale_up` / `scale_down` / `set_threads` operations.
//!
//! # Targets
//!
//! A pool has a thread range `min..=max` (both atomics in [`Shared`], changed
//! only under `Shared::scaling`). A *fixed* pool keeps `min == max` and starts
//! every thread up front; a *dynamic* pool starts `min`, grows toward `max`
//! when a job is queued and no worker is idle, and lets a thread above `min`
//! exit after `keep_alive` idle. Scale operations move `max` (and `min` with
//! it in a fixed pool, or clamp `min` down to `max` in a dynamic one).
//!
//! # Retiring promptly
//!
//! `Shared::live` counts the workers that count toward the target. A worker
//! retires by compare-and-swapping `live` down while `live > max`, so no more
//! than the excess ever retire, whoever races. It checks after every job it
//! runs, so a busy worker retires as soon as its current job ends, however
//! long the queue. Idle workers are parked; a scale-down pushes one nudge per
//! excess worker into the queue. The queue is empty whenever a worker is idle
//! (it would be busy otherwise), so the nudges reach parked workers at once
//! rather than after a backlog, unlike the seed's poison jobs. A nudge that a
//! busy worker picks up instead is harmless.
//!
//! # Growing without stranding a job
//!
//! A submitter of a dynamic pool starts a thread when, after queuing its job,
//! `queued > idle`. A worker leaves `idle` *before* it decrements `queued` for
//! the job it took, so the comparison can over-count demand (an extra thread,
//! later expired) but never under-count it. A worker whose keep-alive expires
//! re-checks `queued > idle` after it left `idle` and stays if a job arrived:
//! with SeqCst on both sides, either the submitter saw it gone from `idle`
//! (and started a thread) or it sees the submitter's job.
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

use crate::error::{ScaleError, ScaleErrorKind};
use crate::executor::Executor;
use crate::pool::{Shared, ONE_QUEUED, ONE_UNFINISHED};
use crate::queue::Msg;
use crate::slot::Outcome;
use crate::sync::thread::{self, JoinHandle};
use crate::sync::{lock, Arc, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};

/// Why a worker thread was started; reported through `tracing`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StartReason {
    Build,
    ScaleUp,
    DynamicGrowth,
}

impl StartReason {
    fn as_str(self) -> &'static str {
        match self {
            StartReason::Build => "build",
            StartReason::ScaleUp => "scale_up",
            StartReason::DynamicGrowth => "dynamic growth",
        }
    }
}

/// Why a worker thread stopped; reported through `tracing`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ExitReason {
    ScaleDown,
    KeepAlive,
    Shutdown,
}

impl ExitReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ExitReason::ScaleDown => "scale_down",
            ExitReason::KeepAlive => "keep-alive expiry",
            ExitReason::Shutdown => "shutdown",
        }
    }
}

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
            Outcome::Skipped => return,
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
    /// they have nothing left to do) by the next spawn or by `shutdown`.
    exited: Vec<JoinHandle<()>>,
    /// Counts of workers that are gone.
    retired_completed: u64,
    retired_panicked: u64,
    next_id: usize,
}

struct Entry {
    id: usize,
    counters: Arc<WorkerCounters>,
    /// `None` only between spawning the thread and storing its handle, both
    /// under the registry lock, so never observed.
    handle: Option<JoinHandle<()>>,
}

impl Registry {
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

    /// Takes every handle of an exited thread, for joining.
    pub(crate) fn take_exited(&mut self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut self.exited)
    }
}

/// Starts one worker thread. The caller has already reserved its slot in
/// `live`; on failure the reservation is undone here.
pub(crate) fn spawn_worker(shared: &Arc<Shared>, reason: StartReason) -> io::Result<()> {
    let mut registry = lock(&shared.registry);
    // Reap threads that have finished, so `exited` stays short however many
    // scale operations a long-lived pool sees.
    let (done, running): (Vec<_>, Vec<_>) = registry
        .take_exited()
        .into_iter()
        .partition(thread::is_finished);
    registry.exited = running;
    for handle in done {
        let _ = handle.join();
    }

    let id = registry.next_id;
    registry.next_id += 1;
    let counters = Arc::new(WorkerCounters::default());
    let mut builder = thread::Builder::new().name(format!("{}-{id}", shared.config.name));
    if let Some(size) = shared.config.stack_size {
        builder = builder.stack_size(size);
    }
    shared.alive.fetch_add(1, SeqCst);
    let thread_shared = Arc::clone(shared);
    let thread_counters = Arc::clone(&counters);
    match builder.spawn(move || crate::worker::main(thread_shared, id, thread_counters)) {
        Ok(handle) => {
            registry.workers.push(Entry {
                id,
                counters,
                handle: Some(handle),
            });
            tracing::debug!(
                worker = id,
                reason = reason.as_str(),
                "worker thread started"
            );
            Ok(())
        }
        Err(err) => {
            shared.alive.fetch_sub(1, SeqCst);
            shared.live.fetch_sub(1, SeqCst);
            shared.threads.notify_all();
            tracing::error!(reason = reason.as_str(), error = %err, "could not start a worker thread");
            Err(err)
        }
    }
}

/// Removes an exiting worker from the registry, keeping its counts.
pub(crate) fn deregister(shared: &Shared, id: usize) {
    let mut registry = lock(&shared.registry);
    if let Some(index) = registry.workers.iter().position(|entry| entry.id == id) {
        let entry = registry.workers.swap_remove(index);
        registry.retired_completed += entry.counters.completed.load(Relaxed);
        registry.retired_panicked += entry.counters.panicked.load(Relaxed);
        if let Some(handle) = entry.handle {
            registry.exited.push(handle);
        }
    }
}

/// Reserves a slot in `live` if fewer than `limit` workers are live.
fn reserve(shared: &Shared, limit: usize) -> bool {
    let mut live = shared.live.load(SeqCst);
    loop {
        if live >= limit {
            return false;
        }
        match shared
            .live
            .compare_exchange_weak(live, live + 1, SeqCst, SeqCst)
        {
            Ok(_) => return true,
            Err(current) => live = current,
        }
    }
}

/// Gives up this worker's slot in `live` if more than `target` are live.
pub(crate) fn try_retire(shared: &Shared, target: usize) -> bool {
    let mut live = shared.live.load(SeqCst);
    loop {
        if live <= target {
            return false;
        }
        match shared
            .live
            .compare_exchange_weak(live, live - 1, SeqCst, SeqCst)
        {
            Ok(_) => return true,
            Err(current) => live = current,
        }
    }
}

/// A worker's keep-alive expired: retire it if the pool is above `min` and
/// no queued job would be left without a worker (see the module docs).
pub(crate) fn try_retire_idle(shared: &Shared) -> bool {
    if !try_retire(shared, shared.min.load(SeqCst)) {
        return false;
    }
    if shared.counts().queued > shared.idle.load(SeqCst) as u64 {
        shared.live.fetch_add(1, SeqCst);
        return false;
    }
    true
}

/// Starts threads until `live` reaches `target` (a fixed pool's build and
/// growth). Stops at the first spawn failure.
pub(crate) fn grow_to(shared: &Arc<Shared>, target: usize, reason: StartReason) -> io::Result<()> {
    while reserve(shared, target) {
        spawn_worker(shared, reason)?;
    }
    Ok(())
}

/// A dynamic pool's submit path: start a thread if the job just queued (with
/// `queued` now waiting) may find no idle worker.
pub(crate) fn maybe_grow(shared: &Arc<Shared>, queued: u64) {
    if queued <= shared.idle.load(SeqCst) as u64
        || shared.live.load(SeqCst) >= shared.max.load(SeqCst)
    {
        return;
    }
    // Threads start only under `scaling`, so `shutdown` (which passes
    // through that lock after closing) never misses one. Growth is still
    // allowed after close: an accepted job must run even if the pool had
    // no thread left.
    let _scaling = lock(&shared.scaling);
    if let Some(Err(_)) = start_for_backlog(shared) {
        if shared.live.load(SeqCst) == 0 {
            // No worker exists and none could be started: whatever is queued
            // would wait forever. Settle it as cancelled rather than strand it.
            tracing::error!("no worker thread could be started; cancelling queued jobs");
            for msg in shared.queue.drain() {
                if let Msg::Job(task) = msg {
                    task.cancel();
                    shared.cancelled.fetch_add(1, SeqCst);
                    shared.release(ONE_QUEUED + ONE_UNFINISHED);
                }
            }
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
    let waiting = shared.counts().queued;
    if waiting <= shared.idle.load(SeqCst) as u64 || !reserve(shared, shared.max.load(SeqCst)) {
        return None;
    }
    Some(spawn_worker(shared, StartReason::DynamicGrowth))
}

impl Executor {
    /// Adds `n` threads to the pool and returns the new thread target.
    ///
    /// In a fixed pool the `n` threads are started before this returns. In a
    /// dynamic pool (built with [`min_threads`](crate::Builder::min_threads)
    /// below [`max_threads`](crate::Builder::max_threads)) it raises
    /// `max_threads` by `n`; threads then start on demand (at once if jobs
    /// are waiting with no idle worker). The seed's `scale_up(n)` took the
    /// new total; this takes the increment, as the seed's README reads:
    /// use [`set_threads`](Executor::set_threads) for a total.
    ///
    /// # Errors
    ///
    /// - [`ScaleError::is_closed`] if the executor is shut down.
    /// - If the operating system refuses to start a thread, the threads
    ///   started so far stay, the target is lowered to the threads that
    ///   exist, and the I/O error is the error's
    ///   [`source`](std::error::Error::source).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(2);
    /// assert_eq!(pool.scale_up(3)?, 5);
    /// assert_eq!(pool.stats().threads, 5);
    /// # Ok::<(), thread_exec::ScaleError>(())
    /// ```
    pub fn scale_up(&self, n: usize) -> Result<usize, ScaleError> {
        let _scaling = lock(&self.shared.scaling);
        let target = self.shared.max.load(SeqCst).saturating_add(n);
        retarget(&self.shared, target)
    }

    /// Retires `n` threads and returns the new thread target.
    ///
    /// The target never drops below 1, nor below `min_threads` in a dynamic
    /// pool: a larger `n` is clamped, and the return value shows the clamp.
    /// Idle threads exit promptly, whatever the queue's length; busy threads
    /// finish their current job first, then exit without waiting for the
    /// queue to drain. No job is interrupted or lost: the remaining threads
    /// run the queue. On a shut-down executor it changes nothing and returns
    /// the current target.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(4);
    /// assert_eq!(pool.scale_down(1), 3);
    /// assert_eq!(pool.scale_down(10), 1); // clamped
    /// ```
    pub fn scale_down(&self, n: usize) -> usize {
        let _scaling = lock(&self.shared.scaling);
        let current = self.shared.max.load(SeqCst);
        let floor = if self.shared.config.dynamic {
            self.shared.min.load(SeqCst).max(1)
        } else {
            1
        };
        let target = current.saturating_sub(n).max(floor).min(current);
        // Lowering the target cannot fail: `retarget` only errs when growing.
        retarget(&self.shared, target).unwrap_or(current)
    }

    /// Sets the thread target to `n` and returns it: starts threads (fixed
    /// pool) or raises `max_threads` (dynamic pool) when `n` is above it,
    /// retires threads as [`scale_down`](Executor::scale_down) does when
    /// below. In a dynamic pool, `min_threads` is lowered to `n` if it was
    /// above.
    ///
    /// # Errors
    ///
    /// As [`scale_up`](Executor::scale_up): closed, or a thread could not
    /// be started.
    ///
    /// # Panics
    ///
    /// Panics if `n` is 0: a pool needs at least one thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(2);
    /// assert_eq!(pool.set_threads(6)?, 6);
    /// assert_eq!(pool.set_threads(1)?, 1);
    /// # Ok::<(), thread_exec::ScaleError>(())
    /// ```
    pub fn set_threads(&self, n: usize) -> Result<usize, ScaleError> {
        assert!(
            n > 0,
            "Executor::set_threads(0): a pool needs at least one thread"
        );
        let _scaling = lock(&self.shared.scaling);
        retarget(&self.shared, n)
    }
}

/// Moves the thread target to `target` (callers hold `Shared::scaling`).
fn retarget(shared: &Arc<Shared>, target: usize) -> Result<usize, ScaleError> {
    if shared.counts().closed {
        return Err(ScaleError::new(ScaleErrorKind::Closed));
    }
    let previous = shared.max.swap(target, SeqCst);
    if !shared.config.dynamic || shared.min.load(SeqCst) > target {
        shared.min.store(target, SeqCst);
    }
    tracing::debug!(from = previous, to = target, "thread target changed");
    if target < previous {
        shared.nudge(shared.live.load(SeqCst).saturating_sub(target));
        return Ok(target);
    }
    if shared.config.dynamic {
        grow_for_backlog(shared);
        return Ok(target);
    }
    if let Err(err) = grow_to(shared, target, StartReason::ScaleUp) {
        // Keep the target honest: it is what could be started.
        let live = shared.live.load(SeqCst).max(1);
        shared.max.store(live, SeqCst);
        shared.min.store(live, SeqCst);
        return Err(ScaleError::new(ScaleErrorKind::Spawn(err)));
    }
    Ok(target)
}
