//! Bit-to-arithmetic conversion (B2A): XOR-shared bits → additive shares over F.
//!
//! For `b = b_S ⊕ b_R`, as integers `b = b_S + b_R − 2·b_S·b_R`; the product
//! `b_S·b_R` is shared with one random OT turned into an F-correlated OT by a
//! field correction (a one-bit Gilboa OLE). One party plays the OT **sender**
//! (S) and the other the OT **receiver** (R); which server is which only has to
//! match the direction of the OT batch used.
//!
//! # Messages
//!
//! 1. R → S, [`B2aChoices`]: `e_i = b_{R,i} ⊕ r_i` (derandomisation of the
//!    random choice `r_i`), packed bits.
//! 2. S → R, [`B2aCorrections`]: with `(M_0, M_1) = (m_{e_i}, m_{1⊕e_i})`,
//!    `k_b = M_b mod p`, S sends `τ_i = k_0 − k_1 + b_{S,i}`.
//!
//! R gets `v_i = k_{b_R} + b_R·τ_i = k_0 + b_S b_R`. Outputs:
//! `S: b_S + 2·k_0`, `R: b_R − 2·v_i`; their sum is `b_S + b_R − 2 b_S b_R = b`.
//!
//! # What each party sees; simulation (semi-honest)
//!
//! - **S** sees `e_i`, uniform because the random choice `r_i` is hidden from
//!   the OT sender: simulated by random bits.
//! - **R** sees `τ_i`, which contains `k_{1−b_R}` derived from the block it did
//!   not choose, so it is uniform (2^-66 statistical distance from the
//!   reduction of a 128-bit block mod p): simulated by a uniform element
//!   adjusted to R's ideal output share.
//!
//! # Cost per bit
//!
//! 1 random OT; 1 bit R → S and 8 bytes S → R, ≈ 8.125 bytes in total
//! (+ 5-byte header per message per batch); 2 rounds per batch.

use mpc_core::field::Fp;
use thiserror::Error;

use super::codec::{self, ArithMessage, CodecError, FP_BYTES, Reader, get_bit, packed_len};
use super::ot::{
    Block, OtShapeError, RotReceiverOutput, RotSenderOutput, block_to_fp, expect_receiver,
    expect_sender,
};
use super::{Finished, MAX_BATCH, Traffic, bit_fp, select};

#[cfg(test)]
mod tests;

/// Random OTs per converted bit.
pub const OTS_PER_BIT: usize = 1;
/// Communication rounds of one batch.
pub const ROUNDS: u64 = 2;

/// Errors of the B2A protocol.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum B2aError {
    /// A peer message does not decode.
    #[error("B2A: {0}")]
    Codec(#[from] CodecError),
    /// The OT batch does not fit the instance.
    #[error("B2A: {0}")]
    Ots(#[from] OtShapeError),
    /// A peer message carries the wrong number of bits.
    #[error("B2A: {what} carries {got} entries, expected {expected}")]
    Count {
        /// Message.
        what: &'static str,
        /// Entries expected.
        expected: usize,
        /// Entries received.
        got: usize,
    },
    /// Batch above [`MAX_BATCH`].
    #[error("B2A: batch of {n} exceeds {MAX_BATCH}")]
    TooLarge {
        /// Bits requested.
        n: usize,
    },
}

/// R → S: derandomisation bits.
#[derive(Clone, PartialEq, Eq)]
pub struct B2aChoices {
    n: usize,
    bits: Vec<u8>,
}

/// S → R: one field correction per bit.
#[derive(Clone, PartialEq, Eq)]
pub struct B2aCorrections {
    tau: Vec<Fp>,
}

impl core::fmt::Debug for B2aChoices {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "B2aChoices({} bits)", self.n)
    }
}

impl core::fmt::Debug for B2aCorrections {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "B2aCorrections({} elements)", self.tau.len())
    }
}

const TAG_CHOICES: u8 = 0x41;
const TAG_CORRECTIONS: u8 = 0x42;
const HEADER: usize = 5;

impl B2aChoices {
    /// Number of bits.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

impl B2aCorrections {
    /// Number of corrections.
    pub fn len(&self) -> usize {
        self.tau.len()
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.tau.is_empty()
    }
}

impl ArithMessage for B2aChoices {
    const KIND: &'static str = "B2A choices";

    fn encoded_len(&self) -> usize {
        HEADER + self.bits.len()
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(TAG_CHOICES);
        codec::put_count(&mut out, self.n);
        out.extend_from_slice(&self.bits);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(Self::KIND, TAG_CHOICES, HEADER, bytes)?;
        let n = r.count()?;
        r.expect_total(packed_len(n).checked_add(HEADER))?;
        let bits = r.bits(n)?;
        r.finish()?;
        Ok(B2aChoices { n, bits })
    }
}

impl ArithMessage for B2aCorrections {
    const KIND: &'static str = "B2A corrections";

    fn encoded_len(&self) -> usize {
        HEADER + FP_BYTES * self.tau.len()
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(TAG_CORRECTIONS);
        codec::put_count(&mut out, self.tau.len());
        codec::put_fps(&mut out, &self.tau);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(Self::KIND, TAG_CORRECTIONS, HEADER, bytes)?;
        let n = r.count()?;
        r.expect_total(n.checked_mul(FP_BYTES).and_then(|b| b.checked_add(HEADER)))?;
        let tau = r.fp_vec(n)?;
        r.finish()?;
        Ok(B2aCorrections { tau })
    }
}

/// The OT-sender side of B2A, waiting for [`B2aChoices`].
pub struct B2aSender {
    bits: Vec<bool>,
    ots: RotSenderOutput,
}

impl core::fmt::Debug for B2aSender {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("B2aSender")
            .field("n", &self.bits.len())
            .finish_non_exhaustive()
    }
}

impl B2aSender {
    /// The sender for `bits.len()` shared bits (this party's XOR shares);
    /// `ots` holds one random OT per bit with this party as sender.
    pub fn new(bits: Vec<bool>, ots: RotSenderOutput) -> Result<B2aSender, B2aError> {
        let n = bits.len();
        if n > MAX_BATCH {
            return Err(B2aError::TooLarge { n });
        }
        expect_sender(&ots, n * OTS_PER_BIT)?;
        Ok(B2aSender { bits, ots })
    }

    /// Answers the receiver's choices: the corrections to send and this
    /// party's additive shares of the bits.
    pub fn respond(
        self,
        msg: &B2aChoices,
    ) -> Result<(B2aCorrections, Finished<Vec<Fp>>), B2aError> {
        let n = self.bits.len();
        if msg.n != n {
            return Err(B2aError::Count {
                what: B2aChoices::KIND,
                expected: n,
                got: msg.n,
            });
        }
        let (tau, shares) = self
            .bits
            .iter()
            .zip(self.ots.m0.iter().zip(&self.ots.m1))
            .enumerate()
            .map(|(i, (&b, (&m0, &m1)))| {
                // The flip bit is public (sent in the clear by the receiver).
                let (a, c) = if get_bit(&msg.bits, i) {
                    (m1, m0)
                } else {
                    (m0, m1)
                };
                let (k0, k1) = (block_to_fp(a), block_to_fp(c));
                let bs = bit_fp(b);
                (k0 - k1 + bs, bs + k0 + k0)
            })
            .unzip();
        let out = B2aCorrections { tau };
        let mut traffic = Traffic {
            rounds: ROUNDS,
            ..Traffic::default()
        };
        traffic.received(msg.encoded_len());
        traffic.sent(out.encoded_len());
        Ok((
            out,
            Finished {
                output: shares,
                traffic,
            },
        ))
    }
}

/// The OT-receiver side of B2A after sending its choices.
pub struct B2aReceiver {
    bits: Vec<bool>,
    mc: Vec<Block>,
    traffic: Traffic,
}

impl core::fmt::Debug for B2aReceiver {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("B2aReceiver")
            .field("n", &self.bits.len())
            .finish_non_exhaustive()
    }
}

impl B2aReceiver {
    /// Starts the receiver for `bits.len()` shared bits (this party's XOR
    /// shares); `ots` holds one random OT per bit with this party as receiver.
    pub fn start(
        bits: Vec<bool>,
        ots: RotReceiverOutput,
    ) -> Result<(B2aReceiver, B2aChoices), B2aError> {
        let n = bits.len();
        if n > MAX_BATCH {
            return Err(B2aError::TooLarge { n });
        }
        expect_receiver(&ots, n * OTS_PER_BIT)?;
        let mut packed = Vec::with_capacity(packed_len(n));
        codec::pack_bits(
            bits.iter().zip(&ots.choices).map(|(&b, &r)| b ^ r),
            &mut packed,
        );
        let msg = B2aChoices { n, bits: packed };
        let mut traffic = Traffic {
            rounds: ROUNDS,
            ..Traffic::default()
        };
        traffic.sent(msg.encoded_len());
        Ok((
            B2aReceiver {
                bits,
                mc: ots.mc,
                traffic,
            },
            msg,
        ))
    }

    /// Finishes with the sender's corrections: this party's additive shares.
    pub fn finish(self, msg: &B2aCorrections) -> Result<Finished<Vec<Fp>>, B2aError> {
        let n = self.bits.len();
        if msg.tau.len() != n {
            return Err(B2aError::Count {
                what: B2aCorrections::KIND,
                expected: n,
                got: msg.tau.len(),
            });
        }
        let shares = self
            .bits
            .iter()
            .zip(&self.mc)
            .zip(&msg.tau)
            .map(|((&b, &m), &t)| {
                let v = block_to_fp(m) + select(b, t);
                bit_fp(b) - v - v
            })
            .collect();
        let mut traffic = self.traffic;
        traffic.received(msg.encoded_len());
        Ok(Finished {
            output: shares,
            traffic,
        })
    }
}
