#![allow(clippy::unwrap_used, clippy::expect_used)]

use mpc_core::field::Fp;
use proptest::prelude::*;
use rand::Rng;

use super::*;
use crate::mpc::arith::ot::ideal;
use crate::mpc::arith::test_util::{non_canonical, rng, wire};

/// B2A of `b_s ⊕ b_r`; returns the sums of the additive shares.
fn run(bs: &[bool], br: &[bool], seed: u64) -> Vec<Fp> {
    let (so, ro) = ideal::rot(bs.len(), &mut rng(seed));
    let sender = B2aSender::new(bs.to_vec(), so).unwrap();
    let (receiver, m1) = B2aReceiver::start(br.to_vec(), ro).unwrap();
    let (m2, s) = sender.respond(&wire(&m1)).unwrap();
    let r = receiver.finish(&wire(&m2)).unwrap();
    assert_eq!(r.traffic.bytes_sent as usize, 5 + bs.len().div_ceil(8));
    assert_eq!(s.traffic.bytes_sent as usize, 5 + 8 * bs.len());
    assert_eq!((s.traffic.rounds, r.traffic.rounds), (ROUNDS, ROUNDS));
    s.output
        .iter()
        .zip(&r.output)
        .map(|(a, b)| *a + *b)
        .collect()
}

fn check(bs: &[bool], br: &[bool], seed: u64) {
    let z = run(bs, br, seed);
    for j in 0..bs.len() {
        let b = u64::from(bs[j] ^ br[j]);
        assert_eq!(z[j], Fp::reduce_u64(b), "bit {j}");
    }
}

#[test]
fn b2a_equals_the_bit_100k() {
    let mut g = rng(100);
    let n = 100_000;
    let bs: Vec<bool> = (0..n).map(|_| g.next_u32() & 1 == 1).collect();
    let br: Vec<bool> = (0..n).map(|_| g.next_u32() & 1 == 1).collect();
    check(&bs, &br, 101);
}

#[test]
fn all_four_share_combinations() {
    let bs: Vec<bool> = (0..400).map(|i| i & 1 == 1).collect();
    let br: Vec<bool> = (0..400).map(|i| i & 2 == 2).collect();
    check(&bs, &br, 102);
}

proptest! {
    #[test]
    fn b2a_matches_plaintext(v in proptest::collection::vec(any::<(bool, bool)>(), 0..70), seed in any::<u64>()) {
        let (bs, br): (Vec<bool>, Vec<bool>) = v.into_iter().unzip();
        let z = run(&bs, &br, seed);
        for j in 0..bs.len() {
            prop_assert_eq!(z[j], Fp::reduce_u64(u64::from(bs[j] ^ br[j])));
        }
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let _ = B2aChoices::decode(&bytes);
        let _ = B2aCorrections::decode(&bytes);
    }
}

#[test]
fn tampered_messages_are_rejected() {
    let mut g = rng(103);
    let (so, ro) = ideal::rot(5, &mut g);
    let sender = B2aSender::new(vec![true; 5], so).unwrap();
    let (receiver, m1) = B2aReceiver::start(vec![false; 5], ro).unwrap();
    let c = m1.encode();
    // Padding bits of the 5-bit choice string.
    let mut pad = c.clone();
    pad[5] |= 0x20;
    assert_eq!(
        B2aChoices::decode(&pad).unwrap_err(),
        CodecError::Padding {
            kind: "B2A choices"
        }
    );
    // Wrong count: header says 6 bits (still one byte).
    let mut six = c.clone();
    six[1..5].copy_from_slice(&6u32.to_le_bytes());
    let m = B2aChoices::decode(&six).unwrap();
    let (so2, _) = ideal::rot(5, &mut g);
    assert_eq!(
        B2aSender::new(vec![true; 5], so2)
            .unwrap()
            .respond(&m)
            .unwrap_err(),
        B2aError::Count {
            what: "B2A choices",
            expected: 5,
            got: 6
        }
    );

    let (m2, _) = sender.respond(&m1).unwrap();
    let t = m2.encode();
    assert_eq!(
        B2aCorrections::decode(&non_canonical(t.clone(), 5 + 16)).unwrap_err(),
        CodecError::NonCanonical {
            kind: "B2A corrections",
            index: 2
        }
    );
    assert!(matches!(
        B2aCorrections::decode(&t[..t.len() - 1]),
        Err(CodecError::Length { .. })
    ));
    assert!(matches!(
        B2aCorrections::decode(&c),
        Err(CodecError::WrongTag { .. })
    ));
    let mut four = t[..t.len() - 8].to_vec();
    four[1..5].copy_from_slice(&4u32.to_le_bytes());
    assert_eq!(
        receiver
            .finish(&B2aCorrections::decode(&four).unwrap())
            .unwrap_err(),
        B2aError::Count {
            what: "B2A corrections",
            expected: 5,
            got: 4
        }
    );
}

#[test]
fn wrong_ot_count_is_an_error() {
    let (so, _) = ideal::rot(4, &mut rng(104));
    assert_eq!(
        B2aSender::new(vec![true; 5], so).unwrap_err(),
        B2aError::Ots(OtShapeError::Count { needed: 5, got: 4 })
    );
}
