//! `auditlake ingest`: files (or stdin) → decode → enrich → Parquet in the lake.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::ValueEnum;

use super::EXIT_REJECTED;
use super::args::{LakeArgs, ViewsArgs};
use chrono::NaiveDate;

use crate::error::{Error, Result};
use crate::ingest::enrich::GeoIp;
use crate::ingest::reader::{DEFAULT_MAX_DOCUMENT_BYTES, DEFAULT_MAX_LINE_BYTES};
use crate::ingest::source::{SourceKind, TimeWindow};
use crate::ingest::{self, DEFAULT_FLUSH_BYTES, DEFAULT_FLUSH_ROWS, IngestOptions, Input, Limits};
use crate::tenant::TenantId;

/// Which decoder reads the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceArg {
    /// Detect the source of each record.
    Auto,
    Teleport,
    Cloudtrail,
    Github,
    Okta,
}

impl SourceArg {
    pub fn kind(self) -> Option<SourceKind> {
        match self {
            SourceArg::Auto => None,
            SourceArg::Teleport => Some(SourceKind::Teleport),
            SourceArg::Cloudtrail => Some(SourceKind::CloudTrail),
            SourceArg::Github => Some(SourceKind::GitHub),
            SourceArg::Okta => Some(SourceKind::Okta),
        }
    }
}

/// Ingest audit events from files (NDJSON, JSON arrays, CloudTrail log files, .gz) or stdin.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Tenant the events belong to.
    #[arg(long, default_value = crate::tenant::DEFAULT)]
    pub tenant: TenantId,
    /// Decoder to use; `auto` detects the source of each record.
    #[arg(long, value_enum, default_value_t = SourceArg::Auto)]
    pub source: SourceArg,
    /// MaxMind GeoIP City database for location enrichment.
    #[arg(long)]
    pub geoip: Option<PathBuf>,
    /// Rows buffered before a flush (bounds memory).
    #[arg(long, default_value_t = DEFAULT_FLUSH_ROWS)]
    pub flush_rows: usize,
    /// Bytes buffered before a flush (bounds memory, with --flush-rows).
    #[arg(long, default_value_t = DEFAULT_FLUSH_BYTES)]
    pub flush_bytes: usize,
    /// Directory for the sorted runs a run spills when its input outgrows --flush-bytes/-rows
    /// (a temporary `auditlake-spill-*` directory inside it, removed at the end; a local disk:
    /// runs are read back through memory maps).
    #[arg(long, env = "AUDITLAKE_SPILL_DIR")]
    pub spill_dir: Option<PathBuf>,
    /// Spilled bytes (about the input's size) after which the runs are merged into the lake
    /// mid-run, bounding the spill directory (each such merge adds a file per partition).
    #[arg(long, default_value_t = ingest::DEFAULT_MAX_SPILL_BYTES)]
    pub max_spill_bytes: u64,
    /// Longest NDJSON line (one record); a longer one is a reject. At most 1 GiB.
    #[arg(long, default_value_t = DEFAULT_MAX_LINE_BYTES)]
    pub max_line_bytes: usize,
    /// Largest JSON document (a CloudTrail log file, a JSON array); a larger one is read as
    /// NDJSON lines. At most 1 GiB.
    #[arg(long, default_value_t = DEFAULT_MAX_DOCUMENT_BYTES)]
    pub max_document_bytes: usize,
    /// Earliest plausible event time (a date); earlier events are rejects.
    #[arg(long, default_value = "1970-01-01")]
    pub event_time_min: NaiveDate,
    /// Latest plausible event time (a date, exclusive); later events are rejects.
    #[arg(long, default_value = "2200-01-01")]
    pub event_time_max: NaiveDate,
    #[command(flatten)]
    pub views: ViewsArgs,
    /// Files to read; `-` reads stdin.
    #[arg(required = true)]
    pub files: Vec<String>,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let lake = a.lake.open()?;
    let geoip = a.geoip.map(|p| GeoIp::open(&p)).transpose()?.map(Arc::new);
    let window = TimeWindow::from_dates(a.event_time_min, a.event_time_max).ok_or_else(|| {
        Error::Config(format!(
            "--event-time-min {} must be before --event-time-max {}, both in years 1..=9999",
            a.event_time_min, a.event_time_max
        ))
    })?;
    let tenant = a.tenant.into_string();
    let opts = IngestOptions {
        tenant: tenant.clone(),
        source: a.source.kind(),
        geoip,
        flush_rows: a.flush_rows.max(1),
        flush_bytes: a.flush_bytes.max(1),
        window,
        limits: Limits::checked(a.max_line_bytes, a.max_document_bytes)?,
        spill_dir: a.spill_dir,
        max_spill_bytes: a.max_spill_bytes.max(1),
        ..Default::default()
    };
    let inputs = a.files.iter().map(|f| Input::parse(f)).collect();
    let progress = std::io::stderr().is_terminal();
    let summary = ingest::ingest_files(&lake, inputs, opts, progress).await?;
    print!("{}", summary.render());
    let dates: Vec<NaiveDate> = summary
        .by_partition
        .keys()
        .filter(|(t, _)| *t == tenant)
        .map(|(_, d)| *d)
        .collect();
    if let Some(line) = a.views.prepare(&lake, &tenant, &dates).await {
        println!("{line}");
    }
    Ok(if summary.rejected > 0 {
        ExitCode::from(EXIT_REJECTED)
    } else {
        ExitCode::SUCCESS
    })
}
