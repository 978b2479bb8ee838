//! Feature `metrics`: `Executor::publish_metrics` publishes every documented
//! name, with the pool's label and the values of `stats()`, to the recorder
//! in effect (here `metrics-util`'s debugging recorder, local to each test).
#![cfg(feature = "metrics")]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{eventually, occupy, quiet_worker_panics, release, within, LIMIT};
use metrics::{Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;
use thread_exec::{Executor, Job, Stats};

const GAUGES: [&str; 6] = [
    "thread_exec_threads",
    "thread_exec_idle_threads",
    "thread_exec_queued_jobs",
    "thread_exec_running_jobs",
    "thread_exec_overloaded",
    "thread_exec_load",
];
/// The shed counter is one series per `reason`, named here as
/// `name{reason}`.
const COUNTERS: [&str; 10] = [
    "thread_exec_jobs_completed_total",
    "thread_exec_jobs_panicked_total",
    "thread_exec_jobs_cancelled_total",
    "thread_exec_jobs_expired_total",
    "thread_exec_jobs_rejected_total",
    "thread_exec_jobs_handed_back_total",
    "thread_exec_jobs_shed_total{submit}",
    "thread_exec_jobs_shed_total{standing_queue}",
    "thread_exec_jobs_shed_total{would_miss_deadline}",
    "thread_exec_jobs_shed_total{displaced}",
];
const HISTOGRAMS: [&str; 2] = [
    "thread_exec_queue_wait_seconds",
    "thread_exec_run_time_seconds",
];

/// One published metric as the debugging recorder saw it.
struct Seen {
    kind: MetricKind,
    unit: Option<Unit>,
    described: bool,
    value: DebugValue,
}

/// Publishes `pool`'s metrics to a fresh local recorder (or `recorder`'s,
/// drained by the snapshot) and returns them by name, checking that each
/// carries exactly the label `pool = label`, and the shed counter also a
/// `reason` (its series are named `name{reason}`).
fn publish(
    pool: &Executor,
    recorder: &DebuggingRecorder,
    snapshotter: &Snapshotter,
    label: &str,
) -> HashMap<String, Seen> {
    metrics::with_local_recorder(recorder, || pool.publish_metrics());
    let mut seen = HashMap::new();
    for (key, unit, description, value) in snapshotter.snapshot().into_vec() {
        let labels: Vec<(String, String)> = key
            .key()
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        let mut name = key.key().name().to_owned();
        let pool_label = ("pool".to_owned(), label.to_owned());
        if name == "thread_exec_jobs_shed_total" {
            assert_eq!(labels.len(), 2, "{name}'s labels: {labels:?}");
            assert_eq!(labels[0], pool_label, "{name}'s labels");
            assert_eq!(labels[1].0, "reason", "{name}'s labels");
            name = format!("{name}{{{}}}", labels[1].1);
        } else {
            assert_eq!(labels, [pool_label], "{name}'s labels");
        }
        let entry = Seen {
            kind: key.kind(),
            unit,
            described: description.is_some(),
            value,
        };
        assert!(seen.insert(name.clone(), entry).is_none(), "{name} twice");
    }
    seen
}

fn counter(seen: &HashMap<String, Seen>, name: &str) -> u64 {
    match &seen[name].value {
        DebugValue::Counter(value) => *value,
        other => panic!("{name} is not a counter: {other:?}"),
    }
}

fn gauge(seen: &HashMap<String, Seen>, name: &str) -> f64 {
    match &seen[name].value {
        DebugValue::Gauge(value) => value.into_inner(),
        other => panic!("{name} is not a gauge: {other:?}"),
    }
}

fn samples(seen: &HashMap<String, Seen>, name: &str) -> Vec<f64> {
    match &seen[name].value {
        DebugValue::Histogram(values) => values.iter().map(|v| v.into_inner()).collect(),
        other => panic!("{name} is not a histogram: {other:?}"),
    }
}

/// A pool that saw each outcome a known number of times, quiet.
fn pool_with_history(label: &str) -> Executor {
    quiet_worker_panics();
    let pool = Executor::builder()
        .threads(2)
        .max_queue_size(6)
        .record_timings(true)
        .metrics_label(label)
        .build()
        .unwrap();
    let (gate, blockers) = occupy(&pool, 2);
    pool.spawn(|| ());
    pool.spawn(|| ());
    pool.spawn(|| panic!("counted"));
    let cancelled = pool.spawn(|| ());
    pool.send(Job::new(|| ()).deadline(Instant::now()));
    pool.spawn(|| std::thread::sleep(Duration::from_millis(2)));
    for _ in 0..3 {
        assert!(pool.try_spawn(|| ()).is_err());
    }
    assert!(cancelled.cancel());
    release(&gate, blockers);
    pool.wait();
    eventually(LIMIT, "both workers idle", || {
        pool.stats().idle_threads == 2
    });
    pool
}

#[test]
fn every_documented_name_is_published_with_the_stats_values() {
    within(LIMIT, "publish", || {
        let pool = pool_with_history("checked");
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let stats: Stats = pool.stats();
        let seen = publish(&pool, &recorder, &snapshotter, "checked");

        let mut names: Vec<&str> = seen.keys().map(String::as_str).collect();
        names.sort_unstable();
        let mut documented: Vec<&str> = GAUGES
            .iter()
            .chain(&COUNTERS)
            .chain(&HISTOGRAMS)
            .copied()
            .collect();
        documented.sort_unstable();
        assert_eq!(names, documented, "exactly the documented names");
        for name in GAUGES {
            assert_eq!(seen[name].kind, MetricKind::Gauge, "{name}");
        }
        for name in COUNTERS {
            assert_eq!(seen[name].kind, MetricKind::Counter, "{name}");
        }
        for name in HISTOGRAMS {
            assert_eq!(seen[name].kind, MetricKind::Histogram, "{name}");
            assert_eq!(seen[name].unit, Some(Unit::Seconds), "{name}");
        }
        assert!(
            seen.values().all(|metric| metric.described),
            "every name is described"
        );

        assert_eq!(gauge(&seen, "thread_exec_threads"), 2.0);
        assert_eq!(gauge(&seen, "thread_exec_idle_threads"), 2.0);
        assert_eq!(gauge(&seen, "thread_exec_queued_jobs"), 0.0);
        assert_eq!(gauge(&seen, "thread_exec_running_jobs"), 0.0);
        // Two blockers, two plain jobs and the sleeper completed.
        assert_eq!(stats.completed, 5);
        assert_eq!(counter(&seen, "thread_exec_jobs_completed_total"), 5);
        assert_eq!(counter(&seen, "thread_exec_jobs_panicked_total"), 1);
        assert_eq!(counter(&seen, "thread_exec_jobs_cancelled_total"), 1);
        assert_eq!(counter(&seen, "thread_exec_jobs_expired_total"), 1);
        assert_eq!(counter(&seen, "thread_exec_jobs_rejected_total"), 3);
        assert_eq!(counter(&seen, "thread_exec_jobs_handed_back_total"), 0);
        for reason in [
            "submit",
            "standing_queue",
            "would_miss_deadline",
            "displaced",
        ] {
            let name = format!("thread_exec_jobs_shed_total{{{reason}}}");
            assert_eq!(counter(&seen, &name), 0, "{name}");
        }
        assert_eq!(gauge(&seen, "thread_exec_overloaded"), 0.0);
        assert_eq!(gauge(&seen, "thread_exec_load"), f64::from(stats.load));

        // One sample per job that started, each a bucket's midpoint: the
        // largest within 1/32 of the exact maximum.
        let waits = samples(&seen, "thread_exec_queue_wait_seconds");
        let runs = samples(&seen, "thread_exec_run_time_seconds");
        assert_eq!(waits.len() as u64, stats.queue_wait.count());
        assert_eq!(runs.len() as u64, 6);
        let longest = runs.iter().copied().fold(0.0, f64::max);
        let max = stats.run_time.max().as_secs_f64();
        assert!(
            (longest - max).abs() <= max / 32.0,
            "longest {longest} s, max {max} s"
        );
        assert!(longest >= 0.002 * (1.0 - 1.0 / 32.0));
        // The samples are the pool's histogram: every quantile of theirs is
        // the pool's estimate of that quantile.
        for (values, timings) in [(waits, &stats.queue_wait), (runs, &stats.run_time)] {
            let mut values = values;
            values.sort_by(f64::total_cmp);
            for q in [0.0, 0.5, 0.9] {
                let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
                let published = values[rank - 1];
                let estimate = timings.quantile(q).as_secs_f64();
                assert!(
                    (published - estimate).abs() <= 1e-9 + estimate / 32.0,
                    "quantile {q}: published {published} s, stats {estimate} s"
                );
            }
        }
        pool.shutdown();
    });
}

/// A second publication sets the counters to the new totals and feeds the
/// histograms only the jobs timed since the first.
#[test]
fn histograms_get_only_what_came_since_the_last_publication() {
    within(LIMIT, "publish twice", || {
        let pool = pool_with_history("twice");
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let first = publish(&pool, &recorder, &snapshotter, "twice");
        assert_eq!(samples(&first, "thread_exec_run_time_seconds").len(), 6);
        for _ in 0..4 {
            pool.spawn(|| ());
        }
        pool.wait();
        let second = publish(&pool, &recorder, &snapshotter, "twice");
        assert_eq!(samples(&second, "thread_exec_run_time_seconds").len(), 4);
        assert_eq!(samples(&second, "thread_exec_queue_wait_seconds").len(), 4);
        assert_eq!(counter(&second, "thread_exec_jobs_completed_total"), 9);
        pool.shutdown();
    });
}

/// Without `record_timings` the histograms are registered and stay empty;
/// the label defaults to the thread name.
#[test]
fn without_timings_the_histograms_stay_empty() {
    let pool = Executor::builder()
        .threads(1)
        .thread_name("plain")
        .build()
        .unwrap();
    pool.spawn(|| ()).join().unwrap();
    pool.wait();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let seen = publish(&pool, &recorder, &snapshotter, "plain");
    assert_eq!(counter(&seen, "thread_exec_jobs_completed_total"), 1);
    for name in HISTOGRAMS {
        assert!(samples(&seen, name).is_empty(), "{name}");
    }
    pool.shutdown();
}

/// A recorder is user code: one that panics is caught, and the pool (and
/// the caller) go on.
#[test]
fn a_panicking_recorder_is_caught() {
    struct Panicking;
    impl Recorder for Panicking {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {
            panic!("recorder failure");
        }
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> metrics::Counter {
            metrics::Counter::noop()
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> metrics::Histogram {
            metrics::Histogram::noop()
        }
    }
    let pool = Executor::builder().threads(1).build().unwrap();
    metrics::with_local_recorder(&Panicking, || pool.publish_metrics());
    assert_eq!(pool.spawn(|| 7).join().unwrap(), 7);
    // And a publication after it still works.
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let seen = publish(&pool, &recorder, &snapshotter, "thread-exec");
    assert_eq!(counter(&seen, "thread_exec_jobs_completed_total"), 1);
    pool.shutdown();
}

/// A call with no recorder uses up the histograms' growth (documented on
/// `publish_metrics`); the absolute counters reach a later recorder whole,
/// and its histograms hear every job timed after the unheard call.
#[test]
fn a_publication_with_no_recorder_uses_up_the_growth_but_not_the_counts() {
    within(LIMIT, "publish unheard, then heard", || {
        let pool = pool_with_history("unheard");
        // No local recorder, and this binary installs no global one.
        pool.publish_metrics();
        for _ in 0..3 {
            pool.spawn(|| ());
        }
        pool.wait();
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let seen = publish(&pool, &recorder, &snapshotter, "unheard");
        let ran = counter(&seen, "thread_exec_jobs_completed_total")
            + counter(&seen, "thread_exec_jobs_panicked_total");
        assert_eq!(ran, 6 + 3, "the counters are whole");
        assert_eq!(
            samples(&seen, "thread_exec_run_time_seconds").len(),
            3,
            "the histograms hear the jobs timed since the unheard call"
        );
        pool.shutdown();
    });
}

/// `publish_metrics` from the places user code runs: a job, its callback,
/// an `on_complete` callback, the pool's thread-start hook, and a recorder
/// that publishes again from inside its own call (a recorder is user
/// code). Each returns, the pool stays whole, and the counts stay exact.
#[test]
fn publishing_from_every_place_user_code_runs_neither_hangs_nor_miscounts() {
    use std::sync::{Arc, OnceLock};
    use thread_exec::WeakExecutor;

    /// A recorder that publishes its pool again from inside a counter's
    /// registration (once, to keep the recursion finite).
    struct Reentrant {
        pool: Arc<OnceLock<WeakExecutor>>,
        inner: DebuggingRecorder,
        nested: std::sync::atomic::AtomicBool,
    }
    impl Recorder for Reentrant {
        fn describe_counter(&self, k: KeyName, u: Option<Unit>, d: SharedString) {
            self.inner.describe_counter(k, u, d)
        }
        fn describe_gauge(&self, k: KeyName, u: Option<Unit>, d: SharedString) {
            self.inner.describe_gauge(k, u, d)
        }
        fn describe_histogram(&self, k: KeyName, u: Option<Unit>, d: SharedString) {
            self.inner.describe_histogram(k, u, d)
        }
        fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> metrics::Counter {
            if !self.nested.swap(true, std::sync::atomic::Ordering::SeqCst) {
                if let Some(pool) = self.pool.get().and_then(WeakExecutor::upgrade) {
                    pool.publish_metrics();
                }
            }
            self.inner.register_counter(key, metadata)
        }
        fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> metrics::Gauge {
            self.inner.register_gauge(key, metadata)
        }
        fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> metrics::Histogram {
            self.inner.register_histogram(key, metadata)
        }
    }

    within(LIMIT, "publish from every place", || {
        let weak: Arc<OnceLock<WeakExecutor>> = Arc::default();
        let in_hook = Arc::clone(&weak);
        let pool = Executor::builder()
            .threads(2)
            .record_timings(true)
            .metrics_label("everywhere")
            .on_thread_start(move || {
                if let Some(pool) = in_hook.get().and_then(WeakExecutor::upgrade) {
                    pool.publish_metrics();
                }
            })
            .build()
            .unwrap();
        weak.set(pool.downgrade()).unwrap();
        // A thread started after `weak` is set runs the hook with the pool.
        pool.scale_up(1).unwrap();
        let (a, b, c) = (pool.clone(), pool.clone(), pool.clone());
        let job =
            pool.send(Job::new(move || a.publish_metrics()).callback(move |_| b.publish_metrics()));
        let done = job.on_complete(move |_| c.publish_metrics());
        done.join().unwrap();
        let recorder = Reentrant {
            pool: Arc::clone(&weak),
            inner: DebuggingRecorder::new(),
            nested: std::sync::atomic::AtomicBool::new(false),
        };
        let snapshotter = recorder.inner.snapshotter();
        metrics::with_local_recorder(&recorder, || pool.publish_metrics());
        pool.wait();
        let stats = pool.stats();
        assert_eq!((stats.completed, stats.queued, stats.running), (1, 0, 0));
        let names: Vec<String> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, ..)| key.key().name().to_owned())
            .collect();
        for name in COUNTERS.iter().chain(&GAUGES).chain(&HISTOGRAMS) {
            // A shed counter's series all carry the name before `{`.
            let name = name.split('{').next().unwrap_or(name);
            assert!(names.iter().any(|n| n == name), "{name} published");
        }
        eventually(LIMIT, "the started thread counted", || {
            pool.stats().threads == 3
        });
        pool.shutdown();
    });
}

/// Shed jobs are published by reason, with the values of `Stats::shed`.
#[test]
fn shed_jobs_are_published_by_reason() {
    within(LIMIT, "publish a displacement", || {
        let pool = Executor::builder()
            .threads(1)
            .max_queue_size(1)
            .metrics_label("shedding")
            .build()
            .unwrap();
        let (gate, blockers) = occupy(&pool, 1);
        let victim = pool.send(
            Job::new(|| ())
                .priority(thread_exec::Priority::Low)
                .queue_timeout(Duration::from_secs(60)),
        );
        let high = pool
            .try_spawn(Job::new(|| ()).priority(thread_exec::Priority::High))
            .expect("a High job takes the sheddable Low job's place");
        assert!(victim.join().unwrap_err().is_shed());
        release(&gate, blockers);
        high.join().unwrap();
        pool.wait();
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let seen = publish(&pool, &recorder, &snapshotter, "shedding");
        let stats = pool.stats();
        assert_eq!(stats.shed.displaced, 1);
        for (reason, value) in [
            ("submit", stats.shed.at_submit),
            ("standing_queue", stats.shed.standing_queue),
            ("would_miss_deadline", stats.shed.would_miss_deadline),
            ("displaced", stats.shed.displaced),
        ] {
            let name = format!("thread_exec_jobs_shed_total{{{reason}}}");
            assert_eq!(counter(&seen, &name), value, "{name}");
        }
        pool.shutdown();
    });
}

/// Jobs that `shutdown_now` hands back are published as handed back.
#[test]
fn jobs_handed_back_are_published() {
    within(LIMIT, "publish a hand-back", || {
        let pool = Executor::builder()
            .threads(1)
            .metrics_label("stopping")
            .build()
            .unwrap();
        let (gate, blockers) = occupy(&pool, 1);
        for _ in 0..3 {
            pool.spawn(|| ());
        }
        // `shutdown_now` takes the queued jobs and returns; `shutdown` then
        // waits for the running one.
        let pending = pool.shutdown_now();
        assert_eq!(pending.len(), 3);
        drop(pending);
        release(&gate, blockers);
        pool.shutdown();
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let seen = publish(&pool, &recorder, &snapshotter, "stopping");
        assert_eq!(counter(&seen, "thread_exec_jobs_handed_back_total"), 3);
        assert_eq!(counter(&seen, "thread_exec_jobs_completed_total"), 1);
    });
}
