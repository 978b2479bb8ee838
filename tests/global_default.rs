//! The default global pool, built on first use: elastic (no thread until a
//! job needs one), and `build_global` refused after it. Its own test
//! binary: the global pool is the process's.

mod common;

use common::{within, LIMIT};
use thread_exec::Executor;

#[test]
fn the_default_global_pool_is_built_on_first_use_and_grows_on_demand() {
    let pool = thread_exec::global();
    assert_eq!(pool.stats().threads, 0, "no thread until a job needs one");
    assert!(std::ptr::eq(pool, thread_exec::global()), "one pool");

    // Many jobs that wait at once: it grows past the CPU count.
    let (gate, blockers) = common::occupy(pool, 16);
    assert!(pool.stats().threads >= 16);
    let name = thread_exec::spawn(|| std::thread::current().name().map(str::to_owned))
        .join()
        .unwrap();
    assert!(name.unwrap().starts_with("thread-exec-global"));
    common::release(&gate, blockers);
    within(LIMIT, "wait", thread_exec::wait);
    assert!(
        format!("{pool:?}").contains(&format!("max_threads: {}", thread_exec::GLOBAL_MAX_THREADS))
    );

    let late = Executor::builder().threads(1).build_global().unwrap_err();
    assert!(late.to_string().contains("already built"), "{late}");
}
