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
//! Queued jobs' shares are wiped after use, on failure and at drop (`Fp` has no
//! `Zeroize`; the engine overwrites its vectors). No `Debug` output or error of
//! the engine carries a share, an OT or a field element.
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

mod error;
mod msg;
mod output;
mod stats;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use core::fmt;

use mpc_core::field::Fp;
use mpc_core::ot::{IknpReceiver, IknpReceiverSetup, IknpSender, SessionId};
use mpc_core::prg::Seed;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

pub use error::EngineError;
pub use msg::{
    EngineCodecError, EngineMsg, HEADER_LEN, HelloMsg, JobKind, MAX_ABORT_REASON, MAX_MSG_BYTES,
    OpenMsg, Protocol, SelfTestMsg,
};
pub use output::{EngineOutput, SelfTestReport};
pub use stats::EngineStats;

use crate::mpc::arith::coin::{CoinRevealed, CoinToss};
use crate::mpc::arith::mult::Mult;
use crate::mpc::arith::random_fp;
use crate::mpc::arith::triples::{OTS_PER_TRIPLE, TripleGen};
use crate::mpc::compare::count::{Count, CountInput, CountParams};
use crate::mpc::compare::drelu::{Drelu, DreluParams, Threshold};
use crate::mpc::compare::mux::{Mux, MuxMode, MuxParams};
use crate::mpc::compare::relu::{Relu, ReluOutput, ReluParams};
use crate::mpc::compare::{PingPong, Relation, RotDemand, Rots};
use crate::mpc::corr::{Party, Triple};

/// Most peer messages buffered for instances that have not started here yet.
pub const MAX_EARLY: usize = 256;
/// Most bytes (encoded) buffered for instances that have not started here yet.
pub const MAX_EARLY_BYTES: usize = 2 * MAX_MSG_BYTES;

const SID_LABEL: &[u8] = b"tandem/engine/v2/iknp/";
const SETTINGS_LABEL: &[u8] = b"tandem/engine/v2/settings";
const SELFTEST_LABEL: &[u8] = b"tandem/engine/v1/self-test-masks";
const COIN_LABEL: &[u8] = b"tandem/engine/v1/coin/";
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
enum Owner {
    User,
    SelfTest,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    New,
    Running,
    Failed,
}

/// An OT-consuming instance waiting for its OTs.
struct Waiting {
    instance: u32,
    job: JobId,
    owner: Owner,
    demand: RotDemand,
    kind: WaitKind,
}

enum WaitKind {
    Drelu {
        shares: Vec<Fp>,
    },
    Relu {
        shares: Vec<Fp>,
        threshold: Threshold,
    },
    B2a {
        bits: Vec<bool>,
    },
    Count {
        bits: Vec<bool>,
        k: u64,
    },
    Triples {
        n: usize,
        need: usize,
        mult_instance: u32,
        xs: Vec<Fp>,
        ys: Vec<Fp>,
    },
}

enum Active {
    Drelu {
        job: JobId,
        owner: Owner,
        proto: Box<Drelu>,
    },
    Triples {
        job: JobId,
        owner: Owner,
        triple_gen: Box<TripleGen>,
        need: usize,
        mult_instance: u32,
        xs: Vec<Fp>,
        ys: Vec<Fp>,
    },
    Mult {
        job: JobId,
        owner: Owner,
        proto: Box<Mult>,
    },
    Relu {
        job: JobId,
        proto: Box<Relu>,
    },
    B2a {
        job: JobId,
        proto: Box<Mux>,
    },
    Count {
        job: JobId,
        proto: Box<Count>,
    },
    Coin {
        job: JobId,
        state: CoinState,
    },
}

enum CoinState {
    /// Commitment sent, waiting for the peer's.
    Committed(Box<CoinToss>),
    /// Opening sent, waiting for the peer's.
    Revealed(Box<CoinRevealed>),
}

impl Active {
    fn protocol(&self) -> &'static str {
        match self {
            Active::Drelu { .. } => "DReLU",
            Active::Triples { .. } => "triples",
            Active::Mult { .. } => "mult",
            Active::Relu { .. } => "ReLU",
            Active::B2a { .. } => "B2A",
            Active::Count { .. } => "count",
            Active::Coin { .. } => "coin",
        }
    }
}

enum JobResult {
    Drelu(Vec<bool>),
    Mult(Vec<Fp>),
    Relu(ReluOutput),
    B2a(Vec<Fp>),
    Count(bool),
    Coin([u8; 32]),
}

struct SelfTest {
    job: JobId,
    ops: usize,
    drelu_job: JobId,
    mult_job: JobId,
    open_instance: u32,
    drelu_in: Vec<Fp>,
    xs: Vec<Fp>,
    ys: Vec<Fp>,
    drelu_out: Option<Vec<bool>>,
    mult_out: Option<Vec<Fp>>,
    sent_open: bool,
    peer_open: Option<OpenMsg>,
    done: bool,
}

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
    /// This party's receiving direction, before the peer's base-OT answer.
    setup: Option<IknpReceiverSetup>,
    /// This party's receiving direction, ready to extend.
    receiver: Option<IknpReceiver>,
    /// The peer's receiving direction (this party holds Δ).
    sender: Option<IknpSender>,
    /// Unused OTs: `sent` from the peer's direction, `received` from ours.
    pool: Rots,
    waiting: VecDeque<Waiting>,
    active: BTreeMap<u32, Active>,
    /// Mult instances whose triples are still being generated.
    pending_mults: BTreeSet<u32>,
    finished: BTreeSet<u32>,
    early: BTreeMap<u32, Vec<EngineMsg>>,
    early_len: usize,
    early_bytes: usize,
    /// Jobs queued here that the peer has not announced yet.
    own_jobs: BTreeMap<u32, (JobKind, usize)>,
    /// Jobs the peer announced that are not queued here yet.
    peer_jobs: BTreeMap<u32, (JobKind, usize)>,
    next_instance: u32,
    next_job: u32,
    selftest: Option<SelfTest>,
    outbox: Vec<EngineMsg>,
    outputs: VecDeque<EngineOutput>,
    stats: EngineStats,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("party", &self.party)
            .field("phase", &self.phase)
            .field("waiting", &self.waiting.len())
            .field("active", &self.active.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // The pools wipe themselves (`Rots` zeroizes on drop); the queued
        // jobs' shares are wiped here.
        self.wipe_queued();
        if let Some(st) = self.selftest.as_mut() {
            wipe_fps(&mut st.drelu_in);
            wipe_fps(&mut st.xs);
            wipe_fps(&mut st.ys);
        }
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

/// Where streamed messages go (`None`: they stay in the outbox).
type Sink<'a> = Option<&'a mut dyn FnMut(Vec<EngineMsg>)>;

/// The IKNP session id of the direction in which `receiver` receives,
/// bound to both engines' nonces (A's first).
fn sid(receiver: Party, nonce_a: &[u8; 32], nonce_b: &[u8; 32]) -> SessionId {
    let mut label = SID_LABEL.to_vec();
    label.push(match receiver {
        Party::A => b'A',
        Party::B => b'B',
    });
    label.extend_from_slice(nonce_a);
    label.extend_from_slice(nonce_b);
    SessionId::from_label(&label)
}

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

impl Engine {
    /// A new engine for `party`; all its randomness comes from `seed`
    /// (use [`Seed::random`] outside tests).
    pub fn new(party: Party, config: EngineConfig, seed: &Seed) -> Engine {
        Engine {
            party,
            config,
            rng: ChaCha12Rng::from_seed(seed.0),
            phase: Phase::New,
            nonce: [0; 32],
            peer_nonce: None,
            setup: None,
            receiver: None,
            sender: None,
            pool: Rots::default(),
            waiting: VecDeque::new(),
            active: BTreeMap::new(),
            pending_mults: BTreeSet::new(),
            finished: BTreeSet::new(),
            early: BTreeMap::new(),
            early_len: 0,
            early_bytes: 0,
            own_jobs: BTreeMap::new(),
            peer_jobs: BTreeMap::new(),
            next_instance: 1,
            next_job: 0,
            selftest: None,
            outbox: Vec::new(),
            outputs: VecDeque::new(),
            stats: EngineStats::default(),
        }
    }

    /// Which server this engine runs for.
    pub fn party(&self) -> Party {
        self.party
    }

    /// Counters so far.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Whether the engine failed (every later call errors).
    pub fn is_failed(&self) -> bool {
        self.phase == Phase::Failed
    }

    /// Whether no job is queued or running.
    pub fn is_idle(&self) -> bool {
        self.waiting.is_empty()
            && self.active.is_empty()
            && self.pending_mults.is_empty()
            && self.selftest.as_ref().is_none_or(|s| s.done)
    }

    /// Unused OTs in the pools: `(as sender, as receiver)`.
    pub fn pooled_ots(&self) -> (usize, usize) {
        (self.pool.sent.m0.len(), self.pool.received.mc.len())
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
        let r = self.start_inner();
        self.guard(r)?;
        Ok(self.take_outgoing())
    }

    /// Sends the hello (before anything queued by submissions); the base
    /// OTs follow when the peer's hello has arrived.
    fn start_inner(&mut self) -> Result<(), EngineError> {
        self.phase = Phase::Running;
        self.rng.fill_bytes(&mut self.nonce);
        let hello = EngineMsg::Hello(HelloMsg {
            nonce: self.nonce,
            settings: settings_digest(&self.config),
        });
        self.stats.entry(hello.protocol()).sent(hello.encoded_len());
        self.outbox.insert(0, hello);
        Ok(())
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
    fn session_ids(&self) -> Option<(SessionId, SessionId)> {
        Some((
            self.session_id(Party::A).ok()?,
            self.session_id(Party::B).ok()?,
        ))
    }

    /// Messages produced since the last call (by submissions, for instance).
    pub fn take_outgoing(&mut self) -> Vec<EngineMsg> {
        std::mem::take(&mut self.outbox)
    }

    /// The next finished job or self-test event.
    pub fn poll_output(&mut self) -> Option<EngineOutput> {
        self.outputs.pop_front()
    }

    /// Poisons the engine on an error. Unless the error is the peer's abort
    /// (or the engine had failed already), the outbox then holds exactly one
    /// [`EngineMsg::Abort`] for the peer, so it fails fast instead of waiting.
    fn guard<T>(&mut self, r: Result<T, EngineError>) -> Result<T, EngineError> {
        if let Err(e) = &r {
            let tell_peer = self.phase != Phase::Failed
                && !matches!(e, EngineError::PeerAborted(_) | EngineError::Failed);
            self.phase = Phase::Failed;
            self.outbox.clear();
            self.wipe_queued();
            self.waiting.clear();
            self.active.clear();
            self.early.clear();
            self.early_len = 0;
            self.early_bytes = 0;
            if tell_peer {
                self.send(EngineMsg::abort(&e.to_string()));
            }
        }
        r
    }

    /// Wipes the shares of jobs that have not started.
    fn wipe_queued(&mut self) {
        for w in &mut self.waiting {
            match &mut w.kind {
                WaitKind::Drelu { shares } | WaitKind::Relu { shares, .. } => wipe_fps(shares),
                WaitKind::B2a { bits } | WaitKind::Count { bits, .. } => bits.zeroize(),
                WaitKind::Triples { xs, ys, .. } => {
                    wipe_fps(xs);
                    wipe_fps(ys);
                }
            }
        }
    }

    fn check_live(&self) -> Result<(), EngineError> {
        if self.phase == Phase::Failed {
            return Err(EngineError::Failed);
        }
        Ok(())
    }

    fn alloc_instance(&mut self) -> u32 {
        let i = self.next_instance;
        self.next_instance = self.next_instance.wrapping_add(1).max(1);
        i
    }

    fn alloc_job(&mut self) -> JobId {
        let j = JobId(self.next_job);
        self.next_job = self.next_job.wrapping_add(1);
        j
    }

    fn check_job_size(&self, n: usize) -> Result<(), EngineError> {
        if n == 0 {
            return Err(EngineError::Job("a job needs at least one value"));
        }
        if n > self.config.max_job {
            return Err(EngineError::Job("job larger than EngineConfig::max_job"));
        }
        Ok(())
    }

    /// Queues a DReLU batch on this party's additive shares. The peer must
    /// submit the same job at the same position. Call [`Engine::take_outgoing`] after.
    pub fn submit_drelu(&mut self, shares: Vec<Fp>) -> Result<JobId, EngineError> {
        self.check_live()?;
        self.check_job_size(shares.len())?;
        let r = self.queue_drelu(Owner::User, shares);
        let job = self.guard(r)?;
        let r = self.pump(&mut None);
        self.guard(r)?;
        Ok(job)
    }

    /// Queues a batch of products `x_j · y_j` of shared values (this party's
    /// shares). The peer must submit the same job at the same position.
    /// Call [`Engine::take_outgoing`] after.
    pub fn submit_mult(&mut self, xs: Vec<Fp>, ys: Vec<Fp>) -> Result<JobId, EngineError> {
        self.check_live()?;
        self.check_job_size(xs.len())?;
        if ys.len() != xs.len() {
            return Err(EngineError::Job("x and y shares differ in length"));
        }
        let r = self.queue_mult(Owner::User, xs, ys);
        let job = self.guard(r)?;
        let r = self.pump(&mut None);
        self.guard(r)?;
        Ok(job)
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
        self.check_live()?;
        let kind = JobKind::Relu { threshold };
        let demand = self.job_demand(kind, values.len())?;
        let r = self.queue_waiting(
            kind,
            values.len(),
            demand,
            WaitKind::Relu {
                shares: values,
                threshold,
            },
        );
        self.after_submit(r)
    }

    /// Queues a conversion of XOR-shared bits into additive shares in F
    /// ([`EngineOutput::B2a`]). The peer must submit the same job at the same position.
    pub fn submit_b2a(&mut self, bits: Vec<bool>) -> Result<JobId, EngineError> {
        self.check_live()?;
        let demand = self.job_demand(JobKind::B2a, bits.len())?;
        let n = bits.len();
        let r = self.queue_waiting(JobKind::B2a, n, demand, WaitKind::B2a { bits });
        self.after_submit(r)
    }

    /// Queues a secure count: both parties learn only `[Σ b_i ≥ k]` for
    /// XOR-shared bits `b_i` ([`EngineOutput::Count`]). The peer must submit
    /// the same job (same k) at the same position.
    pub fn submit_count(&mut self, bits: Vec<bool>, k: u64) -> Result<JobId, EngineError> {
        self.check_live()?;
        let kind = JobKind::Count { k };
        let demand = self.job_demand(kind, bits.len())?;
        let n = bits.len();
        let r = self.queue_waiting(kind, n, demand, WaitKind::Count { bits, k });
        self.after_submit(r)
    }

    /// Tosses a joint coin (commit, then reveal; each party's contribution
    /// comes from its own CSPRNG): both parties get the same 32 bytes
    /// ([`EngineOutput::Coin`]). Consumes no OTs, so it runs as soon as both
    /// sides have submitted it. The peer must submit it at the same position.
    pub fn submit_coin(&mut self) -> Result<JobId, EngineError> {
        self.check_live()?;
        let r = self.queue_coin();
        self.after_submit(r)
    }

    fn after_submit(&mut self, r: Result<JobId, EngineError>) -> Result<JobId, EngineError> {
        let job = self.guard(r)?;
        let r = self.pump(&mut None);
        self.guard(r)?;
        Ok(job)
    }

    /// Validates a job (ours or the peer's announcement) and returns the OTs
    /// it consumes. Errors here are local refusals (they do not poison).
    fn job_demand(&self, kind: JobKind, n: usize) -> Result<RotDemand, EngineError> {
        self.check_job_size(n)?;
        Ok(match kind {
            JobKind::Drelu => self.config.drelu.rot_demand(n)?,
            JobKind::Mult => {
                let per_dir = (n + self.config.triple_margin) * OTS_PER_TRIPLE;
                RotDemand {
                    a_receives: per_dir,
                    b_receives: per_dir,
                }
            }
            JobKind::Relu { threshold } => {
                if threshold.value == i64::MAX
                    && matches!(threshold.relation, Relation::Gt | Relation::Le)
                {
                    return Err(EngineError::Job("threshold overflows i64"));
                }
                ReluParams {
                    drelu: self.config.drelu,
                    threshold,
                }
                .rot_demand(n)?
            }
            JobKind::B2a => b2a_params().rot_demand(n),
            JobKind::Count { k } => count_params(n, k)
                .rot_demand(true)
                .map_err(|_| EngineError::Job("count: n or k exceeds the comparison's bound"))?,
            JobKind::Coin => {
                if n != 1 {
                    return Err(EngineError::Job("a coin job tosses one coin"));
                }
                RotDemand::default()
            }
        })
    }

    fn queue_waiting(
        &mut self,
        kind: JobKind,
        n: usize,
        demand: RotDemand,
        wait: WaitKind,
    ) -> Result<JobId, EngineError> {
        let job = self.alloc_job();
        let instance = self.alloc_instance();
        self.announce(instance, kind, n)?;
        self.waiting.push_back(Waiting {
            instance,
            job,
            owner: Owner::User,
            demand,
            kind: wait,
        });
        Ok(job)
    }

    fn queue_coin(&mut self) -> Result<JobId, EngineError> {
        let job = self.alloc_job();
        let instance = self.alloc_instance();
        self.announce(instance, JobKind::Coin, 1)?;
        let mut label = COIN_LABEL.to_vec();
        label.extend_from_slice(&instance.to_le_bytes());
        let (toss, msg) = CoinToss::start(self.party, &label, &mut self.rng)?;
        self.send(EngineMsg::CoinCommit { instance, msg });
        self.active.insert(
            instance,
            Active::Coin {
                job,
                state: CoinState::Committed(Box::new(toss)),
            },
        );
        self.drain_early(instance)?;
        Ok(job)
    }

    /// Runs one step of a ping-pong instance (`msg = None`: its start) and
    /// sends the answer; returns the output when it is done, or puts the
    /// instance back.
    fn advance<P: PingPong>(
        &mut self,
        instance: u32,
        job: JobId,
        mut proto: Box<P>,
        msg: Option<P::Msg>,
        wrap: fn(u32, P::Msg) -> EngineMsg,
        store: fn(JobId, Box<P>) -> Active,
    ) -> Result<Option<P::Output>, EngineError>
    where
        EngineError: From<P::Error>,
    {
        let reply = match msg {
            None => proto.start(&mut self.rng)?,
            Some(m) => proto.receive(m, &mut self.rng)?,
        };
        if let Some(r) = reply {
            self.send(wrap(instance, r));
        }
        if proto.is_done() {
            let done = (*proto).finish()?;
            self.finished.insert(instance);
            Ok(Some(done.output))
        } else {
            self.active.insert(instance, store(job, proto));
            Ok(None)
        }
    }

    fn step_relu(
        &mut self,
        instance: u32,
        job: JobId,
        proto: Box<Relu>,
        msg: Option<crate::mpc::compare::relu::ReluMsg>,
    ) -> Result<(), EngineError> {
        let out = self.advance(
            instance,
            job,
            proto,
            msg,
            |instance, msg| EngineMsg::Relu { instance, msg },
            |job, proto| Active::Relu { job, proto },
        )?;
        if let Some(out) = out {
            self.stats.relu_ops += out.values.len() as u64;
            self.job_done(Owner::User, job, JobResult::Relu(out))?;
        }
        Ok(())
    }

    fn step_b2a(
        &mut self,
        instance: u32,
        job: JobId,
        proto: Box<Mux>,
        msg: Option<crate::mpc::compare::mux::MuxMsg>,
    ) -> Result<(), EngineError> {
        let out = self.advance(
            instance,
            job,
            proto,
            msg,
            |instance, msg| EngineMsg::B2a { instance, msg },
            |job, proto| Active::B2a { job, proto },
        )?;
        if let Some(out) = out {
            self.stats.b2a_ops += out.len() as u64;
            self.job_done(Owner::User, job, JobResult::B2a(out))?;
        }
        Ok(())
    }

    fn step_count(
        &mut self,
        instance: u32,
        job: JobId,
        proto: Box<Count>,
        msg: Option<crate::mpc::compare::count::CountMsg>,
    ) -> Result<(), EngineError> {
        let out = self.advance(
            instance,
            job,
            proto,
            msg,
            |instance, msg| EngineMsg::Count { instance, msg },
            |job, proto| Active::Count { job, proto },
        )?;
        if let Some(out) = out {
            self.stats.count_ops += 1;
            self.job_done(Owner::User, job, JobResult::Count(out))?;
        }
        Ok(())
    }

    /// Starts a self-test of `ops` DReLUs and `ops` multiplications on
    /// random shared inputs, opened and checked at the end (see the module
    /// docs); the peer joins when the request reaches it. Call
    /// [`Engine::take_outgoing`] (or [`Engine::start`]) after.
    pub fn submit_selftest(&mut self, ops: usize) -> Result<JobId, EngineError> {
        self.check_live()?;
        self.check_job_size(ops)?;
        if self.selftest.is_some() {
            return Err(EngineError::Job("one self-test per engine"));
        }
        if !self.is_idle() || !self.peer_jobs.is_empty() {
            return Err(EngineError::Job("a self-test needs an idle engine"));
        }
        let ops32 = u32::try_from(ops).map_err(|_| EngineError::Job("too many operations"))?;
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        self.send(EngineMsg::SelfTest(SelfTestMsg {
            instance: self.next_instance,
            ops: ops32,
            seed,
        }));
        let r = self.queue_selftest(ops, &seed);
        let job = self.guard(r)?;
        let r = self.pump(&mut None);
        self.guard(r)?;
        Ok(job)
    }

    /// Tells the peer about a queued job and checks it against the peer's
    /// announcement for the same instance, if that came first.
    fn announce(&mut self, instance: u32, kind: JobKind, n: usize) -> Result<(), EngineError> {
        let n32 = u32::try_from(n).map_err(|_| EngineError::Job("job too large"))?;
        self.send(EngineMsg::Job {
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

    fn on_job(&mut self, instance: u32, kind: JobKind, n: usize) -> Result<(), EngineError> {
        if let Err(e) = self.job_demand(kind, n) {
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

    fn queue_drelu(&mut self, owner: Owner, shares: Vec<Fp>) -> Result<JobId, EngineError> {
        let demand = self.config.drelu.rot_demand(shares.len())?;
        let job = self.alloc_job();
        let instance = self.alloc_instance();
        self.announce(instance, JobKind::Drelu, shares.len())?;
        self.waiting.push_back(Waiting {
            instance,
            job,
            owner,
            demand,
            kind: WaitKind::Drelu { shares },
        });
        Ok(job)
    }

    fn queue_mult(&mut self, owner: Owner, xs: Vec<Fp>, ys: Vec<Fp>) -> Result<JobId, EngineError> {
        let need = xs.len();
        let n = need + self.config.triple_margin;
        let per_dir = n * OTS_PER_TRIPLE;
        let job = self.alloc_job();
        let instance = self.alloc_instance();
        let mult_instance = self.alloc_instance();
        self.announce(instance, JobKind::Mult, need)?;
        self.pending_mults.insert(mult_instance);
        self.waiting.push_back(Waiting {
            instance,
            job,
            owner,
            demand: RotDemand {
                a_receives: per_dir,
                b_receives: per_dir,
            },
            kind: WaitKind::Triples {
                n,
                need,
                mult_instance,
                xs,
                ys,
            },
        });
        Ok(job)
    }

    fn queue_selftest(&mut self, ops: usize, seed: &[u8; 32]) -> Result<JobId, EngineError> {
        let job = self.alloc_job();
        let (drelu_in, xs, ys) = selftest_inputs(self.party, ops, seed, &mut self.rng);
        // DReLU first: its OTs come first, so its five sequential messages
        // overlap with the extension and generation of the triples.
        let drelu_job = self.queue_drelu(Owner::SelfTest, drelu_in.clone())?;
        let mult_job = self.queue_mult(Owner::SelfTest, xs.clone(), ys.clone())?;
        let open_instance = self.alloc_instance();
        self.selftest = Some(SelfTest {
            job,
            ops,
            drelu_job,
            mult_job,
            open_instance,
            drelu_in,
            xs,
            ys,
            drelu_out: None,
            mult_out: None,
            sent_open: false,
            peer_open: None,
            done: false,
        });
        Ok(job)
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

    fn frame_inner(&mut self, bytes: &[u8], sink: &mut Sink<'_>) -> Result<(), EngineError> {
        self.check_live()?;
        let msg = EngineMsg::decode(bytes).map_err(EngineError::from);
        let msg = self.guard(msg)?;
        if self.phase == Phase::New {
            let r = self.start_inner();
            self.guard(r)?;
            self.flush(sink);
        }
        self.stats.entry(msg.protocol()).received(msg.encoded_len());
        let r = self.handle_inner(msg);
        self.guard(r)?;
        self.flush(sink);
        let r = self.pump(sink);
        self.guard(r)
    }

    /// Hands the queued messages to the sink (if any).
    fn flush(&mut self, sink: &mut Sink<'_>) {
        if let Some(f) = sink.as_mut()
            && !self.outbox.is_empty()
        {
            f(std::mem::take(&mut self.outbox));
        }
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
            Phase::New => {
                let r = self.start_inner();
                self.guard(r)?;
            }
        }
        self.stats.entry(msg.protocol()).received(msg.encoded_len());
        let r = self.handle_inner(msg).and_then(|()| self.pump(&mut None));
        self.guard(r)?;
        Ok(self.take_outgoing())
    }

    fn send(&mut self, msg: EngineMsg) {
        self.stats.entry(msg.protocol()).sent(msg.encoded_len());
        self.outbox.push(msg);
    }

    fn handle_inner(&mut self, msg: EngineMsg) -> Result<(), EngineError> {
        let kind = msg.kind();
        if self.peer_nonce.is_none() && !matches!(msg, EngineMsg::Hello(_) | EngineMsg::Abort(_)) {
            return Err(EngineError::Unexpected {
                got: kind,
                why: "the peer's hello must come first",
            });
        }
        match msg {
            EngineMsg::Hello(m) => {
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
                let (setup, m1) = IknpReceiver::setup(&mut self.rng, sid)?;
                self.setup = Some(setup);
                self.send(EngineMsg::BaseOtSender(m1));
            }
            EngineMsg::BaseOtSender(m) => {
                if self.sender.is_some() {
                    return Err(EngineError::Unexpected {
                        got: kind,
                        why: "the peer's direction is already set up",
                    });
                }
                let sid = self.session_id(self.party.other())?;
                let (sender, reply) = IknpSender::setup(&mut self.rng, sid, &m)?;
                self.sender = Some(sender);
                self.send(EngineMsg::BaseOtReceiver(reply));
            }
            EngineMsg::BaseOtReceiver(m) => {
                let Some(setup) = self.setup.take() else {
                    return Err(EngineError::Unexpected {
                        got: kind,
                        why: "this party's direction is not waiting for base OTs",
                    });
                };
                self.receiver = Some(setup.finish(&m)?);
            }
            EngineMsg::Extend(m) => {
                if self.sender.is_none() {
                    return Err(EngineError::Unexpected {
                        got: kind,
                        why: "the peer's direction is not set up",
                    });
                }
                let count = m.count();
                let pool = self.pool.sent.m0.len();
                let allowed = self.peer_extend_allowance().min(self.config.max_pool);
                if count > self.config.max_extend || pool.saturating_add(count) > allowed {
                    return Err(EngineError::ExtendLimit {
                        count,
                        pool,
                        allowed,
                    });
                }
                let Some(sender) = self.sender.as_mut() else {
                    return Ok(());
                };
                let out = sender.receive_rot(&m, count)?;
                // Room for everything the announced jobs still need, at once.
                let room = allowed.saturating_sub(pool).max(count);
                reserve_zeroizing(&mut self.pool.sent.m0, room);
                reserve_zeroizing(&mut self.pool.sent.m1, room);
                self.pool.sent.m0.extend_from_slice(&out.m0);
                self.pool.sent.m1.extend_from_slice(&out.m1);
                let mut out = out;
                out.zeroize();
                self.stats.ots_as_sender += count as u64;
            }
            EngineMsg::SelfTest(m) => {
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
                self.check_job_size(ops)?;
                self.queue_selftest(ops, &m.seed)?;
            }
            EngineMsg::Abort(reason) => return Err(EngineError::PeerAborted(reason)),
            EngineMsg::Job { instance, kind, n } => self.on_job(instance, kind, n as usize)?,
            EngineMsg::Open { instance, msg } => self.on_open(instance, msg)?,
            m @ (EngineMsg::Triples { .. }
            | EngineMsg::Mult { .. }
            | EngineMsg::Drelu { .. }
            | EngineMsg::Relu { .. }
            | EngineMsg::B2a { .. }
            | EngineMsg::Count { .. }
            | EngineMsg::CoinCommit { .. }
            | EngineMsg::CoinReveal { .. }) => self.route(m)?,
        }
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
            self.job_demand(kind, n)
                .map(|d| d.for_party(party).0)
                .unwrap_or_default()
        });
        queued
            .chain(announced)
            .fold(0usize, usize::saturating_add)
            .saturating_add(127)
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
        let bytes = msg.encoded_len();
        if self.early_len >= MAX_EARLY || self.early_bytes.saturating_add(bytes) > MAX_EARLY_BYTES {
            return Err(EngineError::TooManyEarly);
        }
        self.early_len += 1;
        self.early_bytes += bytes;
        self.early.entry(instance).or_default().push(msg);
        Ok(())
    }

    fn drain_early(&mut self, instance: u32) -> Result<(), EngineError> {
        if let Some(msgs) = self.early.remove(&instance) {
            self.early_len = self.early_len.saturating_sub(msgs.len());
            let bytes: usize = msgs.iter().map(EngineMsg::encoded_len).sum();
            self.early_bytes = self.early_bytes.saturating_sub(bytes);
            for m in msgs {
                if !self.active.contains_key(&instance) {
                    return Err(EngineError::FinishedInstance { instance });
                }
                self.deliver(instance, m)?;
            }
        }
        Ok(())
    }

    fn deliver(&mut self, instance: u32, msg: EngineMsg) -> Result<(), EngineError> {
        let Some(active) = self.active.remove(&instance) else {
            return Err(EngineError::FinishedInstance { instance });
        };
        let expected = active.protocol();
        match (active, msg) {
            (
                Active::Drelu {
                    job,
                    owner,
                    mut proto,
                },
                EngineMsg::Drelu { msg, .. },
            ) => {
                if let Some(reply) = proto.receive(msg, &mut self.rng)? {
                    self.send(EngineMsg::Drelu {
                        instance,
                        msg: reply,
                    });
                }
                self.after_drelu(instance, job, owner, proto)?;
            }
            (
                Active::Triples {
                    job,
                    owner,
                    triple_gen,
                    need,
                    mult_instance,
                    xs,
                    ys,
                },
                EngineMsg::Triples { msg, .. },
            ) => {
                let done = triple_gen.finish(&msg)?;
                let mut triples = done.output;
                self.stats.triples_made += triples.len() as u64;
                self.finished.insert(instance);
                if triples.len() < need {
                    return Err(EngineError::TriplesShort {
                        got: triples.len(),
                        need,
                    });
                }
                triples.truncate(need);
                let (mut xs, mut ys) = (xs, ys);
                let r = self.start_mult(job, owner, mult_instance, &xs, &ys, triples);
                wipe_fps(&mut xs);
                wipe_fps(&mut ys);
                r?;
            }
            (Active::Relu { job, proto }, EngineMsg::Relu { msg, .. }) => {
                self.step_relu(instance, job, proto, Some(msg))?;
            }
            (Active::B2a { job, proto }, EngineMsg::B2a { msg, .. }) => {
                self.step_b2a(instance, job, proto, Some(msg))?;
            }
            (Active::Count { job, proto }, EngineMsg::Count { msg, .. }) => {
                self.step_count(instance, job, proto, Some(msg))?;
            }
            (
                Active::Coin {
                    job,
                    state: CoinState::Committed(toss),
                },
                EngineMsg::CoinCommit { msg, .. },
            ) => {
                let (revealed, reveal) = toss.reveal(&msg);
                self.send(EngineMsg::CoinReveal {
                    instance,
                    msg: reveal,
                });
                self.active.insert(
                    instance,
                    Active::Coin {
                        job,
                        state: CoinState::Revealed(Box::new(revealed)),
                    },
                );
            }
            (
                Active::Coin {
                    job,
                    state: CoinState::Revealed(revealed),
                },
                EngineMsg::CoinReveal { msg, .. },
            ) => {
                let done = revealed.finish(&msg)?;
                self.finished.insert(instance);
                self.stats.coins += 1;
                let coin = done.output.0;
                self.job_done(Owner::User, job, JobResult::Coin(coin))?;
            }
            (Active::Mult { job, owner, proto }, EngineMsg::Mult { msg, .. }) => {
                let done = proto.finish(&msg)?;
                self.finished.insert(instance);
                self.stats.mult_ops += done.output.len() as u64;
                self.job_done(owner, job, JobResult::Mult(done.output))?;
            }
            (_, msg) => {
                return Err(EngineError::WrongProtocol {
                    instance,
                    expected,
                    got: msg.kind(),
                });
            }
        }
        Ok(())
    }

    fn after_drelu(
        &mut self,
        instance: u32,
        job: JobId,
        owner: Owner,
        proto: Box<Drelu>,
    ) -> Result<(), EngineError> {
        if proto.is_done() {
            let done = proto.finish()?;
            self.finished.insert(instance);
            self.stats.drelu_ops += done.output.len() as u64;
            self.job_done(owner, job, JobResult::Drelu(done.output))
        } else {
            self.active
                .insert(instance, Active::Drelu { job, owner, proto });
            Ok(())
        }
    }

    fn start_mult(
        &mut self,
        job: JobId,
        owner: Owner,
        instance: u32,
        xs: &[Fp],
        ys: &[Fp],
        triples: Vec<Triple>,
    ) -> Result<(), EngineError> {
        let (proto, msg) = Mult::start(self.party, xs, ys, triples)?;
        self.pending_mults.remove(&instance);
        self.send(EngineMsg::Mult { instance, msg });
        self.active.insert(
            instance,
            Active::Mult {
                job,
                owner,
                proto: Box::new(proto),
            },
        );
        self.drain_early(instance)
    }

    /// Extends this party's receiving direction for the queued demand, then
    /// starts every instance whose OTs are in both pools, in order.
    fn pump(&mut self, sink: &mut Sink<'_>) -> Result<(), EngineError> {
        if self.phase != Phase::Running {
            return Ok(());
        }
        loop {
            self.top_up(sink)?;
            if !self.start_ready()? {
                return Ok(());
            }
        }
    }

    fn top_up(&mut self, sink: &mut Sink<'_>) -> Result<(), EngineError> {
        let party = self.party;
        if self.receiver.is_none() {
            return Ok(());
        }
        let mut need = 0usize;
        for (k, w) in self.waiting.iter().enumerate() {
            let (_, r) = w.demand.for_party(party);
            if k > 0 && need.saturating_add(r) > self.config.lookahead_ots {
                break;
            }
            need = need.saturating_add(r);
        }
        let have = self.pool.received.mc.len();
        if need <= have {
            return Ok(());
        }
        let mut deficit = (need - have).next_multiple_of(128);
        reserve_zeroizing(&mut self.pool.received.choices, deficit);
        reserve_zeroizing(&mut self.pool.received.mc, deficit);
        let step = self
            .config
            .extend_chunk
            .min(self.config.max_extend)
            .max(128)
            / 128
            * 128;
        while deficit > 0 {
            let count = deficit.min(step);
            let Some(receiver) = self.receiver.as_mut() else {
                return Ok(());
            };
            let (out, msg) = receiver.extend_rot(&mut self.rng, count)?;
            let mut out = out;
            self.pool.received.choices.extend_from_slice(&out.choices);
            self.pool.received.mc.extend_from_slice(&out.mc);
            out.zeroize();
            self.stats.ots_as_receiver += count as u64;
            self.stats.iknp.sent(HEADER_LEN + msg.encoded_len());
            self.outbox.push(EngineMsg::Extend(msg));
            self.flush(sink);
            deficit -= count;
        }
        Ok(())
    }

    fn start_ready(&mut self) -> Result<bool, EngineError> {
        let mut started = false;
        while let Some(front) = self.waiting.front() {
            let (s, r) = front.demand.for_party(self.party);
            if self.pool.sent.m0.len() < s || self.pool.received.mc.len() < r {
                break;
            }
            let Some(w) = self.waiting.pop_front() else {
                break;
            };
            let rots = self.pool.take_front(self.party, w.demand)?;
            self.start_instance(w, rots)?;
            started = true;
        }
        Ok(started)
    }

    fn start_instance(&mut self, w: Waiting, rots: Rots) -> Result<(), EngineError> {
        let Waiting {
            instance,
            job,
            owner,
            demand,
            kind,
        } = w;
        match kind {
            WaitKind::Drelu { shares } => {
                self.stats.drelu_rots += demand.total() as u64;
                let mut shares = shares;
                let proto = Drelu::new(self.party, &self.config.drelu, &shares, rots);
                wipe_fps(&mut shares);
                let mut proto = Box::new(proto?);
                if let Some(m) = proto.start(&mut self.rng)? {
                    self.send(EngineMsg::Drelu { instance, msg: m });
                }
                self.after_drelu(instance, job, owner, proto)?;
            }
            WaitKind::Relu { shares, threshold } => {
                self.stats.relu_rots += demand.total() as u64;
                let params = ReluParams {
                    drelu: self.config.drelu,
                    threshold,
                };
                let proto = Box::new(Relu::new(self.party, &params, shares, rots)?);
                self.step_relu(instance, job, proto, None)?;
            }
            WaitKind::B2a { bits } => {
                self.stats.b2a_rots += demand.total() as u64;
                let proto = Box::new(Mux::new(self.party, b2a_params(), bits, Vec::new(), rots)?);
                self.step_b2a(instance, job, proto, None)?;
            }
            WaitKind::Count { bits, k } => {
                self.stats.count_rots += demand.total() as u64;
                let params = count_params(bits.len(), k);
                let proto = Box::new(Count::new(
                    self.party,
                    &params,
                    CountInput::Xor(bits),
                    rots,
                )?);
                self.step_count(instance, job, proto, None)?;
            }
            WaitKind::Triples {
                n,
                need,
                mult_instance,
                xs,
                ys,
            } => {
                self.stats.triple_rots += demand.total() as u64;
                let mut rots = rots;
                let sent = std::mem::take(&mut rots.sent);
                let received = std::mem::take(&mut rots.received);
                let (triple_gen, msg) = TripleGen::start(n, sent, received, &mut self.rng)?;
                self.send(EngineMsg::Triples { instance, msg });
                self.active.insert(
                    instance,
                    Active::Triples {
                        job,
                        owner,
                        triple_gen: Box::new(triple_gen),
                        need,
                        mult_instance,
                        xs,
                        ys,
                    },
                );
            }
        }
        self.drain_early(instance)
    }

    fn job_done(&mut self, owner: Owner, job: JobId, result: JobResult) -> Result<(), EngineError> {
        match owner {
            Owner::User => {
                self.outputs.push_back(match result {
                    JobResult::Drelu(shares) => EngineOutput::Drelu { job, shares },
                    JobResult::Mult(shares) => EngineOutput::Mult { job, shares },
                    JobResult::Relu(out) => EngineOutput::Relu {
                        job,
                        gated: out.values,
                        bits: out.bits,
                    },
                    JobResult::B2a(shares) => EngineOutput::B2a { job, shares },
                    JobResult::Count(at_least_k) => EngineOutput::Count { job, at_least_k },
                    JobResult::Coin(coin) => EngineOutput::Coin { job, coin },
                });
                Ok(())
            }
            Owner::SelfTest => {
                let Some(st) = self.selftest.as_mut() else {
                    return Err(EngineError::Unexpected {
                        got: "self-test result",
                        why: "no self-test is running",
                    });
                };
                match result {
                    JobResult::Drelu(out) if job == st.drelu_job => st.drelu_out = Some(out),
                    JobResult::Mult(out) if job == st.mult_job => st.mult_out = Some(out),
                    _ => {
                        return Err(EngineError::Unexpected {
                            got: "self-test result",
                            why: "it belongs to no self-test job",
                        });
                    }
                }
                self.selftest_progress()
            }
        }
    }

    fn on_open(&mut self, instance: u32, msg: OpenMsg) -> Result<(), EngineError> {
        let Some(st) = self.selftest.as_mut() else {
            return Err(EngineError::Unexpected {
                got: "open",
                why: "no self-test is running",
            });
        };
        if instance != st.open_instance || st.peer_open.is_some() || st.done {
            return Err(EngineError::Unexpected {
                got: "open",
                why: "not this self-test's opening, or a second one",
            });
        }
        for len in [
            msg.drelu_in.len(),
            msg.drelu_out.len(),
            msg.mult_x.len(),
            msg.mult_y.len(),
            msg.mult_z.len(),
        ] {
            if len != st.ops {
                return Err(EngineError::OpenCount {
                    expected: st.ops,
                    got: len,
                });
            }
        }
        st.peer_open = Some(msg);
        self.selftest_progress()
    }

    fn selftest_progress(&mut self) -> Result<(), EngineError> {
        let Some(st) = self.selftest.as_mut() else {
            return Ok(());
        };
        let (Some(dout), Some(mout)) = (st.drelu_out.as_ref(), st.mult_out.as_ref()) else {
            return Ok(());
        };
        if st.done {
            return Ok(());
        }
        let open = (!st.sent_open).then(|| OpenMsg {
            drelu_in: st.drelu_in.clone(),
            drelu_out: dout.clone(),
            mult_x: st.xs.clone(),
            mult_y: st.ys.clone(),
            mult_z: mout.clone(),
        });
        let report = st.peer_open.as_ref().map(|peer| {
            let mut report = SelfTestReport {
                ops: st.ops,
                drelu_wrong: 0,
                mult_wrong: 0,
            };
            let drelu = st
                .drelu_in
                .iter()
                .zip(dout)
                .zip(&peer.drelu_in)
                .zip(&peer.drelu_out);
            for (((&v0, &b0), &v1), &b1) in drelu {
                if (b0 ^ b1) != ((v0 + v1).to_centered() >= 0) {
                    report.drelu_wrong += 1;
                }
            }
            let own = st.xs.iter().zip(&st.ys).zip(mout);
            let theirs = peer.mult_x.iter().zip(&peer.mult_y).zip(&peer.mult_z);
            for (((&x0, &y0), &z0), ((&x1, &y1), &z1)) in own.zip(theirs) {
                if (x0 + x1) * (y0 + y1) != z0 + z1 {
                    report.mult_wrong += 1;
                }
            }
            report
        });
        let (job, ops, instance) = (st.job, st.ops, st.open_instance);
        if open.is_some() {
            st.sent_open = true;
        }
        if report.is_some() {
            st.done = true;
        }
        if let Some(msg) = open {
            self.outputs
                .push_back(EngineOutput::SelfTestComputed { job, ops });
            self.send(EngineMsg::Open { instance, msg });
        }
        if let Some(report) = report {
            self.outputs
                .push_back(EngineOutput::SelfTest { job, report });
        }
        Ok(())
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

/// B2A jobs: the bit × value protocol in B2A mode, A speaks first.
fn b2a_params() -> MuxParams {
    MuxParams {
        mode: MuxMode::B2a,
        first: Party::A,
    }
}

fn count_params(n: usize, k: u64) -> CountParams {
    CountParams {
        k,
        n,
        digit_bits: COUNT_DIGIT_BITS,
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

/// This party's self-test inputs: DReLU shares (bounded values, see the
/// module docs) and multiplication shares `(xs, ys)`.
fn selftest_inputs(
    party: Party,
    ops: usize,
    seed: &[u8; 32],
    rng: &mut ChaCha12Rng,
) -> (Vec<Fp>, Vec<Fp>, Vec<Fp>) {
    let mut h = Sha256::new();
    h.update(SELFTEST_LABEL);
    h.update(seed);
    let mut masks = ChaCha12Rng::from_seed(h.finalize().into());
    let half = |i: usize| -> u64 { if i.is_multiple_of(8) { 4 } else { 1 << 39 } };
    let drelu = (0..ops)
        .map(|i| {
            let r = random_fp(&mut masks);
            let h = half(i);
            let u = Fp::from_i64((rng.next_u64() % (2 * h)) as i64 - h as i64);
            match party {
                Party::A => u + r,
                Party::B => u - r,
            }
        })
        .collect();
    let xs = (0..ops).map(|_| random_fp(rng)).collect();
    let ys = (0..ops).map(|_| random_fp(rng)).collect();
    (drelu, xs, ys)
}
