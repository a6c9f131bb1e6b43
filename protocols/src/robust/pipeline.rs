//! The servers' shared secure-aggregation pipeline (sans-io, one type for
//! both parties): per-worker local work on a server's half, then batches of
//! workers through the 2PC engine — validity verdicts, the two linear checks
//! on the worker-dealt correlations, the trust score, the cross terms — and
//! the running shares of Σ TSᵢ·Xᵢ, Σ TSᵢ and the positive-trust count.
//!
//! secure-fedavg ([`RobustSetup::trust`] false) stops after the verdicts:
//! there is no reference, no ρ, no dealt correlation and no engine job after
//! the round's coin; every valid worker's X share is added with weight 1
//! (A holds the public 1s of Σ TSᵢ and of the count).
//!
//! # Per worker, locally (after both commitments are known)
//!
//! * the FLP joint randomness from H(context ‖ round ‖ worker ‖ c_A ‖ c_B),
//!   the query point from the round's joint coin (never known to workers),
//!   and this server's verifier share;
//! * its share of the cosine numerator S = ⟨X, G⟩;
//! * the linear-check inputs with the round's secret vector ρ (from the coin):
//!   A: u = ⟨ρ,X_A⟩, ⟨ρ,M⟩, ⟨ρ,R⟩, s′; B: ⟨ρ,W⟩, ⟨ρ,Z⟩, v = ⟨ρ,X_B⟩, s.
//!
//! # Per batch (A chooses the workers; both submit the same engine jobs)
//!
//! 1. Both decide the validity proof of every worker from the two verifier
//!    shares (A's travel in `Batch`, B's in `UploadReady`). Only valid
//!    workers go on.
//! 2. Engine: one multiplication job with the products s·u and s′·v (2 per
//!    worker) and one ReLU job on the scores (gate `S > 0`, or `S ≥ T` with
//!    a cosine threshold); then B2A of the gate bits.
//! 3. Linear checks: δ₁ = s·u − ⟨ρ,W⟩ − ⟨ρ,M⟩ and δ₂ = ⟨ρ,Z⟩ − ⟨ρ,R⟩ − s′·v
//!    are opened (`Checks`); both must be 0. They are 0 for an honest worker
//!    (so opening them reveals nothing), and a forged W or Z passes with
//!    probability 1/p over ρ.
//! 4. Cross terms (`Cross`), only for workers that passed both: B sends
//!    t_B − s, A sends t_A − s′; A adds (t_A + t_B − s)·X_A + M − R, B adds
//!    (t_B + t_A − s′)·X_B + W + Z: together t·(X_A + X_B).
//!
//! Nothing of a worker is accumulated before its proof verdict and both
//! checks are known.

use mpc_core::codec::{Message, decode_field_bytes, encode_field_bytes};
use mpc_core::field::{Fp, MulAcc};
use mpc_core::flp::{FlpReject, JointRand, QueryPoint};
use mpc_core::prg::{Domain, Prg, Purpose, Seed};
use mpc_core::wire::{Aggregation, Exchange};
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::Zeroize;

use super::submit::{RobustSetup, ServerHalf};
use crate::mpc::compare::Relation;
use crate::mpc::compare::drelu::Threshold;
use crate::mpc::corr::Party;
use crate::mpc::engine::{Engine, EngineConfig, EngineError, EngineOutput, JobId};

/// Pipeline errors. Structure only, never values.
#[derive(Debug, Error)]
pub enum PipeError {
    /// The 2PC engine failed (it is then unusable; the session must restart).
    #[error("2PC engine: {0}")]
    Engine(#[from] EngineError),
    /// A message from the other server does not fit the current state.
    #[error("protocol: {0}")]
    Protocol(String),
    /// Wrong sizes in a server message.
    #[error("malformed server message: {0}")]
    Malformed(String),
}

/// What the pipeline sends the other server.
#[derive(Debug)]
pub enum PeerMsg {
    /// An engine frame.
    Engine(Vec<u8>),
    /// This party's linear-check shares for a batch.
    Checks(Exchange),
    /// This party's cross-term scalars for a batch.
    Cross(Exchange),
}

/// The verdicts of one finished batch.
#[derive(Debug)]
pub struct BatchDone {
    /// Batch number.
    pub batch: u32,
    /// Per worker, in batch order: `Ok` (accumulated) or why it was refused.
    pub verdicts: Vec<(u32, Result<(), String>)>,
}

/// This server's shares at the end of a round.
pub struct RoundShares {
    /// Share of Σ TSᵢ·Xᵢ.
    pub sum: Vec<Fp>,
    /// Share of Σ TSᵢ.
    pub weight: Fp,
    /// Share of the number of workers with positive trust.
    pub positive: Fp,
}

impl core::fmt::Debug for RoundShares {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RoundShares {{ dim: {}, <redacted> }}", self.sum.len())
    }
}

/// One worker's locally computed values, ready for a batch.
pub struct PreparedWorker {
    verifier: Vec<Fp>,
    score: Fp,
    mult_x: [Fp; 2],
    mult_y: [Fp; 2],
    check_const: [Fp; 2],
    scalar: Fp,
    x: Vec<Fp>,
    offset: Vec<Fp>,
}

impl core::fmt::Debug for PreparedWorker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PreparedWorker {{ dim: {}, <redacted> }}", self.x.len())
    }
}

impl PreparedWorker {
    /// Bytes this worker's prepared values hold (its X share and offset).
    pub fn held_bytes(&self) -> usize {
        8 * (self.x.capacity() + self.offset.capacity() + self.verifier.len())
    }

    /// This server's verifier share.
    pub fn verifier(&self) -> &[Fp] {
        &self.verifier
    }
}

impl Drop for PreparedWorker {
    fn drop(&mut self) {
        self.x.zeroize();
        self.offset.zeroize();
        self.verifier.zeroize();
    }
}

struct Keys {
    coin: [u8; 32],
    rho: Vec<Fp>,
}

struct PipeRound {
    id: u64,
    reference: Vec<Fp>,
    gate: Threshold,
    coin_job: JobId,
    keys: Option<Keys>,
    batch: Option<Batch>,
    acc: Vec<Fp>,
    weight: Fp,
    positive: Fp,
}

struct Batch {
    id: u32,
    workers: Vec<u32>,
    /// Verdict so far per worker (batch order).
    verdicts: Vec<Result<(), String>>,
    /// Indices (into `workers`) of the FLP-valid workers, with their values.
    valid: Vec<usize>,
    locals: Vec<PreparedWorker>,
    mult_job: Option<JobId>,
    relu_job: Option<JobId>,
    b2a_job: Option<JobId>,
    own_delta: Option<Vec<Fp>>,
    peer_delta: Option<Vec<Fp>>,
    passed: Option<Vec<bool>>,
    gated: Option<Vec<Fp>>,
    bits: Option<Vec<Fp>>,
    own_cross: Option<Vec<Fp>>,
    peer_cross: Option<Vec<Fp>>,
}

/// The pipeline of one server.
pub struct Pipeline {
    party: Party,
    setup: RobustSetup,
    rule: Aggregation,
    cos_threshold: Option<f32>,
    engine: Engine,
    round: Option<PipeRound>,
    out: Vec<PeerMsg>,
    done: Vec<BatchDone>,
    pool: BufferPool,
    /// Outputs of an engine self-test (`server-a --engine-selftest`).
    selftest: Vec<EngineOutput>,
}

/// Vectors of finished workers (X share and offset, d each), reused by the
/// next workers' local work instead of fresh allocations (page faults and
/// kernel zeroing of ≈ 4 MB per worker at d = 270k). Wiped when dropped;
/// a reused vector is overwritten in full.
#[derive(Default)]
struct BufferPool(std::sync::Mutex<Vec<Vec<Fp>>>);

/// Most vectors kept in [`BufferPool`]: the two vectors of 8 workers, enough
/// for the workers prepared at once on a few threads without keeping a
/// whole batch's worth (2 × 32 × 8d bytes) allocated after the batch.
const POOL_MAX: usize = 16;

impl BufferPool {
    fn take(&self, dim: usize) -> Vec<Fp> {
        let mut v = self
            .0
            .lock()
            .ok()
            .and_then(|mut s| s.pop())
            .unwrap_or_default();
        v.clear();
        v.reserve_exact(dim);
        v
    }

    fn held_bytes(&self) -> usize {
        self.0
            .lock()
            .map_or(0, |s| s.iter().map(|v| 8 * v.capacity()).sum())
    }

    fn give(&self, local: &mut PreparedWorker) {
        if let Ok(mut s) = self.0.lock() {
            for v in [&mut local.x, &mut local.offset] {
                if s.len() < POOL_MAX && v.capacity() > 0 {
                    s.push(std::mem::take(v));
                }
            }
        }
    }
}

impl Drop for BufferPool {
    fn drop(&mut self) {
        if let Ok(s) = self.0.get_mut() {
            for v in s.iter_mut() {
                v.zeroize();
            }
        }
    }
}

impl core::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pipeline")
            .field("party", &self.party)
            .field("dim", &self.setup.dim)
            .field("round", &self.round.as_ref().map(|r| r.id))
            .finish_non_exhaustive()
    }
}

/// Largest batch of workers run through the engine at once.
pub const MAX_BATCH: usize = 32;

impl Pipeline {
    /// A pipeline for `party`; starts its engine (fresh base OTs), all of
    /// whose randomness comes from `engine_seed` — a fresh, secret seed per
    /// pipeline, never reused. The first engine messages are in
    /// [`Pipeline::take_outgoing`].
    pub fn new(
        party: Party,
        setup: RobustSetup,
        rule: Aggregation,
        cos_threshold: Option<f32>,
        engine_seed: &Seed,
    ) -> Result<Pipeline, PipeError> {
        let mut engine = Engine::new(party, EngineConfig::default(), engine_seed);
        let first = engine.start()?;
        let out = first
            .into_iter()
            .map(|m| PeerMsg::Engine(m.encode()))
            .collect();
        Ok(Pipeline {
            party,
            setup,
            rule,
            cos_threshold,
            engine,
            round: None,
            out,
            done: Vec::new(),
            pool: BufferPool::default(),
            selftest: Vec::new(),
        })
    }

    /// The public setup.
    pub fn setup(&self) -> &RobustSetup {
        &self.setup
    }

    /// The engine's traffic and counters.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Messages for the other server, in order.
    pub fn take_outgoing(&mut self) -> Vec<PeerMsg> {
        for m in self.engine.take_outgoing() {
            self.out.push(PeerMsg::Engine(m.encode()));
        }
        std::mem::take(&mut self.out)
    }

    /// Starts the engine self-test of `ops` DReLUs and multiplications
    /// (`server-a --engine-selftest`; the other server's engine joins when
    /// the request arrives). Only before the first round.
    pub fn submit_selftest(&mut self, ops: usize) -> Result<(), PipeError> {
        self.engine.submit_selftest(ops)?;
        Ok(())
    }

    /// Self-test outputs so far (`SelfTestComputed`, `SelfTest`).
    pub fn take_selftest(&mut self) -> Vec<EngineOutput> {
        std::mem::take(&mut self.selftest)
    }

    /// Finished batches.
    pub fn poll_done(&mut self) -> Option<BatchDone> {
        if self.done.is_empty() {
            None
        } else {
            Some(self.done.remove(0))
        }
    }

    /// Opens round `round` with the reference direction G (integers
    /// |Gₖ| ≤ 2^f, identical at both servers) and tosses the round's coin.
    pub fn open_round(&mut self, round: u64, reference: &[i32]) -> Result<(), PipeError> {
        if self.round.as_ref().is_some_and(|r| r.batch.is_some()) {
            return Err(PipeError::Protocol(
                "a batch of the previous round is open".into(),
            ));
        }
        // secure-fedavg has no reference: it must be empty.
        let expected = if self.setup.trust { self.setup.dim } else { 0 };
        if reference.len() != expected {
            return Err(PipeError::Malformed(format!(
                "reference has {} coordinates, expected {expected}",
                reference.len(),
            )));
        }
        let f = self.setup.fixed.frac();
        let bound = 1i64 << f;
        if reference.iter().any(|&g| i64::from(g).abs() > bound) {
            return Err(PipeError::Malformed(
                "reference coordinate above 2^f".into(),
            ));
        }
        let g_norm = reference
            .iter()
            .map(|&g| f64::from(g) * f64::from(g))
            .sum::<f64>()
            .sqrt();
        let gate = gate(
            self.rule,
            self.cos_threshold,
            self.setup.fixed.scale(),
            g_norm,
        );
        let coin_job = self.engine.submit_coin()?;
        self.round = Some(PipeRound {
            id: round,
            reference: reference
                .iter()
                .map(|&g| Fp::from_i64(i64::from(g)))
                .collect(),
            gate,
            coin_job,
            keys: None,
            batch: None,
            acc: vec![Fp::ZERO; self.setup.dim],
            weight: Fp::ZERO,
            positive: Fp::ZERO,
        });
        Ok(())
    }

    /// Whether the round's joint coin is known (local work can start).
    pub fn ready(&self) -> bool {
        self.round.as_ref().is_some_and(|r| r.keys.is_some())
    }

    /// This server's local work on `worker`'s half, given the other server's
    /// commitment. Needs [`Pipeline::ready`].
    pub fn prepare(
        &self,
        worker: u32,
        half: ServerHalf,
        peer_commit: &[u8; 32],
    ) -> Result<PreparedWorker, PipeError> {
        self.preparer()?.prepare(worker, half, peer_commit)
    }

    /// What the per-worker local work needs of the open round, shareable
    /// across threads (the engine is not). Needs [`Pipeline::ready`].
    pub fn preparer(&self) -> Result<Preparer<'_>, PipeError> {
        let round = self
            .round
            .as_ref()
            .ok_or_else(|| PipeError::Protocol("no open round".into()))?;
        let keys = round
            .keys
            .as_ref()
            .ok_or_else(|| PipeError::Protocol("the round's coin is not known yet".into()))?;
        Ok(Preparer {
            party: self.party,
            setup: &self.setup,
            round: round.id,
            reference: &round.reference,
            keys,
            pool: &self.pool,
        })
    }
}

/// The open round's view for per-worker local work ([`Pipeline::preparer`]):
/// `Sync`, so several workers are prepared at once on the rayon pool.
pub struct Preparer<'a> {
    party: Party,
    setup: &'a RobustSetup,
    round: u64,
    reference: &'a [Fp],
    keys: &'a Keys,
    pool: &'a BufferPool,
}

impl core::fmt::Debug for Preparer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Preparer")
            .field("party", &self.party)
            .field("round", &self.round)
            .finish_non_exhaustive()
    }
}

impl Preparer<'_> {
    /// The public setup.
    pub fn setup(&self) -> &RobustSetup {
        self.setup
    }

    /// This server's local work on `worker`'s half, given the other server's
    /// commitment (see [`Pipeline::prepare`]).
    pub fn prepare(
        &self,
        worker: u32,
        half: ServerHalf,
        peer_commit: &[u8; 32],
    ) -> Result<PreparedWorker, PipeError> {
        let keys = self.keys;
        let setup = self.setup;
        let (c_a, c_b) = match self.party {
            Party::A => (&half.commit, peer_commit),
            Party::B => (peer_commit, &half.commit),
        };
        let binder = mpc_core::flp::binder(&setup.context, self.round, worker, c_a, c_b);
        let joint = JointRand::derive(&setup.circuit, &binder);
        let mut h = Sha256::new();
        h.update(b"tandem/robust/v1/query-point\0");
        h.update(keys.coin);
        h.update(worker.to_le_bytes());
        h.update(binder);
        let qseed: [u8; 32] = h.finalize().into();
        let t = QueryPoint::derive(&setup.circuit, &qseed);
        // One pass over the long vectors, block by block while they are hot:
        // the validity query, S = ⟨X, G⟩, ⟨ρ,X⟩, ⟨ρ,first⟩, ⟨ρ,second⟩ (each
        // summed unreduced), and the vectors kept for the accumulation.
        let mut query = setup
            .circuit
            .query_start(&joint, t)
            .map_err(|e| PipeError::Malformed(format!("validity query: {e}")))?;
        let dim = setup.dim;
        let mut x = self.pool.take(dim);
        let mut offset = self.pool.take(if setup.trust { dim } else { 0 });
        let (mut score, mut rx, mut r1, mut r2) = (
            MulAcc::default(),
            MulAcc::default(),
            MulAcc::default(),
            MulAcc::default(),
        );
        let party = self.party;
        let trust = setup.trust;
        let mut at = 0;
        half.for_each_block(setup, |xs, kappa, first, second| {
            query.absorb(xs, kappa);
            x.extend_from_slice(xs);
            if !trust {
                // secure-fedavg: the proof and X are all a plain sum needs.
                return;
            }
            let n = xs.len();
            let rho = &keys.rho[at..at + n];
            let g = &self.reference[at..at + n];
            for ((((&xk, &fk), &sk), &rk), &gk) in xs.iter().zip(first).zip(second).zip(rho).zip(g)
            {
                score.add_mul(xk, gk);
                rx.add_mul(rk, xk);
                r1.add_mul(rk, fk);
                r2.add_mul(rk, sk);
            }
            match party {
                // first = M, second = R: A keeps M − R.
                Party::A => offset.extend(first.iter().zip(second).map(|(&m, &r)| m - r)),
                // first = W, second = Z: B keeps W + Z.
                Party::B => offset.extend(first.iter().zip(second).map(|(&w, &z)| w + z)),
            }
            at += n;
        });
        let verifier = query
            .finish(half.beta(), half.proof(), party == Party::A)
            .map_err(|e| PipeError::Malformed(format!("validity query: {e}")))?;
        let (score, rx, r1, r2) = (score.reduce(), rx.reduce(), r1.reduce(), r2.reduce());
        let s = half.scalar();
        let (mult_x, mult_y, check_const) = match party {
            // scalar = s′.
            Party::A => ([Fp::ZERO, s], [rx, Fp::ZERO], [-r1, -r2]),
            // scalar = s.
            Party::B => ([s, Fp::ZERO], [Fp::ZERO, rx], [-r1, r2]),
        };
        Ok(PreparedWorker {
            verifier,
            score,
            mult_x,
            mult_y,
            check_const,
            scalar: s,
            x,
            offset,
        })
    }
}

impl Pipeline {
    /// Bytes of workers' vectors the pipeline holds: the open batch's
    /// prepared workers and the reusable buffers.
    pub fn held_bytes(&self) -> usize {
        let batch = self
            .round
            .as_ref()
            .and_then(|r| r.batch.as_ref())
            .map_or(0, |b| b.locals.iter().map(PreparedWorker::held_bytes).sum());
        batch + self.pool.held_bytes()
    }

    /// Whether a batch is in flight.
    pub fn batch_open(&self) -> bool {
        self.round.as_ref().is_some_and(|r| r.batch.is_some())
    }

    /// Starts batch `batch` with `workers` (A's order), this party's locals
    /// (same order) and the other party's verifier shares (concatenated).
    pub fn begin_batch(
        &mut self,
        batch: u32,
        workers: Vec<u32>,
        locals: Vec<PreparedWorker>,
        peer_verifiers: &[Vec<Fp>],
    ) -> Result<(), PipeError> {
        let Pipeline {
            party,
            setup,
            engine,
            round,
            pool,
            done,
            ..
        } = self;
        let round = round
            .as_mut()
            .ok_or_else(|| PipeError::Protocol("no open round".into()))?;
        if round.batch.is_some() {
            return Err(PipeError::Protocol("a batch is already open".into()));
        }
        if round.keys.is_none() {
            return Err(PipeError::Protocol("batch before the round's coin".into()));
        }
        if workers.len() != locals.len()
            || workers.len() != peer_verifiers.len()
            || workers.is_empty()
        {
            return Err(PipeError::Malformed("batch sizes disagree".into()));
        }
        let mut verdicts = Vec::with_capacity(workers.len());
        let mut valid = Vec::new();
        let mut kept = Vec::new();
        for (i, (local, peer)) in locals.into_iter().zip(peer_verifiers).enumerate() {
            let (va, vb) = match party {
                Party::A => (local.verifier.as_slice(), peer.as_slice()),
                Party::B => (peer.as_slice(), local.verifier.as_slice()),
            };
            match setup.circuit.decide(va, vb) {
                Ok(()) => {
                    verdicts.push(Ok(()));
                    valid.push(i);
                    kept.push(local);
                }
                Err(e) => verdicts.push(Err(reject_reason(setup, e))),
            }
        }
        if !setup.trust {
            // secure-fedavg: every valid worker enters the sum with weight 1
            // (A holds the public 1 of each weight and count, B 0). No
            // engine work: the batch is done once the verdicts are known.
            let one = match party {
                Party::A => Fp::ONE,
                Party::B => Fp::ZERO,
            };
            let terms: Vec<(Fp, &PreparedWorker)> = kept.iter().map(|l| (Fp::ONE, l)).collect();
            accumulate(&mut round.acc, &terms);
            for mut l in kept {
                round.weight += one;
                round.positive += one;
                pool.give(&mut l);
            }
            done.push(BatchDone {
                batch,
                verdicts: workers.into_iter().zip(verdicts).collect(),
            });
            return Ok(());
        }
        let mut b = Batch {
            id: batch,
            workers,
            verdicts,
            valid,
            locals: kept,
            mult_job: None,
            relu_job: None,
            b2a_job: None,
            own_delta: None,
            peer_delta: None,
            passed: None,
            gated: None,
            bits: None,
            own_cross: None,
            peer_cross: None,
        };
        if !b.locals.is_empty() {
            let mut xs = Vec::with_capacity(2 * b.locals.len());
            let mut ys = Vec::with_capacity(2 * b.locals.len());
            for l in &b.locals {
                xs.extend_from_slice(&l.mult_x);
                ys.extend_from_slice(&l.mult_y);
            }
            b.mult_job = Some(engine.submit_mult(xs, ys)?);
            let scores = b.locals.iter().map(|l| l.score).collect();
            b.relu_job = Some(engine.submit_relu(scores, round.gate)?);
        }
        round.batch = Some(b);
        self.advance()
    }

    /// An engine frame from the other server.
    pub fn on_engine_frame(&mut self, bytes: &[u8]) -> Result<(), PipeError> {
        let mut sent = Vec::new();
        let result = self.engine.on_frame_with(bytes, &mut |f| sent.push(f));
        self.out.extend(sent.into_iter().map(PeerMsg::Engine));
        result?;
        while let Some(out) = self.engine.poll_output() {
            self.on_output(out)?;
        }
        self.advance()
    }

    fn on_output(&mut self, out: EngineOutput) -> Result<(), PipeError> {
        if matches!(
            out,
            EngineOutput::SelfTestComputed { .. } | EngineOutput::SelfTest { .. }
        ) {
            self.selftest.push(out);
            return Ok(());
        }
        let Some(round) = self.round.as_mut() else {
            // A round closed by its deadline before its coin toss finished:
            // the coin is no longer needed.
            if matches!(out, EngineOutput::Coin { .. }) {
                return Ok(());
            }
            return Err(PipeError::Protocol("engine output outside a round".into()));
        };
        match out {
            EngineOutput::Coin { job, coin } if job == round.coin_job => {
                let mut prg = Prg::new(
                    &Seed(coin),
                    Domain {
                        purpose: Purpose::CheckVector,
                        round: round.id,
                        worker: 0,
                    },
                );
                // ρ serves the linear checks of the dealt correlations only.
                let mut rho = vec![Fp::ZERO; if self.setup.trust { self.setup.dim } else { 0 }];
                prg.fill_fp(&mut rho);
                round.keys = Some(Keys { coin, rho });
                Ok(())
            }
            EngineOutput::Mult { job, shares } => {
                let round_id = round.id;
                let b = batch_for(round, job, |b| b.mult_job)?;
                if shares.len() != 2 * b.locals.len() {
                    return Err(PipeError::Protocol("multiplication output size".into()));
                }
                let deltas: Vec<Fp> = b
                    .locals
                    .iter()
                    .zip(shares.chunks_exact(2))
                    .flat_map(|(l, p)| [p[0] + l.check_const[0], -p[1] + l.check_const[1]])
                    .collect();
                self.out.push(PeerMsg::Checks(Exchange {
                    round: round_id,
                    batch: b.id,
                    values: encode_field_bytes(&deltas),
                }));
                b.own_delta = Some(deltas);
                Ok(())
            }
            EngineOutput::Relu { job, gated, bits } => {
                let b = batch_for(round, job, |b| b.relu_job)?;
                if gated.len() != b.locals.len() || bits.len() != b.locals.len() {
                    return Err(PipeError::Protocol("ReLU output size".into()));
                }
                b.gated = Some(gated);
                b.b2a_job = Some(self.engine.submit_b2a(bits)?);
                Ok(())
            }
            EngineOutput::B2a { job, shares } => {
                let b = batch_for(round, job, |b| b.b2a_job)?;
                if shares.len() != b.locals.len() {
                    return Err(PipeError::Protocol("B2A output size".into()));
                }
                b.bits = Some(shares);
                Ok(())
            }
            // The coin of an earlier round that closed before it arrived.
            EngineOutput::Coin { .. } => Ok(()),
            other => Err(PipeError::Protocol(format!(
                "unexpected engine output {other:?}"
            ))),
        }
    }

    /// The other server's linear-check shares.
    pub fn on_checks(&mut self, ex: Exchange) -> Result<(), PipeError> {
        let b = self.peer_batch(&ex)?;
        if b.peer_delta.is_some() {
            return Err(PipeError::Protocol("duplicate checks message".into()));
        }
        let v = decode_field_bytes(&ex.values, 2 * b.locals.len())
            .map_err(|e| PipeError::Malformed(format!("checks: {e}")))?;
        b.peer_delta = Some(v);
        self.advance()
    }

    /// The other server's cross-term scalars.
    pub fn on_cross(&mut self, ex: Exchange) -> Result<(), PipeError> {
        let b = self.peer_batch(&ex)?;
        if b.peer_cross.is_some() {
            return Err(PipeError::Protocol("duplicate cross message".into()));
        }
        let n = b
            .passed
            .as_ref()
            .map_or(0, |p| p.iter().filter(|&&x| x).count());
        if b.passed.is_none() {
            return Err(PipeError::Protocol("cross terms before the checks".into()));
        }
        let v = decode_field_bytes(&ex.values, n)
            .map_err(|e| PipeError::Malformed(format!("cross: {e}")))?;
        b.peer_cross = Some(v);
        self.advance()
    }

    fn peer_batch(&mut self, ex: &Exchange) -> Result<&mut Batch, PipeError> {
        let round = self
            .round
            .as_mut()
            .filter(|r| r.id == ex.round)
            .ok_or_else(|| {
                PipeError::Protocol(format!("message for round {} not open", ex.round))
            })?;
        round
            .batch
            .as_mut()
            .filter(|b| b.id == ex.batch)
            .ok_or_else(|| PipeError::Protocol(format!("message for batch {} not open", ex.batch)))
    }

    fn advance(&mut self) -> Result<(), PipeError> {
        let rule = self.rule;
        let Some(round) = self.round.as_mut() else {
            return Ok(());
        };
        let Some(b) = round.batch.as_mut() else {
            return Ok(());
        };
        if b.passed.is_none() {
            if b.locals.is_empty() {
                b.passed = Some(Vec::new());
            } else if let (Some(own), Some(peer)) = (&b.own_delta, &b.peer_delta) {
                let passed: Vec<bool> = own
                    .chunks_exact(2)
                    .zip(peer.chunks_exact(2))
                    .map(|(o, p)| o[0] + p[0] == Fp::ZERO && o[1] + p[1] == Fp::ZERO)
                    .collect();
                for (j, &ok) in passed.iter().enumerate() {
                    if !ok && let Some(&i) = b.valid.get(j) {
                        let w_bad = own[2 * j] + peer[2 * j] != Fp::ZERO;
                        let which = if w_bad {
                            "W (t_B·X_A)"
                        } else {
                            "Z (t_A·X_B)"
                        };
                        b.verdicts[i] =
                            Err(format!("dealt correlation {which} fails the linear check"));
                    }
                }
                b.passed = Some(passed);
            }
        }
        let trust_ready = match rule {
            Aggregation::SecureFilter => b.bits.is_some(),
            _ => b.gated.is_some() && b.bits.is_some(),
        } || b.locals.is_empty();
        if b.own_cross.is_none()
            && trust_ready
            && let Some(passed) = &b.passed
        {
            let own: Vec<Fp> = b
                .locals
                .iter()
                .zip(passed)
                .zip(trust_shares(rule, b))
                .filter(|((_, ok), _)| **ok)
                .map(|((l, _), &t)| t - l.scalar)
                .collect();
            if !own.is_empty() {
                self.out.push(PeerMsg::Cross(Exchange {
                    round: round.id,
                    batch: b.id,
                    values: encode_field_bytes(&own),
                }));
            }
            b.own_cross = Some(own);
        }
        let Some(own) = &b.own_cross else {
            return Ok(());
        };
        if !own.is_empty() && b.peer_cross.is_none() {
            return Ok(());
        }
        // Accumulate every worker that passed everything.
        let passed = b.passed.as_deref().unwrap_or_default();
        let t = trust_shares(rule, b);
        let bits = b.bits.as_deref().unwrap_or_default();
        let mut next_peer = b.peer_cross.iter().flatten();
        let mut terms = Vec::with_capacity(b.locals.len());
        for (j, l) in b.locals.iter().enumerate() {
            if !passed.get(j).copied().unwrap_or(false) {
                continue;
            }
            let (Some(&e), Some(&tj), Some(&bj)) = (next_peer.next(), t.get(j), bits.get(j)) else {
                return Err(PipeError::Protocol("cross-term count".into()));
            };
            terms.push((tj + e, l));
            round.weight += tj;
            round.positive += bj;
        }
        accumulate(&mut round.acc, &terms);
        let Some(mut b) = round.batch.take() else {
            return Ok(());
        };
        for l in &mut b.locals {
            self.pool.give(l);
        }
        let verdicts = b.workers.iter().copied().zip(b.verdicts).collect();
        self.done.push(BatchDone {
            batch: b.id,
            verdicts,
        });
        Ok(())
    }

    /// Ends the round (no batch may be open): this server's shares.
    pub fn close(&mut self) -> Result<RoundShares, PipeError> {
        if self.batch_open() {
            return Err(PipeError::Protocol("close while a batch is open".into()));
        }
        let round = self
            .round
            .take()
            .ok_or_else(|| PipeError::Protocol("no open round".into()))?;
        Ok(RoundShares {
            sum: round.acc,
            weight: round.weight,
            positive: round.positive,
        })
    }

    /// The id of the open round, if any.
    pub fn round(&self) -> Option<u64> {
        self.round.as_ref().map(|r| r.id)
    }
}

/// Coordinates of the running sum per parallel task in [`accumulate`]
/// (128 KiB of the sum, plus the same of each worker's two vectors).
const ACC_CHUNK: usize = 16 * 1024;

/// `acc += coef·x + offset` for every `(coef, worker)` of a batch (an empty
/// offset — secure-fedavg — adds nothing), in parallel over chunks of the
/// sum on the current rayon pool (the server's `--threads`). Each chunk
/// adds the workers in batch order; field addition is exact, so the result
/// does not depend on the number of threads.
fn accumulate(acc: &mut [Fp], terms: &[(Fp, &PreparedWorker)]) {
    use rayon::prelude::*;
    if terms.is_empty() {
        return;
    }
    acc.par_chunks_mut(ACC_CHUNK)
        .enumerate()
        .for_each(|(i, chunk)| {
            let at = i * ACC_CHUNK;
            let end = at + chunk.len();
            for &(coef, l) in terms {
                let x = l.x.get(at..end).unwrap_or_default();
                match l.offset.get(at..end) {
                    Some(o) => {
                        for ((a, &x), &o) in chunk.iter_mut().zip(x).zip(o) {
                            *a += coef * x + o;
                        }
                    }
                    None if coef == Fp::ONE => {
                        for (a, &x) in chunk.iter_mut().zip(x) {
                            *a += x;
                        }
                    }
                    None => {
                        for (a, &x) in chunk.iter_mut().zip(x) {
                            *a += coef * x;
                        }
                    }
                }
            }
        });
}

/// `f` on every item, in parallel on the current rayon pool (the server's
/// `--threads`); the results in the items' order, whatever the number of
/// threads, so the state machines stay deterministic.
pub fn par_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
    use rayon::prelude::*;
    items.into_par_iter().map(f).collect()
}

/// The reason a worker whose proof failed is refused with.
fn reject_reason(setup: &RobustSetup, e: FlpReject) -> String {
    match e {
        // With the one-sided window [0, N_hi] a norm output fails when
        // N > N_hi (or the range bits are not those of N).
        FlpReject::NormLow | FlpReject::NormHigh if !setup.trust => format!(
            "validity proof rejected: {e}: the update is not clipped to the clip bound \
             (‖Δ/C‖² above N_hi/2^(2f)) or its range bits are wrong"
        ),
        e => format!("validity proof rejected: {e}"),
    }
}

fn batch_for(
    round: &mut PipeRound,
    job: JobId,
    which: impl Fn(&Batch) -> Option<JobId>,
) -> Result<&mut Batch, PipeError> {
    round
        .batch
        .as_mut()
        .filter(|b| which(b) == Some(job))
        .ok_or_else(|| PipeError::Protocol(format!("engine output for unknown job {job:?}")))
}

/// The trust shares of a batch's valid workers: the B2A'd gate bits
/// (filter) or the gated scores (FLTrust); empty until the engine has them.
fn trust_shares(rule: Aggregation, b: &Batch) -> &[Fp] {
    match rule {
        Aggregation::SecureFilter => b.bits.as_deref().unwrap_or_default(),
        _ => b.gated.as_deref().unwrap_or_default(),
    }
}

/// The comparison gate of a rule: FLTrust `S > 0` (or `S ≥ T` with a
/// threshold), filter `S ≥ T` (τ = 0 by default), where T = ⌈τ·2^f·‖G‖⌉
/// approximates τ·‖X‖·‖G‖ (‖X‖ ≈ 2^f within the norm window).
pub fn gate(rule: Aggregation, tau: Option<f32>, scale: f64, g_norm: f64) -> Threshold {
    let t = |tau: f32| (f64::from(tau) * scale * g_norm).ceil() as i64;
    match (rule, tau) {
        (Aggregation::SecureFilter, tau) => Threshold {
            value: t(tau.unwrap_or(0.0)),
            relation: Relation::Ge,
        },
        (_, Some(tau)) if tau > 0.0 => Threshold {
            value: t(tau),
            relation: Relation::Ge,
        },
        _ => Threshold {
            value: 0,
            relation: Relation::Gt,
        },
    }
}

/// The reference G = round(ĝ₀/‖ĝ₀‖·2^f) of A's proxy update (None: ĝ₀ = 0).
pub fn reference_from(g0: &[f32], scale: f64) -> Option<Vec<i32>> {
    let n = g0
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt();
    if !n.is_finite() || n == 0.0 {
        return None;
    }
    Some(
        g0.iter()
            .map(|&v| (f64::from(v) / n * scale).round() as i32)
            .collect(),
    )
}

/// A server's pipeline for the session, or why it could not be built (the
/// reason ends every round of the session in a note).
pub type PipelineSlot = Result<Pipeline, String>;

/// Builds `party`'s pipeline for a robust `session`, its engine seeded
/// with `engine_seed` (see [`Pipeline::new`]).
pub fn for_session(
    party: Party,
    session: &mpc_core::wire::SessionInfo,
    engine_seed: &Seed,
) -> PipelineSlot {
    let setup = RobustSetup::new(session).map_err(|e| e.to_string())?;
    Pipeline::new(
        party,
        setup,
        session.aggregation,
        session.cos_threshold,
        engine_seed,
    )
    .map_err(|e| e.to_string())
}

/// The engine seed of `party`'s pipeline in its `session`-th session, from
/// the server's secret `root` seed (`LeaderConfig::seed` /
/// `HelperConfig::seed`): a child seed in the `EngineSession` domain, so
/// no two sessions of a server (nor the two parties, should they share a
/// root in a test) ever seed an engine alike.
pub fn session_engine_seed(root: &Seed, party: Party, session: u64) -> Seed {
    root.derive(Domain {
        purpose: Purpose::EngineSession,
        round: session,
        worker: match party {
            Party::A => 0,
            Party::B => 1,
        },
    })
}

/// Runs `f` on the slot's pipeline, or reports why there is none.
pub fn with_pipeline(
    slot: &mut PipelineSlot,
    f: impl FnOnce(&mut Pipeline) -> Result<(), PipeError>,
) -> Result<(), PipeError> {
    match slot.as_mut() {
        Ok(p) => f(p),
        Err(e) => Err(PipeError::Protocol(format!("no pipeline: {e}"))),
    }
}

/// After error `e`: if the engine is poisoned, the pipeline is gone for the
/// rest of the session (a new session starts a new one).
pub fn retire_if_failed(slot: &mut PipelineSlot, e: &PipeError) {
    if let Ok(p) = slot
        && p.engine().is_failed()
    {
        *slot = Err(format!("the 2PC engine failed: {e}"));
    }
}
