//! The shutdown family: `shutdown` runs every accepted job, from any clone,
//! idempotently; what each submission path answers afterwards;
//! `shutdown_async`, `shutdown_timeout`, `shutdown_now` and its `PendingJob`s;
//! `wait`/`shutdown` called from a pool job; and the counting test: under
//! concurrent submitters, a canceller and a `shutdown_now`, every accepted
//! job is run, cancelled or handed back, exactly once.
#![allow(deprecated)] // also covers the deprecated `try_send` and `send_async`, which keep working

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{occupy, within, Rng, LIMIT};
use thread_exec::{Builder, Executor, Job, JobError, JobHandle};

fn shutdown(pool: &Executor) {
    let pool = pool.clone();
    within(LIMIT, "shutdown", move || pool.shutdown());
}

fn join<T: Send + 'static>(handle: JobHandle<T>) -> Result<T, JobError> {
    within(LIMIT, "join", move || handle.join())
}

#[test]
fn shutdown_runs_every_accepted_job_then_returns() {
    let pool = Executor::new(2);
    let ran = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..300_usize)
        .map(|i| {
            let ran = Arc::clone(&ran);
            pool.spawn(move || {
                if i % 10 == 0 {
                    thread::sleep(Duration::from_micros(100));
                }
                ran.fetch_add(1, SeqCst);
                i
            })
        })
        .collect();
    shutdown(&pool);
    // Nothing accepted was lost, and all of it ran before shutdown returned.
    assert_eq!(ran.load(SeqCst), 300);
    assert!(handles.iter().all(JobHandle::is_finished));
    for (i, handle) in handles.into_iter().enumerate() {
        assert_eq!(handle.join().unwrap(), i);
    }
    let stats = pool.stats();
    assert_eq!(stats.completed, 300);
    assert_eq!((stats.queued, stats.running), (0, 0));
    assert!(pool.is_shutdown());
}

#[test]
fn shutdown_runs_jobs_queued_behind_a_blocker_and_any_clone_may_call_it_repeatedly() {
    let pool = Builder::new()
        .threads(1)
        .max_queue_size(50)
        .build()
        .unwrap();
    let (gate, blockers) = occupy(&pool, 1);
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..50 {
        let ran = Arc::clone(&ran);
        pool.spawn(move || ran.fetch_add(1, SeqCst));
    }
    let clone = pool.clone();
    let (done_tx, done) = mpsc::channel();
    let closer = thread::spawn(move || {
        clone.shutdown();
        done_tx.send(()).unwrap();
        clone
    });
    assert!(
        done.recv_timeout(Duration::from_millis(100)).is_err(),
        "shutdown returned while a job was still blocked"
    );
    // Closed as soon as the call began.
    common::eventually(LIMIT, "closed by the clone", || pool.is_shutdown());
    assert!(pool.try_spawn(|| 0).unwrap_err().is_closed());
    gate.open();
    done.recv_timeout(LIMIT).expect("shutdown did not return");
    let clone = closer.join().unwrap();
    assert_eq!(ran.load(SeqCst), 50);
    // Idempotent, from either clone.
    shutdown(&pool);
    shutdown(&clone);
    assert!(pool.is_shutdown() && clone.is_shutdown());
    assert_eq!(ran.load(SeqCst), 50);
    assert_eq!(pool.stats().completed, 51);
    drop(blockers);
}

#[test]
fn after_shutdown_every_submission_path_refuses_and_gives_the_job_back() {
    let pool = Executor::new(2);
    assert!(!pool.is_shutdown());
    shutdown(&pool);
    assert!(pool.is_shutdown());
    let ran = Arc::new(AtomicUsize::new(0));

    // spawn: a settled handle with a closed error.
    let handle = pool.spawn({
        let ran = Arc::clone(&ran);
        move || ran.fetch_add(1, SeqCst)
    });
    assert!(handle.is_finished());
    assert!(join(handle).unwrap_err().is_closed());

    // send: the callback runs at once, here, with the closed error.
    let (tx, rx) = mpsc::channel();
    let handle = pool.send(
        Job::new(|| 1).callback(move |result: &Result<i32, JobError>| {
            tx.send((
                result.as_ref().unwrap_err().is_closed(),
                thread::current().id(),
            ))
            .unwrap();
        }),
    );
    assert_eq!(rx.try_recv().unwrap(), (true, thread::current().id()));
    assert!(join(handle).unwrap_err().is_closed());

    // try_spawn / try_send: the job back.
    match pool.try_spawn(|| 2) {
        Err(err) if err.is_closed() => assert_eq!(err.into_inner()(), 2),
        other => panic!("expected Closed, got {other:?}"),
    }
    let err = pool
        .try_send(Job::new(|| 3).callback(|_: &Result<i32, JobError>| {}))
        .unwrap_err();
    assert!(err.is_closed());

    // spawn_async / send_async / run.
    futures::executor::block_on(async {
        let err = pool.spawn_async(|| 4).await.unwrap_err();
        assert_eq!(err.into_inner()(), 4);
        assert!(pool.send_async(Job::new(|| 5)).await.is_err());
        assert!(pool.run(|| 6).await.unwrap_err().is_closed());
    });
    assert_eq!(ran.load(SeqCst), 0, "a refused job ran");
    assert_eq!(pool.stats().completed, 0);
}

#[tokio::test(flavor = "current_thread")]
async fn shutdown_async_closes_at_once_and_resolves_after_the_threads_exit() {
    let pool = Executor::new(2);
    let (gate, blockers) = occupy(&pool, 2);
    let queued: Vec<_> = (0..10).map(|i| pool.spawn(move || i)).collect();
    let mut shutting_down = pool.shutdown_async();
    assert!(pool.is_shutdown(), "shutdown_async closes when called");
    assert!(pool.spawn(|| 0).join().unwrap_err().is_closed());
    assert!(futures::poll!(&mut shutting_down).is_pending());
    // The runtime is free while it waits.
    tokio::task::yield_now().await;
    gate.open();
    common::timeout("shutdown_async", shutting_down).await;
    for (i, handle) in queued.into_iter().enumerate() {
        assert_eq!(handle.await.unwrap(), i);
    }
    for handle in blockers {
        handle.await.unwrap();
    }
    // Resolved: no worker is left, so the pool runs nothing any more.
    assert_eq!(pool.stats().threads, 0);
}

#[test]
fn shutdown_timeout_is_false_while_a_job_is_blocked_and_true_once_it_is_released() {
    let pool = Executor::new(1);
    let (gate, blockers) = occupy(&pool, 1);
    let queued = pool.spawn(|| "queued");
    assert!(!pool.shutdown_timeout(Duration::from_millis(50)));
    assert!(pool.is_shutdown(), "closed even though the wait timed out");
    assert!(pool.spawn(|| "late").join().unwrap_err().is_closed());
    assert!(!pool.shutdown_timeout(Duration::from_millis(10)));
    gate.open();
    assert!(pool.shutdown_timeout(LIMIT));
    // The queue still ran: shutdown_timeout is a graceful shutdown.
    assert!(queued.is_finished());
    assert_eq!(queued.join().unwrap(), "queued");
    assert!(pool.shutdown_timeout(Duration::ZERO), "idempotent");
    drop(blockers);
}

#[test]
fn shutdown_now_hands_back_the_unstarted_jobs() {
    let pool = Executor::new(1);
    let (gate, blockers) = occupy(&pool, 1);
    let ran = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..6_usize)
        .map(|i| {
            let ran = Arc::clone(&ran);
            pool.spawn(move || {
                ran.fetch_add(1, SeqCst);
                i * 10
            })
        })
        .collect();
    let cancelled = pool.spawn(|| 99);
    assert!(cancelled.cancel());

    let mut pending = pool.shutdown_now();
    assert!(pool.is_shutdown());
    assert_eq!(pending.len(), 6, "the cancelled job is not handed back");
    assert!(pool.spawn(|| 0).join().unwrap_err().is_closed());
    assert_eq!(pool.stats().queued, 0);

    // Run the first half here: results reach the original handles.
    let dropped = pending.split_off(3);
    for job in pending {
        job.run();
    }
    // Drop the rest: their handles settle as cancelled.
    drop(dropped);
    assert_eq!(ran.load(SeqCst), 3);
    for (i, handle) in handles.into_iter().enumerate() {
        let result = join(handle);
        if i < 3 {
            assert_eq!(result.unwrap(), i * 10);
        } else {
            assert!(result.unwrap_err().is_cancelled(), "job {i}");
        }
    }
    assert!(join(cancelled).unwrap_err().is_cancelled());

    // The running job was not interrupted; it finishes on the pool.
    assert!(!blockers[0].is_finished());
    gate.open();
    shutdown(&pool);
    for handle in blockers {
        handle.join().unwrap();
    }
    let stats = pool.stats();
    assert_eq!(stats.completed, 1, "only the blocker ran on the pool");
    assert_eq!(ran.load(SeqCst), 3);
}

#[test]
fn pending_jobs_run_their_callbacks_and_deliver_panics() {
    let pool = Executor::new(1);
    let (gate, blockers) = occupy(&pool, 1);
    let callbacks = Arc::new(AtomicUsize::new(0));
    let fine = pool.send(Job::new(|| 1).callback({
        let callbacks = Arc::clone(&callbacks);
        move |result: &Result<i32, JobError>| {
            assert_eq!(*result.as_ref().unwrap(), 1);
            callbacks.fetch_add(1, SeqCst);
        }
    }));
    let panics = pool.spawn(|| -> i32 { panic!("pending job panicked") });
    let dropped = pool.spawn(|| 3).on_complete({
        let callbacks = Arc::clone(&callbacks);
        move |result| {
            assert!(result.as_ref().unwrap_err().is_cancelled());
            callbacks.fetch_add(1, SeqCst);
        }
    });
    let mut pending = pool.shutdown_now().into_iter();
    let (first, second, third) = (
        pending.next().unwrap(),
        pending.next().unwrap(),
        pending.next().unwrap(),
    );
    assert!(pending.next().is_none());
    first.run();
    assert_eq!(callbacks.load(SeqCst), 1, "callback ran by PendingJob::run");
    second.run(); // panics inside: caught and delivered, not propagated
    drop(third);
    assert_eq!(callbacks.load(SeqCst), 2, "callback ran by the drop");

    assert_eq!(join(fine).unwrap(), 1);
    let err = join(panics).unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("pending job panicked"), "{err}");
    assert!(join(dropped).unwrap_err().is_cancelled());
    gate.open();
    shutdown(&pool);
    drop(blockers);
}

#[test]
fn shutdown_now_on_an_idle_pool_returns_nothing_and_lets_the_threads_exit() {
    let pool = Executor::new(3);
    assert_eq!(pool.spawn(|| 1).join().unwrap(), 1);
    assert!(pool.shutdown_now().is_empty());
    assert!(pool.shutdown_now().is_empty(), "idempotent");
    shutdown(&pool);
    assert_eq!(pool.stats().threads, 0);
}

#[test]
fn wait_and_shutdown_inside_a_pool_job_panic_instead_of_deadlocking() {
    let pool = Executor::new(2);
    type Call = fn(&Executor);
    let calls: [(&str, Call); 3] = [
        ("wait", |pool| pool.wait()),
        ("shutdown", |pool| pool.shutdown()),
        ("shutdown_timeout", |pool| {
            pool.shutdown_timeout(Duration::from_secs(1));
        }),
    ];
    for (name, call) in calls {
        let inner = pool.clone();
        let err = join(pool.spawn(move || call(&inner))).unwrap_err();
        assert!(err.is_panic(), "{name}: {err}");
        assert!(err.to_string().contains("own jobs"), "{name}: {err}");
    }
    // The refused shutdowns did not close the pool, and it still works.
    assert!(!pool.is_shutdown());
    assert_eq!(join(pool.spawn(|| 5)).unwrap(), 5);
    shutdown(&pool);
}

/// Every handle a submitter got, by job id.
type Handles = Mutex<Vec<(usize, JobHandle<usize>)>>;

#[test]
fn every_accepted_job_is_run_cancelled_or_handed_back_exactly_once() {
    const SUBMITTERS: usize = 4;
    const PER_SUBMITTER: usize = 500;
    const JOBS: usize = SUBMITTERS * PER_SUBMITTER;

    let pool = Builder::new()
        .threads(2)
        .max_queue_size(32)
        .build()
        .unwrap();
    // Runs per job id, counted inside the closures: each must end at 0 or 1.
    let runs: Arc<Vec<AtomicU8>> = Arc::new((0..JOBS).map(|_| AtomicU8::new(0)).collect());
    let ran = Arc::new(AtomicUsize::new(0));
    let handles: Arc<Handles> = Arc::default();
    let submitted = Arc::new(AtomicUsize::new(0));
    let refused_by_try_spawn = Arc::new(AtomicUsize::new(0));
    let stop_cancelling = Arc::new(AtomicBool::new(false));

    let submitters: Vec<_> = (0..SUBMITTERS)
        .map(|s| {
            let pool = pool.clone();
            let runs = Arc::clone(&runs);
            let ran = Arc::clone(&ran);
            let handles = Arc::clone(&handles);
            let submitted = Arc::clone(&submitted);
            let refused = Arc::clone(&refused_by_try_spawn);
            thread::spawn(move || {
                for i in 0..PER_SUBMITTER {
                    let id = s * PER_SUBMITTER + i;
                    let runs = Arc::clone(&runs);
                    let ran = Arc::clone(&ran);
                    let job = move || {
                        if id.is_multiple_of(3) {
                            thread::sleep(Duration::from_micros(100));
                        }
                        runs[id].fetch_add(1, SeqCst);
                        ran.fetch_add(1, SeqCst);
                        id
                    };
                    let handle = if i % 2 == 0 {
                        match pool.try_spawn(job) {
                            Ok(handle) => Some(handle),
                            // Full: wait for room with the job we got back.
                            Err(err) if err.is_full() => Some(pool.spawn(err.into_inner())),
                            Err(_closed) => {
                                refused.fetch_add(1, SeqCst);
                                None
                            }
                        }
                    } else {
                        Some(pool.spawn(job))
                    };
                    if let Some(handle) = handle {
                        handles.lock().unwrap().push((id, handle));
                    }
                    submitted.fetch_add(1, SeqCst);
                }
            })
        })
        .collect();

    let canceller = {
        let handles = Arc::clone(&handles);
        let stop = Arc::clone(&stop_cancelling);
        thread::spawn(move || {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
            let mut cancelled = Vec::new();
            while !stop.load(SeqCst) {
                {
                    let handles = handles.lock().unwrap();
                    if !handles.is_empty() {
                        let (id, handle) = &handles[rng.below(handles.len())];
                        if handle.cancel() {
                            cancelled.push(*id);
                        }
                    }
                }
                thread::yield_now();
            }
            cancelled
        })
    };

    // Half way through the submissions: stop cancelling, then shut down now
    // while the submitters are still at it.
    common::eventually(LIMIT, "half the jobs submitted", || {
        submitted.load(SeqCst) >= JOBS / 2
    });
    stop_cancelling.store(true, SeqCst);
    let cancelled_ids = canceller.join().unwrap();
    let mut pending = pool.shutdown_now();
    within(LIMIT, "submitters finish", move || {
        for submitter in submitters {
            submitter.join().unwrap();
        }
    });
    shutdown(&pool);
    let ran_on_pool = ran.load(SeqCst);
    let stats = pool.stats();

    // Run half the handed-back jobs here, drop the rest.
    let handed_back = pending.len();
    let dropped = pending.split_off(handed_back / 2);
    let run_here = pending.len();
    for job in pending {
        job.run();
    }
    let dropped_count = dropped.len();
    drop(dropped);

    // Every handle resolves, to exactly one of the three outcomes.
    let handles = std::mem::take(&mut *handles.lock().unwrap());
    let total_handles = handles.len();
    let outcomes = within(LIMIT, "join every handle", move || {
        handles
            .into_iter()
            .map(|(id, handle)| (id, handle.join()))
            .collect::<Vec<_>>()
    });
    let (mut ok, mut cancelled, mut closed) = (0, 0, 0);
    for (id, result) in outcomes {
        match result {
            Ok(value) => {
                assert_eq!(value, id, "a result reached the wrong handle");
                assert_eq!(runs[id].load(SeqCst), 1, "job {id}");
                ok += 1;
            }
            Err(err) if err.is_cancelled() => {
                assert_eq!(runs[id].load(SeqCst), 0, "cancelled job {id} ran");
                cancelled += 1;
            }
            Err(err) if err.is_closed() => {
                assert_eq!(runs[id].load(SeqCst), 0, "refused job {id} ran");
                closed += 1;
            }
            Err(err) => panic!("job {id}: unexpected error {err}"),
        }
    }
    let refused = refused_by_try_spawn.load(SeqCst);
    let accepted = ok + cancelled;
    let ran_total = ran.load(SeqCst);
    println!(
        "accepted {accepted} = ran on the pool {ran_on_pool} + cancelled {} + handed back \
         {handed_back} ({run_here} run here, {dropped_count} dropped); refused {closed} by \
         spawn and {refused} by try_spawn",
        cancelled_ids.len()
    );

    assert_eq!(total_handles + refused, JOBS, "every submission accounted");
    assert_eq!(ok + cancelled + closed, total_handles);
    // The identity: each accepted job ran on the pool, was cancelled, or was
    // handed back, and only one of those.
    assert_eq!(accepted, ran_on_pool + cancelled_ids.len() + handed_back);
    // ... and the per-outcome counts match it.
    assert_eq!(ok, ran_total, "each Ok is one run of a closure");
    assert_eq!(ran_total, ran_on_pool + run_here);
    assert_eq!(cancelled, cancelled_ids.len() + dropped_count);
    let runs_total: usize = runs.iter().map(|r| usize::from(r.load(SeqCst))).sum();
    assert_eq!(runs_total, ran_total, "some job ran twice");
    // The pool's own counts: it ran `ran_on_pool`, and settled as cancelled the
    // jobs `cancel` took (handed-back jobs left its books at `shutdown_now`).
    assert_eq!(stats.completed, ran_on_pool as u64);
    assert_eq!(stats.panicked, 0);
    assert_eq!(stats.cancelled, cancelled_ids.len() as u64);
    assert_eq!((stats.queued, stats.running, stats.threads), (0, 0, 0));
}

/// `scale_up` racing `shutdown` on an idle fixed pool. Either order is fine,
/// but `shutdown` must still return (every worker gets its nudge) and, once
/// it returns, no worker thread may be alive or start: no start/stop hook
/// runs afterwards and `stats().threads` is 0.
#[test]
fn shutdown_racing_scale_up_returns_and_no_thread_outlives_it() {
    const ROUNDS: usize = 3000;
    within(
        Duration::from_secs(120),
        "rounds of scale_up vs shutdown",
        || {
            let (mut late_threads, mut hangs) = (0, 0);
            for _ in 0..ROUNDS {
                let returned = Arc::new(AtomicBool::new(false));
                let late_hooks = Arc::new(AtomicUsize::new(0));
                let hook = {
                    let returned = Arc::clone(&returned);
                    let late_hooks = Arc::clone(&late_hooks);
                    move || {
                        if returned.load(SeqCst) {
                            late_hooks.fetch_add(1, SeqCst);
                        }
                    }
                };
                let pool = Builder::new()
                    .threads(1)
                    .on_thread_start(hook.clone())
                    .on_thread_stop(hook)
                    .build()
                    .unwrap();
                let barrier = Arc::new(std::sync::Barrier::new(2));
                let scaler = {
                    let pool = pool.clone();
                    let barrier = Arc::clone(&barrier);
                    thread::spawn(move || {
                        barrier.wait();
                        let _ = pool.scale_up(1);
                    })
                };
                barrier.wait();
                // Bounded: a lost nudge would park a worker forever.
                if !pool.shutdown_timeout(Duration::from_secs(5)) {
                    hangs += 1;
                    scaler.join().unwrap();
                    continue;
                }
                let threads_at_return = pool.stats().threads;
                returned.store(true, SeqCst);
                scaler.join().unwrap();
                common::eventually(LIMIT, "late threads exit", || pool.stats().threads == 0);
                if threads_at_return != 0 || late_hooks.load(SeqCst) != 0 {
                    late_threads += 1;
                }
            }
            assert_eq!(
                (late_threads, hangs),
                (0, 0),
                "of {ROUNDS} rounds: (a worker ran after shutdown returned, shutdown hung)"
            );
        },
    );
}

/// A `min_threads(0)` pool with no thread yet: a job accepted concurrently
/// with `shutdown` must have run by the time `shutdown` returns ("runs every
/// accepted job, then returns").
#[test]
fn shutdown_of_an_empty_dynamic_pool_runs_a_concurrently_accepted_job_first() {
    const ROUNDS: usize = 2000;
    within(
        Duration::from_secs(120),
        "rounds of spawn vs shutdown",
        || {
            let (mut accepted, mut early_returns) = (0, 0);
            for _ in 0..ROUNDS {
                let pool = Builder::new()
                    .min_threads(0)
                    .max_threads(1)
                    .build()
                    .unwrap();
                let ran = Arc::new(AtomicUsize::new(0));
                let barrier = Arc::new(std::sync::Barrier::new(2));
                let submitter = {
                    let pool = pool.clone();
                    let ran = Arc::clone(&ran);
                    let barrier = Arc::clone(&barrier);
                    thread::spawn(move || {
                        barrier.wait();
                        pool.spawn(move || {
                            ran.fetch_add(1, SeqCst);
                        })
                    })
                };
                barrier.wait();
                assert!(pool.shutdown_timeout(LIMIT), "shutdown hung");
                let ran_at_return = ran.load(SeqCst);
                let handle = submitter.join().unwrap();
                if join(handle).is_ok() {
                    accepted += 1;
                    if ran_at_return == 0 {
                        early_returns += 1;
                    }
                }
            }
            assert_eq!(
                early_returns, 0,
                "{early_returns} of {accepted} accepted jobs had not run when shutdown returned"
            );
        },
    );
}

/// A waker that runs `on_wake` (once) on whichever thread wakes it.
struct OnWake(Mutex<Option<Box<dyn FnOnce() + Send>>>);

impl std::task::Wake for OnWake {
    fn wake(self: Arc<Self>) {
        let on_wake = self.0.lock().unwrap().take();
        if let Some(on_wake) = on_wake {
            on_wake();
        }
    }
}

/// Registers a waker that runs `on_wake` with the `shutdown_async` future
/// of an idle one-thread pool: it closes the pool, so the worker exits and
/// wakes it as it leaves. `false` if the worker was gone before the poll
/// registered the waker (the round proves nothing then).
fn wake_as_the_worker_exits(pool: &Executor, on_wake: impl FnOnce() + Send + 'static) -> bool {
    let waker = std::task::Waker::from(Arc::new(OnWake(Mutex::new(Some(Box::new(on_wake))))));
    let mut future = pool.shutdown_async();
    let mut cx = std::task::Context::from_waker(&waker);
    let registered = std::pin::Pin::new(&mut future).poll(&mut cx).is_pending();
    // Dropping the future does not unregister a waker already taken out by
    // the exit's notification; keep it until the pool is gone anyway.
    std::mem::forget(future);
    registered
}

/// Two shutdowns deadlocked through a waker: the last worker, on its way
/// out, woke a `shutdown_async` waker that called `shutdown()`, which waited
/// for the lock under which another thread's `shutdown_timeout` (or
/// `shutdown`) was joining that very worker. A pool thread on its way out
/// now returns from `shutdown` without joining anything.
#[test]
fn a_shutdown_async_waker_calling_shutdown_as_the_last_worker_exits_does_not_deadlock() {
    within(LIMIT, "a waker's shutdown racing shutdown_timeout", || {
        let mut exercised = 0;
        for _ in 0..20 {
            let pool = Executor::new(1);
            let inner = pool.clone();
            let (done_tx, done) = mpsc::channel();
            let registered = wake_as_the_worker_exits(&pool, move || {
                // Widens the window in which the other shutdown finds every
                // thread exited and starts joining this one.
                thread::sleep(Duration::from_millis(2));
                inner.shutdown();
                done_tx.send(()).unwrap();
            });
            while !pool.shutdown_timeout(Duration::from_millis(1)) {}
            if registered {
                exercised += 1;
                done.recv_timeout(LIMIT / 3)
                    .expect("the waker's shutdown returned");
            }
        }
        assert!(exercised > 0, "no round registered the waker in time");
    });
}

/// `shutdown_timeout` waited without bound for another `shutdown` that was
/// joining a thread still running user code on its way out (a waker).
#[test]
fn shutdown_timeout_keeps_its_bound_while_another_shutdown_joins() {
    within(LIMIT, "shutdown_timeout beside a long join", || {
        let pool = Executor::new(1);
        let (release, held) = mpsc::channel::<()>();
        let (woken_tx, woken) = mpsc::channel();
        let registered = wake_as_the_worker_exits(&pool, move || {
            woken_tx.send(()).unwrap();
            let _ = held.recv_timeout(LIMIT);
        });
        assert!(registered, "the worker exited before the waker registered");
        woken
            .recv_timeout(LIMIT)
            .expect("the exiting worker woke the waker");
        // This one joins the worker, which is held in the waker.
        let joiner = {
            let pool = pool.clone();
            thread::spawn(move || pool.shutdown())
        };
        let (bounded_tx, bounded) = mpsc::channel();
        let timed = {
            let pool = pool.clone();
            thread::spawn(move || {
                let started = std::time::Instant::now();
                let joined = pool.shutdown_timeout(Duration::from_millis(10));
                bounded_tx.send(started.elapsed()).unwrap();
                joined
            })
        };
        let took = bounded.recv_timeout(Duration::from_secs(5));
        release.send(()).unwrap();
        joiner.join().unwrap();
        timed.join().unwrap();
        let took = took.expect("shutdown_timeout(10 ms) overran its bound by seconds");
        assert!(took < Duration::from_secs(1), "took {took:?}");
    });
}

/// `PendingJob::run` promises to run the job; it expired one whose queue
/// deadline had passed instead, and no count recorded it. It runs it now
/// (the deadline is for the pool's queue, which the job has left), and the
/// pool counts what `shutdown_now` handed back.
#[test]
fn a_pending_job_past_its_deadline_runs_and_the_hand_back_is_counted() {
    within(LIMIT, "run a pending job past its deadline", || {
        let pool = Executor::new(1);
        let (gate, busy) = occupy(&pool, 1);
        let (called_tx, called) = mpsc::channel();
        let late = pool.send(
            Job::new(|| "ran")
                .deadline(std::time::Instant::now())
                .callback(move |result: &Result<&str, JobError>| {
                    called_tx.send(result.is_ok()).unwrap();
                }),
        );
        let on_time = pool.spawn(|| "also ran");
        let pending = pool.shutdown_now();
        assert_eq!(pending.len(), 2);
        for job in pending {
            job.run();
        }
        assert_eq!(late.join().unwrap(), "ran");
        assert!(called.recv().unwrap(), "the callback saw the value");
        assert_eq!(on_time.join().unwrap(), "also ran");
        common::release(&gate, busy);
        pool.shutdown();
        let stats = pool.stats();
        assert_eq!((stats.handed_back, stats.expired), (2, 0), "{stats:?}");
        assert_eq!(
            stats.completed, 1,
            "the blocker; pending jobs run off the pool"
        );
    });
}
