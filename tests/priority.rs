//! Priority lanes: a worker takes the next job from the highest lane that
//! has one, first in first out within a lane; the lanes share the bounded
//! capacity; deadlines, cancellation and `shutdown_now` work in every lane.
#![allow(deprecated)] // also covers the deprecated `try_send` and `send_async`, which keep working

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{occupy, release, within, LIMIT};
use thread_exec::{Builder, Executor, Job, JobHandle, Priority};

const ALL: [Priority; 3] = [Priority::Low, Priority::Normal, Priority::High];

/// Sends a job that appends `(priority, index)` to `log` when it runs.
fn logged(
    pool: &Executor,
    log: &Arc<Mutex<Vec<(Priority, usize)>>>,
    priority: Priority,
    index: usize,
) -> JobHandle<()> {
    let log = Arc::clone(log);
    pool.send(Job::new(move || log.lock().unwrap().push((priority, index))).priority(priority))
}

#[test]
fn one_worker_starts_the_highest_lane_first_and_each_lane_in_order() {
    within(LIMIT, "priority order", || {
        let pool = Executor::new(1);
        let (gate, blockers) = occupy(&pool, 1);
        let log = Arc::new(Mutex::new(Vec::new()));
        use Priority::{High, Low, Normal};
        let order = [Low, Normal, High, Normal, High];
        let handles: Vec<_> = order
            .iter()
            .enumerate()
            .map(|(index, &priority)| logged(&pool, &log, priority, index))
            .collect();
        release(&gate, blockers);
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(
            *log.lock().unwrap(),
            [(High, 2), (High, 4), (Normal, 1), (Normal, 3), (Low, 0)]
        );
    });
}

#[test]
fn a_long_mixed_sequence_runs_in_lane_order_then_submission_order() {
    within(LIMIT, "mixed priority order", || {
        let pool = Executor::new(1);
        let (gate, blockers) = occupy(&pool, 1);
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut rng = common::Rng(0x5eed);
        let mut expected: Vec<(Priority, usize)> =
            (0..300).map(|index| (ALL[rng.below(3)], index)).collect();
        let handles: Vec<_> = expected
            .iter()
            .map(|&(priority, index)| logged(&pool, &log, priority, index))
            .collect();
        release(&gate, blockers);
        for handle in handles {
            handle.join().unwrap();
        }
        // Highest lane first; a stable sort keeps submission order within one.
        expected.sort_by_key(|&(priority, _)| std::cmp::Reverse(priority));
        assert_eq!(*log.lock().unwrap(), expected);
    });
}

#[test]
fn the_lanes_share_the_bounded_capacity() {
    within(LIMIT, "shared capacity", || {
        let pool = Builder::new().threads(1).max_queue_size(3).build().unwrap();
        let (gate, blockers) = occupy(&pool, 1);
        let queued: Vec<_> = ALL
            .iter()
            .map(|&priority| pool.send(Job::new(move || priority).priority(priority)))
            .collect();
        assert_eq!(pool.stats().queued, 3);
        // Full whatever the lane of the next job.
        for priority in ALL {
            let refused = pool.try_send(Job::new(move || priority).priority(priority));
            assert!(refused.unwrap_err().is_full(), "{priority:?} was accepted");
        }
        // A cancelled job gives its place back, to any lane.
        assert!(queued[0].cancel());
        let high = pool
            .try_send(Job::new(|| Priority::High).priority(Priority::High))
            .expect("a place was freed");
        release(&gate, blockers);
        assert!(queued
            .into_iter()
            .next()
            .unwrap()
            .join()
            .unwrap_err()
            .is_cancelled());
        assert_eq!(high.join().unwrap(), Priority::High);
        pool.wait();
        let stats = pool.stats();
        assert_eq!((stats.rejected, stats.cancelled), (3, 1));
    });
}

#[test]
fn shutdown_now_hands_back_the_highest_lane_first() {
    within(LIMIT, "shutdown_now order", || {
        let pool = Executor::new(1);
        let (gate, blockers) = occupy(&pool, 1);
        let log = Arc::new(Mutex::new(Vec::new()));
        use Priority::{High, Low, Normal};
        let order = [Low, Normal, High, Low, High, Normal];
        let handles: Vec<_> = order
            .iter()
            .enumerate()
            .map(|(index, &priority)| logged(&pool, &log, priority, index))
            .collect();
        let pending = pool.shutdown_now();
        assert_eq!(pending.len(), order.len());
        // Run them in the order they were handed back.
        for job in pending {
            job.run();
        }
        release(&gate, blockers);
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(
            *log.lock().unwrap(),
            [
                (High, 2),
                (High, 4),
                (Normal, 1),
                (Normal, 5),
                (Low, 0),
                (Low, 3)
            ]
        );
    });
}

#[test]
fn deadlines_and_cancellation_work_in_every_lane() {
    within(LIMIT, "deadlines and cancellation per lane", || {
        let pool = Executor::new(1);
        let (gate, blockers) = occupy(&pool, 1);
        let past = Instant::now();
        let expiring: Vec<_> = ALL
            .iter()
            .map(|&priority| pool.send(Job::new(|| ()).priority(priority).deadline(past)))
            .collect();
        let cancelled: Vec<_> = ALL
            .iter()
            .map(|&priority| pool.send(Job::new(|| ()).priority(priority)))
            .collect();
        for handle in &cancelled {
            assert!(handle.cancel());
        }
        let fresh: Vec<_> = ALL
            .iter()
            .map(|&priority| {
                pool.send(
                    Job::new(move || priority)
                        .priority(priority)
                        .queue_timeout(Duration::from_secs(3600)),
                )
            })
            .collect();
        release(&gate, blockers);
        for handle in expiring {
            assert!(handle.join().unwrap_err().is_expired());
        }
        for handle in cancelled {
            assert!(handle.join().unwrap_err().is_cancelled());
        }
        for (handle, priority) in fresh.into_iter().zip(ALL) {
            assert_eq!(handle.join().unwrap(), priority);
        }
        pool.wait();
        let stats = pool.stats();
        assert_eq!((stats.expired, stats.cancelled), (3, 3));
        assert_eq!(stats.completed, 1 + 3); // the blocker and the fresh jobs
        assert_eq!(stats.queued, 0);
    });
}

#[test]
fn a_job_joining_a_low_job_on_its_own_one_thread_pool_runs_it() {
    within(
        LIMIT,
        "join of a Low job from the pool's only worker",
        || {
            let pool = Executor::new(1);
            let inner_pool = pool.clone();
            let outer = pool.spawn(move || {
                let low = inner_pool.send(Job::new(|| 7).priority(Priority::Low));
                // Nudges ahead of it in the Normal lane must not stop the search.
                low.join().unwrap()
            });
            assert_eq!(outer.join().unwrap(), 7);
        },
    );
}

#[test]
fn a_blocking_submit_of_a_low_job_to_its_own_full_pool_makes_progress() {
    within(LIMIT, "blocking submit to own full pool, Low lane", || {
        let pool = Builder::new().threads(1).max_queue_size(1).build().unwrap();
        let inner_pool = pool.clone();
        let outer = pool.spawn(move || {
            let first = inner_pool.send(Job::new(|| 1).priority(Priority::Low));
            // The queue is full of a Low job: this send runs it to make room.
            let second = inner_pool.send(Job::new(|| 2).priority(Priority::Low));
            first.join().unwrap() + second.join().unwrap()
        });
        assert_eq!(outer.join().unwrap(), 3);
    });
}

#[test]
fn every_lane_runs_on_a_busy_pool_from_many_submitters() {
    within(LIMIT, "lanes under concurrent submission", || {
        let pool = Builder::new()
            .threads(2)
            .max_queue_size(16)
            .build()
            .unwrap();
        let submitters: Vec<_> = (0..4)
            .map(|s| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    let handles: Vec<_> = (0..2_000)
                        .map(|i| {
                            let priority = ALL[(i + s) % 3];
                            pool.send(Job::new(move || i).priority(priority))
                        })
                        .collect();
                    handles
                        .into_iter()
                        .enumerate()
                        .all(|(i, handle)| handle.join().unwrap() == i)
                })
            })
            .collect();
        for submitter in submitters {
            assert!(submitter.join().unwrap());
        }
        pool.wait();
        let stats = pool.stats();
        assert_eq!(
            (stats.completed, stats.queued, stats.running),
            (8_000, 0, 0)
        );
    });
}
