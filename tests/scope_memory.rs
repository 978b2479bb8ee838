//! A long-lived scope's memory: it keeps only what its unfinished jobs
//! need. Its own test binary with a single `#[test]`, because it counts
//! every live heap byte of the process with a global allocator.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::SeqCst};

use common::{within, LIMIT};
use thread_exec::Executor;

/// The system allocator, counting live bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the count is a
// side effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, SeqCst);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, SeqCst);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// 20,000 spawn-and-join rounds in one scope grew the heap by about 2.2 MB
/// (a record of about 113 bytes kept per joined job until the scope's
/// end); outside a scope it stays flat. So do detached jobs that finished.
#[test]
fn a_long_lived_scope_keeps_no_record_of_finished_jobs() {
    within(LIMIT, "20,000 rounds in one scope", || {
        let pool = Executor::new(2);
        pool.scope(|s| {
            // One joined and one detached job per round, and the pool
            // drained before the next: the count of unfinished jobs stays
            // below three, so what grows is what the scope keeps of finished
            // jobs, not the capacity of a queue that a faster spawner filled.
            let round = |i: usize| {
                s.spawn(move || i * 2).join().unwrap();
                let _detached = s.spawn(move || i + 1);
                pool.wait();
            };
            // Warm up: the pool's queue, the scope's own lists.
            for i in 0..2_000 {
                round(i);
            }
            let before = LIVE.load(SeqCst);
            for i in 0..20_000 {
                round(i);
            }
            let grown = LIVE.load(SeqCst) - before;
            assert!(
                grown < 64 * 1024,
                "the heap grew by {grown} bytes over 20,000 rounds"
            );
        });
        pool.shutdown();
    });
}
