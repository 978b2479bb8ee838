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
    let results = match json::parse(&text) {
        Ok(value) => value,
        Err(err) => {
            println!(
                "bench_report: {} is not valid JSON ({err}); nothing written.",
                input.display()
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

const TE: &str = "thread-exec";
const SYSTEMS: [&str; 5] = [TE, "tokio", "blocking", "threadpool", "rayon"];
/// The rows drawn in the chart, with their labels.
const CHARTED: [(&str, &str); 8] = [
    ("async_tiny", "tiny jobs, awaited (throughput)"),
    ("join_tiny", "tiny jobs, joined (throughput)"),
    ("latency_p50", "round trip, median"),
    ("latency_p99", "round trip, p99"),
    ("cpu_50us", "50 µs CPU jobs, 2 threads (efficiency)"),
    ("sleep_1ms", "1 ms sleeps, 64 threads (efficiency)"),
    ("memory", "bytes per queued job"),
    ("allocs_join", "allocations per job"),
];

struct Row {
    row: String,
    title: String,
    system: String,
    unit: String,
    value: Option<f64>,
    vs_tokio: Option<f64>,
    rounds: usize,
}

struct Target {
    name: String,
    met: Option<bool>,
    detail: String,
}

struct Report<'a> {
    root: &'a json::Value,
    rows: Vec<Row>,
    targets: Vec<Target>,
}

impl<'a> Report<'a> {
    fn from(root: &'a json::Value) -> Report<'a> {
        let rows = root
            .get("rows")
            .and_then(json::Value::as_array)
            .unwrap_or(&[])
            .iter()
            .map(|r| Row {
                row: r.str("row"),
                title: r.str("title"),
                system: r.str("system"),
                unit: r.str("unit"),
                value: r.get("value").and_then(json::Value::as_f64),
                vs_tokio: r.get("vs_tokio").and_then(json::Value::as_f64),
                rounds: r
                    .get("values")
                    .and_then(json::Value::as_array)
                    .map_or(0, |v| v.iter().filter(|x| x.as_f64().is_some()).count()),
            })
            .collect();
        let targets = root
            .get("targets")
            .and_then(json::Value::as_array)
            .unwrap_or(&[])
            .iter()
            .map(|t| Target {
                name: t.str("name"),
                met: t.get("met").and_then(json::Value::as_bool),
                detail: t.str("detail"),
            })
            .collect();
        Report {
            root,
            rows,
            targets,
        }
    }

    fn machine(&self, key: &str) -> String {
        self.root
            .get("machine")
            .map(|m| m.str(key))
            .unwrap_or_default()
    }

    fn config(&self, key: &str) -> String {
        self.root
            .get("config")
            .and_then(|c| c.get(key))
            .and_then(json::Value::as_f64)
            .map_or("?".to_string(), |x| format!("{x}"))
    }

    fn markdown(&self, input: &Path) -> String {
        let mut md = String::new();
        let root = self.root;
        let mode = root.str("mode");
        let rounds = root
            .get("rounds")
            .and_then(json::Value::as_f64)
            .unwrap_or(0.0);
        let wall = root
            .get("wall_seconds")
            .and_then(json::Value::as_f64)
            .unwrap_or(0.0);
        let started = root
            .get("started_unix")
            .and_then(json::Value::as_f64)
            .map_or("unknown time".to_string(), |t| utc(t as i64));
        let others = root
            .get("machine")
            .and_then(|m| m.get("others_busy_pct"))
            .and_then(json::Value::as_f64);

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
            self.machine("git")
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
        if let Some(failures) = root.get("failures").and_then(json::Value::as_array) {
            if !failures.is_empty() {
                let _ = writeln!(
                    md,
                    "- {} measurement(s) failed and are missing: {}.",
                    failures.len(),
                    failures
                        .iter()
                        .filter_map(json::Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; ")
                );
            }
        }

        let _ = writeln!(md, "\n## Machine\n");
        let here = MachineHere::read();
        let _ = writeln!(
            md,
            "| | recorded by the benchmark | this machine (`/proc/cpuinfo`, `nproc`) |"
        );
        let _ = writeln!(md, "| --- | --- | --- |");
        let _ = writeln!(md, "| CPU | {} | {} |", self.machine("cpu"), here.cpu);
        let nproc = root
            .get("machine")
            .and_then(|m| m.get("nproc"))
            .and_then(json::Value::as_f64)
            .map_or("?".to_string(), |n| format!("{n}"));
        let _ = writeln!(
            md,
            "| CPUs | {nproc} | {} ({}) |",
            here.nproc, here.cpus_detail
        );
        let _ = writeln!(md, "| memory | | {} |", here.memory);
        let _ = writeln!(
            md,
            "| kernel | {} | {} |",
            self.machine("kernel"),
            here.kernel
        );
        let _ = writeln!(md, "| rustc | {} | |", self.machine("rustc"));
        let _ = writeln!(
            md,
            "| load average | {} before, {} after | |",
            self.machine("loadavg_before"),
            self.machine("loadavg_after")
        );

        let _ = writeln!(md, "\n## Method\n");
        let _ = writeln!(
            md,
            "Systems: **thread-exec** (`Executor::spawn`), **tokio** (`spawn_blocking`), **blocking** (`blocking::unblock`), **threadpool** (`ThreadPool::execute` + a `futures` oneshot for the result), **rayon** (`ThreadPool::spawn` + oneshot). The `te-*` rows are thread-exec's other paths: a bounded queue of {} jobs (`spawn`, or `spawn_async` from async code), a job with a callback (`send(Job::new(f).callback(..))`), and a dynamic pool (`min_threads(1).max_threads(n)`).\n",
            self.config("bound")
        );
        let _ = writeln!(
            md,
            "Every measurement runs in a process of its own (the bench binary re-executes itself per system and scenario), on a fresh pool built for it and shut down after; async scenarios are driven by a fresh current-thread tokio runtime whose `max_blocking_threads` equals the pool's thread count, the same for every system. Rounds are interleaved (every system in every round, order rotated per round); a value is the median over rounds, and \"× tokio\" is the median of the per-round ratios, oriented so that higher is better (tokio's time, latency, bytes or allocations divided by the system's; the system's efficiency divided by tokio's).\n"
        );
        let _ = writeln!(
            md,
            "Sizes: {} threads for tiny jobs, batches of {} submitted then awaited (or joined) in order, {} ms of untimed warm-up then {} jobs × {} repetitions per process (the process reports their median); latency over {} sequential round trips; {} CPU jobs of {} µs on {} threads; {} sleeps of 1 ms on {} threads (efficiency = jobs × the job's duration measured alone ÷ threads ÷ wall time); memory with {} jobs queued behind one blocked worker (8 bytes of captures each; heap bytes requested, from a counting global allocator); allocations over {} jobs in batches of {} after a warm-up, counted on every thread, the fewest of 3 consecutive windows (a one-off container growth lands in one window, a per-job or per-park cost in all); idle CPU of a 2-thread pool over {} ms, all threads of the process (`/proc/self/task/*/schedstat`).\n",
            self.config("tiny_threads"),
            self.config("batch"),
            self.config("warm_up_ms"),
            self.config("tiny_jobs"),
            self.config("reps"),
            self.config("latency_samples"),
            self.config("cpu_jobs"),
            self.config("cpu_job_us"),
            self.config("cpu_threads"),
            self.config("sleep_jobs"),
            self.config("sleep_threads"),
            self.config("memory_jobs"),
            self.config("alloc_jobs"),
            self.config("alloc_batch"),
            self.config("idle_window_ms"),
        );

        let _ = writeln!(md, "## Targets\n");
        let met = self.targets.iter().filter(|t| t.met == Some(true)).count();
        let _ = writeln!(md, "{met} of {} met.\n", self.targets.len());
        let _ = writeln!(md, "| target | status | measured |");
        let _ = writeln!(md, "| --- | --- | --- |");
        for t in &self.targets {
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
        for r in &self.rows {
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
                r.rounds
            );
        }
        md
    }

    /// A horizontal bar chart of "× tokio" per scenario and system, on a
    /// log scale centred on 1× (right of the line: better than tokio).
    fn svg(&self) -> String {
        let groups: Vec<(&str, Vec<(&str, f64)>)> = CHARTED
            .iter()
            .map(|(row, label)| {
                let bars = SYSTEMS
                    .iter()
                    .filter_map(|s| {
                        self.rows
                            .iter()
                            .find(|r| r.row == *row && r.system == *s)
                            .and_then(|r| r.vs_tokio)
                            .map(|v| (*s, v))
                    })
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
            xml(&self.root.str("mode")),
            self.root
                .get("rounds")
                .and_then(json::Value::as_f64)
                .unwrap_or(0.0)
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
        _ => "#999999",
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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

/// A small JSON reader: enough for the file `benches/compare.rs` writes.
mod json {
    #[derive(Debug, Clone, PartialEq)]
    pub enum Value {
        Null,
        Bool(bool),
        Num(f64),
        Str(String),
        Arr(Vec<Value>),
        Obj(Vec<(String, Value)>),
    }

    impl Value {
        pub fn get(&self, key: &str) -> Option<&Value> {
            match self {
                Value::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
                _ => None,
            }
        }

        pub fn as_f64(&self) -> Option<f64> {
            match self {
                Value::Num(x) => Some(*x),
                _ => None,
            }
        }

        pub fn as_bool(&self) -> Option<bool> {
            match self {
                Value::Bool(b) => Some(*b),
                _ => None,
            }
        }

        pub fn as_str(&self) -> Option<&str> {
            match self {
                Value::Str(s) => Some(s),
                _ => None,
            }
        }

        pub fn as_array(&self) -> Option<&[Value]> {
            match self {
                Value::Arr(items) => Some(items),
                _ => None,
            }
        }

        /// The string field `key`, or "" if absent.
        pub fn str(&self, key: &str) -> String {
            self.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        }
    }

    pub fn parse(text: &str) -> Result<Value, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let value = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing characters at byte {}", p.i));
        }
        Ok(value)
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn ws(&mut self) {
            while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
        }

        fn err(&self, what: &str) -> String {
            format!("{what} at byte {}", self.i)
        }

        fn eat(&mut self, c: u8) -> Result<(), String> {
            self.ws();
            if self.s.get(self.i) == Some(&c) {
                self.i += 1;
                Ok(())
            } else {
                Err(self.err(&format!("expected '{}'", c as char)))
            }
        }

        fn value(&mut self) -> Result<Value, String> {
            self.ws();
            match self.s.get(self.i) {
                Some(b'{') => {
                    self.i += 1;
                    let mut fields = Vec::new();
                    self.ws();
                    if self.s.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        return Ok(Value::Obj(fields));
                    }
                    loop {
                        self.ws();
                        let key = self.string()?;
                        self.eat(b':')?;
                        fields.push((key, self.value()?));
                        self.ws();
                        match self.s.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                return Ok(Value::Obj(fields));
                            }
                            _ => return Err(self.err("expected ',' or '}'")),
                        }
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    let mut items = Vec::new();
                    self.ws();
                    if self.s.get(self.i) == Some(&b']') {
                        self.i += 1;
                        return Ok(Value::Arr(items));
                    }
                    loop {
                        items.push(self.value()?);
                        self.ws();
                        match self.s.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                return Ok(Value::Arr(items));
                            }
                            _ => return Err(self.err("expected ',' or ']'")),
                        }
                    }
                }
                Some(b'"') => Ok(Value::Str(self.string()?)),
                Some(b't') => self.word("true", Value::Bool(true)),
                Some(b'f') => self.word("false", Value::Bool(false)),
                Some(b'n') => self.word("null", Value::Null),
                Some(_) => self.number(),
                None => Err(self.err("unexpected end")),
            }
        }

        fn word(&mut self, word: &str, value: Value) -> Result<Value, String> {
            if self.s[self.i..].starts_with(word.as_bytes()) {
                self.i += word.len();
                Ok(value)
            } else {
                Err(self.err("unknown word"))
            }
        }

        fn number(&mut self) -> Result<Value, String> {
            let start = self.i;
            while self.i < self.s.len()
                && matches!(
                    self.s[self.i],
                    b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'
                )
            {
                self.i += 1;
            }
            std::str::from_utf8(&self.s[start..self.i])
                .ok()
                .and_then(|n| n.parse().ok())
                .map(Value::Num)
                .ok_or_else(|| self.err("bad number"))
        }

        fn string(&mut self) -> Result<String, String> {
            if self.s.get(self.i) != Some(&b'"') {
                return Err(self.err("expected a string"));
            }
            self.i += 1;
            let mut out = Vec::new();
            loop {
                match self.s.get(self.i) {
                    None => return Err(self.err("unterminated string")),
                    Some(b'"') => {
                        self.i += 1;
                        return String::from_utf8(out).map_err(|_| self.err("bad UTF-8"));
                    }
                    Some(b'\\') => {
                        let escaped = self.s.get(self.i + 1).copied();
                        self.i += 2;
                        match escaped {
                            Some(b'n') => out.push(b'\n'),
                            Some(b't') => out.push(b'\t'),
                            Some(b'r') => out.push(b'\r'),
                            Some(b'b') => out.push(8),
                            Some(b'f') => out.push(12),
                            Some(b'u') => {
                                let hex = self
                                    .s
                                    .get(self.i..self.i + 4)
                                    .and_then(|h| std::str::from_utf8(h).ok())
                                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                                    .ok_or_else(|| self.err("bad \\u escape"))?;
                                self.i += 4;
                                let c = char::from_u32(hex).unwrap_or('\u{fffd}');
                                let mut buf = [0; 4];
                                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            }
                            Some(c) => out.push(c),
                            None => return Err(self.err("unterminated escape")),
                        }
                    }
                    Some(&c) => {
                        out.push(c);
                        self.i += 1;
                    }
                }
            }
        }
    }
}
