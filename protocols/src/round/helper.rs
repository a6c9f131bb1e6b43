//! Server B's round state machine (sans-io).
//!
//! Every secure rule runs through the validity-proved pipeline
//! ([`super::robust_b::RobustHelper`]): B parses each upload (cheap checks
//! first), verifies the proof with A, and on close reveals its share of the
//! sum over exactly the accepted set — once per round id (the shell persists
//! the reveal before it is sent) and only if at least `k_min` workers count
//! (secure-fedavg: valid submissions; trust rules: positive trust).
//!
//! Frames come in undecoded ([`Helper::handle_a_frame`],
//! [`Helper::handle_worker_frame`]): the helper decodes them with
//! [`HelperConfig::limits`] and answers an undecodable worker frame with a
//! `Reject`. The session's 2PC engine lives in the pipeline, made at A's
//! `Hello` and replaced at the next one, so every session runs fresh base
//! OTs (its engine seed is derived from [`HelperConfig::seed`] and a session
//! counter, never reused); nothing of it is ever written to disk.

use mpc_core::codec::{Limits, Message};
use mpc_core::prg::Seed;
use mpc_core::wire::{AToB, BToA, BToWorker, WorkerToB};
use tracing::{info, warn};

use super::rejection::Rejection;
use super::robust_b::RobustHelper;
use crate::mpc::corr::Party;
use crate::robust::pipeline::session_engine_seed;

/// What the helper asks its shell to do, in order.
#[derive(Debug)]
pub enum HelperAction {
    /// Send to server A.
    ToA(BToA),
    /// Send to a worker.
    ToWorker {
        /// Worker id.
        worker: u32,
        /// Message.
        msg: BToWorker,
    },
    /// Durably record that `round` is revealed, before any later action is performed.
    PersistReveal {
        /// Round id.
        round: u64,
    },
}

/// Helper configuration ([`HelperConfig::new`] for the defaults).
#[derive(Clone, Debug)]
pub struct HelperConfig {
    /// Minimum number of workers in a revealed sum.
    pub k_min: usize,
    /// Uploads held while waiting for A's seed commitment.
    pub max_pending: usize,
    /// Uploads held at once (parsed halves and prepared workers waiting for
    /// their batch). At this many the shell stops reading worker frames until
    /// a batch completes ([`Helper::wants_uploads`]).
    pub max_in_flight: usize,
    /// Bytes of workers' data held at once: uploads taken, parsed and
    /// prepared (X_B and W + Z, until their batch is done), the open batch's
    /// and the reusable buffers. Another upload is taken only if it fits
    /// (one is always taken when none is held, so a round always moves).
    pub memory_budget: usize,
    /// Decoding limits for frames from A and workers.
    pub limits: Limits,
    /// B's secret root seed: the pipeline of the n-th session (A's n-th
    /// `Hello`) gets the engine seed
    /// [`session_engine_seed`]`(seed, B, n)`. Fresh from the OS CSPRNG in
    /// server B; fixed in tests, which makes a run replayable.
    pub seed: Seed,
}

impl HelperConfig {
    /// The default bounds (k_min 3, 4096 pending, 64 in flight, 512 MiB of
    /// workers' data, default limits) with root seed `seed`.
    pub fn new(seed: Seed) -> HelperConfig {
        HelperConfig {
            k_min: 3,
            max_pending: 4096,
            max_in_flight: 64,
            memory_budget: 512 << 20,
            limits: Limits::default(),
            seed,
        }
    }
}

/// Server B's state.
#[derive(Debug)]
pub struct Helper {
    cfg: HelperConfig,
    last_revealed: u64,
    /// Sessions started so far (A's `Hello`s): numbers the engine seeds.
    sessions: u64,
    /// The session's pipeline state (from A's `Hello`).
    robust: Option<RobustHelper>,
}

impl Helper {
    /// A helper that has revealed every round up to `last_revealed` (from durable state).
    pub fn new(cfg: HelperConfig, last_revealed: u64) -> Helper {
        Helper {
            cfg,
            last_revealed,
            sessions: 0,
            robust: None,
        }
    }

    /// The highest revealed round id.
    pub fn last_revealed(&self) -> u64 {
        self.last_revealed
    }

    /// Whether the shell should read the next worker frame now. The
    /// pipeline holds O(d) per upload until its batch is done, so B takes at
    /// most `max_in_flight` at a time, and only while what it holds plus one
    /// more upload fits `memory_budget`; the rest wait in QUIC flow control.
    pub fn wants_uploads(&self) -> bool {
        self.robust.as_ref().is_none_or(RobustHelper::wants_uploads)
    }

    /// Per-worker work waiting for [`Helper::poll_work`] (uploads to parse,
    /// prepared workers to report). A shell may hand over every frame that
    /// is already there before it calls `poll_work`, so that the work of
    /// several workers runs at once on the rayon pool.
    pub fn pending_work(&self) -> usize {
        self.robust.as_ref().map_or(0, RobustHelper::pending_work)
    }

    /// Does the per-worker work the frames handed over so far made
    /// possible (see [`RobustHelper::poll_work`]): call it after each frame
    /// or after each group of frames. Frame handlers do only cheap checks
    /// and bookkeeping; nothing of a worker's upload is parsed before this.
    pub fn poll_work(&mut self) -> Vec<HelperAction> {
        self.robust
            .as_mut()
            .map_or_else(Vec::new, RobustHelper::poll_work)
    }

    /// The open round, if any.
    pub fn open_round(&self) -> Option<u64> {
        self.robust.as_ref().and_then(RobustHelper::open_round)
    }

    /// A frame from server A (an undecodable one is logged and ignored).
    pub fn handle_a_frame(&mut self, frame: &[u8]) -> Vec<HelperAction> {
        match AToB::decode_with(frame, &self.cfg.limits) {
            Ok(msg) => self.on_a(msg),
            Err(e) => {
                warn!(error = %e, "undecodable message from server A: ignored");
                Vec::new()
            }
        }
    }

    /// A frame from the authenticated worker `from`; `wire_bytes` is its
    /// size on the wire (for accounting). An undecodable frame is refused to
    /// its sender and changes nothing.
    pub fn handle_worker_frame(
        &mut self,
        from: u32,
        frame: &[u8],
        wire_bytes: usize,
    ) -> Vec<HelperAction> {
        match WorkerToB::decode_with(frame, &self.cfg.limits) {
            Ok(msg) => self.on_worker(from, msg, wire_bytes),
            Err(e) => refuse(from, 0, Rejection::Undecodable(e.to_string())),
        }
    }

    /// Handles a message from server A.
    fn on_a(&mut self, msg: AToB) -> Vec<HelperAction> {
        match msg {
            AToB::Hello { session } => {
                info!(dim = session.dim, aggregation = %session.aggregation, "session started by server A");
                let mut out = vec![HelperAction::ToA(BToA::Ready {
                    last_revealed: self.last_revealed,
                })];
                self.robust = None;
                if session.aggregation.is_secure() {
                    self.sessions += 1;
                    let seed = session_engine_seed(&self.cfg.seed, Party::B, self.sessions);
                    let (r, first) = RobustHelper::new(&self.cfg, &session, &seed);
                    self.robust = Some(r);
                    out.extend(first);
                }
                out
            }
            AToB::OpenRobust {
                round,
                reference,
                participants,
            } => {
                if let Err(reason) = self.check_open(round) {
                    return Self::refuse(round, reason);
                }
                match self.robust.as_mut() {
                    Some(r) => r.open(round, &reference, participants),
                    None => Self::refuse(round, "no secure session is running".into()),
                }
            }
            AToB::CloseRobust { round, positive } => {
                if round <= self.last_revealed {
                    return Self::refuse(round, format!("round {round} was already revealed"));
                }
                match self.robust.as_mut() {
                    Some(r) if r.open_round() == Some(round) => {
                        // From here the round is closed: it can never be revealed twice.
                        self.last_revealed = round;
                        r.close(round, positive)
                    }
                    _ => Self::refuse(round, format!("round {round} is not open")),
                }
            }
            other => match self.robust.as_mut() {
                Some(r) => r.on_a(other),
                None => {
                    warn!(?other, "message from A outside a secure session: ignored");
                    Vec::new()
                }
            },
        }
    }

    /// Whether A may open `round` now; Err: why not.
    fn check_open(&self, round: u64) -> Result<(), String> {
        if self.robust.is_none() {
            return Err("no secure session: A must send Hello first".into());
        }
        if round <= self.last_revealed {
            return Err(format!(
                "round {round} is not after the last revealed round {}",
                self.last_revealed
            ));
        }
        if let Some(open) = self.open_round()
            && round <= open
        {
            return Err(format!("round {round} is not after the open round {open}"));
        }
        Ok(())
    }

    fn refuse(round: u64, reason: String) -> Vec<HelperAction> {
        warn!(round, %reason, "refusing request from server A");
        vec![HelperAction::ToA(BToA::Refused { round, reason })]
    }

    /// Handles a decoded message from the authenticated worker `from`;
    /// `wire_bytes` is its size on the wire (for accounting).
    ///
    /// B gives A exactly one verdict per worker and round, for the worker's
    /// first upload in the open round. Messages that cannot be that upload —
    /// a claimed id that is not the sender's, another round, a later
    /// duplicate — are refused to the sender only and change nothing, so a
    /// worker cannot make B contradict itself towards A.
    fn on_worker(&mut self, from: u32, msg: WorkerToB, wire_bytes: usize) -> Vec<HelperAction> {
        match msg {
            WorkerToB::Hello { worker } if worker == from => vec![HelperAction::ToWorker {
                worker: from,
                msg: BToWorker::Welcome,
            }],
            WorkerToB::Hello { worker } => refuse(from, 0, wrong_id(worker, from)),
            WorkerToB::Robust { round, worker, .. } if worker != from => {
                refuse(from, round, wrong_id(worker, from))
            }
            upload @ WorkerToB::Robust { round, .. } => match self.robust.as_mut() {
                Some(r) => r.on_upload(from, upload, wire_bytes),
                None => refuse(from, round, Rejection::NoSession),
            },
        }
    }
}

fn wrong_id(claimed: u32, enrolled: u32) -> Rejection {
    Rejection::WrongId { claimed, enrolled }
}

/// Refuses a message to its sender only; no state changes and A is not told.
fn refuse(worker: u32, round: u64, why: Rejection) -> Vec<HelperAction> {
    warn!(worker, round, reason = %why, "refusing worker message");
    vec![HelperAction::ToWorker {
        worker,
        msg: BToWorker::Reject {
            round,
            reason: why.to_string(),
        },
    }]
}
