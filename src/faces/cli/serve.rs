//! `auditlake serve`: the lake over Arrow Flight SQL, scoped by each caller's token, within
//! the caps a hostile client meets (statement and parameter bytes, concurrent queries, memory
//! per query, the deadline).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::args::{LakeArgs, ScopeArgs};
use super::shutdown_signal;
use crate::error::{Error, Result};
use crate::faces::flight::{self, AuditFlight, FlightLimits, TlsFiles};

/// Serve the lake over Arrow Flight SQL; every call needs a token from the tokens file.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Address to listen on (port 0 picks a free one; the chosen address is printed).
    #[arg(long, default_value = flight::DEFAULT_ADDR)]
    pub addr: String,
    /// YAML file of token hashes, tenants and rules (`auditlake token add` writes it).
    #[arg(long)]
    pub tokens: PathBuf,
    /// PEM certificate chain: serve TLS only (clients use `grpc+tls://`).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Largest SQL statement accepted, in bytes.
    #[arg(long, default_value_t = flight::DEFAULT_MAX_STATEMENT_BYTES)]
    pub max_statement_bytes: usize,
    /// Largest DoPut (bound parameters, Arrow IPC) accepted, in bytes.
    #[arg(long, default_value_t = flight::DEFAULT_MAX_PUT_BYTES)]
    pub max_put_bytes: usize,
    /// Queries running at once, all tokens together (more: Unavailable).
    #[arg(long, default_value_t = flight::DEFAULT_MAX_QUERIES)]
    pub max_queries: usize,
    /// Queries running at once for one token (more: ResourceExhausted).
    #[arg(long, default_value_t = flight::DEFAULT_MAX_QUERIES_PER_TOKEN)]
    pub max_queries_per_token: usize,
    /// Memory one query may hold, in MiB, of the one pool of --memory-limit-mb that every
    /// tenant shares (default: a quarter of it).
    #[arg(long)]
    pub query_memory_mb: Option<usize>,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    if !a.tokens.is_file() {
        return Err(Error::Config(format!(
            "tokens file {} not found (create one with `auditlake token add NAME --tenant T --tokens FILE`)",
            a.tokens.display()
        )));
    }
    let lake = a.lake.open()?;
    let template = a.scope.engine_options(lake.clone());
    let mut limits = FlightLimits::with_memory(template.limits.memory_limit_bytes);
    limits.max_statement_bytes = a.max_statement_bytes;
    limits.max_put_bytes = a.max_put_bytes;
    limits.max_queries = a.max_queries;
    limits.max_queries_per_token = a.max_queries_per_token;
    if let Some(mb) = a.query_memory_mb {
        limits.memory_per_query_bytes = mb.saturating_mul(1024 * 1024);
    }
    let server = AuditFlight::with_limits(lake, template, a.tokens, limits)?;
    let listener = tokio::net::TcpListener::bind(&a.addr)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", a.addr)))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::Other(format!("cannot read the listening address: {e}")))?;
    let tls = a
        .tls_cert
        .zip(a.tls_key)
        .map(|(cert, key)| TlsFiles { cert, key });
    if tls.is_none() && !local.ip().is_loopback() {
        let msg = format!(
            "serving on {local} WITHOUT TLS: tokens and results cross the network in clear \
             text; pass --tls-cert and --tls-key, or listen on 127.0.0.1"
        );
        tracing::warn!(addr = %local, "{msg}");
        eprintln!("WARNING: {msg}");
    }
    let stop = shutdown_signal();
    println!(
        "auditlake Flight SQL listening on {}{local}",
        if tls.is_some() { "grpc+tls://" } else { "" }
    );
    std::io::stdout().flush().ok();
    flight::serve(server, listener, tls, stop).await?;
    Ok(ExitCode::SUCCESS)
}
