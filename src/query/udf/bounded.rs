//! DataFusion's functions whose output can dwarf their input (`repeat`, `lpad`, `rpad`,
//! `replace`, `array_repeat`, `array_resize`), each wrapped so that one call builds at most
//! [`MAX_CALL_OUTPUT_BYTES`]: the size is computed from the arguments first, and a call over
//! the bound is a query error in its own words.
//!
//! Why: expression results are not counted by the engine's memory pool, and these allocate
//! before anything else can look. `SELECT length(rpad('x', 2147483647))` took 8 GiB for 51 s,
//! and `replace(repeat('a', 100000), 'a', repeat('b', 100000))` asked for 6.5 GB at once, which
//! aborts the process when the allocator says no: one Flight client's statement would end the
//! server of every tenant.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

/// Most bytes one call of a bounded function may build (for all rows of the batch it is
/// called on). Far above any audit value (a record is at most 16 MiB by default).
pub const MAX_CALL_OUTPUT_BYTES: usize = 256 << 20;

/// The functions wrapped, and how each one's output is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// `repeat(s, n)`: `len(s) × n`.
    Repeat,
    /// `lpad(s, n [, fill])`, `rpad(…)`: `n` characters of at most 4 bytes.
    Pad,
    /// `replace(s, from, to)`: `s` with each match of `from` (every character boundary when
    /// empty) turned into `to`, counted exactly.
    Replace,
    /// `array_repeat(x, n)`: `n` elements of `x`'s size.
    ArrayRepeat,
    /// `array_resize(a, n [, fill])`: `n` elements of `fill`'s size (16 bytes without one).
    ArrayResize,
}

const WRAPPED: [(&str, Kind); 6] = [
    ("repeat", Kind::Repeat),
    ("lpad", Kind::Pad),
    ("rpad", Kind::Pad),
    ("replace", Kind::Replace),
    ("array_repeat", Kind::ArrayRepeat),
    ("array_resize", Kind::ArrayResize),
];

/// Replaces each wrapped function of the registry by its bounded form.
pub fn register(ctx: &datafusion::prelude::SessionContext) {
    for (name, kind) in WRAPPED {
        if let Ok(inner) = ctx.udf(name) {
            ctx.register_udf(ScalarUDF::new_from_impl(Bounded { inner, kind }));
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: Arc<ScalarUDF>,
    kind: Kind,
}

/// Bytes of a text argument at `row` (0 for a null or a non-text value).
fn text_len(arg: &ColumnarValue, row: usize) -> usize {
    match arg {
        ColumnarValue::Scalar(
            ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v),
        ) => v.as_ref().map_or(0, String::len),
        ColumnarValue::Scalar(_) => 0,
        ColumnarValue::Array(a) => text_at(a.as_ref(), row).map_or(0, str::len),
    }
}

fn text_at(a: &dyn Array, row: usize) -> Option<&str> {
    if row >= a.len() || a.is_null(row) {
        return None;
    }
    match a.data_type() {
        DataType::Utf8 => Some(a.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Some(a.as_string::<i64>().value(row)),
        DataType::Utf8View => Some(a.as_string_view().value(row)),
        _ => None,
    }
}

fn text(arg: &ColumnarValue, row: usize) -> Option<&str> {
    match arg {
        ColumnarValue::Scalar(
            ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v),
        ) => v.as_deref(),
        ColumnarValue::Scalar(_) => None,
        ColumnarValue::Array(a) => text_at(a.as_ref(), row),
    }
}

/// An integer argument at `row`, as i64 (0 for a null or a non-integer).
fn int_at(arg: &ColumnarValue, row: usize) -> i64 {
    let scalar = match arg {
        ColumnarValue::Scalar(s) => s.clone(),
        ColumnarValue::Array(a) if row < a.len() => {
            ScalarValue::try_from_array(a.as_ref(), row).unwrap_or(ScalarValue::Null)
        }
        ColumnarValue::Array(_) => ScalarValue::Null,
    };
    match scalar.cast_to(&DataType::Int64) {
        Ok(ScalarValue::Int64(Some(v))) => v,
        _ => 0,
    }
}

/// Bytes of any argument at `row`: text by length, other values as 16 bytes.
fn value_len(arg: &ColumnarValue, row: usize) -> usize {
    match arg {
        ColumnarValue::Array(a)
            if matches!(
                a.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) =>
        {
            text_len(arg, row)
        }
        ColumnarValue::Scalar(
            ScalarValue::Utf8(_) | ScalarValue::LargeUtf8(_) | ScalarValue::Utf8View(_),
        ) => text_len(arg, row),
        // A primitive: 16 bytes; a nested scalar: what it holds beyond its own enum, plus 16.
        ColumnarValue::Scalar(s) => {
            (s.size().saturating_sub(std::mem::size_of::<ScalarValue>())).saturating_add(16)
        }
        ColumnarValue::Array(a) => {
            // A nested value (a list, a struct): its share of the array's memory, at least 16.
            (a.get_array_memory_size() / a.len().max(1)).max(16)
        }
    }
}

impl Kind {
    /// The most bytes the call builds, summed over its rows (saturating).
    fn output_bytes(self, args: &[ColumnarValue], rows: usize) -> usize {
        let rows = if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
            1
        } else {
            rows
        };
        let count = |row| usize::try_from(args.get(1).map_or(0, |a| int_at(a, row))).unwrap_or(0);
        let mut total = 0usize;
        for row in 0..rows {
            let one = match self {
                Kind::Repeat => text_len(&args[0], row).saturating_mul(count(row)),
                Kind::Pad => count(row).saturating_mul(4),
                Kind::Replace => {
                    let (Some(s), Some(from), Some(to)) = (
                        text(&args[0], row),
                        args.get(1).and_then(|a| text(a, row)),
                        args.get(2).and_then(|a| text(a, row)),
                    ) else {
                        continue;
                    };
                    if !from.is_empty() && to.len() <= from.len() {
                        // Never longer than the input: no need to count.
                        total = total.saturating_add(s.len());
                        continue;
                    }
                    let matches = if from.is_empty() {
                        s.chars().count() + 1
                    } else {
                        memchr::memmem::find_iter(s.as_bytes(), from.as_bytes()).count()
                    };
                    s.len().saturating_add(matches.saturating_mul(to.len()))
                }
                Kind::ArrayRepeat => count(row).saturating_mul(value_len(&args[0], row)),
                Kind::ArrayResize => {
                    count(row).saturating_mul(args.get(2).map_or(16, |f| value_len(f, row)))
                }
            };
            total = total.saturating_add(one);
        }
        total
    }
}

// The rest keeps the trait's conservative defaults: no `simplify` of the inner function (its
// rewrites could name the unbounded one), no ordering or bounds claims.
impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> Result<datafusion::arrow::datatypes::FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let bytes = self.kind.output_bytes(&args.args, args.number_rows);
        if bytes > MAX_CALL_OUTPUT_BYTES {
            return exec_err!(
                "{}() would build {bytes} bytes, over the {} MiB one call may build \
                 (an auditlake limit on functions whose output can dwarf their input)",
                self.name(),
                MAX_CALL_OUTPUT_BYTES >> 20
            );
        }
        self.inner.invoke_with_args(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(v.into())))
    }
    fn n(v: i64) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Int64(Some(v)))
    }

    #[test]
    fn bounds_count_what_the_call_builds() {
        assert_eq!(Kind::Repeat.output_bytes(&[s("ab"), n(5)], 1), 10);
        assert_eq!(Kind::Repeat.output_bytes(&[s("ab"), n(-5)], 1), 0);
        assert_eq!(Kind::Pad.output_bytes(&[s("x"), n(7)], 1), 28);
        // Exact for replace: two matches of "a" become "bbb".
        assert_eq!(
            Kind::Replace.output_bytes(&[s("xaya"), s("a"), s("bbb")], 1),
            4 + 6
        );
        // A `to` no longer than `from`: the input's size, uncounted.
        assert_eq!(
            Kind::Replace.output_bytes(&[s("xaya"), s("ab"), s("c")], 1),
            4
        );
        // An empty `from` matches at every character boundary.
        assert_eq!(
            Kind::Replace.output_bytes(&[s("éa"), s(""), s("-")], 1),
            3 + 3
        );
        assert_eq!(Kind::ArrayRepeat.output_bytes(&[n(1), n(1000)], 1), 16_000);
        assert_eq!(Kind::ArrayResize.output_bytes(&[n(1), n(1000)], 1), 16_000);
        assert_eq!(
            Kind::ArrayResize.output_bytes(&[n(1), n(10), s("abc")], 1),
            30
        );
        // Array arguments: each row counted.
        let texts =
            ColumnarValue::Array(Arc::new(datafusion::arrow::array::StringArray::from(vec![
                Some("abc"),
                None,
                Some("d"),
            ])));
        assert_eq!(Kind::Repeat.output_bytes(&[texts, n(3)], 3), 12);
        // Overflow saturates rather than wrapping under the bound.
        assert_eq!(
            Kind::Repeat.output_bytes(&[s("abc"), n(i64::MAX)], 1),
            usize::MAX
        );
    }
}
