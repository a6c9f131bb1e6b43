//! The public, `--seed`-driven randomness of a run (training, dropout,
//! attacks, A's proxy update, synthetic data): one generator per purpose,
//! round and worker, keyed by a child seed in its own `mpc_core::prg`
//! domain, so no two uses share a stream and a run replays from `--seed`.
//! (Never for secrets: shares, blinds and proofs take the OS's randomness.)

use mpc_core::prg::{Domain, Purpose, Seed};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// The generator of `purpose` in `round` for `worker` (0 where no worker
/// applies), from the run's `--seed`.
pub fn public_rng(seed: u64, purpose: Purpose, round: u64, worker: u32) -> StdRng {
    let domain = Domain {
        purpose,
        round,
        worker,
    };
    StdRng::from_seed(Seed::from_u64(seed).derive(domain).0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use rand::RngExt;

    use super::*;

    #[test]
    fn streams_differ_by_every_input() {
        let draw = |s, p, r, w| public_rng(s, p, r, w).random::<u64>();
        let base = draw(7, Purpose::WorkerTraining, 3, 1);
        assert_eq!(base, draw(7, Purpose::WorkerTraining, 3, 1));
        assert_ne!(base, draw(8, Purpose::WorkerTraining, 3, 1));
        assert_ne!(base, draw(7, Purpose::AttackOwn, 3, 1));
        assert_ne!(base, draw(7, Purpose::WorkerTraining, 4, 1));
        assert_ne!(base, draw(7, Purpose::WorkerTraining, 3, 2));
    }
}
