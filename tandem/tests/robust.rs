//! Secure rules over real processes: server-a, server-b and a worker host
//! on loopback QUIC, with a scripted cheating worker next to honest ones.
//! The carry and forged-correlation attacks on the robust rules and an
//! unclipped update under secure-fedavg run here end to end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::Duration;

use mpc_core::field::Fp;
use mpc_core::wire::{AToWorker, BToWorker, WorkerToA};
use protocols::robust::encode::{encode_clipped, encode_unit, norm_sq};
use protocols::robust::submit::{Draft, RobustSetup};
use tandem::client::ScriptedWorker;
use tandem::{Cluster, ClusterOptions};

const EVENT_WAIT: Duration = Duration::from_secs(240);

fn addr(s: &str) -> SocketAddr {
    s.trim().parse().unwrap()
}

fn bump(bytes: &mut [u8], index: usize) {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[8 * index..8 * index + 8]);
    let v = Fp::reduce_u64(u64::from_le_bytes(w)) + Fp::ONE;
    bytes[8 * index..8 * index + 8].copy_from_slice(&v.value().to_le_bytes());
}

/// Round 1: the cheater claims the carry (p+1)/2 (the field's ½) at one
/// coordinate. Round 2: it deals a W off by one element. Round 3: it is
/// honest. Each time the honest workers are accepted and the round updates
/// the model; the cheater is rejected with the reason in A's log line and in
/// the round's JSON, and accepted in round 3.
#[test]
fn cheating_carries_and_forged_correlations_are_rejected_over_quic() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().to_path_buf();
    let mut o = ClusterOptions::new(&dir).with_exe(env!("CARGO_BIN_EXE_tandem"));
    o.aggregation = "secure-fltrust".into();
    o.model = "logreg".into();
    o.workers = 5;
    o.rounds = 3;
    o.start_workers = false;
    o.extra_a = vec!["--round-timeout".into(), "120".into()];
    let mut c = Cluster::launch(&o).unwrap();
    c.start_workers(&o, &["--ids".into(), "0-3".into()])
        .unwrap();
    let (a, b) = (addr(&c.addr_a), addr(c.addr_b.as_deref().unwrap()));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cheater = rt.spawn(async move {
        let mut w = ScriptedWorker::connect(&dir.join("pki"), 4, a, Some(b))
            .await
            .unwrap();
        w.hello().await.unwrap();
        let session = w.session.clone().unwrap();
        let setup = RobustSetup::new(&session).unwrap();
        for step in 0..3 {
            let (round, model) = w.announcement().await.unwrap();
            // Any direction will do: the cheats are in the encoding.
            let u: Vec<f32> = (0..model.len()).map(|k| ((k % 7) as f32) - 3.0).collect();
            let x = encode_unit(&u, setup.fixed).unwrap();
            let mut d = Draft::honest(&setup, round, 4, &x, &mut rand::rng()).unwrap();
            if step == 0 {
                d.kappa[1] = Fp::reduce_u64(mpc_core::field::MODULUS / 2 + 1);
            }
            let (seed, up) = d
                .finish_with(
                    &setup,
                    round,
                    4,
                    &mut rand::rng(),
                    |p| {
                        if step == 1 {
                            bump(&mut p.w, 2);
                        }
                    },
                    |_| {},
                )
                .unwrap();
            let (ra, rb) = w
                .send_pair(
                    &WorkerToA::Submit {
                        round,
                        worker: 4,
                        payload: mpc_core::wire::SubmitA::Seed(seed),
                    },
                    Some(&up),
                )
                .await
                .unwrap();
            assert!(matches!(ra, AToWorker::Ack { .. }), "{ra:?}");
            assert!(matches!(rb, Some(BToWorker::Ack { .. })), "{rb:?}");
        }
    });
    let mut events = Vec::new();
    for _ in 0..3 {
        events.push(c.next_event(EVENT_WAIT).unwrap());
    }
    rt.block_on(cheater).unwrap();
    c.shutdown();
    for (i, ev) in events.iter().enumerate() {
        assert_eq!(ev["updated"], true, "round {}: {ev}", i + 1);
    }
    assert_eq!(events[0]["accepted"], 4, "{}", events[0]);
    assert_eq!(events[0]["rejected"], 1, "{}", events[0]);
    let why = events[0]["rejected_reasons"]["4"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("validity proof"), "{}", events[0]);
    assert_eq!(events[1]["accepted"], 4, "{}", events[1]);
    assert_eq!(events[1]["rejected"], 1, "{}", events[1]);
    let why = events[1]["rejected_reasons"]["4"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("linear check"), "{}", events[1]);
    assert_eq!(events[2]["accepted"], 5, "{}", events[2]);
    assert_eq!(events[2]["rejected"], 0, "{}", events[2]);
}

/// secure-fedavg's norm bound over real processes. Round 1: worker 4 skips
/// clipping (‖Δ‖ = 10·C, encoded and proved honestly otherwise: bit
/// carries, the low bits of N and N_hi − N as range bits) and is refused
/// with the reason; the four honest workers' round still updates the model.
/// Round 2: worker 4 clips and is accepted.
#[test]
fn secure_fedavg_refuses_an_unclipped_update_over_quic() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().to_path_buf();
    let mut o = ClusterOptions::new(&dir).with_exe(env!("CARGO_BIN_EXE_tandem"));
    o.aggregation = "secure-fedavg".into();
    o.model = "logreg".into();
    o.workers = 5;
    o.rounds = 2;
    o.start_workers = false;
    o.extra_a = vec!["--round-timeout".into(), "120".into()];
    let mut c = Cluster::launch(&o).unwrap();
    c.start_workers(&o, &["--ids".into(), "0-3".into()])
        .unwrap();
    let (a, b) = (addr(&c.addr_a), addr(c.addr_b.as_deref().unwrap()));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cheater = rt.spawn(async move {
        let mut w = ScriptedWorker::connect(&dir.join("pki"), 4, a, Some(b))
            .await
            .unwrap();
        w.hello().await.unwrap();
        let session = w.session.clone().unwrap();
        let setup = RobustSetup::new(&session).unwrap();
        let clip = session.clip;
        for step in 0..2 {
            let (round, model) = w.announcement().await.unwrap();
            let d = model.len();
            // ‖Δ‖ = 10·C, all along one direction.
            let v = 10.0 * clip / (d as f32).sqrt();
            let delta: Vec<f32> = (0..d).map(|k| if k % 3 == 0 { -v } else { v }).collect();
            let (seed, up) = if step == 0 {
                let x: Vec<i64> = delta
                    .iter()
                    .map(|&u| (f64::from(u) / f64::from(clip) * setup.fixed.scale()).round() as i64)
                    .collect();
                let n = norm_sq(&x);
                let p = setup.circuit.params();
                assert!(n > p.n_hi, "the cheat must exceed the bound");
                let mut draft = Draft::honest_unchecked(&setup, round, 4, &x, &mut rand::rng());
                let bits = |v: u64| {
                    (0..setup.circuit.range_bits()).map(move |j| Fp::reduce_u64((v >> j) & 1))
                };
                draft.beta = bits(n.wrapping_sub(p.n_lo))
                    .chain(bits(p.n_hi.wrapping_sub(n)))
                    .collect();
                draft.finish(&setup, round, 4, &mut rand::rng()).unwrap()
            } else {
                let x = encode_clipped(&delta, clip, setup.fixed).unwrap();
                Draft::honest(&setup, round, 4, &x, &mut rand::rng())
                    .unwrap()
                    .finish(&setup, round, 4, &mut rand::rng())
                    .unwrap()
            };
            let (ra, rb) = w
                .send_pair(
                    &WorkerToA::Submit {
                        round,
                        worker: 4,
                        payload: mpc_core::wire::SubmitA::Seed(seed),
                    },
                    Some(&up),
                )
                .await
                .unwrap();
            assert!(matches!(ra, AToWorker::Ack { .. }), "{ra:?}");
            assert!(matches!(rb, Some(BToWorker::Ack { .. })), "{rb:?}");
        }
    });
    let mut events = Vec::new();
    for _ in 0..2 {
        events.push(c.next_event(EVENT_WAIT).unwrap());
    }
    rt.block_on(cheater).unwrap();
    c.shutdown();
    assert_eq!(events[0]["updated"], true, "{}", events[0]);
    assert_eq!(events[0]["accepted"], 4, "{}", events[0]);
    assert_eq!(events[0]["rejected"], 1, "{}", events[0]);
    let why = events[0]["rejected_reasons"]["4"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("not clipped"), "{}", events[0]);
    assert_eq!(events[1]["updated"], true, "{}", events[1]);
    assert_eq!(events[1]["accepted"], 5, "{}", events[1]);
    assert_eq!(events[1]["rejected"], 0, "{}", events[1]);
}
