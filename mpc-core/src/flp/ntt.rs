//! Radix-2 number-theoretic transforms over Goldilocks, specialised to what the
//! FLP prover needs: from the N values of a wire polynomial on the N-th roots of
//! unity, its N values on the odd 2N-th roots (the coset ω_{2N}·⟨ω_N⟩).
//!
//! No bit-reversal pass: the inverse transform is a decimation-in-frequency
//! (natural → bit-reversed), the forward one a decimation-in-time
//! (bit-reversed → natural), and the coset scaling is applied in bit-reversed
//! positions in between.

use crate::field::{Fp, root_of_unity};

/// Precomputed tables for the transforms of size `n = 2^log_n`.
#[derive(Clone)]
pub(crate) struct Ntt {
    n: usize,
    /// ω_N^i for i < N/2.
    tw: Vec<Fp>,
    /// ω_N^{−i} for i < N/2.
    itw: Vec<Fp>,
    /// At bit-reversed position `pos`: ω_{2N}^{bitrev(pos)} / N.
    coset_scale: Vec<Fp>,
}

impl core::fmt::Debug for Ntt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ntt").field("n", &self.n).finish()
    }
}

fn bitrev(x: usize, log_n: u32) -> usize {
    if log_n == 0 {
        0
    } else {
        x.reverse_bits() >> (usize::BITS - log_n)
    }
}

impl Ntt {
    /// Tables for size `2^log_n`, `log_n ≤ 31` (so that ω_{2N} exists).
    pub(crate) fn new(log_n: u32) -> Option<Ntt> {
        if log_n > 31 {
            return None;
        }
        let n = 1usize << log_n;
        let w = root_of_unity(log_n)?;
        let w2 = root_of_unity(log_n + 1)?;
        let wi = w.inverse()?;
        let half = n / 2;
        let powers = |base: Fp, len: usize| {
            let mut v = Vec::with_capacity(len);
            let mut acc = Fp::ONE;
            for _ in 0..len {
                v.push(acc);
                acc *= base;
            }
            v
        };
        let tw = powers(w, half);
        let itw = powers(wi, half);
        let n_inv = Fp::reduce_u64(n as u64).inverse()?;
        let scaled = powers(w2, n);
        let coset_scale = (0..n)
            .map(|pos| scaled[bitrev(pos, log_n)] * n_inv)
            .collect();
        Some(Ntt {
            n,
            tw,
            itw,
            coset_scale,
        })
    }

    /// Size N.
    pub(crate) fn len(&self) -> usize {
        self.n
    }

    /// Decimation in frequency: `a` in natural order → bit-reversed
    /// `â[k] = Σ_j a[j]·w^{jk}` with twiddles `tw` (w^i, i < n/2).
    fn dif(a: &mut [Fp], tw: &[Fp]) {
        let n = a.len();
        let mut len = n;
        while len >= 2 {
            let half = len / 2;
            let step = n / len;
            for chunk in a.chunks_exact_mut(len) {
                let (lo, hi) = chunk.split_at_mut(half);
                for (j, (u, v)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
                    let x = *u;
                    let y = *v;
                    *u = x + y;
                    *v = (x - y) * tw[j * step];
                }
            }
            len = half;
        }
    }

    /// Decimation in time: `a` in bit-reversed order → natural-order transform.
    fn dit(a: &mut [Fp], tw: &[Fp]) {
        let n = a.len();
        let mut len = 2;
        while len <= n {
            let half = len / 2;
            let step = n / len;
            for chunk in a.chunks_exact_mut(len) {
                let (lo, hi) = chunk.split_at_mut(half);
                for (j, (u, v)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
                    let x = *u;
                    let y = *v * tw[j * step];
                    *u = x + y;
                    *v = x - y;
                }
            }
            len *= 2;
        }
    }

    /// Given the values of a polynomial f of degree < N at ω_N^k (natural
    /// order, k < N) in `vals`, writes f(ω_{2N}·ω_N^k) = f(ω_{2N}^{2k+1}) into
    /// `out`. Both slices must have length N (checked by the caller).
    pub(crate) fn odd_coset_from_evals(&self, vals: &[Fp], out: &mut [Fp]) {
        out.copy_from_slice(vals);
        Self::dif(out, &self.itw);
        for (o, s) in out.iter_mut().zip(&self.coset_scale) {
            *o *= *s;
        }
        Self::dit(out, &self.tw);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn naive_eval(coeffs: &[Fp], x: Fp) -> Fp {
        coeffs.iter().rev().fold(Fp::ZERO, |acc, &c| acc * x + c)
    }

    #[test]
    fn coset_matches_naive() {
        for log_n in 0..=7u32 {
            let n = 1usize << log_n;
            let ntt = Ntt::new(log_n).unwrap();
            assert_eq!(ntt.len(), n);
            let coeffs: Vec<Fp> = (0..n as u64)
                .map(|i| Fp::reduce_u64(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x55))
                .collect();
            let w = root_of_unity(log_n).unwrap();
            let w2 = root_of_unity(log_n + 1).unwrap();
            let vals: Vec<Fp> = (0..n as u64)
                .map(|k| naive_eval(&coeffs, w.pow(k)))
                .collect();
            let mut out = vec![Fp::ZERO; n];
            ntt.odd_coset_from_evals(&vals, &mut out);
            for (k, o) in out.iter().enumerate() {
                assert_eq!(*o, naive_eval(&coeffs, w2.pow(2 * k as u64 + 1)));
            }
        }
    }
}
