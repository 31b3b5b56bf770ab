//! The shell driven like a person would: the real binary in tmux, keys sent, the screen read.
//! Plus the non-interactive forms (`sql -c`, piped scripts) and their exit codes.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common;

struct Tmux {
    name: String,
}

impl Tmux {
    fn start(cmd: &str, env: &[(&str, String)]) -> Tmux {
        let name = format!("auditlake-it-{}", common::free_port());
        // A tmux server (socket) per session: a restart in the same test must not race the
        // previous server's exit ("server exited unexpectedly").
        let mut c = Command::new("tmux");
        c.args([
            "-L",
            &name,
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            "160",
            "-y",
            "50",
        ]);
        for (k, v) in env {
            c.args(["-e", &format!("{k}={v}")]);
        }
        c.arg(cmd);
        assert!(c.status().expect("tmux installed").success());
        Tmux { name }
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.name]);
        c
    }

    fn keys(&self, keys: &[&str]) {
        let mut c = self.tmux();
        c.args(["send-keys", "-t", &self.name]);
        c.args(keys);
        assert!(c.status().unwrap().success());
    }

    fn text(&self, s: &str) {
        // tmux reads an argument's trailing `;` as a command separator; `\;` is a literal one.
        let arg = match s.strip_suffix(';') {
            Some(head) => format!("{head}\\;"),
            None => s.to_string(),
        };
        let st = self
            .tmux()
            .args(["send-keys", "-t", &self.name, "-l", &arg])
            .status()
            .unwrap();
        assert!(st.success());
    }

    fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-S", "-200", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits (bounded) until the screen satisfies `pred`.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn prompts(&self) -> usize {
        self.screen().matches("auditlake[acme]>").count()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().args(["kill-server"]).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_shell_in_tmux() {
    let (dir, _lake) = common::fixture_lake().await;
    let bin = env!("CARGO_BIN_EXE_auditlake");
    let hist = dir.path().join("history");
    let cmd = format!("{bin} sql --lake {} --tenant acme", dir.path().display());
    let env = [
        ("AUDITLAKE_HISTORY", hist.display().to_string()),
        ("PAGER", "cat".to_string()),
    ];
    let t = Tmux::start(&cmd, &env);
    t.wait_for("the prompt", |s| s.contains("auditlake[acme]>"));

    // Before any FROM is typed, Tab completes a column of every view.
    t.text("SELECT identity_user, identity_cli");
    t.keys(&["Tab"]);
    t.wait_for("column completion without FROM", |s| {
        s.contains("auditlake[acme]> SELECT identity_user, identity_client_ip")
    });
    // A multi-line query: the first line alone does not run, and the shell says it waits for
    // more under a continuation prompt.
    t.keys(&["Enter"]);
    t.wait_for("the continuation prompt", |s| {
        s.contains("auditlake[acme]->")
    });
    t.text("FROM cert_create WHERE identity_user = 'bob' ORDER BY 2;");
    t.keys(&["Enter"]);
    let s = t.wait_for("bob's rows", |s| s.contains("(2 rows)"));
    assert!(s.contains("192.0.2.10"), "{s}");

    // Tab completes a view name, then a column of the view named in the statement.
    t.text("SELECT count(*) FROM cert_cr");
    t.keys(&["Tab"]);
    t.wait_for("view completion", |s| s.contains("FROM cert_create"));
    t.text(" WHERE identity_cli");
    t.keys(&["Tab"]);
    t.wait_for("column completion", |s| {
        s.contains("WHERE identity_client_ip")
    });
    t.text(" IS NOT NULL;");
    t.keys(&["Enter"]);
    t.wait_for("the count", |s| s.contains("(1 row)"));

    // \d NAME lists columns through the catalog.
    let before = t.prompts();
    t.text("\\d cert_create");
    t.keys(&["Enter"]);
    let s = t.wait_for("\\d output", |s| {
        s.matches("auditlake[acme]>").count() > before && s.contains("identity_expires")
    });
    assert!(s.contains("identity_client_ip"), "{s}");

    // Ctrl-C cancels a long query and keeps the shell.
    t.text("SELECT count(*) FROM generate_series(1, 100000000000) a;");
    t.keys(&["Enter"]);
    std::thread::sleep(Duration::from_millis(1500));
    t.keys(&["C-c"]);
    t.wait_for("cancellation", |s| s.contains("query cancelled"));
    // Ctrl-C in a half-typed statement drops it: the next line starts afresh.
    t.text("SELECT 1 +");
    t.keys(&["Enter"]);
    t.wait_for("a second continuation prompt", |s| {
        s.matches("auditlake[acme]->").count() >= 2
    });
    // Ctrl-C also drops whatever was typed after it before the shell read it (as a
    // terminal's interrupt flushes its input), so the next statement waits for the prompt.
    let before = t.prompts();
    t.keys(&["C-c"]);
    t.wait_for("a fresh prompt after Ctrl-C", |s| {
        s.matches("auditlake[acme]>").count() > before
    });
    t.text("SELECT 40 + 2 AS answer;");
    t.keys(&["Enter"]);
    t.wait_for("the shell to answer after Ctrl-C", |s| {
        s.lines().any(|l| l.trim() == "42")
    });
    // Lines typed ahead (or pasted without bracketed paste) arrive in one read: every one
    // runs, none is dropped with the line editor's read buffer.
    t.text("SELECT 'first' AS ahead;\rSELECT 'second' AS ahead;\r");
    let s = t.wait_for("both typed-ahead statements", |s| {
        s.lines().any(|l| l.trim() == "second")
    });
    assert!(s.lines().any(|l| l.trim() == "first"), "{s}");
    t.keys(&["C-d"]);
    drop(t);

    // History survives a restart: Up recalls the last statement.
    let t = Tmux::start(&cmd, &env);
    t.wait_for("the prompt", |s| s.contains("auditlake[acme]>"));
    t.keys(&["Up"]);
    t.wait_for("history recall", |s| {
        s.contains("auditlake[acme]> SELECT 'second' AS ahead;")
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_run_without_prompts_and_stop_at_the_first_error() {
    let (dir, _lake) = common::fixture_lake().await;
    let bin = env!("CARGO_BIN_EXE_auditlake");
    let lake = dir.path().display().to_string();
    let ok = Command::new(bin)
        .args([
            "sql",
            "--lake",
            &lake,
            "--tenant",
            "acme",
            "--format",
            "csv",
            "-c",
            "\\format tctl\nSELECT user FROM exec WHERE proto = 'kube' ORDER BY user;",
        ])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{"data": ["user"]}, {"data": ["bob"]}, {"data": ["carol"]}])
    );

    let mut child = Command::new(bin)
        .args([
            "sql", "--lake", &lake, "--tenant", "acme", "--format", "csv",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT 1 AS one;\nSELECT * FROM sesion_start;\nSELECT 2 AS two;\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("one") && !stdout.contains("two"),
        "{stdout}"
    );
    assert!(stderr.contains("did you mean 'session_start'"), "{stderr}");
}
