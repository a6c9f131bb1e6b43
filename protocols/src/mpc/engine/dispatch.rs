//! Incoming messages: the session phases (hello, base OTs, extension
//! batches, self-test requests, job announcements, aborts) and the routing
//! of instance messages to their instances, buffering those that come
//! before their instance starts here.

use std::collections::BTreeMap;

use mpc_core::codec::Message;
use mpc_core::ot::SessionId;
use rand::Rng;
use sha2::{Digest, Sha256};

use super::jobs;
use super::msg::{EngineMsg, HelloMsg, JobKind, OpenMsg, SelfTestMsg};
use super::pool::sid;
use super::{
    COUNT_DIGIT_BITS, Engine, EngineConfig, EngineError, MAX_EARLY, MAX_EARLY_BYTES, Phase, Sink,
};
use crate::mpc::arith::triples::OTS_PER_TRIPLE;
use crate::mpc::corr::Party;

const SETTINGS_LABEL: &[u8] = b"tandem/engine/v2/settings";

/// SHA-256 of the protocol settings both parties must share.
fn settings_digest(config: &EngineConfig) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(SETTINGS_LABEL);
    for x in [
        u64::from(config.drelu.bound_bits),
        u64::from(config.drelu.digit_bits),
        config.triple_margin as u64,
        u64::from(COUNT_DIGIT_BITS),
        OTS_PER_TRIPLE as u64,
    ] {
        h.update(x.to_le_bytes());
    }
    h.finalize().into()
}

/// Peer messages for instances that have not started here yet, within
/// [`MAX_EARLY`] messages and [`MAX_EARLY_BYTES`] bytes.
#[derive(Default)]
pub(super) struct Early {
    msgs: BTreeMap<u32, Vec<EngineMsg>>,
    len: usize,
    bytes: usize,
}

impl Early {
    fn push(&mut self, instance: u32, msg: EngineMsg) -> Result<(), EngineError> {
        let bytes = msg.encoded_len();
        if self.len >= MAX_EARLY || self.bytes.saturating_add(bytes) > MAX_EARLY_BYTES {
            return Err(EngineError::TooManyEarly);
        }
        self.len += 1;
        self.bytes += bytes;
        self.msgs.entry(instance).or_default().push(msg);
        Ok(())
    }

    fn take(&mut self, instance: u32) -> Vec<EngineMsg> {
        let msgs = self.msgs.remove(&instance).unwrap_or_default();
        self.len = self.len.saturating_sub(msgs.len());
        let bytes: usize = msgs.iter().map(EngineMsg::encoded_len).sum();
        self.bytes = self.bytes.saturating_sub(bytes);
        msgs
    }

    pub(super) fn clear(&mut self) {
        *self = Early::default();
    }
}

impl Engine {
    pub(super) fn check_live(&self) -> Result<(), EngineError> {
        if self.phase == Phase::Failed {
            return Err(EngineError::Failed);
        }
        Ok(())
    }

    /// Poisons the engine on an error. Unless the error is the peer's abort
    /// (or the engine had failed already), the outbox then holds exactly one
    /// [`EngineMsg::Abort`] for the peer, so it fails fast instead of waiting.
    /// Queued and running jobs are dropped (their shares wipe themselves).
    pub(super) fn guard<T>(&mut self, r: Result<T, EngineError>) -> Result<T, EngineError> {
        if let Err(e) = &r {
            let tell_peer = self.phase != Phase::Failed
                && !matches!(e, EngineError::PeerAborted(_) | EngineError::Failed);
            self.phase = Phase::Failed;
            self.out.msgs.clear();
            self.waiting.clear();
            self.active.clear();
            self.early.clear();
            if tell_peer {
                self.out.send(EngineMsg::abort(&e.to_string()));
            }
        }
        r
    }

    /// Sends the hello (before anything queued by submissions); the base
    /// OTs follow when the peer's hello has arrived.
    pub(super) fn start_inner(&mut self) {
        self.phase = Phase::Running;
        self.rng.fill_bytes(&mut self.nonce);
        self.out.send_first(EngineMsg::Hello(HelloMsg {
            nonce: self.nonce,
            settings: settings_digest(&self.config),
        }));
    }

    /// Hands the queued messages to the sink (if any).
    pub(super) fn flush(&mut self, sink: &mut Sink<'_>) {
        if let Some(f) = sink.as_mut()
            && !self.out.msgs.is_empty()
        {
            f(self.out.take());
        }
    }

    pub(super) fn frame_inner(
        &mut self,
        bytes: &[u8],
        sink: &mut Sink<'_>,
    ) -> Result<(), EngineError> {
        self.check_live()?;
        let msg = EngineMsg::decode(bytes).map_err(EngineError::from);
        let msg = self.guard(msg)?;
        if self.phase == Phase::New {
            self.start_inner();
            self.flush(sink);
        }
        self.out.received(&msg);
        let r = self.handle_inner(msg);
        self.guard(r)?;
        self.flush(sink);
        let r = self.pump(sink);
        self.guard(r)
    }

    /// The IKNP session id of the direction in which `receiver` receives.
    fn session_id(&self, receiver: Party) -> Result<SessionId, EngineError> {
        let Some(peer) = self.peer_nonce.as_ref() else {
            return Err(EngineError::Unexpected {
                got: "base OT",
                why: "the peer's hello has not arrived",
            });
        };
        Ok(match self.party {
            Party::A => sid(receiver, &self.nonce, peer),
            Party::B => sid(receiver, peer, &self.nonce),
        })
    }

    #[cfg(test)]
    pub(super) fn session_ids(&self) -> Option<(SessionId, SessionId)> {
        Some((
            self.session_id(Party::A).ok()?,
            self.session_id(Party::B).ok()?,
        ))
    }

    /// Handles one decoded peer message (already counted).
    pub(super) fn handle_inner(&mut self, msg: EngineMsg) -> Result<(), EngineError> {
        let kind = msg.kind();
        if self.peer_nonce.is_none() && !matches!(msg, EngineMsg::Hello(_) | EngineMsg::Abort(_)) {
            return Err(EngineError::Unexpected {
                got: kind,
                why: "the peer's hello must come first",
            });
        }
        match msg {
            EngineMsg::Hello(m) => self.on_hello(kind, &m),
            EngineMsg::BaseOtSender(m) => {
                let sid = self.session_id(self.party.other())?;
                let reply = self.ots.answer(kind, &mut self.rng, sid, &m)?;
                self.out.send(EngineMsg::BaseOtReceiver(reply));
                Ok(())
            }
            EngineMsg::BaseOtReceiver(m) => self.ots.finish(kind, &m),
            EngineMsg::Extend(m) => {
                let allowed = self.peer_extend_allowance().min(self.config.max_pool);
                let max = self.config.max_extend;
                self.ots.accept(kind, &m, allowed, max, &mut self.out.stats)
            }
            EngineMsg::SelfTest(m) => self.on_selftest(kind, &m),
            EngineMsg::Abort(reason) => Err(EngineError::PeerAborted(reason)),
            EngineMsg::Job { instance, kind, n } => self.on_job(instance, kind, n as usize),
            EngineMsg::Open { instance, msg } => self.on_open(instance, msg),
            // Every other message belongs to a protocol instance.
            m => self.route(m),
        }
    }

    fn on_hello(&mut self, kind: &'static str, m: &HelloMsg) -> Result<(), EngineError> {
        if self.peer_nonce.is_some() {
            return Err(EngineError::Unexpected {
                got: kind,
                why: "the peer's hello already arrived",
            });
        }
        if m.settings != settings_digest(&self.config) {
            return Err(EngineError::Settings);
        }
        self.peer_nonce = Some(m.nonce);
        let sid = self.session_id(self.party)?;
        let msg = self.ots.open(&mut self.rng, sid)?;
        self.out.send(EngineMsg::BaseOtSender(msg));
        Ok(())
    }

    /// Most OTs the pool of the peer's direction may hold: the demand, in
    /// that direction, of every OT-consuming instance that has not started
    /// here (queued here, or announced by the peer), plus 127 for the
    /// peer's rounding to whole IKNP blocks. An honest peer extends only
    /// for instances it announced and has not started, and every OT it
    /// extended beyond those went to instances started here too, so its
    /// extensions never exceed this (see the module docs).
    fn peer_extend_allowance(&self) -> usize {
        let party = self.party;
        let queued = self.waiting.iter().map(|w| w.demand.for_party(party).0);
        let announced = self.peer_jobs.values().map(|&(kind, n)| {
            jobs::demand(kind, n, &self.config)
                .map(|d| d.for_party(party).0)
                .unwrap_or_default()
        });
        queued
            .chain(announced)
            .fold(0usize, usize::saturating_add)
            .saturating_add(127)
    }

    /// The peer's self-test request: joined only on an idle engine at the
    /// same instance number.
    fn on_selftest(&mut self, kind: &'static str, m: &SelfTestMsg) -> Result<(), EngineError> {
        if self.selftest.is_some() {
            return Err(EngineError::Unexpected {
                got: kind,
                why: "a self-test already ran on this engine",
            });
        }
        if !self.is_idle() || !self.peer_jobs.is_empty() {
            return Err(EngineError::Unexpected {
                got: kind,
                why: "instances are open here (a self-test runs only on an idle engine)",
            });
        }
        if m.instance != self.next_instance {
            return Err(EngineError::Unexpected {
                got: kind,
                why: "its instance number is not the next one here",
            });
        }
        let ops = m.ops as usize;
        jobs::check_size(ops, &self.config)?;
        self.queue_selftest(ops, &m.seed)?;
        Ok(())
    }

    fn on_open(&mut self, instance: u32, msg: OpenMsg) -> Result<(), EngineError> {
        let Some(st) = self.selftest.as_mut() else {
            return Err(EngineError::Unexpected {
                got: "open",
                why: "no self-test is running",
            });
        };
        st.on_open(instance, msg)?;
        self.selftest_progress();
        Ok(())
    }

    /// Tells the peer about a queued job and checks it against the peer's
    /// announcement for the same instance, if that came first.
    pub(super) fn announce(
        &mut self,
        instance: u32,
        kind: JobKind,
        n: usize,
    ) -> Result<(), EngineError> {
        let n32 = u32::try_from(n).map_err(|_| EngineError::Job("job too large"))?;
        self.out.send(EngineMsg::Job {
            instance,
            kind,
            n: n32,
        });
        match self.peer_jobs.remove(&instance) {
            Some(theirs) => check_jobs(instance, (kind, n), theirs),
            None => {
                self.own_jobs.insert(instance, (kind, n));
                Ok(())
            }
        }
    }

    /// The peer's job announcement: refused if this engine would refuse the
    /// job itself, checked against ours at the same instance.
    fn on_job(&mut self, instance: u32, kind: JobKind, n: usize) -> Result<(), EngineError> {
        if let Err(e) = jobs::demand(kind, n, &self.config) {
            return Err(match e {
                EngineError::Job(why) => EngineError::PeerJob(why),
                e => e,
            });
        }
        if let Some(ours) = self.own_jobs.remove(&instance) {
            return check_jobs(instance, ours, (kind, n));
        }
        if instance < self.next_instance || self.peer_jobs.contains_key(&instance) {
            return Err(EngineError::Unexpected {
                got: "job",
                why: "its instance is not the start of a job queued here",
            });
        }
        if self.peer_jobs.len() >= MAX_EARLY {
            return Err(EngineError::TooManyEarly);
        }
        self.peer_jobs.insert(instance, (kind, n));
        Ok(())
    }

    /// Delivers an instance message, or buffers it until the instance starts.
    fn route(&mut self, msg: EngineMsg) -> Result<(), EngineError> {
        let instance = msg.instance();
        if self.active.contains_key(&instance) {
            return self.deliver(instance, msg);
        }
        if self.finished.contains(&instance) {
            return Err(EngineError::FinishedInstance { instance });
        }
        self.early.push(instance, msg)
    }

    /// Delivers the messages buffered for an instance that just started.
    pub(super) fn drain_early(&mut self, instance: u32) -> Result<(), EngineError> {
        for m in self.early.take(instance) {
            if !self.active.contains_key(&instance) {
                return Err(EngineError::FinishedInstance { instance });
            }
            self.deliver(instance, m)?;
        }
        Ok(())
    }
}

fn check_jobs(
    instance: u32,
    ours: (JobKind, usize),
    theirs: (JobKind, usize),
) -> Result<(), EngineError> {
    if ours == theirs {
        return Ok(());
    }
    Err(EngineError::JobMismatch {
        instance,
        ours: ours.0,
        ours_n: ours.1,
        theirs: theirs.0,
        theirs_n: theirs.1,
    })
}
