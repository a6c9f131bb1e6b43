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
/// `mpc::arith::triples` from OT). Ideal OT correlations are in
/// `mpc::arith::ot::ideal`.
#[cfg(any(test, doc))]
pub mod ideal {
    use mpc_core::field::Fp;
    use rand::CryptoRng;

    use super::Triple;

    fn fp<R: CryptoRng + ?Sized>(rng: &mut R) -> Fp {
        loop {
            if let Some(x) = Fp::from_canonical(rng.next_u64()) {
                return x;
            }
        }
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
}
