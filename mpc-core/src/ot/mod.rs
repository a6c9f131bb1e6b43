//! Oblivious transfer between the two servers, with no trusted dealer
//! (docs/PROTOCOL.md §6): Chou–Orlandi base OTs on Ristretto ([`base`]), IKNP OT
//! extension ([`iknp`]) with a fixed-key-AES correlation-robust hash
//! ([`block::Crhf`]), and the bit-matrix transpose it rests on ([`transpose`]).
//!
//! Everything here is sans-io: state machines take randomness (an
//! `&mut impl rand::CryptoRng`) and decoded messages, and return messages and
//! outputs. Messages are typed structs implementing the codec's
//! [`Message`](crate::codec::Message) (`encode` / `decode`, `encoded_len`;
//! plus `into_bytes` / `from_vec` for the bulk IKNP message, without a
//! copy); decoding checks tags, sizes, counts and group elements and fails
//! with a [`CodecError`](crate::codec::CodecError); protocol errors are
//! per-protocol `thiserror` enums. No error carries a secret value. Both
//! sessions count their [`Traffic`](crate::codec::Traffic).
//!
//! # Driving a session (message by message)
//!
//! R = extension receiver, S = extension sender (S holds Δ).
//!
//! ```text
//! R: let (setup, m1) = IknpReceiver::setup(rng, sid)?;      R → S: m1 (BaseOtSenderMsg, 33 B)
//! S: let (s, m2)     = IknpSender::setup(rng, sid, &m1)?;   S → R: m2 (BaseOtReceiverMsg, 4101 B)
//! R: let mut r       = setup.finish(&m2)?;
//! // any number of batches, in the same order on both sides:
//! R: let (out_r, u)  = r.extend_rot(rng, m)?;                R → S: u (ExtendMsg, 17 + 16·⌈m/128⌉·128 B)
//! S: let out_s       = s.receive_rot(&u, m)?;
//! ```
//!
//! See [`iknp`] for the unhashed correlated OT (`extend_cot` / `receive_cot`).

pub mod base;
pub mod block;
pub mod iknp;
pub mod transpose;

use core::fmt;

use zeroize::Zeroize;

pub use base::{BaseOtError, SessionId};
/// A 128-bit block (`u128`): OT keys, messages, correlations.
pub use block::Block;
pub use block::{AesPrg, Crhf};
pub use iknp::{ExtendMsg, IknpError, IknpReceiver, IknpReceiverSetup, IknpSender};

/// Correlated-OT output of the sender: `t_i = q_i ⊕ (r_i · Δ)` on the receiver's side.
#[derive(Clone, Default)]
pub struct CotSenderOutput {
    /// The global correlation Δ (the same for every OT of a session).
    pub delta: Block,
    /// `q_i`, one per OT.
    pub q: Vec<Block>,
}

/// Correlated-OT output of the receiver.
#[derive(Clone, Default)]
pub struct CotReceiverOutput {
    /// The choice bits `r_i`.
    pub choices: Vec<bool>,
    /// `t_i = q_i ⊕ (r_i · Δ)`.
    pub t: Vec<Block>,
}

/// Random-OT output of the sender: two random messages per OT.
#[derive(Clone, Default)]
pub struct RotSenderOutput {
    /// `m0_i`.
    pub m0: Vec<Block>,
    /// `m1_i`.
    pub m1: Vec<Block>,
}

/// Random-OT output of the receiver: `mc_i = m{choices_i}_i`.
#[derive(Clone, Default)]
pub struct RotReceiverOutput {
    /// The choice bits.
    pub choices: Vec<bool>,
    /// The chosen messages.
    pub mc: Vec<Block>,
}

macro_rules! redacted_debug {
    ($ty:ident, $len:ident) => {
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("len", &self.$len.len())
                    .finish_non_exhaustive()
            }
        }
    };
}

redacted_debug!(CotSenderOutput, q);
redacted_debug!(CotReceiverOutput, t);
redacted_debug!(RotSenderOutput, m0);
redacted_debug!(RotReceiverOutput, mc);

// `Zeroize` without `Drop`, so that callers can still move the fields out;
// call `.zeroize()` when an output is no longer needed.
impl Zeroize for CotSenderOutput {
    fn zeroize(&mut self) {
        self.delta.zeroize();
        self.q.zeroize();
    }
}

impl Zeroize for CotReceiverOutput {
    fn zeroize(&mut self) {
        self.choices.zeroize();
        self.t.zeroize();
    }
}

impl Zeroize for RotSenderOutput {
    fn zeroize(&mut self) {
        self.m0.zeroize();
        self.m1.zeroize();
    }
}

impl Zeroize for RotReceiverOutput {
    fn zeroize(&mut self) {
        self.choices.zeroize();
        self.mc.zeroize();
    }
}

impl CotSenderOutput {
    /// Number of OTs.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// No OTs.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
}

impl CotReceiverOutput {
    /// Number of OTs.
    pub fn len(&self) -> usize {
        self.t.len()
    }

    /// No OTs.
    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }
}

impl RotSenderOutput {
    /// Number of OTs.
    pub fn len(&self) -> usize {
        self.m0.len()
    }

    /// No OTs.
    pub fn is_empty(&self) -> bool {
        self.m0.is_empty()
    }
}

impl RotReceiverOutput {
    /// Number of OTs.
    pub fn len(&self) -> usize {
        self.mc.len()
    }

    /// No OTs.
    pub fn is_empty(&self) -> bool {
        self.mc.is_empty()
    }
}
