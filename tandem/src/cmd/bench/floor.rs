//! The raw transport floor of `bench round`: the uploads' bytes over the
//! servers' QUIC setup with no protocol behind it.
//!
//! The receiver is its own process, `tandem bench sink` (hidden), so the CPU
//! split between it and this process matches the real servers'. It listens
//! like a server (`transport::server_endpoint` with server B's identity,
//! `TransportConfig::protocol()`, the enrolled workers' certificates allowed)
//! and reads through `transport::hub::serve`, the servers' accept and read
//! path: every frame is read whole into a `Vec`, dropped, and answered with a
//! one-byte ack frame. This process connects N clients exactly as the bench
//! workers do (`worker::link::Link::connect`: one endpoint and one QUIC
//! connection per enrolled identity, server B's certificate pinned) and, per
//! round, sends one frame of the measured size from every client at once; a
//! round's time runs from the first send to the last ack.
//!
//! A [`Shape`] with a download first has each client ask for a frame of that
//! size (a 9-byte request: 0, then the size as a big-endian u64; upload frames
//! never start with 0), read it, and only then upload: the bytes of a plain
//! round, whose announcement carries the model to every worker.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tandem::client::Link;
use tokio::sync::{Semaphore, mpsc};
use transport::hub::{Peers, Seen};
use transport::{Pki, TransportConfig};

/// How long a client waits for the sink's ack of one frame.
const ACK_WAIT: Duration = Duration::from_secs(600);

/// The ack frame's payload (its content means nothing).
const ACK: [u8; 1] = [1];

/// First byte of a download request (no upload frame starts with it).
const REQUEST: u8 = 0;

/// Options of the hidden `bench sink` subcommand.
#[derive(Debug, clap::Args)]
pub struct SinkArgs {
    /// Enrolment directory: the sink presents server B's identity and lets
    /// the enrolled workers in.
    #[arg(long)]
    pki: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Write the bound address here once listening.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Exit when standard input closes (the launching bench died).
    #[arg(long)]
    exit_on_stdin_close: bool,
}

/// `bench sink`: accepts the enrolled workers, reads every frame whole,
/// drops it and acks it, until stopped.
pub fn sink(args: SinkArgs) -> Result<()> {
    transport::node::init_logging("info");
    // The servers' runtime: tokio's default, one worker thread per core.
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let result = rt.block_on(async {
        let pki = Pki::new(&args.pki);
        let identity = pki.load_server_b().context("loading server B's identity")?;
        let enrolled = pki.load_enrolled().context("loading enrolled workers")?;
        // The servers' transport: their default memory budget's receive
        // windows and frame budget.
        let budget = 1024 << 20;
        let cfg = TransportConfig::protocol().with_memory_budget(budget, enrolled.len() + 1);
        let endpoint =
            transport::server_endpoint(args.listen, &identity, enrolled.fingerprints(), &cfg)
                .context("starting the QUIC endpoint")?;
        let addr = endpoint.local_addr()?;
        if let Some(f) = &args.ready_file {
            transport::node::write_ready_file(f, addr)
                .with_context(|| format!("writing {}", f.display()))?;
        }
        tracing::info!(%addr, workers = enrolled.len(), "sink listening");
        // Server A's event channel size.
        let (tx, rx) = mpsc::channel(64);
        let identify = move |fp: &transport::Fingerprint| enrolled.worker_id(fp);
        let max_frame = cfg.max_frame;
        tokio::spawn(transport::hub::serve(
            endpoint.clone(),
            identify,
            cfg,
            transport::Counters::none(),
            tx,
            Some(transport::FrameBudget::of_memory_budget(budget)),
        ));
        transport::node::until_stopped(args.exit_on_stdin_close, drop_and_ack(rx, max_frame)).await;
        transport::node::close_and_drain(&endpoint, "sink done").await;
        anyhow::Ok(())
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

/// The sink's event loop: every frame is dropped and acked; a download
/// request is answered with a fresh frame of the size asked for (at most
/// `max_frame`), as server A's announcement is one fresh frame per worker.
async fn drop_and_ack(mut rx: mpsc::Receiver<transport::hub::Inbound<u32>>, max_frame: usize) {
    let mut peers = Peers::new();
    while let Some(ev) = rx.recv().await {
        if let Seen::Frame { peer, payload, .. } = peers.on_event(ev) {
            let reply = match payload.split_first() {
                Some((&REQUEST, size)) => <[u8; 8]>::try_from(size)
                    .ok()
                    .and_then(|b| usize::try_from(u64::from_be_bytes(b)).ok())
                    .map_or_else(|| ACK.to_vec(), |n| vec![0x5a; n.min(max_frame)]),
                _ => ACK.to_vec(),
            };
            drop(payload);
            peers.send_frame(&peer, reply);
        }
    }
}

/// A running sink process, killed when dropped.
struct SinkProc {
    child: Child,
    _stdin: ChildStdin,
    log: PathBuf,
}

impl SinkProc {
    /// Starts `tandem bench sink` for the enrolment directory `pki`; returns
    /// it and its address once it listens.
    fn start(pki: &Path, dir: &Path) -> Result<(SinkProc, SocketAddr)> {
        let exe = std::env::current_exe().context("locating the current executable")?;
        let ready = dir.join("sink.addr");
        let _ = std::fs::remove_file(&ready);
        let log = dir.join("sink.log");
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut child = Command::new(&exe)
            .args(["bench", "sink", "--exit-on-stdin-close", "--pki"])
            .arg(pki)
            .arg("--ready-file")
            .arg(&ready)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .spawn()
            .with_context(|| format!("starting {} bench sink", exe.display()))?;
        let stdin = child.stdin.take().context("the sink's stdin")?;
        let mut sink = SinkProc {
            child,
            _stdin: stdin,
            log,
        };
        let started = Instant::now();
        let addr = loop {
            if let Ok(s) = std::fs::read_to_string(&ready)
                && !s.is_empty()
            {
                break s
                    .trim()
                    .parse()
                    .with_context(|| format!("the sink's address {s:?}"))?;
            }
            sink.check_alive()?;
            if started.elapsed() > Duration::from_secs(30) {
                bail!(
                    "the sink did not start within 30 s; see {}",
                    sink.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok((sink, addr))
    }

    /// An error with the log's tail if the sink has exited.
    fn check_alive(&mut self) -> Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            bail!(
                "the sink exited with {status}; the last lines of {}:\n{}",
                self.log.display(),
                tandem::log_tail(&self.log, 12)
            );
        }
        Ok(())
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for SinkProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What each client moves per round.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Payload bytes of the frame the sink sends first (0: none).
    pub down: usize,
    /// Payload bytes of the client's frame (the wire adds a 4-byte prefix).
    pub up: usize,
}

/// One [`Shape`] measured over R rounds.
#[derive(Debug)]
pub struct Floor {
    /// What each client moved per round.
    pub shape: Shape,
    /// Seconds per round, first send to last ack, rounds 1..=R.
    pub rounds_s: Vec<f64>,
    /// CPU seconds per round of the sink and of this process (the clients).
    pub cpu: Vec<[f64; 2]>,
}

/// Connects `n` enrolled clients to a fresh sink and measures each of
/// `shapes` over `rounds` rounds; `dir` gets the sink's log.
pub fn measure(
    pki_dir: &Path,
    dir: &Path,
    n: usize,
    rounds: u64,
    shapes: &[Shape],
) -> Result<Vec<Floor>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (mut sink, addr) = SinkProc::start(pki_dir, dir)?;
    let sink_pid = sink.pid();
    // The bench workers' runtime (`run_cluster`).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let mut links = rt.block_on(connect_all(pki_dir, addr, n))?;
    eprintln!(
        "[floor] {n} clients connected to the sink after {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let mut out = Vec::with_capacity(shapes.len());
    for &shape in shapes {
        let size = shape.up;
        let mut rounds_s = Vec::new();
        let mut cpu = Vec::new();
        for round in 1..=rounds {
            sink.check_alive()?;
            // Distinct, touched buffers, as the prepared uploads are.
            let frames: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8 | 1; size]).collect();
            let cpu_before = [super::cpu_s(&sink_pid), super::cpu_s("self")];
            let t0 = Instant::now();
            let handles: Vec<_> = links
                .drain(..)
                .zip(frames)
                .map(|((id, link), frame)| rt.spawn(one_round(id, link, shape.down, frame)))
                .collect();
            links = rt.block_on(async {
                let mut back = Vec::with_capacity(handles.len());
                for h in handles {
                    back.push(h.await.context("a floor client panicked")??);
                }
                anyhow::Ok(back)
            })?;
            let secs = t0.elapsed().as_secs_f64();
            let cpu_after = [super::cpu_s(&sink_pid), super::cpu_s("self")];
            cpu.push([0, 1].map(|i| match (cpu_before[i], cpu_after[i]) {
                (Some(b), Some(a)) => a - b,
                _ => f64::NAN,
            }));
            eprintln!(
                "[floor] {n} × {}{size} B up, round {round}: {secs:.3} s ({:.0} MB/s)",
                match shape.down {
                    0 => String::new(),
                    d => format!("{d} B down, then "),
                },
                shape.wire_bytes(n) / secs / 1e6
            );
            rounds_s.push(secs);
        }
        out.push(Floor {
            shape,
            rounds_s,
            cpu,
        });
    }
    for (_, link) in &links {
        link.close();
    }
    rt.shutdown_timeout(Duration::from_secs(1));
    drop(sink);
    Ok(out)
}

/// Handshakes in flight at once while the clients connect. The set-up is
/// not measured; 1000 at once took the lone sink over the 10 s handshake
/// timeout on the loaded 2-core machine.
const CONNECTING: usize = 64;

/// Connects clients 0..n (each its own endpoint and connection, as the bench
/// workers; at most [`CONNECTING`] handshakes at a time) and has each send
/// one tiny frame and read its ack, so the sink holds all n streams before
/// the first measured round.
async fn connect_all(pki_dir: &Path, addr: SocketAddr, n: usize) -> Result<Vec<(u32, Link)>> {
    let pki = Pki::new(pki_dir);
    let pin = pki
        .server_b_fingerprint()
        .context("loading server B's certificate")?;
    let gate = Arc::new(Semaphore::new(CONNECTING));
    let mut handles = Vec::with_capacity(n);
    for id in 0..u32::try_from(n).context("too many workers")? {
        let identity = pki
            .load_worker(id)
            .with_context(|| format!("loading worker {id}'s identity"))?;
        let gate = Arc::clone(&gate);
        handles.push(tokio::spawn(async move {
            let _turn = gate.acquire_owned().await?;
            let link = Link::connect(&identity, addr, pin).await?;
            send_and_ack(id, link, ACK.to_vec()).await
        }));
    }
    let mut links = Vec::with_capacity(n);
    for h in handles {
        links.push(h.await.context("a floor client panicked")??);
    }
    Ok(links)
}

impl Shape {
    /// Bytes on the wire per round for `n` clients, length prefixes and the
    /// download included (its 9-byte request and the ack not).
    pub fn wire_bytes(&self, n: usize) -> f64 {
        let framed = |b: usize| match b {
            0 => 0,
            b => b + transport::frame::PREFIX_LEN,
        };
        (n * (framed(self.down) + framed(self.up))) as f64
    }
}

/// One client's round: fetch a `down`-byte frame first if `down > 0`, then
/// send `frame` and wait for the ack.
async fn one_round(id: u32, mut link: Link, down: usize, frame: Vec<u8>) -> Result<(u32, Link)> {
    if down > 0 {
        let mut request = vec![REQUEST];
        request.extend_from_slice(&(down as u64).to_be_bytes());
        link.send_owned(request)
            .await
            .with_context(|| format!("floor client {id}: asking for the download"))?;
        match link.reader.recv_with_timeout(Some(ACK_WAIT)).await {
            Ok(Some(f)) if f.len() == down => {}
            Ok(Some(f)) => bail!("floor client {id}: got {} bytes, asked for {down}", f.len()),
            Ok(None) => bail!("floor client {id}: the sink closed the stream"),
            Err(e) => return Err(e).with_context(|| format!("floor client {id}: the download")),
        }
    }
    send_and_ack(id, link, frame).await
}

/// Sends `frame` on `link` and waits for the sink's ack.
async fn send_and_ack(id: u32, mut link: Link, frame: Vec<u8>) -> Result<(u32, Link)> {
    link.send_owned(frame)
        .await
        .with_context(|| format!("floor client {id}: sending"))?;
    match link.reader.recv_with_timeout(Some(ACK_WAIT)).await {
        Ok(Some(_)) => Ok((id, link)),
        Ok(None) => bail!("floor client {id}: the sink closed the stream"),
        Err(e) => Err(e).with_context(|| format!("floor client {id}: waiting for the ack")),
    }
}
