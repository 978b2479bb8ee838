//! No thread leaks: thousands of scale operations, and hundreds of pools
//! built, used and stopped (by `shutdown`, by `shutdown_now`, by dropping the
//! last clone, by keep-alive expiry), leave the process's OS thread count
//! (`/proc/self/task`) where it started.
//!
//! Its own test binary with a single `#[test]`, so that no other test's
//! threads come and go while it counts.

mod common;

use std::time::Duration;

use common::{eventually, os_threads, within, LIMIT};
use thread_exec::{Builder, Executor};

fn back_to(baseline: usize, what: &str) {
    eventually(LIMIT, what, || os_threads() == baseline);
}

/// 2000 alternating `scale_up(1)` / `scale_down(1)` on a pool of 2 (and a
/// round of `set_threads` swings): the pool ends with its 2 threads, every
/// retired one gone.
fn scale_up_and_down_thousands_of_times(baseline: usize) {
    let pool = Executor::new(2);
    eventually(LIMIT, "a pool of 2", || os_threads() == baseline + 2);
    let pool = within(LIMIT, "2000 scale operations", move || {
        for i in 0..1000 {
            assert_eq!(pool.scale_up(1).unwrap(), 3, "round {i}");
            assert_eq!(pool.scale_down(1), 2, "round {i}");
            if i % 100 == 0 {
                // Now and then with a job in flight.
                assert_eq!(pool.spawn(move || i).join().unwrap(), i);
            }
        }
        for n in [8, 1, 6, 2, 5, 2] {
            assert_eq!(pool.set_threads(n).unwrap(), n);
        }
        pool
    });
    eventually(LIMIT, "back to 2 threads after scaling", || {
        pool.stats().threads == 2 && os_threads() == baseline + 2
    });
    assert_eq!(pool.spawn(|| "alive").join().unwrap(), "alive");
    within(LIMIT, "shutdown", move || pool.shutdown());
    back_to(
        baseline,
        "every thread gone after the scaling pool's shutdown",
    );
}

/// Pools built, used and stopped in every way, hundreds of times.
fn build_use_stop_hundreds_of_pools(baseline: usize) {
    within(LIMIT, "pool cycles", || {
        for cycle in 0..300_usize {
            let pool = Builder::new().threads(2).build().unwrap();
            let handle = pool.spawn(move || cycle * 2);
            match cycle % 3 {
                0 => pool.shutdown(),
                1 => {
                    // Nothing is queued behind the job for long; whatever is
                    // handed back is dropped (cancelled).
                    drop(pool.shutdown_now());
                    pool.shutdown();
                }
                _ => drop(pool), // last clone: threads finish and exit alone
            }
            match handle.join() {
                Ok(value) => assert_eq!(value, cycle * 2),
                Err(err) => assert!(err.is_cancelled(), "cycle {cycle}: {err}"),
            }
        }
    });
    back_to(baseline, "every pool's threads gone");

    within(LIMIT, "dynamic pool cycles", || {
        for cycle in 0..100_usize {
            let pool = Builder::new()
                .min_threads(0)
                .max_threads(3)
                .keep_alive(Duration::from_millis(1))
                .build()
                .unwrap();
            let handles: Vec<_> = (0..3).map(|i| pool.spawn(move || cycle + i)).collect();
            for (i, handle) in handles.into_iter().enumerate() {
                assert_eq!(handle.join().unwrap(), cycle + i);
            }
            if cycle % 2 == 0 {
                pool.shutdown();
            }
        }
    });
    back_to(baseline, "every dynamic pool's threads gone");
}

#[test]
fn scaling_and_pool_lifecycles_leak_no_thread() {
    let baseline = os_threads();
    scale_up_and_down_thousands_of_times(baseline);
    build_use_stop_hundreds_of_pools(baseline);
}
