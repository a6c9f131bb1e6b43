//! Additive sharing between server A and server B.
//!
//! * [`share_field`]: a field vector x is split as x = x_A + x_B where x_A is
//!   expanded from a seed (A receives 32 bytes) and x_B is sent explicitly.
//! * Wire sizes of share vectors: ring shares take [`RING_SHARE_BYTES`]
//!   each; field elements are parsed by the codec
//!   ([`crate::codec::decode_field_bytes`]). The small-ring sharing with carries itself
//!   (docs/PROTOCOL.md §2) is part of the validity-proved submission,
//!   `protocols::robust::submit`.

use thiserror::Error;

use crate::field::{Fp, add_assign_slice};
use crate::prg::{Domain, Prg, Purpose, Seed};

/// Bytes per ring share on the wire (ℓ ≤ 24).
pub const RING_SHARE_BYTES: usize = 3;

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
}
