//! Regression tests for defects found by adversarial testing, each named
//! after the bug, with its cause in a comment. Every wait is bounded: a
//! regression fails the test instead of hanging CI.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::{occupy, within, LIMIT};
use thread_exec::{Executor, Job};

/// Counts `on_thread_stop` calls.
fn stop_counter() -> (Arc<AtomicUsize>, impl Fn() + Send + Sync + 'static) {
    let stops = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&stops);
    (stops, move || {
        counter.fetch_add(1, SeqCst);
    })
}

/// `Instant::now() + keep_alive` in the idle wait overflowed for
/// `Duration::MAX`: three of four workers died mid-loop, their idle count was
/// never taken back (`stats()` showed more idle threads than threads), the
/// pool never grew again and `on_thread_stop` never ran for them. A
/// keep-alive past what `Instant` can represent now means "never expire".
#[test]
fn keep_alive_duration_max_neither_kills_workers_nor_skews_idle() {
    within(LIMIT, "keep_alive(Duration::MAX)", || {
        let (stops, on_stop) = stop_counter();
        let pool = Executor::builder()
            .min_threads(1)
            .max_threads(4)
            .keep_alive(Duration::MAX)
            .on_thread_stop(on_stop)
            .build()
            .unwrap();
        // Grow to four threads, then let all of them go idle.
        let (gate, busy) = occupy(&pool, 4);
        gate.open();
        for handle in busy {
            handle.join().unwrap();
        }
        pool.wait();
        common::eventually(LIMIT, "four idle workers", || {
            let stats = pool.stats();
            stats.threads == 4 && stats.idle_threads == 4
        });
        // All four still serve: four jobs meet at a barrier.
        common::rendezvous(&pool, 4);
        let stats = pool.stats();
        assert!(stats.idle_threads <= stats.threads, "{stats:?}");
        pool.shutdown();
        assert_eq!(stops.load(SeqCst), 4);
    });
}

/// `shutdown_timeout(Duration::MAX)` panicked on the same overflow; it now
/// waits as `shutdown` does.
#[test]
fn shutdown_timeout_duration_max_waits_instead_of_panicking() {
    within(LIMIT, "shutdown_timeout(Duration::MAX)", || {
        let pool = Executor::new(2);
        let handle = pool.spawn(|| 5);
        assert!(pool.shutdown_timeout(Duration::MAX));
        assert_eq!(handle.join().unwrap(), 5);
        assert!(pool.shutdown_timeout(Duration::ZERO));
    });
}

/// A NUL byte in the thread name made `std::thread::Builder::spawn` panic:
/// a fixed pool's `build()` panicked, and a `min_threads(0)` pool built, then
/// its first `spawn` panicked after the thread counts were reserved, leaving
/// a phantom thread and a queued job that `wait()` and `shutdown()` waited
/// for forever. The name is checked by `build()`.
#[test]
fn nul_in_thread_name_is_a_build_error_for_every_pool() {
    for builder in [
        Executor::builder().threads(2),
        Executor::builder().min_threads(0).max_threads(2),
    ] {
        let err = builder.thread_name("bad\0name").build().unwrap_err();
        assert!(err.to_string().contains("NUL"), "{err}");
    }
}

/// A payload whose destructor panics, thrown by `on_thread_start`: the
/// hook's panic was caught, but its payload was dropped plainly, so the
/// second panic unwound out of the worker and killed every thread
/// (`join()` and `shutdown()` then hung).
#[test]
fn a_hook_panic_whose_payload_panics_on_drop_keeps_every_worker() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("payload destructor");
        }
    }
    common::quiet_worker_panics();
    within(LIMIT, "hook payload that panics on drop", || {
        let pool = Executor::builder()
            .threads(2)
            .on_thread_start(|| std::panic::panic_any(Bomb))
            .on_thread_stop(|| std::panic::panic_any(Bomb))
            .build()
            .unwrap();
        common::rendezvous(&pool, 2);
        assert_eq!(pool.stats().threads, 2);
        pool.shutdown();
    });
}

thread_local! {
    /// Set on the workers of the concurrent-shutdown test: its destructor
    /// runs after the worker's main function returned, and takes a while,
    /// so a thread that no longer counts as alive has not finished yet.
    static SLOW_EXIT: std::cell::RefCell<Option<SlowExit>> = const { std::cell::RefCell::new(None) };
}

/// Counts, after a pause, that its thread is finishing.
struct SlowExit(Arc<AtomicUsize>);

impl Drop for SlowExit {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(30));
        self.0.fetch_add(1, SeqCst);
    }
}

/// Two threads calling `shutdown()` at once: the first took every join
/// handle, the second found none and returned as soon as no worker was
/// alive, before any worker had been joined (its thread could still be
/// running thread-local destructors). Joins now happen under one lock that
/// every `shutdown` passes through.
#[test]
fn concurrent_shutdowns_each_return_after_the_workers_are_joined() {
    for _ in 0..5 {
        let finished = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&finished);
        let pool = Executor::builder()
            .threads(2)
            .on_thread_start(move || {
                let exit = SlowExit(Arc::clone(&counter));
                SLOW_EXIT.with(|slot| *slot.borrow_mut() = Some(exit));
            })
            .build()
            .unwrap();
        common::rendezvous(&pool, 2);
        let (done_tx, done) = mpsc::channel();
        for _ in 0..2 {
            let pool = pool.clone();
            let done_tx = done_tx.clone();
            let finished = Arc::clone(&finished);
            std::thread::spawn(move || {
                pool.shutdown();
                done_tx.send(finished.load(SeqCst)).unwrap();
            });
        }
        for _ in 0..2 {
            let threads_finished = done.recv_timeout(LIMIT).expect("shutdown hung");
            assert_eq!(
                threads_finished, 2,
                "a shutdown returned before its workers were joined"
            );
        }
    }
}

/// A dynamic pool's growth compared `queued > idle`, and a thread that had
/// been started but not yet reached its loop counted as neither idle nor
/// busy: `scale_up(1000)` with two busy workers and one queued job started
/// 80-108 threads. A thread now counts as idle from its reservation on.
#[test]
fn scale_up_starts_one_thread_for_one_queued_job() {
    within(LIMIT, "scale_up with a backlog of one", || {
        let pool = Executor::builder()
            .min_threads(1)
            .max_threads(2)
            .build()
            .unwrap();
        let (gate, busy) = occupy(&pool, 2);
        let queued = pool.spawn(|| 1);
        assert_eq!(pool.stats().threads, 2);
        assert_eq!(pool.scale_up(1000).unwrap(), 1002);
        assert_eq!(queued.join().unwrap(), 1);
        let threads = pool.stats().threads;
        assert_eq!(threads, 3, "one queued job needs one more thread");
        gate.open();
        for handle in busy {
            handle.join().unwrap();
        }
        pool.shutdown();
    });
}

/// A dynamic pool that cannot start a thread cancels its stranded jobs; it
/// did so holding its scaling lock, running their callbacks and closures'
/// destructors under it, so a callback that submitted again (to retry) or a
/// destructor that scaled the pool deadlocked the submitter.
#[test]
fn stranded_jobs_are_cancelled_outside_the_scaling_lock() {
    /// An absurd stack size makes the OS refuse the thread.
    const ABSURD_STACK: usize = 1 << 46;
    struct ScalesOnDrop(Executor);
    impl Drop for ScalesOnDrop {
        fn drop(&mut self) {
            let _ = self.0.scale_up(1);
        }
    }
    within(LIMIT, "user code of cancelled jobs uses the pool", || {
        let pool = Executor::builder()
            .min_threads(0)
            .max_threads(2)
            .stack_size(ABSURD_STACK)
            .build()
            .unwrap();
        let retry = pool.clone();
        let (retried_tx, retried) = mpsc::channel();
        let guard = ScalesOnDrop(pool.clone());
        let handle = pool.send(
            Job::new(move || {
                let _guard = guard;
            })
            .callback(move |result| {
                assert!(result.as_ref().unwrap_err().is_cancelled());
                let again = retry.spawn(|| ());
                retried_tx.send(again.join().is_err()).unwrap();
            }),
        );
        assert!(handle.join().unwrap_err().is_cancelled());
        assert!(
            retried.recv_timeout(LIMIT).unwrap(),
            "the retry was cancelled too"
        );
        pool.shutdown();
    });
}
