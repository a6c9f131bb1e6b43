//! The pieces of `tandem eval` that can fail quietly: cache keys, resume, and
//! the report on a small synthetic result set (no training), and the command
//! line (`--dry-run`: no runs).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};

use tandem::eval::{
    ReportMeta, RoundRecord, RunResult, RunSpec, cache_path, canonical, load_cached, pending,
    render_report, run_grid, store,
};

fn spec() -> RunSpec {
    RunSpec {
        secure: false,
        rule: "median".into(),
        attack: "sign-flip".into(),
        fraction: 0.2,
        partition: "iid".into(),
        seed: 1,
        workers: 100,
        byzantine: 20,
        rounds: 30,
        model: "mlp".into(),
        epochs: 3,
        batch_size: 32,
        lr: 0.2,
        server_lr: 1.0,
        server_lr_decay: None,
        clip: None,
        k_min: None,
    }
}

fn result(accs: &[f64], updated: bool) -> RunResult {
    RunResult {
        rounds: accs
            .iter()
            .enumerate()
            .map(|(i, &a)| RoundRecord {
                round: i as u64 + 1,
                test_accuracy: a,
                updated,
                honest_zero_trust: None,
                byzantine_trusted: None,
                accepted: None,
                rejected: None,
                zero_trust: None,
            })
            .collect(),
        wall_seconds: 1.0,
        diverged_in_round: None,
    }
}

#[test]
fn cache_key_is_stable_and_covers_every_field() {
    let a = spec();
    assert_eq!(a.cache_key(), spec().cache_key());
    assert_eq!(a.cache_key().len(), 64);
    // Key order of the JSON does not matter, nulls are dropped.
    let v: serde_json::Value =
        serde_json::from_str(r#"{"b":1,"a":{"y":null,"x":[1,2]},"c":null}"#).unwrap();
    assert_eq!(canonical(&v), r#"{"a":{"x":[1,2]},"b":1}"#);

    let mut variants: Vec<RunSpec> = Vec::new();
    let mut push = |f: &dyn Fn(&mut RunSpec)| {
        let mut s = spec();
        f(&mut s);
        variants.push(s);
    };
    push(&|s| s.secure = true);
    push(&|s| s.rule = "krum".into());
    push(&|s| s.attack = "alie".into());
    push(&|s| s.fraction = 0.4);
    push(&|s| s.partition = "dirichlet:0.5".into());
    push(&|s| s.seed = 2);
    push(&|s| s.workers = 99);
    push(&|s| s.byzantine = 21);
    push(&|s| s.rounds = 31);
    push(&|s| s.model = "logreg".into());
    push(&|s| s.epochs = 2);
    push(&|s| s.batch_size = 128);
    push(&|s| s.lr = 0.3);
    push(&|s| s.server_lr = 2.0);
    push(&|s| s.server_lr_decay = Some(50.0));
    push(&|s| s.clip = Some(3.0));
    push(&|s| s.k_min = Some(3));
    let mut keys: Vec<String> = variants.iter().map(RunSpec::cache_key).collect();
    keys.push(a.cache_key());
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "every field change must change the key");
}

#[test]
fn a_second_grid_run_skips_cached_runs() {
    let dir = tempfile::tempdir().unwrap();
    let specs: Vec<RunSpec> = (1..=4).map(|seed| RunSpec { seed, ..spec() }).collect();
    // One run already cached (as if an earlier grid stopped after it).
    store(dir.path(), &specs[2], &result(&[0.5], true)).unwrap();
    assert!(cache_path(dir.path(), &specs[2]).exists());
    assert_eq!(pending(dir.path(), &specs).len(), 3);

    let calls = AtomicUsize::new(0);
    let runner = |s: &RunSpec| {
        calls.fetch_add(1, Ordering::SeqCst);
        if s.seed == 4 {
            anyhow::bail!("boom");
        }
        Ok(result(&[0.1 * s.seed as f64], true))
    };
    let failures = run_grid(dir.path(), &specs, 2, &runner, &|_| {});
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, 3);
    // The pre-cached result was not overwritten; new ones were stored.
    assert_eq!(
        load_cached(dir.path(), &specs[2]).unwrap().final_accuracy(),
        0.5
    );
    assert!(load_cached(dir.path(), &specs[0]).is_some());
    // No temporary files left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n.ends_with(".json") && !n.starts_with('.')),
        "{names:?}"
    );

    // Resume: only the failed run is tried again.
    calls.store(0, Ordering::SeqCst);
    let failures = run_grid(dir.path(), &specs, 1, &runner, &|_| {});
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(failures.len(), 1);
}

#[test]
fn report_renders_tables_with_mean_and_std() {
    let mk = |rule: &str, attack: &str, fraction: f64, seed: u64, secure: bool| RunSpec {
        rule: rule.into(),
        attack: attack.into(),
        fraction,
        byzantine: (fraction * 100.0) as usize,
        seed,
        secure,
        ..spec()
    };
    let specs = vec![
        mk("fedavg", "none", 0.0, 1, false),
        mk("fedavg", "none", 0.0, 2, false),
        mk("fedavg", "sign-flip", 0.2, 1, false),
        mk("fedavg", "sign-flip", 0.2, 2, false),
        mk("median", "sign-flip", 0.2, 1, false),
        mk("median", "sign-flip", 0.2, 2, false),
        mk("secure-fltrust", "sign-flip", 0.2, 1, true),
        mk("fedavg", "scale:10", 0.2, 1, false),
        mk("fedavg", "scale:10", 0.2, 2, false),
    ];
    // last-5 of [.5,.6,.7,.8,.9,1.0] = (.6+.7+.8+.9+1)/5 = .8
    let results = vec![
        Some(result(&[0.5, 0.6, 0.7, 0.8, 0.9, 1.0], true)),
        Some(result(&[0.5, 0.6, 0.7, 0.8, 0.9, 0.8], true)),
        Some(result(&[0.1, 0.1], true)),
        Some(result(&[0.3, 0.3], true)),
        Some(result(&[0.9], true)),
        None,
        Some(result(&[0.95, 0.95], false)),
        Some(RunResult {
            diverged_in_round: Some(2),
            ..result(&[0.4], true)
        }),
        Some(RunResult {
            diverged_in_round: Some(3),
            ..result(&[0.4, 0.2], true)
        }),
    ];
    let meta = ReportMeta {
        command: "cargo run --release -- eval --quick".into(),
        date: "2026-01-01 00:00 UTC".into(),
        grid: "- synthetic".into(),
        plots: vec![("a plot".into(), "plots/x.svg".into())],
    };
    let md = render_report(&meta, &specs, &results, &[(5, "boom".into())]);
    // The secure run beside fedavg's two seeds (last-5 10 % and 30 %: mean
    // 20.0, sample std 14.1); there is no plaintext fltrust run.
    assert!(
        md.contains(
            "| secure-fltrust | sign-flip | iid | 0.2 | 1 | 95.0 | fltrust: — | — | 20.0±14.1 | +75.0 |"
        ),
        "{md}"
    );
    assert!(md.contains("cargo run --release -- eval --quick"), "{md}");
    assert!(
        md.contains("## partition iid, Byzantine fraction 0\n"),
        "{md}"
    );
    assert!(
        md.contains("## partition iid, Byzantine fraction 0.2\n"),
        "{md}"
    );
    // fedavg at f = 0: finals 1.0 and 0.8 → 90.0 ± 14.1; last-5 .8 and .76 → 78.0 ± 2.8.
    assert!(md.contains("| fedavg | 90.0±14.1 / 78.0±2.8 |"), "{md}");
    // fedavg under sign-flip: finals .1, .3 → 20.0 ± 14.1, same last-5.
    assert!(md.contains("| fedavg | 20.0±14.1 / 20.0±14.1 |"), "{md}");
    // median: one of two seeds present.
    assert!(md.contains("| median | 90.0 / 90.0 (1/2 seeds) |"), "{md}");
    // secure row marked, one seed, no ±.
    assert!(md.contains("| secure-fltrust ‡ | 95.0 / 95.0 |"), "{md}");
    // the secure run never updated: listed with its stalls
    // (zero_trust absent → not a trust run; so no stalls table entry).
    // fedavg under scale:10: both seeds diverged, no numbers invented.
    assert!(md.contains("| diverged (round 2, 3) |"), "{md}");
    assert!(md.contains("[a plot](plots/x.svg)"), "{md}");
    assert!(md.contains("## Failed runs"), "{md}");
    assert!(md.contains("boom"), "{md}");
}

/// `tandem eval`'s command line: bad axis values name the flag; the
/// presets and overrides list the runs they should.
#[test]
fn cli_validates_axes_and_lists_the_headline_grid() {
    let tandem = env!("CARGO_BIN_EXE_tandem");
    let out_dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(tandem)
            .arg("eval")
            .args(args)
            .args(["--dry-run", "--out"])
            .arg(out_dir.path())
            .output()
            .unwrap()
    };
    for (args, needle) in [
        (
            &["--rules", "fedavg,nope"][..],
            "--rules: unknown rule `nope`",
        ),
        (&["--attacks", "sign-flip,bogus"][..], "--attacks:"),
        (&["--partitions", "dirichlet:-1"][..], "--partitions:"),
        (&["--fractions", "1.5"][..], "--fractions: 1.5"),
    ] {
        let o = run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // --headline: 2 plaintext rules × 2 seeds + secure-fltrust × 1 seed, at
    // f = 0 (none) and 12 attacks at each of f = 0.2 and 0.4: 25 points.
    let o = run(&["--headline"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("eval: 125 runs (100 plaintext, 25 secure)"),
        "{text}"
    );
    // Overrides: secure rules named in --rules run at every point; names are
    // normalised.
    let o = run(&[
        "--rules",
        " FedAvg,secure-fltrust",
        "--attacks",
        "sign-flip",
        "--fractions",
        "0.2",
        "--partitions",
        "iid,dirichlet:0.5",
        "--seeds",
        "2",
        "--secure-seeds",
        "2",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("eval: 8 runs (4 plaintext, 4 secure)"),
        "{text}"
    );
    assert!(
        text.contains("secure-fltrust | sign-flip | f=0.2 (20/100) | dirichlet:0.5 | seed 2"),
        "{text}"
    );
}
