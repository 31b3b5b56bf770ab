//! `auditlake compact`: rewrite partitions as sorted files with one row per uid, one compactor
//! per partition; the replaced files go once the grace period is over (`--wait`: in this run).

use std::process::ExitCode;
use std::time::Duration;

use clap::builder::TypedValueParser;

use super::args::{LakeArgs, ViewsArgs};
use crate::config::parse_duration;
use crate::error::{Error, Result};
use crate::lake::{compact, merge};
use crate::tenant::TenantId;

/// Rewrite partitions' small files as sorted files with one row per uid (atomic for
/// readers; a partition another compactor holds is skipped).
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
    /// Rows per output file at most.
    #[arg(long, default_value_t = compact::TARGET_ROWS, value_parser = clap::value_parser!(u64).range(1..).map(|n| n as usize))]
    pub target_rows: usize,
    /// Keep replaced files this long after the switch, so queries that listed them finish
    /// (`0s`: delete at once; a query reading them then fails and can be re-run).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub grace: Duration,
    /// Wait for the grace period and delete the replaced files in this run (otherwise the
    /// next `compact` of the partition, or the consumer's leader, deletes them once it is over;
    /// until then Athena, which ignores tombstones, counts both sets).
    #[arg(long)]
    pub wait: bool,
    /// Lifetime of the partition lock between renewals (a crashed compactor's partition is
    /// free again after it).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub lock_ttl: Duration,
    /// Memory the dedup set and the merge may use, in MiB (bigger partitions take more
    /// passes, not more memory).
    #[arg(long, default_value_t = merge::DEFAULT_MEMORY_BUDGET >> 20, value_parser = clap::value_parser!(u64).range(16..=1 << 20).map(|n| n as usize))]
    pub memory_budget_mib: usize,
    /// Merge at most this many files at once (default: as many as the memory budget allows;
    /// more files are merged in levels through temporary runs).
    #[arg(long, value_parser = clap::value_parser!(u64).range(2..).map(|n| n as usize))]
    pub max_fan_in: Option<usize>,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub views: ViewsArgs,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let lake = a.lake.open()?;
    let opts = compact::CompactOptions {
        min_files: a.min_files,
        target_rows: a.target_rows,
        grace: a.grace,
        lock_ttl: a.lock_ttl.max(Duration::from_secs(1)),
        memory_budget: a.memory_budget_mib << 20,
        max_fan_in: a.max_fan_in,
    };
    let parts = compact::partitions(&lake, a.tenant.as_deref(), a.date).await?;
    let mut out = Vec::new();
    for (t, d) in parts {
        let s = compact::compact_partition_with(&lake, &t, d, &opts).await?;
        if !a.json {
            if let Some(h) = &s.locked_by {
                println!("{t}/{d}: skipped, being compacted by {h}");
            } else if !s.skipped {
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
        }
        out.push(s);
    }
    // One wait for every partition, then their replaced files go.
    // A compacted partition has new files, so no sidecar of its key: build what was asked.
    let mut compacted: std::collections::BTreeMap<&str, Vec<chrono::NaiveDate>> =
        Default::default();
    for s in out.iter().filter(|s| !s.skipped && s.locked_by.is_none()) {
        if let Ok(d) = chrono::NaiveDate::parse_from_str(&s.date, "%Y-%m-%d") {
            compacted.entry(s.tenant.as_str()).or_default().push(d);
        }
    }
    for (tenant, dates) in &compacted {
        if let Some(line) = a.views.prepare(&lake, tenant, dates).await {
            if a.json {
                tracing::info!(tenant = %tenant, "{line}");
            } else {
                println!("{tenant}: {line}");
            }
        }
    }
    let due = out.iter().filter_map(|s| s.delete_after_unix_ms).max();
    let mut deleted = 0;
    if let Some(at) = due
        && a.wait
    {
        if !a.json {
            println!(
                "waiting {:.0?} (--grace) before deleting the replaced files",
                compact::until(at)
            );
        }
        tokio::time::sleep(compact::until(at)).await;
        for s in out.iter().filter(|s| s.delete_after_unix_ms.is_some()) {
            let d = chrono::NaiveDate::parse_from_str(&s.date, "%Y-%m-%d")
                .map_err(|e| Error::Other(format!("bad date {}: {e}", s.date)))?;
            if let Some(t) = compact::cleanup_partition(&lake, &s.tenant, d, opts.lock_ttl).await? {
                deleted += t.cleaned;
            }
        }
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| Error::json("the summary", e))?
        );
    } else {
        let done = out.iter().filter(|s| !s.skipped).count();
        let busy = out.iter().filter(|s| s.locked_by.is_some()).count();
        let indexed: usize = out.iter().map(|s| s.indexes_built).sum();
        println!(
            "compacted {done} of {} partitions ({} duplicates removed{}{}{})",
            out.len(),
            out.iter().map(|s| s.duplicates_removed).sum::<usize>(),
            if busy > 0 {
                format!(", {busy} skipped as being compacted elsewhere")
            } else {
                String::new()
            },
            if deleted > 0 {
                format!(", replaced files of {deleted} deleted")
            } else {
                String::new()
            },
            if indexed > 0 {
                format!(", {indexed} missing n-gram indexes built")
            } else {
                String::new()
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
