//! The submission paths: accepting a job, queuing it, and the futures that
//! wait for room in a bounded queue ([`SendAsync`], [`SpawnAsync`]) or for
//! the result as well ([`Run`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use crate::error::{JobError, ShedReason, SpawnError, TrySpawnError};
use crate::event::Listener;
use crate::handle::JobHandle;
use crate::job::{Callback, Deadline, IntoJob, Job, Priority, Stamp, Times};
use crate::state::{Owed, Refused, Shared};
use crate::sync::{deadline_after, spin_briefly, Arc};

/// How often a pool's own worker blocked on its full queue yields and looks
/// for a queued job to run again before it waits, and how long it waits.
const HELP_YIELDS: u32 = 64;
const HELP_RETRY: Duration = Duration::from_micros(200);

/// Accepts a job, blocking while a bounded queue is full. One of the pool's
/// own workers runs queued jobs itself meanwhile (each frees a place), so a
/// job that submits to its own full pool makes progress even when every
/// worker does the same.
pub(crate) fn accept_blocking(shared: &Shared) -> Result<u64, Refused> {
    let own = shared.own_worker();
    let mut idle_looks = 0_u32;
    // Spun since this thread last waited (once per wait: other submitters
    // may take each place).
    let mut spun = false;
    loop {
        match shared.accept() {
            Err(Refused::Full) => {
                let mut until = None;
                if let Some(counters) = &own {
                    if crate::worker::help(shared, counters) {
                        idle_looks = 0;
                        continue;
                    }
                    // Nothing to run, yet the queue is full: a place is held
                    // by a job whose submitter has accepted it but not yet
                    // pushed it, or that another worker is about to start.
                    // It frees within instructions, but if this is the only
                    // worker nothing would notify the wait below: yield and
                    // look again, then wait briefly.
                    idle_looks += 1;
                    if idle_looks < HELP_YIELDS {
                        std::thread::yield_now();
                        continue;
                    }
                    until = deadline_after(HELP_RETRY);
                } else if !std::mem::replace(&mut spun, true)
                    && spin_briefly(|| shared.has_room_or_closed())
                {
                    // As `SendAsync`: a place freed before this thread parked.
                    continue;
                }
                shared
                    .capacity
                    .wait_until(|| shared.has_room_or_closed(), until);
                spun = false;
            }
            other => return other,
        }
    }
}

/// `Executor::spawn` and `send`: queues `job`, blocking while a bounded
/// queue is full; a closed pool settles its handle as closed.
pub(crate) fn submit_blocking<F, C, T>(shared: &Arc<Shared>, job: Job<F, C>) -> JobHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    C: Callback<T>,
    T: Send + 'static,
{
    if overloaded(shared, &job) {
        return refused(job, JobError::shed(ShedReason::Submit));
    }
    match accept_blocking(shared) {
        Ok(queued) => enqueue(shared, job, queued),
        Err(Refused::Closed | Refused::Full) => refused(job, JobError::closed()),
    }
}

/// `Executor::try_spawn`: queues `job` if that needs no waiting; a full
/// queue's refusal counts in `Stats::rejected`.
pub(crate) fn try_submit<F, C, T>(
    shared: &Arc<Shared>,
    job: Job<F, C>,
) -> Result<JobHandle<T>, TrySpawnError<Job<F, C>>>
where
    F: FnOnce() -> T + Send + 'static,
    C: Callback<T>,
    T: Send + 'static,
{
    if overloaded(shared, &job) {
        return Err(TrySpawnError::overloaded(job));
    }
    loop {
        match shared.accept() {
            Ok(queued) => return Ok(enqueue(shared, job, queued)),
            // A lower lane's sheddable job gives up its place.
            Err(Refused::Full) if shared.displace_below(job.priority) => {}
            Err(Refused::Full) => {
                shared.count_rejected();
                return Err(TrySpawnError::full(job));
            }
            Err(Refused::Closed) => return Err(TrySpawnError::closed(job)),
        }
    }
}

/// `Executor::try_run`, for a closure or a whole `Job` alike: the one path
/// of a job whose submitter sheds load rather than wait and whose future
/// cancels it when dropped after being polled. Its caller waits for the
/// answer, so the pool may shed it; a job handed back has its own setting
/// again.
pub(crate) fn try_run_job<J, T>(shared: &Arc<Shared>, job: J) -> Result<TryRun<T>, TrySpawnError<J>>
where
    J: IntoJob<T>,
    T: Send + 'static,
{
    let mut job = job.into_job();
    let own = std::mem::replace(&mut job.sheddable, true);
    try_submit(shared, job).map(TryRun::new).map_err(|err| {
        err.map(|mut job| {
            job.sheddable = own;
            J::from_job(job)
        })
    })
}

/// `Executor::run`, for a closure or a whole `Job` alike: waits for room,
/// then for the result.
pub(crate) fn run_job<J, T>(shared: &Arc<Shared>, job: J) -> Run<'_, J, T>
where
    J: IntoJob<T>,
    T: Send + 'static,
{
    Run::new(SpawnAsync::new(shared, job))
}

/// Puts an accepted job into the queue.
pub(crate) fn enqueue<F, C, T>(shared: &Arc<Shared>, job: Job<F, C>, queued: u64) -> JobHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    C: Callback<T>,
    T: Send + 'static,
{
    // The job is counted as accepted: if anything below unwinds (a tracing
    // subscriber asked for the current span, say), count it out again, or
    // `wait` and `shutdown` would wait for it forever.
    let unqueued = Unqueued(shared);
    // A job the pool may shed carries its lane, and its submission time
    // for the overload detector (see `crate::overload`).
    let shed = shared
        .may_shed(job.deadline, job.sheddable)
        .then_some(job.priority);
    // A pool that records timings, or a job it may shed, reads the clock
    // once here, for the submission time and the pool's queue timeout both.
    let submitted = if shared.config.record_timings || shed.is_some() {
        Stamp::now()
    } else {
        Stamp::NONE
    };
    let deadline = match (job.deadline.is_set(), shared.config.queue_timeout) {
        (false, Some(timeout)) if submitted.is_set() => Deadline::after_stamp(submitted, timeout),
        (false, Some(timeout)) => Deadline::after(timeout),
        _ => job.deadline,
    };
    let times = Times {
        deadline,
        submitted,
    };
    let (task, handle) = crate::slot::queued(job.f, job.callback, times, shed);
    // A bounded pool's handle can give the job's place in the queue back
    // the moment it cancels the job; that needs the pool. Only its own
    // thread touches the reference count (a clone here, a drop with the
    // handle), never a worker.
    let pool = (shared.config.max_queue_size != 0).then(|| Arc::clone(shared));
    let to_spinner = shared.push_job(task, job.priority);
    std::mem::forget(unqueued);
    if shared.config.dynamic {
        crate::scaling::maybe_grow(shared, queued);
    }
    JobHandle::new(handle, pool, to_spinner)
}

/// An accepted job not yet in the queue; counted out if dropped (unwind).
struct Unqueued<'a>(&'a Shared);

impl Drop for Unqueued<'_> {
    fn drop(&mut self) {
        self.0.settle_unrun(&mut Owed::default());
    }
}

/// Whether the pool is overloaded and would only shed `job` after it
/// waited: a sheddable job is then refused at submission, which costs far
/// less than queuing it to shed it later (see `crate::overload`). Loads
/// only, no clock read: one load of the detector's verdict while the pool
/// is not overloaded.
pub(crate) fn overloaded<F, C>(shared: &Shared, job: &Job<F, C>) -> bool {
    overloaded_with(shared, job.deadline, job.sheddable, job.priority)
}

/// [`overloaded`] for what a submitter passed, before it is made a `Job`:
/// a bare closure has a `Job::new`'s settings.
fn overloaded_as_passed<J: IntoJob<T>, T>(shared: &Shared, job: &J) -> bool {
    match job.as_job() {
        Some(job) => overloaded(shared, job),
        None => overloaded_with(shared, Deadline::NONE, false, Priority::Normal),
    }
}

/// [`overloaded`], from a job's settings.
fn overloaded_with(shared: &Shared, deadline: Deadline, sheddable: bool, lane: Priority) -> bool {
    shared.overload.was_overloaded()
        && shared.may_shed(deadline, sheddable)
        && shared.refuses_overloaded(lane, deadline)
}

/// A handle that is settled already: the executor refused the job.
pub(crate) fn refused<F, C, T>(job: Job<F, C>, error: JobError) -> JobHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    C: Callback<T>,
    T: Send + 'static,
{
    JobHandle::new(
        crate::slot::refused(job.f, job.callback, error),
        None,
        false,
    )
}

/// The future of [`Executor::spawn_async`](crate::Executor::spawn_async):
/// resolves to the job's handle once the job is queued. `J` is what was
/// passed: a closure or a [`Job`].
#[must_use = "futures do nothing unless polled"]
pub struct SpawnAsync<'a, J, T> {
    // Borrowed, not a clone of the `Executor` or of its `Arc`: a clone's two
    // reference-count updates cost more than the rest of an uncontended
    // submission.
    shared: &'a Arc<Shared>,
    /// What was passed, made a `Job` only once accepted (no projection of
    /// `IntoJob` in a field: an async block holding this stays `Send`
    /// without a higher-ranked bound).
    job: Option<J>,
    listener: Listener,
    _output: std::marker::PhantomData<fn() -> T>,
}

impl<'a, J, T> SpawnAsync<'a, J, T> {
    pub(crate) fn new(shared: &'a Arc<Shared>, job: J) -> Self {
        SpawnAsync {
            shared,
            job: Some(job),
            listener: Listener::default(),
            _output: std::marker::PhantomData,
        }
    }
}

// The job is moved out by value, never pinned in place.
impl<J, T> Unpin for SpawnAsync<'_, J, T> {}

impl<J, T> Future for SpawnAsync<'_, J, T>
where
    J: IntoJob<T>,
    T: Send + 'static,
{
    type Output = Result<JobHandle<T>, SpawnError<J>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let shared = &this.shared;
        if this
            .job
            .as_ref()
            .is_some_and(|job| overloaded_as_passed(shared, job))
        {
            shared.capacity.unlisten(&mut this.listener);
            let job = this.job.take().expect("checked above").into_job();
            return Poll::Ready(Ok(refused(job, JobError::shed(ShedReason::Submit))));
        }
        let mut spun = false;
        loop {
            match shared.accept() {
                Ok(queued) => {
                    shared.capacity.unlisten(&mut this.listener);
                    let job = this
                        .job
                        .take()
                        .expect("`SpawnAsync` polled after completion");
                    return Poll::Ready(Ok(enqueue(shared, job.into_job(), queued)));
                }
                Err(Refused::Closed) => {
                    shared.capacity.unlisten(&mut this.listener);
                    let job = this
                        .job
                        .take()
                        .expect("`SpawnAsync` polled after completion");
                    return Poll::Ready(Err(SpawnError::new(job)));
                }
                Err(Refused::Full) => {
                    // Tiny jobs free places within a fraction of a µs: look
                    // briefly before registering, or a fast producer parks
                    // and is woken once per job start.
                    // Once per poll: other submitters may take each place.
                    if !std::mem::replace(&mut spun, true)
                        && spin_briefly(|| shared.has_room_or_closed())
                    {
                        continue;
                    }
                    ready!(shared
                        .capacity
                        .poll_until(&mut this.listener, cx, || shared.has_room_or_closed()));
                }
            }
        }
    }
}

impl<J, T> Drop for SpawnAsync<'_, J, T> {
    fn drop(&mut self) {
        self.shared.capacity.unlisten(&mut self.listener);
    }
}

impl<J, T> fmt::Debug for SpawnAsync<'_, J, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnAsync")
            .field("queued", &self.job.is_none())
            .finish_non_exhaustive()
    }
}

/// The future of the deprecated
/// [`Executor::send_async`](crate::Executor::send_async): resolves to the
/// job's handle once the job is queued. [`SpawnAsync`] of a [`Job`].
#[must_use = "futures do nothing unless polled"]
pub struct SendAsync<'a, F, C, T> {
    inner: SpawnAsync<'a, Job<F, C>, T>,
}

impl<'a, F, C, T> SendAsync<'a, F, C, T> {
    pub(crate) fn new(shared: &'a Arc<Shared>, job: Job<F, C>) -> Self {
        SendAsync {
            inner: SpawnAsync::new(shared, job),
        }
    }
}

impl<F, C, T> Future for SendAsync<'_, F, C, T>
where
    F: FnOnce() -> T + Send + 'static,
    C: Callback<T>,
    T: Send + 'static,
{
    type Output = Result<JobHandle<T>, SpawnError<Job<F, C>>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.inner).poll(cx)
    }
}

impl<F, C, T> fmt::Debug for SendAsync<'_, F, C, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SendAsync").field(&self.inner).finish()
    }
}

/// The future of [`Executor::run`](crate::Executor::run): the job's result. Dropping it before the
/// job started cancels the job; dropping it while the job runs asks the job
/// to stop (see [`crate::is_cancelled`]).
#[must_use = "futures do nothing unless polled; dropping `Run` cancels the job"]
pub struct Run<'a, J, T> {
    stage: RunStage<'a, J, T>,
}

impl<'a, J, T> Run<'a, J, T> {
    pub(crate) fn new(queuing: SpawnAsync<'a, J, T>) -> Self {
        Run {
            stage: RunStage::Queuing(queuing),
        }
    }
}

enum RunStage<'a, J, T> {
    Queuing(SpawnAsync<'a, J, T>),
    Waiting(JobHandle<T>),
    Done,
}

impl<J, T> Future for Run<'_, J, T>
where
    J: IntoJob<T>,
    T: Send + 'static,
{
    type Output = Result<T, JobError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match &mut self.stage {
                RunStage::Queuing(queuing) => match ready!(Pin::new(queuing).poll(cx)) {
                    Ok(handle) => self.stage = RunStage::Waiting(handle),
                    Err(_) => {
                        self.stage = RunStage::Done;
                        return Poll::Ready(Err(JobError::closed()));
                    }
                },
                RunStage::Waiting(handle) => {
                    let result = ready!(Pin::new(handle).poll(cx));
                    self.stage = RunStage::Done;
                    return Poll::Ready(result);
                }
                RunStage::Done => panic!("`Run` polled after completion"),
            }
        }
    }
}

impl<J, T> Drop for Run<'_, J, T> {
    fn drop(&mut self) {
        if let RunStage::Waiting(handle) = &self.stage {
            handle.cancel();
        }
    }
}

impl<J, T> fmt::Debug for Run<'_, J, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match self.stage {
            RunStage::Queuing(_) => "queuing",
            RunStage::Waiting(_) => "waiting",
            RunStage::Done => "done",
        };
        f.debug_struct("Run").field("stage", &stage).finish()
    }
}

/// The future of [`Executor::try_run`](crate::Executor::try_run): the job's
/// result. The job is queued already; once this future has been polled
/// (awaited), dropping it before the job started cancels the job, and
/// dropping it while the job runs asks the job to stop (see
/// [`crate::is_cancelled`]). Dropped without ever being polled, as
/// `let _ = pool.try_run(f)` does, it detaches the job, as dropping a
/// [`JobHandle`] does: the job still runs, nothing is cancelled silently.
#[must_use = "await it: its result is the job's; dropped unpolled, the job runs detached"]
pub struct TryRun<T> {
    /// `None` once the result was returned.
    handle: Option<JobHandle<T>>,
    /// Polled at least once: from then on, dropping cancels.
    polled: bool,
}

impl<T> TryRun<T> {
    pub(crate) fn new(handle: JobHandle<T>) -> Self {
        TryRun {
            handle: Some(handle),
            polled: false,
        }
    }
}

impl<T> Future for TryRun<T> {
    type Output = Result<T, JobError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.polled = true;
        let handle = self
            .handle
            .as_mut()
            .expect("`TryRun` polled after completion");
        let result = ready!(Pin::new(handle).poll(cx));
        self.handle = None;
        Poll::Ready(result)
    }
}

impl<T> Drop for TryRun<T> {
    fn drop(&mut self) {
        if let Some(handle) = &self.handle {
            if self.polled {
                handle.cancel();
            }
        }
    }
}

impl<T> fmt::Debug for TryRun<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryRun")
            .field("polled", &self.polled)
            .field("done", &self.handle.is_none())
            .finish()
    }
}
