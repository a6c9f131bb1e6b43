//! Seed corpora of the `engine_msg` and `robust_upload` fuzz targets
//! (`fuzz/corpus/<target>/seed-*`): real frames from two engines run in
//! memory and real worker uploads, so the fuzzer starts past the decoders'
//! first checks. `stored_seeds_decode` (always run) checks that every stored
//! seed still decodes and re-encodes to itself; after a wire change,
//! regenerate with
//! `cargo test --release -p protocols --test fuzz_seeds -- --ignored regenerate`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use mpc_core::FixedParams;
use mpc_core::codec::Message;
use mpc_core::field::Fp;
use mpc_core::prg::Seed;
use mpc_core::wire::{Aggregation, SessionInfo, TrainParams, WorkerToB};
use protocols::mpc::corr::Party;
use protocols::mpc::engine::{Engine, EngineConfig, EngineMsg};
use protocols::round::worker::prepare;
use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;

/// Seeds larger than this are left out (the fuzzer's inputs stay small).
const MAX_SEED: usize = 64 << 10;

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// The first frame of every message kind two engines exchange while they
/// set up and run one small job of each kind.
fn engine_seeds() -> BTreeMap<String, Vec<u8>> {
    let cfg = EngineConfig {
        lookahead_ots: 1 << 10,
        extend_chunk: 1 << 9,
        ..EngineConfig::default()
    };
    let mut a = Engine::new(Party::A, cfg, &Seed([1; 32]));
    let mut b = Engine::new(Party::B, cfg, &Seed([2; 32]));
    let mut to_b: Vec<Vec<u8>> = a.start().unwrap().iter().map(Message::encode).collect();
    let mut to_a: Vec<Vec<u8>> = b.start().unwrap().iter().map(Message::encode).collect();
    for e in [&mut a, &mut b] {
        e.submit_mult(vec![Fp::reduce_u64(3); 2], vec![Fp::reduce_u64(5); 2])
            .unwrap();
        e.submit_drelu(vec![Fp::reduce_u64(7)]).unwrap();
        e.submit_b2a(vec![true, false]).unwrap();
        e.submit_count(vec![true, false, true], 2).unwrap();
        e.submit_coin().unwrap();
    }
    to_b.extend(a.take_outgoing().iter().map(Message::encode));
    to_a.extend(b.take_outgoing().iter().map(Message::encode));
    let mut seeds = BTreeMap::new();
    let mut keep = |from: &str, f: &[u8]| {
        let m = EngineMsg::decode(f).unwrap();
        // Up to two frames of each kind (a job's first and a later message).
        for i in 0..2 {
            let name = format!("seed-{from}-{}-{i}", m.kind().replace(' ', "-"));
            if f.len() <= MAX_SEED && !seeds.contains_key(&name) {
                seeds.insert(name, f.to_vec());
                break;
            }
        }
    };
    for _ in 0..10_000 {
        if let Some(f) = to_b.first().cloned() {
            to_b.remove(0);
            keep("a", &f);
            let r = b.on_frame(&f);
            assert!(r.error.is_none(), "{:?}", r.error);
            to_a.extend(r.send);
        } else if let Some(f) = to_a.first().cloned() {
            to_a.remove(0);
            keep("b", &f);
            let r = a.on_frame(&f);
            assert!(r.error.is_none(), "{:?}", r.error);
            to_b.extend(r.send);
        } else {
            break;
        }
    }
    assert!(a.is_idle() && b.is_idle(), "the jobs finished");
    seeds
}

/// The fuzz target's session for a selector (bit 1: secure-fedavg).
fn fuzz_session(dim: usize, fedavg: bool) -> SessionInfo {
    SessionInfo {
        model: "fuzz".into(),
        dim: dim as u32,
        fixed: FixedParams::default(),
        aggregation: if fedavg {
            Aggregation::SecureFedAvg
        } else {
            Aggregation::SecureFltrust
        },
        clip: if fedavg { 1.0 } else { 0.0 },
        train: TrainParams {
            epochs: 1,
            batch_size: 1,
            lr: 0.1,
        },
        cos_threshold: None,
        k_min: 3,
    }
}

/// Honest uploads to B in the fuzz target's input layout
/// (`dim − 1 | selector | frame`).
fn upload_seeds() -> BTreeMap<String, Vec<u8>> {
    let mut rng = ChaCha12Rng::seed_from_u64(9);
    let mut seeds = BTreeMap::new();
    for (name, fedavg, selector) in [("fltrust", false, 0u8), ("fedavg", true, 2u8)] {
        for dim in [1usize, 8, 64] {
            let delta: Vec<f32> = (0..dim).map(|i| 0.5 - (i % 7) as f32 * 0.1).collect();
            let sub = prepare(&fuzz_session(dim, fedavg), 1, 2, &delta, &mut rng).unwrap();
            let mut input = vec![(dim - 1) as u8, selector];
            input.extend(sub.to_b.unwrap().encode());
            seeds.insert(format!("seed-{name}-d{dim}"), input);
        }
    }
    seeds
}

#[test]
#[ignore = "writes fuzz/corpus; run by hand after a wire change"]
fn regenerate() {
    for (target, seeds) in [
        ("engine_msg", engine_seeds()),
        ("robust_upload", upload_seeds()),
    ] {
        let dir = corpus(target);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed-")
            {
                std::fs::remove_file(p).unwrap();
            }
        }
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

fn stored(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(corpus(target))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed-")
        })
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(p).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn stored_seeds_decode() {
    let engine = stored("engine_msg");
    assert!(engine.len() >= 5, "engine_msg seeds: {}", engine.len());
    for (name, f) in engine {
        let m = EngineMsg::decode(&f).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(m.encode(), f, "{name} re-encodes to itself");
    }
    let uploads = stored("robust_upload");
    assert!(uploads.len() >= 2, "robust_upload seeds: {}", uploads.len());
    for (name, input) in uploads {
        let m = WorkerToB::decode(&input[2..]).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(m.encode(), input[2..], "{name} re-encodes to itself");
    }
}
