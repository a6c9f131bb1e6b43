//! A scripted worker for tests: speaks the real protocol over real QUIC, but
//! lets a test send exactly the frames it wants (honest, malformed, replayed).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use mpc_core::wire::{self, AToWorker, BToWorker, Limits, SessionInfo, WorkerToA, WorkerToB};
use transport::{Counters, FrameReader, FrameWriter, Identity, Pki, TransportConfig};

/// One stream to one server.
#[derive(Debug)]
pub struct Link {
    /// The connection.
    pub conn: transport::quinn::Connection,
    /// Frame writer.
    pub writer: FrameWriter,
    /// Frame reader.
    pub reader: FrameReader,
}

impl Link {
    /// Connects with `identity` to `addr`, pinning `pin`, and opens the frame stream.
    pub async fn open(
        identity: &Identity,
        addr: SocketAddr,
        pin: transport::Fingerprint,
    ) -> Result<Link> {
        let cfg = TransportConfig::protocol();
        let endpoint = transport::client_endpoint_for(identity, addr, &cfg)?;
        let conn = transport::connect(&endpoint, addr, pin, &cfg).await?;
        let (writer, reader) = transport::open_bi(&conn, &cfg, &Counters::none()).await?;
        Ok(Link {
            conn,
            writer,
            reader,
        })
    }

    /// Sends a typed message.
    pub async fn send<M: wire::WireMessage>(&mut self, msg: &M) -> Result<()> {
        self.writer.send_owned(wire::encode(msg)?).await?;
        Ok(())
    }

    /// Sends raw frame bytes the link takes over (no copy into QUIC's buffer).
    pub async fn send_owned(&mut self, frame: Vec<u8>) -> Result<()> {
        self.writer.send_owned(frame).await?;
        Ok(())
    }

    /// Sends raw frame bytes.
    pub async fn send_raw(&mut self, frame: &[u8]) -> Result<()> {
        self.writer.send(frame).await?;
        Ok(())
    }

    /// Receives a typed message within `wait`.
    pub async fn recv<M: wire::WireMessage>(&mut self, wait: Duration) -> Result<M> {
        match self.reader.recv_with_timeout(Some(wait)).await? {
            Some(f) => Ok(wire::decode(&f, &Limits::default())?),
            None => bail!("stream ended"),
        }
    }
}

/// A worker identity from the cluster's enrolment directory with links to A and B.
#[derive(Debug)]
pub struct ScriptedWorker {
    /// Worker id.
    pub id: u32,
    /// Link to A.
    pub a: Link,
    /// Link to B (secure rules).
    pub b: Option<Link>,
    /// Session announced by A.
    pub session: Option<SessionInfo>,
}

/// Receive timeout used by scripted workers.
pub const WAIT: Duration = Duration::from_secs(30);

impl ScriptedWorker {
    /// Connects as enrolled worker `id` (no Hello sent yet).
    pub async fn connect(
        pki_dir: &Path,
        id: u32,
        addr_a: SocketAddr,
        addr_b: Option<SocketAddr>,
    ) -> Result<ScriptedWorker> {
        let pki = Pki::new(pki_dir);
        let identity = pki.load_worker(id)?;
        let a = Link::open(&identity, addr_a, pki.server_a_fingerprint()?).await?;
        let b = match addr_b {
            Some(addr) => Some(Link::open(&identity, addr, pki.server_b_fingerprint()?).await?),
            None => None,
        };
        Ok(ScriptedWorker {
            id,
            a,
            b,
            session: None,
        })
    }

    /// Says Hello to both servers and waits for their Welcome.
    pub async fn hello(&mut self) -> Result<()> {
        self.a.send(&WorkerToA::Hello { worker: self.id }).await?;
        match self.a.recv::<AToWorker>(WAIT).await? {
            AToWorker::Welcome { session } => self.session = Some(session),
            other => bail!("expected Welcome from A, got {other:?}"),
        }
        if let Some(b) = self.b.as_mut() {
            b.send(&WorkerToB::Hello { worker: self.id }).await?;
            match b.recv::<BToWorker>(WAIT).await? {
                BToWorker::Welcome => {}
                other => bail!("expected Welcome from B, got {other:?}"),
            }
        }
        Ok(())
    }

    /// Waits for the next round announcement: (round, model).
    pub async fn announcement(&mut self) -> Result<(u64, Vec<f32>)> {
        loop {
            match self.a.recv::<AToWorker>(Duration::from_secs(120)).await? {
                AToWorker::Announce { round, model } => {
                    return Ok((round, wire::bytes_to_f32s(&model)?));
                }
                AToWorker::Finished => bail!("training finished"),
                _ => {}
            }
        }
    }

    /// Prepares and sends an honest submission of `delta`; returns (A's reply, B's reply).
    pub async fn submit(
        &mut self,
        round: u64,
        delta: &[f32],
    ) -> Result<(AToWorker, Option<BToWorker>)> {
        let session = self.session.clone().context("hello first")?;
        let sub = protocols::round::worker::prepare(&session, round, self.id, delta)?;
        self.send_pair(&sub.to_a, sub.to_b.as_ref()).await
    }

    /// Sends the given messages to A and B and returns their replies.
    pub async fn send_pair(
        &mut self,
        to_a: &WorkerToA,
        to_b: Option<&WorkerToB>,
    ) -> Result<(AToWorker, Option<BToWorker>)> {
        self.a.send(to_a).await?;
        let mut rb = None;
        if let (Some(b), Some(m)) = (self.b.as_mut(), to_b) {
            b.send(m).await?;
            rb = Some(b.recv::<BToWorker>(WAIT).await?);
        }
        let ra = self.a.recv::<AToWorker>(WAIT).await?;
        Ok((ra, rb))
    }
}
