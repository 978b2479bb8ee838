//! The job queue: three `flume` channels, one per [`Priority`] lane, whose
//! ends the pool owns.
//!
//! The pool keeps both the sender and the receiver of every lane for its
//! whole life, so no channel ever disconnects. Closing, capacity and
//! counting are the pool's business (see [`crate::state`]); the queue only
//! moves messages, first in first out within a lane, and a pop takes from
//! the highest lane that has one. Idle workers park on the queue's own stack
//! of parked threads, and the most recently parked is woken first (see
//! [`Queue::pop`]). Every rule about acceptance stays in one atomic word we
//! can reason about.
//!
//! # Lanes
//!
//! A pop looks at the `High` lane, then `Normal`, then `Low`. Looking at a
//! flume channel takes its lock, so the two rarely used lanes each keep a
//! count of the messages sent to them (`pending`): a pop with no `High` or
//! `Low` job costs one lock (the `Normal` lane's) and two loads of counts
//! nobody writes, as it did before there were lanes. The count goes up
//! before the send and down after a receive, so it is never below the
//! lane's length: a pop that reads zero may skip the lane. That skip loses
//! no wake-up: a pop that parks reads the count after it has announced
//! itself parked (both SeqCst), so a send it misses (its count went up later
//! in that order) is followed by the sender's read of `sleepers`, which sees
//! the worker; and a spinner's last look comes after it stopped spinning, so
//! a sender that saw it spinning went up in the count before that look (see
//! `Shared::push_job`). A lane whose count is up but whose send has not
//! landed yet is one whose look comes before that send in its channel's
//! lock, the case `Queue::pop`'s argument already covers.
//!
//! Nudges travel in the `Normal` lane.
//!
//! # Sheddable jobs
//!
//! Each lane also counts the jobs in it that the pool may shed (see
//! [`crate::overload`]): up before the send, down when a pop takes one, so
//! only sheddable jobs pay for it. A higher-lane submission that finds the
//! bounded queue full may take the place of a lower-lane job
//! ([`Queue::pop_displaceable`]) only while every job of that lane is
//! sheddable by this count. The count and the lane's length are read
//! apart, so a pop there can still, in a race with a worker that emptied
//! the lane and a submitter that refilled it, find a job that may not be
//! shed; the displacer then sends it back to the end of its lane
//! ([`Queue::send`]), the one case in which a job is overtaken within its
//! lane.

use std::time::Duration;

use crate::job::Priority;
use crate::slot::TaskRef;
#[cfg(not(thread_exec_loom))]
use crate::sync::Arc;

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

/// One lane's channel.
#[cfg(not(thread_exec_loom))]
struct Lane {
    tx: flume::Sender<Msg>,
    rx: flume::Receiver<Msg>,
}

#[cfg(not(thread_exec_loom))]
impl Lane {
    fn new() -> Self {
        let (tx, rx) = flume::unbounded();
        Lane { tx, rx }
    }

    fn send(&self, msg: Msg) {
        // Cannot fail: `self.rx` keeps the channel connected.
        let _ = self.tx.send(msg);
    }

    fn try_recv(&self) -> Option<Msg> {
        self.rx.try_recv().ok()
    }
}

/// A lane that keeps a count of its messages, so that a pop can skip it
/// without its lock while it is empty (see "Lanes"), and whose channel is
/// made by its first message: a pool that never uses the lane allocates
/// nothing for it, and its one channel sits in memory as it would with no
/// lanes at all (the `Normal` lane's throughput measured up to 1.6× lower
/// with two unused channels allocated beside it, from where the allocator
/// placed its lock).
#[cfg(not(thread_exec_loom))]
struct CountedLane {
    lane: std::sync::OnceLock<Lane>,
    /// Messages sent and not yet received; never below the channel's length.
    /// On a line of its own: every pop reads it, and nothing writes it while
    /// the lane is unused.
    pending: crate::sync::CachePadded<std::sync::atomic::AtomicUsize>,
}

#[cfg(not(thread_exec_loom))]
impl CountedLane {
    fn new() -> Self {
        CountedLane {
            lane: std::sync::OnceLock::new(),
            pending: crate::sync::CachePadded(std::sync::atomic::AtomicUsize::new(0)),
        }
    }

    fn send(&self, msg: Msg) {
        // The channel exists before the count goes up, so a pop that reads
        // the count (SeqCst, after this SeqCst increment) finds it.
        let lane = self.lane.get_or_init(Lane::new);
        self.pending
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        lane.send(msg);
    }

    fn try_recv(&self) -> Option<Msg> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.pending.load(SeqCst) == 0 {
            return None;
        }
        let msg = self.lane.get()?.try_recv()?;
        self.pending.fetch_sub(1, SeqCst);
        Some(msg)
    }
}

#[cfg(not(thread_exec_loom))]
pub(crate) struct Queue {
    /// The lanes' channel ends, read on every push and pop: on a line of
    /// their own, apart from the parking state below, which every park and
    /// wake-up writes.
    lanes: crate::sync::CachePadded<Lanes>,
    /// `parked.len()`, read without the lock by [`Queue::wake_one`], so
    /// that a push with nobody parked costs one load.
    sleepers: crate::sync::CachePadded<std::sync::atomic::AtomicUsize>,
    /// Workers parked in [`Queue::pop`] that no push has signalled yet, the
    /// most recently parked last. A wake-up signals the last one (LIFO), so
    /// a light load keeps reusing the same warm worker while the others
    /// stay parked long enough for a dynamic pool's keep-alive to retire
    /// them. Exact but for one race: a worker that leaves without a signal
    /// (timeout) takes itself off, so a signal reaches a worker that is no
    /// longer waiting only if it is sent in the instant between that
    /// worker's timeout and its taking itself off; that worker then looks
    /// at the queue once more before it decides to leave.
    parked: std::sync::Mutex<Vec<Arc<Parker>>>,
    /// Sheddable jobs per lane (see "Sheddable jobs").
    sheddable: Sheddable,
}

/// The three lanes (see "Lanes").
#[cfg(not(thread_exec_loom))]
struct Lanes {
    high: CountedLane,
    normal: Lane,
    low: CountedLane,
}

/// A worker thread's parking place. On a line of its own: `signalled` is
/// written at every park and wake-up, and a neighbouring allocation (a
/// lane's channel, a job's slot) must not pay for it.
#[cfg(not(thread_exec_loom))]
#[repr(align(128))]
struct Parker {
    thread: std::thread::Thread,
    /// Set by the push that took this parker off `parked`.
    signalled: std::sync::atomic::AtomicBool,
}

#[cfg(not(thread_exec_loom))]
thread_local! {
    /// The calling thread's parker, made on its first park.
    static PARKER: Arc<Parker> = Arc::new(Parker {
        thread: std::thread::current(),
        signalled: std::sync::atomic::AtomicBool::new(false),
    });
}

#[cfg(not(thread_exec_loom))]
impl Queue {
    pub(crate) fn new() -> Self {
        Queue {
            lanes: crate::sync::CachePadded(Lanes {
                high: CountedLane::new(),
                normal: Lane::new(),
                low: CountedLane::new(),
            }),
            sleepers: crate::sync::CachePadded(std::sync::atomic::AtomicUsize::new(0)),
            parked: std::sync::Mutex::new(Vec::new()),
            sheddable: Sheddable::default(),
        }
    }

    /// Queues `msg` in the `Normal` lane and wakes one parked worker, if
    /// any.
    pub(crate) fn push(&self, msg: Msg) {
        self.send(msg, Priority::Normal);
        let _ = self.wake_one();
    }

    /// Queues `msg` in `lane` without waking anyone: for a caller that
    /// knows a worker will look at the queue before it parks (see
    /// `Shared::push_job`).
    pub(crate) fn send(&self, msg: Msg, lane: Priority) {
        self.sheddable.sent(&msg, lane);
        match lane {
            Priority::High => self.lanes.high.send(msg),
            Priority::Normal => self.lanes.normal.send(msg),
            Priority::Low => self.lanes.low.send(msg),
        }
    }

    /// Wakes the most recently parked worker that no push has signalled
    /// yet; `false` if no worker is parked.
    pub(crate) fn wake_one(&self) -> bool {
        use std::sync::atomic::Ordering::{Release, SeqCst};
        if self.sleepers.load(SeqCst) == 0 {
            return false;
        }
        let newest = {
            let mut parked = crate::sync::lock(&self.parked);
            let newest = parked.pop();
            self.sleepers.store(parked.len(), SeqCst);
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

    /// The next message of the highest lane that has one.
    pub(crate) fn try_pop(&self) -> Option<Msg> {
        [Priority::High, Priority::Normal, Priority::Low]
            .into_iter()
            .find_map(|lane| self.try_pop_lane(lane))
    }

    /// The next message of `lane`.
    fn try_pop_lane(&self, lane: Priority) -> Option<Msg> {
        let msg = match lane {
            Priority::High => self.lanes.high.try_recv(),
            Priority::Normal => self.lanes.normal.try_recv(),
            Priority::Low => self.lanes.low.try_recv(),
        }?;
        self.sheddable.taken(&msg, lane);
        Some(msg)
    }

    /// How many queued jobs a job submitted to `lane` would wait behind:
    /// those of its lane and the lanes above, out of `queued` in all. A
    /// snapshot, exact only while nothing moves.
    pub(crate) fn ahead(&self, lane: Priority, queued: u64) -> u64 {
        use std::sync::atomic::Ordering::Relaxed;
        match lane {
            Priority::High => self.lanes.high.pending.load(Relaxed) as u64,
            Priority::Normal => queued.saturating_sub(self.lanes.low.pending.load(Relaxed) as u64),
            Priority::Low => queued,
        }
    }

    /// The next message of `lane` if every job queued in it may be shed
    /// (see "Sheddable jobs"); `None` if the lane is empty or holds a job
    /// that may not be.
    pub(crate) fn pop_displaceable(&self, lane: Priority) -> Option<Msg> {
        use std::sync::atomic::Ordering::SeqCst;
        let len = match lane {
            Priority::High => self.lanes.high.pending.load(SeqCst),
            Priority::Normal => self.lanes.normal.rx.len(),
            Priority::Low => self.lanes.low.pending.load(SeqCst),
        };
        if len == 0 || self.sheddable.count(lane) < len {
            return None;
        }
        self.try_pop_lane(lane)
    }

    /// Parks the calling worker until a push signals it or `timeout`
    /// passes, then looks once for a message: `None` if there was none (the
    /// timeout passed, or a spinning worker took the message that came).
    ///
    /// Parks on our own stack of parked threads rather than in flume's
    /// blocking `recv`, which allocates a hook (an `Arc`) every time it has
    /// to wait, and which wakes the oldest waiter. No wake-up is lost: the
    /// worker puts itself on `parked`, updates `sleepers` and then looks at
    /// the queue, all under `parked`'s lock. If its look at the lane (a
    /// critical section of the lane's flume lock; for a lane it skips by its
    /// count, see "Lanes") came before a sender's push (another), then its
    /// update of `sleepers` happened before that push and so before the
    /// sender's read of it (SeqCst), which sees the worker parked, takes it
    /// off the stack and unparks it; an unpark that comes before the park
    /// is not lost either (it leaves the thread's token). Otherwise the look
    /// finds the message. A stray unpark (the thread's token is shared with
    /// `JobHandle::join`'s own waker) only makes the loop look at
    /// `signalled` once more.
    pub(crate) fn pop(&self, timeout: Option<Duration>) -> Option<Msg> {
        use std::sync::atomic::Ordering::{Acquire, Relaxed, SeqCst};
        let me = PARKER.with(Arc::clone);
        {
            let mut parked = crate::sync::lock(&self.parked);
            me.signalled.store(false, Relaxed);
            parked.push(Arc::clone(&me));
            self.sleepers.store(parked.len(), SeqCst);
            if let Some(msg) = self.try_pop() {
                // Still under the lock: no push has taken this worker off.
                parked.pop();
                self.sleepers.store(parked.len(), SeqCst);
                return Some(msg);
            }
        }
        let deadline = timeout.and_then(|timeout| std::time::Instant::now().checked_add(timeout));
        while !me.signalled.load(Acquire) {
            match deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        break;
                    }
                    std::thread::park_timeout(deadline - now);
                }
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

    /// Takes every message currently queued, highest lane first, in order
    /// within a lane.
    pub(crate) fn drain(&self) -> Vec<Msg> {
        let mut all: Vec<Msg> = Vec::new();
        // Message by message, so that each counted lane's count stays at or
        // above its length.
        for lane in [Priority::High, Priority::Normal, Priority::Low] {
            while let Some(msg) = self.try_pop_lane(lane) {
                all.push(msg);
            }
        }
        all
    }
}

/// The sheddable jobs queued in each lane (see "Sheddable jobs"), each
/// count on a line of its own: only sheddable jobs write them.
#[cfg(not(thread_exec_loom))]
struct Sheddable([crate::sync::CachePadded<crate::sync::AtomicUsize>; 3]);

#[cfg(not(thread_exec_loom))]
impl Default for Sheddable {
    fn default() -> Self {
        Sheddable(std::array::from_fn(|_| {
            crate::sync::CachePadded(crate::sync::AtomicUsize::new(0))
        }))
    }
}

#[cfg(not(thread_exec_loom))]
impl Sheddable {
    fn of(&self, lane: Priority) -> &crate::sync::AtomicUsize {
        &self.0[lane_index(lane)].0
    }

    /// Before `msg` is sent to `lane`.
    fn sent(&self, msg: &Msg, lane: Priority) {
        if matches!(msg, Msg::Job(task) if task.shed_lane().is_some()) {
            self.of(lane).fetch_add(1, crate::sync::Ordering::SeqCst);
        }
    }

    /// After `msg` was taken out of `lane`.
    fn taken(&self, msg: &Msg, lane: Priority) {
        if matches!(msg, Msg::Job(task) if task.shed_lane().is_some()) {
            self.of(lane).fetch_sub(1, crate::sync::Ordering::SeqCst);
        }
    }

    fn count(&self, lane: Priority) -> usize {
        self.of(lane).load(crate::sync::Ordering::SeqCst)
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

/// The loom build's queue: the same operations over loom's `Mutex` and
/// `Condvar`, so the model checker sees every push and pop of the pool's
/// protocol. It is a substitute: the models check the pool's use of a FIFO
/// with blocking pops (nudges, accounting, shutdown), not flume itself nor
/// the production queue's own parking (`sleepers` and its stack above),
/// whose no-lost-wake-up argument is the one written on `Queue::pop` and
/// is exercised by the test suite on real threads. A timed `pop` waits
/// without a timeout (loom does not model time), so keep-alive expiry is
/// outside the models too.
#[cfg(thread_exec_loom)]
pub(crate) struct Queue {
    /// One FIFO per lane, indexed by `lane_index`.
    items: crate::sync::Mutex<[std::collections::VecDeque<Msg>; 3]>,
    available: crate::sync::Condvar,
}

#[cfg(thread_exec_loom)]
fn pop_highest(lanes: &mut [std::collections::VecDeque<Msg>; 3]) -> Option<Msg> {
    lanes
        .iter_mut()
        .find_map(std::collections::VecDeque::pop_front)
}

#[cfg(thread_exec_loom)]
impl Queue {
    pub(crate) fn new() -> Self {
        Queue {
            items: crate::sync::Mutex::new(Default::default()),
            available: crate::sync::Condvar::new(),
        }
    }

    pub(crate) fn push(&self, msg: Msg) {
        self.send(msg, Priority::Normal);
        let _ = self.wake_one();
    }

    pub(crate) fn send(&self, msg: Msg, lane: Priority) {
        crate::sync::lock(&self.items)[lane_index(lane)].push_back(msg);
    }

    /// Loom's condvar cannot tell whether anyone waits: always `true`.
    pub(crate) fn wake_one(&self) -> bool {
        self.available.notify_one();
        true
    }

    pub(crate) fn try_pop(&self) -> Option<Msg> {
        pop_highest(&mut crate::sync::lock(&self.items))
    }

    pub(crate) fn ahead(&self, lane: Priority, _queued: u64) -> u64 {
        let lanes = crate::sync::lock(&self.items);
        lanes[..=lane_index(lane)]
            .iter()
            .map(|lane| lane.len() as u64)
            .sum()
    }

    /// Exact under the lock: the front of `lane` if every message in it is
    /// a sheddable job.
    pub(crate) fn pop_displaceable(&self, lane: Priority) -> Option<Msg> {
        let mut lanes = crate::sync::lock(&self.items);
        let lane = &mut lanes[lane_index(lane)];
        let all = lane
            .iter()
            .all(|msg| matches!(msg, Msg::Job(task) if task.shed_lane().is_some()));
        if all {
            lane.pop_front()
        } else {
            None
        }
    }

    pub(crate) fn pop(&self, _timeout: Option<Duration>) -> Option<Msg> {
        let mut items = crate::sync::lock(&self.items);
        loop {
            if let Some(msg) = pop_highest(&mut items) {
                return Some(msg);
            }
            items = self
                .available
                .wait(items)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    pub(crate) fn drain(&self) -> Vec<Msg> {
        let mut lanes = crate::sync::lock(&self.items);
        lanes.iter_mut().flat_map(|lane| lane.drain(..)).collect()
    }
}
