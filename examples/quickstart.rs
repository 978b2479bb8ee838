//! The seed package's README, in Rust: ten threads, jobs with arguments,
//! jobs with callbacks, `wait()`, then scaling and a shutdown that loses
//! nothing.
//!
//! Run it with `cargo run --example quickstart`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use thread_exec::{Executor, Job, JobError};

/// The seed's `test_exec(*args)`: sleeps, prints its arguments, returns a list.
fn test_exec(args: (i32, i32)) -> Vec<i32> {
    std::thread::sleep(Duration::from_millis(300));
    println!("test_exec args: {args:?}");
    vec![1, 2, 3]
}

/// The seed's `test_exec1(**kwargs)`: prints its keyword arguments, returns a map.
fn test_exec1(kwargs: HashMap<&'static str, i32>) -> HashMap<&'static str, i32> {
    println!("test_exec1 kwargs: {kwargs:?}");
    std::thread::sleep(Duration::from_millis(200));
    HashMap::from([("a", 1), ("b", 2), ("c", 3)])
}

fn call_back(result: &Result<HashMap<&'static str, i32>, JobError>) {
    match result {
        Ok(map) => println!("callback got {} entries", map.len()),
        Err(err) => println!("callback got an error: {err}"),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // engine = Executor(number_threads=10, max_queue_size=0)
    let engine = Executor::new(10);
    let started = Instant::now();

    // Send simple jobs: the closure's captures are the seed's args/kwargs.
    engine.send(Job::new(|| test_exec((1, 2))));
    engine.send(Job::new(|| test_exec1(HashMap::from([("time", 1)]))));
    for _ in 0..3 {
        engine.send(Job::new(|| test_exec1(HashMap::new())));
    }
    engine.wait();
    println!("five jobs on ten threads took {:?}", started.elapsed());

    // Send jobs with a callback.
    for _ in 0..5 {
        engine.send(Job::new(|| test_exec1(HashMap::from([("time", 1)]))).callback(call_back));
    }
    engine.wait();

    // A job that panics does not kill its worker, and `wait` does not hang.
    let err = engine
        .spawn(|| -> u32 { panic!("bad input") })
        .join()
        .unwrap_err();
    println!("a job panicked and was caught: {err}");

    // `block=True` is join(); handles are futures too.
    let answer = engine.send(Job::new(|| 6 * 7)).join()?;
    println!("blocking send returned {answer}");
    let from_async = futures::executor::block_on(engine.spawn(|| "awaited"))?;
    println!("an awaited handle returned {from_async:?}");

    // Thread scale up/down: by a delta, as the seed's README reads.
    let target = engine.scale_up(3)?;
    println!(
        "after scale_up(3): {target} threads ({} running)",
        engine.stats().threads
    );
    let target = engine.scale_down(3);
    println!("after scale_down(3): {target} threads (idle ones retire at once)");

    // Shutdown runs everything already queued; nothing is lost.
    for i in 0..20 {
        engine.spawn(move || std::thread::sleep(Duration::from_millis(5 * (i % 3))));
    }
    engine.shutdown();
    let stats = engine.stats();
    println!(
        "shut down: {} completed, {} panicked, {} cancelled, {} queued",
        stats.completed, stats.panicked, stats.cancelled, stats.queued
    );
    assert_eq!(stats.completed, 5 + 5 + 2 + 20);
    Ok(())
}
