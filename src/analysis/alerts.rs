//! Detections of odd identity behaviour, written as SQL over the lake (`sql/detections/*.sql`,
//! Trino SQL that also runs on Athena), run through the engine and turned into alerts:
//! severity-sorted, deduplicated per rule and identity within a window, optionally only the ones
//! a state file has not seen yet. Because they are SQL over history, any period can be replayed.

use std::collections::BTreeSet;
use std::path::Path;

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
    /// UTC, `YYYY-MM-DD HH:MM:SS.sss` (as `tctl` prints times).
    pub time: String,
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
}

/// Matches of one rule and identity within this many seconds fold into one alert.
pub const DEFAULT_DEDUP_WINDOW_SECS: i64 = 3600;

impl Default for AlertOptions {
    fn default() -> Self {
        AlertOptions {
            only: None,
            dedup_window_secs: DEFAULT_DEDUP_WINDOW_SECS,
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

/// Runs the detections on either engine (on Athena, `identities` must exist in Glue).
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
            // The strongest severity of the folded matches wins.
            last.severity = last.severity.min(h.severity);
            continue;
        }
        out.push(h);
    }
    out
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    seen: BTreeSet<String>,
}

/// Keeps only alerts the state file has not seen, and records them there.
pub fn only_new(alerts: Vec<Alert>, state: &Path) -> Result<Vec<Alert>> {
    let mut st: State = match std::fs::read_to_string(state) {
        Ok(t) => serde_json::from_str(&t)
            .map_err(|e| Error::Config(format!("state file {}: {e}", state.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
        Err(e) => {
            return Err(Error::Io {
                op: "read",
                path: state.into(),
                source: e,
            });
        }
    };
    let fresh: Vec<Alert> = alerts
        .into_iter()
        .filter(|a| !st.seen.contains(&a.key()))
        .collect();
    st.seen.extend(fresh.iter().map(Alert::key));
    let tmp = state.with_extension("tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(&st).map_err(|e| Error::json("the alert state", e))?,
    )
    .map_err(|e| Error::Io {
        op: "write",
        path: tmp.clone(),
        source: e,
    })?;
    std::fs::rename(&tmp, state).map_err(|e| Error::Io {
        op: "rename",
        path: state.into(),
        source: e,
    })?;
    Ok(fresh)
}

/// A terminal listing: one line per alert. Identities and evidence come from the lake (any
/// client can write them), so control and bidi characters are shown escaped.
pub fn render_text(alerts: &[Alert]) -> String {
    use crate::query::cells::escape_control as e;
    use std::fmt::Write;
    let mut s = String::new();
    for a in alerts {
        let ev: Vec<String> = a
            .evidence
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| {
                let v = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                format!("{}={}", e(k), e(&v))
            })
            .collect();
        let _ = writeln!(
            s,
            "{:<8} {}  {:<32} {:<24} {:<8} {}{}",
            a.severity.as_str(),
            e(&a.time),
            e(&a.rule),
            e(a.identity.as_deref().unwrap_or("∅")),
            e(a.event_source.as_deref().unwrap_or("∅")),
            ev.join(" "),
            if a.uids.len() > 1 {
                format!(" (+{} more)", a.uids.len() - 1)
            } else {
                String::new()
            }
        );
    }
    let _ = writeln!(s, "({} alerts; times in UTC)", alerts.len());
    s
}

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
    }
}
