//! FLP validity proof: worker-side `prove` and one server's `query` at
//! d = 10,000 and d = 270,000 (window width w = 40), single-threaded.
//!
//! `cargo bench -p mpc-core --bench flp`
//!
//! Measured 2026-11-27 on the 2-core build machine while three other builds
//! ran (load average ≈ 7, so medians are inflated; best-of-15 in brackets):
//!
//! | d | prove | query (one server) | JointRand::derive |
//! |---|-------|--------------------|-------------------|
//! | 10,000 | 3.6 ms [1.7 ms] | 0.11 ms [0.05 ms] | 3.4 µs |
//! | 270,000 | 108 ms [70 ms] | 2.4 ms [1.3 ms] | 13 µs |
//! | 1,000,000 | — [287 ms] | — [5.2 ms] | — |

// Benchmark inputs are valid by construction.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mpc_core::field::Fp;
use mpc_core::flp::{FlpParams, JointRand, QueryPoint, ValidityCircuit};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// An honest input: small coordinates, alternating carries, a window around N.
fn setup(dim: usize) -> (ValidityCircuit, Vec<Fp>) {
    let xs: Vec<i64> = (0..dim as i64).map(|k| (k * 7919) % 401 - 200).collect();
    let n: u64 = xs.iter().map(|&x| (x * x) as u64).sum();
    let circuit = ValidityCircuit::new(FlpParams {
        dim,
        n_lo: n.saturating_sub(1 << 39),
        n_hi: n + (1 << 39),
    })
    .expect("valid params");
    let mut x: Vec<Fp> = xs.iter().map(|&v| Fp::from_i64(v)).collect();
    x.extend((0..dim).map(|k| Fp::reduce_u64(k as u64 & 1)));
    x.extend(circuit.range_bits_for(n).expect("in window"));
    (circuit, x)
}

fn flp(c: &mut Criterion) {
    let mut g = c.benchmark_group("flp");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for dim in [10_000usize, 270_000] {
        let (circuit, x) = setup(dim);
        let joint = JointRand::derive(&circuit, &[1; 32]);
        let t = QueryPoint::derive(&circuit, &[2; 32]);
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        g.bench_function(format!("prove/{dim}"), |b| {
            b.iter(|| {
                circuit
                    .prove(black_box(&x), &joint, &mut rng)
                    .expect("prove")
            })
        });
        let proof = circuit.prove(&x, &joint, &mut rng).expect("prove");
        g.bench_function(format!("query/{dim}"), |b| {
            b.iter(|| {
                circuit
                    .query(black_box(&x), black_box(&proof), &joint, t, true)
                    .expect("query")
            })
        });
        g.bench_function(format!("joint_rand/{dim}"), |b| {
            b.iter(|| JointRand::derive(&circuit, black_box(&[1; 32])))
        });
    }
    g.finish();
}

criterion_group!(benches, flp);
criterion_main!(benches);
