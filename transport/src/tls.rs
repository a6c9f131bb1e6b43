//! Certificate pinning for rustls (no CAs, TLS 1.3 only).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, OtherError};

use crate::pki::Fingerprint;

/// ALPN protocol id of every tandem connection.
pub const ALPN: &[u8] = b"tandem/1";

/// Suffix of the synthetic server names that carry a pin (see
/// [`PinnedServerVerifier::from_server_name`]).
const PIN_NAME_SUFFIX: &str = ".pin.tandem";

/// The rustls *ring* provider restricted to TLS 1.3 suites, AES-128-GCM first
/// (fastest with AES-NI; also the QUIC initial suite).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    use rustls::crypto::ring::cipher_suite as cs;
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = vec![
        cs::TLS13_AES_128_GCM_SHA256,
        cs::TLS13_AES_256_GCM_SHA384,
        cs::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    Arc::new(provider)
}

fn sig_algs() -> WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

/// Server name that makes a [`PinnedServerVerifier::from_server_name`]
/// verifier pin `pin`. SNI is disabled in our client configs, so this name
/// never goes on the wire; it only carries the pin from `connect` to the
/// verifier.
pub(crate) fn pin_server_name(pin: &Fingerprint) -> String {
    let hex = pin.to_string();
    let (a, b) = hex.split_at(32);
    format!("h{a}.h{b}{PIN_NAME_SUFFIX}")
}

fn pin_from_server_name(name: &ServerName<'_>) -> Option<Fingerprint> {
    let ServerName::DnsName(dns) = name else {
        return None;
    };
    let labels = dns.as_ref().strip_suffix(PIN_NAME_SUFFIX)?;
    let (a, b) = labels.split_once('.')?;
    let hex = format!("{}{}", a.strip_prefix('h')?, b.strip_prefix('h')?);
    hex.parse().ok()
}

/// Error text carried inside `rustls::Error` (whose Display uses Debug for
/// it, hence the plain Debug).
struct VerifyError(String);

impl fmt::Debug for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for VerifyError {}

fn cert_error(msg: String) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(VerifyError(
        msg,
    )))))
}

const PRESENTED: &str = "server certificate ";

/// The verifier's refusal; [`presented_in`] reads the presented fingerprint
/// back from the handshake error that carries it (quinn keeps only the
/// text of rustls's error).
fn mismatch_text(got: &Fingerprint, expected: &Fingerprint) -> String {
    format!("{PRESENTED}{got} does not match pinned certificate {expected}")
}

/// The fingerprint a refused server presented, from the text of the
/// handshake error our verifier caused.
pub(crate) fn presented_in(reason: &str) -> Option<Fingerprint> {
    let at = reason.find(PRESENTED)? + PRESENTED.len();
    reason.get(at..at + 64)?.parse().ok()
}

fn no_tls12() -> rustls::Error {
    rustls::Error::General("TLS 1.2 is not supported".into())
}

#[derive(Clone, Copy, Debug)]
enum PinSource {
    Fixed(Fingerprint),
    ServerName,
}

/// Accepts exactly one pinned server certificate (SHA-256 of the end-entity
/// DER); intermediates, validity dates and names are ignored. Handshake
/// signatures are checked with the ring provider's TLS 1.3 verifier.
#[derive(Debug)]
pub struct PinnedServerVerifier {
    pin: PinSource,
    algs: WebPkiSupportedAlgorithms,
}

impl PinnedServerVerifier {
    /// Verifier that accepts only `pin`; the server name is ignored.
    pub fn new(pin: Fingerprint) -> Self {
        PinnedServerVerifier {
            pin: PinSource::Fixed(pin),
            algs: sig_algs(),
        }
    }

    /// Verifier that takes the pin from the (local, never sent) server name
    /// built by [`crate::connect`]. Used for an endpoint's default client
    /// config so one endpoint can connect to differently pinned servers. A
    /// name that carries no pin is rejected.
    pub fn from_server_name() -> Self {
        PinnedServerVerifier {
            pin: PinSource::ServerName,
            algs: sig_algs(),
        }
    }
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let expected = match self.pin {
            PinSource::Fixed(fp) => fp,
            PinSource::ServerName => pin_from_server_name(server_name).ok_or_else(|| {
                cert_error("no pinned server certificate for this connection".into())
            })?,
        };
        let got = Fingerprint::of_cert(end_entity);
        if got == expected {
            Ok(ServerCertVerified::assertion())
        } else {
            tracing::debug!(%expected, %got, "server certificate does not match pin");
            Err(cert_error(mismatch_text(&got, &expected)))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(no_tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// Requires a client certificate whose fingerprint is in an allowed set
/// (A: enrolled workers; B: enrolled workers plus server A).
#[derive(Debug)]
pub struct AllowListClientVerifier {
    allowed: HashSet<Fingerprint>,
    algs: WebPkiSupportedAlgorithms,
}

impl AllowListClientVerifier {
    /// Allow exactly these certificates.
    pub fn new(allowed: impl IntoIterator<Item = Fingerprint>) -> Self {
        AllowListClientVerifier {
            allowed: allowed.into_iter().collect(),
            algs: sig_algs(),
        }
    }

    /// Is this fingerprint allowed?
    pub fn allows(&self, fingerprint: &Fingerprint) -> bool {
        self.allowed.contains(fingerprint)
    }
}

impl ClientCertVerifier for AllowListClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let got = Fingerprint::of_cert(end_entity);
        if self.allowed.contains(&got) {
            Ok(ClientCertVerified::assertion())
        } else {
            tracing::warn!(%got, "rejecting client certificate that is not enrolled");
            Err(cert_error(format!(
                "client certificate {got} is not enrolled"
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(no_tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_fingerprint_reads_back() {
        let (got, expected) = (
            Fingerprint::from_bytes([1; 32]),
            Fingerprint::from_bytes([2; 32]),
        );
        let reason = format!(
            "invalid peer certificate: Other(OtherError({}))",
            mismatch_text(&got, &expected)
        );
        assert_eq!(presented_in(&reason), Some(got));
        assert_eq!(presented_in("invalid peer certificate: BadEncoding"), None);
    }

    #[test]
    fn pin_name_round_trip() {
        let fp = Fingerprint::from_bytes([0xab; 32]);
        let name = pin_server_name(&fp);
        let parsed = ServerName::try_from(name.as_str()).map(|n| pin_from_server_name(&n));
        assert_eq!(parsed.ok().flatten(), Some(fp));
        let other = ServerName::try_from("localhost").map(|n| pin_from_server_name(&n));
        assert_eq!(other.ok().flatten(), None);
    }
}
