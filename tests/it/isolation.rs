//! Tenant isolation: an engine scoped to `acme` never returns a row of `globex`, whatever the
//! query shape, and cannot be talked into reading files or writing.

use auditlake::error::ErrorKind;

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_engine_never_sees_another_tenant() {
    let (dir, lake) = common::fixture_lake().await;
    // Unscoped, globex's rows exist — so the checks below can fail.
    let open = common::engine(&lake, None).await;
    let seen = common::rows(
        &open,
        "SELECT count(*) FROM session_start WHERE user = 'mallory'",
    )
    .await;
    assert_eq!(seen, vec![vec!["1".to_string()]]);

    let engine = common::engine(&lake, Some("acme")).await;
    let globex_file = super::schema::walk(dir.path())
        .into_iter()
        .find(|p| {
            p.to_string_lossy().contains("/globex/")
                && p.extension().is_some_and(|e| e == "parquet")
        })
        .unwrap();
    let f = globex_file.display();
    let shapes = [
        "SELECT * FROM events WHERE tenant_id = 'globex'".to_string(),
        "SELECT * FROM events".to_string(),
        "SELECT * FROM (SELECT * FROM events) t WHERE t.tenant_id <> 'acme'".to_string(),
        "SELECT identity FROM events UNION ALL SELECT user FROM session_start".to_string(),
        "SELECT a.event_data FROM events a JOIN events b ON a.uid = b.uid".to_string(),
        "SELECT * FROM session_start".to_string(),
        "SELECT * FROM cert_create WHERE identity_user = 'mallory'".to_string(),
        "SELECT * FROM auditlake.public.events".to_string(),
        "SELECT * FROM information_schema.tables".to_string(),
        "SELECT * FROM information_schema.views".to_string(),
        "WITH x AS (SELECT * FROM events) SELECT * FROM x".to_string(),
        format!("SELECT * FROM '{f}'"),
        format!("SELECT * FROM read_parquet('{f}')"),
        format!("CREATE EXTERNAL TABLE stolen STORED AS PARQUET LOCATION '{f}'"),
        "CREATE VIEW v AS SELECT 1".to_string(),
        "COPY (SELECT 1) TO '/tmp/x.csv'".to_string(),
        "INSERT INTO events SELECT * FROM events".to_string(),
        "SET datafusion.execution.target_partitions = 1".to_string(),
    ];
    for sql in shapes {
        match engine.execute(&sql).await {
            Ok(res) => {
                for b in &res.batches {
                    for r in 0..b.num_rows() {
                        for c in b.columns() {
                            let cell = auditlake::faces::output::cell_text(c, r)
                                .unwrap()
                                .unwrap_or_default();
                            assert!(
                                !cell.contains("globex") && !cell.contains("mallory"),
                                "{sql} leaked {cell}"
                            );
                        }
                    }
                }
            }
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    ErrorKind::InvalidInput | ErrorKind::PermissionDenied
                ),
                "{sql}: unexpected error kind {:?}: {e}",
                e.kind()
            ),
        }
    }
    // Writes are refused as such, not as syntax errors.
    for sql in [
        "CREATE VIEW v AS SELECT 1",
        "INSERT INTO events SELECT * FROM events",
    ] {
        let e = engine.execute(sql).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{sql}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_tenant_is_refused() {
    let (_dir, lake) = common::fixture_lake().await;
    let mut o = auditlake::query::engine::EngineOptions::new(lake);
    o.tenant = Some("../globex".into());
    assert!(auditlake::query::engine::Engine::new(o).await.is_err());
}
