//! `tandem demo`: runs server A, server B and a worker host as three OS
//! processes on loopback (`tandem server-b`, `tandem server-a`, `tandem
//! worker`), prints one progress line per round and writes `summary.json` and
//! `accuracy.svg` to `--out`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use fl_ml::{RuleDefaults, rule_defaults};
use mpc_core::wire::Aggregation;
use serde_json::{Value, json};
use tandem::{Cluster, ClusterOptions, plot};

/// Local demo: server B, server A and a worker host as three processes on loopback, training on MNIST.
#[derive(Debug, Parser)]
#[command(name = "demo", version)]
pub struct Args {
    /// Simulated workers.
    #[arg(long, default_value_t = 20)]
    workers: usize,
    /// Byzantine workers among them.
    #[arg(long, default_value_t = 0)]
    byzantine: usize,
    /// Attack of the Byzantine workers: none, sign-flip, scale:K, gaussian[:SIGMA], label-flip, alie[:Z], ipm[:EPS], min-max, min-sum, fang-krum, fang-trim, adaptive-fltrust.
    #[arg(long, default_value = "none")]
    attack: String,
    /// Training rounds [default: 20 for the FedAvg rules; 100 for the trust-based rules].
    #[arg(long)]
    rounds: Option<u64>,
    /// Seed for data partitioning, training and attacks (never for secrets).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Data partition: iid or dirichlet:ALPHA.
    #[arg(long, default_value = "iid")]
    partition: String,
    /// Model: logreg, mlp or mlp:HIDDEN.
    #[arg(long, default_value = "mlp")]
    model: String,
    /// Aggregation rule: secure-fltrust, secure-filter, secure-fedavg, plain-fltrust or plain-fedavg.
    #[arg(long, default_value = "secure-fltrust")]
    aggregation: Aggregation,
    /// Cosine threshold τ of the trust-based rules (default: none, ReLU(cos)).
    #[arg(long)]
    cos_threshold: Option<f32>,
    /// Trust-based rules: fewest positive-trust workers for an update [default: 3].
    #[arg(long)]
    k_min: Option<u32>,
    /// Local epochs per round (see `tandem server-a --help` for the per-rule defaults).
    #[arg(long)]
    epochs: Option<u32>,
    /// Local minibatch size.
    #[arg(long)]
    batch_size: Option<u32>,
    /// Local learning rate.
    #[arg(long)]
    lr: Option<f32>,
    /// Server learning rate η [default: 1; 2 for the trust-based rules].
    #[arg(long)]
    server_lr: Option<f32>,
    /// η_t = η / (1 + (t − 1)/T) in round t; 0 keeps η constant [default: 0; 25 for the trust-based rules].
    #[arg(long)]
    server_lr_decay: Option<f32>,
    /// Probability that a worker sits out a round.
    #[arg(long, default_value_t = 0.0)]
    dropout: f64,
    /// L2 clipping bound C for updates.
    #[arg(long)]
    clip: Option<f32>,
    /// plain-fedavg only: do not clip.
    #[arg(long)]
    no_clip: bool,
    /// Seconds before a round closes with the updates that arrived.
    #[arg(long)]
    round_timeout: Option<f64>,
    /// Output directory.
    #[arg(long, default_value = "demo-out")]
    out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    check_args(&args)?;
    let defaults = rule_defaults(args.aggregation);
    let rounds = args.rounds.unwrap_or(defaults.rounds);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let out = args.out.canonicalize()?;
    let round_timeout = args
        .round_timeout
        .unwrap_or(if args.dropout > 0.0 { 10.0 } else { 60.0 });
    let o = cluster_options(&args, &out, rounds, round_timeout);

    println!(
        "tandem demo: {} workers ({} byzantine, attack {}), {} rounds, {} on {}, partition {}, logs in {}",
        args.workers,
        args.byzantine,
        args.attack,
        rounds,
        args.aggregation,
        args.model,
        args.partition,
        o.dir.display()
    );
    let started = Instant::now();
    let (round_lines, final_line) = follow_rounds(&o, round_timeout)?;
    let final_acc = final_line["final_test_accuracy"].as_f64().unwrap_or(0.0);
    let summary = json!({
        "final_test_accuracy": final_acc,
        "num_rounds": round_lines.len(),
        "rounds": round_lines,
        "config": config_json(&args, &defaults, rounds, round_timeout),
        "wall_seconds": started.elapsed().as_secs_f64(),
    });
    let summary_path = out.join("summary.json");
    std::fs::write(&summary_path, serde_json::to_string_pretty(&summary)?)?;
    let plot_path = out.join("accuracy.svg");
    write_plot(&args, &summary, &plot_path)?;
    println!(
        "final test accuracy {final_acc:.4} after {} rounds in {:.1} s; wrote {} and {}",
        summary["num_rounds"],
        started.elapsed().as_secs_f64(),
        summary_path.display(),
        plot_path.display()
    );
    Ok(())
}

/// Rejects option combinations that do not apply to the chosen rule.
fn check_args(args: &Args) -> Result<()> {
    if (args.cos_threshold.is_some() || args.k_min.is_some()) && !args.aggregation.is_trust_based()
    {
        bail!(
            "--cos-threshold and --k-min apply to trust-based rules (plain-fltrust); {} has neither",
            args.aggregation
        );
    }
    Ok(())
}

/// The cluster for `args` under `out/run`: the workers' settings, and the
/// training and aggregation options passed on to server A.
fn cluster_options(args: &Args, out: &Path, rounds: u64, round_timeout: f64) -> ClusterOptions {
    let mut o = ClusterOptions::new(out.join("run"));
    o.workers = args.workers;
    o.rounds = rounds;
    o.aggregation = args.aggregation.to_string();
    o.model = args.model.clone();
    o.seed = args.seed;
    o.partition = args.partition.clone();
    o.byzantine = args.byzantine;
    o.attack = args.attack.clone();
    o.dropout = args.dropout;
    if let Some(c) = args.clip {
        o.extra_a.extend(["--clip".into(), c.to_string()]);
    }
    if args.no_clip {
        o.extra_a.push("--no-clip".into());
    }
    let pass = [
        ("--cos-threshold", args.cos_threshold.map(|v| v.to_string())),
        ("--k-min", args.k_min.map(|v| v.to_string())),
        ("--epochs", args.epochs.map(|v| v.to_string())),
        ("--batch-size", args.batch_size.map(|v| v.to_string())),
        ("--lr", args.lr.map(|v| v.to_string())),
        ("--server-lr", args.server_lr.map(|v| v.to_string())),
        (
            "--server-lr-decay",
            args.server_lr_decay.map(|v| v.to_string()),
        ),
    ];
    for (flag, value) in pass {
        if let Some(v) = value {
            o.extra_a.extend([flag.to_string(), v]);
        }
    }
    o.extra_a
        .extend(["--round-timeout".into(), round_timeout.to_string()]);
    o
}

/// Launches the cluster, prints a progress line per round and returns
/// server A's round lines and its final line.
fn follow_rounds(o: &ClusterOptions, round_timeout: f64) -> Result<(Vec<Value>, Value)> {
    let mut cluster = Cluster::launch(o)?;
    let mut rounds: Vec<Value> = Vec::new();
    let final_line = loop {
        let ev = cluster.next_event(Duration::from_secs_f64(round_timeout * 2.0 + 120.0))?;
        if ev.get("done").is_some() {
            break ev;
        }
        print_round(&ev);
        rounds.push(ev);
    };
    cluster.shutdown();
    Ok((rounds, final_line))
}

/// Prints the progress line of one of server A's round lines.
fn print_round(ev: &Value) {
    println!(
        "round {:>3}  acc {:.4}  accepted {:>3}  rejected {:>3}  sat out {:>3}  zero-trust {:>3}  {:>6.2} s  worker→servers {:>9} B  A↔B {:>9} B{}",
        ev["round"],
        ev["test_accuracy"].as_f64().unwrap_or(f64::NAN),
        ev["accepted"],
        ev["rejected"],
        ev["sat_out"],
        ev["zero_trust"],
        ev["seconds"].as_f64().unwrap_or(f64::NAN),
        ev["bytes_worker_to_servers"],
        ev["bytes_between_servers"],
        ev["note"]
            .as_str()
            .map(|n| format!("  ({n})"))
            .unwrap_or_default()
    );
}

/// The `config` object of `summary.json`: every effective setting, the
/// rule's defaults filled in where an option was not given.
fn config_json(args: &Args, defaults: &RuleDefaults, rounds: u64, round_timeout: f64) -> Value {
    json!({
        "workers": args.workers,
        "byzantine": args.byzantine,
        "attack": args.attack,
        "seed": args.seed,
        "partition": args.partition,
        "model": args.model,
        "aggregation": args.aggregation.to_string(),
        "dropout": args.dropout,
        "rounds": rounds,
        "cos_threshold": args.cos_threshold,
        "k_min": args.k_min.unwrap_or(protocols::fltrust::DEFAULT_K_MIN as u32),
        "epochs": args.epochs.unwrap_or(defaults.train.epochs as u32),
        "batch_size": args.batch_size.unwrap_or(defaults.train.batch_size as u32),
        "lr": args.lr.unwrap_or(defaults.train.lr),
        "server_lr": args.server_lr.unwrap_or(defaults.server_lr),
        "server_lr_decay": args
            .server_lr_decay
            .or(defaults.server_lr_decay)
            .unwrap_or(0.0),
        "clip": if args.aggregation.is_trust_based() || args.no_clip {
            None
        } else {
            Some(args.clip.unwrap_or(fl_ml::DEFAULT_CLIP))
        },
        "round_timeout_s": round_timeout,
    })
}

/// Writes the accuracy-per-round plot of `summary`'s rounds to `path`.
fn write_plot(args: &Args, summary: &Value, path: &Path) -> Result<()> {
    let points: Vec<(u64, f64)> = summary["rounds"]
        .as_array()
        .map(|a| {
            a.iter()
                .enumerate()
                .map(|(i, r)| (i as u64 + 1, r["test_accuracy"].as_f64().unwrap_or(0.0)))
                .collect()
        })
        .unwrap_or_default();
    plot::accuracy_svg(
        path,
        &format!(
            "{} · {} · {} workers",
            args.aggregation, args.model, args.workers
        ),
        &points,
    )?;
    Ok(())
}
