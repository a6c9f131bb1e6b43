#![allow(clippy::unwrap_used, clippy::expect_used)]

use mpc_core::field::Fp;
use proptest::prelude::*;

use super::*;
use crate::mpc::arith::codec::ArithMessage;
use crate::mpc::arith::ot::ideal;
use crate::mpc::arith::test_util::{arb_fp, non_canonical, rng, values, wire};

/// Runs one OLE batch through the byte encoding: (sender shares, receiver shares).
fn run(xs: &[Fp], ys: &[Fp], width: usize, seed: u64) -> (Vec<Fp>, Vec<Fp>) {
    let mut g = rng(seed);
    let (so, ro) = ideal::rot(ys.len() * OTS_PER_PRODUCT, &mut g);
    let sender = OleSender::new(xs.to_vec(), width, so).unwrap();
    let (receiver, m1) = OleReceiver::start(ys, width, ro).unwrap();
    let (m2, s_out) = sender.respond(&wire(&m1)).unwrap();
    let r_out = receiver.finish(&wire(&m2)).unwrap();
    assert_eq!(s_out.traffic.bytes_sent, r_out.traffic.bytes_received);
    assert_eq!(s_out.traffic.bytes_received, r_out.traffic.bytes_sent);
    assert_eq!(r_out.traffic.bytes_sent as usize, 5 + 8 * ys.len());
    assert_eq!(
        s_out.traffic.bytes_sent as usize,
        5 + 8 * OTS_PER_PRODUCT * width * ys.len()
    );
    assert_eq!(
        (s_out.traffic.rounds, r_out.traffic.rounds),
        (ROUNDS, ROUNDS)
    );
    (s_out.output, r_out.output)
}

fn check(xs: &[Fp], ys: &[Fp], width: usize, seed: u64) {
    let (s, r) = run(xs, ys, width, seed);
    assert_eq!(s.len(), xs.len());
    assert_eq!(r.len(), xs.len());
    for (j, y) in ys.iter().enumerate() {
        for l in 0..width {
            let k = j * width + l;
            assert_eq!(s[k] + r[k], xs[k] * *y, "product {j} slot {l}");
        }
    }
}

#[test]
fn products_equal_plaintext_100k() {
    let mut g = rng(1);
    let n = 100_000;
    let xs = values(n, &mut g);
    let mut ys = values(n, &mut g);
    ys.rotate_left(3); // pair edges with edges and with random values
    for (b, (x, y)) in xs.chunks(10_000).zip(ys.chunks(10_000)).enumerate() {
        check(x, y, 1, 100 + b as u64);
    }
}

#[test]
fn every_edge_pair() {
    let e = crate::mpc::arith::test_util::edges();
    let xs: Vec<Fp> = e.iter().flat_map(|&x| e.iter().map(move |_| x)).collect();
    let ys: Vec<Fp> = e.iter().flat_map(|_| e.iter().copied()).collect();
    check(&xs, &ys, 1, 2);
}

#[test]
fn vector_ole_equals_plaintext() {
    let mut g = rng(3);
    for width in [2, 3, 8] {
        let ys = values(1000, &mut g);
        let xs = values(1000 * width, &mut g);
        check(&xs, &ys, width, 4 + width as u64);
    }
}

#[test]
fn empty_batch() {
    check(&[], &[], 1, 5);
}

proptest! {
    #[test]
    fn ole_matches_plaintext(
        pairs in proptest::collection::vec((arb_fp(), arb_fp()), 1..40),
        seed in any::<u64>(),
    ) {
        let (xs, ys): (Vec<Fp>, Vec<Fp>) = pairs.into_iter().unzip();
        let (s, r) = run(&xs, &ys, 1, seed);
        for j in 0..xs.len() {
            prop_assert_eq!(s[j] + r[j], xs[j] * ys[j]);
        }
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = OleChoices::decode(&bytes);
        let _ = OleCorrections::decode(&bytes);
    }
}

fn parties(n: usize, seed: u64) -> (OleSender, OleReceiver, OleChoices) {
    let mut g = rng(seed);
    let (so, ro) = ideal::rot(n * OTS_PER_PRODUCT, &mut g);
    let xs = values(n, &mut g);
    let ys = values(n, &mut g);
    let sender = OleSender::new(xs, 1, so).unwrap();
    let (receiver, m1) = OleReceiver::start(&ys, 1, ro).unwrap();
    (sender, receiver, m1)
}

#[test]
fn tampered_choices_are_rejected() {
    let (_, _, m1) = parties(4, 6);
    let bytes = m1.encode();
    // Truncated, extended, empty, wrong tag.
    let short = &bytes[..bytes.len() - 1];
    assert!(matches!(
        OleChoices::decode(short),
        Err(CodecError::Length {
            expected: 37,
            got: 36,
            ..
        })
    ));
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(
        OleChoices::decode(&long),
        Err(CodecError::Length { .. })
    ));
    assert!(matches!(
        OleChoices::decode(&[]),
        Err(CodecError::Truncated { .. })
    ));
    assert!(matches!(
        OleCorrections::decode(&bytes),
        Err(CodecError::WrongTag { .. })
    ));
    // A count that promises more than is there (even a huge one) is a length error.
    let mut huge = bytes.clone();
    huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        OleChoices::decode(&huge),
        Err(CodecError::Length { .. })
    ));
    // Wrong count: a well-formed message for 3 products to a sender of 4.
    let (sender, _, _) = parties(4, 7);
    let (_, _, m3) = parties(3, 8);
    let err = sender.respond(&wire(&m3)).unwrap_err();
    assert_eq!(
        err,
        OleError::Count {
            what: "OLE choices",
            expected: 4,
            got: 3
        }
    );
    assert_eq!(
        err.to_string(),
        "OLE: OLE choices carries 3 entries, expected 4"
    );
}

#[test]
fn tampered_corrections_are_rejected() {
    let (sender, receiver, m1) = parties(4, 9);
    let (m2, _) = sender.respond(&m1).unwrap();
    let bytes = m2.encode();
    // Non-canonical element 5 (flipped bytes ≥ p).
    let bad = non_canonical(bytes.clone(), 5 + 8 * 5);
    let err = OleCorrections::decode(&bad).unwrap_err();
    assert_eq!(
        err,
        CodecError::NonCanonical {
            kind: "OLE corrections",
            index: 5
        }
    );
    assert!(!err.to_string().contains("18446744073709551615"));
    // Exactly p is not canonical either.
    let mut at_p = bytes.clone();
    at_p[5..13].copy_from_slice(&mpc_core::field::MODULUS.to_le_bytes());
    assert!(matches!(
        OleCorrections::decode(&at_p),
        Err(CodecError::NonCanonical { index: 0, .. })
    ));
    // Truncated.
    assert!(matches!(
        OleCorrections::decode(&bytes[..bytes.len() - 3]),
        Err(CodecError::Length { .. })
    ));
    // Wrong count: drop the last element and fix the header.
    let n = m2.len() - 1;
    let mut fewer = bytes[..bytes.len() - 8].to_vec();
    fewer[1..5].copy_from_slice(&(n as u32).to_le_bytes());
    let m = OleCorrections::decode(&fewer).unwrap();
    assert_eq!(
        receiver.finish(&m).unwrap_err(),
        OleError::Count {
            what: "OLE corrections",
            expected: 256,
            got: 255
        }
    );
}

#[test]
fn flipped_correction_changes_result_but_never_panics() {
    let mut g = rng(10);
    let (so, ro) = ideal::rot(64, &mut g);
    let x = Fp::from_i64(5);
    let y = Fp::from_i64(7);
    let sender = OleSender::new(vec![x], 1, so).unwrap();
    let (receiver, m1) = OleReceiver::start(&[y], 1, ro).unwrap();
    let (m2, s) = sender.respond(&m1).unwrap();
    let mut bytes = m2.encode();
    bytes[5] ^= 1; // still canonical with overwhelming probability
    if let Ok(m) = OleCorrections::decode(&bytes) {
        let r = receiver.finish(&m).unwrap();
        // Semi-honest: a tampered (but well-formed) message is not detected,
        // only shape errors are.
        let _ = s.output[0] + r.output[0];
    }
}

#[test]
fn bad_local_inputs_are_errors() {
    let mut g = rng(11);
    let (so, ro) = ideal::rot(64 * 2, &mut g);
    let xs = values(2, &mut g);
    assert_eq!(
        OleSender::new(xs.clone(), 0, ideal::rot(128, &mut g).0).unwrap_err(),
        OleError::Width {
            inputs: 2,
            width: 0
        }
    );
    assert_eq!(
        OleSender::new(xs[..1].to_vec(), 2, ideal::rot(64, &mut g).0).unwrap_err(),
        OleError::Width {
            inputs: 1,
            width: 2
        }
    );
    assert_eq!(
        OleSender::new(xs[..1].to_vec(), 1, so).unwrap_err(),
        OleError::Ots(OtShapeError::Count {
            needed: 64,
            got: 128
        })
    );
    // 64 · 2^20 · 64 = 2^32 corrections would not fit the u32 header.
    let big = vec![Fp::ZERO; 1 << 20];
    assert_eq!(
        OleReceiver::start(&big, 64, ideal::rot(0, &mut g).1).unwrap_err(),
        OleError::TooLarge { n: 1 << 20 }
    );
    let mut ro = ro;
    ro.choices.pop();
    assert_eq!(
        OleReceiver::start(&xs, 1, ro).unwrap_err(),
        OleError::Ots(OtShapeError::Ragged(127, 128))
    );
}

#[test]
fn debug_is_redacted() {
    let mut g = rng(12);
    let (so, _) = ideal::rot(64, &mut g);
    let x = Fp::from_canonical(123_456_789_012).unwrap();
    let sender = OleSender::new(vec![x], 1, so).unwrap();
    let txt = format!("{sender:?}");
    assert!(!txt.contains("123456789012"), "{txt}");
    assert!(txt.contains("products: 1"));
}
