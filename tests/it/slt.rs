//! Runs every `tests/slt/*.slt` through the sqllogictest crate with our engine as the database:
//! reviewers read queries and results, not Rust.

use std::sync::Arc;

use async_trait::async_trait;
use auditlake::query::engine::Engine;
use sqllogictest::{DBOutput, DefaultColumnType};

use crate::common;

struct Db(Arc<Engine>);

#[derive(Debug)]
struct SltError(String);
impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for SltError {}

#[async_trait]
impl sqllogictest::AsyncDB for Db {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let res = self.0.execute(sql).await.map_err(|e| {
            // The whole chain, as the CLI prints it, so `statement error` can match the cause.
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(c) = src {
                msg.push_str(": ");
                msg.push_str(&c.to_string());
                src = c.source();
            }
            SltError(msg)
        })?;
        let types = vec![DefaultColumnType::Any; res.schema.fields().len()];
        let mut rows = Vec::new();
        for b in &res.batches {
            for r in 0..b.num_rows() {
                rows.push(
                    b.columns()
                        .iter()
                        .map(|c| match auditlake::faces::output::cell_text(c, r) {
                            Ok(Some(s)) if s.is_empty() => "(empty)".to_string(),
                            Ok(Some(s)) => s,
                            Ok(None) => "NULL".to_string(),
                            Err(e) => format!("<error: {e}>"),
                        })
                        .collect(),
                );
            }
        }
        if res.schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "auditlake"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slt_files() {
    let (_dir, lake) = common::fixture_lake().await;
    let engine = Arc::new(common::engine(&lake, Some("acme")).await);
    let mut files: Vec<_> = std::fs::read_dir(common::repo().join("tests/slt"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    for f in &files {
        let e = engine.clone();
        let mut runner = sqllogictest::Runner::new(move || {
            let e = e.clone();
            async move { Ok::<_, SltError>(Db(e)) }
        });
        if let Err(err) = runner.run_file_async(f).await {
            failures.push(format!("{}:\n{err}", f.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} slt file(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
