//! `tandem bench`: benchmarks between real server processes over QUIC.
//!
//! - `bench engine --ops K [--repeat R]`: starts server B and server A (no
//!   workers, secure-fedavg, `--rounds 0`, `--engine-selftest K`). A runs the
//!   2PC engine with B over their QUIC connection — fresh base OTs both ways,
//!   IKNP, Beaver triples, K DReLUs and K multiplications on random shared
//!   inputs, opened and checked against plaintext — and prints its numbers;
//!   this prints one JSON object with `ops`, `seconds` (engine start to A
//!   holding every output, all preprocessing included), `seconds_with_check`
//!   (plus the opening and check), `bytes_per_drelu`, `cot_per_s` (OTs
//!   extended in both directions per second of `seconds`), `bytes_total`,
//!   `correct`, and `wall_s` (process start to A's result). With `--repeat R`
//!   the processes are started R times; `seconds` and `wall_s` are medians and
//!   `runs` lists every run.
//! - `bench round --dim D --workers N [--rounds R] [--aggregation RULE]
//!   [--seed S] [--threads T] [--memory-budget MIB] [--prepare-threads P]
//!   [--no-plaintext] [--no-floor | --floor-only] [--dir DIR]`: full rounds over
//!   real processes (README, Benchmarks). For the secure rule (`secure-fltrust` by
//!   default) and then for the plaintext baseline `plain-fedavg`, it
//!   1. prepares every worker's submissions for rounds 1..=R (R = 4 by
//!      default) *before* any process starts: a synthetic unit-norm update
//!      (even worker ids aimed at A's reference direction, cosine ≈ 0.8; odd
//!      ids uniformly random, so about half of them get trust 0 and the ReLU
//!      path is exercised), then `protocols::round::worker::prepare` (client
//!      normalisation, shares, dealt correlations, commitments, validity
//!      proof) and wire encoding, on P = 2 threads; each submission's time is
//!      one sample of `worker_prepare_ms` (median);
//!   2. starts server B and server A (`--threads T` and `--memory-budget
//!      MIB` to each if given; `--synthetic-dim D`: a model of D zeros,
//!      no MNIST, ĝ₀ = `server_a::synthetic_reference(seed, round, D)`, a
//!      public PRG direction) with `--workers N`, so the first round starts
//!      only when all N workers are connected;
//!   3. connects N in-process workers (`tandem::client::ScriptedWorker`:
//!      one real QUIC connection to each server per worker, enrolled
//!      identities from the cluster's PKI; at most 64 connecting at a time,
//!      so 1000 handshakes at once cannot run a loaded server past its
//!      handshake timeout), checks that A's `Welcome` carries
//!      exactly the session the submissions were prepared for (round ids
//!      start at 1 on B's fresh state directory), and sends each prepared
//!      round as A announces it;
//!   4. takes the round time and byte counts from A's per-round JSON lines (A's
//!      round start — before the reference, the engine's coin and the
//!      announcement — to A's model update), and the servers' peak memory
//!      (VmHWM) and CPU time from `/proc` before they stop.
//!
//!   Every correlation the servers use is made inside the run (base OTs at
//!   the session's start, IKNP, triples, DReLU inside each round); nothing
//!   is dealt.
//!   Stdout gets one JSON object: `dim`, `workers`, `rounds`, `rule`,
//!   `secure_round_s` (median of rounds 2..R), `first_round_s` (round 1; the
//!   base OTs run once B is ready, while the workers connect, and the
//!   workers' connection set-up happens before it and is `connect_s`), `secure_rounds_s`, `plaintext_round_s` (same transport,
//!   workers send plain f32 updates to A, same median), `plaintext_*`,
//!   `worker_prepare_ms` (+ `_max`), `bytes_between_servers` (steady-state
//!   median per round, A's counters both ways) and
//!   `bytes_between_servers_per_worker` (that / N), `bytes_worker_to_servers`
//!   (+ `_per_worker`), `upload_frame_bytes`, `peak_rss_mb_a`,
//!   `peak_rss_mb_b`, `server_threads`, `peak_rss_mb_bench` (this process: the prepared
//!   uploads, N·R·~27·D bytes), `cpu_s_per_round` (A, B, and this process =
//!   the workers' side of the transport), `accepted`, `zero_trust`,
//!   `updated`. Progress goes to stderr. All processes share the machine's
//!   cores, workers included.
//!
//!   Then, unless `--no-floor`, the raw transport floor (module `floor`):
//!   the same bytes over the same QUIC setup with no protocol. A hidden
//!   `tandem bench sink` process listens with server B's identity and the
//!   servers' transport (`TransportConfig::protocol()`, `transport::hub`),
//!   reads every frame whole, drops it and acks it with one byte; this
//!   process connects the N enrolled identities as the bench workers do (one
//!   endpoint and connection each) and, for R rounds, sends one frame per
//!   worker, all at once, timed from the first send to the last ack. It does
//!   so at the secure upload's size (`upload_frame_bytes.to_b`) and then at
//!   the plaintext upload's (plain-fedavg's frame to A). Added fields:
//!   `transport_floor_s` (median of rounds 2..R at the secure upload's size)
//!   with `transport_floor_rounds_s`, `transport_floor_frame_bytes`,
//!   `transport_floor_mb_s` (N · (frame + 4-byte prefix) / time, in 10⁶ B/s)
//!   and `transport_floor_cpu_s_per_round` (`sink`, `workers`);
//!   `secure_vs_floor` = `secure_round_s` / `transport_floor_s`; the same
//!   `plaintext_floor_*` at the plaintext upload's size, and
//!   `plaintext_vs_floor` = `plaintext_floor_s` / `plaintext_round_s`, the
//!   fraction of the wire's throughput plain-fedavg reaches (the target is
//!   ≥ 0.70: the baseline must be a good plaintext system, not a slow one).
//!   That floor carries only the upload, but a round first announces the
//!   model to every worker (4·D bytes each), so a third measurement does
//!   the plain round's bytes: each client fetches a frame of the
//!   announcement's size from the sink, then uploads —
//!   `plaintext_round_trip_floor_s` (+ `_rounds_s`, `_mb_s` counting both
//!   directions, `_cpu_s_per_round`, `plaintext_round_trip_down_bytes`) and
//!   `plaintext_vs_round_trip_floor` = that / `plaintext_round_s`.
//!   `peak_rss_mb_bench` is taken before the floor. A one-line summary goes
//!   to stderr. `--floor-only` skips both clusters and measures the floor
//!   alone at the sizes of one prepared submission of each rule, over a
//!   fresh enrolment directory (`floor_only: true`, no round figures and no
//!   ratios): the wire at sizes where the full rounds cannot run.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use fl_ml::model::DEFAULT_CLIP;
use mpc_core::codec::Message;
use mpc_core::fixed::FixedParams;
use mpc_core::prg::Purpose;
use mpc_core::wire::{AToWorker, Aggregation, BToWorker, SessionInfo};
use protocols::round::worker::prepare;
use rand::RngExt;
use serde_json::{Value, json};
use server_a::synthetic_reference;
use tandem::client::ScriptedWorker;
use tandem::{Cluster, ClusterOptions};
use tokio::sync::Semaphore;

mod floor;

/// Benchmarks of tandem between real processes.
#[derive(Debug, Parser)]
#[command(name = "bench", version)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// K DReLUs and K multiplications between server A and server B over QUIC,
    /// all preprocessing (base OTs, IKNP, triples) included.
    Engine {
        /// Operations of each kind.
        #[arg(long, default_value_t = 1000)]
        ops: usize,
        /// Start the processes this many times; report medians.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        /// Working directory (PKI, logs); a temporary one by default.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Full rounds over real processes: a robust rule and the plaintext
    /// baseline, synthetic updates prepared before the clock starts.
    Round(RoundArgs),
    /// The receiving end of `bench round`'s raw transport floor (started by
    /// `bench round` itself): accepts the enrolled workers as server B would,
    /// reads every frame, drops it and acks it.
    #[command(hide = true)]
    Sink(floor::SinkArgs),
}

/// Options of `bench round`.
#[derive(Debug, clap::Args)]
struct RoundArgs {
    /// Model dimension d.
    #[arg(long, default_value_t = 10_000)]
    dim: usize,
    /// Workers n (one pair of QUIC connections each).
    #[arg(long, default_value_t = 10)]
    workers: usize,
    /// Rounds R: round 1 is `first_round_s`, rounds 2..R the steady state.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(2..))]
    rounds: u64,
    /// The secure rule measured.
    #[arg(long, default_value = "secure-fltrust")]
    aggregation: Aggregation,
    /// Seed of the synthetic updates and of A's synthetic reference (never a secret).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Threads each server runs its per-worker work on (`--threads` of
    /// server A and server B) [default: one per core].
    #[arg(long, value_name = "T")]
    threads: Option<usize>,
    /// Each server's `--memory-budget` in MiB [default: the servers' default].
    #[arg(long, value_name = "MIB")]
    memory_budget: Option<u64>,
    /// Threads preparing the workers' submissions (before the clock starts).
    #[arg(long, default_value_t = 2)]
    prepare_threads: usize,
    /// Skip the plaintext baseline.
    #[arg(long)]
    no_plaintext: bool,
    /// Skip the raw transport floor (the uploads' bytes over the same QUIC
    /// setup with no protocol).
    #[arg(long)]
    no_floor: bool,
    /// Only the raw transport floor, no clusters: the upload sizes come from
    /// one prepared submission of each rule (for sizes where the full rounds
    /// cannot run, or to measure the wire alone).
    #[arg(long)]
    floor_only: bool,
    /// Working directory (PKI, state, logs; kept); a temporary one by default.
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One run: fresh processes, returns A's engine object with `wall_s` added.
fn engine_once(ops: usize, dir: &std::path::Path) -> Result<Value> {
    let mut o = ClusterOptions::new(dir);
    o.workers = 1;
    o.rounds = 0;
    o.aggregation = "secure-fedavg".into();
    o.start_workers = false;
    o.extra_a = vec!["--engine-selftest".into(), ops.to_string()];
    let started = Instant::now();
    let mut cluster = Cluster::launch(&o)?;
    let mut engine = loop {
        let ev = cluster.next_event(Duration::from_secs(120))?;
        if let Some(e) = ev.get("engine") {
            break e.clone();
        }
        if ev.get("done").is_some() {
            bail!(
                "server A finished without an engine result; see {}",
                dir.join("server-a.log").display()
            );
        }
    };
    let wall = started.elapsed().as_secs_f64();
    // With `--rounds 0`, A finishes right after the self-test; waiting for its
    // last line lets B finish checking the opening before the processes stop.
    let _ = cluster.next_event(Duration::from_secs(30));
    cluster.shutdown();
    if let Some(obj) = engine.as_object_mut() {
        obj.insert("wall_s".into(), json!(wall));
    }
    Ok(engine)
}

fn engine(ops: usize, repeat: usize, dir: Option<std::path::PathBuf>) -> Result<Value> {
    if ops == 0 || repeat == 0 {
        bail!("--ops and --repeat must be positive");
    }
    let is_tmp = dir.is_none();
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("tandem-bench-engine-{}", std::process::id()))
    });
    let mut runs = Vec::new();
    for i in 0..repeat {
        let run = engine_once(ops, &dir.join(format!("run-{i}")))
            .with_context(|| format!("engine run {i}"))?;
        runs.push(run);
    }
    let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    let seconds = median(runs.iter().map(|r| num(r, "seconds")).collect());
    let wall = median(runs.iter().map(|r| num(r, "wall_s")).collect());
    let with_check = median(runs.iter().map(|r| num(r, "seconds_with_check")).collect());
    let cot = median(runs.iter().map(|r| num(r, "cot_per_s")).collect());
    let correct = runs
        .iter()
        .all(|r| r.get("correct").and_then(Value::as_bool) == Some(true));
    let last = runs.last().cloned().unwrap_or(Value::Null);
    let mut out = json!({
        "ops": ops,
        "seconds": seconds,
        "seconds_with_check": with_check,
        "wall_s": wall,
        "bytes_per_drelu": last.get("bytes_per_drelu"),
        "bytes_per_mult": last.get("bytes_per_mult"),
        "cot_per_s": cot,
        "ots": last.get("ots"),
        "bytes_total": last.get("bytes_total"),
        "messages_total": last.get("messages_total"),
        "bytes": last.get("bytes"),
        "correct": correct,
        "repeat": repeat,
    });
    if repeat > 1
        && let Some(obj) = out.as_object_mut()
    {
        obj.insert("runs".into(), Value::Array(runs));
    }
    if is_tmp {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(out)
}

// ------------------------------------------------------------- bench round

/// How long a worker waits for a round announcement or a server's reply.
const ROUND_WAIT: Duration = Duration::from_secs(600);

/// One worker's encoded frames for rounds 1..=R: (to A, to B); taken when sent.
type Frames = Vec<Option<(Vec<u8>, Option<Vec<u8>>)>>;

/// The session server A announces with `--synthetic-dim dim` for `rule`
/// (server A's defaults otherwise: ℓ = 18, f = 16, clip C = 3, no τ).
fn synthetic_session(dim: usize, rule: Aggregation) -> Result<SessionInfo> {
    Ok(SessionInfo {
        model: "synthetic".into(),
        dim: u32::try_from(dim).context("dimension too large")?,
        fixed: FixedParams::new(18, 16)?,
        aggregation: rule,
        // Trust-based rules normalise to unit norm: A announces no clip bound.
        clip: if rule.is_trust_based() {
            0.0
        } else {
            DEFAULT_CLIP
        },
        train: mpc_core::wire::TrainParams::try_from(&fl_ml::rule_defaults(rule).train)?,
        cos_threshold: None,
        k_min: 3,
    })
}

/// Worker `worker`'s unit-norm update for `round`: even ids aim at A's
/// (public, seed-derived) reference direction (cosine ≈ 0.8), odd ids are
/// uniformly random (cosine ≈ 0: about half get ReLU weight 0). The seed
/// only drives the synthetic data, never a secret.
fn synthetic_update(seed: u64, worker: u32, round: u64, reference: &[f32]) -> Vec<f32> {
    let mut rng = fl_ml::public_rng(seed, Purpose::SyntheticUpdate, round, worker);
    let aligned = worker.is_multiple_of(2);
    let mut u: Vec<f32> = reference
        .iter()
        .map(|&g| {
            let noise = rng.random_range(-1.0f32..1.0);
            if aligned { g + 0.75 * noise } else { noise }
        })
        .collect();
    let norm = u.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
    let inv = (1.0 / norm.max(f64::MIN_POSITIVE)) as f32;
    u.iter_mut().for_each(|v| *v *= inv);
    u
}

/// Every worker's submissions for rounds 1..=R, encoded, with the time each took.
struct Prepared {
    /// Indexed by worker id.
    frames: Vec<Frames>,
    /// Milliseconds per submission (one worker, one round), `prepare` plus encoding.
    ms: Vec<f64>,
    /// Frame sizes of one submission (to A, to B).
    sizes: (usize, usize),
}

/// Prepares every submission on `a.prepare_threads` threads (before any clock starts).
fn prepare_all(session: &SessionInfo, a: &RoundArgs) -> Result<Prepared> {
    let n = a.workers;
    let refs: Vec<Vec<f32>> = (1..=a.rounds)
        .map(|r| synthetic_reference(a.seed, r, a.dim))
        .collect();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let every = (n / 10).max(1);
    let prepare_one = |id: u32| -> Result<(Frames, Vec<f64>)> {
        let mut frames = Vec::with_capacity(refs.len());
        let mut ms = Vec::with_capacity(refs.len());
        for (round, g) in (1u64..).zip(&refs) {
            let delta = synthetic_update(a.seed, id, round, g);
            let t = Instant::now();
            let sub = prepare(session, round, id, &delta, &mut rand::rng())?;
            let to_a = sub.to_a.encode();
            let to_b = sub.to_b.as_ref().map(Message::encode);
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            frames.push(Some((to_a, to_b)));
        }
        Ok((frames, ms))
    };
    let results: Vec<Vec<(usize, Frames, Vec<f64>)>> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..a.prepare_threads.clamp(1, n.max(1)))
            .map(|_| {
                sc.spawn(|| -> Result<Vec<(usize, Frames, Vec<f64>)>> {
                    let mut mine = Vec::new();
                    loop {
                        let w = next.fetch_add(1, Ordering::Relaxed);
                        if w >= n {
                            return Ok(mine);
                        }
                        let (frames, ms) = prepare_one(u32::try_from(w)?)?;
                        mine.push((w, frames, ms));
                        let k = done.fetch_add(1, Ordering::Relaxed) + 1;
                        if k.is_multiple_of(every) || k == n {
                            eprintln!("  preparing {k}/{n}");
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a preparing thread panicked"))?
            })
            .collect::<Result<Vec<_>>>()
    })?;
    let mut frames: Vec<Frames> = (0..n).map(|_| Vec::new()).collect();
    let mut ms = Vec::with_capacity(n * refs.len());
    for (w, f, m) in results.into_iter().flatten() {
        frames[w] = f;
        ms.extend(m);
    }
    let sizes = frames
        .first()
        .and_then(|f| f.first())
        .and_then(Option::as_ref)
        .map_or((0, 0), |(fa, fb)| {
            (fa.len(), fb.as_ref().map_or(0, Vec::len))
        });
    Ok(Prepared { frames, ms, sizes })
}

/// Handshakes in flight at once while the bench workers connect (the set-up
/// is before the rounds): with 1000 at once, a loaded 2-core machine took a
/// server over its 10 s handshake timeout and the run failed.
const CONNECTING: usize = 64;

/// Where and how the bench workers connect.
#[derive(Clone, Debug)]
struct Dial {
    /// The cluster's enrolment directory.
    pki: PathBuf,
    addr_a: SocketAddr,
    addr_b: Option<SocketAddr>,
    /// At most [`CONNECTING`] workers connect at a time.
    gate: Arc<Semaphore>,
}

/// One in-process worker: real QUIC connections with its enrolled identity;
/// checks the session, then sends its prepared frames as rounds are announced.
async fn bench_worker(
    dial: Dial,
    id: u32,
    expected: SessionInfo,
    mut frames: Frames,
    events: mpsc::Sender<Result<u32, String>>,
) -> Result<ScriptedWorker> {
    let mut w = {
        let _turn = dial.gate.acquire_owned().await?;
        let mut w = ScriptedWorker::connect(&dial.pki, id, dial.addr_a, dial.addr_b).await?;
        w.hello().await?;
        w
    };
    if w.session.as_ref() != Some(&expected) {
        bail!(
            "server A announced {:?}, the prepared submissions are for {expected:?}",
            w.session
        );
    }
    let _ = events.send(Ok(id));
    let prepared = frames.len();
    for _ in 0..prepared {
        let round = loop {
            match w.a.recv::<AToWorker>(ROUND_WAIT).await? {
                AToWorker::Announce { round, .. } => break round,
                AToWorker::Finished => bail!("server A finished early"),
                _ => {}
            }
        };
        let slot = usize::try_from(round)
            .ok()
            .and_then(|r| r.checked_sub(1))
            .and_then(|i| frames.get_mut(i))
            .with_context(|| format!("round {round} announced; prepared were 1..={prepared}"))?;
        let (to_a, to_b) = slot
            .take()
            .with_context(|| format!("round {round} announced twice"))?;
        w.a.send_owned(to_a).await?;
        if let (Some(link), Some(f)) = (w.b.as_mut(), to_b) {
            link.send_owned(f).await?;
            match link.recv::<BToWorker>(ROUND_WAIT).await? {
                BToWorker::Ack { .. } => {}
                other => bail!("server B answered {other:?}"),
            }
        }
        match w.a.recv::<AToWorker>(ROUND_WAIT).await? {
            AToWorker::Ack { .. } => {}
            other => bail!("server A answered {other:?}"),
        }
    }
    Ok(w)
}

/// Peak resident set (VmHWM) of a process in MiB.
fn vm_hwm_mb(pid: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// CPU seconds (user + system, all threads) a process has used so far, from
/// `/proc/PID/stat` (clock ticks of 1/100 s, Linux's USER_HZ).
fn cpu_s(pid: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// What one cluster run measured.
struct ClusterRun {
    /// Server A's round lines, rounds 1..=R.
    rounds: Vec<Value>,
    prepare_ms: Vec<f64>,
    sizes: (usize, usize),
    peak_a: Option<f64>,
    peak_b: Option<f64>,
    /// Cluster launch to every worker welcomed by both servers.
    connect_s: f64,
    /// Per round: CPU seconds of server A, server B and this process (the workers).
    cpu: Vec<[f64; 3]>,
}

/// Prepares, launches a cluster for `rule` in synthetic mode, connects the
/// workers, runs R rounds and collects A's round lines and peak memory.
fn run_cluster(a: &RoundArgs, rule: Aggregation, dir: &Path) -> Result<ClusterRun> {
    let n = a.workers;
    let session = synthetic_session(a.dim, rule)?;
    eprintln!(
        "[{rule}] preparing {} submissions (d = {}, n = {n}, R = {}) on {} threads",
        n as u64 * a.rounds,
        a.dim,
        a.rounds,
        a.prepare_threads
    );
    let prep = prepare_all(&session, a)?;
    let launched = Instant::now();
    let mut cluster = Cluster::launch(&synthetic_options(a, rule, dir))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (tx, rx) = mpsc::channel();
    let handles = spawn_workers(&rt, &cluster, &dir.join("pki"), &session, prep.frames, tx)?;
    let mut connected = 0;
    while connected < n {
        match rx.recv_timeout(Duration::from_secs(300)) {
            Ok(Ok(_)) => connected += 1,
            Ok(Err(e)) => bail!("{e}"),
            Err(_) => bail!("only {connected} of {n} workers connected"),
        }
    }
    let connect_s = launched.elapsed().as_secs_f64();
    eprintln!("[{rule}] {n} workers connected after {connect_s:.2} s");
    let mut stats = ServerStats::new(&cluster);
    let (rounds, cpu) = collect_rounds(&mut cluster, &rx, a, rule, &mut stats)?;
    stats.sample_peaks();
    // A prints its final line after the last round; then let everything stop.
    let _ = cluster.next_event_within(Duration::from_secs(10));
    rt.block_on(async {
        for h in handles {
            let _ = tokio::time::timeout(Duration::from_secs(10), h).await;
        }
    });
    cluster.shutdown();
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(ClusterRun {
        rounds,
        prepare_ms: prep.ms,
        sizes: prep.sizes,
        peak_a: stats.peak_a,
        peak_b: stats.peak_b,
        connect_s,
        cpu,
    })
}

/// The cluster of one `bench round` run: servers only (the workers run in
/// this process), synthetic model of `a.dim`, long start and round timeouts.
fn synthetic_options(a: &RoundArgs, rule: Aggregation, dir: &Path) -> ClusterOptions {
    let mut o = ClusterOptions::new(dir);
    o.workers = a.workers;
    o.rounds = a.rounds;
    o.aggregation = rule.name().into();
    o.seed = a.seed;
    o.start_workers = false;
    o.extra_a = [
        "--synthetic-dim",
        &a.dim.to_string(),
        "--start-timeout",
        "600",
        "--round-timeout",
        "600",
    ]
    .map(String::from)
    .to_vec();
    for extra in [&mut o.extra_a, &mut o.extra_b] {
        if let Some(t) = a.threads {
            extra.extend(["--threads".to_string(), t.to_string()]);
        }
        if let Some(m) = a.memory_budget {
            extra.extend(["--memory-budget".to_string(), m.to_string()]);
        }
    }
    o
}

/// Spawns one [`bench_worker`] per element of `frames` on `rt`; each sends
/// its id on `tx` once welcomed, or its error if it fails.
fn spawn_workers(
    rt: &tokio::runtime::Runtime,
    cluster: &Cluster,
    pki: &Path,
    session: &SessionInfo,
    frames: Vec<Frames>,
    tx: mpsc::Sender<Result<u32, String>>,
) -> Result<Vec<tokio::task::JoinHandle<Result<ScriptedWorker>>>> {
    let addr_a: SocketAddr = cluster.addr_a.trim().parse()?;
    let addr_b: Option<SocketAddr> = cluster
        .addr_b
        .as_deref()
        .map(|s| s.trim().parse())
        .transpose()?;
    let dial = Dial {
        pki: pki.to_path_buf(),
        addr_a,
        addr_b,
        gate: Arc::new(Semaphore::new(CONNECTING)),
    };
    let mut handles = Vec::with_capacity(frames.len());
    for (id, frames) in (0u32..).zip(frames) {
        let tx = tx.clone();
        let fut = bench_worker(dial.clone(), id, session.clone(), frames, tx.clone());
        handles.push(rt.spawn(async move {
            let r = fut.await;
            if let Err(e) = &r {
                let _ = tx.send(Err(format!("worker {id}: {e:#}")));
            }
            r
        }));
    }
    Ok(handles)
}

/// Peak memory of the servers and CPU time of the servers and of this process.
struct ServerStats {
    /// (process name, PID) of every process of the cluster.
    pids: Vec<(&'static str, String)>,
    /// Highest VmHWM of server A and server B seen so far, MiB.
    peak_a: Option<f64>,
    peak_b: Option<f64>,
    /// PIDs of server A and server B, and `self`.
    cpu_pids: [String; 3],
    /// Their CPU seconds at the last [`ServerStats::cpu_since_mark`].
    cpu_mark: [f64; 3],
}

impl ServerStats {
    /// Finds the servers' PIDs and marks their CPU time now.
    fn new(cluster: &Cluster) -> ServerStats {
        let pids: Vec<(&'static str, String)> = cluster
            .pids()
            .into_iter()
            .map(|(name, pid)| (name, pid.to_string()))
            .collect();
        let pid_of = |name: &str| {
            pids.iter()
                .find(|(n, _)| *n == name)
                .map_or_else(|| "0".to_string(), |(_, p)| p.clone())
        };
        let cpu_pids = [pid_of("server-a"), pid_of("server-b"), "self".to_string()];
        let mut stats = ServerStats {
            pids,
            peak_a: None,
            peak_b: None,
            cpu_pids,
            cpu_mark: [0.0; 3],
        };
        stats.cpu_mark = stats.cpu_now();
        stats
    }

    /// Updates the servers' peak memory from `/proc`.
    fn sample_peaks(&mut self) {
        for (name, pid) in &self.pids {
            let slot = match *name {
                "server-a" => &mut self.peak_a,
                "server-b" => &mut self.peak_b,
                _ => continue,
            };
            if let Some(mb) = vm_hwm_mb(pid) {
                *slot = Some(slot.map_or(mb, |p: f64| p.max(mb)));
            }
        }
    }

    /// CPU seconds used so far by server A, server B and this process.
    fn cpu_now(&self) -> [f64; 3] {
        [0, 1, 2].map(|i| cpu_s(&self.cpu_pids[i]).unwrap_or(f64::NAN))
    }

    /// CPU seconds used since the last mark (per process); marks now.
    fn cpu_since_mark(&mut self) -> [f64; 3] {
        let now = self.cpu_now();
        let used = [0, 1, 2].map(|i| now[i] - self.cpu_mark[i]);
        self.cpu_mark = now;
        used
    }
}

/// Waits for A's R round lines, printing each to stderr and sampling memory
/// and CPU time after it; fails on a worker's error, an early end or after
/// 600 s per round. Returns the round lines and the CPU seconds per round.
fn collect_rounds(
    cluster: &mut Cluster,
    rx: &mpsc::Receiver<Result<u32, String>>,
    a: &RoundArgs,
    rule: Aggregation,
    stats: &mut ServerStats,
) -> Result<(Vec<Value>, Vec<[f64; 3]>)> {
    let mut cpu = Vec::new();
    let mut rounds = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600 * a.rounds);
    while (rounds.len() as u64) < a.rounds {
        if let Ok(Err(e)) = rx.try_recv() {
            bail!("{e}");
        }
        if Instant::now() > deadline {
            bail!("the rounds did not finish in time");
        }
        let Some(ev) = cluster.next_event_within(Duration::from_millis(500))? else {
            continue;
        };
        if ev.get("done").is_some() {
            bail!("server A finished after {} rounds", rounds.len());
        }
        if ev.get("round").is_none() {
            continue;
        }
        stats.sample_peaks();
        cpu.push(stats.cpu_since_mark());
        print_round(rule, &ev, a.workers);
        rounds.push(ev);
    }
    Ok((rounds, cpu))
}

/// Prints one of A's round lines to stderr, with a warning if not all `n`
/// workers were accepted or the model was not updated.
fn print_round(rule: Aggregation, ev: &Value, n: usize) {
    let num = |k: &str| ev.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    eprintln!(
        "[{rule}] round {} done in {:.3} s (accepted {}, rejected {}, zero trust {}, updated {})",
        ev["round"],
        num("seconds"),
        ev["accepted"],
        ev["rejected"],
        ev["zero_trust"],
        ev["updated"]
    );
    if ev["accepted"].as_u64() != Some(n as u64) || ev["updated"] != json!(true) {
        eprintln!("[{rule}] warning: not every worker was accepted or no update: {ev}");
    }
}

/// `bench round`: the secure rule's cluster, then the plaintext baseline's.
fn round(a: &RoundArgs) -> Result<Value> {
    if a.dim == 0 || a.workers == 0 {
        bail!("--dim and --workers must be positive");
    }
    if !a.aggregation.is_secure() {
        bail!("--aggregation is the secure rule to measure (plain-fedavg is the baseline)");
    }
    if a.floor_only && a.no_floor {
        return Err(
            tandem::UsageError("--floor-only and --no-floor exclude each other".into()).into(),
        );
    }
    let is_tmp = a.dir.is_none();
    let dir = a.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("tandem-bench-round-{}", std::process::id()))
    });
    if a.floor_only {
        let out = floor_only(a, &dir);
        if is_tmp {
            let _ = std::fs::remove_dir_all(&dir);
        }
        return out;
    }
    let secure = run_cluster(a, a.aggregation, &dir.join("secure"))?;
    let plain = if a.no_plaintext {
        None
    } else {
        Some(run_cluster(
            a,
            Aggregation::PlainFedAvg,
            &dir.join("plain"),
        )?)
    };
    // This process's peak before the floor's buffers (N uploads per round).
    let peak_bench = vm_hwm_mb("self");
    let floors = if a.no_floor {
        None
    } else {
        let plain_up = plain.as_ref().map(|p| p.sizes.0);
        let shapes = floor_shapes(secure.sizes.1, plain_up, a.dim);
        Some(run_floor(
            a,
            &dir.join("secure").join("pki"),
            &dir,
            &shapes,
        )?)
    };
    let n = a.workers as f64;
    let col = |r: &ClusterRun, k: &str| -> Vec<f64> {
        r.rounds
            .iter()
            .map(|v| v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN))
            .collect()
    };
    let steady = |v: Vec<f64>| median(v[1..].to_vec());
    let s_secs = col(&secure, "seconds");
    let s_between = col(&secure, "bytes_between_servers");
    let s_up = col(&secure, "bytes_worker_to_servers");
    let between = steady(s_between.clone());
    let up = steady(s_up.clone());
    let mut out = json!({
        "dim": a.dim,
        "workers": a.workers,
        "rounds": a.rounds,
        "rule": a.aggregation.name(),
        "secure_round_s": steady(s_secs.clone()),
        "first_round_s": s_secs[0],
        "secure_rounds_s": s_secs,
        "worker_prepare_ms": median(secure.prepare_ms.clone()),
        "worker_prepare_ms_max": secure.prepare_ms.iter().copied().fold(0.0, f64::max),
        "prepare_threads": a.prepare_threads,
        "server_threads": a.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        }),
        "bytes_between_servers": between,
        "bytes_between_servers_per_worker": between / n,
        "bytes_between_servers_first_round": s_between[0],
        "bytes_worker_to_servers": up,
        "bytes_worker_to_servers_per_worker": up / n,
        "upload_frame_bytes": {"to_a": secure.sizes.0, "to_b": secure.sizes.1},
        "peak_rss_mb_a": secure.peak_a,
        "peak_rss_mb_b": secure.peak_b,
        "peak_rss_mb_bench": peak_bench,
        "connect_s": secure.connect_s,
        "cpu_s_per_round": {
            "a": steady(secure.cpu.iter().map(|c| c[0]).collect()),
            "b": steady(secure.cpu.iter().map(|c| c[1]).collect()),
            "workers": steady(secure.cpu.iter().map(|c| c[2]).collect()),
        },
        "accepted": secure.rounds.iter().map(|v| v["accepted"].clone()).collect::<Vec<_>>(),
        "zero_trust": secure.rounds.iter().map(|v| v["zero_trust"].clone()).collect::<Vec<_>>(),
        "updated": secure.rounds.iter().all(|v| v["updated"] == json!(true)),
    });
    if let (Some(p), Some(obj)) = (&plain, out.as_object_mut()) {
        let p_secs = col(p, "seconds");
        obj.insert("plaintext_rule".into(), json!("plain-fedavg"));
        obj.insert("plaintext_round_s".into(), json!(steady(p_secs.clone())));
        obj.insert("plaintext_first_round_s".into(), json!(p_secs[0]));
        obj.insert("plaintext_rounds_s".into(), json!(p_secs));
        obj.insert(
            "plaintext_bytes_worker_to_servers".into(),
            json!(steady(col(p, "bytes_worker_to_servers"))),
        );
        obj.insert("plaintext_peak_rss_mb_a".into(), json!(p.peak_a));
        obj.insert(
            "plaintext_cpu_s_per_round".into(),
            json!({
                "a": steady(p.cpu.iter().map(|c| c[0]).collect()),
                "workers": steady(p.cpu.iter().map(|c| c[2]).collect()),
            }),
        );
        obj.insert(
            "plaintext_updated".into(),
            json!(p.rounds.iter().all(|v| v["updated"] == json!(true))),
        );
    }
    if let (Some(floors), Some(obj)) = (&floors, out.as_object_mut()) {
        add_floor(obj, floors, a.workers);
    }
    if is_tmp {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(out)
}

/// The floor's shapes: the secure upload (`secure_up` bytes to B) and, with
/// the plaintext baseline, its upload alone and after the model's download.
fn floor_shapes(secure_up: usize, plain_up: Option<usize>, dim: usize) -> Vec<floor::Shape> {
    let mut shapes = vec![floor::Shape {
        down: 0,
        up: secure_up,
    }];
    if let Some(up) = plain_up {
        // A round announces the model to every worker before the uploads.
        let down = announce_bytes(dim);
        shapes.extend([floor::Shape { down: 0, up }, floor::Shape { down, up }]);
    }
    shapes
}

/// Measures `shapes` with the enrolment directory `pki` (sink log in `dir/floor`).
fn run_floor(
    a: &RoundArgs,
    pki: &Path,
    dir: &Path,
    shapes: &[floor::Shape],
) -> Result<Vec<floor::Floor>> {
    eprintln!(
        "[floor] raw transport, {} clients, R = {}: {}",
        a.workers,
        a.rounds,
        shapes
            .iter()
            .map(|s| match s.down {
                0 => format!("{} B up", s.up),
                d => format!("{d} B down then {} B up", s.up),
            })
            .collect::<Vec<_>>()
            .join("; ")
    );
    floor::measure(pki, &dir.join("floor"), a.workers, a.rounds, shapes)
        .context("measuring the raw transport floor")
}

/// `bench round --floor-only`: the floor at the sizes one prepared
/// submission of each rule has, over a fresh enrolment directory.
fn floor_only(a: &RoundArgs, dir: &Path) -> Result<Value> {
    let sizes = |rule: Aggregation| -> Result<(usize, usize)> {
        let session = synthetic_session(a.dim, rule)?;
        let g = synthetic_reference(a.seed, 1, a.dim);
        let delta = synthetic_update(a.seed, 0, 1, &g);
        let sub = prepare(&session, 1, 0, &delta, &mut rand::rng())?;
        Ok((
            sub.to_a.encoded_len(),
            sub.to_b.as_ref().map_or(0, Message::encoded_len),
        ))
    };
    let secure = sizes(a.aggregation)?;
    let plain_up = if a.no_plaintext {
        None
    } else {
        Some(sizes(Aggregation::PlainFedAvg)?.0)
    };
    let pki = dir.join("pki");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let _ = std::fs::remove_dir_all(&pki);
    transport::generate_pki(&pki, u32::try_from(a.workers)?).context("generating certificates")?;
    let floors = run_floor(a, &pki, dir, &floor_shapes(secure.1, plain_up, a.dim))?;
    let mut out = json!({
        "dim": a.dim,
        "workers": a.workers,
        "rounds": a.rounds,
        "rule": a.aggregation.name(),
        "floor_only": true,
        "upload_frame_bytes": {"to_a": secure.0, "to_b": secure.1},
    });
    if let Some(obj) = out.as_object_mut() {
        add_floor(obj, &floors, a.workers);
    }
    Ok(out)
}

/// Payload bytes of A's announcement of a `dim`-coordinate model.
fn announce_bytes(dim: usize) -> usize {
    AToWorker::Announce {
        round: 1,
        model: mpc_core::codec::f32s_to_bytes(&vec![0.0; dim]),
    }
    .encoded_len()
}

/// Adds the floor's fields to `out` (which holds the rounds' medians) and
/// prints the one-line summary: `floors[0]` is the secure upload's size,
/// `floors[1]` and `floors[2]` (if measured) the plaintext upload's, alone
/// and after the model's download.
fn add_floor(out: &mut serde_json::Map<String, Value>, floors: &[floor::Floor], n: usize) {
    let steady = |v: &[f64]| median(v.get(1..).unwrap_or_default().to_vec());
    let rate = |f: &floor::Floor, secs: f64| f.shape.wire_bytes(n) / secs / 1e6;
    let cpu = |f: &floor::Floor| {
        json!({
            "sink": steady(&f.cpu.iter().map(|c| c[0]).collect::<Vec<_>>()),
            "workers": steady(&f.cpu.iter().map(|c| c[1]).collect::<Vec<_>>()),
        })
    };
    let num = |out: &serde_json::Map<String, Value>, k: &str| out.get(k).and_then(Value::as_f64);
    let mut line = String::from("[floor]");
    if let Some(f) = floors.first() {
        let secs = steady(&f.rounds_s);
        let secure = num(out, "secure_round_s");
        out.insert("transport_floor_s".into(), json!(secs));
        out.insert("transport_floor_rounds_s".into(), json!(f.rounds_s));
        out.insert("transport_floor_mb_s".into(), json!(rate(f, secs)));
        out.insert("transport_floor_frame_bytes".into(), json!(f.shape.up));
        out.insert("transport_floor_cpu_s_per_round".into(), cpu(f));
        line += &format!(
            " secure upload {n} × {:.2} MB: {secs:.3} s on the wire ({:.0} MB/s);",
            f.shape.up as f64 / 1e6,
            rate(f, secs),
        );
        if let Some(secure) = secure {
            out.insert("secure_vs_floor".into(), json!(secure / secs));
            line += &format!(" secure round {secure:.3} s = {:.1}× that;", secure / secs);
        }
    }
    if let Some(f) = floors.get(1) {
        let secs = steady(&f.rounds_s);
        let plain = num(out, "plaintext_round_s");
        out.insert("plaintext_floor_s".into(), json!(secs));
        out.insert("plaintext_floor_rounds_s".into(), json!(f.rounds_s));
        out.insert("plaintext_floor_mb_s".into(), json!(rate(f, secs)));
        out.insert("plaintext_floor_frame_bytes".into(), json!(f.shape.up));
        out.insert("plaintext_floor_cpu_s_per_round".into(), cpu(f));
        line += &format!(
            " plain upload {n} × {:.2} MB: {secs:.3} s on the wire;",
            f.shape.up as f64 / 1e6,
        );
        if let Some(plain) = plain {
            out.insert("plaintext_vs_floor".into(), json!(secs / plain));
            line += &format!(
                " plain-fedavg {plain:.3} s reaches {:.0} % of that throughput (target ≥ 70 %);",
                100.0 * secs / plain
            );
        }
    }
    if let Some(f) = floors.get(2) {
        let secs = steady(&f.rounds_s);
        let plain = num(out, "plaintext_round_s");
        out.insert("plaintext_round_trip_floor_s".into(), json!(secs));
        out.insert(
            "plaintext_round_trip_floor_rounds_s".into(),
            json!(f.rounds_s),
        );
        out.insert(
            "plaintext_round_trip_floor_mb_s".into(),
            json!(rate(f, secs)),
        );
        out.insert(
            "plaintext_round_trip_down_bytes".into(),
            json!(f.shape.down),
        );
        out.insert("plaintext_round_trip_floor_cpu_s_per_round".into(), cpu(f));
        line += &format!(" with the model's download first: {secs:.3} s");
        if let Some(plain) = plain {
            out.insert("plaintext_vs_round_trip_floor".into(), json!(secs / plain));
            line += &format!(
                ", {:.0} % of plain-fedavg's throughput",
                100.0 * secs / plain
            );
        }
        line += ".";
    }
    eprintln!("{line}");
}

pub fn run(args: Args) -> Result<()> {
    match args.cmd {
        Cmd::Engine { ops, repeat, dir } => {
            let out = engine(ops, repeat, dir)?;
            println!("{out}");
            if out.get("correct").and_then(Value::as_bool) != Some(true) {
                bail!("the engine produced wrong results");
            }
            Ok(())
        }
        Cmd::Round(a) => {
            let out = round(&a)?;
            println!("{out}");
            Ok(())
        }
        Cmd::Sink(a) => floor::sink(a),
    }
}
