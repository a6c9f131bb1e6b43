#![allow(clippy::unwrap_used, clippy::expect_used)]

use rand::Rng;
use rand_chacha::ChaCha12Rng;

use super::*;
use crate::mpc::compare::test_util::{ideal_rots, rng, run, run_until, tamperings};

fn eval(n: usize, k: u64, ones: usize, r: &mut ChaCha12Rng) -> bool {
    let mut bits = vec![false; n];
    // `ones` bits set at random positions.
    let mut set = 0;
    while set < ones {
        let i = (r.next_u64() % n as u64) as usize;
        if !bits[i] {
            bits[i] = true;
            set += 1;
        }
    }
    let params = CountParams::new(n, k);
    let (ra, rb) = ideal_rots(params.rot_demand().unwrap(), r);
    let ia: Vec<bool> = (0..n).map(|_| r.next_u32() & 1 == 1).collect();
    let ib: Vec<bool> = ia.iter().zip(&bits).map(|(x, y)| x ^ y).collect();
    let a = Count::new(Party::A, &params, ia, ra).unwrap();
    let b = Count::new(Party::B, &params, ib, rb).unwrap();
    let cost = params.cost().unwrap();
    let (fa, fb, flights) = run(a, b, r);
    assert_eq!(flights as u64, cost.messages);
    assert_eq!(fa.traffic.rounds, cost.messages);
    assert_eq!(fa.traffic.bytes_sent, cost.bytes_a_to_b);
    assert_eq!(fb.traffic.bytes_sent, cost.bytes_b_to_a);
    assert_eq!(fb.traffic.bytes_received, cost.bytes_a_to_b);
    assert_eq!(fa.output, fb.output, "both servers learn the same bit");
    fa.output
}

#[test]
fn both_sides_of_every_threshold() {
    let mut r = rng(1);
    for n in [0usize, 1, 2, 3, 7, 16, 100] {
        for k in [0u64, 1, 2, 3, 8, 50, 99, 100, 101, 1000] {
            let mut cases: Vec<usize> = vec![0, n];
            for c in [k.saturating_sub(1), k, k + 1] {
                if c as usize <= n {
                    cases.push(c as usize);
                }
            }
            for ones in cases {
                assert_eq!(
                    eval(n, k, ones, &mut r),
                    ones as u64 >= k,
                    "n {n} k {k} ones {ones}"
                );
            }
        }
    }
}

#[test]
fn random_counts() {
    let mut r = rng(2);
    for _ in 0..200 {
        let n = 1 + (r.next_u32() % 300) as usize;
        let k = u64::from(r.next_u32() % 320);
        let ones = (r.next_u32() as usize) % (n + 1);
        assert_eq!(eval(n, k, ones, &mut r), ones as u64 >= k);
    }
}

#[test]
fn large_n() {
    let mut r = rng(3);
    // 10^5 bits, k on both sides of the count.
    for (ones, k) in [(50_000, 50_000u64), (49_999, 50_000), (50_001, 50_000)] {
        assert_eq!(eval(100_000, k, ones, &mut r), ones as u64 >= k);
    }
}

fn pair(r: &mut ChaCha12Rng) -> (Count, Count) {
    let params = CountParams::new(5, 3);
    let (ra, rb) = ideal_rots(params.rot_demand().unwrap(), r);
    (
        Count::new(Party::A, &params, vec![true, false, true, true, false], ra).unwrap(),
        Count::new(Party::B, &params, vec![false; 5], rb).unwrap(),
    )
}

#[test]
fn tampered_messages_are_errors() {
    let mut r = rng(4);
    let total = CountParams::new(5, 3).cost().unwrap().messages as usize;
    for target in 0..total {
        let (a, b) = pair(&mut r);
        let (_, bytes) = run_until(a, b, target, &mut r).unwrap();
        for (what, t) in tamperings(&bytes, 2) {
            let (a, b) = pair(&mut r);
            let (mut p, _) = run_until(a, b, target, &mut r).unwrap();
            let e = p.receive_bytes(&t, &mut r);
            assert!(e.is_err(), "message {target}: {what} accepted");
            assert!(e.unwrap_err().to_string().starts_with("count:"));
            assert!(matches!(
                p.receive_bytes(&bytes, &mut r),
                Err(CountError::Poisoned)
            ));
        }
    }
}

#[test]
fn wrong_inputs_are_errors() {
    let mut r = rng(5);
    let params = CountParams::new(5, 3);
    let (ra, _) = ideal_rots(params.rot_demand().unwrap(), &mut r);
    assert!(matches!(
        Count::new(Party::A, &params, vec![true; 4], ra),
        Err(CountError::Params(_))
    ));
    assert!(matches!(
        Count::new(
            Party::A,
            &params,
            vec![true; 5],
            ideal_rots(CountParams::new(6, 3).rot_demand().unwrap(), &mut r).0
        ),
        Err(CountError::Rots(_))
    ));
    assert!(matches!(
        CountParams::new(5, u64::MAX).drelu(),
        Err(CountError::Params(_))
    ));
}

#[test]
fn count_cost() {
    let c = CountParams::new(100, 3).cost().unwrap();
    eprintln!(
        "count n=100 k=3: {} ROTs, {} B of messages, {} B with OTs, {} messages",
        c.rots.total(),
        c.message_bytes(),
        c.bytes_with_ots(),
        c.messages
    );
}
