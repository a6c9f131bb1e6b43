//! QUIC endpoints with pinned certificates.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};

use crate::config::TransportConfig;
use crate::error::{Result, TransportError};
use crate::pki::{Fingerprint, Identity};
use crate::tls::{ALPN, AllowListClientVerifier, PinnedServerVerifier, crypto_provider};

fn rustls_client_config(
    identity: &Identity,
    verifier: PinnedServerVerifier,
    cfg: &TransportConfig,
    loopback: bool,
) -> Result<quinn::ClientConfig> {
    let mut tls = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(vec![identity.certificate()], identity.private_key())?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    // The server name only carries the pin locally; never send it.
    tls.enable_sni = false;
    // No resumption: every handshake verifies the pinned certificate.
    tls.resumption = rustls::client::Resumption::disabled();
    tls.enable_early_data = false;
    let quic = QuicClientConfig::try_from(Arc::new(tls))
        .map_err(|e| TransportError::QuicConfig(e.to_string()))?;
    let mut client = quinn::ClientConfig::new(Arc::new(quic));
    client.transport_config(cfg.quinn_transport_for(loopback)?);
    Ok(client)
}

/// Client configuration that presents `identity` and accepts only the server
/// certificate `pinned` (the server name is ignored). For
/// `quinn::Endpoint::connect_with`; [`connect`] / [`connect_as`] build it for
/// you. `loopback` selects [`TransportConfig::loopback_mtu`].
pub fn client_config(
    identity: &Identity,
    pinned: Fingerprint,
    cfg: &TransportConfig,
    loopback: bool,
) -> Result<quinn::ClientConfig> {
    rustls_client_config(identity, PinnedServerVerifier::new(pinned), cfg, loopback)
}

/// Server configuration: presents `identity`, requires a client certificate
/// whose fingerprint is in `allowed_clients`, TLS 1.3 only, ALPN `tandem/1`.
/// `loopback` selects [`TransportConfig::loopback_mtu`] for what the server
/// sends.
pub fn server_config(
    identity: &Identity,
    allowed_clients: impl IntoIterator<Item = Fingerprint>,
    cfg: &TransportConfig,
    loopback: bool,
) -> Result<quinn::ServerConfig> {
    let verifier = Arc::new(AllowListClientVerifier::new(allowed_clients));
    let mut tls = rustls::ServerConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![identity.certificate()], identity.private_key())?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.max_early_data_size = 0;
    tls.send_tls13_tickets = 0;
    tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    let quic = QuicServerConfig::try_from(Arc::new(tls))
        .map_err(|e| TransportError::QuicConfig(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic));
    server.transport_config(cfg.quinn_transport_for(loopback)?);
    Ok(server)
}

/// Default client config of our endpoints: the pin travels in the local
/// server name built by [`connect`].
fn default_client_config(
    identity: &Identity,
    cfg: &TransportConfig,
    loopback: bool,
) -> Result<quinn::ClientConfig> {
    rustls_client_config(
        identity,
        PinnedServerVerifier::from_server_name(),
        cfg,
        loopback,
    )
}

/// Bind a UDP socket and build an endpoint whose advertised maximum UDP
/// payload allows the configured MTUs (quinn's default of 1472 would cap
/// every path at Ethernet size, even loopback).
fn bind_endpoint(
    bind: SocketAddr,
    server: Option<quinn::ServerConfig>,
    cfg: &TransportConfig,
) -> Result<quinn::Endpoint> {
    let mut endpoint_cfg = quinn::EndpointConfig::default();
    let max_payload = cfg.max_udp_payload();
    endpoint_cfg
        .max_udp_payload_size(max_payload)
        .map_err(|e| TransportError::QuicConfig(format!("max_udp_payload_size: {e}")))?;
    let socket = std::net::UdpSocket::bind(bind)
        .map_err(|error| TransportError::Bind { addr: bind, error })?;
    if cfg.socket_buffer > 0 {
        set_socket_buffers(&socket, cfg.socket_buffer);
    }
    let runtime = quinn::default_runtime().ok_or_else(|| {
        TransportError::io(
            "creating QUIC endpoint",
            std::io::Error::other("no async runtime found (call inside tokio)"),
        )
    })?;
    quinn::Endpoint::new(endpoint_cfg, server, socket, runtime)
        .map_err(|e| TransportError::io(format!("creating QUIC endpoint on {bind}"), e))
}

/// Best effort: the OS may cap the sizes; failures are only logged.
fn set_socket_buffers(socket: &std::net::UdpSocket, bytes: usize) {
    let state = match quinn::udp::UdpSocketState::new(socket.into()) {
        Ok(state) => state,
        Err(e) => {
            tracing::debug!(%e, "cannot inspect UDP socket to size its buffers");
            return;
        }
    };
    if let Err(e) = state.set_recv_buffer_size(socket.into(), bytes) {
        tracing::debug!(%e, bytes, "cannot set UDP receive buffer size");
    }
    if let Err(e) = state.set_send_buffer_size(socket.into(), bytes) {
        tracing::debug!(%e, bytes, "cannot set UDP send buffer size");
    }
}

/// A server endpoint bound to `bind` (port 0 picks a free port; read it back
/// with `endpoint.local_addr()`). Only clients whose certificate fingerprint
/// is in `allowed_clients` complete the handshake.
///
/// The endpoint can also dial out with [`connect`] using the same identity
/// (e.g. server A connecting to server B from its only socket).
///
/// Must be called inside a tokio runtime.
pub fn server_endpoint(
    bind: SocketAddr,
    identity: &Identity,
    allowed_clients: Vec<Fingerprint>,
    cfg: &TransportConfig,
) -> Result<quinn::Endpoint> {
    let loopback = bind.ip().is_loopback();
    let server = server_config(identity, allowed_clients, cfg, loopback)?;
    let mut endpoint = bind_endpoint(bind, Some(server), cfg)?;
    endpoint.set_default_client_config(default_client_config(identity, cfg, loopback)?);
    Ok(endpoint)
}

/// A client endpoint bound to `0.0.0.0:0` (IPv4: loopback and remote IPv4
/// servers; non-loopback MTU settings). Prefer [`client_endpoint_for`], which
/// also handles IPv6 targets and uses the loopback MTU on loopback.
///
/// Must be called inside a tokio runtime.
pub fn client_endpoint(identity: &Identity, cfg: &TransportConfig) -> Result<quinn::Endpoint> {
    client_endpoint_at(
        identity,
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        cfg,
    )
}

/// A client endpoint whose local address matches `target`'s family:
/// `127.0.0.1:0` / `[::1]:0` for loopback targets, `0.0.0.0:0` / `[::]:0`
/// otherwise.
pub fn client_endpoint_for(
    identity: &Identity,
    target: SocketAddr,
    cfg: &TransportConfig,
) -> Result<quinn::Endpoint> {
    let ip = match target.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(ip) if ip.is_loopback() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    client_endpoint_at(identity, SocketAddr::new(ip, 0), cfg)
}

/// A client endpoint bound to an explicit local address.
pub fn client_endpoint_at(
    identity: &Identity,
    bind: SocketAddr,
    cfg: &TransportConfig,
) -> Result<quinn::Endpoint> {
    let mut endpoint = bind_endpoint(bind, None, cfg)?;
    endpoint.set_default_client_config(default_client_config(
        identity,
        cfg,
        bind.ip().is_loopback(),
    )?);
    Ok(endpoint)
}

/// Connect to `addr`, accepting only the server certificate
/// `pinned_server_cert`, within `cfg.handshake_timeout`.
///
/// `endpoint` must come from [`client_endpoint`], [`client_endpoint_for`],
/// [`client_endpoint_at`] or [`server_endpoint`] (their default client config
/// presents the endpoint's identity and reads the pin for this call).
///
/// A wrong pin makes this fail with [`TransportError::Handshake`]. A client
/// certificate that the server does not allow is detected by the server
/// *after* the client's side of the TLS handshake has completed, so this
/// usually returns `Ok` and the first stream operation fails with
/// [`TransportError::PeerClosed`] (reason: "... is not enrolled").
pub async fn connect(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    pinned_server_cert: Fingerprint,
    cfg: &TransportConfig,
) -> Result<quinn::Connection> {
    let name = crate::tls::pin_server_name(&pinned_server_cert);
    let connecting = endpoint.connect(addr, &name)?;
    finish_connect(connecting, addr, pinned_server_cert, cfg).await
}

/// Like [`connect`], but presents `identity` instead of the endpoint's own,
/// so one endpoint (one UDP socket) can carry many identities — e.g. a
/// process hosting many simulated workers. Uses
/// [`TransportConfig::loopback_mtu`] when `addr` is a loopback address.
pub async fn connect_as(
    endpoint: &quinn::Endpoint,
    identity: &Identity,
    addr: SocketAddr,
    pinned_server_cert: Fingerprint,
    cfg: &TransportConfig,
) -> Result<quinn::Connection> {
    let config = client_config(identity, pinned_server_cert, cfg, addr.ip().is_loopback())?;
    let connecting = endpoint.connect_with(config, addr, "tandem")?;
    finish_connect(connecting, addr, pinned_server_cert, cfg).await
}

/// Completes a QUIC + TLS handshake within `cfg.handshake_timeout`.
async fn handshake(
    connecting: quinn::Connecting,
    addr: SocketAddr,
    cfg: &TransportConfig,
) -> Result<quinn::Connection> {
    match tokio::time::timeout(cfg.handshake_timeout, connecting).await {
        Err(_) => Err(TransportError::Timeout {
            what: "QUIC handshake",
            after: cfg.handshake_timeout,
        }),
        Ok(Err(error)) => Err(TransportError::Handshake { addr, error }),
        Ok(Ok(conn)) => Ok(conn),
    }
}

async fn finish_connect(
    connecting: quinn::Connecting,
    addr: SocketAddr,
    pinned_server_cert: Fingerprint,
    cfg: &TransportConfig,
) -> Result<quinn::Connection> {
    let conn = handshake(connecting, addr, cfg)
        .await
        .map_err(|e| wrong_server(e, pinned_server_cert, cfg))?;
    // Belt and braces: the verifier already enforced the pin.
    let got = peer_fingerprint(&conn);
    if got != Some(pinned_server_cert) {
        conn.close(quinn::VarInt::from_u32(0), b"pin mismatch");
        return Err(TransportError::PinMismatch {
            expected: pinned_server_cert,
            got,
        });
    }
    Ok(conn)
}

/// A handshake our pinning verifier refused becomes
/// [`TransportError::WrongServer`], naming both certificates when
/// `cfg.known_certs` knows them; other errors pass through.
fn wrong_server(e: TransportError, expected: Fingerprint, cfg: &TransportConfig) -> TransportError {
    let TransportError::Handshake {
        addr,
        error: quinn::ConnectionError::TransportError(te),
    } = &e
    else {
        return e;
    };
    // rustls carries the verifier's text (`tls::mismatch_text`) into the
    // local error's reason.
    match crate::tls::presented_in(&te.reason) {
        Some(got) if got != expected => TransportError::WrongServer {
            addr: *addr,
            certs: Box::new(crate::error::Mismatch {
                expected,
                got,
                expected_name: cfg.cert_name(&expected),
                got_name: cfg.cert_name(&got),
            }),
        },
        _ => e,
    }
}

/// Server side: complete the handshake of an incoming connection within
/// `cfg.handshake_timeout`, returning the connection and the client's
/// certificate fingerprint (already checked against the allow list).
///
/// Run this in a task per incoming connection; never await handshakes inline
/// in the accept loop, and keep accepting after errors (rejected clients show
/// up here as `Handshake` errors).
pub async fn accept_connection(
    incoming: quinn::Incoming,
    cfg: &TransportConfig,
) -> Result<(quinn::Connection, Fingerprint)> {
    let addr = incoming.remote_address();
    let connecting = incoming
        .accept()
        .map_err(|error| TransportError::Handshake { addr, error })?;
    let conn = handshake(connecting, addr, cfg).await?;
    let fp = peer_fingerprint(&conn).ok_or(TransportError::NoPeerCertificate)?;
    Ok((conn, fp))
}

/// Fingerprint of the peer's end-entity certificate, once the handshake is
/// done.
pub fn peer_fingerprint(conn: &quinn::Connection) -> Option<Fingerprint> {
    let identity = conn.peer_identity()?;
    let certs = identity
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    certs.first().map(|c| Fingerprint::of_cert(c))
}
