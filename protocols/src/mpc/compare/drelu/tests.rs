#![allow(clippy::unwrap_used, clippy::expect_used)]

use mpc_core::field::{Fp, MODULUS};
use proptest::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha12Rng;

use super::*;
use crate::mpc::compare::test_util::{below, fp, ideal_rots, rng, run, run_until, tamperings};

/// How to split a value into shares.
#[derive(Clone, Copy, Debug)]
enum Split {
    /// Uniform A share.
    Random,
    /// `w_A + w_B = w` (no wrap), `w_A` uniform in [0, w].
    NoWrap,
    /// `w_A + w_B = w + p` (wrap), `w_A` uniform in (w, p).
    Wrap,
    /// `w_A` fixed (edge of A's local test, or 0, p−1, …), if it fits.
    FixA(u64),
    /// `w_B` fixed (edge of B's local test).
    FixB(u64),
}

/// Shares `(v_A, v_B)` of `v` for a comparison against `t_prime` with bound B:
/// the split is controlled on `w = v − T' + 2^B` as the protocol sees it.
fn split(v: i64, t_prime: i64, bb: u32, how: Split, r: &mut ChaCha12Rng) -> (Fp, Fp) {
    let shift = Fp::pow2(bb) - Fp::from_i64(t_prime);
    let vf = Fp::from_i64(v);
    let w = (vf + shift).value();
    let w_a = match how {
        Split::Random => {
            return {
                let a = crate::mpc::compare::test_util::random_fp(r);
                (a, vf - a)
            };
        }
        Split::NoWrap => below(r, w + 1),
        Split::Wrap if w + 1 < MODULUS => w + 1 + below(r, MODULUS - w - 1),
        Split::Wrap => below(r, MODULUS),
        Split::FixA(x) => x % MODULUS,
        Split::FixB(y) => (Fp::reduce_u64(w) - fp(y)).value(),
    };
    let v_a = fp(w_a) - shift;
    (v_a, vf - v_a)
}

fn splits(bb: u32) -> Vec<Split> {
    let big = 1u64 << (bb + 1);
    vec![
        Split::Random,
        Split::NoWrap,
        Split::Wrap,
        Split::FixA(0),
        Split::FixA(MODULUS - 1),
        Split::FixA((1 << 63) - 1),
        Split::FixA(1 << 63),
        Split::FixA((1 << 63) + 1),
        Split::FixA(MODULUS - big),
        Split::FixA(big),
        Split::FixB(0),
        Split::FixB(big - 1),
        Split::FixB(big),
        Split::FixB(big + 1),
        Split::FixB(MODULUS - 1),
    ]
}

/// Runs a batch; returns the reconstructed bits and checks traffic = cost.
fn eval(
    params: &DreluParams,
    th: Threshold,
    sa: &[Fp],
    sb: &[Fp],
    r: &mut ChaCha12Rng,
) -> Vec<bool> {
    let (ra, rb) = ideal_rots(params.rot_demand(sa.len()).unwrap(), r);
    let a = Drelu::with_threshold(Party::A, params, th, sa, ra).unwrap();
    let b = Drelu::with_threshold(Party::B, params, th, sb, rb).unwrap();
    let cost = a.cost();
    let (fa, fb, flights) = run(a, b, r);
    assert_eq!(flights as u64, cost.messages);
    assert_eq!(fa.traffic.bytes_sent, cost.bytes_a_to_b);
    assert_eq!(fb.traffic.bytes_sent, cost.bytes_b_to_a);
    fa.output
        .iter()
        .zip(&fb.output)
        .map(|(a, b)| a ^ b)
        .collect()
}

fn t_prime(th: Threshold) -> i64 {
    match th.relation {
        Relation::Ge | Relation::Lt => th.value,
        Relation::Gt | Relation::Le => th.value + 1,
    }
}

/// Checks a batch of values (each `v − T'` must be in range) under every split.
fn check(params: &DreluParams, th: Threshold, vs: &[i64], r: &mut ChaCha12Rng) {
    let bb = params.bound_bits;
    let tp = t_prime(th);
    let all = splits(bb);
    let (mut sa, mut sb, mut want) = (Vec::new(), Vec::new(), Vec::new());
    for (i, &v) in vs.iter().enumerate() {
        let how = all[i % all.len()];
        let (a, b) = split(v, tp, bb, how, r);
        assert_eq!(a + b, Fp::from_i64(v));
        sa.push(a);
        sb.push(b);
        want.push(th.relation.holds(v, th.value));
    }
    let got = eval(params, th, &sa, &sb, r);
    for i in 0..vs.len() {
        assert_eq!(
            got[i],
            want[i],
            "B = {bb}, {th:?}, v = {}, split {:?}",
            vs[i],
            all[i % all.len()]
        );
    }
}

/// Edge values for bound B around a shifted zero `c`: 0, ±1, ±(2^B − 1), −2^B,
/// each also ±2 around it, all clamped to the valid range.
fn edges(bb: u32, c: i64) -> Vec<i64> {
    let lim = 1i64 << bb;
    let mut out = Vec::new();
    for base in [0, 1, -1, lim - 1, -(lim - 1), -lim, lim / 2, -lim / 2] {
        for d in -2..=2 {
            let x = base + d;
            if (-lim..lim).contains(&x) {
                out.push(c + x);
            }
        }
    }
    out
}

/// 10^5 random 40-bit values plus edges, under every kind of split.
#[test]
fn drelu_1e5_values() {
    let mut r = rng(1);
    let params = DreluParams::default();
    let lim = 1i64 << 40;
    for batch in 0..10 {
        let mut vs: Vec<i64> = (0..10_000)
            .map(|i| match i % 4 {
                // Uniform over the whole range.
                0 | 1 => below(&mut r, 2 * lim as u64) as i64 - lim,
                // Small magnitudes (near the sign change).
                2 => below(&mut r, 2001) as i64 - 1000,
                // Near the ends.
                _ => {
                    let x = below(&mut r, 1000) as i64;
                    if r.next_u32() & 1 == 1 {
                        lim - 1 - x
                    } else {
                        -lim + x
                    }
                }
            })
            .collect();
        if batch == 0 {
            vs.extend(edges(40, 0));
        }
        check(&params, Threshold::DRELU, &vs, &mut r);
    }
}

#[test]
fn every_split_of_every_edge() {
    let mut r = rng(2);
    let params = DreluParams::default();
    let vs = edges(40, 0);
    let n = splits(40).len();
    // Each edge value under each split: repeat values n times in order.
    let all: Vec<i64> = vs.iter().flat_map(|&v| std::iter::repeat_n(v, n)).collect();
    check(&params, Threshold::DRELU, &all, &mut r);
}

#[test]
fn other_bounds_and_digit_widths() {
    let mut r = rng(3);
    for bound_bits in [1u32, 2, 3, 7, 8, 31, 32, 33, 41, 59, 60] {
        for digit_bits in [1u32, 3, 4, 5, 8] {
            let params = DreluParams {
                bound_bits,
                digit_bits,
            };
            let lim = 1i64 << bound_bits;
            let mut vs = edges(bound_bits, 0);
            vs.extend((0..300).map(|_| below(&mut r, 2 * lim as u64) as i64 - lim));
            check(&params, Threshold::DRELU, &vs, &mut r);
        }
    }
}

#[test]
fn public_thresholds_all_relations() {
    let mut r = rng(4);
    let params = DreluParams::default();
    let lim = 1i64 << 39;
    for value in [
        0i64,
        1,
        -1,
        2,
        65_536,
        -65_536,
        123_456_789,
        -(1 << 38),
        (1 << 38) - 1,
    ] {
        for relation in [Relation::Ge, Relation::Gt, Relation::Le, Relation::Lt] {
            let th = Threshold { value, relation };
            // Both sides of the threshold, then random values within the bound.
            let mut vs: Vec<i64> = (-3..=3).map(|d| value + d).collect();
            vs.extend((0..3000).map(|_| value + below(&mut r, 2 * lim as u64) as i64 - lim));
            vs.extend(edges(39, value));
            check(&params, th, &vs, &mut r);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn prop_drelu(seed in any::<u64>(), vals in proptest::collection::vec((-(1i64 << 40)..(1i64 << 40), 0usize..15), 1..200)) {
        let mut r = rng(seed);
        let params = DreluParams::default();
        let all = splits(40);
        let (mut sa, mut sb) = (Vec::new(), Vec::new());
        for &(v, k) in &vals {
            let (a, b) = split(v, 0, 40, all[k], &mut r);
            sa.push(a);
            sb.push(b);
        }
        let got = eval(&params, Threshold::DRELU, &sa, &sb, &mut r);
        for (i, &(v, _)) in vals.iter().enumerate() {
            prop_assert_eq!(got[i], v >= 0);
        }
    }

    #[test]
    fn prop_threshold(seed in any::<u64>(), t in -(1i64 << 38)..(1i64 << 38), rel in 0usize..4,
                      offs in proptest::collection::vec(-(1i64 << 38)..(1i64 << 38), 1..100)) {
        let mut r = rng(seed);
        let relation = [Relation::Ge, Relation::Gt, Relation::Le, Relation::Lt][rel];
        let th = Threshold { value: t, relation };
        let vs: Vec<i64> = offs.iter().map(|o| t + o / (1 << (o.unsigned_abs() % 38))).collect();
        check(&DreluParams::default(), th, &vs, &mut r);
    }
}

#[test]
fn params_errors() {
    let mut r = rng(5);
    for bad in [0u32, 61, 64] {
        let p = DreluParams {
            bound_bits: bad,
            digit_bits: 4,
        };
        assert!(matches!(p.rot_demand(1), Err(DreluError::Params(_))));
        assert!(matches!(
            Drelu::new(Party::A, &p, &[Fp::ZERO], Rots::default()),
            Err(DreluError::Params(_))
        ));
    }
    let p = DreluParams::default();
    let th = Threshold {
        value: i64::MAX,
        relation: Relation::Gt,
    };
    let (ra, _) = ideal_rots(p.rot_demand(1).unwrap(), &mut r);
    assert!(matches!(
        Drelu::with_threshold(Party::A, &p, th, &[Fp::ZERO], ra.clone()),
        Err(DreluError::Params(_))
    ));
    assert!(matches!(
        Drelu::new(Party::A, &p, &[Fp::ZERO, Fp::ONE], ra),
        Err(DreluError::Compare(MillionaireError::Rots(_)))
    ));
}

fn pair(n: usize, r: &mut ChaCha12Rng) -> (Drelu, Drelu) {
    let p = DreluParams::default();
    let (ra, rb) = ideal_rots(p.rot_demand(n).unwrap(), r);
    let v: Vec<Fp> = (0..n).map(|i| Fp::from_i64(i as i64 - 2)).collect();
    let (sa, sb) = crate::mpc::compare::test_util::share(&v, r);
    (
        Drelu::new(Party::A, &p, &sa, ra).unwrap(),
        Drelu::new(Party::B, &p, &sb, rb).unwrap(),
    )
}

#[test]
fn tampered_messages_are_errors() {
    let mut r = rng(6);
    for target in 0..5 {
        let (a, b) = pair(4, &mut r);
        let (_, bytes) = run_until(a, b, target, &mut r).unwrap();
        for (what, t) in tamperings(&bytes, 1) {
            let (a, b) = pair(4, &mut r);
            let (mut p, _) = run_until(a, b, target, &mut r).unwrap();
            let e = p.receive_bytes(&t, &mut r);
            assert!(e.is_err(), "message {target}: {what} accepted");
            assert!(
                e.unwrap_err()
                    .to_string()
                    .starts_with("DReLU: millionaires:")
            );
            assert!(p.receive_bytes(&bytes, &mut r).is_err());
        }
    }
}

/// The figure asked for: bytes exchanged per DReLU on 40-bit values,
/// counting 16 B of IKNP per consumed OT plus every protocol message.
#[test]
fn drelu_bytes_per_op() {
    let p = DreluParams::default();
    for n in [1usize, 1000, 100_000] {
        let c = p.cost(n).unwrap();
        let per = c.bytes_with_ots() as f64 / n as f64;
        eprintln!(
            "DReLU B=40 m=5, batch {n}: {} + {} ROTs/op ({} B IKNP), {:.1} B/op messages, {:.1} B/op total, {} messages",
            c.rots.a_receives / n,
            c.rots.b_receives / n,
            c.rots.iknp_bytes() / n,
            c.message_bytes() as f64 / n as f64,
            per,
            c.messages
        );
        assert!(per <= 2048.0, "{per} B per DReLU");
        assert_eq!(c.rots.a_receives, 48 * n);
        assert_eq!(c.rots.b_receives, 7 * n);
        assert_eq!(c.messages, 5);
    }
    // Digit widths: the default (m = 5) is the cheapest.
    for m in 1..=8 {
        let c = DreluParams {
            bound_bits: 40,
            digit_bits: m,
        }
        .cost(1000)
        .unwrap();
        eprintln!(
            "  m = {m}: {:.1} B/op, {} messages",
            c.bytes_with_ots() as f64 / 1000.0,
            c.messages
        );
    }
}
