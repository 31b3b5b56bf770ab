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

/// A value an attacker wrote into the lake: an OSC title sequence, a bell, a right-to-left
/// override and a screen clear.
const HOSTILE: &str = "mallory\u{1b}]0;pwned\u{7}\u{202e}gpj.exe\u{1b}[2J\u{2066}";

/// What every text renderer must show instead of the raw characters.
fn assert_escaped(what: &str, out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    assert!(
        !out.contains(&0x1b) && !out.contains(&0x07),
        "{what}: a raw control character reached the output:\n{text:?}"
    );
    for c in ['\u{202e}', '\u{2066}'] {
        assert!(!text.contains(c), "{what}: raw bidi {c:?}:\n{text:?}");
    }
    assert!(
        text.contains("mallory\\u{1b}]0;pwned\\u{7}\\u{202e}gpj.exe"),
        "{what}: the escape is not visible:\n{text}"
    );
}

/// ESC/OSC/bidi in lake data are shown escaped by every text renderer (table, report text,
/// alerts text, the shell), and kept exactly by the formats for programs (JSON, CSV).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_and_bidi_characters_never_reach_the_terminal_raw() {
    let (dir, lake) = common::fixture_lake().await;
    let evil = dir.path().join("evil.ndjson");
    let event = serde_json::json!({
        "event": "session.start", "code": "T2000I", "time": "2024-03-21T09:00:00.1Z",
        "uid": "e0000001-0000-4000-8000-00000000e5c0", "ei": 0,
        "cluster_name": "acme.teleport.sh", "user": HOSTILE, "login": "root", "user_kind": 1,
        "sid": "e1", "proto": "ssh", "namespace": "default", "server_id": "de38",
        "server_hostname": HOSTILE, "server_addr": "10.0.1.5:3022",
        "addr.remote": "203.0.113.7:51454"
    });
    std::fs::write(&evil, event.to_string()).unwrap();
    common::ingest(&lake, "acme", &[evil]).await;
    let lake_s = dir.path().to_str().unwrap();
    let bin = env!("CARGO_BIN_EXE_auditlake");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let select = "SELECT user, server_hostname FROM session_start \
                  WHERE uid = 'e0000001-0000-4000-8000-00000000e5c0'";
    let scope = ["--lake", lake_s, "--tenant", "acme", "--days", "100000"];
    let with = |head: &[&'static str], tail: &[&str]| -> Vec<String> {
        head.iter()
            .chain(scope.iter())
            .chain(tail.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let runv = |v: Vec<String>| run(&v.iter().map(String::as_str).collect::<Vec<_>>());

    assert_escaped("query table", &runv(with(&["query"], &[select])));
    assert_escaped("report text", &runv(with(&["report"], &[])));
    assert_escaped(
        "alerts text",
        &runv(with(&["alerts"], &["--only", "root_ssh_session"])),
    );
    let script = format!("{select};\n\\alerts root_ssh_session\n\\report\n");
    let repl = runv(with(&["sql"], &["-c", &script]));
    assert_escaped("shell", &repl);
    assert!(
        String::from_utf8_lossy(&repl)
            .matches("mallory\\u{1b}")
            .count()
            >= 3,
        "the shell's table, alert and report all show it"
    );

    // Formats for programs keep the exact value.
    let json = runv(with(&["query"], &["--format", "json", select]));
    let rows: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(rows[0]["user"], HOSTILE);
    assert_eq!(rows[0]["server_hostname"], HOSTILE);
    let csv = runv(with(&["query"], &["--format", "csv", select]));
    assert!(String::from_utf8_lossy(&csv).contains(HOSTILE));
    let alerts = runv(with(
        &["alerts"],
        &["--only", "root_ssh_session", "--format", "json"],
    ));
    let alerts: serde_json::Value = serde_json::from_slice(&alerts).unwrap();
    assert!(
        alerts
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["identity"] == HOSTILE),
        "{alerts:#}"
    );

    // Error messages quote what the user typed; saved titles are anyone's text.
    let bad = format!("SELECT CAST('{HOSTILE}' AS INT)");
    let out = std::process::Command::new(bin)
        .args(with(&["query"], &[&bad]))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_escaped("error message", &out.stderr);
    let save = |kind: &str, extra: &[&str]| {
        let mut a = vec![kind, "create", "--lake", lake_s, "--tenant", "acme"];
        a.extend_from_slice(extra);
        run(&a);
    };
    save(
        "queries",
        &["evil_q", "SELECT 1", "--title", HOSTILE, "--days", "1"],
    );
    save(
        "reports",
        &["evil_r", "--title", HOSTILE, "--query", "evil_q"],
    );
    for kind in ["queries", "reports"] {
        let ls = run(&[kind, "ls", "--lake", lake_s, "--tenant", "acme"]);
        assert_escaped(&format!("{kind} ls"), &ls);
    }
}
