//! `auditlake sigma convert|check`: the SQL a Sigma rule runs as, and which rules of a rule
//! set compile (and why the others do not). `alerts --sigma` loads rules through
//! `alert_detections` here, so both commands report skipped rules the same way.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Subcommand, ValueEnum};

use super::args::EngineKind;
use crate::analysis::alerts::{self, Detection};
use crate::analysis::sigma::{self, RuleSet, mapping::Mapping};
use crate::error::{Error, Result};
use crate::query::athena::{Athena, AthenaOptions};
use crate::tenant::TenantId;

#[derive(Debug, Subcommand)]
pub enum SigmaCmd {
    /// Print the SQL each rule of FILE compiles to (local: the statement over `events`;
    /// athena: as sent to Athena, with the tenant-scoped WITH header).
    Convert(ConvertArgs),
    /// List every rule under the paths as compiled or skipped, with the reason.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// A Sigma rule file (several YAML documents allowed, e.g. a correlation and its rules).
    pub file: PathBuf,
    #[arg(long, value_enum, default_value_t = EngineKind::Local)]
    pub engine: EngineKind,
    /// A YAML file extending the field mapping (docs/sigma.md).
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// Config with the `identity_activity_center:` block (Athena database and table).
    #[arg(long, env = "AUDITLAKE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Tenant the Athena statement is scoped to (required with --engine athena).
    #[arg(long)]
    pub tenant: Option<TenantId>,
    /// Only the last N days of partitions (Athena).
    #[arg(long)]
    pub days: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Rule files or directories (searched for .yml/.yaml).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// A YAML file extending the field mapping (docs/sigma.md).
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
}

fn mapping(file: Option<&Path>) -> Result<Mapping> {
    file.map_or_else(|| Ok(Mapping::default()), Mapping::with_file)
}

/// Built-in detections plus the Sigma rules under `paths`; skipped rules go to stderr.
pub fn alert_detections(paths: &[PathBuf], mapping_file: Option<&Path>) -> Result<Vec<Detection>> {
    let mut all = alerts::detections()?;
    if paths.is_empty() {
        return Ok(all);
    }
    let set = sigma::load(paths, &mapping(mapping_file)?)?;
    report_skipped(&set);
    all.extend(set.detections());
    Ok(all)
}

fn report_skipped(set: &RuleSet) {
    for s in &set.skipped {
        eprintln!(
            "sigma: skipped {}{}: {}",
            s.file.display(),
            s.title
                .as_deref()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default(),
            s.reason
        );
    }
}

pub async fn run(cmd: SigmaCmd) -> Result<ExitCode> {
    match cmd {
        SigmaCmd::Convert(a) => convert(a),
        SigmaCmd::Check(a) => check(a),
    }
}

fn convert(a: ConvertArgs) -> Result<ExitCode> {
    let set = sigma::load(
        std::slice::from_ref(&a.file),
        &mapping(a.mapping.as_deref())?,
    )?;
    report_skipped(&set);
    let athena = match a.engine {
        EngineKind::Local => None,
        EngineKind::Athena => {
            let tenant = a.tenant.as_deref().ok_or_else(|| {
                Error::Config(
                    "--engine athena needs --tenant (Athena's tenant_id is injected)".into(),
                )
            })?;
            let timeout = Duration::from_secs(crate::query::engine::DEFAULT_TIMEOUT_SECS);
            Some(match &a.config {
                Some(p) => {
                    let cfg = crate::config::IdentityActivityCenter::load(p)?;
                    Athena::options_from(&cfg, Some(tenant), a.days, timeout)?
                }
                None => AthenaOptions {
                    database: "auditlake".into(),
                    table: crate::query::engine::DEFAULT_TABLE.into(),
                    workgroup: None,
                    output_location: None,
                    tenant: tenant.to_string(),
                    days: a.days,
                    region: None,
                    timeout,
                },
            })
        }
    };
    let many = set.compiled.len() > 1;
    for c in &set.compiled {
        let text = match &athena {
            None => c.sql.clone(),
            Some(o) => crate::query::athena::wrap_sql(&c.sql, o)?,
        };
        println!("-- {}: {}", c.name, c.title);
        println!("{text}{}", if many { ";\n" } else { "" });
    }
    if set.compiled.is_empty() {
        return Err(Error::Config(format!(
            "{}: no rule compiled",
            a.file.display()
        )));
    }
    Ok(if set.skipped.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn check(a: CheckArgs) -> Result<ExitCode> {
    let set = sigma::load(&a.paths, &mapping(a.mapping.as_deref())?)?;
    match a.format {
        CheckFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&set).map_err(|e| Error::json("the rule check", e))?
        ),
        CheckFormat::Table => {
            for c in &set.compiled {
                println!(
                    "compiled  {:<8} {}  {}  ({})",
                    c.severity.as_str(),
                    c.name,
                    c.title,
                    c.file.display()
                );
            }
            for s in &set.skipped {
                println!(
                    "skipped   {}{}: {}",
                    s.file.display(),
                    s.title
                        .as_deref()
                        .map(|t| format!(" ({t})"))
                        .unwrap_or_default(),
                    s.reason
                );
            }
            println!(
                "({} compiled, {} skipped, {} only feed correlations)",
                set.compiled.len(),
                set.skipped.len(),
                set.referenced
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
