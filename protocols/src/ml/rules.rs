//! Per-rule defaults of local training and the server step, and the
//! conversion between [`TrainConfig`] and the announced [`TrainParams`].

use mpc_core::wire::{Aggregation, TrainParams};

use super::error::MlError;
use super::model::TrainConfig;

/// What a run uses when the operator does not say otherwise.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleDefaults {
    /// Local training of workers (and of A's proxy update).
    pub train: TrainConfig,
    /// Server learning rate η: the model moves by η · (the round's update).
    pub server_lr: f32,
    /// Training rounds of the demo and server A.
    pub rounds: u64,
    /// The server learning rate decays as η / (1 + (t − 1)/T) over rounds
    /// t = 1, 2, … with T this many rounds ([`server_lr_at`]); `None`: constant.
    pub server_lr_decay: Option<f32>,
}

/// The server learning rate of round `round` (from 1): `base` / (1 + (round − 1)/T)
/// with T = `decay`, or `base` when `decay` is `None` (or not positive).
pub fn server_lr_at(base: f32, decay: Option<f32>, round: u64) -> f32 {
    match decay {
        Some(t) if t > 0.0 => base / (1.0 + round.saturating_sub(1) as f32 / t),
        _ => base,
    }
}

/// The defaults of `aggregation`.
///
/// FedAvg rules: 3 epochs of minibatch SGD (batch 32, lr 0.2), η = 1, 20 rounds
/// (see [`TrainConfig::default`]).
///
/// Trust-based rules: 3 epochs of *full-batch* gradient descent (batch 128 ≥
/// every local set of the 100-worker demo and A's 100-example proxy set),
/// lr 0.3, η = 2, 100 rounds. Minibatch SGD makes each update mostly noise of
/// its own 80–400 examples: after ≈5 rounds the honest updates' cosine with
/// the proxy update is ≈0 ± 0.1, ReLU(cos) then admits sign-flipped updates
/// about as often as honest ones, and FLTrust with 20 of 100 workers flipping
/// stalls at ≈0.88. Full-batch steps keep the honest cosines positive and the
/// flipped ones negative, so the flippers get zero trust. η < 2 lets the model
/// drift to the proxy set's own optimum, where ĝ₀ opposes the honest updates
/// and flipped ones get trust; a larger local lr (0.4–0.5) makes the accuracy
/// oscillate between rounds. Measurements: docs/PROTOCOL.md §4.1.
pub fn rule_defaults(aggregation: Aggregation) -> RuleDefaults {
    if aggregation.is_trust_based() {
        RuleDefaults {
            train: TrainConfig {
                epochs: 3,
                batch_size: 128,
                lr: 0.3,
            },
            server_lr: 2.0,
            rounds: 100,
            server_lr_decay: None,
        }
    } else {
        RuleDefaults {
            train: TrainConfig::default(),
            server_lr: 1.0,
            rounds: 20,
            server_lr_decay: None,
        }
    }
}

impl From<TrainParams> for TrainConfig {
    fn from(p: TrainParams) -> Self {
        TrainConfig {
            epochs: p.epochs as usize,
            batch_size: p.batch_size as usize,
            lr: p.lr,
        }
    }
}

impl TryFrom<&TrainConfig> for TrainParams {
    type Error = MlError;
    fn try_from(c: &TrainConfig) -> Result<Self, MlError> {
        let small = |v: usize, what: &str| {
            u32::try_from(v)
                .map_err(|_| MlError::InvalidArgument(format!("{what} {v} is too large")))
        };
        Ok(TrainParams {
            epochs: small(c.epochs, "epochs")?,
            batch_size: small(c.batch_size, "batch size")?,
            lr: c.lr,
        })
    }
}
