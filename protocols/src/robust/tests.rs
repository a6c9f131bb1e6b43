//! Two pipelines run in-process against each other (their own engines, no
//! dealer): secure results against plaintext, and one cheating worker per
//! check the protocol makes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use mpc_core::codec::encode_field_bytes;
use mpc_core::field::Fp;
use mpc_core::fixed::FixedParams;
use mpc_core::prg::Seed;
use mpc_core::wire::{Aggregation, SessionInfo, WorkerToB};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::{ChaCha8Rng, ChaCha20Rng};

use super::encode::{encode_unit, norm_window};
use super::pipeline::{PeerMsg, Pipeline, RoundShares, reference_from};
use super::submit::{Draft, RobustSetup, UploadParts, half_a, half_b};
use crate::mpc::corr::Party;

/// The workers' and servers' randomness in tests: fixed seeds, so every
/// run (and every stored proptest regression) is reproducible.
pub(crate) type TestRng = ChaCha20Rng;

/// A test CSPRNG from a fixed `seed`.
pub(crate) fn test_rng(seed: u64) -> TestRng {
    TestRng::seed_from_u64(seed)
}

pub(crate) fn session(dim: usize, aggregation: Aggregation, tau: Option<f32>) -> SessionInfo {
    SessionInfo {
        model: "test".into(),
        dim: dim as u32,
        fixed: FixedParams::new(18, 16).unwrap(),
        aggregation,
        clip: 0.0,
        cos_threshold: tau,
        train: mpc_core::wire::TrainParams {
            epochs: 1,
            batch_size: 32,
            lr: 0.1,
        },
        k_min: 3,
    }
}

struct Duo {
    a: Pipeline,
    b: Pipeline,
}

fn deliver(to: &mut Pipeline, msgs: Vec<PeerMsg>) {
    for m in msgs {
        match m {
            PeerMsg::Engine(f) => to.on_engine_frame(&f).unwrap(),
            PeerMsg::Checks(x) => to.on_checks(x).unwrap(),
            PeerMsg::Cross(x) => to.on_cross(x).unwrap(),
        }
    }
}

impl Duo {
    fn new(session: &SessionInfo) -> Duo {
        let setup = RobustSetup::new(session).unwrap();
        let a = Pipeline::new(
            Party::A,
            setup.clone(),
            session.aggregation,
            session.cos_threshold,
            &Seed([0xa1; 32]),
        )
        .unwrap();
        let b = Pipeline::new(
            Party::B,
            setup,
            session.aggregation,
            session.cos_threshold,
            &Seed([0xb2; 32]),
        )
        .unwrap();
        Duo { a, b }
    }

    fn pump(&mut self) {
        loop {
            let from_a = self.a.take_outgoing();
            let from_b = self.b.take_outgoing();
            if from_a.is_empty() && from_b.is_empty() {
                return;
            }
            deliver(&mut self.b, from_a);
            deliver(&mut self.a, from_b);
        }
    }
}

/// One worker's submission as the servers receive it.
pub(crate) struct Sub {
    worker: u32,
    seed: Seed,
    upload: WorkerToB,
}

pub(crate) fn honest(
    setup: &RobustSetup,
    round: u64,
    worker: u32,
    u: &[f32],
    rng: &mut TestRng,
) -> Sub {
    let x = encode_unit(u, setup.fixed).unwrap();
    let (seed, upload) = Draft::honest(setup, round, worker, &x, rng)
        .unwrap()
        .finish(setup, round, worker, rng)
        .unwrap();
    Sub {
        worker,
        seed,
        upload,
    }
}

struct Outcome {
    a: RoundShares,
    b: RoundShares,
    verdicts: Vec<(u32, Result<(), String>)>,
}

impl Outcome {
    fn sum(&self) -> Vec<i64> {
        self.a
            .sum
            .iter()
            .zip(&self.b.sum)
            .map(|(&x, &y)| (x + y).to_centered())
            .collect()
    }
    fn weight(&self) -> i64 {
        (self.a.weight + self.b.weight).to_centered()
    }
    fn positive(&self) -> i64 {
        (self.a.positive + self.b.positive).to_centered()
    }
    fn rejected(&self) -> Vec<(u32, String)> {
        self.verdicts
            .iter()
            .filter_map(|(w, v)| v.as_ref().err().map(|e| (*w, e.clone())))
            .collect()
    }
}

fn run(duo: &mut Duo, round: u64, reference: &[i32], subs: Vec<Sub>, batch: usize) -> Outcome {
    duo.a.open_round(round, reference).unwrap();
    duo.b.open_round(round, reference).unwrap();
    duo.pump();
    assert!(duo.a.ready() && duo.b.ready());
    let setup = duo.a.setup().clone();
    let mut verdicts = Vec::new();
    for (id, chunk) in subs.chunks(batch).enumerate() {
        let mut workers = Vec::new();
        let mut la = Vec::new();
        let mut lb = Vec::new();
        for s in chunk {
            let ha = half_a(&setup, &s.seed, round, s.worker);
            let hb = match half_b(&setup, s.upload.clone()) {
                Ok(h) => h,
                Err(e) => {
                    verdicts.push((s.worker, Err(format!("upload: {e}"))));
                    continue;
                }
            };
            let (ca, cb) = (ha.commit, hb.commit);
            la.push(duo.a.prepare(s.worker, ha, &cb).unwrap());
            lb.push(duo.b.prepare(s.worker, hb, &ca).unwrap());
            workers.push(s.worker);
        }
        if workers.is_empty() {
            continue;
        }
        let va: Vec<Vec<Fp>> = la.iter().map(|l| l.verifier().to_vec()).collect();
        let vb: Vec<Vec<Fp>> = lb.iter().map(|l| l.verifier().to_vec()).collect();
        duo.a
            .begin_batch(id as u32, workers.clone(), la, &vb)
            .unwrap();
        duo.b.begin_batch(id as u32, workers, lb, &va).unwrap();
        duo.pump();
        let da = duo.a.poll_done().expect("A finished the batch");
        let db = duo.b.poll_done().expect("B finished the batch");
        assert_eq!(
            da.verdicts, db.verdicts,
            "both servers reach the same verdicts"
        );
        verdicts.extend(da.verdicts);
    }
    Outcome {
        a: duo.a.close().unwrap(),
        b: duo.b.close().unwrap(),
        verdicts,
    }
}

fn random_unit(rng: &mut impl Rng, dim: usize) -> Vec<f32> {
    (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// Plaintext over the same encoded integers: Σ w·x and Σ w with w = ReLU(⟨x,G⟩).
fn plain_fltrust(xs: &[Vec<i64>], g: &[i32]) -> (Vec<i64>, i64, i64) {
    let mut sum = vec![0i64; g.len()];
    let (mut weight, mut positive) = (0i64, 0i64);
    for x in xs {
        let s: i64 = x.iter().zip(g).map(|(&a, &b)| a * i64::from(b)).sum();
        if s > 0 {
            weight += s;
            positive += 1;
            for (acc, &v) in sum.iter_mut().zip(x) {
                *acc += s * v;
            }
        }
    }
    (sum, weight, positive)
}

#[test]
fn secure_fltrust_equals_the_plaintext_on_the_encoded_updates() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut wr = test_rng(7);
    for (dim, n) in [(10usize, 7usize), (1000, 12), (20_000, 5)] {
        let s = session(dim, Aggregation::SecureFltrust, None);
        let mut duo = Duo::new(&s);
        let setup = duo.a.setup().clone();
        let g0 = random_unit(&mut rng, dim);
        let g = reference_from(&g0, setup.fixed.scale()).unwrap();
        let mut xs = Vec::new();
        let mut subs = Vec::new();
        for w in 0..n as u32 {
            // Half the workers point roughly along g0, half against it.
            let u: Vec<f32> = g0
                .iter()
                .map(|&v| {
                    let sign = if w % 2 == 0 { 1.0 } else { -1.0 };
                    sign * v + rng.random_range(-1.0f32..1.0)
                })
                .collect();
            xs.push(encode_unit(&u, setup.fixed).unwrap());
            subs.push(honest(&setup, 1, w, &u, &mut wr));
        }
        let out = run(&mut duo, 1, &g, subs, 4);
        assert!(out.rejected().is_empty(), "{:?}", out.rejected());
        let (sum, weight, positive) = plain_fltrust(&xs, &g);
        assert_eq!(out.sum(), sum, "dim {dim}");
        assert_eq!(out.weight(), weight);
        assert_eq!(out.positive(), positive);
        assert!(positive > 0 && positive < n as i64);
    }
}

#[test]
fn secure_filter_keeps_exactly_the_updates_above_the_threshold() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let mut wr = test_rng(8);
    let dim = 500;
    let tau = 0.2f32;
    let s = session(dim, Aggregation::SecureFilter, Some(tau));
    let mut duo = Duo::new(&s);
    let setup = duo.a.setup().clone();
    let g0 = random_unit(&mut rng, dim);
    let g = reference_from(&g0, setup.fixed.scale()).unwrap();
    let t = super::pipeline::gate(
        Aggregation::SecureFilter,
        Some(tau),
        setup.fixed.scale(),
        g.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt(),
    )
    .value;
    let mut subs = Vec::new();
    let mut expect = vec![0i64; dim];
    let mut kept = 0;
    for w in 0..10u32 {
        let mix = w as f32 / 10.0 - 0.3;
        let u: Vec<f32> = g0
            .iter()
            .map(|&v| mix * v + 0.3 * rng.random_range(-1.0f32..1.0))
            .collect();
        let x = encode_unit(&u, setup.fixed).unwrap();
        let score: i64 = x.iter().zip(&g).map(|(&a, &b)| a * i64::from(b)).sum();
        if score >= t {
            kept += 1;
            for (e, &v) in expect.iter_mut().zip(&x) {
                *e += v;
            }
        }
        subs.push(honest(&setup, 3, w, &u, &mut wr));
    }
    let out = run(&mut duo, 3, &g, subs, 3);
    assert!(kept > 0 && kept < 10);
    assert_eq!(out.sum(), expect);
    assert_eq!(out.weight(), kept);
    assert_eq!(out.positive(), kept);
}

/// Runs one cheater next to two honest workers and checks that the cheater
/// is refused with `reason` and the aggregate equals the honest-only one.
fn cheater_is_refused(
    reason: &str,
    make: impl FnOnce(&RobustSetup, u64, u32, &[f32], &mut TestRng) -> Sub,
) {
    let dim = 64;
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut wr = test_rng(11);
    let s = session(dim, Aggregation::SecureFltrust, None);
    let mut duo = Duo::new(&s);
    let setup = duo.a.setup().clone();
    let g0 = random_unit(&mut rng, dim);
    let g = reference_from(&g0, setup.fixed.scale()).unwrap();
    let honest_u: Vec<Vec<f32>> = (0..2)
        .map(|_| {
            g0.iter()
                .map(|&v| v + 0.5 * rng.random_range(-1.0f32..1.0))
                .collect()
        })
        .collect();
    let xs: Vec<Vec<i64>> = honest_u
        .iter()
        .map(|u| encode_unit(u, setup.fixed).unwrap())
        .collect();
    let mut subs: Vec<Sub> = honest_u
        .iter()
        .enumerate()
        .map(|(w, u)| honest(&setup, 5, w as u32, u, &mut wr))
        .collect();
    subs.insert(1, make(&setup, 5, 9, &g0, &mut wr));
    let out = run(&mut duo, 5, &g, subs, 3);
    let rejected = out.rejected();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].0, 9);
    assert!(
        rejected[0].1.contains(reason),
        "expected `{reason}` in `{}`",
        rejected[0].1
    );
    let (sum, weight, positive) = plain_fltrust(&xs, &g);
    assert_eq!(out.sum(), sum);
    assert_eq!(out.weight(), weight);
    assert_eq!(out.positive(), positive);
}

/// A worker that encodes `x` (any integers) honestly otherwise.
fn with_x(setup: &RobustSetup, round: u64, worker: u32, x: &[i64], rng: &mut TestRng) -> Sub {
    let mut d = Draft::honest_unchecked(setup, round, worker, x, rng);
    let n = x.iter().map(|&v| (v * v) as u64).sum::<u64>();
    if let Ok(bits) = setup.circuit.range_bits_for(n) {
        d.beta = bits;
    }
    let (seed, upload) = d.finish(setup, round, worker, rng).unwrap();
    Sub {
        worker,
        seed,
        upload,
    }
}

fn scaled(setup: &RobustSetup, g0: &[f32], k: f64) -> Vec<i64> {
    let x = encode_unit(g0, setup.fixed).unwrap();
    x.iter().map(|&v| (v as f64 * k).round() as i64).collect()
}

#[test]
fn scaled_updates_are_refused_by_the_norm_check() {
    for k in [10.0, 1.5] {
        cheater_is_refused("validity proof", |s, r, w, g0, rng| {
            with_x(s, r, w, &scaled(s, g0, k), rng)
        });
    }
    // Not normalised at all (a raw gradient of norm ≈ 0.3).
    cheater_is_refused("validity proof", |s, r, w, g0, rng| {
        with_x(s, r, w, &scaled(s, g0, 0.3), rng)
    });
}

/// A carry claimed as `value` (a non-bit) at coordinate 0, with the rest honest.
fn bad_carry(value: Fp) -> impl FnOnce(&RobustSetup, u64, u32, &[f32], &mut TestRng) -> Sub {
    move |setup, round, worker, g0, rng| {
        let x = encode_unit(g0, setup.fixed).unwrap();
        let mut d = Draft::honest(setup, round, worker, &x, rng).unwrap();
        d.kappa[0] = value;
        let (seed, upload) = d.finish(setup, round, worker, rng).unwrap();
        Sub {
            worker,
            seed,
            upload,
        }
    }
}

#[test]
fn carries_that_are_not_bits_are_refused() {
    let p = mpc_core::field::MODULUS;
    for v in [
        Fp::reduce_u64(p / 2 + 1), // (p+1)/2, the field's ½
        Fp::reduce_u64(p - 1),
        Fp::reduce_u64(2),
        Fp::reduce_u64(1 << 32),
    ] {
        cheater_is_refused("validity proof", bad_carry(v));
    }
}

#[test]
fn wrong_carry_bits_are_caught_by_the_norm() {
    // Flip a carry (still a bit): Xₖ moves by ±2^ℓ, N leaves the window.
    cheater_is_refused("validity proof", |setup, round, worker, g0, rng| {
        let x = encode_unit(g0, setup.fixed).unwrap();
        let mut d = Draft::honest(setup, round, worker, &x, rng).unwrap();
        d.kappa[3] = Fp::ONE - d.kappa[3];
        let (seed, upload) = d.finish(setup, round, worker, rng).unwrap();
        Sub {
            worker,
            seed,
            upload,
        }
    });
}

fn tampered(
    before: impl FnOnce(&mut UploadParts),
    after: impl FnOnce(&mut UploadParts),
) -> impl FnOnce(&RobustSetup, u64, u32, &[f32], &mut TestRng) -> Sub {
    move |setup, round, worker, g0, rng| {
        let x = encode_unit(g0, setup.fixed).unwrap();
        let (seed, upload) = Draft::honest(setup, round, worker, &x, rng)
            .unwrap()
            .finish_with(setup, round, worker, rng, before, after)
            .unwrap();
        Sub {
            worker,
            seed,
            upload,
        }
    }
}

fn bump(bytes: &mut [u8], index: usize) {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[8 * index..8 * index + 8]);
    let v = Fp::reduce_u64(u64::from_le_bytes(w)) + Fp::ONE;
    bytes[8 * index..8 * index + 8].copy_from_slice(&v.value().to_le_bytes());
}

#[test]
fn forged_correlations_are_refused_by_the_linear_checks() {
    cheater_is_refused("W (t_B·X_A)", tampered(|p| bump(&mut p.w, 5), |_| {}));
    cheater_is_refused("Z (t_A·X_B)", tampered(|p| bump(&mut p.z, 0), |_| {}));
    cheater_is_refused(
        "W (t_B·X_A)",
        tampered(|p| p.s = (Fp::reduce_u64(p.s) + Fp::ONE).value(), |_| {}),
    );
}

#[test]
fn a_forged_s_prime_is_refused() {
    // s′ is A's (from the seed): a worker that deals Z with another s′.
    cheater_is_refused("Z (t_A·X_B)", |setup, round, worker, g0, rng| {
        let x = encode_unit(g0, setup.fixed).unwrap();
        let d = Draft::honest(setup, round, worker, &x, rng).unwrap();
        let (seed, upload) = d
            .finish_with(
                setup,
                round,
                worker,
                rng,
                |p| {
                    // Z' = Z + X_B: as if s′ were s′ + 1.
                    let xb: Vec<Fp> = (0..setup.dim)
                        .map(|k| {
                            let mut w = [0u8; 4];
                            w[..3].copy_from_slice(&p.b[3 * k..3 * k + 3]);
                            let mut kb = [0u8; 8];
                            kb.copy_from_slice(&p.kappa_b[8 * k..8 * k + 8]);
                            Fp::reduce_u64(u64::from(u32::from_le_bytes(w)))
                                - Fp::pow2(setup.fixed.ell())
                                    * Fp::reduce_u64(u64::from_le_bytes(kb))
                        })
                        .collect();
                    let mut z = mpc_core::codec::decode_field_bytes(&p.z, setup.dim).unwrap();
                    for (zk, xk) in z.iter_mut().zip(&xb) {
                        *zk += *xk;
                    }
                    p.z = encode_field_bytes(&z);
                },
                |_| {},
            )
            .unwrap();
        Sub {
            worker,
            seed,
            upload,
        }
    });
}

#[test]
fn forged_or_mismatched_proofs_are_refused() {
    // One proof element changed after the proof was made.
    cheater_is_refused(
        "validity proof",
        tampered(|_| {}, |p| bump(&mut p.proof_b, 3)),
    );
    // B's bytes changed after the commitment: the servers derive other joint
    // randomness than the worker proved under.
    cheater_is_refused(
        "validity proof",
        tampered(|_| {}, |p| bump(&mut p.kappa_b, 1)),
    );
    // A proof for different shares: the proof share of another submission.
    cheater_is_refused("validity proof", |setup, round, worker, g0, rng| {
        let other = honest(setup, round, worker, g0, rng);
        let WorkerToB::Robust { proof_b, .. } = other.upload else {
            unreachable!()
        };
        tampered(|_| {}, move |p| p.proof_b = proof_b)(setup, round, worker, g0, rng)
    });
}

#[test]
fn a_replayed_proof_from_an_earlier_round_is_refused() {
    cheater_is_refused("validity proof", |setup, round, worker, g0, rng| {
        // The whole submission of round − 1, re-labelled for this round.
        let old = honest(setup, round - 1, worker, g0, rng);
        let WorkerToB::Robust {
            b,
            kappa_b,
            beta_b,
            proof_b,
            w,
            z,
            s,
            blind,
            ..
        } = old.upload
        else {
            unreachable!()
        };
        Sub {
            worker,
            seed: old.seed,
            upload: WorkerToB::Robust {
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
        }
    });
}

#[test]
fn range_bits_that_are_fine_but_a_wrong_norm_equation_is_refused() {
    // Bits of N + 1 instead of N.
    cheater_is_refused("validity proof", |setup, round, worker, g0, rng| {
        let x = encode_unit(g0, setup.fixed).unwrap();
        let n: u64 = x.iter().map(|&v| (v * v) as u64).sum();
        let mut d = Draft::honest(setup, round, worker, &x, rng).unwrap();
        d.beta = setup.circuit.range_bits_for(n + 1).unwrap();
        let (seed, upload) = d.finish(setup, round, worker, rng).unwrap();
        Sub {
            worker,
            seed,
            upload,
        }
    });
}

#[test]
fn a_seed_inconsistent_with_the_upload_is_refused() {
    cheater_is_refused("validity proof", |setup, round, worker, g0, rng| {
        let mut sub = honest(setup, round, worker, g0, rng);
        sub.seed = Seed::from_rng(rng);
        sub
    });
}

#[test]
fn upload_decode_errors_are_refused_before_any_work() {
    let s = session(8, Aggregation::SecureFltrust, None);
    let setup = RobustSetup::new(&s).unwrap();
    let u = vec![1.0f32; 8];
    let mut rng = test_rng(1);
    let mut sub = honest(&setup, 1, 0, &u, &mut rng);
    if let WorkerToB::Robust { b, .. } = &mut sub.upload {
        b[2] = 0xff; // coordinate 0 becomes ≥ 2^18
    }
    let err = half_b(&setup, sub.upload.clone()).unwrap_err().to_string();
    assert!(err.contains("not below 2^18"), "{err}");
    let mut sub = honest(&setup, 1, 0, &u, &mut rng);
    if let WorkerToB::Robust { w, .. } = &mut sub.upload {
        w.pop();
    }
    assert!(
        half_b(&setup, sub.upload.clone())
            .unwrap_err()
            .to_string()
            .contains("`w`")
    );
    let wrong_dim = RobustSetup::new(&session(9, Aggregation::SecureFltrust, None)).unwrap();
    assert!(half_b(&wrong_dim, sub.upload.clone()).is_err());
}

#[test]
fn honest_awkward_updates_are_never_refused() {
    for dim in [10usize, 10_000] {
        let s = session(dim, Aggregation::SecureFltrust, None);
        let mut duo = Duo::new(&s);
        let setup = duo.a.setup().clone();
        let mut rng = ChaCha8Rng::seed_from_u64(dim as u64);
        let mut wr = test_rng(dim as u64);
        let equal = vec![0.25f32; dim];
        let mut one_hot = vec![0.0f32; dim];
        one_hot[dim - 1] = 3.0;
        let heavy: Vec<f32> = (0..dim)
            .map(|k| if k % 13 == 0 { 50.0 } else { 0.01 })
            .collect();
        let random = random_unit(&mut rng, dim);
        let subs = [equal, one_hot, heavy, random.clone()]
            .iter()
            .enumerate()
            .map(|(w, u)| honest(&setup, 2, w as u32, u, &mut wr))
            .collect();
        let g = reference_from(&random, setup.fixed.scale()).unwrap();
        let out = run(&mut duo, 2, &g, subs, 4);
        assert!(out.rejected().is_empty(), "dim {dim}: {:?}", out.rejected());
    }
}

#[test]
fn window_is_what_the_circuit_checks() {
    let s = session(4, Aggregation::SecureFltrust, None);
    let setup = RobustSetup::new(&s).unwrap();
    let (lo, hi) = norm_window(setup.fixed);
    assert_eq!(setup.circuit.params().n_lo, lo);
    assert_eq!(setup.circuit.params().n_hi, hi);
}

/// Review finding 1 (fixed: f ≤ 19, and A refuses rounds with more than
/// `RobustSetup::max_workers` participants): `RobustSetup::new` accepted fixed-point parameters for
/// which the trust-weighted sum wraps mod p (|TSᵢ·Xᵢ,ₖ| ≈ 2^(3f), so
/// n ≥ 2^(63−3f) aligned workers wrap; at f = 20 that is 9 workers) and for
/// which S = ⟨X, G⟩ ≈ 2^(2f) reaches the DReLU bound 2^40 (f ≥ 20). Nothing
/// caps the number of workers either (the same wrap at the default f = 16
/// needs ≈ 32,000 aligned workers; the wire allows 2^20).
#[test]
fn finding1_setup_refuses_parameters_whose_weighted_sum_can_wrap() {
    let mut s = session(2, Aggregation::SecureFltrust, None);
    s.fixed = FixedParams::new(22, 20).unwrap();
    // Either the setup refuses these parameters ...
    let Ok(setup) = RobustSetup::new(&s) else {
        return;
    };
    // ... or nine identical, well-formed, aligned workers aggregate exactly.
    let mut duo = Duo::new(&s);
    let x0 = (1i64 << 20) - (1 << 13); // x0² is inside the norm window
    let g = vec![1i32 << 20, 0]; // |G_k| ≤ 2^f; S = 2^40 − 2^33 < 2^40
    let mut wr = test_rng(9);
    let subs = (0..9)
        .map(|w| with_x(&setup, 1, w, &[x0, 0], &mut wr))
        .collect();
    let out = run(&mut duo, 1, &g, subs, 9);
    assert!(out.rejected().is_empty(), "{:?}", out.rejected());
    assert_eq!(out.positive(), 9);
    let score = i128::from(x0) << 20;
    let expect = 9 * score * i128::from(x0);
    assert_eq!(
        i128::from(out.sum()[0]),
        expect,
        "Σ TS·X wrapped mod p: the reconstructed update points the other way"
    );
}
