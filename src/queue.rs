//! The job queue: three [`Priority`] lanes, each split into K `flume`
//! channels (*shards*), whose ends the pool owns.
//!
//! The pool keeps both the sender and the receiver of every channel for
//! its whole life, so no channel ever disconnects. Closing, capacity and
//! counting are the pool's business (see [`crate::state`]); the queue only
//! moves messages, first in first out within a shard, and a pop takes from
//! the highest lane that has one. Idle workers park on the queue's own stack
//! of parked threads, and the most recently parked is woken first (see
//! [`Queue::pop`]). Every rule about acceptance stays in one atomic word we
//! can reason about.
//!
//! # Shards
//!
//! A flume channel is one `Mutex` around a `VecDeque`: with one channel per
//! lane, every submitter and every worker meet on that lock for every job.
//! So each lane is K channels, K fixed when the pool is built
//! ([`shards_for`], or `Builder::queue_shards`): **one shard per two
//! threads of `max_threads`, at least one, at most [`MAX_SHARDS`]**. A
//! pool of one or two threads has one shard per lane, which is the
//! unsharded queue's code path (no per-shard count, no thread-local
//! look-up: one predictable branch on K). K is chosen from
//! `max_threads` at build because the shards are the queue's shape: moving
//! messages between shards while submitters and workers use them would need
//! the very global lock the shards remove. A pool whose `max` is raised at
//! run time keeps its K (its extra workers share shards); one whose threads
//! fall keeps it too, and its workers take from every shard (below).
//!
//! - **A submitter sticks to one shard**: each thread takes a number the
//!   first time it submits (a global counter, so threads spread over the
//!   shards round robin) and uses shard `number % K` for every submission
//!   to any pool. One thread's jobs of one lane therefore stay in one
//!   channel, in order: **FIFO within a lane per submitter**. Sticky beats
//!   random (tokio-rs/tokio#7973 measured 20–33 %): the shard's lock and
//!   buffer stay in the submitter's cache. A worker's number is its id, so
//!   the jobs a job submits land in its own worker's shard.
//! - **A worker prefers its own shard** (`id % K`) and, when that one is
//!   empty, looks at the others in order (`id + 1`, `id + 2`, … mod K),
//!   **guided by per-shard counts**: each shard of a pool with K > 1 keeps a
//!   count of its messages (`pending`, up before the send, down after a
//!   receive, so never below the channel's length), and a busy pop takes a
//!   shard's lock only if its count is not zero (a parking worker's last
//!   look takes every lock: see "No lost wake-up"). An idle pool does not look
//!   at the shards at all: an idle worker spins on the state word's `queued`
//!   count (one load) and parks, and a parked worker is woken by a push.
//!   So a steal reads at most K counts and takes a lock only where there is
//!   work. A shared "non-empty" bit mask would replace the K loads by one,
//!   but every push to an empty shard and every pop that empties one would
//!   write that one word: on a pool that keeps up (shards bouncing between
//!   zero and one job) that is a write per job on one cache line shared by
//!   every thread, the contention the shards exist to remove.
//! - **Priority order holds across shards**: a pop looks at every shard of
//!   `High` (each rare lane keeps a lane-wide count too, so a lane with
//!   nothing queued costs one load), then `Normal`, then `Low`, so a worker
//!   starts a `Normal` job only after it found every `High` shard empty.
//! - **The bound stays global and exact**: shards hold no places; the
//!   state word's `queued` count is the one bound ([`crate::state`]), so a
//!   submitter never spills (a shard is never "full"), and a cancelled job's
//!   place is freed in that word at once, wherever its entry sits.
//! - **`shutdown_now` sees every job**: [`Queue::drain`] takes every shard
//!   of every lane, highest lane first.
//!
//! A pop with nothing in `High` and work in its own `Normal` shard costs
//! one load of the `High` lane's count (nobody writes it), one load of its
//! shard's count, one lock (its shard's) and one decrement; on a one-shard
//! lane, one load and one lock, as before there were shards.
//!
//! # No lost wake-up
//!
//! The counts only guide a busy worker: a look that skips a shard by its
//! count may miss a message that is on its way, and that costs nothing,
//! because a worker finds nothing only on its way to park, and a parking
//! worker's last look ([`Queue::pop`]) trusts no count: it takes the lock
//! of every shard of every lane (of every channel made so far) in turn.
//!
//! So the argument is the unsharded queue's, shard by shard. A parking
//! worker puts itself on the stack and updates `sleepers` (under the
//! stack's lock), then looks at each shard under the shard's lock; a
//! submitter sends under the shard's lock, then reads `sleepers`. For one
//! shard, either the worker's look comes after the send in that lock's
//! order, and finds the message, or it comes before, and then the
//! worker's update of `sleepers` happened before the send and so before
//! the submitter's read, which sees the worker parked (or a later value,
//! which only a later park or a wake-up of this worker can have written),
//! takes it off the stack and unparks it. A push to a shard other than the
//! worker's own, racing that worker going to park, is one of these cases:
//! the lost wake-up that hung tokio's first sharded queue
//! (tokio-rs/tokio#8056) came from a pop that trusted a hint (a non-empty
//! bit mask) in its last check; the loom model
//! `sharded_push_races_park_on_the_other_shard` explores the race. A
//! spinning worker, which a push does not wake, clears its flag before
//! this same last look, with the same argument (see `Shared::push_job`).
//! The argument needs only the locks' order and acquire/release, so loom
//! checks it as it is (loom treats SeqCst accesses as AcqRel).
//!
//! A rarely used lane's channels are made by their first message; a last
//! look that finds no channel made has no lock to take, and relies on the
//! lane's count instead: the channel is made before the count goes up,
//! and the count before the send, all SeqCst, as before there were shards.
//! The last look costs one uncontended lock per shard that exists: K
//! locks, 3K for a pool that used every lane, once per park (a park is a
//! futex wait, several µs).
//!
//! Nudges travel in the `Normal` lane, in the sender's shard.
//!
//! # Sheddable jobs
//!
//! Each lane also counts the jobs in it that the pool may shed (see
//! [`crate::overload`]): up before the send, down when a pop takes one, so
//! only sheddable jobs pay for it. A higher-lane submission that finds the
//! bounded queue full may take the place of a lower-lane job
//! ([`Queue::pop_displaceable`]) only while every job of that lane, in
//! every shard, is sheddable by this count. The count and the lane's length
//! are read apart, so a pop there can still, in a race with a worker that
//! emptied the lane and a submitter that refilled it, find a job that may
//! not be shed; the displacer then sends it back to the end of its lane
//! ([`Queue::send`]), the one case in which a job is overtaken within its
//! lane.
//!
//! # Cost against cores and submitters, on paper
//!
//! Per job, the pool's shared cache lines see two critical sections of
//! the job's shard lock (the send, the receive), each costing about
//! `2x + h` once contended (`x`: moving a line from the core that wrote it
//! last, for the lock's acquire and for its data; `h`: the work under the
//! lock), and two read-modify-writes of the state word (accept, start),
//! about `x` each; with K > 1, two of the shard's count, on the shard's
//! own line. One lock serialises its sections and the state word its
//! updates, so whatever the cores, the aggregate cost per job has the
//! floor
//!
//! ```text
//! floor = max(2 (2x + h) / K_busy, 2x)    K_busy: shards with work, at most
//!                                          min(K, submitting threads)
//! ```
//!
//! Estimates to be measured (no large machine was at hand): a profile of
//! an AMD EPYC two-vCPU machine put the lock work at ~40 % of ~200 ns per tiny job,
//! about 80 ns per job; on one socket of a 64-core machine `x` is
//! 60–100 ns once many cores contend (more across sockets).
//!
//! | cores | submitters | K | lock floor | state-word floor | predicted ns/job, aggregate |
//! | ---: | ---: | ---: | ---: | ---: | ---: |
//! | 2 | any | 1 | ~80 ns (measured share) | ~30 ns | ~80 of the measured 178–235 |
//! | 64 | 64 | 1 | 280–440 ns | 120–200 ns | 280–440 |
//! | 64 | 64 | 16 | 20–30 ns | 120–200 ns | 120–200 |
//! | 64 | 1 | 16 | 280–440 ns (one busy shard) | 120–200 ns | 280–440, plus two count updates |
//!
//! So past a few busy cores the single lane lock is the bottleneck, and
//! sharding removes it for many submitters, a gain of 2–3× at most:
//! beyond it the state word's two read-modify-writes per job are the
//! floor (5–8 M jobs/s on one socket), and the next step would be to split
//! `queued` as well. One submitter gains nothing from shards (its jobs are
//! in one shard, where every stealing worker meets) and pays the counts,
//! which is why a pool of one or two threads keeps K = 1 and
//! `Builder::queue_shards(1)` exists for a large pool fed by one thread.
//! On a 64-core machine, measure `tiny_mp` and `join_tiny_mp` (see
//! `benches/compare.rs`) with 64 workers and 1, 8 and 64 submitters, at
//! `queue_shards(1)` and at the default, and profile the state word's
//! read-modify-writes against `lock_contended`: the prediction is 2–3×
//! less time per job at 64 submitters with 16 shards, no further gain
//! from more shards, and one submitter within 3 % at `queue_shards(1)`.
//!
//! # Batching
//!
//! A pop takes one message per lock. Taking several when a shard is deep
//! would save locks, but flume has no bounded take (its `drain` empties the
//! whole channel), and a batch held by one worker would be out of the
//! queue: invisible to `shutdown_now`'s drain and to idle workers (who
//! could not take it), and a `High` job submitted after it would wait
//! behind a batch of `Normal` ones. Cancellation would still work (it acts
//! on the job's slot, and the place is the state word's), but the other
//! three are guarantees this queue keeps, so it does not batch.
//!
//! # The loom build
//!
//! Under `cfg(thread_exec_loom)` the channel is a loom `Mutex<VecDeque>`
//! and every atomic, the parking stack's lock and the parking itself are
//! loom's, so the models run this module's own protocol (shards, counts,
//! `sleepers`, the stack and its signals) rather than a substitute; only
//! flume's internals are left out. A timed `pop` waits without a timeout
//! there (loom does not model time), so keep-alive expiry is outside the
//! models.

use std::time::Duration;

use crate::job::{Priority, Stamp};
use crate::slot::TaskRef;
use crate::sync::{Arc, AtomicBool, AtomicUsize, CachePadded, Mutex, Ordering::SeqCst};

/// One entry in the queue.
pub(crate) enum Msg {
    /// A job, or what is left of it once cancelled (a worker that pops a
    /// cancelled job finds it settled and only does the accounting).
    Job(TaskRef),
    /// A wake-up with no work: the worker that receives it re-checks whether
    /// it should retire (scale-down) or exit (shutdown). Nudges that arrive
    /// when there is nothing to do are harmless and simply dropped.
    Nudge,
}

/// The most shards a lane is split into (tokio's sharded blocking queue
/// uses 16 too).
pub(crate) const MAX_SHARDS: usize = 16;

/// K, the shards per lane of a pool of at most `max_threads` threads
/// unless its builder says otherwise (`Builder::queue_shards`): one per two
/// threads, at least one, at most [`MAX_SHARDS`] (see "Shards"). Two
/// workers per shard keep a pool of one or two threads on the one-shard
/// path, and a worker whose shard is empty usually finds its partner's work
/// in the next shard it looks at.
pub(crate) fn shards_for(max_threads: usize) -> usize {
    (max_threads / 2).clamp(1, MAX_SHARDS)
}

// ---- The calling thread's shard ----

/// No number taken yet.
const NO_HOME: usize = usize::MAX;

#[cfg(not(thread_exec_loom))]
thread_local! {
    /// The calling thread's number: its shard is this modulo K.
    static HOME: std::cell::Cell<usize> = const { std::cell::Cell::new(NO_HOME) };
}

#[cfg(thread_exec_loom)]
loom::thread_local! {
    static HOME: std::cell::Cell<usize> = std::cell::Cell::new(NO_HOME);
}

/// The next thread's number, so that threads spread over the shards.
#[cfg(not(thread_exec_loom))]
fn next_home() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    // Below `NO_HOME` however many threads ever ask.
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % (1 << 30)
}

#[cfg(thread_exec_loom)]
fn next_home() -> usize {
    loom::lazy_static! {
        static ref NEXT: AtomicUsize = AtomicUsize::new(0);
    }
    NEXT.fetch_add(1, SeqCst)
}

/// The calling thread's number, taken on its first call.
fn home() -> usize {
    HOME.with(|home| {
        let mut number = home.get();
        if number == NO_HOME {
            number = next_home();
            home.set(number);
        }
        number
    })
}

/// Makes the calling worker thread's shard `id % K` in every pool: its
/// own jobs' submissions, and the shard it looks at first.
pub(crate) fn set_home(id: usize) {
    HOME.with(|home| home.set(id % (1 << 30)));
}

// ---- Channels ----

/// One shard's channel.
#[cfg(not(thread_exec_loom))]
struct Chan {
    tx: flume::Sender<Msg>,
    rx: flume::Receiver<Msg>,
}

#[cfg(not(thread_exec_loom))]
impl Chan {
    fn new() -> Self {
        let (tx, rx) = flume::unbounded();
        Chan { tx, rx }
    }

    fn send(&self, msg: Msg) {
        // Cannot fail: `self.rx` keeps the channel connected.
        let _ = self.tx.send(msg);
    }

    fn try_recv(&self) -> Option<Msg> {
        self.rx.try_recv().ok()
    }

    fn len(&self) -> usize {
        self.rx.len()
    }
}

/// The loom build's channel: a FIFO under a loom lock.
#[cfg(thread_exec_loom)]
struct Chan(Mutex<std::collections::VecDeque<Msg>>);

#[cfg(thread_exec_loom)]
impl Chan {
    fn new() -> Self {
        Chan(Mutex::new(std::collections::VecDeque::new()))
    }

    fn send(&self, msg: Msg) {
        crate::sync::lock(&self.0).push_back(msg);
    }

    fn try_recv(&self) -> Option<Msg> {
        crate::sync::lock(&self.0).pop_front()
    }

    fn len(&self) -> usize {
        crate::sync::lock(&self.0).len()
    }
}

/// How a shard holds its channel: made with the queue (`Normal`), or made
/// by its first message (the rarely used lanes).
trait Holder {
    fn new() -> Self;
    fn get(&self) -> Option<&Chan>;
    fn get_or_init(&self) -> &Chan;
}

impl Holder for Chan {
    fn new() -> Self {
        Chan::new()
    }

    #[inline(always)]
    fn get(&self) -> Option<&Chan> {
        Some(self)
    }

    #[inline(always)]
    fn get_or_init(&self) -> &Chan {
        self
    }
}

/// A channel made by its first message: a pool that never uses a lane
/// allocates nothing for it, and the `Normal` lane's channels sit in memory
/// as they would with no lanes at all (the `Normal` lane's throughput
/// measured up to 1.6× lower with two unused channels allocated beside it,
/// from where the allocator placed its lock). The loom build makes it at
/// once (a std `OnceLock` is invisible to loom).
struct LazyChan(
    #[cfg(not(thread_exec_loom))] std::sync::OnceLock<Chan>,
    #[cfg(thread_exec_loom)] Chan,
);

impl Holder for LazyChan {
    fn new() -> Self {
        #[cfg(not(thread_exec_loom))]
        return LazyChan(std::sync::OnceLock::new());
        #[cfg(thread_exec_loom)]
        return LazyChan(Chan::new());
    }

    fn get(&self) -> Option<&Chan> {
        #[cfg(not(thread_exec_loom))]
        return self.0.get();
        #[cfg(thread_exec_loom)]
        return Some(&self.0);
    }

    fn get_or_init(&self) -> &Chan {
        #[cfg(not(thread_exec_loom))]
        return self.0.get_or_init(Chan::new);
        #[cfg(thread_exec_loom)]
        return &self.0;
    }
}

// ---- Lanes ----

/// One shard of a lane.
struct Shard<H> {
    chan: H,
    /// Messages sent to this shard and not yet received: up before the
    /// send, down after the receive, so never below the channel's length
    /// (see "Shards"). Kept only when the lane has more than one shard. On
    /// a line of its own: this shard's submitters and takers write it.
    pending: CachePadded<AtomicUsize>,
}

/// One lane: K shards and, for a rarely used lane (`COUNTED`), a count of
/// its messages in all shards, so that a pop skips it with one load while
/// it is empty. The `Normal` lane keeps no such count: a pop with no `High`
/// or `Low` job goes to it anyway.
struct Lane<H, const COUNTED: bool> {
    shards: Box<[Shard<H>]>,
    /// Messages sent to the lane and not yet received, kept if `COUNTED`;
    /// never below the sum of its channels' lengths. On a line of its own:
    /// every pop reads it, and nothing writes it while the lane is unused.
    pending: CachePadded<AtomicUsize>,
}

impl<H: Holder, const COUNTED: bool> Lane<H, COUNTED> {
    fn new(shards: usize) -> Self {
        Lane {
            shards: (0..shards)
                .map(|_| Shard {
                    chan: H::new(),
                    pending: CachePadded(AtomicUsize::new(0)),
                })
                .collect(),
            pending: CachePadded(AtomicUsize::new(0)),
        }
    }

    /// More than one shard: each keeps its count.
    #[inline(always)]
    fn sharded(&self) -> bool {
        self.shards.len() > 1
    }

    /// Queues `msg` in shard `at`.
    fn send(&self, at: usize, msg: Msg) {
        let shard = &self.shards[at];
        // The channel exists before any count goes up, so a pop that reads
        // a count (SeqCst, after this SeqCst increment) finds it.
        let chan = shard.chan.get_or_init();
        if COUNTED {
            self.pending.fetch_add(1, SeqCst);
        }
        if self.sharded() {
            shard.pending.fetch_add(1, SeqCst);
        }
        chan.send(msg);
    }

    /// The next message of shard `home`, or else of the first other shard
    /// that has one, in order from `home`.
    fn try_recv(&self, home: usize) -> Option<Msg> {
        if COUNTED && self.pending.load(SeqCst) == 0 {
            return None;
        }
        if !self.sharded() {
            return self.recv_from(0);
        }
        let k = self.shards.len();
        (home..k).chain(0..home).find_map(|at| self.recv_from(at))
    }

    /// The next message of shard `at`, unless its count says it is empty.
    fn recv_from(&self, at: usize) -> Option<Msg> {
        if self.sharded() && self.shards[at].pending.load(SeqCst) == 0 {
            return None;
        }
        self.recv_locked(at)
    }

    /// The next message of every shard in turn, from `home`, each looked at
    /// under its lock whatever the counts say: a parking worker's last look
    /// (see "No lost wake-up"). A shard whose channel was never made has
    /// had no message.
    fn look_everywhere(&self, home: usize) -> Option<Msg> {
        let k = self.shards.len();
        (home..k).chain(0..home).find_map(|at| self.recv_locked(at))
    }

    /// The next message of shard `at`, looked at under its lock.
    fn recv_locked(&self, at: usize) -> Option<Msg> {
        let shard = &self.shards[at];
        let msg = shard.chan.get()?.try_recv()?;
        if self.sharded() {
            shard.pending.fetch_sub(1, SeqCst);
        }
        if COUNTED {
            self.pending.fetch_sub(1, SeqCst);
        }
        Some(msg)
    }

    /// Messages in the lane: a snapshot, at or above the lane's length
    /// when read from counts.
    fn len(&self) -> usize {
        if COUNTED {
            self.pending.load(SeqCst)
        } else if self.sharded() {
            self.shards
                .iter()
                .map(|shard| shard.pending.load(SeqCst))
                .sum()
        } else {
            self.shards[0].chan.get().map_or(0, Chan::len)
        }
    }

    /// Messages in the lane's rare-lane count (`COUNTED` lanes only), for
    /// [`Queue::ahead`].
    fn counted(&self) -> usize {
        debug_assert!(COUNTED);
        self.pending.load(crate::sync::Ordering::Relaxed)
    }
}

/// The three lanes (see "Shards").
struct Lanes {
    high: Lane<LazyChan, true>,
    normal: Lane<Chan, false>,
    low: Lane<LazyChan, true>,
}

impl Lanes {
    /// K, the shards per lane.
    fn shards(&self) -> usize {
        self.normal.shards.len()
    }

    fn send(&self, lane: Priority, at: usize, msg: Msg) {
        match lane {
            Priority::High => self.high.send(at, msg),
            Priority::Normal => self.normal.send(at, msg),
            Priority::Low => self.low.send(at, msg),
        }
    }

    fn try_recv(&self, lane: Priority, home: usize) -> Option<Msg> {
        match lane {
            Priority::High => self.high.try_recv(home),
            Priority::Normal => self.normal.try_recv(home),
            Priority::Low => self.low.try_recv(home),
        }
    }

    fn recv_from(&self, lane: Priority, at: usize) -> Option<Msg> {
        match lane {
            Priority::High => self.high.recv_from(at),
            Priority::Normal => self.normal.recv_from(at),
            Priority::Low => self.low.recv_from(at),
        }
    }

    fn look_everywhere(&self, lane: Priority, home: usize) -> Option<Msg> {
        match lane {
            Priority::High => self.high.look_everywhere(home),
            Priority::Normal => self.normal.look_everywhere(home),
            Priority::Low => self.low.look_everywhere(home),
        }
    }
}

// ---- Parking ----

/// A worker thread's parking place. On a line of its own: `signalled` is
/// written at every park and wake-up, and a neighbouring allocation (a
/// lane's channel, a job's slot) must not pay for it.
#[repr(align(128))]
struct Parker {
    thread: crate::sync::thread::Thread,
    /// Set by the push that took this parker off `parked`.
    signalled: AtomicBool,
    /// When that push signalled ([`Stamp`] nanoseconds; 0: not signalled
    /// since the worker last parked). Only the spin policy reads it (see
    /// [`woken_at`]); it is a measurement, not part of the protocol, so it
    /// is a plain `std` atomic that the loom models do not track.
    signalled_at: std::sync::atomic::AtomicU64,
}

impl Parker {
    fn new() -> Arc<Parker> {
        Arc::new(Parker {
            thread: crate::sync::thread::current(),
            signalled: AtomicBool::new(false),
            signalled_at: std::sync::atomic::AtomicU64::new(0),
        })
    }
}

/// When a push last signalled the calling worker out of [`Queue::pop`],
/// if it did since the worker's last park: the moment its work arrived,
/// which its wake-up follows by however long the system takes to run a
/// parked thread again (tens of µs for an idle vCPU). The spin policy
/// measures an idle gap up to this moment, not up to the wake-up: a gap
/// that a spin would have covered must count as one even when the
/// wake-up that replaced the spin was slow, or one slow wake-up would
/// keep the worker parking (and waking slowly) for good.
pub(crate) fn woken_at() -> Option<Stamp> {
    let nanos = PARKER.with(|me| me.signalled_at.load(std::sync::atomic::Ordering::Relaxed));
    (nanos != 0).then(|| Stamp::from_nanos(nanos))
}

#[cfg(not(thread_exec_loom))]
thread_local! {
    /// The calling thread's parker, made on its first park.
    static PARKER: Arc<Parker> = Parker::new();
}

#[cfg(thread_exec_loom)]
loom::thread_local! {
    static PARKER: Arc<Parker> = Parker::new();
}

/// Parks the calling thread until it is unparked, or `deadline` passes
/// (`false` then). The loom build ignores the deadline.
fn park_until(deadline: Option<std::time::Instant>) -> bool {
    #[cfg(not(thread_exec_loom))]
    match deadline {
        None => std::thread::park(),
        Some(deadline) => {
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            std::thread::park_timeout(deadline - now);
        }
    }
    #[cfg(thread_exec_loom)]
    {
        let _ = deadline;
        loom::thread::park();
    }
    true
}

// ---- The queue ----

pub(crate) struct Queue {
    /// The lanes' shards, read on every push and pop: on a line of their
    /// own, apart from the parking state below, which every park and
    /// wake-up writes.
    lanes: CachePadded<Lanes>,
    /// `parked.len()`, read without the lock by [`Queue::wake_one`], so
    /// that a push with nobody parked costs one load.
    sleepers: CachePadded<AtomicUsize>,
    /// Workers parked in [`Queue::pop`] that no push has signalled yet, the
    /// most recently parked last. A wake-up signals the last one (LIFO), so
    /// a light load keeps reusing the same warm worker while the others
    /// stay parked long enough for a dynamic pool's keep-alive to retire
    /// them. Exact but for one race: a worker that leaves without a signal
    /// (timeout) takes itself off, so a signal reaches a worker that is no
    /// longer waiting only if it is sent in the instant between that
    /// worker's timeout and its taking itself off; that worker then looks
    /// at the queue once more before it decides to leave.
    parked: Mutex<Vec<Arc<Parker>>>,
    /// Sheddable jobs per lane (see "Sheddable jobs").
    sheddable: Sheddable,
}

impl Queue {
    /// A queue of `shards` shards per lane (see [`shards_for`]).
    pub(crate) fn new(shards: usize) -> Self {
        let shards = shards.clamp(1, MAX_SHARDS);
        Queue {
            lanes: CachePadded(Lanes {
                high: Lane::new(shards),
                normal: Lane::new(shards),
                low: Lane::new(shards),
            }),
            sleepers: CachePadded(AtomicUsize::new(0)),
            parked: Mutex::new(Vec::new()),
            sheddable: Sheddable::default(),
        }
    }

    /// The calling thread's shard: its number modulo K (see "Shards"). A
    /// one-shard queue reads no thread-local.
    #[inline]
    fn home(&self) -> usize {
        let k = self.lanes.shards();
        if k == 1 {
            0
        } else {
            home() % k
        }
    }

    /// Queues `msg` in the `Normal` lane and wakes one parked worker, if
    /// any.
    pub(crate) fn push(&self, msg: Msg) {
        self.send(msg, Priority::Normal);
        let _ = self.wake_one();
    }

    /// Queues `msg` in `lane`, in the calling thread's shard, without
    /// waking anyone: for a caller that knows a worker will look at the
    /// queue before it parks (see `Shared::push_job`).
    pub(crate) fn send(&self, msg: Msg, lane: Priority) {
        self.sheddable.sent(&msg, lane);
        self.lanes.send(lane, self.home(), msg);
    }

    /// Wakes the most recently parked worker that no push has signalled
    /// yet; `false` if no worker is parked.
    pub(crate) fn wake_one(&self) -> bool {
        use crate::sync::Ordering::Release;
        if self.sleepers.load(SeqCst) == 0 {
            return false;
        }
        // The signal's time, read outside the lock and stored under it (so
        // before the flag, which the worker reads first): the worker's next
        // park resets it under the same lock, so a signal that comes late
        // (see `parked`) cannot leave its time for that park.
        #[cfg(not(thread_exec_loom))]
        let now = Stamp::now().nanos();
        let newest = {
            let mut parked = crate::sync::lock(&self.parked);
            let newest = parked.pop();
            self.sleepers.store(parked.len(), SeqCst);
            #[cfg(not(thread_exec_loom))]
            if let Some(parker) = &newest {
                parker
                    .signalled_at
                    .store(now, std::sync::atomic::Ordering::Relaxed);
            }
            newest
        };
        let Some(parker) = newest else {
            return false;
        };
        parker.signalled.store(true, Release);
        // Outside the lock: an unpark may be a system call.
        parker.thread.unpark();
        true
    }

    /// The next message of the highest lane that has one, from the calling
    /// thread's shard first.
    pub(crate) fn try_pop(&self) -> Option<Msg> {
        let home = self.home();
        [Priority::High, Priority::Normal, Priority::Low]
            .into_iter()
            .find_map(|lane| self.try_pop_lane(lane, home))
    }

    /// A parking worker's last look: as [`Queue::try_pop`], but every
    /// shard of every lane that ever had a message is looked at under its
    /// lock, whatever the counts say (see "No lost wake-up").
    fn last_look(&self) -> Option<Msg> {
        let home = self.home();
        [Priority::High, Priority::Normal, Priority::Low]
            .into_iter()
            .find_map(|lane| {
                let msg = self.lanes.look_everywhere(lane, home)?;
                self.sheddable.taken(&msg, lane);
                Some(msg)
            })
    }

    /// The next message of `lane`, from shard `home` first.
    fn try_pop_lane(&self, lane: Priority, home: usize) -> Option<Msg> {
        let msg = self.lanes.try_recv(lane, home)?;
        self.sheddable.taken(&msg, lane);
        Some(msg)
    }

    /// How many queued jobs a job submitted to `lane` would wait behind:
    /// those of its lane and the lanes above, out of `queued` in all. A
    /// snapshot, exact only while nothing moves.
    pub(crate) fn ahead(&self, lane: Priority, queued: u64) -> u64 {
        match lane {
            Priority::High => self.lanes.high.counted() as u64,
            Priority::Normal => queued.saturating_sub(self.lanes.low.counted() as u64),
            Priority::Low => queued,
        }
    }

    /// The next message of `lane` if every job queued in it, in every
    /// shard, may be shed (see "Sheddable jobs"); `None` if the lane is
    /// empty or holds a job that may not be.
    pub(crate) fn pop_displaceable(&self, lane: Priority) -> Option<Msg> {
        let len = match lane {
            Priority::High => self.lanes.high.len(),
            Priority::Normal => self.lanes.normal.len(),
            Priority::Low => self.lanes.low.len(),
        };
        if len == 0 || self.sheddable.count(lane) < len {
            return None;
        }
        self.try_pop_lane(lane, self.home())
    }

    /// Parks the calling worker until a push signals it or `timeout`
    /// passes, then looks once for a message: `None` if there was none (the
    /// timeout passed, or a spinning worker took the message that came).
    ///
    /// Parks on our own stack of parked threads rather than in flume's
    /// blocking `recv`, which allocates a hook (an `Arc`) every time it has
    /// to wait, wakes the oldest waiter, and waits on one channel only. No
    /// wake-up is lost (see "No lost wake-up"): the worker puts itself on
    /// `parked`, updates `sleepers` and then looks at every shard, all
    /// under `parked`'s lock; a push that this look misses reads `sleepers`
    /// after its send, sees the worker, takes it off the stack and unparks
    /// it; an unpark that comes before the park is not lost either (it
    /// leaves the thread's token). A stray unpark (the thread's token is
    /// shared with `JobHandle::join`'s own waker) only makes the loop look
    /// at `signalled` once more.
    pub(crate) fn pop(&self, timeout: Option<Duration>) -> Option<Msg> {
        use crate::sync::Ordering::{Acquire, Relaxed};
        let me = PARKER.with(Arc::clone);
        {
            let mut parked = crate::sync::lock(&self.parked);
            me.signalled.store(false, Relaxed);
            me.signalled_at
                .store(0, std::sync::atomic::Ordering::Relaxed);
            parked.push(Arc::clone(&me));
            self.sleepers.store(parked.len(), SeqCst);
            if let Some(msg) = self.last_look() {
                // Still under the lock: no push has taken this worker off.
                parked.pop();
                self.sleepers.store(parked.len(), SeqCst);
                return Some(msg);
            }
        }
        let deadline = timeout.and_then(|timeout| std::time::Instant::now().checked_add(timeout));
        while !me.signalled.load(Acquire) {
            if !park_until(deadline) {
                break;
            }
        }
        // Leave the stack if no push took this worker off it: it timed out,
        // or the signal it saw was a late one from an earlier park (a push
        // that took it off then, and set the flag only after this worker
        // had already left on its timeout). Either way it must not stay
        // there, or a later push would signal a worker that is not waiting.
        {
            let mut parked = crate::sync::lock(&self.parked);
            if let Some(at) = parked.iter().rposition(|parker| Arc::ptr_eq(parker, &me)) {
                parked.remove(at);
                self.sleepers.store(parked.len(), SeqCst);
            }
        }
        self.try_pop()
    }

    /// Takes every message currently queued, highest lane first, shard by
    /// shard, in order within a shard.
    pub(crate) fn drain(&self) -> Vec<Msg> {
        let mut all: Vec<Msg> = Vec::new();
        // Message by message, so that each count stays at or above the
        // length it counts.
        for lane in [Priority::High, Priority::Normal, Priority::Low] {
            for at in 0..self.lanes.shards() {
                while let Some(msg) = self.lanes.recv_from(lane, at) {
                    self.sheddable.taken(&msg, lane);
                    all.push(msg);
                }
            }
        }
        all
    }
}

/// The queue alone, for the loom models of its protocol in `tests/loom.rs`
/// (shards, counts, the parking stack and its signals): its messages are
/// nudges, so a model needs no job slot and no pool.
#[cfg(thread_exec_loom)]
#[doc(hidden)]
pub struct ModelQueue(Queue);

#[cfg(thread_exec_loom)]
impl ModelQueue {
    /// A queue of `shards` shards per lane.
    pub fn new(shards: usize) -> Self {
        ModelQueue(Queue::new(shards))
    }

    /// Makes the calling thread's shard `shard` (as a worker's id does).
    pub fn enter_shard(shard: usize) {
        set_home(shard);
    }

    /// A submitter's push: one message into the calling thread's shard of
    /// the `Normal` lane, then a wake-up of a parked worker, if any.
    pub fn push(&self) {
        self.0.push(Msg::Nudge);
    }

    /// A worker's idle wait: parks until a push signals it, and takes one
    /// message; parks again after a wake-up that found none.
    pub fn pop(&self) {
        while self.0.pop(None).is_none() {}
    }

    /// A busy worker's look: one message, if the counts show one.
    pub fn try_pop(&self) -> bool {
        self.0.try_pop().is_some()
    }
}

/// The sheddable jobs queued in each lane (see "Sheddable jobs"), each
/// count on a line of its own: only sheddable jobs write them.
struct Sheddable([CachePadded<AtomicUsize>; 3]);

impl Default for Sheddable {
    fn default() -> Self {
        Sheddable(std::array::from_fn(|_| CachePadded(AtomicUsize::new(0))))
    }
}

impl Sheddable {
    fn of(&self, lane: Priority) -> &AtomicUsize {
        &self.0[lane_index(lane)].0
    }

    /// Before `msg` is sent to `lane`.
    fn sent(&self, msg: &Msg, lane: Priority) {
        if matches!(msg, Msg::Job(task) if task.shed_lane().is_some()) {
            self.of(lane).fetch_add(1, SeqCst);
        }
    }

    /// After `msg` was taken out of `lane`.
    fn taken(&self, msg: &Msg, lane: Priority) {
        if matches!(msg, Msg::Job(task) if task.shed_lane().is_some()) {
            self.of(lane).fetch_sub(1, SeqCst);
        }
    }

    fn count(&self, lane: Priority) -> usize {
        self.of(lane).load(SeqCst)
    }
}

/// A lane's place in per-lane arrays, highest first.
fn lane_index(lane: Priority) -> usize {
    match lane {
        Priority::High => 0,
        Priority::Normal => 1,
        Priority::Low => 2,
    }
}

#[cfg(all(test, not(thread_exec_loom)))]
mod tests {
    use super::*;

    #[test]
    fn shard_rule() {
        assert_eq!(shards_for(0), 1);
        assert_eq!(shards_for(1), 1);
        assert_eq!(shards_for(2), 1);
        assert_eq!(shards_for(3), 1);
        assert_eq!(shards_for(4), 2);
        assert_eq!(shards_for(9), 4);
        assert_eq!(shards_for(64), MAX_SHARDS);
        assert_eq!(shards_for(usize::MAX), MAX_SHARDS);
    }

    /// Nudges only (no job slots needed): a pop finds a message in any
    /// shard, and a drain takes every one, with the counts back at zero.
    #[test]
    fn pops_take_from_every_shard() {
        let queue = Queue::new(4);
        for at in 0..4 {
            queue.lanes.send(Priority::Normal, at, Msg::Nudge);
            queue.lanes.send(Priority::Low, at, Msg::Nudge);
        }
        for home in 0..4 {
            // Own shard first: one from each.
            assert!(queue.lanes.try_recv(Priority::Normal, home).is_some());
        }
        assert!(queue.lanes.try_recv(Priority::Normal, 0).is_none());
        assert_eq!(queue.lanes.low.len(), 4);
        assert_eq!(queue.drain().len(), 4);
        assert_eq!(queue.lanes.low.len(), 0);
        assert_eq!(queue.lanes.normal.len(), 0);
        assert!(queue.try_pop().is_none());
    }

    /// A signalled worker learns when the push signalled it, and a park
    /// that no push ended (a timeout) reports no signal.
    #[test]
    fn a_woken_worker_knows_when_it_was_signalled() {
        const LIMIT: Duration = Duration::from_secs(10);
        let queue = Arc::new(Queue::new(1));
        let (timed_out, parks_again) = std::sync::mpsc::channel();
        let (report, reported) = std::sync::mpsc::channel();
        let worker = {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || {
                assert!(queue.pop(Some(Duration::from_millis(1))).is_none());
                assert_eq!(woken_at(), None, "a timeout is not a signal");
                timed_out.send(()).unwrap();
                let msg = queue.pop(Some(LIMIT));
                report
                    .send((msg.is_some(), woken_at(), Stamp::now()))
                    .unwrap();
            })
        };
        parks_again.recv_timeout(LIMIT).unwrap();
        // On the stack with the lock released: its last look found nothing,
        // so the push below must signal it.
        let deadline = std::time::Instant::now() + LIMIT;
        while crate::sync::lock(&queue.parked).len() != 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the worker never parked"
            );
            std::thread::yield_now();
        }
        let before = Stamp::now();
        queue.push(Msg::Nudge);
        let (popped, signalled, after) = reported.recv_timeout(LIMIT).expect("no lost wake-up");
        worker.join().unwrap();
        assert!(popped);
        let signalled = signalled.expect("a signalled wake-up has a time");
        assert!(before.nanos() <= signalled.nanos() && signalled.nanos() <= after.nanos());
    }
}
