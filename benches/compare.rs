//! The interleaved-rounds comparison of thread-exec with its peers.
//!
//! From the repository's root (this is the `thread-exec-bench` package of the
//! workspace):
//!
//! ```text
//! cargo bench -p thread-exec-bench --bench compare                 # full run (about ten minutes)
//! BENCH_QUICK=1 cargo bench -p thread-exec-bench --bench compare   # quick run, for development
//! cargo bench -p thread-exec-bench --bench compare -- latency      # only scenarios matching a word
//! BENCH_BASELINE=path/to/compare-of-another-commit cargo bench -p thread-exec-bench --bench compare
//! ```
//!
//! With `BENCH_BASELINE`, the plain thread-exec path of that other build (a
//! `compare` binary built from, say, the commit before a change, in a git
//! worktree with its own target directory) runs as the system `te-base` in
//! the same rounds, and the targets include the change's before/after
//! ratios.
//!
//! Prints a table and writes `target/bench-results.json` at the repository's
//! root (or `$CARGO_TARGET_DIR/bench-results.json`, or `$BENCH_RESULTS`;
//! relative paths are taken from the repository's root, since cargo starts
//! the bench in `benches/`), which
//! `cargo run -p thread-exec-bench --release --bin bench_report` turns into
//! `docs/benchmarks.md` and `docs/benchmarks.svg`.
//!
//! # Method
//!
//! Absolute times swing 2× on a shared machine, so nothing here is an
//! absolute time compared across runs:
//!
//! - every measurement runs in a process of its own: this binary re-executes
//!   itself as `compare --child SCENARIO SYSTEM key=value...` and reads one
//!   `RESULT` line back, so no system's threads (idle, spinning or exiting)
//!   share a process with another's, and `blocking`'s global pool gets its
//!   thread cap per process;
//! - each child builds a fresh pool (and, for async scenarios, a fresh
//!   current-thread tokio runtime that drives the awaiting task, the same for
//!   every system, with `max_blocking_threads` equal to the thread count),
//!   warms it up, measures, and shuts it down;
//! - rounds are interleaved: round `r` runs every scenario for every system,
//!   in an order rotated by `r`, so a burst of load elsewhere hits all
//!   systems rather than one;
//! - the figure reported for a system is the median over rounds, and its
//!   ratio to tokio is the median of the per-round ratios (each taken between
//!   two measurements a fraction of a second apart).
//!
//! Memory, allocation counts and idle CPU are deterministic enough to be
//! measured once per system; idle CPU is measured for all systems at once
//! (in parallel processes: they are idle).
//!
//! Many submitters (`tiny_mp`, a web server's shape): 64 tokio tasks on a
//! 2-worker multi-thread runtime each submit batches of 32 tiny jobs and
//! await each batch; `join_tiny_mp` does the same from 8 plain threads.
//! A one-round check of one scenario:
//! `BENCH_QUICK=1 BENCH_ROUNDS=1 cargo bench -p thread-exec-bench --bench compare -- tiny_mp`.
//!
//! Tiny jobs are submitted in two shapes: in batches (submit a batch, then
//! await or join its handles in order, batch after batch) and all first
//! (submit every job of the repetition, then await or join them in order).
//! The paced scenarios submit one job at a time with idle time in between
//! and measure CPU time as well as the round trip: CPU time comes from
//! `/proc/self/task/*/schedstat` (nanoseconds, every live thread of the
//! child), so it measures what the pool's threads spend waking up, spinning
//! and parking around each job, which wall time hides.
//!
//! Run without `--bench` (as `cargo test --benches` does) it only checks
//! that every scenario runs, with tiny sizes, and writes nothing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::time::MissedTickBehavior;

use common::{with_system, Sys};
use thread_exec_bench::{Machine, Results, Row, Sizes, Target, BASE, PEERS, TE, VARIANTS};

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

/// A global allocator that counts, only while switched on, so the timed
/// scenarios pay one relaxed load of a flag that never changes under them.
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

    pub struct Counting;

    static ON: AtomicBool = AtomicBool::new(false);
    static ALLOCS: AtomicU64 = AtomicU64::new(0);
    static ALLOC_BYTES: AtomicU64 = AtomicU64::new(0);
    static LIVE: AtomicI64 = AtomicI64::new(0);

    fn on_alloc(size: usize) {
        if ON.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            ALLOC_BYTES.fetch_add(size as u64, Ordering::Relaxed);
            LIVE.fetch_add(size as i64, Ordering::Relaxed);
        }
    }

    // SAFETY: every call is forwarded unchanged to the system allocator; the
    // counters are only statistics.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            on_alloc(layout.size());
            System.alloc(layout)
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            on_alloc(layout.size());
            System.alloc_zeroed(layout)
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if ON.load(Ordering::Relaxed) {
                LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
            }
            System.dealloc(ptr, layout)
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if ON.load(Ordering::Relaxed) {
                ALLOCS.fetch_add(1, Ordering::Relaxed);
                ALLOC_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
                LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
            }
            System.realloc(ptr, layout, new_size)
        }
    }

    /// What was allocated between `start` and `stop`, by every thread.
    pub struct Counts {
        /// `alloc`, `alloc_zeroed` and `realloc` calls.
        pub allocs: u64,
        /// Bytes requested by those calls.
        pub bytes: u64,
        /// Bytes requested minus bytes freed: what is still held.
        pub live: i64,
    }

    pub fn start() {
        ALLOCS.store(0, Ordering::SeqCst);
        ALLOC_BYTES.store(0, Ordering::SeqCst);
        LIVE.store(0, Ordering::SeqCst);
        ON.store(true, Ordering::SeqCst);
    }

    pub fn stop() -> Counts {
        ON.store(false, Ordering::SeqCst);
        Counts {
            allocs: ALLOCS.load(Ordering::SeqCst),
            bytes: ALLOC_BYTES.load(Ordering::SeqCst),
            live: LIVE.load(Ordering::SeqCst),
        }
    }
}

// ================================================================= config

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Full,
    Quick,
    /// Run by `cargo test --benches`: every scenario once, tiny sizes.
    Smoke,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Quick => "quick",
            Mode::Smoke => "smoke",
        }
    }

    /// Picks the full, quick or smoke value.
    fn pick<T>(self, full: T, quick: T, smoke: T) -> T {
        match self {
            Mode::Full => full,
            Mode::Quick => quick,
            Mode::Smoke => smoke,
        }
    }
}

struct Config {
    mode: Mode,
    rounds: usize,
    /// Threads for the tiny-job, latency, paced, allocation and idle
    /// scenarios.
    tiny_threads: usize,
    /// Jobs submitted before their handles are awaited in order (the
    /// batched shape).
    batch: usize,
    /// Tiny jobs per timed repetition, in both shapes (all-first submits
    /// them all before awaiting the first).
    tiny_jobs: usize,
    /// Timed repetitions per child (the child reports their median).
    reps: usize,
    /// The many-submitter scenarios: tokio tasks on a runtime of
    /// `mp_workers` worker threads (`tiny_mp`), or plain threads
    /// (`join_tiny_mp`), each submitting batches of `mp_batch` tiny jobs
    /// and awaiting each batch; `tiny_jobs` in all per repetition.
    mp_tasks: usize,
    mp_workers: usize,
    mp_threads: usize,
    mp_batch: usize,
    /// How long a child runs its workload untimed first (fresh threads,
    /// caches, allocator and scheduler placement settle).
    warm_up: Duration,
    latency_samples: usize,
    cpu_threads: usize,
    cpu_jobs: usize,
    cpu_job: Duration,
    sleep_threads: usize,
    sleep_jobs: usize,
    sleep_job: Duration,
    /// Jobs queued behind the blocked worker (a power of two, so the
    /// handles' `Vec` ends exactly full and adds exactly one handle per job).
    memory_jobs: usize,
    alloc_jobs: usize,
    alloc_batch: usize,
    idle_window: Duration,
    /// Jobs in `paced`, one per tick of `paced_period`.
    paced_jobs: usize,
    paced_period: Duration,
    /// Jobs in `paced_fast`, one every `paced_fast_period`.
    paced_fast_jobs: usize,
    paced_fast_period: Duration,
}

impl Config {
    fn new(mode: Mode) -> Config {
        let rounds = std::env::var("BENCH_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(mode.pick(21, 3, 1));
        Config {
            mode,
            rounds,
            tiny_threads: 2,
            batch: 1_000,
            tiny_jobs: mode.pick(20_000, 5_000, 1_000),
            reps: mode.pick(5, 3, 1),
            mp_tasks: 64,
            mp_workers: 2,
            mp_threads: 8,
            mp_batch: 32,
            warm_up: Duration::from_millis(mode.pick(30, 10, 1)),
            latency_samples: mode.pick(3_000, 500, 100),
            cpu_threads: 2,
            cpu_jobs: mode.pick(2_000, 400, 40),
            cpu_job: Duration::from_micros(50),
            sleep_threads: 64,
            sleep_jobs: mode.pick(64 * 25, 64 * 8, 64),
            sleep_job: Duration::from_millis(1),
            memory_jobs: mode.pick(1 << 16, 1 << 13, 1 << 10),
            alloc_jobs: mode.pick(20_000, 5_000, 1_000),
            alloc_batch: 64,
            idle_window: mode.pick(
                Duration::from_secs(3),
                Duration::from_secs(1),
                Duration::from_millis(200),
            ),
            paced_jobs: mode.pick(2_000, 100, 20),
            paced_period: Duration::from_millis(1),
            paced_fast_jobs: mode.pick(20_000, 1_000, 200),
            paced_fast_period: Duration::from_micros(50),
        }
    }
}

/// One measured quantity: which child scenario produces it, under which key.
struct Metric {
    /// The row's name in the table and the JSON.
    row: &'static str,
    scenario: &'static str,
    key: &'static str,
    unit: &'static str,
    lower_is_better: bool,
    title: &'static str,
}

const METRICS: &[Metric] = &[
    Metric {
        row: "async_tiny",
        scenario: "async_tiny",
        key: "ns_per_job",
        unit: "ns/job",
        lower_is_better: true,
        title: "tiny jobs from one async task, in batches: each batch submitted, then awaited in order",
    },
    Metric {
        row: "join_tiny",
        scenario: "join_tiny",
        key: "ns_per_job",
        unit: "ns/job",
        lower_is_better: true,
        title: "tiny jobs from a plain thread, in batches: each batch submitted, then joined in order",
    },
    Metric {
        row: "async_tiny_all",
        scenario: "async_tiny_all",
        key: "ns_per_job",
        unit: "ns/job",
        lower_is_better: true,
        title: "tiny jobs from one async task, all submitted before the first is awaited",
    },
    Metric {
        row: "join_tiny_all",
        scenario: "join_tiny_all",
        key: "ns_per_job",
        unit: "ns/job",
        lower_is_better: true,
        title: "tiny jobs from a plain thread, all submitted before the first is joined",
    },
    Metric {
        row: "tiny_mp",
        scenario: "tiny_mp",
        key: "ns_per_job",
        unit: "ns/job",
        lower_is_better: true,
        title: "many submitters (a web server's shape): 64 tokio tasks on a 2-worker runtime, each submitting batches of 32 tiny jobs and awaiting them",
    },
    Metric {
        row: "join_tiny_mp",
        scenario: "join_tiny_mp",
        key: "ns_per_job",
        unit: "ns/job",
        lower_is_better: true,
        title: "many submitters from plain threads: 8 threads, each submitting batches of 32 tiny jobs and joining them",
    },
    Metric {
        row: "latency_p50",
        scenario: "latency",
        key: "p50_ns",
        unit: "ns",
        lower_is_better: true,
        title: "round trip of one awaited job, median",
    },
    Metric {
        row: "latency_p99",
        scenario: "latency",
        key: "p99_ns",
        unit: "ns",
        lower_is_better: true,
        title: "round trip of one awaited job, 99th percentile",
    },
    Metric {
        row: "paced_cpu",
        scenario: "paced",
        key: "cpu_us_per_job",
        unit: "µs CPU/job",
        lower_is_better: true,
        title: "one job per 1 ms tick, awaited from a current-thread runtime: process CPU time per job",
    },
    Metric {
        row: "paced_rtt",
        scenario: "paced",
        key: "rtt_p50_us",
        unit: "µs",
        lower_is_better: true,
        title: "one job per 1 ms tick: round trip, median",
    },
    Metric {
        row: "paced_fast_cpu",
        scenario: "paced_fast",
        key: "cpu_us_per_job",
        unit: "µs CPU/job",
        lower_is_better: true,
        title: "one job per 50 µs, joined from a plain thread: CPU time per job beyond the submitting thread",
    },
    Metric {
        row: "paced_fast_rtt",
        scenario: "paced_fast",
        key: "rtt_p50_us",
        unit: "µs",
        lower_is_better: true,
        title: "one job per 50 µs: round trip, median",
    },
    Metric {
        row: "async_switches",
        scenario: "async_tiny",
        key: "switches_per_job",
        unit: "switches/job",
        lower_is_better: true,
        title: "context switches per tiny job, async (all threads of the process)",
    },
    Metric {
        row: "join_switches",
        scenario: "join_tiny",
        key: "switches_per_job",
        unit: "switches/job",
        lower_is_better: true,
        title: "context switches per tiny job, joined (all threads of the process)",
    },
    Metric {
        row: "latency_switches",
        scenario: "latency",
        key: "switches_per_job",
        unit: "switches/trip",
        lower_is_better: true,
        title: "context switches per round trip (all threads of the process)",
    },
    Metric {
        row: "cpu_50us",
        scenario: "cpu_50us",
        key: "efficiency_pct",
        unit: "%",
        lower_is_better: false,
        title: "CPU-bound 50 µs jobs on 2 threads: ideal time / wall time",
    },
    Metric {
        row: "sleep_1ms",
        scenario: "sleep_1ms",
        key: "efficiency_pct",
        unit: "%",
        lower_is_better: false,
        title: "1 ms sleeping jobs on 64 threads: ideal time / wall time",
    },
    Metric {
        row: "memory",
        scenario: "memory",
        key: "bytes_per_job",
        unit: "bytes/job",
        lower_is_better: true,
        title: "heap bytes held per queued job (job + handle + queue + Vec), 8 bytes of captures",
    },
    Metric {
        row: "memory_overhead",
        scenario: "memory",
        key: "overhead_bytes",
        unit: "bytes/job",
        lower_is_better: true,
        title: "the same, beyond the closure's captures",
    },
    Metric {
        row: "allocs_async",
        scenario: "allocs",
        key: "allocs_async",
        unit: "allocs/job",
        lower_is_better: true,
        title: "heap allocations per job, submitted and awaited from async code",
    },
    Metric {
        row: "allocs_join",
        scenario: "allocs",
        key: "allocs_join",
        unit: "allocs/job",
        lower_is_better: true,
        title: "heap allocations per job, submitted and joined from a plain thread",
    },
    Metric {
        row: "idle_cpu",
        scenario: "idle",
        key: "cpu_pct",
        unit: "% of a core",
        lower_is_better: true,
        title: "CPU used by an idle pool (2 threads) over the idle window",
    },
];

/// Scenarios measured in every round; the rest are measured once.
const TIMED: [&str; 11] = [
    "async_tiny",
    "join_tiny",
    "async_tiny_all",
    "join_tiny_all",
    "tiny_mp",
    "join_tiny_mp",
    "latency",
    "paced",
    "paced_fast",
    "cpu_50us",
    "sleep_1ms",
];
const ONCE: [&str; 2] = ["memory", "allocs"];

fn systems_for(scenario: &str) -> Vec<&'static str> {
    let mut systems = vec![TE];
    systems.extend(PEERS);
    if matches!(scenario, "async_tiny" | "join_tiny" | "allocs") {
        systems.extend(VARIANTS);
    }
    // The bounded queue in the all-first shape too: its producer meets a
    // full queue for most of the repetition.
    if matches!(scenario, "async_tiny_all" | "join_tiny_all") {
        systems.push("te-bounded");
    }
    // Sharding against the default (one shard at two threads) with many
    // submitters.
    if matches!(scenario, "tiny_mp" | "join_tiny_mp") {
        systems.push("te-sharded");
    }
    if baseline_exe().is_some() && BASELINE_SCENARIOS.contains(&scenario) {
        systems.push(BASE);
    }
    systems
}

/// The scenarios the baseline build ([`BASE`]) runs in: the per-job costs
/// a change to the job path could move, as far as a build from before the
/// many-submitter scenarios has them (an older `compare` binary does not
/// know `tiny_mp` and `join_tiny_mp`).
const BASELINE_SCENARIOS: &[&str] = &[
    "async_tiny",
    "join_tiny",
    "async_tiny_all",
    "join_tiny_all",
    "latency",
    "paced",
    "paced_fast",
];

/// `BENCH_BASELINE`: the comparison binary of another commit (for example
/// `target-base/release/deps/compare-<hash>` built from a worktree of the
/// commit before a change), whose plain thread-exec path runs as [`BASE`].
fn baseline_exe() -> Option<PathBuf> {
    std::env::var_os("BENCH_BASELINE")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
}

// ================================================================== main

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        child(&args[1..]);
        return;
    }
    let bench = args.iter().any(|a| a == "--bench");
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let mode = match (bench, quick) {
        (false, _) => Mode::Smoke,
        (true, true) => Mode::Quick,
        (true, false) => Mode::Full,
    };
    let filters: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    driver(Config::new(mode), &filters);
}

// ================================================================= driver

/// Per metric row and system: one value per round (`None`: not measured or
/// the child failed).
type Table = BTreeMap<(&'static str, &'static str), Vec<Option<f64>>>;

fn driver(config: Config, filters: &[&str]) {
    let wanted = |scenario: &str| {
        filters.is_empty()
            || filters.iter().any(|f| scenario.contains(f))
            || (scenario == "idle" && filters.iter().any(|f| "idle_cpu".contains(f)))
    };
    let started = Instant::now();
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let load_before = read_trimmed("/proc/loadavg");
    let machine_before = MachineCpu::read();
    let exe = std::env::current_exe().expect("current_exe");

    let spin_iters = common::calibrate_spin(config.cpu_job);
    eprintln!(
        "compare: {} mode, {} rounds; 50 µs of CPU work = {spin_iters} spin rounds; load {load_before}",
        config.mode.name(),
        config.rounds
    );

    let mut table: Table = BTreeMap::new();
    let mut failures = Vec::new();
    let mut record = |scenario: &str,
                      system: &'static str,
                      round: usize,
                      rounds: usize,
                      result: &Result<BTreeMap<String, f64>, String>| {
        for metric in METRICS.iter().filter(|m| m.scenario == scenario) {
            let values = table
                .entry((metric.row, system))
                .or_insert_with(|| vec![None; rounds]);
            values[round] = result
                .as_ref()
                .ok()
                .and_then(|r| r.get(metric.key).copied());
        }
    };

    for round in 0..config.rounds {
        for scenario in TIMED.iter().copied().filter(|s| wanted(s)) {
            let mut systems = systems_for(scenario);
            let len = systems.len();
            systems.rotate_left(round % len);
            for system in systems {
                let params = params_for(&config, scenario, spin_iters);
                let mut result =
                    run_child(&exe, scenario, system, &params, Duration::from_secs(120));
                if let Err(err) = &result {
                    failures.push(format!("{scenario}/{system} round {round}: {err}"));
                }
                // A thread that exited inside a paced window took its CPU
                // time with it (schedstat is per live thread): the figure
                // would be too low, so it is left out, and said so.
                if let Ok(values) = &mut result {
                    let exited = values.get("threads_exited").copied().unwrap_or(0.0);
                    if exited > 0.0 && values.remove("cpu_us_per_job").is_some() {
                        failures.push(format!(
                            "{scenario}/{system} round {round}: {exited} thread(s) exited inside the CPU window, CPU per job left out"
                        ));
                    }
                }
                record(scenario, system, round, config.rounds, &result);
            }
        }
        eprintln!(
            "compare: round {}/{} done at {:.0} s",
            round + 1,
            config.rounds,
            started.elapsed().as_secs_f64()
        );
    }
    for scenario in ONCE.iter().copied().filter(|s| wanted(s)) {
        for system in systems_for(scenario) {
            let params = params_for(&config, scenario, spin_iters);
            let result = run_child(&exe, scenario, system, &params, Duration::from_secs(120));
            if let Err(err) = &result {
                failures.push(format!("{scenario}/{system}: {err}"));
            }
            record(scenario, system, 0, 1, &result);
        }
    }
    if wanted("idle") {
        // Idle pools disturb nothing: all systems at once, in parallel.
        let params = params_for(&config, "idle", spin_iters);
        let systems = systems_for("idle");
        let children: Vec<_> = systems
            .iter()
            .map(|&system| {
                let exe = exe.clone();
                let params = params.clone();
                std::thread::spawn(move || {
                    run_child(&exe, "idle", system, &params, Duration::from_secs(60))
                })
            })
            .collect();
        for (system, child) in systems.into_iter().zip(children) {
            let result = child.join().expect("idle watcher");
            if let Err(err) = &result {
                failures.push(format!("idle/{system}: {err}"));
            }
            record("idle", system, 0, 1, &result);
        }
    }
    eprintln!(
        "compare: finished in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let machine_after = MachineCpu::read();
    let others_pct = machine_before.others_busy_pct(&machine_after);
    let rows = summarise(&table);
    let targets = evaluate(&rows);
    print_table(&rows, &targets, others_pct);
    for failure in &failures {
        eprintln!("compare: FAILED {failure}");
    }
    if config.mode == Mode::Smoke {
        assert!(failures.is_empty(), "some scenarios failed");
        eprintln!("compare: smoke run (no --bench): nothing written");
        return;
    }
    let results = Results {
        schema: thread_exec_bench::SCHEMA,
        mode: config.mode.name().to_string(),
        rounds: config.rounds,
        started_unix,
        wall_seconds: started.elapsed().as_secs_f64(),
        filters: filters.iter().map(|f| f.to_string()).collect(),
        machine: machine(&load_before, others_pct),
        config: sizes(&config, spin_iters),
        rows,
        targets,
        failures,
    };
    let json = serde_json::to_string_pretty(&results).expect("the results serialise");
    let path = thread_exec_bench::results_path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&path, json) {
        Ok(()) => eprintln!(
            "compare: wrote {}; `cargo run -p thread-exec-bench --release --bin bench_report` makes docs/benchmarks.md from it",
            path.display()
        ),
        Err(err) => eprintln!("compare: could not write {}: {err}", path.display()),
    }
}

/// The many-submitter scenarios' shared parameters: each of `submitters`
/// takes an equal share of the one-submitter shapes' jobs, in whole
/// batches (at least one).
fn submitters_batches(config: &Config, submitters: usize) -> [(&'static str, String); 4] {
    let per_task = (config.tiny_jobs / submitters).max(config.mp_batch);
    [
        (
            "per_task",
            (per_task - per_task % config.mp_batch).to_string(),
        ),
        ("batch", config.mp_batch.to_string()),
        ("reps", config.reps.to_string()),
        ("warm_ms", config.warm_up.as_millis().to_string()),
    ]
}

fn params_for(config: &Config, scenario: &str, spin_iters: u64) -> Vec<(String, String)> {
    let mut p: Vec<(&str, String)> = Vec::new();
    match scenario {
        "async_tiny" | "join_tiny" => {
            p.push(("threads", config.tiny_threads.to_string()));
            p.push(("jobs", config.tiny_jobs.to_string()));
            p.push(("batch", config.batch.to_string()));
            p.push(("reps", config.reps.to_string()));
            p.push(("warm_ms", config.warm_up.as_millis().to_string()));
        }
        // The all-first shape: one batch as large as the repetition.
        "async_tiny_all" | "join_tiny_all" => {
            p.push(("threads", config.tiny_threads.to_string()));
            p.push(("jobs", config.tiny_jobs.to_string()));
            p.push(("batch", config.tiny_jobs.to_string()));
            p.push(("reps", config.reps.to_string()));
            p.push(("warm_ms", config.warm_up.as_millis().to_string()));
        }
        // The same jobs per repetition as the one-submitter shapes, spread
        // over the submitters in whole batches.
        "tiny_mp" => {
            p.push(("threads", config.tiny_threads.to_string()));
            p.push(("workers", config.mp_workers.to_string()));
            p.push(("tasks", config.mp_tasks.to_string()));
            p.extend(submitters_batches(config, config.mp_tasks));
        }
        "join_tiny_mp" => {
            p.push(("threads", config.tiny_threads.to_string()));
            p.push(("tasks", config.mp_threads.to_string()));
            p.extend(submitters_batches(config, config.mp_threads));
        }
        "latency" => {
            p.push(("threads", config.tiny_threads.to_string()));
            p.push(("samples", config.latency_samples.to_string()));
            p.push(("warm_ms", config.warm_up.as_millis().to_string()));
        }
        "paced" => {
            p.push(("threads", config.tiny_threads.to_string()));
            p.push(("jobs", config.paced_jobs.to_string()));
            p.push(("period_us", config.paced_period.as_micros().to_string()));
            p.push(("warm_ms", config.warm_up.as_millis().to_string()));
        }
        "paced_fast" => {
            p.push(("threads", config.tiny_threads.to_string()));
            p.push(("jobs", config.paced_fast_jobs.to_string()));
            p.push((
                "period_us",
                config.paced_fast_period.as_micros().to_string(),
            ));
            p.push(("warm_ms", config.warm_up.as_millis().to_string()));
        }
        "cpu_50us" => {
            p.push(("threads", config.cpu_threads.to_string()));
            p.push(("jobs", config.cpu_jobs.to_string()));
            p.push(("iters", spin_iters.to_string()));
            p.push(("reps", config.reps.min(3).to_string()));
        }
        "sleep_1ms" => {
            p.push(("threads", config.sleep_threads.to_string()));
            p.push(("jobs", config.sleep_jobs.to_string()));
            p.push(("sleep_us", config.sleep_job.as_micros().to_string()));
            p.push(("reps", config.reps.min(3).to_string()));
        }
        "memory" => {
            p.push(("threads", "1".to_string()));
            p.push(("jobs", config.memory_jobs.to_string()));
        }
        "allocs" => {
            p.push(("threads", config.tiny_threads.to_string()));
            p.push(("jobs", config.alloc_jobs.to_string()));
            p.push(("batch", config.alloc_batch.to_string()));
        }
        "idle" => {
            p.push(("threads", config.tiny_threads.to_string()));
            p.push(("window_ms", config.idle_window.as_millis().to_string()));
        }
        other => panic!("no parameters for {other}"),
    }
    p.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Runs one child and parses its `RESULT key=value...` line. A watchdog
/// kills it (by its pid, which only we started) if it outlives `limit`.
fn run_child(
    exe: &std::path::Path,
    scenario: &str,
    system: &str,
    params: &[(String, String)],
    limit: Duration,
) -> Result<BTreeMap<String, f64>, String> {
    // The baseline build runs its own plain path.
    let (exe, system) = match baseline_exe() {
        Some(baseline) if system == BASE => (baseline, TE),
        _ => (exe.to_path_buf(), system),
    };
    // Cargo starts the driver in `benches/`; the children run from the
    // repository's root, the directory every path here is relative to.
    let child = Command::new(exe)
        .current_dir(thread_exec_bench::repo_root())
        .arg("--child")
        .arg(scenario)
        .arg(system)
        .args(params.iter().map(|(k, v)| format!("{k}={v}")))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let pid = child.id();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(limit) {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            return true;
        }
        false
    });
    let output = child.wait_with_output().map_err(|e| format!("wait: {e}"));
    let _ = done_tx.send(());
    let killed = watchdog.join().unwrap_or(false);
    let output = output?;
    if killed {
        return Err(format!("killed after {limit:?}"));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("{}: {}", output.status, stderr.trim()));
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| format!("no RESULT line in {stdout:?}"))?;
    line.split_whitespace()
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("bad pair {kv:?}"))?;
            let v: f64 = v.parse().map_err(|_| format!("bad number {kv:?}"))?;
            Ok((k.to_string(), v))
        })
        .collect()
}

// ================================================================ summary

/// How many times better `value` is than `baseline` (higher is better).
fn advantage(lower_is_better: bool, value: f64, baseline: f64) -> Option<f64> {
    let ratio = if lower_is_better {
        baseline / value
    } else {
        value / baseline
    };
    (ratio.is_finite() && ratio > 0.0).then_some(ratio)
}

fn median_of(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    (!values.is_empty()).then(|| common::median(&mut values))
}

fn summarise(table: &Table) -> Vec<Row> {
    let mut rows = Vec::new();
    for metric in METRICS {
        let mut systems = vec![TE];
        systems.extend(PEERS);
        systems.extend(VARIANTS);
        systems.push(BASE);
        for system in systems {
            let Some(values) = table.get(&(metric.row, system)) else {
                continue;
            };
            let tokio = table.get(&(metric.row, "tokio"));
            let ratios: Vec<Option<f64>> = values
                .iter()
                .enumerate()
                .map(|(round, value)| {
                    let baseline = tokio.and_then(|t| t.get(round).copied().flatten())?;
                    advantage(metric.lower_is_better, (*value)?, baseline)
                })
                .collect();
            rows.push(Row {
                row: metric.row.to_string(),
                title: metric.title.to_string(),
                system: system.to_string(),
                unit: metric.unit.to_string(),
                lower_is_better: metric.lower_is_better,
                value: median_of(values.iter().flatten().copied()),
                vs_tokio: median_of(ratios.iter().flatten().copied()),
                values: values.clone(),
                ratios,
            });
        }
    }
    rows
}

/// The median over rounds of how many times better `system` did than
/// `other` on `row`, each round's pair compared.
fn head_to_head(rows: &[Row], row: &str, system: &str, other: &str) -> Option<f64> {
    let find = |s: &str| rows.iter().find(|r| r.row == row && r.system == s);
    let (a, b) = (find(system)?, find(other)?);
    median_of(
        a.values
            .iter()
            .zip(&b.values)
            .filter_map(|(x, y)| advantage(a.lower_is_better, (*x)?, (*y)?)),
    )
}

/// The interquartile range of the per-round ratios behind [`head_to_head`],
/// as " (rounds: Q1–Q3)": how far a verdict near its bound is from noise.
fn spread(rows: &[Row], row: &str, system: &str, other: &str) -> String {
    let find = |s: &str| rows.iter().find(|r| r.row == row && r.system == s);
    let (Some(a), Some(b)) = (find(system), find(other)) else {
        return String::new();
    };
    let mut ratios: Vec<f64> = a
        .values
        .iter()
        .zip(&b.values)
        .filter_map(|(x, y)| advantage(a.lower_is_better, (*x)?, (*y)?))
        .collect();
    if ratios.len() < 4 {
        return String::new();
    }
    ratios.sort_by(f64::total_cmp);
    let q = |p: f64| ratios[((ratios.len() - 1) as f64 * p).round() as usize];
    format!(" (rounds: {:.3}–{:.3})", q(0.25), q(0.75))
}

fn value_of(rows: &[Row], row: &str, system: &str) -> Option<f64> {
    rows.iter()
        .find(|r| r.row == row && r.system == system)?
        .value
}

fn evaluate(rows: &[Row]) -> Vec<Target> {
    let mut targets = Vec::new();
    let mut push = |name: &str, met: Option<bool>, detail: String| {
        targets.push(Target {
            name: name.to_string(),
            met,
            detail,
        });
    };
    let fmt = |x: Option<f64>| x.map_or("n/a".to_string(), |x| format!("{x:.2}×"));
    // The peer that did best against thread-exec, and by how much
    // thread-exec beat it (the minimum over peers).
    let worst_peer = |row: &str| {
        PEERS
            .iter()
            .filter_map(|p| head_to_head(rows, row, TE, p).map(|r| (r, *p)))
            .min_by(|a, b| a.0.total_cmp(&b.0))
    };
    let at_least = |x: Option<f64>, bound: f64| x.map(|x| x >= bound);

    for (row, vs_tokio, label) in [
        (
            "async_tiny",
            3.0,
            "Tiny-job throughput from an async task, in batches",
        ),
        (
            "join_tiny",
            2.5,
            "Tiny-job throughput from a plain thread, in batches",
        ),
    ] {
        let t = head_to_head(rows, row, TE, "tokio");
        push(
            &format!("{label}: ≥ {vs_tokio}× tokio"),
            at_least(t, vs_tokio),
            format!(
                "{} tokio's throughput{}",
                fmt(t),
                spread(rows, row, TE, "tokio")
            ),
        );
        let best = worst_peer(row);
        push(
            &format!("{label}: ≥ 1.3× the best peer"),
            best.map(|(r, _)| r >= 1.3),
            best.map_or("n/a".into(), |(r, p)| {
                format!("{r:.2}× {p} (the best peer){}", spread(rows, row, TE, p))
            }),
        );
    }
    for (row, vs_tokio, label) in [
        (
            "async_tiny_all",
            3.0,
            "Tiny-job throughput from an async task, all submitted first",
        ),
        (
            "join_tiny_all",
            2.5,
            "Tiny-job throughput from a plain thread, all submitted first",
        ),
    ] {
        let t = head_to_head(rows, row, TE, "tokio");
        push(
            &format!("{label}: ≥ {vs_tokio}× tokio"),
            at_least(t, vs_tokio),
            format!(
                "{} tokio's throughput{}",
                fmt(t),
                spread(rows, row, TE, "tokio")
            ),
        );
    }
    // Many submitters (issue 22): ahead of the best peer by 1.2×.
    for (row, label) in [
        ("tiny_mp", "Many async submitters (tiny_mp)"),
        (
            "join_tiny_mp",
            "Many plain-thread submitters (join_tiny_mp)",
        ),
    ] {
        let best = worst_peer(row);
        push(
            &format!("{label}: ≥ 1.2× the best peer"),
            best.map(|(r, _)| r >= 1.2),
            best.map_or("n/a".into(), |(r, p)| {
                format!("{r:.2}× {p} (the best peer){}", spread(rows, row, TE, p))
            }),
        );
    }
    let p50 = head_to_head(rows, "latency_p50", TE, "tokio");
    push(
        "Latency: median ≤ 0.5× tokio's",
        at_least(p50, 2.0),
        format!(
            "median {} ns vs tokio's {} ns: {} of tokio's",
            fmt_num(value_of(rows, "latency_p50", TE)),
            fmt_num(value_of(rows, "latency_p50", "tokio")),
            p50.map_or("n/a".into(), |r| format!("{:.2}×", 1.0 / r))
        ),
    );
    let rayon = head_to_head(rows, "latency_p50", TE, "rayon");
    push(
        "Latency: median below rayon's",
        rayon.map(|r| r > 1.0),
        format!(
            "median {} ns vs rayon's {} ns",
            fmt_num(value_of(rows, "latency_p50", TE)),
            fmt_num(value_of(rows, "latency_p50", "rayon"))
        ),
    );
    let p99 = head_to_head(rows, "latency_p99", TE, "tokio");
    push(
        "Latency: p99 ≤ tokio's p99",
        at_least(p99, 1.0),
        format!(
            "p99 {} ns vs tokio's {} ns",
            fmt_num(value_of(rows, "latency_p99", TE)),
            fmt_num(value_of(rows, "latency_p99", "tokio"))
        ),
    );
    // Costs against tokio's: met when tokio's cost is at least `1 / bound`
    // times ours, i.e. ours at most `bound` times tokio's.
    for (row, bound, label, unit) in [
        (
            "paced_cpu",
            1.0,
            "Paced jobs, one per 1 ms tick from async code: CPU per job ≤ 1.0× tokio's",
            "µs",
        ),
        (
            "paced_fast_cpu",
            1.0,
            "Paced jobs, one per 50 µs from a plain thread: CPU per job ≤ 1.0× tokio's",
            "µs",
        ),
        (
            "paced_fast_rtt",
            0.5,
            "Paced jobs, one per 50 µs from a plain thread: round-trip median ≤ 0.5× tokio's",
            "µs",
        ),
    ] {
        let r = head_to_head(rows, row, TE, "tokio");
        push(
            label,
            at_least(r, 1.0 / bound),
            format!(
                "{} {unit} vs tokio's {} {unit}: {} of tokio's",
                fmt_num(value_of(rows, row, TE)),
                fmt_num(value_of(rows, row, "tokio")),
                r.map_or("n/a".into(), |r| format!("{:.2}×", 1.0 / r)),
            ),
        );
    }
    let overhead = value_of(rows, "memory_overhead", TE);
    let others: Vec<String> = PEERS
        .iter()
        .map(|p| format!("{p} {}", fmt_num(value_of(rows, "memory_overhead", p))))
        .collect();
    push(
        "Memory per queued job ≤ 64 bytes beyond the captures",
        overhead.map(|o| o <= 64.0),
        format!("{} bytes (peers: {})", fmt_num(overhead), others.join(", ")),
    );
    let allocs = [
        value_of(rows, "allocs_async", TE),
        value_of(rows, "allocs_join", TE),
    ];
    push(
        "At most one heap allocation per job",
        match allocs {
            [Some(a), Some(j)] => Some(a <= 1.0 && j <= 1.0),
            _ => None,
        },
        format!(
            "{} per job awaited, {} per job joined",
            allocs[0].map_or("n/a".into(), |a| format!("{a:.4}")),
            allocs[1].map_or("n/a".into(), |a| format!("{a:.4}"))
        ),
    );
    for (row, label) in [
        ("cpu_50us", "CPU-bound 50 µs jobs, 2 threads"),
        ("sleep_1ms", "1 ms sleeping jobs, 64 threads"),
    ] {
        let best = worst_peer(row);
        push(
            &format!("{label}: efficiency ≥ the best peer's"),
            best.map(|(r, _)| r >= 1.0),
            format!(
                "{} % vs {} ({})",
                fmt_num(value_of(rows, row, TE)),
                best.map_or("n/a", |(_, p)| p),
                best.map_or("n/a".into(), |(r, p)| format!(
                    "{} %, ratio {r:.3}{}",
                    fmt_num(value_of(rows, row, p)),
                    spread(rows, row, TE, p)
                ))
            ),
        );
    }
    let idle = value_of(rows, "idle_cpu", TE);
    push(
        "Idle pool uses no CPU (≤ 0.1 % of a core)",
        idle.map(|c| c <= 0.1),
        format!(
            "{} % of a core",
            idle.map_or("n/a".into(), |c| format!("{c:.4}"))
        ),
    );
    // Before/after a change, when the run has a baseline build.
    for row in [
        "async_tiny",
        "join_tiny",
        "async_tiny_all",
        "join_tiny_all",
        "latency_p50",
        "latency_p99",
    ] {
        let Some(change) = head_to_head(rows, row, TE, BASE) else {
            continue;
        };
        push(
            &format!("within 5 % of the baseline build ({row})"),
            Some(change >= 0.95),
            format!(
                "{change:.3}× the baseline's speed{}",
                spread(rows, row, TE, BASE)
            ),
        );
    }
    // The observability costs, against the threshold above which
    // `record_timings` stays off by default.
    for variant in ["te-timings", "te-metrics"] {
        for row in ["async_tiny", "join_tiny"] {
            let slowdown = head_to_head(rows, row, TE, variant);
            push(
                &format!("{variant} costs ≤ 5 % on tiny jobs ({row})"),
                slowdown.map(|s| s <= 1.05),
                slowdown.map_or("n/a".into(), |s| {
                    format!(
                        "{:+.1} % time per job{}",
                        (s - 1.0) * 100.0,
                        spread(rows, row, TE, variant)
                    )
                }),
            );
        }
    }
    // The other paths against the plain one: the bounded queue in both
    // submission shapes (it must keep up with the plain path within 10 %),
    // a callback and a dynamic pool within 15 %.
    for (variant, rows_of, bound) in [
        (
            "te-bounded",
            &["async_tiny", "join_tiny", "async_tiny_all", "join_tiny_all"][..],
            1.10,
        ),
        ("te-callback", &["async_tiny", "join_tiny"][..], 1.15),
        ("te-dynamic", &["async_tiny", "join_tiny"][..], 1.15),
    ] {
        for &row in rows_of {
            // Slowdown of the variant relative to the plain path.
            let slowdown = head_to_head(rows, row, TE, variant);
            push(
                &format!(
                    "{variant} within {:.0} % of the plain path ({row})",
                    (bound - 1.0) * 100.0
                ),
                slowdown.map(|s| s <= bound),
                slowdown.map_or("n/a".into(), |s| {
                    format!(
                        "{:+.1} % time per job{}",
                        (s - 1.0) * 100.0,
                        spread(rows, row, TE, variant)
                    )
                }),
            );
        }
    }
    targets
}

fn fmt_num(x: Option<f64>) -> String {
    match x {
        None => "n/a".to_string(),
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.2}"),
    }
}

fn print_table(rows: &[Row], targets: &[Target], others_pct: Option<f64>) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<16} {:<16} {:>12} {:<12} {:>9}",
        "scenario", "system", "value", "unit", "vs tokio"
    );
    let mut last = "";
    for row in rows {
        if row.row != last && !last.is_empty() {
            out.push('\n');
        }
        last = &row.row;
        let _ = writeln!(
            out,
            "{:<16} {:<16} {:>12} {:<12} {:>9}",
            row.row,
            row.system,
            fmt_num(row.value),
            row.unit,
            row.vs_tokio.map_or("-".to_string(), |r| format!("{r:.2}×"))
        );
    }
    let _ = writeln!(
        out,
        "\n(vs tokio: median of per-round ratios, higher is better: tokio's cost / the system's, or the system's efficiency / tokio's)\n"
    );
    for t in targets {
        let status = match t.met {
            Some(true) => "MET   ",
            Some(false) => "MISSED",
            None => "n/a   ",
        };
        let _ = writeln!(out, "{status} {} — {}", t.name, t.detail);
    }
    if let Some(pct) = others_pct {
        let _ = writeln!(
            out,
            "\nother processes used {pct:.1} % of the machine's CPU time during the run{}",
            if pct > 5.0 {
                ": the machine was BUSY, treat these figures as preliminary"
            } else {
                ""
            }
        );
    }
    println!("{out}");
}

// ================================================================= machine

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The machine's CPU counters and this process's own (children included),
/// to tell how busy the rest of the machine was during the run.
struct MachineCpu {
    busy: u64,
    total: u64,
    own: u64,
}

impl MachineCpu {
    fn read() -> MachineCpu {
        let stat = read_trimmed("/proc/stat");
        let fields: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest is in user)
        let get = |i: usize| fields.get(i).copied().unwrap_or(0);
        let idle = get(3) + get(4);
        let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
        let own = self_stat_fields()
            .map(|f| f[11] + f[12] + f[13] + f[14])
            .unwrap_or(0);
        MachineCpu {
            busy,
            total: busy + idle,
            own,
        }
    }

    /// The share of all CPUs' time that other processes used in between.
    fn others_busy_pct(&self, later: &MachineCpu) -> Option<f64> {
        let total = later.total.checked_sub(self.total)?;
        let busy = later.busy.checked_sub(self.busy)? as f64;
        let own = later.own.saturating_sub(self.own) as f64;
        (total > 0).then(|| ((busy - own).max(0.0) / total as f64) * 100.0)
    }
}

/// `/proc/self/stat` after the command name: field 3 (state) is index 0, so
/// utime, stime, cutime, cstime are indices 11..=14 (clock ticks).
fn self_stat_fields() -> Option<Vec<u64>> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    (fields.len() > 14).then_some(fields)
}

/// Context switches (voluntary and involuntary) of every live thread of
/// this process so far: a measure of sleeps and wake-ups that, unlike time,
/// does not depend on what else the machine is doing.
fn context_switches() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// CPU time of every live thread of this process, in ns (from
/// `/proc/self/task/*/schedstat`, nanosecond resolution).
fn process_cpu_ns() -> u64 {
    threads_cpu_ns(None)
}

/// [`process_cpu_ns`] without the calling thread's own time: its entry is
/// skipped in the same pass, rather than read again and subtracted, which
/// would take the two readings of it at different moments.
fn other_threads_cpu_ns() -> u64 {
    // `/proc/thread-self` links to `/proc/PID/task/TID`.
    let me = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|link| link.file_name().map(|tid| tid.to_os_string()));
    threads_cpu_ns(me.as_deref())
}

/// The schedstat CPU time of this process's live threads but `skip`.
fn threads_cpu_ns(skip: Option<&OsStr>) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|task| Some(task.file_name().as_os_str()) != skip)
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The ids of this process's live threads.
fn thread_ids() -> BTreeSet<OsString> {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| tasks.flatten().map(|task| task.file_name()).collect())
        .unwrap_or_default()
}

/// `program args...` run at the repository's root (so that `git status --
/// src` means the library's sources), its output trimmed; "" if it failed.
fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .current_dir(thread_exec_bench::repo_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

// ================================================================ results

/// The machine as the results file describes it.
fn machine(load_before: &str, others_pct: Option<f64>) -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    let git = command_line("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = !command_line("git", &["status", "--porcelain", "--", "src"]).is_empty();
    Machine {
        cpu,
        nproc: std::thread::available_parallelism().map_or(0, usize::from),
        kernel: read_trimmed("/proc/sys/kernel/osrelease"),
        rustc: command_line("rustc", &["--version"]),
        git: format!("{git}{}", if dirty { " (src/ modified)" } else { "" }),
        loadavg_before: load_before.to_string(),
        loadavg_after: read_trimmed("/proc/loadavg"),
        others_busy_pct: others_pct,
    }
}

/// The sizes as the results file records them.
fn sizes(c: &Config, spin_iters: u64) -> Sizes {
    Sizes {
        tiny_threads: c.tiny_threads,
        batch: c.batch,
        tiny_jobs: c.tiny_jobs,
        reps: c.reps,
        warm_up_ms: c.warm_up.as_millis() as u64,
        latency_samples: c.latency_samples,
        cpu_threads: c.cpu_threads,
        cpu_jobs: c.cpu_jobs,
        cpu_job_us: c.cpu_job.as_micros() as u64,
        spin_iters,
        sleep_threads: c.sleep_threads,
        sleep_jobs: c.sleep_jobs,
        memory_jobs: c.memory_jobs,
        alloc_jobs: c.alloc_jobs,
        alloc_batch: c.alloc_batch,
        bound: common::BOUND,
        idle_window_ms: c.idle_window.as_millis() as u64,
        paced_jobs: c.paced_jobs,
        paced_period_us: c.paced_period.as_micros() as u64,
        paced_fast_jobs: c.paced_fast_jobs,
        paced_fast_period_us: c.paced_fast_period.as_micros() as u64,
    }
}

// ================================================================== child

/// `--child SCENARIO SYSTEM key=value...`: one measurement on a fresh pool,
/// printed as `RESULT key=value...`.
fn child(args: &[String]) {
    let [scenario, system, rest @ ..] = args else {
        panic!("usage: compare --child SCENARIO SYSTEM key=value...");
    };
    let params: BTreeMap<&str, u64> = rest
        .iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (k, v.parse().expect("a number"))
        })
        .collect();
    let p = |key: &str| -> usize {
        *params
            .get(key)
            .unwrap_or_else(|| panic!("missing parameter {key}")) as usize
    };
    let warm_up = Duration::from_millis(params.get("warm_ms").copied().unwrap_or(0));
    let results: Vec<(&str, f64)> = with_system!(system.as_str(), S => match scenario.as_str() {
        // The two shapes differ only in the batch: the all-first one's is
        // the whole repetition (see `params_for`).
        "async_tiny" | "async_tiny_all" => {
            async_tiny::<S>(p("threads"), p("jobs"), p("batch"), p("reps"), warm_up)
        }
        "join_tiny" | "join_tiny_all" => {
            join_tiny::<S>(p("threads"), p("jobs"), p("batch"), p("reps"), warm_up)
        }
        "tiny_mp" => tiny_mp::<S>(
            p("threads"),
            p("workers"),
            p("tasks"),
            p("per_task"),
            p("batch"),
            p("reps"),
            warm_up,
        ),
        "join_tiny_mp" => join_tiny_mp::<S>(
            p("threads"),
            p("tasks"),
            p("per_task"),
            p("batch"),
            p("reps"),
            warm_up,
        ),
        "latency" => latency::<S>(p("threads"), p("samples"), warm_up),
        "paced" => {
            let period = Duration::from_micros(p("period_us") as u64);
            paced::<S>(p("threads"), p("jobs"), period, warm_up)
        }
        "paced_fast" => {
            let period = Duration::from_micros(p("period_us") as u64);
            paced_fast::<S>(p("threads"), p("jobs"), period, warm_up)
        }
        "cpu_50us" => {
            let iters = p("iters") as u64;
            efficiency::<S>(p("threads"), p("jobs"), p("reps"), move || {
                common::spin(iters);
            })
        }
        "sleep_1ms" => {
            let nap = Duration::from_micros(p("sleep_us") as u64);
            efficiency::<S>(p("threads"), p("jobs"), p("reps"), move || std::thread::sleep(nap))
        }
        "memory" => memory::<S>(p("threads"), p("jobs")),
        "allocs" => allocs::<S>(p("threads"), p("jobs"), p("batch")),
        "idle" => idle::<S>(p("threads"), Duration::from_millis(p("window_ms") as u64)),
        other => panic!("unknown scenario {other:?}"),
    });
    let line: Vec<String> = results.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("RESULT {}", line.join(" "));
}

/// With `BENCH_VERBOSE` set, a child prints each repetition to stderr.
fn verbose(value: Option<&f64>) {
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        eprintln!("rep: {value:?}");
    }
}

fn async_tiny<S: Sys>(
    threads: usize,
    jobs: usize,
    batch: usize,
    reps: usize,
    warm_up: Duration,
) -> Vec<(&'static str, f64)> {
    let rt = common::runtime(threads);
    let sys = S::build(threads, Some(rt.handle()));
    common::start_threads(&sys, threads);
    let mut handles = Vec::with_capacity(batch);
    let mut per_job = Vec::new();
    let mut switches = 0;
    rt.block_on(async {
        let warm = Instant::now();
        while warm.elapsed() < warm_up {
            common::async_jobs(&sys, batch, batch, &mut handles).await;
        }
        switches = context_switches();
        for _ in 0..reps {
            let time = common::async_jobs(&sys, jobs, batch, &mut handles).await;
            per_job.push(time.as_nanos() as f64 / jobs as f64);
            verbose(per_job.last());
        }
        switches = context_switches() - switches;
    });
    sys.shutdown();
    drop(rt);
    vec![
        ("ns_per_job", common::median(&mut per_job)),
        ("switches_per_job", switches as f64 / (jobs * reps) as f64),
    ]
}

fn join_tiny<S: Sys>(
    threads: usize,
    jobs: usize,
    batch: usize,
    reps: usize,
    warm_up: Duration,
) -> Vec<(&'static str, f64)> {
    let sys = S::build(threads, None);
    common::start_threads(&sys, threads);
    let mut handles = Vec::with_capacity(batch);
    let warm = Instant::now();
    while warm.elapsed() < warm_up {
        common::join_jobs(&sys, batch, batch, &mut handles);
    }
    let switches = context_switches();
    let mut per_job: Vec<f64> = (0..reps)
        .map(|_| {
            let ns = common::join_jobs(&sys, jobs, batch, &mut handles).as_nanos() as f64;
            verbose(Some(&(ns / jobs as f64)));
            ns / jobs as f64
        })
        .collect();
    let switches = context_switches() - switches;
    sys.shutdown();
    vec![
        ("ns_per_job", common::median(&mut per_job)),
        ("switches_per_job", switches as f64 / (jobs * reps) as f64),
    ]
}

/// `tiny_mp`: `tasks` tokio tasks on a multi-thread runtime of `workers`
/// worker threads (tokio's `spawn_blocking` uses that runtime's blocking
/// pool, capped at `threads`), each submitting `per_task` tiny jobs in
/// batches of `batch`; time per job over all of them.
fn tiny_mp<S>(
    threads: usize,
    workers: usize,
    tasks: usize,
    per_task: usize,
    batch: usize,
    reps: usize,
    warm_up: Duration,
) -> Vec<(&'static str, f64)>
where
    S: Sys + Send + Sync + 'static,
{
    let rt = common::mp_runtime(workers, threads);
    let sys = std::sync::Arc::new(S::build(threads, Some(rt.handle())));
    common::start_threads(&*sys, threads);
    let warm = Instant::now();
    while warm.elapsed() < warm_up {
        common::async_jobs_mp(&sys, &rt, tasks, batch, batch);
    }
    let jobs = tasks * per_task;
    let switches = context_switches();
    let mut per_job: Vec<f64> = (0..reps)
        .map(|_| {
            let time = common::async_jobs_mp(&sys, &rt, tasks, per_task, batch);
            let ns = time.as_nanos() as f64 / jobs as f64;
            verbose(Some(&ns));
            ns
        })
        .collect();
    let switches = context_switches() - switches;
    let Ok(sys) = std::sync::Arc::try_unwrap(sys) else {
        panic!("a submitting task kept the pool");
    };
    sys.shutdown();
    drop(rt);
    vec![
        ("ns_per_job", common::median(&mut per_job)),
        ("switches_per_job", switches as f64 / (jobs * reps) as f64),
    ]
}

/// `join_tiny_mp`: `tasks` plain threads, each submitting `per_task` tiny
/// jobs in batches of `batch` and joining each batch; time per job over all
/// of them.
fn join_tiny_mp<S: Sys + Sync>(
    threads: usize,
    tasks: usize,
    per_task: usize,
    batch: usize,
    reps: usize,
    warm_up: Duration,
) -> Vec<(&'static str, f64)> {
    let sys = S::build(threads, None);
    common::start_threads(&sys, threads);
    let warm = Instant::now();
    while warm.elapsed() < warm_up {
        common::join_jobs_mp(&sys, tasks, batch, batch);
    }
    let jobs = tasks * per_task;
    let switches = context_switches();
    let mut per_job: Vec<f64> = (0..reps)
        .map(|_| {
            let time = common::join_jobs_mp(&sys, tasks, per_task, batch);
            let ns = time.as_nanos() as f64 / jobs as f64;
            verbose(Some(&ns));
            ns
        })
        .collect();
    let switches = context_switches() - switches;
    sys.shutdown();
    vec![
        ("ns_per_job", common::median(&mut per_job)),
        ("switches_per_job", switches as f64 / (jobs * reps) as f64),
    ]
}

fn latency<S: Sys>(threads: usize, samples: usize, warm_up: Duration) -> Vec<(&'static str, f64)> {
    let rt = common::runtime(threads);
    let sys = S::build(threads, Some(rt.handle()));
    common::start_threads(&sys, threads);
    let mut times = Vec::with_capacity(samples + 200);
    let mut switches = 0;
    rt.block_on(async {
        let warm = Instant::now();
        while warm.elapsed() < warm_up {
            common::async_round_trips(&sys, 100, &mut times).await;
            times.clear();
        }
        switches = context_switches();
        common::async_round_trips(&sys, samples, &mut times).await;
        switches = context_switches() - switches;
    });
    sys.shutdown();
    drop(rt);
    times.sort_unstable();
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        let deciles: Vec<u64> = (1..10)
            .map(|d| common::percentile(&times, d as f64 * 10.0))
            .collect();
        eprintln!("deciles (ns): {deciles:?}");
    }
    let mean = times.iter().sum::<u64>() as f64 / times.len().max(1) as f64;
    vec![
        ("p50_ns", common::percentile(&times, 50.0) as f64),
        ("p99_ns", common::percentile(&times, 99.0) as f64),
        ("mean_ns", mean),
        ("switches_per_job", switches as f64 / samples as f64),
    ]
}

/// `jobs` round trips of one tiny job from a task on a current-thread
/// runtime with tokio's timer, one per `period` tick of an interval
/// (`MissedTickBehavior::Delay`): the pool sits idle between jobs, as it
/// does when a service offloads at a low rate. Reports the CPU time of the
/// whole process per job (every thread, the runtime's own included: the
/// same runtime for every system) over the `jobs` jobs and ticks, and the
/// round trips' median.
fn paced<S: Sys>(
    threads: usize,
    jobs: usize,
    period: Duration,
    warm_up: Duration,
) -> Vec<(&'static str, f64)> {
    let rt = common::timer_runtime(threads);
    let sys = S::build(threads, Some(rt.handle()));
    common::start_threads(&sys, threads);
    let mut times = Vec::with_capacity(jobs);
    let (mut cpu, mut exited) = (0, 0);
    rt.block_on(async {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // An interval's first tick completes at once.
        ticks.tick().await;
        let warm = Instant::now();
        while warm.elapsed() < warm_up {
            common::paced_round_trips(&sys, 1, &mut ticks, &mut times).await;
        }
        times.clear();
        let threads_before = thread_ids();
        let cpu_before = process_cpu_ns();
        common::paced_round_trips(&sys, jobs, &mut ticks, &mut times).await;
        cpu = process_cpu_ns().saturating_sub(cpu_before);
        exited = threads_before.difference(&thread_ids()).count();
    });
    sys.shutdown();
    drop(rt);
    paced_results(cpu, exited, jobs, times)
}

/// `jobs` round trips of one tiny job from a plain thread, each submitted
/// `period` after the previous one (the thread busy-waits in between; a
/// round trip longer than `period` is followed at once by the next): idle
/// gaps of tens of µs, where a pool that spins before parking catches the
/// next job and one that parks at once pays a wake-up. The submitting
/// thread's busy wait would be most of the process's CPU time, so the CPU
/// counted is every other thread's: what the pool spent per job (the
/// submitting thread's own submission and join are not in it).
fn paced_fast<S: Sys>(
    threads: usize,
    jobs: usize,
    period: Duration,
    warm_up: Duration,
) -> Vec<(&'static str, f64)> {
    let sys = S::build(threads, None);
    common::start_threads(&sys, threads);
    let mut times = Vec::with_capacity(jobs.max(100));
    let warm = Instant::now();
    while warm.elapsed() < warm_up {
        common::paced_join_round_trips(&sys, 100, period, &mut times);
        times.clear();
    }
    // A thread's schedstat time is brought up to date when it leaves the
    // CPU (or at a scheduler tick), so each reading waits until the pool's
    // threads have gone idle: a thread still spinning from the last job
    // would be read short by up to a tick.
    let settle = Duration::from_millis(2);
    std::thread::sleep(settle);
    let threads_before = thread_ids();
    let cpu_before = other_threads_cpu_ns();
    common::paced_join_round_trips(&sys, jobs, period, &mut times);
    std::thread::sleep(settle);
    let cpu = other_threads_cpu_ns().saturating_sub(cpu_before);
    let exited = threads_before.difference(&thread_ids()).count();
    sys.shutdown();
    paced_results(cpu, exited, jobs, times)
}

/// What both paced scenarios report. `threads_exited` counts the threads
/// that ended inside the window: their CPU time is missing from `cpu`
/// (schedstat is per live thread), so a non-zero count flags an undercount.
fn paced_results(
    cpu_ns: u64,
    threads_exited: usize,
    jobs: usize,
    mut times: Vec<u64>,
) -> Vec<(&'static str, f64)> {
    times.sort_unstable();
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        eprintln!(
            "cpu: {cpu_ns} ns over {jobs} jobs; threads exited in the window: {threads_exited}"
        );
    }
    vec![
        ("cpu_us_per_job", cpu_ns as f64 / 1e3 / jobs as f64),
        ("rtt_p50_us", common::percentile(&times, 50.0) as f64 / 1e3),
        ("rtt_p99_us", common::percentile(&times, 99.0) as f64 / 1e3),
        ("threads_exited", threads_exited as f64),
    ]
}

/// Efficiency of `jobs` copies of `job` on `threads` threads: the ideal time
/// (jobs × the job's own duration, measured alone on this thread just
/// before, / threads) over the wall time, in percent.
fn efficiency<S: Sys>(
    threads: usize,
    jobs: usize,
    reps: usize,
    job: impl Fn() + Send + Sync + Clone + 'static,
) -> Vec<(&'static str, f64)> {
    let mut alone: Vec<f64> = (0..21)
        .map(|_| {
            let start = Instant::now();
            job();
            start.elapsed().as_nanos() as f64
        })
        .collect();
    let nominal = common::median(&mut alone);
    let sys = S::build(threads, None);
    common::start_threads(&sys, threads);
    common::join_all(&sys, threads * 2, job.clone());
    let ideal = jobs as f64 * nominal / threads as f64;
    let mut pct: Vec<f64> = (0..reps)
        .map(|_| {
            let wall = common::join_all(&sys, jobs, job.clone());
            100.0 * ideal / wall.as_nanos() as f64
        })
        .collect();
    sys.shutdown();
    vec![
        ("efficiency_pct", common::median(&mut pct)),
        ("job_ns", nominal),
    ]
}

/// Heap bytes held per queued job: `jobs` jobs queued behind a blocked
/// worker (the pool has `threads` = 1), their handles pushed into a `Vec`
/// that starts empty. Everything allocated while queuing counts: the job,
/// its handle, the queue's and the `Vec`'s growth.
fn memory<S: Sys>(threads: usize, jobs: usize) -> Vec<(&'static str, f64)> {
    assert_eq!(threads, 1, "one worker, blocked");
    let sys = S::build(threads, None);
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let blocker = sys.spawn(move || {
        started_tx.send(()).expect("started");
        let _ = gate_rx.recv();
        0_u64
    });
    started_rx.recv().expect("the blocker started");
    let capture = 0x5eed_u64;
    let mut handles: Vec<S::Handle<u64>> = Vec::new();
    counting::start();
    for i in 0..jobs as u64 {
        let captured = capture + i; // the closure's only capture: 8 bytes
        handles.push(sys.spawn(move || common::tiny(captured)));
    }
    let counts = counting::stop();
    let capture_bytes = std::mem::size_of::<u64>() as f64;
    drop(gate_tx);
    black_box(S::join(blocker));
    for handle in handles {
        black_box(S::join(handle));
    }
    sys.shutdown();
    let per_job = counts.live as f64 / jobs as f64;
    vec![
        ("bytes_per_job", per_job),
        ("overhead_bytes", per_job - capture_bytes),
        ("allocs_per_queued_job", counts.allocs as f64 / jobs as f64),
    ]
}

/// Heap allocations per job in steady state, counted over every thread:
/// batches of `batch` jobs submitted and awaited (then joined), after a
/// warm-up, with the handles' `Vec` reused. Each mode is counted over
/// `WINDOWS` consecutive windows of `jobs` jobs and the smallest count is
/// reported: a one-off growth of some container (the queue doubling once)
/// lands in one window, while a cost paid per job or per park recurs in
/// every window.
fn allocs<S: Sys>(threads: usize, jobs: usize, batch: usize) -> Vec<(&'static str, f64)> {
    const WINDOWS: usize = 3;
    let rt = common::runtime(threads);
    let sys = S::build(threads, Some(rt.handle()));
    common::start_threads(&sys, threads);
    let mut handles = Vec::with_capacity(batch);
    let warm = jobs / 5;
    let fewest = |counts: Vec<counting::Counts>| {
        counts
            .into_iter()
            .min_by_key(|c| (c.allocs, c.bytes))
            .expect("windows")
    };
    let async_counts = fewest(rt.block_on(async {
        common::async_jobs(&sys, warm, batch, &mut handles).await;
        let mut windows = Vec::new();
        for _ in 0..WINDOWS {
            counting::start();
            common::async_jobs(&sys, jobs, batch, &mut handles).await;
            windows.push(counting::stop());
        }
        windows
    }));
    // Outside the runtime: joining a tokio handle with `block_on` inside
    // `Runtime::block_on` would spin once tokio's coop budget runs out.
    common::join_jobs(&sys, warm, batch, &mut handles);
    let join_counts = fewest(
        (0..WINDOWS)
            .map(|_| {
                counting::start();
                common::join_jobs(&sys, jobs, batch, &mut handles);
                counting::stop()
            })
            .collect(),
    );
    sys.shutdown();
    drop(rt);
    let n = jobs as f64;
    vec![
        ("allocs_async", async_counts.allocs as f64 / n),
        ("alloc_bytes_async", async_counts.bytes as f64 / n),
        ("allocs_join", join_counts.allocs as f64 / n),
        ("alloc_bytes_join", join_counts.bytes as f64 / n),
    ]
}

/// CPU used by the whole process while its pool sits idle for `window`,
/// after a burst of work (so any spinning has had its chance to stop).
fn idle<S: Sys>(threads: usize, window: Duration) -> Vec<(&'static str, f64)> {
    let sys = S::build(threads, None);
    common::start_threads(&sys, threads);
    let mut handles = Vec::with_capacity(1_000);
    common::join_jobs(&sys, 5_000, 1_000, &mut handles);
    std::thread::sleep(Duration::from_millis(300));
    let ticks_before = self_stat_fields().map_or(0, |f| f[11] + f[12]);
    let cpu_before = process_cpu_ns();
    let start = Instant::now();
    std::thread::sleep(window);
    let cpu = process_cpu_ns().saturating_sub(cpu_before);
    let elapsed = start.elapsed();
    let ticks = self_stat_fields().map_or(0, |f| f[11] + f[12]) - ticks_before;
    sys.shutdown();
    vec![
        ("cpu_pct", 100.0 * cpu as f64 / elapsed.as_nanos() as f64),
        ("cpu_us", cpu as f64 / 1e3),
        ("ticks", ticks as f64),
        ("window_ms", elapsed.as_secs_f64() * 1e3),
    ]
}
