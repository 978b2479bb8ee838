//! The one `unsafe` step of scoped jobs ([`crate::scope`]): erasing the
//! lifetime bound of a scoped job's record, so that the pool's `'static`
//! queue can hold it, and invariant 5, the argument that makes it sound.
//!
//! Everything else about scoped jobs (the record's stages, the scope's list
//! of unfinished records, its end, the runners) is safe code in
//! [`crate::scope`]; this module names only what the argument needs: the
//! interface through which a `'static` holder reaches a record
//! ([`ScopedTask`]), and the outcome a runner reports ([`RunnerOutcome`]).
//!
//! # Invariant 5: a scoped job's borrows end before its scope returns
//!
//! A record's closure and result may borrow what the scope's caller borrows
//! (`'scope`). The runner queued on the pool must be `'static`, so it holds
//! the record through a pointer whose lifetime bound is erased ([`erase`],
//! this module's one `unsafe` block); so does the scope's own list of its
//! unfinished records. That is sound because no value of a `'scope` type
//! is reachable through a record once the scope has returned. The scope
//! ([`crate::scope`]) keeps these obligations, each stated there where it
//! is kept:
//!
//! - **Listed before queued.** A record is in its scope's list before its
//!   runner is queued, and leaves the list only once it is `TAKEN` (its
//!   result was taken or dropped, holding nothing of `'scope`), or when the
//!   scope's end takes the whole list to finish it.
//! - **The end finishes everything listed.** The scope's end, which runs
//!   whether the scope's closure returned or panicked, takes each listed
//!   record out of `QUEUED` (running its closure) or waits until it leaves
//!   `RUNNING`, then drops any result no handle took; it repeats until the
//!   list stays empty (a running job may spawn more). A thread that drops a
//!   result itself (a handle dropped after its job finished, or the job's
//!   finisher when its handle is gone) does so before the record leaves
//!   `RUNNING`, or is code the end waits for.
//! - **The end does not unwind.** A closure's panic is caught, the locks
//!   ignore poisoning, a result's destructor is caught, and so is a tracing
//!   subscriber that panics on the pool's report of it; anything else
//!   aborts the process.
//! - So when the end returns every record is `TAKEN`, holding no closure and
//!   no result: a runner that reaches its record later (a worker, or a
//!   [`PendingJob`](crate::PendingJob) run after `shutdown_now`) finds
//!   nothing to run, and dropping the record drops no `'scope` value.
//! - **Handles cannot escape.** A handle, which holds the record with its
//!   real lifetime, cannot outlive the scope: its type names `'scope`,
//!   which the scope's closure is generic over, so neither the closure's
//!   value nor anything of the caller's can hold it. The scope's user sees
//!   only `&'scope Scope`, never the scope itself, so it cannot be leaked to
//!   skip the end (the flaw of scoped-thread APIs that returned a guard).
//!
//! Checked by the loom model `scoped_job_races_its_scope_end` (the runner
//! against the scope's end and a joiner, every interleaving: the closure
//! runs once and its borrow ends before the scope returns) and by Miri over
//! `crate::scope`'s unit tests (a borrow used after the scope returned
//! would be a use of a dead stack variable).

use std::any::Any;

use crate::sync::Arc;

/// What a `'static` holder (a runner, the scope's list, its end) does with
/// a scoped job's record, whatever its closure and result types.
pub(crate) trait ScopedTask: Send + Sync {
    /// Runs the closure here if nobody has started it; `true` if it did.
    fn run_if_queued(&self) -> bool;
    /// Whether nobody has started the job yet.
    fn is_queued(&self) -> bool;
    /// Blocks until the job has finished (it is not `QUEUED`: the caller
    /// tried to run it first).
    fn wait_finished(&self);
    /// Drops a result no handle took, leaving the record `TAKEN`. Returns
    /// the payload of a panic no handle took, for the scope to resume.
    fn take_unjoined(&self) -> Option<Box<dyn Any + Send>>;
    /// The job ran on another thread first: withdraws its runner from the
    /// pool, which frees its place in a bounded queue at once. Never unwinds
    /// (the scope's end calls it).
    fn withdraw_runner(&self);
    /// Runs the job here if nobody has started it, then withdraws its
    /// runner; `true` if it ran here.
    fn run_here(&self) -> bool {
        let ran = self.run_if_queued();
        if ran {
            self.withdraw_runner();
        }
        ran
    }
    /// Whether the job's handle still exists (it may still be joined).
    fn handle_alive(&self) -> bool;
}

/// A record as a `'static` holder holds it: with its lifetime bound erased.
pub(crate) type Erased = Arc<dyn ScopedTask + 'static>;

/// Erases the lifetime bound of `task`, for its runner on the pool and the
/// scope's list.
pub(crate) fn erase<'scope>(task: Arc<dyn ScopedTask + 'scope>) -> Erased {
    // SAFETY: invariant 5. The two types differ only in the trait object's
    // lifetime bound, so they have the same layout; the scope's end makes
    // sure that no `'scope` value is reachable through the record once
    // `'scope` is over, so the `'static` pointer never reaches one.
    unsafe { std::mem::transmute::<Arc<dyn ScopedTask + 'scope>, Erased>(task) }
}

/// What a scoped job's runner returns: whether it ran its job. One that
/// found the job started by another thread (a joiner, a spawn into a full
/// pool, the scope's end) was withdrawn in effect, and the pool counts it
/// as cancelled, as one withdrawn while still queued is (see
/// `Outcome::Withdrawn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunnerOutcome {
    pub(crate) ran: bool,
}

/// Whether `value`, a job's output, is the report of a runner that did not
/// run its job. For any other output type this is a comparison of two
/// constant type ids, folded away.
pub(crate) fn is_withdrawn_runner<T: 'static>(value: &T) -> bool {
    (value as &dyn Any)
        .downcast_ref::<RunnerOutcome>()
        .is_some_and(|outcome| !outcome.ran)
}
