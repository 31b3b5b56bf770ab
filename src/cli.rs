//! The command line: `ingest`, `query`, `ddl`, `demo`. Every command builds what it needs from
//! the library (one `Engine` for queries) and prints through `output`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::engine::{Engine, EngineOptions, Limits};
use crate::enrich::GeoIp;
use crate::error::{Error, ErrorKind, Result};
use crate::ingest::{self, IngestOptions, Input};
use crate::lake::{DEFAULT_LAKE, Lake};
use crate::output::{self, Format, TableOptions};
use crate::source::SourceKind;

#[derive(Debug, Parser)]
#[command(
    name = "auditlake",
    version,
    about = "An audit-log lake for security teams: Teleport, CloudTrail, GitHub and Okta events as Athena-compatible Parquet, queried with SQL."
)]
pub struct Cli {
    /// More logging (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct LakeArgs {
    /// The lake: a directory or s3://bucket[/prefix] (AWS settings from the environment).
    #[arg(long, env = "AUDITLAKE_LAKE", default_value = DEFAULT_LAKE)]
    pub lake: String,
}

#[derive(Debug, Args, Clone)]
pub struct EngineArgs {
    /// Where the SQL runs: `local` (DataFusion over --lake) or `athena` (the config's Glue
    /// table, workgroup and s3_results; the views travel as a WITH header).
    #[arg(long, default_value = "local", value_parser = ["local", "athena"])]
    pub engine: String,
    /// Config file with the `identity_activity_center:` block (for `--engine athena`).
    #[arg(long, env = "AUDITLAKE_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The Athena engine and the config's lake (where run records go), when `--engine athena`.
async fn athena_for(
    e: &EngineArgs,
    scope: &ScopeArgs,
) -> Result<Option<(crate::athena::Athena, Lake)>> {
    if e.engine != "athena" {
        return Ok(None);
    }
    let path = e
        .config
        .as_ref()
        .ok_or_else(|| Error::Config("--engine athena needs --config FILE".into()))?;
    let cfg = crate::config::IdentityActivityCenter::load(path)?;
    let opts = crate::athena::Athena::options_from(
        &cfg,
        scope.tenant.as_deref(),
        scope.days,
        std::time::Duration::from_secs(scope.timeout_secs),
    )?;
    Ok(Some((
        crate::athena::Athena::new(opts).await?,
        Lake::open(&cfg.s3)?,
    )))
}

#[derive(Debug, Args, Clone)]
pub struct ScopeArgs {
    /// Only this tenant's partitions are visible.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only the last N days of partitions (today included), like `tctl audit query exec --days`.
    #[arg(long)]
    pub days: Option<u32>,
    /// Name of the events table (the Glue table's name).
    #[arg(long, default_value = "events")]
    pub table: String,
    /// Stop a query after it read this many bytes (default: 20 GiB, the seed's workgroup cutoff).
    #[arg(long)]
    pub max_bytes_scanned: Option<u64>,
    /// Stop a query after this many seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout_secs: u64,
    /// Memory the engine may use, in MiB.
    #[arg(long, default_value_t = 4096)]
    pub memory_limit_mb: usize,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest audit events from files (NDJSON, JSON arrays, CloudTrail log files, .gz) or stdin.
    Ingest {
        #[command(flatten)]
        lake: LakeArgs,
        /// Tenant the events belong to.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Decoder to use; `auto` detects the source of each record.
        #[arg(long, default_value = "auto")]
        source: String,
        /// MaxMind GeoIP City database for location enrichment.
        #[arg(long)]
        geoip: Option<PathBuf>,
        /// Rows buffered before a flush (bounds memory).
        #[arg(long, default_value_t = 200_000)]
        flush_rows: usize,
        /// Files to read; `-` reads stdin.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Run SQL over the lake (the views of sql/views and the `events` table).
    Query {
        #[command(flatten)]
        lake: LakeArgs,
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        engine: EngineArgs,
        /// Output format (default: table).
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Read the SQL from a file (statements separated by `;`).
        #[arg(short = 'f', long = "file")]
        file: Option<PathBuf>,
        /// The SQL to run.
        sql: Option<String>,
    },
    /// The interactive SQL shell (or, with -c or piped input, a script runner).
    Sql {
        #[command(flatten)]
        lake: LakeArgs,
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        engine: EngineArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Run these statements/meta-commands and exit (non-zero on the first error).
        #[arg(short = 'c', long = "command")]
        command: Option<String>,
    },
    /// Run a report (default: the Privileged Access Report of seed 001) through the engine.
    Report {
        #[command(flatten)]
        lake: LakeArgs,
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        engine: EngineArgs,
        /// Report name (only the built-in `privilege_access_report` for now).
        #[arg(default_value = "privilege_access_report")]
        name: String,
        /// Output: text, json (Teleport's report-result shape) or html (one self-contained page
        /// with a chart per query).
        #[arg(long, default_value = "text", value_parser = ["text", "json", "html"])]
        format: String,
        /// Write the output to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the Athena DDL: the Glue table and (with --views) every view.
    Ddl {
        /// Bucket or data prefix of the lake, e.g. s3://my-long-term-bucket.
        #[arg(long)]
        location: Option<String>,
        /// Table name.
        #[arg(long, default_value = "events")]
        table: String,
        /// Also print `CREATE OR REPLACE VIEW` for every view.
        #[arg(long)]
        views: bool,
        /// Print only the views.
        #[arg(long)]
        views_only: bool,
        /// Run the statements on Athena (creating the table and views in Glue) with the
        /// config's database, table, workgroup and s3_results; location defaults to its `s3`.
        #[arg(long, requires = "config")]
        apply: bool,
        /// Config holding the `identity_activity_center:` block (for `--apply`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run the detections of `sql/detections/` over the lake and print alerts, most severe first.
    Alerts {
        #[command(flatten)]
        lake: LakeArgs,
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        engine: EngineArgs,
        /// Only this detection.
        #[arg(long)]
        only: Option<String>,
        /// Replay a period: first day (YYYY-MM-DD); replaces the default 30-day window.
        #[arg(long)]
        since: Option<chrono::NaiveDate>,
        /// Last day of the period, inclusive.
        #[arg(long)]
        until: Option<chrono::NaiveDate>,
        #[arg(long, default_value = "table", value_parser = ["table", "json", "ndjson"])]
        format: String,
        /// Remember reported alerts in this file; later runs print only new ones.
        #[arg(long)]
        state: Option<PathBuf>,
        /// Matches of one rule and identity within this many seconds fold into one alert.
        #[arg(long, default_value_t = 3600)]
        dedup_window_secs: i64,
        /// List the detections and exit.
        #[arg(long)]
        list: bool,
    },
    /// Download a tenant's partitions (e.g. from S3) into a local lake for offline work; resumable.
    Sync {
        /// The source lake, e.g. s3://bucket/data.
        #[arg(long)]
        from: String,
        /// The destination lake directory.
        #[arg(long)]
        to: String,
        #[arg(long)]
        tenant: String,
        /// First day (YYYY-MM-DD).
        #[arg(long)]
        since: chrono::NaiveDate,
        /// Last day, inclusive (default: today).
        #[arg(long)]
        until: Option<chrono::NaiveDate>,
        /// Files downloaded at once.
        #[arg(long, default_value_t = 8)]
        parallel: usize,
    },
    /// Serve the lake over Arrow Flight SQL; every call needs a token from the tokens file.
    Serve {
        #[command(flatten)]
        lake: LakeArgs,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Address to listen on (port 0 picks a free one; the chosen address is printed).
        #[arg(long, default_value = "127.0.0.1:50051")]
        addr: String,
        /// YAML file of token hashes, tenants and rules (`auditlake token add` writes it).
        #[arg(long)]
        tokens: PathBuf,
        /// PEM certificate chain: serve TLS only (clients use `grpc+tls://`).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key of `--tls-cert`.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// The SQS ingest service: one leader among any number of instances receives, writes the
    /// lake, and deletes messages once their events are durable (see the README's config keys).
    Consume {
        /// YAML config holding the `identity_activity_center:` block.
        #[arg(long)]
        config: PathBuf,
        /// Prometheus metrics address (overrides `metrics_addr`; port 0 picks a free one).
        #[arg(long)]
        metrics_addr: Option<std::net::SocketAddr>,
    },
    /// Send events from files to the config's queue, as `consume` expects them (events over
    /// 250 KiB go to `s3_large_files` with a pointer message).
    Publish {
        /// YAML config holding the `identity_activity_center:` block.
        #[arg(long)]
        config: PathBuf,
        /// `tenant_id` attribute of the messages (default: the consumer's tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// `event_source` attribute (default: detected per record by the consumer).
        #[arg(long)]
        source: Option<String>,
        /// Events per message (sent as a JSON array when more than one).
        #[arg(long, default_value_t = 1)]
        events_per_message: usize,
        /// Files of events (NDJSON, JSON arrays, CloudTrail log files, .gz); `-` reads stdin.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Rewrite partitions' small files as sorted files with one row per uid (atomic for
    /// readers).
    Compact {
        #[command(flatten)]
        lake: LakeArgs,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Only this date (YYYY-MM-DD).
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
        /// Leave partitions with fewer live files than this alone (1 also deduplicates
        /// single-file partitions).
        #[arg(long, default_value_t = 2)]
        min_files: usize,
        /// Print a JSON summary instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check a config against its infrastructure (buckets, queue and DLQ, GeoIP, Athena) and
    /// say what is missing, with the IAM action to add. Exit code 5 when a check fails.
    Doctor {
        /// YAML config holding the `identity_activity_center:` block.
        #[arg(long)]
        config: PathBuf,
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage Flight SQL tokens.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// Saved audit queries, kept in the lake (`_catalog/queries/`) for every face to share.
    Queries {
        #[command(subcommand)]
        cmd: QueriesCmd,
    },
    /// Saved reports (lists of saved queries), kept in the lake (`_catalog/reports/`).
    Reports {
        #[command(subcommand)]
        cmd: ReportsCmd,
    },
    /// Generate a realistic synthetic month for a small company and ingest it (no AWS needed).
    Demo {
        #[command(flatten)]
        lake: LakeArgs,
        /// Random seed: the same seed and start date give the same events.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Days of events.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// First day (default: so that the last day is today).
        #[arg(long)]
        start: Option<chrono::NaiveDate>,
        /// Events per day, all sources together.
        #[arg(long, default_value_t = 3000)]
        events_per_day: u32,
        /// Only Teleport events (for benchmarks).
        #[arg(long)]
        teleport_only: bool,
        /// Write the raw events as NDJSON to this file instead of ingesting them.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a token for a tenant: prints it once, stores only its SHA-256.
    Add {
        name: String,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        tokens: PathBuf,
        /// The token expires this long from now (`90m`, `12h`, `30d`); default: never.
        #[arg(long, value_parser = parse_ttl)]
        ttl: Option<std::time::Duration>,
    },
    /// Remove a token: it stops working at the server's next call.
    Rm {
        name: String,
        #[arg(long)]
        tokens: PathBuf,
    },
    /// List tokens: name, tenant, expiry.
    Ls {
        #[arg(long)]
        tokens: PathBuf,
    },
}

/// `30d` or any duration `config::parse_duration` reads.
fn parse_ttl(s: &str) -> Result<std::time::Duration, String> {
    match s.strip_suffix('d') {
        Some(days) => days
            .parse::<u64>()
            .map(|d| std::time::Duration::from_secs(d * 86_400))
            .map_err(|_| format!("invalid ttl {s:?}")),
        None => crate::config::parse_duration(s),
    }
}

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
    /// List saved queries.
    Ls {
        #[command(flatten)]
        lake: LakeArgs,
    },
    /// Print a saved query (YAML).
    Get {
        #[command(flatten)]
        lake: LakeArgs,
        name: String,
    },
    /// Remove a saved query.
    Rm {
        #[command(flatten)]
        lake: LakeArgs,
        name: String,
    },
    /// Run a saved query.
    Run {
        #[command(flatten)]
        lake: LakeArgs,
        #[command(flatten)]
        scope: ScopeArgs,
        name: String,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportsCmd {
    /// Save a report made of saved queries (`--query NAME`, repeated, in order).
    Create {
        #[command(flatten)]
        lake: LakeArgs,
        name: String,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long = "query", required = true)]
        queries: Vec<String>,
        #[arg(long)]
        replace: bool,
    },
    /// List saved reports.
    Ls {
        #[command(flatten)]
        lake: LakeArgs,
    },
    /// Print a saved report (YAML).
    Get {
        #[command(flatten)]
        lake: LakeArgs,
        name: String,
    },
    /// Remove a saved report.
    Rm {
        #[command(flatten)]
        lake: LakeArgs,
        name: String,
    },
    /// Run a saved report (or the built-in `privilege_access_report`).
    Run {
        #[command(flatten)]
        lake: LakeArgs,
        #[command(flatten)]
        scope: ScopeArgs,
        name: String,
        #[arg(long, default_value = "text", value_parser = ["text", "json", "html"])]
        format: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,auditlake=info",
        _ => "debug,auditlake=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Exit codes: 1 general, 2 bad input, 3 not allowed, 4 limit hit, 5 unavailable.
pub fn exit_code(e: &Error) -> u8 {
    match e.kind() {
        ErrorKind::InvalidInput => 2,
        ErrorKind::PermissionDenied => 3,
        ErrorKind::ResourceExhausted => 4,
        ErrorKind::Unavailable | ErrorKind::NotFound => 5,
        ErrorKind::Internal => 1,
    }
}

/// Exit code of an ingest run in which some records were rejected.
pub const EXIT_REJECTED: u8 = 6;

pub fn run(cli: Cli) -> Result<ExitCode> {
    // Two rustls crypto providers are compiled in (the AWS SDK's aws-lc-rs, reqwest's ring);
    // rustls then refuses to guess, so name the process default once (TLS for Flight and
    // https to S3 both build on it).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(run_async(cli))
}

fn engine_options(lake: Lake, scope: &ScopeArgs) -> EngineOptions {
    let mut o = EngineOptions::new(lake);
    o.tenant = scope.tenant.clone();
    o.days = scope.days;
    o.table = scope.table.clone();
    o.limits = Limits {
        max_bytes_scanned: scope
            .max_bytes_scanned
            .unwrap_or(crate::engine::DEFAULT_MAX_BYTES_SCANNED),
        timeout: std::time::Duration::from_secs(scope.timeout_secs),
        memory_limit_bytes: scope.memory_limit_mb.saturating_mul(1024 * 1024),
    };
    o
}

async fn run_async(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Ingest {
            lake,
            tenant,
            source,
            geoip,
            flush_rows,
            files,
        } => {
            let lake = Lake::open(&lake.lake)?;
            let source = match source.as_str() {
                "auto" => None,
                s => Some(s.parse::<SourceKind>().map_err(|_| {
                    Error::Config(format!(
                        "unknown source '{s}' (auto, teleport, cloudtrail, github, okta)"
                    ))
                })?),
            };
            let geoip = geoip.map(|p| GeoIp::open(&p)).transpose()?.map(Arc::new);
            let opts = IngestOptions {
                tenant,
                source,
                geoip,
                flush_rows: flush_rows.max(1),
                ..Default::default()
            };
            let inputs = files.iter().map(|f| Input::parse(f)).collect();
            let progress = std::io::stderr().is_terminal();
            let summary = ingest::ingest_files(&lake, inputs, opts, progress).await?;
            print!("{}", summary.render());
            Ok(if summary.rejected > 0 {
                ExitCode::from(EXIT_REJECTED)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Query {
            lake,
            scope,
            engine,
            format,
            file,
            sql,
        } => {
            let text = match (file, sql) {
                (Some(f), None) => {
                    std::fs::read_to_string(&f).map_err(|e| Error::Io { path: f, source: e })?
                }
                (None, Some(s)) => s,
                (None, None) => {
                    return Err(Error::Config(
                        "give the SQL as an argument or with -f FILE".into(),
                    ));
                }
                (Some(_), Some(_)) => {
                    return Err(Error::Config(
                        "give the SQL either as an argument or with -f, not both".into(),
                    ));
                }
            };
            let athena = athena_for(&engine, &scope).await?;
            let local = match &athena {
                Some(_) => None,
                None => Some(Engine::new(engine_options(Lake::open(&lake.lake)?, &scope)).await?),
            };
            let runner = match (&athena, &local) {
                (Some((a, _)), _) => crate::athena::Runner::Athena(a),
                (None, Some(e)) => crate::athena::Runner::Local(e),
                (None, None) => unreachable!("one engine is built"),
            };
            let statements = split_statements(&text)?;
            let stdout = std::io::stdout();
            for stmt in statements {
                let res = runner.execute(&stmt).await?;
                let mut out = stdout.lock();
                output::write(
                    &mut out,
                    format,
                    &res.schema,
                    &res.batches,
                    TableOptions::default(),
                )?;
                out.flush().ok();
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sql {
            lake,
            scope,
            engine,
            format,
            command,
        } => {
            let opts = engine_options(Lake::open(&lake.lake)?, &scope);
            let mut session = crate::repl::Session::new(opts, format).await?;
            if let Some(path) = &engine.config {
                session =
                    session.with_athena_config(crate::config::IdentityActivityCenter::load(path)?);
            }
            if engine.engine == "athena" {
                session.set_engine("athena").await?;
            }
            if let Some(text) = command {
                crate::repl::run_script(&mut session, &text).await?;
            } else if std::io::stdin().is_terminal() {
                crate::repl::run_interactive(session).await?;
            } else {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| {
                    Error::Io {
                        path: "<stdin>".into(),
                        source: e,
                    }
                })?;
                crate::repl::run_script(&mut session, &text).await?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report {
            lake,
            mut scope,
            engine,
            name,
            format,
            out,
        } => {
            // The UI's default window for reports is 30 days.
            scope.days = scope.days.or(Some(30));
            if let Some((athena, lake)) = athena_for(&engine, &scope).await? {
                let report = if name == "privilege_access_report" || name == "privileged_access" {
                    crate::report::builtin()
                } else {
                    crate::saved::Catalog::new(&lake)
                        .resolve_report(&name)
                        .await?
                };
                return run_report_with(lake, scope, report, &format, out, Some(&athena)).await;
            }
            let lake = Lake::open(&lake.lake)?;
            let report = if name == "privilege_access_report" || name == "privileged_access" {
                crate::report::builtin()
            } else {
                crate::saved::Catalog::new(&lake)
                    .resolve_report(&name)
                    .await?
            };
            run_report(lake, scope, report, &format, out).await
        }
        Command::Alerts {
            lake,
            mut scope,
            engine,
            only,
            since,
            until,
            format,
            state,
            dedup_window_secs,
            list,
        } => {
            if list {
                for d in crate::alerts::detections()? {
                    println!("{:<32} {:<8} {}", d.name, d.severity.as_str(), d.title);
                }
                return Ok(ExitCode::SUCCESS);
            }
            // Detections look back 30 days unless told otherwise (new-country needs history).
            if since.is_none() && until.is_none() {
                scope.days = scope.days.or(Some(30));
            }
            let opts = crate::alerts::AlertOptions {
                only,
                dedup_window_secs,
            };
            let mut alerts = match athena_for(&engine, &scope).await? {
                Some((athena, _)) => {
                    if since.is_some() || until.is_some() {
                        return Err(Error::Config(
                            "--since/--until replay runs on the local engine; on Athena use --days"
                                .into(),
                        ));
                    }
                    crate::alerts::run_with(crate::athena::Runner::Athena(&athena), &opts).await?
                }
                None => {
                    let mut eopts = engine_options(Lake::open(&lake.lake)?, &scope);
                    eopts.since = since;
                    eopts.until = until;
                    let engine = Engine::new(eopts).await?;
                    crate::alerts::run(&engine, &opts).await?
                }
            };
            if let Some(st) = &state {
                alerts = crate::alerts::only_new(alerts, st)?;
            }
            match format.as_str() {
                "json" => println!(
                    "{}",
                    serde_json::to_string_pretty(&alerts)
                        .map_err(|e| Error::Other(e.to_string()))?
                ),
                "ndjson" => {
                    for a in &alerts {
                        println!(
                            "{}",
                            serde_json::to_string(a).map_err(|e| Error::Other(e.to_string()))?
                        );
                    }
                }
                _ => print!("{}", crate::alerts::render_text(&alerts)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync {
            from,
            to,
            tenant,
            since,
            until,
            parallel,
        } => {
            let src = Lake::open(&from)?;
            let dst = Lake::open(&to)?;
            let opts = crate::sync::SyncOptions {
                tenant,
                since,
                until,
                parallel,
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            let s = crate::sync::sync(&src, &dst, &opts).await?;
            println!(
                "{} partitions: fetched {} files ({} bytes), {} already present, {} removed (compacted at the source); now: auditlake sql --lake {to} --tenant {}",
                s.partitions,
                s.fetched_files,
                s.fetched_bytes,
                s.skipped_files,
                s.removed_files,
                opts.tenant
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            lake,
            scope,
            addr,
            tokens,
            tls_cert,
            tls_key,
        } => {
            if !tokens.is_file() {
                return Err(Error::Config(format!(
                    "tokens file {} not found (create one with `auditlake token add NAME --tenant T --tokens FILE`)",
                    tokens.display()
                )));
            }
            let lake = Lake::open(&lake.lake)?;
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .map_err(|e| Error::Config(format!("cannot listen on {addr}: {e}")))?;
            let local = listener
                .local_addr()
                .map_err(|e| Error::Other(e.to_string()))?;
            let template = engine_options(lake.clone(), &scope);
            let tls = tls_cert
                .zip(tls_key)
                .map(|(cert, key)| crate::flight::TlsFiles { cert, key });
            println!(
                "auditlake Flight SQL listening on {}{local}",
                if tls.is_some() { "grpc+tls://" } else { "" }
            );
            std::io::stdout().flush().ok();
            crate::flight::serve(
                crate::flight::AuditFlight::new(lake, template, tokens),
                listener,
                tls,
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Consume {
            config,
            metrics_addr,
        } => {
            let cfg = crate::config::IdentityActivityCenter::load(&config)?;
            let opts = crate::consume::ConsumeOptions {
                metrics_addr,
                ..Default::default()
            };
            crate::consume::run(cfg, opts, shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Publish {
            config,
            tenant,
            source,
            events_per_message,
            files,
        } => {
            let cfg = crate::config::IdentityActivityCenter::load(&config)?;
            if let Some(t) = &tenant
                && !crate::lake::layout::valid_tenant(t)
            {
                return Err(Error::Config(format!("invalid tenant '{t}'")));
            }
            if let Some(s) = &source {
                s.parse::<crate::source::SourceKind>()
                    .map_err(Error::Config)?;
            }
            let opts = crate::consume::publish::PublishOptions {
                tenant,
                source,
                events_per_message,
                s3_options: Vec::new(),
            };
            let sum = crate::consume::publish::publish(&cfg, &files, &opts).await?;
            println!(
                "published {} events in {} messages ({} large payloads via s3_large_files)",
                sum.events, sum.messages, sum.large_payloads
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Compact {
            lake,
            tenant,
            date,
            min_files,
            json,
        } => {
            let lake = Lake::open(&lake.lake)?;
            if let Some(t) = &tenant
                && !crate::lake::layout::valid_tenant(t)
            {
                return Err(Error::Config(format!("invalid tenant '{t}'")));
            }
            let parts = crate::lake::compact::partitions(&lake, tenant.as_deref(), date).await?;
            let mut out = Vec::new();
            for (t, d) in parts {
                let s = crate::lake::compact::compact_partition(&lake, &t, d, min_files).await?;
                if !json && !s.skipped {
                    println!(
                        "{t}/{d}: {} files, {} rows -> {} files, {} rows ({} duplicates removed) in {} ms",
                        s.files_before,
                        s.rows_before,
                        s.files_after,
                        s.rows_after,
                        s.duplicates_removed,
                        s.elapsed_ms
                    );
                }
                out.push(s);
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&out).map_err(|e| Error::Other(e.to_string()))?
                );
            } else {
                let done = out.iter().filter(|s| !s.skipped).count();
                println!(
                    "compacted {done} of {} partitions ({} duplicates removed)",
                    out.len(),
                    out.iter().map(|s| s.duplicates_removed).sum::<usize>()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor { config, json } => {
            let cfg = crate::config::IdentityActivityCenter::load(&config)?;
            let checks = crate::doctor::run(&cfg).await;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&checks)
                        .map_err(|e| Error::Other(e.to_string()))?
                );
            } else {
                print!("{}", crate::doctor::render(&checks));
            }
            Ok(if checks.iter().all(|c| c.ok) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(5)
            })
        }
        Command::Token {
            cmd:
                TokenCmd::Add {
                    name,
                    tenant,
                    tokens,
                    ttl,
                },
        } => {
            let token = crate::flight::add_token(&tokens, &name, &tenant, ttl)?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            cmd: TokenCmd::Rm { name, tokens },
        } => {
            crate::flight::remove_token(&tokens, &name)?;
            println!("removed token '{name}'");
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            cmd: TokenCmd::Ls { tokens },
        } => {
            for t in crate::flight::list_tokens(&tokens)? {
                println!(
                    "{}\ttenant={}\texpires={}",
                    t.name,
                    t.tenant,
                    t.expires.as_deref().unwrap_or("never")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Queries { cmd } => run_queries(cmd).await,
        Command::Reports { cmd } => run_reports(cmd).await,
        Command::Ddl {
            location,
            table,
            views,
            views_only,
            apply,
            config,
        } => {
            let cfg = match &config {
                Some(p) => Some(crate::config::IdentityActivityCenter::load(p)?),
                None => None,
            };
            // With a config, its table and lake location are the defaults.
            let table = match (&cfg, table.as_str()) {
                (Some(c), "events") => c.table.clone().unwrap_or(table),
                _ => table,
            };
            let location = location.or_else(|| cfg.as_ref().map(|c| c.s3.clone()));
            let mut statements = Vec::new();
            if !views_only {
                statements.push(crate::catalog::glue_ddl(location.as_deref(), &table));
            }
            if views || views_only {
                for v in crate::catalog::views() {
                    statements.push(v.ddl(&table));
                }
            }
            if !apply {
                for s in &statements {
                    println!("{};\n", s.trim().trim_end_matches(';'));
                }
                return Ok(ExitCode::SUCCESS);
            }
            let cfg = cfg.expect("clap requires --config with --apply");
            let opts = crate::athena::Athena::options_from(
                &cfg,
                Some("ddl"),
                None,
                std::time::Duration::from_secs(300),
            )?;
            let athena = crate::athena::Athena::new(opts).await?;
            for s in &statements {
                // One statement per execution, without comments or the trailing `;` (Athena's
                // DDL parser takes neither well).
                let text: String = s
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("--"))
                    .collect::<Vec<_>>()
                    .join("\n");
                let text = text.trim().trim_end_matches(';').to_string();
                let first = text.lines().next().unwrap_or_default().to_string();
                athena.execute_raw(&text).await?;
                println!("ok: {first}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            lake,
            seed,
            days,
            start,
            events_per_day,
            teleport_only,
            out,
        } => {
            crate::demo_cli::run(crate::demo_cli::DemoArgs {
                lake: lake.lake,
                seed,
                days,
                start,
                events_per_day,
                teleport_only,
                out,
            })
            .await
        }
    }
}

async fn run_report(
    lake: Lake,
    scope: ScopeArgs,
    report: crate::report::Report,
    format: &str,
    out: Option<PathBuf>,
) -> Result<ExitCode> {
    run_report_with(lake, scope, report, format, out, None).await
}

async fn run_report_with(
    lake: Lake,
    scope: ScopeArgs,
    report: crate::report::Report,
    format: &str,
    out: Option<PathBuf>,
    athena: Option<&crate::athena::Athena>,
) -> Result<ExitCode> {
    let local = match athena {
        Some(_) => None,
        None => Some(Engine::new(engine_options(lake.clone(), &scope)).await?),
    };
    let runner = match (athena, &local) {
        (Some(a), _) => crate::athena::Runner::Athena(a),
        (None, Some(e)) => crate::athena::Runner::Local(e),
        (None, None) => unreachable!("one engine is built"),
    };
    let started = std::time::Instant::now();
    let res = crate::report::run_with(runner, &report).await;
    let bytes = res
        .as_ref()
        .map(|r| r.total_data_scanned_bytes)
        .unwrap_or(0);
    record(
        &lake,
        "report",
        &report.name,
        &scope,
        started,
        bytes,
        res.as_ref().err(),
    )
    .await;
    let result = res?;
    let text = match format {
        "json" => {
            serde_json::to_string_pretty(&result).map_err(|e| Error::Other(e.to_string()))? + "\n"
        }
        "html" => crate::html::render(&report, &result),
        _ => crate::report::render_text(&result),
    };
    match out {
        Some(path) => std::fs::write(&path, text).map_err(|e| Error::Io { path, source: e })?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Leaves the audit record of a saved-query or report run; a failure to record is logged, not
/// fatal (the answer was already computed).
async fn record(
    lake: &Lake,
    kind: &str,
    name: &str,
    scope: &ScopeArgs,
    started: std::time::Instant,
    bytes_scanned: u64,
    err: Option<&Error>,
) {
    let rec = crate::saved::RunRecord {
        at: crate::saved::now_rfc3339(),
        who: crate::saved::current_user(),
        kind: kind.into(),
        name: name.into(),
        tenant: scope.tenant.clone(),
        days: scope.days,
        bytes_scanned,
        duration_ms: started.elapsed().as_millis() as u64,
        success: err.is_none(),
        error: err.map(|e| e.to_string()),
    };
    if let Err(e) = crate::saved::Catalog::new(lake).record_run(&rec).await {
        tracing::warn!(error = %e, "could not record the run");
    }
}

fn yaml<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_yaml::to_string(v).map_err(|e| Error::Other(e.to_string()))
}

async fn run_queries(cmd: QueriesCmd) -> Result<ExitCode> {
    use crate::saved::{Catalog, SavedQuery};
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
            let lake = Lake::open(&lake.lake)?;
            let engine = Engine::new(engine_options(lake.clone(), &scope)).await?;
            let q = SavedQuery {
                name,
                title,
                description,
                sql: sql.trim().trim_end_matches(';').to_string(),
                suggestion,
                created_at: crate::saved::now_rfc3339(),
            };
            Catalog::new(&lake)
                .create_query(&engine, &q, replace)
                .await?;
            println!("saved query '{}'", q.name);
        }
        QueriesCmd::Ls { lake } => {
            let lake = Lake::open(&lake.lake)?;
            let cat = Catalog::new(&lake);
            for n in cat.queries().await? {
                let q = cat.query(&n).await?;
                println!("{n}\t{}", q.title);
            }
        }
        QueriesCmd::Get { lake, name } => {
            let lake = Lake::open(&lake.lake)?;
            print!("{}", yaml(&Catalog::new(&lake).query(&name).await?)?);
        }
        QueriesCmd::Rm { lake, name } => {
            let lake = Lake::open(&lake.lake)?;
            Catalog::new(&lake).remove_query(&name).await?;
            println!("removed query '{name}'");
        }
        QueriesCmd::Run {
            lake,
            scope,
            name,
            format,
        } => {
            let lake = Lake::open(&lake.lake)?;
            let q = Catalog::new(&lake).query(&name).await?;
            let engine = Engine::new(engine_options(lake.clone(), &scope)).await?;
            let started = std::time::Instant::now();
            let res = engine.execute(&q.sql).await;
            let bytes = res.as_ref().map(|r| r.stats.bytes_scanned).unwrap_or(0);
            record(
                &lake,
                "query",
                &name,
                &scope,
                started,
                bytes,
                res.as_ref().err(),
            )
            .await;
            let res = res?;
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            output::write(
                &mut out,
                format,
                &res.schema,
                &res.batches,
                TableOptions::default(),
            )?;
            out.flush().ok();
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_reports(cmd: ReportsCmd) -> Result<ExitCode> {
    use crate::saved::{Catalog, SavedReport};
    match cmd {
        ReportsCmd::Create {
            lake,
            name,
            title,
            description,
            queries,
            replace,
        } => {
            let lake = Lake::open(&lake.lake)?;
            let r = SavedReport {
                name,
                title,
                description,
                queries,
                created_at: crate::saved::now_rfc3339(),
            };
            Catalog::new(&lake).create_report(&r, replace).await?;
            println!("saved report '{}'", r.name);
        }
        ReportsCmd::Ls { lake } => {
            let lake = Lake::open(&lake.lake)?;
            let cat = Catalog::new(&lake);
            let b = crate::report::builtin();
            println!("{}\t{} (built in)", b.name, b.title);
            for n in cat.reports().await? {
                let r = cat.report(&n).await?;
                println!("{n}\t{}", r.title);
            }
        }
        ReportsCmd::Get { lake, name } => {
            let lake = Lake::open(&lake.lake)?;
            if name == "privilege_access_report" || name == "privileged_access" {
                print!("{}", crate::report::PRIVILEGED_ACCESS_YAML);
            } else {
                print!("{}", yaml(&Catalog::new(&lake).report(&name).await?)?);
            }
        }
        ReportsCmd::Rm { lake, name } => {
            let lake = Lake::open(&lake.lake)?;
            Catalog::new(&lake).remove_report(&name).await?;
            println!("removed report '{name}'");
        }
        ReportsCmd::Run {
            lake,
            mut scope,
            name,
            format,
            out,
        } => {
            let lake = Lake::open(&lake.lake)?;
            let report = if name == "privilege_access_report" || name == "privileged_access" {
                crate::report::builtin()
            } else {
                Catalog::new(&lake).resolve_report(&name).await?
            };
            scope.days = scope.days.or(Some(30));
            return run_report(lake, scope, report, &format, out).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Splits a script into statements at top-level `;` using the SQL tokenizer (so a `;` inside
/// a string or comment does not split), keeping each statement's original text, and checks
/// each one parses before anything runs.
pub fn split_statements(text: &str) -> Result<Vec<String>> {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    let tokens = Tokenizer::new(&GenericDialect {}, text)
        .tokenize()
        .map_err(|e| Error::Sql(format!("syntax error: {e}")))?;
    let mut out = Vec::new();
    let mut cur = String::new();
    for t in tokens {
        if t == Token::SemiColon {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push_str(&t.to_string());
        }
    }
    out.push(cur);
    let stmts: Vec<String> = out
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && !is_only_comments(s))
        .collect();
    for s in &stmts {
        datafusion::sql::parser::DFParser::parse_sql(s)
            .map_err(|e| Error::Sql(format!("syntax error: {e}")))?;
    }
    Ok(stmts)
}

fn is_only_comments(s: &str) -> bool {
    s.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with("--")
    })
}

/// Resolves on Ctrl-C or SIGTERM: the graceful-shutdown trigger of the long-running faces.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down");
}
