//! Criterion benchmarks of the throughput and latency scenarios, for
//! criterion's statistics, history and HTML report (`target/criterion/`).
//!
//! From the repository's root:
//!
//! ```text
//! cargo bench -p thread-exec-bench --bench throughput                # every group
//! cargo bench -p thread-exec-bench --bench throughput -- latency     # one group
//! BENCH_QUICK=1 cargo bench -p thread-exec-bench --bench throughput  # shorter measurement
//! ```
//!
//! One iteration is one tiny job. Each system gets a fresh pool of 2 threads
//! per benchmark (and, for the async groups, a fresh current-thread tokio
//! runtime that drives the awaiting task, the same for every system).
//!
//! Criterion measures the systems one after the other, so on a shared
//! machine its absolute figures drift with the load; `benches/compare.rs`
//! is the side-by-side comparison (separate processes, interleaved rounds,
//! median ratios) that the targets are judged on.

mod common;

use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

use common::{with_system, Sys};
use thread_exec_bench::{PEERS, TE};

const THREADS: usize = 2;
/// Jobs submitted before their handles are awaited in order.
const BATCH: usize = 1_000;

fn systems() -> impl Iterator<Item = &'static str> {
    std::iter::once(TE).chain(PEERS)
}

fn async_tiny(c: &mut Criterion) {
    let mut group = c.benchmark_group("async_tiny");
    group.throughput(Throughput::Elements(1));
    for system in systems() {
        with_system!(system, S => async_tiny_for::<S>(&mut group, system));
    }
    group.finish();
}

fn async_tiny_for<S: Sys>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let rt = common::runtime(THREADS);
    let sys = S::build(THREADS, Some(rt.handle()));
    common::start_threads(&sys, THREADS);
    let mut handles = Vec::with_capacity(BATCH);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(common::async_jobs(
                &sys,
                iters as usize,
                BATCH,
                &mut handles,
            ))
        });
    });
    sys.shutdown();
}

fn join_tiny(c: &mut Criterion) {
    let mut group = c.benchmark_group("join_tiny");
    group.throughput(Throughput::Elements(1));
    for system in systems() {
        with_system!(system, S => join_tiny_for::<S>(&mut group, system));
    }
    group.finish();
}

fn join_tiny_for<S: Sys>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let sys = S::build(THREADS, None);
    common::start_threads(&sys, THREADS);
    let mut handles = Vec::with_capacity(BATCH);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| common::join_jobs(&sys, iters as usize, BATCH, &mut handles));
    });
    sys.shutdown();
}

fn latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("latency");
    for system in systems() {
        with_system!(system, S => latency_for::<S>(&mut group, system));
    }
    group.finish();
}

fn latency_for<S: Sys>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let rt = common::runtime(THREADS);
    let sys = S::build(THREADS, Some(rt.handle()));
    common::start_threads(&sys, THREADS);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let handle = sys.spawn_async(move || common::tiny(i)).await;
                    std::hint::black_box(S::wait(handle).await);
                }
                start.elapsed()
            })
        });
    });
    sys.shutdown();
}

fn config() -> Criterion {
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let (samples, warm_up, measure) = if quick {
        (10, Duration::from_millis(300), Duration::from_millis(700))
    } else {
        (20, Duration::from_secs(1), Duration::from_secs(3))
    };
    Criterion::default()
        .sample_size(samples)
        .warm_up_time(warm_up)
        .measurement_time(measure)
}

criterion_group! {
    name = benches;
    config = config();
    targets = async_tiny, join_tiny, latency
}
criterion_main!(benches);
