//! DReLU for field-shared values, and comparison with a public threshold:
//! from additive shares `v = v_A + v_B (mod p)` of a **bounded** value, XOR
//! shares of `[v ≥ 0]` (or of `[v ⋈ T]` for a public integer T).
//!
//! # Bound
//!
//! With `B = bound_bits` (default 40, at most 60), the result is exact for
//! every integer `v ∈ [−2^B, 2^B)` (for a threshold: `v − T'` in that range,
//! with `T' = T` for ≥ and <, `T' = T + 1` for > and ≤). Outside the range the
//! output bit is unspecified (still no error and no leak). In tandem the trust
//! score S = ⟨X, G⟩ of an accepted submission satisfies |S| ≤ ‖X‖·‖G‖ ≈ 2^32,
//! so B = 40 leaves a margin of 2^8.
//!
//! # Why a 64-bit MSB test is wrong, and what we do instead
//!
//! Shares are uniform in F, so `v_A + v_B` as integers wraps past p about half
//! the time; the sign is not a bit of either share or of their 64-bit sum.
//! Let `w = v + 2^B ∈ [0, 2^{B+1})` (A adds the constant to its share), and
//! `s = w_A + w_B` as integers, so `s = w` (no wrap) or `s = w + p` (wrap).
//!
//! 1. **The wrap is an OR of two local bits.** No wrap needs `w_A + w_B < 2^{B+1}`,
//!    so if `w_B ≥ 2^{B+1}` (B's bit β) there is a wrap. If `w_B < 2^{B+1}`,
//!    then either `w_A < 2^{B+1}` (no wrap) or `w_A ≥ p − 2^{B+1}` (wrap), and
//!    `α = [w_A ≥ 2^63]` (A's bit) tells which, since `2^{B+1} ≤ 2^63 ≤ p − 2^{B+1}`.
//!    So `wrap = β ∨ α`.
//! 2. **Given the wrap, w is a sum mod 2^{B+1}.** Since `p ≡ 1 − 2^32 (mod 2^{B+1})`,
//!    `w ≡ a + b_wrap (mod 2^{B+1})` with `a = w_A mod 2^{B+1}`,
//!    `b_0 = w_B mod 2^{B+1}`, `b_1 = (w_B + 2^32 − 1) mod 2^{B+1}`.
//! 3. **DReLU is bit B of that sum**: `[v ≥ 0] = [w ≥ 2^B] = a_B ⊕ b_B ⊕ carry`,
//!    `carry = [(a mod 2^B) + (b mod 2^B) ≥ 2^B] = [x > Y]` with
//!    `x = a mod 2^B` (A) and `Y = 2^B − 1 − (b mod 2^B)` (B): one B-bit
//!    millionaires comparison.
//! 4. **The wrap selects B's operand inside the comparison.** B supplies
//!    `(Y_0, b_{0,B})` and `(Y_1, b_{1,B})` — both equal to the wrap case when
//!    β = 1 — and A selects with σ = α through the millionaires' *selector*:
//!    a private 1-out-of-2 choice folded into the leaf OTs (one extra OT and
//!    two table halves), with `b_{σ,B}` as B's private *flip* bit. A XORs
//!    `a_B` into its output share.
//!
//! So one DReLU is **one** B-bit comparison with a selector: for B = 40,
//! m = 5: 41 leaf OTs + 7 tree nodes × 2 OTs = 55 ROTs. The alternative of
//! three 64-bit comparisons `[s ≥ p]`, `[s ≥ 2^40]`, `[s ≥ p + 2^40]` sharing
//! A's digits, then a mux, needs 64 leaf OTs + 3 × 15 tree nodes × 2 OTs +
//! the mux ≈ 156 ROTs, ≈ 2.5 KB of IKNP traffic alone, and 64-bit tables.
//!
//! Digit width: m = 5 is the cheapest for B = 40 (two halves × 32 entries ×
//! 2 bits = 128 bits: each table is masked by the OT blocks themselves, and
//! 8 digits give a 3-level tree). Bytes per DReLU incl. OTs by m:
//! 1976 (m=1), 1321, 1137, 1031 (m=4, 6 messages), **1010 (m=5, 5 messages)**,
//! 1041, 1128, 1367 (m=8).
//!
//! # Messages
//!
//! Exactly the millionaires' messages ([`CmpMsg`]) of a B-bit comparison with
//! one slot and a selector. For B = 40, m = 5, per value:
//!
//! 1. A → B choices: 41 bits (40 digit bits + the selector).
//! 2. B → A tables: 7 digits × 2 halves × 32 entries × 2 bits + the lowest
//!    digit's 2 × 32 × 1 bit = 960 bits, with B's level-1 openings.
//! 3. – 5. openings, alternating (18 bits per value per party over 3 levels).
//!
//! 5 messages; A finishes on receiving the last one, B right after sending it.
//!
//! # What each party sees; simulation (semi-honest)
//!
//! The local steps (adding constants, reducing the local share, the bits α,
//! β) involve no communication; everything exchanged is the millionaires'
//! transcript, simulatable as shown in [`super::millionaire`] (the selector
//! choice is sent as `σ ⊕ c`, uniform; the unselected half of every table is
//! padded by an OT key A does not hold, so B's flip bits stay hidden too). The
//! output is a pair of XOR shares, uniform given the result.
//!
//! # Cost per value (B = 40, m = 5), batched
//!
//! ROTs: 48 with A as receiver, 7 with B as receiver: 55 × 16 B = 880 B of
//! IKNP. Messages: A → B 41 + 18 bits, B → A 960 + 18 bits = 129.6 B.
//! **Total ≈ 1010 B per DReLU** (1041 B for a batch of one, headers
//! included). [`DreluParams::cost`] gives exact numbers; the test
//! `drelu_bytes_per_op` prints them.

#[cfg(test)]
mod tests;

use core::fmt;

use mpc_core::codec::CodecError;
use mpc_core::field::Fp;
use rand::CryptoRng;
use thiserror::Error;

use super::millionaire::{CmpMsg, Millionaire, MillionaireError, MillionaireParams};
use super::{Cost, Finished, PingPong, Relation, RotDemand, Rots, Traffic};
use crate::mpc::corr::Party;

/// Largest supported bound exponent B.
pub const MAX_BOUND_BITS: u32 = 60;

/// Errors of DReLU / threshold comparison (kinds and counts only).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DreluError {
    /// Invalid parameters.
    #[error("DReLU: invalid parameters: {0}")]
    Params(&'static str),
    /// The inner comparison failed (including peer-message errors).
    #[error("DReLU: {0}")]
    Compare(#[from] MillionaireError),
}

impl From<CodecError> for DreluError {
    fn from(e: CodecError) -> Self {
        DreluError::Compare(MillionaireError::Codec(e))
    }
}

/// Public parameters; both parties must use the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DreluParams {
    /// B: values must lie in `[−2^B, 2^B)`. 1..=60, default 40.
    pub bound_bits: u32,
    /// Digit width of the inner comparison, 1..=8, default 5.
    pub digit_bits: u32,
}

impl Default for DreluParams {
    fn default() -> Self {
        DreluParams {
            bound_bits: 40,
            digit_bits: 5,
        }
    }
}

/// A public threshold: the protocol computes `[v ⋈ value]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threshold {
    /// The threshold T (an integer in the values' fixed-point scale).
    pub value: i64,
    /// The relation ⋈.
    pub relation: Relation,
}

impl Threshold {
    /// `[v ≥ 0]`: DReLU.
    pub const DRELU: Threshold = Threshold {
        value: 0,
        relation: Relation::Ge,
    };

    /// `(T', negate)`: `[v ⋈ T] = [v − T' ≥ 0] ⊕ negate` on integers.
    fn reduce(self) -> Result<(i64, bool), DreluError> {
        let next = || {
            self.value
                .checked_add(1)
                .ok_or(DreluError::Params("threshold overflows i64"))
        };
        Ok(match self.relation {
            Relation::Ge => (self.value, false),
            Relation::Lt => (self.value, true),
            Relation::Gt => (next()?, false),
            Relation::Le => (next()?, true),
        })
    }
}

impl DreluParams {
    fn validate(&self) -> Result<(), DreluError> {
        if !(1..=MAX_BOUND_BITS).contains(&self.bound_bits) {
            return Err(DreluError::Params("bound_bits must be in 1..=60"));
        }
        Ok(())
    }

    /// The inner millionaires' parameters.
    pub fn millionaire(&self) -> MillionaireParams {
        MillionaireParams {
            bits: self.bound_bits,
            digit_bits: self.digit_bits,
            slots: 1,
            selector: true,
            relation: Relation::Gt,
        }
    }

    /// OTs an `n`-value batch consumes.
    pub fn rot_demand(&self, n: usize) -> Result<RotDemand, DreluError> {
        self.validate()?;
        Ok(self.millionaire().rot_demand(n)?)
    }

    /// Exact cost of an `n`-value batch.
    pub fn cost(&self, n: usize) -> Result<Cost, DreluError> {
        self.validate()?;
        Ok(self.millionaire().cost(n)?)
    }
}

/// A's local step for one value: `(x, σ, a_B)` from `w_A`.
pub(crate) fn a_local(w_a: Fp, bb: u32) -> (u64, bool, bool) {
    let w = w_a.value();
    let a = w & ((1u64 << (bb + 1)) - 1);
    let x = a & ((1u64 << bb) - 1);
    (x, w >> 63 == 1, (a >> bb) & 1 == 1)
}

/// B's local step for one value: `([Y_0, Y_1], [flip_0, flip_1])` from `w_B`.
pub(crate) fn b_local(w_b: Fp, bb: u32) -> ([u64; 2], [bool; 2]) {
    let w = w_b.value();
    let m1 = (1u64 << (bb + 1)) - 1;
    let m0 = (1u64 << bb) - 1;
    // −p ≡ 2^32 − 1 (mod 2^{B+1}).
    let k = 0xffff_ffffu64 & m1;
    let beta = w > m1;
    let b1 = (w & m1).wrapping_add(k) & m1;
    let b0 = if beta { b1 } else { w & m1 };
    let y = |b: u64| m0 - (b & m0);
    let top = |b: u64| (b >> bb) & 1 == 1;
    ([y(b0), y(b1)], [top(b0), top(b1)])
}

/// One party's side of a batch of DReLU / threshold comparisons.
pub struct Drelu {
    party: Party,
    inner: Millionaire,
    /// A: per value, the bit XORed into its output share (`a_B ⊕ negate`).
    fix: Vec<bool>,
}

impl fmt::Debug for Drelu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drelu")
            .field("party", &self.party)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Drelu {
    /// XOR shares of `[v ≥ 0]` for this party's additive shares `shares`.
    /// `rots` must hold exactly [`DreluParams::rot_demand`]`(shares.len())`.
    pub fn new(
        party: Party,
        params: &DreluParams,
        shares: &[Fp],
        rots: Rots,
    ) -> Result<Drelu, DreluError> {
        Drelu::with_threshold(party, params, Threshold::DRELU, shares, rots)
    }

    /// XOR shares of `[v ⋈ T]` for a public threshold (same T on both sides).
    pub fn with_threshold(
        party: Party,
        params: &DreluParams,
        threshold: Threshold,
        shares: &[Fp],
        rots: Rots,
    ) -> Result<Drelu, DreluError> {
        params.validate()?;
        let (t, negate) = threshold.reduce()?;
        let bb = params.bound_bits;
        let mp = params.millionaire();
        match party {
            Party::A => {
                let shift = Fp::pow2(bb) - Fp::from_i64(t);
                let mut xs = Vec::with_capacity(shares.len());
                let mut sel = Vec::with_capacity(shares.len());
                let mut fix = Vec::with_capacity(shares.len());
                for &v in shares {
                    let (x, s, top) = a_local(v + shift, bb);
                    xs.push(x);
                    sel.push(s);
                    fix.push(top ^ negate);
                }
                Ok(Drelu {
                    party,
                    inner: Millionaire::new_a(&mp, xs, sel, rots)?,
                    fix,
                })
            }
            Party::B => {
                let mut ys = Vec::with_capacity(2 * shares.len());
                let mut flips = Vec::with_capacity(2 * shares.len());
                for &v in shares {
                    let (y, f) = b_local(v, bb);
                    ys.extend_from_slice(&y);
                    flips.extend_from_slice(&f);
                }
                Ok(Drelu {
                    party,
                    inner: Millionaire::new_b(&mp, ys, flips, rots)?,
                    fix: Vec::new(),
                })
            }
        }
    }

    /// Exact cost of this batch.
    pub fn cost(&self) -> Cost {
        self.inner.cost()
    }
}

impl PingPong for Drelu {
    type Msg = CmpMsg;
    type Output = Vec<bool>;
    type Error = DreluError;

    fn party(&self) -> Party {
        self.party
    }

    fn start<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Result<Option<CmpMsg>, DreluError> {
        Ok(self.inner.start(rng)?)
    }

    fn receive<R: CryptoRng + ?Sized>(
        &mut self,
        msg: CmpMsg,
        rng: &mut R,
    ) -> Result<Option<CmpMsg>, DreluError> {
        Ok(self.inner.receive(msg, rng)?)
    }

    fn abort(&mut self) {
        self.inner.abort();
    }

    fn is_done(&self) -> bool {
        self.inner.is_done()
    }

    fn traffic(&self) -> Traffic {
        self.inner.traffic()
    }

    fn finish(self) -> Result<Finished<Vec<bool>>, DreluError> {
        let mut f = self.inner.finish()?;
        if self.party == Party::A {
            for (o, x) in f.output.iter_mut().zip(&self.fix) {
                *o ^= *x;
            }
        }
        Ok(f)
    }
}
