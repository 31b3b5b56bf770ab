//! Query speed: the nine Privileged Access Report queries over a lake of demo Teleport events
//! (default 200 k; `AUDITLAKE_BENCH_EVENTS`), 2 threads, one warm engine. The side-by-side with
//! DuckDB over the same files is `benches/compare_query.sh`.

use std::sync::Arc;

use auditlake::demo::{DemoSources, DemoSpec};
use auditlake::engine::{Engine, EngineOptions};
use auditlake::ingest::{Chunk, IngestOptions};
use auditlake::lake::Lake;
use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt;

fn lake(rt: &tokio::runtime::Runtime, n: u32) -> (tempfile::TempDir, Lake) {
    let spec = DemoSpec {
        seed: 1,
        start: chrono::NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(),
        days: 30,
        events_per_day: n / 30,
        sources: DemoSources::TeleportOnly,
    };
    let mut lines = Vec::with_capacity(n as usize);
    auditlake::demo::generate(&spec, &mut |_t, line| lines.push(line.to_string()));
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let opts = IngestOptions {
        tenant: "bench".into(),
        threads: 2,
        ..Default::default()
    };
    rt.block_on(auditlake::ingest::run(&lake, opts, move |tx| {
        for (i, chunk) in lines.chunks(4096).enumerate() {
            let c = Chunk {
                tenant: Arc::from("bench"),
                input: Arc::from("bench"),
                first_line: (i * 4096) as u64,
                lines: chunk.to_vec(),
            };
            if tx.send(c).is_err() {
                break;
            }
        }
        Ok(0)
    }))
    .unwrap();
    (dir, lake)
}

fn bench_report(c: &mut Criterion) {
    let n = std::env::var("AUDITLAKE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_dir, lake) = lake(&rt, n);
    let mut opts = EngineOptions::new(lake);
    opts.tenant = Some("bench".into());
    opts.threads = 2;
    let engine = Arc::new(rt.block_on(Engine::new(opts)).unwrap());
    let report = auditlake::report::builtin();
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
