//! The pieces of `tandem eval` that do not run anything: run
//! specifications and their cache keys, the on-disk cache (resume), the
//! scheduler over a caller-supplied runner, and the markdown report.
//!
//! A run is identified by its [`RunSpec`]: every effective parameter (rule
//! defaults included) plus [`EVAL_VERSION`]. Its cache key is the SHA-256 of
//! the canonical JSON of that (object keys sorted, no `null`s); the result
//! lives in `OUT/cache/KEY.json`, written atomically, and a run whose file
//! exists is not run again.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Part of every cache key: bump the number when a change to the simulation,
/// the attacks, the rules or the servers changes what a run computes.
pub const EVAL_VERSION: &str = concat!("tandem-eval/2 tandem ", env!("CARGO_PKG_VERSION"));

/// Rounds averaged in the "last-5 mean" column.
pub const LAST_K: usize = 5;

/// Row order of the report (rules not listed come after, in grid order).
pub const ROW_ORDER: [&str; 10] = [
    "fedavg",
    "fedavg-clip",
    "krum",
    "multi-krum",
    "median",
    "trimmed-mean",
    "fltrust",
    "secure-fedavg",
    "secure-fltrust",
    "secure-filter",
];

/// One run: every parameter that influences its result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// `true`: the three-process system (server A, server B, worker host).
    pub secure: bool,
    /// Row name: a plaintext rule (`fedavg`, `fedavg-clip`, `krum`, …) or a
    /// secure aggregation (`secure-fltrust`, …).
    pub rule: String,
    /// Canonical attack name (`fl_ml::Attack`'s `Display`).
    pub attack: String,
    /// Nominal Byzantine fraction (the table it belongs to).
    pub fraction: f64,
    /// `iid` or `dirichlet:ALPHA`.
    pub partition: String,
    /// Seed of partitioning, training and attacks.
    pub seed: u64,
    /// Workers.
    pub workers: usize,
    /// Byzantine workers (the highest ids).
    pub byzantine: usize,
    /// Rounds.
    pub rounds: usize,
    /// Model name (`mlp`, `mlp:H`, `logreg`).
    pub model: String,
    /// Local epochs.
    pub epochs: usize,
    /// Local minibatch size.
    pub batch_size: usize,
    /// Local learning rate.
    pub lr: f32,
    /// Server learning rate η.
    pub server_lr: f32,
    /// η decays as η / (1 + (t − 1)/T) with T this (`None`: constant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_lr_decay: Option<f32>,
    /// L2 clipping bound of every update, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<f32>,
    /// Trust rules: fewest positive weights for an update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k_min: Option<usize>,
}

impl RunSpec {
    /// A short human-readable name.
    pub fn name(&self) -> String {
        format!(
            "{} | {} | f={} ({}/{}) | {} | seed {}",
            self.rule,
            self.attack,
            self.fraction,
            self.byzantine,
            self.workers,
            self.partition,
            self.seed
        )
    }

    /// The canonical JSON of this run's configuration (with [`EVAL_VERSION`]).
    pub fn canonical_json(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.insert("version".into(), Value::String(EVAL_VERSION.into()));
            // Which examples the workers train on depends on the root set's size.
            m.insert("proxy_examples".into(), Value::from(fl_ml::PROXY_EXAMPLES));
        }
        canonical(&v)
    }

    /// SHA-256 hex of [`RunSpec::canonical_json`].
    pub fn cache_key(&self) -> String {
        hex(&Sha256::digest(self.canonical_json().as_bytes()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// JSON with object keys sorted and `null` members dropped, no whitespace.
pub fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, &Value> =
                m.iter().filter(|(_, x)| !x.is_null()).collect();
            let items: Vec<String> = sorted
                .into_iter()
                .map(|(k, x)| format!("{}:{}", Value::String(k.clone()), canonical(x)))
                .collect();
            format!("{{{}}}", items.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// One round of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundRecord {
    /// Round number (1-based).
    pub round: u64,
    /// Test accuracy after the round.
    pub test_accuracy: f64,
    /// Whether the model moved this round.
    pub updated: bool,
    /// Plaintext trust rules: honest workers with zero trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honest_zero_trust: Option<usize>,
    /// Plaintext trust rules: Byzantine workers with positive trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byzantine_trusted: Option<usize>,
    /// Secure runs: submissions that passed the validity checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<u64>,
    /// Secure runs: submissions rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<u64>,
    /// Secure runs: accepted submissions with zero trust weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero_trust: Option<u64>,
}

/// What a run produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// One record per round.
    pub rounds: Vec<RoundRecord>,
    /// Wall-clock seconds the run took.
    pub wall_seconds: f64,
    /// The model became non-finite in this round (the run stopped there;
    /// `rounds` holds the rounds before it). A result, not an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diverged_in_round: Option<u64>,
}

impl RunResult {
    /// Accuracy after the last round.
    pub fn final_accuracy(&self) -> f64 {
        self.rounds.last().map_or(f64::NAN, |r| r.test_accuracy)
    }

    /// Mean accuracy of the last [`LAST_K`] rounds.
    pub fn last_k_mean(&self) -> f64 {
        let n = self.rounds.len().min(LAST_K);
        if n == 0 {
            return f64::NAN;
        }
        self.rounds[self.rounds.len() - n..]
            .iter()
            .map(|r| r.test_accuracy)
            .sum::<f64>()
            / n as f64
    }

    /// Rounds in which the model did not move.
    pub fn stalled_rounds(&self) -> usize {
        self.rounds.iter().filter(|r| !r.updated).count()
    }
}

/// A cache file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CacheEntry {
    /// The cache key (file name).
    pub key: String,
    /// The canonical configuration the key hashes.
    pub config: Value,
    /// The result.
    pub result: RunResult,
}

/// `OUT/cache/KEY.json`.
pub fn cache_path(out: &Path, spec: &RunSpec) -> PathBuf {
    out.join("cache").join(format!("{}.json", spec.cache_key()))
}

/// The cached result of `spec`, if any (an unreadable file counts as absent).
pub fn load_cached(out: &Path, spec: &RunSpec) -> Option<RunResult> {
    let s = std::fs::read_to_string(cache_path(out, spec)).ok()?;
    let e: CacheEntry = serde_json::from_str(&s).ok()?;
    Some(e.result)
}

/// Writes the result of `spec` to the cache atomically (temp file + rename).
pub fn store(out: &Path, spec: &RunSpec, result: &RunResult) -> Result<()> {
    let path = cache_path(out, spec);
    let dir = path.parent().context("cache path has no parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let entry = CacheEntry {
        key: spec.cache_key(),
        config: serde_json::from_str(&spec.canonical_json())?,
        result: result.clone(),
    };
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        entry.key,
        std::process::id() as u64 * 1000 + u64::from(rand::random::<u16>())
    ));
    std::fs::write(&tmp, serde_json::to_string_pretty(&entry)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// The specs of `specs` without a cache file under `out`.
pub fn pending<'a>(out: &Path, specs: &'a [RunSpec]) -> Vec<&'a RunSpec> {
    specs
        .iter()
        .filter(|s| load_cached(out, s).is_none())
        .collect()
}

/// What [`run_grid`] reports back to its caller as runs finish.
#[derive(Debug)]
pub enum Event<'a> {
    /// A run starts.
    Started(&'a RunSpec),
    /// A run finished and was cached.
    Done(&'a RunSpec, &'a RunResult),
    /// A run failed (not cached; the grid continues).
    Failed(&'a RunSpec, &'a anyhow::Error),
}

/// Runs every spec of `specs` that has no cache file, caching each result as
/// it finishes: plaintext runs on `jobs` threads, then the secure runs one at
/// a time (they use all cores). Returns the failures (spec index, error).
pub fn run_grid<R, E>(
    out: &Path,
    specs: &[RunSpec],
    jobs: usize,
    runner: &R,
    on_event: &E,
) -> Vec<(usize, String)>
where
    R: Fn(&RunSpec) -> Result<RunResult> + Sync,
    E: Fn(Event<'_>) + Sync,
{
    let todo: Vec<usize> = (0..specs.len())
        .filter(|&i| load_cached(out, &specs[i]).is_none())
        .collect();
    let failures = Mutex::new(Vec::new());
    let one = |i: usize| {
        let spec = &specs[i];
        on_event(Event::Started(spec));
        let r = runner(spec).and_then(|res| store(out, spec, &res).map(|()| res));
        match r {
            Ok(res) => on_event(Event::Done(spec, &res)),
            Err(e) => {
                on_event(Event::Failed(spec, &e));
                if let Ok(mut f) = failures.lock() {
                    f.push((i, format!("{e:#}")));
                }
            }
        }
    };
    let plain: Vec<usize> = todo.iter().copied().filter(|&i| !specs[i].secure).collect();
    let queue = Mutex::new(plain.into_iter());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| {
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.next());
                    match next {
                        Some(i) => one(i),
                        None => break,
                    }
                }
            });
        }
    });
    for &i in todo.iter().filter(|&&i| specs[i].secure) {
        one(i);
    }
    let mut f = failures.into_inner().unwrap_or_default();
    f.sort_by_key(|x| x.0);
    f
}

/// What the report header says about the run of the grid.
#[derive(Clone, Debug)]
pub struct ReportMeta {
    /// The exact command.
    pub command: String,
    /// UTC date and time.
    pub date: String,
    /// Free-form description of the grid (one markdown paragraph or list).
    pub grid: String,
    /// Plots: (caption, path relative to the report).
    pub plots: Vec<(String, String)>,
}

fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (m, 0.0);
    }
    let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
    (m, v.sqrt())
}

fn pct(xs: &[f64]) -> String {
    let (m, s) = mean_std(xs);
    if xs.len() >= 2 {
        format!("{:.1}±{:.1}", 100.0 * m, 100.0 * s)
    } else {
        format!("{:.1}", 100.0 * m)
    }
}

/// Table key: (partition, fraction as text).
fn table_key(s: &RunSpec) -> (String, String) {
    (s.partition.clone(), format!("{}", s.fraction))
}

/// Rows in report order.
fn ordered_rules<'a>(specs: impl Iterator<Item = &'a RunSpec>) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for s in specs {
        if !seen.contains(&s.rule) {
            seen.push(s.rule.clone());
        }
    }
    let pos = |r: &String| {
        ROW_ORDER
            .iter()
            .position(|x| x == r)
            .unwrap_or(ROW_ORDER.len())
    };
    let mut idx: Vec<(usize, usize, String)> = seen
        .into_iter()
        .enumerate()
        .map(|(i, r)| (pos(&r), i, r))
        .collect();
    idx.sort();
    idx.into_iter().map(|x| x.2).collect()
}

fn unique<T: PartialEq + Clone>(it: impl Iterator<Item = T>) -> Vec<T> {
    let mut v = Vec::new();
    for x in it {
        if !v.contains(&x) {
            v.push(x);
        }
    }
    v
}

/// Renders `OUT/robustness.md` from the grid's specs and their results
/// (`results[i]` belongs to `specs[i]`; `None`: failed or not run).
pub fn render_report(
    meta: &ReportMeta,
    specs: &[RunSpec],
    results: &[Option<RunResult>],
    failures: &[(usize, String)],
) -> String {
    let mut md = String::new();
    write_header(&mut md, meta, specs, results);
    for (part, frac) in &unique(specs.iter().map(table_key)) {
        write_table(&mut md, specs, results, part, frac);
    }
    comparisons(&mut md, specs, results);
    write_trust(&mut md, specs, results);
    write_plot_links(&mut md, &meta.plots);
    write_failures(&mut md, specs, failures);
    let secs: f64 = results.iter().flatten().map(|r| r.wall_seconds).sum();
    let _ = writeln!(
        md,
        "Compute time of the runs above (sum of per-run wall clock, cached runs included): {:.0} s.",
        secs
    );
    md
}

/// Writes the report's title, command, grid, run count and "How to read".
fn write_header(
    md: &mut String,
    meta: &ReportMeta,
    specs: &[RunSpec],
    results: &[Option<RunResult>],
) {
    let _ = writeln!(md, "# Robustness evaluation\n");
    let _ = writeln!(
        md,
        "Generated {} by\n\n```sh\n{}\n```\n",
        meta.date, meta.command
    );
    let _ = writeln!(md, "{}\n", meta.grid.trim_end());
    let done = results.iter().filter(|r| r.is_some()).count();
    let _ = writeln!(
        md,
        "Runs in this report: {done} of {} in the grid{}.\n",
        specs.len(),
        if done < specs.len() {
            " (missing cells: `—` not run yet or failed, see the end)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        md,
        "## How to read\n\n\
         One table per data partition and Byzantine fraction f (the highest-numbered \
         round(f·workers) workers run the column's attack every round). Rows are aggregation \
         rules, columns attacks; each cell is **final / last-{LAST_K} mean** test \
         accuracy in %: the accuracy after the last round, and the mean over the last \
         {LAST_K} rounds (less sensitive to one bad round). Plaintext rows give mean±std \
         over seeds (sample std). Rows marked ‡ are secure rules run through the real \
         three-process system (server A, server B and the worker host as OS processes \
         on loopback, QUIC, secret shares), usually with fewer seeds (1 seed: no ±). \
         `fedavg` is no defence; `fedavg-clip` is FedAvg with L2 norm bounding of every \
         update. A higher number under an attack is a more robust rule; compare a \
         column with the `none` cell of the f = 0 table to see what the attack costs. \
         \"diverged (round k)\": the model's parameters became non-finite in round k \
         (that seed is left out of the mean).\n"
    );
}

/// Writes the table of one (partition, fraction): rules × attacks.
fn write_table(
    md: &mut String,
    specs: &[RunSpec],
    results: &[Option<RunResult>],
    part: &str,
    frac: &str,
) {
    let in_table: Vec<usize> = (0..specs.len())
        .filter(|&i| table_key(&specs[i]) == (part.to_string(), frac.to_string()))
        .collect();
    let attacks = unique(in_table.iter().map(|&i| specs[i].attack.clone()));
    let rules = ordered_rules(in_table.iter().map(|&i| &specs[i]));
    let _ = writeln!(md, "## partition {part}, Byzantine fraction {frac}\n");
    let _ = writeln!(md, "| rule | {} |", attacks.join(" | "));
    let _ = writeln!(md, "|---|{}", "---|".repeat(attacks.len()));
    for rule in &rules {
        let secure = in_table
            .iter()
            .any(|&i| specs[i].rule == *rule && specs[i].secure);
        let mut row = format!("| {rule}{} |", if secure { " ‡" } else { "" });
        for a in &attacks {
            let cell: Vec<usize> = in_table
                .iter()
                .copied()
                .filter(|&i| specs[i].rule == *rule && specs[i].attack == *a)
                .collect();
            let _ = write!(row, " {} |", cell_text(&cell, results));
        }
        let _ = writeln!(md, "{row}");
    }
    let _ = writeln!(md);
}

/// The text of one table cell from the runs (indices into `results`) of its
/// seeds: "final / last-k" with notes on missing seeds and divergence.
fn cell_text(cell: &[usize], results: &[Option<RunResult>]) -> String {
    let all: Vec<&RunResult> = cell.iter().filter_map(|&i| results[i].as_ref()).collect();
    let got: Vec<&RunResult> = all
        .iter()
        .copied()
        .filter(|r| r.diverged_in_round.is_none())
        .collect();
    let diverged: Vec<String> = all
        .iter()
        .filter_map(|r| r.diverged_in_round.map(|k| k.to_string()))
        .collect();
    let div = if diverged.is_empty() {
        String::new()
    } else {
        format!("diverged (round {})", diverged.join(", "))
    };
    if cell.is_empty() {
        return " ".to_string();
    }
    if all.is_empty() {
        return "—".to_string();
    }
    if got.is_empty() {
        return div;
    }
    let fin: Vec<f64> = got.iter().map(|r| r.final_accuracy()).collect();
    let last: Vec<f64> = got.iter().map(|r| r.last_k_mean()).collect();
    let mut notes = Vec::new();
    if got.len() < cell.len() {
        notes.push(format!("{}/{} seeds", got.len(), cell.len()));
    }
    if !div.is_empty() {
        notes.push(div);
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    };
    format!("{} / {}{notes}", pct(&fin), pct(&last))
}

/// Mean over `r`'s rounds of the values `f` gives, one decimal; empty if none.
fn round_mean(r: &RunResult, f: impl Fn(&RoundRecord) -> Option<f64>) -> String {
    let v: Vec<f64> = r.rounds.iter().filter_map(f).collect();
    if v.is_empty() {
        "".into()
    } else {
        format!("{:.1}", v.iter().sum::<f64>() / v.len() as f64)
    }
}

/// Writes the stalls and trust statistics of the trust rules' runs (nothing
/// if no run of a trust rule recorded trust counts).
fn write_trust(md: &mut String, specs: &[RunSpec], results: &[Option<RunResult>]) {
    let trust: Vec<usize> = (0..specs.len())
        .filter(|&i| is_trust_rule(&specs[i].rule))
        .filter(|&i| {
            results[i].as_ref().is_some_and(|r| {
                r.rounds
                    .iter()
                    .any(|x| x.honest_zero_trust.is_some() || x.zero_trust.is_some())
            })
        })
        .collect();
    if trust.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Trust rules: stalls and trust\n\n\
         Per run of a trust rule: rounds without a model update (fewer than k_min \
         positive trust weights), and per-round means of honest workers with zero \
         trust and Byzantine workers with positive trust (plaintext) or of \
         zero-trust and rejected submissions (secure). Runs that updated every \
         round and gave no attacker trust are counted, not listed.\n"
    );
    let _ = writeln!(
        md,
        "| rule | attack | partition | f | seed | rounds without update | honest zero-trust / round | byzantine trusted / round | zero-trust / round | rejected / round |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut quiet = 0usize;
    for &i in &trust {
        let Some(r) = results[i].as_ref() else {
            continue;
        };
        let byz_trusted: usize = r.rounds.iter().filter_map(|x| x.byzantine_trusted).sum();
        if r.stalled_rounds() == 0 && byz_trusted == 0 && !specs[i].secure {
            quiet += 1;
            continue;
        }
        let _ = writeln!(
            md,
            "| {}{} | {} | {} | {} | {} | {} of {} | {} | {} | {} | {} |",
            specs[i].rule,
            if specs[i].secure { " ‡" } else { "" },
            specs[i].attack,
            specs[i].partition,
            specs[i].fraction,
            specs[i].seed,
            r.stalled_rounds(),
            r.rounds.len(),
            round_mean(r, |x| x.honest_zero_trust.map(|v| v as f64)),
            round_mean(r, |x| x.byzantine_trusted.map(|v| v as f64)),
            round_mean(r, |x| x.zero_trust.map(|v| v as f64)),
            round_mean(r, |x| x.rejected.map(|v| v as f64)),
        );
    }
    let _ = writeln!(
        md,
        "\n{quiet} further plaintext trust-rule run(s) updated in every round and gave no Byzantine worker positive trust.\n"
    );
}

/// Writes the "Plots" section: a link and an image per (caption, path).
fn write_plot_links(md: &mut String, plots: &[(String, String)]) {
    if plots.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Plots\n");
    for (caption, path) in plots {
        let _ = writeln!(md, "- [{caption}]({path})\n\n  ![{caption}]({path})\n");
    }
}

/// Writes the "Failed runs" section: each failed run's name and error.
fn write_failures(md: &mut String, specs: &[RunSpec], failures: &[(usize, String)]) {
    if failures.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Failed runs\n");
    for (i, e) in failures {
        let _ = writeln!(md, "- {}: {}", specs[*i].name(), e.replace('\n', " "));
    }
    let _ = writeln!(md);
}

/// Whether a row is a trust rule: plaintext `fltrust`, or a secure
/// aggregation that [`mpc_core::wire::Aggregation::is_trust_based`] says
/// weighs by trust.
fn is_trust_rule(rule: &str) -> bool {
    rule == "fltrust"
        || rule
            .parse::<mpc_core::wire::Aggregation>()
            .is_ok_and(|a| a.is_trust_based())
}

/// The plaintext rule a secure rule computes, if there is one: secure-fedavg
/// is FedAvg with L2 clipping (`fedavg-clip`), secure-fltrust is `fltrust`;
/// secure-filter has no plaintext row.
pub fn plaintext_twin(secure_rule: &str) -> Option<&'static str> {
    match secure_rule {
        "secure-fedavg" => Some("fedavg-clip"),
        "secure-fltrust" => Some("fltrust"),
        _ => None,
    }
}

/// Last-5 means of the finished, non-diverged runs of `rule` that match `s`
/// in attack, partition, fraction, workers and rounds (every seed), and how
/// many of those runs diverged.
fn last_k_of(
    specs: &[RunSpec],
    results: &[Option<RunResult>],
    s: &RunSpec,
    rule: &str,
) -> (Vec<f64>, usize) {
    let runs: Vec<&RunResult> = specs
        .iter()
        .zip(results)
        .filter(|(t, _)| {
            t.rule == rule
                && t.attack == s.attack
                && t.partition == s.partition
                && t.fraction == s.fraction
                && t.workers == s.workers
                && t.rounds == s.rounds
        })
        .filter_map(|(_, r)| r.as_ref())
        .collect();
    let diverged = runs
        .iter()
        .filter(|r| r.diverged_in_round.is_some())
        .count();
    let ok = runs
        .iter()
        .filter(|r| r.diverged_in_round.is_none())
        .map(|r| r.last_k_mean())
        .collect();
    (ok, diverged)
}

/// Per secure run, its last-5 mean next to the plaintext rule it computes
/// ([`plaintext_twin`]) and to `fedavg` (no defence), each the mean ± std
/// over that row's seeds with the same attack, data partition, fraction,
/// workers and rounds: what security costs, and whether the rule is ever
/// worse than no defence. Written only when such pairs exist.
fn comparisons(md: &mut String, specs: &[RunSpec], results: &[Option<RunResult>]) {
    let mut rows = Vec::new();
    for (s, r) in specs.iter().zip(results) {
        let (true, Some(r)) = (s.secure, r.as_ref()) else {
            continue;
        };
        if r.diverged_in_round.is_some() {
            continue;
        }
        let twin = plaintext_twin(&s.rule);
        let p = twin
            .map(|t| last_k_of(specs, results, s, t))
            .unwrap_or_default();
        let f = last_k_of(specs, results, s, "fedavg");
        if p.0.is_empty() && f.0.is_empty() && p.1 + f.1 == 0 {
            continue;
        }
        let me = 100.0 * r.last_k_mean();
        let cell = |(v, diverged): &(Vec<f64>, usize)| {
            if v.is_empty() {
                let what = if *diverged > 0 { "diverged" } else { "—" };
                return (what.to_string(), "—".to_string());
            }
            let m = 100.0 * v.iter().sum::<f64>() / v.len() as f64;
            (pct(v), format!("{:+.1}", me - m))
        };
        let (pv, pd) = cell(&p);
        let (fv, fd) = cell(&f);
        rows.push(format!(
            "| {} | {} | {} | {} | {} | {me:.1} | {}: {pv} | {pd} | {fv} | {fd} |",
            s.rule,
            s.attack,
            s.partition,
            s.fraction,
            s.seed,
            twin.unwrap_or("no plaintext rule")
        ));
    }
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Secure rules next to their plaintext twin and to no defence\n\n\
         Each secure run's last-{LAST_K} mean (%) beside the plaintext rule it computes \
         (secure-fltrust ↔ fltrust, secure-fedavg ↔ fedavg-clip) and beside `fedavg` (no \
         defence), both as mean ± std over their seeds with the same attack, partition, \
         fraction, workers and rounds. The secure processes and the in-process simulation \
         draw the data split, the initial model and the minibatches from different \
         generators, so a seed number does not pair runs: compare Δ with the plaintext \
         rows' std. Δ = secure − plaintext mean, in points: near 0 against the twin means \
         security costs no accuracy; negative against fedavg means the rule did worse than \
         no defence.\n"
    );
    let _ = writeln!(
        md,
        "| secure rule | attack | partition | f | seed | last-{LAST_K} | plaintext twin | Δ twin | fedavg | Δ fedavg |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for row in rows {
        let _ = writeln!(md, "{row}");
    }
    let _ = writeln!(md);
}

/// Mean accuracy per round over the results given (rounds present in all).
pub fn mean_curve(results: &[&RunResult]) -> Vec<(f64, f64)> {
    let n = results.iter().map(|r| r.rounds.len()).min().unwrap_or(0);
    (0..n)
        .map(|k| {
            let m = results
                .iter()
                .map(|r| r.rounds[k].test_accuracy)
                .sum::<f64>()
                / results.len() as f64;
            (k as f64 + 1.0, m)
        })
        .collect()
}
