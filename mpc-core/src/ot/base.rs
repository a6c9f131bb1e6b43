//! Base OT: Chou–Orlandi "simplest OT" on Ristretto255, `n` OTs in one batch.
//!
//! # Protocol
//!
//! Public: the Ristretto basepoint `G`, a session id `sid` both parties agreed
//! on, the count `n`. The sender ends with `n` key pairs `(k0_i, k1_i)`, the
//! receiver with `k_{c_i, i}` for its choice bits `c_i`.
//!
//! | step | party | computes | message |
//! |------|-------|----------|---------|
//! | 1 | sender | `a ← Z_ℓ`, `A = a·G` | [`BaseOtSenderMsg`] = `A` (33 bytes) |
//! | 2 | receiver | `b_i ← Z_ℓ`, `B_i = b_i·G + c_i·A`; `k_{c_i} = KDF(i, A, B_i, b_i·A)` | [`BaseOtReceiverMsg`] = `(B_i)_i` (5 + 32n bytes) |
//! | 3 | sender | `k0_i = KDF(i, A, B_i, a·B_i)`, `k1_i = KDF(i, A, B_i, a·(B_i − A))` | — |
//!
//! `KDF(i, A, B, P) = SHA-256("tandem/ot/base/chou-orlandi/v1" ‖ sid ‖ i (u64 LE) ‖ A ‖ B ‖ P)`
//! truncated to 128 bits; points enter in canonical compressed form. One
//! round trip; the receiver computes its keys as soon as it has `A`.
//!
//! Both messages implement [`Message`]; decoding validates every point:
//! non-canonical or invalid encodings are rejected
//! ([`CodecError::Malformed`]), and so is the identity — for `A` it would
//! make both keys public; an honest `B_i` is the identity with probability
//! 2^-252. Counts and lengths are checked before any allocation
//! proportional to them.
//!
//! # What each party sees; simulation (semi-honest)
//!
//! * **Receiver's view**: its choices, its `b_i`, and `A`. `A = a·G` is a
//!   uniformly random group element independent of everything else (the
//!   sender has no inputs; keys are outputs), so the simulator samples it
//!   itself and sets the receiver's keys from the ideal functionality. The
//!   other key `k_{1−c_i}` is the KDF of `a·(B_i − A) = b_i·A − a²·G` (if
//!   `c_i = 0`) or of `a·B_i = b_i·A + a²·G` (if `c_i = 1`); computing it from
//!   the view means computing `a²·G` from `A`, which is as hard as CDH. With the
//!   KDF modelled as a random oracle that key is uniform given the view.
//! * **Sender's view**: `a` and the points `B_i`. For either choice bit `B_i`
//!   is uniform in the group (`b_i·G` and `b_i·G + A` have the same
//!   distribution), so the simulator sends uniformly random points: the view is
//!   identically distributed and independent of `c`.
//!
//! The session id and the transcript points in the KDF bind every key to this
//! run and OT index, so keys from two sessions (or two indices) are independent.
//!
//! # Secrets
//!
//! The scalars `a`, `b_i` and all keys are zeroized on drop and never appear in
//! `Debug` output or errors.

use core::fmt;

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoBasepointTable, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, IsIdentity};
use rand::CryptoRng;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable};
use thiserror::Error;
use zeroize::Zeroize;

use super::block::{Block, block_from_bytes};
use crate::codec::{CodecError, Limits, Message, Reader, put_count};

/// Largest number of base OTs in one batch.
pub const MAX_BASE_OTS: usize = 4096;

/// Bytes of a compressed Ristretto point.
const POINT_BYTES: usize = 32;
const TAG_SENDER: u8 = 0xb1;
const TAG_RECEIVER: u8 = 0xb2;
const KDF_LABEL: &[u8] = b"tandem/ot/base/chou-orlandi/v1";
const SID_LABEL: &[u8] = b"tandem/ot/session-id/v1";

/// Identifier both parties agree on for one run (e.g. derived from the
/// connection and a counter). Public; binds the derived keys to the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionId(pub [u8; 32]);

impl SessionId {
    /// `SHA-256("tandem/ot/session-id/v1" ‖ len ‖ label)`.
    pub fn from_label(label: &[u8]) -> SessionId {
        let mut h = Sha256::new();
        h.update(SID_LABEL);
        h.update((label.len() as u64).to_le_bytes());
        h.update(label);
        SessionId(h.finalize().into())
    }
}

/// Base-OT errors. They describe structure only, never secret values.
/// (Messages that do not decode are [`CodecError`]s.)
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BaseOtError {
    /// A message with a different number of OTs than this party runs.
    #[error("base-OT {kind} message carries {got} OTs, expected {expected}")]
    Count {
        /// Message type.
        kind: &'static str,
        /// Expected count.
        expected: usize,
        /// Received count.
        got: usize,
    },
    /// A batch size outside `1..=MAX_BASE_OTS`.
    #[error("base-OT batch of {n} OTs is outside 1..={max}")]
    BatchSize {
        /// Requested or announced count.
        n: usize,
        /// Limit.
        max: usize,
    },
}

const RECEIVER_KIND: &str = "receiver";

/// Decodes and validates one point (canonical, on the group, not the identity).
fn read_point(
    r: &mut Reader<'_>,
    index: usize,
) -> Result<(CompressedRistretto, RistrettoPoint), CodecError> {
    let kind = r.kind();
    let compressed = CompressedRistretto(r.array::<POINT_BYTES>()?);
    let point = compressed.decompress().ok_or_else(|| {
        CodecError::malformed(
            kind,
            format!("point {index} is not a valid Ristretto encoding"),
        )
    })?;
    if point.is_identity() {
        return Err(CodecError::malformed(
            kind,
            format!("point {index} is the identity"),
        ));
    }
    Ok((compressed, point))
}

/// Step 1, sender → receiver: the point `A`.
#[derive(Clone)]
pub struct BaseOtSenderMsg {
    compressed: CompressedRistretto,
    point: RistrettoPoint,
}

impl fmt::Debug for BaseOtSenderMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaseOtSenderMsg")
            .field("bytes", &Self::ENCODED_LEN)
            .finish()
    }
}

impl BaseOtSenderMsg {
    /// Encoded size: tag + one compressed point.
    pub const ENCODED_LEN: usize = 1 + POINT_BYTES;
}

/// `tag ‖ A`; decoding checks the exact size, the tag and that `A` is a
/// canonical encoding of a point other than the identity.
impl Message for BaseOtSenderMsg {
    const KIND: &'static str = "base-OT sender";

    fn max_len(_: &Limits) -> usize {
        Self::ENCODED_LEN
    }

    fn encoded_len(&self) -> usize {
        Self::ENCODED_LEN
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(TAG_SENDER);
        out.extend_from_slice(self.compressed.as_bytes());
    }

    fn read(r: &mut Reader<'_>, _: &Limits) -> Result<Self, CodecError> {
        r.tag(TAG_SENDER)?;
        r.expect_remaining(Some(POINT_BYTES))?;
        let (compressed, point) = read_point(r, 0)?;
        Ok(BaseOtSenderMsg { compressed, point })
    }
}

/// Step 2, receiver → sender: the points `B_i`.
#[derive(Clone)]
pub struct BaseOtReceiverMsg {
    compressed: Vec<CompressedRistretto>,
    points: Vec<RistrettoPoint>,
}

impl fmt::Debug for BaseOtReceiverMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaseOtReceiverMsg")
            .field("count", &self.count())
            .field("bytes", &self.encoded_len())
            .finish()
    }
}

impl BaseOtReceiverMsg {
    /// Header size: tag + count (u32 LE).
    pub const HEADER_LEN: usize = 5;

    /// Encoded size of a message carrying `n` points.
    pub const fn encoded_len_for(n: usize) -> usize {
        Self::HEADER_LEN + POINT_BYTES * n
    }

    /// Number of OTs (points).
    pub fn count(&self) -> usize {
        self.compressed.len()
    }
}

/// `tag ‖ n (u32 LE) ‖ B_0 ‖ … ‖ B_{n−1}`; decoding checks the tag, that
/// the count is in `1..=`[`MAX_BASE_OTS`] and the size matches it, and that
/// every point is canonical and not the identity.
impl Message for BaseOtReceiverMsg {
    const KIND: &'static str = "base-OT receiver";

    fn max_len(_: &Limits) -> usize {
        Self::encoded_len_for(MAX_BASE_OTS)
    }

    fn encoded_len(&self) -> usize {
        Self::encoded_len_for(self.count())
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(TAG_RECEIVER);
        put_count(out, self.count());
        for c in &self.compressed {
            out.extend_from_slice(c.as_bytes());
        }
    }

    fn read(r: &mut Reader<'_>, _: &Limits) -> Result<Self, CodecError> {
        r.tag(TAG_RECEIVER)?;
        let n = r.count()?;
        if n == 0 || n > MAX_BASE_OTS {
            return Err(CodecError::malformed(
                Self::KIND,
                format!("{n} OTs is outside 1..={MAX_BASE_OTS}"),
            ));
        }
        r.expect_remaining(Some(POINT_BYTES * n))?;
        let mut compressed = Vec::with_capacity(n);
        let mut points = Vec::with_capacity(n);
        for index in 0..n {
            let (c, p) = read_point(r, index)?;
            compressed.push(c);
            points.push(p);
        }
        Ok(BaseOtReceiverMsg { compressed, points })
    }
}

/// The sender's output: `keys[i] = [k0_i, k1_i]`. Zeroized on drop.
pub struct BaseOtSenderOutput {
    /// Key pairs, one per OT.
    pub keys: Vec<[Block; 2]>,
}

impl fmt::Debug for BaseOtSenderOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaseOtSenderOutput")
            .field("count", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl Drop for BaseOtSenderOutput {
    fn drop(&mut self) {
        for k in &mut self.keys {
            k.zeroize();
        }
    }
}

/// The receiver's output: `keys[i] = k_{choices[i], i}`. Zeroized on drop.
pub struct BaseOtReceiverOutput {
    /// The receiver's choice bits.
    pub choices: Vec<bool>,
    /// The chosen keys.
    pub keys: Vec<Block>,
}

impl fmt::Debug for BaseOtReceiverOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaseOtReceiverOutput")
            .field("count", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl Drop for BaseOtReceiverOutput {
    fn drop(&mut self) {
        self.keys.zeroize();
        self.choices.zeroize();
    }
}

/// `KDF(i, A, B, P)`, truncated to 128 bits.
fn derive_key(
    sid: &SessionId,
    index: usize,
    a: &CompressedRistretto,
    b: &CompressedRistretto,
    p: &CompressedRistretto,
) -> Block {
    let mut h = Sha256::new();
    h.update(KDF_LABEL);
    h.update(sid.0);
    h.update((index as u64).to_le_bytes());
    h.update(a.as_bytes());
    h.update(b.as_bytes());
    h.update(p.as_bytes());
    let mut digest: [u8; 32] = h.finalize().into();
    let mut key = [0u8; 16];
    for (k, d) in key.iter_mut().zip(digest.iter()) {
        *k = *d;
    }
    let out = block_from_bytes(key);
    digest.zeroize();
    key.zeroize();
    out
}

fn check_batch(n: usize) -> Result<(), BaseOtError> {
    if n == 0 || n > MAX_BASE_OTS {
        return Err(BaseOtError::BatchSize {
            n,
            max: MAX_BASE_OTS,
        });
    }
    Ok(())
}

/// The base-OT sender, waiting for the receiver's points.
pub struct BaseOtSender {
    sid: SessionId,
    n: usize,
    a: Scalar,
    a_compressed: CompressedRistretto,
    /// `a·A`, so that `a·(B − A) = a·B − a·A` costs one scalar multiplication.
    aa: RistrettoPoint,
}

impl fmt::Debug for BaseOtSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaseOtSender")
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

impl Drop for BaseOtSender {
    fn drop(&mut self) {
        self.a.zeroize();
        self.aa.zeroize();
    }
}

impl BaseOtSender {
    /// Starts a batch of `n` base OTs (`1 ≤ n ≤ MAX_BASE_OTS`); returns the
    /// state and the message `A` for the receiver.
    pub fn new(
        rng: &mut (impl CryptoRng + ?Sized),
        sid: SessionId,
        n: usize,
    ) -> Result<(BaseOtSender, BaseOtSenderMsg), BaseOtError> {
        check_batch(n)?;
        let (a, point) = loop {
            let a = Scalar::random(rng);
            let point = &a * RISTRETTO_BASEPOINT_TABLE;
            if !point.is_identity() {
                break (a, point);
            }
        };
        let a_compressed = point.compress();
        let aa = a * point;
        let msg = BaseOtSenderMsg {
            compressed: a_compressed,
            point,
        };
        Ok((
            BaseOtSender {
                sid,
                n,
                a,
                a_compressed,
                aa,
            },
            msg,
        ))
    }

    /// Number of OTs in this batch.
    pub fn count(&self) -> usize {
        self.n
    }

    /// Step 3: derives both keys of every OT from the receiver's points.
    pub fn receive(self, msg: &BaseOtReceiverMsg) -> Result<BaseOtSenderOutput, BaseOtError> {
        if msg.count() != self.n {
            return Err(BaseOtError::Count {
                kind: RECEIVER_KIND,
                expected: self.n,
                got: msg.count(),
            });
        }
        let mut keys = Vec::with_capacity(self.n);
        for (index, (b_comp, b)) in msg.compressed.iter().zip(&msg.points).enumerate() {
            let mut p0 = self.a * b;
            let mut p1 = p0 - self.aa;
            let k0 = derive_key(&self.sid, index, &self.a_compressed, b_comp, &p0.compress());
            let k1 = derive_key(&self.sid, index, &self.a_compressed, b_comp, &p1.compress());
            p0.zeroize();
            p1.zeroize();
            keys.push([k0, k1]);
        }
        Ok(BaseOtSenderOutput { keys })
    }
}

/// The base-OT receiver, waiting for the sender's `A`.
pub struct BaseOtReceiver {
    sid: SessionId,
    choices: Vec<bool>,
    b: Vec<Scalar>,
    /// `b_i·G`, computed ahead of `A`.
    bg: Vec<RistrettoPoint>,
}

impl fmt::Debug for BaseOtReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaseOtReceiver")
            .field("n", &self.choices.len())
            .finish_non_exhaustive()
    }
}

impl Drop for BaseOtReceiver {
    fn drop(&mut self) {
        self.choices.zeroize();
        for s in &mut self.b {
            s.zeroize();
        }
        for p in &mut self.bg {
            p.zeroize();
        }
    }
}

impl BaseOtReceiver {
    /// Prepares `choices.len()` base OTs (`1 ≤ n ≤ MAX_BASE_OTS`): samples
    /// `b_i` and computes `b_i·G` before the sender's message arrives.
    pub fn new(
        rng: &mut (impl CryptoRng + ?Sized),
        sid: SessionId,
        choices: &[bool],
    ) -> Result<BaseOtReceiver, BaseOtError> {
        check_batch(choices.len())?;
        let b: Vec<Scalar> = choices.iter().map(|_| Scalar::random(rng)).collect();
        let bg = b.iter().map(|s| s * RISTRETTO_BASEPOINT_TABLE).collect();
        Ok(BaseOtReceiver {
            sid,
            choices: choices.to_vec(),
            b,
            bg,
        })
    }

    /// Number of OTs in this batch.
    pub fn count(&self) -> usize {
        self.choices.len()
    }

    /// Step 2: given `A`, returns the points `B_i` for the sender and this
    /// party's keys.
    pub fn receive(
        self,
        msg: &BaseOtSenderMsg,
    ) -> Result<(BaseOtReceiverMsg, BaseOtReceiverOutput), BaseOtError> {
        let a = msg.point;
        let a_table = RistrettoBasepointTable::create(&a);
        let identity = RistrettoPoint::identity();
        let n = self.choices.len();
        let mut compressed = Vec::with_capacity(n);
        let mut points = Vec::with_capacity(n);
        let mut keys = Vec::with_capacity(n);
        for (index, ((&c, b), bg)) in self.choices.iter().zip(&self.b).zip(&self.bg).enumerate() {
            let shift =
                RistrettoPoint::conditional_select(&identity, &a, Choice::from(u8::from(c)));
            let point = bg + shift;
            let comp = point.compress();
            let mut p = b * &a_table;
            keys.push(derive_key(
                &self.sid,
                index,
                &msg.compressed,
                &comp,
                &p.compress(),
            ));
            p.zeroize();
            compressed.push(comp);
            points.push(point);
        }
        let out = BaseOtReceiverOutput {
            choices: self.choices.clone(),
            keys,
        };
        Ok((BaseOtReceiverMsg { compressed, points }, out))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn run(seed: u64, choices: &[bool]) -> (BaseOtSenderOutput, BaseOtReceiverOutput) {
        let mut rng_s = ChaCha20Rng::seed_from_u64(seed);
        let mut rng_r = ChaCha20Rng::seed_from_u64(seed ^ 0xffff);
        let sid = SessionId::from_label(b"test");
        let (sender, m1) = BaseOtSender::new(&mut rng_s, sid, choices.len()).unwrap();
        let receiver = BaseOtReceiver::new(&mut rng_r, sid, choices).unwrap();
        let m1 = BaseOtSenderMsg::decode(&m1.encode()).unwrap();
        let (m2, r_out) = receiver.receive(&m1).unwrap();
        let m2 = BaseOtReceiverMsg::decode(&m2.encode()).unwrap();
        let s_out = sender.receive(&m2).unwrap();
        (s_out, r_out)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn base_ot_correct(seed: u64, choices in proptest::collection::vec(any::<bool>(), 1..40)) {
            let (s, r) = run(seed, &choices);
            prop_assert_eq!(s.keys.len(), choices.len());
            prop_assert_eq!(&r.choices, &choices);
            for (i, &c) in choices.iter().enumerate() {
                prop_assert_eq!(r.keys[i], s.keys[i][usize::from(c)]);
                prop_assert_ne!(r.keys[i], s.keys[i][usize::from(!c)]);
                prop_assert_ne!(s.keys[i][0], s.keys[i][1]);
            }
        }
    }

    #[test]
    fn keys_are_distinct_across_indices_and_sessions() {
        let choices = vec![false; 8];
        let (s1, _) = run(1, &choices);
        let (s2, _) = run(1, &choices);
        // Same RNG seeds → same transcript → same keys (determinism).
        assert_eq!(s1.keys, s2.keys);
        let mut all: Vec<Block> = s1.keys.iter().flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 16);
        // Another session id changes every key.
        let mut rng_s = ChaCha20Rng::seed_from_u64(1);
        let mut rng_r = ChaCha20Rng::seed_from_u64(1 ^ 0xffff);
        let sid = SessionId::from_label(b"other");
        let (sender, m1) = BaseOtSender::new(&mut rng_s, sid, 8).unwrap();
        let receiver = BaseOtReceiver::new(&mut rng_r, sid, &choices).unwrap();
        let (m2, _) = receiver.receive(&m1).unwrap();
        let s3 = sender.receive(&m2).unwrap();
        for (a, b) in s1.keys.iter().zip(&s3.keys) {
            assert_ne!(a, b);
        }
    }

    #[test]
    fn tampered_sender_message() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let sid = SessionId::from_label(b"t");
        let (_, m1) = BaseOtSender::new(&mut rng, sid, 4).unwrap();
        let good = m1.encode();
        // Wrong lengths.
        for len in [0, 1, 32, 34] {
            let mut b = good.clone();
            b.resize(len, 0);
            assert!(matches!(
                BaseOtSenderMsg::decode(&b),
                Err(CodecError::Truncated { .. }
                    | CodecError::TooLarge { .. }
                    | CodecError::Length { .. })
            ));
        }
        // Wrong tag.
        let mut b = good.clone();
        b[0] ^= 1;
        assert!(matches!(
            BaseOtSenderMsg::decode(&b),
            Err(CodecError::Tag { .. })
        ));
        // Identity.
        let mut b = vec![TAG_SENDER];
        b.extend_from_slice(&[0u8; 32]);
        assert_eq!(
            BaseOtSenderMsg::decode(&b).unwrap_err(),
            CodecError::malformed("base-OT sender", "point 0 is the identity")
        );
        // Non-canonical: all-ones is not a canonical field element.
        let mut b = vec![TAG_SENDER];
        b.extend_from_slice(&[0xff; 32]);
        assert_eq!(
            BaseOtSenderMsg::decode(&b).unwrap_err(),
            CodecError::malformed(
                "base-OT sender",
                "point 0 is not a valid Ristretto encoding"
            )
        );
    }

    #[test]
    fn flipped_point_bytes_are_rejected_or_change_keys() {
        // Flipping a bit of an encoding gives an invalid encoding in most
        // cases; either way decoding must not panic.
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let sid = SessionId::from_label(b"t");
        let (_, m1) = BaseOtSender::new(&mut rng, sid, 4).unwrap();
        let receiver = BaseOtReceiver::new(&mut rng, sid, &[true, false, true, true]).unwrap();
        let (m2, _) = receiver.receive(&m1).unwrap();
        let good = m2.encode();
        let mut rejected = 0;
        for byte in 5..good.len() {
            for bit in 0..8 {
                let mut b = good.clone();
                b[byte] ^= 1 << bit;
                match BaseOtReceiverMsg::decode(&b) {
                    Err(CodecError::Malformed { detail, .. }) => {
                        let index = (byte - 5) / 32;
                        assert_eq!(
                            detail,
                            format!("point {index} is not a valid Ristretto encoding")
                        );
                        rejected += 1;
                    }
                    Err(e) => panic!("unexpected error {e}"),
                    Ok(m) => assert_eq!(m.count(), 4),
                }
            }
        }
        assert!(rejected > 0);
    }

    #[test]
    fn tampered_receiver_message_sizes_and_counts() {
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let sid = SessionId::from_label(b"t");
        let (sender, m1) = BaseOtSender::new(&mut rng, sid, 4).unwrap();
        let receiver = BaseOtReceiver::new(&mut rng, sid, &[true, false, true]).unwrap();
        let (m2, _) = receiver.receive(&m1).unwrap();
        let good = m2.encode();
        assert_eq!(good.len(), m2.encoded_len());
        // Truncated / extended bodies.
        for len in [0, 4, 5, good.len() - 1, good.len() + 1] {
            let mut b = good.clone();
            b.resize(len, 7);
            assert!(
                BaseOtReceiverMsg::decode(&b).is_err(),
                "length {len} accepted"
            );
        }
        // Count field says more than the body holds / more than the limit.
        let mut b = good.clone();
        b[1..5].copy_from_slice(&4u32.to_le_bytes());
        assert!(matches!(
            BaseOtReceiverMsg::decode(&b),
            Err(CodecError::Length { .. })
        ));
        b[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            BaseOtReceiverMsg::decode(&b),
            Err(CodecError::Malformed { .. })
        ));
        // A well-formed message with the wrong count for this sender.
        let m = BaseOtReceiverMsg::decode(&good).unwrap();
        assert_eq!(
            sender.receive(&m).unwrap_err(),
            BaseOtError::Count {
                kind: RECEIVER_KIND,
                expected: 4,
                got: 3
            }
        );
    }

    #[test]
    fn batch_size_limits() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let sid = SessionId::from_label(b"t");
        assert!(BaseOtSender::new(&mut rng, sid, 0).is_err());
        assert!(BaseOtSender::new(&mut rng, sid, MAX_BASE_OTS + 1).is_err());
        assert!(BaseOtReceiver::new(&mut rng, sid, &[]).is_err());
    }

    #[test]
    fn debug_shows_no_keys() {
        let (s, r) = run(3, &[true, false]);
        let text = format!("{s:?} {r:?}");
        for k in s.keys.iter().flatten() {
            assert!(!text.contains(&format!("{k}")));
            assert!(!text.contains(&format!("{k:x}")));
        }
        assert!(text.contains("count"));
    }
}
