//! Shared test helpers: fixture lakes, the project's Python, and real protocol servers on
//! loopback (started per test, polled for readiness with a bound, stopped on drop).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use auditlake::ingest::{IngestOptions, Input};
use auditlake::lake::Lake;
use auditlake::query::engine::{Engine, EngineOptions};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    repo().join("fixtures").join(rel)
}

/// Ingests NDJSON files into a lake for a tenant.
pub async fn ingest(
    lake: &Lake,
    tenant: &str,
    files: &[PathBuf],
) -> auditlake::ingest::IngestSummary {
    let opts = IngestOptions {
        tenant: tenant.into(),
        threads: 2,
        ..Default::default()
    };
    auditlake::ingest::ingest_files(
        lake,
        files.iter().map(|f| Input::File(f.clone())).collect(),
        opts,
        false,
    )
    .await
    .expect("ingest fixture")
}

/// The demo generator's Teleport events of `days` days from 2024-05-01, as NDJSON lines in the
/// order it writes them; only `tenant`'s when given.
pub fn demo_lines(seed: u64, days: u32, events_per_day: u32, tenant: Option<&str>) -> Vec<String> {
    let spec = auditlake::demo::DemoSpec {
        seed,
        start: chrono::NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(),
        days,
        events_per_day,
        sources: auditlake::demo::DemoSources::TeleportOnly,
    };
    let mut lines = Vec::new();
    auditlake::demo::generate(&spec, &mut |t, line| {
        if tenant.is_none_or(|want| want == t) {
            lines.push(line.to_string());
        }
    });
    lines
}

/// A local lake holding the fixture tenants `acme` and `globex`.
pub async fn fixture_lake() -> (tempfile::TempDir, Lake) {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open(dir.path().to_str().unwrap()).expect("open lake");
    ingest(&lake, "acme", &[fixture("lake/acme.ndjson")]).await;
    ingest(&lake, "globex", &[fixture("lake/globex.ndjson")]).await;
    (dir, lake)
}

pub async fn engine(lake: &Lake, tenant: Option<&str>) -> Engine {
    let mut o = EngineOptions::new(lake.clone());
    o.tenant = tenant.map(str::to_string);
    Engine::new(o).await.expect("engine")
}

/// Runs a command to completion and fails the test, with its stderr, unless it succeeded.
pub fn run_ok(c: &mut Command) -> std::process::Output {
    let out = c.output().expect("spawn");
    assert!(
        out.status.success(),
        "{c:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A physical plan as `EXPLAIN` indents it.
pub fn plan_text(plan: &std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>) -> String {
    datafusion::physical_plan::displayable(plan.as_ref())
        .indent(true)
        .to_string()
}

/// An engine whose views read `event_data` (no sidecars): for tests of the JSON plans.
pub async fn engine_plain(lake: &Lake, tenant: Option<&str>) -> Engine {
    let mut o = EngineOptions::new(lake.clone());
    o.tenant = tenant.map(str::to_string);
    o.view_accel = false;
    Engine::new(o).await.expect("engine")
}

/// Rows of a query as text cells (NULL as "NULL").
/// `EXPLAIN ANALYZE sql` as one text (the plan with its metrics and our scans' pruning).
pub async fn explain_analyze(engine: &Engine, sql: &str) -> String {
    rows(engine, &format!("EXPLAIN ANALYZE {sql}"))
        .await
        .iter()
        .map(|r| r.join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

pub async fn rows(engine: &Engine, sql: &str) -> Vec<Vec<String>> {
    let res = engine
        .execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = Vec::new();
    for b in &res.batches {
        for r in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .map(|c| {
                        auditlake::faces::output::cell_text(c, r)
                            .unwrap()
                            .unwrap_or_else(|| "NULL".into())
                    })
                    .collect(),
            );
        }
    }
    out
}

/// The project's Python (a venv with moto, duckdb, trino-query-parser …), from
/// `AUDITLAKE_PYTHON` (set by scripts/test.sh) or created by scripts/python-env.sh.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("AUDITLAKE_PYTHON") {
        return PathBuf::from(p);
    }
    let out = Command::new("bash")
        .arg(repo().join("scripts/python-env.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/python-env.sh");
    assert!(out.status.success(), "scripts/python-env.sh failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A moto server (S3, SQS, …) on 127.0.0.1, killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        let py = python();
        let bin = py.parent().unwrap().join("moto_server");
        let port = free_port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let endpoint = format!("http://127.0.0.1:{port}");
        let m = Moto { child, endpoint };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if http(&m.endpoint, "GET", "/moto-api/").is_ok_and(|s| s.starts_with("HTTP/1.1 200")) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not become ready on {}",
                m.endpoint
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        m
    }

    pub fn create_bucket(&self, bucket: &str) {
        let resp = http(&self.endpoint, "PUT", &format!("/{bucket}")).expect("create bucket");
        assert!(resp.starts_with("HTTP/1.1 200"), "create bucket: {resp}");
    }

    /// Points a command's AWS environment at this server: endpoint, plain HTTP, dummy
    /// credentials, a region, no instance-metadata lookups (unreachable here).
    pub fn env<'a>(&self, c: &'a mut Command) -> &'a mut Command {
        c.env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
    }

    /// The binary with its AWS environment pointing at this server.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_auditlake"));
        self.env(&mut c);
        c
    }

    /// An Athena client of this server.
    pub async fn athena(&self) -> aws_sdk_athena::Client {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_athena::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .load()
            .await;
        aws_sdk_athena::Client::new(&conf)
    }

    /// object_store settings pointing at this server.
    pub fn s3_options(&self) -> Vec<(&'static str, String)> {
        vec![
            ("aws_endpoint", self.endpoint.clone()),
            ("aws_allow_http", "true".into()),
            ("aws_access_key_id", "test".into()),
            ("aws_secret_access_key", "test".into()),
            ("aws_region", "us-east-1".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Ids of every query an Athena (moto's) was sent, oldest first.
pub async fn athena_executions(athena: &aws_sdk_athena::Client) -> Vec<String> {
    athena
        .list_query_executions()
        .send()
        .await
        .unwrap()
        .query_execution_ids
        .unwrap_or_default()
}

/// The text Athena received for one execution.
pub async fn athena_sent_text(athena: &aws_sdk_athena::Client, id: &str) -> String {
    athena
        .get_query_execution()
        .query_execution_id(id)
        .send()
        .await
        .unwrap()
        .query_execution
        .unwrap()
        .query
        .unwrap()
}

/// A minimal HTTP/1.1 request (no body); returns the raw response head and body.
pub fn http(endpoint: &str, method: &str, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    Ok(buf)
}

/// Runs a Python snippet with the project's Python; returns stdout, panics with stderr.
pub fn run_python(script: &str, args: &[&Path]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The demo's planted stories, one per day over 13 days, all four sources (the detections'
/// fixture): a fresh lake in a temp dir, made by the binary as a user would.
pub fn story_lake() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir
        .path()
        .join("lake")
        .to_str()
        .expect("utf-8 path")
        .to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_auditlake"))
        .args([
            "demo",
            "--lake",
            &lake,
            "--days",
            "13",
            "--events-per-day",
            "300",
        ])
        .args(["--seed", "5", "--start", "2024-05-01"])
        .output()
        .expect("run the demo");
    assert!(
        out.status.success(),
        "demo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, lake)
}
