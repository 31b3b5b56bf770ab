//! `auditlake ingest`: files (or stdin) → decode → enrich → Parquet in the lake.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::ValueEnum;

use super::EXIT_REJECTED;
use super::args::LakeArgs;
use crate::error::Result;
use crate::ingest::enrich::GeoIp;
use crate::ingest::source::SourceKind;
use crate::ingest::{self, DEFAULT_FLUSH_ROWS, IngestOptions, Input};
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
    /// Files to read; `-` reads stdin.
    #[arg(required = true)]
    pub files: Vec<String>,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let lake = a.lake.open()?;
    let geoip = a.geoip.map(|p| GeoIp::open(&p)).transpose()?.map(Arc::new);
    let opts = IngestOptions {
        tenant: a.tenant.into_string(),
        source: a.source.kind(),
        geoip,
        flush_rows: a.flush_rows.max(1),
        ..Default::default()
    };
    let inputs = a.files.iter().map(|f| Input::parse(f)).collect();
    let progress = std::io::stderr().is_terminal();
    let summary = ingest::ingest_files(&lake, inputs, opts, progress).await?;
    print!("{}", summary.render());
    Ok(if summary.rejected > 0 {
        ExitCode::from(EXIT_REJECTED)
    } else {
        ExitCode::SUCCESS
    })
}
