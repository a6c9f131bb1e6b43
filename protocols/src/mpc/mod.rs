//! Two-party computation between server A and server B (semi-honest, no
//! dealer): arithmetic over the Goldilocks field and secure comparison.
//! Every protocol is a sans-io state machine; the OT correlations it consumes
//! come from `mpc_core::ot` (IKNP over base OTs the servers run themselves).
//! Unit tests may use [`corr::ideal`] to produce correlations in-process.

pub mod arith;
pub mod compare;
pub mod corr;
pub mod engine;
