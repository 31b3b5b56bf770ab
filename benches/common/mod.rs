//! What the benches share: a lake of demo Teleport events (30 days from 2024-05-01, seed 1),
//! ingested with 2 threads, so every bench reads the same input.

use std::sync::Arc;

use auditlake::demo::{DemoSources, DemoSpec};
use auditlake::ingest::{Chunk, IngestOptions};
use auditlake::lake::Lake;

/// A temporary lake holding about `n` demo events for tenant `bench`.
pub async fn demo_lake(n: u64) -> (tempfile::TempDir, Lake) {
    let spec = DemoSpec {
        seed: 1,
        start: chrono::NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(),
        days: 30,
        events_per_day: (n / 30) as u32,
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
    auditlake::ingest::run(&lake, opts, move |tx| {
        for (i, chunk) in lines.chunks(4096).enumerate() {
            let c = Chunk::of(
                Arc::from("bench"),
                Arc::from("bench"),
                (i * 4096) as u64,
                chunk,
            );
            if tx.send(c).is_err() {
                break;
            }
        }
        Ok(0)
    })
    .await
    .unwrap();
    (dir, lake)
}
