//! Protocols of tandem: round state machines for the leader (server A), the
//! helper (server B) and workers, the robust pipeline and its 2PC, plaintext
//! FedAvg and FLTrust. Everything here is sans-io; the learning code (data,
//! models, training) is the `fl-ml` crate.

pub mod fedavg;
pub mod fltrust;
pub mod mpc;
pub mod robust;
pub mod round;
