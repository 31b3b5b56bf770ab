//! Flight SQL throughput: a ~10 M-row result streamed to the ADBC Flight SQL driver (PyPI) over
//! loopback, against reading the same result in-process from the engine. Prints rows/s and
//! MB/s (Arrow buffer bytes of the result) for both, and their ratio (target ≥ 70 %).
//!
//! `cargo bench --bench flight` (env: `AUDITLAKE_BENCH_EVENTS`, default 1 M demo events; the
//! query repeats them to reach `AUDITLAKE_BENCH_ROWS`, default 10 M rows).

// Benchmark code may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

#[path = "common/mod.rs"]
mod common;

use std::time::Instant;

use arrow::array::Array;
use auditlake::query::engine::{Engine, EngineOptions};
use futures::StreamExt;

fn env_num(k: &str, default: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn python() -> String {
    let out = std::process::Command::new("bash")
        .arg("scripts/python-env.sh")
        .output()
        .expect("scripts/python-env.sh");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

const CLIENT: &str = r#"
import json, sys, time
import adbc_driver_flightsql.dbapi as flightsql
from adbc_driver_flightsql import DatabaseOptions
uri, token, sql = sys.argv[1], sys.argv[2], sys.argv[3]
with flightsql.connect(uri, db_kwargs={DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {token}"}) as conn:
    cur = conn.cursor()
    t0 = time.perf_counter()
    cur.execute(sql)
    rows = nbytes = batches = 0
    for b in cur.fetch_record_batch():
        rows += b.num_rows
        nbytes += b.nbytes
        batches += 1
    secs = time.perf_counter() - t0
print(json.dumps({"rows": rows, "bytes": nbytes, "batches": batches, "secs": secs}))
"#;

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let events = env_num("AUDITLAKE_BENCH_EVENTS", 1_000_000);
        let want_rows = env_num("AUDITLAKE_BENCH_ROWS", 10_000_000);
        let (dir, lake) = common::demo_lake(events).await;
        let mut opts = EngineOptions::new(lake.clone());
        opts.tenant = Some("bench".into());
        opts.threads = 2;
        let engine = Engine::new(opts.clone()).await.unwrap();
        let n: u64 = {
            let (mut s, _) = engine
                .execute_stream("SELECT count(*) FROM events")
                .await
                .unwrap();
            let b = s.next().await.unwrap().unwrap();
            let c = b.column(0).as_any().downcast_ref::<arrow::array::Int64Array>();
            c.unwrap().value(0) as u64
        };
        let k = want_rows.div_ceil(n.max(1));
        let values: Vec<String> = (1..=k).map(|i| format!("({i})")).collect();
        let sql = format!(
            "SELECT uid, event_type, event_time, identity, ip, event_date, t.n FROM events CROSS JOIN (VALUES {}) AS t(n)",
            values.join(", ")
        );

        // In-process.
        let t0 = Instant::now();
        let (mut s, _) = engine.execute_stream(&sql).await.unwrap();
        let (mut rows, mut bytes) = (0u64, 0u64);
        while let Some(b) = s.next().await {
            let b = b.unwrap();
            rows += b.num_rows() as u64;
            bytes += b
                .columns()
                .iter()
                .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0) as u64)
                .sum::<u64>();
        }
        let local_secs = t0.elapsed().as_secs_f64();

        // Over Flight SQL, to the ADBC driver.
        let tokens = dir.path().join("tokens.yaml");
        let token = auditlake::faces::flight::add_token(&tokens, "bench", "bench", None).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = auditlake::faces::flight::AuditFlight::new(lake, opts, tokens).unwrap();
        tokio::spawn(auditlake::faces::flight::serve(server, listener, None, std::future::pending()));
        let out = tokio::process::Command::new(python())
            .args(["-c", CLIENT, &format!("grpc://{addr}"), &token, &sql])
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let (f_rows, f_bytes, f_secs) = (
            v["rows"].as_u64().unwrap(),
            v["bytes"].as_u64().unwrap(),
            v["secs"].as_f64().unwrap(),
        );
        assert_eq!(f_rows, rows, "both sides must see the same result");
        let mb = |b: u64, s: f64| b as f64 / 1e6 / s;
        println!("result: {rows} rows ({n} events × {k}), 7 columns, 2 engine threads");
        println!(
            "in-process     {local_secs:7.2} s  {:>11.0} rows/s  {:7.1} MB/s",
            rows as f64 / local_secs,
            mb(bytes, local_secs)
        );
        println!(
            "Flight → ADBC  {f_secs:7.2} s  {:>11.0} rows/s  {:7.1} MB/s  ({} batches)",
            f_rows as f64 / f_secs,
            mb(f_bytes, f_secs),
            v["batches"]
        );
        println!(
            "Flight / in-process rows/s: {:.0} %",
            100.0 * local_secs / f_secs
        );
    });
}
