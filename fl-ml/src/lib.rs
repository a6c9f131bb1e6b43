//! Machine-learning substrate for the federated-learning protocols: an IDX (MNIST)
//! reader, datasets and their partitioning among workers, and two small models
//! (logistic regression and a one-hidden-layer ReLU MLP) trained with minibatch SGD
//! over a single flat `Vec<f32>` of parameters. Plaintext aggregation rules,
//! attacks and an in-process simulation of a whole federation build on them.
//!
//! Kept out of `protocols` (which stays sans-io) because it reads dataset files;
//! it uses `protocols::{fedavg, fltrust}` and `mpc_core::wire`, never the reverse.
//!
//! Typical use (FedAvg with clipping):
//!
//! ```no_run
//! use fl_ml::{self as ml, ModelKind, Partition, TrainConfig};
//! use rand::SeedableRng;
//! # fn main() -> Result<(), ml::MlError> {
//! let (train, test) = ml::load_mnist(std::path::Path::new("data"))?;
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
//! let indices = ml::worker_indices(&train); // 0..PROXY_EXAMPLES: A's proxy set
//! let parts = Partition::Iid.split(&indices, &train.y, 20, &mut rng)?;
//! let kind = ModelKind::default();
//! let mut global = ml::init_params(kind, &mut rng);
//! let mut sum = vec![0.0f32; global.len()];
//! for part in &parts {
//!     let local = ml::train_local(kind, &global, &train.subset(part),
//!                                 &TrainConfig::default(), &mut rng)?;
//!     let mut delta: Vec<f32> = local.iter().zip(&global).map(|(l, g)| l - g).collect();
//!     protocols::fedavg::clip_to_norm(&mut delta, ml::DEFAULT_CLIP);
//!     sum.iter_mut().zip(&delta).for_each(|(s, d)| *s += d);
//! }
//! global.iter_mut().zip(&sum).for_each(|(g, s)| *g += s / parts.len() as f32);
//! println!("{:?}", ml::evaluate(kind, &global, &test)?);
//! # Ok(()) }
//! ```

pub mod aggregate;
pub mod attack;
pub mod data;
mod error;
pub mod idx;
pub mod model;
mod proxy;
mod rng;
mod rules;
pub mod sim;

#[cfg(test)]
mod fedavg_sim;

pub use aggregate::{PLAIN_RULE_NAMES, PlainRule};
pub use attack::{ATTACK_NAMES, Attack, AttackView, flip_labels};
pub use data::{
    Dataset, MIN_EXAMPLES_PER_WORKER, MNIST_IMAGES_FILE, MNIST_LABELS_FILE, Partition, load_mnist,
    load_mnist_files, partition_dirichlet, partition_iid,
};
pub use error::MlError;
pub use idx::{Images, parse_images, parse_labels};
pub use model::{
    DEFAULT_CLIP, DEFAULT_HIDDEN, Eval, INPUT_DIM, ModelKind, NUM_CLASSES, TrainConfig, evaluate,
    gradient, init_params, train_local,
};
pub use proxy::{PROXY_EXAMPLES, proxy_set, proxy_update, worker_indices};
pub use rng::public_rng;
pub use rules::{RuleDefaults, defaults_help, rule_defaults, server_lr_at};
