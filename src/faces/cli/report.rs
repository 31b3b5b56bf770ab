//! `auditlake report`: a report (built-in or saved) on either engine, as text, JSON or HTML;
//! every run is recorded in the lake.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use super::args::{EngineArgs, LakeArgs, Resolved, ScopeArgs};
use crate::analysis::report::{self, RunBy};
use crate::error::{Error, Result};

/// Report output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    /// Teleport's report-result shape.
    Json,
    /// One self-contained page with a chart per query.
    Html,
}

/// The UI's default window for reports.
pub const DEFAULT_REPORT_DAYS: u32 = 30;

/// Run a report (default: the Privileged Access Report of seed 001) through the engine.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Report name: the built-in `privilege_access_report` or a saved report.
    #[arg(default_value = report::BUILTIN_NAMES[0])]
    pub name: String,
    /// Output: text, json (Teleport's report-result shape) or html (one self-contained page
    /// with a chart per query).
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Write the output to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub async fn run(mut a: Args) -> Result<ExitCode> {
    a.scope.days = a.scope.days.or(Some(DEFAULT_REPORT_DAYS));
    let r = Resolved::new(&a.lake, &a.scope, &a.engine, |_| {}).await?;
    run_resolved(&r, &a.scope, &a.name, a.format, a.out).await
}

/// Resolves the report by name, runs and records it, and writes it out (shared with
/// `reports run`).
pub async fn run_resolved(
    r: &Resolved,
    scope: &ScopeArgs,
    name: &str,
    format: ReportFormat,
    out: Option<PathBuf>,
) -> Result<ExitCode> {
    let rep = report::resolve(&r.lake, scope.tenant.as_deref(), name).await?;
    let by = RunBy {
        who: crate::lake::store::current_user(),
        tenant: scope.tenant(),
        days: scope.days,
    };
    let result = report::run_and_record(r.runner.as_ref(), &rep, &r.lake, &by).await?;
    let text = match format {
        ReportFormat::Json => {
            serde_json::to_string_pretty(&result).map_err(|e| Error::json("the report", e))? + "\n"
        }
        ReportFormat::Html => crate::analysis::html::render(&rep, &result),
        ReportFormat::Text => report::render_text(&result),
    };
    match out {
        Some(path) => std::fs::write(&path, text).map_err(|e| Error::io("write", path, e))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
