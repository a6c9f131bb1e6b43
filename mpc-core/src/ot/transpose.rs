//! Bit-matrix transposition for IKNP, in portable safe Rust.
//!
//! The unit is a 128×128 bit tile held as 128 [`Block`]s (row `j` = word `j`,
//! column `i` = bit `i`). [`transpose_128`] uses Eklundh's recursive block
//! swap: for `s = 64, 32, …, 1` it exchanges the off-diagonal `s×s`
//! sub-blocks of every `2s×2s` block with one shift/xor/mask "delta swap" per
//! row pair. For `s < 64` the mask never lets a bit cross the 64-bit halves,
//! so the tile is processed as two interleaved `u64` lanes, which the compiler
//! vectorises with plain SSE2 (no intrinsics, no `unsafe`).
//!
//! A 128 × m matrix is a sequence of `m / 128` tiles ("tile-major" layout:
//! tile `b` holds the words `b` of rows `0..128`); [`transpose_tiles`] turns it
//! into the `m` rows of 128 bits, in order.

use super::block::Block;

/// Masks for the delta swaps: bit `p` set iff `p & s == 0`, for s = 32, 16, 8, 4, 2, 1.
const MASKS: [(u32, u64); 6] = [
    (32, 0x0000_0000_ffff_ffff),
    (16, 0x0000_ffff_0000_ffff),
    (8, 0x00ff_00ff_00ff_00ff),
    (4, 0x0f0f_0f0f_0f0f_0f0f),
    (2, 0x3333_3333_3333_3333),
    (1, 0x5555_5555_5555_5555),
];

/// Transposes a 128×128 bit tile in place: afterwards bit `j` of word `i` is
/// what bit `i` of word `j` was.
pub fn transpose_128(tile: &mut [Block; 128]) {
    // Two u64 lanes per row: w[2r] = low half, w[2r+1] = high half.
    let mut w = [0u64; 256];
    for (pair, &row) in w.chunks_exact_mut(2).zip(tile.iter()) {
        pair[0] = row as u64;
        pair[1] = (row >> 64) as u64;
    }
    // s = 64: swap the high half of row r with the low half of row r + 64.
    {
        let (top, bottom) = w.split_at_mut(128);
        for (a, b) in top.chunks_exact_mut(2).zip(bottom.chunks_exact_mut(2)) {
            core::mem::swap(&mut a[1], &mut b[0]);
        }
    }
    for &(s, m) in &MASKS {
        let width = 2 * s as usize; // u64 words spanned by s rows
        for block in w.chunks_exact_mut(2 * width) {
            let (a, b) = block.split_at_mut(width);
            for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                let t = ((*x >> s) ^ *y) & m;
                *y ^= t;
                *x ^= t << s;
            }
        }
    }
    for (row, pair) in tile.iter_mut().zip(w.chunks_exact(2)) {
        *row = Block::from(pair[0]) | (Block::from(pair[1]) << 64);
    }
}

/// Transposes every 128×128 tile of a tile-major `128 × (128·k)` matrix in
/// place; afterwards `words[i]` is row `i` of the `128·k × 128` transpose.
/// A trailing partial tile (if `words.len()` is not a multiple of 128) is left as is.
pub fn transpose_tiles(words: &mut [Block]) {
    for chunk in words.chunks_exact_mut(128) {
        if let Ok(tile) = <&mut [Block; 128]>::try_from(chunk) {
            transpose_128(tile);
        }
    }
}

/// Bit-by-bit reference transpose of a row-major `rows × cols` matrix, each
/// row `cols.div_ceil(128)` blocks wide; returns `cols` rows of `rows ≤ 128`
/// bits. For tests and benchmarks.
pub fn transpose_naive(matrix: &[Block], rows: usize, cols: usize) -> Vec<Block> {
    let stride = cols.div_ceil(128);
    let mut out = vec![0u128; cols];
    for r in 0..rows.min(128) {
        for (c, o) in out.iter_mut().enumerate() {
            let word = matrix.get(r * stride + c / 128).copied().unwrap_or(0);
            *o |= ((word >> (c % 128)) & 1) << r;
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tile_from(v: &[u128]) -> [u128; 128] {
        let mut t = [0u128; 128];
        t.copy_from_slice(v);
        t
    }

    #[test]
    fn identity_and_single_bits() {
        let mut id = [0u128; 128];
        for (i, w) in id.iter_mut().enumerate() {
            *w = 1 << i;
        }
        let orig = id;
        transpose_128(&mut id);
        assert_eq!(id, orig);
        for (r, c) in [(0, 127), (127, 0), (3, 70), (64, 63), (100, 5)] {
            let mut t = [0u128; 128];
            t[r] = 1 << c;
            transpose_128(&mut t);
            let mut want = [0u128; 128];
            want[c] = 1 << r;
            assert_eq!(t, want, "bit ({r},{c})");
        }
    }

    proptest! {
        #[test]
        fn tile_matches_naive(v in proptest::collection::vec(any::<u128>(), 128)) {
            let mut t = tile_from(&v);
            transpose_128(&mut t);
            prop_assert_eq!(t.to_vec(), transpose_naive(&v, 128, 128));
            transpose_128(&mut t);
            prop_assert_eq!(t.to_vec(), v);
        }

        #[test]
        fn tiles_match_naive(tiles in 1usize..6, seed: u64) {
            // Row-major 128 × (128·tiles) matrix from a simple generator.
            let mut x = seed | 1;
            let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
            let row_major: Vec<u128> = (0..128 * tiles)
                .map(|_| u128::from(next()) | (u128::from(next()) << 64))
                .collect();
            // Tile-major copy: tile b, row j = row j's word b.
            let mut tm = vec![0u128; 128 * tiles];
            for j in 0..128 {
                for b in 0..tiles {
                    tm[b * 128 + j] = row_major[j * tiles + b];
                }
            }
            transpose_tiles(&mut tm);
            prop_assert_eq!(tm, transpose_naive(&row_major, 128, 128 * tiles));
        }
    }
}
