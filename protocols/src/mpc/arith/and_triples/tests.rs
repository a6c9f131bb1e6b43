#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::mpc::arith::ot::ideal;
use crate::mpc::arith::test_util::rng;

/// (A's triples, B's triples) from ideal random OTs in both directions.
pub(crate) fn make(n: usize, seed: u64) -> (Vec<AndTriple>, Vec<AndTriple>) {
    let mut g = rng(seed);
    let (a_send, b_recv) = ideal::rot(n, &mut g);
    let (b_send, a_recv) = ideal::rot(n, &mut g);
    let ta = and_triples(a_send, a_recv).unwrap();
    let tb = and_triples(b_send, b_recv).unwrap();
    assert_eq!(ta.traffic, Traffic::default());
    (ta.output, tb.output)
}

#[test]
fn every_triple_satisfies_c_eq_ab_100k() {
    let (ta, tb) = make(100_000, 80);
    assert_eq!(ta.len(), 100_000);
    let mut seen = [0usize; 8];
    for (x, y) in ta.iter().zip(&tb) {
        let (a, b, c) = (x.a ^ y.a, x.b ^ y.b, x.c ^ y.c);
        assert_eq!(c, a & b);
        seen[usize::from(a) | usize::from(b) << 1 | usize::from(x.a) << 2] += 1;
    }
    // All combinations of (a, b, a_A) occur, roughly equally often.
    for s in seen {
        assert!((11_000..14_000).contains(&s), "{seen:?}");
    }
}

#[test]
fn mismatched_batches_are_errors() {
    let mut g = rng(81);
    let (s, _) = ideal::rot(3, &mut g);
    let (_, r) = ideal::rot(4, &mut g);
    assert_eq!(
        and_triples(s, r).unwrap_err(),
        AndTripleError::Mismatch {
            sender: 3,
            receiver: 4
        }
    );
    let (mut s, r) = ideal::rot(3, &mut g);
    s.m0.pop();
    assert_eq!(
        and_triples(s, r).unwrap_err(),
        AndTripleError::Ots(OtShapeError::Ragged(2, 3))
    );
}
