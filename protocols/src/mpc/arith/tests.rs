//! End-to-end: every arith protocol on OTs made by the real OT layer
//! (Chou–Orlandi base OTs + IKNP in both directions), no ideal dealer, all
//! messages through their byte encodings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mpc_core::field::Fp;
use mpc_core::ot::base::BaseOtSenderMsg;
use mpc_core::ot::{ExtendMsg, IknpReceiver, IknpSender, SessionId};
use rand::Rng;
use rand_chacha::ChaCha12Rng;

use super::and::And;
use super::and_triples::and_triples;
use super::b2a::{B2aReceiver, B2aSender};
use super::coin::CoinToss;
use super::mult::Mult;
use super::ole::{OTS_PER_PRODUCT, OleReceiver, OleSender};
use super::ot::{RotReceiverOutput, RotSenderOutput, take_rot_receiver, take_rot_sender};
use super::test_util::{rng, share, values, wire};
use super::triples::{OTS_PER_TRIPLE, TripleGen};
use crate::mpc::corr::Party;

/// One direction of the A↔B OT extension: (extension receiver, sender).
fn link(g: &mut ChaCha12Rng, label: &[u8]) -> (IknpReceiver, IknpSender) {
    let sid = SessionId::from_label(label);
    let (setup, m1) = IknpReceiver::setup(g, sid).unwrap();
    let m1 = BaseOtSenderMsg::from_bytes(&m1.to_bytes()).unwrap();
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

fn bits(n: usize, g: &mut ChaCha12Rng) -> Vec<bool> {
    (0..n).map(|_| g.next_u32() & 1 == 1).collect()
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
    let n_ole = 500;
    let n_bits = 5000;
    // A sends: triples, OLE, AND triples. B sends: triples, AND triples, B2A.
    let a_sends = n_triples * OTS_PER_TRIPLE + n_ole * OTS_PER_PRODUCT + n_bits;
    let b_sends = n_triples * OTS_PER_TRIPLE + 2 * n_bits;
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

    // Chosen-input OLE, A as sender.
    let k = n_ole * OTS_PER_PRODUCT;
    let xs = values(n_ole, &mut g);
    let ys = values(n_ole, &mut g);
    let sender =
        OleSender::new(xs.clone(), 1, take_rot_sender(&mut a_send_pool, k).unwrap()).unwrap();
    let (receiver, c) =
        OleReceiver::start(&ys, 1, take_rot_receiver(&mut b_recv_pool, k).unwrap()).unwrap();
    let (t, s_out) = sender.respond(&wire(&c)).unwrap();
    let r_out = receiver.finish(&wire(&t)).unwrap();
    for j in 0..n_ole {
        assert_eq!(s_out.output[j] + r_out.output[j], xs[j] * ys[j]);
    }

    // AND triples (one ROT each direction), then AND gates.
    let ata = and_triples(
        take_rot_sender(&mut a_send_pool, n_bits).unwrap(),
        take_rot_receiver(&mut a_recv_pool, n_bits).unwrap(),
    )
    .unwrap()
    .output;
    let atb = and_triples(
        take_rot_sender(&mut b_send_pool, n_bits).unwrap(),
        take_rot_receiver(&mut b_recv_pool, n_bits).unwrap(),
    )
    .unwrap()
    .output;
    let (xa, xb, ya, yb) = (
        bits(n_bits, &mut g),
        bits(n_bits, &mut g),
        bits(n_bits, &mut g),
        bits(n_bits, &mut g),
    );
    let (pa, ma) = And::start(Party::A, &xa, &ya, ata).unwrap();
    let (pb, mb) = And::start(Party::B, &xb, &yb, atb).unwrap();
    let za = pa.finish(&wire(&mb)).unwrap().output;
    let zb = pb.finish(&wire(&ma)).unwrap().output;
    for j in 0..n_bits {
        assert_eq!(za[j] ^ zb[j], (xa[j] ^ xb[j]) & (ya[j] ^ yb[j]));
    }

    // B2A of the AND outputs, B as OT sender.
    let sender = B2aSender::new(
        zb.clone(),
        take_rot_sender(&mut b_send_pool, n_bits).unwrap(),
    )
    .unwrap();
    let (receiver, c) = B2aReceiver::start(
        za.clone(),
        take_rot_receiver(&mut a_recv_pool, n_bits).unwrap(),
    )
    .unwrap();
    let (t, s_out) = sender.respond(&wire(&c)).unwrap();
    let r_out = receiver.finish(&wire(&t)).unwrap();
    for j in 0..n_bits {
        let b = Fp::reduce_u64(u64::from(za[j] ^ zb[j]));
        assert_eq!(s_out.output[j] + r_out.output[j], b);
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
