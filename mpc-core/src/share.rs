//! Additive sharing between server A and server B.
//!
//! * [`share_field`]: a field vector x is split as x = x_A + x_B where x_A is
//!   expanded from a seed (A receives 32 bytes) and x_B is sent explicitly.
//! * Small-ring sharing (DESIGN §4 steps 1–3): a fixed-point vector x with
//!   |xₖ| < 2^(ℓ−1) is offset to yₖ = xₖ + 2^(ℓ−1) ∈ [0, 2^ℓ) and shared in Z_{2^ℓ}:
//!   aₖ = PRG(seed)ₖ mod 2^ℓ for A, bₖ = yₖ − aₖ mod 2^ℓ for B. The worker also
//!   field-shares the carry κₖ = [aₖ + bₖ ≥ 2^ℓ] (A's share from the seed, B's
//!   explicit). The lift Xₖ = aₖ + bₖ − 2^ℓ·κₖ − 2^(ℓ−1) is linear in the shares:
//!   A computes X_A = a − 2^ℓ·κ_A − 2^(ℓ−1), B computes X_B = b − 2^ℓ·κ_B.
//!   Since every aₖ, bₖ < 2^ℓ whatever the worker does, Xₖ is bounded as soon as
//!   κₖ is a bit (proved by the validity proof of a later layer).

use thiserror::Error;

use crate::field::{Fp, add_assign_slice};
use crate::fixed::FixedParams;
use crate::prg::{Domain, Prg, Purpose, Seed};

/// Bytes per ring share on the wire (ℓ ≤ 24).
pub const RING_SHARE_BYTES: usize = 3;
/// Bytes per field element on the wire.
pub const FIELD_BYTES: usize = 8;

/// Errors of the sharing layer. They never contain share values.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ShareError {
    /// A coordinate of the encoded update does not fit the ring.
    #[error("coordinate {index} does not fit the {ell}-bit ring")]
    NotInRing {
        /// Coordinate index.
        index: usize,
        /// ℓ
        ell: u32,
    },
    /// A share vector has the wrong length.
    #[error("share vector has {got} entries, expected {expected}")]
    WrongLength {
        /// Entries received.
        got: usize,
        /// Entries expected.
        expected: usize,
    },
    /// A received ring share is ≥ 2^ℓ.
    #[error("ring share at coordinate {index} is not below 2^{ell}")]
    RingShareOutOfRange {
        /// Coordinate index.
        index: usize,
        /// ℓ
        ell: u32,
    },
    /// A received field element is not canonical (≥ p).
    #[error("field element at index {index} is not canonical")]
    NonCanonical {
        /// Index.
        index: usize,
    },
}

/// Splits `x` into (A's share from `seed`, B's explicit share).
pub fn share_field(x: &[Fp], seed: &Seed, round: u64, worker: u32) -> Vec<Fp> {
    let mut prg = Prg::new(seed, domain(Purpose::FieldShareA, round, worker));
    x.iter().map(|&v| v - prg.next_fp()).collect()
}

/// A's share of a vector shared with [`share_field`].
pub fn expand_field_share(seed: &Seed, round: u64, worker: u32, len: usize) -> Vec<Fp> {
    let mut prg = Prg::new(seed, domain(Purpose::FieldShareA, round, worker));
    (0..len).map(|_| prg.next_fp()).collect()
}

fn domain(purpose: Purpose, round: u64, worker: u32) -> Domain {
    Domain {
        purpose,
        round,
        worker,
    }
}

/// Server B's part of a small-ring sharing: ring shares bₖ and carry shares κ_B,k.
#[derive(Clone, PartialEq, Eq)]
pub struct RingShareB {
    b: Vec<u32>,
    kappa_b: Vec<Fp>,
}

impl core::fmt::Debug for RingShareB {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RingShareB {{ dim: {}, <redacted> }}", self.b.len())
    }
}

/// Shares the fixed-point vector `x` in the ℓ-bit ring with carries (worker side).
///
/// A's share is determined by `seed` and (round, worker); the returned value
/// is what B receives. An `x` outside ±(2^(ℓ−1) − 1) is an error.
pub fn share_ring(
    x: &[i64],
    params: FixedParams,
    seed: &Seed,
    round: u64,
    worker: u32,
) -> Result<RingShareB, ShareError> {
    let ell = params.ell();
    let half = 1i64 << (ell - 1);
    let modulus = 1u64 << ell;
    let mask = (modulus - 1) as u32;
    let mut ring = Prg::new(seed, domain(Purpose::RingMaskA, round, worker));
    let mut carry = Prg::new(seed, domain(Purpose::CarryShareA, round, worker));
    let mut b = Vec::with_capacity(x.len());
    let mut kappa_b = Vec::with_capacity(x.len());
    for (index, &xk) in x.iter().enumerate() {
        if xk.abs() >= half {
            return Err(ShareError::NotInRing { index, ell });
        }
        let y = (xk + half) as u32; // in [1, 2^ℓ)
        let a = ring.next_ring(ell);
        let bk = y.wrapping_sub(a) & mask;
        let kappa = u64::from(a) + u64::from(bk) >= modulus;
        let kappa_a = carry.next_fp();
        b.push(bk);
        kappa_b.push(Fp::from_i64(i64::from(kappa)) - kappa_a);
    }
    Ok(RingShareB { b, kappa_b })
}

/// Adds A's lifted share X_A = a − 2^ℓ·κ_A − 2^(ℓ−1) of a ring-shared vector to `acc`.
pub fn add_lifted_a(acc: &mut [Fp], params: FixedParams, seed: &Seed, round: u64, worker: u32) {
    let ell = params.ell();
    let two_ell = Fp::pow2(ell);
    let half = Fp::pow2(ell - 1);
    let mut ring = Prg::new(seed, domain(Purpose::RingMaskA, round, worker));
    let mut carry = Prg::new(seed, domain(Purpose::CarryShareA, round, worker));
    for s in acc.iter_mut() {
        let a = Fp::reduce_u64(u64::from(ring.next_ring(ell)));
        let kappa_a = carry.next_fp();
        *s += a - two_ell * kappa_a - half;
    }
}

/// A's lifted share as a fresh vector.
pub fn lift_a(params: FixedParams, seed: &Seed, round: u64, worker: u32, dim: usize) -> Vec<Fp> {
    let mut v = vec![Fp::ZERO; dim];
    add_lifted_a(&mut v, params, seed, round, worker);
    v
}

impl RingShareB {
    /// Dimension.
    pub fn dim(&self) -> usize {
        self.b.len()
    }

    /// Adds B's lifted share X_B = b − 2^ℓ·κ_B to `acc` (lengths must match).
    pub fn add_lifted(&self, acc: &mut [Fp], params: FixedParams) -> Result<(), ShareError> {
        if acc.len() != self.b.len() {
            return Err(ShareError::WrongLength {
                got: self.b.len(),
                expected: acc.len(),
            });
        }
        let two_ell = Fp::pow2(params.ell());
        for ((s, &b), &k) in acc.iter_mut().zip(&self.b).zip(&self.kappa_b) {
            *s += Fp::reduce_u64(u64::from(b)) - two_ell * k;
        }
        Ok(())
    }

    /// B's lifted share as a fresh vector.
    pub fn lift(&self, params: FixedParams) -> Vec<Fp> {
        let two_ell = Fp::pow2(params.ell());
        self.b
            .iter()
            .zip(&self.kappa_b)
            .map(|(&b, &k)| Fp::reduce_u64(u64::from(b)) - two_ell * k)
            .collect()
    }

    /// Wire form: ring shares as 3-byte little-endian words, carries as 8-byte words.
    pub fn to_wire(&self) -> (Vec<u8>, Vec<u8>) {
        let mut b = Vec::with_capacity(self.b.len() * RING_SHARE_BYTES);
        for &v in &self.b {
            b.extend_from_slice(&v.to_le_bytes()[..RING_SHARE_BYTES]);
        }
        (b, encode_field_bytes(&self.kappa_b))
    }

    /// Parses and validates B's upload: exactly `dim` ring shares below 2^ℓ and
    /// `dim` canonical field elements.
    pub fn from_wire(
        b_bytes: &[u8],
        kappa_bytes: &[u8],
        dim: usize,
        params: FixedParams,
    ) -> Result<RingShareB, ShareError> {
        if dim.checked_mul(RING_SHARE_BYTES) != Some(b_bytes.len()) {
            return Err(ShareError::WrongLength {
                got: b_bytes.len() / RING_SHARE_BYTES,
                expected: dim,
            });
        }
        let ell = params.ell();
        let mut b = Vec::with_capacity(dim);
        for (index, chunk) in b_bytes.chunks_exact(RING_SHARE_BYTES).enumerate() {
            let mut w = [0u8; 4];
            w[..RING_SHARE_BYTES].copy_from_slice(chunk);
            let v = u32::from_le_bytes(w);
            if u64::from(v) >= 1u64 << ell {
                return Err(ShareError::RingShareOutOfRange { index, ell });
            }
            b.push(v);
        }
        let kappa_b = decode_field_bytes(kappa_bytes, dim)?;
        Ok(RingShareB { b, kappa_b })
    }

    /// Test/attack helper: the raw parts (ring shares, carry shares).
    pub fn parts_mut(&mut self) -> (&mut Vec<u32>, &mut Vec<Fp>) {
        (&mut self.b, &mut self.kappa_b)
    }
}

/// Field elements as 8-byte little-endian words.
pub fn encode_field_bytes(v: &[Fp]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * FIELD_BYTES);
    for x in v {
        out.extend_from_slice(&x.value().to_le_bytes());
    }
    out
}

/// Parses exactly `len` canonical field elements.
pub fn decode_field_bytes(bytes: &[u8], len: usize) -> Result<Vec<Fp>, ShareError> {
    if len.checked_mul(FIELD_BYTES) != Some(bytes.len()) {
        return Err(ShareError::WrongLength {
            got: bytes.len() / FIELD_BYTES,
            expected: len,
        });
    }
    bytes
        .chunks_exact(FIELD_BYTES)
        .enumerate()
        .map(|(index, c)| {
            let mut w = [0u8; FIELD_BYTES];
            w.copy_from_slice(c);
            Fp::from_canonical(u64::from_le_bytes(w)).ok_or(ShareError::NonCanonical { index })
        })
        .collect()
}

/// Reconstructs a shared sum of fixed-point vectors as reals:
/// centred(sum_A + sum_B) / 2^f. Meaningful while the true integer sum stays
/// inside (−p/2, p/2), i.e. n · 2^(ℓ+1) < 2^63 for n summed lifts.
pub fn reconstruct_real(
    sum_a: &[Fp],
    sum_b: &[Fp],
    params: FixedParams,
) -> Result<Vec<f64>, ShareError> {
    if sum_a.len() != sum_b.len() {
        return Err(ShareError::WrongLength {
            got: sum_b.len(),
            expected: sum_a.len(),
        });
    }
    Ok(sum_a
        .iter()
        .zip(sum_b)
        .map(|(&a, &b)| params.decode((a + b).to_centered()))
        .collect())
}

/// `acc += x` for field vectors of equal length.
pub fn accumulate(acc: &mut [Fp], x: &[Fp]) -> Result<(), ShareError> {
    if acc.len() != x.len() {
        return Err(ShareError::WrongLength {
            got: x.len(),
            expected: acc.len(),
        });
    }
    add_assign_slice(acc, x);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params() -> FixedParams {
        FixedParams::default()
    }

    proptest! {
        #[test]
        fn ring_share_lifts_to_x(x in proptest::collection::vec(-(1i64 << 17) + 1..(1i64 << 17), 0..300),
                                 round in any::<u64>(), worker in any::<u32>()) {
            let seed = Seed::random();
            let sb = share_ring(&x, params(), &seed, round, worker).unwrap();
            let xa = lift_a(params(), &seed, round, worker, x.len());
            let xb = sb.lift(params());
            for k in 0..x.len() {
                prop_assert_eq!((xa[k] + xb[k]).to_centered(), x[k]);
            }
            // Wire round trip.
            let (b, kap) = sb.to_wire();
            prop_assert_eq!(b.len(), 3 * x.len());
            let back = RingShareB::from_wire(&b, &kap, x.len(), params()).unwrap();
            prop_assert_eq!(back, sb);
        }

        #[test]
        fn field_share_reconstructs(x in proptest::collection::vec(any::<i64>(), 0..100)) {
            let x: Vec<Fp> = x.into_iter().map(Fp::from_i64).collect();
            let seed = Seed::random();
            let b = share_field(&x, &seed, 3, 4);
            let a = expand_field_share(&seed, 3, 4, x.len());
            for k in 0..x.len() {
                prop_assert_eq!(a[k] + b[k], x[k]);
            }
        }
    }

    #[test]
    fn any_ring_share_with_bit_carry_is_bounded() {
        // A cheating worker picks any bₖ < 2^ℓ and any carry *bit* κ; B's carry
        // share is then κ − κ_A. The lifted value must stay below 2^(ℓ+1).
        let p = params();
        let seed = Seed::random();
        let xa = lift_a(p, &seed, 9, 9, 1)[0];
        let kappa_a = Prg::new(&seed, domain(Purpose::CarryShareA, 9, 9)).next_fp();
        for b in [0u32, 1, 1 << 17, (1 << 18) - 1] {
            for kappa in [0i64, 1] {
                let mut sb = RingShareB {
                    b: vec![b],
                    kappa_b: vec![Fp::from_i64(kappa) - kappa_a],
                };
                let (bb, kb) = sb.parts_mut();
                assert_eq!((bb.len(), kb.len()), (1, 1));
                let x = (xa + sb.lift(p)[0]).to_centered();
                assert!(x.abs() < 1 << 19, "lift {x} escapes the bound");
            }
        }
    }

    #[test]
    fn decode_rejects_bad_shares() {
        let p = params();
        let sb = share_ring(&[5, -5], p, &Seed::random(), 0, 0).unwrap();
        let (mut b, kap) = sb.to_wire();
        assert!(matches!(
            RingShareB::from_wire(&b, &kap, 3, p),
            Err(ShareError::WrongLength { .. })
        ));
        assert!(matches!(
            RingShareB::from_wire(&b[..5], &kap, 2, p),
            Err(ShareError::WrongLength { .. })
        ));
        b[2] = 0x04; // value ≥ 2^18
        assert_eq!(
            RingShareB::from_wire(&b, &kap, 2, p),
            Err(ShareError::RingShareOutOfRange { index: 0, ell: 18 })
        );
        let (b, mut kap) = sb.to_wire();
        kap[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            RingShareB::from_wire(&b, &kap, 2, p),
            Err(ShareError::NonCanonical { index: 1 })
        );
    }

    #[test]
    fn out_of_ring_input_is_rejected() {
        let p = params();
        assert_eq!(
            share_ring(&[0, 1 << 17], p, &Seed::random(), 0, 0),
            Err(ShareError::NotInRing { index: 1, ell: 18 })
        );
    }
}
