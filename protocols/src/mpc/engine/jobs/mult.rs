//! Multiplication jobs: additive shares of `x·y`, via Beaver triples made
//! from Gilboa OLEs. Two instances: triple generation (which consumes the
//! OTs and so starts in instance order) and then the multiplication at the
//! next instance number, reserved when the job is queued.

use super::{Cx, Instance, Job, Shares, Step, ots};
use crate::mpc::arith::mult::Mult;
use crate::mpc::arith::triples::{OTS_PER_TRIPLE, TripleGen};
use crate::mpc::compare::{RotDemand, Rots};
use crate::mpc::engine::{EngineConfig, EngineError, EngineMsg, EngineOutput};

/// OTs of a job of `n` products: the triples' and their margin's.
pub(in crate::mpc::engine) fn demand(n: usize, config: &EngineConfig) -> RotDemand {
    let per_dir = (n + config.triple_margin) * OTS_PER_TRIPLE;
    RotDemand {
        a_receives: per_dir,
        b_receives: per_dir,
    }
}

/// A queued multiplication job: this party's shares of `x` and `y`.
pub(in crate::mpc::engine) struct MultJob {
    /// Products wanted.
    pub(in crate::mpc::engine) need: usize,
    /// Triples to generate (`need` plus the margin).
    pub(in crate::mpc::engine) n: usize,
    /// The instance of the multiplication itself.
    pub(in crate::mpc::engine) mult_instance: u32,
    pub(in crate::mpc::engine) xs: Shares,
    pub(in crate::mpc::engine) ys: Shares,
}

impl Job for MultJob {
    fn start(self: Box<Self>, mut rots: Rots, cx: &mut Cx<'_>) -> Result<Step, EngineError> {
        cx.stats().triple_rots += ots(&rots);
        let MultJob {
            need,
            n,
            mult_instance,
            xs,
            ys,
        } = *self;
        let sent = std::mem::take(&mut rots.sent);
        let received = std::mem::take(&mut rots.received);
        let (triple_gen, msg) = TripleGen::start(n, sent, received, &mut *cx.rng)?;
        cx.send(EngineMsg::Triples {
            instance: cx.instance,
            msg,
        });
        Ok(Step::Wait(Box::new(Triples {
            triple_gen,
            need,
            mult_instance,
            xs,
            ys,
        })))
    }
}

/// Triple generation, waiting for the peer's message.
struct Triples {
    triple_gen: TripleGen,
    need: usize,
    mult_instance: u32,
    xs: Shares,
    ys: Shares,
}

impl Instance for Triples {
    fn on_msg(self: Box<Self>, msg: EngineMsg, cx: &mut Cx<'_>) -> Result<Step, EngineError> {
        let msg = match msg {
            EngineMsg::Triples { msg, .. } => msg,
            other => return Err(cx.wrong("triples", other.kind())),
        };
        let Triples {
            triple_gen,
            need,
            mult_instance,
            xs,
            ys,
        } = *self;
        let mut triples = triple_gen.finish(&msg)?.output;
        cx.stats().triples_made += triples.len() as u64;
        if triples.len() < need {
            return Err(EngineError::TriplesShort {
                got: triples.len(),
                need,
            });
        }
        triples.truncate(need);
        // The input shares are wiped when dropped, right after.
        let (proto, msg) = Mult::start(cx.party, &xs, &ys, triples)?;
        cx.send(EngineMsg::Mult {
            instance: mult_instance,
            msg,
        });
        Ok(Step::Then(mult_instance, Box::new(Product(proto))))
    }
}

/// The multiplication, waiting for the peer's openings.
struct Product(Mult);

impl Instance for Product {
    fn on_msg(self: Box<Self>, msg: EngineMsg, cx: &mut Cx<'_>) -> Result<Step, EngineError> {
        let msg = match msg {
            EngineMsg::Mult { msg, .. } => msg,
            other => return Err(cx.wrong("mult", other.kind())),
        };
        let shares = self.0.finish(&msg)?.output;
        cx.stats().mult_ops += shares.len() as u64;
        Ok(Step::Done(EngineOutput::Mult {
            job: cx.job,
            shares,
        }))
    }
}
