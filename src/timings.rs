//! [`Timings`]: how long jobs waited in the queue and how long they ran, as
//! a log-linear histogram, and [`Recorder`], the per-worker histogram the
//! job path writes.
//!
//! # Buckets
//!
//! Values are nanoseconds in a `u64` (a longer duration saturates). Each
//! power of two from 16 up is split into 16 equal buckets, and values below
//! 32 have a bucket each: 976 buckets cover the whole `u64` range. A bucket
//! is at most 1/16 as wide as its lower bound, so its midpoint is within
//! 1/32 (3.2 %) of any value counted in it: that is the error bound of
//! [`Timings::quantile`].
//!
//! # Writers and readers
//!
//! A [`Recorder`] is written only by its worker, with a plain load and store
//! per field (no read-modify-write, no lock, no allocation), and read by
//! `stats()` with relaxed loads, like the worker's job counters
//! (`crate::registry`). While jobs run a snapshot may see a bucket counted
//! before the sum that goes with it; once the pool is quiet it is exact.

use std::fmt;
use std::time::Duration;

use crate::sync::{AtomicU64, Ordering::Relaxed};

/// Sub-buckets per power of two: 2^`SUB_BITS`.
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets for every `u64`: 32 exact ones, then 16 per power of two from
/// 2^5 to 2^63.
pub(crate) const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

/// The bucket a value falls in.
fn index(nanos: u64) -> usize {
    if nanos < SUB {
        return nanos as usize;
    }
    let exponent = 63 - nanos.leading_zeros(); // >= SUB_BITS
    let shift = exponent - SUB_BITS;
    let group = u64::from(shift + 1);
    // `nanos >> shift` is in SUB..2 * SUB.
    (group * SUB + (nanos >> shift) - SUB) as usize
}

/// The smallest value of a bucket, and its width.
fn bounds(index: usize) -> (u64, u64) {
    let index = index as u64;
    if index < SUB {
        return (index, 1);
    }
    let shift = index / SUB - 1;
    let mantissa = index % SUB + SUB;
    (mantissa << shift, 1 << shift)
}

/// The value a bucket stands for: its midpoint, rounded down.
fn representative(index: usize) -> u64 {
    let (low, width) = bounds(index);
    low + (width - 1) / 2
}

/// Nanoseconds in a `u64`, saturating.
pub(crate) fn saturating_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Durations of jobs over a pool's life, as a histogram: how long they
/// waited in the queue ([`Stats::queue_wait`](crate::Stats::queue_wait)) or
/// how long they ran ([`Stats::run_time`](crate::Stats::run_time)), recorded
/// when the pool is built with
/// [`Builder::record_timings`](crate::Builder::record_timings).
///
/// The count, the total and the maximum are exact; quantiles are estimated
/// from 976 log-linear buckets (16 per power of two of nanoseconds) and are
/// within 1/32 (3.2 %) of the true value: [`quantile`](Timings::quantile)
/// `(q)` is the value of rank `ceil(q × count)` among the recorded ones, to
/// that precision. Durations of `u64::MAX` nanoseconds (584 years) or more
/// count as that.
///
/// An empty `Timings` (timings not recorded, or no job yet) has a count of
/// zero and answers `Duration::ZERO` to every question. It holds no buckets,
/// so it costs no allocation; one with values holds its 976 buckets on the
/// heap (7.6 KiB), which is why [`Stats`](crate::Stats) is `Clone` but not
/// `Copy`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let pool = thread_exec::Executor::builder().threads(2).record_timings(true).build()?;
/// for _ in 0..10 {
///     pool.spawn(|| std::thread::sleep(Duration::from_millis(1)));
/// }
/// pool.wait();
/// let run = pool.stats().run_time;
/// assert_eq!(run.count(), 10);
/// assert!(run.quantile(0.5) >= Duration::from_micros(950)); // 1 ms, within 3.2 %
/// assert!(run.max() >= run.quantile(0.99) && run.quantile(0.99) >= run.quantile(0.5));
/// println!("queue wait: {:?}", pool.stats().queue_wait);
/// # Ok::<(), thread_exec::BuildError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Timings {
    count: u64,
    /// Nanoseconds, saturating.
    total: u64,
    max: u64,
    /// `BUCKETS` counts; `None` while `count` is 0.
    buckets: Option<Box<[u64]>>,
}

impl Timings {
    /// How many jobs were timed.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::builder().threads(1).record_timings(true).build()?;
    /// pool.spawn(|| ()).join().unwrap();
    /// pool.wait();
    /// assert_eq!(pool.stats().run_time.count(), 1);
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The sum of every duration recorded (saturating at `u64::MAX`
    /// nanoseconds).
    ///
    /// # Examples
    ///
    /// ```
    /// let timings = thread_exec::Timings::default();
    /// assert_eq!(timings.total(), std::time::Duration::ZERO);
    /// ```
    pub fn total(&self) -> Duration {
        Duration::from_nanos(self.total)
    }

    /// The mean duration, exact to the nanosecond (rounded down);
    /// `Duration::ZERO` if none was recorded.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = thread_exec::Executor::builder().threads(1).record_timings(true).build()?;
    /// pool.spawn(|| std::thread::sleep(Duration::from_millis(2)));
    /// pool.wait();
    /// assert!(pool.stats().run_time.mean() >= Duration::from_millis(2));
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn mean(&self) -> Duration {
        match self.total.checked_div(self.count) {
            Some(mean) => Duration::from_nanos(mean),
            None => Duration::ZERO,
        }
    }

    /// The longest duration recorded, exact; `Duration::ZERO` if none was.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = thread_exec::Executor::builder().threads(1).record_timings(true).build()?;
    /// pool.spawn(|| std::thread::sleep(Duration::from_millis(3)));
    /// pool.spawn(|| ());
    /// pool.wait();
    /// assert!(pool.stats().run_time.max() >= Duration::from_millis(3));
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max)
    }

    /// The `q`-quantile of the recorded durations (`0.5` the median,
    /// `0.99` the 99th percentile): the value of rank `ceil(q × count)`
    /// (at least 1) in increasing order, estimated within 1/32 (3.2 %) of
    /// it, and never above [`max`](Timings::max). `quantile(0.0)` estimates
    /// the smallest value, `quantile(1.0)` is the maximum.
    /// `Duration::ZERO` if no duration was recorded.
    ///
    /// # Panics
    ///
    /// If `q` is NaN or outside `0.0..=1.0`: a quantile of something else
    /// is a mistake in the caller, not a value to guess.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = thread_exec::Executor::builder().threads(1).record_timings(true).build()?;
    /// for ms in [1, 1, 1, 8] {
    ///     pool.spawn(move || std::thread::sleep(Duration::from_millis(ms)));
    /// }
    /// pool.wait();
    /// let run = pool.stats().run_time;
    /// assert!(run.quantile(0.5) < Duration::from_millis(8)); // sleeps overshoot a little
    /// assert!(run.quantile(1.0) >= Duration::from_millis(8));
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn quantile(&self, q: f64) -> Duration {
        assert!(
            (0.0..=1.0).contains(&q),
            "Timings::quantile: q must be within 0.0..=1.0, got {q}"
        );
        let Some(buckets) = &self.buckets else {
            return Duration::ZERO;
        };
        if q == 1.0 {
            return self.max();
        }
        // Rank in 1..=count; the float product is exact enough for any
        // count a pool reaches (it rounds only above 2^53 jobs).
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (index, &count) in buckets.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Duration::from_nanos(representative(index).min(self.max));
            }
        }
        // The buckets count fewer values than `count` only in a snapshot
        // taken while a worker was between its two stores.
        self.max()
    }

    /// Adds `other`'s durations to these, as if both had been recorded
    /// into one: counts and totals add (saturating), maxima combine, and
    /// the quantiles are those of the union, with the same error bound.
    /// For combining the timings of several pools.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = thread_exec::Executor::builder().threads(1).record_timings(true).build()?;
    /// let b = thread_exec::Executor::builder().threads(1).record_timings(true).build()?;
    /// a.spawn(|| ());
    /// b.spawn(|| ());
    /// b.spawn(|| ());
    /// a.wait();
    /// b.wait();
    /// let mut run = a.stats().run_time;
    /// run.merge(&b.stats().run_time);
    /// assert_eq!(run.count(), 3);
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn merge(&mut self, other: &Timings) {
        let Some(theirs) = &other.buckets else {
            return;
        };
        let ours = self.buckets_mut();
        for (ours, theirs) in ours.iter_mut().zip(theirs.iter()) {
            *ours = ours.saturating_add(*theirs);
        }
        self.count = self.count.saturating_add(other.count);
        self.total = self.total.saturating_add(other.total);
        self.max = self.max.max(other.max);
    }

    fn buckets_mut(&mut self) -> &mut [u64] {
        self.buckets
            .get_or_insert_with(|| vec![0; BUCKETS].into_boxed_slice())
    }

    /// Adds a recorder's values (read with relaxed loads).
    pub(crate) fn add(&mut self, recorder: &Recorder) {
        let total = recorder.total.load(Relaxed);
        let max = recorder.max.load(Relaxed);
        let mut count = 0_u64;
        for (index, bucket) in recorder.buckets.iter().enumerate() {
            let n = bucket.load(Relaxed);
            if n != 0 {
                let ours = &mut self.buckets_mut()[index];
                *ours = ours.saturating_add(n);
                count = count.saturating_add(n);
            }
        }
        self.count = self.count.saturating_add(count);
        self.total = self.total.saturating_add(total);
        self.max = self.max.max(max);
    }

    /// Each bucket whose count grew since `earlier` (a snapshot of the same
    /// pool taken before this one): its representative value in
    /// nanoseconds and how many values it gained.
    #[cfg(feature = "metrics")]
    pub(crate) fn growth_since<'a>(
        &'a self,
        earlier: &'a Timings,
    ) -> impl Iterator<Item = (u64, u64)> + 'a {
        let ours = self.buckets.as_deref().unwrap_or(&[]);
        let theirs = earlier.buckets.as_deref();
        ours.iter().enumerate().filter_map(move |(index, &now)| {
            let before = theirs.map_or(0, |theirs| theirs[index]);
            (now > before).then(|| (representative(index), now - before))
        })
    }
}

impl fmt::Debug for Timings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Timings");
        out.field("count", &self.count);
        if self.count != 0 {
            out.field("mean", &self.mean())
                .field("p50", &self.quantile(0.5))
                .field("p99", &self.quantile(0.99))
                .field("max", &self.max());
        }
        out.finish()
    }
}

/// The histograms as a pool last published them (`crate::metrics`).
#[cfg(feature = "metrics")]
#[derive(Default)]
pub(crate) struct Published {
    pub(crate) queue_wait: Timings,
    pub(crate) run_time: Timings,
}

/// One worker's histogram of one kind of duration: written only by that
/// worker, with plain loads and stores (see the module docs).
pub(crate) struct Recorder {
    buckets: Box<[AtomicU64]>,
    total: AtomicU64,
    max: AtomicU64,
}

impl Recorder {
    pub(crate) fn new() -> Recorder {
        Recorder {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            total: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    /// Records one duration. Only the owning worker calls this.
    pub(crate) fn record(&self, nanos: u64) {
        let bucket = &self.buckets[index(nanos)];
        bucket.store(bucket.load(Relaxed) + 1, Relaxed);
        self.total
            .store(self.total.load(Relaxed).saturating_add(nanos), Relaxed);
        if nanos > self.max.load(Relaxed) {
            self.max.store(nanos, Relaxed);
        }
    }
}

#[cfg(all(test, not(thread_exec_loom)))]
mod tests {
    use super::*;

    fn record(values: &[u64]) -> Timings {
        let recorder = Recorder::new();
        for &value in values {
            recorder.record(value);
        }
        let mut timings = Timings::default();
        timings.add(&recorder);
        timings
    }

    #[test]
    fn every_value_lands_in_the_bucket_whose_bounds_hold_it() {
        assert_eq!(index(u64::MAX), BUCKETS - 1);
        for index_ in 0..BUCKETS {
            let (low, width) = bounds(index_);
            let high = low + (width - 1);
            assert_eq!(index(low), index_, "low bound of bucket {index_}");
            assert_eq!(index(high), index_, "high bound of bucket {index_}");
            assert_eq!(index(representative(index_)), index_);
            if index_ + 1 < BUCKETS {
                assert_eq!(
                    bounds(index_ + 1).0,
                    high + 1,
                    "buckets {index_} and next touch"
                );
            }
        }
    }

    #[test]
    fn the_representative_is_within_a_thirty_second_of_every_value() {
        // Every bucket's extremes, and a spread of values in between, from
        // 1 ns to 2^64 - 1 ns.
        let mut worst = 0.0_f64;
        let mut value = 1_u64;
        while value < u64::MAX / 2 {
            for candidate in [
                value,
                value + value / 3,
                value + value / 2 + 1,
                2 * value - 1,
            ] {
                let estimate = representative(index(candidate)) as f64;
                let error = (estimate - candidate as f64).abs() / candidate as f64;
                worst = worst.max(error);
            }
            value *= 2;
        }
        for index_ in 0..BUCKETS {
            let (low, width) = bounds(index_);
            for candidate in [low, low + (width - 1)] {
                let error = (representative(index_) as f64 - candidate as f64).abs()
                    / (candidate.max(1)) as f64;
                worst = worst.max(error);
            }
        }
        assert!(worst <= 1.0 / 32.0, "worst relative error {worst}");
    }

    #[test]
    fn an_empty_histogram_answers_zero() {
        let empty = Timings::default();
        assert_eq!(empty.count(), 0);
        assert_eq!(empty.mean(), Duration::ZERO);
        assert_eq!(empty.max(), Duration::ZERO);
        assert_eq!(empty.quantile(0.0), Duration::ZERO);
        assert_eq!(empty.quantile(1.0), Duration::ZERO);
        assert_eq!(record(&[]), empty);
        assert!(
            empty.buckets.is_none(),
            "an empty histogram allocates nothing"
        );
    }

    #[test]
    fn quantiles_are_within_the_bound_over_a_wide_range() {
        // 1 ns to ~1.2 hours, geometric: each quantile against the exact
        // nearest-rank value of the sorted input.
        let values: Vec<u64> = (0..2_000)
            .map(|i| (1.0175_f64.powi(i) as u64).max(1))
            .collect();
        let timings = record(&values);
        let mut sorted = values.clone();
        sorted.sort_unstable();
        assert_eq!(timings.count(), 2_000);
        assert_eq!(timings.max(), Duration::from_nanos(*sorted.last().unwrap()));
        assert_eq!(timings.total(), Duration::from_nanos(values.iter().sum()));
        for q in [0.0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0] {
            let rank = ((q * 2_000.0_f64).ceil() as usize).clamp(1, 2_000);
            let exact = sorted[rank - 1] as f64;
            let estimate = timings.quantile(q).as_nanos() as f64;
            assert!(
                (estimate - exact).abs() <= exact / 32.0,
                "q {q}: estimate {estimate}, exact {exact}"
            );
        }
    }

    #[test]
    fn merging_is_recording_into_one() {
        let a = [5, 100, 1_000_000, 7, 3_000_000_000];
        let b = [42, 100, 99_999_999];
        let mut merged = record(&a);
        merged.merge(&record(&b));
        let both: Vec<u64> = a.iter().chain(&b).copied().collect();
        assert_eq!(merged, record(&both));
        // Merging an empty one changes nothing, and into an empty one copies.
        let before = merged.clone();
        merged.merge(&Timings::default());
        assert_eq!(merged, before);
        let mut empty = Timings::default();
        empty.merge(&before);
        assert_eq!(empty, before);
    }

    #[test]
    fn durations_saturate() {
        assert_eq!(saturating_nanos(Duration::MAX), u64::MAX);
        let timings = record(&[u64::MAX, u64::MAX]);
        assert_eq!(timings.total(), Duration::from_nanos(u64::MAX));
        assert_eq!(timings.max(), Duration::from_nanos(u64::MAX));
        assert_eq!(timings.quantile(1.0), Duration::from_nanos(u64::MAX));
        let median = timings.quantile(0.5).as_nanos() as f64;
        assert!((u64::MAX as f64 - median) <= u64::MAX as f64 / 32.0);
    }

    #[test]
    #[should_panic(expected = "q must be within 0.0..=1.0")]
    fn a_quantile_outside_zero_to_one_panics() {
        record(&[1]).quantile(1.5);
    }

    #[test]
    #[should_panic(expected = "q must be within 0.0..=1.0")]
    fn a_nan_quantile_panics() {
        Timings::default().quantile(f64::NAN);
    }
}
