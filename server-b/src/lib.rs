//! Server B (helper): a thin async shell around `protocols::round::helper`.
//!
//! It accepts QUIC connections from server A (pinned certificate) and from
//! enrolled workers, feeds their frames to the helper state machine (which
//! decodes them and owns the session's 2PC engine) and carries out its
//! actions. The only state kept on disk is the last revealed round id,
//! written durably before B's share of that round leaves the process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Parser;
use mpc_core::codec::{self, Limits};
use mpc_core::prg::Seed;
use protocols::round::helper::{Helper, HelperAction, HelperConfig};
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use tokio::sync::mpsc;
use tracing::{info, warn};
use transport::hub::{Inbound, Peers, Route, Seen};
use transport::{Pki, TransportConfig};

/// Server B: helper of the two-server aggregation.
#[derive(Debug, Parser)]
#[command(name = "server-b", version)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:4434")]
    listen: SocketAddr,
    /// Enrolment directory (server-b.crt/.key, server-a.crt, enrolled.json).
    #[arg(long, default_value = "pki")]
    pki: PathBuf,
    /// Directory for B's durable state (the last revealed round id, which
    /// stops B from ever revealing a round twice) [default: b-state, created
    /// if missing]. A directory given here must exist: B will not start a
    /// fresh record in a mistyped or unmounted path (`mkdir` it for a first
    /// run).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Minimum number of workers in a revealed sum (at least 2: a sum of one
    /// update is that update).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(2..))]
    k_min: u64,
    /// Robust rules: uploads held at once (each O(d) until its batch is done);
    /// beyond this B stops reading worker frames until a batch completes.
    #[arg(long, default_value_t = 64)]
    max_in_flight: usize,
    /// Memory budget in MiB: B takes another upload only while what it holds
    /// fits (an eighth for QUIC's receive buffers, a quarter for frames
    /// being read, three eighths for uploads held until their batch is
    /// done, a quarter for the process itself; docs/ARCHITECTURE.md,
    /// "Memory"). At least one upload is always taken, so a budget below one
    /// upload only slows B down.
    #[arg(long, value_name = "MIB", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(16..=1 << 20))]
    memory_budget: u64,
    /// Write the bound address to this file once listening.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Exit when standard input closes (used by launchers).
    #[arg(long)]
    exit_on_stdin_close: bool,
    /// Largest model dimension accepted.
    #[arg(long, default_value_t = codec::DEFAULT_MAX_DIM)]
    max_dim: usize,
    /// Threads for the per-worker work (parsing and hashing uploads, the
    /// validity query, the vector passes) [default: one per core].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..1025))]
    threads: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Peer {
    ServerA,
    Worker(u32),
}

/// Where B keeps its reveal record without `--state-dir`.
const DEFAULT_STATE_DIR: &str = "b-state";

/// The state directory to use. `--state-dir` must name an existing
/// directory: the record there is what keeps B from revealing a round twice,
/// and creating a missing one — a typo, an unmounted volume — would silently
/// start a fresh record. The default directory is created on a first run.
fn state_dir(given: Option<&Path>) -> Result<PathBuf> {
    match given {
        Some(dir) if dir.is_dir() => Ok(dir.to_path_buf()),
        Some(dir) if dir.exists() => bail!("--state-dir {} is not a directory", dir.display()),
        Some(dir) => bail!(
            "--state-dir {0} does not exist; it holds the record that stops server B from \
             revealing a round twice, so B does not create it: check the path, or for a first \
             run create it with `mkdir -p {0}`",
            dir.display()
        ),
        None => {
            let dir = PathBuf::from(DEFAULT_STATE_DIR);
            if !dir.is_dir() {
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating the state directory {}", dir.display()))?;
                info!(dir = %dir.display(), "created the default state directory");
            }
            Ok(dir)
        }
    }
}

fn state_file(dir: &Path) -> PathBuf {
    dir.join("last-revealed-round")
}

fn load_last_revealed(dir: &Path) -> Result<u64> {
    let path = state_file(dir);
    match std::fs::read_to_string(&path) {
        Ok(s) => s
            .trim()
            .parse()
            .with_context(|| format!("corrupt state file {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            warn!(
                path = %path.display(),
                "no reveal record: starting as if no round was ever revealed (first run, or a new state directory)"
            );
            Ok(0)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Durably records `round` as revealed (write, fsync, rename, fsync dir).
fn persist_reveal(dir: &Path, round: u64) -> Result<()> {
    use std::io::Write;
    let path = state_file(dir);
    let tmp = path.with_extension("tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(round.to_string().as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}

/// Runs the process until it finishes or is told to stop.
pub async fn run(args: Args) -> Result<()> {
    let state_dir = state_dir(args.state_dir.as_deref())?;
    let threads =
        transport::node::init_work_pool(args.threads.and_then(|t| usize::try_from(t).ok()));
    let last_revealed = load_last_revealed(&state_dir)?;
    let pki = Pki::new(&args.pki);
    let identity = pki.load_server_b().context("loading server B's identity")?;
    let a_fp = pki
        .server_a_fingerprint()
        .context("loading server A's certificate")?;
    let enrolled = pki.load_enrolled().context("loading enrolled workers")?;
    let budget = args.memory_budget << 20;
    let cfg = TransportConfig::protocol().with_memory_budget(budget, enrolled.len() + 1);
    let frames = transport::FrameBudget::of_memory_budget(budget);
    let limits = Limits {
        max_frame: cfg.max_frame,
        max_dim: args.max_dim,
    };
    let mut allowed = enrolled.fingerprints();
    allowed.push(a_fp);
    let endpoint = transport::server_endpoint(args.listen, &identity, allowed, &cfg)
        .context("starting the QUIC endpoint")?;
    let addr = endpoint.local_addr()?;
    if let Some(f) = &args.ready_file {
        transport::node::write_ready_file(f, addr)?;
    }
    info!(%addr, workers = enrolled.len(), last_revealed, "server B listening");

    // Small and bounded: readers wait (and QUIC flow control pushes back) while
    // the state machine is busy, instead of frames piling up in memory. Server
    // A has its own channel, always read and outside the memory budget;
    // workers share a small one that the loop stops reading while the helper
    // holds as many uploads as it may (`Helper::wants_uploads`), and their
    // frames count against the frame budget until the helper takes them, so
    // B's memory is bounded by `--memory-budget`, not by the number of workers.
    let (tx_a, rx_a) = mpsc::channel(64);
    let (tx_w, rx_w) = mpsc::channel(WORKER_QUEUE);
    let identify = move |fp: &transport::Fingerprint| {
        if *fp == a_fp {
            Some(Peer::ServerA)
        } else {
            enrolled.worker_id(fp).map(Peer::Worker)
        }
    };
    let a_window = TransportConfig::protocol().receive_window;
    tokio::spawn(transport::hub::serve_routed(
        endpoint.clone(),
        identify,
        cfg,
        transport::Counters::none(),
        move |p: &Peer| match p {
            // Never under the budget: A's frames release held uploads.
            Peer::ServerA => Route {
                events: tx_a.clone(),
                budget: None,
                receive_window: Some(a_window),
            },
            Peer::Worker(_) => Route {
                events: tx_w.clone(),
                budget: Some(frames.clone()),
                receive_window: None,
            },
        },
    ));
    let helper = Helper::new(
        HelperConfig {
            k_min: usize::try_from(args.k_min)?,
            max_in_flight: args.max_in_flight.max(1),
            // The last quarter is the process's own (code, runtime, the
            // session's vectors, the allocator's slack).
            memory_budget: usize::try_from(budget / 8 * 3).unwrap_or(usize::MAX),
            limits,
            // Every session's 2PC engine is seeded from this: from the OS.
            ..HelperConfig::new(Seed::from_rng(&mut UnwrapErr(SysRng)))
        },
        last_revealed,
    );
    let mut shell = Shell {
        helper,
        peers: Peers::new(),
        state_dir,
        threads,
    };
    let result = transport::node::until_stopped(args.exit_on_stdin_close, shell.run(rx_a, rx_w))
        .await
        .unwrap_or(Ok(()));
    transport::node::close_and_drain(&endpoint, "server B shutting down").await;
    result
}

/// Worker frames read ahead of the helper (each up to one upload; their
/// bytes are in the frame budget until the helper takes them).
const WORKER_QUEUE: usize = 16;

struct Shell {
    helper: Helper,
    peers: Peers<Peer>,
    state_dir: PathBuf,
    /// Threads of the rayon pool the helper's per-worker work runs on.
    threads: usize,
}

impl Shell {
    async fn run(
        &mut self,
        mut rx_a: mpsc::Receiver<Inbound<Peer>>,
        mut rx_w: mpsc::Receiver<Inbound<Peer>>,
    ) -> Result<()> {
        loop {
            let wants = self.helper.wants_uploads();
            let pending = self.helper.pending_work();
            if pending > 0 {
                // Frames already here first (up to one worker's work per
                // thread), then the work they made possible, at once.
                let more = if pending < self.threads {
                    rx_a.try_recv()
                        .ok()
                        .or_else(|| wants.then(|| rx_w.try_recv().ok()).flatten())
                } else {
                    None
                };
                match more {
                    Some(ev) => self.on_event(ev)?,
                    None => {
                        let actions = self.helper.poll_work();
                        self.perform(actions)?;
                    }
                }
                continue;
            }
            let next = tokio::select! {
                biased;
                ev = rx_a.recv() => ev,
                ev = rx_w.recv(), if wants => ev,
            };
            let Some(ev) = next else {
                return Ok(());
            };
            self.on_event(ev)?;
        }
    }

    /// One connection event: a frame goes to the helper (cheap checks and
    /// bookkeeping only) and its actions are carried out.
    fn on_event(&mut self, ev: Inbound<Peer>) -> Result<()> {
        let actions = match self.peers.on_event(ev) {
            Seen::Frame {
                peer: Peer::ServerA,
                payload,
                ..
            } => self.helper.handle_a_frame(&payload),
            Seen::Frame {
                peer: Peer::Worker(id),
                payload,
                wire_bytes,
                ..
            } => self.helper.handle_worker_frame(id, &payload, wire_bytes),
            Seen::Joined(_) | Seen::Left { .. } | Seen::Nothing => return Ok(()),
        };
        self.perform(actions)
    }

    fn perform(&mut self, actions: Vec<HelperAction>) -> Result<()> {
        for action in actions {
            match action {
                HelperAction::PersistReveal { round } => {
                    // Fail closed: if the reveal cannot be recorded, stop before sending it.
                    persist_reveal(&self.state_dir, round)
                        .context("recording the reveal durably failed; refusing to continue")?;
                }
                HelperAction::ToA(msg) => self.peers.send(&Peer::ServerA, &msg),
                HelperAction::ToWorker { worker, msg } => {
                    self.peers.send(&Peer::Worker(worker), &msg)
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_explicit_state_dir_must_exist() {
        let base = std::env::temp_dir().join(format!("tandem-b-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let missing = base.join("b-stat");
        let e = state_dir(Some(&missing)).unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");
        assert!(
            e.contains(&format!("mkdir -p {}", missing.display())),
            "{e}"
        );
        assert!(
            !missing.exists(),
            "B must not create a directory it was pointed at"
        );
        let file = base.join("file");
        std::fs::write(&file, "").unwrap();
        let e = state_dir(Some(&file)).unwrap_err().to_string();
        assert!(e.contains("is not a directory"), "{e}");
        assert_eq!(state_dir(Some(&base)).unwrap(), base);
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn the_default_state_dir_is_created() {
        // The default is relative to the working directory; the test
        // harness runs in the crate directory, where `b-state` is not kept.
        let dir = Path::new(DEFAULT_STATE_DIR);
        let existed = dir.is_dir();
        assert_eq!(state_dir(None).unwrap(), dir);
        assert!(dir.is_dir());
        if !existed {
            std::fs::remove_dir(dir).unwrap();
        }
    }
}
