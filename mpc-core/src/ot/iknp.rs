//! IKNP OT extension (Ishai–Kilian–Nissim–Petrank 2003), semi-honest, sans-io.
//!
//! Roles: **R** is the extension receiver (choice bits `r_i`), **S** the
//! extension sender (global secret `Δ ∈ {0,1}^128`). κ = 128.
//!
//! # Setup (once per session; base OTs in the *reverse* direction)
//!
//! | step | party | computes | message (size) |
//! |------|-------|----------|----------------|
//! | 1 | R | base-OT sender: `a`, `A` ([`IknpReceiver::setup`]) | [`BaseOtSenderMsg`] (33 B) |
//! | 2 | S | `Δ ← {0,1}^128`; base-OT receiver with choices `Δ_j` ([`IknpSender::setup`]); gets `s_j = k_{Δ_j, j}` | [`BaseOtReceiverMsg`] (5 + 128·32 = 4101 B) |
//! | 3 | R | base-OT sender output `(k0_j, k1_j)` ([`IknpReceiverSetup::finish`]) | — |
//!
//! Each base key seeds an AES-CTR stream `G(k)` ([`AesPrg`]): R keeps
//! `G(k0_j), G(k1_j)`, S keeps `G(s_j)`, for `j < 128`. The streams continue
//! across batches; no PRG output is ever used twice.
//!
//! # One extension batch of `m` OTs (one message R → S)
//!
//! `m` is padded to `m' = 128·⌈m/128⌉`; the padding columns are computed and discarded.
//! Columns `j` are `m'`-bit strings (the next `m'` bits of each stream):
//!
//! * R: `t^j = G(k0_j)`, `u^j = G(k0_j) ⊕ G(k1_j) ⊕ r` → sends the `128 × m'` matrix
//!   `u` as an [`ExtendMsg`] (17 + 16·m' bytes), tile-major: for every block of 128
//!   OTs, the 128 column words in order `j = 0..128`.
//! * S: `q^j = G(s_j) ⊕ Δ_j·u^j = t^j ⊕ Δ_j·r`.
//! * Both transpose (rows `t_i`, `q_i` ∈ {0,1}^128): `t_i = q_i ⊕ r_i·Δ` — a
//!   **correlated OT** ([`CotSenderOutput`] / [`CotReceiverOutput`]).
//!
//! Derived outputs, both from the same single message, R's choices `r` random:
//!
//! * **Random OT** ([`IknpReceiver::extend_rot`] / [`IknpSender::receive_rot`]):
//!   S outputs `m0_i = H(i, q_i)`, `m1_i = H(i, q_i ⊕ Δ)`, R outputs
//!   `H(i, t_i) = m{r_i}_i`, with `H` the fixed-key-AES TCCR hash
//!   ([`Crhf`]) and `i` the OT's index in the session (a counter that both
//!   parties advance by `m'` per batch, so no tweak repeats in a session).
//!   This is what the product consumes (the 2PC engine, and through it every
//!   protocol of `protocols::mpc`).
//! * **COT** ([`IknpReceiver::extend_cot`] / [`IknpSender::receive_cot`]): the
//!   raw correlation above, unhashed. No protocol consumes it; it stays
//!   because it is the correlation the tests check directly (a broken
//!   extension shows up here before any hashing hides it) and the
//!   `bench-cryprot` comparison times it against cryprot-ot.
//!
//! Batches are numbered; each message carries its batch number and OT count,
//! and the receiving party checks both (and the exact size) before it touches
//! its PRG streams, so a rejected message leaves the state unchanged.
//!
//! # What each party sees; simulation (semi-honest)
//!
//! * **S's view**: `Δ`, its base-OT receiver view, the keys `s_j`, and `u`.
//!   Since `k_{1−Δ_j, j}` is hidden from S (base-OT security), `G(k_{1−Δ_j,j})`
//!   is pseudorandom to S, so `u^j = G(s_j) ⊕ G(k_{1−Δ_j,j}) ⊕ r` (for
//!   `Δ_j = 0`; symmetrically for `Δ_j = 1`) is pseudorandom and independent
//!   of `r`. Simulator: run the base-OT receiver simulator, send a uniformly
//!   random `u`; S's outputs `q^j = G(s_j) ⊕ Δ_j·u^j` are then fixed by its view
//!   and handed to the ideal COT functionality, which gives R `t_i = q_i ⊕ r_i·Δ`.
//! * **R's view**: `r`, its base-OT sender view (the points `B_j`, which are
//!   independent of `Δ`) and keys `(k0_j, k1_j)`. The COT output `t` is a
//!   function of R's own keys; `Δ` never influences R's view, so R learns
//!   nothing about `Δ` and hence nothing about `q_i ⊕ (1−r_i)·Δ`. For ROT the other message `H(i, t_i ⊕ Δ)` is
//!   pseudorandom given the view, because `Δ` is uniform and hidden and `H` is
//!   tweakable correlation robust with distinct tweaks.
//!
//! This is semi-honest security only: a malicious R could use different `r`
//! in different columns and learn bits of `Δ` (KOS adds a consistency check).
//!
//! # Secrets
//!
//! `Δ`, base keys and PRG states are zeroized on drop (the AES round keys best
//! effort, see [`AesPrg`]); scratch buffers holding PRG output are wiped
//! after use; no `Debug` output or error carries a secret. The output structs
//! implement `Zeroize` (without `Drop`, so fields can be moved out).

use core::fmt;

use rand::CryptoRng;
use thiserror::Error;
use zeroize::Zeroize;

use super::base::{
    BaseOtError, BaseOtReceiver, BaseOtReceiverMsg, BaseOtSender, BaseOtSenderMsg, SessionId,
};
use super::block::{AesPrg, Block, Crhf, bit_mask, unpack_bits};
use super::transpose::transpose_128;
use super::{CotReceiverOutput, CotSenderOutput, RotReceiverOutput, RotSenderOutput};
use crate::codec::{CodecError, Limits, Message, Reader, Traffic};

/// κ: base OTs per session and bits per correlation.
pub const KAPPA: usize = 128;
/// Largest number of OTs in one extension batch: a 32 MiB `u` message, which
/// fits the transport's 64 MiB frame limit ([`crate::codec::DEFAULT_MAX_FRAME`]).
pub const MAX_BATCH: usize = 1 << 21;

const BLOCK_BYTES: usize = 16;
/// Bytes of one 128×128 tile of `u`.
const TILE_BYTES: usize = KAPPA * BLOCK_BYTES;
/// Tiles per PRG refill: 32 tiles = 4096 OTs; 64 KiB of PRG output per stream set.
const CHUNK_TILES: usize = 32;

const TAG_EXTEND: u8 = 0xc1;
const EXTEND_KIND: &str = "extend";

/// IKNP errors. They describe structure only, never secret values.
/// (Messages that do not decode are [`CodecError`]s.)
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IknpError {
    /// The base-OT setup failed.
    #[error("IKNP setup: {0}")]
    BaseOt(#[from] BaseOtError),
    /// A message of the wrong size.
    #[error("IKNP {kind} message has {got} bytes, expected {expected}")]
    Length {
        /// Message type.
        kind: &'static str,
        /// Expected size.
        expected: usize,
        /// Received size.
        got: usize,
    },
    /// A message for another batch (out of order, replayed or skipped).
    #[error("IKNP {kind} message is for batch {got}, expected batch {expected}")]
    Batch {
        /// Message type.
        kind: &'static str,
        /// Batch this party is at.
        expected: u64,
        /// Batch in the message.
        got: u64,
    },
    /// A message with a different number of OTs than this party expects.
    #[error("IKNP {kind} message carries {got} OTs, expected {expected}")]
    Count {
        /// Message type.
        kind: &'static str,
        /// Expected count.
        expected: usize,
        /// Count in the message (saturated to `usize::MAX`).
        got: usize,
    },
    /// A batch above [`MAX_BATCH`].
    #[error("IKNP batch of {n} OTs exceeds the limit of {max}")]
    BatchTooLarge {
        /// Requested or announced count.
        n: usize,
        /// Limit.
        max: usize,
    },
}

fn check_batch_size(n: usize) -> Result<(), IknpError> {
    if n > MAX_BATCH {
        return Err(IknpError::BatchTooLarge { n, max: MAX_BATCH });
    }
    Ok(())
}

/// `tag ‖ batch (u64 LE) ‖ count (u64 LE)`.
const HEADER_LEN: usize = 17;

fn write_header(out: &mut Vec<u8>, tag: u8, batch: u64, count: usize) {
    out.push(tag);
    out.extend_from_slice(&batch.to_le_bytes());
    out.extend_from_slice(&(count as u64).to_le_bytes());
}

fn read_block(bytes: &[u8]) -> Block {
    let mut b = [0u8; BLOCK_BYTES];
    b.copy_from_slice(bytes);
    Block::from_le_bytes(b)
}

/// R → S: the `u` matrix of one extension batch (tile-major, see the module
/// docs): `tag ‖ batch (u64 LE) ‖ count (u64 LE) ‖ 16·m'` bytes. Decoding
/// checks the tag, the count (≤ [`MAX_BATCH`]) and the exact size.
#[derive(Clone)]
pub struct ExtendMsg {
    /// The encoded message, validated: header, then `16·m'` bytes.
    bytes: Vec<u8>,
    batch: u64,
    count: usize,
}

impl fmt::Debug for ExtendMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtendMsg")
            .field("batch", &self.batch)
            .field("count", &self.count)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl ExtendMsg {
    /// Header size: tag, batch, count.
    pub const HEADER_LEN: usize = HEADER_LEN;

    fn body_len(count: usize) -> usize {
        count.div_ceil(KAPPA) * TILE_BYTES
    }

    /// Encoded size of the message for a batch of `count` OTs.
    pub fn encoded_len_for(count: usize) -> usize {
        HEADER_LEN + Self::body_len(count)
    }

    /// Batch number (0 for the first batch of a session).
    pub fn batch(&self) -> u64 {
        self.batch
    }

    /// Number of OTs in the batch.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The encoding.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoding, without copying.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// [`Message::decode`] taking ownership (no copy of the bulk bytes);
    /// the same checks.
    pub fn from_vec(bytes: Vec<u8>) -> Result<ExtendMsg, CodecError> {
        if bytes.len() > Self::max_len(&Limits::default()) {
            return Err(CodecError::TooLarge {
                kind: Self::KIND,
                len: bytes.len(),
                max: Self::max_len(&Limits::default()),
            });
        }
        let mut r = Reader::new(Self::KIND, &bytes);
        let (batch, count) = Self::read_header(&mut r)?;
        r.take(Self::body_len(count))?;
        r.finish()?;
        Ok(ExtendMsg {
            bytes,
            batch,
            count,
        })
    }

    /// Tag, batch and count, and that exactly the count's body follows.
    fn read_header(r: &mut Reader<'_>) -> Result<(u64, usize), CodecError> {
        r.tag(TAG_EXTEND)?;
        let batch = r.u64()?;
        let count = usize::try_from(r.u64()?).unwrap_or(usize::MAX);
        if count > MAX_BATCH {
            return Err(CodecError::Dimension {
                field: "count",
                len: count,
                max: MAX_BATCH,
            });
        }
        r.expect_remaining(Some(Self::body_len(count)))?;
        Ok((batch, count))
    }

    fn body(&self) -> &[u8] {
        self.bytes.get(HEADER_LEN..).unwrap_or_default()
    }
}

impl Message for ExtendMsg {
    const KIND: &'static str = "IKNP extend";

    fn max_len(_: &Limits) -> usize {
        Self::encoded_len_for(MAX_BATCH)
    }

    fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.bytes);
    }

    fn read(r: &mut Reader<'_>, _: &Limits) -> Result<Self, CodecError> {
        let start = r.position();
        let (batch, count) = Self::read_header(r)?;
        let body = r.take(Self::body_len(count))?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
        write_header(&mut bytes, TAG_EXTEND, batch, count);
        bytes.extend_from_slice(body);
        debug_assert_eq!(r.position() - start, bytes.len());
        Ok(ExtendMsg {
            bytes,
            batch,
            count,
        })
    }
}

/// R between [`IknpReceiver::setup`] and [`IknpReceiverSetup::finish`].
pub struct IknpReceiverSetup {
    base: BaseOtSender,
    traffic: Traffic,
}

impl fmt::Debug for IknpReceiverSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IknpReceiverSetup")
            .field("traffic", &self.traffic)
            .finish_non_exhaustive()
    }
}

impl IknpReceiverSetup {
    /// Step 3 of the setup: derives the 128 key pairs from S's base-OT message.
    pub fn finish(self, msg: &BaseOtReceiverMsg) -> Result<IknpReceiver, IknpError> {
        let mut traffic = self.traffic;
        let keys = self.base.receive(msg)?;
        traffic.received(msg.encoded_len());
        let prg0 = keys.keys.iter().map(|k| AesPrg::new(k[0])).collect();
        let prg1 = keys.keys.iter().map(|k| AesPrg::new(k[1])).collect();
        Ok(IknpReceiver {
            prg0,
            prg1,
            crhf: Crhf::new(),
            batch: 0,
            next_index: 0,
            traffic,
        })
    }
}

/// The extension receiver R after setup.
pub struct IknpReceiver {
    prg0: Vec<AesPrg>,
    prg1: Vec<AesPrg>,
    crhf: Crhf,
    batch: u64,
    next_index: u64,
    traffic: Traffic,
}

impl fmt::Debug for IknpReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IknpReceiver")
            .field("batch", &self.batch)
            .field("ots_used", &self.next_index)
            .field("traffic", &self.traffic)
            .finish_non_exhaustive()
    }
}

impl IknpReceiver {
    /// Step 1 of the setup (R is the base-OT sender): returns the pending
    /// state and the message for S.
    pub fn setup(
        rng: &mut (impl CryptoRng + ?Sized),
        sid: SessionId,
    ) -> Result<(IknpReceiverSetup, BaseOtSenderMsg), IknpError> {
        let (base, msg) = BaseOtSender::new(rng, sid, KAPPA)?;
        let mut traffic = Traffic::default();
        traffic.sent(msg.encoded_len());
        Ok((IknpReceiverSetup { base, traffic }, msg))
    }

    /// Bytes and messages so far, setup included.
    pub fn traffic(&self) -> Traffic {
        self.traffic
    }

    /// Number of the next batch.
    pub fn batch(&self) -> u64 {
        self.batch
    }

    /// OT indices consumed so far (padded batch sizes summed).
    pub fn ots_used(&self) -> u64 {
        self.next_index
    }

    /// The core extension: `r_words` are the choice bits packed 128 per block
    /// (one block per tile). Returns `t` (padded length), the message, and the
    /// index of the batch's first OT.
    fn extend_core(&mut self, r_words: &[Block], count: usize) -> (Vec<Block>, ExtendMsg, u64) {
        let padded = r_words.len() * KAPPA;
        let mut t: Vec<Block> = Vec::with_capacity(padded);
        let mut bytes = Vec::with_capacity(HEADER_LEN + padded * BLOCK_BYTES);
        write_header(&mut bytes, TAG_EXTEND, self.batch, count);
        let mut g0 = vec![0 as Block; KAPPA * CHUNK_TILES];
        let mut g1 = vec![0 as Block; KAPPA * CHUNK_TILES];
        let mut tile = [0 as Block; KAPPA];
        let mut u_tile = [0u8; TILE_BYTES];
        for r_chunk in r_words.chunks(CHUNK_TILES) {
            let k = r_chunk.len();
            for (((p0, p1), row0), row1) in self
                .prg0
                .iter_mut()
                .zip(self.prg1.iter_mut())
                .zip(g0.chunks_exact_mut(CHUNK_TILES))
                .zip(g1.chunks_exact_mut(CHUNK_TILES))
            {
                p0.fill(&mut row0[..k]);
                p1.fill(&mut row1[..k]);
            }
            for (b, &r) in r_chunk.iter().enumerate() {
                for (j, (tw, uw)) in tile
                    .iter_mut()
                    .zip(u_tile.chunks_exact_mut(BLOCK_BYTES))
                    .enumerate()
                {
                    let a = g0[j * CHUNK_TILES + b];
                    let c = g1[j * CHUNK_TILES + b];
                    *tw = a;
                    uw.copy_from_slice(&(a ^ c ^ r).to_le_bytes());
                }
                bytes.extend_from_slice(&u_tile);
                transpose_128(&mut tile);
                t.extend_from_slice(&tile);
            }
        }
        g0.zeroize();
        g1.zeroize();
        tile.zeroize();
        let first = self.next_index;
        self.next_index += padded as u64;
        self.batch += 1;
        self.traffic.sent(bytes.len());
        let msg = ExtendMsg {
            bytes,
            batch: self.batch - 1,
            count,
        };
        (t, msg, first)
    }

    fn random_words(rng: &mut (impl CryptoRng + ?Sized), count: usize) -> Vec<Block> {
        (0..count.div_ceil(KAPPA))
            .map(|_| {
                let mut b = [0u8; BLOCK_BYTES];
                rng.fill_bytes(&mut b);
                let w = Block::from_le_bytes(b);
                b.zeroize();
                w
            })
            .collect()
    }

    fn truncate_secret(v: &mut Vec<Block>, count: usize) {
        if let Some(tail) = v.get_mut(count..) {
            tail.zeroize();
        }
        v.truncate(count);
    }

    /// A batch of `count` correlated OTs with random choice bits; the message goes to S.
    pub fn extend_cot(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        count: usize,
    ) -> Result<(CotReceiverOutput, ExtendMsg), IknpError> {
        check_batch_size(count)?;
        let mut r = Self::random_words(rng, count);
        let (mut t, msg, _) = self.extend_core(&r, count);
        Self::truncate_secret(&mut t, count);
        let choices = unpack_bits(&r, count);
        r.zeroize();
        Ok((CotReceiverOutput { choices, t }, msg))
    }

    /// A batch of `count` random OTs with random choice bits.
    pub fn extend_rot(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        count: usize,
    ) -> Result<(RotReceiverOutput, ExtendMsg), IknpError> {
        check_batch_size(count)?;
        let mut r = Self::random_words(rng, count);
        let (mut t, msg, first) = self.extend_core(&r, count);
        Self::truncate_secret(&mut t, count);
        self.crhf.hash_seq_in_place(Block::from(first), &mut t);
        let choices = unpack_bits(&r, count);
        r.zeroize();
        Ok((RotReceiverOutput { choices, mc: t }, msg))
    }
}

/// The extension sender S after setup (holds Δ).
pub struct IknpSender {
    delta: Block,
    /// `bit_mask(Δ_j)` for each base OT `j`.
    masks: Vec<Block>,
    prgs: Vec<AesPrg>,
    crhf: Crhf,
    batch: u64,
    next_index: u64,
    traffic: Traffic,
}

impl fmt::Debug for IknpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IknpSender")
            .field("batch", &self.batch)
            .field("ots_used", &self.next_index)
            .field("traffic", &self.traffic)
            .finish_non_exhaustive()
    }
}

impl Drop for IknpSender {
    fn drop(&mut self) {
        self.delta.zeroize();
        self.masks.zeroize();
    }
}

impl IknpSender {
    /// Step 2 of the setup (S is the base-OT receiver with choice bits Δ):
    /// samples Δ, answers R's base-OT message, and is ready to extend.
    pub fn setup(
        rng: &mut (impl CryptoRng + ?Sized),
        sid: SessionId,
        msg: &BaseOtSenderMsg,
    ) -> Result<(IknpSender, BaseOtReceiverMsg), IknpError> {
        let mut traffic = Traffic::default();
        let mut d = [0u8; BLOCK_BYTES];
        rng.fill_bytes(&mut d);
        let delta = Block::from_le_bytes(d);
        d.zeroize();
        let mut choices: Vec<bool> = (0..KAPPA).map(|j| (delta >> j) & 1 == 1).collect();
        let base = BaseOtReceiver::new(rng, sid, &choices);
        choices.zeroize();
        let (reply, keys) = base?.receive(msg)?;
        traffic.received(msg.encoded_len());
        traffic.sent(reply.encoded_len());
        let prgs = keys.keys.iter().map(|&k| AesPrg::new(k)).collect();
        let masks = (0..KAPPA)
            .map(|j| bit_mask((delta >> j) & 1 == 1))
            .collect();
        Ok((
            IknpSender {
                delta,
                masks,
                prgs,
                crhf: Crhf::new(),
                batch: 0,
                next_index: 0,
                traffic,
            },
            reply,
        ))
    }

    /// Bytes and messages so far, setup included.
    pub fn traffic(&self) -> Traffic {
        self.traffic
    }

    /// Number of the next batch.
    pub fn batch(&self) -> u64 {
        self.batch
    }

    /// OT indices consumed so far (padded batch sizes summed).
    pub fn ots_used(&self) -> u64 {
        self.next_index
    }

    /// Checks batch number and count, then derives `q` (padded length) and
    /// the index of the batch's first OT.
    fn receive_core(
        &mut self,
        msg: &ExtendMsg,
        count: usize,
    ) -> Result<(Vec<Block>, u64), IknpError> {
        if msg.batch != self.batch {
            return Err(IknpError::Batch {
                kind: EXTEND_KIND,
                expected: self.batch,
                got: msg.batch,
            });
        }
        if msg.count != count {
            return Err(IknpError::Count {
                kind: EXTEND_KIND,
                expected: count,
                got: msg.count,
            });
        }
        let body = msg.body();
        let tiles = count.div_ceil(KAPPA);
        if body.len() != tiles * TILE_BYTES {
            // Unreachable for decoded or locally built messages; checked anyway.
            return Err(IknpError::Length {
                kind: EXTEND_KIND,
                expected: HEADER_LEN + tiles * TILE_BYTES,
                got: msg.bytes.len(),
            });
        }
        let padded = tiles * KAPPA;
        let mut q: Vec<Block> = Vec::with_capacity(padded);
        let mut g = vec![0 as Block; KAPPA * CHUNK_TILES];
        let mut tile = [0 as Block; KAPPA];
        for u_chunk in body.chunks(TILE_BYTES * CHUNK_TILES) {
            let k = u_chunk.len() / TILE_BYTES;
            for (p, row) in self.prgs.iter_mut().zip(g.chunks_exact_mut(CHUNK_TILES)) {
                p.fill(&mut row[..k]);
            }
            for (b, u_tile) in u_chunk.chunks_exact(TILE_BYTES).enumerate() {
                for (j, ((qw, uw), &mask)) in tile
                    .iter_mut()
                    .zip(u_tile.chunks_exact(BLOCK_BYTES))
                    .zip(&self.masks)
                    .enumerate()
                {
                    *qw = g[j * CHUNK_TILES + b] ^ (read_block(uw) & mask);
                }
                transpose_128(&mut tile);
                q.extend_from_slice(&tile);
            }
        }
        tile.zeroize();
        g.zeroize();
        let first = self.next_index;
        self.next_index += padded as u64;
        self.batch += 1;
        self.traffic.received(msg.encoded_len());
        if let Some(tail) = q.get_mut(count..) {
            tail.zeroize();
        }
        q.truncate(count);
        Ok((q, first))
    }

    /// Correlated OTs of a batch of `count`.
    pub fn receive_cot(
        &mut self,
        msg: &ExtendMsg,
        count: usize,
    ) -> Result<CotSenderOutput, IknpError> {
        let (q, _) = self.receive_core(msg, count)?;
        Ok(CotSenderOutput {
            delta: self.delta,
            q,
        })
    }

    /// Random OTs of a batch of `count`: `m0_i = H(i, q_i)`, `m1_i = H(i, q_i ⊕ Δ)`.
    pub fn receive_rot(
        &mut self,
        msg: &ExtendMsg,
        count: usize,
    ) -> Result<RotSenderOutput, IknpError> {
        // q is hashed in place into m0.
        let (mut m0, first) = self.receive_core(msg, count)?;
        let mut m1 = vec![0 as Block; count];
        self.crhf
            .hash_pairs_in_place(Block::from(first), &mut m0, self.delta, &mut m1);
        Ok(RotSenderOutput { m0, m1 })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
