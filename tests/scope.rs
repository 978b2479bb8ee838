//! `Executor::scope`: jobs that borrow, a scope that returns only after all
//! of them finished, panics resumed after the rest finished, and scopes on
//! the pool's own threads that cannot deadlock.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::{occupy, quiet_worker_panics, release, within, Tracked, LIMIT};
use thread_exec::{Builder, Executor};

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
