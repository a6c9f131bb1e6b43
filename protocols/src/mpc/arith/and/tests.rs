#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use rand::Rng;

use super::*;
use crate::mpc::arith::and_triples::and_triples;
use crate::mpc::arith::ot::ideal as ideal_ot;
use crate::mpc::arith::test_util::{rng, wire};
use crate::mpc::corr::ideal;

/// Runs a batch on shares; returns z_A ⊕ z_B.
fn run(
    (xa, xb): (&[bool], &[bool]),
    (ya, yb): (&[bool], &[bool]),
    ta: Vec<AndTriple>,
    tb: Vec<AndTriple>,
) -> Vec<bool> {
    let (pa, ma) = And::start(Party::A, xa, ya, ta).unwrap();
    let (pb, mb) = And::start(Party::B, xb, yb, tb).unwrap();
    let za = pa.finish(&wire(&mb)).unwrap();
    let zb = pb.finish(&wire(&ma)).unwrap();
    assert_eq!(
        za.traffic.bytes_sent as usize,
        5 + (2 * xa.len()).div_ceil(8)
    );
    assert_eq!(zb.traffic.bytes_received, za.traffic.bytes_sent);
    assert_eq!(za.traffic.rounds, ROUNDS);
    za.output
        .iter()
        .zip(&zb.output)
        .map(|(a, b)| a ^ b)
        .collect()
}

fn bits(n: usize, g: &mut impl Rng) -> Vec<bool> {
    (0..n).map(|_| g.next_u32() & 1 == 1).collect()
}

#[test]
fn truth_table_over_all_share_combinations() {
    // All 16 (x_A, x_B, y_A, y_B), each with many fresh triples.
    let reps = 64;
    let mut xa = vec![];
    let mut xb = vec![];
    let mut ya = vec![];
    let mut yb = vec![];
    for k in 0..16u8 {
        for _ in 0..reps {
            xa.push(k & 1 == 1);
            xb.push(k & 2 == 2);
            ya.push(k & 4 == 4);
            yb.push(k & 8 == 8);
        }
    }
    let (ta, tb) = ideal::and_triples(16 * reps, &mut rng(90));
    let z = run((&xa, &xb), (&ya, &yb), ta, tb);
    for j in 0..z.len() {
        assert_eq!(z[j], (xa[j] ^ xb[j]) & (ya[j] ^ yb[j]));
    }
}

#[test]
fn and_equals_plaintext_100k_with_ot_made_triples() {
    let n = 100_000;
    let mut g = rng(91);
    let (a_send, b_recv) = ideal_ot::rot(n, &mut g);
    let (b_send, a_recv) = ideal_ot::rot(n, &mut g);
    let ta = and_triples(a_send, a_recv).unwrap().output;
    let tb = and_triples(b_send, b_recv).unwrap().output;
    let (xa, xb, ya, yb) = (
        bits(n, &mut g),
        bits(n, &mut g),
        bits(n, &mut g),
        bits(n, &mut g),
    );
    let z = run((&xa, &xb), (&ya, &yb), ta, tb);
    for j in 0..n {
        assert_eq!(z[j], (xa[j] ^ xb[j]) & (ya[j] ^ yb[j]));
    }
}

proptest! {
    #[test]
    fn and_matches_plaintext(v in proptest::collection::vec(any::<(bool, bool, bool, bool)>(), 0..50), seed in any::<u64>()) {
        let xa: Vec<bool> = v.iter().map(|t| t.0).collect();
        let xb: Vec<bool> = v.iter().map(|t| t.1).collect();
        let ya: Vec<bool> = v.iter().map(|t| t.2).collect();
        let yb: Vec<bool> = v.iter().map(|t| t.3).collect();
        let (ta, tb) = ideal::and_triples(v.len(), &mut rng(seed));
        let z = run((&xa, &xb), (&ya, &yb), ta, tb);
        for j in 0..v.len() {
            prop_assert_eq!(z[j], (xa[j] ^ xb[j]) & (ya[j] ^ yb[j]));
        }
    }

    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = AndMsg::decode(&bytes);
    }
}

#[test]
fn tampered_messages_are_rejected() {
    let mut g = rng(92);
    let (ta, tb) = ideal::and_triples(3, &mut g);
    let x = bits(3, &mut g);
    let (pa, _) = And::start(Party::A, &x, &x, ta).unwrap();
    let (_, mb) = And::start(Party::B, &x, &x, tb).unwrap();
    let bytes = mb.encode();
    assert_eq!(bytes.len(), 6); // 6 bits in one byte
    let mut pad = bytes.clone();
    pad[5] |= 0x80; // a padding bit
    assert_eq!(
        AndMsg::decode(&pad).unwrap_err(),
        CodecError::Padding { kind: "AND" }
    );
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(
        AndMsg::decode(&long),
        Err(CodecError::Length { .. })
    ));
    // Wrong count: header says 4 gates (8 bits still fit one byte).
    let mut four = bytes.clone();
    four[1..5].copy_from_slice(&4u32.to_le_bytes());
    let m = AndMsg::decode(&four).unwrap();
    assert_eq!(
        pa.finish(&m).unwrap_err(),
        AndError::Count {
            expected: 3,
            got: 4
        }
    );
}

#[test]
fn local_input_mismatch_is_an_error() {
    let (ta, _) = ideal::and_triples(2, &mut rng(93));
    assert!(matches!(
        And::start(Party::A, &[true; 3], &[true; 3], ta),
        Err(AndError::Inputs { .. })
    ));
}
