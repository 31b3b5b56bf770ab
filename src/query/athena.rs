//! The Athena engine: the same SQL and views as the local engine, run on Amazon Athena.
//!
//! Nothing has to exist in Glue but the table: the views a query names are sent as a `WITH`
//! header, and the first CTE re-defines `events` as the Glue table filtered to the tenant (the
//! table's `tenant_id` projection is `injected`, so Athena needs that equality) and the days.
//! Then `StartQueryExecution` → poll `GetQueryExecution` with backoff and a timeout → page
//! through `GetQueryResults` (the first row of the first page is the header) → typed Arrow
//! batches, so every output format prints what the local engine prints.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use aws_sdk_athena::error::DisplayErrorContext;
use aws_sdk_athena::types::{
    ColumnInfo, QueryExecutionContext, QueryExecutionState, ResultConfiguration, Row,
};
use datafusion::sql::sqlparser::ast::{Statement, visit_relations};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::error::{Error, Result};
use crate::query::engine::{QueryResult, QueryStats};
use crate::query::views;

/// Where and how queries run.
#[derive(Debug, Clone)]
pub struct AthenaOptions {
    /// Glue database of the table.
    pub database: String,
    /// Glue table name.
    pub table: String,
    /// Athena workgroup (`primary` when absent).
    pub workgroup: Option<String>,
    /// Query results location (`s3_results`); the workgroup's when absent.
    pub output_location: Option<String>,
    /// The tenant every query is scoped to (Athena requires the injected partition key).
    pub tenant: String,
    /// Only the last N days of partitions.
    pub days: Option<u32>,
    /// AWS region (else the environment's).
    pub region: Option<String>,
    /// Give up waiting for a query after this long.
    pub timeout: Duration,
}

/// An Athena client bound to one table and tenant.
pub struct Athena {
    client: aws_sdk_athena::Client,
    opts: AthenaOptions,
}

fn athena_err<E: std::error::Error + 'static>(op: &str, e: E) -> Error {
    Error::Other(format!("Athena {op} failed: {}", DisplayErrorContext(e)))
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

impl Athena {
    pub async fn new(opts: AthenaOptions) -> Result<Athena> {
        crate::tenant::check(&opts.tenant)?;
        let client = crate::aws::athena_client(opts.region.as_deref()).await;
        Ok(Athena { client, opts })
    }

    /// The underlying client (for `doctor`'s workgroup check).
    pub fn client(&self) -> &aws_sdk_athena::Client {
        &self.client
    }

    pub fn options(&self) -> &AthenaOptions {
        &self.opts
    }

    /// With a client configured by the caller (endpoint, credentials).
    pub fn with_client(client: aws_sdk_athena::Client, opts: AthenaOptions) -> Athena {
        Athena { client, opts }
    }

    /// The SQL sent to Athena for `sql`: the scoped `events` CTE and the views it names as a
    /// `WITH` header, then the statement (its own `WITH` merged after ours).
    pub fn wrap(&self, sql: &str) -> Result<String> {
        wrap_sql(sql, &self.opts)
    }

    /// Runs one statement on Athena and returns its rows typed as Arrow.
    pub async fn execute(&self, sql: &str) -> Result<QueryResult> {
        let text = self.wrap(sql)?;
        self.execute_raw(&text).await
    }

    /// Runs a statement as given (DDL, `doctor`'s probe): no views, no tenant scope added.
    pub async fn execute_raw(&self, text: &str) -> Result<QueryResult> {
        let started = Instant::now();
        let mut req = self
            .client
            .start_query_execution()
            .query_string(text)
            .query_execution_context(
                QueryExecutionContext::builder()
                    .database(&self.opts.database)
                    .build(),
            )
            .work_group(self.opts.workgroup.as_deref().unwrap_or("primary"));
        if let Some(loc) = &self.opts.output_location {
            req = req
                .result_configuration(ResultConfiguration::builder().output_location(loc).build());
        }
        let id = req
            .send()
            .await
            .map_err(|e| athena_err("StartQueryExecution", e))?
            .query_execution_id
            .ok_or_else(|| Error::Other("Athena returned no query execution id".into()))?;
        tracing::info!(query_execution_id = %id, "athena query started");
        let bytes = self.wait(&id).await?;
        let (schema, batches) = self.results(&id).await?;
        let rows = batches.iter().map(|b| b.num_rows()).sum();
        Ok(QueryResult {
            schema,
            batches,
            stats: QueryStats {
                rows,
                bytes_scanned: bytes,
                elapsed: started.elapsed(),
                ..Default::default()
            },
        })
    }

    /// Polls until the query ends (backoff 100 ms → 2 s); SUCCEEDED gives the bytes scanned,
    /// FAILED and CANCELLED give an error with Athena's reason.
    pub async fn wait(&self, id: &str) -> Result<u64> {
        // Bounded: `Instant + Duration` panics past the clock's range.
        let deadline = Instant::now()
            + self
                .opts
                .timeout
                .min(Duration::from_secs(super::engine::MAX_TIMEOUT_SECS));
        let mut delay = Duration::from_millis(100);
        loop {
            let out = self
                .client
                .get_query_execution()
                .query_execution_id(id)
                .send()
                .await
                .map_err(|e| athena_err("GetQueryExecution", e))?;
            let exec = out
                .query_execution
                .ok_or_else(|| Error::Other(format!("Athena query {id}: no execution")))?;
            let status = exec.status.as_ref();
            let state = status.and_then(|s| s.state.clone());
            let reason = status
                .and_then(|s| s.state_change_reason.clone())
                .unwrap_or_else(|| "no reason given".into());
            match state {
                Some(QueryExecutionState::Succeeded) => {
                    let stats = exec.statistics.as_ref();
                    tracing::info!(
                        query_execution_id = id,
                        data_scanned_bytes = stats.and_then(|s| s.data_scanned_in_bytes),
                        engine_ms = stats.and_then(|s| s.engine_execution_time_in_millis),
                        "athena query succeeded"
                    );
                    return Ok(stats
                        .and_then(|s| s.data_scanned_in_bytes)
                        .unwrap_or(0)
                        .max(0) as u64);
                }
                Some(QueryExecutionState::Failed) => {
                    return Err(Error::Sql(format!("Athena query {id} FAILED: {reason}")));
                }
                Some(QueryExecutionState::Cancelled) => {
                    return Err(Error::Limit(format!(
                        "Athena query {id} was CANCELLED: {reason}"
                    )));
                }
                _ => {}
            }
            if Instant::now() + delay > deadline {
                let _ = self
                    .client
                    .stop_query_execution()
                    .query_execution_id(id)
                    .send()
                    .await;
                return Err(Error::Limit(format!(
                    "Athena query {id} still running after {:?}; stopped it",
                    self.opts.timeout
                )));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 3 / 2).min(Duration::from_secs(2));
        }
    }

    /// Pages through the results; the header row (first row of the first page) is skipped.
    async fn results(&self, id: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let mut token: Option<String> = None;
        let mut columns: Option<Vec<ColumnInfo>> = None;
        let mut pages: Vec<Vec<Row>> = Vec::new();
        loop {
            let out = self
                .client
                .get_query_results()
                .query_execution_id(id)
                .max_results(1000)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| athena_err("GetQueryResults", e))?;
            if let Some(rs) = out.result_set {
                if columns.is_none() {
                    columns = rs
                        .result_set_metadata
                        .map(|m| m.column_info.unwrap_or_default());
                }
                pages.push(rs.rows.unwrap_or_default());
            }
            match out.next_token {
                // A server that repeats a token would loop forever.
                Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                _ => break,
            }
        }
        let columns = columns.unwrap_or_default();
        let batch = to_batch(&columns, pages)?;
        Ok((batch.schema(), vec![batch]))
    }
}

impl Athena {
    /// The days scope, as reports print it.
    pub fn days(&self) -> Option<u32> {
        self.opts.days
    }

    /// Options from a config's `identity_activity_center:` block and the CLI scope.
    pub fn options_from(
        cfg: &crate::config::IdentityActivityCenter,
        tenant: Option<&str>,
        days: Option<u32>,
        timeout: Duration,
    ) -> Result<AthenaOptions> {
        let need = |v: &Option<String>, key: &str| {
            v.clone().ok_or_else(|| {
                Error::Config(format!("the Athena engine needs `{key}` in the config"))
            })
        };
        Ok(AthenaOptions {
            database: need(&cfg.database, "database")?,
            table: need(&cfg.table, "table")?,
            workgroup: cfg.workgroup.clone(),
            output_location: cfg.s3_results.clone(),
            tenant: tenant
                .ok_or_else(|| {
                    Error::Config(
                        "the Athena engine needs --tenant (the table's tenant_id projection is injected)"
                            .into(),
                    )
                })?
                .to_string(),
            days,
            region: cfg.region.clone(),
            timeout,
        })
    }
}

/// The scoped events CTE's name (shadows the Glue table for the statement).
const EVENTS: &str = "events";
/// The Glue table of the identities map the detections join (tenant-scoped like `events`).
const IDENTITIES: &str = "identities";

/// The WITH header and the statement (see `Athena::wrap`).
pub fn wrap_sql(sql: &str, opts: &AthenaOptions) -> Result<String> {
    let sql = sql.trim().trim_end_matches(';').trim();
    super::engine::check_shape(sql)?;
    let mut stmts = Parser::parse_sql(&GenericDialect {}, sql)
        .map_err(|e| Error::Sql(format!("syntax error: {e}")))?;
    if stmts.len() != 1 {
        return Err(Error::Sql("one statement at a time".into()));
    }
    if !matches!(stmts[0], Statement::Query(_)) {
        return Err(Error::NotAllowed(
            "only queries run on Athena from here (read-only)".into(),
        ));
    }
    // Refuse, before anything is sent, every relation our tenant/days header does not scope.
    let mut allowed: BTreeSet<String> = views::views().iter().map(|v| v.name.to_string()).collect();
    allowed.extend([EVENTS.to_string(), IDENTITIES.to_string()]);
    super::relations::check(&stmts[0], &allowed)?;
    let Statement::Query(query) = &mut stmts[0] else {
        return Err(Error::NotAllowed(
            "only queries run on Athena from here (read-only)".into(),
        ));
    };
    // The relations the statement names; a view among them is sent along.
    let mut names = BTreeSet::new();
    let _ = visit_relations(&**query, |r| {
        if let Some(last) = r.0.last() {
            names.insert(last.to_string().trim_matches('"').to_ascii_lowercase());
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    let mut ctes = Vec::new();
    let mut filter = format!("tenant_id = {}", quote_literal(&opts.tenant));
    if let Some(d) = opts.days {
        filter.push_str(&format!(
            " AND event_date >= date_add('day', -{}, current_date)",
            d.saturating_sub(1)
        ));
    }
    ctes.push(format!(
        "{EVENTS} AS (SELECT * FROM {}.{} WHERE {filter})",
        quote_ident(&opts.database),
        quote_ident(&opts.table)
    ));
    // The identities map is a Glue table keyed by tenant too: only this tenant's rows.
    if names.contains(IDENTITIES) {
        ctes.push(format!(
            "{IDENTITIES} AS (SELECT * FROM {}.{IDENTITIES} WHERE tenant_id = {})",
            quote_ident(&opts.database),
            quote_literal(&opts.tenant)
        ));
    }
    for v in views::views() {
        if names.contains(v.name) {
            ctes.push(format!(
                "{} AS (\n{}\n)",
                v.name,
                strip_comments(v.body.trim())
            ));
        }
    }
    let body = match query.with.take() {
        None => sql.to_string(),
        Some(with) => {
            if with.recursive {
                return Err(Error::Sql(
                    "WITH RECURSIVE is not supported on Athena".into(),
                ));
            }
            ctes.extend(with.cte_tables.iter().map(|c| c.to_string()));
            query.to_string()
        }
    };
    Ok(format!("WITH {}\n{body}", ctes.join(",\n")))
}

/// Drops `--` comment lines (a view file starts with two): a comment inside a CTE's parentheses
/// is legal, but it keeps the sent text short.
fn strip_comments(body: &str) -> String {
    body.lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Athena's type names → Arrow; complex and unknown types stay text, as Athena prints them.
fn arrow_type(athena: &str) -> DataType {
    match athena.to_ascii_lowercase().as_str() {
        "bigint" | "integer" | "int" | "smallint" | "tinyint" => DataType::Int64,
        "double" | "float" | "real" => DataType::Float64,
        "boolean" => DataType::Boolean,
        "date" => DataType::Date32,
        "timestamp" | "timestamp(3)" => DataType::Timestamp(TimeUnit::Millisecond, None),
        _ => DataType::Utf8,
    }
}

/// The rows of every page as one batch of the columns' types.
pub fn to_batch(columns: &[ColumnInfo], pages: Vec<Vec<Row>>) -> Result<RecordBatch> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(c.name.clone(), arrow_type(&c.r#type), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let mut cells: Vec<Vec<Option<String>>> = vec![Vec::new(); columns.len()];
    for (p, page) in pages.into_iter().enumerate() {
        for (i, row) in page.into_iter().enumerate() {
            let data = row.data.unwrap_or_default();
            if p == 0 && i == 0 && is_header(columns, &data) {
                continue;
            }
            for (c, col) in cells.iter_mut().enumerate() {
                col.push(data.get(c).and_then(|d| d.var_char_value.clone()));
            }
        }
    }
    let bad = |col: &str, v: &str, t: &str| {
        Error::Other(format!("Athena returned {v:?} for {t} column {col}"))
    };
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (field, col) in schema.fields().iter().zip(cells) {
        let name = field.name();
        let array: ArrayRef = match field.data_type() {
            DataType::Int64 => {
                let mut b = Int64Builder::new();
                for v in col {
                    match v {
                        None => b.append_null(),
                        Some(s) => b.append_value(s.parse().map_err(|_| bad(name, &s, "integer"))?),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Float64 => {
                let mut b = Float64Builder::new();
                for v in col {
                    match v {
                        None => b.append_null(),
                        Some(s) => b.append_value(s.parse().map_err(|_| bad(name, &s, "double"))?),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Boolean => {
                let mut b = BooleanBuilder::new();
                for v in col {
                    match v.as_deref() {
                        None => b.append_null(),
                        Some("true") => b.append_value(true),
                        Some("false") => b.append_value(false),
                        Some(s) => return Err(bad(name, s, "boolean")),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Date32 => {
                let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
                let mut b = Date32Builder::new();
                for v in col {
                    match v {
                        None => b.append_null(),
                        Some(s) => {
                            let d = chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                                .map_err(|_| bad(name, &s, "date"))?;
                            b.append_value((d - epoch).num_days() as i32);
                        }
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Timestamp(..) => {
                let mut b = TimestampMillisecondBuilder::new();
                for v in col {
                    match v {
                        None => b.append_null(),
                        Some(s) => {
                            let t =
                                chrono::NaiveDateTime::parse_from_str(&s, "%Y-%m-%d %H:%M:%S%.f")
                                    .map_err(|_| bad(name, &s, "timestamp"))?;
                            b.append_value(t.and_utc().timestamp_millis());
                        }
                    }
                }
                Arc::new(b.finish())
            }
            _ => {
                let mut b = StringBuilder::new();
                for v in col {
                    b.append_option(v);
                }
                Arc::new(b.finish())
            }
        };
        arrays.push(array);
    }
    if arrays.is_empty() {
        // No columns at all (an empty answer without metadata): an empty result.
        return Ok(RecordBatch::new_empty(schema));
    }
    Ok(RecordBatch::try_new(schema, arrays)?)
}

/// Athena's first row of a SELECT repeats the column names.
fn is_header(columns: &[ColumnInfo], data: &[aws_sdk_athena::types::Datum]) -> bool {
    data.len() == columns.len()
        && columns
            .iter()
            .zip(data)
            .all(|(c, d)| d.var_char_value.as_deref() == Some(c.name.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_athena::types::Datum;

    fn opts() -> AthenaOptions {
        AthenaOptions {
            database: "example-db".into(),
            table: "example-table".into(),
            workgroup: None,
            output_location: None,
            tenant: "acme".into(),
            days: Some(30),
            region: None,
            timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn views_and_scope_travel_in_the_with_header() {
        let sql = wrap_sql(
            "SELECT user, count(*) FROM session_start WHERE login = 'root' GROUP BY user",
            &opts(),
        )
        .unwrap();
        assert!(sql.starts_with("WITH events AS (SELECT * FROM \"example-db\".\"example-table\" WHERE tenant_id = 'acme' AND event_date >= date_add('day', -29, current_date))"), "{sql}");
        assert!(sql.contains("session_start AS (\nSELECT"), "{sql}");
        assert!(
            !sql.contains("cert_create AS"),
            "only the views named: {sql}"
        );
        assert!(sql.ends_with("GROUP BY user"), "{sql}");
        // A statement with its own WITH keeps its CTEs after ours.
        let sql = wrap_sql(
            "WITH r AS (SELECT user FROM session_start) SELECT count(*) FROM r",
            &opts(),
        )
        .unwrap();
        assert!(
            sql.contains("session_start AS (")
                && sql.contains("r AS (SELECT user FROM session_start)"),
            "{sql}"
        );
        assert!(wrap_sql("DROP TABLE events", &opts()).is_err());
    }

    fn row(cells: &[Option<&str>]) -> Row {
        Row::builder()
            .set_data(Some(
                cells
                    .iter()
                    .map(|c| {
                        Datum::builder()
                            .set_var_char_value(c.map(str::to_string))
                            .build()
                    })
                    .collect(),
            ))
            .build()
    }

    fn col(name: &str, t: &str) -> ColumnInfo {
        ColumnInfo::builder().name(name).r#type(t).build().unwrap()
    }

    #[test]
    fn pages_are_typed_and_the_header_skipped_once() {
        let cols = [
            col("user", "varchar"),
            col("n", "bigint"),
            col("d", "date"),
            col("t", "timestamp"),
        ];
        let pages = vec![
            vec![
                row(&[Some("user"), Some("n"), Some("d"), Some("t")]),
                row(&[
                    Some("alice"),
                    Some("3"),
                    Some("2024-03-20"),
                    Some("2024-03-20 12:12:03.374"),
                ]),
            ],
            // A second page has no header, even when a value equals a column name.
            vec![row(&[Some("user"), None, None, None])],
        ];
        let b = to_batch(&cols, pages).unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.schema().field(1).data_type(), &DataType::Int64);
        let text = arrow::util::pretty::pretty_format_batches(&[b])
            .unwrap()
            .to_string();
        assert!(
            text.contains("| alice | 3 | 2024-03-20 | 2024-03-20T12:12:03.374 |"),
            "{text}"
        );
        assert!(
            text.contains("| user  |   |            |                         |"),
            "{text}"
        );
        assert!(to_batch(&[col("n", "bigint")], vec![vec![row(&[Some("x")])]]).is_err());
    }
}
