//! Wire messages: the top-level frames between workers and servers and
//! between the servers.
//!
//! A frame body is `version: u16 (big-endian) ‖ bincode-2(serde) message`;
//! every family implements [`crate::codec::Message`] with
//! `VERSION = Some(PROTOCOL_VERSION)`, so decoding follows the codec's rules
//! (size cap, version first, allocation-capped bincode, no trailing bytes,
//! then `validate`: every vector length against [`Limits::max_dim`], reason
//! strings against [`MAX_REASON`], sessions against [`SessionInfo::validate`]).
//! The transport adds a 4-byte length prefix and enforces the maximum frame
//! size before allocating. Bulk vectors travel as byte strings
//! (`serde_bytes`) and are parsed by the layer that knows their meaning
//! (e.g. `protocols::robust::submit::half_b` checks ranges) with the
//! codec's vector parsers ([`crate::codec::decode_field_bytes`], …).

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError, FP_BYTES, Limits, Message, Reader};
use crate::fixed::FixedParams;
use crate::prg::Seed;
use crate::share::RING_SHARE_BYTES;

/// The protocol version this build speaks. 3: `mpc_core::prg` streams are
/// ChaCha8 under a `v2` key label (seeds of version 2 expand differently).
/// 4: secure-fedavg runs through the validity-proved submission; its
/// unproved messages (`Upload`, `OpenRound`, `HaveSeed`, `CloseRound`,
/// `Accepted`, `RoundSum`) are gone.
/// 5: `WorkerToA::SitOut`, a worker's word that it skips the open round, so
/// A closes the round without waiting for the deadline.
/// 6: the share commitments c_A and c_B (`mpc_core::flp::Committer`) are
/// BLAKE3 in derive-key mode instead of SHA-256 (≈ 3.5× the throughput over
/// B's 7.3 MB uploads): same frames, but a version-5 worker's proof fails.
pub const PROTOCOL_VERSION: u16 = 6;
/// Longest accepted reason string.
pub const MAX_REASON: usize = 1024;
/// Longest accepted list of worker ids in one message.
pub const MAX_WORKERS: usize = 1 << 20;

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
    /// Secure and trust-based rules: fewest workers that count (positive
    /// trust; secure-fedavg: valid submissions) for a round to update the
    /// model (docs/PROTOCOL.md §3, default 3; B applies its own `--k-min` if
    /// higher). plain-fedavg ignores it.
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
    /// The worker skips round `round` (it was announced to it): A counts it
    /// as sat out, not as rejected, and the round closes without waiting
    /// for it. The worker is the authenticated sender. It replaces a
    /// submission: one of the two per worker and round, the first stands.
    SitOut {
        /// Round id.
        round: u64,
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

fn check_len(field: &'static str, len: usize, max: usize) -> Result<(), CodecError> {
    if len > max {
        Err(CodecError::Dimension { field, len, max })
    } else {
        Ok(())
    }
}

fn check_bytes(
    kind: &'static str,
    field: &'static str,
    bytes: &[u8],
    per: usize,
    limits: &Limits,
) -> Result<(), CodecError> {
    if !bytes.len().is_multiple_of(per) {
        return Err(CodecError::malformed(
            kind,
            format!(
                "`{field}` length {} is not a multiple of {per}",
                bytes.len()
            ),
        ));
    }
    check_len(field, bytes.len() / per, limits.max_dim)
}

fn check_reason(reason: &str) -> Result<(), CodecError> {
    check_len("reason", reason.len(), MAX_REASON)
}

fn check_session(kind: &'static str, s: &SessionInfo, limits: &Limits) -> Result<(), CodecError> {
    check_len("dim", s.dim as usize, limits.max_dim)?;
    s.validate()
        .map_err(|detail| CodecError::Malformed { kind, detail })
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

/// The codec of a wire family: bincode after the version header, then the
/// family's `validate`.
macro_rules! wire_message {
    ($ty:ty, $kind:literal, |$m:ident, $limits:ident| $validate:expr) => {
        impl Message for $ty {
            const KIND: &'static str = $kind;
            const VERSION: Option<u16> = Some(PROTOCOL_VERSION);

            fn encoded_len(&self) -> usize {
                codec::VERSION_BYTES + codec::bincode_len(self)
            }

            fn write(&self, out: &mut Vec<u8>) {
                codec::put_bincode(out, self);
            }

            fn read(r: &mut Reader<'_>, _limits: &Limits) -> Result<Self, CodecError> {
                r.bincode()
            }

            fn validate(&self, limits: &Limits) -> Result<(), CodecError> {
                let ($m, $limits) = (self, limits);
                $validate
            }
        }
    };
}

wire_message!(WorkerToA, "worker-to-A", |m, limits| match m {
    WorkerToA::Hello { .. } | WorkerToA::SitOut { .. } => Ok(()),
    WorkerToA::Submit { payload, .. } => match payload {
        SubmitA::Seed(_) => Ok(()),
        SubmitA::Plain(v) => check_bytes(Self::KIND, "update", v, 4, limits),
    },
});

wire_message!(AToWorker, "A-to-worker", |m, limits| match m {
    AToWorker::Welcome { session } => check_session(Self::KIND, session, limits),
    AToWorker::Announce { model, .. } => check_bytes(Self::KIND, "model", model, 4, limits),
    AToWorker::Reject { reason, .. } => check_reason(reason),
    AToWorker::Ack { .. } | AToWorker::Finished => Ok(()),
});

wire_message!(WorkerToB, "worker-to-B", |m, limits| match m {
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
        check_bytes(Self::KIND, "b", b, RING_SHARE_BYTES, limits)?;
        check_bytes(Self::KIND, "kappa_b", kappa_b, FP_BYTES, limits)?;
        check_bytes(Self::KIND, "beta_b", beta_b, FP_BYTES, limits)?;
        check_bytes(Self::KIND, "proof_b", proof_b, FP_BYTES, limits)?;
        check_bytes(Self::KIND, "w", w, FP_BYTES, limits)?;
        check_bytes(Self::KIND, "z", z, FP_BYTES, limits)
    }
});

wire_message!(BToWorker, "B-to-worker", |m, _limits| match m {
    BToWorker::Reject { reason, .. } => check_reason(reason),
    BToWorker::Welcome | BToWorker::Ack { .. } => Ok(()),
});

wire_message!(AToB, "A-to-B", |m, limits| match m {
    AToB::Hello { session } => check_session(Self::KIND, session, limits),
    AToB::Engine(bytes) => check_len("engine", bytes.len(), limits.max_frame),
    AToB::OpenRobust {
        reference,
        participants,
        ..
    } => {
        check_len("participants", participants.len(), MAX_WORKERS)?;
        check_bytes(Self::KIND, "reference", reference, 4, limits)
    }
    AToB::SeedCommit { .. } | AToB::CloseRobust { .. } => Ok(()),
    AToB::Batch {
        workers, verifiers, ..
    } => {
        check_len("workers", workers.len(), MAX_WORKERS)?;
        check_len("verifiers", verifiers.len(), limits.max_frame)?;
        check_bytes(
            Self::KIND,
            "verifiers",
            verifiers,
            FP_BYTES,
            &Limits {
                max_dim: usize::MAX,
                ..*limits
            },
        )
    }
    AToB::Checks(x) | AToB::Cross(x) =>
        check_bytes(Self::KIND, "values", &x.values, FP_BYTES, limits),
});

wire_message!(BToA, "B-to-A", |m, limits| match m {
    BToA::Ready { .. } | BToA::RoundOpened { .. } => Ok(()),
    BToA::Rejected { reason, .. } | BToA::Refused { reason, .. } => check_reason(reason),
    BToA::Engine(bytes) => check_len("engine", bytes.len(), limits.max_frame),
    BToA::UploadReady { verifier, .. } =>
        check_bytes(Self::KIND, "verifier", verifier, FP_BYTES, limits),
    BToA::Checks(x) | BToA::Cross(x) =>
        check_bytes(Self::KIND, "values", &x.values, FP_BYTES, limits),
    BToA::RobustSum { workers, sum, .. } => {
        check_len("workers", workers.len(), MAX_WORKERS)?;
        check_bytes(Self::KIND, "sum", sum, FP_BYTES, limits)
    }
});

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::codec::DEFAULT_MAX_FRAME;
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
        let bytes = upload(10).encode();
        assert_eq!(bytes.len(), upload(10).encoded_len());
        let back = WorkerToB::decode_with(&bytes, &limits).unwrap();
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
            WorkerToB::decode_with(&wrong, &limits).unwrap_err(),
            CodecError::Version {
                got: 9,
                expected: PROTOCOL_VERSION
            }
        );
        assert!(matches!(
            WorkerToB::decode_with(&bytes[..1], &limits),
            Err(CodecError::Truncated {
                need: 2,
                got: 1,
                ..
            })
        ));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            WorkerToB::decode_with(&trailing, &limits),
            Err(CodecError::Trailing { .. })
        ));
        assert!(matches!(
            WorkerToB::decode_with(&bytes[..bytes.len() - 3], &limits),
            Err(CodecError::Malformed { .. })
        ));
    }

    #[test]
    fn limits_are_enforced() {
        let small = Limits {
            max_frame: 1 << 20,
            max_dim: 100,
        };
        let bytes = upload(101).encode();
        assert!(matches!(
            WorkerToB::decode_with(&bytes, &small),
            Err(CodecError::Dimension {
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
            WorkerToB::decode_with(&bytes, &tiny),
            Err(CodecError::TooLarge { .. })
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
            WorkerToB::decode_with(&ragged.encode(), &small),
            Err(CodecError::Malformed { .. })
        ));
    }

    #[test]
    fn declared_lengths_do_not_allocate() {
        // BToA::Rejected whose reason declares 2^62 bytes (varint 0xfd + u64).
        let mut frame = PROTOCOL_VERSION.to_be_bytes().to_vec();
        frame.extend_from_slice(&[2, 1, 1, 0xfd]);
        frame.extend_from_slice(&(1u64 << 62).to_le_bytes());
        assert!(matches!(
            BToA::decode_with(&frame, &Limits::default()),
            Err(CodecError::Malformed { .. })
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
    fn encoded_len_is_exact() {
        let sum = BToA::RobustSum {
            round: 1 << 40,
            workers: vec![1, 2, 300],
            positive: 3,
            sum: vec![7; DEFAULT_MAX_FRAME / 1024],
            weight: u64::MAX,
            bytes_from_workers: 9,
        };
        assert_eq!(sum.encode().len(), sum.encoded_len());
        assert_eq!(BToWorker::Welcome.encode().len(), 3);
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let limits = Limits::default();
            let mut framed = PROTOCOL_VERSION.to_be_bytes().to_vec();
            framed.extend_from_slice(&bytes);
            let _ = WorkerToA::decode_with(&framed, &limits);
            let _ = WorkerToB::decode_with(&framed, &limits);
            let _ = AToWorker::decode_with(&framed, &limits);
            let _ = BToWorker::decode_with(&framed, &limits);
            let _ = AToB::decode_with(&framed, &limits);
            let _ = BToA::decode_with(&framed, &limits);
        }
    }
}
