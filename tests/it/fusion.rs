//! JSON fusion: a view's JSON columns are extracted in one pass per row (seen in the plan).

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_columns_share_one_json_pass() {
    let (_dir, lake) = common::fixture_lake().await;
    let engine = common::engine(&lake, Some("acme")).await;
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
