//! `examples/graceful_shutdown.rs` as a real process: loaded over loopback
//! with requests of 100 ms and one job stuck far past the deadline, sent a
//! real SIGTERM mid-burst, it answers every request it accepted (200, or 503
//! once stopping) and exits by its deadline.
//!
//! How the test gets the example as a process: this test binary compiles
//! the example's code as a module (`#[path]`), and re-runs itself
//! (`std::env::current_exe()`) with `CHILD_ENV` set and libtest told to run
//! only `child_service`, which then serves as the example's `main` does.
//! So the child is built by the same `cargo test`, with the same profile
//! and features, with no second cargo invocation racing for the target
//! directory, and no path to an example binary (Cargo gives tests the paths
//! of `[[bin]]`s only).
#![cfg(unix)]

#[path = "../examples/graceful_shutdown.rs"]
#[allow(dead_code)] // the example's own `main` and `--demo`
mod example;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Set in the child's environment: its drain deadline in milliseconds.
const CHILD_ENV: &str = "THREAD_EXEC_GRACEFUL_SHUTDOWN_CHILD";
/// The child's drain deadline.
const DEADLINE: Duration = Duration::from_secs(3);
/// Beyond the deadline, what the exit may take on a loaded machine (the
/// answers' writes, the report, the process's teardown).
const SLACK: Duration = Duration::from_secs(1);
/// Every wait of this test is bounded by this.
const LIMIT: Duration = Duration::from_secs(60);
const CLIENTS: usize = 16;

/// The service itself, when this binary runs as the child; a no-op otherwise.
#[test]
fn child_service() {
    let Some(deadline_ms) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let deadline_ms: u64 = deadline_ms.to_str().unwrap().parse().unwrap();
    let report = example::run(example::Config {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        deadline: Duration::from_millis(deadline_ms),
        log_requests: true,
    });
    println!("report still_running={}", report.still_running());
}

/// Kills the child if the test fails before it exited.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// One request on a connection of its own: the status, `refused` if the
/// connection or the request's send failed, or `no answer`.
fn request(addr: SocketAddr, path: &str, id: &str) -> String {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return "refused".into();
    };
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    stream.set_write_timeout(Some(LIMIT)).unwrap();
    let head = format!(
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nx-request-id: {id}\r\nconnection: close\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return "refused".into();
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    match answer.strip_prefix("HTTP/1.1 ") {
        Some(rest) => rest.chars().take(3).collect(),
        None => "no answer".into(),
    }
}

#[test]
fn sigterm_mid_burst_answers_every_accepted_request_and_exits_by_the_deadline() {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_service",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, DEADLINE.as_millis().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the service");
    let mut service = Service(child);
    let pid = service.0.id();

    // The child's lines, as they come.
    let (line_tx, lines) = mpsc::channel::<String>();
    let stdout = service.0.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let next_line = |what: &str| -> String {
        let line = lines
            .recv_timeout(LIMIT)
            .unwrap_or_else(|_| panic!("the service did not print {what}"));
        log.lock().unwrap().push(line.clone());
        line
    };
    // libtest prints `test child_service ... ` before the service's first line.
    let addr: SocketAddr = loop {
        if let Some((_, addr)) = next_line("its address").split_once("listening on ") {
            break addr.parse().unwrap();
        }
    };

    // One job stuck far past the deadline (it cannot look whether anybody
    // waits for it).
    let stuck = thread::spawn(move || request(addr, "/block/600000", "stuck"));
    while next_line("the stuck request's acceptance") != "accepted stuck" {}

    // The burst: each client sends requests of 100 ms back to back until
    // the service refuses its connection or the test stops it.
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Mutex::new(BTreeMap::<String, (String, Instant)>::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (stop, outcomes) = (Arc::clone(&stop), Arc::clone(&outcomes));
            thread::spawn(move || {
                for n in 0.. {
                    if stop.load(SeqCst) {
                        break;
                    }
                    let id = format!("{client}-{n}");
                    let outcome = request(addr, "/sleep/100", &id);
                    let refused = outcome == "refused";
                    outcomes
                        .lock()
                        .unwrap()
                        .insert(id, (outcome, Instant::now()));
                    if refused {
                        break;
                    }
                }
            })
        })
        .collect();

    // Mid-burst: once the service has answered a few dozen requests.
    let mut answered = 0;
    while answered < 2 * CLIENTS {
        if next_line("answers").starts_with("answered ") {
            answered += 1;
        }
    }
    // The shell's own `kill`: no `kill` binary needed on the machine.
    let status = Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM {pid}: {status}");
    let signalled = Instant::now();

    // The exit, bounded.
    let exit = loop {
        if let Some(exit) = service.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            signalled.elapsed() < LIMIT,
            "the service did not exit within {LIMIT:?} of SIGTERM"
        );
        thread::sleep(Duration::from_millis(5));
    };
    let stopped_in = signalled.elapsed();
    stop.store(true, SeqCst);
    for client in clients {
        client.join().expect("a client thread");
    }
    let stuck = stuck.join().expect("the stuck request's thread");
    reader.join().expect("the reader thread");
    while let Ok(line) = lines.try_recv() {
        log.lock().unwrap().push(line);
    }
    let log = log.lock().unwrap().clone();
    let outcomes = outcomes.lock().unwrap().clone();

    assert!(
        exit.success(),
        "the service failed: {exit}; its output: {log:#?}"
    );
    assert!(
        stopped_in < DEADLINE + SLACK,
        "exited {stopped_in:?} after SIGTERM; the deadline is {DEADLINE:?}"
    );
    assert!(
        log.iter().any(|line| line == "report still_running=1"),
        "the stuck job should still be running at the exit: {log:#?}"
    );

    // Every request the service accepted got its answer, none lost.
    let accepted: BTreeSet<&str> = log
        .iter()
        .filter_map(|line| line.strip_prefix("accepted "))
        .collect();
    assert_eq!(stuck, "503", "the stuck request's answer");
    for id in accepted.iter().filter(|&&id| id != "stuck") {
        let (outcome, _) = outcomes
            .get(*id)
            .unwrap_or_else(|| panic!("the service accepted {id}, which no client sent"));
        assert!(
            outcome == "200" || outcome == "503",
            "request {id} was accepted but got {outcome:?}"
        );
    }
    // What was not accepted was refused at the connection, never half-answered.
    for (id, (outcome, _)) in &outcomes {
        if !accepted.contains(id.as_str()) {
            assert!(
                outcome == "refused" || outcome == "no answer",
                "request {id} was answered {outcome:?} but not logged as accepted"
            );
        }
    }
    let mut tally = BTreeMap::<&str, usize>::new();
    for (outcome, _) in outcomes.values() {
        *tally.entry(outcome.as_str()).or_default() += 1;
    }
    println!(
        "{} accepted; outcomes {tally:?}; exited {stopped_in:?} after SIGTERM",
        accepted.len()
    );
    // The drain let in-flight requests finish after the signal.
    let finished_after_signal = outcomes
        .values()
        .filter(|(outcome, at)| outcome == "200" && *at > signalled)
        .count();
    assert!(
        finished_after_signal > 0,
        "no request finished after the signal: {outcomes:?}"
    );
}
