//! `auditlake queries create|ls|get|rm|run`: saved audit queries in the lake.

use std::process::ExitCode;
use std::time::Instant;

use clap::Subcommand;

use super::args::{CatalogArgs, LakeArgs, NamedArgs, ScopeArgs};
use crate::analysis::report::{self, RunBy};
use crate::error::{Error, Result};
use crate::faces::exec::{PrintOptions, print_result};
use crate::faces::output::Format;
use crate::lake::store::SavedQuery;
use crate::query::cells::escape_control;
use crate::query::engine::Engine;

/// Saved audit queries, kept in the lake (`_catalog/queries/`) for every face to share.
#[derive(Debug, Subcommand)]
pub enum QueriesCmd {
    /// Save a query; it must plan against the catalog (unknown view or column: refused).
    Create {
        #[command(flatten)]
        lake: LakeArgs,
        /// The scope the SQL is planned in (as `query` and `queries run` take it).
        #[command(flatten)]
        scope: ScopeArgs,
        /// Name: lowercase letters, digits, `_` and `-`.
        name: String,
        /// The SQL (Trino SQL, as on Athena).
        sql: String,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Advice shown with the results when rows are found.
        #[arg(long, default_value = "")]
        suggestion: String,
        /// Overwrite a saved query of the same name.
        #[arg(long)]
        replace: bool,
    },
    /// List saved queries (without --tenant: every tenant's, others' as `tenant/name`).
    Ls(CatalogArgs),
    /// Print a saved query (YAML).
    Get(NamedArgs),
    /// Remove a saved query.
    Rm(NamedArgs),
    /// Run a saved query.
    Run {
        #[command(flatten)]
        lake: LakeArgs,
        #[command(flatten)]
        scope: ScopeArgs,
        name: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// YAML of a saved object, as `get` prints it.
pub fn yaml<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_yaml::to_string(v).map_err(|e| Error::Yaml {
        what: "the saved definition".into(),
        source: e,
    })
}

pub async fn run(cmd: QueriesCmd) -> Result<ExitCode> {
    match cmd {
        QueriesCmd::Create {
            lake,
            scope,
            name,
            sql,
            title,
            description,
            suggestion,
            replace,
        } => {
            let lake = lake.open()?;
            let q = SavedQuery {
                name,
                title,
                description,
                sql: sql.trim().trim_end_matches(';').to_string(),
                suggestion,
                created_at: crate::lake::store::now_rfc3339(),
            };
            // Checked against the catalog before anything is saved: planned as `query` plans
            // it, but with views over `event_data`, so checking builds no view sidecars.
            let mut check = scope.engine_options(lake.clone());
            check.view_accel = false;
            Engine::new(check).await?.plan(&q.sql).await?;
            report::saved(&lake, scope.tenant.as_deref())
                .create_query(&q, replace)
                .await?;
            println!("saved query '{}'", q.name);
        }
        QueriesCmd::Ls(CatalogArgs { lake, tenant }) => {
            let lake = lake.open()?;
            let cat = report::saved(&lake, tenant.get());
            for n in cat.queries().await? {
                let q = cat.query(&n).await?;
                println!("{n}\t{}", escape_control(&q.title));
            }
        }
        QueriesCmd::Get(NamedArgs {
            catalog: CatalogArgs { lake, tenant },
            name,
        }) => {
            let lake = lake.open()?;
            print!(
                "{}",
                yaml(&report::saved(&lake, tenant.get()).query(&name).await?)?
            );
        }
        QueriesCmd::Rm(NamedArgs {
            catalog: CatalogArgs { lake, tenant },
            name,
        }) => {
            let lake = lake.open()?;
            report::saved(&lake, tenant.get())
                .remove_query(&name)
                .await?;
            println!("removed query '{name}'");
        }
        QueriesCmd::Run {
            lake,
            scope,
            name,
            format,
        } => {
            let lake = lake.open()?;
            let q = report::saved(&lake, scope.tenant.as_deref())
                .query(&name)
                .await?;
            let engine = Engine::new(scope.engine_options(lake.clone())).await?;
            let started = Instant::now();
            let res = engine.execute(&q.sql).await;
            let by = RunBy {
                who: crate::lake::store::current_user(),
                tenant: scope.tenant(),
                days: scope.days,
            };
            let bytes = res.as_ref().map(|r| r.stats.bytes_scanned).unwrap_or(0);
            report::record(
                &lake,
                "query",
                &name,
                &by,
                started,
                bytes,
                res.as_ref().err(),
            )
            .await;
            let stdout = std::io::stdout();
            print_result(
                &res?,
                started,
                &PrintOptions::new(format),
                &mut stdout.lock(),
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
