//! Attacks from the cold security review, over real processes (QUIC on
//! loopback). Each one worked before its fix; each test now checks the promise
//! of docs/PROTOCOL.md that the attack broke.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mpc_core::codec::Message;
use mpc_core::wire::{AToWorker, BToWorker, WorkerToB};
use tandem::client::{ScriptedWorker, WAIT};
use tandem::{Cluster, ClusterOptions};

const EVENT_WAIT: Duration = Duration::from_secs(180);

fn addr(s: &str) -> SocketAddr {
    s.trim().parse().unwrap()
}

/// A scratch directory (kept with `KEEP=1`).
fn scratch(tag: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    if std::env::var("KEEP").is_ok() {
        eprintln!("{tag}: keeping {}", path.display());
        let kept = dir.keep();
        return (tempfile::tempdir().unwrap(), kept);
    }
    (dir, path)
}

/// Finding 1 (fixed): B used to forward `Rejected` for a forged-claim upload
/// and still accept the sender's valid upload later, so A and B disagreed on
/// the worker set and the round was discarded. B now gives one verdict per worker.
///
/// Honest workers 0–2 (worker process) and the malicious enrolled worker 3.
/// Worker 3: Submit(seed) → A; Robust{worker: 4} → B; Robust{worker: 3} → B.
/// PROTOCOL: a malicious worker can at most get *itself* rejected; the round
/// over the honest workers must still produce an update.
#[test]
fn a_forged_claim_cannot_void_the_round() {
    let (_guard, dir) = scratch("void");
    let mut o = ClusterOptions::new(&dir).with_exe(env!("CARGO_BIN_EXE_tandem"));
    o.workers = 12;
    o.rounds = 1;
    o.start_workers = false;
    o.start_after = Some(4);
    o.extra_a = vec!["--round-timeout".into(), "60".into()];
    let mut c = Cluster::launch(&o).unwrap();
    c.start_workers(&o, &["--ids".into(), "0-2".into()])
        .unwrap();
    let (a, b) = (addr(&c.addr_a), addr(c.addr_b.as_deref().unwrap()));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut w = ScriptedWorker::connect(&dir.join("pki"), 3, a, Some(b))
            .await
            .unwrap();
        w.hello().await.unwrap();
        let (round, model) = w.announcement().await.unwrap();
        let session = w.session.clone().unwrap();
        let delta = vec![0.0f32; model.len()];
        let sub = protocols::round::worker::prepare(&session, round, 3, &delta, &mut rand::rng())
            .unwrap();
        // 1. Seed to A; wait for A's Ack (A has sent SeedCommit to B).
        w.a.send(&sub.to_a).await.unwrap();
        let ra = w.a.recv::<AToWorker>(WAIT).await.unwrap();
        assert!(matches!(ra, AToWorker::Ack { .. }), "{ra:?}");
        let bl = w.b.as_mut().unwrap();
        // 2. An upload naming worker 4: B rejects it and tells A "worker 3 rejected".
        let forged =
            protocols::round::worker::prepare(&session, round, 4, &delta, &mut rand::rng())
                .unwrap()
                .to_b
                .unwrap();
        bl.send(&forged).await.unwrap();
        let rb = bl.recv::<BToWorker>(WAIT).await.unwrap();
        assert!(
            matches!(&rb, BToWorker::Reject { reason, .. } if reason.contains("enrolled as 3")),
            "{rb:?}"
        );
        // 3. The real upload: B still takes it (not a duplicate) and counts it.
        let real: WorkerToB = sub.to_b.unwrap();
        bl.send(&real).await.unwrap();
        let rb = bl.recv::<BToWorker>(WAIT).await.unwrap();
        assert!(matches!(rb, BToWorker::Ack { .. }), "{rb:?}");
    });
    let ev = c.next_event(EVENT_WAIT).unwrap();
    c.shutdown();
    assert_eq!(
        ev["updated"], true,
        "three honest workers completed the round but it produced no update: {ev}"
    );
}

fn rss_mib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024
}

/// Finding 2 (fixed): an enrolled worker used to make server B buffer
/// unbounded memory through unidirectional streams nobody reads, on any number
/// of connections that never opened the protocol stream. Now a peer may open
/// one bidirectional stream and no unidirectional ones, must open it within
/// the handshake timeout, and holds one connection per identity.
#[test]
fn one_worker_cannot_make_server_b_buffer_unread_data() {
    const CONNS: usize = 8;
    let (_guard, dir) = scratch("mem");
    let mut o = ClusterOptions::new(&dir).with_exe(env!("CARGO_BIN_EXE_tandem"));
    o.workers = 4;
    o.rounds = 1;
    o.start_workers = false;
    o.extra_a = vec!["--start-timeout".into(), "600".into()];
    let c = Cluster::launch(&o).unwrap();
    let b = addr(c.addr_b.as_deref().unwrap());
    let pid = c.pid("server-b").expect("server-b pid");
    let before = rss_mib(pid);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (grown, alive) = rt.block_on(async {
        let pki = transport::Pki::new(dir.join("pki"));
        let identity = pki.load_worker(0).unwrap();
        let pin = pki.server_b_fingerprint().unwrap();
        let cfg = transport::TransportConfig::default();
        let mut conns = Vec::new();
        for _ in 0..CONNS {
            let ep = transport::client_endpoint_for(&identity, b, &cfg).unwrap();
            let conn = transport::connect(&ep, b, pin, &cfg).await.unwrap();
            // No credit for unidirectional streams: opening one never completes.
            let uni = tokio::time::timeout(Duration::from_secs(1), conn.open_uni()).await;
            assert!(
                !matches!(uni, Ok(Ok(_))),
                "server B granted a unidirectional stream"
            );
            conns.push((ep, conn));
        }
        // Connections that never open their stream are closed after the
        // handshake timeout (10 s).
        tokio::time::sleep(Duration::from_secs(15)).await;
        let alive = conns
            .iter()
            .filter(|(_, c)| c.close_reason().is_none())
            .count();
        (rss_mib(pid).saturating_sub(before), alive)
    });
    drop(c);
    eprintln!("server B RSS grew by {grown} MiB; {alive}/{CONNS} attacker connections alive");
    assert_eq!(
        alive, 0,
        "server B kept connections that never opened a stream"
    );
    assert!(grown < 64, "server B grew by {grown} MiB");
}

/// Finding 3 (fixed; the description is of the old behaviour): every forged-claim upload (≈20 bytes, no shares) makes B send
/// A a `Rejected` (server B's helper), with no rate limit and no `seen`
/// bookkeeping. B's shell turns a burst of them into a burst of frames for A
/// faster than the writer task drains them; B's outbox to A is the same
/// 256-frame `Outbox` used for workers, and a full outbox *closes the
/// connection* (`transport::hub`) even though A is reading fine. B then hangs up
/// on A, and A ends the training run ("lost the connection to server B",
/// `LeaderError::LostB`).
///
/// PROTOCOL §5: "a peer that stops reading is disconnected instead of stalling
/// the server" — here a healthy server A is disconnected because of a worker.
#[test]
fn a_flood_of_forged_claims_does_not_disconnect_a() {
    let (_guard, dir) = scratch("flood");
    let mut o = ClusterOptions::new(&dir).with_exe(env!("CARGO_BIN_EXE_tandem"));
    o.workers = 4;
    o.rounds = 2;
    o.start_workers = false;
    // Worker 1 (honest, still training) and the attacker, worker 3.
    o.start_after = Some(2);
    o.extra_a = vec!["--round-timeout".into(), "600".into()];
    let mut c = Cluster::launch(&o).unwrap();
    let (a, b) = (addr(&c.addr_a), addr(c.addr_b.as_deref().unwrap()));
    let b_log = c.dir.join("server-b.log");
    let b_dropped_a = move || {
        let log = std::fs::read_to_string(&b_log).unwrap_or_default();
        log.contains("peer connection failed peer=ServerA")
            || log.contains("message dropped peer=ServerA")
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pki_dir = dir.join("pki");
    let (sent, dropped, a_serves) = rt.block_on(async move {
        let mut slow = ScriptedWorker::connect(&pki_dir, 1, a, Some(b))
            .await
            .unwrap();
        slow.hello().await.unwrap();
        let mut w = ScriptedWorker::connect(&pki_dir, 3, a, Some(b))
            .await
            .unwrap();
        w.hello().await.unwrap();
        let (round, _) = w.announcement().await.unwrap();
        let forged = WorkerToB::Robust {
            round,
            worker: u32::MAX,
            b: Vec::new(),
            kappa_b: Vec::new(),
            beta_b: Vec::new(),
            proof_b: Vec::new(),
            w: Vec::new(),
            z: Vec::new(),
            s: 0,
            blind: [0; 32],
        }
        .encode();
        let pki = transport::Pki::new(&pki_dir);
        let identity = pki.load_worker(3).unwrap();
        let pin_b = pki.server_b_fingerprint().unwrap();
        let mut sent = 0u64;
        let stop = Instant::now() + Duration::from_secs(60);
        let mut link = w.b.take().unwrap();
        while Instant::now() < stop && !b_dropped_a() {
            // Bursts of forged uploads; reconnect whenever B drops *us*.
            for _ in 0..200_000 {
                if link.send_raw(&forged).await.is_err() {
                    break;
                }
                sent += 1;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            if link.conn.close_reason().is_some() {
                link = tandem::client::Link::connect(&identity, b, pin_b)
                    .await
                    .unwrap();
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        // Can an honest worker still join server A?
        drop(slow);
        let honest = async {
            let mut h = ScriptedWorker::connect(&pki_dir, 2, a, Some(b)).await?;
            h.hello().await
        };
        let a_serves = tokio::time::timeout(Duration::from_secs(20), honest)
            .await
            .is_ok_and(|r| r.is_ok());
        (sent, b_dropped_a(), a_serves)
    });
    c.shutdown();
    eprintln!("sent {sent} forged uploads; B dropped A: {dropped}; A still serves: {a_serves}");
    assert!(
        !dropped && a_serves,
        "one worker's forged uploads made B disconnect server A (B dropped A: {dropped}, \
         A still serves workers: {a_serves})"
    );
}

/// Finding 4 (fixed) over real processes: an enrolled worker that was not
/// announced the round (it never said Hello) used to fill an expected worker's
/// slot; now A refuses it and waits for the workers it announced to.
#[test]
fn an_unwelcomed_worker_cannot_take_a_slot() {
    let (_guard, dir) = scratch("slot");
    let mut o = ClusterOptions::new(&dir).with_exe(env!("CARGO_BIN_EXE_tandem"));
    o.workers = 8;
    o.rounds = 2; // keep A running after round 1
    o.start_workers = false;
    o.start_after = Some(3);
    o.extra_a = vec!["--round-timeout".into(), "60".into()];
    let mut c = Cluster::launch(&o).unwrap();
    let (a, b) = (addr(&c.addr_a), addr(c.addr_b.as_deref().unwrap()));
    let pki = dir.join("pki");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let late = rt.block_on(async {
        let mut ws = Vec::new();
        for id in 0..3 {
            let mut w = ScriptedWorker::connect(&pki, id, a, Some(b)).await.unwrap();
            w.hello().await.unwrap();
            ws.push(w);
        }
        let (round, model) = ws[0].announcement().await.unwrap();
        for w in &mut ws[1..] {
            w.announcement().await.unwrap();
        }
        let delta = vec![1e-3f32; model.len()];
        // Worker 5: no Hello, same (public) session parameters.
        let mut intruder = ScriptedWorker::connect(&pki, 5, a, Some(b)).await.unwrap();
        intruder.session = ws[0].session.clone();
        let (ra, _) = intruder.submit(round, &delta).await.unwrap();
        assert!(
            matches!(&ra, AToWorker::Reject { reason, .. } if reason.contains("not a participant")),
            "{ra:?}"
        );
        for w in &mut ws[..2] {
            w.submit(round, &delta).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        ws[2].submit(round, &delta).await.unwrap()
    });
    let ev = c.next_event(EVENT_WAIT).unwrap();
    c.shutdown();
    assert!(
        matches!(late.0, AToWorker::Ack { .. }),
        "expected worker 2 was refused: {:?}; round 1 result: {ev}",
        late.0
    );
    assert_eq!(ev["accepted"], 3, "{ev}");
}
