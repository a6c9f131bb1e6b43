//! `tandem eval`: the robustness evaluation. Runs a grid of attacks × aggregation
//! rules × Byzantine fractions × partitions × seeds — plaintext rules
//! in-process through `fl_ml::sim`, secure rules through the real
//! three-process system (server A, server B, worker host on loopback) — caches
//! every run under `OUT/cache/` by the SHA-256 of its canonical configuration
//! (a stopped grid resumes), and writes `OUT/robustness.md` and SVG plots.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Parser;
use fl_ml::aggregate::PlainRule;
use fl_ml::sim;
use fl_ml::{Attack, DEFAULT_CLIP, Dataset, ModelKind, Partition, load_mnist, rule_defaults};
use indicatif::{ProgressBar, ProgressStyle};
use mpc_core::wire::Aggregation;
use tandem::eval::{
    Event, ROW_ORDER, ReportMeta, RoundRecord, RunResult, RunSpec, load_cached, mean_curve,
    render_report, run_grid,
};
use tandem::{Cluster, ClusterOptions, default_data_dir, plot};

/// Robustness evaluation: accuracy of every aggregation rule under every
/// attack, written to OUT/robustness.md with plots in OUT/plots/.
///
/// Default grid (≈2 h on 2 cores; `--dry-run` lists it with the estimate):
/// 100 workers, MLP, MNIST split in data/; plaintext rules fedavg (no
/// defence), fedavg-clip (norm bounding), krum, multi-krum, median,
/// trimmed-mean, fltrust × all attacks × f ∈ {0, 0.2, 0.4} × iid and
/// dirichlet:0.5 × 2 seeds; secure rules (secure-fedavg, secure-fltrust,
/// secure-filter; the real three-process system) at iid, f ∈ {0, 0.2} only,
/// 1 seed. `--headline` runs the 100-round acceptance grid instead (see
/// below). Every run is cached in OUT/cache/ by the SHA-256 of its
/// configuration: rerunning skips finished runs (a stopped grid resumes).
#[derive(Debug, Parser)]
#[command(name = "eval", version)]
pub struct Args {
    /// Small grid (20 workers, 3 attacks, 3 plaintext rules + secure-fltrust,
    /// iid, f ∈ {0, 0.2}, 12 rounds, 1 seed) in ≈ 1–3 minutes; used by CI.
    #[arg(long, conflicts_with = "headline")]
    quick: bool,
    /// The acceptance grid: 100 workers, 100 rounds for every rule,
    /// iid, f ∈ {0, 0.2, 0.4}, every attack, fedavg and fltrust (2 seeds) and
    /// secure-fltrust (1 seed) — the numbers the README's headline table
    /// quotes; ≈ 1.5 h on 2 cores with `--jobs 2`. Writes to `report/headline` unless `--out`
    /// says otherwise.
    #[arg(long)]
    headline: bool,
    /// Output directory (report, plots, cache) [default: report;
    /// report/headline with --headline].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Rounds per run [default: 20; 12 with --quick].
    #[arg(long)]
    rounds: Option<usize>,
    /// Seeds per plaintext run (1..=N) [default: 2; 1 with --quick].
    #[arg(long)]
    seeds: Option<u64>,
    /// Seeds per secure run (1..=N) [default: 1].
    #[arg(long)]
    secure_seeds: Option<u64>,
    /// Workers per run [default: 100; 20 with --quick].
    #[arg(long)]
    workers: Option<usize>,
    /// Only runs whose name contains this substring, e.g. `secure`,
    /// `| alie |`, `dirichlet`, `| krum |` … (names: `--dry-run`).
    #[arg(long)]
    only: Option<String>,
    /// Rules to run instead of the grid's (comma-separated; any of fedavg,
    /// fedavg-clip, krum, multi-krum, median, trimmed-mean, fltrust,
    /// secure-fedavg, secure-fltrust, secure-filter). Secure rules listed
    /// here run at every partition and fraction of the grid.
    #[arg(long, value_delimiter = ',')]
    rules: Option<Vec<String>>,
    /// Attacks to run instead of the grid's (comma-separated, at f > 0; names
    /// as the worker's `--attack`: sign-flip, scale:K, gaussian[:SIGMA],
    /// label-flip, alie[:Z], ipm[:EPS], min-max, min-sum, fang-krum,
    /// fang-trim, adaptive-fltrust).
    #[arg(long, value_delimiter = ',')]
    attacks: Option<Vec<String>>,
    /// Byzantine fractions instead of the grid's (comma-separated, in [0, 1)).
    #[arg(long, value_delimiter = ',')]
    fractions: Option<Vec<f64>>,
    /// Partitions instead of the grid's (comma-separated: `iid`,
    /// `dirichlet:ALPHA`).
    #[arg(long, value_delimiter = ',')]
    partitions: Option<Vec<String>>,
    /// Plaintext runs in parallel (secure runs always run one at a time,
    /// after them: each uses both cores).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// List the runs (cached ones marked) and the time estimate; run nothing.
    #[arg(long)]
    dry_run: bool,
    /// Run nothing: write the report and plots from the runs of the grid
    /// already in the cache (the others show as `—`).
    #[arg(long)]
    report_only: bool,
    /// Directory with the MNIST files.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// What to run.
#[derive(Clone, Debug)]
struct Grid {
    workers: usize,
    rounds: usize,
    plain_seeds: Vec<u64>,
    secure_seeds: Vec<u64>,
    partitions: Vec<String>,
    fractions: Vec<f64>,
    /// Attacks at f > 0 (f = 0 runs `none` only).
    attacks: Vec<String>,
    plain_rules: Vec<String>,
    secure_rules: Vec<String>,
    /// (partition, fraction) where the secure rules run.
    secure_points: Vec<(String, f64)>,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The rules of [`ROW_ORDER`] that `keep` accepts, in that order.
fn rules_where(keep: impl Fn(&str) -> bool) -> Vec<String> {
    ROW_ORDER
        .iter()
        .filter(|r| keep(r))
        .map(|r| r.to_string())
        .collect()
}

impl Grid {
    fn default_grid() -> Grid {
        Grid {
            workers: 100,
            rounds: 20,
            plain_seeds: vec![1, 2],
            secure_seeds: vec![1],
            partitions: strings(&["iid", "dirichlet:0.5"]),
            fractions: vec![0.0, 0.2, 0.4],
            attacks: strings(&[
                "sign-flip",
                "scale:10",
                "scale:-10",
                "gaussian",
                "label-flip",
                "alie",
                "ipm",
                "min-max",
                "min-sum",
                "fang-krum",
                "fang-trim",
                "adaptive-fltrust",
            ]),
            // Every rule of the report, in its row order.
            plain_rules: rules_where(|r| !r.starts_with("secure")),
            secure_rules: rules_where(|r| r.starts_with("secure")),
            secure_points: vec![("iid".into(), 0.0), ("iid".into(), 0.2)],
        }
    }

    fn headline() -> Grid {
        let d = Grid::default_grid();
        Grid {
            rounds: 100,
            partitions: strings(&["iid"]),
            plain_rules: strings(&["fedavg", "fltrust"]),
            secure_rules: strings(&["secure-fltrust"]),
            secure_points: vec![
                ("iid".into(), 0.0),
                ("iid".into(), 0.2),
                ("iid".into(), 0.4),
            ],
            ..d
        }
    }

    fn quick() -> Grid {
        Grid {
            workers: 20,
            rounds: 12,
            plain_seeds: vec![1],
            secure_seeds: vec![1],
            partitions: strings(&["iid"]),
            fractions: vec![0.0, 0.2],
            attacks: strings(&["sign-flip", "alie", "adaptive-fltrust"]),
            plain_rules: strings(&["fedavg", "median", "fltrust"]),
            secure_rules: strings(&["secure-fltrust"]),
            secure_points: vec![("iid".into(), 0.2)],
        }
    }

    fn describe(&self) -> String {
        let seeds = |s: &[u64]| {
            format!(
                "{} seed{} ({})",
                s.len(),
                if s.len() == 1 { "" } else { "s" },
                s.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
            )
        };
        let points = self
            .secure_points
            .iter()
            .map(|(p, f)| format!("{p} f={f}"))
            .collect::<Vec<_>>()
            .join("; ");
        let (proxy, last) = (fl_ml::PROXY_EXAMPLES, fl_ml::PROXY_EXAMPLES - 1);
        format!(
            "- workers: {}; rounds per run: {}; model: MLP (784→{}→10); data: the MNIST \
             split in `data/` (workers train on examples {proxy}.., server A's proxy set is \
             examples 0–{last}, accuracy on the held-out test split)\n\
             - partitions: {}; Byzantine fractions: {} (f = 0 runs attack `none` only)\n\
             - attacks (f > 0): {}\n\
             - plaintext rules (in-process simulation, {}): {}\n\
             - secure rules (server A, server B and the worker host as OS processes on \
             loopback, real QUIC and secret shares, {}): {} — only at: {}\n\
             - local training and server step: each rule's defaults (per-run values are \
             in the cache files `cache/*.json`, field `config`)",
            self.workers,
            self.rounds,
            fl_ml::DEFAULT_HIDDEN,
            self.partitions.join(", "),
            self.fractions
                .iter()
                .map(f64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            self.attacks.join(", "),
            seeds(&self.plain_seeds),
            self.plain_rules.join(", "),
            seeds(&self.secure_seeds),
            self.secure_rules.join(", "),
            points
        )
    }

    /// Every run: partitions, then fractions, then attacks, in grid order.
    fn specs(&self) -> Result<Vec<RunSpec>> {
        let mut out = Vec::new();
        for part in &self.partitions {
            for &frac in &self.fractions {
                let byzantine = (frac * self.workers as f64).round() as usize;
                let attacks: Vec<String> = if frac == 0.0 {
                    vec!["none".into()]
                } else {
                    self.attacks.clone()
                };
                for attack in &attacks {
                    for rule in &self.plain_rules {
                        for &seed in &self.plain_seeds {
                            out.push(plain_spec(rule, attack, frac, byzantine, part, seed, self)?);
                        }
                    }
                    if self
                        .secure_points
                        .iter()
                        .any(|(p, f)| p == part && *f == frac)
                    {
                        for rule in &self.secure_rules {
                            for &seed in &self.secure_seeds {
                                out.push(secure_spec(
                                    rule, attack, frac, byzantine, part, seed, self,
                                )?);
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

fn canonical_attack(a: &str) -> Result<String> {
    let parsed: Attack = a.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(parsed.to_string())
}

/// The plaintext rule of a row name and its clipping override.
fn plain_rule(row: &str) -> Result<(PlainRule, Option<Option<f32>>)> {
    Ok(match row {
        "fedavg" => (PlainRule::FedAvg, Some(None)),
        "fedavg-clip" => (PlainRule::FedAvg, Some(Some(DEFAULT_CLIP))),
        other => (other.parse().map_err(|e| anyhow::anyhow!("{e}"))?, None),
    })
}

fn sim_config(spec: &RunSpec) -> Result<sim::SimConfig> {
    let (rule, _) = plain_rule(&spec.rule)?;
    let mut c = sim::SimConfig::new(
        rule,
        spec.workers,
        spec.byzantine,
        spec.attack.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
        spec.partition.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
        spec.seed,
    );
    c.model = spec.model.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    c.rounds = spec.rounds;
    c.clip = spec.clip;
    c.train.epochs = spec.epochs;
    c.train.batch_size = spec.batch_size;
    c.train.lr = spec.lr;
    c.server_lr = spec.server_lr;
    c.server_lr_decay = spec.server_lr_decay;
    if let Some(k) = spec.k_min {
        c.k_min = k;
    }
    Ok(c)
}

fn plain_spec(
    row: &str,
    attack: &str,
    frac: f64,
    byzantine: usize,
    part: &str,
    seed: u64,
    g: &Grid,
) -> Result<RunSpec> {
    let (rule, clip) = plain_rule(row)?;
    let attack = canonical_attack(attack)?;
    let partition: Partition = part.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut c = sim::SimConfig::new(
        rule,
        g.workers,
        byzantine,
        attack.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
        partition,
        seed,
    );
    if let Some(clip) = clip {
        c.clip = clip;
    }
    let model = ModelKind::default();
    Ok(RunSpec {
        secure: false,
        rule: row.into(),
        attack,
        fraction: frac,
        partition: partition.to_string(),
        seed,
        workers: g.workers,
        byzantine,
        rounds: g.rounds,
        model: model.to_string(),
        epochs: c.train.epochs,
        batch_size: c.train.batch_size,
        lr: c.train.lr,
        server_lr: c.server_lr,
        server_lr_decay: c.server_lr_decay,
        clip: c.clip,
        k_min: (rule == PlainRule::FlTrust).then_some(c.k_min),
    })
}

fn secure_spec(
    row: &str,
    attack: &str,
    frac: f64,
    byzantine: usize,
    part: &str,
    seed: u64,
    g: &Grid,
) -> Result<RunSpec> {
    let agg: Aggregation = row.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let d = rule_defaults(agg);
    let partition: Partition = part.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(RunSpec {
        secure: true,
        rule: row.into(),
        attack: canonical_attack(attack)?,
        fraction: frac,
        partition: partition.to_string(),
        seed,
        workers: g.workers,
        byzantine,
        rounds: g.rounds,
        model: ModelKind::default().to_string(),
        epochs: d.train.epochs,
        batch_size: d.train.batch_size,
        lr: d.train.lr,
        server_lr: d.server_lr,
        server_lr_decay: d.server_lr_decay,
        clip: (!agg.is_trust_based()).then_some(DEFAULT_CLIP),
        k_min: agg
            .is_trust_based()
            .then_some(protocols::fltrust::DEFAULT_K_MIN),
    })
}

/// Estimated seconds of one run, from measurements on the shared 2-core
/// development machine (load 3–4, 100 workers, MLP): plaintext ≈ 0.22 s per
/// round of local training (≈ independent of the worker count: the workers
/// share the same examples) plus the O(n²·d) parts — Krum/Multi-Krum +0.3 s,
/// min-max/min-sum +0.6 s, adaptive-fltrust +0.3 s, fang-krum +0.2 s at
/// n = 100; secure-fltrust/filter ≈ 1.5 s and secure-fedavg ≈ 1.0 s per round
/// at n = 100, plus ≈ 2.5 s to start the three processes.
fn estimate_seconds(s: &RunSpec) -> f64 {
    let n = s.workers as f64;
    let quad = n * n / 10_000.0;
    let rounds = s.rounds as f64;
    if s.secure {
        let (base, per_worker) = if s.rule == "secure-fedavg" {
            (0.1, 0.009)
        } else {
            (0.2, 0.013)
        };
        2.5 + rounds * (base + per_worker * n)
    } else {
        let mut per_round = 0.23;
        if matches!(s.rule.as_str(), "krum" | "multi-krum") {
            per_round += 0.3 * quad;
        }
        per_round += quad
            * match s.attack.as_str() {
                "min-max" | "min-sum" => 0.6,
                "adaptive-fltrust" => 0.3,
                "fang-krum" => 0.2,
                _ => 0.0,
            };
        rounds * per_round
    }
}

/// `s` quoted for a POSIX shell when it needs it.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn fmt_secs(s: f64) -> String {
    let s = s.max(0.0) as u64;
    format!("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60)
}

/// UTC "YYYY-MM-DD HH:MM UTC" without a date crate.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86400) as i64;
    let (h, m) = ((secs % 86400) / 3600, (secs % 3600) / 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02} UTC")
}

/// Progress: an indicatif bar on a terminal, log lines otherwise. Units are
/// estimated milliseconds, so the ETA weighs slow runs correctly.
struct Progress {
    bar: ProgressBar,
    tty: bool,
    started: Instant,
    state: Mutex<(usize, u64)>, // (runs finished, estimated ms finished)
    total_runs: usize,
    total_ms: u64,
}

impl Progress {
    fn new(total_runs: usize, total_ms: u64) -> Progress {
        let tty = std::io::stderr().is_terminal();
        let bar = if tty {
            let b = ProgressBar::new(total_ms.max(1));
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% ETA {eta_precise}\n  {msg}",
            ) {
                b.set_style(style);
            }
            b.enable_steady_tick(Duration::from_millis(250));
            b
        } else {
            ProgressBar::hidden()
        };
        Progress {
            bar,
            tty,
            started: Instant::now(),
            state: Mutex::new((0, 0)),
            total_runs,
            total_ms,
        }
    }

    fn started(&self, spec: &RunSpec) {
        if self.tty {
            self.bar.set_message(format!("running {}", spec.name()));
        } else {
            eprintln!("eval: start {}", spec.name());
        }
    }

    /// A run finished (`ok`), adding its whole estimate to the progress.
    fn finished(&self, spec: &RunSpec, what: &str, already_ms: u64) {
        let est = (estimate_seconds(spec) * 1000.0) as u64;
        self.bar.inc(est.saturating_sub(already_ms));
        let (runs, ms) = {
            let Ok(mut s) = self.state.lock() else { return };
            s.0 += 1;
            s.1 += est;
            *s
        };
        let elapsed = self.started.elapsed().as_secs_f64();
        let eta = if ms > 0 {
            elapsed / ms as f64 * self.total_ms.saturating_sub(ms) as f64
        } else {
            f64::NAN
        };
        let line = format!(
            "eval: [{runs}/{}] {what} {} (elapsed {}, ETA {})",
            self.total_runs,
            spec.name(),
            fmt_secs(elapsed),
            fmt_secs(eta)
        );
        if self.tty {
            self.bar.println(line);
        } else {
            eprintln!("{line}");
        }
    }
}

fn run_plain(
    spec: &RunSpec,
    train: &Dataset,
    test: &Dataset,
    progress: &Progress,
) -> Result<RunResult> {
    let cfg = sim_config(spec)?;
    let started = Instant::now();
    let step = (estimate_seconds(spec) * 1000.0 / spec.rounds.max(1) as f64) as u64;
    let mut rounds: Vec<sim::SimRound> = Vec::new();
    let res = sim::run(&cfg, train, test, &mut |r| {
        rounds.push(r.clone());
        progress.bar.inc(step);
    });
    let diverged_in_round = match res {
        Ok(_) => None,
        // The model blew up: a result of the attack, recorded as such.
        Err(fl_ml::MlError::NonFinite) => Some(rounds.len() as u64 + 1),
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    };
    Ok(RunResult {
        rounds: rounds
            .iter()
            .map(|r| RoundRecord {
                round: r.round,
                test_accuracy: r.test_accuracy,
                updated: r.updated,
                honest_zero_trust: r.honest_zero_trust,
                byzantine_trusted: r.byzantine_trusted,
                accepted: None,
                rejected: None,
                zero_trust: None,
            })
            .collect(),
        wall_seconds: started.elapsed().as_secs_f64(),
        diverged_in_round,
    })
}

fn run_secure(
    spec: &RunSpec,
    out: &Path,
    data_dir: &Path,
    progress: &Progress,
) -> Result<RunResult> {
    let dir = out.join("runs").join(&spec.cache_key()[..16]);
    let mut o = ClusterOptions::new(dir.clone());
    o.workers = spec.workers;
    o.rounds = spec.rounds as u64;
    o.aggregation = spec.rule.clone();
    o.model = spec.model.clone();
    o.seed = spec.seed;
    o.partition = spec.partition.clone();
    o.byzantine = spec.byzantine;
    o.attack = spec.attack.clone();
    o.data_dir = data_dir.to_path_buf();
    let mut a = vec![
        "--epochs".to_string(),
        spec.epochs.to_string(),
        "--batch-size".into(),
        spec.batch_size.to_string(),
        "--lr".into(),
        spec.lr.to_string(),
        "--server-lr".into(),
        spec.server_lr.to_string(),
        "--server-lr-decay".into(),
        spec.server_lr_decay.unwrap_or(0.0).to_string(),
        "--round-timeout".into(),
        "120".into(),
    ];
    if let Some(c) = spec.clip {
        a.extend(["--clip".into(), c.to_string()]);
    }
    if let Some(k) = spec.k_min {
        a.extend(["--k-min".into(), k.to_string()]);
    }
    o.extra_a = a;
    let step = (estimate_seconds(spec) * 1000.0 / spec.rounds.max(1) as f64) as u64;
    let started = Instant::now();
    let mut cluster = Cluster::launch(&o)?;
    let mut rounds = Vec::new();
    loop {
        let ev = cluster.next_event(Duration::from_secs(400))?;
        if ev.get("done").is_some() {
            break;
        }
        let num = |k: &str| ev[k].as_u64();
        rounds.push(RoundRecord {
            round: num("round").unwrap_or(rounds.len() as u64 + 1),
            test_accuracy: ev["test_accuracy"]
                .as_f64()
                .context("a round without test_accuracy")?,
            updated: ev["updated"].as_bool().unwrap_or(true),
            honest_zero_trust: None,
            byzantine_trusted: None,
            accepted: num("accepted"),
            rejected: num("rejected"),
            zero_trust: num("zero_trust"),
        });
        progress.bar.inc(step);
    }
    cluster.shutdown();
    if rounds.len() != spec.rounds {
        bail!(
            "server A reported {} rounds, expected {}; logs in {}",
            rounds.len(),
            spec.rounds,
            dir.display()
        );
    }
    // Success: the logs and certificates are not needed any more.
    let _ = std::fs::remove_dir_all(&dir);
    Ok(RunResult {
        rounds,
        wall_seconds: started.elapsed().as_secs_f64(),
        diverged_in_round: None,
    })
}

pub fn run(args: Args) -> Result<()> {
    let grid = grid_from_args(&args)?;
    let mut specs = grid.specs()?;
    if let Some(f) = &args.only {
        specs.retain(|s| s.name().contains(f.as_str()));
    }
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(if args.headline {
            "report/headline"
        } else {
            "report"
        })
    });
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);

    let plan = Plan::new(&specs, &out);
    plan.print(&specs, &out, args.jobs, args.dry_run);
    if args.dry_run {
        return Ok(());
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let out = out.canonicalize()?;

    let (train, test) = load_mnist(&data_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let data = Arc::new((train, test));
    let progress = Progress::new(specs.len() - plan.n_cached, (plan.todo_est * 1000.0) as u64);
    let failures = if args.report_only {
        Vec::new()
    } else {
        let runner = |spec: &RunSpec| -> Result<RunResult> {
            if spec.secure {
                run_secure(spec, &out, &data_dir, &progress)
            } else {
                run_plain(spec, &data.0, &data.1, &progress)
            }
        };
        let on_event = |ev: Event<'_>| report_event(&progress, ev);
        run_grid(&out, &specs, args.jobs, &runner, &on_event)
    };
    progress.bar.finish_and_clear();

    let results: Vec<Option<RunResult>> = specs.iter().map(|s| load_cached(&out, s)).collect();
    let report = write_report(&args, &grid, &out, &specs, &results, &failures)?;
    println!(
        "eval: wrote {} ({} of {} runs, {} failed) in {}",
        report.display(),
        results.iter().filter(|r| r.is_some()).count(),
        specs.len(),
        failures.len(),
        fmt_secs(progress.started.elapsed().as_secs_f64())
    );
    if !failures.is_empty() {
        bail!("{} run(s) failed; see {}", failures.len(), report.display());
    }
    Ok(())
}

/// The grid `args` asks for: `--quick`, `--headline` or the default grid,
/// with the command-line overrides applied and checked.
fn grid_from_args(args: &Args) -> Result<Grid> {
    let mut grid = if args.quick {
        Grid::quick()
    } else if args.headline {
        Grid::headline()
    } else {
        Grid::default_grid()
    };
    if let Some(r) = args.rounds {
        grid.rounds = r;
    }
    if let Some(w) = args.workers {
        grid.workers = w;
    }
    if let Some(s) = args.seeds {
        if s == 0 {
            bail!("--seeds must be at least 1");
        }
        grid.plain_seeds = (1..=s).collect();
    }
    if let Some(s) = args.secure_seeds {
        if s == 0 {
            bail!("--secure-seeds must be at least 1");
        }
        grid.secure_seeds = (1..=s).collect();
    }
    if let Some(rules) = &args.rules {
        (grid.secure_rules, grid.plain_rules) = parse_rules(rules)?;
    }
    if let Some(a) = &args.attacks {
        grid.attacks = a
            .iter()
            .map(|a| canonical_attack(a.trim()).map_err(|e| anyhow::anyhow!("--attacks: {e}")))
            .collect::<Result<_>>()?;
    }
    if let Some(f) = &args.fractions {
        if let Some(bad) = f.iter().find(|f| !(0.0..1.0).contains(*f)) {
            bail!("--fractions: {bad} is not in [0, 1)");
        }
        grid.fractions = f.clone();
    }
    if let Some(p) = &args.partitions {
        grid.partitions = p
            .iter()
            .map(|p| {
                p.trim()
                    .parse::<Partition>()
                    .map(|p| p.to_string())
                    .map_err(|e| anyhow::anyhow!("--partitions: {e}"))
            })
            .collect::<Result<_>>()?;
    }
    if args.rules.is_some() {
        grid.secure_points = grid
            .partitions
            .iter()
            .flat_map(|p| grid.fractions.iter().map(move |f| (p.clone(), *f)))
            .collect();
    }
    if grid.rounds == 0 || grid.workers < 5 {
        bail!("need at least 1 round and 5 workers");
    }
    Ok(grid)
}

/// `--rules`, checked against [`ROW_ORDER`] and split into (secure, plaintext).
fn parse_rules(rules: &[String]) -> Result<(Vec<String>, Vec<String>)> {
    let rules: Vec<String> = rules.iter().map(|r| r.trim().to_lowercase()).collect();
    if let Some(bad) = rules.iter().find(|r| !ROW_ORDER.contains(&r.as_str())) {
        bail!(
            "--rules: unknown rule `{bad}` (rules: {})",
            ROW_ORDER.join(", ")
        );
    }
    Ok(rules.into_iter().partition(|r| r.starts_with("secure")))
}

/// Which runs are cached already and the time estimate for the others.
struct Plan {
    /// `cached[i]`: the result of `specs[i]` is in the cache.
    cached: Vec<bool>,
    n_cached: usize,
    /// Estimated seconds of the runs to do, one at a time.
    todo_est: f64,
    /// Estimated seconds of the plaintext runs among them.
    plain_est: f64,
}

impl Plan {
    /// Looks every run of `specs` up in `out`'s cache and sums the estimates.
    fn new(specs: &[RunSpec], out: &Path) -> Plan {
        let cached: Vec<bool> = specs
            .iter()
            .map(|s| load_cached(out, s).is_some())
            .collect();
        let todo_est: f64 = specs
            .iter()
            .zip(&cached)
            .filter(|(_, c)| !**c)
            .map(|(s, _)| estimate_seconds(s))
            .sum();
        let plain_est: f64 = specs
            .iter()
            .zip(&cached)
            .filter(|(s, c)| !**c && !s.secure)
            .map(|(s, _)| estimate_seconds(s))
            .sum();
        let n_cached = cached.iter().filter(|c| **c).count();
        Plan {
            cached,
            n_cached,
            todo_est,
            plain_est,
        }
    }

    /// Prints the run list (with `dry_run`) and the summary line with the
    /// wall-clock estimate for `jobs` parallel plaintext runs.
    fn print(&self, specs: &[RunSpec], out: &Path, jobs: usize, dry_run: bool) {
        let wall_est = self.todo_est - self.plain_est + self.plain_est / jobs.max(1) as f64;
        if dry_run {
            for (s, c) in specs.iter().zip(&self.cached) {
                println!(
                    "{} {}  (≈{:.0} s)",
                    if *c { "cached" } else { "to run" },
                    s.name(),
                    estimate_seconds(s)
                );
            }
        }
        println!(
            "eval: {} runs ({} plaintext, {} secure), {} cached; estimated {} for the rest \
             (--jobs {}); output in {}",
            specs.len(),
            specs.iter().filter(|s| !s.secure).count(),
            specs.iter().filter(|s| s.secure).count(),
            self.n_cached,
            fmt_secs(wall_est),
            jobs,
            out.display()
        );
    }
}

/// Passes one event of the grid's scheduler on to the progress display.
fn report_event(progress: &Progress, ev: Event<'_>) {
    match ev {
        Event::Started(s) => progress.started(s),
        Event::Done(s, r) => {
            let already = (estimate_seconds(s) * 1000.0 / s.rounds.max(1) as f64) as u64
                * r.rounds.len() as u64;
            progress.finished(
                s,
                &format!(
                    "done in {:.1} s: final {:.1} %, last-5 {:.1} %,",
                    r.wall_seconds,
                    100.0 * r.final_accuracy(),
                    100.0 * r.last_k_mean()
                ),
                already,
            );
        }
        Event::Failed(s, e) => {
            progress.finished(s, &format!("FAILED ({e:#})"), 0);
        }
    }
}

/// The command that regenerates this report (a `--report-only` render
/// shows the command that runs the grid), from `tandem eval ARGS…`.
fn regenerate_command() -> String {
    let mut command = String::from("cargo run --release -- eval");
    let rest: Vec<String> = std::env::args()
        .skip(2)
        .filter(|a| a != "--report-only")
        .map(|a| shell_quote(&a))
        .collect();
    if !rest.is_empty() {
        command.push(' ');
        command.push_str(&rest.join(" "));
    }
    command
}

/// Draws the plots and writes `OUT/robustness.md`; returns the report's path.
fn write_report(
    args: &Args,
    grid: &Grid,
    out: &Path,
    specs: &[RunSpec],
    results: &[Option<RunResult>],
    failures: &[(usize, String)],
) -> Result<PathBuf> {
    let plots = draw_plots(out, specs, results)?;
    let mut grid_text = grid.describe();
    if let Some(f) = &args.only {
        grid_text.push_str(&format!("\n- filtered with `--only {f}`"));
    }
    let meta = ReportMeta {
        command: regenerate_command(),
        date: utc_now(),
        grid: grid_text,
        plots,
    };
    let md = render_report(&meta, specs, results, failures);
    let report = out.join("robustness.md");
    std::fs::write(&report, md).with_context(|| format!("writing {}", report.display()))?;
    Ok(report)
}

fn file_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The distinct values `key` gives over `items`, in first-seen order.
fn first_seen<T>(items: &[T], key: impl Fn(&T) -> Option<&String>) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for k in items.iter().filter_map(key) {
        if !v.contains(k) {
            v.push(k.clone());
        }
    }
    v
}

/// What the plots are drawn from: the grid's runs and what they have in common.
struct PlotData<'a> {
    specs: &'a [RunSpec],
    results: &'a [Option<RunResult>],
    /// `OUT/plots`.
    dir: PathBuf,
    /// Byzantine fractions of the grid, ascending.
    fracs: Vec<f64>,
    /// Attacks other than `none`, in grid order.
    attacks: Vec<String>,
}

impl PlotData<'_> {
    /// The finished, non-diverged runs of `rule` under `attack` at (`part`, `frac`).
    fn find(&self, rule: &str, attack: &str, part: &str, frac: f64) -> Vec<&RunResult> {
        self.specs
            .iter()
            .zip(self.results)
            .filter(|(s, _)| {
                s.rule == rule && s.attack == attack && s.partition == part && s.fraction == frac
            })
            .filter_map(|(_, r)| r.as_ref())
            .filter(|r| r.diverged_in_round.is_none())
            .collect()
    }

    /// Draws `series` to `OUT/plots/NAME` and records (title, relative path) in `made`.
    fn draw(
        &self,
        made: &mut Vec<(String, String)>,
        name: String,
        title: String,
        axes: (&str, &str),
        series: &[(String, Vec<(f64, f64)>)],
    ) -> Result<()> {
        plot::lines_svg(&self.dir.join(&name), &title, axes.0, axes.1, series)?;
        made.push((title, format!("plots/{name}")));
        Ok(())
    }
}

/// (a) accuracy per round per attack at the headline point for the default
/// secure rule and for fedavg; (b) last-5 mean vs Byzantine fraction per rule
/// for the worst attack and a few others. Returns (caption, relative path).
fn draw_plots(
    out: &Path,
    specs: &[RunSpec],
    results: &[Option<RunResult>],
) -> Result<Vec<(String, String)>> {
    let dir = out.join("plots");
    std::fs::create_dir_all(&dir)?;
    let mut fracs: Vec<f64> = specs.iter().map(|s| s.fraction).collect();
    fracs.sort_by(f64::total_cmp);
    fracs.dedup();
    let data = PlotData {
        specs,
        results,
        dir,
        fracs,
        attacks: first_seen(specs, |s| (s.attack != "none").then_some(&s.attack)),
    };
    let mut made = Vec::new();
    draw_curves(&data, &mut made)?;
    draw_vs_fraction(&data, &mut made)?;
    Ok(made)
}

/// (a) Accuracy per round, one line per attack, at the headline point (iid
/// or the first partition, the smallest f > 0) for the first secure rule of
/// the grid and for fedavg.
fn draw_curves(data: &PlotData<'_>, made: &mut Vec<(String, String)>) -> Result<()> {
    let specs = data.specs;
    let part = if specs.iter().any(|s| s.partition == "iid") {
        "iid".to_string()
    } else {
        specs
            .first()
            .map(|s| s.partition.clone())
            .unwrap_or_default()
    };
    let Some(f) = data.fracs.iter().copied().find(|&f| f > 0.0) else {
        return Ok(());
    };
    let secure_rule = ["secure-fltrust", "secure-filter", "secure-fedavg"]
        .into_iter()
        .find(|r| specs.iter().any(|s| s.rule == *r));
    for rule in secure_rule.into_iter().chain(["fedavg"]) {
        let mut series = Vec::new();
        let base = data.find(rule, "none", &part, 0.0);
        if !base.is_empty() {
            series.push(("none (f=0)".to_string(), mean_curve(&base)));
        }
        for a in &data.attacks {
            let rs = data.find(rule, a, &part, f);
            if !rs.is_empty() {
                series.push((a.clone(), mean_curve(&rs)));
            }
        }
        if series.is_empty() {
            continue;
        }
        let name = format!("curves-{}-{}-f{}.svg", rule, file_part(&part), f);
        let title = format!("{rule} · {part} · f = {f} · test accuracy per round");
        data.draw(made, name, title, ("round", "test accuracy"), &series)?;
    }
    Ok(())
}

/// The attacks plotted against the fraction: the worst one at the largest f
/// (lowest mean last-5 over the plaintext rules), if any run finished there,
/// then well-known ones, four at most; and the worst one.
fn chosen_attacks(data: &PlotData<'_>) -> (Vec<String>, Option<String>) {
    let fmax = data.fracs.last().copied().unwrap_or(0.0);
    let mut scored: Vec<(f64, String)> = data
        .attacks
        .iter()
        .filter_map(|a| {
            let v: Vec<f64> = data
                .specs
                .iter()
                .zip(data.results)
                .filter(|(s, _)| s.attack == *a && s.fraction == fmax && !s.secure)
                .filter_map(|(_, r)| r.as_ref())
                .filter(|r| r.diverged_in_round.is_none())
                .map(RunResult::last_k_mean)
                .collect();
            (!v.is_empty()).then(|| (v.iter().sum::<f64>() / v.len() as f64, a.clone()))
        })
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let worst = scored.first().map(|x| x.1.clone());
    let mut chosen: Vec<String> = worst.iter().cloned().collect();
    for a in ["sign-flip", "alie", "min-max", "adaptive-fltrust"] {
        if chosen.len() < 4 && data.attacks.iter().any(|x| x == a) && !chosen.iter().any(|x| x == a)
        {
            chosen.push(a.into());
        }
    }
    (chosen, worst)
}

/// (b) Last-5 mean accuracy vs Byzantine fraction, one line per rule, per
/// partition and chosen attack ([`chosen_attacks`]); needs two fractions.
fn draw_vs_fraction(data: &PlotData<'_>, made: &mut Vec<(String, String)>) -> Result<()> {
    if data.fracs.len() < 2 {
        return Ok(());
    }
    let specs = data.specs;
    let (chosen, worst) = chosen_attacks(data);
    let rules: Vec<String> = ROW_ORDER
        .iter()
        .filter(|r| specs.iter().any(|s| s.rule == **r))
        .map(|r| r.to_string())
        .collect();
    let parts = first_seen(specs, |s| Some(&s.partition));
    for p in &parts {
        for (k, a) in chosen.iter().enumerate() {
            let mut series = Vec::new();
            for r in &rules {
                let pts: Vec<(f64, f64)> = data
                    .fracs
                    .iter()
                    .filter_map(|&f| {
                        let rs = data.find(r, if f == 0.0 { "none" } else { a }, p, f);
                        (!rs.is_empty()).then(|| {
                            (
                                f,
                                rs.iter().map(|x| x.last_k_mean()).sum::<f64>() / rs.len() as f64,
                            )
                        })
                    })
                    .collect();
                if pts.len() >= 2 {
                    series.push((r.clone(), pts));
                }
            }
            if series.is_empty() {
                continue;
            }
            let name = format!("vs-fraction-{}-{}.svg", file_part(p), file_part(a));
            let title = format!(
                "{a}{} · {p} · last-5 mean accuracy vs Byzantine fraction",
                if k == 0 && worst.as_ref() == Some(a) {
                    " (worst attack)"
                } else {
                    ""
                }
            );
            let axes = ("Byzantine fraction", "test accuracy (last-5 mean)");
            data.draw(made, name, title, axes, &series)?;
        }
    }
    Ok(())
}
