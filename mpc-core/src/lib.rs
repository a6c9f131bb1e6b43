//! Sans-io cryptographic core of tandem: the Goldilocks field, fixed-point
//! encoding, seeded PRGs, additive and small-ring sharing, the message codec
//! ([`codec`]) and the wire messages ([`wire`]),
//! oblivious transfer (Chou–Orlandi base OT, IKNP extension: [`ot`]), and the
//! fully linear validity proof ([`flp`]).
//!
//! Nothing here does I/O, reads a clock or reads the operating system's
//! randomness: randomness enters through seeds and `&mut impl CryptoRng`
//! arguments that the caller supplies (the roles draw them from the OS;
//! tests use fixed seeds). `.ci/sans-io-check` enforces this.

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
