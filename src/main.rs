//! The `auditlake` binary: parses the command line and hands over to the library; prints the
//! whole error chain and maps it to an exit code. Sets glibc malloc's two thresholds first.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tune_malloc();
    let cli = auditlake::faces::cli::Cli::parse();
    auditlake::faces::cli::init_tracing(cli.verbose);
    match auditlake::faces::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", auditlake::faces::cli::error_text(&e));
            ExitCode::from(auditlake::faces::cli::exit_code(&e))
        }
    }
}

/// Keeps glibc's malloc from handing freed buffers back to the kernel between batches. By
/// default every block over its (adaptive) mmap threshold is its own mapping and the top of
/// each arena is trimmed, so each ~0.5 MiB Parquet page buffer of a scan was faulted in and
/// zeroed afresh: a third of a full `event_data` scan's CPU went to page faults and `memset`.
/// With blocks under 64 MiB kept in the arenas and no trimming, a `LIKE` over `event_data`
/// takes ~35 % less time and ingest no longer pays for it either (`benches/README.md`, session
/// 18). mimalloc was tried: as fast on queries, ~17 % slower ingest (its purges: +1–2 s of
/// kernel time), so the allocator stays glibc's.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets two of malloc's parameters, before any thread is started.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
