//! `auditlake serve`: an Arrow Flight SQL server over the engine, safe for several tenants.
//!
//! Every call carries a bearer token (or does a Basic handshake that returns one); the token's
//! tenant becomes the engine's tenant scope, so no SQL can reach another tenant's files.
//! Statement and prepared-statement handles are stateless (they carry the SQL, and bound
//! parameters as Arrow IPC), so nothing is parked in server memory between GetFlightInfo and
//! DoGet, and any server instance can serve any handle. Results stream batch by batch.

use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{
    SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, Any, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandGetXdbcTypeInfo,
    CommandPreparedStatementQuery, CommandStatementQuery, DoPutPreparedStatementResult, Nullable,
    ProstMessageExt, Searchable, SqlInfo, TicketStatementQuery, XdbcDataType,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse,
    IpcMessage, SchemaAsIpc, Ticket,
};
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, TryStreamExt};
use prost::Message;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tokio::sync::Mutex;
use tonic::{Request, Response, Status, Streaming};

use crate::error::{Error, ErrorKind};
use crate::lake::Lake;
use crate::query::engine::{Engine, EngineOptions};

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

/// One token's entry in the tokens file: a hash, never the token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenEntry {
    pub name: String,
    pub tenant: String,
    pub sha256: String,
    /// When the token stops working (RFC 3339, UTC); absent: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// Teleport-style permission: verbs on resources (`audit_query`, `security_report`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rule {
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TokensFile {
    pub tokens: Vec<TokenEntry>,
}

pub fn sha256_hex(s: &str) -> String {
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl TokenEntry {
    fn allows(&self, resource: &str, verb: &str) -> bool {
        self.rules.iter().any(|r| {
            r.resources.iter().any(|x| x == resource || x == "*")
                && r.verbs.iter().any(|v| v == verb || v == "*")
        })
    }
}

fn read_tokens(path: &PathBuf) -> Result<TokensFile, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        op: "read",
        path: path.clone(),
        source: e,
    })?;
    serde_yaml::from_str(&text)
        .map_err(|e| Error::Config(format!("tokens file {}: {e}", path.display())))
}

/// `auditlake token rm`: removes an entry (the token stops working at the next call).
pub fn remove_token(path: &PathBuf, name: &str) -> Result<(), Error> {
    let mut file = read_tokens(path)?;
    let before = file.tokens.len();
    file.tokens.retain(|t| t.name != name);
    if file.tokens.len() == before {
        return Err(Error::Config(format!("no token named '{name}'")));
    }
    write_tokens(path, &file)
}

/// `auditlake token ls`: the entries (names, tenants, expiry; hashes are not secrets but are
/// not shown).
pub fn list_tokens(path: &PathBuf) -> Result<Vec<TokenEntry>, Error> {
    Ok(read_tokens(path)?.tokens)
}

fn write_tokens(path: &PathBuf, file: &TokensFile) -> Result<(), Error> {
    let text = serde_yaml::to_string(file).map_err(|e| Error::Yaml {
        what: "the tokens file".into(),
        source: e,
    })?;
    // Write-then-rename: the server re-reads the file on every call and must never see half.
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::Io {
        op: "write",
        path: tmp.clone(),
        source: e,
    })?;
    std::fs::rename(&tmp, path).map_err(|e| Error::Io {
        op: "rename",
        path: path.clone(),
        source: e,
    })
}

/// `auditlake token add`: appends an entry and returns the new token (shown once). `ttl`:
/// the token expires that long from now.
pub fn add_token(
    path: &PathBuf,
    name: &str,
    tenant: &str,
    ttl: Option<std::time::Duration>,
) -> Result<String, Error> {
    crate::tenant::check(tenant)?;
    let mut file = if path.exists() {
        read_tokens(path)?
    } else {
        TokensFile::default()
    };
    if file.tokens.iter().any(|t| t.name == name) {
        return Err(Error::Config(format!("a token named '{name}' exists")));
    }
    let token = format!(
        "al_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    file.tokens.push(TokenEntry {
        name: name.into(),
        tenant: tenant.into(),
        sha256: sha256_hex(&token),
        expires: ttl
            .map(|d| {
                chrono::Duration::from_std(d)
                    .map(|d| {
                        (chrono::Utc::now() + d).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    })
                    .map_err(|e| Error::Config(format!("token ttl: {e}")))
            })
            .transpose()?,
        rules: vec![Rule {
            resources: vec!["audit_query".into(), "security_report".into()],
            verbs: vec!["list".into(), "read".into(), "use".into()],
        }],
    });
    write_tokens(path, &file)?;
    Ok(token)
}

/// The server: the lake, the tokens file (re-read on every call, so a removed token stops
/// working at once), and one engine per tenant, made on first use.
pub struct AuditFlight {
    template: EngineOptions,
    tokens: PathBuf,
    engines: Mutex<HashMap<String, Arc<Engine>>>,
}

type DoGetStream = Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send>>;

impl AuditFlight {
    pub fn new(lake: Lake, template: EngineOptions, tokens: PathBuf) -> Self {
        let mut template = template;
        template.lake = lake;
        AuditFlight {
            template,
            tokens,
            engines: Mutex::new(HashMap::new()),
        }
    }

    fn token<T>(&self, req: &Request<T>) -> Result<TokenEntry, Status> {
        let header = req
            .metadata()
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("no authorization header (Bearer token)"))?
            .to_str()
            .map_err(|_| Status::unauthenticated("unreadable authorization header"))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| Status::unauthenticated("authorization must be `Bearer <token>`"))?;
        self.lookup(token)
    }

    fn lookup(&self, token: &str) -> Result<TokenEntry, Status> {
        let file = read_tokens(&self.tokens).map_err(|e| status(&e))?;
        let h = sha256_hex(token.trim());
        let t = file
            .tokens
            .into_iter()
            .find(|t| t.sha256 == h)
            .ok_or_else(|| Status::unauthenticated("unknown or revoked token"))?;
        if let Some(exp) = &t.expires {
            // An unreadable expiry fails closed.
            let at = chrono::DateTime::parse_from_rfc3339(exp).map_err(|_| {
                Status::unauthenticated(format!("token '{}' has an invalid expiry", t.name))
            })?;
            if at <= chrono::Utc::now() {
                return Err(Status::unauthenticated(format!(
                    "token '{}' expired at {exp}",
                    t.name
                )));
            }
        }
        Ok(t)
    }

    /// The token may run SQL (`use` on `audit_query`), and its tenant's engine.
    async fn engine_for<T>(&self, req: &Request<T>) -> Result<(TokenEntry, Arc<Engine>), Status> {
        let t = self.token(req)?;
        if !t.allows("audit_query", "use") {
            return Err(Status::permission_denied(format!(
                "token '{}' may not use audit_query",
                t.name
            )));
        }
        let mut engines = self.engines.lock().await;
        if let Some(e) = engines.get(&t.tenant) {
            return Ok((t, e.clone()));
        }
        let mut opts = self.template.clone();
        opts.tenant = Some(t.tenant.clone());
        let engine = Arc::new(Engine::new(opts).await.map_err(|e| status(&e))?);
        engines.insert(t.tenant.clone(), engine.clone());
        Ok((t, engine))
    }

    async fn metadata_engine<T>(&self, req: &Request<T>) -> Result<Arc<Engine>, Status> {
        let t = self.token(req)?;
        if !t.allows("audit_query", "list") && !t.allows("audit_query", "use") {
            return Err(Status::permission_denied(format!(
                "token '{}' may not list audit_query",
                t.name
            )));
        }
        self.engine_for(req).await.map(|x| x.1)
    }
}

/// A prepared statement's handle: the SQL and, once bound, its parameters as Arrow IPC.
#[derive(Debug, Serialize, Deserialize)]
struct Handle {
    sql: String,
    #[serde(default)]
    params_ipc_hex: Option<String>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>, Status> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<_, _>>()
        .map_err(|_| Status::invalid_argument("malformed prepared statement handle"))
}

fn decode_handle(b: &[u8]) -> Result<Handle, Status> {
    serde_json::from_slice(b)
        .map_err(|_| Status::invalid_argument("malformed prepared statement handle"))
}

fn params_of(h: &Handle) -> Result<Option<ParamValues>, Status> {
    let Some(hexed) = &h.params_ipc_hex else {
        return Ok(None);
    };
    let bytes = unhex(hexed)?;
    let reader =
        datafusion::arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
            .map_err(|e| Status::invalid_argument(format!("parameters: {e}")))?;
    let mut values = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| Status::invalid_argument(format!("parameters: {e}")))?;
        if batch.num_rows() == 0 {
            continue;
        }
        for c in batch.columns() {
            values.push(
                ScalarValue::try_from_array(c, 0)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?,
            );
        }
        break;
    }
    Ok(Some(ParamValues::List(
        values.into_iter().map(Into::into).collect(),
    )))
}

/// Plans SQL (read-only) with optional parameters, through the engine's scoped context.
async fn dataframe(
    engine: &Engine,
    sql: &str,
    params: Option<ParamValues>,
) -> Result<datafusion::dataframe::DataFrame, Status> {
    let ctx = engine.context();
    let df = ctx
        .sql_with_options(sql, crate::query::statements::read_only())
        .await
        .map_err(|e| status(&crate::query::engine::friendly(e, ctx)))?;
    match params {
        Some(p) => df
            .with_param_values(p)
            .map_err(|e| status(&crate::query::engine::friendly(e, ctx))),
        None => Ok(df),
    }
}

/// What each query's log line says once its stream ends (or is dropped by the client).
struct QueryLog {
    user: String,
    tenant: String,
    sql: String,
    plan: Option<Arc<dyn datafusion::physical_plan::ExecutionPlan>>,
}

struct LogOnDrop {
    log: QueryLog,
    rows: Arc<std::sync::atomic::AtomicU64>,
    started: std::time::Instant,
}

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        let bytes = self
            .log
            .plan
            .as_ref()
            .map(|p| crate::query::engine::stats(p).bytes_scanned)
            .unwrap_or(0);
        tracing::info!(
            user = %self.log.user,
            tenant = %self.log.tenant,
            sql = %self.log.sql,
            rows = self.rows.load(std::sync::atomic::Ordering::Relaxed),
            bytes_scanned = bytes,
            duration_ms = self.started.elapsed().as_millis() as u64,
            "flight query"
        );
    }
}

/// Counts rows as they stream and logs the query when the stream is done with.
fn logged(s: SendableRecordBatchStream, log: QueryLog) -> SendableRecordBatchStream {
    use futures::StreamExt;
    let schema = s.schema();
    let rows = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let guard = LogOnDrop {
        log,
        rows: rows.clone(),
        started: std::time::Instant::now(),
    };
    let counted = s.inspect(move |b| {
        let _ = &guard;
        if let Ok(b) = b {
            rows.fetch_add(b.num_rows() as u64, std::sync::atomic::Ordering::Relaxed);
        }
    });
    Box::pin(datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, counted))
}

fn flight_info(
    schema: &Schema,
    ticket: Vec<u8>,
    descriptor: FlightDescriptor,
) -> Result<FlightInfo, Status> {
    FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(format!("encode schema: {e}")))
        .map(|i| {
            i.with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
                .with_descriptor(descriptor)
        })
}

/// Rows per streamed batch: a plan may emit a dozen rows at a time (a nested-loop join does),
/// and per-message costs then dominate; the encoder still splits batches above 2 MB.
const COALESCE_ROWS: usize = 8192;

/// The result's batches, small ones coalesced to about `COALESCE_ROWS` rows.
fn coalesced(
    s: SendableRecordBatchStream,
) -> impl Stream<Item = Result<RecordBatch, FlightError>> + Send {
    let co = datafusion::arrow::compute::BatchCoalescer::new(s.schema(), COALESCE_ROWS);
    futures::stream::unfold((s, co, false), |(mut s, mut co, mut done)| async move {
        loop {
            if let Some(b) = co.next_completed_batch() {
                return Some((Ok(b), (s, co, done)));
            }
            if done {
                return None;
            }
            match futures::StreamExt::next(&mut s).await {
                Some(Ok(b)) => {
                    if let Err(e) = co.push_batch(b) {
                        return Some((Err(FlightError::Arrow(e)), (s, co, true)));
                    }
                }
                Some(Err(e)) => {
                    return Some((Err(FlightError::ExternalError(Box::new(e))), (s, co, true)));
                }
                None => {
                    done = true;
                    if let Err(e) = co.finish_buffered_batch() {
                        return Some((Err(FlightError::Arrow(e)), (s, co, true)));
                    }
                }
            }
        }
    })
}

fn stream_batches(schema: SchemaRef, s: SendableRecordBatchStream) -> DoGetStream {
    let batches = coalesced(s);
    Box::pin(
        FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches)
            .map_err(Status::from),
    )
}

fn one_batch<E: Into<FlightError>>(
    schema: SchemaRef,
    batch: Result<RecordBatch, E>,
) -> DoGetStream {
    let b = batch.map_err(Into::into);
    Box::pin(
        FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(futures::stream::once(async { b }))
            .map_err(Status::from),
    )
}

fn sql_info() -> SqlInfoData {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "auditlake");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
    b.append(SqlInfo::FlightSqlServerReadOnly, true);
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.build().expect("static sql info")
}

fn xdbc_info() -> XdbcTypeInfoData {
    let mut b = XdbcTypeInfoDataBuilder::new();
    for (name, t) in [
        ("VARCHAR", XdbcDataType::XdbcVarchar),
        ("BIGINT", XdbcDataType::XdbcBigint),
        ("DOUBLE", XdbcDataType::XdbcDouble),
        ("BOOLEAN", XdbcDataType::XdbcBit),
        ("DATE", XdbcDataType::XdbcDate),
        ("TIMESTAMP", XdbcDataType::XdbcTimestamp),
    ] {
        b.append(XdbcTypeInfo {
            type_name: name.into(),
            data_type: t,
            column_size: None,
            literal_prefix: None,
            literal_suffix: None,
            create_params: None,
            nullable: Nullable::NullabilityNullable,
            case_sensitive: name == "VARCHAR",
            searchable: Searchable::Full,
            unsigned_attribute: None,
            fixed_prec_scale: false,
            auto_increment: None,
            local_type_name: Some(name.into()),
            minimum_scale: None,
            maximum_scale: None,
            sql_data_type: t,
            datetime_subcode: None,
            num_prec_radix: None,
            interval_precision: None,
        });
    }
    b.build().expect("static xdbc info")
}

#[tonic::async_trait]
impl FlightSqlService for AuditFlight {
    type FlightService = AuditFlight;

    /// Basic auth: user = the token's name, password = the token; answers with the bearer.
    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<
        Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>,
        Status,
    > {
        use base64_lite::decode;
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Status::unauthenticated("no authorization header"))?;
        let token = if let Some(b) = header.strip_prefix("Basic ") {
            let text = decode(b).ok_or_else(|| Status::unauthenticated("bad Basic credentials"))?;
            let (user, pass) = text
                .split_once(':')
                .ok_or_else(|| Status::unauthenticated("bad Basic credentials"))?;
            let entry = self.lookup(pass)?;
            if entry.name != user {
                return Err(Status::unauthenticated(
                    "token does not belong to that user",
                ));
            }
            pass.to_string()
        } else if let Some(t) = header.strip_prefix("Bearer ") {
            self.lookup(t)?;
            t.to_string()
        } else {
            return Err(Status::unauthenticated(
                "authorization must be Basic or Bearer",
            ));
        };
        let out = futures::stream::iter(vec![Ok(HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().into(),
        })]);
        let mut resp: Response<Pin<Box<dyn Stream<Item = _> + Send>>> =
            Response::new(Box::pin(out));
        let v = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::internal("token header"))?;
        resp.metadata_mut().insert("authorization", v);
        Ok(resp)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let (_, engine) = self.engine_for(&request).await?;
        let df = dataframe(&engine, &query.query, None).await?;
        let schema: Schema = df.schema().as_arrow().clone();
        let ticket = TicketStatementQuery {
            statement_handle: query.query.into_bytes().into(),
        };
        let info = flight_info(
            &schema,
            ticket.as_any().encode_to_vec(),
            request.into_inner(),
        )?;
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let (tok, engine) = self.engine_for(&request).await?;
        let sql = String::from_utf8(ticket.statement_handle.to_vec())
            .map_err(|_| Status::invalid_argument("statement handle is not UTF-8"))?;
        let (stream, plan) = engine.execute_stream(&sql).await.map_err(|e| status(&e))?;
        let logged = logged(
            stream,
            QueryLog {
                user: tok.name,
                tenant: tok.tenant,
                sql,
                plan: Some(plan.clone()),
            },
        );
        Ok(Response::new(stream_batches(plan.schema(), logged)))
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let (_, engine) = self.engine_for(&request).await?;
        let df = dataframe(&engine, &query.query, None).await?;
        let schema: Schema = df.schema().as_arrow().clone();
        let params = df
            .logical_plan()
            .get_parameter_types()
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let mut names: Vec<&String> = params.keys().collect();
        names.sort_by_key(|n| {
            n.trim_start_matches('$')
                .parse::<usize>()
                .unwrap_or(usize::MAX)
        });
        let param_schema = Schema::new(
            names
                .iter()
                .map(|n| {
                    Field::new(
                        n.as_str(),
                        params[*n].clone().unwrap_or(DataType::Utf8),
                        true,
                    )
                })
                .collect::<Vec<_>>(),
        );
        let enc = |s: &Schema| -> Result<bytes::Bytes, Status> {
            let IpcMessage(b) = SchemaAsIpc::new(s, &IpcWriteOptions::default())
                .try_into()
                .map_err(|e: datafusion::arrow::error::ArrowError| {
                    Status::internal(e.to_string())
                })?;
            Ok(b)
        };
        let handle = serde_json::to_vec(&Handle {
            sql: query.query,
            params_ipc_hex: None,
        })
        .map_err(|e| Status::internal(e.to_string()))?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema: enc(&schema)?,
            parameter_schema: enc(&param_schema)?,
        })
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        self.token(&request)?;
        let mut handle = decode_handle(&query.prepared_statement_handle)?;
        let stream = request
            .into_inner()
            .map_err(|e| FlightError::Tonic(Box::new(e)));
        let batches: Vec<RecordBatch> =
            arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(stream)
                .try_collect()
                .await
                .map_err(|e| Status::invalid_argument(format!("parameters: {e}")))?;
        if let Some(first) = batches.first() {
            let mut buf = Vec::new();
            {
                let mut w = datafusion::arrow::ipc::writer::StreamWriter::try_new(
                    &mut buf,
                    &first.schema(),
                )
                .map_err(|e| Status::internal(e.to_string()))?;
                w.write(first)
                    .map_err(|e| Status::internal(e.to_string()))?;
                w.finish().map_err(|e| Status::internal(e.to_string()))?;
            }
            handle.params_ipc_hex = Some(hex(&buf));
        }
        let bytes = serde_json::to_vec(&handle).map_err(|e| Status::internal(e.to_string()))?;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(bytes.into()),
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let (_, engine) = self.engine_for(&request).await?;
        let h = decode_handle(&cmd.prepared_statement_handle)?;
        let df = dataframe(&engine, &h.sql, params_of(&h)?).await?;
        let schema: Schema = df.schema().as_arrow().clone();
        let info = flight_info(&schema, cmd.as_any().encode_to_vec(), request.into_inner())?;
        Ok(Response::new(info))
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let (tok, engine) = self.engine_for(&request).await?;
        let h = decode_handle(&cmd.prepared_statement_handle)?;
        let df = dataframe(&engine, &h.sql, params_of(&h)?).await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let plan = df
            .create_physical_plan()
            .await
            .map_err(|e| status(&crate::query::engine::friendly(e, engine.context())))?;
        let stream =
            datafusion::physical_plan::execute_stream(plan.clone(), engine.context().task_ctx())
                .map_err(|e| status(&crate::query::engine::friendly(e, engine.context())))?;
        let log = QueryLog {
            user: tok.name,
            tenant: tok.tenant,
            sql: h.sql,
            plan: Some(plan),
        };
        Ok(Response::new(stream_batches(schema, logged(stream, log))))
    }

    async fn list_custom_actions(&self) -> Option<Vec<Result<arrow_flight::ActionType, Status>>> {
        Some(
            REPORT_ACTIONS
                .iter()
                .map(|(t, d)| {
                    Ok(arrow_flight::ActionType {
                        r#type: (*t).into(),
                        description: (*d).into(),
                    })
                })
                .collect(),
        )
    }

    /// Access Monitoring over Flight: saved queries and reports, with Teleport's verbs
    /// enforced per token (`list`, `read`, `use` on `audit_query` and `security_report`).
    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        let t = self.token(&request)?;
        let action = request.into_inner();
        let body = self.report_action(&t, &action.r#type, &action.body).await?;
        let out = arrow_flight::Result {
            body: body.into_bytes().into(),
        };
        Ok(Response::new(Box::pin(futures::stream::iter([Ok(out)]))))
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        // Stateless handles: nothing to free.
        self.token(&request).map(|_| ())
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.token(&request)?;
        let schema = query.into_builder().schema();
        Ok(Response::new(flight_info(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )?))
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.token(&request)?;
        let mut b = query.into_builder();
        b.append("auditlake");
        let schema = b.schema();
        Ok(Response::new(one_batch(schema, b.build())))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.token(&request)?;
        let schema = query.clone().into_builder().schema();
        Ok(Response::new(flight_info(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )?))
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.token(&request)?;
        let mut b = query.into_builder();
        b.append("auditlake", "public");
        let schema = b.schema();
        Ok(Response::new(one_batch(schema, b.build())))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.token(&request)?;
        let schema = query.clone().into_builder().schema();
        Ok(Response::new(flight_info(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )?))
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let engine = self.metadata_engine(&request).await?;
        let ctx = engine.context();
        let mut b = query.into_builder();
        let Some(catalog) = ctx.catalog("auditlake") else {
            return Err(Status::internal("catalog missing"));
        };
        let Some(schema) = catalog.schema("public") else {
            return Err(Status::internal("schema missing"));
        };
        let mut names = schema.table_names();
        names.sort();
        for name in names {
            let Ok(Some(t)) = schema.table(&name).await else {
                continue;
            };
            let kind = match t.table_type() {
                datafusion::datasource::TableType::View => "VIEW",
                _ => "TABLE",
            };
            b.append("auditlake", "public", &name, kind, t.schema().as_ref())
                .map_err(Status::from)?;
        }
        let s = b.schema();
        Ok(Response::new(one_batch(s, b.build())))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.token(&request)?;
        Ok(Response::new(flight_info(
            &table_types_schema(),
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )?))
    }

    async fn do_get_table_types(
        &self,
        _query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.token(&request)?;
        let schema = Arc::new(table_types_schema());
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec!["TABLE", "VIEW"])) as ArrayRef],
        );
        Ok(Response::new(one_batch(schema, batch)))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.token(&request)?;
        let data = sql_info();
        let schema = query.clone().into_builder(&data).schema();
        Ok(Response::new(flight_info(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )?))
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.token(&request)?;
        let data = sql_info();
        let b = query.into_builder(&data);
        let schema = b.schema();
        Ok(Response::new(one_batch(schema, b.build())))
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.token(&request)?;
        let data = xdbc_info();
        let schema = query.into_builder(&data).schema();
        Ok(Response::new(flight_info(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )?))
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.token(&request)?;
        let data = xdbc_info();
        let b = query.into_builder(&data);
        let schema = b.schema();
        Ok(Response::new(one_batch(schema, b.build())))
    }

    async fn do_get_fallback(
        &self,
        request: Request<Ticket>,
        message: Any,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.token(&request)?;
        Err(Status::unimplemented(format!(
            "unsupported ticket {}",
            message.type_url
        )))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

fn table_types_schema() -> Schema {
    Schema::new(vec![Field::new("table_type", DataType::Utf8, false)])
}

/// Minimal base64 decoding for Basic auth (the only place we need it).
mod base64_lite {
    pub fn decode(s: &str) -> Option<String> {
        let mut out = Vec::new();
        let mut buf = 0u32;
        let mut bits = 0;
        for c in s.trim().bytes() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' => break,
                _ => return None,
            } as u32;
            buf = (buf << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((buf >> bits) as u8);
                buf &= (1 << bits) - 1;
            }
        }
        String::from_utf8(out).ok()
    }
}

/// The custom actions (type, description) `list_actions` shows.
const REPORT_ACTIONS: &[(&str, &str)] = &[
    (
        "ListSavedQueries",
        "names of saved audit queries (list on audit_query)",
    ),
    (
        "GetSavedQuery",
        "body: name; the saved query as JSON (read on audit_query)",
    ),
    (
        "ListReports",
        "names of reports, the built-in one first (list on security_report)",
    ),
    (
        "GetReport",
        "body: name; the report's queries as JSON (read on security_report)",
    ),
    (
        "RunReport",
        "body: {\"name\", \"days\"}; runs it in the token's tenant, returns Teleport's report-result JSON (use on security_report and audit_query)",
    ),
];

/// Body of a `RunReport` action.
#[derive(Deserialize)]
struct RunReportBody {
    #[serde(default = "builtin_report_name")]
    name: String,
    #[serde(default)]
    days: Option<u32>,
}

fn builtin_report_name() -> String {
    crate::analysis::report::BUILTIN_NAMES[0].to_string()
}

impl AuditFlight {
    fn require(t: &TokenEntry, resource: &str, verb: &str) -> Result<(), Status> {
        if t.allows(resource, verb) {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "token '{}' may not {verb} {resource}",
                t.name
            )))
        }
    }

    async fn report_action(
        &self,
        t: &TokenEntry,
        kind: &str,
        body: &[u8],
    ) -> Result<String, Status> {
        let lake = &self.template.lake;
        let cat = crate::analysis::report::saved(lake, Some(&t.tenant));
        let text = || {
            std::str::from_utf8(body)
                .map(str::trim)
                .map_err(|_| Status::invalid_argument("action body must be UTF-8"))
        };
        match kind {
            "ListSavedQueries" => {
                Self::require(t, "audit_query", "list")?;
                json(&cat.queries().await.map_err(|e| status(&e))?)
            }
            "GetSavedQuery" => {
                Self::require(t, "audit_query", "read")?;
                json(&cat.query(text()?).await.map_err(|e| status(&e))?)
            }
            "ListReports" => {
                Self::require(t, "security_report", "list")?;
                let mut names = vec![crate::analysis::report::BUILTIN_NAMES[0].to_string()];
                names.extend(cat.reports().await.map_err(|e| status(&e))?);
                json(&names)
            }
            "GetReport" => {
                Self::require(t, "security_report", "read")?;
                let name = text()?;
                let r = crate::analysis::report::resolve(lake, Some(&t.tenant), name)
                    .await
                    .map_err(|e| status(&e))?;
                json(&r)
            }
            "RunReport" => {
                Self::require(t, "security_report", "use")?;
                // Running a report runs its SQL.
                Self::require(t, "audit_query", "use")?;
                let req: RunReportBody = if body.is_empty() {
                    serde_json::from_str("{}").expect("empty object")
                } else {
                    serde_json::from_slice(body)
                        .map_err(|e| Status::invalid_argument(format!("RunReport body: {e}")))?
                };
                let report = crate::analysis::report::resolve(lake, Some(&t.tenant), &req.name)
                    .await
                    .map_err(|e| status(&e))?;
                let mut opts = self.template.clone();
                opts.tenant = Some(t.tenant.clone());
                opts.days = req.days.or(Some(30));
                let engine = Engine::new(opts).await.map_err(|e| status(&e))?;
                let by = crate::analysis::report::RunBy {
                    who: format!("flight:{}", t.name),
                    tenant: Some(t.tenant.clone()),
                    days: req.days.or(Some(30)),
                };
                let res =
                    crate::analysis::report::run_and_record(&engine, &report, lake, &by).await;
                json(&res.map_err(|e| status(&e))?)
            }
            other => Err(Status::invalid_argument(format!(
                "unknown action '{other}' (list_actions names them)"
            ))),
        }
    }
}

/// JSON of an action result.
fn json<T: Serialize>(v: &T) -> Result<String, Status> {
    serde_json::to_string(v).map_err(|e| Status::internal(e.to_string()))
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
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|e| Error::Io {
                op: "read",
                path: p.clone(),
                source: e,
            })
        };
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
