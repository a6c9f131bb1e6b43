//! Tests of the IKNP extension: correlations, derived OTs, tampering, counters.

use super::*;
use crate::ot::block::get_bit;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// Runs the setup through the byte encodings; returns (S, R, rng).
fn session(seed: u64) -> (IknpSender, IknpReceiver, ChaCha20Rng) {
    let mut rng_r = ChaCha20Rng::seed_from_u64(seed);
    let mut rng_s = ChaCha20Rng::seed_from_u64(seed.wrapping_add(0x5555));
    let sid = SessionId::from_label(&seed.to_le_bytes());
    let (setup, m1) = IknpReceiver::setup(&mut rng_r, sid).unwrap();
    let m1 = BaseOtSenderMsg::decode(&m1.encode()).unwrap();
    let (s, m2) = IknpSender::setup(&mut rng_s, sid, &m1).unwrap();
    let m2 = BaseOtReceiverMsg::decode(&m2.encode()).unwrap();
    let r = setup.finish(&m2).unwrap();
    (s, r, rng_r)
}

fn wire(msg: ExtendMsg) -> ExtendMsg {
    ExtendMsg::from_vec(msg.into_bytes()).unwrap()
}

fn check_cot(s: &CotSenderOutput, r: &CotReceiverOutput, count: usize) {
    assert_eq!(s.q.len(), count);
    assert_eq!(r.t.len(), count);
    assert_eq!(r.choices.len(), count);
    for i in 0..count {
        assert_eq!(
            r.t[i],
            s.q[i] ^ (Block::from(r.choices[i]) * s.delta),
            "COT {i}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn cot_correlation_holds(seed: u64, counts in proptest::collection::vec(0usize..1000, 1..4)) {
        let (mut s, mut r, mut rng) = session(seed);
        let mut delta = None;
        for &count in &counts {
            let (out_r, msg) = r.extend_cot(&mut rng, count).unwrap();
            prop_assert_eq!(msg.encoded_len(), ExtendMsg::encoded_len_for(count));
            let out_s = s.receive_cot(&wire(msg), count).unwrap();
            check_cot(&out_s, &out_r, count);
            // Δ is fixed for the session.
            prop_assert_eq!(*delta.get_or_insert(out_s.delta), out_s.delta);
        }
        prop_assert_eq!(r.ots_used(), s.ots_used());
        prop_assert_eq!(r.batch(), counts.len() as u64);
    }

    #[test]
    fn rot_keys_match_choice(seed: u64, counts in proptest::collection::vec(1usize..600, 1..3)) {
        let (mut s, mut r, mut rng) = session(seed);
        for &count in &counts {
            let (out_r, msg) = r.extend_rot(&mut rng, count).unwrap();
            let out_s = s.receive_rot(&wire(msg), count).unwrap();
            prop_assert_eq!(out_s.len(), count);
            prop_assert_eq!(out_r.len(), count);
            for i in 0..count {
                let (want, other) = if out_r.choices[i] {
                    (out_s.m1[i], out_s.m0[i])
                } else {
                    (out_s.m0[i], out_s.m1[i])
                };
                prop_assert_eq!(out_r.mc[i], want);
                prop_assert_ne!(out_r.mc[i], other);
            }
        }
    }

}

#[test]
fn large_cot_batch() {
    let (mut s, mut r, mut rng) = session(42);
    let count = 1 << 16;
    let (out_r, msg) = r.extend_cot(&mut rng, count).unwrap();
    let out_s = s.receive_cot(&wire(msg), count).unwrap();
    check_cot(&out_s, &out_r, count);
    // Choices are balanced and Δ is not degenerate.
    let ones = out_r.choices.iter().filter(|&&c| c).count();
    assert!((count / 2 - 1000..count / 2 + 1000).contains(&ones));
    assert!(out_s.delta.count_ones() > 32);
    // Every q_i is distinct (a PRG stream reused would repeat them).
    let mut q = out_s.q.clone();
    q.sort_unstable();
    q.dedup();
    assert_eq!(q.len(), count);
}

#[test]
fn mixed_batches_stay_in_step() {
    let (mut s, mut r, mut rng) = session(7);
    let mut seen = Vec::new();
    for round in 0..3 {
        let (cr, m) = r.extend_cot(&mut rng, 300 + round).unwrap();
        let cs = s.receive_cot(&wire(m), 300 + round).unwrap();
        check_cot(&cs, &cr, 300 + round);
        seen.extend_from_slice(&cs.q);

        let (rr, m) = r.extend_rot(&mut rng, 129).unwrap();
        let rs = s.receive_rot(&wire(m), 129).unwrap();
        for i in 0..129 {
            assert_eq!(rr.mc[i], if rr.choices[i] { rs.m1[i] } else { rs.m0[i] });
        }
        seen.extend_from_slice(&rs.m0);
        seen.extend_from_slice(&rs.m1);
    }
    // No value repeats across batches (PRG streams and tweaks continue).
    let n = seen.len();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), n);
    assert_eq!(r.ots_used(), s.ots_used());
    assert_eq!(r.ots_used() % 128, 0);
}

#[test]
fn delta_bits_are_base_ot_choices() {
    // Column j of q equals column j of t exactly when Δ_j = 0.
    let (mut s, mut r, mut rng) = session(11);
    let (cr, m) = r.extend_cot(&mut rng, 256).unwrap();
    let cs = s.receive_cot(&m, 256).unwrap();
    for j in 0..KAPPA {
        let differs = (0..256).any(|i| get_bit(cr.t[i] ^ cs.q[i], j));
        assert_eq!(differs, get_bit(cs.delta, j));
    }
}

#[test]
fn tampered_extend_messages_are_rejected() {
    let (mut s, mut r, mut rng) = session(3);
    let count = 300;
    let (out_r, msg) = r.extend_cot(&mut rng, count).unwrap();
    let good = msg.encode();

    // Wrong sizes: truncated, one byte short/long, header only, empty.
    for len in [
        0,
        1,
        16,
        17,
        good.len() - 1,
        good.len() + 1,
        good.len() - 2048,
    ] {
        let mut b = good.clone();
        b.resize(len, 0);
        let err = ExtendMsg::decode(&b).unwrap_err();
        assert!(
            matches!(
                err,
                CodecError::Length { .. } | CodecError::Truncated { .. }
            ),
            "{len}: {err}"
        );
        assert_eq!(ExtendMsg::from_vec(b).unwrap_err(), err);
    }
    // Wrong tag.
    let mut b = good.clone();
    b[0] = TAG_EXTEND + 1;
    assert!(matches!(ExtendMsg::decode(&b), Err(CodecError::Tag { .. })));
    // Count field inconsistent with the body, or absurdly large.
    let mut b = good.clone();
    b[9..17].copy_from_slice(&(count as u64 + 128).to_le_bytes());
    assert!(matches!(
        ExtendMsg::decode(&b),
        Err(CodecError::Length { .. })
    ));
    b[9..17].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        ExtendMsg::decode(&b),
        Err(CodecError::Dimension { .. })
    ));
    // Same padded size, different count: decodes, but S expects `count`.
    let mut b = good.clone();
    b[9..17].copy_from_slice(&(count as u64 + 1).to_le_bytes());
    let m = ExtendMsg::decode(&b).unwrap();
    assert_eq!(
        s.receive_cot(&m, count).unwrap_err(),
        IknpError::Count {
            kind: EXTEND_KIND,
            expected: count,
            got: count + 1
        }
    );
    // Wrong batch number.
    let mut b = good.clone();
    b[1..9].copy_from_slice(&5u64.to_le_bytes());
    let m = ExtendMsg::decode(&b).unwrap();
    assert!(matches!(
        s.receive_cot(&m, count),
        Err(IknpError::Batch {
            expected: 0,
            got: 5,
            ..
        })
    ));
    // Rejections left S's state alone: the genuine message still works.
    let m = ExtendMsg::decode(&good).unwrap();
    let out_s = s.receive_cot(&m, count).unwrap();
    check_cot(&out_s, &out_r, count);
    // Replaying it is a batch error.
    assert!(matches!(
        s.receive_cot(&m, count),
        Err(IknpError::Batch {
            expected: 1,
            got: 0,
            ..
        })
    ));
}

#[test]
fn flipped_u_bytes_do_not_panic() {
    // Semi-honest IKNP has no integrity check: a flipped bit in u changes
    // one column of q (so the correlation breaks) but must not panic.
    let (mut s, mut r, mut rng) = session(4);
    let (out_r, msg) = r.extend_cot(&mut rng, 200).unwrap();
    let mut b = msg.into_bytes();
    b[HEADER_LEN + 100] ^= 0x10;
    let m = ExtendMsg::from_vec(b).unwrap();
    let out_s = s.receive_cot(&m, 200).unwrap();
    let broken = (0..200)
        .filter(|&i| out_r.t[i] != out_s.q[i] ^ (Block::from(out_r.choices[i]) * out_s.delta))
        .count();
    // Δ_j = 1 for the flipped column j → exactly one OT breaks; Δ_j = 0 → none.
    assert!(broken <= 1);
}

#[test]
fn tampered_setup_messages_are_rejected() {
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let sid = SessionId::from_label(b"x");
    let (setup, m1) = IknpReceiver::setup(&mut rng, sid).unwrap();
    let mut b = m1.encode();
    b.pop();
    assert!(matches!(
        BaseOtSenderMsg::decode(&b),
        Err(CodecError::Length { .. })
    ));
    let (_, m2) = IknpSender::setup(&mut rng, sid, &m1).unwrap();
    // A base-OT message for 64 OTs instead of 128.
    let mut rng2 = ChaCha20Rng::seed_from_u64(9);
    let short = BaseOtReceiver::new(&mut rng2, sid, &[false; 64])
        .unwrap()
        .receive(&m1)
        .unwrap()
        .0;
    assert!(matches!(
        setup.finish(&short),
        Err(IknpError::BaseOt(BaseOtError::Count { .. }))
    ));
    // Flipped bytes in a point: rejected at decode or harmless, never a panic.
    let good = m2.encode();
    for byte in [5, 40, 100, 4000, good.len() - 1] {
        let mut b = good.clone();
        b[byte] ^= 0x01;
        let _ = BaseOtReceiverMsg::decode(&b);
    }
}

#[test]
fn batch_limit() {
    let (_, mut r, mut rng) = session(12);
    assert!(matches!(
        r.extend_cot(&mut rng, MAX_BATCH + 1),
        Err(IknpError::BatchTooLarge { .. })
    ));
    assert_eq!(r.batch(), 0);
}

#[test]
fn traffic_counters_match() {
    let (mut s, mut r, mut rng) = session(13);
    let setup_bytes =
        (BaseOtSenderMsg::ENCODED_LEN + BaseOtReceiverMsg::encoded_len_for(KAPPA)) as u64;
    assert_eq!(r.traffic().total_bytes(), setup_bytes);
    assert_eq!(s.traffic().total_bytes(), setup_bytes);
    let (_, m) = r.extend_cot(&mut rng, 1000).unwrap();
    let len = m.encoded_len();
    assert_eq!(len, 17 + 1024 * 16);
    s.receive_cot(&m, 1000).unwrap();
    let (_, m) = r.extend_rot(&mut rng, 10).unwrap();
    s.receive_rot(&m, 10).unwrap();
    assert_eq!(r.traffic().bytes_sent, s.traffic().bytes_received);
    assert_eq!(r.traffic().bytes_received, s.traffic().bytes_sent);
    assert_eq!(r.traffic().messages_sent, 3);
    assert_eq!(s.traffic().messages_sent, 1);
    assert_eq!(
        r.traffic().total_bytes(),
        setup_bytes + len as u64 + (17 + 128 * 16)
    );
}

#[test]
fn debug_output_has_no_secrets() {
    let (mut s, mut r, mut rng) = session(14);
    let (cr, m) = r.extend_cot(&mut rng, 130).unwrap();
    let cs = s.receive_cot(&m, 130).unwrap();
    let text = format!("{s:?} {r:?} {cr:?} {cs:?} {m:?}");
    for secret in [cs.delta, cs.q[0], cr.t[1]] {
        assert!(!text.contains(&format!("{secret}")));
        assert!(!text.contains(&format!("{secret:x}")));
    }
    assert!(text.contains("len: 130"));
}
