//! The 2PC engine in process (both parties in one thread, every message
//! through its encoding): what the servers compute, without the network.
//!
//! - `engine/selftest_1000`: 1000 DReLUs + 1000 multiplications from scratch,
//!   base OTs both ways, IKNP, triples included (the `bench engine` workload).
//! - `engine/base_ots`: the IKNP setup alone (128 base OTs each way).
//! - `engine/triples_1000`: 1000 multiplications on a set-up engine: IKNP
//!   for their OTs, triple generation, the multiplication.
//! - `engine/drelu_1000`: 1000 DReLUs on a set-up engine, IKNP included.
//!
//! Run: `cargo bench -p protocols --bench engine`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mpc_core::Seed;
use mpc_core::field::Fp;
use protocols::mpc::corr::Party;
use protocols::mpc::engine::{Engine, EngineConfig, EngineOutput, run_local};

const N: usize = 1000;

fn seed(x: u8) -> Seed {
    Seed([x; 32])
}

fn pair() -> (Engine, Engine) {
    (
        Engine::new(Party::A, EngineConfig::default(), &seed(1)),
        Engine::new(Party::B, EngineConfig::default(), &seed(2)),
    )
}

/// Two engines after the base OTs (no job yet).
fn set_up() -> (Engine, Engine) {
    let (mut a, mut b) = pair();
    let (ma, mb) = (a.start().unwrap(), b.start().unwrap());
    run_local(&mut a, &mut b, ma, mb).unwrap();
    (a, b)
}

fn values(n: usize, k: u64) -> Vec<Fp> {
    (0..n as u64)
        .map(|i| Fp::reduce_u64(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ k))
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    g.warm_up_time(std::time::Duration::from_millis(500));
    g.measurement_time(std::time::Duration::from_secs(3));

    g.bench_function("selftest_1000", |bch| {
        bch.iter_batched(
            pair,
            |(mut a, mut b)| {
                a.submit_selftest(N).unwrap();
                let ma = a.start().unwrap();
                run_local(&mut a, &mut b, ma, Vec::new()).unwrap();
                let ok = std::iter::from_fn(|| a.poll_output()).any(
                    |o| matches!(o, EngineOutput::SelfTest { report, .. } if report.correct()),
                );
                assert!(ok);
            },
            BatchSize::PerIteration,
        )
    });

    g.bench_function("base_ots", |bch| {
        bch.iter_batched(
            pair,
            |(mut a, mut b)| {
                let (ma, mb) = (a.start().unwrap(), b.start().unwrap());
                run_local(&mut a, &mut b, ma, mb).unwrap();
            },
            BatchSize::PerIteration,
        )
    });

    g.bench_function("triples_1000", |bch| {
        bch.iter_batched(
            set_up,
            |(mut a, mut b)| {
                a.submit_mult(values(N, 1), values(N, 2)).unwrap();
                b.submit_mult(values(N, 3), values(N, 4)).unwrap();
                let (ma, mb) = (a.take_outgoing(), b.take_outgoing());
                run_local(&mut a, &mut b, ma, mb).unwrap();
                assert!(matches!(a.poll_output(), Some(EngineOutput::Mult { .. })));
            },
            BatchSize::PerIteration,
        )
    });

    g.bench_function("drelu_1000", |bch| {
        bch.iter_batched(
            set_up,
            |(mut a, mut b)| {
                let va = values(N, 5);
                let vb: Vec<Fp> = va.iter().map(|&x| -x + Fp::from_i64(7)).collect();
                a.submit_drelu(va).unwrap();
                b.submit_drelu(vb).unwrap();
                let (ma, mb) = (a.take_outgoing(), b.take_outgoing());
                run_local(&mut a, &mut b, ma, mb).unwrap();
                assert!(matches!(a.poll_output(), Some(EngineOutput::Drelu { .. })));
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
