//! In-process plaintext federation: the engine behind the plaintext rows of
//! the robustness evaluation (`eval`).
//!
//! One run is a sequence of rounds over `workers` simulated workers that
//! share the MNIST training split (examples after the proxy set, partitioned
//! by [`Partition`]); the `byzantine` highest ids are attackers. A round:
//!
//! 1. every worker trains the global model locally ([`train_local`] with the
//!    run's [`TrainConfig`]; a `label-flip` attacker trains on labels
//!    y → 9 − y) and takes its delta Δᵢ;
//! 2. for trust rules (and `adaptive-fltrust`), the server's reference ĝ₀ is
//!    [`proxy_update`] on the proxy set with the same local training;
//! 3. the attackers replace their deltas by [`Attack::craft`] (they see every
//!    honest delta of the round: full knowledge);
//! 4. the server clips the submissions to `clip` if set (not for FLTrust,
//!    which normalises), aggregates them with the [`PlainRule`], and moves the
//!    model by η_t · update, η_t = [`server_lr_at`].
//!
//! Randomness: everything derives from `seed` (partition, initial model,
//! per-(round, worker) training, attacks), so a run is reproducible.
//! Nothing here is secret: this is the plaintext baseline.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::aggregate::PlainRule;
use crate::attack::{Attack, AttackView, flip_labels};
use crate::data::{Dataset, Partition};
use crate::error::MlError;
use crate::model::{ModelKind, TrainConfig, evaluate, init_params, train_local};
use crate::proxy::{proxy_set, proxy_update, worker_indices};
use crate::rules::{rule_defaults, server_lr_at};
use mpc_core::wire::Aggregation;
use protocols::fedavg::clip_to_norm;

/// One plaintext run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// The aggregation rule.
    pub rule: PlainRule,
    /// L2 clipping of submissions before aggregation (`None`: no clipping;
    /// ignored by FLTrust, which normalises).
    pub clip: Option<f32>,
    /// The model.
    pub model: ModelKind,
    /// How the training examples are spread over the workers.
    pub partition: Partition,
    /// Workers in the federation.
    pub workers: usize,
    /// Attackers among them (the highest ids).
    pub byzantine: usize,
    /// What the attackers do.
    pub attack: Attack,
    /// Rounds.
    pub rounds: usize,
    /// Seed of every random choice of the run.
    pub seed: u64,
    /// Local training of the workers (and of FLTrust's reference).
    pub train: TrainConfig,
    /// Base server learning rate η.
    pub server_lr: f32,
    /// η decays as η / (1 + (t − 1)/T) with T this many rounds (`None`: constant).
    pub server_lr_decay: Option<f32>,
    /// FLTrust: fewest positive-trust updates for a round to move the model.
    pub k_min: usize,
}

impl SimConfig {
    /// A run of `rule` with the defaults the servers use for the matching
    /// rule (`fltrust` ↔ `plain-fltrust`, everything else ↔ `plain-fedavg`
    /// without clipping), including its default number of rounds.
    pub fn new(
        rule: PlainRule,
        workers: usize,
        byzantine: usize,
        attack: Attack,
        partition: Partition,
        seed: u64,
    ) -> SimConfig {
        let agg = if rule == PlainRule::FlTrust {
            Aggregation::PlainFltrust
        } else {
            Aggregation::PlainFedAvg
        };
        let d = rule_defaults(agg);
        SimConfig {
            rule,
            clip: None,
            model: ModelKind::default(),
            partition,
            workers,
            byzantine,
            attack,
            rounds: d.rounds as usize,
            seed,
            train: d.train,
            server_lr: d.server_lr,
            server_lr_decay: d.server_lr_decay,
            k_min: protocols::fltrust::DEFAULT_K_MIN,
        }
    }
}

/// What one round of a run did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimRound {
    /// Round number, from 1.
    pub round: u64,
    /// Test accuracy after the round.
    pub test_accuracy: f64,
    /// Test loss after the round.
    pub test_loss: f64,
    /// Whether the model moved.
    pub updated: bool,
    /// FLTrust: honest workers with zero trust.
    pub honest_zero_trust: Option<usize>,
    /// FLTrust: attackers with positive trust.
    pub byzantine_trusted: Option<usize>,
}

/// Per-(round, worker) training seed of the in-process simulation. (The
/// distributed roles key theirs with [`crate::public_rng`]; this one stays
/// as it is because the committed plaintext-rule figures in `report/` were
/// drawn with it and must reproduce.)
fn round_seed(seed: u64, round: u64, who: u64) -> u64 {
    seed ^ round.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ who.wrapping_mul(0xbf58_476d_1ce4_e5b9)
}

/// Runs `cfg` on `train` (proxy set + worker examples) and `test`, calling
/// `on_round` after every round.
pub fn run(
    cfg: &SimConfig,
    train: &Dataset,
    test: &Dataset,
    on_round: &mut dyn FnMut(&SimRound),
) -> Result<Vec<SimRound>, MlError> {
    let n = cfg.workers;
    let f = cfg.byzantine;
    if n == 0 || f >= n {
        return Err(MlError::InvalidArgument(format!(
            "need at least one honest worker (workers {n}, byzantine {f})"
        )));
    }
    let honest = n - f;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let parts = cfg
        .partition
        .split(&worker_indices(train), &train.y, n, &mut rng)?;
    let mut local = Vec::with_capacity(n);
    for (w, p) in parts.iter().enumerate() {
        let data = train.try_subset(p)?;
        local.push(if w >= honest && cfg.attack.poisons_labels() {
            flip_labels(&data)?
        } else {
            data
        });
    }
    let proxy = proxy_set(train)?;
    let mut model = init_params(cfg.model, &mut rng);
    let trust = cfg.rule == PlainRule::FlTrust;
    let mut out = Vec::with_capacity(cfg.rounds);
    for round in 1..=cfg.rounds as u64 {
        let mut deltas = Vec::with_capacity(n);
        for (w, data) in local.iter().enumerate() {
            let mut wrng = ChaCha8Rng::seed_from_u64(round_seed(cfg.seed, round, w as u64));
            let new = train_local(cfg.model, &model, data, &cfg.train, &mut wrng)?;
            deltas.push(
                new.iter()
                    .zip(&model)
                    .map(|(a, b)| a - b)
                    .collect::<Vec<f32>>(),
            );
        }
        let reference = if trust || cfg.attack.needs_reference() {
            let mut prng = ChaCha8Rng::seed_from_u64(round_seed(cfg.seed, round, u64::MAX));
            Some(proxy_update(
                cfg.model, &model, &proxy, &cfg.train, &mut prng,
            )?)
        } else {
            None
        };
        if f > 0 && cfg.attack != Attack::None && cfg.attack != Attack::LabelFlip {
            let (good, own) = deltas.split_at(honest);
            let view = AttackView {
                honest: good,
                workers: n,
                byzantine: f,
                reference: reference.as_deref(),
            };
            let mut arng = ChaCha8Rng::seed_from_u64(round_seed(cfg.seed, round, u64::MAX - 1));
            let crafted = cfg.attack.craft(own, &view, &mut arng)?;
            deltas.truncate(honest);
            deltas.extend(crafted);
        }
        if let (Some(c), false) = (cfg.clip, trust) {
            deltas.iter_mut().for_each(|d| clip_to_norm(d, c));
        }
        let (update, honest_zero, byz_trusted) = if trust {
            let g0 = reference.as_deref().unwrap_or_default();
            let units: Vec<Vec<f32>> = deltas
                .iter()
                .map(|d| protocols::fltrust::normalise(d).unwrap_or_else(|_| vec![0.0; d.len()]))
                .collect();
            let r = protocols::fltrust::aggregate_with_k_min(
                &units,
                g0,
                protocols::fltrust::Rule::Trust,
                None,
                cfg.k_min,
            );
            let hz = r.weights[..honest].iter().filter(|&&w| w <= 0.0).count();
            let bt = r.weights[honest..].iter().filter(|&&w| w > 0.0).count();
            (r.update, Some(hz), Some(bt))
        } else {
            (cfg.rule.aggregate(&deltas, f, None)?, None, None)
        };
        let eta = server_lr_at(cfg.server_lr, cfg.server_lr_decay, round);
        let updated = update.is_some();
        if let Some(u) = update {
            model.iter_mut().zip(&u).for_each(|(m, d)| *m += eta * d);
        }
        if model.iter().any(|v| !v.is_finite()) {
            return Err(MlError::NonFinite);
        }
        let e = evaluate(cfg.model, &model, test)?;
        let r = SimRound {
            round,
            test_accuracy: e.accuracy,
            test_loss: e.loss,
            updated,
            honest_zero_trust: honest_zero,
            byzantine_trusted: byz_trusted,
        };
        on_round(&r);
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::load_mnist;

    fn data() -> (Dataset, Dataset) {
        load_mnist(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data")).unwrap()
    }

    #[test]
    fn runs_are_reproducible_and_attacks_matter() {
        let (train, test) = data();
        let mut cfg = SimConfig::new(
            PlainRule::FedAvg,
            10,
            3,
            Attack::Scale(-20.0),
            Partition::Iid,
            5,
        );
        cfg.rounds = 3;
        cfg.model = ModelKind::LogReg;
        let a = run(&cfg, &train, &test, &mut |_| {}).unwrap();
        let b = run(&cfg, &train, &test, &mut |_| {}).unwrap();
        assert_eq!(a, b);
        cfg.attack = Attack::None;
        let clean = run(&cfg, &train, &test, &mut |_| {}).unwrap();
        // Three of ten workers pushing −20× their update wreck plain FedAvg.
        assert!(
            clean[2].test_accuracy > a[2].test_accuracy + 0.2,
            "{clean:?} vs {a:?}"
        );
    }

    #[test]
    fn fltrust_reports_trust_counts() {
        let (train, test) = data();
        let mut cfg = SimConfig::new(
            PlainRule::FlTrust,
            10,
            2,
            Attack::SignFlip,
            Partition::Iid,
            2,
        );
        cfg.rounds = 2;
        cfg.model = ModelKind::LogReg;
        let r = run(&cfg, &train, &test, &mut |_| {}).unwrap();
        assert!(r.iter().all(|r| r.honest_zero_trust.is_some()));
        // Early in training sign-flipped updates oppose the reference.
        assert_eq!(r[0].byzantine_trusted, Some(0));
    }
}
