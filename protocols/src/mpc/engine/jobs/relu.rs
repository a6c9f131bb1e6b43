//! ReLU (gated-value) jobs: additive shares of `b·v` and XOR shares of
//! `b = [v ⋈ T]` for a public threshold `T` (`compare::relu`).

use super::{Cx, Proto, Shares};
use crate::mpc::compare::drelu::Threshold;
use crate::mpc::compare::relu::{Relu, ReluMsg, ReluOutput, ReluParams};
use crate::mpc::compare::{Relation, RotDemand, Rots};
use crate::mpc::engine::stats::EngineStats;
use crate::mpc::engine::{EngineConfig, EngineError, EngineMsg, EngineOutput, JobId};

/// OTs of a ReLU batch of `n` values gated by `threshold`.
pub(in crate::mpc::engine) fn demand(
    n: usize,
    threshold: Threshold,
    config: &EngineConfig,
) -> Result<RotDemand, EngineError> {
    if threshold.value == i64::MAX && matches!(threshold.relation, Relation::Gt | Relation::Le) {
        return Err(EngineError::Job("threshold overflows i64"));
    }
    Ok(params(threshold, config).rot_demand(n)?)
}

fn params(threshold: Threshold, config: &EngineConfig) -> ReluParams {
    ReluParams {
        drelu: config.drelu,
        threshold,
    }
}

impl Proto for Relu {
    const NAME: &'static str = "ReLU";
    type Input = (Shares, Threshold);

    fn build(
        (mut shares, threshold): (Shares, Threshold),
        rots: Rots,
        cx: &Cx<'_>,
    ) -> Result<Relu, EngineError> {
        let params = params(threshold, cx.config);
        Ok(Relu::new(cx.party, &params, shares.take_vec(), rots)?)
    }

    fn count_rots(stats: &mut EngineStats, ots: u64) {
        stats.relu_rots += ots;
    }

    fn wrap(instance: u32, msg: ReluMsg) -> EngineMsg {
        EngineMsg::Relu { instance, msg }
    }

    fn unwrap(msg: EngineMsg) -> Option<ReluMsg> {
        match msg {
            EngineMsg::Relu { msg, .. } => Some(msg),
            _ => None,
        }
    }

    fn output(out: ReluOutput, job: JobId, stats: &mut EngineStats) -> EngineOutput {
        stats.relu_ops += out.values.len() as u64;
        EngineOutput::Relu {
            job,
            gated: out.values,
            bits: out.bits,
        }
    }
}
