//! [`Builder`]: every setting of a pool, checked once at `build`.

use std::fmt;
use std::time::Duration;

use crate::error::{BuildError, BuildErrorKind};
use crate::executor::Executor;
use crate::overload::OverloadControl;
use crate::panic::{JobPanic, PanicHook};
use crate::scaling::{grow_to, Scaling, StartReason};
use crate::state::{Config, Hook, Shared};
use crate::sync::Arc;

/// How long a dynamic pool's thread above `min_threads` waits idle before it
/// exits, unless [`Builder::keep_alive`] says otherwise (tokio's default).
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The most threads a pool starts eagerly: a fixed pool's size, a dynamic
/// pool's `min_threads`, a fixed pool's target after `scale_up` or
/// `set_threads`. Far above any pool this crate is meant for; a larger
/// count is a mistake (such as `usize::MAX`), and is refused before any
/// thread starts rather than starting threads until the operating system
/// refuses. A dynamic pool's `max_threads` may be larger: its threads start
/// only on demand.
pub const MAX_THREADS: usize = 32_768;

/// How long an idle worker may spin before it parks, unless
/// [`Builder::max_spin`] says otherwise: 20 µs, enough to catch the next job
/// of a submit-and-await loop, short enough that a spin never costs more CPU
/// than the wake-up it saves (see the worker's idle policy).
pub const DEFAULT_MAX_SPIN: Duration = Duration::from_micros(20);

/// The most `Builder::max_spin` sets.
pub(crate) const MAX_SPIN: Duration = Duration::from_millis(1);

/// The smallest worker stack [`Builder::stack_size`] sets: 128 KiB, four
/// times what a job panicking with `RUST_BACKTRACE=full` was measured to need
/// on x86-64 Linux, so that a panic unwinds instead of overflowing.
pub const MIN_STACK_SIZE: usize = 128 << 10;

/// Configures and builds an [`Executor`].
///
/// A pool is *fixed* (`threads(n)`, or `min_threads == max_threads`): all its
/// threads start at build and stay. It is *dynamic* when
/// `min_threads < max_threads`: it starts `min_threads`, starts another (up
/// to `max_threads`) when a job is queued and no worker is idle, and lets a
/// thread above `min_threads` exit after [`keep_alive`](Builder::keep_alive)
/// idle.
///
/// Without any thread setting, the pool is fixed at the machine's available
/// parallelism. Setting only `max_threads` makes a dynamic pool with
/// `min_threads = 1`; setting only `min_threads` makes one whose
/// `max_threads` is the larger of `min_threads` and the available
/// parallelism.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let pool = thread_exec::Executor::builder()
///     .min_threads(1)
///     .max_threads(16)
///     .keep_alive(Duration::from_secs(5))
///     .max_queue_size(1_000)
///     .thread_name("blocking-io")
///     .on_thread_start(|| println!("worker up"))
///     .build()?;
/// assert_eq!(pool.stats().threads, 1);
/// # Ok::<(), thread_exec::BuildError>(())
/// ```
#[must_use = "a Builder does nothing until `build` is called"]
pub struct Builder {
    threads: Option<usize>,
    min_threads: Option<usize>,
    max_threads: Option<usize>,
    keep_alive: Duration,
    max_queue_size: usize,
    queue_shards: Option<usize>,
    queue_timeout: Option<Duration>,
    max_spin: Duration,
    thread_name: String,
    stack_size: Option<usize>,
    on_thread_start: Option<Hook>,
    on_thread_stop: Option<Hook>,
    on_panic: Option<Arc<PanicHook>>,
    record_timings: bool,
    overload: OverloadControl,
    #[cfg(feature = "metrics")]
    metrics_label: Option<String>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// A builder with the defaults: a fixed pool at the available
    /// parallelism, an unbounded queue, threads named `thread-exec-N`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Builder::new().build()?;
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn new() -> Builder {
        Builder {
            threads: None,
            min_threads: None,
            max_threads: None,
            keep_alive: DEFAULT_KEEP_ALIVE,
            max_queue_size: 0,
            queue_shards: None,
            queue_timeout: None,
            max_spin: DEFAULT_MAX_SPIN,
            thread_name: "thread-exec".to_owned(),
            stack_size: None,
            on_thread_start: None,
            on_thread_stop: None,
            on_panic: None,
            record_timings: false,
            // The loom models check the pool's protocol, which shedding
            // does not change (a shed job settles as an expired one does);
            // the detector's own state has a model of its own
            // (`overload::loom_models`), and its loads in every pool model
            // only multiply the interleavings to explore.
            overload: if cfg!(thread_exec_loom) {
                OverloadControl::off()
            } else {
                OverloadControl::adaptive()
            },
            #[cfg(feature = "metrics")]
            metrics_label: None,
        }
    }

    /// A fixed pool of `n` threads: sets both `min_threads` and
    /// `max_threads` (either can still be overridden). 0 makes
    /// [`build`](Builder::build) fail, whatever else is set, and so does an
    /// `n` above an explicit `max_threads` (the two contradict each other).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::builder().threads(3).build()?;
    /// assert_eq!(pool.stats().threads, 3);
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn threads(mut self, n: usize) -> Builder {
        self.threads = Some(n);
        self
    }

    /// The threads a dynamic pool starts with and never shrinks below.
    /// May be 0: the pool then has no thread until a job arrives.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::builder().min_threads(0).max_threads(4).build()?;
    /// assert_eq!(pool.stats().threads, 0);
    /// assert_eq!(pool.spawn(|| 1).join().unwrap(), 1);
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn min_threads(mut self, n: usize) -> Builder {
        self.min_threads = Some(n);
        self
    }

    /// The most threads the pool runs at once. 0, or a value below
    /// `min_threads`, makes [`build`](Builder::build) fail.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::builder().max_threads(8).build()?;
    /// assert_eq!(pool.stats().threads, 1); // min_threads defaults to 1
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn max_threads(mut self, n: usize) -> Builder {
        self.max_threads = Some(n);
        self
    }

    /// How long a thread above `min_threads` waits idle before it exits
    /// ([`DEFAULT_KEEP_ALIVE`] unless set). Fixed pools ignore it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = thread_exec::Executor::builder()
    ///     .max_threads(4)
    ///     .keep_alive(Duration::from_millis(500))
    ///     .build()?;
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn keep_alive(mut self, keep_alive: Duration) -> Builder {
        self.keep_alive = keep_alive;
        self
    }

    /// Splits each priority lane of the queue into `n` channels (*shards*,
    /// clamped to 1..=16), so that submitters on different threads and the
    /// workers that serve them rarely meet on one lock. Unset, the pool
    /// takes one shard per two threads of its `max_threads` (so a pool of
    /// one or two threads has one), at most 16; the count is fixed at
    /// build. Each submitting thread sticks to one shard, and a worker
    /// takes from its own shard first and from the others when it is
    /// empty. Nothing else changes: priority order holds across shards,
    /// jobs from one thread in one lane start in submission order, and
    /// [`max_queue_size`](Builder::max_queue_size) bounds the whole queue.
    /// `queue_shards(1)` is the unsharded queue, the cheapest for a pool
    /// that one thread feeds.
    ///
    /// # Examples
    ///
    /// ```
    /// // Many async tasks submit to this pool from 16 runtime threads.
    /// let pool = thread_exec::Executor::builder().threads(32).queue_shards(16).build()?;
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn queue_shards(mut self, n: usize) -> Builder {
        self.queue_shards = Some(n);
        self
    }

    /// At most `n` jobs wait in the queue (running jobs do not count); 0, the
    /// default, means unbounded. With a full queue,
    /// [`spawn`](Executor::spawn) blocks, [`try_spawn`](Executor::try_spawn)
    /// hands the job back, and [`spawn_async`](Executor::spawn_async) waits
    /// without blocking.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::builder().threads(2).max_queue_size(64).build()?;
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn max_queue_size(mut self, n: usize) -> Builder {
        self.max_queue_size = n;
        self
    }

    /// Every job must start within `timeout` of its submission, unless it
    /// has its own [`Job::deadline`](crate::Job::deadline) or
    /// [`Job::queue_timeout`](crate::Job::queue_timeout): a job a worker
    /// reaches later never runs, and its handle yields an error for which
    /// [`JobError::is_expired`](crate::JobError::is_expired) holds. Under
    /// overload this keeps the pool on work somebody still waits for.
    ///
    /// Set it to the time your client waits. A job with a queue deadline
    /// may be shed under overload (see
    /// [`overload_control`](Builder::overload_control)): while a standing
    /// queue lasts, the pool starts only jobs that waited briefly and can
    /// still answer in time, so the answers it gives arrive while their
    /// clients still wait, and the others hear at once that it is busy. A
    /// timeout too long for `Instant` to represent means none. With a
    /// queue timeout the submit path reads the clock once per job, and a
    /// worker once more when it reaches the job.
    ///
    /// `Duration::ZERO` means no queue timeout, as 0 means no bound in
    /// [`max_queue_size`](Builder::max_queue_size): a configuration value of
    /// 0 meant as "off" must not expire every job. (A job's own
    /// [`Job::queue_timeout`](crate::Job::queue_timeout) is a remaining
    /// budget instead: zero there means it must start at once.)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = thread_exec::Executor::builder()
    ///     .threads(2)
    ///     .max_queue_size(1_024)
    ///     .queue_timeout(Duration::from_millis(100)) // clients wait 200 ms
    ///     .build()?;
    /// assert_eq!(pool.spawn(|| 1).join().unwrap(), 1);
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn queue_timeout(mut self, timeout: Duration) -> Builder {
        self.queue_timeout = (!timeout.is_zero()).then_some(timeout);
        self
    }

    /// How long an idle worker looks for the next job before it parks
    /// ([`DEFAULT_MAX_SPIN`] unless set); `Duration::ZERO` never spins. The
    /// first spin after a park may last up to three times as long (this
    /// plus the lag of the wake-up that ended the park, which its
    /// submitter's next job also waits for), never more than 1 ms. Values
    /// above 1 ms are lowered to 1 ms: a spinner only looks for jobs, so it
    /// sees a shutdown's or a scale-down's request once it stops, and a
    /// longer spin is a busy core, not a faster pool.
    ///
    /// Spinning saves the wake-up of a parked thread (several µs of CPU on
    /// two threads, and the same in latency) when jobs come close together;
    /// the pool spins only when its recent idle gaps were shorter than
    /// this, backs off after a spin that found nothing, and spins with one
    /// worker at a time, so a light load pays nothing for it. Set
    /// zero where every CPU cycle belongs to something else (a pool beside a
    /// busy async runtime on a small machine that never submits back to
    /// back).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = thread_exec::Executor::builder()
    ///     .threads(2)
    ///     .max_spin(Duration::ZERO)
    ///     .build()?;
    /// assert_eq!(pool.spawn(|| 1).join().unwrap(), 1);
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn max_spin(mut self, max_spin: Duration) -> Builder {
        self.max_spin = max_spin.min(MAX_SPIN);
        self
    }

    /// Names the threads `{name}-{N}` (N counts from 0 over the pool's life).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::builder().threads(1).thread_name("hasher").build()?;
    /// let name = pool.spawn(|| std::thread::current().name().map(str::to_owned)).join().unwrap();
    /// assert_eq!(name.as_deref(), Some("hasher-0"));
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        self.thread_name = name.into();
        self
    }

    /// The stack size of each worker thread, in bytes (the platform's
    /// default for spawned threads otherwise). A size below
    /// [`MIN_STACK_SIZE`] is raised to it: on a smaller stack a job that
    /// panics can overflow it while the panic message and backtrace are
    /// printed, which aborts the whole process.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::builder().threads(1).stack_size(4 << 20).build()?;
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs `hook` on each worker thread as it starts, before its first job.
    /// A hook that panics is caught and reported through `tracing`; the
    /// thread goes on.
    ///
    /// A hook that needs the pool (to resubmit, to read its stats) should
    /// capture a [`WeakExecutor`](crate::WeakExecutor) from
    /// [`Executor::downgrade`]: an `Executor` captured by the pool's own hook
    /// keeps the pool open forever.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&started);
    /// let pool = thread_exec::Executor::builder()
    ///     .threads(2)
    ///     .on_thread_start(move || { counter.fetch_add(1, Ordering::SeqCst); })
    ///     .build()?;
    /// pool.shutdown();
    /// assert_eq!(started.load(Ordering::SeqCst), 2);
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn on_thread_start(mut self, hook: impl Fn() + Send + Sync + 'static) -> Builder {
        self.on_thread_start = Some(Box::new(hook));
        self
    }

    /// Runs `hook` on each worker thread as it stops (scale-down, keep-alive
    /// expiry or shutdown), after its last job. A hook that panics is caught
    /// and reported through `tracing`.
    ///
    /// A hook that needs the pool (to resubmit, to read its stats) should
    /// capture a [`WeakExecutor`](crate::WeakExecutor) from
    /// [`Executor::downgrade`]: an `Executor` captured by the pool's own hook
    /// keeps the pool open forever.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let stopped = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&stopped);
    /// let pool = thread_exec::Executor::builder()
    ///     .threads(2)
    ///     .on_thread_stop(move || { counter.fetch_add(1, Ordering::SeqCst); })
    ///     .build()?;
    /// pool.shutdown();
    /// assert_eq!(stopped.load(Ordering::SeqCst), 2);
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn on_thread_stop(mut self, hook: impl Fn() + Send + Sync + 'static) -> Builder {
        self.on_thread_stop = Some(Box::new(hook));
        self
    }

    /// Shows `hook` every panic of a job or of a completion callback on the
    /// pool's threads, on the thread that caught it, right after it was
    /// caught: one place to count, log or alert on failures, including those
    /// of detached jobs whose handle nobody reads. The panic still reaches
    /// the job's handle (as [`JobError::is_panic`](crate::JobError::is_panic))
    /// and `tracing`; the worker lives on.
    ///
    /// A hook that panics is caught and reported through `tracing`. A panic
    /// caught on a thread that is not one of the pool's (a callback that
    /// [`JobHandle::on_complete`](crate::JobHandle::on_complete) runs at once
    /// on its caller, a job run through
    /// [`PendingJob::run`](crate::PendingJob::run)) does not reach the hook.
    ///
    /// A hook that needs the pool (to resubmit, to read its stats) should
    /// capture a [`WeakExecutor`](crate::WeakExecutor) from
    /// [`Executor::downgrade`]: an `Executor` captured by the pool's own hook
    /// keeps the pool open forever.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let panics = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&panics);
    /// let pool = thread_exec::Executor::builder()
    ///     .threads(2)
    ///     .on_panic(move |_| { counter.fetch_add(1, Ordering::SeqCst); })
    ///     .build()?;
    /// for i in 0..10 {
    ///     pool.spawn(move || assert!(i % 5 != 0, "bad input {i}")); // detached
    /// }
    /// pool.wait();
    /// assert_eq!(panics.load(Ordering::SeqCst), 2);
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn on_panic(mut self, hook: impl Fn(&JobPanic<'_>) + Send + Sync + 'static) -> Builder {
        self.on_panic = Some(Arc::new(hook));
        self
    }

    /// Records how long each job waited in the queue and how long it ran,
    /// for [`Stats::queue_wait`](crate::Stats::queue_wait) and
    /// [`Stats::run_time`](crate::Stats::run_time) (and, with the
    /// `metrics` feature, the published histograms). Off by default.
    ///
    /// - The queue wait runs from the job's acceptance (once a bounded
    ///   queue had room: the wait of a blocked `send` for room is not in
    ///   it) to the moment a worker starts it. Jobs that never start
    ///   (expired, cancelled) are not timed: they are counted in
    ///   [`Stats::expired`](crate::Stats::expired) and
    ///   [`Stats::cancelled`](crate::Stats::cancelled), so
    ///   `queue_wait.count()` is `completed + panicked`.
    /// - The run time runs from that start to the end of the job's
    ///   completion callback ([`Job::callback`](crate::Job::callback)) and
    ///   the wake-up of its handle: the time the job held its worker.
    ///
    /// The cost: one clock read when a job is submitted, one when a worker
    /// starts it (shared with the deadline check of a job with a queue
    /// deadline) and one when it ends, and a few plain stores to the
    /// worker's own histograms, per job; no lock, no allocation, no shared
    /// write. Each worker's two histograms take 15.25 KiB. Off, recording
    /// reads no clock (a job with a queue deadline still reads it once, for
    /// the deadline).
    ///
    /// Off by default although the cost did not show in throughput: on a
    /// 2-vCPU Xeon, tiny jobs took 6.1 % less time with timings than without
    /// from async code and 2.8 % more from a plain thread, in the same run
    /// (the benchmarks' `te-timings` rows; 17.7 % and 8.6 % less in an
    /// earlier run), because a slower submitter contends less for the
    /// queue's lock. What the clock reads cost is CPU
    /// time, about 20-25 ns each on Linux, which a throughput figure hides:
    /// a pool that does not look at its timings should not pay for them.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = thread_exec::Executor::builder().threads(2).record_timings(true).build()?;
    /// pool.spawn(|| std::thread::sleep(Duration::from_millis(5)));
    /// pool.wait();
    /// let stats = pool.stats();
    /// assert_eq!(stats.queue_wait.count(), 1);
    /// assert!(stats.run_time.max() >= Duration::from_millis(5));
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn record_timings(mut self, on: bool) -> Builder {
        self.record_timings = on;
        self
    }

    /// How the pool sheds queued work under overload:
    /// [`OverloadControl::adaptive`] (the default) or
    /// [`OverloadControl::off`].
    ///
    /// The rule applies only to jobs that may be shed: those with a queue
    /// deadline (their own, or [`queue_timeout`](Builder::queue_timeout))
    /// and those submitted with [`Executor::try_run`], whose caller waits
    /// for the answer. Other jobs are never shed, so a batch pool without
    /// deadlines behaves as a plain FIFO and pays nothing for the rule.
    ///
    /// While the pool is *overloaded* — the least queue wait over a whole
    /// interval stayed above a target and the queue did not shrink, so it
    /// never emptied and is not a burst draining — a sheddable job is
    /// settled unrun (its handle yields an error for which
    /// [`JobError::is_shed`](crate::JobError::is_shed) holds) if it waited
    /// longer than its *slough time*, or if its deadline is nearer than the
    /// run time the pool measured for recent jobs (unless its whole queue
    /// budget was shorter than that run time: such a deadline only says
    /// when the job must start); and a sheddable submission that would wait
    /// longer than its slough time is refused at once
    /// ([`TrySpawnError::is_overloaded`](crate::TrySpawnError::is_overloaded),
    /// or a handle already shed). The slough time is the target, or a tenth
    /// of the job's queue budget if longer, times its lane's factor: 1 for
    /// [`Priority::Low`](crate::Priority::Low), 2 for `Normal`, 4 for
    /// `High` (a `Normal` job whose client waits 200 ms may wait 40 ms). An
    /// interval that shed anything keeps the pool overloaded through the
    /// next one; overload ends after an interval with short waits and
    /// nothing shed. The target is `max(5 ms, R / N)` and the interval
    /// `max(100 ms, 16 R / N)` for a measured run time `R` on `N` threads;
    /// [`OverloadControl::target`] and [`OverloadControl::interval`] fix
    /// them (a fixed target also drops the budget's part: folly's rule
    /// exactly). A pool whose clients are all served in time (a closed
    /// loop at capacity) can count as overloaded, since its queue stands,
    /// and sheds only what waited past its slough time.
    /// Independently of overload, a `try_*` submission to a full
    /// bounded queue takes the place of a queued job of a lower lane if
    /// every job of that lane may be shed. [`Stats`](crate::Stats) counts
    /// each shed job by reason and shows whether the pool is overloaded.
    /// The rule holds while a closed pool drains too: a job shed then ends
    /// shed, not run.
    ///
    /// Cost: a sheddable job carries its submission time, so it reads the
    /// clock once at submission (the read a pool's `queue_timeout` takes
    /// anyway) and once when a worker reaches it (as any job with a
    /// deadline does); the detector's state is read, and written about
    /// once an interval. A job that may not be shed pays one load of the
    /// verdict at submission and nothing at dequeue.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use thread_exec::{Executor, OverloadControl};
    ///
    /// // A web service: set the client's timeout, nothing else.
    /// let pool = Executor::builder()
    ///     .threads(2)
    ///     .max_queue_size(1_024)
    ///     .queue_timeout(Duration::from_millis(200))
    ///     .build()?;
    /// assert!(!pool.stats().overloaded);
    /// // A pool that never sheds.
    /// let batch = Executor::builder().overload_control(OverloadControl::off()).build()?;
    /// # drop((pool, batch));
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn overload_control(mut self, control: OverloadControl) -> Builder {
        self.overload = control;
        self
    }

    /// The value of the `pool` label on the metrics
    /// [`Executor::publish_metrics`] publishes; the
    /// [`thread_name`](Builder::thread_name) (`thread-exec` by default)
    /// unless set. Give each pool of a process its own.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::builder()
    ///     .threads(2)
    ///     .metrics_label("hashing")
    ///     .build()?;
    /// pool.publish_metrics(); // with no recorder installed, a no-op
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn metrics_label(mut self, label: impl Into<String>) -> Builder {
        self.metrics_label = Some(label.into());
        self
    }

    /// Checks the settings and starts the pool's initial threads.
    ///
    /// It reports through `tracing` (at warn level, once)
    /// when a fixed pool has more threads than the machine's parallelism:
    /// fine for blocking I/O, oversubscribed for CPU work.
    ///
    /// # Errors
    ///
    /// - `max_threads` (or `threads`) is 0;
    /// - `min_threads` (or `threads`) is above `max_threads`;
    /// - more than [`MAX_THREADS`] threads would start at once (a fixed
    ///   pool's size, or `min_threads`): refused before any starts;
    /// - `thread_name` contains a NUL byte;
    /// - the operating system refused to start a thread: the threads started
    ///   so far are stopped and joined before the error returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use thread_exec::Executor;
    ///
    /// assert!(Executor::builder().threads(0).build().is_err());
    /// assert!(Executor::builder().min_threads(4).max_threads(2).build().is_err());
    /// assert!(Executor::builder().threads(2).build().is_ok());
    /// ```
    pub fn build(self) -> Result<Executor, BuildError> {
        let parallelism = std::thread::available_parallelism().map_or(1, usize::from);
        // `threads(n)` sets both bounds; an explicit `min_threads` or
        // `max_threads` overrides its side, and a `threads(n)` above an
        // explicit `max_threads` is a contradiction, reported below.
        let (min, max) = match (self.min_threads, self.max_threads, self.threads) {
            (Some(min), Some(max), _) => (min, max),
            (Some(min), None, threads) => (min, threads.unwrap_or(parallelism.max(min))),
            (None, Some(max), threads) => (threads.unwrap_or(1.min(max)), max),
            (None, None, threads) => {
                let n = threads.unwrap_or(parallelism);
                (n, n)
            }
        };
        if max == 0 || self.threads == Some(0) {
            return Err(BuildError::new(BuildErrorKind::ZeroThreads));
        }
        if min > max {
            return Err(BuildError::new(BuildErrorKind::MinAboveMax { min, max }));
        }
        if min > MAX_THREADS {
            return Err(BuildError::new(BuildErrorKind::TooManyThreads {
                requested: min,
            }));
        }
        let dynamic = min < max;
        if !dynamic && max > parallelism {
            tracing::warn!(
                threads = max,
                parallelism,
                "thread count exceeds the machine's parallelism: fine for blocking I/O, oversubscribed for CPU-bound jobs"
            );
        }
        if self.thread_name.contains('\0') {
            return Err(BuildError::new(BuildErrorKind::NulInName));
        }
        #[cfg(feature = "metrics")]
        let metrics_label = self
            .metrics_label
            .unwrap_or_else(|| self.thread_name.clone());
        let config = Config {
            #[cfg(feature = "metrics")]
            metrics_label,
            record_timings: self.record_timings,
            overload: self.overload,
            name: self.thread_name,
            stack_size: self.stack_size.map(|bytes| bytes.max(MIN_STACK_SIZE)),
            on_thread_start: self.on_thread_start,
            on_thread_stop: self.on_thread_stop,
            on_panic: self.on_panic,
            keep_alive: self.keep_alive,
            max_queue_size: self.max_queue_size,
            queue_shards: self
                .queue_shards
                .unwrap_or_else(|| crate::queue::shards_for(max)),
            queue_timeout: self.queue_timeout,
            max_spin: self.max_spin,
            dynamic,
        };
        let shared = Arc::new(Shared::new(config, min, max));
        let mut scaling = Scaling::lock(&shared);
        let grown = grow_to(&shared, &mut scaling, min, StartReason::Build);
        drop(scaling);
        if let Err(err) = grown {
            // Stop the threads that did start, and join them.
            crate::shutdown::shutdown_until(&shared, None);
            return Err(BuildError::new(BuildErrorKind::Spawn(err)));
        }
        Ok(Executor { shared })
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("Builder");
        f.field("threads", &self.threads)
            .field("min_threads", &self.min_threads)
            .field("max_threads", &self.max_threads)
            .field("keep_alive", &self.keep_alive)
            .field("max_queue_size", &self.max_queue_size)
            .field("queue_shards", &self.queue_shards)
            .field("queue_timeout", &self.queue_timeout)
            .field("max_spin", &self.max_spin)
            .field("thread_name", &self.thread_name)
            .field("stack_size", &self.stack_size)
            .field("on_thread_start", &self.on_thread_start.is_some())
            .field("on_thread_stop", &self.on_thread_stop.is_some())
            .field("on_panic", &self.on_panic.is_some())
            .field("record_timings", &self.record_timings)
            .field("overload", &self.overload);
        #[cfg(feature = "metrics")]
        f.field("metrics_label", &self.metrics_label);
        f.finish()
    }
}
