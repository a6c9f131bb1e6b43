//! Plaintext aggregation rules over the submitted updates of one round: the
//! baselines the secure rules and the attacks of [`crate::attack`] are
//! measured against. Pure functions; sums in f64; no randomness.
//!
//! With `n` submitted updates g₁…gₙ of dimension `d` and an assumed number
//! `f` of Byzantine workers:
//!
//! - [`fedavg`]: the coordinate-wise mean (1/n)·Σ gᵢ.
//! - [`krum`] (Blanchard et al., NeurIPS 2017): the score of gᵢ is the sum of
//!   the squared distances ‖gᵢ − gⱼ‖² to its n − f − 2 nearest other updates;
//!   Krum returns the update with the smallest score (the first on ties).
//!   Needs n − f − 2 ≥ 1.
//! - [`multi_krum`]: the mean of the `m` updates with the smallest Krum
//!   scores (scores computed once, over all n updates; ties by input order).
//!   [`PlainRule::MultiKrum`] uses m = n − f.
//! - [`median`]: the coordinate-wise median (the mean of the two middle values
//!   for an even count).
//! - [`trimmed_mean`]: per coordinate, drop the `k` largest and the `k`
//!   smallest values and average the n − 2k others. Needs n > 2k.
//!   [`PlainRule::TrimmedMean`] uses k = f.
//! - [`fltrust`]: FLTrust (Cao et al., NDSS 2021) as implemented by
//!   [`protocols::fltrust::aggregate`] with [`Rule::Trust`](protocols::fltrust::Rule):
//!   each update is first normalised to unit norm (an update that has no
//!   direction is left out), then
//!   g = ‖g₀‖ · Σ ReLU(cos(uᵢ, g₀))·uᵢ / Σ ReLU(cos(uᵢ, g₀)); no update
//!   (`None`) when fewer than [`protocols::fltrust::DEFAULT_K_MIN`] updates get
//!   a positive weight.
//!
//! Every function checks its input first and returns an error (never panics)
//! on: no updates, updates of different lengths, a non-finite coordinate, or
//! parameters out of range (n too small for Krum, n ≤ 2k for the trimmed
//! mean, m outside 1..=n).

use std::fmt;
use std::str::FromStr;

use crate::error::MlError;

/// Checks the updates and returns their common dimension.
fn check(updates: &[Vec<f32>]) -> Result<usize, MlError> {
    let first = updates
        .first()
        .ok_or_else(|| MlError::InvalidArgument("no updates to aggregate".into()))?;
    let d = first.len();
    for (i, u) in updates.iter().enumerate() {
        if u.len() != d {
            return Err(MlError::InvalidArgument(format!(
                "update {i} has {} coordinates, update 0 has {d}",
                u.len()
            )));
        }
        if u.iter().any(|x| !x.is_finite()) {
            return Err(MlError::InvalidArgument(format!(
                "update {i} has a non-finite coordinate"
            )));
        }
    }
    Ok(d)
}

/// ‖a − b‖² in f64 (equal lengths assumed).
pub(crate) fn sq_dist(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let t = f64::from(x) - f64::from(y);
            t * t
        })
        .sum()
}

/// The coordinate-wise mean of `rows` (non-empty, equal lengths `d`).
fn mean_of<'a>(rows: impl Iterator<Item = &'a Vec<f32>>, d: usize) -> Vec<f32> {
    let mut acc = vec![0f64; d];
    let mut count = 0usize;
    for u in rows {
        count += 1;
        for (a, &x) in acc.iter_mut().zip(u) {
            *a += f64::from(x);
        }
    }
    let n = count.max(1) as f64;
    acc.into_iter().map(|a| (a / n) as f32).collect()
}

/// FedAvg: the coordinate-wise mean of the updates.
pub fn fedavg(updates: &[Vec<f32>]) -> Result<Vec<f32>, MlError> {
    let d = check(updates)?;
    Ok(mean_of(updates.iter(), d))
}

/// The n × n matrix (row-major) of squared distances ‖gᵢ − gⱼ‖².
pub(crate) fn sq_distance_matrix(updates: &[Vec<f32>]) -> Vec<f64> {
    let n = updates.len();
    let mut m = vec![0f64; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let s = sq_dist(&updates[i], &updates[j]);
            m[i * n + j] = s;
            m[j * n + i] = s;
        }
    }
    m
}

/// Krum scores from an n × n squared-distance matrix: for each i, the sum of
/// the `n − f − 2` smallest ‖gᵢ − gⱼ‖², j ≠ i. The caller checks n − f − 2 ≥ 1.
pub(crate) fn krum_scores_from(sq: &[f64], n: usize, f: usize) -> Vec<f64> {
    let keep = n.saturating_sub(f + 2).max(1);
    let mut row = Vec::with_capacity(n.saturating_sub(1));
    (0..n)
        .map(|i| {
            row.clear();
            row.extend((0..n).filter(|&j| j != i).map(|j| sq[i * n + j]));
            let keep = keep.min(row.len());
            if keep == 0 {
                return 0.0;
            }
            if keep < row.len() {
                row.select_nth_unstable_by(keep - 1, f64::total_cmp);
            }
            row[..keep].iter().sum()
        })
        .collect()
}

fn check_krum(n: usize, f: usize) -> Result<(), MlError> {
    if n < f + 3 {
        return Err(MlError::InvalidArgument(format!(
            "Krum needs n − f − 2 ≥ 1; got n = {n}, f = {f}"
        )));
    }
    Ok(())
}

/// Krum scores of the updates with `f` assumed Byzantine (see the module doc).
pub fn krum_scores(updates: &[Vec<f32>], f: usize) -> Result<Vec<f64>, MlError> {
    check(updates)?;
    let n = updates.len();
    check_krum(n, f)?;
    Ok(krum_scores_from(&sq_distance_matrix(updates), n, f))
}

/// The index of the smallest score (the first on ties).
pub(crate) fn argmin(scores: &[f64]) -> usize {
    let mut best = 0;
    for (i, s) in scores.iter().enumerate() {
        if s.total_cmp(&scores[best]).is_lt() {
            best = i;
        }
    }
    best
}

/// The index of the update Krum selects with `f` assumed Byzantine.
pub fn krum_select(updates: &[Vec<f32>], f: usize) -> Result<usize, MlError> {
    Ok(argmin(&krum_scores(updates, f)?))
}

/// Krum: the update with the smallest Krum score.
pub fn krum(updates: &[Vec<f32>], f: usize) -> Result<Vec<f32>, MlError> {
    let i = krum_select(updates, f)?;
    Ok(updates[i].clone())
}

/// Multi-Krum: the mean of the `m` updates with the smallest Krum scores.
pub fn multi_krum(updates: &[Vec<f32>], f: usize, m: usize) -> Result<Vec<f32>, MlError> {
    let d = check(updates)?;
    let n = updates.len();
    if m == 0 || m > n {
        return Err(MlError::InvalidArgument(format!(
            "Multi-Krum averages m ∈ 1..={n} updates; got m = {m}"
        )));
    }
    let scores = krum_scores(updates, f)?;
    let mut order: Vec<usize> = (0..n).collect();
    // Stable: ties keep input order.
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    Ok(mean_of(order[..m].iter().map(|&i| &updates[i]), d))
}

/// Calls `per_coordinate` with each coordinate's n values (in a reused
/// buffer it may reorder) and collects the results.
fn by_coordinate(
    updates: &[Vec<f32>],
    d: usize,
    mut per_coordinate: impl FnMut(&mut [f32]) -> f32,
) -> Vec<f32> {
    let mut col = vec![0f32; updates.len()];
    (0..d)
        .map(|j| {
            for (c, u) in col.iter_mut().zip(updates) {
                *c = u[j];
            }
            per_coordinate(&mut col)
        })
        .collect()
}

/// The median of a non-empty slice (reordered): the middle value, or the mean
/// of the two middle values for an even count.
pub(crate) fn median_in_place(v: &mut [f32]) -> f32 {
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    let mid = n / 2;
    let (left, &mut upper, _) = v.select_nth_unstable_by(mid, f32::total_cmp);
    if n % 2 == 1 {
        return upper;
    }
    // The lower middle value is the largest of the left part.
    let lower = left.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    ((f64::from(lower) + f64::from(upper)) / 2.0) as f32
}

/// The coordinate-wise median.
pub fn median(updates: &[Vec<f32>]) -> Result<Vec<f32>, MlError> {
    let d = check(updates)?;
    Ok(by_coordinate(updates, d, median_in_place))
}

/// The coordinate-wise trimmed mean: drop the `k` largest and the `k`
/// smallest values of each coordinate, average the rest.
pub fn trimmed_mean(updates: &[Vec<f32>], k: usize) -> Result<Vec<f32>, MlError> {
    let d = check(updates)?;
    let n = updates.len();
    if n <= 2 * k {
        return Err(MlError::InvalidArgument(format!(
            "the trimmed mean drops 2k = {} of n = {n} values per coordinate; need n > 2k",
            2 * k
        )));
    }
    let kept = n - 2 * k;
    Ok(by_coordinate(updates, d, |col| {
        // Afterwards col[..k] holds the k smallest values, col[k + kept..] the k
        // largest, and col[k..k + kept] the rest (in some order).
        if k > 0 {
            col.select_nth_unstable_by(k, f32::total_cmp);
            col[k..].select_nth_unstable_by(kept - 1, f32::total_cmp);
        }
        let s: f64 = col[k..k + kept].iter().map(|&x| f64::from(x)).sum();
        (s / kept as f64) as f32
    }))
}

/// Plaintext FLTrust against the server's reference update `reference` (g₀),
/// via [`protocols::fltrust::aggregate`] (ReLU(cos) trust, no threshold, the
/// default `k_min`). Updates are normalised first; one without a direction
/// (zero) is left out. `None` when too few updates get positive trust.
pub fn fltrust(updates: &[Vec<f32>], reference: &[f32]) -> Result<Option<Vec<f32>>, MlError> {
    let d = check(updates)?;
    if reference.len() != d {
        return Err(MlError::InvalidArgument(format!(
            "the reference update has {} coordinates, the updates {d}",
            reference.len()
        )));
    }
    if reference.iter().any(|x| !x.is_finite()) {
        return Err(MlError::InvalidArgument(
            "the reference update has a non-finite coordinate".into(),
        ));
    }
    let units: Vec<Vec<f32>> = updates
        .iter()
        .filter_map(|u| protocols::fltrust::normalise(u).ok())
        .collect();
    Ok(
        protocols::fltrust::aggregate(&units, reference, protocols::fltrust::Rule::Trust, None)
            .update,
    )
}

/// A plaintext aggregation rule, by name: `fedavg`, `krum`, `multi-krum`,
/// `median`, `trimmed-mean`, `fltrust`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum PlainRule {
    /// [`fedavg`].
    FedAvg,
    /// [`krum`] with f = the assumed number of Byzantine workers.
    Krum,
    /// [`multi_krum`] with f as assumed and m = n − f.
    MultiKrum,
    /// [`median`].
    Median,
    /// [`trimmed_mean`] with k = f.
    TrimmedMean,
    /// [`fltrust`] (needs the reference update).
    FlTrust,
}

/// The names [`PlainRule`] parses, for error messages and help texts.
pub const PLAIN_RULE_NAMES: &str = "fedavg, krum, multi-krum, median, trimmed-mean, fltrust";

impl PlainRule {
    /// Every rule, in the order of [`PLAIN_RULE_NAMES`].
    pub const ALL: [PlainRule; 6] = [
        PlainRule::FedAvg,
        PlainRule::Krum,
        PlainRule::MultiKrum,
        PlainRule::Median,
        PlainRule::TrimmedMean,
        PlainRule::FlTrust,
    ];

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            PlainRule::FedAvg => "fedavg",
            PlainRule::Krum => "krum",
            PlainRule::MultiKrum => "multi-krum",
            PlainRule::Median => "median",
            PlainRule::TrimmedMean => "trimmed-mean",
            PlainRule::FlTrust => "fltrust",
        }
    }

    /// Whether the rule needs the server's reference update g₀.
    pub fn needs_reference(self) -> bool {
        self == PlainRule::FlTrust
    }

    /// Aggregates the submitted `updates`, assuming `assumed_byzantine` of
    /// them are Byzantine (Krum's and Multi-Krum's f, the trimmed mean's k;
    /// ignored by the others). `reference` is g₀ for FLTrust (an error when
    /// missing; ignored by the others). `Ok(None)`: the rule produces no
    /// update this round (FLTrust with too few trusted updates).
    pub fn aggregate(
        &self,
        updates: &[Vec<f32>],
        assumed_byzantine: usize,
        reference: Option<&[f32]>,
    ) -> Result<Option<Vec<f32>>, MlError> {
        let f = assumed_byzantine;
        match self {
            PlainRule::FedAvg => fedavg(updates).map(Some),
            PlainRule::Krum => krum(updates, f).map(Some),
            PlainRule::MultiKrum => {
                let n = updates.len();
                check(updates)?;
                check_krum(n, f)?;
                multi_krum(updates, f, n - f).map(Some)
            }
            PlainRule::Median => median(updates).map(Some),
            PlainRule::TrimmedMean => trimmed_mean(updates, f).map(Some),
            PlainRule::FlTrust => {
                let g0 = reference.ok_or_else(|| {
                    MlError::InvalidArgument("fltrust needs the reference update g₀".into())
                })?;
                fltrust(updates, g0)
            }
        }
    }
}

impl fmt::Display for PlainRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PlainRule {
    type Err = MlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        PlainRule::ALL
            .into_iter()
            .find(|r| r.name() == t)
            .ok_or_else(|| MlError::Parse {
                what: "plaintext aggregation rule",
                input: s.to_owned(),
                expected: PLAIN_RULE_NAMES,
            })
    }
}

impl From<PlainRule> for String {
    fn from(v: PlainRule) -> String {
        v.to_string()
    }
}

impl TryFrom<String> for PlainRule {
    type Error = MlError;
    fn try_from(s: String) -> Result<Self, MlError> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
    }

    #[test]
    fn fedavg_is_the_mean() {
        // (1+3+5)/3 = 3, (0+0+3)/3 = 1.
        let u = vec![vec![1.0, 0.0], vec![3.0, 0.0], vec![5.0, 3.0]];
        assert!(close(&fedavg(&u).unwrap(), &[3.0, 1.0]));
    }

    #[test]
    fn krum_by_hand() {
        // Five points on a line (dimension 2, second coordinate 0):
        // 0, 1, 2, 3, 100. n = 5, f = 1: each score sums the n − f − 2 = 2
        // smallest squared distances to the others.
        //   0:  to 1,2,3,100 → 1, 4, 9, 10000 → 1 + 4 = 5
        //   1:  → 1, 1, 4, 9801 → 2
        //   2:  → 4, 1, 1, 9604 → 2
        //   3:  → 9, 4, 1, 9409 → 5
        //   100: → 9409 + 9604 = 19013
        let u: Vec<Vec<f32>> = [0.0, 1.0, 2.0, 3.0, 100.0]
            .iter()
            .map(|&x| vec![x, 0.0])
            .collect();
        let s = krum_scores(&u, 1).unwrap();
        assert_eq!(s, vec![5.0, 2.0, 2.0, 5.0, 19013.0]);
        // Ties go to the first.
        assert_eq!(krum_select(&u, 1).unwrap(), 1);
        assert_eq!(krum(&u, 1).unwrap(), vec![1.0, 0.0]);
        // Multi-Krum with m = 4: the mean of points 1, 2, 0, 3 = 1.5.
        assert!(close(&multi_krum(&u, 1, 4).unwrap(), &[1.5, 0.0]));
        // m = 2: points 1 and 2.
        assert!(close(&multi_krum(&u, 1, 2).unwrap(), &[1.5, 0.0]));
        // m = 3: 1, 2 and then 0 (ties by input order) → 1.
        assert!(close(&multi_krum(&u, 1, 3).unwrap(), &[1.0, 0.0]));
        // The rule uses m = n − f = 4.
        assert!(close(
            &PlainRule::MultiKrum
                .aggregate(&u, 1, None)
                .unwrap()
                .unwrap(),
            &[1.5, 0.0]
        ));
        // n − f − 2 must be ≥ 1.
        assert!(krum(&u, 3).is_err());
        assert!(krum(&u, 2).is_ok());
        assert!(multi_krum(&u, 1, 0).is_err());
        assert!(multi_krum(&u, 1, 6).is_err());
    }

    #[test]
    fn median_odd_and_even() {
        let u = vec![vec![5.0, -1.0], vec![1.0, 7.0], vec![3.0, 2.0]];
        assert_eq!(median(&u).unwrap(), vec![3.0, 2.0]);
        let mut u4 = u.clone();
        u4.push(vec![100.0, 0.0]);
        // Column 0: 1, 3, 5, 100 → (3 + 5)/2 = 4; column 1: −1, 0, 2, 7 → 1.
        assert_eq!(median(&u4).unwrap(), vec![4.0, 1.0]);
        assert_eq!(median(&[vec![2.5]]).unwrap(), vec![2.5]);
    }

    #[test]
    fn trimmed_mean_by_hand() {
        // Column 0: 1, 2, 3, 4, 100 → drop 1 and 100 → (2+3+4)/3 = 3.
        // Column 1: −50, 0, 0, 6, 9 → drop −50 and 9 → 2.
        let u = vec![
            vec![100.0, 0.0],
            vec![1.0, 9.0],
            vec![3.0, -50.0],
            vec![2.0, 6.0],
            vec![4.0, 0.0],
        ];
        assert!(close(&trimmed_mean(&u, 1).unwrap(), &[3.0, 2.0]));
        // k = 2 leaves the median.
        assert!(close(&trimmed_mean(&u, 2).unwrap(), &[3.0, 0.0]));
        // k = 0 is the mean.
        assert!(close(&trimmed_mean(&u, 0).unwrap(), &fedavg(&u).unwrap()));
        assert!(trimmed_mean(&u, 3).is_err());
    }

    #[test]
    fn fltrust_reuses_the_fltrust_module() {
        let g0 = vec![2.0, 0.0];
        // Unit updates (1,0) ×2, (0.6,0.8); and a flipped (−3,0) (trust 0).
        let u = vec![
            vec![5.0, 0.0],
            vec![1.0, 0.0],
            vec![3.0, 4.0],
            vec![-3.0, 0.0],
        ];
        // Weights 1, 1, 0.6, 0 → 2 · (1·(1,0) + 1·(1,0) + 0.6·(0.6,0.8)) / 2.6
        //   = 2 · (2.36, 0.48) / 2.6.
        let want = [2.0 * 2.36 / 2.6, 2.0 * 0.48 / 2.6];
        let got = PlainRule::FlTrust
            .aggregate(&u, 0, Some(&g0))
            .unwrap()
            .unwrap();
        assert!(close(&got, &want), "{got:?}");
        assert!(PlainRule::FlTrust.aggregate(&u, 0, None).is_err());
        // Only two trusted updates: no aggregate.
        assert_eq!(fltrust(&u[1..], &g0).unwrap(), None);
        assert!(fltrust(&u, &[1.0]).is_err());
    }

    #[test]
    fn bad_inputs_are_errors() {
        for rule in PlainRule::ALL {
            assert!(rule.aggregate(&[], 0, Some(&[1.0])).is_err(), "{rule}");
            let ragged = vec![vec![1.0, 2.0], vec![1.0], vec![0.0, 0.0], vec![0.0, 0.0]];
            assert!(rule.aggregate(&ragged, 0, Some(&[1.0, 0.0])).is_err());
            let nan = vec![vec![f32::NAN, 0.0]; 4];
            assert!(rule.aggregate(&nan, 0, Some(&[1.0, 0.0])).is_err());
        }
    }

    #[test]
    fn names_round_trip() {
        for rule in PlainRule::ALL {
            assert_eq!(rule.to_string().parse::<PlainRule>().unwrap(), rule);
        }
        assert_eq!(
            " Multi-Krum ".parse::<PlainRule>().unwrap(),
            PlainRule::MultiKrum
        );
        let err = "bulyan".parse::<PlainRule>().unwrap_err().to_string();
        assert!(
            err.contains("trimmed-mean") && err.contains("bulyan"),
            "{err}"
        );
    }

    proptest! {
        #[test]
        fn coordinate_rules_match_sorting(
            raw in proptest::collection::vec(proptest::collection::vec(-10f32..10.0, 3), 1..9),
            k in 0usize..4,
        ) {
            let n = raw.len();
            let med = median(&raw).unwrap();
            for j in 0..3 {
                let mut col: Vec<f32> = raw.iter().map(|u| u[j]).collect();
                col.sort_by(f32::total_cmp);
                let want = if n % 2 == 1 {
                    col[n / 2]
                } else {
                    (col[n / 2 - 1] + col[n / 2]) / 2.0
                };
                prop_assert!((med[j] - want).abs() < 1e-5);
                if n > 2 * k {
                    let tm = trimmed_mean(&raw, k).unwrap();
                    let s: f32 = col[k..n - k].iter().sum();
                    prop_assert!((tm[j] - s / (n - 2 * k) as f32).abs() < 1e-4);
                }
            }
        }
    }
}
