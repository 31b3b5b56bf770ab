//! Flags several commands share, and the one step that resolves them into what a command runs
//! on — the lake and a `QueryRunner` (ripgrep's low → high args), so no command picks an engine
//! itself.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::config::IdentityActivityCenter;
use crate::error::{Error, Result};
use crate::lake::{DEFAULT_LAKE, Lake};
use crate::query::athena::Athena;
use crate::query::engine::{self, Engine, EngineOptions, Limits};
use crate::query::runner::QueryRunner;
use crate::tenant::TenantId;

#[derive(Debug, Args, Clone)]
pub struct LakeArgs {
    /// The lake: a directory or s3://bucket[/prefix] (AWS settings from the environment).
    #[arg(long, env = "AUDITLAKE_LAKE", default_value = DEFAULT_LAKE)]
    pub lake: String,
}

impl LakeArgs {
    pub fn open(&self) -> Result<Lake> {
        Lake::open(&self.lake)
    }
}

/// Which engine runs the SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineKind {
    /// DataFusion in this process, over `--lake`.
    Local,
    /// Amazon Athena: the config's Glue table, workgroup and s3_results.
    Athena,
}

#[derive(Debug, Args, Clone)]
pub struct EngineArgs {
    /// Where the SQL runs: `local` (DataFusion over --lake) or `athena` (the config's Glue
    /// table, workgroup and s3_results; the views travel as a WITH header).
    #[arg(long, value_enum, default_value_t = EngineKind::Local)]
    pub engine: EngineKind,
    /// Config file with the `identity_activity_center:` block (for `--engine athena`).
    #[arg(long, env = "AUDITLAKE_CONFIG")]
    pub config: Option<PathBuf>,
}

impl EngineArgs {
    /// The config named by `--config`, when given.
    pub fn load_config(&self) -> Result<Option<IdentityActivityCenter>> {
        self.config
            .as_ref()
            .map(|p| IdentityActivityCenter::load(p))
            .transpose()
    }
}

/// `--tenant` alone (the saved-catalog commands that run no query).
#[derive(Debug, Args, Clone)]
pub struct TenantArg {
    /// Only this tenant's saved queries and reports (default: every tenant's, as the operator
    /// sees them; other tenants' names as `tenant/name`).
    #[arg(long)]
    pub tenant: Option<TenantId>,
}

impl TenantArg {
    pub fn get(&self) -> Option<&str> {
        self.tenant.as_deref()
    }
}

/// A saved catalog (`ls`): the lake and, optionally, one tenant's part of it.
#[derive(Debug, Args, Clone)]
pub struct CatalogArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub tenant: TenantArg,
}

/// One saved object by name (`get`, `rm`).
#[derive(Debug, Args, Clone)]
pub struct NamedArgs {
    #[command(flatten)]
    pub catalog: CatalogArgs,
    pub name: String,
}

#[derive(Debug, Args, Clone)]
pub struct ScopeArgs {
    /// Only this tenant's partitions are visible.
    #[arg(long)]
    pub tenant: Option<TenantId>,
    /// Only the last N days of partitions (today included), like `tctl audit query exec --days`.
    #[arg(long)]
    pub days: Option<u32>,
    /// Name of the events table (the Glue table's name).
    #[arg(long, default_value = engine::DEFAULT_TABLE)]
    pub table: String,
    /// Stop a query after it read this many bytes (default: 20 GiB, the seed's workgroup cutoff).
    #[arg(long)]
    pub max_bytes_scanned: Option<u64>,
    /// Stop a query after this many seconds (1 to 31,622,400: 366 days).
    #[arg(long, default_value_t = engine::DEFAULT_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=engine::MAX_TIMEOUT_SECS))]
    pub timeout_secs: u64,
    /// Memory the engine may use, in MiB.
    #[arg(long, default_value_t = engine::DEFAULT_MEMORY_LIMIT_MB)]
    pub memory_limit_mb: usize,
}

impl ScopeArgs {
    pub fn tenant(&self) -> Option<String> {
        self.tenant.as_ref().map(|t| t.to_string())
    }

    /// Options of the local engine over `lake` in this scope.
    pub fn engine_options(&self, lake: Lake) -> EngineOptions {
        let mut o = EngineOptions::new(lake);
        o.tenant = self.tenant();
        o.days = self.days;
        o.table = self.table.clone();
        o.limits = Limits {
            max_bytes_scanned: self
                .max_bytes_scanned
                .unwrap_or(engine::DEFAULT_MAX_BYTES_SCANNED),
            timeout: Duration::from_secs(self.timeout_secs),
            memory_limit_bytes: self.memory_limit_mb.saturating_mul(1024 * 1024),
        };
        o
    }
}

/// What a query command runs on, resolved once from its flags.
pub struct Resolved {
    /// Where run records go: `--lake`, or the config's `s3` on Athena.
    pub lake: Lake,
    pub runner: Box<dyn QueryRunner>,
}

impl Resolved {
    /// The runner `--engine` names, in `scope`; `local` customises the local engine's options
    /// (alerts' `--since/--until`).
    pub async fn new(
        lake: &LakeArgs,
        scope: &ScopeArgs,
        engine: &EngineArgs,
        local: impl FnOnce(&mut EngineOptions),
    ) -> Result<Resolved> {
        match engine.engine {
            EngineKind::Local => {
                let lake = lake.open()?;
                let mut opts = scope.engine_options(lake.clone());
                local(&mut opts);
                Ok(Resolved {
                    lake,
                    runner: Box::new(Engine::new(opts).await?),
                })
            }
            EngineKind::Athena => {
                let cfg = engine
                    .load_config()?
                    .ok_or_else(|| Error::Config("--engine athena needs --config FILE".into()))?;
                let opts = Athena::options_from(
                    &cfg,
                    scope.tenant.as_deref(),
                    scope.days,
                    Duration::from_secs(scope.timeout_secs),
                )?;
                Ok(Resolved {
                    lake: Lake::open(&cfg.s3)?,
                    runner: Box::new(Athena::new(opts).await?),
                })
            }
        }
    }
}

/// Which typed view sidecars (`accel/`) a command that writes partitions builds for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ViewsArg {
    /// The columns the built-in report and the tenant's saved queries read.
    Reports,
    /// Every column of every view.
    All,
    /// None: each view's first query builds the columns it reads.
    None,
}

/// Saved queries whose columns `--views reports` prepares, at most (the rest are built by
/// their first run): the catalog is the lake's, but its size is not a write's to pay for.
pub const MAX_PREPARED_QUERIES: usize = 256;

#[derive(Debug, Args, Clone)]
pub struct ViewsArgs {
    /// After writing, build typed view sidecars (`accel/`) for the partitions written, so the
    /// first queries read typed columns instead of parsing `event_data`: `reports` builds the
    /// columns the built-in report and the tenant's saved queries read (one sidecar per view
    /// they read), `all` every column of every view, `none` nothing (each view's first query
    /// then builds the columns it reads).
    #[arg(long, value_enum, default_value_t = ViewsArg::Reports)]
    pub views: ViewsArg,
    /// The same as `--views all`.
    #[arg(long)]
    pub build_views: bool,
}

impl ViewsArgs {
    /// Builds what was asked for these days of one tenant; the line to print, if anything was
    /// built. Acceleration off (`AUDITLAKE_VIEW_ACCEL=0`) builds nothing. Never fails the
    /// command: the data is written (or compacted) by then, and a view's first query builds
    /// what is missing, so a failure here is a warning.
    pub async fn prepare(
        &self,
        lake: &Lake,
        tenant: &str,
        dates: &[chrono::NaiveDate],
    ) -> Option<String> {
        match self.try_prepare(lake, tenant, dates).await {
            Ok(line) => line,
            Err(e) => {
                tracing::warn!(tenant = %tenant, error = %e, "view sidecars not built");
                Some(format!(
                    "view sidecars not built ({e}); each view's first query builds them"
                ))
            }
        }
    }

    async fn try_prepare(
        &self,
        lake: &Lake,
        tenant: &str,
        dates: &[chrono::NaiveDate],
    ) -> Result<Option<String>> {
        use crate::query::accel::{self, Builds};
        let views = if self.build_views {
            ViewsArg::All
        } else {
            self.views
        };
        if views == ViewsArg::None || dates.is_empty() || !accel::enabled_by_env() {
            return Ok(None);
        }
        let statements = match views {
            ViewsArg::Reports => report_statements(lake, tenant).await,
            _ => Vec::new(),
        };
        let what = match views {
            ViewsArg::Reports => Builds::ReadBy(&statements),
            _ => Builds::Whole,
        };
        let b = accel::build_views(lake, tenant, dates, what).await?;
        if b.views == 0 {
            return Ok(None);
        }
        Ok(Some(format!(
            "view sidecars ({}): {} views over {} partitions in {:.2}s{}",
            match views {
                ViewsArg::Reports => "the columns reports read",
                _ => "every column",
            },
            b.views,
            b.partitions,
            b.elapsed.as_secs_f64(),
            if b.failed > 0 {
                format!(" ({} not built: their first query builds them)", b.failed)
            } else {
                String::new()
            }
        )))
    }
}

/// The statements whose view columns `--views reports` builds: the built-in report's and the
/// tenant's saved queries (saved reports run saved queries). A catalog that cannot be read is
/// a warning: the built-in report is prepared anyway.
async fn report_statements(lake: &Lake, tenant: &str) -> Vec<String> {
    let mut out: Vec<String> = crate::analysis::report::builtin()
        .queries
        .into_iter()
        .map(|q| q.sql)
        .collect();
    let catalog = crate::lake::store::Catalog::scoped(lake, Some(tenant));
    match catalog.queries().await {
        Ok(names) => {
            if names.len() > MAX_PREPARED_QUERIES {
                tracing::info!(
                    saved = names.len(),
                    prepared = MAX_PREPARED_QUERIES,
                    "more saved queries than are prepared; the others build their columns on first run"
                );
            }
            for n in names.iter().take(MAX_PREPARED_QUERIES) {
                match catalog.query(n).await {
                    Ok(q) => out.push(q.sql),
                    Err(e) => {
                        tracing::warn!(query = %n, error = %e, "saved query unreadable; not prepared")
                    }
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "saved queries unreadable; preparing the built-in report only")
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::store::{Catalog, SavedQuery};

    /// A tenant's saved queries are prepared by `--views reports` up to the bound, no more: a
    /// catalog of thousands costs a write the bound, and the built-in report is always there.
    #[tokio::test]
    async fn saved_queries_prepared_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let builtin = crate::analysis::report::builtin().queries.len();
        let catalog = Catalog::scoped(&lake, Some("acme"));
        let save = |i: usize| SavedQuery {
            name: format!("q{i:04}"),
            title: format!("query {i}"),
            description: String::new(),
            sql: format!("SELECT {i} AS n"),
            suggestion: String::new(),
            created_at: "2026-12-08T00:00:00Z".to_string(),
        };
        for i in 0..3 {
            catalog.create_query(&save(i), false).await.unwrap();
        }
        let few = report_statements(&lake, "acme").await;
        assert_eq!(few.len(), builtin + 3);
        assert!(few.contains(&"SELECT 2 AS n".to_string()));
        for i in 3..MAX_PREPARED_QUERIES + 5 {
            catalog.create_query(&save(i), false).await.unwrap();
        }
        let many = report_statements(&lake, "acme").await;
        assert_eq!(many.len(), builtin + MAX_PREPARED_QUERIES);
        // Another tenant's catalog is not this one's.
        assert_eq!(report_statements(&lake, "other").await.len(), builtin);
    }
}
