//! `auditlake query`: one-shot SQL (an argument or `-f FILE`) on either engine.

use std::path::PathBuf;
use std::process::ExitCode;

use super::args::{EngineArgs, LakeArgs, Resolved, ScopeArgs};
use crate::error::{Error, Result};
use crate::faces::exec::{PrintOptions, run_and_print};
use crate::faces::output::Format;

/// Run SQL over the lake (the views of sql/views and the `events` table).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Output format (default: table).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Read the SQL from a file (statements separated by `;`).
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// The SQL to run.
    pub sql: Option<String>,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let text = match (a.file, a.sql) {
        (Some(f), None) => std::fs::read_to_string(&f).map_err(|e| Error::io("read", f, e))?,
        (None, Some(s)) => s,
        (None, None) => {
            return Err(Error::Config(
                "give the SQL as an argument or with -f FILE".into(),
            ));
        }
        (Some(_), Some(_)) => {
            return Err(Error::Config(
                "give the SQL either as an argument or with -f, not both".into(),
            ));
        }
    };
    let statements = crate::query::statements::split(&text)?;
    let r = Resolved::new(&a.lake, &a.scope, &a.engine, |_| {}).await?;
    let stdout = std::io::stdout();
    run_and_print(
        r.runner.as_ref(),
        &statements,
        &PrintOptions::new(a.format),
        &mut stdout.lock(),
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}
