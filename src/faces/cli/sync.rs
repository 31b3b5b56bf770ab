//! `auditlake sync`: a tenant's partitions from one lake (e.g. S3) into a local one.

use std::process::ExitCode;

use crate::error::Result;
use crate::lake::Lake;
use crate::lake::sync::{self, DEFAULT_PARALLEL, SyncOptions};
use crate::tenant::TenantId;

/// Download a tenant's partitions (e.g. from S3) into a local lake for offline work; resumable.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The source lake, e.g. s3://bucket/data.
    #[arg(long)]
    pub from: String,
    /// The destination lake directory.
    #[arg(long)]
    pub to: String,
    #[arg(long)]
    pub tenant: TenantId,
    /// First day (YYYY-MM-DD).
    #[arg(long)]
    pub since: chrono::NaiveDate,
    /// Last day, inclusive (default: today).
    #[arg(long)]
    pub until: Option<chrono::NaiveDate>,
    /// Files downloaded at once.
    #[arg(long, default_value_t = DEFAULT_PARALLEL)]
    pub parallel: usize,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let src = Lake::open(&a.from)?;
    let dst = Lake::open(&a.to)?;
    let opts = SyncOptions {
        tenant: a.tenant.into_string(),
        since: a.since,
        until: a.until,
        parallel: a.parallel,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let s = sync::sync(&src, &dst, &opts).await?;
    println!(
        "{} partitions: fetched {} files ({} bytes) and {} n-gram indexes{}, {} already present, {} removed (compacted at the source); now: auditlake sql --lake {} --tenant {}",
        s.partitions,
        s.fetched_files,
        s.fetched_bytes,
        s.fetched_indexes,
        if s.failed_indexes > 0 {
            format!(
                " ({} indexes not copied: offline LIKE reads those files whole)",
                s.failed_indexes
            )
        } else {
            String::new()
        },
        s.skipped_files,
        s.removed_files,
        a.to,
        opts.tenant
    );
    Ok(ExitCode::SUCCESS)
}
