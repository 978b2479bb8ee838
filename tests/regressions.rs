//! Regression tests for defects found by adversarial testing, each named
//! after the bug, with its cause in a comment. Every wait is bounded: a
//! regression fails the test instead of hanging CI.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::{occupy, within, LIMIT};
use thread_exec::{Executor, Job};

/// Counts `on_thread_stop` calls.
fn stop_counter() -> (Arc<AtomicUsize>, impl Fn() + Send + Sync + 'static) {
    let stops = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&stops);
    (stops, move || {
        counter.fetch_add(1, SeqCst);
    })
}

/// `Instant::now() + keep_alive` in the idle wait overflowed for
/// `Duration::MAX`: three of four workers died mid-loop, their idle count was
/// never taken back (`stats()` showed more idle threads than threads), the
/// pool never grew again and `on_thread_stop` never ran for them. A
/// keep-alive past what `Instant` can represent now means "never expire".
#[test]
fn keep_alive_duration_max_neither_kills_workers_nor_skews_idle() {
    within(LIMIT, "keep_alive(Duration::MAX)", || {
        let (stops, on_stop) = stop_counter();
        let pool = Executor::builder()
            .min_threads(1)
            .max_threads(4)
            .keep_alive(Duration::MAX)
            .on_thread_stop(on_stop)
            .build()
            .unwrap();
        // Grow to four threads, then let all of them go idle.
        let (gate, busy) = occupy(&pool, 4);
        common::release(&gate, busy);
        pool.wait();
        common::eventually(LIMIT, "four idle workers", || {
            let stats = pool.stats();
            stats.threads == 4 && stats.idle_threads == 4
        });
        // All four still serve: four jobs meet at a barrier.
        common::rendezvous(&pool, 4);
        let stats = pool.stats();
        assert!(stats.idle_threads <= stats.threads, "{stats:?}");
        pool.shutdown();
        assert_eq!(stops.load(SeqCst), 4);
    });
}

/// `shutdown_timeout(Duration::MAX)` panicked on the same overflow; it now
/// waits as `shutdown` does.
#[test]
fn shutdown_timeout_duration_max_waits_instead_of_panicking() {
    within(LIMIT, "shutdown_timeout(Duration::MAX)", || {
        let pool = Executor::new(2);
        let handle = pool.spawn(|| 5);
        assert!(pool.shutdown_timeout(Duration::MAX));
        assert_eq!(handle.join().unwrap(), 5);
        assert!(pool.shutdown_timeout(Duration::ZERO));
    });
}

/// A NUL byte in the thread name made `std::thread::Builder::spawn` panic:
/// a fixed pool's `build()` panicked, and a `min_threads(0)` pool built, then
/// its first `spawn` panicked after the thread counts were reserved, leaving
/// a phantom thread and a queued job that `wait()` and `shutdown()` waited
/// for forever. The name is checked by `build()`.
#[test]
fn nul_in_thread_name_is_a_build_error_for_every_pool() {
    for builder in [
        Executor::builder().threads(2),
        Executor::builder().min_threads(0).max_threads(2),
    ] {
        let err = builder.thread_name("bad\0name").build().unwrap_err();
        assert!(err.to_string().contains("NUL"), "{err}");
    }
}

/// A payload whose destructor panics, thrown by `on_thread_start`: the
/// hook's panic was caught, but its payload was dropped plainly, so the
/// second panic unwound out of the worker and killed every thread
/// (`join()` and `shutdown()` then hung).
#[test]
fn a_hook_panic_whose_payload_panics_on_drop_keeps_every_worker() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("payload destructor");
        }
    }
    common::quiet_worker_panics();
    within(LIMIT, "hook payload that panics on drop", || {
        let pool = Executor::builder()
            .threads(2)
            .on_thread_start(|| std::panic::panic_any(Bomb))
            .on_thread_stop(|| std::panic::panic_any(Bomb))
            .build()
            .unwrap();
        common::rendezvous(&pool, 2);
        assert_eq!(pool.stats().threads, 2);
        pool.shutdown();
    });
}

thread_local! {
    /// Set on the workers of the concurrent-shutdown test: its destructor
    /// runs after the worker's main function returned, and takes a while,
    /// so a thread that no longer counts as alive has not finished yet.
    static SLOW_EXIT: std::cell::RefCell<Option<SlowExit>> = const { std::cell::RefCell::new(None) };
}

/// Counts, after a pause, that its thread is finishing.
struct SlowExit(Arc<AtomicUsize>);

impl Drop for SlowExit {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(30));
        self.0.fetch_add(1, SeqCst);
    }
}

/// Two threads calling `shutdown()` at once: the first took every join
/// handle, the second found none and returned as soon as no worker was
/// alive, before any worker had been joined (its thread could still be
/// running thread-local destructors). Joins now happen under one lock that
/// every `shutdown` passes through.
#[test]
fn concurrent_shutdowns_each_return_after_the_workers_are_joined() {
    for _ in 0..5 {
        let finished = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&finished);
        let pool = Executor::builder()
            .threads(2)
            .on_thread_start(move || {
                let exit = SlowExit(Arc::clone(&counter));
                SLOW_EXIT.with(|slot| *slot.borrow_mut() = Some(exit));
            })
            .build()
            .unwrap();
        common::rendezvous(&pool, 2);
        let (done_tx, done) = mpsc::channel();
        for _ in 0..2 {
            let pool = pool.clone();
            let done_tx = done_tx.clone();
            let finished = Arc::clone(&finished);
            std::thread::spawn(move || {
                pool.shutdown();
                done_tx.send(finished.load(SeqCst)).unwrap();
            });
        }
        for _ in 0..2 {
            let threads_finished = done.recv_timeout(LIMIT).expect("shutdown hung");
            assert_eq!(
                threads_finished, 2,
                "a shutdown returned before its workers were joined"
            );
        }
    }
}

/// A dynamic pool's growth compared `queued > idle`, and a thread that had
/// been started but not yet reached its loop counted as neither idle nor
/// busy: `scale_up(1000)` with two busy workers and one queued job started
/// 80-108 threads. A thread now counts as idle from its reservation on.
#[test]
fn scale_up_starts_one_thread_for_one_queued_job() {
    within(LIMIT, "scale_up with a backlog of one", || {
        let pool = Executor::builder()
            .min_threads(1)
            .max_threads(2)
            .build()
            .unwrap();
        let (gate, busy) = occupy(&pool, 2);
        let queued = pool.spawn(|| 1);
        assert_eq!(pool.stats().threads, 2);
        assert_eq!(pool.scale_up(1000).unwrap(), 1002);
        assert_eq!(queued.join().unwrap(), 1);
        let threads = pool.stats().threads;
        assert_eq!(threads, 3, "one queued job needs one more thread");
        common::release(&gate, busy);
        pool.shutdown();
    });
}

/// A dynamic pool that cannot start a thread cancels its stranded jobs; it
/// did so holding its scaling lock, running their callbacks and closures'
/// destructors under it, so a callback that submitted again (to retry) or a
/// destructor that scaled the pool deadlocked the submitter.
#[test]
fn stranded_jobs_are_cancelled_outside_the_scaling_lock() {
    /// An absurd stack size makes the OS refuse the thread.
    const ABSURD_STACK: usize = 1 << 46;
    struct ScalesOnDrop(Executor);
    impl Drop for ScalesOnDrop {
        fn drop(&mut self) {
            let _ = self.0.scale_up(1);
        }
    }
    within(LIMIT, "user code of cancelled jobs uses the pool", || {
        let pool = Executor::builder()
            .min_threads(0)
            .max_threads(2)
            .stack_size(ABSURD_STACK)
            .build()
            .unwrap();
        let retry = pool.clone();
        let (retried_tx, retried) = mpsc::channel();
        let guard = ScalesOnDrop(pool.clone());
        let handle = pool.send(
            Job::new(move || {
                let _guard = guard;
            })
            .callback(move |result| {
                assert!(result.as_ref().unwrap_err().is_cancelled());
                let again = retry.spawn(|| ());
                retried_tx.send(again.join().is_err()).unwrap();
            }),
        );
        assert!(handle.join().unwrap_err().is_cancelled());
        assert!(
            retried.recv_timeout(LIMIT).unwrap(),
            "the retry was cancelled too"
        );
        pool.shutdown();
    });
}

/// A runtime waker whose `wake` panics.
struct PanickingWaker;

impl std::task::Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("the runtime's waker fails");
    }
}

/// Polls `future` once with a waker that panics when woken.
fn poll_with_panicking_waker<F: std::future::Future + Unpin>(future: &mut F) -> bool {
    let waker = std::task::Waker::from(Arc::new(PanickingWaker));
    let mut cx = std::task::Context::from_waker(&waker);
    std::pin::Pin::new(future).poll(&mut cx).is_pending()
}

/// A waker of one of the pool's own waiters (`spawn_async` waiting for room,
/// `wait_async`, `shutdown_async`) runs on the worker that frees room or
/// settles the last job; one that panicked there was not caught: with a
/// pending `spawn_async` it fired after the next job was claimed and before
/// it ran, so the worker died, the job never settled and `wait()` hung.
#[test]
fn a_panicking_waker_of_a_pool_waiter_neither_kills_a_worker_nor_strands_a_job() {
    common::quiet_worker_panics();
    within(LIMIT, "panicking wakers", || {
        let pool = Executor::builder()
            .threads(1)
            .max_queue_size(1)
            .build()
            .unwrap();
        let (gate, busy) = occupy(&pool, 1);
        let queued = pool.try_spawn(|| 1).unwrap();
        let mut room = pool.spawn_async(|| 2);
        assert!(poll_with_panicking_waker(&mut room), "the queue is full");
        let mut finished = pool.wait_async();
        assert!(poll_with_panicking_waker(&mut finished));
        common::release(&gate, busy);
        assert_eq!(queued.join().unwrap(), 1);
        pool.wait();
        assert_eq!(pool.stats().threads, 1);
        // The waiter's future still completes when polled again.
        let handle = futures::executor::block_on(room).unwrap();
        assert_eq!(handle.join().unwrap(), 2);
        let mut exited = pool.shutdown_async();
        let _ = poll_with_panicking_waker(&mut exited);
        pool.shutdown();
        assert_eq!(pool.stats().completed, 3);
    });
}

/// `join` of a job queued behind the calling job, on a one-thread pool:
/// nothing else could ever run it, so it deadlocked silently. The caller's
/// worker now runs the pool's queued jobs while it waits.
#[test]
fn join_of_a_job_queued_behind_the_caller_on_a_one_thread_pool_finishes() {
    within(LIMIT, "nested join", || {
        let pool = Executor::new(1);
        let inner = pool.clone();
        let outer = pool.spawn(move || {
            let behind = inner.spawn(|| 20);
            behind.join().unwrap() + 1
        });
        assert_eq!(outer.join().unwrap(), 21);
        pool.shutdown();
    });
}

/// A blocking `spawn` from the pool's own jobs on its own full bounded
/// queue: with every worker doing it, no worker was left to make room. A
/// blocked worker now runs queued jobs itself.
#[test]
fn blocking_spawns_from_every_worker_on_their_own_full_queue_make_progress() {
    within(LIMIT, "nested blocking spawn", || {
        let pool = Executor::builder()
            .threads(2)
            .max_queue_size(1)
            .build()
            .unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let parents: Vec<_> = (0..2)
            .map(|_| {
                let inner = pool.clone();
                let ran = Arc::clone(&ran);
                pool.spawn(move || {
                    for _ in 0..20 {
                        let ran = Arc::clone(&ran);
                        inner.spawn(move || {
                            ran.fetch_add(1, SeqCst);
                        });
                    }
                })
            })
            .collect();
        for parent in parents {
            parent.join().unwrap();
        }
        pool.wait();
        assert_eq!(ran.load(SeqCst), 40);
        pool.shutdown();
    });
}

/// `block_on(wait_async())` and `block_on(shutdown_async())` inside one of
/// the pool's jobs waited for that very job forever, silently, while their
/// blocking twins panicked with an explanation. They panic the same way.
#[test]
fn driving_wait_async_or_shutdown_async_inside_a_job_panics_instead_of_hanging() {
    common::quiet_worker_panics();
    within(LIMIT, "async waits inside a job", || {
        let pool = Executor::new(1);
        let inner = pool.clone();
        let waited = pool.spawn(move || futures::executor::block_on(inner.wait_async()));
        let err = waited.join().unwrap_err();
        assert!(err.to_string().contains("wait_async"), "{err}");
        let inner = pool.clone();
        let shut = pool.spawn(move || futures::executor::block_on(inner.shutdown_async()));
        let err = shut.join().unwrap_err();
        assert!(err.to_string().contains("shutdown_async"), "{err}");
        pool.shutdown();
    });
}

/// `JobHandle::join` used `futures::executor::block_on`, which panics when
/// nested: joining an unfinished job inside a `block_on` future failed.
#[test]
fn join_inside_a_block_on_future_works() {
    within(LIMIT, "join inside block_on", || {
        let pool = Executor::new(1);
        let (gate, busy) = occupy(&pool, 1);
        let handle = pool.spawn(|| 3);
        let opener = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            common::release(&gate, busy);
        });
        let value = futures::executor::block_on(async move { handle.join().unwrap() });
        assert_eq!(value, 3);
        opener.join().unwrap();
    });
}

/// The job slot was built on the submitting thread's stack and then boxed:
/// a job with a 4 MiB output overflowed a small submitter stack in debug
/// builds. It is written in place on the heap.
#[test]
fn a_job_with_a_large_output_does_not_overflow_the_submitters_stack() {
    const SIZE: usize = 4 << 20;
    within(LIMIT, "large output", || {
        let pool = Executor::builder()
            .threads(1)
            .stack_size(16 * SIZE)
            .build()
            .unwrap();
        let (seen_tx, seen) = mpsc::channel();
        let submitter = {
            let pool = pool.clone();
            std::thread::Builder::new()
                .stack_size(1 << 20)
                .spawn(move || {
                    pool.spawn(|| [7_u8; SIZE]).on_complete(move |result| {
                        let output = result.as_ref().unwrap();
                        seen_tx.send(output[SIZE - 1]).unwrap();
                    });
                })
                .unwrap()
        };
        submitter.join().expect("the submitter's stack held");
        assert_eq!(seen.recv_timeout(LIMIT).unwrap(), 7);
        pool.shutdown();
    });
}

/// `threads(0).max_threads(4)` built a min-0 dynamic pool though `threads(0)`
/// is documented to fail, and `threads(8).max_threads(2)` silently built two
/// threads. Both are build errors.
#[test]
fn contradictory_thread_settings_are_build_errors() {
    let zero = Executor::builder().threads(0).max_threads(4).build();
    assert_eq!(
        zero.unwrap_err().to_string(),
        "a pool needs at least one thread"
    );
    let above = Executor::builder().threads(8).max_threads(2).build();
    assert!(
        above.unwrap_err().to_string().contains("above max_threads"),
        "threads(8) contradicts max_threads(2)"
    );
    // Overriding one side of `threads` is still fine.
    let pool = Executor::builder()
        .threads(1)
        .max_threads(3)
        .build()
        .unwrap();
    assert_eq!(pool.stats().threads, 1);
}

/// `stack_size(1)` was raised to the platform's minimum stack, on which a
/// job that panics (with `RUST_BACKTRACE` set, as CI does) overflowed while
/// the backtrace printed, aborting the process. Stacks have a floor that a
/// panicking job unwinds on.
#[test]
fn a_tiny_stack_size_still_lets_a_job_panic_and_unwind() {
    within(LIMIT, "panic on a tiny stack", || {
        for bytes in [0, 1, 16 << 10] {
            let pool = Executor::builder()
                .threads(1)
                .stack_size(bytes)
                .build()
                .unwrap();
            let failed = pool.spawn(|| -> u8 { panic!("a job on a small stack fails") });
            assert!(failed.join().unwrap_err().is_panic());
            assert_eq!(pool.spawn(|| 1).join().unwrap(), 1);
            pool.shutdown();
        }
    });
}

/// An `Executor` captured by a builder hook (the natural way to resubmit
/// from `on_panic`) kept the pool open forever after the last outside clone
/// was dropped. A `WeakExecutor` reaches the pool without keeping it open.
#[test]
fn a_hook_holding_a_weak_executor_lets_the_pool_close() {
    common::quiet_worker_panics();
    within(LIMIT, "weak executor in a hook", || {
        let weak: Arc<std::sync::OnceLock<thread_exec::WeakExecutor>> = Arc::default();
        let in_hook = Arc::clone(&weak);
        let (retried_tx, retried) = mpsc::channel();
        let retried_tx = std::sync::Mutex::new(retried_tx);
        let pool = Executor::builder()
            .threads(1)
            .on_panic(move |_| {
                if let Some(pool) = in_hook.get().and_then(thread_exec::WeakExecutor::upgrade) {
                    let tx = retried_tx.lock().unwrap().clone();
                    pool.spawn(move || tx.send(()).unwrap());
                }
            })
            .build()
            .unwrap();
        weak.set(pool.downgrade()).unwrap();
        pool.spawn(|| panic!("first try"));
        retried.recv_timeout(LIMIT).expect("the hook resubmitted");
        let watcher = weak.get().unwrap().clone();
        drop(pool);
        // The last Executor is gone: the pool closed, and stays unreachable.
        assert!(watcher.upgrade().is_none());
    });
}

// ---------------------------------------------------------------------------
// Round three
// ---------------------------------------------------------------------------

/// A per-job "no deadline" (`Job::queue_timeout(Duration::MAX)`, or a
/// `Job::deadline` too far for the clock to count) saturated to *unset*,
/// so the pool's `queue_timeout` took its place and the job expired. It
/// saturates to *never* now, which replaces the pool's timeout as the docs
/// say.
#[test]
fn a_per_job_deadline_too_far_to_count_replaces_the_pools_timeout() {
    within(
        LIMIT,
        "per-job no-deadline on a pool with a timeout",
        || {
            let pool = Executor::builder()
                .threads(1)
                .queue_timeout(Duration::from_millis(1))
                .build()
                .unwrap();
            // The blocker has an hour to start (an ordinary deadline), so that
            // a loaded machine cannot expire it under the pool's 1 ms.
            let gate = common::Gate::new();
            let (started_tx, started) = mpsc::channel();
            let blocker = {
                let gate = Arc::clone(&gate);
                pool.send(
                    Job::new(move || {
                        started_tx.send(()).unwrap();
                        gate.wait();
                    })
                    .queue_timeout(Duration::from_secs(3_600)),
                )
            };
            started.recv_timeout(LIMIT).expect("the blocker started");
            let far = std::time::Instant::now() + Duration::from_secs(1 << 40);
            let max = pool.send(Job::new(|| 1).queue_timeout(Duration::MAX));
            let beyond = pool.send(Job::new(|| 2).deadline(far));
            let plain = pool.spawn(|| 3);
            // Not synchronisation: the pool's 1 ms timeout must pass while the
            // jobs wait.
            std::thread::sleep(Duration::from_millis(5));
            common::release(&gate, vec![blocker]);
            assert_eq!(max.join().unwrap(), 1);
            assert_eq!(beyond.join().unwrap(), 2);
            let plain = plain.join();
            assert!(
                plain.unwrap_err().is_expired(),
                "the pool's timeout applies"
            );
            assert_eq!(pool.stats().expired, 1);
            pool.shutdown();
        },
    );
}

/// Whether every thread of this process whose name starts with `prefix`
/// sleeps in the kernel (state `S`), and there are `n` of them (Linux).
fn threads_asleep(prefix: &str, n: usize) -> bool {
    let mut asleep = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        if !state.starts_with('S') {
            return false;
        }
        asleep += 1;
    }
    asleep == n
}

/// `threadpool`'s "join wavesurfer": every thread waiting when the pool
/// drains leaves together, even though each submits more work as soon as
/// it returns. A waiter woken by the drain re-checked the count after
/// another waiter's submission and slept again, so they left one per
/// drain; each now returns at the first drain after it started waiting.
#[test]
fn every_wait_waiting_at_a_drain_returns_at_it() {
    within(LIMIT, "wait() waiters at one drain", || {
        let pool = Executor::new(1);
        let first = common::Gate::new();
        let later = common::Gate::new();
        let (gate, blocker) = (Arc::clone(&first), pool.spawn(move || first.wait()));
        let returned = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..8)
            .map(|i| {
                let (pool, returned, later) =
                    (pool.clone(), Arc::clone(&returned), Arc::clone(&later));
                std::thread::Builder::new()
                    .name(format!("drain-waiter-{i}"))
                    .spawn(move || {
                        pool.wait();
                        returned.fetch_add(1, SeqCst);
                        pool.spawn(move || later.wait());
                    })
                    .unwrap()
            })
            .collect();
        common::eventually(LIMIT, "every waiter asleep in wait()", || {
            threads_asleep("drain-waiter-", 8)
        });
        gate.open();
        blocker.join().unwrap();
        let all_left = std::panic::catch_unwind(|| {
            common::eventually(LIMIT / 6, "all eight waiters return at the drain", || {
                returned.load(SeqCst) == 8
            });
        });
        let at_the_drain = returned.load(SeqCst);
        later.open();
        for waiter in waiters {
            waiter.join().unwrap();
        }
        pool.shutdown();
        assert!(
            all_left.is_ok(),
            "{at_the_drain} of 8 returned at the drain"
        );
    });
}

/// The same for `wait_async`: every future registered before a drain
/// resolves at it, whatever was submitted after the drain.
#[test]
fn every_wait_async_registered_before_a_drain_resolves_at_it() {
    within(LIMIT, "wait_async futures at one drain", || {
        let pool = Executor::new(1);
        let (gate, busy) = occupy(&pool, 1);
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        let mut waits: Vec<_> = (0..8).map(|_| pool.wait_async()).collect();
        for wait in &mut waits {
            assert!(std::pin::Pin::new(wait).poll(&mut cx).is_pending());
        }
        common::release(&gate, busy);
        pool.wait();
        let later = common::Gate::new();
        let mut resolved = 0;
        for wait in &mut waits {
            if std::pin::Pin::new(wait).poll(&mut cx).is_ready() {
                resolved += 1;
            }
            // Each one that returns submits more work, as a waiter would.
            let later = Arc::clone(&later);
            pool.spawn(move || later.wait());
        }
        later.open();
        pool.shutdown();
        assert_eq!(resolved, 8, "futures registered before the drain");
    });
}

/// A config value of 0 meant as "off": `max_queue_size(0)` is unbounded,
/// but `queue_timeout(Duration::ZERO)` expired every job, even on an idle
/// pool. Zero means "no queue timeout" now, as it means "no bound".
#[test]
fn a_zero_queue_timeout_is_off_as_a_zero_queue_size_is() {
    within(LIMIT, "queue_timeout(ZERO)", || {
        let pool = Executor::builder()
            .threads(1)
            .max_queue_size(0)
            .queue_timeout(Duration::ZERO)
            .build()
            .unwrap();
        let (gate, busy) = occupy(&pool, 1);
        let handles: Vec<_> = (0..10).map(|i| pool.spawn(move || i)).collect();
        common::release(&gate, busy);
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(handle.join().unwrap(), i);
        }
        assert_eq!(pool.stats().expired, 0);
        pool.shutdown();
    });
}

/// `set_threads(0)` panicked although it returns a `Result`.
#[test]
fn set_threads_zero_is_an_error_not_a_panic() {
    let pool = Executor::new(2);
    let error = pool.set_threads(0).unwrap_err();
    assert!(!error.is_closed());
    assert!(error.to_string().contains("at least one thread"), "{error}");
    assert_eq!(pool.stats().threads, 2);
    assert_eq!(pool.set_threads(1).unwrap(), 1);
    pool.shutdown();
}
