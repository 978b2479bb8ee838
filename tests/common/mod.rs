//! Helpers shared by the integration tests: bounded waits, so that a bug
//! fails a test instead of hanging CI, and an OS thread counter.
#![allow(dead_code)] // each test binary uses a different subset

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Counts its drops: captured by a closure (or returned by a job), it shows
/// whether, and how often, the closure (or the output) was dropped.
pub struct Tracked(pub std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The bound for one test's waits. Generous: CI's 2 cores may be loaded.
pub const LIMIT: Duration = Duration::from_secs(30);

/// Runs `f` on a watchdog thread; panics (failing the test) if it has not
/// returned within `limit`. A panic inside `f` is propagated.
pub fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name(format!("watchdog: {what}"))
        .spawn(move || {
            let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
        })
        .expect("spawn watchdog thread");
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => resume_unwind(payload),
        Err(_) => panic!("{what}: did not finish within {limit:?} (hang?)"),
    }
}

/// Waits until `condition` holds, re-checking every millisecond; panics with
/// `what` if it does not hold within `limit`. For conditions with no event
/// to wait on (an OS thread count, a counter another thread converges).
pub fn eventually(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "{what}: not reached within {limit:?}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// Awaits `future` under a tokio timeout; panics on expiry.
pub async fn timeout<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(LIMIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: did not finish within {LIMIT:?} (hang?)"),
    }
}

/// The number of OS threads in this process (Linux: `/proc/self/task`).
pub fn os_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .count()
}

/// A gate that jobs block on until the test opens it.
pub struct Gate {
    open: std::sync::Mutex<bool>,
    cv: std::sync::Condvar,
}

impl Gate {
    pub fn new() -> std::sync::Arc<Gate> {
        std::sync::Arc::new(Gate {
            open: std::sync::Mutex::new(false),
            cv: std::sync::Condvar::new(),
        })
    }

    /// Blocks until opened (bounded by `LIMIT`, then panics).
    pub fn wait(&self) {
        let guard = self.open.lock().unwrap();
        let (guard, result) = self
            .cv
            .wait_timeout_while(guard, LIMIT, |open| !*open)
            .unwrap();
        drop(guard);
        assert!(!result.timed_out(), "gate never opened");
    }

    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

/// Occupies every one of `threads` workers with a job that waits on the
/// returned gate; returns once all of them are running.
pub fn occupy(
    pool: &thread_exec::Executor,
    threads: usize,
) -> (std::sync::Arc<Gate>, Vec<thread_exec::JobHandle<()>>) {
    let gate = Gate::new();
    let (started_tx, started) = mpsc::channel();
    let handles = (0..threads)
        .map(|_| {
            let gate = std::sync::Arc::clone(&gate);
            let started_tx = started_tx.clone();
            pool.spawn(move || {
                started_tx.send(()).unwrap();
                gate.wait();
            })
        })
        .collect();
    for _ in 0..threads {
        started
            .recv_timeout(LIMIT)
            .expect("blocker jobs did not start");
    }
    (gate, handles)
}

/// Opens the gate that `occupy`'s blockers wait on and joins them.
pub fn release(gate: &Gate, blockers: Vec<thread_exec::JobHandle<()>>) {
    gate.open();
    for blocker in blockers {
        blocker.join().expect("a blocker job failed");
    }
}

/// Silences the default panic message for panics on the pool's worker
/// threads (named `thread-exec-N` by default): the tests provoke
/// thousands of job panics on purpose, and with `RUST_BACKTRACE=1` each
/// would print a backtrace. Panics on any other thread (a failing assertion)
/// still print as usual. Idempotent.
pub fn quiet_worker_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_worker = thread::current()
                .name()
                .is_some_and(|name| name.starts_with("thread-exec-"));
            if !on_worker {
                default(info);
            }
        }));
    });
}

/// Proves `n` workers are alive and free: `n` jobs that rendezvous on a
/// barrier complete only if `n` workers run them at once.
pub fn rendezvous(pool: &thread_exec::Executor, n: usize) {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let barrier = std::sync::Arc::clone(&barrier);
            pool.spawn(move || {
                barrier.wait();
            })
        })
        .collect();
    within(LIMIT, "rendezvous of every worker", move || {
        for handle in handles {
            handle.join().unwrap();
        }
    });
}

/// Tiny xorshift PRNG, so the tests need no extra dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// Submits `jobs` jobs (every fourth sleeping 50 µs) from a watchdog thread;
/// job `i` counts its runs in `runs[i]`, which must each end at exactly 1.
/// Returns the pool once every job is submitted.
pub fn submit_counted(
    pool: thread_exec::Executor,
    runs: &std::sync::Arc<Vec<std::sync::atomic::AtomicU8>>,
    jobs: usize,
) -> thread_exec::Executor {
    let runs = std::sync::Arc::clone(runs);
    within(LIMIT, "submit under resizing", move || {
        for i in 0..jobs {
            let runs = std::sync::Arc::clone(&runs);
            pool.spawn(move || {
                if i % 4 == 0 {
                    thread::sleep(Duration::from_micros(50));
                }
                runs[i].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        pool
    })
}
