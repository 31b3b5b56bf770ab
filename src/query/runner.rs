//! `QueryRunner`: what every face and analysis runs statements through, implemented by both
//! engines (the in-process DataFusion `Engine` and `Athena`), so no caller picks between them.

use async_trait::async_trait;

use super::athena::Athena;
use super::engine::{Engine, QueryResult};
use crate::error::Result;

/// Runs one read-only statement in the runner's scope (tenant, days).
#[async_trait]
pub trait QueryRunner: Send + Sync {
    /// Runs `sql` and collects the result.
    async fn execute(&self, sql: &str) -> Result<QueryResult>;
    /// The days window of the scope, as reports print it.
    fn days(&self) -> Option<u32>;
    /// `local` or `athena`, for run records and messages.
    fn engine_name(&self) -> &'static str;
}

#[async_trait]
impl QueryRunner for Engine {
    async fn execute(&self, sql: &str) -> Result<QueryResult> {
        Engine::execute(self, sql).await
    }
    fn days(&self) -> Option<u32> {
        self.options().days
    }
    fn engine_name(&self) -> &'static str {
        "local"
    }
}

#[async_trait]
impl QueryRunner for Athena {
    async fn execute(&self, sql: &str) -> Result<QueryResult> {
        Athena::execute(self, sql).await
    }
    fn days(&self) -> Option<u32> {
        Athena::days(self)
    }
    fn engine_name(&self) -> &'static str {
        "athena"
    }
}
