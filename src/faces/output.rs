//! Result printers shared by every face: table, csv, json, ndjson and `tctl` (the JSON array of
//! `{"data":[…]}` that `tctl audit query exec` prints, column names first).
//!
//! Cells are rendered the way Athena renders them, so both engines print the same text:
//! timestamps `2024-03-20 12:12:03.374` (UTC), dates `2024-03-20`, arrays `[a, b]`.
//!
//! Lake data is attacker-controlled (a `user_agent`, a login, a repo name), so the `table`
//! printer shows control and bidi characters escaped (`\u{1b}`, see
//! [`crate::query::cells::escape_control`]): an ESC/CSI/OSC sequence or a right-to-left override
//! never reaches the terminal raw. `csv`, `json`, `ndjson` and `tctl` are for programs and keep
//! every value exactly (JSON escapes controls itself). CSV is not defused against spreadsheet
//! formula injection: a cell starting with `=`, `+`, `-` or `@` is written as it is, because
//! CSV output is data for tools, and rewriting it would make it differ from the lake; import it
//! into a spreadsheet as text, or use `json`.

use std::io::Write;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use serde_json::Value;

use crate::error::{Error, Result};
pub use crate::query::cells::{TIMESTAMP_FORMAT, cell_json, cell_text, escape_control, tctl_rows};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    Ndjson,
    Tctl,
}

/// Options for the table printer.
#[derive(Debug, Clone, Copy)]
pub struct TableOptions {
    /// Longest cell shown before truncation with `…`.
    pub max_cell_width: usize,
    /// Rows shown before "N more rows".
    pub max_rows: usize,
}

impl Default for TableOptions {
    fn default() -> Self {
        Self {
            max_cell_width: 48,
            max_rows: 1000,
        }
    }
}

/// Writes batches in a format.
pub fn write(
    out: &mut dyn Write,
    format: Format,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    table: TableOptions,
) -> Result<()> {
    let io = |e: std::io::Error| Error::Other(format!("cannot write output: {e}"));
    match format {
        Format::Table => write_table(out, schema, batches, table).map_err(io)?,
        Format::Csv => {
            let names: Vec<String> = schema
                .fields()
                .iter()
                .map(|f| csv_field(f.name()))
                .collect();
            writeln!(out, "{}", names.join(",")).map_err(io)?;
            for b in batches {
                for r in 0..b.num_rows() {
                    let cells = b
                        .columns()
                        .iter()
                        .map(|c| Ok(cell_text(c, r)?.map(|s| csv_field(&s)).unwrap_or_default()))
                        .collect::<Result<Vec<_>>>()?;
                    writeln!(out, "{}", cells.join(",")).map_err(io)?;
                }
            }
        }
        Format::Json | Format::Ndjson => {
            let mut first = true;
            if format == Format::Json {
                write!(out, "[").map_err(io)?;
            }
            for b in batches {
                for r in 0..b.num_rows() {
                    let mut obj = serde_json::Map::new();
                    for (f, c) in schema.fields().iter().zip(b.columns()) {
                        obj.insert(f.name().clone(), cell_json(c, r)?);
                    }
                    let text = serde_json::to_string(&Value::Object(obj))
                        .map_err(|e| Error::json("a result row", e))?;
                    if format == Format::Json {
                        write!(out, "{}\n  {text}", if first { "" } else { "," }).map_err(io)?;
                    } else {
                        writeln!(out, "{text}").map_err(io)?;
                    }
                    first = false;
                }
            }
            if format == Format::Json {
                writeln!(out, "{}]", if first { "" } else { "\n" }).map_err(io)?;
            }
        }
        Format::Tctl => {
            let rows = tctl_rows(schema, batches)?;
            let text =
                serde_json::to_string_pretty(&rows).map_err(|e| Error::json("the result", e))?;
            writeln!(out, "{text}").map_err(io)?;
        }
    }
    Ok(())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Marker printed for NULL in tables, distinct from an empty string.
pub const NULL_MARK: &str = "∅";

/// A table cell: one line (newlines and tabs as spaces), other control and bidi characters
/// escaped visibly, cut to `width` characters.
fn truncate(s: &str, width: usize) -> String {
    let s = escape_control(&s.replace(['\n', '\r', '\t'], " ")).into_owned();
    if s.chars().count() <= width {
        s
    } else {
        let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn write_table(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    opts: TableOptions,
) -> std::io::Result<()> {
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut rows: Vec<Vec<String>> = Vec::new();
    'outer: for b in batches {
        for r in 0..b.num_rows() {
            if rows.len() >= opts.max_rows {
                break 'outer;
            }
            rows.push(
                b.columns()
                    .iter()
                    .map(|c| match cell_text(c, r) {
                        Ok(Some(s)) => truncate(&s, opts.max_cell_width),
                        Ok(None) => NULL_MARK.to_string(),
                        Err(e) => escape_control(&format!("<{e}>")).into_owned(),
                    })
                    .collect(),
            );
        }
    }
    let headers: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| escape_control(f.name()).into_owned())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let sep: String = widths
        .iter()
        .map(|w| "-".repeat(*w))
        .collect::<Vec<_>>()
        .join("-+-");
    writeln!(out, "{}", line(&headers).trim_end())?;
    writeln!(out, "{sep}")?;
    for r in &rows {
        writeln!(out, "{}", line(r).trim_end())?;
    }
    if total > rows.len() {
        writeln!(out, "… {} more rows", total - rows.len())?;
    }
    let zone = if schema
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Timestamp(..)))
    {
        " (times in UTC)"
    } else {
        ""
    };
    writeln!(
        out,
        "({total} row{}){zone}",
        if total == 1 { "" } else { "s" }
    )?;
    Ok(())
}
