//! Differential test: the seed queries on our engine (views, Trino functions, rewrites) give
//! the same rows as DuckDB computing them independently from the raw JSON.

use std::collections::BTreeMap;

use crate::common;

/// The seed 001 queries, verbatim, keyed like the oracle script's.
const SEED: &[(&str, &str)] = &[
    (
        "etc_passwd",
        "SELECT DISTINCT user FROM exec WHERE command LIKE '%/etc/passwd%'",
    ),
    (
        "unique_ips",
        "SELECT event_date, identity_user AS user , COUNT ( DISTINCT cert_create.identity_client_ip) AS unique_ip_count FROM cert_create GROUP BY event_date, identity_user ORDER BY event_date",
    ),
    (
        "multi_ip",
        "SELECT * FROM ( SELECT event_date, identity_user AS user , COUNT ( DISTINCT cert_create.identity_client_ip) AS unique_ip_count FROM cert_create GROUP BY event_date, identity_user ORDER BY event_date) AS data WHERE unique_ip_count > 1",
    ),
    (
        "annie_ips",
        "SELECT DISTINCT identity_client_ip FROM cert_create WHERE identity_user = 'admin-annie'",
    ),
    (
        "db_weak",
        "SELECT event_date, count ( * ) as count, user FROM db_session_start WHERE CARDINALITY (access_requests) IS NULL AND with_mfa IS NULL AND impersonator IS NULL AND trusted_device_device_id IS NULL GROUP BY event_date, user ORDER BY event_date",
    ),
    (
        "ssh_weak",
        "SELECT event_date, count ( * ) as count, user FROM session_start WHERE CARDINALITY (access_requests) IS NULL AND proto = 'ssh' AND with_mfa IS NULL AND impersonator IS NULL AND trusted_device_device_id IS NULL GROUP BY event_date, proto, user ORDER BY event_date",
    ),
    (
        "kube_weak",
        "SELECT event_date, count ( * ) as count, user FROM kube_request WHERE CARDINALITY (access_requests) IS NULL AND with_mfa IS NULL AND impersonator IS NULL AND trusted_device_device_id IS NULL GROUP BY event_date, user ORDER BY event_date",
    ),
    (
        "db_postgres",
        "SELECT event_date, COUNT ( * ) AS count, user FROM db_session_start WHERE db_protocol = 'postgres' and db_user = 'postgres' GROUP BY event_date, user ORDER BY event_date",
    ),
    (
        "kube_exec",
        "SELECT event_date, count ( * ) as count, user FROM exec WHERE proto = 'kube' GROUP BY event_date, proto, user ORDER BY event_date",
    ),
    (
        "long_certs",
        "SELECT DISTINCT event_date, COUNT ( * ) AS count, identity_user AS user FROM cert_create WHERE from_iso8601_timestamp(identity_expires) - from_iso8601_timestamp( time ) > INTERVAL '1' DAY GROUP BY event_date, identity_user ORDER BY event_date",
    ),
    (
        "long_tokens",
        "SELECT event_date, COUNT ( * ) as count, node_name, host_id FROM instance_join WHERE FROM_ISO8601_TIMESTAMP(token_expires) - FROM_ISO8601_TIMESTAMP( time ) > INTERVAL '1' DAY GROUP BY event_date, node_name, host_id ORDER BY event_date",
    ),
    (
        "root_ssh",
        "SELECT event_date, COUNT ( * ) as count, user FROM session_start WHERE login = 'root' GROUP BY event_date, user ORDER BY event_date",
    ),
    (
        "kube_masters",
        "SELECT event_date, COUNT ( * ) as count, user FROM kube_request WHERE CONTAINS (kubernetes_groups, 'system:masters' ) GROUP BY event_date, user ORDER BY event_date",
    ),
];

async fn compare(events: &std::path::Path, lake: &auditlake::lake::Lake, tenant: &str) {
    let script = common::repo().join("tests/differential/seed_queries_duckdb.py");
    let out = common::run_python(&std::fs::read_to_string(script).unwrap(), &[events]);
    let oracle: BTreeMap<String, Vec<Vec<Option<String>>>> = serde_json::from_str(&out).unwrap();
    let engine = common::engine(lake, Some(tenant)).await;
    let mut nonempty = 0;
    for (name, sql) in SEED {
        let mut ours: Vec<Vec<Option<String>>> = common::rows(&engine, sql)
            .await
            .into_iter()
            .map(|r| r.into_iter().map(|c| (c != "NULL").then_some(c)).collect())
            .collect();
        ours.sort();
        let theirs = oracle
            .get(*name)
            .unwrap_or_else(|| panic!("oracle lacks {name}"));
        assert_eq!(&ours, theirs, "{name}: ours vs DuckDB");
        nonempty += usize::from(!ours.is_empty());
    }
    assert!(
        nonempty >= SEED.len() - 1,
        "fixture too thin: only {nonempty} queries return rows"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_queries_match_duckdb_on_fixture() {
    let (_dir, lake) = common::fixture_lake().await;
    compare(&common::fixture("lake/acme.ndjson"), &lake, "acme").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_queries_match_duckdb_on_demo_data() {
    // A generated week of the demo company: thousands of events no one wrote by hand.
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("demo.ndjson");
    let text = common::demo_lines(7, 7, 1500, Some("acme")).join("\n");
    std::fs::write(&events, &text).unwrap();
    let lake = auditlake::lake::Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    common::ingest(&lake, "acme", std::slice::from_ref(&events)).await;
    compare(&events, &lake, "acme").await;
}
