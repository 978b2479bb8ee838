//! What `benches/throughput.rs` (criterion) and `benches/compare.rs` (the
//! interleaved-rounds driver) share: the systems under test behind one trait,
//! the workloads, and the measurement loops.
//!
//! Every system is driven through [`Sys`], whose methods are generic and
//! monomorphised per system, so the harness adds no dynamic dispatch and
//! every system keeps its native handle type (that matters for the memory
//! scenario, where handles sit in a `Vec`).
//!
//! The peers that have no handle of their own (`threadpool`, `rayon`) return
//! their result through a `futures::channel::oneshot`: one allocation, and a
//! receiver that is both a future and joinable with `block_on`. rusty_pool's
//! `evaluate` does the same inside the crate: its `JoinHandle` holds such a
//! receiver, which is what the async scenarios await.

// Each bench binary uses a different subset of this module.
#![allow(dead_code)]

use std::future::Future;
use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use thread_exec::{Executor, Job, JobHandle};

/// The queue bound of the `te-bounded` variant: below the batch size, so the
/// submitter really does find the queue full and waits for room.
pub const BOUND: usize = 256;

/// A pool under test. `build` makes a fresh one; `shutdown` stops it.
pub trait Sys: Sized {
    /// Sent to the task or thread that awaits it in the many-submitter
    /// scenarios.
    type Handle<T: Send + 'static>: Send;

    /// A pool of `threads` threads. `rt` is the runtime that drives the
    /// awaiting task, if any: tokio's blocking pool is that runtime's.
    fn build(threads: usize, rt: Option<&tokio::runtime::Handle>) -> Self;

    fn spawn<F, T>(&self, f: F) -> Self::Handle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static;

    /// The submission call for async code: the same as `spawn` except where
    /// `spawn` may block the runtime (thread-exec's bounded queue).
    fn spawn_async<F, T>(&self, f: F) -> impl Future<Output = Self::Handle<T>> + Send
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        std::future::ready(self.spawn(f))
    }

    /// Awaits a handle from async code.
    fn wait<T: Send + 'static>(handle: Self::Handle<T>) -> impl Future<Output = T> + Send;

    /// Blocks a plain thread on a handle.
    fn join<T: Send + 'static>(handle: Self::Handle<T>) -> T;

    fn shutdown(self);
}

/// The runtime that drives the awaiting task in the async scenarios, the
/// same flavour for every system: current-thread, so the awaiting task runs
/// on the bench's own thread, and a blocking pool capped at `threads` (only
/// tokio's `spawn_blocking` uses it).
pub fn runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(threads)
        .build()
        .expect("tokio runtime")
}

/// [`runtime`] with tokio's timer, for the paced scenario's interval. Only
/// there: with a timer the runtime parks on its time driver, and the other
/// async scenarios are measured on the runtime they always had.
pub fn timer_runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(threads)
        .enable_time()
        .build()
        .expect("tokio runtime")
}

// ---------------------------------------------------------------- systems

/// `Executor::new(threads)`, `spawn`, awaited or joined.
pub struct Te(Executor);

impl Sys for Te {
    type Handle<T: Send + 'static> = JobHandle<T>;

    fn build(threads: usize, _: Option<&tokio::runtime::Handle>) -> Self {
        Te(Executor::new(threads))
    }

    fn spawn<F, T>(&self, f: F) -> JobHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.0.spawn(f)
    }

    async fn wait<T: Send + 'static>(handle: JobHandle<T>) -> T {
        handle.await.expect("job failed")
    }

    fn join<T: Send + 'static>(handle: JobHandle<T>) -> T {
        handle.join().expect("job failed")
    }

    fn shutdown(self) {
        self.0.shutdown();
    }
}

/// A bounded queue of [`BOUND`] jobs: `spawn` blocks a plain thread while the
/// queue is full, and async code uses `spawn_async`, which waits for room.
pub struct TeBounded(Executor);

impl Sys for TeBounded {
    type Handle<T: Send + 'static> = JobHandle<T>;

    fn build(threads: usize, _: Option<&tokio::runtime::Handle>) -> Self {
        TeBounded(
            Executor::builder()
                .threads(threads)
                .max_queue_size(BOUND)
                .build()
                .expect("bounded pool"),
        )
    }

    fn spawn<F, T>(&self, f: F) -> JobHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.0.spawn(f)
    }

    // The future resolves to the handle (itself a future) once queued.
    #[allow(clippy::async_yields_async)]
    fn spawn_async<F, T>(&self, f: F) -> impl Future<Output = JobHandle<T>> + Send
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let queuing = self.0.spawn_async(f);
        async move {
            match queuing.await {
                Ok(handle) => handle,
                Err(_) => panic!("pool closed"),
            }
        }
    }

    fn wait<T: Send + 'static>(handle: JobHandle<T>) -> impl Future<Output = T> + Send {
        Te::wait(handle)
    }

    fn join<T: Send + 'static>(handle: JobHandle<T>) -> T {
        Te::join(handle)
    }

    fn shutdown(self) {
        self.0.shutdown();
    }
}

/// `send(Job::new(f).callback(..))`: the seed's job-with-callback path.
pub struct TeCallback(Executor);

impl Sys for TeCallback {
    type Handle<T: Send + 'static> = JobHandle<T>;

    fn build(threads: usize, _: Option<&tokio::runtime::Handle>) -> Self {
        TeCallback(Executor::new(threads))
    }

    fn spawn<F, T>(&self, f: F) -> JobHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.0.send(Job::new(f).callback(|result| {
            black_box(result.is_ok());
        }))
    }

    fn wait<T: Send + 'static>(handle: JobHandle<T>) -> impl Future<Output = T> + Send {
        Te::wait(handle)
    }

    fn join<T: Send + 'static>(handle: JobHandle<T>) -> T {
        Te::join(handle)
    }

    fn shutdown(self) {
        self.0.shutdown();
    }
}

/// A thread-exec variant that differs from [`Te`] only in how its pool is
/// built: `spawn`, awaited or joined, as the plain path.
macro_rules! built_variant {
    ($(#[$doc:meta])* $name:ident, |$threads:ident| $build:expr) => {
        $(#[$doc])*
        pub struct $name(Executor);

        impl Sys for $name {
            type Handle<T: Send + 'static> = JobHandle<T>;

            fn build($threads: usize, _: Option<&tokio::runtime::Handle>) -> Self {
                $name($build)
            }

            fn spawn<F, T>(&self, f: F) -> JobHandle<T>
            where
                F: FnOnce() -> T + Send + 'static,
                T: Send + 'static,
            {
                self.0.spawn(f)
            }

            fn wait<T: Send + 'static>(handle: JobHandle<T>) -> impl Future<Output = T> + Send {
                Te::wait(handle)
            }

            fn join<T: Send + 'static>(handle: JobHandle<T>) -> T {
                Te::join(handle)
            }

            fn shutdown(self) {
                self.0.shutdown();
            }
        }
    };
}

built_variant!(
    /// A dynamic pool, `min_threads(1).max_threads(threads)`: grows on demand
    /// (the warm-up grows it to `threads`), so `spawn` also runs the growth check.
    TeDynamic,
    |threads| Executor::builder()
        .min_threads(1)
        .max_threads(threads)
        .build()
        .expect("dynamic pool")
);

built_variant!(
    /// `record_timings(true)`: every job timed into the workers' histograms
    /// (three clock reads and a few plain stores per job).
    TeTimings,
    |threads| Executor::builder()
        .threads(threads)
        .record_timings(true)
        .build()
        .expect("timed pool")
);

built_variant!(
    /// `queue_shards(threads)`: one queue shard per thread, where the
    /// default gives a pool of two threads one (see the queue's docs).
    TeSharded,
    |threads| Executor::builder()
        .threads(threads)
        .queue_shards(threads)
        .build()
        .expect("sharded pool")
);

/// How often the `te-metrics` variant publishes.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(thread_exec_bench::PUBLISH_EVERY_MS);

/// The `metrics` feature as designed: `record_timings(true)`,
/// `metrics-exporter-prometheus`'s recorder installed (once per process:
/// each system runs in a process of its own), and a thread that calls
/// `publish_metrics` (and the exporter's upkeep) every [`PUBLISH_EVERY`]
/// while the pool runs. The job path is `te-timings`'; the difference is
/// the publisher's and the recorder's work.
pub struct TeMetrics {
    pool: Executor,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    publisher: Option<std::thread::JoinHandle<()>>,
}

impl Sys for TeMetrics {
    type Handle<T: Send + 'static> = JobHandle<T>;

    fn build(threads: usize, _: Option<&tokio::runtime::Handle>) -> Self {
        static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
            std::sync::OnceLock::new();
        let handle = HANDLE
            .get_or_init(|| {
                metrics_exporter_prometheus::PrometheusBuilder::new()
                    .install_recorder()
                    .expect("install the Prometheus recorder")
            })
            .clone();
        let pool = Executor::builder()
            .threads(threads)
            .record_timings(true)
            .metrics_label("bench")
            .build()
            .expect("published pool");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let publisher = {
            let (pool, stop) = (pool.downgrade(), std::sync::Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Some(pool) = pool.upgrade() {
                        pool.publish_metrics();
                    }
                    handle.run_upkeep();
                    std::thread::sleep(PUBLISH_EVERY);
                }
            })
        };
        TeMetrics {
            pool,
            stop,
            publisher: Some(publisher),
        }
    }

    fn spawn<F, T>(&self, f: F) -> JobHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.pool.spawn(f)
    }

    fn wait<T: Send + 'static>(handle: JobHandle<T>) -> impl Future<Output = T> + Send {
        Te::wait(handle)
    }

    fn join<T: Send + 'static>(handle: JobHandle<T>) -> T {
        Te::join(handle)
    }

    fn shutdown(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(publisher) = self.publisher.take() {
            publisher.join().expect("the publisher panicked");
        }
        self.pool.shutdown();
    }
}

/// tokio's `spawn_blocking` on a runtime whose `max_blocking_threads` is the
/// thread count. In the async scenarios it is the runtime that drives the
/// awaiting task; from a plain thread it is a runtime of its own, not driven
/// (the blocking pool does not need it to be).
pub struct Tokio {
    handle: tokio::runtime::Handle,
    own: Option<tokio::runtime::Runtime>,
}

impl Sys for Tokio {
    type Handle<T: Send + 'static> = tokio::task::JoinHandle<T>;

    fn build(threads: usize, rt: Option<&tokio::runtime::Handle>) -> Self {
        match rt {
            Some(handle) => Tokio {
                handle: handle.clone(),
                own: None,
            },
            None => {
                let rt = runtime(threads);
                Tokio {
                    handle: rt.handle().clone(),
                    own: Some(rt),
                }
            }
        }
    }

    fn spawn<F, T>(&self, f: F) -> tokio::task::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }

    async fn wait<T: Send + 'static>(handle: tokio::task::JoinHandle<T>) -> T {
        handle.await.expect("job failed")
    }

    fn join<T: Send + 'static>(handle: tokio::task::JoinHandle<T>) -> T {
        futures::executor::block_on(handle).expect("job failed")
    }

    fn shutdown(self) {
        if let Some(rt) = self.own {
            rt.shutdown_timeout(Duration::from_secs(10));
        }
    }
}

/// `blocking::unblock`. Its pool is global: the thread cap is set per
/// process, which is why the driver runs each system in a process of its own.
pub struct Blocking;

impl Sys for Blocking {
    type Handle<T: Send + 'static> = blocking::Task<T>;

    fn build(threads: usize, _: Option<&tokio::runtime::Handle>) -> Self {
        blocking::set_max_blocking_threads(NonZeroUsize::new(threads).expect("threads > 0"));
        Blocking
    }

    fn spawn<F, T>(&self, f: F) -> blocking::Task<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        blocking::unblock(f)
    }

    fn wait<T: Send + 'static>(handle: blocking::Task<T>) -> impl Future<Output = T> + Send {
        handle
    }

    fn join<T: Send + 'static>(handle: blocking::Task<T>) -> T {
        futures::executor::block_on(handle)
    }

    fn shutdown(self) {}
}

/// `threadpool::ThreadPool::execute`, the result sent through a oneshot.
pub struct Threadpool(threadpool::ThreadPool);

impl Sys for Threadpool {
    type Handle<T: Send + 'static> = oneshot::Receiver<T>;

    fn build(threads: usize, _: Option<&tokio::runtime::Handle>) -> Self {
        Threadpool(threadpool::ThreadPool::new(threads))
    }

    fn spawn<F, T>(&self, f: F) -> oneshot::Receiver<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.0.execute(move || {
            let _ = tx.send(f());
        });
        rx
    }

    async fn wait<T: Send + 'static>(handle: oneshot::Receiver<T>) -> T {
        handle.await.expect("job dropped")
    }

    fn join<T: Send + 'static>(handle: oneshot::Receiver<T>) -> T {
        futures::executor::block_on(handle).expect("job dropped")
    }

    fn shutdown(self) {
        self.0.join();
    }
}

/// `rayon::ThreadPool::spawn`, the result sent through a oneshot.
pub struct Rayon(rayon::ThreadPool);

impl Sys for Rayon {
    type Handle<T: Send + 'static> = oneshot::Receiver<T>;

    fn build(threads: usize, _: Option<&tokio::runtime::Handle>) -> Self {
        Rayon(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("rayon pool"),
        )
    }

    fn spawn<F, T>(&self, f: F) -> oneshot::Receiver<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.0.spawn(move || {
            let _ = tx.send(f());
        });
        rx
    }

    fn wait<T: Send + 'static>(handle: oneshot::Receiver<T>) -> impl Future<Output = T> + Send {
        Threadpool::wait(handle)
    }

    fn join<T: Send + 'static>(handle: oneshot::Receiver<T>) -> T {
        Threadpool::join(handle)
    }

    fn shutdown(self) {}
}

/// `rusty_pool::ThreadPool::evaluate` on a fixed pool: core size = max size
/// = the thread count, the threads started up front. Its `JoinHandle` is
/// awaited through the oneshot receiver it holds and joined with
/// `await_complete`.
pub struct RustyPool(rusty_pool::ThreadPool);

impl Sys for RustyPool {
    type Handle<T: Send + 'static> = rusty_pool::JoinHandle<T>;

    fn build(threads: usize, _: Option<&tokio::runtime::Handle>) -> Self {
        // The keep-alive only retires threads beyond the core size, and
        // there are none: the pool never shrinks or grows.
        let pool = rusty_pool::ThreadPool::new(threads, threads, Duration::from_secs(60));
        // Else each of the first `threads` submissions starts a thread of
        // its own, where `threadpool` has started them all at `new`.
        pool.start_core_threads();
        RustyPool(pool)
    }

    fn spawn<F, T>(&self, f: F) -> rusty_pool::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.0.evaluate(f)
    }

    async fn wait<T: Send + 'static>(handle: rusty_pool::JoinHandle<T>) -> T {
        handle.receiver.await.expect("job dropped")
    }

    fn join<T: Send + 'static>(handle: rusty_pool::JoinHandle<T>) -> T {
        handle.await_complete()
    }

    fn shutdown(self) {
        self.0.shutdown_join();
    }
}

/// `affinitypool::Threadpool::spawn` (SurrealDB's pool: producer-sharded
/// crossbeam injectors, per-worker deques, stealing), its future awaited,
/// or joined with `block_on`. Its `spawn` returns an unnameable
/// `impl Future` (an `async` block around `async-task`'s `Task`), so the
/// handle is boxed: one allocation per job more than the pool's own, which
/// the memory and allocation rows include.
pub struct AffinityPool(affinitypool::Threadpool);

/// [`AffinityPool`]'s handle.
pub type BoxedHandle<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl Sys for AffinityPool {
    type Handle<T: Send + 'static> = BoxedHandle<T>;

    fn build(threads: usize, _: Option<&tokio::runtime::Handle>) -> Self {
        AffinityPool(affinitypool::Builder::new().worker_threads(threads).build())
    }

    fn spawn<F, T>(&self, f: F) -> BoxedHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Box::pin(self.0.spawn(f))
    }

    fn wait<T: Send + 'static>(handle: BoxedHandle<T>) -> impl Future<Output = T> + Send {
        handle
    }

    fn join<T: Send + 'static>(handle: BoxedHandle<T>) -> T {
        futures::executor::block_on(handle)
    }

    fn shutdown(self) {
        // Its `Drop` shuts the queue down and joins the workers.
        drop(self.0);
    }
}

/// Runs `$body` with `$S` bound to the [`Sys`] type named `$name`.
macro_rules! with_system {
    ($name:expr, $S:ident => $body:expr) => {
        match $name {
            "thread-exec" => {
                type $S = $crate::common::Te;
                $body
            }
            "te-bounded" => {
                type $S = $crate::common::TeBounded;
                $body
            }
            "te-callback" => {
                type $S = $crate::common::TeCallback;
                $body
            }
            "te-dynamic" => {
                type $S = $crate::common::TeDynamic;
                $body
            }
            "te-timings" => {
                type $S = $crate::common::TeTimings;
                $body
            }
            "te-metrics" => {
                type $S = $crate::common::TeMetrics;
                $body
            }
            "te-sharded" => {
                type $S = $crate::common::TeSharded;
                $body
            }
            "tokio" => {
                type $S = $crate::common::Tokio;
                $body
            }
            "blocking" => {
                type $S = $crate::common::Blocking;
                $body
            }
            "threadpool" => {
                type $S = $crate::common::Threadpool;
                $body
            }
            "rayon" => {
                type $S = $crate::common::Rayon;
                $body
            }
            "rusty_pool" => {
                type $S = $crate::common::RustyPool;
                $body
            }
            "affinitypool" => {
                type $S = $crate::common::AffinityPool;
                $body
            }
            other => panic!("unknown system {other:?}"),
        }
    };
}
pub(crate) use with_system;

// -------------------------------------------------------------- workloads

/// The tiny job: a multiply, kept opaque to the optimiser.
#[inline(never)]
pub fn tiny(i: u64) -> u64 {
    black_box(i).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// CPU-bound work: `iters` rounds of a xorshift chain (no memory traffic,
/// nothing the optimiser can fold).
#[inline(never)]
pub fn spin(iters: u64) -> u64 {
    let mut x = black_box(0x2545_F491_4F6C_DD1D_u64);
    for _ in 0..iters {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    black_box(x)
}

/// The number of [`spin`] rounds that take about `target` on this machine,
/// from the fastest of several timings (the least disturbed one).
pub fn calibrate_spin(target: Duration) -> u64 {
    const PROBE: u64 = 20_000;
    let fastest = (0..30)
        .map(|_| {
            let start = Instant::now();
            spin(PROBE);
            start.elapsed()
        })
        .min()
        .expect("timings");
    (PROBE as f64 * target.as_secs_f64() / fastest.as_secs_f64().max(1e-9)).round() as u64
}

// ------------------------------------------------------ measurement loops

/// Submits `jobs` tiny jobs from async code in batches of `batch`, awaiting
/// each batch's handles in order. `handles` is scratch space (reused, so
/// its growth is not measured).
pub async fn async_jobs<S: Sys>(
    sys: &S,
    jobs: usize,
    batch: usize,
    handles: &mut Vec<S::Handle<u64>>,
) -> Duration {
    let start = Instant::now();
    let mut done = 0;
    while done < jobs {
        let n = batch.min(jobs - done);
        for i in done..done + n {
            let i = i as u64;
            handles.push(sys.spawn_async(move || tiny(i)).await);
        }
        for handle in handles.drain(..) {
            black_box(S::wait(handle).await);
        }
        done += n;
    }
    start.elapsed()
}

/// As [`async_jobs`], from a plain thread, joining the handles.
pub fn join_jobs<S: Sys>(
    sys: &S,
    jobs: usize,
    batch: usize,
    handles: &mut Vec<S::Handle<u64>>,
) -> Duration {
    let start = Instant::now();
    let mut done = 0;
    while done < jobs {
        let n = batch.min(jobs - done);
        for i in done..done + n {
            let i = i as u64;
            handles.push(sys.spawn(move || tiny(i)));
        }
        for handle in handles.drain(..) {
            black_box(S::join(handle));
        }
        done += n;
    }
    start.elapsed()
}

/// The runtime of the many-submitter async scenario (`tiny_mp`): a
/// multi-thread runtime of `workers` worker threads, as a web server's,
/// whose blocking pool (tokio's `spawn_blocking`) is capped at `threads`.
pub fn mp_runtime(workers: usize, threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .max_blocking_threads(threads)
        .build()
        .expect("tokio runtime")
}

/// Many submitters from async code (`tiny_mp`, a web server's shape):
/// `tasks` tokio tasks on the multi-thread runtime `rt`, each submitting
/// `jobs_per_task` tiny jobs in batches of `batch` and awaiting each batch
/// in order. Returns the wall time from the first task's start to the last
/// one's end.
pub fn async_jobs_mp<S>(
    sys: &std::sync::Arc<S>,
    rt: &tokio::runtime::Runtime,
    tasks: usize,
    jobs_per_task: usize,
    batch: usize,
) -> Duration
where
    S: Sys + Send + Sync + 'static,
    S::Handle<u64>: Send,
{
    rt.block_on(async {
        let start = Instant::now();
        let running: Vec<_> = (0..tasks)
            .map(|_| {
                let sys = std::sync::Arc::clone(sys);
                tokio::spawn(async move {
                    let mut handles = Vec::with_capacity(batch);
                    async_jobs(&*sys, jobs_per_task, batch, &mut handles).await;
                })
            })
            .collect();
        for task in running {
            task.await.expect("a submitting task failed");
        }
        start.elapsed()
    })
}

/// Many submitters from plain threads (`join_tiny_mp`): `threads` threads,
/// released together, each submitting `jobs_per_thread` tiny jobs in
/// batches of `batch` and joining each batch in order. Returns the wall
/// time from the release to the last thread's end.
pub fn join_jobs_mp<S: Sys + Sync>(
    sys: &S,
    threads: usize,
    jobs_per_thread: usize,
    batch: usize,
) -> Duration {
    let start = std::sync::Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        let submitters: Vec<_> = (0..threads)
            .map(|_| {
                let start = &start;
                scope.spawn(move || {
                    let mut handles = Vec::with_capacity(batch);
                    start.wait();
                    join_jobs(sys, jobs_per_thread, batch, &mut handles);
                })
            })
            .collect();
        start.wait();
        let began = Instant::now();
        for submitter in submitters {
            submitter.join().expect("a submitting thread failed");
        }
        began.elapsed()
    })
}

/// One job at a time, awaited: pushes each round trip's time (ns).
pub async fn async_round_trips<S: Sys>(sys: &S, samples: usize, out: &mut Vec<u64>) {
    for i in 0..samples {
        let start = Instant::now();
        let handle = sys.spawn_async(move || tiny(i as u64)).await;
        black_box(S::wait(handle).await);
        out.push(start.elapsed().as_nanos() as u64);
    }
}

/// One job per tick, `jobs` times: submits a tiny job, awaits it, pushes its
/// round trip (ns), then waits for the next tick of `ticks`.
pub async fn paced_round_trips<S: Sys>(
    sys: &S,
    jobs: usize,
    ticks: &mut tokio::time::Interval,
    out: &mut Vec<u64>,
) {
    for i in 0..jobs {
        let start = Instant::now();
        let handle = sys.spawn_async(move || tiny(i as u64)).await;
        black_box(S::wait(handle).await);
        out.push(start.elapsed().as_nanos() as u64);
        ticks.tick().await;
    }
}

/// One job every `period` from a plain thread, `jobs` times: submits a tiny
/// job, joins it, pushes its round trip (ns), then spins until `period`
/// after the submission started. Spinning, not sleeping: a sleep this short
/// would overshoot by more than the period.
pub fn paced_join_round_trips<S: Sys>(sys: &S, jobs: usize, period: Duration, out: &mut Vec<u64>) {
    for i in 0..jobs {
        let start = Instant::now();
        let handle = sys.spawn(move || tiny(i as u64));
        black_box(S::join(handle));
        out.push(start.elapsed().as_nanos() as u64);
        let next = start + period;
        while Instant::now() < next {
            std::hint::spin_loop();
        }
    }
}

/// Runs `threads` jobs that each sleep a little, all at once, so that pools
/// that start threads on demand (tokio, blocking, a dynamic pool) have
/// started them before anything is timed.
pub fn start_threads<S: Sys>(sys: &S, threads: usize) {
    let handles: Vec<_> = (0..threads)
        .map(|_| sys.spawn(|| std::thread::sleep(Duration::from_millis(2))))
        .collect();
    for handle in handles {
        S::join(handle);
    }
}

/// Submits `jobs` copies of `job` from a plain thread and joins them all;
/// returns the wall time.
pub fn join_all<S: Sys>(sys: &S, jobs: usize, job: impl Fn() + Send + Clone + 'static) -> Duration {
    let start = Instant::now();
    let handles: Vec<_> = (0..jobs).map(|_| sys.spawn(job.clone())).collect();
    for handle in handles {
        S::join(handle);
    }
    start.elapsed()
}

/// The median of `values` (sorted in place); 0 for none.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// The `p`-th percentile (0..=100) of sorted `values`, nearest rank.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
