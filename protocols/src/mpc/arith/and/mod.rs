//! AND of XOR-shared bits with AND triples, batched (one GMW layer).
//!
//! Inputs per gate: shares `x_P, y_P` with `x = x_A ⊕ x_B`, `y = y_A ⊕ y_B`, and
//! one AND triple share from [`super::and_triples`].
//!
//! # Messages
//!
//! One simultaneous exchange: each party sends [`AndMsg`] with
//! `d_P = x_P ⊕ a_P` and `e_P = y_P ⊕ b_P` for every gate, packed two bits per
//! gate. Both open `d = x ⊕ a`, `e = y ⊕ b` and output
//! `z_P = c_P ⊕ d·b_P ⊕ e·a_P (⊕ d·e for A)`, so `z_A ⊕ z_B = x ∧ y`.
//!
//! # What each party sees; simulation (semi-honest)
//!
//! The peer's `d_Q, e_Q`. With a fresh triple, `a` and `b` are uniform and
//! hidden, so `d, e` are uniform bits independent of `x, y`; the simulator
//! samples them and sets `d_Q = d ⊕ d_P`, `e_Q = e ⊕ e_P`.
//!
//! # Cost per gate
//!
//! One AND triple (2 random OTs); 2 bits each way, 0.5 bytes in total
//! (+ 5-byte header per message per batch); 1 round per layer of gates.

use thiserror::Error;

use super::codec::{self, ArithMessage, CodecError, Reader, get_bit, packed_len};
use super::{Finished, MAX_BATCH, Traffic};
use crate::mpc::corr::{AndTriple, Party};

#[cfg(test)]
mod tests;

/// Communication rounds of one batch.
pub const ROUNDS: u64 = 1;

/// Errors of the AND protocol.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum AndError {
    /// A peer message does not decode.
    #[error("AND: {0}")]
    Codec(#[from] CodecError),
    /// Local inputs of different lengths.
    #[error("AND: {xs} x-shares, {ys} y-shares and {triples} triples do not match")]
    Inputs {
        /// x shares.
        xs: usize,
        /// y shares.
        ys: usize,
        /// Triples.
        triples: usize,
    },
    /// The peer's message has the wrong number of gates.
    #[error("AND: peer opened {got} gates, expected {expected}")]
    Count {
        /// Gates expected.
        expected: usize,
        /// Gates received.
        got: usize,
    },
    /// Batch above [`MAX_BATCH`].
    #[error("AND: batch of {n} exceeds {MAX_BATCH}")]
    TooLarge {
        /// Gates requested.
        n: usize,
    },
}

/// One party's masked bits `(d_P, e_P)` per gate, packed `d_0 e_0 d_1 e_1 …` LSB-first.
#[derive(Clone, PartialEq, Eq)]
pub struct AndMsg {
    n: usize,
    bits: Vec<u8>,
}

impl core::fmt::Debug for AndMsg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "AndMsg({} gates)", self.n)
    }
}

const TAG: u8 = 0x31;
const HEADER: usize = 5;

impl AndMsg {
    /// Number of gates.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    fn d(&self, j: usize) -> bool {
        get_bit(&self.bits, 2 * j)
    }

    fn e(&self, j: usize) -> bool {
        get_bit(&self.bits, 2 * j + 1)
    }
}

impl ArithMessage for AndMsg {
    const KIND: &'static str = "AND";

    fn encoded_len(&self) -> usize {
        HEADER + self.bits.len()
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(TAG);
        codec::put_count(&mut out, self.n);
        out.extend_from_slice(&self.bits);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(Self::KIND, TAG, HEADER, bytes)?;
        let n = r.count()?;
        r.expect_total(
            n.checked_mul(2)
                .map(packed_len)
                .and_then(|b| b.checked_add(HEADER)),
        )?;
        let bits = r.bits(2 * n)?;
        r.finish()?;
        Ok(AndMsg { n, bits })
    }
}

/// A party of an AND batch, after sending its [`AndMsg`].
pub struct And {
    party: Party,
    triples: Vec<AndTriple>,
    own: AndMsg,
    traffic: Traffic,
}

impl core::fmt::Debug for And {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("And")
            .field("party", &self.party)
            .field("n", &self.triples.len())
            .finish_non_exhaustive()
    }
}

impl And {
    /// Starts `xs.len()` gates `x_j ∧ y_j` on XOR-shared bits, consuming one
    /// AND triple each. Returns the state and the message for the peer.
    pub fn start(
        party: Party,
        xs: &[bool],
        ys: &[bool],
        triples: Vec<AndTriple>,
    ) -> Result<(And, AndMsg), AndError> {
        let n = xs.len();
        if ys.len() != n || triples.len() != n {
            return Err(AndError::Inputs {
                xs: n,
                ys: ys.len(),
                triples: triples.len(),
            });
        }
        if n > MAX_BATCH {
            return Err(AndError::TooLarge { n });
        }
        let mut bits = Vec::with_capacity(packed_len(2 * n));
        codec::pack_bits(
            xs.iter()
                .zip(ys)
                .zip(&triples)
                .flat_map(|((&x, &y), t)| [x ^ t.a, y ^ t.b]),
            &mut bits,
        );
        let own = AndMsg { n, bits };
        let mut traffic = Traffic {
            rounds: ROUNDS,
            ..Traffic::default()
        };
        traffic.sent(own.encoded_len());
        Ok((
            And {
                party,
                triples,
                own: own.clone(),
                traffic,
            },
            own,
        ))
    }

    /// Finishes with the peer's message: this party's shares of `x_j ∧ y_j`.
    pub fn finish(self, peer: &AndMsg) -> Result<Finished<Vec<bool>>, AndError> {
        let n = self.triples.len();
        if peer.n != n {
            return Err(AndError::Count {
                expected: n,
                got: peer.n,
            });
        }
        let is_a = self.party == Party::A;
        let z = self
            .triples
            .iter()
            .enumerate()
            .map(|(j, t)| {
                let d = self.own.d(j) ^ peer.d(j);
                let e = self.own.e(j) ^ peer.e(j);
                t.c ^ (d & t.b) ^ (e & t.a) ^ (is_a & d & e)
            })
            .collect();
        let mut traffic = self.traffic;
        traffic.received(peer.encoded_len());
        Ok(Finished { output: z, traffic })
    }
}
