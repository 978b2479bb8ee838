//! `Executor::scope`: jobs that borrow, a scope that returns only after all
//! of them finished, panics resumed after the rest finished, and scopes on
//! the pool's own threads that cannot deadlock.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::{occupy, quiet_worker_panics, release, within, Tracked, LIMIT};
use thread_exec::{Builder, Executor, Scope, ScopedJoinHandle};

#[test]
fn jobs_borrow_mutably_and_immutably_from_the_caller() {
    within(LIMIT, "borrowing jobs", || {
        let pool = Executor::new(2);
        let mut data: Vec<u64> = (0..1_000).collect();
        let factor = 3_u64; // borrowed by every job
        let sum = AtomicUsize::new(0);
        pool.scope(|s| {
            for chunk in data.chunks_mut(100) {
                let (factor, sum) = (&factor, &sum);
                s.spawn(move || {
                    for x in chunk.iter_mut() {
                        *x *= factor;
                    }
                    sum.fetch_add(chunk.len(), SeqCst);
                });
            }
        });
        assert_eq!(sum.load(SeqCst), 1_000);
        assert!(data.iter().enumerate().all(|(i, &x)| x == 3 * i as u64));
    });
}

#[test]
fn the_scope_returns_only_after_every_job_finished() {
    within(LIMIT, "scope waits for its jobs", || {
        let pool = Executor::new(2);
        let finished = AtomicUsize::new(0);
        for round in 0..50 {
            pool.scope(|s| {
                for _ in 0..8 {
                    s.spawn(|| {
                        std::thread::sleep(Duration::from_micros(200));
                        finished.fetch_add(1, SeqCst);
                    });
                }
            });
            assert_eq!(finished.load(SeqCst), 8 * (round + 1));
        }
    });
}

#[test]
fn join_returns_each_value_and_the_scope_returns_the_closures() {
    within(LIMIT, "join values", || {
        let pool = Executor::new(2);
        let names = ["ada", "grace", "barbara"];
        let lengths = pool.scope(|s| {
            let handles: Vec<_> = names.iter().map(|name| s.spawn(|| name.len())).collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap())
                .collect::<Vec<_>>()
        });
        assert_eq!(lengths, [3, 5, 7]);
    });
}

#[test]
fn an_unjoined_panic_is_resumed_after_every_other_job_finished() {
    quiet_worker_panics();
    within(LIMIT, "unjoined panic", || {
        let pool = Executor::new(2);
        let finished = AtomicUsize::new(0);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                s.spawn(|| panic!("first"));
                for _ in 0..6 {
                    s.spawn(|| {
                        std::thread::sleep(Duration::from_millis(2));
                        finished.fetch_add(1, SeqCst);
                    });
                }
                s.spawn(|| panic!("second"));
                "unreachable value"
            })
        }));
        let payload = outcome.expect_err("the scope must resume the panic");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"first"));
        assert_eq!(finished.load(SeqCst), 6);
        // The pool lives on.
        assert_eq!(pool.spawn(|| 5).join().unwrap(), 5);
    });
}

#[test]
fn a_joined_panic_is_the_joiners_error_and_is_not_resumed() {
    quiet_worker_panics();
    within(LIMIT, "joined panic", || {
        let pool = Executor::new(2);
        let value = pool.scope(|s| {
            let boom = s.spawn(|| -> u8 { panic!("handled") });
            let error = boom.join().unwrap_err();
            assert!(error.is_panic());
            assert!(error.to_string().contains("handled"), "{error}");
            7
        });
        assert_eq!(value, 7);
    });
}

#[test]
fn the_closures_panic_waits_for_the_jobs_and_wins_over_theirs() {
    quiet_worker_panics();
    within(LIMIT, "closure panic", || {
        let pool = Executor::new(2);
        let finished = AtomicUsize::new(0);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                s.spawn(|| panic!("job"));
                for _ in 0..4 {
                    s.spawn(|| {
                        std::thread::sleep(Duration::from_millis(2));
                        finished.fetch_add(1, SeqCst);
                    });
                }
                panic!("closure");
            })
        }));
        let payload = outcome.expect_err("the closure's panic is resumed");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"closure"));
        assert_eq!(finished.load(SeqCst), 4);
    });
}

#[test]
fn a_scope_inside_a_job_of_a_one_thread_pool_finishes() {
    within(LIMIT, "scope in the only worker's job", || {
        let pool = Executor::new(1);
        let inner = pool.clone();
        let total = pool.spawn(move || {
            let data: Vec<u32> = (1..=100).collect();
            inner.scope(|s| {
                let handles: Vec<_> = data
                    .chunks(10)
                    .map(|chunk| s.spawn(move || chunk.iter().sum::<u32>()))
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum::<u32>()
            })
        });
        assert_eq!(total.join().unwrap(), 5_050);
    });
}

#[test]
fn a_scope_inside_a_job_whose_pool_is_full_finishes() {
    within(LIMIT, "scope in a job, bounded full queue", || {
        let pool = Builder::new().threads(1).max_queue_size(1).build().unwrap();
        let inner = pool.clone();
        let counted = pool.spawn(move || {
            let count = AtomicUsize::new(0);
            inner.scope(|s| {
                for _ in 0..100 {
                    s.spawn(|| count.fetch_add(1, SeqCst));
                }
            });
            count.into_inner()
        });
        assert_eq!(counted.join().unwrap(), 100);
        pool.wait();
        let stats = pool.stats();
        assert_eq!((stats.queued, stats.running), (0, 0));
    });
}

#[test]
fn nested_scopes_and_jobs_that_spawn_in_their_scope_all_finish() {
    within(LIMIT, "nested scopes", || {
        let pool = Executor::new(2);
        let count = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    // A job spawning more jobs into the same scope.
                    for _ in 0..4 {
                        s.spawn(|| count.fetch_add(1, SeqCst));
                    }
                    // And a scope of its own on the same pool.
                    pool.scope(|inner| {
                        for _ in 0..4 {
                            inner.spawn(|| count.fetch_add(1, SeqCst));
                        }
                    });
                });
            }
        });
        assert_eq!(count.load(SeqCst), 4 * 8);
    });
}

#[test]
fn a_scope_of_a_shut_down_pool_runs_its_jobs_on_the_caller() {
    within(LIMIT, "scope after shutdown", || {
        let pool = Executor::new(2);
        pool.shutdown();
        let caller = std::thread::current().id();
        let mut ran_on = Vec::new();
        pool.scope(|s| {
            let handles: Vec<_> = (0..3)
                .map(|_| s.spawn(|| std::thread::current().id()))
                .collect();
            ran_on.extend(handles.into_iter().map(|h| h.join().unwrap()));
        });
        assert_eq!(ran_on, [caller; 3]);
    });
}

#[test]
fn results_nobody_joined_are_dropped_before_the_scope_returns() {
    within(LIMIT, "unjoined results dropped", || {
        let pool = Executor::new(2);
        let drops = Arc::new(AtomicUsize::new(0));
        pool.scope(|s| {
            for _ in 0..10 {
                let drops = Arc::clone(&drops);
                let _ = s.spawn(move || Tracked(drops));
            }
        });
        assert_eq!(drops.load(SeqCst), 10);
    });
}

#[test]
fn jobs_the_caller_ran_first_are_withdrawn_from_the_pool() {
    within(LIMIT, "withdrawn runners", || {
        // Bounded: a withdrawn entry gives its place back at once.
        let pool = Builder::new().threads(1).max_queue_size(8).build().unwrap();
        let (gate, blockers) = occupy(&pool, 1);
        let ran = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..5 {
                s.spawn(|| ran.fetch_add(1, SeqCst));
            }
            // The only worker is blocked: the scope's end runs all five here.
        });
        assert_eq!(ran.load(SeqCst), 5);
        assert_eq!(
            pool.stats().queued,
            0,
            "the five pool entries were withdrawn"
        );
        release(&gate, blockers);
        pool.wait();
        let stats = pool.stats();
        assert_eq!((stats.completed, stats.cancelled), (1, 5));
    });
}

#[test]
fn shutdown_now_during_a_scope_neither_loses_nor_repeats_a_job() {
    within(LIMIT, "shutdown_now during a scope", || {
        let pool = Executor::new(1);
        let (gate, blockers) = occupy(&pool, 1);
        let runs = Mutex::new(vec![0_u32; 8]);
        let (pending_tx, pending_rx) = mpsc::channel();
        pool.scope(|s| {
            for i in 0..8 {
                let runs = &runs;
                s.spawn(move || runs.lock().unwrap()[i] += 1);
            }
            // Hand the queued entries back mid-scope; run half, drop half.
            let pending = pool.shutdown_now();
            assert_eq!(pending.len(), 8);
            pending_tx.send(pending).unwrap();
        });
        let mut pending = pending_rx.recv().unwrap();
        // After the scope: the entries find their jobs already run.
        for job in pending.drain(..4) {
            job.run();
        }
        drop(pending);
        assert_eq!(*runs.lock().unwrap(), [1; 8]);
        release(&gate, blockers);
    });
}

#[test]
fn many_scopes_at_once_from_plain_threads_and_jobs() {
    within(LIMIT, "concurrent scopes", || {
        let pool = Executor::new(2);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    let mut checks = 0;
                    for round in 0..100 {
                        let values: Vec<usize> = (0..8).map(|i| i * round + t).collect();
                        let doubled = pool.scope(|s| {
                            let handles: Vec<_> =
                                values.iter().map(|v| s.spawn(move || v * 2)).collect();
                            handles
                                .into_iter()
                                .map(|h| h.join().unwrap())
                                .collect::<Vec<_>>()
                        });
                        assert!(doubled.iter().zip(&values).all(|(d, v)| *d == v * 2));
                        checks += 1;
                    }
                    checks
                })
            })
            .collect();
        for thread in threads {
            assert_eq!(thread.join().unwrap(), 100);
        }
        pool.wait();
        let stats = pool.stats();
        assert_eq!(stats.completed + stats.cancelled, 4 * 100 * 8);
        assert_eq!((stats.queued, stats.running), (0, 0));
    });
}

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

/// A result the scope's end drops may hold another job's handle and join
/// it: that job's result is dropped only once its handle is gone, so the
/// join gets the value (as with `std::thread::scope`).
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

/// The scope's end does not unwind, even when the tracing subscriber panics
/// on the report of a panicking result destructor that spawned one more
/// job: that job has run when `scope` returns. (The borrow here outlives
/// the pool, so a regression shows as a late job, not a use after free;
/// the Miri test `scope::tests::a_panicking_subscriber_does_not_end_the_scope_early`
/// checks the unsound case.)
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

/// `Scope::spawn` on a full bounded pool runs the scope's own oldest queued
/// job to make room before it waits: with the only worker busy in a job
/// that waits for a queued sibling, the next spawn would otherwise wait for
/// room that only that sibling's start makes (bounded here by the waiting
/// job's own 2 s limit).
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
        assert!(
            saw_flag,
            "the queued sibling ran only after the waiting job gave up"
        );
    });
}

/// A scoped job's panic belongs to its joiner or its scope, not to the
/// pool's counts (`Executor::scope`): on a worker, its runner completes.
#[test]
fn a_scoped_job_that_panics_on_a_worker_is_its_joiners_not_the_pools() {
    quiet_worker_panics();
    within(LIMIT, "scoped panic not counted", || {
        let pool = Executor::new(1);
        let (started_tx, started) = mpsc::channel();
        pool.scope(|s| {
            let boom = s.spawn(move || {
                started_tx.send(()).unwrap();
                panic!("a scoped job fails on the worker");
            });
            // Started by the worker, not by this join.
            started.recv_timeout(LIMIT).unwrap();
            assert!(boom.join().unwrap_err().is_panic());
        });
        pool.wait();
        let stats = pool.stats();
        assert_eq!(
            (stats.completed, stats.panicked),
            (1, 0),
            "the worker ran one runner, which completed"
        );
        pool.shutdown();
    });
}

/// The pool's queue timeout does not apply to a scoped job (`Scope::spawn`):
/// its runner never expires, so `stats().expired` counts no job that ran.
#[test]
fn a_scoped_job_past_the_queue_timeout_is_not_counted_as_expired() {
    within(LIMIT, "scoped job past the queue timeout", || {
        let pool = Builder::new()
            .threads(1)
            // Long enough for the blocker to start in time on a loaded
            // machine (it is an ordinary job, subject to the timeout).
            .queue_timeout(Duration::from_millis(100))
            .build()
            .unwrap();
        let (gate, blockers) = occupy(&pool, 1);
        pool.scope(|s| {
            let job = s.spawn(|| 7);
            std::thread::sleep(Duration::from_millis(200)); // past the deadline
            release(&gate, blockers);
            // The worker reaches the runner (and expires it).
            common::eventually(LIMIT, "runner reached", || pool.stats().queued == 0);
            assert_eq!(job.join().unwrap(), 7, "the scoped job still runs");
        });
        pool.wait();
        assert_eq!(
            pool.stats().expired,
            0,
            "no job expired: the one queued past its deadline ran"
        );
        pool.shutdown();
    });
}

/// Whether the calling thread is one of a default-named pool's workers.
fn on_a_worker() -> bool {
    std::thread::current()
        .name()
        .is_some_and(|name| name.starts_with("thread-exec"))
}

/// A scoped job's runner that a worker had already claimed when the caller
/// ran the job first (a `join` racing the worker) found nothing to run and
/// was counted as completed; `Executor::scope` says such a runner counts as
/// cancelled. Each job records where it ran: `completed` must count exactly
/// the jobs the workers ran, `cancelled` the ones the caller ran.
#[test]
fn a_runner_whose_job_the_caller_ran_first_counts_as_cancelled_even_if_a_worker_had_claimed_it() {
    within(LIMIT, "runner outcomes", || {
        let pool = Executor::new(1);
        let on_workers = AtomicUsize::new(0);
        let jobs = 3_000;
        pool.scope(|s| {
            for _ in 0..jobs {
                let on_workers = &on_workers;
                let job = s.spawn(move || {
                    if on_a_worker() {
                        on_workers.fetch_add(1, SeqCst);
                    }
                });
                job.join().unwrap();
            }
        });
        pool.wait();
        let stats = pool.stats();
        let on_workers = on_workers.load(SeqCst) as u64;
        assert_eq!(
            (stats.completed, stats.cancelled),
            (on_workers, jobs - on_workers),
            "{stats:?}"
        );
        pool.shutdown();
    });
}

/// `Scope::spawn` into a full bounded pool looked at every job spawned in
/// the scope so far (a copy of the whole list per spawn): 40,000 jobs with
/// a queue of one took 24 s. Each spawn costs O(1) now; the bound here is
/// generous (the quadratic took tens of seconds in a debug build).
#[test]
fn spawning_into_a_full_pool_costs_the_same_at_the_ten_thousandth_job() {
    within(LIMIT / 3, "40,000 scoped jobs on a queue of one", || {
        let pool = Builder::new().threads(1).max_queue_size(1).build().unwrap();
        let ran = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..40_000 {
                let ran = &ran;
                s.spawn(move || ran.fetch_add(1, SeqCst));
            }
        });
        assert_eq!(ran.load(SeqCst), 40_000);
        pool.shutdown();
    });
}

/// `Scope`'s `Debug` counted joined jobs as unfinished.
#[test]
fn the_scopes_debug_counts_only_unfinished_jobs() {
    within(LIMIT, "scope debug", || {
        let pool = Executor::new(1);
        let (gate, blockers) = occupy(&pool, 1);
        pool.scope(|s| {
            for i in 0..3 {
                assert_eq!(s.spawn(move || i).join().unwrap(), i);
            }
            let text = format!("{s:?}");
            assert!(text.contains("unfinished: 0"), "{text}");
            let _queued = s.spawn(|| ()); // the only worker is held
            let text = format!("{s:?}");
            assert!(text.contains("unfinished: 1"), "{text}");
        });
        release(&gate, blockers);
        pool.shutdown();
    });
}
