//! B2A jobs: XOR-shared bits to additive shares in F (the bit × value
//! protocol in B2A mode, A first).

use super::{Bits, Cx, Proto};
use crate::mpc::compare::mux::{Mux, MuxMode, MuxMsg, MuxParams};
use crate::mpc::compare::{RotDemand, Rots};
use crate::mpc::corr::Party;
use crate::mpc::engine::stats::EngineStats;
use crate::mpc::engine::{EngineError, EngineMsg, EngineOutput, JobId};

use mpc_core::field::Fp;

/// B2A jobs: the bit × value protocol in B2A mode, A speaks first.
fn params() -> MuxParams {
    MuxParams {
        mode: MuxMode::B2a,
        first: Party::A,
    }
}

/// OTs of a B2A batch of `n` bits.
pub(in crate::mpc::engine) fn demand(n: usize) -> RotDemand {
    params().rot_demand(n)
}

impl Proto for Mux {
    const NAME: &'static str = "B2A";
    type Input = Bits;

    fn build(mut bits: Bits, rots: Rots, cx: &Cx<'_>) -> Result<Mux, EngineError> {
        let bits = std::mem::take(&mut *bits);
        Ok(Mux::new(cx.party, params(), bits, Vec::new(), rots)?)
    }

    fn count_rots(stats: &mut EngineStats, ots: u64) {
        stats.b2a_rots += ots;
    }

    fn wrap(instance: u32, msg: MuxMsg) -> EngineMsg {
        EngineMsg::B2a { instance, msg }
    }

    fn unwrap(msg: EngineMsg) -> Option<MuxMsg> {
        match msg {
            EngineMsg::B2a { msg, .. } => Some(msg),
            _ => None,
        }
    }

    fn output(shares: Vec<Fp>, job: JobId, stats: &mut EngineStats) -> EngineOutput {
        stats.b2a_ops += shares.len() as u64;
        EngineOutput::B2a { job, shares }
    }
}
