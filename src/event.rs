//! A condition that threads and tasks can wait on: "wake me when this
//! predicate over the pool's atomics may have become true".
//!
//! The pool's state lives in atomics that the hot path updates without locks;
//! this type adds the slow path for whoever must wait on them (`wait`, a
//! sender blocked on a full queue, `shutdown`), for blocked threads and for
//! futures alike, written once.
//!
//! # No lost wake-ups
//!
//! A waiter registers (increments `waiters`, under `inner`'s lock) and only
//! then evaluates its predicate. A notifier first changes the state (a
//! SeqCst read-modify-write on the pool's atomics, done by the caller) and
//! then reads `waiters` (SeqCst). All four operations are SeqCst, so they
//! fall in one total order consistent with each thread's program order: if
//! the notifier's read comes after the waiter's increment, it sees
//! `waiters > 0` and takes the lock; if it comes before, the state change
//! precedes the waiter's predicate in that order, and the predicate's SeqCst
//! loads read it (or later). The waiter holds the lock from registering
//! until it sleeps (`Condvar::wait` releases it atomically), or stores its
//! waker under it, so the notifier's wake-up cannot fall between the check
//! and the sleep. When nobody waits a notification costs one load of a
//! line nobody writes: a bounded pool notifies at every job start, and the
//! read-modify-write this used to be made the line move between the
//! workers' cores at every job.
//!
//! Loom treats SeqCst as acquire/release, under which the argument above
//! does not hold; the loom build reads `waiters` with a read-modify-write
//! (`fetch_add(0)`) instead, for which acquire/release suffices (two RMWs
//! on `waiters` are ordered in its modification order: if the notifier's
//! comes first, the waiter's increment reads from it, so the state change
//! happens-before the waiter's predicate). The models check that variant.
//!
//! A notification moves each registered waker out of its slot and wakes it
//! (the task re-registers when it polls again, and a task woken twice
//! before it runs only runs once anyway), a few at a time so that no waker
//! runs under the lock and nothing is allocated, catching a waker that
//! panics; then it signals the condvar, only if a thread is blocked on it,
//! since a futex wake is a system call even when nobody sleeps. Tasks come
//! first, so a thread woken by a notification sees its tasks woken too. A
//! bounded pool notifies at every job start while a sender waits for room,
//! so this is its hot path.
//!
//! Every caller's state change is a SeqCst read-modify-write, and every
//! predicate reads the pool's atomics with SeqCst loads; the argument
//! above needs both.

use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::panic::run_caught;
use crate::sync::{lock, AtomicUsize, CachePadded, Condvar, Mutex, Ordering::SeqCst};

pub(crate) struct Event {
    /// Threads blocked in [`Event::wait_until`] plus tasks registered through
    /// a [`Listener`]. Only changed with `inner` locked; read without it by
    /// notifiers to skip the lock when nobody waits. On a line of its own:
    /// a bounded pool's workers read it at every job start.
    waiters: CachePadded<AtomicUsize>,
    /// The registered tasks' wakers. A slot is `None` once its listener is
    /// gone; `free` lists those slots for reuse.
    inner: Mutex<Wakers>,
    /// Blocked threads sleep here.
    condvar: Condvar,
}

#[derive(Default)]
struct Wakers {
    /// A registered listener's slot holds its waker, or `None` once a
    /// notification took it and until the listener's next poll.
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
    /// Threads blocked in [`Event::wait_until`].
    threads: usize,
}

/// How many wakers a notification takes out per pass over the lock.
const WAKE_BATCH: usize = 4;

/// A task's registration with an [`Event`]; unregisters on drop.
#[derive(Default)]
pub(crate) struct Listener {
    slot: Option<usize>,
}

impl Event {
    pub(crate) fn new() -> Self {
        Event {
            waiters: CachePadded(AtomicUsize::new(0)),
            inner: Mutex::new(Wakers::default()),
            condvar: Condvar::new(),
        }
    }

    /// Whether anyone waits (see "No lost wake-ups" for the two builds).
    #[inline]
    fn has_waiters(&self) -> bool {
        #[cfg(not(thread_exec_loom))]
        return self.waiters.load(SeqCst) != 0;
        #[cfg(thread_exec_loom)]
        return self.waiters.fetch_add(0, SeqCst) != 0;
    }

    /// Wakes every waiting thread and task. Call it after the state change
    /// that may make their predicates true.
    pub(crate) fn notify_all(&self) {
        if !self.has_waiters() {
            return;
        }
        let mut next = 0;
        loop {
            let mut batch: [Option<Waker>; WAKE_BATCH] = Default::default();
            let mut taken = 0;
            let last = {
                let mut inner = lock(&self.inner);
                while next < inner.slots.len() && taken < WAKE_BATCH {
                    if let Some(waker) = inner.slots[next].take() {
                        batch[taken] = Some(waker);
                        taken += 1;
                    }
                    next += 1;
                }
                let last = next >= inner.slots.len();
                // Threads last, so that a thread woken from `wait_until`
                // finds every task of the same notification woken already.
                if last && taken == 0 && inner.threads > 0 {
                    self.condvar.notify_all();
                }
                last
            };
            // Woken outside the lock: a waker is runtime code. It runs on
            // whatever thread notifies (often a worker, in the middle of its
            // accounting), so a waker that panics is caught here.
            for waker in batch.into_iter().flatten() {
                run_caught(|| waker.wake(), "waking ", "a pool waiter");
            }
            if last {
                if taken != 0 {
                    let inner = lock(&self.inner);
                    if inner.threads > 0 {
                        self.condvar.notify_all();
                    }
                }
                return;
            }
        }
    }

    /// Blocks the calling thread until `ready()` returns `true` (then returns
    /// `true`) or `deadline` passes (then returns `ready()`'s last answer).
    pub(crate) fn wait_until(
        &self,
        mut ready: impl FnMut() -> bool,
        deadline: Option<Instant>,
    ) -> bool {
        if ready() {
            return true;
        }
        let mut inner = lock(&self.inner);
        self.waiters.fetch_add(1, SeqCst);
        inner.threads += 1;
        let result = loop {
            if ready() {
                break true;
            }
            match deadline {
                None => {
                    inner = self
                        .condvar
                        .wait(inner)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                }
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break false;
                    }
                    inner = self
                        .condvar
                        .wait_timeout(inner, deadline - now)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0;
                }
            }
        };
        inner.threads -= 1;
        self.waiters.fetch_sub(1, SeqCst);
        drop(inner);
        result
    }

    /// The future twin of [`Event::wait_until`]: `Ready` once `ready()` is
    /// true, otherwise registers `cx`'s waker with `listener` and returns
    /// `Pending`. The registration lasts until [`Event::unlisten`] or until
    /// `ready()` is seen true here.
    pub(crate) fn poll_until(
        &self,
        listener: &mut Listener,
        cx: &mut Context<'_>,
        mut ready: impl FnMut() -> bool,
    ) -> Poll<()> {
        if ready() {
            self.unlisten(listener);
            return Poll::Ready(());
        }
        // Cloned before locking and the replaced one dropped after: a
        // waker's clone and drop are runtime code, which never runs under
        // the crate's locks.
        let fresh = cx.waker().clone();
        let old = {
            let mut inner = lock(&self.inner);
            match listener.slot {
                Some(slot) => inner.slots[slot].replace(fresh),
                None => {
                    self.waiters.fetch_add(1, SeqCst);
                    let slot = match inner.free.pop() {
                        Some(slot) => slot,
                        None => {
                            inner.slots.push(None);
                            inner.slots.len() - 1
                        }
                    };
                    inner.slots[slot] = Some(fresh);
                    listener.slot = Some(slot);
                    None
                }
            }
        };
        drop(old);
        if ready() {
            self.unlisten(listener);
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Removes `listener`'s registration, if any. Futures call it on drop.
    pub(crate) fn unlisten(&self, listener: &mut Listener) {
        if let Some(slot) = listener.slot.take() {
            let old = {
                let mut inner = lock(&self.inner);
                inner.free.push(slot);
                self.waiters.fetch_sub(1, SeqCst);
                inner.slots[slot].take()
            };
            drop(old);
        }
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("waiters", &self.waiters.load(SeqCst))
            .finish()
    }
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("registered", &self.slot.is_some())
            .finish()
    }
}
