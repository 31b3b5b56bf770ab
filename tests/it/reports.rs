//! The Privileged Access Report through the real binary: JSON shape and the HTML page.

use std::process::Command;

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_as_json_and_as_a_self_contained_page() {
    let (dir, _lake) = common::fixture_lake().await;
    let bin = env!("CARGO_BIN_EXE_auditlake");
    let lake = dir.path().to_str().unwrap();
    // The fixture is from 2024: a window wide enough to include it.
    let json = Command::new(bin)
        .args([
            "report", "--lake", lake, "--tenant", "acme", "--days", "100000", "--format", "json",
        ])
        .output()
        .unwrap();
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 9);
    for key in [
        "name",
        "title",
        "description",
        "version",
        "days",
        "total_execution_time_ms",
        "total_data_scanned_bytes",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let with_dates = results
        .iter()
        .filter(|r| {
            !r["rows"].as_array().unwrap().is_empty()
                && r["columns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c == "event_date")
        })
        .count();
    assert!(with_dates > 0, "the fixture should light up some queries");

    let page = dir.path().join("report.html");
    let out = Command::new(bin)
        .args([
            "report", "--lake", lake, "--tenant", "acme", "--days", "100000", "--format", "html",
            "--out",
        ])
        .arg(&page)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert_eq!(
        html.matches("<svg").count(),
        with_dates,
        "one chart per query with dated rows"
    );
    assert_eq!(html.matches("<section id=").count(), 9);
    assert!(!html.contains("src=") && !html.contains("href=") && !html.contains("<script"));
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_auditlake"))
        .args(args)
        .env("AUDITLAKE_USER", "tester")
        .output()
        .unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_queries_and_reports_live_in_the_lake() {
    let (dir, _lake) = common::fixture_lake().await;
    let lake = dir.path().to_str().unwrap();
    let sql = "SELECT event_date, count(*) AS count, user FROM session_start WHERE login = 'root' GROUP BY event_date, user ORDER BY event_date";
    stdout(&run(&[
        "queries",
        "create",
        "--lake",
        lake,
        "root-sessions",
        sql,
        "--title",
        "Root sessions",
    ]));
    assert!(
        dir.path()
            .join("_catalog/queries/root-sessions.yaml")
            .is_file()
    );
    assert!(
        stdout(&run(&["queries", "ls", "--lake", lake])).contains("root-sessions\tRoot sessions")
    );
    let csv = stdout(&run(&[
        "queries",
        "run",
        "--lake",
        lake,
        "--tenant",
        "acme",
        "--format",
        "csv",
        "root-sessions",
    ]));
    assert!(csv.starts_with("event_date,count,user"), "{csv}");
    assert!(csv.lines().count() > 1, "{csv}");
    // A second create of the same name is refused; --replace overwrites.
    assert!(
        !run(&[
            "queries",
            "create",
            "--lake",
            lake,
            "root-sessions",
            sql,
            "--title",
            "x"
        ])
        .status
        .success()
    );
    stdout(&run(&[
        "queries",
        "create",
        "--lake",
        lake,
        "root-sessions",
        sql,
        "--title",
        "Root",
        "--replace",
    ]));

    // Bad SQL is refused at create time and nothing is stored.
    let bad = run(&[
        "queries",
        "create",
        "--lake",
        lake,
        "bad",
        "SELECT nope FROM cert_create",
        "--title",
        "Bad",
    ]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("nope"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(!dir.path().join("_catalog/queries/bad.yaml").exists());
    // Built-in names cannot be taken or removed.
    let builtin = auditlake::report::builtin();
    assert!(
        !run(&[
            "queries",
            "create",
            "--lake",
            lake,
            &builtin.queries[0].name,
            sql,
            "--title",
            "x"
        ])
        .status
        .success()
    );
    assert!(
        !run(&["reports", "rm", "--lake", lake, &builtin.name])
            .status
            .success()
    );

    // A report of saved queries runs like the built-in one.
    stdout(&run(&[
        "reports",
        "create",
        "--lake",
        lake,
        "mine",
        "--title",
        "Mine",
        "--query",
        "root-sessions",
    ]));
    let json = stdout(&run(&[
        "reports", "run", "--lake", lake, "--tenant", "acme", "--days", "100000", "--format",
        "json", "mine",
    ]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["results"][0]["name"], "root-sessions");
    assert!(!v["results"][0]["rows"].as_array().unwrap().is_empty());
    // A report listing an unknown query is refused.
    assert!(
        !run(&[
            "reports", "create", "--lake", lake, "bad", "--title", "B", "--query", "nope"
        ])
        .status
        .success()
    );

    // Every run left an audit record: who, what, success.
    let runs = super::schema::walk(&dir.path().join("_catalog/runs"));
    assert_eq!(runs.len(), 2, "{runs:?}");
    let recs: Vec<serde_json::Value> = runs
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect();
    assert!(
        recs.iter()
            .all(|r| r["who"] == "tester" && r["success"] == true)
    );
    assert!(
        recs.iter()
            .any(|r| r["kind"] == "query" && r["name"] == "root-sessions")
    );
    assert!(
        recs.iter()
            .any(|r| r["kind"] == "report" && r["name"] == "mine")
    );

    // Remove: gone from the listing.
    stdout(&run(&["reports", "rm", "--lake", lake, "mine"]));
    stdout(&run(&["queries", "rm", "--lake", lake, "root-sessions"]));
    assert!(!stdout(&run(&["queries", "ls", "--lake", lake])).contains("root-sessions"));
}
