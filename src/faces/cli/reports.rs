//! `auditlake reports create|ls|get|rm|run`: saved reports (lists of saved queries).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::args::{
    CatalogArgs, EngineArgs, EngineKind, LakeArgs, NamedArgs, Resolved, ScopeArgs, TenantArg,
};
use super::queries::yaml;
use super::report::{DEFAULT_REPORT_DAYS, ReportFormat, run_resolved};
use crate::analysis::report;
use crate::error::Result;
use crate::lake::store::SavedReport;
use crate::query::cells::escape_control;

/// Saved reports (lists of saved queries), kept in the lake (`_catalog/reports/`).
#[derive(Debug, Subcommand)]
pub enum ReportsCmd {
    /// Save a report made of saved queries (`--query NAME`, repeated, in order).
    Create {
        #[command(flatten)]
        lake: LakeArgs,
        #[command(flatten)]
        tenant: TenantArg,
        name: String,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long = "query", required = true)]
        queries: Vec<String>,
        #[arg(long)]
        replace: bool,
    },
    /// List saved reports.
    Ls(CatalogArgs),
    /// Print a saved report (YAML).
    Get(NamedArgs),
    /// Remove a saved report.
    Rm(NamedArgs),
    /// Run a saved report (or the built-in `privilege_access_report`).
    Run {
        #[command(flatten)]
        lake: LakeArgs,
        #[command(flatten)]
        scope: ScopeArgs,
        name: String,
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub async fn run(cmd: ReportsCmd) -> Result<ExitCode> {
    match cmd {
        ReportsCmd::Create {
            lake,
            tenant,
            name,
            title,
            description,
            queries,
            replace,
        } => {
            let lake = lake.open()?;
            let r = SavedReport {
                name,
                title,
                description,
                queries,
                created_at: crate::lake::store::now_rfc3339(),
            };
            report::saved(&lake, tenant.get())
                .create_report(&r, replace)
                .await?;
            println!("saved report '{}'", r.name);
        }
        ReportsCmd::Ls(CatalogArgs { lake, tenant }) => {
            let lake = lake.open()?;
            let cat = report::saved(&lake, tenant.get());
            let b = report::builtin();
            println!("{}\t{} (built in)", b.name, b.title);
            for n in cat.reports().await? {
                let r = cat.report(&n).await?;
                println!("{n}\t{}", escape_control(&r.title));
            }
        }
        ReportsCmd::Get(NamedArgs {
            catalog: CatalogArgs { lake, tenant },
            name,
        }) => {
            let lake = lake.open()?;
            if report::is_builtin(&name) {
                print!("{}", report::PRIVILEGED_ACCESS_YAML);
            } else {
                print!(
                    "{}",
                    yaml(&report::saved(&lake, tenant.get()).report(&name).await?)?
                );
            }
        }
        ReportsCmd::Rm(NamedArgs {
            catalog: CatalogArgs { lake, tenant },
            name,
        }) => {
            let lake = lake.open()?;
            report::saved(&lake, tenant.get())
                .remove_report(&name)
                .await?;
            println!("removed report '{name}'");
        }
        ReportsCmd::Run {
            lake,
            mut scope,
            name,
            format,
            out,
        } => {
            scope.days = scope.days.or(Some(DEFAULT_REPORT_DAYS));
            let local = EngineArgs {
                engine: EngineKind::Local,
                config: None,
            };
            let r = Resolved::new(&lake, &scope, &local, |_| {}).await?;
            return run_resolved(&r, &scope, &name, format, out).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}
