//! Server A's round state machine (sans-io).
//!
//! Secure rules (`secure-fedavg`, `secure-fltrust`, `secure-filter`) run
//! through the validity-proved pipeline: [`super::robust_a::RobustLeader`]
//! holds their rounds (secure-fedavg returns the mean update
//! C · Σ Xᵢ / (n · 2^f) of the valid submissions).
//!
//! Plain rules: workers send updates in the clear; A checks the dimension,
//! finiteness and the norm bound. `plain-fedavg` averages the (clipped)
//! updates; `plain-fltrust` checks ‖u‖ = 1 (± [`NORM_SLACK`]) and weights each
//! update as it arrives by ReLU(cos) with the round's reference update ĝ₀
//! (A's proxy-set update, given to [`Leader::start_round`]), via
//! [`crate::fltrust::Accumulator`]: the model moves by ‖ĝ₀‖ · Σ TSᵢ·uᵢ / Σ TSᵢ
//! if at least `k_min` workers have positive trust.

use std::collections::{BTreeMap, BTreeSet};

use mpc_core::wire::{AToB, AToWorker, BToA, SessionInfo, SubmitA, WorkerToA, bytes_to_f32s};
use tracing::{info, warn};

use super::robust_a::RobustLeader;
use crate::fltrust::{Accumulator, NORM_SLACK, Rule};
use crate::mpc::engine::{EngineOutput, EngineStats};

/// Relative slack on the clip bound for plaintext updates (float rounding).
const CLIP_SLACK: f32 = 1e-3;

/// What the leader asks its shell to do, in order.
#[derive(Debug)]
pub enum LeaderAction {
    /// Send to one worker.
    ToWorker {
        /// Worker id.
        worker: u32,
        /// Message.
        msg: AToWorker,
    },
    /// Send to every connected worker.
    Broadcast(AToWorker),
    /// Send to server B.
    ToB(AToB),
    /// The round is over.
    Complete(RoundOutcome),
}

/// The result of a round.
#[derive(Clone, Debug, PartialEq)]
pub struct RoundOutcome {
    /// Round id.
    pub round: u64,
    /// The update to add to the model, if the round produced one (FedAvg: the
    /// mean; FLTrust: ‖ĝ₀‖ · Σ TSᵢ·uᵢ / Σ TSᵢ).
    pub mean_update: Option<Vec<f32>>,
    /// Workers whose submission passed the validity checks (for trust-based
    /// rules this includes the ones in `zero_trust`). Empty when the round
    /// failed (e.g. B did not answer); kept when a trust-based round had too
    /// few positive-trust workers to update.
    pub accepted: Vec<u32>,
    /// Trust-based rules: accepted workers whose trust weight was 0 (their
    /// update is not in the aggregate).
    pub zero_trust: Vec<u32>,
    /// Workers refused, with reasons.
    pub rejected: BTreeMap<u32, String>,
    /// Why no update was produced, if none was.
    pub note: Option<String>,
    /// Bytes A received from workers in this round.
    pub bytes_from_workers_a: u64,
    /// Bytes B received from workers in this round (as B reports it).
    pub bytes_from_workers_b: u64,
    /// Number of accepted workers with trust 0 (trust-based rules). Secure
    /// rules learn only this count (never which workers: `zero_trust` stays
    /// empty there).
    pub zero_trust_count: usize,
}

#[derive(Debug)]
struct LeaderRound {
    id: u64,
    /// The workers the round was announced to; nobody else may submit.
    expected: BTreeSet<u32>,
    seen: BTreeSet<u32>,
    included: BTreeSet<u32>,
    rejected: BTreeMap<u32, String>,
    plain_sum: Vec<f64>,
    /// Trust-based rules: the weighted sum against the reference update.
    trust: Option<Accumulator>,
    zero_trust: BTreeSet<u32>,
    bytes_a: u64,
}

/// Server A's state.
#[derive(Debug)]
pub struct Leader {
    session: SessionInfo,
    /// Plain rules' round.
    round: Option<LeaderRound>,
    /// Secure rules: the proved pipeline's rounds.
    robust: Option<RobustLeader>,
}

impl Leader {
    /// A leader for `session`.
    pub fn new(session: SessionInfo) -> Leader {
        let robust = session
            .aggregation
            .is_secure()
            .then(|| RobustLeader::new(session.clone()));
        Leader {
            session,
            round: None,
            robust,
        }
    }

    /// The session.
    pub fn session(&self) -> &SessionInfo {
        &self.session
    }

    /// Secure rules: starts the 2PC engine self-test of `ops` DReLUs and
    /// multiplications with B (`server-a --engine-selftest`), before the
    /// first round, on the session's own engine; Err: why not.
    pub fn start_selftest(&mut self, ops: usize) -> Result<Vec<LeaderAction>, String> {
        match self.robust.as_mut() {
            Some(r) => r.start_selftest(ops),
            None => Err("the engine self-test needs a secure rule".into()),
        }
    }

    /// The engine self-test's outputs so far.
    pub fn take_selftest(&mut self) -> Vec<EngineOutput> {
        self.robust
            .as_mut()
            .map(RobustLeader::take_selftest)
            .unwrap_or_default()
    }

    /// Secure rules: the 2PC engine's counters; Err: why there is no engine.
    pub fn engine_stats(&self) -> Result<EngineStats, String> {
        match &self.robust {
            Some(r) => r.engine_stats(),
            None => Err("plain rules have no 2PC engine".into()),
        }
    }

    /// The open round, if any.
    pub fn open_round(&self) -> Option<u64> {
        if let Some(r) = &self.robust {
            return r.open_round();
        }
        self.round.as_ref().map(|r| r.id)
    }

    /// Starts round `round` for the workers in `expected` (the ones the
    /// announcement goes to) with the current `model`.
    ///
    /// Trust-based rules need `reference`, A's update ĝ₀ on its proxy set for
    /// this `model` (it never leaves A); without one of the model's dimension
    /// the round ends at once without an update. Other rules ignore it.
    pub fn start_round(
        &mut self,
        round: u64,
        model: &[f32],
        expected: BTreeSet<u32>,
        reference: Option<Vec<f32>>,
    ) -> Vec<LeaderAction> {
        if let Some(r) = self.robust.as_mut() {
            return r.start_round(round, model, expected, reference);
        }
        let dim = self.session.dim as usize;
        let announce = mpc_core::wire::f32s_to_bytes(model);
        let trust = if self.session.aggregation.is_trust_based() {
            match reference.filter(|r| r.len() == dim && r.iter().all(|x| x.is_finite())) {
                Some(r) => Some(Accumulator::new(
                    r,
                    Rule::Trust,
                    self.session.cos_threshold,
                    self.session.k_min as usize,
                )),
                None => None,
            }
        } else {
            None
        };
        let missing_reference = self.session.aggregation.is_trust_based() && trust.is_none();
        self.round = Some(LeaderRound {
            id: round,
            expected,
            seen: BTreeSet::new(),
            included: BTreeSet::new(),
            rejected: BTreeMap::new(),
            plain_sum: if trust.is_some() {
                Vec::new()
            } else {
                vec![0.0; dim]
            },
            trust,
            zero_trust: BTreeSet::new(),
            bytes_a: 0,
        });
        if missing_reference {
            warn!(round, "no valid reference update for a trust-based rule");
            return self.finish(
                None,
                Some("no valid reference update (proxy set) for this round".into()),
            );
        }
        vec![LeaderAction::Broadcast(AToWorker::Announce {
            round,
            model: announce,
        })]
    }

    /// The round deadline passed: close with what has arrived.
    pub fn on_deadline(&mut self, round: u64) -> Vec<LeaderAction> {
        if let Some(r) = self.robust.as_mut() {
            return r.on_deadline(round);
        }
        let Some(r) = self.round.as_mut().filter(|r| r.id == round) else {
            return Vec::new();
        };
        info!(
            round,
            included = r.included.len(),
            expected = r.expected.len(),
            "round deadline reached"
        );
        self.finish_plain()
    }

    /// Handles a decoded message from the authenticated worker `from`.
    pub fn on_worker(&mut self, from: u32, msg: WorkerToA, wire_bytes: usize) -> Vec<LeaderAction> {
        match msg {
            WorkerToA::Hello { worker } if worker == from => vec![LeaderAction::ToWorker {
                worker: from,
                msg: AToWorker::Welcome {
                    session: self.session.clone(),
                },
            }],
            WorkerToA::Hello { worker } => reject(
                from,
                0,
                format!("claims worker id {worker} but its certificate is enrolled as {from}"),
            ),
            WorkerToA::Submit {
                round,
                worker,
                payload,
            } => self.on_submit(from, round, worker, payload, wire_bytes),
        }
    }

    fn on_submit(
        &mut self,
        from: u32,
        round: u64,
        worker: u32,
        payload: SubmitA,
        wire_bytes: usize,
    ) -> Vec<LeaderAction> {
        if worker != from {
            return reject(
                from,
                round,
                format!(
                    "submission claims worker id {worker} but its certificate is enrolled as {from}"
                ),
            );
        }
        if let Some(rl) = self.robust.as_mut() {
            if let Err(reason) = rl.admit(round, from, wire_bytes) {
                return reject(from, round, reason);
            }
            return match payload {
                SubmitA::Seed(seed) => rl.on_seed(round, from, seed),
                SubmitA::Plain(_) => {
                    let reason = format!(
                        "payload kind does not match the aggregation rule {}",
                        self.session.aggregation
                    );
                    let mut out = reject(from, round, reason.clone());
                    out.extend(rl.reject_in_round(round, from, reason));
                    out
                }
            };
        }
        let open = self.open_round();
        let Some(r) = self.round.as_mut().filter(|r| r.id == round) else {
            return reject(
                from,
                round,
                match open {
                    Some(open) => format!("round {round} is not open (current round is {open})"),
                    None => format!("round {round} is not open (no round is open)"),
                },
            );
        };
        if !r.expected.contains(&from) {
            return reject(
                from,
                round,
                format!("worker {from} is not a participant of round {round}"),
            );
        }
        r.bytes_a += wire_bytes as u64;
        if !r.seen.insert(from) {
            return reject(
                from,
                round,
                "duplicate submission in this round (the first one stands)".into(),
            );
        }
        let mut out = Vec::new();
        match payload {
            SubmitA::Plain(bytes) => match self.check_plain(&bytes) {
                Ok(update) => {
                    let Some(r) = self.round.as_mut() else {
                        return out;
                    };
                    if let Some(acc) = r.trust.as_mut() {
                        if acc.add(&update) <= 0.0 {
                            r.zero_trust.insert(from);
                        }
                    } else {
                        for (s, u) in r.plain_sum.iter_mut().zip(&update) {
                            *s += f64::from(*u);
                        }
                    }
                    r.included.insert(from);
                    out.push(ack(from, round));
                }
                Err(reason) => return self.reject_in_round(from, round, reason),
            },
            SubmitA::Seed(_) => {
                let reason = format!(
                    "payload kind does not match the aggregation rule {}",
                    self.session.aggregation
                );
                return self.reject_in_round(from, round, reason);
            }
        }
        out.extend(self.maybe_close());
        out
    }

    fn check_plain(&self, bytes: &[u8]) -> Result<Vec<f32>, String> {
        let update = bytes_to_f32s(bytes).map_err(|e| format!("invalid update: {e}"))?;
        if update.len() != self.session.dim as usize {
            return Err(format!(
                "update has dimension {}, expected {}",
                update.len(),
                self.session.dim
            ));
        }
        // Computed in f64; it can only overflow to +inf in f32, which fails both checks.
        let norm = crate::fedavg::l2_norm(&update);
        if self.session.aggregation.is_trust_based() && (norm - 1.0).abs() > NORM_SLACK {
            return Err(format!(
                "update norm {norm:.6} is not 1 (± {NORM_SLACK}): {} needs unit-norm updates",
                self.session.aggregation
            ));
        }
        if !self.session.aggregation.is_trust_based()
            && self.session.clip > 0.0
            && norm > self.session.clip * (1.0 + CLIP_SLACK)
        {
            return Err(format!(
                "update norm {norm:.4} exceeds the clip bound {}",
                self.session.clip
            ));
        }
        Ok(update)
    }

    fn reject_in_round(&mut self, worker: u32, round: u64, reason: String) -> Vec<LeaderAction> {
        if let Some(r) = self.round.as_mut().filter(|r| r.id == round) {
            r.rejected.insert(worker, reason.clone());
        }
        let mut out = reject(worker, round, reason);
        out.extend(self.maybe_close());
        out
    }

    /// Handles a message from server B.
    pub fn on_b(&mut self, msg: BToA) -> Vec<LeaderAction> {
        if let Some(r) = self.robust.as_mut() {
            return match msg {
                BToA::Ready { .. } => Vec::new(),
                other => r.on_b(other),
            };
        }
        warn!(?msg, "message from B in a plain session: ignored");
        Vec::new()
    }

    fn maybe_close(&mut self) -> Vec<LeaderAction> {
        let Some(r) = self.round.as_mut() else {
            return Vec::new();
        };
        // Every announced worker has exactly one outcome (the sets are disjoint
        // and only hold announced workers).
        let done = r
            .expected
            .iter()
            .all(|w| r.included.contains(w) || r.rejected.contains_key(w));
        if !done {
            return Vec::new();
        }
        self.finish_plain()
    }

    fn finish_plain(&mut self) -> Vec<LeaderAction> {
        let Some(r) = self.round.as_mut() else {
            return Vec::new();
        };
        let n = r.included.len();
        if n == 0 {
            return self.finish(None, Some("no valid update arrived".into()));
        }
        if let Some(acc) = r.trust.take() {
            let (positive, k_min) = (acc.positive(), acc.k_min());
            return match acc.finish() {
                Some(update) => self.finish(Some(update), None),
                None => {
                    let note = format!(
                        "{positive} worker(s) with positive trust, fewer than k_min = {k_min}: no update"
                    );
                    self.finish_keep_accepted(None, Some(note), true)
                }
            };
        }
        let mean = r.plain_sum.iter().map(|&s| (s / n as f64) as f32).collect();
        self.finish(Some(mean), None)
    }

    fn finish(&mut self, mean: Option<Vec<f32>>, note: Option<String>) -> Vec<LeaderAction> {
        self.finish_keep_accepted(mean, note, false)
    }

    /// Ends the round; `keep_accepted` reports the valid submissions even
    /// without an update (a trust-based round below `k_min`).
    fn finish_keep_accepted(
        &mut self,
        mean: Option<Vec<f32>>,
        note: Option<String>,
        keep_accepted: bool,
    ) -> Vec<LeaderAction> {
        let Some(r) = self.round.take() else {
            return Vec::new();
        };
        let keep = mean.is_some() || keep_accepted;
        let outcome = RoundOutcome {
            round: r.id,
            accepted: if keep {
                r.included.into_iter().collect()
            } else {
                Vec::new()
            },
            zero_trust_count: if keep { r.zero_trust.len() } else { 0 },
            zero_trust: if keep {
                r.zero_trust.into_iter().collect()
            } else {
                Vec::new()
            },
            mean_update: mean,
            rejected: r.rejected,
            note,
            bytes_from_workers_a: r.bytes_a,
            bytes_from_workers_b: 0,
        };
        vec![LeaderAction::Complete(outcome)]
    }
}

fn ack(worker: u32, round: u64) -> LeaderAction {
    LeaderAction::ToWorker {
        worker,
        msg: AToWorker::Ack { round },
    }
}

fn reject(worker: u32, round: u64, reason: String) -> Vec<LeaderAction> {
    warn!(worker, round, %reason, "rejecting worker message");
    vec![LeaderAction::ToWorker {
        worker,
        msg: AToWorker::Reject { round, reason },
    }]
}
