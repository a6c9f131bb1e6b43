//! The dealer-free 2PC engine between server A and server B: one sans-io
//! state machine, the same code for both parties (parameterised by
//! [`Party`]), that makes every correlation it uses itself and runs batched
//! jobs on shared values.
//!
//! # What it composes
//!
//! 0. **Hello.** Each engine's first message is [`EngineMsg::Hello`]: a fresh
//!    32-byte nonce from its CSPRNG and the SHA-256 of its protocol settings
//!    (DReLU bound and digit bits, triple margin, count digit bits, OTs per
//!    triple). A different digest ends the session with
//!    [`EngineError::Settings`] before any OT; any other message before the
//!    peer's hello is refused. Per-job parameters travel in the job
//!    announcements (see below).
//! 1. **Base OTs in both directions** (Chou–Orlandi, 128 each): each party is
//!    the IKNP *receiver* of one direction ("A receives" / "B receives") and
//!    opens it with [`EngineMsg::BaseOtSender`] once the peer's hello is in;
//!    the other party, the IKNP sender of that direction, answers with
//!    [`EngineMsg::BaseOtReceiver`]. The IKNP session id of each direction is
//!    `SessionId::from_label("tandem/engine/v2/iknp/" ‖ receiver ‖ nonce_A ‖ nonce_B)`,
//!    so both parties contribute to it and no two sessions share one. Both
//!    parties speak first at the same time, so the two setups overlap: one
//!    round trip plus the hello in all. Base OTs run once per engine; an
//!    engine is never persisted (a restarted server builds a fresh one and
//!    runs fresh base OTs; nothing about OT keys or unused correlations is
//!    ever written out).
//! 2. **IKNP random-OT batches, produced ahead of need.** The receiver of a
//!    direction extends as soon as its setup is done, for the whole demand of
//!    the queued protocol instances (the protocols' `rot_demand`, looked ahead
//!    up to [`EngineConfig::lookahead_ots`]), rounded up to a multiple of 128
//!    (IKNP pads to that anyway), in batches of [`EngineConfig::extend_chunk`]
//!    (the peer accepts at most [`EngineConfig::max_extend`] per batch). Every
//!    batch is one [`EngineMsg::Extend`]; the sender of that direction appends
//!    the same OTs, in the same order, to its pool. The sender accepts a batch
//!    only while its pool stays within the demand, in that direction, of the
//!    OT-consuming instances that have not started on its side (queued there
//!    or announced by the peer) plus 127, and within
//!    [`EngineConfig::max_pool`] (2^23 by default); beyond that,
//!    [`EngineError::ExtendLimit`]. An honest receiver never gets there: it
//!    extends only for instances it announced and has not started, and the
//!    OTs it extended for instances the sender has already started are no
//!    longer in the sender's pool. So a peer cannot make an idle engine hold
//!    OTs it has no use for.
//! 3. **Jobs**: [`Engine::submit_drelu`] (XOR shares of `[v ≥ 0]` for
//!    field-shared `v ∈ [−2^B, 2^B)`, `B = 40` by default),
//!    [`Engine::submit_mult`] (additive shares of `x·y`, via Beaver triples
//!    made from Gilboa OLEs ahead of the multiplication),
//!    [`Engine::submit_relu`] (additive shares of `b·v` and XOR shares of
//!    `b = [v ⋈ T]` for a public threshold, `compare::relu`; `v − T` must be
//!    inside the DReLU bound), [`Engine::submit_b2a`] (XOR-shared bits to
//!    additive shares in F, the bit × value protocol in B2A mode, A first),
//!    [`Engine::submit_count`] (the public bit `[Σ b_i ≥ k]`, `compare::count`
//!    with 4-bit digits), [`Engine::submit_coin`] (a joint 32-byte coin,
//!    `arith::coin`, commit then reveal, labelled with its instance number),
//!    and [`Engine::submit_selftest`] (random inputs, opened and checked at the end).
//!
//!    Measured cost (both directions, IKNP at its measured ≈ 16.2 B per OT
//!    included, batches of 10^4 values; see the tests' output):
//!
//!    | job | OTs per value (A recv + B recv) | bytes per value | messages |
//!    |---|---|---|---|
//!    | DReLU (B = 40, m = 5) | 48 + 7 | ≈ 1010 | 5 |
//!    | ReLU / gated value | 49 + 8 | ≈ 1058 | 8 |
//!    | B2A | 1 + 0 | ≈ 24 | 2 |
//!    | multiplication (with its triple) | 64 + 64 | ≈ 3145 | 2 |
//!    | count over n bits | n + DReLU on one `⌈log₂(max(n,k)+1)⌉`-bit value | ≈ 24 n + small | 6–8 |
//!    | coin | — | 196 per toss | 2 |
//!
//! # Ordering: why both pools stay aligned
//!
//! Both parties must submit the same jobs in the same order (a self-test
//! counts as submitted on the peer when its [`EngineMsg::SelfTest`] arrives).
//! Each party announces every job it queues ([`EngineMsg::Job`]: kind, size
//! and parameters — the threshold of a ReLU, the k of a count — at its
//! instance number), so jobs that differ between the two sides end in
//! [`EngineError::JobMismatch`] instead of a wait for OTs that never come; an
//! announcement this engine would refuse itself (too large, bad parameters)
//! ends in [`EngineError::PeerJob`].
//! Jobs get protocol *instance* numbers in submission order. Instances that
//! consume OTs (triple generation, DReLU, ReLU, B2A, count) start strictly in instance order,
//! each taking the front of both OT pools, so index `i` of a pool on one side
//! meets index `i` on the other (IKNP batch numbers already force extension
//! batches into the same order). A multiplication consumes no OTs and starts
//! as soon as its own triples are ready; a coin consumes none and starts at
//! submission. A message for an instance that has
//! not started here yet is buffered (at most [`MAX_EARLY`] messages).
//!
//! # Driving it (sans-io)
//!
//! ```text
//! let mut e = Engine::new(party, EngineConfig::default(), &seed);
//! e.submit_…(…)?;                       // any time; then take_outgoing()
//! for m in e.start()? { send(m.encode()) }
//! loop {
//!     let bytes = recv();
//!     // decode + handle; every answer is handed to the closure as soon as it
//!     // is final (each IKNP batch before the next is computed), so the peer
//!     // works on it while this side goes on; on a local error the last one
//!     // is an Abort for the peer. `on_frame` collects them into a `Reply`.
//!     let r = e.on_frame_with(&bytes, &mut |frame| send(frame));
//!     if let Err(err) = r { … }
//!     while let Some(out) = e.poll_output() { … }
//! }
//! ```
//!
//! Every error poisons the engine (later calls return [`EngineError::Failed`]);
//! a local error produces an [`EngineMsg::Abort`] so the peer fails fast
//! instead of waiting. Nothing panics on peer data.
//!
//! # What each party sees (semi-honest)
//!
//! Exactly the union of the transcripts of the sub-protocols (base OT, IKNP,
//! triples, multiplication, DReLU — see their module docs for why each is
//! simulatable), run on independent correlations: every OT is used by one
//! instance only (pools are split, never copied), so the simulators compose.
//! The engine's own additions are public: the hellos (nonces and settings
//! digests), instance numbers, batch sizes, job parameters (thresholds, k),
//! and the self-test's opening, which only ever carries the self-test's random
//! inputs and outputs. The count's bit and the coin are outputs of both
//! parties by definition.
//!
//! Secrets in memory: every OT batch (`Rots`) is zeroized when dropped — the
//! pools, and each instance's OTs once it is done; splitting a pool copies the
//! front out and wipes the vacated tail; the pools are sized up front for the
//! announced demand and otherwise grow by copy-then-wipe, so no reallocation
//! leaves OTs in freed memory; triple generation wipes its OT inputs after use.
//! Jobs' input shares are wiped after use, on failure and at drop: they are
//! held in wrappers that overwrite them when dropped (`Zeroizing` for bits;
//! for field elements, which have no `Zeroize`, the engine's own `Shares`).
//! No `Debug` output or error of the engine carries a share, an OT or a
//! field element.
//!
//! # Self-test without a dealer
//!
//! The initiator, while idle, sends `SelfTest { instance, ops, seed }`; the
//! peer joins only if it is idle too (no queued, running or announced
//! instance) and its next instance is `instance`, and errors otherwise (so a
//! self-test never interleaves with real jobs). Each party then builds its
//! own shares locally: for DReLU, `v_P = u_P ± r_i` with a private bounded
//! `u_P ∈ [−2^39, 2^39)` (every 8th value in `[−4, 4)`, to test around 0)
//! and a public mask `r_i` from `seed` (A adds it, B subtracts it), so the
//! shares are uniform-looking field elements that wrap mod p about half the
//! time while `v = u_A + u_B` stays inside the DReLU bound; for the
//! multiplications, uniformly random shares of uniformly random x, y. After
//! both jobs, each party sends its input and output shares
//! ([`EngineMsg::Open`]) and checks every DReLU bit against `[v ≥ 0]` and
//! every product against `x·y`.
//!
//! # Counters
//!
//! [`EngineStats`] counts bytes and messages per protocol (encoded engine
//! messages, 5-byte header included), OTs extended per direction and OTs
//! consumed per protocol. [`EngineStats::bytes_per_drelu`] is the DReLU
//! messages plus the DReLU's share of the IKNP traffic (its OTs times the
//! measured IKNP bytes per OT), per value; [`EngineStats::bytes_per_relu`]
//! likewise for ReLU.
//!
//! # Code layout
//!
//! This file holds the public API ([`Engine`], its configuration and
//! [`run_local`]); `msg` the wire messages and their codec; `error`
//! [`EngineError`]; `output` [`EngineOutput`]; `stats` the counters and the
//! outbox every message passes through; `pool` both IKNP directions and the
//! OT pools; `dispatch` the session phases and the routing of peer messages
//! (buffering early ones); `queue` the life of a job whatever its kind
//! (announce, queue, extend for it, start in order, step, finish into an
//! output or the self-test). `jobs` holds what differs per kind, one file
//! each: a queued job is a `jobs::Job` (its inputs, started on exactly its
//! OTs), a started one a `jobs::Instance` (stepped by the peer's messages
//! until it is done or hands over to a next instance, as triples hand over
//! to their multiplication). A kind that is a `PingPong` sub-protocol (DReLU,
//! ReLU, B2A, count) implements only `jobs::Proto` (how it is built, how its
//! messages are wrapped, what it is counted as and what it outputs), and one
//! generic driver runs all of them. A new kind is that implementation, one
//! arm in `jobs::demand` (validation and OT demand of its announcement), a
//! submit method here, and at the boundary its wire messages, its
//! [`JobKind`], its [`EngineOutput`] and its counters.

mod dispatch;
mod error;
mod jobs;
mod msg;
mod output;
mod pool;
mod queue;
mod stats;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use core::fmt;

use mpc_core::codec::Message;
use mpc_core::field::Fp;
use mpc_core::prg::Seed;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;

pub use error::EngineError;
pub use msg::{
    EngineMsg, HEADER_LEN, HelloMsg, JobKind, MAX_ABORT_REASON, MAX_MSG_BYTES, OpenMsg, Protocol,
    SelfTestMsg,
};
pub use output::{EngineOutput, SelfTestReport};
pub use stats::EngineStats;

use crate::mpc::compare::count::Count;
use crate::mpc::compare::drelu::{Drelu, DreluParams, Threshold};
use crate::mpc::compare::mux::Mux;
use crate::mpc::compare::relu::Relu;
use crate::mpc::corr::Party;
use dispatch::Early;
use jobs::selftest::SelfTest;
use jobs::{Bits, Pending, Shares};
use pool::Ots;
use queue::{Active, Owner, Waiting};
use stats::Outbox;

/// Most peer messages buffered for instances that have not started here yet.
pub const MAX_EARLY: usize = 256;
/// Most bytes (encoded) buffered for instances that have not started here yet.
pub const MAX_EARLY_BYTES: usize = 2 * MAX_MSG_BYTES;

/// Digit width of the secure count's comparison (part of the protocol settings).
pub const COUNT_DIGIT_BITS: u32 = 4;

/// Engine limits and protocol parameters. Both parties must use the same
/// `drelu` parameters; the limits are local.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// DReLU parameters (bound 2^40, 5-bit digits by default).
    pub drelu: DreluParams,
    /// Largest job (values per DReLU job, products per multiplication job).
    /// The default, 2^16, keeps every message of a job (the largest is the
    /// triple message, 512 B per product) well inside one transport frame.
    pub max_job: usize,
    /// OTs per direction produced ahead of the next instance's need.
    pub lookahead_ots: usize,
    /// Largest IKNP batch in one message (also the limit on the peer's batches).
    pub max_extend: usize,
    /// OTs per extension message this party produces: small batches let the
    /// peer absorb one while the next is computed.
    pub extend_chunk: usize,
    /// Largest pool of unused OTs per direction accepted from the peer, on
    /// top of the per-extension rule (the peer may only extend up to the
    /// announced demand of the instances that have not started here). The
    /// default, 2^23 (256 MiB as IKNP sender), holds the largest job (a
    /// multiplication of `max_job` products: ≈ 2^22 OTs per direction).
    pub max_pool: usize,
    /// Extra triples generated per multiplication job (a triple is dropped
    /// with probability ≈ 2^-31; leftovers are discarded).
    pub triple_margin: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            drelu: DreluParams::default(),
            max_job: 1 << 16,
            lookahead_ots: 1 << 21,
            max_extend: 1 << 20,
            extend_chunk: 1 << 14,
            max_pool: 1 << 23,
            triple_margin: 4,
        }
    }
}

/// A submitted job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub u32);

/// What the shell sends after a frame, and the error (if any) that ended the engine.
#[derive(Debug, Default)]
pub struct Reply {
    /// Encoded engine messages for the peer, in order.
    pub send: Vec<Vec<u8>>,
    /// Set when the engine failed on this frame (it is then poisoned).
    pub error: Option<EngineError>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    New,
    Running,
    Failed,
}

/// Where streamed messages go (`None`: they stay in the outbox).
type Sink<'a> = Option<&'a mut dyn FnMut(Vec<EngineMsg>)>;

/// The engine: one party's side. `Debug` shows progress, never shares or keys.
pub struct Engine {
    party: Party,
    config: EngineConfig,
    rng: ChaCha12Rng,
    phase: Phase,
    /// This engine's fresh nonce (sent in its hello).
    nonce: [u8; 32],
    /// The peer's nonce, once its hello arrived.
    peer_nonce: Option<[u8; 32]>,
    /// Both IKNP directions and the unused OTs.
    ots: Ots,
    /// OT-consuming instances waiting for their OTs, in instance order.
    waiting: VecDeque<Waiting>,
    active: BTreeMap<u32, Active>,
    /// Instances reserved for a later stage of a job whose earlier stage is
    /// still queued or running (a multiplication after its triples).
    reserved: BTreeSet<u32>,
    finished: BTreeSet<u32>,
    early: Early,
    /// Jobs queued here that the peer has not announced yet.
    own_jobs: BTreeMap<u32, (JobKind, usize)>,
    /// Jobs the peer announced that are not queued here yet.
    peer_jobs: BTreeMap<u32, (JobKind, usize)>,
    next_instance: u32,
    next_job: u32,
    selftest: Option<SelfTest>,
    /// Messages for the peer and the counters.
    out: Outbox,
    outputs: VecDeque<EngineOutput>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("party", &self.party)
            .field("phase", &self.phase)
            .field("waiting", &self.waiting.len())
            .field("active", &self.active.len())
            .field("stats", &self.out.stats)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// A new engine for `party`; all its randomness comes from `seed`, a
    /// fresh secret seed per engine, never reused (the servers derive one
    /// per session from their root seed with [`Seed::derive`]).
    pub fn new(party: Party, config: EngineConfig, seed: &Seed) -> Engine {
        Engine {
            party,
            config,
            rng: ChaCha12Rng::from_seed(seed.0),
            phase: Phase::New,
            nonce: [0; 32],
            peer_nonce: None,
            ots: Ots::default(),
            waiting: VecDeque::new(),
            active: BTreeMap::new(),
            reserved: BTreeSet::new(),
            finished: BTreeSet::new(),
            early: Early::default(),
            own_jobs: BTreeMap::new(),
            peer_jobs: BTreeMap::new(),
            next_instance: 1,
            next_job: 0,
            selftest: None,
            out: Outbox::default(),
            outputs: VecDeque::new(),
        }
    }

    /// Which server this engine runs for.
    pub fn party(&self) -> Party {
        self.party
    }

    /// Counters so far.
    pub fn stats(&self) -> &EngineStats {
        &self.out.stats
    }

    /// Whether the engine failed (every later call errors).
    pub fn is_failed(&self) -> bool {
        self.phase == Phase::Failed
    }

    /// Whether no job is queued or running.
    pub fn is_idle(&self) -> bool {
        self.waiting.is_empty()
            && self.active.is_empty()
            && self.reserved.is_empty()
            && self.selftest.as_ref().is_none_or(SelfTest::is_done)
    }

    /// Unused OTs in the pools: `(as sender, as receiver)`.
    pub fn pooled_ots(&self) -> (usize, usize) {
        self.ots.pooled()
    }

    /// Opens this party's receiving direction (base OTs for IKNP). Returns
    /// every message queued so far. Called at most once; [`Engine::on_frame`]
    /// calls it when needed.
    pub fn start(&mut self) -> Result<Vec<EngineMsg>, EngineError> {
        match self.phase {
            Phase::New => {}
            Phase::Running => {
                return Err(EngineError::Unexpected {
                    got: "start",
                    why: "the engine has already started",
                });
            }
            Phase::Failed => return Err(EngineError::Failed),
        }
        self.start_inner();
        Ok(self.take_outgoing())
    }

    /// Messages produced since the last call (by submissions, for instance).
    pub fn take_outgoing(&mut self) -> Vec<EngineMsg> {
        self.out.take()
    }

    /// The next finished job or self-test event.
    pub fn poll_output(&mut self) -> Option<EngineOutput> {
        self.outputs.pop_front()
    }

    /// Queues a DReLU batch on this party's additive shares. The peer must
    /// submit the same job at the same position. Call [`Engine::take_outgoing`] after.
    pub fn submit_drelu(&mut self, shares: Vec<Fp>) -> Result<JobId, EngineError> {
        let n = shares.len();
        let job = Pending::<Drelu>(Shares::new(shares));
        self.submit(JobKind::Drelu, n, Box::new(job))
    }

    /// Queues a batch of products `x_j · y_j` of shared values (this party's
    /// shares). The peer must submit the same job at the same position.
    /// Call [`Engine::take_outgoing`] after.
    pub fn submit_mult(&mut self, xs: Vec<Fp>, ys: Vec<Fp>) -> Result<JobId, EngineError> {
        let (xs, ys) = (Shares::new(xs), Shares::new(ys));
        self.check_live()?;
        jobs::demand(JobKind::Mult, xs.len(), &self.config)?;
        if ys.len() != xs.len() {
            return Err(EngineError::Job("x and y shares differ in length"));
        }
        let r = self.queue_mult(Owner::User, xs, ys);
        self.after_submit(r)
    }

    /// Queues a batch of gated values: for this party's additive shares of
    /// `v_j` (with `v_j − T` inside the DReLU bound `[−2^B, 2^B)`), additive
    /// shares of `b_j·v_j` and XOR shares of `b_j = [v_j ⋈ T]`
    /// ([`EngineOutput::Relu`]). `Threshold { value: 0, relation: Gt }` gives
    /// `ReLU(v)` and the "positive" bits a count takes. The peer must submit
    /// the same job (same threshold) at the same position.
    pub fn submit_relu(
        &mut self,
        values: Vec<Fp>,
        threshold: Threshold,
    ) -> Result<JobId, EngineError> {
        let n = values.len();
        let job = Pending::<Relu>((Shares::new(values), threshold));
        self.submit(JobKind::Relu { threshold }, n, Box::new(job))
    }

    /// Queues a conversion of XOR-shared bits into additive shares in F
    /// ([`EngineOutput::B2a`]). The peer must submit the same job at the same position.
    pub fn submit_b2a(&mut self, bits: Vec<bool>) -> Result<JobId, EngineError> {
        let n = bits.len();
        let job = Pending::<Mux>(Bits::new(bits));
        self.submit(JobKind::B2a, n, Box::new(job))
    }

    /// Queues a secure count: both parties learn only `[Σ b_i ≥ k]` for
    /// XOR-shared bits `b_i` ([`EngineOutput::Count`]). The peer must submit
    /// the same job (same k) at the same position.
    pub fn submit_count(&mut self, bits: Vec<bool>, k: u64) -> Result<JobId, EngineError> {
        let n = bits.len();
        let job = Pending::<Count>((Bits::new(bits), k));
        self.submit(JobKind::Count { k }, n, Box::new(job))
    }

    /// Tosses a joint coin (commit, then reveal; each party's contribution
    /// comes from its own CSPRNG): both parties get the same 32 bytes
    /// ([`EngineOutput::Coin`]). Consumes no OTs, so it runs as soon as both
    /// sides have submitted it. The peer must submit it at the same position.
    pub fn submit_coin(&mut self) -> Result<JobId, EngineError> {
        self.submit(JobKind::Coin, 1, Box::new(jobs::coin::CoinJob))
    }

    /// Validates a job (a refusal does not poison the engine), queues it
    /// and starts what can start.
    fn submit(
        &mut self,
        kind: JobKind,
        n: usize,
        job: Box<dyn jobs::Job>,
    ) -> Result<JobId, EngineError> {
        self.check_live()?;
        jobs::demand(kind, n, &self.config)?;
        let r = self.queue(Owner::User, kind, n, job);
        self.after_submit(r)
    }

    fn after_submit(&mut self, r: Result<JobId, EngineError>) -> Result<JobId, EngineError> {
        let job = self.guard(r)?;
        let r = self.pump(&mut None);
        self.guard(r)?;
        Ok(job)
    }

    /// Starts a self-test of `ops` DReLUs and `ops` multiplications on
    /// random shared inputs, opened and checked at the end (see the module
    /// docs); the peer joins when the request reaches it. Call
    /// [`Engine::take_outgoing`] (or [`Engine::start`]) after.
    pub fn submit_selftest(&mut self, ops: usize) -> Result<JobId, EngineError> {
        self.check_live()?;
        jobs::check_size(ops, &self.config)?;
        if self.selftest.is_some() {
            return Err(EngineError::Job("one self-test per engine"));
        }
        if !self.is_idle() || !self.peer_jobs.is_empty() {
            return Err(EngineError::Job("a self-test needs an idle engine"));
        }
        let ops32 = u32::try_from(ops).map_err(|_| EngineError::Job("too many operations"))?;
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        self.out.send(EngineMsg::SelfTest(SelfTestMsg {
            instance: self.next_instance,
            ops: ops32,
            seed,
        }));
        let r = self.queue_selftest(ops, &seed);
        self.after_submit(r)
    }

    /// Decodes a peer frame and handles it; see [`Reply`]. Starts the engine
    /// first if it has not started (the responder's case).
    pub fn on_frame(&mut self, bytes: &[u8]) -> Reply {
        let mut send = Vec::new();
        let error = self.on_frame_with(bytes, &mut |f| send.push(f)).err();
        Reply { send, error }
    }

    /// As [`Engine::on_frame`], but hands each encoded message to `emit` as
    /// soon as it is final — the answer to the frame before any follow-up
    /// work, each IKNP batch before the next is computed — so the shell can
    /// put it on the wire while the engine keeps computing (the peer works
    /// on it in parallel). On an error, the last message emitted is the
    /// [`EngineMsg::Abort`] for the peer (unless the peer aborted).
    pub fn on_frame_with(
        &mut self,
        bytes: &[u8],
        emit: &mut dyn FnMut(Vec<u8>),
    ) -> Result<(), EngineError> {
        let mut encode = |msgs: Vec<EngineMsg>| {
            for m in &msgs {
                emit(m.encode());
            }
        };
        let mut sink: Sink<'_> = Some(&mut encode);
        let r = self.frame_inner(bytes, &mut sink);
        self.flush(&mut sink);
        r
    }

    /// [`EngineMsg::decode`] then [`Engine::handle`].
    pub fn handle_bytes(&mut self, bytes: &[u8]) -> Result<Vec<EngineMsg>, EngineError> {
        self.check_live()?;
        let msg = EngineMsg::decode(bytes).map_err(EngineError::from);
        let msg = self.guard(msg)?;
        self.handle(msg)
    }

    /// Handles one peer message; returns the messages for the peer.
    pub fn handle(&mut self, msg: EngineMsg) -> Result<Vec<EngineMsg>, EngineError> {
        match self.phase {
            Phase::Running => {}
            Phase::Failed => return Err(EngineError::Failed),
            Phase::New => self.start_inner(),
        }
        self.out.received(&msg);
        let r = self.handle_inner(msg).and_then(|()| self.pump(&mut None));
        self.guard(r)?;
        Ok(self.take_outgoing())
    }
}

/// Runs two engines against each other in memory until no message is in
/// flight, every message through its encoding (for benches and tests; the
/// servers move the same bytes over QUIC). `to_b` / `to_a` are the messages
/// already produced (e.g. by [`Engine::start`]). Returns the first error.
pub fn run_local(
    a: &mut Engine,
    b: &mut Engine,
    to_b: Vec<EngineMsg>,
    to_a: Vec<EngineMsg>,
) -> Result<(), EngineError> {
    let mut to_b: VecDeque<Vec<u8>> = to_b.iter().map(EngineMsg::encode).collect();
    let mut to_a: VecDeque<Vec<u8>> = to_a.iter().map(EngineMsg::encode).collect();
    loop {
        if let Some(f) = to_b.pop_front() {
            let r = b.on_frame(&f);
            to_a.extend(r.send);
            if let Some(e) = r.error {
                return Err(e);
            }
        } else if let Some(f) = to_a.pop_front() {
            let r = a.on_frame(&f);
            to_b.extend(r.send);
            if let Some(e) = r.error {
                return Err(e);
            }
        } else {
            return Ok(());
        }
    }
}
