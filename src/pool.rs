//! The state every [`Executor`](crate::Executor) clone and every worker
//! shares, and the one atomic word that decides what the pool accepts.
//!
//! # The state word
//!
//! `Shared::state` packs three things into one `AtomicU64` so that they change
//! together:
//!
//! ```text
//!  bit 63     bits 32..63            bits 0..32
//!  CLOSED  |  queued (31 bits)  |  unfinished (32 bits)
//! ```
//!
//! - `unfinished`: jobs accepted and not yet settled (ran with callbacks done,
//!   cancelled and skipped by a worker, or handed back by `shutdown_now`).
//!   `wait()` waits for it to reach zero.
//! - `queued`: the part of `unfinished` that has not started. The bounded
//!   queue's capacity check reads it, and `running` is `unfinished - queued`.
//! - `CLOSED`: set once by shutdown (or by dropping the last `Executor`),
//!   never cleared.
//!
//! A job is *accepted* by the compare-and-swap in [`Shared::try_accept`] that
//! adds one to both counts while `CLOSED` is clear. Nothing is accepted after
//! `CLOSED` is set, so once it is, `unfinished` only falls, and the moment it
//! reaches zero is unique: whoever makes the word exactly `CLOSED` (the closer
//! if nothing was pending, else the thread that settled the last job) sends
//! every worker a nudge, and each worker that then finds the word `CLOSED`
//! exits. That is the whole graceful-shutdown protocol; no accepted job can
//! be stranded, because workers only exit once every accepted job settled.
//!
//! All read-modify-writes of the word are SeqCst: the [`Event`] protocol that
//! lets threads and tasks wait on it relies on that (see its module docs).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::event::{Event, Listener};
use crate::queue::{Msg, Queue};
use crate::scaling::Registry;
use crate::sync::{Arc, AtomicU64, AtomicUsize, Mutex, Ordering::SeqCst};

pub(crate) const CLOSED: u64 = 1 << 63;
pub(crate) const ONE_QUEUED: u64 = 1 << 32;
pub(crate) const ONE_UNFINISHED: u64 = 1;
const QUEUED_MASK: u64 = !CLOSED & !UNFINISHED_MASK;
const UNFINISHED_MASK: u64 = (1 << 32) - 1;

/// A user hook run on each worker thread (`on_thread_start`/`on_thread_stop`).
pub(crate) type Hook = Box<dyn Fn() + Send + Sync + 'static>;

/// The pool's settings that never change after `build`.
pub(crate) struct Config {
    /// Threads are named `{name}-{id}`.
    pub(crate) name: String,
    pub(crate) stack_size: Option<usize>,
    pub(crate) on_thread_start: Option<Hook>,
    pub(crate) on_thread_stop: Option<Hook>,
    /// Shown every job and callback panic on a worker (see [`crate::panic`]).
    pub(crate) on_panic: Option<Arc<crate::panic::PanicHook>>,
    /// How long a thread above `min` waits idle before it exits.
    pub(crate) keep_alive: Duration,
    /// At most this many jobs queued (not started); 0 means unbounded.
    pub(crate) max_queue_size: usize,
    /// Built with `min < max`: grows on demand, shrinks after `keep_alive`.
    /// A fixed pool keeps `min == max` through every scale operation.
    pub(crate) dynamic: bool,
}

/// Why an acceptance attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    Full,
    Closed,
}

/// A decoded snapshot of the state word.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) closed: bool,
    pub(crate) queued: u64,
    pub(crate) unfinished: u64,
}

impl Counts {
    pub(crate) fn decode(word: u64) -> Counts {
        Counts {
            closed: word & CLOSED != 0,
            queued: (word & QUEUED_MASK) >> 32,
            unfinished: word & UNFINISHED_MASK,
        }
    }
}

/// Pads a value to its own cache line so that the state word, which every
/// submit and every job start and finish touches, does not share a line with
/// the fields that only workers or scaling read.
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

pub(crate) struct Shared {
    /// CLOSED | queued | unfinished; see the module docs.
    pub(crate) state: CachePadded<AtomicU64>,
    /// The FIFO of jobs and nudges.
    pub(crate) queue: Queue,
    /// Workers that count toward the target: incremented before a thread is
    /// spawned (undone if the spawn fails), decremented by a worker when it
    /// decides to retire or exit. Invariant: `live <= alive`.
    pub(crate) live: CachePadded<AtomicUsize>,
    /// The thread target: a fixed pool converges to it, a dynamic pool grows
    /// up to it. Changed only under `scaling`.
    pub(crate) max: AtomicUsize,
    /// A dynamic pool keeps at least this many threads. `min <= max`; equal in
    /// a fixed pool. Changed only under `scaling`.
    pub(crate) min: AtomicUsize,
    /// Workers waiting for work (spinning or parked). A worker leaves the
    /// count before it decrements `queued` for the job it took, so
    /// `queued > idle` always means a job may lack a worker (see
    /// `scaling::maybe_grow`).
    pub(crate) idle: CachePadded<AtomicUsize>,
    /// OS threads started and not yet returned from their main function.
    /// `shutdown` waits for it to reach zero.
    pub(crate) alive: AtomicUsize,
    /// Live `Executor` clones; the last one's drop closes the pool.
    pub(crate) executors: AtomicUsize,
    /// Jobs settled as cancelled (counted when their entry leaves the queue).
    pub(crate) cancelled: AtomicU64,
    pub(crate) config: Config,
    /// Worker threads: join handles and per-worker counters.
    pub(crate) registry: Mutex<Registry>,
    /// Serialises scale operations so their arithmetic composes exactly.
    pub(crate) scaling: Mutex<()>,
    /// Notified when `unfinished` reaches zero (`wait`).
    pub(crate) finished: Event,
    /// Notified when `queued` falls in a bounded pool, and on close (blocked
    /// senders).
    pub(crate) capacity: Event,
    /// Notified when `alive` falls, and when a closed pool drains
    /// (`shutdown` waits for both).
    pub(crate) threads: Event,
}

impl Shared {
    pub(crate) fn counts(&self) -> Counts {
        Counts::decode(self.state.load(SeqCst))
    }

    /// Accepts one job if the pool is open and, when bounded, not full.
    /// Returns the number of queued jobs including this one.
    pub(crate) fn try_accept(&self) -> Result<u64, Refused> {
        let max = self.config.max_queue_size as u64;
        let mut word = self.state.load(SeqCst);
        loop {
            let counts = Counts::decode(word);
            if counts.closed {
                return Err(Refused::Closed);
            }
            if max != 0 && counts.queued >= max {
                return Err(Refused::Full);
            }
            debug_assert!(
                counts.unfinished < UNFINISHED_MASK,
                "too many unfinished jobs"
            );
            match self.state.compare_exchange_weak(
                word,
                word + ONE_QUEUED + ONE_UNFINISHED,
                SeqCst,
                SeqCst,
            ) {
                Ok(_) => return Ok(counts.queued + 1),
                Err(current) => word = current,
            }
        }
    }

    /// Whether an acceptance attempt now could succeed (or fail for good).
    pub(crate) fn has_room_or_closed(&self) -> bool {
        let counts = self.counts();
        counts.closed
            || self.config.max_queue_size == 0
            || counts.queued < self.config.max_queue_size as u64
    }

    /// Subtracts `delta` (multiples of `ONE_QUEUED` and `ONE_UNFINISHED`)
    /// for jobs that started or settled, and wakes whoever waits for room
    /// in the queue or for the pool to finish.
    pub(crate) fn release(&self, delta: u64) {
        let previous = self.state.fetch_sub(delta, SeqCst);
        if delta & !UNFINISHED_MASK != 0 && self.config.max_queue_size != 0 {
            self.capacity.notify_all();
        }
        if delta & UNFINISHED_MASK != 0 && (previous - delta) & UNFINISHED_MASK == 0 {
            self.finished.notify_all();
            if previous & CLOSED != 0 {
                self.nudge_all();
                // `shutdown` waits for a drained pool with no thread alive.
                self.threads.notify_all();
            }
        }
    }

    /// Sets `CLOSED`. Returns `false` if it was set already.
    pub(crate) fn close(&self) -> bool {
        let previous = self.state.fetch_or(CLOSED, SeqCst);
        if previous & CLOSED != 0 {
            return false;
        }
        tracing::debug!("executor closed");
        if previous & UNFINISHED_MASK == 0 {
            self.nudge_all();
        }
        // Senders blocked on a full queue get their jobs back.
        self.capacity.notify_all();
        true
    }

    /// `true` once the pool is closed and every accepted job has settled:
    /// workers exit, and `shutdown` returns once none is alive.
    pub(crate) fn is_drained(&self) -> bool {
        self.state.load(SeqCst) == CLOSED
    }

    /// Wakes every worker once, so that each re-checks whether to exit.
    pub(crate) fn nudge_all(&self) {
        self.nudge(self.live.load(SeqCst));
    }

    pub(crate) fn nudge(&self, workers: usize) {
        for _ in 0..workers {
            self.queue.push(Msg::Nudge);
        }
    }
}

/// A condition over the pool's state that callers wait for, blocking or as
/// a future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Condition {
    /// Every accepted job settled (`wait`).
    Finished,
    /// The pool is closed, every job settled and every thread has exited
    /// (`shutdown`).
    Exited,
}

impl Shared {
    pub(crate) fn holds(&self, condition: Condition) -> bool {
        match condition {
            Condition::Finished => self.counts().unfinished == 0,
            Condition::Exited => self.is_drained() && self.alive.load(SeqCst) == 0,
        }
    }

    /// The event notified when `condition` may have become true.
    fn event(&self, condition: Condition) -> &Event {
        match condition {
            Condition::Finished => &self.finished,
            Condition::Exited => &self.threads,
        }
    }

    /// Blocks until `condition` holds, or `deadline` passes (then `false`).
    pub(crate) fn block_until(
        &self,
        condition: Condition,
        deadline: Option<std::time::Instant>,
    ) -> bool {
        self.event(condition)
            .wait_until(|| self.holds(condition), deadline)
    }
}

/// A future that resolves once a [`Condition`] holds; the body of
/// `WaitAsync` and `ShutdownAsync`. Holds the shared state, not an
/// `Executor`: waiting does not keep the pool open.
pub(crate) struct Until {
    shared: Arc<Shared>,
    condition: Condition,
    listener: Listener,
}

impl Until {
    pub(crate) fn new(shared: &Arc<Shared>, condition: Condition) -> Self {
        Until {
            shared: Arc::clone(shared),
            condition,
            listener: Listener::default(),
        }
    }
}

impl Future for Until {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let (shared, condition) = (&this.shared, this.condition);
        shared
            .event(condition)
            .poll_until(&mut this.listener, cx, || shared.holds(condition))
    }
}

impl Drop for Until {
    fn drop(&mut self) {
        self.shared
            .event(self.condition)
            .unlisten(&mut self.listener);
    }
}

impl fmt::Debug for Until {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Until")
            .field("condition", &self.condition)
            .field("holds", &self.shared.holds(self.condition))
            .finish()
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts = self.counts();
        f.debug_struct("Executor")
            .field("name", &self.config.name)
            .field("threads", &self.live.load(SeqCst))
            .field("min_threads", &self.min.load(SeqCst))
            .field("max_threads", &self.max.load(SeqCst))
            .field("queued", &counts.queued)
            .field("unfinished", &counts.unfinished)
            .field("closed", &counts.closed)
            .finish()
    }
}
