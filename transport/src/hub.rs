//! The server side shared by server A and server B: accept authenticated
//! connections, map each to a peer identity, and turn every connection's one
//! bidirectional frame stream into events on a single channel, so that the
//! server's state machine runs in one task with no locks.
//!
//! Each connection gets its own task (handshake, stream accept, reads) and its
//! own writer task fed by a bounded queue; a peer that does not drain its
//! queue is disconnected instead of stalling the server.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mpc_core::codec::Message;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::budget::{FrameBudget, Hold};
use crate::config::TransportConfig;
use crate::endpoint::accept_connection;
use crate::error::TransportError;
use crate::frame::{Counters, FrameReader, FrameWriter, PREFIX_LEN, accept_bi};
use crate::pki::Fingerprint;

/// Frames queued towards one peer before it is considered stuck. Servers send
/// at most a few frames per worker and round, so this is never reached by a
/// peer that reads.
pub const OUTBOX_FRAMES: usize = 4096;

/// A handle to send frames to one connected peer.
#[derive(Clone, Debug)]
pub struct Outbox {
    tx: mpsc::Sender<Vec<u8>>,
    conn: quinn::Connection,
}

impl Outbox {
    /// Queues a frame; a full queue closes the connection (the peer is stuck).
    /// Returns false if the peer is gone.
    pub fn send(&self, frame: Vec<u8>) -> bool {
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                warn!("peer is not reading its frames: disconnecting it");
                self.conn
                    .close(quinn::VarInt::from_u32(0x20), b"send queue overflow");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Closes the connection with a reason (application code 0).
    pub fn close(&self, reason: &str) {
        self.close_with(0, reason);
    }

    /// Closes the connection with an application code and a reason, which
    /// the peer reads as [`TransportError::PeerClosed`].
    pub fn close_with(&self, code: u32, reason: &str) {
        self.conn
            .close(quinn::VarInt::from_u32(code), reason.as_bytes());
    }
}

/// What happened on a peer's connection.
#[derive(Debug)]
pub enum PeerEvent {
    /// The peer opened its stream; frames for it go to this outbox.
    Connected(Outbox),
    /// A frame arrived (`wire_bytes` includes the length prefix).
    Frame {
        /// Payload.
        payload: Vec<u8>,
        /// Bytes on the wire.
        wire_bytes: usize,
        /// Its bytes in the server's frame budget, if it has one: dropped
        /// once the state machine has taken the frame.
        hold: Option<Hold>,
    },
    /// The connection or stream ended (with the error, if any).
    Closed(Option<TransportError>),
}

/// An event from peer `peer` on connection number `conn_id`.
#[derive(Debug)]
pub struct Inbound<P> {
    /// The authenticated peer.
    pub peer: P,
    /// Distinguishes two connections of the same peer.
    pub conn_id: u64,
    /// The event.
    pub event: PeerEvent,
}

/// What a server's event loop gets from [`Peers::on_event`].
#[derive(Debug)]
pub enum Seen<P> {
    /// `peer` connected (or replaced its connection): it can be sent to now.
    Joined(P),
    /// A frame from `peer`.
    Frame {
        /// The authenticated sender.
        peer: P,
        /// The frame's payload.
        payload: Vec<u8>,
        /// Its size on the wire (with the length prefix).
        wire_bytes: usize,
        /// Its bytes in the frame budget: drop it once the frame is handed over.
        hold: Option<Hold>,
    },
    /// `peer`'s current connection ended (already logged).
    Left {
        /// The peer.
        peer: P,
        /// The transport's error, if the connection failed.
        error: Option<TransportError>,
    },
    /// Nothing for the server (an old connection of a peer closed).
    Nothing,
}

/// The outboxes of a server's connected peers, one live connection per
/// peer: the bookkeeping both servers do on [`Inbound`] events.
#[derive(Debug)]
pub struct Peers<P> {
    live: HashMap<P, (u64, Outbox)>,
}

impl<P> Default for Peers<P> {
    fn default() -> Self {
        Peers {
            live: HashMap::new(),
        }
    }
}

impl<P: Clone + Debug + Eq + Hash> Peers<P> {
    /// No peers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Books a connection event and says what it means for the server.
    pub fn on_event(&mut self, ev: Inbound<P>) -> Seen<P> {
        let Inbound {
            peer,
            conn_id,
            event,
        } = ev;
        match event {
            PeerEvent::Connected(outbox) => {
                debug!(?peer, "peer connected");
                if let Some((_, old)) = self.live.insert(peer.clone(), (conn_id, outbox)) {
                    old.close("replaced by a newer connection");
                }
                Seen::Joined(peer)
            }
            PeerEvent::Frame {
                payload,
                wire_bytes,
                hold,
            } => Seen::Frame {
                peer,
                payload,
                wire_bytes,
                hold,
            },
            PeerEvent::Closed(error) => {
                if self.live.get(&peer).is_none_or(|(c, _)| *c != conn_id) {
                    return Seen::Nothing;
                }
                self.live.remove(&peer);
                match &error {
                    Some(TransportError::PeerClosed(reason)) => {
                        info!(?peer, %reason, "peer closed its connection")
                    }
                    Some(e) => warn!(?peer, error = %e, "peer connection failed"),
                    None => info!(?peer, "peer disconnected"),
                }
                Seen::Left { peer, error }
            }
        }
    }

    /// Encodes `msg` and queues it for `peer` (dropped, with a warning, if
    /// the peer is not connected).
    pub fn send<M: Message>(&self, peer: &P, msg: &M) {
        self.send_frame(peer, msg.encode());
    }

    /// Encodes `msg` once and queues it for each of `peers` that is connected.
    pub fn broadcast<M: Message>(&self, peers: impl IntoIterator<Item = P>, msg: &M) {
        let frame = msg.encode();
        for peer in peers {
            if let Some((_, outbox)) = self.live.get(&peer) {
                outbox.send(frame.clone());
            }
        }
    }

    /// Queues an encoded frame for `peer`.
    pub fn send_frame(&self, peer: &P, frame: Vec<u8>) {
        match self.live.get(peer) {
            Some((_, outbox)) => {
                outbox.send(frame);
            }
            None => warn!(?peer, "peer not connected: message dropped"),
        }
    }

    /// Closes every peer's connection with an application code and a
    /// reason (QUIC truncates a reason too long for one packet).
    pub fn close_all(&self, code: u32, reason: &str) {
        for (_, outbox) in self.live.values() {
            outbox.close_with(code, reason);
        }
    }
}

/// Live connections by peer: at most one per identity.
type Registry<P> = Arc<Mutex<HashMap<P, (u64, quinn::Connection)>>>;

/// Accepts connections on `endpoint` until it is closed. `identify` maps an
/// authenticated certificate to a peer (certificates were already checked
/// against the allow list in the handshake; `None` closes the connection).
///
/// Each identity holds at most one connection: a new one closes the old one,
/// so one certificate cannot pile up connections (and their buffers). A peer
/// must open its stream within the handshake timeout.
///
/// With a `budget`, every peer's frames count against it ([`FrameBudget`]).
pub async fn serve<P, F>(
    endpoint: quinn::Endpoint,
    identify: F,
    cfg: TransportConfig,
    counters: Counters,
    events: mpsc::Sender<Inbound<P>>,
    budget: Option<FrameBudget>,
) where
    P: Clone + Debug + Eq + Hash + Send + Sync + 'static,
    F: Fn(&Fingerprint) -> Option<P> + Send + Sync + 'static,
{
    serve_routed(endpoint, identify, cfg, counters, move |_: &P| Route {
        events: events.clone(),
        budget: budget.clone(),
        receive_window: None,
    })
    .await;
}

/// Where [`serve_routed`] sends one peer's events, and the frame budget its
/// frames count against (`None`: none).
#[derive(Debug)]
pub struct Route<P> {
    /// The event channel.
    pub events: mpsc::Sender<Inbound<P>>,
    /// The budget of the peer's frames.
    pub budget: Option<FrameBudget>,
    /// A connection receive window for this peer other than the endpoint's
    /// (B raises server A's back after
    /// [`crate::TransportConfig::with_memory_budget`] shrank everyone's).
    pub receive_window: Option<u64>,
}

/// [`serve`] with one event channel per kind of peer: `route` picks the
/// channel of each connection's events and its frame budget. A server that
/// must keep reading one peer (B: server A) while it stops taking frames
/// from others (B: workers, when too many uploads wait) gives them separate
/// channels, and puts only the others under its budget; a reader whose
/// channel is full or whose budget is spent waits, and QUIC flow control
/// pushes back on that peer only.
pub async fn serve_routed<P, F, R>(
    endpoint: quinn::Endpoint,
    identify: F,
    cfg: TransportConfig,
    counters: Counters,
    route: R,
) where
    P: Clone + Debug + Eq + Hash + Send + Sync + 'static,
    F: Fn(&Fingerprint) -> Option<P> + Send + Sync + 'static,
    R: Fn(&P) -> Route<P> + Send + Sync + 'static,
{
    let identify = Arc::new(identify);
    let route = Arc::new(route);
    let registry: Registry<P> = Arc::new(Mutex::new(HashMap::new()));
    let mut next_id = 0u64;
    while let Some(incoming) = endpoint.accept().await {
        next_id += 1;
        let conn_id = next_id;
        let identify = Arc::clone(&identify);
        let route = Arc::clone(&route);
        let cfg = cfg.clone();
        let counters = counters.clone();
        let registry = Arc::clone(&registry);
        tokio::spawn(async move {
            let (conn, fp) = match accept_connection(incoming, &cfg).await {
                Ok(c) => c,
                Err(e) => {
                    warn!(error = %e, "connection refused");
                    return;
                }
            };
            let Some(peer) = identify(&fp) else {
                warn!(%fp, "certificate not mapped to a peer: closing");
                conn.close(quinn::VarInt::from_u32(0x21), b"unknown peer");
                return;
            };
            let route = route(&peer);
            debug!(?peer, conn_id, "peer connected");
            let old = match registry.lock() {
                Ok(mut live) => live.insert(peer.clone(), (conn_id, conn.clone())),
                Err(_) => None,
            };
            if let Some((_, old)) = old {
                info!(?peer, "a newer connection replaces this peer's old one");
                old.close(
                    quinn::VarInt::from_u32(0x23),
                    b"replaced by a newer connection",
                );
            }
            run_peer(conn, peer.clone(), conn_id, cfg, counters, route).await;
            if let Ok(mut live) = registry.lock()
                && live.get(&peer).is_some_and(|(id, _)| *id == conn_id)
            {
                live.remove(&peer);
            }
        });
    }
}

async fn run_peer<P: Clone + Debug + Send + Sync + 'static>(
    conn: quinn::Connection,
    peer: P,
    conn_id: u64,
    cfg: TransportConfig,
    counters: Counters,
    route: Route<P>,
) {
    // The client opens the stream and speaks first, right after the handshake.
    let first = tokio::time::timeout(cfg.handshake_timeout, accept_bi(&conn, &cfg, &counters));
    let (writer, mut reader) = match first.await {
        Ok(Ok(Some(s))) => s,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            info!(?peer, error = %e, "peer left before opening its stream");
            return;
        }
        Err(_) => {
            warn!(?peer, "peer did not open its stream in time: closing");
            conn.close(quinn::VarInt::from_u32(0x24), b"no stream opened");
            return;
        }
    };
    reader.set_budget(route.budget);
    if let Some(w) = route
        .receive_window
        .and_then(|w| quinn::VarInt::from_u64(w).ok())
    {
        conn.set_receive_window(w);
    }
    attach(conn, writer, reader, peer, conn_id, route.events).await;
}

/// Runs one peer's frame stream: reports `Connected` with an [`Outbox`],
/// then every frame, then `Closed`. Used by the accept side ([`serve`]) and by
/// server A's link to B alike (workers use `worker::link::Link` instead).
pub async fn attach<P: Clone + Debug + Send + Sync + 'static>(
    conn: quinn::Connection,
    writer: FrameWriter,
    mut reader: FrameReader,
    peer: P,
    conn_id: u64,
    events: mpsc::Sender<Inbound<P>>,
) {
    let send = |event| {
        let events = events.clone();
        let peer = peer.clone();
        async move {
            events
                .send(Inbound {
                    peer,
                    conn_id,
                    event,
                })
                .await
                .is_ok()
        }
    };
    let (tx, rx) = mpsc::channel(OUTBOX_FRAMES);
    tokio::spawn(write_loop(writer, rx));
    if !send(PeerEvent::Connected(Outbox {
        tx,
        conn: conn.clone(),
    }))
    .await
    {
        return;
    }
    loop {
        match reader.recv_with_timeout(None).await {
            Ok(Some(payload)) => {
                let wire_bytes = payload.len() + PREFIX_LEN;
                let hold = reader.take_hold();
                if !send(PeerEvent::Frame {
                    payload,
                    wire_bytes,
                    hold,
                })
                .await
                {
                    return;
                }
            }
            Ok(None) => {
                send(PeerEvent::Closed(None)).await;
                return;
            }
            Err(e) => {
                // A framing error (oversized or truncated frame) leaves the
                // stream unusable: drop this peer's connection, keep serving others.
                conn.close(quinn::VarInt::from_u32(0x22), b"framing error");
                send(PeerEvent::Closed(Some(e))).await;
                return;
            }
        }
    }
}

async fn write_loop(mut writer: FrameWriter, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(frame) = rx.recv().await {
        if let Err(e) = writer.send_owned(frame).await {
            debug!(error = %e, "write to peer failed");
            return;
        }
    }
    let _ = writer.finish();
}

/// Waits up to `grace` for queued frames to reach peers before shutdown.
pub async fn drain(endpoint: &quinn::Endpoint, grace: Duration) {
    let _ = tokio::time::timeout(grace, endpoint.wait_idle()).await;
}
