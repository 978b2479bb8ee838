//! The job queue: a `flume` channel whose two ends the pool owns.
//!
//! The pool keeps both the sender and the receiver for its whole life, so the
//! channel never disconnects. Closing, capacity and counting are the pool's
//! business (see [`crate::pool`]); the queue only moves messages in FIFO
//! order and parks idle workers. That keeps flume's fast paths (an unbounded
//! send that wakes a parked receiver only when one is parked) and keeps every
//! rule about acceptance in one atomic word we can reason about.

use std::time::Duration;

use crate::handle::Task;
use crate::sync::Arc;

/// One entry in the queue.
pub(crate) enum Msg {
    /// A job, or what is left of it once cancelled (a worker that pops a
    /// cancelled job finds it settled and only does the accounting).
    Job(Arc<dyn Task>),
    /// A wake-up with no work: the worker that receives it re-checks whether
    /// it should retire (scale-down) or exit (shutdown). Nudges that arrive
    /// when there is nothing to do are harmless and simply dropped.
    Nudge,
}

#[cfg(not(thread_executor_loom))]
pub(crate) struct Queue {
    tx: flume::Sender<Msg>,
    rx: flume::Receiver<Msg>,
}

#[cfg(not(thread_executor_loom))]
impl Queue {
    pub(crate) fn new() -> Self {
        let (tx, rx) = flume::unbounded();
        Queue { tx, rx }
    }

    pub(crate) fn push(&self, msg: Msg) {
        // Cannot fail: `self.rx` keeps the channel connected.
        let _ = self.tx.send(msg);
    }

    pub(crate) fn try_pop(&self) -> Option<Msg> {
        self.rx.try_recv().ok()
    }

    /// Blocks until a message arrives, or until `timeout` passes (`None`).
    pub(crate) fn pop(&self, timeout: Option<Duration>) -> Option<Msg> {
        match timeout {
            Some(timeout) => self.rx.recv_timeout(timeout).ok(),
            None => self.rx.recv().ok(),
        }
    }

    /// Takes every message currently queued, in order.
    pub(crate) fn drain(&self) -> Vec<Msg> {
        self.rx.drain().collect()
    }
}

/// The loom build's queue: the same operations over loom's `Mutex` and
/// `Condvar`, so the model checker sees every push and pop. A timed `pop`
/// waits without a timeout (loom does not model time), so keep-alive expiry
/// is outside the models.
#[cfg(thread_executor_loom)]
pub(crate) struct Queue {
    items: crate::sync::Mutex<std::collections::VecDeque<Msg>>,
    available: crate::sync::Condvar,
}

#[cfg(thread_executor_loom)]
impl Queue {
    pub(crate) fn new() -> Self {
        Queue {
            items: crate::sync::Mutex::new(std::collections::VecDeque::new()),
            available: crate::sync::Condvar::new(),
        }
    }

    pub(crate) fn push(&self, msg: Msg) {
        crate::sync::lock(&self.items).push_back(msg);
        self.available.notify_one();
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
