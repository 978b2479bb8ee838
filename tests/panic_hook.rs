//! `Builder::on_panic`: every job and callback panic on the pool's threads
//! reaches the hook exactly once, with its message and its source; a hook
//! that panics harms nothing; the hook is released with the pool.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use common::{within, LIMIT};
use thread_exec::{Executor, Job};

/// What the hook saw: (message, in_callback, thread name).
type Seen = Arc<Mutex<Vec<(String, bool, String)>>>;

fn recording_pool(threads: usize) -> (Executor, Seen) {
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let pool = Executor::builder()
        .threads(threads)
        .thread_name("hooked")
        .on_panic(move |panic| {
            let thread = std::thread::current().name().unwrap_or("").to_owned();
            log.lock().unwrap().push((
                panic.message().unwrap_or("<not a message>").to_owned(),
                panic.in_callback(),
                thread,
            ));
        })
        .build()
        .unwrap();
    (pool, seen)
}

#[test]
fn every_job_and_callback_panic_reaches_the_hook_once_on_a_worker() {
    common::quiet_worker_panics();
    within(LIMIT, "panic hook", || {
        let (pool, seen) = recording_pool(2);
        let jobs = 300;
        let mut handles = Vec::new();
        for i in 0..jobs {
            if i % 3 == 0 {
                // Detached: nobody reads this handle; only the hook sees it.
                pool.spawn(move || -> usize { panic!("job {i}") });
            } else if i % 3 == 1 {
                handles.push(pool.send(Job::new(move || i).callback(move |_| {
                    panic!("callback {i}");
                })));
            } else {
                handles.push(pool.spawn(move || i));
            }
        }
        pool.wait();
        for handle in handles {
            assert!(handle.join().is_ok(), "a callback's panic is not the job's");
        }
        let seen = seen.lock().unwrap();
        let job_panics = seen.iter().filter(|(_, cb, _)| !cb).count();
        let callback_panics = seen.iter().filter(|(_, cb, _)| *cb).count();
        assert_eq!((job_panics, callback_panics), (jobs / 3, jobs / 3));
        for (message, in_callback, thread) in seen.iter() {
            let prefix = if *in_callback { "callback " } else { "job " };
            assert!(message.starts_with(prefix), "{message} / {in_callback}");
            assert!(thread.starts_with("hooked-"), "ran on {thread}");
        }
        let mut messages: Vec<&str> = seen.iter().map(|(m, _, _)| m.as_str()).collect();
        messages.sort_unstable();
        messages.dedup();
        assert_eq!(messages.len(), seen.len(), "each panic reported once");
        assert_eq!(pool.stats().panicked, (jobs / 3) as u64);
        pool.shutdown();
    });
}

#[test]
fn a_panicking_hook_is_caught_and_the_pool_carries_on() {
    common::quiet_worker_panics();
    within(LIMIT, "panicking hook", || {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let pool = Executor::builder()
            .threads(1)
            .on_panic(move |_| {
                counter.fetch_add(1, SeqCst);
                panic!("the hook itself panics");
            })
            .build()
            .unwrap();
        for _ in 0..20 {
            let handle = pool.spawn(|| -> u8 { panic!("job") });
            assert!(handle.join().unwrap_err().is_panic());
        }
        assert_eq!(calls.load(SeqCst), 20);
        assert_eq!(pool.spawn(|| 7).join().unwrap(), 7);
        assert_eq!(pool.stats().threads, 1);
        pool.shutdown();
    });
}

#[test]
fn a_callback_run_on_its_callers_thread_does_not_reach_the_hook() {
    common::quiet_worker_panics();
    within(LIMIT, "caller-thread callback", || {
        let (pool, seen) = recording_pool(1);
        let handle = pool.spawn(|| 1);
        pool.wait();
        // Finished: `on_complete` runs the callback here, at once.
        let handle = handle.on_complete(|_| panic!("on the caller"));
        assert_eq!(handle.join().unwrap(), 1);
        assert!(seen.lock().unwrap().is_empty());
        pool.shutdown();
    });
}

#[test]
fn the_hook_is_released_with_the_pool() {
    within(LIMIT, "hook release", || {
        let token = Arc::new(());
        let captured = Arc::clone(&token);
        let pool = Executor::builder()
            .threads(2)
            .on_panic(move |_| {
                let _ = &captured;
            })
            .build()
            .unwrap();
        assert_eq!(pool.spawn(|| 1).join().unwrap(), 1);
        pool.shutdown();
        drop(pool);
        assert_eq!(Arc::strong_count(&token), 1);
    });
}
