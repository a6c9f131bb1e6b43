//! OT correlations consumed by the arith protocols (the integration seam).
//!
//! The arith protocols consume the OT layer's output types directly
//! ([`mpc_core::ot`], base OT + IKNP), one party's view each:
//!
//! - random OT ([`RotSenderOutput`] / [`RotReceiverOutput`]): the sender holds
//!   two random blocks `m0[i]`, `m1[i]`, the receiver holds a random choice
//!   `choices[i]` and `mc[i] = m_{choices[i]}[i]`. IKNP makes them with
//!   `IknpReceiver::extend_rot` (random choices) / `IknpSender::receive_rot`,
//!   hashing with the fixed-key-AES TCCR hash, so every block is pseudorandom
//!   and may be reduced to a field element directly ([`block_to_fp`]).
//!
//! All arith protocols consume **random OTs with random receiver choices**, so
//! they can be produced in batches ahead of need (the triple generator uses
//! the random choices as its secret `b`, so it needs no chosen ones). Correlated OTs
//! (`CotSenderOutput` / `CotReceiverOutput`) are not consumed here: turn them
//! into random OTs with the OT layer's hash (`receive_rot` / `extend_rot` do
//! exactly that), never by reducing a raw `q` or `t`.
//!
//! **A correlation must never be used twice.** Protocols take these structs by
//! value; the engine's OT pool (`mpc::engine::pool`) hands each job batches
//! it takes off the front of its own (both parties take the same counts in
//! the same order, so index `i` on one side meets index `i` on the other);
//! unit tests split one batch with `take_rot_sender` / `take_rot_receiver`. Each protocol needs OTs in a fixed direction: the module docs say
//! which party is the OT sender of which batch.

use mpc_core::field::Fp;
pub use mpc_core::ot::{Block, RotReceiverOutput, RotSenderOutput};
use thiserror::Error;

/// An OT batch handed to a protocol has the wrong shape (a local wiring bug,
/// not peer data; never a panic either way).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum OtShapeError {
    /// The vectors of one OT output have different lengths.
    #[error("OT output has vectors of different lengths ({0} and {1})")]
    Ragged(usize, usize),
    /// The batch has the wrong number of OTs.
    #[error("protocol needs {needed} OTs, the batch has {got}")]
    Count {
        /// OTs the protocol instance needs.
        needed: usize,
        /// OTs supplied.
        got: usize,
    },
}

/// Number of OTs in a sender batch (error if `m0`, `m1` differ in length).
pub fn rot_sender_len(ots: &RotSenderOutput) -> Result<usize, OtShapeError> {
    if ots.m0.len() != ots.m1.len() {
        return Err(OtShapeError::Ragged(ots.m0.len(), ots.m1.len()));
    }
    Ok(ots.m0.len())
}

/// Number of OTs in a receiver batch (error if `choices`, `mc` differ in length).
pub fn rot_receiver_len(ots: &RotReceiverOutput) -> Result<usize, OtShapeError> {
    if ots.choices.len() != ots.mc.len() {
        return Err(OtShapeError::Ragged(ots.choices.len(), ots.mc.len()));
    }
    Ok(ots.mc.len())
}

pub(crate) fn expect_sender(ots: &RotSenderOutput, needed: usize) -> Result<(), OtShapeError> {
    let got = rot_sender_len(ots)?;
    if got != needed {
        return Err(OtShapeError::Count { needed, got });
    }
    Ok(())
}

pub(crate) fn expect_receiver(ots: &RotReceiverOutput, needed: usize) -> Result<(), OtShapeError> {
    let got = rot_receiver_len(ots)?;
    if got != needed {
        return Err(OtShapeError::Count { needed, got });
    }
    Ok(())
}

/// Removes the last `n` OTs of a sender batch and returns them (unit tests).
#[cfg(test)]
pub(crate) fn take_rot_sender(
    ots: &mut RotSenderOutput,
    n: usize,
) -> Result<RotSenderOutput, OtShapeError> {
    let have = rot_sender_len(ots)?;
    let at = have.checked_sub(n).ok_or(OtShapeError::Count {
        needed: n,
        got: have,
    })?;
    Ok(RotSenderOutput {
        m0: ots.m0.split_off(at),
        m1: ots.m1.split_off(at),
    })
}

/// Removes the last `n` OTs of a receiver batch and returns them (unit tests).
#[cfg(test)]
pub(crate) fn take_rot_receiver(
    ots: &mut RotReceiverOutput,
    n: usize,
) -> Result<RotReceiverOutput, OtShapeError> {
    let have = rot_receiver_len(ots)?;
    let at = have.checked_sub(n).ok_or(OtShapeError::Count {
        needed: n,
        got: have,
    })?;
    Ok(RotReceiverOutput {
        choices: ots.choices.split_off(at),
        mc: ots.mc.split_off(at),
    })
}

/// 2^64 mod p = 2^32 − 1.
const TWO_64_MOD_P: Fp = Fp::reduce_u64(0xffff_ffff);

/// A field element from a random OT block: `block mod p`.
///
/// For a uniform 128-bit block the result is within statistical distance
/// `r(p − r) / (p · 2^128) < 2^-66` of uniform on F (r = 2^128 mod p), well
/// under the 2^-64 we allow per element. The block must already be the output
/// of a random OT (i.e. of the correlation-robust hash), never a raw IKNP `q`.
#[inline]
pub fn block_to_fp(b: Block) -> Fp {
    let hi = Fp::reduce_u64((b >> 64) as u64);
    let lo = Fp::reduce_u64(b as u64);
    hi * TWO_64_MOD_P + lo
}

/// An in-process generator of ideal OT correlations, for unit tests of the
/// protocols above the OT layer only. Never compiled into the product.
#[cfg(test)]
pub mod ideal {
    use rand::CryptoRng;

    use super::*;

    fn block<R: CryptoRng>(rng: &mut R) -> Block {
        (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64())
    }

    /// `n` random OTs: (sender view, receiver view).
    pub fn rot<R: CryptoRng>(n: usize, rng: &mut R) -> (RotSenderOutput, RotReceiverOutput) {
        let mut s = RotSenderOutput {
            m0: Vec::with_capacity(n),
            m1: Vec::with_capacity(n),
        };
        let mut r = RotReceiverOutput {
            choices: Vec::with_capacity(n),
            mc: Vec::with_capacity(n),
        };
        for _ in 0..n {
            let (m0, m1) = (block(rng), block(rng));
            let c = rng.next_u32() & 1 == 1;
            s.m0.push(m0);
            s.m1.push(m1);
            r.choices.push(c);
            r.mc.push(if c { m1 } else { m0 });
        }
        (s, r)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use mpc_core::field::MODULUS;
    use rand::SeedableRng;
    use rand_chacha::ChaCha12Rng;

    #[test]
    fn block_to_fp_matches_u128_mod_p() {
        let mut rng = ChaCha12Rng::seed_from_u64(1);
        let edges = [
            0u128,
            1,
            u128::from(MODULUS) - 1,
            u128::from(MODULUS),
            u128::from(u64::MAX),
            u128::MAX,
            u128::MAX - 1,
            1u128 << 64,
            (1u128 << 64) * u128::from(MODULUS),
        ];
        let randoms = (0..100_000).map(|_| ideal_block(&mut rng));
        for b in edges.into_iter().chain(randoms) {
            assert_eq!(u128::from(block_to_fp(b).value()), b % u128::from(MODULUS));
        }
    }

    fn ideal_block(rng: &mut ChaCha12Rng) -> Block {
        use rand::Rng;
        (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64())
    }

    #[test]
    fn ideal_rot_correlation_and_take() {
        let mut rng = ChaCha12Rng::seed_from_u64(3);
        let (mut s, mut r) = ideal::rot(100, &mut rng);
        let s2 = take_rot_sender(&mut s, 30).unwrap();
        let r2 = take_rot_receiver(&mut r, 30).unwrap();
        assert_eq!(
            (rot_sender_len(&s).unwrap(), rot_sender_len(&s2).unwrap()),
            (70, 30)
        );
        for (s, r) in [(&s, &r), (&s2, &r2)] {
            for i in 0..r.mc.len() {
                assert_eq!(r.mc[i], if r.choices[i] { s.m1[i] } else { s.m0[i] });
            }
        }
        assert_eq!(
            take_rot_sender(&mut s, 71).unwrap_err(),
            OtShapeError::Count {
                needed: 71,
                got: 70
            }
        );
        s.m1.pop();
        assert_eq!(
            rot_sender_len(&s).unwrap_err(),
            OtShapeError::Ragged(70, 69)
        );
    }

    #[test]
    fn debug_shows_lengths_only() {
        let (s, r) = ideal::rot(3, &mut ChaCha12Rng::seed_from_u64(4));
        let txt = format!("{s:?} {r:?}");
        assert!(txt.contains("len: 3"));
        assert!(!txt.contains(&s.m0[0].to_string()));
    }
}
