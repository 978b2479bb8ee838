//! Overload control through the public API: which jobs the pool sheds,
//! when, with what error, how it counts them, and that every job still ends
//! exactly one way. The state machine itself (entering on a standing queue
//! and not on a burst, leaving when the queue drains) is driven by an
//! injected clock in `src/overload.rs`'s unit tests.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::{occupy, release, within, LIMIT};
use thread_exec::{Executor, Job, OverloadControl, Priority, ShedReason};

/// Keeps a core busy for `d` (a sleeping job would let the test's own
/// submitter run ahead differently on a loaded machine; CPU work is what a
/// service's jobs do).
fn busy(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// An overload rule that trips within milliseconds, so the tests are short.
fn twitchy() -> OverloadControl {
    OverloadControl::adaptive()
        .target(Duration::from_micros(200))
        .interval(Duration::from_millis(5))
}

fn pool(threads: usize, queue: usize, control: OverloadControl) -> Executor {
    Executor::builder()
        .threads(threads)
        .max_queue_size(queue)
        .overload_control(control)
        .build()
        .unwrap()
}

#[test]
fn a_pool_whose_jobs_have_no_deadline_never_sheds() {
    let pool = pool(1, 0, twitchy());
    let ran = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..300)
        .map(|_| {
            let ran = Arc::clone(&ran);
            pool.spawn(move || {
                busy(Duration::from_micros(300));
                ran.fetch_add(1, SeqCst);
            })
        })
        .collect();
    within(LIMIT, "300 jobs without deadlines", move || {
        for handle in handles {
            handle
                .join()
                .expect("a job without a deadline is never shed");
        }
    });
    pool.wait();
    let stats = pool.stats();
    assert_eq!(ran.load(SeqCst), 300);
    assert_eq!(stats.completed, 300);
    assert_eq!(stats.shed.total(), 0);
    assert!(!stats.overloaded);
}

#[test]
fn a_standing_queue_sheds_sheddable_jobs_and_every_job_ends_once() {
    let pool = pool(1, 0, twitchy());
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..600).map(|_| AtomicUsize::new(0)).collect());
    let callbacks = Arc::new(AtomicUsize::new(0));
    // Twice the pool's capacity, steadily: one 200 µs job every 100 µs, so
    // the queue stands and grows (all at once, it would only drain: a
    // burst, never shed).
    let start = Instant::now();
    let handles: Vec<_> = (0..600)
        .map(|i| {
            let due = start + Duration::from_micros(100) * i as u32;
            while Instant::now() < due {
                std::hint::spin_loop();
            }
            let runs = Arc::clone(&runs);
            let callbacks = Arc::clone(&callbacks);
            let job = Job::new(move || {
                busy(Duration::from_micros(200));
                runs[i].fetch_add(1, SeqCst);
            })
            .callback(move |_| {
                callbacks.fetch_add(1, SeqCst);
            });
            // Every third job may not be shed: no deadline.
            let job = if i % 3 == 0 {
                job
            } else {
                job.queue_timeout(Duration::from_secs(60))
            };
            (i, pool.send(job))
        })
        .collect();
    let (shed, refused) = within(LIMIT, "600 jobs run or shed", move || {
        let (mut shed, mut refused) = (0, 0);
        for (i, handle) in handles {
            match handle.join() {
                Ok(()) => {}
                Err(err) => {
                    assert!(err.is_shed(), "job {i}: {err}");
                    assert_ne!(i % 3, 0, "a job without a deadline was shed");
                    match err.shed_reason() {
                        Some(ShedReason::StandingQueue) => shed += 1,
                        // Refused at submission: a handle already shed.
                        Some(ShedReason::Submit) => refused += 1,
                        other => panic!("job {i}: {other:?}"),
                    }
                }
            }
        }
        (shed, refused)
    });
    pool.wait();
    let stats = pool.stats();
    let ran = runs.iter().filter(|runs| runs.load(SeqCst) == 1).count() as u64;
    assert!(
        runs.iter().all(|runs| runs.load(SeqCst) <= 1),
        "a job ran twice"
    );
    assert!(
        shed + refused > 0,
        "a standing queue at twice one thread's capacity sheds"
    );
    assert_eq!(stats.shed.standing_queue, shed);
    assert_eq!(stats.shed.at_submit, refused);
    assert_eq!(stats.completed, ran);
    assert_eq!(stats.completed + stats.shed.accepted(), 600 - refused);
    assert_eq!(callbacks.load(SeqCst), 600, "every callback once");
}

#[test]
fn a_burst_that_drains_is_never_shed() {
    // The default rule (5 ms target, 100 ms interval).
    let pool = pool(2, 0, OverloadControl::adaptive());
    let mut handles = Vec::new();
    let start = Instant::now();
    for burst in 0..15_u32 {
        for _ in 0..100 {
            handles.push(pool.send(
                Job::new(|| busy(Duration::from_micros(20))).queue_timeout(Duration::from_secs(60)),
            ));
        }
        // One burst every 20 ms, each draining in ~1 ms.
        let next = start + Duration::from_millis(20) * (burst + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    within(LIMIT, "1,500 burst jobs", move || {
        for handle in handles {
            handle.join().expect("a burst that drains is not shed");
        }
    });
    assert_eq!(pool.stats().shed.total(), 0);
}

#[test]
fn submissions_that_would_wait_to_be_shed_are_refused_at_once() {
    let pool = pool(1, 0, twitchy());
    let outcome = within(LIMIT, "an overloaded pool refuses at submit", {
        let pool = pool.clone();
        move || {
            let mut handles = Vec::new();
            for _ in 0..200_000 {
                let job = Job::new(|| busy(Duration::from_micros(300)))
                    .queue_timeout(Duration::from_secs(60));
                match pool.try_spawn(job) {
                    Ok(handle) => handles.push(handle),
                    Err(err) => {
                        assert!(err.is_overloaded() && !err.is_full() && !err.is_closed());
                        let blocking = pool
                            .send(Job::new(|| ()).queue_timeout(Duration::from_secs(60)))
                            .join()
                            .unwrap_err();
                        return Some((handles, blocking));
                    }
                }
                busy(Duration::from_micros(50));
            }
            None
        }
    });
    let (handles, blocking) = outcome.expect("no refusal in 200,000 submissions at 6x");
    // A blocking submission is refused the same way, with a settled handle
    // (unless the queue drained in between: then it ran).
    if let Some(reason) = blocking.shed_reason() {
        assert_eq!(reason, ShedReason::Submit);
    }
    let accepted = handles.len() as u64;
    within(LIMIT, "the accepted jobs end", move || {
        for handle in handles {
            let _ = handle.join();
        }
    });
    pool.wait();
    let stats = pool.stats();
    assert!(stats.shed.at_submit >= 1);
    assert_eq!(
        stats.rejected, 0,
        "an overload refusal is not a full queue's"
    );
    assert_eq!(
        stats.completed + stats.shed.accepted() + stats.expired,
        accepted + u64::from(blocking.shed_reason().is_none()),
    );
}

#[test]
fn a_higher_lane_takes_the_place_of_a_sheddable_lower_lane_job() {
    let pool = pool(1, 2, OverloadControl::adaptive());
    let (gate, blockers) = occupy(&pool, 1);
    let low = |pool: &Executor| {
        pool.send(
            Job::new(|| "low")
                .priority(Priority::Low)
                .queue_timeout(Duration::from_secs(60)),
        )
    };
    let first = low(&pool);
    let second = low(&pool);
    // A Low newcomer displaces nobody.
    let refused = pool
        .try_spawn(Job::new(|| "low").priority(Priority::Low))
        .unwrap_err();
    assert!(refused.is_full());
    let high = pool
        .try_spawn(Job::new(|| "high").priority(Priority::High))
        .expect("a High job takes a sheddable Low job's place");
    let err = first.join().unwrap_err();
    assert_eq!(err.shed_reason(), Some(ShedReason::Displaced));
    assert!(!second.is_finished());
    release(&gate, blockers);
    assert_eq!(high.join().unwrap(), "high");
    assert_eq!(second.join().unwrap(), "low");
    pool.wait();
    let stats = pool.stats();
    assert_eq!(stats.shed.displaced, 1);
    assert_eq!(stats.rejected, 1);
}

#[test]
fn a_lane_holding_a_job_that_may_not_be_shed_is_not_displaced() {
    let pool = pool(1, 2, OverloadControl::adaptive());
    let (gate, blockers) = occupy(&pool, 1);
    let sheddable = pool.send(
        Job::new(|| 1)
            .priority(Priority::Low)
            .queue_timeout(Duration::from_secs(60)),
    );
    let batch = pool.send(Job::new(|| 2).priority(Priority::Low));
    let err = pool
        .try_spawn(Job::new(|| 3).priority(Priority::High))
        .unwrap_err();
    assert!(err.is_full());
    // Nor with overload control off.
    let off = self::pool(1, 1, OverloadControl::off());
    let (off_gate, off_blockers) = occupy(&off, 1);
    let queued = off.send(
        Job::new(|| 4)
            .priority(Priority::Low)
            .queue_timeout(Duration::from_secs(60)),
    );
    assert!(off
        .try_spawn(Job::new(|| 5).priority(Priority::High))
        .unwrap_err()
        .is_full());
    release(&gate, blockers);
    release(&off_gate, off_blockers);
    assert_eq!(sheddable.join().unwrap(), 1);
    assert_eq!(batch.join().unwrap(), 2);
    assert_eq!(queued.join().unwrap(), 4);
    assert_eq!(pool.stats().shed.total(), 0);
}

#[test]
fn a_displaced_jobs_callback_may_submit_to_its_full_pool() {
    let pool = pool(1, 1, OverloadControl::adaptive());
    let (gate, blockers) = occupy(&pool, 1);
    let (tx, rx) = mpsc::channel();
    let weak = pool.downgrade();
    let victim = pool.send(
        Job::new(|| 0)
            .priority(Priority::Low)
            .queue_timeout(Duration::from_secs(60))
            .callback(move |result| {
                assert!(result.as_ref().unwrap_err().is_shed());
                let pool = weak.upgrade().unwrap();
                // The victim's place is free before its callback runs.
                tx.send(pool.try_spawn(|| 7).ok()).unwrap();
            }),
    );
    let pool2 = pool.clone();
    let outcome = within(
        LIMIT,
        "displacement with a resubmitting callback",
        move || {
            pool2
                .try_spawn(Job::new(|| 9).priority(Priority::High))
                .map(|h| h.cancel())
        },
    );
    assert!(victim.join().unwrap_err().is_shed());
    let resubmitted = rx
        .recv_timeout(LIMIT)
        .unwrap()
        .expect("the callback found a free place");
    // The callback took the freed place first: the High job found the queue
    // full again, with nothing left to displace.
    assert!(outcome.unwrap_err().is_full());
    release(&gate, blockers);
    assert_eq!(resubmitted.join().unwrap(), 7);
    within(LIMIT, "the pool drains", move || pool.wait());
}

#[test]
fn a_job_shed_at_dequeue_frees_its_place_before_its_callback_runs() {
    // Eight places, kept full: a queue that stands whatever the scheduler
    // does to the submitter for a few milliseconds.
    let pool = pool(1, 8, twitchy());
    let (tx, rx) = mpsc::channel();
    let weak = pool.downgrade();
    let spawned = Arc::new(AtomicUsize::new(0));
    let submitted = within(LIMIT, "a standing queue on a one-place pool", {
        let pool = pool.clone();
        let spawned = Arc::clone(&spawned);
        move || {
            let mut handles = Vec::new();
            for _ in 0..300 {
                let weak = weak.clone();
                let tx = tx.clone();
                let spawned = Arc::clone(&spawned);
                // Low: its slough time is the target (200 µs), far below
                // the wait behind eight 1 ms jobs.
                let job = Job::new(|| busy(Duration::from_millis(1)))
                    .priority(Priority::Low)
                    .queue_timeout(Duration::from_secs(60))
                    .callback(move |result: &Result<(), thread_exec::JobError>| {
                        if result.as_ref().is_err_and(|err| err.is_shed()) {
                            // On the worker: a blocking spawn to its own
                            // one-place pool must not hang.
                            if let Some(pool) = weak.upgrade() {
                                spawned.fetch_add(1, SeqCst);
                                drop(pool.spawn(|| ()));
                            }
                            let _ = tx.send(());
                        }
                    });
                // Retried until it is queued: the one place stays taken.
                let mut job = job;
                loop {
                    match pool.try_spawn(job) {
                        Ok(handle) => {
                            handles.push(handle);
                            break;
                        }
                        Err(err) => {
                            assert!(err.is_full() || err.is_overloaded());
                            job = err.into_inner();
                            std::thread::yield_now();
                        }
                    }
                }
            }
            handles
        }
    });
    within(LIMIT, "every job ends", move || {
        for handle in submitted {
            let _ = handle.join();
        }
    });
    within(LIMIT, "the pool drains", {
        let pool = pool.clone();
        move || pool.wait()
    });
    let stats = pool.stats();
    assert!(stats.shed.standing_queue > 0, "{stats:?}");
    assert_eq!(rx.try_iter().count() as u64, stats.shed.standing_queue);
    assert_eq!(spawned.load(SeqCst) as u64, stats.shed.standing_queue);
}

#[test]
fn shedding_cancel_and_shutdown_now_race_and_every_job_ends_one_way() {
    for round in 0..4_u64 {
        let pool = pool(2, 0, twitchy());
        let ran = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2_000)
            .map(|i| {
                let ran = Arc::clone(&ran);
                let job = Job::new(move || {
                    busy(Duration::from_micros(20));
                    ran.fetch_add(1, SeqCst);
                })
                .queue_timeout(Duration::from_secs(60));
                let job = if i % 4 == 0 {
                    job.priority(Priority::Low)
                } else {
                    job
                };
                pool.send(job)
            })
            .collect();
        let (cancel, keep): (Vec<_>, Vec<_>) = handles
            .into_iter()
            .enumerate()
            .partition(|(i, _)| (*i as u64 + round).is_multiple_of(5));
        let canceller = std::thread::spawn(move || {
            cancel
                .into_iter()
                .filter(|(_, handle)| handle.cancel())
                .count()
        });
        std::thread::sleep(Duration::from_millis(5 * round));
        let handed_back = pool.shutdown_now().len();
        let cancelled_by_handles = canceller.join().unwrap();
        drop(keep);
        within(LIMIT, "the pool stops", {
            let pool = pool.clone();
            move || pool.shutdown()
        });
        let stats = pool.stats();
        assert_eq!(stats.completed, ran.load(SeqCst) as u64);
        // A job handed back can still be cancelled by its handle (the
        // cancel then returns `true`), counted once, as handed back.
        assert!(stats.cancelled + stats.handed_back >= cancelled_by_handles as u64);
        assert_eq!(stats.handed_back, handed_back as u64);
        assert_eq!(
            stats.completed
                + stats.panicked
                + stats.cancelled
                + stats.expired
                + stats.shed.accepted()
                + handed_back as u64,
            2_000 - stats.shed.at_submit,
            "round {round}: {stats:?}"
        );
    }
}

#[test]
fn wait_waits_for_the_callbacks_of_shed_jobs() {
    let pool = pool(1, 1, OverloadControl::adaptive());
    let (gate, blockers) = occupy(&pool, 1);
    let done = Arc::new(AtomicUsize::new(0));
    let (started_tx, started) = mpsc::channel();
    let victim = pool.send(
        Job::new(|| ())
            .priority(Priority::Low)
            .queue_timeout(Duration::from_secs(60))
            .callback({
                let done = Arc::clone(&done);
                move |_| {
                    started_tx.send(()).unwrap();
                    std::thread::sleep(Duration::from_millis(100));
                    done.fetch_add(1, SeqCst);
                }
            }),
    );
    // The one place is taken: a High submission displaces the victim, and
    // the victim's callback runs on the displacer's thread.
    let displacer = std::thread::spawn({
        let pool = pool.clone();
        move || {
            pool.try_spawn(Job::new(|| ()).priority(Priority::High))
                .is_ok()
        }
    });
    started
        .recv_timeout(LIMIT)
        .expect("the victim's callback runs");
    release(&gate, blockers);
    within(LIMIT, "wait", {
        let pool = pool.clone();
        move || pool.wait()
    });
    assert_eq!(
        done.load(SeqCst),
        1,
        "wait returned before a shed job's callback"
    );
    assert!(displacer.join().unwrap());
    assert!(victim.join().unwrap_err().is_shed());
}
