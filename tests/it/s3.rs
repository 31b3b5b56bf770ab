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
    let keys: Vec<String> = listed.iter().map(|m| m.location.to_string()).collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
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
