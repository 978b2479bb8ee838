//! The Python package `thread-executor`'s README walkthrough, in Rust: ten
//! threads, jobs with arguments, jobs with callbacks, `wait()`, a job that
//! panics, then scaling and a shutdown that loses nothing.
//!
//! Run it with `cargo run --example quickstart`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use thread_exec::{Executor, Job, JobError};

/// The Python README's `test_exec(*args)`: sleeps, prints its arguments,
/// returns a list.
fn test_exec(args: (i32, i32)) -> Vec<i32> {
    std::thread::sleep(Duration::from_millis(300));
    println!("test_exec args: {args:?}");
    vec![1, 2, 3]
}

/// The Python README's `test_exec1(**kwargs)`: prints its keyword arguments,
/// sleeps, returns a map.
fn test_exec1(kwargs: HashMap<&'static str, i32>) -> HashMap<&'static str, i32> {
    println!("test_exec1 kwargs: {kwargs:?}");
    std::thread::sleep(Duration::from_millis(200));
    HashMap::from([("a", 1), ("b", 2), ("c", 3)])
}

/// A completion callback: it gets the job's outcome, a value or a `JobError`.
fn call_back(result: &Result<HashMap<&'static str, i32>, JobError>) {
    match result {
        Ok(map) => println!("callback got {} entries", map.len()),
        Err(err) => println!("callback got an error: {err}"),
    }
}

/// Prints one short line for a panic on one of the pool's worker threads
/// (named `thread-exec-0`, `thread-exec-1`, ... unless
/// `Builder::thread_name` says otherwise), and leaves every other panic to
/// the default hook.
///
/// Why: Rust prints a panic through the process-wide panic hook the moment
/// it happens, before unwinding reaches the pool, which catches it. So even
/// a caught panic prints the default message, with a full backtrace when
/// `RUST_BACKTRACE=1` (CI sets it), and reads like a crash. The pool
/// reports the panic anyway (the job's handle returns it as a `JobError`,
/// and `Builder::on_panic` and `tracing` see it), so one line is enough
/// here. A panic on any other thread, such as `main`, is a real failure
/// and still gets the default message and backtrace.
fn print_pool_panics_on_one_line(thread_prefix: &'static str) {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        match thread.name() {
            Some(name) if name.starts_with(thread_prefix) => {
                let message = info.payload_as_str().unwrap_or("<non-string payload>");
                eprintln!("[{name}] a job panicked: {message} (caught by the pool)");
            }
            _ => default_hook(info),
        }
    }));
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    print_pool_panics_on_one_line("thread-exec-");

    // engine = Executor(number_threads=10, max_queue_size=0)
    let engine = Executor::new(10);
    let started = Instant::now();

    // Send simple jobs: the closure's captures are Python's args and kwargs.
    engine.send(Job::new(|| test_exec((1, 2))));
    engine.send(Job::new(|| test_exec1(HashMap::from([("time", 1)]))));
    for _ in 0..3 {
        engine.send(Job::new(|| test_exec1(HashMap::new())));
    }
    engine.wait();
    println!(
        "five jobs on ten threads took {} ms: they ran side by side",
        started.elapsed().as_millis()
    );

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
    println!(
        "its handle returned an error ({err}); the pool still has {} threads",
        engine.stats().threads
    );

    // Python's `block=True` is `join()`; handles are futures too.
    let answer = engine.send(Job::new(|| 6 * 7)).join()?;
    println!("a joined job returned {answer}");
    let from_async = futures::executor::block_on(engine.spawn(|| "awaited"))?;
    println!("an awaited job returned {from_async:?}");

    // Scale up and down by a delta, as the Python README reads; both return
    // the new thread target.
    let target = engine.scale_up(3)?;
    println!(
        "scale_up(3): target {target}, {} threads started",
        engine.stats().threads
    );
    let target = engine.scale_down(3);
    println!("scale_down(3): target {target} (idle threads retire at once)");

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
