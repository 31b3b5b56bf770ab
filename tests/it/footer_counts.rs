//! `count(*)` by partition columns answered from file footers (`query::footer_counts`): the
//! same answers as counting the rows, on a lake with several files per partition, an empty
//! file, two tenants and a scoped session; and the plans that must not take the shortcut.

use crate::common;

/// A lake of two tenants, two ingests each (two files per partition), plus a 0-row file.
async fn lake() -> (tempfile::TempDir, auditlake::lake::Lake) {
    let dir = tempfile::tempdir().unwrap();
    let lake = auditlake::lake::Lake::open(dir.path().to_str().unwrap()).unwrap();
    for (tenant, seed) in [("acme", 3), ("globex", 4)] {
        for part in 0..2 {
            let lines = common::demo_lines(seed + part * 10, 4, 150, None);
            let f = dir.path().join(format!("{tenant}-{part}.ndjson"));
            std::fs::write(&f, lines.join("\n")).unwrap();
            common::ingest(&lake, tenant, &[f]).await;
        }
    }
    // A valid Parquet file with the lake's schema and no rows, in a day no event has: a
    // footer-counted group must exist only where a row does.
    let day = dir.path().join("data/acme/2024-06-30");
    std::fs::create_dir_all(&day).unwrap();
    let f =
        std::fs::File::create(day.join("01a00000-0000-7000-8000-000000000000.parquet")).unwrap();
    let w =
        parquet::arrow::ArrowWriter::try_new(f, auditlake::schema::file_schema(), None).unwrap();
    w.close().unwrap();
    (dir, lake)
}

async fn plan(engine: &auditlake::query::engine::Engine, sql: &str) -> String {
    common::plan_text(&engine.plan(sql).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_counts_from_footers_equal_counted_rows() {
    let (_dir, lake) = lake().await;
    let all = common::engine(&lake, None).await;
    let acme = common::engine(&lake, Some("acme")).await;
    // (footer-countable query, the same question made to read a column)
    let cases = [
        (
            "SELECT event_date, count(*) AS n FROM events GROUP BY event_date ORDER BY 1",
            "SELECT event_date, sum(CASE WHEN uid IS NULL THEN 1 ELSE 1 END) AS n FROM events GROUP BY event_date ORDER BY 1",
        ),
        (
            "SELECT count(*) FROM events",
            "SELECT sum(length(uid) * 0 + 1) FROM events",
        ),
        (
            "SELECT tenant_id, count(*), count(1) FROM events GROUP BY tenant_id ORDER BY 1",
            "SELECT tenant_id, sum(length(uid) * 0 + 1) AS a, sum(length(uid) * 0 + 1) AS b FROM events GROUP BY tenant_id ORDER BY 1",
        ),
        (
            "SELECT date_trunc('week', event_date) AS w, tenant_id, count(*) FROM events GROUP BY 1, 2 ORDER BY 1, 2",
            "SELECT date_trunc('week', event_date) AS w, tenant_id, sum(length(uid) * 0 + 1) FROM events GROUP BY 1, 2 ORDER BY 1, 2",
        ),
        (
            "SELECT event_date, count(*) FROM events WHERE event_date >= DATE '2024-05-03' GROUP BY 1 ORDER BY 1",
            "SELECT event_date, sum(length(uid) * 0 + 1) FROM events WHERE event_date >= DATE '2024-05-03' GROUP BY 1 ORDER BY 1",
        ),
        (
            "SELECT event_date, count(*) AS n FROM events GROUP BY event_date HAVING count(*) > 0 ORDER BY n DESC, 1 LIMIT 2",
            "SELECT event_date, sum(length(uid) * 0 + 1) AS n FROM events GROUP BY event_date HAVING sum(length(uid) * 0 + 1) > 0 ORDER BY n DESC, 1 LIMIT 2",
        ),
    ];
    for engine in [&all, &acme] {
        for (fast, slow) in cases {
            let p = plan(engine, fast).await;
            assert!(p.contains("FooterCountExec"), "{fast}:\n{p}");
            assert!(
                !plan(engine, slow).await.contains("FooterCountExec"),
                "{slow}"
            );
            let got = common::rows(engine, fast).await;
            assert!(!got.is_empty(), "{fast}");
            assert_eq!(got, common::rows(engine, slow).await, "{fast}");
        }
    }
    // The empty file's day has no group; the scoped session sees only its tenant's rows.
    let days = common::rows(&all, cases[0].0).await;
    assert!(days.iter().all(|r| r[0] != "2024-06-30"), "{days:?}");
    assert_eq!(days.len(), 4, "{days:?}");
    let total: u64 = common::rows(&all, "SELECT count(*) FROM events").await[0][0]
        .parse()
        .unwrap();
    let acme_total: u64 = common::rows(&acme, "SELECT count(*) FROM events").await[0][0]
        .parse()
        .unwrap();
    let acme_by_tenant =
        common::rows(&all, "SELECT count(*) FROM events WHERE tenant_id = 'acme'").await;
    assert_eq!(acme_by_tenant[0][0], acme_total.to_string());
    assert!(
        0 < acme_total && acme_total < total,
        "{acme_total} of {total}"
    );
    let files = all.execute(cases[1].0).await.unwrap().stats.files_scanned;
    assert_eq!(files, 17, "2 tenants × 4 days × 2 ingests + the empty file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_that_need_rows_are_not_taken_from_footers() {
    let (_dir, lake) = lake().await;
    let engine = common::engine(&lake, None).await;
    for sql in [
        // a filter on a file column
        "SELECT event_date, count(*) FROM events WHERE event_type = 'user.login' GROUP BY 1",
        "SELECT count(*) FROM events WHERE event_data LIKE '%root%'",
        // counts of a column (NULLs are not counted), distinct counts, filtered aggregates
        "SELECT event_date, count(ip) FROM events GROUP BY 1",
        "SELECT count(DISTINCT ip) FROM events",
        "SELECT event_date, count(*) FILTER (WHERE status = 'failure') FROM events GROUP BY 1",
        // other aggregates beside the count, grouping sets
        "SELECT event_date, count(*), max(event_time) FROM events GROUP BY 1",
        "SELECT tenant_id, event_date, count(*) FROM events GROUP BY ROLLUP (tenant_id, event_date)",
        // grouped by a file column
        "SELECT event_type, count(*) FROM events GROUP BY 1",
    ] {
        let p = plan(&engine, sql).await;
        assert!(!p.contains("FooterCountExec"), "{sql}:\n{p}");
        common::rows(&engine, sql).await;
    }
    // Distinct partition values need no rows either (a grouping without aggregates), and
    // agree with the values the rows hold.
    for (fast, slow) in [
        (
            "SELECT count(DISTINCT event_date) FROM events",
            "SELECT count(DISTINCT CAST(event_time AS DATE)) FROM events",
        ),
        (
            "SELECT DISTINCT tenant_id, event_date FROM events ORDER BY 1, 2",
            "SELECT DISTINCT tenant_id, CAST(event_time AS DATE) FROM events ORDER BY 1, 2",
        ),
    ] {
        assert_eq!(
            common::rows(&engine, fast).await,
            common::rows(&engine, slow).await,
            "{fast}"
        );
    }
    // The rollup's answer: counted by rows, and equal to the sum of the footer counts.
    let rollup = common::rows(
        &engine,
        "SELECT count(*) FROM events GROUP BY ROLLUP (tenant_id) ORDER BY 1 DESC LIMIT 1",
    )
    .await;
    assert_eq!(
        rollup,
        common::rows(&engine, "SELECT count(*) FROM events").await
    );
}

/// DataFusion splits a file of more than 1 MiB into byte ranges when there are fewer files
/// than cores: the file is counted once (by its range that starts at 0), not once per range.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_split_into_byte_ranges_is_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let lake = auditlake::lake::Lake::open(dir.path().to_str().unwrap()).unwrap();
    let f = dir.path().join("one-day.ndjson");
    std::fs::write(&f, common::demo_lines(5, 1, 8000, None).join("\n")).unwrap();
    common::ingest(&lake, "acme", &[f]).await;
    let engine = common::engine(&lake, Some("acme")).await;
    let fast = "SELECT event_date, count(*) FROM events GROUP BY 1";
    let p = plan(&engine, fast).await;
    assert!(p.contains("rows counted from 1 file footers"), "{p}");
    // Two ranges of the one file, so the split really happened.
    assert_eq!(p.matches(".parquet:").count(), 2, "{p}");
    let got = common::rows(&engine, fast).await;
    assert_eq!(
        got,
        common::rows(
            &engine,
            "SELECT event_date, sum(length(uid) * 0 + 1) FROM events GROUP BY 1"
        )
        .await
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0][1].parse::<u64>().unwrap() > 7000, "{got:?}");
}
