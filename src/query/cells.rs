//! How one result cell reads, as text and as JSON: the way Athena renders it, so both engines
//! and every face (printers, reports, alerts) show the same text — timestamps
//! `2024-03-20 12:12:03.374` (UTC), dates `2024-03-20`, arrays `[a, b]` — and the `tctl` shape.

use std::borrow::Cow;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::Value;

use crate::error::Result;

/// Athena's text form of a timestamp(3): space-separated, milliseconds, no zone.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

fn format_options() -> FormatOptions<'static> {
    FormatOptions::default()
        .with_null("")
        .with_timestamp_format(Some(TIMESTAMP_FORMAT))
        .with_timestamp_tz_format(Some(TIMESTAMP_FORMAT))
        .with_date_format(Some("%Y-%m-%d"))
}

/// Renders one cell as text; `None` for NULL.
pub fn cell_text(col: &ArrayRef, row: usize) -> Result<Option<String>> {
    if col.is_null(row) {
        return Ok(None);
    }
    let opts = format_options();
    let f = ArrayFormatter::try_new(col.as_ref(), &opts)?;
    Ok(Some(f.value(row).to_string()))
}

/// Is `c` unsafe to send raw to a terminal: a C0 or C1 control (ESC starts CSI/OSC
/// sequences), DEL, a bidirectional embedding/override/isolate/mark (U+202A–202E, U+2066–2069,
/// U+200E/F, U+061C, which reorder what the analyst sees), or a line/paragraph separator?
pub fn is_terminal_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        | '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{2028}' | '\u{2029}')
}

/// Text as a terminal may show it: every unsafe character (see [`is_terminal_unsafe`]) written
/// visibly as `\u{1b}` (tab, newline and carriage return as `\t`, `\n`, `\r`, so one value
/// stays one line).
/// Text renderers (table, report text, alerts) call it; JSON, NDJSON, CSV, tctl and Parquet
/// keep the exact value.
pub fn escape_control(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_terminal_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if is_terminal_unsafe(c) => o.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => o.push(c),
        }
    }
    Cow::Owned(o)
}

/// Renders one cell as a typed JSON value (numbers, booleans and arrays stay typed).
pub fn cell_json(col: &ArrayRef, row: usize) -> Result<Value> {
    if col.is_null(row) {
        return Ok(Value::Null);
    }
    Ok(match col.data_type() {
        DataType::Boolean => Value::Bool(col.as_boolean().value(row)),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => {
            let t = cell_text(col, row)?.unwrap_or_default();
            t.parse::<i64>()
                .map(Value::from)
                .or_else(|_| t.parse::<u64>().map(Value::from))
                .unwrap_or(Value::String(t))
        }
        DataType::Float32 | DataType::Float64 => {
            let t = cell_text(col, row)?.unwrap_or_default();
            t.parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .unwrap_or(Value::String(t))
        }
        DataType::List(_) | DataType::LargeList(_) => {
            let list = match col.data_type() {
                DataType::List(_) => col.as_list::<i32>().value(row),
                _ => col.as_list::<i64>().value(row),
            };
            Value::Array(
                (0..list.len())
                    .map(|i| cell_json(&list, i))
                    .collect::<Result<_>>()?,
            )
        }
        _ => Value::String(cell_text(col, row)?.unwrap_or_default()),
    })
}

/// The `tctl audit query exec` shape: `[{"data":[names…]}, {"data":[cells…]}, …]`, every cell
/// a string (or null).
pub fn tctl_rows(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Value> {
    let mut rows = vec![
        serde_json::json!({"data": schema.fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>()}),
    ];
    for b in batches {
        for r in 0..b.num_rows() {
            let cells = b
                .columns()
                .iter()
                .map(|c| Ok(cell_text(c, r)?.map(Value::String).unwrap_or(Value::Null)))
                .collect::<Result<Vec<_>>>()?;
            rows.push(serde_json::json!({"data": cells}));
        }
    }
    Ok(Value::Array(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_shown_escaped() {
        assert!(matches!(escape_control("alice@acme.com"), Cow::Borrowed(_)));
        assert_eq!(
            escape_control("a\u{1b}]0;pwned\u{7}b"),
            "a\\u{1b}]0;pwned\\u{7}b"
        );
        assert_eq!(escape_control("x\u{202e}gpj.exe"), "x\\u{202e}gpj.exe");
        assert_eq!(escape_control("l1\nl2\t"), "l1\\nl2\\t");
        for c in [
            '\u{9b}', '\u{7f}', '\u{2066}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{61c}',
        ] {
            assert!(!escape_control(&c.to_string()).contains(c), "{c:?}");
        }
        // Ordinary non-ASCII text passes untouched.
        assert_eq!(escape_control("Zürich 東京 —"), "Zürich 東京 —");
    }
}
