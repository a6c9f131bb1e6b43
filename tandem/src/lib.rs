//! Launches tandem's three processes (server B, server A, the worker host) on
//! loopback with free ports, for `tandem demo`, `tandem bench`, `tandem eval`
//! and the integration tests. Each process is the `tandem` executable run with
//! its role's subcommand (`tandem server-b …`); nothing is built at run time.
//!
//! Every child gets `--exit-on-stdin-close` and a pipe for stdin held by the
//! [`Cluster`]: when the launcher exits for any reason (success, error, Ctrl-C,
//! kill) the pipe closes and the children shut down; `Drop` also kills them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub mod client;
pub mod eval;
pub mod plot;

/// A mistake in the command line that clap's per-option checks cannot see
/// (a combination of options): `tandem` prints it as one line and exits with
/// status 2, like clap's own errors, without starting anything.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// What to run.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Working directory for PKI, state and logs.
    pub dir: PathBuf,
    /// Simulated workers.
    pub workers: usize,
    /// Rounds.
    pub rounds: u64,
    /// Aggregation rule name.
    pub aggregation: String,
    /// Model name.
    pub model: String,
    /// Seed for data, training, attacks.
    pub seed: u64,
    /// Partition spec.
    pub partition: String,
    /// Byzantine workers.
    pub byzantine: usize,
    /// Attack name.
    pub attack: String,
    /// Dropout probability.
    pub dropout: f64,
    /// Extra arguments for server A.
    pub extra_a: Vec<String>,
    /// Extra arguments for server B.
    pub extra_b: Vec<String>,
    /// Extra arguments for the worker host.
    pub extra_worker: Vec<String>,
    /// Directory with the MNIST files.
    pub data_dir: PathBuf,
    /// Whether to start the worker process.
    pub start_workers: bool,
    /// Server A starts the first round once this many workers joined (default: `workers`).
    pub start_after: Option<usize>,
    /// The `tandem` executable each process runs (`tandem server-a …`); `None`:
    /// this process's own executable, which then has to be `tandem`.
    /// Integration tests set `env!("CARGO_BIN_EXE_tandem")` ([`ClusterOptions::with_exe`]).
    pub exe: Option<PathBuf>,
}

impl ClusterOptions {
    /// 20 workers, 20 rounds of secure-fedavg on the MLP, iid, seed 1, no
    /// attack (the demo sets its own rule and rounds).
    pub fn new(dir: impl Into<PathBuf>) -> ClusterOptions {
        ClusterOptions {
            dir: dir.into(),
            workers: 20,
            rounds: 20,
            aggregation: "secure-fedavg".into(),
            model: "mlp".into(),
            seed: 1,
            partition: "iid".into(),
            byzantine: 0,
            attack: "none".into(),
            dropout: 0.0,
            extra_a: Vec::new(),
            extra_b: Vec::new(),
            extra_worker: Vec::new(),
            data_dir: default_data_dir(),
            start_workers: true,
            start_after: None,
            exe: None,
        }
    }

    /// Runs the processes from the `tandem` executable at `exe`.
    pub fn with_exe(mut self, exe: impl Into<PathBuf>) -> ClusterOptions {
        self.exe = Some(exe.into());
        self
    }

    /// The `tandem` executable to start the roles from.
    fn executable(&self) -> Result<PathBuf> {
        if let Some(exe) = &self.exe {
            return Ok(exe.clone());
        }
        let exe = std::env::current_exe().context("locating the current executable")?;
        // A cargo test binary (target/*/deps/NAME-HASH) has no role subcommands.
        if exe
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == "deps")
        {
            bail!(
                "{} is not the tandem executable: set ClusterOptions::exe \
                 (integration tests: env!(\"CARGO_BIN_EXE_tandem\"))",
                exe.display()
            );
        }
        Ok(exe)
    }

    fn secure(&self) -> bool {
        self.aggregation
            .parse::<mpc_core::wire::Aggregation>()
            .is_ok_and(|a| a.is_secure())
    }
}

/// The repository's `data/` directory.
pub fn default_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("data")
}

struct Proc {
    name: &'static str,
    child: Child,
    _stdin: ChildStdin,
    log: PathBuf,
}

impl Proc {
    /// `"NAME exited with STATUS; last lines of LOG:"` and the log's tail.
    fn exit_report(&self, status: std::process::ExitStatus) -> String {
        format!(
            "{} exited with {status}; the last lines of {}:\n{}",
            self.name,
            self.log.display(),
            log_tail(&self.log, 12)
        )
    }
}

/// The last `n` lines of a child's log (ANSI colours removed), indented, or a
/// note that it could not be read.
pub fn log_tail(log: &Path, n: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    // Only the file's end: a log can be large, and the tail is all we show.
    const TAIL_BYTES: u64 = 64 << 10;
    let mut bytes = Vec::new();
    let read = std::fs::File::open(log).and_then(|mut f| {
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
        f.read_to_end(&mut bytes)
    });
    if read.is_err() {
        return format!("  (could not read {})", log.display());
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<String> = text.lines().map(strip_ansi).collect();
    let from = lines.len().saturating_sub(n);
    lines
        .get(from..)
        .unwrap_or_default()
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `s` without ANSI escape sequences (`ESC [ … letter`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Three running processes.
pub struct Cluster {
    procs: Vec<Proc>,
    lines: mpsc::Receiver<String>,
    /// Server A's worker-facing address.
    pub addr_a: String,
    /// Server B's address (secure rules).
    pub addr_b: Option<String>,
    /// The working directory.
    pub dir: PathBuf,
    /// Server A's `{"start": …}` line, once read.
    start: Option<serde_json::Value>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("addr_a", &self.addr_a)
            .field("addr_b", &self.addr_b)
            .finish()
    }
}

/// Starts `exe name args… --exit-on-stdin-close`: the role `name` (a `tandem`
/// subcommand) as its own process.
fn spawn(
    name: &'static str,
    exe: &Path,
    args: &[String],
    log: &Path,
    stdout: bool,
) -> Result<(Proc, Option<std::process::ChildStdout>)> {
    let log_path = log.to_path_buf();
    let log = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut cmd = Command::new(exe);
    cmd.arg(name)
        .args(args)
        .arg("--exit-on-stdin-close")
        .stdin(Stdio::piped())
        .stderr(Stdio::from(log))
        .stdout(if stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {} {name}", exe.display()))?;
    let stdin = child.stdin.take().context("child stdin")?;
    let out = child.stdout.take();
    Ok((
        Proc {
            name,
            child,
            _stdin: stdin,
            log: log_path,
        },
        out,
    ))
}

fn wait_ready(file: &Path, procs: &mut [Proc], timeout: Duration) -> Result<String> {
    let start = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(file)
            && !s.is_empty()
        {
            return Ok(s);
        }
        for p in procs.iter_mut() {
            if let Ok(Some(status)) = p.child.try_wait() {
                bail!("during start-up, {}", p.exit_report(status));
            }
        }
        if start.elapsed() > timeout {
            bail!("timed out waiting for {}", file.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Cluster {
    /// Generates the PKI, starts B (secure rules), A and the worker host.
    pub fn launch(o: &ClusterOptions) -> Result<Cluster> {
        let exe = o.executable()?;
        std::fs::create_dir_all(&o.dir)?;
        let pki = o.dir.join("pki");
        let _ = std::fs::remove_dir_all(&pki);
        transport::generate_pki(&pki, u32::try_from(o.workers)?)
            .context("generating certificates")?;
        let s = |p: &Path| p.display().to_string();
        let mut procs = Vec::new();
        let mut addr_b = None;
        if o.secure() {
            let ready = o.dir.join("b.addr");
            let _ = std::fs::remove_file(&ready);
            let state = o.dir.join("b-state");
            let _ = std::fs::remove_dir_all(&state);
            // B refuses a --state-dir that does not exist.
            std::fs::create_dir_all(&state)?;
            let mut args = vec![
                "--listen".into(),
                "127.0.0.1:0".into(),
                "--pki".into(),
                s(&pki),
                "--state-dir".into(),
                s(&state),
                "--ready-file".into(),
                s(&ready),
            ];
            args.extend(o.extra_b.iter().cloned());
            let (p, _) = spawn("server-b", &exe, &args, &o.dir.join("server-b.log"), false)?;
            procs.push(p);
            addr_b = Some(wait_ready(&ready, &mut procs, Duration::from_secs(30))?);
        }
        let ready = o.dir.join("a.addr");
        let _ = std::fs::remove_file(&ready);
        let mut args = vec![
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--pki".into(),
            s(&pki),
            "--ready-file".into(),
            s(&ready),
            "--data-dir".into(),
            s(&o.data_dir),
            "--rounds".into(),
            o.rounds.to_string(),
            "--aggregation".into(),
            o.aggregation.clone(),
            "--model".into(),
            o.model.clone(),
            "--seed".into(),
            o.seed.to_string(),
            "--workers".into(),
            o.start_after.unwrap_or(o.workers).to_string(),
        ];
        if let Some(b) = &addr_b {
            args.extend(["--peer-b".into(), b.clone()]);
        }
        args.extend(o.extra_a.iter().cloned());
        let (p, out) = spawn("server-a", &exe, &args, &o.dir.join("server-a.log"), true)?;
        procs.push(p);
        let out = out.context("server A stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let addr_a = wait_ready(&ready, &mut procs, Duration::from_secs(60))?;
        let mut cluster = Cluster {
            procs,
            lines,
            addr_a,
            addr_b,
            dir: o.dir.clone(),
            start: None,
        };
        if o.start_workers {
            cluster.start_workers(o, &[])?;
        }
        Ok(cluster)
    }

    /// Starts a worker host process (with optional extra arguments, e.g. `--ids`).
    pub fn start_workers(&mut self, o: &ClusterOptions, extra: &[String]) -> Result<()> {
        let exe = o.executable()?;
        let s = |p: &Path| p.display().to_string();
        let mut args = vec![
            "--server-a".into(),
            self.addr_a.clone(),
            "--pki".into(),
            s(&o.dir.join("pki")),
            "--data-dir".into(),
            s(&o.data_dir),
            "--workers".into(),
            o.workers.to_string(),
            "--seed".into(),
            o.seed.to_string(),
            "--partition".into(),
            o.partition.clone(),
            "--byzantine".into(),
            o.byzantine.to_string(),
            "--attack".into(),
            o.attack.clone(),
            "--dropout".into(),
            o.dropout.to_string(),
        ];
        if let Some(b) = &self.addr_b {
            args.extend(["--server-b".into(), b.clone()]);
        }
        args.extend(o.extra_worker.iter().cloned());
        args.extend(extra.iter().cloned());
        // worker.log, then worker-2.log, worker-3.log … for further hosts.
        let n = self.procs.iter().filter(|p| p.name == "worker").count();
        let log = match n {
            0 => o.dir.join("worker.log"),
            n => o.dir.join(format!("worker-{}.log", n + 1)),
        };
        let (p, _) = spawn("worker", &exe, &args, &log, false)?;
        self.procs.push(p);
        Ok(())
    }

    /// The next JSON line server A prints (a round result or the final line;
    /// its first line, `{"start": …}`, is kept for [`Cluster::start_info`]),
    /// or an error if A exits or `timeout` passes.
    pub fn next_event(&mut self, timeout: Duration) -> Result<serde_json::Value> {
        match self.next_event_within(timeout)? {
            Some(v) => Ok(v),
            None => bail!("no output from server A within {timeout:?}"),
        }
    }

    /// Like [`Cluster::next_event`], but `Ok(None)` when `timeout` passes
    /// without a line (so a caller can check other things and wait again).
    pub fn next_event_within(&mut self, timeout: Duration) -> Result<Option<serde_json::Value>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(500)))
            {
                Ok(line) => {
                    if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&line) {
                        // A's first line: the effective session, kept aside.
                        if let Some(start) = v.get_mut("start") {
                            self.start = Some(start.take());
                            continue;
                        }
                        return Ok(Some(v));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let a = self.procs.iter_mut().find(|p| p.name == "server-a");
                    match a {
                        Some(p) => {
                            let status = p.child.wait().context("waiting for server A")?;
                            bail!("{}", p.exit_report(status))
                        }
                        None => bail!("server A's output ended"),
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            for p in &mut self.procs {
                if p.name != "server-a"
                    && let Ok(Some(status)) = p.child.try_wait()
                    && !status.success()
                {
                    bail!("{}", p.exit_report(status));
                }
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// Server A's `{"start": …}` line (its effective settings and the initial
    /// model's accuracy), once [`Cluster::next_event`] has read past it.
    pub fn start_info(&self) -> Option<&serde_json::Value> {
        self.start.as_ref()
    }

    /// Process ids of the running children by name (`server-b`, `server-a`,
    /// `worker`), in start order; e.g. to read a server's peak memory from
    /// `/proc/PID/status` before [`Cluster::shutdown`].
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        self.procs.iter().map(|p| (p.name, p.child.id())).collect()
    }

    /// The process id of the first running child called `name`.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.pids()
            .into_iter()
            .find_map(|(n, id)| (n == name).then_some(id))
    }

    /// Stops every process.
    pub fn shutdown(&mut self) {
        for p in &mut self.procs {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        self.procs.clear();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}
