//! Datasets, MNIST loading, and partitioning of examples among workers.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use ndarray::{Array2, Axis};
use rand::seq::SliceRandom;
use rand::{Rng, RngExt};
use rand_distr::{Distribution, Gamma};
use serde::{Deserialize, Serialize};

use crate::MlError;
use crate::idx::{self, Images};
use crate::model::{INPUT_DIM, NUM_CLASSES};

/// File name of the bundled MNIST images (10,000 shuffled digits).
pub const MNIST_IMAGES_FILE: &str = "mnist10k-images-idx3-ubyte.gz";
/// File name of the bundled MNIST labels.
pub const MNIST_LABELS_FILE: &str = "mnist10k-labels-idx1-ubyte.gz";
/// [`partition_dirichlet`] gives every worker at least this many examples (one
/// default minibatch), or `indices.len() / workers` if that is smaller.
pub const MIN_EXAMPLES_PER_WORKER: usize = 32;

/// Examples as rows of `x` (`n × d`, MNIST: `d = 784`, pixels scaled to `[0, 1]`)
/// with class labels `y` (`n` entries).
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Features, one row per example.
    pub x: Array2<f32>,
    /// Labels, one per row of `x`.
    pub y: Vec<u8>,
}

impl Dataset {
    /// Build a dataset, checking that `x` has one row per label.
    pub fn new(x: Array2<f32>, y: Vec<u8>) -> Result<Self, MlError> {
        if x.nrows() != y.len() {
            return Err(MlError::InvalidData(format!(
                "{} feature rows but {} labels",
                x.nrows(),
                y.len()
            )));
        }
        Ok(Self { x, y })
    }

    /// Convert parsed IDX images and labels (pixels divided by 255).
    pub fn from_idx(images: &Images, labels: &[u8]) -> Result<Self, MlError> {
        if images.count != labels.len() {
            return Err(MlError::InvalidData(format!(
                "{} images but {} labels",
                images.count,
                labels.len()
            )));
        }
        let pixels = images
            .pixels
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect();
        let x = Array2::from_shape_vec((images.count, images.pixels_per_image()), pixels)
            .map_err(|e| MlError::InvalidData(format!("image tensor: {e}")))?;
        Self::new(x, labels.to_vec())
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Features per example.
    pub fn num_features(&self) -> usize {
        self.x.ncols()
    }

    /// The examples at `indices` (in that order; repeats allowed).
    ///
    /// # Panics
    /// If an index is `>= self.len()`, like slice indexing. See [`Self::try_subset`].
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        Dataset {
            x: self.x.select(Axis(0), indices),
            y: indices.iter().map(|&i| self.y[i]).collect(),
        }
    }

    /// Like [`Self::subset`] but returns an error on an out-of-range index.
    pub fn try_subset(&self, indices: &[usize]) -> Result<Dataset, MlError> {
        match indices.iter().find(|&&i| i >= self.len()) {
            Some(i) => Err(MlError::InvalidArgument(format!(
                "example index {i} out of range for {} examples",
                self.len()
            ))),
            None => Ok(self.subset(indices)),
        }
    }

    /// The first `n` examples and the rest (`n` is clamped to `len()`).
    pub fn split_at(&self, n: usize) -> (Dataset, Dataset) {
        let n = n.min(self.len());
        let head: Vec<usize> = (0..n).collect();
        let tail: Vec<usize> = (n..self.len()).collect();
        (self.subset(&head), self.subset(&tail))
    }
}

/// Read one IDX image file and one IDX label file (gzipped or not) as a dataset.
/// Checks that images are 28×28 (784 pixels) and labels are digits 0–9.
pub fn load_mnist_files(images: &Path, labels: &Path) -> Result<Dataset, MlError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|error| MlError::Io {
            path: p.to_path_buf(),
            error,
        })
    };
    let images = idx::parse_images(&read(images)?)?;
    let labels = idx::parse_labels(&read(labels)?)?;
    if images.pixels_per_image() != INPUT_DIM {
        return Err(MlError::FeatureDim {
            expected: INPUT_DIM,
            found: images.pixels_per_image(),
        });
    }
    if let Some(&label) = labels.iter().find(|&&l| usize::from(l) >= NUM_CLASSES) {
        return Err(MlError::InvalidLabel {
            label,
            classes: NUM_CLASSES,
        });
    }
    Dataset::from_idx(&images, &labels)
}

/// Load [`MNIST_IMAGES_FILE`] and [`MNIST_LABELS_FILE`] from `dir` and split them into
/// `(train, test)`: the last `n / 5` examples (20 %, rounded down) are the test set,
/// the rest train. With the bundled 10,000-example files that is the first 8,000 for
/// training and the last 2,000 for testing. Errors if either part would be empty.
pub fn load_mnist(dir: &Path) -> Result<(Dataset, Dataset), MlError> {
    let all = load_mnist_files(&dir.join(MNIST_IMAGES_FILE), &dir.join(MNIST_LABELS_FILE))?;
    let n_test = all.len() / 5;
    let n_train = all.len() - n_test;
    if n_test == 0 || n_train == 0 {
        return Err(MlError::InvalidData(format!(
            "{} examples are too few to split into train and test",
            all.len()
        )));
    }
    Ok(all.split_at(n_train))
}

/// Shuffle `indices` and deal them into `workers` parts whose sizes differ by at most
/// one. Deterministic given `rng`. `workers == 0` gives no parts.
pub fn partition_iid<R: Rng + ?Sized>(
    indices: &[usize],
    workers: usize,
    rng: &mut R,
) -> Vec<Vec<usize>> {
    if workers == 0 {
        return Vec::new();
    }
    let mut shuffled = indices.to_vec();
    shuffled.shuffle(rng);
    let (base, extra) = (shuffled.len() / workers, shuffled.len() % workers);
    let mut rest = shuffled.as_slice();
    (0..workers)
        .map(|w| {
            let (part, tail) = rest.split_at(base + usize::from(w < extra));
            rest = tail;
            part.to_vec()
        })
        .collect()
}

/// Label-skewed (non-IID) partition: for each class, the class's examples are
/// shuffled and split among the workers in proportions drawn from a symmetric
/// Dirichlet(`alpha`) distribution (small `alpha` ⇒ each worker sees few classes;
/// large ⇒ close to IID). Afterwards, workers holding fewer than
/// `min(MIN_EXAMPLES_PER_WORKER, n / workers)` examples are topped up with random
/// examples taken from the currently largest worker.
///
/// `labels` is indexed by example index: the label of example `i` is `labels[i]`
/// (pass `&dataset.y`). Every index appears exactly once in the output; each part is
/// sorted. Deterministic given `rng`.
///
/// Errors: `workers == 0`, `alpha` not finite and positive, fewer indices than
/// workers, or an index with no label.
pub fn partition_dirichlet<R: Rng + ?Sized>(
    indices: &[usize],
    labels: &[u8],
    workers: usize,
    alpha: f64,
    rng: &mut R,
) -> Result<Vec<Vec<usize>>, MlError> {
    if workers == 0 {
        return Err(MlError::InvalidArgument("need at least one worker".into()));
    }
    if !(alpha.is_finite() && alpha > 0.0) {
        return Err(MlError::InvalidArgument(format!(
            "Dirichlet alpha must be positive and finite, got {alpha}"
        )));
    }
    if indices.len() < workers {
        return Err(MlError::InvalidArgument(format!(
            "cannot give each of {workers} workers an example from {} examples",
            indices.len()
        )));
    }
    let gamma = Gamma::new(alpha, 1.0)
        .map_err(|e| MlError::InvalidArgument(format!("Dirichlet alpha {alpha}: {e}")))?;

    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); 256];
    for &i in indices {
        let label = labels.get(i).ok_or_else(|| {
            MlError::InvalidArgument(format!(
                "example index {i} has no label ({} labels)",
                labels.len()
            ))
        })?;
        by_class[usize::from(*label)].push(i);
    }

    let mut parts: Vec<Vec<usize>> = vec![Vec::new(); workers];
    let mut weights = vec![0.0f64; workers];
    for members in by_class.iter_mut().filter(|m| !m.is_empty()) {
        members.shuffle(rng);
        for w in weights.iter_mut() {
            *w = gamma.sample(rng);
        }
        let total: f64 = weights.iter().sum();
        if !(total.is_finite() && total > 0.0) {
            // Every Gamma draw underflowed (tiny alpha): the limit is one owner.
            let owner = rng.random_range(0..workers);
            parts[owner].extend_from_slice(members);
            continue;
        }
        let n = members.len();
        let (mut start, mut cum) = (0usize, 0.0f64);
        for (w, weight) in weights.iter().enumerate() {
            cum += weight;
            let end = if w + 1 == workers {
                n
            } else {
                // Rounded cumulative boundary; `as` saturates, clamp keeps it in range.
                ((cum / total * n as f64).round() as usize).clamp(start, n)
            };
            parts[w].extend_from_slice(&members[start..end]);
            start = end;
        }
    }

    let min_size = MIN_EXAMPLES_PER_WORKER.min(indices.len() / workers);
    while let (Some(small), Some(large)) = (
        (0..workers).min_by_key(|&w| parts[w].len()),
        (0..workers).rev().max_by_key(|&w| parts[w].len()),
    ) {
        // Since n >= workers * min_size, the largest part exceeds min_size whenever
        // some part is below it, so this terminates.
        if parts[small].len() >= min_size || parts[large].len() <= min_size {
            break;
        }
        let pick = rng.random_range(0..parts[large].len());
        let moved = parts[large].swap_remove(pick);
        parts[small].push(moved);
    }
    for p in &mut parts {
        p.sort_unstable();
    }
    Ok(parts)
}

/// How training examples are spread over workers (`iid` or `dirichlet:ALPHA`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Partition {
    /// Uniformly shuffled, equal-sized parts ([`partition_iid`]).
    #[default]
    Iid,
    /// Label skew with concentration `alpha` ([`partition_dirichlet`]).
    Dirichlet(f64),
}

impl Partition {
    /// Partition `indices` among `workers` (see [`partition_iid`] and
    /// [`partition_dirichlet`]; `labels` is indexed by example index).
    pub fn split<R: Rng + ?Sized>(
        &self,
        indices: &[usize],
        labels: &[u8],
        workers: usize,
        rng: &mut R,
    ) -> Result<Vec<Vec<usize>>, MlError> {
        match *self {
            Partition::Iid if workers == 0 => {
                Err(MlError::InvalidArgument("need at least one worker".into()))
            }
            Partition::Iid => Ok(partition_iid(indices, workers, rng)),
            Partition::Dirichlet(alpha) => {
                partition_dirichlet(indices, labels, workers, alpha, rng)
            }
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Partition::Iid => f.write_str("iid"),
            Partition::Dirichlet(alpha) => write!(f, "dirichlet:{alpha}"),
        }
    }
}

impl FromStr for Partition {
    type Err = MlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MlError::Parse {
            what: "partition",
            input: s.to_owned(),
            expected: "`iid` or `dirichlet:ALPHA` with ALPHA > 0 (e.g. `dirichlet:0.5`)",
        };
        let t = s.trim().to_ascii_lowercase();
        if t == "iid" {
            return Ok(Partition::Iid);
        }
        let alpha: f64 = t
            .strip_prefix("dirichlet:")
            .ok_or_else(err)?
            .trim()
            .parse()
            .map_err(|_| err())?;
        if alpha.is_finite() && alpha > 0.0 {
            Ok(Partition::Dirichlet(alpha))
        } else {
            Err(err())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn data_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data")
    }

    fn covers_exactly_once(parts: &[Vec<usize>], indices: &[usize]) -> bool {
        let mut all: Vec<usize> = parts.iter().flatten().copied().collect();
        all.sort_unstable();
        let mut want = indices.to_vec();
        want.sort_unstable();
        all == want
    }

    #[test]
    fn loads_bundled_mnist() {
        let (train, test) = load_mnist(&data_dir()).unwrap();
        assert_eq!((train.len(), test.len()), (8000, 2000));
        assert_eq!(train.num_features(), 784);
        assert!(train.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert!(train.x.iter().any(|&v| v == 1.0));
        let mut counts = [0usize; 10];
        for &l in &train.y {
            counts[usize::from(l)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 600), "{counts:?}");
    }

    #[test]
    fn missing_file_is_io_error() {
        assert!(matches!(
            load_mnist(Path::new("/nonexistent-dir")),
            Err(MlError::Io { .. })
        ));
    }

    #[test]
    fn subset_and_split() {
        let x = Array2::from_shape_fn((5, 2), |(i, j)| (i * 10 + j) as f32);
        let d = Dataset::new(x, vec![0, 1, 2, 3, 4]).unwrap();
        let s = d.subset(&[4, 0, 4]);
        assert_eq!(s.y, vec![4, 0, 4]);
        assert_eq!(s.x.row(0).to_vec(), vec![40.0, 41.0]);
        assert!(d.try_subset(&[5]).is_err());
        let (a, b) = d.split_at(3);
        assert_eq!((a.y, b.y), (vec![0, 1, 2], vec![3, 4]));
        assert!(Dataset::new(Array2::zeros((2, 3)), vec![1]).is_err());
    }

    #[test]
    fn partition_parse_and_display() {
        assert_eq!("iid".parse::<Partition>().unwrap(), Partition::Iid);
        assert_eq!(
            " Dirichlet:0.5 ".parse::<Partition>().unwrap(),
            Partition::Dirichlet(0.5)
        );
        for p in [
            Partition::Iid,
            Partition::Dirichlet(0.1),
            Partition::Dirichlet(10.0),
        ] {
            assert_eq!(p.to_string().parse::<Partition>().unwrap(), p);
        }
        assert_eq!(Partition::Dirichlet(0.5).to_string(), "dirichlet:0.5");
        for bad in [
            "",
            "dirichlet",
            "dirichlet:",
            "dirichlet:-1",
            "dirichlet:0",
            "dirichlet:nan",
            "dirichlet:inf",
            "noniid",
        ] {
            let e = bad.parse::<Partition>().unwrap_err();
            assert!(e.to_string().contains("dirichlet:ALPHA"), "{e}");
        }
    }

    #[test]
    fn iid_sizes_are_balanced() {
        let idx: Vec<usize> = (100..8000).collect();
        let parts = partition_iid(&idx, 20, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(parts.len(), 20);
        assert!(parts.iter().all(|p| p.len() == 395));
        assert!(covers_exactly_once(&parts, &idx));
        assert!(partition_iid(&idx, 0, &mut ChaCha8Rng::seed_from_u64(1)).is_empty());
    }

    #[test]
    fn dirichlet_is_deterministic() {
        let labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
        let idx: Vec<usize> = (0..1000).collect();
        let a = partition_dirichlet(&idx, &labels, 7, 0.3, &mut ChaCha8Rng::seed_from_u64(5));
        let b = partition_dirichlet(&idx, &labels, 7, 0.3, &mut ChaCha8Rng::seed_from_u64(5));
        assert_eq!(a.unwrap(), b.unwrap());
    }

    #[test]
    fn dirichlet_small_alpha_is_skewed_large_alpha_is_not() {
        let labels: Vec<u8> = (0..8000).map(|i| ((i * 7) % 10) as u8).collect();
        let idx: Vec<usize> = (0..8000).collect();
        // Mean over workers of the share of a worker's examples in its top class.
        let top_share = |alpha: f64| {
            let parts =
                partition_dirichlet(&idx, &labels, 20, alpha, &mut ChaCha8Rng::seed_from_u64(9))
                    .unwrap();
            assert!(covers_exactly_once(&parts, &idx));
            assert!(parts.iter().all(|p| p.len() >= MIN_EXAMPLES_PER_WORKER));
            parts
                .iter()
                .map(|p| {
                    let mut c = [0usize; 10];
                    p.iter().for_each(|&i| c[usize::from(labels[i])] += 1);
                    *c.iter().max().unwrap() as f64 / p.len() as f64
                })
                .sum::<f64>()
                / 20.0
        };
        let skewed = top_share(0.1);
        let mild = top_share(100.0);
        assert!(skewed > 0.6, "alpha=0.1 top-class share {skewed}");
        assert!(mild < 0.2, "alpha=100 top-class share {mild}");
    }

    #[test]
    fn dirichlet_errors() {
        let labels = [0u8; 10];
        let idx: Vec<usize> = (0..10).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert!(partition_dirichlet(&idx, &labels, 0, 0.5, &mut rng).is_err());
        assert!(partition_dirichlet(&idx, &labels, 11, 0.5, &mut rng).is_err());
        assert!(partition_dirichlet(&idx, &labels, 2, 0.0, &mut rng).is_err());
        assert!(partition_dirichlet(&idx, &labels, 2, f64::NAN, &mut rng).is_err());
        assert!(partition_dirichlet(&[10], &labels, 1, 0.5, &mut rng).is_err());
        assert!(Partition::Iid.split(&idx, &labels, 0, &mut rng).is_err());
    }

    proptest! {
        #[test]
        fn partitions_cover_each_index_once(
            n in 1usize..600,
            offset in 0usize..50,
            workers in 1usize..40,
            alpha in prop_oneof![Just(1e-3), 0.01f64..100.0],
            seed in any::<u64>(),
        ) {
            let idx: Vec<usize> = (offset..offset + n).collect();
            let labels: Vec<u8> = (0..offset + n).map(|i| ((i * 31 + 7) % 10) as u8).collect();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let iid = partition_iid(&idx, workers, &mut rng);
            prop_assert_eq!(iid.len(), workers);
            prop_assert!(covers_exactly_once(&iid, &idx));
            let res = partition_dirichlet(&idx, &labels, workers, alpha, &mut rng);
            if n < workers {
                prop_assert!(res.is_err());
            } else {
                let parts = res.unwrap();
                prop_assert_eq!(parts.len(), workers);
                prop_assert!(covers_exactly_once(&parts, &idx));
                let min = MIN_EXAMPLES_PER_WORKER.min(n / workers);
                prop_assert!(parts.iter().all(|p| p.len() >= min.max(1)));
            }
        }
    }
}
