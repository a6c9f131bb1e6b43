//! Test helpers: an echo server on 127.0.0.1:0 that reports what happened.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use transport::{
    Counters, Fingerprint, Identity, TransportConfig, TransportError, accept_bi, accept_connection,
    server_endpoint,
};

/// What the echo server observed.
#[derive(Debug)]
pub enum Event {
    Connected(Fingerprint),
    HandshakeFailed(TransportError),
    StreamError(TransportError),
    StreamDone,
}

pub struct EchoServer {
    pub endpoint: transport::quinn::Endpoint,
    pub addr: SocketAddr,
    pub fingerprint: Fingerprint,
    pub events: mpsc::UnboundedReceiver<Event>,
}

impl EchoServer {
    /// Next event, failing the test if nothing happens for 20 s.
    pub async fn next_event(&mut self) -> Event {
        tokio::time::timeout(Duration::from_secs(20), self.events.recv())
            .await
            .expect("no server event within 20 s")
            .expect("server event channel closed")
    }

    /// Skip events until one matches.
    pub async fn wait_for(&mut self, pred: impl Fn(&Event) -> bool) -> Event {
        loop {
            let e = self.next_event().await;
            if pred(&e) {
                return e;
            }
        }
    }
}

/// Start a server that echoes every frame of every bidirectional stream.
/// Each connection and each stream runs in its own task.
pub fn echo_server(
    identity: &Identity,
    allowed: Vec<Fingerprint>,
    cfg: &TransportConfig,
) -> EchoServer {
    let endpoint = server_endpoint("127.0.0.1:0".parse().unwrap(), identity, allowed, cfg).unwrap();
    let addr = endpoint.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let ep = endpoint.clone();
    let cfg = cfg.clone();
    tokio::spawn(async move {
        while let Some(incoming) = ep.accept().await {
            let tx = tx.clone();
            let cfg = cfg.clone();
            tokio::spawn(async move {
                let conn = match accept_connection(incoming, &cfg).await {
                    Ok((conn, fp)) => {
                        let _ = tx.send(Event::Connected(fp));
                        conn
                    }
                    Err(e) => {
                        let _ = tx.send(Event::HandshakeFailed(e));
                        return;
                    }
                };
                while let Ok(Some((mut w, mut r))) = accept_bi(&conn, &cfg, &Counters::none()).await
                {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let res: Result<(), TransportError> = async {
                            while let Some(frame) = r.recv().await? {
                                w.send(&frame).await?;
                            }
                            w.finish()
                        }
                        .await;
                        let _ = tx.send(match res {
                            Ok(()) => Event::StreamDone,
                            Err(e) => Event::StreamError(e),
                        });
                    });
                }
            });
        }
    });
    EchoServer {
        endpoint,
        addr,
        fingerprint: identity.fingerprint(),
        events: rx,
    }
}

/// A fresh temporary directory for this test.
pub fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "transport-test-{}-{name}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Deterministic payload.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 8) as u8))
        .collect()
}
