//! Gilboa oblivious linear evaluation over F, batched and vectorised.
//!
//! The sender holds `x_{j,l}` (j < n products, l < w = width), the receiver
//! holds `y_j`. They end with additive shares `z_S + z_R = x_{j,l} · y_j`.
//! Width 1 is plain OLE; width w > 1 multiplies one `y_j` by w values at the
//! price of the same 64 OTs (vector OLE).
//!
//! # Correlations
//!
//! 64·n random OTs, the sender holding [`RotSenderOutput`] and the receiver
//! [`RotReceiverOutput`]; OT `64·j + i` carries bit `i` of `y_j` (y_j < p < 2^64
//! as an integer, so 64 bits always suffice). From a block the parties derive
//! `w` field elements: `block mod p` for w = 1 ([`block_to_fp`]), SHA-256
//! counter mode for w > 1 ([`expand_block`]).
//!
//! # Messages
//!
//! 1. receiver → sender, [`OleChoices`]: `e_j = y_j ⊕ R_j` as a `u64` per
//!    product, where `R_j = Σ_i r_{64j+i} 2^i` packs the random OT choices
//!    (derandomisation). Bit `i` of `e_j` tells the sender to swap `m0, m1`
//!    of OT `64j+i`, giving `M_0, M_1` with `M_{c} ` known to the receiver
//!    for `c = y_{j,i}`.
//! 2. sender → receiver, [`OleCorrections`]: for every OT and every `l`,
//!    `τ = k0 − k1 + x_{j,l}·2^i` with `k_b` derived from `M_b`. The sender's
//!    share is `z_S = −Σ_i k0`.
//!
//! The receiver computes `z_R = Σ_i (k_{c_i} + c_i·τ_i) = Σ_i k0 + x·Σ_i c_i 2^i
//! = −z_S + x·y`.
//!
//! # What each party sees; simulation (semi-honest)
//!
//! - **Sender**: its inputs, its ROT blocks, and `e_j`. The choices `r` of a
//!   random OT are uniform and hidden from the sender, so `e_j` is a uniform
//!   64-bit word independent of `y_j`: the simulator sends random words. The
//!   sender's output `−Σ k0` is uniform (each `k0` is), as in the ideal OLE.
//! - **Receiver**: its inputs, its ROT output `(r, m_r)`, and the corrections.
//!   In every `τ_i` the term `k_{1−c_i}` comes from the block the receiver did
//!   not choose, which is pseudorandom to it (OT security), so every `τ_i` is
//!   uniform (up to 2^-66 statistical distance per element from reducing 128
//!   bits mod p). The simulator, given `y` and the ideal output `z_R`, samples
//!   `m_r` and all `τ_i` uniformly except one `τ_i` with `c_i = 1`, which it
//!   solves for so that `Σ (k_{c_i} + c_i τ_i) = z_R` (if `y_j = 0` the
//!   equation holds automatically).
//!
//! # Cost per product (width w)
//!
//! 64 random OTs; 8 bytes receiver → sender and 512·w bytes sender →
//! receiver (+ 5-byte header per message per batch); 2 rounds per batch.
//! Computation: 128 (sender) / 64 (receiver) block reductions for w = 1,
//! or w/2 SHA-256 calls per block for w > 1.

use mpc_core::field::Fp;
use thiserror::Error;

use super::codec::{self, ArithMessage, CodecError, FP_BYTES, Reader};
use super::ot::{
    Block, OtShapeError, RotReceiverOutput, RotSenderOutput, block_to_fp, expand_block,
    expect_receiver, expect_sender,
};
use super::{Finished, MAX_BATCH, Traffic, select};

#[cfg(test)]
mod tests;

/// Random OTs per product: one per bit of `y`.
pub const OTS_PER_PRODUCT: usize = 64;
/// Communication rounds of one OLE batch.
pub const ROUNDS: u64 = 2;
/// Largest vector-OLE width.
pub const MAX_WIDTH: usize = 64;

/// 2^i for i < 64.
const POW2: [Fp; 64] = {
    let mut t = [Fp::ZERO; 64];
    let mut i = 0;
    while i < 64 {
        t[i] = Fp::pow2(i as u32);
        i += 1;
    }
    t
};

/// Errors of the OLE protocol.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum OleError {
    /// A peer message does not decode.
    #[error("OLE: {0}")]
    Codec(#[from] CodecError),
    /// The OT batch does not fit the instance.
    #[error("OLE: {0}")]
    Ots(#[from] OtShapeError),
    /// A peer message carries the wrong number of entries.
    #[error("OLE: {what} carries {got} entries, expected {expected}")]
    Count {
        /// Message.
        what: &'static str,
        /// Entries expected.
        expected: usize,
        /// Entries received.
        got: usize,
    },
    /// Width outside 1..=MAX_WIDTH, or inputs not a multiple of it.
    #[error("OLE: {inputs} sender inputs do not form products of width {width} (1..={MAX_WIDTH})")]
    Width {
        /// Sender inputs.
        inputs: usize,
        /// Width requested.
        width: usize,
    },
    /// Batch above [`MAX_BATCH`], or more than 2^32 − 1 corrections.
    #[error("OLE: batch of {n} products is too large (at most {MAX_BATCH}, and 64·n·width < 2^32)")]
    TooLarge {
        /// Products requested.
        n: usize,
    },
}

/// Receiver → sender: derandomisation words, one per product.
#[derive(Clone, PartialEq, Eq)]
pub struct OleChoices {
    e: Vec<u64>,
}

/// Sender → receiver: one correction per OT and width slot.
#[derive(Clone, PartialEq, Eq)]
pub struct OleCorrections {
    tau: Vec<Fp>,
}

impl core::fmt::Debug for OleChoices {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "OleChoices({} products)", self.e.len())
    }
}

impl core::fmt::Debug for OleCorrections {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "OleCorrections({} elements)", self.tau.len())
    }
}

const TAG_CHOICES: u8 = 0x01;
const TAG_CORRECTIONS: u8 = 0x02;
const HEADER: usize = 5;

impl OleChoices {
    /// Number of products.
    pub fn len(&self) -> usize {
        self.e.len()
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.e.is_empty()
    }
}

impl OleCorrections {
    /// Number of field elements.
    pub fn len(&self) -> usize {
        self.tau.len()
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.tau.is_empty()
    }
}

impl ArithMessage for OleChoices {
    const KIND: &'static str = "OLE choices";

    fn encoded_len(&self) -> usize {
        HEADER + 8 * self.e.len()
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(TAG_CHOICES);
        codec::put_count(&mut out, self.e.len());
        for e in &self.e {
            out.extend_from_slice(&e.to_le_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(Self::KIND, TAG_CHOICES, HEADER, bytes)?;
        let n = r.count()?;
        r.expect_total(n.checked_mul(8).and_then(|b| b.checked_add(HEADER)))?;
        let e = r.u64_vec(n)?;
        r.finish()?;
        Ok(OleChoices { e })
    }
}

impl ArithMessage for OleCorrections {
    const KIND: &'static str = "OLE corrections";

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
        Ok(OleCorrections { tau })
    }
}

/// The OLE sender: holds `x`, waits for [`OleChoices`].
pub struct OleSender {
    xs: Vec<Fp>,
    width: usize,
    n: usize,
    ots: RotSenderOutput,
}

impl core::fmt::Debug for OleSender {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OleSender")
            .field("products", &self.n)
            .field("width", &self.width)
            .finish_non_exhaustive()
    }
}

fn check_batch(inputs: usize, width: usize) -> Result<usize, OleError> {
    if width == 0 || width > MAX_WIDTH || !inputs.is_multiple_of(width) {
        return Err(OleError::Width { inputs, width });
    }
    let n = inputs / width;
    // Every count must fit the u32 header: 64 · n · width corrections.
    let corrections = n.saturating_mul(OTS_PER_PRODUCT * width);
    if n > MAX_BATCH || corrections > u32::MAX as usize {
        return Err(OleError::TooLarge { n });
    }
    Ok(n)
}

impl OleSender {
    /// A sender for `xs.len() / width` products; `xs[j·width + l]` is `x_{j,l}`.
    /// `ots` must hold exactly 64 · n random OTs (this party as OT sender).
    pub fn new(xs: Vec<Fp>, width: usize, ots: RotSenderOutput) -> Result<OleSender, OleError> {
        let n = check_batch(xs.len(), width)?;
        expect_sender(&ots, n * OTS_PER_PRODUCT)?;
        Ok(OleSender { xs, width, n, ots })
    }

    /// Answers the receiver's choices: the corrections to send, and this
    /// party's shares (`shares[j·width + l]` of `x_{j,l} · y_j`).
    pub fn respond(
        self,
        msg: &OleChoices,
    ) -> Result<(OleCorrections, Finished<Vec<Fp>>), OleError> {
        if msg.e.len() != self.n {
            return Err(OleError::Count {
                what: OleChoices::KIND,
                expected: self.n,
                got: msg.e.len(),
            });
        }
        let (tau, shares) = gilboa_send(&self.xs, self.width, &self.ots, Some(&msg.e));
        let out = OleCorrections { tau };
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

/// The OLE receiver after sending its choices, waiting for corrections.
pub struct OleReceiver {
    ys: Vec<u64>,
    width: usize,
    mc: Vec<Block>,
    traffic: Traffic,
}

impl core::fmt::Debug for OleReceiver {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OleReceiver")
            .field("products", &self.ys.len())
            .field("width", &self.width)
            .finish_non_exhaustive()
    }
}

impl OleReceiver {
    /// Starts the receiver for `ys.len()` products of width `width`. `ots`
    /// must hold exactly 64 · n random OTs (this party as OT receiver).
    /// Returns the state and the message for the sender.
    pub fn start(
        ys: &[Fp],
        width: usize,
        ots: RotReceiverOutput,
    ) -> Result<(OleReceiver, OleChoices), OleError> {
        let n = check_batch(ys.len().saturating_mul(width), width)?;
        expect_receiver(&ots, n * OTS_PER_PRODUCT)?;
        let ys: Vec<u64> = ys.iter().map(|y| y.value()).collect();
        let e = ys
            .iter()
            .zip(ots.choices.chunks_exact(OTS_PER_PRODUCT))
            .map(|(y, r)| y ^ pack_u64(r))
            .collect();
        let msg = OleChoices { e };
        let mut traffic = Traffic {
            rounds: ROUNDS,
            ..Traffic::default()
        };
        traffic.sent(msg.encoded_len());
        Ok((
            OleReceiver {
                ys,
                width,
                mc: ots.mc,
                traffic,
            },
            msg,
        ))
    }

    /// Finishes with the sender's corrections: this party's shares
    /// (`shares[j·width + l]` of `x_{j,l} · y_j`).
    pub fn finish(self, msg: &OleCorrections) -> Result<Finished<Vec<Fp>>, OleError> {
        let expected = self.ys.len() * OTS_PER_PRODUCT * self.width;
        if msg.tau.len() != expected {
            return Err(OleError::Count {
                what: OleCorrections::KIND,
                expected,
                got: msg.tau.len(),
            });
        }
        let shares = gilboa_receive(&self.ys, self.width, &self.mc, &msg.tau);
        let mut traffic = self.traffic;
        traffic.received(msg.encoded_len());
        Ok(Finished {
            output: shares,
            traffic,
        })
    }
}

/// Packs 64 choice bits LSB-first.
pub(crate) fn pack_u64(bits: &[bool]) -> u64 {
    bits.iter()
        .take(64)
        .enumerate()
        .fold(0u64, |acc, (i, &b)| acc | (u64::from(b) << i))
}

/// The `w` field elements derived from one block.
#[inline]
fn derive(b: Block, out: &mut [Fp]) {
    if let [one] = out {
        *one = block_to_fp(b);
    } else {
        expand_block(b, out);
    }
}

/// Gilboa sender over a batch whose shapes the caller has checked
/// (`xs.len() = n·w`, 64·n OTs, `flips.len() = n`). `flips[j]` bit `i` swaps
/// the messages of OT `64j+i` (derandomisation); `None` uses the random
/// choices as they are. Returns (corrections, sender shares).
pub(crate) fn gilboa_send(
    xs: &[Fp],
    width: usize,
    ots: &RotSenderOutput,
    flips: Option<&[u64]>,
) -> (Vec<Fp>, Vec<Fp>) {
    let n = xs.len() / width;
    let mut tau = Vec::with_capacity(n * OTS_PER_PRODUCT * width);
    let mut shares = vec![Fp::ZERO; n * width];
    let mut k0 = vec![Fp::ZERO; width];
    let mut k1 = vec![Fp::ZERO; width];
    let products = xs
        .chunks_exact(width)
        .zip(shares.chunks_exact_mut(width))
        .zip(ots.m0.chunks_exact(OTS_PER_PRODUCT))
        .zip(ots.m1.chunks_exact(OTS_PER_PRODUCT));
    for (j, (((x, share), m0), m1)) in products.enumerate() {
        let flip = flips.and_then(|f| f.get(j).copied()).unwrap_or(0);
        for (i, ((&a, &b), pow)) in m0.iter().zip(m1).zip(POW2.iter()).enumerate() {
            // `flip` is public (the receiver sent it in the clear).
            let (a, b) = if (flip >> i) & 1 == 1 { (b, a) } else { (a, b) };
            derive(a, &mut k0);
            derive(b, &mut k1);
            for (((x, s), &k0), &k1) in x.iter().zip(share.iter_mut()).zip(&k0).zip(&k1) {
                tau.push(k0 - k1 + *x * *pow);
                *s -= k0;
            }
        }
    }
    (tau, shares)
}

/// Gilboa receiver over a checked batch: `ys[j]` are the 64 choice bits of
/// product `j`, `mc` the chosen blocks, `tau` the sender's corrections.
pub(crate) fn gilboa_receive(ys: &[u64], width: usize, mc: &[Block], tau: &[Fp]) -> Vec<Fp> {
    let mut shares = vec![Fp::ZERO; ys.len() * width];
    let mut k = vec![Fp::ZERO; width];
    let products = ys
        .iter()
        .zip(shares.chunks_exact_mut(width))
        .zip(mc.chunks_exact(OTS_PER_PRODUCT))
        .zip(tau.chunks_exact(OTS_PER_PRODUCT * width));
    for (((&y, share), mc), tau) in products {
        for (i, (&m, t)) in mc.iter().zip(tau.chunks_exact(width)).enumerate() {
            let c = (y >> i) & 1 == 1;
            derive(m, &mut k);
            for ((s, &k), &t) in share.iter_mut().zip(&k).zip(t) {
                *s += k + select(c, t);
            }
        }
    }
    shares
}
