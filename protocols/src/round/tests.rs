//! In-memory runs of leader, helper and workers, every message going through
//! the wire codec, checked against the plaintext computation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use mpc_core::codec::{Limits, Message, f32s_to_bytes};
use mpc_core::fixed::FixedParams;
use mpc_core::prg::Seed;
use mpc_core::wire::{
    AToB, AToWorker, Aggregation, BToA, BToWorker, SessionInfo, SubmitA, WorkerToA, WorkerToB,
};
use proptest::prelude::*;

use super::helper::{Helper, HelperAction, HelperConfig};
use super::leader::{Leader, LeaderAction, LeaderConfig, RoundOutcome};
use super::worker::prepare;
use crate::fedavg::{clip_to_norm, mean};
use crate::robust::encode::norm_sq;
use crate::robust::submit::{Draft, RobustSetup};
use crate::robust::tests::{TestRng, test_rng};

pub(super) enum Msg {
    ToB(AToB),
    ToA(BToA),
}

/// The round deadline of the `Sim`'s leader.
pub(super) const ROUND_TIMEOUT: Duration = Duration::from_secs(60);

/// A's root seed in tests (fixed: runs are reproducible).
const SEED_A: Seed = Seed([0xa5; 32]);
/// B's root seed in tests.
const SEED_B: Seed = Seed([0x5b; 32]);
/// The seed of the `Sim`'s workers' randomness.
const SEED_WORKERS: u64 = 0x3057;

/// A leader configuration that starts nothing by itself (the tests start
/// rounds) and never runs out of rounds.
pub(super) fn manual(session: SessionInfo) -> LeaderConfig {
    LeaderConfig {
        session,
        limits: Limits::default(),
        rounds: u64::MAX,
        min_workers: usize::MAX,
        start_timeout: Duration::from_secs(1 << 40),
        round_timeout: ROUND_TIMEOUT,
        selftest_ops: None,
        seed: SEED_A,
    }
}

/// B's default configuration in tests, with `k_min`.
pub(super) fn helper_config(k_min: usize) -> HelperConfig {
    HelperConfig {
        k_min,
        ..HelperConfig::new(SEED_B)
    }
}

/// One frame of a `Sim` run as it went over the wire: the link
/// (`"A->B"`, `"B->A"`, `"A->W"`, `"B->W"`, `"W->A"`, `"W->B"`), the worker
/// at the worker end (0 between the servers) and the bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Frame {
    pub(super) link: &'static str,
    pub(super) worker: u32,
    pub(super) bytes: Vec<u8>,
}

pub(super) struct Sim {
    pub(super) leader: Leader,
    pub(super) helper: Helper,
    /// The leader's clock.
    pub(super) now: Instant,
    /// Messages workers received from A and B.
    pub(super) from_a: Vec<(u32, AToWorker)>,
    pub(super) from_b: Vec<(u32, BToWorker)>,
    pub(super) announced: Option<u64>,
    pub(super) outcome: Option<RoundOutcome>,
    pub(super) reveals: Vec<u64>,
    /// Other leader actions (start requests, self-test, end, failures).
    pub(super) events: Vec<LeaderAction>,
    /// The workers' randomness (`prepare`), from a fixed seed.
    pub(super) rng: TestRng,
    /// Every frame of the run, in the order it was sent.
    pub(super) trace: Vec<Frame>,
}

impl Sim {
    pub(super) fn new(session: SessionInfo, k_min: usize) -> Sim {
        Sim::with_helper(session, helper_config(k_min))
    }

    /// Like [`Sim::new`], with A's, B's and the workers' randomness all
    /// derived from `seed`.
    pub(super) fn seeded(session: SessionInfo, k_min: usize, seed: &Seed) -> Sim {
        use mpc_core::prg::{Domain, Purpose};
        // Test-only labels: three children of `seed` (any distinct domains do).
        let child = |worker| {
            seed.derive(Domain {
                purpose: Purpose::EngineSession,
                round: u64::MAX,
                worker,
            })
        };
        let cfg = LeaderConfig {
            seed: child(0),
            ..manual(session)
        };
        let helper = HelperConfig {
            k_min,
            ..HelperConfig::new(child(1))
        };
        let mut sim = Sim::with(cfg, helper);
        sim.rng = {
            use rand::SeedableRng;
            TestRng::from_seed(child(2).0)
        };
        sim
    }

    pub(super) fn with_helper(session: SessionInfo, cfg: HelperConfig) -> Sim {
        Sim::with(manual(session), cfg)
    }

    /// A leader with `cfg` and a connected helper with `helper`.
    pub(super) fn with(cfg: LeaderConfig, helper: HelperConfig) -> Sim {
        let now = Instant::now();
        let mut sim = Sim {
            leader: Leader::new(cfg, now),
            helper: Helper::new(helper, 0),
            now,
            from_a: Vec::new(),
            from_b: Vec::new(),
            announced: None,
            outcome: None,
            reveals: Vec::new(),
            events: Vec::new(),
            rng: test_rng(SEED_WORKERS),
            trace: Vec::new(),
        };
        let acts = sim.leader.b_connected();
        sim.run_leader(acts);
        sim
    }

    pub(super) fn run_leader(&mut self, acts: Vec<LeaderAction>) {
        let mut q = VecDeque::new();
        self.leader_actions(acts, &mut q);
        self.drain(q);
    }

    pub(super) fn run_helper(&mut self, acts: Vec<HelperAction>) {
        let mut q = VecDeque::new();
        self.helper_actions(acts, &mut q);
        self.drain(q);
    }

    pub(super) fn drain(&mut self, mut q: VecDeque<Msg>) {
        while let Some(m) = q.pop_front() {
            self.deliver(m, &mut q);
        }
    }

    /// Delivers one message between the servers through the codec.
    pub(super) fn deliver(&mut self, m: Msg, q: &mut VecDeque<Msg>) {
        match m {
            Msg::ToB(m) => {
                let frame = self.record("A->B", 0, &m);
                let acts = self.helper_a(&frame);
                self.helper_actions(acts, q);
            }
            Msg::ToA(m) => {
                let frame = self.record("B->A", 0, &m);
                let acts = self.leader_b(&frame);
                self.leader_actions(acts, q);
            }
        }
    }

    /// Encodes `m`, records the frame in the trace and returns it.
    fn record<M: Message>(&mut self, link: &'static str, worker: u32, m: &M) -> Vec<u8> {
        let bytes = m.encode();
        assert_eq!(bytes.len(), m.encoded_len(), "{}", M::KIND);
        self.trace.push(Frame {
            link,
            worker,
            bytes: bytes.clone(),
        });
        bytes
    }

    /// `m` sent to `worker` on `link`: recorded, then decoded as the worker would.
    fn deliver_to_worker<M: Message>(&mut self, link: &'static str, worker: u32, m: &M) -> M {
        let bytes = self.record(link, worker, m);
        M::decode(&bytes).unwrap()
    }

    pub(super) fn leader_actions(&mut self, acts: Vec<LeaderAction>, q: &mut VecDeque<Msg>) {
        for a in acts {
            match a {
                LeaderAction::ToB(m) => q.push_back(Msg::ToB(m)),
                LeaderAction::ToWorker { worker, msg } => {
                    let msg = self.deliver_to_worker("A->W", worker, &msg);
                    self.from_a.push((worker, msg));
                }
                LeaderAction::Broadcast { to, msg } => {
                    if let AToWorker::Announce { round, .. } = &msg {
                        self.announced = Some(*round);
                    }
                    for w in to {
                        let msg = self.deliver_to_worker("A->W", w, &msg);
                        self.from_a.push((w, msg));
                    }
                }
                LeaderAction::Complete(o) => self.outcome = Some(o),
                other => self.events.push(other),
            }
        }
    }

    pub(super) fn helper_actions(&mut self, acts: Vec<HelperAction>, q: &mut VecDeque<Msg>) {
        for a in acts {
            match a {
                HelperAction::ToA(m) => q.push_back(Msg::ToA(m)),
                HelperAction::ToWorker { worker, msg } => {
                    let msg = self.deliver_to_worker("B->W", worker, &msg);
                    self.from_b.push((worker, msg));
                }
                HelperAction::PersistReveal { round } => self.reveals.push(round),
            }
        }
    }

    /// A frame from worker `from` to A, as raw bytes.
    pub(super) fn frame_to_a(&mut self, from: u32, frame: &[u8]) {
        self.trace.push(Frame {
            link: "W->A",
            worker: from,
            bytes: frame.to_vec(),
        });
        let acts = self.leader_worker(from, frame);
        self.run_leader(acts);
    }

    pub(super) fn worker_to_a(&mut self, from: u32, m: WorkerToA) {
        self.frame_to_a(from, &m.encode());
    }

    pub(super) fn worker_to_b(&mut self, from: u32, m: WorkerToB) {
        let frame = self.record("W->B", from, &m);
        let acts = self.helper_worker(from, &frame);
        self.run_helper(acts);
    }

    /// A frame from A into the helper, then its per-worker work (as the
    /// shell does after each group of frames).
    pub(super) fn helper_a(&mut self, frame: &[u8]) -> Vec<HelperAction> {
        let mut acts = self.helper.handle_a_frame(frame);
        acts.extend(self.helper.poll_work());
        acts
    }

    /// A frame from worker `from` into the helper, then its per-worker work.
    pub(super) fn helper_worker(&mut self, from: u32, frame: &[u8]) -> Vec<HelperAction> {
        let mut acts = self.helper.handle_worker_frame(from, frame, frame.len());
        acts.extend(self.helper.poll_work());
        acts
    }

    /// A frame from B into the leader, then its per-worker work.
    pub(super) fn leader_b(&mut self, frame: &[u8]) -> Vec<LeaderAction> {
        let mut acts = self.leader.handle_b_frame(self.now, frame);
        acts.extend(self.leader.poll_work(self.now));
        acts
    }

    /// A frame from worker `from` into the leader, then its per-worker work.
    pub(super) fn leader_worker(&mut self, from: u32, frame: &[u8]) -> Vec<LeaderAction> {
        let mut acts = self
            .leader
            .handle_worker_frame(self.now, from, frame, frame.len());
        acts.extend(self.leader.poll_work(self.now));
        acts
    }

    /// Makes the leader's roster exactly workers `0..n` (new ones say Hello).
    pub(super) fn roster(&mut self, n: usize) {
        let n = n as u32;
        let extra: Vec<u32> = self
            .leader
            .roster()
            .iter()
            .copied()
            .filter(|&w| w >= n)
            .collect();
        for w in extra {
            self.leader.worker_closed(w);
        }
        for w in 0..n {
            if !self.leader.roster().contains(&w) {
                self.worker_to_a(w, WorkerToA::Hello { worker: w });
            }
        }
    }

    /// Starts `round` for the roster as it is, without checking the announcement.
    pub(super) fn start_raw(&mut self, round: u64, model: &[f32], reference: Option<Vec<f32>>) {
        let acts = self.leader.start_round(self.now, round, model, reference);
        self.run_leader(acts);
    }

    pub(super) fn start(&mut self, round: u64, dim: usize, expected: usize) {
        self.start_with(round, dim, expected, None);
    }

    pub(super) fn start_with(
        &mut self,
        round: u64,
        dim: usize,
        expected: usize,
        reference: Option<Vec<f32>>,
    ) {
        self.roster(expected);
        self.start_raw(round, &vec![0.0; dim], reference);
        assert_eq!(
            self.announced,
            Some(round),
            "B must open before A announces"
        );
    }

    pub(super) fn submit(&mut self, round: u64, worker: u32, delta: &[f32], session: &SessionInfo) {
        let s = prepare(session, round, worker, delta, &mut self.rng).unwrap();
        self.worker_to_a(worker, s.to_a);
        if let Some(b) = s.to_b {
            self.worker_to_b(worker, b);
        }
    }

    /// Lets the deadline of `round` pass (nothing happens if it is closed).
    pub(super) fn deadline(&mut self, round: u64) {
        if self.leader.open_round() != Some(round) {
            return;
        }
        self.now += ROUND_TIMEOUT;
        let acts = self.leader.handle_timeout(self.now);
        self.run_leader(acts);
    }
}

/// A secure-fedavg session that reveals from `k_min` valid submissions.
fn fedavg(dim: usize, clip: f32, k_min: u32) -> SessionInfo {
    SessionInfo {
        k_min,
        ..session(dim, Aggregation::SecureFedAvg, clip)
    }
}

pub(super) fn session(dim: usize, aggregation: Aggregation, clip: f32) -> SessionInfo {
    SessionInfo {
        model: "test".into(),
        dim: dim as u32,
        fixed: FixedParams::default(),
        aggregation,
        clip,
        train: mpc_core::wire::TrainParams {
            epochs: 1,
            batch_size: 32,
            lr: 0.1,
        },
        cos_threshold: None,
        k_min: 3,
    }
}

/// The documented error bound of the secure mean relative to the plaintext
/// mean of clipped updates: each coordinate of Δ/C is rounded to a multiple of
/// 2^−f (error ≤ 2^−(f+1)), so the mean is off by at most C · 2^−(f+1) (plus
/// float noise). (Below 10⁶ coordinates the encoding never needs a nudge.)
fn bound(clip: f32, fixed: FixedParams) -> f32 {
    clip * 0.5 / fixed.scale() as f32 + 1e-5
}

fn clipped(updates: &[Vec<f32>], c: f32) -> Vec<Vec<f32>> {
    updates
        .iter()
        .map(|u| {
            let mut v = u.clone();
            clip_to_norm(&mut v, c);
            v
        })
        .collect()
}

fn run_round(updates: &[Vec<f32>], clip: f32, agg: Aggregation) -> RoundOutcome {
    let dim = updates[0].len();
    let s = session(dim, agg, clip);
    let mut sim = Sim::new(s.clone(), 3);
    sim.start(1, dim, updates.len());
    for (i, u) in updates.iter().enumerate() {
        sim.submit(1, i as u32, u, &s);
    }
    sim.outcome
        .take()
        .expect("round completes when all workers are in")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn secure_mean_equals_plaintext_mean(
        dim in 1usize..300,
        n in 3usize..12,
        clip in 0.1f32..5.0,
        seed in any::<u64>(),
    ) {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let updates: Vec<Vec<f32>> = (0..n)
            .map(|_| (0..dim).map(|_| rng.random_range(-1.0f32..1.0) * 3.0).collect())
            .collect();
        let secure = run_round(&updates, clip, Aggregation::SecureFedAvg);
        let plain = mean(&clipped(&updates, clip)).unwrap();
        let got = secure.mean_update.expect("update");
        prop_assert_eq!(secure.accepted.len(), n);
        let b = bound(clip, FixedParams::default());
        for (g, p) in got.iter().zip(&plain) {
            prop_assert!((g - p).abs() <= b, "{} vs {} (bound {})", g, p, b);
        }
        let plain_run = run_round(&updates, clip, Aggregation::PlainFedAvg);
        let pm = plain_run.mean_update.unwrap();
        for (g, p) in pm.iter().zip(&plain) {
            prop_assert!((g - p).abs() <= 1e-5);
        }
    }
}

fn honest(dim: usize, n: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|i| {
            (0..dim)
                .map(|k| ((i * 7 + k * 3) % 11) as f32 / 10.0 - 0.5)
                .collect()
        })
        .collect()
}

/// Runs a secure round with honest workers 0..n plus `attack` (which may
/// submit anything as worker `n`), and checks the result equals the honest-only mean.
fn attacked(attack: impl FnOnce(&mut Sim, &SessionInfo)) -> (Sim, RoundOutcome) {
    let dim = 40;
    let clip = 2.0;
    let ups = honest(dim, 4);
    let s = session(dim, Aggregation::SecureFedAvg, clip);
    let mut sim = Sim::new(s.clone(), 3);
    sim.start(1, dim, ups.len() + 1);
    attack(&mut sim, &s);
    for (i, u) in ups.iter().enumerate() {
        sim.submit(1, i as u32, u, &s);
    }
    sim.deadline(1);
    let o = sim.outcome.take().expect("outcome");
    let expect = mean(&clipped(&ups, clip)).unwrap();
    let got = o.mean_update.clone().expect("honest update survives");
    assert_eq!(o.accepted, vec![0, 1, 2, 3]);
    for (g, e) in got.iter().zip(&expect) {
        assert!((g - e).abs() <= bound(clip, FixedParams::default()));
    }
    (sim, o)
}

fn b_rejected(sim: &Sim, worker: u32, needle: &str) -> bool {
    sim.from_b.iter().any(|(w, m)| {
        *w == worker && matches!(m, BToWorker::Reject { reason, .. } if reason.contains(needle))
    })
}

fn a_rejected(sim: &Sim, worker: u32, needle: &str) -> bool {
    sim.from_a.iter().any(|(w, m)| {
        *w == worker && matches!(m, AToWorker::Reject { reason, .. } if reason.contains(needle))
    })
}

#[test]
fn wrong_dimension_is_rejected() {
    let (sim, o) = attacked(|sim, s| {
        let mut short = s.clone();
        short.dim = 39;
        let sub = prepare(&short, 1, 4, &[0.1; 39], &mut sim.rng).unwrap();
        sim.worker_to_a(4, sub.to_a);
        sim.worker_to_b(4, sub.to_b.unwrap());
    });
    assert!(b_rejected(
        &sim,
        4,
        "upload field `b`: 117 bytes, expected 120"
    ));
    assert!(o.rejected.contains_key(&4));
}

#[test]
fn out_of_ring_share_is_rejected() {
    let (sim, o) = attacked(|sim, s| {
        let sub = prepare(s, 1, 4, &[0.1; 40], &mut sim.rng).unwrap();
        let Some(WorkerToB::Robust {
            round,
            worker,
            mut b,
            kappa_b,
            beta_b,
            proof_b,
            w,
            z,
            s,
            blind,
        }) = sub.to_b
        else {
            panic!()
        };
        b[5] = 0xff; // coordinate 1 becomes ≥ 2^18
        sim.worker_to_a(4, sub.to_a);
        sim.worker_to_b(
            4,
            WorkerToB::Robust {
                round,
                worker,
                b,
                kappa_b,
                beta_b,
                proof_b,
                w,
                z,
                s,
                blind,
            },
        );
    });
    assert!(b_rejected(&sim, 4, "not below 2^18"));
    assert!(o.rejected.contains_key(&4));
}

#[test]
fn duplicate_submission_keeps_the_first() {
    let dim = 10;
    let s = fedavg(dim, 1.0, 1);
    let mut sim = Sim::new(s.clone(), 1);
    sim.start(1, dim, 2);
    sim.submit(1, 0, &[0.1; 10], &s);
    sim.submit(1, 0, &[0.9; 10], &s);
    assert!(a_rejected(&sim, 0, "duplicate submission"));
    assert!(b_rejected(&sim, 0, "duplicate submission"));
    sim.submit(1, 1, &[0.1; 10], &s);
    let o = sim.outcome.take().unwrap();
    assert_eq!(o.accepted, vec![0, 1]);
    for g in o.mean_update.unwrap() {
        assert!((g - 0.1).abs() < 1e-4);
    }
}

#[test]
fn identity_mismatch_is_rejected() {
    let (sim, o) = attacked(|sim, s| {
        // Authenticated as worker 4, claims to be worker 0.
        let sub = prepare(s, 1, 0, &[0.3; 40], &mut sim.rng).unwrap();
        sim.worker_to_a(4, sub.to_a);
        sim.worker_to_b(4, sub.to_b.unwrap());
    });
    assert!(a_rejected(&sim, 4, "enrolled as 4"));
    assert!(b_rejected(&sim, 4, "enrolled as 4"));
    assert!(!o.accepted.contains(&4));
}

#[test]
fn replay_from_earlier_round_is_rejected() {
    let dim = 10;
    let s = fedavg(dim, 1.0, 1);
    let mut sim = Sim::new(s.clone(), 1);
    sim.start(1, dim, 1);
    let old = prepare(&s, 1, 0, &[0.5; 10], &mut sim.rng).unwrap();
    let (old_a, old_b) = (old.to_a.clone(), old.to_b.clone().unwrap());
    sim.worker_to_a(0, old.to_a);
    sim.worker_to_b(0, old.to_b.unwrap());
    assert!(sim.outcome.take().is_some());
    sim.start(2, dim, 2);
    sim.worker_to_a(0, old_a);
    sim.worker_to_b(0, old_b);
    assert!(a_rejected(
        &sim,
        0,
        "round 1 is not open (current round is 2)"
    ));
    assert!(b_rejected(
        &sim,
        0,
        "round 1 is not open (current round is 2)"
    ));
    sim.submit(2, 0, &[-0.2; 10], &s);
    sim.submit(2, 1, &[-0.2; 10], &s);
    let o = sim.outcome.take().unwrap();
    for g in o.mean_update.unwrap() {
        assert!((g + 0.2).abs() < 1e-4);
    }
}

#[test]
fn missing_half_is_not_counted() {
    // A worker that uploads only to B (or only to A) never enters the sum.
    let (_, o) = attacked(|sim, s| {
        let sub = prepare(s, 1, 4, &[0.9; 40], &mut sim.rng).unwrap();
        sim.worker_to_b(4, sub.to_b.unwrap());
    });
    assert!(!o.accepted.contains(&4));
}

#[test]
fn fewer_than_k_min_reveals_nothing_and_b_reveals_once() {
    let dim = 10;
    let s = session(dim, Aggregation::SecureFedAvg, 1.0);
    let mut sim = Sim::new(s.clone(), 3);
    sim.start(1, dim, 2);
    sim.submit(1, 0, &[0.5; 10], &s);
    sim.submit(1, 1, &[0.5; 10], &s);
    let o = sim.outcome.take().unwrap();
    assert!(o.mean_update.is_none());
    assert!(o.note.unwrap().contains("fewer than k_min"));
    assert_eq!(sim.reveals, vec![1]);
    // A second close of the same round is refused, as is reopening it.
    let acts = sim.helper.handle_a_frame(
        &AToB::CloseRobust {
            round: 1,
            positive: 0,
        }
        .encode(),
    );
    assert!(matches!(
        &acts[..],
        [HelperAction::ToA(BToA::Refused { .. })]
    ));
    let acts = sim.helper.handle_a_frame(
        &AToB::OpenRobust {
            round: 1,
            reference: Vec::new(),
            participants: vec![0, 1],
        }
        .encode(),
    );
    assert!(matches!(
        &acts[..],
        [HelperAction::ToA(BToA::Refused { .. })]
    ));
}

#[test]
fn plain_rejects_over_norm_and_wrong_payload() {
    let dim = 8;
    let s = session(dim, Aggregation::PlainFedAvg, 1.0);
    let mut sim = Sim::new(s.clone(), 1);
    sim.start(1, dim, 3);
    sim.worker_to_a(
        0,
        WorkerToA::Submit {
            round: 1,
            worker: 0,
            payload: SubmitA::Plain(f32s_to_bytes(&[1.0; 8])),
        },
    );
    assert!(a_rejected(&sim, 0, "exceeds the clip bound"));
    let seed = Seed::from_rng(&mut sim.rng);
    sim.worker_to_a(
        1,
        WorkerToA::Submit {
            round: 1,
            worker: 1,
            payload: SubmitA::Seed(seed),
        },
    );
    assert!(a_rejected(&sim, 1, "payload kind"));
    sim.submit(1, 2, &[0.1; 8], &s);
    let o = sim.outcome.take().unwrap();
    assert_eq!(o.accepted, vec![2]);
    assert_eq!(o.rejected.len(), 2);
}

/// `worker`'s messages for the encoded integers `x` (any values), shared and
/// proved like an honest submission: honest carries, range bits the low w
/// bits of N − N_lo and N_hi − N with N = Σ xₖ² (the honest ones when N is
/// in the window; outside it one of the two norm outputs cannot be 0), then
/// `edit` changes the claims before the proof is made.
fn proved(
    s: &SessionInfo,
    round: u64,
    worker: u32,
    x: &[i64],
    rng: &mut TestRng,
    edit: impl FnOnce(&mut Draft),
) -> (WorkerToA, WorkerToB) {
    let setup = RobustSetup::new(s).unwrap();
    let mut d = Draft::honest_unchecked(&setup, round, worker, x, rng);
    let w = setup.circuit.range_bits();
    let p = setup.circuit.params();
    let n = norm_sq(x);
    let bits = |v: u64| (0..w).map(move |j| mpc_core::field::Fp::reduce_u64((v >> j) & 1));
    d.beta = bits(n.wrapping_sub(p.n_lo))
        .chain(bits(p.n_hi.wrapping_sub(n)))
        .collect();
    edit(&mut d);
    let (seed, to_b) = d.finish(&setup, round, worker, rng).unwrap();
    (
        WorkerToA::Submit {
            round,
            worker,
            payload: SubmitA::Seed(seed),
        },
        to_b,
    )
}

/// x = round(Δ/C·2^f) without clipping.
fn unclipped(delta: &[f32], clip: f32) -> Vec<i64> {
    delta
        .iter()
        .map(|&v| (f64::from(v) / f64::from(clip) * 65536.0).round() as i64)
        .collect()
}

fn refused_for(o: &RoundOutcome, worker: u32, needle: &str) -> bool {
    o.rejected
        .get(&worker)
        .is_some_and(|r| r.to_string().contains(needle))
}

#[test]
fn an_unclipped_update_is_refused_and_the_round_goes_on() {
    // ‖Δ‖ = 10·C: encoded honestly (carries are bits, range bits as good as
    // they can be), only the clipping is skipped. Without the proof it would
    // move the mean by 10·C/5 per coordinate direction.
    let (_, o) = attacked(|sim, s| {
        let dim = s.dim as usize;
        let v = 10.0 * s.clip / (dim as f32).sqrt();
        let delta: Vec<f32> = (0..dim).map(|k| if k % 2 == 0 { v } else { -v }).collect();
        let x = unclipped(&delta, s.clip);
        assert!(norm_sq(&x) > 99 * (1u64 << 32));
        let (a, b) = proved(s, 1, 4, &x, &mut sim.rng, |_| {});
        sim.worker_to_a(4, a);
        sim.worker_to_b(4, b);
    });
    assert!(refused_for(&o, 4, "not clipped to the clip bound"), "{o:?}");
}

#[test]
fn slightly_over_the_bound_is_refused_and_at_the_bound_accepted() {
    // N = N_hi + 1 (one unit over) is refused, N = N_hi accepted.
    let dim = 40;
    let s = fedavg(dim, 2.0, 3);
    let hi = crate::robust::encode::clip_bound(s.fixed);
    let r = (hi as f64).sqrt().floor() as i64;
    let rest = hi - (r * r) as u64;
    // x = (r, √rest…) in integers: r² + Σ ones = hi exactly.
    let mut at = vec![0i64; dim];
    at[0] = r;
    let mut left = rest;
    for v in at.iter_mut().skip(1) {
        let m = (left as f64).sqrt().floor() as i64;
        *v = m;
        left -= (m * m) as u64;
    }
    assert_eq!(left, 0, "decomposition");
    assert_eq!(norm_sq(&at), hi);
    let mut over = at.clone();
    over[0] += 1;
    let mut sim = Sim::new(s.clone(), 3);
    sim.start(1, dim, 5);
    for (w, x) in [(0, &at), (1, &over)] {
        let (a, b) = proved(&s, 1, w, x, &mut sim.rng, |_| {});
        sim.worker_to_a(w, a);
        sim.worker_to_b(w, b);
    }
    for w in 2..5 {
        sim.submit(1, w, &[0.01; 40], &s);
    }
    let o = sim.outcome.take().expect("round complete");
    assert_eq!(o.accepted, vec![0, 2, 3, 4], "{o:?}");
    assert!(refused_for(&o, 1, "not clipped"), "{o:?}");
}

#[test]
fn a_lie_about_a_carry_is_refused() {
    // The hole of the unproved protocol: a carry share chosen freely makes
    // Xₖ = yₖ − 2^ℓ·κₖ − 2^(ℓ−1) any field element.
    let (_, o) = attacked(|sim, s| {
        let x = crate::robust::encode::encode_clipped(&[0.1; 40], s.clip, s.fixed).unwrap();
        let (a, b) = proved(s, 1, 4, &x, &mut sim.rng, |d| {
            d.kappa[7] -= mpc_core::field::Fp::from_i64(1 << 40);
        });
        sim.worker_to_a(4, a);
        sim.worker_to_b(4, b);
    });
    assert!(refused_for(&o, 4, "FLP bit check"), "{o:?}");
}

#[test]
fn a_flipped_carry_bit_is_refused() {
    // A carry that is a bit but the wrong one moves Xₖ by ±2^ℓ: the norm
    // check catches it.
    let (_, o) = attacked(|sim, s| {
        let x = crate::robust::encode::encode_clipped(&[0.1; 40], s.clip, s.fixed).unwrap();
        let (a, b) = proved(s, 1, 4, &x, &mut sim.rng, |d| {
            d.kappa[3] = mpc_core::field::Fp::ONE - d.kappa[3];
        });
        sim.worker_to_a(4, a);
        sim.worker_to_b(4, b);
    });
    assert!(refused_for(&o, 4, "not clipped"), "{o:?}");
}

#[test]
fn zero_and_tiny_updates_are_valid() {
    // The window is one-sided: ‖Δ/C‖ may be anything from 0 to 1.
    let dim = 12;
    let s = fedavg(dim, 3.0, 3);
    let mut sim = Sim::new(s.clone(), 3);
    sim.start(1, dim, 3);
    sim.submit(1, 0, &[0.0; 12], &s);
    sim.submit(1, 1, &[1e-9; 12], &s);
    sim.submit(1, 2, &[3e-3; 12], &s);
    let o = sim.outcome.take().expect("round complete");
    assert_eq!(o.accepted, vec![0, 1, 2], "{o:?}");
    for g in o.mean_update.unwrap() {
        assert!((g - 1e-3).abs() <= bound(3.0, FixedParams::default()));
    }
}

// The next three tests come from a cold security review: each was an attack
// that worked before B gave A exactly one verdict per worker and A tracked the
// set (not the number) of announced workers.

/// An upload naming another worker's id (refused to the sender only).
fn forged_claim(s: &SessionInfo, round: u64, claimed: u32, rng: &mut TestRng) -> WorkerToB {
    prepare(s, round, claimed, &vec![0.0; s.dim as usize], rng)
        .unwrap()
        .to_b
        .unwrap()
}

#[test]
fn a_forged_claim_cannot_void_the_round() {
    // W sends its seed to A, then an upload claiming another id (which used to
    // make B report W rejected), then its real upload.
    let dim = 16;
    let s = session(dim, Aggregation::SecureFedAvg, 1.0);
    let mut sim = Sim::new(s.clone(), 3);
    sim.start(1, dim, 4);
    let w = 3u32;
    let sub = prepare(&s, 1, w, &[0.01; 16], &mut sim.rng).unwrap();
    sim.worker_to_a(w, sub.to_a);
    let forged = forged_claim(&s, 1, w + 1, &mut sim.rng);
    sim.worker_to_b(w, forged);
    assert!(b_rejected(&sim, w, "enrolled as 3"));
    sim.worker_to_b(w, sub.to_b.unwrap());
    for i in 0..3 {
        sim.submit(1, i, &[0.1; 16], &s);
    }
    let o = sim.outcome.take().expect("all four workers are in");
    assert!(o.mean_update.is_some(), "round voided: {:?}", o.note);
    assert_eq!(o.accepted, vec![0, 1, 2, 3]);
}

#[test]
fn a_worker_cannot_be_counted_twice() {
    let dim = 16;
    let s = session(dim, Aggregation::SecureFedAvg, 1.0);
    let mut sim = Sim::new(s.clone(), 3);
    sim.start(1, dim, 5);
    let w = 4u32;
    sim.submit(1, w, &[0.01; 16], &s);
    let forged = forged_claim(&s, 1, 0, &mut sim.rng);
    sim.worker_to_b(w, forged);
    for i in 0..4 {
        sim.submit(1, i, &[0.1; 16], &s);
    }
    let o = sim.outcome.take().expect("round finished");
    assert_eq!(o.accepted, vec![0, 1, 2, 3, 4], "{o:?}");
    assert!(o.rejected.is_empty(), "{o:?}");
}

#[test]
fn an_unannounced_worker_cannot_take_a_slot() {
    // Workers 0..3 were announced; enrolled worker 9 was not.
    let dim = 16;
    let s = session(dim, Aggregation::SecureFedAvg, 1.0);
    let mut sim = Sim::new(s.clone(), 3);
    sim.start(1, dim, 3);
    sim.submit(1, 9, &[0.0; 16], &s);
    assert!(a_rejected(&sim, 9, "not a participant of round 1"));
    for i in 0..3 {
        sim.submit(1, i, &[0.1; 16], &s);
    }
    let o = sim.outcome.take().expect("round finished");
    assert_eq!(o.accepted, vec![0, 1, 2]);
}

fn fltrust_session(dim: usize) -> SessionInfo {
    session(dim, Aggregation::PlainFltrust, 0.0)
}

#[test]
fn plain_fltrust_gives_sign_flippers_zero_trust() {
    let dim = 6;
    let s = fltrust_session(dim);
    let mut sim = Sim::new(s.clone(), 1);
    let reference = vec![0.4, 0.2, 0.0, 0.0, 0.1, 0.0];
    sim.start_with(1, dim, 6, Some(reference.clone()));
    // Four honest workers near the reference (any scale: prepare normalises),
    // two flip their sign.
    let honest = [
        vec![1.0, 0.4, 0.1, 0.0, 0.2, 0.0],
        vec![2.0, 1.1, -0.1, 0.3, 0.5, 0.0],
        vec![0.5, 0.2, 0.0, -0.1, 0.0, 0.1],
        vec![3.0, 1.0, 0.2, 0.2, 0.9, -0.2],
    ];
    for (i, u) in honest.iter().enumerate() {
        sim.submit(1, i as u32, u, &s);
    }
    for (i, u) in honest[..2].iter().enumerate() {
        let flipped: Vec<f32> = u.iter().map(|x| -x).collect();
        sim.submit(1, 4 + i as u32, &flipped, &s);
    }
    let o = sim.outcome.take().unwrap();
    assert_eq!(o.accepted, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(o.zero_trust, vec![4, 5]);
    assert!(o.rejected.is_empty());
    // The same as the pure function on the normalised updates.
    let units: Vec<Vec<f32>> = honest
        .iter()
        .chain(&honest[..2])
        .enumerate()
        .map(|(i, u)| {
            let sign = if i >= 4 { -1.0 } else { 1.0 };
            crate::fltrust::normalise(&u.iter().map(|x| sign * x).collect::<Vec<_>>()).unwrap()
        })
        .collect();
    let want = crate::fltrust::aggregate(&units, &reference, crate::fltrust::Rule::Trust, None);
    let got = o.mean_update.unwrap();
    for (g, w) in got.iter().zip(want.update.unwrap()) {
        assert!((g - w).abs() < 1e-6);
    }
    assert!(crate::fltrust::cosine(&got, &reference) > 0.9);
}

#[test]
fn plain_fltrust_checks_the_unit_norm_and_k_min() {
    let dim = 4;
    let s = fltrust_session(dim);
    let mut sim = Sim::new(s.clone(), 1);
    sim.start_with(1, dim, 5, Some(vec![1.0, 0.0, 0.0, 0.0]));
    let raw = |w: u32, v: &[f32]| WorkerToA::Submit {
        round: 1,
        worker: w,
        payload: SubmitA::Plain(f32s_to_bytes(v)),
    };
    sim.worker_to_a(0, raw(0, &[0.5, 0.0, 0.0, 0.0]));
    assert!(a_rejected(&sim, 0, "is not 1"));
    sim.worker_to_a(1, raw(1, &[f32::NAN, 0.0, 0.0, 0.0]));
    assert!(a_rejected(&sim, 1, "not finite"));
    sim.worker_to_a(2, raw(2, &[2.0e19, 2.0e19, 0.0, 0.0]));
    assert!(a_rejected(&sim, 2, "is not 1"));
    // Two valid workers with positive trust: below k_min = 3, no update, but
    // both count as accepted.
    sim.submit(1, 3, &[1.0, 1.0, 0.0, 0.0], &s);
    sim.submit(1, 4, &[1.0, 0.0, 1.0, 0.0], &s);
    let o = sim.outcome.take().unwrap();
    assert!(o.mean_update.is_none());
    assert!(
        o.note.as_deref().unwrap().contains("fewer than k_min"),
        "{:?}",
        o.note
    );
    assert_eq!(o.accepted, vec![3, 4]);
    assert!(o.zero_trust.is_empty());
    assert_eq!(o.rejected.len(), 3);
}

#[test]
fn plain_fltrust_needs_a_reference() {
    let dim = 4;
    let s = fltrust_session(dim);
    let mut sim = Sim::new(s, 1);
    sim.roster(3);
    sim.start_raw(1, &[0.0; 4], Some(vec![1.0; 3]));
    let o = sim.outcome.take().expect("ends at once");
    assert!(o.mean_update.is_none());
    assert!(o.note.unwrap().contains("reference"));
    assert_eq!(sim.leader.open_round(), None);
}

#[test]
fn secure_mean_equals_plaintext_mean_across_blocks() {
    // d spans several of the servers' 1024-coordinate blocks, n a full
    // batch of 32 and a second one.
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(5);
    let (dim, n, clip) = (5000, 40, 2.5);
    let updates: Vec<Vec<f32>> = (0..n)
        .map(|i| {
            let scale = if i % 2 == 0 { 0.01 } else { 1.0 };
            (0..dim)
                .map(|_| rand::RngExt::random_range(&mut rng, -1.0f32..1.0) * scale)
                .collect()
        })
        .collect();
    let secure = run_round(&updates, clip, Aggregation::SecureFedAvg);
    assert_eq!(secure.accepted.len(), n, "{:?}", secure.rejected);
    let plain = mean(&clipped(&updates, clip)).unwrap();
    let b = bound(clip, FixedParams::default());
    for (g, p) in secure.mean_update.unwrap().iter().zip(&plain) {
        assert!((g - p).abs() <= b, "{g} vs {p} (bound {b})");
    }
}

#[test]
fn engine_selftest_then_a_round_on_the_same_engine() {
    // `server-a --engine-selftest K`: the session's own engine runs the
    // self-test before the first round, then the rounds use it.
    let dim = 16;
    let s = fedavg(dim, 1.0, 3);
    let cfg = LeaderConfig {
        selftest_ops: Some(8),
        ..manual(s.clone())
    };
    let helper = helper_config(3);
    // The self-test starts as soon as B is ready, before any round.
    let mut sim = Sim::with(cfg, helper);
    let report = sim.events.iter().find_map(|e| match e {
        LeaderAction::SelfTest(summary) => Some(summary.report),
        _ => None,
    });
    assert!(report.expect("self-test finished").correct());
    assert!(summary_checked_after_computed(&sim));
    sim.start(1, dim, 3);
    for w in 0..3 {
        sim.submit(1, w, &[0.1; 16], &s);
    }
    let o = sim.outcome.take().expect("round complete");
    assert_eq!(o.accepted, vec![0, 1, 2], "{o:?}");
    assert!(o.mean_update.is_some(), "{o:?}");
}

fn summary_checked_after_computed(sim: &Sim) -> bool {
    sim.events.iter().any(|e| {
        matches!(e, LeaderAction::SelfTest(s) if s.checked >= s.computed && s.stats.ots_extended() > 0)
    })
}
