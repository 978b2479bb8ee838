//! Draining: `close` stops admitting while accepted jobs go on; `drain` and
//! `drain_async` wait for them within a deadline, hand back what has not
//! started and report what still runs; extreme deadlines; the calls made
//! from a job, a callback, `on_complete` and a hook; the 503 a closed pool
//! answers with.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::{occupy, release, timeout, within, LIMIT};
use thread_exec::{Executor, Job};

#[test]
fn close_refuses_new_jobs_and_runs_the_accepted_ones() {
    let pool = Executor::new(1);
    let (gate, blockers) = occupy(&pool, 1);
    let queued: Vec<_> = (0..5).map(|i| pool.spawn(move || i)).collect();
    pool.close();
    pool.close(); // idempotent
    assert!(pool.is_shutdown());
    assert!(pool.spawn(|| 9).join().unwrap_err().is_closed());
    let refused = pool.try_spawn(|| 9).unwrap_err();
    assert!(refused.is_closed());
    assert_eq!(refused.into_inner()(), 9);
    release(&gate, blockers);
    let results: Vec<_> = queued.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results, [0, 1, 2, 3, 4]);
    let report = within(LIMIT, "drain", move || pool.drain(LIMIT));
    assert!(report.is_complete(), "{report}");
}

#[test]
fn drain_waits_for_the_accepted_jobs_and_reports_them() {
    let pool = Executor::new(2);
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..50 {
        let ran = Arc::clone(&ran);
        pool.spawn(move || {
            std::thread::sleep(Duration::from_micros(200));
            ran.fetch_add(1, SeqCst);
        });
    }
    let report = within(LIMIT, "drain", move || pool.drain(LIMIT));
    assert!(report.is_complete(), "{report}");
    assert_eq!(ran.load(SeqCst), 50);
    assert!(report.finished() <= 50, "{report}");
    assert_eq!((report.handed_back(), report.still_running()), (0, 0));
}

#[test]
fn drain_gives_up_at_the_deadline_with_a_stuck_job() {
    let pool = Executor::new(1);
    let (gate, blockers) = occupy(&pool, 1);
    let queued: Vec<_> = (0..3).map(|i| pool.spawn(move || i)).collect();
    let start = Instant::now();
    let report = pool.drain(Duration::from_millis(50));
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert!(start.elapsed() < LIMIT);
    assert!(!report.is_complete());
    assert_eq!((report.handed_back(), report.still_running()), (3, 1));
    // Run the handed-back jobs here: their handles get the results.
    for job in report.into_pending() {
        job.run();
    }
    let results: Vec<_> = queued.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results, [0, 1, 2]);
    release(&gate, blockers);
    within(LIMIT, "shutdown", move || pool.shutdown());
}

#[test]
fn drain_async_returns_by_the_deadline_and_dropping_the_report_cancels() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = Executor::new(1);
        let (gate, blockers) = occupy(&pool, 1);
        let queued = pool.spawn(|| "queued");
        // A ticker on the same runtime keeps ticking: the drain never blocks it.
        let ticks = Arc::new(AtomicUsize::new(0));
        let ticker = {
            let ticks = Arc::clone(&ticks);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    ticks.fetch_add(1, SeqCst);
                }
            })
        };
        let start = Instant::now();
        let report = timeout("drain_async", pool.drain_async(Duration::from_millis(200))).await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(ticks.load(SeqCst) >= 5, "the runtime was blocked");
        ticker.abort();
        assert_eq!((report.handed_back(), report.still_running()), (1, 1));
        assert_eq!(report.finished(), 0);
        assert!(report.to_string().contains("1 still running"), "{report}");
        drop(report);
        assert!(queued.await.unwrap_err().is_cancelled());
        assert!(pool.spawn(|| ()).await.unwrap_err().is_closed());
        release(&gate, blockers);
        timeout("shutdown_async", pool.shutdown_async()).await;
    });
}

#[test]
fn drain_async_resolves_as_soon_as_the_pool_is_done() {
    futures::executor::block_on(async {
        let pool = Executor::new(2);
        let handles: Vec<_> = (0..20).map(|i| pool.spawn(move || i * 2)).collect();
        // A long deadline does not delay a pool that finishes.
        let start = Instant::now();
        let report = pool.drain_async(Duration::from_secs(3600)).await;
        assert!(start.elapsed() < LIMIT);
        assert!(report.is_complete(), "{report}");
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(handle.await.unwrap(), i * 2);
        }
    });
}

#[test]
fn extreme_deadlines() {
    // Zero: hands back at once, even with a free worker about to start it.
    let pool = Executor::new(1);
    let (gate, blockers) = occupy(&pool, 1);
    let queued = pool.spawn(|| 1);
    let report = futures::executor::block_on(pool.drain_async(Duration::ZERO));
    assert_eq!((report.handed_back(), report.still_running()), (1, 1));
    drop(report);
    assert!(queued.join().unwrap_err().is_cancelled());
    release(&gate, blockers);

    let report = pool.drain(Duration::ZERO);
    drop(report);

    // MAX: no bound, as shutdown; the pool finishes and the drain resolves.
    let pool = Executor::new(1);
    let (gate, blockers) = occupy(&pool, 1);
    let queued = pool.spawn(|| 2);
    let (tx, rx) = mpsc::channel();
    let waiter = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            let report = futures::executor::block_on(pool.drain_async(Duration::MAX));
            tx.send(report).unwrap();
        })
    };
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    release(&gate, blockers);
    let report = rx
        .recv_timeout(LIMIT)
        .expect("the unbounded drain resolves");
    assert!(report.is_complete(), "{report}");
    assert_eq!(queued.join().unwrap(), 2);
    waiter.join().unwrap();
    let report = within(LIMIT, "drain MAX", move || pool.drain(Duration::MAX));
    assert!(report.is_complete());
}

#[test]
fn dropping_drain_async_before_the_deadline_stops_waiting_only() {
    let pool = Executor::new(1);
    let (gate, blockers) = occupy(&pool, 1);
    let queued = pool.spawn(|| 3);
    {
        let mut drain = Box::pin(pool.drain_async(Duration::from_secs(3600)));
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(drain.as_mut().poll(&mut cx).is_pending());
    }
    assert!(pool.is_shutdown());
    release(&gate, blockers);
    assert_eq!(queued.join().unwrap(), 3);
    within(LIMIT, "shutdown", move || pool.shutdown());
}

#[test]
fn close_and_drain_from_a_job_a_callback_and_on_complete() {
    let pool = Executor::new(2);

    // From a job: close returns; a blocking drain panics (it would wait for
    // this very thread); an async drain past its deadline hands back.
    let in_job = pool.clone();
    let answer = pool
        .spawn(move || {
            let zero = futures::executor::block_on(in_job.drain_async(Duration::ZERO));
            let blocking =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| in_job.drain(LIMIT)))
                    .is_err();
            in_job.close();
            (zero.is_complete(), blocking)
        })
        .join()
        .unwrap();
    assert_eq!(answer, (false, true));
    assert!(pool.is_shutdown());

    // From a callback and on_complete (a fresh pool).
    let pool = Executor::new(1);
    let (in_callback, in_complete) = (pool.clone(), pool.clone());
    let handle = pool
        .send(Job::new(|| 1).callback(move |_| in_callback.close()))
        .on_complete(move |_| in_complete.close());
    assert_eq!(handle.join().unwrap(), 1);
    let report = within(LIMIT, "drain", move || pool.drain(LIMIT));
    assert!(report.is_complete(), "{report}");
}

#[test]
fn close_from_a_thread_start_hook_during_a_scale_up() {
    let closer: Arc<std::sync::OnceLock<thread_exec::WeakExecutor>> = Arc::default();
    let in_hook = Arc::clone(&closer);
    let pool = Executor::builder()
        .threads(1)
        .on_thread_start(move || {
            if let Some(pool) = in_hook.get().and_then(|weak| weak.upgrade()) {
                pool.close();
            }
        })
        .build()
        .unwrap();
    closer.set(pool.downgrade()).unwrap();
    let scaler = pool.clone();
    // The new thread's hook closes the pool while the scale-up runs.
    let _ = within(LIMIT, "scale_up with a closing hook", move || {
        scaler.scale_up(1)
    });
    common::eventually(LIMIT, "the hook closed the pool", || pool.is_shutdown());
    let report = within(LIMIT, "drain", move || pool.drain(LIMIT));
    assert!(report.is_complete(), "{report}");
}

#[test]
fn a_closed_pool_answers_503_with_retry_after() {
    use axum::response::IntoResponse;

    let pool = Executor::new(1);
    pool.close();
    let response = pool.try_spawn(|| ()).unwrap_err().into_response();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let response = pool.spawn(|| ()).join().unwrap_err().into_response();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
}
