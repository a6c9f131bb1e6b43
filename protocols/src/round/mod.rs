//! Round state machines for server A (leader), server B (helper) and workers.
//! All three are sans-io: messages in, actions out; the role shells
//! (`server-a`, `server-b`, `worker`, run as `tandem ROLE`) do the I/O.

pub mod helper;
pub mod leader;
pub mod plain;
pub mod rejection;
pub mod robust_a;
pub mod robust_b;
pub mod worker;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_replay;
#[cfg(test)]
mod tests_review;
#[cfg(test)]
mod tests_robust;
#[cfg(test)]
mod tests_session;
