//! Property test: random sequences of operations, checked against a simple
//! model of what the executor promises. proptest shrinks a failure to a
//! minimal sequence. `PROPTEST_CASES=N` runs more (see RELIABILITY.md).

mod common;

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::eventually;
use proptest::prelude::*;
use thread_exec::{Executor, JobHandle};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Ok,
    Panic,
    Slow,
}

#[derive(Debug, Clone)]
enum Op {
    Spawn(Kind),
    TrySpawn(Kind),
    Cancel(usize),
    SetThreads(usize),
    ScaleUp(usize),
    ScaleDown(usize),
    Wait,
    Shutdown,
    ShutdownNow,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Ok), Just(Kind::Panic), Just(Kind::Slow)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => kind().prop_map(Op::Spawn),
        3 => kind().prop_map(Op::TrySpawn),
        3 => any::<usize>().prop_map(Op::Cancel),
        1 => (1_usize..=4).prop_map(Op::SetThreads),
        1 => (0_usize..=2).prop_map(Op::ScaleUp),
        1 => (0_usize..=3).prop_map(Op::ScaleDown),
        1 => Just(Op::Wait),
        1 => Just(Op::Shutdown),
        1 => Just(Op::ShutdownNow),
    ]
}

/// What the model expects of one accepted job.
struct Tracked {
    id: usize,
    kind: Kind,
    handle: JobHandle<(usize, Counted)>,
    cancelled: bool,
}

/// Creations and drops of [`Counted`] values.
#[derive(Default)]
struct Tally {
    created: AtomicUsize,
    dropped: AtomicUsize,
}

/// A value that counts its creation and its drop in a [`Tally`].
struct Counted(Arc<Tally>);

impl std::fmt::Debug for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Counted")
    }
}

impl Counted {
    fn new(tally: &Arc<Tally>) -> Self {
        tally.created.fetch_add(1, SeqCst);
        Counted(Arc::clone(tally))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, SeqCst);
    }
}

const MAX_QUEUE: usize = 4;
const BOUND: Duration = Duration::from_secs(20);

fn run_sequence(ops: &[Op]) -> Result<(), TestCaseError> {
    let pool = Executor::builder()
        .threads(2)
        .max_queue_size(MAX_QUEUE)
        .build()
        .unwrap();
    let mut target = 2_usize;
    let mut closed = false;
    let mut tracked: Vec<Tracked> = Vec::new();
    let runs: Arc<Vec<AtomicU8>> = Arc::new((0..ops.len()).map(|_| AtomicU8::new(0)).collect());
    let mut handed_back = 0;

    let tally = Arc::new(Tally::default());
    let job = |id: usize, kind: Kind, runs: &Arc<Vec<AtomicU8>>| {
        let runs = Arc::clone(runs);
        // Counted values in the closure's captures and in its result: every
        // one must be dropped exactly once, whatever happens to the job.
        let captured = Counted::new(&tally);
        let tally = Arc::clone(&tally);
        move || {
            let _captured = captured;
            runs[id].fetch_add(1, SeqCst);
            match kind {
                Kind::Ok => (id, Counted::new(&tally)),
                Kind::Panic => panic!("job {id} panics"),
                Kind::Slow => {
                    thread::sleep(Duration::from_millis(1));
                    (id, Counted::new(&tally))
                }
            }
        }
    };

    for (id, op) in ops.iter().enumerate() {
        match *op {
            Op::Spawn(kind) => {
                // Blocks at most until a slow job ends (the queue is bounded).
                let handle = pool.spawn(job(id, kind, &runs));
                if closed {
                    let err = handle.join().unwrap_err();
                    prop_assert!(err.is_closed(), "{err}");
                } else {
                    tracked.push(Tracked {
                        id,
                        kind,
                        handle,
                        cancelled: false,
                    });
                }
            }
            Op::TrySpawn(kind) => match pool.try_spawn(job(id, kind, &runs)) {
                Ok(handle) => {
                    prop_assert!(!closed);
                    tracked.push(Tracked {
                        id,
                        kind,
                        handle,
                        cancelled: false,
                    });
                }
                Err(err) if err.is_closed() => prop_assert!(closed),
                Err(_full) => prop_assert!(!closed),
            },
            Op::Cancel(index) => {
                if !tracked.is_empty() {
                    let index = index % tracked.len();
                    let job = &mut tracked[index];
                    if job.handle.cancel() {
                        prop_assert!(!job.cancelled, "cancelled twice");
                        job.cancelled = true;
                    }
                }
            }
            Op::SetThreads(n) => {
                let result = pool.set_threads(n);
                if closed {
                    prop_assert!(result.unwrap_err().is_closed());
                } else {
                    prop_assert_eq!(result.unwrap(), n);
                    target = n;
                }
            }
            Op::ScaleUp(n) => {
                let result = pool.scale_up(n);
                if closed {
                    prop_assert!(result.unwrap_err().is_closed());
                } else {
                    target += n;
                    prop_assert_eq!(result.unwrap(), target);
                }
            }
            Op::ScaleDown(n) => {
                let result = pool.scale_down(n);
                if !closed {
                    target = target.saturating_sub(n).max(1);
                }
                prop_assert_eq!(result, target);
            }
            Op::Wait => pool.wait(),
            Op::Shutdown => {
                pool.shutdown();
                closed = true;
            }
            Op::ShutdownNow => {
                let pending = pool.shutdown_now();
                handed_back += pending.len();
                drop(pending);
                closed = true;
            }
        }
        if !closed {
            let pool = &pool;
            eventually(BOUND, "thread count converges to the target", || {
                pool.stats().threads == target
            });
        }
    }

    pool.shutdown();
    let stats = pool.stats();
    prop_assert_eq!((stats.threads, stats.queued, stats.running), (0, 0, 0));

    let mut ran = 0;
    let mut cancelled = 0;
    let mut cancelled_outcomes = 0;
    for job in tracked.iter() {
        let count = runs[job.id].load(SeqCst);
        prop_assert!(count <= 1, "job {} ran {} times", job.id, count);
        ran += usize::from(count);
        cancelled += usize::from(job.cancelled);
    }
    let accepted = tracked.len();
    for job in tracked {
        let count = runs[job.id].load(SeqCst);
        let (id, kind, was_cancelled) = (job.id, job.kind, job.cancelled);
        let outcome = job.handle.join();
        match outcome {
            Ok((value, _counted)) => {
                prop_assert_eq!(value, id);
                prop_assert!(kind != Kind::Panic && count == 1 && !was_cancelled);
            }
            Err(err) if err.is_panic() => {
                prop_assert!(kind == Kind::Panic && count == 1 && !was_cancelled);
            }
            Err(err) => {
                prop_assert!(err.is_cancelled(), "{}", err);
                prop_assert_eq!(count, 0);
                cancelled_outcomes += 1;
            }
        }
    }
    prop_assert_eq!(
        accepted,
        ran + cancelled + handed_back,
        "accepted = ran + cancelled + handed back"
    );
    prop_assert_eq!(cancelled_outcomes, cancelled + handed_back);
    prop_assert_eq!(stats.cancelled, cancelled as u64);
    prop_assert_eq!(stats.completed + stats.panicked, ran as u64);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_operation_sequences_match_the_model(ops in proptest::collection::vec(op(), 1..30)) {
        common::quiet_worker_panics();
        // A hang fails the case (and proptest shrinks it) instead of CI.
        common::within(Duration::from_secs(60), "operation sequence", move || run_sequence(&ops))?;
    }
}
