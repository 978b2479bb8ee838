//! Scaling seen by the operating system: the process's thread count (from
//! `/proc/self/task`) follows the pool's target. Threads that `stats()` no
//! longer counts must really have exited.
//!
//! Its own test binary with a single `#[test]`, so that no other test's
//! threads come and go while it counts. Each scenario starts and ends at the
//! same baseline; the pools are named so the count of their own threads (from
//! `/proc/self/task/*/comm`) is checked too.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{eventually, occupy, os_threads, rendezvous, within, Gate, LIMIT};
use thread_exec::{Builder, Executor};

/// The threads of this process whose name starts with `prefix` (the kernel
/// keeps the first 15 bytes of a thread's name).
fn named_threads(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with(prefix))
        .count()
}

/// Waits until the process has `baseline + pool` threads, `pool` of them
/// named `prefix-N`.
fn converge(baseline: usize, prefix: &str, pool: usize, what: &str) {
    eventually(LIMIT, what, || {
        os_threads() == baseline + pool && named_threads(&format!("{prefix}-")) == pool
    });
}

fn shutdown(pool: Executor) {
    within(LIMIT, "shutdown", move || pool.shutdown());
}

/// `scale_up` returns with its threads started: the OS count is right at
/// once, not eventually (their names follow when they first run).
fn scale_up_starts_os_threads_before_returning(baseline: usize) {
    let pool = Builder::new().threads(1).thread_name("up").build().unwrap();
    converge(baseline, "up", 1, "a pool of 1");
    assert_eq!(pool.scale_up(3).unwrap(), 4);
    assert_eq!(
        os_threads(),
        baseline + 4,
        "scale_up returned before its threads existed"
    );
    // A new thread names itself once it runs, so its name may lag.
    converge(baseline, "up", 4, "the new threads named");
    assert_eq!(pool.set_threads(6).unwrap(), 6);
    assert_eq!(os_threads(), baseline + 6);
    converge(baseline, "up", 6, "the new threads named");
    shutdown(pool);
    converge(baseline, "up", 0, "shutdown joins every thread");
}

/// Idle workers retire promptly: the OS threads are gone, not just uncounted.
fn idle_workers_exit_after_scale_down(baseline: usize) {
    let pool = Builder::new()
        .threads(4)
        .thread_name("idle")
        .build()
        .unwrap();
    converge(baseline, "idle", 4, "a pool of 4");
    assert_eq!(pool.scale_down(3), 1);
    eventually(LIMIT, "stats: 1 thread", || pool.stats().threads == 1);
    converge(baseline, "idle", 1, "idle workers exit after scale_down(3)");
    assert_eq!(pool.spawn(|| 5).join().unwrap(), 5);
    shutdown(pool);
    converge(baseline, "idle", 0, "shutdown");
}

/// A busy worker exits right after its job, while the queue is still full.
fn busy_workers_exit_without_draining_the_queue(baseline: usize) {
    let pool = Builder::new()
        .threads(2)
        .thread_name("busy")
        .build()
        .unwrap();
    let (first_gate, blockers) = occupy(&pool, 2);
    let second_gate = Gate::new();
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..100 {
        let second_gate = Arc::clone(&second_gate);
        let ran = Arc::clone(&ran);
        pool.spawn(move || {
            second_gate.wait();
            ran.fetch_add(1, SeqCst);
        });
    }
    assert_eq!(pool.scale_down(1), 1);
    first_gate.open();
    converge(baseline, "busy", 1, "a busy worker exits after its job");
    assert!(pool.stats().queued >= 99, "{:?}", pool.stats());
    second_gate.open();
    let waiter = pool.clone();
    within(LIMIT, "wait", move || waiter.wait());
    assert_eq!(ran.load(SeqCst), 100);
    drop(blockers);
    shutdown(pool);
    converge(baseline, "busy", 0, "shutdown");
}

/// Resizing under a stream of counted jobs: each runs exactly once, and the
/// OS threads converge to the final target.
fn resizing_under_load_converges(baseline: usize) {
    const JOBS: usize = 3000;
    let pool = Builder::new()
        .threads(2)
        .thread_name("load")
        .build()
        .unwrap();
    let runs: Arc<Vec<AtomicU8>> = Arc::new((0..JOBS).map(|_| AtomicU8::new(0)).collect());
    let submitting = Arc::new(AtomicBool::new(true));
    let scaler = {
        let pool = pool.clone();
        let submitting = Arc::clone(&submitting);
        thread::spawn(move || {
            let mut step = 0_usize;
            while submitting.load(SeqCst) {
                let target = match step % 5 {
                    0 => pool.scale_up(3).unwrap(),
                    1 => pool.scale_down(2),
                    2 => pool.set_threads(1 + step % 7).unwrap(),
                    3 => pool.scale_down(10),
                    _ => pool.set_threads(5).unwrap(),
                };
                assert!(target >= 1);
                step += 1;
                thread::sleep(Duration::from_micros(200));
            }
        })
    };
    let pool = common::submit_counted(pool, &runs, JOBS);
    submitting.store(false, SeqCst);
    scaler.join().unwrap();
    assert_eq!(pool.set_threads(3).unwrap(), 3);
    let waiter = pool.clone();
    within(LIMIT, "wait", move || waiter.wait());
    for (i, count) in runs.iter().enumerate() {
        assert_eq!(count.load(SeqCst), 1, "job {i} ran a wrong number of times");
    }
    assert_eq!(pool.stats().completed, JOBS as u64);
    converge(
        baseline,
        "load",
        3,
        "OS threads converge to the target after resizing",
    );
    assert_eq!(pool.stats().threads, 3);
    rendezvous(&pool, 3);
    shutdown(pool);
    converge(baseline, "load", 0, "shutdown");
}

/// A dynamic pool's threads above `min_threads` exit after `keep_alive`.
fn dynamic_pool_threads_expire(baseline: usize) {
    let pool = Builder::new()
        .min_threads(1)
        .max_threads(4)
        .keep_alive(Duration::from_millis(100))
        .thread_name("dyn")
        .build()
        .unwrap();
    converge(baseline, "dyn", 1, "starts at min_threads");
    rendezvous(&pool, 4);
    converge(baseline, "dyn", 1, "shrinks back after keep_alive");
    shutdown(pool);
    converge(baseline, "dyn", 0, "shutdown");
}

#[test]
fn os_thread_count_follows_the_target() {
    let baseline = os_threads();
    scale_up_starts_os_threads_before_returning(baseline);
    idle_workers_exit_after_scale_down(baseline);
    busy_workers_exit_without_draining_the_queue(baseline);
    resizing_under_load_converges(baseline);
    dynamic_pool_threads_expire(baseline);
}
