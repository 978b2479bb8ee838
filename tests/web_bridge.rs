//! The web bridge of `examples/web_bridge.rs` (its routes, compiled in
//! here) served on a loopback port and driven by a real HTTP client:
//! bodies, a panicking job, a saturated queue, clients that disconnect
//! before and while their job runs, and a job whose queue deadline passes.
//! Every test is bounded by a timeout, and so is every wait inside it.

mod common;

#[path = "../examples/web_bridge.rs"]
#[allow(dead_code)] // the example's load generator is not used here
mod web_bridge;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use thread_exec::{Executor, Job, JobError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use common::{occupy, timeout};
use web_bridge::{digest, App, Probe};

/// A service on an ephemeral loopback port, stopped when dropped.
struct Service {
    addr: SocketAddr,
    server: JoinHandle<()>,
    _file: TempFile,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The file `GET /file` reads, removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const FILE_CONTENTS: &[u8] = b"the bytes of a small file\n";

/// The example's router on `pool`, merged with `extra` routes, served.
async fn start(pool: &Executor, rounds: u32, probe: &Probe, extra: Router) -> Service {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "thread-exec-web-bridge-test-{}-{n}.txt",
        std::process::id()
    ));
    std::fs::write(&path, FILE_CONTENTS).expect("write the temp file");
    let app = App {
        pool: pool.clone(),
        rounds,
        file: Arc::new(path.clone()),
        probe: probe.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let server = tokio::spawn(web_bridge::serve(
        listener,
        web_bridge::router(app).merge(extra),
    ));
    Service {
        addr,
        server,
        _file: TempFile(path),
    }
}

type Client = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

fn client() -> Client {
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http()
}

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }
}

/// One request, answered in full.
async fn call(client: &Client, service: &Service, method: &str, path: &str, body: &[u8]) -> Answer {
    let request = Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", service.addr))
        .body(Full::new(Bytes::copy_from_slice(body)))
        .expect("a valid request");
    let response = client.request(request).await.expect("an HTTP response");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("the whole body").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// A request on a task of its own, so that the test can drop (abort) it.
fn spawn_call(
    client: &Client,
    service: &Service,
    method: &'static str,
    path: &'static str,
) -> JoinHandle<Answer> {
    let client = client.clone();
    let request = Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", service.addr))
        .body(Full::new(Bytes::from_static(b"queued")))
        .expect("a valid request");
    tokio::spawn(async move {
        let response = client.request(request).await.expect("an HTTP response");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("the whole body").to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    })
}

/// Waits (bounded) until `condition` holds.
async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    timeout(what, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
}

fn pool(threads: usize, queue: usize, queue_timeout: Option<Duration>) -> Executor {
    let builder = Executor::builder().threads(threads).max_queue_size(queue);
    match queue_timeout {
        Some(t) => builder.queue_timeout(t),
        None => builder,
    }
    .build()
    .expect("a pool")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_file_and_long_answer_with_the_right_bodies() {
    timeout("bodies", async {
        // FNV-1a 64 of "hello" (one round), a published test vector.
        assert_eq!(digest(b"hello", 1), 0xa430_d846_80aa_bd0b);
        let pool = web_bridge::service_pool().expect("the example's pool");
        let probe = Probe::default();
        let service = start(&pool, 1, &probe, Router::new()).await;
        let client = client();

        let answer = call(&client, &service, "POST", "/hash", b"hello").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.text(), "a430d84680aabd0b");

        let body: Vec<u8> = (0..4096_u32).map(|i| (i * 7 % 251) as u8).collect();
        let answer = call(&client, &service, "POST", "/hash", &body).await;
        assert_eq!(answer.text(), format!("{:016x}", digest(&body, 1)));

        let answer = call(&client, &service, "GET", "/file", b"").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(&answer.body[..], FILE_CONTENTS);

        let answer = call(&client, &service, "GET", "/long", b"").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(
            answer.text(),
            format!("done: {} steps", web_bridge::LONG_STEPS)
        );

        assert_eq!(
            (probe.requests(), probe.started(), probe.departed()),
            (4, 4, 0)
        );
        timeout("the pool settles", pool.wait_async()).await;
        let stats = pool.stats();
        assert_eq!((stats.completed, stats.rejected, stats.expired), (4, 0, 0));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_job_answers_500_without_its_message_and_serving_goes_on() {
    common::quiet_worker_panics();
    timeout("panic", async {
        let pool = web_bridge::service_pool().expect("the example's pool");
        let service = start(&pool, 1, &Probe::default(), Router::new()).await;
        let client = client();

        let answer = call(&client, &service, "GET", "/panic", b"").await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answer.text(), "internal error");
        assert!(
            !answer.text().contains("bug"),
            "the panic message leaked: {:?}",
            answer.text()
        );
        assert!(!answer.headers.contains_key(header::RETRY_AFTER));

        for _ in 0..3 {
            let answer = call(&client, &service, "POST", "/hash", b"hello").await;
            assert_eq!(answer.status, StatusCode::OK);
            assert_eq!(answer.text(), "a430d84680aabd0b");
        }
        let answer = call(&client, &service, "GET", "/file", b"").await;
        assert_eq!(&answer.body[..], FILE_CONTENTS);
        timeout("the pool settles", pool.wait_async()).await;
        let stats = pool.stats();
        assert_eq!((stats.panicked, stats.completed, stats.threads), (1, 4, 2));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_queue_answers_503_with_retry_after_and_nothing_hangs() {
    timeout("saturated", async {
        let pool = pool(1, 1, None);
        let probe = Probe::default();
        let service = start(&pool, 1, &probe, Router::new()).await;
        let client = client();

        // The only worker waits on a gate; one request fills the queue.
        let (gate, blockers) = occupy(&pool, 1);
        let queued = spawn_call(&client, &service, "POST", "/hash");
        until("the request's job is queued", || pool.stats().queued == 1).await;

        for i in 1..=5 {
            let sent = Instant::now();
            let answer = call(&client, &service, "POST", "/hash", b"hello").await;
            assert_eq!(
                answer.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "request {i}"
            );
            assert_eq!(
                answer
                    .headers
                    .get(header::RETRY_AFTER)
                    .map(|v| v.as_bytes()),
                Some(&b"1"[..]),
                "request {i}"
            );
            assert!(!answer.body.is_empty());
            // Shed at once, not after the queue drained.
            assert!(
                sent.elapsed() < Duration::from_secs(5),
                "request {i} waited"
            );
            assert_eq!(pool.stats().rejected, i);
        }
        assert_eq!(probe.started(), 0);

        gate.open();
        let answer = timeout("the queued request", queued)
            .await
            .expect("client task");
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.text(), format!("{:016x}", digest(b"queued", 1)));
        for blocker in blockers {
            blocker.await.expect("the blocker job");
        }
        let answer = call(&client, &service, "POST", "/hash", b"hello").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!((probe.requests(), probe.started()), (7, 2));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_before_its_job_starts_costs_no_run() {
    timeout("left before start", async {
        let pool = pool(1, 4, None);
        let probe = Probe::default();
        let service = start(&pool, 1, &probe, Router::new()).await;
        let client = client();

        let (gate, blockers) = occupy(&pool, 1);
        let request = spawn_call(&client, &service, "POST", "/hash");
        until("the request's job is queued", || pool.stats().queued == 1).await;
        assert_eq!((probe.requests(), probe.started()), (1, 0));

        // The client goes away: its connection closes, axum drops the
        // handler, and with it the `TryRun`, while the worker is still
        // blocked, so the job has not started.
        request.abort();
        assert!(request.await.expect_err("aborted").is_cancelled());
        until("the job is cancelled", || pool.stats().cancelled == 1).await;
        assert_eq!(pool.stats().queued, 0);

        gate.open();
        for blocker in blockers {
            blocker.await.expect("the blocker job");
        }
        timeout("the pool settles", pool.wait_async()).await;
        let stats = pool.stats();
        assert_eq!((stats.completed, stats.cancelled, stats.expired), (1, 1, 0));
        assert_eq!(probe.started(), 0, "the departed client's job ran");

        // The place it held is free again.
        let answer = call(&client, &service, "POST", "/hash", b"hello").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(probe.started(), 1);
    })
    .await;
}

/// What `/watch`'s job reports.
#[derive(Debug, PartialEq)]
enum Watch {
    Started,
    /// Whether it saw `is_cancelled()` before its own time limit.
    Stopped(bool),
}

#[derive(Clone)]
struct Watcher {
    pool: Executor,
    events: mpsc::UnboundedSender<Watch>,
}

/// A job that runs until it is asked to stop, and says what it saw.
async fn watch(State(w): State<Watcher>) -> Result<&'static str, JobError> {
    let events = w.events;
    w.pool
        .try_run(move || {
            let _ = events.send(Watch::Started);
            let give_up = Instant::now() + common::LIMIT;
            while !thread_exec::is_cancelled() && Instant::now() < give_up {
                std::thread::sleep(Duration::from_millis(1));
            }
            let _ = events.send(Watch::Stopped(thread_exec::is_cancelled()));
            "stopped"
        })?
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_while_its_job_runs_makes_is_cancelled_true() {
    timeout("left while running", async {
        let pool = pool(2, 8, None);
        let (events, mut seen) = mpsc::unbounded_channel();
        let extra = Router::new()
            .route("/watch", get(watch))
            .with_state(Watcher {
                pool: pool.clone(),
                events,
            });
        let probe = Probe::default();
        let service = start(&pool, 1, &probe, extra).await;
        let client = client();

        let request = spawn_call(&client, &service, "GET", "/watch");
        assert_eq!(
            timeout("the job starts", seen.recv()).await,
            Some(Watch::Started)
        );
        request.abort();
        assert_eq!(
            timeout("the job sees the cancel", seen.recv()).await,
            Some(Watch::Stopped(true))
        );
        timeout("the job ends", pool.wait_async()).await;
        assert_eq!(pool.stats().completed, 1);

        // The example's own `/long` stops early too: unstopped, its steps of
        // at least 1 ms each would take LONG_STEPS ms from the request.
        let sent = Instant::now();
        let long = spawn_call(&client, &service, "GET", "/long");
        until("/long starts", || probe.started() == 1).await;
        long.abort();
        until("/long ends", || pool.stats().completed == 2).await;
        let natural = Duration::from_millis(u64::from(web_bridge::LONG_STEPS));
        assert!(
            sent.elapsed() < natural,
            "/long ran {:?}, not stopped early",
            sent.elapsed()
        );
        assert_eq!(probe.departed(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_job_never_runs_and_answers_503() {
    timeout("expired", async {
        let queue_timeout = Duration::from_millis(50);
        let pool = pool(1, 4, Some(queue_timeout));
        let probe = Probe::default();
        let service = start(&pool, 1, &probe, Router::new()).await;
        let client = client();

        // The blocker has a queue timeout of its own (it replaces the
        // pool's): on a loaded machine its start may take longer than 50 ms.
        let gate = common::Gate::new();
        let (started_tx, started) = std::sync::mpsc::channel();
        let blocker = {
            let gate = Arc::clone(&gate);
            let job = Job::new(move || {
                started_tx.send(()).expect("the test waits");
                gate.wait();
            });
            pool.send(job.queue_timeout(common::LIMIT))
        };
        started
            .recv_timeout(common::LIMIT)
            .expect("the blocker started");
        let blockers = [blocker];
        let request = spawn_call(&client, &service, "POST", "/hash");
        until("the request's job is queued", || pool.stats().queued == 1).await;
        tokio::time::sleep(2 * queue_timeout).await;
        gate.open();

        let answer = timeout("the expired request", request)
            .await
            .expect("client task");
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!answer.headers.contains_key(header::RETRY_AFTER));
        for blocker in blockers {
            blocker.await.expect("the blocker job");
        }
        timeout("the pool settles", pool.wait_async()).await;
        let stats = pool.stats();
        assert!(stats.expired >= 1, "{stats:?}");
        assert_eq!((stats.completed, stats.cancelled), (1, 0));
        assert_eq!(
            (probe.requests(), probe.started()),
            (1, 0),
            "the expired job ran"
        );
    })
    .await;
}
