//! The OT pools: both IKNP directions (base OTs, then extension batches)
//! and the unused random OTs they produced, which instances take from the
//! front in instance order (see the module docs of the engine for why both
//! parties' pools stay aligned and how far the peer may fill ours).

use mpc_core::ot::base::{BaseOtReceiverMsg, BaseOtSenderMsg};
use mpc_core::ot::{ExtendMsg, IknpReceiver, IknpReceiverSetup, IknpSender, SessionId};
use rand_chacha::ChaCha12Rng;
use zeroize::Zeroize;

use super::EngineError;
use super::stats::EngineStats;
use crate::mpc::compare::{RotDemand, Rots};
use crate::mpc::corr::Party;

const SID_LABEL: &[u8] = b"tandem/engine/v2/iknp/";

/// The IKNP session id of the direction in which `receiver` receives,
/// bound to both engines' nonces (A's first).
pub(super) fn sid(receiver: Party, nonce_a: &[u8; 32], nonce_b: &[u8; 32]) -> SessionId {
    let mut label = SID_LABEL.to_vec();
    label.push(match receiver {
        Party::A => b'A',
        Party::B => b'B',
    });
    label.extend_from_slice(nonce_a);
    label.extend_from_slice(nonce_b);
    SessionId::from_label(&label)
}

/// Both IKNP directions of one party and its pools of unused OTs. `kind`
/// arguments name the peer message being handled, for errors.
#[derive(Default)]
pub(super) struct Ots {
    /// This party's receiving direction, before the peer's base-OT answer.
    setup: Option<IknpReceiverSetup>,
    /// This party's receiving direction, ready to extend.
    pub(super) receiver: Option<IknpReceiver>,
    /// The peer's receiving direction (this party holds Δ).
    sender: Option<IknpSender>,
    /// Unused OTs: `sent` from the peer's direction, `received` from ours.
    pub(super) pool: Rots,
}

impl Ots {
    /// Opens this party's receiving direction: the base-OT message for the peer.
    pub(super) fn open(
        &mut self,
        rng: &mut ChaCha12Rng,
        sid: SessionId,
    ) -> Result<BaseOtSenderMsg, EngineError> {
        let (setup, msg) = IknpReceiver::setup(rng, sid)?;
        self.setup = Some(setup);
        Ok(msg)
    }

    /// Answers the peer's base-OT message, which sets up its direction.
    pub(super) fn answer(
        &mut self,
        kind: &'static str,
        rng: &mut ChaCha12Rng,
        sid: SessionId,
        msg: &BaseOtSenderMsg,
    ) -> Result<BaseOtReceiverMsg, EngineError> {
        if self.sender.is_some() {
            return Err(EngineError::Unexpected {
                got: kind,
                why: "the peer's direction is already set up",
            });
        }
        let (sender, reply) = IknpSender::setup(rng, sid, msg)?;
        self.sender = Some(sender);
        Ok(reply)
    }

    /// Finishes this party's receiving direction with the peer's answer.
    pub(super) fn finish(
        &mut self,
        kind: &'static str,
        msg: &BaseOtReceiverMsg,
    ) -> Result<(), EngineError> {
        let Some(setup) = self.setup.take() else {
            return Err(EngineError::Unexpected {
                got: kind,
                why: "this party's direction is not waiting for base OTs",
            });
        };
        self.receiver = Some(setup.finish(msg)?);
        Ok(())
    }

    /// Appends one of the peer's IKNP batches to the pool of its direction:
    /// at most `max_extend` OTs, and the pool at most `allowed` OTs after it.
    /// The pool is sized for `allowed` at once, so later batches do not
    /// reallocate it.
    pub(super) fn accept(
        &mut self,
        kind: &'static str,
        msg: &ExtendMsg,
        allowed: usize,
        max_extend: usize,
        stats: &mut EngineStats,
    ) -> Result<(), EngineError> {
        let Some(sender) = self.sender.as_mut() else {
            return Err(EngineError::Unexpected {
                got: kind,
                why: "the peer's direction is not set up",
            });
        };
        let count = msg.count();
        let pool = self.pool.sent.m0.len();
        if count > max_extend || pool.saturating_add(count) > allowed {
            return Err(EngineError::ExtendLimit {
                count,
                pool,
                allowed,
            });
        }
        let mut out = sender.receive_rot(msg, count)?;
        // Room for everything the announced jobs still need, at once.
        let room = allowed.saturating_sub(pool).max(count);
        reserve_zeroizing(&mut self.pool.sent.m0, room);
        reserve_zeroizing(&mut self.pool.sent.m1, room);
        self.pool.sent.m0.extend_from_slice(&out.m0);
        self.pool.sent.m1.extend_from_slice(&out.m1);
        out.zeroize();
        stats.ots_as_sender += count as u64;
        Ok(())
    }

    /// OTs this party must still extend in its direction to hold `need`,
    /// rounded up to whole IKNP blocks (0 before its direction is ready);
    /// the pool is sized for them at once.
    pub(super) fn deficit(&mut self, need: usize) -> usize {
        let have = self.pool.received.mc.len();
        if self.receiver.is_none() || need <= have {
            return 0;
        }
        let deficit = (need - have).next_multiple_of(128);
        reserve_zeroizing(&mut self.pool.received.choices, deficit);
        reserve_zeroizing(&mut self.pool.received.mc, deficit);
        deficit
    }

    /// Extends this party's direction by one batch of `count` OTs into the
    /// pool; the batch message is for the peer.
    pub(super) fn extend(
        &mut self,
        rng: &mut ChaCha12Rng,
        count: usize,
        stats: &mut EngineStats,
    ) -> Result<Option<ExtendMsg>, EngineError> {
        let Some(receiver) = self.receiver.as_mut() else {
            return Ok(None);
        };
        let (mut out, msg) = receiver.extend_rot(rng, count)?;
        self.pool.received.choices.extend_from_slice(&out.choices);
        self.pool.received.mc.extend_from_slice(&out.mc);
        out.zeroize();
        stats.ots_as_receiver += count as u64;
        Ok(Some(msg))
    }

    /// The front `demand` of both pools, if both hold it.
    pub(super) fn take(
        &mut self,
        party: Party,
        demand: RotDemand,
    ) -> Result<Option<Rots>, EngineError> {
        let (s, r) = demand.for_party(party);
        let (have_s, have_r) = self.pooled();
        if have_s < s || have_r < r {
            return Ok(None);
        }
        Ok(Some(self.pool.take_front(party, demand)?))
    }

    /// Unused OTs: `(as sender, as receiver)`.
    pub(super) fn pooled(&self) -> (usize, usize) {
        (self.pool.sent.m0.len(), self.pool.received.mc.len())
    }
}

/// Makes room for `additional` entries without a reallocation that would
/// leave a copy of the pool in freed memory: a larger buffer is allocated,
/// the entries are copied over, and the old buffer is wiped.
fn reserve_zeroizing<T: Copy + Zeroize>(v: &mut Vec<T>, additional: usize) {
    if v.capacity() - v.len() >= additional {
        return;
    }
    let mut grown = Vec::with_capacity(v.len().saturating_add(additional));
    grown.extend_from_slice(v);
    v.zeroize();
    *v = grown;
}
