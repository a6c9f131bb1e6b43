//! DReLU jobs: XOR shares of `[v ≥ 0]` for field-shared `v ∈ [−2^B, 2^B)`.

use super::{Cx, Proto, Shares};
use crate::mpc::compare::drelu::Drelu;
use crate::mpc::compare::millionaire::CmpMsg;
use crate::mpc::compare::{RotDemand, Rots};
use crate::mpc::engine::stats::EngineStats;
use crate::mpc::engine::{EngineConfig, EngineError, EngineMsg, EngineOutput, JobId};

/// OTs of a DReLU batch of `n` values.
pub(in crate::mpc::engine) fn demand(
    n: usize,
    config: &EngineConfig,
) -> Result<RotDemand, EngineError> {
    Ok(config.drelu.rot_demand(n)?)
}

impl Proto for Drelu {
    const NAME: &'static str = "DReLU";
    type Input = Shares;

    fn build(shares: Shares, rots: Rots, cx: &Cx<'_>) -> Result<Drelu, EngineError> {
        // The shares are wiped when dropped, right after.
        Ok(Drelu::new(cx.party, &cx.config.drelu, &shares, rots)?)
    }

    fn count_rots(stats: &mut EngineStats, ots: u64) {
        stats.drelu_rots += ots;
    }

    fn wrap(instance: u32, msg: CmpMsg) -> EngineMsg {
        EngineMsg::Drelu { instance, msg }
    }

    fn unwrap(msg: EngineMsg) -> Option<CmpMsg> {
        match msg {
            EngineMsg::Drelu { msg, .. } => Some(msg),
            _ => None,
        }
    }

    fn output(shares: Vec<bool>, job: JobId, stats: &mut EngineStats) -> EngineOutput {
        stats.drelu_ops += shares.len() as u64;
        EngineOutput::Drelu { job, shares }
    }
}
