//! The launcher and tool subcommands of the `tandem` binary (the server and
//! worker roles are the `server_a`, `server_b` and `worker` libraries).

pub mod bench;
pub mod demo;
pub mod eval;
pub mod pki;
