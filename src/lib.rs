//! The Rust thread-executor: a pool of OS threads for blocking work, built
//! to be called from async code and from plain threads alike.
//!
//! Async services still have to call blocking code: file systems, CPU-heavy
//! hashing or compression, synchronous client libraries. `thread-exec`
//! runs that work on a pool of threads you size, bound and observe, and
//! hands back a [`JobHandle`] for every job that is a [`Future`](std::future::Future) (so
//! `pool.spawn(job).await` works under tokio, smol or any executor, with no
//! runtime required) and can also be [joined](JobHandle::join) from a plain
//! thread or given a completion callback.
//!
//! What it promises:
//!
//! - a job or callback that panics is caught: its handle reports the panic,
//!   the worker thread lives on, and `wait` cannot hang on it;
//! - a full bounded queue need not block: [`try_spawn`](Executor::try_spawn)
//!   sheds load and [`spawn_async`](Executor::spawn_async) waits without
//!   blocking the runtime;
//! - stopping loses nothing: [`shutdown`](Executor::shutdown) runs every
//!   accepted job, and [`shutdown_now`](Executor::shutdown_now) hands the
//!   unstarted ones back as [`PendingJob`]s;
//! - a service stops within a deadline: [`close`](Executor::close) refuses
//!   new work while accepted jobs go on, and
//!   [`drain_async`](Executor::drain_async) waits for them until the
//!   deadline, then hands back what has not started and reports what still
//!   runs ([`DrainReport`]);
//! - the pool grows and shrinks at run time, and a scale-down takes effect
//!   promptly instead of after the queue drains.
//!
//! # Examples
//!
//! ```
//! use thread_exec::{Executor, Job};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = Executor::new(4);
//!
//! // Offload from async code.
//! let checksum = pool.spawn(|| (0..1_000_u64).sum::<u64>()).await?;
//! assert_eq!(checksum, 499_500);
//!
//! // A Job with a callback, then wait for everything.
//! pool.spawn(Job::new(|| vec![1, 2, 3]).callback(|result| println!("{result:?}")));
//! pool.wait();
//!
//! // Grow and shrink at run time.
//! pool.scale_up(2)?;
//! pool.scale_down(3);
//! pool.shutdown();
//! # Ok(())
//! # }
//! ```
//!
//! # Which call
//!
//! Every submitting call takes a closure or a whole [`Job`] ([`IntoJob`]);
//! the call says what happens when a bounded queue is full and when what
//! it returns is dropped (see [`Executor::spawn`] for the table):
//! [`spawn`](Executor::spawn) waits, [`try_spawn`](Executor::try_spawn)
//! refuses, [`spawn_async`](Executor::spawn_async) awaits room, and their
//! handles detach when dropped; [`run`](Executor::run) (awaits room) and
//! [`try_run`](Executor::try_run) (refuses) return futures that cancel the
//! job when dropped after being polled. [`send`](Executor::send) is
//! `spawn` under the Python package's name.
//!
//! # Blocking calls in async code
//!
//! The calls that wait on the calling thread have a `# Blocking` section
//! saying when they block and which call to use from async code instead:
//! [`JobHandle::join`] (`.await` the handle), [`Executor::wait`]
//! ([`wait_async`](Executor::wait_async)), [`Executor::shutdown`]
//! ([`shutdown_async`](Executor::shutdown_async)),
//! [`Executor::drain`] ([`drain_async`](Executor::drain_async)),
//! [`Executor::spawn`] on a full bounded queue
//! ([`spawn_async`](Executor::spawn_async), [`try_spawn`](Executor::try_spawn)),
//! and [`Executor::scope`] (a blocking context only). They do not check
//! whether the calling thread drives an async runtime, as tokio's
//! `block_on` does: tokio tells its runtime's own threads apart with state
//! of its own, and what its public API offers (`Handle::try_current`) holds
//! on `spawn_blocking`'s threads too, where blocking is right, so a check
//! on it would refuse correct code.
//!
//! # In a web handler
//!
//! A handler that must call blocking code should shed load when the pool is
//! saturated, stop work for clients that have gone, and skip work that
//! waited too long. [`Executor::try_run`] does all three: it queues the job
//! only if the bounded queue has room (else the error answers "busy"), and
//! its future cancels the job if it is dropped, as a web framework drops a
//! handler whose client disconnected. A pool-wide
//! [`queue_timeout`](Builder::queue_timeout) (or a per-job
//! [`deadline`](Job::deadline)) expires jobs that did not start in time:
//! set it to the client's timeout, and the pool sheds, under overload, the
//! work that would answer too late (see [Under overload](#under-overload)).
//!
//! ```
//! use std::time::Duration;
//! use thread_exec::{Executor, JobError};
//!
//! async fn digest(pool: &Executor, body: Vec<u8>) -> Result<u64, JobError> {
//!     pool.try_run(move || body.iter().map(|&b| u64::from(b)).sum())?.await
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = Executor::builder()
//!     .threads(2)
//!     .max_queue_size(1_024)
//!     .queue_timeout(Duration::from_millis(200)) // the clients' timeout
//!     .build()?;
//! assert_eq!(digest(&pool, vec![1, 2, 3]).await?, 6);
//! # Ok(())
//! # }
//! ```
//!
//! With the `axum` feature, [`JobError`], [`TrySpawnError`] and
//! [`SpawnError`] implement axum's `IntoResponse`, so such a handler
//! returns `Result<_, JobError>` directly:
//!
//! | error | status |
//! | --- | --- |
//! | queue full ([`JobError::is_full`]), shed under overload ([`JobError::is_shed`]) | 503 with `Retry-After: 1` |
//! | shut down or [closed](Executor::close) | 503 with `Retry-After: 1` |
//! | queue deadline passed, cancelled | 503 |
//! | the job panicked | 500, without the panic's message (it stays in `tracing` and [`Builder::on_panic`]) |
//!
//! `examples/web_bridge.rs` is a whole axum service built this way, and
//! measures it under overload against the same service on
//! `tokio::task::spawn_blocking`.
//!
//! # The global pool
//!
//! For code that just needs blocking work off the runtime, as
//! `tokio::task::spawn_blocking` gives it, the free functions
//! [`spawn`], [`try_spawn`], [`spawn_async`], [`run`], [`try_run`],
//! [`wait`] and [`wait_async`] use a pool built on first use
//! ([`global`]): elastic and sized for blocking I/O as tokio's blocking
//! pool is (no thread until needed, up to 512, 10 s keep-alive, unbounded
//! queue). Configure it once, before its first use, with
//! [`Builder::build_global`].
//!
//! ```
//! # futures::executor::block_on(async {
//! let len = thread_exec::spawn(|| std::fs::read_to_string("Cargo.toml").map(|s| s.len())).await;
//! assert!(len.unwrap().unwrap() > 0);
//! # });
//! ```
//!
//! # Under overload
//!
//! A queue that stays full under sustained overload makes every job wait
//! almost its whole deadline, so the pool stays busy and answers nobody in
//! time. This pool tells a standing queue from a burst as CoDel does: if
//! even the shortest queue wait of a whole interval (100 ms) stayed above
//! a target (5 ms) and the queue did not shrink, it is *overloaded*, and
//! until that ends it settles unrun the jobs that waited past their slough
//! time (a fifth of their budget, for `Normal` jobs with a budget) or
//! would miss their deadline, and refuses at once the submissions that
//! would only wait to be shed ([`JobError::is_shed`],
//! [`TrySpawnError::is_overloaded`]).
//! Only jobs that may be shed take part: those with a queue deadline and
//! those from [`Executor::try_run`]. A burst that drains is never shed, and
//! a pool whose jobs have no deadline behaves as a plain FIFO.
//! [`Builder::overload_control`] has the rule and its numbers;
//! [`Stats::shed`], [`Stats::overloaded`] and [`Stats::load`] show it at
//! work. What to set: the queue bound your memory allows for bursts, and
//! the queue timeout your client waits.
//!
//! ```
//! use std::time::Duration;
//! use thread_exec::Executor;
//!
//! let pool = Executor::builder()
//!     .threads(2)
//!     .max_queue_size(1_024)
//!     .queue_timeout(Duration::from_millis(200))
//!     .build()?;
//! let stats = pool.stats();
//! assert!(!stats.overloaded && stats.shed.total() == 0);
//! # Ok::<(), thread_exec::BuildError>(())
//! ```
//!
//! # Priorities and scoped jobs
//!
//! [`Job::priority`] puts a job in one of three lanes ([`Priority`]):
//! workers take the next job from the highest lane that has one, so
//! background work queued behind a burst of requests waits for them. And
//! [`Executor::scope`] runs jobs that borrow from the caller, as
//! [`std::thread::scope`] does with threads, returning once all of them
//! have finished.
//!
//! ```
//! use thread_exec::{Executor, Job, Priority};
//!
//! let pool = Executor::new(2);
//! let rebuild = pool.spawn(Job::new(|| "index rebuilt").priority(Priority::Low));
//! let lines = ["a b", "c d e"];
//! let words: usize = pool.scope(|s| {
//!     let counts: Vec<_> = lines
//!         .iter()
//!         .map(|line| s.spawn(move || line.split(' ').count()))
//!         .collect();
//!     counts.into_iter().map(|count| count.join().unwrap()).sum()
//! });
//! assert_eq!(words, 5);
//! assert_eq!(rebuild.join().unwrap(), "index rebuilt");
//! ```
//!
//! # Migrating from the Python package
//!
//! This crate began as the Python package `thread-executor` and keeps its
//! names: [`Executor`], [`Job`], [`send`](Executor::send),
//! [`wait`](Executor::wait), [`scale_up`](Executor::scale_up),
//! [`scale_down`](Executor::scale_down); `max_queue_size` with 0 meaning
//! unbounded. A `Job`'s arguments are its closure's captures, its
//! `callback` is [`Job::callback`], and `block=True` is
//! `executor.send(job).join()`. `scale_up(n)` and `scale_down(n)` take the
//! change in threads; [`set_threads`](Executor::set_threads) takes the
//! total. The README has the full table.
//!
//! # Observability
//!
//! [`Executor::stats`] counts jobs completed, panicked, cancelled, expired
//! and rejected; a pool built with
//! [`record_timings(true)`](Builder::record_timings) also answers how long
//! jobs waited in the queue and how long they ran
//! ([`Stats::queue_wait`], [`Stats::run_time`]: [`Timings`] with
//! quantiles within 3.2 %). With the `metrics` feature,
//! `Executor::publish_metrics` publishes all of it through the `metrics`
//! facade to whatever recorder the application installed.
//!
//! ```
//! let pool = thread_exec::Executor::builder().threads(2).record_timings(true).build()?;
//! pool.spawn(|| ());
//! pool.wait();
//! let stats = pool.stats();
//! println!("p99 wait {:?}, p99 run {:?}", stats.queue_wait.quantile(0.99), stats.run_time.quantile(0.99));
//! # Ok::<(), thread_exec::BuildError>(())
//! ```
//!
//! # Tracing
//!
//! Worker starts and stops (with the reason), job panics and callback panics
//! are `tracing` events. Each job runs inside a `thread_exec::job` span
//! whose parent is the span current where it was submitted, so a request's
//! span follows its blocking work onto the worker.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

// The layers, bottom up; a module uses only those below it (and `executor`
// and `builder` each other):
//   sync, error, timings -> panic -> event, job -> slot -> queue, registry,
//   overload -> state
//   -> worker -> scaling, shutdown, stats -> drain, metrics -> handle -> submit
//   -> executor, builder -> scope, global
// (`slot::scoped` holds only the lifetime erasure of scoped jobs and its
// invariant; `scope` adds `Executor::scope` in an `impl` block of its own.)
mod builder;
mod drain;
mod error;
mod event;
mod executor;
mod global;
mod handle;
mod job;
#[cfg(feature = "metrics")]
mod metrics;
mod overload;
mod panic;
mod queue;
mod registry;
#[cfg(feature = "axum")]
mod response;
mod scaling;
mod scope;
mod shutdown;
mod slot;
mod state;
mod stats;
mod submit;
mod sync;
mod timings;
mod worker;

pub use builder::{Builder, DEFAULT_KEEP_ALIVE, DEFAULT_MAX_SPIN, MAX_THREADS, MIN_STACK_SIZE};
pub use drain::{DrainAsync, DrainReport};
pub use error::{BuildError, JobError, ScaleError, ShedReason, SpawnError, TrySpawnError};
pub use executor::{Executor, WaitAsync, WeakExecutor};
pub use global::{
    global, run, spawn, spawn_async, try_run, try_spawn, wait, wait_async, GLOBAL_MAX_THREADS,
};
pub use handle::{is_cancelled, JobHandle};
pub use job::{Callback, IntoJob, Job, NoCallback, Priority};
pub use overload::OverloadControl;
pub use panic::JobPanic;
/// The queue alone, for the loom models of its sharded protocol
/// (`tests/loom.rs`); only in loom builds.
#[cfg(thread_exec_loom)]
#[doc(hidden)]
pub use queue::ModelQueue as __ModelQueue;
pub use scope::{Scope, ScopedJoinHandle};
pub use shutdown::{PendingJob, ShutdownAsync};
pub use stats::{Shed, Stats};
pub use submit::{Run, SendAsync, SpawnAsync, TryRun};
pub use timings::Timings;

/// The README's examples, compiled and run as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
