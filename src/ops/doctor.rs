//! `auditlake doctor`: checks a config against its infrastructure, like Teleport's "test the
//! connection" step, and says for each failure what is missing and which IAM action to add.
//! Every probe is harmless: objects it writes are deleted at once, the Athena probe reads no
//! partition (it asks for today's partition of a tenant named `_doctor`).

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use object_store::{ObjectStoreExt, PutPayload};
use serde::Serialize;

use crate::config::IdentityActivityCenter;
use crate::lake::Lake;

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    /// What was found, or what failed.
    pub detail: String,
    /// What to change (an IAM action or a resource to create), on failure.
    pub fix: Option<String>,
}

fn ok(name: &str, detail: String) -> Check {
    Check {
        name: name.into(),
        ok: true,
        detail,
        fix: None,
    }
}

fn fail(name: &str, detail: String, fix: &str) -> Check {
    Check {
        name: name.into(),
        ok: false,
        detail,
        fix: Some(fix.into()),
    }
}

/// Writes and deletes a probe object under `location` (a lake root or a prefix).
async fn probe_prefix(name: &str, location: &str, sub: &str, actions: &str) -> Check {
    let lake = match Lake::open(location) {
        Ok(l) => l,
        Err(e) => return fail(name, e.chain(": "), "fix the location in the config"),
    };
    let key = format!("{sub}_doctor-probe-{}", uuid::Uuid::new_v4());
    let path = lake.path(&key);
    let store = lake.store();
    if let Err(e) = store
        .put(&path, PutPayload::from_static(b"auditlake doctor probe"))
        .await
    {
        return fail(
            name,
            format!("cannot write {location}/{key}: {e}"),
            &format!("allow {actions} on this prefix (and check the bucket exists)"),
        );
    }
    if let Err(e) = store.delete(&path).await {
        return fail(
            name,
            format!("wrote but cannot delete {location}/{key}: {e}"),
            "allow s3:DeleteObject on this prefix",
        );
    }
    ok(name, format!("{location}: write and delete work"))
}

/// Runs every check the config allows; a key that is absent is reported, not probed.
pub async fn run(cfg: &IdentityActivityCenter) -> Vec<Check> {
    let mut out = Vec::new();

    // The lake: listing data/ and writing under it.
    let lake_check = match Lake::open(&cfg.s3) {
        Err(e) => fail("lake", e.chain(": "), "fix `s3` in the config"),
        Ok(lake) => {
            let prefix = crate::lake::layout::data_prefix(&lake);
            match lake.store().list_with_delimiter(Some(&prefix)).await {
                Ok(r) => ok(
                    "lake",
                    format!(
                        "{}: {} tenant(s) under data/",
                        cfg.s3,
                        r.common_prefixes.len()
                    ),
                ),
                Err(e) => fail(
                    "lake",
                    format!("cannot list {}: {e}", cfg.s3),
                    "allow s3:ListBucket on the long-term bucket (and check it exists)",
                ),
            }
        }
    };
    out.push(lake_check);
    out.push(
        probe_prefix(
            "lake writable",
            &cfg.s3,
            "data/",
            "s3:PutObject, s3:DeleteObject",
        )
        .await,
    );
    match &cfg.s3_large_files {
        Some(l) => out.push(
            probe_prefix(
                "large files",
                l,
                "",
                "s3:PutObject, s3:GetObject, s3:DeleteObject",
            )
            .await,
        ),
        None => out.push(fail(
            "large files",
            "s3_large_files is not set".into(),
            "set s3_large_files: events over 256 KiB cannot travel through SQS otherwise",
        )),
    }
    match &cfg.s3_results {
        Some(r) => {
            out.push(probe_prefix("query results", r, "", "s3:PutObject, s3:DeleteObject").await)
        }
        None => out.push(fail(
            "query results",
            "s3_results is not set".into(),
            "set s3_results (or give the workgroup an output location)",
        )),
    }

    // The queue and its DLQ.
    match &cfg.sqs_queue_url {
        None => out.push(fail(
            "queue",
            "sqs_queue_url is not set".into(),
            "set sqs_queue_url to the queue `consume` reads",
        )),
        Some(url) => {
            let sqs = crate::aws::sqs_client(cfg.region.as_deref()).await;
            match sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::All)
                .send()
                .await
            {
                Err(e) => out.push(fail(
                    "queue",
                    format!(
                        "{url}: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(e)
                    ),
                    "check the queue exists; allow sqs:GetQueueAttributes (doctor), sqs:ReceiveMessage, sqs:DeleteMessage, sqs:SendMessage, sqs:ChangeMessageVisibility",
                )),
                Ok(a) => {
                    let attrs = a.attributes.unwrap_or_default();
                    out.push(ok(
                        "queue",
                        format!(
                            "{url}: {} message(s) waiting",
                            attrs
                                .get(&QueueAttributeName::ApproximateNumberOfMessages)
                                .map(String::as_str)
                                .unwrap_or("?")
                        ),
                    ));
                    match attrs.get(&QueueAttributeName::RedrivePolicy) {
                        Some(p) => {
                            let v: serde_json::Value =
                                serde_json::from_str(p).unwrap_or_default();
                            out.push(ok(
                                "dead-letter queue",
                                format!(
                                    "after {} receives to {}",
                                    v["maxReceiveCount"],
                                    v["deadLetterTargetArn"].as_str().unwrap_or("?")
                                ),
                            ));
                        }
                        None => out.push(fail(
                            "dead-letter queue",
                            "the queue has no redrive policy: undecodable messages would be received forever".into(),
                            "add a RedrivePolicy {deadLetterTargetArn, maxReceiveCount} (seed 000 uses 20)",
                        )),
                    }
                }
            }
        }
    }

    // GeoIP.
    match &cfg.maxmind_geoip_city_db_path {
        None => out.push(ok(
            "geoip",
            "not configured (location columns stay empty)".into(),
        )),
        Some(p) => match crate::ingest::enrich::GeoIp::open(p) {
            Ok(g) => {
                let prov = g.provenance();
                out.push(ok(
                    "geoip",
                    format!(
                        "{}: {} built at epoch {}",
                        p.display(),
                        prov.database_type,
                        prov.build_epoch
                    ),
                ));
            }
            Err(e) => out.push(fail(
                "geoip",
                e.chain(": "),
                "point maxmind_geoip_city_db_path at a readable GeoIP2/GeoLite2 City .mmdb",
            )),
        },
    }

    // Athena: the workgroup answers, and a query on the table runs.
    let opts = crate::query::athena::Athena::options_from(
        cfg,
        Some("_doctor"),
        None,
        Duration::from_secs(60),
    );
    match opts {
        Err(e) => out.push(fail(
            "athena",
            e.chain(": "),
            "set database and table (and workgroup, s3_results) to use the Athena engine",
        )),
        Ok(opts) => match crate::query::athena::Athena::new(opts).await {
            Err(e) => out.push(fail("athena", e.chain(": "), "check the AWS environment")),
            Ok(athena) => {
                let wg = athena
                    .options()
                    .workgroup
                    .clone()
                    .unwrap_or_else(|| "primary".into());
                match athena
                    .client()
                    .get_work_group()
                    .work_group(&wg)
                    .send()
                    .await
                {
                    Ok(r) => out.push(ok(
                        "athena workgroup",
                        format!(
                            "{wg}: {}",
                            r.work_group
                                .and_then(|w| w.state.map(|s| s.as_str().to_string()))
                                .unwrap_or_else(|| "state unknown".into())
                        ),
                    )),
                    Err(e) => out.push(fail(
                        "athena workgroup",
                        format!("{wg}: {}", aws_sdk_athena::error::DisplayErrorContext(e)),
                        "create the workgroup, or allow athena:GetWorkGroup",
                    )),
                }
                let o = athena.options();
                let probe = format!(
                    "SELECT count(*) FROM \"{}\".\"{}\" WHERE tenant_id = '_doctor' AND event_date = current_date",
                    o.database, o.table
                );
                match athena.execute_raw(&probe).await {
                    Ok(_) => out.push(ok(
                        "glue table",
                        format!("{}.{} answers a query", o.database, o.table),
                    )),
                    Err(e) => out.push(fail(
                        "glue table",
                        e.chain(": "),
                        "create the table (`auditlake ddl`), or allow athena:StartQueryExecution, athena:GetQueryExecution, athena:GetQueryResults, glue:GetTable",
                    )),
                }
            }
        },
    }
    out.push(glue_schema(cfg).await);
    out
}

/// The Glue table's definition against seed 000 (names, order, types, partition keys,
/// projection, location template, compression), each difference named.
async fn glue_schema(cfg: &IdentityActivityCenter) -> Check {
    const NAME: &str = "glue schema";
    let (Some(db), Some(table)) = (&cfg.database, &cfg.table) else {
        return fail(
            NAME,
            "database and table not configured".into(),
            "set database and table to the Glue table of the lake",
        );
    };
    let sdk = crate::aws::sdk_config(cfg.region.as_deref()).await;
    match super::glue::get_table(&sdk, db, table).await {
        Err(e) => fail(
            NAME,
            e.chain(": "),
            "create the table (`auditlake ddl --apply`), or allow glue:GetTable",
        ),
        Ok(t) => {
            let diffs = super::glue::differences(&t, &cfg.s3);
            if diffs.is_empty() {
                ok(
                    NAME,
                    format!(
                        "{db}.{table} matches seed 000 (columns, partitions, projection, location, compression)"
                    ),
                )
            } else {
                fail(
                    NAME,
                    format!("{db}.{table} differs from seed 000: {}", diffs.join("; ")),
                    "recreate the table from `auditlake ddl --location <lake>` (DROP TABLE keeps the data files)",
                )
            }
        }
    }
}

/// The checks as text, one line each, fixes indented under failures.
pub fn render(checks: &[Check]) -> String {
    let mut s = String::new();
    for c in checks {
        s.push_str(&format!(
            "{} {:<18} {}\n",
            if c.ok { "ok  " } else { "FAIL" },
            c.name,
            c.detail
        ));
        if let Some(f) = &c.fix {
            s.push_str(&format!("     {:<18} fix: {f}\n", ""));
        }
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    s.push_str(&if failed == 0 {
        "all checks passed\n".to_string()
    } else {
        format!("{failed} check(s) failed\n")
    });
    s
}
