//! Coin jobs: a joint 32-byte coin (`arith::coin`), commit then reveal,
//! labelled with its instance number. It consumes no OTs, so it starts as
//! soon as it is queued.

use super::{Cx, Instance, Job, Step};
use crate::mpc::arith::coin::{CoinRevealed, CoinToss};
use crate::mpc::compare::{RotDemand, Rots};
use crate::mpc::engine::{EngineError, EngineMsg, EngineOutput};

const COIN_LABEL: &[u8] = b"tandem/engine/v1/coin/";
const NAME: &str = "coin";

/// A coin job tosses one coin and consumes no OTs.
pub(in crate::mpc::engine) fn demand(n: usize) -> Result<RotDemand, EngineError> {
    if n != 1 {
        return Err(EngineError::Job("a coin job tosses one coin"));
    }
    Ok(RotDemand::default())
}

/// A queued coin toss (it has no inputs: each party's contribution comes
/// from its own CSPRNG).
pub(in crate::mpc::engine) struct CoinJob;

impl Job for CoinJob {
    fn start(self: Box<Self>, _rots: Rots, cx: &mut Cx<'_>) -> Result<Step, EngineError> {
        let mut label = COIN_LABEL.to_vec();
        label.extend_from_slice(&cx.instance.to_le_bytes());
        let (toss, msg) = CoinToss::start(cx.party, &label, &mut *cx.rng)?;
        cx.send(EngineMsg::CoinCommit {
            instance: cx.instance,
            msg,
        });
        Ok(Step::Wait(Box::new(Committed(toss))))
    }
}

/// Commitment sent, waiting for the peer's.
struct Committed(CoinToss);

impl Instance for Committed {
    fn on_msg(self: Box<Self>, msg: EngineMsg, cx: &mut Cx<'_>) -> Result<Step, EngineError> {
        let msg = match msg {
            EngineMsg::CoinCommit { msg, .. } => msg,
            other => return Err(cx.wrong(NAME, other.kind())),
        };
        let (revealed, reveal) = self.0.reveal(&msg);
        cx.send(EngineMsg::CoinReveal {
            instance: cx.instance,
            msg: reveal,
        });
        Ok(Step::Wait(Box::new(Revealed(revealed))))
    }
}

/// Opening sent, waiting for the peer's.
struct Revealed(CoinRevealed);

impl Instance for Revealed {
    fn on_msg(self: Box<Self>, msg: EngineMsg, cx: &mut Cx<'_>) -> Result<Step, EngineError> {
        let msg = match msg {
            EngineMsg::CoinReveal { msg, .. } => msg,
            other => return Err(cx.wrong(NAME, other.kind())),
        };
        let coin = self.0.finish(&msg)?.output.0;
        cx.stats().coins += 1;
        Ok(Step::Done(EngineOutput::Coin { job: cx.job, coin }))
    }
}
