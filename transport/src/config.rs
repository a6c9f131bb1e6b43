//! Transport configuration.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Result, TransportError};

/// Knobs shared by endpoints and frame streams.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// Largest frame payload accepted or sent (bytes). Default 64 MiB.
    pub max_frame: usize,
    /// Per-await timeout while waiting on the peer inside a frame, for stream
    /// writes (flow control) and for opening streams. It is an *inactivity*
    /// timeout: it restarts whenever bytes move. Default 30 s.
    pub io_timeout: Duration,
    /// QUIC + TLS handshake timeout. Default 10 s.
    pub handshake_timeout: Duration,
    /// QUIC idle timeout (the smaller of both peers' values applies).
    /// Default 30 s.
    pub idle_timeout: Duration,
    /// Keep-alive interval; must be below `idle_timeout`. Default 5 s.
    pub keep_alive: Option<Duration>,
    /// Initial maximum UDP payload size. Default 1400 (safe on Ethernet paths).
    pub initial_mtu: u16,
    /// Upper bound for MTU discovery. Default 65527 (loopback reaches large
    /// packets; real paths settle at their MTU). Set equal to `initial_mtu`
    /// to disable discovery.
    pub mtu_upper_bound: u16,
    /// Per-stream receive window (bytes). Default 16 MiB.
    pub stream_receive_window: u64,
    /// Per-connection receive window (bytes). Default 64 MiB.
    pub receive_window: u64,
    /// Per-connection send buffer (bytes). Default 64 MiB.
    pub send_window: u64,
    /// UDP socket send/receive buffer size requested from the OS (bytes;
    /// capped by `net.core.{r,w}mem_max`). 0 keeps the OS default.
    /// Default 4 MiB: avoids drops of packet bursts on fast paths.
    pub socket_buffer: usize,
    /// Concurrent bidirectional streams the peer may open. Default 1024.
    pub max_concurrent_bidi_streams: u32,
    /// Concurrent unidirectional streams the peer may open. Default 1024.
    pub max_concurrent_uni_streams: u32,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            max_frame: 64 << 20,
            io_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            keep_alive: Some(Duration::from_secs(5)),
            initial_mtu: 1400,
            mtu_upper_bound: 65527,
            stream_receive_window: 16 << 20,
            receive_window: 64 << 20,
            send_window: 64 << 20,
            socket_buffer: 4 << 20,
            max_concurrent_bidi_streams: 1024,
            max_concurrent_uni_streams: 1024,
        }
    }
}

impl TransportConfig {
    /// The quinn transport configuration derived from these settings.
    pub fn quinn_transport(&self) -> Result<Arc<quinn::TransportConfig>> {
        let varint = |v: u64, what: &str| {
            quinn::VarInt::from_u64(v)
                .map_err(|_| TransportError::QuicConfig(format!("{what} {v} is too large")))
        };
        let mut t = quinn::TransportConfig::default();
        t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(self.max_concurrent_bidi_streams))
            .max_concurrent_uni_streams(quinn::VarInt::from_u32(self.max_concurrent_uni_streams))
            .stream_receive_window(varint(self.stream_receive_window, "stream_receive_window")?)
            .receive_window(varint(self.receive_window, "receive_window")?)
            .send_window(self.send_window)
            .max_idle_timeout(Some(
                quinn::IdleTimeout::try_from(self.idle_timeout).map_err(|_| {
                    TransportError::QuicConfig(format!("idle_timeout {:?}", self.idle_timeout))
                })?,
            ))
            .keep_alive_interval(self.keep_alive)
            .initial_mtu(self.initial_mtu);
        if self.mtu_upper_bound > self.initial_mtu {
            let mut mtu = quinn::MtuDiscoveryConfig::default();
            mtu.upper_bound(self.mtu_upper_bound);
            t.mtu_discovery_config(Some(mtu));
        } else {
            t.mtu_discovery_config(None);
        }
        Ok(Arc::new(t))
    }
}
