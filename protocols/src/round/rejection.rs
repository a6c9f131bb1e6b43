//! Why a server refused a worker's message: one enum for the refusals A
//! records in a round's outcome (B's refusals reach A as [`Rejection::AtB`]
//! with B's text) and the session-level refusals of both servers; shown to
//! the worker (`Reject { reason }`) and in A's JSON through its `Display`.

use std::fmt;

use mpc_core::wire::Aggregation;

/// Why a worker's message was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum Rejection {
    /// The frame did not decode (the decoder's reason).
    Undecodable(String),
    /// B has no secure session (A has not sent `Hello`).
    NoSession,
    /// The message claims another worker id than the sender's certificate.
    WrongId {
        /// The id in the message.
        claimed: u32,
        /// The id the certificate is enrolled as.
        enrolled: u32,
    },
    /// The round is not open (any more, or yet).
    NotOpen {
        /// The round the message is for.
        round: u64,
        /// The open round, if any.
        open: Option<u64>,
    },
    /// The worker was not announced the round.
    NotParticipant {
        /// The worker.
        worker: u32,
        /// The round.
        round: u64,
    },
    /// A second submission in the round (or a `SitOut` after a
    /// submission); the first one stands.
    Duplicate,
    /// A submission (or a second `SitOut`) from a worker that already said
    /// it sits the round out; the `SitOut` stands.
    SatOut,
    /// A plain update where the rule needs a seed, or the other way round.
    WrongPayload {
        /// The session's rule.
        aggregation: Aggregation,
    },
    /// A plain update that is not a vector of floats.
    Malformed(String),
    /// A plain update of the wrong dimension.
    Dimension {
        /// Its dimension.
        got: usize,
        /// The session's.
        expected: u32,
    },
    /// A plain update for a trust-based rule whose norm is not 1.
    NotUnitNorm {
        /// Its norm.
        norm: f32,
        /// The allowed deviation from 1.
        slack: f32,
        /// The session's rule.
        aggregation: Aggregation,
    },
    /// A plain update above the clip bound.
    OverClip {
        /// Its norm.
        norm: f32,
        /// The bound.
        clip: f32,
    },
    /// No complete submission (both halves met, or a plain update) arrived
    /// before the round deadline.
    Deadline,
    /// Server B refused the worker's upload (B's reason).
    AtB(String),
    /// The servers' joint checks refused the submission (the proof, the
    /// range or the linear checks; the pipeline's reason).
    Checks(String),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Undecodable(e) => write!(f, "undecodable frame: {e}"),
            Rejection::NoSession => write!(f, "no secure session is running"),
            Rejection::WrongId { claimed, enrolled } => write!(
                f,
                "claims worker id {claimed} but its certificate is enrolled as {enrolled}"
            ),
            Rejection::NotOpen { round, open: None } => {
                write!(f, "round {round} is not open (no round is open)")
            }
            Rejection::NotOpen {
                round,
                open: Some(open),
            } => write!(f, "round {round} is not open (current round is {open})"),
            Rejection::NotParticipant { worker, round } => {
                write!(f, "worker {worker} is not a participant of round {round}")
            }
            Rejection::Duplicate => {
                write!(
                    f,
                    "duplicate submission in this round (the first one stands)"
                )
            }
            Rejection::SatOut => write!(
                f,
                "this worker already sat the round out (its first message stands)"
            ),
            Rejection::WrongPayload { aggregation } => write!(
                f,
                "payload kind does not match the aggregation rule {aggregation}"
            ),
            Rejection::Malformed(e) => write!(f, "invalid update: {e}"),
            Rejection::Dimension { got, expected } => {
                write!(f, "update has dimension {got}, expected {expected}")
            }
            Rejection::NotUnitNorm {
                norm,
                slack,
                aggregation,
            } => write!(
                f,
                "update norm {norm:.6} is not 1 (± {slack}): {aggregation} needs unit-norm updates"
            ),
            Rejection::OverClip { norm, clip } => {
                write!(f, "update norm {norm:.4} exceeds the clip bound {clip}")
            }
            Rejection::Deadline => {
                write!(f, "no complete submission before the round deadline")
            }
            Rejection::AtB(reason) => write!(f, "at server B: {reason}"),
            Rejection::Checks(reason) => f.write_str(reason),
        }
    }
}
