//! Secure-count jobs: both parties learn only the public bit `[Σ b_i ≥ k]`
//! of XOR-shared bits (`compare::count`, [`COUNT_DIGIT_BITS`]-bit digits).

use super::{Bits, Cx, Proto};
use crate::mpc::compare::count::{Count, CountMsg, CountParams};
use crate::mpc::compare::{RotDemand, Rots};
use crate::mpc::engine::stats::EngineStats;
use crate::mpc::engine::{COUNT_DIGIT_BITS, EngineError, EngineMsg, EngineOutput, JobId};

fn params(n: usize, k: u64) -> CountParams {
    CountParams {
        k,
        n,
        digit_bits: COUNT_DIGIT_BITS,
    }
}

/// OTs of a count over `n` bits against `k`.
pub(in crate::mpc::engine) fn demand(n: usize, k: u64) -> Result<RotDemand, EngineError> {
    params(n, k)
        .rot_demand()
        .map_err(|_| EngineError::Job("count: n or k exceeds the comparison's bound"))
}

impl Proto for Count {
    const NAME: &'static str = "count";
    type Input = (Bits, u64);

    fn build((mut bits, k): (Bits, u64), rots: Rots, cx: &Cx<'_>) -> Result<Count, EngineError> {
        let params = params(bits.len(), k);
        let bits = std::mem::take(&mut *bits);
        Ok(Count::new(cx.party, &params, bits, rots)?)
    }

    fn count_rots(stats: &mut EngineStats, ots: u64) {
        stats.count_rots += ots;
    }

    fn wrap(instance: u32, msg: CountMsg) -> EngineMsg {
        EngineMsg::Count { instance, msg }
    }

    fn unwrap(msg: EngineMsg) -> Option<CountMsg> {
        match msg {
            EngineMsg::Count { msg, .. } => Some(msg),
            _ => None,
        }
    }

    fn output(at_least_k: bool, job: JobId, stats: &mut EngineStats) -> EngineOutput {
        stats.count_ops += 1;
        EngineOutput::Count { job, at_least_k }
    }
}
