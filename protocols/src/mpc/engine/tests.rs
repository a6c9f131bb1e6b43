#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;

use mpc_core::codec::CodecError;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};

use super::*;
use crate::mpc::arith::random_fp;
use crate::mpc::arith::triples::OTS_PER_TRIPLE;
use crate::mpc::compare::Relation;

fn seed(x: u64) -> Seed {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&x.to_le_bytes());
    Seed(s)
}

/// Two engines and the frames in flight, delivered through their bytes.
struct Pair {
    a: Engine,
    b: Engine,
    to_a: VecDeque<Vec<u8>>,
    to_b: VecDeque<Vec<u8>>,
    /// Frames delivered so far.
    delivered: usize,
}

impl Pair {
    fn new(s: u64) -> Pair {
        Pair {
            a: Engine::new(Party::A, EngineConfig::default(), &seed(s)),
            b: Engine::new(Party::B, EngineConfig::default(), &seed(s ^ 0x5555)),
            to_a: VecDeque::new(),
            to_b: VecDeque::new(),
            delivered: 0,
        }
    }

    fn start_both(&mut self) {
        let ma = self.a.start().unwrap();
        let mb = self.b.start().unwrap();
        self.to_b.extend(ma.iter().map(EngineMsg::encode));
        self.to_a.extend(mb.iter().map(EngineMsg::encode));
    }

    fn outgoing(&mut self) {
        let ma = self.a.take_outgoing();
        let mb = self.b.take_outgoing();
        self.to_b.extend(ma.iter().map(EngineMsg::encode));
        self.to_a.extend(mb.iter().map(EngineMsg::encode));
    }

    /// Delivers the next frame (alternating sides when both have one);
    /// `tamper` may rewrite it. Returns the receiver and its reply, or `None`
    /// when nothing is in flight.
    fn step(
        &mut self,
        tamper: &mut impl FnMut(usize, Party, Vec<u8>) -> Vec<u8>,
    ) -> Option<(Party, Reply)> {
        let to_b_first = self.delivered.is_multiple_of(2) || self.to_a.is_empty();
        let (party, frame) = if to_b_first && !self.to_b.is_empty() {
            (Party::B, self.to_b.pop_front()?)
        } else if !self.to_a.is_empty() {
            (Party::A, self.to_a.pop_front()?)
        } else {
            (Party::B, self.to_b.pop_front()?)
        };
        let k = self.delivered;
        self.delivered += 1;
        let frame = tamper(k, party, frame);
        let reply = match party {
            Party::A => self.a.on_frame(&frame),
            Party::B => self.b.on_frame(&frame),
        };
        let out = match party {
            Party::A => &mut self.to_b,
            Party::B => &mut self.to_a,
        };
        out.extend(reply.send.iter().cloned());
        Some((party, reply))
    }

    /// Runs until nothing is in flight; returns the first error.
    fn run(&mut self) -> Option<(Party, EngineError)> {
        self.run_tampered(&mut |_, _, f| f)
    }

    fn run_tampered(
        &mut self,
        tamper: &mut impl FnMut(usize, Party, Vec<u8>) -> Vec<u8>,
    ) -> Option<(Party, EngineError)> {
        let mut first = None;
        while let Some((party, reply)) = self.step(tamper) {
            if let (None, Some(e)) = (&first, reply.error) {
                first = Some((party, e));
            }
        }
        first
    }
}

fn outputs(e: &mut Engine) -> Vec<EngineOutput> {
    std::iter::from_fn(|| e.poll_output()).collect()
}

fn selftest_report(outs: &[EngineOutput]) -> SelfTestReport {
    let mut computed = false;
    for o in outs {
        match o {
            EngineOutput::SelfTestComputed { .. } => computed = true,
            EngineOutput::SelfTest { report, .. } => {
                assert!(computed, "report before the computed event");
                return *report;
            }
            _ => {}
        }
    }
    panic!("no self-test report in {outs:?}");
}

#[test]
fn selftest_is_correct_on_both_sides() {
    let mut p = Pair::new(1);
    p.a.submit_selftest(300).unwrap();
    // Only A starts; B starts on A's first frame (the responder's case).
    let first = p.a.start().unwrap();
    p.to_b.extend(first.iter().map(EngineMsg::encode));
    assert!(p.run().is_none());
    for e in [&mut p.a, &mut p.b] {
        let outs = outputs(e);
        let r = selftest_report(&outs);
        assert_eq!(r.ops, 300);
        assert!(r.correct(), "{r:?}");
        assert!(e.is_idle());
        let s = e.stats();
        assert_eq!(s.drelu_ops, 300);
        assert_eq!(s.mult_ops, 300);
        // One base-OT message each way per direction.
        assert_eq!(s.base_ot.messages_sent, 2);
        assert_eq!(s.base_ot.messages_received, 2);
        // The OTs extended cover what was consumed, with less than 128 spare per direction.
        let used = s.drelu_rots + s.triple_rots;
        assert!(s.ots_extended() >= used && s.ots_extended() < used + 256);
        assert!(s.bytes_per_drelu().unwrap() > 0.0);
    }
    let (sa, sb) = (p.a.stats(), p.b.stats());
    assert_eq!(sa.total().bytes_sent, sb.total().bytes_received);
    assert_eq!(sa.total().bytes_received, sb.total().bytes_sent);
    assert_eq!(sa.ots_as_receiver, sb.ots_as_sender);
    println!(
        "engine self-test, 300 ops: {:.0} B per DReLU, {:.0} B per mult, {} B in all",
        sa.bytes_per_drelu().unwrap(),
        sa.bytes_per_mult().unwrap(),
        sa.total().total_bytes()
    );
}

fn rand_fp(r: &mut ChaCha12Rng) -> Fp {
    random_fp(r)
}

#[test]
fn user_jobs_equal_plaintext_including_edges() {
    let bound = 1i64 << 40;
    let mut r = ChaCha12Rng::seed_from_u64(7);
    let mut values: Vec<i64> = vec![0, 1, -1, 2, -2, bound - 1, -bound, -bound + 1, bound - 2];
    values.extend((0..2000).map(|_| (r.next_u64() % (2 * bound as u64)) as i64 - bound));
    let (va, vb): (Vec<Fp>, Vec<Fp>) = values
        .iter()
        .map(|&v| {
            let m = rand_fp(&mut r);
            (Fp::from_i64(v) + m, -m)
        })
        .unzip();
    let n = 700;
    let xs: Vec<Fp> = (0..n).map(|_| rand_fp(&mut r)).collect();
    let ys: Vec<Fp> = (0..n).map(|_| rand_fp(&mut r)).collect();
    let (xa, xb): (Vec<Fp>, Vec<Fp>) = xs
        .iter()
        .map(|&x| {
            let m = rand_fp(&mut r);
            (x - m, m)
        })
        .unzip();
    let (ya, yb): (Vec<Fp>, Vec<Fp>) = ys
        .iter()
        .map(|&y| {
            let m = rand_fp(&mut r);
            (m, y - m)
        })
        .unzip();

    let mut p = Pair::new(2);
    // Jobs submitted before start, in the same order on both sides.
    let ja = p.a.submit_drelu(va).unwrap();
    let jb = p.b.submit_drelu(vb).unwrap();
    assert_eq!(ja, jb);
    p.a.submit_mult(xa, ya).unwrap();
    p.b.submit_mult(xb, yb).unwrap();
    p.start_both();
    assert!(p.run().is_none());
    let (oa, ob) = (outputs(&mut p.a), outputs(&mut p.b));
    assert_eq!(oa.len(), 2);
    let mut checked = 0;
    for (x, y) in oa.iter().zip(&ob) {
        match (x, y) {
            (EngineOutput::Drelu { shares: a, .. }, EngineOutput::Drelu { shares: b, .. }) => {
                for ((v, sa), sb) in values.iter().zip(a).zip(b) {
                    assert_eq!(sa ^ sb, *v >= 0, "value {v}");
                }
                checked += 1;
            }
            (EngineOutput::Mult { shares: a, .. }, EngineOutput::Mult { shares: b, .. }) => {
                for (((x, y), za), zb) in xs.iter().zip(&ys).zip(a).zip(b) {
                    assert_eq!(*za + *zb, *x * *y);
                }
                checked += 1;
            }
            _ => panic!("outputs out of order: {x:?} / {y:?}"),
        }
    }
    assert_eq!(checked, 2);

    // More jobs on the same engines: no new base OTs, only new extensions.
    let before = *p.a.stats();
    let (s1, s2): (Vec<Fp>, Vec<Fp>) = (0..50)
        .map(|i| {
            let m = rand_fp(&mut r);
            (Fp::from_i64(i - 25) + m, -m)
        })
        .unzip();
    p.a.submit_drelu(s1).unwrap();
    p.b.submit_drelu(s2).unwrap();
    p.outgoing();
    assert!(p.run().is_none());
    let (oa, ob) = (outputs(&mut p.a), outputs(&mut p.b));
    match (&oa[..], &ob[..]) {
        ([EngineOutput::Drelu { shares: a, .. }], [EngineOutput::Drelu { shares: b, .. }]) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_eq!(x ^ y, i >= 25);
            }
        }
        _ => panic!("unexpected outputs {oa:?} {ob:?}"),
    }
    assert_eq!(p.a.stats().base_ot, before.base_ot);
    assert!(p.a.stats().iknp.messages_sent > before.iknp.messages_sent);
}

#[test]
fn mismatched_job_sizes_fail_cleanly() {
    let mut p = Pair::new(3);
    p.a.submit_drelu(vec![Fp::ZERO; 10]).unwrap();
    p.b.submit_drelu(vec![Fp::ZERO; 11]).unwrap();
    p.start_both();
    let (_, e) = p.run().expect("an error");
    assert_eq!(
        e,
        EngineError::JobMismatch {
            instance: 1,
            ours: JobKind::Drelu,
            ours_n: 11,
            theirs: JobKind::Drelu,
            theirs_n: 10,
        }
    );
    assert!(p.a.is_failed() && p.b.is_failed());
}

#[test]
fn invalid_submissions_are_refused() {
    let mut e = Engine::new(Party::A, EngineConfig::default(), &seed(4));
    assert!(matches!(e.submit_drelu(vec![]), Err(EngineError::Job(_))));
    assert!(matches!(
        e.submit_mult(vec![Fp::ONE], vec![]),
        Err(EngineError::Job(_))
    ));
    let big = EngineConfig::default().max_job + 1;
    assert!(matches!(e.submit_selftest(big), Err(EngineError::Job(_))));
    // Refused submissions do not poison the engine.
    assert!(!e.is_failed());
    e.submit_selftest(3).unwrap();
    assert!(matches!(e.submit_selftest(3), Err(EngineError::Job(_))));
    e.start().unwrap();
    assert!(e.start().is_err());
}

/// The clean transcript of a small self-test: (receiver, frame) in delivery order.
fn transcript(ops: usize) -> Vec<(Party, Vec<u8>)> {
    let mut p = Pair::new(9);
    p.a.submit_selftest(ops).unwrap();
    let first = p.a.start().unwrap();
    p.to_b.extend(first.iter().map(EngineMsg::encode));
    let mut frames = Vec::new();
    let err = p.run_tampered(&mut |_, party, f| {
        frames.push((party, f.clone()));
        f
    });
    assert!(err.is_none());
    frames
}

/// Replays the clean run, replacing frame `k` with `bad`; returns the error
/// of the party that received it.
fn tamper_at(ops: usize, k: usize, bad: Vec<u8>) -> Option<EngineError> {
    let mut p = Pair::new(9);
    p.a.submit_selftest(ops).unwrap();
    let first = p.a.start().unwrap();
    p.to_b.extend(first.iter().map(EngineMsg::encode));
    let mut bad = Some(bad);
    let mut replaced = false;
    loop {
        let step = p.step(&mut |i, _, f| {
            if i == k {
                replaced = true;
                bad.take().unwrap_or(f)
            } else {
                f
            }
        });
        let (party, reply) = step?;
        if replaced {
            if let Some(e) = reply.error {
                // A local error produces an abort for the peer, which then
                // fails with `PeerAborted` and sends nothing back.
                assert!(!matches!(e, EngineError::PeerAborted(_)));
                let abort = reply.send.last().expect("an abort for the peer");
                let peer = match party {
                    Party::A => &mut p.b,
                    Party::B => &mut p.a,
                };
                let r = peer.on_frame(abort);
                assert!(
                    matches!(r.error, Some(EngineError::PeerAborted(_))),
                    "{:?}",
                    r.error
                );
                assert!(r.send.is_empty());
                // Both are poisoned now.
                let failed = match party {
                    Party::A => &mut p.a,
                    Party::B => &mut p.b,
                };
                assert!(failed.is_failed());
                assert!(matches!(
                    failed.handle_bytes(&[0x05, 0, 0, 0, 0]),
                    Err(EngineError::Failed)
                ));
                return Some(e);
            }
            return None;
        }
    }
}

#[test]
fn tampered_frames_give_clear_errors() {
    let frames = transcript(20);
    assert!(frames.len() >= 10, "{} frames", frames.len());
    for (k, (_, f)) in frames.iter().enumerate() {
        let kind = EngineMsg::decode(f).unwrap().kind();
        // Wrong length: one byte short, one byte more (every engine message has an exact size).
        let e = tamper_at(20, k, f[..f.len() - 1].to_vec()).expect("short frame accepted");
        assert!(matches!(e, EngineError::Codec(_)), "{kind} short: {e}");
        let mut long = f.clone();
        long.push(0);
        let e = tamper_at(20, k, long).expect("long frame accepted");
        assert!(matches!(e, EngineError::Codec(_)), "{kind} long: {e}");
        // Unknown tag.
        let mut t = f.clone();
        t[0] = 0x7f;
        let e = tamper_at(20, k, t).unwrap();
        assert_eq!(
            e,
            EngineError::Codec(CodecError::Tag {
                kind: "engine",
                tag: 0x7f
            }),
            "{kind}"
        );
        // Another message's tag.
        for other in [0x01u8, 0x03, 0x06, 0x10, 0x11, 0x12, 0x13] {
            if other == f[0] {
                continue;
            }
            let mut t = f.clone();
            t[0] = other;
            assert!(
                tamper_at(20, k, t).is_some(),
                "{kind} retagged {other:#04x} accepted"
            );
        }
        // Empty and header-only frames.
        assert!(tamper_at(20, k, Vec::new()).is_some());
        assert!(tamper_at(20, k, f[..HEADER_LEN].to_vec()).is_some());
    }
}

#[test]
fn flipped_bytes_never_panic() {
    let frames = transcript(12);
    let mut r = ChaCha12Rng::seed_from_u64(5);
    let mut errors = 0;
    for (k, (_, f)) in frames.iter().enumerate() {
        // The header, the first payload bytes, and a few random positions.
        let mut positions: Vec<usize> = (0..f.len().min(24)).collect();
        positions.extend((0..6).map(|_| (r.next_u64() as usize) % f.len()));
        for at in positions {
            let mut t = f.clone();
            t[at] ^= 1 << (r.next_u32() % 8);
            // Either a clear error or a run that goes on (a flipped masked
            // bit is indistinguishable from another honest value).
            if tamper_at(12, k, t).is_some() {
                errors += 1;
            }
        }
    }
    assert!(errors > 0);
}

#[test]
fn instance_errors() {
    let frames = transcript(8);
    // The first DReLU frame, re-addressed to instance 0 (session level) and
    // to the triples instance (another protocol).
    let (k, f) = frames
        .iter()
        .enumerate()
        .find(|(_, (_, f))| f[0] == 0x12)
        .map(|(k, (_, f))| (k, f.clone()))
        .unwrap();
    let mut zero = f.clone();
    zero[1..5].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(
        tamper_at(8, k, zero),
        Some(EngineError::Codec(CodecError::Malformed { .. }))
    ));
    let triples_instance = frames
        .iter()
        .find(|(_, f)| f[0] == 0x10)
        .map(|(_, f)| u32::from_le_bytes([f[1], f[2], f[3], f[4]]))
        .unwrap();
    let mut other = f.clone();
    other[1..5].copy_from_slice(&triples_instance.to_le_bytes());
    let e = tamper_at(8, k, other).unwrap();
    assert!(
        matches!(
            e,
            EngineError::WrongProtocol { .. } | EngineError::FinishedInstance { .. }
        ),
        "{e}"
    );
    // A session message with an instance number.
    let mut base = frames[0].1.clone();
    base[1] = 1;
    assert!(matches!(
        tamper_at(8, 0, base),
        Some(EngineError::Codec(CodecError::Malformed { .. }))
    ));
}

#[test]
fn replayed_setup_and_extension_are_refused() {
    let frames = transcript(8);
    for tag in [0x07u8, 0x01, 0x02, 0x03] {
        let (k, (to, f)) = frames
            .iter()
            .enumerate()
            .find(|(_, (_, f))| f[0] == tag)
            .map(|(k, (to, f))| (k, (*to, f.clone())))
            .unwrap();
        // Deliver the clean run up to and including frame k, then frame k again.
        let mut p = Pair::new(9);
        p.a.submit_selftest(8).unwrap();
        let first = p.a.start().unwrap();
        p.to_b.extend(first.iter().map(EngineMsg::encode));
        while p.delivered <= k {
            let step = p.step(&mut |_, _, fr| fr);
            assert!(step.is_some_and(|(_, r)| r.error.is_none()));
        }
        let e = match to {
            Party::A => p.a.on_frame(&f).error,
            Party::B => p.b.on_frame(&f).error,
        };
        assert!(e.is_some(), "replayed tag {tag:#04x} accepted");
    }
}

#[test]
fn engine_message_codec_round_trips() {
    for (_, f) in transcript(10) {
        let m = EngineMsg::decode(&f).unwrap();
        assert_eq!(m.encoded_len(), f.len());
        assert_eq!(m.encode(), f);
        let dbg = format!("{m:?}");
        assert!(dbg.contains("bytes"));
    }
    let abort = EngineMsg::abort(&"é".repeat(400));
    assert!(abort.encoded_len() <= HEADER_LEN + MAX_ABORT_REASON);
    assert!(matches!(
        EngineMsg::decode(&abort.encode()),
        Ok(EngineMsg::Abort(_))
    ));
    // A self-test of zero operations and an oversized frame.
    let mut st = vec![0x04, 1, 0, 0, 0];
    st.extend_from_slice(&[0u8; 36]);
    assert_eq!(
        EngineMsg::decode(&st).unwrap_err(),
        CodecError::malformed("self-test", "announces zero operations")
    );
    let huge = vec![0x03; MAX_MSG_BYTES + 1];
    assert!(matches!(
        EngineMsg::decode(&huge),
        Err(CodecError::TooLarge { .. })
    ));
}

#[test]
fn debug_output_has_no_shares() {
    let mut p = Pair::new(11);
    p.a.submit_drelu(vec![Fp::from_i64(123_456_789)]).unwrap();
    p.b.submit_drelu(vec![Fp::ZERO]).unwrap();
    p.start_both();
    assert!(p.run().is_none());
    let out = outputs(&mut p.a);
    let text = format!("{out:?} {:?}", p.a);
    assert!(!text.contains("123456789"), "{text}");
    assert!(text.contains("len"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn decoder_never_panics(tag in prop_oneof![
                                proptest::sample::select(vec![1u8, 2, 3, 4, 5, 6, 7, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]),
                                any::<u8>()],
                            instance in prop_oneof![Just(0u32), Just(1), any::<u32>()],
                            body in proptest::collection::vec(any::<u8>(), 0..96)) {
        let mut b = vec![tag];
        b.extend_from_slice(&instance.to_le_bytes());
        b.extend_from_slice(&body);
        if let Ok(m) = EngineMsg::decode(&b) {
            prop_assert_eq!(m.encode(), b);
        }
    }
}

#[test]
fn answers_stream_before_follow_up_work() {
    let mut a = Engine::new(Party::A, EngineConfig::default(), &seed(21));
    let mut b = Engine::new(Party::B, EngineConfig::default(), &seed(22));
    a.submit_selftest(1000).unwrap();
    let first = a.start().unwrap();
    // The responder's hello goes out first, then (with A's nonce known) its base OTs.
    let mut tags = Vec::new();
    let mut to_a = Vec::new();
    for m in &first {
        b.on_frame_with(&m.encode(), &mut |f| {
            tags.push(f[0]);
            to_a.push(EngineMsg::decode(&f).unwrap());
        })
        .unwrap();
    }
    assert_eq!(tags.get(..2), Some(&[0x07, 0x01][..]), "{tags:?}");
    // Finish in memory: A's IKNP batches come in chunks of `extend_chunk`.
    run_local(&mut a, &mut b, Vec::new(), to_a).unwrap();
    let chunk = EngineConfig::default().extend_chunk as u64;
    let s = a.stats();
    assert!(s.iknp.messages_sent >= s.ots_as_receiver.div_ceil(chunk));
    assert!(s.iknp.messages_sent > 1);
    let report = selftest_report(&outputs(&mut a));
    assert!(report.correct());
}

// ---- ReLU, B2A, count and coin jobs ----

/// Additive shares of `v` with a uniformly random mask.
fn share(v: i64, r: &mut ChaCha12Rng) -> (Fp, Fp) {
    let m = rand_fp(r);
    (Fp::from_i64(v) + m, -m)
}

fn share_all(vs: &[i64], r: &mut ChaCha12Rng) -> (Vec<Fp>, Vec<Fp>) {
    vs.iter().map(|&v| share(v, r)).unzip()
}

/// XOR shares of `bits`.
fn share_bits(bits: &[bool], r: &mut ChaCha12Rng) -> (Vec<bool>, Vec<bool>) {
    bits.iter()
        .map(|&b| {
            let m = r.next_u32() & 1 == 1;
            (b ^ m, m)
        })
        .unzip()
}

const MAX40: i64 = (1 << 40) - 1;

/// Bounded values for the gate `v ⋈ t`: the edge cases, then uniform values
/// with `v − t` (and `v − t − 1`) inside `[−2^40, 2^40)`.
fn gate_values(t: i64, n: usize, r: &mut ChaCha12Rng) -> Vec<i64> {
    let lo = (-MAX40).max(-MAX40 + t + 1);
    let hi = MAX40.min(MAX40 + t - 1);
    let mut vs: Vec<i64> = [
        0,
        1,
        -1,
        t,
        t - 1,
        t + 1,
        lo,
        hi,
        lo + 1,
        hi - 1,
        -MAX40,
        MAX40,
    ]
    .into_iter()
    .filter(|v| (lo..=hi).contains(v))
    .collect();
    let span = (hi - lo + 1) as u64;
    while vs.len() < n {
        vs.push(lo + (r.next_u64() % span) as i64);
    }
    vs
}

/// Outputs sorted by job id.
fn by_job(mut outs: Vec<EngineOutput>) -> Vec<EngineOutput> {
    outs.sort_by_key(|o| match o {
        EngineOutput::Drelu { job, .. }
        | EngineOutput::Mult { job, .. }
        | EngineOutput::Relu { job, .. }
        | EngineOutput::B2a { job, .. }
        | EngineOutput::Count { job, .. }
        | EngineOutput::Coin { job, .. }
        | EngineOutput::SelfTest { job, .. }
        | EngineOutput::SelfTestComputed { job, .. } => job.0,
    });
    outs
}

fn single(outs: Vec<EngineOutput>) -> EngineOutput {
    assert_eq!(outs.len(), 1, "{outs:?}");
    outs.into_iter().next().unwrap()
}

#[test]
fn relu_jobs_equal_plaintext_for_every_relation() {
    let mut r = ChaCha12Rng::seed_from_u64(31);
    let mut p = Pair::new(31);
    p.start_both();
    assert!(p.run().is_none());
    let gates = [
        (0, Relation::Gt, 10_000),
        (0, Relation::Ge, 3000),
        (1000, Relation::Lt, 2000),
        (-1000, Relation::Le, 2000),
        (12345, Relation::Gt, 2000),
    ];
    let mut total = 0;
    for (t, relation, n) in gates {
        let threshold = Threshold { value: t, relation };
        let vs = gate_values(t, n, &mut r);
        let (va, vb) = share_all(&vs, &mut r);
        let ja = p.a.submit_relu(va, threshold).unwrap();
        let jb = p.b.submit_relu(vb, threshold).unwrap();
        assert_eq!(ja, jb);
        p.outgoing();
        assert!(p.run().is_none());
        let (oa, ob) = (single(outputs(&mut p.a)), single(outputs(&mut p.b)));
        let (
            EngineOutput::Relu {
                job: j1,
                gated: ga,
                bits: ba,
            },
            EngineOutput::Relu {
                job: j2,
                gated: gb,
                bits: bb,
            },
        ) = (oa, ob)
        else {
            panic!("not ReLU outputs");
        };
        assert_eq!((j1, j2), (ja, ja));
        assert_eq!((ga.len(), ba.len()), (vs.len(), vs.len()));
        for (i, &v) in vs.iter().enumerate() {
            let b = relation.holds(v, t);
            assert_eq!(ba[i] ^ bb[i], b, "bit of {v} {relation:?} {t}");
            let want = if b { Fp::from_i64(v) } else { Fp::ZERO };
            assert!(ga[i] + gb[i] == want, "gated {v} {relation:?} {t}");
        }
        total += vs.len();
    }
    assert!(total >= 10_000);
    let s = p.a.stats();
    assert_eq!(s.relu_ops, total as u64);
    assert!(s.relu_rots > 0 && s.bytes_per_relu().unwrap() > 0.0);
    println!(
        "engine ReLU: {:.0} B per value",
        s.bytes_per_relu().unwrap()
    );
}

#[test]
fn b2a_and_count_jobs_equal_plaintext() {
    let mut r = ChaCha12Rng::seed_from_u64(32);
    let n = 10_000;
    let mut bits: Vec<bool> = (0..n).map(|_| r.next_u32() % 3 == 0).collect();
    bits[..4].copy_from_slice(&[false, true, false, true]);
    let (ba, bb) = share_bits(&bits, &mut r);
    let mut p = Pair::new(32);
    p.a.submit_b2a(ba.clone()).unwrap();
    p.b.submit_b2a(bb.clone()).unwrap();
    p.start_both();
    assert!(p.run().is_none());
    match (single(outputs(&mut p.a)), single(outputs(&mut p.b))) {
        (EngineOutput::B2a { shares: sa, .. }, EngineOutput::B2a { shares: sb, .. }) => {
            assert_eq!(sa.len(), n);
            for (i, &b) in bits.iter().enumerate() {
                let want = if b { Fp::ONE } else { Fp::ZERO };
                assert!(sa[i] + sb[i] == want, "bit {i}");
            }
        }
        _ => panic!("not B2A outputs"),
    }
    // Counts around the true sum, and the extremes.
    let sum = bits.iter().filter(|&&b| b).count() as u64;
    let ks = [0, 1, sum - 1, sum, sum + 1, n as u64, n as u64 + 1, 1 << 40];
    for &k in &ks {
        p.a.submit_count(ba.clone(), k).unwrap();
        p.b.submit_count(bb.clone(), k).unwrap();
    }
    // Small counts: one bit, all zero, all one.
    let small: [(Vec<bool>, u64); 4] = [
        (vec![true], 1),
        (vec![false], 1),
        (vec![false; 7], 0),
        (vec![true; 7], 7),
    ];
    for (b, k) in &small {
        let (x, y) = share_bits(b, &mut r);
        p.a.submit_count(x, *k).unwrap();
        p.b.submit_count(y, *k).unwrap();
    }
    p.outgoing();
    assert!(p.run().is_none());
    // Outputs come in completion order (small counts finish first).
    let (oa, ob) = (by_job(outputs(&mut p.a)), by_job(outputs(&mut p.b)));
    let want: Vec<bool> = ks
        .iter()
        .map(|&k| sum >= k)
        .chain(
            small
                .iter()
                .map(|(b, k)| b.iter().filter(|&&x| x).count() as u64 >= *k),
        )
        .collect();
    assert_eq!(oa.len(), want.len());
    for ((x, y), w) in oa.iter().zip(&ob).zip(&want) {
        match (x, y) {
            (
                EngineOutput::Count { at_least_k: a, .. },
                EngineOutput::Count { at_least_k: b, .. },
            ) => {
                assert_eq!(a, b);
                assert_eq!(a, w, "count {x:?} want {w} (sum {sum}, ks {ks:?})");
            }
            _ => panic!("not count outputs: {x:?} {y:?}"),
        }
    }
    assert_eq!(p.a.stats().count_ops, want.len() as u64);
    assert_eq!(p.a.stats().b2a_ops, n as u64);
}

#[test]
fn coins_agree_and_are_fresh() {
    // A submits first: its commitments wait in B's buffer until B submits.
    let mut p = Pair::new(33);
    for _ in 0..3 {
        p.a.submit_coin().unwrap();
    }
    p.start_both();
    assert!(p.run().is_none());
    assert!(outputs(&mut p.a).is_empty());
    for _ in 0..3 {
        p.b.submit_coin().unwrap();
    }
    p.outgoing();
    assert!(p.run().is_none());
    let coins = |outs: Vec<EngineOutput>| -> Vec<[u8; 32]> {
        outs.into_iter()
            .map(|o| match o {
                EngineOutput::Coin { coin, .. } => coin,
                o => panic!("not a coin: {o:?}"),
            })
            .collect()
    };
    let (ca, cb) = (coins(outputs(&mut p.a)), coins(outputs(&mut p.b)));
    assert_eq!(ca.len(), 3);
    assert_eq!(ca, cb);
    assert!(ca[0] != ca[1] && ca[1] != ca[2] && ca[0] != ca[2]);
    // Other engine seeds give other coins.
    let mut q = Pair::new(34);
    q.a.submit_coin().unwrap();
    q.b.submit_coin().unwrap();
    q.start_both();
    assert!(q.run().is_none());
    assert!(!ca.contains(&coins(outputs(&mut q.a))[0]));
    assert_eq!(p.a.stats().coins, 3);
    assert_eq!(p.a.stats().ots_extended(), 0);
}

/// One job of each kind, plaintext inputs for checking.
enum Plain {
    Drelu(Vec<i64>),
    Mult(Vec<Fp>, Vec<Fp>),
    Relu(Vec<i64>, Threshold),
    B2a(Vec<bool>),
    Count(Vec<bool>, u64),
    Coin,
}

fn submit(
    e: &mut Engine,
    party: Party,
    job: &Plain,
    shares: &(Vec<Fp>, Vec<Fp>, Vec<bool>, Vec<bool>),
) -> JobId {
    let (fa, fb, ba, bb) = shares;
    let (f, b) = match party {
        Party::A => (fa.clone(), ba.clone()),
        Party::B => (fb.clone(), bb.clone()),
    };
    match job {
        Plain::Drelu(_) => e.submit_drelu(f).unwrap(),
        Plain::Mult(xs, _) => {
            let (x, y) = f.split_at(xs.len());
            e.submit_mult(x.to_vec(), y.to_vec()).unwrap()
        }
        Plain::Relu(_, t) => e.submit_relu(f, *t).unwrap(),
        Plain::B2a(_) => e.submit_b2a(b).unwrap(),
        Plain::Count(_, k) => e.submit_count(b, *k).unwrap(),
        Plain::Coin => e.submit_coin().unwrap(),
    }
}

#[test]
fn mixed_job_sequence_interleaved() {
    let mut r = ChaCha12Rng::seed_from_u64(35);
    let gt0 = Threshold {
        value: 0,
        relation: Relation::Gt,
    };
    let mut jobs = Vec::new();
    for round in 0..3 {
        let n = 200 + 50 * round;
        let bits: Vec<bool> = (0..n).map(|_| r.next_u32() & 1 == 1).collect();
        let sum = bits.iter().filter(|&&b| b).count() as u64;
        let xs: Vec<Fp> = (0..n).map(|_| rand_fp(&mut r)).collect();
        let ys: Vec<Fp> = (0..n).map(|_| rand_fp(&mut r)).collect();
        jobs.push(Plain::Coin);
        jobs.push(Plain::Relu(gate_values(0, n, &mut r), gt0));
        jobs.push(Plain::Mult(xs, ys));
        jobs.push(Plain::Count(bits.clone(), sum + round as u64 - 1));
        jobs.push(Plain::Drelu(gate_values(0, n, &mut r)));
        jobs.push(Plain::B2a(bits));
        jobs.push(Plain::Coin);
    }
    let shares: Vec<_> = jobs
        .iter()
        .map(|j| match j {
            Plain::Drelu(v) | Plain::Relu(v, _) => {
                let (a, b) = share_all(v, &mut r);
                (a, b, vec![], vec![])
            }
            Plain::Mult(xs, ys) => {
                let (mut xa, mut xb): (Vec<Fp>, Vec<Fp>) = xs
                    .iter()
                    .map(|&x| {
                        let m = rand_fp(&mut r);
                        (x - m, m)
                    })
                    .unzip();
                let (ya, yb): (Vec<Fp>, Vec<Fp>) = ys
                    .iter()
                    .map(|&y| {
                        let m = rand_fp(&mut r);
                        (m, y - m)
                    })
                    .unzip();
                xa.extend(ya);
                xb.extend(yb);
                (xa, xb, vec![], vec![])
            }
            Plain::B2a(b) | Plain::Count(b, _) => {
                let (x, y) = share_bits(b, &mut r);
                (vec![], vec![], x, y)
            }
            Plain::Coin => Default::default(),
        })
        .collect();
    let mut p = Pair::new(35);
    // A submits everything up front; B submits in bursts while frames fly.
    for (j, s) in jobs.iter().zip(&shares) {
        submit(&mut p.a, Party::A, j, s);
    }
    p.start_both();
    let mut next_b = 0;
    while next_b < jobs.len() || !p.to_a.is_empty() || !p.to_b.is_empty() {
        for _ in 0..3 {
            if let Some((_, reply)) = p.step(&mut |_, _, f| f) {
                assert!(reply.error.is_none(), "{:?}", reply.error);
            }
        }
        for _ in 0..2 {
            if next_b < jobs.len() {
                submit(&mut p.b, Party::B, &jobs[next_b], &shares[next_b]);
                next_b += 1;
            }
        }
        p.outgoing();
    }
    assert!(p.a.is_idle() && p.b.is_idle());
    // Outputs come in completion order; check them by job id.
    let (oa, ob) = (by_job(outputs(&mut p.a)), by_job(outputs(&mut p.b)));
    assert_eq!(oa.len(), jobs.len());
    let mut coins = Vec::new();
    for ((j, x), y) in jobs.iter().zip(&oa).zip(&ob) {
        match (j, x, y) {
            (
                Plain::Drelu(v),
                EngineOutput::Drelu { shares: a, .. },
                EngineOutput::Drelu { shares: b, .. },
            ) => {
                for ((v, a), b) in v.iter().zip(a).zip(b) {
                    assert_eq!(a ^ b, *v >= 0);
                }
            }
            (
                Plain::Mult(xs, ys),
                EngineOutput::Mult { shares: a, .. },
                EngineOutput::Mult { shares: b, .. },
            ) => {
                for (((x, y), a), b) in xs.iter().zip(ys).zip(a).zip(b) {
                    assert!(*a + *b == *x * *y);
                }
            }
            (
                Plain::Relu(v, t),
                EngineOutput::Relu {
                    gated: ga,
                    bits: ba,
                    ..
                },
                EngineOutput::Relu {
                    gated: gb,
                    bits: bb,
                    ..
                },
            ) => {
                for (i, &v) in v.iter().enumerate() {
                    let bit = t.relation.holds(v, t.value);
                    assert_eq!(ba[i] ^ bb[i], bit);
                    let want = if bit { Fp::from_i64(v) } else { Fp::ZERO };
                    assert!(ga[i] + gb[i] == want);
                }
            }
            (
                Plain::B2a(bits),
                EngineOutput::B2a { shares: a, .. },
                EngineOutput::B2a { shares: b, .. },
            ) => {
                for ((bit, a), b) in bits.iter().zip(a).zip(b) {
                    assert!(*a + *b == if *bit { Fp::ONE } else { Fp::ZERO });
                }
            }
            (
                Plain::Count(bits, k),
                EngineOutput::Count { at_least_k: a, .. },
                EngineOutput::Count { at_least_k: b, .. },
            ) => {
                let sum = bits.iter().filter(|&&b| b).count() as u64;
                assert_eq!((*a, *b), (sum >= *k, sum >= *k));
            }
            (
                Plain::Coin,
                EngineOutput::Coin { coin: a, .. },
                EngineOutput::Coin { coin: b, .. },
            ) => {
                assert_eq!(a, b);
                assert!(!coins.contains(a));
                coins.push(*a);
            }
            _ => panic!("job and outputs differ: {x:?} / {y:?}"),
        }
    }
    assert_eq!(coins.len(), 6);
}

#[test]
fn mismatched_job_parameters_fail_cleanly() {
    fn t(value: i64, relation: Relation) -> Threshold {
        Threshold { value, relation }
    }
    type Submit = Box<dyn Fn(&mut Engine)>;
    let cases: [(Submit, Submit); 4] = [
        (
            Box::new(|e| drop(e.submit_relu(vec![Fp::ZERO; 4], t(0, Relation::Gt)))),
            Box::new(|e| drop(e.submit_relu(vec![Fp::ZERO; 4], t(0, Relation::Ge)))),
        ),
        (
            Box::new(|e| drop(e.submit_relu(vec![Fp::ZERO; 4], t(0, Relation::Gt)))),
            Box::new(|e| drop(e.submit_relu(vec![Fp::ZERO; 4], t(1, Relation::Gt)))),
        ),
        (
            Box::new(|e| drop(e.submit_count(vec![false; 4], 2))),
            Box::new(|e| drop(e.submit_count(vec![false; 4], 3))),
        ),
        (
            Box::new(|e| drop(e.submit_coin())),
            Box::new(|e| drop(e.submit_b2a(vec![false]))),
        ),
    ];
    for (fa, fb) in &cases {
        let mut p = Pair::new(36);
        fa(&mut p.a);
        fb(&mut p.b);
        p.start_both();
        let (_, e) = p.run().expect("an error");
        assert!(
            matches!(e, EngineError::JobMismatch { instance: 1, .. }),
            "{e}"
        );
        assert!(p.a.is_failed() && p.b.is_failed());
    }
}

#[test]
fn invalid_new_jobs_are_refused_without_poisoning() {
    let mut e = Engine::new(Party::A, EngineConfig::default(), &seed(37));
    let big = EngineConfig::default().max_job + 1;
    assert!(matches!(
        e.submit_relu(vec![], Threshold::DRELU),
        Err(EngineError::Job(_))
    ));
    assert!(matches!(
        e.submit_relu(
            vec![Fp::ZERO],
            Threshold {
                value: i64::MAX,
                relation: Relation::Gt
            }
        ),
        Err(EngineError::Job(_))
    ));
    assert!(matches!(
        e.submit_b2a(vec![false; big]),
        Err(EngineError::Job(_))
    ));
    assert!(matches!(
        e.submit_count(vec![], 1),
        Err(EngineError::Job(_))
    ));
    assert!(matches!(
        e.submit_count(vec![true], u64::MAX),
        Err(EngineError::Job(_))
    ));
    assert!(!e.is_failed());
}

#[test]
fn debug_of_new_outputs_has_no_shares() {
    let mut p = Pair::new(38);
    let secret = 987_654_321i64;
    p.a.submit_relu(vec![Fp::from_i64(secret)], Threshold::DRELU)
        .unwrap();
    p.b.submit_relu(vec![Fp::ZERO], Threshold::DRELU).unwrap();
    p.a.submit_b2a(vec![true]).unwrap();
    p.b.submit_b2a(vec![false]).unwrap();
    p.a.submit_coin().unwrap();
    p.b.submit_coin().unwrap();
    p.start_both();
    assert!(p.run().is_none());
    let out = outputs(&mut p.a);
    assert_eq!(out.len(), 3);
    let text = format!("{out:?} {:?}", p.a);
    assert!(!text.contains("987654321"), "{text}");
    for o in &out {
        if let EngineOutput::Coin { coin, .. } = o {
            assert!(!text.contains(&format!("{coin:?}")), "{text}");
        }
    }
}

// ---- review fixes ----

#[test]
fn different_settings_fail_at_start() {
    let other = [
        EngineConfig {
            drelu: DreluParams {
                bound_bits: 40,
                digit_bits: 4,
            },
            ..EngineConfig::default()
        },
        EngineConfig {
            drelu: DreluParams {
                bound_bits: 41,
                digit_bits: 5,
            },
            ..EngineConfig::default()
        },
        EngineConfig {
            triple_margin: 5,
            ..EngineConfig::default()
        },
    ];
    for cfg in other {
        let mut p = Pair::new(40);
        p.b = Engine::new(Party::B, cfg, &seed(41));
        p.start_both();
        let (_, e) = p.run().expect("a settings error");
        assert_eq!(e, EngineError::Settings);
        assert!(p.a.is_failed() && p.b.is_failed());
        // Nothing but the hellos and an abort was exchanged: no base OT ran.
        assert_eq!(p.a.stats().base_ot.messages_received, 0);
        assert_eq!(p.b.stats().base_ot.messages_received, 0);
    }
    // Local limits are not protocol settings.
    let mut p = Pair::new(40);
    p.b = Engine::new(
        Party::B,
        EngineConfig {
            max_job: 1000,
            extend_chunk: 1 << 12,
            ..EngineConfig::default()
        },
        &seed(41),
    );
    p.start_both();
    assert!(p.run().is_none());
}

#[test]
fn iknp_session_ids_bind_both_nonces() {
    let ids = |sa: u64, sb: u64| {
        let mut p = Pair::new(0);
        p.a = Engine::new(Party::A, EngineConfig::default(), &seed(sa));
        p.b = Engine::new(Party::B, EngineConfig::default(), &seed(sb));
        p.start_both();
        assert!(p.run().is_none());
        let (a, b) = (p.a.session_ids().unwrap(), p.b.session_ids().unwrap());
        assert_eq!(a, b, "both parties derive the same ids");
        assert_ne!(a.0, a.1, "the two directions differ");
        a
    };
    let base = ids(1, 2);
    // A fresh nonce on either side gives fresh ids in both directions.
    for other in [ids(3, 2), ids(1, 4)] {
        assert_ne!(base.0, other.0);
        assert_ne!(base.1, other.1);
    }
    // A message before the peer's hello is refused.
    let mut b = Engine::new(Party::B, EngineConfig::default(), &seed(5));
    let mut a = Engine::new(Party::A, EngineConfig::default(), &seed(6));
    a.submit_drelu(vec![Fp::ZERO]).unwrap();
    let msgs = a.start().unwrap();
    let job = msgs.iter().find(|m| m.kind() == "job").unwrap();
    let r = b.on_frame(&job.encode());
    assert!(
        matches!(r.error, Some(EngineError::Unexpected { .. })),
        "{:?}",
        r.error
    );
}

#[test]
fn extension_beyond_announced_demand_is_refused() {
    let mut r = ChaCha12Rng::seed_from_u64(42);
    let mut p = Pair::new(42);
    p.start_both();
    assert!(p.run().is_none());
    // No job queued anywhere: even one IKNP block is refused.
    let (_, msg) =
        p.a.ots
            .receiver
            .as_mut()
            .unwrap()
            .extend_rot(&mut r, 128)
            .unwrap();
    let e = p.b.on_frame(&EngineMsg::Extend(msg).encode()).error;
    assert_eq!(
        e,
        Some(EngineError::ExtendLimit {
            count: 128,
            pool: 0,
            allowed: 127
        })
    );

    // With a job announced by the peer: its demand (rounded to a block) is
    // accepted, one more block is not.
    let mut p = Pair::new(43);
    p.start_both();
    assert!(p.run().is_none());
    p.a.submit_drelu(vec![Fp::ZERO; 100]).unwrap();
    let need = p.a.waiting.front().unwrap().demand.a_receives;
    p.outgoing();
    p.to_a.clear();
    assert!(p.run().is_none(), "A's job and its extensions are accepted");
    assert_eq!(p.b.pooled_ots().0, need.next_multiple_of(128));
    let (_, msg) =
        p.a.ots
            .receiver
            .as_mut()
            .unwrap()
            .extend_rot(&mut r, 128)
            .unwrap();
    let e = p.b.on_frame(&EngineMsg::Extend(msg).encode()).error;
    assert!(matches!(e, Some(EngineError::ExtendLimit { .. })), "{e:?}");
    // The defaults stay below 2^24 per direction but hold the largest job.
    let c = EngineConfig::default();
    assert!(c.max_pool < 1 << 24 && c.lookahead_ots < 1 << 22);
    assert!((c.max_job + c.triple_margin) * OTS_PER_TRIPLE + 127 <= c.max_pool);
}

#[test]
fn peer_selftest_only_while_idle() {
    let selftest = |instance: u32| {
        EngineMsg::SelfTest(SelfTestMsg {
            instance,
            ops: 4,
            seed: [7; 32],
        })
        .encode()
    };
    // B has a job queued: the peer's self-test is refused.
    let mut p = Pair::new(44);
    p.start_both();
    assert!(p.run().is_none());
    p.b.submit_drelu(vec![Fp::ZERO; 3]).unwrap();
    let e = p.b.on_frame(&selftest(2)).error;
    assert!(
        matches!(
            e,
            Some(EngineError::Unexpected {
                got: "self-test",
                ..
            })
        ),
        "{e:?}"
    );
    // B is idle but at another instance number: refused.
    let mut p = Pair::new(45);
    p.start_both();
    assert!(p.run().is_none());
    for bad in [2, 7] {
        let mut q = Pair::new(45);
        q.start_both();
        assert!(q.run().is_none());
        let e = q.b.on_frame(&selftest(bad)).error;
        assert!(
            matches!(
                e,
                Some(EngineError::Unexpected {
                    got: "self-test",
                    ..
                })
            ),
            "{e:?}"
        );
    }
    // Idle and at the announced instance: accepted.
    assert!(p.b.on_frame(&selftest(1)).error.is_none());
    // Locally, a self-test on a busy engine is refused without poisoning.
    let mut e = Engine::new(Party::A, EngineConfig::default(), &seed(46));
    e.submit_b2a(vec![true]).unwrap();
    assert!(matches!(e.submit_selftest(4), Err(EngineError::Job(_))));
    assert!(!e.is_failed());
}

#[test]
fn ot_pools_are_presized_so_they_never_reallocate() {
    // Small extension batches: the job's OTs arrive in many messages.
    let cfg = EngineConfig {
        extend_chunk: 1 << 10,
        ..EngineConfig::default()
    };
    let mut p = Pair::new(47);
    p.a = Engine::new(Party::A, cfg, &seed(47));
    p.b = Engine::new(Party::B, cfg, &seed(48));
    p.start_both();
    assert!(p.run().is_none());
    p.a.submit_drelu(vec![Fp::ZERO; 500]).unwrap();
    let need = p.a.waiting.front().unwrap().demand.a_receives;
    assert!(need > 4 * cfg.extend_chunk);
    // A's own pool holds the whole batch in one allocation.
    assert!(p.a.ots.pool.received.mc.capacity() >= need);
    assert_eq!(p.a.ots.pool.received.mc.len(), need.next_multiple_of(128));
    p.outgoing();
    p.to_a.clear();
    // Deliver A's job and first extension batch to B.
    while p.b.ots.pool.sent.m0.is_empty() {
        let f = p.to_b.pop_front().unwrap();
        assert!(p.b.on_frame(&f).error.is_none());
    }
    assert!(p.b.ots.pool.sent.m0.len() < need);
    let ptr = p.b.ots.pool.sent.m0.as_ptr();
    assert!(
        p.b.ots.pool.sent.m0.capacity() >= need,
        "sized for the announced demand"
    );
    while p.b.ots.pool.sent.m0.len() < need {
        let f = p.to_b.pop_front().unwrap();
        assert!(p.b.on_frame(&f).error.is_none());
        if p.b.ots.pool.sent.m0.len() < need {
            assert_eq!(p.b.ots.pool.sent.m0.as_ptr(), ptr, "no reallocation");
        }
    }
    assert!(p.run().is_none());
}
