//! The global pool configured with `Builder::build_global` before its first
//! use: the free functions use that pool, and a second configuration is
//! refused. Its own test binary: the global pool is the process's.

mod common;

use std::time::Duration;

use common::{within, LIMIT};
use thread_exec::{Executor, Job, Priority};

#[test]
fn build_global_then_the_free_functions() {
    Executor::builder()
        .min_threads(1)
        .max_threads(4)
        .max_queue_size(2)
        .thread_name("configured")
        .build_global()
        .expect("the first configuration");
    let again = Executor::builder().build_global().unwrap_err();
    assert!(again.to_string().contains("already built"), "{again}");

    let name = thread_exec::spawn(|| std::thread::current().name().map(str::to_owned))
        .join()
        .unwrap();
    assert!(name.unwrap().starts_with("configured"));

    // The bounded queue sheds through the free functions too.
    let (gate, blockers) = common::occupy(thread_exec::global(), 4);
    let queued: Vec<_> = (0..2)
        .map(|i| thread_exec::try_spawn(move || i).unwrap())
        .collect();
    let refused = thread_exec::try_run(Job::new(|| 9).priority(Priority::High)).unwrap_err();
    assert!(refused.is_full());
    assert_eq!(thread_exec::global().stats().rejected, 1);
    common::release(&gate, blockers);
    for (i, handle) in queued.into_iter().enumerate() {
        assert_eq!(handle.join().unwrap(), i);
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert_eq!(thread_exec::run(|| 1).await.unwrap(), 1);
        assert_eq!(thread_exec::try_run(|| 2).unwrap().await.unwrap(), 2);
        let handle = thread_exec::spawn_async(Job::new(|| 3)).await.unwrap();
        assert_eq!(handle.await.unwrap(), 3);
        common::timeout("wait_async", thread_exec::wait_async()).await;
    });
    within(LIMIT, "wait", thread_exec::wait);

    // From one of its own jobs: submitting works (waiting would panic).
    let nested = thread_exec::spawn(|| thread_exec::spawn(|| 4).join().unwrap());
    assert_eq!(nested.join().unwrap(), 4);
    let in_job_wait = thread_exec::spawn(|| std::panic::catch_unwind(thread_exec::wait).is_err());
    assert!(
        in_job_wait.join().unwrap(),
        "wait inside a global job panics"
    );

    // The end of the process's service: a drain closes it for good.
    let report = thread_exec::global().drain(Duration::from_secs(10));
    assert!(report.is_complete(), "{report}");
    assert!(thread_exec::spawn(|| ()).join().unwrap_err().is_closed());
}
