//! A tracing subscriber is user code that runs wherever the pool logs: on a
//! worker between jobs, and inside a job's run. One that panics must not
//! strand a job nor leave the pool below strength. Its own test binary: it
//! installs a global subscriber.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use common::{within, LIMIT};
use thread_exec::Executor;
use tracing::{Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Panic once at the next debug event of the worker module on a thread of
/// the pool named `lost` ("worker started", before its loop).
static ARM_WORKER_EVENT: AtomicBool = AtomicBool::new(false);
/// Panic once at the next "job panicked" warning (inside a job's run).
static ARM_JOB_WARNING: AtomicBool = AtomicBool::new(false);

struct Saboteur;

impl<S: Subscriber> Layer<S> for Saboteur {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        let on_lost_pool = std::thread::current()
            .name()
            .is_some_and(|name| name.starts_with("lost-"));
        if meta.target() == "thread_exec::worker"
            && *meta.level() == Level::DEBUG
            && on_lost_pool
            && ARM_WORKER_EVENT.swap(false, SeqCst)
        {
            panic!("the subscriber fails on a worker event");
        }
        if meta.target() == "thread_exec::slot"
            && *meta.level() == Level::WARN
            && ARM_JOB_WARNING.swap(false, SeqCst)
        {
            panic!("the subscriber fails on a job's panic");
        }
    }
}

fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(Saboteur);
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        common::quiet_worker_panics();
    });
}

/// A worker whose main function unwound (here: the subscriber panicked on
/// its "worker started" event) was gone for good: a fixed pool ran below
/// strength forever, and `on_thread_stop` never ran for it. It is replaced,
/// and says goodbye.
#[test]
fn a_worker_lost_to_a_subscriber_panic_is_replaced() {
    install();
    within(LIMIT, "lost worker replaced", || {
        let stops = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&stops);
        ARM_WORKER_EVENT.store(true, SeqCst);
        let pool = Executor::builder()
            .threads(2)
            .thread_name("lost")
            .on_thread_stop(move || {
                counter.fetch_add(1, SeqCst);
            })
            .build()
            .unwrap();
        common::eventually(LIMIT, "the lost worker's stop hook", || {
            stops.load(SeqCst) == 1
        });
        assert!(!ARM_WORKER_EVENT.load(SeqCst), "a worker met the saboteur");
        // Two workers serve at once: the lost one was replaced.
        common::rendezvous(&pool, 2);
        assert_eq!(pool.stats().threads, 2);
        pool.shutdown();
        assert_eq!(stops.load(SeqCst), 3, "two workers stopped, one was lost");
    });
}

/// A subscriber that panics while the pool reports a job's panic: the job
/// still settles (as panicked) and its worker lives on.
#[test]
fn a_subscriber_panic_while_reporting_a_job_panic_settles_the_job() {
    install();
    within(LIMIT, "job settles", || {
        let pool = Executor::new(1);
        ARM_JOB_WARNING.store(true, SeqCst);
        let failed = pool.spawn(|| -> u32 { panic!("the job fails") });
        assert!(failed.join().unwrap_err().is_panic());
        assert!(!ARM_JOB_WARNING.load(SeqCst), "the report met the saboteur");
        assert_eq!(pool.spawn(|| 7).join().unwrap(), 7);
        assert_eq!(pool.stats().threads, 1);
        pool.shutdown();
    });
}
