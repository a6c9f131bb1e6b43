#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};

use super::*;

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
            EngineError::Codec(EngineCodecError::UnknownTag { tag: 0x7f }),
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
        Some(EngineError::Codec(EngineCodecError::Instance { .. }))
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
        Some(EngineError::Codec(EngineCodecError::Instance { .. }))
    ));
}

#[test]
fn replayed_setup_and_extension_are_refused() {
    let frames = transcript(8);
    for tag in [0x01u8, 0x02, 0x03] {
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
    let mut st = vec![0x04, 0, 0, 0, 0];
    st.extend_from_slice(&[0u8; 36]);
    assert_eq!(
        EngineMsg::decode(&st).unwrap_err(),
        EngineCodecError::ZeroOps { kind: "self-test" }
    );
    let huge = vec![0x03; MAX_MSG_BYTES + 1];
    assert!(matches!(
        EngineMsg::decode(&huge),
        Err(EngineCodecError::TooLarge { .. })
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
                                proptest::sample::select(vec![1u8, 2, 3, 4, 5, 6, 0x10, 0x11, 0x12, 0x13]),
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
    // The responder's opening goes out before it answers A's base OTs.
    let mut tags = Vec::new();
    let mut to_a = Vec::new();
    for m in &first {
        b.on_frame_with(&m.encode(), &mut |f| {
            tags.push(f[0]);
            to_a.push(EngineMsg::decode(&f).unwrap());
        })
        .unwrap();
    }
    assert_eq!(tags.first(), Some(&0x01), "{tags:?}");
    assert!(tags.contains(&0x02), "{tags:?}");
    // Finish in memory: A's IKNP batches come in chunks of `extend_chunk`.
    run_local(&mut a, &mut b, Vec::new(), to_a).unwrap();
    let chunk = EngineConfig::default().extend_chunk as u64;
    let s = a.stats();
    assert!(s.iknp.messages_sent >= s.ots_as_receiver.div_ceil(chunk));
    assert!(s.iknp.messages_sent > 1);
    let report = selftest_report(&outputs(&mut a));
    assert!(report.correct());
}
