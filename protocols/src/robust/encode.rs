//! Client normalisation for the robust rules (docs/PROTOCOL.md §7.1): the update is
//! scaled to unit L2 norm, encoded in fixed point, and the rounding is
//! corrected so that N = Σ xₖ² lands inside the window the servers check.
//! secure-fedavg clips instead and only corrects N down to the window's top
//! ([`encode_clipped`], PROTOCOL §2).
//!
//! # The window
//!
//! With u a unit vector and xₖ = round(uₖ·2^f), N = Σ xₖ² differs from 2^(2f)
//! by 2·2^f·Σ uₖeₖ + Σ eₖ² with |eₖ| ≤ ½, i.e. by up to 2^f·√d + d/4: at
//! d = 270k, f = 16 that is 0.8 % of 2^(2f) (an all-equal update lands ~3 %
//! off with plain rounding only because of the d/4 term's bias). The window is
//! `[2^(2f) − 2^(2f−6), 2^(2f) + 2^(2f−6)]` (±1.56 %), and [`encode_unit`]
//! nudges coordinates by ±1 until N is inside. One nudge moves N by at most
//! 2·2^f + 1, far less than the window width 2^(2f−5) for f ≥ 8, so the
//! correction can never jump over the window; it changes each coordinate by
//! at most one unit (plus further units only in pathological inputs).

use mpc_core::fixed::FixedParams;
use thiserror::Error;

/// Errors of the client normalisation.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EncodeError {
    /// The update is zero or not finite: it has no direction.
    #[error("the update has no direction (zero or not finite)")]
    NoDirection,
    /// secure-fedavg: an update coordinate is not finite.
    #[error("the update is not finite")]
    NotFinite,
    /// secure-fedavg: the clip bound is not a positive number.
    #[error("secure aggregation needs a positive clip bound")]
    Clip,
    /// The fixed-point precision is too small for the window argument.
    #[error("secure rules need 8 ≤ f ≤ 19 and f + 2 ≤ ℓ (got ℓ = {ell}, f = {frac})")]
    Precision {
        /// ℓ
        ell: u32,
        /// f
        frac: u32,
    },
}

/// The norm window `[N_lo, N_hi]` on N = Σ Xₖ² for fixed-point precision f.
pub fn norm_window(fixed: FixedParams) -> (u64, u64) {
    let f = fixed.frac();
    let centre = 1u64 << (2 * f);
    let slack = 1u64 << (2 * f - 6);
    (centre - slack, centre + slack)
}

/// Checks that `fixed` supports the robust encoding.
pub fn check_precision(fixed: FixedParams) -> Result<(), EncodeError> {
    let (ell, frac) = (fixed.ell(), fixed.frac());
    // 2f + 2 ≤ 40: trust scores S ≈ cos·2^(2f) (|S| < 2^(2f+1)) must stay
    // inside the comparison's bound 2^40 (PROTOCOL §7.3).
    if frac < 8 || frac + 2 > ell || 2 * frac + 2 > 40 {
        return Err(EncodeError::Precision { ell, frac });
    }
    Ok(())
}

/// Unit-normalises `update` and encodes it as integers xₖ ≈ uₖ·2^f with
/// Σ xₖ² inside [`norm_window`]. Every |xₖ| ≤ 2^f + 1 < 2^(ℓ−1).
pub fn encode_unit(update: &[f32], fixed: FixedParams) -> Result<Vec<i64>, EncodeError> {
    check_precision(fixed)?;
    let norm = update
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return Err(EncodeError::NoDirection);
    }
    let scale = fixed.scale() / norm;
    let target: Vec<f64> = update.iter().map(|&v| f64::from(v) * scale).collect();
    let mut x: Vec<i64> = target.iter().map(|t| t.round() as i64).collect();
    let (lo, hi) = norm_window(fixed);
    let mut n = norm_sq(&x);
    if n > hi {
        shrink(&mut x, &target, n, hi);
    } else if n < lo {
        // Grow the coordinates rounded down the most (in magnitude) first.
        let mut order: Vec<usize> = (0..x.len()).filter(|&k| target[k] != 0.0).collect();
        order.sort_by(|&i, &j| excess(&x, &target, i).total_cmp(&excess(&x, &target, j)));
        'grow: loop {
            for &k in &order {
                if n >= lo {
                    break 'grow;
                }
                let v = x[k];
                let m = v.unsigned_abs();
                n += 2 * m + 1;
                x[k] = if target[k] > 0.0 { v + 1 } else { v - 1 };
            }
            if order.is_empty() {
                break;
            }
        }
    }
    Ok(x)
}

/// Lowers N = Σ xₖ² (currently `n`) to at most `hi` by moving coordinates one
/// unit towards zero, those rounded up the most (in magnitude) first, round
/// after round. Always terminates: N reaches 0 at worst.
fn shrink(x: &mut [i64], target: &[f64], mut n: u64, hi: u64) {
    let mut order: Vec<usize> = (0..x.len()).filter(|&k| x[k] != 0).collect();
    order.sort_by(|&i, &j| excess(x, target, j).total_cmp(&excess(x, target, i)));
    'outer: loop {
        let mut moved = false;
        for &k in &order {
            if n <= hi {
                break 'outer;
            }
            let v = x[k];
            if v == 0 {
                continue;
            }
            let m = v.unsigned_abs();
            n -= 2 * m - 1;
            x[k] = v - v.signum();
            moved = true;
        }
        if !moved {
            break;
        }
    }
}

/// The bound secure-fedavg proves: N = Σ xₖ² ≤ N_hi with N_hi the top of
/// [`norm_window`], 2^(2f) + 2^(2f−6), i.e. ‖x‖ ≤ 2^f·√(1 + 2^−6) ≈ 1.0078·2^f.
pub fn clip_bound(fixed: FixedParams) -> u64 {
    norm_window(fixed).1
}

/// secure-fedavg's encoding: clips `update` to L2 norm ≤ `clip`
/// ([`crate::fedavg::clip_to_norm`]), encodes u = Δ/C as xₖ = round(uₖ·2^f)
/// and, if rounding pushed N = Σ xₖ² above [`clip_bound`] (only possible
/// when 2^f·√d + d/4 > 2^(2f−6), i.e. d ≳ 10⁶ at f = 16), moves the
/// coordinates rounded up the most one unit towards zero until it is not.
/// A zero update is valid (x = 0). Every |xₖ| ≤ 2^f < 2^(ℓ−1).
pub fn encode_clipped(
    update: &[f32],
    clip: f32,
    fixed: FixedParams,
) -> Result<Vec<i64>, EncodeError> {
    check_precision(fixed)?;
    if !(clip.is_finite() && clip > 0.0) {
        return Err(EncodeError::Clip);
    }
    if update.iter().any(|v| !v.is_finite()) {
        return Err(EncodeError::NotFinite);
    }
    let mut u = update.to_vec();
    crate::fedavg::clip_to_norm(&mut u, clip);
    let scale = fixed.scale() / f64::from(clip);
    let target: Vec<f64> = u.iter().map(|&v| f64::from(v) * scale).collect();
    let mut x: Vec<i64> = target.iter().map(|t| t.round() as i64).collect();
    let hi = clip_bound(fixed);
    let n = norm_sq(&x);
    if n > hi {
        shrink(&mut x, &target, n, hi);
    }
    Ok(x)
}

/// How far coordinate k was rounded away from zero (negative: towards zero).
fn excess(x: &[i64], target: &[f64], k: usize) -> f64 {
    (x[k] as f64).abs() - target[k].abs()
}

/// Σ xₖ² of an encoded vector (saturating at `u64::MAX`; for checks and tests).
pub fn norm_sq(x: &[i64]) -> u64 {
    x.iter().fold(0u64, |acc, &v| {
        let sq = u64::try_from(i128::from(v) * i128::from(v)).unwrap_or(u64::MAX);
        acc.saturating_add(sq)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixed() -> FixedParams {
        FixedParams::new(18, 16).unwrap()
    }

    fn in_window(x: &[i64]) -> bool {
        let (lo, hi) = norm_window(fixed());
        let n = norm_sq(x);
        lo <= n && n <= hi
    }

    #[test]
    fn awkward_updates_land_in_the_window() {
        for d in [1usize, 2, 3, 10, 10_000, 270_000] {
            let equal = vec![0.37f32; d];
            let mut one_hot = vec![0.0f32; d];
            one_hot[d / 2] = -5.0;
            let heavy: Vec<f32> = (0..d)
                .map(|k| {
                    if k % 97 == 0 {
                        1e3
                    } else {
                        1e-3 * (k as f32).sin()
                    }
                })
                .collect();
            let tiny: Vec<f32> = (0..d).map(|k| 1e-30 * (1.0 + k as f32)).collect();
            for u in [equal, one_hot, heavy, tiny] {
                let x = encode_unit(&u, fixed()).unwrap();
                assert!(in_window(&x), "d = {d}: N = {}", norm_sq(&x));
                assert!(x.iter().all(|v| v.unsigned_abs() <= (1 << 16) + 1));
            }
        }
    }

    #[test]
    fn all_equal_at_a_million_coordinates() {
        let x = encode_unit(&vec![1.0f32; 1 << 20], fixed()).unwrap();
        assert!(in_window(&x));
    }

    #[test]
    fn zero_and_nan_have_no_direction() {
        assert_eq!(
            encode_unit(&[0.0; 5], fixed()),
            Err(EncodeError::NoDirection)
        );
        assert_eq!(
            encode_unit(&[1.0, f32::NAN], fixed()),
            Err(EncodeError::NoDirection)
        );
    }

    #[test]
    fn clipped_updates_stay_below_the_bound() {
        let hi = clip_bound(fixed());
        for d in [1usize, 2, 10, 10_000, 270_000, 1 << 20] {
            for clip in [0.01f32, 1.0, 3.0] {
                // Far above the clip bound (clipped), at it, and well below.
                for norm in [100.0 * clip, clip, clip / 7.0] {
                    let v = norm / (d as f32).sqrt();
                    let equal = vec![v; d];
                    let mut one_hot = vec![0.0f32; d];
                    one_hot[d / 3] = -norm;
                    for u in [equal, one_hot] {
                        let x = encode_clipped(&u, clip, fixed()).unwrap();
                        assert!(norm_sq(&x) <= hi, "d = {d}: N = {}", norm_sq(&x));
                        assert!(x.iter().all(|v| v.unsigned_abs() <= 1 << 16));
                    }
                }
            }
        }
    }

    #[test]
    fn clipped_encoding_accepts_zero_and_refuses_non_finite() {
        assert_eq!(encode_clipped(&[0.0; 4], 3.0, fixed()), Ok(vec![0; 4]));
        assert_eq!(
            encode_clipped(&[1.0, f32::INFINITY], 3.0, fixed()),
            Err(EncodeError::NotFinite)
        );
        assert_eq!(encode_clipped(&[1.0], 0.0, fixed()), Err(EncodeError::Clip));
    }

    proptest! {
        #[test]
        fn random_clipped_updates_stay_below_the_bound_and_round_to_nearest(
            u in proptest::collection::vec(-1e2f32..1e2, 1..3000),
            clip in 0.01f32..10.0,
        ) {
            let x = encode_clipped(&u, clip, fixed()).unwrap();
            prop_assert!(norm_sq(&x) <= clip_bound(fixed()));
            let mut c = u.clone();
            crate::fedavg::clip_to_norm(&mut c, clip);
            // Below 10⁶ coordinates no nudge is needed: plain rounding.
            for (k, &v) in c.iter().enumerate() {
                let t = f64::from(v) / f64::from(clip) * 65536.0;
                prop_assert!((x[k] as f64 - t).abs() <= 0.5 + 1e-9);
            }
        }

        #[test]
        fn random_updates_land_in_the_window_and_keep_their_direction(
            u in proptest::collection::vec(-1e3f32..1e3, 1..3000)
        ) {
            prop_assume!(u.iter().any(|&v| v != 0.0));
            let x = encode_unit(&u, fixed()).unwrap();
            prop_assert!(in_window(&x));
            let norm = u.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
            for (k, &v) in u.iter().enumerate() {
                let t = f64::from(v) / norm * 65536.0;
                prop_assert!((x[k] as f64 - t).abs() <= 2.0);
            }
        }
    }
}
