//! Arithmetic between the servers over F = Goldilocks, built from OT
//! correlations the servers make themselves (no dealer), and joint coins.
//!
//! | protocol | folder | OTs / op | bytes / op (both directions) | rounds / batch |
//! |---|---|---|---|---|
//! | Beaver triple over F (two Gilboa OLEs) | [`triples`] | 128 ROT (64 each direction) | 1024 | 1 |
//! | multiplication of shared scalars | [`mult`] | — (1 triple) | 32 | 1 |
//! | joint coin (32-byte seed) | [`coin`] | — | 196 per toss | 2 |
//!
//! (Triple and multiplication messages also carry a 9- resp. 5-byte header,
//! once per batch; the coin's 196 bytes include its tags. The OT
//! extension itself adds ≈ 16 bytes per ROT from the IKNP receiver to the
//! sender, not counted above.) Bit conversions and comparisons (B2A, bit ×
//! value, DReLU, …) are in [`super::compare`].
//!
//! # Shape
//!
//! Every protocol is a sans-io state machine: inputs, OT correlations and an
//! RNG go in, typed messages come out, typed messages go in, shares come out.
//! Nothing here does I/O or reads a clock. A driver moves messages between the
//! two parties: it calls `encode()` on an outgoing message, ships the bytes,
//! and on the other side calls `Msg::decode(&bytes)` (structural validation:
//! tag, exact length, canonical field elements) before
//! handing the typed message to the state machine (semantic validation:
//! counts against the batch size). Every message exposes
//! [`ArithMessage::encoded_len`]; every finished protocol reports its
//! [`Traffic`] (bytes and messages each way, rounds).
//!
//! # OT correlations (integration seam)
//!
//! Protocols consume *random* OTs with random receiver choices, the IKNP
//! output of [`mpc_core::ot`] ([`ot::RotSenderOutput`],
//! [`ot::RotReceiverOutput`], from `IknpReceiver::extend_rot` /
//! `IknpSender::receive_rot`), one struct per protocol instance, taken by
//! value so a correlation can never be used twice. See [`ot`] for directions
//! and splitting.
//!
//! # Security
//!
//! Semi-honest, two non-colluding servers. Each module documents what each
//! party sees and why that view is simulatable. Share vectors and OT blocks are
//! never printed: the `Debug` impls here show lengths only, and errors report
//! structure (counts, indices, tags), never values.

pub mod codec;
pub mod coin;
pub mod mult;
pub mod ot;
pub mod triples;

use core::fmt;
use core::ops::AddAssign;

use mpc_core::field::Fp;
use rand::CryptoRng;

pub use codec::{ArithMessage, CodecError};

/// Largest number of operations in one batch (one message), so every count
/// fits the `u32` header and no product of sizes overflows.
pub const MAX_BATCH: usize = 1 << 24;

/// Traffic of one protocol instance, from one party's point of view.
///
/// Bytes are the exact encoded sizes of the typed messages
/// ([`ArithMessage::encoded_len`]); framing added by the transport is not
/// included. `rounds` is the number of sequential communication steps of the
/// protocol (a simultaneous exchange counts once), the same for both parties.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes this party sent.
    pub bytes_sent: u64,
    /// Bytes this party received.
    pub bytes_received: u64,
    /// Messages this party sent.
    pub messages_sent: u64,
    /// Messages this party received.
    pub messages_received: u64,
    /// Communication rounds.
    pub rounds: u64,
}

impl Traffic {
    /// Bytes in both directions.
    pub fn total_bytes(&self) -> u64 {
        self.bytes_sent + self.bytes_received
    }

    pub(crate) fn sent(&mut self, len: usize) {
        self.bytes_sent += len as u64;
        self.messages_sent += 1;
    }

    pub(crate) fn received(&mut self, len: usize) {
        self.bytes_received += len as u64;
        self.messages_received += 1;
    }
}

impl AddAssign for Traffic {
    fn add_assign(&mut self, rhs: Traffic) {
        self.bytes_sent += rhs.bytes_sent;
        self.bytes_received += rhs.bytes_received;
        self.messages_sent += rhs.messages_sent;
        self.messages_received += rhs.messages_received;
        self.rounds += rhs.rounds;
    }
}

/// The result of a finished protocol instance: this party's output and the
/// traffic it took. `Debug` shows the traffic only (outputs are secret shares).
pub struct Finished<T> {
    /// This party's output (shares).
    pub output: T,
    /// Traffic of the instance.
    pub traffic: Traffic,
}

impl<T> fmt::Debug for Finished<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Finished")
            .field("output", &"<redacted>")
            .field("traffic", &self.traffic)
            .finish()
    }
}

/// A uniformly random field element: rejection sampling of 64-bit words
/// (a word ≥ p, probability ≈ 2^-32, is discarded).
pub(crate) fn random_fp<R: CryptoRng + ?Sized>(rng: &mut R) -> Fp {
    loop {
        if let Some(x) = Fp::from_canonical(rng.next_u64()) {
            return x;
        }
    }
}

/// `x` if `bit`, else zero, without a data-dependent branch.
#[inline]
pub(crate) fn select(bit: bool, x: Fp) -> Fp {
    let mask = 0u64.wrapping_sub(u64::from(bit));
    // x & mask is either x (canonical) or 0: no reduction happens.
    Fp::reduce_u64(x.value() & mask)
}

#[cfg(test)]
pub(crate) mod test_util;
#[cfg(test)]
mod tests;
