//! [`EngineError`]: what ends an engine. Kinds, counts and indices only,
//! never a share, an OT or a field element.

use mpc_core::codec::CodecError;
use mpc_core::ot::IknpError;
use thiserror::Error;

use super::msg::JobKind;
use super::{MAX_EARLY, MAX_EARLY_BYTES};
use crate::mpc::arith::coin::CoinError;
use crate::mpc::arith::mult::MultError;
use crate::mpc::arith::triples::TripleError;
use crate::mpc::compare::RotShapeError;
use crate::mpc::compare::count::CountError;
use crate::mpc::compare::drelu::DreluError;
use crate::mpc::compare::mux::MuxError;
use crate::mpc::compare::relu::ReluError;

/// Engine errors: kinds, counts and indices only, never values.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum EngineError {
    /// A peer message does not decode.
    #[error("engine: {0}")]
    Codec(#[from] CodecError),
    /// Base OT or IKNP failed.
    #[error("engine: {0}")]
    Ot(#[from] IknpError),
    /// Triple generation failed.
    #[error("engine: {0}")]
    Triples(#[from] TripleError),
    /// A multiplication failed.
    #[error("engine: {0}")]
    Mult(#[from] MultError),
    /// A DReLU failed.
    #[error("engine: {0}")]
    Drelu(#[from] DreluError),
    /// A ReLU failed.
    #[error("engine: {0}")]
    Relu(#[from] ReluError),
    /// A B2A failed.
    #[error("engine: {0}")]
    B2a(#[from] MuxError),
    /// A secure count failed.
    #[error("engine: {0}")]
    Count(#[from] CountError),
    /// A coin toss failed.
    #[error("engine: {0}")]
    Coin(#[from] CoinError),
    /// An OT pool split failed (a local bug; never peer data alone).
    #[error("engine: {0}")]
    Rots(#[from] RotShapeError),
    /// A message that cannot come at this point of the session.
    #[error("engine: unexpected {got} message: {why}")]
    Unexpected {
        /// Message kind.
        got: &'static str,
        /// Why it cannot come now.
        why: &'static str,
    },
    /// A message for an instance of another protocol.
    #[error("engine: instance {instance} runs {expected}, got a {got} message")]
    WrongProtocol {
        /// The instance.
        instance: u32,
        /// Protocol of the instance.
        expected: &'static str,
        /// Kind of the message.
        got: &'static str,
    },
    /// A message for an instance that already finished.
    #[error("engine: message for instance {instance}, which has finished")]
    FinishedInstance {
        /// The instance.
        instance: u32,
    },
    /// Too many messages for instances that have not started here.
    #[error(
        "engine: more than {MAX_EARLY} messages or {MAX_EARLY_BYTES} bytes wait for instances that have not started"
    )]
    TooManyEarly,
    /// An extension batch above the limits: larger than `max_extend`, or
    /// growing the pool beyond what the announced jobs need (or `max_pool`).
    #[error(
        "engine: the peer's IKNP batch of {count} OTs would grow the pool of {pool} beyond {allowed}, what the announced jobs that have not started need"
    )]
    ExtendLimit {
        /// OTs in the batch.
        count: usize,
        /// OTs already in the pool.
        pool: usize,
        /// Most OTs the pool may hold now.
        allowed: usize,
    },
    /// Too few triples survived generation (probability ≈ n · 2^-31 per missing triple).
    #[error("engine: triple generation produced {got} triples, {need} needed")]
    TriplesShort {
        /// Triples produced.
        got: usize,
        /// Triples needed.
        need: usize,
    },
    /// An invalid job submission (local).
    #[error("engine: invalid job: {0}")]
    Job(&'static str),
    /// The peer announced a job this engine would refuse.
    #[error("engine: the peer announced an invalid job: {0}")]
    PeerJob(&'static str),
    /// The two parties queued different jobs at the same position.
    #[error(
        "engine: the job at instance {instance} is {ours:?} × {ours_n} here but {theirs:?} × {theirs_n} at the peer"
    )]
    JobMismatch {
        /// First instance of the job.
        instance: u32,
        /// This party's job kind.
        ours: JobKind,
        /// This party's job size.
        ours_n: usize,
        /// The peer's job kind.
        theirs: JobKind,
        /// The peer's job size.
        theirs_n: usize,
    },
    /// The peer's self-test opening has the wrong size.
    #[error("engine: self-test opening has {got} values, expected {expected}")]
    OpenCount {
        /// Expected per section.
        expected: usize,
        /// Received.
        got: usize,
    },
    /// The peer runs other protocol settings (its hello's digest differs).
    #[error(
        "engine: the peer's protocol settings differ (DReLU bound/digit bits, triple margin, count digits); both servers need the same"
    )]
    Settings,
    /// The peer reported a failure.
    #[error("engine: the peer aborted: {0}")]
    PeerAborted(String),
    /// The engine failed earlier.
    #[error("engine: failed earlier; start a new engine")]
    Failed,
}
