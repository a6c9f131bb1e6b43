//! Fixed-point parameters: the ℓ-bit ring updates are shared in and the
//! fractional bits f of their encoding x = round(v · 2^f) (quantisation error
//! per coordinate at most 2^−(f+1)). The encodings themselves, with their
//! range checks, are `protocols::robust::encode`.

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
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn params_are_validated() {
        assert!(FixedParams::new(18, 16).is_ok());
        assert!(FixedParams::new(18, 17).is_err());
        assert!(FixedParams::new(25, 16).is_err());
        assert!(FixedParams::new(1, 0).is_err());
    }
}
