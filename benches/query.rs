//! Query speed: the nine Privileged Access Report queries over a lake of demo Teleport events
//! (default 200 k; `AUDITLAKE_BENCH_EVENTS`), 2 threads, one warm engine. The side-by-side with
//! DuckDB over the same files is `benches/compare_query.sh`.

// Benchmark code may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;

use auditlake::query::engine::{Engine, EngineOptions};
use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt;

fn bench_report(c: &mut Criterion) {
    let n: u64 = std::env::var("AUDITLAKE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_dir, lake) = rt.block_on(common::demo_lake(n));
    let mut opts = EngineOptions::new(lake);
    opts.tenant = Some("bench".into());
    opts.threads = 2;
    let engine = Arc::new(rt.block_on(Engine::new(opts)).unwrap());
    let report = auditlake::analysis::report::builtin();
    let mut g = c.benchmark_group("query");
    g.sample_size(10);
    g.bench_function(format!("nine_report_queries_{n}_events_2_threads"), |b| {
        b.to_async(&rt).iter(|| {
            let engine = engine.clone();
            let queries: Vec<String> = report.queries.iter().map(|q| q.sql.clone()).collect();
            async move {
                for sql in queries {
                    let (mut s, _) = engine.execute_stream(&sql).await.unwrap();
                    while let Some(b) = s.next().await {
                        b.unwrap();
                    }
                }
            }
        })
    });
    g.bench_function(format!("one_view_all_columns_{n}_events"), |b| {
        b.to_async(&rt).iter(|| {
            let engine = engine.clone();
            async move {
                let (mut s, _) = engine
                    .execute_stream("SELECT * FROM session_start")
                    .await
                    .unwrap();
                while let Some(b) = s.next().await {
                    b.unwrap();
                }
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench_report);
criterion_main!(benches);
