//! Loom models of the executor's concurrency protocol: the job slot's state
//! machine, graceful and immediate shutdown, the bounded queue's blocked
//! sender, and scale-down, each explored over every interleaving loom finds
//! (bounded by `LOOM_MAX_PREEMPTIONS`).
//!
//! Only built with the loom cfg, which swaps the crate's primitives (see
//! `src/sync.rs`):
//!
//! ```sh
//! RUSTFLAGS="--cfg thread_exec_loom" LOOM_MAX_PREEMPTIONS=2 \
//!     CARGO_TARGET_DIR=target/loom cargo test --release --test loom
//! ```
//!
//! A lost wake-up shows as loom's "deadlock" failure (every thread blocked),
//! a job run twice or lost as a failed count.
#![cfg(thread_exec_loom)]

use std::sync::Arc;

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use thread_exec::{Builder, Executor};

/// Counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

/// `cancel` races the worker starting the job: exactly one wins, the handle
/// says which, the closure is dropped once, and `join` never misses the
/// wake-up.
#[test]
fn cancel_races_job_start() {
    loom::model(|| {
        let pool = Executor::new(1);
        let ran = counter();
        let closure_drops = counter();
        let witness = Counted(Arc::clone(&closure_drops));
        let ran_in_job = Arc::clone(&ran);
        let handle = pool.spawn(move || {
            let _witness = witness;
            ran_in_job.fetch_add(1, SeqCst);
            7
        });
        let cancelled = handle.cancel();
        match handle.join() {
            Ok(value) => {
                assert_eq!(value, 7);
                assert!(!cancelled);
                assert_eq!(ran.load(SeqCst), 1);
            }
            Err(err) => {
                assert!(err.is_cancelled());
                assert!(cancelled);
                assert_eq!(ran.load(SeqCst), 0);
            }
        }
        assert_eq!(closure_drops.load(SeqCst), 1);
        pool.shutdown();
        assert_eq!(pool.stats().cancelled, u64::from(cancelled));
    });
}

/// On a bounded pool, a handle's `cancel` gives the job's place back at
/// once, racing the worker that pops the entry: the job is counted out of
/// the pool exactly once, by whichever of the two takes the slot's
/// accounting bit, so `wait` returns and the counts end at zero.
#[test]
fn bounded_cancel_races_the_worker_accounting() {
    loom::model(|| {
        let pool = Builder::new().threads(1).max_queue_size(1).build().unwrap();
        let handle = pool.spawn(|| 7);
        let cancelled = handle.cancel();
        pool.wait();
        let stats = pool.stats();
        assert_eq!((stats.queued, stats.running), (0, 0));
        assert_eq!(stats.cancelled, u64::from(cancelled));
        assert_eq!(stats.completed, u64::from(!cancelled));
        assert_eq!(handle.join().is_ok(), !cancelled);
        pool.shutdown();
    });
}

/// `on_complete` races completion: the callback runs exactly once whether
/// it lands before or after the result, and `join` still gets the result.
#[test]
fn on_complete_races_completion() {
    loom::model(|| {
        let pool = Executor::new(1);
        let calls = counter();
        let seen = Arc::clone(&calls);
        let handle = pool.spawn(|| 1).on_complete(move |result| {
            assert_eq!(result.as_ref().ok(), Some(&1));
            seen.fetch_add(1, SeqCst);
        });
        assert_eq!(handle.join().unwrap(), 1);
        assert_eq!(calls.load(SeqCst), 1);
        pool.shutdown();
        assert_eq!(calls.load(SeqCst), 1);
    });
}

/// Dropping the handle races completion: closure and output are each
/// dropped exactly once, wherever the last reference goes.
#[test]
fn detached_handle_drops_closure_and_output_once() {
    loom::model(|| {
        let pool = Executor::new(1);
        let closure_drops = counter();
        let output_drops = counter();
        let witness = Counted(Arc::clone(&closure_drops));
        let output = Arc::clone(&output_drops);
        let handle = pool.spawn(move || {
            let _witness = witness;
            Counted(output)
        });
        drop(handle);
        pool.shutdown();
        assert_eq!(closure_drops.load(SeqCst), 1);
        assert_eq!(output_drops.load(SeqCst), 1);
    });
}

/// Graceful shutdown races a submission from another thread: the job is
/// either accepted and run once, or refused as closed; every handle resolves.
#[test]
fn shutdown_races_spawn() {
    loom::model(|| {
        let pool = Executor::new(1);
        let ran = counter();
        let submitter = {
            let pool = pool.clone();
            let ran = Arc::clone(&ran);
            loom::thread::spawn(move || {
                pool.spawn(move || {
                    ran.fetch_add(1, SeqCst);
                })
                .join()
            })
        };
        pool.shutdown();
        match submitter.join().unwrap() {
            Ok(()) => assert_eq!(ran.load(SeqCst), 1),
            Err(err) => {
                assert!(err.is_closed(), "{err}");
                assert_eq!(ran.load(SeqCst), 0);
            }
        }
        let stats = pool.stats();
        assert_eq!((stats.threads, stats.queued, stats.running), (0, 0, 0));
    });
}

/// `shutdown_now` races the worker: every accepted job either ran on the
/// worker or was handed back, never both, never neither.
#[test]
fn shutdown_now_races_worker() {
    loom::model(|| {
        let pool = Executor::new(1);
        let ran = counter();
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let ran = Arc::clone(&ran);
                pool.spawn(move || {
                    ran.fetch_add(1, SeqCst);
                })
            })
            .collect();
        let pending = pool.shutdown_now();
        let handed_back = pending.len();
        drop(pending); // settles their handles as cancelled
        let mut ok = 0;
        let mut cancelled = 0;
        for handle in handles {
            match handle.join() {
                Ok(()) => ok += 1,
                Err(err) => {
                    assert!(err.is_cancelled(), "{err}");
                    cancelled += 1;
                }
            }
        }
        assert_eq!(ran.load(SeqCst), ok);
        assert_eq!(cancelled, handed_back);
        assert_eq!(ok + handed_back, 2);
        pool.shutdown();
    });
}

/// A sender blocked on a full bounded queue while the pool closes wakes up
/// (loom reports a deadlock otherwise) and its job is accounted for.
#[test]
fn blocked_sender_wakes_when_the_pool_closes() {
    loom::model(|| {
        let pool = Builder::new().threads(1).max_queue_size(1).build().unwrap();
        let ran = counter();
        let submitter = {
            let pool = pool.clone();
            let ran = Arc::clone(&ran);
            loom::thread::spawn(move || {
                let handles: Vec<_> = (0..2)
                    .map(|_| {
                        let ran = Arc::clone(&ran);
                        pool.spawn(move || {
                            ran.fetch_add(1, SeqCst);
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
            })
        };
        drop(pool.shutdown_now());
        let results = submitter.join().unwrap();
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ran.load(SeqCst), ok);
        for result in &results {
            if let Err(err) = result {
                assert!(err.is_cancelled() || err.is_closed(), "{err}");
            }
        }
        pool.shutdown();
    });
}

/// Scale-down races a submission: the job still runs (no accepted job is
/// left without a worker) and the thread counts never underflow.
#[test]
fn scale_down_races_spawn() {
    loom::model(|| {
        let pool = Executor::new(2);
        let submitter = {
            let pool = pool.clone();
            // The handle is joined after the race, not during it: handle
            // against completion is the slot models' subject (above), and
            // exploring it here too multiplies this model's run time by ten.
            loom::thread::spawn(move || pool.spawn(|| 5))
        };
        assert_eq!(pool.scale_down(1), 1);
        let handle = submitter.join().unwrap();
        let threads = pool.stats().threads;
        assert!((1..=2).contains(&threads), "threads = {threads}");
        pool.shutdown();
        assert_eq!(handle.join().unwrap(), 5);
        let stats = pool.stats();
        assert_eq!((stats.threads, stats.queued, stats.running), (0, 0, 0));
        assert_eq!(stats.completed, 1);
    });
}

/// A scoped job races its scope's end and its joiner: the runner a worker
/// pops, the scope's caller that joins the handle, and the scope's end each
/// try to start the job. It runs exactly once, its borrow of the caller's
/// local has ended when `scope` returns, and a runner that reaches its
/// entry after the scope finds nothing left to run (invariant 5 of the
/// slot).
#[test]
fn scoped_job_races_its_scope_end() {
    loom::model(|| {
        let pool = Executor::new(1);
        for join in [false, true] {
            let runs = AtomicUsize::new(0);
            let value = pool.scope(|s| {
                let handle = s.spawn(|| runs.fetch_add(1, SeqCst) + 10);
                join.then(|| handle.join().unwrap())
            });
            assert_eq!(runs.load(SeqCst), 1);
            assert_eq!(value, join.then_some(10));
        }
        pool.shutdown();
        let stats = pool.stats();
        assert_eq!(stats.completed + stats.cancelled, 2);
    });
}

/// Sharded lanes, the queue alone (`__ModelQueue`: the production
/// queue's shards, counts, parking stack and signals over loom's locks): a
/// push to shard 0 races a worker whose own shard is 1 going to park (the
/// lost wake-up that hung tokio's first sharded blocking queue,
/// tokio-rs/tokio#8056). The worker's last look must take shard 0's lock,
/// or the push must see the worker parked and wake it: loom reports a
/// deadlock otherwise.
#[test]
fn sharded_push_races_park_on_the_other_shard() {
    loom::model(|| {
        let queue = Arc::new(thread_exec::__ModelQueue::new(2));
        let worker = {
            let queue = Arc::clone(&queue);
            loom::thread::spawn(move || {
                thread_exec::__ModelQueue::enter_shard(1);
                queue.pop();
            })
        };
        thread_exec::__ModelQueue::enter_shard(0);
        queue.push();
        worker.join().unwrap();
        assert!(!queue.try_pop(), "the one message was taken once");
    });
}

/// Two workers, one per shard, go to park while two pushes land in shard
/// 0: each worker gets one message, so the worker of shard 1 takes from
/// the other shard (by its count while busy, by the lock in its last look),
/// and the second push wakes whichever worker the first did not.
#[test]
fn two_pushes_to_one_shard_reach_workers_of_both_shards() {
    loom::model(|| {
        let queue = Arc::new(thread_exec::__ModelQueue::new(2));
        let workers: Vec<_> = (0..2)
            .map(|shard| {
                let queue = Arc::clone(&queue);
                loom::thread::spawn(move || {
                    thread_exec::__ModelQueue::enter_shard(shard);
                    queue.pop();
                })
            })
            .collect();
        thread_exec::__ModelQueue::enter_shard(0);
        queue.push();
        queue.push();
        for worker in workers {
            worker.join().unwrap();
        }
        assert!(!queue.try_pop(), "each message was taken once");
    });
}

/// The bound is global across shards: with the one worker busy, two
/// submitters, each on a shard of its own, race for the one place of a
/// bounded queue. Exactly one is accepted (the place is counted in the
/// state word, not in a shard), and the worker, once free, finds the
/// winner's job in whichever shard it went to.
#[test]
fn the_bound_is_global_across_shards() {
    loom::model(|| {
        let pool = Builder::new()
            .threads(1)
            .queue_shards(2)
            .max_queue_size(1)
            .build()
            .unwrap();
        // (started, open), and the condvar that announces either.
        let gate = Arc::new((
            loom::sync::Mutex::new((false, false)),
            loom::sync::Condvar::new(),
        ));
        let blocker = {
            let gate = Arc::clone(&gate);
            pool.spawn(move || {
                let (state, changed) = &*gate;
                let mut state = state.lock().unwrap();
                state.0 = true;
                changed.notify_all();
                while !state.1 {
                    state = changed.wait(state).unwrap();
                }
            })
        };
        {
            let (state, changed) = &*gate;
            let mut state = state.lock().unwrap();
            while !state.0 {
                state = changed.wait(state).unwrap();
            }
        }
        let ran = counter();
        let other = {
            let (pool, ran) = (pool.clone(), Arc::clone(&ran));
            loom::thread::spawn(move || {
                pool.try_spawn(move || {
                    ran.fetch_add(1, SeqCst);
                })
                .ok()
            })
        };
        let ran_here = Arc::clone(&ran);
        let mine = pool
            .try_spawn(move || {
                ran_here.fetch_add(1, SeqCst);
            })
            .ok();
        let theirs = other.join().unwrap();
        assert_eq!(
            usize::from(mine.is_some()) + usize::from(theirs.is_some()),
            1,
            "exactly one of two submitters takes the one place"
        );
        assert_eq!(pool.stats().queued, 1);
        {
            let (state, changed) = &*gate;
            state.lock().unwrap().1 = true;
            changed.notify_all();
        }
        blocker.join().unwrap();
        for handle in mine.into_iter().chain(theirs) {
            handle.join().unwrap();
        }
        assert_eq!(ran.load(SeqCst), 1);
        pool.shutdown();
        let stats = pool.stats();
        assert_eq!((stats.rejected, stats.completed), (1, 2));
    });
}
