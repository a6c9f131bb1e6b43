//! Server A's output: one JSON object per line on stdout (logs go to stderr).

use mpc_core::wire::Aggregation;
use protocols::round::leader::{RoundOutcome, SelfTestSummary};
use serde_json::{Value, json};

use crate::cli::{Args, Plan};

/// What A measured of a round besides its outcome.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RoundStats {
    /// Test accuracy and loss after the update (`None`: nothing evaluated).
    pub(crate) accuracy: Option<f64>,
    pub(crate) loss: Option<f64>,
    /// The server learning rate η_t applied.
    pub(crate) eta: f32,
    /// Wall time of the round, from its start to its outcome.
    pub(crate) seconds: f64,
    /// Bytes between A and B in the round (both directions).
    pub(crate) between: u64,
}

/// The JSON line of one round.
pub(crate) fn round_line(o: &RoundOutcome, agg: Aggregation, st: RoundStats) -> Value {
    let reasons: serde_json::Map<_, _> = o
        .rejected
        .iter()
        .map(|(w, r)| (w.to_string(), json!(r.to_string())))
        .collect();
    let mut line = json!({
        "round": o.round,
        "test_accuracy": st.accuracy,
        "test_loss": st.loss,
        "accepted": o.accepted.len(),
        "rejected": o.rejected.len(),
        "rejected_reasons": reasons,
        // Workers that said they sit the round out: not rejected.
        "sat_out": o.sat_out.len(),
        "zero_trust": o.zero_trust_count,
        "updated": o.mean_update.is_some(),
        "server_lr": st.eta,
        "note": o.note,
        "seconds": st.seconds,
        "bytes_worker_to_servers": o.bytes_from_workers_a + o.bytes_from_workers_b,
        "bytes_between_servers": st.between,
    });
    // Plain rules show A every update anyway; for them the zero-trust ids
    // are no extra leakage (secure rules reveal only the count).
    if !agg.is_secure() && agg.is_trust_based() {
        line["zero_trust_workers"] = json!(o.zero_trust);
    }
    line
}

/// An `f32` setting as JSON with its shortest decimal form (0.2, not
/// 0.20000000298023224).
fn short(v: f32) -> Value {
    v.to_string()
        .parse::<f64>()
        .map_or(Value::Null, |x| json!(x))
}

/// The first line, `{"start": …}`: every effective setting of the session
/// (the rule's defaults filled in), so a run can be reproduced from its
/// output; `initial_test_accuracy` is added once the model is evaluated.
pub(crate) fn start_line(plan: &Plan, args: &Args) -> Value {
    let s = &plan.session;
    let mut config = json!({
        "aggregation": s.aggregation.name(),
        "model": s.model,
        "dim": s.dim,
        "rounds": plan.rounds,
        "seed": args.seed,
        "epochs": plan.train.epochs,
        "batch_size": plan.train.batch_size,
        "lr": short(plan.train.lr),
        "server_lr": short(plan.server_lr),
        "server_lr_decay": short(plan.server_lr_decay.unwrap_or(0.0)),
        "min_workers": args.workers,
        "start_timeout_s": args.start_timeout,
        "round_timeout_s": args.round_timeout,
        "ring_bits": s.fixed.ell(),
        "frac_bits": s.fixed.frac(),
    });
    // Only the settings that apply to the rule (never `null`).
    if s.clip > 0.0 {
        config["clip"] = short(s.clip);
    }
    if s.aggregation.is_trust_based() {
        config["trust"] = json!(match (s.aggregation, s.cos_threshold) {
            (Aggregation::SecureFilter, t) =>
                format!("keep if cos >= {}, equal weights", t.unwrap_or(0.0)),
            (_, Some(t)) => format!("relu(cos), 0 below cos {t}"),
            (_, None) => "relu(cos)".into(),
        });
    }
    if let Some(t) = s.cos_threshold {
        config["cos_threshold"] = short(t);
    }
    if s.aggregation.is_trust_based() || s.aggregation.is_secure() {
        config["k_min"] = json!(s.k_min);
    }
    json!({ "start": config })
}

/// The last line: how many rounds ran and the final accuracy.
pub(crate) fn done_line(rounds: u64, final_accuracy: Option<f64>) -> Value {
    json!({"done": true, "rounds": rounds, "final_test_accuracy": final_accuracy})
}

/// The `{"engine": …}` line of `--engine-selftest`.
pub(crate) fn selftest_json(s: &SelfTestSummary) -> Value {
    let (report, stats) = (&s.report, &s.stats);
    let seconds = s.computed.as_secs_f64();
    let bytes = |t: protocols::mpc::arith::Traffic| t.total_bytes();
    json!({"engine": {
        "ops": report.ops,
        "seconds": seconds,
        "seconds_with_check": s.checked.as_secs_f64(),
        "bytes_per_drelu": stats.bytes_per_drelu(),
        "bytes_per_mult": stats.bytes_per_mult(),
        "cot_per_s": stats.ots_extended() as f64 / seconds.max(1e-9),
        "ots": stats.ots_extended(),
        "bytes_total": stats.total().total_bytes(),
        "messages_total": stats.total().messages_sent + stats.total().messages_received,
        "bytes": {
            "base_ot": bytes(stats.base_ot),
            "iknp": bytes(stats.iknp),
            "triples": bytes(stats.triples),
            "mult": bytes(stats.mult),
            "drelu": bytes(stats.drelu),
            "control": bytes(stats.control),
        },
        "correct": report.correct(),
        "drelu_wrong": report.drelu_wrong,
        "mult_wrong": report.mult_wrong,
    }})
}
