//! `auditlake alerts`: the detections of `sql/detections/` over a window or a replayed period.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use super::args::{EngineArgs, EngineKind, LakeArgs, Resolved, ScopeArgs};
use crate::analysis::alerts::{self, AlertOptions};
use crate::error::{Error, Result};

/// Alert output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlertFormat {
    Table,
    Json,
    Ndjson,
}

/// Detections look back this many days unless told otherwise (new-country needs history).
pub const DEFAULT_ALERT_DAYS: u32 = 30;

/// Run the detections of `sql/detections/` over the lake and print alerts, most severe first.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Only this detection.
    #[arg(long)]
    pub only: Option<String>,
    /// Replay a period: first day (YYYY-MM-DD); replaces the default 30-day window.
    #[arg(long)]
    pub since: Option<chrono::NaiveDate>,
    /// Last day of the period, inclusive.
    #[arg(long)]
    pub until: Option<chrono::NaiveDate>,
    #[arg(long, value_enum, default_value_t = AlertFormat::Table)]
    pub format: AlertFormat,
    /// Remember reported alerts in this file; later runs print only new ones.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Matches of one rule and identity within this many seconds fold into one alert.
    #[arg(long, default_value_t = alerts::DEFAULT_DEDUP_WINDOW_SECS)]
    pub dedup_window_secs: i64,
    /// List the detections and exit.
    #[arg(long)]
    pub list: bool,
    /// Also run the Sigma rules in these files or directories (docs/sigma.md).
    #[arg(long, num_args = 1.., value_name = "DIR|FILE")]
    pub sigma: Vec<PathBuf>,
    /// A YAML file extending the Sigma field mapping.
    #[arg(long, requires = "sigma")]
    pub sigma_mapping: Option<PathBuf>,
}

pub async fn run(mut a: Args) -> Result<ExitCode> {
    let detections = super::sigma::alert_detections(&a.sigma, a.sigma_mapping.as_deref())?;
    if a.list {
        for d in &detections {
            println!("{:<32} {:<8} {}", d.name, d.severity.as_str(), d.title);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let replay = a.since.is_some() || a.until.is_some();
    if !replay {
        a.scope.days = a.scope.days.or(Some(DEFAULT_ALERT_DAYS));
    }
    if replay && a.engine.engine == EngineKind::Athena {
        return Err(Error::Config(
            "--since/--until replay runs on the local engine; on Athena use --days".into(),
        ));
    }
    let opts = AlertOptions {
        only: a.only,
        dedup_window_secs: a.dedup_window_secs,
    };
    let (since, until) = (a.since, a.until);
    let r = Resolved::new(&a.lake, &a.scope, &a.engine, |o| {
        o.since = since;
        o.until = until;
    })
    .await?;
    let mut found = alerts::run_detections(r.runner.as_ref(), &detections, &opts).await?;
    if let Some(st) = &a.state {
        found = alerts::only_new(found, st)?;
    }
    match a.format {
        AlertFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&found).map_err(|e| Error::json("the alerts", e))?
        ),
        AlertFormat::Ndjson => {
            for x in &found {
                println!(
                    "{}",
                    serde_json::to_string(x).map_err(|e| Error::json("an alert", e))?
                );
            }
        }
        AlertFormat::Table => print!("{}", alerts::render_text(&found)),
    }
    Ok(ExitCode::SUCCESS)
}
