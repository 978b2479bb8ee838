//! Scaling: a burst handled by a dynamic pool that grows on demand (up to
//! `max_threads`) and shrinks back to `min_threads` once the threads above it
//! have been idle for `keep_alive`. Then explicit resizing with `scale_up`,
//! `scale_down` and `set_threads`.
//!
//! Run it with `cargo run --example scaling`.

use std::time::{Duration, Instant};

use thread_exec::Executor;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Executor::builder()
        .min_threads(1)
        .max_threads(8)
        .keep_alive(Duration::from_millis(200))
        .thread_name("burst")
        .build()?;
    let started = Instant::now();
    let stamp = || format!("{:>5} ms", started.elapsed().as_millis());
    println!("{} idle:      {:?}", stamp(), pool.stats());

    // A burst: 64 jobs of 20 ms of blocking work each.
    let handles: Vec<_> = (0..64_u64)
        .map(|i| {
            pool.spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                i
            })
        })
        .collect();
    let mut peak = 0;
    while !handles.iter().all(|handle| handle.is_finished()) {
        let stats = pool.stats();
        peak = peak.max(stats.threads);
        println!(
            "{} burst:     {} threads, {} running, {} queued, {} completed",
            stamp(),
            stats.threads,
            stats.running,
            stats.queued,
            stats.completed
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    let sum: u64 = handles
        .into_iter()
        .map(|handle| handle.join())
        .sum::<Result<u64, _>>()?;
    assert_eq!(sum, (0..64).sum());
    println!("{} done:      peak {peak} threads (max 8)", stamp());

    // Shrinking back: the threads above min expire after keep_alive.
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.stats().threads > 1 && Instant::now() < deadline {
        println!("{} shrinking: {} threads", stamp(), pool.stats().threads);
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("{} shrunk:    {:?}", stamp(), pool.stats());

    // Explicit resizing moves the ceiling of a dynamic pool.
    println!("scale_up(4)    -> target {}", pool.scale_up(4)?);
    println!(
        "scale_down(20) -> target {} (clamped at min_threads)",
        pool.scale_down(20)
    );
    println!("set_threads(3) -> target {}", pool.set_threads(3)?);

    pool.shutdown();
    println!("{} shut down: {:?}", stamp(), pool.stats());
    Ok(())
}
