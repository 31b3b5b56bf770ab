//! The Athena engine against moto's Athena (which runs nothing and answers with results queued
//! through its API): the CLI starts, polls and reads a query, types the columns, scopes the
//! tenant and sends the views as a WITH header that Trino's grammar accepts; CANCELLED surfaces.

use std::process::Command;

use auditlake::query::athena::{Athena, AthenaOptions};

use crate::common::{self, Moto};

/// POSTs JSON to moto's API (queues Athena results).
fn post_json(endpoint: &str, path: &str, body: &str) {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
}

fn opts() -> AthenaOptions {
    AthenaOptions {
        database: "auditlake".into(),
        table: "events".into(),
        workgroup: None,
        output_location: Some("s3://results/athena".into()),
        tenant: "acme".into(),
        days: Some(30),
        region: Some("us-east-1".into()),
        timeout: std::time::Duration::from_secs(30),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_runs_on_athena_typed_and_scoped() {
    let moto = Moto::start();
    // What Athena answers: the header row first, then the rows (a NULL has no VarCharValue).
    post_json(
        &moto.endpoint,
        "/moto-api/static/athena/query-results",
        r#"{"results": [{
            "rows": [
              {"Data": [{"VarCharValue": "event_date"}, {"VarCharValue": "user"}, {"VarCharValue": "count"}]},
              {"Data": [{"VarCharValue": "2024-03-20"}, {"VarCharValue": "alice"}, {"VarCharValue": "3"}]},
              {"Data": [{"VarCharValue": "2024-03-21"}, {}, {"VarCharValue": "12"}]}
            ],
            "column_info": [
              {"Name": "event_date", "Type": "date", "Nullable": "UNKNOWN"},
              {"Name": "user", "Type": "varchar", "Nullable": "UNKNOWN"},
              {"Name": "count", "Type": "bigint", "Nullable": "UNKNOWN"}
            ]}]}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("auditlake.yaml");
    std::fs::write(
        &cfg,
        "identity_activity_center:\n  region: us-east-1\n  database: auditlake\n  table: events\n  s3: s3://lake/data/\n  s3_results: s3://results/athena\n  workgroup: primary\n",
    )
    .unwrap();
    let sql = "SELECT event_date, user, COUNT(*) AS count FROM session_start WHERE login = 'root' GROUP BY event_date, user ORDER BY event_date";
    let out = moto
        .cmd()
        .args(["query", "--engine", "athena", "--config"])
        .arg(&cfg)
        .args(["--tenant", "acme", "--days", "7", "--format", "json", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Typed back: the count is a number, the missing user a null, the date a date.
    assert_eq!(
        v,
        serde_json::json!([
            {"event_date": "2024-03-20", "user": "alice", "count": 3},
            {"event_date": "2024-03-21", "user": null, "count": 12}
        ])
    );

    // What reached Athena: the tenant and days in the `events` CTE, the view as a CTE.
    let athena = moto.athena().await;
    let ids = common::athena_executions(&athena).await;
    assert_eq!(ids.len(), 1);
    let exec = athena
        .get_query_execution()
        .query_execution_id(&ids[0])
        .send()
        .await
        .unwrap()
        .query_execution
        .unwrap();
    let sent = exec.query.unwrap();
    assert!(sent.starts_with("WITH events AS (SELECT * FROM \"auditlake\".\"events\" WHERE tenant_id = 'acme' AND event_date >= date_add('day', -6, current_date))"), "{sent}");
    assert!(sent.contains("session_start AS (\nSELECT"), "{sent}");
    assert!(sent.ends_with(sql), "{sent}");
    // Athena names the result object under the configured s3_results.
    let output = exec
        .result_configuration
        .and_then(|r| r.output_location)
        .unwrap();
    assert!(output.starts_with("s3://results/athena/"), "{output}");
    assert_eq!(exec.work_group.as_deref(), Some("primary"));

    // The Privileged Access Report runs there too: nine queries, Teleport's result shape.
    moto.create_bucket("lake");
    let out = moto
        .cmd()
        .args(["report", "--engine", "athena", "--config"])
        .arg(&cfg)
        .args(["--tenant", "acme", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["results"].as_array().map(Vec::len), Some(9), "{r}");
    assert_eq!(r["days"], 30);
    let after_report = common::athena_executions(&athena).await;
    assert_eq!(
        after_report.len(),
        10,
        "one query, then nine report queries"
    );

    // The detections run there too (moto answers each with no rows).
    let out = moto
        .cmd()
        .args(["alerts", "--engine", "athena", "--config"])
        .arg(&cfg)
        .args(["--tenant", "acme", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    let n = common::athena_executions(&athena).await.len();
    assert_eq!(n, 10 + auditlake::query::views::detection_files().len());

    // The shell switches engines with \engine; the statement then goes to Athena.
    let out = moto
        .cmd()
        .args(["sql", "--lake"])
        .arg(dir.path().join("local-lake"))
        .arg("--config")
        .arg(&cfg)
        .args([
            "--tenant",
            "acme",
            "-c",
            "\\engine athena\nSELECT count(*) AS n FROM cert_create;\n\\engine",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("engine: athena"));
    let ids = common::athena_executions(&athena).await;
    assert_eq!(ids.len(), n + 1);
    let mut sent_texts = Vec::new();
    for id in &ids {
        let q = common::athena_sent_text(&athena, id).await;
        sent_texts.push(q);
    }
    assert!(
        sent_texts.iter().any(|q| q.contains("cert_create AS (")
            && q.ends_with("SELECT count(*) AS n FROM cert_create")),
        "the shell's statement did not reach Athena"
    );

    // `ddl --apply` creates the table and every view through Athena.
    let before = ids.len();
    let out = moto
        .cmd()
        .args(["ddl", "--views", "--apply", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids = common::athena_executions(&athena).await;
    let views = auditlake::query::views::views().len();
    assert_eq!(ids.len(), before + 1 + views);
    let mut creates = Vec::new();
    for id in &ids[before..] {
        let q = common::athena_sent_text(&athena, id).await;
        creates.push(q);
    }
    assert_eq!(
        creates
            .iter()
            .filter(|q| q.starts_with("CREATE EXTERNAL TABLE IF NOT EXISTS events ("))
            .count(),
        1,
        "{:?}",
        creates.first()
    );
    assert!(
        creates.iter().any(|q| q.contains("s3://lake/data/")),
        "the config's location"
    );
    assert_eq!(
        creates
            .iter()
            .filter(|q| q.starts_with("CREATE OR REPLACE VIEW "))
            .count(),
        views
    );

    // A query stopped on the Athena side surfaces as CANCELLED.
    let id = athena
        .start_query_execution()
        .query_string("SELECT 1")
        .send()
        .await
        .unwrap()
        .query_execution_id
        .unwrap();
    athena
        .stop_query_execution()
        .query_execution_id(&id)
        .send()
        .await
        .unwrap();
    let err = Athena::with_client(athena, opts())
        .wait(&id)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CANCELLED"), "{err}");
}

/// Every view, report query and detection, as sent to Athena, parses with Trino's strict
/// grammar (the same gate as `sql/`).
#[test]
fn everything_we_send_to_athena_is_trino_sql() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    let mut write = |name: &str, sql: &str| {
        let wrapped = auditlake::query::athena::wrap_sql(sql, &opts())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        std::fs::write(dir.path().join(format!("{name}.sql")), wrapped).unwrap();
        n += 1;
    };
    for v in auditlake::query::views::views() {
        write(
            &format!("view_{}", v.name),
            &format!("SELECT * FROM {}", v.name),
        );
    }
    for q in auditlake::analysis::report::builtin().queries {
        write(&format!("report_{}", q.name), &q.sql);
    }
    for (name, text) in auditlake::query::views::detection_files() {
        write(&format!("detection_{name}"), text);
    }
    assert!(n > 50, "{n} statements");
    // Function names: each must be one Trino (Athena engine v3) has, so a DataFusion-only
    // function (`string_agg`, `array_length`, `to_timestamp`, …) cannot creep into shared SQL.
    let mut unknown = std::collections::BTreeSet::new();
    let mut seen = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let stmts = datafusion::sql::sqlparser::parser::Parser::parse_sql(
            &datafusion::sql::sqlparser::dialect::GenericDialect {},
            &text,
        )
        .unwrap();
        let _ = datafusion::sql::sqlparser::ast::visit_expressions(&stmts, |e| {
            // A bare keyword such as `user` parses as a niladic function; it is a column here.
            if let datafusion::sql::sqlparser::ast::Expr::Function(f) = e
                && !matches!(
                    f.args,
                    datafusion::sql::sqlparser::ast::FunctionArguments::None
                )
            {
                let name = f.name.to_string().to_ascii_lowercase();
                seen.insert(name.clone());
                if !TRINO_FUNCTIONS.contains(&name.as_str()) {
                    unknown.insert(name);
                }
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
    }
    assert!(unknown.is_empty(), "not Trino functions: {unknown:?}");
    for f in [
        "json_extract_scalar",
        "from_iso8601_timestamp",
        "great_circle_distance",
    ] {
        assert!(seen.contains(f), "{f} not seen: {seen:?}");
    }
    let out = Command::new(common::python())
        .arg(common::repo().join("scripts/check_sql.py"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Trino's functions (Athena engine v3) that shared SQL may use: aggregates, window functions,
/// JSON, date/time, string, array/map, math, geospatial distance and conditional forms.
const TRINO_FUNCTIONS: &[&str] = &[
    // aggregate
    "count",
    "count_if",
    "sum",
    "avg",
    "min",
    "max",
    "min_by",
    "max_by",
    "arbitrary",
    "any_value",
    "array_agg",
    "map_agg",
    "approx_distinct",
    "approx_percentile",
    "bool_and",
    "bool_or",
    "every",
    "listagg",
    "stddev",
    "variance",
    "histogram",
    "checksum",
    // window
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
    // conditional and casts
    "coalesce",
    "nullif",
    "if",
    "try",
    "try_cast",
    "greatest",
    "least",
    "typeof",
    // json
    "json_extract",
    "json_extract_scalar",
    "json_parse",
    "json_format",
    "json_size",
    "json_array_contains",
    "json_array_length",
    "json_array_get",
    "is_json_scalar",
    // date and time
    "date",
    "date_add",
    "date_diff",
    "date_trunc",
    "date_format",
    "date_parse",
    "from_iso8601_timestamp",
    "from_iso8601_date",
    "to_iso8601",
    "from_unixtime",
    "to_unixtime",
    "current_date",
    "current_timestamp",
    "now",
    "day",
    "day_of_week",
    "dow",
    "hour",
    "minute",
    "month",
    "year",
    "week",
    "format_datetime",
    "parse_datetime",
    "at_timezone",
    "with_timezone",
    "last_day_of_month",
    // string
    "lower",
    "upper",
    "length",
    "substr",
    "substring",
    "concat",
    "concat_ws",
    "replace",
    "split",
    "split_part",
    "strpos",
    "position",
    "starts_with",
    "trim",
    "ltrim",
    "rtrim",
    "lpad",
    "rpad",
    "reverse",
    "regexp_like",
    "regexp_extract",
    "regexp_extract_all",
    "regexp_replace",
    "regexp_split",
    "url_extract_host",
    "url_extract_path",
    "url_extract_parameter",
    "url_extract_query",
    "url_extract_protocol",
    "url_extract_port",
    "to_hex",
    "from_hex",
    "md5",
    "sha256",
    "format",
    // array and map
    "cardinality",
    "contains",
    "element_at",
    "array_join",
    "array_distinct",
    "array_sort",
    "array_position",
    "array_max",
    "array_min",
    "arrays_overlap",
    "filter",
    "transform",
    "sequence",
    "slice",
    "flatten",
    "map_keys",
    "map_values",
    "zip",
    // math and geo
    "abs",
    "ceil",
    "ceiling",
    "floor",
    "round",
    "power",
    "sqrt",
    "ln",
    "log10",
    "mod",
    "great_circle_distance",
];

/// A hostile statement cannot reach past the tenant scope: qualified Glue names, other Glue
/// tables, information_schema and out-of-scope CTE names are refused before anything is sent
/// (moto records no execution), while every view still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn athena_refuses_relations_outside_the_scope() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("auditlake.yaml");
    std::fs::write(
        &cfg,
        "identity_activity_center:\n  region: us-east-1\n  database: auditlake\n  table: audit_events\n  s3: s3://lake/data/\n  s3_results: s3://results/athena\n  workgroup: primary\n",
    )
    .unwrap();
    let athena = moto.athena().await;
    for sql in [
        "SELECT count(*) FROM auditlake.audit_events WHERE tenant_id = 'globex'",
        "SELECT count(*) FROM \"awsdatacatalog\".\"auditlake\".\"audit_events\"",
        "SELECT count(*) FROM audit_events",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM events e JOIN auditlake.audit_events g ON e.uid = g.uid",
        "SELECT * FROM events WHERE uid IN (SELECT uid FROM audit_events WHERE tenant_id = 'globex')",
        "SELECT * FROM (WITH audit_events AS (SELECT 1 AS x) SELECT * FROM audit_events) a, audit_events",
        "WITH a AS (SELECT * FROM audit_events), audit_events AS (SELECT 1) SELECT * FROM a",
    ] {
        let out = moto
            .cmd()
            .args(["query", "--engine", "athena", "--config"])
            .arg(&cfg)
            .args(["--tenant", "acme", sql])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{sql}: {err}");
        assert!(err.contains("not allowed"), "{sql}: {err}");
        assert!(
            common::athena_executions(&athena).await.is_empty(),
            "{sql} reached Athena"
        );
    }
    // Every view is still allowed (and the tenant's own CTEs), and goes out scoped.
    for v in auditlake::query::views::views() {
        let sql = format!(
            "WITH mine AS (SELECT * FROM {}) SELECT count(*) FROM mine",
            v.name
        );
        let wrapped = auditlake::query::athena::wrap_sql(&sql, &opts())
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert!(wrapped.starts_with(
            "WITH events AS (SELECT * FROM \"auditlake\".\"events\" WHERE tenant_id = 'acme'"
        ));
    }
    let sql = "SELECT count(*) FROM events e JOIN identities i ON e.identity = i.identity";
    let wrapped = auditlake::query::athena::wrap_sql(sql, &opts()).unwrap();
    assert!(
        wrapped.contains(
            "identities AS (SELECT * FROM \"auditlake\".identities WHERE tenant_id = 'acme')"
        ),
        "{wrapped}"
    );
}
