//! `GROUP BY <string>` with counts partially aggregated on string views
//! (`query::view_counts`): the same answers as DataFusion's own aggregation on a lake mixing
//! our files with foreign ones (one dictionary-encoded, one plain-encoded, nulls, long and
//! short keys, the same strings in every file), scoped or not; and keys that do not repeat
//! handed over to DataFusion's partial aggregation mid-stream, answers still exact.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::Schema;
use parquet::file::properties::WriterProperties;

use crate::common;

/// A file of the lake's schema with the given string columns (the others null); `dictionary`
/// false writes every page plain-encoded, as some foreign writers do.
fn write_file(path: &std::path::Path, cols: &[(&str, Vec<Option<String>>)], dictionary: bool) {
    let file = auditlake::schema::file_schema();
    let rows = cols[0].1.len();
    let arrays: Vec<ArrayRef> = file
        .fields()
        .iter()
        .map(|f| match cols.iter().find(|(n, _)| n == f.name()) {
            Some((_, v)) => Arc::new(StringArray::from(v.clone())) as ArrayRef,
            None => arrow::array::new_null_array(f.data_type(), rows),
        })
        .collect();
    let schema: Arc<Schema> = file.clone();
    let batch = RecordBatch::try_new(schema.clone(), arrays).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let props = WriterProperties::builder()
        .set_dictionary_enabled(dictionary)
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        schema,
        Some(props),
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// Foreign rows: IPs short (inline views) and long (IPv6, buffer views), nulls, and the demo's
/// own identities, so one string reaches the aggregation under several views.
fn foreign_rows(n: usize, salt: usize) -> Vec<(&'static str, Vec<Option<String>>)> {
    let ips = [
        "10.0.0.1",
        "2001:db8:85a3::8a2e:370:7334",
        "192.168.100.200",
        "fe80::1ff:fe23:4567:890a",
    ];
    let ip = (0..n)
        .map(|i| (i % 5 != 0).then(|| ips[(i + salt) % ips.len()].to_string()))
        .collect();
    let identity = (0..n)
        .map(|i| (i % 3 != 0).then(|| ["alice", "bob", "carol@example.com"][i % 3].to_string()))
        .collect();
    let status = (0..n)
        .map(|i| Some(if i % 4 == 0 { "failure" } else { "success" }.to_string()))
        .collect();
    vec![("ip", ip), ("identity", identity), ("status", status)]
}

/// acme: two demo ingests (two files per day) and two foreign files; globex: one ingest.
async fn lake() -> (tempfile::TempDir, auditlake::lake::Lake) {
    let dir = tempfile::tempdir().unwrap();
    let lake = auditlake::lake::Lake::open(dir.path().to_str().unwrap()).unwrap();
    for (tenant, seed, parts) in [("acme", 11, 2), ("globex", 12, 1)] {
        for part in 0..parts {
            let lines = common::demo_lines(seed + part * 10, 3, 200, None);
            let f = dir.path().join(format!("{tenant}-{part}.ndjson"));
            std::fs::write(&f, lines.join("\n")).unwrap();
            common::ingest(&lake, tenant, &[f]).await;
        }
    }
    let day = dir.path().join("data/acme/2024-05-02");
    write_file(
        &day.join("01a00000-0000-7000-8000-0000000000d1.parquet"),
        &foreign_rows(900, 0),
        true,
    );
    write_file(
        &day.join("01a00000-0000-7000-8000-0000000000d2.parquet"),
        &foreign_rows(700, 1),
        false,
    );
    (dir, lake)
}

/// The first `rows_delegated=` figure of an `EXPLAIN ANALYZE` (DataFusion prints counts
/// above 1000 as `12.3 K`).
fn rows_delegated(text: &str) -> f64 {
    let at = text
        .find("rows_delegated=")
        .unwrap_or_else(|| panic!("no rows_delegated in:\n{text}"));
    let rest = &text[at + "rows_delegated=".len()..];
    let num: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let scale = if rest[num.len()..].starts_with(" K") {
        1e3
    } else if rest[num.len()..].starts_with(" M") {
        1e6
    } else {
        1.0
    };
    num.parse::<f64>().unwrap() * scale
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_counts_on_views_equal_datafusions_answers() {
    let (_dir, lake) = lake().await;
    let all = common::engine(&lake, None).await;
    let acme = common::engine(&lake, Some("acme")).await;
    // (query the rule takes, the same question asked so that it cannot)
    let cases = [
        (
            "SELECT ip, count(*) AS n, count(identity) AS c, count(ip) AS d FROM events GROUP BY ip ORDER BY ip NULLS FIRST",
            "SELECT ip, sum(1) AS n, sum(CASE WHEN identity IS NULL THEN 0 ELSE 1 END) AS c, sum(CASE WHEN ip IS NULL THEN 0 ELSE 1 END) AS d FROM events GROUP BY ip ORDER BY ip NULLS FIRST",
        ),
        (
            "SELECT identity, count(*) AS n FROM events WHERE status = 'failure' GROUP BY identity ORDER BY n DESC, identity NULLS FIRST LIMIT 7",
            "SELECT identity, sum(1) AS n FROM events WHERE status = 'failure' GROUP BY identity ORDER BY n DESC, identity NULLS FIRST LIMIT 7",
        ),
        (
            "SELECT count(DISTINCT identity) FROM events",
            "SELECT count(*) FROM (SELECT identity, sum(1) AS s FROM events WHERE identity IS NOT NULL GROUP BY identity) WHERE s > 0",
        ),
        (
            "SELECT DISTINCT ip FROM events ORDER BY ip NULLS FIRST",
            "SELECT ip FROM (SELECT ip, sum(1) AS s FROM events GROUP BY ip) WHERE s > 0 ORDER BY ip NULLS FIRST",
        ),
        (
            "SELECT event_type, count(*) FROM events WHERE ip = '10.0.0.1' OR identity = 'alice' GROUP BY event_type ORDER BY 1 NULLS FIRST",
            "SELECT event_type, sum(1) FROM events WHERE ip = '10.0.0.1' OR identity = 'alice' GROUP BY event_type ORDER BY 1 NULLS FIRST",
        ),
    ];
    for engine in [&all, &acme] {
        for (fast, slow) in cases {
            let p = common::plan_text(&engine.plan(fast).await.unwrap());
            assert!(p.contains("ViewCountExec"), "{fast}:\n{p}");
            let p = common::plan_text(&engine.plan(slow).await.unwrap());
            assert!(!p.contains("ViewCountExec"), "{slow}:\n{p}");
            let got = common::rows(engine, fast).await;
            assert!(!got.is_empty(), "{fast}");
            assert_eq!(got, common::rows(engine, slow).await, "{fast}");
        }
    }
    // The foreign files' keys are in the answer, merged with the demo's (the plain-encoded
    // file's views share nothing with the dictionary file's).
    let ips = common::rows(
        &acme,
        "SELECT ip, count(*) FROM events WHERE ip IN ('10.0.0.1', '2001:db8:85a3::8a2e:370:7334', '192.168.100.200', 'fe80::1ff:fe23:4567:890a') GROUP BY ip ORDER BY 1",
    )
    .await;
    let want: Vec<Vec<String>> = [
        ("10.0.0.1", 180 + 140),
        ("192.168.100.200", 180 + 140),
        ("2001:db8:85a3::8a2e:370:7334", 180 + 140),
        ("fe80::1ff:fe23:4567:890a", 180 + 140),
    ]
    .iter()
    .map(|(ip, n)| vec![ip.to_string(), n.to_string()])
    .collect();
    assert_eq!(ips, want);
    // Nothing here is large enough to be judged, let alone handed over.
    let text = common::explain_analyze(&all, cases[0].0).await;
    assert_eq!(rows_delegated(&text), 0.0, "{text}");
    // A tenant-scoped session counts its own rows only.
    let globex_only = common::rows(
        &all,
        "SELECT identity, count(*) FROM events WHERE tenant_id = 'acme' GROUP BY identity ORDER BY 1 NULLS FIRST",
    )
    .await;
    assert_eq!(
        globex_only,
        common::rows(
            &acme,
            "SELECT identity, count(*) FROM events GROUP BY identity ORDER BY 1 NULLS FIRST"
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_that_do_not_repeat_are_handed_to_datafusion() {
    const N: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let lake = auditlake::lake::Lake::open(dir.path().to_str().unwrap()).unwrap();
    let types = [
        "session.start",
        "user.login",
        "cert.create",
        "db.session.start",
        "exec",
    ];
    write_file(
        &dir.path()
            .join("data/acme/2024-05-01/01a00000-0000-7000-8000-0000000000e1.parquet"),
        &[
            (
                "uid",
                (0..N)
                    .map(|i| Some(format!("{i:08}-0000-4000-8000-unique")))
                    .collect(),
            ),
            (
                "event_type",
                (0..N).map(|i| Some(types[i % 5].to_string())).collect(),
            ),
            (
                "ip",
                (0..N)
                    .map(|i| (i % 7 != 0).then(|| format!("10.0.{}.{}", i % 3, i % 2)))
                    .collect(),
            ),
        ],
        true,
    );
    let engine = common::engine(&lake, Some("acme")).await;

    // Every uid is its own group: the view cache misses on every row, and DataFusion's partial
    // aggregation takes over after the probe. The answer is exact either way.
    let top = "SELECT uid, count(*) AS n FROM events GROUP BY uid ORDER BY n DESC, uid LIMIT 3";
    let text = common::explain_analyze(&engine, top).await;
    assert!(text.contains("ViewCountExec"), "{text}");
    assert!(rows_delegated(&text) > 0.0, "{text}");
    assert_eq!(
        common::rows(&engine, top).await,
        common::rows(
            &engine,
            "SELECT uid, sum(1) AS n FROM events GROUP BY uid ORDER BY n DESC, uid LIMIT 3"
        )
        .await
    );
    let groups = common::rows(
        &engine,
        "SELECT count(*), sum(n), min(n), max(n) FROM (SELECT uid, count(*) AS n FROM events GROUP BY uid)",
    )
    .await;
    assert_eq!(
        groups,
        vec![vec![N.to_string(), N.to_string(), "1".into(), "1".into()]]
    );

    // Five event types over as many rows: the views repeat, nothing is handed over.
    let types_sql =
        "SELECT event_type, count(*), count(ip) FROM events GROUP BY event_type ORDER BY 1";
    let text = common::explain_analyze(&engine, types_sql).await;
    assert!(text.contains("ViewCountExec"), "{text}");
    assert_eq!(rows_delegated(&text), 0.0, "{text}");
    let mut want: Vec<Vec<String>> = types
        .iter()
        .enumerate()
        .map(|(t, name)| {
            let rows: Vec<usize> = (0..N).filter(|i| i % 5 == t).collect();
            let ips = rows.iter().filter(|i| *i % 7 != 0).count();
            vec![name.to_string(), rows.len().to_string(), ips.to_string()]
        })
        .collect();
    want.sort();
    assert_eq!(common::rows(&engine, types_sql).await, want);
}
