//! ReLU of field-shared values: from additive shares of bounded `v`, additive
//! shares of `ReLU(v) = [v ≥ 0]·v` — or, with a threshold, of the gated value
//! `[v ⋈ T]·v`. It runs [`Drelu`] and then [`Mux`] in product mode on the
//! DReLU output bit and the same value shares.
//!
//! The output also keeps the XOR shares of the gate bit ([`ReluOutput::bits`]).
//! For trust scores use the gate `v > 0` (`Threshold { value: 0, relation: Gt }`):
//! `[S > 0]·S = ReLU(S)` as well, and the bits are then exactly the
//! "positive trust" bits the secure count ([`super::count`]) takes — no second
//! comparison needed. (The rounds B2A these bits and open their sum instead,
//! §7.3; see the count's "Status".)
//!
//! # Messages
//!
//! [`ReluMsg::Drelu`] wrapping the DReLU messages (5 for B = 40, m = 5),
//! then [`ReluMsg::Mux`] wrapping the 3 bit × value messages. The product is
//! opened by whichever party received the last DReLU message (so the exchange
//! stays strictly alternating): 8 messages.
//!
//! # What each party sees; simulation (semi-honest)
//!
//! The transcript is a DReLU transcript followed by a bit × value transcript
//! on fresh OTs; both are simulatable from a party's own input and output
//! (see [`super::drelu`], [`super::mux`]), and the intermediate DReLU shares
//! are uniformly random bits, never opened. The output is additive shares,
//! uniform given `ReLU(v)`.
//!
//! # Cost per value (B = 40, m = 4), batched
//!
//! DReLU (55 ROTs, 129.7 B) + product (2 ROTs, 16.25 B): 57 ROTs (912 B of
//! IKNP) + 145.9 B of messages ≈ **1.06 KB**. (B2A + a Beaver
//! multiplication would need a Beaver triple — 128 ROTs — per value instead.)
//! [`ReluParams::cost`] gives exact numbers.

#[cfg(test)]
mod tests;

use core::fmt;

use mpc_core::codec::{CodecError, Limits, Message, Reader};
use mpc_core::field::Fp;
use rand::CryptoRng;
use thiserror::Error;

use super::drelu::{Drelu, DreluError, DreluParams, Threshold};
use super::millionaire::CmpMsg;
use super::mux::{Mux, MuxError, MuxMode, MuxMsg, MuxParams};
use super::rots::RotShapeError;
use super::{Cost, Finished, PingPong, RotDemand, Rots, Traffic};
use crate::mpc::corr::Party;

/// Errors of ReLU (kinds and counts only).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ReluError {
    /// The comparison stage failed.
    #[error("ReLU: {0}")]
    Drelu(#[from] DreluError),
    /// The product stage failed.
    #[error("ReLU: {0}")]
    Mux(#[from] MuxError),
    /// The OT batch does not fit.
    #[error("ReLU: {0}")]
    Rots(#[from] RotShapeError),
    /// A peer message does not decode.
    #[error("ReLU: {0}")]
    Codec(#[from] CodecError),
    /// A message of the wrong stage.
    #[error("ReLU: expected a {expected} message, got a {got} message")]
    Unexpected {
        /// Stage expected.
        expected: &'static str,
        /// Stage received.
        got: &'static str,
    },
    /// The instance failed earlier.
    #[error("ReLU: the instance failed earlier")]
    Poisoned,
    /// `finish` before the protocol ended.
    #[error("ReLU: the protocol has not finished")]
    NotDone,
}

/// Public parameters; both parties must use the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReluParams {
    /// The comparison's parameters (bound, digit width).
    pub drelu: DreluParams,
    /// The gate: [`Threshold::DRELU`] for ReLU.
    pub threshold: Threshold,
}

impl Default for ReluParams {
    fn default() -> Self {
        ReluParams {
            drelu: DreluParams::default(),
            threshold: Threshold::DRELU,
        }
    }
}

/// The product stage's OTs: one per direction per value (which party opens
/// the product does not change the demand).
fn mux_demand(n: usize) -> RotDemand {
    MuxParams {
        mode: MuxMode::Product,
        first: Party::A,
    }
    .rot_demand(n)
}

impl ReluParams {
    /// OTs an `n`-value batch consumes: the DReLU's first, then the product's.
    pub fn rot_demand(&self, n: usize) -> Result<RotDemand, ReluError> {
        Ok(self.drelu.rot_demand(n)? + mux_demand(n))
    }

    /// Exact cost of an `n`-value batch (each message carries one more tag byte).
    pub fn cost(&self, n: usize) -> Result<Cost, ReluError> {
        let d = self.drelu.cost(n)?;
        // The party receiving the last DReLU message opens the product.
        let first = if d.messages % 2 == 0 {
            Party::A
        } else {
            Party::B
        };
        let m = MuxParams {
            mode: MuxMode::Product,
            first,
        }
        .cost(n);
        let mut c = d.then(m);
        // One wrapper tag per message.
        let (a, b) = (c.messages.div_ceil(2), c.messages / 2);
        c.bytes_a_to_b += a;
        c.bytes_b_to_a += b;
        Ok(c)
    }
}

/// Messages of ReLU: a stage tag, then the stage's message.
#[derive(Clone, PartialEq, Eq)]
pub enum ReluMsg {
    /// Comparison stage.
    Drelu(CmpMsg),
    /// Product stage.
    Mux(MuxMsg),
}

impl fmt::Debug for ReluMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReluMsg::Drelu(m) => write!(f, "Drelu({m:?})"),
            ReluMsg::Mux(m) => write!(f, "Mux({m:?})"),
        }
    }
}

const TAG_DRELU: u8 = 0x71;
const TAG_MUX: u8 = 0x72;

impl Message for ReluMsg {
    const KIND: &'static str = "ReLU";

    fn encoded_len(&self) -> usize {
        1 + match self {
            ReluMsg::Drelu(m) => m.encoded_len(),
            ReluMsg::Mux(m) => m.encoded_len(),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            ReluMsg::Drelu(m) => {
                out.push(TAG_DRELU);
                m.write(out);
            }
            ReluMsg::Mux(m) => {
                out.push(TAG_MUX);
                m.write(out);
            }
        }
    }

    fn read(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, CodecError> {
        match r.u8()? {
            TAG_DRELU => Ok(ReluMsg::Drelu(r.message::<CmpMsg>(limits)?)),
            TAG_MUX => Ok(ReluMsg::Mux(r.message::<MuxMsg>(limits)?)),
            tag => Err(CodecError::Tag {
                kind: Self::KIND,
                tag,
            }),
        }
    }
}

impl ReluMsg {
    /// Name of this message's variant, for errors.
    pub fn name(&self) -> &'static str {
        match self {
            ReluMsg::Drelu(_) => "DReLU",
            ReluMsg::Mux(_) => "product",
        }
    }
}

/// This party's output of a ReLU batch.
#[derive(Clone, PartialEq, Eq)]
pub struct ReluOutput {
    /// Additive shares of `[v ⋈ T]·v` (of `ReLU(v)` for the default gate).
    pub values: Vec<Fp>,
    /// XOR shares of the gate bits `[v ⋈ T]`.
    pub bits: Vec<bool>,
}

impl fmt::Debug for ReluOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReluOutput({} values)", self.values.len())
    }
}

enum Stage {
    Drelu(Box<Drelu>),
    Mux(Mux),
    Done(ReluOutput),
    Failed,
}

/// One party's side of a batch of ReLUs.
pub struct Relu {
    party: Party,
    values: Vec<Fp>,
    bits: Vec<bool>,
    mux_rots: Option<Rots>,
    stage: Stage,
    /// Traffic of finished stages plus wrapper tags.
    traffic: Traffic,
}

impl fmt::Debug for Relu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match &self.stage {
            Stage::Drelu(_) => "DReLU",
            Stage::Mux(_) => "product",
            Stage::Done(_) => "done",
            Stage::Failed => "failed",
        };
        f.debug_struct("Relu")
            .field("party", &self.party)
            .field("n", &self.values.len())
            .field("stage", &stage)
            .finish_non_exhaustive()
    }
}

impl Relu {
    /// Additive shares of `[v ⋈ T]·v` for this party's shares `shares`.
    /// `rots` must hold exactly [`ReluParams::rot_demand`]`(shares.len())`.
    pub fn new(
        party: Party,
        params: &ReluParams,
        shares: Vec<Fp>,
        mut rots: Rots,
    ) -> Result<Relu, ReluError> {
        let n = shares.len();
        rots.expect(party, params.rot_demand(n)?)?;
        let d_rots = rots.take_front(party, params.drelu.rot_demand(n)?)?;
        let drelu = Drelu::with_threshold(party, &params.drelu, params.threshold, &shares, d_rots)?;
        Ok(Relu {
            party,
            values: shares,
            bits: Vec::new(),
            mux_rots: Some(rots),
            stage: Stage::Drelu(Box::new(drelu)),
            traffic: Traffic::default(),
        })
    }

    fn add(&mut self, t: Traffic) {
        self.traffic += t;
    }

    /// Wraps an outgoing message and counts its tag byte.
    fn out(&mut self, m: Option<ReluMsg>) -> Option<ReluMsg> {
        if m.is_some() {
            self.traffic.bytes_sent += 1;
        }
        m
    }

    /// After the DReLU stage ends: start the product. `my_turn` is whether
    /// this party received the last DReLU message.
    fn enter_mux<R: CryptoRng + ?Sized>(
        &mut self,
        drelu: Drelu,
        my_turn: bool,
        rng: &mut R,
    ) -> Result<Option<MuxMsg>, ReluError> {
        let f = drelu.finish()?;
        self.add(f.traffic);
        let first = if my_turn {
            self.party
        } else {
            self.party.other()
        };
        let rots = self.mux_rots.take().ok_or(ReluError::NotDone)?;
        self.bits = f.output.clone();
        let mut mux = Mux::new(
            self.party,
            MuxParams {
                mode: MuxMode::Product,
                first,
            },
            f.output,
            core::mem::take(&mut self.values),
            rots,
        )?;
        let m = mux.start(rng)?;
        self.stage = Stage::Mux(mux);
        Ok(m)
    }

    fn done_mux(&mut self, mux: Mux) -> Result<(), ReluError> {
        let f = mux.finish()?;
        self.add(f.traffic);
        self.stage = Stage::Done(ReluOutput {
            values: f.output,
            bits: core::mem::take(&mut self.bits),
        });
        Ok(())
    }

    fn step<R: CryptoRng + ?Sized>(
        &mut self,
        msg: Option<ReluMsg>,
        rng: &mut R,
    ) -> Result<Option<ReluMsg>, ReluError> {
        let stage = core::mem::replace(&mut self.stage, Stage::Failed);
        match (stage, msg) {
            (Stage::Drelu(mut d), None) => {
                let m = d.start(rng)?;
                self.stage = Stage::Drelu(d);
                Ok(m.map(ReluMsg::Drelu))
            }
            (Stage::Drelu(mut d), Some(ReluMsg::Drelu(m))) => {
                let reply = d.receive(m, rng)?;
                if !d.is_done() {
                    self.stage = Stage::Drelu(d);
                    return Ok(reply.map(ReluMsg::Drelu));
                }
                match reply {
                    // Finished on sending: the peer opens the product.
                    Some(r) => {
                        self.enter_mux(*d, false, rng)?;
                        Ok(Some(ReluMsg::Drelu(r)))
                    }
                    None => Ok(self.enter_mux(*d, true, rng)?.map(ReluMsg::Mux)),
                }
            }
            (Stage::Mux(mut x), None) => {
                let m = x.start(rng)?;
                self.stage = Stage::Mux(x);
                Ok(m.map(ReluMsg::Mux))
            }
            (Stage::Mux(mut x), Some(ReluMsg::Mux(m))) => {
                let reply = x.receive(m, rng)?;
                if x.is_done() {
                    self.done_mux(x)?;
                } else {
                    self.stage = Stage::Mux(x);
                }
                Ok(reply.map(ReluMsg::Mux))
            }
            (Stage::Done(f), None) => {
                self.stage = Stage::Done(f);
                Ok(None)
            }
            (Stage::Done(x), Some(m)) => {
                self.stage = Stage::Done(x);
                Err(ReluError::Unexpected {
                    expected: "no further",
                    got: m.name(),
                })
            }
            (Stage::Failed, _) => Err(ReluError::Poisoned),
            (stage, Some(m)) => Err(ReluError::Unexpected {
                expected: match stage {
                    Stage::Drelu(_) => "DReLU",
                    Stage::Mux(_) => "product",
                    _ => "no further",
                },
                got: m.name(),
            }),
        }
    }
}

impl PingPong for Relu {
    type Msg = ReluMsg;
    type Output = ReluOutput;
    type Error = ReluError;

    fn party(&self) -> Party {
        self.party
    }

    fn start<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Result<Option<ReluMsg>, ReluError> {
        let m = self.step(None, rng)?;
        Ok(self.out(m))
    }

    fn receive<R: CryptoRng + ?Sized>(
        &mut self,
        msg: ReluMsg,
        rng: &mut R,
    ) -> Result<Option<ReluMsg>, ReluError> {
        self.traffic.bytes_received += 1;
        let m = self.step(Some(msg), rng)?;
        Ok(self.out(m))
    }

    fn abort(&mut self) {
        self.stage = Stage::Failed;
    }

    fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done(_))
    }

    fn traffic(&self) -> Traffic {
        let mut t = self.traffic;
        match &self.stage {
            Stage::Drelu(d) => t += d.traffic(),
            Stage::Mux(x) => t += x.traffic(),
            _ => {}
        }
        t
    }

    fn finish(self) -> Result<Finished<ReluOutput>, ReluError> {
        match self.stage {
            Stage::Done(output) => Ok(Finished {
                output,
                traffic: self.traffic,
            }),
            Stage::Failed => Err(ReluError::Poisoned),
            _ => Err(ReluError::NotDone),
        }
    }
}
