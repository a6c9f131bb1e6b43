//! `tandem`: one executable for every role. `tandem server-a`, `tandem
//! server-b` and `tandem worker` run the three processes of a deployment;
//! `tandem demo`, `tandem bench` and `tandem eval` launch them as separate OS
//! processes by re-executing this same executable with the role's
//! subcommand, so nothing needs cargo at run time; `tandem pki` writes the
//! enrolment directory.

use std::future::Future;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// mimalloc instead of glibc's allocator: the servers allocate and free
/// upload-sized buffers (megabytes) all the time, which glibc keeps in its
/// arenas once it has raised its mmap threshold; mimalloc gives freed pages
/// back. Side by side at 270k x 100 (docs/PERFORMANCE.md): B's peak RSS
/// 744 / 768 MB with glibc, 638 / 685 MB with mimalloc, CPU per round no higher.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Private, Byzantine-robust federated learning on two servers.
///
/// Each role is a subcommand; `tandem ROLE --help` lists its options.
#[derive(Debug, Parser)]
#[command(name = "tandem", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Debug, Subcommand)]
enum Role {
    ServerA(server_a::Args),
    ServerB(server_b::Args),
    Worker(worker::Args),
    Demo(cmd::demo::Args),
    Bench(cmd::bench::Args),
    Eval(cmd::eval::Args),
    Pki(cmd::pki::Args),
}

/// Runs a server or worker role to completion on a multi-threaded runtime and
/// exits (status 1 with the error on stderr on failure).
fn serve(role: impl Future<Output = anyhow::Result<()>>) -> ! {
    transport::node::init_logging("info");
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => transport::node::exit_with(Err(format!("starting the async runtime: {e}"))),
    };
    let result = rt.block_on(role);
    // Exits with the runtime still alive (it is never dropped), as under
    // `#[tokio::main]`: a task blocked on stdin cannot hold up the exit.
    transport::node::exit_with(result.map_err(|e| format!("{e:#}")))
}

fn main() -> ExitCode {
    let result = match Cli::parse().role {
        Role::ServerA(args) => serve(server_a::run(args)),
        Role::ServerB(args) => serve(server_b::run(args)),
        Role::Worker(args) => serve(worker::run(args)),
        Role::Demo(args) => cmd::demo::run(args),
        Role::Bench(args) => cmd::bench::run(args),
        Role::Eval(args) => cmd::eval::run(args),
        Role::Pki(args) => cmd::pki::run(args),
    };
    // Errors are one message with its causes, never a backtrace; a usage
    // mistake exits with status 2 as clap's own errors do.
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<tandem::UsageError>().is_some() => {
            eprintln!("error: {e}\n\nFor more information, try '--help'.");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
