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
    /// Stop a query after this many seconds.
    #[arg(long, default_value_t = engine::DEFAULT_TIMEOUT_SECS)]
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
