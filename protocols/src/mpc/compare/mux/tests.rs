#![allow(clippy::unwrap_used, clippy::expect_used)]

use mpc_core::field::{Fp, MODULUS};
use proptest::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha12Rng;

use super::*;
use crate::mpc::compare::test_util::{
    drive, ideal_rots, random_fp, rng, run, run_until, share, tamperings,
};

fn eval(params: MuxParams, d: &[bool], v: &[Fp], r: &mut ChaCha12Rng) -> Vec<Fp> {
    let n = d.len();
    let (ra, rb) = ideal_rots(params.rot_demand(n), r);
    let da: Vec<bool> = (0..n).map(|_| r.next_u32() & 1 == 1).collect();
    let db: Vec<bool> = da.iter().zip(d).map(|(a, b)| a ^ b).collect();
    let (va, vb) = match params.mode {
        MuxMode::Product => share(v, r),
        MuxMode::B2a => (Vec::new(), Vec::new()),
    };
    let a = Mux::new(Party::A, params, da, va, ra).unwrap();
    let b = Mux::new(Party::B, params, db, vb, rb).unwrap();
    let cost = a.cost();
    let (fa, fb, flights) = run(a, b, r);
    assert_eq!(flights as u64, cost.messages);
    assert_eq!(fa.traffic.bytes_sent, cost.bytes_a_to_b);
    assert_eq!(fb.traffic.bytes_sent, cost.bytes_b_to_a);
    assert_eq!(fa.traffic.bytes_received, cost.bytes_b_to_a);
    fa.output
        .iter()
        .zip(&fb.output)
        .map(|(a, b)| *a + *b)
        .collect()
}

fn edge_values() -> Vec<Fp> {
    [
        0,
        1,
        2,
        MODULUS - 1,
        MODULUS - 2,
        1 << 32,
        (1 << 32) - 1,
        MODULUS / 2,
        1 << 63,
    ]
    .into_iter()
    .map(|v| Fp::from_canonical(v).unwrap())
    .collect()
}

#[test]
fn product_1e5_values_both_openers() {
    let mut r = rng(1);
    for first in [Party::A, Party::B] {
        let params = MuxParams {
            mode: MuxMode::Product,
            first,
        };
        for _ in 0..5 {
            let n = 10_000;
            let mut v: Vec<Fp> = (0..n).map(|_| random_fp(&mut r)).collect();
            for (k, e) in edge_values().into_iter().enumerate() {
                v[k] = e;
                v[n - 1 - k] = e;
            }
            let d: Vec<bool> = (0..n).map(|_| r.next_u32() & 1 == 1).collect();
            let got = eval(params, &d, &v, &mut r);
            for i in 0..n {
                assert_eq!(got[i], if d[i] { v[i] } else { Fp::ZERO });
            }
        }
    }
}

#[test]
fn b2a_1e5_bits_both_openers() {
    let mut r = rng(2);
    for first in [Party::A, Party::B] {
        let params = MuxParams {
            mode: MuxMode::B2a,
            first,
        };
        let n = 50_000;
        let d: Vec<bool> = (0..n).map(|_| r.next_u32() & 1 == 1).collect();
        let got = eval(params, &d, &[], &mut r);
        for i in 0..n {
            assert_eq!(got[i], Fp::from_i64(i64::from(d[i])));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn prop_product(seed in any::<u64>(), items in proptest::collection::vec((any::<bool>(), 0..MODULUS), 0..50)) {
        let mut r = rng(seed);
        let d: Vec<bool> = items.iter().map(|t| t.0).collect();
        let v: Vec<Fp> = items.iter().map(|t| Fp::from_canonical(t.1).unwrap()).collect();
        let got = eval(MuxParams { mode: MuxMode::Product, first: Party::A }, &d, &v, &mut r);
        for i in 0..d.len() {
            prop_assert_eq!(got[i], if d[i] { v[i] } else { Fp::ZERO });
        }
    }
}

fn pair(n: usize, mode: MuxMode, r: &mut ChaCha12Rng) -> (Mux, Mux) {
    let params = MuxParams {
        mode,
        first: Party::A,
    };
    let (ra, rb) = ideal_rots(params.rot_demand(n), r);
    let bits = |r: &mut ChaCha12Rng| (0..n).map(|_| r.next_u32() & 1 == 1).collect();
    let vals = |r: &mut ChaCha12Rng| match mode {
        MuxMode::Product => (0..n).map(|_| random_fp(r)).collect(),
        MuxMode::B2a => Vec::new(),
    };
    let (ba, va) = (bits(r), vals(r));
    let (bb, vb) = (bits(r), vals(r));
    (
        Mux::new(Party::A, params, ba, va, ra).unwrap(),
        Mux::new(Party::B, params, bb, vb, rb).unwrap(),
    )
}

#[test]
fn tampered_messages_are_errors() {
    let mut r = rng(3);
    for (mode, msgs) in [(MuxMode::Product, 3), (MuxMode::B2a, 2)] {
        for target in 0..msgs {
            let (a, b) = pair(4, mode, &mut r);
            let (_, bytes) = run_until(a, b, target, &mut r).unwrap();
            let mut cases = tamperings(&bytes, 1);
            // A non-canonical field element in the corrections.
            if target > 0 {
                let mut nc = bytes.clone();
                let at = nc.len() - 8;
                nc[at..].copy_from_slice(&u64::MAX.to_le_bytes());
                cases.push(("non-canonical".into(), nc));
            }
            for (what, t) in cases {
                let (a, b) = pair(4, mode, &mut r);
                let (mut p, _) = run_until(a, b, target, &mut r).unwrap();
                let e = p.receive_bytes(&t, &mut r);
                assert!(e.is_err(), "{mode:?} message {target}: {what} accepted");
                assert!(e.unwrap_err().to_string().starts_with("bit×value:"));
                assert!(matches!(
                    p.receive_bytes(&bytes, &mut r),
                    Err(MuxError::Poisoned)
                ));
            }
        }
    }
}

#[test]
fn wrong_inputs_and_order_are_errors() {
    let mut r = rng(4);
    let params = MuxParams {
        mode: MuxMode::Product,
        first: Party::A,
    };
    let (ra, _) = ideal_rots(params.rot_demand(3), &mut r);
    assert!(matches!(
        Mux::new(
            Party::A,
            params,
            vec![true; 3],
            vec![Fp::ONE; 2],
            ra.clone()
        ),
        Err(MuxError::InputLength { .. })
    ));
    assert!(matches!(
        Mux::new(Party::A, params, vec![true; 2], vec![Fp::ONE; 2], ra),
        Err(MuxError::Rots(_))
    ));
    let (mut a, mut b) = pair(3, MuxMode::Product, &mut r);
    let m1 = a.start(&mut r).unwrap().unwrap();
    assert!(matches!(
        a.receive(m1.clone(), &mut r),
        Err(MuxError::Unexpected { .. })
    ));
    let (_, mut b2) = pair(2, MuxMode::Product, &mut r);
    assert!(matches!(
        b2.receive(m1.clone(), &mut r),
        Err(MuxError::Count { .. })
    ));
    b.receive(m1.clone(), &mut r).unwrap();
    assert!(b.receive(m1, &mut r).is_err());
    let (mut a3, mut b3) = pair(3, MuxMode::B2a, &mut r);
    drive(&mut a3, &mut b3, &mut r);
    let (mut a4, _) = pair(3, MuxMode::B2a, &mut r);
    let again = a4.start(&mut r).unwrap().unwrap();
    assert!(b3.receive(again, &mut r).is_err());
    assert!(b3.finish().is_ok());
    let s = format!("{a3:?}");
    assert!(s.contains("Mux") && !s.contains("Fp("));
}
