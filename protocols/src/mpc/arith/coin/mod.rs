//! Joint coin toss: commit-then-reveal, output a 32-byte seed both servers
//! contributed to.
//!
//! Each party P draws a 32-byte share `s_P` and a 32-byte nonce `ρ_P` and
//! commits `C_P = SHA-256("tandem/coin/commit/v1" ‖ |label| ‖ label ‖ P ‖ ρ_P ‖ s_P)`.
//! The label (≤ [`MAX_LABEL`] bytes, e.g. `b"round 17 / validity"`)
//! domain-separates tosses; the party tag stops a commitment from being
//! reflected back as the other party's.
//!
//! # Messages (symmetric; both parties run the same code)
//!
//! 1. exchange [`CoinCommit`] `C_P` (32 bytes);
//! 2. only after receiving the peer's commitment, exchange [`CoinReveal`]
//!    `(s_P, ρ_P)`; each party recomputes the peer's commitment and aborts
//!    with [`CoinError::Mismatch`] if it differs.
//!
//! Seed = `SHA-256("tandem/coin/seed/v1" ‖ |label| ‖ label ‖ s_A ‖ s_B)`.
//!
//! # What each party sees; simulation (semi-honest)
//!
//! The peer's commitment and opening. Given the ideal output seed, the
//! simulator picks the peer's share at random and programs the seed hash
//! (random oracle), and computes the commitment honestly. Against a semi-honest
//! peer the seed is uniform as soon as one share is; the commitment is what
//! will keep it uniform against a *malicious* server later (a peer cannot
//! choose its share after seeing ours: hiding by the 256-bit nonce, binding by
//! collision resistance).
//!
//! # Cost per toss
//!
//! 33 bytes (commit) + 65 bytes (reveal) each way, 196 bytes in total;
//! 2 rounds.

use mpc_core::codec::{CodecError, Limits, Message, Reader};
use mpc_core::prg::Seed;
use rand::CryptoRng;
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::{Finished, Traffic};
use crate::mpc::corr::Party;

#[cfg(test)]
mod tests;

/// Longest label.
pub const MAX_LABEL: usize = 256;
/// Communication rounds of one toss.
pub const ROUNDS: u64 = 2;

const COMMIT_LABEL: &[u8] = b"tandem/coin/commit/v1\0";
const SEED_LABEL: &[u8] = b"tandem/coin/seed/v1\0";

/// Errors of the coin toss.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CoinError {
    /// A peer message does not decode.
    #[error("coin: {0}")]
    Codec(#[from] CodecError),
    /// The peer's reveal does not open its commitment.
    #[error("coin: the peer's reveal does not match its commitment")]
    Mismatch,
    /// Label longer than [`MAX_LABEL`].
    #[error("coin: label of {len} bytes exceeds {MAX_LABEL}")]
    Label {
        /// Label length.
        len: usize,
    },
}

/// A commitment to a share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoinCommit {
    digest: [u8; 32],
}

/// The opening of a commitment: share and nonce. `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct CoinReveal {
    share: [u8; 32],
    nonce: [u8; 32],
}

impl core::fmt::Debug for CoinReveal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CoinReveal(<redacted>)")
    }
}

const TAG_COMMIT: u8 = 0x51;
const TAG_REVEAL: u8 = 0x52;

/// `tag ‖ digest (32 bytes)`.
impl Message for CoinCommit {
    const KIND: &'static str = "coin commit";

    fn encoded_len(&self) -> usize {
        33
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(TAG_COMMIT);
        out.extend_from_slice(&self.digest);
    }

    fn read(r: &mut Reader<'_>, _: &Limits) -> Result<Self, CodecError> {
        r.tag(TAG_COMMIT)?;
        r.expect_remaining(Some(32))?;
        let digest = r.array::<32>()?;
        Ok(CoinCommit { digest })
    }
}

/// `tag ‖ share (32 bytes) ‖ nonce (32 bytes)`.
impl Message for CoinReveal {
    const KIND: &'static str = "coin reveal";

    fn encoded_len(&self) -> usize {
        65
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(TAG_REVEAL);
        out.extend_from_slice(&self.share);
        out.extend_from_slice(&self.nonce);
    }

    fn read(r: &mut Reader<'_>, _: &Limits) -> Result<Self, CodecError> {
        r.tag(TAG_REVEAL)?;
        r.expect_remaining(Some(64))?;
        let share = r.array::<32>()?;
        let nonce = r.array::<32>()?;
        Ok(CoinReveal { share, nonce })
    }
}

fn put_label(h: &mut Sha256, label: &[u8]) {
    h.update((label.len() as u64).to_le_bytes());
    h.update(label);
}

fn party_tag(p: Party) -> u8 {
    match p {
        Party::A => b'A',
        Party::B => b'B',
    }
}

fn commitment(label: &[u8], party: Party, reveal: &CoinReveal) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(COMMIT_LABEL);
    put_label(&mut h, label);
    h.update([party_tag(party)]);
    h.update(reveal.nonce);
    h.update(reveal.share);
    h.finalize().into()
}

/// Constant-time equality of two digests.
fn digest_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A coin toss after sending the commitment, waiting for the peer's.
pub struct CoinToss {
    party: Party,
    label: Vec<u8>,
    own: CoinReveal,
    traffic: Traffic,
}

impl core::fmt::Debug for CoinToss {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CoinToss")
            .field("party", &self.party)
            .field("label_len", &self.label.len())
            .finish_non_exhaustive()
    }
}

/// A coin toss after revealing, waiting for the peer's reveal.
pub struct CoinRevealed {
    party: Party,
    label: Vec<u8>,
    own: CoinReveal,
    peer_commit: CoinCommit,
    traffic: Traffic,
}

impl core::fmt::Debug for CoinRevealed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CoinRevealed")
            .field("party", &self.party)
            .field("label_len", &self.label.len())
            .finish_non_exhaustive()
    }
}

impl CoinToss {
    /// Starts a toss under `label`: draws a share and nonce, returns the
    /// state and the commitment for the peer.
    pub fn start<R: CryptoRng + ?Sized>(
        party: Party,
        label: &[u8],
        rng: &mut R,
    ) -> Result<(CoinToss, CoinCommit), CoinError> {
        if label.len() > MAX_LABEL {
            return Err(CoinError::Label { len: label.len() });
        }
        let mut own = CoinReveal {
            share: [0; 32],
            nonce: [0; 32],
        };
        rng.fill_bytes(&mut own.share);
        rng.fill_bytes(&mut own.nonce);
        let msg = CoinCommit {
            digest: commitment(label, party, &own),
        };
        let mut traffic = Traffic {
            rounds: ROUNDS,
            ..Traffic::default()
        };
        traffic.sent(msg.encoded_len());
        Ok((
            CoinToss {
                party,
                label: label.to_vec(),
                own,
                traffic,
            },
            msg,
        ))
    }

    /// Records the peer's commitment and returns this party's reveal. Only
    /// call after the peer's commitment has arrived (the type enforces it).
    pub fn reveal(self, peer: &CoinCommit) -> (CoinRevealed, CoinReveal) {
        let mut traffic = self.traffic;
        traffic.received(peer.encoded_len());
        traffic.sent(self.own.encoded_len());
        let out = self.own.clone();
        (
            CoinRevealed {
                party: self.party,
                label: self.label,
                own: self.own,
                peer_commit: peer.clone(),
                traffic,
            },
            out,
        )
    }
}

impl CoinRevealed {
    /// Checks the peer's reveal against its commitment and outputs the seed.
    pub fn finish(self, peer: &CoinReveal) -> Result<Finished<Seed>, CoinError> {
        let expect = commitment(&self.label, self.party.other(), peer);
        if !digest_eq(&expect, &self.peer_commit.digest) {
            return Err(CoinError::Mismatch);
        }
        let (sa, sb) = match self.party {
            Party::A => (&self.own.share, &peer.share),
            Party::B => (&peer.share, &self.own.share),
        };
        let mut h = Sha256::new();
        h.update(SEED_LABEL);
        put_label(&mut h, &self.label);
        h.update(sa);
        h.update(sb);
        let seed = Seed(h.finalize().into());
        let mut traffic = self.traffic;
        traffic.received(peer.encoded_len());
        Ok(Finished {
            output: seed,
            traffic,
        })
    }
}
