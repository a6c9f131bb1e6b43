//! Real QUIC on 127.0.0.1 (port 0). No timing assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Event, echo_server, pattern};
use transport::{
    ByteCounter, Counters, Identity, TransportConfig, TransportError, client_endpoint,
    client_endpoint_for, connect, open_bi, peer_fingerprint, server_endpoint,
};

const T: Duration = Duration::from_secs(30);

#[tokio::test]
async fn exchange_frames_both_ways_with_correct_pins() {
    let cfg = TransportConfig::default();
    let server_id = Identity::generate("server-a").unwrap();
    let worker = Identity::generate("worker-0").unwrap();
    let mut server = echo_server(&server_id, vec![worker.fingerprint()], &cfg);

    let ep = client_endpoint_for(&worker, server.addr, &cfg).unwrap();
    let conn = connect(&ep, server.addr, server.fingerprint, &cfg)
        .await
        .unwrap();
    assert_eq!(peer_fingerprint(&conn), Some(server_id.fingerprint()));
    match server.next_event().await {
        Event::Connected(fp) => assert_eq!(fp, worker.fingerprint()),
        other => panic!("unexpected {other:?}"),
    }

    let counters = Counters::new(ByteCounter::new(), ByteCounter::new());
    let (mut w, mut r) = open_bi(&conn, &cfg, &counters).await.unwrap();
    let big = pattern(20 << 20, 7);
    // Waiting without a first-byte timeout (idle is legitimate).
    w.send(b"idle ok").await.unwrap();
    assert_eq!(
        r.recv_with_timeout(None).await.unwrap().unwrap(),
        b"idle ok"
    );
    let frames: [&[u8]; 3] = [b"hello", b"", &big];
    for f in frames {
        w.send(f).await.unwrap();
        let echoed = r.recv().await.unwrap().expect("echo");
        assert_eq!(echoed.len(), f.len());
        assert!(echoed == f);
    }
    // Multi-part frames arrive as one frame.
    w.send_parts(&[b"ab", b"", b"cde"]).await.unwrap();
    assert_eq!(r.recv().await.unwrap().unwrap(), b"abcde");

    w.finish().unwrap();
    assert_eq!(r.recv().await.unwrap(), None, "clean end of stream");

    let expected = (5 * 4 + 7 + 5 + big.len() + 5) as u64;
    assert_eq!(counters.sent.as_ref().unwrap().get(), expected);
    assert_eq!(counters.received.as_ref().unwrap().get(), expected);
    assert!(matches!(server.next_event().await, Event::StreamDone));

    // Several concurrent streams on one connection.
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let conn = conn.clone();
        let cfg = cfg.clone();
        tasks.push(tokio::spawn(async move {
            let (mut w, mut r) = open_bi(&conn, &cfg, &Counters::none()).await.unwrap();
            let data = pattern(100_000 + usize::from(i), i);
            w.send(&data).await.unwrap();
            assert!(r.recv().await.unwrap().unwrap() == data);
            w.finish().unwrap();
            assert_eq!(r.recv().await.unwrap(), None);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    conn.close(0u32.into(), b"done");
    ep.wait_idle().await;
}

#[tokio::test]
async fn wrong_pinned_server_cert_fails() {
    let cfg = TransportConfig::default();
    let server_id = Identity::generate("server-a").unwrap();
    let impostor = Identity::generate("server-b").unwrap();
    let worker = Identity::generate("worker-0").unwrap();
    let server = echo_server(&server_id, vec![worker.fingerprint()], &cfg);

    let ep = client_endpoint(&worker, &cfg).unwrap();
    let err = connect(&ep, server.addr, impostor.fingerprint(), &cfg)
        .await
        .expect_err("must not connect with the wrong pin");
    println!("wrong pin: {err}");
    assert!(matches!(err, TransportError::WrongServer { .. }), "{err:?}");
    // No names configured: the fingerprints, and what to check.
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "presented an unknown certificate ({})",
            server.fingerprint
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("not the pinned one ({})", impostor.fingerprint())),
        "{text}"
    );
}

/// Rejection of an unenrolled client: the server's verifier refuses the
/// client certificate *after* the client has finished its side of the TLS 1.3
/// handshake. Observed: `connect` returns Ok (or, racing, a Handshake error),
/// and the first stream operation fails with `PeerClosed("... not
/// enrolled")`. Either way the client never gets a frame through.
#[tokio::test]
async fn unenrolled_client_is_rejected() {
    let cfg = TransportConfig::default();
    let server_id = Identity::generate("server-a").unwrap();
    let enrolled = Identity::generate("worker-0").unwrap();
    let stranger = Identity::generate("worker-0").unwrap();
    let mut server = echo_server(&server_id, vec![enrolled.fingerprint()], &cfg);

    let ep = client_endpoint(&stranger, &cfg).unwrap();
    match connect(&ep, server.addr, server.fingerprint, &cfg).await {
        Err(e) => {
            println!("unenrolled: connect failed: {e}");
        }
        Ok(conn) => {
            println!("unenrolled: connect returned Ok; trying a stream");
            let res = async {
                let (mut w, mut r) = open_bi(&conn, &cfg, &Counters::none()).await?;
                w.send(b"let me in").await?;
                r.recv().await
            }
            .await;
            let err = res.expect_err("stream must fail for an unenrolled client");
            println!("unenrolled: first stream failed: {err}");
            assert!(
                matches!(
                    err,
                    TransportError::PeerClosed(_) | TransportError::ConnectionLost(_)
                ),
                "{err:?}"
            );
        }
    }
    match server.next_event().await {
        Event::HandshakeFailed(e) => {
            println!("server side: {e}");
            assert!(e.to_string().contains("not enrolled"), "{e}");
        }
        other => panic!("unexpected {other:?}"),
    }

    // The server keeps serving enrolled clients.
    let ep2 = client_endpoint(&enrolled, &cfg).unwrap();
    let conn = connect(&ep2, server.addr, server.fingerprint, &cfg)
        .await
        .unwrap();
    let (mut w, mut r) = open_bi(&conn, &cfg, &Counters::none()).await.unwrap();
    w.send(b"hi").await.unwrap();
    assert_eq!(r.recv().await.unwrap().unwrap(), b"hi");
}

#[tokio::test]
async fn oversized_frame_is_rejected_and_server_survives() {
    let server_cfg = TransportConfig {
        max_frame: 1 << 20,
        ..TransportConfig::default()
    };
    let cfg = TransportConfig::default();
    let server_id = Identity::generate("server-a").unwrap();
    let evil = Identity::generate("worker-0").unwrap();
    let good = Identity::generate("worker-1").unwrap();
    let mut server = echo_server(
        &server_id,
        vec![evil.fingerprint(), good.fingerprint()],
        &server_cfg,
    );

    let ep = client_endpoint(&evil, &cfg).unwrap();
    let conn = connect(&ep, server.addr, server.fingerprint, &cfg)
        .await
        .unwrap();
    server.wait_for(|e| matches!(e, Event::Connected(_))).await;
    let (mut w, mut r) = open_bi(&conn, &cfg, &Counters::none()).await.unwrap();
    // Client's own limit (64 MiB) allows it; the server's (1 MiB) does not.
    let res = w.send(&pattern((1 << 20) + 1, 1)).await;
    println!("oversized send on client: {res:?}");
    match server.next_event().await {
        Event::StreamError(TransportError::FrameTooLarge { len, max }) => {
            assert_eq!(len, (1 << 20) + 1);
            assert_eq!(max, 1 << 20);
        }
        other => panic!("unexpected {other:?}"),
    }
    // The client's stream ends (the server stopped it); it must not hang.
    let end = tokio::time::timeout(T, r.recv()).await.unwrap();
    println!("client read after rejection: {end:?}");

    // Sending a frame above our own limit fails locally before writing.
    let small_cfg = TransportConfig {
        max_frame: 10,
        ..TransportConfig::default()
    };
    let (mut w2, _r2) = open_bi(&conn, &small_cfg, &Counters::none()).await.unwrap();
    assert!(matches!(
        w2.send(&[0u8; 11]).await,
        Err(TransportError::FrameTooLarge { len: 11, max: 10 })
    ));

    // Same connection, new stream: still served.
    let (mut w, mut r) = open_bi(&conn, &cfg, &Counters::none()).await.unwrap();
    w.send(b"again").await.unwrap();
    assert_eq!(r.recv().await.unwrap().unwrap(), b"again");

    // Another connection: still served, including a frame exactly at the max.
    let ep2 = client_endpoint(&good, &cfg).unwrap();
    let conn2 = connect(&ep2, server.addr, server.fingerprint, &cfg)
        .await
        .unwrap();
    let (mut w, mut r) = open_bi(&conn2, &cfg, &Counters::none()).await.unwrap();
    let max = pattern(1 << 20, 3);
    w.send(&max).await.unwrap();
    assert!(r.recv().await.unwrap().unwrap() == max);
}

#[tokio::test]
async fn truncated_frames_are_errors() {
    let cfg = TransportConfig::default();
    let server_id = Identity::generate("server-a").unwrap();
    let worker = Identity::generate("worker-0").unwrap();
    let mut server = echo_server(&server_id, vec![worker.fingerprint()], &cfg);
    let ep = client_endpoint(&worker, &cfg).unwrap();
    let conn = connect(&ep, server.addr, server.fingerprint, &cfg)
        .await
        .unwrap();
    server.wait_for(|e| matches!(e, Event::Connected(_))).await;

    // Prefix promises 100 bytes, 10 are sent, then the stream is finished.
    let (w, _r) = open_bi(&conn, &cfg, &Counters::none()).await.unwrap();
    let mut raw = w.into_inner();
    raw.write_all(&100u32.to_be_bytes()).await.unwrap();
    raw.write_all(&[9u8; 10]).await.unwrap();
    raw.finish().unwrap();
    match server.next_event().await {
        Event::StreamError(TransportError::Truncated { expected, received }) => {
            assert_eq!((expected, received), (100, 10));
        }
        other => panic!("unexpected {other:?}"),
    }

    // Stream ends inside the length prefix.
    let (w, _r) = open_bi(&conn, &cfg, &Counters::none()).await.unwrap();
    let mut raw = w.into_inner();
    raw.write_all(&[0u8, 0]).await.unwrap();
    raw.finish().unwrap();
    match server.next_event().await {
        Event::StreamError(TransportError::Truncated { expected, received }) => {
            assert_eq!((expected, received), (4, 2));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn recv_timeouts_fire() {
    let server_cfg = TransportConfig {
        io_timeout: Duration::from_millis(300),
        ..TransportConfig::default()
    };
    let cfg = TransportConfig::default();
    let server_id = Identity::generate("server-a").unwrap();
    let worker = Identity::generate("worker-0").unwrap();
    let mut server = echo_server(&server_id, vec![worker.fingerprint()], &server_cfg);
    let ep = client_endpoint(&worker, &cfg).unwrap();
    let conn = connect(&ep, server.addr, server.fingerprint, &cfg)
        .await
        .unwrap();
    server.wait_for(|e| matches!(e, Event::Connected(_))).await;

    // Client side: the echo server sends nothing unasked, so waiting for a
    // second frame times out.
    let (mut w, mut r) = open_bi(&conn, &cfg, &Counters::none()).await.unwrap();
    w.send(b"ping").await.unwrap();
    assert_eq!(r.recv().await.unwrap().unwrap(), b"ping");
    let err = r
        .recv_with_timeout(Some(Duration::from_millis(200)))
        .await
        .unwrap_err();
    println!("client: {err}");
    assert!(
        matches!(
            err,
            TransportError::Timeout {
                what: "the next frame",
                ..
            }
        ),
        "{err:?}"
    );
    // The reader is unusable afterwards.
    assert!(matches!(r.recv().await, Err(TransportError::Poisoned)));
    // Server side (io_timeout 300 ms): the client went quiet between frames.
    match server.next_event().await {
        Event::StreamError(e) => assert!(e.is_timeout(), "{e:?}"),
        other => panic!("unexpected {other:?}"),
    }

    // Server side, mid-frame: prefix promises 100 bytes, only 10 arrive and
    // the stream stays open.
    let (w, _r) = open_bi(&conn, &cfg, &Counters::none()).await.unwrap();
    let mut raw = w.into_inner();
    raw.write_all(&100u32.to_be_bytes()).await.unwrap();
    raw.write_all(&[1u8; 10]).await.unwrap();
    match server.next_event().await {
        Event::StreamError(TransportError::Timeout { what, .. }) => {
            assert_eq!(what, "the rest of a frame payload");
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// Server B allows enrolled workers plus server A; A dials B from its own
/// server endpoint (same identity, same socket).
#[tokio::test]
async fn server_a_connects_to_server_b_from_its_server_endpoint() {
    let cfg = TransportConfig::default();
    let a = Identity::generate("server-a").unwrap();
    let b = Identity::generate("server-b").unwrap();
    let worker = Identity::generate("worker-0").unwrap();
    let mut server_b = echo_server(&b, vec![worker.fingerprint(), a.fingerprint()], &cfg);
    let a_ep = server_endpoint(
        "127.0.0.1:0".parse().unwrap(),
        &a,
        vec![worker.fingerprint()],
        &cfg,
    )
    .unwrap();
    let conn = connect(&a_ep, server_b.addr, b.fingerprint(), &cfg)
        .await
        .unwrap();
    match server_b.next_event().await {
        Event::Connected(fp) => assert_eq!(fp, a.fingerprint()),
        other => panic!("unexpected {other:?}"),
    }
    let (mut w, mut r) = open_bi(&conn, &cfg, &Counters::none()).await.unwrap();
    w.send(b"share").await.unwrap();
    assert_eq!(r.recv().await.unwrap().unwrap(), b"share");
    w.finish_and_wait().await.unwrap();
}

/// One endpoint carrying several identities (`connect_as`), and the loopback
/// MTU taking effect on loopback.
#[tokio::test]
async fn connect_as_shares_one_endpoint_and_uses_loopback_mtu() {
    let cfg = TransportConfig::default();
    let server_id = Identity::generate("server-a").unwrap();
    let w0 = Identity::generate("worker-0").unwrap();
    let w1 = Identity::generate("worker-1").unwrap();
    let mut server = echo_server(&server_id, vec![w0.fingerprint(), w1.fingerprint()], &cfg);
    // The endpoint's own identity is not enrolled; connect_as presents others.
    let host = Identity::generate("worker-host").unwrap();
    let ep = client_endpoint_for(&host, server.addr, &cfg).unwrap();
    let mut seen = Vec::new();
    for w in [&w0, &w1] {
        let conn = transport::connect_as(&ep, w, server.addr, server.fingerprint, &cfg)
            .await
            .unwrap();
        assert_eq!(conn.stats().path.current_mtu, 4000);
        let (mut tx, mut rx) = open_bi(&conn, &cfg, &Counters::none()).await.unwrap();
        tx.send(b"x").await.unwrap();
        assert_eq!(rx.recv().await.unwrap().unwrap(), b"x");
        seen.push(
            match server.wait_for(|e| matches!(e, Event::Connected(_))).await {
                Event::Connected(fp) => fp,
                _ => unreachable!(),
            },
        );
    }
    assert_eq!(seen, vec![w0.fingerprint(), w1.fingerprint()]);
    // Wrong pin through connect_as fails as well.
    let err = transport::connect_as(&ep, &w0, server.addr, w1.fingerprint(), &cfg)
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::WrongServer { .. }), "{err:?}");
    // Non-loopback settings when the loopback MTU is disabled.
    let plain = TransportConfig {
        loopback_mtu: None,
        ..TransportConfig::default()
    };
    let ep2 = client_endpoint_for(&w0, server.addr, &plain).unwrap();
    let conn = connect(&ep2, server.addr, server.fingerprint, &plain)
        .await
        .unwrap();
    assert!(conn.stats().path.current_mtu <= 1452);
}

/// `cargo test -p transport --release -- --ignored --nocapture throughput`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "throughput measurement; run explicitly"]
async fn throughput_100mb_one_stream() {
    const TOTAL: usize = 100 << 20;
    const FRAME: usize = 4 << 20;
    // (name, loopback_mtu, socket_buffer)
    let variants: &[(&str, Option<u16>, usize)] = &[
        (
            "defaults (loopback MTU 4000, 1 MiB sockbuf)",
            Some(4000),
            1 << 20,
        ),
        ("no loopback MTU (1400 -> 1452)", None, 1 << 20),
        ("loopback MTU 4000, OS sockbuf", Some(4000), 0),
        ("loopback MTU 4000, 4 MiB sockbuf", Some(4000), 4 << 20),
    ];
    let only = std::env::var("TANDEM_TP_ONLY").ok();
    let reps: usize = std::env::var("TANDEM_TP_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    for &(name, loopback_mtu, socket_buffer) in variants {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        for _ in 0..reps {
            let cfg = TransportConfig {
                max_frame: FRAME,
                loopback_mtu,
                socket_buffer,
                ..TransportConfig::default()
            };
            let (mbps, mtu) = run_throughput(&cfg, TOTAL, FRAME).await;
            println!("{name:45} {mbps:8.0} MB/s   (client path MTU at end: {mtu})");
        }
    }
}

async fn run_throughput(cfg: &TransportConfig, total: usize, frame: usize) -> (f64, u16) {
    let server_id = Identity::generate("server-a").unwrap();
    let worker = Identity::generate("worker-0").unwrap();
    let endpoint = server_endpoint(
        "127.0.0.1:0".parse().unwrap(),
        &server_id,
        vec![worker.fingerprint()],
        cfg,
    )
    .unwrap();
    let addr = endpoint.local_addr().unwrap();
    let scfg = cfg.clone();
    let sep = endpoint.clone();
    let server = tokio::spawn(async move {
        let incoming = sep.accept().await.unwrap();
        let (conn, _) = transport::accept_connection(incoming, &scfg).await.unwrap();
        let (mut w, mut r) = transport::accept_bi(&conn, &scfg, &Counters::none())
            .await
            .unwrap()
            .unwrap();
        let mut got = 0usize;
        while let Some(f) = r.recv().await.unwrap() {
            got += f.len();
        }
        w.send(&(got as u64).to_be_bytes()).await.unwrap();
        w.finish_and_wait().await.unwrap();
        conn
    });

    let ep = client_endpoint_for(&worker, addr, cfg).unwrap();
    let conn = connect(&ep, addr, server_id.fingerprint(), cfg)
        .await
        .unwrap();
    let data = pattern(frame, 5);
    let (mut w, mut r) = open_bi(&conn, cfg, &Counters::none()).await.unwrap();
    let start = Instant::now();
    let mut sent = 0;
    while sent < total {
        w.send(&data).await.unwrap();
        sent += frame;
    }
    w.finish().unwrap();
    let reply = r.recv().await.unwrap().unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(reply, (total as u64).to_be_bytes());
    let stats = conn.stats();
    println!(
        "    lost_packets={} congestion_events={} black_holes={} sent_packets={} cwnd={}",
        stats.path.lost_packets,
        stats.path.congestion_events,
        stats.path.black_holes_detected,
        stats.path.sent_packets,
        stats.path.cwnd
    );
    let mtu = stats.path.current_mtu;
    let _ = server.await;
    conn.close(0u32.into(), b"");
    ep.wait_idle().await;
    (total as f64 / 1e6 / secs, mtu)
}

/// Same as the throughput test but with raw quinn streams (no framing), to
/// see what the frame layer costs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "throughput measurement; run explicitly"]
async fn throughput_raw_quinn_baseline() {
    const TOTAL: usize = 100 << 20;
    for loopback_mtu in [None, Some(4000u16)] {
        for _ in 0..3 {
            let cfg = TransportConfig {
                loopback_mtu,
                ..TransportConfig::default()
            };
            let server_id = Identity::generate("server-a").unwrap();
            let worker = Identity::generate("worker-0").unwrap();
            let endpoint = server_endpoint(
                "127.0.0.1:0".parse().unwrap(),
                &server_id,
                vec![worker.fingerprint()],
                &cfg,
            )
            .unwrap();
            let addr = endpoint.local_addr().unwrap();
            let scfg = cfg.clone();
            let server = tokio::spawn(async move {
                let incoming = endpoint.accept().await.unwrap();
                let (conn, _) = transport::accept_connection(incoming, &scfg).await.unwrap();
                let (mut s, mut r) = conn.accept_bi().await.unwrap();
                let mut got = 0usize;
                while let Some(c) = r.read_chunk(usize::MAX, true).await.unwrap() {
                    got += c.bytes.len();
                }
                s.write_all(&(got as u64).to_be_bytes()).await.unwrap();
                s.finish().unwrap();
                let _ = s.stopped().await;
                conn
            });
            let ep = client_endpoint_for(&worker, addr, &cfg).unwrap();
            let conn = connect(&ep, addr, server_id.fingerprint(), &cfg)
                .await
                .unwrap();
            let chunk = pattern(1 << 20, 1);
            let (mut s, mut r) = conn.open_bi().await.unwrap();
            let start = Instant::now();
            for _ in 0..(TOTAL >> 20) {
                s.write_all(&chunk).await.unwrap();
            }
            s.finish().unwrap();
            let mut reply = [0u8; 8];
            r.read_exact(&mut reply).await.unwrap();
            let secs = start.elapsed().as_secs_f64();
            assert_eq!(u64::from_be_bytes(reply), TOTAL as u64);
            println!(
                "raw quinn, loopback_mtu {loopback_mtu:?}: {:8.0} MB/s",
                TOTAL as f64 / 1e6 / secs
            );
            let _ = server.await;
            conn.close(0u32.into(), b"");
            ep.wait_idle().await;
        }
    }
}
