//! The random OTs the comparison protocols consume (the integration seam).
//!
//! Every protocol here consumes **random OTs with random receiver choices**
//! in the shape of the OT layer's IKNP output, [`mpc_core::ot::RotSenderOutput`]
//! and [`mpc_core::ot::RotReceiverOutput`] — nothing else: no AND triples, no
//! B2A conversions, no Beaver triples. Boolean triples for the comparison
//! tree are derived locally from ROTs (`CorrTriple`, zero communication),
//! and bit × value products use the ROTs directly ([`super::mux`]).
//!
//! A protocol instance states its need as a [`RotDemand`]: how many OTs have
//! A as receiver (B as sender) and how many have B as receiver (A as sender).
//! Each party hands the instance one [`Rots`] — its sender view of the
//! "B receives" OTs and its receiver view of the "A receives" OTs, or the
//! other way round for B — with exactly the demanded counts. Both parties must
//! take the same OT indices in the same order ([`Rots::take_front`] on two
//! batches from the same IKNP session does that). A correlation is never used
//! twice: instances take [`Rots`] by value.

use core::fmt;
use core::ops::Add;

use mpc_core::field::Fp;
pub use mpc_core::ot::{Block, RotReceiverOutput, RotSenderOutput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use thiserror::Error;
use zeroize::Zeroize;

use crate::mpc::corr::Party;

/// Bytes the IKNP receiver sends per extended OT (one 128-bit column entry),
/// the figure used for the "bytes including OTs" accounting.
pub const IKNP_BYTES_PER_OT: usize = 16;

/// How many random OTs an instance consumes, by direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RotDemand {
    /// OTs with A as receiver and B as sender.
    pub a_receives: usize,
    /// OTs with B as receiver and A as sender.
    pub b_receives: usize,
}

impl RotDemand {
    /// All OTs.
    pub fn total(&self) -> usize {
        self.a_receives + self.b_receives
    }

    /// `(as sender, as receiver)` counts for `party`.
    pub fn for_party(&self, party: Party) -> (usize, usize) {
        match party {
            Party::A => (self.b_receives, self.a_receives),
            Party::B => (self.a_receives, self.b_receives),
        }
    }

    /// IKNP traffic of these OTs at [`IKNP_BYTES_PER_OT`] each.
    pub fn iknp_bytes(&self) -> usize {
        IKNP_BYTES_PER_OT * self.total()
    }
}

impl Add for RotDemand {
    type Output = RotDemand;
    fn add(self, rhs: RotDemand) -> RotDemand {
        RotDemand {
            a_receives: self.a_receives + rhs.a_receives,
            b_receives: self.b_receives + rhs.b_receives,
        }
    }
}

/// The OT batch handed to an instance does not fit it (a local wiring bug,
/// never peer data).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RotShapeError {
    /// The vectors of one OT output have different lengths.
    #[error("OT output has vectors of different lengths ({0} and {1})")]
    Ragged(usize, usize),
    /// Wrong number of OTs.
    #[error("needs {needed} OTs as {role}, the batch has {got}")]
    Count {
        /// `sender` or `receiver`.
        role: &'static str,
        /// OTs needed.
        needed: usize,
        /// OTs supplied.
        got: usize,
    },
}

/// One party's random OTs for one protocol instance.
#[derive(Clone, Default)]
pub struct Rots {
    /// OTs where this party is the sender (two random blocks each).
    pub sent: RotSenderOutput,
    /// OTs where this party is the receiver (random choice, chosen block).
    pub received: RotReceiverOutput,
}

impl fmt::Debug for Rots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rots")
            .field("sent", &self.sent.m0.len())
            .field("received", &self.received.mc.len())
            .finish()
    }
}

/// Every OT batch is wiped when dropped (by the instance that consumed it,
/// or by the pool), so no used or unused OT outlives its owner in memory.
impl Drop for Rots {
    fn drop(&mut self) {
        self.sent.zeroize();
        self.received.zeroize();
    }
}

impl Rots {
    /// `(sent, received)` counts, or an error if a pair of vectors is ragged.
    pub fn counts(&self) -> Result<(usize, usize), RotShapeError> {
        if self.sent.m0.len() != self.sent.m1.len() {
            return Err(RotShapeError::Ragged(
                self.sent.m0.len(),
                self.sent.m1.len(),
            ));
        }
        if self.received.choices.len() != self.received.mc.len() {
            return Err(RotShapeError::Ragged(
                self.received.choices.len(),
                self.received.mc.len(),
            ));
        }
        Ok((self.sent.m0.len(), self.received.mc.len()))
    }

    /// Errors unless this batch holds exactly `demand` for `party`.
    pub fn expect(&self, party: Party, demand: RotDemand) -> Result<(), RotShapeError> {
        let (s, r) = self.counts()?;
        let (ns, nr) = demand.for_party(party);
        if s != ns {
            return Err(RotShapeError::Count {
                role: "sender",
                needed: ns,
                got: s,
            });
        }
        if r != nr {
            return Err(RotShapeError::Count {
                role: "receiver",
                needed: nr,
                got: r,
            });
        }
        Ok(())
    }

    /// Removes and returns the first OTs of this batch that `demand` asks of
    /// `party` (the sender and receiver parts are split independently).
    pub fn take_front(&mut self, party: Party, demand: RotDemand) -> Result<Rots, RotShapeError> {
        let (s, r) = self.counts()?;
        let (ns, nr) = demand.for_party(party);
        if s < ns {
            return Err(RotShapeError::Count {
                role: "sender",
                needed: ns,
                got: s,
            });
        }
        if r < nr {
            return Err(RotShapeError::Count {
                role: "receiver",
                needed: nr,
                got: r,
            });
        }
        /// The first n entries in a fresh allocation; the rest shifts down in
        /// place and the vacated tail is wiped (no stale copy is left in
        /// spare capacity or in a freed buffer).
        fn front<T: Copy + Zeroize>(v: &mut Vec<T>, n: usize) -> Vec<T> {
            let out = v.get(..n).map(<[T]>::to_vec).unwrap_or_default();
            v.copy_within(n.., 0);
            let keep = v.len() - n;
            v.iter_mut().skip(keep).for_each(Zeroize::zeroize);
            v.truncate(keep);
            out
        }
        Ok(Rots {
            sent: RotSenderOutput {
                m0: front(&mut self.sent.m0, ns),
                m1: front(&mut self.sent.m1, ns),
            },
            received: RotReceiverOutput {
                choices: front(&mut self.received.choices, nr),
                mc: front(&mut self.received.mc, nr),
            },
        })
    }
}

/// One party's XOR shares of a pair of Boolean triples sharing their first
/// factor: `a·b0 = c0` and `a·b1 = c1`. Evaluating `x∧y0` and `x∧y1` with it
/// opens `x ⊕ a` once (CrypTFlow2's "correlated triples").
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct CorrTriple {
    pub(crate) a: bool,
    pub(crate) b: [bool; 2],
    pub(crate) c: [bool; 2],
}

impl fmt::Debug for CorrTriple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CorrTriple(<redacted>)")
    }
}

impl CorrTriple {
    /// This party's shares of a correlated triple from two random OTs, one in
    /// each direction, with no communication.
    ///
    /// `recv = (choice d, chosen block)` is an OT where this party received;
    /// `sent = (m0, m1)` is an OT where this party sent. With the peer's
    /// views `(n0, n1)` and `(c, m_c)` of the same two OTs:
    /// `a = d ⊕ c`, `b_k = bit_k(m0⊕m1) ⊕ bit_k(n0⊕n1)`, and
    /// `c_k = d·b_k^self ⊕ bit_k(chosen) ⊕ bit_k(m0)` on each side, because
    /// `d·bit_k(n0⊕n1) = bit_k(n0) ⊕ bit_k(n_d)` and likewise the other way.
    pub(crate) fn from_rots(recv: (bool, Block), sent: (Block, Block)) -> CorrTriple {
        let (d, chosen) = recv;
        let (m0, m1) = sent;
        let delta = m0 ^ m1;
        let b0 = delta & 1 == 1;
        let b1 = (delta >> 1) & 1 == 1;
        let c0 = (d & b0) ^ (chosen & 1 == 1) ^ (m0 & 1 == 1);
        let c1 = (d & b1) ^ ((chosen >> 1) & 1 == 1) ^ ((m0 >> 1) & 1 == 1);
        CorrTriple {
            a: d,
            b: [b0, b1],
            c: [c0, c1],
        }
    }
}

/// 2^64 mod p = 2^32 − 1.
const TWO_64_MOD_P: Fp = Fp::reduce_u64(0xffff_ffff);

/// A field element from a random-OT block: `block mod p`, within statistical
/// distance 2^-64 of uniform for a uniform block.
#[inline]
pub(crate) fn block_to_fp(b: Block) -> Fp {
    Fp::reduce_u64((b >> 64) as u64) * TWO_64_MOD_P + Fp::reduce_u64(b as u64)
}

/// Domain label of the key-stream expansion.
const STREAM_LABEL: [u8; 16] = *b"tandem/cmp/leaf\0";

/// `nbits` pseudorandom bits keyed by a random-OT block: the block's own bits
/// when `nbits ≤ 128`, else ChaCha12 keyed by (block ‖ label). Each block is
/// expanded for one purpose only.
pub(crate) fn key_stream(key: Block, nbits: usize) -> super::bits::BitVec {
    use super::bits::BitVec;
    if nbits <= 128 {
        return BitVec::from_words(vec![key as u64, (key >> 64) as u64], nbits);
    }
    let mut seed = [0u8; 32];
    let (k, l) = seed.split_at_mut(16);
    k.copy_from_slice(&key.to_le_bytes());
    l.copy_from_slice(&STREAM_LABEL);
    let mut rng = ChaCha12Rng::from_seed(seed);
    let words = (0..nbits.div_ceil(64)).map(|_| rng.next_u64()).collect();
    BitVec::from_words(words, nbits)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::mpc::compare::test_util::{ideal_rots, rng};

    #[test]
    fn corr_triples_from_rots_are_triples() {
        let mut r = rng(11);
        let demand = RotDemand {
            a_receives: 20_000,
            b_receives: 20_000,
        };
        let (ra, rb) = ideal_rots(demand, &mut r);
        let mut seen = [[0usize; 2]; 2];
        for i in 0..20_000 {
            let ta = CorrTriple::from_rots(
                (ra.received.choices[i], ra.received.mc[i]),
                (ra.sent.m0[i], ra.sent.m1[i]),
            );
            let tb = CorrTriple::from_rots(
                (rb.received.choices[i], rb.received.mc[i]),
                (rb.sent.m0[i], rb.sent.m1[i]),
            );
            let a = ta.a ^ tb.a;
            for k in 0..2 {
                let b = ta.b[k] ^ tb.b[k];
                assert_eq!(ta.c[k] ^ tb.c[k], a & b);
            }
            seen[usize::from(a)][usize::from(ta.b[0] ^ tb.b[0])] += 1;
        }
        // Every (a, b) combination occurs (the triples are random).
        assert!(seen.iter().flatten().all(|&n| n > 4000));
    }

    #[test]
    fn take_front_splits_in_order() {
        let mut r = rng(12);
        let (mut ra, mut rb) = ideal_rots(
            RotDemand {
                a_receives: 10,
                b_receives: 7,
            },
            &mut r,
        );
        let d = RotDemand {
            a_receives: 4,
            b_receives: 3,
        };
        let fa = ra.take_front(Party::A, d).unwrap();
        let fb = rb.take_front(Party::B, d).unwrap();
        fa.expect(Party::A, d).unwrap();
        fb.expect(Party::B, d).unwrap();
        for i in 0..4 {
            let c = fa.received.choices[i];
            let want = if c { fb.sent.m1[i] } else { fb.sent.m0[i] };
            assert_eq!(fa.received.mc[i], want);
        }
        assert_eq!(ra.counts().unwrap(), (4, 6));
        assert!(ra.take_front(Party::A, d).is_ok());
        assert!(matches!(
            ra.take_front(Party::A, d),
            Err(RotShapeError::Count { .. })
        ));
        assert!(format!("{fa:?}").contains("received: 4"));
    }

    #[test]
    fn block_to_fp_is_mod_p() {
        use mpc_core::field::MODULUS;
        for b in [0u128, 1, u128::MAX, u128::from(MODULUS), (1 << 64) + 5] {
            assert_eq!(u128::from(block_to_fp(b).value()), b % u128::from(MODULUS));
        }
    }

    #[test]
    fn key_stream_raw_and_expanded() {
        let k = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128;
        let s = key_stream(k, 100);
        assert_eq!(s.len(), 100);
        assert_eq!(s.bits(0, 64), Some(k as u64));
        let e = key_stream(k, 300);
        assert_eq!(e.len(), 300);
        assert_eq!(e, key_stream(k, 300));
        assert_ne!(e.bits(0, 64), key_stream(k ^ 1, 300).bits(0, 64));
    }
}
