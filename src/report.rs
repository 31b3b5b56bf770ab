//! Reports as data: `sql/reports/*.yaml` (the built-in Privileged Access Report of seed 001),
//! run query by query through the engine into Teleport's report-result shape.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::Engine;
use crate::error::{Error, Result};

/// The built-in Privileged Access Report, verbatim from `sql/reports/`.
pub const PRIVILEGED_ACCESS_YAML: &str = include_str!("../sql/reports/privileged_access.yaml");

/// A report definition.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub name: String,
    pub title: String,
    pub description: String,
    pub version: String,
    pub queries: Vec<ReportQuery>,
}

/// One query of a report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    pub name: String,
    pub title: String,
    pub description: String,
    pub sql: String,
    pub suggestion: String,
}

/// The built-in report.
pub fn builtin() -> Report {
    serde_yaml::from_str(PRIVILEGED_ACCESS_YAML)
        .expect("sql/reports/privileged_access.yaml is valid (tested)")
}

/// Result of one query, in Teleport's report-result shape.
#[derive(Debug, Clone, Serialize)]
pub struct QueryResultJson {
    pub name: String,
    pub title: String,
    pub columns: Vec<String>,
    /// Cells as `tctl` prints them: strings, NULL as null.
    pub rows: Vec<Vec<Value>>,
    pub suggestion: Option<String>,
    pub execution_time_ms: u64,
    pub data_scanned_bytes: u64,
}

/// A run of a whole report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportResult {
    pub name: String,
    pub title: String,
    pub description: String,
    pub version: String,
    pub days: Option<u32>,
    pub results: Vec<QueryResultJson>,
    pub total_execution_time_ms: u64,
    pub total_data_scanned_bytes: u64,
}

/// Runs every query of a report through the engine (whose scope carries tenant and days).
pub async fn run(engine: &Engine, report: &Report) -> Result<ReportResult> {
    run_with(crate::athena::Runner::Local(engine), report).await
}

/// Runs every query of a report on either engine.
pub async fn run_with(engine: crate::athena::Runner<'_>, report: &Report) -> Result<ReportResult> {
    let mut results = Vec::new();
    for q in &report.queries {
        let res = engine
            .execute(&q.sql)
            .await
            .map_err(|e| Error::Other(format!("report query {}: {}", q.name, e.chain(": "))))?;
        let tctl = crate::output::tctl_rows(&res.schema, &res.batches)?;
        let mut rows: Vec<Vec<Value>> = tctl
            .as_array()
            .map(|a| {
                a.iter()
                    .skip(1)
                    .map(|r| r["data"].as_array().cloned().unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default();
        rows.shrink_to_fit();
        results.push(QueryResultJson {
            name: q.name.clone(),
            title: q.title.clone(),
            columns: res
                .schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
            suggestion: (!rows.is_empty()).then(|| q.suggestion.clone()),
            rows,
            execution_time_ms: res.stats.elapsed.as_millis() as u64,
            data_scanned_bytes: res.stats.bytes_scanned,
        });
    }
    Ok(ReportResult {
        name: report.name.clone(),
        title: report.title.clone(),
        description: report.description.clone(),
        version: report.version.clone(),
        days: engine.days(),
        total_execution_time_ms: results.iter().map(|r| r.execution_time_ms).sum(),
        total_data_scanned_bytes: results.iter().map(|r| r.data_scanned_bytes).sum(),
        results,
    })
}

/// Plain-text rendering: per query its title, rows, suggestion when rows were found, timing.
pub fn render_text(r: &ReportResult) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} (v{}){}",
        r.title,
        r.version,
        r.days
            .map(|d| format!(", last {d} days"))
            .unwrap_or_default()
    );
    for q in &r.results {
        let _ = writeln!(s, "\n## {}", q.title);
        if q.rows.is_empty() {
            let _ = writeln!(s, "no findings");
        } else {
            let _ = writeln!(s, "{}", q.columns.join(" | "));
            for row in &q.rows {
                let cells: Vec<String> = row
                    .iter()
                    .map(|c| c.as_str().map(str::to_string).unwrap_or_else(|| "∅".into()))
                    .collect();
                let _ = writeln!(s, "{}", cells.join(" | "));
            }
            if let Some(sug) = &q.suggestion {
                let _ = writeln!(s, "suggestion: {sug}");
            }
        }
        let _ = writeln!(
            s,
            "({} rows, {} ms, {} bytes scanned)",
            q.rows.len(),
            q.execution_time_ms,
            q.data_scanned_bytes
        );
    }
    let _ = writeln!(
        s,
        "\ntotal: {} ms, {} bytes scanned",
        r.total_execution_time_ms, r.total_data_scanned_bytes
    );
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn builtin_report_has_the_nine_seed_queries() {
        let r = super::builtin();
        assert_eq!(r.queries.len(), 9);
        assert_eq!(r.name, "privilege_access_report");
        assert!(
            r.queries
                .iter()
                .all(|q| !q.suggestion.is_empty() && q.sql.starts_with("SELECT"))
        );
    }
}
