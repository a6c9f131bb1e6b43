//! Transport configuration.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Result, TransportError};
use crate::pki::Fingerprint;

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
    /// Initial maximum UDP payload size on non-loopback paths. Default 1400
    /// (fits Ethernet with IPv4 or IPv6 headers).
    pub initial_mtu: u16,
    /// Upper bound for MTU discovery on non-loopback paths. Default 1452
    /// (quinn's default). Set equal to `initial_mtu` to disable discovery.
    /// Large bounds are not recommended: on loopback, discovery towards 9000
    /// triggered quinn's black-hole detection and collapsed the MTU to 1200.
    pub mtu_upper_bound: u16,
    /// Fixed UDP payload size used when the path is known to be loopback (an
    /// endpoint bound to a loopback address, or [`crate::connect_as`] /
    /// [`crate::client_endpoint_for`] towards a loopback address). `None`
    /// treats loopback like any other path. Default `Some(4000)`: ~1.4x the
    /// throughput of 1452 on loopback here; 8192+ failed (black holes or
    /// handshake timeouts), so keep it at or below 4000.
    pub loopback_mtu: Option<u16>,
    /// Per-stream receive window (bytes). Default 16 MiB.
    pub stream_receive_window: u64,
    /// Per-connection receive window (bytes). Default 64 MiB.
    pub receive_window: u64,
    /// Per-connection send buffer (bytes). Default 64 MiB.
    pub send_window: u64,
    /// UDP socket send/receive buffer size requested from the OS (bytes;
    /// Linux doubles it and caps it at `net.core.{r,w}mem_max`). 0 keeps the
    /// OS default. Default 1 MiB: no drops of packet bursts in a single
    /// loopback stream and the best loopback throughput measured here
    /// (4 MiB was slower: deeper queues, colder caches).
    pub socket_buffer: usize,
    /// Concurrent bidirectional streams the peer may open. Default 1024.
    pub max_concurrent_bidi_streams: u32,
    /// Concurrent unidirectional streams the peer may open. Default 1024.
    pub max_concurrent_uni_streams: u32,
    /// Whose certificates these are ("server A", "server B"), to explain a
    /// pin mismatch: "the server at ADDR presented server A's certificate,
    /// not server B's" ([`TransportError::WrongServer`]). Fill it with
    /// [`crate::Pki::known_certs`]. Default empty: fingerprints only.
    pub known_certs: Vec<(Fingerprint, String)>,
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
            mtu_upper_bound: 1452,
            loopback_mtu: Some(4000),
            stream_receive_window: 16 << 20,
            receive_window: 64 << 20,
            send_window: 64 << 20,
            socket_buffer: 1 << 20,
            max_concurrent_bidi_streams: 1024,
            max_concurrent_uni_streams: 1024,
            known_certs: Vec::new(),
        }
    }
}

impl TransportConfig {
    /// The configuration the tandem processes use: the defaults, except that a
    /// peer may open exactly one bidirectional stream and no unidirectional
    /// ones (the protocol uses one stream per connection), so a peer cannot
    /// park data in streams nobody reads.
    pub fn protocol() -> Self {
        TransportConfig {
            max_concurrent_bidi_streams: 1,
            max_concurrent_uni_streams: 0,
            receive_window: 32 << 20,
            ..TransportConfig::default()
        }
    }

    /// This configuration for a server with a memory budget of `budget`
    /// bytes for what its `peers` connections send it: an eighth of it for
    /// QUIC's receive buffers, so each connection's window (what QUIC
    /// buffers of it before the reader takes it) is `budget / 8 / peers`,
    /// between 64 KiB and 16 MiB (loopback and LAN paths fill even the
    /// smallest at full speed; a long path with many peers is slower per
    /// peer). Frames being read or waiting for the state machine get a
    /// quarter ([`crate::FrameBudget::of_memory_budget`]); the rest is the
    /// state machine's own (held uploads) and the process's. A peer outside
    /// the budget (the other server) gets its window back with
    /// [`crate::hub::Route::receive_window`].
    pub fn with_memory_budget(self, budget: u64, peers: usize) -> TransportConfig {
        let window = (budget / 8 / (peers.max(1) as u64)).clamp(64 << 10, 16 << 20);
        TransportConfig {
            receive_window: window,
            ..self
        }
    }

    /// The name of a known certificate (see [`TransportConfig::known_certs`]).
    pub fn cert_name(&self, fp: &Fingerprint) -> Option<String> {
        self.known_certs
            .iter()
            .find_map(|(f, name)| (f == fp).then(|| name.clone()))
    }

    /// (initial MTU, discovery upper bound) for a path.
    pub fn mtu_for(&self, loopback: bool) -> (u16, u16) {
        match (loopback, self.loopback_mtu) {
            (true, Some(mtu)) => (mtu, mtu),
            _ => (self.initial_mtu, self.mtu_upper_bound),
        }
    }

    /// Largest UDP payload an endpoint must accept (advertised to peers).
    pub(crate) fn max_udp_payload(&self) -> u16 {
        self.mtu_upper_bound
            .max(self.initial_mtu)
            .max(self.loopback_mtu.unwrap_or(0))
            .clamp(1200, 65527)
    }

    /// The quinn transport configuration for a loopback or other path.
    pub fn quinn_transport_for(&self, loopback: bool) -> Result<Arc<quinn::TransportConfig>> {
        let (initial_mtu, mtu_upper_bound) = self.mtu_for(loopback);
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
            .initial_mtu(initial_mtu);
        if mtu_upper_bound > initial_mtu {
            let mut mtu = quinn::MtuDiscoveryConfig::default();
            mtu.upper_bound(mtu_upper_bound);
            t.mtu_discovery_config(Some(mtu));
        } else {
            t.mtu_discovery_config(None);
        }
        Ok(Arc::new(t))
    }
}
