//! `auditlake compact`: rewrite partitions as sorted files with one row per uid.

use std::process::ExitCode;

use super::args::LakeArgs;
use crate::error::{Error, Result};
use crate::lake::compact;
use crate::tenant::TenantId;

/// Rewrite partitions' small files as sorted files with one row per uid (atomic for
/// readers).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<TenantId>,
    /// Only this date (YYYY-MM-DD).
    #[arg(long)]
    pub date: Option<chrono::NaiveDate>,
    /// Leave partitions with fewer live files than this alone (1 also deduplicates
    /// single-file partitions).
    #[arg(long, default_value_t = 2)]
    pub min_files: usize,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let lake = a.lake.open()?;
    let parts = compact::partitions(&lake, a.tenant.as_deref(), a.date).await?;
    let mut out = Vec::new();
    for (t, d) in parts {
        let s = compact::compact_partition(&lake, &t, d, a.min_files).await?;
        if !a.json && !s.skipped {
            println!(
                "{t}/{d}: {} files, {} rows -> {} files, {} rows ({} duplicates removed) in {} ms",
                s.files_before,
                s.rows_before,
                s.files_after,
                s.rows_after,
                s.duplicates_removed,
                s.elapsed_ms
            );
        }
        out.push(s);
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| Error::json("the summary", e))?
        );
    } else {
        let done = out.iter().filter(|s| !s.skipped).count();
        println!(
            "compacted {done} of {} partitions ({} duplicates removed)",
            out.len(),
            out.iter().map(|s| s.duplicates_removed).sum::<usize>()
        );
    }
    Ok(ExitCode::SUCCESS)
}
