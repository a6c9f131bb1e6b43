//! Replay: with all randomness passed in, a robust run is a function of its
//! seeds. Two runs from the same seeds send the same frames bit for bit on
//! every link (A↔B, A/B → workers, workers → A/B); another seed changes
//! every frame that carries randomness and nothing of the result.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use mpc_core::prg::Seed;
use mpc_core::wire::Aggregation;

use super::leader::RoundOutcome;
use super::tests::{Frame, Sim};
use super::worker::prepare;
use mpc_core::codec::Message;

/// Every link of a secure run.
const LINKS: [&str; 6] = ["A->B", "B->A", "A->W", "B->W", "W->A", "W->B"];

/// Two secure-fltrust rounds of five workers (one pointing away from the
/// reference, so it gets trust 0) from `seed`: every frame, and the outcomes.
fn run(seed: &Seed) -> (Vec<Frame>, Vec<RoundOutcome>) {
    run_with(seed, false)
}

/// [`run`]; with `grouped`, every worker's seed reaches A first and then
/// all five uploads are handed to B before one `poll_work` (as a shell does
/// with frames that are already there), so B's work on them runs at once.
fn run_with(seed: &Seed, grouped: bool) -> (Vec<Frame>, Vec<RoundOutcome>) {
    let dim = 24;
    let s = crate::robust::tests::session(dim, Aggregation::SecureFltrust, None);
    let mut sim = Sim::seeded(s.clone(), 3, seed);
    let g0: Vec<f32> = (0..dim).map(|k| ((k as f32) * 0.7).sin()).collect();
    let mut outcomes = Vec::new();
    for round in 1..=2u64 {
        sim.start_with(round, dim, 5, Some(g0.clone()));
        let mut uploads = Vec::new();
        for w in 0..5u32 {
            let sign = if w == 4 { -1.0 } else { 1.0 };
            let u: Vec<f32> = g0
                .iter()
                .enumerate()
                .map(|(k, &g)| sign * g + 0.1 * ((k as f32) + w as f32 + round as f32).cos())
                .collect();
            if grouped {
                let sub = prepare(&s, round, w, &u, &mut sim.rng).unwrap();
                sim.worker_to_a(w, sub.to_a);
                uploads.push((w, sub.to_b.unwrap().encode()));
            } else {
                sim.submit(round, w, &u, &s);
            }
        }
        if grouped {
            let mut acts = Vec::new();
            for (w, f) in &uploads {
                acts.extend(sim.helper.handle_worker_frame(*w, f, f.len()));
            }
            assert_eq!(
                sim.helper.pending_work(),
                5,
                "nothing parsed before poll_work"
            );
            acts.extend(sim.helper.poll_work());
            sim.run_helper(acts);
        }
        outcomes.push(sim.outcome.take().expect("round complete"));
    }
    (sim.trace, outcomes)
}

/// The frames of `link`.
fn on(trace: &[Frame], link: &str) -> Vec<(u32, Vec<u8>)> {
    trace
        .iter()
        .filter(|f| f.link == link)
        .map(|f| (f.worker, f.bytes.clone()))
        .collect()
}

#[test]
fn a_robust_run_replays_bit_for_bit_from_fixed_seeds() {
    let seed = Seed([0x42; 32]);
    let (first, o1) = run(&seed);
    let (second, o2) = run(&seed);
    for o in &o1 {
        assert!(o.mean_update.is_some(), "{o:?}");
        assert_eq!(o.accepted, vec![0, 1, 2, 3, 4], "{o:?}");
        assert_eq!(o.zero_trust_count, 1, "{o:?}");
    }
    for link in LINKS {
        assert!(
            first.iter().any(|f| f.link == link),
            "no frame on {link}: the run does not cover every link"
        );
    }
    assert_eq!(first.len(), second.len(), "frame count");
    for (i, (a, b)) in first.iter().zip(&second).enumerate() {
        assert_eq!(
            (a.link, a.worker),
            (b.link, b.worker),
            "frame {i}: other link"
        );
        assert!(
            a.bytes == b.bytes,
            "frame {i} ({} worker {}) differs between two runs from the same seeds",
            a.link,
            a.worker
        );
    }
    assert_eq!(o1, o2);
}

#[test]
fn another_seed_gives_other_messages_and_the_same_result() {
    let (first, o1) = run(&Seed([0x42; 32]));
    let (other, o2) = run(&Seed([0x43; 32]));
    // What depends on randomness differs: the workers' seeds to A and
    // uploads to B, and the servers' engine traffic both ways.
    for link in ["W->A", "W->B", "A->B", "B->A"] {
        assert_ne!(
            on(&first, link),
            on(&other, link),
            "{link}: the same frames from another seed"
        );
    }
    // Each worker upload carries fresh randomness: none repeats.
    let (a, b) = (on(&first, "W->B"), on(&other, "W->B"));
    assert!(a.iter().all(|f| !b.contains(f)));
    // The result is a function of the updates only (exact share arithmetic).
    for (x, y) in o1.iter().zip(&o2) {
        assert_eq!(x.mean_update, y.mean_update);
        assert_eq!(x.accepted, y.accepted);
        assert_eq!(x.zero_trust_count, y.zero_trust_count);
    }
}

/// The per-worker work runs on the rayon pool: the number of threads
/// changes no frame on any link.
#[test]
fn the_number_of_threads_changes_no_frame() {
    let seed = Seed([0x42; 32]);
    let on_threads = |n: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
            .install(|| run_with(&seed, true))
    };
    let (one, o1) = on_threads(1);
    let (four, o4) = on_threads(4);
    assert_eq!(one.len(), four.len(), "frame count");
    for (i, (a, b)) in one.iter().zip(&four).enumerate() {
        assert!(
            (a.link, a.worker) == (b.link, b.worker) && a.bytes == b.bytes,
            "frame {i} ({} worker {}) differs between 1 and 4 threads",
            a.link,
            a.worker
        );
    }
    assert_eq!(o1, o4);
}

/// Handing B several uploads before one `poll_work` gives the same result
/// as working on each as it comes.
#[test]
fn grouped_uploads_give_the_same_result() {
    let seed = Seed([0x42; 32]);
    let (_, one_by_one) = run(&seed);
    let (_, grouped) = run_with(&seed, true);
    for o in &grouped {
        assert_eq!(o.accepted, vec![0, 1, 2, 3, 4], "{o:?}");
        assert_eq!(o.zero_trust_count, 1, "{o:?}");
    }
    assert_eq!(one_by_one, grouped);
}
