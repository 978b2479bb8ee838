//! `Stats`: exact counts once the pool is quiet, and the queue-wait and
//! run-time histograms of `Builder::record_timings`.

mod common;

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{occupy, quiet_worker_panics, release, rendezvous, within, Gate, LIMIT};
use thread_exec::{Executor, Job, Timings};

/// Every count of a quiet pool is exact: completed, panicked, cancelled,
/// expired and rejected, each provoked a known number of times, and the
/// timings count exactly the jobs that started.
#[test]
fn counts_are_exact_once_the_pool_is_quiet() {
    quiet_worker_panics();
    within(LIMIT, "counts", || {
        let pool = Executor::builder()
            .threads(2)
            .max_queue_size(8)
            .record_timings(true)
            .build()
            .unwrap();
        let (gate, blockers) = occupy(&pool, 2);
        // The queue: 3 that complete, 2 that panic, 1 cancelled, 2 expired.
        let mut handles = Vec::new();
        for _ in 0..3 {
            handles.push(pool.spawn(|| ()));
        }
        for _ in 0..2 {
            handles.push(pool.spawn(|| panic!("counted")));
        }
        let cancelled = pool.spawn(|| ());
        let past = Instant::now();
        let expired: Vec<_> = (0..2)
            .map(|_| pool.send(Job::new(|| ()).deadline(past)))
            .collect();
        assert_eq!(pool.stats().queued, 8);
        // Full: four refusals, each handing the job back.
        for _ in 0..4 {
            assert!(pool.try_spawn(|| ()).unwrap_err().is_full());
        }
        assert!(cancelled.cancel());
        release(&gate, blockers);
        pool.wait();
        for handle in expired {
            assert!(handle.join().unwrap_err().is_expired());
        }
        let stats = pool.stats();
        assert_eq!(stats.completed, 3 + 2, "three jobs and the two blockers");
        assert_eq!(stats.panicked, 2);
        assert_eq!(stats.cancelled, 1);
        assert_eq!(stats.expired, 2);
        assert_eq!(stats.rejected, 4);
        assert_eq!((stats.queued, stats.running), (0, 0));
        // Timed: every job that started, and no other.
        assert_eq!(stats.queue_wait.count(), stats.completed + stats.panicked);
        assert_eq!(stats.run_time.count(), stats.completed + stats.panicked);
        drop(handles);
        pool.shutdown();
    });
}

/// Without `record_timings` the histograms stay empty, and the counts are
/// kept as before.
#[test]
fn timings_are_off_by_default() {
    let pool = Executor::new(2);
    for _ in 0..10 {
        pool.spawn(|| ());
    }
    within(LIMIT, "wait", {
        let pool = pool.clone();
        move || pool.wait()
    });
    let stats = pool.stats();
    assert_eq!(stats.completed, 10);
    assert_eq!(stats.queue_wait, Timings::default());
    assert_eq!(stats.run_time, Timings::default());
    assert_eq!(stats.run_time.quantile(0.5), Duration::ZERO);
    pool.shutdown();
}

/// What the test saw of one job, on the clock the pool uses: `submitting`
/// and `submitted` bracket the submit call, `began` and `ended` the job's
/// closure.
#[derive(Clone, Copy)]
struct Seen {
    submitting: Instant,
    submitted: Instant,
    began: Instant,
    ended: Instant,
}

/// Nanoseconds from `earlier` to `later`, 0 if `later` is earlier.
fn nanos(later: Instant, earlier: Instant) -> u64 {
    later.saturating_duration_since(earlier).as_nanos() as u64
}

/// Checks a quantile estimate against the range the true value must lie in.
/// Sleeps only overshoot, and the pool's own measurement includes its
/// bookkeeping, so the test does not compare with nominal sleeps: it
/// brackets each job's true wait and run time between bounds it measured
/// itself (see `quantiles_of_sleeping_jobs_are_within_the_bound`). The
/// true value of rank r lies between the r-th smallest lower bound and the
/// r-th smallest upper bound; the estimate within 1/32 of it (and 2 ns of
/// rounding between the two clocks' readings).
fn check(what: &str, timings: &Timings, lower: &mut [u64], upper: &mut [u64]) {
    lower.sort_unstable();
    upper.sort_unstable();
    let count = lower.len();
    assert_eq!(timings.count(), count as u64, "{what}: count");
    for q in [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0] {
        let rank = ((q * count as f64).ceil() as usize).clamp(1, count);
        let (low, high) = (lower[rank - 1] as f64, upper[rank - 1] as f64);
        let estimate = timings.quantile(q).as_nanos() as f64;
        assert!(
            estimate >= low - low / 32.0 - 2.0 && estimate <= high + high / 32.0 + 2.0,
            "{what}: quantile {q} = {estimate} ns, true value in {low}..={high} ns"
        );
    }
    let max = timings.max().as_nanos() as u64;
    assert!(
        max + 2 >= lower[count - 1] && max <= upper[count - 1] + 2,
        "{what}: max"
    );
    let mean = timings.mean().as_nanos() as u64;
    let (low_mean, high_mean) = (
        lower.iter().sum::<u64>() / count as u64,
        upper.iter().sum::<u64>() / count as u64,
    );
    assert!(
        mean + 2 >= low_mean && mean <= high_mean + 2,
        "{what}: mean {mean} ns outside {low_mean}..={high_mean} ns"
    );
}

/// The quantiles of a known mix of sleeps (0.2 to 12 ms), queued behind a
/// blocker on one worker so that the waits spread too, are within the
/// documented 1/32 of the true values. One worker runs the jobs back to
/// back in submission order, so each job's true times are bracketed by
/// what the test saw: the pool started job i after the closure of job i-1
/// ended, after its submit call began, and before its closure began; it
/// ended it after its closure ended and before the closure of job i+1
/// began (or `wait` returned).
#[test]
fn quantiles_of_sleeping_jobs_are_within_the_bound() {
    within(LIMIT, "sleeping jobs", || {
        let pool = Executor::builder()
            .threads(1)
            .record_timings(true)
            .build()
            .unwrap();
        let sleeps_us = [200, 1_000, 3_000, 12_000, 500, 1_000, 6_000, 200];
        let jobs = 40;
        let gate = Gate::new();
        let (seen_tx, seen_rx) = mpsc::channel();
        let mut submits = Vec::new();
        for i in 0..=jobs {
            let seen_tx = seen_tx.clone();
            let gate = Arc::clone(&gate);
            let submitting = Instant::now();
            pool.spawn(move || {
                let began = Instant::now();
                if i == 0 {
                    gate.wait(); // job 0 holds the worker until all are queued
                } else {
                    thread::sleep(Duration::from_micros(sleeps_us[i % sleeps_us.len()]));
                }
                let ended = Instant::now();
                seen_tx.send((i, began, ended)).unwrap();
            });
            submits.push((submitting, Instant::now()));
        }
        gate.open();
        pool.wait();
        let waited = Instant::now();
        let mut seen: Vec<Option<Seen>> = vec![None; jobs + 1];
        for _ in 0..=jobs {
            let (i, began, ended) = seen_rx.recv_timeout(LIMIT).unwrap();
            let (submitting, submitted) = submits[i];
            seen[i] = Some(Seen {
                submitting,
                submitted,
                began,
                ended,
            });
        }
        let seen: Vec<Seen> = seen.into_iter().map(Option::unwrap).collect();
        let (mut wait_low, mut wait_high, mut run_low, mut run_high) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, job) in seen.iter().enumerate() {
            // The pool's start: after both of these, before `began`.
            let earliest_start = match i {
                0 => job.submitting,
                _ => seen[i - 1].ended.max(job.submitting),
            };
            let latest_end = seen.get(i + 1).map_or(waited, |next| next.began);
            wait_low.push(nanos(earliest_start, job.submitted));
            wait_high.push(nanos(job.began, job.submitting));
            run_low.push(nanos(job.ended, job.began));
            run_high.push(nanos(latest_end, earliest_start));
        }
        let stats = pool.stats();
        check(
            "queue wait",
            &stats.queue_wait,
            &mut wait_low,
            &mut wait_high,
        );
        check("run time", &stats.run_time, &mut run_low, &mut run_high);
        // A spread that the check above means something on.
        assert!(stats.run_time.quantile(0.9) >= 4 * stats.run_time.quantile(0.1));
        pool.shutdown();
    });
}

/// Each worker keeps its own histograms; `stats()` merges them, including
/// those of workers that have exited.
#[test]
fn timings_merge_across_workers_and_outlive_them() {
    within(LIMIT, "merge", || {
        let pool = Executor::builder()
            .threads(4)
            .record_timings(true)
            .build()
            .unwrap();
        // Four jobs that complete only if four workers run them at once:
        // each worker times one.
        rendezvous(&pool, 4);
        for _ in 0..20 {
            pool.spawn(|| thread::sleep(Duration::from_micros(100)));
        }
        pool.wait();
        let before = pool.stats();
        assert_eq!(before.run_time.count(), 24);
        assert_eq!(before.queue_wait.count(), 24);
        assert!(before.run_time.max() >= Duration::from_micros(100));
        // Three workers exit; their timings stay in the pool's.
        assert_eq!(pool.scale_down(3), 1);
        common::eventually(LIMIT, "scale-down", || pool.stats().threads == 1);
        pool.spawn(|| ()).join().unwrap();
        pool.wait();
        let after = pool.stats();
        assert_eq!(after.run_time.count(), 25);
        assert_eq!(after.run_time.max(), before.run_time.max());
        // Merging the two snapshots adds their counts.
        let mut merged = before.run_time.clone();
        merged.merge(&after.run_time);
        assert_eq!(merged.count(), 49);
        assert_eq!(merged.max(), after.run_time.max());
        pool.shutdown();
    });
}
