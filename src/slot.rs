//! The job slot: the one heap allocation behind every accepted job, and the
//! two thin pointers that share it, [`TaskRef`] (the queue's and the
//! worker's end) and [`RawHandle`] (the caller's end, inside
//! [`JobHandle`](crate::JobHandle)).
//!
//! This is the crate's only `unsafe` code. It exists for the per-job cost:
//! a job with its handle and its queue entry in one allocation of eight
//! words for a one-word job (the closure, its queue deadline, its
//! submission time and its submitter's span share a union with the result), with no lock taken on
//! the job's path. Safe Rust needs two fat `Arc<dyn _>` pointers, `Arc`'s
//! two counts, a mutex word and an enum tag on top; this module uses the
//! layout `async-task` (under `blocking`) uses.
//!
//! # Layout
//!
//! ```text
//!  Slot<F, C, T>  (repr(C), one Box)
//!  ├─ Common<T>
//!  │   ├─ Header ─┬─ state: AtomicUsize   stage | LOCKED | reference count
//!  │   │          └─ vtable: &'static VTable   the F/C-typed operations
//!  │   └─ waiter: Waiter<T>   awaiting task's waker, or on_complete callbacks
//!  └─ stage: union { queued: (F, C, times, span), done: Result<T, JobError> }
//! ```
//!
//! A [`TaskRef`] points at the `Header` and knows nothing else: it runs,
//! cancels and releases through the vtable. A [`RawHandle<T>`] points at
//! `Common<T>`: it knows `T`, so it reaches the waiter directly, and asks the
//! vtable where the result lies (the union's offset depends on `F`). Both are
//! one word, both own one reference.
//!
//! # The state word
//!
//! ```text
//!  bits 0-1  stage: QUEUED ─▶ RUNNING ─▶ DONE ─▶ TAKEN
//!  bit 2     LOCKED: someone is reading or writing `waiter`
//!  bit 3     STOP: the handle asked the running job to stop (cooperative:
//!            the job reads it through `crate::is_cancelled`; a hint, read
//!            and written with relaxed ordering)
//!  bit 4     ACCOUNTED: a job that settled without running has been
//!            counted out of the pool's state word (see below)
//!  bits 5-6  SHED: the lane of a job the pool may shed under overload
//!            (0 for one it may not; see `crate::overload`): written when
//!            the slot is made, never changed after (every operation on
//!            the word is a bitwise read-modify-write that keeps it)
//!  bits 7..  the number of TaskRef/RawHandle pointers alive
//! ```
//!
//! The invariants every `unsafe` block below relies on:
//!
//! 1. **Who may touch `stage`.** In `QUEUED` the union holds `queued`; the
//!    one thread whose compare-exchange moves the stage to `RUNNING` (a
//!    worker claiming the job, or a canceller) owns it: it takes `queued`
//!    out (a worker does its accounting between the claim and the run) and
//!    is then the only thread that touches `stage` until it publishes
//!    `DONE`: it writes `done` and lends `&done` to the callbacks. From `DONE` on, `done` is
//!    read only through the handle (which is not `Clone`, and takes the
//!    result by `&mut`), until it marks `TAKEN` and moves it out. So no two
//!    threads ever access `stage` mutably at once, and the union's active
//!    field always follows from the stage: `queued` in `QUEUED`, nothing in
//!    `TAKEN`, `done` in `DONE`; in `RUNNING`, `queued` until the claimant
//!    takes it out, then nothing (the claimant holds a reference throughout,
//!    so the slot is never freed in `RUNNING`).
//! 2. **Who may touch `waiter`.** Only the holder of `LOCKED`, which is set
//!    by compare-exchange from an unlocked word and cleared by the holder.
//!    Critical sections are a few moves: no user code, no allocation, no
//!    waker clone or drop, so a spinner waits for instructions, never for
//!    user code, and nothing can unwind while the lock is held.
//! 3. **No lost wake-up.** `DONE` is published in the same atomic operation
//!    that releases `LOCKED`, by the thread that held it while taking the
//!    waker out; a handle registers its waker only while holding `LOCKED` in
//!    a stage before `DONE`. So either the registration comes first and the
//!    finisher takes (and wakes) that waker, or the handle sees `DONE`.
//! 4. **Lifetime.** The count starts at the number of pointers handed out
//!    (two for a queued job, one for a refused one). Each pointer's `Drop`
//!    decrements it with `Release`; the thread that takes it to zero issues
//!    an `Acquire` fence (so every other thread's last access happens before)
//!    and frees the slot, dropping whatever the stage says is live. A
//!    `TaskRef` dropped while its job is still queued cancels the job first,
//!    so a handle can never wait on a job that no queue holds.
//!
//! 5. **Scoped jobs' borrows end before their scope returns.** Written
//!    and argued in [`scoped`], the other user of this module's licence
//!    (its only `unsafe` step, the lifetime erasure, and the obligations
//!    that `crate::scope` keeps): a scoped job's record is reached from the
//!    pool through a pointer whose lifetime bound is erased, and the
//!    scope's end leaves no value of the scope's lifetime in any record
//!    before it returns.
//!
//! How this is checked, and what each check cannot see:
//!
//! - The loom models in `tests/loom.rs` explore the protocols (start against
//!   cancel, completion against `on_complete` and polling, detached drops)
//!   with loom's `UnsafeCell` for `stage` and `waiter`, which fails a model
//!   on any access the state word does not order. Loom does not see plain
//!   fields (the vtable pointer) nor the freeing of the allocation.
//! - Miri runs this module's unit tests, including two races on real
//!   threads over many seeds (`.ci/run`): it checks what loom does not, the
//!   pointer provenance of the casts between `Slot`, `Common` and `Header`,
//!   and every access against the allocation's lifetime. It found two bugs
//!   that loom and valgrind had not: `release` read the vtable after its
//!   decrement (another owner may have freed the slot by then), and the
//!   handle derived the vtable's argument from a `&Header`, whose
//!   provenance does not cover the rest of the slot.
//! - Valgrind runs the handle-race stress test, the lifecycle matrix and the
//!   cancel races on the real pool; the stress and lifecycle tests count
//!   every closure, output and callback dropped or run.

#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use tracing::Span;

use crate::error::{panic_text, JobError};
use crate::job::{Callback, Priority, Stamp, Times};
use crate::panic::{drop_caught, run_callback, run_caught};
use crate::sync::{fence, AtomicUsize, Ordering, UnsafeCell};

pub(crate) mod scoped;

/// A callback added to a handle after submission.
pub(crate) type BoxedCallback<T> = Box<dyn FnOnce(&Result<T, JobError>) + Send + 'static>;

const STAGE: usize = 0b11;
const QUEUED: usize = 0;
const RUNNING: usize = 1;
const DONE: usize = 2;
const TAKEN: usize = 3;
const LOCKED: usize = 1 << 2;
const STOP: usize = 1 << 3;
const ACCOUNTED: usize = 1 << 4;
const SHED_SHIFT: u32 = 5;
const SHED: usize = 0b11 << SHED_SHIFT;
const REF_ONE: usize = 1 << 7;
const REF_MASK: usize = !(REF_ONE - 1);

/// What a worker's attempt to claim a queued entry found.
pub(crate) enum Claim {
    /// The job is the claimant's: to run, or to settle unrun (expired, or
    /// shed) once the claimant has done its accounting, so that the job's
    /// place in a bounded queue is free before its callbacks run.
    Run(Claimed, Reached),
    /// It had settled already (cancelled by its handle, or handed back);
    /// `account` is `true` if the claimant must count it out of the pool
    /// (see [`TaskRef::take_accounting`]).
    Settled { account: bool },
}

/// When a timed job was submitted and when its claimant reached it (the
/// same clock read as its deadline check).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Started {
    pub(crate) submitted: Stamp,
    pub(crate) at: Stamp,
}

/// What a claimant knows of the job it claimed before it runs it: its
/// times, and when it was reached (one clock read, taken only for a job
/// with a deadline, a submission time, or both; `Stamp::NONE` otherwise).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reached {
    pub(crate) times: Times,
    pub(crate) at: Stamp,
    /// The lane of a job the pool may shed, `None` for one it may not:
    /// from the word the claim replaced, at no extra load.
    pub(crate) shed: Option<Priority>,
}

impl Reached {
    /// Whether the job's deadline had passed when it was reached.
    pub(crate) fn expired(&self) -> bool {
        self.times.deadline.has_passed_at(self.at)
    }

    /// The submission and start of a job submitted with a time stamp.
    pub(crate) fn started(&self) -> Option<Started> {
        self.times.submitted.is_set().then_some(Started {
            submitted: self.times.submitted,
            at: self.at,
        })
    }
}

/// How a claimed job's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The job ran and returned.
    Completed,
    /// The job ran and panicked; its handle holds the payload.
    Panicked,
    /// A scoped job's runner ran and found its job started by another
    /// thread: it counts as cancelled (see [`scoped::RunnerOutcome`]).
    Withdrawn,
}

#[repr(C)]
struct Header {
    state: AtomicUsize,
    vtable: &'static VTable,
}

/// The operations that need `F` and `C`, for pointers that know neither.
struct VTable {
    /// Runs a job the caller claimed (invariant 1).
    run: unsafe fn(NonNull<Header>) -> Outcome,
    /// Settles a job the caller claimed with the error, without running
    /// it (cancelled, expired, shed).
    settle: unsafe fn(NonNull<Header>, JobError),
    /// The deadline and submission time of a job the caller claimed and
    /// has not run.
    times: unsafe fn(NonNull<Header>) -> Times,
    /// Settles the job as cancelled if it is still queued.
    cancel: unsafe fn(NonNull<Header>) -> bool,
    /// Where `done` lies; only meaningful in `DONE`.
    result: unsafe fn(NonNull<Header>) -> NonNull<()>,
    /// Drops the live contents and frees the slot (invariant 4).
    dealloc: unsafe fn(NonNull<Header>),
}

/// The part of the slot whose layout does not depend on `F` or `C`.
#[repr(C)]
struct Common<T> {
    header: Header,
    waiter: UnsafeCell<Waiter<T>>,
}

#[repr(C)]
struct Slot<F, C, T> {
    common: Common<T>,
    stage: UnsafeCell<Stage<F, C, T>>,
}

/// The stage's data; which field is live follows from the state word.
#[repr(C)]
union Stage<F, C, T> {
    queued: ManuallyDrop<Queued<F, C>>,
    done: ManuallyDrop<Result<T, JobError>>,
}

struct Queued<F, C> {
    f: F,
    callback: C,
    /// When the job must have started by (or `Deadline::NONE`), and when
    /// it was submitted if the pool records timings (or `Stamp::NONE`).
    times: Times,
    /// The span current at submission, boxed so that jobs submitted outside
    /// any span (the common case without a subscriber) pay one null word.
    span: Option<Box<Span>>,
}

/// Who is told when the job settles: two words in the common case.
enum Waiter<T> {
    /// The task awaiting the result; a no-op waker when none does.
    Task(Waker),
    /// Callbacks added by `on_complete` before the job settled, newest
    /// first; the oldest node's `waker` field is unused, the newest holds the
    /// awaiting task's waker.
    Callbacks(Box<CallbackNode<T>>),
}

struct CallbackNode<T> {
    waker: Waker,
    run: BoxedCallback<T>,
    older: Option<Box<CallbackNode<T>>>,
}

impl<T> Waiter<T> {
    fn none() -> Self {
        Waiter::Task(futures::task::noop_waker())
    }

    fn waker_mut(&mut self) -> &mut Waker {
        match self {
            Waiter::Task(waker) => waker,
            Waiter::Callbacks(newest) => &mut newest.waker,
        }
    }
}

/// Creates the slot of an accepted job: its queue entry and its handle.
pub(crate) fn queued<F, C, T>(
    f: F,
    callback: C,
    times: Times,
    shed: Option<Priority>,
) -> (TaskRef, RawHandle<T>)
where
    F: FnOnce() -> T + Send + 'static,
    C: Callback<T>,
    T: Send + 'static,
{
    let current = Span::current();
    let span = (!current.is_none()).then(|| Box::new(current));
    let queued = Queued {
        f,
        callback,
        times,
        span,
    };
    let header = allocate::<F, C, T>(QUEUED | shed_bits(shed) | (2 * REF_ONE), |stage| {
        // SAFETY: `allocate` passes a pointer to the new slot's stage, valid
        // for writes; writing one union field drops nothing.
        unsafe { std::ptr::addr_of_mut!((*stage).queued).write(ManuallyDrop::new(queued)) }
    });
    (
        TaskRef { header },
        RawHandle {
            common: header.cast(),
            _output: PhantomData,
        },
    )
}

/// Creates the slot of a job the executor refused: settled with `error`,
/// its callback run now on the caller's thread, only a handle pointing at it.
///
/// Cold and never inlined: its `Result<T, JobError>` is as large as `T`, and
/// inlined into a submit path it would put a frame that large on every
/// submitting thread's stack, refused or not.
#[cold]
#[inline(never)]
pub(crate) fn refused<F, C, T>(f: F, callback: C, error: JobError) -> RawHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    C: Callback<T>,
    T: Send + 'static,
{
    drop_caught(f, "a refused job's closure");
    let result = Err(error);
    run_callback(|| callback.call(&result));
    let header = allocate::<F, C, T>(DONE | REF_ONE, |stage| {
        // SAFETY: as in `queued`.
        unsafe { std::ptr::addr_of_mut!((*stage).done).write(ManuallyDrop::new(result)) }
    });
    RawHandle {
        common: header.cast(),
        _output: PhantomData,
    }
}

/// The lane a state word's `SHED` bits name.
fn shed_lane_of(word: usize) -> Option<Priority> {
    match (word & SHED) >> SHED_SHIFT {
        0 => None,
        1 => Some(Priority::Low),
        2 => Some(Priority::Normal),
        _ => Some(Priority::High),
    }
}

/// The `SHED` bits of a job the pool may shed in `lane`, or may not.
fn shed_bits(lane: Option<Priority>) -> usize {
    let bits = match lane {
        None => 0,
        Some(Priority::Low) => 1,
        Some(Priority::Normal) => 2,
        Some(Priority::High) => 3,
    };
    bits << SHED_SHIFT
}

/// Allocates a slot in `state` whose stage `init` writes. The slot is
/// built in place on the heap: a job whose output is large (the union is as
/// large as its largest field) never has a slot-sized value on the
/// submitting thread's stack, which a debug build would otherwise copy
/// there and overflow.
fn allocate<F, C, T>(state: usize, init: impl FnOnce(*mut Stage<F, C, T>)) -> NonNull<Header>
where
    F: FnOnce() -> T + Send + 'static,
    C: Callback<T>,
    T: Send + 'static,
{
    let common = Common {
        header: Header {
            state: AtomicUsize::new(state),
            vtable: &VTable {
                run: Slot::<F, C, T>::run_raw,
                settle: Slot::<F, C, T>::settle_raw,
                times: Slot::<F, C, T>::times_raw,
                cancel: Slot::<F, C, T>::cancel_raw,
                result: result::<F, C, T>,
                dealloc: dealloc::<F, C, T>,
            },
        },
        waiter: UnsafeCell::new(Waiter::none()),
    };
    #[cfg(not(thread_exec_loom))]
    let slot = {
        let mut slot = Box::<Slot<F, C, T>>::new_uninit();
        let ptr = slot.as_mut_ptr();
        // SAFETY: `ptr` points at the uninitialised allocation, valid for
        // writes. `common` is written whole; `stage` is an `UnsafeCell`
        // (`repr(transparent)`, see `crate::sync`) of a union, so a pointer
        // to it is a pointer to the union, whose one field `init` writes.
        // A union with one field written is initialised: that is all
        // `assume_init` needs, and invariant 1 says which field is live.
        unsafe {
            std::ptr::addr_of_mut!((*ptr).common).write(common);
            init(std::ptr::addr_of_mut!((*ptr).stage).cast());
            slot.assume_init()
        }
    };
    // Loom's `UnsafeCell` tracks its accesses and must be built from a
    // value; the models' jobs are small.
    #[cfg(thread_exec_loom)]
    let slot = {
        let mut stage = std::mem::MaybeUninit::<Stage<F, C, T>>::uninit();
        init(stage.as_mut_ptr());
        Box::new(Slot {
            common,
            // SAFETY: `init` wrote one field of the union (see above).
            stage: UnsafeCell::new(unsafe { stage.assume_init() }),
        })
    };
    // `Slot` and `Common` are `repr(C)` with the header first, so a pointer
    // to the slot is a pointer to its header (and to its `Common<T>`).
    NonNull::from(Box::leak(slot)).cast()
}

impl Header {
    /// Moves the stage from `QUEUED` to `RUNNING`: `true` for the one caller
    /// that does, which now owns `queued` (invariant 1).
    fn start(&self) -> bool {
        self.start_observed().is_some()
    }

    /// [`start`](Self::start), returning the word it replaced: the caller
    /// reads the `SHED` bits from it instead of loading the word again.
    fn start_observed(&self) -> Option<usize> {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & STAGE != QUEUED {
                return None;
            }
            match self.state.compare_exchange_weak(
                state,
                state | RUNNING,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(state),
                Err(actual) => state = actual,
            }
        }
    }

    /// Takes `LOCKED`, unless the job is settled: then returns `false`
    /// without it, with the result visible (`Acquire`).
    fn lock_unless_settled(&self) -> bool {
        self.lock_unless_settled_from(self.state.load(Ordering::Acquire))
    }

    /// [`lock_unless_settled`](Self::lock_unless_settled), starting from a
    /// state word the caller has just loaded with `Acquire`.
    fn lock_unless_settled_from(&self, mut state: usize) -> bool {
        let mut spins = 0_u32;
        loop {
            if state & STAGE >= DONE {
                return false;
            }
            if state & LOCKED != 0 {
                crate::sync::spin(&mut spins);
                state = self.state.load(Ordering::Acquire);
                continue;
            }
            match self.state.compare_exchange_weak(
                state,
                state | LOCKED,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    fn unlock(&self) {
        self.state.fetch_and(!LOCKED, Ordering::Release);
    }

    /// Publishes `DONE` and releases `LOCKED` in one step (invariant 3).
    /// The caller holds `LOCKED` in `RUNNING`, so flipping the two stage bits
    /// and the lock bit turns `RUNNING | LOCKED` into `DONE`.
    fn publish_done_and_unlock(&self) {
        self.state
            .fetch_xor((RUNNING ^ DONE) | LOCKED, Ordering::AcqRel);
    }

    fn stage(&self) -> usize {
        self.state.load(Ordering::Acquire) & STAGE
    }

    /// The `SHED` bits: never changed after the slot was made, so any
    /// owner of a reference reads them without claiming the job.
    fn shed_lane(&self) -> Option<Priority> {
        shed_lane_of(self.state.load(Ordering::Relaxed))
    }

    /// Takes the duty of counting a job that settled without running out
    /// of the pool's state word: `true` for the first caller only. The
    /// handle that cancelled it, the worker that pops its queue entry, and
    /// `shutdown_now` may each try; exactly one does the count.
    fn take_accounting(&self) -> bool {
        self.state.fetch_or(ACCOUNTED, Ordering::AcqRel) & ACCOUNTED == 0
    }
}

/// Drops one reference to the slot behind `header`, freeing it with the
/// last one.
///
/// # Safety
///
/// The caller owns one reference to a live slot and gives it up.
unsafe fn release(header: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the slot alive up to the
    // `fetch_sub` that gives it up, and not a moment longer: another owner
    // may free the slot right after it, so the vtable is read before and
    // nothing of the slot is touched after unless this was the last
    // reference.
    let (vtable, previous) = unsafe {
        let header = header.as_ref();
        let vtable = header.vtable;
        (vtable, header.state.fetch_sub(REF_ONE, Ordering::Release))
    };
    if previous & REF_MASK == REF_ONE {
        fence(Ordering::Acquire);
        // SAFETY: that was the last reference (invariant 4); every other
        // thread's access happens before the fence.
        unsafe { (vtable.dealloc)(header) }
    }
}

/// # Safety (for this and the vtable's functions)
///
/// `header` points at the header of a live `Slot<F, C, T>` with exactly
/// these `F`, `C`, `T` (the vtable it was read from was built for them), and
/// the caller owns a reference to it.
unsafe fn slot<'a, F, C, T>(header: NonNull<Header>) -> &'a Slot<F, C, T> {
    // SAFETY: as above; the caller's reference keeps it alive for 'a.
    unsafe { header.cast::<Slot<F, C, T>>().as_ref() }
}

/// The vtable's entries that need the job's bounds.
impl<F, C, T> Slot<F, C, T>
where
    F: FnOnce() -> T + Send + 'static,
    C: Callback<T>,
    T: Send + 'static,
{
    /// The vtable's `run`. Safety: as for [`slot`], and the caller claimed
    /// the job ([`Header::start`] succeeded for it).
    unsafe fn run_raw(header: NonNull<Header>) -> Outcome {
        // SAFETY: this function's contract.
        let slot = unsafe { slot::<F, C, T>(header) };
        let Queued {
            f, callback, span, ..
        } = slot.take_claimed();
        // The submitter's span is the parent of the job's span, so a
        // request's span follows its blocking work (and its callbacks) onto
        // the worker. Entering and leaving spans runs the tracing
        // subscriber, user code too: it happens under the job's catch (a
        // subscriber that panics there fails the job, not the worker), and
        // the spans are left under a catch of their own.
        let mut spans = None;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let parent = span.as_deref().map(Span::enter);
            spans = Some((parent, tracing::debug_span!("thread_exec::job").entered()));
            let _running = RunningJob::enter(header);
            f()
        }))
        .map_err(|payload| {
            run_caught(
                || tracing::warn!(panic = panic_text(payload.as_ref()), "job panicked"),
                "reporting ",
                "a job's panic",
            );
            crate::panic::report(payload.as_ref(), false);
            JobError::panic(payload)
        });
        let outcome = match &result {
            Ok(value) if scoped::is_withdrawn_runner(value) => Outcome::Withdrawn,
            Ok(_) => Outcome::Completed,
            Err(_) => Outcome::Panicked,
        };
        slot.finish(result, callback);
        run_caught(move || drop(spans), "leaving ", "a job's span");
        outcome
    }

    /// The vtable's `settle`. Safety: as for [`run_raw`](Self::run_raw).
    unsafe fn settle_raw(header: NonNull<Header>, error: JobError) {
        // SAFETY: this function's contract.
        let slot = unsafe { slot::<F, C, T>(header) };
        slot.settle_unrun(slot.take_claimed(), error);
    }

    /// The vtable's `times`. Safety: as for [`run_raw`](Self::run_raw).
    unsafe fn times_raw(header: NonNull<Header>) -> Times {
        // SAFETY: this function's contract.
        let slot = unsafe { slot::<F, C, T>(header) };
        slot.stage.with(|stage| {
            // SAFETY: the caller claimed the job and has not taken `queued`
            // out: it is live, and the caller's alone (invariant 1).
            let queued: &Queued<F, C> = unsafe { &(*stage).queued };
            queued.times
        })
    }

    /// The vtable's `cancel`. Safety: as for [`slot`].
    unsafe fn cancel_raw(header: NonNull<Header>) -> bool {
        // SAFETY: this function's contract.
        let slot = unsafe { slot::<F, C, T>(header) };
        if !slot.common.header.start() {
            // Started (or settled): ask it to stop. Only the job reads the
            // bit, and only as a hint, so it needs no ordering.
            slot.common.header.state.fetch_or(STOP, Ordering::Relaxed);
            return false;
        }
        slot.settle_unrun(slot.take_claimed(), JobError::cancelled());
        true
    }
}

unsafe fn result<F, C, T>(header: NonNull<Header>) -> NonNull<()> {
    // SAFETY: this function's contract.
    let slot = unsafe { slot::<F, C, T>(header) };
    slot.stage.with(|stage| {
        // SAFETY: `stage` points into a live slot, so the address of its
        // `done` field is in bounds and not null; no reference is formed.
        unsafe { NonNull::new_unchecked(std::ptr::addr_of!((*stage).done).cast_mut().cast()) }
    })
}

unsafe fn dealloc<F, C, T>(header: NonNull<Header>) {
    // SAFETY: the caller held the last reference (invariant 4): the slot is
    // ours alone, and was allocated by `allocate` as a `Box<Slot<F, C, T>>`.
    let slot = unsafe { Box::from_raw(header.cast::<Slot<F, C, T>>().as_ptr()) };
    let stage = slot.common.header.state.load(Ordering::Relaxed) & STAGE;
    // Dropped in place: the closure or result may be large, and moving it
    // out to drop it would copy it onto this thread's stack.
    slot.stage.with_mut(|data| match stage {
        QUEUED => run_caught(
            // SAFETY: invariant 1: in `QUEUED`, `queued` is the live field;
            // it is dropped once, here, and the slot is freed right after.
            || unsafe { ManuallyDrop::drop(&mut (*data).queued) },
            "dropping ",
            "a job",
        ),
        DONE => run_caught(
            // SAFETY: as above, for `done` in `DONE`.
            || unsafe { ManuallyDrop::drop(&mut (*data).done) },
            "dropping ",
            "a job's result",
        ),
        // `RUNNING` cannot be freed (the runner holds a reference), and
        // `TAKEN` holds nothing.
        _ => {}
    });
    // The waiter (a waker: runtime code) and the allocation.
    drop_caught(slot, "a job's waker");
}

impl<F, C, T> Slot<F, C, T>
where
    F: FnOnce() -> T + Send + 'static,
    C: Callback<T>,
    T: Send + 'static,
{
    /// Moves the closure out of a job the caller claimed.
    fn take_claimed(&self) -> Queued<F, C> {
        self.stage.with_mut(|stage| {
            // SAFETY: the caller's `start` succeeded, so `queued` is live and
            // the caller's alone (invariant 1); the union is left with no
            // live field.
            unsafe { ManuallyDrop::take(&mut (*stage).queued) }
        })
    }

    /// Settles a claimed job without running it: drops its closure, runs
    /// its callbacks with `error`.
    fn settle_unrun(&self, queued: Queued<F, C>, error: JobError) {
        let Queued {
            f, callback, span, ..
        } = queued;
        drop(span);
        drop_caught(f, "an unrun job's closure");
        self.finish(Err(error), callback);
    }

    /// Runs the callbacks, publishes the result and wakes the waiter. The
    /// caller moved the stage to `RUNNING`.
    fn finish(&self, result: Result<T, JobError>, callback: C) {
        run_callback(|| callback.call(&result));
        self.stage.with_mut(|stage| {
            // SAFETY: `RUNNING`, ours alone (invariant 1); writing a
            // `ManuallyDrop` union field drops nothing.
            unsafe { (*stage).done = ManuallyDrop::new(result) }
        });
        let header = &self.common.header;
        loop {
            let locked = header.lock_unless_settled();
            debug_assert!(locked, "only the finisher settles a running job");
            let waiter = self.common.waiter.with_mut(|waiter| {
                // SAFETY: we hold `LOCKED` (invariant 2).
                let waiter = unsafe { &mut *waiter };
                match waiter {
                    Waiter::Callbacks(newest) => {
                        let waker = mem::replace(&mut newest.waker, futures::task::noop_waker());
                        mem::replace(waiter, Waiter::Task(waker))
                    }
                    Waiter::Task(waker) => {
                        Waiter::Task(mem::replace(waker, futures::task::noop_waker()))
                    }
                }
            });
            match waiter {
                Waiter::Callbacks(newest) => {
                    header.unlock();
                    self.stage.with(|stage| {
                        // SAFETY: still `RUNNING` and ours: `done` is live
                        // and nobody else reads it yet (invariant 1).
                        let result = unsafe { &*(*stage).done };
                        run_callbacks(newest, result);
                    });
                }
                Waiter::Task(waker) => {
                    header.publish_done_and_unlock();
                    // A waker is runtime code; its panic must not unwind
                    // into the worker (or leave the slot's reference held).
                    run_caught(|| waker.wake(), "waking ", "a job's waiter");
                    return;
                }
            }
        }
    }
}

/// Runs a chain of `on_complete` callbacks oldest first, each caught.
fn run_callbacks<T>(newest: Box<CallbackNode<T>>, result: &Result<T, JobError>) {
    let mut in_order = Vec::new();
    let mut next = Some(newest);
    while let Some(node) = next {
        let CallbackNode { run, older, .. } = *node;
        in_order.push(run);
        next = older;
    }
    for run in in_order.into_iter().rev() {
        run_callback(|| run(result));
    }
}

#[cfg(not(thread_exec_loom))]
thread_local! {
    /// The header of the job this thread is running, while its closure runs.
    static CURRENT_JOB: std::cell::Cell<Option<NonNull<Header>>> = const { std::cell::Cell::new(None) };
}

#[cfg(thread_exec_loom)]
loom::thread_local! {
    static CURRENT_JOB: std::cell::Cell<Option<NonNull<Header>>> = std::cell::Cell::new(None);
}

/// Marks the calling thread as running the job behind `header` until it
/// drops (restoring whatever job it ran before: `PendingJob::run` may nest).
struct RunningJob(Option<NonNull<Header>>);

impl RunningJob {
    fn enter(header: NonNull<Header>) -> RunningJob {
        RunningJob(CURRENT_JOB.with(|running| running.replace(Some(header))))
    }
}

impl Drop for RunningJob {
    fn drop(&mut self) {
        CURRENT_JOB.with(|running| running.set(self.0));
    }
}

/// Whether the job running on the calling thread was asked to stop: `false`
/// outside a job (see [`crate::is_cancelled`]).
pub(crate) fn stop_requested() -> bool {
    CURRENT_JOB.with(|running| {
        running.get().is_some_and(|header| {
            // SAFETY: `CURRENT_JOB` holds a header only while `run_raw` runs
            // that job's closure on this thread, under the reference of the
            // `TaskRef` (or `PendingJob`) that is running it: the slot is
            // alive, and only its atomic state word is read.
            let header = unsafe { header.as_ref() };
            header.state.load(Ordering::Relaxed) & STOP != 0
        })
    })
}

/// The queue's (and the worker's, and [`crate::PendingJob`]'s) pointer to a
/// job: one word, owning one reference.
pub(crate) struct TaskRef {
    header: NonNull<Header>,
}

// SAFETY: the slot is only ever built from `F`, `C` and `T` that are all
// `Send` (see `queued`), the state word is atomic, and every non-atomic
// access follows invariants 1 and 2, whichever thread makes it.
unsafe impl Send for TaskRef {}
// SAFETY: `&TaskRef` only reads the state word (`is_queued`).
unsafe impl Sync for TaskRef {}

impl TaskRef {
    fn header(&self) -> &Header {
        // SAFETY: our reference keeps the slot alive.
        unsafe { self.header.as_ref() }
    }

    /// Claims the job for the calling thread, which must then run it or
    /// settle it unrun (if the `Claimed` is dropped, it settles as
    /// cancelled); with what the claimant needs to decide which, read with
    /// at most one clock read. `Claim::Settled` if it had left `QUEUED`
    /// already (cancelled, or handed back): the reference is given up.
    pub(crate) fn claim(self) -> Claim {
        let Some(word) = self.header().start_observed() else {
            let account = self.header().take_accounting();
            // Already settled: nothing to cancel on drop.
            // SAFETY: we own one reference and give it up.
            unsafe { release(self.into_header()) };
            return Claim::Settled { account };
        };
        let claimed = Claimed {
            header: self.into_header(),
        };
        let times = claimed.times();
        // One clock read, only for a deadline or a timed job.
        let at = times.reached();
        Claim::Run(
            claimed,
            Reached {
                times,
                at,
                shed: shed_lane_of(word),
            },
        )
    }

    /// Claims the job whatever its deadline, if it is still queued: for a
    /// caller that settles it outside the pool's worker loop (runs a job
    /// handed back by `shutdown_now`, or cancels one) after doing its own
    /// accounting. `None` if it had left `QUEUED` already.
    pub(crate) fn claim_unrun(self) -> Option<Claimed> {
        if !self.header().start() {
            return None; // `self` drops: already settled, nothing to cancel
        }
        Some(Claimed {
            header: self.into_header(),
        })
    }

    /// Claims and runs the job on the calling thread whatever its deadline,
    /// if it is still queued.
    pub(crate) fn run(self) -> Option<Outcome> {
        self.claim_unrun().map(Claimed::run)
    }

    /// The lane of a job the pool may shed, `None` for one it may not;
    /// readable without claiming the job.
    pub(crate) fn shed_lane(&self) -> Option<Priority> {
        self.header().shed_lane()
    }

    /// [`Header::take_accounting`], for a job taken out of the queue that
    /// the caller settles itself (cancels or hands back).
    pub(crate) fn take_accounting(&self) -> bool {
        self.header().take_accounting()
    }

    /// Settles a still-queued job as cancelled; `false` if it had left
    /// `QUEUED` already.
    pub(crate) fn cancel(self) -> bool {
        let this = Released(self.into_header());
        // SAFETY: as in `run`.
        unsafe { (this.0.as_ref().vtable.cancel)(this.0) }
    }

    /// Gives up the pointer without `Drop`'s queued check: the caller
    /// settles the job itself.
    fn into_header(self) -> NonNull<Header> {
        ManuallyDrop::new(self).header
    }

    /// Whether the job has neither started nor been cancelled.
    pub(crate) fn is_queued(&self) -> bool {
        self.header().stage() == QUEUED
    }
}

/// A job its holder moved from `QUEUED` to `RUNNING` ([`TaskRef::claim`]):
/// the holder alone may run it (invariant 1). One word, owning one
/// reference. Dropped without [`run`](Claimed::run), the job settles as
/// cancelled, so a claimed job can never be left unsettled.
pub(crate) struct Claimed {
    header: NonNull<Header>,
}

// SAFETY: as for `TaskRef`.
unsafe impl Send for Claimed {}

impl Claimed {
    /// Runs the job on the calling thread: its closure, its callbacks, the
    /// wake-up of its handle, each caught if it panics.
    pub(crate) fn run(self) -> Outcome {
        let this = Released(ManuallyDrop::new(self).header);
        // SAFETY: the vtable was built for this slot, we claimed the job,
        // and `this` holds a reference across the call (and gives it up
        // after, even if the call unwinds).
        unsafe { (this.0.as_ref().vtable.run)(this.0) }
    }

    fn times(&self) -> Times {
        // SAFETY: as in `run`; `queued` is still in the slot.
        unsafe { (self.header.as_ref().vtable.times)(self.header) }
    }

    /// Settles the job with `error` (expired, shed), without running it:
    /// drops its closure and runs its callbacks. The claimant does its
    /// accounting first, so a callback that submits finds the job's place
    /// in a bounded queue free.
    pub(crate) fn settle(self, error: JobError) {
        let this = Released(ManuallyDrop::new(self).header);
        // SAFETY: as in `run`.
        unsafe { (this.0.as_ref().vtable.settle)(this.0, error) }
    }
}

impl Claimed {
    #[cfg(test)]
    fn header(&self) -> &Header {
        // SAFETY: our reference keeps the slot alive.
        unsafe { self.header.as_ref() }
    }

    /// Settles the job as cancelled, without running it: drops its closure
    /// and runs its callbacks (user code). Dropping a `Claimed` does the
    /// same; this names it.
    pub(crate) fn cancel(self) {
        drop(self);
    }
}

impl Drop for Claimed {
    fn drop(&mut self) {
        let this = Released(self.header);
        // SAFETY: as in `run`; `settle` settles the claimed job.
        unsafe { (this.0.as_ref().vtable.settle)(this.0, JobError::cancelled()) }
    }
}

/// A reference given up when this guard drops, on return or unwind.
struct Released(NonNull<Header>);

impl Drop for Released {
    fn drop(&mut self) {
        // SAFETY: the guard owns one reference (taken over from a `TaskRef`).
        unsafe { release(self.0) }
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // Invariant 4: a queue entry never disappears with its job unsettled.
        if self.is_queued() {
            // SAFETY: as in `run`.
            unsafe { (self.header().vtable.cancel)(self.header) };
        }
        // SAFETY: we own one reference and give it up.
        unsafe { release(self.header) }
    }
}

/// The handle's pointer to a job: one word, owning one reference.
pub(crate) struct RawHandle<T> {
    common: NonNull<Common<T>>,
    _output: PhantomData<T>,
}

// SAFETY: the handle moves the `T` out of the slot and runs `on_complete`
// callbacks (which are `Send`) with `&T`; every access follows invariants 1
// and 2, whichever thread makes it. `T: Send` is required for both, as
// the output crosses from the worker to the handle's thread.
unsafe impl<T: Send> Send for RawHandle<T> {}
// SAFETY: `&RawHandle` only reads the state word or cancels, which touches
// `F` and `C` (both `Send`), never `T`.
unsafe impl<T: Send> Sync for RawHandle<T> {}

// The handle is a pointer: moving it never moves the slot.
impl<T> Unpin for RawHandle<T> {}

impl<T> RawHandle<T> {
    fn common(&self) -> &Common<T> {
        // SAFETY: our reference keeps the slot alive.
        unsafe { self.common.as_ref() }
    }

    fn header(&self) -> &Header {
        &self.common().header
    }

    /// The pointer the vtable's functions take. Derived from `self.common`,
    /// which carries the whole allocation's provenance, never from a
    /// `&Header`, which covers only the header's bytes (the functions reach
    /// the rest of the slot through it).
    fn header_ptr(&self) -> NonNull<Header> {
        self.common.cast()
    }

    /// `&done`. The caller has seen `DONE` and is the handle, the only
    /// reader from then on (invariant 1).
    fn done(&self) -> &Result<T, JobError> {
        // SAFETY: the vtable was built for this slot; we hold a reference.
        let done = unsafe { (self.header().vtable.result)(self.header_ptr()) };
        // SAFETY: `DONE`: `done` is live and is a `Result<T, JobError>`.
        unsafe { done.cast::<Result<T, JobError>>().as_ref() }
    }

    /// Takes the result out, leaving the stage `TAKEN`.
    fn take(&mut self) -> Result<T, JobError> {
        // SAFETY: as in `done`.
        let done = unsafe { (self.header().vtable.result)(self.header_ptr()) };
        // SAFETY: `DONE` and we are the only reader (`&mut self`); marking
        // `TAKEN` right after means nobody reads or drops it again.
        let result = unsafe { done.cast::<Result<T, JobError>>().as_ptr().read() };
        self.header()
            .state
            .fetch_xor(DONE ^ TAKEN, Ordering::Relaxed);
        result
    }

    /// Polls for the result, registering `cx`'s waker if it is not there.
    ///
    /// # Panics
    ///
    /// If the result was taken already.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, JobError>> {
        let state = self.header().state.load(Ordering::Acquire);
        match state & STAGE {
            DONE => return Poll::Ready(self.take()),
            TAKEN => panic!("`JobHandle` polled after it returned its result"),
            _ => {}
        }
        // Cloned before locking: a waker's clone and drop are foreign code
        // and never run under `LOCKED` (invariant 2).
        let fresh = cx.waker().clone();
        if !self.header().lock_unless_settled_from(state) {
            drop(fresh);
            return Poll::Ready(self.take());
        }
        let stale = self.common().waiter.with_mut(|waiter| {
            // SAFETY: we hold `LOCKED` (invariant 2).
            let current = unsafe { (*waiter).waker_mut() };
            if current.will_wake(&fresh) {
                fresh
            } else {
                mem::replace(current, fresh)
            }
        });
        self.header().unlock();
        drop(stale);
        Poll::Pending
    }

    /// Whether the job has settled.
    pub(crate) fn is_finished(&self) -> bool {
        self.header().stage() >= DONE
    }

    /// Whether the job has left the queue: it runs, or has settled.
    pub(crate) fn is_started(&self) -> bool {
        self.header().stage() != QUEUED
    }

    /// Settles the job as cancelled if it is still queued (the unit tests'
    /// cancel, with no pool to account to).
    #[cfg(test)]
    fn cancel(&self) -> bool {
        self.claim_to_cancel().map(Claimed::cancel).is_some()
    }

    /// Claims the job for cancelling if it is still queued: the caller
    /// gives its place in the queue back, then settles it with
    /// [`Claimed::cancel`] (user code runs there). If it had left `QUEUED`
    /// (it runs, or has settled), asks it to stop and returns `None`.
    pub(crate) fn claim_to_cancel(&self) -> Option<Claimed> {
        let header = self.header();
        if !header.start() {
            // Only the job reads the bit, and only as a hint, so it needs no
            // ordering.
            header.state.fetch_or(STOP, Ordering::Relaxed);
            return None;
        }
        // A reference for the `Claimed`, taken while ours keeps the slot
        // alive (invariant 4); like `Arc`'s clone, it needs no ordering.
        header.state.fetch_add(REF_ONE, Ordering::Relaxed);
        Some(Claimed {
            header: self.header_ptr(),
        })
    }

    /// [`Header::take_accounting`], for a handle that cancelled its job.
    pub(crate) fn take_accounting(&self) -> bool {
        self.header().take_accounting()
    }

    /// Runs `callback` with the outcome: when the job settles, or now.
    ///
    /// # Panics
    ///
    /// If the result was taken already.
    pub(crate) fn add_callback(&mut self, callback: BoxedCallback<T>) {
        let mut node = Box::new(CallbackNode {
            waker: futures::task::noop_waker(),
            run: callback,
            older: None,
        });
        if !self.header().lock_unless_settled() {
            if self.header().stage() == TAKEN {
                panic!("`JobHandle::on_complete` called after the handle returned its result");
            }
            run_callback(|| (node.run)(self.done()));
            return;
        }
        self.common().waiter.with_mut(|waiter| {
            // SAFETY: we hold `LOCKED` (invariant 2).
            let waiter = unsafe { &mut *waiter };
            // Only moves here: the no-op waker dropped by the assignment
            // runs no code.
            node.waker = mem::replace(waiter.waker_mut(), futures::task::noop_waker());
            if let Waiter::Callbacks(older) = mem::replace(waiter, Waiter::none()) {
                node.older = Some(older);
            }
            *waiter = Waiter::Callbacks(node);
        });
        self.header().unlock();
    }
}

impl<T> Drop for RawHandle<T> {
    fn drop(&mut self) {
        // SAFETY: we own one reference and give it up.
        unsafe { release(self.common.cast()) }
    }
}

#[cfg(all(test, not(thread_exec_loom)))]
mod tests {
    use super::*;
    use crate::job::NoCallback;

    fn slot_size<F: FnOnce() -> T + Send + 'static, T: Send + 'static>(_: &F) -> usize {
        mem::size_of::<Slot<F, NoCallback, T>>()
    }

    /// The slot's layout is the per-job memory budget: guard it. A job
    /// capturing one word and returning one word: state and vtable, the
    /// waiter's two words, and the union of (closure, deadline, submission
    /// time, span) and the result.
    #[test]
    fn a_one_word_job_slot_takes_eight_words() {
        let word = mem::size_of::<usize>();
        assert_eq!(mem::size_of::<Waiter<usize>>(), 2 * word);
        assert_eq!(mem::size_of::<TaskRef>(), word);
        assert_eq!(mem::size_of::<RawHandle<usize>>(), word);
        let captured = 5_usize;
        assert_eq!(slot_size(&move || captured), 8 * word);
    }

    #[test]
    fn the_last_reference_frees_whatever_is_live() {
        use std::sync::atomic::AtomicUsize as Count;
        use std::sync::Arc;
        struct Tally(Arc<Count>);
        impl Drop for Tally {
            fn drop(&mut self) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let drops = Arc::new(Count::new(0));
        let count = || drops.load(std::sync::atomic::Ordering::SeqCst);

        // Queued, both pointers dropped: the closure is cancelled and freed.
        let tally = Tally(Arc::clone(&drops));
        let (task, handle) = queued(move || tally, NoCallback, Times::NONE, None);
        drop(handle);
        drop(task);
        assert_eq!(count(), 1);

        // Run, handle dropped after: the output is freed with the slot.
        let tally = Tally(Arc::clone(&drops));
        let (task, handle) = queued(move || tally, NoCallback, Times::NONE, None);
        assert_eq!(task.run(), Some(Outcome::Completed));
        assert_eq!(count(), 1);
        drop(handle);
        assert_eq!(count(), 2);

        // Taken by the handle: freed by whoever holds it, not twice.
        let tally = Tally(Arc::clone(&drops));
        let (task, mut handle) = queued(move || tally, NoCallback, Times::NONE, None);
        assert_eq!(task.run(), Some(Outcome::Completed));
        let waker = futures::task::noop_waker();
        let Poll::Ready(Ok(output)) = handle.poll(&mut Context::from_waker(&waker)) else {
            panic!("the job ran")
        };
        drop(handle);
        assert_eq!(count(), 2);
        drop(output);
        assert_eq!(count(), 3);
    }

    /// A waker that counts its wake-ups.
    struct CountingWaker(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for CountingWaker {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (std::sync::Arc<CountingWaker>, Waker) {
        let count = std::sync::Arc::new(CountingWaker(Default::default()));
        (std::sync::Arc::clone(&count), Waker::from(count))
    }

    fn wakes(count: &CountingWaker) -> usize {
        count.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[test]
    fn completion_wakes_the_latest_waker_once_and_only_it() {
        let (task, mut handle) = queued(|| 7, NoCallback, Times::NONE, None);
        let (first, first_waker) = counting_waker();
        let (second, second_waker) = counting_waker();
        let pending = handle.poll(&mut Context::from_waker(&first_waker));
        assert!(pending.is_pending());
        // Polled again with the same waker: nothing changes; then moved to
        // another task: only that one is woken.
        assert!(handle
            .poll(&mut Context::from_waker(&first_waker))
            .is_pending());
        assert!(handle
            .poll(&mut Context::from_waker(&second_waker))
            .is_pending());
        assert_eq!(task.run(), Some(Outcome::Completed));
        assert_eq!((wakes(&first), wakes(&second)), (0, 1));
        let ready = handle.poll(&mut Context::from_waker(&second_waker));
        assert!(matches!(ready, Poll::Ready(Ok(7))));
        assert_eq!((wakes(&first), wakes(&second)), (0, 1));
        // The slot no longer holds either waker: only our clones remain.
        drop(handle);
        assert_eq!(std::sync::Arc::strong_count(&first), 2);
        assert_eq!(std::sync::Arc::strong_count(&second), 2);
    }

    #[test]
    fn callbacks_added_before_completion_run_in_order_before_the_wake_up() {
        use std::sync::{Arc, Mutex};
        let (task, mut handle) = queued(|| 3, NoCallback, Times::NONE, None);
        let (woken, waker) = counting_waker();
        assert!(handle.poll(&mut Context::from_waker(&waker)).is_pending());
        let log = Arc::new(Mutex::new(Vec::new()));
        for i in 0..3 {
            let log = Arc::clone(&log);
            let woken = Arc::clone(&woken);
            handle.add_callback(Box::new(move |result| {
                // Each callback runs before the awaiting task is woken.
                assert_eq!(wakes(&woken), 0);
                log.lock().unwrap().push((i, *result.as_ref().unwrap()));
            }));
        }
        task.run();
        assert_eq!(*log.lock().unwrap(), [(0, 3), (1, 3), (2, 3)]);
        assert_eq!(wakes(&woken), 1);
        // Added after completion: runs at once, on this thread.
        let log_after = Arc::clone(&log);
        handle.add_callback(Box::new(move |result| {
            log_after
                .lock()
                .unwrap()
                .push((9, *result.as_ref().unwrap()));
        }));
        assert_eq!(log.lock().unwrap().last(), Some(&(9, 3)));
        assert!(matches!(
            handle.poll(&mut Context::from_waker(&waker)),
            Poll::Ready(Ok(3))
        ));
    }

    /// A timed job's submission stamp reaches its claimant with the clock
    /// read of the claim; an untimed one reads no clock and reports none;
    /// an expired one never reports a start.
    #[test]
    fn the_submission_time_reaches_the_claimant() {
        use crate::job::Deadline;
        let submitted = Stamp::now();
        let times = Times {
            deadline: Deadline::NONE,
            submitted,
        };
        let (task, handle) = queued(|| 1, NoCallback, times, None);
        let Claim::Run(job, reached) = task.claim() else {
            panic!("a queued job is claimed");
        };
        let Some(started) = reached.started() else {
            panic!("a timed job reports when it started");
        };
        assert_eq!(started.submitted, submitted);
        assert!(started.at.is_set() && started.at.nanos_since(submitted) < 60_000_000_000);
        assert_eq!(job.run(), Outcome::Completed);
        drop(handle);

        let (task, handle) = queued(|| 1, NoCallback, Times::NONE, None);
        assert!(
            matches!(task.claim(), Claim::Run(_, reached) if reached.started().is_none() && !reached.at.is_set())
        );
        drop(handle);

        let past = std::time::Instant::now() - std::time::Duration::from_millis(1);
        let times = Times {
            deadline: Deadline::at(past),
            submitted,
        };
        let (task, handle) = queued(|| 1, NoCallback, times, None);
        let Claim::Run(job, reached) = task.claim() else {
            panic!("a queued job is claimed");
        };
        assert!(reached.expired());
        job.settle(JobError::expired());
        drop(handle);
    }

    /// The lane of a sheddable job rides in the state word: it survives
    /// every transition the word goes through (claim, lock, stop request,
    /// accounting, settling, references given up), and a job that may not
    /// be shed reads as such.
    #[test]
    fn the_shed_lane_survives_every_transition_of_the_state_word() {
        use crate::job::Priority;
        for lane in [
            None,
            Some(Priority::Low),
            Some(Priority::Normal),
            Some(Priority::High),
        ] {
            let (task, mut handle) = queued(|| 1, NoCallback, Times::NONE, lane);
            assert_eq!(task.shed_lane(), lane);
            let waker = futures::task::noop_waker();
            // Registers the waker: takes and releases `LOCKED`.
            assert!(handle.poll(&mut Context::from_waker(&waker)).is_pending());
            assert_eq!(task.shed_lane(), lane);
            let Claim::Run(job, reached) = task.claim() else {
                panic!("a queued job is claimed");
            };
            assert_eq!(reached.shed, lane);
            assert_eq!(job.header().shed_lane(), lane);
            // Started: the cancel only sets `STOP`.
            assert!(!handle.cancel());
            assert!(handle.take_accounting());
            assert_eq!(job.header().shed_lane(), lane);
            job.settle(JobError::shed(crate::error::ShedReason::Displaced));
            assert!(handle.is_finished());
            let Poll::Ready(Err(err)) = handle.poll(&mut Context::from_waker(&waker)) else {
                panic!("a settled job's handle is ready");
            };
            assert!(err.is_shed());
        }
    }

    #[test]
    fn a_cancelled_slot_settles_once_and_skips_the_worker() {
        let (task, mut handle) = queued(|| 1, NoCallback, Times::NONE, None);
        assert!(handle.cancel());
        assert!(!handle.cancel());
        assert!(handle.is_finished());
        assert!(
            matches!(task.claim(), Claim::Settled { account: true }),
            "never started"
        );
        let waker = futures::task::noop_waker();
        let Poll::Ready(Err(error)) = handle.poll(&mut Context::from_waker(&waker)) else {
            panic!("settled as cancelled")
        };
        assert!(error.is_cancelled());
    }

    #[test]
    #[should_panic(expected = "polled after it returned its result")]
    fn polling_a_taken_result_panics() {
        let (task, mut handle) = queued(|| 1, NoCallback, Times::NONE, None);
        task.run();
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(handle.poll(&mut cx).is_ready());
        let _ = handle.poll(&mut cx);
    }

    /// The worker's release races the handle taking its result and
    /// dropping: whichever is last frees the slot, and neither touches it
    /// after giving up its reference (Miri found `release` reading the
    /// vtable after its decrement).
    #[test]
    fn release_races_the_handle_taking_and_dropping() {
        for _ in 0..20 {
            let (task, mut handle) = queued(|| 7_usize, NoCallback, Times::NONE, None);
            let worker = std::thread::spawn(move || task.run());
            let waker = futures::task::noop_waker();
            let result = loop {
                if let Poll::Ready(result) = handle.poll(&mut Context::from_waker(&waker)) {
                    break result;
                }
                std::thread::yield_now();
            };
            assert_eq!(result.unwrap(), 7);
            drop(handle);
            assert_eq!(worker.join().unwrap(), Some(Outcome::Completed));
        }
    }

    /// Callbacks, cancel, polling and detaching race the job's run on
    /// another thread; every registered callback runs exactly once.
    #[test]
    fn handle_operations_race_the_run() {
        use std::sync::atomic::{AtomicUsize as Count, Ordering::SeqCst};
        use std::sync::Arc;
        for round in 0..30 {
            let job_callback_runs = Arc::new(Count::new(0));
            let seen = Arc::clone(&job_callback_runs);
            let (task, mut handle) = queued(
                || String::from("x"),
                move |_: &Result<String, JobError>| {
                    seen.fetch_add(1, SeqCst);
                },
                Times::NONE,
                None,
            );
            let worker = std::thread::spawn(move || task.run());
            let added = Arc::new(Count::new(0));
            let seen = Arc::clone(&added);
            handle.add_callback(Box::new(move |_| {
                seen.fetch_add(1, SeqCst);
            }));
            match round % 3 {
                0 => {
                    handle.cancel();
                }
                1 => {
                    drop(handle);
                    worker.join().unwrap();
                    assert_eq!(added.load(SeqCst), 1);
                    assert_eq!(job_callback_runs.load(SeqCst), 1);
                    continue;
                }
                _ => {}
            }
            let seen = Arc::clone(&added);
            handle.add_callback(Box::new(move |_| {
                seen.fetch_add(1, SeqCst);
            }));
            let (_, waker) = counting_waker();
            while handle.poll(&mut Context::from_waker(&waker)).is_pending() {
                std::thread::yield_now();
            }
            drop(handle);
            worker.join().unwrap();
            assert_eq!(added.load(SeqCst), 2);
            assert_eq!(job_callback_runs.load(SeqCst), 1);
        }
    }

    /// A stop request from the handle's thread reaches the job's closure
    /// through the worker's thread-local, and nothing outlives the run.
    #[test]
    fn a_stop_request_reaches_the_running_job() {
        let (started_tx, started) = std::sync::mpsc::channel();
        let (task, handle) = queued(
            move || {
                let before = stop_requested();
                started_tx.send(()).unwrap();
                while !stop_requested() {
                    std::thread::yield_now();
                }
                before
            },
            NoCallback,
            Times::NONE,
            None,
        );
        let worker = std::thread::spawn(move || {
            let outcome = task.run();
            (outcome, stop_requested())
        });
        started.recv().unwrap();
        assert!(!handle.cancel(), "it had started");
        assert_eq!(worker.join().unwrap(), (Some(Outcome::Completed), false));
        let waker = futures::task::noop_waker();
        let mut handle = handle;
        assert!(matches!(
            handle.poll(&mut Context::from_waker(&waker)),
            Poll::Ready(Ok(false))
        ));
        assert!(!stop_requested());
    }
}
