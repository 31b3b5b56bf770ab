//! `auditlake alerts`: the detections of `sql/detections/` over a window or a replayed period,
//! printed grouped (or as a per-rule summary, or as JSON), above a severity floor.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use super::args::{EngineArgs, EngineKind, LakeArgs, Resolved, ScopeArgs};
use crate::analysis::alerts::{self, AlertOptions, AlertState, Severity};
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
    /// `table`: grouped per rule, identity and day; `json`/`ndjson`: one object per alert.
    #[arg(long, value_enum, default_value_t = AlertFormat::Table)]
    pub format: AlertFormat,
    /// Per rule: alerts, events, identities and the top identities (instead of the listing).
    #[arg(long)]
    pub summary: bool,
    /// Leave out alerts less severe than this (critical, high, medium, low); not applied to
    /// the rule of `--only`.
    #[arg(long, default_value_t = alerts::DEFAULT_MIN_SEVERITY)]
    pub min_severity: Severity,
    /// Every alert, whatever its severity (`--min-severity low`).
    #[arg(long, conflicts_with = "min_severity")]
    pub all: bool,
    /// Remember reported alerts in this file; later runs print only new ones. An alert is
    /// recorded only after it was printed (`--summary` records nothing).
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
        min_severity: if a.all { Severity::Low } else { a.min_severity },
    };
    let (since, until) = (a.since, a.until);
    let r = Resolved::new(&a.lake, &a.scope, &a.engine, |o| {
        o.since = since;
        o.until = until;
    })
    .await?;
    let mut found = alerts::run_filtered(r.runner.as_ref(), &detections, &opts).await?;
    let mut state = match &a.state {
        Some(p) if !a.summary => Some(AlertState::load(p)?),
        _ => None,
    };
    if let Some(st) = &state {
        found.alerts = st.unseen(found.alerts);
    }
    let text = match (a.format, a.summary) {
        (AlertFormat::Table, true) => alerts::render_summary(&found),
        (AlertFormat::Json, true) => json_line(&alerts::summarize(&found.alerts), true)?,
        (AlertFormat::Ndjson, true) => alerts::summarize(&found.alerts)
            .iter()
            .map(|x| json_line(x, false))
            .collect::<Result<String>>()?,
        (AlertFormat::Json, false) => json_line(&found.alerts, true)?,
        (AlertFormat::Ndjson, false) => found
            .alerts
            .iter()
            .map(|x| json_line(x, false))
            .collect::<Result<String>>()?,
        (AlertFormat::Table, false) => alerts::render_text(&found),
    };
    // Printed and flushed first: only then are the alerts recorded as seen, so an alert that
    // never reached the reader (a full disk, a closed pipe) is reported again next time.
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| Error::io("write", "<stdout>", e))?;
    if let Some(st) = &mut state {
        st.record(&found.alerts)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One JSON document and a newline (pretty for `json`, compact for `ndjson`).
fn json_line<T: serde::Serialize>(v: &T, pretty: bool) -> Result<String> {
    let text = if pretty {
        serde_json::to_string_pretty(v)
    } else {
        serde_json::to_string(v)
    }
    .map_err(|e| Error::json("the alerts", e))?;
    Ok(text + "\n")
}
