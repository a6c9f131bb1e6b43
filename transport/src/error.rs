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
    #[error("QUIC/TLS handshake with {addr} failed: {source}")]
    Handshake {
        /// Remote address.
        addr: SocketAddr,
        /// Underlying quinn error (its reason carries the TLS error text).
        #[source]
        source: quinn::ConnectionError,
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
    Connect(#[from] quinn::ConnectError),

    /// TLS configuration error.
    #[error("TLS error: {0}")]
    Tls(#[from] rustls::Error),

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
    CertGen(#[from] rcgen::Error),

    /// A fingerprint string is malformed.
    #[error("invalid fingerprint {0:?}: expected 64 hex digits")]
    InvalidFingerprint(String),

    /// The enrolment list is malformed (duplicate id or fingerprint, ...).
    #[error("invalid enrolment list: {0}")]
    Enrolment(String),

    /// JSON (de)serialisation failed.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),

    /// I/O error, with what was being done.
    #[error("{what}: {source}")]
    Io {
        /// The operation, e.g. "reading /path/server-a.crt".
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl TransportError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        TransportError::Io {
            what: what.into(),
            source,
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
            E::ApplicationClosed(close) => TransportError::PeerClosed(format!(
                "application code {}{}",
                close.error_code,
                reason_suffix(&close.reason)
            )),
            E::ConnectionClosed(close) => TransportError::PeerClosed(close.to_string()),
            E::LocallyClosed => TransportError::LocallyClosed,
            other => TransportError::ConnectionLost(other),
        }
    }
}

fn reason_suffix(reason: &[u8]) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(": {}", String::from_utf8_lossy(reason))
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
