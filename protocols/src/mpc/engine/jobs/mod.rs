//! Job kinds: everything the engine does differently per kind.
//!
//! A kind is a [`Job`] (its queued inputs, which start on exactly their
//! OTs) whose started instance is an [`Instance`] (it takes the peer's
//! messages for its instance number until it has an output). A kind that is
//! a [`PingPong`] sub-protocol needs only a [`Proto`] implementation:
//! [`Pending`] and [`Ping`] turn it into a job and drive it. Each kind is
//! then registered once, in [`demand`], which validates a job of that kind
//! (this party's or the peer's announcement) and says which OTs it consumes;
//! the engine's submit method queues it. The rest of the engine (ordering,
//! pools, buffering, outputs, stats of messages) knows no kind.

pub(super) mod b2a;
pub(super) mod coin;
pub(super) mod count;
pub(super) mod drelu;
pub(super) mod mult;
pub(super) mod relu;
pub(super) mod selftest;

use core::fmt;

use mpc_core::field::Fp;
use rand_chacha::ChaCha12Rng;
use zeroize::Zeroizing;

use super::msg::{EngineMsg, JobKind};
use super::stats::{EngineStats, Outbox};
use super::{EngineConfig, EngineError, EngineOutput, JobId};
use crate::mpc::compare::{PingPong, RotDemand, Rots};
use crate::mpc::corr::Party;

/// XOR-shared bits, wiped when dropped.
pub(super) type Bits = Zeroizing<Vec<bool>>;

/// What an instance may use of the engine while it runs.
pub(super) struct Cx<'a> {
    /// This party.
    pub(super) party: Party,
    /// The engine's settings.
    pub(super) config: &'a EngineConfig,
    /// The engine's CSPRNG.
    pub(super) rng: &'a mut ChaCha12Rng,
    /// Messages for the peer, and the counters.
    pub(super) out: &'a mut Outbox,
    /// The instance being driven.
    pub(super) instance: u32,
    /// Its job.
    pub(super) job: JobId,
}

impl Cx<'_> {
    /// Queues a message for the peer.
    pub(super) fn send(&mut self, msg: EngineMsg) {
        self.out.send(msg);
    }

    /// The counters.
    pub(super) fn stats(&mut self) -> &mut EngineStats {
        &mut self.out.stats
    }

    /// The error for a message of kind `got`, of another protocol than
    /// the `expected` one of this instance.
    pub(super) fn wrong(&self, expected: &'static str, got: &'static str) -> EngineError {
        EngineError::WrongProtocol {
            instance: self.instance,
            expected,
            got,
        }
    }
}

/// Where an instance stands after a step.
pub(super) enum Step {
    /// It waits for the peer's next message.
    Wait(Box<dyn Instance>),
    /// It is done, and so is its job, with this output.
    Done(EngineOutput),
    /// It is done, and its job goes on as the given instance (its number
    /// reserved when the job was queued), already started.
    Then(u32, Box<dyn Instance>),
}

/// A queued job: its inputs until its OTs are in both pools.
pub(super) trait Job {
    /// Starts on exactly the OTs of its demand (none for a kind that
    /// consumes none), counts them, and sends its first message, if any.
    fn start(self: Box<Self>, rots: Rots, cx: &mut Cx<'_>) -> Result<Step, EngineError>;
}

/// A started instance: it takes the peer's messages for its instance number.
pub(super) trait Instance {
    /// Handles one peer message (of another protocol: [`Cx::wrong`]).
    fn on_msg(self: Box<Self>, msg: EngineMsg, cx: &mut Cx<'_>) -> Result<Step, EngineError>;
}

/// A [`PingPong`] sub-protocol as a job kind: how it is built, how its
/// messages travel, what it is counted as and what it outputs.
pub(super) trait Proto: PingPong + Sized + 'static {
    /// Protocol name in errors.
    const NAME: &'static str;
    /// The queued inputs.
    type Input: 'static;
    /// This party's side of an instance on exactly its OTs.
    fn build(input: Self::Input, rots: Rots, cx: &Cx<'_>) -> Result<Self, EngineError>;
    /// Charges the instance's OTs to the counters.
    fn count_rots(stats: &mut EngineStats, ots: u64);
    /// The engine message carrying `msg`.
    fn wrap(instance: u32, msg: Self::Msg) -> EngineMsg;
    /// This protocol's message, if `msg` carries one.
    fn unwrap(msg: EngineMsg) -> Option<Self::Msg>;
    /// The job's output (counted).
    fn output(out: Self::Output, job: JobId, stats: &mut EngineStats) -> EngineOutput;
}

/// A queued [`Proto`] job.
pub(super) struct Pending<P: Proto>(pub(super) P::Input);

/// A running [`Proto`] instance.
pub(super) struct Ping<P>(Box<P>);

impl<P: Proto> Job for Pending<P>
where
    EngineError: From<P::Error>,
{
    fn start(self: Box<Self>, rots: Rots, cx: &mut Cx<'_>) -> Result<Step, EngineError> {
        P::count_rots(cx.stats(), ots(&rots));
        let proto = Box::new(P::build(self.0, rots, cx)?);
        Ping::advance(proto, None, cx)
    }
}

impl<P: Proto> Instance for Ping<P>
where
    EngineError: From<P::Error>,
{
    fn on_msg(self: Box<Self>, msg: EngineMsg, cx: &mut Cx<'_>) -> Result<Step, EngineError> {
        let got = msg.kind();
        match P::unwrap(msg) {
            Some(m) => Ping::advance(self.0, Some(m), cx),
            None => Err(cx.wrong(P::NAME, got)),
        }
    }
}

impl<P: Proto> Ping<P>
where
    EngineError: From<P::Error>,
{
    /// Runs one step (`msg = None`: the start) and sends the answer, if any.
    fn advance(
        mut proto: Box<P>,
        msg: Option<P::Msg>,
        cx: &mut Cx<'_>,
    ) -> Result<Step, EngineError> {
        let reply = match msg {
            None => proto.start(&mut *cx.rng)?,
            Some(m) => proto.receive(m, &mut *cx.rng)?,
        };
        if let Some(r) = reply {
            cx.send(P::wrap(cx.instance, r));
        }
        if !proto.is_done() {
            return Ok(Step::Wait(Box::new(Ping(proto))));
        }
        let done = (*proto).finish()?;
        Ok(Step::Done(P::output(done.output, cx.job, cx.stats())))
    }
}

/// OTs (both directions) in an instance's batch: the demand it started on.
pub(super) fn ots(rots: &Rots) -> u64 {
    (rots.sent.m0.len() + rots.received.mc.len()) as u64
}

/// Validates a job (this party's or the peer's announcement) and returns
/// the OTs it consumes. The registry of job kinds: one arm per kind.
pub(super) fn demand(
    kind: JobKind,
    n: usize,
    config: &EngineConfig,
) -> Result<RotDemand, EngineError> {
    check_size(n, config)?;
    match kind {
        JobKind::Drelu => drelu::demand(n, config),
        JobKind::Mult => Ok(mult::demand(n, config)),
        JobKind::Relu { threshold } => relu::demand(n, threshold, config),
        JobKind::B2a => Ok(b2a::demand(n)),
        JobKind::Count { k } => count::demand(n, k),
        JobKind::Coin => coin::demand(n),
    }
}

/// Refuses an empty job or one above [`EngineConfig::max_job`].
pub(super) fn check_size(n: usize, config: &EngineConfig) -> Result<(), EngineError> {
    if n == 0 {
        return Err(EngineError::Job("a job needs at least one value"));
    }
    if n > config.max_job {
        return Err(EngineError::Job("job larger than EngineConfig::max_job"));
    }
    Ok(())
}

/// Field shares (a job's secret inputs), overwritten with zero when
/// dropped. `Debug` shows the length only.
#[derive(Clone, Default)]
pub(super) struct Shares(Vec<Fp>);

impl Shares {
    pub(super) fn new(v: Vec<Fp>) -> Shares {
        Shares(v)
    }

    /// The shares, for a consumer that takes them by value (and wipes them).
    pub(super) fn take_vec(&mut self) -> Vec<Fp> {
        std::mem::take(&mut self.0)
    }
}

impl core::ops::Deref for Shares {
    type Target = [Fp];
    fn deref(&self) -> &[Fp] {
        &self.0
    }
}

impl fmt::Debug for Shares {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shares")
            .field("len", &self.0.len())
            .finish_non_exhaustive()
    }
}

impl Drop for Shares {
    fn drop(&mut self) {
        wipe_fps(&mut self.0);
    }
}

/// Overwrites field elements (and the spare capacity) with zero before the
/// buffer is freed. `Fp` is a shared type without `Zeroize`; the writes are
/// kept alive with `black_box` (best effort, like `zeroize` itself).
fn wipe_fps(v: &mut Vec<Fp>) {
    v.iter_mut().for_each(|x| *x = Fp::ZERO);
    v.spare_capacity_mut().iter_mut().for_each(|x| {
        x.write(Fp::ZERO);
    });
    std::hint::black_box(v.as_slice());
    v.clear();
}
