//! `auditlake serve`: the lake over Arrow Flight SQL, scoped by each caller's token.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::args::{LakeArgs, ScopeArgs};
use super::shutdown_signal;
use crate::error::{Error, Result};
use crate::faces::flight::{self, AuditFlight, TlsFiles};

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
}

pub async fn run(a: Args) -> Result<ExitCode> {
    if !a.tokens.is_file() {
        return Err(Error::Config(format!(
            "tokens file {} not found (create one with `auditlake token add NAME --tenant T --tokens FILE`)",
            a.tokens.display()
        )));
    }
    let lake = a.lake.open()?;
    let listener = tokio::net::TcpListener::bind(&a.addr)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", a.addr)))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::Other(format!("cannot read the listening address: {e}")))?;
    let template = a.scope.engine_options(lake.clone());
    let tls = a
        .tls_cert
        .zip(a.tls_key)
        .map(|(cert, key)| TlsFiles { cert, key });
    println!(
        "auditlake Flight SQL listening on {}{local}",
        if tls.is_some() { "grpc+tls://" } else { "" }
    );
    std::io::stdout().flush().ok();
    flight::serve(
        AuditFlight::new(lake, template, a.tokens),
        listener,
        tls,
        shutdown_signal(),
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}
