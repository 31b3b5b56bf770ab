//! The Arrow schema equals the Glue DDL in sql/glue/events.sql, column for column, and a file
//! the writer produced carries exactly that schema in Parquet terms.

use auditlake::schema::{self, COLUMNS, PARTITIONS};
use parquet::basic::{Compression, LogicalType, TimeUnit, Type as PhysicalType};
use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::common;

#[test]
fn rust_schema_equals_glue_ddl() {
    let (cols, parts) =
        auditlake::query::views::parse_ddl_columns(auditlake::query::views::GLUE_DDL);
    let ours: Vec<(String, String)> = COLUMNS
        .iter()
        .map(|(n, t)| (n.to_string(), t.ddl().to_string()))
        .collect();
    assert_eq!(
        cols, ours,
        "columns of sql/glue/events.sql differ from schema::COLUMNS"
    );
    assert_eq!(cols.len(), 29);
    let parts_ours: Vec<(String, String)> = PARTITIONS
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    assert_eq!(parts, parts_ours);
    // The seed's storage template and projection settings are present.
    for needle in [
        "'projection.tenant_id.type' = 'injected'",
        "'projection.event_date.range' = 'NOW-4YEARS,NOW'",
        "/data/${tenant_id}/${event_date}/'",
        "'parquet.compression' = 'SNAPPY'",
        "ParquetHiveSerDe",
    ] {
        assert!(
            auditlake::query::views::GLUE_DDL.contains(needle),
            "DDL lacks {needle}"
        );
    }
}

#[test]
fn ddl_fills_location_and_table() {
    let ddl = auditlake::query::views::glue_ddl(Some("s3://my-bucket/data/"), "audit_events");
    assert!(ddl.contains("LOCATION 's3://my-bucket/data/'"));
    assert!(ddl.contains(
        "'storage.location.template' = 's3://my-bucket/data/${tenant_id}/${event_date}/'"
    ));
    assert!(ddl.contains("IF NOT EXISTS audit_events ("));
    assert!(!ddl.contains("example-long-term-bucket"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn written_file_has_exact_parquet_schema() {
    let (dir, _lake) = common::fixture_lake().await;
    let file = walk(dir.path())
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .expect("a parquet file");
    let reader = SerializedFileReader::new(std::fs::File::open(&file).unwrap()).unwrap();
    let meta = reader.metadata();
    let schema = meta.file_metadata().schema_descr();
    assert_eq!(schema.num_columns(), 29);
    for (i, (name, ty)) in COLUMNS.iter().enumerate() {
        let col = schema.column(i);
        assert_eq!(col.name(), *name);
        match ty {
            schema::GlueType::String => {
                assert_eq!(col.physical_type(), PhysicalType::BYTE_ARRAY, "{name}");
                assert_eq!(col.logical_type_ref(), Some(&LogicalType::String), "{name}");
            }
            schema::GlueType::Double => {
                assert_eq!(col.physical_type(), PhysicalType::DOUBLE, "{name}")
            }
            schema::GlueType::Timestamp => {
                assert_eq!(col.physical_type(), PhysicalType::INT64, "{name}");
                match col.logical_type_ref() {
                    Some(LogicalType::Timestamp(t)) => {
                        assert!(t.is_adjusted_to_u_t_c, "{name} must be isAdjustedToUTC");
                        assert_eq!(t.unit, TimeUnit::MILLIS, "{name} must be millis");
                    }
                    other => panic!("{name}: expected TIMESTAMP(MILLIS, UTC), got {other:?}"),
                }
            }
        }
    }
    for rg in meta.row_groups() {
        for c in rg.columns() {
            assert!(
                matches!(c.compression(), Compression::SNAPPY),
                "{} not snappy",
                c.column_path()
            );
        }
    }
    // Page index written (column index + offset index) for pruning inside row groups.
    let opts = parquet::file::serialized_reader::ReadOptionsBuilder::new()
        .with_page_index()
        .build();
    let r =
        SerializedFileReader::new_with_options(std::fs::File::open(&file).unwrap(), opts).unwrap();
    assert!(r.metadata().offset_index().is_some(), "no offset index");
    assert!(r.metadata().column_index().is_some(), "no column index");
    // Rows sorted by (event_type, event_time).
    let kv = meta
        .file_metadata()
        .key_value_metadata()
        .expect("kv metadata");
    assert!(kv.iter().any(|k| k.key == "auditlake.sort"));
}

/// The data files (`*.parquet`) under a directory, sorted; not their `_grams-` indexes.
pub fn data_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect()
}

pub fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p)
            } else {
                out.push(p)
            }
        }
    }
    out.sort();
    out
}

/// The scan reads strings as views; a result never carries them out: a `SELECT *` has the
/// table's own types column for column, and strings nested in lists and structs are plain too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_leave_the_engine_in_the_lakes_types() {
    use datafusion::arrow::datatypes::DataType;
    let (_d, lake) = common::fixture_lake().await;
    let engine = common::engine(&lake, Some("acme")).await;
    let all = engine.execute("SELECT * FROM events").await.unwrap();
    let want = schema::table_schema();
    assert!(!all.batches.is_empty());
    for s in std::iter::once(all.schema.clone()).chain(all.batches.iter().map(|b| b.schema())) {
        let got: Vec<(String, DataType)> = s
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        let exp: Vec<(String, DataType)> = want
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        assert_eq!(got, exp);
    }
    let nested = engine
        .execute(
            "SELECT e.identity AS who, array_agg(e.ip) AS ips, \
             named_struct('t', min(e.event_type)) AS s, arrow_typeof(e.identity) AS scan_type \
             FROM events e GROUP BY e.identity",
        )
        .await
        .unwrap();
    let types: Vec<DataType> = nested
        .schema
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    assert_eq!(types[0], DataType::Utf8);
    assert!(
        matches!(&types[1], DataType::List(f) if f.data_type() == &DataType::Utf8),
        "{types:?}"
    );
    assert!(
        matches!(&types[2], DataType::Struct(fs) if fs[0].data_type() == &DataType::Utf8),
        "{types:?}"
    );
    // Inside the engine the column is still a view: the cast is at the edge only.
    let inner =
        datafusion::arrow::compute::cast(nested.batches[0].column(3), &DataType::Utf8).unwrap();
    let inner = inner
        .as_any()
        .downcast_ref::<datafusion::arrow::array::StringArray>()
        .unwrap();
    assert_eq!(inner.value(0), "Utf8View");
}
