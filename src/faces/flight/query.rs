//! What a SQL call does, statement or prepared: check the token, admit the query, decode and
//! size-check what the client sent, plan on the query runtime under the deadline, stream.

use std::sync::Arc;

use arrow_flight::sql::server::PeekableFlightDataStream;
use arrow_flight::sql::{
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, Any,
    CommandPreparedStatementQuery, CommandStatementQuery, DoPutPreparedStatementResult,
    ProstMessageExt, TicketStatementQuery,
};
use arrow_flight::{FlightDescriptor, FlightInfo, IpcMessage, SchemaAsIpc};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::common::ParamValues;
use prost::Message;
use tonic::{Request, Status};

use super::auth::TokenEntry;
use super::handle::{Handle, hex};
use super::stream::{DoGetStream, QueryLog, flight_info};
use super::{AuditFlight, status};
use crate::query::engine::Engine;

/// What to run: SQL and, for a bound prepared statement, its parameters.
struct Job {
    sql: String,
    params: Option<ParamValues>,
}

impl AuditFlight {
    /// The schema a statement would return (GetFlightInfo), planned under the deadline.
    async fn schema_of(
        &self,
        tok: &TokenEntry,
        engine: Arc<Engine>,
        job: Job,
    ) -> Result<Schema, Status> {
        let _permit = self.admission.admit(&tok.sha256, &tok.name)?;
        self.queries
            .run(self.deadline(), "planning", async move {
                let df = engine
                    .plan_with_params(&job.sql, job.params)
                    .await
                    .map_err(|e| status(&e))?;
                Ok(df.schema().as_arrow().clone())
            })
            .await
    }

    /// Plans and starts `job` on the query runtime; the stream keeps the query's permit.
    async fn start(
        &self,
        tok: TokenEntry,
        engine: Arc<Engine>,
        job: Job,
    ) -> Result<DoGetStream, Status> {
        let permit = self.admission.admit(&tok.sha256, &tok.name)?;
        let deadline = self.deadline();
        let e = engine.clone();
        let sql = job.sql.clone();
        let (schema, stream, plan) = self
            .queries
            .run(deadline, "planning", async move {
                let df = e
                    .plan_with_params(&job.sql, job.params)
                    .await
                    .map_err(|x| status(&x))?;
                let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
                let plan = e.physical(df).await.map_err(|x| status(&x))?;
                // Executing inside the query runtime: operators spawn their tasks there.
                let stream = e.stream(&plan).map_err(|x| status(&x))?;
                Ok((schema, stream, plan))
            })
            .await?;
        let log = QueryLog {
            user: tok.name,
            tenant: tok.tenant,
            sql,
            plan,
        };
        self.queries
            .pump(schema, stream, engine, deadline, log, permit)
    }

    pub(super) async fn info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<FlightInfo, Status> {
        self.codec.check_statement(query.query.len())?;
        let (tok, engine) = self.engine_for(&request).await?;
        let job = Job {
            sql: query.query.clone(),
            params: None,
        };
        let schema = self.schema_of(&tok, engine, job).await?;
        let ticket = TicketStatementQuery {
            statement_handle: query.query.into_bytes().into(),
        };
        flight_info(
            &schema,
            ticket.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    pub(super) async fn get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<arrow_flight::Ticket>,
    ) -> Result<DoGetStream, Status> {
        let sql = self.codec.statement(&ticket.statement_handle)?.to_string();
        let (tok, engine) = self.engine_for(&request).await?;
        self.start(tok, engine, Job { sql, params: None }).await
    }

    pub(super) async fn create_prepared(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        self.codec.check_statement(query.query.len())?;
        let (tok, engine) = self.engine_for(&request).await?;
        let _permit = self.admission.admit(&tok.sha256, &tok.name)?;
        let sql = query.query.clone();
        let (schema, param_schema) = self
            .queries
            .run(self.deadline(), "planning", async move {
                let df = engine
                    .plan_with_params(&sql, None)
                    .await
                    .map_err(|e| status(&e))?;
                let schema: Schema = df.schema().as_arrow().clone();
                let params = df
                    .logical_plan()
                    .get_parameter_types()
                    .map_err(|e| status(&engine.friendly(e)))?;
                Ok((schema, parameter_schema(params)))
            })
            .await?;
        let handle = self.codec.encode(&Handle {
            sql: query.query,
            tenant: tok.tenant,
            params_ipc_hex: None,
        })?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema: ipc_schema(&schema)?,
            parameter_schema: ipc_schema(&param_schema)?,
        })
    }

    /// Binds parameters: reads at most `--max-put-bytes` of the client's stream, keeps the
    /// first non-empty batch, and returns a new signed handle carrying it.
    pub(super) async fn put_prepared(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let tok = self.auth.bearer(request.metadata())?;
        let mut handle = self
            .codec
            .decode_for(&query.prepared_statement_handle, &tok.tenant)?;
        let data = request.into_inner();
        if let Some(ipc) = super::handle::bind_first_row(data, self.limits.max_put_bytes).await? {
            handle.params_ipc_hex = Some(hex(&ipc));
        }
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(self.codec.encode(&handle)?.into()),
        })
    }

    pub(super) async fn info_prepared(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<FlightInfo, Status> {
        let (tok, engine) = self.engine_for(&request).await?;
        let h = self
            .codec
            .decode_for(&cmd.prepared_statement_handle, &tok.tenant)?;
        let job = Job {
            params: self.codec.params(&h)?,
            sql: h.sql,
        };
        let schema = self.schema_of(&tok, engine, job).await?;
        flight_info(&schema, cmd.as_any().encode_to_vec(), request.into_inner())
    }

    pub(super) async fn get_prepared(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<arrow_flight::Ticket>,
    ) -> Result<DoGetStream, Status> {
        let (tok, engine) = self.engine_for(&request).await?;
        let h = self
            .codec
            .decode_for(&cmd.prepared_statement_handle, &tok.tenant)?;
        let job = Job {
            params: self.codec.params(&h)?,
            sql: h.sql,
        };
        self.start(tok, engine, job).await
    }

    pub(super) async fn get_fallback(
        &self,
        request: Request<arrow_flight::Ticket>,
        message: Any,
    ) -> Result<DoGetStream, Status> {
        self.auth.bearer(request.metadata())?;
        Err(Status::unimplemented(format!(
            "unsupported ticket {}",
            message.type_url.chars().take(200).collect::<String>()
        )))
    }
}

/// The parameters' schema, `$1, $2, …` in order; an untyped one is text.
fn parameter_schema(params: std::collections::HashMap<String, Option<DataType>>) -> Schema {
    let mut names: Vec<&String> = params.keys().collect();
    names.sort_by_key(|n| {
        n.trim_start_matches('$')
            .parse::<usize>()
            .unwrap_or(usize::MAX)
    });
    Schema::new(
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
    )
}

fn ipc_schema(s: &Schema) -> Result<bytes::Bytes, Status> {
    let IpcMessage(b) = SchemaAsIpc::new(s, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: datafusion::arrow::error::ArrowError| Status::internal(e.to_string()))?;
    Ok(b)
}
