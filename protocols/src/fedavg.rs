//! Plaintext FedAvg pieces shared by every rule: norms and clipping.

/// The L2 norm, accumulated in f64.
pub fn l2_norm(v: &[f32]) -> f32 {
    v.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt() as f32
}

/// Scales `v` so its L2 norm is at most `c` (no-op when it already is).
///
/// The scale factor is shrunk by a relative 1e-6 so that float rounding can
/// never leave the result above `c`.
pub fn clip_to_norm(v: &mut [f32], c: f32) {
    let n = l2_norm(v);
    if n > c && n > 0.0 {
        let s = c / n * (1.0 - 1e-6);
        for x in v.iter_mut() {
            *x *= s;
        }
    }
}

/// The mean of equal-length vectors (plaintext reference).
pub fn mean(updates: &[Vec<f32>]) -> Option<Vec<f32>> {
    let first = updates.first()?;
    let mut acc = vec![0f64; first.len()];
    for u in updates {
        if u.len() != acc.len() {
            return None;
        }
        for (a, x) in acc.iter_mut().zip(u) {
            *a += f64::from(*x);
        }
    }
    let n = updates.len() as f64;
    Some(acc.into_iter().map(|a| (a / n) as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn clipped_norm_is_bounded(v in proptest::collection::vec(-100f32..100.0, 1..200), c in 0.01f32..10.0) {
            let mut w = v.clone();
            clip_to_norm(&mut w, c);
            prop_assert!(l2_norm(&w) <= c);
            if l2_norm(&v) <= c {
                prop_assert_eq!(w, v);
            }
        }
    }
}
