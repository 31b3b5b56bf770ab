//! `auditlake ddl`: the Glue table and views as Athena DDL, printed or applied.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::error::{Error, Result};
use crate::query::athena::Athena;
use crate::query::engine::DEFAULT_TABLE;

/// Print the Athena DDL: the Glue table and (with --views) every view.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Bucket or data prefix of the lake, e.g. s3://my-long-term-bucket.
    #[arg(long)]
    pub location: Option<String>,
    /// Table name.
    #[arg(long, default_value = DEFAULT_TABLE)]
    pub table: String,
    /// Also print `CREATE OR REPLACE VIEW` for every view.
    #[arg(long)]
    pub views: bool,
    /// Print only the views.
    #[arg(long)]
    pub views_only: bool,
    /// Run the statements on Athena (creating the table and views in Glue) with the
    /// config's database, table, workgroup and s3_results; location defaults to its `s3`.
    #[arg(long, requires = "config")]
    pub apply: bool,
    /// Config holding the `identity_activity_center:` block (for `--apply`).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let cfg = match &a.config {
        Some(p) => Some(crate::config::IdentityActivityCenter::load(p)?),
        None => None,
    };
    // With a config, its table and lake location are the defaults.
    let table = match (&cfg, a.table.as_str()) {
        (Some(c), DEFAULT_TABLE) => c.table.clone().unwrap_or(a.table),
        _ => a.table,
    };
    let location = a.location.or_else(|| cfg.as_ref().map(|c| c.s3.clone()));
    let mut statements = Vec::new();
    if !a.views_only {
        statements.push(crate::query::views::glue_ddl(location.as_deref(), &table));
    }
    if a.views || a.views_only {
        for v in crate::query::views::views() {
            statements.push(v.ddl(&table));
        }
    }
    if !a.apply {
        for s in &statements {
            println!("{};\n", s.trim().trim_end_matches(';'));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cfg = cfg.ok_or_else(|| Error::Config("--apply needs --config FILE".into()))?;
    let opts = Athena::options_from(&cfg, Some("ddl"), None, std::time::Duration::from_secs(300))?;
    let athena = Athena::new(opts).await?;
    for s in &statements {
        // One statement per execution, without comments or the trailing `;` (Athena's DDL
        // parser takes neither well).
        let text: String = s
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        let text = text.trim().trim_end_matches(';').to_string();
        let first = text.lines().next().unwrap_or_default().to_string();
        athena.execute_raw(&text).await?;
        println!("ok: {first}");
    }
    Ok(ExitCode::SUCCESS)
}
