//! Server B's round state machine (sans-io).
//!
//! B validates each worker's upload (authenticated id, open round, first
//! submission, exact dimension, every ring share below 2^ℓ, canonical carry
//! shares), holds it until A confirms it has the same worker's seed
//! (`HaveSeed`), then adds the lifted share to a running sum and reports
//! `Accepted`. On `CloseRound` it reveals its share of the sum over exactly the
//! accepted set — once per round id (the shell persists the reveal before it is
//! sent) and only if at least `k_min` workers are in it.

use std::collections::{BTreeMap, BTreeSet};

use mpc_core::field::Fp;
use mpc_core::share::{RingShareB, encode_field_bytes};
use mpc_core::wire::{AToB, BToA, BToWorker, SessionInfo, WorkerToB};
use tracing::{info, warn};

use super::robust_b::RobustHelper;

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

/// Helper configuration.
#[derive(Clone, Copy, Debug)]
pub struct HelperConfig {
    /// Minimum number of workers in a revealed sum.
    pub k_min: usize,
    /// Uploads held while waiting for A's seed confirmation.
    pub max_pending: usize,
    /// Robust rules: uploads held at once (parsed halves and prepared
    /// workers waiting for their batch). At this many the shell stops reading
    /// worker frames until a batch completes ([`Helper::wants_uploads`]).
    pub max_in_flight: usize,
}

impl Default for HelperConfig {
    fn default() -> Self {
        HelperConfig {
            k_min: 3,
            max_pending: 4096,
            max_in_flight: 64,
        }
    }
}

#[derive(Debug)]
struct HelperRound {
    id: u64,
    sum: Vec<Fp>,
    included: BTreeSet<u32>,
    pending: BTreeMap<u32, RingShareB>,
    seeds: BTreeSet<u32>,
    seen: BTreeSet<u32>,
    bytes_from_workers: u64,
}

/// Server B's state.
#[derive(Debug)]
pub struct Helper {
    cfg: HelperConfig,
    session: Option<SessionInfo>,
    last_revealed: u64,
    round: Option<HelperRound>,
    robust: Option<RobustHelper>,
}

impl Helper {
    /// A helper that has revealed every round up to `last_revealed` (from durable state).
    pub fn new(cfg: HelperConfig, last_revealed: u64) -> Helper {
        Helper {
            cfg,
            session: None,
            last_revealed,
            round: None,
            robust: None,
        }
    }

    /// The highest revealed round id.
    pub fn last_revealed(&self) -> u64 {
        self.last_revealed
    }

    /// Whether the session runs a robust rule (the 2PC engine then lives in
    /// this state machine: engine frames go to it).
    pub fn is_robust(&self) -> bool {
        self.robust.is_some()
    }

    /// Whether the shell should read the next worker frame now. Robust rules
    /// hold O(d) per upload until its batch is done, so B takes at most
    /// `max_in_flight` at a time; the rest wait in QUIC flow control.
    pub fn wants_uploads(&self) -> bool {
        self.robust.as_ref().is_none_or(RobustHelper::wants_uploads)
    }

    /// The open round, if any.
    pub fn open_round(&self) -> Option<u64> {
        if let Some(r) = &self.robust {
            return r.open_round();
        }
        self.round.as_ref().map(|r| r.id)
    }

    /// Handles a message from server A.
    pub fn on_a(&mut self, msg: AToB) -> Vec<HelperAction> {
        match msg {
            AToB::Hello { session } => {
                info!(dim = session.dim, aggregation = %session.aggregation, "session started by server A");
                self.round = None;
                let mut out = vec![HelperAction::ToA(BToA::Ready {
                    last_revealed: self.last_revealed,
                })];
                self.robust = None;
                if session.aggregation.is_robust() {
                    let (r, first) = RobustHelper::new(self.cfg, &session);
                    self.robust = Some(r);
                    out.extend(first);
                }
                self.session = Some(session);
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
                    None => Self::refuse(round, "this session is not a robust rule".into()),
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
            other if self.robust.is_some() => match self.robust.as_mut() {
                Some(r) => r.on_a(other),
                None => Vec::new(),
            },
            AToB::OpenRound { round } => self.open(round),
            AToB::HaveSeed { round, worker } => self.have_seed(round, worker),
            AToB::CloseRound { round } => self.close(round),
            // Routed to the 2PC engine by the shell; never part of a round.
            AToB::Engine(_) => Vec::new(),
            AToB::SeedCommit { round, .. }
            | AToB::Batch { round, .. }
            | AToB::Checks(mpc_core::wire::Exchange { round, .. })
            | AToB::Cross(mpc_core::wire::Exchange { round, .. }) => {
                Self::refuse(round, "robust-rule message in a non-robust session".into())
            }
        }
    }

    /// Whether A may open `round` now; Err: why not.
    fn check_open(&self, round: u64) -> Result<(), String> {
        if self.session.is_none() {
            return Err("no session: A must send Hello first".into());
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

    fn open(&mut self, round: u64) -> Vec<HelperAction> {
        let Some(session) = &self.session else {
            return Self::refuse(round, "no session: A must send Hello first".into());
        };
        if round <= self.last_revealed {
            return Self::refuse(
                round,
                format!(
                    "round {round} is not after the last revealed round {}",
                    self.last_revealed
                ),
            );
        }
        if let Some(r) = &self.round {
            if round <= r.id {
                return Self::refuse(
                    round,
                    format!("round {round} is not after the open round {}", r.id),
                );
            }
            warn!(old = r.id, new = round, "abandoning an unrevealed round");
        }
        self.round = Some(HelperRound {
            id: round,
            sum: vec![Fp::ZERO; session.dim as usize],
            included: BTreeSet::new(),
            pending: BTreeMap::new(),
            seeds: BTreeSet::new(),
            seen: BTreeSet::new(),
            bytes_from_workers: 0,
        });
        vec![HelperAction::ToA(BToA::RoundOpened { round })]
    }

    fn current(&mut self, round: u64) -> Option<&mut HelperRound> {
        self.round.as_mut().filter(|r| r.id == round)
    }

    fn have_seed(&mut self, round: u64, worker: u32) -> Vec<HelperAction> {
        let Some(session) = self.session.clone() else {
            return Self::refuse(round, "no session".into());
        };
        let Some(r) = self.current(round) else {
            return Self::refuse(
                round,
                format!("HaveSeed for round {round}, which is not open"),
            );
        };
        match r.pending.remove(&worker) {
            Some(share) => Self::include(r, &session, worker, &share),
            None => {
                r.seeds.insert(worker);
                Vec::new()
            }
        }
    }

    fn include(
        r: &mut HelperRound,
        session: &SessionInfo,
        worker: u32,
        share: &RingShareB,
    ) -> Vec<HelperAction> {
        // Dimensions were checked when the upload was parsed.
        if let Err(e) = share.add_lifted(&mut r.sum, session.fixed) {
            warn!(round = r.id, worker, error = %e, "internal dimension mismatch");
            return Vec::new();
        }
        r.included.insert(worker);
        vec![HelperAction::ToA(BToA::Accepted {
            round: r.id,
            worker,
        })]
    }

    fn close(&mut self, round: u64) -> Vec<HelperAction> {
        if round <= self.last_revealed {
            return Self::refuse(round, format!("round {round} was already revealed"));
        }
        let Some(r) = self.round.take_if(|r| r.id == round) else {
            return Self::refuse(round, format!("round {round} is not open"));
        };
        // From here the round is closed whatever happens: it can never be revealed twice.
        self.last_revealed = round;
        let mut out = vec![HelperAction::PersistReveal { round }];
        if r.included.len() < self.cfg.k_min {
            let reason = format!(
                "only {} workers in the sum, fewer than k_min = {}: nothing revealed",
                r.included.len(),
                self.cfg.k_min
            );
            info!(round, %reason, "round closed without reveal");
            out.push(HelperAction::ToA(BToA::Refused { round, reason }));
            return out;
        }
        info!(
            round,
            workers = r.included.len(),
            "revealing B's share of the round sum"
        );
        out.push(HelperAction::ToA(BToA::RoundSum {
            round,
            workers: r.included.into_iter().collect(),
            sum: encode_field_bytes(&r.sum),
            bytes_from_workers: r.bytes_from_workers,
        }));
        out
    }

    /// Handles a decoded message from the authenticated worker `from`;
    /// `wire_bytes` is its size on the wire (for accounting).
    ///
    /// B gives A exactly one verdict (`Accepted` or `Rejected`) per worker and
    /// round, for the worker's first upload in the open round. Messages that
    /// cannot be that upload — a claimed id that is not the sender's, another
    /// round, a later duplicate — are refused to the sender only and change
    /// nothing, so a worker cannot make B contradict itself towards A.
    pub fn on_worker(&mut self, from: u32, msg: WorkerToB, wire_bytes: usize) -> Vec<HelperAction> {
        match msg {
            WorkerToB::Hello { worker } if worker == from => vec![HelperAction::ToWorker {
                worker: from,
                msg: BToWorker::Welcome,
            }],
            WorkerToB::Hello { worker } => refuse(
                from,
                0,
                format!("claims worker id {worker} but its certificate is enrolled as {from}"),
            ),
            WorkerToB::Robust { round, worker, .. } if worker != from => refuse(
                from,
                round,
                format!(
                    "upload claims worker id {worker} but its certificate is enrolled as {from}"
                ),
            ),
            upload @ WorkerToB::Robust { round, .. } => match self.robust.as_mut() {
                Some(r) => r.on_upload(from, upload, wire_bytes),
                None => refuse(
                    from,
                    round,
                    "this session does not take robust uploads".into(),
                ),
            },
            WorkerToB::Upload { round, .. } if self.robust.is_some() => {
                refuse(from, round, "this session takes robust uploads only".into())
            }
            WorkerToB::Upload {
                round,
                worker,
                b,
                kappa_b,
            } => {
                if worker != from {
                    return refuse(
                        from,
                        round,
                        format!(
                            "upload claims worker id {worker} but its certificate is enrolled as {from}"
                        ),
                    );
                }
                let Some(session) = self.session.clone() else {
                    return refuse(from, round, "no session is running".into());
                };
                let max_pending = self.cfg.max_pending;
                let open = self.open_round();
                let Some(r) = self.current(round) else {
                    let reason = match open {
                        Some(open) => {
                            format!("round {round} is not open (current round is {open})")
                        }
                        None => format!("round {round} is not open (no round is open)"),
                    };
                    return refuse(from, round, reason);
                };
                if !r.seen.insert(from) {
                    // The first submission stands; A is not told, so nothing changes.
                    return refuse(
                        from,
                        round,
                        "duplicate submission in this round (the first one stands)".into(),
                    );
                }
                r.bytes_from_workers += wire_bytes as u64;
                let share = match RingShareB::from_wire(
                    &b,
                    &kappa_b,
                    session.dim as usize,
                    session.fixed,
                ) {
                    Ok(s) => s,
                    Err(e) => return verdict_reject(r, from, format!("invalid shares: {e}")),
                };
                if r.seeds.remove(&from) {
                    let mut out = vec![HelperAction::ToWorker {
                        worker: from,
                        msg: BToWorker::Ack { round },
                    }];
                    out.extend(Self::include(r, &session, from, &share));
                    out
                } else if r.pending.len() >= max_pending {
                    verdict_reject(r, from, "too many uploads waiting for server A".into())
                } else {
                    r.pending.insert(from, share);
                    vec![HelperAction::ToWorker {
                        worker: from,
                        msg: BToWorker::Ack { round },
                    }]
                }
            }
        }
    }
}

/// Refuses a message to its sender only; no state changes and A is not told.
fn refuse(worker: u32, round: u64, reason: String) -> Vec<HelperAction> {
    warn!(worker, round, %reason, "refusing worker message");
    vec![HelperAction::ToWorker {
        worker,
        msg: BToWorker::Reject { round, reason },
    }]
}

/// B's one verdict on `worker`'s first upload in round `r`: rejected.
fn verdict_reject(r: &HelperRound, worker: u32, reason: String) -> Vec<HelperAction> {
    warn!(worker, round = r.id, %reason, "rejecting worker upload");
    vec![
        HelperAction::ToWorker {
            worker,
            msg: BToWorker::Reject {
                round: r.id,
                reason: reason.clone(),
            },
        },
        HelperAction::ToA(BToA::Rejected {
            round: r.id,
            worker,
            reason,
        }),
    ]
}
