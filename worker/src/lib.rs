//! Worker process: hosts N simulated workers, each with its own enrolled
//! identity and its own QUIC connections to server A and server B.
//!
//! Per round a worker trains the announced model on its local partition
//! (minibatch SGD with the parameters server A announced in the session),
//! takes the delta, optionally applies an attack, and hands it to
//! `protocols::round::worker::prepare`, which clips (or, for trust-based
//! rules, normalises to unit norm), encodes and shares it. An attack is
//! applied before `prepare`, so an attacker's update passes the norm checks.
//! A worker that skips a round (`--dropout`, or an attack that cannot be
//! crafted that round) tells server A with `WorkerToA::SitOut`, so the
//! round closes without waiting for it.
//! `--seed` drives partitioning, training and attacks only (per round
//! through `mpc_core::prg` domains); every secret (share seeds, the dealt
//! scalar, commitment blinds, proof randomness) comes from the OS CSPRNG,
//! which the worker passes to `prepare`.
//!
//! Attacks are [`fl_ml::attack::Attack`]. With `label-flip` the
//! Byzantine workers train on flipped labels. Attacks that use the other
//! workers' benign updates (ALIE, IPM, min-max, min-sum, Fang, adaptive
//! FLTrust) see those of every worker this process hosts (not those of
//! workers hosted by another process), through the per-round collusion
//! board of `collusion.rs`; `adaptive-fltrust` also recomputes server A's
//! reference update on the proxy set, as A does.

mod collusion;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use fl_ml::attack::{Attack, AttackView, flip_labels};
use fl_ml::data::{Dataset, Partition, load_mnist};
use fl_ml::model::{ModelKind, TrainConfig, train_local};
use fl_ml::{PROXY_EXAMPLES, proxy_set, proxy_update, public_rng, worker_indices};
use mpc_core::codec;
use mpc_core::prg::Purpose;
use mpc_core::wire::{AToWorker, BToWorker, WorkerToA};
use protocols::round::worker::prepare;
use rand::rand_core::UnwrapErr;
use rand::rngs::{StdRng, SysRng};
use rand::{RngExt, SeedableRng};
use tokio::sync::Semaphore;
use tracing::{info, warn};
use transport::{HostPort, Pki, TransportConfig};

pub mod link;
use link::Link;

/// Hosts simulated workers that train on MNIST and submit shared updates.
#[derive(Debug, Parser)]
#[command(name = "worker", version)]
pub struct Args {
    /// Server A's address, HOST:PORT (a host name is resolved once at start).
    #[arg(long, value_name = "HOST:PORT")]
    server_a: HostPort,
    /// Server B's address, HOST:PORT (needed by secure aggregation rules).
    #[arg(long, value_name = "HOST:PORT")]
    server_b: Option<HostPort>,
    /// Enrolment directory (workers/worker-ID.crt/.key, server certificates).
    #[arg(long, default_value = "pki")]
    pki: PathBuf,
    /// Directory holding the MNIST files.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Total number of workers in the federation (the data is split this many ways).
    #[arg(long, default_value_t = 20)]
    workers: usize,
    /// Host only these worker ids (e.g. `0-9` or `3`); default: all.
    #[arg(long)]
    ids: Option<String>,
    /// How training data is spread: iid or dirichlet:ALPHA.
    #[arg(long, default_value = "iid")]
    partition: Partition,
    /// Seed for partitioning, training and attacks (never for secrets).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of Byzantine workers (the highest ids).
    #[arg(long, default_value_t = 0)]
    byzantine: usize,
    /// Attack of the Byzantine workers: none, sign-flip, scale:K,
    /// gaussian[:SIGMA], label-flip, alie[:Z], ipm[:EPS], min-max, min-sum,
    /// fang-krum, fang-trim, adaptive-fltrust.
    #[arg(long, default_value = "none")]
    attack: Attack,
    /// Probability that a worker sits out a round.
    #[arg(long, default_value_t = 0.0)]
    dropout: f64,
    /// Concurrent local trainings (default: number of CPUs).
    #[arg(long)]
    parallel: Option<usize>,
    /// Exit when standard input closes (used by launchers).
    #[arg(long)]
    exit_on_stdin_close: bool,
}

/// How long a Byzantine worker waits for the other hosted workers' benign
/// updates before crafting from those that arrived (server A closes a round
/// after 60 s by default, so this is shorter).
const COLLUSION_TIMEOUT: Duration = Duration::from_secs(45);

fn parse_ids(spec: Option<&str>, total: usize) -> Result<Vec<u32>> {
    let total = u32::try_from(total).context("too many workers")?;
    let Some(spec) = spec else {
        return Ok((0..total).collect());
    };
    let mut out = Vec::new();
    for part in spec.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u32>()?, b.trim().parse::<u32>()?),
            None => {
                let v = part.trim().parse::<u32>()?;
                (v, v)
            }
        };
        if lo > hi || hi >= total {
            bail!("worker ids {part} are outside 0..{total}");
        }
        out.extend(lo..=hi);
    }
    Ok(out)
}

struct Shared {
    train: Dataset,
    parts: Vec<Vec<usize>>,
    pki: Pki,
    cfg: TransportConfig,
    server_a: SocketAddr,
    server_b: Option<SocketAddr>,
    byzantine_from: u32,
    attack: Attack,
    workers: usize,
    byzantine: usize,
    /// The collusion board, when an attack needs the benign updates and
    /// this process hosts a Byzantine worker.
    board: Option<Arc<collusion::Board>>,
    /// Server A's proxy set, for `adaptive-fltrust`.
    proxy: Option<Dataset>,
    dropout: f64,
    seed: u64,
    cpu: Semaphore,
}

/// Runs the process until it finishes or is told to stop.
pub async fn run(args: Args) -> Result<()> {
    let attack = args.attack;
    if args.workers == 0 {
        bail!("--workers must be at least 1");
    }
    if args.byzantine > args.workers {
        bail!("--byzantine exceeds --workers");
    }
    if !(0.0..=1.0).contains(&args.dropout) {
        bail!("--dropout must be in [0, 1]");
    }
    let ids = parse_ids(args.ids.as_deref(), args.workers)?;
    let (train, _test) = load_mnist(&args.data_dir)
        .with_context(|| format!("loading MNIST from {}", args.data_dir.display()))?;
    if train.len() <= PROXY_EXAMPLES {
        bail!("training split too small");
    }
    // The first PROXY_EXAMPLES training examples are server A's root set; workers
    // never see them.
    let indices = worker_indices(&train);
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let parts = args
        .partition
        .split(&indices, &train.y, args.workers, &mut rng)
        .context("partitioning the training data")?;
    let parallel = args
        .parallel
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let pki = Pki::new(&args.pki);
    let cfg = TransportConfig {
        // A pin mismatch then names the certificate the server presented.
        known_certs: pki
            .known_certs()
            .context("loading the servers' certificates")?,
        ..TransportConfig::protocol()
    };
    // Both links leave from one socket, of server A's address family.
    let server_a = args.server_a.resolve("--server-a", None).await?;
    let server_b = match &args.server_b {
        Some(b) => Some(b.resolve("--server-b", Some(server_a)).await?),
        None => None,
    };
    let byzantine_from = u32::try_from(args.workers - args.byzantine)?;
    let board = (attack.needs_benign() && ids.iter().any(|&id| id >= byzantine_from)).then(|| {
        Arc::new(collusion::Board::new(
            &ids,
            byzantine_from,
            COLLUSION_TIMEOUT,
        ))
    });
    let proxy = if attack.needs_reference() && args.byzantine > 0 {
        Some(proxy_set(&train).context("the proxy set of adaptive-fltrust")?)
    } else {
        None
    };
    let shared = Arc::new(Shared {
        train,
        parts,
        pki,
        cfg,
        server_a,
        server_b,
        byzantine_from,
        attack,
        workers: args.workers,
        byzantine: args.byzantine,
        board,
        proxy,
        dropout: args.dropout,
        seed: args.seed,
        cpu: Semaphore::new(parallel.max(1)),
    });
    info!(
        workers = ids.len(),
        partition = %args.partition,
        byzantine = args.byzantine,
        attack = %attack,
        "starting simulated workers"
    );
    // One UDP socket for all simulated workers; each connection presents its
    // own worker certificate.
    let first = ids.first().copied().context("no worker ids to host")?;
    let endpoint = transport::client_endpoint_for(
        &shared
            .pki
            .load_worker(first)
            .context("loading a worker identity")?,
        server_a,
        &shared.cfg,
    )?;
    let mut tasks = tokio::task::JoinSet::new();
    for id in ids {
        let shared = Arc::clone(&shared);
        let endpoint = endpoint.clone();
        tasks.spawn(async move { (id, run_worker(id, shared, endpoint).await) });
    }
    let mut failures = 0;
    let all = async {
        while let Some(res) = tasks.join_next().await {
            match res {
                Ok((_, Ok(()))) => {}
                Ok((id, Err(e))) => {
                    failures += 1;
                    warn!(
                        worker = id,
                        error = format!("{e:#}"),
                        "worker stopped with an error"
                    );
                }
                Err(e) => {
                    failures += 1;
                    warn!(error = %e, "worker task failed");
                }
            }
        }
    };
    transport::node::until_stopped(args.exit_on_stdin_close, all).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    if failures > 0 {
        bail!("{failures} workers stopped with errors");
    }
    Ok(())
}

async fn run_worker(id: u32, s: Arc<Shared>, endpoint: transport::quinn::Endpoint) -> Result<()> {
    // However this task ends, the collusion board stops waiting for us.
    let _departure = s.board.as_ref().map(|board| collusion::Departure {
        board: Arc::clone(board),
        id,
    });
    let identity = s
        .pki
        .load_worker(id)
        .context("loading the worker identity")?;
    let pin_a = s.pki.server_a_fingerprint()?;
    let mut a = Link::open(&endpoint, &identity, s.server_a, pin_a, &s.cfg).await?;
    let session = a.hello_a(id, s.cfg.io_timeout).await?;
    info!(worker = id, aggregation = %session.aggregation, model = %session.model, "joined server A's session");
    let kind: ModelKind = session
        .model
        .parse()
        .map_err(|e| anyhow::anyhow!("server A announced an unknown model: {e}"))?;
    // Train as server A says (for trust-based rules A trains its reference the same way).
    let train_cfg = TrainConfig::from(session.train);
    let mut b = if session.aggregation.is_secure() {
        let addr = s
            .server_b
            .context("the session is secure but --server-b was not given")?;
        // B's certificate comes from enrolment, never from A.
        let pin_b = s.pki.server_b_fingerprint()?;
        let mut l = Link::open(&endpoint, &identity, addr, pin_b, &s.cfg).await?;
        l.hello_b(id, s.cfg.io_timeout).await?;
        Some(l)
    } else {
        None
    };
    let byzantine = id >= s.byzantine_from;
    let mut data = s
        .train
        .try_subset(s.parts.get(id as usize).map(Vec::as_slice).unwrap_or(&[]))?;
    if byzantine && s.attack.poisons_labels() {
        data = flip_labels(&data)?;
    }
    let data = Arc::new(data);
    loop {
        let msg = a.next::<AToWorker>(None).await?;
        let (round, model) = match msg {
            Some(AToWorker::Announce { round, model }) => (round, codec::bytes_to_f32s(&model)?),
            Some(AToWorker::Finished) | None => break,
            // A took our `SitOut` (its answer is read here, not right after
            // sending: the next announcement may come first if the round
            // closed meanwhile).
            Some(AToWorker::Ack { .. }) => continue,
            Some(AToWorker::Reject { round, reason }) => {
                warn!(worker = id, round, %reason, "server A rejected our message");
                continue;
            }
            Some(other) => {
                warn!(worker = id, ?other, "unexpected message from server A");
                continue;
            }
        };
        // Per-round, per-worker randomness for training and dropout (attacks: `attack_rng`).
        let mut rng = public_rng(s.seed, Purpose::WorkerTraining, round, id);
        if s.dropout > 0.0 && rng.random_bool(s.dropout) {
            info!(worker = id, round, "sitting this round out (dropout)");
            if let Some(board) = &s.board {
                board.post(id, round, None);
            }
            // Tell A, so the round need not wait for us until its deadline.
            a.send(&WorkerToA::SitOut { round }).await?;
            continue;
        }
        let ctx = RoundCtx {
            id,
            round,
            kind,
            model: &model,
            train: &train_cfg,
            data: &data,
            byzantine,
        };
        let Some(delta) = round_update(&s, ctx, rng).await? else {
            a.send(&WorkerToA::SitOut { round }).await?;
            continue;
        };
        // The submission's secret randomness (seeds, s, blind, proof): from the OS.
        let sub = prepare(&session, round, id, &delta, &mut UnwrapErr(SysRng))?;
        a.send(&sub.to_a).await?;
        info!(worker = id, round, byzantine, "trained and sent the update");
        if let (Some(b), Some(to_b)) = (b.as_mut(), sub.to_b.as_ref()) {
            b.send(to_b).await?;
            match b.next::<BToWorker>(Some(s.cfg.io_timeout)).await? {
                Some(BToWorker::Ack { .. }) => {}
                Some(BToWorker::Reject { reason, .. }) => {
                    warn!(worker = id, round, %reason, "server B rejected our upload")
                }
                other => warn!(worker = id, ?other, "unexpected reply from server B"),
            }
        }
        match a.next::<AToWorker>(Some(s.cfg.io_timeout)).await? {
            Some(AToWorker::Ack { .. }) => {}
            Some(AToWorker::Reject { reason, .. }) => {
                warn!(worker = id, round, %reason, "server A rejected our submission")
            }
            Some(AToWorker::Finished) | None => break,
            other => warn!(worker = id, ?other, "unexpected reply from server A"),
        }
    }
    a.close();
    if let Some(b) = b.take() {
        b.close();
    }
    Ok(())
}

/// What one worker's update in one round depends on.
struct RoundCtx<'a> {
    id: u32,
    round: u64,
    kind: ModelKind,
    model: &'a [f32],
    train: &'a TrainConfig,
    data: &'a Arc<Dataset>,
    byzantine: bool,
}

/// This worker's update for the round: local training from the announced
/// model, then (Byzantine workers) the attack — alone, or with the other
/// colluders through the board. `None`: a colluding attack could not be
/// crafted this round, so the worker sits it out.
async fn round_update(
    s: &Arc<Shared>,
    c: RoundCtx<'_>,
    mut rng: StdRng,
) -> Result<Option<Vec<f32>>> {
    let delta = {
        let _permit = s.cpu.acquire().await?;
        let data = Arc::clone(c.data);
        let cfg = c.train.clone();
        let (kind, model) = (c.kind, c.model.to_vec());
        let local =
            tokio::task::spawn_blocking(move || train_local(kind, &model, &data, &cfg, &mut rng))
                .await??;
        local
            .iter()
            .zip(c.model)
            .map(|(l, g)| l - g)
            .collect::<Vec<f32>>()
    };
    let Some(board) = &s.board else {
        return if c.byzantine {
            own_attack(s, c.id, c.round, delta).map(Some)
        } else {
            Ok(Some(delta))
        };
    };
    board.post(c.id, c.round, Some(delta.clone()));
    if !c.byzantine {
        return Ok(Some(delta));
    }
    match colluding_update(s, board, c.id, c.round, c.kind, c.model, c.train).await {
        Ok(u) => Ok(Some(u)),
        Err(e) => {
            // One round's attack failing (say, too few updates for fang-krum)
            // must not end the attacker for the run.
            warn!(worker = c.id, round = c.round, error = %e, "could not craft the attack; sitting this round out");
            Ok(None)
        }
    }
}

/// The attack randomness of `round`: from `--seed` only, the same for every
/// colluder (`id` = `None`) or per worker.
fn attack_rng(seed: u64, round: u64, id: Option<u32>) -> StdRng {
    match id {
        None => public_rng(seed, Purpose::AttackCollusion, round, 0),
        Some(id) => public_rng(seed, Purpose::AttackOwn, round, id),
    }
}

/// A Byzantine worker's update from its own delta alone (the attacks that
/// need no one else's update).
fn own_attack(s: &Shared, id: u32, round: u64, delta: Vec<f32>) -> Result<Vec<f32>> {
    let view = AttackView {
        honest: &[],
        workers: s.workers,
        byzantine: s.byzantine,
        reference: None,
    };
    let mut rng = attack_rng(s.seed, round, Some(id));
    s.attack
        .craft(&[delta], &view, &mut rng)
        .with_context(|| format!("attack {}", s.attack))?
        .pop()
        .context("the attack produced no update")
}

/// A Byzantine worker's update from the collusion board: waits (without a
/// CPU permit) for the hosted workers' benign deltas of `round`; the first
/// colluder there crafts every colluder's update once.
async fn colluding_update(
    s: &Arc<Shared>,
    board: &collusion::Board,
    id: u32,
    round: u64,
    kind: ModelKind,
    model: &[f32],
    train_cfg: &TrainConfig,
) -> Result<Vec<f32>> {
    let crafted = board
        .crafted(round, move |known| async move {
            let permit = s.cpu.acquire().await.map_err(|e| e.to_string())?;
            let s = Arc::clone(s);
            let model = model.to_vec();
            let train_cfg = train_cfg.clone();
            let out = tokio::task::spawn_blocking(move || {
                let mut rng = attack_rng(s.seed, round, None);
                // adaptive-fltrust: server A's reference update, trained as A does.
                let reference = match &s.proxy {
                    Some(proxy) => Some(
                        proxy_update(kind, &model, proxy, &train_cfg, &mut rng)
                            .map_err(|e| format!("the reference update: {e}"))?,
                    ),
                    None => None,
                };
                let view = AttackView {
                    honest: &known.honest,
                    workers: s.workers,
                    byzantine: s.byzantine,
                    reference: reference.as_deref(),
                };
                let updates = s
                    .attack
                    .craft(&known.own, &view, &mut rng)
                    .map_err(|e| e.to_string())?;
                Ok(collusion::Crafted {
                    ids: known.own_ids,
                    updates,
                })
            })
            .await
            .map_err(|e| e.to_string())?;
            drop(permit);
            out
        })
        .await
        .map_err(|e| anyhow::anyhow!("attack {} in round {round}: {e}", s.attack))?;
    board.taken(id, round, &crafted);
    let k = crafted
        .ids
        .iter()
        .position(|&i| i == id)
        .context("the collusion board has no update for this worker")?;
    crafted
        .updates
        .get(k)
        .cloned()
        .context("the attack produced too few updates")
}
