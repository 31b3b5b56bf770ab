//! The one query path every face uses: a DataFusion session over the lake with the `events`
//! table, the shared views, the Trino functions, the session's scope (tenant, days) and
//! guardrails (bytes scanned, timeout, memory). Faces only call `Engine::new`, `execute*` and
//! the planning methods (`plan_with_params`, `physical`, `stream`, `tables`); none reaches into
//! the DataFusion context.

use datafusion::physical_optimizer::PhysicalOptimizerRule;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, FieldRef, SchemaRef};
use chrono::{NaiveDate, Utc};
use datafusion::common::Column;
use datafusion::common::ParamValues;
use datafusion::dataframe::DataFrame;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, cast};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::lake::Lake;
pub use crate::query::memory::SharedMemory;
use crate::query::memory::{QueryPool, tracked_pool};
use crate::query::table::{
    EventsTable, LakeScanExec, ScanLimits, Scope, bytes_scanned, store_url_root,
};
use crate::query::views;

/// The seed's Athena workgroup cutoff: 20 GiB scanned per query.
pub const DEFAULT_MAX_BYTES_SCANNED: u64 = 20 * 1024 * 1024 * 1024;

/// Default deadline of one query, in seconds (the Athena default of 30 minutes).
pub const DEFAULT_TIMEOUT_SECS: u64 = 30 * 60;

/// Longest deadline one may set, in seconds (366 days, as the Flight server's): a deadline is
/// an instant, and `--timeout-secs 18446744073709551615` used to overflow one.
pub const MAX_TIMEOUT_SECS: u64 = 366 * 86_400;

/// Default memory the engine may use, in MiB.
pub const DEFAULT_MEMORY_LIMIT_MB: usize = 4096;

/// Default name of the events table (the Glue table's name).
pub const DEFAULT_TABLE: &str = "events";

/// How deep the SQL parser may nest (parentheses, subqueries) before it refuses the statement:
/// it errors long before a deep statement could exhaust a thread's stack.
pub const SQL_RECURSION_LIMIT: usize = 50;

/// Most operators (`+`, `||`, `AND`, `::`, …) one statement may hold. The parser reads a chain
/// like `1 + 1 + … + 1` in a loop, not by recursion, so its limit never sees it, but the
/// planner then walks the chain's tree recursively (naming its columns, folding constants):
/// a few thousand links exhaust a thread's stack and abort the process. Counting operators
/// bounds the tree's depth before anything walks it.
pub const MAX_STATEMENT_OPERATORS: usize = 1000;

/// How deep constructs with a syntax of their own (`CAST(x AS t)`, `POSITION(a IN b)`,
/// `SUBSTRING(…)`, `CASE … END`, `NOT (…)`, …) may nest in one statement. When such a
/// construct fails to parse, sqlparser retries it as a plain name or function call, and every
/// construct nested inside is parsed again each time: malformed ones cost 2^depth parses
/// (3^depth for `POSITION`). The fuzzer found 30 nested `CAST(` in 559 bytes that planned for
/// minutes; 8 bounds that to a few thousand parses, far deeper than queries nest.
pub const MAX_SPECIAL_NESTING: usize = 8;

/// The same cost summed over a statement: each such construct counts 3^(its nesting depth),
/// the parses a malformed one may take. Siblings add up: 12,000 eight-deep `POSITION(…)` in
/// one 1 MiB statement parsed for a minute though none nests more than 8. 100,000 is a few
/// thousand constructs at depth 1–3 (a view has a dozen).
pub const MAX_SPECIAL_COST: usize = 100_000;

/// Words the parser tries as a construct of their own before retrying them as a name
/// (`parse_expr_prefix_by_reserved_word` in sqlparser 0.62, less the words it never retries).
fn is_special(k: datafusion::sql::sqlparser::keywords::Keyword) -> bool {
    use datafusion::sql::sqlparser::keywords::Keyword as K;
    matches!(
        k,
        K::CAST
            | K::TRY_CAST
            | K::SAFE_CAST
            | K::CONVERT
            | K::TRY_CONVERT
            | K::CEIL
            | K::FLOOR
            | K::POSITION
            | K::OVERLAY
            | K::SUBSTR
            | K::SUBSTRING
            | K::EXTRACT
            | K::NOT
            | K::CASE
            | K::ARRAY
            | K::MAP
            | K::MATCH
            | K::PRIOR
            | K::LAMBDA
            | K::CURRENT_CATALOG
            | K::CURRENT_DATE
            | K::CURRENT_TIME
            | K::CURRENT_TIMESTAMP
            | K::CURRENT_USER
            | K::SESSION_USER
            | K::USER
            | K::LOCALTIME
            | K::LOCALTIMESTAMP
            | K::BOX
            | K::CIRCLE
            | K::LINE
            | K::LSEG
            | K::PATH
            | K::POINT
            | K::POLYGON
    )
}

/// Refuses, before any parser or planner sees it, a statement with more operators than
/// [`MAX_STATEMENT_OPERATORS`], constructs nested deeper than [`MAX_SPECIAL_NESTING`] or more
/// of them than [`MAX_SPECIAL_COST`] allows. One
/// pass over the tokens, without recursion; every face's SQL goes through it (the local engine,
/// the statement splitter, the Athena path).
pub fn check_shape(sql: &str) -> Result<()> {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    // Untokenizable text is the parser's to refuse, with its own message.
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        return Ok(());
    };
    let operators = tokens
        .iter()
        .filter(|t| match t {
            Token::Word(w) => matches!(
                w.keyword,
                Keyword::AND
                    | Keyword::OR
                    | Keyword::NOT
                    | Keyword::IS
                    | Keyword::LIKE
                    | Keyword::ILIKE
                    | Keyword::IN
                    | Keyword::BETWEEN
                    | Keyword::COLLATE
                    | Keyword::AT
            ),
            Token::EOF
            | Token::Number(..)
            | Token::Char(_)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::Whitespace(_)
            | Token::Comma
            | Token::Period
            | Token::SemiColon
            | Token::LParen
            | Token::RParen => false,
            Token::Mul => false, // `*` of `SELECT *` and `count(*)` as much as products
            _ => true,
        })
        .count();
    if operators > MAX_STATEMENT_OPERATORS {
        return Err(Error::Sql(format!(
            "statement has {operators} operators, more than the {MAX_STATEMENT_OPERATORS} \
             allowed (split the expression, or use IN (…) for long lists of alternatives)"
        )));
    }
    // Frames of the open parentheses and CASEs: (is it a special construct, is it a CASE).
    let mut frames: Vec<(bool, bool)> = Vec::new();
    let mut special = 0usize;
    let mut cost = 0usize;
    let mut previous: Option<&Token> = None;
    for t in tokens.iter().filter(|t| !matches!(t, Token::Whitespace(_))) {
        match t {
            Token::LParen => {
                let s = matches!(previous, Some(Token::Word(w)) if is_special(w.keyword));
                frames.push((s, false));
                if s {
                    special += 1;
                    cost = cost.saturating_add(3usize.saturating_pow(special as u32));
                }
            }
            Token::Word(w) if w.keyword == Keyword::CASE => {
                frames.push((true, true));
                special += 1;
                cost = cost.saturating_add(3usize.saturating_pow(special as u32));
            }
            Token::RParen | Token::Word(_) => {
                let closes_case = matches!(t, Token::Word(w) if w.keyword == Keyword::END);
                if matches!(t, Token::RParen) || closes_case {
                    // Pop to the frame this token closes (an unmatched one closes nothing).
                    if let Some(i) = frames.iter().rposition(|f| f.1 == closes_case) {
                        for f in frames.drain(i..) {
                            special -= usize::from(f.0);
                        }
                    }
                }
            }
            _ => {}
        }
        if special > MAX_SPECIAL_NESTING {
            return Err(Error::Sql(format!(
                "statement nests CAST, CASE, POSITION, SUBSTRING, NOT (…) and similar constructs \
                 more than {MAX_SPECIAL_NESTING} deep (the parser's work doubles with each \
                 level); flatten it, e.g. with a WITH clause"
            )));
        }
        if cost > MAX_SPECIAL_COST {
            return Err(Error::Sql(format!(
                "statement holds too many CAST, CASE, POSITION, SUBSTRING, NOT (…) and similar \
                 constructs for their nesting (each counts 3^depth; at most {MAX_SPECIAL_COST} \
                 in all); split it into several statements"
            )));
        }
        previous = Some(t);
    }
    Ok(())
}

/// Guardrails of a session.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Stop a query after it has read this many bytes from the lake.
    pub max_bytes_scanned: u64,
    /// Stop a query after this long.
    pub timeout: Duration,
    /// Memory the query engine may use before spilling or failing, in bytes.
    pub memory_limit_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes_scanned: DEFAULT_MAX_BYTES_SCANNED,
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            memory_limit_bytes: DEFAULT_MEMORY_LIMIT_MB * 1024 * 1024,
        }
    }
}

/// How to build an engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub lake: Lake,
    /// Name of the events table (`events`, or the config's `table`).
    pub table: String,
    /// Only this tenant's partitions exist for the session.
    pub tenant: Option<String>,
    /// Only the last N days of partitions (today included) exist for the session.
    pub days: Option<u32>,
    /// Only partitions on or after / on or before these dates (with `days`, the later start wins).
    pub since: Option<chrono::NaiveDate>,
    pub until: Option<chrono::NaiveDate>,
    pub limits: Limits,
    /// Worker threads for query execution.
    pub threads: usize,
    /// A memory pool shared with other engines (the Flight server's, across tenants), with a
    /// cap per query; `None`: the engine makes its own pool of `limits.memory_limit_bytes`.
    pub memory: Option<SharedMemory>,
    /// Views read their typed sidecars (`accel.rs`), built on first use; off: every view is
    /// read from `event_data`. Default on; `AUDITLAKE_VIEW_ACCEL=0` turns it off.
    pub view_accel: bool,
}

/// A table or view a session sees, as Flight's `GetTables` lists it.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub name: String,
    pub is_view: bool,
    pub schema: SchemaRef,
}

impl EngineOptions {
    pub fn new(lake: Lake) -> Self {
        Self {
            lake,
            table: DEFAULT_TABLE.into(),
            tenant: None,
            days: None,
            since: None,
            until: None,
            limits: Limits::default(),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            memory: None,
            view_accel: crate::query::accel::enabled_by_env(),
        }
    }

    /// The partitions the session sees; the days window is counted back from today, so a
    /// caller that keeps an engine across midnight must make a new one (Flight does).
    fn scope(&self) -> Result<Scope> {
        let days = self
            .days
            .map(|d| days_ago(Utc::now().date_naive(), d))
            .transpose()?;
        Ok(Scope {
            tenant: self.tenant.clone(),
            since: match (days, self.since) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            until: self.until,
        })
    }
}

/// The first day of a window of `days` days ending `today` (today included); a window that
/// would start before the calendar's first day is the caller's error, not a panic.
/// DataFusion's physical rules with ours: the filter fusion first (before `FilterPushdown`
/// hands the filter's conjuncts to the Parquet scan one row filter each), the projection
/// fusion last (after projection pushdown settled the projections).
/// `AUDITLAKE_JSON_FILTER_FUSION=0` leaves the filter fusion out (to measure it, or to rule it
/// out when a filter misbehaves); `AUDITLAKE_FOOTER_COUNTS=0` likewise the footer counts
/// (`query::footer_counts`), which run after everything else, on the final plan, and
/// `AUDITLAKE_VIEW_COUNTS=0` the string-view group counts (`query::view_counts`), last of all
/// (a partial aggregation the footers answer is gone by then).
fn physical_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules;
    if std::env::var("AUDITLAKE_JSON_FILTER_FUSION").as_deref() != Ok("0") {
        rules.insert(0, Arc::new(crate::query::udf::filter_fusion::FilterFusion));
    }
    rules.push(Arc::new(crate::query::udf::fusion::JsonFusion));
    if std::env::var("AUDITLAKE_FOOTER_COUNTS").as_deref() != Ok("0") {
        rules.push(Arc::new(crate::query::footer_counts::FooterCounts));
    }
    if std::env::var("AUDITLAKE_VIEW_COUNTS").as_deref() != Ok("0") {
        rules.push(Arc::new(crate::query::view_counts::ViewCounts));
    }
    rules
}

pub fn days_ago(today: NaiveDate, days: u32) -> Result<NaiveDate> {
    today
        .checked_sub_days(chrono::Days::new(u64::from(days.saturating_sub(1))))
        .ok_or_else(|| {
            let max = today.signed_duration_since(NaiveDate::MIN).num_days() + 1;
            Error::Config(format!(
                "days window of {days} days is out of range (at most {max})"
            ))
        })
}

/// What a query did, for `\timing`, reports and logs.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryStats {
    pub rows: usize,
    pub bytes_scanned: u64,
    pub partitions_scanned: usize,
    pub partitions_total: usize,
    pub files_scanned: usize,
    pub elapsed: Duration,
}

/// A collected query result.
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub stats: QueryStats,
}

/// Results leave the engine in the lake's own types: the scan reads strings as views (see
/// `query::table`), and a view column of a result is cast back to `Utf8` (`Binary`, lists and
/// structs of them alike), so every face, Flight client and written file sees the schema it
/// always saw. The cast copies the result's rows only, not the scan's.
fn plain_types(df: DataFrame) -> datafusion::error::Result<DataFrame> {
    if !df
        .schema()
        .fields()
        .iter()
        .any(|f| plain_type(f.data_type()).is_some())
    {
        return Ok(df);
    }
    let exprs: Vec<Expr> = df
        .schema()
        .iter()
        .map(|(q, f)| {
            let c = Expr::Column(Column::new(q.cloned(), f.name()));
            match plain_type(f.data_type()) {
                Some(t) => cast(c, t).alias_qualified(q.cloned(), f.name()),
                None => c,
            }
        })
        .collect();
    df.select(exprs)
}

/// The type without view types, or `None` when it has none.
fn plain_type(t: &DataType) -> Option<DataType> {
    let field = |f: &FieldRef| {
        plain_type(f.data_type()).map(|t| Arc::new(f.as_ref().clone().with_data_type(t)))
    };
    match t {
        DataType::Utf8View => Some(DataType::Utf8),
        DataType::BinaryView => Some(DataType::Binary),
        DataType::List(f) => field(f).map(DataType::List),
        DataType::LargeList(f) => field(f).map(DataType::LargeList),
        DataType::Struct(fs) => {
            let plain: Vec<Option<FieldRef>> = fs.iter().map(field).collect();
            plain.iter().any(Option::is_some).then(|| {
                DataType::Struct(
                    fs.iter()
                        .zip(plain)
                        .map(|(f, p)| p.unwrap_or_else(|| f.clone()))
                        .collect(),
                )
            })
        }
        _ => None,
    }
}

/// A session over the lake.
pub struct Engine {
    ctx: SessionContext,
    opts: EngineOptions,
}

impl Engine {
    /// Builds the session: the lake's store, `events` scoped to the tenant and days, the Trino
    /// functions and every view of the catalog.
    pub async fn new(opts: EngineOptions) -> Result<Engine> {
        if let Some(t) = &opts.tenant {
            crate::tenant::check(t)?;
        }
        let mut config = SessionConfig::new()
            .with_information_schema(true)
            .with_target_partitions(opts.threads.max(1))
            .with_default_catalog_and_schema("auditlake", "public");
        {
            let o = config.options_mut();
            // Evaluate the views' event_type filter inside the Parquet decoder, so event_data
            // (the large column) is only decoded for the rows a view keeps.
            o.execution.parquet.pushdown_filters = true;
            o.execution.parquet.reorder_filters = true;
            // Deeply nested SQL is refused by the parser before any recursion could exhaust a
            // stack (a stack overflow aborts the process; it is not a panic).
            o.sql_parser.recursion_limit =
                datafusion::config::ConfigNonZeroUsize::try_new(SQL_RECURSION_LIMIT)?;
        }
        let config = crate::query::udf::trino_session_config(config);
        let pool = match &opts.memory {
            Some(shared) => shared.pool.clone(),
            None => tracked_pool(opts.limits.memory_limit_bytes),
        };
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(pool)
            .build_arc()?;
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_physical_optimizer_rules(physical_rules())
            .build();
        let ctx = SessionContext::new_with_state(state);

        let table = Arc::new(EventsTable::new(
            opts.lake.clone(),
            opts.scope()?,
            ScanLimits {
                max_bytes_scanned: opts.limits.max_bytes_scanned,
            },
        )?);
        let url = url::Url::parse(&store_url_root(&opts.lake))
            .map_err(|e| Error::Other(format!("store url: {e}")))?;
        ctx.register_object_store(&url, opts.lake.store().clone());
        ctx.register_table(opts.table.as_str(), table.clone())?;
        crate::query::udf::register_all(&ctx)?;
        // The cross-source identity map (`_catalog/identities.csv`), empty when absent, so the
        // detections can join one person's identities whether or not a map exists. Scoped like
        // `events`: a tenant-scoped session sees only its tenant's people.
        let pairs: Vec<(String, String, String)> = crate::lake::store::Catalog::new(&opts.lake)
            .identities()
            .await?
            .into_iter()
            .filter(|(t, _, _)| opts.tenant.as_deref().is_none_or(|s| s == t))
            .collect();
        use datafusion::arrow::array::StringArray;
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        let id_schema = Arc::new(Schema::new(vec![
            Field::new("tenant_id", DataType::Utf8, false),
            Field::new("identity", DataType::Utf8, false),
            Field::new("person", DataType::Utf8, false),
        ]));
        let col = |f: fn(&(String, String, String)) -> &str| {
            Arc::new(StringArray::from_iter_values(pairs.iter().map(f)))
                as datafusion::arrow::array::ArrayRef
        };
        let batch = datafusion::arrow::record_batch::RecordBatch::try_new(
            id_schema.clone(),
            vec![col(|p| &p.0), col(|p| &p.1), col(|p| &p.2)],
        )?;
        let ids = datafusion::datasource::MemTable::try_new(id_schema, vec![vec![batch]])?;
        ctx.register_table("identities", Arc::new(ids))?;
        // The views are planned when a statement first names one (`lazy_views.rs`): a cold
        // process plans what it reads, not the whole catalog.
        let catalog = ctx
            .catalog("auditlake")
            .ok_or_else(|| Error::Other("the session has no auditlake catalog".into()))?;
        let inner = catalog
            .schema("public")
            .ok_or_else(|| Error::Other("the session has no auditlake.public schema".into()))?;
        let lazy = super::lazy_views::LazyViews::new(
            inner,
            ctx.state(),
            views::views().iter().map(|v| {
                (
                    v.name.to_string(),
                    v.body_for(&opts.table),
                    v.ddl(&opts.table),
                )
            }),
            opts.view_accel.then_some(table),
        );
        catalog.register_schema("public", Arc::new(lazy))?;
        Ok(Engine { ctx, opts })
    }

    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Plans one read-only statement (DDL, DML, `COPY` and `SET` are refused) to a logical
    /// plan, with `params` bound to its `$1…` placeholders.
    pub async fn plan_with_params(
        &self,
        sql: &str,
        params: Option<ParamValues>,
    ) -> Result<DataFrame> {
        check_shape(sql)?;
        let options = super::statements::read_only();
        let df = self
            .ctx
            .sql_with_options(sql, options)
            .await
            .map_err(|e| friendly(e, &self.ctx))?;
        let df = match params {
            Some(p) => df
                .with_param_values(p)
                .map_err(|e| friendly(e, &self.ctx))?,
            None => df,
        };
        plain_types(df).map_err(|e| friendly(e, &self.ctx))
    }

    /// The physical plan of a planned statement.
    pub async fn physical(&self, df: DataFrame) -> Result<Arc<dyn ExecutionPlan>> {
        df.create_physical_plan()
            .await
            .map_err(|e| friendly(e, &self.ctx))
    }

    /// Plans one read-only statement: DDL, DML, `COPY` and `SET` are refused.
    pub async fn plan(&self, sql: &str) -> Result<Arc<dyn ExecutionPlan>> {
        let df = self.plan_with_params(sql, None).await?;
        self.physical(df).await
    }

    /// Starts a plan as one stream, in a context of its own: with a shared pool, the query's
    /// memory is capped at its share.
    pub fn stream(&self, plan: &Arc<dyn ExecutionPlan>) -> Result<SendableRecordBatchStream> {
        datafusion::physical_plan::execute_stream(plan.clone(), self.task_ctx()?)
            .map_err(|e| friendly(e, &self.ctx))
    }

    /// Runs one statement as a stream; `stats(&plan)` tells what it read once drained.
    pub async fn execute_stream(
        &self,
        sql: &str,
    ) -> Result<(SendableRecordBatchStream, Arc<dyn ExecutionPlan>)> {
        let plan = self.plan(sql).await?;
        let stream = self.stream(&plan)?;
        Ok((stream, plan))
    }

    /// Maps an engine error to ours, in the user's terms.
    pub fn friendly(&self, e: datafusion::error::DataFusionError) -> Error {
        friendly(e, &self.ctx)
    }

    /// The execution context of one query: the session's, over a pool of its own that
    /// charges the shared pool and caps the query at its share.
    fn task_ctx(&self) -> Result<Arc<TaskContext>> {
        let base = self.ctx.task_ctx();
        let Some(shared) = &self.opts.memory else {
            return Ok(base);
        };
        let pool = Arc::new(QueryPool::new(shared));
        let runtime = RuntimeEnvBuilder::from_runtime_env(&base.runtime_env())
            .with_memory_pool(pool)
            .build_arc()?;
        Ok(Arc::new(TaskContext::new(
            base.task_id(),
            base.session_id(),
            base.session_config().clone(),
            base.scalar_functions().clone(),
            base.higher_order_functions().clone(),
            base.aggregate_functions().clone(),
            base.window_functions().clone(),
            runtime,
        )))
    }

    /// The tables and views of the session's schema, by name.
    pub async fn tables(&self) -> Result<Vec<TableInfo>> {
        let schema = self
            .ctx
            .catalog("auditlake")
            .and_then(|c| c.schema("public"))
            .ok_or_else(|| Error::Other("the session has no auditlake.public schema".into()))?;
        let mut names = schema.table_names();
        names.sort();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let Some(t) = schema.table(&name).await? else {
                continue;
            };
            out.push(TableInfo {
                is_view: t.table_type() == datafusion::datasource::TableType::View,
                schema: t.schema(),
                name,
            });
        }
        Ok(out)
    }

    /// Runs one statement to completion, within the timeout.
    pub async fn execute(&self, sql: &str) -> Result<QueryResult> {
        let start = Instant::now();
        let span =
            tracing::info_span!("query", tenant = self.opts.tenant.as_deref().unwrap_or("*"));
        let _g = span.enter();
        let timed_out = || {
            Error::Limit(format!(
                "query timed out after {:?} (raise --timeout-secs)",
                self.opts.limits.timeout
            ))
        };
        // Planning is under the deadline too: reading a view may first build its sidecars.
        let (mut stream, plan) =
            match tokio::time::timeout(self.opts.limits.timeout, self.execute_stream(sql)).await {
                Err(_) => return Err(timed_out()),
                Ok(r) => r?,
            };
        let schema = stream.schema();
        // Bounded: `Instant + Duration` panics past the clock's range.
        let deadline = start
            + self
                .opts
                .limits
                .timeout
                .min(Duration::from_secs(MAX_TIMEOUT_SECS));
        let mut batches = Vec::new();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(remaining, stream.next()).await {
                Err(_) => return Err(timed_out()),
                Ok(None) => break,
                Ok(Some(b)) => batches.push(b.map_err(|e| friendly(e, &self.ctx))?),
            }
        }
        let mut stats = stats(&plan);
        stats.rows = batches.iter().map(|b| b.num_rows()).sum();
        stats.elapsed = start.elapsed();
        tracing::info!(
            rows = stats.rows,
            bytes_scanned = stats.bytes_scanned,
            partitions = stats.partitions_scanned,
            elapsed_ms = stats.elapsed.as_millis() as u64,
            // Benchmarks compare queries of a few milliseconds: whole ms would round away
            // the margins they measure.
            elapsed_us = stats.elapsed.as_micros() as u64,
            "query done"
        );
        Ok(QueryResult {
            schema,
            batches,
            stats,
        })
    }

    /// Names of the tables and views a session sees (for completion and `\d`).
    pub fn view_names(&self) -> Vec<String> {
        views::views().iter().map(|v| v.name.to_string()).collect()
    }
}

/// Sums what every lake scan of an executed plan read and pruned.
pub fn stats(plan: &Arc<dyn ExecutionPlan>) -> QueryStats {
    let mut s = QueryStats::default();
    let mut stack = vec![plan.clone()];
    while let Some(p) = stack.pop() {
        if let Some(scan) = p.downcast_ref::<LakeScanExec>() {
            let ps = scan.stats();
            s.partitions_scanned += ps.partitions_scanned;
            s.partitions_total += ps.partitions_total;
            s.files_scanned += ps.files;
            s.bytes_scanned += p
                .children()
                .first()
                .and_then(|c| bytes_scanned(c))
                .unwrap_or(0);
        }
        stack.extend(p.children().into_iter().cloned());
    }
    s
}

/// Turns engine errors into messages in the user's terms: unknown tables get a did-you-mean
/// over the catalog; guardrail errors become limits; refused statements say why.
pub fn friendly(e: datafusion::error::DataFusionError, ctx: &SessionContext) -> Error {
    use datafusion::error::DataFusionError as D;
    let root = e.find_root();
    let msg = root.to_string();
    if let D::External(x) = root
        && let Some(l) = x.downcast_ref::<crate::error::LimitExceeded>()
    {
        return Error::Limit(l.0.clone());
    }
    if let D::ResourcesExhausted(m) = root {
        // The per-query share (a server's) or the whole pool: name the flag that raises it.
        let flag = if m.contains("-byte share") {
            "--query-memory-mb"
        } else {
            "--memory-limit-mb"
        };
        return Error::Limit(format!("memory limit reached: {m} (raise {flag})"));
    }
    if msg.contains("not supported")
        && (msg.contains("DDL") || msg.contains("DML") || msg.contains("Statement"))
    {
        return Error::NotAllowed(format!("{msg} — auditlake queries are read-only"));
    }
    if let Some(name) = table_not_found(&msg) {
        let names = table_names(ctx);
        let hint = did_you_mean(&name, &names)
            .map(|s| format!("; did you mean '{s}'?"))
            .unwrap_or_default();
        return Error::Sql(format!(
            "unknown table or view '{name}'{hint} (list them with `auditlake ddl --views` or \\d)"
        ));
    }
    match root {
        D::SQL(..) => Error::Sql(format!("syntax error: {msg}")),
        D::Plan(_) | D::SchemaError(..) | D::NotImplemented(_) => Error::Sql(msg),
        _ => Error::DataFusion(e),
    }
}

fn table_not_found(msg: &str) -> Option<String> {
    let rest = msg.split("able '").nth(1)?;
    if !msg.contains("not found") {
        return None;
    }
    let full = rest.split('\'').next()?;
    Some(full.rsplit('.').next().unwrap_or(full).to_string())
}

fn table_names(ctx: &SessionContext) -> Vec<String> {
    let mut names = Vec::new();
    for cat in ctx.catalog_names() {
        if let Some(c) = ctx.catalog(&cat) {
            for s in c.schema_names() {
                if let Some(schema) = c.schema(&s) {
                    names.extend(schema.table_names());
                }
            }
        }
    }
    names
}

/// The closest name within a small edit distance, if any.
pub fn did_you_mean(word: &str, candidates: &[String]) -> Option<String> {
    let w = word.to_lowercase();
    candidates
        .iter()
        .map(|c| (levenshtein(&w, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= 3.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        let names: Vec<String> = ["session_start", "cert_create", "exec"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            did_you_mean("sesion_start", &names).as_deref(),
            Some("session_start")
        );
        assert_eq!(did_you_mean("zzzzzzzzzz", &names), None);
    }

    #[test]
    fn long_operator_chains_are_refused_before_planning() {
        let ok = format!(
            "SELECT 0{} AS n FROM t WHERE a = 1 AND b LIKE 'x'",
            " + 1".repeat(900)
        );
        assert!(check_shape(&ok).is_ok());
        // `*` is not counted: `SELECT *` and `count(*)` are not chains.
        assert!(check_shape(&format!("SELECT {}", "count(*), ".repeat(2000))).is_ok());
        for bad in [
            format!("SELECT 0{}", " + 1".repeat(1001)),
            format!("SELECT 1 WHERE {}", "a OR ".repeat(1001) + "b"),
            format!("SELECT 'a'{}", " || 'a'".repeat(1001)),
            format!("SELECT 1{}", "::int".repeat(1001)),
        ] {
            let e = check_shape(&bad).unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::InvalidInput);
            assert!(e.to_string().contains("operators"), "{e}");
        }
    }

    #[test]
    fn deeply_nested_constructs_are_refused_before_parsing() {
        // The fuzzer's input: 30 nested, malformed `CAST(` in 559 bytes planned for minutes.
        let found = include_str!("../../fuzz/regressions/sql_plan/timeout-nested-cast-parens");
        let nest = |open: &str, close: &str, n: usize| {
            format!("SELECT {}x{}", open.repeat(n), close.repeat(n))
        };
        for bad in [
            found.to_string(),
            nest("CAST(", "", 30),
            nest("CAST(", ")", 9),
            nest("POSITION(", "", 9),
            nest("NOT (", "", 9),
            nest("CASE WHEN x THEN ", "", 9),
            nest("SUBSTRING(", " FROM 1)", 9),
        ] {
            let start = std::time::Instant::now();
            let e = check_shape(&bad).unwrap_err();
            assert!(start.elapsed() < Duration::from_secs(1));
            assert_eq!(e.kind(), crate::error::ErrorKind::InvalidInput);
            assert!(e.to_string().contains("8 deep"), "{e}");
        }
        // Many siblings, none too deep: their sum is bounded too (a 1 MiB statement of them
        // parsed for a minute).
        let many = format!(
            "SELECT coalesce({}1)",
            format!("{}x{}, ", "POSITION(".repeat(8), ")".repeat(8)).repeat(12_000)
        );
        let start = std::time::Instant::now();
        let e = check_shape(&many).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(e.to_string().contains("too many"), "{e}");
        // Eight deep is fine, closed constructs pop their level, plain parentheses, function
        // calls and subqueries do not count; a few hundred shallow casts are fine.
        for ok in [
            format!("SELECT {}1", "CAST(x AS INT) + ".repeat(300)),
            nest("CAST(", " AS INT)", 8),
            format!(
                "SELECT {}",
                "CAST(CAST(x AS INT) AS INT) + ".repeat(50) + "1"
            ),
            nest("CASE WHEN x THEN ", " END", 8),
            format!("SELECT {}1{}", "(".repeat(40), ")".repeat(40)),
            nest("coalesce(", ")", 40),
            nest("(SELECT ", ")", 20),
        ] {
            assert!(check_shape(&ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn days_window_out_of_range_is_an_error() {
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        assert_eq!(days_ago(today, 1).unwrap(), today);
        assert_eq!(days_ago(today, 0).unwrap(), today);
        assert_eq!(
            days_ago(today, 31).unwrap(),
            NaiveDate::from_ymd_opt(2025, 12, 2).unwrap()
        );
        let e = days_ago(today, 4_000_000_000).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("out of range"), "{e}");
        assert!(days_ago(today, u32::MAX).is_err());
    }

    #[test]
    fn parses_table_not_found() {
        assert_eq!(
            table_not_found(
                "Error during planning: table 'auditlake.public.sesion_start' not found"
            )
            .as_deref(),
            Some("sesion_start")
        );
    }
}
