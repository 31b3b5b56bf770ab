//! The command line: one file per command, each with its own flags (`Args`) and `run`; shared
//! flags and their resolution into a lake and a `QueryRunner` live in `args`. This file only
//! names the commands, maps errors to exit codes, and starts the runtime.

pub mod alerts;
pub mod args;
pub mod compact;
pub mod consume;
pub mod ddl;
pub mod demo;
pub mod doctor;
pub mod ingest;
pub mod publish;
pub mod queries;
pub mod query;
pub mod report;
pub mod reports;
pub mod serve;
pub mod sigma;
pub mod sql;
pub mod sync;
pub mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::{Error, ErrorKind, Result};

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest audit events from files (NDJSON, JSON arrays, CloudTrail log files, .gz) or stdin.
    Ingest(ingest::Args),
    /// Run SQL over the lake (the views of sql/views and the `events` table).
    Query(query::Args),
    /// The interactive SQL shell (or, with -c or piped input, a script runner).
    Sql(sql::Args),
    /// Run a report (default: the Privileged Access Report of seed 001) through the engine.
    Report(report::Args),
    /// Print the Athena DDL: the Glue table and (with --views) every view.
    Ddl(ddl::Args),
    /// Run the detections of `sql/detections/` over the lake and print alerts, most severe first.
    Alerts(alerts::Args),
    /// Download a tenant's partitions (e.g. from S3) into a local lake for offline work; resumable.
    Sync(sync::Args),
    /// Serve the lake over Arrow Flight SQL; every call needs a token from the tokens file.
    Serve(serve::Args),
    /// The SQS ingest service: one leader among any number of instances receives, writes the
    /// lake, and deletes messages once their events are durable (see the README's config keys).
    Consume(consume::Args),
    /// Send events from files to the config's queue, as `consume` expects them (events over
    /// 250 KiB go to `s3_large_files` with a pointer message).
    Publish(publish::Args),
    /// Rewrite partitions' small files as sorted files with one row per uid (atomic for
    /// readers).
    Compact(compact::Args),
    /// Check a config against its infrastructure (buckets, queue and DLQ, GeoIP, Athena) and
    /// say what is missing, with the IAM action to add. Exit code 5 when a check fails.
    Doctor(doctor::Args),
    /// Manage Flight SQL tokens.
    Token {
        #[command(subcommand)]
        cmd: token::TokenCmd,
    },
    /// Saved audit queries, kept in the lake (`_catalog/queries/`) for every face to share.
    Queries {
        #[command(subcommand)]
        cmd: queries::QueriesCmd,
    },
    /// Saved reports (lists of saved queries), kept in the lake (`_catalog/reports/`).
    Reports {
        #[command(subcommand)]
        cmd: reports::ReportsCmd,
    },
    /// Sigma rules: print the SQL a rule compiles to, or check which rules of a set compile.
    Sigma {
        #[command(subcommand)]
        cmd: sigma::SigmaCmd,
    },
    /// Generate a realistic synthetic month for a small company and ingest it (no AWS needed).
    Demo(demo::Args),
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

/// Exit code of an ingest run in which some records were rejected.
pub const EXIT_REJECTED: u8 = 6;
/// Exit code of a failure outside (store, network, a check of `doctor`).
pub const EXIT_UNAVAILABLE: u8 = 5;

/// The whole error chain as the terminal shows it (`error: …` then `caused by: …` lines).
/// Messages quote outside text (SQL, names, record fields): each line is escaped so an escape
/// sequence or a bidi override in it is shown, not obeyed; the chain's own line breaks stay.
pub fn error_text(e: &Error) -> String {
    e.chain("\n  caused by: ")
        .split('\n')
        .map(|l| crate::query::cells::escape_control(l).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Exit codes: 1 general, 2 bad input, 3 not allowed, 4 limit hit, 5 unavailable — the one
/// place errors become exit codes.
pub fn exit_code(e: &Error) -> u8 {
    match e.kind() {
        ErrorKind::InvalidInput => 2,
        ErrorKind::PermissionDenied => 3,
        ErrorKind::ResourceExhausted => 4,
        ErrorKind::Unavailable | ErrorKind::NotFound => EXIT_UNAVAILABLE,
        ErrorKind::Internal => 1,
    }
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    // Two rustls crypto providers are compiled in (the AWS SDK's aws-lc-rs, reqwest's ring);
    // rustls then refuses to guess, so name the process default once (TLS for Flight and
    // https to S3 both build on it).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(run_command(cli.command))
}

async fn run_command(command: Command) -> Result<ExitCode> {
    match command {
        Command::Ingest(a) => ingest::run(a).await,
        Command::Query(a) => query::run(a).await,
        Command::Sql(a) => sql::run(a).await,
        Command::Report(a) => report::run(a).await,
        Command::Ddl(a) => ddl::run(a).await,
        Command::Alerts(a) => alerts::run(a).await,
        Command::Sync(a) => sync::run(a).await,
        Command::Serve(a) => serve::run(a).await,
        Command::Consume(a) => consume::run(a).await,
        Command::Publish(a) => publish::run(a).await,
        Command::Compact(a) => compact::run(a).await,
        Command::Doctor(a) => doctor::run(a).await,
        Command::Token { cmd } => token::run(cmd).await,
        Command::Queries { cmd } => queries::run(cmd).await,
        Command::Reports { cmd } => reports::run(cmd).await,
        Command::Demo(a) => demo::run(a).await,
        Command::Sigma { cmd } => sigma::run(cmd).await,
    }
}

/// Resolves on Ctrl-C or SIGTERM: the graceful-shutdown trigger the long-running commands
/// (`serve`, `consume`) pass to the library. The handlers are registered when this is called,
/// not when the future is first polled: until a handler exists, SIGINT's default action kills
/// the process, so a Ctrl-C right after "listening" would skip the graceful shutdown.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        match signals {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            (_, Err(e)) | (Err(e), _) => {
                tracing::warn!(error = %e, "no signal handlers; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down");
    }
}
