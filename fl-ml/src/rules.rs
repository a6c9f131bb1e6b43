//! Per-rule defaults of local training and the server step, and the
//! conversion between [`TrainConfig`] and the announced [`TrainParams`].

use mpc_core::wire::{Aggregation, TrainParams};

use crate::error::MlError;
use crate::model::TrainConfig;

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

/// One default across every rule, for `--help`: the values of `field`
/// grouped by rule, e.g. `"100 for secure-fltrust, secure-filter,
/// plain-fltrust; 20 for secure-fedavg, plain-fedavg"` (or just the value
/// when every rule has the same).
pub fn defaults_help(field: impl Fn(&RuleDefaults) -> String) -> String {
    let mut groups: Vec<(String, Vec<&'static str>)> = Vec::new();
    for rule in Aggregation::ALL {
        let v = field(&rule_defaults(rule));
        match groups.iter_mut().find(|(g, _)| *g == v) {
            Some((_, rules)) => rules.push(rule.name()),
            None => groups.push((v, vec![rule.name()])),
        }
    }
    if let [(v, _)] = groups.as_slice() {
        return v.clone();
    }
    groups
        .iter()
        .map(|(v, rules)| format!("{v} for {}", rules.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The defaults of `aggregation`.
///
/// FedAvg rules: 3 epochs of minibatch SGD (batch 32, lr 0.2), η = 1, 20 rounds
/// (see [`TrainConfig::default`]).
///
/// Trust-based rules: the same local training as FedAvg (for the workers and
/// for A's reference ĝ₀ on its [`crate::PROXY_EXAMPLES`]-example root
/// set), η = 2 decaying as η_t = 2 / (1 + (t − 1)/25), 100 rounds. Why, in
/// short (measurements: docs/PROTOCOL.md §4.1): a reference of a few
/// full-batch steps on 100 examples stops agreeing with the honest workers
/// within ≈10 rounds, the model drifts towards the root set's optimum and
/// sign-flipped updates get the trust instead; a 100-example root set is
/// noise once the model has converged; and FLTrust's step ‖ĝ₀‖ does not
/// shrink as training converges (FedAvg's mean does), so a constant η makes
/// the accuracy oscillate between rounds.
pub fn rule_defaults(aggregation: Aggregation) -> RuleDefaults {
    if aggregation.is_trust_based() {
        RuleDefaults {
            train: TrainConfig::default(),
            server_lr: 2.0,
            rounds: 100,
            server_lr_decay: Some(25.0),
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

#[cfg(test)]
mod help_tests {
    use super::*;

    #[test]
    fn defaults_help_groups_rules_by_value() {
        let rounds = defaults_help(|d| d.rounds.to_string());
        assert!(rounds.contains("100 for secure-fltrust"), "{rounds}");
        assert!(rounds.contains("20 for secure-fedavg"), "{rounds}");
        assert_eq!(defaults_help(|d| d.train.epochs.to_string()), "3");
    }
}
