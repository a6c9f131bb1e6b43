//! TEMPORARY stand-in for `protocols::ml::sim` (being written on `main`),
//! with exactly its announced API, so the `eval` binary can be built and
//! timed before it lands. It is a real simulation (local training, the
//! attacks of `protocols::ml::attack`, the rules of
//! `protocols::ml::aggregate`), not canned numbers. Deleted when `main`'s
//! module is merged; eval then imports `protocols::ml::sim`.

use protocols::fltrust;
use protocols::ml::aggregate::PlainRule;
use protocols::ml::{
    Attack, AttackView, Dataset, MlError, ModelKind, Partition, TrainConfig, evaluate, flip_labels,
    init_params, proxy_set, proxy_update, train_local, worker_indices,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// One simulated federation.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Aggregation rule.
    pub rule: PlainRule,
    /// Clip every submitted update to this L2 norm before aggregation.
    pub clip: Option<f32>,
    /// Model.
    pub model: ModelKind,
    /// Data partition.
    pub partition: Partition,
    /// Workers.
    pub workers: usize,
    /// The highest `byzantine` worker ids attack.
    pub byzantine: usize,
    /// Their attack.
    pub attack: Attack,
    /// Rounds.
    pub rounds: usize,
    /// Seed.
    pub seed: u64,
    /// Local training.
    pub train: TrainConfig,
    /// Server learning rate.
    pub server_lr: f32,
    /// FLTrust: fewest positive weights for an update.
    pub k_min: usize,
}

impl SimConfig {
    /// The rule's defaults.
    pub fn new(
        rule: PlainRule,
        workers: usize,
        byzantine: usize,
        attack: Attack,
        partition: Partition,
        seed: u64,
    ) -> SimConfig {
        let trust = rule == PlainRule::FlTrust;
        SimConfig {
            rule,
            clip: None,
            model: ModelKind::default(),
            partition,
            workers,
            byzantine,
            attack,
            rounds: if trust { 100 } else { 20 },
            seed,
            train: if trust {
                TrainConfig {
                    epochs: 3,
                    batch_size: 128,
                    lr: 0.3,
                }
            } else {
                TrainConfig::default()
            },
            server_lr: if trust { 2.0 } else { 1.0 },
            k_min: fltrust::DEFAULT_K_MIN,
        }
    }
}

/// One round's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SimRound {
    /// Round number (1-based).
    pub round: u64,
    /// Test accuracy after the round.
    pub test_accuracy: f64,
    /// Test loss after the round.
    pub test_loss: f64,
    /// Whether the model moved.
    pub updated: bool,
    /// Trust rules: honest workers with zero weight.
    pub honest_zero_trust: Option<usize>,
    /// Trust rules: Byzantine workers with positive weight.
    pub byzantine_trusted: Option<usize>,
}

/// Runs the federation.
pub fn run(
    cfg: &SimConfig,
    train: &Dataset,
    test: &Dataset,
    on_round: &mut dyn FnMut(&SimRound),
) -> Result<Vec<SimRound>, MlError> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let parts = cfg
        .partition
        .split(&worker_indices(train), &train.y, cfg.workers, &mut rng)?;
    let honest_n = cfg.workers - cfg.byzantine.min(cfg.workers);
    let mut local = Vec::with_capacity(parts.len());
    for (w, p) in parts.iter().enumerate() {
        let d = train.subset(p);
        local.push(if w >= honest_n && cfg.attack.poisons_labels() {
            flip_labels(&d)?
        } else {
            d
        });
    }
    let proxy = proxy_set(train)?;
    let mut global = init_params(cfg.model, &mut rng);
    let mut out = Vec::with_capacity(cfg.rounds);
    for round in 1..=cfg.rounds as u64 {
        let round_seed = cfg.seed ^ (round << 32);
        let need_ref = cfg.rule.needs_reference() || cfg.attack.needs_reference();
        let reference = if need_ref {
            let mut prng = ChaCha8Rng::seed_from_u64(round_seed ^ 0xffff);
            Some(proxy_update(
                cfg.model, &global, &proxy, &cfg.train, &mut prng,
            )?)
        } else {
            None
        };
        let mut deltas = Vec::with_capacity(cfg.workers);
        for (w, data) in local.iter().enumerate() {
            let mut wrng = ChaCha8Rng::seed_from_u64(round_seed ^ w as u64);
            let new = train_local(cfg.model, &global, data, &cfg.train, &mut wrng)?;
            deltas.push(
                new.iter()
                    .zip(&global)
                    .map(|(n, g)| n - g)
                    .collect::<Vec<f32>>(),
            );
        }
        if honest_n < cfg.workers {
            let (honest, own) = deltas.split_at(honest_n);
            let view = AttackView {
                honest,
                workers: cfg.workers,
                byzantine: cfg.byzantine,
                reference: reference.as_deref(),
            };
            let mut arng = ChaCha8Rng::seed_from_u64(round_seed ^ 0xa77a);
            let crafted = cfg.attack.craft(own, &view, &mut arng)?;
            deltas.truncate(honest_n);
            deltas.extend(crafted);
        }
        if let Some(c) = cfg.clip {
            for d in &mut deltas {
                protocols::fedavg::clip_to_norm(d, c);
            }
        }
        let (mut hz, mut bt) = (None, None);
        let update = if cfg.rule == PlainRule::FlTrust {
            let g0 = reference.as_deref().unwrap_or(&[]);
            let units: Vec<Vec<f32>> = deltas
                .iter()
                .map(|u| fltrust::normalise(u).unwrap_or_else(|_| vec![0.0; u.len()]))
                .collect();
            let r =
                fltrust::aggregate_with_k_min(&units, g0, fltrust::Rule::Trust, None, cfg.k_min);
            hz = Some(r.weights[..honest_n].iter().filter(|&&w| w <= 0.0).count());
            bt = Some(r.weights[honest_n..].iter().filter(|&&w| w > 0.0).count());
            r.update
        } else {
            cfg.rule
                .aggregate(&deltas, cfg.byzantine, reference.as_deref())?
        };
        let updated = update.is_some();
        if let Some(u) = update {
            for (g, d) in global.iter_mut().zip(&u) {
                *g += cfg.server_lr * d;
            }
        }
        let e = evaluate(cfg.model, &global, test)?;
        let r = SimRound {
            round,
            test_accuracy: e.accuracy,
            test_loss: e.loss,
            updated,
            honest_zero_trust: hz,
            byzantine_trusted: bt,
        };
        on_round(&r);
        out.push(r);
    }
    Ok(out)
}
