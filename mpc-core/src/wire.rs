//! Wire messages and their codec.
//!
//! A frame body is `version: u16 (big-endian) ‖ bincode-2(serde) message`. The
//! transport adds a 4-byte length prefix and enforces the maximum frame size
//! before allocating; [`decode`] re-checks the size, checks the version before
//! touching the body, rejects trailing bytes, and validates every vector
//! length against [`Limits::max_dim`]. Bulk vectors travel as byte strings
//! (`serde_bytes`) and are parsed by the layer that knows their meaning
//! (e.g. `protocols::robust::submit::half_b` checks ranges).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::fixed::FixedParams;
use crate::prg::Seed;
use crate::share::{FIELD_BYTES, RING_SHARE_BYTES};

/// The protocol version this build speaks. 3: `mpc_core::prg` streams are
/// ChaCha8 under a `v2` key label (seeds of version 2 expand differently).
/// 4: secure-fedavg runs through the validity-proved submission; its
/// unproved messages (`Upload`, `OpenRound`, `HaveSeed`, `CloseRound`,
/// `Accepted`, `RoundSum`) are gone.
pub const PROTOCOL_VERSION: u16 = 4;
/// Default maximum frame size: 64 MiB.
pub const DEFAULT_MAX_FRAME: usize = 64 << 20;
/// Default maximum model dimension: 2^21 coordinates.
pub const DEFAULT_MAX_DIM: usize = 1 << 21;
/// Longest accepted reason string.
pub const MAX_REASON: usize = 1024;
/// Longest accepted list of worker ids in one message.
pub const MAX_WORKERS: usize = 1 << 20;

/// Decoder limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame body in bytes.
    pub max_frame: usize,
    /// Largest vector dimension.
    pub max_dim: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: DEFAULT_MAX_FRAME,
            max_dim: DEFAULT_MAX_DIM,
        }
    }
}

/// Codec errors. Messages describe structure only, never contents.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum WireError {
    /// Frame above the size limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Frame length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Frame shorter than the version header.
    #[error("frame of {len} bytes is too short for a header")]
    Truncated {
        /// Frame length.
        len: usize,
    },
    /// Another protocol version.
    #[error("protocol version {got} is not supported (this build speaks {expected})")]
    Version {
        /// Version received.
        got: u16,
        /// Version expected.
        expected: u16,
    },
    /// The body does not decode as the expected message type.
    #[error("malformed {kind} message: {detail}")]
    Malformed {
        /// Message family.
        kind: &'static str,
        /// Decoder detail (structural).
        detail: String,
    },
    /// Bytes after the message.
    #[error("{extra} trailing bytes after the {kind} message")]
    Trailing {
        /// Message family.
        kind: &'static str,
        /// Extra bytes.
        extra: usize,
    },
    /// A vector longer than the dimension limit, or with a bad byte length.
    #[error("field `{field}` has {len} entries; limit is {max}")]
    Dimension {
        /// Field name.
        field: &'static str,
        /// Entries.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Encoding failed (should not happen for well-formed values).
    #[error("encoding failed: {0}")]
    Encode(String),
}

/// How the servers combine updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Aggregation {
    /// Workers clip to L2 ≤ C, secret-share Δ/C and prove ‖Δ/C‖ ≤ 1 (plus
    /// rounding slack); the valid updates are summed with weight 1 and only
    /// the sum is reconstructed.
    SecureFedAvg,
    /// Workers send (clipped) updates to A in the clear; B is not involved.
    PlainFedAvg,
    /// FLTrust in the clear (baseline): workers send unit-norm updates to A,
    /// which weights them by ReLU(cos) with its proxy-set update; no B.
    PlainFltrust,
    /// FLTrust on secret shares: unit-norm updates proved valid, trust
    /// ReLU(cos) against A's proxy update, trust-weighted average.
    SecureFltrust,
    /// Like `SecureFltrust`, but a secret keep-bit [cos ≥ τ] replaces the
    /// weight: the kept updates are averaged with equal weight.
    SecureFilter,
}

impl Aggregation {
    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Aggregation::SecureFedAvg => "secure-fedavg",
            Aggregation::PlainFedAvg => "plain-fedavg",
            Aggregation::PlainFltrust => "plain-fltrust",
            Aggregation::SecureFltrust => "secure-fltrust",
            Aggregation::SecureFilter => "secure-filter",
        }
    }

    /// Every rule, in the order the command line lists them.
    pub const ALL: [Aggregation; 5] = [
        Aggregation::SecureFltrust,
        Aggregation::SecureFilter,
        Aggregation::SecureFedAvg,
        Aggregation::PlainFedAvg,
        Aggregation::PlainFltrust,
    ];

    /// Whether the rule weights updates by their cosine with server A's
    /// reference (proxy-set) update: workers send unit-norm updates, A computes
    /// the reference each round, and the cosine threshold and `k_min` apply.
    pub fn is_trust_based(self) -> bool {
        matches!(
            self,
            Aggregation::PlainFltrust | Aggregation::SecureFltrust | Aggregation::SecureFilter
        )
    }

    /// Whether server B takes part. Every secure rule runs through the
    /// validity-proved submission and the servers' pipeline
    /// (`protocols::robust`).
    pub fn is_secure(self) -> bool {
        matches!(
            self,
            Aggregation::SecureFedAvg | Aggregation::SecureFltrust | Aggregation::SecureFilter
        )
    }
}

impl core::str::FromStr for Aggregation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "secure-fedavg" => Ok(Aggregation::SecureFedAvg),
            "plain-fedavg" => Ok(Aggregation::PlainFedAvg),
            "plain-fltrust" => Ok(Aggregation::PlainFltrust),
            "secure-fltrust" => Ok(Aggregation::SecureFltrust),
            "secure-filter" => Ok(Aggregation::SecureFilter),
            other => Err(format!(
                "unknown aggregation `{other}` (available: {})",
                Aggregation::ALL.map(Aggregation::name).join(", ")
            )),
        }
    }
}

impl core::fmt::Display for Aggregation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Session parameters A tells every worker (and B) once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Model kind (e.g. `mlp:64`); parsed by the learning layer.
    pub model: String,
    /// Number of model parameters.
    pub dim: u32,
    /// Ring width and fixed-point precision.
    pub fixed: FixedParams,
    /// Aggregation rule.
    pub aggregation: Aggregation,
    /// Clipping bound C on the L2 norm of an update; 0 disables clipping (plain only).
    /// Trust-based rules normalise to unit norm instead and ignore it.
    pub clip: f32,
    /// Local training every worker runs (and, for trust-based rules, server A
    /// on its proxy set: the reference must be trained the same way).
    pub train: TrainParams,
    /// Trust-based rules: cosine threshold τ (`None`: ReLU(cos) only).
    pub cos_threshold: Option<f32>,
    /// Trust-based rules: fewest positive-trust workers for a round to update
    /// the model (docs/PROTOCOL.md §3, default 3).
    pub k_min: u32,
}

/// Local training hyper-parameters announced by server A (minibatch SGD).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    /// Passes over the local data per round.
    pub epochs: u32,
    /// Examples per SGD step.
    pub batch_size: u32,
    /// SGD step size.
    pub lr: f32,
}

/// Worker → server A.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum WorkerToA {
    /// First message on the connection.
    Hello {
        /// Claimed worker id (must match the enrolled certificate).
        worker: u32,
    },
    /// A round submission.
    Submit {
        /// Round id.
        round: u64,
        /// Claimed worker id.
        worker: u32,
        /// The payload.
        payload: SubmitA,
    },
}

/// What a worker sends A in a round.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum SubmitA {
    /// Secure rules: the seed A's shares are expanded from.
    Seed(Seed),
    /// Plain rules: the update itself, little-endian f32s.
    Plain(#[serde(with = "serde_bytes")] Vec<u8>),
}

/// Server A → worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum AToWorker {
    /// Reply to `Hello`.
    Welcome {
        /// Session parameters.
        session: SessionInfo,
    },
    /// A round starts; the global model as little-endian f32s.
    Announce {
        /// Round id.
        round: u64,
        /// Model parameters.
        #[serde(with = "serde_bytes")]
        model: Vec<u8>,
    },
    /// Submission taken.
    Ack {
        /// Round id.
        round: u64,
    },
    /// Submission or request refused.
    Reject {
        /// Round id (0 outside rounds).
        round: u64,
        /// Human-readable reason.
        reason: String,
    },
    /// The training run is over.
    Finished,
}

/// Worker → server B. `Debug` shows sizes, never share bytes.
#[derive(Clone, Serialize, Deserialize)]
pub enum WorkerToB {
    /// First message on the connection.
    Hello {
        /// Claimed worker id.
        worker: u32,
    },
    /// B's half of a secure-rule submission (`protocols::robust::submit`).
    Robust {
        /// Round id.
        round: u64,
        /// Claimed worker id.
        worker: u32,
        /// Ring shares bₖ, 3 bytes each.
        #[serde(with = "serde_bytes")]
        b: Vec<u8>,
        /// Carry shares κ_B, 8 bytes each.
        #[serde(with = "serde_bytes")]
        kappa_b: Vec<u8>,
        /// Range-bit shares β_B, 8 bytes each.
        #[serde(with = "serde_bytes")]
        beta_b: Vec<u8>,
        /// B's share of the validity proof, 8 bytes each.
        #[serde(with = "serde_bytes")]
        proof_b: Vec<u8>,
        /// Dealt vector W = s·X_A − M, 8 bytes each (empty for secure-fedavg).
        #[serde(with = "serde_bytes")]
        w: Vec<u8>,
        /// Dealt vector Z = s′·X_B + R, 8 bytes each (empty for secure-fedavg).
        #[serde(with = "serde_bytes")]
        z: Vec<u8>,
        /// The scalar s (a field element; 0 for secure-fedavg).
        s: u64,
        /// The blind of B's commitment.
        blind: [u8; 32],
    },
}

impl core::fmt::Debug for WorkerToB {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WorkerToB::Hello { worker } => f.debug_struct("Hello").field("worker", worker).finish(),
            WorkerToB::Robust {
                round, worker, b, ..
            } => f
                .debug_struct("Robust")
                .field("round", round)
                .field("worker", worker)
                .field("b_bytes", &b.len())
                .finish_non_exhaustive(),
        }
    }
}

/// Server B → worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum BToWorker {
    /// Reply to `Hello`.
    Welcome,
    /// Upload taken (it still needs A's half to count).
    Ack {
        /// Round id.
        round: u64,
    },
    /// Upload refused.
    Reject {
        /// Round id.
        round: u64,
        /// Reason.
        reason: String,
    },
}

/// Server A → server B. `Debug` never shows engine payloads.
#[derive(Clone, Serialize, Deserialize)]
pub enum AToB {
    /// Session start.
    Hello {
        /// Session parameters.
        session: SessionInfo,
    },
    /// A message of the 2PC engine (`protocols::mpc::engine`), encoded and
    /// validated by the engine; here only its length is bounded (≤ max frame).
    Engine(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Secure rules: round `round` opens (ids strictly increase); trust
    /// rules send the reference direction G = round(ĝ₀·2^f) (little-endian
    /// i32s), bit-identical at both servers; secure-fedavg sends none (empty).
    OpenRobust {
        /// Round id.
        round: u64,
        /// G, 4 bytes per coordinate.
        #[serde(with = "serde_bytes")]
        reference: Vec<u8>,
        /// The workers the round is announced to (ascending); B refuses
        /// uploads from anyone else before parsing them.
        participants: Vec<u32>,
    },
    /// Robust rules: A holds `worker`'s seed; `commit` is c_A.
    SeedCommit {
        /// Round id.
        round: u64,
        /// Worker id.
        worker: u32,
        /// A's commitment to its half.
        commit: [u8; 32],
    },
    /// Robust rules: the next batch of workers and A's verifier shares.
    Batch {
        /// Round id.
        round: u64,
        /// Batch number in the round.
        batch: u32,
        /// Workers, in batch order.
        workers: Vec<u32>,
        /// A's verifier shares, concatenated (8 bytes per element).
        #[serde(with = "serde_bytes")]
        verifiers: Vec<u8>,
    },
    /// Robust rules: A's shares of the linear-check differences.
    Checks(Exchange),
    /// Robust rules: A's cross-term scalars t_A − s′.
    Cross(Exchange),
    /// Robust rules: no more batches; A's share of the positive-trust count.
    CloseRobust {
        /// Round id.
        round: u64,
        /// A's share of Σ bᵢ (a field element).
        positive: u64,
    },
}

/// A batch-scoped vector of field elements exchanged between the servers.
#[derive(Clone, Serialize, Deserialize)]
pub struct Exchange {
    /// Round id.
    pub round: u64,
    /// Batch number.
    pub batch: u32,
    /// Field elements, 8 bytes each.
    #[serde(with = "serde_bytes")]
    pub values: Vec<u8>,
}

impl core::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Exchange")
            .field("round", &self.round)
            .field("batch", &self.batch)
            .field("bytes", &self.values.len())
            .finish_non_exhaustive()
    }
}

impl core::fmt::Debug for AToB {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AToB::Hello { session } => f.debug_struct("Hello").field("session", session).finish(),
            AToB::Engine(bytes) => f
                .debug_struct("Engine")
                .field("bytes", &bytes.len())
                .finish_non_exhaustive(),
            AToB::OpenRobust {
                round,
                reference,
                participants,
            } => f
                .debug_struct("OpenRobust")
                .field("round", round)
                .field("reference_bytes", &reference.len())
                .field("participants", &participants.len())
                .finish(),
            AToB::SeedCommit { round, worker, .. } => f
                .debug_struct("SeedCommit")
                .field("round", round)
                .field("worker", worker)
                .finish_non_exhaustive(),
            AToB::Batch {
                round,
                batch,
                workers,
                verifiers,
            } => f
                .debug_struct("Batch")
                .field("round", round)
                .field("batch", batch)
                .field("workers", workers)
                .field("verifier_bytes", &verifiers.len())
                .finish(),
            AToB::Checks(x) => f.debug_tuple("Checks").field(x).finish(),
            AToB::Cross(x) => f.debug_tuple("Cross").field(x).finish(),
            AToB::CloseRobust { round, .. } => f
                .debug_struct("CloseRobust")
                .field("round", round)
                .finish_non_exhaustive(),
        }
    }
}

/// Server B → server A. `Debug` never shows B's share of a sum.
#[derive(Clone, Serialize, Deserialize)]
pub enum BToA {
    /// Reply to `Hello`: B is ready; the last round B revealed (0 if none).
    Ready {
        /// Highest revealed round id.
        last_revealed: u64,
    },
    /// The round is open at B; A may announce it to workers now.
    RoundOpened {
        /// Round id.
        round: u64,
    },
    /// `worker`'s upload was refused.
    Rejected {
        /// Round id.
        round: u64,
        /// Worker id.
        worker: u32,
        /// Reason.
        reason: String,
    },
    /// B refuses to open, close or reveal the round.
    Refused {
        /// Round id.
        round: u64,
        /// Reason.
        reason: String,
    },
    /// A message of the 2PC engine (`protocols::mpc::engine`), encoded and
    /// validated by the engine; here only its length is bounded (≤ max frame).
    Engine(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Robust rules: `worker`'s upload parsed; c_B and B's verifier share.
    UploadReady {
        /// Round id.
        round: u64,
        /// Worker id.
        worker: u32,
        /// B's commitment to its half.
        commit: [u8; 32],
        /// B's verifier share (8 bytes per element).
        #[serde(with = "serde_bytes")]
        verifier: Vec<u8>,
    },
    /// Robust rules: B's shares of the linear-check differences.
    Checks(Exchange),
    /// Robust rules: B's cross-term scalars t_B − s.
    Cross(Exchange),
    /// Robust rules: the round's result. `sum` (B's share of Σ TSᵢ·Xᵢ) and
    /// `weight` (of Σ TSᵢ) are present only if `positive` ≥ k_min.
    RobustSum {
        /// Round id.
        round: u64,
        /// Workers whose submission passed every check, ascending.
        workers: Vec<u32>,
        /// Number of workers with positive trust (opened).
        positive: u64,
        /// B's share of the weighted sum (empty: not revealed).
        #[serde(with = "serde_bytes")]
        sum: Vec<u8>,
        /// B's share of Σ TSᵢ (a field element).
        weight: u64,
        /// Bytes B received from workers this round.
        bytes_from_workers: u64,
    },
}

impl core::fmt::Debug for BToA {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BToA::Ready { last_revealed } => f
                .debug_struct("Ready")
                .field("last_revealed", last_revealed)
                .finish(),
            BToA::RoundOpened { round } => {
                f.debug_struct("RoundOpened").field("round", round).finish()
            }
            BToA::Rejected {
                round,
                worker,
                reason,
            } => f
                .debug_struct("Rejected")
                .field("round", round)
                .field("worker", worker)
                .field("reason", reason)
                .finish(),
            BToA::Refused { round, reason } => f
                .debug_struct("Refused")
                .field("round", round)
                .field("reason", reason)
                .finish(),
            BToA::Engine(bytes) => f
                .debug_struct("Engine")
                .field("bytes", &bytes.len())
                .finish_non_exhaustive(),
            BToA::UploadReady { round, worker, .. } => f
                .debug_struct("UploadReady")
                .field("round", round)
                .field("worker", worker)
                .finish_non_exhaustive(),
            BToA::Checks(x) => f.debug_tuple("Checks").field(x).finish(),
            BToA::Cross(x) => f.debug_tuple("Cross").field(x).finish(),
            BToA::RobustSum {
                round,
                workers,
                positive,
                sum,
                bytes_from_workers,
                ..
            } => f
                .debug_struct("RobustSum")
                .field("round", round)
                .field("workers", &workers.len())
                .field("positive", positive)
                .field("sum_bytes", &sum.len())
                .field("bytes_from_workers", bytes_from_workers)
                .finish_non_exhaustive(),
        }
    }
}

/// A message family with its own decoding checks.
pub trait WireMessage: Serialize + DeserializeOwned {
    /// Family name for errors.
    const KIND: &'static str;
    /// Structural checks beyond decoding (vector lengths, string sizes).
    fn validate(&self, limits: &Limits) -> Result<(), WireError>;
}

fn check_len(field: &'static str, len: usize, max: usize) -> Result<(), WireError> {
    if len > max {
        Err(WireError::Dimension { field, len, max })
    } else {
        Ok(())
    }
}

fn check_bytes(
    field: &'static str,
    bytes: &[u8],
    per: usize,
    limits: &Limits,
) -> Result<(), WireError> {
    if !bytes.len().is_multiple_of(per) {
        return Err(WireError::Malformed {
            kind: "vector",
            detail: format!(
                "`{field}` length {} is not a multiple of {per}",
                bytes.len()
            ),
        });
    }
    check_len(field, bytes.len() / per, limits.max_dim)
}

fn check_reason(reason: &str) -> Result<(), WireError> {
    check_len("reason", reason.len(), MAX_REASON)
}

fn check_session(s: &SessionInfo, limits: &Limits) -> Result<(), WireError> {
    check_len("dim", s.dim as usize, limits.max_dim)?;
    s.validate().map_err(|detail| WireError::Malformed {
        kind: "session",
        detail,
    })
}

impl SessionInfo {
    /// The checks every party makes on a session, wherever it comes from (A
    /// building it from its flags, B and workers decoding it); Err: what is
    /// wrong, naming the field. The dimension's cap is a decoding limit
    /// ([`Limits::max_dim`]), checked by the decoder.
    pub fn validate(&self) -> Result<(), String> {
        if self.dim == 0 {
            return Err("dim must be at least 1".into());
        }
        if self.model.len() > 64 {
            return Err(format!(
                "model name of {} bytes (at most 64)",
                self.model.len()
            ));
        }
        self.fixed.validate().map_err(|e| e.to_string())?;
        match self.cos_threshold {
            Some(_) if !self.aggregation.is_trust_based() => {
                return Err(format!(
                    "cos_threshold applies to trust-based rules; {} has none",
                    self.aggregation
                ));
            }
            Some(t) if !(t.is_finite() && (-1.0..=1.0).contains(&t)) => {
                return Err("cos_threshold must lie in [-1, 1]".into());
            }
            _ => {}
        }
        if self.k_min == 0 {
            return Err("k_min must be at least 1".into());
        }
        if !self.clip.is_finite() || self.clip < 0.0 {
            return Err("clip must be finite and non-negative".into());
        }
        let t = &self.train;
        if t.epochs > 1000 || t.batch_size == 0 || !t.lr.is_finite() || t.lr < 0.0 {
            return Err(
                "training parameters out of range (epochs ≤ 1000, batch_size ≥ 1, finite lr ≥ 0)"
                    .into(),
            );
        }
        Ok(())
    }
}

impl WireMessage for WorkerToA {
    const KIND: &'static str = "worker-to-A";
    fn validate(&self, limits: &Limits) -> Result<(), WireError> {
        match self {
            WorkerToA::Hello { .. } => Ok(()),
            WorkerToA::Submit { payload, .. } => match payload {
                SubmitA::Seed(_) => Ok(()),
                SubmitA::Plain(v) => check_bytes("update", v, 4, limits),
            },
        }
    }
}

impl WireMessage for AToWorker {
    const KIND: &'static str = "A-to-worker";
    fn validate(&self, limits: &Limits) -> Result<(), WireError> {
        match self {
            AToWorker::Welcome { session } => check_session(session, limits),
            AToWorker::Announce { model, .. } => check_bytes("model", model, 4, limits),
            AToWorker::Reject { reason, .. } => check_reason(reason),
            AToWorker::Ack { .. } | AToWorker::Finished => Ok(()),
        }
    }
}

impl WireMessage for WorkerToB {
    const KIND: &'static str = "worker-to-B";
    fn validate(&self, limits: &Limits) -> Result<(), WireError> {
        match self {
            WorkerToB::Hello { .. } => Ok(()),
            WorkerToB::Robust {
                b,
                kappa_b,
                beta_b,
                proof_b,
                w,
                z,
                ..
            } => {
                check_bytes("b", b, RING_SHARE_BYTES, limits)?;
                check_bytes("kappa_b", kappa_b, FIELD_BYTES, limits)?;
                check_bytes("beta_b", beta_b, FIELD_BYTES, limits)?;
                check_bytes("proof_b", proof_b, FIELD_BYTES, limits)?;
                check_bytes("w", w, FIELD_BYTES, limits)?;
                check_bytes("z", z, FIELD_BYTES, limits)
            }
        }
    }
}

impl WireMessage for BToWorker {
    const KIND: &'static str = "B-to-worker";
    fn validate(&self, _limits: &Limits) -> Result<(), WireError> {
        match self {
            BToWorker::Reject { reason, .. } => check_reason(reason),
            BToWorker::Welcome | BToWorker::Ack { .. } => Ok(()),
        }
    }
}

impl WireMessage for AToB {
    const KIND: &'static str = "A-to-B";
    fn validate(&self, limits: &Limits) -> Result<(), WireError> {
        match self {
            AToB::Hello { session } => check_session(session, limits),
            AToB::Engine(bytes) => check_len("engine", bytes.len(), limits.max_frame),
            AToB::OpenRobust {
                reference,
                participants,
                ..
            } => {
                check_len("participants", participants.len(), MAX_WORKERS)?;
                check_bytes("reference", reference, 4, limits)
            }
            AToB::SeedCommit { .. } | AToB::CloseRobust { .. } => Ok(()),
            AToB::Batch {
                workers, verifiers, ..
            } => {
                check_len("workers", workers.len(), MAX_WORKERS)?;
                check_len("verifiers", verifiers.len(), limits.max_frame)?;
                check_bytes(
                    "verifiers",
                    verifiers,
                    FIELD_BYTES,
                    &Limits {
                        max_dim: usize::MAX,
                        ..*limits
                    },
                )
            }
            AToB::Checks(x) | AToB::Cross(x) => {
                check_bytes("values", &x.values, FIELD_BYTES, limits)
            }
        }
    }
}

impl WireMessage for BToA {
    const KIND: &'static str = "B-to-A";
    fn validate(&self, limits: &Limits) -> Result<(), WireError> {
        match self {
            BToA::Ready { .. } | BToA::RoundOpened { .. } => Ok(()),
            BToA::Rejected { reason, .. } | BToA::Refused { reason, .. } => check_reason(reason),
            BToA::Engine(bytes) => check_len("engine", bytes.len(), limits.max_frame),
            BToA::UploadReady { verifier, .. } => {
                check_bytes("verifier", verifier, FIELD_BYTES, limits)
            }
            BToA::Checks(x) | BToA::Cross(x) => {
                check_bytes("values", &x.values, FIELD_BYTES, limits)
            }
            BToA::RobustSum { workers, sum, .. } => {
                check_len("workers", workers.len(), MAX_WORKERS)?;
                check_bytes("sum", sum, FIELD_BYTES, limits)
            }
        }
    }
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Bodies up to this size decode with the small allocation cap.
const SMALL_BODY: usize = 8 << 10;

/// bincode with a cap on what it may reserve for one message.
///
/// bincode allocates a string or byte vector at its *declared* length before
/// reading it, so without a cap a 20-byte frame declaring a 2^62-byte string
/// aborts the process (found by `fuzz/` target `wire_decode`). The cap is
/// compared with bincode's claims, which count each decoded value at its
/// in-memory size (a one-byte varint `u64` claims 8), so an honest body
/// claims at most 8× its length: small frames (all control messages) get an
/// 8× cap, frames up to [`DEFAULT_MAX_FRAME`] a fixed 2 × 64 MiB.
fn decode_body<M: DeserializeOwned>(
    body: &[u8],
) -> Result<(M, usize), bincode::error::DecodeError> {
    if body.len() <= SMALL_BODY {
        bincode::serde::decode_from_slice(body, config().with_limit::<{ 8 * SMALL_BODY }>())
    } else if body.len() <= DEFAULT_MAX_FRAME {
        bincode::serde::decode_from_slice(body, config().with_limit::<{ 2 * DEFAULT_MAX_FRAME }>())
    } else {
        // Only reachable with `Limits::max_frame` above the default; frames
        // never exceed 4 GiB (u32 length prefix).
        bincode::serde::decode_from_slice(body, config().with_limit::<{ u32::MAX as usize }>())
    }
}

/// Encodes `msg` with the version header.
pub fn encode<M: WireMessage>(msg: &M) -> Result<Vec<u8>, WireError> {
    // Encoded straight after the header (no second buffer and copy).
    let mut out = PROTOCOL_VERSION.to_be_bytes().to_vec();
    bincode::serde::encode_into_std_write(msg, &mut out, config())
        .map_err(|e| WireError::Encode(e.to_string()))?;
    Ok(out)
}

/// Decodes and validates a frame body.
pub fn decode<M: WireMessage>(frame: &[u8], limits: &Limits) -> Result<M, WireError> {
    if frame.len() > limits.max_frame {
        return Err(WireError::TooLarge {
            len: frame.len(),
            max: limits.max_frame,
        });
    }
    let (header, body) = match frame {
        [h0, h1, rest @ ..] => ([*h0, *h1], rest),
        _ => return Err(WireError::Truncated { len: frame.len() }),
    };
    let got = u16::from_be_bytes(header);
    if got != PROTOCOL_VERSION {
        return Err(WireError::Version {
            got,
            expected: PROTOCOL_VERSION,
        });
    }
    let (msg, used): (M, usize) = decode_body(body).map_err(|e| WireError::Malformed {
        kind: M::KIND,
        detail: e.to_string(),
    })?;
    if used != body.len() {
        return Err(WireError::Trailing {
            kind: M::KIND,
            extra: body.len() - used,
        });
    }
    msg.validate(limits)?;
    Ok(msg)
}

/// Little-endian f32 bytes of a vector.
pub fn f32s_to_bytes(v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Parses little-endian f32s; every value must be finite.
pub fn bytes_to_f32s(b: &[u8]) -> Result<Vec<f32>, WireError> {
    if !b.len().is_multiple_of(4) {
        return Err(WireError::Malformed {
            kind: "f32 vector",
            detail: format!("length {} is not a multiple of 4", b.len()),
        });
    }
    let mut out = Vec::with_capacity(b.len() / 4);
    for (i, c) in b.chunks_exact(4).enumerate() {
        let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        if !x.is_finite() {
            return Err(WireError::Malformed {
                kind: "f32 vector",
                detail: format!("entry {i} is not finite"),
            });
        }
        out.push(x);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn upload(dim: usize) -> WorkerToB {
        WorkerToB::Robust {
            round: 7,
            worker: 3,
            b: vec![1; dim * 3],
            kappa_b: vec![2; dim * 8],
            beta_b: vec![3; 16],
            proof_b: vec![4; 32],
            w: Vec::new(),
            z: Vec::new(),
            s: 0,
            blind: [5; 32],
        }
    }

    #[test]
    fn round_trip_and_version() {
        let limits = Limits::default();
        let bytes = encode(&upload(10)).unwrap();
        let back: WorkerToB = decode(&bytes, &limits).unwrap();
        assert!(matches!(
            back,
            WorkerToB::Robust {
                round: 7,
                worker: 3,
                ..
            }
        ));

        let mut wrong = bytes.clone();
        wrong[1] = 9;
        assert_eq!(
            decode::<WorkerToB>(&wrong, &limits).unwrap_err(),
            WireError::Version {
                got: 9,
                expected: PROTOCOL_VERSION
            }
        );
        assert!(matches!(
            decode::<WorkerToB>(&bytes[..1], &limits),
            Err(WireError::Truncated { len: 1 })
        ));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            decode::<WorkerToB>(&trailing, &limits),
            Err(WireError::Trailing { .. })
        ));
        assert!(matches!(
            decode::<WorkerToB>(&bytes[..bytes.len() - 3], &limits),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn limits_are_enforced() {
        let small = Limits {
            max_frame: 1 << 20,
            max_dim: 100,
        };
        let bytes = encode(&upload(101)).unwrap();
        assert!(matches!(
            decode::<WorkerToB>(&bytes, &small),
            Err(WireError::Dimension {
                field: "b",
                len: 101,
                max: 100
            })
        ));
        let tiny = Limits {
            max_frame: 16,
            max_dim: 100,
        };
        assert!(matches!(
            decode::<WorkerToB>(&bytes, &tiny),
            Err(WireError::TooLarge { .. })
        ));
        let WorkerToB::Robust {
            round,
            worker,
            kappa_b,
            beta_b,
            proof_b,
            w,
            z,
            s,
            blind,
            ..
        } = upload(1)
        else {
            unreachable!()
        };
        let ragged = WorkerToB::Robust {
            round,
            worker,
            b: vec![0; 4],
            kappa_b,
            beta_b,
            proof_b,
            w,
            z,
            s,
            blind,
        };
        assert!(matches!(
            decode::<WorkerToB>(&encode(&ragged).unwrap(), &small),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn declared_lengths_do_not_allocate() {
        // BToA::Rejected whose reason declares 2^62 bytes (varint 0xfd + u64).
        let mut frame = PROTOCOL_VERSION.to_be_bytes().to_vec();
        frame.extend_from_slice(&[2, 1, 1, 0xfd]);
        frame.extend_from_slice(&(1u64 << 62).to_le_bytes());
        assert!(matches!(
            decode::<BToA>(&frame, &Limits::default()),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn debug_never_shows_share_bytes() {
        let up = upload(2);
        let s = format!("{up:?}");
        assert!(s.contains("b_bytes: 6") && !s.contains("[1"), "{s}");
        let sum = BToA::RobustSum {
            round: 1,
            workers: vec![1, 2, 3],
            positive: 3,
            sum: vec![0xef; 8],
            weight: 3,
            bytes_from_workers: 9,
        };
        let s = format!("{sum:?}");
        assert!(s.contains("sum_bytes: 8") && !s.contains("239"), "{s}");
    }

    #[test]
    fn f32_bytes_reject_non_finite() {
        let v = [1.0f32, -2.5, 0.0];
        assert_eq!(bytes_to_f32s(&f32s_to_bytes(&v)).unwrap(), v);
        assert!(bytes_to_f32s(&f32s_to_bytes(&[f32::NAN])).is_err());
        assert!(bytes_to_f32s(&[0, 0, 0]).is_err());
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let limits = Limits::default();
            let mut framed = PROTOCOL_VERSION.to_be_bytes().to_vec();
            framed.extend_from_slice(&bytes);
            let _ = decode::<WorkerToA>(&framed, &limits);
            let _ = decode::<WorkerToB>(&framed, &limits);
            let _ = decode::<AToWorker>(&framed, &limits);
            let _ = decode::<BToWorker>(&framed, &limits);
            let _ = decode::<AToB>(&framed, &limits);
            let _ = decode::<BToA>(&framed, &limits);
        }
    }
}
