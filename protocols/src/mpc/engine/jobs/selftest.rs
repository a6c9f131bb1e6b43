//! The self-test without a dealer: a DReLU job and a multiplication job on
//! random inputs (see the engine's module docs for how they are made), then
//! an opening of both parties' inputs and outputs, checked against the
//! plaintext. It is not a job kind of its own: it owns two ordinary jobs
//! and the opening.

use mpc_core::field::Fp;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use sha2::{Digest, Sha256};

use super::Shares;
use crate::mpc::arith::random_fp;
use crate::mpc::corr::Party;
use crate::mpc::engine::{EngineError, EngineMsg, EngineOutput, JobId, OpenMsg, SelfTestReport};

const SELFTEST_LABEL: &[u8] = b"tandem/engine/v1/self-test-masks";

/// This party's self-test inputs: DReLU shares (bounded values, see the
/// module docs) and multiplication shares `(xs, ys)`.
pub(in crate::mpc::engine) fn inputs(
    party: Party,
    ops: usize,
    seed: &[u8; 32],
    rng: &mut ChaCha12Rng,
) -> (Shares, Shares, Shares) {
    let mut h = Sha256::new();
    h.update(SELFTEST_LABEL);
    h.update(seed);
    let mut masks = ChaCha12Rng::from_seed(h.finalize().into());
    let half = |i: usize| -> u64 { if i.is_multiple_of(8) { 4 } else { 1 << 39 } };
    let drelu = (0..ops)
        .map(|i| {
            let r = random_fp(&mut masks);
            let h = half(i);
            let u = Fp::from_i64((rng.next_u64() % (2 * h)) as i64 - h as i64);
            match party {
                Party::A => u + r,
                Party::B => u - r,
            }
        })
        .collect();
    let xs = (0..ops).map(|_| random_fp(rng)).collect();
    let ys = (0..ops).map(|_| random_fp(rng)).collect();
    (Shares::new(drelu), Shares::new(xs), Shares::new(ys))
}

/// A running self-test: its jobs, inputs, outputs and the peer's opening.
pub(in crate::mpc::engine) struct SelfTest {
    job: JobId,
    ops: usize,
    drelu_job: JobId,
    mult_job: JobId,
    open_instance: u32,
    drelu_in: Shares,
    xs: Shares,
    ys: Shares,
    drelu_out: Option<Vec<bool>>,
    mult_out: Option<Vec<Fp>>,
    sent_open: bool,
    peer_open: Option<OpenMsg>,
    done: bool,
}

/// The self-test's jobs and instances, as queued.
pub(in crate::mpc::engine) struct Plan {
    /// The self-test itself.
    pub(in crate::mpc::engine) job: JobId,
    /// Operations of each kind.
    pub(in crate::mpc::engine) ops: usize,
    /// Its DReLU job.
    pub(in crate::mpc::engine) drelu_job: JobId,
    /// Its multiplication job.
    pub(in crate::mpc::engine) mult_job: JobId,
    /// The instance of the opening.
    pub(in crate::mpc::engine) open_instance: u32,
}

impl SelfTest {
    /// A self-test on these inputs (the ones its jobs were queued with).
    pub(in crate::mpc::engine) fn new(
        plan: Plan,
        drelu_in: Shares,
        xs: Shares,
        ys: Shares,
    ) -> SelfTest {
        SelfTest {
            job: plan.job,
            ops: plan.ops,
            drelu_job: plan.drelu_job,
            mult_job: plan.mult_job,
            open_instance: plan.open_instance,
            drelu_in,
            xs,
            ys,
            drelu_out: None,
            mult_out: None,
            sent_open: false,
            peer_open: None,
            done: false,
        }
    }

    /// Whether the report is out.
    pub(in crate::mpc::engine) fn is_done(&self) -> bool {
        self.done
    }

    /// Takes the output of one of the self-test's jobs.
    pub(in crate::mpc::engine) fn take(&mut self, out: EngineOutput) -> Result<(), EngineError> {
        match out {
            EngineOutput::Drelu { job, shares } if job == self.drelu_job => {
                self.drelu_out = Some(shares);
            }
            EngineOutput::Mult { job, shares } if job == self.mult_job => {
                self.mult_out = Some(shares);
            }
            _ => {
                return Err(EngineError::Unexpected {
                    got: "self-test result",
                    why: "it belongs to no self-test job",
                });
            }
        }
        Ok(())
    }

    /// Takes the peer's opening (checked for its sizes).
    pub(in crate::mpc::engine) fn on_open(
        &mut self,
        instance: u32,
        msg: OpenMsg,
    ) -> Result<(), EngineError> {
        if instance != self.open_instance || self.peer_open.is_some() || self.done {
            return Err(EngineError::Unexpected {
                got: "open",
                why: "not this self-test's opening, or a second one",
            });
        }
        for len in [
            msg.drelu_in.len(),
            msg.drelu_out.len(),
            msg.mult_x.len(),
            msg.mult_y.len(),
            msg.mult_z.len(),
        ] {
            if len != self.ops {
                return Err(EngineError::OpenCount {
                    expected: self.ops,
                    got: len,
                });
            }
        }
        self.peer_open = Some(msg);
        Ok(())
    }

    /// What is due once both jobs are done: this party's opening (with the
    /// [`EngineOutput::SelfTestComputed`] event), then, once the peer's
    /// opening is in too, the report.
    pub(in crate::mpc::engine) fn progress(&mut self) -> (Option<EngineMsg>, Vec<EngineOutput>) {
        let mut events = Vec::new();
        let (Some(dout), Some(mout)) = (self.drelu_out.as_ref(), self.mult_out.as_ref()) else {
            return (None, events);
        };
        if self.done {
            return (None, events);
        }
        let (job, ops) = (self.job, self.ops);
        let open = (!self.sent_open).then(|| {
            events.push(EngineOutput::SelfTestComputed { job, ops });
            EngineMsg::Open {
                instance: self.open_instance,
                msg: OpenMsg {
                    drelu_in: self.drelu_in.to_vec(),
                    drelu_out: dout.clone(),
                    mult_x: self.xs.to_vec(),
                    mult_y: self.ys.to_vec(),
                    mult_z: mout.clone(),
                },
            }
        });
        if let Some(peer) = self.peer_open.as_ref() {
            let report = self.check(dout, mout, peer);
            events.push(EngineOutput::SelfTest { job, report });
            self.done = true;
        }
        self.sent_open = true;
        (open, events)
    }

    /// Compares the reconstructed outputs with the plaintext.
    fn check(&self, dout: &[bool], mout: &[Fp], peer: &OpenMsg) -> SelfTestReport {
        let mut report = SelfTestReport {
            ops: self.ops,
            drelu_wrong: 0,
            mult_wrong: 0,
        };
        let drelu = self
            .drelu_in
            .iter()
            .zip(dout)
            .zip(&peer.drelu_in)
            .zip(&peer.drelu_out);
        for (((&v0, &b0), &v1), &b1) in drelu {
            if (b0 ^ b1) != ((v0 + v1).to_centered() >= 0) {
                report.drelu_wrong += 1;
            }
        }
        let own = self.xs.iter().zip(self.ys.iter()).zip(mout);
        let theirs = peer.mult_x.iter().zip(&peer.mult_y).zip(&peer.mult_z);
        for (((&x0, &y0), &z0), ((&x1, &y1), &z1)) in own.zip(theirs) {
            if (x0 + x1) * (y0 + y1) != z0 + z1 {
                report.mult_wrong += 1;
            }
        }
        report
    }
}
