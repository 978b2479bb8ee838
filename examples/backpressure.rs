//! Backpressure: a producer faster than the pool, against a bounded queue.
//!
//! 1. `try_spawn` never blocks: when the queue is full the job comes back,
//!    and the producer sheds it (a service would answer 503, or run it
//!    elsewhere). We count what was shed.
//! 2. `spawn_async` waits for room without blocking the runtime: a ticker
//!    task on the same single-threaded runtime keeps ticking meanwhile.
//!
//! Run it with `cargo run --example backpressure`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use thread_exec::Executor;

/// The blocking work: 10 ms of "I/O".
fn work(i: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(10));
    i * i
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Executor::builder()
        .threads(2)
        .max_queue_size(8)
        .thread_name("backpressure")
        .build()?;

    // 1. Shed load with try_spawn: a job every millisecond or two offered to
    //    a pool that finishes one job per 5 ms.
    let started = Instant::now();
    let mut accepted = Vec::new();
    let mut shed = 0;
    for i in 0..200 {
        match pool.try_spawn(move || work(i)) {
            Ok(handle) => accepted.push(handle),
            // The job comes back unrun: ours to drop, or to run elsewhere.
            Err(err) if err.is_full() => shed += 1,
            Err(_closed) => unreachable!("the pool is open"),
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let offered = accepted.len() + shed;
    let mut sum = 0;
    for handle in accepted.drain(..) {
        sum += handle.await?;
    }
    println!(
        "try_spawn: offered {offered}, ran {}, shed {shed} in {:?} (sum of results {sum})",
        offered - shed,
        started.elapsed()
    );
    println!("  {:?}", pool.stats());

    // 2. Wait for room with spawn_async; the runtime stays free.
    let ticks = Arc::new(AtomicUsize::new(0));
    let ticker = tokio::spawn({
        let ticks = Arc::clone(&ticks);
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let started = Instant::now();
    let mut handles = Vec::new();
    for i in 0..60 {
        // Resolves once the job is queued; pending (not blocking) while full.
        handles.push(pool.spawn_async(move || work(i)).await?);
        if i % 20 == 19 {
            let stats = pool.stats();
            println!(
                "spawn_async: {} queued so far; pool: {} running, {} waiting (bound 8)",
                i + 1,
                stats.running,
                stats.queued
            );
        }
    }
    let mut sum = 0;
    for handle in handles {
        sum += handle.await?;
    }
    ticker.abort();
    println!(
        "spawn_async: 60 jobs, none shed, in {:?} (sum {sum}); the ticker ticked {} times meanwhile",
        started.elapsed(),
        ticks.load(Ordering::Relaxed)
    );

    pool.shutdown_async().await;
    let stats = pool.stats();
    println!("final stats: {stats:?}");
    assert_eq!(stats.completed as usize, offered - shed + 60);
    assert_eq!(stats.cancelled, 0);
    Ok(())
}
