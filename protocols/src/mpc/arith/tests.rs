//! End-to-end: every arith protocol on OTs made by the real OT layer
//! (Chou–Orlandi base OTs + IKNP in both directions), no ideal dealer, all
//! messages through their byte encodings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mpc_core::codec::Message;
use mpc_core::ot::base::BaseOtSenderMsg;
use mpc_core::ot::{ExtendMsg, IknpReceiver, IknpSender, SessionId};
use rand_chacha::ChaCha12Rng;

use super::coin::CoinToss;
use super::mult::Mult;
use super::ot::{RotReceiverOutput, RotSenderOutput, take_rot_receiver, take_rot_sender};
use super::test_util::{rng, share, values, wire};
use super::triples::{OTS_PER_TRIPLE, TripleGen};
use crate::mpc::corr::Party;

/// One direction of the A↔B OT extension: (extension receiver, sender).
fn link(g: &mut ChaCha12Rng, label: &[u8]) -> (IknpReceiver, IknpSender) {
    let sid = SessionId::from_label(label);
    let (setup, m1) = IknpReceiver::setup(g, sid).unwrap();
    let m1 = BaseOtSenderMsg::decode(&m1.encode()).unwrap();
    let (s, m2) = IknpSender::setup(g, sid, &m1).unwrap();
    (setup.finish(&m2).unwrap(), s)
}

/// `n` random OTs over a link: (sender view, receiver view).
fn rots(
    (r, s): &mut (IknpReceiver, IknpSender),
    n: usize,
    g: &mut ChaCha12Rng,
) -> (RotSenderOutput, RotReceiverOutput) {
    let (ro, u) = r.extend_rot(g, n).unwrap();
    let u = ExtendMsg::from_vec(u.into_bytes()).unwrap();
    (s.receive_rot(&u, n).unwrap(), ro)
}

#[test]
fn all_protocols_on_real_iknp() {
    let mut g = rng(200);
    // A receives / B sends, and B receives / A sends.
    let mut a_recv = link(&mut g, b"test: B->A");
    let mut b_recv = link(&mut g, b"test: A->B");

    // Joint coin for the session.
    let (ta, ca) = CoinToss::start(Party::A, b"session", &mut g).unwrap();
    let (tb, cb) = CoinToss::start(Party::B, b"session", &mut g).unwrap();
    let (ta, ra) = ta.reveal(&wire(&cb));
    let (tb, rb) = tb.reveal(&wire(&ca));
    assert_eq!(
        ta.finish(&wire(&rb)).unwrap().output,
        tb.finish(&wire(&ra)).unwrap().output
    );

    // Preprocessing: one big ROT batch per direction, split per instance.
    let n_triples = 1000;
    // Each party is the OT sender of 64 OTs per triple.
    let a_sends = n_triples * OTS_PER_TRIPLE;
    let b_sends = n_triples * OTS_PER_TRIPLE;
    let (mut b_send_pool, mut a_recv_pool) = rots(&mut a_recv, b_sends, &mut g);
    let (mut a_send_pool, mut b_recv_pool) = rots(&mut b_recv, a_sends, &mut g);

    // Beaver triples, then multiplications.
    let k = n_triples * OTS_PER_TRIPLE;
    let (ga, ma) = TripleGen::start(
        n_triples,
        take_rot_sender(&mut a_send_pool, k).unwrap(),
        take_rot_receiver(&mut a_recv_pool, k).unwrap(),
        &mut g,
    )
    .unwrap();
    let (gb, mb) = TripleGen::start(
        n_triples,
        take_rot_sender(&mut b_send_pool, k).unwrap(),
        take_rot_receiver(&mut b_recv_pool, k).unwrap(),
        &mut g,
    )
    .unwrap();
    let tra = ga.finish(&wire(&mb)).unwrap().output;
    let trb = gb.finish(&wire(&ma)).unwrap().output;
    let m = tra.len();
    assert_eq!(m, n_triples);
    let xs = values(m, &mut g);
    let ys = values(m, &mut g);
    let (xa, xb) = share(&xs, &mut g);
    let (ya, yb) = share(&ys, &mut g);
    let (pa, ma) = Mult::start(Party::A, &xa, &ya, tra).unwrap();
    let (pb, mb) = Mult::start(Party::B, &xb, &yb, trb).unwrap();
    let za = pa.finish(&wire(&mb)).unwrap().output;
    let zb = pb.finish(&wire(&ma)).unwrap().output;
    for j in 0..m {
        assert_eq!(za[j] + zb[j], xs[j] * ys[j]);
    }

    // Every pooled OT was used exactly once.
    for n in [
        a_send_pool.m0.len(),
        a_recv_pool.mc.len(),
        b_send_pool.m0.len(),
        b_recv_pool.mc.len(),
    ] {
        assert_eq!(n, 0);
    }
}
