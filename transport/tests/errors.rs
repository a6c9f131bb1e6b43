//! What an operator reads: error chains print each OS message once, and a
//! connection to the wrong server says whose certificate it presented.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::error::Error as _;

use common::echo_server;
use transport::{Identity, TransportConfig, TransportError, client_endpoint_for, server_endpoint};

/// The chain as anyhow's `{:#}` prints it: each error, then its sources.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}

#[tokio::test]
async fn port_in_use_prints_the_os_error_once() {
    let cfg = TransportConfig::protocol();
    let id = Identity::generate("server-a").unwrap();
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = server_endpoint(addr, &id, Vec::new(), &cfg).expect_err("the port is taken");
    let text = chain(&err);
    println!("{text}");
    assert_eq!(text.matches("(os error").count(), 1, "{text}");
    assert!(
        text.contains(&format!("cannot bind UDP socket on {addr}")),
        "{text}"
    );
    assert!(text.contains("choose another --listen port"), "{text}");
}

#[test]
fn no_variant_repeats_its_source() {
    let io = || std::io::Error::from(std::io::ErrorKind::NotFound);
    let addr = "127.0.0.1:1".parse().unwrap();
    let errors = [
        TransportError::Io {
            what: "reading pki/server-a.crt".into(),
            error: io(),
        },
        TransportError::Bind { addr, error: io() },
        TransportError::Handshake {
            addr,
            error: transport::quinn::ConnectionError::TimedOut,
        },
        TransportError::from(serde_json::from_str::<u8>("x").unwrap_err()),
        TransportError::from(rustls::Error::DecryptError),
    ];
    for e in &errors {
        // Each message carries its cause itself, so there is no source to repeat it.
        assert!(e.source().is_none(), "{e}");
        assert_eq!(chain(e), e.to_string());
    }
}

/// Ports swapped: a worker dials server A's port believing it is B's, and
/// A dials itself believing it is B.
#[tokio::test]
async fn wrong_server_names_both_certificates() {
    let a = Identity::generate("server-a").unwrap();
    let b = Identity::generate("server-b").unwrap();
    let worker = Identity::generate("worker-0").unwrap();
    let cfg = TransportConfig {
        known_certs: vec![
            (a.fingerprint(), "server A".into()),
            (b.fingerprint(), "server B".into()),
        ],
        ..TransportConfig::protocol()
    };
    let server_a = echo_server(&a, vec![worker.fingerprint()], &cfg);
    let want = format!(
        "the server at {} presented server A's certificate, not server B's",
        server_a.addr
    );

    let ep = client_endpoint_for(&worker, server_a.addr, &cfg).unwrap();
    let err = transport::connect_as(&ep, &worker, server_a.addr, b.fingerprint(), &cfg)
        .await
        .expect_err("A's port is not B's");
    println!("worker: {err}");
    assert!(matches!(err, TransportError::WrongServer { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&want), "{err}");

    // A server endpoint (`connect`, the pin in the default config) dialing
    // a server A as if it were B.
    let other_a = server_endpoint(
        "127.0.0.1:0".parse().unwrap(),
        &a,
        vec![worker.fingerprint()],
        &cfg,
    )
    .unwrap();
    let err = transport::connect(&other_a, server_a.addr, b.fingerprint(), &cfg)
        .await
        .expect_err("A is not B");
    println!("server A: {err}");
    assert!(err.to_string().starts_with(&want), "{err}");

    // And the other way round: B's certificate where A's is pinned.
    let server_b = echo_server(&b, vec![worker.fingerprint()], &cfg);
    let err = transport::connect_as(&ep, &worker, server_b.addr, a.fingerprint(), &cfg)
        .await
        .expect_err("B's port is not A's");
    assert!(
        err.to_string().starts_with(&format!(
            "the server at {} presented server B's certificate, not server A's",
            server_b.addr
        )),
        "{err}"
    );
}
