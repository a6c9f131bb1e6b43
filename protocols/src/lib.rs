//! Protocols of tandem: round state machines for the leader (server A), the
//! helper (server B) and workers, plaintext FedAvg and FLTrust, and the learning
//! code (data, models, training). Everything here is sans-io.

pub mod fedavg;
pub mod fltrust;
pub mod ml;
pub mod mpc;
pub mod robust;
pub mod round;
