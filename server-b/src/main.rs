//! Thin entry point; everything lives in the library so the launcher and
//! tests build it in the same compilation.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    transport::node::init_logging("info");
    server_b::run(server_b::Args::parse()).await
}
