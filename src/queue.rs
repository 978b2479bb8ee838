//! The job queue: a `flume` channel whose two ends the pool owns.
//!
//! The pool keeps both the sender and the receiver for its whole life, so the
//! channel never disconnects. Closing, capacity and counting are the pool's
//! business (see [`crate::state`]); the queue only moves messages in FIFO
//! order; idle workers park on the queue's own condvar (see
//! [`Queue::pop`]), since flume's blocking receive allocates on every park.
//! Every rule about acceptance stays in one atomic word we can reason about.

use std::time::Duration;

use crate::slot::TaskRef;

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

#[cfg(not(thread_exec_loom))]
pub(crate) struct Queue {
    tx: flume::Sender<Msg>,
    rx: flume::Receiver<Msg>,
    /// A copy of `*sleep`, read without the lock by `push`, so that a push
    /// with nobody asleep costs one load.
    sleepers: std::sync::atomic::AtomicUsize,
    /// Sleepers in [`Queue::pop`] that no push has signalled yet (it may
    /// count too many, never too few: see `pop`). A push signals one and
    /// takes it off, so a burst of pushes wakes each sleeper once, as
    /// flume's own `recv` does.
    sleep: std::sync::Mutex<usize>,
    wake: std::sync::Condvar,
}

#[cfg(not(thread_exec_loom))]
impl Queue {
    pub(crate) fn new() -> Self {
        let (tx, rx) = flume::unbounded();
        Queue {
            tx,
            rx,
            sleepers: std::sync::atomic::AtomicUsize::new(0),
            sleep: std::sync::Mutex::new(0),
            wake: std::sync::Condvar::new(),
        }
    }

    /// Queues `msg` and wakes one parked worker, if any.
    pub(crate) fn push(&self, msg: Msg) {
        self.send(msg);
        let _ = self.wake_one();
    }

    /// Queues `msg` without waking anyone: for a caller that knows a worker
    /// will look at the queue before it parks (see `Shared::push_job`).
    pub(crate) fn send(&self, msg: Msg) {
        // Cannot fail: `self.rx` keeps the channel connected.
        let _ = self.tx.send(msg);
    }

    /// Wakes one parked worker that no push has signalled yet, if any;
    /// `false` if there was none.
    pub(crate) fn wake_one(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        if self.sleepers.load(SeqCst) == 0 {
            return false;
        }
        let mut unsignalled = crate::sync::lock(&self.sleep);
        if *unsignalled == 0 {
            return false;
        }
        *unsignalled -= 1;
        self.sleepers.store(*unsignalled, SeqCst);
        self.wake.notify_one();
        true
    }

    pub(crate) fn try_pop(&self) -> Option<Msg> {
        self.rx.try_recv().ok()
    }

    /// Waits once for a message: `None` if the wait ended without one
    /// (`timeout` passed, a spurious wake-up, or the message that woke this
    /// worker was taken by a spinning one); the caller decides whether to
    /// spin, wait again or give up.
    ///
    /// Parks on our own condvar rather than in flume's blocking `recv`,
    /// which allocates a hook (an `Arc`) every time it has to wait. No
    /// wake-up is lost: the sleeper counts itself and then looks at the
    /// queue, both under `sleep`, which it holds until it waits. If its look
    /// (a critical section of flume's lock) came before a sender's push
    /// (another), then its count happened before that push and so before
    /// the sender's read of `sleepers`, which sees it and signals under
    /// `sleep`, that is once the sleeper waits. Otherwise the look finds the
    /// message.
    ///
    /// The count never falls below the number of waiting, unsignalled
    /// sleepers: a sleeper counts itself under the lock it holds until it
    /// waits, and only a signal (which wakes one waiter) or the sleeper
    /// itself, before it waited, takes a count off. A sleeper that woke
    /// without a signal (spuriously, or on its timeout) leaves its count, so
    /// the count may be one too high until the next push spends a signal
    /// on it.
    pub(crate) fn pop(&self, timeout: Option<Duration>) -> Option<Msg> {
        use std::sync::atomic::Ordering::SeqCst;
        use std::sync::PoisonError;
        let mut unsignalled = crate::sync::lock(&self.sleep);
        *unsignalled += 1;
        self.sleepers.store(*unsignalled, SeqCst);
        if let Some(msg) = self.try_pop() {
            // Still under the lock taken before counting: no push has
            // signalled this sleeper, so its count comes off.
            *unsignalled -= 1;
            self.sleepers.store(*unsignalled, SeqCst);
            return Some(msg);
        }
        let unsignalled = match timeout {
            None => self
                .wake
                .wait(unsignalled)
                .unwrap_or_else(PoisonError::into_inner),
            Some(timeout) => {
                self.wake
                    .wait_timeout(unsignalled, timeout)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
        drop(unsignalled);
        self.try_pop()
    }

    /// Takes every message currently queued, in order.
    pub(crate) fn drain(&self) -> Vec<Msg> {
        self.rx.drain().collect()
    }
}

/// The loom build's queue: the same operations over loom's `Mutex` and
/// `Condvar`, so the model checker sees every push and pop of the pool's
/// protocol. It is a substitute: the models check the pool's use of a FIFO
/// with blocking pops (nudges, accounting, shutdown), not flume itself nor
/// the production queue's own parking (`sleepers` and its condvar above),
/// whose no-lost-wake-up argument is the one written on [`Queue::pop`] and
/// is exercised by the test suite on real threads. A timed `pop` waits
/// without a timeout (loom does not model time), so keep-alive expiry is
/// outside the models too.
#[cfg(thread_exec_loom)]
pub(crate) struct Queue {
    items: crate::sync::Mutex<std::collections::VecDeque<Msg>>,
    available: crate::sync::Condvar,
}

#[cfg(thread_exec_loom)]
impl Queue {
    pub(crate) fn new() -> Self {
        Queue {
            items: crate::sync::Mutex::new(std::collections::VecDeque::new()),
            available: crate::sync::Condvar::new(),
        }
    }

    pub(crate) fn push(&self, msg: Msg) {
        self.send(msg);
        let _ = self.wake_one();
    }

    pub(crate) fn send(&self, msg: Msg) {
        crate::sync::lock(&self.items).push_back(msg);
    }

    /// Loom's condvar cannot tell whether anyone waits: always `true`.
    pub(crate) fn wake_one(&self) -> bool {
        self.available.notify_one();
        true
    }

    pub(crate) fn try_pop(&self) -> Option<Msg> {
        crate::sync::lock(&self.items).pop_front()
    }

    pub(crate) fn pop(&self, _timeout: Option<Duration>) -> Option<Msg> {
        let mut items = crate::sync::lock(&self.items);
        loop {
            if let Some(msg) = items.pop_front() {
                return Some(msg);
            }
            items = self
                .available
                .wait(items)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    pub(crate) fn drain(&self) -> Vec<Msg> {
        crate::sync::lock(&self.items).drain(..).collect()
    }
}
