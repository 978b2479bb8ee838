//! A service's whole life: an axum service whose handlers run blocking work
//! on a thread-exec pool, and that stops on SIGTERM or ctrl-c within a
//! deadline, answering every request it accepted.
//!
//! ```sh
//! cargo run --release --example graceful_shutdown                 # serve until ctrl-c or SIGTERM
//! curl http://127.0.0.1:3000/sleep/100     # a job of 100 ms that stops early if the client leaves
//! curl http://127.0.0.1:3000/block/100     # a job of 100 ms that cannot stop early
//! cargo run --release --example graceful_shutdown -- --demo        # load itself, SIGTERM itself, report
//! ```
//!
//! Options: `--addr 127.0.0.1:3000`, `--deadline-ms 10000` (the bound on
//! the stop, from the signal to the exit), `--log-requests` (a line per
//! request accepted and answered), `--demo`.
//!
//! The stop follows tokio's graceful-shutdown guide (a signal cancels a
//! `CancellationToken`; a `TaskTracker` waits for the tasks), in this order:
//!
//! 1. The signal cancels `shutdown`: axum stops accepting connections
//!    (`with_graceful_shutdown`), and the pool stops admitting jobs
//!    (`Executor::close`), so a handler that reaches it from now on answers
//!    503 with `Retry-After` and the client (or its load balancer) retries
//!    elsewhere.
//! 2. In-flight handlers finish: those whose jobs were accepted get their
//!    results, as usual.
//! 3. Shortly before the deadline, handlers still waiting stop waiting
//!    (`answer_now`) and answer 503; their jobs are asked to stop
//!    (`thread_exec::is_cancelled`) and, if not started, never run.
//! 4. The pool drains with what is left of the deadline
//!    (`Executor::drain_async`): the jobs no handler waits for, here the
//!    access log's writes, finish or are handed back, and the report says
//!    which jobs still run.
//! 5. `main` returns and the process exits, even with a job still running:
//!    Rust does not wait for other threads at exit, so the stop is bounded
//!    by the deadline, not by the longest job.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use thread_exec::{DrainReport, Executor};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What the service is told on its command line.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free one (printed at start).
    pub addr: SocketAddr,
    /// From the signal to the exit, at most (plus the few milliseconds the
    /// answers and the report take).
    pub deadline: Duration,
    /// Print `accepted ID` and `answered ID STATUS` for each request whose
    /// `x-request-id` header says `ID`.
    pub log_requests: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            deadline: Duration::from_secs(10),
            log_requests: false,
        }
    }
}

/// The handlers' state: the pool, the token that tells waiting handlers to
/// answer now, and the access log's count.
#[derive(Clone)]
struct App {
    pool: Executor,
    answer_now: CancellationToken,
    logged: Arc<AtomicUsize>,
    log_requests: bool,
}

/// `GET /sleep/{ms}`: a blocking job of `ms` milliseconds that stops early
/// when nobody waits for it any more.
async fn sleep(state: State<App>, Path(ms): Path<u64>, headers: HeaderMap) -> Response {
    answer(state, headers, move || {
        let until = Instant::now() + Duration::from_millis(ms);
        while Instant::now() < until && !thread_exec::is_cancelled() {
            std::thread::sleep(Duration::from_millis(ms.min(10)));
        }
        format!("slept {ms} ms\n")
    })
    .await
}

/// `GET /block/{ms}`: a blocking call of `ms` milliseconds that cannot
/// look whether anybody still waits (a driver's call, say).
async fn block(state: State<App>, Path(ms): Path<u64>, headers: HeaderMap) -> Response {
    answer(state, headers, move || {
        std::thread::sleep(Duration::from_millis(ms));
        format!("blocked {ms} ms\n")
    })
    .await
}

/// Runs `job` on the pool, shedding with 503 when the queue is full or the
/// pool is closed, and answering 503 when the stop's deadline is near.
async fn answer(
    State(app): State<App>,
    headers: HeaderMap,
    job: impl FnOnce() -> String + Send + 'static,
) -> Response {
    let id = headers
        .get("x-request-id")
        .and_then(|id| id.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    if app.log_requests {
        println!("accepted {id}");
    }
    let response = match app.pool.try_run(job) {
        // Full queue, or closed after the signal: 503 with Retry-After.
        Err(refused) => refused.into_response(),
        Ok(result) => {
            // The access log's write, off the request path: a detached job
            // that no handler waits for (the drain does), submitted with
            // the request's own job so that a stop refuses both or neither.
            let logged = Arc::clone(&app.logged);
            let _refused_if_full = app.pool.try_spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                logged.fetch_add(1, Ordering::Relaxed);
            });
            tokio::select! {
                result = result => result.into_response(),
                // The deadline is near: answer rather than be cut off. The
                // job is asked to stop; one that cannot runs on.
                () = app.answer_now.cancelled() => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "1")],
                    "shutting down\n",
                )
                    .into_response(),
            }
        }
    };
    if app.log_requests {
        println!("answered {id} {}", response.status().as_u16());
    }
    response
}

/// Resolves at SIGTERM (what a container runtime sends) or ctrl-c.
async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = signal(SignalKind::terminate()).expect("install the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Serves on `listener` until `shutdown` is cancelled, then stops as the
/// module docs say; returns the pool's drain report.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> DrainReport {
    // Blocking work that mostly waits: many threads, a bounded queue.
    let pool = Executor::builder()
        .threads(8)
        .max_queue_size(256)
        .build()
        .expect("the pool");
    let app = App {
        pool: pool.clone(),
        answer_now: CancellationToken::new(),
        logged: Arc::default(),
        log_requests: config.log_requests,
    };
    let router = Router::new()
        .route("/sleep/{ms}", get(sleep))
        .route("/block/{ms}", get(block))
        .with_state(app.clone());

    let tracker = TaskTracker::new();
    tracker.spawn(
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .into_future(),
    );
    tracker.close();

    // 1. The signal.
    shutdown.cancelled().await;
    let signalled = Instant::now();
    let deadline = signalled + config.deadline;
    pool.close();
    println!(
        "signal: no new connections, no new jobs; draining within {:?}",
        config.deadline
    );

    // 2. In-flight handlers finish, until shortly before the deadline.
    let margin = (config.deadline / 4).min(Duration::from_secs(1));
    let answer_by = deadline - margin;
    if tokio::time::timeout_at(answer_by.into(), tracker.wait())
        .await
        .is_err()
    {
        // 3. Handlers still waiting answer now; their answers are written
        // within the margin.
        app.answer_now.cancel();
        let _ = tokio::time::timeout_at(deadline.into(), tracker.wait()).await;
    }

    // 4. The jobs no handler waits for, within what is left.
    let report = pool
        .drain_async(deadline.saturating_duration_since(Instant::now()))
        .await;
    println!(
        "drained in {:?}: {report}; access log: {} entries",
        signalled.elapsed(),
        app.logged.load(Ordering::Relaxed)
    );
    if report.still_running() > 0 {
        println!(
            "exiting with {} job(s) still running",
            report.still_running()
        );
    }
    // 5. Dropping the report cancels what it handed back.
    report
}

/// Builds the runtime, serves until SIGTERM or ctrl-c, and returns when
/// the stop is over (then `main` returns, and the process exits).
pub fn run(config: Config) -> DrainReport {
    let runtime = tokio::runtime::Runtime::new().expect("the tokio runtime");
    let report = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .expect("bind the address");
        println!(
            "listening on {}",
            listener.local_addr().expect("the address")
        );
        let shutdown = CancellationToken::new();
        let on_signal = shutdown.clone();
        tokio::spawn(async move {
            signal().await;
            on_signal.cancel();
        });
        serve(listener, config, shutdown).await
    });
    // Tasks still parked (none, after a complete stop) are dropped; the
    // pool's threads are not tokio's, so this does not wait for them.
    runtime.shutdown_background();
    report
}

/// `--demo`: the service, a load of its own (a job stuck far past the
/// deadline among requests of 100 ms), and a SIGTERM to itself mid-burst.
fn demo(config: Config) {
    let runtime = tokio::runtime::Runtime::new().expect("the tokio runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .expect("bind the address");
        let addr = listener.local_addr().expect("the address");
        println!("listening on {addr}");
        let shutdown = CancellationToken::new();
        let on_signal = shutdown.clone();
        tokio::spawn(async move {
            signal().await;
            on_signal.cancel();
        });
        let deadline = config.deadline;
        let server = tokio::spawn(serve(listener, config, shutdown));

        let mut clients = Vec::new();
        clients.push(tokio::spawn(request(addr, "block", 600_000)));
        let mut signalled = Instant::now();
        for round in 0..4 {
            for _ in 0..12 {
                clients.push(tokio::spawn(request(addr, "sleep", 100)));
            }
            if round == 1 {
                signalled = Instant::now();
                send_sigterm();
            }
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        let report = server.await.expect("the server task");
        let mut answers = std::collections::BTreeMap::<String, usize>::new();
        for client in clients {
            *answers
                .entry(client.await.expect("a client task"))
                .or_default() += 1;
        }
        println!("demo: answers {answers:?}");
        println!(
            "demo: stopped {:?} after the signal (deadline {deadline:?}); {report:?}",
            signalled.elapsed()
        );
    });
    runtime.shutdown_background();
}

/// One request on a connection of its own; its status, or why it had none.
async fn request(addr: SocketAddr, route: &str, ms: u64) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return "refused".into();
    };
    let head = format!("GET /{route}/{ms} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    if stream.write_all(head.as_bytes()).await.is_err() {
        return "refused".into();
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    match answer.split(' ').nth(1) {
        Some(status) => status.to_owned(),
        None => "closed without an answer".into(),
    }
}

/// SIGTERM to this process, as a container runtime sends it.
fn send_sigterm() {
    #[cfg(unix)]
    {
        let pid = std::process::id().to_string();
        // The shell's own `kill`: no `kill` binary needed on the machine.
        let status = std::process::Command::new("sh")
            .args(["-c", &format!("kill -TERM {pid}")])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid}: {status}");
    }
    #[cfg(not(unix))]
    println!("--demo sends SIGTERM on Unix only; press ctrl-c");
}

fn main() {
    let mut config = Config::default();
    let mut demo_mode = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--demo" => demo_mode = true,
            "--log-requests" => config.log_requests = true,
            "--addr" => {
                config.addr = args
                    .next()
                    .and_then(|addr| addr.parse().ok())
                    .expect("--addr IP:PORT")
            }
            "--deadline-ms" => {
                config.deadline = Duration::from_millis(
                    args.next()
                        .and_then(|ms| ms.parse().ok())
                        .expect("--deadline-ms N"),
                )
            }
            other => panic!("unknown argument {other:?}; see the example's docs"),
        }
    }
    if demo_mode {
        config.addr.set_port(0);
        config.deadline = config.deadline.min(Duration::from_secs(2));
        demo(config);
    } else {
        let report = run(config);
        drop(report);
    }
}
