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
        "--tenant",
        "acme",
        "root-sessions",
        sql,
        "--title",
        "Root sessions",
    ]));
    // The query is acme's: in acme's catalog, listed for acme, labelled for the operator,
    // invisible to another tenant.
    assert!(
        dir.path()
            .join("_catalog/tenants/acme/queries/root-sessions.yaml")
            .is_file()
    );
    assert!(
        stdout(&run(&["queries", "ls", "--lake", lake, "--tenant", "acme"]))
            .contains("root-sessions\tRoot sessions")
    );
    assert!(
        stdout(&run(&["queries", "ls", "--lake", lake]))
            .contains("acme/root-sessions\tRoot sessions")
    );
    assert!(
        !stdout(&run(&[
            "queries", "ls", "--lake", lake, "--tenant", "globex"
        ]))
        .contains("root-sessions")
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
            "--tenant",
            "acme",
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
        "--tenant",
        "acme",
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
    let builtin = auditlake::analysis::report::builtin();
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
        "--tenant",
        "acme",
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
    let runs = super::schema::walk(&dir.path().join("_catalog/tenants/acme/runs"));
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
    stdout(&run(&[
        "reports", "rm", "--lake", lake, "--tenant", "acme", "mine",
    ]));
    stdout(&run(&[
        "queries",
        "rm",
        "--lake",
        lake,
        "acme/root-sessions",
    ]));
    assert!(!stdout(&run(&["queries", "ls", "--lake", lake])).contains("root-sessions"));
}

/// Hostile data in the lake reaches the page only escaped, and the page (to stdout) fetches
/// nothing: the only URL in it is the SVG namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_escapes_lake_data_and_fetches_nothing() {
    let (dir, lake) = common::fixture_lake().await;
    let evil = dir.path().join("evil.ndjson");
    std::fs::write(
        &evil,
        r#"{"event":"session.start","code":"T2000I","time":"2024-03-21T09:00:00.1Z","uid":"e0000001-0000-4000-8000-000000000001","ei":0,"cluster_name":"acme.teleport.sh","user":"<img src=x onerror=alert(1)>&co","login":"root","user_kind":1,"sid":"e1","proto":"ssh","namespace":"default","server_id":"de38","server_hostname":"ip-10-0-1-5","server_addr":"10.0.1.5:3022","addr.remote":"203.0.113.7:51454"}"#,
    )
    .unwrap();
    common::ingest(&lake, "acme", &[evil]).await;
    let dir_s = dir.path().to_str().unwrap();
    let args = |format: &'static str| {
        [
            "report", "--lake", dir_s, "--tenant", "acme", "--days", "100000", "--format", format,
        ]
    };
    let v: serde_json::Value = serde_json::from_str(&stdout(&run(&args("json")))).unwrap();
    let results = v["results"].as_array().unwrap();
    let charted = results
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
    let empty = results
        .iter()
        .filter(|r| r["rows"].as_array().unwrap().is_empty())
        .count();
    assert!(
        json_has(&v, "<img src=x onerror=alert(1)>&co"),
        "the root-session query should find the hostile user"
    );

    let html = stdout(&run(&args("html")));
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert_eq!(html.matches("<svg").count(), charted);
    assert_eq!(html.matches("</svg>").count(), charted);
    assert_eq!(html.matches("No rows").count(), empty);
    assert!(!html.contains("<img"), "unescaped data in the page");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;&amp;co"));
    // Well-formed-ish: every table and section closes.
    for tag in ["table", "section", "tr", "ul"] {
        assert_eq!(
            html.matches(&format!("<{tag}")).count(),
            html.matches(&format!("</{tag}>")).count(),
            "<{tag}> unbalanced"
        );
    }
    let urls = html.matches("http://").count() + html.matches("https://").count();
    assert_eq!(
        urls,
        html.matches(r#"xmlns="http://www.w3.org/2000/svg""#)
            .count()
    );
    assert!(!html.contains("src=\"") && !html.contains("href=") && !html.contains("<script"));
    assert!(!html.contains("url("), "no CSS fetches");
}

fn json_has(v: &serde_json::Value, s: &str) -> bool {
    match v {
        serde_json::Value::String(t) => t == s,
        serde_json::Value::Array(a) => a.iter().any(|x| json_has(x, s)),
        serde_json::Value::Object(o) => o.values().any(|x| json_has(x, s)),
        _ => false,
    }
}

/// `queries get` prints the stored YAML; `create` takes the scope flags; built-in names are
/// refused for `rm` as for `create`, with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_query_get_scope_and_builtin_rm() {
    let (dir, _lake) = common::fixture_lake().await;
    let lake = dir.path().to_str().unwrap();
    stdout(&run(&[
        "queries",
        "create",
        "--lake",
        lake,
        "--tenant",
        "acme",
        "--days",
        "7",
        "certs",
        "SELECT event_date, identity_user AS user FROM cert_create",
        "--title",
        "Certs",
        "--description",
        "All certificates",
    ]));
    let y: serde_yaml::Value = serde_yaml::from_str(&stdout(&run(&[
        "queries", "get", "--lake", lake, "--tenant", "acme", "certs",
    ])))
    .unwrap();
    assert_eq!(y["title"].as_str(), Some("Certs"));
    assert_eq!(y["description"].as_str(), Some("All certificates"));
    assert!(y["sql"].as_str().unwrap().contains("cert_create"));
    assert!(
        !run(&["queries", "get", "--lake", lake, "nope"])
            .status
            .success()
    );
    assert!(
        !run(&[
            "queries", "create", "--lake", lake, "Bad Name", "SELECT 1", "--title", "x"
        ])
        .status
        .success()
    );

    let name = &auditlake::analysis::report::builtin().queries[0].name;
    let rm = run(&["queries", "rm", "--lake", lake, name]);
    assert!(!rm.status.success());
    assert!(
        String::from_utf8_lossy(&rm.stderr).contains("built in"),
        "{}",
        String::from_utf8_lossy(&rm.stderr)
    );
    // Another tenant cannot read it, even by a qualified name.
    assert!(
        !run(&[
            "queries", "get", "--lake", lake, "--tenant", "globex", "certs"
        ])
        .status
        .success()
    );
    assert!(
        !run(&[
            "queries",
            "get",
            "--lake",
            lake,
            "--tenant",
            "globex",
            "acme/certs"
        ])
        .status
        .success()
    );
    stdout(&run(&[
        "queries", "rm", "--lake", lake, "--tenant", "acme", "certs",
    ]));
    assert_eq!(stdout(&run(&["queries", "ls", "--lake", lake])), "");
    assert!(
        !dir.path()
            .join("_catalog/tenants/acme/queries/certs.yaml")
            .exists()
    );
}

/// The HTML report opened in a real browser (Debian's headless Chromium, which
/// `scripts/test.sh` installs): the parsed DOM holds one chart per dated query, the browser logs
/// no console message, and the screenshot shows the charts' colours. The screenshot is kept as
/// an artifact in `$CARGO_TARGET_DIR/test-artifacts/report.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_report_renders_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake = lake.to_str().unwrap();
    let demo = run(&[
        "demo",
        "--lake",
        lake,
        "--days",
        "14",
        "--events-per-day",
        "600",
    ]);
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let page = dir.path().join("report.html");
    let out = run(&[
        "report",
        "--lake",
        lake,
        "--format",
        "html",
        "--out",
        page.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    let charts = html.matches("<svg").count();
    assert!(charts >= 3, "the demo month should chart several queries");

    let artifacts = std::path::PathBuf::from(
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()),
    )
    .join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let profile = dir.path().join("chromium-profile");
    let chromium = |extra: &[&str]| {
        let out = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--enable-logging=stderr",
                "--v=0",
                "--window-size=1280,2400",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("chromium (scripts/test.sh installs Debian's chromium)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let dom = chromium(&["--dump-dom"]);
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(
        dom_text.matches("<svg").count(),
        charts,
        "charts in the parsed DOM"
    );
    assert_eq!(dom_text.matches("<section id=").count(), 9);
    // Each section with rows leads with its per-user totals (largest first), draws its top
    // users in distinct colours, and keeps the full table folded (a closed <details>).
    let totals = dom_text.matches(r#"<table class="totals">"#).count();
    assert!(
        totals >= charts,
        "{totals} totals tables for {charts} charts"
    );
    assert_eq!(
        dom_text.matches("<details>").count(),
        9 - dom_text.matches("No rows").count(),
        "every section with rows folds its table"
    );
    assert!(!dom_text.contains("<details open"));
    let legend = regex::Regex::new(r#"<ul class="legend">(.*?)</ul>"#).unwrap();
    let swatch = regex::Regex::new(r"background:\s*(#[0-9A-Fa-f]{6}|rgb\([^)]*\))").unwrap();
    let mut legends = 0;
    for l in legend.captures_iter(&dom_text) {
        legends += 1;
        let items: Vec<&str> = l[1].split("<li>").skip(1).collect();
        let colours: Vec<String> = items
            .iter()
            .filter(|i| !i.contains(">others<"))
            .filter_map(|i| swatch.captures(i).map(|c| c[1].to_lowercase()))
            .collect();
        let distinct: std::collections::BTreeSet<&String> = colours.iter().collect();
        assert_eq!(
            distinct.len(),
            colours.len(),
            "repeated colours: {colours:?}"
        );
        assert!(colours.len() <= auditlake::analysis::html::TOP_USERS);
    }
    assert_eq!(legends, charts);
    let total = regex::Regex::new(r#"<td class="total">([0-9.]+)</td>"#).unwrap();
    for t in regex::Regex::new(r#"<table class="totals">(.*?)</table>"#)
        .unwrap()
        .captures_iter(&dom_text)
    {
        let top: Vec<f64> = t[1]
            .split("<tr")
            .filter(|r| !r.contains(r#"class="others""#))
            .filter_map(|r| total.captures(r).map(|c| c[1].parse().unwrap()))
            .collect();
        assert!(top.windows(2).all(|w| w[0] >= w[1]), "not sorted: {top:?}");
    }
    let shot_run = chromium(&[&format!("--screenshot={}", shot.display())]);
    for log in [&dom.stderr, &shot_run.stderr] {
        let log = String::from_utf8_lossy(log);
        let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
        assert!(console.is_empty(), "console messages: {console:?}");
    }
    // The first chart's bars are painted: the palette's first colours appear in the pixels.
    let counts = common::run_python(
        r#"
import sys
from PIL import Image
img = Image.open(sys.argv[1]).convert("RGB")
pixels = list(img.getdata())
want = [(0x00, 0x72, 0xB2), (0xE6, 0x9F, 0x00), (0x00, 0x9E, 0x73)]
print(img.size[0], img.size[1], *[sum(1 for p in pixels if p == c) for c in want])
"#,
        &[&shot],
    );
    let nums: Vec<u64> = counts
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(&nums[..2], &[1280, 2400], "screenshot size");
    assert!(
        nums[2..].iter().all(|&n| n > 50),
        "bar colours missing from the screenshot: {counts}"
    );
    eprintln!("screenshot kept at {}", shot.display());
}
