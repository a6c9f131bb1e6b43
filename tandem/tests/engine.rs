//! The dealer-free 2PC engine between real server processes over QUIC:
//! `bench engine` end to end, and the self-test followed by a normal round.
//! No timing assertions: the numbers are only checked to be present and positive.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tandem::{Cluster, ClusterOptions};

fn positive(v: &Value, key: &str) -> f64 {
    let x = v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("`{key}` missing in {v}"));
    assert!(x > 0.0 && x.is_finite(), "`{key}` = {x} in {v}");
    x
}

#[test]
fn bench_engine_runs_between_two_processes() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["bench", "engine", "--ops", "200", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().last().expect("no output");
    let v: Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["correct"], true, "{v}");
    assert_eq!(v["ops"], 200);
    for key in [
        "seconds",
        "wall_s",
        "bytes_per_drelu",
        "bytes_per_mult",
        "cot_per_s",
        "bytes_total",
        "ots",
    ] {
        positive(&v, key);
    }
    // Every protocol of the engine exchanged something.
    for p in ["base_ot", "iknp", "triples", "mult", "drelu", "control"] {
        assert!(v["bytes"][p].as_u64().unwrap() > 0, "{p}: {v}");
    }
    // Wall time includes process start, so it is at least the engine's time.
    assert!(v["wall_s"].as_f64().unwrap() >= v["seconds"].as_f64().unwrap());
}

#[test]
fn bench_round_runs_secure_and_plaintext_rounds() {
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args([
            "bench",
            "round",
            "--dim",
            "2000",
            "--workers",
            "6",
            "--rounds",
            "2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dim"], 2000, "{v}");
    assert_eq!(v["workers"], 6, "{v}");
    assert_eq!(v["rule"], "secure-fltrust", "{v}");
    for key in [
        "secure_round_s",
        "plaintext_round_s",
        "first_round_s",
        "worker_prepare_ms",
        "bytes_between_servers",
        "bytes_worker_to_servers",
        "peak_rss_mb_a",
        "peak_rss_mb_b",
        "transport_floor_s",
        "transport_floor_mb_s",
        "secure_vs_floor",
        "plaintext_floor_s",
        "plaintext_vs_floor",
        "plaintext_round_trip_floor_s",
        "plaintext_vs_round_trip_floor",
    ] {
        positive(&v, key);
    }
    assert_eq!(v["updated"], true, "{v}");
    // The floor sends exactly the uploads' sizes.
    assert_eq!(
        v["transport_floor_frame_bytes"], v["upload_frame_bytes"]["to_b"],
        "{v}"
    );
    assert_eq!(
        v["transport_floor_rounds_s"].as_array().map(Vec::len),
        Some(2)
    );
}

#[test]
fn bench_round_without_floor_or_plaintext() {
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args([
            "bench",
            "round",
            "--dim",
            "500",
            "--workers",
            "4",
            "--rounds",
            "2",
            "--no-floor",
            "--no-plaintext",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    positive(&v, "secure_round_s");
    for key in [
        "transport_floor_s",
        "plaintext_floor_s",
        "plaintext_round_s",
    ] {
        assert!(v.get(key).is_none(), "{key}: {v}");
    }
}

#[test]
fn selftest_then_a_normal_round() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = ClusterOptions::new(dir.path()).with_exe(env!("CARGO_BIN_EXE_tandem"));
    o.workers = 3;
    o.rounds = 1;
    o.model = "logreg".into();
    o.extra_a = vec!["--engine-selftest".into(), "64".into()];
    let mut cluster = Cluster::launch(&o).unwrap();
    let first = cluster.next_event(Duration::from_secs(180)).unwrap();
    assert_eq!(first["engine"]["correct"], true, "{first}");
    assert_eq!(first["engine"]["ops"], 64);
    let round = cluster.next_event(Duration::from_secs(180)).unwrap();
    assert_eq!(round["round"], 1, "{round}");
    assert_eq!(round["accepted"], 3, "{round}");
    let done = cluster.next_event(Duration::from_secs(60)).unwrap();
    assert_eq!(done["done"], true, "{done}");
}

#[test]
fn bench_round_floor_only_measures_the_wire_alone() {
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args([
            "bench",
            "round",
            "--dim",
            "500",
            "--workers",
            "3",
            "--rounds",
            "2",
            "--floor-only",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["floor_only"], true, "{v}");
    for key in [
        "transport_floor_s",
        "plaintext_floor_s",
        "plaintext_round_trip_floor_s",
    ] {
        positive(&v, key);
    }
    positive(&v["upload_frame_bytes"], "to_b");
    for key in ["secure_round_s", "secure_vs_floor", "plaintext_vs_floor"] {
        assert!(v.get(key).is_none(), "{key}: {v}");
    }
}
