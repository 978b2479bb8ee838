//! Scaling through the public API: `scale_up`, `scale_down` (with its clamp),
//! `set_threads`; prompt retirement of idle and busy workers; resizing under
//! load without losing or repeating a job; concurrent scale operations; dynamic
//! pools growing and shrinking; thread names, stack size and start/stop hooks;
//! and exact `stats()` once the pool is quiet.
//!
//! OS-level thread counts live in `os_threads_scaling.rs` and
//! `os_threads_leak.rs` (their own binaries): here, tests run in parallel, so
//! thread counts come from `stats().threads`.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{eventually, occupy, rendezvous, within, Gate, Rng, LIMIT};
use thread_exec::{Builder, Executor};

fn wait(pool: &Executor) {
    let pool = pool.clone();
    within(LIMIT, "wait", move || pool.wait());
}

fn shutdown(pool: &Executor) {
    let pool = pool.clone();
    within(LIMIT, "shutdown", move || pool.shutdown());
}

#[test]
fn scale_up_returns_the_new_target_with_its_threads_started() {
    let pool = Executor::new(2);
    assert_eq!(pool.scale_up(3).unwrap(), 5);
    assert_eq!(pool.stats().threads, 5, "the threads exist when it returns");
    rendezvous(&pool, 5);
    assert_eq!(pool.scale_up(0).unwrap(), 5);
    assert_eq!(pool.scale_up(1).unwrap(), 6);
    assert_eq!(pool.stats().threads, 6);
    rendezvous(&pool, 6);
}

#[test]
fn scale_down_returns_the_new_target_clamped_at_one() {
    let pool = Executor::new(4);
    assert_eq!(pool.scale_down(1), 3);
    assert_eq!(pool.scale_down(0), 3, "scale_down(0) reads the target");
    assert_eq!(pool.scale_down(10), 1, "clamped at one thread");
    assert_eq!(pool.scale_down(1), 1);
    eventually(LIMIT, "threads retire to 1", || pool.stats().threads == 1);
    assert_eq!(pool.spawn(|| 7).join().unwrap(), 7);
}

#[test]
fn scale_down_of_a_dynamic_pool_is_clamped_at_min_threads() {
    let pool = Builder::new()
        .min_threads(2)
        .max_threads(6)
        .build()
        .unwrap();
    assert_eq!(pool.scale_down(1), 5);
    assert_eq!(pool.scale_down(100), 2, "clamped at min_threads");
    assert_eq!(pool.scale_down(1), 2);
    assert_eq!(pool.stats().threads, 2);
    // Raising it again raises max_threads; min_threads stays.
    assert_eq!(pool.scale_up(2).unwrap(), 4);
    assert_eq!(pool.scale_down(5), 2);
}

#[test]
fn set_threads_moves_the_target_both_ways() {
    let pool = Executor::new(2);
    assert_eq!(pool.set_threads(5).unwrap(), 5);
    assert_eq!(pool.stats().threads, 5);
    rendezvous(&pool, 5);
    assert_eq!(pool.set_threads(1).unwrap(), 1);
    eventually(LIMIT, "threads retire to 1", || pool.stats().threads == 1);
    assert_eq!(pool.set_threads(3).unwrap(), 3);
    assert_eq!(pool.stats().threads, 3);
    rendezvous(&pool, 3);
    assert_eq!(pool.set_threads(3).unwrap(), 3, "no change");
    assert_eq!(pool.scale_down(0), 3);
}

#[test]
fn scale_operations_after_shutdown_change_nothing() {
    let pool = Executor::new(3);
    shutdown(&pool);
    let err = pool.scale_up(2).unwrap_err();
    assert!(err.is_closed(), "{err}");
    assert!(pool.set_threads(5).unwrap_err().is_closed());
    assert_eq!(pool.scale_down(1), 3, "the target is left where it was");
    assert_eq!(pool.scale_down(0), 3);
    assert_eq!(pool.stats().threads, 0);
}

#[test]
fn idle_workers_retire_promptly_after_scale_down() {
    let pool = Executor::new(4);
    assert_eq!(pool.scale_down(3), 1);
    eventually(LIMIT, "idle workers retire", || pool.stats().threads == 1);
    // The survivor still works, and the pool grows back on demand.
    assert_eq!(pool.spawn(|| 1).join().unwrap(), 1);
    assert_eq!(pool.scale_up(1).unwrap(), 2);
    rendezvous(&pool, 2);
}

#[test]
fn busy_workers_retire_after_their_current_job_without_draining_the_queue() {
    let pool = Executor::new(2);
    let (first_gate, blockers) = occupy(&pool, 2);
    let second_gate = Gate::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let queued: Vec<_> = (0..100)
        .map(|_| {
            let second_gate = Arc::clone(&second_gate);
            let ran = Arc::clone(&ran);
            pool.spawn(move || {
                second_gate.wait();
                ran.fetch_add(1, SeqCst);
            })
        })
        .collect();
    assert_eq!(pool.scale_down(1), 1);
    assert_eq!(pool.stats().threads, 2, "both workers are busy");
    first_gate.open();
    eventually(LIMIT, "a busy worker retires", || pool.stats().threads == 1);
    // The survivor took at most one queued job (it blocks on the second
    // gate): the retiring worker did not wait for the queue to drain.
    let stats = pool.stats();
    assert!(stats.queued >= 99, "retired only after draining: {stats:?}");
    second_gate.open();
    wait(&pool);
    assert_eq!(ran.load(SeqCst), 100, "a queued job was lost");
    let stats = pool.stats();
    assert_eq!(stats.threads, 1);
    assert_eq!(stats.completed, 102);
    drop((blockers, queued));
}

/// A stream of counted jobs while another thread resizes the pool; every
/// job must run exactly once. Returns the pool, quiet.
fn resize_under_load(pool: Executor, jobs: usize) -> Executor {
    let runs: Arc<Vec<AtomicU8>> = Arc::new((0..jobs).map(|_| AtomicU8::new(0)).collect());
    let submitting = Arc::new(AtomicBool::new(true));
    // The submissions start after the scaler's first operation, so that
    // resizing overlaps them however fast they are.
    let (scaling_tx, scaling) = std::sync::mpsc::channel();
    let scaler = {
        let pool = pool.clone();
        let submitting = Arc::clone(&submitting);
        thread::spawn(move || {
            let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
            let mut operations = 0;
            while operations == 0 || submitting.load(SeqCst) {
                match rng.below(3) {
                    0 => {
                        pool.scale_up(1 + rng.below(3)).unwrap();
                    }
                    1 => {
                        pool.scale_down(1 + rng.below(3));
                    }
                    _ => {
                        pool.set_threads(1 + rng.below(6)).unwrap();
                    }
                }
                operations += 1;
                if operations == 1 {
                    scaling_tx.send(()).unwrap();
                }
                thread::sleep(Duration::from_micros(200));
            }
            operations
        })
    };
    scaling
        .recv_timeout(common::LIMIT)
        .expect("the scaler started");
    let pool = common::submit_counted(pool, &runs, jobs);
    submitting.store(false, SeqCst);
    let operations = scaler.join().unwrap();
    assert!(operations > 0);
    wait(&pool);
    for (i, count) in runs.iter().enumerate() {
        assert_eq!(count.load(SeqCst), 1, "job {i} ran a wrong number of times");
    }
    assert_eq!(pool.stats().completed, jobs as u64);
    pool
}

#[test]
fn resizing_a_fixed_pool_under_load_loses_no_job_and_runs_none_twice() {
    let pool = resize_under_load(Executor::new(2), 3000);
    assert_eq!(pool.set_threads(3).unwrap(), 3);
    eventually(LIMIT, "threads converge to 3", || pool.stats().threads == 3);
    rendezvous(&pool, 3);
}

#[test]
fn resizing_a_dynamic_pool_under_load_loses_no_job_and_runs_none_twice() {
    let pool = Builder::new()
        .min_threads(1)
        .max_threads(4)
        .keep_alive(Duration::from_millis(20))
        .build()
        .unwrap();
    let pool = resize_under_load(pool, 3000);
    assert_eq!(pool.set_threads(2).unwrap(), 2);
    // min_threads was lowered to at most 2 along the way; idle threads above
    // it expire after keep_alive.
    eventually(LIMIT, "threads shrink to at most 2", || {
        pool.stats().threads <= 2
    });
    rendezvous(&pool, 2);
}

#[test]
fn concurrent_scale_operations_compose_arithmetically() {
    const START: usize = 40;
    const SCALERS: usize = 4;
    const EACH_WAY: usize = 8; // worst case START - SCALERS * EACH_WAY = 8: no clamp
    let pool = Executor::new(START);
    let barrier = Arc::new(Barrier::new(SCALERS));
    let scalers: Vec<_> = (0..SCALERS)
        .map(|s| {
            let pool = pool.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut ops: Vec<bool> = (0..2 * EACH_WAY).map(|i| i < EACH_WAY).collect();
                Rng(0x1234_5678 + s as u64 * 0x9E37).shuffle(&mut ops);
                barrier.wait();
                ops.into_iter()
                    .map(|up| {
                        if up {
                            pool.scale_up(1).unwrap()
                        } else {
                            pool.scale_down(1)
                        }
                    })
                    .collect::<Vec<usize>>()
            })
        })
        .collect();
    let returned: Vec<usize> = within(LIMIT, "scalers", move || {
        scalers
            .into_iter()
            .flat_map(|scaler| scaler.join().unwrap())
            .collect()
    });
    assert_eq!(pool.scale_down(0), START, "ups and downs cancel out");
    // No clamp: every intermediate target stayed in range.
    let floor = START - SCALERS * EACH_WAY;
    let ceiling = START + SCALERS * EACH_WAY;
    assert!(returned.iter().all(|&t| (floor..=ceiling).contains(&t)));
    eventually(LIMIT, "threads converge to the target", || {
        pool.stats().threads == START
    });
    rendezvous(&pool, START);
    shutdown(&pool);
}

#[test]
fn a_dynamic_pool_grows_to_max_threads_under_demand() {
    let pool = Builder::new()
        .min_threads(1)
        .max_threads(4)
        .build()
        .unwrap();
    assert_eq!(pool.stats().threads, 1);
    // Four jobs that must all run at once: only a pool of four finishes them.
    rendezvous(&pool, 4);
    assert_eq!(pool.stats().threads, 4);
    // It never grows past max_threads.
    let (gate, blockers) = occupy(&pool, 4);
    let extra: Vec<_> = (0..10).map(|i| pool.spawn(move || i)).collect();
    assert_eq!(pool.stats().threads, 4);
    gate.open();
    wait(&pool);
    drop((blockers, extra));
}

#[test]
fn a_dynamic_pool_shrinks_back_to_min_threads_after_keep_alive() {
    let pool = Builder::new()
        .min_threads(1)
        .max_threads(4)
        .keep_alive(Duration::from_millis(100))
        .build()
        .unwrap();
    rendezvous(&pool, 4);
    eventually(LIMIT, "idle threads above min expire", || {
        pool.stats().threads == 1
    });
    // And grows again on the next burst.
    rendezvous(&pool, 3);
    eventually(LIMIT, "and shrink again", || pool.stats().threads == 1);
}

#[test]
fn a_dynamic_pool_with_min_zero_starts_empty_and_still_runs_jobs() {
    let pool = Builder::new()
        .min_threads(0)
        .max_threads(2)
        .keep_alive(Duration::from_millis(50))
        .build()
        .unwrap();
    assert_eq!(pool.stats().threads, 0);
    assert_eq!(
        within(LIMIT, "first job", {
            let pool = pool.clone();
            move || pool.spawn(|| 11).join()
        })
        .unwrap(),
        11
    );
    eventually(LIMIT, "back to zero threads", || pool.stats().threads == 0);
    // Empty again, and a job still finds a thread.
    assert_eq!(
        within(LIMIT, "job on an empty pool", {
            let pool = pool.clone();
            move || pool.spawn(|| 12).join()
        })
        .unwrap(),
        12
    );
    shutdown(&pool);
}

#[test]
fn invalid_thread_settings_are_build_errors() {
    let err = Builder::new()
        .min_threads(5)
        .max_threads(2)
        .build()
        .unwrap_err();
    assert!(!err.to_string().is_empty());
    assert!(Builder::new().max_threads(0).build().is_err());
    assert!(Builder::new()
        .min_threads(0)
        .max_threads(0)
        .build()
        .is_err());
    assert!(Builder::new().threads(0).build().is_err());
    assert!(Builder::new().threads(4).min_threads(5).build().is_err());
    // Valid edges.
    assert_eq!(
        Builder::new()
            .min_threads(2)
            .max_threads(2)
            .build()
            .unwrap()
            .stats()
            .threads,
        2
    );
    assert_eq!(
        Builder::new()
            .min_threads(0)
            .max_threads(1)
            .build()
            .unwrap()
            .stats()
            .threads,
        0
    );
}

#[test]
fn threads_are_named_name_dash_n() {
    let pool = Builder::new()
        .threads(3)
        .thread_name("scaled")
        .build()
        .unwrap();
    let names = Arc::new(Mutex::new(BTreeSet::new()));
    let barrier = Arc::new(Barrier::new(3));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let names = Arc::clone(&names);
            let barrier = Arc::clone(&barrier);
            pool.spawn(move || {
                barrier.wait(); // one job per thread
                let name = thread::current().name().unwrap().to_owned();
                names.lock().unwrap().insert(name);
            })
        })
        .collect();
    within(LIMIT, "name jobs", move || {
        for handle in handles {
            handle.join().unwrap();
        }
    });
    let expected: BTreeSet<String> = (0..3).map(|i| format!("scaled-{i}")).collect();
    assert_eq!(*names.lock().unwrap(), expected);

    // A thread started by scale_up takes the next number.
    assert_eq!(pool.scale_down(2), 1);
    eventually(LIMIT, "down to 1", || pool.stats().threads == 1);
    assert_eq!(pool.scale_up(1).unwrap(), 2);
    let names = within(LIMIT, "name jobs after scale_up", {
        let pool = pool.clone();
        move || {
            let barrier = Arc::new(Barrier::new(2));
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let barrier = Arc::clone(&barrier);
                    pool.spawn(move || {
                        barrier.wait(); // one job per thread
                        thread::current().name().unwrap().to_owned()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<BTreeSet<_>>()
        }
    });
    assert_eq!(names.len(), 2);
    assert!(names.contains("scaled-3"), "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("scaled-")), "{names:?}");
}

#[test]
fn stack_size_is_accepted_and_jobs_run() {
    let pool = Builder::new()
        .threads(2)
        .stack_size(8 << 20)
        .build()
        .unwrap();
    // A job that needs more than the smallest stacks: 1 MiB on the stack.
    let sum = pool
        .spawn(|| {
            let buffer = [1_u8; 1 << 20];
            std::hint::black_box(&buffer)
                .iter()
                .map(|&b| b as u64)
                .sum::<u64>()
        })
        .join()
        .unwrap();
    assert_eq!(sum, 1 << 20);
    assert_eq!(pool.scale_up(1).unwrap(), 3);
    rendezvous(&pool, 3);
}

#[test]
fn start_and_stop_hooks_run_once_per_thread_across_scaling_and_shutdown() {
    let started = Arc::new(Mutex::new(Vec::new()));
    let stopped = Arc::new(Mutex::new(Vec::new()));
    let pool = Builder::new()
        .threads(2)
        .thread_name("hooked")
        .on_thread_start({
            let started = Arc::clone(&started);
            move || {
                let name = thread::current().name().unwrap().to_owned();
                started.lock().unwrap().push(name);
            }
        })
        .on_thread_stop({
            let stopped = Arc::clone(&stopped);
            move || {
                let name = thread::current().name().unwrap().to_owned();
                stopped.lock().unwrap().push(name);
            }
        })
        .build()
        .unwrap();
    assert_eq!(pool.scale_up(3).unwrap(), 5);
    eventually(LIMIT, "five starts", || started.lock().unwrap().len() == 5);
    assert_eq!(pool.scale_down(2), 3);
    eventually(LIMIT, "two stops", || stopped.lock().unwrap().len() == 2);
    assert_eq!(pool.set_threads(4).unwrap(), 4);
    shutdown(&pool);

    let mut started = started.lock().unwrap().clone();
    let mut stopped = stopped.lock().unwrap().clone();
    started.sort();
    stopped.sort();
    let expected: Vec<String> = (0..6).map(|i| format!("hooked-{i}")).collect();
    assert_eq!(started, expected, "one start per thread");
    assert_eq!(stopped, expected, "one stop per thread");
}

#[test]
fn hooks_run_once_per_thread_of_a_dynamic_pool_across_growth_and_expiry() {
    let starts = Arc::new(AtomicUsize::new(0));
    let stops = Arc::new(AtomicUsize::new(0));
    let pool = Builder::new()
        .min_threads(1)
        .max_threads(3)
        .keep_alive(Duration::from_millis(20))
        .on_thread_start({
            let starts = Arc::clone(&starts);
            move || {
                starts.fetch_add(1, SeqCst);
            }
        })
        .on_thread_stop({
            let stops = Arc::clone(&stops);
            move || {
                stops.fetch_add(1, SeqCst);
            }
        })
        .build()
        .unwrap();
    for round in 1..=3 {
        rendezvous(&pool, 3); // grows to 3
        eventually(LIMIT, "expires back to 1", || pool.stats().threads == 1);
        eventually(LIMIT, "stop hooks of the expired threads", || {
            stops.load(SeqCst) == starts.load(SeqCst) - 1
        });
        // The first thread plus (at least) two grown per round.
        assert!(starts.load(SeqCst) > 2 * round);
    }
    shutdown(&pool);
    assert_eq!(
        starts.load(SeqCst),
        stops.load(SeqCst),
        "a start without a stop"
    );
}

#[test]
fn a_panicking_hook_is_caught_and_the_pool_keeps_its_threads() {
    let starts = Arc::new(AtomicUsize::new(0));
    let stops = Arc::new(AtomicUsize::new(0));
    let pool = Builder::new()
        .threads(2)
        .on_thread_start({
            let starts = Arc::clone(&starts);
            move || {
                starts.fetch_add(1, SeqCst);
                panic!("on_thread_start hook panicked (expected by the test)");
            }
        })
        .on_thread_stop({
            let stops = Arc::clone(&stops);
            move || {
                stops.fetch_add(1, SeqCst);
                panic!("on_thread_stop hook panicked (expected by the test)");
            }
        })
        .build()
        .unwrap();
    rendezvous(&pool, 2);
    assert_eq!(pool.stats().threads, 2);
    assert_eq!(pool.scale_up(1).unwrap(), 3);
    rendezvous(&pool, 3);
    let results: Vec<i32> = (0..20)
        .map(|i| pool.spawn(move || i))
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(results, (0..20).collect::<Vec<_>>());
    assert_eq!(pool.stats().threads, 3);
    shutdown(&pool);
    assert_eq!(starts.load(SeqCst), 3);
    assert_eq!(stops.load(SeqCst), 3);
}

#[test]
fn stats_are_exact_once_the_pool_is_quiet() {
    const OK: usize = 50;
    const PANICS: usize = 7;
    const CANCELS: usize = 13;
    let pool = Executor::new(2);
    let (gate, blockers) = occupy(&pool, 2);
    // The three kinds, interleaved in a random order.
    let mut kinds: Vec<u8> = [(0, OK), (1, PANICS), (2, CANCELS)]
        .into_iter()
        .flat_map(|(kind, n)| std::iter::repeat_n(kind, n))
        .collect();
    Rng(0xC0FF_EE00_1234).shuffle(&mut kinds);
    let (mut ok, mut panics, mut to_cancel) = (Vec::new(), Vec::new(), Vec::new());
    for (i, kind) in kinds.into_iter().enumerate() {
        match kind {
            0 => ok.push(pool.spawn(move || i)),
            1 => panics.push(pool.spawn(|| -> usize { panic!("expected test panic") })),
            _ => to_cancel.push(pool.spawn(move || i)),
        }
    }
    for handle in &to_cancel {
        assert!(handle.cancel());
    }
    let busy = pool.stats();
    assert_eq!(busy.running, 2);
    assert_eq!(busy.threads, 2);
    gate.open();
    wait(&pool);

    let stats = pool.stats();
    assert_eq!(
        stats.completed,
        OK as u64 + 2,
        "the OK jobs and the blockers"
    );
    assert_eq!(stats.panicked, PANICS as u64);
    assert_eq!(stats.cancelled, CANCELS as u64);
    assert_eq!((stats.queued, stats.running), (0, 0));
    assert_eq!(stats.threads, 2);
    eventually(LIMIT, "idle threads settle", || {
        pool.stats().idle_threads == 2
    });
    for handle in ok {
        handle.join().unwrap();
    }
    for handle in panics {
        assert!(handle.join().unwrap_err().is_panic());
    }
    for handle in to_cancel {
        assert!(handle.join().unwrap_err().is_cancelled());
    }
    drop(blockers);
    // Scaling does not lose the counts of retired threads.
    pool.scale_down(1);
    eventually(LIMIT, "one thread retires", || pool.stats().threads == 1);
    let after = pool.stats();
    assert_eq!(
        (after.completed, after.panicked, after.cancelled),
        (stats.completed, stats.panicked, stats.cancelled)
    );
}

/// A dynamic pool grown to `max_threads` by a burst shrinks back to
/// `min_threads` while a light steady load continues: the most recently
/// idle worker takes each next job, so the surplus threads stay idle long
/// enough to reach their keep-alive. (Woken oldest first, every thread got
/// a job every few milliseconds and none ever expired.)
#[test]
fn a_grown_dynamic_pool_shrinks_back_under_a_light_steady_load() {
    const KEEP_ALIVE: Duration = Duration::from_millis(300);
    let pool = Executor::builder()
        .min_threads(1)
        .max_threads(4)
        .keep_alive(KEEP_ALIVE)
        .build()
        .unwrap();
    let (gate, busy) = common::occupy(&pool, 4);
    assert_eq!(pool.stats().threads, 4);
    // Before the release: no thread can have been idle longer than this.
    let start = Instant::now();
    common::release(&gate, busy);
    let load = pool.clone();
    let shrunk_after = within(LIMIT, "shrink under a light load", move || {
        let bound = KEEP_ALIVE + Duration::from_secs(3);
        loop {
            // One job every few milliseconds, each awaited.
            load.spawn(|| ()).join().unwrap();
            if load.stats().threads == 1 {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < bound,
                "still {} threads after {bound:?} of light load",
                load.stats().threads
            );
            thread::sleep(Duration::from_millis(3));
        }
    });
    assert!(shrunk_after >= KEEP_ALIVE, "{shrunk_after:?}");
    pool.shutdown();
}
