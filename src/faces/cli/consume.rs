//! `auditlake consume`: the SQS ingest service, until SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use super::shutdown_signal;
use crate::config::IdentityActivityCenter;
use crate::error::Result;
use crate::ingest::sqs::{self, ConsumeOptions};

/// The SQS ingest service: one leader among any number of instances receives, writes the
/// lake, and deletes messages once their events are durable (see the README's config keys).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// YAML config holding the `identity_activity_center:` block.
    #[arg(long)]
    pub config: PathBuf,
    /// Prometheus metrics address (overrides `metrics_addr`; port 0 picks a free one).
    #[arg(long)]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let cfg = IdentityActivityCenter::load(&a.config)?;
    let opts = ConsumeOptions {
        metrics_addr: a.metrics_addr,
        ..Default::default()
    };
    sqs::run(cfg, opts, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
