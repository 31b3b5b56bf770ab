//! The lake on a real S3-protocol server (moto) through object_store: ingest, list, query.

use auditlake::lake::Lake;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_and_query_on_s3() {
    let moto = common::Moto::start();
    moto.create_bucket("auditlake-it");
    let opts = moto.s3_options();
    let opts: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let lake = Lake::open_with("s3://auditlake-it/data", &opts).unwrap();
    let s = common::ingest(&lake, "acme", &[common::fixture("lake/acme.ndjson")]).await;
    assert_eq!(s.rejected, 0);

    let listed: Vec<_> = lake.store().list(None).try_collect().await.unwrap();
    let all: Vec<String> = listed.iter().map(|m| m.location.to_string()).collect();
    // Each data file has its n-gram index beside it, written after it.
    let keys: Vec<String> = all
        .iter()
        .filter(|k| k.ends_with(".parquet"))
        .cloned()
        .collect();
    assert_eq!(keys.len(), 3, "{all:?}");
    for k in &keys {
        let (dir, name) = k.rsplit_once('/').unwrap();
        let ix = format!("{dir}/_grams-{}", name.replace(".parquet", ".bin"));
        assert!(all.contains(&ix), "{ix} missing from {all:?}");
    }
    assert_eq!(all.len(), 6, "{all:?}");
    for k in &keys {
        let parts: Vec<&str> = k.split('/').collect();
        assert_eq!(parts[0], "data", "{k}");
        assert_eq!(parts[1], "acme", "{k}");
        assert!(
            auditlake::lake::layout::parse_date(parts[2]).is_some(),
            "{k}"
        );
        assert!(parts[3].ends_with(".parquet"), "{k}");
    }
    // Read back with the parquet crate straight from the store.
    let bytes = lake
        .store()
        .get(&listed[0].location)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let reader = parquet::file::reader::SerializedFileReader::new(bytes).unwrap();
    use parquet::file::reader::FileReader;
    assert_eq!(
        reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .num_columns(),
        29
    );

    // The same answers as the local lake.
    let s3_engine = common::engine(&lake, Some("acme")).await;
    let (_d, local) = common::fixture_lake().await;
    let local_engine = common::engine(&local, Some("acme")).await;
    for sql in [
        "SELECT event_date, COUNT ( * ) as count, user FROM session_start WHERE login = 'root' GROUP BY event_date, user ORDER BY event_date, user",
        "SELECT event_source, count(*) FROM events GROUP BY 1 ORDER BY 1",
    ] {
        assert_eq!(
            common::rows(&s3_engine, sql).await,
            common::rows(&local_engine, sql).await,
            "{sql}"
        );
    }
    let r = s3_engine
        .execute("SELECT count(*) FROM events WHERE event_date = DATE '2024-03-21'")
        .await
        .unwrap();
    assert_eq!(r.stats.partitions_scanned, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_downloads_partitions_resumes_and_answers_offline() {
    use auditlake::lake::sync::{SyncOptions, sync};
    let moto = common::Moto::start();
    moto.create_bucket("auditlake-sync");
    let opts = moto.s3_options();
    let opts: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let s3 = Lake::open_with("s3://auditlake-sync/data", &opts).unwrap();
    common::ingest(&s3, "acme", &[common::fixture("lake/acme.ndjson")]).await;
    common::ingest(&s3, "globex", &[common::fixture("lake/globex.ndjson")]).await;

    let dir = tempfile::tempdir().unwrap();
    let local = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let o = SyncOptions {
        tenant: "acme".into(),
        since: day("2024-03-21"),
        until: Some(day("2024-03-22")),
        parallel: 4,
        progress: false,
    };
    let first = sync(&s3, &local, &o).await.unwrap();
    assert_eq!(
        (first.partitions, first.fetched_files, first.skipped_files),
        (2, 2, 0)
    );
    // Only the asked tenant and days arrived, each data file with its n-gram index.
    assert_eq!(first.fetched_indexes, 2, "{first:?}");
    let files = super::schema::walk(&dir.path().join("data"));
    assert_eq!(files.len(), 4, "{files:?}");
    let files: Vec<_> = files
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
        .collect();
    for f in &files {
        let ix = f.with_file_name(format!(
            "_grams-{}.bin",
            f.file_stem().unwrap().to_str().unwrap()
        ));
        assert!(ix.exists(), "{ix:?}");
    }
    assert!(
        files
            .iter()
            .all(|f| f.to_string_lossy().contains("/data/acme/2024-03-2")),
        "{files:?}"
    );
    assert!(!dir.path().join("data/acme/2024-03-20").exists());

    // An interrupted run: one file lost locally. The rerun fetches only that one (and its
    // index again: the copy beside the refetched file would be older than it).
    std::fs::remove_file(&files[0]).unwrap();
    let again = sync(&s3, &local, &o).await.unwrap();
    assert_eq!(
        (
            again.fetched_files,
            again.skipped_files,
            again.fetched_indexes
        ),
        (1, 1, 1),
        "{again:?}"
    );
    // A lost index alone: only it is fetched. A hostile or torn one at the source would be
    // refused, not copied: the offline answer never depends on it (tests/it/grams.rs).
    let lost_ix = super::schema::walk(&dir.path().join("data"))
        .into_iter()
        .find(|f| f.to_string_lossy().contains("_grams-"))
        .unwrap();
    std::fs::remove_file(&lost_ix).unwrap();
    let again = sync(&s3, &local, &o).await.unwrap();
    assert_eq!(
        (
            again.fetched_files,
            again.skipped_files,
            again.fetched_indexes
        ),
        (0, 2, 1),
        "{again:?}"
    );
    assert!(lost_ix.exists());

    // Offline answers equal the S3 answers for those days.
    let s3_engine = common::engine(&s3, Some("acme")).await;
    let local_engine = common::engine(&local, Some("acme")).await;
    for sql in [
        "SELECT DISTINCT identity_client_ip FROM cert_create WHERE identity_user = 'admin-annie' AND event_date >= DATE '2024-03-21' ORDER BY 1",
        "SELECT event_date, event_source, count(*) FROM events WHERE event_date >= DATE '2024-03-21' GROUP BY 1, 2 ORDER BY 1, 2",
    ] {
        let want = common::rows(&s3_engine, sql).await;
        assert!(!want.is_empty(), "{sql}");
        assert_eq!(common::rows(&local_engine, sql).await, want, "{sql}");
    }
    // Offline LIKE reads through the copied indexes, and answers as S3 does.
    let like = r#"SELECT count(*) FROM events WHERE event_data LIKE '%"login":"root"%' AND event_date >= DATE '2024-03-21'"#;
    assert_eq!(
        common::rows(&local_engine, like).await,
        common::rows(&s3_engine, like).await
    );
    let plan = common::rows(&local_engine, &format!("EXPLAIN ANALYZE {like}"))
        .await
        .concat()
        .join(" ");
    assert!(plan.contains("unindexed_files=0"), "{plan}");

    // The same events land a second time on S3 (a redelivery beyond the dedup window), and
    // compaction there keeps one row per uid. A new sync mirrors it: the replaced files go.
    let count =
        "SELECT count(*), count(DISTINCT uid) FROM events WHERE event_date >= DATE '2024-03-21'";
    let before = common::rows(&s3_engine, count).await;
    common::ingest(&s3, "acme", &[common::fixture("lake/acme.ndjson")]).await;
    assert_ne!(
        common::rows(&s3_engine, count).await,
        before,
        "duplicates visible"
    );
    for d in ["2024-03-21", "2024-03-22"] {
        let date = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        let c = auditlake::lake::compact::compact_partition(&s3, "acme", date, 2)
            .await
            .unwrap();
        assert_eq!((c.files_before, c.files_after), (2, 1), "{c:?}");
        assert_eq!(c.duplicates_removed * 2, c.rows_before, "{c:?}");
    }
    assert_eq!(common::rows(&s3_engine, count).await, before);
    let third = sync(&s3, &local, &o).await.unwrap();
    assert_eq!(
        (third.fetched_files, third.removed_files),
        (2, 2),
        "{third:?}"
    );
    let local_engine = common::engine(&local, Some("acme")).await;
    assert_eq!(common::rows(&local_engine, count).await, before);
    // The replaced files' indexes went with them: one index per data file, no orphan.
    let left = super::schema::walk(&dir.path().join("data"));
    let (data, ix): (Vec<_>, Vec<_>) = left
        .iter()
        .partition(|f| f.extension().is_some_and(|e| e == "parquet"));
    assert_eq!((data.len(), ix.len()), (2, 2), "{left:?}");

    // The widest range the date flags take costs one listing of the tenant's days, not one
    // per day of the range (3.65 M calls to S3 before): every partition, and only those.
    let wide_dir = tempfile::tempdir().unwrap();
    let wide = Lake::open(wide_dir.path().to_str().unwrap()).unwrap();
    let all = SyncOptions {
        tenant: "acme".into(),
        since: day("0001-01-01"),
        until: Some(day("9999-12-31")),
        parallel: 4,
        progress: false,
    };
    let w = tokio::time::timeout(std::time::Duration::from_secs(60), sync(&s3, &wide, &all))
        .await
        .expect("a sync of every possible day lists only the days there are")
        .unwrap();
    let days = common::rows(&s3_engine, "SELECT count(DISTINCT event_date) FROM events").await;
    assert_eq!(vec![vec![w.partitions.to_string()]], days, "{w:?}");
    assert!(w.partitions >= 3, "{w:?}");
    let wide_engine = common::engine(&wide, Some("acme")).await;
    assert_eq!(common::rows(&wide_engine, count).await, before);
}
