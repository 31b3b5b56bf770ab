//! Ingest: layout, rejects with reasons, neighbours kept, gzip and JSON-array inputs, atomic files.

use crate::common;
use auditlake::ingest::{IngestOptions, Input};
use auditlake::lake::Lake;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_go_to_rejects_and_neighbours_survive() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let good1 = r#"{"event":"user.login","code":"T1000I","time":"2024-03-20T10:00:00Z","uid":"g1","user":"alice","success":true}"#;
    let good2 = r#"{"event":"user.login","code":"T1000W","time":"2024-03-21T10:00:00Z","uid":"g2","user":"bob","success":false}"#;
    let bad_json = r#"{"event":"user.login", "code": "#;
    let no_time = r#"{"event":"user.login","code":"T1000I","uid":"b2","user":"eve"}"#;
    let unknown = r#"{"hello":"world"}"#;
    let bad_time = r#"{"event":"user.login","code":"T1000I","time":"yesterday","uid":"b4"}"#;
    let text = [good1, bad_json, no_time, "", unknown, bad_time, good2].join("\n");
    let f = dir.path().join("mixed.ndjson");
    std::fs::write(&f, text).unwrap();
    let opts = IngestOptions {
        tenant: "acme".into(),
        threads: 2,
        ..Default::default()
    };
    let s = auditlake::ingest::ingest_files(&lake, vec![Input::File(f)], opts, false)
        .await
        .unwrap();
    assert_eq!(s.events, 2);
    assert_eq!(s.rejected, 4);
    assert!(dir.path().join("data/acme/2024-03-20").is_dir());
    assert!(dir.path().join("data/acme/2024-03-21").is_dir());
    let rejects = super::schema::walk(&dir.path().join("rejects"));
    assert_eq!(rejects.len(), 1);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&rejects[0])
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    let by_line: std::collections::BTreeMap<u64, &serde_json::Value> = lines
        .iter()
        .map(|v| (v["line"].as_u64().unwrap(), v))
        .collect();
    assert_eq!(
        by_line.keys().copied().collect::<Vec<_>>(),
        vec![2, 3, 5, 6]
    );
    assert_eq!(by_line[&2]["record"], bad_json);
    for (line, v) in &by_line {
        assert!(
            !v["reason"].as_str().unwrap().is_empty(),
            "line {line} has no reason"
        );
    }
    assert!(
        by_line[&3]["reason"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("time"),
        "{}",
        by_line[&3]
    );

    let engine = common::engine(&lake, Some("acme")).await;
    let r = common::rows(&engine, "SELECT uid, status FROM events ORDER BY uid").await;
    assert_eq!(
        r,
        vec![
            vec!["g1".to_string(), "success".into()],
            vec!["g2".into(), "failure".into()]
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_arrays_and_cloudtrail_files() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    // A gzipped CloudTrail log file, pretty-printed over several lines.
    let ct = serde_json::json!({"Records": [
        {"eventVersion":"1.08","userIdentity":{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"},"eventTime":"2024-03-20T09:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"81.2.69.142","userAgent":"Mozilla","eventID":"ct-1","eventType":"AwsConsoleSignIn","recipientAccountId":"111122223333","responseElements":{"ConsoleLogin":"Success"}},
        {"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDA","arn":"arn:aws:iam::111122223333:user/bob","accountId":"111122223333","userName":"bob"},"eventTime":"2024-03-20T09:05:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"us-east-1","sourceIPAddress":"81.2.69.142","userAgent":"aws-cli","eventID":"ct-2","eventType":"AwsApiCall","recipientAccountId":"111122223333"}
    ]});
    let gz = dir.path().join("ct.json.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(serde_json::to_string_pretty(&ct).unwrap().as_bytes())
        .unwrap();
    enc.finish().unwrap();
    // A JSON array of Teleport events.
    let arr = dir.path().join("arr.json");
    std::fs::write(&arr, r#"[{"event":"user.login","code":"T1000I","time":"2024-03-20T10:00:00Z","uid":"t1","user":"alice","success":true},
 {"event":"user.login","code":"T1000I","time":"2024-03-20T11:00:00Z","uid":"t2","user":"bob","success":true}]"#).unwrap();
    let opts = IngestOptions {
        tenant: "acme".into(),
        threads: 2,
        ..Default::default()
    };
    let s = auditlake::ingest::ingest_files(
        &lake,
        vec![Input::File(gz), Input::File(arr)],
        opts,
        false,
    )
    .await
    .unwrap();
    assert_eq!((s.events, s.rejected), (4, 0), "{}", s.render());
    let engine = common::engine(&lake, Some("acme")).await;
    let r = common::rows(
        &engine,
        "SELECT event_source, count(*) FROM events GROUP BY 1 ORDER BY 1",
    )
    .await;
    assert_eq!(
        r,
        vec![
            vec!["aws".to_string(), "2".into()],
            vec!["teleport".into(), "2".into()]
        ]
    );
    // event_data keeps each record's own text, which parses back to the same record.
    let d = common::rows(&engine, "SELECT event_data FROM events WHERE uid = 'ct-2'").await;
    let v: serde_json::Value = serde_json::from_str(&d[0][0]).unwrap();
    assert_eq!(v, ct["Records"][1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_files_of_an_interrupted_write_are_invisible() {
    let (dir, lake) = common::fixture_lake().await;
    let engine = common::engine(&lake, Some("acme")).await;
    let before = common::rows(&engine, "SELECT count(*) FROM events").await;
    // What a crash mid-put leaves on a local lake: object_store's hidden staging file (and a
    // truncated copy under it) next to the real files.
    let part = dir.path().join("data/acme/2024-03-21");
    let real = super::schema::data_files(&part).into_iter().next().unwrap();
    let bytes = std::fs::read(&real).unwrap();
    std::fs::write(
        part.join(format!("{}#1", real.file_name().unwrap().to_string_lossy())),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    let after = common::rows(&engine, "SELECT count(*) FROM events").await;
    assert_eq!(before, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geoip_enrichment_and_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let geo =
        auditlake::ingest::enrich::GeoIp::open(&common::fixture("geoip/auditlake-test-city.mmdb"))
            .unwrap();
    let cities: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::fixture("geoip/cities.json")).unwrap(),
    )
    .unwrap();
    let first = &cities.as_array().expect("cities.json is an array")[0];
    let net = first["network"].as_str().unwrap();
    let ip = net.split('/').next().unwrap().replace(".0", ".7");
    let lines = format!(
        "{}\n{}\n",
        format_args!(
            r#"{{"event":"user.login","code":"T1000I","time":"2024-03-20T10:00:00Z","uid":"p1","user":"alice","success":true,"addr.remote":"{ip}:5000"}}"#
        ),
        r#"{"event":"user.login","code":"T1000I","time":"2024-03-20T10:00:00Z","uid":"p2","user":"bob","success":true,"addr.remote":"10.0.0.5:5000"}"#
    );
    let f = dir.path().join("geo.ndjson");
    std::fs::write(&f, lines).unwrap();
    let opts = IngestOptions {
        tenant: "acme".into(),
        geoip: Some(std::sync::Arc::new(geo)),
        threads: 1,
        ..Default::default()
    };
    auditlake::ingest::ingest_files(&lake, vec![Input::File(f)], opts, false)
        .await
        .unwrap();
    let engine = common::engine(&lake, Some("acme")).await;
    let r = common::rows(
        &engine,
        "SELECT uid, ip, city, latitude IS NOT NULL FROM events ORDER BY uid",
    )
    .await;
    assert_eq!(r[0][1], ip);
    assert_eq!(
        r[0][2],
        first["city"]
            .as_str()
            .unwrap_or_else(|| first["city"]["names"]["en"].as_str().unwrap())
    );
    assert_eq!(r[0][3], "true");
    assert_eq!(
        r[1][1..],
        ["10.0.0.5".to_string(), "NULL".into(), "false".into()]
    );
    // The database's type and build epoch are in the file's metadata.
    let file = super::schema::walk(&dir.path().join("data"))
        .into_iter()
        .next()
        .unwrap();
    let reader =
        parquet::file::reader::SerializedFileReader::new(std::fs::File::open(file).unwrap())
            .unwrap();
    use parquet::file::reader::FileReader;
    let kv = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .clone();
    assert!(kv.iter().any(|k| k.key == "auditlake.geoip.database_type"
        && k.value.as_deref().is_some_and(|v| v.contains("City"))));
    assert!(kv.iter().any(|k| k.key == "auditlake.geoip.build_epoch"));
}

/// `n` Teleport events over five days and four event types, in an arbitrary (fixed) order,
/// several sharing a time (their input order must survive the merge).
fn shuffled_events(n: usize) -> String {
    events_in_order(n, true)
}

fn events_in_order(n: usize, shuffled: bool) -> String {
    let types = [
        "user.login",
        "session.start",
        "db.session.start",
        "kube.request",
    ];
    let mut rows: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"event":"{}","code":"T1000I","time":"2024-03-{:02}T{:02}:{:02}:{:02}Z","uid":"u{i:06}","user":"alice","cluster_name":"c"}}"#,
                types[i % 4],
                10 + if shuffled { i % 5 } else { i * 5 / n },
                (i / 7) % 24,
                (i / 11) % 60,
                (i / 13) % 3,
            )
        })
        .collect();
    // A fixed permutation (an LCG), so every run sees the same arbitrary order.
    let mut x: u64 = 42;
    for i in (1..rows.len()).rev().filter(|_| shuffled) {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        rows.swap(i, (x >> 33) as usize % (i + 1));
    }
    rows.join("\n")
}

/// (event_type, event_time as an integer, uid) of a data file's rows, in file order, and its codecs.
fn file_rows(file: &std::path::Path) -> (Vec<(String, i64, String)>, Vec<String>) {
    use arrow::array::{Array, AsArray};
    let f = std::fs::File::open(file).unwrap();
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let codecs = b
        .metadata()
        .row_groups()
        .iter()
        .flat_map(|rg| {
            rg.columns()
                .iter()
                .map(|c| format!("{:?}", c.compression()))
        })
        .collect();
    let mut out = Vec::new();
    for batch in b.build().unwrap() {
        let batch = batch.unwrap();
        let col = |n: &str| batch.column(batch.schema().index_of(n).unwrap()).clone();
        let (t, ts, u) = (col("event_type"), col("event_time"), col("uid"));
        // Whatever the timestamp's unit, its integer value orders the same.
        let ts = arrow::compute::cast(&ts, &arrow::datatypes::DataType::Int64).unwrap();
        let ts = ts.as_primitive::<arrow::datatypes::Int64Type>().clone();
        for i in 0..batch.num_rows() {
            out.push((
                t.as_string::<i32>().value(i).to_string(),
                if ts.is_null(i) { i64::MIN } else { ts.value(i) },
                u.as_string::<i32>().value(i).to_string(),
            ));
        }
    }
    (out, codecs)
}

/// Input in arbitrary time order, buffer far smaller than the input: every flush spills runs
/// and the end merges them, so each partition is one Snappy file sorted by (event_type,
/// event_time) holding every row once; the spill directory is gone afterwards. With a spill
/// bound of one byte the runs are merged at every flush instead: more files, same rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_input_order_gives_one_sorted_file_per_partition() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("shuffled.ndjson");
    std::fs::write(&f, shuffled_events(6000)).unwrap();
    for (name, max_spill, one_file) in [("merge at end", u64::MAX, true), ("bounded", 1, false)] {
        let root = dir.path().join(name.replace(' ', "-"));
        let spill = root.join("spill");
        std::fs::create_dir_all(&spill).unwrap();
        let lake = Lake::open(root.join("lake").to_str().unwrap()).unwrap();
        let opts = IngestOptions {
            tenant: "acme".into(),
            threads: 2,
            flush_rows: 500,
            spill_dir: Some(spill.clone()),
            max_spill_bytes: max_spill,
            ..Default::default()
        };
        let s = auditlake::ingest::ingest_files(&lake, vec![Input::File(f.clone())], opts, false)
            .await
            .unwrap();
        assert_eq!((s.events, s.rejected), (6000, 0), "{name}");
        assert_eq!(
            std::fs::read_dir(&spill).unwrap().count(),
            0,
            "{name}: spill left behind"
        );
        let mut uids = std::collections::BTreeSet::new();
        let mut files = 0;
        for day in 10..15 {
            let part = root.join(format!("lake/data/acme/2024-03-{day}"));
            let parts = super::schema::data_files(&part);
            files += parts.len();
            if one_file {
                assert_eq!(parts.len(), 1, "{name}: {parts:?}");
            }
            for p in parts {
                let (rows, codecs) = file_rows(&p);
                assert!(codecs.iter().all(|c| c.starts_with("SNAPPY")), "{codecs:?}");
                let keys: Vec<_> = rows.iter().map(|r| (r.0.clone(), r.1)).collect();
                assert!(keys.is_sorted(), "{name}: {} is not sorted", p.display());
                for r in rows {
                    assert!(uids.insert(r.2.clone()), "{name}: {} twice", r.2);
                }
            }
        }
        assert_eq!(uids.len(), 6000, "{name}");
        assert_eq!(files, s.files.len(), "{name}");
        if !one_file {
            assert!(
                files > 5,
                "{name}: runs merged at every flush, got {files} files"
            );
        }
    }
}

/// A spill directory that cannot be created fails the run at its first flush, says where,
/// and leaves nothing in the lake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_spill_directory_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("shuffled.ndjson");
    std::fs::write(&f, shuffled_events(3000)).unwrap();
    let not_a_dir = dir.path().join("plain-file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    let opts = IngestOptions {
        tenant: "acme".into(),
        threads: 2,
        flush_rows: 500,
        spill_dir: Some(not_a_dir.clone()),
        ..Default::default()
    };
    let err = auditlake::ingest::ingest_files(&lake, vec![Input::File(f)], opts, false)
        .await
        .unwrap_err();
    let text = err.chain(": ");
    assert!(
        text.contains("spill directory") && text.contains("plain-file"),
        "{text}"
    );
    let data = dir.path().join("lake/data");
    assert!(!data.exists() || super::schema::walk(&data).is_empty());
}

/// Time-ordered input with a buffer of several days: days that stopped receiving rows are
/// written straight to the lake at a flush, the day still receiving is spilled and merged with
/// its later rows — one sorted file per day either way, every row once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_ordered_input_gives_one_file_per_day_too() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("ordered.ndjson");
    std::fs::write(&f, events_in_order(30_000, false)).unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    let opts = IngestOptions {
        tenant: "acme".into(),
        threads: 2,
        flush_rows: 20_000,
        spill_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let s = auditlake::ingest::ingest_files(&lake, vec![Input::File(f)], opts, false)
        .await
        .unwrap();
    assert_eq!(s.events, 30_000);
    assert_eq!(s.files.len(), 5, "{:?}", s.files);
    let mut uids = std::collections::BTreeSet::new();
    for w in &s.files {
        let (rows, _) = file_rows(&dir.path().join("lake").join(w.path.as_ref()));
        assert_eq!(rows.len(), 6000, "{}", w.path);
        let keys: Vec<_> = rows.iter().map(|r| (r.0.clone(), r.1)).collect();
        assert!(keys.is_sorted(), "{} is not sorted", w.path);
        uids.extend(rows.into_iter().map(|r| r.2));
    }
    assert_eq!(uids.len(), 30_000);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("auditlake-spill-")
        })
        .collect();
    assert!(left.is_empty(), "spill left behind");
}

/// The spill bound counts the runs' real sizes: each flush of these events spills well over
/// 64 KiB, so against a 64 KiB bound the runs are merged into the lake mid-run (more than one
/// file per day; the count before closing a run saw 4 bytes and never reached the bound), and
/// every row is there once, sorted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spill_bound_counts_what_the_runs_hold() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("shuffled.ndjson");
    std::fs::write(&f, shuffled_events(6000)).unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    let opts = IngestOptions {
        tenant: "acme".into(),
        threads: 2,
        flush_rows: 500,
        spill_dir: Some(dir.path().to_path_buf()),
        max_spill_bytes: 64 << 10,
        ..Default::default()
    };
    let s = auditlake::ingest::ingest_files(&lake, vec![Input::File(f)], opts, false)
        .await
        .unwrap();
    assert_eq!(s.events, 6000);
    let mut uids = std::collections::BTreeSet::new();
    let mut per_day = std::collections::BTreeMap::<String, usize>::new();
    for w in &s.files {
        let (rows, _) = file_rows(&dir.path().join("lake").join(w.path.as_ref()));
        let keys: Vec<_> = rows.iter().map(|r| (r.0.clone(), r.1)).collect();
        assert!(keys.is_sorted(), "{} is not sorted", w.path);
        uids.extend(rows.into_iter().map(|r| r.2));
        *per_day.entry(w.date.to_string()).or_default() += 1;
    }
    assert_eq!(uids.len(), 6000);
    // Three chunks of input, three flushes: with the bound the days are written at least twice.
    assert!(
        per_day.values().all(|&n| n >= 2),
        "the bound never merged mid-run: {per_day:?}"
    );
}
