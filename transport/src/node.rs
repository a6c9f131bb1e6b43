//! Process plumbing shared by the three roles: logging, the ready file
//! that tells a launcher where a server listens, and exiting with the parent.

use std::net::SocketAddr;
use std::path::Path;

use tracing::info;

/// Logs to stderr; `RUST_LOG` overrides the default `info` level.
pub fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Sizes the process's rayon pool, on which the round state machines run
/// their per-worker work (`--threads`; `None`: one thread per core). Returns
/// the number of threads in use.
pub fn init_work_pool(threads: Option<usize>) -> usize {
    let mut b = rayon::ThreadPoolBuilder::new().thread_name(|i| format!("work-{i}"));
    if let Some(t) = threads {
        b = b.num_threads(t.max(1));
    }
    if let Err(e) = b.build_global() {
        // Only if a pool was already made in this process (tests).
        tracing::debug!(error = %e, "rayon pool already initialised");
    }
    let n = rayon::current_num_threads();
    info!(threads = n, "per-worker work runs on {n} thread(s)");
    n
}

/// Atomically writes `addr` to `path` (write to a temporary file, then rename),
/// so a launcher polling for the file never reads half an address.
pub fn write_ready_file(path: &Path, addr: SocketAddr) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, addr.to_string())?;
    std::fs::rename(&tmp, path)
}

/// Resolves when standard input reaches end of file: a launcher that holds
/// our stdin open dies → we exit too (no orphaned servers). The blocking read
/// runs on its own OS thread, so it never holds up the runtime's shutdown.
pub async fn stdin_closed() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("stdin-watch".into())
        .spawn(move || {
            let mut buf = [0u8; 256];
            let mut stdin = std::io::stdin();
            loop {
                match std::io::Read::read(&mut stdin, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            let _ = tx.send(());
        });
    if spawned.is_err() {
        return std::future::pending().await;
    }
    let _ = rx.await;
    info!("standard input closed: shutting down");
}

/// Runs a process body and exits: errors are printed and give exit code 1,
/// without waiting for blocked background work to finish.
pub fn exit_with(result: Result<(), impl std::fmt::Display>) -> ! {
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1)
        }
    }
}

/// Runs `work` until it finishes (`Some`), or until Ctrl-C / SIGTERM or —
/// with `exit_on_stdin_close` — the end of standard input (`None`).
pub async fn until_stopped<T>(
    exit_on_stdin_close: bool,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    let stdin_gone = async {
        if exit_on_stdin_close {
            stdin_closed().await
        } else {
            std::future::pending().await
        }
    };
    tokio::select! {
        r = work => Some(r),
        _ = shutdown_signal() => None,
        _ = stdin_gone => None,
    }
}

/// Closes `endpoint` with `reason` and gives queued frames a second to leave.
pub async fn close_and_drain(endpoint: &quinn::Endpoint, reason: &str) {
    endpoint.close(quinn::VarInt::from_u32(0), reason.as_bytes());
    crate::hub::drain(endpoint, std::time::Duration::from_secs(1)).await;
}

/// Resolves on Ctrl-C / SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    info!("signal received: shutting down");
}
