//! Byzantine attacks: what the f malicious workers of a round submit instead
//! of their benign updates. Pure, deterministic functions (randomness only
//! from the `rng` argument), in update space (Δ = local model − global model).
//!
//! # Knowledge model
//!
//! [`Attack::craft`] gets the attackers' own benign deltas (`own`, one per
//! attacker that takes part this round, trained honestly on its own data) and
//! an [`AttackView`] with the benign deltas of the *honest* workers that the
//! colluding attackers know (`view.honest`, not including `own`). The set the
//! statistics below are taken over is the **known set** K = `own` ∪
//! `view.honest`, N = |K|. By default (the worker process, the eval harness)
//! `view.honest` holds every honest worker's benign delta of the round: full
//! knowledge, as in Fang et al. and Shejwalkar & Houmansadr. With
//! `view.honest` empty, the attackers only know their own data (partial
//! knowledge). Where an attack simulates the server, the server sees
//! `view.honest` plus the crafted updates.
//!
//! Notation: μ and σ are the coordinate-wise mean and (population, 1/N)
//! standard deviation over K; n = `view.workers` (federation size) and
//! f = `view.byzantine` (Byzantine workers in the federation). [`Attack::craft`]
//! returns one update per entry of `own`, in the same order.
//!
//! # The attacks
//!
//! - `none`: the benign update Δ.
//! - `sign-flip`: −Δ.
//! - `scale:K`: K·Δ (K finite; no default). Rules that normalise updates
//!   (FLTrust, the secure robust rules) normalise the factor away; without
//!   clipping it is a plain ×K.
//! - `gaussian[:SIGMA]`: every coordinate i.i.d. N(0, σ²), default σ = 1; the
//!   benign update is ignored (only its dimension is used).
//! - `label-flip`: data poisoning: the attacker trains on labels y ↦ 9 − y
//!   ([`flip_labels`]; the caller does this, see [`Attack::poisons_labels`])
//!   and submits the resulting update as is.
//! - `alie[:Z]` (Baruch et al., NeurIPS 2019, "A Little Is Enough"): every
//!   attacker submits μ − z·σ. Default z (the paper's): with
//!   s = ⌊n/2 + 1⌋ − f, z = Φ⁻¹((n − s)/n) ([`alie_default_z`], Φ⁻¹ by
//!   [`inv_norm_cdf`]); z ≤ 0 (few attackers) is raised to [`ALIE_MIN_Z`],
//!   and s ≤ 0 (a Byzantine majority) gives [`ALIE_MAX_Z`].
//! - `ipm[:EPS]` (Xie, Koyejo & Gupta, UAI 2019, "Fall of Empires": inner-product
//!   manipulation): every
//!   attacker submits −ε·μ, default ε = 0.5.
//! - `min-max`, `min-sum` (Shejwalkar & Houmansadr, NDSS 2021, the
//!   aggregation-agnostic attacks with the "std" perturbation): every attacker
//!   submits m(γ) = μ + γ·p with p = −σ, γ the largest value a binary search
//!   finds such that
//!   - min-max: maxᵢ ‖m − gᵢ‖ ≤ max_{i,j} ‖gᵢ − gⱼ‖,
//!   - min-sum: Σᵢ ‖m − gᵢ‖² ≤ maxⱼ Σᵢ ‖gⱼ − gᵢ‖²,
//!
//!   over gᵢ, gⱼ ∈ K. The search starts at γ = [`MIN_MAX_GAMMA_INIT`] with
//!   step γ/2; a γ that satisfies the constraint is kept and the next try is
//!   γ + step, otherwise γ − step; the step halves each time, until the last
//!   feasible γ and the current one differ by less than
//!   [`MIN_MAX_TOLERANCE`] (at most 64 steps; γ = 0, i.e. μ, when nothing
//!   tried is feasible).
//! - `fang-krum` (Fang et al., USENIX Security 2020, the full-knowledge
//!   attack on Krum, here in update space): with s = sign(μ), every attacker
//!   submits −λ·s (all the same; the paper's optional small perturbations of
//!   the other copies are left out). λ starts at the paper's upper bound
//!   λ₀ = min_{i} Σ_{l ∈ Γᵢ} ‖gₗ − gᵢ‖ / ((n' − 2f − 1)·√d) + maxᵢ ‖gᵢ‖ / √d
//!   (i over the honest updates, Γᵢ the n' − f − 2 honest updates nearest to
//!   gᵢ, n' = honest + attackers this round, d the dimension; the first
//!   denominator at least 1) and halves until Krum with f = `view.byzantine`
//!   over `view.honest` plus the crafted updates selects a crafted one, or
//!   the next λ would be below [`FANG_MIN_LAMBDA`] (then the last λ is used).
//! - `fang-trim` (Fang et al., the full-knowledge attack on the trimmed mean
//!   and the median): per coordinate j with sⱼ = sign(μⱼ) and wmaxⱼ, wminⱼ
//!   the largest and smallest value of K, b = 2, each attacker draws
//!   uniformly (with `rng`, independently per attacker and coordinate) from
//!   - sⱼ > 0 (benign move up, push down): [wminⱼ/b, wminⱼ] if wminⱼ > 0,
//!     else [b·wminⱼ, wminⱼ];
//!   - sⱼ ≤ 0: [wmaxⱼ, b·wmaxⱼ] if wmaxⱼ > 0, else [wmaxⱼ, wmaxⱼ/b].
//! - `adaptive-fltrust` (after Cao et al., NDSS 2021, §adaptive attack): the
//!   attacker knows the server's root data and hence its reference update g₀
//!   (`view.reference`). The paper solves an optimisation problem over the
//!   malicious updates (approximately, by gradient ascent on the deviation
//!   of the aggregate). This is a principled one-parameter version: with
//!   ĝ₀ = g₀/‖g₀‖ and v the unit vector of −μ with its component along ĝ₀
//!   removed, every attacker submits the unit vector
//!   u(θ) = cos θ·ĝ₀ + sin θ·v, θ on the grid 0°, 1°, …, 90°, choosing the θ
//!   that maximises the damage ⟨g(θ), −μ/‖μ‖⟩ where g(θ) is FLTrust's
//!   aggregate ([`protocols::fltrust`], ReLU(cos) trust, no threshold, default
//!   k_min, scaled by ‖g₀‖) of the unit-normalised `view.honest` plus one
//!   copy of u(θ) per attacker; no aggregate counts as damage 0, ties go to
//!   the smaller θ. (θ = 0 gets full trust but pushes along g₀; θ = 90° pushes
//!   along −μ but gets no trust.) If −μ is parallel to g₀, θ = 0.

use std::fmt;
use std::str::FromStr;

use rand::{Rng, RngExt};
use rand_distr::{Distribution, Normal};

use crate::data::Dataset;
use crate::error::MlError;
use crate::model::NUM_CLASSES;
use protocols::fltrust::{Accumulator, DEFAULT_K_MIN, Rule};

/// The attack names [`Attack`] parses (for help texts and error messages).
pub const ATTACK_NAMES: &str = "none, sign-flip, scale:K, gaussian[:SIGMA], label-flip, \
     alie[:Z], ipm[:EPS], min-max, min-sum, fang-krum, fang-trim, adaptive-fltrust";

/// Default σ of `gaussian`.
pub const GAUSSIAN_DEFAULT_SIGMA: f32 = 1.0;
/// Default ε of `ipm`.
pub const IPM_DEFAULT_EPS: f32 = 0.5;
/// ALIE's z when the paper's formula gives z ≤ 0 (too few attackers).
pub const ALIE_MIN_Z: f64 = 0.1;
/// ALIE's z when the formula has no finite value (s ≤ 0: f ≥ ⌊n/2 + 1⌋).
pub const ALIE_MAX_Z: f64 = 5.0;
/// First γ of the min-max / min-sum search.
pub const MIN_MAX_GAMMA_INIT: f64 = 10.0;
/// The min-max / min-sum search stops when successive γ differ by less.
pub const MIN_MAX_TOLERANCE: f64 = 1e-5;
/// Smallest λ the fang-krum search tries.
pub const FANG_MIN_LAMBDA: f64 = 1e-5;
/// fang-trim's b.
pub const FANG_TRIM_B: f32 = 2.0;

/// An attack of the Byzantine workers, by name (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Attack {
    /// `none`.
    None,
    /// `sign-flip`: −Δ.
    SignFlip,
    /// `scale:K`: K·Δ.
    Scale(f32),
    /// `gaussian[:SIGMA]`: i.i.d. N(0, σ²) coordinates.
    Gaussian(f32),
    /// `label-flip`: train on y ↦ 9 − y, submit as is.
    LabelFlip,
    /// `alie[:Z]`: μ − z·σ; `None` is the paper's z for n and f.
    Alie(Option<f32>),
    /// `ipm[:EPS]`: −ε·μ.
    Ipm(f32),
    /// `min-max`.
    MinMax,
    /// `min-sum`.
    MinSum,
    /// `fang-krum`.
    FangKrum,
    /// `fang-trim`.
    FangTrim,
    /// `adaptive-fltrust`.
    AdaptiveFltrust,
}

/// What the colluding attackers know in a round besides their own updates.
#[derive(Clone, Copy, Debug)]
pub struct AttackView<'a> {
    /// The benign deltas of the honest workers the attackers know (not the
    /// attackers' own; every honest worker's under full knowledge).
    pub honest: &'a [Vec<f32>],
    /// n: workers in the federation (ALIE's default z).
    pub workers: usize,
    /// f: Byzantine workers in the federation (ALIE's default z; the f of
    /// the Krum the fang-krum attack simulates).
    pub byzantine: usize,
    /// The server's reference update g₀ (needed by `adaptive-fltrust`).
    pub reference: Option<&'a [f32]>,
}

impl Attack {
    /// Whether the attack uses the honest workers' benign updates (collusion).
    pub fn needs_benign(&self) -> bool {
        matches!(
            self,
            Attack::Alie(_)
                | Attack::Ipm(_)
                | Attack::MinMax
                | Attack::MinSum
                | Attack::FangKrum
                | Attack::FangTrim
                | Attack::AdaptiveFltrust
        )
    }

    /// Whether the attack needs the server's reference update g₀.
    pub fn needs_reference(&self) -> bool {
        matches!(self, Attack::AdaptiveFltrust)
    }

    /// Whether the attackers train on flipped labels ([`flip_labels`]).
    pub fn poisons_labels(&self) -> bool {
        matches!(self, Attack::LabelFlip)
    }

    /// The malicious updates of one round, one per entry of `own` (the
    /// attackers' own benign deltas), in that order. See the module doc.
    ///
    /// Errors: updates of different lengths or with non-finite coordinates,
    /// a missing or mismatched reference for `adaptive-fltrust`, a zero
    /// benign mean where the attack needs its direction, `fang-krum` with
    /// fewer than f + 3 updates in the simulated round.
    pub fn craft<R: Rng + ?Sized>(
        &self,
        own: &[Vec<f32>],
        view: &AttackView<'_>,
        rng: &mut R,
    ) -> Result<Vec<Vec<f32>>, MlError> {
        if own.is_empty() {
            return Ok(Vec::new());
        }
        let d = check_dims(own, view.honest)?;
        let copies = |u: Vec<f32>| vec![u; own.len()];
        Ok(match *self {
            Attack::None | Attack::LabelFlip => own.to_vec(),
            Attack::SignFlip => own.iter().map(|u| u.iter().map(|x| -x).collect()).collect(),
            Attack::Scale(k) => own
                .iter()
                .map(|u| u.iter().map(|x| k * x).collect())
                .collect(),
            Attack::Gaussian(sigma) => {
                let normal = Normal::new(0.0f32, sigma)
                    .map_err(|e| MlError::InvalidArgument(format!("gaussian σ = {sigma}: {e}")))?;
                own.iter()
                    .map(|u| (0..u.len()).map(|_| normal.sample(rng)).collect())
                    .collect()
            }
            Attack::Alie(z) => {
                let z = match z {
                    Some(z) => f64::from(z),
                    None => alie_default_z(view.workers, view.byzantine),
                };
                let st = Stats::new(own, view.honest, d);
                copies(
                    st.mean
                        .iter()
                        .zip(&st.std)
                        .map(|(m, s)| (m - z * s) as f32)
                        .collect(),
                )
            }
            Attack::Ipm(eps) => {
                let st = Stats::new(own, view.honest, d);
                let eps = f64::from(eps);
                copies(st.mean.iter().map(|m| (-eps * m) as f32).collect())
            }
            Attack::MinMax | Attack::MinSum => {
                let st = Stats::new(own, view.honest, d);
                let known: Vec<&[f32]> = known(own, view.honest).collect();
                let gamma = min_max_gamma(&known, &st, *self == Attack::MinMax);
                copies(st.shifted(gamma))
            }
            Attack::FangKrum => copies(fang_krum(own, view, d)?),
            Attack::FangTrim => {
                let st = Stats::new(own, view.honest, d);
                fang_trim(own.len(), &st, rng)
            }
            Attack::AdaptiveFltrust => {
                let sim = FltrustSim::new(own, view, d)?;
                copies(sim.update(sim.best_angle()))
            }
        })
    }
}

/// The known set K = own ∪ honest.
fn known<'a>(own: &'a [Vec<f32>], honest: &'a [Vec<f32>]) -> impl Iterator<Item = &'a [f32]> {
    own.iter().chain(honest).map(Vec::as_slice)
}

/// Checks that every update has the same length and finite coordinates.
fn check_dims(own: &[Vec<f32>], honest: &[Vec<f32>]) -> Result<usize, MlError> {
    let d = own.first().map_or(0, Vec::len);
    for u in known(own, honest) {
        if u.len() != d {
            return Err(MlError::InvalidArgument(format!(
                "attack: updates of {} and {d} coordinates",
                u.len()
            )));
        }
        if u.iter().any(|x| !x.is_finite()) {
            return Err(MlError::InvalidArgument(
                "attack: a benign update has a non-finite coordinate".into(),
            ));
        }
    }
    Ok(d)
}

/// Coordinate-wise statistics of the known set, in f64.
struct Stats {
    mean: Vec<f64>,
    /// Population standard deviation.
    std: Vec<f64>,
    min: Vec<f32>,
    max: Vec<f32>,
}

impl Stats {
    fn new(own: &[Vec<f32>], honest: &[Vec<f32>], d: usize) -> Stats {
        let mut sum = vec![0f64; d];
        let mut min = vec![f32::INFINITY; d];
        let mut max = vec![f32::NEG_INFINITY; d];
        let mut count = 0usize;
        for u in known(own, honest) {
            count += 1;
            for j in 0..d {
                sum[j] += f64::from(u[j]);
                min[j] = min[j].min(u[j]);
                max[j] = max[j].max(u[j]);
            }
        }
        let n = count.max(1) as f64;
        let mean: Vec<f64> = sum.into_iter().map(|s| s / n).collect();
        let mut var = vec![0f64; d];
        for u in known(own, honest) {
            for j in 0..d {
                let t = f64::from(u[j]) - mean[j];
                var[j] += t * t;
            }
        }
        let std = var.into_iter().map(|v| (v / n).sqrt()).collect();
        Stats {
            mean,
            std,
            min,
            max,
        }
    }

    /// μ − γ·σ.
    fn shifted(&self, gamma: f64) -> Vec<f32> {
        self.mean
            .iter()
            .zip(&self.std)
            .map(|(m, s)| (m - gamma * s) as f32)
            .collect()
    }
}

/// Φ⁻¹(p), the standard normal quantile (Acklam's rational approximation,
/// relative error below 1.2·10⁻⁹). −∞ at 0, +∞ at 1, NaN outside [0, 1].
pub fn inv_norm_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.02425;
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        // q = √(−2 ln p) for the lower tail.
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    }
}

/// ALIE's z for n workers of which f are Byzantine (Baruch et al. 2019):
/// s = ⌊n/2 + 1⌋ − f, z = Φ⁻¹((n − s)/n), raised to [`ALIE_MIN_Z`] when not
/// positive, [`ALIE_MAX_Z`] when s ≤ 0 (or n = 0).
pub fn alie_default_z(n: usize, f: usize) -> f64 {
    let s = (n / 2 + 1) as i64 - f as i64;
    if n == 0 || s <= 0 {
        return ALIE_MAX_Z;
    }
    let z = inv_norm_cdf((n as f64 - s as f64) / n as f64);
    if z.is_nan() {
        ALIE_MIN_Z
    } else {
        z.clamp(ALIE_MIN_Z, ALIE_MAX_Z)
    }
}

/// The min-max / min-sum γ (see the module doc). Distances are expanded as
/// ‖μ − γσ − gᵢ‖² = aᵢ − 2γ·bᵢ + γ²·c with aᵢ = ‖μ − gᵢ‖², bᵢ = ⟨μ − gᵢ, σ⟩,
/// c = ‖σ‖², so each try costs O(N).
fn min_max_gamma(known: &[&[f32]], st: &Stats, min_max: bool) -> f64 {
    let n = known.len();
    let c: f64 = st.std.iter().map(|s| s * s).sum();
    let (mut a, mut b) = (vec![0f64; n], vec![0f64; n]);
    for (i, g) in known.iter().enumerate() {
        for (j, &x) in g.iter().enumerate() {
            let t = st.mean[j] - f64::from(x);
            a[i] += t * t;
            b[i] += t * st.std[j];
        }
    }
    let sq = |i: usize, gamma: f64| a[i] - 2.0 * gamma * b[i] + gamma * gamma * c;
    // The benign bound: the largest pairwise distance (min-max) or the largest
    // sum of squared distances of one update to the others (min-sum).
    let mut bound = 0f64;
    for i in 0..n {
        let mut row = 0f64;
        for j in 0..n {
            if i != j {
                let d = crate::aggregate::sq_dist(known[i], known[j]);
                row += d;
                if min_max {
                    bound = bound.max(d);
                }
            }
        }
        if !min_max {
            bound = bound.max(row);
        }
    }
    let feasible = |gamma: f64| {
        if min_max {
            (0..n).all(|i| sq(i, gamma) <= bound)
        } else {
            (0..n).map(|i| sq(i, gamma)).sum::<f64>() <= bound
        }
    };
    let (mut gamma, mut step, mut best) = (MIN_MAX_GAMMA_INIT, MIN_MAX_GAMMA_INIT / 2.0, 0.0);
    for _ in 0..64 {
        if (best - gamma).abs() <= MIN_MAX_TOLERANCE {
            break;
        }
        if feasible(gamma) {
            best = gamma;
            gamma += step;
        } else {
            gamma -= step;
        }
        step /= 2.0;
    }
    best
}

/// The fang-krum update −λ·sign(μ) (see the module doc).
fn fang_krum(own: &[Vec<f32>], view: &AttackView<'_>, d: usize) -> Result<Vec<f32>, MlError> {
    let honest = view.honest;
    let h = honest.len();
    let n = h + own.len();
    let f = view.byzantine;
    if n < f + 3 {
        return Err(MlError::InvalidArgument(format!(
            "fang-krum simulates Krum, which needs n − f − 2 ≥ 1; got n = {n}, f = {f}"
        )));
    }
    let st = Stats::new(own, honest, d);
    let s: Vec<f32> = st
        .mean
        .iter()
        .map(|&m| {
            if m > 0.0 {
                1.0
            } else if m < 0.0 {
                -1.0
            } else {
                0.0
            }
        })
        .collect();
    let s_sq: f64 = s.iter().map(|x| f64::from(x * x)).sum();
    if s_sq == 0.0 {
        return Err(MlError::InvalidArgument(
            "fang-krum: the benign mean is zero".into(),
        ));
    }
    let sq_norm = |u: &[f32]| u.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>();
    let hh = crate::aggregate::sq_distance_matrix(honest);
    let norms: Vec<f64> = honest.iter().map(|u| sq_norm(u)).collect();
    let dots: Vec<f64> = honest
        .iter()
        .map(|u| u.iter().zip(&s).map(|(&x, &y)| f64::from(x * y)).sum())
        .collect();
    // The upper bound λ₀ (Fang et al., Eq. for λ's upper bound, update space).
    let sqrt_d = (d as f64).sqrt();
    let max_norm = known(own, honest)
        .map(|u| sq_norm(u).sqrt())
        .fold(0f64, f64::max);
    let nearest = (n - f - 2).min(h.saturating_sub(1));
    let mut lambda = if nearest > 0 {
        let mut row = Vec::with_capacity(h);
        let min_sum = (0..h)
            .map(|i| {
                row.clear();
                row.extend((0..h).filter(|&j| j != i).map(|j| hh[i * h + j].sqrt()));
                row.select_nth_unstable_by(nearest - 1, f64::total_cmp);
                row[..nearest].iter().sum::<f64>()
            })
            .fold(f64::INFINITY, f64::min);
        let denom = (n as f64 - 2.0 * f as f64 - 1.0).max(1.0);
        min_sum / (denom * sqrt_d) + max_norm / sqrt_d
    } else {
        max_norm / sqrt_d
    };
    if lambda <= 0.0 || !lambda.is_finite() {
        lambda = 1.0;
    }
    // Halve λ until Krum over honest ∪ crafted picks a crafted update.
    let mut sq = vec![0f64; n * n];
    loop {
        for i in 0..n {
            for j in 0..n {
                sq[i * n + j] = match (i < h, j < h) {
                    (true, true) => hh[i * h + j],
                    (true, false) => norms[i] + 2.0 * lambda * dots[i] + lambda * lambda * s_sq,
                    (false, true) => norms[j] + 2.0 * lambda * dots[j] + lambda * lambda * s_sq,
                    (false, false) => 0.0,
                };
            }
        }
        let pick = crate::aggregate::argmin(&crate::aggregate::krum_scores_from(&sq, n, f));
        if pick >= h || lambda / 2.0 < FANG_MIN_LAMBDA {
            break;
        }
        lambda /= 2.0;
    }
    Ok(s.iter().map(|&x| (-lambda * f64::from(x)) as f32).collect())
}

/// fang-trim: `count` independent draws (see the module doc).
fn fang_trim<R: Rng + ?Sized>(count: usize, st: &Stats, rng: &mut R) -> Vec<Vec<f32>> {
    let b = FANG_TRIM_B;
    let range = |j: usize| {
        let (lo, hi) = (st.min[j], st.max[j]);
        if st.mean[j] > 0.0 {
            if lo > 0.0 { (lo / b, lo) } else { (b * lo, lo) }
        } else if hi > 0.0 {
            (hi, b * hi)
        } else {
            (hi, hi / b)
        }
    };
    (0..count)
        .map(|_| {
            (0..st.mean.len())
                .map(|j| {
                    let (lo, hi) = range(j);
                    let t: f32 = rng.random();
                    (lo + t * (hi - lo)).clamp(lo, hi)
                })
                .collect()
        })
        .collect()
}

/// The adaptive attack's simulation of FLTrust.
struct FltrustSim {
    /// ĝ₀.
    g0_unit: Vec<f32>,
    /// v: the unit part of −μ orthogonal to ĝ₀ (`None` when −μ ∥ ĝ₀).
    v: Option<Vec<f32>>,
    /// −μ/‖μ‖.
    target: Vec<f64>,
    /// FLTrust's accumulator holding the honest unit updates.
    honest: Accumulator,
    copies: usize,
}

impl FltrustSim {
    fn new(own: &[Vec<f32>], view: &AttackView<'_>, d: usize) -> Result<FltrustSim, MlError> {
        let g0 = view.reference.ok_or_else(|| {
            MlError::InvalidArgument("adaptive-fltrust needs the reference update g₀".into())
        })?;
        if g0.len() != d {
            return Err(MlError::InvalidArgument(format!(
                "adaptive-fltrust: the reference has {} coordinates, the updates {d}",
                g0.len()
            )));
        }
        let g0_unit = protocols::fltrust::normalise(g0).map_err(|e| {
            MlError::InvalidArgument(format!("adaptive-fltrust: reference update: {e}"))
        })?;
        let st = Stats::new(own, view.honest, d);
        let mu_norm = st.mean.iter().map(|m| m * m).sum::<f64>().sqrt();
        if mu_norm <= 0.0 || !mu_norm.is_finite() {
            return Err(MlError::InvalidArgument(
                "adaptive-fltrust: the benign mean is zero".into(),
            ));
        }
        let target: Vec<f64> = st.mean.iter().map(|m| -m / mu_norm).collect();
        let along: f64 = target
            .iter()
            .zip(&g0_unit)
            .map(|(t, &g)| t * f64::from(g))
            .sum();
        let ortho: Vec<f64> = target
            .iter()
            .zip(&g0_unit)
            .map(|(t, &g)| t - along * f64::from(g))
            .collect();
        let ortho_norm = ortho.iter().map(|x| x * x).sum::<f64>().sqrt();
        let v =
            (ortho_norm > 1e-9).then(|| ortho.iter().map(|x| (x / ortho_norm) as f32).collect());
        let mut honest = Accumulator::new(g0.to_vec(), Rule::Trust, None, DEFAULT_K_MIN);
        for u in view.honest {
            if let Ok(unit) = protocols::fltrust::normalise(u) {
                honest.add(&unit);
            }
        }
        Ok(FltrustSim {
            g0_unit,
            v,
            target,
            honest,
            copies: own.len(),
        })
    }

    /// u(θ) for θ in degrees.
    fn update(&self, theta_deg: u32) -> Vec<f32> {
        let Some(v) = &self.v else {
            return self.g0_unit.clone();
        };
        let (sin, cos) = f64::from(theta_deg).to_radians().sin_cos();
        self.g0_unit
            .iter()
            .zip(v)
            .map(|(&g, &x)| (cos * f64::from(g) + sin * f64::from(x)) as f32)
            .collect()
    }

    /// ⟨FLTrust aggregate with the attackers submitting u(θ), −μ̂⟩ (0 when
    /// there is no aggregate).
    fn damage(&self, theta_deg: u32) -> f64 {
        let u = self.update(theta_deg);
        let mut acc = self.honest.clone();
        for _ in 0..self.copies {
            acc.add(&u);
        }
        acc.finish().map_or(0.0, |g| {
            g.iter()
                .zip(&self.target)
                .map(|(&x, t)| f64::from(x) * t)
                .sum()
        })
    }

    /// The θ ∈ {0°, …, 90°} of the largest damage (the smallest on ties).
    fn best_angle(&self) -> u32 {
        if self.v.is_none() {
            return 0;
        }
        let mut best = (0, self.damage(0));
        for theta in 1..=90 {
            let dmg = self.damage(theta);
            if dmg > best.1 {
                best = (theta, dmg);
            }
        }
        best.0
    }
}

/// The dataset with every label y replaced by 9 − y (`label-flip`).
pub fn flip_labels(data: &Dataset) -> Result<Dataset, MlError> {
    let top = NUM_CLASSES - 1;
    let y = data
        .y
        .iter()
        .map(|&label| {
            top.checked_sub(usize::from(label))
                .and_then(|l| u8::try_from(l).ok())
                .ok_or(MlError::InvalidLabel {
                    label,
                    classes: NUM_CLASSES,
                })
        })
        .collect::<Result<Vec<u8>, MlError>>()?;
    Dataset::new(data.x.clone(), y)
}

impl fmt::Display for Attack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attack::None => f.write_str("none"),
            Attack::SignFlip => f.write_str("sign-flip"),
            Attack::Scale(k) => write!(f, "scale:{k}"),
            Attack::Gaussian(s) => write!(f, "gaussian:{s}"),
            Attack::LabelFlip => f.write_str("label-flip"),
            Attack::Alie(None) => f.write_str("alie"),
            Attack::Alie(Some(z)) => write!(f, "alie:{z}"),
            Attack::Ipm(e) => write!(f, "ipm:{e}"),
            Attack::MinMax => f.write_str("min-max"),
            Attack::MinSum => f.write_str("min-sum"),
            Attack::FangKrum => f.write_str("fang-krum"),
            Attack::FangTrim => f.write_str("fang-trim"),
            Attack::AdaptiveFltrust => f.write_str("adaptive-fltrust"),
        }
    }
}

impl FromStr for Attack {
    type Err = MlError;

    /// Parses a name of [`ATTACK_NAMES`] (case-insensitive). Parameters must
    /// be finite; σ and ε positive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MlError::Parse {
            what: "attack",
            input: s.to_owned(),
            expected: "one of none, sign-flip, scale:K, gaussian[:SIGMA], label-flip, \
                       alie[:Z], ipm[:EPS], min-max, min-sum, fang-krum, fang-trim, \
                       adaptive-fltrust (K, Z finite; SIGMA, EPS finite and > 0)",
        };
        let t = s.trim().to_ascii_lowercase();
        let (name, param) = match t.split_once(':') {
            Some((n, p)) => (n, Some(p.trim())),
            None => (t.as_str(), None),
        };
        let number = |p: &str| p.parse::<f32>().ok().filter(|x| x.is_finite());
        let positive = |p: &str| number(p).filter(|&x| x > 0.0);
        let plain = |a: Attack| if param.is_none() { Ok(a) } else { Err(err()) };
        match name {
            "none" => plain(Attack::None),
            "sign-flip" => plain(Attack::SignFlip),
            "label-flip" => plain(Attack::LabelFlip),
            "min-max" => plain(Attack::MinMax),
            "min-sum" => plain(Attack::MinSum),
            "fang-krum" => plain(Attack::FangKrum),
            "fang-trim" => plain(Attack::FangTrim),
            "adaptive-fltrust" => plain(Attack::AdaptiveFltrust),
            "scale" => param.and_then(number).map(Attack::Scale).ok_or_else(err),
            "gaussian" => match param {
                None => Ok(Attack::Gaussian(GAUSSIAN_DEFAULT_SIGMA)),
                Some(p) => positive(p).map(Attack::Gaussian).ok_or_else(err),
            },
            "ipm" => match param {
                None => Ok(Attack::Ipm(IPM_DEFAULT_EPS)),
                Some(p) => positive(p).map(Attack::Ipm).ok_or_else(err),
            },
            "alie" => match param {
                None => Ok(Attack::Alie(None)),
                Some(p) => number(p).map(|z| Attack::Alie(Some(z))).ok_or_else(err),
            },
            _ => Err(err()),
        }
    }
}

impl From<Attack> for String {
    fn from(v: Attack) -> String {
        v.to_string()
    }
}

impl TryFrom<String> for Attack {
    type Error = MlError;
    fn try_from(s: String) -> Result<Self, MlError> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::aggregate;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    fn view(honest: &[Vec<f32>], workers: usize, byzantine: usize) -> AttackView<'_> {
        AttackView {
            honest,
            workers,
            byzantine,
            reference: None,
        }
    }

    fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < tol)
    }

    const ALL: [Attack; 16] = [
        Attack::None,
        Attack::SignFlip,
        Attack::Scale(-3.5),
        Attack::Scale(1e-10),
        Attack::Gaussian(1.0),
        Attack::Gaussian(0.25),
        Attack::LabelFlip,
        Attack::Alie(None),
        Attack::Alie(Some(1.5)),
        Attack::Ipm(0.5),
        Attack::Ipm(3.0),
        Attack::MinMax,
        Attack::MinSum,
        Attack::FangKrum,
        Attack::FangTrim,
        Attack::AdaptiveFltrust,
    ];

    #[test]
    fn names_round_trip() {
        for a in ALL {
            assert_eq!(a.to_string().parse::<Attack>().unwrap(), a, "{a}");
        }
        // Defaults.
        assert_eq!("gaussian".parse::<Attack>().unwrap(), Attack::Gaussian(1.0));
        assert_eq!("IPM".parse::<Attack>().unwrap(), Attack::Ipm(0.5));
        assert_eq!(Attack::Ipm(0.5).to_string(), "ipm:0.5");
        assert_eq!(Attack::Scale(10.0).to_string(), "scale:10");
        assert_eq!(" alie ".parse::<Attack>().unwrap(), Attack::Alie(None));
    }

    #[test]
    fn bad_names_list_the_allowed_ones() {
        for bad in [
            "",
            "flip",
            "scale",
            "scale:",
            "scale:inf",
            "scale:NaN",
            "gaussian:0",
            "gaussian:-1",
            "ipm:0",
            "alie:x",
            "none:1",
            "min-max:2",
        ] {
            let e = bad.parse::<Attack>().unwrap_err().to_string();
            assert!(
                e.contains("fang-trim") && e.contains("scale:K"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn flags() {
        assert!(Attack::Alie(None).needs_benign());
        assert!(Attack::FangKrum.needs_benign());
        assert!(!Attack::SignFlip.needs_benign());
        assert!(!Attack::Gaussian(1.0).needs_benign());
        assert!(Attack::AdaptiveFltrust.needs_reference());
        assert!(!Attack::MinMax.needs_reference());
        assert!(Attack::LabelFlip.poisons_labels());
        assert!(!Attack::None.poisons_labels());
    }

    #[test]
    fn own_only_attacks() {
        let own = vec![vec![1.0, -2.0], vec![0.5, 0.0]];
        let v = view(&[], 10, 2);
        let mut r = rng();
        assert_eq!(Attack::None.craft(&own, &v, &mut r).unwrap(), own);
        assert_eq!(Attack::LabelFlip.craft(&own, &v, &mut r).unwrap(), own);
        assert_eq!(
            Attack::SignFlip.craft(&own, &v, &mut r).unwrap(),
            vec![vec![-1.0, 2.0], vec![-0.5, 0.0]]
        );
        assert_eq!(
            Attack::Scale(3.0).craft(&own, &v, &mut r).unwrap(),
            vec![vec![3.0, -6.0], vec![1.5, 0.0]]
        );
        assert!(Attack::SignFlip.craft(&[], &v, &mut r).unwrap().is_empty());
        // Mismatched dimensions.
        assert!(
            Attack::None
                .craft(&[vec![1.0], vec![1.0, 2.0]], &v, &mut r)
                .is_err()
        );
    }

    #[test]
    fn gaussian_has_the_right_spread_and_is_seeded() {
        let own = vec![vec![0.0; 20_000]];
        let v = view(&[], 10, 1);
        let a = Attack::Gaussian(2.0).craft(&own, &v, &mut rng()).unwrap();
        let b = Attack::Gaussian(2.0).craft(&own, &v, &mut rng()).unwrap();
        assert_eq!(a, b);
        let x = &a[0];
        assert_eq!(x.len(), 20_000);
        let mean = x.iter().map(|&t| f64::from(t)).sum::<f64>() / x.len() as f64;
        let var = x.iter().map(|&t| f64::from(t).powi(2)).sum::<f64>() / x.len() as f64;
        // Standard errors: mean 2/√20000 ≈ 0.014, variance ≈ 4·√(2/20000) = 0.04.
        assert!(mean.abs() < 0.06, "{mean}");
        assert!((var - 4.0).abs() < 0.2, "{var}");
    }

    #[test]
    fn label_flip_maps_y_to_9_minus_y() {
        let x = ndarray::Array2::zeros((4, 2));
        let d = Dataset::new(x, vec![0, 9, 3, 5]).unwrap();
        let f = flip_labels(&d).unwrap();
        assert_eq!(f.y, vec![9, 0, 6, 4]);
        assert_eq!(f.x, d.x);
        let bad = Dataset::new(ndarray::Array2::zeros((1, 2)), vec![10]).unwrap();
        assert!(flip_labels(&bad).is_err());
    }

    #[test]
    fn inverse_normal_cdf_is_accurate() {
        // Reference values of Φ⁻¹ (to 16 digits).
        for (p, want) in [
            (0.5, 0.0),
            (0.68, 0.467_698_799_114_508_35),
            (0.9, 1.281_551_565_544_600_8),
            (0.975, 1.959_963_984_540_053_6),
            (0.02, -2.053_748_910_631_822_5),
            (0.001, -3.090_232_306_167_813),
            (0.999_999, 4.753_424_308_817_089),
            (1e-10, -6.361_340_902_404_056),
        ] {
            let got = inv_norm_cdf(p);
            assert!(
                (got - want).abs() <= 1.2e-9 * want.abs().max(1.0),
                "Φ⁻¹({p}) = {got}, want {want}"
            );
        }
        assert_eq!(inv_norm_cdf(0.0), f64::NEG_INFINITY);
        assert_eq!(inv_norm_cdf(1.0), f64::INFINITY);
        assert!(inv_norm_cdf(1.5).is_nan());
    }

    #[test]
    fn alie_z_from_the_paper() {
        // n = 50, f = 10: s = ⌊50/2 + 1⌋ − 10 = 16, z = Φ⁻¹(34/50) = Φ⁻¹(0.68)
        // = 0.4677.
        assert!((alie_default_z(50, 10) - 0.467_698_799_1).abs() < 1e-8);
        // n = 100, f = 20: s = 31, z = Φ⁻¹(0.69) = 0.4959.
        assert!((alie_default_z(100, 20) - 0.495_850_347_347_453).abs() < 1e-8);
        // n = 10, f = 1: s = 5, Φ⁻¹(0.5) = 0 → raised to the minimum.
        assert_eq!(alie_default_z(10, 1), ALIE_MIN_Z);
        // A Byzantine majority: s ≤ 0.
        assert_eq!(alie_default_z(10, 6), ALIE_MAX_Z);
    }

    #[test]
    fn alie_by_hand() {
        // Known set: own (1, 0), honest (3, 2), (5, 4). μ = (3, 2),
        // σ = √(8/3) ≈ 1.63299 in both coordinates. z = 1.5:
        // μ − zσ = (3 − 2.44949, 2 − 2.44949) = (0.55051, −0.44949).
        let own = vec![vec![1.0, 0.0]];
        let honest = vec![vec![3.0, 2.0], vec![5.0, 4.0]];
        let out = Attack::Alie(Some(1.5))
            .craft(&own, &view(&honest, 50, 10), &mut rng())
            .unwrap();
        assert_eq!(out.len(), 1);
        assert!(close(&out[0], &[0.550_51, -0.449_49], 1e-4), "{out:?}");
        // The default z for n = 50, f = 10 is 0.46770: μ − 0.46770·1.63299.
        let out = Attack::Alie(None)
            .craft(&own, &view(&honest, 50, 10), &mut rng())
            .unwrap();
        let zs = 0.467_698_8 * 1.632_993_2;
        assert!(close(&out[0], &[3.0 - zs, 2.0 - zs], 1e-5), "{out:?}");
    }

    #[test]
    fn ipm_is_minus_eps_mu() {
        // μ of (1, 2), (3, −2), (2, 3) = (2, 1); ε = 0.5 → (−1, −0.5), for both attackers.
        let own = vec![vec![1.0, 2.0], vec![3.0, -2.0]];
        let honest = vec![vec![2.0, 3.0]];
        let out = Attack::Ipm(0.5)
            .craft(&own, &view(&honest, 3, 2), &mut rng())
            .unwrap();
        assert_eq!(out, vec![vec![-1.0, -0.5]; 2]);
    }

    /// max_i ‖m − gᵢ‖² and Σᵢ ‖m − gᵢ‖² over `known`.
    fn spread(m: &[f32], known: &[Vec<f32>]) -> (f64, f64) {
        let d: Vec<f64> = known.iter().map(|g| aggregate::sq_dist(m, g)).collect();
        (d.iter().copied().fold(0.0, f64::max), d.iter().sum())
    }

    #[test]
    fn min_max_and_min_sum_satisfy_their_constraints_tightly() {
        // Known set: (0,0), (2,0), (0,2), (2,2) (own first). μ = (1,1), σ = (1,1).
        // m(γ) = (1 − γ, 1 − γ). Largest benign distance² = ‖(0,0) − (2,2)‖² = 8.
        // min-max: max_i ‖m − gᵢ‖² = 2(1+γ)² (to (2,2)) ≤ 8 ⟺ γ ≤ 1.
        // min-sum: Σᵢ ‖m − gᵢ‖² = 2(1+γ)² + 2(1−γ)² + 2·((1+γ)² + (1−γ)²)
        // = 8 + 8γ²; every benign row sums to 4 + 4 + 8 = 16, so γ ≤ 1.
        let own = vec![vec![0.0, 0.0]];
        let honest = vec![vec![2.0, 0.0], vec![0.0, 2.0], vec![2.0, 2.0]];
        let all: Vec<Vec<f32>> = own.iter().chain(&honest).cloned().collect();
        for (attack, min_max) in [(Attack::MinMax, true), (Attack::MinSum, false)] {
            let out = attack
                .craft(&own, &view(&honest, 4, 1), &mut rng())
                .unwrap();
            assert_eq!(out.len(), 1);
            // γ ≈ 1 → m ≈ (0, 0).
            assert!(close(&out[0], &[0.0, 0.0], 1e-4), "{attack}: {out:?}");
            let st = Stats::new(&own, &honest, 2);
            let known: Vec<&[f32]> = all.iter().map(Vec::as_slice).collect();
            let gamma = min_max_gamma(&known, &st, min_max);
            assert!((gamma - 1.0).abs() < 1e-4, "{gamma}");
            let (mx, sum) = spread(&st.shifted(gamma), &all);
            let (mx2, sum2) = spread(&st.shifted(gamma + 1e-3), &all);
            if min_max {
                assert!(mx <= 8.0 + 1e-6 && mx2 > 8.0, "{mx} {mx2}");
            } else {
                assert!(sum <= 16.0 + 1e-6 && sum2 > 16.0, "{sum} {sum2}");
            }
        }
    }

    #[test]
    fn min_max_on_an_irregular_case() {
        let own = vec![vec![0.3, -1.0, 2.0], vec![1.1, 0.2, 0.0]];
        let honest = vec![
            vec![0.5, 0.5, 0.5],
            vec![-0.7, 0.1, 1.5],
            vec![0.9, -0.4, 0.8],
        ];
        let all: Vec<Vec<f32>> = own.iter().chain(&honest).cloned().collect();
        let bound_max = all
            .iter()
            .flat_map(|a| all.iter().map(|b| aggregate::sq_dist(a, b)))
            .fold(0.0, f64::max);
        let bound_sum = all
            .iter()
            .map(|a| all.iter().map(|b| aggregate::sq_dist(a, b)).sum::<f64>())
            .fold(0.0, f64::max);
        let st = Stats::new(&own, &honest, 3);
        let known: Vec<&[f32]> = all.iter().map(Vec::as_slice).collect();
        for min_max in [true, false] {
            let gamma = min_max_gamma(&known, &st, min_max);
            assert!(gamma > 0.0);
            let (mx, sum) = spread(&st.shifted(gamma), &all);
            let (mx2, sum2) = spread(&st.shifted(gamma + 1e-3), &all);
            if min_max {
                assert!(mx <= bound_max * (1.0 + 1e-6) && mx2 > bound_max);
            } else {
                assert!(sum <= bound_sum * (1.0 + 1e-6) && sum2 > bound_sum);
            }
        }
    }

    #[test]
    fn fang_krum_makes_krum_pick_a_malicious_update() {
        // Six spread-out honest updates with a positive mean, two attackers;
        // n = 8, f = 2, Krum sums the 4 nearest squared distances. Near 0 the
        // crafted pair scores 0 + 3·≈4.3 ≈ 13 while the best honest score is
        // 0.25 + 4 + 4 + 6.25 = 14.5 (for (2, 0, 0)); at the upper bound
        // λ₀ ≈ 2.9 the crafted updates are far away, so λ has to halve a few
        // times.
        let honest: Vec<Vec<f32>> = [
            [2.0, 0.0, 0.0],
            [0.0, 2.0, 0.0],
            [0.0, 0.0, 2.0],
            [2.0, 0.0, 0.5],
            [0.5, 2.0, 0.0],
            [0.0, 0.5, 2.0],
        ]
        .iter()
        .map(|u| u.to_vec())
        .collect();
        let own = vec![vec![1.0, 1.0, 1.0], vec![1.0, 0.5, 0.5]];
        let out = Attack::FangKrum
            .craft(&own, &view(&honest, 8, 2), &mut rng())
            .unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], out[1]);
        // −λ·sign(μ) = −λ·(1, 1, 1) with λ > 0.
        let lambda = -out[0][0];
        assert!(
            lambda > 0.0 && out[0].iter().all(|&x| x == -lambda),
            "{out:?}"
        );
        assert!(lambda < 0.5, "λ = {lambda} was not halved");
        let with = |l: f32| -> Vec<Vec<f32>> {
            honest.iter().cloned().chain(vec![vec![-l; 3]; 2]).collect()
        };
        assert!(aggregate::krum_select(&with(lambda), 2).unwrap() >= honest.len());
        // λ is the first success of the halving: 2λ was tried and failed.
        assert!(aggregate::krum_select(&with(2.0 * lambda), 2).unwrap() < honest.len());
        // Too few updates for Krum.
        assert!(
            Attack::FangKrum
                .craft(&own, &view(&honest[..1], 3, 2), &mut rng())
                .is_err()
        );
    }

    #[test]
    fn fang_trim_lands_beyond_the_benign_extremes() {
        // Coordinates: 0: all positive, mean > 0 → [wmin/2, wmin] = [0.5, 1].
        // 1: mean < 0, wmax < 0 → [wmax, wmax/2] = [−1, −0.5].
        // 2: mean > 0, wmin < 0 → [2·wmin, wmin] = [−1, −0.5].
        // 3: mean < 0, wmax > 0 → [wmax, 2·wmax] = [0.5, 1].
        let own = vec![vec![1.0, -1.0, -0.5, 0.5]];
        let honest = vec![vec![2.0, -2.0, 2.0, -2.0], vec![3.0, -3.0, 1.0, -1.0]];
        let out = Attack::FangTrim
            .craft(&own, &view(&honest, 3, 1), &mut rng())
            .unwrap();
        let ranges = [(0.5, 1.0), (-1.0, -0.5), (-1.0, -0.5), (0.5, 1.0)];
        for (j, (&x, (lo, hi))) in out[0].iter().zip(ranges).enumerate() {
            assert!(lo <= x && x <= hi, "coordinate {j}: {x} ∉ [{lo}, {hi}]");
        }
        // Several attackers draw independently, reproducibly from the rng.
        let own3 = vec![own[0].clone(); 3];
        let a = Attack::FangTrim
            .craft(&own3, &view(&honest, 5, 3), &mut rng())
            .unwrap();
        let b = Attack::FangTrim
            .craft(&own3, &view(&honest, 5, 3), &mut rng())
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(a[0], a[1]);
    }

    fn unit(v: &[f32]) -> Vec<f32> {
        protocols::fltrust::normalise(v).unwrap()
    }

    #[test]
    fn adaptive_fltrust_beats_both_extremes() {
        // g₀ = (1, 0); honest near (1, 0.4); −μ̂ ≈ (−0.93, −0.37), v = (0, −1).
        // θ = 0 submits ĝ₀ (full trust, pulls along g₀: damage ≈ −0.97);
        // θ = 90° submits (0, −1), which gets no trust (damage of the honest
        // aggregate alone ≈ −1); θ ≈ 60° gets trust 0.5 while pointing partly
        // along −μ, and does better than both.
        let honest = vec![unit(&[1.0, 0.5]), unit(&[1.0, 0.3]), unit(&[1.0, 0.4])];
        let own = vec![unit(&[1.0, 0.45]), unit(&[1.0, 0.35])];
        let g0 = [1.0f32, 0.0];
        let v = AttackView {
            honest: &honest,
            workers: 5,
            byzantine: 2,
            reference: Some(&g0),
        };
        let sim = FltrustSim::new(&own, &v, 2).unwrap();
        let best = sim.best_angle();
        assert!(best > 0 && best < 90, "{best}");
        assert!(sim.damage(best) > sim.damage(0) + 0.01);
        assert!(sim.damage(best) > sim.damage(90) + 0.01);
        let out = Attack::AdaptiveFltrust.craft(&own, &v, &mut rng()).unwrap();
        assert_eq!(out.len(), 2);
        let (s, c) = f64::from(best).to_radians().sin_cos();
        assert!(close(&out[0], &[c as f32, -s as f32], 1e-6), "{out:?}");
        // The crafted update is unit-norm and has positive cosine with g₀.
        assert!((protocols::fltrust::cosine(&out[0], &out[0]) - 1.0).abs() < 1e-9);
        assert!(protocols::fltrust::cosine(&out[0], &g0) > 0.0);
        // Without a reference it is an error.
        let v = view(&honest, 5, 2);
        assert!(Attack::AdaptiveFltrust.craft(&own, &v, &mut rng()).is_err());
    }

    proptest::proptest! {
        #[test]
        fn every_attack_gives_one_finite_update_per_attacker_or_an_error(
            raw in proptest::collection::vec(proptest::collection::vec(-5f32..5.0, 4), 1..9),
            own_count in 1usize..4,
            reference in proptest::collection::vec(-5f32..5.0, 4),
            seed in 0u64..1000,
        ) {
            let own_count = own_count.min(raw.len());
            let (own, honest) = raw.split_at(own_count);
            let v = AttackView {
                honest,
                workers: raw.len(),
                byzantine: own_count,
                reference: Some(&reference),
            };
            for a in ALL {
                let mut r = ChaCha8Rng::seed_from_u64(seed);
                match a.craft(own, &v, &mut r) {
                    Ok(out) => {
                        proptest::prop_assert_eq!(out.len(), own.len());
                        for u in &out {
                            proptest::prop_assert_eq!(u.len(), 4);
                            proptest::prop_assert!(u.iter().all(|x| x.is_finite()), "{a}: {u:?}");
                        }
                    }
                    // Krum needs n ≥ f + 3; a zero mean or reference has no direction.
                    Err(e) => proptest::prop_assert!(
                        matches!(a, Attack::FangKrum | Attack::AdaptiveFltrust),
                        "{a}: {e}"
                    ),
                }
            }
        }
    }
}
