//! The `auditlake` binary: parses the command line and hands over to the library; prints the
//! whole error chain and maps it to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
