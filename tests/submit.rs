//! One way to submit: `spawn`, `send`, `try_spawn`, `spawn_async`, `run` and
//! `try_run` each take a closure or a whole `Job` (callback, priority, queue
//! deadline), and an error hands back what was passed.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::{occupy, release, within, LIMIT};
use thread_exec::{Executor, Job, JobError, Priority};

/// A job whose callback counts into `calls`.
fn counted(
    value: u32,
    calls: &Arc<AtomicUsize>,
) -> Job<impl FnOnce() -> u32 + Send + 'static, impl FnOnce(&Result<u32, JobError>) + Send + 'static>
{
    let calls = Arc::clone(calls);
    Job::new(move || value)
        .priority(Priority::High)
        .queue_timeout(Duration::MAX)
        .callback(move |_| {
            calls.fetch_add(1, SeqCst);
        })
}

#[test]
fn every_submitting_method_takes_a_job() {
    let calls = Arc::new(AtomicUsize::new(0));
    let pool = Executor::new(2);
    assert_eq!(pool.spawn(counted(1, &calls)).join().unwrap(), 1);
    assert_eq!(pool.send(counted(2, &calls)).join().unwrap(), 2);
    assert_eq!(
        pool.try_spawn(counted(3, &calls)).unwrap().join().unwrap(),
        3
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let handle = pool.spawn_async(counted(4, &calls)).await.unwrap();
        assert_eq!(handle.await.unwrap(), 4);
        assert_eq!(pool.run(counted(5, &calls)).await.unwrap(), 5);
        assert_eq!(pool.try_run(counted(6, &calls)).unwrap().await.unwrap(), 6);
        // And closures, as before.
        assert_eq!(pool.run(|| 7).await.unwrap(), 7);
        assert_eq!(pool.try_run(|| 8).unwrap().await.unwrap(), 8);
    });
    pool.wait();
    assert_eq!(calls.load(SeqCst), 6, "each job's callback ran once");
}

#[test]
fn a_refused_job_comes_back_whole_and_its_callback_runs_once_resubmitted() {
    let calls = Arc::new(AtomicUsize::new(0));
    let pool = Executor::builder()
        .threads(1)
        .max_queue_size(1)
        .build()
        .unwrap();
    let (gate, blockers) = occupy(&pool, 1);
    let filler = pool.spawn(|| 0);
    let refused = pool.try_run(counted(1, &calls)).unwrap_err();
    assert!(refused.is_full());
    let job: Job<_, _> = refused.into_inner();
    let refused = pool.try_spawn(job).unwrap_err();
    let job = refused.into_inner();
    assert_eq!(
        calls.load(SeqCst),
        0,
        "a refused job's callback does not run"
    );
    release(&gate, blockers);
    assert_eq!(filler.join().unwrap(), 0);
    assert_eq!(pool.spawn(job).join().unwrap(), 1);
    pool.wait();
    assert_eq!(calls.load(SeqCst), 1);

    // Closed: spawn_async and run hand back or answer the same way.
    pool.close();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let job = pool
            .spawn_async(counted(2, &calls))
            .await
            .unwrap_err()
            .into_inner();
        assert!(pool.run(job).await.unwrap_err().is_closed());
    });
}

#[test]
fn a_job_s_own_deadline_holds_through_try_run() {
    let pool = Executor::new(1);
    let (gate, blockers) = occupy(&pool, 1);
    let late = pool
        .try_run(Job::new(|| "late").queue_timeout(Duration::ZERO))
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let waiter = std::thread::spawn(move || runtime.block_on(late));
    release(&gate, blockers);
    let result = waiter.join().unwrap();
    assert!(result.unwrap_err().is_expired());
    within(LIMIT, "shutdown", move || pool.shutdown());
}

#[test]
fn submitting_from_a_job_and_a_callback() {
    let pool = Executor::new(2);
    let inner = pool.clone();
    let from_job = pool
        .spawn(move || {
            let job = Job::new(|| 2).priority(Priority::Low);
            inner.try_spawn(job).map(|handle| handle.join().unwrap())
        })
        .join()
        .unwrap();
    assert_eq!(from_job.unwrap(), 2);
    let (in_callback, calls) = (pool.clone(), Arc::new(AtomicUsize::new(0)));
    let seen = Arc::clone(&calls);
    pool.spawn(Job::new(|| ()).callback(move |_| {
        let seen = Arc::clone(&seen);
        drop(in_callback.spawn(Job::new(|| ()).callback(move |_| {
            seen.fetch_add(1, SeqCst);
        })));
    }));
    common::eventually(LIMIT, "the callback's job ran", || calls.load(SeqCst) == 1);
    within(LIMIT, "shutdown", move || pool.shutdown());
}
