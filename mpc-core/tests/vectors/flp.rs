//! `mpc_core::flp`: commitments, binder, the proof for fixed randomness, both
//! servers' verifier messages and the verdict.

use mpc_core::codec::encode_field_bytes;
use mpc_core::field::Fp;
use mpc_core::flp::{FlpParams, FlpReject, JointRand, QueryPoint, ValidityCircuit, binder, commit};
use mpc_core::prg::{Domain, Prg, Purpose, Seed};
use mpc_core::share::expand_field_share;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{Value, json};

use super::{hex, load};

pub const FILE: &str = "flp.json";

const ROUND: u64 = 7;
const WORKER: u32 = 3;

fn fps(v: &[Fp]) -> Value {
    v.iter().map(|x| x.value()).collect()
}

fn from_json(v: &Value) -> Vec<Fp> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| Fp::from_canonical(x.as_u64().expect("u64")).expect("canonical"))
        .collect()
}

struct Case {
    name: &'static str,
    params: FlpParams,
    xs: Vec<i64>,
    /// κ as integers: 0/1 for an honest worker.
    kappa: Vec<i64>,
}

fn cases() -> Vec<Case> {
    let small = FlpParams {
        dim: 4,
        n_lo: 20,
        n_hi: 60,
    };
    // Σ X² = 9 + 4 + 16 + 1 = 30.
    let xs = vec![3, -2, 4, 1];
    let kappa = vec![1, 0, 0, 1];
    // dim 64: several gadget calls per category; Σ X² = 64·9 = 576.
    let wide = FlpParams {
        dim: 64,
        n_lo: 500,
        n_hi: 700,
    };
    vec![
        Case {
            name: "valid-dim4",
            params: small,
            xs: xs.clone(),
            kappa: kappa.clone(),
        },
        Case {
            name: "carry-not-a-bit-dim4",
            params: small,
            xs,
            kappa: vec![2, 0, 0, 1],
        },
        Case {
            name: "valid-dim64",
            params: wide,
            xs: (0..64).map(|k| if k % 2 == 0 { 3 } else { -3 }).collect(),
            kappa: (0..64).map(|k| i64::from(k % 3 == 0)).collect(),
        },
    ]
}

fn verdict(r: Result<(), FlpReject>) -> String {
    match r {
        Ok(()) => "accept".into(),
        Err(e) => format!("{e:?}"),
    }
}

fn case(c: &Case) -> Value {
    let circuit = ValidityCircuit::new(c.params).expect("params");
    let norm: i64 = c.xs.iter().map(|x| x * x).sum();
    let beta = circuit
        .range_bits_for(u64::try_from(norm).expect("norm"))
        .expect("norm in window");
    let mut input: Vec<Fp> =
        c.xs.iter()
            .chain(&c.kappa)
            .map(|&v| Fp::from_i64(v))
            .collect();
    input.extend_from_slice(&beta);

    // Shares as the product makes them: A's expanded from a seed, B's = x − A.
    let seed_a = Seed([0x5a; 32]);
    let input_a = expand_field_share(&seed_a, ROUND, WORKER, input.len());
    let input_b: Vec<Fp> = input.iter().zip(&input_a).map(|(&x, &a)| x - a).collect();
    let commit_a = commit(b"A", &[0xa1; 32], &encode_field_bytes(&input_a));
    let commit_b = commit(b"B", &[0xb1; 32], &encode_field_bytes(&input_b));
    let bind = binder(b"tandem-kat", ROUND, WORKER, &commit_a, &commit_b);
    let joint = JointRand::derive(&circuit, &bind);

    // The wire blinds from a fixed ChaCha20 stream (the product uses the OS).
    let mut rng = ChaCha20Rng::from_seed([0x42; 32]);
    let proof = circuit.prove(&input, &joint, &mut rng).expect("prove");
    let mut proof_a = vec![Fp::ZERO; proof.len()];
    Prg::new(
        &seed_a,
        Domain {
            purpose: Purpose::ProofShareA,
            round: ROUND,
            worker: WORKER,
        },
    )
    .fill_fp(&mut proof_a);
    let proof_b: Vec<Fp> = proof.iter().zip(&proof_a).map(|(&p, &a)| p - a).collect();

    let coin = [0xc0; 32];
    let t = QueryPoint::derive(&circuit, &coin);
    let va = circuit
        .query(&input_a, &proof_a, &joint, t, true)
        .expect("query A");
    let vb = circuit
        .query(&input_b, &proof_b, &joint, t, false)
        .expect("query B");
    json!({
        "name": c.name,
        "params": { "dim": c.params.dim, "n_lo": c.params.n_lo, "n_hi": c.params.n_hi },
        "layout": {
            "range_bits": circuit.range_bits(),
            "gadget_arity": circuit.gadget_arity(),
            "calls": circuit.calls(),
            "n_dom": circuit.n_dom(),
            "joint_rand_len": circuit.joint_rand_len(),
            "proof_len": circuit.proof_len(),
            "verifier_len": circuit.verifier_len(),
        },
        "input": fps(&input),
        "commit_a": hex(&commit_a),
        "commit_b": hex(&commit_b),
        "binder": hex(&bind),
        "prove_rng": "ChaCha20Rng::from_seed([0x42; 32])",
        "proof": fps(&proof),
        "query_coin": hex(&coin),
        "verifier_a": fps(&va),
        "verifier_b": fps(&vb),
        "decide": verdict(circuit.decide(&va, &vb)),
    })
}

pub fn compute() -> Value {
    json!({
        "description": "mpc_core::flp: input shares (A's from seed 0x5a.. via share::expand_field_share, round 7, worker 3), commitments, binder, proof (blinds from the stated RNG), proof shares (A's from Purpose::ProofShareA), verifier messages of leader A and helper B, verdict; field elements as canonical u64",
        "cases": cases().iter().map(case).collect::<Vec<_>>(),
    })
}

/// The stored verifier messages decide as stored (independently of the
/// prover: a change in `decide` alone shows up here).
pub fn stored_verdicts_hold() {
    let stored = load(FILE);
    for c in stored["cases"].as_array().expect("cases") {
        let p = &c["params"];
        let params = FlpParams {
            dim: usize::try_from(p["dim"].as_u64().expect("dim")).expect("dim"),
            n_lo: p["n_lo"].as_u64().expect("n_lo"),
            n_hi: p["n_hi"].as_u64().expect("n_hi"),
        };
        let circuit = ValidityCircuit::new(params).expect("params");
        let got =
            verdict(circuit.decide(&from_json(&c["verifier_a"]), &from_json(&c["verifier_b"])));
        assert_eq!(Value::String(got), c["decide"], "{}", c["name"]);
    }
}
