//! Correlation types shared by the 2PC protocols, one party's view each.

use mpc_core::field::Fp;

/// Which server a party is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Party {
    /// Server A (leader).
    A,
    /// Server B (helper).
    B,
}

impl Party {
    /// The other party.
    pub fn other(self) -> Party {
        match self {
            Party::A => Party::B,
            Party::B => Party::A,
        }
    }
}

/// One party's XOR shares of a Boolean triple: (a_A ⊕ a_B) ∧ (b_A ⊕ b_B) = c_A ⊕ c_B.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AndTriple {
    /// Share of a.
    pub a: bool,
    /// Share of b.
    pub b: bool,
    /// Share of c.
    pub c: bool,
}

impl core::fmt::Debug for AndTriple {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AndTriple(<redacted>)")
    }
}

/// One party's additive shares of a Beaver triple over F: (a_A + a_B)(b_A + b_B) = c_A + c_B.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Triple {
    /// Share of a.
    pub a: Fp,
    /// Share of b.
    pub b: Fp,
    /// Share of c.
    pub c: Fp,
}

impl core::fmt::Debug for Triple {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Triple(<redacted>)")
    }
}

/// An ideal in-process dealer of triples, for unit tests of a single protocol
/// layer only (never compiled into the product; the product makes triples with
/// `mpc::arith::triples` and `mpc::arith::and_triples` from OT). Ideal OT
/// correlations are in `mpc::arith::ot::ideal`.
#[cfg(any(test, doc))]
pub mod ideal {
    use mpc_core::field::Fp;
    use rand::CryptoRng;

    use super::{AndTriple, Triple};

    fn fp<R: CryptoRng + ?Sized>(rng: &mut R) -> Fp {
        loop {
            if let Some(x) = Fp::from_canonical(rng.next_u64()) {
                return x;
            }
        }
    }

    fn bit<R: CryptoRng + ?Sized>(rng: &mut R) -> bool {
        rng.next_u32() & 1 == 1
    }

    /// `n` Beaver triples over F: (A's shares, B's shares).
    pub fn triples<R: CryptoRng + ?Sized>(n: usize, rng: &mut R) -> (Vec<Triple>, Vec<Triple>) {
        (0..n)
            .map(|_| {
                let (a, b) = (fp(rng), fp(rng));
                let (a0, b0, c0) = (fp(rng), fp(rng), fp(rng));
                (
                    Triple {
                        a: a0,
                        b: b0,
                        c: c0,
                    },
                    Triple {
                        a: a - a0,
                        b: b - b0,
                        c: a * b - c0,
                    },
                )
            })
            .unzip()
    }

    /// `n` Boolean AND triples: (A's shares, B's shares).
    pub fn and_triples<R: CryptoRng + ?Sized>(
        n: usize,
        rng: &mut R,
    ) -> (Vec<AndTriple>, Vec<AndTriple>) {
        (0..n)
            .map(|_| {
                let (a, b) = (bit(rng), bit(rng));
                let (a0, b0, c0) = (bit(rng), bit(rng), bit(rng));
                (
                    AndTriple {
                        a: a0,
                        b: b0,
                        c: c0,
                    },
                    AndTriple {
                        a: a ^ a0,
                        b: b ^ b0,
                        c: (a & b) ^ c0,
                    },
                )
            })
            .unzip()
    }
}
