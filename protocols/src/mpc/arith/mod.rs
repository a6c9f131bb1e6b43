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
//! and on the other side calls `Msg::decode(&bytes)` (the codec's rules,
//! [`mpc_core::codec`]: tag, exact length, canonical field elements, sorted
//! lists) before handing the typed message to the state machine (semantic
//! validation: counts against the batch size). Every message implements
//! [`Message`](mpc_core::codec::Message) (so it has an exact
//! `encoded_len`); every finished protocol reports its [`Traffic`] (bytes
//! and messages each way, rounds).
//!
//! Layouts: a one-byte tag, `u32` little-endian counts, then fixed-size
//! entries (field elements as 8-byte little-endian canonical values, `u32`
//! words little-endian).
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

pub mod coin;
pub mod mult;
pub mod ot;
pub mod triples;

use core::fmt;

use mpc_core::field::Fp;
use rand::CryptoRng;

/// Traffic of one protocol instance (the codec's counter, with `rounds`).
pub use mpc_core::codec::Traffic;

/// Largest number of operations in one batch (one message), so every count
/// fits the `u32` header and no product of sizes overflows.
pub const MAX_BATCH: usize = 1 << 24;

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
