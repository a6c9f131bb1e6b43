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

mod cli;
mod report;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fl_ml::data::{Dataset, load_mnist};
use fl_ml::model::{ModelKind, evaluate};
use fl_ml::{proxy_set, proxy_update, public_rng};
use mpc_core::codec::{DEFAULT_MAX_DIM, Limits};
use mpc_core::prg::{Purpose, Seed};
use protocols::round::leader::{Leader, LeaderAction, LeaderConfig, RoundOutcome};
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;

pub use cli::{Args, parse, rule_names};
use cli::{Plan, plan};
use tokio::sync::mpsc;
use tracing::{info, warn};
use transport::hub::{Inbound, Peers, Seen};
use transport::{ByteCounter, Counters, Pki, TransportConfig};

/// The synthetic reference update ĝ₀ of `round` for `--synthetic-dim`: `dim`
/// coordinates uniform in [−1, 1) from a PRG keyed by (`seed`, `round`) in
/// the `SyntheticReference` domain. Public (benchmark workers recompute it
/// to aim their updates); it comes from `--seed`, never from a secret.
pub fn synthetic_reference(seed: u64, round: u64, dim: usize) -> Vec<f32> {
    use rand::RngExt;
    let mut rng = public_rng(seed, Purpose::SyntheticReference, round, 0);
    (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Peer {
    ServerB,
    Worker(u32),
}

/// Runs the process until it finishes or is told to stop.
pub async fn run(args: Args) -> Result<()> {
    let plan = plan(&args)?;
    let threads =
        transport::node::init_work_pool(args.threads.and_then(|t| usize::try_from(t).ok()));
    let (test, proxy) = match args.synthetic_dim {
        Some(_) => (None, None),
        None => {
            let (train, test) = load_mnist(&args.data_dir)
                .with_context(|| format!("loading MNIST from {}", args.data_dir.display()))?;
            // The same examples the workers leave out (see `fl_ml::worker_indices`).
            let proxy = if args.aggregation.is_trust_based() {
                Some(proxy_set(&train).context("loading the proxy set")?)
            } else {
                None
            };
            (Some(test), proxy)
        }
    };
    info!(
        aggregation = %args.aggregation,
        epochs = plan.train.epochs,
        batch_size = plan.train.batch_size,
        lr = plan.train.lr,
        server_lr = plan.server_lr,
        server_lr_decay = plan.server_lr_decay.unwrap_or(0.0),
        rounds = plan.rounds,
        proxy_examples = proxy.as_ref().map_or(0, |p| p.len()),
        "session parameters"
    );
    let pki = Pki::new(&args.pki);
    let identity = pki.load_server_a().context("loading server A's identity")?;
    let enrolled = pki.load_enrolled().context("loading enrolled workers")?;
    let cfg = TransportConfig {
        // A pin mismatch then names the certificate the server presented.
        known_certs: pki
            .known_certs()
            .context("loading the servers' certificates")?,
        ..TransportConfig::protocol()
    };
    let limits = Limits {
        max_frame: cfg.max_frame,
        max_dim: DEFAULT_MAX_DIM.max(plan.model.len()),
    };
    // The workers' connections are under the memory budget; the link to B
    // (a client connection with `cfg`) is not.
    let budget = args.memory_budget << 20;
    let worker_cfg = cfg.clone().with_memory_budget(budget, enrolled.len());
    let endpoint =
        transport::server_endpoint(args.listen, &identity, enrolled.fingerprints(), &worker_cfg)
            .context("starting the QUIC endpoint")?;
    // Small and bounded: readers wait (and QUIC flow control pushes back) while
    // the state machine is busy, instead of frames piling up in memory.
    let (tx, rx) = mpsc::channel(64);

    // Link to B first: workers are only useful once B is there.
    let between = (ByteCounter::new(), ByteCounter::new());
    if args.aggregation.is_secure() {
        let peer_b = args
            .peer_b
            .as_ref()
            .context("--peer-b is required for secure aggregation")?;
        // The link to B leaves from the workers' socket: an address of its family.
        let addr = peer_b.resolve("--peer-b", Some(args.listen)).await?;
        let own = endpoint.local_addr()?;
        if addr == own
            || (own.ip().is_unspecified() && addr.port() == own.port() && addr.ip().is_loopback())
        {
            bail!(
                "--peer-b {peer_b} is server A's own --listen address {own}: give server B's \
                 address (are the two ports swapped?)"
            );
        }
        if args.listen.ip().is_loopback() && !addr.ip().is_loopback() {
            bail!(
                "--peer-b {peer_b} is {addr}, which server A cannot reach from --listen {} \
                 (a loopback address): listen on 0.0.0.0 or this host's address",
                args.listen
            );
        }
        let b_fp = pki
            .server_b_fingerprint()
            .context("loading server B's certificate")?;
        let conn = connect_b(&endpoint, peer_b, addr, b_fp, &cfg, args.peer_b_wait()).await?;
        let counters = Counters::new(between.0.clone(), between.1.clone());
        let (writer, reader) = transport::open_bi(&conn, &cfg, &counters).await?;
        let hub = transport::hub::attach(conn, writer, reader, Peer::ServerB, 0, tx.clone());
        tokio::spawn(hub);
        info!(%addr, "connected to server B");
    }

    let addr = endpoint.local_addr()?;
    if let Some(f) = &args.ready_file {
        transport::node::write_ready_file(f, addr)?;
    }
    info!(%addr, dim = plan.model.len(), aggregation = %args.aggregation, "server A listening");
    let identify = move |fp: &transport::Fingerprint| enrolled.worker_id(fp).map(Peer::Worker);
    tokio::spawn(transport::hub::serve(
        endpoint.clone(),
        identify,
        worker_cfg,
        Counters::none(),
        tx,
        Some(transport::FrameBudget::of_memory_budget(budget)),
    ));

    let leader = Leader::new(
        LeaderConfig {
            session: plan.session.clone(),
            limits,
            rounds: plan.rounds,
            min_workers: args.workers,
            start_timeout: Duration::from_secs_f64(args.start_timeout),
            round_timeout: Duration::from_secs_f64(args.round_timeout),
            selftest_ops: args.engine_selftest,
            // The session's secret randomness (its 2PC engine): from the OS.
            seed: Seed::from_rng(&mut UnwrapErr(SysRng)),
        },
        Instant::now(),
    );
    let mut shell = Shell {
        leader,
        peers: Peers::new(),
        kind: args.model,
        test,
        proxy,
        synthetic_seed: args.synthetic_dim.map(|_| args.seed),
        seed: args.seed,
        between,
        round_started: Instant::now(),
        last_accuracy: None,
        start_line: report::start_line(&plan, &args),
        plan,
        threads,
    };
    let result = transport::node::until_stopped(args.exit_on_stdin_close, shell.run(rx)).await;
    // The workers print this reason when their connection ends without `Finished`.
    match &result {
        Some(Ok(())) => shell.peers.close_all(DONE, "training finished"),
        Some(Err(e)) => shell
            .peers
            .close_all(FAILED, &format!("server A stopped: {e:#}")),
        None => shell
            .peers
            .close_all(FAILED, "server A was stopped before training finished"),
    }
    let result = result.unwrap_or(Ok(()));
    transport::node::close_and_drain(&endpoint, "server A done").await;
    result
}

/// Application close codes towards workers and B: training over, or A
/// stopped early (the close reason says why).
const DONE: u32 = 0;
const FAILED: u32 = 1;

/// First pause between attempts to reach B, and the longest.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Connects to server B at `addr`, retrying for up to `wait` (pauses from
/// [`RETRY_FIRST`] doubling to [`RETRY_MAX`]; a handshake attempt gives up
/// after 1 s, doubling up to the configured handshake timeout), so A may
/// start before B. A server that answers with the wrong certificate, or
/// aborts the handshake, is not retried: waiting cannot fix that.
async fn connect_b(
    endpoint: &transport::quinn::Endpoint,
    peer_b: &transport::HostPort,
    addr: std::net::SocketAddr,
    b_fp: transport::Fingerprint,
    cfg: &TransportConfig,
    wait: Duration,
) -> Result<transport::quinn::Connection> {
    let started = Instant::now();
    let mut pause = RETRY_FIRST;
    let mut attempt_timeout = Duration::from_secs(1).min(cfg.handshake_timeout);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        info!(attempt, %addr, "connecting to server B");
        let left = wait.saturating_sub(started.elapsed());
        let try_cfg = TransportConfig {
            handshake_timeout: attempt_timeout.min(left.max(Duration::from_millis(100))),
            ..cfg.clone()
        };
        let e = match transport::connect(endpoint, addr, b_fp, &try_cfg).await {
            Ok(conn) => {
                // The endpoint's windows are sized for the workers'
                // memory budget; the link to B is outside it.
                if let Ok(w) = transport::quinn::VarInt::from_u64(cfg.receive_window) {
                    conn.set_receive_window(w);
                }
                return Ok(conn);
            }
            // Wrong server, an unusable address, or B refusing us (say, A's
            // certificate is not the one B has): retrying cannot help.
            Err(
                e @ (transport::TransportError::WrongServer { .. }
                | transport::TransportError::Connect(_)
                | transport::TransportError::Handshake {
                    error: transport::quinn::ConnectionError::ConnectionClosed(_),
                    ..
                }),
            ) => {
                return Err(e)
                    .with_context(|| format!("connecting to server B (--peer-b {peer_b})"));
            }
            Err(e) => e,
        };
        let left = wait.saturating_sub(started.elapsed());
        if left.is_zero() {
            bail!(
                "server B did not answer at --peer-b {peer_b} ({addr}) within {} s ({attempt} attempts; last: {e}): \
                 start server B, check that its --listen matches, or raise --peer-b-wait",
                wait.as_secs_f64()
            );
        }
        info!(attempt, error = %e, retry_in_s = pause.min(left).as_secs_f64(), "server B not reachable yet");
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 2).min(RETRY_MAX);
        attempt_timeout = (attempt_timeout * 2).min(cfg.handshake_timeout);
    }
}

struct Shell {
    leader: Leader,
    peers: Peers<Peer>,
    plan: Plan,
    kind: ModelKind,
    /// `None` in synthetic mode (nothing is evaluated).
    test: Option<Dataset>,
    /// Trust-based rules: the proxy (root) set ĝ₀ is trained on.
    proxy: Option<Dataset>,
    /// `Some(seed)` with `--synthetic-dim`: the reference comes from `synthetic_reference`.
    synthetic_seed: Option<u64>,
    seed: u64,
    between: (ByteCounter, ByteCounter),
    round_started: Instant,
    last_accuracy: Option<f64>,
    /// The `{"start": …}` line, printed once the initial model is evaluated.
    start_line: serde_json::Value,
    /// Threads of the rayon pool the leader's per-worker work runs on.
    threads: usize,
}

impl Shell {
    /// The event loop: frames and connection events in, the leader's
    /// actions out, sleeping until the leader's next deadline.
    async fn run(&mut self, mut rx: mpsc::Receiver<Inbound<Peer>>) -> Result<()> {
        self.last_accuracy = self.evaluate()?.map(|(accuracy, _)| accuracy);
        info!(accuracy = self.last_accuracy, "initial model evaluated");
        self.start_line["start"]["initial_test_accuracy"] = self.last_accuracy.into();
        println!("{}", self.start_line);
        let mut queue = VecDeque::new();
        loop {
            while let Some(action) = queue.pop_front() {
                if let LeaderAction::Finished = action {
                    return self.finish().await;
                }
                // What an action causes (a started round's messages) goes first.
                for a in self.perform(action)?.into_iter().rev() {
                    queue.push_front(a);
                }
            }
            let pending = self.leader.pending_work();
            if pending > 0 {
                // Frames already here first (up to one worker's work per
                // thread; their actions go out at once), then the work they
                // made possible, at once.
                match rx.try_recv() {
                    Ok(ev) if pending < self.threads => queue.extend(self.on_event(ev)),
                    Ok(ev) => {
                        queue.extend(self.leader.poll_work(Instant::now()));
                        queue.extend(self.on_event(ev));
                    }
                    Err(_) => queue.extend(self.leader.poll_work(Instant::now())),
                }
                continue;
            }
            let wake = self
                .leader
                .poll_timeout()
                .map(tokio::time::Instant::from_std);
            let acts = tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ev) => self.on_event(ev),
                    None => bail!("event channel closed"),
                },
                _ = sleep_until(wake) => self.leader.handle_timeout(Instant::now()),
            };
            queue.extend(acts);
        }
    }

    fn on_event(&mut self, ev: Inbound<Peer>) -> Vec<LeaderAction> {
        let now = Instant::now();
        match self.peers.on_event(ev) {
            Seen::Joined(Peer::ServerB) => self.leader.b_connected(),
            Seen::Left {
                peer: Peer::ServerB,
                error,
            } => self.leader.b_closed(error.map(|e| e.to_string())),
            Seen::Left {
                peer: Peer::Worker(id),
                ..
            } => {
                self.leader.worker_closed(id);
                Vec::new()
            }
            Seen::Frame {
                peer: Peer::ServerB,
                payload,
                ..
            } => self.leader.handle_b_frame(now, &payload),
            Seen::Frame {
                peer: Peer::Worker(id),
                payload,
                wire_bytes,
                ..
            } => self
                .leader
                .handle_worker_frame(now, id, &payload, wire_bytes),
            Seen::Joined(Peer::Worker(_)) | Seen::Nothing => Vec::new(),
        }
    }

    /// Carries out one action; returns the actions it caused.
    fn perform(&mut self, action: LeaderAction) -> Result<Vec<LeaderAction>> {
        match action {
            LeaderAction::ToWorker { worker, msg } => self.peers.send(&Peer::Worker(worker), &msg),
            LeaderAction::Broadcast { to, msg } => {
                self.peers.broadcast(to.into_iter().map(Peer::Worker), &msg)
            }
            LeaderAction::ToB(msg) => self.peers.send(&Peer::ServerB, &msg),
            LeaderAction::StartRound { round } => return self.start_round(round),
            LeaderAction::Complete(o) => self.complete(o)?,
            LeaderAction::SelfTest(summary) => println!("{}", report::selftest_json(&summary)),
            LeaderAction::Finished => {}
            LeaderAction::Fail(e) => return Err(e.into()),
        }
        Ok(Vec::new())
    }

    fn start_round(&mut self, round: u64) -> Result<Vec<LeaderAction>> {
        self.between.0.take();
        self.between.1.take();
        self.round_started = Instant::now();
        let reference = match self.synthetic_seed {
            Some(seed) => Some(synthetic_reference(seed, round, self.plan.model.len())),
            None => self.reference_update(round)?,
        };
        let now = Instant::now();
        Ok(self
            .leader
            .start_round(now, round, &self.plan.model, reference))
    }

    /// Tells the workers training is over and prints the last line.
    async fn finish(&mut self) -> Result<()> {
        println!(
            "{}",
            report::done_line(self.leader.rounds_done(), self.last_accuracy)
        );
        // Let the Finished frames reach the workers.
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(())
    }

    fn evaluate(&self) -> Result<Option<(f64, f64)>> {
        Ok(match &self.test {
            Some(test) => {
                let e = evaluate(self.kind, &self.plan.model, test)?;
                Some((e.accuracy, e.loss))
            }
            None => None,
        })
    }

    /// Trust-based rules: A's update ĝ₀ on its proxy set for the current
    /// model, trained exactly as the workers train (its randomness comes
    /// from `--seed` and the round in the `ProxyUpdate` domain; it is not a secret).
    fn reference_update(&self, round: u64) -> Result<Option<Vec<f32>>> {
        let Some(proxy) = &self.proxy else {
            return Ok(None);
        };
        let mut rng = public_rng(self.seed, Purpose::ProxyUpdate, round, 0);
        let started = Instant::now();
        let g0 = proxy_update(
            self.kind,
            &self.plan.model,
            proxy,
            &self.plan.train,
            &mut rng,
        )
        .context("computing the proxy update")?;
        info!(
            round,
            norm = protocols::fedavg::l2_norm(&g0),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "reference update computed"
        );
        Ok(Some(g0))
    }

    /// Applies a finished round to the model with η_t
    /// ([`fl_ml::server_lr_at`]), evaluates and prints its JSON line.
    fn complete(&mut self, o: RoundOutcome) -> Result<()> {
        let t = self.leader.rounds_done();
        let eta = fl_ml::server_lr_at(self.plan.server_lr, self.plan.server_lr_decay, t);
        if let Some(update) = &o.mean_update {
            for (w, u) in self.plan.model.iter_mut().zip(update) {
                *w += eta * *u;
            }
        }
        let seconds = self.round_started.elapsed().as_secs_f64();
        let eval = self.evaluate()?;
        let (accuracy, loss) = (eval.map(|e| e.0), eval.map(|e| e.1));
        if accuracy.is_some() {
            self.last_accuracy = accuracy;
        }
        let between = self.between.0.take() + self.between.1.take();
        let agg = self.leader.session().aggregation;
        let line = report::round_line(
            &o,
            agg,
            report::RoundStats {
                accuracy,
                loss,
                eta,
                seconds,
                between,
            },
        );
        for (w, reason) in &o.rejected {
            warn!(round = o.round, worker = w, %reason, "worker rejected this round");
        }
        info!(
            round = o.round,
            accuracy,
            accepted = o.accepted.len(),
            rejected = o.rejected.len(),
            sat_out = o.sat_out.len(),
            zero_trust = o.zero_trust_count,
            seconds,
            "round complete"
        );
        println!("{line}");
        Ok(())
    }
}

/// Sleeps until `t`, or forever without one.
async fn sleep_until(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
