//! Thin entry point; everything lives in the library so the launcher and
//! tests build it in the same compilation.

use clap::Parser;

#[tokio::main]
async fn main() {
    transport::node::init_logging("info");
    let result = server_a::run(server_a::Args::parse()).await;
    transport::node::exit_with(result.map_err(|e| format!("{e:#}")))
}
