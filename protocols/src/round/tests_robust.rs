//! Robust rules through the full leader/helper message flow (every message
//! through the wire codec; both engines in-process, no dealer): the result
//! against plaintext FLTrust with client normalisation, the reveal rules and
//! the round-level refusals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use mpc_core::codec::Message;
use mpc_core::fixed::FixedParams;
use mpc_core::wire::{AToWorker, Aggregation, BToWorker, SessionInfo};
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::tests::Sim;
use super::worker::prepare;

fn session(dim: usize, aggregation: Aggregation) -> SessionInfo {
    crate::robust::tests::session(dim, aggregation, None)
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt()
}

/// Plaintext FLTrust with client normalisation (f64).
pub(super) fn plain_fltrust(updates: &[Vec<f32>], g0: &[f32]) -> Option<Vec<f64>> {
    let n0 = norm(g0);
    let mut acc = vec![0.0f64; g0.len()];
    let mut total = 0.0;
    for u in updates {
        let nu = norm(u);
        let cos: f64 = u
            .iter()
            .zip(g0)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum::<f64>()
            / (nu * n0);
        if cos > 0.0 {
            total += cos;
            for (a, &x) in acc.iter_mut().zip(u) {
                *a += cos * f64::from(x) / nu;
            }
        }
    }
    (total > 0.0).then(|| acc.iter().map(|a| n0 * a / total).collect())
}

/// The documented bound (PROTOCOL §7.3): ‖g_secure − g_plain‖ ≤ ‖ĝ₀‖·(3δ/(1−δ) + 1.5·√d/2^f)
/// with δ = 2^−7 + 2^−f (the norm window and rounding of ‖X‖/2^f).
pub(super) fn bound(g0: &[f32], d: usize) -> f64 {
    let delta = 2f64.powi(-7) + 2f64.powi(-16);
    norm(g0) * (3.0 * delta / (1.0 - delta) + 1.5 * (d as f64).sqrt() / 65536.0)
}

fn run_fltrust(dim: usize, updates: &[Vec<f32>], g0: &[f32]) -> Sim {
    let s = session(dim, Aggregation::SecureFltrust);
    let mut sim = Sim::new(s.clone(), 3);
    sim.start_with(1, dim, updates.len(), Some(g0.to_vec()));
    for (w, u) in updates.iter().enumerate() {
        sim.submit(1, w as u32, u, &s);
    }
    sim
}

fn check_equivalence(dim: usize, n: usize, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let g0: Vec<f32> = (0..dim).map(|_| rng.random_range(-0.01f32..0.01)).collect();
    let updates: Vec<Vec<f32>> = (0..n)
        .map(|i| {
            // Every fourth worker points against ĝ₀; the rest along it.
            let along = if i % 4 == 3 { -2.0 } else { 2.0 };
            g0.iter()
                .map(|&g| along * g + rng.random_range(-0.01f32..0.01))
                .collect()
        })
        .collect();
    let sim = run_fltrust(dim, &updates, &g0);
    let o = sim.outcome.as_ref().expect("round complete");
    assert!(o.rejected.is_empty(), "{:?}", o.rejected);
    assert_eq!(o.accepted.len(), n);
    let plain = plain_fltrust(&updates, &g0).unwrap();
    let Some(secure) = o.mean_update.as_ref() else {
        panic!("d = {dim}, n = {n}: no update: {:?}", o.note);
    };
    let err = secure
        .iter()
        .zip(&plain)
        .map(|(&s, &p)| (f64::from(s) - p).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!(
        err <= bound(&g0, dim),
        "d = {dim}, n = {n}: error {err} above the bound {}",
        bound(&g0, dim)
    );
    let positive = updates
        .iter()
        .filter(|u| {
            u.iter()
                .zip(&g0)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum::<f64>()
                > 0.0
        })
        .count();
    assert_eq!(o.zero_trust_count, n - positive);
}

#[test]
fn secure_fltrust_equals_plaintext_fltrust_within_the_bound() {
    check_equivalence(10, 3, 1);
    check_equivalence(1000, 50, 2);
    check_equivalence(100_000, 20, 3);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]
    #[test]
    fn secure_fltrust_equals_plaintext_for_random_sizes(dim in 2usize..3000, n in 3usize..14, seed in any::<u64>()) {
        check_equivalence(dim, n, seed);
    }
}

#[test]
fn fewer_than_k_min_positive_workers_reveal_nothing() {
    let dim = 50;
    let g0: Vec<f32> = (0..dim).map(|k| (k as f32).sin()).collect();
    let against: Vec<f32> = g0.iter().map(|&g| -g).collect();
    // Two aligned (positive trust), three sign-flipped (zero trust): 2 < k_min = 3.
    let updates = vec![
        g0.clone(),
        g0.iter().map(|&g| g + 0.1).collect(),
        against.clone(),
        against.clone(),
        against,
    ];
    let sim = run_fltrust(dim, &updates, &g0);
    let o = sim.outcome.as_ref().unwrap();
    assert!(o.mean_update.is_none());
    assert!(
        o.note.as_deref().unwrap_or_default().contains("k_min"),
        "{o:?}"
    );
    assert_eq!(o.accepted.len(), 5);
    assert_eq!(o.zero_trust_count, 3);
    assert_eq!(
        sim.reveals,
        vec![1],
        "the round counts as revealed (closed)"
    );
    // Three positive: revealed.
    let mut updates = updates;
    updates[2] = g0.clone();
    let sim = run_fltrust(dim, &updates, &g0);
    let o = sim.outcome.as_ref().unwrap();
    assert!(o.mean_update.is_some(), "{o:?}");
    assert_eq!(o.zero_trust_count, 2);
}

#[test]
fn sign_flipped_updates_get_zero_trust_and_leave_the_aggregate_alone() {
    let dim = 300;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let g0: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let honest: Vec<Vec<f32>> = (0..4)
        .map(|_| {
            g0.iter()
                .map(|&g| g + rng.random_range(-1.0f32..1.0))
                .collect()
        })
        .collect();
    let mut all = honest.clone();
    all.extend(
        honest
            .iter()
            .map(|u| u.iter().map(|&x| -x).collect::<Vec<f32>>()),
    );
    let with = run_fltrust(dim, &all, &g0);
    let without = run_fltrust(dim, &honest, &g0);
    let (a, b) = (with.outcome.unwrap(), without.outcome.unwrap());
    assert_eq!(a.zero_trust_count, 4);
    assert_eq!(
        a.mean_update, b.mean_update,
        "flippers must not move the aggregate"
    );
}

#[test]
fn duplicates_replays_and_wrong_dimensions_are_refused_in_robust_rounds() {
    let dim = 40;
    let s = session(dim, Aggregation::SecureFltrust);
    let g0: Vec<f32> = (0..dim).map(|k| 1.0 + k as f32).collect();
    let mut sim = Sim::new(s.clone(), 3);
    sim.start_with(1, dim, 4, Some(g0.clone()));
    for w in 0..3 {
        sim.submit(1, w, &g0, &s);
    }
    // Worker 3: a wrong-dimension upload at B (refused with a verdict to A).
    let short = session(dim - 1, Aggregation::SecureFltrust);
    let bad = prepare(&short, 1, 3, &g0[..dim - 1], &mut sim.rng).unwrap();
    let good = prepare(&s, 1, 3, &g0, &mut sim.rng).unwrap();
    sim.worker_to_a(3, good.to_a);
    sim.worker_to_b(3, bad.to_b.unwrap());
    let o = sim.outcome.take().expect("round complete");
    assert_eq!(o.accepted, vec![0, 1, 2]);
    assert!(
        matches!(o.rejected[&3], super::rejection::Rejection::AtB(_)),
        "{:?}",
        o.rejected
    );
    assert!(o.mean_update.is_some());
    // Round 2: a replay of round 1's upload and a second submission.
    let round1 = prepare(&s, 1, 0, &g0, &mut sim.rng).unwrap();
    sim.start_with(2, dim, 3, Some(g0.clone()));
    sim.worker_to_b(0, round1.to_b.unwrap());
    assert!(matches!(
        sim.from_b.last(),
        Some((0, BToWorker::Reject { reason, .. })) if reason.contains("not open")
    ));
    sim.submit(2, 0, &g0, &s);
    sim.submit(2, 0, &g0, &s);
    assert!(matches!(
        sim.from_a.last(),
        Some((0, AToWorker::Reject { reason, .. })) if reason.contains("duplicate")
    ));
    assert!(matches!(
        sim.from_b.last(),
        Some((0, BToWorker::Reject { reason, .. })) if reason.contains("duplicate")
    ));
    sim.submit(2, 1, &g0, &s);
    sim.submit(2, 2, &g0, &s);
    let o = sim.outcome.take().expect("round 2 complete");
    assert_eq!(o.accepted, vec![0, 1, 2]);
    assert!(o.rejected.is_empty());
}

#[test]
fn a_round_without_a_proxy_update_ends_without_an_update() {
    let dim = 8;
    let s = session(dim, Aggregation::SecureFltrust);
    let mut sim = Sim::new(s, 3);
    sim.roster(3);
    sim.start_raw(1, &[0.0; 8], Some(vec![0.0; 8]));
    let o = sim.outcome.take().unwrap();
    assert!(o.mean_update.is_none());
    assert!(o.note.unwrap().contains("proxy update"));
}

#[test]
fn honest_awkward_updates_pass_at_every_size() {
    for dim in [10usize, 10_000, 270_000, 1_000_000] {
        let s = session(dim, Aggregation::SecureFltrust);
        let mut sim = Sim::new(s.clone(), 3);
        let equal = vec![0.25f32; dim];
        let mut one_hot = vec![0.0f32; dim];
        one_hot[dim / 3] = 2.0;
        let heavy: Vec<f32> = (0..dim)
            .map(|k| {
                if k % 101 == 0 {
                    1e3
                } else {
                    1e-4 * ((k % 7) as f32 - 3.0)
                }
            })
            .collect();
        let random: Vec<f32> = {
            let mut rng = ChaCha8Rng::seed_from_u64(dim as u64);
            (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect()
        };
        let g0 = equal.clone();
        sim.start_with(1, dim, 4, Some(g0));
        for (w, u) in [equal, one_hot, heavy, random].iter().enumerate() {
            sim.submit(1, w as u32, u, &s);
        }
        let o = sim.outcome.take().unwrap();
        assert!(o.rejected.is_empty(), "d = {dim}: {:?}", o.rejected);
        assert_eq!(o.accepted.len(), 4);
    }
}

/// Review finding 2 (fixed: `OpenRobust` names the participants and B refuses
/// anyone else before parsing; B also stops reading worker frames at
/// `max_in_flight`): B used to hold a robust upload until the round closed even when
/// A never sends a `SeedCommit` for it (a worker that is not a participant of
/// the round, or one that withholds its seed from A). Those halves (≈ 32 B
/// per coordinate each, ≈ 35 GB for the default `max_pending` = 4096 at
/// d = 270k) count against `max_pending`, so a few such uploads lock every
/// honest participant out of the round.
#[test]
fn finding2_uploads_without_a_seed_at_a_do_not_lock_out_participants() {
    use super::helper::HelperConfig;
    let dim = 16;
    let s = session(dim, Aggregation::SecureFltrust);
    let g0: Vec<f32> = (0..dim).map(|k| 1.0 + k as f32).collect();
    let mut sim = Sim::with_helper(
        s.clone(),
        HelperConfig {
            max_pending: 3,
            ..super::tests::helper_config(3)
        },
    );
    sim.start_with(1, dim, 3, Some(g0.clone()));
    // Enrolled workers 10..13 are not participants of round 1 (A would refuse
    // their seeds); they upload to B only, and B keeps their halves.
    for w in 10..13u32 {
        let sub = prepare(&s, 1, w, &g0, &mut sim.rng).unwrap();
        sim.worker_to_b(w, sub.to_b.unwrap());
    }
    // B refuses them before parsing (A announced the participants to B).
    assert_eq!(
        sim.from_b
            .iter()
            .filter(|(w, m)| *w >= 10
                && matches!(m, BToWorker::Reject { reason, .. } if reason.contains("not a participant")))
            .count(),
        3,
        "B kept uploads of workers that are not participants"
    );
    // The three real participants now submit honestly.
    for w in 0..3u32 {
        sim.submit(1, w, &g0, &s);
    }
    let o = sim.outcome.take().expect("round complete");
    assert_eq!(
        o.accepted,
        vec![0, 1, 2],
        "participants locked out: {:?}",
        o.rejected
    );
}

/// Review finding 3 (fixed: A skips the workers of the batch in flight): when the deadline fires while a batch is in flight, A's
/// `on_deadline` marks the workers *of that batch* (no longer in `ready`, not
/// yet accepted) as "no complete submission"; the batch then accepts them, so
/// the outcome lists the same worker as accepted and rejected.
#[test]
fn finding3_deadline_during_a_batch_keeps_verdicts_consistent() {
    use super::tests::Msg;
    use mpc_core::wire::BToA;
    use std::collections::VecDeque;
    let dim = 16;
    let s = session(dim, Aggregation::SecureFltrust);
    let g0: Vec<f32> = (0..dim).map(|k| 1.0 + k as f32).collect();
    let mut sim = Sim::new(s.clone(), 3);
    sim.start_with(1, dim, 3, Some(g0.clone()));
    for w in 0..2u32 {
        sim.submit(1, w, &g0, &s);
    }
    let sub = prepare(&s, 1, 2, &g0, &mut sim.rng).unwrap();
    sim.worker_to_a(2, sub.to_a);
    let frame = sub.to_b.unwrap().encode();
    let acts = sim.helper_worker(2, &frame);
    let mut q = VecDeque::new();
    sim.helper_actions(acts, &mut q);
    // Deliver until A has started worker 2's batch.
    loop {
        let m = q.pop_front().expect("A starts a batch");
        let started = matches!(m, Msg::ToA(BToA::UploadReady { .. }));
        sim.deliver(m, &mut q);
        if started {
            break;
        }
    }
    sim.now += super::tests::ROUND_TIMEOUT;
    let acts = sim.leader.handle_timeout(sim.now);
    sim.leader_actions(acts, &mut q);
    sim.drain(q);
    let o = sim.outcome.take().expect("round complete");
    assert_eq!(o.accepted, vec![0, 1, 2]);
    assert!(
        !o.rejected.contains_key(&2),
        "worker 2 reported accepted and rejected: {:?}",
        o.rejected
    );
}

#[test]
fn a_round_with_more_participants_than_the_no_wrap_bound_is_refused() {
    let dim = 8;
    let mut s = session(dim, Aggregation::SecureFltrust);
    s.fixed = FixedParams::new(21, 19).unwrap();
    let setup = crate::robust::submit::RobustSetup::new(&s).unwrap();
    let max = setup.max_workers;
    assert!((32..100).contains(&max), "f = 19 allows {max} workers");
    let mut sim = Sim::new(s, 3);
    sim.roster(max + 1);
    sim.start_raw(1, &[0.0; 8], Some(vec![1.0; 8]));
    let o = sim.outcome.take().expect("the round ends at once");
    assert!(o.mean_update.is_none());
    assert!(o.note.unwrap().contains("without wrap-around"));
    assert!(sim.announced.is_none(), "nothing was announced");
}

/// B's memory budget: uploads that flood B stop being read once what it
/// holds plus one more would not fit; the round still completes with every
/// worker once the held ones are batched and released.
#[test]
fn b_stops_taking_uploads_at_its_memory_budget_and_the_round_completes() {
    let dim = 64;
    let n = 6u32;
    let s = session(dim, Aggregation::SecureFltrust);
    let g0: Vec<f32> = (0..dim).map(|k| 1.0 + k as f32).collect();
    let per_upload = crate::robust::submit::RobustSetup::new(&s)
        .unwrap()
        .upload_b_bytes();
    let cfg = super::helper::HelperConfig {
        k_min: 3,
        // Room for two uploads and a half: the third does not fit.
        memory_budget: 2 * per_upload + per_upload / 2,
        ..super::tests::helper_config(3)
    };
    let mut sim = Sim::with_helper(s.clone(), cfg);
    sim.start_with(1, dim, n as usize, Some(g0.clone()));
    let mut uploads = Vec::new();
    for w in 0..n {
        let sub = prepare(&s, 1, w, &g0, &mut sim.rng).unwrap();
        sim.worker_to_a(w, sub.to_a);
        uploads.push((w, sub.to_b.unwrap().encode()));
    }
    // Hand B uploads as a shell would: only while it wants them.
    let mut taken = 0;
    while taken < uploads.len() && sim.helper.wants_uploads() {
        let (w, f) = &uploads[taken];
        let acts = sim.helper.handle_worker_frame(*w, f, f.len());
        assert!(acts.is_empty(), "an upload is only taken before poll_work");
        taken += 1;
    }
    assert_eq!(
        taken, 2,
        "B took {taken} uploads on a budget of two and a half"
    );
    // The shell polls; the held workers are batched and released, and B
    // wants the rest, a few at a time.
    let acts = sim.helper.poll_work();
    sim.run_helper(acts);
    while taken < uploads.len() {
        assert!(
            sim.helper.wants_uploads(),
            "B never released its held uploads"
        );
        let (w, f) = &uploads[taken];
        let mut acts = sim.helper.handle_worker_frame(*w, f, f.len());
        acts.extend(sim.helper.poll_work());
        sim.run_helper(acts);
        taken += 1;
    }
    let o = sim.outcome.take().expect("round complete");
    assert_eq!(o.accepted, (0..n).collect::<Vec<_>>(), "{o:?}");
}
