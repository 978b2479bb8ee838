//! `JobHandle::cancel`: a queued job is settled as cancelled (callbacks run
//! once with the error, the closure is dropped once and never called); a
//! running or finished job is not interrupted, only asked to stop
//! (`is_cancelled`); and a cancel racing the job's start settles it exactly
//! one way.

mod common;

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::{occupy, within, Gate, Tracked, LIMIT};
use thread_exec::{Executor, Job, JobError, JobHandle};

fn wait(pool: &Executor) {
    let pool = pool.clone();
    within(LIMIT, "wait", move || pool.wait());
}

#[test]
fn cancelling_a_queued_job_settles_it_runs_its_callbacks_once_and_drops_it_once() {
    let pool = Executor::new(1);
    let (gate, blockers) = occupy(&pool, 1);
    let ran = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let job_callbacks = Arc::new(AtomicUsize::new(0));
    let completions = Arc::new(AtomicUsize::new(0));

    let handle = pool
        .send(
            Job::new({
                let ran = Arc::clone(&ran);
                let tracked = Tracked(Arc::clone(&drops));
                move || {
                    let _keep = tracked;
                    ran.fetch_add(1, SeqCst);
                    1_u32
                }
            })
            .callback({
                let job_callbacks = Arc::clone(&job_callbacks);
                move |result: &Result<u32, JobError>| {
                    assert!(result.as_ref().unwrap_err().is_cancelled());
                    job_callbacks.fetch_add(1, SeqCst);
                }
            }),
        )
        .on_complete({
            let completions = Arc::clone(&completions);
            move |result| {
                assert!(result.as_ref().unwrap_err().is_cancelled());
                completions.fetch_add(1, SeqCst);
            }
        });

    assert!(!handle.is_finished());
    assert!(handle.cancel(), "a queued job must be cancellable");
    // Settled by the cancelling thread, before `cancel` returned.
    assert!(handle.is_finished());
    assert_eq!(job_callbacks.load(SeqCst), 1);
    assert_eq!(completions.load(SeqCst), 1);
    assert_eq!(
        drops.load(SeqCst),
        1,
        "the cancelled closure was not dropped"
    );
    assert!(!handle.cancel(), "a second cancel must report false");

    gate.open();
    wait(&pool);
    assert_eq!(ran.load(SeqCst), 0, "a cancelled job ran");
    assert_eq!(drops.load(SeqCst), 1, "the closure was dropped twice");
    assert_eq!(job_callbacks.load(SeqCst), 1);
    assert_eq!(completions.load(SeqCst), 1);
    let err = handle.join().unwrap_err();
    assert!(err.is_cancelled() && !err.is_panic() && !err.is_closed());
    assert_eq!(pool.stats().cancelled, 1);
    for blocker in blockers {
        blocker.join().unwrap();
    }
}

#[test]
fn a_running_job_is_not_cancelled_nor_interrupted() {
    let pool = Executor::new(1);
    let second_gate = Gate::new();
    let finished = Arc::new(AtomicUsize::new(0));
    let (started_tx, started) = mpsc::channel();
    let handle = pool.spawn({
        let second_gate = Arc::clone(&second_gate);
        let finished = Arc::clone(&finished);
        move || {
            started_tx.send(()).unwrap();
            second_gate.wait();
            finished.fetch_add(1, SeqCst);
            "done"
        }
    });
    started.recv_timeout(LIMIT).expect("the job did not start");
    assert!(!handle.cancel(), "cancel must refuse a running job");
    assert!(!handle.is_finished());
    second_gate.open();
    assert_eq!(
        within(LIMIT, "join", move || handle.join()).unwrap(),
        "done"
    );
    assert_eq!(finished.load(SeqCst), 1);
    // The job counts are exact once the pool is quiet.
    wait(&pool);
    let stats = pool.stats();
    assert_eq!((stats.completed, stats.cancelled), (1, 0));
}

#[test]
fn a_finished_job_is_not_cancelled() {
    let pool = Executor::new(2);
    let handle = pool.spawn(|| 3);
    wait(&pool);
    assert!(handle.is_finished());
    assert!(!handle.cancel());
    assert_eq!(handle.join().unwrap(), 3);
    assert_eq!(pool.stats().cancelled, 0);
}

#[test]
fn cancelled_jobs_behind_a_blocker_never_run_and_the_rest_do() {
    let pool = Executor::new(2);
    let (gate, blockers) = occupy(&pool, 2);
    let ran: Arc<Vec<AtomicU8>> = Arc::new((0..200).map(|_| AtomicU8::new(0)).collect());
    let handles: Vec<JobHandle<usize>> = (0..200)
        .map(|i| {
            let ran = Arc::clone(&ran);
            pool.spawn(move || {
                ran[i].fetch_add(1, SeqCst);
                i
            })
        })
        .collect();
    for (i, handle) in handles.iter().enumerate() {
        if i % 3 == 0 {
            assert!(handle.cancel(), "job {i} is queued");
        }
    }
    gate.open();
    wait(&pool);
    for (i, handle) in handles.into_iter().enumerate() {
        let result = handle.join();
        if i % 3 == 0 {
            assert!(result.unwrap_err().is_cancelled(), "job {i}");
            assert_eq!(ran[i].load(SeqCst), 0, "cancelled job {i} ran");
        } else {
            assert_eq!(result.unwrap(), i);
            assert_eq!(
                ran[i].load(SeqCst),
                1,
                "job {i} ran a wrong number of times"
            );
        }
    }
    let stats = pool.stats();
    assert_eq!(stats.cancelled, 67);
    assert_eq!(stats.completed, 133 + 2);
    drop(blockers);
}

#[test]
fn cancel_racing_the_job_start_settles_it_exactly_one_way() {
    const JOBS: usize = 2000;
    let pool = Executor::new(2);
    let ran: Arc<Vec<AtomicU8>> = Arc::new((0..JOBS).map(|_| AtomicU8::new(0)).collect());
    let drops = Arc::new(AtomicUsize::new(0));
    let callbacks: Arc<Vec<AtomicU8>> = Arc::new((0..JOBS).map(|_| AtomicU8::new(0)).collect());

    let (outcomes, pool) = {
        let (ran, drops, callbacks) =
            (Arc::clone(&ran), Arc::clone(&drops), Arc::clone(&callbacks));
        within(LIMIT, "spawn and cancel", move || {
            // The canceller gets each handle as soon as it exists and cancels
            // it at once, racing the workers that pick the job up. In lock
            // step: the next job is spawned once this one's cancel returned,
            // so each cancel meets a worker that is free to start its job.
            let (to_canceller, inbox) = mpsc::channel::<(usize, JobHandle<usize>)>();
            let (reply, replies) = mpsc::channel();
            let canceller = thread::spawn(move || {
                for (i, handle) in inbox {
                    let cancelled = handle.cancel();
                    reply.send((i, cancelled, handle)).unwrap();
                }
            });
            let mut outcomes = Vec::with_capacity(JOBS);
            for i in 0..JOBS {
                let ran = Arc::clone(&ran);
                let tracked = Tracked(Arc::clone(&drops));
                let callbacks = Arc::clone(&callbacks);
                let handle = pool
                    .send(
                        Job::new(move || {
                            let _keep = tracked;
                            ran[i].fetch_add(1, SeqCst);
                            // Now and then a slower job, so that the cancels
                            // meet queued, starting and finished jobs alike.
                            if i % 32 == 0 {
                                thread::sleep(Duration::from_micros(50));
                            }
                            i
                        })
                        .callback(move |_: &Result<usize, JobError>| {
                            callbacks[i].fetch_add(1, SeqCst);
                        }),
                    )
                    .on_complete(|_| {});
                to_canceller.send((i, handle)).unwrap();
                outcomes.push(replies.recv_timeout(LIMIT).expect("canceller reply"));
            }
            drop(to_canceller);
            canceller.join().unwrap();
            let outcomes: Vec<_> = outcomes
                .into_iter()
                .map(|(i, cancelled, handle)| (i, cancelled, handle.join()))
                .collect();
            pool.wait();
            (outcomes, pool)
        })
    };

    let mut cancelled_count = 0;
    for (i, cancelled, result) in outcomes {
        let runs = ran[i].load(SeqCst);
        assert_eq!(callbacks[i].load(SeqCst), 1, "job {i}: callback count");
        if cancelled {
            cancelled_count += 1;
            assert_eq!(runs, 0, "job {i} was cancelled and ran");
            assert!(result.unwrap_err().is_cancelled(), "job {i}");
        } else {
            assert_eq!(runs, 1, "job {i} was not cancelled and ran {runs} times");
            assert_eq!(result.unwrap(), i);
        }
    }
    assert_eq!(
        drops.load(SeqCst),
        JOBS,
        "every closure dropped exactly once"
    );
    let stats = pool.stats();
    assert_eq!(stats.cancelled, cancelled_count as u64);
    assert_eq!(stats.completed + stats.cancelled, JOBS as u64);
    assert_eq!((stats.queued, stats.running), (0, 0));
    println!("{cancelled_count} of {JOBS} jobs were cancelled before they started");
}

#[test]
fn concurrent_cancels_of_one_queued_job_succeed_exactly_once() {
    const ROUNDS: usize = 200;
    const CANCELLERS: usize = 4;
    let pool = Executor::new(1);
    let (gate, blockers) = occupy(&pool, 1);
    let ran = Arc::new(AtomicUsize::new(0));
    let callbacks = Arc::new(AtomicUsize::new(0));
    within(LIMIT, "concurrent cancels", {
        let pool = pool.clone();
        let ran = Arc::clone(&ran);
        let callbacks = Arc::clone(&callbacks);
        move || {
            for round in 0..ROUNDS {
                let ran = Arc::clone(&ran);
                let callbacks = Arc::clone(&callbacks);
                let handle = pool
                    .spawn(move || {
                        ran.fetch_add(1, SeqCst);
                    })
                    .on_complete(move |result| {
                        assert!(result.as_ref().unwrap_err().is_cancelled());
                        callbacks.fetch_add(1, SeqCst);
                    });
                let barrier = Barrier::new(CANCELLERS);
                let successes = thread::scope(|scope| {
                    let attempts: Vec<_> = (0..CANCELLERS)
                        .map(|_| {
                            scope.spawn(|| {
                                barrier.wait();
                                handle.cancel()
                            })
                        })
                        .collect();
                    attempts
                        .into_iter()
                        .map(|attempt| attempt.join().unwrap())
                        .filter(|&cancelled| cancelled)
                        .count()
                });
                assert_eq!(successes, 1, "round {round}: {successes} cancels succeeded");
                assert!(handle.join().unwrap_err().is_cancelled());
            }
        }
    });
    assert_eq!(callbacks.load(SeqCst), ROUNDS);
    gate.open();
    wait(&pool);
    assert_eq!(ran.load(SeqCst), 0);
    assert_eq!(pool.stats().cancelled, ROUNDS as u64);
    drop(blockers);
}

/// Cooperative cancellation: `cancel` on a running job returns `false` (it
/// started) but `is_cancelled` turns true inside it, so a job that checks
/// returns early; the flag belongs to that job only.
#[test]
fn cancel_asks_a_running_job_to_stop_and_only_that_job() {
    use thread_exec::is_cancelled;
    within(LIMIT, "cooperative cancel", || {
        let pool = Executor::new(1);
        assert!(!is_cancelled(), "outside a job");
        let (started_tx, started) = mpsc::channel();
        let handle = pool.spawn(move || {
            let before = is_cancelled();
            started_tx.send(()).unwrap();
            let mut checks = 0_u64;
            while !is_cancelled() {
                checks += 1;
                thread::yield_now();
            }
            (before, checks)
        });
        started.recv().unwrap();
        assert!(!handle.cancel(), "it had started");
        let (before, _) = handle.join().expect("the job returned early");
        assert!(!before, "nobody had asked yet");
        // The next job on the same worker starts with a clean flag.
        assert!(!pool.spawn(is_cancelled).join().unwrap());
        pool.shutdown();
    });
}

/// `Executor::run`'s future dropped while its job runs (the web handler
/// whose client went away) asks the job to stop.
#[test]
fn dropping_run_while_the_job_runs_asks_it_to_stop() {
    use std::future::Future;
    use thread_exec::is_cancelled;
    within(LIMIT, "run dropped mid-job", || {
        let pool = Executor::new(1);
        let (started_tx, started) = mpsc::channel();
        let (stopped_tx, stopped) = mpsc::channel();
        let running = pool.run(move || {
            started_tx.send(()).unwrap();
            while !is_cancelled() {
                thread::yield_now();
            }
            stopped_tx.send(()).unwrap();
        });
        futures::executor::block_on(async {
            let mut running = Box::pin(running);
            // Poll until the job is queued and has started, then give up.
            futures::future::poll_fn(|cx| {
                let _ = running.as_mut().poll(cx);
                std::task::Poll::Ready(())
            })
            .await;
            started.recv().unwrap();
            drop(running);
        });
        stopped.recv().expect("the job saw the request and stopped");
        pool.shutdown();
    });
}
