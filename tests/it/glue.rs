//! `doctor` checks the Glue table itself against seed 000, on moto's Glue: the table `ddl`
//! prints passes; one made by a wizard (`bigint` for `event_time`, `string` for `event_date`,
//! no projection, another location template) gets every difference named, with exit code 5.

use std::path::Path;

use crate::common::{self, Moto};

/// Creates `database.table` in moto's Glue: the seed's definition for `location`, or with
/// `wizard` the broken one a setup wizard makes.
pub(crate) fn create_glue_table(
    moto: &Moto,
    database: &str,
    table: &str,
    location: &str,
    wizard: bool,
) {
    let (cols, parts) =
        auditlake::query::views::parse_ddl_columns(auditlake::query::views::GLUE_DDL);
    let col = |(n, t): &(String, String)| {
        let t = match (wizard, n.as_str()) {
            (true, "event_time") => "bigint".to_string(),
            (true, "event_date") => "string".to_string(),
            _ => t.clone(),
        };
        serde_json::json!({"Name": n, "Type": t})
    };
    let mut params = serde_json::json!({
        "EXTERNAL": "TRUE",
        "classification": "parquet",
        "parquet.compression": "SNAPPY",
        "projection.enabled": "true",
        "projection.tenant_id.type": "injected",
        "projection.event_date.type": "date",
        "projection.event_date.format": "yyyy-MM-dd",
        "projection.event_date.interval": "1",
        "projection.event_date.interval.unit": "DAYS",
        "projection.event_date.range": "NOW-4YEARS,NOW",
        "storage.location.template": format!("{location}/data/${{tenant_id}}/${{event_date}}/"),
    });
    if wizard {
        params = serde_json::json!({"EXTERNAL": "TRUE", "classification": "parquet"});
    }
    let input = serde_json::json!({
        "Name": table,
        "TableType": "EXTERNAL_TABLE",
        "StorageDescriptor": {
            "Columns": cols.iter().map(col).collect::<Vec<_>>(),
            "Location": format!("{location}/data/"),
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                "Parameters": {"serialization.format": "1"}
            }
        },
        "PartitionKeys": parts.iter().map(col).collect::<Vec<_>>(),
        "Parameters": params,
    });
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("table.json");
    std::fs::write(&f, input.to_string()).unwrap();
    let script = r#"
import json, sys, boto3
ep, db, path = sys.argv[1], sys.argv[2], sys.argv[3]
g = boto3.client("glue", endpoint_url=ep, region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
try:
    g.create_database(DatabaseInput={"Name": db})
except g.exceptions.AlreadyExistsException:
    pass
g.create_table(DatabaseName=db, TableInput=json.load(open(path)))
"#;
    common::run_python(
        script,
        &[Path::new(&moto.endpoint), Path::new(database), &f],
    );
}

fn doctor(moto: &Moto, config: &Path) -> (Option<i32>, serde_json::Value) {
    let out = moto
        .cmd()
        .args(["doctor", "--json", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let check = v
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "glue schema")
        .cloned()
        .unwrap_or_else(|| panic!("no glue schema check: {v}"));
    (out.status.code(), check)
}

#[test]
fn doctor_names_every_difference_of_the_glue_table() {
    let moto = Moto::start();
    moto.create_bucket("lake");
    create_glue_table(&moto, "auditlake", "events", "s3://lake", false);
    create_glue_table(&moto, "auditlake", "wizard_events", "s3://lake", true);
    let dir = tempfile::tempdir().unwrap();
    let cfg = |table: &str| {
        let p = dir.path().join(format!("{table}.yaml"));
        std::fs::write(
            &p,
            format!("identity_activity_center:\n  region: us-east-1\n  database: auditlake\n  table: {table}\n  s3: s3://lake/data/\n  sqs_queue_url: http://127.0.0.1:1/q\n"),
        )
        .unwrap();
        p
    };
    let (_, good) = doctor(&moto, &cfg("events"));
    assert_eq!(good["ok"], true, "{good}");
    let (code, bad) = doctor(&moto, &cfg("wizard_events"));
    assert_eq!(code, Some(5));
    assert_eq!(bad["ok"], false, "{bad}");
    let detail = bad["detail"].as_str().unwrap();
    for want in [
        "column event_time is bigint, expected timestamp",
        "partition key event_date is string, expected date",
        "table property projection.enabled is missing",
        "table property projection.tenant_id.type is missing",
        "table property storage.location.template is missing",
        "table property parquet.compression is missing",
    ] {
        assert!(detail.contains(want), "{want} not in {detail}");
    }
    // A table that does not exist says how to create it.
    let (_, missing) = doctor(&moto, &cfg("nope"));
    assert_eq!(missing["ok"], false);
    assert!(
        missing["fix"].as_str().unwrap().contains("glue:GetTable"),
        "{missing}"
    );
}
