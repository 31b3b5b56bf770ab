//! View acceleration: a view read from its typed sidecar answers exactly as the view over
//! `event_data`, is never stale when its partition changes, stays inside the session's tenant,
//! falls back when it cannot be written, and two processes building it at once agree.

use std::path::{Path, PathBuf};

use auditlake::lake::Lake;
use auditlake::query::engine::{Engine, EngineOptions};

use crate::common;

async fn engine(lake: &Lake, tenant: Option<&str>, accel: bool) -> Engine {
    let mut o = EngineOptions::new(lake.clone());
    o.tenant = tenant.map(str::to_string);
    o.view_accel = accel;
    Engine::new(o).await.expect("engine")
}

/// Sorted rows (order-free comparison of whole answers).
async fn sorted(engine: &Engine, sql: &str) -> Vec<Vec<String>> {
    let mut r = common::rows(engine, sql).await;
    r.sort();
    r
}

/// The built-in report's nine queries answer alike on both engines.
async fn report_answers_equal(fast: &Engine, plain: &Engine) {
    for q in auditlake::analysis::report::builtin().queries {
        assert_eq!(
            sorted(fast, &q.sql).await,
            sorted(plain, &q.sql).await,
            "{}",
            q.name
        );
    }
}

/// Demo Teleport events for `days` days from `start`, written to `dir/name`.
fn demo(dir: &Path, name: &str, seed: &str, start: &str, days: &str, per_day: &str) -> PathBuf {
    let events = dir.join(name);
    common::run_ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_auditlake"))
            .args(["demo", "--teleport-only", "--seed", seed, "--start", start])
            .args(["--days", days, "--events-per-day", per_day, "--out"])
            .arg(&events),
    );
    events
}

/// A lake at `dir/lake` holding demo days from 2024-05-01 for tenant `acme`.
async fn demo_lake(dir: &Path, seed: &str, days: &str, per_day: &str) -> (PathBuf, Lake) {
    let events = demo(dir, "d.ndjson", seed, "2024-05-01", days, per_day);
    let root = dir.join("lake");
    let lake = Lake::open(root.to_str().unwrap()).unwrap();
    common::ingest(&lake, "acme", &[events]).await;
    (root, lake)
}

/// `auditlake CMD --lake ROOT --tenant acme`, view acceleration on.
fn cli(cmd: &str, root: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_auditlake"));
    c.arg(cmd)
        .arg("--lake")
        .arg(root)
        .args(["--tenant", "acme"]);
    c.env("AUDITLAKE_VIEW_ACCEL", "1");
    c
}

/// Every sidecar file under `accel/` of a local lake, as paths relative to the lake root.
fn sidecars(root: &Path) -> Vec<String> {
    fn walk(d: &Path, root: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(&root.join("accel"), root, &mut out);
    out.sort();
    out
}

/// Every view, every column, every row; and the nine report queries: equal from the sidecars
/// (built by the first read, then read from them) and from `event_data`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_answers_the_same_from_its_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let (root, lake) = demo_lake(dir.path(), "11", "3", "3000").await;
    let plain = engine(&lake, Some("acme"), false).await;
    let fast = engine(&lake, Some("acme"), true).await;
    let mut nonempty = 0;
    for v in plain.view_names() {
        let sql = format!("SELECT * FROM {v}");
        let want = sorted(&plain, &sql).await;
        assert!(
            sidecars(&root)
                .iter()
                .all(|p| !p.contains(&format!("/{v}/")))
        );
        let got = sorted(&fast, &sql).await;
        assert_eq!(got, want, "view {v} differs from its sidecar");
        // Read again: now from the sidecars the first read wrote.
        assert_eq!(sorted(&fast, &sql).await, want, "view {v}, second read");
        if !want.is_empty() {
            nonempty += 1;
            let built = sidecars(&root)
                .into_iter()
                .filter(|p| p.contains(&format!("/{v}/")))
                .count();
            assert_eq!(built, 3, "view {v}: one sidecar per partition");
        }
    }
    assert!(nonempty >= 10, "the demo week fills {nonempty} views");
    report_answers_equal(&fast, &plain).await;
    // The plan says where the rows come from.
    let text = common::plan_text(
        &fast
            .plan("SELECT count(*) FROM session_start")
            .await
            .unwrap(),
    );
    assert!(
        text.contains("/accel/") || text.contains("accel/acme"),
        "{text}"
    );
    assert!(!text.contains("event_data"), "{text}");
}

/// New files in a partition (another ingest), then a compaction of it: each read equals the
/// view over `event_data` of the files as they are then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_partition_is_rebuilt_never_read_stale() {
    let dir = tempfile::tempdir().unwrap();
    let first = demo(dir.path(), "a.ndjson", "3", "2024-05-01", "1", "2000");
    let second = demo(dir.path(), "b.ndjson", "4", "2024-05-01", "1", "2000");
    let root = dir.path().join("lake");
    let lake = Lake::open(root.to_str().unwrap()).unwrap();
    let sql = "SELECT user, count(*) AS n FROM session_start GROUP BY user";
    let check = |what: &'static str| {
        let lake = lake.clone();
        async move {
            let fast = engine(&lake, Some("acme"), true).await;
            let plain = engine(&lake, Some("acme"), false).await;
            let want = sorted(&plain, sql).await;
            assert!(!want.is_empty());
            assert_eq!(sorted(&fast, sql).await, want, "{what}");
            want
        }
    };
    common::ingest(&lake, "acme", &[first]).await;
    let before = check("after the first ingest").await;
    let after_one = sidecars(&root).len();
    common::ingest(&lake, "acme", &[second]).await;
    let after = check("after a second file").await;
    assert_ne!(before, after, "the second file adds sessions");
    assert_eq!(
        sidecars(&root).len(),
        after_one + 1,
        "a new sidecar for the new file set (the old one is kept for readers that listed before)"
    );
    let date = chrono::NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
    auditlake::lake::compact::compact_partition(&lake, "acme", date, 2)
        .await
        .unwrap();
    assert_eq!(check("after compaction").await, after);
}

/// A tenant's session reads and writes sidecars under its own partitions only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecars_stay_inside_the_sessions_tenant() {
    let (dir, lake) = common::fixture_lake().await;
    let sql = "SELECT tenant_id, user, count(*) FROM session_start GROUP BY 1, 2";
    let acme = engine(&lake, Some("acme"), true).await;
    let want = sorted(&engine(&lake, Some("acme"), false).await, sql).await;
    assert!(!want.is_empty());
    assert_eq!(sorted(&acme, sql).await, want);
    let files = sidecars(dir.path());
    assert!(!files.is_empty());
    assert!(
        files.iter().all(|f| f.starts_with("accel/acme/")),
        "{files:?}"
    );
    assert!(want.iter().all(|r| r[0] == "acme"));
    // globex's own answer, from its own sidecars.
    let globex = engine(&lake, Some("globex"), true).await;
    let want = sorted(&engine(&lake, Some("globex"), false).await, sql).await;
    assert_eq!(sorted(&globex, sql).await, want);
    assert!(want.iter().all(|r| r[0] == "globex"));
    assert!(
        sidecars(dir.path())
            .iter()
            .any(|f| f.starts_with("accel/globex/"))
    );
}

/// A lake where no sidecar can be written (`accel` is a file): the views still answer, from
/// `event_data`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_sidecar_falls_back_to_the_view() {
    let (dir, lake) = common::fixture_lake().await;
    std::fs::write(dir.path().join("accel"), b"not a directory").unwrap();
    let sql = "SELECT user, count(*) FROM session_start GROUP BY 1";
    let want = sorted(&engine(&lake, Some("acme"), false).await, sql).await;
    assert!(!want.is_empty());
    let fast = engine(&lake, Some("acme"), true).await;
    assert_eq!(sorted(&fast, sql).await, want);
    assert_eq!(
        sorted(&fast, sql).await,
        want,
        "again, once known unwritable"
    );
}

/// Two processes reading a view for the first time at once both build its sidecars; both
/// answers are right, each build's files have names of their own, and a later reader builds
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_building_at_once_agree() {
    let dir = tempfile::tempdir().unwrap();
    let (root, lake) = demo_lake(dir.path(), "5", "4", "3000").await;
    let sql =
        "SELECT event_date, user, count(*) AS n FROM session_start GROUP BY 1, 2 ORDER BY 1, 2";
    let query = || {
        cli("query", &root)
            .args(["--format", "csv", sql])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (query(), query());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for o in [&a, &b] {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let plain = engine(&lake, Some("acme"), false).await;
    let want = common::rows(&plain, sql).await;
    let lines: Vec<String> = want.iter().map(|r| r.join(",")).collect();
    for o in [&a, &b] {
        let text = String::from_utf8_lossy(&o.stdout);
        let got: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(got, lines);
    }
    // Each build writes a name of its own: one or two files a partition (both builds may
    // finish), never a file replaced under a reader.
    let built = sidecars(&root);
    for day in 1..=4 {
        let n = built
            .iter()
            .filter(|f| f.contains(&format!("/2024-05-0{day}/")))
            .count();
        assert!((1..=2).contains(&n), "day {day}: {built:?}");
    }
    // A third reader picks one of them, builds nothing, and answers the same.
    let again = common::run_ok(cli("query", &root).args(["--format", "csv", sql]));
    let text = String::from_utf8_lossy(&again.stdout);
    assert_eq!(text.lines().skip(1).collect::<Vec<_>>(), lines);
    assert_eq!(sidecars(&root), built);
}

/// A hostile record whose field a view casts (`ei` is `BIGINT` in the view) fails the cast. A
/// query not reading `ei` builds sidecars of its own columns for every partition and answers
/// as the plain view; one reading `ei` marks that partition's column set unbuildable, reads it
/// from `event_data` and fails as the plain view does (never a silent NULL); the other
/// partitions are read from their sidecars.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_a_view_cannot_convert_is_read_from_event_data() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("e.ndjson");
    let mut lines = Vec::new();
    for day in 20..23 {
        for i in 0..50 {
            let ei = if day == 21 && i == 7 {
                "\"not-a-number\"".to_string()
            } else {
                i.to_string()
            };
            lines.push(format!(
                r#"{{"event":"session.start","code":"T2000I","time":"2024-03-{day}T10:00:{:02}Z","uid":"u{day}-{i}","ei":{ei},"user":"user{}","login":"root","proto":"ssh"}}"#,
                i % 60,
                i % 5
            ));
        }
    }
    std::fs::write(&f, lines.join("\n")).unwrap();
    let root = dir.path().join("lake");
    let lake = Lake::open(root.to_str().unwrap()).unwrap();
    common::ingest(&lake, "acme", &[f]).await;
    let plain = engine(&lake, Some("acme"), false).await;
    let fast = engine(&lake, Some("acme"), true).await;
    let sql = "SELECT event_date, user, count(*) FROM session_start GROUP BY 1, 2";
    let want = sorted(&plain, sql).await;
    assert_eq!(want.len(), 15);
    assert_eq!(sorted(&fast, sql).await, want);
    let files = sidecars(&root);
    assert_eq!(
        files.len(),
        3,
        "a sidecar of the query's columns a day: {files:?}"
    );
    assert!(files.iter().all(|f| f.ends_with(".parquet")), "{files:?}");
    // The column that cannot be converted fails on both, never a silent NULL.
    let bad = "SELECT sum(ei) FROM session_start";
    let e_plain = plain.execute(bad).await.expect_err("the plain view fails");
    let e_fast = fast
        .execute(bad)
        .await
        .expect_err("the sidecar path fails too");
    assert!(
        e_fast.to_string().contains("not-a-number") || e_fast.to_string() == e_plain.to_string(),
        "{e_fast} / {e_plain}"
    );
    let files = sidecars(&root);
    let marked: Vec<_> = files
        .iter()
        .filter(|f| f.ends_with(".unbuildable"))
        .collect();
    assert_eq!(marked.len(), 1, "{files:?}");
    assert!(marked[0].contains("/2024-03-21/"), "{marked:?}");
    assert_eq!(
        files.iter().filter(|f| f.ends_with(".parquet")).count(),
        5,
        "the good days got sidecars with `ei`: {files:?}"
    );
    // Again: the marker is honoured (no rebuild), the failure the same.
    assert!(fast.execute(bad).await.is_err());
    assert_eq!(sidecars(&root), files);
    // The good days alone are answered from their sidecars, and the first query still is.
    let good = "SELECT sum(ei) FROM session_start WHERE event_date <> DATE '2024-03-21'";
    assert_eq!(sorted(&fast, good).await, sorted(&plain, good).await);
    assert_eq!(sorted(&fast, sql).await, want);
    assert_eq!(sidecars(&root), files);
    // The whole view fails on that day too (marked), and a third column set is still built
    // there; past that, new column sets of that day are read from `event_data`: a stream of
    // queries cannot pile up files beside a partition the view cannot convert.
    assert!(fast.execute("SELECT * FROM session_start").await.is_err());
    let day21 = |files: &[String]| {
        files
            .iter()
            .filter(|f| f.contains("/2024-03-21/"))
            .cloned()
            .collect::<Vec<_>>()
    };
    let before = day21(&sidecars(&root));
    assert_eq!(before.len(), 2, "its column sidecar and marker: {before:?}");
    // login: a third column set. proto: the whole view is tried (and marked), then proto
    // alone built. code, sid: nothing more is written for that day.
    for (col, new) in [("login", 1), ("proto", 3), ("code", 3), ("sid", 3)] {
        let q = format!("SELECT {col}, count(*) FROM session_start GROUP BY 1");
        assert_eq!(sorted(&fast, &q).await, sorted(&plain, &q).await, "{q}");
        let now = day21(&sidecars(&root));
        assert_eq!(now.len(), before.len() + new, "{col}: {now:?}");
    }
}

/// `ingest --build-views` leaves every non-empty view's sidecars in place, and they answer as
/// the views over `event_data` do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_can_build_the_sidecars_of_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let events = demo(dir.path(), "d.ndjson", "8", "2024-05-01", "2", "2000");
    let root = dir.path().join("lake");
    let out = common::run_ok(cli("ingest", &root).arg("--build-views").arg(&events));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("view sidecars (every column): 35 views over 2 partitions"),
        "{text}"
    );
    let before = sidecars(&root);
    for v in ["session_start", "cert_create", "user_login"] {
        assert_eq!(
            before
                .iter()
                .filter(|p| p.contains(&format!("/{v}/")))
                .count(),
            2,
            "{v}: {before:?}"
        );
    }
    let lake = Lake::open(root.to_str().unwrap()).unwrap();
    let sql = "SELECT user, count(*) FROM session_start GROUP BY 1";
    let fast = engine(&lake, Some("acme"), true).await;
    assert_eq!(
        sorted(&fast, sql).await,
        sorted(&engine(&lake, Some("acme"), false).await, sql).await
    );
    assert_eq!(sidecars(&root), before, "read, not rebuilt");
}

/// The query timeout covers a sidecar build (it happens while the view's scan is planned): a
/// query out of time stops building, leaves no sidecar, and says it timed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_stops_a_sidecar_build() {
    let dir = tempfile::tempdir().unwrap();
    let (root, lake) = demo_lake(dir.path(), "9", "3", "3000").await;
    let mut o = EngineOptions::new(lake.clone());
    o.tenant = Some("acme".into());
    o.view_accel = true;
    o.limits.timeout = std::time::Duration::from_millis(1);
    let hurried = Engine::new(o).await.unwrap();
    let started = std::time::Instant::now();
    let err = hurried
        .execute("SELECT user, count(*) FROM session_start GROUP BY 1")
        .await
        .expect_err("out of time");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(sidecars(&root).is_empty(), "{:?}", sidecars(&root));
    // With time, the same query builds and answers.
    let fast = engine(&lake, Some("acme"), true).await;
    assert!(
        !common::rows(&fast, "SELECT count(*) FROM session_start")
            .await
            .is_empty()
    );
    assert!(!sidecars(&root).is_empty());
}

/// The bytes-scanned cutoff holds on the new path: before the sidecars exist (the build reads
/// `data/` through the same cutoff) and after (the sidecar scan counts its bytes too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bytes_cutoff_holds_with_sidecars() {
    let dir = tempfile::tempdir().unwrap();
    let (root, lake) = demo_lake(dir.path(), "10", "2", "3000").await;
    let limited = || async {
        let mut o = EngineOptions::new(lake.clone());
        o.tenant = Some("acme".into());
        o.view_accel = true;
        o.limits.max_bytes_scanned = 100;
        Engine::new(o).await.unwrap()
    };
    let sql = "SELECT user, count(*) FROM session_start GROUP BY 1";
    let err = limited()
        .await
        .execute(sql)
        .await
        .expect_err("over the cutoff");
    assert!(err.to_string().contains("bytes scanned"), "{err}");
    // Build them without a cutoff, then read them with one.
    let fast = engine(&lake, Some("acme"), true).await;
    assert!(!common::rows(&fast, sql).await.is_empty());
    assert!(!sidecars(&root).is_empty());
    let err = limited()
        .await
        .execute(sql)
        .await
        .expect_err("over the cutoff");
    assert!(err.to_string().contains("bytes scanned"), "{err}");
}

/// A session limited to some days (`--days`, `since`/`until`) builds and reads the sidecars
/// of those days only, and answers as the plain view under the same limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_date_scoped_session_touches_only_its_days() {
    let dir = tempfile::tempdir().unwrap();
    let (root, lake) = demo_lake(dir.path(), "12", "4", "2000").await;
    let scoped = |accel: bool| {
        let lake = lake.clone();
        async move {
            let mut o = EngineOptions::new(lake);
            o.tenant = Some("acme".into());
            o.since = chrono::NaiveDate::from_ymd_opt(2024, 5, 2);
            o.until = chrono::NaiveDate::from_ymd_opt(2024, 5, 3);
            o.view_accel = accel;
            Engine::new(o).await.unwrap()
        }
    };
    let sql = "SELECT event_date, count(*) FROM session_start GROUP BY 1";
    let want = sorted(&scoped(false).await, sql).await;
    assert_eq!(want.len(), 2, "{want:?}");
    assert_eq!(sorted(&scoped(true).await, sql).await, want);
    let files = sidecars(&root);
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files
            .iter()
            .all(|f| f.contains("/2024-05-02/") || f.contains("/2024-05-03/")),
        "{files:?}"
    );
    // A query's own predicate on the view's event_date prunes the same way (one more day
    // built, from the sidecar path: the plain view builds nothing).
    let sql =
        "SELECT user, count(*) FROM session_start WHERE event_date = DATE '2024-05-04' GROUP BY 1";
    let want = sorted(&engine(&lake, Some("acme"), false).await, sql).await;
    assert!(!want.is_empty());
    assert_eq!(
        sorted(&engine(&lake, Some("acme"), true).await, sql).await,
        want
    );
    let files = sidecars(&root);
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(
        files.iter().any(|f| f.contains("/2024-05-04/")),
        "{files:?}"
    );
}

/// A query builds a sidecar of the columns it reads; a query of fewer columns reads that one;
/// after three column sets the whole view is built, and every later query reads it. Every
/// answer equals the plain view's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn column_sidecars_are_reused_then_the_whole_view_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let (root, lake) = demo_lake(dir.path(), "7", "2", "2000").await;
    let plain = engine(&lake, Some("acme"), false).await;
    let fast = engine(&lake, Some("acme"), true).await;
    let steps: [(&str, usize); 7] = [
        (
            "SELECT user, login, count(*) FROM session_start GROUP BY 1, 2",
            2,
        ),
        // Covered by the first sidecar: nothing new.
        ("SELECT user, count(*) FROM session_start GROUP BY 1", 2),
        ("SELECT count(*) FROM session_start", 2),
        ("SELECT proto, count(*) FROM session_start GROUP BY 1", 4),
        (
            "SELECT server_id, count(*) FROM session_start GROUP BY 1",
            6,
        ),
        // A fourth column set: the whole view, two more files.
        (
            "SELECT addr_remote, count(*) FROM session_start GROUP BY 1",
            8,
        ),
        (
            "SELECT sid, event_time, kubernetes_groups FROM session_start",
            8,
        ),
    ];
    for (sql, files) in steps {
        let want = sorted(&plain, sql).await;
        assert!(!want.is_empty(), "{sql}");
        assert_eq!(sorted(&fast, sql).await, want, "{sql}");
        let built = sidecars(&root);
        assert_eq!(built.len(), files, "{sql}: {built:?}");
    }
    // The whole view's files are the ones without a column suffix, one a day. Once they
    // exist every query reads them, also one a column sidecar covers: the column sidecars are
    // superseded (deleted once the whole view is older than any query), so a reader must not
    // pick one that a later listing may delete.
    let whole: Vec<String> = sidecars(&root)
        .into_iter()
        .filter(|f| !f.contains(".c"))
        .collect();
    assert_eq!(whole.len(), 2, "{whole:?}");
    for sql in [
        "SELECT user, sid FROM session_start WHERE with_mfa IS NULL",
        "SELECT user, login, count(*) FROM session_start GROUP BY 1, 2",
    ] {
        let text = common::plan_text(&fast.plan(sql).await.unwrap());
        for w in &whole {
            let name = w.rsplit('/').next().unwrap();
            assert!(text.contains(name), "{name} not read: {text}");
        }
        for p in sidecars(&root).iter().filter(|f| f.contains(".c")) {
            let name = p.rsplit('/').next().unwrap();
            assert!(!text.contains(name), "a column sidecar read: {text}");
        }
    }
}

/// `ingest` (by default) builds, for exactly the days it wrote, one sidecar per view of the
/// columns the built-in report and the tenant's saved queries read: those queries then read
/// them and build nothing, and answer as the views over `event_data`; days it did not write
/// (between two it did) get nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_prepares_the_columns_reports_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    let middle = demo(dir.path(), "m.ndjson", "8", "2024-05-01", "3", "1500");
    let out = common::run_ok(cli("ingest", &root).args(["--views", "none"]).arg(&middle));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("view sidecars"));
    assert!(sidecars(&root).is_empty());
    let saved = "SELECT server_hostname, count(*) FROM session_start GROUP BY 1";
    common::run_ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_auditlake"))
            .args([
                "queries", "create", "hosts", saved, "--title", "Hosts", "--lake",
            ])
            .arg(&root)
            .args(["--tenant", "acme"]),
    );
    let before = demo(dir.path(), "a.ndjson", "9", "2024-04-30", "1", "1500");
    let after = demo(dir.path(), "b.ndjson", "10", "2024-05-04", "1", "1500");
    let out = common::run_ok(cli("ingest", &root).arg(&before).arg(&after));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("view sidecars (the columns reports read): 6 views over 2 partitions"),
        "{text}"
    );
    let built = sidecars(&root);
    assert!(
        built
            .iter()
            .all(|f| f.contains("/2024-04-30/") || f.contains("/2024-05-04/")),
        "only the days written: {built:?}"
    );
    // One column sidecar per (view, day), of the six views the report reads.
    assert_eq!(built.len(), 12, "{built:?}");
    assert!(built.iter().all(|f| f.contains(".c")), "{built:?}");
    let lake = Lake::open(root.to_str().unwrap()).unwrap();
    let scoped = |accel| {
        let lake = lake.clone();
        async move {
            let mut o = EngineOptions::new(lake);
            o.tenant = Some("acme".into());
            o.view_accel = accel;
            o.since = chrono::NaiveDate::from_ymd_opt(2024, 5, 4);
            Engine::new(o).await.unwrap()
        }
    };
    let (fast, plain) = (scoped(true).await, scoped(false).await);
    let mut sqls: Vec<String> = auditlake::analysis::report::builtin()
        .queries
        .into_iter()
        .map(|q| q.sql)
        .collect();
    sqls.push(saved.to_string());
    let mut nonempty = 0;
    for sql in &sqls {
        let want = sorted(&plain, sql).await;
        nonempty += usize::from(!want.is_empty());
        assert_eq!(sorted(&fast, sql).await, want, "{sql}");
    }
    assert!(
        nonempty >= 5,
        "the demo day fills {nonempty} of the queries"
    );
    assert_eq!(
        sidecars(&root),
        built,
        "the report and the saved query built nothing"
    );
}

/// A run that writes more days than one build statement names (a backfill; a file whose dates
/// are far apart) prepares every one of them, and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_prepares_many_far_apart_days() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("e.ndjson");
    let start = chrono::NaiveDate::from_ymd_opt(2019, 1, 1).unwrap();
    let days: Vec<chrono::NaiveDate> = (0..260).map(|i| start + chrono::Days::new(i * 7)).collect();
    let lines: Vec<String> = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            format!(
                r#"{{"event":"session.start","code":"T2000I","time":"{d}T10:00:00Z","uid":"u{i}","user":"alice","login":"root","proto":"ssh"}}"#
            )
        })
        .collect();
    std::fs::write(&f, lines.join("\n")).unwrap();
    let root = dir.path().join("lake");
    let out = common::run_ok(cli("ingest", &root).arg(&f));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("6 views over 260 partitions"), "{text}");
    let built = sidecars(&root);
    let ss: std::collections::BTreeSet<String> = built
        .iter()
        .filter(|p| p.contains("/session_start/"))
        .map(|p| p.split('/').nth(2).unwrap().to_string())
        .collect();
    let want: std::collections::BTreeSet<String> = days.iter().map(|d| d.to_string()).collect();
    assert_eq!(ss, want);
    assert_eq!(built.len(), 6 * 260, "a sidecar per view and day");
    // The report reads them: root sessions, one per day.
    let lake = Lake::open(root.to_str().unwrap()).unwrap();
    let fast = engine(&lake, Some("acme"), true).await;
    let sql = "SELECT count(*) FROM session_start WHERE login = 'root'";
    assert_eq!(sorted(&fast, sql).await, vec![vec!["260".to_string()]]);
    assert_eq!(sidecars(&root), built);
}

/// `compact` gives a partition new files, so no sidecar of its key: it builds the columns the
/// reports read for the partitions it compacted, which the report then reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_prepares_the_columns_reports_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    for (name, seed) in [("a.ndjson", "21"), ("b.ndjson", "22")] {
        let f = demo(dir.path(), name, seed, "2024-05-01", "1", "1500");
        common::run_ok(cli("ingest", &root).args(["--views", "none"]).arg(&f));
    }
    assert!(sidecars(&root).is_empty());
    let out = common::run_ok(&mut cli("compact", &root));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("acme: view sidecars (the columns reports read): 6 views over 1 partitions"),
        "{text}"
    );
    let built = sidecars(&root);
    assert_eq!(built.len(), 6, "{built:?}");
    let lake = Lake::open(root.to_str().unwrap()).unwrap();
    let (fast, plain) = (
        engine(&lake, Some("acme"), true).await,
        engine(&lake, Some("acme"), false).await,
    );
    report_answers_equal(&fast, &plain).await;
    assert_eq!(sidecars(&root), built, "the report built nothing");
    // `--views none` leaves it to the first query.
    let f = demo(dir.path(), "c.ndjson", "23", "2024-05-02", "1", "500");
    common::run_ok(cli("ingest", &root).args(["--views", "none"]).arg(&f));
    common::run_ok(cli("ingest", &root).args(["--views", "none"]).arg(&f));
    let out = common::run_ok(cli("compact", &root).args(["--views", "none"]));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("view sidecars"));
    assert_eq!(sidecars(&root), built);
}
