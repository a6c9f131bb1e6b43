//! End-to-end tests over real processes on loopback: server A, server B and
//! the worker host are separate OS processes talking QUIC.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use mpc_core::codec::Message;
use mpc_core::wire::{self, AToWorker, BToWorker, WorkerToA};
use tandem::client::{Link, ScriptedWorker, WAIT};
use tandem::{Cluster, ClusterOptions};

const EVENT_WAIT: Duration = Duration::from_secs(180);

#[test]
fn demo_runs_three_rounds_and_writes_summary() {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["demo", "--rounds", "3", "--workers", "8", "--out"])
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("summary.json")).unwrap())
            .unwrap();
    let rounds = summary["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 3);
    let acc: Vec<f64> = rounds
        .iter()
        .map(|r| r["test_accuracy"].as_f64().unwrap())
        .collect();
    assert!(acc[2] > acc[0], "accuracy did not rise: {acc:?}");
    assert!(acc[2] > 0.5, "accuracy too low: {acc:?}");
    for r in rounds {
        assert_eq!(r["accepted"], 8);
        assert_eq!(r["rejected"], 0);
        assert!(r["bytes_worker_to_servers"].as_u64().unwrap() > 0);
        assert!(r["bytes_between_servers"].as_u64().unwrap() > 0);
        assert!(r["seconds"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(summary["final_test_accuracy"].as_f64().unwrap(), acc[2]);
    let last5 = acc.iter().sum::<f64>() / 3.0;
    assert!((summary["mean_last5_test_accuracy"].as_f64().unwrap() - last5).abs() < 1e-9);
    assert!(summary["initial_test_accuracy"].as_f64().unwrap() < acc[0]);
    // A user can reproduce the run from `config`: every effective value,
    // no `null`, `rounds` a number.
    let config = summary["config"].as_object().unwrap();
    assert_eq!(config["rounds"], 3);
    assert_eq!(config["workers"], 8);
    for key in [
        "aggregation",
        "model",
        "seed",
        "epochs",
        "batch_size",
        "lr",
        "server_lr",
        "server_lr_decay",
        "k_min",
        "round_timeout_s",
        "partition",
        "attack",
        "dropout",
    ] {
        assert!(config.contains_key(key), "config lacks {key}: {config:?}");
    }
    for (k, v) in config {
        assert!(!v.is_null(), "config.{k} is null");
    }
    assert!(out.path().join("accuracy.svg").exists());
}

/// Every bad option value is refused before anything starts: exit status 2,
/// an error naming the option, no backtrace (even with RUST_BACKTRACE=1),
/// no output directory.
#[test]
fn demo_refuses_bad_options_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--byzantine", "30", "--workers", "20"], "--byzantine"),
        (&["--attack", "nonsense"], "--attack"),
        (&["--attack", "scale:abc"], "--attack"),
        (&["--partition", "dirichlet:-1"], "--partition"),
        (&["--dropout", "1.5"], "--dropout"),
        (&["--workers", "0"], "--workers"),
        (&["--rounds", "0"], "--rounds"),
        (&["--lr", "-1"], "--lr"),
        (&["--aggregation", "foo"], "--aggregation"),
        (&["--attack", "sign-flip"], "--attack"),
        (
            &["--k-min", "2", "--aggregation", "plain-fedavg"],
            "--k-min",
        ),
        (&["--clip", "2"], "--clip"),
        (&["--compare", "secure-fltrust"], "--compare"),
        (&["--k-min", "1"], "--k-min"),
        (&["--workers", "2"], "--workers"),
        (&["--model", "mlp:3000"], "--model"),
        (&["--epochs", "0"], "--epochs"),
        (&["--round-timeout", "-5"], "--round-timeout"),
    ];
    for (i, (args, option)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("out-{i}"));
        let o = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .arg("demo")
            .args(*args)
            .arg("--out")
            .arg(&out)
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error:"), "{args:?}: {err}");
        assert!(err.contains(option), "{args:?} must name {option}: {err}");
        assert!(!err.contains("backtrace"), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} started something");
    }
    // Negative values that are allowed need no `=`: `-0.5` is taken as the
    // threshold, so the only complaint is about the later `--workers 0`.
    let o = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args([
            "demo",
            "--aggregation",
            "plain-fltrust",
            "--cos-threshold",
            "-0.5",
        ])
        .args(["--workers", "0", "--out"])
        .arg(dir.path().join("negative"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("'--workers <WORKERS>'"), "{err}");
    assert!(
        !err.contains("-0.5"),
        "the negative value was refused: {err}"
    );
}

/// A child that fails is reported with its log's last lines, not just
/// "see its log".
#[test]
fn a_failing_child_is_reported_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = ClusterOptions::new(dir.path()).with_exe(env!("CARGO_BIN_EXE_tandem"));
    o.workers = 3;
    o.rounds = 1;
    // A data directory without MNIST: server A fails at start-up.
    o.data_dir = dir.path().join("no-data");
    let err = match Cluster::launch(&o) {
        Ok(mut c) => format!("{:#}", c.next_event(EVENT_WAIT).unwrap_err()),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("server-a exited"), "{err}");
    assert!(err.contains("MNIST"), "the log's reason is shown: {err}");
}

fn run_rounds(o: &ClusterOptions) -> Vec<serde_json::Value> {
    let mut c = Cluster::launch(o).unwrap();
    let mut rounds = Vec::new();
    loop {
        let ev = c.next_event(EVENT_WAIT).unwrap();
        if ev.get("done").is_some() {
            break;
        }
        rounds.push(ev);
    }
    rounds
}

#[test]
fn secure_and_plain_fedavg_agree() {
    let dir = tempfile::tempdir().unwrap();
    let mut o =
        ClusterOptions::new(dir.path().join("secure")).with_exe(env!("CARGO_BIN_EXE_tandem"));
    o.workers = 8;
    o.rounds = 4;
    let secure = run_rounds(&o);
    o.dir = dir.path().join("plain");
    o.aggregation = "plain-fedavg".into();
    let plain = run_rounds(&o);
    for (s, p) in secure.iter().zip(&plain) {
        let (sa, pa) = (
            s["test_accuracy"].as_f64().unwrap(),
            p["test_accuracy"].as_f64().unwrap(),
        );
        assert!((sa - pa).abs() <= 0.005, "secure {sa} vs plain {pa}");
        // Plain rules never touch server B.
        assert_eq!(p["bytes_between_servers"], 0);
    }
}

fn addr(s: &str) -> SocketAddr {
    s.trim().parse().unwrap()
}

/// Runs one secure round with honest workers 0–2 (worker process) and the
/// scripted worker 3 submitting `u`; `attack` may add misbehaving workers
/// (ids ≥ 4) and returns how many of them say Hello.
fn one_round<F, Fut>(dir: &std::path::Path, extra_hellos: usize, attack: F) -> serde_json::Value
where
    F: FnOnce(std::path::PathBuf, SocketAddr, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut o = ClusterOptions::new(dir).with_exe(env!("CARGO_BIN_EXE_tandem"));
    o.workers = 12; // enrolled identities; the data is split 12 ways in every run
    o.rounds = 1;
    o.start_workers = false;
    o.start_after = Some(4 + extra_hellos);
    o.extra_a = vec!["--round-timeout".into(), "8".into()];
    let mut c = Cluster::launch(&o).unwrap();
    c.start_workers(&o, &["--ids".into(), "0-2".into()])
        .unwrap();
    let (a, b) = (addr(&c.addr_a), addr(c.addr_b.as_deref().unwrap()));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pki = dir.join("pki");
    rt.block_on(async {
        let mut w3 = ScriptedWorker::connect(&pki, 3, a, Some(b)).await.unwrap();
        w3.hello().await.unwrap();
        let attackers = tokio::spawn(attack(pki.clone(), a, b));
        let (round, model) = w3.announcement().await.unwrap();
        let u: Vec<f32> = (0..model.len()).map(|k| ((k % 7) as f32 - 3.0) * 1e-3).collect();
        let (ra, rb) = w3.submit(round, &u).await.unwrap();
        assert!(matches!(ra, AToWorker::Ack { .. }), "{ra:?}");
        assert!(matches!(rb, Some(BToWorker::Ack { .. })), "{rb:?}");
        if extra_hellos > 0 {
            // Duplicate: a second, different submission in the same round.
            let big: Vec<f32> = u.iter().map(|x| x * 10.0).collect();
            let (ra, rb) = w3.submit(round, &big).await.unwrap();
            assert!(matches!(&ra, AToWorker::Reject { reason, .. } if reason.contains("duplicate")), "{ra:?}");
            assert!(matches!(&rb, Some(BToWorker::Reject { reason, .. }) if reason.contains("duplicate")), "{rb:?}");
        }
        attackers.await.unwrap();
    });
    let ev = c.next_event(EVENT_WAIT).unwrap();
    c.shutdown();
    ev
}

async fn expect_reject_a(link: &mut Link, needle: &str) {
    match link.recv::<AToWorker>(WAIT).await.unwrap() {
        AToWorker::Reject { reason, .. } => assert!(reason.contains(needle), "A said: {reason}"),
        other => panic!("expected a rejection containing `{needle}`, got {other:?}"),
    }
}

async fn expect_reject_b(link: &mut Link, needle: &str) {
    match link.recv::<BToWorker>(WAIT).await.unwrap() {
        BToWorker::Reject { reason, .. } => assert!(reason.contains(needle), "B said: {reason}"),
        other => panic!("expected a rejection containing `{needle}`, got {other:?}"),
    }
}

#[test]
fn bad_input_is_rejected_and_the_round_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let dir = if std::env::var("KEEP").is_ok() {
        Box::leak(Box::new(dir)).path().to_path_buf()
    } else {
        dir.path().to_path_buf()
    };
    let baseline = one_round(&dir.join("baseline"), 0, |_, _, _| async {});
    assert_eq!(baseline["accepted"], 4);

    let attacked = one_round(&dir.join("attacked"), 5, |pki, a, b| async move {
        let mut ws = Vec::new();
        for id in 4..9 {
            let mut w = ScriptedWorker::connect(&pki, id, a, Some(b)).await.unwrap();
            w.hello().await.unwrap();
            ws.push(w);
        }
        let mut round = 0;
        for w in &mut ws {
            round = w.announcement().await.unwrap().0;
        }
        let session = ws[0].session.clone().unwrap();
        let dim = session.dim as usize;

        // 4: malformed frames.
        let w = &mut ws[0];
        w.a.send_raw(&[0, 1, 0xff, 0xff, 0xff, 0xff, 0xff])
            .await
            .unwrap();
        expect_reject_a(&mut w.a, "undecodable frame").await;
        w.b.as_mut().unwrap().send_raw(&[0, 1, 7]).await.unwrap();
        expect_reject_b(w.b.as_mut().unwrap(), "undecodable frame").await;

        // 5: wrong protocol version.
        let w = &mut ws[1];
        let mut frame = WorkerToA::Hello { worker: 5 }.encode();
        let other = wire::PROTOCOL_VERSION + 1;
        frame[0..2].copy_from_slice(&other.to_be_bytes());
        w.a.send_raw(&frame).await.unwrap();
        expect_reject_a(
            &mut w.a,
            &format!("protocol version {other} is not supported"),
        )
        .await;

        // 6: wrong dimension.
        let w = &mut ws[2];
        let mut short = session.clone();
        short.dim -= 1;
        let sub = protocols::round::worker::prepare(
            &short,
            round,
            6,
            &vec![0.001; dim - 1],
            &mut rand::rng(),
        )
        .unwrap();
        let (_, rb) = w.send_pair(&sub.to_a, sub.to_b.as_ref()).await.unwrap();
        assert!(
            matches!(&rb, Some(BToWorker::Reject { reason, .. }) if reason.contains("upload field `b`")),
            "{rb:?}"
        );

        // 7: enrolled as 7, claims to be worker 0.
        let w = &mut ws[3];
        let sub = protocols::round::worker::prepare(
            &session,
            round,
            0,
            &vec![0.001; dim],
            &mut rand::rng(),
        )
        .unwrap();
        let (ra, rb) = w.send_pair(&sub.to_a, sub.to_b.as_ref()).await.unwrap();
        assert!(
            matches!(&ra, AToWorker::Reject { reason, .. } if reason.contains("enrolled as 7")),
            "{ra:?}"
        );
        assert!(
            matches!(&rb, Some(BToWorker::Reject { reason, .. }) if reason.contains("enrolled as 7")),
            "{rb:?}"
        );

        // 8: a frame far over the size limit: B drops this connection only.
        let w = ws.pop().unwrap();
        let b_link = w.b.unwrap();
        let b_conn = b_link.conn.clone();
        let mut raw = b_link.writer.into_inner();
        raw.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        raw.write_all(&[0u8; 1024]).await.unwrap();
        let closed = tokio::time::timeout(Duration::from_secs(20), b_conn.closed()).await;
        assert!(
            closed.is_ok(),
            "B kept a connection that sent an oversized frame"
        );

        // An identity that is not enrolled cannot even open a stream.
        let intruder = transport::Identity::generate("intruder").unwrap();
        let pin = transport::Pki::new(&pki).server_a_fingerprint().unwrap();
        let refused = async {
            let mut l = Link::connect(&intruder, a, pin).await?;
            l.send(&WorkerToA::Hello { worker: 1 }).await?;
            l.recv::<AToWorker>(Duration::from_secs(5)).await
        };
        assert!(
            refused.await.is_err(),
            "an unenrolled certificate was served"
        );
        // Keep the misbehaving connections open until the round is over.
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(ws);
    });
    assert_eq!(attacked["accepted"], 4, "{attacked}");
    // Worker 6's wrong-dimension upload is B's one verdict on it; the other
    // bad messages cannot be a submission and are refused to the sender only,
    // so at the deadline those workers (announced, never a complete
    // submission) are reported as missing.
    assert_eq!(attacked["rejected"], 5, "{attacked}");
    let reasons = &attacked["rejected_reasons"];
    assert!(
        reasons["6"]
            .as_str()
            .is_some_and(|r| r.contains("at server B: invalid upload")),
        "{attacked}"
    );
    for w in ["4", "5", "7", "8"] {
        assert!(
            reasons[w]
                .as_str()
                .is_some_and(|r| r.contains("no complete submission")),
            "{attacked}"
        );
    }
    assert_eq!(
        attacked["test_loss"], baseline["test_loss"],
        "the round result changed"
    );
    assert_eq!(attacked["test_accuracy"], baseline["test_accuracy"]);
}

#[test]
fn plain_fltrust_gives_sign_flippers_zero_trust() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = ClusterOptions::new(dir.path()).with_exe(env!("CARGO_BIN_EXE_tandem"));
    o.workers = 8;
    o.byzantine = 2; // workers 6 and 7
    o.attack = "sign-flip".into();
    o.rounds = 3;
    o.aggregation = "plain-fltrust".into();
    let rounds = run_rounds(&o);
    assert_eq!(rounds.len(), 3);
    for r in &rounds {
        // Every submission is valid (the flippers normalise too) ...
        assert_eq!(r["accepted"], 8, "{r}");
        assert_eq!(r["rejected"], 0, "{r}");
        // ... but exactly the flippers get zero trust, the honest ones don't.
        assert_eq!(r["zero_trust"], 2, "{r}");
        assert_eq!(r["zero_trust_workers"], serde_json::json!([6, 7]), "{r}");
        assert_eq!(r["updated"], true, "{r}");
        assert_eq!(r["bytes_between_servers"], 0);
    }
    let acc: Vec<f64> = rounds
        .iter()
        .map(|r| r["test_accuracy"].as_f64().unwrap())
        .collect();
    assert!(acc[2] > 0.6, "accuracy too low despite the filter: {acc:?}");
}

/// Workers that drop out of a round tell server A (`SitOut`), so a round
/// closes once every other worker has its verdict instead of at the
/// deadline (docs/PROTOCOL.md §3). 20 workers, `--dropout 0.1`, 5 rounds of
/// secure-fltrust (through B) with a 60 s round deadline.
#[test]
fn dropped_out_workers_sit_out_and_no_round_waits_for_the_deadline() {
    const DEADLINE: f64 = 60.0;
    let dir = tempfile::tempdir().unwrap();
    let mut o = ClusterOptions::new(dir.path()).with_exe(env!("CARGO_BIN_EXE_tandem"));
    o.workers = 20;
    o.rounds = 5;
    o.aggregation = "secure-fltrust".into();
    o.model = "logreg".into();
    o.dropout = 0.1;
    // With seed 1, 16 of the 100 worker-rounds drop out (the draws are
    // `public_rng(seed, WorkerTraining, round, id)`, a function of the seed).
    o.seed = 1;
    o.extra_a = vec!["--round-timeout".into(), DEADLINE.to_string()];
    let rounds = run_rounds(&o);
    assert_eq!(rounds.len(), 5);
    let mut sat_out = 0;
    for r in &rounds {
        let (accepted, n) = (
            r["accepted"].as_u64().unwrap(),
            r["sat_out"].as_u64().unwrap(),
        );
        // Sat-out workers are counted apart, never as rejected.
        assert_eq!(r["rejected"], 0, "{r}");
        assert_eq!(accepted + n, 20, "every worker submitted or sat out: {r}");
        assert_eq!(r["updated"], true, "{r}");
        // A behavioural bound, not a performance assertion: a round that
        // waited for its deadline would take at least DEADLINE seconds;
        // these close as soon as the last submitter's verdict is in.
        let seconds = r["seconds"].as_f64().unwrap();
        assert!(
            seconds < DEADLINE * 0.75,
            "round waited for the deadline: {r}"
        );
        sat_out += n;
    }
    assert!(
        sat_out > 0,
        "the seed must make some worker sit out: {rounds:?}"
    );
}
