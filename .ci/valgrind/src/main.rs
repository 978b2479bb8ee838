//! A workload for `valgrind --leak-check=full`: builds pools of every kind,
//! loads them (results, panics, callbacks, cancellations, a bounded queue,
//! dynamic growth, scaling), and tears them down in every way. CI runs it
//! under valgrind and fails on any definite leak; it also runs plainly as an
//! example. Kept small: valgrind slows it down fifty-fold.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use thread_exec::{Executor, Job, JobError};

fn load(pool: &Executor, ran: &Arc<AtomicUsize>) {
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let ran = Arc::clone(ran);
            pool.spawn(move || {
                ran.fetch_add(1, Ordering::SeqCst);
                if i % 10 == 0 {
                    panic!("planned panic {i}");
                }
                vec![i; 8]
            })
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        if i % 7 == 0 {
            handle.cancel();
        }
        if i % 2 == 0 {
            drop(handle); // detached: the result is dropped on the worker
        } else {
            let _ = handle.join();
        }
    }
    let calls = Arc::new(AtomicUsize::new(0));
    for i in 0..20 {
        let calls = Arc::clone(&calls);
        pool.send(Job::new(move || format!("job {i}")).callback(
            move |result: &Result<String, JobError>| {
                if result.is_ok() {
                    calls.fetch_add(1, Ordering::SeqCst);
                }
            },
        ));
    }
    pool.spawn(|| String::from("on_complete"))
        .on_complete(|_| {});
}

fn main() {
    // Panics are part of the workload; keep the output readable.
    std::panic::set_hook(Box::new(|_| {}));
    let ran = Arc::new(AtomicUsize::new(0));

    for round in 0..3 {
        let fixed = Executor::new(2);
        load(&fixed, &ran);
        fixed.scale_up(2).unwrap();
        fixed.scale_down(3);
        fixed.wait();
        match round {
            0 => fixed.shutdown(),
            1 => drop(fixed.shutdown_now()),
            _ => drop(fixed), // closes without joining: threads exit on their own
        }

        let bounded = Executor::builder()
            .threads(1)
            .max_queue_size(4)
            .build()
            .unwrap();
        load(&bounded, &ran);
        for job in bounded.shutdown_now() {
            job.run();
        }
        bounded.shutdown();

        let dynamic = Executor::builder()
            .min_threads(0)
            .max_threads(3)
            .keep_alive(Duration::from_millis(20))
            .on_thread_start(|| {})
            .on_thread_stop(|| {})
            .build()
            .unwrap();
        load(&dynamic, &ran);
        dynamic.wait();
        futures::executor::block_on(dynamic.shutdown_async());
    }
    // Give the dropped pool's threads time to finish exiting before the
    // process ends (they are detached, so nothing else waits for them).
    std::thread::sleep(Duration::from_millis(200));
    println!("valgrind_pools: {} job runs", ran.load(Ordering::SeqCst));
}
