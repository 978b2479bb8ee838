//! Sharded lanes: a pool of four threads or more splits each priority lane
//! into several channels (one per two threads, see the queue's module
//! docs), and each submitting thread sticks to one of them. What sharding
//! must not change, seen through the public API with submitters on several
//! threads: priority order across shards, first in first out per
//! submitter, `shutdown_now` handing back every job, and one exact bound
//! on queued jobs.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};

use common::{eventually, occupy, release, within, LIMIT};
use thread_exec::{Builder, Executor, Job, JobHandle, Priority};

/// Eight threads: four shards per lane.
const THREADS: usize = 8;
/// More submitting threads than shards, so that some share one.
const SUBMITTERS: usize = 6;
const PER_SUBMITTER: usize = 120;

const ALL: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

/// What a logged job records when it starts: its submitter, its lane and
/// its place in that submitter's sequence.
type Entry = (usize, Priority, usize);
type Log = Arc<Mutex<Vec<Entry>>>;

/// A pool built for `THREADS` threads (so its lanes have four shards)
/// brought down to one worker, so that the order in which jobs start is
/// the order in which the queue hands them out.
fn sharded_pool_with_one_worker() -> Executor {
    let pool = Executor::new(THREADS);
    assert_eq!(pool.scale_down(THREADS - 1), 1);
    eventually(LIMIT, "seven workers retire", || pool.stats().threads == 1);
    pool
}

/// `SUBMITTERS` threads, started together, each submitting
/// `PER_SUBMITTER` logged jobs in lanes drawn from its own seed. Returns
/// every handle.
fn submit_from_threads(pool: &Executor, log: &Log) -> Vec<JobHandle<()>> {
    let start = Barrier::new(SUBMITTERS);
    std::thread::scope(|scope| {
        let submitters: Vec<_> = (0..SUBMITTERS)
            .map(|submitter| {
                let (start, pool, log) = (&start, pool.clone(), Arc::clone(log));
                scope.spawn(move || {
                    let mut rng = common::Rng(0x5eed + submitter as u64);
                    start.wait();
                    (0..PER_SUBMITTER)
                        .map(|seq| {
                            let lane = ALL[rng.below(3)];
                            let log = Arc::clone(&log);
                            pool.send(
                                Job::new(move || log.lock().unwrap().push((submitter, lane, seq)))
                                    .priority(lane),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        submitters
            .into_iter()
            .flat_map(|submitter| submitter.join().unwrap())
            .collect()
    })
}

/// Within each submitter and lane, the jobs started in the order they were
/// submitted.
fn assert_fifo_per_submitter(log: &[Entry]) {
    for submitter in 0..SUBMITTERS {
        for lane in ALL {
            let seqs: Vec<usize> = log
                .iter()
                .filter(|&&(s, l, _)| s == submitter && l == lane)
                .map(|&(_, _, seq)| seq)
                .collect();
            assert!(
                seqs.windows(2).all(|pair| pair[0] < pair[1]),
                "submitter {submitter}, lane {lane:?}: started out of order: {seqs:?}"
            );
        }
    }
}

/// Jobs queued by six threads into four shards while the one worker is
/// busy: once it is free it starts every `High` job before any `Normal`
/// one and every `Normal` before any `Low`, wherever each was queued, and
/// each submitter's jobs of one lane in submission order.
#[test]
fn priority_holds_across_shards_and_each_submitter_stays_in_order() {
    within(LIMIT, "priority across shards", || {
        let pool = sharded_pool_with_one_worker();
        let (gate, blockers) = occupy(&pool, 1);
        let log: Log = Arc::default();
        let handles = submit_from_threads(&pool, &log);
        assert_eq!(pool.stats().queued, (SUBMITTERS * PER_SUBMITTER) as u64);
        release(&gate, blockers);
        for handle in handles {
            handle.join().unwrap();
        }
        let log = log.lock().unwrap();
        assert_eq!(log.len(), SUBMITTERS * PER_SUBMITTER);
        let lanes: Vec<Priority> = log.iter().map(|&(_, lane, _)| lane).collect();
        let rank = |lane: &Priority| ALL.iter().position(|l| l == lane).unwrap();
        assert!(
            lanes
                .windows(2)
                .all(|pair| rank(&pair[0]) <= rank(&pair[1])),
            "a lower lane's job started while a higher lane's was queued"
        );
        assert_fifo_per_submitter(&log);
        pool.shutdown();
    });
}

/// The same submitters while the worker runs: each submitter's jobs of one
/// lane still start in the order it submitted them (the worker takes from
/// every shard in turn, never out of order within one).
#[test]
fn each_submitter_stays_in_order_while_the_worker_runs() {
    within(LIMIT, "FIFO per submitter", || {
        let pool = sharded_pool_with_one_worker();
        let log: Log = Arc::default();
        let handles = submit_from_threads(&pool, &log);
        for handle in handles {
            handle.join().unwrap();
        }
        let log = log.lock().unwrap();
        assert_eq!(log.len(), SUBMITTERS * PER_SUBMITTER);
        assert_fifo_per_submitter(&log);
        pool.shutdown();
    });
}

/// Every job queued in any shard of any lane is handed back by
/// `shutdown_now`, none runs, and the counts end at zero.
#[test]
fn shutdown_now_hands_back_the_jobs_of_every_shard() {
    within(LIMIT, "shutdown_now across shards", || {
        let pool = Executor::new(THREADS);
        let (gate, blockers) = occupy(&pool, THREADS);
        let log: Log = Arc::default();
        let handles = submit_from_threads(&pool, &log);
        let pending = pool.shutdown_now();
        assert_eq!(pending.len(), SUBMITTERS * PER_SUBMITTER);
        assert_eq!(pool.stats().queued, 0);
        drop(pending);
        release(&gate, blockers);
        for handle in handles {
            assert!(handle.join().unwrap_err().is_cancelled());
        }
        assert!(log.lock().unwrap().is_empty());
        pool.shutdown();
        let stats = pool.stats();
        assert_eq!((stats.queued, stats.running), (0, 0));
        assert_eq!(stats.completed, THREADS as u64, "only the blockers ran");
    });
}

/// Eight threads race to fill a bounded queue spread over four shards:
/// exactly `max_queue_size` jobs are accepted; a cancel frees its place at
/// once, for any submitter on any shard; every accepted job runs once.
#[test]
fn the_bound_is_exact_under_many_submitters() {
    const BOUND: usize = 37;
    const TRIES: usize = 20;
    within(LIMIT, "exact bound across shards", || {
        let pool = Builder::new()
            .threads(THREADS)
            .max_queue_size(BOUND)
            .build()
            .unwrap();
        let (gate, blockers) = occupy(&pool, THREADS);
        let runs = Arc::new(AtomicUsize::new(0));
        let start = Barrier::new(THREADS);
        let accepted: Vec<JobHandle<()>> = std::thread::scope(|scope| {
            let submitters: Vec<_> = (0..THREADS)
                .map(|_| {
                    let (start, pool, runs) = (&start, pool.clone(), Arc::clone(&runs));
                    scope.spawn(move || {
                        start.wait();
                        (0..TRIES)
                            .filter_map(|_| {
                                let runs = Arc::clone(&runs);
                                pool.try_spawn(move || {
                                    runs.fetch_add(1, SeqCst);
                                })
                                .ok()
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            submitters
                .into_iter()
                .flat_map(|submitter| submitter.join().unwrap())
                .collect()
        });
        assert_eq!(accepted.len(), BOUND);
        let stats = pool.stats();
        assert_eq!(stats.queued, BOUND as u64);
        assert_eq!(stats.rejected, (THREADS * TRIES - BOUND) as u64);
        // Cancel five: five places free at once, taken by a thread that
        // never submitted before (a shard of its own choosing).
        let mut accepted = accepted.into_iter();
        for handle in accepted.by_ref().take(5) {
            assert!(handle.cancel());
        }
        assert_eq!(pool.stats().queued, (BOUND - 5) as u64);
        let refilled: Vec<JobHandle<()>> = std::thread::scope(|scope| {
            let pool = &pool;
            scope
                .spawn(move || {
                    (0..6)
                        .filter_map(|_| pool.try_spawn(|| {}).ok())
                        .collect::<Vec<_>>()
                })
                .join()
                .unwrap()
        });
        assert_eq!(refilled.len(), 5);
        assert_eq!(pool.stats().queued, BOUND as u64);
        release(&gate, blockers);
        for handle in accepted.chain(refilled) {
            handle.join().unwrap();
        }
        assert_eq!(runs.load(SeqCst), BOUND - 5);
        pool.shutdown();
        let stats = pool.stats();
        assert_eq!((stats.queued, stats.running, stats.cancelled), (0, 0, 5));
    });
}
