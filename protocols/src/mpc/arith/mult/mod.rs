//! Multiplication of additively shared scalars with Beaver triples, batched.
//!
//! Inputs per product: shares `x_P, y_P` with `x = x_A + x_B`, `y = y_A + y_B`,
//! and one triple share `(a_P, b_P, c_P)` from [`super::triples`].
//!
//! # Messages
//!
//! One simultaneous exchange: each party sends [`MultMsg`] with
//! `d_P = x_P − a_P` and `e_P = y_P − b_P` for every product. Both open
//! `d = d_A + d_B = x − a` and `e = y − b`, then
//! `z_P = c_P + d·b_P + e·a_P (+ d·e for A)`, so `z_A + z_B = x·y`.
//!
//! # What each party sees; simulation (semi-honest)
//!
//! The peer's `d_Q, e_Q`. Since `a = a_A + a_B` and `b` are uniform and each
//! triple is used once, `d = x − a` and `e = y − b` are uniform and
//! independent of `x, y`; given its own shares the simulator samples `d, e`
//! uniformly and sets `d_Q = d − d_P`, `e_Q = e − e_P`. A triple used twice
//! would reveal the difference of two inputs; the API takes triples by value.
//!
//! # Cost per product
//!
//! One triple (128 random OTs, 1024 bytes to make); 16 bytes each way, 32 in
//! total (+ 5-byte header per message per batch); 1 round.

use mpc_core::codec::{self, CodecError, FP_BYTES, Limits, Message, Reader};
use mpc_core::field::Fp;
use thiserror::Error;

use super::{Finished, MAX_BATCH, Traffic};
use crate::mpc::corr::{Party, Triple};

#[cfg(test)]
mod tests;

/// Communication rounds of one batch.
pub const ROUNDS: u64 = 1;

/// Errors of the multiplication protocol.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum MultError {
    /// A peer message does not decode.
    #[error("mult: {0}")]
    Codec(#[from] CodecError),
    /// Local inputs of different lengths.
    #[error("mult: {xs} x-shares, {ys} y-shares and {triples} triples do not match")]
    Inputs {
        /// x shares.
        xs: usize,
        /// y shares.
        ys: usize,
        /// Triples.
        triples: usize,
    },
    /// The peer's message has the wrong number of products.
    #[error("mult: peer opened {got} products, expected {expected}")]
    Count {
        /// Products expected.
        expected: usize,
        /// Products received.
        got: usize,
    },
    /// Batch above [`MAX_BATCH`].
    #[error("mult: batch of {n} exceeds {MAX_BATCH}")]
    TooLarge {
        /// Products requested.
        n: usize,
    },
}

/// One party's masked inputs `d_P = x_P − a_P`, `e_P = y_P − b_P`.
#[derive(Clone, PartialEq, Eq)]
pub struct MultMsg {
    d: Vec<Fp>,
    e: Vec<Fp>,
}

impl core::fmt::Debug for MultMsg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "MultMsg({} products)", self.d.len())
    }
}

const TAG: u8 = 0x21;
const HEADER: usize = 5;

impl MultMsg {
    /// Number of products.
    pub fn len(&self) -> usize {
        self.d.len()
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.d.is_empty()
    }
}

/// `tag ‖ n (u32 LE) ‖ d_0..d_{n−1} ‖ e_0..e_{n−1}`.
impl Message for MultMsg {
    const KIND: &'static str = "mult";

    fn encoded_len(&self) -> usize {
        HEADER + 2 * FP_BYTES * self.d.len()
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(TAG);
        codec::put_count(out, self.d.len());
        codec::put_fps(out, &self.d);
        codec::put_fps(out, &self.e);
    }

    fn read(r: &mut Reader<'_>, _: &Limits) -> Result<Self, CodecError> {
        r.tag(TAG)?;
        let n = r.count()?;
        r.expect_remaining(n.checked_mul(2 * FP_BYTES))?;
        let d = r.fps(n)?;
        let e = r.fps(n)?;
        Ok(MultMsg { d, e })
    }
}

/// A party of a multiplication batch, after sending its [`MultMsg`].
pub struct Mult {
    party: Party,
    triples: Vec<Triple>,
    own: MultMsg,
    traffic: Traffic,
}

impl core::fmt::Debug for Mult {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Mult")
            .field("party", &self.party)
            .field("n", &self.triples.len())
            .finish_non_exhaustive()
    }
}

impl Mult {
    /// Starts `xs.len()` products `x_j · y_j` of shared values, consuming one
    /// triple each. Returns the state and the message for the peer.
    pub fn start(
        party: Party,
        xs: &[Fp],
        ys: &[Fp],
        triples: Vec<Triple>,
    ) -> Result<(Mult, MultMsg), MultError> {
        let n = xs.len();
        if ys.len() != n || triples.len() != n {
            return Err(MultError::Inputs {
                xs: n,
                ys: ys.len(),
                triples: triples.len(),
            });
        }
        if n > MAX_BATCH {
            return Err(MultError::TooLarge { n });
        }
        let (d, e) = xs
            .iter()
            .zip(ys)
            .zip(&triples)
            .map(|((&x, &y), t)| (x - t.a, y - t.b))
            .unzip();
        let own = MultMsg { d, e };
        let mut traffic = Traffic {
            rounds: ROUNDS,
            ..Traffic::default()
        };
        traffic.sent(own.encoded_len());
        Ok((
            Mult {
                party,
                triples,
                own: own.clone(),
                traffic,
            },
            own,
        ))
    }

    /// Finishes with the peer's message: this party's shares of `x_j · y_j`.
    pub fn finish(self, peer: &MultMsg) -> Result<Finished<Vec<Fp>>, MultError> {
        let n = self.triples.len();
        if peer.d.len() != n || peer.e.len() != n {
            return Err(MultError::Count {
                expected: n,
                got: peer.d.len(),
            });
        }
        let is_a = self.party == Party::A;
        let z = self
            .triples
            .iter()
            .zip(self.own.d.iter().zip(&self.own.e))
            .zip(peer.d.iter().zip(&peer.e))
            .map(|((t, (&d0, &e0)), (&d1, &e1))| {
                let (d, e) = (d0 + d1, e0 + e1);
                let z = t.c + d * t.b + e * t.a;
                if is_a { z + d * e } else { z }
            })
            .collect();
        let mut traffic = self.traffic;
        traffic.received(peer.encoded_len());
        Ok(Finished { output: z, traffic })
    }
}
