//! The Flight SQL service, thin: each call is guarded (a panic is `Internal` for that call)
//! and handed to the room that owns it — `query` (SQL), `actions` (Access Monitoring), `auth`
//! (handshake) — or answered here for the six metadata endpoints through one helper.

use std::pin::Pin;
use std::sync::Arc;

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
    Action, FlightDescriptor, FlightInfo, HandshakeRequest, HandshakeResponse, Ticket,
};
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use futures::Stream;
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use super::actions::REPORT_ACTIONS;
use super::limits::guard;
use super::stream::{flight_info, one_batch};
use super::{AuditFlight, status};

type Resp<T> = Result<Response<T>, Status>;
type DoGet = <AuditFlight as FlightService>::DoGetStream;

impl AuditFlight {
    /// The one helper of the metadata endpoints' GetFlightInfo: the caller holds a token; the
    /// ticket is the command itself; the schema is the command's.
    fn metadata_info<C: ProstMessageExt>(
        &self,
        cmd: &C,
        schema: &Schema,
        request: Request<FlightDescriptor>,
    ) -> Resp<FlightInfo> {
        self.auth.bearer(request.metadata())?;
        let info = flight_info(schema, cmd.as_any().encode_to_vec(), request.into_inner())?;
        Ok(Response::new(info))
    }
}

#[tonic::async_trait]
impl FlightSqlService for AuditFlight {
    type FlightService = AuditFlight;

    /// Basic auth: user = the token's name, password = the token; answers with the bearer.
    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Resp<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>> {
        guard("handshake", async {
            let token = self.auth.handshake(request.metadata())?;
            let v = format!("Bearer {token}")
                .parse()
                .map_err(|_| Status::internal("token header"))?;
            let out = futures::stream::iter(vec![Ok(HandshakeResponse {
                protocol_version: 0,
                payload: token.into(),
            })]);
            let mut resp: Response<Pin<Box<dyn Stream<Item = _> + Send>>> =
                Response::new(Box::pin(out));
            resp.metadata_mut().insert("authorization", v);
            Ok(resp)
        })
        .await
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Resp<FlightInfo> {
        guard("statement info", self.info_statement(query, request))
            .await
            .map(Response::new)
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Resp<DoGet> {
        guard("statement", self.get_statement(ticket, request))
            .await
            .map(Response::new)
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        guard("prepare", self.create_prepared(query, request)).await
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        guard("bind", self.put_prepared(query, request)).await
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Resp<FlightInfo> {
        guard("prepared info", self.info_prepared(cmd, request))
            .await
            .map(Response::new)
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Resp<DoGet> {
        guard("prepared", self.get_prepared(cmd, request))
            .await
            .map(Response::new)
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        // Handles live in the client: nothing to free.
        self.auth.bearer(request.metadata()).map(|_| ())
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

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Resp<<Self as FlightService>::DoActionStream> {
        guard("action", async {
            let t = self.auth.bearer(request.metadata())?;
            let action = request.into_inner();
            let body = self.report_action(&t, &action.r#type, &action.body).await?;
            let out = arrow_flight::Result {
                body: body.into_bytes().into(),
            };
            let s: <Self as FlightService>::DoActionStream =
                Box::pin(futures::stream::iter([Ok(out)]));
            Ok(Response::new(s))
        })
        .await
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Resp<FlightInfo> {
        let schema = query.into_builder().schema();
        self.metadata_info(&query, &schema, request)
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Resp<DoGet> {
        self.auth.bearer(request.metadata())?;
        let mut b = query.into_builder();
        b.append("auditlake");
        Ok(Response::new(one_batch(b.schema(), b.build())))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Resp<FlightInfo> {
        let schema = query.clone().into_builder().schema();
        self.metadata_info(&query, &schema, request)
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Resp<DoGet> {
        self.auth.bearer(request.metadata())?;
        let mut b = query.into_builder();
        b.append("auditlake", "public");
        Ok(Response::new(one_batch(b.schema(), b.build())))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Resp<FlightInfo> {
        let schema = query.clone().into_builder().schema();
        self.metadata_info(&query, &schema, request)
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Resp<DoGet> {
        guard("tables", async {
            let engine = self.metadata_engine(&request).await?;
            let mut query = query;
            // The builder filters types by exact match; we filter here instead, so that the
            // spellings other clients use ("BASE TABLE", lower case) find the same tables.
            let kinds = TableKinds::asked(&std::mem::take(&mut query.table_types));
            let mut b = query.into_builder();
            for t in engine.tables().await.map_err(|e| status(&e))? {
                let Some(kind) = kinds.spelling(t.is_view) else {
                    continue;
                };
                b.append("auditlake", "public", &t.name, kind, t.schema.as_ref())
                    .map_err(Status::from)?;
            }
            Ok(Response::new(one_batch(b.schema(), b.build())))
        })
        .await
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Resp<FlightInfo> {
        self.metadata_info(&query, &table_types_schema(), request)
    }

    async fn do_get_table_types(
        &self,
        _query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Resp<DoGet> {
        self.auth.bearer(request.metadata())?;
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
    ) -> Resp<FlightInfo> {
        let data = sql_info()?;
        let schema = query.clone().into_builder(&data).schema();
        self.metadata_info(&query, &schema, request)
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Resp<DoGet> {
        self.auth.bearer(request.metadata())?;
        let data = sql_info()?;
        let b = query.into_builder(&data);
        Ok(Response::new(one_batch(b.schema(), b.build())))
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Resp<FlightInfo> {
        let data = xdbc_info()?;
        let schema = query.into_builder(&data).schema();
        self.metadata_info(&query, &schema, request)
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<Ticket>,
    ) -> Resp<DoGet> {
        self.auth.bearer(request.metadata())?;
        let data = xdbc_info()?;
        let b = query.into_builder(&data);
        Ok(Response::new(one_batch(b.schema(), b.build())))
    }

    async fn do_get_fallback(&self, request: Request<Ticket>, message: Any) -> Resp<DoGet> {
        guard("ticket", self.get_fallback(request, message))
            .await
            .map(Response::new)
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// The table types a `GetTables` client asked for, each reported back in the client's word
/// (upper case, single spaces), so a client that checks the type of what it gets sees its own.
/// `TABLE`, `BASE TABLE` (information_schema's word, which Grafana's Flight SQL plugin sends)
/// and any case of them mean our tables; `VIEW` our views; no type at all means both. Any other
/// type (`SYSTEM TABLE`, …) matches nothing, as there is none.
#[derive(Debug, Default, PartialEq)]
struct TableKinds {
    all: bool,
    table: Option<String>,
    view: Option<String>,
}

impl TableKinds {
    fn asked(types: &[String]) -> Self {
        let mut k = TableKinds {
            all: types.is_empty(),
            ..Default::default()
        };
        for t in types {
            let canon = t.trim().to_ascii_uppercase();
            let canon = canon.split_whitespace().collect::<Vec<_>>().join(" ");
            match canon.as_str() {
                "TABLE" | "BASE TABLE" => {
                    k.table.get_or_insert(canon);
                }
                "VIEW" => {
                    k.view.get_or_insert(canon);
                }
                _ => {}
            }
        }
        k
    }

    /// The type to report for one table or view, or `None` when the client did not ask for it.
    fn spelling(&self, is_view: bool) -> Option<&str> {
        let (asked, canon) = if is_view {
            (&self.view, "VIEW")
        } else {
            (&self.table, "TABLE")
        };
        match asked {
            Some(s) => Some(s.as_str()),
            None if self.all => Some(canon),
            None => None,
        }
    }
}

fn table_types_schema() -> Schema {
    Schema::new(vec![Field::new("table_type", DataType::Utf8, false)])
}

fn sql_info() -> Result<SqlInfoData, Status> {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "auditlake");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
    b.append(SqlInfo::FlightSqlServerReadOnly, true);
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.build()
        .map_err(|e| Status::internal(format!("sql info: {e}")))
}

fn xdbc_info() -> Result<XdbcTypeInfoData, Status> {
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
    b.build()
        .map_err(|e| Status::internal(format!("xdbc info: {e}")))
}

#[cfg(test)]
mod tests {
    use super::TableKinds;

    fn kinds(t: &[&str]) -> TableKinds {
        TableKinds::asked(&t.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn table_types_in_other_clients_spellings() {
        let all = kinds(&[]);
        assert_eq!(
            (all.spelling(false), all.spelling(true)),
            (Some("TABLE"), Some("VIEW"))
        );
        // Grafana's word: tables only, reported in the spelling asked for.
        let base = kinds(&["BASE TABLE"]);
        assert_eq!(
            (base.spelling(false), base.spelling(true)),
            (Some("BASE TABLE"), None)
        );
        let lower = kinds(&["  base   table ", "view"]);
        assert_eq!(
            (lower.spelling(false), lower.spelling(true)),
            (Some("BASE TABLE"), Some("VIEW"))
        );
        let views = kinds(&["VIEW"]);
        assert_eq!(
            (views.spelling(false), views.spelling(true)),
            (None, Some("VIEW"))
        );
        let none = kinds(&["SYSTEM TABLE"]);
        assert_eq!((none.spelling(false), none.spelling(true)), (None, None));
    }
}
