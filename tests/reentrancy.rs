//! Reentrancy: every public operation of the pool, called from every place
//! where user code runs, each case under a watchdog.
//!
//! Places: a job; a `Job::callback`; an `on_complete` callback registered
//! before completion (runs on the worker) and after (runs at once on the
//! caller); a job closure's destructor (a job that runs, one cancelled by its
//! handle, one refused after shutdown); a job result's destructor (dropped on
//! the worker because the handle was dropped, and by the handle's thread);
//! the `on_thread_start`, `on_thread_stop` (scale-down and shutdown) and
//! `on_panic` hooks; a runtime waker's `wake()` on a `JobHandle` (woken by
//! completion on the worker, and by `cancel` on the caller), on
//! `spawn_async` waiting for room, on `wait_async`, on `shutdown_async`
//! (woken by the last job on a worker, and by an exiting thread); a job run
//! through `PendingJob::run`.
//!
//! What each case expects: the operation returns, with the value its docs
//! promise. The exceptions are `wait`, `shutdown` and `shutdown_timeout` on
//! one of the pool's own threads (its jobs and everything that runs on its
//! workers on their behalf): they must panic with the message of their
//! `# Panics` sections. `wait_async`/`shutdown_async` polled there may panic
//! with the same message (see `documented_panics` for why that is a finding).
//! After each case the pool must be healthy: `wait()` and `shutdown()`
//! return, `stats().threads` is the target, every accepted job ran exactly
//! once or was cancelled or handed back, every closure was dropped exactly
//! once, every callback ran exactly once, and `completed + panicked +
//! cancelled + handed back == accepted`.
//!
//! Beyond the matrix: joining (and cancelling) a job queued behind the
//! caller on a one-thread pool, from nine places (`queued_behind`); the
//! documented panics and two undocumented ones (`documented_panics`); wakers
//! that panic (`panicking_wakers`); extreme arguments (`extreme`, the
//! thread-count ones in a child process under an address-space cap); and a
//! `tracing` layer that calls back into the pool (`tracing_layer`).
//!
//! The library bugs these tests found (a job's blocking spawn on its full
//! queue, `shutdown` from an exiting worker, unbounded thread counts,
//! tracing events under the crate's locks) are fixed; each test that found
//! one now guards it.

mod common;

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use common::{eventually, within, Gate, LIMIT};
use thread_exec::{Executor, Job, JobError, JobHandle, Priority};

/// The pools' thread name prefix: panics on these threads are expected and
/// silenced (every one is caught and reported to the test thread).
const POOL_NAME: &str = "reent";

/// The message `wait`/`shutdown`/`shutdown_timeout` promise on the pool's
/// own threads.
const OWN_JOB: &str = "called from one of its own jobs";

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<non-string payload>".to_owned())
}

/// Silences the panics this binary provokes on purpose; every other panic
/// (a failing assertion on a test thread) prints as usual.
fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_pool = thread::current()
                .name()
                .is_some_and(|name| name.starts_with(POOL_NAME));
            let expected = info
                .payload_as_str()
                .is_some_and(|text| text.starts_with("expected:"));
            if !on_pool && !expected {
                default(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Spawn,
    SendCallback,
    SendLow,
    Scope,
    TrySpawn,
    SpawnAsync,
    Run,
    Wait,
    WaitAsync,
    ShutdownAsync,
    ScaleUp(usize),
    ScaleDown(usize),
    SetThreads(usize),
    Stats,
    CancelOther,
    OnCompleteOther,
    JoinOther,
    Shutdown,
    ShutdownNow,
    ShutdownTimeout(Duration),
    DropLast,
}

impl Op {
    /// The method named in the panic message, for the documented panics.
    fn method(self) -> &'static str {
        match self {
            Op::Wait => "wait",
            Op::Shutdown => "shutdown",
            Op::ShutdownTimeout(_) => "shutdown_timeout",
            Op::WaitAsync => "wait_async",
            Op::ShutdownAsync => "shutdown_async",
            _ => "?",
        }
    }
}

/// What an operation returned, for the test thread to check.
#[derive(Debug)]
enum Value {
    Unit,
    Submitted,
    Refused,
    Full,
    Ran(Result<(), String>),
    Scale(Result<usize, bool>),
    Target(usize),
    Polled(bool),
    Bool(bool),
    Joined(Result<(), String>),
    HandedBack(usize),
    /// A scope's sum of borrowed data, and whether its joined panic was
    /// its joiner's error.
    Scoped(usize, bool),
}

fn kind(err: &JobError) -> String {
    if err.is_closed() {
        "closed".to_owned()
    } else if err.is_cancelled() {
        "cancelled".to_owned()
    } else {
        format!("panic: {err}")
    }
}

#[derive(Debug)]
struct Report {
    thread: Option<String>,
    closed_before: bool,
    outcome: Result<Value, String>,
}

/// Everything an operation needs, moved into the place that performs it.
struct Ctx {
    place: Place,
    op: Op,
    pool: Option<Executor>,
    env: Arc<Env>,
    other: Option<(usize, JobHandle<()>)>,
}

impl Ctx {
    fn new(place: Place, op: Op, pool: &Executor, env: &Arc<Env>) -> Ctx {
        let other = env.other(pool);
        Ctx {
            place,
            op,
            pool: Some(pool.clone()),
            env: Arc::clone(env),
            other: Some(other),
        }
    }

    /// Performs the operation, catching a panic, and reports to the test.
    fn perform(mut self) {
        let env = Arc::clone(&self.env);
        // Whatever the case parked on `release` may go on now, so that a
        // blocking operation has workers to wait for.
        env.release.open();
        // `other` is consumed only by the operations on it; every other
        // case settles it with the rest, even if the operation panics.
        if !matches!(
            self.op,
            Op::CancelOther | Op::OnCompleteOther | Op::JoinOther
        ) {
            if let Some((id, handle)) = self.other.take() {
                env.keep(handle, Some(id), Expect::Accepted);
            }
        }
        let closed_before = self.pool.as_ref().is_some_and(Executor::is_shutdown);
        let thread = thread::current().name().map(str::to_owned);
        let outcome = catch_unwind(AssertUnwindSafe(move || self.run(closed_before)))
            .map_err(|payload| panic_text(&*payload));
        let report = Report {
            thread,
            closed_before,
            outcome,
        };
        let _ = env.reports.lock().unwrap().send(report);
    }

    fn run(mut self, closed: bool) -> Value {
        let env = Arc::clone(&self.env);
        let pool = self.pool.take().expect("the context holds a pool");
        let submitted = if closed {
            Expect::Refused
        } else {
            Expect::Accepted
        };
        match self.op {
            Op::Spawn => {
                let (id, job) = env.probe();
                env.keep(pool.spawn(job), Some(id), submitted);
                Value::Submitted
            }
            Op::SendCallback => {
                let (id, job) = env.probe();
                let handle = pool.send(Job::new(job).callback(env.callback()));
                env.keep(handle, Some(id), submitted);
                Value::Submitted
            }
            Op::SendLow => {
                let (id, job) = env.probe();
                let job = Job::new(job).priority(Priority::Low);
                let handle = pool.send(job.callback(env.callback()));
                env.keep(handle, Some(id), submitted);
                Value::Submitted
            }
            Op::Scope => {
                let data = [1_usize, 2, 3, 4];
                let sum = AtomicUsize::new(0);
                let joined_panic = pool.scope(|s| {
                    for x in &data {
                        let sum = &sum;
                        s.spawn(move || sum.fetch_add(*x, SeqCst));
                    }
                    s.spawn(|| panic!("expected: a scoped job panics"))
                        .join()
                        .is_err_and(|err| err.is_panic())
                });
                // Five jobs of the pool's (each ran, or was withdrawn when
                // the caller ran it first), unless the pool refused them.
                if !closed {
                    env.accepted_extra.fetch_add(5, SeqCst);
                }
                Value::Scoped(sum.load(SeqCst), joined_panic)
            }
            Op::TrySpawn => {
                let (id, job) = env.probe();
                match pool.try_spawn(job) {
                    Ok(handle) => {
                        env.keep(handle, Some(id), Expect::Accepted);
                        Value::Submitted
                    }
                    Err(err) => {
                        env.expect_probe(id, false);
                        let full = err.is_full();
                        drop(err.into_inner());
                        if full {
                            Value::Full
                        } else {
                            Value::Refused
                        }
                    }
                }
            }
            Op::SpawnAsync => {
                let (id, job) = env.probe();
                match futures::executor::block_on(pool.spawn_async(job)) {
                    Ok(handle) => {
                        env.keep(handle, Some(id), Expect::Accepted);
                        Value::Submitted
                    }
                    Err(err) => {
                        env.expect_probe(id, false);
                        drop(err.into_inner());
                        Value::Refused
                    }
                }
            }
            Op::Run => {
                let (id, job) = env.probe();
                let result = futures::executor::block_on(pool.run(job));
                env.expect_probe(id, result.is_ok());
                if result.is_ok() {
                    env.accepted_extra.fetch_add(1, SeqCst);
                }
                Value::Ran(result.map_err(|err| kind(&err)))
            }
            Op::Wait => {
                pool.wait();
                Value::Unit
            }
            Op::WaitAsync => poll_or_block(self.place, pool.wait_async()),
            Op::ShutdownAsync => poll_or_block(self.place, pool.shutdown_async()),
            Op::ScaleUp(n) => Value::Scale(pool.scale_up(n).map_err(|err| err.is_closed())),
            Op::ScaleDown(n) => Value::Target(pool.scale_down(n)),
            Op::SetThreads(n) => Value::Scale(pool.set_threads(n).map_err(|err| err.is_closed())),
            Op::Stats => {
                let stats = pool.stats();
                let _ = (stats.threads, stats.queued, stats.completed);
                Value::Unit
            }
            Op::CancelOther => {
                let (id, handle) = self.other.take().expect("another handle");
                let cancelled = handle.cancel();
                let expect = if cancelled {
                    Expect::Cancelled
                } else {
                    Expect::Accepted
                };
                env.keep(handle, Some(id), expect);
                Value::Bool(cancelled)
            }
            Op::OnCompleteOther => {
                let (id, handle) = self.other.take().expect("another handle");
                let handle = handle.on_complete(env.callback());
                env.keep(handle, Some(id), Expect::Accepted);
                Value::Unit
            }
            Op::JoinOther => {
                let (id, handle) = self.other.take().expect("another handle");
                let result = handle.join();
                env.accepted_extra.fetch_add(1, SeqCst);
                env.expect_probe(id, result.is_ok());
                Value::Joined(result.map_err(|err| kind(&err)))
            }
            Op::Shutdown => {
                pool.shutdown();
                Value::Unit
            }
            Op::ShutdownNow => {
                let pending = pool.shutdown_now();
                let n = pending.len();
                env.handed_back.fetch_add(n, SeqCst);
                // Run half of them here, settle the rest as cancelled.
                for (i, job) in pending.into_iter().enumerate() {
                    if i % 2 == 0 {
                        job.run();
                    } else {
                        drop(job);
                    }
                }
                Value::HandedBack(n)
            }
            Op::ShutdownTimeout(timeout) => Value::Bool(pool.shutdown_timeout(timeout)),
            Op::DropLast => {
                env.main_released.wait();
                drop(pool);
                Value::Unit
            }
        }
    }
}

/// Polls `future` once; off the pool's threads, blocks on it if pending.
fn poll_or_block<F: Future<Output = ()>>(place: Place, future: F) -> Value {
    let mut future = std::pin::pin!(future);
    let waker = futures::task::noop_waker();
    if future
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_ready()
    {
        return Value::Polled(true);
    }
    if place.on_worker() {
        return Value::Polled(false);
    }
    futures::executor::block_on(future);
    Value::Polled(true)
}

// ---------------------------------------------------------------------------
// The case's environment: counters, kept handles, gates, armed hooks
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Accepted: it ran (or, after a `shutdown_now` that dropped it, was
    /// cancelled).
    Accepted,
    Refused,
    Cancelled,
    Panicked,
}

struct Kept {
    handle: JobHandle<()>,
    probe: Option<usize>,
    expect: Expect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hook {
    Start,
    Stop,
    Panic,
}

struct Env {
    starts: AtomicUsize,
    stops: AtomicUsize,
    /// Per probe: how often its closure ran, and was dropped.
    runs: Mutex<Vec<u8>>,
    drops: Mutex<Vec<u8>>,
    /// Probes whose outcome an operation saw (`Run`, `JoinOther`, ...).
    expected_runs: Mutex<Vec<(usize, bool)>>,
    callbacks_made: AtomicUsize,
    callbacks_ran: AtomicUsize,
    kept: Mutex<Vec<Kept>>,
    /// Accepted jobs whose handle is not kept.
    accepted_extra: AtomicUsize,
    handed_back: AtomicUsize,
    /// Opened by `perform`: blockers that must end before a blocking op can.
    release: Arc<Gate>,
    /// Opened by the test thread to trigger the place.
    start: Arc<Gate>,
    /// Opened once the test thread dropped its `Executor` (`DropLast`).
    main_released: Arc<Gate>,
    /// `on_thread_stop` waits on `start` first.
    block_stop: bool,
    armed: Mutex<Option<(Hook, Ctx)>>,
    reports: Mutex<mpsc::Sender<Report>>,
}

struct ProbeGuard {
    env: Arc<Env>,
    id: usize,
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        self.env.drops.lock().unwrap()[self.id] += 1;
    }
}

/// A value whose destructor performs the case's operation.
struct OnDrop(Option<Ctx>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some(ctx) = self.0.take() {
            ctx.perform();
        }
    }
}

impl Env {
    fn new(place: Place) -> (Arc<Env>, mpsc::Receiver<Report>) {
        let (tx, rx) = mpsc::channel();
        let env = Arc::new(Env {
            starts: AtomicUsize::new(0),
            stops: AtomicUsize::new(0),
            runs: Mutex::new(Vec::new()),
            drops: Mutex::new(Vec::new()),
            expected_runs: Mutex::new(Vec::new()),
            callbacks_made: AtomicUsize::new(0),
            callbacks_ran: AtomicUsize::new(0),
            kept: Mutex::new(Vec::new()),
            accepted_extra: AtomicUsize::new(0),
            handed_back: AtomicUsize::new(0),
            release: Gate::new(),
            start: Gate::new(),
            main_released: Gate::new(),
            block_stop: place == Place::WakerShutdownAsyncExit,
            armed: Mutex::new(None),
            reports: Mutex::new(tx),
        });
        (env, rx)
    }

    fn build(self: &Arc<Self>, place: Place) -> Executor {
        let (on_start, on_stop, on_panic) = (Arc::clone(self), Arc::clone(self), Arc::clone(self));
        let mut builder = Executor::builder()
            .threads(place.threads())
            .thread_name(POOL_NAME)
            .on_thread_start(move || {
                on_start.starts.fetch_add(1, SeqCst);
                on_start.fire(Hook::Start);
            })
            .on_thread_stop(move || {
                on_stop.stops.fetch_add(1, SeqCst);
                if on_stop.block_stop {
                    on_stop.start.wait();
                }
                on_stop.fire(Hook::Stop);
            })
            .on_panic(move |_| on_panic.fire(Hook::Panic));
        if place == Place::WakerSpawnAsync {
            builder = builder.max_queue_size(1);
        }
        builder.build().expect("build the pool")
    }

    fn arm(&self, hook: Hook, ctx: Ctx) {
        *self.armed.lock().unwrap() = Some((hook, ctx));
    }

    fn fire(&self, hook: Hook) {
        let ctx = {
            let mut armed = self.armed.lock().unwrap();
            if armed.as_ref().is_some_and(|(armed, _)| *armed == hook) {
                armed.take().map(|(_, ctx)| ctx)
            } else {
                None
            }
        };
        if let Some(ctx) = ctx {
            ctx.perform();
        }
    }

    /// A job that counts its runs and its closure's drops.
    fn probe(self: &Arc<Self>) -> (usize, impl FnOnce() + Send + 'static) {
        let id = {
            let mut runs = self.runs.lock().unwrap();
            runs.push(0);
            self.drops.lock().unwrap().push(0);
            runs.len() - 1
        };
        let guard = ProbeGuard {
            env: Arc::clone(self),
            id,
        };
        (id, move || {
            guard.env.runs.lock().unwrap()[guard.id] += 1;
        })
    }

    /// A completion callback that counts its runs.
    fn callback<T>(self: &Arc<Self>) -> impl FnOnce(&Result<T, JobError>) + Send + 'static {
        self.callbacks_made.fetch_add(1, SeqCst);
        let env = Arc::clone(self);
        move |_| {
            env.callbacks_ran.fetch_add(1, SeqCst);
        }
    }

    /// The "other" handle a case may cancel, join or attach to: a probe.
    fn other(self: &Arc<Self>, pool: &Executor) -> (usize, JobHandle<()>) {
        let (id, job) = self.probe();
        (id, pool.spawn(job))
    }

    fn keep(&self, handle: JobHandle<()>, probe: Option<usize>, expect: Expect) {
        self.kept.lock().unwrap().push(Kept {
            handle,
            probe,
            expect,
        });
    }

    fn expect_probe(&self, id: usize, ran: bool) {
        self.expected_runs.lock().unwrap().push((id, ran));
    }

    /// Joins every kept handle and checks it against its expectation;
    /// returns how many of those jobs the pool accepted (plus the ones
    /// counted without a handle).
    fn settle(&self, shutdown_now: bool) -> u64 {
        let kept = std::mem::take(&mut *self.kept.lock().unwrap());
        let mut accepted = self.accepted_extra.load(SeqCst) as u64;
        for Kept {
            handle,
            probe,
            expect,
        } in kept
        {
            let result = handle.join();
            match (&result, expect) {
                (Ok(()), Expect::Accepted) => {}
                (Err(err), Expect::Accepted) if err.is_cancelled() && shutdown_now => {}
                (Err(err), Expect::Refused) if err.is_closed() => {}
                (Err(err), Expect::Cancelled) if err.is_cancelled() => {}
                (Err(err), Expect::Panicked) if err.is_panic() => {}
                (result, expect) => panic!("a job expected {expect:?} ended {result:?}"),
            }
            if !matches!(&result, Err(err) if err.is_closed()) {
                accepted += 1;
            }
            if let Some(id) = probe {
                self.expect_probe(id, result.is_ok());
            }
        }
        accepted
    }

    /// Every probe's closure was dropped exactly once and ran as its handle
    /// says; every callback ran exactly once.
    fn check_conservation(&self) {
        let runs = self.runs.lock().unwrap().clone();
        let drops = self.drops.lock().unwrap().clone();
        for (id, &dropped) in drops.iter().enumerate() {
            assert_eq!(dropped, 1, "probe {id}'s closure dropped {dropped} times");
            assert!(runs[id] <= 1, "probe {id} ran {} times", runs[id]);
        }
        for &(id, ran) in self.expected_runs.lock().unwrap().iter() {
            assert_eq!(
                runs[id],
                u8::from(ran),
                "probe {id}: ran {} times",
                runs[id]
            );
        }
        assert_eq!(
            self.callbacks_ran.load(SeqCst),
            self.callbacks_made.load(SeqCst),
            "callbacks run vs made"
        );
    }
}

// ---------------------------------------------------------------------------
// Wakers
// ---------------------------------------------------------------------------

/// A runtime waker whose first `wake()` performs the case's operation, and
/// that counts its wake-ups for the test thread's poll loop.
struct CtxWaker {
    ctx: Mutex<Option<Ctx>>,
    wakes: Mutex<usize>,
    woken: Condvar,
}

impl CtxWaker {
    fn new(ctx: Option<Ctx>) -> Arc<CtxWaker> {
        Arc::new(CtxWaker {
            ctx: Mutex::new(ctx),
            wakes: Mutex::new(0),
            woken: Condvar::new(),
        })
    }

    fn wakes(&self) -> usize {
        *self.wakes.lock().unwrap()
    }

    fn wait_for_wake(&self, seen: usize) {
        let guard = self.wakes.lock().unwrap();
        let (_guard, result) = self
            .woken
            .wait_timeout_while(guard, LIMIT, |wakes| *wakes <= seen)
            .unwrap();
        assert!(!result.timed_out(), "never woken");
    }
}

impl Wake for CtxWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let ctx = self.ctx.lock().unwrap().take();
        if let Some(ctx) = ctx {
            ctx.perform();
        }
        *self.wakes.lock().unwrap() += 1;
        self.woken.notify_all();
    }
}

fn poll_once<F: Future + Unpin>(future: &mut F, waker: &Arc<CtxWaker>) -> Poll<F::Output> {
    let waker = Waker::from(Arc::clone(waker));
    Pin::new(future).poll(&mut Context::from_waker(&waker))
}

/// Polls `future` to completion, re-polling after each wake-up (bounded).
fn drive<F: Future + Unpin>(future: &mut F, waker: &Arc<CtxWaker>) -> F::Output {
    loop {
        let seen = waker.wakes();
        if let Poll::Ready(output) = poll_once(future, waker) {
            return output;
        }
        waker.wait_for_wake(seen);
    }
}

/// Occupies `n` workers with jobs that wait on `gate`; returns once all run.
fn occupy_until(pool: &Executor, n: usize, gate: &Arc<Gate>) -> Vec<JobHandle<()>> {
    let (started_tx, started) = mpsc::channel();
    let handles = (0..n)
        .map(|_| {
            let gate = Arc::clone(gate);
            let started_tx = started_tx.clone();
            pool.spawn(move || {
                started_tx.send(()).unwrap();
                gate.wait();
            })
        })
        .collect();
    for _ in 0..n {
        started.recv_timeout(LIMIT).expect("blockers started");
    }
    handles
}

// ---------------------------------------------------------------------------
// Places
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Job,
    JobCallback,
    OnCompleteBefore,
    OnCompleteAfter,
    ClosureDropRan,
    ClosureDropCancelled,
    ClosureDropRefused,
    ResultDropOnWorker,
    ResultDropByHandle,
    OnThreadStart,
    OnThreadStopScaleDown,
    OnThreadStopShutdown,
    OnPanic,
    WakerJobHandleDone,
    WakerJobHandleCancel,
    WakerSpawnAsync,
    WakerWaitAsync,
    WakerShutdownAsyncDrain,
    WakerShutdownAsyncExit,
    PendingJobRun,
}

impl Place {
    /// Runs on one of the pool's workers, on behalf of its work: where
    /// `wait` and `shutdown` would wait for the calling thread itself.
    fn on_worker(self) -> bool {
        !matches!(
            self,
            Place::OnCompleteAfter
                | Place::ClosureDropCancelled
                | Place::ClosureDropRefused
                | Place::ResultDropByHandle
                | Place::WakerJobHandleCancel
                | Place::WakerShutdownAsyncExit
                | Place::PendingJobRun
        )
    }

    /// The pool is closed before the operation runs.
    fn closed(self) -> bool {
        matches!(
            self,
            Place::ClosureDropRefused
                | Place::OnThreadStopShutdown
                | Place::WakerShutdownAsyncDrain
                | Place::WakerShutdownAsyncExit
                | Place::PendingJobRun
        )
    }

    fn threads(self) -> usize {
        if self == Place::WakerShutdownAsyncExit {
            1
        } else {
            2
        }
    }

    /// The thread target when the operation runs.
    fn base_threads(self) -> usize {
        match self {
            Place::OnThreadStart => 3,
            Place::OnThreadStopScaleDown => 1,
            _ => self.threads(),
        }
    }
}

fn run_case(place: Place, op: Op) {
    quiet_expected_panics();
    let what = format!("{place:?} / {op:?}");
    within(LIMIT, &what, move || case(place, op));
}

fn case(place: Place, op: Op) {
    let (env, reports) = Env::new(place);
    let pool = env.build(place);
    // The build's threads run their start hooks on their own time: let them
    // finish before arming one, so the hook fires on the thread the case
    // starts.
    eventually(LIMIT, "the build's start hooks", || {
        env.starts.load(SeqCst) == place.threads()
    });
    let mut main = Some(pool);
    macro_rules! pool {
        () => {
            main.as_ref().expect("the test thread's pool")
        };
    }
    // `DropLast`: the test thread lets go of its clone once the place holds
    // the last one.
    let let_go = |main: &mut Option<Executor>| {
        if op == Op::DropLast {
            drop(main.take());
            env.main_released.open();
        }
    };
    let recv = || {
        reports
            .recv_timeout(LIMIT)
            .unwrap_or_else(|_| panic!("{place:?}: the operation never ran"))
    };
    let report = match place {
        Place::Job => {
            let ctx = Ctx::new(place, op, pool!(), &env);
            let handle = pool!().spawn(move || ctx.perform());
            env.keep(handle, None, Expect::Accepted);
            let_go(&mut main);
            recv()
        }
        Place::JobCallback => {
            let ctx = Ctx::new(place, op, pool!(), &env);
            let handle = pool!().send(Job::new(|| ()).callback(move |_| ctx.perform()));
            env.keep(handle, None, Expect::Accepted);
            let_go(&mut main);
            recv()
        }
        Place::OnCompleteBefore => {
            let ctx = Ctx::new(place, op, pool!(), &env);
            let gate = Arc::clone(&env.start);
            let handle = pool!()
                .spawn(move || gate.wait())
                .on_complete(move |_| ctx.perform());
            env.keep(handle, None, Expect::Accepted);
            let_go(&mut main);
            env.start.open();
            recv()
        }
        Place::OnCompleteAfter => {
            let ctx = Ctx::new(place, op, pool!(), &env);
            let handle = pool!().spawn(|| ());
            eventually(LIMIT, "the job finished", || handle.is_finished());
            let_go(&mut main);
            let handle = handle.on_complete(move |_| ctx.perform());
            env.keep(handle, None, Expect::Accepted);
            recv()
        }
        Place::ClosureDropRan => {
            let guard = OnDrop(Some(Ctx::new(place, op, pool!(), &env)));
            let handle = pool!().spawn(move || {
                std::hint::black_box(&guard);
            });
            env.keep(handle, None, Expect::Accepted);
            let_go(&mut main);
            recv()
        }
        Place::ClosureDropCancelled => {
            for blocker in occupy_until(pool!(), 2, &env.release) {
                env.keep(blocker, None, Expect::Accepted);
            }
            // `other` is queued behind the blockers.
            let ctx = Ctx::new(place, op, pool!(), &env);
            let guard = OnDrop(Some(ctx));
            let handle = pool!().spawn(move || {
                std::hint::black_box(&guard);
            });
            let_go(&mut main);
            assert!(handle.cancel(), "queued behind the blockers");
            env.keep(handle, None, Expect::Cancelled);
            recv()
        }
        Place::ClosureDropRefused => {
            let ctx = Ctx::new(place, op, pool!(), &env);
            pool!().shutdown();
            let guard = OnDrop(Some(ctx));
            let handle = pool!().spawn(move || {
                std::hint::black_box(&guard);
            });
            env.keep(handle, None, Expect::Refused);
            recv()
        }
        Place::ResultDropOnWorker => {
            let ctx = Ctx::new(place, op, pool!(), &env);
            let gate = Arc::clone(&env.start);
            let handle = pool!().spawn(move || {
                gate.wait();
                OnDrop(Some(ctx))
            });
            drop(handle);
            env.accepted_extra.fetch_add(1, SeqCst);
            let_go(&mut main);
            env.start.open();
            recv()
        }
        Place::ResultDropByHandle => {
            let ctx = Ctx::new(place, op, pool!(), &env);
            let handle = pool!().spawn(move || OnDrop(Some(ctx)));
            // Once every job settled, the worker has let go of the slot: the
            // handle's drop is the last and drops the result here.
            pool!().wait();
            env.accepted_extra.fetch_add(1, SeqCst);
            let_go(&mut main);
            drop(handle);
            recv()
        }
        Place::OnThreadStart => {
            env.arm(Hook::Start, Ctx::new(place, op, pool!(), &env));
            assert_eq!(pool!().scale_up(1).unwrap(), 3);
            let_go(&mut main);
            recv()
        }
        Place::OnThreadStopScaleDown => {
            env.arm(Hook::Stop, Ctx::new(place, op, pool!(), &env));
            assert_eq!(pool!().scale_down(1), 1);
            let_go(&mut main);
            recv()
        }
        Place::OnThreadStopShutdown => {
            env.arm(Hook::Stop, Ctx::new(place, op, pool!(), &env));
            pool!().shutdown();
            recv()
        }
        Place::OnPanic => {
            env.arm(Hook::Panic, Ctx::new(place, op, pool!(), &env));
            let handle = pool!().spawn(|| panic!("expected: a job's panic"));
            env.keep(handle, None, Expect::Panicked);
            let_go(&mut main);
            recv()
        }
        Place::WakerJobHandleDone => {
            let waker = CtxWaker::new(Some(Ctx::new(place, op, pool!(), &env)));
            let gate = Arc::clone(&env.start);
            let mut handle = pool!().spawn(move || gate.wait());
            assert!(poll_once(&mut handle, &waker).is_pending());
            let_go(&mut main);
            env.start.open();
            let report = recv();
            assert!(drive(&mut handle, &waker).is_ok());
            env.accepted_extra.fetch_add(1, SeqCst);
            report
        }
        Place::WakerJobHandleCancel => {
            for blocker in occupy_until(pool!(), 2, &env.release) {
                env.keep(blocker, None, Expect::Accepted);
            }
            let waker = CtxWaker::new(Some(Ctx::new(place, op, pool!(), &env)));
            let (id, job) = env.probe();
            let mut handle = pool!().spawn(job);
            assert!(poll_once(&mut handle, &waker).is_pending());
            let_go(&mut main);
            assert!(handle.cancel(), "queued behind the blockers");
            let report = recv();
            assert!(drive(&mut handle, &waker).unwrap_err().is_cancelled());
            env.expect_probe(id, false);
            env.accepted_extra.fetch_add(1, SeqCst);
            report
        }
        Place::WakerSpawnAsync => {
            let ctx = Ctx::new(place, op, pool!(), &env);
            pool!().wait(); // `other` is done: the queue is ours to fill
            for blocker in occupy_until(pool!(), 2, &env.start) {
                env.keep(blocker, None, Expect::Accepted);
            }
            let (id, filler) = env.probe();
            let filler = pool!().try_spawn(filler).expect("room for one job");
            env.keep(filler, Some(id), Expect::Accepted);
            let waker = CtxWaker::new(Some(ctx));
            let (id, job) = env.probe();
            let mut queuing = pool!().spawn_async(job);
            assert!(poll_once(&mut queuing, &waker).is_pending(), "queue full");
            env.start.open();
            let report = recv();
            match drive(&mut queuing, &waker) {
                Ok(handle) => env.keep(handle, Some(id), Expect::Accepted),
                Err(err) => {
                    env.expect_probe(id, false);
                    drop(err.into_inner());
                }
            }
            report
        }
        Place::WakerWaitAsync => {
            let waker = CtxWaker::new(Some(Ctx::new(place, op, pool!(), &env)));
            let gate = Arc::clone(&env.start);
            env.keep(pool!().spawn(move || gate.wait()), None, Expect::Accepted);
            let mut waiting = pool!().wait_async();
            assert!(poll_once(&mut waiting, &waker).is_pending());
            let_go(&mut main);
            env.start.open();
            let report = recv();
            drive(&mut waiting, &waker);
            report
        }
        Place::WakerShutdownAsyncDrain => {
            let waker = CtxWaker::new(Some(Ctx::new(place, op, pool!(), &env)));
            let gate = Arc::clone(&env.start);
            env.keep(pool!().spawn(move || gate.wait()), None, Expect::Accepted);
            let mut stopping = pool!().shutdown_async();
            assert!(poll_once(&mut stopping, &waker).is_pending());
            let_go(&mut main);
            env.start.open();
            let report = recv();
            drive(&mut stopping, &waker);
            report
        }
        Place::WakerShutdownAsyncExit => {
            // One thread, whose `on_thread_stop` waits on `start`: the pool
            // is drained when it closes, so the waker is woken by the thread's
            // exit, on that thread, after it left the pool.
            let ctx = Ctx::new(place, op, pool!(), &env);
            pool!().wait();
            let waker = CtxWaker::new(Some(ctx));
            let mut stopping = pool!().shutdown_async();
            assert!(poll_once(&mut stopping, &waker).is_pending());
            let_go(&mut main);
            env.start.open();
            let report = recv();
            drive(&mut stopping, &waker);
            report
        }
        Place::PendingJobRun => {
            for blocker in occupy_until(pool!(), 2, &env.release) {
                env.keep(blocker, None, Expect::Accepted);
            }
            // `other` is queued first, so it is handed back (and run) first.
            let ctx = Ctx::new(place, op, pool!(), &env);
            let handle = pool!().spawn(move || ctx.perform());
            env.keep(handle, None, Expect::Accepted);
            let pending = pool!().shutdown_now();
            assert_eq!(pending.len(), 2);
            env.handed_back.fetch_add(2, SeqCst);
            let_go(&mut main);
            for job in pending {
                job.run();
            }
            recv()
        }
    };
    check_report(place, op, &report);
    check_health(&env, place, op, &report, main);
    // Break the hook's cycle (pool -> hook -> env -> ctx -> pool) if armed
    // but never fired (the case failed already).
    drop(env.armed.lock().unwrap().take());
}

fn check_report(place: Place, op: Op, report: &Report) {
    let own = place.on_worker();
    let documented_panic = own && matches!(op, Op::Wait | Op::Shutdown | Op::ShutdownTimeout(_));
    let message = format!("Executor::{} {OWN_JOB}", op.method());
    match &report.outcome {
        Err(text) if documented_panic => {
            assert!(
                text.contains(&message),
                "{place:?}/{op:?}: panicked with {text:?}"
            )
        }
        Ok(value) if documented_panic => {
            panic!("{place:?}/{op:?} returned {value:?} on the pool's own thread {:?}; its docs promise a panic", report.thread)
        }
        // See `documented_panics::wait_async_polled_in_a_job_does_not_panic`.
        Err(text) if own && matches!(op, Op::WaitAsync | Op::ShutdownAsync) => {
            assert!(
                text.contains(&message),
                "{place:?}/{op:?}: panicked with {text:?}"
            )
        }
        Err(text) => panic!("{place:?}/{op:?} panicked on {:?}: {text}", report.thread),
        Ok(value) => check_value(place, op, report.closed_before, value),
    }
}

fn check_value(place: Place, op: Op, closed: bool, value: &Value) {
    let base = place.base_threads();
    let ok = match (op, value) {
        (Op::Spawn | Op::SendCallback | Op::SendLow, Value::Submitted) => true,
        // A scope finishes its jobs wherever it runs, open pool or closed.
        (Op::Scope, Value::Scoped(sum, joined_panic)) => *sum == 10 && *joined_panic,
        (Op::TrySpawn | Op::SpawnAsync, Value::Refused) => closed,
        (Op::TrySpawn | Op::SpawnAsync, Value::Submitted) => !closed,
        (Op::Run, Value::Ran(Ok(()))) => !closed,
        (Op::Run, Value::Ran(Err(kind))) => closed && kind == "closed",
        (Op::Wait | Op::Stats | Op::Shutdown | Op::DropLast | Op::OnCompleteOther, Value::Unit) => {
            true
        }
        (Op::WaitAsync | Op::ShutdownAsync, Value::Polled(ready)) => *ready || place.on_worker(),
        (Op::ScaleUp(_) | Op::SetThreads(_), Value::Scale(Err(is_closed))) => closed && *is_closed,
        (Op::ScaleUp(n), Value::Scale(Ok(target))) => !closed && *target == base + n,
        (Op::SetThreads(n), Value::Scale(Ok(target))) => !closed && *target == n,
        (Op::ScaleDown(n), Value::Target(target)) => {
            closed || *target == base.saturating_sub(n).max(1)
        }
        (Op::CancelOther, Value::Bool(_)) => true,
        (Op::JoinOther, Value::Joined(result)) => result.is_ok(),
        (Op::ShutdownNow, Value::HandedBack(n)) => !closed || *n == 0,
        (Op::ShutdownTimeout(timeout), Value::Bool(done)) => *done || timeout != Duration::MAX,
        _ => false,
    };
    assert!(
        ok,
        "{place:?}/{op:?} returned {value:?} (pool closed before: {closed})"
    );
}

fn check_health(env: &Arc<Env>, place: Place, op: Op, report: &Report, main: Option<Executor>) {
    let returned = report.outcome.is_ok();
    let op_closes = match op {
        Op::Shutdown | Op::ShutdownNow | Op::ShutdownTimeout(_) | Op::DropLast => returned,
        Op::ShutdownAsync => true,
        _ => false,
    };
    let closed = place.closed() || op_closes;
    let target = match &report.outcome {
        Ok(Value::Scale(Ok(n)) | Value::Target(n)) if !closed => *n,
        _ => place.base_threads(),
    };
    let shutdown_now = matches!(op, Op::ShutdownNow);
    match main {
        Some(pool) => {
            if !closed {
                pool.wait();
                eventually(LIMIT, "the thread target", || {
                    pool.stats().threads == target
                });
                common::rendezvous(&pool, target);
                env.accepted_extra.fetch_add(target, SeqCst);
                // Quiet again: the job counts are exact only after `wait`.
                pool.wait();
                let stats = pool.stats();
                assert_eq!((stats.queued, stats.running), (0, 0), "{stats:?}");
            }
            pool.shutdown();
            assert!(pool.is_shutdown());
            let stats = pool.stats();
            assert_eq!(stats.threads, 0, "{stats:?}");
            let accepted = env.settle(shutdown_now);
            let handed_back = env.handed_back.load(SeqCst) as u64;
            assert_eq!(
                stats.completed + stats.panicked + stats.cancelled + handed_back,
                accepted,
                "accounting: {stats:?}, handed back {handed_back}"
            );
            assert_eq!(
                env.starts.load(SeqCst),
                env.stops.load(SeqCst),
                "every started thread stopped"
            );
        }
        None => {
            // The last `Executor` was dropped: the pool closed without
            // waiting; its threads run the queue and exit on their own.
            env.settle(shutdown_now);
            eventually(LIMIT, "every thread stopped", || {
                env.starts.load(SeqCst) == env.stops.load(SeqCst)
            });
        }
    }
    env.check_conservation();
}

// ---------------------------------------------------------------------------
// The matrix: one test per place and operation
// ---------------------------------------------------------------------------

macro_rules! ops {
    ($place:expr; $($(#[$meta:meta])* $name:ident => $op:expr),* $(,)?) => {
        $(
            #[test]
            $(#[$meta])*
            fn $name() {
                super::run_case($place, $op);
            }
        )*
    };
}

/// The operations every place runs, but the shutdowns and `DropLast`.
macro_rules! common_ops {
    ($place:expr) => {
        ops!($place;
            spawn => Op::Spawn,
            send_with_callback => Op::SendCallback,
            send_low_with_callback => Op::SendLow,
            scope => Op::Scope,
            try_spawn => Op::TrySpawn,
            spawn_async => Op::SpawnAsync,
            run => Op::Run,
            wait => Op::Wait,
            wait_async => Op::WaitAsync,
            shutdown_async => Op::ShutdownAsync,
            scale_up_1 => Op::ScaleUp(1),
            scale_up_0 => Op::ScaleUp(0),
            scale_down_1 => Op::ScaleDown(1),
            scale_down_0 => Op::ScaleDown(0),
            scale_down_max => Op::ScaleDown(usize::MAX),
            set_threads_3 => Op::SetThreads(3),
            set_threads_1 => Op::SetThreads(1),
            stats => Op::Stats,
            cancel_other => Op::CancelOther,
            on_complete_other => Op::OnCompleteOther,
            join_other => Op::JoinOther,
            shutdown_now => Op::ShutdownNow,
        );
    };
}

macro_rules! shutdown_ops {
    ($place:expr) => {
        ops!($place;
            shutdown => Op::Shutdown,
            shutdown_timeout_max => Op::ShutdownTimeout(Duration::MAX),
            shutdown_timeout_zero => Op::ShutdownTimeout(Duration::ZERO),
        );
    };
}

macro_rules! place {
    ($module:ident => $place:expr, drop_last) => {
        mod $module {
            use super::{Op, Place};
            use std::time::Duration;
            common_ops!($place);
            shutdown_ops!($place);
            ops!($place; drop_last => Op::DropLast);
        }
    };
    ($module:ident => $place:expr) => {
        mod $module {
            use super::{Op, Place};
            use std::time::Duration;
            common_ops!($place);
            shutdown_ops!($place);
        }
    };
}

place!(in_job => Place::Job, drop_last);
place!(in_job_callback => Place::JobCallback, drop_last);
place!(in_on_complete_before_completion => Place::OnCompleteBefore, drop_last);
place!(in_on_complete_after_completion => Place::OnCompleteAfter, drop_last);
place!(in_closure_drop_of_a_job_that_ran => Place::ClosureDropRan, drop_last);
place!(in_closure_drop_of_a_cancelled_job => Place::ClosureDropCancelled, drop_last);
// The test thread submits the refused job, so it holds a clone: no DropLast.
place!(in_closure_drop_of_a_refused_job => Place::ClosureDropRefused);
place!(in_result_drop_on_the_worker => Place::ResultDropOnWorker, drop_last);
place!(in_result_drop_by_the_handle => Place::ResultDropByHandle, drop_last);
place!(in_on_thread_start => Place::OnThreadStart, drop_last);
place!(in_on_thread_stop_on_scale_down => Place::OnThreadStopScaleDown, drop_last);
// The test thread is inside `shutdown`, holding its clone: no DropLast.
place!(in_on_thread_stop_on_shutdown => Place::OnThreadStopShutdown);
place!(in_on_panic => Place::OnPanic, drop_last);
place!(in_waker_of_a_finished_job_handle => Place::WakerJobHandleDone, drop_last);
place!(in_waker_of_a_cancelled_job_handle => Place::WakerJobHandleCancel, drop_last);
// `spawn_async`'s future borrows the test thread's clone: no DropLast.
place!(in_waker_of_spawn_async_on_a_full_queue => Place::WakerSpawnAsync);
place!(in_waker_of_wait_async => Place::WakerWaitAsync, drop_last);
place!(in_waker_of_shutdown_async_woken_by_the_last_job => Place::WakerShutdownAsyncDrain, drop_last);
place!(in_pending_job_run => Place::PendingJobRun, drop_last);

/// The waker of `shutdown_async` woken by a worker thread's exit runs on
/// that thread after it left the pool (its "own worker" mark is gone):
/// `shutdown` there joins every exited thread, including the calling one.
mod in_waker_of_shutdown_async_woken_by_a_thread_exit {
    use super::{Op, Place};
    use std::time::Duration;
    common_ops!(Place::WakerShutdownAsyncExit);
    ops!(Place::WakerShutdownAsyncExit;
        shutdown => Op::Shutdown,
        shutdown_timeout_max => Op::ShutdownTimeout(Duration::MAX),
        shutdown_timeout_zero => Op::ShutdownTimeout(Duration::ZERO),
        drop_last => Op::DropLast,
    );
}

// ---------------------------------------------------------------------------
// Joining a job queued behind the caller, on a one-thread pool
// ---------------------------------------------------------------------------

/// From one of a one-thread pool's own places: cancels a job queued behind
/// the caller (it must not have started: the only worker is busy here) and
/// joins another one, which the pool must run on this very thread.
fn cancel_and_join_behind(pool: &Executor) -> Result<(), String> {
    let me = thread::current().id();
    let cancelled = pool.spawn(|| thread::current().id());
    let behind = pool.spawn(|| thread::current().id());
    if !cancelled.cancel() {
        return Err("the job queued behind the caller had started".to_owned());
    }
    match behind.join() {
        Ok(ran_on) if ran_on == me => {}
        Ok(_) => return Err("the joined job ran on another thread".to_owned()),
        Err(err) => return Err(format!("join: {err}")),
    }
    match cancelled.join() {
        Err(err) if err.is_cancelled() => Ok(()),
        other => Err(format!("the cancelled job ended {other:?}")),
    }
}

mod queued_behind {
    use super::*;

    /// A place's way to reach the pool: an `Executor` clone set after build
    /// (a hook that captured the pool would keep it alive), taken by the
    /// place when it fires.
    type Slot = Arc<Mutex<Option<(Executor, mpsc::Sender<Result<(), String>>)>>>;

    type Verdicts = (
        mpsc::Sender<Result<(), String>>,
        mpsc::Receiver<Result<(), String>>,
    );

    fn slot() -> (Slot, Verdicts) {
        (Arc::new(Mutex::new(None)), mpsc::channel())
    }

    fn set(slot: &Slot, pool: &Executor, tx: mpsc::Sender<Result<(), String>>) {
        *slot.lock().unwrap() = Some((pool.clone(), tx));
    }

    /// Runs the check from wherever this is called, once.
    fn fire(slot: &Slot) {
        let taken = slot.lock().unwrap().take();
        if let Some((pool, tx)) = taken {
            let result = catch_unwind(AssertUnwindSafe(|| cancel_and_join_behind(&pool)))
                .unwrap_or_else(|payload| Err(format!("panicked: {}", panic_text(&*payload))));
            let _ = tx.send(result);
        }
    }

    fn one_thread() -> Executor {
        Executor::builder()
            .threads(1)
            .thread_name(POOL_NAME)
            .build()
            .unwrap()
    }

    fn expect_ok(rx: &mpsc::Receiver<Result<(), String>>, pool: Executor) {
        let result = rx.recv_timeout(LIMIT).expect("the place ran");
        assert_eq!(result, Ok(()));
        pool.wait();
        let stats = pool.stats();
        assert_eq!(
            (stats.queued, stats.running, stats.cancelled),
            (0, 0, 1),
            "{stats:?}"
        );
        common::rendezvous(&pool, 1);
        pool.shutdown();
    }

    fn case(what: &'static str, body: impl FnOnce() + Send + 'static) {
        quiet_expected_panics();
        within(LIMIT, what, body);
    }

    #[test]
    fn from_a_job() {
        case("join behind, from a job", || {
            let pool = one_thread();
            let (slot, (tx, rx)) = slot();
            set(&slot, &pool, tx);
            pool.spawn(move || fire(&slot));
            expect_ok(&rx, pool);
        });
    }

    #[test]
    fn from_a_job_callback() {
        case("join behind, from a Job::callback", || {
            let pool = one_thread();
            let (slot, (tx, rx)) = slot();
            set(&slot, &pool, tx);
            pool.send(Job::new(|| ()).callback(move |_| fire(&slot)));
            expect_ok(&rx, pool);
        });
    }

    #[test]
    fn from_on_complete_registered_before_completion() {
        case("join behind, from on_complete", || {
            let pool = one_thread();
            let (slot, (tx, rx)) = slot();
            set(&slot, &pool, tx);
            let gate = Gate::new();
            let opener = Arc::clone(&gate);
            let _handle = pool
                .spawn(move || gate.wait())
                .on_complete(move |_| fire(&slot));
            opener.open();
            expect_ok(&rx, pool);
        });
    }

    struct FireOnDrop(Slot);

    impl Drop for FireOnDrop {
        fn drop(&mut self) {
            fire(&self.0);
        }
    }

    #[test]
    fn from_the_closure_drop_of_a_job_that_ran() {
        case("join behind, from a closure's destructor", || {
            let pool = one_thread();
            let (slot, (tx, rx)) = slot();
            set(&slot, &pool, tx);
            let guard = FireOnDrop(slot);
            pool.spawn(move || {
                std::hint::black_box(&guard);
            });
            expect_ok(&rx, pool);
        });
    }

    #[test]
    fn from_the_result_drop_on_the_worker() {
        case("join behind, from a result's destructor", || {
            let pool = one_thread();
            let (slot, (tx, rx)) = slot();
            set(&slot, &pool, tx);
            let gate = Gate::new();
            let opener = Arc::clone(&gate);
            let handle = pool.spawn(move || {
                gate.wait();
                FireOnDrop(slot)
            });
            drop(handle);
            opener.open();
            expect_ok(&rx, pool);
        });
    }

    struct SlotWaker(Slot);

    impl Wake for SlotWaker {
        fn wake(self: Arc<Self>) {
            fire(&self.0);
        }
    }

    #[test]
    fn from_the_waker_of_a_job_handle() {
        case("join behind, from a JobHandle's waker", || {
            let pool = one_thread();
            let (slot, (tx, rx)) = slot();
            set(&slot, &pool, tx);
            let gate = Gate::new();
            let opener = Arc::clone(&gate);
            let mut handle = pool.spawn(move || gate.wait());
            let waker = Waker::from(Arc::new(SlotWaker(slot)));
            assert!(Pin::new(&mut handle)
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            opener.open();
            expect_ok(&rx, pool);
            assert!(handle.is_finished());
        });
    }

    #[test]
    fn from_the_waker_of_wait_async() {
        case("join behind, from wait_async's waker", || {
            let pool = one_thread();
            let (slot, (tx, rx)) = slot();
            set(&slot, &pool, tx);
            let gate = Gate::new();
            let opener = Arc::clone(&gate);
            pool.spawn(move || gate.wait());
            let mut waiting = pool.wait_async();
            let waker = Waker::from(Arc::new(SlotWaker(slot)));
            assert!(Pin::new(&mut waiting)
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            opener.open();
            expect_ok(&rx, pool);
        });
    }

    #[test]
    fn from_on_panic() {
        case("join behind, from on_panic", || {
            let (slot, (tx, rx)) = slot();
            let hook = Arc::clone(&slot);
            let pool = Executor::builder()
                .threads(1)
                .thread_name(POOL_NAME)
                .on_panic(move |_| fire(&hook))
                .build()
                .unwrap();
            set(&slot, &pool, tx);
            let handle = pool.spawn(|| panic!("expected: a job's panic"));
            expect_ok(&rx, pool);
            assert!(handle.join().unwrap_err().is_panic());
            drop(slot.lock().unwrap().take());
        });
    }

    #[test]
    fn from_on_thread_start() {
        case("join behind, from on_thread_start", || {
            // No thread until the first job: its start hook runs with the
            // slot set, and that first job queued.
            let (slot, (tx, rx)) = slot();
            let hook = Arc::clone(&slot);
            let pool = Executor::builder()
                .min_threads(0)
                .max_threads(1)
                .thread_name(POOL_NAME)
                .on_thread_start(move || fire(&hook))
                .build()
                .unwrap();
            set(&slot, &pool, tx);
            let first = pool.spawn(|| 7);
            let result = rx.recv_timeout(LIMIT).expect("the hook ran");
            assert_eq!(result, Ok(()));
            assert_eq!(first.join().unwrap(), 7);
            pool.wait();
            pool.shutdown();
            drop(slot.lock().unwrap().take());
        });
    }

    /// The same while other threads submit too: found by `tests/soak.rs`.
    /// The pool's only worker, inside a job, blocks in `spawn` on the full
    /// queue; `help()` finds the queue momentarily empty (another thread's
    /// job is accepted, counted in `queued`, but not pushed yet), returns
    /// `false`, and the worker waits for capacity that only a worker can
    /// free. `stats()` then stays at `queued: 1, running: 1` forever. A race:
    /// each attempt takes milliseconds, and on two cores one of the first
    /// few attempts hangs.
    #[test]
    fn spawn_on_a_full_queue_from_a_job_while_other_threads_submit() {
        case(
            "spawn on a full queue from a job, racing submitters",
            || {
                for _attempt in 0..20 {
                    let pool = Executor::builder()
                        .threads(1)
                        .max_queue_size(1)
                        .thread_name(POOL_NAME)
                        .build()
                        .unwrap();
                    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
                    let submitters: Vec<_> = (0..3)
                        .map(|_| {
                            let pool = pool.clone();
                            let stop = Arc::clone(&stop);
                            thread::spawn(move || {
                                while !stop.load(SeqCst) {
                                    pool.spawn(|| ());
                                }
                            })
                        })
                        .collect();
                    let inner = pool.clone();
                    let outer = pool.spawn(move || {
                        for _ in 0..2_000 {
                            inner.spawn(|| ());
                        }
                    });
                    outer.join().unwrap();
                    stop.store(true, SeqCst);
                    for submitter in submitters {
                        submitter.join().unwrap();
                    }
                    pool.shutdown();
                }
            },
        );
    }

    /// A job of a one-thread pool that submits more jobs than its bounded
    /// queue holds: the blocking `spawn` runs queued jobs on the calling
    /// worker instead of waiting for itself.
    #[test]
    fn spawn_on_a_full_queue_from_a_job() {
        case("spawn on a full queue from a job", || {
            let pool = Executor::builder()
                .threads(1)
                .max_queue_size(1)
                .thread_name(POOL_NAME)
                .build()
                .unwrap();
            let inner = pool.clone();
            let outer = pool.spawn(move || {
                let handles: Vec<_> = (0..4).map(|i| inner.spawn(move || i)).collect();
                handles
                    .into_iter()
                    .map(|handle| handle.join().unwrap())
                    .sum::<i32>()
            });
            assert_eq!(outer.join().unwrap(), 6);
            pool.wait();
            assert_eq!(pool.stats().completed, 5);
            pool.shutdown();
        });
    }
}

// ---------------------------------------------------------------------------
// Panics: the documented ones, and two the docs do not mention
// ---------------------------------------------------------------------------

mod documented_panics {
    use super::*;

    fn in_a_job<T: Send + 'static>(
        f: impl FnOnce(&Executor) -> T + Send + 'static,
    ) -> Result<T, String> {
        quiet_expected_panics();
        within(LIMIT, "in a job", move || {
            let pool = Executor::builder()
                .threads(2)
                .thread_name(POOL_NAME)
                .build()
                .unwrap();
            let inner = pool.clone();
            let result = pool
                .spawn(move || {
                    catch_unwind(AssertUnwindSafe(|| f(&inner)))
                        .map_err(|payload| panic_text(&*payload))
                })
                .join()
                .expect("the job itself returns");
            pool.shutdown();
            result
        })
    }

    /// Polls the future `make` builds once, inside one of the pool's jobs,
    /// and checks it panicked with `method`'s documented message.
    fn assert_polling_in_a_job_panics<F: Future + Unpin>(
        method: &str,
        make: impl FnOnce(&Executor) -> F + Send + 'static,
    ) {
        let result = in_a_job(move |pool| {
            let mut future = make(pool);
            let waker = futures::task::noop_waker();
            Pin::new(&mut future)
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        });
        let text = result.unwrap_err();
        assert!(
            text.contains(&format!(
                "Executor::{method} called from one of its own jobs"
            )),
            "{text}"
        );
    }

    /// `wait_async` polled inside one of the pool's jobs, while that job
    /// is unfinished, can never resolve there: it panics, as documented
    /// under its `# Panics`, instead of letting a `block_on` hang.
    #[test]
    fn wait_async_polled_in_a_job_panics_as_documented() {
        assert_polling_in_a_job_panics("wait_async", Executor::wait_async);
    }

    /// The same for `shutdown_async`, whose pool closes at the call.
    #[test]
    fn shutdown_async_polled_in_a_job_panics_as_documented() {
        assert_polling_in_a_job_panics("shutdown_async", Executor::shutdown_async);
    }

    #[test]
    fn wait_in_a_job_panics_with_its_message() {
        let result = in_a_job(|pool| pool.wait());
        let text = result.unwrap_err();
        assert!(
            text.contains("Executor::wait called from one of its own jobs"),
            "{text}"
        );
    }

    #[test]
    fn shutdown_in_a_job_panics_with_its_message_and_leaves_the_pool_open() {
        let result = in_a_job(|pool| {
            let text = catch_unwind(AssertUnwindSafe(|| pool.shutdown()))
                .map_err(|payload| panic_text(&*payload));
            (text, pool.is_shutdown())
        });
        let (text, closed) = result.unwrap();
        assert!(text
            .unwrap_err()
            .contains("Executor::shutdown called from one of its own jobs"));
        assert!(!closed, "a refused shutdown must not close the pool");
    }

    /// `set_threads(0)` returns its error, on the pool's own threads too,
    /// and changes nothing.
    #[test]
    fn set_threads_zero_is_an_error_everywhere() {
        let result = in_a_job(|pool| pool.set_threads(0).map_err(|e| e.to_string()));
        let text = result.unwrap().unwrap_err();
        assert!(text.contains("set_threads(0)"), "{text}");
        let pool = Executor::new(1);
        let text = pool.set_threads(0).unwrap_err().to_string();
        assert!(text.contains("a pool needs at least one thread"), "{text}");
        assert_eq!(pool.stats().threads, 1);
        pool.shutdown();
    }

    #[test]
    fn executor_new_zero_panics_with_its_message() {
        let text = catch_unwind(|| Executor::new(0))
            .map(|_| ())
            .map_err(|payload| panic_text(&*payload))
            .unwrap_err();
        assert!(text.contains("Executor::new(0)"), "{text}");
    }

    #[test]
    fn join_and_on_complete_after_a_poll_took_the_result_panic_with_their_messages() {
        within(LIMIT, "handle used after its result was taken", || {
            let pool = Executor::new(1);
            let taken = || {
                let mut handle = pool.spawn(|| 1);
                let result = futures::executor::block_on(&mut handle);
                assert_eq!(result.unwrap(), 1);
                handle
            };
            let text = catch_unwind(AssertUnwindSafe(|| taken().join()))
                .map(|_| ())
                .map_err(|payload| panic_text(&*payload))
                .unwrap_err();
            assert!(
                text.contains("polled after it returned its result"),
                "{text}"
            );
            let text = catch_unwind(AssertUnwindSafe(|| taken().on_complete(|_| ())))
                .map(|_| ())
                .map_err(|payload| panic_text(&*payload))
                .unwrap_err();
            assert!(text.contains("on_complete"), "{text}");
            pool.wait();
            pool.shutdown();
        });
    }
}

// ---------------------------------------------------------------------------
// Wakers that panic
// ---------------------------------------------------------------------------

mod panicking_wakers {
    use super::*;

    /// Panics on every wake-up, with a payload that panics again on drop
    /// when `bomb` is set.
    struct PanicWaker {
        wakes: AtomicUsize,
        bomb: bool,
    }

    struct Bomb;

    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("expected: a waker's panic payload, dropped");
        }
    }

    impl Wake for PanicWaker {
        fn wake(self: Arc<Self>) {
            self.wakes.fetch_add(1, SeqCst);
            if self.bomb {
                std::panic::panic_any(Bomb);
            }
            panic!("expected: a waker's panic");
        }
    }

    fn panic_waker(bomb: bool) -> (Arc<PanicWaker>, Waker) {
        let waker = Arc::new(PanicWaker {
            wakes: AtomicUsize::new(0),
            bomb,
        });
        (Arc::clone(&waker), Waker::from(waker))
    }

    fn pool(queue: usize) -> Executor {
        Executor::builder()
            .threads(2)
            .max_queue_size(queue)
            .thread_name(POOL_NAME)
            .build()
            .unwrap()
    }

    /// Every thread serves, the counts add up, and shutdown returns.
    fn healthy(pool: Executor, completed: u64) {
        pool.wait();
        common::rendezvous(&pool, 2);
        pool.wait();
        let stats = pool.stats();
        assert_eq!(stats.threads, 2, "{stats:?}");
        assert_eq!(stats.completed, completed + 2, "{stats:?}");
        assert_eq!((stats.queued, stats.running), (0, 0), "{stats:?}");
        pool.shutdown();
    }

    fn poll<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
        Pin::new(future).poll(&mut Context::from_waker(waker))
    }

    fn job_handle(bomb: bool) {
        quiet_expected_panics();
        within(LIMIT, "a panicking JobHandle waker", move || {
            let pool = pool(0);
            let gate = Gate::new();
            let opener = Arc::clone(&gate);
            let mut handle = pool.spawn(move || {
                gate.wait();
                5
            });
            let (count, waker) = panic_waker(bomb);
            assert!(poll(&mut handle, &waker).is_pending());
            opener.open();
            eventually(LIMIT, "woken", || count.wakes.load(SeqCst) == 1);
            let noop = futures::task::noop_waker();
            assert!(matches!(poll(&mut handle, &noop), Poll::Ready(Ok(5))));
            healthy(pool, 1);
        });
    }

    #[test]
    fn on_a_job_handle() {
        job_handle(false);
    }

    #[test]
    fn on_a_job_handle_with_a_payload_that_panics_on_drop() {
        job_handle(true);
    }

    #[test]
    fn on_spawn_async_waiting_for_room() {
        quiet_expected_panics();
        within(LIMIT, "a panicking spawn_async waker", || {
            let pool = pool(1);
            let (gate, blockers) = common::occupy(&pool, 2);
            let filler = pool.try_spawn(|| ()).expect("room for one");
            let (count, waker) = panic_waker(false);
            let mut queuing = pool.spawn_async(|| 9);
            assert!(poll(&mut queuing, &waker).is_pending());
            gate.open();
            eventually(LIMIT, "woken", || count.wakes.load(SeqCst) >= 1);
            let noop = futures::task::noop_waker();
            let mut handle = None;
            eventually(LIMIT, "queued", || match poll(&mut queuing, &noop) {
                Poll::Ready(result) => {
                    handle = Some(result.expect("the pool is open"));
                    true
                }
                Poll::Pending => false,
            });
            drop(queuing);
            assert_eq!(handle.unwrap().join().unwrap(), 9);
            filler.join().unwrap();
            for blocker in blockers {
                blocker.join().unwrap();
            }
            healthy(pool, 4);
        });
    }

    #[test]
    fn on_wait_async() {
        quiet_expected_panics();
        within(LIMIT, "a panicking wait_async waker", || {
            let pool = pool(0);
            let (gate, blockers) = common::occupy(&pool, 1);
            let (count, waker) = panic_waker(false);
            let mut waiting = pool.wait_async();
            assert!(poll(&mut waiting, &waker).is_pending());
            gate.open();
            eventually(LIMIT, "woken", || count.wakes.load(SeqCst) == 1);
            let noop = futures::task::noop_waker();
            assert!(poll(&mut waiting, &noop).is_ready());
            for blocker in blockers {
                blocker.join().unwrap();
            }
            healthy(pool, 1);
        });
    }

    #[test]
    fn on_shutdown_async() {
        quiet_expected_panics();
        within(LIMIT, "a panicking shutdown_async waker", || {
            let pool = pool(0);
            let (gate, blockers) = common::occupy(&pool, 2);
            let (count, waker) = panic_waker(false);
            let mut stopping = pool.shutdown_async();
            assert!(poll(&mut stopping, &waker).is_pending());
            gate.open();
            eventually(LIMIT, "woken", || count.wakes.load(SeqCst) >= 1);
            let noop = futures::task::noop_waker();
            let mut done = false;
            eventually(LIMIT, "every thread exited", || {
                done = poll(&mut stopping, &noop).is_ready();
                done
            });
            for blocker in blockers {
                blocker.join().unwrap();
            }
            pool.shutdown();
            let stats = pool.stats();
            assert_eq!((stats.threads, stats.completed), (0, 2), "{stats:?}");
        });
    }
}

// ---------------------------------------------------------------------------
// Extreme arguments
// ---------------------------------------------------------------------------

mod extreme {
    use super::*;
    use std::io::Read;
    use std::process::{Command, Stdio};
    use std::time::Instant;

    /// A sane ceiling for a pool's threads after an absurd request: far
    /// above anything this suite asks for, far below what an OS allows.
    const SANE_THREADS: usize = 1024;

    /// Runs `body` in a child process (this test binary, running only
    /// `test`) whose address space is capped at `address_space_kb`, so that
    /// a pool starting threads until the OS refuses stops at a few thousand
    /// instead of exhausting the machine, and a crash (a stack overflow)
    /// fails the test instead of the whole binary. Bounded: a child still
    /// running after `LIMIT` is killed and the test fails.
    fn in_child(test: &str, address_space_kb: u64, body: impl FnOnce()) {
        const CHILD: &str = "REENTRANCY_CHILD";
        if std::env::var(CHILD).as_deref() == Ok(test) {
            quiet_expected_panics();
            body();
            return;
        }
        let exe = std::env::current_exe().expect("the test binary");
        let script = format!(
            "ulimit -v {address_space_kb} && exec \"$0\" --exact \"$1\" --include-ignored --test-threads=1 --nocapture"
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(exe)
            .arg(test)
            .env(CHILD, test)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the child process");
        let read = |mut pipe: Box<dyn Read + Send>| {
            thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        };
        let stdout = read(Box::new(child.stdout.take().unwrap()));
        let stderr = read(Box::new(child.stderr.take().unwrap()));
        let deadline = Instant::now() + LIMIT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("poll the child") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{test}: the child process did not finish within {LIMIT:?} (hang?)");
            }
            thread::sleep(Duration::from_millis(5));
        };
        let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
        assert!(
            status.success() && stdout.contains("1 passed"),
            "{test} in a child process: {status}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
    }

    /// 8 GB of address space: room for about 3500 default-sized thread
    /// stacks, well above `SANE_THREADS`. A pool that starts threads until
    /// the OS refuses exhausts it: the child then fails on the count, or
    /// aborts inside std (a new thread that cannot map its signal stack).
    /// Either way the test fails, as it should; a pool that stays sane never
    /// comes near the cap.
    const AS_KB: u64 = 8 * 1024 * 1024;

    /// A fixed pool asked for `usize::MAX` threads by `op` must refuse (or
    /// clamp) without starting threads until the OS refuses.
    fn fixed_pool_stays_sane(
        test: &str,
        what: &'static str,
        op: fn(&Executor, usize) -> Result<usize, thread_exec::ScaleError>,
    ) {
        in_child(test, AS_KB, move || {
            within(LIMIT, what, move || {
                let pool = Executor::new(2);
                let result = op(&pool, usize::MAX);
                let threads = pool.stats().threads;
                pool.shutdown();
                assert!(
                    threads <= SANE_THREADS,
                    "{what} = {result:?} left {threads} threads"
                );
            });
        });
    }

    #[test]
    fn fixed_scale_up_usize_max_keeps_the_thread_count_sane() {
        fixed_pool_stays_sane(
            "extreme::fixed_scale_up_usize_max_keeps_the_thread_count_sane",
            "scale_up(usize::MAX)",
            Executor::scale_up,
        );
    }

    #[test]
    fn fixed_set_threads_usize_max_keeps_the_thread_count_sane() {
        fixed_pool_stays_sane(
            "extreme::fixed_set_threads_usize_max_keeps_the_thread_count_sane",
            "set_threads(usize::MAX)",
            Executor::set_threads,
        );
    }

    /// `threads(usize::MAX)` and `min_threads(usize::MAX)` must fail (or
    /// clamp) without first starting threads until the OS refuses (starts
    /// counted by `on_thread_start`). A build that started them all would
    /// fail the count, or abort inside std under this test's address-space
    /// cap when a started thread cannot map its signal stack.
    #[test]
    fn build_with_usize_max_threads_fails_without_starting_them_all() {
        in_child(
            "extreme::build_with_usize_max_threads_fails_without_starting_them_all",
            AS_KB,
            || {
                within(LIMIT, "build with usize::MAX threads", || {
                    let before = common::os_threads();
                    for builder in [
                        Executor::builder().threads(usize::MAX),
                        Executor::builder().min_threads(usize::MAX),
                    ] {
                        let starts = Arc::new(AtomicUsize::new(0));
                        let counter = Arc::clone(&starts);
                        let result = builder
                            .on_thread_start(move || {
                                counter.fetch_add(1, SeqCst);
                            })
                            .build();
                        let started = starts.load(SeqCst);
                        if let Ok(pool) = &result {
                            pool.shutdown();
                        }
                        assert_eq!(common::os_threads(), before, "threads left behind");
                        assert!(
                            started <= SANE_THREADS,
                            "build = {:?} after starting {started} threads",
                            result.map(|pool| pool.stats())
                        );
                    }
                });
            },
        );
    }

    /// Worker stacks of 0 and 1 bytes: the platform's minimum applies.
    /// Jobs, a panic, callbacks and joins all work. In a child process: a
    /// stack overflow would abort.
    #[test]
    fn tiny_stack_sizes_run_jobs() {
        in_child("extreme::tiny_stack_sizes_run_jobs", AS_KB, || {
            within(LIMIT, "stack_size(0) and (1)", || {
                for bytes in [0, 1] {
                    let pool = Executor::builder()
                        .threads(2)
                        .stack_size(bytes)
                        .thread_name(POOL_NAME)
                        .build()
                        .unwrap();
                    let calls = Arc::new(AtomicUsize::new(0));
                    let seen = Arc::clone(&calls);
                    let sum = pool
                        .send(Job::new(|| (0..100_u64).sum::<u64>()).callback(move |_| {
                            seen.fetch_add(1, SeqCst);
                        }))
                        .join()
                        .unwrap();
                    assert_eq!(sum, 4950);
                    let err = pool.spawn(|| panic!("expected: on a small stack")).join();
                    assert!(err.unwrap_err().is_panic());
                    let inner = pool.clone();
                    let nested = pool.spawn(move || inner.spawn(|| 3).join().unwrap());
                    assert_eq!(nested.join().unwrap(), 3);
                    pool.wait();
                    assert_eq!(calls.load(SeqCst), 1);
                    let stats = pool.stats();
                    assert_eq!((stats.completed, stats.panicked), (3, 1), "{stats:?}");
                    pool.shutdown();
                }
            });
        });
    }

    #[test]
    fn an_impossible_stack_size_is_a_build_error_or_cancels_the_job() {
        within(LIMIT, "stack_size(usize::MAX)", || {
            let err = Executor::builder()
                .threads(1)
                .stack_size(usize::MAX)
                .build()
                .expect_err("no thread has usize::MAX of stack");
            assert!(err.to_string().contains("could not start"), "{err}");
            // A dynamic pool with no thread builds; its first job finds no
            // thread can start: it is cancelled, not stranded.
            let pool = Executor::builder()
                .min_threads(0)
                .max_threads(2)
                .stack_size(usize::MAX)
                .build()
                .unwrap();
            let calls = Arc::new(AtomicUsize::new(0));
            let seen = Arc::clone(&calls);
            let handle = pool.send(Job::new(|| 1).callback(move |result| {
                assert!(result.as_ref().unwrap_err().is_cancelled());
                seen.fetch_add(1, SeqCst);
            }));
            assert!(handle.join().unwrap_err().is_cancelled());
            assert_eq!(calls.load(SeqCst), 1);
            pool.wait();
            let stats = pool.stats();
            assert_eq!((stats.threads, stats.cancelled), (0, 1), "{stats:?}");
            pool.shutdown();
        });
    }

    #[test]
    fn scale_ops_with_0_1_and_usize_max_on_a_fixed_pool() {
        within(LIMIT, "fixed pool scale ops", || {
            let pool = Executor::new(2);
            assert_eq!(pool.scale_up(0).unwrap(), 2);
            assert_eq!(pool.scale_down(0), 2);
            assert_eq!(pool.scale_up(1).unwrap(), 3);
            assert_eq!(pool.scale_down(usize::MAX), 1);
            eventually(LIMIT, "one thread", || pool.stats().threads == 1);
            assert_eq!(pool.scale_down(1), 1);
            assert_eq!(pool.set_threads(1).unwrap(), 1);
            assert_eq!(pool.set_threads(2).unwrap(), 2);
            common::rendezvous(&pool, 2);
            // From inside a job too.
            let inner = pool.clone();
            let targets = pool
                .spawn(move || {
                    (
                        inner.scale_up(0).unwrap(),
                        inner.scale_down(usize::MAX),
                        inner.set_threads(1).unwrap(),
                        inner.scale_up(1).unwrap(),
                    )
                })
                .join()
                .unwrap();
            assert_eq!(targets, (2, 1, 1, 2));
            eventually(LIMIT, "two threads", || pool.stats().threads == 2);
            common::rendezvous(&pool, 2);
            pool.shutdown();
            assert_eq!(pool.stats().threads, 0);
        });
    }

    /// A dynamic pool's `scale_up`/`set_threads` move `max_threads`, so
    /// `usize::MAX` is only a ceiling: threads start for the backlog alone.
    #[test]
    fn usize_max_targets_on_a_dynamic_pool_start_threads_only_on_demand() {
        within(LIMIT, "dynamic pool usize::MAX", || {
            let pool = Executor::builder()
                .min_threads(1)
                .max_threads(2)
                .thread_name(POOL_NAME)
                .build()
                .unwrap();
            assert_eq!(pool.scale_up(usize::MAX).unwrap(), usize::MAX);
            assert_eq!(pool.stats().threads, 1);
            assert_eq!(pool.set_threads(usize::MAX).unwrap(), usize::MAX);
            assert_eq!(pool.scale_up(1).unwrap(), usize::MAX, "saturates");
            let (gate, blockers) = common::occupy(&pool, 3);
            let threads = pool.stats().threads;
            assert!((3..=6).contains(&threads), "{threads} threads for 3 jobs");
            gate.open();
            for blocker in blockers {
                blocker.join().unwrap();
            }
            assert_eq!(pool.scale_down(usize::MAX), 1);
            eventually(LIMIT, "back to min_threads", || pool.stats().threads == 1);
            common::rendezvous(&pool, 1);
            pool.shutdown();
        });
    }

    #[test]
    fn builder_counts_of_0_and_1() {
        within(LIMIT, "builder counts", || {
            assert!(Executor::builder().threads(0).build().is_err());
            assert!(Executor::builder().max_threads(0).build().is_err());
            assert!(Executor::builder()
                .min_threads(0)
                .max_threads(0)
                .build()
                .is_err());
            assert!(Executor::builder()
                .min_threads(2)
                .max_threads(1)
                .build()
                .is_err());
            let pool = Executor::builder()
                .min_threads(0)
                .max_threads(1)
                .build()
                .unwrap();
            assert_eq!(pool.stats().threads, 0);
            assert_eq!(pool.spawn(|| 4).join().unwrap(), 4);
            // set_threads(1) on a pool with no thread yet, then down again.
            assert_eq!(pool.set_threads(1).unwrap(), 1);
            assert_eq!(pool.scale_down(usize::MAX), 1);
            pool.shutdown();
            let pool = Executor::builder().threads(1).build().unwrap();
            assert_eq!(pool.spawn(|| 5).join().unwrap(), 5);
            pool.shutdown();
        });
    }

    #[test]
    fn max_threads_usize_max_grows_only_with_demand() {
        within(LIMIT, "max_threads(usize::MAX)", || {
            let pool = Executor::builder()
                .min_threads(0)
                .max_threads(usize::MAX)
                .build()
                .unwrap();
            assert_eq!(pool.stats().threads, 0);
            let (gate, blockers) = common::occupy(&pool, 4);
            let threads = pool.stats().threads;
            assert!((4..=8).contains(&threads), "{threads} threads for 4 jobs");
            gate.open();
            for blocker in blockers {
                blocker.join().unwrap();
            }
            pool.shutdown();
        });
    }

    #[test]
    fn keep_alive_zero_lets_idle_threads_go_and_starts_them_again() {
        within(LIMIT, "keep_alive(ZERO)", || {
            let stops = Arc::new(AtomicUsize::new(0));
            let counter = Arc::clone(&stops);
            let pool = Executor::builder()
                .min_threads(0)
                .max_threads(2)
                .keep_alive(Duration::ZERO)
                .on_thread_stop(move || {
                    counter.fetch_add(1, SeqCst);
                })
                .build()
                .unwrap();
            for round in 0..3 {
                let (gate, blockers) = common::occupy(&pool, 2);
                gate.open();
                for blocker in blockers {
                    blocker.join().unwrap();
                }
                pool.wait();
                eventually(LIMIT, "idle threads expire", || pool.stats().threads == 0);
                let stats = pool.stats();
                assert_eq!(stats.idle_threads, 0, "round {round}: {stats:?}");
                assert_eq!(stats.completed, 2 * (round + 1), "{stats:?}");
            }
            pool.shutdown();
            assert_eq!(stops.load(SeqCst), 6, "each started thread stopped once");
        });
    }

    #[test]
    fn keep_alive_max_keeps_grown_threads() {
        within(LIMIT, "keep_alive(MAX)", || {
            let pool = Executor::builder()
                .min_threads(1)
                .max_threads(3)
                .keep_alive(Duration::MAX)
                .build()
                .unwrap();
            let (gate, blockers) = common::occupy(&pool, 3);
            gate.open();
            for blocker in blockers {
                blocker.join().unwrap();
            }
            pool.wait();
            common::rendezvous(&pool, 3);
            assert_eq!(pool.stats().threads, 3);
            pool.shutdown();
        });
    }

    #[test]
    fn shutdown_timeout_zero_and_max() {
        within(LIMIT, "shutdown_timeout(ZERO) then (MAX)", || {
            let pool = Executor::new(1);
            let (gate, blockers) = common::occupy(&pool, 1);
            let queued = pool.spawn(|| 3);
            assert!(!pool.shutdown_timeout(Duration::ZERO), "a job is running");
            assert!(pool.is_shutdown());
            assert!(pool.spawn(|| ()).join().unwrap_err().is_closed());
            gate.open();
            assert!(pool.shutdown_timeout(Duration::MAX));
            assert!(pool.shutdown_timeout(Duration::ZERO), "nothing left");
            assert_eq!(queued.join().unwrap(), 3);
            for blocker in blockers {
                blocker.join().unwrap();
            }
            assert_eq!(pool.stats().completed, 2);
        });
    }

    #[test]
    fn max_queue_size_usize_max_is_effectively_unbounded() {
        within(LIMIT, "max_queue_size(usize::MAX)", || {
            let pool = Executor::builder()
                .threads(1)
                .max_queue_size(usize::MAX)
                .build()
                .unwrap();
            let (gate, blockers) = common::occupy(&pool, 1);
            let handles: Vec<_> = (0..1000)
                .map(|i| pool.try_spawn(move || i).expect("never full"))
                .collect();
            assert_eq!(pool.stats().queued, 1000);
            gate.open();
            let sum: i32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(sum, 499_500);
            for blocker in blockers {
                blocker.join().unwrap();
            }
            pool.shutdown();
        });
    }

    #[test]
    fn max_queue_size_one() {
        within(LIMIT, "max_queue_size(1)", || {
            let pool = Executor::builder()
                .threads(1)
                .max_queue_size(1)
                .build()
                .unwrap();
            let (gate, blockers) = common::occupy(&pool, 1);
            let first = pool.try_spawn(|| 1).expect("room for one");
            assert!(pool.try_spawn(|| 2).unwrap_err().is_full());
            // A blocking spawn from another thread waits for room, then
            // goes in once the worker frees the place.
            let sender = pool.clone();
            let blocked = thread::spawn(move || sender.spawn(|| 2).join().unwrap());
            gate.open();
            assert_eq!(first.join().unwrap(), 1);
            assert_eq!(blocked.join().unwrap(), 2);
            for blocker in blockers {
                blocker.join().unwrap();
            }
            pool.shutdown();
            assert_eq!(pool.stats().completed, 3);
        });
    }

    #[test]
    fn an_empty_thread_name() {
        within(LIMIT, "thread_name(\"\")", || {
            let pool = Executor::builder()
                .threads(2)
                .thread_name("")
                .build()
                .unwrap();
            let name = pool
                .spawn(|| thread::current().name().map(str::to_owned))
                .join()
                .unwrap();
            assert!(matches!(name.as_deref(), Some("-0" | "-1")), "{name:?}");
            common::rendezvous(&pool, 2);
            pool.shutdown();
        });
    }
}

// ---------------------------------------------------------------------------
// A tracing subscriber: user code the crate calls on every event
// ---------------------------------------------------------------------------

/// A `tracing` layer is user code too, and a metrics layer that reads the
/// pool's `stats()` on each event is a plausible one. These install it as
/// the calling thread's default subscriber, so they see the events the
/// test thread's own calls emit (the workers' events go to the global
/// default, which this binary leaves alone).
mod tracing_layer {
    use super::*;
    use std::sync::OnceLock;
    use tracing::{Event, Subscriber};
    use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    #[derive(Clone, Copy)]
    enum Call {
        Stats,
        ScaleUpZero,
        Spawn,
    }

    struct CallingLayer {
        pool: Arc<OnceLock<Executor>>,
        call: Call,
        events: Arc<AtomicUsize>,
    }

    impl<S: Subscriber> Layer<S> for CallingLayer {
        fn on_event(&self, _event: &Event<'_>, _ctx: LayerContext<'_, S>) {
            self.events.fetch_add(1, SeqCst);
            if let Some(pool) = self.pool.get() {
                match self.call {
                    Call::Stats => {
                        let _ = pool.stats();
                    }
                    Call::ScaleUpZero => {
                        let _ = pool.scale_up(0);
                    }
                    Call::Spawn => {
                        pool.spawn(|| ());
                    }
                }
            }
        }
    }

    /// Builds a pool, lets the layer reach it, runs `trigger`.
    fn with_layer(what: &'static str, threads: usize, call: Call, trigger: fn(&Executor)) {
        within(LIMIT, what, move || {
            let slot = Arc::new(OnceLock::new());
            let events = Arc::new(AtomicUsize::new(0));
            let layer = CallingLayer {
                pool: Arc::clone(&slot),
                call,
                events: Arc::clone(&events),
            };
            let _default = tracing_subscriber::registry().with(layer).set_default();
            let pool = Executor::builder()
                .threads(threads)
                .thread_name(POOL_NAME)
                .build()
                .unwrap();
            let _ = slot.set(pool.clone());
            trigger(&pool);
            assert!(events.load(SeqCst) > 0, "the layer saw no event");
            pool.wait();
            pool.shutdown();
            assert_eq!(pool.stats().threads, 0);
        });
    }

    /// `scale_up` starts a thread and reports it ("worker thread started")
    /// while holding the registry lock; `stats()` takes that lock.
    #[test]
    fn stats_from_a_layer_during_scale_up() {
        with_layer("stats() from a layer, scale_up", 1, Call::Stats, |pool| {
            assert_eq!(pool.scale_up(1).unwrap(), 2);
        });
    }

    /// Every scale operation reports "thread target changed" while holding
    /// the scaling lock; another scale operation takes it.
    #[test]
    fn scale_up_from_a_layer_during_scale_down() {
        with_layer(
            "scale_up(0) from a layer, scale_down",
            2,
            Call::ScaleUpZero,
            |pool| {
                assert_eq!(pool.scale_down(1), 1);
            },
        );
    }

    /// Events emitted outside the crate's locks: a layer may call back.
    #[test]
    fn stats_and_spawn_from_a_layer_around_shutdown() {
        for call in [Call::Stats, Call::Spawn] {
            with_layer("stats()/spawn from a layer, shutdown", 1, call, |pool| {
                let handle = pool.spawn(|| 1);
                assert_eq!(handle.join().unwrap(), 1);
                let pending = pool.shutdown_now();
                drop(pending);
                pool.shutdown();
                assert!(pool.spawn(|| 2).join().unwrap_err().is_closed());
            });
        }
    }
}

// ---------------------------------------------------------------------------
// The callbacks of jobs that never run, resubmitting to their full pool
// ---------------------------------------------------------------------------

/// An expired or cancelled job's callbacks (and its closure's destructor)
/// run once the job's place in the bounded queue is free: a callback that
/// submits to its own full pool finds the place it held. Before, the place
/// was given back only after the user code: a `try_spawn` there was refused
/// as full (and counted as rejected), a blocking `spawn` from an expired
/// job's callback hung the only worker (`queued: 1, running: 1` for ever,
/// `wait()` too), and one from a cancelled job's callback kept `cancel()`
/// from returning until a worker was free.
mod unrun_callbacks_on_a_full_pool {
    use super::*;
    use std::time::Instant;

    /// A one-thread pool with a queue of one, its worker held at `gate`.
    fn full_pool(gate: &Arc<Gate>) -> (Executor, Vec<JobHandle<()>>) {
        let pool = Executor::builder()
            .threads(1)
            .max_queue_size(1)
            .thread_name(POOL_NAME)
            .build()
            .unwrap();
        let blockers = occupy_until(&pool, 1, gate);
        (pool, blockers)
    }

    /// What a callback did: `try_spawn` accepted, or `spawn`'s job ran.
    type Verdict = mpsc::Sender<Result<i32, String>>;

    /// Resubmits to `pool` with `try_spawn` (`blocking: false`) or `spawn`,
    /// reporting what came of it.
    fn resubmit(pool: &Executor, blocking: bool, verdict: &Verdict) {
        if blocking {
            // Not joined here: on the worker, the job is queued behind us.
            let verdict = verdict.clone();
            drop(pool.spawn(|| 7).on_complete(move |result| {
                let _ = verdict.send(result.as_ref().map(|v| *v).map_err(kind));
            }));
        } else {
            let outcome = pool.try_spawn(|| 7).map(|_| 7).map_err(|e| e.to_string());
            let _ = verdict.send(outcome);
        }
    }

    fn expired_job_callback(blocking: bool) {
        within(
            LIMIT / 3,
            "an expired job's callback resubmits",
            move || {
                let gate = Gate::new();
                let (pool, blockers) = full_pool(&gate);
                let (tx, rx) = mpsc::channel();
                let inner = pool.clone();
                let expired = pool.send(Job::new(|| 1).deadline(Instant::now()).callback(
                    move |result: &Result<i32, JobError>| {
                        assert!(result.as_ref().unwrap_err().is_expired());
                        resubmit(&inner, blocking, &tx);
                    },
                ));
                gate.open();
                assert!(expired.join().unwrap_err().is_expired());
                let verdict = rx.recv_timeout(LIMIT / 3).expect("the callback reported");
                assert_eq!(verdict, Ok(7), "the expired job's place was still held");
                for blocker in blockers {
                    blocker.join().unwrap();
                }
                pool.wait();
                let stats = pool.stats();
                assert_eq!((stats.expired, stats.rejected), (1, 0), "{stats:?}");
                assert_eq!((stats.queued, stats.running), (0, 0), "{stats:?}");
                pool.shutdown();
            },
        );
    }

    fn cancelled_job_callback(blocking: bool) {
        within(
            LIMIT / 3,
            "a cancelled job's callback resubmits",
            move || {
                let gate = Gate::new();
                let (pool, blockers) = full_pool(&gate);
                let (tx, rx) = mpsc::channel();
                let inner = pool.clone();
                let queued = pool.send(Job::new(|| 1).callback(
                    move |result: &Result<i32, JobError>| {
                        assert!(result.as_ref().unwrap_err().is_cancelled());
                        resubmit(&inner, blocking, &tx);
                    },
                ));
                // The callback runs here, on the test thread, inside `cancel`.
                assert!(queued.cancel());
                if !blocking {
                    let verdict = rx.try_recv().expect("the callback ran inside cancel");
                    assert_eq!(verdict, Ok(7), "the cancelled job's place was still held");
                }
                gate.open();
                if blocking {
                    let verdict = rx.recv_timeout(LIMIT / 3).expect("the resubmitted job ran");
                    assert_eq!(verdict, Ok(7));
                }
                for blocker in blockers {
                    blocker.join().unwrap();
                }
                pool.wait();
                let stats = pool.stats();
                assert_eq!((stats.cancelled, stats.rejected), (1, 0), "{stats:?}");
                assert_eq!((stats.queued, stats.running), (0, 0), "{stats:?}");
                pool.shutdown();
            },
        );
    }

    #[test]
    fn try_spawn_from_an_expired_jobs_callback_finds_its_place() {
        expired_job_callback(false);
    }

    #[test]
    fn spawn_from_an_expired_jobs_callback_does_not_hang_the_worker() {
        expired_job_callback(true);
    }

    #[test]
    fn try_spawn_from_a_cancelled_jobs_callback_finds_its_place() {
        cancelled_job_callback(false);
    }

    #[test]
    fn spawn_from_a_cancelled_jobs_callback_lets_cancel_return() {
        cancelled_job_callback(true);
    }

    /// The closure's destructor is user code too: a cancelled job whose
    /// captured value resubmits when dropped finds the place free.
    #[test]
    fn try_spawn_from_a_cancelled_jobs_closure_drop_finds_its_place() {
        within(LIMIT / 3, "a cancelled closure's drop resubmits", || {
            struct OnDrop(Executor, Verdict);
            impl Drop for OnDrop {
                fn drop(&mut self) {
                    resubmit(&self.0, false, &self.1);
                }
            }
            let gate = Gate::new();
            let (pool, blockers) = full_pool(&gate);
            let (tx, rx) = mpsc::channel();
            let capture = OnDrop(pool.clone(), tx);
            let queued = pool.spawn(move || drop(capture));
            assert!(queued.cancel());
            assert_eq!(rx.try_recv().expect("dropped inside cancel"), Ok(7));
            gate.open();
            for blocker in blockers {
                blocker.join().unwrap();
            }
            pool.wait();
            assert_eq!(pool.stats().rejected, 0);
            pool.shutdown();
        });
    }
}
