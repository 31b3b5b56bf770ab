//! JSON fusion: a view's JSON columns are extracted in one pass per row (seen in the plan).

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_columns_share_one_json_pass() {
    let (_dir, lake) = common::fixture_lake().await;
    let engine = common::engine_plain(&lake, Some("acme")).await;
    let plan = engine.plan("SELECT * FROM session_start").await.unwrap();
    let text = datafusion::physical_plan::displayable(plan.as_ref())
        .indent(true)
        .to_string();
    let fused = text.matches("fused_json[").count();
    assert!(
        fused >= 10,
        "expected the view's JSON columns fused, got {fused}:\n{text}"
    );
    assert!(
        !text.contains("json_extract_scalar("),
        "an unfused extraction is left:\n{text}"
    );
    // A single extraction is left alone (nothing to share).
    let plan = engine
        .plan("SELECT json_extract_scalar(event_data, '$.user') FROM events")
        .await
        .unwrap();
    let text = datafusion::physical_plan::displayable(plan.as_ref())
        .indent(true)
        .to_string();
    assert!(!text.contains("fused_json["), "{text}");
}

/// The same SQL with every JSON path made non-literal (reading `event_type`), which no fusion
/// touches: the reference the fused plans are checked against.
fn unfused(sql: &str) -> String {
    let re = regex::Regex::new(r"(json_extract(?:_scalar)?)\(event_data, '([^']*)'\)").unwrap();
    re.replace_all(
        sql,
        "$1(event_data, concat(substr(event_type, 1, 0), '$2'))",
    )
    .into_owned()
}

use common::plan_text;

/// A demo week of Teleport events: conjuncts over `event_data` paths are fused into one
/// predicate that the Parquet scan receives whole, and every answer equals the unfused one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_conjuncts_on_json_share_one_pass_and_answer_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("demo.ndjson");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_auditlake"))
        .args([
            "demo",
            "--teleport-only",
            "--seed",
            "7",
            "--start",
            "2024-05-01",
        ])
        .args(["--days", "3", "--events-per-day", "4000", "--out"])
        .arg(&events)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lake = auditlake::lake::Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    common::ingest(&lake, "acme", &[events]).await;
    let engine = common::engine_plain(&lake, Some("acme")).await;
    let j = |p: &str| format!("json_extract_scalar(event_data, '$.{p}')");
    let queries = [
        // The weak-security shape: four absent-field tests on one event type.
        format!(
            "SELECT event_date, identity, count(*) FROM events WHERE event_type = 'kube.request' \
             AND {} IS NULL AND {} IS NULL AND {} IS NULL \
             AND cardinality(CAST(json_extract(event_data, '$.access_requests') AS ARRAY<VARCHAR>)) IS NULL \
             GROUP BY 1, 2 ORDER BY 1, 2",
            j("with_mfa"),
            j("impersonator"),
            j("trusted_device.device_id")
        ),
        format!(
            "SELECT identity, count(*) FROM events WHERE event_type = 'session.start' AND {} = 'ssh' \
             AND {} = 'root' GROUP BY 1 ORDER BY 1",
            j("proto"),
            j("login")
        ),
        // An OR inside one conjunct, a NOT, and a conjunct that also reads another column
        // (left out of the fusion).
        format!(
            "SELECT count(*) FROM events WHERE ({} = 'postgres' OR {} = 'postgres') \
             AND NOT ({} IS NULL) AND {} = identity",
            j("db_protocol"),
            j("db_user"),
            j("db_name"),
            j("user")
        ),
        format!(
            "SELECT event_type, count(*) FROM events WHERE {} IS NOT NULL AND {} LIKE '%a%' \
             GROUP BY 1 ORDER BY 1",
            j("user"),
            j("cluster_name")
        ),
    ];
    for q in &queries {
        let plan = engine.plan(q).await.unwrap();
        let text = plan_text(&plan);
        let scan = text
            .lines()
            .find(|l| l.contains("DataSourceExec"))
            .unwrap_or_default();
        assert!(
            scan.contains("fused_json_filter("),
            "the fused predicate is not in the scan:\n{text}"
        );
        let reference = unfused(q);
        assert_ne!(&reference, q);
        let reference_plan = plan_text(&engine.plan(&reference).await.unwrap());
        assert!(
            !reference_plan.contains("fused_json_filter("),
            "{reference_plan}"
        );
        let (a, b) = (
            common::rows(&engine, q).await,
            common::rows(&engine, &reference).await,
        );
        assert_eq!(a, b, "{q}");
        assert!(
            !a.is_empty() && a[0].last().is_some_and(|n| n != "0"),
            "nothing matched, the comparison proves little: {q}"
        );
    }
    // The report query that motivated it, through its view.
    let plan = engine
        .plan(
            "SELECT event_date, count(*) FROM kube_request WHERE cardinality(access_requests) IS NULL \
             AND with_mfa IS NULL AND impersonator IS NULL AND trusted_device_device_id IS NULL \
             GROUP BY event_date",
        )
        .await
        .unwrap();
    assert!(
        plan_text(&plan).contains("fused_json_filter("),
        "{}",
        plan_text(&plan)
    );
}

/// Fused conjuncts run in order, each on the rows the previous kept: a cast that would fail on
/// rows an earlier conjunct removes is never evaluated on them (as with separate row filters).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fused_conjuncts_see_only_the_rows_earlier_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("e.ndjson");
    let mut lines = Vec::new();
    for i in 0..3000 {
        let (kind, v) = if i % 3 == 0 {
            ("n", (i % 10).to_string())
        } else {
            ("s", "abc".to_string())
        };
        lines.push(format!(
            r#"{{"event":"custom.{kind}","code":"T1I","time":"2024-03-20T10:00:{:02}Z","uid":"u{i}","kind":"{kind}","v":"{v}"}}"#,
            i % 60
        ));
    }
    std::fs::write(&f, lines.join("\n")).unwrap();
    let lake = auditlake::lake::Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    common::ingest(&lake, "acme", &[f]).await;
    let engine = common::engine(&lake, Some("acme")).await;
    let q = "SELECT count(*) FROM events WHERE json_extract_scalar(event_data, '$.kind') = 'n' \
             AND CAST(json_extract_scalar(event_data, '$.v') AS INT) > 5";
    assert!(plan_text(&engine.plan(q).await.unwrap()).contains("fused_json_filter("));
    // i % 3 == 0 and i % 10 > 5: i ≡ 0 mod 3 with last digit 6..9 → 4 of every 30.
    assert_eq!(
        common::rows(&engine, q).await,
        vec![vec!["400".to_string()]]
    );
}
