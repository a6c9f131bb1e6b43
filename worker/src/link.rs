//! A worker's connection to one server and the worker's side of the
//! handshake (PROTOCOL §5): open the single frame stream, say `Hello` with
//! the enrolled id, and wait for `Welcome` (A's carries the session). Used by
//! the worker process and by the scripted workers of the integration tests.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use mpc_core::codec::{self, Limits, Message};
use mpc_core::wire::{AToWorker, BToWorker, SessionInfo, WorkerToA, WorkerToB};
use transport::quinn::{Connection, Endpoint, VarInt};
use transport::{
    Counters, Fingerprint, FrameReader, FrameWriter, Identity, TransportConfig, TransportError,
};

/// One stream to one server.
#[derive(Debug)]
pub struct Link {
    /// The connection.
    pub conn: Connection,
    /// Frame writer.
    pub writer: FrameWriter,
    /// Frame reader.
    pub reader: FrameReader,
    /// Decoding limits for the server's frames.
    pub limits: Limits,
    /// Which server this is, for errors ("server A", from
    /// [`TransportConfig::known_certs`]; "the server" if unknown).
    pub server: String,
}

impl Link {
    /// Connects as `identity` to `addr` over `endpoint`, pinning the server's
    /// certificate `pin`, and opens the frame stream.
    pub async fn open(
        endpoint: &Endpoint,
        identity: &Identity,
        addr: SocketAddr,
        pin: Fingerprint,
        cfg: &TransportConfig,
    ) -> Result<Link> {
        let server = cfg.cert_name(&pin).unwrap_or_else(|| "the server".into());
        let conn = transport::connect_as(endpoint, identity, addr, pin, cfg)
            .await
            .with_context(|| format!("connecting to {server} at {addr}"))?;
        let (writer, reader) = transport::open_bi(&conn, cfg, &Counters::none()).await?;
        Ok(Link {
            conn,
            writer,
            reader,
            limits: Limits {
                max_frame: cfg.max_frame,
                max_dim: codec::DEFAULT_MAX_DIM,
            },
            server,
        })
    }

    /// Connects as `identity` to `addr` from an endpoint of its own (one
    /// link, as the scripted test workers use it), pinning `pin`.
    pub async fn connect(identity: &Identity, addr: SocketAddr, pin: Fingerprint) -> Result<Link> {
        let cfg = TransportConfig::protocol();
        let endpoint = transport::client_endpoint_for(identity, addr, &cfg)?;
        Link::open(&endpoint, identity, addr, pin, &cfg).await
    }

    /// Sends a typed message.
    pub async fn send<M: Message>(&mut self, msg: &M) -> Result<()> {
        self.send_owned(msg.encode()).await
    }

    /// Sends frame bytes the link takes over (no copy into QUIC's buffer).
    pub async fn send_owned(&mut self, frame: Vec<u8>) -> Result<()> {
        self.writer.send_owned(frame).await?;
        Ok(())
    }

    /// Sends raw frame bytes (tests send malformed ones).
    pub async fn send_raw(&mut self, frame: &[u8]) -> Result<()> {
        self.writer.send(frame).await?;
        Ok(())
    }

    /// The next message within `wait`; an error if the stream ended.
    pub async fn recv<M: Message>(&mut self, wait: Duration) -> Result<M> {
        match self.next(Some(wait)).await? {
            Some(m) => Ok(m),
            None => bail!("stream ended"),
        }
    }

    /// The next message, within `wait` if given; `None` when the stream
    /// ended. A connection the server closed is an error with the server's
    /// reason ("server A closed the connection: server A stopped: lost the
    /// connection to server B: …").
    pub async fn next<M: Message>(&mut self, wait: Option<Duration>) -> Result<Option<M>> {
        match self.reader.recv_with_timeout(wait).await {
            Ok(Some(f)) => Ok(Some(M::decode_with(&f, &self.limits)?)),
            Ok(None) => Ok(None),
            Err(TransportError::PeerClosed(reason)) => {
                bail!("{} closed the connection: {reason}", self.server)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Says `Hello` to server A as worker `id` and returns the session of its
    /// `Welcome`.
    pub async fn hello_a(&mut self, id: u32, wait: Duration) -> Result<SessionInfo> {
        self.send(&WorkerToA::Hello { worker: id }).await?;
        match self.next(Some(wait)).await? {
            Some(AToWorker::Welcome { session }) => Ok(session),
            Some(AToWorker::Reject { reason, .. }) => bail!("server A refused us: {reason}"),
            other => bail!("unexpected first message from server A: {other:?}"),
        }
    }

    /// Says `Hello` to server B as worker `id` and waits for its `Welcome`.
    pub async fn hello_b(&mut self, id: u32, wait: Duration) -> Result<()> {
        self.send(&WorkerToB::Hello { worker: id }).await?;
        match self.next(Some(wait)).await? {
            Some(BToWorker::Welcome) => Ok(()),
            Some(BToWorker::Reject { reason, .. }) => bail!("server B refused us: {reason}"),
            other => bail!("unexpected first message from server B: {other:?}"),
        }
    }

    /// Closes the connection.
    pub fn close(&self) {
        self.conn.close(VarInt::from_u32(0), b"done");
    }
}
