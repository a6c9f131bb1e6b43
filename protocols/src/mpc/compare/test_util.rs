//! Helpers for the comparison unit tests: an ideal in-process OT generator
//! (never compiled into the product) and a driver that moves messages between
//! two state machines through their byte encoding.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mpc_core::codec::Message;
use mpc_core::field::{Fp, MODULUS};
use rand::{CryptoRng, SeedableRng};
use rand_chacha::ChaCha12Rng;

use super::rots::{Block, RotDemand, RotReceiverOutput, RotSenderOutput, Rots};
use super::{Finished, PingPong};

/// A deterministic test RNG.
pub(crate) fn rng(seed: u64) -> ChaCha12Rng {
    ChaCha12Rng::seed_from_u64(seed)
}

fn block<R: CryptoRng + ?Sized>(rng: &mut R) -> Block {
    (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64())
}

fn rot<R: CryptoRng + ?Sized>(n: usize, rng: &mut R) -> (RotSenderOutput, RotReceiverOutput) {
    let mut s = RotSenderOutput::default();
    let mut r = RotReceiverOutput::default();
    for _ in 0..n {
        let (m0, m1) = (block(rng), block(rng));
        let c = rng.next_u32() & 1 == 1;
        s.m0.push(m0);
        s.m1.push(m1);
        r.choices.push(c);
        r.mc.push(if c { m1 } else { m0 });
    }
    (s, r)
}

/// Ideal random OTs for `demand`: (A's batch, B's batch).
pub(crate) fn ideal_rots<R: CryptoRng + ?Sized>(demand: RotDemand, rng: &mut R) -> (Rots, Rots) {
    let (b_sent, a_recv) = rot(demand.a_receives, rng);
    let (a_sent, b_recv) = rot(demand.b_receives, rng);
    (
        Rots {
            sent: a_sent,
            received: a_recv,
        },
        Rots {
            sent: b_sent,
            received: b_recv,
        },
    )
}

/// A uniformly random field element (rejection sampling).
pub(crate) fn random_fp<R: CryptoRng + ?Sized>(rng: &mut R) -> Fp {
    loop {
        if let Some(x) = Fp::from_canonical(rng.next_u64()) {
            return x;
        }
    }
}

/// A uniform u64 below `bound` (> 0), by rejection.
pub(crate) fn below<R: CryptoRng + ?Sized>(rng: &mut R, bound: u64) -> u64 {
    let zone = u64::MAX - (u64::MAX % bound);
    loop {
        let x = rng.next_u64();
        if x < zone {
            return x % bound;
        }
    }
}

/// Random additive sharing of `xs`.
pub(crate) fn share<R: CryptoRng + ?Sized>(xs: &[Fp], rng: &mut R) -> (Vec<Fp>, Vec<Fp>) {
    xs.iter()
        .map(|&x| {
            let r = random_fp(rng);
            (r, x - r)
        })
        .unzip()
}

/// Integer value of a canonical element, for building shares with a chosen wrap.
pub(crate) fn fp(v: u64) -> Fp {
    Fp::from_canonical(v % MODULUS).unwrap()
}

/// Sends a message through its byte encoding, checking `encoded_len`.
pub(crate) fn wire<M: Message>(m: &M) -> M {
    let bytes = m.encode();
    assert_eq!(bytes.len(), m.encoded_len(), "{} encoded_len", M::KIND);
    M::decode(&bytes).unwrap()
}

/// Drives two parties until neither has anything to send, every message
/// through its bytes; returns the number of messages.
pub(crate) fn drive<P: PingPong>(a: &mut P, b: &mut P, rng: &mut ChaCha12Rng) -> usize
where
    P::Error: core::fmt::Debug,
{
    let mut to_b = a.start(rng).unwrap();
    let mut to_a = b.start(rng).unwrap();
    assert!(to_b.is_none() || to_a.is_none(), "both parties spoke first");
    let mut flights = 0;
    loop {
        if let Some(m) = to_b.take() {
            flights += 1;
            to_a = b.receive(wire(&m), rng).unwrap();
        } else if let Some(m) = to_a.take() {
            flights += 1;
            to_b = a.receive(wire(&m), rng).unwrap();
        } else {
            break;
        }
    }
    assert!(a.is_done() && b.is_done(), "protocol stalled");
    flights
}

/// Runs two parties to completion, every message through its bytes.
/// Returns both outputs and the number of messages exchanged.
pub(crate) fn run<P: PingPong>(
    mut a: P,
    mut b: P,
    rng: &mut ChaCha12Rng,
) -> (Finished<P::Output>, Finished<P::Output>, usize)
where
    P::Error: core::fmt::Debug,
{
    let flights = drive(&mut a, &mut b, rng);
    (a.finish().unwrap(), b.finish().unwrap(), flights)
}

/// Runs the protocol up to (not including) delivery of message number
/// `target` (0-based) and returns the receiving party, the message bytes and
/// the RNG, so a test can tamper with the message.
pub(crate) fn run_until<P: PingPong>(
    mut a: P,
    mut b: P,
    target: usize,
    rng: &mut ChaCha12Rng,
) -> Option<(P, Vec<u8>)>
where
    P::Error: core::fmt::Debug,
{
    let mut to_b = a.start(rng).unwrap();
    let mut to_a = b.start(rng).unwrap();
    let mut k = 0;
    loop {
        if let Some(m) = to_b.take() {
            if k == target {
                return Some((b, m.encode()));
            }
            k += 1;
            to_a = b.receive(m, rng).unwrap();
        } else if let Some(m) = to_a.take() {
            if k == target {
                return Some((a, m.encode()));
            }
            k += 1;
            to_b = a.receive(m, rng).unwrap();
        } else {
            return None;
        }
    }
}

/// Structural tamperings of a message whose tag(s) take `tags` bytes:
/// truncations, an extra byte, an unknown tag, and each byte of the first
/// section count bumped by one.
pub(crate) fn tamperings(bytes: &[u8], tags: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    out.push(("empty".to_string(), Vec::new()));
    if bytes.len() > 1 {
        out.push(("truncated by 1".into(), bytes[..bytes.len() - 1].to_vec()));
        out.push(("half".into(), bytes[..bytes.len() / 2].to_vec()));
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    out.push(("one extra byte".into(), longer));
    for t in 0..tags {
        let mut tag = bytes.to_vec();
        tag[t] ^= 0x80;
        out.push((format!("unknown tag {t}"), tag));
    }
    for at in tags..(tags + 4).min(bytes.len()) {
        let mut c = bytes.to_vec();
        c[at] = c[at].wrapping_add(1);
        out.push((format!("count byte {at} + 1"), c));
    }
    out
}
