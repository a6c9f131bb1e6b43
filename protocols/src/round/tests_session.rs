//! The leader's session layer, deterministically: the start rule, the
//! deadlines, the self-test and malformed frames, with time given by hand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::time::Duration;

use mpc_core::codec::{DEFAULT_MAX_FRAME, Message};
use mpc_core::wire::{AToB, AToWorker, Aggregation, BToWorker, WorkerToA};

use super::leader::{LeaderAction, LeaderConfig, LeaderError, SELFTEST_TIMEOUT};
use super::tests::{Msg, ROUND_TIMEOUT, Sim, helper_config, manual, session};

const START: Duration = Duration::from_secs(30);

/// A session that reveals from one worker on.
fn low(agg: Aggregation) -> mpc_core::wire::SessionInfo {
    mpc_core::wire::SessionInfo {
        k_min: 1,
        ..session(8, agg, 1.0)
    }
}

fn auto(agg: Aggregation, min_workers: usize, rounds: u64) -> LeaderConfig {
    LeaderConfig {
        min_workers,
        rounds,
        start_timeout: START,
        ..manual(low(agg))
    }
}

fn helper() -> super::helper::HelperConfig {
    helper_config(1)
}

fn hello(sim: &mut Sim, w: u32) {
    sim.worker_to_a(w, WorkerToA::Hello { worker: w });
}

/// The start requests the leader made so far.
fn starts(sim: &Sim) -> Vec<u64> {
    sim.events
        .iter()
        .filter_map(|e| match e {
            LeaderAction::StartRound { round } => Some(*round),
            _ => None,
        })
        .collect()
}

fn failure(sim: &Sim) -> Option<&LeaderError> {
    sim.events.iter().find_map(|e| match e {
        LeaderAction::Fail(e) => Some(e),
        _ => None,
    })
}

fn advance(sim: &mut Sim, by: Duration) {
    sim.now += by;
    let acts = sim.leader.handle_timeout(sim.now);
    sim.run_leader(acts);
}

#[test]
fn a_round_starts_once_enough_workers_said_hello() {
    let mut sim = Sim::with(auto(Aggregation::SecureFedAvg, 2, 5), helper());
    hello(&mut sim, 0);
    assert!(starts(&sim).is_empty(), "one of two workers is not enough");
    hello(&mut sim, 1);
    // B revealed nothing yet: ids start at 1.
    assert_eq!(starts(&sim), vec![1]);
    // Until the shell starts it, the request is not repeated.
    hello(&mut sim, 2);
    assert_eq!(starts(&sim), vec![1]);
}

#[test]
fn after_the_start_timeout_one_worker_is_enough() {
    let mut sim = Sim::with(auto(Aggregation::PlainFedAvg, 5, 5), helper());
    hello(&mut sim, 3);
    assert!(starts(&sim).is_empty());
    assert_eq!(sim.leader.poll_timeout(), Some(sim.now + START));
    advance(&mut sim, START);
    assert_eq!(starts(&sim), vec![1]);
}

#[test]
fn nobody_by_the_start_timeout_is_fatal() {
    let mut sim = Sim::with(auto(Aggregation::SecureFltrust, 1, 5), helper());
    advance(&mut sim, START - Duration::from_millis(1));
    assert!(failure(&sim).is_none(), "not yet");
    advance(&mut sim, Duration::from_millis(1));
    assert_eq!(
        failure(&sim),
        Some(&LeaderError::NoWorkers { waited: START })
    );
    assert_eq!(sim.leader.poll_timeout(), None, "a failed leader sleeps");
}

#[test]
fn the_session_ends_after_its_rounds_and_tells_the_roster() {
    let s = low(Aggregation::PlainFedAvg);
    let mut sim = Sim::with(auto(Aggregation::PlainFedAvg, 2, 2), helper());
    for w in 0..2 {
        hello(&mut sim, w);
    }
    for round in 1..=2 {
        assert_eq!(starts(&sim).last(), Some(&round));
        sim.start_raw(round, &[0.0; 8], None);
        for w in 0..2 {
            sim.submit(round, w, &[0.1; 8], &s);
        }
        assert!(sim.outcome.take().unwrap().mean_update.is_some());
    }
    assert!(matches!(sim.events.last(), Some(LeaderAction::Finished)));
    let told: Vec<u32> = sim
        .from_a
        .iter()
        .filter(|(_, m)| matches!(m, AToWorker::Finished))
        .map(|(w, _)| *w)
        .collect();
    assert_eq!(told, vec![0, 1]);
    assert_eq!(sim.leader.rounds_done(), 2);
}

#[test]
fn everyone_leaving_is_fatal_and_says_so() {
    let s = low(Aggregation::PlainFedAvg);
    let mut sim = Sim::with(auto(Aggregation::PlainFedAvg, 1, 5), helper());
    hello(&mut sim, 0);
    sim.start_raw(1, &[0.0; 8], None);
    sim.submit(1, 0, &[0.1; 8], &s);
    assert!(sim.outcome.take().unwrap().mean_update.is_some());
    assert_eq!(starts(&sim).last(), Some(&2), "round 2 was asked for");
    sim.leader.worker_closed(0);
    sim.start_raw(2, &[0.0; 8], None);
    advance(&mut sim, START);
    assert_eq!(
        failure(&sim),
        Some(&LeaderError::WorkersLeft { rounds_done: 1 }),
        "not \"no worker joined\""
    );
}

#[test]
fn a_worker_that_left_is_not_in_the_next_round() {
    let mut sim = Sim::with(auto(Aggregation::PlainFedAvg, 3, 5), helper());
    for w in 0..3 {
        hello(&mut sim, w);
    }
    sim.leader.worker_closed(1);
    sim.start_raw(1, &[0.0; 8], None);
    let announced: Vec<u32> = sim
        .from_a
        .iter()
        .filter(|(_, m)| matches!(m, AToWorker::Announce { .. }))
        .map(|(w, _)| *w)
        .collect();
    assert_eq!(announced, vec![0, 2]);
}

#[test]
fn the_round_deadline_closes_with_the_complete_submissions() {
    let s = low(Aggregation::SecureFedAvg);
    let mut sim = Sim::with(manual(s.clone()), helper());
    sim.start(1, 8, 3);
    assert_eq!(sim.leader.poll_timeout(), Some(sim.now + ROUND_TIMEOUT));
    sim.submit(1, 0, &[0.1; 8], &s);
    sim.submit(1, 1, &[0.1; 8], &s);
    advance(&mut sim, ROUND_TIMEOUT - Duration::from_millis(1));
    assert!(sim.outcome.is_none(), "not before the deadline");
    advance(&mut sim, Duration::from_millis(1));
    let o = sim.outcome.take().expect("closed at the deadline");
    assert_eq!(o.accepted, vec![0, 1]);
    assert_eq!(
        o.rejected[&2],
        super::rejection::Rejection::Deadline,
        "{o:?}"
    );
    assert!(o.mean_update.is_some());
    // No round deadline is left (only the manual config's far start timeout).
    assert!(
        sim.leader
            .poll_timeout()
            .is_none_or(|t| t > sim.now + 1000 * ROUND_TIMEOUT)
    );
}

#[test]
fn b_silent_after_the_close_ends_the_round_without_an_update() {
    let s = low(Aggregation::SecureFedAvg);
    let mut sim = Sim::with(manual(s.clone()), helper());
    sim.start(1, 8, 2);
    sim.submit(1, 0, &[0.1; 8], &s);
    sim.submit(1, 1, &[0.1; 8], &s);
    // Both submissions were checked; A has sent CloseRobust. B "never got it":
    // here every submission arrived, so the close went out already. Re-run
    // with one missing and drop what A sends B at the deadline.
    let o = sim.outcome.take().expect("complete");
    assert!(o.mean_update.is_some());
    sim.start(2, 8, 2);
    sim.submit(2, 0, &[0.1; 8], &s);
    sim.now += ROUND_TIMEOUT;
    let acts = sim.leader.handle_timeout(sim.now);
    let mut dropped = VecDeque::new();
    sim.leader_actions(acts, &mut dropped);
    assert!(
        dropped
            .iter()
            .any(|m| matches!(m, Msg::ToB(AToB::CloseRobust { round: 2, .. }))),
        "A closes at the deadline"
    );
    assert!(sim.outcome.is_none(), "A waits for B's answer");
    advance(&mut sim, ROUND_TIMEOUT);
    let o = sim.outcome.take().expect("second deadline");
    assert!(o.mean_update.is_none());
    assert!(o.note.unwrap().contains("did not answer the close"));
}

#[test]
fn undecodable_worker_frames_are_refused_and_change_nothing() {
    let s = low(Aggregation::SecureFedAvg);
    let mut sim = Sim::with(manual(s.clone()), helper());
    sim.start(1, 8, 2);
    let before = sim.from_a.len();
    for junk in [&b""[..], &[0xff; 3], &[0, 1, 7, 7, 7]] {
        sim.frame_to_a(0, junk);
        let acts = sim.helper.handle_worker_frame(0, junk, junk.len());
        sim.run_helper(acts);
    }
    // An oversized frame is refused before decoding.
    let big = vec![0u8; DEFAULT_MAX_FRAME + 1];
    sim.frame_to_a(1, &big);
    let refusals = sim.from_a[before..]
        .iter()
        .filter(|(_, m)| matches!(m, AToWorker::Reject { round: 0, reason } if reason.starts_with("undecodable frame")))
        .count();
    assert_eq!(refusals, 4);
    assert_eq!(
        sim.from_b
            .iter()
            .filter(|(_, m)| matches!(m, BToWorker::Reject { reason, .. } if reason.starts_with("undecodable frame")))
            .count(),
        3
    );
    // The round is unchanged: both workers still submit and count.
    sim.submit(1, 0, &[0.1; 8], &s);
    sim.submit(1, 1, &[0.1; 8], &s);
    let o = sim.outcome.take().expect("complete");
    assert_eq!(o.accepted, vec![0, 1]);
    assert!(o.rejected.is_empty());
}

#[test]
fn undecodable_frames_between_the_servers_are_ignored() {
    let s = low(Aggregation::SecureFedAvg);
    let mut sim = Sim::with(manual(s.clone()), helper());
    sim.start(1, 8, 1);
    let acts = sim.leader.handle_b_frame(sim.now, &[0xde, 0xad]);
    assert!(acts.is_empty());
    assert!(sim.helper.handle_a_frame(&[0xbe, 0xef]).is_empty());
    sim.submit(1, 0, &[0.1; 8], &s);
    assert_eq!(sim.outcome.take().expect("complete").accepted, vec![0]);
}

#[test]
fn a_claimed_id_that_is_not_the_certificates_is_refused() {
    let mut sim = Sim::with(manual(session(8, Aggregation::PlainFedAvg, 1.0)), helper());
    sim.worker_to_a(4, WorkerToA::Hello { worker: 0 });
    assert!(sim.leader.roster().is_empty());
    assert!(matches!(
        sim.from_a.last(),
        Some((4, AToWorker::Reject { reason, .. })) if reason.contains("enrolled as 4")
    ));
}

#[test]
fn the_self_test_runs_before_the_first_round() {
    let cfg = LeaderConfig {
        selftest_ops: Some(4),
        ..auto(Aggregation::SecureFedAvg, 1, 1)
    };
    // A worker is already there, but no round may start before the self-test.
    let mut sim = Sim::with(cfg, helper());
    let pos = |sim: &Sim, f: fn(&LeaderAction) -> bool| sim.events.iter().position(f);
    hello(&mut sim, 0);
    let selftest = pos(&sim, |e| matches!(e, LeaderAction::SelfTest(_))).expect("self-test");
    let start = pos(&sim, |e| matches!(e, LeaderAction::StartRound { .. })).expect("start");
    assert!(selftest < start);
}

#[test]
fn a_self_test_without_an_answer_times_out() {
    let cfg = LeaderConfig {
        selftest_ops: Some(4),
        ..auto(Aggregation::SecureFedAvg, 1, 1)
    };
    let now = std::time::Instant::now();
    let mut leader = super::leader::Leader::new(cfg, now);
    let _hello = leader.b_connected();
    let ready = mpc_core::wire::BToA::Ready { last_revealed: 0 }.encode();
    // B is ready, the self-test starts, and B never sends its engine frames.
    let acts = leader.handle_b_frame(now, &ready);
    assert!(
        acts.iter()
            .any(|a| matches!(a, LeaderAction::ToB(AToB::Engine(_))))
    );
    assert_eq!(
        leader.poll_timeout(),
        Some(now + SELFTEST_TIMEOUT.min(START))
    );
    let acts = leader.handle_timeout(now + SELFTEST_TIMEOUT);
    assert!(matches!(
        &acts[..],
        [LeaderAction::Fail(LeaderError::SelfTestTimeout)]
    ));
}

#[test]
fn a_self_test_with_a_plain_rule_is_refused() {
    let cfg = LeaderConfig {
        selftest_ops: Some(4),
        ..auto(Aggregation::PlainFedAvg, 1, 1)
    };
    let mut sim = Sim::with(cfg, helper());
    hello(&mut sim, 0);
    assert!(matches!(
        failure(&sim),
        Some(LeaderError::SelfTestRefused(_))
    ));
}

#[test]
fn losing_b_is_fatal() {
    let mut sim = Sim::with(auto(Aggregation::SecureFltrust, 1, 1), helper());
    let acts = sim.leader.b_closed(Some("reset".into()));
    sim.run_leader(acts);
    assert_eq!(
        failure(&sim).map(ToString::to_string),
        Some("lost the connection to server B: reset".into())
    );
}

// ---------------------------------------------------------------------------
// Workers that sit a round out (`WorkerToA::SitOut`): the round closes as
// soon as every announced worker submitted or sat out — no time passes in
// these tests — and sat-out workers are reported apart from the rejected.

use super::rejection::Rejection;
use super::tests_robust::{bound as fltrust_bound, plain_fltrust};

fn sit_out(sim: &mut Sim, round: u64, w: u32) {
    sim.worker_to_a(w, WorkerToA::SitOut { round });
}

/// A's last message to `w`.
fn last_to(sim: &Sim, w: u32) -> &AToWorker {
    sim.from_a
        .iter()
        .rev()
        .find(|(to, _)| *to == w)
        .map(|(_, m)| m)
        .expect("A answered")
}

fn assert_refused(sim: &Sim, w: u32, needle: &str) {
    match last_to(sim, w) {
        AToWorker::Reject { reason, .. } => assert!(reason.contains(needle), "{reason}"),
        other => panic!("expected a refusal containing `{needle}`, got {other:?}"),
    }
}

/// Updates along (`i % 4 != 3`) or against ĝ₀, with a little noise.
fn fltrust_updates(g0: &[f32], n: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|i| {
            let along = if i % 4 == 3 { -1.5 } else { 2.0 };
            g0.iter()
                .enumerate()
                .map(|(k, &g)| along * g + ((i * 5 + k * 3) % 7) as f32 * 0.05)
                .collect()
        })
        .collect()
}

fn reference(dim: usize) -> Vec<f32> {
    (0..dim).map(|k| 1.0 + k as f32 * 0.25).collect()
}

/// ‖a − b‖ with `b` in f64.
fn distance(a: &[f32], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

#[test]
fn a_plain_round_closes_when_the_others_sit_out_without_waiting() {
    let s = low(Aggregation::PlainFedAvg);
    let mut sim = Sim::with(manual(s.clone()), helper());
    sim.start(1, 8, 4);
    let t0 = sim.now;
    sit_out(&mut sim, 1, 2);
    assert!(matches!(last_to(&sim, 2), AToWorker::Ack { round: 1 }));
    sim.submit(1, 0, &[0.1; 8], &s);
    sim.submit(1, 1, &[0.3; 8], &s);
    assert!(sim.outcome.is_none(), "worker 3 has not answered");
    sit_out(&mut sim, 1, 3);
    let o = sim.outcome.take().expect("closed without a deadline");
    assert_eq!(sim.now, t0, "no time passed");
    assert_eq!(o.accepted, vec![0, 1]);
    assert_eq!(o.sat_out, vec![2, 3]);
    assert!(o.rejected.is_empty(), "sat out is not rejected: {o:?}");
    let mean = o.mean_update.expect("update");
    assert!(mean.iter().all(|&m| (m - 0.2).abs() < 1e-6), "{mean:?}");
}

#[test]
fn a_plain_round_where_everyone_sits_out_closes_without_an_update() {
    let s = low(Aggregation::PlainFltrust);
    let mut sim = Sim::with(manual(s), helper());
    sim.start_with(1, 8, 2, Some(reference(8)));
    sit_out(&mut sim, 1, 0);
    sit_out(&mut sim, 1, 1);
    let o = sim.outcome.take().expect("closed");
    assert_eq!(o.sat_out, vec![0, 1]);
    assert!(o.accepted.is_empty() && o.rejected.is_empty());
    assert!(o.mean_update.is_none());
}

#[test]
fn a_secure_fltrust_round_closes_when_a_worker_sits_out_and_equals_plaintext() {
    let dim = 8;
    let s = low(Aggregation::SecureFltrust);
    let g0 = reference(dim);
    let updates = fltrust_updates(&g0, 5);
    let mut sim = Sim::with(manual(s.clone()), helper());
    sim.start_with(1, dim, 6, Some(g0.clone()));
    let t0 = sim.now;
    for (w, u) in updates.iter().enumerate().take(3) {
        sim.submit(1, w as u32, u, &s);
    }
    sit_out(&mut sim, 1, 5);
    sim.submit(1, 3, &updates[3], &s);
    assert!(sim.outcome.is_none(), "worker 4 has not answered");
    sim.submit(1, 4, &updates[4], &s);
    let o = sim
        .outcome
        .take()
        .expect("closed through B without a deadline");
    assert_eq!(sim.now, t0, "no time passed");
    assert_eq!(sim.reveals, vec![1], "B revealed the round");
    assert_eq!(o.accepted, vec![0, 1, 2, 3, 4]);
    assert_eq!(o.sat_out, vec![5]);
    assert!(o.rejected.is_empty(), "{:?}", o.rejected);
    assert_eq!(o.note, None);
    let plain = plain_fltrust(&updates, &g0).unwrap();
    let got = o.mean_update.expect("update");
    let err = distance(&got, &plain);
    assert!(err <= fltrust_bound(&g0, dim), "error {err}");
}

/// A worker that uploads its half to B and tells A it sits out (in either
/// order): A holds no seed for it, so it is never batched, and both
/// servers' accepted sets — and sums — leave it out. The round ends with
/// the others' aggregate, not with "B's accepted set differs".
#[test]
fn a_worker_that_uploads_to_b_but_sits_out_at_a_is_in_neither_sum() {
    let dim = 8;
    let s = low(Aggregation::SecureFltrust);
    let g0 = reference(dim);
    let updates = fltrust_updates(&g0, 5);
    for sit_out_first in [false, true] {
        let mut sim = Sim::with(manual(s.clone()), helper());
        sim.start_with(1, dim, 5, Some(g0.clone()));
        let sneaky = prepare(&s, 1, 4, &updates[4], &mut sim.rng).unwrap();
        if sit_out_first {
            sit_out(&mut sim, 1, 4);
        }
        sim.worker_to_b(4, sneaky.to_b.unwrap());
        assert!(
            matches!(sim.from_b.last(), Some((4, BToWorker::Ack { round: 1 }))),
            "B takes the upload: it cannot know"
        );
        if !sit_out_first {
            sit_out(&mut sim, 1, 4);
        }
        assert!(matches!(last_to(&sim, 4), AToWorker::Ack { round: 1 }));
        // Its seed, sent after the SitOut, is refused: the SitOut stands.
        sim.worker_to_a(4, sneaky.to_a);
        assert_refused(&sim, 4, "sat the round out");
        for (w, u) in updates.iter().enumerate().take(4) {
            sim.submit(1, w as u32, u, &s);
        }
        let o = sim.outcome.take().expect("closed");
        assert_eq!(o.note, None, "the servers agree on the set");
        assert_eq!(o.accepted, vec![0, 1, 2, 3]);
        assert_eq!(o.sat_out, vec![4]);
        assert!(o.rejected.is_empty(), "{:?}", o.rejected);
        let plain = plain_fltrust(&updates[..4], &g0).unwrap();
        let err = distance(&o.mean_update.expect("update"), &plain);
        assert!(err <= fltrust_bound(&g0, dim), "error {err}");
    }
}

/// B refuses the upload of a worker that sat out at A: A ignores B's
/// verdict (the worker is sat out, not rejected). If B's verdict comes
/// first, the worker has an outcome and its SitOut is refused.
#[test]
fn b_refusing_the_upload_of_a_worker_that_sat_out_does_not_reject_it() {
    let dim = 8;
    let s = low(Aggregation::SecureFltrust);
    let g0 = reference(dim);
    let updates = fltrust_updates(&g0, 3);
    for sit_out_first in [true, false] {
        let mut sim = Sim::with(manual(s.clone()), helper());
        sim.start_with(1, dim, 3, Some(g0.clone()));
        let mut bad = prepare(&s, 1, 2, &updates[2], &mut sim.rng)
            .unwrap()
            .to_b
            .unwrap();
        if let mpc_core::wire::WorkerToB::Robust { b, .. } = &mut bad {
            b.truncate(3); // one coordinate: the wrong dimension
        }
        if sit_out_first {
            sit_out(&mut sim, 1, 2);
        }
        sim.worker_to_b(2, bad);
        assert!(matches!(
            sim.from_b.last(),
            Some((2, BToWorker::Reject { .. }))
        ));
        if !sit_out_first {
            sit_out(&mut sim, 1, 2);
            assert_refused(&sim, 2, "duplicate");
        }
        for (w, u) in updates.iter().enumerate().take(2) {
            sim.submit(1, w as u32, u, &s);
        }
        let o = sim.outcome.take().expect("closed");
        assert_eq!(o.accepted, vec![0, 1]);
        if sit_out_first {
            assert_eq!(o.sat_out, vec![2]);
            assert!(o.rejected.is_empty(), "{:?}", o.rejected);
        } else {
            assert!(o.sat_out.is_empty());
            assert!(matches!(o.rejected.get(&2), Some(Rejection::AtB(_))));
        }
        assert_eq!(o.note, None);
    }
}

/// SitOut for another round, from a worker the round was not announced
/// to, twice, after a submission, and a submission after a SitOut: each
/// refused, and the round's outcome is what it would be without them.
#[test]
fn wrong_round_duplicate_late_and_foreign_sit_outs_are_refused_and_change_nothing() {
    for agg in [Aggregation::PlainFedAvg, Aggregation::SecureFedAvg] {
        let s = low(agg);
        let mut sim = Sim::with(manual(s.clone()), helper());
        sim.start(1, 8, 3);
        // Worker 7 joins after the announcement: not a participant.
        sim.worker_to_a(7, WorkerToA::Hello { worker: 7 });
        sit_out(&mut sim, 1, 7);
        assert_refused(&sim, 7, "not a participant of round 1");
        sit_out(&mut sim, 2, 0);
        assert_refused(&sim, 0, "round 2 is not open (current round is 1)");
        sit_out(&mut sim, 0, 0);
        assert_refused(&sim, 0, "round 0 is not open");
        sim.submit(1, 0, &[0.1; 8], &s);
        sit_out(&mut sim, 1, 0);
        assert_refused(&sim, 0, "duplicate");
        sit_out(&mut sim, 1, 1);
        assert!(matches!(last_to(&sim, 1), AToWorker::Ack { round: 1 }));
        sit_out(&mut sim, 1, 1);
        assert_refused(&sim, 1, "sat the round out");
        sim.submit(1, 1, &[5.0; 8], &s);
        assert_refused(&sim, 1, "sat the round out");
        assert!(sim.outcome.is_none(), "{agg}: worker 2 has not answered");
        sim.submit(1, 2, &[0.3; 8], &s);
        let o = sim.outcome.take().expect("closed");
        assert_eq!(o.accepted, vec![0, 2], "{agg}");
        assert_eq!(o.sat_out, vec![1], "{agg}");
        assert!(o.rejected.is_empty(), "{agg}: {:?}", o.rejected);
        let mean = o.mean_update.expect("update");
        // Secure: within the encoding's rounding (C = 1, f = 16).
        assert!(
            mean.iter().all(|&m| (m - 0.2).abs() < 1e-4),
            "{agg}: {mean:?}"
        );
        // After the round: not open any more.
        sit_out(&mut sim, 1, 2);
        assert_refused(&sim, 2, "round 1 is not open");
    }
}

#[test]
fn at_the_deadline_sat_out_workers_are_not_rejected() {
    let s = low(Aggregation::SecureFedAvg);
    let mut sim = Sim::with(manual(s.clone()), helper());
    sim.start(1, 8, 3);
    sim.submit(1, 0, &[0.1; 8], &s);
    sit_out(&mut sim, 1, 1);
    assert!(sim.outcome.is_none(), "worker 2 is silent");
    advance(&mut sim, ROUND_TIMEOUT);
    let o = sim.outcome.take().expect("closed at the deadline");
    assert_eq!(o.accepted, vec![0]);
    assert_eq!(o.sat_out, vec![1]);
    assert_eq!(o.rejected.keys().copied().collect::<Vec<_>>(), vec![2]);
    assert_eq!(o.rejected[&2], Rejection::Deadline);
}

// ---------------------------------------------------------------------------
// Attack review (cold, after the sans-io restructuring). Each test below
// demonstrates one finding; see the comment on each.

use super::tests::Msg as SimMsg;
use super::worker::prepare;
use mpc_core::wire::SessionInfo;

/// Delivers `q` between the servers, rewriting (or dropping, on `None`)
/// every message to B through `edit`.
fn drain_editing(sim: &mut Sim, mut q: VecDeque<SimMsg>, edit: &dyn Fn(AToB) -> Option<AToB>) {
    while let Some(m) = q.pop_front() {
        let m = match m {
            SimMsg::ToB(b) => match edit(b) {
                Some(b) => SimMsg::ToB(b),
                None => continue,
            },
            other => other,
        };
        sim.deliver(m, &mut q);
    }
}

/// Worker `w`'s honest submission for `round`, both halves, with A→B
/// messages passed through `edit`.
fn submit_editing(
    sim: &mut Sim,
    s: &SessionInfo,
    round: u64,
    w: u32,
    delta: &[f32],
    edit: &dyn Fn(AToB) -> Option<AToB>,
) {
    let sub = prepare(s, round, w, delta, &mut sim.rng).unwrap();
    let f = sub.to_a.encode();
    let acts = sim.leader_worker(w, &f);
    let mut q = VecDeque::new();
    sim.leader_actions(acts, &mut q);
    drain_editing(sim, q, edit);
    let f = sub.to_b.unwrap().encode();
    let acts = sim.helper_worker(w, &f);
    let mut q = VecDeque::new();
    sim.helper_actions(acts, &mut q);
    drain_editing(sim, q, edit);
}

/// Finding (availability; misbehaving or stuck B): in a trust rule, once A
/// has a batch in flight, the round deadline no longer bounds the round. At
/// the first deadline A waits for the batch (a batch of the closing round may still finish); at every
/// later deadline `on_deadline` sees no close sent and just re-arms, so a
/// helper that never runs the batch (here: A's `Batch` is lost) keeps the
/// round — and the whole session — open forever while the connection
/// stays up.
#[test]
fn attack_a_batch_that_never_finishes_does_not_hold_the_round_past_its_deadlines() {
    let dim = 8;
    let s = low(Aggregation::SecureFltrust);
    let g0: Vec<f32> = (0..dim).map(|k| 1.0 + k as f32).collect();
    let mut sim = Sim::with(manual(s.clone()), helper());
    sim.start_with(1, dim, 1, Some(g0.clone()));
    let lose_batch = |m: AToB| (!matches!(m, AToB::Batch { .. })).then_some(m);
    submit_editing(&mut sim, &s, 1, 0, &g0, &lose_batch);
    assert!(sim.outcome.is_none(), "the batch is in flight");
    for _ in 0..5 {
        advance(&mut sim, ROUND_TIMEOUT);
        if sim.outcome.is_some() {
            break;
        }
    }
    let o = sim
        .outcome
        .take()
        .expect("the round must end by its second deadline even with a batch stuck at B");
    assert!(o.mean_update.is_none());
    assert!(
        sim.leader
            .poll_timeout()
            .is_none_or(|t| t > sim.now + 1000 * ROUND_TIMEOUT),
        "no round deadline is left"
    );
}
