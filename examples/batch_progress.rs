//! A batch of thousands of blocking jobs with a live progress bar: writes
//! 3,000 generated files into a fresh temporary directory, hashes each one
//! in a job on the pool (file reads are blocking work), and advances an
//! `indicatif` bar from every job's completion callback. At the end it
//! prints a summary from `Executor::stats()`: jobs per second and the
//! queue-wait and run-time quantiles the pool recorded.
//!
//! Without a terminal (in CI, or piped), `indicatif` draws nothing; the
//! summary is printed either way.
//!
//! ```sh
//! cargo run --release --example batch_progress
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use thread_exec::{Executor, Job};

const FILES: u64 = 3_000;

/// FNV-1a, 64 bits: small, and enough to tell files apart.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The `i`-th file's contents: 1 to 16 KiB from a xorshift generator.
fn contents(i: u64) -> Vec<u8> {
    let mut state = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let len = 1_024 + (state % 15_360) as usize;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A temporary directory removed when dropped, even on an early return.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> io::Result<TempDir> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        let path =
            std::env::temp_dir().join(format!("thread-exec-batch-{}-{nanos}", std::process::id()));
        fs::create_dir(&path)?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(err) = fs::remove_dir_all(&self.0) {
            eprintln!("could not remove {}: {err}", self.0.display());
        }
    }
}

fn hash_file(path: &Path) -> io::Result<u64> {
    Ok(fnv1a(&fs::read(path)?))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = TempDir::new()?;
    let pool = Executor::builder()
        .threads(4)
        .record_timings(true)
        .build()?;

    for i in 0..FILES {
        fs::write(dir.0.join(format!("{i:05}.bin")), contents(i))?;
    }

    // The batch: one job per file, each reporting to the bar from its
    // completion callback, on the worker, as it finishes.
    let bar = ProgressBar::new(FILES);
    bar.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} files hashed, {per_sec}, eta {eta}",
    )?);
    let checksum = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    for i in 0..FILES {
        let path = dir.0.join(format!("{i:05}.bin"));
        let (bar, checksum, failures) = (bar.clone(), Arc::clone(&checksum), Arc::clone(&failures));
        let job = Job::new(move || hash_file(&path)).callback(move |result| {
            match result {
                // XOR: the same checksum whatever order the jobs end in.
                Ok(Ok(hash)) => {
                    checksum.fetch_xor(*hash, Ordering::Relaxed);
                }
                Ok(Err(_)) | Err(_) => {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
            bar.inc(1);
        });
        pool.send(job); // detached: the callback reports, `wait` waits
    }
    pool.wait();
    let elapsed = started.elapsed();
    bar.finish_and_clear();

    let expected = (0..FILES).fold(0, |sum, i| sum ^ fnv1a(&contents(i)));
    let stats = pool.stats();
    let hashed = stats.completed;
    println!("hashed {hashed} files in {elapsed:.2?}");
    println!(
        "{:.0} jobs/s on {} threads; {} failed",
        hashed as f64 / elapsed.as_secs_f64(),
        stats.threads,
        failures.load(Ordering::Relaxed),
    );
    println!(
        "queue wait: p50 {:?}, p99 {:?}, max {:?}",
        stats.queue_wait.quantile(0.5),
        stats.queue_wait.quantile(0.99),
        stats.queue_wait.max(),
    );
    println!(
        "run time:   p50 {:?}, p99 {:?}, max {:?} ({} jobs timed)",
        stats.run_time.quantile(0.5),
        stats.run_time.quantile(0.99),
        stats.run_time.max(),
        stats.run_time.count(),
    );
    let checksum = checksum.load(Ordering::Relaxed);
    println!("checksum {checksum:016x} (expected {expected:016x})");
    pool.shutdown();
    if checksum != expected || failures.load(Ordering::Relaxed) != 0 {
        return Err("some files did not hash to their contents".into());
    }
    Ok(())
}
