//! Server A's side of a secure round (`secure-fedavg`, `secure-fltrust`,
//! `secure-filter`), driven by [`super::leader::Leader`]. See
//! [`crate::robust::pipeline`] for the two-party work; this type keeps A's
//! round bookkeeping: who submitted, whose halves are ready, which batch
//! runs, and the final reconstruction g = ‖ĝ₀‖ · (Σ TSᵢ·Xᵢ / 2^f) / Σ TSᵢ
//! (trust rules) or C · (Σ Xᵢ / 2^f) / n (secure-fedavg).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use mpc_core::codec::{decode_field_bytes, encode_field_bytes, f32s_to_bytes, i32s_to_bytes};
use mpc_core::field::Fp;
use mpc_core::prg::Seed;
use mpc_core::wire::{AToB, AToWorker, BToA, SessionInfo, SubmitA};
use tracing::{info, warn};

use super::leader::{LeaderAction, RoundOutcome, reject};
use super::rejection::Rejection;
use crate::mpc::corr::Party;
use crate::mpc::engine::{EngineOutput, EngineStats};
use crate::robust::pipeline::{
    self, MAX_BATCH, PeerMsg, PipeError, Pipeline, PipelineSlot, PreparedWorker, reference_from,
};
use crate::robust::submit::{commit_a, half_a};

struct ReadyWorker {
    worker: u32,
    prep: Prep,
    peer_verifier: Vec<Fp>,
}

/// A's local work on a worker both halves of which are in.
enum Prep {
    /// To do in [`RobustLeader::poll_work`]: the worker's seed and c_B.
    Pending { seed: Seed, commit_b: [u8; 32] },
    /// Done.
    Done(PreparedWorker),
}

struct LeaderRound {
    id: u64,
    expected: BTreeSet<u32>,
    announce: Option<Vec<u8>>,
    /// Workers that submitted a seed (valid or not).
    seen: BTreeSet<u32>,
    /// Workers that said they sit the round out. Whatever such a worker
    /// sends B is never batched (A holds no seed for it), so it is in
    /// neither server's accepted set.
    sat_out: BTreeSet<u32>,
    seeds: BTreeMap<u32, Seed>,
    ready: VecDeque<ReadyWorker>,
    accepted: BTreeSet<u32>,
    rejected: BTreeMap<u32, Rejection>,
    /// ‖ĝ₀‖ (trust rules) or C (secure-fedavg): see [`RobustLeader::start_round`].
    scale_to: f64,
    closing: bool,
    close_sent: Option<(Vec<Fp>, Fp)>,
    bytes_a: u64,
    next_batch: u32,
    /// Workers of the batch in flight.
    in_batch: BTreeSet<u32>,
}

/// A's robust-round state.
pub struct RobustLeader {
    session: SessionInfo,
    pipeline: PipelineSlot,
    round: Option<LeaderRound>,
    /// Whether the engine's frames go out yet: from B's `Ready` on (B has
    /// the session by then).
    live: bool,
}

impl core::fmt::Debug for RobustLeader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RobustLeader")
            .field("round", &self.round.as_ref().map(|r| r.id))
            .finish_non_exhaustive()
    }
}

impl RobustLeader {
    /// A's side for `session` (a robust rule); starts the 2PC engine, seeded
    /// with `engine_seed` (fresh per session) — its first messages go out
    /// with the first round.
    pub fn new(session: SessionInfo, engine_seed: &Seed) -> RobustLeader {
        let pipeline = pipeline::for_session(Party::A, &session, engine_seed);
        RobustLeader {
            session,
            pipeline,
            round: None,
            live: false,
        }
    }

    /// B has the session (its `Ready`): the engine's first messages (base
    /// OTs both ways) go out now, off the first round's critical path.
    pub fn b_ready(&mut self) -> Vec<LeaderAction> {
        self.live = true;
        self.drain()
    }

    /// Starts the engine self-test (before the first round); Err: why not.
    pub fn start_selftest(&mut self, ops: usize) -> Result<Vec<LeaderAction>, String> {
        if self.round.is_some() {
            return Err("the engine self-test runs before the first round".into());
        }
        pipeline::with_pipeline(&mut self.pipeline, |p| p.submit_selftest(ops))
            .map_err(|e| e.to_string())?;
        self.live = true;
        Ok(self.drain())
    }

    /// The engine self-test's outputs so far.
    pub fn take_selftest(&mut self) -> Vec<EngineOutput> {
        self.pipeline
            .as_mut()
            .map(Pipeline::take_selftest)
            .unwrap_or_default()
    }

    /// The engine's counters; Err: why the pipeline is gone.
    pub fn engine_stats(&self) -> Result<EngineStats, String> {
        match &self.pipeline {
            Ok(p) => Ok(*p.engine().stats()),
            Err(e) => Err(e.clone()),
        }
    }

    /// The open round id.
    pub fn open_round(&self) -> Option<u64> {
        self.round.as_ref().map(|r| r.id)
    }

    /// Starts a round; trust rules take A's proxy update ĝ₀ as the
    /// reference (secure-fedavg has none and ignores `reference`).
    pub fn start_round(
        &mut self,
        round: u64,
        model: &[f32],
        expected: BTreeSet<u32>,
        reference: Option<Vec<f32>>,
    ) -> Vec<LeaderAction> {
        let scale = self.session.fixed.scale();
        let trust = self.session.aggregation.is_trust_based();
        let g0 = if trust {
            reference.unwrap_or_default()
        } else {
            Vec::new()
        };
        // The reconstruction scales Σ TSᵢ·Xᵢ / (2^f·Σ TSᵢ) by ‖ĝ₀‖ (FLTrust)
        // or Σ Xᵢ / (2^f·n) by the clip bound C (secure-fedavg).
        let scale_to = if trust {
            g0.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt()
        } else {
            f64::from(self.session.clip)
        };
        self.live = true;
        self.round = Some(LeaderRound {
            id: round,
            expected,
            announce: Some(f32s_to_bytes(model)),
            seen: BTreeSet::new(),
            sat_out: BTreeSet::new(),
            seeds: BTreeMap::new(),
            ready: VecDeque::new(),
            accepted: BTreeSet::new(),
            rejected: BTreeMap::new(),
            scale_to,
            closing: false,
            close_sent: None,
            bytes_a: 0,
            next_batch: 0,
            in_batch: BTreeSet::new(),
        });
        let g = if trust {
            match reference_from(&g0, scale) {
                Some(g) => g,
                None => {
                    return self.finish(
                        None,
                        None,
                        Some("the proxy update is zero or missing".into()),
                    );
                }
            }
        } else {
            Vec::new()
        };
        let pipeline = match self.pipeline.as_mut() {
            Ok(p) => p,
            Err(e) => {
                let e = e.clone();
                return self.finish(None, None, Some(format!("robust setup failed: {e}")));
            }
        };
        let max = pipeline.setup().max_workers;
        let participants: Vec<u32> = self
            .round
            .as_ref()
            .map(|r| r.expected.iter().copied().collect())
            .unwrap_or_default();
        if participants.len() > max {
            return self.finish(
                None,
                None,
                Some(format!(
                    "{} participants exceed the {max} a round can sum without wrap-around",
                    participants.len()
                )),
            );
        }
        if let Err(e) = pipeline.open_round(round, &g) {
            return self.fail(e);
        }
        let mut out = vec![LeaderAction::ToB(AToB::OpenRobust {
            round,
            reference: i32s_to_bytes(&g),
            participants,
        })];
        out.extend(self.drain());
        out
    }

    /// B confirmed the round: announce it.
    pub fn on_opened(&mut self, round: u64) -> Vec<LeaderAction> {
        match self.round.as_mut().filter(|r| r.id == round) {
            Some(r) => match r.announce.take() {
                Some(model) => vec![LeaderAction::Broadcast {
                    to: r.expected.iter().copied().collect(),
                    msg: AToWorker::Announce { round, model },
                }],
                None => Vec::new(),
            },
            None => Vec::new(),
        }
    }

    /// A submission from the authenticated worker `from` (its claimed id
    /// already checked by the leader): admitted once per open round, and
    /// only a seed (the upload goes to B).
    pub fn on_submit(
        &mut self,
        from: u32,
        round: u64,
        payload: SubmitA,
        wire_bytes: usize,
    ) -> Vec<LeaderAction> {
        if let Err(why) = self.admit(round, from, wire_bytes) {
            return reject(from, round, why);
        }
        if let Some(r) = self.round.as_mut() {
            r.seen.insert(from);
        }
        match payload {
            SubmitA::Seed(seed) => self.on_seed(round, from, seed),
            SubmitA::Plain(_) => {
                let aggregation = self.session.aggregation;
                let why = Rejection::WrongPayload { aggregation };
                let mut out = reject(from, round, why.clone());
                out.extend(self.reject_in_round(round, from, why));
                out
            }
        }
    }

    /// Whether `round` takes submissions from `worker` now; Err: the reason.
    fn admit(&mut self, round: u64, worker: u32, wire_bytes: usize) -> Result<(), Rejection> {
        let open = self.open_round();
        let Some(r) = self
            .round
            .as_mut()
            .filter(|r| r.id == round && !r.closing && r.announce.is_none())
        else {
            return Err(Rejection::NotOpen { round, open });
        };
        if !r.expected.contains(&worker) {
            return Err(Rejection::NotParticipant { worker, round });
        }
        r.bytes_a += wire_bytes as u64;
        if r.sat_out.contains(&worker) {
            return Err(Rejection::SatOut);
        }
        if r.seen.contains(&worker) {
            return Err(Rejection::Duplicate);
        }
        Ok(())
    }

    /// `from` says it sits round `round` out: acknowledged if the round is
    /// announced to it and it has no submission or verdict in it yet
    /// (otherwise refused, and nothing changes); the round may close now.
    /// B needs no word of it: without a seed at A the worker is never
    /// batched, so an upload it made to B anyway never enters B's sum or
    /// B's accepted set, and both servers still agree on that set.
    pub fn on_sit_out(&mut self, from: u32, round: u64, wire_bytes: usize) -> Vec<LeaderAction> {
        if let Err(why) = self.admit(round, from, wire_bytes) {
            return reject(from, round, why);
        }
        let Some(r) = self.round.as_mut() else {
            return Vec::new();
        };
        if r.rejected.contains_key(&from) {
            // A verdict without a seed at A: B refused the worker's upload,
            // which was its submission.
            return reject(from, round, Rejection::Duplicate);
        }
        info!(round, worker = from, "worker sits the round out");
        r.sat_out.insert(from);
        let mut out = vec![LeaderAction::ToWorker {
            worker: from,
            msg: AToWorker::Ack { round },
        }];
        out.extend(self.maybe_close());
        out
    }

    /// A worker's seed (after [`RobustLeader::admit`]).
    fn on_seed(&mut self, round: u64, worker: u32, seed: Seed) -> Vec<LeaderAction> {
        let Some(r) = self.round.as_mut().filter(|r| r.id == round) else {
            return Vec::new();
        };
        let commit = commit_a(&seed, round, worker);
        r.seeds.insert(worker, seed);
        vec![
            LeaderAction::ToB(AToB::SeedCommit {
                round,
                worker,
                commit,
            }),
            LeaderAction::ToWorker {
                worker,
                msg: AToWorker::Ack { round },
            },
        ]
    }

    /// A worker refused by A in this round (wrong payload kind etc.).
    fn reject_in_round(&mut self, round: u64, worker: u32, why: Rejection) -> Vec<LeaderAction> {
        if let Some(r) = self.round.as_mut().filter(|r| r.id == round) {
            r.rejected.insert(worker, why);
            r.seeds.remove(&worker);
        }
        self.maybe_close()
    }

    /// The round deadline passed: stop taking submissions, finish what is ready.
    pub fn on_deadline(&mut self, round: u64) -> Vec<LeaderAction> {
        let Some(r) = self.round.as_mut().filter(|r| r.id == round) else {
            return Vec::new();
        };
        if r.close_sent.is_some() {
            return self.finish(None, None, Some("server B did not answer the close".into()));
        }
        if r.closing {
            // A later deadline and still no close: a batch (with its engine
            // jobs) never finished at B. The engines are out of step for
            // good, so the pipeline is retired and the round ends here.
            let why = format!("a batch of round {round} did not finish before the deadline");
            warn!(round, "{why}: ending the round and retiring the pipeline");
            self.pipeline = Err(why.clone());
            return self.finish(None, None, Some(format!("robust pipeline: {why}")));
        }
        info!(
            round,
            accepted = r.accepted.len(),
            expected = r.expected.len(),
            "round deadline reached"
        );
        r.closing = true;
        r.announce = None;
        // Workers whose halves never met are out.
        let ready: BTreeSet<u32> = r.ready.iter().map(|x| x.worker).collect();
        for w in r.expected.clone() {
            if !r.accepted.contains(&w)
                && !r.rejected.contains_key(&w)
                && !r.sat_out.contains(&w)
                && !ready.contains(&w)
                && !r.in_batch.contains(&w)
            {
                r.seeds.remove(&w);
                r.rejected.insert(w, Rejection::Deadline);
            }
        }
        self.maybe_close()
    }

    /// A message from B that belongs to robust rounds.
    pub fn on_b(&mut self, msg: BToA) -> Vec<LeaderAction> {
        let result = match msg {
            BToA::Engine(bytes) => {
                pipeline::with_pipeline(&mut self.pipeline, |p| p.on_engine_frame(&bytes))
            }
            BToA::Checks(x) => pipeline::with_pipeline(&mut self.pipeline, |p| p.on_checks(x)),
            BToA::Cross(x) => pipeline::with_pipeline(&mut self.pipeline, |p| p.on_cross(x)),
            BToA::UploadReady {
                round,
                worker,
                commit,
                verifier,
            } => return self.on_upload_ready(round, worker, commit, &verifier),
            BToA::Rejected {
                round,
                worker,
                reason,
            } => {
                let Some(r) = self.round.as_mut().filter(|r| r.id == round) else {
                    return Vec::new();
                };
                if r.sat_out.contains(&worker) {
                    // It said it sits out: its upload to B does not count
                    // either way (never batched), and it is not rejected.
                    warn!(round, worker, %reason, "server B refused an upload from a worker that sat out: ignored");
                } else if r.expected.contains(&worker)
                    && !r.accepted.contains(&worker)
                    && !r.rejected.contains_key(&worker)
                {
                    warn!(round, worker, %reason, "server B rejected a worker's upload");
                    r.rejected.insert(worker, Rejection::AtB(reason));
                    r.seeds.remove(&worker);
                }
                return self.maybe_close();
            }
            BToA::RobustSum {
                round,
                workers,
                positive,
                sum,
                weight,
                bytes_from_workers,
            } => return self.on_sum(round, &workers, positive, &sum, weight, bytes_from_workers),
            BToA::Refused { round, reason } => {
                if self.open_round() == Some(round) {
                    warn!(round, %reason, "server B refused the round");
                    return self.finish(None, None, Some(format!("server B: {reason}")));
                }
                return Vec::new();
            }
            BToA::RoundOpened { round } => return self.on_opened(round),
            other => {
                warn!(
                    ?other,
                    "message from B that robust rounds do not use: ignored"
                );
                return Vec::new();
            }
        };
        match result {
            Ok(()) => self.progress(),
            Err(e) => self.fail(e),
        }
    }

    fn on_upload_ready(
        &mut self,
        round: u64,
        worker: u32,
        commit_b: [u8; 32],
        verifier: &[u8],
    ) -> Vec<LeaderAction> {
        let Ok(pipeline) = self.pipeline.as_ref() else {
            return Vec::new();
        };
        let Some(r) = self.round.as_mut().filter(|r| r.id == round) else {
            warn!(
                round,
                worker, "B reported an upload outside the open round: ignored"
            );
            return Vec::new();
        };
        let Some(seed) = r.seeds.remove(&worker) else {
            warn!(
                round,
                worker, "B reported an upload A holds no seed for: ignored"
            );
            return Vec::new();
        };
        let setup = pipeline.setup();
        let peer_verifier = match decode_field_bytes(verifier, setup.circuit.verifier_len()) {
            Ok(v) => v,
            Err(e) => return self.fail(PipeError::Malformed(format!("B's verifier: {e}"))),
        };
        // Expanded from the seed and prepared in `poll_work`, with the
        // others reported by then, across cores.
        r.ready.push_back(ReadyWorker {
            worker,
            prep: Prep::Pending { seed, commit_b },
            peer_verifier,
        });
        Vec::new()
    }

    /// Workers whose local work [`RobustLeader::poll_work`] has not done yet.
    pub fn pending_work(&self) -> usize {
        if self.pipeline.is_err() {
            // Nothing can be done (and `poll_work` would do nothing).
            return 0;
        }
        self.round.as_ref().map_or(0, |r| {
            r.ready
                .iter()
                .filter(|x| matches!(x.prep, Prep::Pending { .. }))
                .count()
        })
    }

    /// A's local work on every worker B reported ready since the last call
    /// (its half expanded from the seed, [`Pipeline::prepare`]), in parallel
    /// on the current rayon pool, in the order B reported them; then the
    /// next batch starts if none is open.
    pub fn poll_work(&mut self) -> Vec<LeaderAction> {
        if self.pending_work() == 0 {
            return Vec::new();
        }
        let (Ok(pipeline), Some(r)) = (self.pipeline.as_ref(), self.round.as_mut()) else {
            return Vec::new();
        };
        let prep = match pipeline.preparer() {
            Ok(p) => p,
            Err(e) => return self.fail(e),
        };
        let round = r.id;
        let all: Vec<ReadyWorker> = r.ready.drain(..).collect();
        let done = pipeline::par_map(all, |x| match x.prep {
            Prep::Pending { seed, commit_b } => {
                let half = half_a(prep.setup(), &seed, round, x.worker);
                let local = prep.prepare(x.worker, half, &commit_b)?;
                Ok(ReadyWorker {
                    prep: Prep::Done(local),
                    ..x
                })
            }
            Prep::Done(_) => Ok(x),
        });
        let mut failed = None;
        for x in done {
            match x {
                Ok(x) => r.ready.push_back(x),
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        if let Some(e) = failed {
            return self.fail(e);
        }
        self.progress()
    }

    /// Drains the pipeline, records finished batches, starts the next batch
    /// and closes when everything is accounted for.
    fn progress(&mut self) -> Vec<LeaderAction> {
        let mut out = Vec::new();
        // A loop, not recursion: a batch whose workers all fail the proof
        // finishes at once, and the next one starts in the same call.
        loop {
            out.extend(self.drain());
            let (Ok(p), Some(r)) = (self.pipeline.as_mut(), self.round.as_mut()) else {
                break;
            };
            while let Some(done) = p.poll_done() {
                for (w, v) in done.verdicts {
                    r.in_batch.remove(&w);
                    match v {
                        Ok(()) => {
                            r.accepted.insert(w);
                        }
                        Err(reason) => {
                            warn!(round = r.id, worker = w, %reason, "worker refused");
                            r.rejected.insert(w, Rejection::Checks(reason));
                        }
                    }
                }
            }
            // Only workers whose local work is done go into a batch.
            let n = r
                .ready
                .iter()
                .take(MAX_BATCH)
                .take_while(|x| matches!(x.prep, Prep::Done(_)))
                .count();
            if p.batch_open() || n == 0 {
                break;
            }
            let batch: Vec<ReadyWorker> = r.ready.drain(..n).collect();
            let workers: Vec<u32> = batch.iter().map(|x| x.worker).collect();
            let mut verifiers = Vec::new();
            let mut locals = Vec::with_capacity(n);
            let mut peer = Vec::with_capacity(n);
            for x in batch {
                if let Prep::Done(local) = x.prep {
                    verifiers.extend(encode_field_bytes(local.verifier()));
                    peer.push(x.peer_verifier);
                    locals.push(local);
                }
            }
            let id = r.next_batch;
            r.next_batch += 1;
            r.in_batch = workers.iter().copied().collect();
            out.push(LeaderAction::ToB(AToB::Batch {
                round: r.id,
                batch: id,
                workers: workers.clone(),
                verifiers,
            }));
            if let Err(e) = p.begin_batch(id, workers, locals, &peer) {
                out.extend(self.fail(e));
                return out;
            }
        }
        out.extend(self.maybe_close());
        out
    }

    fn drain(&mut self) -> Vec<LeaderAction> {
        if !self.live {
            return Vec::new();
        }
        let Ok(p) = self.pipeline.as_mut() else {
            return Vec::new();
        };
        p.take_outgoing()
            .into_iter()
            .map(|m| {
                LeaderAction::ToB(match m {
                    PeerMsg::Engine(f) => AToB::Engine(f),
                    PeerMsg::Checks(x) => AToB::Checks(x),
                    PeerMsg::Cross(x) => AToB::Cross(x),
                })
            })
            .collect()
    }

    fn maybe_close(&mut self) -> Vec<LeaderAction> {
        let (Ok(p), Some(r)) = (self.pipeline.as_mut(), self.round.as_mut()) else {
            return Vec::new();
        };
        if r.close_sent.is_some() || p.batch_open() || !r.ready.is_empty() {
            return Vec::new();
        }
        let done = r
            .expected
            .iter()
            .all(|w| r.accepted.contains(w) || r.rejected.contains_key(w) || r.sat_out.contains(w));
        if !done {
            return Vec::new();
        }
        let shares = match p.close() {
            Ok(s) => s,
            Err(e) => return self.fail(e),
        };
        r.closing = true;
        let round = r.id;
        let positive = shares.positive.value();
        r.close_sent = Some((shares.sum, shares.weight));
        vec![LeaderAction::ToB(AToB::CloseRobust { round, positive })]
    }

    fn on_sum(
        &mut self,
        round: u64,
        workers: &[u32],
        positive: u64,
        sum: &[u8],
        weight: u64,
        bytes_b: u64,
    ) -> Vec<LeaderAction> {
        let dim = self.session.dim as usize;
        let scale = self.session.fixed.scale();
        let Some(r) = self.round.as_mut().filter(|r| r.id == round) else {
            warn!(round, "unexpected round result from B");
            return Vec::new();
        };
        let Some((sum_a, weight_a)) = r.close_sent.take() else {
            warn!(round, "round result from B before A closed: ignored");
            return Vec::new();
        };
        let set: BTreeSet<u32> = workers.iter().copied().collect();
        if set != r.accepted || set.len() != workers.len() {
            return self.finish(
                Some(bytes_b),
                None,
                Some("B's accepted set differs from A's: round discarded".into()),
            );
        }
        let positive = positive as usize;
        if sum.is_empty() {
            let what = if self.session.aggregation.is_trust_based() {
                "workers with positive trust"
            } else {
                "valid submissions"
            };
            let note = format!("only {positive} {what}, fewer than k_min: nothing revealed");
            return self.finish_counts(Some(bytes_b), None, Some(note), positive);
        }
        let sum_b = match decode_field_bytes(sum, dim) {
            Ok(v) => v,
            Err(e) => return self.finish(Some(bytes_b), None, Some(format!("B's sum: {e}"))),
        };
        let Some(weight_b) = Fp::from_canonical(weight) else {
            return self.finish(Some(bytes_b), None, Some("B's weight is malformed".into()));
        };
        let w = (weight_a + weight_b).to_centered();
        if w <= 0 {
            return self.finish_counts(
                Some(bytes_b),
                None,
                Some("total trust is zero".into()),
                positive,
            );
        }
        let factor = r.scale_to / (scale * w as f64);
        let update = sum_a
            .iter()
            .zip(&sum_b)
            .map(|(&a, &b)| ((a + b).to_centered() as f64 * factor) as f32)
            .collect();
        self.finish_counts(Some(bytes_b), Some(update), None, positive)
    }

    fn fail(&mut self, e: PipeError) -> Vec<LeaderAction> {
        warn!(error = %e, "robust pipeline failed");
        pipeline::retire_if_failed(&mut self.pipeline, &e);
        self.finish(None, None, Some(format!("robust pipeline: {e}")))
    }

    fn finish(
        &mut self,
        bytes_b: Option<u64>,
        update: Option<Vec<f32>>,
        note: Option<String>,
    ) -> Vec<LeaderAction> {
        let accepted = self.round.as_ref().map_or(0, |r| r.accepted.len());
        self.finish_counts(bytes_b, update, note, accepted)
    }

    fn finish_counts(
        &mut self,
        bytes_b: Option<u64>,
        update: Option<Vec<f32>>,
        note: Option<String>,
        positive: usize,
    ) -> Vec<LeaderAction> {
        let Some(r) = self.round.take() else {
            return Vec::new();
        };
        let accepted: Vec<u32> = r.accepted.into_iter().collect();
        let zero_trust = accepted.len().saturating_sub(positive);
        vec![LeaderAction::Complete(RoundOutcome {
            round: r.id,
            mean_update: update,
            accepted,
            rejected: r.rejected,
            sat_out: r.sat_out.into_iter().collect(),
            note,
            bytes_from_workers_a: r.bytes_a,
            bytes_from_workers_b: bytes_b.unwrap_or(0),
            zero_trust: Vec::new(),
            zero_trust_count: zero_trust,
        })]
    }
}
