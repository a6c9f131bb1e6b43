//! A scripted worker for tests: speaks the real protocol over real QUIC, but
//! lets a test send exactly the frames it wants (honest, malformed, replayed).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use mpc_core::codec;
use mpc_core::wire::{AToWorker, BToWorker, SessionInfo, WorkerToA, WorkerToB};
use transport::Pki;

pub use worker::link::Link;

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
        let a = Link::connect(&identity, addr_a, pki.server_a_fingerprint()?).await?;
        let b = match addr_b {
            Some(addr) => Some(Link::connect(&identity, addr, pki.server_b_fingerprint()?).await?),
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
        self.session = Some(self.a.hello_a(self.id, WAIT).await?);
        if let Some(b) = self.b.as_mut() {
            b.hello_b(self.id, WAIT).await?;
        }
        Ok(())
    }

    /// Waits for the next round announcement: (round, model).
    pub async fn announcement(&mut self) -> Result<(u64, Vec<f32>)> {
        loop {
            match self.a.recv::<AToWorker>(Duration::from_secs(120)).await? {
                AToWorker::Announce { round, model } => {
                    return Ok((round, codec::bytes_to_f32s(&model)?));
                }
                AToWorker::Finished => bail!("training finished"),
                _ => {}
            }
        }
    }

    /// Prepares (randomness from the OS) and sends an honest submission of
    /// `delta`; returns (A's reply, B's reply).
    pub async fn submit(
        &mut self,
        round: u64,
        delta: &[f32],
    ) -> Result<(AToWorker, Option<BToWorker>)> {
        let session = self.session.clone().context("hello first")?;
        let sub =
            protocols::round::worker::prepare(&session, round, self.id, delta, &mut rand::rng())?;
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
