//! `bench`: benchmarks between real server processes over QUIC.
//!
//! - `bench engine --ops K [--repeat R]`: starts server B and server A (no
//!   workers, secure-fedavg, `--rounds 0`, `--engine-selftest K`). A runs the
//!   2PC engine with B over their QUIC connection — fresh base OTs both ways,
//!   IKNP, Beaver triples, K DReLUs and K multiplications on random shared
//!   inputs, opened and checked against plaintext — and prints its numbers;
//!   this prints one JSON object with `ops`, `seconds` (engine start to A
//!   holding every output, all preprocessing included), `seconds_with_check`
//!   (plus the opening and check), `bytes_per_drelu`, `cot_per_s` (OTs
//!   extended in both directions per second of `seconds`), `bytes_total`,
//!   `correct`, and `wall_s` (process start to A's result). With `--repeat R`
//!   the processes are started R times; `seconds` and `wall_s` are medians and
//!   `runs` lists every run.
//! - `bench round …`: not implemented yet.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use tandem_harness::{Cluster, ClusterOptions, bin_dir};

/// Benchmarks of tandem between real processes.
#[derive(Debug, Parser)]
#[command(name = "bench", version)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// K DReLUs and K multiplications between server A and server B over QUIC,
    /// all preprocessing (base OTs, IKNP, triples) included.
    Engine {
        /// Operations of each kind.
        #[arg(long, default_value_t = 1000)]
        ops: usize,
        /// Start the processes this many times; report medians.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        /// Working directory (PKI, logs); a temporary one by default.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Full rounds over real processes (not implemented yet).
    Round {
        /// Model dimension.
        #[arg(long)]
        dim: Option<usize>,
        /// Workers.
        #[arg(long)]
        workers: Option<usize>,
    },
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One run: fresh processes, returns A's engine object with `wall_s` added.
fn engine_once(ops: usize, dir: &std::path::Path) -> Result<Value> {
    let mut o = ClusterOptions::new(dir);
    o.workers = 1;
    o.rounds = 0;
    o.aggregation = "secure-fedavg".into();
    o.start_workers = false;
    o.extra_a = vec!["--engine-selftest".into(), ops.to_string()];
    let started = Instant::now();
    let mut cluster = Cluster::launch(&o)?;
    let mut engine = loop {
        let ev = cluster.next_event(Duration::from_secs(120))?;
        if let Some(e) = ev.get("engine") {
            break e.clone();
        }
        if ev.get("done").is_some() {
            bail!(
                "server A finished without an engine result; see {}",
                dir.join("server-a.log").display()
            );
        }
    };
    let wall = started.elapsed().as_secs_f64();
    // With `--rounds 0`, A finishes right after the self-test; waiting for its
    // last line lets B finish checking the opening before the processes stop.
    let _ = cluster.next_event(Duration::from_secs(30));
    cluster.shutdown();
    if let Some(obj) = engine.as_object_mut() {
        obj.insert("wall_s".into(), json!(wall));
    }
    Ok(engine)
}

fn engine(ops: usize, repeat: usize, dir: Option<std::path::PathBuf>) -> Result<Value> {
    if ops == 0 || repeat == 0 {
        bail!("--ops and --repeat must be positive");
    }
    // Resolve (and under cargo, build) the server binaries before any clock starts.
    bin_dir()?;
    let is_tmp = dir.is_none();
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("tandem-bench-engine-{}", std::process::id()))
    });
    let mut runs = Vec::new();
    for i in 0..repeat {
        let run = engine_once(ops, &dir.join(format!("run-{i}")))
            .with_context(|| format!("engine run {i}"))?;
        runs.push(run);
    }
    let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    let seconds = median(runs.iter().map(|r| num(r, "seconds")).collect());
    let wall = median(runs.iter().map(|r| num(r, "wall_s")).collect());
    let with_check = median(runs.iter().map(|r| num(r, "seconds_with_check")).collect());
    let cot = median(runs.iter().map(|r| num(r, "cot_per_s")).collect());
    let correct = runs
        .iter()
        .all(|r| r.get("correct").and_then(Value::as_bool) == Some(true));
    let last = runs.last().cloned().unwrap_or(Value::Null);
    let mut out = json!({
        "ops": ops,
        "seconds": seconds,
        "seconds_with_check": with_check,
        "wall_s": wall,
        "bytes_per_drelu": last.get("bytes_per_drelu"),
        "bytes_per_mult": last.get("bytes_per_mult"),
        "cot_per_s": cot,
        "ots": last.get("ots"),
        "bytes_total": last.get("bytes_total"),
        "messages_total": last.get("messages_total"),
        "bytes": last.get("bytes"),
        "correct": correct,
        "repeat": repeat,
    });
    if repeat > 1
        && let Some(obj) = out.as_object_mut()
    {
        obj.insert("runs".into(), Value::Array(runs));
    }
    if is_tmp {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(out)
}

fn main() -> Result<()> {
    let args = Args::parse();
    match args.cmd {
        Cmd::Engine { ops, repeat, dir } => {
            let out = engine(ops, repeat, dir)?;
            println!("{out}");
            if out.get("correct").and_then(Value::as_bool) != Some(true) {
                bail!("the engine produced wrong results");
            }
            Ok(())
        }
        Cmd::Round { .. } => {
            bail!("`bench round` is not implemented yet (full-round benchmark: a separate issue)")
        }
    }
}
