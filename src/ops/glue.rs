//! The Glue table itself, checked against seed 000: column names, order and types, partition
//! keys, partition projection, the location template and compression. Teleport users meet a
//! setup wizard that created `bigint`/`string` instead of `timestamp`/`date` and no projection;
//! Athena then reads nothing or the wrong thing without saying so. Glue's `GetTable` is one
//! signed JSON call, made here with the SDK's own signer and credentials (no Glue SDK crate:
//! its generated client costs minutes of build for one operation).

use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::schema::{COLUMNS, PARTITIONS};

/// Longest `GetTable` answer read (a table definition is a few KiB).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// `GetTable` of `database.table`: the `Table` object of Glue's answer.
pub async fn get_table(sdk: &aws_config::SdkConfig, database: &str, table: &str) -> Result<Value> {
    let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
        Error::Config("no AWS region for Glue (set `region` or AWS_REGION)".into())
    })?;
    let endpoint = std::env::var("AWS_ENDPOINT_URL_GLUE")
        .ok()
        .or_else(|| sdk.endpoint_url().map(str::to_string))
        .unwrap_or_else(|| format!("https://glue.{region}.amazonaws.com"));
    let creds = sdk
        .credentials_provider()
        .ok_or_else(|| Error::Config("no AWS credentials for Glue".into()))?
        .provide_credentials()
        .await
        .map_err(|e| Error::Other(format!("AWS credentials: {e}")))?;
    let body = serde_json::to_vec(&serde_json::json!({"DatabaseName": database, "Name": table}))
        .map_err(|e| Error::json("the GetTable request", e))?;
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "AWSGlue.GetTable"),
    ];
    let identity = creds.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&region)
        .name("glue")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| Error::Other(format!("cannot sign the Glue request: {e}")))?
        .into();
    let url = format!("{}/", endpoint.trim_end_matches('/'));
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.iter().copied(),
        SignableBody::Bytes(&body),
    )
    .map_err(|e| Error::Other(format!("cannot sign the Glue request: {e}")))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| Error::Other(format!("cannot sign the Glue request: {e}")))?
        .into_parts();
    let mut req = http::Request::builder().method("POST").uri(&url);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let mut req = req
        .body(body.clone())
        .map_err(|e| Error::Other(format!("Glue request: {e}")))?;
    instructions.apply_to_request_http1x(&mut req);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| Error::Other(format!("HTTP client: {e}")))?;
    let mut rb = client.post(&url).body(body);
    for (k, v) in req.headers() {
        rb = rb.header(k.as_str(), v.as_bytes());
    }
    let resp = rb
        .send()
        .await
        .map_err(|e| Error::Other(format!("Glue GetTable at {url}: {e}")))?;
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| Error::Other(format!("Glue GetTable answer: {e}")))?;
    if bytes.len() > MAX_RESPONSE_BYTES {
        return Err(Error::Other(format!(
            "Glue GetTable answered {} bytes",
            bytes.len()
        )));
    }
    let v: Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::json("Glue's GetTable answer", e))?;
    if !status.is_success() {
        let kind = v["__type"].as_str().unwrap_or("error");
        let msg = v["message"]
            .as_str()
            .or(v["Message"].as_str())
            .unwrap_or("");
        return Err(Error::Other(format!(
            "Glue GetTable {database}.{table}: {status} {kind} {msg}"
        )));
    }
    Ok(v["Table"].clone())
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// Every difference between a Glue `Table` and seed 000's table for a lake at `location`
/// (`s3://bucket[/prefix]`, the config's `s3` without `/data`), each named for a person.
pub fn differences(t: &Value, location: &str) -> Vec<String> {
    let mut out = Vec::new();
    let named = |list: &Value| -> Vec<(String, String)> {
        list.as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        (
                            s(&c["Name"]).to_ascii_lowercase(),
                            s(&c["Type"]).to_ascii_lowercase(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let cols = named(&t["StorageDescriptor"]["Columns"]);
    let want: Vec<(String, String)> = COLUMNS
        .iter()
        .map(|(n, ty)| (n.to_string(), ty.ddl().to_string()))
        .collect();
    compare_list("column", &cols, &want, &mut out);
    let parts = named(&t["PartitionKeys"]);
    let want_parts: Vec<(String, String)> = PARTITIONS
        .iter()
        .map(|(n, ty)| (n.to_string(), ty.to_string()))
        .collect();
    compare_list("partition key", &parts, &want_parts, &mut out);

    let sd = &t["StorageDescriptor"];
    let serde = s(&sd["SerdeInfo"]["SerializationLibrary"]);
    if serde != "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe" {
        out.push(format!("SerDe is {serde:?}, expected ParquetHiveSerDe"));
    }
    let input = s(&sd["InputFormat"]);
    if input != "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat" {
        out.push(format!(
            "input format is {input:?}, expected MapredParquetInputFormat"
        ));
    }
    let base = location.trim_end_matches('/');
    let base = base.strip_suffix("/data").unwrap_or(base);
    let props = &t["Parameters"];
    let expected = [
        ("projection.enabled", "true".to_string()),
        ("projection.tenant_id.type", "injected".to_string()),
        ("projection.event_date.type", "date".to_string()),
        ("projection.event_date.format", "yyyy-MM-dd".to_string()),
        ("projection.event_date.interval", "1".to_string()),
        ("projection.event_date.interval.unit", "DAYS".to_string()),
        (
            "storage.location.template",
            format!("{base}/data/${{tenant_id}}/${{event_date}}/"),
        ),
        ("parquet.compression", "SNAPPY".to_string()),
    ];
    for (k, v) in expected {
        match props.get(k).and_then(Value::as_str) {
            None => out.push(format!("table property {k} is missing (expected {v:?})")),
            Some(got) if got.eq_ignore_ascii_case(&v) => {}
            Some(got) => out.push(format!("table property {k} is {got:?}, expected {v:?}")),
        }
    }
    out
}

fn compare_list(
    what: &str,
    got: &[(String, String)],
    want: &[(String, String)],
    out: &mut Vec<String>,
) {
    for (i, (n, ty)) in want.iter().enumerate() {
        match got.iter().position(|(g, _)| g == n) {
            None => out.push(format!("{what} {n} ({ty}) is missing")),
            Some(j) => {
                if got[j].1 != *ty {
                    out.push(format!("{what} {n} is {}, expected {ty}", got[j].1));
                }
                if j != i {
                    out.push(format!(
                        "{what} {n} is at position {}, expected {}",
                        j + 1,
                        i + 1
                    ));
                }
            }
        }
    }
    for (g, ty) in got {
        if !want.iter().any(|(n, _)| n == g) {
            out.push(format!("unexpected {what} {g} ({ty})"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_table(location: &str) -> Value {
        let col = |(n, t): &(&str, crate::schema::GlueType)| serde_json::json!({"Name": n, "Type": t.ddl()});
        serde_json::json!({
            "Name": "events",
            "StorageDescriptor": {
                "Columns": COLUMNS.iter().map(col).collect::<Vec<_>>(),
                "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}
            },
            "PartitionKeys": [{"Name": "tenant_id", "Type": "string"}, {"Name": "event_date", "Type": "date"}],
            "Parameters": {
                "projection.enabled": "true",
                "projection.tenant_id.type": "injected",
                "projection.event_date.type": "date",
                "projection.event_date.format": "yyyy-MM-dd",
                "projection.event_date.interval": "1",
                "projection.event_date.interval.unit": "DAYS",
                "storage.location.template": format!("{location}/data/${{tenant_id}}/${{event_date}}/"),
                "parquet.compression": "SNAPPY"
            }
        })
    }

    #[test]
    fn seed_table_has_no_difference() {
        assert_eq!(
            differences(&seed_table("s3://b"), "s3://b/data/"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_difference_is_named() {
        let mut t = seed_table("s3://b");
        t["StorageDescriptor"]["Columns"][20]["Type"] = "bigint".into();
        t["PartitionKeys"][1]["Type"] = "string".into();
        t["Parameters"] = serde_json::json!({});
        let d = differences(&t, "s3://b");
        assert!(
            d.contains(&"column event_time is bigint, expected timestamp".to_string()),
            "{d:?}"
        );
        assert!(
            d.contains(&"partition key event_date is string, expected date".to_string()),
            "{d:?}"
        );
        assert!(
            d.iter()
                .any(|x| x.contains("projection.enabled is missing")),
            "{d:?}"
        );
        assert!(
            d.iter()
                .any(|x| x.contains("storage.location.template is missing")),
            "{d:?}"
        );
    }
}
