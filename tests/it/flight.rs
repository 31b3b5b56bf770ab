//! `auditlake serve` driven by the ADBC Flight SQL driver from PyPI: seed queries give the
//! engine's answers, prepared statements bind parameters, tables list, tokens and tenants hold.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;

pub(crate) struct Server(pub(crate) Child);

impl Server {
    /// The server's process id (for /proc/PID/status).
    pub(crate) fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Still running (no crash, no abort)?
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn token(tokens: &std::path::Path, name: &str, tenant: &str) -> String {
    token_with(tokens, name, tenant, &[])
}

/// A token made with extra `token add` flags (`--ttl 0s`: expired the moment it is made).
pub(crate) fn token_with(
    tokens: &std::path::Path,
    name: &str,
    tenant: &str,
    extra: &[&str],
) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_auditlake"))
        .args(["token", "add", name, "--tenant", tenant])
        .args(extra)
        .arg("--tokens")
        .arg(tokens)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The server's log (its stderr) of a tokens file: `<tokens>.log`.
pub(crate) fn server_log(tokens: &Path) -> std::path::PathBuf {
    tokens.with_extension("log")
}

/// Starts `auditlake serve` on a free port; returns it with its `host:port`. Its stderr (the
/// log, and any panic message) goes to `server_log(tokens)`.
pub(crate) fn start(lake: &Path, tokens: &Path, extra: &[&str]) -> (Server, String) {
    let log = std::fs::File::create(server_log(tokens)).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_auditlake"));
    cmd.args(["serve", "--lake", lake.to_str().unwrap()]);
    if !extra.contains(&"--addr") {
        cmd.args(["--addr", "127.0.0.1:0"]);
    }
    let mut child = cmd
        .arg("--tokens")
        .arg(tokens)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    // Bounded wait for the line that names the chosen port.
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("server did not start");
    let last = line.trim().rsplit(' ').next().unwrap();
    // A server on every interface is still reached on loopback only.
    let addr = last
        .trim_start_matches("grpc+tls://")
        .replace("0.0.0.0:", "127.0.0.1:");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "server not reachable at {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, addr)
}

/// One query through the ADBC driver: Ok(rows) or Err(the driver's message).
pub(crate) fn one(
    uri: &str,
    token: &str,
    sql: &str,
    root_cert: Option<&Path>,
) -> Result<serde_json::Value, String> {
    let mut c = Command::new(common::python());
    c.arg(common::repo().join("tests/flight/adbc_one.py"))
        .args([uri, token, sql]);
    if let Some(p) = root_cert {
        c.arg(p);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    match v.get("error") {
        Some(e) => Err(e.as_str().unwrap().to_string()),
        None => Ok(v["rows"].clone()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_expiry_and_revocation() {
    let (dir, _lake) = common::fixture_lake().await;
    let tokens = dir.path().join("tokens.yaml");
    let alice = token(&tokens, "alice", "acme");
    // An already-expired token (ttl 0) and one removed after it worked.
    let old = token_with(&tokens, "old", "acme", &["--ttl", "0s"]);
    let bob = token(&tokens, "bob", "acme");
    // A self-signed certificate for 127.0.0.1, made by openssl.
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=auditlake-test",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "openssl req failed");
    let (server, addr) = start(
        dir.path(),
        &tokens,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let tls = format!("grpc+tls://{addr}");
    let sql = "SELECT count(*) FROM cert_create";
    let rows = one(&tls, &alice, sql, Some(&cert)).expect("TLS query");
    assert_ne!(rows[0][0], "0", "{rows}");
    // Plain text is not served on a TLS port.
    assert!(one(&format!("grpc://{addr}"), &alice, sql, None).is_err());
    // A refused caller learns only that it was refused; the log says why.
    let e = one(&tls, &old, sql, Some(&cert)).unwrap_err();
    assert!(e.contains(auditlake::faces::flight::AUTH_FAILED), "{e}");
    assert!(!e.contains("expired"), "{e}");
    assert!(one(&tls, &bob, sql, Some(&cert)).is_ok());
    let out = Command::new(env!("CARGO_BIN_EXE_auditlake"))
        .args(["token", "rm", "bob", "--tokens"])
        .arg(&tokens)
        .output()
        .unwrap();
    assert!(out.status.success());
    let e = one(&tls, &bob, sql, Some(&cert)).unwrap_err();
    assert!(e.contains(auditlake::faces::flight::AUTH_FAILED), "{e}");
    let log = std::fs::read_to_string(server_log(&tokens)).unwrap();
    assert!(
        log.contains("token expired at") && log.contains("unknown or revoked token"),
        "{log}"
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adbc_client_queries_with_tokens_and_tenants() {
    let (dir, lake) = common::fixture_lake().await;
    let tokens = dir.path().join("tokens.yaml");
    let alice = token(&tokens, "alice", "acme");
    let mallory = token(&tokens, "mallory", "globex");
    let file = std::fs::read_to_string(&tokens).unwrap();
    assert!(
        !file.contains(&alice),
        "the tokens file must hold hashes only"
    );

    let (server, addr) = start(dir.path(), &tokens, &[]);

    let queries = [
        "SELECT DISTINCT user FROM exec WHERE command LIKE '%/etc/passwd%' ORDER BY 1",
        "SELECT event_date, identity_user AS user , COUNT ( DISTINCT cert_create.identity_client_ip) AS unique_ip_count FROM cert_create GROUP BY event_date, identity_user ORDER BY event_date, user",
        "SELECT event_date, COUNT ( * ) as count, user FROM session_start WHERE login = 'root' GROUP BY event_date, user ORDER BY event_date, user",
    ];
    let out = Command::new(common::python())
        .arg(common::repo().join("tests/flight/adbc_client.py"))
        .arg(format!("grpc://{addr}"))
        .args([&alice, &mallory])
        .arg(serde_json::to_string(&queries).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    // The same answers as the engine in-process.
    let engine = common::engine(&lake, Some("acme")).await;
    for (i, q) in queries.iter().enumerate() {
        let want = common::rows(&engine, q).await;
        let got: Vec<Vec<String>> = v["answers"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap_or("NULL").to_string())
                    .collect()
            })
            .collect();
        assert!(!want.is_empty(), "{q}");
        assert_eq!(got, want, "{q}");
    }
    let want = common::rows(
        &engine,
        "SELECT count(*) AS n FROM cert_create WHERE identity_user = 'alice'",
    )
    .await;
    assert_eq!(v["prepared"][0][0], want[0][0].as_str(), "{v}");
    let tables: Vec<&str> = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tables.contains(&"events")
            && tables.contains(&"cert_create")
            && tables.contains(&"session_start"),
        "{tables:?}"
    );
    // Table types: "BASE TABLE" (Grafana) is TABLE, views are listed when asked for, and a
    // type we have none of lists nothing.
    let by_type = |k: &str| -> Vec<(String, String)> {
        v["tables_by_type"][k]
            .as_array()
            .unwrap_or_else(|| panic!("{k}: {v}"))
            .iter()
            .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
            .collect()
    };
    let base = by_type("BASE TABLE");
    assert!(
        base.iter().any(|(n, _)| n == "events") && base.iter().all(|(_, t)| t == "BASE TABLE"),
        "{base:?}"
    );
    assert!(!base.iter().any(|(n, _)| n == "cert_create"), "{base:?}");
    let plain: Vec<String> = by_type("TABLE").into_iter().map(|p| p.0).collect();
    let base_names: Vec<String> = base.iter().map(|p| p.0.clone()).collect();
    assert_eq!(plain, base_names);
    let views = by_type("VIEW");
    assert!(
        views.iter().any(|(n, _)| n == "cert_create")
            && views.iter().all(|(n, t)| t == "VIEW" && n != "events"),
        "{views:?}"
    );
    let both = by_type("table,view");
    assert_eq!(both.len(), base.len() + views.len(), "{both:?}");
    assert_eq!(by_type("SYSTEM TABLE"), vec![]);
    // Isolation and refusals.
    assert_eq!(v["other_tenant_rows"][0][0], "0", "{v}");
    assert_eq!(v["b_tenants"], serde_json::json!(["globex"]));
    let write = v["write"].as_str().unwrap();
    assert!(
        write != "allowed" && write.to_lowercase().contains("not"),
        "{write}"
    );
    assert!(v["bad_sql"].as_str().unwrap().contains("nope"), "{v}");
    let bad = v["bad_token"].as_str().unwrap();
    assert!(
        bad.to_lowercase().contains("unauthenticated") || bad.contains("token"),
        "{bad}"
    );
    assert_eq!(v["basic"], serde_json::json!(["acme"]), "{v}");
    assert_ne!(v["basic_wrong_user"], "allowed", "{v}");
    // 50 concurrent clients, each with its own tenant's answer.
    let conc = v["concurrent"].as_array().unwrap();
    assert_eq!(conc.len(), 50);
    for c in conc {
        let want = if c[0] == true { "acme" } else { "globex" };
        assert_eq!(c[1], serde_json::json!([want]), "{c}");
    }
    drop(server);
}

/// Access Monitoring over Flight: saved queries and reports as actions, with Teleport's verbs
/// enforced per token, driven by pyarrow's Flight client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_actions_enforce_verbs() {
    let (dir, _lake) = common::fixture_lake().await;
    let tokens = dir.path().join("tokens.yaml");
    let auditor = token(&tokens, "auditor", "acme");
    // Hand-written entries with narrower rules, as a security team would write them.
    let (analyst, viewer) = ("analyst-token-1234", "viewer-token-5678");
    let mut file = std::fs::read_to_string(&tokens).unwrap();
    for (name, tok, rules) in [
        (
            "analyst",
            analyst,
            "[{resources: [audit_query], verbs: [list, read, use]}]",
        ),
        (
            "viewer",
            viewer,
            "[{resources: [security_report], verbs: [list, read]}, {resources: [audit_query], verbs: [list]}]",
        ),
    ] {
        file.push_str(&format!(
            "- name: {name}\n  tenant: acme\n  sha256: {}\n  rules: {rules}\n",
            auditlake::faces::flight::sha256_hex(tok)
        ));
    }
    std::fs::write(&tokens, file).unwrap();
    let (server, addr) = start(dir.path(), &tokens, &[]);
    let uri = format!("grpc://{addr}");
    let call = |tok: &str, action: &str, body: &str| -> serde_json::Value {
        let out = Command::new(common::python())
            .arg(common::repo().join("tests/flight/flight_actions.py"))
            .args([&uri, tok, action, body])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let actions = call(&auditor, "list", "");
    let listed: Vec<&str> = actions["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for want in [
        "GetReport",
        "GetSavedQuery",
        "ListReports",
        "ListSavedQueries",
        "RunReport",
    ] {
        assert!(listed.contains(&want), "{want} not in {listed:?}");
    }
    // The auditor runs the built-in report in its tenant: Teleport's report-result shape.
    let run = call(
        &auditor,
        "RunReport",
        r#"{"name": "privilege_access_report", "days": 100000}"#,
    );
    let r = &run["result"];
    assert_eq!(r["results"].as_array().map(Vec::len), Some(9), "{run}");
    assert!(r["total_data_scanned_bytes"].as_u64().unwrap() > 0, "{run}");
    assert_eq!(
        call(&auditor, "ListReports", "")["result"][0],
        "privilege_access_report"
    );
    // The analyst may run SQL but not see reports.
    for action in ["ListReports", "RunReport"] {
        let e = call(analyst, action, "");
        let msg = e["error"].as_str().unwrap_or_default();
        assert!(
            msg.contains("may not") && msg.contains("security_report"),
            "{action}: {e}"
        );
    }
    assert!(call(analyst, "ListSavedQueries", "")["result"].is_array());
    // The viewer may list and read reports, but not run one (running is `use`).
    assert_eq!(
        call(viewer, "GetReport", "privilege_access_report")["result"]["queries"]
            .as_array()
            .map(Vec::len),
        Some(9)
    );
    let e = call(viewer, "RunReport", "");
    assert!(
        e["error"]
            .as_str()
            .unwrap_or_default()
            .contains("may not use security_report"),
        "{e}"
    );
    let e = call(viewer, "GetSavedQuery", "anything");
    assert!(
        e["error"]
            .as_str()
            .unwrap_or_default()
            .contains("may not read audit_query"),
        "{e}"
    );
    // No token, no answer.
    let e = call("not-a-token", "ListReports", "");
    assert!(
        e["error"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
            .contains("unauthenticated")
            || e["error"].as_str().unwrap_or_default().contains("token"),
        "{e}"
    );
    // The run left an audit record naming the token.
    let runs = walk(&dir.path().join("_catalog"));
    assert!(
        runs.iter().any(|t| t.contains("\"flight:auditor\"")),
        "{runs:?}"
    );
    drop(server);
}

fn walk(p: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else if let Ok(t) = std::fs::read_to_string(&path) {
                out.push(t);
            }
        }
    }
    out
}
