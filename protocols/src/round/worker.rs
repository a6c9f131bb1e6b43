//! The worker's side of a round (sans-io): turn a local model delta into the
//! messages for server A and server B.

use mpc_core::codec::f32s_to_bytes;
use mpc_core::wire::{SessionInfo, SubmitA, WorkerToA, WorkerToB};
use rand::CryptoRng;
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
    /// A trust-based rule needs a direction: the update is zero or not finite.
    #[error("cannot normalise the update")]
    Normalise(#[from] crate::fltrust::NormaliseError),
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
/// Secure rules encode it in fixed point (u or Δ/C), share it in the ℓ-bit
/// ring with a fresh seed and prove it valid ([`crate::robust::submit`]);
/// every random choice (A's seed, the dealt scalar s, the commitment blind,
/// the proof's randomness) comes from `rng`, which must be a CSPRNG the
/// servers cannot predict (`tandem worker` passes the OS CSPRNG).
/// Plain rules draw nothing.
pub fn prepare<R: CryptoRng + ?Sized>(
    session: &SessionInfo,
    round: u64,
    worker: u32,
    delta: &[f32],
    rng: &mut R,
) -> Result<Submission, PrepareError> {
    if delta.len() != session.dim as usize {
        return Err(PrepareError::Dimension {
            got: delta.len(),
            expected: session.dim as usize,
        });
    }
    if session.aggregation.is_secure() {
        // Trust rules: client normalisation (unit norm, rounding corrected
        // into the window); secure-fedavg: clipping to C and Δ/C in fixed
        // point (rounding corrected below the bound). Then sharing, the
        // dealt correlations (trust rules), commitments and the proof.
        let setup = crate::robust::submit::RobustSetup::new(session)?;
        let x = if session.aggregation.is_trust_based() {
            crate::robust::encode::encode_unit(delta, session.fixed)?
        } else {
            crate::robust::encode::encode_clipped(delta, session.clip, session.fixed)?
        };
        let (seed, to_b) = crate::robust::submit::Draft::honest(&setup, round, worker, &x, rng)?
            .finish(&setup, round, worker, rng)?;
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
    Ok(Submission {
        to_a: WorkerToA::Submit {
            round,
            worker,
            payload: SubmitA::Plain(f32s_to_bytes(&update)),
        },
        to_b: None,
    })
}
