//! `auditlake publish`: events from files to the config's queue, in the contract `consume` reads.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::IdentityActivityCenter;
use crate::error::Result;
use crate::ingest::source::SourceKind;
use crate::ingest::sqs::publish::{self, PublishOptions};
use crate::tenant::TenantId;

/// Send events from files to the config's queue, as `consume` expects them (events over
/// 250 KiB go to `s3_large_files` with a pointer message).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// YAML config holding the `identity_activity_center:` block.
    #[arg(long)]
    pub config: PathBuf,
    /// `tenant_id` attribute of the messages (default: the consumer's tenant).
    #[arg(long)]
    pub tenant: Option<TenantId>,
    /// `event_source` attribute (default: detected per record by the consumer).
    #[arg(long)]
    pub source: Option<String>,
    /// Events per message (sent as a JSON array when more than one).
    #[arg(long, default_value_t = 1)]
    pub events_per_message: usize,
    /// Files of events (NDJSON, JSON arrays, CloudTrail log files, .gz); `-` reads stdin.
    #[arg(required = true)]
    pub files: Vec<String>,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let cfg = IdentityActivityCenter::load(&a.config)?;
    if let Some(s) = &a.source {
        s.parse::<SourceKind>()
            .map_err(crate::error::Error::Config)?;
    }
    let opts = PublishOptions {
        tenant: a.tenant.map(TenantId::into_string),
        source: a.source,
        events_per_message: a.events_per_message,
        s3_options: Vec::new(),
    };
    let sum = publish::publish(&cfg, &a.files, &opts).await?;
    println!(
        "published {} events in {} messages ({} large payloads via s3_large_files)",
        sum.events, sum.messages, sum.large_payloads
    );
    Ok(ExitCode::SUCCESS)
}
