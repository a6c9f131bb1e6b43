#![allow(clippy::unwrap_used, clippy::expect_used)]

use mpc_core::field::Fp;
use proptest::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha12Rng;

use super::*;
use crate::mpc::compare::Relation;
use crate::mpc::compare::test_util::{below, ideal_rots, rng, run, run_until, share, tamperings};

fn eval(params: &ReluParams, vs: &[i64], r: &mut ChaCha12Rng) -> Vec<i64> {
    eval_both(params, vs, r).0
}

/// Reconstructed values and gate bits.
fn eval_both(params: &ReluParams, vs: &[i64], r: &mut ChaCha12Rng) -> (Vec<i64>, Vec<bool>) {
    let v: Vec<Fp> = vs.iter().map(|&x| Fp::from_i64(x)).collect();
    let (sa, sb) = share(&v, r);
    let (ra, rb) = ideal_rots(params.rot_demand(vs.len()).unwrap(), r);
    let a = Relu::new(Party::A, params, sa, ra).unwrap();
    let b = Relu::new(Party::B, params, sb, rb).unwrap();
    let cost = params.cost(vs.len()).unwrap();
    let (fa, fb, flights) = run(a, b, r);
    assert_eq!(flights as u64, cost.messages);
    assert_eq!(
        fa.traffic.messages_sent + fb.traffic.messages_sent,
        cost.messages
    );
    assert_eq!(fa.traffic.rounds, cost.messages);
    assert_eq!(fa.traffic.bytes_sent, cost.bytes_a_to_b);
    assert_eq!(fb.traffic.bytes_sent, cost.bytes_b_to_a);
    assert_eq!(fa.traffic.bytes_received, cost.bytes_b_to_a);
    let values = fa
        .output
        .values
        .iter()
        .zip(&fb.output.values)
        .map(|(a, b)| (*a + *b).to_centered())
        .collect();
    let bits = fa
        .output
        .bits
        .iter()
        .zip(&fb.output.bits)
        .map(|(a, b)| a ^ b)
        .collect();
    (values, bits)
}

#[test]
fn relu_1e5_values() {
    let mut r = rng(1);
    let params = ReluParams::default();
    let lim = 1i64 << 40;
    for batch in 0..10 {
        let mut vs: Vec<i64> = (0..10_000)
            .map(|i| match i % 3 {
                0 => below(&mut r, 2 * lim as u64) as i64 - lim,
                1 => below(&mut r, 2001) as i64 - 1000,
                _ => {
                    let x = below(&mut r, 100) as i64;
                    if r.next_u32() & 1 == 1 {
                        lim - 1 - x
                    } else {
                        -lim + x
                    }
                }
            })
            .collect();
        if batch == 0 {
            vs.extend([0, 1, -1, lim - 1, -(lim - 1), -lim, 2, -2]);
        }
        let got = eval(&params, &vs, &mut r);
        for (g, v) in got.iter().zip(&vs) {
            assert_eq!(*g, (*v).max(0), "v = {v}");
        }
    }
}

#[test]
fn gated_by_threshold() {
    let mut r = rng(2);
    for relation in [Relation::Ge, Relation::Gt, Relation::Le, Relation::Lt] {
        let params = ReluParams {
            threshold: Threshold {
                value: 1000,
                relation,
            },
            ..ReluParams::default()
        };
        let mut vs: Vec<i64> = (995..=1005).collect();
        vs.extend((0..2000).map(|_| below(&mut r, 1 << 30) as i64 - (1 << 29)));
        let (got, bits) = eval_both(&params, &vs, &mut r);
        for ((g, b), v) in got.iter().zip(&bits).zip(&vs) {
            assert_eq!(*g, if relation.holds(*v, 1000) { *v } else { 0 });
            assert_eq!(*b, relation.holds(*v, 1000));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn prop_relu(seed in any::<u64>(), vs in proptest::collection::vec(-(1i64 << 40)..(1i64 << 40), 0..100)) {
        let mut r = rng(seed);
        let got = eval(&ReluParams::default(), &vs, &mut r);
        for (g, v) in got.iter().zip(&vs) {
            prop_assert_eq!(*g, (*v).max(0));
        }
    }
}

fn pair(n: usize, r: &mut ChaCha12Rng) -> (Relu, Relu) {
    let p = ReluParams::default();
    let v: Vec<Fp> = (0..n).map(|i| Fp::from_i64(i as i64 - 2)).collect();
    let (sa, sb) = share(&v, r);
    let (ra, rb) = ideal_rots(p.rot_demand(n).unwrap(), r);
    (
        Relu::new(Party::A, &p, sa, ra).unwrap(),
        Relu::new(Party::B, &p, sb, rb).unwrap(),
    )
}

#[test]
fn tampered_messages_are_errors() {
    let mut r = rng(3);
    for target in 0..8 {
        let (a, b) = pair(4, &mut r);
        let (_, bytes) = run_until(a, b, target, &mut r).unwrap();
        for (what, t) in tamperings(&bytes, 2) {
            let (a, b) = pair(4, &mut r);
            let (mut p, _) = run_until(a, b, target, &mut r).unwrap();
            let e = p.receive_bytes(&t, &mut r);
            assert!(e.is_err(), "message {target}: {what} accepted");
            assert!(e.unwrap_err().to_string().starts_with("ReLU:"));
            assert!(matches!(
                p.receive_bytes(&bytes, &mut r),
                Err(ReluError::Poisoned)
            ));
        }
    }
    // A well-formed message of the wrong stage (a DReLU message during the product).
    let (a, b) = pair(2, &mut r);
    let (_, early) = run_until(a, b, 0, &mut r).unwrap();
    let (a, b) = pair(2, &mut r);
    let (mut p, _) = run_until(a, b, 6, &mut r).unwrap();
    assert!(matches!(
        p.receive_bytes(&early, &mut r),
        Err(ReluError::Unexpected { .. })
    ));
}

/// Trust scores: the gate `S > 0` gives ReLU(S) and the positive-trust bits.
#[test]
fn positive_gate_gives_relu_and_count_bits() {
    let mut r = rng(5);
    let params = ReluParams {
        threshold: Threshold {
            value: 0,
            relation: Relation::Gt,
        },
        ..ReluParams::default()
    };
    let mut vs: Vec<i64> = (-5..=5).collect();
    vs.extend((0..2000).map(|_| below(&mut r, 1 << 41) as i64 - (1 << 40)));
    let (got, bits) = eval_both(&params, &vs, &mut r);
    for ((g, b), v) in got.iter().zip(&bits).zip(&vs) {
        assert_eq!(*g, (*v).max(0));
        assert_eq!(*b, *v > 0);
    }
}

#[test]
fn relu_bytes_per_op() {
    let c = ReluParams::default().cost(1000).unwrap();
    eprintln!(
        "ReLU B=40: {} ROTs/op, {:.1} B/op messages, {:.1} B/op with OTs, {} messages",
        c.rots.total() / 1000,
        c.message_bytes() as f64 / 1000.0,
        c.bytes_with_ots() as f64 / 1000.0,
        c.messages
    );
    assert_eq!(c.rots.total(), 57_000);
    assert_eq!(c.messages, 8);
}
