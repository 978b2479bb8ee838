//! Publication of a pool's figures through the `metrics` facade (feature
//! `metrics`): [`Executor::publish_metrics`](crate::Executor::publish_metrics).
//!
//! Publication happens on read, when the application calls it (from a
//! timer, or before each scrape), never on the job path: the job path keeps
//! its per-worker counters and histograms, and a publication reads them as
//! `stats()` does, so a recorder (user code, with locks and allocations of
//! its own) costs the pool's jobs nothing. The pool has no thread of its
//! own that wakes on a schedule (idle workers park), so it does not publish
//! by itself.
//!
//! Gauges are set and counters are set with `Counter::absolute` from the
//! pool's totals. Histograms are fed the growth of the pool's log-linear
//! histograms since the last publication: for each bucket that gained
//! values, its midpoint in seconds, that many times (`record_many`).
//!
//! The order of a publication: under the `published` lock (which nothing
//! else takes) take a [`Stats`] snapshot (the registry's lock is taken and
//! released inside) and the histograms' growth, release it, then call the
//! recorder, under a catch: a recorder that panics is reported through
//! `tracing` and the caller goes on.

use crate::panic::run_caught;
use crate::state::Shared;
use crate::stats::{snapshot, Stats};
use crate::sync::lock;

/// Gauge: worker threads ([`Stats::threads`]).
pub(crate) const THREADS: &str = "thread_exec_threads";
/// Gauge: idle worker threads ([`Stats::idle_threads`]).
pub(crate) const IDLE_THREADS: &str = "thread_exec_idle_threads";
/// Gauge: jobs queued ([`Stats::queued`]).
pub(crate) const QUEUED: &str = "thread_exec_queued_jobs";
/// Gauge: jobs running ([`Stats::running`]).
pub(crate) const RUNNING: &str = "thread_exec_running_jobs";
/// Counter: [`Stats::completed`].
pub(crate) const COMPLETED: &str = "thread_exec_jobs_completed_total";
/// Counter: [`Stats::panicked`].
pub(crate) const PANICKED: &str = "thread_exec_jobs_panicked_total";
/// Counter: [`Stats::cancelled`].
pub(crate) const CANCELLED: &str = "thread_exec_jobs_cancelled_total";
/// Counter: [`Stats::expired`].
pub(crate) const EXPIRED: &str = "thread_exec_jobs_expired_total";
/// Counter: [`Stats::rejected`].
pub(crate) const REJECTED: &str = "thread_exec_jobs_rejected_total";
/// Counter: [`Stats::handed_back`].
pub(crate) const HANDED_BACK: &str = "thread_exec_jobs_handed_back_total";
/// Counter, label `reason` (`submit`, `standing_queue`,
/// `would_miss_deadline`, `displaced`): [`Stats::shed`].
pub(crate) const SHED: &str = "thread_exec_jobs_shed_total";
/// Gauge, 0 or 1: [`Stats::overloaded`].
pub(crate) const OVERLOADED: &str = "thread_exec_overloaded";
/// Gauge, 0 to 100: [`Stats::load`].
pub(crate) const LOAD: &str = "thread_exec_load";
/// Histogram, seconds: [`Stats::queue_wait`].
pub(crate) const QUEUE_WAIT: &str = "thread_exec_queue_wait_seconds";
/// Histogram, seconds: [`Stats::run_time`].
pub(crate) const RUN_TIME: &str = "thread_exec_run_time_seconds";

/// A bucket's representative value in seconds, and how many values it
/// gained since the last publication.
type Samples = Vec<(f64, usize)>;

/// Publishes `shared`'s figures to the current recorder.
pub(crate) fn publish(shared: &Shared) {
    let (stats, waits, runs) = {
        let mut published = lock(&shared.published);
        let stats = snapshot(shared);
        let waits = growth(&stats.queue_wait, &published.queue_wait);
        let runs = growth(&stats.run_time, &published.run_time);
        published.queue_wait.clone_from(&stats.queue_wait);
        published.run_time.clone_from(&stats.run_time);
        (stats, waits, runs)
    };
    let label = shared.config.metrics_label.as_str();
    run_caught(
        || emit(label, &stats, &waits, &runs),
        "publishing ",
        "the pool's metrics",
    );
}

fn growth(now: &crate::Timings, before: &crate::Timings) -> Samples {
    now.growth_since(before)
        .map(|(nanos, count)| {
            let seconds = nanos as f64 / 1e9;
            (seconds, usize::try_from(count).unwrap_or(usize::MAX))
        })
        .collect()
}

/// Calls the recorder: user code, with no lock of the crate held.
fn emit(label: &str, stats: &Stats, waits: &Samples, runs: &Samples) {
    use metrics::{
        counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
    };
    describe_gauge!(THREADS, Unit::Count, "Worker threads of the pool");
    describe_gauge!(IDLE_THREADS, Unit::Count, "Worker threads waiting for work");
    describe_gauge!(QUEUED, Unit::Count, "Jobs accepted and not started");
    describe_gauge!(RUNNING, Unit::Count, "Jobs started and not finished");
    describe_counter!(COMPLETED, Unit::Count, "Jobs that ran and returned");
    describe_counter!(PANICKED, Unit::Count, "Jobs that ran and panicked");
    describe_counter!(CANCELLED, Unit::Count, "Jobs cancelled before they ran");
    describe_counter!(
        EXPIRED,
        Unit::Count,
        "Jobs whose queue deadline passed before they started"
    );
    describe_counter!(REJECTED, Unit::Count, "Submissions refused by a full queue");
    describe_counter!(
        HANDED_BACK,
        Unit::Count,
        "Queued jobs handed back unrun by shutdown_now or a drain"
    );
    describe_counter!(
        SHED,
        Unit::Count,
        "Jobs and submissions shed under overload, by reason"
    );
    describe_gauge!(
        OVERLOADED,
        Unit::Count,
        "1 while the pool sheds work under a standing queue"
    );
    describe_gauge!(
        LOAD,
        Unit::Percent,
        "Least queue wait as a share of twice the target"
    );
    describe_histogram!(
        QUEUE_WAIT,
        Unit::Seconds,
        "Time from a job's acceptance to its start"
    );
    describe_histogram!(
        RUN_TIME,
        Unit::Seconds,
        "Time from a job's start to the end of its callback"
    );
    let pool = label.to_owned();
    gauge!(THREADS, "pool" => pool.clone()).set(stats.threads as f64);
    gauge!(IDLE_THREADS, "pool" => pool.clone()).set(stats.idle_threads as f64);
    gauge!(QUEUED, "pool" => pool.clone()).set(stats.queued as f64);
    gauge!(RUNNING, "pool" => pool.clone()).set(stats.running as f64);
    counter!(COMPLETED, "pool" => pool.clone()).absolute(stats.completed);
    counter!(PANICKED, "pool" => pool.clone()).absolute(stats.panicked);
    counter!(CANCELLED, "pool" => pool.clone()).absolute(stats.cancelled);
    counter!(EXPIRED, "pool" => pool.clone()).absolute(stats.expired);
    counter!(REJECTED, "pool" => pool.clone()).absolute(stats.rejected);
    counter!(HANDED_BACK, "pool" => pool.clone()).absolute(stats.handed_back);
    let shed = stats.shed;
    for (reason, count) in [
        ("submit", shed.at_submit),
        ("standing_queue", shed.standing_queue),
        ("would_miss_deadline", shed.would_miss_deadline),
        ("displaced", shed.displaced),
    ] {
        counter!(SHED, "pool" => pool.clone(), "reason" => reason).absolute(count);
    }
    gauge!(OVERLOADED, "pool" => pool.clone()).set(f64::from(u8::from(stats.overloaded)));
    gauge!(LOAD, "pool" => pool.clone()).set(f64::from(stats.load));
    let queue_wait = histogram!(QUEUE_WAIT, "pool" => pool.clone());
    for &(seconds, count) in waits {
        queue_wait.record_many(seconds, count);
    }
    let run_time = histogram!(RUN_TIME, "pool" => pool);
    for &(seconds, count) in runs {
        run_time.record_many(seconds, count);
    }
}
