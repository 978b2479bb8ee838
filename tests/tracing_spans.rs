//! Tracing: a job runs inside a span whose parent is the span current at
//! submission, and worker start/stop and panics are events. Its own test
//! binary: it installs a process-wide subscriber, since worker threads use
//! the global default.

mod common;

use std::sync::{Arc, Mutex};

use thread_exec::{Executor, Job, JobError};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// One recorded event: its message and the names of its spans, root first.
#[derive(Debug, Clone)]
struct Recorded {
    message: String,
    scope: Vec<String>,
    thread: String,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Recorded>>>);

struct MessageVisitor(String);

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut visitor = MessageVisitor(String::new());
        event.record(&mut visitor);
        let scope = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .from_root()
                    .map(|span| span.name().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        self.0.lock().unwrap().push(Recorded {
            message: visitor.0,
            scope,
            thread: std::thread::current().name().unwrap_or_default().to_owned(),
        });
    }
}

#[test]
fn spans_follow_jobs_onto_workers_and_lifecycle_events_are_recorded() {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let pool = Executor::builder()
        .threads(2)
        .thread_name("traced")
        .build()
        .unwrap();
    {
        let request = tracing::info_span!("request", id = 7);
        let _entered = request.enter();
        pool.spawn(|| tracing::info!("inside the job"))
            .join()
            .unwrap();
        pool.send(
            Job::new(|| 1)
                .callback(|_: &Result<i32, JobError>| tracing::info!("inside the callback")),
        )
        .join()
        .unwrap();
    }
    // Outside any span: the job span has no parent.
    pool.spawn(|| tracing::info!("unparented job"))
        .join()
        .unwrap();
    let _ = pool.spawn(|| panic!("traced panic")).join();
    pool.shutdown();

    let events = recorder.0.lock().unwrap().clone();
    let find = |message: &str| {
        events
            .iter()
            .find(|event| event.message == message)
            .unwrap_or_else(|| panic!("no event {message:?} in {events:#?}"))
            .clone()
    };
    let job = find("inside the job");
    assert!(job.thread.starts_with("traced-"), "{job:?}");
    assert_eq!(job.scope, ["request", "thread_exec::job"], "{job:?}");
    let callback = find("inside the callback");
    assert_eq!(
        callback.scope.first().map(String::as_str),
        Some("request"),
        "{callback:?}"
    );
    let unparented = find("unparented job");
    assert_eq!(unparented.scope, ["thread_exec::job"], "{unparented:?}");

    let count = |message: &str| {
        events
            .iter()
            .filter(|event| event.message == message)
            .count()
    };
    // One event per thread start, from the new thread itself (with the
    // reason for the start): none is emitted under the scaling lock.
    assert_eq!(count("worker started"), 2, "{events:#?}");
    assert_eq!(count("worker stopped"), 2);
    assert_eq!(count("job panicked"), 1);
}
