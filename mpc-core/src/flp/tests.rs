#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

const P: u64 = MODULUS;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn bytes32(r: &mut ChaCha20Rng) -> [u8; 32] {
    let mut b = [0u8; 32];
    r.fill_bytes(&mut b);
    b
}

fn fp(v: u64) -> Fp {
    Fp::from_canonical(v).unwrap()
}

/// Unit-ish integer coordinates (Σ X² ≈ 2^32), random carries; returns X, κ, N.
fn coords(dim: usize, r: &mut ChaCha20Rng) -> (Vec<i64>, Vec<u64>, u64) {
    let a = ((65536.0 * (3.0 / dim as f64).sqrt()) as i64).max(1);
    let xs: Vec<i64> = (0..dim)
        .map(|_| (r.next_u64() % (2 * a as u64 + 1)) as i64 - a)
        .collect();
    let kappa: Vec<u64> = (0..dim).map(|_| r.next_u64() & 1).collect();
    let n: u64 = xs.iter().map(|&x| (x * x) as u64).sum();
    (xs, kappa, n)
}

fn assemble(xs: &[i64], kappa: &[u64], beta: &[Fp]) -> Vec<Fp> {
    xs.iter()
        .map(|&x| Fp::from_i64(x))
        .chain(kappa.iter().map(|&k| Fp::reduce_u64(k)))
        .chain(beta.iter().copied())
        .collect()
}

/// An honest input for a random window around its norm.
fn honest(dim: usize, r: &mut ChaCha20Rng) -> (ValidityCircuit, Vec<Fp>) {
    let (xs, kappa, n) = coords(dim, r);
    let below = r.next_u64() % (1 << 28);
    let above = r.next_u64() % (1 << 28);
    let circuit = ValidityCircuit::new(FlpParams {
        dim,
        n_lo: n.saturating_sub(below),
        n_hi: n + above,
    })
    .unwrap();
    let beta = circuit.range_bits_for(n).unwrap();
    (circuit, assemble(&xs, &kappa, &beta))
}

fn share(x: &[Fp], r: &mut ChaCha20Rng) -> (Vec<Fp>, Vec<Fp>) {
    let a: Vec<Fp> = x.iter().map(|_| random_fp(r)).collect();
    let b = x.iter().zip(&a).map(|(&x, &a)| x - a).collect();
    (a, b)
}

/// Both servers' verifier messages for a shared input and proof.
fn messages(
    circuit: &ValidityCircuit,
    x: &[Fp],
    proof: &[Fp],
    joint: &JointRand,
    t: QueryPoint,
    r: &mut ChaCha20Rng,
) -> (Vec<Fp>, Vec<Fp>) {
    let (xa, xb) = share(x, r);
    let (pa, pb) = share(proof, r);
    let va = circuit.query(&xa, &pa, joint, t, true).unwrap();
    let vb = circuit.query(&xb, &pb, joint, t, false).unwrap();
    assert_eq!(va.len(), circuit.verifier_len());
    (va, vb)
}

/// Fresh joint randomness and query point, prove, share, query, decide.
fn run(circuit: &ValidityCircuit, x: &[Fp], r: &mut ChaCha20Rng) -> Result<(), FlpReject> {
    let joint = JointRand::derive(circuit, &bytes32(r));
    let t = QueryPoint::derive(circuit, &bytes32(r));
    let proof = circuit.prove(x, &joint, r).unwrap();
    assert_eq!(proof.len(), circuit.proof_len());
    let (va, vb) = messages(circuit, x, &proof, &joint, t, r);
    circuit.decide(&va, &vb)
}

/// All five check results for an honestly computed proof of `x`.
fn flags(circuit: &ValidityCircuit, x: &[Fp], r: &mut ChaCha20Rng) -> [bool; 5] {
    let joint = JointRand::derive(circuit, &bytes32(r));
    let t = QueryPoint::derive(circuit, &bytes32(r));
    let proof = circuit.prove(x, &joint, r).unwrap();
    let (va, vb) = messages(circuit, x, &proof, &joint, t, r);
    circuit.checks(&va, &vb).unwrap()
}

#[test]
fn honest_inputs_are_accepted() {
    let mut r = rng(1);
    for dim in [1usize, 2, 3, 10, 100, 1000, 10_000] {
        for _ in 0..3 {
            let (circuit, x) = honest(dim, &mut r);
            assert_eq!(x.len(), circuit.input_len());
            assert_eq!(run(&circuit, &x, &mut r), Ok(()), "dim {dim}");
        }
    }
}

#[test]
fn honest_input_270k_is_accepted() {
    let mut r = rng(2);
    let (circuit, x) = honest(270_000, &mut r);
    assert_eq!(run(&circuit, &x, &mut r), Ok(()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn honest_random_windows(dim in 1usize..300, seed in any::<u64>(), below in 0u64..5000, above in 0u64..5000) {
        let mut r = rng(seed);
        let (xs, kappa, n) = coords(dim, &mut r);
        let circuit = ValidityCircuit::new(FlpParams { dim, n_lo: n.saturating_sub(below), n_hi: n + above }).unwrap();
        let beta = circuit.range_bits_for(n).unwrap();
        let x = assemble(&xs, &kappa, &beta);
        prop_assert_eq!(run(&circuit, &x, &mut r), Ok(()));
    }

    #[test]
    fn a_bad_carry_anywhere_is_rejected(dim in 1usize..200, seed in any::<u64>(), bad in 2u64..P) {
        let mut r = rng(seed);
        let (circuit, mut x) = honest(dim, &mut r);
        let pos = dim + (r.next_u64() as usize % dim);
        x[pos] = fp(bad);
        prop_assert_eq!(flags(&circuit, &x, &mut r), [true, false, false, true, true]);
    }
}

#[test]
fn exact_window_has_no_range_bits() {
    let mut r = rng(3);
    let (xs, kappa, n) = coords(50, &mut r);
    let circuit = ValidityCircuit::new(FlpParams {
        dim: 50,
        n_lo: n,
        n_hi: n,
    })
    .unwrap();
    assert_eq!(circuit.range_bits(), 0);
    let x = assemble(&xs, &kappa, &[]);
    assert_eq!(run(&circuit, &x, &mut r), Ok(()));
    let mut bad = x.clone();
    bad[0] += Fp::ONE;
    assert_ne!(run(&circuit, &bad, &mut r), Ok(()));
}

#[test]
fn range_width_is_minimal() {
    for (lo, hi, w) in [
        (0u64, 0u64, 0usize),
        (5, 6, 1),
        (5, 7, 2),
        (0, 255, 8),
        (0, 256, 9),
    ] {
        let c = ValidityCircuit::new(FlpParams {
            dim: 1,
            n_lo: lo,
            n_hi: hi,
        })
        .unwrap();
        assert_eq!(c.range_bits(), w, "{lo}..{hi}");
        assert!(hi - lo < (1u64 << w));
        assert_eq!(c.input_len(), 2 + 2 * w);
    }
}

#[test]
fn non_bit_carries_fail_both_bit_checks() {
    let mut r = rng(4);
    let bads = [2, P.div_ceil(2), P - 1, 1u64 << 32];
    for dim in [1usize, 10, 1000] {
        for bad in bads {
            let (circuit, mut x) = honest(dim, &mut r);
            let pos = dim + (r.next_u64() as usize % dim);
            x[pos] = fp(bad);
            assert_eq!(
                flags(&circuit, &x, &mut r),
                [true, false, false, true, true],
                "dim {dim}"
            );
            assert_eq!(run(&circuit, &x, &mut r), Err(FlpReject::Bits1));
        }
    }
}

/// A non-bit at the first, a middle, the last full-row and the very last bit
/// term (the partial last row of the tensor-structured randomness).
#[test]
fn non_bit_at_layout_edges_is_rejected() {
    let mut r = rng(16);
    for dim in [1usize, 5, 99, 4096] {
        let (circuit, x) = honest(dim, &mut r);
        let terms = circuit.bit_terms();
        let c = circuit.gadget_arity() / 2;
        let full_rows_end = (terms / c) * c;
        let mut positions = vec![0, terms / 2, terms - 1, c - 1];
        if full_rows_end > 0 {
            positions.push(full_rows_end - 1);
        }
        for pos in positions.into_iter().filter(|&p| p < terms) {
            let mut bad = x.clone();
            bad[dim + pos] += fp(2);
            let f = flags(&circuit, &bad, &mut r);
            assert!(f[0] && !f[1] && !f[2], "dim {dim} pos {pos}");
        }
    }
}

/// A β entry that is not a bit but keeps Σ 2^j βlo_j right: only the bit checks catch it.
#[test]
fn non_bit_range_entry_is_rejected() {
    let mut r = rng(5);
    let (xs, kappa, n) = coords(100, &mut r);
    let circuit = ValidityCircuit::new(FlpParams {
        dim: 100,
        n_lo: n - 5,
        n_hi: n + 1000,
    })
    .unwrap();
    let w = circuit.range_bits();
    let mut beta = circuit.range_bits_for(n).unwrap();
    for b in beta.iter_mut().take(w) {
        *b = Fp::ZERO;
    }
    beta[0] = fp(5);
    let x = assemble(&xs, &kappa, &beta);
    assert_eq!(
        flags(&circuit, &x, &mut r),
        [true, false, false, true, true]
    );
    assert_eq!(run(&circuit, &x, &mut r), Err(FlpReject::Bits1));
    // A high-side entry of 2 (wrong sum too).
    let mut beta = circuit.range_bits_for(n).unwrap();
    beta[w] = fp(2);
    let x = assemble(&xs, &kappa, &beta);
    let f = flags(&circuit, &x, &mut r);
    assert!(f[0] && !f[1] && !f[2] && f[3]);
}

fn bits_of(v: u64, w: usize) -> Vec<Fp> {
    (0..w).map(|j| Fp::reduce_u64((v >> j) & 1)).collect()
}

#[test]
fn norm_outside_window_is_rejected() {
    let mut r = rng(6);
    for dim in [1usize, 7, 500] {
        let (xs, kappa, n) = coords(dim, &mut r);
        // Below: N = n_lo − 1. No w-bit vector equals N − n_lo = −1.
        let circuit = ValidityCircuit::new(FlpParams {
            dim,
            n_lo: n + 1,
            n_hi: n + 100,
        })
        .unwrap();
        let w = circuit.range_bits();
        for lo in [0u64, 1, (1 << w) - 1] {
            let mut beta = bits_of(lo, w);
            beta.extend(bits_of(100, w));
            let x = assemble(&xs, &kappa, &beta);
            assert_eq!(flags(&circuit, &x, &mut r), [true, true, true, false, true]);
            assert_eq!(run(&circuit, &x, &mut r), Err(FlpReject::NormLow));
        }
        // Above: N = n_hi + 1.
        let circuit = ValidityCircuit::new(FlpParams {
            dim,
            n_lo: n.saturating_sub(100),
            n_hi: n - 1,
        })
        .unwrap();
        let w = circuit.range_bits();
        for hi in [0u64, 1, (1 << w) - 1] {
            let mut beta = bits_of(n - circuit.params().n_lo, w);
            beta.extend(bits_of(hi, w));
            let x = assemble(&xs, &kappa, &beta);
            assert_eq!(flags(&circuit, &x, &mut r), [true, true, true, true, false]);
            assert_eq!(run(&circuit, &x, &mut r), Err(FlpReject::NormHigh));
        }
    }
}

#[test]
fn wrong_low_sum_is_rejected() {
    let mut r = rng(7);
    let (xs, kappa, n) = coords(300, &mut r);
    let circuit = ValidityCircuit::new(FlpParams {
        dim: 300,
        n_lo: n - 1000,
        n_hi: n + 1000,
    })
    .unwrap();
    let w = circuit.range_bits();
    let mut beta = bits_of(1001, w);
    beta.extend(bits_of(1000, w));
    let x = assemble(&xs, &kappa, &beta);
    assert_eq!(run(&circuit, &x, &mut r), Err(FlpReject::NormLow));
    let mut beta = bits_of(1000, w);
    beta.extend(bits_of(999, w));
    let x = assemble(&xs, &kappa, &beta);
    assert_eq!(run(&circuit, &x, &mut r), Err(FlpReject::NormHigh));
}

#[test]
fn huge_coordinates_wrapping_the_field_are_rejected() {
    // X = 2^32 has X² ≡ −2^32 + 1 … any N: with a window that cannot contain it.
    let mut r = rng(8);
    let dim = 4;
    let circuit = ValidityCircuit::new(FlpParams {
        dim,
        n_lo: 1 << 32,
        n_hi: (1 << 32) + (1 << 20),
    })
    .unwrap();
    let w = circuit.range_bits();
    let xs = [1i64 << 32, 0, 0, 0];
    for lo in [0u64, 12345, (1 << w) - 1] {
        let mut beta = bits_of(lo, w);
        beta.extend(bits_of(0, w));
        let x = assemble(&xs, &[0, 1, 0, 1], &beta);
        assert!(run(&circuit, &x, &mut r).is_err());
    }
}

#[test]
fn proof_for_another_input_is_rejected() {
    let mut r = rng(9);
    for dim in [2usize, 100, 5000] {
        let (circuit, x) = honest(dim, &mut r);
        // Same norm (coordinates swapped) so the other input is honest too.
        let mut other = x.clone();
        other.swap(0, 1);
        other[dim] = Fp::ONE - x[dim];
        assert_ne!(other, x);
        let joint = JointRand::derive(&circuit, &bytes32(&mut r));
        let t = QueryPoint::derive(&circuit, &bytes32(&mut r));
        let proof = circuit.prove(&other, &joint, &mut r).unwrap();
        let (va, vb) = messages(&circuit, &other, &proof, &joint, t, &mut r);
        assert_eq!(circuit.decide(&va, &vb), Ok(()));
        let (va, vb) = messages(&circuit, &x, &proof, &joint, t, &mut r);
        assert_eq!(circuit.decide(&va, &vb), Err(FlpReject::Gadget));
    }
}

#[test]
fn tampered_proof_is_rejected() {
    let mut r = rng(10);
    let (circuit, x) = honest(1000, &mut r);
    let joint = JointRand::derive(&circuit, &bytes32(&mut r));
    let t = QueryPoint::derive(&circuit, &bytes32(&mut r));
    let proof = circuit.prove(&x, &joint, &mut r).unwrap();
    let l = circuit.gadget_arity();
    let len = proof.len();
    let mut positions = vec![0, 1, l - 1, l, l + 1, l + 2, l + 3, len - 2, len - 1];
    positions.extend((0..20).map(|_| r.next_u64() as usize % len));
    for pos in positions {
        for delta in [Fp::ONE, Fp::from_i64(-1), random_fp(&mut r)] {
            let mut bad = proof.clone();
            bad[pos] += delta;
            let (va, vb) = messages(&circuit, &x, &bad, &joint, t, &mut r);
            assert_eq!(
                circuit.decide(&va, &vb),
                Err(FlpReject::Gadget),
                "pos {pos}"
            );
        }
    }
}

#[test]
fn proof_replayed_under_other_joint_rand_is_rejected() {
    let mut r = rng(11);
    for dim in [1usize, 64, 2000] {
        let (circuit, x) = honest(dim, &mut r);
        let j1 = JointRand::derive(&circuit, &bytes32(&mut r));
        let j2 = JointRand::derive(&circuit, &bytes32(&mut r));
        let t = QueryPoint::derive(&circuit, &bytes32(&mut r));
        let proof = circuit.prove(&x, &j1, &mut r).unwrap();
        let (va, vb) = messages(&circuit, &x, &proof, &j2, t, &mut r);
        assert_eq!(circuit.decide(&va, &vb), Err(FlpReject::Gadget));
    }
}

#[test]
fn constants_belong_to_exactly_one_server() {
    let mut r = rng(12);
    let (circuit, x) = honest(100, &mut r);
    let joint = JointRand::derive(&circuit, &bytes32(&mut r));
    let t = QueryPoint::derive(&circuit, &bytes32(&mut r));
    let proof = circuit.prove(&x, &joint, &mut r).unwrap();
    let (xa, xb) = share(&x, &mut r);
    let (pa, pb) = share(&proof, &mut r);
    for (la, lb) in [(false, false), (true, true)] {
        let va = circuit.query(&xa, &pa, &joint, t, la).unwrap();
        let vb = circuit.query(&xb, &pb, &joint, t, lb).unwrap();
        assert!(circuit.decide(&va, &vb).is_err());
    }
    let va = circuit.query(&xa, &pa, &joint, t, false).unwrap();
    let vb = circuit.query(&xb, &pb, &joint, t, true).unwrap();
    assert_eq!(circuit.decide(&va, &vb), Ok(()));
}

#[test]
fn wrong_lengths_are_errors() {
    let mut r = rng(13);
    let (circuit, x) = honest(50, &mut r);
    let joint = JointRand::derive(&circuit, &bytes32(&mut r));
    let t = QueryPoint::derive(&circuit, &bytes32(&mut r));
    let proof = circuit.prove(&x, &joint, &mut r).unwrap();
    let short = &x[..x.len() - 1];
    let mut long = x.clone();
    long.push(Fp::ZERO);
    for bad in [short, &long[..], &[]] {
        assert!(matches!(
            circuit.prove(bad, &joint, &mut r),
            Err(FlpError::InputLength { .. })
        ));
        assert!(matches!(
            circuit.query(bad, &proof, &joint, t, true),
            Err(FlpError::InputLength { .. })
        ));
    }
    assert!(matches!(
        circuit.query(&x, &proof[1..], &joint, t, true),
        Err(FlpError::ProofLength { .. })
    ));
    let other = ValidityCircuit::new(FlpParams {
        dim: 51,
        ..circuit.params()
    })
    .unwrap();
    let other_joint = JointRand::derive(&other, &[0; 32]);
    assert!(matches!(
        circuit.prove(&x, &other_joint, &mut r),
        Err(FlpError::JointRandLength { .. })
    ));
    assert!(matches!(
        circuit.query(&x, &proof, &other_joint, t, true),
        Err(FlpError::JointRandLength { .. })
    ));
    let v = circuit.query(&x, &proof, &joint, t, true).unwrap();
    assert!(matches!(
        circuit.decide(&v, &v[1..]),
        Err(FlpReject::Length { .. })
    ));
    assert!(matches!(
        circuit.decide(&[], &[]),
        Err(FlpReject::Length { .. })
    ));
}

#[test]
fn bad_params_are_errors() {
    let p = |dim, n_lo, n_hi| ValidityCircuit::new(FlpParams { dim, n_lo, n_hi });
    assert!(matches!(p(0, 0, 1), Err(FlpError::Dimension { .. })));
    assert!(matches!(
        p(MAX_DIM + 1, 0, 1),
        Err(FlpError::Dimension { .. })
    ));
    assert!(matches!(p(1, 2, 1), Err(FlpError::Window)));
    assert!(matches!(p(1, 0, N_HI_LIMIT), Err(FlpError::Window)));
    let c = p(1, 0, N_HI_LIMIT - 1).unwrap();
    assert_eq!(c.range_bits(), 62);
    assert_eq!(c.range_bits_for(N_HI_LIMIT), Err(FlpError::OutsideWindow));
    let c = p(1, 10, 20).unwrap();
    assert_eq!(c.range_bits_for(9), Err(FlpError::OutsideWindow));
    assert_eq!(c.range_bits_for(21), Err(FlpError::OutsideWindow));
    assert_eq!(c.range_bits_for(10).unwrap().len(), 2 * c.range_bits());
}

#[test]
fn query_point_excludes_roots_of_unity() {
    let c = ValidityCircuit::new(FlpParams {
        dim: 10,
        n_lo: 0,
        n_hi: 10,
    })
    .unwrap();
    let log2n = (2 * c.n_dom()).trailing_zeros();
    let w = crate::field::root_of_unity(log2n).unwrap();
    for k in [0u64, 1, 2, 7] {
        assert_eq!(QueryPoint::from_fp(&c, w.pow(k)), Err(FlpError::QueryPoint));
    }
    assert!(QueryPoint::from_fp(&c, fp(12345)).is_ok());
    let t1 = QueryPoint::derive(&c, &[1; 32]);
    assert_eq!(t1, QueryPoint::derive(&c, &[1; 32]));
    assert_ne!(t1, QueryPoint::derive(&c, &[2; 32]));
}

#[test]
fn zero_knowledge_sanity() {
    let mut r = rng(14);
    let (circuit, x) = honest(500, &mut r);
    let joint = JointRand::derive(&circuit, &bytes32(&mut r));
    let t = QueryPoint::derive(&circuit, &bytes32(&mut r));
    let l = circuit.gadget_arity();
    let opened = |r: &mut ChaCha20Rng, x: &[Fp]| {
        let proof = circuit.prove(x, &joint, r).unwrap();
        let (va, vb) = messages(&circuit, x, &proof, &joint, t, r);
        let v: Vec<Fp> = va.iter().zip(&vb).map(|(&a, &b)| a + b).collect();
        // Honest: p(t) = G(f(t)) and all outputs are zero.
        let g: Fp = v[..l].chunks_exact(2).map(|p| p[0] * p[1]).sum();
        assert_eq!(g, v[l]);
        assert!(v[l + 1..].iter().all(|&o| o == Fp::ZERO));
        v
    };
    let v1 = opened(&mut r, &x);
    let v2 = opened(&mut r, &x);
    for i in 0..=l {
        assert_ne!(v1[i], v2[i], "f_{i}(t) repeated across fresh blinds");
    }
    // A different honest input under the same t: the opened wires look alike
    // (uniform): crude check that high bits of the opened f values are balanced.
    let mut other = x.clone();
    other.swap(0, 1);
    let mut high = [0usize; 2];
    for (k, input) in [&x, &other].into_iter().enumerate() {
        for _ in 0..8 {
            let v = opened(&mut r, input);
            high[k] += v[..l].iter().filter(|f| f.value() > P / 2).count();
        }
        let total = 8 * l;
        assert!(
            high[k] * 10 > total * 4 && high[k] * 10 < total * 6,
            "{high:?}"
        );
    }
}

#[test]
fn joint_rand_and_hashes_are_domain_separated() {
    let c = ValidityCircuit::new(FlpParams {
        dim: 20,
        n_lo: 0,
        n_hi: 100,
    })
    .unwrap();
    let c2 = ValidityCircuit::new(FlpParams {
        dim: 20,
        n_lo: 1,
        n_hi: 100,
    })
    .unwrap();
    let j = JointRand::derive(&c, &[3; 32]);
    assert_eq!(j, JointRand::derive(&c, &[3; 32]));
    assert!(j.draws[0] != j.draws[1]);
    assert_ne!(j, JointRand::derive(&c, &[4; 32]));
    assert!(j.draws[0] != JointRand::derive(&c2, &[3; 32]).draws[0]);
    for d in &j.draws {
        assert_eq!(d.row.len() + d.col.len(), c.joint_rand_len());
        assert_eq!(d.row.len(), c.calls_bits);
    }

    let ca = [1u8; 32];
    let cb = [2u8; 32];
    let b = binder(b"ctx", 1, 2, &ca, &cb);
    assert_eq!(b, binder(b"ctx", 1, 2, &ca, &cb));
    assert_ne!(b, binder(b"ctx", 1, 2, &cb, &ca));
    assert_ne!(b, binder(b"ctx", 2, 2, &ca, &cb));
    assert_ne!(b, binder(b"ctx", 1, 3, &ca, &cb));
    assert_ne!(b, binder(b"ctx2", 1, 2, &ca, &cb));
    let k = commit(b"a", &[9; 32], b"bytes");
    assert_ne!(k, commit(b"b", &[9; 32], b"bytes"));
    assert_ne!(k, commit(b"a", &[8; 32], b"bytes"));
    assert_ne!(k, commit(b"a", &[9; 32], b"bytez"));
    // Length prefixes: moving a byte between label and data changes the hash.
    assert_ne!(commit(b"ab", &[0; 32], b""), commit(b"a", &[0; 32], b"b"));
    // The incremental form (B hashes its upload in chunks) is the one-shot
    // form, and it is keyed BLAKE3, not plain BLAKE3 of the same bytes.
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut c = Committer::new(b"a", &[9; 32]);
    c.update(&(data.len() as u64).to_le_bytes());
    for chunk in data.chunks(65_536) {
        c.update(chunk);
    }
    assert_eq!(c.finalize(), commit(b"a", &[9; 32], &data));
    let mut plain = blake3::Hasher::new();
    plain.update(&1u64.to_le_bytes());
    plain.update(b"a");
    plain.update(&[9; 32]);
    plain.update(&5u64.to_le_bytes());
    plain.update(b"bytes");
    assert_ne!(<[u8; 32]>::from(plain.finalize()), k);
    assert!(!format!("{c:?}").contains('9'));
}

#[test]
fn debug_output_hides_values() {
    let c = ValidityCircuit::new(FlpParams {
        dim: 5,
        n_lo: 0,
        n_hi: 9,
    })
    .unwrap();
    let j = JointRand::derive(&c, &[5; 32]);
    let t = QueryPoint::derive(&c, &[6; 32]);
    let dj = format!("{j:?}");
    for v in j.draws.iter().flat_map(|d| d.row.iter().chain(&d.col)) {
        assert!(!dj.contains(&v.value().to_string()));
    }
    assert!(!format!("{t:?}").contains(&t.0.value().to_string()));
    let dc = format!("{c:?}");
    assert!(dc.contains("n_dom"));
    assert!(!dc.contains("Fp("));
}

#[test]
fn layout_is_consistent_and_minimal() {
    for dim in [1usize, 2, 3, 10, 100, 1000, 10_000, 270_000, 1_000_000] {
        for (n_lo, n_hi) in [(0u64, 0u64), (0, 1 << 40), (5, 1 << 20)] {
            let c = ValidityCircuit::new(FlpParams { dim, n_lo, n_hi }).unwrap();
            let bit_terms = c.bit_terms();
            assert!(c.calls() < c.n_dom());
            assert!(c.n_dom().is_power_of_two());
            assert_eq!(c.calls(), call_count(bit_terms, dim, c.c));
            let cost = c.proof_len() + c.verifier_len();
            // Brute force over c for the smaller sizes.
            if dim <= 10_000 {
                for cc in 1..=bit_terms.max(dim) {
                    let n = (call_count(bit_terms, dim, cc) + 1).next_power_of_two();
                    assert!(4 * cc + 2 * n + 5 >= cost, "dim {dim} c {cc}");
                }
            }
        }
    }
}

#[test]
fn extreme_parameters() {
    let mut r = rng(15);
    // Widest window: w = 62.
    let (xs, kappa, n) = coords(3, &mut r);
    let circuit = ValidityCircuit::new(FlpParams {
        dim: 3,
        n_lo: 0,
        n_hi: N_HI_LIMIT - 1,
    })
    .unwrap();
    let x = assemble(&xs, &kappa, &circuit.range_bits_for(n).unwrap());
    assert_eq!(run(&circuit, &x, &mut r), Ok(()));
    // Largest dimension: the layout stays small.
    let c = ValidityCircuit::new(FlpParams {
        dim: MAX_DIM,
        n_lo: 0,
        n_hi: N_HI_LIMIT - 1,
    })
    .unwrap();
    assert!(c.calls() < c.n_dom());
    assert!(c.proof_len() < 40_000, "{}", c.proof_len());
}

#[test]
fn print_sizes() {
    for dim in [10_000usize, 270_000, 1_000_000] {
        let c = ValidityCircuit::new(FlpParams {
            dim,
            n_lo: 0,
            n_hi: (1 << 40) - 1,
        })
        .unwrap();
        println!(
            "d={dim} w={} c={} M={} N_dom={} proof_len={} verifier_len={}",
            c.range_bits(),
            c.gadget_arity() / 2,
            c.calls(),
            c.n_dom(),
            c.proof_len(),
            c.verifier_len()
        );
    }
}
