//! `auditlake doctor`: a config checked against its infrastructure.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::error::{Error, Result};

/// Check a config against its infrastructure (buckets, queue and DLQ, GeoIP, Athena) and
/// say what is missing, with the IAM action to add. Exit code 5 when a check fails.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// YAML config holding the `identity_activity_center:` block.
    #[arg(long)]
    pub config: PathBuf,
    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let cfg = crate::config::IdentityActivityCenter::load(&a.config)?;
    let checks = crate::ops::doctor::run(&cfg).await;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&checks).map_err(|e| Error::json("the checks", e))?
        );
    } else {
        print!("{}", crate::ops::doctor::render(&checks));
    }
    Ok(if checks.iter().all(|c| c.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_UNAVAILABLE)
    })
}
