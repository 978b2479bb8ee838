//! A panic storm leaves exactly the pool's target number of OS threads
//! alive, and shutdown leaves none. Its own test binary: it counts the
//! process's threads in `/proc/self/task`, which other tests would disturb.

mod common;

use std::time::Duration;

use common::{eventually, os_threads, within};
use thread_exec::Executor;

#[test]
fn panics_never_kill_or_leak_an_os_thread() {
    common::quiet_worker_panics();
    within(Duration::from_secs(120), "panic storm thread count", || {
        // This closure runs on the watchdog thread; the test thread waits.
        let baseline = os_threads();
        let threads = 4;
        let pool = Executor::new(threads);
        assert_eq!(os_threads(), baseline + threads);
        for round in 0..5 {
            let handles: Vec<_> = (0..600)
                .map(|i| {
                    pool.spawn(move || {
                        if i % 3 == 0 {
                            panic!("round {round} job {i}");
                        }
                        i
                    })
                })
                .collect();
            let panics = handles
                .into_iter()
                .filter_map(|handle| handle.join().err())
                .inspect(|err| assert!(err.is_panic()))
                .count();
            assert_eq!(panics, 200);
            // No worker died and none was replaced: the count never moved.
            assert_eq!(os_threads(), baseline + threads, "after round {round}");
            assert_eq!(pool.stats().threads, threads);
        }
        pool.shutdown();
        eventually(Duration::from_secs(20), "threads joined", || {
            os_threads() == baseline
        });
    });
}
