//! `auditlake sql`: the interactive shell, or a script runner with `-c` or piped input.

use std::io::IsTerminal;
use std::process::ExitCode;

use super::args::{EngineArgs, EngineKind, LakeArgs, ScopeArgs};
use crate::error::{Error, Result};
use crate::faces::output::Format;
use crate::faces::repl;

/// The interactive SQL shell (or, with -c or piped input, a script runner).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Run these statements/meta-commands and exit (non-zero on the first error).
    #[arg(short = 'c', long = "command")]
    pub command: Option<String>,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let opts = a.scope.engine_options(a.lake.open()?);
    let mut session = repl::Session::new(opts, a.format).await?;
    if let Some(cfg) = a.engine.load_config()? {
        session = session.with_athena_config(cfg);
    }
    if a.engine.engine == EngineKind::Athena {
        session.set_engine("athena").await?;
    }
    if let Some(text) = a.command {
        repl::run_script(&mut session, &text).await?;
    } else if std::io::stdin().is_terminal() {
        repl::run_interactive(session).await?;
    } else {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| Error::io("read", "<stdin>", e))?;
        repl::run_script(&mut session, &text).await?;
    }
    Ok(ExitCode::SUCCESS)
}
