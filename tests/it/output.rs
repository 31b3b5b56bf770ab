//! Snapshot tests of every output format over one fixture query (timings scrubbed).

use crate::common;
use auditlake::faces::output::{self, Format, TableOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_snapshot() {
    let (_dir, lake) = common::fixture_lake().await;
    let engine = common::engine(&lake, Some("acme")).await;
    let res = engine
        .execute("SELECT event_time, user, login, access_requests, with_mfa, event_date FROM session_start WHERE user IN ('alice', 'carol') ORDER BY event_time")
        .await
        .unwrap();
    for (name, f) in [
        ("table", Format::Table),
        ("csv", Format::Csv),
        ("json", Format::Json),
        ("ndjson", Format::Ndjson),
        ("tctl", Format::Tctl),
    ] {
        let mut buf = Vec::new();
        output::write(
            &mut buf,
            f,
            &res.schema,
            &res.batches,
            TableOptions::default(),
        )
        .unwrap();
        insta::assert_snapshot!(
            format!("session_start_{name}"),
            String::from_utf8(buf).unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timing_line_snapshot_scrubbed() {
    let (dir, _lake) = common::fixture_lake().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_auditlake"))
        .args(["sql", "--lake", &dir.path().display().to_string(), "--tenant", "acme", "-c", "\\timing on\nSELECT count(*) AS n FROM cert_create WHERE event_date = DATE '2024-03-22';"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let scrubbed = regex::Regex::new(r"Time: [0-9.]+ s")
        .unwrap()
        .replace_all(&text, "Time: [elapsed] s");
    let scrubbed = regex::Regex::new(r"bytes read: \d+")
        .unwrap()
        .replace_all(&scrubbed, "bytes read: [bytes]");
    insta::assert_snapshot!("timing_on", scrubbed);
}
