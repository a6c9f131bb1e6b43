//! Plaintext FLTrust (Cao et al., NDSS 2021) and the cosine filter: the
//! reference the secure rules are measured against, and the `plain-fltrust`
//! aggregation rule. Pure functions, no I/O; all sums in f64.
//!
//! Workers send unit-norm updates uᵢ; server A computes a reference update ĝ₀
//! on its proxy (root) set with the same local training the workers use
//! (`fl_ml::proxy_update`). Then, with cᵢ = cos(uᵢ, ĝ₀):
//!
//! - [`Rule::Trust`] (FLTrust): TSᵢ = ReLU(cᵢ) (0 when cᵢ < τ, if a threshold τ
//!   is given) and g = ‖ĝ₀‖ · Σ TSᵢ·uᵢ / Σ TSᵢ.
//! - [`Rule::Filter`]: keep uᵢ when cᵢ ≥ τ (τ = 0 when none is given), equal
//!   weights, g = ‖ĝ₀‖ · mean of the kept uᵢ.
//!
//! If fewer than `k_min` updates get a positive weight (default
//! [`DEFAULT_K_MIN`] = 3), there is no update: revealing an aggregate of one
//! or two updates would expose them (docs/PROTOCOL.md §3).

use thiserror::Error;

/// Fewest positive-weight updates for an aggregate to be produced.
pub const DEFAULT_K_MIN: usize = 3;

/// Tolerance on |‖u‖ − 1| for a submitted unit-norm update (float rounding of
/// a normalised f32 vector is far below this).
pub const NORM_SLACK: f32 = 1e-3;

/// Why an update cannot be normalised.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum NormaliseError {
    /// A coordinate is NaN or infinite.
    #[error("the update has a non-finite coordinate")]
    NonFinite,
    /// The update is zero (or empty): it has no direction.
    #[error("the update is zero and has no direction")]
    Zero,
}

/// The weighting rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// FLTrust: TSᵢ = ReLU(cos(uᵢ, ĝ₀)).
    Trust,
    /// Keep the updates with cos(uᵢ, ĝ₀) ≥ τ, with equal weights.
    Filter,
}

/// The result of [`aggregate`].
#[derive(Clone, Debug, PartialEq)]
pub struct FltrustResult {
    /// The update to add to the model: ‖ĝ₀‖ · Σ wᵢ·uᵢ / Σ wᵢ, or `None` when
    /// fewer than `k_min` weights are positive.
    pub update: Option<Vec<f32>>,
    /// Weight of each update, in input order: TSᵢ for [`Rule::Trust`], 1 or 0
    /// for [`Rule::Filter`].
    pub weights: Vec<f32>,
    /// Number of positive weights.
    pub positive: usize,
}

/// The L2 norm in f64.
fn norm(v: &[f32]) -> f64 {
    v.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt()
}

/// Scales `update` to unit L2 norm (computed in f64).
pub fn normalise(update: &[f32]) -> Result<Vec<f32>, NormaliseError> {
    if update.iter().any(|x| !x.is_finite()) {
        return Err(NormaliseError::NonFinite);
    }
    let n = norm(update);
    if n == 0.0 || !n.is_finite() {
        // A norm that overflows f64 cannot come from finite f32s; zero can.
        return Err(NormaliseError::Zero);
    }
    Ok(update.iter().map(|&x| (f64::from(x) / n) as f32).collect())
}

/// Cosine similarity of `a` and `b` in f64; 0 when either is zero, the lengths
/// differ, or anything is non-finite (no direction, no trust).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return 0.0;
    }
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    let (na, nb) = (norm(a), norm(b));
    let c = dot / (na * nb);
    if na == 0.0 || nb == 0.0 || !c.is_finite() {
        0.0
    } else {
        c.clamp(-1.0, 1.0)
    }
}

/// Aggregates unit-norm `updates` against the server's `reference` update ĝ₀
/// with `rule` and the optional cosine `threshold` τ, requiring
/// [`DEFAULT_K_MIN`] positive weights.
pub fn aggregate(
    updates: &[Vec<f32>],
    reference: &[f32],
    rule: Rule,
    threshold: Option<f32>,
) -> FltrustResult {
    aggregate_with_k_min(updates, reference, rule, threshold, DEFAULT_K_MIN)
}

/// [`aggregate`] with an explicit `k_min` (at least 1 is always required).
///
/// An update whose length differs from the reference gets weight 0 (callers
/// check dimensions first; this only keeps a bad input out of the sum).
pub fn aggregate_with_k_min(
    updates: &[Vec<f32>],
    reference: &[f32],
    rule: Rule,
    threshold: Option<f32>,
    k_min: usize,
) -> FltrustResult {
    let mut acc = Accumulator::new(reference.to_vec(), rule, threshold, k_min);
    let weights = updates.iter().map(|u| acc.add(u)).collect();
    let positive = acc.positive();
    FltrustResult {
        update: acc.finish(),
        weights,
        positive,
    }
}

/// The weight of an update with cosine `c` to the reference under `rule` and
/// threshold `threshold`: ReLU(c) (0 below τ) for [`Rule::Trust`], 1 or 0 for
/// [`Rule::Filter`] (τ = 0 when none is given).
pub fn weight(c: f64, rule: Rule, threshold: Option<f32>) -> f64 {
    let tau = threshold.map(f64::from);
    match rule {
        Rule::Trust if tau.is_none_or(|t| c >= t) => c.max(0.0),
        Rule::Trust => 0.0,
        Rule::Filter if c >= tau.unwrap_or(0.0) => 1.0,
        Rule::Filter => 0.0,
    }
}

/// Streaming form of [`aggregate`]: add updates as they arrive (memory is
/// O(dimension), not O(workers)), then [`Accumulator::finish`].
#[derive(Clone, Debug)]
pub struct Accumulator {
    reference: Vec<f32>,
    rule: Rule,
    threshold: Option<f32>,
    k_min: usize,
    sum: Vec<f64>,
    total: f64,
    positive: usize,
}

impl Accumulator {
    /// An empty aggregate against `reference` (ĝ₀).
    pub fn new(reference: Vec<f32>, rule: Rule, threshold: Option<f32>, k_min: usize) -> Self {
        Accumulator {
            sum: vec![0.0; reference.len()],
            reference,
            rule,
            threshold,
            k_min: k_min.max(1),
            total: 0.0,
            positive: 0,
        }
    }

    /// The reference update.
    pub fn reference(&self) -> &[f32] {
        &self.reference
    }

    /// Adds one (unit-norm) update and returns its weight. An update of the
    /// wrong length gets weight 0.
    pub fn add(&mut self, update: &[f32]) -> f32 {
        if update.len() != self.reference.len() {
            return 0.0;
        }
        let w = weight(cosine(update, &self.reference), self.rule, self.threshold);
        if w > 0.0 {
            for (a, &x) in self.sum.iter_mut().zip(update) {
                *a += w * f64::from(x);
            }
            self.total += w;
            self.positive += 1;
        }
        w as f32
    }

    /// Updates with positive weight so far.
    pub fn positive(&self) -> usize {
        self.positive
    }

    /// The fewest positive weights [`Accumulator::finish`] needs.
    pub fn k_min(&self) -> usize {
        self.k_min
    }

    /// ‖ĝ₀‖ · Σ wᵢ·uᵢ / Σ wᵢ, or `None` with fewer than `k_min` positive weights.
    pub fn finish(self) -> Option<Vec<f32>> {
        if self.positive < self.k_min || self.total <= 0.0 {
            return None;
        }
        let scale = norm(&self.reference) / self.total;
        Some(self.sum.into_iter().map(|a| (a * scale) as f32).collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        normalise(v).unwrap()
    }

    #[test]
    fn normalise_rejects_zero_and_non_finite() {
        assert_eq!(normalise(&[0.0, 0.0]), Err(NormaliseError::Zero));
        assert_eq!(normalise(&[]), Err(NormaliseError::Zero));
        assert_eq!(normalise(&[1.0, f32::NAN]), Err(NormaliseError::NonFinite));
        assert_eq!(
            normalise(&[f32::INFINITY, 0.0]),
            Err(NormaliseError::NonFinite)
        );
        // Huge but finite coordinates normalise fine (the norm is taken in f64).
        let v = normalise(&[f32::MAX, f32::MAX]).unwrap();
        assert!((norm(&v) - 1.0).abs() < 1e-6);
        assert_eq!(normalise(&[3.0, 4.0]).unwrap(), vec![0.6, 0.8]);
    }

    #[test]
    fn cosine_edge_cases() {
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 0.0]), 0.0);
        assert_eq!(cosine(&[1.0, 0.0], &[1.0]), 0.0);
        assert!((cosine(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-12);
        assert!((cosine(&[1.0, 0.0], &[-2.0, 0.0]) + 1.0).abs() < 1e-12);
        assert!(cosine(&[1.0, 0.0], &[0.0, 5.0]).abs() < 1e-12);
    }

    #[test]
    fn trust_weights_and_sign_flip() {
        let reference = vec![2.0, 0.0, 0.0];
        let honest = [
            unit(&[1.0, 0.1, 0.0]),
            unit(&[1.0, -0.1, 0.0]),
            unit(&[1.0, 0.0, 0.2]),
        ];
        let mut updates: Vec<Vec<f32>> = honest.to_vec();
        // Two sign-flippers.
        updates.push(honest[0].iter().map(|x| -x).collect());
        updates.push(honest[1].iter().map(|x| -x).collect());
        let r = aggregate(&updates, &reference, Rule::Trust, None);
        assert_eq!(r.positive, 3);
        assert!(r.weights[..3].iter().all(|&w| w > 0.9));
        assert_eq!(&r.weights[3..], &[0.0, 0.0]);
        let g = r.update.unwrap();
        // The aggregate has the reference's norm when the updates agree, and
        // points along it.
        assert!(g[0] > 1.9 && g[0] <= 2.0, "{g:?}");
        assert!(cosine(&g, &reference) > 0.99);
    }

    #[test]
    fn k_min_withholds_small_aggregates() {
        let reference = vec![1.0, 0.0];
        let updates = vec![unit(&[1.0, 0.0]), unit(&[1.0, 1.0]), unit(&[-1.0, 0.0])];
        let r = aggregate(&updates, &reference, Rule::Trust, None);
        assert_eq!(r.positive, 2);
        assert_eq!(r.update, None);
        let r = aggregate_with_k_min(&updates, &reference, Rule::Trust, None, 2);
        assert!(r.update.is_some());
        // No updates at all.
        let r = aggregate(&[], &reference, Rule::Trust, None);
        assert_eq!((r.update, r.positive), (None, 0));
        // A zero reference gives no trust to anyone.
        let r = aggregate(&updates, &[0.0, 0.0], Rule::Trust, None);
        assert_eq!((r.update, r.positive), (None, 0));
    }

    #[test]
    fn threshold_and_filter() {
        let reference = vec![1.0, 0.0];
        // Cosines 1, 0.6, 0.28, -0.6.
        let updates = vec![
            unit(&[1.0, 0.0]),
            unit(&[0.6, 0.8]),
            unit(&[0.28, 0.96]),
            unit(&[-0.6, 0.8]),
        ];
        let r = aggregate_with_k_min(&updates, &reference, Rule::Trust, Some(0.5), 1);
        assert_eq!(r.positive, 2);
        assert_eq!(r.weights[2], 0.0);
        let r = aggregate_with_k_min(&updates, &reference, Rule::Filter, Some(0.5), 1);
        assert_eq!(r.weights, vec![1.0, 1.0, 0.0, 0.0]);
        let g = r.update.unwrap();
        assert!(
            (g[0] - 0.8).abs() < 1e-6 && (g[1] - 0.4).abs() < 1e-6,
            "{g:?}"
        );
        // Without a threshold the filter keeps every non-negative cosine.
        let r = aggregate_with_k_min(&updates, &reference, Rule::Filter, None, 1);
        assert_eq!(r.weights, vec![1.0, 1.0, 1.0, 0.0]);
        // A mismatched length never enters the sum.
        let r = aggregate_with_k_min(&[vec![1.0]], &reference, Rule::Filter, None, 1);
        assert_eq!((r.update, r.positive), (None, 0));
    }

    proptest! {
        #[test]
        fn aggregate_matches_the_formula(
            raw in proptest::collection::vec(proptest::collection::vec(-10f32..10.0, 6), 0..12),
            reference in proptest::collection::vec(-10f32..10.0, 6),
            tau in proptest::option::of(-1f32..1.0),
            filter in any::<bool>(),
        ) {
            let updates: Vec<Vec<f32>> = raw.iter().filter_map(|u| normalise(u).ok()).collect();
            for u in &updates {
                prop_assert!((norm(u) - 1.0).abs() < 1e-5);
            }
            let rule = if filter { Rule::Filter } else { Rule::Trust };
            let r = aggregate(&updates, &reference, rule, tau);
            prop_assert_eq!(r.weights.len(), updates.len());
            prop_assert!(r.weights.iter().all(|&w| (0.0..=1.0).contains(&w)));
            prop_assert_eq!(r.positive, r.weights.iter().filter(|&&w| w > 0.0).count());
            // Nobody below the threshold or with a negative cosine gets weight.
            for (u, &w) in updates.iter().zip(&r.weights) {
                let c = cosine(u, &reference);
                if c < f64::from(tau.unwrap_or(0.0)) || (rule == Rule::Trust && c <= 0.0) {
                    prop_assert_eq!(w, 0.0);
                }
            }
            match &r.update {
                None => prop_assert!(r.positive < DEFAULT_K_MIN || norm(&reference) == 0.0),
                Some(g) => {
                    prop_assert!(r.positive >= DEFAULT_K_MIN);
                    // A convex combination of unit vectors scaled by ‖ĝ₀‖.
                    prop_assert!(norm(g) <= norm(&reference) * (1.0 + 1e-5) + 1e-6);
                    let total: f64 = r.weights.iter().map(|&w| f64::from(w)).sum();
                    for (j, &gj) in g.iter().enumerate() {
                        let want: f64 = updates.iter().zip(&r.weights)
                            .map(|(u, &w)| f64::from(w) * f64::from(u[j])).sum::<f64>()
                            * norm(&reference) / total;
                        prop_assert!((f64::from(gj) - want).abs() < 1e-4);
                    }
                }
            }
        }
    }
}
