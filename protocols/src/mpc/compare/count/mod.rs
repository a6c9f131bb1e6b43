//! Secure count against a public threshold: from XOR shares of bits
//! `b_1 … b_n` and a public k, both servers learn the single bit
//! `[Σ b_i ≥ k]` and nothing else (a k_min test revealed as one bit; the reveal
//! rules of docs/PROTOCOL.md §3 release a sum only if at least k_min workers are in it).
//!
//! # Status: not used by the rounds
//!
//! The secure rules open the number of positive-trust workers from its
//! additive shares (docs/PROTOCOL.md §7.3, message 13), which §4 lists among
//! what A learns. This protocol is the way to reveal only the bit
//! `[count ≥ k_min]` instead, should that count need hiding; it stays as a
//! tested engine job (`Engine::submit_count`, run end to end in the engine's
//! tests) that no round calls today.
//!
//! # Construction
//!
//! 1. **B2A** ([`Mux`] in B2A mode, A speaks first): additive shares of each
//!    `b_i` in F.
//! 2. **Local sum**: `c = Σ b_i − k` (A subtracts k). `c ∈ [−k, n − k]`.
//! 3. **One DReLU** on c with the smallest bound B such that
//!    `2^B > max(n, k)` (so `c ∈ [−2^B, 2^B)`): for n, k ≤ 1000, B = 10 and the
//!    comparison has 3 digits — much cheaper than a 40-bit DReLU.
//! 4. **Reveal**: each party sends its XOR share of the result; both learn it.
//!
//! # Messages
//!
//! [`CountMsg::B2a`] × 2, [`CountMsg::Drelu`] × (D + 2), [`CountMsg::Reveal`]
//! × 2 — one share bit each way, sent first by whichever party received the
//! last DReLU message.
//!
//! # What each party sees; simulation (semi-honest)
//!
//! The B2A and DReLU transcripts are simulatable from a party's input alone
//! (see [`super::mux`], [`super::drelu`]); the intermediate additive shares and
//! the DReLU output share are uniformly random given the party's view. The
//! peer's reveal share equals `result ⊕ own share`, so it is simulated from the
//! output. Hence each server learns exactly the bit `[Σ b_i ≥ k]`: not the
//! count, not any individual `b_i`.
//!
//! # Cost
//!
//! B2A: n ROTs (A receives), n bits + 8n bytes. DReLU on one value with
//! `B = ⌈log₂(max(n, k) + 1)⌉` bits: `B + 1 + 2(⌈B/m⌉ − 1)` ROTs. Reveal:
//! 7 bytes each way. Messages: 2 + (D + 2) + 2 with D = ⌈log₂⌈B/m⌉⌉ tree
//! levels (7 for n ≤ 255, 8 for n ≤ 65535); one fewer pair with additive
//! input. n = 100, k = 3: 110 ROTs, 876 B of messages (2636 B with the OTs),
//! 7 messages. [`CountParams::cost`] gives exact numbers.

#[cfg(test)]
mod tests;

use core::fmt;

use mpc_core::codec::{CodecError, Limits, Message, Reader};
use mpc_core::field::Fp;
use rand::CryptoRng;
use thiserror::Error;

use super::bits::BitVec;
use super::codec;
use super::drelu::{Drelu, DreluError, DreluParams, MAX_BOUND_BITS};
use super::millionaire::CmpMsg;
use super::mux::{Mux, MuxError, MuxMode, MuxMsg, MuxParams};
use super::rots::RotShapeError;
use super::{Cost, Finished, PingPong, RotDemand, Rots, Traffic};
use crate::mpc::corr::Party;

/// Errors of the secure count (kinds and counts only).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CountError {
    /// Invalid parameters.
    #[error("count: invalid parameters: {0}")]
    Params(&'static str),
    /// The B2A stage failed.
    #[error("count: {0}")]
    B2a(#[from] MuxError),
    /// The comparison stage failed.
    #[error("count: {0}")]
    Drelu(#[from] DreluError),
    /// The OT batch does not fit.
    #[error("count: {0}")]
    Rots(#[from] RotShapeError),
    /// A peer message does not decode.
    #[error("count: {0}")]
    Codec(#[from] CodecError),
    /// A message of the wrong stage.
    #[error("count: expected a {expected} message, got a {got} message")]
    Unexpected {
        /// Stage expected.
        expected: &'static str,
        /// Stage received.
        got: &'static str,
    },
    /// The reveal message does not carry exactly one bit.
    #[error("count: reveal carries {got} bits, expected 1")]
    Reveal {
        /// Bits received.
        got: usize,
    },
    /// The instance failed earlier.
    #[error("count: the instance failed earlier")]
    Poisoned,
    /// `finish` before the protocol ended.
    #[error("count: the protocol has not finished")]
    NotDone,
}

/// Public parameters; both parties must use the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountParams {
    /// The threshold k: the output is `[Σ b_i ≥ k]`.
    pub k: u64,
    /// Number of input bits n.
    pub n: usize,
    /// Digit width of the comparison (default 4).
    pub digit_bits: u32,
}

impl CountParams {
    /// `[Σ b_i ≥ k]` over n bits, digits of 4 bits.
    pub fn new(n: usize, k: u64) -> CountParams {
        CountParams {
            k,
            n,
            digit_bits: 4,
        }
    }

    /// The DReLU parameters: the smallest B with `2^B > max(n, k)`.
    pub fn drelu(&self) -> Result<DreluParams, CountError> {
        let m = self.k.max(self.n as u64);
        let bound_bits = (64 - m.leading_zeros()).max(1);
        if bound_bits > MAX_BOUND_BITS {
            return Err(CountError::Params("n or k is too large"));
        }
        Ok(DreluParams {
            bound_bits,
            digit_bits: self.digit_bits,
        })
    }

    fn b2a(&self) -> MuxParams {
        MuxParams {
            mode: MuxMode::B2a,
            first: Party::A,
        }
    }

    /// OTs consumed: the B2A's first, then the DReLU's.
    pub fn rot_demand(&self) -> Result<RotDemand, CountError> {
        Ok(self.b2a().rot_demand(self.n) + self.drelu()?.rot_demand(1)?)
    }

    /// Exact cost.
    pub fn cost(&self) -> Result<Cost, CountError> {
        let mut c = self.b2a().cost(self.n).then(self.drelu()?.cost(1)?);
        // Reveal: one bit each way.
        let reveal = 1 + codec::COUNT_BYTES + 1;
        c.add_message(Party::A, reveal);
        c.add_message(Party::B, reveal);
        // One wrapper tag per message, strictly alternating from A.
        c.bytes_a_to_b += c.messages.div_ceil(2);
        c.bytes_b_to_a += c.messages / 2;
        Ok(c)
    }
}

/// Messages of the count: a stage tag, then the stage's message.
#[derive(Clone, PartialEq, Eq)]
pub enum CountMsg {
    /// B2A stage.
    B2a(MuxMsg),
    /// Comparison stage.
    Drelu(CmpMsg),
    /// This party's XOR share of the result (one bit).
    Reveal(BitVec),
}

impl fmt::Debug for CountMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CountMsg::B2a(m) => write!(f, "B2a({m:?})"),
            CountMsg::Drelu(m) => write!(f, "Drelu({m:?})"),
            CountMsg::Reveal(b) => write!(f, "Reveal({} bits)", b.len()),
        }
    }
}

const TAG_B2A: u8 = 0x81;
const TAG_DRELU: u8 = 0x82;
const TAG_REVEAL: u8 = 0x83;
const TAG_REVEAL_INNER: u8 = 0x01;

impl Message for CountMsg {
    const KIND: &'static str = "count";

    fn encoded_len(&self) -> usize {
        1 + match self {
            CountMsg::B2a(m) => m.encoded_len(),
            CountMsg::Drelu(m) => m.encoded_len(),
            CountMsg::Reveal(b) => 1 + codec::bits_len(b),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            CountMsg::B2a(m) => {
                out.push(TAG_B2A);
                m.write(out);
            }
            CountMsg::Drelu(m) => {
                out.push(TAG_DRELU);
                m.write(out);
            }
            CountMsg::Reveal(b) => {
                out.push(TAG_REVEAL);
                out.push(TAG_REVEAL_INNER);
                codec::put_bits(out, b);
            }
        }
    }

    fn read(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, CodecError> {
        match r.u8()? {
            TAG_B2A => Ok(CountMsg::B2a(r.message::<MuxMsg>(limits)?)),
            TAG_DRELU => Ok(CountMsg::Drelu(r.message::<CmpMsg>(limits)?)),
            TAG_REVEAL => {
                let tag = r.u8()?;
                if tag != TAG_REVEAL_INNER {
                    return Err(CodecError::Tag {
                        kind: Self::KIND,
                        tag,
                    });
                }
                Ok(CountMsg::Reveal(codec::bits(r)?))
            }
            tag => Err(CodecError::Tag {
                kind: Self::KIND,
                tag,
            }),
        }
    }
}

impl CountMsg {
    /// Name of this message's variant, for errors.
    pub fn name(&self) -> &'static str {
        match self {
            CountMsg::B2a(_) => "B2A",
            CountMsg::Drelu(_) => "DReLU",
            CountMsg::Reveal(_) => "reveal",
        }
    }
}

enum Stage {
    B2a(Box<Mux>),
    Drelu(Box<Drelu>),
    /// Own share; whether it has been sent.
    Reveal(bool, bool),
    Done(bool),
    Failed,
}

impl Stage {
    fn name(&self) -> &'static str {
        match self {
            Stage::B2a(_) => "B2A",
            Stage::Drelu(_) => "DReLU",
            Stage::Reveal(..) => "reveal",
            Stage::Done(_) => "no further",
            Stage::Failed => "failed",
        }
    }
}

/// One party's side of a secure count.
pub struct Count {
    party: Party,
    params: CountParams,
    drelu_rots: Option<Rots>,
    stage: Stage,
    traffic: Traffic,
}

impl fmt::Debug for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Count")
            .field("party", &self.party)
            .field("params", &self.params)
            .field("stage", &self.stage.name())
            .finish_non_exhaustive()
    }
}

impl Count {
    /// This party's side. `rots` must hold exactly
    /// [`CountParams::rot_demand`]`(input is Xor)`.
    pub fn new(
        party: Party,
        params: &CountParams,
        bits: Vec<bool>,
        mut rots: Rots,
    ) -> Result<Count, CountError> {
        if bits.len() != params.n {
            return Err(CountError::Params("input length differs from n"));
        }
        rots.expect(party, params.rot_demand()?)?;
        let mut c = Count {
            party,
            params: *params,
            drelu_rots: None,
            stage: Stage::Failed,
            traffic: Traffic::default(),
        };
        let b_rots = rots.take_front(party, params.b2a().rot_demand(params.n))?;
        c.drelu_rots = Some(rots);
        c.stage = Stage::B2a(Box::new(Mux::new(
            party,
            params.b2a(),
            bits,
            Vec::new(),
            b_rots,
        )?));
        Ok(c)
    }

    /// The DReLU on `Σ shares − k`.
    fn drelu(&mut self, shares: &[Fp]) -> Result<Drelu, CountError> {
        let mut sum: Fp = shares.iter().copied().sum();
        if self.party == Party::A {
            sum -= Fp::reduce_u64(self.params.k);
        }
        let rots = self.drelu_rots.take().ok_or(CountError::NotDone)?;
        Ok(Drelu::new(self.party, &self.params.drelu()?, &[sum], rots)?)
    }

    /// After the DReLU ends; `my_turn` if this party received its last message.
    fn enter_reveal(&mut self, d: Drelu, my_turn: bool) -> Result<Option<CountMsg>, CountError> {
        let f = d.finish()?;
        self.traffic += f.traffic;
        let share = f.output.first().copied().ok_or(CountError::NotDone)?;
        self.stage = Stage::Reveal(share, my_turn);
        Ok(my_turn.then(|| CountMsg::Reveal(core::iter::once(share).collect())))
    }

    fn step<R: CryptoRng + ?Sized>(
        &mut self,
        msg: Option<CountMsg>,
        rng: &mut R,
    ) -> Result<Option<CountMsg>, CountError> {
        let stage = core::mem::replace(&mut self.stage, Stage::Failed);
        match (stage, msg) {
            (Stage::B2a(mut x), None) => {
                let m = x.start(rng)?;
                self.stage = Stage::B2a(x);
                Ok(m.map(CountMsg::B2a))
            }
            (Stage::B2a(mut x), Some(CountMsg::B2a(m))) => {
                let reply = x.receive(m, rng)?;
                if !x.is_done() {
                    self.stage = Stage::B2a(x);
                    return Ok(reply.map(CountMsg::B2a));
                }
                let f = (*x).finish()?;
                self.traffic += f.traffic;
                let mut d = self.drelu(&f.output)?;
                match reply {
                    Some(r) => {
                        self.stage = Stage::Drelu(Box::new(d));
                        Ok(Some(CountMsg::B2a(r)))
                    }
                    None => {
                        let m = d.start(rng)?;
                        self.stage = Stage::Drelu(Box::new(d));
                        Ok(m.map(CountMsg::Drelu))
                    }
                }
            }
            (Stage::Drelu(mut d), None) => {
                let m = d.start(rng)?;
                self.stage = Stage::Drelu(d);
                Ok(m.map(CountMsg::Drelu))
            }
            (Stage::Drelu(mut d), Some(CountMsg::Drelu(m))) => {
                let reply = d.receive(m, rng)?;
                if !d.is_done() {
                    self.stage = Stage::Drelu(d);
                    return Ok(reply.map(CountMsg::Drelu));
                }
                match reply {
                    Some(r) => {
                        self.enter_reveal(*d, false)?;
                        Ok(Some(CountMsg::Drelu(r)))
                    }
                    None => self.enter_reveal(*d, true),
                }
            }
            (Stage::Reveal(share, sent), Some(CountMsg::Reveal(b))) => {
                if b.len() != 1 {
                    return Err(CountError::Reveal { got: b.len() });
                }
                let other = b.get(0).ok_or(CountError::Reveal { got: 0 })?;
                self.stage = Stage::Done(share ^ other);
                Ok((!sent).then(|| CountMsg::Reveal(core::iter::once(share).collect())))
            }
            (s @ (Stage::Reveal(..) | Stage::Done(_)), None) => {
                self.stage = s;
                Ok(None)
            }
            (Stage::Done(x), Some(m)) => {
                self.stage = Stage::Done(x);
                Err(CountError::Unexpected {
                    expected: "no further",
                    got: m.name(),
                })
            }
            (Stage::Failed, _) => Err(CountError::Poisoned),
            (stage, Some(m)) => Err(CountError::Unexpected {
                expected: stage.name(),
                got: m.name(),
            }),
        }
    }
}

impl PingPong for Count {
    type Msg = CountMsg;
    type Output = bool;
    type Error = CountError;

    fn party(&self) -> Party {
        self.party
    }

    fn start<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
    ) -> Result<Option<CountMsg>, CountError> {
        let m = self.step(None, rng)?;
        if let Some(m) = &m {
            self.count_sent(m);
        }
        Ok(m)
    }

    fn receive<R: CryptoRng + ?Sized>(
        &mut self,
        msg: CountMsg,
        rng: &mut R,
    ) -> Result<Option<CountMsg>, CountError> {
        self.count_received(&msg);
        let m = self.step(Some(msg), rng)?;
        if let Some(m) = &m {
            self.count_sent(m);
        }
        Ok(m)
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
            Stage::B2a(x) => t += x.traffic(),
            Stage::Drelu(d) => t += d.traffic(),
            _ => {}
        }
        t
    }

    fn finish(self) -> Result<Finished<bool>, CountError> {
        match self.stage {
            Stage::Done(output) => Ok(Finished {
                output,
                traffic: self.traffic,
            }),
            Stage::Failed => Err(CountError::Poisoned),
            _ => Err(CountError::NotDone),
        }
    }
}

impl Count {
    /// Wrapper bytes (and whole reveal messages) are counted here; inner
    /// stages count their own messages.
    fn count_sent(&mut self, m: &CountMsg) {
        match m {
            CountMsg::Reveal(_) => self.traffic.sent(m.encoded_len()),
            _ => self.traffic.bytes_sent += 1,
        }
    }

    fn count_received(&mut self, m: &CountMsg) {
        match m {
            CountMsg::Reveal(_) => {
                self.traffic.received(m.encoded_len());
                self.traffic.rounds += 2;
            }
            _ => self.traffic.bytes_received += 1,
        }
    }
}
