//! Boolean AND triples from random OTs: two ROTs per triple, no messages.
//!
//! `c = (a_A ⊕ a_B)(b_A ⊕ b_B) = a_A b_A ⊕ a_B b_B ⊕ a_A b_B ⊕ a_B b_A`. Each
//! cross term comes from one random OT, read at one bit (the least
//! significant) of each block:
//!
//! - OT where P is the **sender** with bits `m0, m1`: P sets `a_P = m0 ⊕ m1`
//!   and `u_P = m0`;
//! - OT where P is the **receiver** with random choice `r` and bit `m_r`: P
//!   sets `b_P = r` and `v_P = m_r`.
//!
//! Since `m_r = m0 ⊕ r·(m0 ⊕ m1)`, the sender's `u` and the receiver's `v`
//! satisfy `u_P ⊕ v_Q = a_P · b_Q`. Each party outputs
//! `c_P = a_P b_P ⊕ u_P ⊕ v_P`; XORing both gives `a·b`.
//!
//! # Messages
//!
//! None: the random OTs already are the correlation (Gilboa's idea in the
//! Boolean case, as in ABY / "More efficient OT extensions", ALSZ13).
//!
//! # What each party sees; simulation (semi-honest)
//!
//! Only its own OT outputs. `b_Q = r` is hidden from the sender by OT
//! security, and `a_P = m0 ⊕ m1` involves the block the receiver did not
//! choose, pseudorandom to it; so each party's shares are uniform and
//! independent of the peer's, as in the ideal AND-triple functionality.
//!
//! # Cost per triple
//!
//! 2 random OTs (one in each direction); 0 bytes; 0 rounds beyond the OT
//! extension.

use thiserror::Error;

use super::ot::{
    OtShapeError, RotReceiverOutput, RotSenderOutput, rot_receiver_len, rot_sender_len,
};
use super::{Finished, Traffic};
use crate::mpc::corr::AndTriple;

#[cfg(test)]
mod tests;

/// Random OTs per AND triple in each direction.
pub const OTS_PER_TRIPLE: usize = 1;

/// Errors of AND-triple generation.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum AndTripleError {
    /// The OT batches do not fit.
    #[error("AND triples: {0}")]
    Ots(#[from] OtShapeError),
    /// The two OT batches have different sizes.
    #[error("AND triples: {sender} sender OTs but {receiver} receiver OTs")]
    Mismatch {
        /// OTs where this party is the sender.
        sender: usize,
        /// OTs where this party is the receiver.
        receiver: usize,
    },
}

/// This party's shares of `n` AND triples, where `n` is the size of both OT
/// batches: `sender_ots` (this party as OT sender) and `receiver_ots` (this
/// party as OT receiver); the peer holds the other ends. Both parties call it.
pub fn and_triples(
    sender_ots: RotSenderOutput,
    receiver_ots: RotReceiverOutput,
) -> Result<Finished<Vec<AndTriple>>, AndTripleError> {
    let sender = rot_sender_len(&sender_ots)?;
    let receiver = rot_receiver_len(&receiver_ots)?;
    if sender != receiver {
        return Err(AndTripleError::Mismatch { sender, receiver });
    }
    let lsb = |b: u128| b & 1 == 1;
    let triples = sender_ots
        .m0
        .iter()
        .zip(&sender_ots.m1)
        .zip(receiver_ots.choices.iter().zip(&receiver_ots.mc))
        .map(|((&m0, &m1), (&r, &mr))| {
            let a = lsb(m0) ^ lsb(m1);
            let u = lsb(m0);
            let (b, v) = (r, lsb(mr));
            AndTriple {
                a,
                b,
                c: (a & b) ^ u ^ v,
            }
        })
        .collect();
    Ok(Finished {
        output: triples,
        traffic: Traffic::default(),
    })
}
