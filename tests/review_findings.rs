//! Findings of the review of df0bc45..333b05f (priority lanes, scoped jobs,
//! first-wait spin, event loads). Each test states the behaviour the docs
//! promise; a failing one is a bug found by the review.

mod common;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Mutex;

use common::{occupy, release, within, LIMIT};
use thread_exec::{Executor, Scope, ScopedJoinHandle};

/// A job's result that joins a sibling's handle when it is dropped.
struct JoinsOnDrop<'scope> {
    sibling: Option<ScopedJoinHandle<'scope, u32>>,
    outcome: &'scope Mutex<Option<Result<u32, String>>>,
}

impl Drop for JoinsOnDrop<'_> {
    fn drop(&mut self) {
        let sibling = self.sibling.take().unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sibling.join()))
            .map_err(|payload| {
                payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            })
            .and_then(|joined| joined.map_err(|error| error.to_string()));
        *self.outcome.lock().unwrap() = Some(outcome);
    }
}

/// `finish` drops "any result no handle took" while a handle of that job is
/// still alive (inside another unjoined result). Joining that handle then
/// hits `unreachable!` in `Record::take` ("a scoped job's result is taken
/// once"), instead of returning the value. `std::thread::scope` drops a
/// result only once its handle is gone, so the same join returns `Ok(7)`.
#[test]
fn a_handle_joined_by_an_unjoined_result_gets_its_value() {
    within(LIMIT, "join from a result's destructor", || {
        let pool = Executor::new(2);
        let outcome = Mutex::new(None);
        pool.scope(|s| {
            let sibling = s.spawn(|| 7_u32);
            let outcome = &outcome;
            // Unjoined: the scope's end drops its result, which joins
            // `sibling`, listed (and so dropped by the end) before it.
            let _ = s.spawn(move || JoinsOnDrop {
                sibling: Some(sibling),
                outcome,
            });
        });
        let outcome = outcome.into_inner().unwrap();
        assert_eq!(
            outcome,
            Some(Ok(7)),
            "the sibling's join from the result's destructor"
        );
    });
}

/// Panics once, at its first ERROR event on the thread it is the default
/// of (a `run_caught` report).
struct Saboteur(AtomicBool);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Saboteur {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::ERROR && self.0.swap(false, SeqCst) {
            panic!("the subscriber fails on an error report");
        }
    }
}

/// A result that, when the scope's end drops it, spawns one more job into
/// the scope and then panics.
struct SpawnsThenPanics<'scope, 'env> {
    scope: &'scope Scope<'scope, 'env>,
    late_job_ran: &'env AtomicBool,
}

impl Drop for SpawnsThenPanics<'_, '_> {
    fn drop(&mut self) {
        let ran = self.late_job_ran;
        let _ = self.scope.spawn(move || ran.store(true, SeqCst));
        panic!("a result's destructor panics");
    }
}

/// Invariant 5 says the scope's end "never unwinds". It does when the
/// tracing subscriber panics on the report of a panicking result
/// destructor (`drop_caught` -> `run_caught` -> `tracing::error!`): the
/// scope then returns (unwinding) while a job it spawned is still QUEUED,
/// its runner on the pool; a worker runs that job's borrowing closure after
/// `scope` has returned. Here the borrow is still alive (the pool is shut
/// down before it is dropped), so the test observes, not commits, the
/// use-after-scope: the late job has not run when `scope` returns.
#[test]
fn the_scope_end_does_not_unwind_through_a_panicking_subscriber() {
    within(LIMIT, "scope end vs a panicking subscriber", || {
        common::quiet_worker_panics();
        let pool = Executor::new(1);
        let (gate, blockers) = occupy(&pool, 1); // runners stay queued
        let late_job_ran = AtomicBool::new(false);
        let subscriber = tracing_subscriber::layer::SubscriberExt::with(
            tracing_subscriber::registry(),
            Saboteur(AtomicBool::new(true)),
        );
        let unwound = tracing::subscriber::with_default(subscriber, || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                pool.scope(|s| {
                    let late_job_ran = &late_job_ran;
                    let _ = s.spawn(move || SpawnsThenPanics {
                        scope: s,
                        late_job_ran,
                    });
                });
            }))
            .is_err()
        });
        let ran_within_scope = late_job_ran.load(SeqCst);
        release(&gate, blockers);
        pool.shutdown(); // the late job runs here, if it did not already
        assert!(
            ran_within_scope,
            "a scoped job was still queued when `scope` returned (unwound: {unwound})"
        );
    });
}

/// Risk (design): `Scope::spawn` from the scope's own thread blocks while a
/// bounded queue is full, without running the scope's own queued jobs,
/// although it is "the caller" that runs jobs nobody started. With one
/// worker busy in a job that waits for a queued sibling, the next spawn
/// waits for room that only that sibling's start would make: a deadlock
/// (bounded here by the waiting job's own 2 s limit). `std::thread::scope`
/// and rayon's scope (whose spawn never blocks) both run this.
#[test]
fn a_scope_spawning_into_a_full_pool_runs_its_own_queued_jobs() {
    within(LIMIT, "scope spawn on a full bounded pool", || {
        let pool = thread_exec::Builder::new()
            .threads(1)
            .max_queue_size(1)
            .build()
            .unwrap();
        let flag = AtomicBool::new(false);
        let (started_tx, started) = std::sync::mpsc::channel();
        let saw_flag = pool.scope(|s| {
            let flag = &flag;
            let waiter = s.spawn(move || {
                started_tx.send(()).unwrap();
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
                while !flag.load(SeqCst) && std::time::Instant::now() < deadline {
                    std::thread::yield_now();
                }
                flag.load(SeqCst)
            });
            started.recv().unwrap(); // the only worker runs `waiter`
            let _setter = s.spawn(move || flag.store(true, SeqCst)); // queued: full
            let _third = s.spawn(|| ()); // waits for room
            waiter.join().unwrap()
        });
        assert!(saw_flag, "the queued sibling ran only after the waiting job gave up");
    });
}
