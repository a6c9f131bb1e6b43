//! Helpers for the arith unit tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mpc_core::field::{Fp, MODULUS};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;

use super::random_fp;
use mpc_core::codec::Message;

/// A deterministic test RNG.
pub(crate) fn rng(seed: u64) -> ChaCha12Rng {
    ChaCha12Rng::seed_from_u64(seed)
}

/// Edge values: 0, 1, 2, p−1, p−2, 2^32, 2^32 − 1, (p+1)/2, (p−1)/2, 2^63.
pub(crate) fn edges() -> Vec<Fp> {
    [
        0,
        1,
        2,
        MODULUS - 1,
        MODULUS - 2,
        1 << 32,
        (1 << 32) - 1,
        MODULUS.div_ceil(2),
        MODULUS / 2,
        1 << 63,
    ]
    .into_iter()
    .map(|v| Fp::from_canonical(v).unwrap())
    .collect()
}

/// `n` values: every edge value at a few positions, the rest uniform.
pub(crate) fn values(n: usize, rng: &mut ChaCha12Rng) -> Vec<Fp> {
    let e = edges();
    (0..n)
        .map(|i| {
            if i % 97 < e.len() {
                e[i % 97]
            } else {
                random_fp(rng)
            }
        })
        .collect()
}

/// Random additive sharing of `xs`: (A's shares, B's shares).
pub(crate) fn share(xs: &[Fp], rng: &mut ChaCha12Rng) -> (Vec<Fp>, Vec<Fp>) {
    xs.iter()
        .map(|&x| {
            let r = random_fp(rng);
            (r, x - r)
        })
        .unzip()
}

/// A proptest strategy over F biased towards edge values.
pub(crate) fn arb_fp() -> impl Strategy<Value = Fp> {
    prop_oneof![
        3 => (0..MODULUS).prop_map(|v| Fp::from_canonical(v).unwrap()),
        1 => proptest::sample::select(edges()),
    ]
}

/// Sends a message through its byte encoding, checking `encoded_len`.
pub(crate) fn wire<M: Message>(m: &M) -> M {
    let bytes = m.encode();
    assert_eq!(bytes.len(), m.encoded_len(), "{} encoded_len", M::KIND);
    M::decode(&bytes).unwrap()
}

/// Overwrites 8 bytes at `at` with 0xff (a non-canonical field element).
pub(crate) fn non_canonical(mut bytes: Vec<u8>, at: usize) -> Vec<u8> {
    bytes[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    bytes
}
