//! Beaver multiplication triples over F from two Gilboa OLEs per triple.
//!
//! Each party P samples `a_P` uniformly and takes `b_P` from its random OT
//! choices; then `c = (a_A + a_B)(b_A + b_B) = a_A b_A + a_B b_B + a_A b_B + a_B b_A`,
//! where each cross term is one Gilboa OLE (`triples::gilboa`): in the
//! first, A is the OT sender with `x = a_A` and B the receiver with `y = b_B`;
//! in the second the roles are swapped. Each party therefore holds two OT
//! batches of 64·n random OTs: one where it is the sender, one where it is the
//! receiver (the two directions of the A↔B OT extension).
//!
//! # No derandomisation round
//!
//! `b_P` need not be chosen, only uniform and secret, so the receiver uses the
//! random OT choices directly: `b_P = Σ_i r_i 2^i` over the 64 choices of
//! triple `j`. That integer is uniform on `[0, 2^64)`; to make `b_P` uniform
//! on F it is accepted only if `< p` (rejection sampling; a reject has
//! probability 2^-32 per triple). Rejected indices are announced, and both
//! parties drop triple `j` if either side rejected it. A reject reveals only
//! that a discarded value was ≥ p. A batch of `n` therefore yields `n` triples
//! except with probability ≈ n · 2^-31; ask for a few more if an exact count
//! matters.
//!
//! # Messages
//!
//! One simultaneous exchange: each party sends [`TripleMsg`] = (its rejected
//! indices, strictly increasing; the 64·n OLE corrections for the OLE in which
//! it is the sender, `τ = k0 − k1 + a_P·2^i`). Then each computes
//! `c_P = a_P b_P + (−Σ k0) + Σ (k_{r_i} + r_i τ_i)` where the second term is
//! its sender share and the third its receiver share.
//!
//! # What each party sees; simulation (semi-honest)
//!
//! Each party sees its own values, its OT outputs, the peer's rejected list
//! (a function of discarded randomness, simulated by including each index
//! with probability 2^-32 independently) and the peer's corrections. As in
//! `triples::gilboa`, each correction contains a derived element of the OT block
//! the party did not choose and is pseudorandom to it; the simulator samples
//! them uniformly subject to the party's output share. The output triple is
//! uniform with `c = a·b`, which is what the ideal triple functionality gives.
//!
//! # Cost per triple
//!
//! 128 random OTs (64 in each direction); 512 bytes each way, 1024 bytes in
//! total (+ 9 bytes header per message per batch, + 4 bytes per rejected
//! index); 1 round.

use mpc_core::codec::{self, CodecError, FP_BYTES, Limits, Message, Reader};
use mpc_core::field::{Fp, MODULUS};
use rand::CryptoRng;
use thiserror::Error;
use zeroize::Zeroize;

use super::ot::{
    Block, OtShapeError, RotReceiverOutput, RotSenderOutput, expect_receiver, expect_sender,
};
use super::{Finished, MAX_BATCH, Traffic, random_fp};
use crate::mpc::corr::Triple;

mod gilboa;
#[cfg(test)]
mod tests;

use gilboa::{OTS_PER_PRODUCT, gilboa_receive, gilboa_send, pack_u64};

/// Random OTs per triple in each direction.
pub const OTS_PER_TRIPLE: usize = OTS_PER_PRODUCT;
/// Communication rounds of one batch.
pub const ROUNDS: u64 = 1;

/// Errors of triple generation.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum TripleError {
    /// A peer message does not decode.
    #[error("triples: {0}")]
    Codec(#[from] CodecError),
    /// The OT batches do not fit the instance.
    #[error("triples: {0}")]
    Ots(#[from] OtShapeError),
    /// The peer's corrections have the wrong count.
    #[error("triples: peer sent {got} corrections, expected {expected}")]
    Count {
        /// Corrections expected.
        expected: usize,
        /// Corrections received.
        got: usize,
    },
    /// The peer rejected an index outside the batch.
    #[error("triples: peer rejected index {index} of a batch of {n}")]
    RejectedIndex {
        /// Index named.
        index: u32,
        /// Batch size.
        n: usize,
    },
    /// Batch above [`MAX_BATCH`].
    #[error("triples: batch of {n} exceeds {MAX_BATCH}")]
    TooLarge {
        /// Triples requested.
        n: usize,
    },
}

/// One party's message: rejected indices and OLE corrections.
#[derive(Clone, PartialEq, Eq)]
pub struct TripleMsg {
    rejected: Vec<u32>,
    tau: Vec<Fp>,
}

impl core::fmt::Debug for TripleMsg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "TripleMsg({} rejected, {} corrections)",
            self.rejected.len(),
            self.tau.len()
        )
    }
}

const TAG: u8 = 0x11;
const HEADER: usize = 9;

impl TripleMsg {
    /// Indices this party rejected.
    pub fn rejected(&self) -> &[u32] {
        &self.rejected
    }

    /// Number of corrections.
    pub fn corrections(&self) -> usize {
        self.tau.len()
    }
}

/// `tag ‖ nr (u32 LE) ‖ nt (u32 LE) ‖ rejected (nr × u32 LE, strictly
/// increasing) ‖ τ (nt field elements)`.
impl Message for TripleMsg {
    const KIND: &'static str = "triple";

    fn encoded_len(&self) -> usize {
        HEADER + 4 * self.rejected.len() + FP_BYTES * self.tau.len()
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(TAG);
        codec::put_count(out, self.rejected.len());
        codec::put_count(out, self.tau.len());
        for r in &self.rejected {
            out.extend_from_slice(&r.to_le_bytes());
        }
        codec::put_fps(out, &self.tau);
    }

    fn read(r: &mut Reader<'_>, _: &Limits) -> Result<Self, CodecError> {
        r.tag(TAG)?;
        let nr = r.count()?;
        let nt = r.count()?;
        r.expect_remaining(
            nr.checked_mul(4)
                .zip(nt.checked_mul(FP_BYTES))
                .and_then(|(a, b)| a.checked_add(b)),
        )?;
        let rejected = r.u32s(nr)?;
        let tau = r.fps(nt)?;
        Ok(TripleMsg { rejected, tau })
    }

    fn validate(&self, _: &Limits) -> Result<(), CodecError> {
        match self
            .rejected
            .windows(2)
            .position(|w| matches!(w, [x, y] if x >= y))
        {
            Some(index) => Err(CodecError::malformed(
                Self::KIND,
                format!(
                    "rejected list is not strictly increasing at position {}",
                    index + 1
                ),
            )),
            None => Ok(()),
        }
    }
}

/// A party of triple generation, after sending its [`TripleMsg`].
pub struct TripleGen {
    a: Vec<Fp>,
    b: Vec<u64>,
    rejected: Vec<u32>,
    sender_shares: Vec<Fp>,
    mc: Vec<Block>,
    traffic: Traffic,
}

impl Drop for TripleGen {
    fn drop(&mut self) {
        self.mc.zeroize();
        self.b.zeroize();
    }
}

impl core::fmt::Debug for TripleGen {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TripleGen")
            .field("n", &self.a.len())
            .finish_non_exhaustive()
    }
}

impl TripleGen {
    /// Starts a batch of `n` triples. `sender_ots`: 64·n random OTs in which
    /// this party is the sender; `receiver_ots`: 64·n in which it is the
    /// receiver (the peer holds the other ends). Both parties call this; the
    /// returned message goes to the peer.
    pub fn start<R: CryptoRng + ?Sized>(
        n: usize,
        mut sender_ots: RotSenderOutput,
        mut receiver_ots: RotReceiverOutput,
        rng: &mut R,
    ) -> Result<(TripleGen, TripleMsg), TripleError> {
        if n > MAX_BATCH {
            return Err(TripleError::TooLarge { n });
        }
        expect_sender(&sender_ots, n * OTS_PER_TRIPLE)?;
        expect_receiver(&receiver_ots, n * OTS_PER_TRIPLE)?;
        let a: Vec<Fp> = (0..n).map(|_| random_fp(rng)).collect();
        let b: Vec<u64> = receiver_ots
            .choices
            .chunks_exact(OTS_PER_TRIPLE)
            .map(pack_u64)
            .collect();
        let rejected: Vec<u32> = b
            .iter()
            .enumerate()
            .filter(|(_, b)| **b >= MODULUS)
            .map(|(j, _)| j as u32)
            .collect();
        let (tau, sender_shares) = gilboa_send(&a, &sender_ots);
        let msg = TripleMsg {
            rejected: rejected.clone(),
            tau,
        };
        let mut traffic = Traffic {
            rounds: ROUNDS,
            ..Traffic::default()
        };
        traffic.sent(msg.encoded_len());
        // The consumed OTs are wiped here; the chosen blocks live on in the
        // state (wiped when it is dropped).
        let mc = core::mem::take(&mut receiver_ots.mc);
        sender_ots.zeroize();
        receiver_ots.zeroize();
        Ok((
            TripleGen {
                a,
                b,
                rejected,
                sender_shares,
                mc,
                traffic,
            },
            msg,
        ))
    }

    /// Finishes with the peer's message: this party's shares of the triples
    /// neither party rejected, in index order.
    pub fn finish(self, peer: &TripleMsg) -> Result<Finished<Vec<Triple>>, TripleError> {
        let n = self.a.len();
        let expected = n * OTS_PER_TRIPLE;
        if peer.tau.len() != expected {
            return Err(TripleError::Count {
                expected,
                got: peer.tau.len(),
            });
        }
        if let Some(&index) = peer.rejected.last()
            && index as usize >= n
        {
            return Err(TripleError::RejectedIndex { index, n });
        }
        let receiver_shares = gilboa_receive(&self.b, &self.mc, &peer.tau);
        let mut own = self.rejected.iter().peekable();
        let mut theirs = peer.rejected.iter().peekable();
        let mut triples = Vec::with_capacity(n);
        let items = self
            .a
            .iter()
            .zip(&self.b)
            .zip(&self.sender_shares)
            .zip(&receiver_shares);
        for (j, (((&a, &b), &s), &v)) in items.enumerate() {
            let j = j as u32;
            let mut skip = false;
            if own.next_if_eq(&&j).is_some() {
                skip = true;
            }
            if theirs.next_if_eq(&&j).is_some() {
                skip = true;
            }
            let Some(b) = Fp::from_canonical(b) else {
                // Only indices in `own` are ≥ p; they are skipped above.
                continue;
            };
            if skip {
                continue;
            }
            triples.push(Triple {
                a,
                b,
                c: a * b + s + v,
            });
        }
        let mut traffic = self.traffic;
        traffic.received(peer.encoded_len());
        Ok(Finished {
            output: triples,
            traffic,
        })
    }
}
