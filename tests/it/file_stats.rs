//! Files skipped by their cached footers' statistics (`query::file_stats`): a warm time-range
//! query opens only the files whose event_time range meets it, and answers exactly what the
//! unpruned scan answers — also for files a foreign writer left: rows filed under another
//! date, timestamps stored in microseconds, and a file rewritten in place after its footer
//! was cached.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use crate::common;

/// `uid`s and `event_time`s (ms since the epoch) as a file of the lake's schema, the other
/// columns null; `micros` stores event_time as microseconds (what Spark or a pandas export
/// writes), the engine reading it as milliseconds.
fn write_file(path: &std::path::Path, rows: &[(&str, i64)], micros: bool) {
    let file = auditlake::schema::file_schema();
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for f in file.fields() {
        match f.name().as_str() {
            "uid" => {
                fields.push(f.as_ref().clone());
                cols.push(Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r.0),
                )));
            }
            "event_time" if micros => {
                fields.push(Field::new(
                    "event_time",
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    true,
                ));
                cols.push(Arc::new(
                    TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1 * 1000))
                        .with_timezone("UTC"),
                ));
            }
            "event_time" => {
                fields.push(f.as_ref().clone());
                cols.push(Arc::new(
                    arrow::array::TimestampMillisecondArray::from_iter_values(
                        rows.iter().map(|r| r.1),
                    )
                    .with_timezone("UTC"),
                ));
            }
            _ => {
                fields.push(f.as_ref().clone());
                cols.push(arrow::array::new_null_array(f.data_type(), rows.len()));
            }
        }
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None)
            .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

/// Four demo days of acme (2024-05-01..04, one file each), plus two foreign files whose rows
/// fall on 2024-05-02: one filed under 2024-06-30, one with microsecond timestamps under
/// 2024-07-01.
async fn lake() -> (tempfile::TempDir, auditlake::lake::Lake) {
    let dir = tempfile::tempdir().unwrap();
    let lake = auditlake::lake::Lake::open(dir.path().to_str().unwrap()).unwrap();
    let lines = common::demo_lines(7, 4, 200, None);
    let f = dir.path().join("acme.ndjson");
    std::fs::write(&f, lines.join("\n")).unwrap();
    common::ingest(&lake, "acme", &[f]).await;
    let noon = ms("2024-05-02T12:00:00Z");
    write_file(
        &dir.path()
            .join("data/acme/2024-06-30/01a00000-0000-7000-8000-000000000001.parquet"),
        &[("misfiled-1", noon), ("misfiled-2", noon + 1)],
        false,
    );
    write_file(
        &dir.path()
            .join("data/acme/2024-07-01/01a00000-0000-7000-8000-000000000002.parquet"),
        &[
            ("micros-1", noon + 2),
            ("micros-2", noon + 3),
            ("micros-3", noon + 4),
        ],
        true,
    );
    (dir, lake)
}

const RANGE: &str = "event_time >= TIMESTAMP '2024-05-02 06:00:00' AND event_time < TIMESTAMP '2024-05-02 18:00:00'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_time_range_query_opens_only_the_files_that_can_match() {
    let (_dir, lake) = lake().await;
    let engine = common::engine(&lake, None).await;
    let sql = format!("SELECT count(*) FROM events WHERE {RANGE}");
    // The same question without a filter the scan could prune by.
    let unpruned = format!("SELECT sum(CASE WHEN {RANGE} THEN 1 ELSE 0 END) FROM events");

    // A fresh session has no footers cached: every file of the six partitions is opened.
    let cold = engine.execute(&sql).await.unwrap();
    assert_eq!(cold.stats.files_scanned, 6);
    let want = common::rows(&engine, &unpruned).await;
    let got = common::rows(&engine, &sql).await;
    assert_eq!(got, want);
    let n: i64 = want[0][0].parse().unwrap();
    // The demo's rows of that half day, and the five foreign rows.
    assert!(n > 5, "{n}");

    // Footers cached now (the queries above read every file): the three demo days outside
    // the range are skipped before any is opened; the misfiled and the microsecond files are
    // kept (their statistics say 2024-05-02, or are not read as milliseconds at all).
    let warm = engine.execute(&sql).await.unwrap();
    assert_eq!(warm.stats.files_scanned, 3, "{:?}", warm.stats);
    assert_eq!(common::rows(&engine, &sql).await, want);
    let text = common::explain_analyze(&engine, &sql).await;
    assert!(text.contains("footer_stats: files_pruned=3"), "{text}");

    // The foreign rows are in the answer.
    let foreign = common::rows(
        &engine,
        &format!(
            "SELECT uid FROM events WHERE {RANGE} AND (uid LIKE 'misfiled-%' OR uid LIKE 'micros-%') ORDER BY uid"
        ),
    )
    .await;
    assert_eq!(foreign.len(), 5, "{foreign:?}");

    // A predicate mixing a partition column with a file column prunes by both.
    let mixed = format!("event_date = DATE '2024-05-04' OR ({RANGE})");
    let got = common::rows(
        &engine,
        &format!("SELECT count(*) FROM events WHERE {mixed}"),
    )
    .await;
    let want = common::rows(
        &engine,
        &format!("SELECT sum(CASE WHEN {mixed} THEN 1 ELSE 0 END) FROM events"),
    )
    .await;
    assert_eq!(got, want);
    let text = common::explain_analyze(
        &engine,
        &format!("SELECT count(*) FROM events WHERE {mixed}"),
    )
    .await;
    assert!(text.contains("footer_stats: files_pruned=2"), "{text}");

    // A range no file holds: only the microsecond file, whose statistics are not used, is
    // opened; zero rows.
    let none = engine
        .execute("SELECT count(*) FROM events WHERE event_time < TIMESTAMP '2001-01-01 00:00:00'")
        .await
        .unwrap();
    assert_eq!(none.stats.files_scanned, 1, "{:?}", none.stats);
    assert_eq!(
        common::rows(
            &engine,
            "SELECT count(*) FROM events WHERE event_time < TIMESTAMP '2001-01-01 00:00:00'"
        )
        .await,
        vec![vec!["0".to_string()]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_rewritten_in_place_is_not_judged_by_its_old_footer() {
    let (dir, lake) = lake().await;
    let engine = common::engine(&lake, None).await;
    let path = dir
        .path()
        .join("data/acme/2024-06-30/01a00000-0000-7000-8000-000000000001.parquet");
    // Warm every footer, the misfiled file's saying 2024-05-02.
    common::rows(&engine, "SELECT count(uid) FROM events").await;
    let q =
        "SELECT uid FROM events WHERE event_time >= TIMESTAMP '2024-06-30 00:00:00' ORDER BY uid";
    assert!(common::rows(&engine, q).await.is_empty());
    // Another writer replaces the file (other rows, other size) under the same name.
    let late = ms("2024-06-30T08:00:00Z");
    write_file(
        &path,
        &[
            ("rewritten-1", late),
            ("rewritten-2", late),
            ("rewritten-3", late),
        ],
        false,
    );
    assert_eq!(
        common::rows(&engine, q).await,
        vec![
            vec!["rewritten-1".to_string()],
            vec!["rewritten-2".to_string()],
            vec!["rewritten-3".to_string()]
        ]
    );
}
