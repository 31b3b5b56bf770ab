//! Partition pruning: a query on one tenant and one day opens only that partition's files, and
//! EXPLAIN ANALYZE says so.

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenant_one_day_reads_one_partition() {
    let (_dir, lake) = common::fixture_lake().await;
    let engine = common::engine(&lake, None).await;
    // acme has 3 dates, globex 2: 5 partitions.
    let all = engine.execute("SELECT count(*) FROM events").await.unwrap();
    assert_eq!(all.stats.partitions_total, 5);
    assert_eq!(all.stats.partitions_scanned, 5);

    let cases = [
        (
            "SELECT count(*) FROM events WHERE tenant_id = 'acme' AND event_date = DATE '2024-03-21'",
            1,
        ),
        (
            "SELECT count(*) FROM events WHERE tenant_id IN ('globex') ",
            2,
        ),
        (
            "SELECT count(*) FROM events WHERE event_date BETWEEN DATE '2024-03-21' AND DATE '2024-03-22'",
            3,
        ),
        (
            "SELECT count(*) FROM events WHERE event_date >= date('2024-03-22')",
            1,
        ),
        (
            "SELECT count(*) FROM events WHERE event_date > current_date - interval '7' day",
            0,
        ),
        (
            "SELECT count(*) FROM session_start WHERE tenant_id = 'acme' AND event_date = DATE '2024-03-20'",
            1,
        ),
    ];
    for (sql, partitions) in cases {
        let res = engine.execute(sql).await.unwrap();
        assert_eq!(res.stats.partitions_scanned, partitions, "{sql}");
        assert_eq!(
            res.stats.files_scanned, partitions,
            "{sql}: one file per partition in the fixture"
        );
    }
    let n = common::rows(
        &engine,
        "SELECT count(*) FROM events WHERE tenant_id = 'acme' AND event_date = DATE '2024-03-21'",
    )
    .await;
    let direct = common::rows(&engine, "SELECT count(*) FROM events WHERE tenant_id = 'acme' AND CAST(event_time AS DATE) = DATE '2024-03-21'").await;
    assert_eq!(n, direct, "pruned answer equals the unpruned answer");

    let explain = common::rows(&engine, "EXPLAIN ANALYZE SELECT count(*) FROM events WHERE tenant_id = 'acme' AND event_date = DATE '2024-03-21'").await;
    let text: String = explain
        .iter()
        .map(|r| r.join(" "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("LakeScanExec: partitions=1/5"), "{text}");
    assert!(text.contains("partitions_pruned=4"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn days_scope_limits_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let lake = auditlake::lake::Lake::open(dir.path().to_str().unwrap()).unwrap();
    // Events today and 40 days ago: --days 7 sees only today's.
    let today = chrono::Utc::now();
    let old = today - chrono::Duration::days(40);
    let lines = [today, old]
        .iter()
        .enumerate()
        .map(|(i, t)| format!(
            r#"{{"event":"user.login","code":"T1000I","time":"{}","uid":"u-{i}","user":"alice","success":true,"method":"local"}}"#,
            t.format("%Y-%m-%dT%H:%M:%S%.3fZ")
        ))
        .collect::<Vec<_>>()
        .join("\n");
    let f = dir.path().join("in.ndjson");
    std::fs::write(&f, lines).unwrap();
    common::ingest(&lake, "acme", &[f]).await;
    let mut o = auditlake::query::engine::EngineOptions::new(lake.clone());
    o.days = Some(7);
    let engine = auditlake::query::engine::Engine::new(o).await.unwrap();
    let r = engine.execute("SELECT count(*) FROM events").await.unwrap();
    assert_eq!(r.stats.partitions_total, 1);
    assert_eq!(
        common::rows(&engine, "SELECT count(*) FROM events").await,
        vec![vec!["1".to_string()]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_scanned_cutoff_stops_the_query() {
    let (_dir, lake) = common::fixture_lake().await;
    let mut o = auditlake::query::engine::EngineOptions::new(lake.clone());
    o.limits.max_bytes_scanned = 100;
    let engine = auditlake::query::engine::Engine::new(o).await.unwrap();
    let err = engine
        .execute("SELECT max(event_data) FROM events")
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        auditlake::error::ErrorKind::ResourceExhausted,
        "{err}"
    );
    assert!(err.to_string().contains("bytes scanned"), "{err}");
}

/// Three days of 2,000 demo events for `acme` (random uids: every day's min/max spans nearly
/// all of them), and a uid of the middle day.
async fn uid_lake() -> (tempfile::TempDir, auditlake::lake::Lake, String) {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("d.ndjson");
    common::run_ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_auditlake"))
            .args([
                "demo",
                "--teleport-only",
                "--seed",
                "13",
                "--start",
                "2024-05-01",
            ])
            .args(["--days", "3", "--events-per-day", "2000", "--out"])
            .arg(&events),
    );
    let lake = auditlake::lake::Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    common::ingest(&lake, "acme", &[events]).await;
    let engine = common::engine(&lake, Some("acme")).await;
    let uid = common::rows(
        &engine,
        "SELECT uid FROM events WHERE event_date = DATE '2024-05-02' ORDER BY uid LIMIT 1 OFFSET 777",
    )
    .await[0][0]
        .clone();
    (dir, lake, uid)
}

/// A point lookup by `uid` skips, by the files' Bloom filters, every row group that lacks it
/// (rows are sorted by event type and time, so min/max cannot), and answers the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uid_lookup_skips_files_by_bloom_filter() {
    let (_dir, lake, uid) = uid_lake().await;
    let engine = common::engine(&lake, Some("acme")).await;
    let sql = format!("SELECT uid, event_type FROM events WHERE uid = '{uid}'");
    let got = common::rows(&engine, &sql).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0][0], uid);
    let text = common::explain_analyze(&engine, &sql).await;
    // 3 partitions, a row group each; min/max keep all three, the Bloom filters one.
    assert!(
        text.contains("row_groups_pruned_statistics=3 total → 3 matched"),
        "{text}"
    );
    assert!(
        text.contains("row_groups_pruned_bloom_filter=3 total → 1 matched"),
        "{text}"
    );
}

/// A session reads each file's Bloom filter once (`query::reader::BloomCache`): the second
/// lookup reads fewer bytes, prunes the same row groups and answers the same; another session
/// reads them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_reads_bloom_filters_once() {
    let (_dir, lake, uid) = uid_lake().await;
    let sql = format!("SELECT uid, event_type FROM events WHERE uid = '{uid}'");
    let engine = common::engine(&lake, Some("acme")).await;
    let first = engine.execute(&sql).await.unwrap();
    let second = engine.execute(&sql).await.unwrap();
    assert_eq!(common::rows(&engine, &sql).await.len(), 1);
    // Footers (metadata cache) and Bloom filters are read by the first only; the second reads
    // the one matching row group's pages, the first those and three filters (~5 KB each).
    assert!(
        second.stats.bytes_scanned + 3 * 1024 < first.stats.bytes_scanned,
        "first {} second {}",
        first.stats.bytes_scanned,
        second.stats.bytes_scanned
    );
    let text = common::explain_analyze(&engine, &sql).await;
    assert!(
        text.contains("row_groups_pruned_bloom_filter=3 total → 1 matched"),
        "{text}"
    );
    // A uid in no file, inside every file's min/max: every row group pruned by the cached
    // filters too.
    let absent = format!("SELECT uid FROM events WHERE uid = '{uid}x'");
    assert!(common::rows(&engine, &absent).await.is_empty());
    assert!(common::rows(&engine, &absent).await.is_empty());
    let text = common::explain_analyze(&engine, &absent).await;
    assert!(
        text.contains("row_groups_pruned_bloom_filter=3 total → 0 matched"),
        "{text}"
    );
    let other = common::engine(&lake, Some("acme")).await;
    let again = other.execute(&sql).await.unwrap();
    assert_eq!(again.stats.bytes_scanned, first.stats.bytes_scanned);
}
