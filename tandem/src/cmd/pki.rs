//! `tandem pki`: creates an enrolment directory for a local deployment:
//! self-signed identities for server A, server B and N workers, and
//! `enrolled.json` (worker id → certificate fingerprint).
//!
//! In a real deployment each party generates its own key and only certificates
//! are exchanged; this tool is for the demo and for trying the three processes
//! by hand.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;

/// Generate certificates and the worker enrolment list — a local convenience:
/// the directory holds every party's private key (for the demo and for trying
/// the three processes on one machine, not for two organisations).
#[derive(Debug, Parser)]
#[command(name = "pki", version)]
pub struct Args {
    /// Output directory (created; existing files are overwritten).
    #[arg(long, default_value = "pki")]
    dir: PathBuf,
    /// Number of worker identities (ids 0..N).
    #[arg(long, default_value_t = 20, value_parser = server_a::parse::at_least_one::<u32>)]
    workers: u32,
}

pub fn run(args: Args) -> Result<()> {
    transport::generate_pki(&args.dir, args.workers)
        .with_context(|| format!("generating certificates in {}", args.dir.display()))?;
    println!(
        "wrote identities for server A, server B and {} workers to {}",
        args.workers,
        args.dir.display()
    );
    Ok(())
}
