//! A web service whose handlers call blocking code through `thread-exec`,
//! then a load generator that measures it, under overload, against the same
//! routes on `tokio::task::spawn_blocking`.
//!
//! Part 1 is the template: one shared [`Executor`] in the router's state,
//! and a handler per kind of blocking work, each bridged with
//! `pool.try_run(job)?.await?`. That one line sheds load when the bounded
//! queue is full or the pool is overloaded (503 with `Retry-After`),
//! cancels the job when the client disconnects (axum drops the handler's
//! future, which drops the `TryRun`), and, with the pool's `queue_timeout`,
//! skips work that waited too long. A job that panics answers 500 without
//! the panic's message.
//!
//! Under a standing queue the pool's overload control (on by default)
//! sheds `try_run` jobs, CoDel-style, before they wait past their use:
//! so the natural setting, a deep queue whose `queue_timeout` is the
//! client's own timeout, needs no hand-tuning (part 2's phases 2b, 5b, B
//! and M check it against targets).
//!
//! Part 2 drives the service with a real HTTP client over loopback, in
//! phases, and prints a table. Server and client share one machine. Phase
//! 1 measures capacity (closed loop); the fixed-rate phase offers both
//! services the same steady 1,000 requests/s (half of capacity on a slower
//! machine) and compares the server's CPU time per request; the overload
//! phases offer, open loop, twice capacity (2, 2b, 2b' and spawn_blocking's
//! 3), five times capacity (5b, 5b', 5q), bursts of twice capacity (B) and
//! a mix of short and long requests at twice its capacity (M). The summary
//! checks the natural setting against targets.
//!
//! ```text
//! cargo run --example web_bridge                     # the phases, once (~1 min)
//! cargo run --release --example web_bridge -- --runs 5
//! cargo run --example web_bridge -- --serve --port 3000
//! curl -d 'hello' localhost:3000/hash; curl localhost:3000/file
//! ```

// ===========================================================================
// Part 1: the service
// ===========================================================================

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use thread_exec::{BuildError, Executor, JobError, OverloadControl};

/// How long the service's clients wait for an answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_millis(200);

/// The pool's queue bound: 64 jobs of ~1 ms on 2 threads drain in ~32 ms.
pub const QUEUE: usize = 64;

/// The pool's queue deadline: a job that waited this long is not started
/// (503). There is no need to take a margin off the client's timeout: under
/// a standing queue the pool's overload control sheds, before they run, the
/// jobs that would answer after their client left. The natural setting is
/// a deep queue with the client's own timeout (`pool(1024,
/// Some(CLIENT_TIMEOUT))`, phase 2b in part 2); this one, a shallow queue
/// and a little less, is phase 2's.
pub const QUEUE_TIMEOUT: Duration = Duration::from_millis(150);

/// The blocking pool: 2 threads, a bounded queue, a queue deadline, and
/// the default overload control (which sheds `try_run` jobs under a
/// standing queue: 503 with `Retry-After`).
pub fn service_pool() -> Result<Executor, BuildError> {
    pool(QUEUE, Some(QUEUE_TIMEOUT))
}

/// A pool of 2 threads with this queue bound and, if any, queue deadline.
pub fn pool(
    max_queue_size: usize,
    queue_timeout: Option<Duration>,
) -> Result<Executor, BuildError> {
    pool_with(max_queue_size, queue_timeout, OverloadControl::adaptive())
}

/// As [`pool`], with this overload control (part 2 measures the capacity
/// with it off).
pub fn pool_with(
    max_queue_size: usize,
    queue_timeout: Option<Duration>,
    control: OverloadControl,
) -> Result<Executor, BuildError> {
    let builder = Executor::builder()
        .threads(2)
        .max_queue_size(max_queue_size)
        .overload_control(control);
    match queue_timeout {
        Some(timeout) => builder.queue_timeout(timeout),
        None => builder,
    }
    .build()
}

/// The router's state: cheap to clone (every field is an `Arc` inside).
#[derive(Clone)]
pub struct App {
    pub pool: Executor,
    /// Rounds of the hash over the body (calibrated to about 1 ms of CPU).
    pub rounds: u32,
    /// The file `GET /file` reads.
    pub file: Arc<PathBuf>,
    /// Measurement for part 2 (see `Probe`); a real service leaves it out.
    pub probe: Probe,
}

pub fn router(app: App) -> Router {
    Router::new()
        .route("/hash", post(hash))
        .route("/file", get(file))
        .route("/long", get(long))
        .route("/panic", get(panics))
        .with_state(app)
}

/// CPU-heavy: the digest of the body. `JobError` is the response when the
/// pool sheds, expires or cancels the job, or the job panics.
///
/// (`probe.track` only counts, for part 2; without it, the closure goes to
/// `try_run` directly: `app.pool.try_run(move || digest(&body, rounds))?`.)
async fn hash(State(app): State<App>, body: Bytes) -> Result<String, JobError> {
    let rounds = app.rounds;
    let (_waiting, job) = app.probe.track(move || digest(&body, rounds));
    let digest = app.pool.try_run(job)?.await?;
    Ok(format!("{digest:016x}"))
}

/// Blocking I/O: a file read.
async fn file(State(app): State<App>) -> Result<Response, JobError> {
    let path = Arc::clone(&app.file);
    let (_waiting, job) = app.probe.track(move || std::fs::read(&*path));
    Ok(match app.pool.try_run(job)?.await? {
        Ok(bytes) => bytes.into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    })
}

/// A long job that stops early when its client has gone.
async fn long(State(app): State<App>) -> Result<String, JobError> {
    let (_waiting, job) = app.probe.track(long_job);
    app.pool.try_run(job)?.await
}

/// A bug in a blocking job: 500 "internal error", and the service lives on.
async fn panics(State(app): State<App>) -> Result<String, JobError> {
    let job = || -> String { panic!("a bug in a blocking job") };
    app.pool.try_run(job)?.await
}

/// FNV-1a (64 bit) over `data`, `rounds` times over, each round continuing
/// from the last: one round is the standard FNV-1a.
pub fn digest(data: &[u8], rounds: u32) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for _ in 0..rounds {
        for &byte in data {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// Steps of `GET /long`, 1 ms each.
pub const LONG_STEPS: u32 = 300;

/// A few hundred milliseconds of small steps; between steps it asks
/// [`thread_exec::is_cancelled`] whether anyone still waits.
pub fn long_job() -> String {
    for step in 0..LONG_STEPS {
        if thread_exec::is_cancelled() {
            return format!("stopped after {step} of {LONG_STEPS} steps");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    format!("done: {LONG_STEPS} steps")
}

/// Serves `router` on `listener` (with `TCP_NODELAY`) until the runtime ends.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router)
        .await
        .expect("axum::serve on a bound listener");
}

// ===========================================================================
// Part 2: the measurement (load generator, baseline, report)
// ===========================================================================
//
// Every phase gets a fresh server (its own runtime, pool and port); the
// client runs on a current-thread runtime on the main thread.
//
// 1   closed loop, 64 clients, fixed duration: req/s, p50, p99, for
//     thread-exec with overload control off (64 requests fit its queue:
//     it never sheds) and for the same routes on spawn_blocking.
//     Thread-exec's req/s is the capacity. A third row runs the loop on the
//     service pool as it is: 64 clients keep a standing queue of ~32 ms,
//     which the default overload control sheds (no target).
// F   fixed rate, open loop, 1,000 req/s (or half of capacity) on both:
//     the server's CPU time per request.
//
// The overload phases are open loop: requests sent on a schedule whatever
// the answers, each given up after the client's 200 ms timeout (which
// drops the request's future, hence its connection, hence the handler and
// its `TryRun`). Each reports goodput, the p50 and p99 latency of the
// answered requests, 503s, and, from the server, the jobs that started
// after their client had left (see `Probe`), shed, expired and cancelled.
// The natural setting is a deep queue (1,024) with queue_timeout = the
// client's timeout: overload control, not a hand-tuned deadline, keeps
// the work fresh.
//
// 2   2 x capacity, the service pool (queue 64, queue_timeout 150 ms).
// 2b  2 x capacity, the natural setting (1,024 / 200 ms).
// 2b' 2 x capacity, 1,024 / 100 ms: a hand-tuned deadline (no target).
// 3   2 x capacity on spawn_blocking: unbounded queue, no cancellation.
// 5b  5 x capacity, the natural setting.
// 5b' 5 x capacity, 1,024 / 100 ms.
// 5q  5 x capacity, queue 64 and no queue_timeout.
// B   bursts, the natural setting: 2 x capacity for the first 100 ms of
//     every second, 0.5 x capacity the rest of it.
// M   a mix, the natural setting: 90 % short requests (~0.2 ms of hashing)
//     and 10 % long ones (~10 ms), at 2 x the mix's capacity (capacity /
//     1.18, the mean cost in 1 KiB requests); the short ones are tallied
//     apart.
//
// Odd runs take the overload phases in this order, even runs in reverse.

use std::error::Error;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use axum::http::{header, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

type BoxError = Box<dyn Error + Send + Sync>;

/// Phase 1's clients, each with one request in flight.
const CLOSED_CLIENTS: usize = 64;

/// Counts the requests that reached a handler, the jobs that started, and
/// those that started after their client had gone (work nobody receives).
#[derive(Clone, Default)]
pub struct Probe(Arc<ProbeCounts>);

#[derive(Default)]
struct ProbeCounts {
    requests: AtomicU64,
    started: AtomicU64,
    departed: AtomicU64,
}

/// Held by the handler's future: dropped (and the flag cleared) when the
/// handler ends or is dropped because the client disconnected.
pub struct ClientWaiting(Arc<AtomicBool>);

impl Drop for ClientWaiting {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl Probe {
    /// Wraps `job` so that, when it starts, it counts itself and checks
    /// whether its client is still waiting.
    pub fn track<T>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> (ClientWaiting, impl FnOnce() -> T + Send + 'static) {
        self.0.requests.fetch_add(1, Ordering::Relaxed);
        let waiting = Arc::new(AtomicBool::new(true));
        let (probe, flag) = (self.clone(), Arc::clone(&waiting));
        let job = move || {
            probe.0.started.fetch_add(1, Ordering::Relaxed);
            if !flag.load(Ordering::SeqCst) {
                probe.0.departed.fetch_add(1, Ordering::Relaxed);
            }
            job()
        };
        (ClientWaiting(waiting), job)
    }

    pub fn requests(&self) -> u64 {
        self.0.requests.load(Ordering::Relaxed)
    }

    pub fn started(&self) -> u64 {
        self.0.started.load(Ordering::Relaxed)
    }

    pub fn departed(&self) -> u64 {
        self.0.departed.load(Ordering::Relaxed)
    }
}

/// The baseline's state: the same jobs, no pool (tokio's blocking threads).
#[derive(Clone)]
struct Baseline {
    rounds: u32,
    file: Arc<PathBuf>,
    probe: Probe,
}

/// The same routes on `spawn_blocking(f).await`, as services have them
/// today: tokio's blocking pool has an unbounded queue and cannot cancel.
fn baseline_router(state: Baseline) -> Router {
    async fn hash(State(s): State<Baseline>, body: Bytes) -> Result<String, StatusCode> {
        let rounds = s.rounds;
        let (_waiting, job) = s.probe.track(move || digest(&body, rounds));
        let digest = tokio::task::spawn_blocking(job).await.map_err(internal)?;
        Ok(format!("{digest:016x}"))
    }
    async fn file(State(s): State<Baseline>) -> Result<Vec<u8>, StatusCode> {
        let path = Arc::clone(&s.file);
        let (_waiting, job) = s.probe.track(move || std::fs::read(&*path));
        tokio::task::spawn_blocking(job)
            .await
            .map_err(internal)?
            .map_err(internal)
    }
    async fn long(State(s): State<Baseline>) -> Result<String, StatusCode> {
        let (_waiting, job) = s.probe.track(long_job);
        tokio::task::spawn_blocking(job).await.map_err(internal)
    }
    async fn panics() -> Result<String, StatusCode> {
        tokio::task::spawn_blocking(|| -> String { panic!("a bug in a blocking job") })
            .await
            .map_err(internal)
    }
    fn internal(_: impl std::fmt::Debug) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
    Router::new()
        .route("/hash", post(hash))
        .route("/file", get(file))
        .route("/long", get(long))
        .route("/panic", get(panics))
        .with_state(state)
}

#[derive(Clone, Copy, PartialEq)]
enum System {
    /// `thread-exec` with this queue bound, queue timeout (if any) and
    /// overload control.
    ThreadExec {
        queue: usize,
        timeout: Option<Duration>,
        control: OverloadControl,
    },
    SpawnBlocking,
}

/// The deep queue of phases 2b, 2b', 5b, 5b', B and M.
const DEEP_QUEUE: usize = 1024;

impl System {
    const SERVICE: System = System::ThreadExec {
        queue: QUEUE,
        timeout: Some(QUEUE_TIMEOUT),
        control: OverloadControl::adaptive(),
    };

    /// The natural setting: a deep queue, and the client's timeout as the
    /// queue's.
    const NATURAL: System = System::ThreadExec {
        queue: DEEP_QUEUE,
        timeout: Some(CLIENT_TIMEOUT),
        control: OverloadControl::adaptive(),
    };

    /// A hand-tuned deadline: half the client's timeout.
    const TUNED: System = System::ThreadExec {
        queue: DEEP_QUEUE,
        timeout: Some(Duration::from_millis(100)),
        control: OverloadControl::adaptive(),
    };

    /// A shallow queue and no deadline.
    const SHALLOW: System = System::ThreadExec {
        queue: QUEUE,
        timeout: None,
        control: OverloadControl::adaptive(),
    };

    /// The service pool with overload control off: phase 1 measures the
    /// capacity on it (a closed loop of 64 clients keeps a standing queue,
    /// which the default control sheds).
    const SERVICE_UNSHED: System = System::ThreadExec {
        queue: QUEUE,
        timeout: Some(QUEUE_TIMEOUT),
        control: OverloadControl::off(),
    };

    fn name(self) -> String {
        match self {
            System::ThreadExec {
                queue,
                timeout,
                control,
            } => {
                let timeout = timeout.map_or_else(
                    || "none".to_owned(),
                    |timeout| format!("{}ms", timeout.as_millis()),
                );
                let shedding = if control.is_enabled() {
                    ""
                } else {
                    ", no shed"
                };
                format!("thread-exec q{queue}/{timeout}{shedding}")
            }
            System::SpawnBlocking => "spawn_blocking".to_owned(),
        }
    }
}

/// A server on a fresh runtime of its own (2 workers) and loopback port.
struct Server {
    runtime: Runtime,
    addr: SocketAddr,
    probe: Probe,
    pool: Option<Executor>,
}

impl Server {
    fn start(
        system: System,
        rounds: u32,
        file: &Arc<PathBuf>,
        port: u16,
    ) -> Result<Server, BoxError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(2)
            .thread_name("server")
            .enable_all()
            .build()?;
        let probe = Probe::default();
        let file = Arc::clone(file);
        let (router, pool) = match system {
            System::ThreadExec {
                queue,
                timeout,
                control,
            } => {
                let pool = pool_with(queue, timeout, control)?;
                let app = App {
                    pool: pool.clone(),
                    rounds,
                    file,
                    probe: probe.clone(),
                };
                (router(app), Some(pool))
            }
            System::SpawnBlocking => {
                let state = Baseline {
                    rounds,
                    file,
                    probe: probe.clone(),
                };
                (baseline_router(state), None)
            }
        };
        let listener = runtime.block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))?;
        let addr = listener.local_addr()?;
        runtime.spawn(serve(listener, router));
        Ok(Server {
            runtime,
            addr,
            probe,
            pool,
        })
    }

    fn uri(&self, path: &str) -> Uri {
        format!("http://{}{path}", self.addr)
            .parse()
            .expect("a valid URI")
    }

    fn stats(&self) -> thread_exec::Stats {
        self.pool.as_ref().map(Executor::stats).unwrap_or_default()
    }

    /// Once the clients are done: lets the server notice the last
    /// disconnects (bounded), so that the counts are final.
    fn settle(&self) {
        let start = Instant::now();
        loop {
            let stats = self.stats();
            let (requests, started) = (self.probe.requests(), self.probe.started());
            std::thread::sleep(Duration::from_millis(20));
            let quiet = stats.queued + stats.running == 0
                && stats == self.stats()
                && requests == self.probe.requests()
                && started == self.probe.started();
            if quiet || start.elapsed() > Duration::from_secs(1) {
                return;
            }
        }
    }

    /// Ends the runtime (connections, handlers; tokio drops the blocking
    /// jobs that have not started), then the pool.
    fn stop(self) {
        self.runtime.shutdown_timeout(Duration::from_secs(2));
        if let Some(pool) = self.pool {
            drop(pool.shutdown_now());
            pool.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

type Client = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

fn client() -> Client {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector)
}

/// One request; its status, whether it said `Retry-After`, and its body.
async fn request(
    client: &Client,
    method: &str,
    uri: &Uri,
    body: &Bytes,
) -> Result<(StatusCode, bool, Bytes), BoxError> {
    let request = Request::builder()
        .method(method)
        .uri(uri.clone())
        .body(Full::new(body.clone()))?;
    let response = client.request(request).await?;
    let status = response.status();
    let retry_after = response.headers().contains_key(header::RETRY_AFTER);
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, retry_after, body))
}

/// Phase 1: `concurrency` clients, each sending its next request as soon as
/// the last one is answered. Counts what completes in the window after a
/// warm-up.
#[derive(Default)]
struct Closed {
    cpu: Cpu,
    tries: u32,
    ok: u64,
    shed: u64,
    errors: u64,
    latencies_us: Vec<u32>,
    secs: f64,
}

async fn closed_loop(uri: Uri, body: Bytes, concurrency: usize, duration: Duration) -> Closed {
    let warmup = Duration::from_millis(300);
    let client = client();
    let from = Instant::now() + warmup;
    let until = from + duration;
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let (client, uri, body) = (client.clone(), uri.clone(), body.clone());
        tasks.spawn(async move {
            let mut tally = Closed::default();
            while Instant::now() < until {
                let sent = Instant::now();
                let outcome = tokio::time::timeout(
                    Duration::from_secs(5),
                    request(&client, "POST", &uri, &body),
                )
                .await;
                let done = Instant::now();
                if done < from || done > until {
                    continue;
                }
                match outcome {
                    Ok(Ok((StatusCode::OK, _, _))) => {
                        tally.ok += 1;
                        let micros = done.duration_since(sent).as_micros();
                        tally
                            .latencies_us
                            .push(u32::try_from(micros).unwrap_or(u32::MAX));
                    }
                    Ok(Ok((StatusCode::SERVICE_UNAVAILABLE, _, _))) => tally.shed += 1,
                    _ => tally.errors += 1,
                }
            }
            tally
        });
    }
    let mut total = Closed {
        secs: duration.as_secs_f64(),
        ..Closed::default()
    };
    while let Some(tally) = tasks.join_next().await {
        let tally = tally.expect("a client task");
        total.ok += tally.ok;
        total.shed += tally.shed;
        total.errors += tally.errors;
        total.latencies_us.extend(tally.latencies_us);
    }
    total.latencies_us.sort_unstable();
    total
}

impl Closed {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.secs
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        percentile_ms(&self.latencies_us, p)
    }
}

/// The `p` quantile of sorted latencies in microseconds, in ms (NaN for
/// none).
fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    let n = sorted_us.len();
    if n == 0 {
        return f64::NAN;
    }
    let index = ((n - 1) as f64 * p).round() as usize;
    f64::from(sorted_us[index]) / 1000.0
}

/// The bodies of `POST /hash`. The hash's cost is proportional to the
/// body's length: the 1 KiB body is calibrated to ~1 ms.
struct Bodies {
    /// 1 KiB, ~1 ms: every request but the mixed phase's.
    kib: Bytes,
    /// ~0.2 ms: 9 in 10 of the mixed phase's requests.
    short: Bytes,
    /// ~10 ms: 1 in 10 of the mixed phase's requests.
    long: Bytes,
}

/// The mixed phase's bodies, and which share of its requests is long.
const SHORT_BODY: usize = 205;
const LONG_BODY: usize = 10 * 1024;
const LONG_EVERY: u64 = 10;

/// The mixed phase's mean cost in 1 KiB requests: 0.9 x 0.2 + 0.1 x 10.
const MIX_COST: f64 = 0.9 * (SHORT_BODY as f64 / 1024.0) + 0.1 * (LONG_BODY as f64 / 1024.0);

impl Bodies {
    fn new() -> Bodies {
        let bytes = |len: usize| -> Bytes {
            (0..len as u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
                .collect::<Vec<u8>>()
                .into()
        };
        Bodies {
            kib: bytes(1024),
            short: bytes(SHORT_BODY),
            long: bytes(LONG_BODY),
        }
    }

    /// The body of request number `n` of a phase offering `mix`, and
    /// whether it is a short one of a mix.
    fn body(&self, mix: Mix, n: u64) -> (&Bytes, bool) {
        match mix {
            Mix::Uniform => (&self.kib, false),
            Mix::ShortLong if n % LONG_EVERY == LONG_EVERY - 1 => (&self.long, false),
            Mix::ShortLong => (&self.short, true),
        }
    }
}

/// What an open loop offers: a rate over time, as a multiple of a base
/// rate (the capacity for the bodies offered), and the bodies.
#[derive(Clone, Copy)]
struct Load {
    shape: Shape,
    mix: Mix,
}

#[derive(Clone, Copy)]
enum Shape {
    /// This multiple of the base rate throughout.
    Steady(f64),
    /// `high` x the base rate for the first `BURST_ON` of every
    /// `BURST_PERIOD`, `low` x the rest of it.
    Burst { high: f64, low: f64 },
}

const BURST_ON: Duration = Duration::from_millis(100);
const BURST_PERIOD: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, PartialEq)]
enum Mix {
    /// Every request carries the 1 KiB body (~1 ms).
    Uniform,
    /// 9 in 10 requests carry the short body (~0.2 ms), 1 in 10 the long
    /// one (~10 ms).
    ShortLong,
}

impl Load {
    const fn steady(multiple: f64) -> Load {
        Load {
            shape: Shape::Steady(multiple),
            mix: Mix::Uniform,
        }
    }

    const BURST: Load = Load {
        shape: Shape::Burst {
            high: 2.0,
            low: 0.5,
        },
        mix: Mix::Uniform,
    };

    const MIXED: Load = Load {
        shape: Shape::Steady(2.0),
        mix: Mix::ShortLong,
    };

    /// The requests due `t` seconds into the phase at `base` req/s: the
    /// integral of the rate.
    fn due(&self, base: f64, t: f64) -> f64 {
        match self.shape {
            Shape::Steady(multiple) => multiple * base * t,
            Shape::Burst { high, low } => {
                let (on, period) = (BURST_ON.as_secs_f64(), BURST_PERIOD.as_secs_f64());
                let periods = (t / period).floor();
                let within = t - periods * period;
                let per_period = high * on + low * (period - on);
                base * (periods * per_period + high * within.min(on) + low * (within - on).max(0.0))
            }
        }
    }

    /// The mean cost of a request in 1 KiB requests: capacity over it is
    /// the capacity for this load's bodies.
    fn cost(&self) -> f64 {
        match self.mix {
            Mix::Uniform => 1.0,
            Mix::ShortLong => MIX_COST,
        }
    }

    /// The rate offered, as a multiple of the capacity for its bodies.
    fn label(&self) -> String {
        match self.shape {
            Shape::Steady(multiple) => format!("{multiple}x"),
            Shape::Burst { high, low } => format!("{high}x/{low}x"),
        }
    }
}

/// The overload phases and fixed-rate phase: requests sent on a schedule
/// whatever the answers (open loop), each given up after `CLIENT_TIMEOUT`:
/// the timeout drops the request's future, which closes its connection.
#[derive(Default)]
struct Open {
    sent: u64,
    /// 200s received within the client's timeout.
    good: u64,
    shed_full: u64,
    shed_other: u64,
    timed_out: u64,
    errors: u64,
    /// Of `sent` and `good`, the short requests of a mix.
    short_sent: u64,
    short_good: u64,
    /// The latency of each good answer (from when the client meant to
    /// send), microseconds, sorted once the phase ends.
    latencies_us: Vec<u32>,
    secs: f64,
}

enum Outcome {
    /// Answered 200 in time, after this many microseconds.
    Good(u32),
    ShedFull,
    ShedOther,
    TimedOut,
    Error,
}

impl Open {
    fn count(&mut self, (outcome, short): (Outcome, bool)) {
        match outcome {
            Outcome::Good(micros) => {
                self.good += 1;
                self.short_good += u64::from(short);
                self.latencies_us.push(micros);
            }
            Outcome::ShedFull => self.shed_full += 1,
            Outcome::ShedOther => self.shed_other += 1,
            Outcome::TimedOut => self.timed_out += 1,
            Outcome::Error => self.errors += 1,
        }
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        percentile_ms(&self.latencies_us, p)
    }
}

/// Offers `load` at `base` req/s (the capacity for its bodies, or the
/// fixed rate) to `POST uri` for `duration`.
async fn open_loop(uri: Uri, bodies: &Bodies, base: f64, load: Load, duration: Duration) -> Open {
    let client = client();
    let mut tasks = JoinSet::new();
    let mut tally = Open {
        secs: duration.as_secs_f64(),
        ..Open::default()
    };
    let start = Instant::now();
    loop {
        let elapsed = start.elapsed();
        if elapsed >= duration {
            break;
        }
        let due = load.due(base, elapsed.as_secs_f64()) as u64;
        while tally.sent < due {
            let (body, short) = bodies.body(load.mix, tally.sent);
            let (client, uri, body) = (client.clone(), uri.clone(), body.clone());
            // The client's clock starts now, when it means to send.
            let sent = tokio::time::Instant::now();
            let deadline = sent + CLIENT_TIMEOUT;
            tasks.spawn(async move {
                let outcome =
                    tokio::time::timeout_at(deadline, request(&client, "POST", &uri, &body)).await;
                let answered = tokio::time::Instant::now();
                let outcome = match outcome {
                    // Answered, but later than the timeout (the client's
                    // thread ran late): not good, as if timed out.
                    Ok(_) if answered > deadline => Outcome::TimedOut,
                    Ok(Ok((StatusCode::OK, _, _))) => {
                        let micros = answered.duration_since(sent).as_micros();
                        Outcome::Good(u32::try_from(micros).unwrap_or(u32::MAX))
                    }
                    Ok(Ok((StatusCode::SERVICE_UNAVAILABLE, true, _))) => Outcome::ShedFull,
                    Ok(Ok((StatusCode::SERVICE_UNAVAILABLE, false, _))) => Outcome::ShedOther,
                    Ok(_) => Outcome::Error,
                    Err(_) => Outcome::TimedOut,
                };
                (outcome, short)
            });
            tally.sent += 1;
            tally.short_sent += u64::from(short);
        }
        while let Some(outcome) = tasks.try_join_next() {
            tally.count(outcome.expect("a client task"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Every task ends within CLIENT_TIMEOUT of being sent.
    while let Some(outcome) = tasks.join_next().await {
        tally.count(outcome.expect("a client task"));
    }
    tally.latencies_us.sort_unstable();
    tally
}

/// The overload phases, in the order odd runs take them (see part 2's
/// list): name, system, load offered.
const OVERLOADS: [(&str, System, Load); 9] = [
    ("2", System::SERVICE, Load::steady(2.0)),
    ("2b", System::NATURAL, Load::steady(2.0)),
    ("2b'", System::TUNED, Load::steady(2.0)),
    ("3", System::SpawnBlocking, Load::steady(2.0)),
    ("5b", System::NATURAL, Load::steady(5.0)),
    ("5b'", System::TUNED, Load::steady(5.0)),
    ("5q", System::SHALLOW, Load::steady(5.0)),
    ("B", System::NATURAL, Load::BURST),
    ("M", System::NATURAL, Load::MIXED),
];

/// One overload phase's figures: the client's and the server's.
struct Overload {
    phase: &'static str,
    cpu: Cpu,
    tries: u32,
    system: System,
    load: Load,
    client: Open,
    /// Requests that reached a handler.
    requests: u64,
    /// Jobs that started, and those whose client had gone when they did.
    ran: u64,
    departed: u64,
    stats: thread_exec::Stats,
}

impl Overload {
    fn goodput(&self) -> f64 {
        self.client.good as f64 / self.client.secs
    }

    /// Goodput as a share of the capacity for this phase's bodies (of
    /// `capacity / MIX_COST` for the mix).
    fn of_capacity(&self, capacity: f64) -> f64 {
        self.goodput() * self.load.cost() / capacity
    }

    /// The mix's short requests' goodput as a share of their share of
    /// capacity: 0.9 x capacity / `MIX_COST`.
    fn short_of_share(&self, capacity: f64) -> f64 {
        let share = (1.0 - 1.0 / LONG_EVERY as f64) * capacity / MIX_COST;
        self.client.short_good as f64 / self.client.secs / share
    }

    /// The share of the requests sent that were answered 200 in time.
    fn answered_share(&self) -> f64 {
        self.client.good as f64 / self.client.sent.max(1) as f64
    }

    /// The share of the requests sent that reached a handler: below ~95 %,
    /// the HTTP layer (client or server runtime), not the pool, was the
    /// bottleneck, and nothing sheds load there.
    fn handled_share(&self) -> f64 {
        self.requests as f64 / self.client.sent.max(1) as f64
    }

    fn departed_share(&self) -> f64 {
        if self.ran == 0 {
            0.0
        } else {
            self.departed as f64 / self.ran as f64
        }
    }
}

/// The fixed-rate phase: both services at the same request rate, below
/// capacity, the steady load of a service that is not overloaded. What it
/// compares is the server's CPU time per request.
const FIXED_RATE: f64 = 1000.0;

/// One system's fixed-rate phase.
struct Fixed {
    cpu: Cpu,
    tries: u32,
    client: Open,
}

impl Fixed {
    /// Server CPU time per request answered, in ms.
    fn server_ms_per_request(&self) -> f64 {
        let seconds = self.cpu.server.unwrap_or(f64::NAN) * self.client.secs;
        1e3 * seconds / self.client.good.max(1) as f64
    }
}

impl Measured for Fixed {
    fn cpu(&self) -> Cpu {
        self.cpu
    }
    fn set_tries(&mut self, tries: u32) {
        self.tries = tries;
    }
}

struct Run {
    /// The capacity: thread-exec with overload control off.
    phase1_te: Closed,
    /// The same with the default overload control (no target).
    phase1_shed: Closed,
    phase1_sb: Closed,
    fixed_te: Fixed,
    fixed_sb: Fixed,
    overloads: Vec<Overload>,
}

impl Run {
    fn capacity(&self) -> f64 {
        self.phase1_te.rate()
    }

    fn ratio_phase1(&self) -> f64 {
        self.phase1_te.rate() / self.phase1_sb.rate()
    }

    /// The fixed-rate rate: `FIXED_RATE`, or half of capacity on a machine
    /// too slow for it.
    fn fixed_rate(&self) -> f64 {
        FIXED_RATE.min(self.capacity() / 2.0)
    }

    fn ratio_fixed_cpu(&self) -> f64 {
        self.fixed_te.server_ms_per_request() / self.fixed_sb.server_ms_per_request()
    }

    fn overload(&self, phase: &str) -> &Overload {
        self.overloads
            .iter()
            .find(|o| o.phase == phase)
            .expect("every phase ran")
    }
}

/// What else ran on the machine during a phase, and how busy the client's
/// thread was (Linux: `/proc`; clock ticks are 1/100 s there).
struct Meter {
    start: Instant,
    ticks: Option<Ticks>,
}

/// Busy clock ticks of the machine, of this process, and of this thread
/// (the client's: its runtime runs on the thread that measures).
#[derive(Clone, Copy)]
struct Ticks {
    machine: u64,
    process: u64,
    thread: u64,
}

/// A phase's CPU figures.
#[derive(Clone, Copy, Default)]
struct Cpu {
    /// Other processes' CPU time, as a share of all cores.
    outside: Option<f64>,
    /// The client thread's CPU time, as a share of one core.
    client: Option<f64>,
    /// The server's CPU time (the process's but the client thread's: the
    /// server's runtime and its blocking threads), as a share of one core.
    server: Option<f64>,
}

impl Meter {
    fn start() -> Meter {
        Meter {
            start: Instant::now(),
            ticks: Ticks::now(),
        }
    }

    fn finish(&self) -> Cpu {
        let (Some(before), Some(after)) = (self.ticks, Ticks::now()) else {
            return Cpu::default();
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let ticks = self.start.elapsed().as_secs_f64() * 100.0;
        let delta = |a: u64, b: u64| b.saturating_sub(a) as f64;
        let others = delta(before.machine, after.machine) - delta(before.process, after.process);
        let client = delta(before.thread, after.thread);
        Cpu {
            outside: Some((others / (ticks * cores)).clamp(0.0, 1.0)),
            client: Some(client / ticks),
            server: Some((delta(before.process, after.process) - client).max(0.0) / ticks),
        }
    }
}

impl Ticks {
    fn now() -> Option<Ticks> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .take(8) // user nice system idle iowait irq softirq steal
            .map(|field| field.parse().ok())
            .collect::<Option<_>>()?;
        // Interrupt time (fields 6 and 7) is left out: loopback traffic is ours.
        let machine = cpu[0] + cpu[1] + cpu[2] + cpu[7];
        Some(Ticks {
            machine,
            process: own_ticks("/proc/self/stat")?,
            thread: own_ticks("/proc/thread-self/stat")?,
        })
    }
}

/// utime + stime of a `/proc/.../stat` file: its fields 14 and 15, 12 and
/// 13 after the command name.
fn own_ticks(path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(path).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "-".to_owned(), |share| format!("{:.0}%", 100.0 * share))
}

/// Other processes' CPU above which a phase's figures count as disturbed.
const DISTURBED: f64 = 0.10;

/// A phase's result that knows its CPU figures and how often it was tried.
trait Measured {
    fn cpu(&self) -> Cpu;
    fn set_tries(&mut self, tries: u32);
}

impl Measured for Closed {
    fn cpu(&self) -> Cpu {
        self.cpu
    }
    fn set_tries(&mut self, tries: u32) {
        self.tries = tries;
    }
}

impl Measured for Overload {
    fn cpu(&self) -> Cpu {
        self.cpu
    }
    fn set_tries(&mut self, tries: u32) {
        self.tries = tries;
    }
}

/// Runs `phase`, and again (at most 3 tries, and while `retries` lasts) as
/// long as other processes took more than `DISTURBED` of the machine.
fn disturbed_again<T: Measured>(
    retries: &mut usize,
    mut phase: impl FnMut() -> Result<T, BoxError>,
) -> Result<T, BoxError> {
    let mut tries = 1;
    loop {
        let mut result = phase()?;
        let disturbed = result.cpu().outside.is_some_and(|share| share > DISTURBED);
        if !disturbed || tries == 3 || *retries == 0 {
            result.set_tries(tries);
            return Ok(result);
        }
        *retries -= 1;
        tries += 1;
    }
}

struct Settings {
    runs: usize,
    secs: f64,
    serve: bool,
    port: u16,
}

fn settings() -> Result<Settings, BoxError> {
    let mut settings = Settings {
        runs: 1,
        secs: 3.0,
        serve: false,
        port: 3000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--serve" => settings.serve = true,
            "--port" => settings.port = value()?.parse()?,
            "--runs" => settings.runs = value()?.parse::<usize>()?.max(1),
            "--secs" => settings.secs = value()?.parse()?,
            other => {
                return Err(format!(
                    "unknown argument {other}; use --serve [--port N], --runs N, --secs S"
                )
                .into())
            }
        }
    }
    Ok(settings)
}

/// Rounds of [`digest`] over `body` that take about 1 ms of a pool thread
/// while the other one works too, as in the service; and that time. A first
/// guess on this thread, two corrections from 200 jobs on 2 threads, then a
/// last measurement.
fn calibrate(body: &Bytes) -> Result<(u32, Duration), BoxError> {
    let mut rounds = 1_u32;
    let per_round = loop {
        let start = Instant::now();
        std::hint::black_box(digest(std::hint::black_box(body), rounds));
        let elapsed = start.elapsed();
        if elapsed >= Duration::from_millis(20) {
            break elapsed / rounds;
        }
        rounds *= 2;
    };
    rounds = (1_000_000 / per_round.as_nanos().max(1)).clamp(1, 1 << 24) as u32;
    let pool = Executor::new(2);
    let jobs = 200_u32;
    let mut per_job = Duration::ZERO;
    for pass in 0..3 {
        let start = Instant::now();
        let handles: Vec<_> = (0..jobs)
            .map(|_| {
                let body = body.clone();
                pool.spawn(move || {
                    std::hint::black_box(digest(std::hint::black_box(&body), rounds))
                })
            })
            .collect();
        for handle in handles {
            handle.join()?;
        }
        per_job = start.elapsed() * 2 / jobs;
        if pass < 2 {
            let scale = 1e-3 / per_job.as_secs_f64();
            rounds = (f64::from(rounds) * scale)
                .round()
                .clamp(1.0, f64::from(1 << 24)) as u32;
        }
    }
    pool.shutdown();
    Ok((rounds, per_job))
}

/// Prints a caught panic on a pool worker (`thread-exec-N`) as one line;
/// every other panic keeps the default hook.
fn print_pool_panics_on_one_line() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| match std::thread::current().name() {
        Some(name) if name.starts_with("thread-exec-") => {
            let message = info.payload_as_str().unwrap_or("<non-string payload>");
            eprintln!("  [{name}] a job panicked: {message} (caught by the pool)");
        }
        _ => default_hook(info),
    }));
}

fn main() -> Result<(), BoxError> {
    let settings = settings()?;
    print_pool_panics_on_one_line();
    let file = Arc::new(
        std::env::temp_dir().join(format!("thread-exec-web-bridge-{}.txt", std::process::id())),
    );
    std::fs::write(&*file, "hello from a blocking read\n")?;
    let result = if settings.serve {
        serve_forever(&settings, &file)
    } else {
        measure(&settings, &file)
    };
    let _ = std::fs::remove_file(&*file);
    result
}

/// `--serve`: the service on 127.0.0.1:port until Ctrl-C.
fn serve_forever(settings: &Settings, file: &Arc<PathBuf>) -> Result<(), BoxError> {
    let body = Bytes::from(vec![7_u8; 1024]);
    let (rounds, per_job) = calibrate(&body)?;
    let server = Server::start(System::SERVICE, rounds, file, settings.port)?;
    println!(
        "serving on http://{} ({rounds} hash rounds: ~{:.2} ms per KiB of body); Ctrl-C stops",
        server.addr,
        per_job.as_secs_f64() * 1e3
    );
    println!(
        "  curl -d hello {0}/hash; curl {0}/file; curl {0}/long; curl {0}/panic",
        server.addr
    );
    loop {
        std::thread::park();
    }
}

fn measure(settings: &Settings, file: &Arc<PathBuf>) -> Result<(), BoxError> {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "web_bridge: server and client on this one machine ({cores} cores), over loopback; {profile} build"
    );
    println!(
        "  each server: a fresh tokio runtime (2 workers) + 2 blocking threads (the pool, or max_blocking_threads = 2)"
    );
    println!(
        "  the client: its own current-thread runtime, hyper-util's legacy client, TCP_NODELAY"
    );
    if cfg!(debug_assertions) {
        println!(
            "  a debug build: hyper, axum and tokio unoptimized cost far more per request, next to the ~1 ms job, than they"
        );
        println!(
            "  do in a service; judge the targets on `cargo run --release --example web_bridge -- --runs 5`"
        );
    }

    // A 1 KiB body for every request but the mixed phase's.
    let bodies = Bodies::new();
    let body = bodies.kib.clone();
    let (rounds, per_job) = calibrate(&body)?;
    println!(
        "calibration: {rounds} rounds of FNV-1a over the 1 KiB body take {:.3} ms of a pool thread \
         (200 jobs on 2 threads; target ~1 ms)",
        per_job.as_secs_f64() * 1e3
    );

    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    smoke(&client_rt, rounds, file, &body)?;

    let duration = Duration::from_secs_f64(settings.secs);
    let mut runs = Vec::new();
    // Phases that other processes disturbed are measured again, within a
    // budget that keeps the whole bounded.
    let mut retries = 3 * settings.runs;
    for run in 1..=settings.runs {
        // Odd runs measure thread-exec first, even runs spawn_blocking first.
        let te_first = run % 2 == 1;
        let phase1 = |system: System, retries: &mut usize| {
            disturbed_again(retries, || {
                let server = Server::start(system, rounds, file, 0)?;
                let uri = server.uri("/hash");
                let meter = Meter::start();
                let mut tally =
                    client_rt.block_on(closed_loop(uri, body.clone(), CLOSED_CLIENTS, duration));
                tally.cpu = meter.finish();
                server.stop();
                Ok(tally)
            })
        };
        // The capacity: the service pool with overload control off. Then,
        // for the record, the same closed loop on the service pool as it is
        // (the default overload control sheds its standing queue).
        let (phase1_te, phase1_shed, phase1_sb) = if te_first {
            let te = phase1(System::SERVICE_UNSHED, &mut retries)?;
            let shed = phase1(System::SERVICE, &mut retries)?;
            (te, shed, phase1(System::SpawnBlocking, &mut retries)?)
        } else {
            let sb = phase1(System::SpawnBlocking, &mut retries)?;
            let shed = phase1(System::SERVICE, &mut retries)?;
            (phase1(System::SERVICE_UNSHED, &mut retries)?, shed, sb)
        };
        let capacity = phase1_te.rate();
        let fixed_rate = FIXED_RATE.min(capacity / 2.0);
        let fixed = |system: System, retries: &mut usize| {
            disturbed_again(retries, || {
                let server = Server::start(system, rounds, file, 0)?;
                let uri = server.uri("/hash");
                let meter = Meter::start();
                let client = client_rt.block_on(open_loop(
                    uri,
                    &bodies,
                    fixed_rate,
                    Load::steady(1.0),
                    duration,
                ));
                let cpu = meter.finish();
                server.stop();
                Ok(Fixed {
                    cpu,
                    tries: 1,
                    client,
                })
            })
        };
        let (fixed_te, fixed_sb) = if te_first {
            let te = fixed(System::SERVICE, &mut retries)?;
            (te, fixed(System::SpawnBlocking, &mut retries)?)
        } else {
            let sb = fixed(System::SpawnBlocking, &mut retries)?;
            (fixed(System::SERVICE, &mut retries)?, sb)
        };
        // Odd runs take the overload phases in order, even runs in reverse.
        let mut phases: Vec<usize> = (0..OVERLOADS.len()).collect();
        if !te_first {
            phases.reverse();
        }
        let mut overloads = Vec::new();
        for index in phases {
            let (phase, system, load) = OVERLOADS[index];
            let overload = disturbed_again(&mut retries, || {
                let server = Server::start(system, rounds, file, 0)?;
                let uri = server.uri("/hash");
                let meter = Meter::start();
                let base = capacity / load.cost();
                let client = client_rt.block_on(open_loop(uri, &bodies, base, load, duration));
                let cpu = meter.finish();
                server.settle();
                let overload = Overload {
                    phase,
                    cpu,
                    tries: 1,
                    system,
                    load,
                    client,
                    requests: server.probe.requests(),
                    ran: server.probe.started(),
                    departed: server.probe.departed(),
                    stats: server.stats(),
                };
                server.stop();
                Ok(overload)
            })?;
            overloads.push((index, overload));
        }
        overloads.sort_by_key(|(index, _)| *index);
        let overloads = overloads.into_iter().map(|(_, o)| o).collect();
        let run_number = run;
        let run = Run {
            phase1_te,
            phase1_shed,
            phase1_sb,
            fixed_te,
            fixed_sb,
            overloads,
        };
        print_run(&format!("run {run_number}"), &run);
        runs.push(run);
    }
    print_summary(&runs);
    Ok(())
}

/// Before the phases: each route once, on the `thread-exec` service.
fn smoke(
    client_rt: &Runtime,
    rounds: u32,
    file: &Arc<PathBuf>,
    body: &Bytes,
) -> Result<(), BoxError> {
    let server = Server::start(System::SERVICE, rounds, file, 0)?;
    let pool = server.pool.clone().expect("a thread-exec server");
    println!(
        "routes, once each (thread-exec service: 2 threads, queue {QUEUE}, queue_timeout {} ms):",
        QUEUE_TIMEOUT.as_millis()
    );
    client_rt.block_on(async {
        let client = client();
        let none = Bytes::new();
        let (status, _, got) = request(&client, "POST", &server.uri("/hash"), body).await?;
        let expected = format!("{:016x}", digest(body, rounds));
        println!(
            "  POST /hash  -> {status} {:?} (a local digest: {})",
            String::from_utf8_lossy(&got),
            if got == expected.as_bytes() {
                "same"
            } else {
                "DIFFERENT"
            }
        );
        let (status, _, got) = request(&client, "GET", &server.uri("/file"), &none).await?;
        println!(
            "  GET  /file  -> {status} {:?} ({})",
            String::from_utf8_lossy(&got),
            if got == std::fs::read(&**file)? {
                "the file's bytes"
            } else {
                "NOT the file"
            }
        );
        let (status, _, got) = request(&client, "GET", &server.uri("/panic"), &none).await?;
        println!(
            "  GET  /panic -> {status} {:?}",
            String::from_utf8_lossy(&got)
        );
        let leave_after = Duration::from_millis(50);
        let gone = tokio::time::timeout(
            leave_after,
            request(&client, "GET", &server.uri("/long"), &none),
        )
        .await
        .is_err();
        let left = Instant::now();
        while pool.stats().running > 0 && left.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        println!(
            "  GET  /long  -> client left after {} ms ({}); the {} ms job stopped {:.1} ms later",
            leave_after.as_millis(),
            if gone { "timed out" } else { "ANSWERED" },
            LONG_STEPS,
            left.elapsed().as_secs_f64() * 1e3
        );
        let (status, _, _) = request(&client, "GET", &server.uri("/file"), &none).await?;
        println!("  GET  /file  -> {status} (still serving after the panic and the cancel)");
        Ok::<(), BoxError>(())
    })?;
    let stats = pool.stats();
    println!(
        "  pool: completed {}, panicked {}, cancelled {}, expired {}, rejected {}",
        stats.completed, stats.panicked, stats.cancelled, stats.expired, stats.rejected
    );
    server.stop();
    Ok(())
}

fn print_run(label: &str, run: &Run) {
    println!();
    println!(
        "{label}: phase 1, closed loop, {CLOSED_CLIENTS} clients, POST /hash (1 KiB, ~1 ms of CPU)"
    );
    println!(
        "  {:<30} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6} {:>6} {:>5}",
        "system", "req/s", "p50 ms", "p99 ms", "503s", "errors", "client", "others", "tries"
    );
    for (system, tally) in [
        (System::SERVICE_UNSHED, &run.phase1_te),
        (System::SpawnBlocking, &run.phase1_sb),
        (System::SERVICE, &run.phase1_shed),
    ] {
        println!(
            "  {:<30} {:>8.0} {:>8.1} {:>8.1} {:>6} {:>6} {:>6} {:>6} {:>5}",
            system.name(),
            tally.rate(),
            tally.percentile_ms(0.50),
            tally.percentile_ms(0.99),
            tally.shed,
            tally.errors,
            percent(tally.cpu.client),
            percent(tally.cpu.outside),
            tally.tries
        );
    }
    println!(
        "  req/s ratio thread-exec (no shed) / spawn_blocking: {:.3}; the first row is the capacity. The last: a closed loop",
        run.ratio_phase1()
    );
    println!(
        "  keeps a standing queue ({CLOSED_CLIENTS} jobs for 2 threads), which the default overload control sheds; each 503 is sent again at once"
    );
    println!(
        "{label}: fixed rate, open loop at {:.0} req/s (below capacity), server CPU per request",
        run.fixed_rate()
    );
    println!(
        "  {:<30} {:>8} {:>8} {:>10} {:>8} {:>6} {:>6} {:>5}",
        "system", "good/s", "timedout", "server CPU", "ms/req", "client", "others", "tries"
    );
    for (system, fixed) in [
        (System::SERVICE, &run.fixed_te),
        (System::SpawnBlocking, &run.fixed_sb),
    ] {
        println!(
            "  {:<30} {:>8.0} {:>8} {:>10} {:>8.3} {:>6} {:>6} {:>5}",
            system.name(),
            fixed.client.good as f64 / fixed.client.secs,
            fixed.client.timed_out,
            percent(fixed.cpu.server),
            fixed.server_ms_per_request(),
            percent(fixed.cpu.client),
            percent(fixed.cpu.outside),
            fixed.tries
        );
    }
    println!(
        "  server CPU per request, thread-exec / spawn_blocking: {:.3}",
        run.ratio_fixed_cpu()
    );
    let capacity = run.capacity();
    println!(
        "{label}: overload, open loop, client timeout {} ms; offered: a multiple of capacity ({capacity:.0} req/s; for M, of the",
        CLIENT_TIMEOUT.as_millis()
    );
    println!(
        "  mix's capacity, {:.0} req/s = capacity / {MIX_COST:.2}); B: {} ms of every {} ms at the first multiple, the rest at the second",
        capacity / MIX_COST,
        BURST_ON.as_millis(),
        BURST_PERIOD.as_millis()
    );
    println!(
        "  {:<5} {:<30} {:>7} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>6} {:>13} {:>6} {:>6} {:>7} {:>6} {:>6} {:>6} {:>5}",
        "phase",
        "system",
        "offered",
        "sent/s",
        "handled",
        "goodput",
        "of cap",
        "p50 ms",
        "p99 ms",
        "503s",
        "of it",
        "timedout",
        "ran",
        "departed",
        "wasted",
        "shed",
        "expired",
        "cancel",
        "client",
        "others",
        "tries"
    );
    for o in &run.overloads {
        let c = &o.client;
        let te = matches!(o.system, System::ThreadExec { .. });
        let pool_figure = |n: u64| if te { n.to_string() } else { "-".to_owned() };
        println!(
            "  {:<5} {:<30} {:>7} {:>7.0} {:>6.1}% {:>7.0} {:>5.1}% {:>6.1} {:>6.1} {:>6} {:>6} {:>8} {:>6} {:>6} {:>5.1}% {:>6} {:>6} {:>7} {:>6} {:>6} {:>6} {:>5}",
            o.phase,
            o.system.name(),
            o.load.label(),
            c.sent as f64 / c.secs,
            100.0 * o.handled_share(),
            o.goodput(),
            100.0 * o.of_capacity(capacity),
            c.percentile_ms(0.50),
            c.percentile_ms(0.99),
            c.shed_full + c.shed_other,
            c.shed_other,
            c.timed_out,
            o.ran,
            o.departed,
            100.0 * o.departed_share(),
            o.ran.saturating_sub(c.good),
            pool_figure(o.stats.shed.total()),
            pool_figure(o.stats.expired),
            pool_figure(o.stats.cancelled),
            percent(o.cpu.client),
            percent(o.cpu.outside),
            o.tries
        );
    }
    println!(
        "  handled: requests that reached a handler (below ~95 %: HTTP-bound, the requests timed out before the pool saw them)."
    );
    println!(
        "  goodput: 200s received within {} ms, per second; of cap: of the capacity for the phase's bodies. p50, p99: latency",
        CLIENT_TIMEOUT.as_millis()
    );
    println!(
        "  of those 200s. 503s: \"of it\" without Retry-After (expired). departed: jobs that started after their handler had"
    );
    println!(
        "  been dropped. wasted: jobs run whose 200 no client received in time. shed: the pool's Stats::shed.total(), at"
    );
    println!("  submit (a 503 at once) and from the queue under a standing queue.");
    println!(
        "  client (both tables): the client thread's CPU, of one core (near 100 %: the load generator, not the server,"
    );
    println!(
        "  limits the phase). others: the CPU other processes on this machine used during the phase, of all cores;"
    );
    println!(
        "  above 10 % the phase is measured again (tries), at most 3 times and 3 retries per run in all."
    );
    let b = run.overload("B");
    println!(
        "  B: {} of {} requests sent answered 200 within {} ms ({:.1} %)",
        b.client.good,
        b.client.sent,
        CLIENT_TIMEOUT.as_millis(),
        100.0 * b.answered_share()
    );
    let m = run.overload("M");
    println!(
        "  M: short requests: {} sent, {} answered 200 in time: {:.0}/s, {:.1} % of their share of capacity (0.9 x {capacity:.0} / {MIX_COST:.2} = {:.0}/s);",
        m.client.short_sent,
        m.client.short_good,
        m.client.short_good as f64 / m.client.secs,
        100.0 * m.short_of_share(capacity),
        0.9 * capacity / MIX_COST
    );
    println!(
        "     long requests: {} sent, {} answered",
        m.client.sent - m.client.short_sent,
        m.client.good - m.client.short_good
    );
    for o in run
        .overloads
        .iter()
        .filter(|o| o.system != System::SpawnBlocking)
    {
        let (c, s) = (&o.client, &o.stats);
        // Every request that reached a handler called try_run once: refused
        // (queue full: rejected; overloaded: shed at submit) or accepted,
        // and then settled one way (handed back only by a shutdown_now,
        // which comes after this snapshot), or still in flight.
        let settled = s.rejected
            + s.shed.at_submit
            + s.completed
            + s.panicked
            + s.expired
            + s.cancelled
            + s.shed.accepted()
            + s.handed_back;
        let in_flight = s.queued + s.running;
        let flag = |ok: bool| if ok { "ok" } else { "MISMATCH" };
        println!(
            "  accounting {:<4} sent {}, reached a handler {}; server: rejected {} + shed at submit {} + completed {} + panicked {} \
             + expired {} + cancelled {} + shed from the queue {} + handed back {} = {} ({}, {} in flight); 503 with Retry-After {} vs rejected + shed \
             ({}); without {} vs expired + cancelled ({}); jobs started {} vs completed + panicked ({})",
            o.phase,
            c.sent,
            o.requests,
            s.rejected,
            s.shed.at_submit,
            s.completed,
            s.panicked,
            s.expired,
            s.cancelled,
            s.shed.accepted(),
            s.handed_back,
            settled,
            flag(settled + in_flight == o.requests),
            in_flight,
            c.shed_full,
            flag(c.shed_full <= s.rejected + s.shed.total()),
            c.shed_other,
            flag(c.shed_other <= s.expired + s.cancelled),
            o.ran,
            flag(o.ran == s.completed + s.panicked + s.running),
        );
    }
}

fn median_and_spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (median, values[0], values[n - 1])
}

/// A figure over the runs: the median and spread of the undisturbed runs
/// (of all runs if every one was disturbed).
struct Figure {
    median: f64,
    low: f64,
    high: f64,
    used: usize,
    of: usize,
    clean: bool,
}

impl Figure {
    fn over(runs: &[Run], f: &dyn Fn(&Run) -> (f64, bool)) -> Figure {
        let all: Vec<(f64, bool)> = runs.iter().map(f).collect();
        let undisturbed: Vec<f64> = all.iter().filter(|(_, ok)| *ok).map(|(v, _)| *v).collect();
        let clean = !undisturbed.is_empty();
        let values = if clean {
            undisturbed
        } else {
            all.iter().map(|(v, _)| *v).collect()
        };
        let used = values.len();
        let (median, low, high) = median_and_spread(values);
        Figure {
            median,
            low,
            high,
            used,
            of: runs.len(),
            clean,
        }
    }

    fn show(&self) -> String {
        let spread = if self.used > 1 {
            format!(" (min {:.3}, max {:.3})", self.low, self.high)
        } else {
            String::new()
        };
        let note = if !self.clean {
            " [every run disturbed: not a clean figure]".to_owned()
        } else if self.used < self.of {
            format!(" [{} of {} runs undisturbed]", self.used, self.of)
        } else {
            String::new()
        };
        format!("{:.3}{spread}{note}", self.median)
    }
}

/// Whether other processes left a phase alone (or nothing could tell).
fn undisturbed(cpu: Cpu) -> bool {
    cpu.outside.is_none_or(|share| share <= DISTURBED)
}

fn print_summary(runs: &[Run]) {
    let stat = |f: &dyn Fn(&Run) -> (f64, bool)| Figure::over(runs, f);
    println!();
    println!(
        "summary over {} run(s){}: medians of the runs whose phases other processes left alone",
        runs.len(),
        if runs.len() < 5 {
            " (the targets are to be judged on the median of at least 5 alternated runs: --runs 5)"
        } else {
            ""
        }
    );
    let te1 = |r: &Run| undisturbed(r.phase1_te.cpu);
    let sb1 = |r: &Run| undisturbed(r.phase1_sb.cpu);
    // An overload phase counts if it and the capacity it was offered a
    // multiple of were both undisturbed.
    let over = move |r: &Run, phase: &str| te1(r) && undisturbed(r.overload(phase).cpu);
    let capacity = stat(&|r| (r.capacity(), te1(r)));
    let sb_rate = stat(&|r| (r.phase1_sb.rate(), sb1(r)));
    let shed_rate = stat(&|r| (r.phase1_shed.rate(), undisturbed(r.phase1_shed.cpu)));
    let shed_503s = stat(&|r| {
        let c = &r.phase1_shed;
        (c.shed as f64 / c.secs, undisturbed(c.cpu))
    });
    println!(
        "  phase 1 req/s: thread-exec, no shedding (the capacity) {}, spawn_blocking {}",
        capacity.show(),
        sb_rate.show()
    );
    println!(
        "          thread-exec with the default overload control (no target): {} req/s, 503s {}/s",
        shed_rate.show(),
        shed_503s.show()
    );
    let share = |phase: &'static str| {
        let goodput = stat(&|r| {
            let o = r.overload(phase);
            (o.of_capacity(r.capacity()), over(r, phase))
        });
        let departed = stat(&|r| (r.overload(phase).departed_share(), over(r, phase)));
        (goodput, departed)
    };
    let p99 = |phase: &'static str| {
        stat(&|r| (r.overload(phase).client.percentile_ms(0.99), over(r, phase)))
    };
    // A debug build's figures say nothing of the targets: hyper, axum and
    // tokio unoptimized cost far more per request than the ~1 ms job.
    let release = !cfg!(debug_assertions);
    let verdict = |figure: &Figure, met: bool| {
        if !release {
            return "release build needed".to_owned();
        }
        let word = if met { "met" } else { "missed" };
        if figure.clean {
            word.to_owned()
        } else {
            format!("{word}, on disturbed runs only")
        }
    };
    let http_bound = |phase: &'static str| {
        let bound = runs
            .iter()
            .filter(|r| r.overload(phase).handled_share() < 0.95)
            .count();
        if bound == 0 {
            String::new()
        } else {
            format!(
                " [HTTP-bound in {bound} of {} run(s): under 95 % of the requests reached a handler]",
                runs.len()
            )
        }
    };
    let (g2, d2) = share("2");
    println!(
        "  phase 2   2x (queue {QUEUE}, queue_timeout {} ms): goodput {} of capacity (target >= 0.90: {}), departed {} of jobs run (target <= 0.05: {}){}",
        QUEUE_TIMEOUT.as_millis(),
        g2.show(),
        verdict(&g2, g2.median >= 0.90),
        d2.show(),
        verdict(&d2, d2.median <= 0.05),
        http_bound("2")
    );
    let (g2b, d2b) = share("2b");
    let p2b = p99("2b");
    println!(
        "  phase 2b  2x, the natural setting (queue {DEEP_QUEUE}, queue_timeout {} ms = the client's timeout): goodput {} (target >= 0.90: {}),",
        CLIENT_TIMEOUT.as_millis(),
        g2b.show(),
        verdict(&g2b, g2b.median >= 0.90),
    );
    println!(
        "            departed {} (target <= 0.02: {}), p99 of answered {} ms (target <= 50: {}){}",
        d2b.show(),
        verdict(&d2b, d2b.median <= 0.02),
        p2b.show(),
        verdict(&p2b, p2b.median <= 50.0),
        http_bound("2b")
    );
    let (g2c, d2c) = share("2b'");
    println!(
        "  phase 2b' 2x (no target; queue {DEEP_QUEUE}, queue_timeout 100 ms, hand-tuned): goodput {}, departed {}, p99 of answered {} ms{}",
        g2c.show(),
        d2c.show(),
        p99("2b'").show(),
        http_bound("2b'")
    );
    let (g3, d3) = share("3");
    let goodput_ratio = stat(&|r| {
        let ratio = r.overload("2").goodput() / r.overload("3").goodput().max(1e-9);
        (ratio, over(r, "2") && over(r, "3"))
    });
    println!(
        "  phase 3   2x (spawn_blocking): goodput {} of capacity, departed {}; goodput ratio thread-exec (phase 2) / spawn_blocking: {}{}",
        g3.show(),
        d3.show(),
        goodput_ratio.show(),
        http_bound("3")
    );
    let (g5b, d5b) = share("5b");
    let (g5c, _) = share("5b'");
    let (g5q, _) = share("5q");
    println!(
        "  phase 5b  5x, the natural setting: goodput {} of capacity, departed {}, p99 of answered {} ms{}",
        g5b.show(),
        d5b.show(),
        p99("5b").show(),
        http_bound("5b")
    );
    println!(
        "            5b' (queue {DEEP_QUEUE}, 100 ms) {}{}; 5q (queue {QUEUE}, no queue_timeout) {}{}",
        g5c.show(),
        http_bound("5b'"),
        g5q.show(),
        http_bound("5q")
    );
    let ratio5 = stat(&|r| {
        let best = r
            .overload("5b'")
            .goodput()
            .max(r.overload("5q").goodput())
            .max(1e-9);
        let clean = over(r, "5b") && over(r, "5b'") && over(r, "5q");
        (r.overload("5b").goodput() / best, clean)
    });
    println!(
        "            goodput ratio 5b / max(5b', 5q), same run: {} (target >= 1.0: {})",
        ratio5.show(),
        verdict(&ratio5, ratio5.median >= 1.0)
    );
    let burst = stat(&|r| (r.overload("B").answered_share(), over(r, "B")));
    println!(
        "  phase B   bursts (2x for {} ms of every second, 0.5x otherwise), the natural setting: answered 200 in time {} of requests sent (target >= 0.99: {}), p99 of answered {} ms{}",
        BURST_ON.as_millis(),
        burst.show(),
        verdict(&burst, burst.median >= 0.99),
        p99("B").show(),
        http_bound("B")
    );
    let short = stat(&|r| (r.overload("M").short_of_share(r.capacity()), over(r, "M")));
    let (gm, dm) = share("M");
    println!(
        "  phase M   mixed (90 % ~0.2 ms, 10 % ~10 ms, 2x capacity / {MIX_COST:.2}), the natural setting: short requests' goodput {} of their share",
        short.show()
    );
    println!(
        "            of capacity (target >= 0.90: {}); all requests: {} of the mix's capacity, departed {}{}",
        verdict(&short, short.median >= 0.90),
        gm.show(),
        dm.show(),
        http_bound("M")
    );
    let fixed_clean = |r: &Run| undisturbed(r.fixed_te.cpu) && undisturbed(r.fixed_sb.cpu);
    let fixed_cpu = stat(&|r| (r.ratio_fixed_cpu(), fixed_clean(r)));
    println!(
        "  fixed rate ({FIXED_RATE:.0} req/s, or half of capacity): server CPU per request thread-exec / spawn_blocking: {} (target <= 1.0: {})",
        fixed_cpu.show(),
        verdict(&fixed_cpu, fixed_cpu.median <= 1.0)
    );
    let ratio = stat(&|r| (r.ratio_phase1(), te1(r) && sb1(r)));
    println!(
        "  phase 1 req/s ratio thread-exec (no shedding) / spawn_blocking: {} (target >= 0.97: {})",
        ratio.show(),
        verdict(&ratio, ratio.median >= 0.97)
    );
    if !release {
        println!(
            "  a debug build prints the figures only: the targets need `cargo run --release --example web_bridge -- --runs 5`"
        );
    }
    let outside: Vec<f64> = runs
        .iter()
        .flat_map(|r| {
            let overloads = r.overloads.iter().map(|o| o.cpu.outside);
            [
                r.phase1_te.cpu.outside,
                r.phase1_shed.cpu.outside,
                r.phase1_sb.cpu.outside,
                r.fixed_te.cpu.outside,
                r.fixed_sb.cpu.outside,
            ]
            .into_iter()
            .chain(overloads)
        })
        .flatten()
        .collect();
    if !outside.is_empty() {
        let phases = outside.len();
        let disturbed = outside.iter().filter(|&&share| share > DISTURBED).count();
        let (median, _, max) = median_and_spread(outside);
        println!(
            "  other processes used {} of the machine during a phase (median; max {}): {disturbed} of {phases} phases above 10 %{}",
            percent(Some(median)),
            percent(Some(max)),
            if disturbed > 0 {
                "; the medians above leave those out"
            } else {
                ""
            }
        );
    }
}
