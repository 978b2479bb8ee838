//! [`Executor`]: the handle users hold, and the submission paths.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use crate::builder::Builder;
use crate::error::{JobError, SpawnError, TrySpawnError};
use crate::event::Listener;
use crate::handle::JobHandle;
use crate::job::{Callback, Job, NoCallback};
use crate::pool::{Condition, Refused, Shared, Until};
use crate::queue::Msg;
use crate::sync::{Arc, Ordering::SeqCst};

/// A pool of OS threads that runs blocking jobs, and the handle to it.
///
/// `Executor` is a cheap [`Clone`] (an `Arc`) and is `Send + Sync`: hand
/// clones to every part of a service. All clones drive one pool; when the
/// last clone is dropped, the pool stops accepting jobs, its threads run
/// every job already queued, then exit. Dropping never blocks the dropping
/// thread (it may be an async runtime's worker); call
/// [`shutdown`](Executor::shutdown) to wait for the threads.
///
/// Choose it over `tokio::task::spawn_blocking` when you want the blocking
/// pool sized, bounded, observable and independent of a runtime; over a
/// thread per task when jobs are many; over rayon when the jobs block (I/O,
/// sync clients) rather than compute in parallel.
///
/// # Examples
///
/// ```
/// use thread_exec::{Executor, Job};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), thread_exec::JobError> {
/// let pool = Executor::new(4);
///
/// // From async code: the handle is a future.
/// let digest = pool.spawn(|| "expensive".len()).await?;
/// assert_eq!(digest, 9);
///
/// // From a plain thread: join it.
/// let handle = pool.spawn(|| 2 + 2);
/// assert_eq!(handle.join()?, 4);
///
/// // With a callback, then wait for everything.
/// pool.send(Job::new(|| 1).callback(|result| assert!(result.is_ok())));
/// pool.wait();
/// # Ok(())
/// # }
/// ```
pub struct Executor {
    pub(crate) shared: Arc<Shared>,
}

impl Executor {
    /// A fixed pool of `number_threads` threads with an unbounded queue, the
    /// seed's `Executor(number_threads)`. Use [`Executor::builder`] for
    /// everything else.
    ///
    /// # Panics
    ///
    /// Panics if `number_threads` is 0, or if the operating system refuses
    /// to start a thread. [`Builder::build`] reports both as errors instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(10);
    /// assert_eq!(pool.stats().threads, 10);
    /// ```
    pub fn new(number_threads: usize) -> Executor {
        assert!(
            number_threads > 0,
            "Executor::new(0): a pool needs at least one thread"
        );
        match Builder::new().threads(number_threads).build() {
            Ok(executor) => executor,
            Err(err) => panic!("Executor::new({number_threads}): {err}"),
        }
    }

    /// A [`Builder`] for a pool with non-default settings.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::builder()
    ///     .threads(2)
    ///     .max_queue_size(100)
    ///     .thread_name("hashers")
    ///     .build()?;
    /// # Ok::<(), thread_exec::BuildError>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Queues `f` to run on a worker thread and returns its handle.
    ///
    /// If the executor is shut down, `f` is dropped and the handle yields an
    /// error with [`JobError::is_closed`]; use
    /// [`try_spawn`](Executor::try_spawn) to get `f` back instead.
    ///
    /// # Blocking
    ///
    /// With a bounded queue ([`Builder::max_queue_size`]) that is full, this
    /// blocks the calling thread until a slot frees or the pool closes. Do
    /// not call it from async code on a bounded pool: use
    /// [`spawn_async`](Executor::spawn_async) or
    /// [`try_spawn`](Executor::try_spawn). With the default unbounded queue
    /// it never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = thread_exec::Executor::new(2);
    /// let handle = pool.spawn(|| std::fs::metadata(".").is_ok());
    /// assert!(handle.join().unwrap());
    /// ```
    pub fn spawn<F, T>(&self, f: F) -> JobHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.send(Job::new(f))
    }

    /// Queues a [`Job`] (a closure with an optional callback), the seed's
    /// `send(job)`, and returns its handle. The seed's `block=True` is
    /// `executor.send(job).join()`.
    ///
    /// If the executor is shut down, the job's closure is dropped, its
    /// callback runs at once on this thread with an error for which
    /// [`JobError::is_closed`] holds, and the handle yields that error.
    ///
    /// # Blocking
    ///
    /// As [`spawn`](Executor::spawn): only on a full bounded queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use thread_exec::{Executor, Job};
    ///
    /// let pool = Executor::new(2);
    /// let job = Job::new(|| [1, 2, 3]).callback(|result| println!("{result:?}"));
    /// assert_eq!(pool.send(job).join().unwrap(), [1, 2, 3]);
    /// ```
    pub fn send<F, C, T>(&self, job: Job<F, C>) -> JobHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        C: Callback<T>,
        T: Send + 'static,
    {
        match self.accept_blocking() {
            Ok(queued) => enqueue(&self.shared, job, queued),
            Err(Refused::Closed | Refused::Full) => refused(job, JobError::closed()),
        }
    }

    /// Queues `f` if that needs no waiting; never blocks.
    ///
    /// # Errors
    ///
    /// [`TrySpawnError::Full`] if the bounded queue is full,
    /// [`TrySpawnError::Closed`] if the executor is shut down; both hand `f`
    /// back untouched.
    ///
    /// # Examples
    ///
    /// Shedding load when the pool is saturated:
    ///
    /// ```
    /// use thread_exec::{Executor, TrySpawnError};
    ///
    /// let pool = Executor::builder().threads(1).max_queue_size(1).build()?;
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let (started_tx, started) = std::sync::mpsc::channel();
    /// let busy = pool.spawn(move || { started_tx.send(()).unwrap(); rx.recv().ok() });
    /// started.recv().unwrap();
    /// let queued = pool.try_spawn(|| 1).unwrap(); // fills the queue
    /// match pool.try_spawn(|| 2) {
    ///     Err(TrySpawnError::Full(job)) => assert_eq!(job(), 2), // shed: run it elsewhere, or drop it
    ///     other => panic!("{other:?}"),
    /// }
    /// drop(tx);
    /// # busy.join().unwrap();
    /// assert_eq!(queued.join().unwrap(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_spawn<F, T>(&self, f: F) -> Result<JobHandle<T>, TrySpawnError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_send(Job::new(f)).map_err(|err| match err {
            TrySpawnError::Full(job) => TrySpawnError::Full(job.f),
            TrySpawnError::Closed(job) => TrySpawnError::Closed(job.f),
        })
    }

    /// Queues a [`Job`] if that needs no waiting; never blocks.
    ///
    /// # Errors
    ///
    /// As [`try_spawn`](Executor::try_spawn), handing the whole job back.
    ///
    /// # Examples
    ///
    /// ```
    /// use thread_exec::{Executor, Job};
    ///
    /// let pool = Executor::new(1);
    /// let handle = pool.try_send(Job::new(|| 1).callback(|_| {})).unwrap();
    /// assert_eq!(handle.join().unwrap(), 1);
    /// ```
    pub fn try_send<F, C, T>(
        &self,
        job: Job<F, C>,
    ) -> Result<JobHandle<T>, TrySpawnError<Job<F, C>>>
    where
        F: FnOnce() -> T + Send + 'static,
        C: Callback<T>,
        T: Send + 'static,
    {
        match self.shared.try_accept() {
            Ok(queued) => Ok(enqueue(&self.shared, job, queued)),
            Err(Refused::Full) => Err(TrySpawnError::Full(job)),
            Err(Refused::Closed) => Err(TrySpawnError::Closed(job)),
        }
    }

    /// Queues `f`, waiting for room in a full bounded queue without blocking
    /// the runtime: the future resolves to the job's handle once queued.
    ///
    /// # Errors
    ///
    /// The future yields [`SpawnError`] with `f` inside if the executor is
    /// shut down (by any clone) before the job was queued. The future
    /// borrows the executor, as flume's `send_async` borrows its sender:
    /// cloning the pool's `Arc` for every submission cost more than the rest
    /// of an uncontended submission. Clone the `Executor` into a task that
    /// must own it.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it resolved drops `f` unqueued; nothing
    /// runs.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = thread_exec::Executor::builder().threads(1).max_queue_size(8).build()?;
    /// let handle = pool.spawn_async(|| 40 + 2).await?;
    /// assert_eq!(handle.await?, 42);
    /// # Ok(())
    /// # }
    /// ```
    pub fn spawn_async<F, T>(&self, f: F) -> SpawnAsync<'_, F, T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        SpawnAsync {
            inner: self.send_async(Job::new(f)),
        }
    }

    /// Queues a [`Job`], waiting for room without blocking the runtime, as
    /// [`spawn_async`](Executor::spawn_async) does.
    ///
    /// # Errors
    ///
    /// The future yields [`SpawnError`] with the whole job inside if the
    /// executor is shut down before the job was queued.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it resolved drops the job unqueued.
    ///
    /// # Examples
    ///
    /// ```
    /// use thread_exec::{Executor, Job};
    /// # futures::executor::block_on(async {
    /// let pool = Executor::new(1);
    /// let handle = pool.send_async(Job::new(|| "ok").callback(|_| {})).await.unwrap();
    /// assert_eq!(handle.await.unwrap(), "ok");
    /// # });
    /// ```
    pub fn send_async<F, C, T>(&self, job: Job<F, C>) -> SendAsync<'_, F, C, T>
    where
        F: FnOnce() -> T + Send + 'static,
        C: Callback<T>,
        T: Send + 'static,
    {
        SendAsync {
            shared: &self.shared,
            job: Some(job),
            listener: Listener::default(),
            _output: std::marker::PhantomData,
        }
    }

    /// Runs `f` on the pool and resolves to its result: waits for room in
    /// the queue, then for the job, without blocking the runtime. The web
    /// handler's blocking bridge.
    ///
    /// If the executor is shut down the result is an error for which
    /// [`JobError::is_closed`] holds.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before the job started cancels it: it never runs,
    /// so a handler whose client went away stops costing CPU. Once started,
    /// the job is asked to stop ([`crate::is_cancelled`] turns `true` inside
    /// it); a job that does not look runs to the end, and its result is
    /// dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), thread_exec::JobError> {
    /// let pool = thread_exec::Executor::new(2);
    /// let len = pool.run(|| std::fs::read_dir(".").map(|d| d.count()).unwrap_or(0)).await?;
    /// assert!(len > 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn run<F, T>(&self, f: F) -> Run<'_, F, T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Run {
            stage: RunStage::Queuing(self.spawn_async(f)),
        }
    }

    /// Blocks until every job accepted so far, and every job accepted while
    /// waiting, has finished (callbacks included): the seed's `wait()`.
    /// Returns at once if nothing is pending. Jobs that panicked or were
    /// cancelled count as finished; a job that panics cannot make `wait`
    /// hang, unlike the seed's.
    ///
    /// # Blocking
    ///
    /// Parks the thread; from async code use
    /// [`wait_async`](Executor::wait_async).
    ///
    /// # Panics
    ///
    /// Panics if called from one of this pool's own jobs: the job would wait
    /// for itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let pool = thread_exec::Executor::new(3);
    /// let done = Arc::new(AtomicUsize::new(0));
    /// for _ in 0..10 {
    ///     let done = Arc::clone(&done);
    ///     pool.spawn(move || done.fetch_add(1, Ordering::SeqCst));
    /// }
    /// pool.wait();
    /// assert_eq!(done.load(Ordering::SeqCst), 10);
    /// ```
    pub fn wait(&self) {
        assert!(
            !crate::worker::is_worker_of(&self.shared),
            "Executor::wait called from one of its own jobs: the job would wait for itself forever"
        );
        let shared = &self.shared;
        shared
            .finished
            .wait_until(|| shared.counts().unfinished == 0, None);
    }

    /// The future twin of [`wait`](Executor::wait): resolves once every
    /// accepted job has finished, without blocking a runtime thread.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it only stops waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = thread_exec::Executor::new(2);
    /// for i in 0..4 {
    ///     pool.spawn(move || i * i);
    /// }
    /// pool.wait_async().await;
    /// assert_eq!(pool.stats().completed, 4);
    /// # }
    /// ```
    pub fn wait_async(&self) -> WaitAsync {
        WaitAsync {
            inner: Until::new(&self.shared, Condition::Finished),
        }
    }

    fn accept_blocking(&self) -> Result<u64, Refused> {
        let shared = &self.shared;
        loop {
            match shared.try_accept() {
                Err(Refused::Full) => {
                    shared
                        .capacity
                        .wait_until(|| shared.has_room_or_closed(), None);
                }
                other => return other,
            }
        }
    }
}

/// Puts an accepted job into the queue.
fn enqueue<F, C, T>(shared: &Arc<Shared>, job: Job<F, C>, queued: u64) -> JobHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    C: Callback<T>,
    T: Send + 'static,
{
    let (task, handle) = crate::slot::queued(job.f, job.callback);
    shared.queue.push(Msg::Job(task));
    if shared.config.dynamic {
        crate::scaling::maybe_grow(shared, queued);
    }
    JobHandle::new(handle)
}

/// A handle that is settled already: the executor refused the job.
fn refused<F, C, T>(job: Job<F, C>, error: JobError) -> JobHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    C: Callback<T>,
    T: Send + 'static,
{
    JobHandle::new(crate::slot::refused(job.f, job.callback, error))
}

impl Clone for Executor {
    fn clone(&self) -> Self {
        self.shared.executors.fetch_add(1, SeqCst);
        Executor {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Executor {
    /// The last clone's drop closes the pool: the threads run every queued
    /// job, then exit. Never blocks.
    fn drop(&mut self) {
        if self.shared.executors.fetch_sub(1, SeqCst) == 1 {
            self.shared.close();
        }
    }
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

/// The future of [`Executor::send_async`]: resolves to the job's handle once
/// the job is queued.
#[must_use = "futures do nothing unless polled"]
pub struct SendAsync<'a, F, C, T> {
    // Borrowed, not a clone of the `Executor` or of its `Arc`: a clone's two
    // reference-count updates cost more than the rest of an uncontended
    // submission.
    shared: &'a Arc<Shared>,
    job: Option<Job<F, C>>,
    listener: Listener,
    _output: std::marker::PhantomData<fn() -> T>,
}

// The job is moved out by value, never pinned in place.
impl<F, C, T> Unpin for SendAsync<'_, F, C, T> {}

impl<F, C, T> Future for SendAsync<'_, F, C, T>
where
    F: FnOnce() -> T + Send + 'static,
    C: Callback<T>,
    T: Send + 'static,
{
    type Output = Result<JobHandle<T>, SpawnError<Job<F, C>>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let shared = &this.shared;
        loop {
            match shared.try_accept() {
                Ok(queued) => {
                    shared.capacity.unlisten(&mut this.listener);
                    let job = this
                        .job
                        .take()
                        .expect("`SendAsync` polled after completion");
                    return Poll::Ready(Ok(enqueue(shared, job, queued)));
                }
                Err(Refused::Closed) => {
                    shared.capacity.unlisten(&mut this.listener);
                    let job = this
                        .job
                        .take()
                        .expect("`SendAsync` polled after completion");
                    return Poll::Ready(Err(SpawnError(job)));
                }
                Err(Refused::Full) => {
                    ready!(shared
                        .capacity
                        .poll_until(&mut this.listener, cx, || shared.has_room_or_closed()));
                }
            }
        }
    }
}

impl<F, C, T> Drop for SendAsync<'_, F, C, T> {
    fn drop(&mut self) {
        self.shared.capacity.unlisten(&mut self.listener);
    }
}

impl<F, C, T> fmt::Debug for SendAsync<'_, F, C, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendAsync")
            .field("queued", &self.job.is_none())
            .finish_non_exhaustive()
    }
}

/// The future of [`Executor::spawn_async`]: resolves to the job's handle once
/// the job is queued.
#[must_use = "futures do nothing unless polled"]
pub struct SpawnAsync<'a, F, T> {
    inner: SendAsync<'a, F, NoCallback, T>,
}

impl<F, T> Future for SpawnAsync<'_, F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    type Output = Result<JobHandle<T>, SpawnError<F>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.inner)
            .poll(cx)
            .map_err(|SpawnError(job)| SpawnError(job.f))
    }
}

impl<F, T> fmt::Debug for SpawnAsync<'_, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SpawnAsync").field(&self.inner).finish()
    }
}

/// The future of [`Executor::run`]: the job's result. Dropping it before the
/// job started cancels the job; dropping it while the job runs asks the job
/// to stop (see [`crate::is_cancelled`]).
#[must_use = "futures do nothing unless polled; dropping `Run` cancels the job"]
pub struct Run<'a, F, T> {
    stage: RunStage<'a, F, T>,
}

enum RunStage<'a, F, T> {
    Queuing(SpawnAsync<'a, F, T>),
    Waiting(JobHandle<T>),
    Done,
}

impl<F, T> Future for Run<'_, F, T>
where
    F: FnOnce() -> T + Send + 'static,
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

impl<F, T> Drop for Run<'_, F, T> {
    fn drop(&mut self) {
        if let RunStage::Waiting(handle) = &self.stage {
            handle.cancel();
        }
    }
}

impl<F, T> fmt::Debug for Run<'_, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match self.stage {
            RunStage::Queuing(_) => "queuing",
            RunStage::Waiting(_) => "waiting",
            RunStage::Done => "done",
        };
        f.debug_struct("Run").field("stage", &stage).finish()
    }
}

/// The future of [`Executor::wait_async`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct WaitAsync {
    inner: Until,
}

impl Future for WaitAsync {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.inner).poll(cx)
    }
}
