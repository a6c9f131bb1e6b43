//! Plaintext federated-learning simulation used to tune the defaults (run
//! explicitly; prints per-round accuracy, update norms, cosine similarity with a
//! proxy-set reference update, and training time):
//!
//! `cargo test -p protocols --release -- --ignored --nocapture fedavg_reaches_accuracy`

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::fedavg::{clip_to_norm, l2_norm};

const WORKERS: usize = 20;
const ROUNDS: usize = 20;
/// Train examples `0..PROXY` are server A's proxy (root) set, not given to workers.
const PROXY: usize = 100;

/// CPU seconds used by the calling thread so far (Linux; 0 if unavailable).
fn thread_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/stat") else {
        return 0.0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of proc_pid_stat(5) (utime, stime), in clock ticks (100 Hz).
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Server-side aggregation rule.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Agg {
    /// `global += mean(clip(Δᵢ, C))`.
    FedAvg,
    /// FLTrust: `global += ‖Δ₀‖ · Σ ReLU(cos(Δᵢ, Δ₀)) Δᵢ/‖Δᵢ‖ / Σ ReLU(cos(Δᵢ, Δ₀))`,
    /// with `Δ₀` the same local training run on the proxy set.
    FlTrust,
}

#[derive(Debug)]
struct SimResult {
    accuracy: Vec<f64>,
    train_cpu_s: f64,
    train_wall_s: f64,
}

fn percentile(sorted: &[f32], q: f64) -> f32 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum();
    (dot / f64::from(l2_norm(a)) / f64::from(l2_norm(b))) as f32
}

fn simulate(
    kind: ModelKind,
    partition: Partition,
    agg: Agg,
    cfg: &TrainConfig,
    clip: f32,
    seed: u64,
) -> SimResult {
    let (train, test) = load_mnist(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../data")).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let indices: Vec<usize> = (PROXY..train.len()).collect();
    let parts = partition
        .split(&indices, &train.y, WORKERS, &mut rng)
        .unwrap();
    let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
    let local: Vec<Dataset> = parts.iter().map(|p| train.subset(p)).collect();
    let proxy_idx: Vec<usize> = (0..PROXY).collect();
    let proxy = train.subset(&proxy_idx);
    let mut global = init_params(kind, &mut rng);
    println!(
        "== {kind} {partition} {agg:?} {cfg:?} clip={clip} seed={seed}; worker sizes {sizes:?}"
    );
    let (mut cpu, mut wall) = (0.0, 0.0);
    let mut accuracy = Vec::new();
    for round in 1..=ROUNDS {
        let round_seed = seed ^ ((round as u64) << 32);
        // Reference update on the proxy set (server A's work; not timed).
        let mut prng = ChaCha8Rng::seed_from_u64(round_seed ^ 0xffff);
        let reference: Vec<f32> = train_local(kind, &global, &proxy, cfg, &mut prng)
            .unwrap()
            .iter()
            .zip(&global)
            .map(|(n, g)| n - g)
            .collect();
        let ref_norm = l2_norm(&reference);

        let (c0, w0) = (thread_cpu_seconds(), Instant::now());
        let mut deltas = Vec::with_capacity(WORKERS);
        let mut norms = Vec::with_capacity(WORKERS);
        for (w, data) in local.iter().enumerate() {
            let mut wrng = ChaCha8Rng::seed_from_u64(round_seed ^ w as u64);
            let new = train_local(kind, &global, data, cfg, &mut wrng).unwrap();
            let mut delta: Vec<f32> = new.iter().zip(&global).map(|(n, g)| n - g).collect();
            norms.push(l2_norm(&delta));
            match agg {
                Agg::FedAvg => clip_to_norm(&mut delta, clip),
                Agg::FlTrust => clip_to_norm(&mut delta, 1.0), // normalise to unit norm
            }
            deltas.push(delta);
        }
        let mut cos: Vec<f32> = deltas.iter().map(|d| cosine(d, &reference)).collect();
        let weights: Vec<f32> = match agg {
            Agg::FedAvg => vec![1.0 / WORKERS as f32; WORKERS],
            Agg::FlTrust => {
                let ts: Vec<f32> = cos.iter().map(|c| c.max(0.0)).collect();
                let total: f32 = ts.iter().sum();
                let scale = if total > 0.0 { ref_norm / total } else { 0.0 };
                ts.iter().map(|t| t * scale).collect()
            }
        };
        let accepted = weights.iter().filter(|&&w| w > 0.0).count();
        for (delta, w) in deltas.iter().zip(&weights) {
            global.iter_mut().zip(delta).for_each(|(g, d)| *g += w * d);
        }
        cpu += thread_cpu_seconds() - c0;
        wall += w0.elapsed().as_secs_f64();

        let mean: Vec<f32> = (0..global.len())
            .map(|j| deltas.iter().map(|d| d[j]).sum::<f32>())
            .collect();
        let mut peer_cos: Vec<f32> = deltas.iter().map(|d| cosine(d, &mean)).collect();
        let eval = evaluate(kind, &global, &test).unwrap();
        norms.sort_by(f32::total_cmp);
        cos.sort_by(f32::total_cmp);
        peer_cos.sort_by(f32::total_cmp);
        let clipped = norms.iter().filter(|&&n| n > clip).count();
        println!(
            "round {round:2}: acc {:.4} loss {:.3} | ‖Δ‖ min {:.2} med {:.2} max {:.2} >C {clipped:2} | ‖Δ₀‖ {:.2} cos(Δ,Δ₀) min {:+.2} med {:+.2} accepted {accepted:2} | cos(Δ,ΣΔ) med {:+.2} | cpu {cpu:.2}s wall {wall:.2}s",
            eval.accuracy,
            eval.loss,
            norms[0],
            percentile(&norms, 0.5),
            norms[WORKERS - 1],
            ref_norm,
            cos[0],
            percentile(&cos, 0.5),
            percentile(&peer_cos, 0.5),
        );
        accuracy.push(eval.accuracy);
    }
    SimResult {
        accuracy,
        train_cpu_s: cpu,
        train_wall_s: wall,
    }
}

#[test]
#[ignore = "slow (≈10 s in release); run with --release --ignored --nocapture"]
fn fedavg_reaches_accuracy() {
    let cfg = TrainConfig::default();
    let mlp = ModelKind::default();
    let fed = |kind, part| simulate(kind, part, Agg::FedAvg, &cfg, DEFAULT_CLIP, 1);
    let iid = fed(mlp, Partition::Iid);
    let dir = fed(mlp, Partition::Dirichlet(0.5));
    let lr = fed(ModelKind::LogReg, Partition::Iid);
    for (name, r) in [
        ("fedavg mlp iid", &iid),
        ("fedavg mlp dirichlet:0.5", &dir),
        ("fedavg logreg iid", &lr),
    ] {
        println!(
            "{name}: final acc {:.4}, best {:.4}, train cpu {:.2}s wall {:.2}s",
            r.accuracy[ROUNDS - 1],
            r.accuracy.iter().copied().fold(0.0, f64::max),
            r.train_cpu_s,
            r.train_wall_s
        );
    }
    assert!(iid.accuracy[ROUNDS - 1] >= 0.90, "{iid:?}");
}

/// Manual parameter sweep: `SIM_MODEL=mlp SIM_PART=iid SIM_AGG=fedavg|fltrust
/// SIM_EPOCHS=3 SIM_BATCH=32 SIM_LR=0.2 SIM_CLIP=3 SIM_SEED=1 cargo test -p protocols
/// --release -- --ignored --nocapture fedavg_tune`.
#[test]
#[ignore = "manual tuning"]
fn fedavg_tune() {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    let d = TrainConfig::default();
    let cfg = TrainConfig {
        epochs: env("SIM_EPOCHS", &d.epochs.to_string()).parse().unwrap(),
        batch_size: env("SIM_BATCH", &d.batch_size.to_string()).parse().unwrap(),
        lr: env("SIM_LR", &d.lr.to_string()).parse().unwrap(),
    };
    let agg = match env("SIM_AGG", "fedavg").as_str() {
        "fltrust" => Agg::FlTrust,
        _ => Agg::FedAvg,
    };
    let r = simulate(
        env("SIM_MODEL", "mlp").parse().unwrap(),
        env("SIM_PART", "iid").parse().unwrap(),
        agg,
        &cfg,
        env("SIM_CLIP", &DEFAULT_CLIP.to_string()).parse().unwrap(),
        env("SIM_SEED", "1").parse().unwrap(),
    );
    println!("{r:?}");
}
