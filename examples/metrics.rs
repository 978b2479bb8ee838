//! The pool's metrics in Prometheus's text format: installs
//! `metrics-exporter-prometheus`'s recorder (without its HTTP listener),
//! runs a mixed load on a pool that records timings, publishes the pool's
//! figures once a second and at the end, and prints the scrape text.
//!
//! ```sh
//! cargo run --example metrics --features metrics
//! ```

use std::time::{Duration, Instant};

use metrics_exporter_prometheus::PrometheusBuilder;
use thread_exec::Executor;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // What a service does once at start: install the recorder. A real one
    // would serve `handle.render()` on its /metrics route (or let the
    // exporter listen); here the text is printed.
    // Prometheus histograms (`_bucket{le=...}` lines) for the durations,
    // from 10 µs to 1 s.
    let buckets = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0];
    let recorder = PrometheusBuilder::new()
        .set_buckets(&buckets)?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)?;

    let pool = Executor::builder()
        .threads(4)
        .max_queue_size(256)
        .queue_timeout(Duration::from_millis(50))
        .record_timings(true)
        .metrics_label("example")
        .build()?;

    // Publication is on read: a timer publishes once a second (a service
    // could publish before each scrape instead).
    let publisher = {
        let pool = pool.downgrade();
        std::thread::spawn(move || {
            while let Some(pool) = pool.upgrade() {
                if pool.is_shutdown() {
                    break;
                }
                pool.publish_metrics();
                drop(pool);
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };

    // The load: mostly short jobs, a few slow ones, some panics, and more
    // than the bounded queue holds, so some are shed.
    let started = Instant::now();
    let (mut accepted, mut shed) = (0_u32, 0_u32);
    for i in 0..2_000_u32 {
        let job = move || {
            if i % 500 == 499 {
                panic!("job {i} failed");
            }
            let spin = if i % 100 == 0 { 2_000 } else { 20 };
            std::thread::sleep(Duration::from_micros(spin));
        };
        match pool.try_spawn(job) {
            Ok(_) => accepted += 1,
            Err(_) => shed += 1,
        }
        if i % 200 == 199 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    pool.wait();
    pool.publish_metrics();
    let stats = pool.stats();
    pool.shutdown();
    publisher.join().expect("the publisher panicked");

    println!("{}", handle.render());
    println!(
        "# {accepted} jobs accepted, {shed} shed, in {:.2?}; queue wait p99 {:?}, run time p99 {:?}",
        started.elapsed(),
        stats.queue_wait.quantile(0.99),
        stats.run_time.quantile(0.99),
    );
    Ok(())
}
