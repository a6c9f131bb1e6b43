//! Fixed-point encoding of real coordinates into signed integers and the
//! ℓ-bit ring they are shared in.
//!
//! A coordinate v is encoded as x = round(v · 2^f). The encoding is defined for
//! |x| ≤ 2^(ℓ−1) − 1, i.e. v in `[−(2^(ℓ−1) − 1)/2^f, (2^(ℓ−1) − 1)/2^f]`
//! (for the default ℓ = 18, f = 16 that is |v| ≤ 1.99998); the quantisation
//! error per coordinate is at most 2^−(f+1). Out-of-range or non-finite input
//! is an error, never clamped silently.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Largest supported ring width (shares travel as 3-byte words).
pub const MAX_RING_BITS: u32 = 24;

/// Errors of the fixed-point layer.
#[derive(Debug, Error, PartialEq)]
pub enum FixedError {
    /// Ring/precision parameters that the encoding does not support.
    #[error(
        "unsupported fixed-point parameters: ring bits {ell}, fractional bits {frac} (need 2 ≤ ℓ ≤ {MAX_RING_BITS} and f ≤ ℓ − 2)"
    )]
    BadParams {
        /// ℓ
        ell: u32,
        /// f
        frac: u32,
    },
    /// A value outside the representable range.
    #[error("coordinate {index} = {value} is outside the fixed-point range ±{max}")]
    OutOfRange {
        /// Coordinate index.
        index: usize,
        /// The offending value.
        value: f64,
        /// Largest representable magnitude.
        max: f64,
    },
}

/// Ring width ℓ and fractional bits f.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedParams {
    ell: u32,
    frac: u32,
}

impl Default for FixedParams {
    fn default() -> Self {
        FixedParams { ell: 18, frac: 16 }
    }
}

impl FixedParams {
    /// Validated parameters.
    pub fn new(ell: u32, frac: u32) -> Result<FixedParams, FixedError> {
        if !(2..=MAX_RING_BITS).contains(&ell) || frac + 2 > ell {
            return Err(FixedError::BadParams { ell, frac });
        }
        Ok(FixedParams { ell, frac })
    }

    /// Re-validates parameters that arrived over the wire.
    pub fn validate(self) -> Result<FixedParams, FixedError> {
        FixedParams::new(self.ell, self.frac)
    }

    /// ℓ, the ring width.
    pub fn ell(self) -> u32 {
        self.ell
    }

    /// f, the fractional bits.
    pub fn frac(self) -> u32 {
        self.frac
    }

    /// 2^f as a float.
    pub fn scale(self) -> f64 {
        (1u64 << self.frac) as f64
    }

    /// The largest encodable integer, 2^(ℓ−1) − 1.
    pub fn max_int(self) -> i64 {
        (1i64 << (self.ell - 1)) - 1
    }

    /// The largest encodable real magnitude.
    pub fn max_real(self) -> f64 {
        self.max_int() as f64 / self.scale()
    }

    /// Encodes one coordinate; `index` only labels the error.
    pub fn encode_one(self, index: usize, v: f64) -> Result<i64, FixedError> {
        let x = (v * self.scale()).round();
        if !x.is_finite() || x.abs() > self.max_int() as f64 {
            return Err(FixedError::OutOfRange {
                index,
                value: v,
                max: self.max_real(),
            });
        }
        Ok(x as i64)
    }

    /// Encodes a vector.
    pub fn encode(self, v: &[f32]) -> Result<Vec<i64>, FixedError> {
        v.iter()
            .enumerate()
            .map(|(i, &x)| self.encode_one(i, f64::from(x)))
            .collect()
    }

    /// Decodes an integer (possibly a sum of many encodings).
    pub fn decode(self, x: i64) -> f64 {
        x as f64 / self.scale()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn params_are_validated() {
        assert!(FixedParams::new(18, 16).is_ok());
        assert!(FixedParams::new(18, 17).is_err());
        assert!(FixedParams::new(25, 16).is_err());
        assert!(FixedParams::new(1, 0).is_err());
    }

    #[test]
    fn out_of_range_is_an_error() {
        let p = FixedParams::default();
        assert!(p.encode_one(0, 1.9999).is_ok());
        assert!(matches!(
            p.encode_one(3, 2.0),
            Err(FixedError::OutOfRange { index: 3, .. })
        ));
        assert!(p.encode_one(0, f64::NAN).is_err());
        assert!(p.encode_one(0, f64::INFINITY).is_err());
        assert!(p.encode_one(0, -2.5).is_err());
    }

    proptest! {
        #[test]
        fn round_trip_within_half_ulp(v in -1.99f64..1.99) {
            let p = FixedParams::default();
            let x = p.encode_one(0, v).unwrap();
            prop_assert!((p.decode(x) - v).abs() <= 0.5 / p.scale() + 1e-12);
        }
    }
}
