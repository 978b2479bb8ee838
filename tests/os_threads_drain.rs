//! The async drain's timer thread ends with the drain: when it resolves at
//! its deadline, when it resolves early because the pool finished, and
//! when it is dropped while waiting; and no thread is left once the jobs
//! a drain gave up on have ended.
//!
//! Its own test binary with a single `#[test]`, so that no other test's
//! threads come and go while it counts.

mod common;

use std::future::Future;
use std::task::Context;
use std::time::Duration;

use common::{eventually, occupy, os_threads, release, LIMIT};
use thread_exec::Executor;

/// The drain's timer threads alive (`thread-exec-drain`; Linux keeps the
/// first 15 bytes of a thread's name).
fn timers() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .filter(|task| {
            let comm = task.as_ref().unwrap().path().join("comm");
            std::fs::read_to_string(comm).is_ok_and(|name| name.starts_with("thread-exec-dra"))
        })
        .count()
}

fn back_to(baseline: usize, what: &str) {
    eventually(LIMIT, what, || os_threads() == baseline);
}

#[test]
fn the_drain_timer_thread_ends_with_the_drain() {
    let baseline = os_threads();

    // Resolved at the deadline, past a stuck job: the timer ends; the
    // pool's threads exit once the stuck job has.
    let pool = Executor::new(2);
    let (gate, blockers) = occupy(&pool, 1);
    let report = futures::executor::block_on(pool.drain_async(Duration::from_millis(20)));
    assert_eq!(report.still_running(), 1);
    eventually(LIMIT, "the timer exits at the deadline", || timers() == 0);
    release(&gate, blockers);
    back_to(baseline, "the pool's threads exit after the stuck job");

    // Dropped while waiting: the timer thread it started exits.
    let pool = Executor::new(1);
    let (gate, blockers) = occupy(&pool, 1);
    {
        let mut drain = Box::pin(pool.drain_async(Duration::from_secs(3600)));
        let waker = futures::task::noop_waker();
        assert!(drain
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        // The new thread names itself once it runs: wait for the name.
        eventually(LIMIT, "the drain's timer runs", || timers() == 1);
    }
    eventually(LIMIT, "the dropped drain's timer exits", || timers() == 0);
    release(&gate, blockers);
    back_to(baseline, "the pool's thread exits");

    // Resolved early, the pool done: the timer exits too.
    let pool = Executor::new(1);
    let (gate, blockers) = occupy(&pool, 1);
    let waiter = std::thread::spawn({
        let pool = pool.clone();
        move || futures::executor::block_on(pool.drain_async(Duration::from_secs(3600)))
    });
    eventually(LIMIT, "the drain waits with its timer", || timers() == 1);
    release(&gate, blockers);
    let report = waiter.join().unwrap();
    assert!(report.is_complete(), "{report}");
    eventually(LIMIT, "the early drain's timer exits", || timers() == 0);
    back_to(baseline, "no thread left after an early drain");
}
