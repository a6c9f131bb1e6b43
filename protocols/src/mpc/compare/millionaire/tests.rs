#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha12Rng;

use super::*;
use crate::mpc::compare::test_util::{drive, ideal_rots, rng, run, run_until, tamperings};

fn mask(bits: u32) -> u64 {
    if bits == 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    }
}

/// Runs a batch and returns the reconstructed bits, checking traffic against `cost`.
fn eval(
    p: &MillionaireParams,
    xs: &[u64],
    sel: &[bool],
    ys: &[u64],
    flips: &[bool],
    r: &mut ChaCha12Rng,
) -> Vec<bool> {
    let n = xs.len();
    let (ra, rb) = ideal_rots(p.rot_demand(n).unwrap(), r);
    let a = Millionaire::new_a(p, xs.to_vec(), sel.to_vec(), ra).unwrap();
    let b = Millionaire::new_b(p, ys.to_vec(), flips.to_vec(), rb).unwrap();
    let cost = a.cost();
    let (fa, fb, flights) = run(a, b, r);
    assert_eq!(flights as u64, cost.messages);
    assert_eq!(
        fa.traffic.messages_sent + fb.traffic.messages_sent,
        cost.messages
    );
    assert_eq!(fa.traffic.bytes_sent, cost.bytes_a_to_b);
    assert_eq!(fb.traffic.bytes_sent, cost.bytes_b_to_a);
    assert_eq!(fa.traffic.bytes_received, cost.bytes_b_to_a);
    assert_eq!(fa.traffic.rounds, cost.messages);
    fa.output
        .iter()
        .zip(&fb.output)
        .map(|(a, b)| a ^ b)
        .collect()
}

/// Plaintext: `[x ⋈ y^σ] ⊕ flip^σ` for every instance and slot.
fn expect(
    p: &MillionaireParams,
    xs: &[u64],
    sel: &[bool],
    ys: &[u64],
    flips: &[bool],
) -> Vec<bool> {
    let halves = if p.selector { 2 } else { 1 };
    let mut out = Vec::new();
    for (i, &x) in xs.iter().enumerate() {
        let h = usize::from(p.selector && sel[i]);
        for s in 0..p.slots {
            let at = (i * halves + h) * p.slots + s;
            out.push(p.relation.holds(x, ys[at]) ^ flips.get(at).copied().unwrap_or(false));
        }
    }
    out
}

/// Values near `y`: equal, ±1, differing in one digit, extremes.
fn near(y: u64, bits: u32, r: &mut ChaCha12Rng) -> u64 {
    let m = mask(bits);
    match r.next_u32() % 8 {
        0 => y,
        1 => y.wrapping_add(1) & m,
        2 => y.wrapping_sub(1) & m,
        3 => y ^ ((1u64 << (r.next_u32() % bits)) & m),
        4 => 0,
        5 => m,
        _ => r.next_u64() & m,
    }
}

#[test]
fn small_widths_all_shapes() {
    let mut r = rng(1);
    for bits in 1..=9u32 {
        for digit_bits in 1..=4u32 {
            for slots in [1usize, 2, 3] {
                for selector in [false, true] {
                    for relation in [Relation::Lt, Relation::Le, Relation::Gt, Relation::Ge] {
                        let p = MillionaireParams {
                            bits,
                            digit_bits,
                            slots,
                            selector,
                            relation,
                        };
                        let n = 40;
                        let halves = if selector { 2 } else { 1 };
                        let xs: Vec<u64> = (0..n).map(|_| r.next_u64() & mask(bits)).collect();
                        let sel: Vec<bool> = if selector {
                            (0..n).map(|_| r.next_u32() & 1 == 1).collect()
                        } else {
                            Vec::new()
                        };
                        let ys: Vec<u64> = (0..n * halves * slots)
                            .map(|k| near(xs[k / (halves * slots)], bits, &mut r))
                            .collect();
                        let flips: Vec<bool> = if selector {
                            (0..ys.len()).map(|_| r.next_u32() & 1 == 1).collect()
                        } else {
                            Vec::new()
                        };
                        assert_eq!(
                            eval(&p, &xs, &sel, &ys, &flips, &mut r),
                            expect(&p, &xs, &sel, &ys, &flips),
                            "{p:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn exhaustive_five_bits() {
    let mut r = rng(2);
    let p = MillionaireParams {
        bits: 5,
        digit_bits: 2,
        slots: 1,
        selector: false,
        relation: Relation::Lt,
    };
    let (xs, ys): (Vec<u64>, Vec<u64>) = (0..32u64)
        .flat_map(|x| (0..32).map(move |y| (x, y)))
        .unzip();
    assert_eq!(
        eval(&p, &xs, &[], &ys, &[], &mut r),
        expect(&p, &xs, &[], &ys, &[])
    );
}

/// 10^5 random 64-bit comparisons per relation class plus edges.
#[test]
fn random_64_bit_1e5() {
    let mut r = rng(3);
    for (round, relation) in [Relation::Lt, Relation::Ge, Relation::Gt, Relation::Le]
        .into_iter()
        .enumerate()
    {
        let p = MillionaireParams::new(64, relation);
        // 10^5 for `<`, 10^4 for each of the other relations.
        let batches = if round == 0 { 10 } else { 1 };
        for _ in 0..batches {
            let n = 10_000;
            let mut xs: Vec<u64> = (0..n).map(|_| r.next_u64()).collect();
            let ys: Vec<u64> = xs.iter().map(|&x| near(x, 64, &mut r)).collect();
            for (k, e) in [0, 1, u64::MAX, u64::MAX - 1, 1 << 63, (1 << 63) - 1]
                .into_iter()
                .enumerate()
            {
                xs[k] = e;
            }
            assert_eq!(
                eval(&p, &xs, &[], &ys, &[], &mut r),
                expect(&p, &xs, &[], &ys, &[])
            );
        }
    }
}

#[test]
fn several_y_share_one_x() {
    let mut r = rng(4);
    let p = MillionaireParams {
        bits: 64,
        digit_bits: 4,
        slots: 3,
        selector: false,
        relation: Relation::Lt,
    };
    let n = 2000;
    let xs: Vec<u64> = (0..n).map(|_| r.next_u64()).collect();
    let ys: Vec<u64> = (0..3 * n).map(|k| near(xs[k / 3], 64, &mut r)).collect();
    assert_eq!(
        eval(&p, &xs, &[], &ys, &[], &mut r),
        expect(&p, &xs, &[], &ys, &[])
    );
    // Sharing the x digits: the leaf OTs do not grow with the slots.
    let one = MillionaireParams { slots: 1, ..p }.rot_demand(1).unwrap();
    let three = p.rot_demand(1).unwrap();
    assert_eq!(three.a_receives - one.a_receives, 2 * 15);
}

#[test]
fn long_tables_use_expanded_keys() {
    // m = 8 with 2 slots and a selector: 2·256·4 bits per table > 128.
    let mut r = rng(5);
    let p = MillionaireParams {
        bits: 20,
        digit_bits: 8,
        slots: 2,
        selector: true,
        relation: Relation::Gt,
    };
    let n = 300;
    let xs: Vec<u64> = (0..n).map(|_| r.next_u64() & mask(20)).collect();
    let sel: Vec<bool> = (0..n).map(|_| r.next_u32() & 1 == 1).collect();
    let ys: Vec<u64> = (0..4 * n).map(|k| near(xs[k / 4], 20, &mut r)).collect();
    let flips: Vec<bool> = (0..4 * n).map(|_| r.next_u32() & 1 == 1).collect();
    assert_eq!(
        eval(&p, &xs, &sel, &ys, &flips, &mut r),
        expect(&p, &xs, &sel, &ys, &flips)
    );
}

#[test]
fn empty_batch() {
    let mut r = rng(6);
    let p = MillionaireParams::new(64, Relation::Lt);
    assert!(eval(&p, &[], &[], &[], &[], &mut r).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn prop_matches_plaintext(
        seed in any::<u64>(),
        bits in 1u32..=64,
        digit_bits in 1u32..=6,
        selector in any::<bool>(),
        rel in 0usize..4,
        pairs in proptest::collection::vec((any::<u64>(), any::<u64>(), any::<bool>(), any::<bool>()), 1..60),
    ) {
        let relation = [Relation::Lt, Relation::Le, Relation::Gt, Relation::Ge][rel];
        let p = MillionaireParams { bits, digit_bits, slots: 1, selector, relation };
        let m = mask(bits);
        let xs: Vec<u64> = pairs.iter().map(|t| t.0 & m).collect();
        let sel: Vec<bool> = if selector { pairs.iter().map(|t| t.2).collect() } else { Vec::new() };
        let mut ys = Vec::new();
        let mut flips = Vec::new();
        for t in &pairs {
            ys.push(t.1 & m);
            if selector {
                ys.push((t.1 ^ t.0) & m);
                flips.push(t.3);
                flips.push(!t.3);
            }
        }
        let mut r = rng(seed);
        prop_assert_eq!(eval(&p, &xs, &sel, &ys, &flips, &mut r), expect(&p, &xs, &sel, &ys, &flips));
    }
}

#[test]
fn invalid_inputs_are_errors() {
    let mut r = rng(7);
    let p = MillionaireParams::new(8, Relation::Lt);
    let (ra, rb) = ideal_rots(p.rot_demand(2).unwrap(), &mut r);
    assert!(matches!(
        Millionaire::new_a(&p, vec![1, 256], vec![], ra.clone()),
        Err(MillionaireError::InputRange { index: 1, bits: 8 })
    ));
    assert!(matches!(
        Millionaire::new_a(&p, vec![1, 2], vec![true, false], ra.clone()),
        Err(MillionaireError::InputLength { .. })
    ));
    assert!(matches!(
        Millionaire::new_a(&p, vec![1], vec![], ra),
        Err(MillionaireError::Rots(_))
    ));
    assert!(matches!(
        Millionaire::new_b(&p, vec![1, 2], vec![true], rb),
        Err(MillionaireError::InputLength { .. })
    ));
    for bad in [
        MillionaireParams { bits: 0, ..p },
        MillionaireParams { bits: 65, ..p },
        MillionaireParams { digit_bits: 0, ..p },
        MillionaireParams { digit_bits: 9, ..p },
        MillionaireParams { slots: 0, ..p },
        MillionaireParams { slots: 33, ..p },
    ] {
        assert!(matches!(
            bad.rot_demand(1),
            Err(MillionaireError::Params(_))
        ));
    }
}

fn pair(n: usize, r: &mut ChaCha12Rng) -> (Millionaire, Millionaire) {
    let p = MillionaireParams {
        bits: 40,
        digit_bits: 4,
        slots: 1,
        selector: true,
        relation: Relation::Gt,
    };
    let (ra, rb) = ideal_rots(p.rot_demand(n).unwrap(), r);
    let xs = (0..n).map(|_| r.next_u64() & mask(40)).collect();
    let sel = (0..n).map(|_| r.next_u32() & 1 == 1).collect();
    let ys = (0..2 * n).map(|_| r.next_u64() & mask(40)).collect();
    (
        Millionaire::new_a(&p, xs, sel, ra).unwrap(),
        Millionaire::new_b(&p, ys, Vec::new(), rb).unwrap(),
    )
}

/// Every message of a run, tampered structurally, gives an error (never a
/// panic), and the instance refuses to continue afterwards.
#[test]
fn tampered_messages_are_errors() {
    let mut r = rng(8);
    for target in 0..6 {
        let (a, b) = pair(5, &mut r);
        let (_, original) = run_until(a, b, target, &mut r).unwrap();
        for (what, bytes) in tamperings(&original, 1) {
            let (a, b) = pair(5, &mut r);
            let (mut party, _) = run_until(a, b, target, &mut r).unwrap();
            let res = party.receive_bytes(&bytes, &mut r);
            assert!(res.is_err(), "message {target}, {what}: accepted");
            let msg = res.unwrap_err().to_string();
            assert!(msg.starts_with("millionaires:"), "{msg}");
            let again = party.receive_bytes(&original, &mut r);
            assert!(
                matches!(again, Err(MillionaireError::Poisoned)),
                "message {target}, {what}: {again:?}"
            );
        }
    }
}

/// Wrong message kind, replays, wrong counts and early `finish` are errors.
#[test]
fn out_of_order_messages_are_errors() {
    let mut r = rng(9);
    let (mut a, mut b) = pair(3, &mut r);
    let m1 = a.start(&mut r).unwrap().unwrap();
    // A must not receive (its own) choices.
    assert!(matches!(
        a.receive(m1.clone(), &mut r),
        Err(MillionaireError::Unexpected { .. })
    ));
    // B receives the choices twice.
    b.receive(m1.clone(), &mut r).unwrap().unwrap();
    assert!(matches!(
        b.receive(m1, &mut r),
        Err(MillionaireError::Unexpected { .. })
    ));
    // Right kind, wrong count (a batch of 4 against a batch of 3).
    let (_, mut b3) = pair(3, &mut r);
    let (mut a4, _) = pair(4, &mut r);
    let big = a4.start(&mut r).unwrap().unwrap();
    assert!(matches!(
        b3.receive(big, &mut r),
        Err(MillionaireError::Count {
            what: "choices",
            ..
        })
    ));
    // Not finished yet.
    let (a5, _) = pair(2, &mut r);
    assert!(matches!(a5.finish(), Err(MillionaireError::NotDone)));
    // Messages after the end.
    let (mut a6, mut b6) = pair(2, &mut r);
    drive(&mut a6, &mut b6, &mut r);
    let (mut a7, _) = pair(2, &mut r);
    let first = a7.start(&mut r).unwrap().unwrap();
    assert!(a6.receive(first.clone(), &mut r).is_err());
    assert!(b6.receive(first, &mut r).is_err());
    assert_eq!(a6.finish().unwrap().output.len(), 2);
}

#[test]
fn random_bytes_never_panic() {
    let mut r = rng(10);
    for len in 0..200 {
        let bytes: Vec<u8> = (0..len).map(|_| r.next_u32() as u8).collect();
        let _ = CmpMsg::decode(&bytes);
        let mut v = bytes.clone();
        if !v.is_empty() {
            v[0] = 0x53;
        }
        if let Ok(m) = CmpMsg::decode(&v) {
            let (a, b) = pair(2, &mut r);
            if let Some((mut p, _)) = run_until(a, b, 3, &mut r) {
                let _ = p.receive(m, &mut r);
            }
        }
    }
}

#[test]
fn debug_output_is_redacted() {
    let mut r = rng(11);
    let (mut a, _) = pair(2, &mut r);
    let m = a.start(&mut r).unwrap().unwrap();
    let s = format!("{a:?} {m:?}");
    assert!(s.contains("Millionaire") && s.contains("bits"));
    assert!(!s.contains("xs") && !s.contains("true") && !s.contains("false"));
}

#[test]
fn cost_of_64_bit_comparison() {
    let p = MillionaireParams::new(64, Relation::Lt);
    let c = p.cost(1000).unwrap();
    assert_eq!(c.rots.a_receives, 1000 * (64 + 15));
    assert_eq!(c.rots.b_receives, 1000 * 15);
    assert_eq!(c.messages, 6);
    let per = c.bytes_with_ots() as f64 / 1000.0;
    eprintln!(
        "64-bit millionaires: {:.1} B/op of messages, {:.1} B/op with OTs",
        c.message_bytes() as f64 / 1000.0,
        per
    );
    assert!(per < 1700.0);
}
