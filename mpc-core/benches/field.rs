//! Field and sharing micro-benchmarks.
//!
//! * Our Goldilocks [`Fp`] against `prio::field::Field64` (same modulus,
//!   Montgomery form), side by side in each group: inner product
//!   (multiply-accumulate) and element-wise addition over 2^16-element
//!   vectors, and inversion of one element.
//! * A raw PRG expansion of 270k field elements (what A expands per worker
//!   and purpose; the whole submission is benchmarked in `protocols`).
//!
//! Short on purpose (10 samples, ~2 s per benchmark):
//! `cargo bench -p mpc-core --bench field`.

// Benchmark inputs are valid by construction.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use mpc_core::Seed;
use mpc_core::field::{Fp, add_assign_slice};
use mpc_core::prg::{Domain, Prg, Purpose};
use prio::field::{Field64, FieldElement};

/// Vector length for the field-arithmetic groups.
const VEC_LEN: usize = 1 << 16;
/// Model dimension for the sharing groups (MLP on MNIST, docs/PROTOCOL.md §2).
const DIM: usize = 270_000;

/// Deterministic non-cryptographic inputs (SplitMix64): benchmark data only.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value below p (rejection), used for both field types.
    fn canonical(&mut self) -> u64 {
        loop {
            let v = self.next();
            if v < mpc_core::field::MODULUS {
                return v;
            }
        }
    }
}

/// The same random canonical values as `Fp` and as `Field64`.
fn vectors(rng: &mut SplitMix, len: usize) -> (Vec<Fp>, Vec<Field64>) {
    let raw: Vec<u64> = (0..len).map(|_| rng.canonical()).collect();
    let ours = raw
        .iter()
        .map(|&v| Fp::from_canonical(v).expect("canonical"))
        .collect();
    let prio = raw.iter().map(|&v| Field64::from(v)).collect();
    (ours, prio)
}

fn configure(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
}

fn field_ops(c: &mut Criterion) {
    let mut rng = SplitMix(0x7a6e_6465_6d21);
    let (xa, pa) = vectors(&mut rng, VEC_LEN);
    let (xb, pb) = vectors(&mut rng, VEC_LEN);

    // Both implementations must agree before we time them.
    let ours: Fp = xa.iter().zip(&xb).map(|(&a, &b)| a * b).sum();
    let theirs = pa
        .iter()
        .zip(&pb)
        .fold(Field64::zero(), |acc, (&a, &b)| acc + a * b);
    assert_eq!(ours.value(), u64::from(theirs), "inner products differ");

    let mut g = c.benchmark_group("inner_product_2^16");
    configure(&mut g);
    g.throughput(Throughput::Elements(VEC_LEN as u64));
    g.bench_function("Fp", |bench| {
        bench.iter(|| {
            black_box(&xa)
                .iter()
                .zip(black_box(&xb))
                .fold(Fp::ZERO, |acc, (&a, &b)| acc + a * b)
        })
    });
    g.bench_function("Field64", |bench| {
        bench.iter(|| {
            black_box(&pa)
                .iter()
                .zip(black_box(&pb))
                .fold(Field64::zero(), |acc, (&a, &b)| acc + a * b)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("vec_add_2^16");
    configure(&mut g);
    g.throughput(Throughput::Elements(VEC_LEN as u64));
    let mut acc = xa.clone();
    g.bench_function("Fp", |bench| {
        bench.iter(|| add_assign_slice(black_box(&mut acc), black_box(&xb)))
    });
    let mut pacc = pa.clone();
    g.bench_function("Field64", |bench| {
        bench.iter(|| {
            for (a, &b) in black_box(&mut pacc).iter_mut().zip(black_box(&pb)) {
                *a += b;
            }
        })
    });
    g.finish();

    let x = xa
        .iter()
        .copied()
        .find(|v| *v != Fp::ZERO)
        .expect("nonzero");
    let px = Field64::from(x.value());
    assert_eq!(
        x.inverse().expect("nonzero").value(),
        u64::from(px.inv()),
        "inverses differ"
    );
    let mut g = c.benchmark_group("inverse");
    configure(&mut g);
    g.bench_function("Fp", |bench| bench.iter(|| black_box(x).inverse()));
    g.bench_function("Field64", |bench| bench.iter(|| black_box(px).inv()));
    g.finish();
}

fn sharing(c: &mut Criterion) {
    let seed = Seed([42; 32]);

    let mut g = c.benchmark_group("sharing_d=270k");
    configure(&mut g);
    g.throughput(Throughput::Elements(DIM as u64));
    let mut out = vec![Fp::ZERO; DIM];
    g.bench_function("Prg::fill_fp (270k elements)", |bench| {
        bench.iter(|| {
            let domain = Domain {
                purpose: Purpose::FieldShareA,
                round: 1,
                worker: 2,
            };
            Prg::new(&seed, domain).fill_fp(black_box(&mut out));
        })
    });
    g.finish();
}

criterion_group!(benches, field_ops, sharing);
criterion_main!(benches);
