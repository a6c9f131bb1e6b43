//! Errors of the transport crate.

use std::net::SocketAddr;
use std::time::Duration;

use crate::pki::Fingerprint;

/// Result alias used throughout the crate.
pub type Result<T, E = TransportError> = std::result::Result<T, E>;

/// Everything that can go wrong in the transport layer.
///
/// Messages never contain key material: key parse errors only describe the
/// structure that was expected.
///
/// Each message is complete on its own (it includes the underlying error's
/// text), so `source()` is always `None`: an error chain printed with
/// `{:#}` (anyhow) or walked by a logger shows the OS or library message
/// once, not twice.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Waiting on the peer (or the network) took longer than allowed.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was being awaited.
        what: &'static str,
        /// The timeout that expired.
        after: Duration,
    },

    /// A frame's length prefix (or a frame we were asked to send) exceeds the
    /// configured maximum. Detected before any allocation for the payload.
    #[error("frame of {len} bytes exceeds the maximum frame size of {max} bytes")]
    FrameTooLarge {
        /// The announced (or requested) length.
        len: u64,
        /// The configured maximum.
        max: usize,
    },

    /// The stream ended in the middle of a frame.
    #[error("truncated frame: expected {expected} bytes, stream ended after {received}")]
    Truncated {
        /// Bytes the prefix (or the prefix itself) promised.
        expected: u64,
        /// Bytes actually received before the end of the stream.
        received: u64,
    },

    /// The peer closed the connection (application close or transport close,
    /// including TLS rejections reported by the peer).
    #[error("peer closed the connection: {0}")]
    PeerClosed(String),

    /// The connection was lost (idle timeout, reset, local TLS failure, ...).
    #[error("connection lost: {0}")]
    ConnectionLost(quinn::ConnectionError),

    /// This side closed the connection.
    #[error("connection was closed locally")]
    LocallyClosed,

    /// The peer stopped reading the stream we are writing to.
    #[error("peer stopped reading the stream (application code {code})")]
    StreamStopped {
        /// Application error code given by the peer.
        code: u64,
    },

    /// The peer reset the stream we are reading from.
    #[error("peer reset the stream (application code {code})")]
    StreamReset {
        /// Application error code given by the peer.
        code: u64,
    },

    /// The stream was already finished, reset or stopped locally.
    #[error("stream is already closed")]
    StreamClosed,

    /// A previous error left this frame stream in an unknown state.
    #[error("frame stream is unusable after an earlier error")]
    Poisoned,

    /// The QUIC/TLS handshake failed. With pinned certificates the usual
    /// causes are a wrong pinned server certificate (client side) or a client
    /// certificate that is not enrolled (reported by the server).
    #[error("QUIC/TLS handshake with {addr} failed: {error}")]
    Handshake {
        /// Remote address.
        addr: SocketAddr,
        /// Underlying quinn error (its reason carries the TLS error text).
        error: quinn::ConnectionError,
    },

    /// The server at `addr` presented a certificate other than the pinned
    /// one: the address points at the wrong server (say the two servers'
    /// ports swapped), or the enrolment directory is not the one the server
    /// was set up with. `names` (from [`crate::TransportConfig::known_certs`])
    /// say whose certificates the two are, when known.
    #[error("{}", wrong_server(addr, certs))]
    WrongServer {
        /// Remote address.
        addr: SocketAddr,
        /// The pinned certificate and the presented one.
        certs: Box<Mismatch>,
    },

    /// The connected peer's certificate is not the one pinned.
    #[error("peer certificate {got:?} does not match the pinned certificate {expected}")]
    PinMismatch {
        /// The pinned fingerprint.
        expected: Fingerprint,
        /// What the peer presented (None: no certificate).
        got: Option<Fingerprint>,
    },

    /// The peer presented no certificate.
    #[error("peer presented no certificate")]
    NoPeerCertificate,

    /// quinn refused to start a connection (bad address, endpoint stopping, ...).
    #[error("cannot start connection: {0}")]
    Connect(quinn::ConnectError),

    /// A `HOST:PORT` flag did not resolve to a usable address.
    #[error("cannot resolve {flag} {addr}: {reason}")]
    Resolve {
        /// The command-line flag, e.g. `--peer-b`.
        flag: String,
        /// What was given.
        addr: String,
        /// Why it did not resolve.
        reason: String,
    },

    /// TLS configuration error.
    #[error("TLS error: {0}")]
    Tls(rustls::Error),

    /// QUIC configuration error.
    #[error("QUIC configuration error: {0}")]
    QuicConfig(String),

    /// Certificate parsing failed.
    #[error("cannot parse certificate: {0}")]
    CertParse(String),

    /// Private key parsing failed (the message never includes key bytes).
    #[error("cannot parse private key: {0}")]
    KeyParse(String),

    /// The private key does not belong to the certificate.
    #[error("private key does not match certificate {cert}")]
    KeyMismatch {
        /// Fingerprint of the certificate.
        cert: Fingerprint,
    },

    /// Certificate generation failed.
    #[error("certificate generation failed: {0}")]
    CertGen(rcgen::Error),

    /// A fingerprint string is malformed.
    #[error("invalid fingerprint {0:?}: expected 64 hex digits")]
    InvalidFingerprint(String),

    /// The enrolment list is malformed (duplicate id or fingerprint, ...).
    #[error("invalid enrolment list: {0}")]
    Enrolment(String),

    /// JSON (de)serialisation failed.
    #[error("JSON error: {0}")]
    Json(serde_json::Error),

    /// The UDP socket could not be bound (port in use, address not on this
    /// host, …); the message says what to do.
    #[error("cannot bind UDP socket on {addr}: {error}{}", bind_hint(error))]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        error: std::io::Error,
    },

    /// I/O error, with what was being done.
    #[error("{what}: {error}")]
    Io {
        /// The operation, e.g. "reading /path/server-a.crt".
        what: String,
        /// The underlying error.
        error: std::io::Error,
    },
}

fn bind_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            " (another process, perhaps an earlier server, is using this port: stop it or choose another --listen port)"
        }
        std::io::ErrorKind::AddrNotAvailable => {
            " (not an address of this host: use one of its addresses, or 0.0.0.0 for all)"
        }
        std::io::ErrorKind::PermissionDenied => {
            " (ports below 1024 need privileges: choose a higher port)"
        }
        _ => "",
    }
}

/// The two certificates of a [`TransportError::WrongServer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The pinned fingerprint.
    pub expected: Fingerprint,
    /// What the server presented.
    pub got: Fingerprint,
    /// Whose `expected` is ("server B"), when known.
    pub expected_name: Option<String>,
    /// Whose `got` is ("server A"), when known.
    pub got_name: Option<String>,
}

/// "the server at ADDR presented server A's certificate, not server B's".
fn wrong_server(addr: &SocketAddr, m: &Mismatch) -> String {
    let presented = match &m.got_name {
        Some(name) => format!("{name}'s certificate"),
        None => format!("an unknown certificate ({})", m.got),
    };
    let wanted = match &m.expected_name {
        Some(name) => format!("{name}'s"),
        None => format!("the pinned one ({})", m.expected),
    };
    let hint = match (&m.expected_name, &m.got_name) {
        (Some(_), Some(_)) => "check the address (are two ports swapped?)",
        _ => {
            "check the address, and that --pki is the enrolment directory this server was set up with"
        }
    };
    format!("the server at {addr} presented {presented}, not {wanted}: {hint}")
}

// Hand-written instead of `#[from]`, which would also make the wrapped error
// the `source()` and print its text twice in an error chain.
macro_rules! from_wrapped {
    ($($ty:ty => $variant:ident),* $(,)?) => {$(
        impl From<$ty> for TransportError {
            fn from(e: $ty) -> Self {
                TransportError::$variant(e)
            }
        }
    )*};
}

from_wrapped!(
    quinn::ConnectError => Connect,
    rustls::Error => Tls,
    rcgen::Error => CertGen,
    serde_json::Error => Json,
);

impl TransportError {
    pub(crate) fn io(what: impl Into<String>, error: std::io::Error) -> Self {
        TransportError::Io {
            what: what.into(),
            error,
        }
    }

    /// True for [`TransportError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, TransportError::Timeout { .. })
    }
}

impl From<quinn::ConnectionError> for TransportError {
    fn from(e: quinn::ConnectionError) -> Self {
        use quinn::ConnectionError as E;
        match e {
            // The peer's reason is what an operator needs ("server A
            // stopped: lost the connection to server B: …"); the code only
            // when there is no reason.
            E::ApplicationClosed(close) if !close.reason.is_empty() => {
                TransportError::PeerClosed(String::from_utf8_lossy(&close.reason).into_owned())
            }
            E::ApplicationClosed(close) => {
                TransportError::PeerClosed(format!("application code {}", close.error_code))
            }
            E::ConnectionClosed(close) => TransportError::PeerClosed(close.to_string()),
            E::LocallyClosed => TransportError::LocallyClosed,
            other => TransportError::ConnectionLost(other),
        }
    }
}

impl From<quinn::ReadError> for TransportError {
    fn from(e: quinn::ReadError) -> Self {
        use quinn::ReadError as E;
        match e {
            E::Reset(code) => TransportError::StreamReset {
                code: code.into_inner(),
            },
            E::ConnectionLost(c) => c.into(),
            E::ClosedStream | E::IllegalOrderedRead | E::ZeroRttRejected => {
                TransportError::StreamClosed
            }
        }
    }
}

impl From<quinn::WriteError> for TransportError {
    fn from(e: quinn::WriteError) -> Self {
        use quinn::WriteError as E;
        match e {
            E::Stopped(code) => TransportError::StreamStopped {
                code: code.into_inner(),
            },
            E::ConnectionLost(c) => c.into(),
            E::ClosedStream | E::ZeroRttRejected => TransportError::StreamClosed,
        }
    }
}

impl From<quinn::StoppedError> for TransportError {
    fn from(e: quinn::StoppedError) -> Self {
        use quinn::StoppedError as E;
        match e {
            E::ConnectionLost(c) => c.into(),
            E::ZeroRttRejected => TransportError::StreamClosed,
        }
    }
}
