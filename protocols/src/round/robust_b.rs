//! Server B's side of a secure round, driven by [`super::helper::Helper`]:
//! B parses each upload (cheap checks first), waits for A's commitment c_A,
//! does its local work as soon as the round's coin is known, reports
//! `UploadReady` (c_B and its verifier share), keeps only what the
//! accumulation needs (X_B, and W + Z for trust rules) until the worker's
//! batch is done, and on `CloseRobust` reveals its shares — once per round
//! id, and the sums only if at least k_min workers count (positive trust;
//! for secure-fedavg every valid submission counts).

use std::collections::{BTreeMap, BTreeSet};

use mpc_core::codec::{bytes_to_i32s, decode_field_chunks, encode_field_bytes};
use mpc_core::field::Fp;
use mpc_core::prg::Seed;
use mpc_core::wire::{AToB, BToA, BToWorker, SessionInfo, WorkerToB};
use tracing::{info, warn};

use super::helper::{HelperAction, HelperConfig};
use crate::mpc::corr::Party;
use crate::mpc::engine::EngineOutput;
use crate::robust::pipeline::{self, PeerMsg, PipeError, PipelineSlot, PreparedWorker};
use crate::robust::submit::{ServerHalf, half_b};

struct HelperRound {
    id: u64,
    participants: BTreeSet<u32>,
    seen: BTreeSet<u32>,
    /// Uploads taken but not parsed yet ([`RobustHelper::poll_work`]), with
    /// their size on the wire.
    uploads: BTreeMap<u32, (WorkerToB, usize)>,
    halves: BTreeMap<u32, ServerHalf>,
    commits: BTreeMap<u32, [u8; 32]>,
    locals: BTreeMap<u32, PreparedWorker>,
    accepted: BTreeSet<u32>,
    bytes_from_workers: u64,
}

/// The bounds B's session keeps from its [`HelperConfig`].
#[derive(Clone, Copy)]
struct Bounds {
    k_min: usize,
    max_pending: usize,
    max_in_flight: usize,
    memory_budget: usize,
}

/// B's robust-round state.
pub struct RobustHelper {
    cfg: Bounds,
    pipeline: PipelineSlot,
    round: Option<HelperRound>,
}

impl core::fmt::Debug for RobustHelper {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RobustHelper")
            .field("round", &self.round.as_ref().map(|r| r.id))
            .finish_non_exhaustive()
    }
}

impl RobustHelper {
    /// B's side for `session` (a robust rule): starts the 2PC engine,
    /// seeded with `engine_seed` (fresh per session).
    pub fn new(
        cfg: &HelperConfig,
        session: &SessionInfo,
        engine_seed: &Seed,
    ) -> (RobustHelper, Vec<HelperAction>) {
        let pipeline = pipeline::for_session(Party::B, session, engine_seed);
        // B never reveals below its own k_min, whatever k_min A announces.
        // (The count it compares is opened from A's share too: an A that
        // deviates from the protocol can inflate it — semi-honest security,
        // docs/PROTOCOL.md §3 "Reveal rules".)
        let cfg = Bounds {
            k_min: cfg.k_min.max(session.k_min as usize),
            max_pending: cfg.max_pending,
            max_in_flight: cfg.max_in_flight,
            memory_budget: cfg.memory_budget,
        };
        let mut h = RobustHelper {
            cfg,
            pipeline,
            round: None,
        };
        let out = h.drain();
        (h, out)
    }

    /// Whether B has room for another upload (see `HelperConfig::max_in_flight`).
    pub fn wants_uploads(&self) -> bool {
        let Some(r) = self.round.as_ref() else {
            return true;
        };
        if r.held() == 0 {
            return true;
        }
        let (pipeline, next) = self
            .pipeline
            .as_ref()
            .map_or((0, 0), |p| (p.held_bytes(), p.setup().upload_b_bytes()));
        r.held() < self.cfg.max_in_flight
            && r.held_bytes() + pipeline + next <= self.cfg.memory_budget
    }

    /// Uploads taken whose per-worker work [`RobustHelper::poll_work`] has
    /// not done yet (not parsed, or parsed with A's commitment and the
    /// round's coin known but not prepared).
    pub fn pending_work(&self) -> usize {
        let (Ok(p), Some(r)) = (self.pipeline.as_ref(), self.round.as_ref()) else {
            return 0;
        };
        let ready = if p.ready() {
            r.halves
                .keys()
                .filter(|w| r.commits.contains_key(w))
                .count()
        } else {
            0
        };
        r.uploads.len() + ready
    }

    /// The open round id.
    pub fn open_round(&self) -> Option<u64> {
        self.round.as_ref().map(|r| r.id)
    }

    /// Opens `round` (the caller checked it is after the last revealed one).
    pub fn open(
        &mut self,
        round: u64,
        reference: &[u8],
        participants: Vec<u32>,
    ) -> Vec<HelperAction> {
        let p = match self.pipeline.as_mut() {
            Ok(p) => p,
            Err(e) => return refuse_round(round, format!("robust setup failed: {e}")),
        };
        // secure-fedavg has no reference (empty).
        let len = if p.setup().trust { p.setup().dim } else { 0 };
        let g = match bytes_to_i32s(reference, len) {
            Ok(g) => g,
            Err(e) => return refuse_round(round, e.to_string()),
        };
        if let Err(e) = p.open_round(round, &g) {
            return refuse_round(round, e.to_string());
        }
        self.round = Some(HelperRound {
            id: round,
            participants: participants.into_iter().collect(),
            seen: BTreeSet::new(),
            uploads: BTreeMap::new(),
            halves: BTreeMap::new(),
            commits: BTreeMap::new(),
            locals: BTreeMap::new(),
            accepted: BTreeSet::new(),
            bytes_from_workers: 0,
        });
        let mut out = vec![HelperAction::ToA(BToA::RoundOpened { round })];
        out.extend(self.drain());
        out
    }

    /// A robust upload from the authenticated worker `from` (id already matched).
    pub fn on_upload(
        &mut self,
        from: u32,
        upload: WorkerToB,
        wire_bytes: usize,
    ) -> Vec<HelperAction> {
        let WorkerToB::Robust { round, .. } = &upload else {
            return Vec::new();
        };
        let round = *round;
        let open = self.open_round();
        let max_pending = self.cfg.max_pending;
        if self.pipeline.is_err() {
            return refuse_worker(from, round, "the servers' pipeline is down".into());
        }
        let Some(r) = self.round.as_mut().filter(|r| r.id == round) else {
            let reason = match open {
                Some(open) => format!("round {round} is not open (current round is {open})"),
                None => format!("round {round} is not open (no round is open)"),
            };
            return refuse_worker(from, round, reason);
        };
        if !r.participants.contains(&from) {
            // Not announced to: A expects no verdict, B keeps nothing.
            return refuse_worker(
                from,
                round,
                format!("worker {from} is not a participant of round {round}"),
            );
        }
        if !r.seen.insert(from) {
            return refuse_worker(
                from,
                round,
                "duplicate submission in this round (the first one stands)".into(),
            );
        }
        r.bytes_from_workers += wire_bytes as u64;
        if r.held() >= max_pending {
            return verdict_reject(round, from, "too many uploads waiting".into());
        }
        // Parsed, hashed and prepared in `poll_work`, with the others
        // waiting then, across cores.
        r.uploads.insert(from, (upload, wire_bytes));
        Vec::new()
    }

    /// The per-worker work that is possible now, in parallel on the current
    /// rayon pool: every taken upload is parsed (sizes, ring and field
    /// ranges, the commitment c_B over its bytes) and acknowledged or
    /// refused; every parsed upload whose c_A is here is prepared
    /// ([`pipeline::Pipeline::prepare`]) once the round's coin is known, and
    /// reported to A (`UploadReady`). Actions come in worker-id order, so the
    /// result does not depend on the number of threads.
    pub fn poll_work(&mut self) -> Vec<HelperAction> {
        let (Ok(p), Some(r)) = (self.pipeline.as_ref(), self.round.as_mut()) else {
            return Vec::new();
        };
        let coin = p.ready();
        let mut items = Vec::new();
        for (w, (upload, _)) in std::mem::take(&mut r.uploads) {
            let ca = if coin { r.commits.remove(&w) } else { None };
            items.push((w, Work::Upload(upload), ca));
        }
        if coin {
            let ready: Vec<u32> = r
                .halves
                .keys()
                .copied()
                .filter(|w| r.commits.contains_key(w))
                .collect();
            for w in ready {
                if let (Some(half), Some(ca)) = (r.halves.remove(&w), r.commits.remove(&w)) {
                    items.push((w, Work::Half(half), Some(ca)));
                }
            }
            items.sort_by_key(|(w, ..)| *w);
        }
        if items.is_empty() {
            return Vec::new();
        }
        let setup = p.setup();
        // The coin is known whenever an item has a c_A.
        let prep = p.preparer().ok();
        let done = pipeline::par_map(items, |(w, work, ca)| {
            let (half, fresh) = match work {
                Work::Upload(upload) => match half_b(setup, upload) {
                    Ok(h) => (h, true),
                    Err(e) => return (w, Done::Invalid(format!("invalid upload: {e}"))),
                },
                Work::Half(h) => (h, false),
            };
            let (Some(ca), Some(prep)) = (ca, prep.as_ref()) else {
                return (w, Done::Parsed(half, ca));
            };
            let commit = half.commit;
            match prep.prepare(w, half, &ca) {
                Ok(local) => (
                    w,
                    Done::Prepared {
                        local,
                        commit,
                        fresh,
                    },
                ),
                Err(e) => (w, Done::Invalid(format!("invalid upload: {e}"))),
            }
        });
        let round = r.id;
        let mut out = Vec::new();
        for (w, d) in done {
            let ack = HelperAction::ToWorker {
                worker: w,
                msg: BToWorker::Ack { round },
            };
            match d {
                Done::Invalid(reason) => out.extend(verdict_reject(round, w, reason)),
                Done::Parsed(half, ca) => {
                    out.push(ack);
                    r.halves.insert(w, half);
                    if let Some(ca) = ca {
                        r.commits.insert(w, ca);
                    }
                }
                Done::Prepared {
                    local,
                    commit,
                    fresh,
                } => {
                    if fresh {
                        out.push(ack);
                    }
                    out.push(HelperAction::ToA(BToA::UploadReady {
                        round,
                        worker: w,
                        commit,
                        verifier: encode_field_bytes(local.verifier()),
                    }));
                    r.locals.insert(w, local);
                }
            }
        }
        out
    }

    /// A message from A that belongs to robust rounds.
    pub fn on_a(&mut self, msg: AToB) -> Vec<HelperAction> {
        let result = match msg {
            AToB::Engine(bytes) => {
                pipeline::with_pipeline(&mut self.pipeline, |p| p.on_engine_frame(&bytes))
            }
            AToB::Checks(x) => pipeline::with_pipeline(&mut self.pipeline, |p| p.on_checks(x)),
            AToB::Cross(x) => pipeline::with_pipeline(&mut self.pipeline, |p| p.on_cross(x)),
            AToB::SeedCommit {
                round,
                worker,
                commit,
            } => match self.round.as_mut().filter(|r| r.id == round) {
                Some(r) => {
                    r.commits.insert(worker, commit);
                    Ok(())
                }
                None => Err(PipeError::Protocol(format!(
                    "SeedCommit for round {round}, not open"
                ))),
            },
            AToB::Batch {
                round,
                batch,
                workers,
                verifiers,
            } => self.begin_batch(round, batch, workers, &verifiers),
            other => {
                warn!(
                    ?other,
                    "message from A that robust rounds do not use: ignored"
                );
                return Vec::new();
            }
        };
        match result {
            Ok(()) => self.progress(),
            Err(e) => self.fail(e),
        }
    }

    fn begin_batch(
        &mut self,
        round: u64,
        batch: u32,
        workers: Vec<u32>,
        verifiers: &[u8],
    ) -> Result<(), PipeError> {
        let p = self
            .pipeline
            .as_mut()
            .map_err(|e| PipeError::Protocol(format!("no pipeline: {e}")))?;
        let r = self
            .round
            .as_mut()
            .filter(|r| r.id == round)
            .ok_or_else(|| PipeError::Protocol(format!("batch for round {round}, not open")))?;
        let len = p.setup().circuit.verifier_len();
        let peer = decode_field_chunks(verifiers, workers.len(), len)
            .map_err(|e| PipeError::Malformed(format!("verifiers: {e}")))?;
        let mut locals = Vec::with_capacity(workers.len());
        for w in &workers {
            let l = r.locals.remove(w).ok_or_else(|| {
                PipeError::Protocol(format!("batch names worker {w}, not ready at B"))
            })?;
            locals.push(l);
        }
        p.begin_batch(batch, workers, locals, &peer)
    }

    fn progress(&mut self) -> Vec<HelperAction> {
        let out = self.drain();
        if let Ok(p) = self.pipeline.as_mut() {
            for o in p.take_selftest() {
                if let EngineOutput::SelfTest { report, .. } = o {
                    info!(
                        ops = report.ops,
                        correct = report.correct(),
                        "engine self-test checked"
                    );
                }
            }
        }
        if let (Ok(p), Some(r)) = (self.pipeline.as_mut(), self.round.as_mut()) {
            while let Some(done) = p.poll_done() {
                for (w, v) in done.verdicts {
                    if v.is_ok() {
                        r.accepted.insert(w);
                    }
                }
            }
        }
        out
    }

    fn drain(&mut self) -> Vec<HelperAction> {
        let Ok(p) = self.pipeline.as_mut() else {
            return Vec::new();
        };
        p.take_outgoing()
            .into_iter()
            .map(|m| {
                HelperAction::ToA(match m {
                    PeerMsg::Engine(f) => BToA::Engine(f),
                    PeerMsg::Checks(x) => BToA::Checks(x),
                    PeerMsg::Cross(x) => BToA::Cross(x),
                })
            })
            .collect()
    }

    /// `CloseRobust`: the caller checked the round is after the last revealed
    /// one and persists the reveal first ([`HelperAction::PersistReveal`]).
    pub fn close(&mut self, round: u64, positive_a: u64) -> Vec<HelperAction> {
        let Some(r) = self.round.take_if(|r| r.id == round) else {
            return refuse_round(round, format!("round {round} is not open"));
        };
        let mut out = vec![HelperAction::PersistReveal { round }];
        let shares = match self
            .pipeline
            .as_mut()
            .map_err(|e| e.clone())
            .and_then(|p| p.close().map_err(|e| e.to_string()))
        {
            Ok(s) => s,
            Err(e) => {
                out.extend(refuse_round(round, format!("robust pipeline: {e}")));
                return out;
            }
        };
        let Some(pa) = Fp::from_canonical(positive_a) else {
            out.extend(refuse_round(round, "A's count share is malformed".into()));
            return out;
        };
        let positive = (pa + shares.positive).to_centered();
        let workers: Vec<u32> = r.accepted.iter().copied().collect();
        let positive_u = u64::try_from(positive).unwrap_or(0);
        if positive < 0 || positive as usize > workers.len() {
            out.extend(refuse_round(
                round,
                "the positive-trust count is out of range".into(),
            ));
            return out;
        }
        let reveal = positive as usize >= self.cfg.k_min;
        info!(
            round,
            workers = workers.len(),
            positive,
            reveal,
            "closing robust round"
        );
        out.push(HelperAction::ToA(BToA::RobustSum {
            round,
            workers,
            positive: positive_u,
            sum: if reveal {
                encode_field_bytes(&shares.sum)
            } else {
                Vec::new()
            },
            weight: if reveal { shares.weight.value() } else { 0 },
            bytes_from_workers: r.bytes_from_workers,
        }));
        out
    }

    fn fail(&mut self, e: PipeError) -> Vec<HelperAction> {
        warn!(error = %e, "robust pipeline failed");
        let round = self.open_round().unwrap_or(0);
        pipeline::retire_if_failed(&mut self.pipeline, &e);
        self.round = None;
        refuse_round(round, format!("robust pipeline: {e}"))
    }
}

/// One worker's per-worker work in [`RobustHelper::poll_work`].
enum Work {
    /// Not parsed yet.
    Upload(WorkerToB),
    /// Parsed earlier, its c_A arrived since.
    Half(ServerHalf),
}

/// What [`RobustHelper::poll_work`] made of one worker.
enum Done {
    /// Refused (the reason).
    Invalid(String),
    /// Parsed; A's commitment or the round's coin is not here yet (c_A, if
    /// it was taken, goes back).
    Parsed(ServerHalf, Option<[u8; 32]>),
    /// Prepared (`fresh`: parsed in the same call, so not acknowledged yet).
    Prepared {
        local: PreparedWorker,
        commit: [u8; 32],
        fresh: bool,
    },
}

impl HelperRound {
    /// Uploads held in any form (taken, parsed, prepared).
    fn held(&self) -> usize {
        self.uploads.len() + self.halves.len() + self.locals.len()
    }

    /// Bytes they hold.
    fn held_bytes(&self) -> usize {
        self.uploads.values().map(|(_, n)| n).sum::<usize>()
            + self
                .halves
                .values()
                .map(ServerHalf::held_bytes)
                .sum::<usize>()
            + self
                .locals
                .values()
                .map(PreparedWorker::held_bytes)
                .sum::<usize>()
    }
}

fn refuse_round(round: u64, reason: String) -> Vec<HelperAction> {
    warn!(round, %reason, "refusing request from server A");
    vec![HelperAction::ToA(BToA::Refused { round, reason })]
}

fn refuse_worker(worker: u32, round: u64, reason: String) -> Vec<HelperAction> {
    warn!(worker, round, %reason, "refusing worker message");
    vec![HelperAction::ToWorker {
        worker,
        msg: BToWorker::Reject { round, reason },
    }]
}

fn verdict_reject(round: u64, worker: u32, reason: String) -> Vec<HelperAction> {
    warn!(worker, round, %reason, "rejecting worker upload");
    vec![
        HelperAction::ToWorker {
            worker,
            msg: BToWorker::Reject {
                round,
                reason: reason.clone(),
            },
        },
        HelperAction::ToA(BToA::Rejected {
            round,
            worker,
            reason,
        }),
    ]
}
