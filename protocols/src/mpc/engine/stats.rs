//! Traffic accounting: [`EngineStats`] (bytes and messages per protocol, OTs
//! extended and consumed, operations per job kind) and the outbox, through
//! which every message for the peer passes so it is counted exactly once.

use mpc_core::codec::{Message, Traffic};

use super::msg::{EngineMsg, Protocol};

/// Bytes and messages of one party, per protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Base OTs (IKNP setup), both directions.
    pub base_ot: Traffic,
    /// IKNP extension batches, both directions.
    pub iknp: Traffic,
    /// Triple generation.
    pub triples: Traffic,
    /// Multiplications.
    pub mult: Traffic,
    /// DReLUs.
    pub drelu: Traffic,
    /// ReLUs (gated values).
    pub relu: Traffic,
    /// B2A conversions.
    pub b2a: Traffic,
    /// Secure counts.
    pub count: Traffic,
    /// Coin tosses.
    pub coin: Traffic,
    /// Self-test control and opening, aborts.
    pub control: Traffic,
    /// OTs extended with this party as the IKNP receiver.
    pub ots_as_receiver: u64,
    /// OTs extended with this party as the IKNP sender.
    pub ots_as_sender: u64,
    /// OTs (both directions) consumed by DReLU instances.
    pub drelu_rots: u64,
    /// OTs (both directions) consumed by triple generation.
    pub triple_rots: u64,
    /// OTs (both directions) consumed by ReLU instances.
    pub relu_rots: u64,
    /// OTs (both directions) consumed by B2A instances.
    pub b2a_rots: u64,
    /// OTs (both directions) consumed by secure counts.
    pub count_rots: u64,
    /// ReLU values computed.
    pub relu_ops: u64,
    /// Bits converted by B2A.
    pub b2a_ops: u64,
    /// Secure counts run.
    pub count_ops: u64,
    /// Coins tossed.
    pub coins: u64,
    /// DReLU values computed.
    pub drelu_ops: u64,
    /// Products computed.
    pub mult_ops: u64,
    /// Triples generated (after rejections, including unused margin).
    pub triples_made: u64,
}

impl EngineStats {
    fn entry(&mut self, p: Protocol) -> &mut Traffic {
        match p {
            Protocol::BaseOt => &mut self.base_ot,
            Protocol::Iknp => &mut self.iknp,
            Protocol::Triples => &mut self.triples,
            Protocol::Mult => &mut self.mult,
            Protocol::Drelu => &mut self.drelu,
            Protocol::Relu => &mut self.relu,
            Protocol::B2a => &mut self.b2a,
            Protocol::Count => &mut self.count,
            Protocol::Coin => &mut self.coin,
            Protocol::Control => &mut self.control,
        }
    }

    /// All traffic.
    pub fn total(&self) -> Traffic {
        let mut t = Traffic::default();
        for x in [
            self.base_ot,
            self.iknp,
            self.triples,
            self.mult,
            self.drelu,
            self.relu,
            self.b2a,
            self.count,
            self.coin,
            self.control,
        ] {
            t += x;
        }
        t
    }

    /// OTs extended in both directions.
    pub fn ots_extended(&self) -> u64 {
        self.ots_as_receiver + self.ots_as_sender
    }

    /// Measured IKNP bytes per extended OT (both directions).
    pub fn iknp_bytes_per_ot(&self) -> f64 {
        match self.ots_extended() {
            0 => 0.0,
            n => self.iknp.total_bytes() as f64 / n as f64,
        }
    }

    /// Bytes exchanged per DReLU: its messages plus its OTs' share of the
    /// IKNP traffic (base-OT setup not included: it is shared by every job).
    pub fn bytes_per_drelu(&self) -> Option<f64> {
        (self.drelu_ops > 0).then(|| {
            (self.drelu.total_bytes() as f64 + self.drelu_rots as f64 * self.iknp_bytes_per_ot())
                / self.drelu_ops as f64
        })
    }

    /// Bytes exchanged per ReLU value: its messages plus its OTs' share of
    /// the IKNP traffic.
    pub fn bytes_per_relu(&self) -> Option<f64> {
        (self.relu_ops > 0).then(|| {
            (self.relu.total_bytes() as f64 + self.relu_rots as f64 * self.iknp_bytes_per_ot())
                / self.relu_ops as f64
        })
    }

    /// Bytes exchanged per multiplication: its messages, the triple
    /// messages, and the triples' OTs' share of the IKNP traffic.
    pub fn bytes_per_mult(&self) -> Option<f64> {
        (self.mult_ops > 0).then(|| {
            (self.mult.total_bytes() as f64
                + self.triples.total_bytes() as f64
                + self.triple_rots as f64 * self.iknp_bytes_per_ot())
                / self.mult_ops as f64
        })
    }
}

/// Messages for the peer, in order, and the counters they are charged to.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    /// Messages not yet handed to the shell.
    pub(super) msgs: Vec<EngineMsg>,
    /// Every message sent or received, counted when it passes.
    pub(super) stats: EngineStats,
}

impl Outbox {
    /// Queues a message for the peer (counted as sent).
    pub(super) fn send(&mut self, msg: EngineMsg) {
        self.stats.entry(msg.protocol()).sent(msg.encoded_len());
        self.msgs.push(msg);
    }

    /// Queues a message ahead of everything queued so far (the hello).
    pub(super) fn send_first(&mut self, msg: EngineMsg) {
        self.stats.entry(msg.protocol()).sent(msg.encoded_len());
        self.msgs.insert(0, msg);
    }

    /// Counts a message from the peer.
    pub(super) fn received(&mut self, msg: &EngineMsg) {
        self.stats.entry(msg.protocol()).received(msg.encoded_len());
    }

    /// Everything queued so far.
    pub(super) fn take(&mut self) -> Vec<EngineMsg> {
        std::mem::take(&mut self.msgs)
    }
}
