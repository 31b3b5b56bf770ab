//! The `auditlake` binary: parses the command line and hands over to the library; prints the
//! whole error chain and maps it to an exit code.

use std::process::ExitCode;

use clap::Parser;

// Ingest builds a JSON tree per record and queries many short-lived buffers: glibc's malloc and
// free were a quarter of ingest's profile (benches/README.md, session 15).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe extern "C" {
    fn mi_option_get(option: i32) -> std::ffi::c_long;
    fn mi_option_set(option: i32, value: std::ffi::c_long);
}

/// mimalloc v3's option ids (`mimalloc.h`, `mi_option_e`) and the defaults that identify them.
const MI_ARENA_EAGER_COMMIT: (i32, std::ffi::c_long) = (4, 2);
const MI_PURGE_DELAY: (i32, std::ffi::c_long) = (15, 10);

/// Commits arena memory up front and returns freed pages to the OS after a second rather than
/// 10 ms: with the defaults, ingest spent ~1.5 s of 4 in the kernel re-faulting pages it had
/// just released (measured: 3.9 → 3.4–3.6 s on the bench's 820 k events). Each option is set
/// only when it reads its documented default, so another mimalloc numbering leaves them alone.
fn tune_allocator() {
    for ((id, default), value) in [(MI_ARENA_EAGER_COMMIT, 1), (MI_PURGE_DELAY, 1000)] {
        // SAFETY: plain C calls on mimalloc's option table (no pointers); the allocator is
        // linked in above and initialises itself on first use.
        unsafe {
            if mi_option_get(id) == default {
                mi_option_set(id, value);
            }
        }
    }
}

fn main() -> ExitCode {
    tune_allocator();
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
