//! Detections of odd identity behaviour, written as SQL over the lake (`sql/detections/*.sql`,
//! Trino SQL that also runs on Athena), run through the engine and turned into alerts:
//! severity-sorted, deduplicated per rule and identity within a window, above a severity floor,
//! optionally only the ones a state file has not seen yet (recorded only once they were
//! printed). Because they are SQL over history, any period can be replayed. The text listing
//! groups them per rule, identity and day, so a month reads in a minute.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::query::engine::Engine;

/// How bad an alert is; orders critical first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "critical" => Ok(Severity::Critical),
            "high" => Ok(Severity::High),
            "medium" => Ok(Severity::Medium),
            "low" => Ok(Severity::Low),
            o => Err(format!(
                "unknown severity '{o}' (critical, high, medium, low)"
            )),
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Alerts less severe than this are left out unless asked for (`--min-severity`, `--all`):
/// the low-severity rules fire on routine weak-security habits, and by the thousand.
pub const DEFAULT_MIN_SEVERITY: Severity = Severity::Medium;

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

/// One detection file: front matter (`-- key: value` lines) and its SQL.
#[derive(Debug, Clone)]
pub struct Detection {
    pub name: String,
    pub title: String,
    pub severity: Severity,
    pub sources: Vec<String>,
    pub description: String,
    /// The statement; built-ins are embedded, Sigma rules compile to theirs at run time.
    pub sql: String,
}

/// Parses a detection file's front matter.
pub fn parse_detection(stem: &str, text: &'static str) -> Result<Detection> {
    let mut meta = Map::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("-- ") else {
            break;
        };
        if let Some((k, v)) = rest.split_once(':') {
            meta.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
        }
    }
    let get = |k: &str| {
        meta.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::Config(format!("detection {stem}: front matter lacks `{k}`")))
    };
    let name = get("name")?;
    if name != stem {
        return Err(Error::Config(format!(
            "detection {stem}: name '{name}' differs from its file name"
        )));
    }
    Ok(Detection {
        title: get("title")?,
        severity: get("severity")?.parse().map_err(Error::Config)?,
        sources: get("sources")?
            .split(',')
            .map(|s| s.trim().to_string())
            .collect(),
        description: get("description")?,
        sql: text.to_string(),
        name,
    })
}

/// Every built-in detection, by name.
pub fn detections() -> Result<Vec<Detection>> {
    crate::query::views::detection_files()
        .iter()
        .map(|(stem, text)| parse_detection(stem, text))
        .collect()
}

/// One alert: what `--format json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub rule: String,
    pub title: String,
    pub severity: Severity,
    pub identity: Option<String>,
    pub event_source: Option<String>,
    /// UTC, `YYYY-MM-DD HH:MM:SS.sss` (as `tctl` prints times): the first matching event.
    pub time: String,
    /// The last matching event folded into this alert (same format).
    #[serde(default)]
    pub last_time: String,
    /// The detection's other columns, from its first matching row.
    pub evidence: Map<String, Value>,
    /// Every matching event folded into this alert.
    pub uids: Vec<String>,
}

impl Alert {
    /// Identity of an alert across runs (for `--state`).
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}",
            self.rule,
            self.identity.as_deref().unwrap_or(""),
            self.uids.first().map(String::as_str).unwrap_or(&self.time)
        )
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct AlertOptions {
    /// Only this detection.
    pub only: Option<String>,
    /// Matches of one rule and identity closer than this to the alert's first match fold into it.
    pub dedup_window_secs: i64,
    /// Leave out alerts less severe than this (not applied to the rule named by `only`).
    pub min_severity: Severity,
}

/// Matches of one rule and identity within this many seconds fold into one alert.
pub const DEFAULT_DEDUP_WINDOW_SECS: i64 = 3600;

impl Default for AlertOptions {
    fn default() -> Self {
        AlertOptions {
            only: None,
            dedup_window_secs: DEFAULT_DEDUP_WINDOW_SECS,
            min_severity: DEFAULT_MIN_SEVERITY,
        }
    }
}

fn parse_time(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok()
}

/// Runs the detections through the engine (whose scope carries tenant and days).
pub async fn run(engine: &Engine, opts: &AlertOptions) -> Result<Vec<Alert>> {
    run_with(engine, opts).await
}

/// The alerts of a run, and how many the severity floor left out.
#[derive(Debug, Clone, Default)]
pub struct AlertRun {
    pub alerts: Vec<Alert>,
    /// Alerts below the floor, not in `alerts`.
    pub hidden: usize,
    pub floor: Option<Severity>,
}

/// Runs the detections and applies the severity floor of `opts` (not to an `only` rule).
pub async fn run_filtered(
    engine: &dyn crate::query::runner::QueryRunner,
    detections: &[Detection],
    opts: &AlertOptions,
) -> Result<AlertRun> {
    let all = run_detections(engine, detections, opts).await?;
    if opts.only.is_some() || opts.min_severity == Severity::Low {
        return Ok(AlertRun {
            alerts: all,
            hidden: 0,
            floor: None,
        });
    }
    let total = all.len();
    let alerts: Vec<Alert> = all
        .into_iter()
        .filter(|a| a.severity <= opts.min_severity)
        .collect();
    Ok(AlertRun {
        hidden: total - alerts.len(),
        alerts,
        floor: Some(opts.min_severity),
    })
}

/// Runs the detections on either engine (on Athena, `identities` must exist in Glue); every
/// alert, whatever its severity.
pub async fn run_with(
    engine: &dyn crate::query::runner::QueryRunner,
    opts: &AlertOptions,
) -> Result<Vec<Alert>> {
    run_detections(engine, &detections()?, opts).await
}

/// Runs the given detections (built-in ones, Sigma rules compiled by `analysis::sigma`) through
/// the one alert path: rows to alerts, folded, severity-sorted.
pub async fn run_detections(
    engine: &dyn crate::query::runner::QueryRunner,
    all: &[Detection],
    opts: &AlertOptions,
) -> Result<Vec<Alert>> {
    if let Some(only) = &opts.only
        && !all.iter().any(|d| &d.name == only)
    {
        let names: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
        return Err(Error::Config(format!(
            "unknown detection '{only}' (one of: {})",
            names.join(", ")
        )));
    }
    let mut alerts = Vec::new();
    for d in all
        .iter()
        .filter(|d| opts.only.as_ref().is_none_or(|o| *o == d.name))
    {
        let res = engine
            .execute(&d.sql)
            .await
            .map_err(|e| Error::Other(format!("detection {}: {}", d.name, e.chain(": "))))?;
        let table = crate::query::cells::tctl_rows(&res.schema, &res.batches)?;
        let rows = table.as_array().cloned().unwrap_or_default();
        let Some(header) = rows.first().and_then(|r| r["data"].as_array()).cloned() else {
            continue;
        };
        let cols: Vec<String> = header
            .iter()
            .map(|c| c.as_str().unwrap_or_default().to_string())
            .collect();
        let mut hits: Vec<Alert> = Vec::new();
        for r in rows.iter().skip(1) {
            let vals = r["data"].as_array().cloned().unwrap_or_default();
            let mut evidence = Map::new();
            let (mut identity, mut source, mut time, mut uid, mut severity) =
                (None, None, String::new(), None, d.severity);
            for (c, v) in cols.iter().zip(vals) {
                let text = v.as_str().map(str::to_string);
                match c.as_str() {
                    "identity" => identity = text,
                    "event_source" => source = text,
                    "event_time" => time = text.unwrap_or_default(),
                    "uid" => uid = text,
                    "severity" => {
                        severity = text.and_then(|t| t.parse().ok()).unwrap_or(d.severity)
                    }
                    _ => {
                        evidence.insert(c.clone(), v);
                    }
                }
            }
            hits.push(Alert {
                rule: d.name.clone(),
                title: d.title.clone(),
                severity,
                identity,
                event_source: source,
                last_time: time.clone(),
                time,
                evidence,
                uids: uid.into_iter().collect(),
            });
        }
        alerts.extend(dedup(hits, opts.dedup_window_secs));
    }
    alerts.sort_by(|a, b| (a.severity, &a.time, &a.rule).cmp(&(b.severity, &b.time, &b.rule)));
    Ok(alerts)
}

/// Folds matches of one rule and identity within the window into the first one.
fn dedup(mut hits: Vec<Alert>, window_secs: i64) -> Vec<Alert> {
    hits.sort_by(|a, b| (&a.identity, &a.time).cmp(&(&b.identity, &b.time)));
    let mut out: Vec<Alert> = Vec::new();
    for h in hits {
        if let Some(last) = out.last_mut()
            && last.identity == h.identity
            && let (Some(t0), Some(t1)) = (parse_time(&last.time), parse_time(&h.time))
            && (t1 - t0).num_seconds() <= window_secs
        {
            for u in h.uids {
                if !last.uids.contains(&u) {
                    last.uids.push(u);
                }
            }
            if h.last_time > last.last_time {
                last.last_time = h.last_time;
            }
            // The strongest severity of the folded matches wins.
            last.severity = last.severity.min(h.severity);
            continue;
        }
        out.push(h);
    }
    out
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    seen: BTreeSet<String>,
}

/// The alerts a state file (`--state`) has seen. Loading changes nothing; `record` is called
/// only after the alerts were printed and flushed, so an alert that never reached the reader
/// (a full disk, a closed pipe, a crash) is reported again by the next run.
#[derive(Debug)]
pub struct AlertState {
    path: PathBuf,
    file: StateFile,
}

impl AlertState {
    pub fn load(path: &Path) -> Result<AlertState> {
        let file = match std::fs::read_to_string(path) {
            Ok(t) => serde_json::from_str(&t)
                .map_err(|e| Error::json(format!("the alert state {}", path.display()), e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StateFile::default(),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        Ok(AlertState {
            path: path.into(),
            file,
        })
    }

    /// The alerts not seen before.
    pub fn unseen(&self, alerts: Vec<Alert>) -> Vec<Alert> {
        alerts
            .into_iter()
            .filter(|a| !self.file.seen.contains(&a.key()))
            .collect()
    }

    /// Marks alerts as seen and writes the file atomically (a temporary file, then a rename).
    pub fn record(&mut self, alerts: &[Alert]) -> Result<()> {
        if alerts.is_empty() && self.path.exists() {
            return Ok(());
        }
        self.file.seen.extend(alerts.iter().map(Alert::key));
        let tmp = self.path.with_extension("tmp");
        let bytes =
            serde_json::to_vec_pretty(&self.file).map_err(|e| Error::json("the alert state", e))?;
        std::fs::write(&tmp, bytes).map_err(|e| Error::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| Error::io("rename", &self.path, e))
    }
}

mod text;
pub use text::{RuleSummary, TOP_IDENTITIES, render_summary, render_text, summarize};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_detection_has_front_matter() {
        let d = detections().unwrap();
        assert!(d.len() >= 12, "{}", d.len());
        assert!(
            d.iter()
                .any(|x| x.name == "impossible_travel" && x.severity == Severity::High)
        );
    }

    #[test]
    fn folds_within_the_window_only() {
        let a = |t: &str, u: &str| Alert {
            rule: "r".into(),
            title: "R".into(),
            severity: Severity::Low,
            identity: Some("alice".into()),
            event_source: None,
            time: t.into(),
            last_time: t.into(),
            evidence: Map::new(),
            uids: vec![u.into()],
        };
        let out = dedup(
            vec![
                a("2024-03-20 10:00:00.000", "1"),
                a("2024-03-20 10:30:00.000", "2"),
                a("2024-03-20 12:00:00.000", "3"),
            ],
            3600,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].uids, vec!["1", "2"]);
        assert_eq!(out[0].last_time, "2024-03-20 10:30:00.000");
    }

    pub(super) fn alert(rule: &str, sev: Severity, who: &str, t: &str, uids: &[&str]) -> Alert {
        Alert {
            rule: rule.into(),
            title: rule.to_uppercase(),
            severity: sev,
            identity: Some(who.into()),
            event_source: Some("teleport".into()),
            time: t.into(),
            last_time: t.into(),
            evidence: Map::new(),
            uids: uids.iter().map(|u| u.to_string()).collect(),
        }
    }

    #[test]
    fn the_state_records_only_what_it_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let a = alert(
            "r",
            Severity::High,
            "bob",
            "2024-03-20 10:00:00.000",
            &["u1"],
        );
        let b = alert(
            "r",
            Severity::High,
            "amy",
            "2024-03-20 10:00:00.000",
            &["u2"],
        );
        let st = AlertState::load(&path).unwrap();
        assert_eq!(st.unseen(vec![a.clone(), b.clone()]).len(), 2);
        assert!(!path.exists(), "loading and filtering write nothing");
        let mut st = AlertState::load(&path).unwrap();
        st.record(std::slice::from_ref(&a)).unwrap();
        let st = AlertState::load(&path).unwrap();
        assert_eq!(st.unseen(vec![a, b.clone()]), vec![b]);
    }
}
