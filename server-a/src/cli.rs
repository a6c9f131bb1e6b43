//! Server A's command line, and the session and training plan built and
//! checked from it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use fl_ml::model::{DEFAULT_CLIP, ModelKind, TrainConfig, init_params};
use fl_ml::{defaults_help, rule_defaults};
use mpc_core::fixed::FixedParams;
use mpc_core::wire::{self, Aggregation, SessionInfo};
use rand::SeedableRng;
use transport::HostPort;

/// Server A: leader of the two-server aggregation.
#[derive(Debug, Parser)]
#[command(name = "server-a", version, allow_negative_numbers = true)]
pub struct Args {
    /// Address to listen on for workers (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:4433")]
    pub(crate) listen: SocketAddr,
    /// Server B's address, HOST:PORT (needed by secure aggregation rules);
    /// a host name is resolved once at start. A may start before B: it
    /// keeps trying to connect (see --peer-b-wait).
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) peer_b: Option<HostPort>,
    /// Seconds to keep trying to reach server B at start, retrying with a
    /// pause of 0.5 s that doubles up to 5 s; each attempt is logged.
    #[arg(long, value_name = "SECS", default_value_t = 120.0)]
    pub(crate) peer_b_wait: f64,
    /// Enrolment directory (server-a.crt/.key, server-b.crt, enrolled.json).
    #[arg(long, default_value = "pki")]
    pub(crate) pki: PathBuf,
    /// Directory holding the MNIST files.
    #[arg(long, default_value = "data")]
    pub(crate) data_dir: PathBuf,
    #[arg(long,
          help = format!("Number of rounds (at least 1; 0 only with --engine-selftest) [default: {}]", defaults_help(|d| d.rounds.to_string())))]
    pub(crate) rounds: Option<u64>,
    /// Model: logreg, mlp or mlp:HIDDEN.
    #[arg(long, default_value = "mlp")]
    pub(crate) model: ModelKind,
    /// Aggregation rule.
    #[arg(long, default_value = "secure-fltrust", value_parser = rule_names())]
    pub(crate) aggregation: Aggregation,
    /// FedAvg rules: L2 clipping bound C for updates (trust-based rules
    /// normalise every update to unit norm instead).
    #[arg(long, default_value_t = DEFAULT_CLIP, value_parser = parse::positive)]
    pub(crate) clip: f32,
    /// Plain rules only: do not clip updates.
    #[arg(long)]
    pub(crate) no_clip: bool,
    #[arg(long, value_parser = parse::at_least_one::<u32>, help = format!("Local epochs every worker (and A's proxy update) runs per round [default: {}]",
                               defaults_help(|d| d.train.epochs.to_string())))]
    pub(crate) epochs: Option<u32>,
    #[arg(long, help = format!("Local minibatch size [default: {}]", defaults_help(|d| d.train.batch_size.to_string())))]
    pub(crate) batch_size: Option<u32>,
    #[arg(long, value_parser = parse::positive, help = format!("Local learning rate [default: {}]", defaults_help(|d| d.train.lr.to_string())))]
    pub(crate) lr: Option<f32>,
    #[arg(long, value_parser = parse::positive, help = format!("Server learning rate η: the model moves by η_t times the round's update [default: {}]",
                               defaults_help(|d| d.server_lr.to_string())))]
    pub(crate) server_lr: Option<f32>,
    #[arg(long, value_parser = parse::non_negative, help = format!("η_t = η / (1 + (t − 1)/T) in the t-th round of this run; 0 keeps η constant [default: {}]",
                               defaults_help(|d| d.server_lr_decay.unwrap_or(0.0).to_string())))]
    pub(crate) server_lr_decay: Option<f32>,
    /// Trust-based rules: cosine threshold τ; updates with cos < τ get trust 0
    /// (default: none, trust = ReLU(cos)).
    #[arg(long, value_parser = parse::cosine)]
    pub(crate) cos_threshold: Option<f32>,
    /// Fewest workers that count — positive trust (trust-based rules) or
    /// valid submissions (secure-fedavg) — for a round to update the model;
    /// B never reveals below its own `--k-min`. plain-fedavg ignores it.
    #[arg(long, default_value_t = 3, value_parser = parse::at_least_one::<u32>)]
    pub(crate) k_min: u32,
    /// Seed for the initial model, A's proxy-update training and the
    /// synthetic reference (never for secrets).
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Start the first round once this many workers have joined.
    #[arg(long, default_value_t = 1, value_parser = parse::at_least_one::<usize>)]
    pub(crate) workers: usize,
    /// Seconds to wait for workers before starting anyway (with at least one).
    #[arg(long, default_value_t = 60.0, value_parser = parse::seconds)]
    pub(crate) start_timeout: f64,
    /// Seconds a round may take before it is closed with the updates that arrived.
    #[arg(long, default_value_t = 60.0, value_parser = parse::seconds)]
    pub(crate) round_timeout: f64,
    /// Ring width ℓ of the shares.
    #[arg(long, default_value_t = 18)]
    pub(crate) ring_bits: u32,
    /// Fractional bits f of the fixed-point encoding.
    #[arg(long, default_value_t = 16)]
    pub(crate) frac_bits: u32,
    /// Write the bound address to this file once listening.
    #[arg(long)]
    pub(crate) ready_file: Option<PathBuf>,
    /// Exit when standard input closes (used by launchers).
    #[arg(long)]
    pub(crate) exit_on_stdin_close: bool,
    /// After B is ready, run the 2PC engine self-test with B: K DReLUs and K
    /// multiplications on random shared inputs, all preprocessing (base OTs,
    /// IKNP, triples) inside the timing; prints one `{"engine": …}` JSON line,
    /// then continues (rounds start after it).
    #[arg(long, value_name = "K")]
    pub(crate) engine_selftest: Option<usize>,
    /// Benchmark mode: a model of D zeros (model name `synthetic`), no MNIST,
    /// no evaluation; robust rules use a pseudo-random reference update
    /// derived from `--seed` and the round (see `synthetic_reference`).
    #[arg(long, value_name = "D")]
    pub(crate) synthetic_dim: Option<usize>,
    /// Threads for the per-worker work of secure rules (expanding each
    /// worker's half from its seed, the validity query, the vector passes)
    /// [default: one per core].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..1025))]
    pub(crate) threads: Option<u64>,
    /// Memory for what workers send, in MiB (an eighth for QUIC's receive
    /// buffers, a quarter for frames being read; docs/ARCHITECTURE.md,
    /// "Memory"). A's link to B is outside it.
    #[arg(long, value_name = "MIB", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(16..=1 << 20))]
    pub(crate) memory_budget: u64,
}

/// Value parsers shared by server A's and the demo's command lines: a bad
/// value is clap's one-line error naming the option (exit status 2).
pub mod parse {
    fn number<T: std::str::FromStr>(s: &str) -> Result<T, String> {
        s.trim()
            .parse::<T>()
            .map_err(|_| format!("`{s}` is not a number"))
    }

    /// A whole number ≥ 1.
    pub fn at_least_one<T: std::str::FromStr + PartialOrd + From<u8>>(
        s: &str,
    ) -> Result<T, String> {
        match s.trim().parse::<T>() {
            Ok(v) if v >= T::from(1) => Ok(v),
            _ => Err("must be a whole number, at least 1".into()),
        }
    }

    /// A finite number > 0.
    pub fn positive(s: &str) -> Result<f32, String> {
        let v: f32 = number(s)?;
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err("must be a number greater than 0".into())
        }
    }

    /// A finite number of seconds > 0.
    pub fn seconds(s: &str) -> Result<f64, String> {
        let v: f64 = number(s)?;
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err("must be a number of seconds greater than 0".into())
        }
    }

    /// A finite number ≥ 0.
    pub fn non_negative(s: &str) -> Result<f32, String> {
        let v: f32 = number(s)?;
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err("must be a number ≥ 0".into())
        }
    }

    /// A probability in [0, 1).
    pub fn probability(s: &str) -> Result<f64, String> {
        let v: f64 = number(s)?;
        if (0.0..1.0).contains(&v) {
            Ok(v)
        } else {
            Err("must be at least 0 and below 1".into())
        }
    }

    /// A cosine threshold in [-1, 1].
    pub fn cosine(s: &str) -> Result<f32, String> {
        let v: f32 = number(s)?;
        if (-1.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            Err("must be between -1 and 1".into())
        }
    }
}

/// Parses a rule by name; `--help` and the error for an unknown name list
/// every rule.
pub fn rule_names() -> impl clap::builder::TypedValueParser<Value = Aggregation> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Aggregation::ALL.map(Aggregation::name))
        .try_map(|s| s.parse::<Aggregation>())
}

impl Args {
    /// How long A keeps trying to reach B at start.
    pub(crate) fn peer_b_wait(&self) -> Duration {
        Duration::try_from_secs_f64(self.peer_b_wait).unwrap_or(Duration::MAX)
    }
}

/// What A runs with, checked, from its flags.
pub(crate) struct Plan {
    pub(crate) session: SessionInfo,
    pub(crate) train: TrainConfig,
    pub(crate) server_lr: f32,
    pub(crate) server_lr_decay: Option<f32>,
    pub(crate) rounds: u64,
    pub(crate) model: Vec<f32>,
}

/// Builds and checks the session and A's own parameters from the flags.
pub(crate) fn plan(args: &Args) -> Result<Plan> {
    let defaults = rule_defaults(args.aggregation);
    let train = TrainConfig {
        epochs: args.epochs.map_or(defaults.train.epochs, |e| e as usize),
        batch_size: args
            .batch_size
            .map_or(defaults.train.batch_size, |b| b as usize),
        lr: args.lr.unwrap_or(defaults.train.lr),
    };
    let server_lr = args.server_lr.unwrap_or(defaults.server_lr);
    if !(server_lr.is_finite() && server_lr > 0.0) {
        bail!("--server-lr must be a positive number");
    }
    if args
        .server_lr_decay
        .is_some_and(|t| !(t.is_finite() && t >= 0.0))
    {
        bail!("--server-lr-decay must be a non-negative number of rounds (0: constant η)");
    }
    if args.no_clip && args.aggregation.is_secure() {
        bail!("--no-clip is only available with plain aggregation rules");
    }
    for (flag, secs) in [
        ("--peer-b-wait", args.peer_b_wait),
        ("--start-timeout", args.start_timeout),
        ("--round-timeout", args.round_timeout),
    ] {
        if !(secs.is_finite() && (0.0..=1e9).contains(&secs)) {
            bail!("{flag} must be a non-negative number of seconds");
        }
    }
    if args.aggregation.is_secure() && args.k_min < 2 {
        bail!(
            "--k-min {} is too small for {}: at least 2 (a sum over one worker is that worker's update; server B refuses less)",
            args.k_min,
            args.aggregation
        );
    }
    if args.rounds == Some(0) && args.engine_selftest.is_none() {
        bail!("--rounds must be at least 1 (0 runs no round: only with --engine-selftest)");
    }
    if args.engine_selftest.is_some() && !args.aggregation.is_secure() {
        bail!("--engine-selftest needs a secure rule (the session's 2PC engine runs it)");
    }
    let model = match args.synthetic_dim {
        Some(d) => vec![0.0; d],
        None => init_params(
            args.model,
            &mut rand::rngs::StdRng::seed_from_u64(args.seed),
        ),
    };
    let trust_based = args.aggregation.is_trust_based();
    let session = SessionInfo {
        model: match args.synthetic_dim {
            Some(_) => "synthetic".into(),
            None => args.model.to_string(),
        },
        dim: u32::try_from(model.len()).context("model too large")?,
        fixed: FixedParams::new(args.ring_bits, args.frac_bits)?,
        aggregation: args.aggregation,
        // Trust-based rules normalise to unit norm; a clip bound means nothing there.
        clip: if trust_based || args.no_clip {
            0.0
        } else {
            args.clip
        },
        train: wire::TrainParams::try_from(&train).context("training parameters")?,
        cos_threshold: args.cos_threshold,
        k_min: args.k_min,
    };
    session
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid session parameters: {e}"))?;
    if session.aggregation.is_secure() {
        // Refuse parameters the secure rules cannot run with (precision,
        // dimension, clip bound) at start, not in every round.
        protocols::robust::submit::RobustSetup::new(&session)
            .context("parameters for the secure rule")?;
    }
    Ok(Plan {
        session,
        train,
        server_lr,
        server_lr_decay: args
            .server_lr_decay
            .map_or(defaults.server_lr_decay, |t| (t > 0.0).then_some(t)),
        rounds: args.rounds.unwrap_or(defaults.rounds),
        model,
    })
}
