//! Server A's proxy (root) data set and the reference update FLTrust measures
//! worker updates against.

use rand::Rng;

use crate::data::Dataset;
use crate::error::MlError;
use crate::model::{ModelKind, TrainConfig, train_local};

/// Training examples `0..PROXY_EXAMPLES` are server A's proxy (root) set;
/// workers never train on them (their partitions come from the rest).
pub const PROXY_EXAMPLES: usize = 500;

/// The proxy set: the first [`PROXY_EXAMPLES`] examples of the training split.
pub fn proxy_set(train: &Dataset) -> Result<Dataset, MlError> {
    if train.len() <= PROXY_EXAMPLES {
        return Err(MlError::InvalidArgument(format!(
            "the training split has {} examples; the proxy set alone needs {PROXY_EXAMPLES}",
            train.len()
        )));
    }
    let idx: Vec<usize> = (0..PROXY_EXAMPLES).collect();
    train.try_subset(&idx)
}

/// The training examples workers may use: everything after the proxy set.
pub fn worker_indices(train: &Dataset) -> Vec<usize> {
    (PROXY_EXAMPLES..train.len()).collect()
}

/// The server's reference update ĝ₀ on the current `model`: the same local
/// training a worker runs ([`train_local`] with `cfg`), on the `proxy` set,
/// returned as the delta `new − model`. FLTrust's server trains like a client
/// on its root data. The result stays at server A (never sent to workers).
pub fn proxy_update<R: Rng + ?Sized>(
    kind: ModelKind,
    model: &[f32],
    proxy: &Dataset,
    cfg: &TrainConfig,
    rng: &mut R,
) -> Result<Vec<f32>, MlError> {
    let new = train_local(kind, model, proxy, cfg, rng)?;
    Ok(new.iter().zip(model).map(|(n, m)| n - m).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{evaluate, init_params, load_mnist};
    use rand::SeedableRng;

    #[test]
    fn proxy_update_improves_the_proxy_loss() {
        let (train, _) =
            load_mnist(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data")).unwrap();
        let proxy = proxy_set(&train).unwrap();
        assert_eq!(proxy.len(), PROXY_EXAMPLES);
        assert_eq!(worker_indices(&train)[0], PROXY_EXAMPLES);
        let kind = ModelKind::LogReg;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let model = init_params(kind, &mut rng);
        let g0 = proxy_update(kind, &model, &proxy, &TrainConfig::default(), &mut rng).unwrap();
        let moved: Vec<f32> = model.iter().zip(&g0).map(|(m, g)| m + g).collect();
        let before = evaluate(kind, &model, &proxy).unwrap().loss;
        let after = evaluate(kind, &moved, &proxy).unwrap().loss;
        assert!(after < before, "{after} !< {before}");
    }
}
