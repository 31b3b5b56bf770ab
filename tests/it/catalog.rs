//! The saved catalog is per tenant: a token of one tenant neither lists, reads, nor runs
//! another tenant's saved queries and reports (through Flight's actions, with pyarrow's
//! client), while the operator's CLI sees all of them labelled.

use std::process::Command;

use crate::common;
use crate::flight::{start, token};

fn cli(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_auditlake"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_sees_only_its_tenants_saved_catalog() {
    let (dir, _lake) = common::fixture_lake().await;
    let lake = dir.path().to_str().unwrap();
    cli(&[
        "queries",
        "create",
        "--lake",
        lake,
        "--tenant",
        "acme",
        "acme-secret-query",
        "SELECT count(*) AS n FROM session_start",
        "--title",
        "Acme secret title",
    ]);
    cli(&[
        "reports",
        "create",
        "--lake",
        lake,
        "--tenant",
        "acme",
        "acme-report",
        "--title",
        "Acme report",
        "--query",
        "acme-secret-query",
    ]);
    let tokens = dir.path().join("tokens.yaml");
    let acme = token(&tokens, "acme-auditor", "acme");
    let globex = token(&tokens, "globex-auditor", "globex");
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
    // The owner sees its own.
    assert_eq!(
        call(&acme, "ListSavedQueries", "")["result"],
        serde_json::json!(["acme-secret-query"])
    );
    assert_eq!(
        call(&acme, "GetSavedQuery", "acme-secret-query")["result"]["title"],
        "Acme secret title"
    );
    let reports = call(&acme, "ListReports", "");
    assert!(
        reports["result"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "acme-report"),
        "{reports}"
    );
    let ran = call(
        &acme,
        "RunReport",
        r#"{"name": "acme-report", "days": 100000}"#,
    );
    assert_eq!(
        ran["result"]["results"][0]["name"], "acme-secret-query",
        "{ran}"
    );

    // The other tenant: nothing listed, nothing readable, nothing runnable — by any spelling.
    assert_eq!(
        call(&globex, "ListSavedQueries", "")["result"],
        serde_json::json!([])
    );
    let listed = call(&globex, "ListReports", "");
    assert_eq!(
        listed["result"],
        serde_json::json!(["privilege_access_report"]),
        "{listed}"
    );
    for (action, body) in [
        ("GetSavedQuery", "acme-secret-query"),
        ("GetSavedQuery", "acme/acme-secret-query"),
        ("GetSavedQuery", "../acme/queries/acme-secret-query"),
        ("GetReport", "acme-report"),
        ("GetReport", "acme/acme-report"),
        ("RunReport", r#"{"name": "acme-report"}"#),
        ("RunReport", r#"{"name": "acme/acme-report"}"#),
    ] {
        let e = call(&globex, action, body);
        let text = e.to_string();
        assert!(e.get("error").is_some(), "{action} {body}: {e}");
        assert!(
            !text.contains("Acme secret title") && !text.contains("session_start"),
            "{text}"
        );
    }
    // The built-in report stays global.
    assert_eq!(
        call(&globex, "GetReport", "privilege_access_report")["result"]["queries"]
            .as_array()
            .map(Vec::len),
        Some(9)
    );
    drop(server);
    // The operator's CLI sees every tenant's, labelled.
    assert!(
        cli(&["queries", "ls", "--lake", lake])
            .contains("acme/acme-secret-query\tAcme secret title")
    );
    assert!(cli(&["reports", "ls", "--lake", lake]).contains("acme/acme-report\tAcme report"));
}
