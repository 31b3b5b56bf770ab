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
