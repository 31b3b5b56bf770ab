//! Trino-compatible SQL functions and planner rewrites, so Athena queries run unchanged.
//!
//! Three kinds of seed query are answered *silently wrong* by plain DataFusion 55; each is fixed
//! here, in the planner, never by editing a query:
//! - R1: `CAST(json_extract(j, p) AS ARRAY<VARCHAR>)` would wrap the whole JSON text in a
//!   one-element list; it is rewritten to a real JSON-array parse (`FunctionRewrite`).
//! - R2: `ts - ts > INTERVAL '1' DAY` compares a Duration with a month-day-nano interval field by
//!   field and is always false; the interval literal is rewritten to a Duration.
//! - NULL ordering: Trino sorts NULLs last under ASC and DESC (`trino_session_config`).
//!
//! Functions that can fail on odd data (timestamps, JSON casts) give NULL instead of Trino's error
//! where noted, because DataFusion may evaluate a projection or a conjunct on rows a view's
//! `event_type` filter would have removed: one odd event of another type must not fail a query.

mod agg;
pub mod bounded;
pub mod filter_fusion;
pub mod fusion;
pub mod json;
mod misc;
mod time;

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano, TimeUnit};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue, plan_err};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::{Cast, ScalarFunction, TryCast};
use datafusion::logical_expr::expr_rewriter::FunctionRewrite;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, Operator, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::{SessionConfig, SessionContext};

use json::Mode;

/// Internal name of the R1 target; not meant to be called by users.
pub const JSON_ARRAY_VARCHAR: &str = "__trino_json_extract_array_varchar";

/// Session settings that make DataFusion order like Trino.
pub fn trino_session_config(mut config: SessionConfig) -> SessionConfig {
    config.options_mut().sql_parser.default_null_ordering = "nulls_last".to_string();
    config
}

/// Registers every Trino function, the aliases and the two rewrites on a context.
pub fn register_all(ctx: &SessionContext) -> Result<()> {
    for f in scalar_functions() {
        ctx.register_udf(ScalarUDF::new_from_impl(f));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(DateFn::default()));
    for a in agg::functions() {
        ctx.register_udaf(a);
    }
    // Same semantics, different name: aliases of DataFusion's own functions.
    for (df, trino) in [
        ("string_to_array", "split"),
        ("levenshtein", "levenshtein_distance"),
    ] {
        if let Ok(f) = ctx.udf(df) {
            ctx.register_udf(f.as_ref().clone().with_aliases([trino]));
        }
    }
    for (df, trino) in [
        ("any_value", "arbitrary"),
        ("bool_and", "every"),
        ("string_agg", "listagg"),
    ] {
        if let Ok(f) = ctx.udaf(df) {
            ctx.register_udaf(f.as_ref().clone().with_aliases([trino]));
        }
    }
    bounded::register(ctx);
    let state = ctx.state_ref();
    let mut state = state.write();
    use datafusion::execution::FunctionRegistry;
    state.register_function_rewrite(Arc::new(JsonArrayCast))?;
    state.register_function_rewrite(Arc::new(DurationVsInterval))?;
    Ok(())
}

/// Evaluates one of this module's scalar functions on arrays the way DataFusion does once a
/// call is planned: the function's own coercion, a cast of each argument to the coerced type,
/// then its evaluation. The fuzzer drives the functions through this without paying for a
/// plan per input; SQL always goes through the planner.
pub fn invoke(name: &str, args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    static FUNCTIONS: std::sync::OnceLock<Vec<TrinoFn>> = std::sync::OnceLock::new();
    let all = FUNCTIONS.get_or_init(scalar_functions);
    let Some(f) = all.iter().find(|f| f.name == name) else {
        return plan_err!("no Trino function named {name}");
    };
    let types: Vec<DataType> = args.iter().map(|a| a.data_type().clone()).collect();
    let want = (f.coerce)(&types)?;
    (f.ret)(&want)?;
    let cast = args
        .iter()
        .zip(&want)
        .map(|(a, t)| datafusion::arrow::compute::cast(a, t))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    (f.eval)(&cast, rows)
}

/// Names of the functions this module adds (for completion and `\functions`).
pub fn function_names() -> Vec<String> {
    let mut v: Vec<String> = scalar_functions()
        .into_iter()
        .map(|f| f.name.to_string())
        .filter(|n| !n.starts_with("__"))
        .chain(agg::functions().iter().map(|a| a.name().to_string()))
        .chain(
            [
                "split",
                "levenshtein_distance",
                "arbitrary",
                "every",
                "listagg",
            ]
            .map(String::from),
        )
        .collect();
    v.sort();
    v
}

type Eval = fn(&[ArrayRef], usize) -> Result<ArrayRef>;
type Ret = fn(&[DataType]) -> Result<DataType>;
type Coerce = fn(&[DataType]) -> Result<Vec<DataType>>;

/// A scalar function given by plain function pointers; equal by name.
#[derive(Debug)]
pub struct TrinoFn {
    name: &'static str,
    signature: Signature,
    ret: Ret,
    coerce: Coerce,
    eval: Eval,
}

impl PartialEq for TrinoFn {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name
    }
}
impl Eq for TrinoFn {}
impl std::hash::Hash for TrinoFn {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.name.hash(h)
    }
}

impl ScalarUDFImpl for TrinoFn {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        (self.ret)(args)
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        (self.coerce)(args)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
        let arrays = args
            .args
            .iter()
            .map(|a| a.clone().into_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let out = (self.eval)(&arrays, rows)?;
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

fn f(
    name: &'static str,
    n_args: &'static [usize],
    ret: Ret,
    coerce: Coerce,
    eval: Eval,
) -> TrinoFn {
    let _ = n_args;
    TrinoFn {
        name,
        signature: Signature::user_defined(Volatility::Immutable),
        ret,
        coerce,
        eval,
    }
}

/// String arguments keep their (view or plain) string type; NULL becomes VARCHAR.
pub(crate) fn str_arg(t: &DataType) -> DataType {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => t.clone(),
        _ => DataType::Utf8,
    }
}

fn all_strings(types: &[DataType]) -> Result<Vec<DataType>> {
    Ok(types.iter().map(str_arg).collect())
}

fn arity(name: &str, types: &[DataType], allowed: &[usize]) -> Result<()> {
    if allowed.contains(&types.len()) {
        Ok(())
    } else {
        plan_err!(
            "{name} takes {} argument(s), got {}",
            allowed
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(" or "),
            types.len()
        )
    }
}

macro_rules! strings {
    ($name:literal, $n:expr) => {
        |t: &[DataType]| {
            arity($name, t, &$n)?;
            all_strings(t)
        }
    };
}

fn utf8(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Utf8)
}
fn int64(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Int64)
}
fn boolean(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Boolean)
}

fn scalar_functions() -> Vec<TrinoFn> {
    vec![
        f(
            "json_extract_scalar",
            &[2],
            utf8,
            strings!("json_extract_scalar", [2]),
            |a, n| json::extract(a, n, Mode::Scalar),
        ),
        f(
            "json_extract",
            &[2],
            utf8,
            strings!("json_extract", [2]),
            |a, n| json::extract(a, n, Mode::Json),
        ),
        f(
            JSON_ARRAY_VARCHAR,
            &[2],
            |_| Ok(json::list_utf8()),
            strings!("json_extract", [2]),
            |a, n| json::extract(a, n, Mode::ArrayVarchar),
        ),
        f(
            "json_parse",
            &[1],
            utf8,
            strings!("json_parse", [1]),
            json::json_parse,
        ),
        f(
            "json_format",
            &[1],
            utf8,
            strings!("json_format", [1]),
            json::json_format,
        ),
        f(
            "json_array_length",
            &[1],
            int64,
            strings!("json_array_length", [1]),
            json::json_array_length,
        ),
        f(
            "json_size",
            &[2],
            int64,
            strings!("json_size", [2]),
            json::json_size,
        ),
        f(
            "json_array_contains",
            &[2],
            boolean,
            json::coerce_contains,
            json::json_array_contains,
        ),
        f(
            "from_iso8601_timestamp",
            &[1],
            |_| Ok(time::ts_utc()),
            strings!("from_iso8601_timestamp", [1]),
            time::from_iso8601_timestamp,
        ),
        f(
            "from_iso8601_date",
            &[1],
            |_| Ok(DataType::Date32),
            strings!("from_iso8601_date", [1]),
            time::from_iso8601_date,
        ),
        f(
            "to_iso8601",
            &[1],
            utf8,
            time::coerce_one_time,
            time::to_iso8601,
        ),
        f(
            "date_diff",
            &[3],
            int64,
            time::coerce_date_diff,
            time::date_diff,
        ),
        f(
            "date_add",
            &[3],
            time::ret_date_add,
            time::coerce_date_add,
            time::date_add,
        ),
        f(
            "date_format",
            &[2],
            utf8,
            time::coerce_format,
            time::date_format,
        ),
        f(
            "format_datetime",
            &[2],
            utf8,
            time::coerce_format,
            time::format_datetime,
        ),
        f(
            "date_parse",
            &[2],
            |_| Ok(DataType::Timestamp(TimeUnit::Millisecond, None)),
            strings!("date_parse", [2]),
            time::date_parse,
        ),
        f(
            "parse_datetime",
            &[2],
            |_| Ok(time::ts_utc()),
            strings!("parse_datetime", [2]),
            time::parse_datetime,
        ),
        f(
            "from_unixtime",
            &[1],
            |_| Ok(time::ts_utc()),
            time::coerce_unixtime,
            time::from_unixtime,
        ),
        f(
            "to_unixtime",
            &[1],
            |_| Ok(DataType::Float64),
            time::coerce_one_time,
            time::to_unixtime,
        ),
        f(
            "contains",
            &[2],
            boolean,
            misc::coerce_contains,
            misc::contains,
        ),
        f(
            "great_circle_distance",
            &[4],
            |_| Ok(DataType::Float64),
            |t| {
                arity("great_circle_distance(lat1, lon1, lat2, lon2)", t, &[4])?;
                Ok(vec![DataType::Float64; 4])
            },
            misc::great_circle_distance,
        ),
        f(
            "element_at",
            &[2],
            misc::ret_element_at,
            misc::coerce_element_at,
            misc::element_at,
        ),
        f(
            "regexp_extract",
            &[2, 3],
            utf8,
            misc::coerce_regexp_extract,
            misc::regexp_extract,
        ),
        f(
            "url_extract_host",
            &[1],
            utf8,
            strings!("url_extract_host", [1]),
            |a, n| misc::url_part(a, n, misc::UrlPart::Host),
        ),
        f(
            "url_extract_path",
            &[1],
            utf8,
            strings!("url_extract_path", [1]),
            |a, n| misc::url_part(a, n, misc::UrlPart::Path),
        ),
        f(
            "url_extract_protocol",
            &[1],
            utf8,
            strings!("url_extract_protocol", [1]),
            |a, n| misc::url_part(a, n, misc::UrlPart::Protocol),
        ),
        f(
            "url_extract_query",
            &[1],
            utf8,
            strings!("url_extract_query", [1]),
            |a, n| misc::url_part(a, n, misc::UrlPart::Query),
        ),
        f(
            "url_extract_fragment",
            &[1],
            utf8,
            strings!("url_extract_fragment", [1]),
            |a, n| misc::url_part(a, n, misc::UrlPart::Fragment),
        ),
        f(
            "url_extract_port",
            &[1],
            int64,
            strings!("url_extract_port", [1]),
            misc::url_port,
        ),
        f(
            "url_extract_parameter",
            &[2],
            utf8,
            strings!("url_extract_parameter", [2]),
            misc::url_parameter,
        ),
    ]
}

/// Trino's `date(x)`, i.e. `CAST(x AS DATE)`. Simplified to the cast itself, so partition
/// pruning and statistics see through it (`event_date = date('2024-03-20')`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct DateFn {
    signature: Signature,
}

impl Default for DateFn {
    fn default() -> Self {
        DateFn {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for DateFn {
    fn name(&self) -> &str {
        "date"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Date32)
    }
    fn simplify(
        &self,
        mut args: Vec<Expr>,
        _info: &datafusion::logical_expr::simplify::SimplifyContext,
    ) -> Result<datafusion::logical_expr::simplify::ExprSimplifyResult> {
        let arg = args.pop().expect("one argument");
        Ok(
            datafusion::logical_expr::simplify::ExprSimplifyResult::Simplified(
                datafusion::logical_expr::cast(arg, DataType::Date32),
            ),
        )
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        args.args[0].cast_to(&DataType::Date32, None)
    }
}

/// Uniform read access to Utf8, LargeUtf8, Utf8View and all-NULL columns.
pub enum Strs<'a> {
    S(&'a datafusion::arrow::array::StringArray),
    L(&'a datafusion::arrow::array::LargeStringArray),
    V(&'a datafusion::arrow::array::StringViewArray),
    Null,
}

impl<'a> Strs<'a> {
    pub fn new(a: &'a ArrayRef) -> Result<Self> {
        Ok(match a.data_type() {
            DataType::Utf8 => Strs::S(a.as_string::<i32>()),
            DataType::LargeUtf8 => Strs::L(a.as_string::<i64>()),
            DataType::Utf8View => Strs::V(a.as_string_view()),
            DataType::Null => Strs::Null,
            t => return plan_err!("expected a string argument, got {t}"),
        })
    }

    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Strs::S(a) => a.is_valid(i).then(|| a.value(i)),
            Strs::L(a) => a.is_valid(i).then(|| a.value(i)),
            Strs::V(a) => a.is_valid(i).then(|| a.value(i)),
            Strs::Null => None,
        }
    }

    /// True when all rows hold the same value (a literal expanded to an array).
    pub fn is_scalar_like(&self, rows: usize) -> bool {
        let first = self.get(0);
        (1..rows).all(|i| self.get(i) == first)
    }
}

/// Is `e` a call of `json_extract(j, p)`?
fn is_json_extract(e: &Expr) -> Option<&ScalarFunction> {
    match e {
        Expr::ScalarFunction(sf) if sf.func.name() == "json_extract" => Some(sf),
        _ => None,
    }
}

fn is_varchar_list(t: &DataType) -> bool {
    match t {
        DataType::List(f) | DataType::LargeList(f) => {
            matches!(
                f.data_type(),
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
            )
        }
        _ => false,
    }
}

/// R1: `CAST(json_extract(j, p) AS ARRAY<VARCHAR>)` parses the JSON array (Trino's
/// `CAST(json AS ARRAY(VARCHAR))`) instead of wrapping the text in a one-element list.
#[derive(Debug)]
struct JsonArrayCast;

impl FunctionRewrite for JsonArrayCast {
    fn name(&self) -> &str {
        "trino_json_array_cast"
    }

    fn rewrite(
        &self,
        expr: Expr,
        _schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> Result<Transformed<Expr>> {
        let (inner, to) = match &expr {
            Expr::Cast(Cast { expr, field }) => (expr.as_ref(), field.data_type()),
            Expr::TryCast(TryCast { expr, field }) => (expr.as_ref(), field.data_type()),
            _ => return Ok(Transformed::no(expr)),
        };
        let Some(sf) = is_json_extract(inner) else {
            return Ok(Transformed::no(expr));
        };
        if !is_varchar_list(to) {
            return Ok(Transformed::no(expr));
        }
        let udf = Arc::new(ScalarUDF::new_from_impl(
            scalar_functions()
                .into_iter()
                .find(|f| f.name == JSON_ARRAY_VARCHAR)
                .expect("registered"),
        ));
        Ok(Transformed::yes(Expr::ScalarFunction(
            ScalarFunction::new_udf(udf, sf.args.clone()),
        )))
    }
}

/// R2: `duration <op> INTERVAL '…' DAY TO SECOND` compares as Trino does, by total length.
#[derive(Debug)]
struct DurationVsInterval;

fn day_second_interval(e: &Expr) -> Option<IntervalMonthDayNano> {
    match e {
        Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(v)), _) if v.months == 0 => Some(*v),
        _ => None,
    }
}

fn duration_literal(v: IntervalMonthDayNano, unit: TimeUnit) -> Option<ScalarValue> {
    let nanos = (v.days as i128) * 86_400_000_000_000 + v.nanoseconds as i128;
    let (div, mk): (i128, fn(Option<i64>) -> ScalarValue) = match unit {
        TimeUnit::Second => (1_000_000_000, ScalarValue::DurationSecond),
        TimeUnit::Millisecond => (1_000_000, ScalarValue::DurationMillisecond),
        TimeUnit::Microsecond => (1_000, ScalarValue::DurationMicrosecond),
        TimeUnit::Nanosecond => (1, ScalarValue::DurationNanosecond),
    };
    // Only exact conversions: a sub-unit remainder would change the comparison.
    if nanos % div != 0 {
        return None;
    }
    i64::try_from(nanos / div).ok().map(|x| mk(Some(x)))
}

impl FunctionRewrite for DurationVsInterval {
    fn name(&self) -> &str {
        "trino_duration_vs_interval"
    }

    fn rewrite(
        &self,
        expr: Expr,
        schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> Result<Transformed<Expr>> {
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else {
            return Ok(Transformed::no(expr));
        };
        if !matches!(
            op,
            Operator::Lt
                | Operator::LtEq
                | Operator::Gt
                | Operator::GtEq
                | Operator::Eq
                | Operator::NotEq
        ) {
            return Ok(Transformed::no(expr));
        }
        let duration_unit = |e: &Expr| match e.get_type(schema) {
            Ok(DataType::Duration(u)) => Some(u),
            _ => None,
        };
        if let (Some(u), Some(iv)) = (duration_unit(left), day_second_interval(right))
            && let Some(lit) = duration_literal(iv, u)
        {
            return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                left.clone(),
                *op,
                Box::new(Expr::Literal(lit, None)),
            ))));
        }
        if let (Some(iv), Some(u)) = (day_second_interval(left), duration_unit(right))
            && let Some(lit) = duration_literal(iv, u)
        {
            return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                Box::new(Expr::Literal(lit, None)),
                *op,
                right.clone(),
            ))));
        }
        Ok(Transformed::no(expr))
    }
}
