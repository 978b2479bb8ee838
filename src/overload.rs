//! Overload control: telling a standing queue from a burst, and shedding
//! the queued work that would only answer too late.
//!
//! A FIFO queue under sustained overload fills until every job that starts
//! has waited almost its whole deadline: the pool stays busy and answers
//! nobody in time. The rule here is folly's CoDel as fbthrift's thread
//! manager applies it, with its two numbers derived from what the pool
//! measures instead of fixed.
//!
//! # The rule
//!
//! Only *sheddable* jobs take part: a job with a queue deadline (its own or
//! the pool's `queue_timeout`) or one submitted through `try_run`, whose
//! caller is waiting for the answer. Every other job is never shed, and a
//! pool that has none pays nothing here: no clock read, no shared write.
//!
//! - **Detection.** Each dequeue of a sheddable job reports how long it
//!   waited. Time is cut into *intervals*; the pool keeps the least wait
//!   seen in the current one. When an interval ends, the pool is
//!   *overloaded* for the next one if that least wait was above the
//!   *target* — even the luckiest job waited, so the queue never emptied
//!   (a standing queue) — and the queue did not shrink over the interval
//!   (by more than a job per thread). A burst that drains within an interval leaves one
//!   short wait behind and never counts; one that takes longer to drain
//!   shows a queue that shrinks, and does not count either. The dequeue
//!   that closes an interval is never shed.
//! - **Staying overloaded.** An interval in which the pool shed a job or
//!   refused a submission keeps it overloaded through the next one, even
//!   if its waits were short: shedding is what kept them short, and the
//!   load that caused it has not gone. Overload ends after an interval
//!   with short waits and nothing shed. (Without this, the pool flipped
//!   in and out every interval: shedding emptied the queue, the next
//!   interval saw short waits, and a deep queue then filled for a whole
//!   interval.)
//! - **Shedding at dequeue.** While overloaded, a sheddable job that waited
//!   longer than its lane's *slough time* is settled without running
//!   ([`ShedReason::StandingQueue`]); so is one whose deadline is nearer
//!   than the run time the pool expects for it, when its whole budget was
//!   longer than that run time ([`ShedReason::WouldMissDeadline`]: it
//!   would answer after its client left).
//! - **Shedding at submit.** While overloaded, a sheddable submission whose
//!   expected wait (the jobs queued ahead of it in its lane and above,
//!   times the expected run time, over the threads) is already past its
//!   slough time is refused at once: it would only wait to be shed, and a
//!   refusal costs far less than a dequeue, a wake-up and a settle.
//! - **Slough times.** A job's slough time is the target, or a tenth of its
//!   queue budget (its deadline less its submission) if that is longer,
//!   times its lane's factor: 1 for `Low`, 2 for `Normal`, 4 for `High`,
//!   so under overload `Low` work is shed first and `High` last. A job
//!   whose client waits 200 ms may wait 40 ms (`Normal`): clients that are
//!   all served in time (a closed loop at capacity, whose queue stands at
//!   some tens of milliseconds) are not shed for a latency they can
//!   afford, while a sustained overload keeps every answer within a
//!   fifth of the budget. With a fixed target the budget plays no part
//!   (folly's rule exactly).
//!
//! # The numbers
//!
//! The expected run time `R` is an average of recent run times, measured
//! between the starts of two sheddable jobs that one worker ran back to
//! back (so under load, when it matters, at no extra clock read). With `N`
//! threads, a job that arrives at a busy pool with nothing queued waits
//! about `R / N` for a thread; so the target is `max(5 ms, R / N)` and the
//! interval `max(100 ms, 16 R / N)` (an interval sees at least 16
//! dequeues). For jobs under `N × 5 ms` these are folly's 5 ms and 100 ms.
//! [`OverloadControl`] fixes either number, or switches the rule off.
//!
//! # Shared state
//!
//! `interval_end`, `min_wait` and `overloaded` are read on every sheddable
//! dequeue and written about once an interval (`min_wait` only when a wait
//! is lower than the least so far); the estimate is written by each worker
//! every few samples with a plain store. None of it orders anything else:
//! a stale read makes one shedding decision on the previous interval's
//! verdict, which is what the rule means anyway.

use std::time::Duration;

use crate::error::ShedReason;
use crate::job::Priority;
use crate::sync::{AtomicBool, AtomicU64, CachePadded, Ordering::Relaxed};

/// The least target and interval (folly's defaults).
const TARGET_FLOOR: u64 = 5_000_000;
const INTERVAL_FLOOR: u64 = 100_000_000;
/// An interval sees at least this many dequeues of a fully busy pool.
const DEQUEUES_PER_INTERVAL: u64 = 16;
/// A job's slough time is at least this share of its queue budget, per lane
/// factor: a job that may wait 200 ms waits up to 40 ms (`Normal`) before
/// an overloaded pool sheds it, so a queue of clients all served in time
/// (a closed loop at capacity) is not shed for a latency it can afford.
const BUDGET_SHARE: u64 = 10;
/// A worker publishes its run-time average every this many samples.
const PUBLISH_EVERY: u32 = 8;

/// How a pool sheds queued work under overload: on by default, with its
/// target and interval derived from the pool's own measurements.
///
/// See [`Builder::overload_control`](crate::Builder::overload_control) for
/// what the rule does.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use thread_exec::{Executor, OverloadControl};
///
/// // folly's fixed numbers instead of derived ones.
/// let pool = Executor::builder()
///     .overload_control(
///         OverloadControl::adaptive()
///             .target(Duration::from_millis(5))
///             .interval(Duration::from_millis(100)),
///     )
///     .build()?;
/// # drop(pool);
/// // A pool that never sheds (jobs still expire at their deadlines).
/// let batch = Executor::builder().overload_control(OverloadControl::off()).build()?;
/// # drop(batch);
/// # Ok::<(), thread_exec::BuildError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverloadControl {
    enabled: bool,
    /// Fixed target, nanoseconds; 0 derives it.
    target: u64,
    /// Fixed interval, nanoseconds; 0 derives it.
    interval: u64,
}

impl Default for OverloadControl {
    fn default() -> Self {
        OverloadControl::adaptive()
    }
}

impl OverloadControl {
    /// The default: shed sheddable jobs under a standing queue, with the
    /// target `max(5 ms, R / N)` and the interval `max(100 ms, 16 R / N)`
    /// for a measured run time `R` on `N` threads.
    ///
    /// # Examples
    ///
    /// ```
    /// use thread_exec::OverloadControl;
    ///
    /// assert_eq!(OverloadControl::adaptive(), OverloadControl::default());
    /// ```
    pub const fn adaptive() -> Self {
        OverloadControl {
            enabled: true,
            target: 0,
            interval: 0,
        }
    }

    /// Never shed: the pool behaves as a plain FIFO, and jobs leave the
    /// queue unrun only at their deadlines or when cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::builder()
    ///     .overload_control(thread_exec::OverloadControl::off())
    ///     .build()?;
    /// assert!(!pool.stats().overloaded);
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub const fn off() -> Self {
        OverloadControl {
            enabled: false,
            target: 0,
            interval: 0,
        }
    }

    /// Fixes the target: the least queue wait of an interval above which
    /// the pool counts as overloaded. Zero (or a duration of under a
    /// nanosecond) goes back to deriving it; a duration too long to count
    /// saturates.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let control = thread_exec::OverloadControl::adaptive().target(Duration::from_millis(20));
    /// # drop(control);
    /// ```
    #[must_use]
    pub fn target(mut self, target: Duration) -> Self {
        self.target = crate::timings::saturating_nanos(target);
        self
    }

    /// Fixes the interval over which the least queue wait is taken. Zero
    /// goes back to deriving it; a duration too long to count saturates.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let control = thread_exec::OverloadControl::adaptive().interval(Duration::from_secs(1));
    /// # drop(control);
    /// ```
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = crate::timings::saturating_nanos(interval);
        self
    }

    /// Whether the pool sheds at all.
    ///
    /// # Examples
    ///
    /// ```
    /// use thread_exec::OverloadControl;
    /// assert!(OverloadControl::adaptive().is_enabled());
    /// assert!(!OverloadControl::off().is_enabled());
    /// ```
    pub const fn is_enabled(&self) -> bool {
        self.enabled
    }
}

/// What a dequeue of a sheddable job should do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Run,
    Shed(ShedReason),
}

/// The pool's overload state (see the module docs).
pub(crate) struct Overload {
    control: OverloadControl,
    /// Read on every sheddable dequeue, written about once an interval.
    detector: CachePadded<Detector>,
    /// The pool's average run time in nanoseconds, 0 before any sample:
    /// written by workers with plain stores (see [`RunEstimate`]).
    run_nanos: CachePadded<AtomicU64>,
}

struct Detector {
    /// When the current interval ends, on the stamps' scale; 0 before the
    /// first sample.
    interval_end: AtomicU64,
    /// The least wait reported in the current interval; `u64::MAX` for
    /// none yet.
    min_wait: AtomicU64,
    /// The verdict of the last interval that ended.
    overloaded: AtomicBool,
    /// A job was shed, or a submission refused, in the current interval:
    /// the load that made the pool overloaded has not gone.
    shed: AtomicBool,
    /// The jobs queued when the last interval ended: a queue shorter now
    /// is a burst draining, not a standing queue.
    queued: AtomicU64,
    /// The target and interval in force since the last interval ended.
    target: AtomicU64,
    interval: AtomicU64,
}

impl Overload {
    pub(crate) fn new(control: OverloadControl) -> Self {
        Overload {
            control,
            detector: CachePadded(Detector {
                interval_end: AtomicU64::new(0),
                min_wait: AtomicU64::new(u64::MAX),
                overloaded: AtomicBool::new(false),
                shed: AtomicBool::new(false),
                queued: AtomicU64::new(0),
                target: AtomicU64::new(if control.target == 0 {
                    TARGET_FLOOR
                } else {
                    control.target
                }),
                interval: AtomicU64::new(if control.interval == 0 {
                    INTERVAL_FLOOR
                } else {
                    control.interval
                }),
            }),
            run_nanos: CachePadded(AtomicU64::new(0)),
        }
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.control.enabled
    }

    /// The target and interval for a pool of `threads` threads whose jobs
    /// run `run` nanoseconds on average.
    fn limits(&self, threads: usize) -> (u64, u64) {
        let per_thread = self.run_nanos.load(Relaxed) / (threads.max(1) as u64);
        let target = match self.control.target {
            0 => per_thread.max(TARGET_FLOOR),
            fixed => fixed,
        };
        let interval = match self.control.interval {
            0 => per_thread
                .saturating_mul(DEQUEUES_PER_INTERVAL)
                .max(INTERVAL_FLOOR),
            fixed => fixed,
        };
        (target, interval)
    }

    /// A sheddable job reached by a worker at `now` (nanoseconds on the
    /// stamps' scale) after waiting `wait`, in `lane`, with `deadline`
    /// (nanoseconds on the same scale, 0 for none) set `budget` after its
    /// submission. `threads` is the pool's thread count; `queued` reads how
    /// many jobs are queued (only when this dequeue closes an interval).
    #[allow(clippy::too_many_arguments)] // each is one figure of the rule
    pub(crate) fn dequeued(
        &self,
        wait: u64,
        now: u64,
        lane: Priority,
        deadline: u64,
        budget: u64,
        threads: usize,
        queued: impl FnOnce() -> u64,
    ) -> Verdict {
        if !self.control.enabled {
            return Verdict::Run;
        }
        let detector = &self.detector.0;
        if wait < detector.min_wait.load(Relaxed) {
            detector.min_wait.fetch_min(wait, Relaxed);
        }
        let end = detector.interval_end.load(Relaxed);
        if now >= end {
            let (target, interval) = self.limits(threads);
            if detector
                .interval_end
                .compare_exchange(end, now.saturating_add(interval), Relaxed, Relaxed)
                .is_ok()
            {
                // This dequeue closes the interval: it decides, and is
                // never shed itself.
                let least = detector.min_wait.swap(u64::MAX, Relaxed);
                let shedding = detector.shed.swap(false, Relaxed);
                let was = detector.overloaded.load(Relaxed);
                // Shorter by more than a job per thread: a queue of a few
                // jobs goes up and down by that much as workers take them.
                let queued = queued();
                let draining =
                    queued.saturating_add(threads as u64) < detector.queued.swap(queued, Relaxed);
                detector.target.store(target, Relaxed);
                detector.interval.store(interval, Relaxed);
                let standing = least > target && !draining;
                detector
                    .overloaded
                    .store(end != 0 && (standing || (was && shedding)), Relaxed);
                return Verdict::Run;
            }
        }
        if !detector.overloaded.load(Relaxed) {
            return Verdict::Run;
        }
        let target = detector.target.load(Relaxed);
        let verdict = if wait > slough(target, lane, self.budget_share(budget)) {
            Verdict::Shed(ShedReason::StandingQueue)
        } else {
            let run = self.run_nanos.load(Relaxed);
            if deadline != 0 && budget > run && deadline.saturating_sub(now) < run {
                Verdict::Shed(ShedReason::WouldMissDeadline)
            } else {
                Verdict::Run
            }
        };
        if verdict != Verdict::Run {
            self.shedding();
        }
        verdict
    }

    /// The part of a job's budget its slough time follows: a tenth of it
    /// when the target is derived, none when it is fixed (then the slough
    /// times are exactly folly's multiples of the target).
    fn budget_share(&self, budget: u64) -> u64 {
        if self.control.target == 0 {
            budget / BUDGET_SHARE
        } else {
            0
        }
    }

    /// Notes that the pool shed a job or refused a submission in this
    /// interval (a load, and a store only the first time).
    fn shedding(&self) {
        let shed = &self.detector.0.shed;
        if !shed.load(Relaxed) {
            shed.store(true, Relaxed);
        }
    }

    /// Whether the last interval's verdict was overload (no clock read:
    /// the submit path's first, and usually only, question).
    pub(crate) fn was_overloaded(&self) -> bool {
        self.control.enabled && self.detector.0.overloaded.load(Relaxed)
    }

    /// Whether a sheddable submission to `lane`, with `ahead` jobs queued
    /// in its lane and the lanes above and a queue budget of `budget`
    /// nanoseconds (0 if unknown), would only wait to be shed. Reads no
    /// clock: `overloaded` is the last interval's verdict.
    pub(crate) fn refuses(&self, ahead: u64, lane: Priority, budget: u64, threads: usize) -> bool {
        let detector = &self.detector.0;
        if !self.was_overloaded() {
            return false;
        }
        let run = self.run_nanos.load(Relaxed);
        let expected = ahead.saturating_mul(run) / (threads.max(1) as u64);
        let refuses = expected
            > slough(
                detector.target.load(Relaxed),
                lane,
                self.budget_share(budget),
            );
        if refuses {
            self.shedding();
        }
        refuses
    }

    /// Whether the pool is overloaded at `now`: the last interval's
    /// verdict, unless a whole interval passed since with no dequeue to
    /// renew it (an idle pool is not overloaded).
    pub(crate) fn is_overloaded(&self, now: u64) -> bool {
        self.was_overloaded() && !self.is_stale(now)
    }

    /// Whether a whole interval passed after the current one's end with no
    /// dequeue to close it: the pool has been idle, or shed nothing.
    fn is_stale(&self, now: u64) -> bool {
        let detector = &self.detector.0;
        now >= detector
            .interval_end
            .load(Relaxed)
            .saturating_add(detector.interval.load(Relaxed))
    }

    /// folly's load figure: 0 to 100, 100 once the least wait of the
    /// current interval reaches twice the target.
    pub(crate) fn load(&self, now: u64) -> u8 {
        if !self.control.enabled {
            return 0;
        }
        let detector = &self.detector.0;
        let least = detector.min_wait.load(Relaxed);
        let target = detector.target.load(Relaxed).max(1);
        if self.is_stale(now) {
            return 0;
        }
        if least == u64::MAX {
            // No dequeue yet this interval: the last verdict speaks.
            return if self.is_overloaded(now) { 100 } else { 0 };
        }
        let percent = u128::from(least) * 100 / (2 * u128::from(target));
        u8::try_from(percent.min(100)).unwrap_or(100)
    }

    /// The run time the pool expects of a job, nanoseconds (0: no sample
    /// yet).
    #[cfg(test)]
    fn expected_run(&self) -> u64 {
        self.run_nanos.load(Relaxed)
    }

    /// The target in force, nanoseconds.
    #[cfg(test)]
    fn target(&self) -> u64 {
        self.detector.0.target.load(Relaxed)
    }
}

/// How long a job of `lane` may wait while the pool is overloaded: the
/// target, or `share` of its budget if that is longer, times its lane's
/// factor.
fn slough(target: u64, lane: Priority, share: u64) -> u64 {
    let factor = match lane {
        Priority::Low => 1,
        Priority::Normal => 2,
        Priority::High => 4,
    };
    target.max(share).saturating_mul(factor)
}

/// One worker's average of its run times, published to the pool every few
/// samples (a plain store; the last writer wins, which for an average of
/// recent run times is as good as any).
#[derive(Debug, Default)]
pub(crate) struct RunEstimate {
    /// When the job this worker runs now was reached, if it was a
    /// sheddable job (0: none, or the worker has been idle since).
    last_start: u64,
    average: u64,
    samples: u32,
}

impl RunEstimate {
    /// The worker reached a sheddable job at `now`: the time since the
    /// last one it ran started is that job's run time (with the worker's
    /// own bookkeeping), if it did not go idle in between.
    pub(crate) fn reached(&mut self, now: u64, overload: &Overload) {
        if self.last_start != 0 && now > self.last_start {
            let sample = now - self.last_start;
            // An average over about the last eight samples.
            self.average = if self.average == 0 {
                sample
            } else {
                self.average - self.average / 8 + sample / 8
            };
            self.samples = self.samples.wrapping_add(1);
            if self.samples.is_multiple_of(PUBLISH_EVERY) || overload.run_nanos.load(Relaxed) == 0 {
                overload.run_nanos.store(self.average, Relaxed);
            }
        }
        self.last_start = 0;
    }

    /// The worker starts the sheddable job it reached at `now`.
    pub(crate) fn started(&mut self, now: u64) {
        self.last_start = now;
    }

    /// The worker went idle, or ran a job without a clock read: the next
    /// gap is not a run time.
    pub(crate) fn interrupted(&mut self) {
        self.last_start = 0;
    }
}

#[cfg(all(test, not(thread_exec_loom)))]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn pool(threads_run: u64) -> Overload {
        let overload = Overload::new(OverloadControl::adaptive());
        overload.run_nanos.store(threads_run, Relaxed);
        overload
    }

    /// Feeds one dequeue per millisecond from `from` to `to` (ms), each
    /// having waited `wait` ms; returns how many were shed.
    fn feed(overload: &Overload, from: u64, to: u64, wait: u64) -> usize {
        (from..to)
            .filter(|&t| {
                overload.dequeued(wait * MS, t * MS, Priority::Normal, 0, 0, 2, || wait)
                    != Verdict::Run
            })
            .count()
    }

    #[test]
    fn a_standing_queue_is_detected_after_an_interval_and_sheds() {
        let overload = pool(MS);
        // The first interval: waits of 30 ms from the start.
        assert_eq!(
            feed(&overload, 1, 101, 30),
            0,
            "nothing is shed before a verdict"
        );
        assert!(!overload.is_overloaded(100 * MS));
        // The dequeue at 101 ms closes the interval (least wait 30 > 5 ms).
        assert_eq!(feed(&overload, 101, 102, 30), 0, "the closing dequeue runs");
        assert!(overload.is_overloaded(102 * MS));
        // Normal sloughs at 2 × 5 ms: waits of 30 ms are shed.
        assert_eq!(feed(&overload, 102, 150, 30), 48);
        // Waits of 8 ms are not (below 10 ms).
        assert_eq!(feed(&overload, 150, 160, 8), 0);
        assert_eq!(overload.load(160 * MS), 80);
    }

    #[test]
    fn a_burst_that_drains_within_an_interval_is_not_overload() {
        let overload = pool(MS);
        feed(&overload, 1, 2, 0); // opens the first interval
        for interval in 0..5 {
            let start = 2 + interval * 100;
            // 90 ms of long waits, then the queue drains.
            assert_eq!(feed(&overload, start, start + 90, 50), 0);
            assert_eq!(feed(&overload, start + 90, start + 100, 0), 0);
            assert!(!overload.is_overloaded((start + 100) * MS));
        }
    }

    #[test]
    fn overload_ends_when_the_queue_drains_and_expires_when_idle() {
        let overload = pool(MS);
        feed(&overload, 1, 2, 0);
        feed(&overload, 2, 103, 30);
        assert!(overload.is_overloaded(103 * MS));
        // Short waits from 103 ms on. The interval that ends at 201 ms shed
        // jobs (at 102 ms): the load that caused the overload was still
        // there, so the pool stays overloaded through the next interval.
        feed(&overload, 103, 202, 0);
        assert!(overload.is_overloaded(202 * MS));
        // That one shed nothing and its waits were short: overload ends
        // when it does (at 301 ms).
        feed(&overload, 202, 302, 0);
        assert!(!overload.is_overloaded(302 * MS));
        // Back to overload, then no dequeue at all: it lapses after an
        // interval past its end.
        feed(&overload, 302, 510, 30);
        assert!(overload.is_overloaded(510 * MS));
        assert!(!overload.is_overloaded(800 * MS));
        assert_eq!(overload.load(800 * MS), 0);
    }

    #[test]
    fn overload_lasts_while_submissions_are_refused_even_with_short_waits() {
        let overload = pool(MS);
        feed(&overload, 1, 2, 0);
        feed(&overload, 2, 103, 30);
        // The pool now keeps its queue short by refusing: every wait is
        // short, but refusals go on in every interval.
        for interval in 0..5_u64 {
            let start = 103 + interval * 100;
            assert!(overload.refuses(100, Priority::Normal, 0, 2));
            feed(&overload, start, start + 100, 0);
            assert!(
                overload.is_overloaded((start + 100) * MS),
                "interval {interval}: refusing, so still overloaded"
            );
        }
        // Demand falls: no refusal, no shed, short waits: it ends.
        feed(&overload, 603, 703, 0);
        feed(&overload, 703, 704, 0);
        assert!(!overload.is_overloaded(704 * MS));
    }

    #[test]
    fn a_jobs_budget_lengthens_its_slough_time() {
        let overload = pool(MS);
        feed(&overload, 1, 2, 0);
        feed(&overload, 2, 103, 30);
        let at = 110 * MS;
        // No budget: Normal sloughs at 2 × 5 ms.
        assert_eq!(
            overload.dequeued(15 * MS, at, Priority::Normal, 0, 0, 2, || 0),
            Verdict::Shed(ShedReason::StandingQueue)
        );
        // A 200 ms budget: 2 × 20 ms.
        let deadline = at + 185 * MS;
        assert_eq!(
            overload.dequeued(15 * MS, at, Priority::Normal, deadline, 200 * MS, 2, || 0),
            Verdict::Run
        );
        assert_eq!(
            overload.dequeued(45 * MS, at, Priority::Normal, deadline, 200 * MS, 2, || 0),
            Verdict::Shed(ShedReason::StandingQueue)
        );
        // The same at submission: 1 ms jobs on 2 threads, 80 jobs ahead
        // wait 40 ms.
        assert!(!overload.refuses(80, Priority::Normal, 200 * MS, 2));
        assert!(overload.refuses(81, Priority::Normal, 200 * MS, 2));
        // Lanes keep their order: Low at 20 ms, High at 80 ms.
        assert!(overload.refuses(41, Priority::Low, 200 * MS, 2));
        assert!(!overload.refuses(160, Priority::High, 200 * MS, 2));
    }

    #[test]
    fn a_queue_that_drains_is_a_burst_not_a_standing_queue() {
        let overload = pool(MS);
        feed(&overload, 1, 2, 0);
        // A burst at twice capacity for 100 ms, then half capacity: the
        // queue grows to ~270 jobs (waits from 0 to ~135 ms) and drains
        // over the next ~270 ms, every wait above the target until then.
        for t in 2..370_u64 {
            let queued = if t < 102 {
                (t - 2) * 27 / 10
            } else {
                270 - (t - 102)
            };
            let wait = queued / 2;
            let verdict =
                overload.dequeued(wait * MS, t * MS, Priority::Normal, 0, 0, 2, || queued);
            assert_eq!(verdict, Verdict::Run, "at {t} ms");
            assert!(!overload.is_overloaded(t * MS), "at {t} ms");
        }
        // The same waits over a queue that does not shrink: overloaded.
        for t in 370..520_u64 {
            let _ = overload.dequeued(30 * MS, t * MS, Priority::Normal, 0, 0, 2, || 100);
        }
        assert!(overload.is_overloaded(520 * MS));
    }

    #[test]
    fn lanes_slough_low_first_and_high_last() {
        let overload = pool(MS);
        feed(&overload, 1, 2, 0);
        feed(&overload, 2, 103, 30);
        let verdict = |wait, lane| overload.dequeued(wait * MS, 110 * MS, lane, 0, 0, 2, || 0);
        assert_eq!(
            verdict(6, Priority::Low),
            Verdict::Shed(ShedReason::StandingQueue)
        );
        assert_eq!(verdict(6, Priority::Normal), Verdict::Run);
        assert_eq!(
            verdict(15, Priority::Normal),
            Verdict::Shed(ShedReason::StandingQueue)
        );
        assert_eq!(verdict(15, Priority::High), Verdict::Run);
        assert_eq!(
            verdict(25, Priority::High),
            Verdict::Shed(ShedReason::StandingQueue)
        );
    }

    #[test]
    fn a_job_that_would_answer_late_is_shed_only_under_overload() {
        let overload = pool(20 * MS);
        // Not overloaded: a job 5 ms from its deadline runs.
        assert_eq!(
            overload.dequeued(0, MS, Priority::Normal, 6 * MS, 200 * MS, 2, || 0),
            Verdict::Run
        );
        // The interval is max(100, 16 × 20 / 2) = 160 ms.
        feed(&overload, 2, 163, 30);
        assert!(overload.is_overloaded(164 * MS));
        // Target is max(5, 20 / 2) = 10 ms; Normal sloughs at 20 ms.
        assert_eq!(overload.target(), 10 * MS);
        let at = 170 * MS;
        assert_eq!(
            overload.dequeued(MS, at, Priority::Normal, at + 5 * MS, 200 * MS, 2, || 0),
            Verdict::Shed(ShedReason::WouldMissDeadline)
        );
        assert_eq!(
            overload.dequeued(MS, at, Priority::Normal, at + 50 * MS, 200 * MS, 2, || 0),
            Verdict::Run
        );
        // A budget shorter than the run time is a start deadline only.
        assert_eq!(
            overload.dequeued(MS, at, Priority::Normal, at + 5 * MS, 10 * MS, 2, || 0),
            Verdict::Run
        );
    }

    #[test]
    fn submissions_that_would_only_wait_to_be_shed_are_refused() {
        let overload = pool(MS);
        assert!(
            !overload.refuses(1_000, Priority::Normal, 0, 2),
            "not overloaded"
        );
        feed(&overload, 1, 2, 0);
        feed(&overload, 2, 103, 30);
        // 1 ms jobs on 2 threads: 20 jobs ahead wait 10 ms, Normal's slough.
        assert!(!overload.refuses(20, Priority::Normal, 0, 2));
        assert!(overload.refuses(21, Priority::Normal, 0, 2));
        assert!(overload.refuses(11, Priority::Low, 0, 2));
        assert!(!overload.refuses(40, Priority::High, 0, 2));
    }

    #[test]
    fn derived_limits_follow_run_time_and_threads() {
        let long = pool(100 * MS);
        assert_eq!(long.limits(1), (100 * MS, 1_600 * MS));
        assert_eq!(long.limits(512), (5 * MS, 100 * MS));
        let fixed = Overload::new(
            OverloadControl::adaptive()
                .target(Duration::from_millis(7))
                .interval(Duration::from_millis(50)),
        );
        fixed.run_nanos.store(100 * MS, Relaxed);
        assert_eq!(fixed.limits(1), (7 * MS, 50 * MS));
    }

    #[test]
    fn off_never_sheds_nor_refuses() {
        let overload = Overload::new(OverloadControl::off());
        for t in 1..500 {
            assert_eq!(
                overload.dequeued(100 * MS, t * MS, Priority::Low, 0, 0, 1, || 0),
                Verdict::Run
            );
        }
        assert!(!overload.refuses(u64::MAX, Priority::Low, 0, 1));
        assert!(!overload.is_overloaded(500 * MS));
    }

    #[test]
    fn extreme_values_saturate() {
        let overload = pool(u64::MAX);
        assert_eq!(
            overload.dequeued(
                u64::MAX,
                u64::MAX,
                Priority::High,
                u64::MAX,
                u64::MAX,
                0,
                || 0
            ),
            Verdict::Run
        );
        assert!(!overload.refuses(u64::MAX, Priority::High, 0, 0));
        let _ = overload.load(u64::MAX);
        let mut estimate = RunEstimate::default();
        estimate.started(1);
        estimate.reached(u64::MAX, &overload);
    }

    #[test]
    fn the_run_estimate_averages_back_to_back_starts_only() {
        let overload = pool(0);
        let mut estimate = RunEstimate::default();
        let mut now = 0;
        for _ in 0..64 {
            now += 2 * MS;
            estimate.reached(now, &overload);
            estimate.started(now);
        }
        assert!(overload.expected_run().abs_diff(2 * MS) < MS / 10);
        // A gap across idleness is not a sample.
        estimate.interrupted();
        estimate.reached(now + 1_000 * MS, &overload);
        assert!(overload.expected_run() < 3 * MS);
    }
}

/// The detector's shared state under loom: dequeues on two workers race
/// across an interval's end.
#[cfg(all(test, thread_exec_loom))]
mod loom_models {
    use super::*;
    use crate::sync::Arc;

    const MS: u64 = 1_000_000;

    /// Two dequeues past the end of the first interval: exactly one closes
    /// it (and is not shed), the verdict is the standing queue both saw, the
    /// next interval's end comes from the one that closed it, and the
    /// other's wait is either in the closed interval or the new one, never
    /// lost in between.
    #[test]
    fn one_dequeue_closes_an_interval_and_no_wait_is_lost() {
        loom::model(|| {
            let overload = Arc::new(Overload::new(
                OverloadControl::adaptive()
                    .target(Duration::from_millis(1))
                    .interval(Duration::from_millis(10)),
            ));
            // Opens the first interval: it ends at 11 ms.
            assert_eq!(
                overload.dequeued(0, MS, Priority::Normal, 0, 0, 2, || 0),
                Verdict::Run
            );
            let workers: Vec<_> = [12, 13]
                .into_iter()
                .map(|at| {
                    let overload = Arc::clone(&overload);
                    loom::thread::spawn(move || {
                        overload.dequeued(20 * MS, at * MS, Priority::Normal, 0, 0, 2, || 0)
                    })
                })
                .collect();
            let verdicts: Vec<Verdict> = workers
                .into_iter()
                .map(|worker| worker.join().unwrap())
                .collect();
            let detector = &overload.detector.0;
            let end = detector.interval_end.load(Relaxed);
            assert!(end == 22 * MS || end == 23 * MS, "closed once: {end}");
            assert!(detector.overloaded.load(Relaxed));
            // The closer ran; the other ran (it came first) or was shed.
            assert!(verdicts.contains(&Verdict::Run));
            let least = detector.min_wait.load(Relaxed);
            assert!(least == u64::MAX || least == 20 * MS);
        });
    }
}
