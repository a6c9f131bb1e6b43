//! Additive sharing between server A and server B.
//!
//! * [`share_field`]: a field vector x is split as x = x_A + x_B where x_A is
//!   expanded from a seed (A receives 32 bytes) and x_B is sent explicitly.
//! * Wire encodings of share vectors: field elements as 8-byte words
//!   ([`encode_field_bytes`], [`decode_field_bytes`]); ring shares take
//!   [`RING_SHARE_BYTES`] each. The small-ring sharing with carries itself
//!   (docs/PROTOCOL.md §2) is part of the validity-proved submission,
//!   `protocols::robust::submit`.

use thiserror::Error;

use crate::field::{Fp, add_assign_slice};
use crate::prg::{Domain, Prg, Purpose, Seed};

/// Bytes per ring share on the wire (ℓ ≤ 24).
pub const RING_SHARE_BYTES: usize = 3;
/// Bytes per field element on the wire.
pub const FIELD_BYTES: usize = 8;

/// Errors of the sharing layer. They never contain share values.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ShareError {
    /// A share vector has the wrong length.
    #[error("share vector has {got} entries, expected {expected}")]
    WrongLength {
        /// Entries received.
        got: usize,
        /// Entries expected.
        expected: usize,
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

    proptest! {
        #[test]
        fn field_share_reconstructs(
            x in proptest::collection::vec(any::<i64>(), 0..100),
            seed in any::<[u8; 32]>(),
        ) {
            let x: Vec<Fp> = x.into_iter().map(Fp::from_i64).collect();
            let seed = Seed(seed);
            let b = share_field(&x, &seed, 3, 4);
            let a = expand_field_share(&seed, 3, 4, x.len());
            for k in 0..x.len() {
                prop_assert_eq!(a[k] + b[k], x[k]);
            }
        }
    }

    #[test]
    fn decode_rejects_bad_field_bytes() {
        let v = [Fp::from_i64(5), Fp::from_i64(-5)];
        let mut bytes = encode_field_bytes(&v);
        assert_eq!(decode_field_bytes(&bytes, 2).unwrap(), v);
        assert!(matches!(
            decode_field_bytes(&bytes, 3),
            Err(ShareError::WrongLength { .. })
        ));
        assert!(matches!(
            decode_field_bytes(&bytes[..15], 2),
            Err(ShareError::WrongLength { .. })
        ));
        bytes[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            decode_field_bytes(&bytes, 2),
            Err(ShareError::NonCanonical { index: 1 })
        );
    }
}
