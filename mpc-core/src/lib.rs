//! Sans-io cryptographic core of tandem: the Goldilocks field, fixed-point
//! encoding, seeded PRGs, additive and small-ring sharing, the message codec
//! ([`codec`]) and the wire messages ([`wire`]),
//! oblivious transfer (Chou–Orlandi base OT, IKNP extension: [`ot`]), and the
//! fully linear validity proof ([`flp`]).
//!
//! Nothing here does I/O or reads a clock; randomness enters through seeds
//! (from [`prg::Seed::random`], the OS CSPRNG) or explicit RNG arguments.

pub mod codec;
pub mod field;
pub mod fixed;
pub mod flp;
pub mod ot;
pub mod prg;
pub mod share;
pub mod wire;

pub use field::Fp;
pub use fixed::FixedParams;
pub use prg::Seed;
