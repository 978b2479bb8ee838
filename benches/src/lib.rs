//! What the comparison (`benches/compare.rs`) and the report generator
//! (`benches/src/bin/bench_report.rs`) share: the names of the systems, the
//! shape of the results file, and where it and the report live.
//!
//! The results file is [`Results`] written with `serde_json::to_string_pretty`
//! and read back with `serde_json::from_str`: one definition, so the writer
//! and the reader cannot drift apart. Missing values (a child that failed, a
//! ratio without a baseline, a NaN) are `null`.
//!
//! Paths: this package's directory is `benches/`, so the repository's root
//! is its parent. Relative paths given in the environment are taken from the
//! repository's root, because `cargo bench` starts the bench in `benches/`
//! while `cargo run` starts the report where cargo was started: a fixed base
//! makes one relative path name the same file to both.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// thread-exec's plain path (`Executor::spawn`), the system under test.
pub const TE: &str = "thread-exec";
/// The peers compared with thread-exec in every scenario, tokio first (the
/// baseline of every ratio).
pub const PEERS: [&str; 6] = [
    "tokio",
    "blocking",
    "threadpool",
    "rayon",
    "rusty_pool",
    "affinitypool",
];
/// thread-exec's other submission paths, compared with its plain one.
/// `te-sharded` is the plain path on a queue of one shard per thread
/// (`queue_shards(threads)`): at the benches' two threads the default is
/// one shard, so it shows what sharding costs one submitter and gains many.
pub const VARIANTS: [&str; 6] = [
    "te-bounded",
    "te-callback",
    "te-dynamic",
    "te-timings",
    "te-metrics",
    "te-sharded",
];
/// thread-exec's plain path built from another commit: the comparison binary
/// that `BENCH_BASELINE` names, run in the same rounds, for before/after
/// ratios of a change measured in one run.
pub const BASE: &str = "te-base";

/// How often, in ms, the `te-metrics` variant publishes the pool's metrics:
/// far more often than any scrape interval, so its cost is an upper bound.
pub const PUBLISH_EVERY_MS: u64 = 50;

/// The version of the results file's shape: 2 added the paced scenarios'
/// sizes to [`Sizes`] (a file of schema 1 lacks them and is not read).
pub const SCHEMA: u32 = 2;

/// The repository's root: the parent of this package's directory.
pub fn repo_root() -> PathBuf {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"));
    package.parent().unwrap_or(package).to_path_buf()
}

/// `path` if absolute, else `path` under the repository's root.
fn from_root(path: impl Into<PathBuf>) -> PathBuf {
    let path = path.into();
    if path.is_absolute() {
        path
    } else {
        repo_root().join(path)
    }
}

/// Where the comparison writes its results and the report reads them:
/// `$BENCH_RESULTS`, else `bench-results.json` in `$CARGO_TARGET_DIR`, else
/// in the workspace's `target/` (at the repository's root, where cargo puts
/// a workspace's builds).
pub fn results_path() -> PathBuf {
    if let Some(path) = std::env::var_os("BENCH_RESULTS") {
        return from_root(path);
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| from_root("target"), from_root);
    target.join("bench-results.json")
}

/// Where the report writes `benchmarks.md` and `benchmarks.svg`:
/// `$BENCH_DOCS` (for a trial run that must not replace the committed
/// report), else the repository's `docs/`.
pub fn docs_dir() -> PathBuf {
    std::env::var_os("BENCH_DOCS").map_or_else(|| from_root("docs"), from_root)
}

/// The whole results file.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Results {
    /// [`SCHEMA`] when written.
    pub schema: u32,
    /// `full`, or `quick` (`BENCH_QUICK=1`: small sizes, few rounds).
    pub mode: String,
    /// Interleaved rounds of the timed scenarios.
    pub rounds: usize,
    /// When the run started, in Unix seconds.
    pub started_unix: u64,
    /// The run's wall time.
    pub wall_seconds: f64,
    /// The scenario filters given on the command line; empty: all of them.
    pub filters: Vec<String>,
    pub machine: Machine,
    pub config: Sizes,
    /// One per metric and system, metrics in the comparison's order.
    pub rows: Vec<Row>,
    pub targets: Vec<Target>,
    /// `scenario/system round r: what went wrong`, one per failed child.
    pub failures: Vec<String>,
}

/// The machine and build the comparison ran on, as it saw them.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Machine {
    /// `model name` from `/proc/cpuinfo`.
    pub cpu: String,
    /// `std::thread::available_parallelism`.
    pub nproc: usize,
    /// `/proc/sys/kernel/osrelease`.
    pub kernel: String,
    /// `rustc --version`.
    pub rustc: String,
    /// The short commit, with " (src/ modified)" if the library's sources
    /// differed from it.
    pub git: String,
    /// `/proc/loadavg` before and after the run.
    pub loadavg_before: String,
    pub loadavg_after: String,
    /// The share of the machine's CPU time that other processes used during
    /// the run, in percent; `None` if `/proc/stat` could not be read.
    pub others_busy_pct: Option<f64>,
}

/// The sizes every scenario ran with.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Sizes {
    /// Threads for the tiny-job, latency, paced, allocation and idle
    /// scenarios.
    pub tiny_threads: usize,
    /// Jobs submitted before their handles are awaited, in the batched
    /// tiny-job scenarios.
    pub batch: usize,
    /// Tiny jobs per timed repetition, in both submission shapes.
    pub tiny_jobs: usize,
    /// Timed repetitions per child process.
    pub reps: usize,
    pub warm_up_ms: u64,
    pub latency_samples: usize,
    pub cpu_threads: usize,
    pub cpu_jobs: usize,
    pub cpu_job_us: u64,
    /// Rounds of the CPU job's xorshift loop that take `cpu_job_us` here,
    /// calibrated at the start of the run.
    pub spin_iters: u64,
    pub sleep_threads: usize,
    pub sleep_jobs: usize,
    pub memory_jobs: usize,
    pub alloc_jobs: usize,
    pub alloc_batch: usize,
    /// The queue bound of the `te-bounded` variant.
    pub bound: usize,
    pub idle_window_ms: u64,
    /// Jobs in the `paced` scenario, one per tick.
    pub paced_jobs: usize,
    /// Its tick.
    pub paced_period_us: u64,
    /// Jobs in the `paced_fast` scenario.
    pub paced_fast_jobs: usize,
    /// The time from one of its submissions to the next.
    pub paced_fast_period_us: u64,
}

/// One metric for one system.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Row {
    /// The metric's name, e.g. `async_tiny`.
    pub row: String,
    /// What it measures, in a line.
    pub title: String,
    pub system: String,
    pub unit: String,
    pub lower_is_better: bool,
    /// The median over rounds.
    pub value: Option<f64>,
    /// How many times better than tokio (higher is better): the median of
    /// the per-round ratios.
    pub vs_tokio: Option<f64>,
    /// The value in each round.
    pub values: Vec<Option<f64>>,
    /// The ratio to tokio in each round.
    pub ratios: Vec<Option<f64>>,
}

/// One of the targets the comparison judges.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    /// `None`: not measured in this run.
    pub met: Option<bool>,
    /// The figures behind the verdict.
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout every default path rests on: this package is `benches/`
    /// of the workspace whose root holds the library.
    #[test]
    fn the_repository_root_is_the_workspace_root() {
        let root = repo_root();
        assert!(root.join("benches").join("Cargo.toml").is_file());
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("root manifest");
        assert!(manifest.contains("[workspace]"));
        assert_eq!(from_root("docs"), root.join("docs"));
        assert_eq!(from_root("/tmp/x"), PathBuf::from("/tmp/x"));
    }

    /// A file of the current schema, laid out as the hand-written writer
    /// that serde replaced laid it out (one row per line): its fields read
    /// back, and they survive a round trip through serde's writer.
    const SAMPLE: &str = r#"{
  "schema": 2,
  "mode": "quick",
  "rounds": 3,
  "started_unix": 1795876560,
  "wall_seconds": 70.2,
  "filters": ["latency"],
  "machine": {
    "cpu": "AMD EPYC",
    "nproc": 2,
    "kernel": "6.18.44",
    "rustc": "rustc 1.95.0",
    "git": "51322e7 (src/ modified)",
    "loadavg_before": "1.28 1.26 1.53 1/78 4948",
    "loadavg_after": "1.75 1.43 1.57 1/79 14142",
    "others_busy_pct": null
  },
  "config": {
    "tiny_threads": 2,
    "batch": 1000,
    "tiny_jobs": 5000,
    "reps": 3,
    "warm_up_ms": 10,
    "latency_samples": 500,
    "cpu_threads": 2,
    "cpu_jobs": 400,
    "cpu_job_us": 50,
    "spin_iters": 41234,
    "sleep_threads": 64,
    "sleep_jobs": 512,
    "memory_jobs": 8192,
    "alloc_jobs": 5000,
    "alloc_batch": 64,
    "bound": 256,
    "idle_window_ms": 1000,
    "paced_jobs": 100,
    "paced_period_us": 1000,
    "paced_fast_jobs": 1000,
    "paced_fast_period_us": 50
  },
  "rows": [
    {"row": "latency_p50", "title": "round trip of one awaited job, median", "system": "thread-exec", "unit": "ns", "lower_is_better": true, "value": 1022, "vs_tokio": 15.6, "values": [1022, null, 1030.5], "ratios": [15.6, null, 14.9]}
  ],
  "targets": [
    {"name": "Latency: median below rayon's", "met": true, "detail": "median 1022 ns"},
    {"name": "Idle pool uses no CPU", "met": null, "detail": "n/a"}
  ],
  "failures": ["latency/tokio round 1: killed after 120s"]
}
"#;

    #[test]
    fn results_read_back_and_round_trip() {
        let results: Results = serde_json::from_str(SAMPLE).expect("a results file");
        assert_eq!(results.machine.others_busy_pct, None);
        assert_eq!(results.config.bound, 256);
        assert_eq!(results.config.paced_fast_period_us, 50);
        let row = &results.rows[0];
        assert_eq!(row.value, Some(1022.0));
        assert_eq!(row.values, [Some(1022.0), None, Some(1030.5)]);
        assert_eq!(results.targets[1].met, None);
        let text = serde_json::to_string_pretty(&results).expect("serialises");
        let again: Results = serde_json::from_str(&text).expect("reads back");
        assert_eq!(again, results);
    }

    /// A file of schema 1 lacks the paced sizes: an error, not zeros.
    #[test]
    fn schema_1_is_refused() {
        let old = SAMPLE
            .replace("\"schema\": 2", "\"schema\": 1")
            .replace(",\n    \"paced_jobs\": 100,\n    \"paced_period_us\": 1000,\n    \"paced_fast_jobs\": 1000,\n    \"paced_fast_period_us\": 50", "");
        let err = serde_json::from_str::<Results>(&old).expect_err("schema 1");
        assert!(err.to_string().contains("paced_jobs"), "{err}");
    }

    /// Values that are not numbers (a failed ratio) are written as `null`
    /// and read back as missing, not as an error.
    #[test]
    fn non_finite_values_become_null() {
        let mut results: Results = serde_json::from_str(SAMPLE).expect("a results file");
        results.rows[0].vs_tokio = Some(f64::NAN);
        let text = serde_json::to_string_pretty(&results).expect("serialises");
        assert!(text.contains("\"vs_tokio\": null"));
        let again: Results = serde_json::from_str(&text).expect("reads back");
        assert_eq!(again.rows[0].vs_tokio, None);
    }
}
