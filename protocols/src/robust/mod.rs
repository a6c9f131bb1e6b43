//! The robust secure rules (`secure-fltrust`, `secure-filter`): client
//! normalisation, the validity-proved submission with worker-dealt
//! correlations, and the servers' shared pipeline. See `docs/PROTOCOL.md` §7.

pub mod encode;
pub mod pipeline;
pub mod submit;

#[cfg(test)]
pub(crate) mod tests;
