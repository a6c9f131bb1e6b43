//! The secure rules: the robust ones (`secure-fltrust`, `secure-filter`:
//! client normalisation, the validity-proved submission with worker-dealt
//! correlations, trust scores) and `secure-fedavg` (clipping, the same
//! proof with a one-sided norm window, weight 1), on the servers' shared
//! pipeline. See `docs/PROTOCOL.md` §2–4 and §7.

pub mod encode;
pub mod pipeline;
pub mod submit;

#[cfg(test)]
pub(crate) mod tests;
