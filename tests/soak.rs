//! Soak: rounds of random concurrent operations on one pool, each round
//! followed by a conservation check once the pool is quiet.
//!
//! Several submitter threads spawn, `try_spawn`, send and `try_send` with
//! callbacks, `spawn_async`, `run` (to completion, or polled once and
//! dropped), cancel, attach `on_complete`, join and drop handles taken from a
//! shared heap, scale up and down and set the thread count, read `stats`,
//! sometimes `wait`, and once in a while `shutdown_now` mid-round, running
//! some of the pending jobs and dropping the others. Jobs sometimes panic,
//! sometimes sleep a few µs, sometimes loop on `is_cancelled` (returning
//! early once their handle cancels them), sometimes spawn and join a child.
//!
//! Every job is tracked: each closure must be dropped exactly once, each
//! result exactly once, each callback run exactly once; every observer of a
//! job's outcome (its callback, its `on_complete` callbacks, its `join`)
//! must agree; an accepted job ran exactly once or was cancelled or handed
//! back; and `stats()` must match the counts: `completed`/`panicked` are the
//! jobs that returned/panicked on the pool's threads, and
//! `completed + panicked + cancelled + handed back == accepted`.
//!
//! `SOAK_SECS` (default 2) sets the duration, `SOAK_SEED` the seed (printed,
//! and shown with any failure). Thread interleavings are not reproducible
//! from the seed, only the operation mix. `SOAK_VERBOSE=1` prints each
//! round's summary. `SOAK_BOUNDED_NESTED=0` makes nested jobs on bounded
//! pools use `try_spawn` instead of a blocking `spawn` (the blocking one
//! deadlocked before the fix that reentrancy.rs's
//! `spawn_on_a_full_queue_from_a_job_while_other_threads_submit` guards).
#![allow(deprecated)] // also covers the deprecated `try_send` and `send_async`, which keep working

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use common::{within, Rng, LIMIT};
use thread_exec::{is_cancelled, Executor, Job, JobError, JobHandle};

const POOL_NAME: &str = "soakpool";
const DEFAULT_SEED: u64 = 0x0050_AC5E_ED00_2026;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|value| {
        let value = value.trim();
        match value.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => value.parse().ok(),
        }
    })
}

/// Nested jobs use a blocking `spawn` on bounded pools too, unless
/// `SOAK_BOUNDED_NESTED=0` (see `Kind::Nested`).
fn bounded_nested_spawns() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| env_u64("SOAK_BOUNDED_NESTED").is_none_or(|on| on != 0))
}

/// Silences the panics the soak provokes on purpose.
fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let expected = info
                .payload_as_str()
                .is_some_and(|text| text.starts_with("expected:"));
            if !expected {
                default(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------
// Per-job records
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Quick,
    Panic,
    Sleep,
    CancelLoop,
    /// Spawns a quick job on its own pool and joins it (on a one-thread or
    /// saturated pool, the join runs it on this worker).
    Nested,
}

const UNSEEN: u8 = 0;
const OK: u8 = 1;
const PANICKED: u8 = 2;
const CANCELLED: u8 = 3;
const CLOSED: u8 = 4;

fn code<T>(result: &Result<T, JobError>) -> u8 {
    match result {
        Ok(_) => OK,
        Err(err) if err.is_panic() => PANICKED,
        Err(err) if err.is_cancelled() => CANCELLED,
        Err(err) if err.is_closed() => CLOSED,
        Err(_) => u8::MAX,
    }
}

/// How a job was submitted, which says what must be true of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Spawn,
    Send,
    TrySpawn,
    TrySend,
    SpawnAsync,
    Run,
}

#[derive(Debug)]
struct Rec {
    id: usize,
    kind: Kind,
    via: Via,
    has_callback: bool,
    runs: AtomicU8,
    on_pool: AtomicBool,
    closure_drops: AtomicU8,
    result_drops: AtomicU8,
    callback_runs: AtomicU8,
    on_complete_expected: AtomicU8,
    on_complete_runs: AtomicU8,
    /// The outcome, as the first observer saw it; `mismatch` if a later one
    /// saw another.
    outcome: AtomicU8,
    mismatch: AtomicBool,
    /// 0 unknown (decided by the outcome), 1 accepted, 2 not accepted.
    accepted: AtomicU8,
    /// A `Run` dropped while pending: nobody sees the outcome.
    unobserved: AtomicBool,
    /// `try_send` handed the whole job back: its callback never runs.
    handed_back_by_try: AtomicBool,
    /// Someone called `cancel` on its handle.
    cancel_requested: AtomicBool,
    /// The job saw `is_cancelled()` turn true.
    saw_stop: AtomicBool,
}

impl Rec {
    fn observe(&self, seen: u8) {
        if let Err(first) = self.outcome.compare_exchange(UNSEEN, seen, SeqCst, SeqCst) {
            if first != seen {
                self.mismatch.store(true, SeqCst);
            }
        }
    }

    fn accepted(&self, yes: bool) {
        self.accepted.store(if yes { 1 } else { 2 }, SeqCst);
    }
}

/// Dropped with the job's closure, run or not.
struct ClosureGuard(Arc<Rec>);

impl Drop for ClosureGuard {
    fn drop(&mut self) {
        self.0.closure_drops.fetch_add(1, SeqCst);
    }
}

/// A job's result: counts its drops.
struct Output(Arc<Rec>);

impl Drop for Output {
    fn drop(&mut self) {
        self.0.result_drops.fetch_add(1, SeqCst);
    }
}

type Handle = (Arc<Rec>, JobHandle<Output>);

/// One round's shared state.
struct Round {
    pool: Executor,
    records: Mutex<Vec<Arc<Rec>>>,
    handles: Mutex<Vec<Handle>>,
    handed_back: AtomicUsize,
    pending_runs: AtomicUsize,
    shut_down: AtomicBool,
    /// When a `shutdown_now` may come, in rounds that have one.
    shutdown_at: Option<Instant>,
    bounded: bool,
    deadline: Instant,
    starts: Arc<AtomicUsize>,
    stops: Arc<AtomicUsize>,
}

impl Round {
    fn record(&self, kind: Kind, via: Via, has_callback: bool) -> Arc<Rec> {
        let mut records = self.records.lock().unwrap();
        let rec = Arc::new(Rec {
            id: records.len(),
            kind,
            via,
            has_callback,
            runs: AtomicU8::new(0),
            on_pool: AtomicBool::new(false),
            closure_drops: AtomicU8::new(0),
            result_drops: AtomicU8::new(0),
            callback_runs: AtomicU8::new(0),
            on_complete_expected: AtomicU8::new(0),
            on_complete_runs: AtomicU8::new(0),
            outcome: AtomicU8::new(UNSEEN),
            mismatch: AtomicBool::new(false),
            accepted: AtomicU8::new(0),
            unobserved: AtomicBool::new(false),
            handed_back_by_try: AtomicBool::new(false),
            cancel_requested: AtomicBool::new(false),
            saw_stop: AtomicBool::new(false),
        });
        records.push(Arc::clone(&rec));
        rec
    }

    fn keep(&self, rec: Arc<Rec>, handle: JobHandle<Output>) {
        self.handles.lock().unwrap().push((rec, handle));
    }

    fn take(&self, rng: &mut Rng) -> Option<Handle> {
        let mut handles = self.handles.lock().unwrap();
        if handles.is_empty() {
            return None;
        }
        let i = rng.below(handles.len());
        Some(handles.swap_remove(i))
    }
}

fn job(
    round: &Arc<Round>,
    rec: &Arc<Rec>,
    sleep_us: u64,
) -> impl FnOnce() -> Output + Send + 'static {
    let guard = ClosureGuard(Arc::clone(rec));
    let round = (rec.kind == Kind::Nested).then(|| Arc::clone(round));
    move || {
        let rec = Arc::clone(&guard.0);
        rec.runs.fetch_add(1, SeqCst);
        let on_pool = thread::current()
            .name()
            .is_some_and(|name| name.starts_with(POOL_NAME));
        rec.on_pool.store(on_pool, SeqCst);
        match rec.kind {
            Kind::Quick => {}
            Kind::Panic => panic!("expected: a soak job's panic"),
            Kind::Sleep => thread::sleep(Duration::from_micros(sleep_us)),
            Kind::Nested => {
                let round = round.expect("a nested job holds its round");
                if round.bounded && !bounded_nested_spawns() {
                    // A blocking spawn from a job on a full bounded queue can
                    // deadlock the pool (reentrancy.rs,
                    // `queued_behind::spawn_on_a_full_queue_from_a_job_while_
                    // other_threads_submit`): `try_spawn` there by default.
                    let child = round.record(Kind::Quick, Via::TrySpawn, false);
                    match round.pool.try_spawn(job(&round, &child, 0)) {
                        Ok(handle) => {
                            child.accepted(true);
                            join(&child, handle);
                        }
                        Err(err) => {
                            child.accepted(false);
                            child.outcome.store(CLOSED, SeqCst);
                            drop(err.into_inner());
                        }
                    }
                } else {
                    let child = round.record(Kind::Quick, Via::Spawn, false);
                    let handle = round.pool.spawn(job(&round, &child, 0));
                    join(&child, handle);
                }
            }
            Kind::CancelLoop => {
                // Cooperative cancellation: stop early once asked, and in
                // any case after 2 ms.
                let until = Instant::now() + Duration::from_millis(2);
                while Instant::now() < until {
                    if is_cancelled() {
                        rec.saw_stop.store(true, SeqCst);
                        break;
                    }
                    thread::yield_now();
                }
            }
        }
        drop(guard);
        Output(rec)
    }
}

fn callback(rec: &Arc<Rec>) -> impl FnOnce(&Result<Output, JobError>) + Send + 'static {
    let rec = Arc::clone(rec);
    move |result| {
        rec.callback_runs.fetch_add(1, SeqCst);
        rec.observe(code(result));
    }
}

fn watch(rec: &Arc<Rec>, handle: JobHandle<Output>) -> JobHandle<Output> {
    rec.on_complete_expected.fetch_add(1, SeqCst);
    let seen = Arc::clone(rec);
    handle.on_complete(move |result| {
        seen.on_complete_runs.fetch_add(1, SeqCst);
        seen.observe(code(result));
    })
}

fn join(rec: &Arc<Rec>, handle: JobHandle<Output>) {
    let result = handle.join();
    rec.observe(code(&result));
    drop(result);
}

// ---------------------------------------------------------------------------
// The submitters
// ---------------------------------------------------------------------------

fn kind(rng: &mut Rng) -> Kind {
    match rng.below(12) {
        0 => Kind::Panic,
        1 | 2 => Kind::Sleep,
        3 => Kind::CancelLoop,
        4 => Kind::Nested,
        _ => Kind::Quick,
    }
}

fn submitter(round: &Arc<Round>, seed: u64) {
    let mut rng = Rng(seed | 1);
    let pool = &round.pool;
    // After a `shutdown_now`, a few more operations meet the closed pool.
    let mut after_close = 200;
    while Instant::now() < round.deadline && after_close > 0 {
        if round.shut_down.load(SeqCst) {
            after_close -= 1;
        }
        let kind = kind(&mut rng);
        let sleep_us = rng.below(20) as u64;
        match rng.below(100) {
            0..=14 => {
                let rec = round.record(kind, Via::Spawn, false);
                let handle = pool.spawn(job(round, &rec, sleep_us));
                round.keep(rec, handle);
            }
            15..=24 => {
                let rec = round.record(kind, Via::Send, true);
                let handle =
                    pool.send(Job::new(job(round, &rec, sleep_us)).callback(callback(&rec)));
                round.keep(rec, handle);
            }
            25..=31 => {
                let rec = round.record(kind, Via::TrySpawn, false);
                match pool.try_spawn(job(round, &rec, sleep_us)) {
                    Ok(handle) => {
                        rec.accepted(true);
                        round.keep(rec, handle);
                    }
                    Err(err) => {
                        // Full or closed: not accepted, handed back unrun.
                        rec.accepted(false);
                        rec.outcome.store(CLOSED, SeqCst);
                        drop(err.into_inner());
                    }
                }
            }
            32..=37 => {
                let rec = round.record(kind, Via::TrySend, true);
                let sent =
                    pool.try_send(Job::new(job(round, &rec, sleep_us)).callback(callback(&rec)));
                match sent {
                    Ok(handle) => {
                        rec.accepted(true);
                        round.keep(rec, handle);
                    }
                    Err(err) => {
                        rec.accepted(false);
                        rec.handed_back_by_try.store(true, SeqCst);
                        rec.outcome.store(CLOSED, SeqCst);
                        drop(err.into_inner());
                    }
                }
            }
            38..=42 => {
                let rec = round.record(kind, Via::SpawnAsync, false);
                match futures::executor::block_on(pool.spawn_async(job(round, &rec, sleep_us))) {
                    Ok(handle) => {
                        rec.accepted(true);
                        round.keep(rec, handle);
                    }
                    Err(err) => {
                        rec.accepted(false);
                        rec.outcome.store(CLOSED, SeqCst);
                        drop(err.into_inner());
                    }
                }
            }
            43..=46 => {
                let rec = round.record(kind, Via::Run, false);
                let mut running = pool.run(job(round, &rec, sleep_us));
                // Polled once and dropped (cancelling it) only where the
                // first poll always queues: an unbounded pool.
                if !round.bounded && rng.below(2) == 0 {
                    let waker = futures::task::noop_waker();
                    match Pin::new(&mut running).poll(&mut Context::from_waker(&waker)) {
                        Poll::Ready(result) => {
                            rec.accepted(!matches!(&result, Err(err) if err.is_closed()));
                            rec.observe(code(&result));
                        }
                        Poll::Pending => {
                            rec.accepted(true);
                            rec.unobserved.store(true, SeqCst);
                        }
                    }
                    drop(running);
                } else {
                    let result = futures::executor::block_on(running);
                    rec.accepted(!matches!(&result, Err(err) if err.is_closed()));
                    rec.observe(code(&result));
                }
            }
            47..=56 => {
                if let Some((rec, handle)) = round.take(&mut rng) {
                    rec.cancel_requested.store(true, SeqCst);
                    handle.cancel();
                    round.keep(rec, handle);
                }
                assert!(!is_cancelled(), "outside any job");
            }
            57..=62 => {
                if let Some((rec, handle)) = round.take(&mut rng) {
                    let handle = watch(&rec, handle);
                    round.keep(rec, handle);
                }
            }
            63..=72 => {
                if let Some((rec, handle)) = round.take(&mut rng) {
                    join(&rec, handle);
                }
            }
            73..=80 => {
                // Detach: the result is dropped on whichever thread lets
                // go last. Without a callback of its own, the job gets an
                // `on_complete` first, so its outcome is still seen.
                if let Some((rec, handle)) = round.take(&mut rng) {
                    let handle = if rec.has_callback {
                        handle
                    } else {
                        watch(&rec, handle)
                    };
                    drop(handle);
                }
            }
            81..=83 => {
                if pool.stats().threads < 6 {
                    let _ = pool.scale_up(1 + rng.below(2));
                }
            }
            84..=86 => {
                pool.scale_down(1 + rng.below(2));
            }
            87..=88 => {
                let _ = pool.set_threads(1 + rng.below(4));
            }
            89..=94 => {
                let stats = pool.stats();
                assert!(stats.threads <= 64, "{stats:?}");
            }
            95..=96 => {
                if rng.below(4) == 0 {
                    pool.wait();
                }
            }
            _ => {
                // Now and then, stop the pool mid-round: run some pending
                // jobs here, settle the others as cancelled.
                let due = round.shutdown_at.is_some_and(|at| Instant::now() >= at);
                if due && !round.shut_down.swap(true, SeqCst) {
                    let pending = pool.shutdown_now();
                    round.handed_back.fetch_add(pending.len(), SeqCst);
                    for job in pending {
                        if rng.below(2) == 0 {
                            round.pending_runs.fetch_add(1, SeqCst);
                            job.run();
                        } else {
                            drop(job);
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// One round
// ---------------------------------------------------------------------------

fn build(rng: &mut Rng, starts: &Arc<AtomicUsize>, stops: &Arc<AtomicUsize>) -> (Executor, bool) {
    let (on_start, on_stop) = (Arc::clone(starts), Arc::clone(stops));
    let mut builder = Executor::builder()
        .thread_name(POOL_NAME)
        .on_thread_start(move || {
            on_start.fetch_add(1, SeqCst);
        })
        .on_thread_stop(move || {
            on_stop.fetch_add(1, SeqCst);
        });
    builder = if rng.below(2) == 0 {
        builder.threads(1 + rng.below(4))
    } else {
        let keep_alive = match rng.below(3) {
            0 => Duration::ZERO,
            1 => Duration::from_micros(200),
            _ => Duration::from_secs(10),
        };
        builder
            .min_threads(rng.below(2))
            .max_threads(2 + rng.below(3))
            .keep_alive(keep_alive)
    };
    let queue = [0, 0, 1, 4, 16][rng.below(5)];
    (
        builder.max_queue_size(queue).build().expect("build"),
        queue != 0,
    )
}

fn round(seed: u64, length: Duration) -> Summary {
    let mut rng = Rng(seed | 1);
    let starts = Arc::new(AtomicUsize::new(0));
    let stops = Arc::new(AtomicUsize::new(0));
    let (pool, bounded) = build(&mut rng, &starts, &stops);
    let round = Arc::new(Round {
        pool,
        records: Mutex::new(Vec::new()),
        handles: Mutex::new(Vec::new()),
        handed_back: AtomicUsize::new(0),
        pending_runs: AtomicUsize::new(0),
        shut_down: AtomicBool::new(false),
        shutdown_at: (rng.below(2) == 0).then(|| Instant::now() + length * 3 / 4),
        bounded,
        deadline: Instant::now() + length,
        starts,
        stops,
    });
    let submitters: Vec<_> = (0..3)
        .map(|i| {
            let round = Arc::clone(&round);
            let seed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i);
            thread::Builder::new()
                .name(format!("submitter-{i}"))
                .spawn(move || submitter(&round, seed))
                .unwrap()
        })
        .collect();
    for submitter in submitters {
        if let Err(payload) = submitter.join() {
            std::panic::resume_unwind(payload);
        }
    }
    check(&round)
}

/// Once the submitters are done: quiesce, stop, settle every handle, and
/// check every job and the pool's counts.
fn check(round: &Round) -> Summary {
    let pool = &round.pool;
    if !pool.is_shutdown() {
        pool.wait();
        let stats = pool.stats();
        assert_eq!((stats.queued, stats.running), (0, 0), "quiet: {stats:?}");
    }
    pool.shutdown();
    let stats = pool.stats();
    assert_eq!(stats.threads, 0, "after shutdown: {stats:?}");
    assert_eq!(
        round.starts.load(SeqCst),
        round.stops.load(SeqCst),
        "every started thread stopped"
    );
    let handles = std::mem::take(&mut *round.handles.lock().unwrap());
    for (rec, handle) in handles {
        join(&rec, handle);
    }
    let records = round.records.lock().unwrap();
    let (mut accepted, mut pool_ok, mut pool_panicked, mut ran_off_pool) = (0, 0, 0, 0);
    for rec in records.iter() {
        let what = format!("job {}: {rec:?}", rec.id);
        assert_eq!(rec.closure_drops.load(SeqCst), 1, "closure drops: {what}");
        let runs = rec.runs.load(SeqCst);
        assert!(runs <= 1, "ran more than once: {what}");
        assert!(!rec.mismatch.load(SeqCst), "observers disagree: {what}");
        assert_eq!(
            rec.on_complete_runs.load(SeqCst),
            rec.on_complete_expected.load(SeqCst),
            "on_complete callbacks: {what}"
        );
        if rec.has_callback {
            let expected = u8::from(!rec.handed_back_by_try.load(SeqCst));
            assert_eq!(rec.callback_runs.load(SeqCst), expected, "callback: {what}");
        }
        let outcome = rec.outcome.load(SeqCst);
        let unobserved = rec.unobserved.load(SeqCst);
        assert!(
            outcome != UNSEEN || (unobserved && rec.via == Via::Run),
            "outcome never seen: {what}"
        );
        let is_accepted = match rec.accepted.load(SeqCst) {
            1 => true,
            2 => false,
            _ => outcome != CLOSED,
        };
        match outcome {
            OK => assert!(runs == 1 && rec.kind != Kind::Panic, "{what}"),
            PANICKED => assert!(runs == 1 && rec.kind == Kind::Panic, "{what}"),
            CANCELLED | CLOSED => assert_eq!(runs, 0, "{what}"),
            UNSEEN => {}
            _ => panic!("unknown outcome: {what}"),
        }
        if outcome == CLOSED {
            assert!(!is_accepted, "closed yet accepted: {what}");
        }
        if !is_accepted {
            assert_eq!(runs, 0, "refused yet ran: {what}");
        }
        if rec.saw_stop.load(SeqCst) {
            assert!(
                rec.cancel_requested.load(SeqCst) || rec.via == Via::Run,
                "is_cancelled() without a cancel: {what}"
            );
        }
        let returned = runs == 1 && rec.kind != Kind::Panic;
        assert_eq!(
            rec.result_drops.load(SeqCst),
            u8::from(returned),
            "result drops: {what}"
        );
        if is_accepted {
            accepted += 1;
        }
        if runs == 1 {
            match (rec.on_pool.load(SeqCst), rec.kind == Kind::Panic) {
                (true, false) => pool_ok += 1,
                (true, true) => pool_panicked += 1,
                (false, _) => ran_off_pool += 1,
            }
        }
    }
    let handed_back = round.handed_back.load(SeqCst) as u64;
    assert_eq!(stats.completed, pool_ok, "completed: {stats:?}");
    assert_eq!(stats.panicked, pool_panicked, "panicked: {stats:?}");
    assert!(
        ran_off_pool <= round.pending_runs.load(SeqCst),
        "{ran_off_pool} jobs ran off the pool, {} pending jobs were run",
        round.pending_runs.load(SeqCst)
    );
    assert_eq!(
        stats.completed + stats.panicked + stats.cancelled + handed_back,
        accepted,
        "accounting: {stats:?}, handed back {handed_back}, {} jobs",
        records.len()
    );
    let count = |outcome: u8| {
        records
            .iter()
            .filter(|rec| rec.outcome.load(SeqCst) == outcome)
            .count()
    };
    let stopped = records
        .iter()
        .filter(|rec| rec.saw_stop.load(SeqCst))
        .count();
    let summary = Summary {
        jobs: records.len(),
        accepted: accepted as usize,
        ok: count(OK),
        panicked: count(PANICKED),
        cancelled: count(CANCELLED),
        refused: count(CLOSED),
        handed_back: handed_back as usize,
        pending_run: round.pending_runs.load(SeqCst),
        stopped_early: stopped,
        shutdowns_now: usize::from(round.shut_down.load(SeqCst)),
    };
    if env_u64("SOAK_VERBOSE").is_some_and(|on| on != 0) {
        eprintln!("{summary:?}");
    }
    summary
}

/// What a round did, to show the mix is what it should be.
#[derive(Debug, Default)]
struct Summary {
    jobs: usize,
    accepted: usize,
    ok: usize,
    panicked: usize,
    cancelled: usize,
    refused: usize,
    handed_back: usize,
    pending_run: usize,
    stopped_early: usize,
    shutdowns_now: usize,
}

impl Summary {
    fn add(&mut self, other: &Summary) {
        self.jobs += other.jobs;
        self.accepted += other.accepted;
        self.ok += other.ok;
        self.panicked += other.panicked;
        self.cancelled += other.cancelled;
        self.refused += other.refused;
        self.handed_back += other.handed_back;
        self.pending_run += other.pending_run;
        self.stopped_early += other.stopped_early;
        self.shutdowns_now += other.shutdowns_now;
    }
}

#[test]
fn soak_random_concurrent_operations_conserve_every_job() {
    quiet_expected_panics();
    let secs = env_u64("SOAK_SECS").unwrap_or(2);
    let seed = env_u64("SOAK_SEED").unwrap_or(DEFAULT_SEED);
    eprintln!("soak: SOAK_SECS={secs} SOAK_SEED={seed:#x}");
    let end = Instant::now() + Duration::from_secs(secs);
    let mut rng = Rng(seed | 1);
    let mut rounds = 0_u64;
    let mut total = Summary::default();
    while rounds == 0 || Instant::now() < end {
        let round_seed = seed ^ (rounds + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let length = Duration::from_millis(50 + rng.below(250) as u64);
        let summary = within(
            LIMIT,
            &format!("soak round {rounds} (SOAK_SEED={seed:#x}, round seed {round_seed:#x})"),
            move || round(round_seed, length),
        );
        total.add(&summary);
        rounds += 1;
    }
    eprintln!("soak: {rounds} rounds, {total:?}");
}
