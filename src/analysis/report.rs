//! Reports as data: `sql/reports/*.yaml` (the built-in Privileged Access Report of seed 001),
//! run query by query through the engine into Teleport's report-result shape.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::store::Catalog;
use crate::query::engine::Engine;

/// The built-in Privileged Access Report, verbatim from `sql/reports/`.
pub const PRIVILEGED_ACCESS_YAML: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/sql/reports/privileged_access.yaml"
));

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

/// Names the built-in report answers to: its own and the short one seed 001 uses.
pub const BUILTIN_NAMES: [&str; 2] = ["privilege_access_report", "privileged_access"];

/// Is `name` the built-in report?
pub fn is_builtin(name: &str) -> bool {
    BUILTIN_NAMES.contains(&name)
}

/// The lake's saved catalog as `tenant` sees it (`None`: the operator's view of all tenants),
/// with the built-in report's names (and its queries') reserved.
pub fn saved<'a>(lake: &'a Lake, tenant: Option<&str>) -> Catalog<'a> {
    let b = builtin();
    let mut reserved: Vec<String> = b.queries.iter().map(|q| q.name.clone()).collect();
    reserved.extend(BUILTIN_NAMES.iter().map(|n| n.to_string()));
    reserved.push(b.name);
    Catalog::scoped(lake, tenant).reserving(reserved)
}

/// A report by name: the built-in one (global), or a saved report of the tenant's catalog with
/// its queries resolved now. (The one place that decides which; every face calls it.)
pub async fn resolve(lake: &Lake, tenant: Option<&str>, name: &str) -> Result<Report> {
    if is_builtin(name) {
        return Ok(builtin());
    }
    let cat = saved(lake, tenant);
    let r = cat.report(name).await?;
    // A report's queries live beside it (the same tenant's catalog).
    let prefix = name
        .split_once('/')
        .map(|(t, _)| format!("{t}/"))
        .unwrap_or_default();
    let mut queries = Vec::new();
    for q in &r.queries {
        let s = cat.query(&format!("{prefix}{q}")).await?;
        queries.push(ReportQuery {
            name: s.name,
            title: s.title,
            description: s.description,
            sql: s.sql,
            suggestion: s.suggestion,
        });
    }
    Ok(Report {
        name: r.name,
        title: r.title,
        description: r.description,
        version: "1".into(),
        queries,
    })
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

/// Who ran something and in which scope, for the run record every run leaves in the lake.
#[derive(Debug, Clone)]
pub struct RunBy {
    /// `$USER` on the CLI, `flight:<token>` on the server.
    pub who: String,
    pub tenant: Option<String>,
    pub days: Option<u32>,
}

/// Leaves the audit record of a run (`kind` = `report` or `query`); a failure to record is
/// logged, not fatal (the answer was already computed).
pub async fn record(
    lake: &Lake,
    kind: &str,
    name: &str,
    by: &RunBy,
    started: std::time::Instant,
    bytes_scanned: u64,
    err: Option<&Error>,
) {
    let rec = crate::lake::store::RunRecord {
        at: crate::lake::store::now_rfc3339(),
        who: by.who.clone(),
        kind: kind.into(),
        name: name.into(),
        tenant: by.tenant.clone(),
        days: by.days,
        bytes_scanned,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        success: err.is_none(),
        error: err.map(|e| e.chain(": ")),
    };
    if let Err(e) = Catalog::new(lake).record_run(&rec).await {
        tracing::warn!(error = %e.chain(": "), kind, name, "could not record the run");
    }
}

/// Runs a report and records the run in `records` (the lake's `_catalog/runs/`): the one
/// run-and-record path of the CLI, the shell and Flight's `RunReport`.
pub async fn run_and_record(
    runner: &dyn crate::query::runner::QueryRunner,
    report: &Report,
    records: &Lake,
    by: &RunBy,
) -> Result<ReportResult> {
    let started = std::time::Instant::now();
    let res = run_with(runner, report).await;
    let bytes = res
        .as_ref()
        .map(|r| r.total_data_scanned_bytes)
        .unwrap_or(0);
    record(
        records,
        "report",
        &report.name,
        by,
        started,
        bytes,
        res.as_ref().err(),
    )
    .await;
    res
}

/// Runs every query of a report through the engine (whose scope carries tenant and days).
pub async fn run(engine: &Engine, report: &Report) -> Result<ReportResult> {
    run_with(engine, report).await
}

/// Runs every query of a report on either engine.
pub async fn run_with(
    engine: &dyn crate::query::runner::QueryRunner,
    report: &Report,
) -> Result<ReportResult> {
    let mut results = Vec::new();
    for q in &report.queries {
        let res = engine
            .execute(&q.sql)
            .await
            .map_err(|e| Error::Other(format!("report query {}: {}", q.name, e.chain(": "))))?;
        let tctl = crate::query::cells::tctl_rows(&res.schema, &res.batches)?;
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
/// Everything that came from the lake or a saved definition is shown with control and bidi
/// characters escaped (`escape_control`), so it cannot drive the terminal.
pub fn render_text(r: &ReportResult) -> String {
    use crate::query::cells::escape_control as e;
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} (v{}){}",
        e(&r.title),
        e(&r.version),
        r.days
            .map(|d| format!(", last {d} days"))
            .unwrap_or_default()
    );
    for q in &r.results {
        let _ = writeln!(s, "\n## {}", e(&q.title));
        if q.rows.is_empty() {
            let _ = writeln!(s, "no findings");
        } else {
            let cols: Vec<String> = q.columns.iter().map(|c| e(c).into_owned()).collect();
            let _ = writeln!(s, "{}", cols.join(" | "));
            for row in &q.rows {
                let cells: Vec<String> = row
                    .iter()
                    .map(|c| {
                        c.as_str()
                            .map(|t| e(t).into_owned())
                            .unwrap_or_else(|| "∅".into())
                    })
                    .collect();
                let _ = writeln!(s, "{}", cells.join(" | "));
            }
            if let Some(sug) = &q.suggestion {
                let _ = writeln!(s, "suggestion: {}", e(sug));
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
