//! Statements run byte for byte as typed through every entry point (`query`, `query -f`,
//! `sql -c`, a piped script, `\i`): a doubled quote stays a quote inside the literal, so an
//! escaped-quote value is never turned into a tautology and `'O''Brien'` reads as O'Brien.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_auditlake"))
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaped_quotes_survive_every_entry_point() {
    let (dir, _lake) = common::fixture_lake().await;
    let lake = dir.path().to_str().unwrap();
    // The first statement would count every event of the tenant if the splitter re-printed
    // the literal without its doubled quotes (`'x' OR '1'='1'`).
    let script = "SELECT count(*) AS n FROM events WHERE identity = 'x'' OR ''1''=''1';\nSELECT 'O''Brien' AS who;";
    let want = |text: &str| {
        assert!(text.contains("O'Brien"), "{text}");
        assert!(!text.contains("O''Brien"), "{text}");
        let n: Vec<&str> = text.lines().filter(|l| l.trim() == "0").collect();
        assert_eq!(n.len(), 1, "the tautology matched rows:\n{text}");
    };
    let total = ok(bin()
        .args([
            "query",
            "--lake",
            lake,
            "--tenant",
            "acme",
            "--format",
            "csv",
            "SELECT count(*) FROM events",
        ])
        .output()
        .unwrap());
    assert_ne!(
        total.lines().nth(1),
        Some("0"),
        "fixture has events: {total}"
    );

    want(&ok(bin()
        .args([
            "query", "--lake", lake, "--tenant", "acme", "--format", "csv", script,
        ])
        .output()
        .unwrap()));
    let f = dir.path().join("script.sql");
    std::fs::write(&f, script).unwrap();
    want(&ok(bin()
        .args([
            "query", "--lake", lake, "--tenant", "acme", "--format", "csv", "-f",
        ])
        .arg(&f)
        .output()
        .unwrap()));
    want(&ok(bin()
        .args([
            "sql", "--lake", lake, "--tenant", "acme", "--format", "csv", "-c", script,
        ])
        .output()
        .unwrap()));
    let mut child = bin()
        .args(["sql", "--lake", lake, "--tenant", "acme", "--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    want(&ok(child.wait_with_output().unwrap()));
    let include = format!("\\i {}", f.display());
    want(&ok(bin()
        .args([
            "sql", "--lake", lake, "--tenant", "acme", "--format", "csv", "-c", &include,
        ])
        .output()
        .unwrap()));
}
