//! The bounded queue: what `max_queue_size` counts, how each submission path
//! behaves when the queue is full (`spawn`/`send` block, `try_spawn`/
//! `try_send` hand the job back, `spawn_async` waits without blocking the
//! runtime, `run` cancels on drop), and how blocked submitters wake when the
//! pool closes.
#![allow(deprecated)] // also covers the deprecated `try_send` and `send_async`, which keep working

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{occupy, within, Gate, Tracked, LIMIT};
use thread_exec::{Builder, Executor, Job, JobError, JobHandle};

/// How long a submitter must stay blocked for the test to call it blocked.
const STILL_BLOCKED: Duration = Duration::from_millis(100);

/// A pool whose every worker is blocked on `gate` and whose queue is full.
struct Full {
    pool: Executor,
    gate: Arc<Gate>,
    /// The jobs occupying the workers.
    blockers: Vec<JobHandle<()>>,
    /// The jobs filling the queue; each returns its index.
    queued: Vec<JobHandle<usize>>,
}

/// A pool of `threads` threads and a queue of `max_queue` that is full: every
/// worker blocked on the gate and `max_queue` jobs queued behind them. Proves
/// it is full with a refused `try_spawn`.
fn full_pool(threads: usize, max_queue: usize) -> Full {
    let pool = Builder::new()
        .threads(threads)
        .max_queue_size(max_queue)
        .build()
        .unwrap();
    let (gate, blockers) = occupy(&pool, threads);
    let queued: Vec<_> = (0..max_queue)
        .map(|i| pool.try_spawn(move || i).expect("queue has room"))
        .collect();
    assert!(
        pool.try_spawn(|| usize::MAX).unwrap_err().is_full(),
        "the pool should be full"
    );
    Full {
        pool,
        gate,
        blockers,
        queued,
    }
}

fn join_all<T: Send + 'static>(handles: Vec<JobHandle<T>>) -> Vec<Result<T, JobError>> {
    within(LIMIT, "join handles", move || {
        handles.into_iter().map(JobHandle::join).collect()
    })
}

#[test]
fn the_bound_counts_waiting_jobs_not_running_ones() {
    for (threads, max_queue) in [(1, 1), (1, 3), (2, 2), (2, 5)] {
        let pool = Builder::new()
            .threads(threads)
            .max_queue_size(max_queue)
            .build()
            .unwrap();
        let (gate, blockers) = occupy(&pool, threads);
        // Every thread busy and `max_queue` waiting: all fit.
        let queued: Vec<_> = (0..max_queue)
            .map(|i| {
                pool.try_spawn(move || i)
                    .unwrap_or_else(|err| panic!("job {i} of {max_queue} refused: {err}"))
            })
            .collect();
        let stats = pool.stats();
        assert_eq!(stats.running, threads as u64);
        assert_eq!(stats.queued, max_queue as u64);
        // One more does not.
        let err = pool.try_spawn(|| usize::MAX).unwrap_err();
        assert!(err.is_full(), "{threads} threads, queue {max_queue}: {err}");
        assert_eq!(err.into_inner()(), usize::MAX);
        gate.open();
        for result in join_all(blockers) {
            result.unwrap();
        }
        let results: Vec<usize> = join_all(queued).into_iter().map(Result::unwrap).collect();
        assert_eq!(results, (0..max_queue).collect::<Vec<_>>());
    }
}

#[test]
fn spawn_blocks_while_the_queue_is_full_and_returns_once_a_job_finishes() {
    let Full {
        pool,
        gate,
        blockers,
        queued,
    } = full_pool(1, 2);
    let (returned_tx, returned) = mpsc::channel();
    let spawner = {
        let pool = pool.clone();
        thread::spawn(move || {
            let handle = pool.spawn(|| 7);
            returned_tx.send(()).unwrap();
            handle
        })
    };
    assert_eq!(
        returned.recv_timeout(STILL_BLOCKED),
        Err(RecvTimeoutError::Timeout),
        "spawn returned while the queue was full"
    );
    assert_eq!(pool.stats().queued, 2, "the blocked job must not be queued");
    gate.open(); // the blocker finishes, a queued job starts, a slot frees
    returned
        .recv_timeout(LIMIT)
        .expect("spawn stayed blocked after a slot freed");
    let handle = spawner.join().unwrap();
    assert_eq!(join_all(vec![handle]).pop().unwrap().unwrap(), 7);
    join_all(blockers);
    join_all(queued);
}

#[test]
fn send_blocks_while_the_queue_is_full_and_keeps_its_callback() {
    let Full {
        pool,
        gate,
        blockers,
        queued,
    } = full_pool(2, 3);
    let calls = Arc::new(AtomicUsize::new(0));
    let (returned_tx, returned) = mpsc::channel();
    let sender = {
        let pool = pool.clone();
        let calls = Arc::clone(&calls);
        thread::spawn(move || {
            let handle = pool.send(Job::new(|| "sent").callback(move |result| {
                assert_eq!(*result.as_ref().unwrap(), "sent");
                calls.fetch_add(1, SeqCst);
            }));
            returned_tx.send(()).unwrap();
            handle
        })
    };
    assert_eq!(
        returned.recv_timeout(STILL_BLOCKED),
        Err(RecvTimeoutError::Timeout),
        "send returned while the queue was full"
    );
    assert_eq!(calls.load(SeqCst), 0);
    gate.open();
    returned
        .recv_timeout(LIMIT)
        .expect("send stayed blocked after a slot freed");
    let handle = sender.join().unwrap();
    assert_eq!(join_all(vec![handle]).pop().unwrap().unwrap(), "sent");
    assert_eq!(calls.load(SeqCst), 1);
    join_all(blockers);
    join_all(queued);
}

#[test]
fn try_spawn_never_blocks_and_hands_back_the_untouched_closure() {
    let Full {
        pool,
        gate,
        blockers,
        queued,
    } = full_pool(1, 1);
    let drops = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let make_job = |value: u32| {
        let tracked = Tracked(Arc::clone(&drops));
        let ran = Arc::clone(&ran);
        move || {
            let _keep = tracked;
            ran.fetch_add(1, SeqCst);
            value
        }
    };

    // Full: returned at once (the worker is still blocked, so anything else
    // would hang), the closure neither run nor dropped.
    let pool2 = pool.clone();
    let job = make_job(11);
    let err = within(LIMIT, "try_spawn on a full queue", move || {
        pool2.try_spawn(job).map(drop)
    })
    .unwrap_err();
    assert!(err.is_full());
    assert!(err.is_full() && !err.is_closed());
    assert_eq!(drops.load(SeqCst), 0, "the refused closure was dropped");
    assert_eq!(ran.load(SeqCst), 0);
    let job = err.into_inner();
    assert_eq!(drops.load(SeqCst), 0);
    assert_eq!(job(), 11);
    assert_eq!(
        ran.load(SeqCst),
        1,
        "the handed-back closure is the original"
    );
    assert_eq!(drops.load(SeqCst), 1);

    gate.open();
    join_all(blockers);
    join_all(queued);

    // Closed: the same, with the other variant.
    pool.shutdown();
    let err = pool.try_spawn(make_job(12)).unwrap_err();
    assert!(err.is_closed());
    assert!(err.is_closed() && !err.is_full());
    assert_eq!(drops.load(SeqCst), 1);
    assert_eq!(err.into_inner()(), 12);
    assert_eq!(ran.load(SeqCst), 2);
    assert_eq!(drops.load(SeqCst), 2);
}

#[test]
fn try_send_hands_back_the_whole_job_and_its_callback_runs_only_once_resubmitted() {
    let Full {
        pool,
        gate,
        blockers,
        queued,
    } = full_pool(1, 1);
    let calls = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let tracked = Tracked(Arc::clone(&drops));
    let job = Job::new(move || {
        let _keep = tracked;
        5_u8
    })
    .callback({
        let calls = Arc::clone(&calls);
        move |result: &Result<u8, JobError>| {
            assert_eq!(*result.as_ref().unwrap(), 5);
            calls.fetch_add(1, SeqCst);
        }
    });
    let err = pool.try_send(job).unwrap_err();
    assert!(err.is_full());
    assert_eq!(calls.load(SeqCst), 0, "a refused job's callback ran");
    assert_eq!(drops.load(SeqCst), 0, "a refused job's closure was dropped");

    let job = err.into_inner();
    gate.open();
    // Resubmit the job we got back: it runs, with its callback, once.
    let pool2 = pool.clone();
    let handle = within(LIMIT, "resubmit", move || pool2.send(job));
    assert_eq!(join_all(vec![handle]).pop().unwrap().unwrap(), 5);
    assert_eq!(calls.load(SeqCst), 1);
    assert_eq!(drops.load(SeqCst), 1);
    join_all(blockers);
    join_all(queued);
}

#[tokio::test(flavor = "current_thread")]
async fn spawn_async_waits_for_room_without_blocking_the_runtime() {
    let Full {
        pool,
        gate,
        blockers,
        queued,
    } = full_pool(1, 1);
    let polled = Arc::new(AtomicBool::new(false));
    let got_room = Arc::new(AtomicBool::new(false));
    let waiter = tokio::spawn({
        let pool = pool.clone();
        let polled = Arc::clone(&polled);
        let got_room = Arc::clone(&got_room);
        async move {
            polled.store(true, SeqCst);
            let handle = pool.spawn_async(|| 5).await.expect("the pool is open");
            got_room.store(true, SeqCst);
            handle.await
        }
    });
    // Another task on this single-threaded runtime runs to completion while
    // `spawn_async` is pending: the runtime's only thread is not blocked.
    let ticker = tokio::spawn(async {
        let mut ticks = 0;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(2)).await;
            ticks += 1;
        }
        ticks
    });
    assert_eq!(common::timeout("ticker", ticker).await.unwrap(), 20);
    assert!(polled.load(SeqCst), "the waiting task never ran");
    assert!(
        !got_room.load(SeqCst),
        "spawn_async resolved on a full queue"
    );
    assert!(!waiter.is_finished());
    assert_eq!(pool.stats().queued, 1);

    gate.open();
    let result = common::timeout("spawn_async after room", waiter)
        .await
        .unwrap();
    assert_eq!(result.unwrap(), 5);
    for handle in blockers {
        common::timeout("blocker", handle).await.unwrap();
    }
    for handle in queued {
        common::timeout("queued", handle).await.unwrap();
    }
}

/// A `spawn_async` pending on a full queue, then the pool closes from another
/// thread by `close`: the future yields `SpawnError` with the untouched job.
async fn pending_spawn_async_gets_its_job_back_when(close: fn(&Executor)) {
    let Full {
        pool,
        gate,
        blockers,
        queued,
    } = full_pool(1, 1);
    let drops = Arc::new(AtomicUsize::new(0));
    let polled = Arc::new(AtomicBool::new(false));
    let waiter = tokio::spawn({
        let pool = pool.clone();
        let tracked = Tracked(Arc::clone(&drops));
        let polled = Arc::clone(&polled);
        async move {
            polled.store(true, SeqCst);
            pool.spawn_async(move || {
                let _keep = tracked;
                "late"
            })
            .await
        }
    });
    while !polled.load(SeqCst) {
        tokio::task::yield_now().await;
    }
    tokio::task::yield_now().await; // let it reach the full queue
    assert!(!waiter.is_finished());

    let closer = {
        let pool = pool.clone();
        thread::spawn(move || close(&pool))
    };
    let result = common::timeout("spawn_async after close", waiter)
        .await
        .unwrap();
    let err = match result {
        Ok(_) => panic!("spawn_async queued a job on a closed pool"),
        Err(err) => err,
    };
    assert_eq!(drops.load(SeqCst), 0, "the refused closure was dropped");
    assert_eq!(err.into_inner()(), "late");
    assert_eq!(drops.load(SeqCst), 1);
    closer.join().unwrap();

    gate.open();
    for handle in blockers {
        common::timeout("blocker", handle).await.unwrap();
    }
    for handle in queued {
        // Ran, or handed back by `shutdown_now` and dropped: cancelled.
        match common::timeout("queued", handle).await {
            Ok(_) => {}
            Err(err) => assert!(err.is_cancelled(), "{err}"),
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn pending_spawn_async_gets_its_job_back_on_shutdown_now() {
    pending_spawn_async_gets_its_job_back_when(|pool| drop(pool.shutdown_now())).await;
}

#[tokio::test(flavor = "current_thread")]
async fn pending_spawn_async_gets_its_job_back_on_shutdown_timeout() {
    pending_spawn_async_gets_its_job_back_when(|pool| {
        // The blocker is still running: the timeout expires.
        assert!(!pool.shutdown_timeout(Duration::from_millis(20)));
    })
    .await;
}

/// A thread blocked in `spawn` on a full queue, then the pool closes from
/// another thread by `close`: the blocked call returns a closed handle.
fn blocked_spawn_wakes_closed_when(close: fn(&Executor)) {
    let Full {
        pool,
        gate,
        blockers,
        queued,
    } = full_pool(1, 2);
    let ran = Arc::new(AtomicUsize::new(0));
    let (returned_tx, returned) = mpsc::channel();
    let spawner = {
        let pool = pool.clone();
        let ran = Arc::clone(&ran);
        thread::spawn(move || {
            let handle = pool.spawn(move || {
                ran.fetch_add(1, SeqCst);
            });
            returned_tx.send(()).unwrap();
            handle
        })
    };
    assert_eq!(
        returned.recv_timeout(STILL_BLOCKED),
        Err(RecvTimeoutError::Timeout),
        "spawn returned while the queue was full"
    );
    close(&pool);
    returned
        .recv_timeout(LIMIT)
        .expect("the blocked spawn did not wake when the pool closed");
    let handle = spawner.join().unwrap();
    assert!(handle.is_finished(), "a refused handle is settled at once");
    let err = join_all(vec![handle]).pop().unwrap().unwrap_err();
    assert!(err.is_closed(), "{err}");

    gate.open();
    join_all(blockers);
    join_all(queued);
    within(LIMIT, "shutdown", move || pool.shutdown());
    assert_eq!(ran.load(SeqCst), 0, "the refused job ran");
}

#[test]
fn blocked_spawn_wakes_with_a_closed_handle_on_shutdown_now() {
    blocked_spawn_wakes_closed_when(|pool| {
        let pending = pool.shutdown_now();
        assert_eq!(pending.len(), 2, "the two queued jobs are handed back");
        drop(pending);
    });
}

#[test]
fn blocked_spawn_wakes_with_a_closed_handle_on_shutdown_timeout() {
    blocked_spawn_wakes_closed_when(|pool| {
        let pool = pool.clone();
        // From yet another thread, as a service's shutdown path would.
        let closer = thread::spawn(move || pool.shutdown_timeout(Duration::from_millis(20)));
        assert!(!closer.join().unwrap(), "the blocker is still running");
    });
}

#[tokio::test(flavor = "current_thread")]
async fn run_resolves_to_the_result() {
    let pool = Builder::new().threads(2).max_queue_size(4).build().unwrap();
    let mut sum = 0;
    for i in 0..20_u64 {
        sum += common::timeout("run", pool.run(move || i * i))
            .await
            .unwrap();
    }
    assert_eq!(sum, (0..20_u64).map(|i| i * i).sum());
    let err = common::timeout("run a panicking job", pool.run(|| -> u8 { panic!("boom") }))
        .await
        .unwrap_err();
    assert!(err.is_panic());
    pool.shutdown();
    let err = common::timeout("run after shutdown", pool.run(|| 1))
        .await
        .unwrap_err();
    assert!(err.is_closed(), "{err}");
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_run_before_the_job_started_cancels_it() {
    let pool = Executor::new(1);
    let (gate, blockers) = occupy(&pool, 1);
    let ran = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let mut run = pool.run({
        let ran = Arc::clone(&ran);
        let tracked = Tracked(Arc::clone(&drops));
        move || {
            let _keep = tracked;
            ran.fetch_add(1, SeqCst);
        }
    });
    assert!(futures::poll!(&mut run).is_pending());
    assert_eq!(pool.stats().queued, 1, "the first poll queues the job");
    drop(run); // the client went away
    assert_eq!(
        drops.load(SeqCst),
        1,
        "the cancelled closure was not dropped"
    );

    gate.open();
    let waiter = pool.clone();
    within(LIMIT, "wait", move || waiter.wait());
    assert_eq!(ran.load(SeqCst), 0, "a cancelled job ran");
    assert_eq!(drops.load(SeqCst), 1);
    let stats = pool.stats();
    assert_eq!(stats.cancelled, 1);
    assert_eq!(stats.completed, 1, "only the blocker completed");
    for handle in blockers {
        common::timeout("blocker", handle).await.unwrap();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_run_while_it_waits_for_room_drops_the_job_unqueued() {
    let Full {
        pool,
        gate,
        blockers,
        queued,
    } = full_pool(1, 1);
    let drops = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let mut run = pool.run({
        let ran = Arc::clone(&ran);
        let tracked = Tracked(Arc::clone(&drops));
        move || {
            let _keep = tracked;
            ran.fetch_add(1, SeqCst);
        }
    });
    assert!(futures::poll!(&mut run).is_pending());
    assert_eq!(pool.stats().queued, 1, "the job must not be queued yet");
    drop(run);
    assert_eq!(drops.load(SeqCst), 1);
    gate.open();
    let waiter = pool.clone();
    within(LIMIT, "wait", move || waiter.wait());
    assert_eq!(ran.load(SeqCst), 0);
    let stats = pool.stats();
    assert_eq!(stats.cancelled, 0, "a job never accepted is not cancelled");
    assert_eq!(stats.completed, 2, "the blocker and the queued job");
    drop((blockers, queued));
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_run_after_the_job_started_lets_it_finish() {
    let pool = Executor::new(1);
    let finished = Arc::new(AtomicUsize::new(0));
    let second_gate = Gate::new();
    let (started_tx, started) = mpsc::channel();
    let mut run = pool.run({
        let finished = Arc::clone(&finished);
        let second_gate = Arc::clone(&second_gate);
        move || {
            started_tx.send(()).unwrap();
            second_gate.wait();
            finished.fetch_add(1, SeqCst);
        }
    });
    assert!(futures::poll!(&mut run).is_pending());
    started.recv_timeout(LIMIT).expect("the job did not start");
    drop(run);
    second_gate.open();
    let waiter = pool.clone();
    within(LIMIT, "wait", move || waiter.wait());
    assert_eq!(finished.load(SeqCst), 1, "a started job was interrupted");
    let stats = pool.stats();
    assert_eq!((stats.completed, stats.cancelled), (1, 0));
}
