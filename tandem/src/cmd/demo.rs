//! `tandem demo`: runs server A, server B and a worker host as three OS
//! processes on loopback (`tandem server-b`, `tandem server-a`, `tandem
//! worker`), prints one progress line per round and writes `summary.json` and
//! `accuracy.svg` to `--out`.
//!
//! Every option is checked before anything starts (a bad value is one line
//! naming the option, exit status 2); a child process that fails is reported
//! with the last lines of its log. Ctrl-C stops the run and still writes the
//! summary and plot of the rounds done so far. `--compare RULE` runs the same
//! federation again under a baseline rule and draws both curves.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use fl_ml::attack::Attack;
use fl_ml::data::Partition;
use fl_ml::defaults_help;
use fl_ml::model::ModelKind;
use mpc_core::wire::Aggregation;
use serde_json::{Value, json};
use server_a::parse;
use tandem::plot::{self, DemoPlot, RoundCounts};
use tandem::{Cluster, ClusterOptions, UsageError};

/// Local demo: server B, server A and a worker host as three processes on
/// loopback, training on MNIST.
#[derive(Debug, Parser)]
#[command(name = "demo", version, allow_negative_numbers = true)]
pub struct Args {
    /// Simulated workers (at least 1).
    #[arg(long, default_value_t = 20, value_parser = parse::at_least_one::<u32>)]
    workers: u32,
    /// Byzantine workers among them (at most --workers).
    #[arg(long, default_value_t = 0)]
    byzantine: u32,
    /// Attack of the Byzantine workers: none, sign-flip, scale:K, gaussian[:SIGMA], label-flip, alie[:Z], ipm[:EPS], min-max, min-sum, fang-krum, fang-trim, adaptive-fltrust.
    #[arg(long, default_value = "none")]
    attack: Attack,
    #[arg(long, value_parser = parse::at_least_one::<u64>,
          help = format!("Training rounds (at least 1) [default: {}]", defaults_help(|d| d.rounds.to_string())))]
    rounds: Option<u64>,
    /// Seed for data partitioning, training and attacks (never for secrets).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Data partition: iid or dirichlet:ALPHA (ALPHA > 0; smaller is more skewed).
    #[arg(long, default_value = "iid")]
    partition: Partition,
    /// Model: logreg, mlp or mlp:HIDDEN.
    #[arg(long, default_value = "mlp")]
    model: ModelKind,
    /// Aggregation rule.
    #[arg(long, default_value = "secure-fltrust", value_parser = server_a::rule_names())]
    aggregation: Aggregation,
    /// Trust-based rules: cosine threshold τ in [-1, 1]; updates with cos < τ get
    /// trust 0 [default: none, trust = ReLU(cos)].
    #[arg(long, value_parser = parse::cosine)]
    cos_threshold: Option<f32>,
    /// Secure and trust-based rules: fewest workers that count (positive
    /// trust; secure-fedavg: valid submissions) for an update [default: 3].
    #[arg(long, value_parser = parse::at_least_one::<u32>)]
    k_min: Option<u32>,
    #[arg(long, value_parser = parse::at_least_one::<u32>,
          help = format!("Local epochs per round [default: {}]", defaults_help(|d| d.train.epochs.to_string())))]
    epochs: Option<u32>,
    #[arg(long, value_parser = parse::at_least_one::<u32>,
          help = format!("Local minibatch size [default: {}]", defaults_help(|d| d.train.batch_size.to_string())))]
    batch_size: Option<u32>,
    #[arg(long, value_parser = parse::positive,
          help = format!("Local learning rate [default: {}]", defaults_help(|d| d.train.lr.to_string())))]
    lr: Option<f32>,
    #[arg(long, value_parser = parse::positive,
          help = format!("Server learning rate η [default: {}]", defaults_help(|d| d.server_lr.to_string())))]
    server_lr: Option<f32>,
    #[arg(long, value_parser = parse::non_negative,
          help = format!("η_t = η / (1 + (t − 1)/T) in round t; 0 keeps η constant [default: {}]",
                         defaults_help(|d| d.server_lr_decay.unwrap_or(0.0).to_string())))]
    server_lr_decay: Option<f32>,
    /// Probability in [0, 1) that a worker sits out a round.
    #[arg(long, default_value_t = 0.0, value_parser = parse::probability)]
    dropout: f64,
    /// FedAvg rules: L2 clipping bound C for updates (> 0) [default: 3].
    #[arg(long, value_parser = parse::positive)]
    clip: Option<f32>,
    /// plain-fedavg only: do not clip.
    #[arg(long)]
    no_clip: bool,
    /// Seconds before a round closes with the updates that arrived (> 0).
    #[arg(long, default_value_t = 60.0, value_parser = parse::seconds)]
    round_timeout: f64,
    /// Also run the same federation under this rule (e.g. plain-fedavg) and
    /// draw its curve next to the main one.
    #[arg(long, value_parser = server_a::rule_names())]
    compare: Option<Aggregation>,
    /// Output directory.
    #[arg(long, default_value = "demo-out")]
    out: PathBuf,
}

/// `println!` that ignores a closed stdout (`demo | head` must not panic:
/// the run goes on and still writes its summary).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

pub fn run(args: Args) -> Result<()> {
    check_args(&args)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let out = args.out.canonicalize()?;
    let interrupted = Arc::new(AtomicBool::new(false));
    watch_ctrl_c(Arc::clone(&interrupted));

    let main = run_rule(&args, args.aggregation, &out.join("run"), &interrupted)?;
    let baseline = match args.compare {
        Some(rule) if !interrupted.load(Ordering::SeqCst) => {
            say!("\nbaseline: the same federation under {rule}");
            Some(run_rule(
                &args,
                rule,
                &out.join(format!("compare-{rule}")),
                &interrupted,
            )?)
        }
        _ => None,
    };

    let summary = summary_json(&args, &main, baseline.as_ref());
    let summary_path = out.join("summary.json");
    std::fs::write(&summary_path, serde_json::to_string_pretty(&summary)?)?;
    let plot_path = out.join("accuracy.svg");
    write_plot(&args, &main, baseline.as_ref(), &plot_path)?;
    let interrupted = main.interrupted || baseline.as_ref().is_some_and(|b| b.interrupted);
    let stopped = if interrupted {
        "interrupted (Ctrl-C): "
    } else {
        ""
    };
    say!(
        "{stopped}{}; wrote {} and {}",
        result_line(&main),
        summary_path.display(),
        plot_path.display()
    );
    if let Some(b) = &baseline {
        say!("baseline: {}", result_line(b));
    }
    if interrupted {
        // The usual exit status of a run stopped by SIGINT.
        std::process::exit(130);
    }
    Ok(())
}

/// "RULE: final test accuracy …, mean of the last N rounds …, R rounds in S s".
fn result_line(r: &RuleRun) -> String {
    let n = r.rounds.len();
    format!(
        "{}: final test accuracy {} (mean of the last {} {} {}) after {n} {} in {:.1} s",
        r.rule,
        fmt_acc(r.final_accuracy()),
        n.min(5),
        if n.min(5) == 1 { "round" } else { "rounds" },
        fmt_acc(r.mean_last(5)),
        if n == 1 { "round" } else { "rounds" },
        r.wall_seconds
    )
}

/// Rejects option combinations that do not apply (one line, exit status 2).
fn check_args(args: &Args) -> Result<()> {
    let usage = |msg: String| Err(UsageError(msg).into());
    if args.byzantine > args.workers {
        return usage(format!(
            "--byzantine {} exceeds --workers {}: at most every worker can be Byzantine",
            args.byzantine, args.workers
        ));
    }
    if args.attack != Attack::None && args.byzantine == 0 {
        return usage(format!(
            "--attack {} needs Byzantine workers: add --byzantine N",
            args.attack
        ));
    }
    if args.k_min.is_some() && !(args.aggregation.is_trust_based() || args.aggregation.is_secure())
    {
        return usage(format!(
            "--k-min applies to the secure and trust-based rules, not {}",
            args.aggregation
        ));
    }
    if args.clip.is_some() && args.aggregation.is_trust_based() {
        return usage(format!(
            "--clip applies to the FedAvg rules; {} normalises every update to unit norm",
            args.aggregation
        ));
    }
    if args.no_clip && args.aggregation != Aggregation::PlainFedAvg {
        return usage("--no-clip applies to plain-fedavg only".into());
    }
    let k_min = args
        .k_min
        .unwrap_or(protocols::fltrust::DEFAULT_K_MIN as u32);
    for rule in std::iter::once(args.aggregation).chain(args.compare) {
        if args.cos_threshold.is_some() && !rule.is_trust_based() {
            return usage(format!(
                "--cos-threshold applies to the trust-based rules (secure-fltrust, secure-filter, plain-fltrust), not {rule}"
            ));
        }
        if rule.is_secure() && k_min < 2 {
            return usage(format!(
                "--k-min {k_min} is too small for {rule}: at least 2 (a sum over one worker is that worker's update)"
            ));
        }
        if (rule.is_secure() || rule.is_trust_based()) && args.workers < k_min {
            return usage(format!(
                "--workers {} is fewer than k_min {k_min}: no round of {rule} could update the model (lower --k-min or add workers)",
                args.workers
            ));
        }
    }
    let dim = args.model.num_params();
    if dim > mpc_core::codec::DEFAULT_MAX_DIM {
        return usage(format!(
            "--model {} has {dim} parameters; the servers and workers take at most {}",
            args.model,
            mpc_core::codec::DEFAULT_MAX_DIM
        ));
    }
    if args.compare == Some(args.aggregation) {
        return usage(format!(
            "--compare {} is the rule of the main run",
            args.aggregation
        ));
    }
    Ok(())
}

/// On Ctrl-C, sets `flag` (the children get the signal too and stop; the
/// demo then writes what it has).
fn watch_ctrl_c(flag: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
            flag.store(true, Ordering::SeqCst);
            eprintln!("\ninterrupted: stopping and writing the rounds done so far");
        }
    });
}

/// One run of the federation under one rule.
struct RuleRun {
    rule: Aggregation,
    /// Server A's effective settings (its `{"start": …}` line).
    start: Value,
    /// Server A's round lines.
    rounds: Vec<Value>,
    wall_seconds: f64,
    interrupted: bool,
}

impl RuleRun {
    fn accuracies(&self) -> Vec<f64> {
        self.rounds
            .iter()
            .filter_map(|r| r["test_accuracy"].as_f64())
            .collect()
    }

    fn final_accuracy(&self) -> Option<f64> {
        self.accuracies().last().copied()
    }

    /// Mean test accuracy over the last `n` rounds (fewer if fewer ran).
    fn mean_last(&self, n: usize) -> Option<f64> {
        let acc = self.accuracies();
        let tail = acc.get(acc.len().saturating_sub(n)..)?;
        // Rounded to 6 decimals, as A reports accuracies.
        (!tail.is_empty())
            .then(|| (tail.iter().sum::<f64>() / tail.len() as f64 * 1e6).round() / 1e6)
    }

    fn initial_accuracy(&self) -> Option<f64> {
        self.start["initial_test_accuracy"].as_f64()
    }
}

/// Runs the federation under `rule` in `dir`, printing a line per round.
fn run_rule(args: &Args, rule: Aggregation, dir: &Path, stop: &AtomicBool) -> Result<RuleRun> {
    let o = cluster_options(args, rule, dir);
    say!(
        "tandem demo: {} workers ({} byzantine, attack {}), {} rounds of {} on {}, partition {}, seed {}; logs in {}",
        args.workers,
        args.byzantine,
        args.attack,
        o.rounds,
        rule,
        args.model,
        args.partition,
        args.seed,
        o.dir.display()
    );
    let started = Instant::now();
    let mut cluster = Cluster::launch(&o)?;
    let mut rounds: Vec<Value> = Vec::new();
    let mut interrupted = false;
    // A round may take up to two deadlines (A waits once more for B's answer).
    let patience = Duration::from_secs_f64(args.round_timeout * 2.0 + 120.0);
    let mut waited = Duration::ZERO;
    loop {
        if stop.load(Ordering::SeqCst) {
            interrupted = true;
            break;
        }
        let step = Duration::from_millis(500);
        let ev = match cluster.next_event_within(step) {
            Ok(Some(ev)) => ev,
            Ok(None) => {
                waited += step;
                if waited > patience {
                    anyhow::bail!(
                        "no round finished within {} s; see the logs in {}",
                        patience.as_secs(),
                        o.dir.display()
                    );
                }
                continue;
            }
            // Ctrl-C reaches the children too: their exit is not the error.
            Err(_) if stop.load(Ordering::SeqCst) => {
                interrupted = true;
                break;
            }
            Err(e) => return Err(e),
        };
        waited = Duration::ZERO;
        if ev.get("done").is_some() {
            break;
        }
        if rounds.is_empty() {
            print_initial(cluster.start_info());
        }
        print_round(&ev);
        rounds.push(ev);
    }
    let start = cluster.start_info().cloned().unwrap_or(Value::Null);
    cluster.shutdown();
    Ok(RuleRun {
        rule,
        start,
        rounds,
        wall_seconds: started.elapsed().as_secs_f64(),
        interrupted,
    })
}

/// The cluster for `rule` in `dir`: the workers' settings, and the training
/// and aggregation options passed on to server A (only those that apply to
/// `rule`, so a `--compare` baseline runs with its own defaults).
fn cluster_options(args: &Args, rule: Aggregation, dir: &Path) -> ClusterOptions {
    let mut o = ClusterOptions::new(dir);
    o.workers = args.workers as usize;
    o.rounds = args
        .rounds
        .unwrap_or(fl_ml::rule_defaults(args.aggregation).rounds);
    o.aggregation = rule.to_string();
    o.model = args.model.to_string();
    o.seed = args.seed;
    o.partition = args.partition.to_string();
    o.byzantine = args.byzantine as usize;
    o.attack = args.attack.to_string();
    o.dropout = args.dropout;
    let fedavg = !rule.is_trust_based();
    let pass = [
        (
            "--clip",
            args.clip.filter(|_| fedavg).map(|v| v.to_string()),
        ),
        (
            "--cos-threshold",
            args.cos_threshold
                .filter(|_| rule.is_trust_based())
                .map(|v| v.to_string()),
        ),
        (
            "--k-min",
            args.k_min
                .filter(|_| rule.is_trust_based() || rule.is_secure())
                .map(|v| v.to_string()),
        ),
        ("--epochs", args.epochs.map(|v| v.to_string())),
        ("--batch-size", args.batch_size.map(|v| v.to_string())),
        ("--lr", args.lr.map(|v| v.to_string())),
        ("--server-lr", args.server_lr.map(|v| v.to_string())),
        (
            "--server-lr-decay",
            args.server_lr_decay.map(|v| v.to_string()),
        ),
        ("--round-timeout", Some(args.round_timeout.to_string())),
    ];
    for (flag, value) in pass {
        if let Some(v) = value {
            o.extra_a.extend([flag.to_string(), v]);
        }
    }
    if args.no_clip && rule == Aggregation::PlainFedAvg {
        o.extra_a.push("--no-clip".into());
    }
    // B enforces its own k_min (never below the session's): give it the same.
    if let (Some(k), true) = (args.k_min, rule.is_secure()) {
        o.extra_b.extend(["--k-min".into(), k.to_string()]);
    }
    o
}

/// Prints the initial model's accuracy (round 0) from A's start line.
fn print_initial(start: Option<&Value>) {
    if let Some(acc) = start.and_then(|s| s["initial_test_accuracy"].as_f64()) {
        say!("round   0  acc {acc:.4}  (the initial model)");
    }
}

/// Bytes as megabytes with one decimal.
fn mb(v: &Value) -> String {
    format!("{:.1} MB", v.as_f64().unwrap_or(0.0) / 1e6)
}

fn fmt_acc(a: Option<f64>) -> String {
    a.map_or_else(|| "n/a".into(), |a| format!("{a:.4}"))
}

/// Prints the progress line of one of server A's round lines.
fn print_round(ev: &Value) {
    let sat_out = ev["sat_out"].as_u64().unwrap_or(0);
    say!(
        "round {:>3}  acc {}  accepted {:>3}  zero-trust {:>3}  rejected {:>3}{}  {:>6.2} s  worker→servers {:>9}  A↔B {:>9}{}",
        ev["round"].as_u64().unwrap_or(0),
        fmt_acc(ev["test_accuracy"].as_f64()),
        ev["accepted"].as_u64().unwrap_or(0),
        ev["zero_trust"].as_u64().unwrap_or(0),
        ev["rejected"].as_u64().unwrap_or(0),
        if sat_out > 0 {
            format!("  sat out {sat_out:>3}")
        } else {
            String::new()
        },
        ev["seconds"].as_f64().unwrap_or(f64::NAN),
        mb(&ev["bytes_worker_to_servers"]),
        mb(&ev["bytes_between_servers"]),
        ev["note"]
            .as_str()
            .map(|n| format!("  ({n})"))
            .unwrap_or_default()
    );
}

/// `summary.json`: the effective configuration (A's settings as it ran
/// them, the workers' as the demo started them), the result, every round.
fn summary_json(args: &Args, main: &RuleRun, baseline: Option<&RuleRun>) -> Value {
    let mut config = main.start.as_object().cloned().unwrap_or_default();
    config.remove("initial_test_accuracy");
    config.insert("workers".into(), json!(args.workers));
    config.insert("byzantine".into(), json!(args.byzantine));
    config.insert("attack".into(), json!(args.attack.to_string()));
    config.insert("partition".into(), json!(args.partition.to_string()));
    config.insert("dropout".into(), json!(args.dropout));
    let mut summary = json!({
        "final_test_accuracy": main.final_accuracy(),
        "mean_last5_test_accuracy": main.mean_last(5),
        "initial_test_accuracy": main.initial_accuracy(),
        "num_rounds": main.rounds.len(),
        "interrupted": main.interrupted,
        "wall_seconds": main.wall_seconds,
        "config": config,
        "rounds": main.rounds,
    });
    if let Some(b) = baseline {
        summary["baseline"] = json!({
            "aggregation": b.rule.to_string(),
            "final_test_accuracy": b.final_accuracy(),
            "mean_last5_test_accuracy": b.mean_last(5),
            "interrupted": b.interrupted,
            "num_rounds": b.rounds.len(),
            "wall_seconds": b.wall_seconds,
            "config": b.start,
            "rounds": b.rounds,
        });
    }
    summary
}

/// The per-round points of a run's plot: accuracy (round 0 = the initial
/// model) and the trust counts.
fn plot_series(run: &RuleRun) -> (Vec<(u64, f64)>, Vec<RoundCounts>) {
    let mut acc: Vec<(u64, f64)> = run.initial_accuracy().map(|a| (0, a)).into_iter().collect();
    let mut counts = Vec::new();
    for r in &run.rounds {
        let round = r["round"].as_u64().unwrap_or(0);
        if let Some(a) = r["test_accuracy"].as_f64() {
            acc.push((round, a));
        }
        let n = |k: &str| r[k].as_u64().unwrap_or(0);
        let zero = n("zero_trust");
        counts.push(RoundCounts {
            round,
            positive: n("accepted").saturating_sub(zero),
            zero_trust: zero,
            rejected: n("rejected"),
            sat_out: n("sat_out"),
            updated: r["updated"].as_bool().unwrap_or(true),
        });
    }
    (acc, counts)
}

/// Writes the accuracy and trust-count plot to `path`.
fn write_plot(args: &Args, main: &RuleRun, baseline: Option<&RuleRun>, path: &Path) -> Result<()> {
    let (accuracy, counts) = plot_series(main);
    let baseline = baseline.map(|b| (b.rule.to_string(), plot_series(b).0));
    let title = format!(
        "{} · {} workers, {} Byzantine ({}) · {} · {} · seed {}",
        main.rule, args.workers, args.byzantine, args.attack, args.partition, args.model, args.seed
    );
    plot::demo_svg(
        path,
        &DemoPlot {
            title: &title,
            label: &main.rule.to_string(),
            accuracy: &accuracy,
            counts: &counts,
            baseline: baseline.as_ref().map(|(l, p)| (l.as_str(), p.as_slice())),
        },
    )
}
