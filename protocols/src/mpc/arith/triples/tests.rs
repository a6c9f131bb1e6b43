#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::*;
use crate::mpc::arith::ot::{RotReceiverOutput, RotSenderOutput, ideal};
use crate::mpc::arith::test_util::{non_canonical, rng, wire};

type Ots = (RotSenderOutput, RotReceiverOutput);

/// OTs for one batch: (A sends / B receives, B sends / A receives).
fn ots(n: usize, seed: u64) -> (Ots, Ots) {
    let mut g = rng(seed);
    (
        ideal::rot(n * OTS_PER_TRIPLE, &mut g),
        ideal::rot(n * OTS_PER_TRIPLE, &mut g),
    )
}

fn run_with(ab: Ots, ba: Ots, n: usize, seed: u64) -> (Vec<Triple>, Vec<Triple>) {
    let mut g = rng(seed ^ 0xabcd);
    let (a_send, b_recv) = ab;
    let (b_send, a_recv) = ba;
    let (ga, ma) = TripleGen::start(n, a_send, a_recv, &mut g).unwrap();
    let (gb, mb) = TripleGen::start(n, b_send, b_recv, &mut g).unwrap();
    let ta = ga.finish(&wire(&mb)).unwrap();
    let tb = gb.finish(&wire(&ma)).unwrap();
    for t in [&ta.traffic, &tb.traffic] {
        assert_eq!(t.rounds, ROUNDS);
        assert_eq!(t.messages_sent, 1);
        // 9-byte header, 4 bytes per rejected index, 512 bytes per triple.
        let extra = t.bytes_sent as usize - 9 - 512 * n;
        assert!(extra.is_multiple_of(4) && extra <= 4 * n);
    }
    (ta.output, tb.output)
}

fn run(n: usize, seed: u64) -> (Vec<Triple>, Vec<Triple>) {
    let (ab, ba) = ots(n, seed);
    run_with(ab, ba, n, seed)
}

fn assert_valid(ta: &[Triple], tb: &[Triple]) {
    assert_eq!(ta.len(), tb.len());
    for (i, (x, y)) in ta.iter().zip(tb).enumerate() {
        assert_eq!((x.a + y.a) * (x.b + y.b), x.c + y.c, "triple {i}");
    }
}

#[test]
fn every_triple_satisfies_c_eq_ab_100k() {
    for b in 0..10 {
        let (ta, tb) = run(10_000, 20 + b);
        assert_eq!(ta.len(), 10_000);
        assert_valid(&ta, &tb);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn small_batches(n in 0usize..20, seed in any::<u64>()) {
        let (ta, tb) = run(n, seed);
        prop_assert_eq!(ta.len(), n);
        for (x, y) in ta.iter().zip(&tb) {
            prop_assert_eq!((x.a + y.a) * (x.b + y.b), x.c + y.c);
        }
    }

    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = TripleMsg::decode(&bytes);
    }
}

/// Forces the receiver choices of triple `j` to all ones (`b = 2^64 − 1 ≥ p`).
fn force_reject(recv: &mut RotReceiverOutput, send: &RotSenderOutput, j: usize) {
    for i in j * 64..(j + 1) * 64 {
        recv.choices[i] = true;
        recv.mc[i] = send.m1[i];
    }
}

#[test]
fn rejected_b_drops_the_triple_on_both_sides() {
    let n = 10;
    let ((a_send, mut b_recv), (b_send, mut a_recv)) = ots(n, 30);
    force_reject(&mut b_recv, &a_send, 3); // B rejects 3
    force_reject(&mut a_recv, &b_send, 7); // A rejects 7
    force_reject(&mut a_recv, &b_send, 3); // both reject 3
    let (ta, tb) = run_with((a_send, b_recv), (b_send, a_recv), n, 31);
    assert_eq!(ta.len(), n - 2);
    assert_valid(&ta, &tb);
}

#[test]
fn peer_message_shape_errors() {
    let n = 3;
    let mut g = rng(40);
    let ((a_send, _), (_, a_recv)) = ots(n, 41);
    let (ga, ma) = TripleGen::start(n, a_send, a_recv, &mut g).unwrap();
    let bytes = ma.encode();

    // Non-canonical correction.
    assert_eq!(
        TripleMsg::decode(&non_canonical(bytes.clone(), 9 + 8 * 17)).unwrap_err(),
        CodecError::NonCanonical {
            kind: "triple",
            index: 17
        }
    );
    // Truncated / extended.
    assert!(matches!(
        TripleMsg::decode(&bytes[..bytes.len() - 1]),
        Err(CodecError::Length { .. })
    ));
    assert!(matches!(
        TripleMsg::decode(&bytes[..4]),
        Err(CodecError::Truncated { .. })
    ));

    // Wrong count of corrections (a well-formed message for n − 1).
    let ((s2, _), (_, r2)) = ots(n - 1, 42);
    let (_, m_short) = TripleGen::start(n - 1, s2, r2, &mut g).unwrap();
    let ((s3, _), (_, r3)) = ots(n, 43);
    let (g3, _) = TripleGen::start(n, s3, r3, &mut g).unwrap();
    assert_eq!(
        g3.finish(&wire(&m_short)).unwrap_err(),
        TripleError::Count {
            expected: 192,
            got: 128
        }
    );

    // Rejected index outside the batch.
    let mut out_of_range = bytes[..9].to_vec();
    out_of_range[1..5].copy_from_slice(&1u32.to_le_bytes());
    out_of_range.extend_from_slice(&(n as u32).to_le_bytes());
    out_of_range.extend_from_slice(&bytes[9..]);
    let m = TripleMsg::decode(&out_of_range).unwrap();
    assert_eq!(
        ga.finish(&m).unwrap_err(),
        TripleError::RejectedIndex { index: 3, n: 3 }
    );

    // Unsorted rejected list.
    let mut unsorted = bytes[..9].to_vec();
    unsorted[1..5].copy_from_slice(&2u32.to_le_bytes());
    unsorted.extend_from_slice(&1u32.to_le_bytes());
    unsorted.extend_from_slice(&1u32.to_le_bytes());
    unsorted.extend_from_slice(&bytes[9..]);
    assert_eq!(
        TripleMsg::decode(&unsorted).unwrap_err(),
        CodecError::malformed(
            "triple",
            "rejected list is not strictly increasing at position 1"
        )
    );
}

#[test]
fn local_shape_errors() {
    let mut g = rng(50);
    let ((s, _), (_, r)) = ots(2, 51);
    assert_eq!(
        TripleGen::start(3, s, r, &mut g).unwrap_err(),
        TripleError::Ots(OtShapeError::Count {
            needed: 192,
            got: 128
        })
    );
}

#[test]
fn debug_is_redacted() {
    let (ta, _) = run(1, 60);
    assert_eq!(format!("{:?}", ta[0]), "Triple(<redacted>)");
}
