//! Bit × value over F, directly from random OTs: given XOR shares of bits
//! `d_i` and additive shares of values `v_i`, output additive shares of
//! `d_i·v_i` (CrypTFlow2's multiplexer). With `v = 1` it is a bit-to-arithmetic
//! conversion (B2A, [`MuxMode::B2a`]).
//!
//! # Construction
//!
//! `d·v = (d_P ⊕ d_Q)·v_P + (d_P ⊕ d_Q)·v_Q`. Each term is one OT in which the
//! value's holder S is the sender and the other party R chooses with its bit
//! share. With a random OT (S: `t_0, t_1` = blocks reduced mod p; R: random
//! choice c and `t_c`):
//!
//! - R sends `e = d_R ⊕ c`;
//! - S sets `s_0 = t_e`, `Δ = (1 − 2·d_S)·v_S`, sends `u = s_0 + Δ − t_{1⊕e}`
//!   and keeps `r_S = d_S·v_S − s_0`;
//! - R computes `x_R = t_c + d_R·u` (`= s_0 + d_R·Δ`).
//!
//! `r_S + x_R = d_S·v_S + d_R·(1 − 2d_S)·v_S = (d_S ⊕ d_R)·v_S`. The full
//! product runs one OT per direction; B2A runs only the direction whose sender
//! holds the constant 1 (the other party's value is 0).
//!
//! # Messages (P = the party that speaks first, Q the other)
//!
//! 1. P → Q [`MuxMsg::Choices`]: `e_P` (P as receiver, Q as sender), n bits.
//! 2. Q → P [`MuxMsg::Reply`]: `u_Q` (n field elements), and in product mode
//!    `e_Q` (n bits) for the other direction.
//! 3. product mode only, P → Q [`MuxMsg::Corrections`]: `u_P`.
//!
//! In B2A mode Q finishes after sending message 2 and P on receiving it.
//!
//! # What each party sees; simulation (semi-honest)
//!
//! The OT sender sees `e = d_R ⊕ c` with c uniform and hidden from it: uniform
//! bits. The receiver sees `u = t_e + Δ − t_{1⊕e}`, which contains the block it
//! did not choose (`t_{1⊕e}` if `d_R = 0`, else `t_e`): uniform in F up to the
//! 2^-64 statistical distance of reducing a 128-bit block mod p. Both are
//! simulated by uniform values; outputs are additive shares, uniform given
//! the product.
//!
//! # Cost per element
//!
//! Product: 1 ROT each direction, 2 bits + 2 field elements (16.25 B), 3
//! messages. B2A: 1 ROT (first party receives), 1 bit + 1 field element
//! (8.125 B), 2 messages. Plus 5–9 header bytes per message per batch.

#[cfg(test)]
mod tests;

use core::fmt;

use mpc_core::codec::{CodecError, FP_BYTES, Limits, Message, Reader};
use mpc_core::field::Fp;
use rand::CryptoRng;
use thiserror::Error;

use super::bits::BitVec;
use super::codec;
use super::rots::{RotShapeError, Rots, block_to_fp};
use super::{Cost, Finished, MAX_SECTION_BITS, Phase, PingPong, RotDemand, Traffic};
use crate::mpc::corr::Party;

/// Errors of the bit × value protocol (kinds and counts only).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum MuxError {
    /// Inputs of the wrong length.
    #[error("bit×value: {what} has {got} entries, expected {expected}")]
    InputLength {
        /// Which input.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// The batch would exceed the message size limit.
    #[error("bit×value: a batch of {n} is too large")]
    TooLarge {
        /// Elements requested.
        n: usize,
    },
    /// The OT batch does not fit the instance.
    #[error("bit×value: {0}")]
    Rots(#[from] RotShapeError),
    /// A peer message does not decode.
    #[error("bit×value: {0}")]
    Codec(#[from] CodecError),
    /// A message of the wrong kind for this point of the protocol.
    #[error("bit×value: expected {expected}, got a {got} message")]
    Unexpected {
        /// What was expected.
        expected: &'static str,
        /// What arrived.
        got: &'static str,
    },
    /// A peer message carries the wrong number of entries.
    #[error("bit×value: {what} carries {got} entries, expected {expected}")]
    Count {
        /// Which section.
        what: &'static str,
        /// Expected entries.
        expected: usize,
        /// Entries received.
        got: usize,
    },
    /// The instance failed earlier.
    #[error("bit×value: the instance failed earlier")]
    Poisoned,
    /// `finish` before the protocol ended.
    #[error("bit×value: the protocol has not finished")]
    NotDone,
}

/// What the protocol computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MuxMode {
    /// Additive shares of `d·v` for XOR-shared d and additively shared v.
    Product,
    /// Additive shares of the XOR-shared bit d (v = 1).
    B2a,
}

/// Public parameters; both parties must use the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MuxParams {
    /// Product or B2A.
    pub mode: MuxMode,
    /// The party that sends the first message.
    pub first: Party,
}

impl MuxParams {
    /// OTs an `n`-element batch consumes.
    pub fn rot_demand(&self, n: usize) -> RotDemand {
        match (self.mode, self.first) {
            (MuxMode::Product, _) => RotDemand {
                a_receives: n,
                b_receives: n,
            },
            (MuxMode::B2a, Party::A) => RotDemand {
                a_receives: n,
                b_receives: 0,
            },
            (MuxMode::B2a, Party::B) => RotDemand {
                a_receives: 0,
                b_receives: n,
            },
        }
    }

    /// Exact cost of an `n`-element batch.
    pub fn cost(&self, n: usize) -> Cost {
        let bits = codec::COUNT_BYTES + n.div_ceil(8);
        let fps = codec::COUNT_BYTES + FP_BYTES * n;
        let mut c = Cost {
            rots: self.rot_demand(n),
            ..Cost::default()
        };
        let (p, q) = (self.first, self.first.other());
        c.add_message(p, 1 + bits);
        match self.mode {
            MuxMode::Product => {
                c.add_message(q, 1 + bits + fps);
                c.add_message(p, 1 + fps);
            }
            MuxMode::B2a => c.add_message(q, 1 + codec::COUNT_BYTES + fps),
        }
        c
    }
}

/// Messages of the bit × value protocol.
#[derive(Clone, PartialEq, Eq)]
pub enum MuxMsg {
    /// First → second: derandomised choices.
    Choices(BitVec),
    /// Second → first: its choices (empty in B2A mode) and its corrections.
    Reply {
        /// Derandomised choices of the second party.
        choices: BitVec,
        /// Corrections for the first party.
        corrections: Vec<Fp>,
    },
    /// First → second (product mode): corrections.
    Corrections(Vec<Fp>),
}

impl fmt::Debug for MuxMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MuxMsg::Choices(b) => write!(f, "Choices({} bits)", b.len()),
            MuxMsg::Reply {
                choices,
                corrections,
            } => write!(
                f,
                "Reply({} bits, {} elements)",
                choices.len(),
                corrections.len()
            ),
            MuxMsg::Corrections(v) => write!(f, "Corrections({} elements)", v.len()),
        }
    }
}

const TAG_CHOICES: u8 = 0x61;
const TAG_REPLY: u8 = 0x62;
const TAG_CORRECTIONS: u8 = 0x63;

impl Message for MuxMsg {
    const KIND: &'static str = "bit×value";

    fn encoded_len(&self) -> usize {
        1 + match self {
            MuxMsg::Choices(b) => codec::bits_len(b),
            MuxMsg::Reply {
                choices,
                corrections,
            } => codec::bits_len(choices) + codec::fps_len(corrections),
            MuxMsg::Corrections(v) => codec::fps_len(v),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            MuxMsg::Choices(b) => {
                out.push(TAG_CHOICES);
                codec::put_bits(out, b);
            }
            MuxMsg::Reply {
                choices,
                corrections,
            } => {
                out.push(TAG_REPLY);
                codec::put_bits(out, choices);
                codec::put_fps(out, corrections);
            }
            MuxMsg::Corrections(v) => {
                out.push(TAG_CORRECTIONS);
                codec::put_fps(out, v);
            }
        }
    }

    fn read(r: &mut Reader<'_>, _: &Limits) -> Result<Self, CodecError> {
        let msg = match r.u8()? {
            TAG_CHOICES => MuxMsg::Choices(codec::bits(r)?),
            TAG_REPLY => MuxMsg::Reply {
                choices: codec::bits(r)?,
                corrections: codec::fps(r)?,
            },
            TAG_CORRECTIONS => MuxMsg::Corrections(codec::fps(r)?),
            tag => {
                return Err(CodecError::Tag {
                    kind: Self::KIND,
                    tag,
                });
            }
        };
        Ok(msg)
    }
}

impl MuxMsg {
    /// Name of this message's variant, for errors.
    pub fn name(&self) -> &'static str {
        match self {
            MuxMsg::Choices(_) => "choices",
            MuxMsg::Reply { .. } => "reply",
            MuxMsg::Corrections(_) => "corrections",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// First party: send choices.
    Start,
    /// Second party: waiting for choices.
    AwaitChoices,
    /// First party: waiting for the reply.
    AwaitReply,
    /// Second party (product): waiting for corrections.
    AwaitCorrections,
}

/// One party's side of a batch of bit × value products (or B2A conversions).
pub struct Mux {
    party: Party,
    params: MuxParams,
    d: Vec<bool>,
    v: Vec<Fp>,
    rots: Rots,
    step: Step,
    /// This party's running output (its sender part, then + receiver part).
    out: Vec<Fp>,
    phase: Phase,
    traffic: Traffic,
}

impl fmt::Debug for Mux {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mux")
            .field("party", &self.party)
            .field("params", &self.params)
            .field("n", &self.d.len())
            .field("step", &self.step)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl Mux {
    /// This party's side: XOR shares `bits`, and in product mode additive
    /// shares `values` of the same length (in B2A mode `values` must be
    /// empty). `rots` must hold exactly [`MuxParams::rot_demand`]`(n)`.
    pub fn new(
        party: Party,
        params: MuxParams,
        bits: Vec<bool>,
        values: Vec<Fp>,
        rots: Rots,
    ) -> Result<Mux, MuxError> {
        let n = bits.len();
        let want = match params.mode {
            MuxMode::Product => n,
            MuxMode::B2a => 0,
        };
        if values.len() != want {
            return Err(MuxError::InputLength {
                what: "values",
                expected: want,
                got: values.len(),
            });
        }
        if n.checked_mul(64).is_none_or(|b| b > MAX_SECTION_BITS) {
            return Err(MuxError::TooLarge { n });
        }
        rots.expect(party, params.rot_demand(n))?;
        let step = if party == params.first {
            Step::Start
        } else {
            Step::AwaitChoices
        };
        Ok(Mux {
            party,
            params,
            d: bits,
            v: values,
            rots,
            step,
            out: Vec::new(),
            phase: Phase::Running,
            traffic: Traffic {
                rounds: match params.mode {
                    MuxMode::Product => 3,
                    MuxMode::B2a => 2,
                },
                ..Traffic::default()
            },
        })
    }

    /// Exact cost of this batch.
    pub fn cost(&self) -> Cost {
        self.params.cost(self.d.len())
    }

    /// This party's value share for element i (1/0 in B2A mode: the second
    /// party, which is the sender there, holds the constant).
    fn value(&self, i: usize) -> Fp {
        match self.params.mode {
            MuxMode::Product => self.v.get(i).copied().unwrap_or(Fp::ZERO),
            MuxMode::B2a => {
                if self.party == self.params.first {
                    Fp::ZERO
                } else {
                    Fp::ONE
                }
            }
        }
    }

    /// `e = d ⊕ c` over this party's received OTs.
    fn choices(&self) -> BitVec {
        self.d
            .iter()
            .zip(&self.rots.received.choices)
            .map(|(&d, &c)| d ^ c)
            .collect()
    }

    /// As OT sender, answers the peer's choices: corrections `u` and this
    /// party's part `r_S`.
    fn sender_part(&self, e: &BitVec) -> (Vec<Fp>, Vec<Fp>) {
        self.d
            .iter()
            .enumerate()
            .zip(self.rots.sent.m0.iter().zip(&self.rots.sent.m1))
            .map(|((i, &d), (&m0, &m1))| {
                let (a, b) = if e.get(i).unwrap_or(false) {
                    (m1, m0)
                } else {
                    (m0, m1)
                };
                let (s0, t1) = (block_to_fp(a), block_to_fp(b));
                let v = self.value(i);
                let dv = if d { v } else { Fp::ZERO };
                // Δ = (1 − 2d)·v
                let delta = v - dv - dv;
                (s0 + delta - t1, dv - s0)
            })
            .unzip()
    }

    /// As OT receiver, this party's part `x_R = t_c + d·u`.
    fn receiver_part(&self, u: &[Fp]) -> Vec<Fp> {
        self.d
            .iter()
            .zip(&self.rots.received.mc)
            .zip(u)
            .map(|((&d, &mc), &u)| block_to_fp(mc) + if d { u } else { Fp::ZERO })
            .collect()
    }

    fn expect_len(what: &'static str, expected: usize, got: usize) -> Result<(), MuxError> {
        if expected != got {
            return Err(MuxError::Count {
                what,
                expected,
                got,
            });
        }
        Ok(())
    }

    fn receive_inner(&mut self, msg: MuxMsg) -> Result<Option<MuxMsg>, MuxError> {
        let n = self.d.len();
        let len = msg.encoded_len();
        let product = self.params.mode == MuxMode::Product;
        let reply = match (self.step, msg) {
            (Step::AwaitChoices, MuxMsg::Choices(e)) => {
                Self::expect_len("choices", n, e.len())?;
                let (u, r) = self.sender_part(&e);
                self.out = r;
                let choices = if product {
                    self.step = Step::AwaitCorrections;
                    self.choices()
                } else {
                    self.phase = Phase::Done;
                    BitVec::new()
                };
                Some(MuxMsg::Reply {
                    choices,
                    corrections: u,
                })
            }
            (
                Step::AwaitReply,
                MuxMsg::Reply {
                    choices,
                    corrections,
                },
            ) => {
                Self::expect_len("corrections", n, corrections.len())?;
                Self::expect_len("choices", if product { n } else { 0 }, choices.len())?;
                let x = self.receiver_part(&corrections);
                self.phase = Phase::Done;
                if product {
                    let (u, r) = self.sender_part(&choices);
                    self.out = r.iter().zip(&x).map(|(&a, &b)| a + b).collect();
                    Some(MuxMsg::Corrections(u))
                } else {
                    self.out = x;
                    None
                }
            }
            (Step::AwaitCorrections, MuxMsg::Corrections(u)) => {
                Self::expect_len("corrections", n, u.len())?;
                let x = self.receiver_part(&u);
                for (o, x) in self.out.iter_mut().zip(x) {
                    *o += x;
                }
                self.phase = Phase::Done;
                None
            }
            (step, m) => {
                return Err(MuxError::Unexpected {
                    expected: match step {
                        Step::Start => "to send first",
                        Step::AwaitChoices => "choices",
                        Step::AwaitReply => "reply",
                        Step::AwaitCorrections => "corrections",
                    },
                    got: m.name(),
                });
            }
        };
        self.traffic.received(len);
        if let Some(m) = &reply {
            self.traffic.sent(m.encoded_len());
        }
        Ok(reply)
    }
}

impl PingPong for Mux {
    type Msg = MuxMsg;
    type Output = Vec<Fp>;
    type Error = MuxError;

    fn party(&self) -> Party {
        self.party
    }

    fn start<R: CryptoRng + ?Sized>(&mut self, _rng: &mut R) -> Result<Option<MuxMsg>, MuxError> {
        match self.phase {
            Phase::Failed => return Err(MuxError::Poisoned),
            Phase::Done => return Ok(None),
            Phase::Running => {}
        }
        if self.step != Step::Start {
            return Ok(None);
        }
        let m = MuxMsg::Choices(self.choices());
        self.traffic.sent(m.encoded_len());
        self.step = Step::AwaitReply;
        Ok(Some(m))
    }

    fn receive<R: CryptoRng + ?Sized>(
        &mut self,
        msg: MuxMsg,
        _rng: &mut R,
    ) -> Result<Option<MuxMsg>, MuxError> {
        match self.phase {
            Phase::Failed => return Err(MuxError::Poisoned),
            Phase::Done => {
                return Err(MuxError::Unexpected {
                    expected: "no further message",
                    got: msg.name(),
                });
            }
            Phase::Running => {}
        }
        let r = self.receive_inner(msg);
        if r.is_err() {
            self.phase = Phase::Failed;
        }
        if self.phase != Phase::Running {
            // Release the consumed correlations (they must never be reused).
            self.rots = Rots::default();
        }
        r
    }

    fn abort(&mut self) {
        self.phase = Phase::Failed;
    }

    fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    fn traffic(&self) -> Traffic {
        self.traffic
    }

    fn finish(self) -> Result<Finished<Vec<Fp>>, MuxError> {
        match self.phase {
            Phase::Done => Ok(Finished {
                output: self.out,
                traffic: self.traffic,
            }),
            Phase::Failed => Err(MuxError::Poisoned),
            Phase::Running => Err(MuxError::NotDone),
        }
    }
}
