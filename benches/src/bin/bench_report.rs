//! Turns the comparison's results into `docs/benchmarks.md` and
//! `docs/benchmarks.svg`.
//!
//! From the repository's root:
//!
//! ```text
//! cargo bench -p thread-exec-bench --bench compare                 # writes target/bench-results.json
//! cargo run -p thread-exec-bench --release --bin bench_report      # writes docs/benchmarks.{md,svg}
//! ```
//!
//! Reads `$BENCH_RESULTS`, else `$CARGO_TARGET_DIR/bench-results.json`, else
//! `target/bench-results.json` at the repository's root; writes into
//! `$BENCH_DOCS`, else the repository's `docs/` (relative paths are taken
//! from the repository's root, as the comparison takes them). With no
//! results file it says so and exits successfully. `BENCH_NOTE="..."` adds
//! a note to the page, e.g. about the machine's state.
//!
//! The machine is described from `/proc/cpuinfo`, `/proc/meminfo` and
//! `nproc` on the machine that runs this tool, next to what the benchmark
//! itself recorded (which is what counts if the two differ).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use thread_exec_bench::{Results, Row, PEERS, TE};

fn main() {
    let input = thread_exec_bench::results_path();
    let text = match std::fs::read_to_string(&input) {
        Ok(text) => text,
        Err(err) => {
            println!(
                "bench_report: no results at {} ({err}); run `cargo bench -p thread-exec-bench --bench compare` first. Nothing written.",
                input.display()
            );
            return;
        }
    };
    let results: Results = match serde_json::from_str(&text) {
        Ok(results) => results,
        Err(err) => {
            println!(
                "bench_report: {} is not a results file of schema {} ({err}); re-run the comparison. Nothing written.",
                input.display(),
                thread_exec_bench::SCHEMA
            );
            return;
        }
    };
    let docs = thread_exec_bench::docs_dir();
    if let Err(err) = std::fs::create_dir_all(&docs) {
        println!("bench_report: cannot create {}: {err}", docs.display());
        return;
    }
    let report = Report::from(&results);
    let md = report.markdown(&input);
    let svg = report.svg();
    for (name, contents) in [("benchmarks.md", md), ("benchmarks.svg", svg)] {
        let path = docs.join(name);
        match std::fs::write(&path, contents) {
            Ok(()) => println!("bench_report: wrote {}", path.display()),
            Err(err) => println!("bench_report: cannot write {}: {err}", path.display()),
        }
    }
}

// ================================================================ model

/// The rows drawn in the chart, with their labels.
const CHARTED: [(&str, &str); 16] = [
    ("async_tiny", "tiny jobs in batches, awaited (throughput)"),
    ("join_tiny", "tiny jobs in batches, joined (throughput)"),
    (
        "async_tiny_all",
        "tiny jobs all submitted first, awaited (throughput)",
    ),
    (
        "join_tiny_all",
        "tiny jobs all submitted first, joined (throughput)",
    ),
    (
        "tiny_mp",
        "64 async tasks submitting, 2-worker runtime (throughput)",
    ),
    ("join_tiny_mp", "8 plain threads submitting (throughput)"),
    ("latency_p50", "round trip, median"),
    ("latency_p99", "round trip, p99"),
    ("paced_cpu", "one job per 1 ms tick, async: CPU per job"),
    ("paced_rtt", "one job per 1 ms tick, async: round trip"),
    (
        "paced_fast_cpu",
        "one job per 50 µs, plain thread: CPU per job",
    ),
    (
        "paced_fast_rtt",
        "one job per 50 µs, plain thread: round trip",
    ),
    ("cpu_50us", "50 µs CPU jobs, 2 threads (efficiency)"),
    ("sleep_1ms", "1 ms sleeps, 64 threads (efficiency)"),
    ("memory", "bytes per queued job"),
    ("allocs_join", "allocations per job"),
];

/// The closing section of the report: what to expect past the measuring
/// machine's two cores, from the queue's cost model.
const PAST_TWO_CORES: &str = "## Past two cores (on paper)

The figures above come from a two-vCPU machine, where the queue has one shard per lane (one per two threads of `max_threads`; `te-sharded` is the same pool with one shard per thread). What to expect on more cores is a model, not a measurement. Per job, the shared cache lines see two critical sections of the job's shard lock (send, receive), each costing about `2x + h` once contended (`x`: moving a cache line from the core that wrote it last, for the lock's acquire and for its data; `h`: the work under the lock), and two read-modify-writes of the pool's state word (accept, start), about `x` each. So the aggregate cost per job has the floor `max(2 (2x + h) / K_busy, 2x)`, `K_busy` being the shards with work (at most the number of submitting threads). On a profile of an AMD EPYC two-vCPU machine the lock work was ~40 % of ~200 ns per tiny job, about 80 ns per job; on one socket of a 64-core machine `x` is 60–100 ns once many cores contend (more across sockets), so one lock caps the pool at about 280–440 ns per job (2–3.5 M jobs/s) however many submitters it has, 16 shards bring the lock's share to 20–30 ns, and the state word's 120–200 ns becomes the floor (5–8 M jobs/s): a gain of 2–3× at most, past which the state word would have to be split too. One submitter gains nothing from shards (every stealing worker meets on its one shard) and pays two count updates per job, hence `queue_shards(1)` for a large pool fed by one thread. On a 64-core machine, measure `tiny_mp` and `join_tiny_mp` with 64 workers and 1, 8 and 64 submitters, at `queue_shards(1)` and at the default, and profile the state word's read-modify-writes against `lock_contended`: the prediction is 2–3× less time per job at 64 submitters with 16 shards, no further gain from more shards, and one submitter within 3 % at `queue_shards(1)`. The model and the design are in the queue's module docs (`src/queue.rs`, 'Cost against cores and submitters, on paper').
";

/// Why one peer leads the CPU-bound row: what was measured, and what would
/// take the lead back.
const CPU_BOUND: &str = "## Why affinitypool leads on CPU-bound jobs

In `cpu_50us` every system but one spends 17-20 % of the two cores beyond the jobs' own work, and affinitypool about 6 %. The jobs are not the difference; the joining thread is. It joins 2,000 handles in order while both workers are busy, so it is a third thread on two cores, and each time it waits for a job it must be woken when that job ends. Measured on the 2-vCPU Xeon (`perf stat`, `perf record`, and a trace of `sched_switch`/`sched_wakeup`, over the child process of one run: 6,004 jobs of 51 µs, 306 ms of work):

| | thread-exec | affinitypool |
| --- | ---: | ---: |
| CPU time of the process | 382 ms | 331 ms |
| beyond the jobs' work | 76 ms | 25 ms |
| switches of the joining thread | 3,776 (0.63 per job) | 2,680 (0.45 per job) |
| its wake-ups, by worker | 1,899 and 1,885 | 2,569 and 112 |
| samples in the waking worker's futex wake | 5.2 % + 0.8 % | 1.6 % |

A FIFO queue hands consecutive jobs to alternate workers, so the joiner waits on both, and half of its wake-ups come from the worker on the other vCPU: that wake-up preempts a busy vCPU through an inter-processor interrupt, which on this VM costs the waking worker about 20 µs (against about 5 µs for a wake-up on its own vCPU), and the preempted worker another few (`asm_sysvec_reschedule_ipi`, 3.9 % of samples). tokio, threadpool, rayon, rusty_pool and blocking lose the same share, as this pattern predicts for any FIFO queue (they were not traced). affinitypool's workers take jobs in batches (crossbeam's `steal_batch_and_pop` moves up to half of an injector into the worker's own deque), so runs of consecutive jobs end on one worker; the joiner waits on that worker's jobs only (the other's are done by the time it reaches them), the scheduler keeps it on that worker's vCPU, and its wake-ups are local and fewer.

Taking the lead back needs the same: consecutive jobs on one worker. thread-exec's queue does not batch (flume has no bounded take, and a batch held by one worker would be hidden from `shutdown_now`, from idle workers and from a later `High` job: the queue's module docs, 'Batching'), and letting the joining thread run queued jobs itself would break the bound of `threads` jobs at a time that users rely on. An inter-processor interrupt costs less on bare metal, so the gap should be smaller there; that was not measured.
";

/// The report on one results file.
struct Report<'a> {
    results: &'a Results,
}

impl<'a> Report<'a> {
    fn from(results: &'a Results) -> Report<'a> {
        Report { results }
    }

    fn find(&self, row: &str, system: &str) -> Option<&'a Row> {
        self.results
            .rows
            .iter()
            .find(|r| r.row == row && r.system == system)
    }

    fn markdown(&self, input: &Path) -> String {
        let mut md = String::new();
        let results = self.results;
        let machine = &results.machine;
        let config = &results.config;
        let mode = &results.mode;
        let rounds = results.rounds;
        let wall = results.wall_seconds;
        let started = utc(results.started_unix as i64);
        let others = machine.others_busy_pct;

        let _ = writeln!(md, "# Benchmarks\n");
        let _ = writeln!(
            md,
            "Generated by `cargo run -p thread-exec-bench --release --bin bench_report` from `{}`, written by `cargo bench -p thread-exec-bench --bench compare` (both run from the repository's root). Do not edit by hand: re-run both.\n",
            input
                .strip_prefix(thread_exec_bench::repo_root())
                .unwrap_or(input)
                .display()
        );
        let _ = writeln!(
            md,
            "- Run: {started}, {mode} mode, {rounds} interleaved rounds, {wall:.0} s wall time, commit {}.",
            machine.git
        );
        if mode != "full" {
            let _ = writeln!(
                md,
                "- **This is a {mode} run** (small sizes, few rounds): for development only, not a measurement."
            );
        }
        if let Some(pct) = others {
            if pct > 5.0 {
                let _ = writeln!(
                    md,
                    "- **The machine was busy**: other processes used {pct:.1} % of its CPU time during the run. Absolute figures are depressed and the ratios noisier; treat the results as preliminary."
                );
            } else {
                let _ = writeln!(
                    md,
                    "- The machine was quiet: other processes used {pct:.1} % of its CPU time during the run."
                );
            }
        }
        if let Ok(note) = std::env::var("BENCH_NOTE") {
            if !note.trim().is_empty() {
                let _ = writeln!(md, "- Note: {}", note.trim());
            }
        }
        if !results.failures.is_empty() {
            let _ = writeln!(
                md,
                "- {} measurement(s) failed and are missing: {}.",
                results.failures.len(),
                results.failures.join("; ")
            );
        }

        let _ = writeln!(md, "\n## Machine\n");
        let here = MachineHere::read();
        let _ = writeln!(
            md,
            "| | recorded by the benchmark | this machine (`/proc/cpuinfo`, `nproc`) |"
        );
        let _ = writeln!(md, "| --- | --- | --- |");
        let _ = writeln!(md, "| CPU | {} | {} |", machine.cpu, here.cpu);
        let _ = writeln!(
            md,
            "| CPUs | {} | {} ({}) |",
            machine.nproc, here.nproc, here.cpus_detail
        );
        let _ = writeln!(md, "| memory | | {} |", here.memory);
        let _ = writeln!(md, "| kernel | {} | {} |", machine.kernel, here.kernel);
        let _ = writeln!(md, "| rustc | {} | |", machine.rustc);
        let _ = writeln!(
            md,
            "| load average | {} before, {} after | |",
            machine.loadavg_before, machine.loadavg_after
        );

        let _ = writeln!(md, "\n## Method\n");
        let _ = writeln!(
            md,
            "Systems: **thread-exec** (`Executor::spawn`), **tokio** (`spawn_blocking`), **blocking** (`blocking::unblock`), **threadpool** (`ThreadPool::execute` + a `futures` oneshot for the result), **rayon** (`ThreadPool::spawn` + oneshot), **rusty_pool** (`ThreadPool::evaluate` on a fixed pool, core size = max size = the thread count, threads started up front; from async code its `JoinHandle`'s own `futures` oneshot receiver is awaited, from a plain thread `await_complete()` joins it: no oneshot of ours), **affinitypool** (`Threadpool::spawn`, SurrealDB's producer-sharded pool; its future is unnameable, so it is boxed: one allocation per job of ours). The many-submitter rows: `tiny_mp` runs 64 tokio tasks on a 2-worker multi-thread runtime (tokio's `spawn_blocking` uses that runtime's blocking pool), each submitting batches of 32 tiny jobs and awaiting each batch; `join_tiny_mp` runs 8 plain threads doing the same with `join`. The `te-*` rows are thread-exec's other paths: a bounded queue of {} jobs (`spawn`, or `spawn_async` from async code), a job with a callback (`send(Job::new(f).callback(..))`), a dynamic pool (`min_threads(1).max_threads(n)`), a pool with `record_timings(true)` (`te-timings`), and the same with the `metrics` feature as designed (`te-metrics`: `metrics-exporter-prometheus`'s recorder installed, and a thread calling `publish_metrics` and the exporter's upkeep every {} ms, far more often than a scrape, so an upper bound; most of its cost over `te-timings` is the exporter's own: the histograms reach it through `record_many`, which it turns into one sample per job on the publishing thread, and a profile of `join_tiny` shows `AtomicBucket::push`, `DDSketch::add` and its clock reads there, on the same two cores as the pool), and a queue of one shard per thread (`te-sharded`, `queue_shards(threads)`: at two threads the default is one shard). The `te-base` rows, when present, are the plain path of another build of thread-exec (the commit before a change, named in the note above), run in the same rounds through `BENCH_BASELINE`: their targets are the change's before/after ratios.\n",
            config.bound,
            thread_exec_bench::PUBLISH_EVERY_MS
        );
        let _ = writeln!(
            md,
            "Every measurement runs in a process of its own (the bench binary re-executes itself per system and scenario), on a fresh pool built for it and shut down after; async scenarios are driven by a fresh current-thread tokio runtime whose `max_blocking_threads` equals the pool's thread count, the same for every system. Rounds are interleaved (every system in every round, order rotated per round); a value is the median over rounds, and \"× tokio\" is the median of the per-round ratios, oriented so that higher is better (tokio's time, latency, bytes or allocations divided by the system's; the system's efficiency divided by tokio's).\n"
        );
        let _ = writeln!(
            md,
            "Sizes: {} threads for tiny jobs, submitted in two shapes: in batches (a batch of {} submitted, then awaited or joined in order, batch after batch) and all first (all {} jobs of a repetition submitted before the first is awaited or joined, then all in order); {} ms of untimed warm-up in the same shape, then {} jobs × {} repetitions per process (the process reports their median); latency over {} sequential round trips; {} CPU jobs of {} µs on {} threads; {} sleeps of 1 ms on {} threads (efficiency = jobs × the job's duration measured alone ÷ threads ÷ wall time); memory with {} jobs queued behind one blocked worker (8 bytes of captures each; heap bytes requested, from a counting global allocator); allocations over {} jobs in batches of {} after a warm-up, counted on every thread, the fewest of 3 consecutive windows (a one-off container growth lands in one window, a per-job or per-park cost in all); idle CPU of a 2-thread pool over {} ms, all threads of the process (`/proc/self/task/*/schedstat`).\n",
            config.tiny_threads,
            config.batch,
            config.tiny_jobs,
            config.warm_up_ms,
            config.tiny_jobs,
            config.reps,
            config.latency_samples,
            config.cpu_jobs,
            config.cpu_job_us,
            config.cpu_threads,
            config.sleep_jobs,
            config.sleep_threads,
            config.memory_jobs,
            config.alloc_jobs,
            config.alloc_batch,
            config.idle_window_ms,
        );
        let _ = writeln!(
            md,
            "Paced jobs from async code (`paced_cpu`, `paced_rtt`), on {} threads: a task on a current-thread tokio runtime (with its timer enabled, unlike the other async scenarios' runtime) submits one tiny job, awaits it, then waits for the next tick of a {} `tokio::time::interval` (`MissedTickBehavior::Delay`), {} times after the warm-up, so the pool idles between jobs; CPU per job is the whole process's CPU time over those jobs and ticks (every thread, the runtime's own included, from `/proc/self/task/*/schedstat`) ÷ the jobs, and the round trip is submission to result, median.\n",
            config.tiny_threads,
            duration_us(config.paced_period_us),
            config.paced_jobs,
        );
        let _ = writeln!(
            md,
            "Paced jobs from a plain thread (`paced_fast_cpu`, `paced_fast_rtt`), on {} threads: a thread submits one tiny job, joins it, then busy-waits until {} after that submission started (a longer round trip is followed at once by the next), {} times after the warm-up. The busy wait keeps the submitting thread on a CPU throughout, so CPU per job is the CPU time of every other thread of the process (the pool's: waking, running the job, spinning or parking) ÷ the jobs; the submitting thread's own submission and join are not in it. Both readings are taken after 2 ms of quiet, once the pool's threads have parked: a thread's schedstat time is brought up to date only when it leaves the CPU or at a scheduler tick. Round trip as above. In both paced scenarios CPU time is summed over the threads alive at the end of the window; a thread that exits inside it takes its time along, so such a round's CPU figure is left out and listed with the failures above.\n",
            config.tiny_threads,
            duration_us(config.paced_fast_period_us),
            config.paced_fast_jobs,
        );

        let _ = writeln!(md, "## Targets\n");
        let targets = &results.targets;
        let met = targets.iter().filter(|t| t.met == Some(true)).count();
        let _ = writeln!(md, "{met} of {} met.\n", targets.len());
        let _ = writeln!(md, "| target | status | measured |");
        let _ = writeln!(md, "| --- | --- | --- |");
        for t in targets {
            let status = match t.met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "not measured",
            };
            let _ = writeln!(md, "| {} | {status} | {} |", t.name, t.detail);
        }

        let _ = writeln!(md, "\n## Results\n");
        let _ = writeln!(md, "![Ratios to tokio](benchmarks.svg)\n");
        let _ = writeln!(md, "| scenario | system | value | × tokio | rounds |");
        let _ = writeln!(md, "| --- | --- | ---: | ---: | ---: |");
        let mut last = "";
        for r in &results.rows {
            let scenario = if r.row != last {
                format!("**{}**: {}", r.row, r.title)
            } else {
                String::new()
            };
            last = &r.row;
            let system = if r.system == TE {
                format!("**{}**", r.system)
            } else {
                r.system.clone()
            };
            let _ = writeln!(
                md,
                "| {scenario} | {system} | {} {} | {} | {} |",
                fmt_num(r.value),
                r.unit,
                r.vs_tokio.map_or("–".to_string(), |x| format!("{x:.2}×")),
                r.values.iter().flatten().count()
            );
        }
        let _ = write!(md, "\n{CPU_BOUND}");
        let _ = write!(md, "\n{PAST_TWO_CORES}");
        md
    }

    /// A horizontal bar chart of "× tokio" per scenario and system, on a
    /// log scale centred on 1× (right of the line: better than tokio).
    fn svg(&self) -> String {
        let groups: Vec<(&str, Vec<(&str, f64)>)> = CHARTED
            .iter()
            .map(|(row, label)| {
                let bars = std::iter::once(&TE)
                    .chain(&PEERS)
                    .filter_map(|s| self.find(row, s)?.vs_tokio.map(|v| (*s, v)))
                    .collect::<Vec<_>>();
                (*label, bars)
            })
            .filter(|(_, bars)| !bars.is_empty())
            .collect();
        let all = groups.iter().flat_map(|(_, b)| b.iter().map(|(_, v)| *v));
        let (lo, hi) = all.fold((0.5_f64, 2.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (lo, hi) = (lo.log2().floor(), hi.log2().ceil());
        let (left, right, plot_w) = (170.0, 70.0, 560.0);
        let width = left + plot_w + right;
        let (bar_h, gap, head) = (15.0, 12.0, 20.0);
        let top = 70.0;
        let x = |v: f64| left + (v.log2() - lo) / (hi - lo) * plot_w;
        let mut height = top;
        for (_, bars) in &groups {
            height += head + bars.len() as f64 * bar_h + gap;
        }
        height += 30.0;

        let mut s = String::new();
        let _ = writeln!(
            s,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"##
        );
        let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="white"/>"##);
        let _ = writeln!(
            s,
            r##"<text x="{}" y="22" font-size="15" font-weight="bold">thread-exec and peers: times better than tokio (log scale)</text>"##,
            10
        );
        let _ = writeln!(
            s,
            r##"<text x="10" y="40" fill="#555">median of per-round ratios; right of 1× is better than tokio ({} mode, {} rounds)</text>"##,
            xml(&self.results.mode),
            self.results.rounds
        );
        // Grid lines at powers of two.
        let mut e = lo as i32;
        while e <= hi as i32 {
            let v = 2f64.powi(e);
            let gx = x(v);
            let stroke = if e == 0 { "#333" } else { "#ddd" };
            let _ = writeln!(
                s,
                r##"<line x1="{gx:.1}" y1="{}" x2="{gx:.1}" y2="{}" stroke="{stroke}"/>"##,
                top - 8.0,
                height - 24.0
            );
            let label = if v >= 1.0 {
                format!("{v:.0}×")
            } else {
                format!("{v}×")
            };
            let _ = writeln!(
                s,
                r##"<text x="{gx:.1}" y="{}" text-anchor="middle" fill="#555">{label}</text>"##,
                top - 12.0
            );
            let _ = writeln!(
                s,
                r##"<text x="{gx:.1}" y="{}" text-anchor="middle" fill="#555">{label}</text>"##,
                height - 10.0
            );
            e += 1;
        }
        let mut y = top;
        let one = x(1.0);
        for (label, bars) in &groups {
            let _ = writeln!(
                s,
                r##"<text x="10" y="{:.1}" font-weight="bold">{}</text>"##,
                y + 14.0,
                xml(label)
            );
            y += head;
            for (system, v) in bars {
                let bx = x(*v);
                let (x0, w) = if bx >= one {
                    (one, bx - one)
                } else {
                    (bx, one - bx)
                };
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                    left - 8.0,
                    y + bar_h - 4.0,
                    xml(system)
                );
                let _ = writeln!(
                    s,
                    r##"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {v:.2}×</title></rect>"##,
                    y + 1.0,
                    w.max(1.0),
                    bar_h - 3.0,
                    color(system),
                    xml(system)
                );
                let (tx, anchor) = if bx >= one {
                    (bx + 4.0, "start")
                } else {
                    (bx - 4.0, "end")
                };
                let _ = writeln!(
                    s,
                    r##"<text x="{tx:.1}" y="{:.1}" text-anchor="{anchor}" fill="#333">{v:.2}×</text>"##,
                    y + bar_h - 4.0
                );
                y += bar_h;
            }
            y += gap;
        }
        let _ = writeln!(s, "</svg>");
        s
    }
}

fn color(system: &str) -> &'static str {
    match system {
        TE => "#d95f02",
        "tokio" => "#7570b3",
        "blocking" => "#1b9e77",
        "threadpool" => "#e7298a",
        "rayon" => "#66a61e",
        "rusty_pool" => "#e6ab02",
        "affinitypool" => "#a6761d",
        _ => "#999999",
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `us` microseconds as `50 µs`, or `1 ms` when a whole number of them.
fn duration_us(us: u64) -> String {
    if us >= 1_000 && us.is_multiple_of(1_000) {
        format!("{} ms", us / 1_000)
    } else {
        format!("{us} µs")
    }
}

fn fmt_num(x: Option<f64>) -> String {
    match x {
        None => "n/a".to_string(),
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 10.0 => format!("{x:.1}"),
        Some(x) if x.abs() >= 0.1 => format!("{x:.2}"),
        Some(x) => format!("{x:.4}"),
    }
}

/// `YYYY-MM-DD HH:MM UTC` from Unix seconds (Howard Hinnant's civil_from_days).
fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3_600,
        rem % 3_600 / 60
    )
}

/// The machine this tool runs on.
struct MachineHere {
    cpu: String,
    nproc: String,
    cpus_detail: String,
    memory: String,
    kernel: String,
}

impl MachineHere {
    fn read() -> MachineHere {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let mut fields: BTreeMap<&str, String> = BTreeMap::new();
        let mut processors = 0;
        for line in cpuinfo.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let k = k.trim();
            if k == "processor" {
                processors += 1;
            }
            fields.entry(k).or_insert_with(|| v.trim().to_string());
        }
        let get = |k: &str| fields.get(k).cloned().unwrap_or_else(|| "?".to_string());
        let nproc = std::process::Command::new("nproc")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map_or("?".to_string(), |n| n.to_string())
            });
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                let kb: f64 = m
                    .lines()
                    .find(|l| l.starts_with("MemTotal:"))?
                    .split_whitespace()
                    .nth(1)?
                    .parse()
                    .ok()?;
                Some(format!("{:.1} GiB", kb / 1_048_576.0))
            })
            .unwrap_or_else(|| "?".to_string());
        MachineHere {
            cpu: format!(
                "{} (family {}, model {}, {} MHz, cache {})",
                get("model name"),
                get("cpu family"),
                get("model"),
                get("cpu MHz"),
                get("cache size")
            ),
            nproc,
            cpus_detail: format!(
                "{processors} in /proc/cpuinfo, {} cores per socket",
                get("cpu cores")
            ),
            memory,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "?".to_string()),
        }
    }
}
