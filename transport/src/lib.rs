//! Shared async transport for server-a, server-b and the workers.
//!
//! * [`addr`]: `HOST:PORT` flags ([`HostPort`]), resolved once at start.
//! * [`pki`]: self-signed identities, SHA-256 [`Fingerprint`]s, the enrolment
//!   directory ([`generate_pki`], [`Pki`], [`load_enrolled`]).
//! * [`tls`]: rustls verifiers that pin certificates (no CAs), TLS 1.3 only,
//!   ALPN `tandem/1`.
//! * [`endpoint`]: QUIC endpoints ([`server_endpoint`], [`client_endpoint`],
//!   [`connect`], [`accept_connection`], [`peer_fingerprint`]).
//! * [`frame`]: `u32` big-endian length-prefixed frames over quinn streams
//!   with timeouts, a maximum frame size and byte counters.
//! * [`budget`]: a server's memory budget for received frames
//!   ([`FrameBudget`]), partial frames included.
//! * [`hub`]: the server side shared by server A and server B (accept, one
//!   event channel, [`hub::Peers`] outboxes).
//! * [`node`]: process plumbing of the roles (logging, ready files, shutdown
//!   and drain).
//!
//! # Pitfalls for callers
//!
//! * Handle every accepted connection and every accepted stream in its own
//!   task. With large flow-control windows, a receiver that reads streams
//!   inside its accept loop can stall the whole connection.
//! * A new stream is invisible to the peer until the opener sends data: the
//!   side calling [`open_bi`] must send first.
//! * Do not close a connection (or exit) right after the last `send`: wait for
//!   a reply, or call [`FrameWriter::finish_and_wait`], then
//!   `conn.close(..)` and `endpoint.wait_idle().await`.
//! * A client whose certificate is not allowed usually sees `connect` succeed
//!   and its first stream operation fail with [`TransportError::PeerClosed`].
//! * Use [`client_endpoint_for`] (or [`connect_as`] to a loopback address) to
//!   get the loopback MTU (4000); a process hosting many simulated workers
//!   should share one endpoint and call [`connect_as`] per worker identity.

pub mod addr;
pub mod budget;
pub mod config;
pub mod endpoint;
pub mod error;
pub mod frame;
pub mod hub;
pub mod node;
pub mod pki;
pub mod tls;

pub use addr::HostPort;
pub use budget::{FrameBudget, Hold};
pub use config::TransportConfig;
pub use endpoint::{
    accept_connection, client_config, client_endpoint, client_endpoint_at, client_endpoint_for,
    connect, connect_as, peer_fingerprint, server_config, server_endpoint,
};
pub use error::{Mismatch, Result, TransportError};
pub use frame::{
    ByteCounter, Counters, FrameReader, FrameWriter, accept_bi, accept_uni, open_bi, open_uni,
};
pub use pki::{
    Enrolled, EnrolledWorker, Fingerprint, Identity, Pki, generate_pki, load_cert, load_enrolled,
    load_fingerprint,
};
pub use tls::{ALPN, AllowListClientVerifier, PinnedServerVerifier};

/// Re-export so callers use the same quinn version.
pub use quinn;
