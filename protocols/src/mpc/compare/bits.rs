//! Packed bit vectors (LSB-first inside little-endian 64-bit words).
//!
//! Invariant: bits at positions `≥ len` in the last word are zero, so equality,
//! encoding and padding checks can work word by word. Every accessor is
//! checked (`Option`), so a length mistake can never panic.

use core::fmt;

/// A growable packed bit vector.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct BitVec {
    len: usize,
    words: Vec<u64>,
}

impl fmt::Debug for BitVec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Contents are masked protocol data or shares: show the length only.
        write!(f, "BitVec({} bits)", self.len)
    }
}

#[inline]
const fn low_mask(n: usize) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

impl BitVec {
    /// An empty vector.
    pub fn new() -> BitVec {
        BitVec::default()
    }

    /// An empty vector with room for `bits` bits.
    pub fn with_capacity(bits: usize) -> BitVec {
        BitVec {
            len: 0,
            words: Vec::with_capacity(bits.div_ceil(64)),
        }
    }

    /// `len` zero bits.
    pub fn zeros(len: usize) -> BitVec {
        BitVec {
            len,
            words: vec![0; len.div_ceil(64)],
        }
    }

    /// The first `len` bits of `words` (bits beyond `len` are cleared).
    pub fn from_words(mut words: Vec<u64>, len: usize) -> BitVec {
        words.resize(len.div_ceil(64), 0);
        let mut v = BitVec { len, words };
        v.clear_tail();
        v
    }

    fn clear_tail(&mut self) {
        let r = self.len % 64;
        if r != 0
            && let Some(last) = self.words.last_mut()
        {
            *last &= low_mask(r);
        }
    }

    /// Number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no bits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The backing words (bits beyond `len` are zero).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Appends one bit.
    #[inline]
    pub fn push(&mut self, bit: bool) {
        self.push_bits(u64::from(bit), 1);
    }

    /// Appends the low `n ≤ 64` bits of `v` (bit 0 first).
    pub fn push_bits(&mut self, v: u64, n: usize) {
        if n == 0 {
            return;
        }
        let n = n.min(64);
        let v = v & low_mask(n);
        let off = self.len % 64;
        if off == 0 {
            self.words.push(v);
        } else {
            if let Some(last) = self.words.last_mut() {
                *last |= v << off;
            }
            if off + n > 64 {
                self.words.push(v >> (64 - off));
            }
        }
        self.len += n;
    }

    /// Appends all of `other`.
    pub fn append(&mut self, other: &BitVec) {
        let mut left = other.len;
        for &w in &other.words {
            let n = left.min(64);
            self.push_bits(w, n);
            left -= n;
        }
    }

    /// Bit `i`, if `i < len`.
    #[inline]
    pub fn get(&self, i: usize) -> Option<bool> {
        if i >= self.len {
            return None;
        }
        self.words.get(i / 64).map(|w| (w >> (i % 64)) & 1 == 1)
    }

    /// The `n ≤ 64` bits starting at `off` (bit `off` in bit 0), if in range.
    pub fn bits(&self, off: usize, n: usize) -> Option<u64> {
        if n == 0 {
            return Some(0);
        }
        if n > 64 || off.checked_add(n)? > self.len {
            return None;
        }
        let w = off / 64;
        let b = off % 64;
        let mut v = self.words.get(w)? >> b;
        if b != 0 && b + n > 64 {
            v |= self.words.get(w + 1)? << (64 - b);
        }
        Some(v & low_mask(n))
    }

    /// XORs the low `n ≤ 64` bits of `v` into positions `off..off+n`.
    /// Returns `false` (and changes nothing) if out of range.
    pub fn xor_bits(&mut self, off: usize, v: u64, n: usize) -> bool {
        if n == 0 {
            return true;
        }
        if n > 64 || off.checked_add(n).is_none_or(|end| end > self.len) {
            return false;
        }
        let v = v & low_mask(n);
        let w = off / 64;
        let b = off % 64;
        if let Some(x) = self.words.get_mut(w) {
            *x ^= v << b;
        }
        if b != 0
            && b + n > 64
            && let Some(x) = self.words.get_mut(w + 1)
        {
            *x ^= v >> (64 - b);
        }
        true
    }

    /// `self ^= (k0 & !sel) | (k1 & sel)`, word by word on the common length:
    /// each position takes its bit from `k1` where `sel` is set, else from `k0`.
    pub fn blend_xor(&mut self, k0: &BitVec, k1: &BitVec, sel: &BitVec) {
        for (((a, x0), x1), m) in self
            .words
            .iter_mut()
            .zip(&k0.words)
            .zip(&k1.words)
            .zip(&sel.words)
        {
            *a ^= (x0 & !m) | (x1 & m);
        }
        self.clear_tail();
    }

    /// XORs `src[src_off..src_off+len]` into `self[off..off+len]`.
    /// Returns `false` (possibly after a partial change) if out of range.
    pub fn xor_range(&mut self, off: usize, src: &BitVec, src_off: usize, len: usize) -> bool {
        let mut done = 0;
        while done < len {
            let n = (len - done).min(64);
            let Some(v) = src.bits(src_off + done, n) else {
                return false;
            };
            if !self.xor_bits(off + done, v, n) {
                return false;
            }
            done += n;
        }
        true
    }

    /// A copy of `len` bits starting at `off`, if in range.
    pub fn slice(&self, off: usize, len: usize) -> Option<BitVec> {
        if off.checked_add(len)? > self.len {
            return None;
        }
        let mut out = BitVec::with_capacity(len);
        let mut done = 0;
        while done < len {
            let n = (len - done).min(64);
            out.push_bits(self.bits(off + done, n)?, n);
            done += n;
        }
        Some(out)
    }

    /// Number of bytes of [`BitVec::write_bytes`].
    pub fn byte_len(&self) -> usize {
        self.len.div_ceil(8)
    }

    /// Appends the packed bytes (LSB-first, `ceil(len/8)` bytes).
    pub fn write_bytes(&self, out: &mut Vec<u8>) {
        let mut left = self.byte_len();
        for w in &self.words {
            let b = w.to_le_bytes();
            let k = left.min(8);
            out.extend_from_slice(b.get(..k).unwrap_or(&[]));
            left -= k;
        }
    }

    /// Parses `len` bits from exactly `ceil(len/8)` bytes; `None` if the byte
    /// count is wrong or a padding bit is set.
    pub fn from_bytes(bytes: &[u8], len: usize) -> Option<BitVec> {
        if bytes.len() != len.div_ceil(8) {
            return None;
        }
        let words: Vec<u64> = bytes
            .chunks(8)
            .map(|c| {
                let mut w = [0u8; 8];
                for (d, s) in w.iter_mut().zip(c) {
                    *d = *s;
                }
                u64::from_le_bytes(w)
            })
            .collect();
        let r = len % 64;
        if r != 0 && words.last().is_some_and(|w| w & !low_mask(r) != 0) {
            return None;
        }
        Some(BitVec { len, words })
    }

    /// A sequential reader from the start.
    pub fn reader(&self) -> BitReader<'_> {
        BitReader { bits: self, pos: 0 }
    }

    /// The bits as booleans.
    pub fn iter(&self) -> impl Iterator<Item = bool> + '_ {
        (0..self.len).map(move |i| self.get(i).unwrap_or(false))
    }
}

impl FromIterator<bool> for BitVec {
    fn from_iter<I: IntoIterator<Item = bool>>(iter: I) -> Self {
        let mut v = BitVec::new();
        for b in iter {
            v.push(b);
        }
        v
    }
}

/// A sequential cursor over a [`BitVec`].
#[derive(Debug)]
pub struct BitReader<'a> {
    bits: &'a BitVec,
    pos: usize,
}

impl BitReader<'_> {
    /// The next `n ≤ 64` bits, if available.
    #[inline]
    pub fn take(&mut self, n: usize) -> Option<u64> {
        let v = self.bits.bits(self.pos, n)?;
        self.pos += n;
        Some(v)
    }

    /// The next bit, if available.
    #[inline]
    pub fn bit(&mut self) -> Option<bool> {
        let v = self.bits.get(self.pos)?;
        self.pos += 1;
        Some(v)
    }

    /// Bits not yet read.
    pub fn remaining(&self) -> usize {
        self.bits.len().saturating_sub(self.pos)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn push_get_roundtrip(chunks in proptest::collection::vec((any::<u64>(), 0usize..=64), 0..40)) {
            let mut v = BitVec::new();
            let mut plain = Vec::new();
            for &(x, n) in &chunks {
                v.push_bits(x, n);
                for k in 0..n { plain.push((x >> k) & 1 == 1); }
            }
            prop_assert_eq!(v.len(), plain.len());
            for (i, &b) in plain.iter().enumerate() { prop_assert_eq!(v.get(i), Some(b)); }
            prop_assert_eq!(v.get(plain.len()), None);
            // bits() at every offset / width agrees with the plain bits.
            for off in (0..plain.len()).step_by(7) {
                for n in [1usize, 5, 31, 64] {
                    let got = v.bits(off, n);
                    if off + n <= plain.len() {
                        let want = (0..n).fold(0u64, |acc, k| acc | (u64::from(plain[off + k]) << k));
                        prop_assert_eq!(got, Some(want));
                    } else {
                        prop_assert_eq!(got, None);
                    }
                }
            }
            let mut bytes = Vec::new();
            v.write_bytes(&mut bytes);
            prop_assert_eq!(bytes.len(), v.byte_len());
            prop_assert_eq!(BitVec::from_bytes(&bytes, v.len()), Some(v.clone()));
            let mut w = BitVec::new();
            w.append(&v);
            w.append(&v);
            prop_assert_eq!(w.len(), 2 * v.len());
            prop_assert_eq!(w.bits(v.len(), v.len().min(64)), v.bits(0, v.len().min(64)));
        }

        #[test]
        fn xor_bits_matches_plain(len in 1usize..300, off in 0usize..300, n in 0usize..=64, x in any::<u64>()) {
            let mut v = BitVec::zeros(len);
            let ok = v.xor_bits(off, x, n);
            prop_assert_eq!(ok, n == 0 || off + n <= len);
            if ok && n > 0 {
                prop_assert_eq!(v.bits(off, n), Some(x & low_mask(n)));
            }
        }
    }

    #[test]
    fn padding_and_length_are_checked() {
        assert!(BitVec::from_bytes(&[0xff], 8).is_some());
        assert!(BitVec::from_bytes(&[0x0f], 4).is_some());
        assert!(BitVec::from_bytes(&[0x1f], 4).is_none());
        assert!(BitVec::from_bytes(&[0x00, 0x00], 8).is_none());
        assert!(BitVec::from_bytes(&[], 1).is_none());
        assert_eq!(BitVec::from_bytes(&[], 0), Some(BitVec::new()));
    }
}
