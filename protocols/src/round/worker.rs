//! The worker's side of a round (sans-io): turn a local model delta into the
//! messages for server A and server B.

use mpc_core::fixed::FixedError;
use mpc_core::prg::Seed;
use mpc_core::share::{ShareError, share_ring};
use mpc_core::wire::{SessionInfo, SubmitA, WorkerToA, WorkerToB, f32s_to_bytes};
use thiserror::Error;

use crate::fedavg::clip_to_norm;

/// Errors preparing a submission.
#[derive(Debug, Error)]
pub enum PrepareError {
    /// The update has the wrong dimension.
    #[error("update has dimension {got}, the session expects {expected}")]
    Dimension {
        /// Got.
        got: usize,
        /// Expected.
        expected: usize,
    },
    /// Secure aggregation needs a positive clip bound.
    #[error("secure aggregation needs a positive clip bound")]
    NoClip,
    /// A trust-based rule needs a direction: the update is zero or not finite.
    #[error("cannot normalise the update: {0}")]
    Normalise(#[from] crate::fltrust::NormaliseError),
    /// Encoding failed.
    #[error(transparent)]
    Fixed(#[from] FixedError),
    /// Sharing failed.
    #[error(transparent)]
    Share(#[from] ShareError),
    /// The robust submission could not be built.
    #[error(transparent)]
    Robust(#[from] crate::robust::submit::SubmitError),
    /// Client normalisation failed.
    #[error(transparent)]
    Encode(#[from] crate::robust::encode::EncodeError),
}

/// A prepared submission: what goes to A and, for secure rules, to B.
#[derive(Debug)]
pub struct Submission {
    /// Message for server A.
    pub to_a: WorkerToA,
    /// Message for server B (secure rules only).
    pub to_b: Option<WorkerToB>,
}

/// Prepares `worker`'s submission of `delta` for `round`.
///
/// Trust-based rules normalise the update to unit L2 norm; the others clip it
/// to L2 norm ≤ C (`session.clip`; 0 means no clipping, plain rules only).
/// Secure rules encode Δ/C in fixed point and share it in
/// the ℓ-bit ring with a fresh seed from the OS CSPRNG.
pub fn prepare(
    session: &SessionInfo,
    round: u64,
    worker: u32,
    delta: &[f32],
) -> Result<Submission, PrepareError> {
    if delta.len() != session.dim as usize {
        return Err(PrepareError::Dimension {
            got: delta.len(),
            expected: session.dim as usize,
        });
    }
    if session.aggregation.is_robust() {
        // Client normalisation (unit norm, rounding corrected into the
        // window), sharing, dealt correlations, commitments and the proof.
        let setup = crate::robust::submit::RobustSetup::new(session)?;
        let x = crate::robust::encode::encode_unit(delta, session.fixed)?;
        let (seed, to_b) = crate::robust::submit::Draft::honest(&setup, round, worker, &x)?
            .finish(&setup, round, worker)?;
        return Ok(Submission {
            to_a: WorkerToA::Submit {
                round,
                worker,
                payload: SubmitA::Seed(seed),
            },
            to_b: Some(to_b),
        });
    }
    let mut update = delta.to_vec();
    if session.aggregation.is_trust_based() {
        update = crate::fltrust::normalise(&update)?;
    } else if session.clip > 0.0 {
        clip_to_norm(&mut update, session.clip);
    }
    if !session.aggregation.is_secure() {
        return Ok(Submission {
            to_a: WorkerToA::Submit {
                round,
                worker,
                payload: SubmitA::Plain(f32s_to_bytes(&update)),
            },
            to_b: None,
        });
    }
    if session.clip <= 0.0 {
        return Err(PrepareError::NoClip);
    }
    let inv = 1.0 / session.clip;
    for u in &mut update {
        *u *= inv;
    }
    let x = session.fixed.encode(&update)?;
    let seed = Seed::random();
    let shares = share_ring(&x, session.fixed, &seed, round, worker)?;
    let (b, kappa_b) = shares.to_wire();
    Ok(Submission {
        to_a: WorkerToA::Submit {
            round,
            worker,
            payload: SubmitA::Seed(seed),
        },
        to_b: Some(WorkerToB::Upload {
            round,
            worker,
            b,
            kappa_b,
        }),
    })
}
