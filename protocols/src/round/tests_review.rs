//! Attacks by a malicious worker on secure-fedavg's proved norm bound
//! (tests named `held_*` are attacks that must keep failing), and the
//! soundness arithmetic of PROTOCOL §2/§7 recomputed from the code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use mpc_core::field::{Fp, MODULUS, root_of_unity};
use mpc_core::fixed::FixedParams;
use mpc_core::flp::{FlpParams, ValidityCircuit};
use mpc_core::wire::{Aggregation, SessionInfo, SubmitA, WorkerToA, WorkerToB};

use super::leader::RoundOutcome;
use super::tests::Sim;
use crate::robust::encode::{clip_bound, encode_clipped, norm_sq};
use crate::robust::submit::{Draft, RobustSetup, UploadParts};

fn sess(dim: usize, agg: Aggregation, clip: f32, fixed: FixedParams) -> SessionInfo {
    SessionInfo {
        fixed,
        ..super::tests::session(dim, agg, clip)
    }
}

fn fedavg(dim: usize) -> SessionInfo {
    sess(dim, Aggregation::SecureFedAvg, 2.0, FixedParams::default())
}

/// Range bits of N (low w bits of N − n_lo and n_hi − N, wrapping).
fn bits_for(setup: &RobustSetup, n: u64) -> Vec<Fp> {
    let w = setup.circuit.range_bits();
    let p = setup.circuit.params();
    let bits = |v: u64| (0..w).map(move |j| Fp::reduce_u64((v >> j) & 1));
    bits(n.wrapping_sub(p.n_lo))
        .chain(bits(p.n_hi.wrapping_sub(n)))
        .collect()
}

fn submit_pair(sim: &mut Sim, round: u64, worker: u32, seed: mpc_core::prg::Seed, b: WorkerToB) {
    sim.worker_to_a(
        worker,
        WorkerToA::Submit {
            round,
            worker,
            payload: SubmitA::Seed(seed),
        },
    );
    sim.worker_to_b(worker, b);
}

/// Honest workers 0..4 plus the attacker 4 in a dim-40 fedavg round; returns
/// the outcome after the deadline, asserting the honest four survive.
fn round_with(attack: impl FnOnce(&mut Sim, &SessionInfo, &RobustSetup)) -> (Sim, RoundOutcome) {
    let dim = 40;
    let s = fedavg(dim);
    let setup = RobustSetup::new(&s).unwrap();
    let mut sim = Sim::new(s.clone(), 3);
    sim.start(1, dim, 5);
    attack(&mut sim, &s, &setup);
    for w in 0..4u32 {
        let d: Vec<f32> = (0..dim)
            .map(|k| ((k as f32) + w as f32).sin() * 0.1)
            .collect();
        sim.submit(1, w, &d, &s);
    }
    sim.deadline(1);
    let o = sim.outcome.take().expect("outcome");
    assert!(o.mean_update.is_some(), "{o:?}");
    for w in 0..4 {
        assert!(o.accepted.contains(&w), "{o:?}");
    }
    (sim, o)
}

fn refused(o: &RoundOutcome, w: u32, needle: &str) -> bool {
    o.rejected
        .get(&w)
        .is_some_and(|r| r.to_string().contains(needle))
}

#[test]
fn held_dealt_w_z_and_nonzero_s_are_refused_even_when_committed() {
    // W/Z of the right (trust-rule) size, committed under the binder: B
    // refuses them at parse.
    let (_, o) = round_with(|sim, _s, setup| {
        let x = encode_clipped(&[0.1; 40], 2.0, setup.fixed).unwrap();
        let d = Draft::honest(setup, 1, 4, &x, &mut sim.rng).unwrap();
        let (seed, up) = d
            .finish_with(
                setup,
                1,
                4,
                &mut sim.rng,
                |p: &mut UploadParts| {
                    p.w = vec![0; 8 * 40];
                    p.z = vec![0; 8 * 40];
                },
                |_| {},
            )
            .unwrap();
        submit_pair(sim, 1, 4, seed, up);
    });
    assert!(refused(&o, 4, "upload field `w`"), "{o:?}");
    let (_, o) = round_with(|sim, _s, setup| {
        let x = encode_clipped(&[0.1; 40], 2.0, setup.fixed).unwrap();
        let mut d = Draft::honest(setup, 1, 4, &x, &mut sim.rng).unwrap();
        d.s = Fp::ONE;
        let (seed, up) = d.finish(setup, 1, 4, &mut sim.rng).unwrap();
        submit_pair(sim, 1, 4, seed, up);
    });
    assert!(refused(&o, 4, "must be 0"), "{o:?}");
}

#[test]
fn held_a_trust_rule_proof_does_not_verify_in_fedavg() {
    // A unit-norm secure-fltrust submission stripped of W, Z, s: the
    // context (rule, window) differs, so the FS randomness differs.
    let (_, o) = round_with(|sim, s, _setup| {
        let t = SessionInfo {
            aggregation: Aggregation::SecureFltrust,
            clip: 0.0,
            ..s.clone()
        };
        let ts = RobustSetup::new(&t).unwrap();
        let x = crate::robust::encode::encode_unit(&[0.1; 40], ts.fixed).unwrap();
        let mut d = Draft::honest(&ts, 1, 4, &x, &mut sim.rng).unwrap();
        d.s = Fp::ZERO;
        let (seed, up) = d
            .finish_with(
                &ts,
                1,
                4,
                &mut sim.rng,
                |p| {
                    p.w.clear();
                    p.z.clear();
                },
                |_| {},
            )
            .unwrap();
        submit_pair(sim, 1, 4, seed, up);
    });
    // Same w = 28 vs 33: the β length differs, B refuses at parse; either
    // way the upload is out.
    assert!(o.rejected.contains_key(&4), "{o:?}");
}

#[test]
fn held_imaginary_unit_coordinates_with_zero_norm_are_refused() {
    // Non-bit carries making X_0 = i·2^16, X_1 = 2^16 (i² = −1): the field
    // norm is 0 + honest rest, N ≤ N_hi, yet X_0 is a ~2^63 field element
    // that would wreck the sum. Only the bit check stands in the way.
    let (_, o) = round_with(|sim, _s, setup| {
        let i = root_of_unity(2).unwrap();
        let mut x = vec![0i64; 40];
        x[1] = 1 << 16;
        let mut d = Draft::honest_unchecked(setup, 1, 4, &x, &mut sim.rng);
        // X_0 = y_0 − 2^ℓκ_0 − 2^(ℓ−1) with y_0 = a+b; honest κ gives X_0 = 0.
        // Want X_0 = i·2^16: κ_0 −= i·2^16 / 2^ℓ.
        let shift = i * Fp::pow2(16) * Fp::pow2(18).inverse().unwrap();
        d.kappa[0] -= shift;
        d.beta = bits_for(setup, 1 << 32);
        let (seed, up) = d.finish(setup, 1, 4, &mut sim.rng).unwrap();
        submit_pair(sim, 1, 4, seed, up);
    });
    assert!(refused(&o, 4, "FLP bit check"), "{o:?}");
}

#[test]
fn held_replaying_an_accepted_upload_into_the_next_round_is_refused() {
    let dim = 40;
    let s = fedavg(dim);
    let setup = RobustSetup::new(&s).unwrap();
    let mut sim = Sim::new(s.clone(), 1);
    sim.start(1, dim, 1);
    let x = encode_clipped(&[0.3; 40], 2.0, setup.fixed).unwrap();
    let (seed, up) = Draft::honest(&setup, 1, 0, &x, &mut sim.rng)
        .unwrap()
        .finish(&setup, 1, 0, &mut sim.rng)
        .unwrap();
    submit_pair(&mut sim, 1, 0, seed.clone(), up.clone());
    let o = sim.outcome.take().unwrap();
    assert_eq!(o.accepted, vec![0]);
    // Round 2: the same seed and B-bytes relabelled as round 2.
    sim.start(2, dim, 1);
    let mut up2 = up;
    let WorkerToB::Robust { round, .. } = &mut up2 else {
        panic!()
    };
    *round = 2;
    submit_pair(&mut sim, 2, 0, seed, up2);
    let o = sim.outcome.take().unwrap();
    assert!(o.accepted.is_empty(), "{o:?}");
    assert!(refused(&o, 0, "validity proof rejected"), "{o:?}");
}

/// Gadget soundness (2N_dom − 1)/(p − 2N_dom) as log2.
fn gadget_log2(c: &ValidityCircuit) -> f64 {
    let n = c.n_dom() as f64;
    ((2.0 * n - 1.0) / (MODULUS as f64 - 2.0 * n)).log2()
}

#[test]
fn arithmetic_of_protocol_2_and_7_against_the_code() {
    let fixed = FixedParams::default();
    // §2: w = 33 at f = 16, ≈ 30 kB of (2w + L + 2N_dom)·8 at d = 270k.
    let s = fedavg(270_000);
    let setup = RobustSetup::new(&s).unwrap();
    let c = &setup.circuit;
    assert_eq!(c.range_bits(), 33);
    let extra = (2 * c.range_bits() + c.proof_len()) * 8;
    println!(
        "d=270k fedavg: c={} N_dom={} proof_len={} verifier_len={} extra={} B gadget=2^{:.2}",
        c.gadget_arity() / 2,
        c.n_dom(),
        c.proof_len(),
        c.verifier_len(),
        extra,
        gadget_log2(c)
    );
    // max_workers ≈ 1.4e14 and n·√N_hi < p/2.
    let hi = clip_bound(fixed);
    assert_eq!(hi, (1 << 32) + (1 << 26));
    let mw = setup.max_workers as u128;
    let sq = (hi as f64).sqrt().floor() as u128; // |X| ≤ ⌊√N_hi⌋
    assert!(mw * sq < u128::from(MODULUS / 2), "no wrap at max_workers");
    println!("max_workers = {mw:e}");
    // The field N = integer N: |X_k| ≤ 3·2^(ℓ−1) is *attained* (a = b = 0,
    // κ = 1), as PROTOCOL §2 states; the code's check is inclusive.
    let ell = 18u32;
    let x_min: i64 = -(1 << ell) - (1 << (ell - 1)); // a = b = 0, κ = 1
    assert_eq!(x_min, -3 * (1 << (ell - 1)));
    // Gadget error over every d the wire allows (2^21) and ℓ, f combinations.
    let mut worst: f64 = -1000.0;
    for d in [10_000usize, 270_000, 1_000_000, 1 << 20, 1 << 21] {
        let s = fedavg(d);
        let st = RobustSetup::new(&s).unwrap();
        let g = gadget_log2(&st.circuit);
        let total = (2f64.powi(-62) + 2f64.powf(g)).log2();
        println!(
            "d={d}: N_dom={} gadget=2^{g:.3} total=2^{total:.3}",
            st.circuit.n_dom()
        );
        worst = worst.max(total);
    }
    println!("worst total per submission: 2^{worst:.4} (PROTOCOL: < 2^-50)");
    assert!(worst < -50.0);
    // The FLP layout is a function of (d, n_lo, n_hi) only.
    let _ = ValidityCircuit::new(FlpParams {
        dim: 1,
        n_lo: 0,
        n_hi: hi,
    })
    .unwrap();
}

#[test]
fn honest_workers_pass_at_the_extreme_allowed_parameters() {
    // f = 8, ℓ = 10 and f = 19, ℓ = 21 (PROTOCOL: 8 ≤ f ≤ 19, f + 2 ≤ ℓ ≤ 24);
    // one-hot at the clip bound (|x| = 2^f), all-equal above it, negative.
    for (ell, f) in [(10u32, 8u32), (21, 19), (24, 19), (24, 8)] {
        let fixed = FixedParams::new(ell, f).unwrap();
        let dim = 50;
        let s = sess(dim, Aggregation::SecureFedAvg, 1.5, fixed);
        let mut sim = Sim::new(s.clone(), 3);
        sim.start(1, dim, 4);
        let mut one_hot = vec![0.0f32; dim];
        one_hot[7] = -1000.0;
        let mut one_hot2 = vec![0.0f32; dim];
        one_hot2[3] = 1.5;
        let equal = vec![10.0f32; dim];
        let tiny = vec![1e-12f32; dim];
        for (w, u) in [one_hot, one_hot2, equal, tiny].iter().enumerate() {
            sim.submit(1, w as u32, u, &s);
        }
        let o = sim.outcome.take().expect("outcome");
        assert_eq!(o.accepted, vec![0, 1, 2, 3], "ℓ={ell} f={f}: {o:?}");
        let x = encode_clipped(&[-1000.0], 1.5, fixed).unwrap();
        assert!(norm_sq(&x) <= clip_bound(fixed));
    }
}

#[test]
fn held_set_agreement_under_mixed_payloads_and_orderings() {
    // (a) Plain payload to A + a valid, proved upload to B: A refuses, B
    // never gets c_A, neither sum holds the worker.
    let (_, o) = round_with(|sim, s, setup| {
        let x = encode_clipped(&[0.1; 40], 2.0, setup.fixed).unwrap();
        let (_seed, up) = Draft::honest(setup, 1, 4, &x, &mut sim.rng)
            .unwrap()
            .finish(setup, 1, 4, &mut sim.rng)
            .unwrap();
        sim.worker_to_b(4, up);
        sim.worker_to_a(
            4,
            WorkerToA::Submit {
                round: 1,
                worker: 4,
                payload: SubmitA::Plain(mpc_core::codec::f32s_to_bytes(&vec![0.0; s.dim as usize])),
            },
        );
    });
    assert!(refused(&o, 4, "payload kind"), "{o:?}");
    // (b) B rejects first (bad upload), the seed reaches A afterwards.
    let (_, o) = round_with(|sim, _s, setup| {
        let x = encode_clipped(&[0.1; 40], 2.0, setup.fixed).unwrap();
        let (seed, up) = Draft::honest(setup, 1, 4, &x, &mut sim.rng)
            .unwrap()
            .finish_with(setup, 1, 4, &mut sim.rng, |_| {}, |p| p.proof_b.truncate(8))
            .unwrap();
        sim.worker_to_b(4, up);
        sim.worker_to_a(
            4,
            WorkerToA::Submit {
                round: 1,
                worker: 4,
                payload: SubmitA::Seed(seed),
            },
        );
    });
    assert!(refused(&o, 4, "at server B"), "{o:?}");
    // (c) A valid upload whose proof was made, then one byte of B's bytes
    // changed after the proof (commitment mismatch): refused by both.
    let (_, o) = round_with(|sim, _s, setup| {
        let x = encode_clipped(&[0.1; 40], 2.0, setup.fixed).unwrap();
        let (seed, up) = Draft::honest(setup, 1, 4, &x, &mut sim.rng)
            .unwrap()
            .finish_with(setup, 1, 4, &mut sim.rng, |_| {}, |p| p.b[0] ^= 1)
            .unwrap();
        submit_pair(sim, 1, 4, seed, up);
    });
    assert!(refused(&o, 4, "validity proof rejected"), "{o:?}");
}

/// Finding 1 (fixed in PROTOCOL §2/§7.2): at the wire's maximum dimension
/// 2^21, N_dom = 4096 and the gadget term alone is ≈ 2^−51.0, so the stated
/// total is < 2^−50 (it was "< 2^−51").
#[test]
fn protocol_total_soundness_below_2_pow_minus_50_for_every_wire_dim() {
    let s = fedavg(1 << 21);
    let st = RobustSetup::new(&s).unwrap();
    let total = 2f64.powi(-62) + 2f64.powf(gadget_log2(&st.circuit));
    assert!(total < 2f64.powi(-50), "total = 2^{:.4}", total.log2());
    assert!(
        total > 2f64.powi(-51),
        "the finding no longer applies: 2^{:.4}",
        total.log2()
    );
}

/// Finding 2 (fixed in PROTOCOL §2/§7.2): a lifted coordinate reaches
/// −3·2^(ℓ−1) exactly (aₖ = bₖ = 0, κₖ = 1), so the bound is |Xₖ| ≤ 3·2^(ℓ−1),
/// as `RobustSetup::new`'s inclusive dimension check assumes.
#[test]
fn lifted_coordinates_reach_the_bound() {
    let ell = 18i64;
    let (a, b, kappa) = (0i64, 0i64, 1i64);
    let x = a + b - (1 << ell) * kappa - (1 << (ell - 1));
    assert_eq!(x, -3 * (1 << (ell - 1)));
}
