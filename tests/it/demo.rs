//! The first hour: every hint `auditlake demo` prints runs as printed and exits 0 (through the
//! shell, with `cargo run -q --` standing for the built binary), and the tour visits each face.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[test]
fn every_hint_the_demo_prints_runs_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_auditlake");
    let lake = dir.path().join("lake");
    let demo = |lake: &std::path::Path, via_cargo: bool| {
        let mut c = Command::new(bin);
        c.args(["demo", "--lake", lake.to_str().unwrap()])
            .args(["--days", "4", "--events-per-day", "200"])
            .current_dir(dir.path());
        if via_cargo {
            c.env("CARGO", "cargo");
        } else {
            c.env_remove("CARGO");
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };

    let text = demo(&lake, true);
    assert!(text.contains("cargo install --path ."), "{text}");
    let hints: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("  cargo run -q -- "))
        .collect();
    for face in [
        "sql ",
        "query ",
        "report ",
        "alerts ",
        "serve ",
        "token add ",
    ] {
        assert!(
            hints.iter().any(|h| h.starts_with(face)),
            "no `{face}` hint in:\n{text}"
        );
    }
    assert!(hints.iter().any(|h| h.contains("--format html")));
    for h in &hints {
        // What a person pastes, with `cargo run -q --` being the binary it would build.
        let line = format!("exec {} {h}", quote(bin));
        let mut c = Command::new("bash");
        c.args(["-c", &line]).current_dir(dir.path());
        if h.starts_with("serve ") {
            // The server runs until stopped: it must come up, then stop cleanly on Ctrl-C.
            let mut child = c
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stdout)
                    .lines()
                    .map_while(Result::ok)
                {
                    let _ = tx.send(line);
                }
            });
            let first = rx.recv_timeout(Duration::from_secs(60));
            let up = matches!(&first, Ok(l) if l.contains("listening on"));
            let st = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(st.success());
            let out = child.wait_with_output().unwrap();
            assert!(
                up && out.status.success(),
                "{h}: {first:?} {:?} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            continue;
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "hint `{h}` failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let page = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));

    // An installed binary (no cargo around) names itself in the hints instead.
    let text = demo(&dir.path().join("lake2"), false);
    assert!(!text.contains("cargo run"), "{text}");
    assert!(text.contains(&format!("  {bin} sql --lake ")), "{text}");
}
