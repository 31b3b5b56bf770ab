//! The Athena engine against moto's Athena (which runs nothing and answers with results queued
//! through its API): the CLI starts, polls and reads a query, types the columns, scopes the
//! tenant and sends the views as a WITH header that Trino's grammar accepts; CANCELLED surfaces.

use std::process::Command;

use auditlake::athena::{Athena, AthenaOptions};

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

async fn client(moto: &Moto) -> aws_sdk_athena::Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_athena::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await;
    aws_sdk_athena::Client::new(&conf)
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
    let out = Command::new(env!("CARGO_BIN_EXE_auditlake"))
        .args(["query", "--engine", "athena", "--config"])
        .arg(&cfg)
        .args(["--tenant", "acme", "--days", "7", "--format", "json", sql])
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
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
    let athena = client(&moto).await;
    let ids = athena
        .list_query_executions()
        .send()
        .await
        .unwrap()
        .query_execution_ids
        .unwrap_or_default();
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
    let out = Command::new(env!("CARGO_BIN_EXE_auditlake"))
        .args(["report", "--engine", "athena", "--config"])
        .arg(&cfg)
        .args(["--tenant", "acme", "--format", "json"])
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
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
    let executions = athena
        .list_query_executions()
        .send()
        .await
        .unwrap()
        .query_execution_ids
        .unwrap_or_default();
    assert_eq!(executions.len(), 10, "one query, then nine report queries");

    // The detections run there too (moto answers each with no rows).
    let out = Command::new(env!("CARGO_BIN_EXE_auditlake"))
        .args(["alerts", "--engine", "athena", "--config"])
        .arg(&cfg)
        .args(["--tenant", "acme", "--format", "json"])
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    let n = athena
        .list_query_executions()
        .send()
        .await
        .unwrap()
        .query_execution_ids
        .unwrap_or_default()
        .len();
    assert_eq!(n, 10 + auditlake::catalog::detection_files().len());

    // The shell switches engines with \engine; the statement then goes to Athena.
    let out = Command::new(env!("CARGO_BIN_EXE_auditlake"))
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
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("engine: athena"));
    let ids = athena
        .list_query_executions()
        .send()
        .await
        .unwrap()
        .query_execution_ids
        .unwrap_or_default();
    assert_eq!(ids.len(), n + 1);
    let mut sent_texts = Vec::new();
    for id in &ids {
        let q = athena
            .get_query_execution()
            .query_execution_id(id)
            .send()
            .await
            .unwrap()
            .query_execution
            .unwrap()
            .query
            .unwrap();
        sent_texts.push(q);
    }
    assert!(
        sent_texts.iter().any(|q| q.contains("cert_create AS (")
            && q.ends_with("SELECT count(*) AS n FROM cert_create")),
        "the shell's statement did not reach Athena"
    );

    // `ddl --apply` creates the table and every view through Athena.
    let before = ids.len();
    let out = Command::new(env!("CARGO_BIN_EXE_auditlake"))
        .args(["ddl", "--views", "--apply", "--config"])
        .arg(&cfg)
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids = athena
        .list_query_executions()
        .send()
        .await
        .unwrap()
        .query_execution_ids
        .unwrap_or_default();
    let views = auditlake::catalog::views().len();
    assert_eq!(ids.len(), before + 1 + views);
    let mut creates = Vec::new();
    for id in &ids[before..] {
        let q = athena
            .get_query_execution()
            .query_execution_id(id)
            .send()
            .await
            .unwrap()
            .query_execution
            .unwrap()
            .query
            .unwrap();
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
        let wrapped =
            auditlake::athena::wrap_sql(sql, &opts()).unwrap_or_else(|e| panic!("{name}: {e}"));
        std::fs::write(dir.path().join(format!("{name}.sql")), wrapped).unwrap();
        n += 1;
    };
    for v in auditlake::catalog::views() {
        write(
            &format!("view_{}", v.name),
            &format!("SELECT * FROM {}", v.name),
        );
    }
    for q in auditlake::report::builtin().queries {
        write(&format!("report_{}", q.name), &q.sql);
    }
    for (name, text) in auditlake::catalog::detection_files() {
        write(&format!("detection_{name}"), text);
    }
    assert!(n > 50, "{n} statements");
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
