//! What an operator running the three processes by hand runs into: server
//! A started before server B (and given B's host name), and workers told
//! why server A stopped when it loses B.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tandem::{Cluster, ClusterOptions};

/// A role process that dies with the test (stdin closes, then `kill`).
struct Role(Child);

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn role(name: &str, args: &[&str], log: &Path) -> Role {
    let child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .arg(name)
        .args(args)
        .arg("--exit-on-stdin-close")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    Role(child)
}

/// Waits until `pred` holds for the file's text (an empty string while it does not exist).
fn wait_for_file(path: &Path, within: Duration, pred: impl Fn(&str) -> bool) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if pred(&std::fs::read_to_string(path).unwrap_or_default()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn server_a_started_first_waits_for_server_b_by_host_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = d.join("pki");
    transport::generate_pki(&pki, 1).unwrap();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let peer_b = format!("localhost:{port}");
    let (a_ready, a_log) = (d.join("a.addr"), d.join("server-a.log"));
    let mut a = role(
        "server-a",
        &[
            "--listen",
            "127.0.0.1:0",
            "--peer-b",
            &peer_b,
            "--pki",
            pki.to_str().unwrap(),
            "--ready-file",
            a_ready.to_str().unwrap(),
            "--aggregation",
            "secure-fedavg",
            "--synthetic-dim",
            "16",
        ],
        &a_log,
    );
    // A keeps trying, logging each attempt, instead of giving up.
    assert!(
        wait_for_file(&a_log, Duration::from_secs(30), |log| log
            .contains("attempt=3")),
        "A did not retry: {}",
        std::fs::read_to_string(&a_log).unwrap_or_default()
    );
    assert!(a.0.try_wait().unwrap().is_none(), "A gave up");
    assert!(!a_ready.exists());

    let state = d.join("b-state");
    std::fs::create_dir(&state).unwrap();
    let _b = role(
        "server-b",
        &[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--pki",
            pki.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
        &d.join("server-b.log"),
    );
    assert!(
        wait_for_file(&a_ready, Duration::from_secs(60), |s| !s.is_empty()),
        "A never connected to B: {}",
        std::fs::read_to_string(&a_log).unwrap_or_default()
    );
    let log = std::fs::read_to_string(&a_log).unwrap();
    assert!(log.contains("connected to server B"), "{log}");
}

#[test]
fn server_b_refuses_a_missing_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["server-b", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mkdir -p"), "{err}");
    assert_eq!(
        err.trim().lines().count(),
        1,
        "one line, no backtrace: {err}"
    );
    assert!(!missing.exists());
}

#[test]
fn workers_hear_that_server_a_lost_server_b() {
    let dir = tempfile::tempdir().unwrap();
    // A waits for a fourth worker that never comes, so the three are
    // welcomed and idle, reading from A, when B goes away.
    let o = ClusterOptions {
        workers: 3,
        start_after: Some(4),
        rounds: 1,
        model: "logreg".into(),
        extra_a: vec!["--start-timeout".into(), "600".into()],
        ..ClusterOptions::new(dir.path())
    }
    .with_exe(env!("CARGO_BIN_EXE_tandem"));
    let c = Cluster::launch(&o).unwrap();
    let worker_log = dir.path().join("worker.log");
    assert!(wait_for_file(
        &worker_log,
        Duration::from_secs(120),
        |log| log.contains("starting simulated workers")
    ));
    std::thread::sleep(Duration::from_secs(5));
    // B shuts down cleanly (SIGTERM): A hears it at once and stops.
    let b = c.pid("server-b").unwrap();
    let killed = Command::new("kill")
        .args(["-TERM", &b.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let want = "server A closed the connection: server A stopped: lost the connection to server B";
    assert!(
        wait_for_file(&worker_log, Duration::from_secs(60), |log| log
            .contains(want)),
        "workers were not told why: {}",
        std::fs::read_to_string(&worker_log).unwrap_or_default()
    );
    let log = std::fs::read_to_string(&worker_log).unwrap();
    assert!(!log.contains("training finished"), "{log}");
}

#[test]
fn a_round_started_short_of_workers_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let o = ClusterOptions {
        workers: 3,
        start_after: Some(4),
        rounds: 1,
        model: "logreg".into(),
        aggregation: "plain-fedavg".into(),
        extra_a: vec!["--start-timeout".into(), "20".into()],
        ..ClusterOptions::new(dir.path())
    }
    .with_exe(env!("CARGO_BIN_EXE_tandem"));
    let mut c = Cluster::launch(&o).unwrap();
    let round = c.next_event(Duration::from_secs(180)).unwrap();
    assert_eq!(round["accepted"], 3, "{round}");
    let log = std::fs::read_to_string(dir.path().join("server-a.log")).unwrap();
    assert!(
        log.contains("starting round 1 with 3 of 4 workers after the 20 s start timeout"),
        "{log}"
    );
}
