//! The core executor: results through `.await` and `join`, callbacks exactly
//! once, panics caught with the pool at full strength, `wait` and
//! `wait_async`, and the drop of the last clone.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use common::{eventually, occupy, within, Gate, Tracked, LIMIT};
use thread_exec::{Builder, Executor, Job, JobError, JobHandle};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_arrive_through_await_under_tokio() {
    let pool = Executor::new(2);
    let handles: Vec<JobHandle<u64>> = (0..100_u64).map(|i| pool.spawn(move || i * i)).collect();
    let mut sum = 0;
    for handle in handles {
        sum += common::timeout("await a job", handle).await.unwrap();
    }
    assert_eq!(sum, (0..100_u64).map(|i| i * i).sum());
}

#[test]
fn results_arrive_through_join_from_plain_threads() {
    let pool = Executor::new(2);
    within(LIMIT, "join from plain threads", move || {
        let joiners: Vec<_> = (0..4)
            .map(|t| {
                let pool = pool.clone();
                thread::spawn(move || {
                    (0..50)
                        .map(|i| pool.spawn(move || t * 1000 + i).join().unwrap())
                        .sum::<i32>()
                })
            })
            .collect();
        let total: i32 = joiners.into_iter().map(|j| j.join().unwrap()).sum();
        let expected: i32 = (0..4)
            .map(|t| (0..50).map(|i| t * 1000 + i).sum::<i32>())
            .sum();
        assert_eq!(total, expected);
    });
}

#[test]
fn handles_work_without_tokio() {
    let pool = Executor::new(1);
    let value = within(LIMIT, "block_on a handle", move || {
        futures::executor::block_on(pool.spawn(|| "no runtime needed"))
    });
    assert_eq!(value.unwrap(), "no runtime needed");
}

#[test]
fn job_callback_runs_exactly_once_on_the_worker_before_the_job_counts_as_done() {
    let pool = Builder::new().threads(2).thread_name("cb").build().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    for i in 0..20 {
        let calls = Arc::clone(&calls);
        let tx = tx.clone();
        pool.send(
            Job::new(move || i).callback(move |result: &Result<i32, JobError>| {
                calls.fetch_add(1, SeqCst);
                let on = thread::current().name().unwrap_or_default().to_owned();
                tx.send((*result.as_ref().unwrap(), on)).unwrap();
            }),
        );
    }
    pool.wait();
    // `wait` includes callbacks: all 20 ran by now.
    assert_eq!(calls.load(SeqCst), 20);
    let mut seen: Vec<(i32, String)> = rx.try_iter().collect();
    seen.sort();
    assert_eq!(seen.len(), 20);
    for (i, (value, thread_name)) in seen.into_iter().enumerate() {
        assert_eq!(value, i as i32);
        assert!(
            thread_name.starts_with("cb-"),
            "callback ran on {thread_name:?}"
        );
    }
}

#[test]
fn on_complete_before_the_job_finishes_runs_once_on_the_worker() {
    let pool = Executor::builder()
        .threads(1)
        .thread_name("oc")
        .build()
        .unwrap();
    let (gate, blockers) = occupy(&pool, 1);
    let (tx, rx) = mpsc::channel();
    let handle = pool.spawn(|| 7).on_complete(move |result| {
        let on = thread::current().name().unwrap_or_default().to_owned();
        tx.send((*result.as_ref().unwrap(), on)).unwrap();
    });
    gate.open();
    assert_eq!(within(LIMIT, "join", move || handle.join()).unwrap(), 7);
    let (value, on) = rx.recv_timeout(LIMIT).unwrap();
    assert_eq!(value, 7);
    assert_eq!(on, "oc-0");
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(50))
            .is_err(),
        "ran twice"
    );
    drop(blockers);
}

#[test]
fn on_complete_after_the_job_finished_runs_at_once_on_the_caller() {
    let pool = Executor::new(1);
    let handle = pool.spawn(|| "done");
    pool.wait();
    assert!(handle.is_finished());
    let calls = Arc::new(AtomicUsize::new(0));
    let seen_calls = Arc::clone(&calls);
    let caller = thread::current().id();
    let handle = handle.on_complete(move |result| {
        assert_eq!(thread::current().id(), caller);
        assert_eq!(result.as_ref().unwrap(), &"done");
        seen_calls.fetch_add(1, SeqCst);
    });
    assert_eq!(calls.load(SeqCst), 1, "ran at once");
    // The handle still resolves to the result.
    assert_eq!(handle.join().unwrap(), "done");
    assert_eq!(calls.load(SeqCst), 1);
}

#[test]
fn several_on_complete_callbacks_each_run_once_in_order() {
    let pool = Executor::new(1);
    let (gate, _blockers) = occupy(&pool, 1);
    let (tx, rx) = mpsc::channel();
    let mut handle = pool.spawn(|| 1);
    for i in 0..3 {
        let tx = tx.clone();
        handle = handle.on_complete(move |_| tx.send(i).unwrap());
    }
    gate.open();
    within(LIMIT, "join", move || handle.join().unwrap());
    let order: Vec<i32> = (0..3).map(|_| rx.recv_timeout(LIMIT).unwrap()).collect();
    assert_eq!(order, [0, 1, 2]);
    assert!(rx.try_recv().is_err());
}

#[test]
fn a_panicking_job_reports_its_panic_and_the_pool_keeps_every_thread() {
    let threads = 3;
    let pool = Executor::new(threads);
    for _ in 0..30 {
        let err = pool
            .spawn(|| -> u8 { panic!("job failed") })
            .join()
            .unwrap_err();
        assert!(err.is_panic());
        assert!(!err.is_cancelled() && !err.is_closed());
        assert_eq!(err.to_string(), "job panicked: job failed");
    }
    let err = pool
        .spawn(|| std::panic::panic_any(String::from("owned message")))
        .join()
        .unwrap_err();
    assert_eq!(err.to_string(), "job panicked: owned message");
    let err = pool
        .spawn(|| std::panic::panic_any(42_i64))
        .join()
        .unwrap_err();
    assert_eq!(err.to_string(), "job panicked");
    assert_eq!(err.into_panic().downcast_ref::<i64>(), Some(&42));

    assert_eq!(pool.stats().threads, threads);
    common::rendezvous(&pool, threads);
    pool.wait();
    assert_eq!(pool.stats().panicked, 32);
}

#[test]
fn a_panicking_callback_is_caught_and_the_pool_keeps_every_thread() {
    let threads = 2;
    let pool = Executor::new(threads);
    let handles: Vec<_> = (0..20)
        .map(|i| {
            pool.send(
                Job::new(move || i).callback(|_: &Result<i32, JobError>| panic!("callback failed")),
            )
        })
        .collect();
    let also_on_complete = pool
        .spawn(|| 5)
        .on_complete(|_| panic!("on_complete failed"));
    within(LIMIT, "join", move || {
        for (i, handle) in handles.into_iter().enumerate() {
            // The job's own result is unaffected by its callback's panic.
            assert_eq!(handle.join().unwrap(), i as i32);
        }
        assert_eq!(also_on_complete.join().unwrap(), 5);
    });
    assert_eq!(pool.stats().threads, threads);
    common::rendezvous(&pool, threads);
}

#[test]
fn wait_covers_jobs_accepted_while_waiting() {
    let pool = Executor::new(2);
    let (gate, blockers) = occupy(&pool, 1);
    let late_done = Arc::new(AtomicUsize::new(0));
    let (waiting_tx, waiting) = mpsc::channel();
    let waiter = {
        let pool = pool.clone();
        let late_done = Arc::clone(&late_done);
        thread::spawn(move || {
            waiting_tx.send(()).unwrap();
            pool.wait();
            late_done.load(SeqCst)
        })
    };
    waiting.recv_timeout(LIMIT).unwrap();
    // Accepted while `wait` is in progress (the blocker keeps it waiting).
    let late = Arc::clone(&late_done);
    pool.spawn(move || late.fetch_add(1, SeqCst));
    gate.open();
    let seen = within(LIMIT, "wait returns", move || waiter.join().unwrap());
    assert_eq!(
        seen, 1,
        "wait returned before the job accepted during it finished"
    );
    drop(blockers);
}

#[tokio::test(flavor = "current_thread")]
async fn wait_async_covers_jobs_accepted_while_waiting_and_never_blocks_the_runtime() {
    let pool = Executor::new(1);
    let gate = Gate::new();
    let blocker = {
        let gate = Arc::clone(&gate);
        pool.spawn(move || gate.wait())
    };
    let done = Arc::new(AtomicUsize::new(0));
    let wait = pool.wait_async();
    let submitter = {
        let pool = pool.clone();
        let done = Arc::clone(&done);
        let gate = Arc::clone(&gate);
        // Runs on the same single-threaded runtime while `wait` is pending:
        // proof that `wait_async` does not block the runtime's thread.
        tokio::spawn(async move {
            pool.spawn(move || done.fetch_add(1, SeqCst));
            gate.open();
        })
    };
    common::timeout("wait_async", wait).await;
    assert_eq!(done.load(SeqCst), 1);
    submitter.await.unwrap();
    blocker.await.unwrap();
}

#[test]
fn wait_returns_at_once_on_an_idle_pool_and_after_panics() {
    let pool = Executor::new(2);
    within(LIMIT, "wait on idle pool", {
        let pool = pool.clone();
        move || pool.wait()
    });
    for _ in 0..10 {
        pool.spawn(|| panic!("x"));
    }
    // The seed's `wait` hung forever after a job raised.
    within(LIMIT, "wait after panics", move || pool.wait());
}

#[test]
fn wait_inside_a_pool_job_panics_instead_of_deadlocking() {
    let pool = Executor::new(2);
    let inner = pool.clone();
    let err = within(LIMIT, "wait inside a job", move || {
        pool.spawn(move || inner.wait()).join()
    })
    .unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("own jobs"), "{err}");
}

#[test]
fn dropping_the_last_clone_runs_every_queued_job_and_does_not_block() {
    let pool = Executor::new(1);
    let (gate, _blockers) = occupy(&pool, 1);
    let (tx, rx) = mpsc::channel();
    for i in 0..100 {
        let tx = tx.clone();
        pool.spawn(move || tx.send(i).unwrap());
    }
    let clone = pool.clone();
    drop(pool);
    // The worker is still blocked: if Drop waited for it, this would hang.
    within(LIMIT, "drop of the last clone", move || drop(clone));
    gate.open();
    let mut got: Vec<i32> = (0..100).map(|_| rx.recv_timeout(LIMIT).unwrap()).collect();
    got.sort();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
}

#[test]
fn dropping_the_last_clone_inside_its_own_job_does_not_hang() {
    let pool = Executor::new(2);
    let (tx, rx) = mpsc::channel();
    let inside = pool.clone();
    pool.spawn(move || {
        drop(inside);
        tx.send(()).unwrap();
    });
    drop(pool); // now the job holds the last clone
    rx.recv_timeout(LIMIT)
        .expect("the job finished after dropping the last clone");
}

#[test]
fn dropped_handles_detach_and_the_job_still_runs() {
    let pool = Executor::new(2);
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..50 {
        let ran = Arc::clone(&ran);
        drop(pool.spawn(move || ran.fetch_add(1, SeqCst)));
    }
    pool.wait();
    assert_eq!(ran.load(SeqCst), 50);
}

#[test]
fn the_job_closure_is_dropped_before_join_returns() {
    let pool = Executor::new(2);
    for _ in 0..100 {
        let drops = Arc::new(AtomicUsize::new(0));
        let witness = Tracked(Arc::clone(&drops));
        let handle = pool.spawn(move || {
            let _keep = &witness;
            1
        });
        assert_eq!(handle.join().unwrap(), 1);
        assert_eq!(
            drops.load(SeqCst),
            1,
            "closure not dropped when join returned"
        );
    }
}

#[test]
fn zero_threads_is_an_error_from_the_builder_and_a_panic_from_new() {
    let err = Executor::builder().threads(0).build().unwrap_err();
    assert_eq!(err.to_string(), "a pool needs at least one thread");
    let payload = std::panic::catch_unwind(|| Executor::new(0)).unwrap_err();
    let message = payload.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("at least one thread"), "{message}");
}

#[test]
fn default_thread_count_is_the_available_parallelism() {
    let pool = Executor::builder().build().unwrap();
    let parallelism = thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(pool.stats().threads, parallelism);
}

#[test]
fn handles_and_executors_are_send_sync_unpin() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_unpin<T: Unpin>() {}
    assert_send_sync::<Executor>();
    assert_send_sync::<JobHandle<Vec<u8>>>();
    assert_send_sync::<JobError>();
    assert_unpin::<JobHandle<String>>();
    // A `!Sync` output still gives a `Sync` handle: only `T: Send` is needed.
    assert_send_sync::<JobHandle<std::cell::Cell<u8>>>();
}

/// A runtime's waker that panics when the job completes must not take the
/// worker down or leave the job unaccounted: the worker lives on, the
/// detached result is dropped, and `wait`/`shutdown` return.
#[test]
fn a_waker_that_panics_on_wake_does_not_lose_the_worker_or_the_job() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Wake, Waker};

    struct PanickingWaker;
    impl Wake for PanickingWaker {
        fn wake(self: Arc<Self>) {
            panic!("this waker panics");
        }
    }

    common::quiet_worker_panics();
    within(LIMIT, "panicking waker", || {
        let pool = Executor::new(1);
        let drops = Arc::new(AtomicUsize::new(0));
        let output = Tracked(Arc::clone(&drops));
        let (release, gate) = mpsc::channel::<()>();
        let mut handle = pool.spawn(move || {
            gate.recv().ok();
            output
        });
        let waker = Waker::from(Arc::new(PanickingWaker));
        assert!(Pin::new(&mut handle)
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        drop(handle); // detached: the output is dropped by the worker
        release.send(()).unwrap();
        pool.wait();
        assert_eq!(drops.load(SeqCst), 1);
        // The same worker still runs jobs.
        assert_eq!(pool.spawn(|| 5).join().unwrap(), 5);
        // The counters settle after the handle is woken: `wait` for them.
        pool.wait();
        let stats = pool.stats();
        assert_eq!((stats.threads, stats.running, stats.completed), (1, 0, 2));
        pool.shutdown();
    });
}

/// The idle spin with extreme budgets: the largest (`Duration::MAX`, lowered
/// to 1 ms, whose first spin after a park may not exceed it), none, and one
/// nanosecond. Round trips one at a time (the pattern that switches the
/// policy to spinning), bursts, and gaps long enough to make it park all
/// finish every job; the pool then goes idle, and `shutdown` returns
/// promptly even from a spinning pool.
#[test]
fn extreme_spin_budgets_run_every_job_park_when_idle_and_shut_down() {
    for budget in [Duration::MAX, Duration::ZERO, Duration::from_nanos(1)] {
        within(LIMIT, "extreme spin budgets", move || {
            let pool = Executor::builder()
                .threads(2)
                .max_spin(budget)
                .build()
                .unwrap();
            let ran = Arc::new(AtomicUsize::new(0));
            for round in 0..200 {
                let ran = Arc::clone(&ran);
                pool.spawn(move || ran.fetch_add(1, SeqCst)).join().unwrap();
                if round % 50 == 49 {
                    // A gap far longer than any spin: the workers park.
                    std::thread::sleep(Duration::from_millis(3));
                }
            }
            let burst: Vec<_> = (0..500)
                .map(|_| {
                    let ran = Arc::clone(&ran);
                    pool.spawn(move || ran.fetch_add(1, SeqCst))
                })
                .collect();
            for handle in burst {
                handle.join().unwrap();
            }
            assert_eq!(ran.load(SeqCst), 700, "budget {budget:?}");
            eventually(LIMIT, "both workers idle", || {
                pool.stats().idle_threads == 2
            });
            pool.shutdown();
            assert!(pool.is_shutdown());
        });
    }
}
