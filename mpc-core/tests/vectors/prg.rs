//! `mpc_core::prg` and the share expansion built on it (`mpc_core::share`).

use mpc_core::field::Fp;
use mpc_core::prg::{Domain, Prg, Purpose, Seed};
use mpc_core::share::{expand_field_share, share_field};
use serde_json::{Value, json};

use super::hex;

pub const FILE: &str = "prg.json";

/// Every purpose. A new [`Purpose`] fails to compile in [`name`]: add it
/// there *and* here, then regenerate (it gets a new vector).
const ALL: [Purpose; 19] = [
    Purpose::RingMaskA,
    Purpose::CarryShareA,
    Purpose::FieldShareA,
    Purpose::FlpJointRand1,
    Purpose::FlpJointRand2,
    Purpose::FlpQueryPoint,
    Purpose::RangeBitsA,
    Purpose::ProofShareA,
    Purpose::VoleMaskA,
    Purpose::VoleScalarA,
    Purpose::VoleMaskR,
    Purpose::CheckVector,
    Purpose::EngineSession,
    Purpose::WorkerTraining,
    Purpose::AttackOwn,
    Purpose::AttackCollusion,
    Purpose::ProxyUpdate,
    Purpose::SyntheticReference,
    Purpose::SyntheticUpdate,
];

fn name(p: Purpose) -> &'static str {
    match p {
        Purpose::RingMaskA => "RingMaskA",
        Purpose::CarryShareA => "CarryShareA",
        Purpose::FieldShareA => "FieldShareA",
        Purpose::FlpJointRand1 => "FlpJointRand1",
        Purpose::FlpJointRand2 => "FlpJointRand2",
        Purpose::FlpQueryPoint => "FlpQueryPoint",
        Purpose::RangeBitsA => "RangeBitsA",
        Purpose::ProofShareA => "ProofShareA",
        Purpose::VoleMaskA => "VoleMaskA",
        Purpose::VoleScalarA => "VoleScalarA",
        Purpose::VoleMaskR => "VoleMaskR",
        Purpose::CheckVector => "CheckVector",
        Purpose::EngineSession => "EngineSession",
        Purpose::WorkerTraining => "WorkerTraining",
        Purpose::AttackOwn => "AttackOwn",
        Purpose::AttackCollusion => "AttackCollusion",
        Purpose::ProxyUpdate => "ProxyUpdate",
        Purpose::SyntheticReference => "SyntheticReference",
        Purpose::SyntheticUpdate => "SyntheticUpdate",
    }
}

/// The seed every vector expands: bytes 0, 1, …, 31.
pub fn seed() -> Seed {
    Seed(core::array::from_fn(|i| i as u8))
}

fn fps(v: &[Fp]) -> Value {
    v.iter().map(|x| x.value()).collect()
}

fn stream(purpose: Purpose, round: u64, worker: u32) -> Prg {
    Prg::new(
        &seed(),
        Domain {
            purpose,
            round,
            worker,
        },
    )
}

pub fn compute() -> Value {
    // Every purpose: the first field elements of its stream.
    let purposes: Vec<Value> = ALL
        .iter()
        .map(|&p| {
            let mut prg = stream(p, 1, 2);
            let v: Vec<Fp> = (0..4).map(|_| prg.next_fp()).collect();
            json!({ "purpose": name(p), "round": 1, "worker": 2, "next_fp": fps(&v) })
        })
        .collect();

    // Round and worker enter the key in full (all eight / four bytes).
    let wide: Vec<Value> = [
        (0u64, 0u32),
        (u64::MAX, 0),
        (0, u32::MAX),
        (0x0102_0304_0506_0708, 0x0a0b_0c0d),
    ]
    .iter()
    .map(|&(round, worker)| {
        let v = stream(Purpose::RingMaskA, round, worker).next_fp();
        json!({ "round": round, "worker": worker, "next_fp": v.value() })
    })
    .collect();

    // The other expansion functions, each from a fresh stream.
    let mut prg = stream(Purpose::RingMaskA, 1, 2);
    let mut ring: Vec<u32> = (0..4).map(|_| prg.next_ring(18)).collect();
    ring.extend((0..2).map(|_| prg.next_ring(32)));
    let mut fill = vec![Fp::ZERO; 4];
    stream(Purpose::CarryShareA, 1, 2).fill_fp(&mut fill);
    let mut bytes = [0u8; 40];
    stream(Purpose::WorkerTraining, 1, 2).fill_bytes(&mut bytes);

    // Seeds: a child seed, and the seed of a public `--seed` number.
    let domain = |purpose| Domain {
        purpose,
        round: 1,
        worker: 2,
    };
    let child = seed().derive(domain(Purpose::EngineSession));
    let experiment = Seed::from_u64(0x0102_0304_0506_0708);
    let experiment_child = experiment.derive(domain(Purpose::ProxyUpdate));

    // Share expansion (server A's field share from the seed, B's = x − A).
    let x: Vec<Fp> = [0i64, 1, -1, 1 << 40, -(1 << 40)]
        .into_iter()
        .map(Fp::from_i64)
        .collect();

    json!({
        "description": "mpc_core::prg streams (ChaCha8 keyed by SHA-256 of the domain and the seed) and mpc_core::share expansion; field elements as canonical u64",
        "seed": hex(&seed().0),
        "purposes": purposes,
        "round_and_worker": wide,
        "ring_mask_a_1_2": {
            "next_ring_18_x4_then_next_ring_32_x2": ring,
        },
        "carry_share_a_1_2": { "fill_fp_4": fps(&fill) },
        "worker_training_1_2": { "fill_bytes_40": hex(&bytes) },
        "seeds": {
            "derive_engine_session_1_2": hex(&child.0),
            "from_u64_0x0102030405060708": hex(&experiment.0),
            "from_u64_0x0102030405060708_derive_proxy_update_1_2": hex(&experiment_child.0),
        },
        "share": {
            "round": 7,
            "worker": 3,
            "x": fps(&x),
            "expand_field_share": fps(&expand_field_share(&seed(), 7, 3, x.len())),
            "share_field": fps(&share_field(&x, &seed(), 7, 3)),
        },
    })
}
