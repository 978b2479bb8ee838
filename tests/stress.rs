//! Stress and fault injection: exactly-once under many producers, churn of
//! pools built and torn down, a panic storm, and thread-spawn failure. Each
//! runs under a watchdog so a hang fails fast. `STRESS_SCALE=N` multiplies
//! the sizes (see RELIABILITY.md); the defaults fit 2 cores in seconds.

mod common;

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use common::{occupy, within};
use thread_exec::{Executor, JobError};

fn scale() -> usize {
    std::env::var("STRESS_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

const WATCHDOG: Duration = Duration::from_secs(120);

#[test]
fn every_job_runs_exactly_once_under_many_producers() {
    let producers = 4;
    let per_producer = 10_000 * scale();
    within(WATCHDOG, "exactly-once stress", move || {
        // More threads than the machine's 2 cores, so workers are preempted
        // in the middle of the protocol.
        let pool = Executor::new(6);
        let runs: Arc<Vec<AtomicU8>> = Arc::new(
            (0..producers * per_producer)
                .map(|_| AtomicU8::new(0))
                .collect(),
        );
        let threads: Vec<_> = (0..producers)
            .map(|p| {
                let pool = pool.clone();
                let runs = Arc::clone(&runs);
                thread::spawn(move || {
                    let handles: Vec<_> = (0..per_producer)
                        .map(|i| {
                            let index = p * per_producer + i;
                            let runs = Arc::clone(&runs);
                            (
                                index,
                                pool.spawn(move || {
                                    runs[index].fetch_add(1, SeqCst);
                                    index * 2
                                }),
                            )
                        })
                        .collect();
                    for (index, handle) in handles {
                        assert_eq!(handle.join().unwrap(), index * 2);
                    }
                })
            })
            .collect();
        for producer in threads {
            producer.join().unwrap();
        }
        pool.wait();
        for (index, count) in runs.iter().enumerate() {
            assert_eq!(count.load(SeqCst), 1, "job {index} ran {count:?} times");
        }
        let stats = pool.stats();
        assert_eq!(stats.completed, (producers * per_producer) as u64);
        assert_eq!((stats.queued, stats.running), (0, 0));
    });
}

/// The tokio #8056 shape: many short-lived pools, each torn down while
/// quick and slow jobs are in flight, in each of the three ways.
#[test]
fn churn_of_pools_torn_down_mid_flight_never_hangs_or_loses_a_job() {
    for iteration in 0..300 * scale() {
        within(
            Duration::from_secs(20),
            &format!("churn iteration {iteration}"),
            move || {
                let threads = 1 + iteration % 4;
                let pool = Executor::new(threads);
                let ran = Arc::new(AtomicUsize::new(0));
                let jobs = 20;
                let handles: Vec<_> = (0..jobs)
                    .map(|i| {
                        let ran = Arc::clone(&ran);
                        pool.spawn(move || {
                            if i % 5 == 0 {
                                thread::sleep(Duration::from_micros(200));
                            }
                            ran.fetch_add(1, SeqCst);
                        })
                    })
                    .collect();
                match iteration % 3 {
                    0 => {
                        drop(pool); // closes without blocking; the jobs still run
                        for handle in handles {
                            handle.join().unwrap();
                        }
                        assert_eq!(ran.load(SeqCst), jobs);
                    }
                    1 => {
                        pool.shutdown();
                        assert_eq!(ran.load(SeqCst), jobs);
                        for handle in handles {
                            handle.join().unwrap();
                        }
                    }
                    _ => {
                        let pending = pool.shutdown_now();
                        let handed_back = pending.len();
                        for job in pending {
                            job.run();
                        }
                        pool.shutdown();
                        let ok = handles.into_iter().filter(|h| h.is_finished()).count();
                        assert_eq!(ok, jobs, "every handle settled");
                        assert_eq!(
                            ran.load(SeqCst),
                            jobs,
                            "ran on the pool or handed back ({handed_back})"
                        );
                    }
                }
            },
        );
    }
}

#[derive(Debug, PartialEq)]
struct CustomPayload(u32);

#[test]
fn a_panic_storm_is_counted_exactly_and_leaves_the_pool_whole() {
    common::quiet_worker_panics();
    let threads = 3;
    let jobs = 3_000 * scale();
    within(WATCHDOG, "panic storm", move || {
        let pool = Executor::new(threads);
        let handles: Vec<_> = (0..jobs)
            .map(|i| {
                pool.spawn(move || match i % 9 {
                    0 => panic!("static str {i}"),
                    3 => std::panic::panic_any(format!("string {i}")),
                    6 => std::panic::panic_any(CustomPayload(i as u32)),
                    _ => i,
                })
            })
            .collect();
        let mut panics = 0;
        for (i, handle) in handles.into_iter().enumerate() {
            match handle.join() {
                Ok(value) => assert_eq!(value, i),
                Err(err) => {
                    panics += 1;
                    assert!(err.is_panic());
                    let payload = err.into_panic();
                    match i % 9 {
                        // `panic!` with arguments formats into a String.
                        0 => assert_eq!(
                            payload.downcast_ref::<String>(),
                            Some(&format!("static str {i}"))
                        ),
                        3 => assert_eq!(
                            payload.downcast_ref::<String>(),
                            Some(&format!("string {i}"))
                        ),
                        6 => assert_eq!(
                            payload.downcast_ref::<CustomPayload>(),
                            Some(&CustomPayload(i as u32))
                        ),
                        _ => unreachable!("job {i} should not panic"),
                    }
                }
            }
        }
        assert_eq!(panics, jobs / 3);
        let literal = pool
            .spawn(|| -> () { panic!("literal") })
            .join()
            .unwrap_err();
        assert_eq!(
            literal.into_panic().downcast_ref::<&str>(),
            Some(&"literal")
        );
        pool.wait();
        let stats = pool.stats();
        assert_eq!(stats.panicked, (jobs / 3 + 1) as u64);
        assert_eq!(stats.threads, threads);
        // Later jobs still run, on every thread at once.
        common::rendezvous(&pool, threads);
    });
}

/// An absurd stack size makes the OS refuse the thread.
const ABSURD_STACK: usize = 1 << 46;

#[test]
fn a_thread_that_cannot_start_fails_build_cleanly() {
    let started = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&started);
    let err = within(WATCHDOG, "build with failing spawn", move || {
        thread_exec::Executor::builder()
            .threads(2)
            .stack_size(ABSURD_STACK)
            .on_thread_start(move || {
                counter.fetch_add(1, SeqCst);
            })
            .build()
            .unwrap_err()
    });
    assert!(
        err.to_string()
            .starts_with("could not start a worker thread"),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());
    assert_eq!(started.load(SeqCst), 0);
}

#[test]
fn a_dynamic_pool_that_cannot_grow_errors_its_jobs_instead_of_stranding_them() {
    within(WATCHDOG, "dynamic growth failure", || {
        let pool = thread_exec::Executor::builder()
            .min_threads(0)
            .max_threads(2)
            .stack_size(ABSURD_STACK)
            .build()
            .unwrap();
        let (tx, rx) = mpsc::channel::<JobError>();
        for _ in 0..5 {
            let tx = tx.clone();
            let handle = pool.spawn(|| 1);
            thread::spawn(move || tx.send(handle.join().unwrap_err()).unwrap());
        }
        for _ in 0..5 {
            let err = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("a stranded job");
            assert!(err.is_cancelled(), "{err}");
        }
        // The pool is still usable: waits and shutdown return.
        pool.wait();
        assert_eq!(pool.stats().cancelled, 5);
        pool.shutdown();
    });
}

#[test]
fn a_job_that_drops_the_pool_it_runs_on_while_others_queue_does_not_hang() {
    within(WATCHDOG, "drop inside own job with a queue", || {
        let pool = Executor::new(2);
        let (gate, _blockers) = occupy(&pool, 1);
        let ran = Arc::new(AtomicUsize::new(0));
        let inside = pool.clone();
        let (tx, rx) = mpsc::channel();
        pool.spawn(move || {
            drop(inside);
            tx.send(()).unwrap();
        });
        for _ in 0..50 {
            let ran = Arc::clone(&ran);
            pool.spawn(move || ran.fetch_add(1, SeqCst));
        }
        drop(pool);
        rx.recv_timeout(Duration::from_secs(20)).unwrap();
        gate.open();
        common::eventually(Duration::from_secs(20), "queued jobs ran", || {
            ran.load(SeqCst) == 50
        });
    });
}

/// The job slot's handle side raced against its worker side on real
/// threads: every handle is consumed a random way (awaited from a
/// multi-threaded runtime whose tasks hop threads, so the registered waker
/// changes; joined from another thread; given `on_complete` callbacks and
/// dropped; cancelled; dropped at once) while the job runs. Every outcome is
/// counted: each output is dropped exactly once, each callback runs exactly
/// once, and a job either ran or was cancelled, never both.
#[test]
fn handles_racing_their_jobs_settle_and_drop_exactly_once() {
    use common::{Rng, Tracked};
    use std::sync::atomic::AtomicUsize as Count;

    let jobs = 20_000 * scale();
    within(WATCHDOG, "slot races", move || {
        let pool = Executor::new(2);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let (ran, outputs, callbacks, cancelled) = (
            Arc::new(Count::new(0)),
            Arc::new(Count::new(0)),
            Arc::new(Count::new(0)),
            Arc::new(Count::new(0)),
        );
        let mut rng = Rng(0x5107_5eed);
        let mut registered = 0;
        let mut awaited = Vec::new();
        let mut joiners = Vec::new();
        for _ in 0..jobs {
            let (ran_in_job, output) = (Arc::clone(&ran), Arc::clone(&outputs));
            let handle = pool.spawn(move || {
                ran_in_job.fetch_add(1, SeqCst);
                Tracked(output)
            });
            match rng.below(5) {
                0 => awaited.push(runtime.spawn(async move {
                    tokio::task::yield_now().await;
                    handle.await.is_ok()
                })),
                1 => joiners.push(thread::spawn(move || handle.join().is_ok())),
                2 => {
                    registered += 1;
                    let seen = Arc::clone(&callbacks);
                    drop(handle.on_complete(move |_| {
                        seen.fetch_add(1, SeqCst);
                    }));
                }
                3 => {
                    if handle.cancel() {
                        cancelled.fetch_add(1, SeqCst);
                    }
                }
                _ => drop(handle),
            }
            if joiners.len() >= 8 {
                for joiner in joiners.drain(..) {
                    joiner.join().unwrap();
                }
            }
        }
        for joiner in joiners {
            joiner.join().unwrap();
        }
        runtime.block_on(async {
            for task in awaited {
                task.await.unwrap();
            }
        });
        pool.shutdown();
        assert_eq!(ran.load(SeqCst) + cancelled.load(SeqCst), jobs);
        assert_eq!(outputs.load(SeqCst), ran.load(SeqCst));
        assert_eq!(pool.stats().cancelled, cancelled.load(SeqCst) as u64);
        assert_eq!(callbacks.load(SeqCst), registered);
    });
}
