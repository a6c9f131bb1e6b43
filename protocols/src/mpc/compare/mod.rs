//! Secure comparison between the servers: millionaires, DReLU over the field,
//! comparison with a public threshold, bit × value (and B2A), ReLU, and a
//! secure count. Semi-honest, two non-colluding servers, no dealer: the only
//! correlated randomness consumed is **random OT** from the OT layer
//! ([`rots`]).
//!
//! Measured with [`Cost`] on batches of 1000 (the tests print them):
//!
//! | protocol | folder | computes | ROTs per op (A recv + B recv) | message B/op | B/op incl. 16 B per ROT | messages |
//! |---|---|---|---|---|---|---|
//! | millionaires, 64-bit, m = 4 | [`millionaire`] | XOR shares of `[x < y]` (x at A, y at B) | 79 + 15 | 80.3 | 1584 | 6 |
//! | DReLU, `v ∈ [−2^40, 2^40)`, m = 5 | [`drelu`] | XOR shares of `[v ≥ 0]`, v field-shared | 48 + 7 | 129.7 | **1010** | 5 |
//! | public threshold | [`drelu`] | XOR shares of `[v ⋈ T]`, ⋈ ∈ {≥, >, ≤, <} | as DReLU | as DReLU | as DReLU | 5 |
//! | bit × value | [`mux`] | additive shares of `d·v` (d XOR-, v additively shared) | 1 + 1 | 16.25 | 48.25 | 3 |
//! | B2A | [`mux`] | additive shares of a XOR-shared bit | 1 + 0 | 8.13 | 24.13 | 2 |
//! | ReLU (40-bit) | [`relu`] | additive shares of `[v ≥ 0]·v` (and XOR shares of the gate bit) | 49 + 8 | 145.9 | 1058 | 8 |
//! | count, n = 100, k = 3 | [`count`] | the public bit `[Σ b_i ≥ k]` | 110 in all | 876 in all | 2636 in all | 7 |
//!
//! One DReLU on 40-bit values costs 55 random OTs (880 B of IKNP traffic at
//! 16 B per OT) and 129.7 B of protocol messages: **≈ 1.01 KB**, against a
//! 2 KB target (1041 B for a batch of one, headers included). See
//! [`drelu`] for why one 40-bit comparison with a selector suffices.
//! Every message also carries 1–2 tag bytes and 4 bytes per section, once per
//! batch; [`Cost`] gives exact numbers for any batch size.
//!
//! # Driving a protocol
//!
//! Every protocol is a sans-io ping-pong state machine implementing
//! [`PingPong`]: both parties construct their side with their inputs and
//! their [`rots::Rots`] (exactly [`rots::RotDemand`] OTs, the same OT indices
//! on both sides), then
//!
//! ```text
//! let mut out = party.start(&mut rng)?;            // Some(msg) for the party that speaks first
//! loop {
//!     if let Some(m) = out { send(m.encode()); }
//!     if party.is_done() { break; }
//!     let bytes = recv();
//!     out = party.receive_bytes(&bytes, &mut rng)?; // decode (structural) + receive (semantic)
//! }
//! let Finished { output, traffic } = party.finish()?;
//! ```
//!
//! Exactly one message is in flight at any time; after `receive` a party
//! either answers (`Some`) or is done. A party can be done right after
//! *sending* its last message, so check `is_done` after sending. Any error
//! poisons the instance; later calls return an error, never panic.
//!
//! # Security conventions
//!
//! Shares, OT blocks and masked tables never appear in `Debug` output (sizes
//! only) or in errors (kinds and counts only). Each module documents what each
//! party sees and why that view is simulatable.

pub mod bits;
pub mod codec;
pub mod count;
pub mod drelu;
pub mod millionaire;
pub mod mux;
pub mod relu;
pub mod rots;

#[cfg(test)]
pub(crate) mod test_util;

use mpc_core::codec::{CodecError, Message};
use rand::CryptoRng;

pub use crate::mpc::arith::{Finished, Traffic};
pub use rots::{IKNP_BYTES_PER_OT, RotDemand, RotShapeError, Rots};

use crate::mpc::corr::Party;

/// Largest number of bits in one message section; constructors reject batches
/// whose messages would exceed it (so every count fits the `u32` header).
pub const MAX_SECTION_BITS: usize = u32::MAX as usize;

/// A comparison relation `lhs ⋈ rhs`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Relation {
    /// `lhs < rhs`.
    Lt,
    /// `lhs ≤ rhs`.
    Le,
    /// `lhs > rhs`.
    Gt,
    /// `lhs ≥ rhs`.
    #[default]
    Ge,
}

impl Relation {
    /// The plaintext relation on integers.
    pub fn holds<T: Ord>(self, lhs: T, rhs: T) -> bool {
        match self {
            Relation::Lt => lhs < rhs,
            Relation::Le => lhs <= rhs,
            Relation::Gt => lhs > rhs,
            Relation::Ge => lhs >= rhs,
        }
    }
}

/// A sans-io two-party protocol in which exactly one message is in flight at
/// a time.
pub trait PingPong {
    /// The protocol's messages.
    type Msg: Message;
    /// This party's output when done.
    type Output;
    /// The protocol's errors.
    type Error: From<CodecError> + std::error::Error;

    /// Which server this side is.
    fn party(&self) -> Party;

    /// The first message, for the party that speaks first (`None` otherwise).
    fn start<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
    ) -> Result<Option<Self::Msg>, Self::Error>;

    /// Consumes the peer's message; returns the answer, if any.
    fn receive<R: CryptoRng + ?Sized>(
        &mut self,
        msg: Self::Msg,
        rng: &mut R,
    ) -> Result<Option<Self::Msg>, Self::Error>;

    /// [`Message::decode`] then [`PingPong::receive`]; a message that does not
    /// decode aborts the instance like any other error.
    fn receive_bytes<R: CryptoRng + ?Sized>(
        &mut self,
        bytes: &[u8],
        rng: &mut R,
    ) -> Result<Option<Self::Msg>, Self::Error> {
        match Self::Msg::decode(bytes) {
            Ok(msg) => self.receive(msg, rng),
            Err(e) => {
                self.abort();
                Err(e.into())
            }
        }
    }

    /// Abandons the instance (e.g. on a transport error): every later call
    /// returns an error. Errors returned by `start`/`receive` abort already.
    fn abort(&mut self);

    /// Whether this party has its output.
    fn is_done(&self) -> bool;

    /// Traffic so far.
    fn traffic(&self) -> Traffic;

    /// This party's output and traffic; an error if not done.
    fn finish(self) -> Result<Finished<Self::Output>, Self::Error>;
}

/// Exact cost of one protocol instance (a batch), for planning OT production
/// and for reporting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Random OTs consumed.
    pub rots: RotDemand,
    /// Messages exchanged (sequential: the protocol's round count).
    pub messages: u64,
    /// Encoded bytes A sends to B.
    pub bytes_a_to_b: u64,
    /// Encoded bytes B sends to A.
    pub bytes_b_to_a: u64,
}

impl Cost {
    /// Protocol message bytes, both directions.
    pub fn message_bytes(&self) -> u64 {
        self.bytes_a_to_b + self.bytes_b_to_a
    }

    /// Message bytes plus [`IKNP_BYTES_PER_OT`] per consumed OT.
    pub fn bytes_with_ots(&self) -> u64 {
        self.message_bytes() + self.rots.iknp_bytes() as u64
    }

    /// The cost of running `self` then `next`.
    pub fn then(self, next: Cost) -> Cost {
        Cost {
            rots: self.rots + next.rots,
            messages: self.messages + next.messages,
            bytes_a_to_b: self.bytes_a_to_b + next.bytes_a_to_b,
            bytes_b_to_a: self.bytes_b_to_a + next.bytes_b_to_a,
        }
    }

    pub(crate) fn add_message(&mut self, from: Party, bytes: usize) {
        self.messages += 1;
        match from {
            Party::A => self.bytes_a_to_b += bytes as u64,
            Party::B => self.bytes_b_to_a += bytes as u64,
        }
    }
}

/// Lifecycle shared by the state machines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    Done,
    Failed,
}
