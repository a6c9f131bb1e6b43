//! Gilboa's OLE over F from 64 random OTs: the core of the Beaver triple
//! generator ([`super`]).
//!
//! The OT sender holds `x_j`, the OT receiver holds `y_j` as the 64 random
//! choice bits of its OTs `64·j + i` (`y_j = Σ_i c_i 2^i`, an integer below
//! 2^64; the triple generator rejects `y_j ≥ p`). They end with additive
//! shares `z_S + z_R = x_j · y_j` in F.
//!
//! From an OT block the parties derive one field element, `k = block mod p`
//! ([`block_to_fp`]). For OT `i` of product `j` the sender sends the
//! correction `τ_i = k0_i − k1_i + x_j·2^i` and keeps `z_S = −Σ_i k0_i`; the
//! receiver, holding `k_{c_i}`, computes
//! `z_R = Σ_i (k_{c_i} + c_i·τ_i) = Σ_i k0_i + x_j·Σ_i c_i 2^i = −z_S + x_j·y_j`.
//!
//! The receiver's `y` is its random OT choices, so no derandomisation message
//! is needed: the corrections are the only message (sent by each party for
//! the OLE in which it is the OT sender, see the triple generator).
//!
//! # What each party sees; simulation (semi-honest)
//!
//! - **Sender**: its inputs and its ROT blocks; it receives nothing in this
//!   OLE. Its output `−Σ k0` is uniform (each `k0` is), as in the ideal OLE.
//! - **Receiver**: its ROT output `(c, k_c)` and the corrections. In every
//!   `τ_i` the term `k_{1−c_i}` comes from the block the receiver did not
//!   choose, which is pseudorandom to it (OT security), so every `τ_i` is
//!   uniform (up to 2^-66 statistical distance per element from reducing 128
//!   bits mod p). The simulator, given `y` and the ideal output `z_R`, samples
//!   `k_c` and all `τ_i` uniformly except one `τ_i` with `c_i = 1`, which it
//!   solves for so that `Σ (k_{c_i} + c_i τ_i) = z_R` (if `y_j = 0` the
//!   equation holds automatically).
//!
//! # Cost per product
//!
//! 64 random OTs and 64 field elements (512 bytes) sender → receiver;
//! 128 (sender) / 64 (receiver) block reductions.

use mpc_core::field::Fp;

use super::super::ot::{Block, RotSenderOutput, block_to_fp};
use super::super::select;

/// Random OTs per product: one per bit of `y`.
pub(super) const OTS_PER_PRODUCT: usize = 64;

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

/// Packs 64 choice bits LSB-first: the receiver's `y` of one product.
pub(super) fn pack_u64(bits: &[bool]) -> u64 {
    bits.iter()
        .take(64)
        .enumerate()
        .fold(0u64, |acc, (i, &b)| acc | (u64::from(b) << i))
}

/// Gilboa sender over a batch whose shapes the caller has checked
/// (`ots` holds 64·`xs.len()` OTs). Returns (corrections, sender shares).
pub(super) fn gilboa_send(xs: &[Fp], ots: &RotSenderOutput) -> (Vec<Fp>, Vec<Fp>) {
    let mut tau = Vec::with_capacity(xs.len() * OTS_PER_PRODUCT);
    let mut shares = vec![Fp::ZERO; xs.len()];
    let products = xs
        .iter()
        .zip(shares.iter_mut())
        .zip(ots.m0.chunks_exact(OTS_PER_PRODUCT))
        .zip(ots.m1.chunks_exact(OTS_PER_PRODUCT));
    for (((&x, share), m0), m1) in products {
        for ((&a, &b), &pow) in m0.iter().zip(m1).zip(POW2.iter()) {
            let (k0, k1) = (block_to_fp(a), block_to_fp(b));
            tau.push(k0 - k1 + x * pow);
            *share -= k0;
        }
    }
    (tau, shares)
}

/// Gilboa receiver over a checked batch: `ys[j]` are the 64 choice bits of
/// product `j`, `mc` the chosen blocks, `tau` the sender's corrections
/// (64 per product).
pub(super) fn gilboa_receive(ys: &[u64], mc: &[Block], tau: &[Fp]) -> Vec<Fp> {
    ys.iter()
        .zip(mc.chunks_exact(OTS_PER_PRODUCT))
        .zip(tau.chunks_exact(OTS_PER_PRODUCT))
        .map(|((&y, mc), tau)| {
            mc.iter()
                .zip(tau)
                .enumerate()
                .fold(Fp::ZERO, |acc, (i, (&m, &t))| {
                    acc + block_to_fp(m) + select((y >> i) & 1 == 1, t)
                })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::mpc::arith::ot::ideal;
    use crate::mpc::arith::test_util::{edges, rng, values};

    /// Shares of `xs[j] · y_j` with `y_j` the receiver's random choices.
    fn check(xs: &[Fp], seed: u64) {
        let (so, ro) = ideal::rot(xs.len() * OTS_PER_PRODUCT, &mut rng(seed));
        let ys: Vec<u64> = ro
            .choices
            .chunks_exact(OTS_PER_PRODUCT)
            .map(pack_u64)
            .collect();
        let (tau, s) = gilboa_send(xs, &so);
        assert_eq!(tau.len(), xs.len() * OTS_PER_PRODUCT);
        let r = gilboa_receive(&ys, &ro.mc, &tau);
        for (j, (&x, &y)) in xs.iter().zip(&ys).enumerate() {
            assert_eq!(s[j] + r[j], x * Fp::reduce_u64(y), "product {j}");
        }
    }

    #[test]
    fn products_equal_plaintext() {
        check(&values(20_000, &mut rng(1)), 2);
    }

    #[test]
    fn every_edge_value_of_x() {
        check(&edges(), 3);
    }

    #[test]
    fn edge_values_of_y() {
        // y = 0, 1, 2^63, 2^64 − 1 (≥ p: the integer is reduced mod p).
        for (k, y) in [0u64, 1, 1 << 63, u64::MAX].into_iter().enumerate() {
            let (so, mut ro) = ideal::rot(OTS_PER_PRODUCT, &mut rng(10 + k as u64));
            for i in 0..OTS_PER_PRODUCT {
                let c = (y >> i) & 1 == 1;
                ro.choices[i] = c;
                ro.mc[i] = if c { so.m1[i] } else { so.m0[i] };
            }
            let x = Fp::from_i64(-7);
            let (tau, s) = gilboa_send(&[x], &so);
            let r = gilboa_receive(&[pack_u64(&ro.choices)], &ro.mc, &tau);
            assert_eq!(s[0] + r[0], x * Fp::reduce_u64(y), "y = {y}");
        }
    }

    #[test]
    fn pack_is_lsb_first() {
        let mut bits = [false; 64];
        bits[0] = true;
        bits[63] = true;
        assert_eq!(pack_u64(&bits), 1 | (1 << 63));
    }
}
