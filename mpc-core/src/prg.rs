//! Seeds, domain-separated pseudorandom expansion, and the sampling helpers
//! that turn a caller's CSPRNG into seeds and field elements.
//!
//! Nothing here reads the operating system: a fresh [`Seed`] comes from a
//! caller's `rand::CryptoRng` ([`Seed::from_rng`]; the roles pass an
//! OS-seeded one), a child seed from a parent ([`Seed::derive`]). A seed is
//! never used directly as a stream key: [`Prg::new`] hashes it together with
//! a [`Domain`] (purpose, round, worker), so one seed expanded for two
//! purposes, rounds or workers yields independent streams. Field elements
//! are sampled by rejection (a 64-bit word ≥ p is discarded), ring elements
//! mod 2^ℓ by masking a 32-bit word (exact, since 2^ℓ divides 2^32).

use core::fmt;

use rand::{CryptoRng, Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::field::{Fp, MODULUS};

/// A uniformly random field element from `rng` (rejection sampling).
pub fn random_fp<R: CryptoRng + ?Sized>(rng: &mut R) -> Fp {
    loop {
        if let Some(x) = Fp::from_canonical(rng.next_u64()) {
            return x;
        }
    }
}

/// A 32-byte PRG seed. Zeroized on drop; `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
pub struct Seed(pub [u8; 32]);

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed(<redacted>)")
    }
}

impl Seed {
    /// A fresh seed: 32 bytes from `rng`.
    pub fn from_rng<R: CryptoRng + ?Sized>(rng: &mut R) -> Seed {
        let mut s = [0u8; 32];
        rng.fill_bytes(&mut s);
        Seed(s)
    }

    /// The seed of a public experiment number (a `--seed` flag): its eight
    /// little-endian bytes, then zeros. Not a secret; only for the
    /// reproducible, public randomness of experiments (model init, data,
    /// synthetic updates), expanded with [`Seed::derive`] or [`Prg::new`].
    pub fn from_u64(x: u64) -> Seed {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&x.to_le_bytes());
        Seed(s)
    }

    /// A child seed: the first 32 bytes of this seed's stream in `domain`.
    /// Children for different domains are independent, and none reveals the
    /// parent.
    pub fn derive(&self, domain: Domain) -> Seed {
        let mut s = [0u8; 32];
        Prg::new(self, domain).fill_bytes(&mut s);
        Seed(s)
    }
}

/// What a PRG stream is used for. Each purpose has its own tag in the key derivation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Server A's ℓ-bit ring shares aₖ of a worker's encoded update.
    RingMaskA,
    /// Server A's field shares of the carries κₖ.
    CarryShareA,
    /// Server A's share of a generic field-shared vector.
    FieldShareA,
    /// FLP joint randomness, first draw (bit checks).
    FlpJointRand1,
    /// FLP joint randomness, second, independent draw (bit checks).
    FlpJointRand2,
    /// FLP query point, drawn by both servers together.
    FlpQueryPoint,
    /// Server A's field shares of the range bits of the norm (robust rules).
    RangeBitsA,
    /// Server A's share of the validity proof (robust rules).
    ProofShareA,
    /// The mask M of the worker-dealt correlation W = s·X_A − M (A's, from the seed).
    VoleMaskA,
    /// The scalar s′ of the worker-dealt correlation Z = s′·X_B + R (A's).
    VoleScalarA,
    /// The mask R of the worker-dealt correlation Z = s′·X_B + R (A's).
    VoleMaskR,
    /// The servers' random linear-check vector ρ, expanded from their joint coin.
    CheckVector,
    /// A server's 2PC engine seed for one session, derived from the server's
    /// root seed (round = session number, worker = 0 for A, 1 for B).
    EngineSession,
    /// A worker's local training and dropout randomness (from `--seed`).
    WorkerTraining,
    /// A Byzantine worker's own attack randomness (from `--seed`).
    AttackOwn,
    /// The attack randomness shared by colluding workers (from `--seed`; worker = 0).
    AttackCollusion,
    /// Server A's proxy update ĝ₀ (from `--seed`; worker = 0).
    ProxyUpdate,
    /// The synthetic reference update of `--synthetic-dim` (from `--seed`; worker = 0).
    SyntheticReference,
    /// A benchmark worker's synthetic update (from `--seed`).
    SyntheticUpdate,
}

impl Purpose {
    fn tag(self) -> &'static [u8] {
        match self {
            Purpose::RingMaskA => b"ring-mask-a",
            Purpose::CarryShareA => b"carry-share-a",
            Purpose::FieldShareA => b"field-share-a",
            Purpose::FlpJointRand1 => b"flp-joint-rand-1",
            Purpose::FlpJointRand2 => b"flp-joint-rand-2",
            Purpose::FlpQueryPoint => b"flp-query-point",
            Purpose::RangeBitsA => b"range-bits-a",
            Purpose::ProofShareA => b"proof-share-a",
            Purpose::VoleMaskA => b"vole-mask-m",
            Purpose::VoleScalarA => b"vole-scalar-s-prime",
            Purpose::VoleMaskR => b"vole-mask-r",
            Purpose::CheckVector => b"check-vector-rho",
            Purpose::EngineSession => b"engine-session-seed",
            Purpose::WorkerTraining => b"worker-training",
            Purpose::AttackOwn => b"attack-own",
            Purpose::AttackCollusion => b"attack-collusion",
            Purpose::ProxyUpdate => b"proxy-update",
            Purpose::SyntheticReference => b"synthetic-reference",
            Purpose::SyntheticUpdate => b"synthetic-update",
        }
    }
}

/// The context a seed is expanded in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Domain {
    /// Purpose of the stream.
    pub purpose: Purpose,
    /// Round id.
    pub round: u64,
    /// Worker id.
    pub worker: u32,
}

/// A ChaCha8 stream keyed by SHA-256(label ‖ purpose ‖ round ‖ worker ‖ seed).
///
/// Eight rounds, not twelve: these streams are bulk masks (at d = 270k a
/// robust submission expands ≈ 7.5 MB per worker at server A), and ChaCha8
/// is ≈ 1.6× faster. The best known attacks on ChaCha reach 7 rounds;
/// ChaCha8 as a PRG under a uniformly random key (never a nonce-misuse
/// setting: one fresh key per seed, purpose, round and worker) is standard
/// practice, see docs/PROTOCOL.md §2. The key label is versioned (`v2`) so a
/// stream can never coincide with the earlier ChaCha12 one.
pub struct Prg(ChaCha8Rng);

impl fmt::Debug for Prg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Prg(<redacted>)")
    }
}

impl Prg {
    /// The stream for `seed` in `domain`.
    pub fn new(seed: &Seed, domain: Domain) -> Prg {
        let mut h = Sha256::new();
        h.update(b"tandem/prg/v2\0");
        let tag = domain.purpose.tag();
        h.update((tag.len() as u64).to_le_bytes());
        h.update(tag);
        h.update(domain.round.to_le_bytes());
        h.update(domain.worker.to_le_bytes());
        h.update(seed.0);
        let mut key: [u8; 32] = h.finalize().into();
        let rng = ChaCha8Rng::from_seed(key);
        key.zeroize();
        Prg(rng)
    }

    /// The next uniformly random field element (rejection sampling).
    #[inline]
    pub fn next_fp(&mut self) -> Fp {
        loop {
            let w = self.0.next_u64();
            if w < MODULUS {
                return Fp::reduce_u64(w);
            }
        }
    }

    /// The next uniformly random element of Z_{2^ℓ}, ℓ ≤ 32.
    #[inline]
    pub fn next_ring(&mut self, ell: u32) -> u32 {
        let w = self.0.next_u32();
        if ell >= 32 {
            w
        } else {
            w & ((1u32 << ell) - 1)
        }
    }

    /// Fills `out` with field elements.
    pub fn fill_fp(&mut self, out: &mut [Fp]) {
        for o in out {
            *o = self.next_fp();
        }
    }

    /// Fills `out` with stream bytes.
    pub fn fill_bytes(&mut self, out: &mut [u8]) {
        self.0.fill_bytes(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(purpose: Purpose, round: u64, worker: u32) -> Domain {
        Domain {
            purpose,
            round,
            worker,
        }
    }

    #[test]
    fn streams_are_domain_separated() {
        let s = Seed([7u8; 32]);
        let base = Prg::new(&s, d(Purpose::RingMaskA, 1, 1)).next_fp();
        assert_eq!(base, Prg::new(&s, d(Purpose::RingMaskA, 1, 1)).next_fp());
        assert_ne!(base, Prg::new(&s, d(Purpose::CarryShareA, 1, 1)).next_fp());
        assert_ne!(base, Prg::new(&s, d(Purpose::RingMaskA, 2, 1)).next_fp());
        assert_ne!(base, Prg::new(&s, d(Purpose::RingMaskA, 1, 2)).next_fp());
        assert_ne!(
            base,
            Prg::new(&Seed([8u8; 32]), d(Purpose::RingMaskA, 1, 1)).next_fp()
        );
    }

    #[test]
    fn ring_draws_are_in_range() {
        let mut p = Prg::new(&Seed([3u8; 32]), d(Purpose::RingMaskA, 0, 0));
        for _ in 0..10_000 {
            assert!(p.next_ring(18) < (1 << 18));
        }
    }

    #[test]
    fn seed_debug_is_redacted() {
        let s = Seed([0xab; 32]);
        assert_eq!(format!("{s:?}"), "Seed(<redacted>)");
    }

    #[test]
    fn seeds_from_an_rng_and_derived_seeds_differ() {
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([9u8; 32]);
        let (a, b) = (Seed::from_rng(&mut rng), Seed::from_rng(&mut rng));
        assert_ne!(a, b);
        let child = a.derive(d(Purpose::EngineSession, 1, 0));
        assert_eq!(child, a.derive(d(Purpose::EngineSession, 1, 0)));
        assert_ne!(child, a.derive(d(Purpose::EngineSession, 2, 0)));
        assert_ne!(child, a.derive(d(Purpose::EngineSession, 1, 1)));
        assert_ne!(child, b.derive(d(Purpose::EngineSession, 1, 0)));
        assert_ne!(child, a);
        assert_ne!(Seed::from_u64(1), Seed::from_u64(2));
    }
}
