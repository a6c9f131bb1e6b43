#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::*;
use crate::mpc::arith::test_util::{rng, wire};

fn toss(label: &[u8], seed: u64) -> (Seed, Seed) {
    let mut g = rng(seed);
    let (a, ca) = CoinToss::start(Party::A, label, &mut g).unwrap();
    let (b, cb) = CoinToss::start(Party::B, label, &mut g).unwrap();
    let (a, ra) = a.reveal(&wire(&cb));
    let (b, rb) = b.reveal(&wire(&ca));
    let sa = a.finish(&wire(&rb)).unwrap();
    let sb = b.finish(&wire(&ra)).unwrap();
    for t in [sa.traffic, sb.traffic] {
        assert_eq!(t.bytes_sent, 98);
        assert_eq!(t.bytes_received, 98);
        assert_eq!(t.rounds, ROUNDS);
    }
    (sa.output, sb.output)
}

#[test]
fn both_parties_agree_and_labels_separate() {
    let (a, b) = toss(b"round 1", 110);
    assert_eq!(a, b);
    let (c, _) = toss(b"round 2", 110); // same randomness, other label
    assert_ne!(a, c);
    let (d, _) = toss(b"round 1", 111);
    assert_ne!(a, d);
}

#[test]
fn tampered_reveal_is_detected() {
    let mut g = rng(112);
    let (a, ca) = CoinToss::start(Party::A, b"x", &mut g).unwrap();
    let (b, cb) = CoinToss::start(Party::B, b"x", &mut g).unwrap();
    let (a, _) = a.reveal(&cb);
    let (_, rb) = b.reveal(&ca);
    let mut bytes = rb.encode();
    for pos in [1, 20, 33, 64] {
        bytes[pos] ^= 0x01;
        let bad = CoinReveal::decode(&bytes).unwrap();
        bytes[pos] ^= 0x01;
        let err = CoinRevealed {
            party: a.party,
            label: a.label.clone(),
            own: a.own.clone(),
            peer_commit: a.peer_commit.clone(),
            traffic: a.traffic,
        }
        .finish(&bad)
        .unwrap_err();
        assert_eq!(err, CoinError::Mismatch);
        assert_eq!(
            err.to_string(),
            "coin: the peer's reveal does not match its commitment"
        );
    }
    assert!(a.finish(&rb).is_ok());
}

#[test]
fn reflected_commitment_is_detected() {
    // B echoes A's own commitment and reveal: the party tag makes it fail.
    let mut g = rng(113);
    let (a, ca) = CoinToss::start(Party::A, b"x", &mut g).unwrap();
    let (a, ra) = a.reveal(&ca);
    assert_eq!(a.finish(&ra).unwrap_err(), CoinError::Mismatch);
}

#[test]
fn wrong_label_is_detected() {
    let mut g = rng(114);
    let (a, ca) = CoinToss::start(Party::A, b"round 1", &mut g).unwrap();
    let (b, cb) = CoinToss::start(Party::B, b"round 2", &mut g).unwrap();
    let (a, _) = a.reveal(&cb);
    let (_, rb) = b.reveal(&ca);
    assert_eq!(a.finish(&rb).unwrap_err(), CoinError::Mismatch);
}

#[test]
fn malformed_messages_are_errors() {
    let mut g = rng(115);
    let (_, ca) = CoinToss::start(Party::A, b"", &mut g).unwrap();
    let bytes = ca.encode();
    assert!(matches!(
        CoinCommit::decode(&bytes[..32]),
        Err(CodecError::Length {
            expected: 33,
            got: 32,
            ..
        })
    ));
    assert!(matches!(
        CoinReveal::decode(&bytes),
        Err(CodecError::Tag { tag: 0x51, .. })
    ));
    assert!(matches!(
        CoinReveal::decode(&[]),
        Err(CodecError::Truncated { .. })
    ));
    assert_eq!(
        CoinToss::start(Party::A, &[0u8; MAX_LABEL + 1], &mut g).unwrap_err(),
        CoinError::Label { len: MAX_LABEL + 1 }
    );
}

#[test]
fn debug_is_redacted() {
    let mut g = rng(116);
    let (a, ca) = CoinToss::start(Party::A, b"x", &mut g).unwrap();
    let (_, ra) = a.reveal(&ca);
    assert_eq!(format!("{ra:?}"), "CoinReveal(<redacted>)");
    let (sa, _) = toss(b"x", 117);
    assert_eq!(format!("{sa:?}"), "Seed(<redacted>)");
}

proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let _ = CoinCommit::decode(&bytes);
        let _ = CoinReveal::decode(&bytes);
    }
}
