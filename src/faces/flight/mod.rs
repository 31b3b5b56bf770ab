//! `auditlake serve`: an Arrow Flight SQL server over the engine, safe for several tenants and
//! against hostile clients.
//!
//! Every call carries a bearer token (or does a Basic handshake that returns one); the token's
//! tenant becomes the engine's tenant scope, so no SQL can reach another tenant's files.
//! Prepared-statement handles live in the client, signed by the server (nothing is parked in
//! server memory between calls). Client SQL runs on a runtime of its own, under the deadline,
//! within caps, over one memory pool shared by every tenant. The rooms: `auth` (tokens),
//! `handle` (what clients hand back), `limits` (caps and admission), `query` (SQL calls),
//! `stream` (the query runtime and result streaming), `actions` (Access Monitoring),
//! `service` (the Flight SQL trait, thin).

mod actions;
mod auth;
mod handle;
mod limits;
mod query;
mod service;
mod stream;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;
use tonic::{Request, Status};

pub use auth::{
    AUTH_FAILED, Rule, TokenEntry, TokensFile, add_token, list_tokens, remove_token, sha256_hex,
};
pub use handle::{Handle, HandleCodec, bind_first_row};
pub use limits::{
    DEFAULT_MAX_PUT_BYTES, DEFAULT_MAX_QUERIES, DEFAULT_MAX_QUERIES_PER_TOKEN,
    DEFAULT_MAX_STATEMENT_BYTES, FlightLimits,
};
pub use stream::QUERY_STACK_BYTES;

use crate::error::{Error, ErrorKind};
use crate::lake::Lake;
use crate::query::engine::{Engine, EngineOptions, SharedMemory};

/// The one mapping from our errors to gRPC codes.
pub fn status(e: &Error) -> Status {
    let msg = e.chain(": ");
    match e.kind() {
        ErrorKind::InvalidInput => Status::invalid_argument(msg),
        ErrorKind::PermissionDenied => Status::permission_denied(msg),
        ErrorKind::ResourceExhausted => Status::resource_exhausted(msg),
        ErrorKind::Unavailable => Status::unavailable(msg),
        ErrorKind::NotFound => Status::not_found(msg),
        ErrorKind::Internal => Status::internal(msg),
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        status(&e)
    }
}

/// A tenant's engine, made on first use on the day it serves: its `--days` window is counted
/// from that day, so on a new day a new engine is made.
type EngineSlot = (chrono::NaiveDate, Arc<OnceCell<Arc<Engine>>>);

/// The server: the lake, the tokens, one engine per tenant over one shared memory pool, the
/// query runtime, and the caps.
pub struct AuditFlight {
    template: EngineOptions,
    auth: auth::Auth,
    engines: std::sync::Mutex<HashMap<String, EngineSlot>>,
    codec: handle::HandleCodec,
    limits: FlightLimits,
    admission: Arc<limits::Admission>,
    queries: stream::QueryRuntime,
}

/// Longest deadline honoured (a larger `--timeout-secs` would overflow the clock).
const MAX_TIMEOUT: Duration = Duration::from_secs(366 * 86_400);

impl AuditFlight {
    /// A server with the default caps over `template`'s memory limit.
    pub fn new(lake: Lake, template: EngineOptions, tokens: PathBuf) -> Result<Self, Error> {
        let limits = FlightLimits::with_memory(template.limits.memory_limit_bytes);
        Self::with_limits(lake, template, tokens, limits)
    }

    /// A server with these caps: one memory pool of `template.limits.memory_limit_bytes` for
    /// every tenant's engine, `limits.memory_per_query_bytes` of it per query.
    pub fn with_limits(
        lake: Lake,
        template: EngineOptions,
        tokens: PathBuf,
        limits: FlightLimits,
    ) -> Result<Self, Error> {
        let mut template = template;
        template.lake = lake;
        template.memory = Some(SharedMemory::new(
            template.limits.memory_limit_bytes,
            limits.memory_per_query_bytes.max(1),
        ));
        let queries = stream::QueryRuntime::new(template.threads)?;
        let auth = auth::Auth::new(tokens);
        auth.check_permissions();
        Ok(AuditFlight {
            codec: handle::HandleCodec::new(limits.max_statement_bytes, limits.max_put_bytes),
            admission: limits::Admission::new(limits.max_queries, limits.max_queries_per_token),
            template,
            auth,
            engines: Default::default(),
            limits,
            queries,
        })
    }

    /// When a query started now must end.
    fn deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.template.limits.timeout.min(MAX_TIMEOUT)
    }

    /// The tenant's engine for today; made outside the cache's lock, so one tenant's first
    /// call never holds up another's.
    async fn engine(&self, tenant: &str) -> Result<Arc<Engine>, Status> {
        let today = chrono::Utc::now().date_naive();
        let cell = {
            let mut m = self
                .engines
                .lock()
                .map_err(|_| Status::internal("engine cache poisoned"))?;
            match m.get(tenant) {
                Some((day, cell)) if *day == today => cell.clone(),
                _ => {
                    let cell = Arc::new(OnceCell::new());
                    m.insert(tenant.to_string(), (today, cell.clone()));
                    cell
                }
            }
        };
        cell.get_or_try_init(|| async {
            let mut opts = self.template.clone();
            opts.tenant = Some(tenant.to_string());
            Engine::new(opts).await.map(Arc::new)
        })
        .await
        .cloned()
        .map_err(|e| status(&e))
    }

    /// The token may run SQL (`use` on `audit_query`), and its tenant's engine.
    async fn engine_for<T>(&self, req: &Request<T>) -> Result<(TokenEntry, Arc<Engine>), Status> {
        let t = self.auth.bearer(req.metadata())?;
        t.require("audit_query", "use")?;
        let engine = self.engine(&t.tenant).await?;
        Ok((t, engine))
    }

    /// The token may list tables (`list` or `use` on `audit_query`), and its tenant's engine.
    async fn metadata_engine<T>(&self, req: &Request<T>) -> Result<Arc<Engine>, Status> {
        let t = self.auth.bearer(req.metadata())?;
        if !t.allows("audit_query", "list") {
            t.require("audit_query", "use")?;
        }
        self.engine(&t.tenant).await
    }
}

/// Where `serve` listens by default: loopback only.
pub const DEFAULT_ADDR: &str = "127.0.0.1:50051";

/// PEM files of the server's certificate chain and private key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Serves until `shutdown` resolves (the CLI passes Ctrl-C/SIGTERM); in-flight streams end
/// when the server stops. With `tls`, only TLS connections are accepted (`grpc+tls://`).
pub async fn serve(
    server: AuditFlight,
    listener: tokio::net::TcpListener,
    tls: Option<TlsFiles>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let svc = arrow_flight::flight_service_server::FlightServiceServer::new(server);
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        let read = |p: &PathBuf| std::fs::read(p).map_err(|e| Error::io("read", p, e));
        let identity = tonic::transport::Identity::from_pem(read(&tls.cert)?, read(&tls.key)?);
        builder = builder
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .map_err(|e| Error::Config(format!("TLS certificate or key: {e}")))?;
    }
    builder
        .add_service(svc)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            shutdown,
        )
        .await
        .map_err(|e| Error::Other(format!("flight server: {e}")))
}
