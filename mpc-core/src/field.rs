//! The Goldilocks prime field F_p, p = 2^64 − 2^32 + 1.
//!
//! Elements are kept in canonical form (`0 ≤ v < p`) in a `u64`. Multiplication
//! reduces the 128-bit product with the special form of p:
//! 2^64 ≡ 2^32 − 1 and 2^96 ≡ −1 (mod p), so no division is ever needed.
//! The type is the one every protocol layer uses; `benches/field.rs` compares it
//! with `prio::field::Field64` (same modulus, Montgomery form).

use core::fmt;
use core::iter::Sum;
use core::ops::{Add, AddAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// The modulus p = 2^64 − 2^32 + 1.
pub const MODULUS: u64 = 0xffff_ffff_0000_0001;
/// 2^64 mod p = 2^32 − 1.
const EPSILON: u64 = 0xffff_ffff;

/// An element of the Goldilocks field, always canonical.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fp(u64);

/// Shares and masks are vectors of `Fp`: `Vec<Fp>::zeroize()` wipes them.
impl zeroize::DefaultIsZeroes for Fp {}

impl fmt::Debug for Fp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fp({})", self.0)
    }
}

impl Fp {
    /// Zero.
    pub const ZERO: Fp = Fp(0);
    /// One.
    pub const ONE: Fp = Fp(1);

    /// The canonical element for `v`, which must already be below p.
    /// Returns `None` for non-canonical input (use on untrusted data).
    #[inline]
    pub const fn from_canonical(v: u64) -> Option<Fp> {
        if v < MODULUS { Some(Fp(v)) } else { None }
    }

    /// `v mod p` (for trusted arithmetic; never use to sample uniformly).
    #[inline]
    pub const fn reduce_u64(v: u64) -> Fp {
        if v >= MODULUS { Fp(v - MODULUS) } else { Fp(v) }
    }

    /// The field image of a signed integer.
    #[inline]
    pub const fn from_i64(v: i64) -> Fp {
        if v >= 0 {
            Fp::reduce_u64(v as u64)
        } else {
            // −|v| = p − |v| (|v| ≤ 2^63 < p).
            Fp(MODULUS - v.unsigned_abs())
        }
    }

    /// The canonical representative in `[0, p)`.
    #[inline]
    pub const fn value(self) -> u64 {
        self.0
    }

    /// The centred lift: the integer in `(−p/2, p/2]` congruent to `self`.
    #[inline]
    pub const fn to_centered(self) -> i64 {
        if self.0 > MODULUS / 2 {
            // self − p is in (−p/2, 0), which fits an i64.
            -((MODULUS - self.0) as i64)
        } else {
            self.0 as i64
        }
    }

    /// `2^k` for `k < 64`.
    #[inline]
    pub const fn pow2(k: u32) -> Fp {
        Fp::reduce_u64(1u64 << k)
    }

    #[inline]
    const fn reduce128(x: u128) -> Fp {
        let lo = x as u64;
        let hi = (x >> 64) as u64;
        let hi_hi = hi >> 32;
        let hi_lo = hi & EPSILON;
        // lo − hi_hi (2^96 ≡ −1).
        let (mut t0, borrow) = lo.overflowing_sub(hi_hi);
        if borrow {
            // Adding p ≡ subtracting 2^32 − 1 modulo 2^64 after the wrap.
            t0 = t0.wrapping_sub(EPSILON);
        }
        // hi_lo · 2^64 ≡ hi_lo · (2^32 − 1).
        let t1 = hi_lo * EPSILON;
        let (mut t2, carry) = t0.overflowing_add(t1);
        if carry {
            t2 = t2.wrapping_add(EPSILON);
        }
        Fp::reduce_u64(t2)
    }

    /// `self^e` by square-and-multiply.
    pub fn pow(self, mut e: u64) -> Fp {
        let mut base = self;
        let mut acc = Fp::ONE;
        while e > 0 {
            if e & 1 == 1 {
                acc *= base;
            }
            base *= base;
            e >>= 1;
        }
        acc
    }

    /// The multiplicative inverse, `None` for zero.
    pub fn inverse(self) -> Option<Fp> {
        if self.0 == 0 {
            None
        } else {
            Some(self.pow(MODULUS - 2))
        }
    }
}

impl Add for Fp {
    type Output = Fp;
    #[inline]
    fn add(self, rhs: Fp) -> Fp {
        let (s, carry) = self.0.overflowing_add(rhs.0);
        if carry {
            // a + b − 2^64 + (2^32 − 1) < p for canonical inputs: no overflow.
            Fp(s + EPSILON)
        } else {
            Fp::reduce_u64(s)
        }
    }
}

impl Sub for Fp {
    type Output = Fp;
    #[inline]
    fn sub(self, rhs: Fp) -> Fp {
        let (d, borrow) = self.0.overflowing_sub(rhs.0);
        if borrow {
            Fp(d.wrapping_add(MODULUS))
        } else {
            Fp(d)
        }
    }
}

impl Neg for Fp {
    type Output = Fp;
    #[inline]
    fn neg(self) -> Fp {
        if self.0 == 0 {
            self
        } else {
            Fp(MODULUS - self.0)
        }
    }
}

impl Mul for Fp {
    type Output = Fp;
    #[inline]
    fn mul(self, rhs: Fp) -> Fp {
        Fp::reduce128(u128::from(self.0) * u128::from(rhs.0))
    }
}

impl AddAssign for Fp {
    #[inline]
    fn add_assign(&mut self, rhs: Fp) {
        *self = *self + rhs;
    }
}

impl SubAssign for Fp {
    #[inline]
    fn sub_assign(&mut self, rhs: Fp) {
        *self = *self - rhs;
    }
}

impl MulAssign for Fp {
    #[inline]
    fn mul_assign(&mut self, rhs: Fp) {
        *self = *self * rhs;
    }
}

impl Sum for Fp {
    fn sum<I: Iterator<Item = Fp>>(iter: I) -> Fp {
        iter.fold(Fp::ZERO, |a, b| a + b)
    }
}

/// A generator of the multiplicative group F_p^* (order p − 1 = 2^32·3·5·17·257·65537).
pub const GENERATOR: Fp = Fp(7);
/// The largest k with 2^k | p − 1.
pub const TWO_ADICITY: u32 = 32;
/// A primitive 2^32-th root of unity, `7^((p−1)/2^32)`.
const ROOT_2_32: Fp = Fp(0x1856_29dc_da58_878c);

/// A primitive `2^log_n`-th root of unity (`None` if `log_n > 32`).
///
/// The roots are compatible: `root_of_unity(k + 1)^2 == root_of_unity(k)`.
pub fn root_of_unity(log_n: u32) -> Option<Fp> {
    if log_n > TWO_ADICITY {
        return None;
    }
    let mut w = ROOT_2_32;
    for _ in log_n..TWO_ADICITY {
        w *= w;
    }
    Some(w)
}

/// Inverts every element of `v` in place with one field inversion
/// (Montgomery's trick). Returns `false` and leaves `v` unchanged if any
/// element is zero.
pub fn batch_inverse(v: &mut [Fp]) -> bool {
    let mut prefix = Vec::with_capacity(v.len());
    let mut acc = Fp::ONE;
    for &x in v.iter() {
        prefix.push(acc);
        acc *= x;
    }
    let Some(mut inv) = acc.inverse() else {
        return false;
    };
    for (x, pre) in v.iter_mut().zip(prefix).rev() {
        let orig = *x;
        *x = inv * pre;
        inv *= orig;
    }
    true
}

/// 2^128 mod p = −2^32 mod p.
const TWO_128: Fp = Fp(MODULUS - (1 << 32));

/// A sum of products Σ a·b kept unreduced (192 bits) and reduced once at the
/// end: one 64×64 multiplication and a 128-bit add per term.
#[derive(Clone, Copy, Default)]
pub struct MulAcc {
    lo: u128,
    carries: u64,
}

impl fmt::Debug for MulAcc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MulAcc(<redacted>)")
    }
}

impl MulAcc {
    /// Adds `a·b`.
    #[inline]
    pub fn add_mul(&mut self, a: Fp, b: Fp) {
        self.add_u128(u128::from(a.0) * u128::from(b.0));
    }

    /// Adds a raw product (e.g. one computed once and added to two sums).
    #[inline]
    pub fn add_u128(&mut self, x: u128) {
        let (s, c) = self.lo.overflowing_add(x);
        self.lo = s;
        self.carries += u64::from(c);
    }

    /// The raw product of two elements, for [`MulAcc::add_u128`].
    #[inline]
    pub fn product(a: Fp, b: Fp) -> u128 {
        u128::from(a.0) * u128::from(b.0)
    }

    /// The reduced sum.
    #[inline]
    pub fn reduce(self) -> Fp {
        Fp::reduce128(self.lo) + Fp::reduce_u64(self.carries) * TWO_128
    }
}

/// `acc[i] += x[i]` over equal-length slices.
///
/// # Panics
/// Never on equal lengths; callers check lengths of untrusted vectors first
/// (the function processes the common prefix only, so a mismatch cannot panic).
pub fn add_assign_slice(acc: &mut [Fp], x: &[Fp]) {
    for (a, b) in acc.iter_mut().zip(x) {
        *a += *b;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn big(v: Fp) -> u128 {
        u128::from(v.value())
    }

    fn arb_fp() -> impl Strategy<Value = Fp> {
        prop_oneof![
            (0..MODULUS).prop_map(Fp),
            Just(Fp(0)),
            Just(Fp(1)),
            Just(Fp(MODULUS - 1)),
            Just(Fp(EPSILON)),
            Just(Fp(1 << 32)),
            Just(Fp(MODULUS / 2)),
        ]
    }

    proptest! {
        #[test]
        fn mul_matches_u128(a in arb_fp(), b in arb_fp()) {
            let expect = (big(a) * big(b)) % u128::from(MODULUS);
            prop_assert_eq!(big(a * b), expect);
        }

        #[test]
        fn add_sub_match_u128(a in arb_fp(), b in arb_fp()) {
            let m = u128::from(MODULUS);
            prop_assert_eq!(big(a + b), (big(a) + big(b)) % m);
            prop_assert_eq!(big(a - b), (big(a) + m - big(b)) % m);
            prop_assert_eq!((a - b) + b, a);
            prop_assert_eq!(a + (-a), Fp::ZERO);
        }

        #[test]
        fn centered_lift_round_trips(v in any::<i64>().prop_filter("in range", |v| v.unsigned_abs() < MODULUS / 2)) {
            prop_assert_eq!(Fp::from_i64(v).to_centered(), v);
        }

        #[test]
        fn inverse_is_inverse(a in arb_fp()) {
            match a.inverse() {
                None => prop_assert_eq!(a, Fp::ZERO),
                Some(inv) => prop_assert_eq!(a * inv, Fp::ONE),
            }
        }
    }

    #[test]
    fn roots_of_unity_have_exact_order() {
        for k in 0..=TWO_ADICITY {
            let w = root_of_unity(k).unwrap();
            assert_eq!(w.pow(1u64 << k), Fp::ONE);
            if k > 0 {
                assert_ne!(w.pow(1u64 << (k - 1)), Fp::ONE);
                assert_eq!(w * w, root_of_unity(k - 1).unwrap());
            }
        }
        assert!(root_of_unity(33).is_none());
        assert_eq!(GENERATOR.pow((MODULUS - 1) >> 32), ROOT_2_32);
        for f in [2u64, 3, 5, 17, 257, 65537] {
            assert_ne!(GENERATOR.pow((MODULUS - 1) / f), Fp::ONE);
        }
    }

    #[test]
    fn batch_inverse_matches_single() {
        let mut v: Vec<Fp> = (1..50u64).map(|i| Fp(i * 0x1234_5678_9abc + 7)).collect();
        let orig = v.clone();
        assert!(batch_inverse(&mut v));
        for (a, b) in v.iter().zip(&orig) {
            assert_eq!(*a * *b, Fp::ONE);
        }
        let mut z = vec![Fp(3), Fp::ZERO, Fp(5)];
        assert!(!batch_inverse(&mut z));
        assert_eq!(z, vec![Fp(3), Fp::ZERO, Fp(5)]);
        assert!(batch_inverse(&mut []));
    }

    proptest! {
        #[test]
        fn mul_acc_matches_reduced_sum(v in proptest::collection::vec((arb_fp(), arb_fp()), 0..64)) {
            let mut acc = MulAcc::default();
            let mut expect = Fp::ZERO;
            for &(a, b) in &v {
                acc.add_mul(a, b);
                expect += a * b;
            }
            prop_assert_eq!(acc.reduce(), expect);
        }
    }

    #[test]
    fn mul_acc_handles_many_carries() {
        let m1 = Fp(MODULUS - 1);
        let mut acc = MulAcc::default();
        for _ in 0..10_000 {
            acc.add_mul(m1, m1);
        }
        assert!(acc.carries > 0);
        assert_eq!(acc.reduce(), Fp::reduce_u64(10_000));
        assert_eq!(
            TWO_128,
            Fp::pow2(32) * Fp::pow2(32) * Fp::pow2(32) * Fp::pow2(32)
        );
    }

    #[test]
    fn edge_products() {
        let m1 = Fp(MODULUS - 1);
        assert_eq!(m1 * m1, Fp::ONE);
        assert_eq!(Fp::pow2(32) * Fp::pow2(32), Fp(EPSILON));
        assert_eq!(Fp::pow2(63) * Fp::from_i64(2), Fp(EPSILON));
        assert!(Fp::from_canonical(MODULUS).is_none());
        assert_eq!(Fp::from_canonical(MODULUS - 1), Some(m1));
        assert_eq!(Fp::from_i64(-1), m1);
    }
}
