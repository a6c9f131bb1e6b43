//! 128-bit blocks, the fixed-key-AES tweakable correlation-robust hash
//! [`Crhf`], and the AES-CTR seed expander [`AesPrg`].
//!
//! # The hash
//!
//! [`Crhf::hash`] is the tweakable circular-correlation-robust hash of
//! Guo, Katz, Wang and Yu ("Efficient and secure multiparty computation from
//! fixed-key block ciphers", S&P 2020, §7.3):
//!
//! ```text
//! H(i, x) = π(σ(x) ⊕ i) ⊕ σ(x),      σ(x_L ‖ x_R) = (x_L ⊕ x_R) ‖ x_L
//! ```
//!
//! where `π` is AES-128 under a fixed *public* key and `σ` is a linear
//! orthomorphism (x_L is the high 64-bit half of the block). In IKNP the
//! extension sender hashes `q_i` and `q_i ⊕ Δ` with the tweak `i`, which must be
//! used once per session; the IKNP state machines keep the counter.
//!
//! # The PRG
//!
//! [`AesPrg`] is AES-128 in counter mode keyed by a 128-bit seed (one key
//! schedule per seed; IKNP has 128 of them per party). The counter starts at 0
//! and only moves forward, so successive [`AesPrg::fill`] calls continue the
//! stream and never repeat output.
//!
//! Zeroization: the `aes` crate (0.9) has no `zeroize` feature, so the round
//! keys inside [`AesPrg`] are overwritten on drop by re-keying the cipher with
//! an all-zero key (best effort, without `unsafe`); seeds handed to
//! [`AesPrg::new`] are the caller's to wipe.

use core::fmt;

use aes::Aes128Enc;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};

/// A 128-bit block. Bit `k` of a block is `(b >> k) & 1`; byte encoding is little-endian.
pub type Block = u128;

/// Number of blocks processed per call into the AES backend (the backend
/// pipelines them 8 at a time with AES-NI).
const AES_BATCH: usize = 64;

/// The fixed public AES key of [`Crhf`]: the first 128 fractional bits of π.
const CRHF_KEY: Block = 0x243f_6a88_85a3_08d3_1319_8a2e_0370_7344;

type AesBlock = Array<u8, aes::cipher::consts::U16>;

/// Little-endian bytes of a block.
#[inline]
pub fn block_to_bytes(b: Block) -> [u8; 16] {
    b.to_le_bytes()
}

/// The block with these little-endian bytes.
#[inline]
pub fn block_from_bytes(bytes: [u8; 16]) -> Block {
    u128::from_le_bytes(bytes)
}

/// All-ones if `bit`, else zero (branch-free).
#[inline]
pub fn bit_mask(bit: bool) -> Block {
    0u128.wrapping_sub(Block::from(bit))
}

/// Bit `k` (0..128) of `b`.
#[inline]
pub fn get_bit(b: Block, k: usize) -> bool {
    (b >> (k & 127)) & 1 == 1
}

/// The first `n` bits of `blocks`, bit `i` at bit `i % 128` of block `i / 128`;
/// missing bits are `false`.
pub fn unpack_bits(blocks: &[Block], n: usize) -> Vec<bool> {
    let mut out = Vec::with_capacity(blocks.len() * 128);
    for &w in blocks.iter().take(n.div_ceil(128)) {
        out.extend((0..128).map(|k| (w >> k) & 1 == 1));
    }
    out.resize(n, false);
    out
}

/// The GKWY orthomorphism σ(x_L ‖ x_R) = (x_L ⊕ x_R) ‖ x_L.
#[inline]
pub fn sigma(x: Block) -> Block {
    let hi = (x >> 64) as u64;
    let lo = x as u64;
    (Block::from(hi ^ lo) << 64) | Block::from(hi)
}

#[inline]
fn to_aes(b: Block) -> AesBlock {
    Array::from(b.to_le_bytes())
}

#[inline]
fn from_aes(a: &AesBlock) -> Block {
    let bytes: [u8; 16] = (*a).into();
    u128::from_le_bytes(bytes)
}

/// Tweakable correlation-robust hash from fixed-key AES (see the module docs).
/// Holds only a public key schedule.
#[derive(Clone)]
pub struct Crhf {
    aes: Aes128Enc,
}

impl fmt::Debug for Crhf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Crhf(fixed-key AES-128)")
    }
}

impl Default for Crhf {
    fn default() -> Self {
        Crhf::new()
    }
}

impl Crhf {
    /// The hash under the protocol's fixed public key.
    pub fn new() -> Crhf {
        Crhf {
            aes: Aes128Enc::new(&to_aes(CRHF_KEY)),
        }
    }

    /// The raw fixed-key permutation π (exposed for tests and benchmarks).
    pub fn permute(&self, x: Block) -> Block {
        let mut b = to_aes(x);
        self.aes.encrypt_block(&mut b);
        from_aes(&b)
    }

    /// H(tweak, x) = π(σ(x) ⊕ tweak) ⊕ σ(x).
    pub fn hash(&self, tweak: Block, x: Block) -> Block {
        let s = sigma(x);
        self.permute(s ^ tweak) ^ s
    }

    /// In place: `xs[k] ← H(first_tweak + k, xs[k])`, batched through AES-NI.
    pub fn hash_seq_in_place(&self, first_tweak: Block, xs: &mut [Block]) {
        let mut buf = [AesBlock::default(); AES_BATCH];
        let mut tweak = first_tweak;
        for chunk in xs.chunks_mut(AES_BATCH) {
            let n = chunk.len();
            for (slot, x) in buf.iter_mut().zip(chunk.iter_mut()) {
                *x = sigma(*x);
                *slot = to_aes(*x ^ tweak);
                tweak = tweak.wrapping_add(1);
            }
            self.aes.encrypt_blocks(&mut buf[..n]);
            for (slot, x) in buf.iter().zip(chunk.iter_mut()) {
                *x ^= from_aes(slot);
            }
        }
    }

    /// In place: `x[k] ← H(t_k, x[k])` and `out1[k] = H(t_k, x[k] ⊕ delta)`
    /// (the old `x[k]`) with `t_k = first_tweak + k`: the two random-OT pads of
    /// an IKNP sender. Processes `min(x.len(), out1.len())` entries.
    pub fn hash_pairs_in_place(
        &self,
        first_tweak: Block,
        x: &mut [Block],
        delta: Block,
        out1: &mut [Block],
    ) {
        let mut buf = [AesBlock::default(); AES_BATCH];
        let mut tweak = first_tweak;
        let half = AES_BATCH / 2;
        for (o0, o1) in x.chunks_mut(half).zip(out1.chunks_mut(half)) {
            let n = o0.len().min(o1.len());
            for (k, (a, b)) in o0.iter_mut().zip(o1.iter_mut()).enumerate() {
                let s0 = sigma(*a);
                let s1 = sigma(*a ^ delta);
                *a = s0;
                *b = s1;
                buf[2 * k] = to_aes(s0 ^ tweak);
                buf[2 * k + 1] = to_aes(s1 ^ tweak);
                tweak = tweak.wrapping_add(1);
            }
            self.aes.encrypt_blocks(&mut buf[..2 * n]);
            for (k, (a, b)) in o0.iter_mut().zip(o1.iter_mut()).enumerate() {
                *a ^= from_aes(&buf[2 * k]);
                *b ^= from_aes(&buf[2 * k + 1]);
            }
        }
    }
}

/// AES-128-CTR keyed by a 128-bit seed; the stream continues across calls.
pub struct AesPrg {
    aes: Aes128Enc,
    counter: u128,
}

impl fmt::Debug for AesPrg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AesPrg")
            .field("key", &"<redacted>")
            .field("blocks_used", &self.counter)
            .finish()
    }
}

impl Drop for AesPrg {
    fn drop(&mut self) {
        // Overwrite the round keys in place (the `aes` crate has no zeroize support).
        self.aes = Aes128Enc::new(&AesBlock::default());
        core::hint::black_box(&mut self.aes);
    }
}

impl AesPrg {
    /// The stream for `seed`, starting at counter 0.
    pub fn new(seed: Block) -> AesPrg {
        let mut key = to_aes(seed);
        let aes = Aes128Enc::new(&key);
        key.fill(0);
        core::hint::black_box(&mut key);
        AesPrg { aes, counter: 0 }
    }

    /// Number of 128-bit blocks produced so far.
    pub fn blocks_used(&self) -> u128 {
        self.counter
    }

    /// Fills `out` with the next `out.len()` blocks of the stream.
    pub fn fill(&mut self, out: &mut [Block]) {
        let mut buf = [AesBlock::default(); AES_BATCH];
        for chunk in out.chunks_mut(AES_BATCH) {
            let n = chunk.len();
            for slot in buf.iter_mut().take(n) {
                *slot = to_aes(self.counter);
                self.counter = self.counter.wrapping_add(1);
            }
            self.aes.encrypt_blocks(&mut buf[..n]);
            for (slot, o) in buf.iter().zip(chunk.iter_mut()) {
                *o = from_aes(slot);
            }
        }
    }

    /// The next block of the stream.
    pub fn next_block(&mut self) -> Block {
        let mut b = [0u128; 1];
        self.fill(&mut b);
        b[0]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn aes_known_answer() {
        // FIPS-197 appendix C.1 (AES-128), through our byte order.
        let key = block_from_bytes([
            0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
            0x0e, 0x0f,
        ]);
        let pt = block_from_bytes([
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ]);
        let ct = block_from_bytes([
            0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30, 0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4,
            0xc5, 0x5a,
        ]);
        let mut prg = AesPrg::new(key);
        // Counter mode at counter `pt` is AES_k(pt).
        prg.counter = pt;
        assert_eq!(prg.next_block(), ct);
    }

    #[test]
    fn sigma_is_linear_orthomorphism() {
        // σ and x ↦ σ(x) ⊕ x are both bijections: check on the basis (linearity).
        for k in 0..128 {
            let e = 1u128 << k;
            assert_ne!(sigma(e), 0);
            assert_ne!(sigma(e) ^ e, 0);
        }
    }

    /// The inverse of [`unpack_bits`] (the last block zero-padded).
    fn pack_bits(bits: &[bool]) -> Vec<Block> {
        bits.chunks(128)
            .map(|chunk| {
                chunk
                    .iter()
                    .enumerate()
                    .fold(0u128, |acc, (k, &b)| acc | (Block::from(b) << k))
            })
            .collect()
    }

    proptest! {
        #[test]
        fn sigma_linear(a: u128, b: u128) {
            prop_assert_eq!(sigma(a ^ b), sigma(a) ^ sigma(b));
        }

        #[test]
        fn batched_hash_matches_single(xs in proptest::collection::vec(any::<u128>(), 0..200), t0: u64, delta: u128) {
            let h = Crhf::new();
            let t0 = Block::from(t0);
            let mut ys = xs.clone();
            h.hash_seq_in_place(t0, &mut ys);
            let mut o0 = xs.clone();
            let mut o1 = vec![0; xs.len()];
            h.hash_pairs_in_place(t0, &mut o0, delta, &mut o1);
            for (k, &x) in xs.iter().enumerate() {
                let t = t0 + k as u128;
                prop_assert_eq!(ys[k], h.hash(t, x));
                prop_assert_eq!(o0[k], h.hash(t, x));
                prop_assert_eq!(o1[k], h.hash(t, x ^ delta));
            }
        }

        #[test]
        fn prg_stream_continues(seed: u128, a in 0usize..150, b in 0usize..150) {
            let mut one = AesPrg::new(seed);
            let mut whole = vec![0; a + b];
            one.fill(&mut whole);
            let mut two = AesPrg::new(seed);
            let mut x = vec![0; a];
            let mut y = vec![0; b];
            two.fill(&mut x);
            two.fill(&mut y);
            x.extend_from_slice(&y);
            prop_assert_eq!(whole, x);
            prop_assert_eq!(two.blocks_used(), (a + b) as u128);
        }

        #[test]
        fn pack_unpack(bits in proptest::collection::vec(any::<bool>(), 0..400)) {
            let packed = pack_bits(&bits);
            prop_assert_eq!(packed.len(), bits.len().div_ceil(128));
            prop_assert_eq!(unpack_bits(&packed, bits.len()), bits);
        }
    }
}
