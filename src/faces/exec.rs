//! The one exec-and-print path: `query`, `queries run`, `sql -c`, scripts and the shell all run
//! statements through `run_and_print`, so they print (and fail) the same way.

use std::io::Write;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::faces::output::{self, Format, TableOptions};
use crate::query::engine::{QueryResult, QueryStats};
use crate::query::runner::QueryRunner;

/// How results are printed.
#[derive(Debug, Clone, Copy)]
pub struct PrintOptions {
    pub format: Format,
    pub table: TableOptions,
    /// Print a timing line after each result.
    pub timing: bool,
    /// Fit table cells to a terminal this wide (columns), when printing to one.
    pub terminal_width: Option<usize>,
}

impl PrintOptions {
    pub fn new(format: Format) -> Self {
        PrintOptions {
            format,
            table: TableOptions::default(),
            timing: false,
            terminal_width: None,
        }
    }
}

/// Runs each statement in order and prints its result to `out`; stops at the first error.
pub async fn run_and_print(
    runner: &dyn QueryRunner,
    statements: &[String],
    opts: &PrintOptions,
    out: &mut dyn Write,
) -> Result<()> {
    for stmt in statements {
        let start = Instant::now();
        let res = runner.execute(stmt).await?;
        print_result(&res, start, opts, out)?;
    }
    Ok(())
}

/// Prints one result as `run_and_print` does (for callers that run the statement themselves,
/// e.g. to record the run first).
pub fn print_result(
    res: &QueryResult,
    start: Instant,
    opts: &PrintOptions,
    out: &mut dyn Write,
) -> Result<()> {
    let mut table = opts.table;
    if let Some(width) = opts.terminal_width {
        let cols = res.schema.fields().len().max(1);
        table.max_cell_width = (width / cols).saturating_sub(3).clamp(8, 80);
    }
    output::write(out, opts.format, &res.schema, &res.batches, table)?;
    if opts.timing {
        out.write_all(timing_line(&res.stats, start.elapsed()).as_bytes())
            .map_err(|e| Error::Other(format!("cannot write output: {e}")))?;
    }
    out.flush().ok();
    Ok(())
}

/// `\timing`'s line.
pub fn timing_line(s: &QueryStats, elapsed: std::time::Duration) -> String {
    format!(
        "Time: {:.3} s, rows: {}, bytes read: {}, partitions: {} scanned / {} pruned, files: {}\n",
        elapsed.as_secs_f64(),
        s.rows,
        s.bytes_scanned,
        s.partitions_scanned,
        s.partitions_total.saturating_sub(s.partitions_scanned),
        s.files_scanned
    )
}
