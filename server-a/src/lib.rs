//! Server A (leader): a thin async shell around `protocols::round::leader`.
//!
//! A holds the model and the test split, connects to B (pinned certificate),
//! accepts enrolled workers, runs the rounds, applies each round's update
//! (times the server learning rate), evaluates, and prints one JSON object per
//! round on stdout (logs go to stderr).
//!
//! For trust-based rules A also holds the proxy (root) set — the first
//! [`fl_ml::PROXY_EXAMPLES`] training examples, which workers never train on — and
//! computes the reference update ĝ₀ on it each round with the same local
//! training it announces to the workers. ĝ₀ never leaves A.
//!
//! With `--engine-selftest K` (secure rules), A first runs the session's 2PC
//! engine (`protocols::mpc::engine`, inside the pipeline) with B over the
//! same connection — fresh base OTs, IKNP, triples, K DReLUs and K
//! multiplications on random shared inputs, opened and checked — and prints
//! one `{"engine": …}` JSON line; the rounds follow on the same engine.
//!
//! With `--synthetic-dim D` (for `bench round`), A loads no data: the model is
//! D zeros, the session's model name is `synthetic`, nothing is evaluated
//! (`test_accuracy` is null), and robust rules get the reference update ĝ₀ of
//! round r from [`synthetic_reference`]`(seed, r, D)` — a public pseudo-random
//! direction from `--seed`, never a secret.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use fl_ml::data::load_mnist;
use fl_ml::model::{DEFAULT_CLIP, ModelKind, TrainConfig, evaluate, init_params};
use fl_ml::{proxy_set, proxy_update, rule_defaults};
use mpc_core::fixed::FixedParams;
use mpc_core::wire::{self, AToB, AToWorker, Aggregation, BToA, Limits, SessionInfo, WorkerToA};
use protocols::mpc::engine::{EngineOutput, EngineStats, SelfTestReport};
use protocols::round::leader::{Leader, LeaderAction, RoundOutcome};
use rand::SeedableRng;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant as TokioInstant;
use tracing::{error, info, warn};
use transport::hub::{Inbound, Outbox, PeerEvent};
use transport::{ByteCounter, Counters, Pki, TransportConfig};

/// Server A: leader of the two-server aggregation.
#[derive(Debug, Parser)]
#[command(name = "server-a", version)]
pub struct Args {
    /// Address to listen on for workers (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:4433")]
    listen: SocketAddr,
    /// Server B's address (needed by secure aggregation rules).
    #[arg(long)]
    peer_b: Option<SocketAddr>,
    /// Enrolment directory (server-a.crt/.key, server-b.crt, enrolled.json).
    #[arg(long, default_value = "pki")]
    pki: PathBuf,
    /// Directory holding the MNIST files.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Number of rounds [default: 20; 100 for trust-based rules].
    #[arg(long)]
    rounds: Option<u64>,
    /// Model: logreg, mlp or mlp:HIDDEN.
    #[arg(long, default_value = "mlp")]
    model: ModelKind,
    /// Aggregation rule.
    #[arg(long, default_value = "secure-fedavg")]
    aggregation: Aggregation,
    /// L2 clipping bound C for updates.
    #[arg(long, default_value_t = DEFAULT_CLIP)]
    clip: f32,
    /// Plain rules only: do not clip updates.
    #[arg(long)]
    no_clip: bool,
    /// Local epochs every worker (and A's proxy update) runs per round
    /// [default: 3].
    #[arg(long)]
    epochs: Option<u32>,
    /// Local minibatch size [default: 32].
    #[arg(long)]
    batch_size: Option<u32>,
    /// Local learning rate [default: 0.2].
    #[arg(long)]
    lr: Option<f32>,
    /// Server learning rate η: the model moves by η_t times the round's update
    /// [default: 1; 2 for trust-based rules].
    #[arg(long)]
    server_lr: Option<f32>,
    /// η_t = η / (1 + (t − 1)/T) in the t-th round of this run; 0 keeps η
    /// constant [default: 0; 25 for trust-based rules].
    #[arg(long)]
    server_lr_decay: Option<f32>,
    /// Trust-based rules: cosine threshold τ; updates with cos < τ get trust 0
    /// (default: none, trust = ReLU(cos)).
    #[arg(long)]
    cos_threshold: Option<f32>,
    /// Trust-based rules: fewest workers with positive trust for a round to
    /// update the model.
    #[arg(long, default_value_t = 3)]
    k_min: u32,
    /// Seed for the initial model (never for secrets).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Start the first round once this many workers have joined.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Seconds to wait for workers before starting anyway (with at least one).
    #[arg(long, default_value_t = 60.0)]
    start_timeout: f64,
    /// Seconds a round may take before it is closed with the updates that arrived.
    #[arg(long, default_value_t = 60.0)]
    round_timeout: f64,
    /// Ring width ℓ of the shares.
    #[arg(long, default_value_t = 18)]
    ring_bits: u32,
    /// Fractional bits f of the fixed-point encoding.
    #[arg(long, default_value_t = 16)]
    frac_bits: u32,
    /// Write the bound address to this file once listening.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Exit when standard input closes (used by launchers).
    #[arg(long)]
    exit_on_stdin_close: bool,
    /// After B is ready, run the 2PC engine self-test with B: K DReLUs and K
    /// multiplications on random shared inputs, all preprocessing (base OTs,
    /// IKNP, triples) inside the timing; prints one `{"engine": …}` JSON line,
    /// then continues (rounds start after it).
    #[arg(long, value_name = "K")]
    engine_selftest: Option<usize>,
    /// Benchmark mode: a model of D zeros (model name `synthetic`), no MNIST,
    /// no evaluation; robust rules use a pseudo-random reference update
    /// derived from `--seed` and the round (see `synthetic_reference`).
    #[arg(long, value_name = "D")]
    synthetic_dim: Option<usize>,
}

/// The synthetic reference update ĝ₀ of `round` for `--synthetic-dim`: `dim`
/// coordinates uniform in [−1, 1) from a PRG seeded by (`seed`, `round`).
/// Public (benchmark workers recompute it to aim their updates); it comes from
/// `--seed`, never from a secret.
pub fn synthetic_reference(seed: u64, round: u64, dim: usize) -> Vec<f32> {
    use rand::RngExt;
    let mut rng = rand::rngs::StdRng::seed_from_u64(
        seed ^ 0x5e17_ae7c_0000_0000 ^ round.wrapping_mul(0x9e37_79b9_7f4a_7c15),
    );
    (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Peer {
    ServerB,
    Worker(u32),
}

/// Runs the process until it finishes or is told to stop.
pub async fn run(args: Args) -> Result<()> {
    let synthetic = args.synthetic_dim;
    let trust_based = args.aggregation.is_trust_based();
    let (test, proxy) = if synthetic.is_some() {
        (None, None)
    } else {
        let (train, test) = load_mnist(&args.data_dir)
            .with_context(|| format!("loading MNIST from {}", args.data_dir.display()))?;
        // The same examples the workers leave out (see `fl_ml::worker_indices`).
        let proxy = if trust_based {
            Some(proxy_set(&train).context("loading the proxy set")?)
        } else {
            None
        };
        (Some(test), proxy)
    };
    let defaults = rule_defaults(args.aggregation);
    let train_cfg = TrainConfig {
        epochs: args.epochs.map_or(defaults.train.epochs, |e| e as usize),
        batch_size: args
            .batch_size
            .map_or(defaults.train.batch_size, |b| b as usize),
        lr: args.lr.unwrap_or(defaults.train.lr),
    };
    let server_lr = args.server_lr.unwrap_or(defaults.server_lr);
    if !(server_lr.is_finite() && server_lr > 0.0) {
        bail!("--server-lr must be a positive number");
    }
    if args
        .server_lr_decay
        .is_some_and(|t| !(t.is_finite() && t >= 0.0))
    {
        bail!("--server-lr-decay must be a non-negative number of rounds (0: constant η)");
    }
    let server_lr_decay = args
        .server_lr_decay
        .map_or(defaults.server_lr_decay, |t| (t > 0.0).then_some(t));
    let rounds = args.rounds.unwrap_or(defaults.rounds);
    if args.cos_threshold.is_some() && !trust_based {
        bail!(
            "--cos-threshold applies to trust-based rules (plain-fltrust); {} has no threshold",
            args.aggregation
        );
    }
    if args
        .cos_threshold
        .is_some_and(|t| !(-1.0..=1.0).contains(&t))
    {
        bail!("--cos-threshold must be in [-1, 1]");
    }
    if args.k_min == 0 {
        bail!("--k-min must be at least 1");
    }
    let fixed = FixedParams::new(args.ring_bits, args.frac_bits)?;
    let clip = if args.no_clip {
        if args.aggregation.is_secure() {
            bail!("--no-clip is only available with plain aggregation rules");
        }
        0.0
    } else {
        args.clip
    };
    if !(clip.is_finite() && clip >= 0.0) {
        bail!("--clip must be a non-negative number");
    }
    if args.engine_selftest.is_some() && !args.aggregation.is_secure() {
        bail!("--engine-selftest needs a secure rule (the session's 2PC engine runs it)");
    }
    let kind = args.model;
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let mut model = init_params(kind, &mut rng);
    if let Some(d) = synthetic {
        model = vec![0.0; d];
    }
    let session = SessionInfo {
        model: match synthetic {
            Some(_) => "synthetic".into(),
            None => kind.to_string(),
        },
        dim: u32::try_from(model.len()).context("model too large")?,
        fixed,
        aggregation: args.aggregation,
        // Trust-based rules normalise to unit norm; a clip bound means nothing there.
        clip: if trust_based { 0.0 } else { clip },
        train: wire::TrainParams::try_from(&train_cfg).context("training parameters")?,
        cos_threshold: args.cos_threshold,
        k_min: args.k_min,
    };
    info!(
        aggregation = %args.aggregation,
        epochs = train_cfg.epochs,
        batch_size = train_cfg.batch_size,
        lr = train_cfg.lr,
        server_lr,
        server_lr_decay = server_lr_decay.unwrap_or(0.0),
        rounds,
        proxy_examples = proxy.as_ref().map_or(0, |p| p.len()),
        "session parameters"
    );
    if session.aggregation.is_secure() {
        // Refuse parameters the secure rules cannot run with (precision,
        // dimension, clip bound) at start, not in every round.
        protocols::robust::submit::RobustSetup::new(&session)
            .context("parameters for the secure rule")?;
    }
    let pki = Pki::new(&args.pki);
    let identity = pki.load_server_a().context("loading server A's identity")?;
    let enrolled = pki.load_enrolled().context("loading enrolled workers")?;
    let cfg = TransportConfig::protocol();
    let limits = Limits {
        max_frame: cfg.max_frame,
        max_dim: wire::DEFAULT_MAX_DIM.max(model.len()),
    };
    let endpoint =
        transport::server_endpoint(args.listen, &identity, enrolled.fingerprints(), &cfg)
            .context("starting the QUIC endpoint")?;
    // Small and bounded: readers wait (and QUIC flow control pushes back) while
    // the state machine is busy, instead of frames piling up in memory.
    let (tx, rx) = mpsc::channel(64);

    // Link to B first: workers are only useful once B is there.
    let between = (ByteCounter::new(), ByteCounter::new());
    if args.aggregation.is_secure() {
        let addr = args
            .peer_b
            .context("--peer-b is required for secure aggregation")?;
        let b_fp = pki
            .server_b_fingerprint()
            .context("loading server B's certificate")?;
        let conn = transport::connect(&endpoint, addr, b_fp, &cfg)
            .await
            .with_context(|| format!("connecting to server B at {addr}"))?;
        let counters = Counters::new(between.0.clone(), between.1.clone());
        let (writer, reader) = transport::open_bi(&conn, &cfg, &counters).await?;
        tokio::spawn(transport::hub::attach(
            conn,
            writer,
            reader,
            Peer::ServerB,
            0,
            tx.clone(),
        ));
        info!(%addr, "connected to server B");
    }

    let addr = endpoint.local_addr()?;
    if let Some(f) = &args.ready_file {
        transport::node::write_ready_file(f, addr)?;
    }
    info!(%addr, dim = model.len(), aggregation = %args.aggregation, "server A listening");
    let identify = move |fp: &transport::Fingerprint| enrolled.worker_id(fp).map(Peer::Worker);
    tokio::spawn(transport::hub::serve(
        endpoint.clone(),
        identify,
        cfg,
        Counters::none(),
        tx,
    ));

    let mut shell = Shell {
        leader: Leader::new(session.clone()),
        kind,
        test,
        proxy,
        train_cfg,
        server_lr,
        server_lr_decay,
        seed: args.seed,
        rounds,
        limits,
        b: None,
        b_ready: None,
        workers: HashMap::new(),
        welcomed: BTreeSet::new(),
        between,
        round_started: None,
        deadline: None,
        round_seconds_timeout: Duration::from_secs_f64(args.round_timeout),
        synthetic_seed: synthetic.map(|_| args.seed),
        finished: Vec::new(),
        selftest: args
            .engine_selftest
            .map_or(SelfTest::Off, SelfTest::Pending),
    };
    let stdin_gone = async {
        if args.exit_on_stdin_close {
            transport::node::stdin_closed().await
        } else {
            std::future::pending().await
        }
    };
    let result = tokio::select! {
        r = shell.run(rx, &args, &mut model) => r,
        _ = transport::node::shutdown_signal() => Ok(()),
        _ = stdin_gone => Ok(()),
    };
    for (_, o) in shell.workers.values() {
        o.close("training finished");
    }
    endpoint.close(transport::quinn::VarInt::from_u32(0), b"server A done");
    transport::hub::drain(&endpoint, Duration::from_secs(1)).await;
    result
}

struct Shell {
    leader: Leader,
    kind: ModelKind,
    /// `None` in synthetic mode (nothing is evaluated).
    test: Option<fl_ml::data::Dataset>,
    /// Trust-based rules: the proxy (root) set ĝ₀ is trained on.
    proxy: Option<fl_ml::data::Dataset>,
    train_cfg: TrainConfig,
    server_lr: f32,
    server_lr_decay: Option<f32>,
    seed: u64,
    rounds: u64,
    limits: Limits,
    b: Option<Outbox>,
    /// `Some(last_revealed)` once B answered Hello.
    b_ready: Option<u64>,
    workers: HashMap<u32, (u64, Outbox)>,
    welcomed: BTreeSet<u32>,
    between: (ByteCounter, ByteCounter),
    round_started: Option<Instant>,
    deadline: Option<TokioInstant>,
    round_seconds_timeout: Duration,
    /// `Some(seed)` with `--synthetic-dim`: the reference comes from `synthetic_reference`.
    synthetic_seed: Option<u64>,
    finished: Vec<RoundOutcome>,
    selftest: SelfTest,
}

/// Progress of `--engine-selftest`.
enum SelfTest {
    Off,
    /// Starts once B is ready.
    Pending(usize),
    Running {
        started: Instant,
        deadline: TokioInstant,
        /// Seconds until A had its outputs (before the opening).
        computed: Option<f64>,
    },
    Done,
}

impl SelfTest {
    fn busy(&self) -> bool {
        matches!(self, SelfTest::Pending(_) | SelfTest::Running { .. })
    }
}

fn send_to_b(b: &Option<Outbox>, msg: &AToB) {
    match (b, wire::encode(msg)) {
        (Some(b), Ok(f)) => {
            b.send(f);
        }
        _ => error!("cannot send to server B"),
    }
}

/// The `{"engine": …}` line of `--engine-selftest`.
fn selftest_json(
    report: &SelfTestReport,
    stats: &EngineStats,
    seconds: f64,
    with_check: f64,
) -> serde_json::Value {
    let bytes = |t: protocols::mpc::arith::Traffic| t.total_bytes();
    json!({"engine": {
        "ops": report.ops,
        "seconds": seconds,
        "seconds_with_check": with_check,
        "bytes_per_drelu": stats.bytes_per_drelu(),
        "bytes_per_mult": stats.bytes_per_mult(),
        "cot_per_s": stats.ots_extended() as f64 / seconds.max(1e-9),
        "ots": stats.ots_extended(),
        "bytes_total": stats.total().total_bytes(),
        "messages_total": stats.total().messages_sent + stats.total().messages_received,
        "bytes": {
            "base_ot": bytes(stats.base_ot),
            "iknp": bytes(stats.iknp),
            "triples": bytes(stats.triples),
            "mult": bytes(stats.mult),
            "drelu": bytes(stats.drelu),
            "control": bytes(stats.control),
        },
        "correct": report.correct(),
        "drelu_wrong": report.drelu_wrong,
        "mult_wrong": report.mult_wrong,
    }})
}

impl Shell {
    async fn run(
        &mut self,
        mut rx: mpsc::Receiver<Inbound<Peer>>,
        args: &Args,
        model: &mut [f32],
    ) -> Result<()> {
        let secure = args.aggregation.is_secure();
        let start_by = TokioInstant::now() + Duration::from_secs_f64(args.start_timeout);
        let mut next_round = 0u64;
        let mut rounds_done = 0u64;
        let mut results = Vec::new();
        let initial = match &self.test {
            Some(test) => Some(evaluate(self.kind, model, test)?.accuracy),
            None => None,
        };
        info!(accuracy = initial, "initial model evaluated");
        loop {
            // Start a round when idle and enough workers (and B) are ready.
            let idle = self.leader.open_round().is_none();
            let b_ok = !secure || (self.b_ready.is_some() && !self.selftest.busy());
            if idle && rounds_done >= self.rounds && !self.selftest.busy() {
                break;
            }
            if let SelfTest::Running { deadline, .. } = self.selftest
                && TokioInstant::now() >= deadline
            {
                bail!("the engine self-test did not finish within 60 s");
            }
            let enough = self.welcomed.len() >= args.workers
                || (TokioInstant::now() >= start_by && !self.welcomed.is_empty());
            if idle && b_ok && enough {
                if next_round == 0 {
                    next_round = self.b_ready.unwrap_or(0) + 1;
                }
                let round = next_round;
                next_round += 1;
                self.between.0.take();
                self.between.1.take();
                self.round_started = Some(Instant::now());
                self.deadline = Some(TokioInstant::now() + self.round_seconds_timeout);
                info!(round, workers = self.welcomed.len(), "starting round");
                let reference = match self.synthetic_seed {
                    Some(seed) => Some(synthetic_reference(seed, round, model.len())),
                    None => self.reference_update(round, model)?,
                };
                let acts = self
                    .leader
                    .start_round(round, model, self.welcomed.clone(), reference);
                self.perform(acts);
                continue;
            }
            if idle && TokioInstant::now() >= start_by && self.welcomed.is_empty() {
                bail!("no worker joined within {} s", args.start_timeout);
            }
            let mut wake = self
                .deadline
                .unwrap_or(start_by.max(TokioInstant::now() + Duration::from_millis(200)));
            if let SelfTest::Running { deadline, .. } = self.selftest {
                wake = wake.min(deadline);
            }
            tokio::select! {
                ev = rx.recv() => {
                    let Some(ev) = ev else { bail!("event channel closed") };
                    self.on_event(ev)?;
                }
                _ = tokio::time::sleep_until(wake) => {
                    if let (Some(round), Some(d)) = (self.leader.open_round(), self.deadline)
                        && TokioInstant::now() >= d
                    {
                        // Give B a second deadline to answer the close.
                        self.deadline = Some(TokioInstant::now() + self.round_seconds_timeout);
                        let acts = self.leader.on_deadline(round);
                        self.perform(acts);
                    }
                }
            }
            for outcome in std::mem::take(&mut self.finished) {
                rounds_done += 1;
                self.deadline = None;
                let line = self.complete(outcome, model, rounds_done)?;
                results.push(line);
            }
        }
        self.broadcast(&AToWorker::Finished);
        let final_acc = results
            .last()
            .and_then(|l: &serde_json::Value| l["test_accuracy"].as_f64())
            .or(initial);
        println!(
            "{}",
            json!({"done": true, "rounds": rounds_done, "final_test_accuracy": final_acc})
        );
        // Let the Finished frames reach the workers.
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(())
    }

    /// Trust-based rules: A's update ĝ₀ on its proxy set for `model`, trained
    /// exactly as the workers train (its randomness comes from `--seed` and the
    /// round; it is not a secret).
    fn reference_update(&self, round: u64, model: &[f32]) -> Result<Option<Vec<f32>>> {
        let Some(proxy) = &self.proxy else {
            return Ok(None);
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(
            self.seed ^ 0x7072_6f78_7900_0000 ^ round.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        let started = Instant::now();
        let g0 = proxy_update(self.kind, model, proxy, &self.train_cfg, &mut rng)
            .context("computing the proxy update")?;
        info!(
            round,
            norm = protocols::fedavg::l2_norm(&g0),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "reference update computed"
        );
        Ok(Some(g0))
    }

    /// Applies the outcome of the `t`-th round of this run (from 1) to the
    /// model with η_t ([`fl_ml::server_lr_at`]) and reports it.
    fn complete(
        &mut self,
        o: RoundOutcome,
        model: &mut [f32],
        t: u64,
    ) -> Result<serde_json::Value> {
        let eta = fl_ml::server_lr_at(self.server_lr, self.server_lr_decay, t);
        if let Some(update) = &o.mean_update {
            for (w, u) in model.iter_mut().zip(update) {
                *w += eta * *u;
            }
        }
        let seconds = self
            .round_started
            .take()
            .map(|t| t.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        let eval = match &self.test {
            Some(test) => Some(evaluate(self.kind, model, test)?),
            None => None,
        };
        let (accuracy, loss) = (eval.map(|e| e.accuracy), eval.map(|e| e.loss));
        let between = self.between.0.take() + self.between.1.take();
        let mut line = json!({
            "round": o.round,
            "test_accuracy": accuracy,
            "test_loss": loss,
            "accepted": o.accepted.len(),
            "rejected": o.rejected.len(),
            "rejected_reasons": o.rejected.iter().map(|(w, r)| (w.to_string(), serde_json::Value::String(r.clone()))).collect::<serde_json::Map<_, _>>(),
            "zero_trust": o.zero_trust_count,
            "updated": o.mean_update.is_some(),
            "server_lr": eta,
            "note": o.note,
            "seconds": seconds,
            "bytes_worker_to_servers": o.bytes_from_workers_a + o.bytes_from_workers_b,
            "bytes_between_servers": between,
        });
        // Plain rules show A every update anyway; for them the zero-trust ids
        // are no extra leakage (secure rules reveal only the count).
        if !self.leader.session().aggregation.is_secure()
            && self.leader.session().aggregation.is_trust_based()
        {
            line["zero_trust_workers"] = json!(o.zero_trust);
        }
        for (w, reason) in &o.rejected {
            warn!(round = o.round, worker = w, %reason, "worker rejected this round");
        }
        info!(
            round = o.round,
            accuracy,
            accepted = o.accepted.len(),
            rejected = o.rejected.len(),
            zero_trust = o.zero_trust_count,
            seconds,
            "round complete"
        );
        println!("{line}");
        Ok(line)
    }

    fn on_event(&mut self, ev: Inbound<Peer>) -> Result<()> {
        let Inbound {
            peer,
            conn_id,
            event,
        } = ev;
        match (peer, event) {
            (Peer::ServerB, PeerEvent::Connected(outbox)) => {
                let hello = AToB::Hello {
                    session: self.leader.session().clone(),
                };
                if let Ok(f) = wire::encode(&hello) {
                    outbox.send(f);
                }
                self.b = Some(outbox);
            }
            (Peer::ServerB, PeerEvent::Closed(e)) => {
                bail!(
                    "lost the connection to server B{}",
                    e.map(|e| format!(": {e}")).unwrap_or_default()
                );
            }
            (Peer::ServerB, PeerEvent::Frame { payload, .. }) => {
                match wire::decode::<BToA>(&payload, &self.limits) {
                    Ok(BToA::Ready { last_revealed }) => {
                        info!(last_revealed, "server B is ready");
                        self.b_ready = Some(last_revealed);
                        if let SelfTest::Pending(k) = self.selftest {
                            self.start_selftest(k)?;
                        }
                    }
                    // The engine lives in the leader's pipeline (also for the self-test).
                    Ok(msg) => {
                        let acts = self.leader.on_b(msg);
                        self.perform(acts);
                        self.on_selftest()?;
                    }
                    Err(e) => error!(error = %e, "undecodable message from server B"),
                }
            }
            (Peer::Worker(id), PeerEvent::Connected(outbox)) => {
                if let Some((_, old)) = self.workers.insert(id, (conn_id, outbox)) {
                    old.close("replaced by a newer connection");
                }
            }
            (Peer::Worker(id), PeerEvent::Closed(e)) => {
                if self.workers.get(&id).is_some_and(|(c, _)| *c == conn_id) {
                    self.workers.remove(&id);
                    self.welcomed.remove(&id);
                }
                match e {
                    Some(transport::TransportError::PeerClosed(reason)) => {
                        info!(worker = id, %reason, "worker closed its connection")
                    }
                    Some(e) => warn!(worker = id, error = %e, "worker connection failed"),
                    None => info!(worker = id, "worker disconnected"),
                }
            }
            (
                Peer::Worker(id),
                PeerEvent::Frame {
                    payload,
                    wire_bytes,
                },
            ) => {
                let acts = match wire::decode::<WorkerToA>(&payload, &self.limits) {
                    Ok(msg) => {
                        let hello = matches!(msg, WorkerToA::Hello { worker } if worker == id);
                        let acts = self.leader.on_worker(id, msg, wire_bytes);
                        if hello {
                            self.welcomed.insert(id);
                        }
                        acts
                    }
                    Err(e) => {
                        warn!(worker = id, error = %e, "rejecting undecodable frame");
                        vec![LeaderAction::ToWorker {
                            worker: id,
                            msg: AToWorker::Reject {
                                round: 0,
                                reason: format!("undecodable frame: {e}"),
                            },
                        }]
                    }
                };
                self.perform(acts);
            }
        }
        Ok(())
    }

    /// Starts the engine self-test on the session's engine (its base OTs
    /// run from here: the leader holds the engine's frames until now).
    fn start_selftest(&mut self, k: usize) -> Result<()> {
        let started = Instant::now();
        let acts = self
            .leader
            .start_selftest(k)
            .map_err(|e| anyhow::anyhow!("engine self-test: {e}"))?;
        self.perform(acts);
        self.selftest = SelfTest::Running {
            started,
            deadline: TokioInstant::now() + Duration::from_secs(60),
            computed: None,
        };
        info!(ops = k, "engine self-test started");
        Ok(())
    }

    /// Reports the engine self-test's progress after a message from B.
    fn on_selftest(&mut self) -> Result<()> {
        let SelfTest::Running {
            started, computed, ..
        } = &mut self.selftest
        else {
            return Ok(());
        };
        let stats = match self.leader.engine_stats() {
            Ok(s) => s,
            // Debug formatting escapes control characters in a peer's abort reason.
            Err(e) => bail!("the 2PC engine failed: {e:?}"),
        };
        for out in self.leader.take_selftest() {
            match out {
                EngineOutput::SelfTestComputed { .. } => {
                    *computed = Some(started.elapsed().as_secs_f64());
                }
                EngineOutput::SelfTest { report, .. } => {
                    let with_check = started.elapsed().as_secs_f64();
                    let seconds = computed.unwrap_or(with_check);
                    println!("{}", selftest_json(&report, &stats, seconds, with_check));
                    info!(
                        ops = report.ops,
                        seconds,
                        correct = report.correct(),
                        "engine self-test done"
                    );
                    self.selftest = SelfTest::Done;
                    if !report.correct() {
                        bail!("the engine self-test opened wrong results: {report:?}");
                    }
                    return Ok(());
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn to_b(&self, msg: &AToB) {
        send_to_b(&self.b, msg);
    }

    fn perform(&mut self, acts: Vec<LeaderAction>) {
        for a in acts {
            match a {
                LeaderAction::ToWorker { worker, msg } => self.to_worker(worker, &msg),
                LeaderAction::Broadcast(msg) => self.broadcast(&msg),
                LeaderAction::ToB(msg) => self.to_b(&msg),
                LeaderAction::Complete(o) => self.finished.push(o),
            }
        }
    }

    fn to_worker(&self, worker: u32, msg: &AToWorker) {
        if let (Some((_, o)), Ok(f)) = (self.workers.get(&worker), wire::encode(msg)) {
            o.send(f);
        }
    }

    fn broadcast(&self, msg: &AToWorker) {
        let Ok(f) = wire::encode(msg) else {
            error!("encoding a broadcast failed");
            return;
        };
        for id in &self.welcomed {
            if let Some((_, o)) = self.workers.get(id) {
                o.send(f.clone());
            }
        }
    }
}
