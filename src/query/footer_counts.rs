//! `count(*)` grouped by partition columns only (or by nothing), answered from the files'
//! footers: a physical rule replaces the partial aggregation over such a scan by one partial
//! row per file, `num_rows` from its (cached) Parquet footer.
//!
//! Why: "events per day / per tenant", "how many events since Monday" are the first queries of
//! every investigation and every dashboard, and they read no column at all — yet DataFusion
//! still materialises every row's partition values and hashes them (12 ms of a warm 30-day
//! `GROUP BY event_date`, 820 K rows; DuckDB 11 ms). A footer holds the exact row count.
//!
//! When it applies — anything else keeps DataFusion's plan:
//! - a `Partial` aggregation (not grouping sets) whose input is our `LakeScanExec` over a
//!   Parquet `DataSourceExec` that projects partition columns only and has no predicate and no
//!   limit (a filter on a file column would be a predicate, or a `FilterExec` in between);
//! - every aggregate is `count` of a non-null literal (`count(*)` is planned as `count(1)`),
//!   not distinct, without `FILTER (WHERE …)` or ordering;
//! - the aggregation declares no output ordering (ours has none).
//!
//! The partial rows it emits are what DataFusion's own partial aggregation could emit (one per
//! file instead of one per group; the final aggregation merges duplicates, as it does when
//! partial aggregation is skipped). Files with no rows emit nothing: a group exists only if a
//! row does. A file split into byte ranges across partitions is counted once, by the range
//! that starts at 0.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::FileSource;
use datafusion::datasource::physical_plan::{FileScanConfig, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};

use futures::{StreamExt, TryStreamExt};
use parquet::file::metadata::ParquetMetaData;

use super::table::LakeScanExec;

/// Footers read at once by one partition of the plan.
const FOOTER_READS: usize = 8;

/// The physical optimizer rule (see the module doc); runs after DataFusion's.
#[derive(Debug, Default)]
pub struct FooterCounts;

impl PhysicalOptimizerRule for FooterCounts {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        replace_bottom_up(plan, FooterCountExec::replacing)
    }

    fn name(&self) -> &str {
        "auditlake_footer_counts"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// One partial-aggregation row per file of the scan below: the group keys from the file's
/// partition values, each count its footer's row count.
#[derive(Debug)]
pub struct FooterCountExec {
    /// The partial aggregation replaced: its group expressions, schema and properties.
    agg: Arc<dyn ExecutionPlan>,
    /// The `LakeScanExec` it read (kept as our child for `EXPLAIN` and the query's stats).
    scan: Arc<dyn ExecutionPlan>,
}

/// The parts of a qualifying plan that execution needs.
struct Parts<'a> {
    agg: &'a AggregateExec,
    config: &'a FileScanConfig,
    source: &'a ParquetSource,
    /// For each scan output column, its index among the table's partition columns.
    partition_index: Vec<usize>,
}

impl FooterCountExec {
    /// `Some` when `plan` is a partial aggregation this rule may answer.
    fn replacing(plan: &Arc<dyn ExecutionPlan>) -> Option<FooterCountExec> {
        parts(plan, plan.children().first()?)?;
        Some(FooterCountExec {
            agg: Arc::clone(plan),
            scan: Arc::clone(plan.children()[0]),
        })
    }

    fn parts(&self) -> Result<Parts<'_>> {
        parts(&self.agg, &self.scan).ok_or_else(|| {
            DataFusionError::Internal("FooterCountExec over a plan it cannot answer".into())
        })
    }
}

fn parts<'a>(
    agg: &'a Arc<dyn ExecutionPlan>,
    scan: &'a Arc<dyn ExecutionPlan>,
) -> Option<Parts<'a>> {
    let agg = agg.downcast_ref::<AggregateExec>()?;
    if *agg.mode() != AggregateMode::Partial
        || !agg.group_expr().is_single()
        || agg.filter_expr().iter().any(Option::is_some)
        || agg.limit_options().is_some()
        || agg.properties().output_ordering().is_some()
    {
        return None;
    }
    for a in agg.aggr_expr() {
        let args = a.expressions();
        let counts_rows = a.fun().name() == "count"
            && !a.is_distinct()
            && a.order_bys().is_empty()
            && args.len() == 1
            && args[0]
                .downcast_ref::<Literal>()
                .is_some_and(|l| !l.value().is_null());
        let state = a.state_fields().ok()?;
        if !counts_rows || state.len() != 1 || *state[0].data_type() != DataType::Int64 {
            return None;
        }
    }
    scan.downcast_ref::<LakeScanExec>()?;
    let data = scan.children().first()?.downcast_ref::<DataSourceExec>()?;
    let (config, source) = data.downcast_to_file_source::<ParquetSource>()?;
    if source.filter().is_some() || config.limit.is_some() {
        return None;
    }
    let file_cols = source.table_schema().file_schema().fields().len();
    let n_partition_cols = source.table_schema().table_partition_cols().len();
    let partition_index = match source.projection() {
        // No projection: every column, file columns included.
        None => return None,
        Some(p) => p
            .iter()
            .map(|pe| {
                let c = pe.expr.downcast_ref::<Column>()?;
                let i = c.index().checked_sub(file_cols)?;
                (i < n_partition_cols).then_some(i)
            })
            .collect::<Option<Vec<_>>>()?,
    };
    if partition_index.len() != data.schema().fields().len() {
        return None;
    }
    Some(Parts {
        agg,
        config,
        source,
        partition_index,
    })
}

impl DisplayAs for FooterCountExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let files = self
            .parts()
            .map(|p| {
                p.config
                    .file_groups
                    .iter()
                    .flat_map(|g| g.iter())
                    .filter(|f| counted(f))
                    .count()
            })
            .unwrap_or(0);
        write!(f, "FooterCountExec: rows counted from {files} file footers")
    }
}

/// Every node `replacing` accepts replaced by what it returns, children first: the body of a
/// rule that swaps one aggregation for an exec of ours (shared with `query::view_counts`).
pub(crate) fn replace_bottom_up<T: ExecutionPlan + 'static>(
    plan: Arc<dyn ExecutionPlan>,
    replacing: impl Fn(&Arc<dyn ExecutionPlan>) -> Option<T>,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|p| {
        Ok(match replacing(&p) {
            Some(new) => Transformed::yes(Arc::new(new) as Arc<dyn ExecutionPlan>),
            None => Transformed::no(p),
        })
    })
    .data()
}

/// What an exec standing for a replaced partial aggregation answers to `replace_children`: the
/// aggregation over the one new child, qualified again by `replacing`, or DataFusion's plain
/// aggregation when the new child no longer qualifies (shared with `query::view_counts`).
pub(crate) fn replace_agg_child<T: ExecutionPlan + 'static>(
    name: &str,
    agg: &Arc<dyn ExecutionPlan>,
    mut children: Vec<Arc<dyn ExecutionPlan>>,
    options: ReplaceChildrenOptions,
    replacing: impl Fn(&Arc<dyn ExecutionPlan>) -> Option<T>,
) -> Result<Arc<dyn ExecutionPlan>> {
    if children.len() != 1 {
        return Err(DataFusionError::Internal(format!("{name} has one child")));
    }
    let agg = Arc::clone(agg).replace_children(vec![children.swap_remove(0)], options)?;
    Ok(match replacing(&agg) {
        Some(e) => Arc::new(e),
        None => agg,
    })
}

/// Rows the scan would read from a file: the sum of its row groups' counts (what the reader
/// emits for a scan that projects no column, so the answer is the row-by-row answer), refused
/// when a hostile footer claims a negative or absurd count rather than summed into a wrong
/// total (or an overflow in the final aggregation).
fn rows_of(meta: &ParquetMetaData) -> Result<i64> {
    let mut n: i64 = 0;
    for rg in meta.row_groups() {
        let r = rg.num_rows();
        n = n
            .checked_add(r)
            .filter(|&t| r >= 0 && t <= MAX_FILE_ROWS)
            .ok_or_else(|| {
                DataFusionError::Execution(format!(
                    "a Parquet footer claims {r} rows in a row group (more than \
                     {MAX_FILE_ROWS} in the file, or negative): the file is corrupt"
                ))
            })?;
    }
    Ok(n)
}

/// Rows one file may claim (2^40): far above any real file (compaction writes 2 M), low enough
/// that millions of files cannot overflow the 64-bit total.
const MAX_FILE_ROWS: i64 = 1 << 40;

/// A file split into byte ranges is counted by its first range only.
fn counted(f: &PartitionedFile) -> bool {
    f.range.as_ref().is_none_or(|r| r.start == 0)
}

impl ExecutionPlan for FooterCountExec {
    fn name(&self) -> &'static str {
        "FooterCountExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.agg.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.scan]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.agg.apply_expressions(f)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        replace_agg_child(
            "FooterCountExec",
            &self.agg,
            children,
            options,
            FooterCountExec::replacing,
        )
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let parts = self.parts()?;
        let schema = parts.agg.schema();
        let Some(group) = parts.config.file_groups.get(partition) else {
            return Err(DataFusionError::Internal(format!(
                "FooterCountExec: no partition {partition}"
            )));
        };
        let files: Vec<PartitionedFile> = group.iter().filter(|f| counted(f)).cloned().collect();
        let factory = parts
            .source
            .parquet_file_reader_factory()
            .cloned()
            .ok_or_else(|| {
                DataFusionError::Internal("FooterCountExec: the scan has no reader factory".into())
            })?;
        let hint = parts
            .source
            .table_parquet_options()
            .global
            .metadata_size_hint;
        let scan_schema = self.scan.schema();
        let partition_index = parts.partition_index.clone();
        let group_exprs: Vec<Arc<dyn PhysicalExpr>> = parts
            .agg
            .group_expr()
            .expr()
            .iter()
            .map(|(e, _)| Arc::clone(e))
            .collect();
        let n_aggs = parts.agg.aggr_expr().len();
        let out_schema = Arc::clone(&schema);
        let metrics = ExecutionPlanMetricsSet::new();
        let work = async move {
            // Footers are small and usually cached; a month's first query loads 30 at once
            // rather than one after another.
            let counts: Vec<i64> = futures::stream::iter(files.iter().cloned())
                .map(|f| {
                    let reader = factory.create_reader(partition, f, hint, &metrics);
                    async move { Ok::<_, DataFusionError>(reader?.get_metadata(None).await?) }
                })
                .buffered(FOOTER_READS)
                .map(|meta| meta.and_then(|m| rows_of(&m)))
                .try_collect()
                .await?;
            let rows: Vec<(&PartitionedFile, i64)> =
                files.iter().zip(counts).filter(|(_, n)| *n > 0).collect();
            if rows.is_empty() {
                return Ok(RecordBatch::new_empty(out_schema));
            }
            // The scan's output columns (partition values), one row per counted file.
            let mut cols = Vec::with_capacity(partition_index.len());
            for &i in &partition_index {
                let values = rows
                    .iter()
                    .map(|(f, _)| {
                        f.partition_values.get(i).cloned().ok_or_else(|| {
                            DataFusionError::Internal(format!(
                                "FooterCountExec: {} lacks partition value {i}",
                                f.object_meta.location
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                cols.push(ScalarValue::iter_to_array(values)?);
            }
            let input = RecordBatch::try_new_with_options(
                Arc::clone(&scan_schema),
                cols,
                &RecordBatchOptions::new().with_row_count(Some(rows.len())),
            )?;
            let mut out = Vec::with_capacity(group_exprs.len() + n_aggs);
            for e in &group_exprs {
                out.push(e.evaluate(&input)?.into_array(input.num_rows())?);
            }
            let counts: ArrayRef =
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, n)| *n)));
            out.extend(std::iter::repeat_n(counts, n_aggs));
            Ok(RecordBatch::try_new_with_options(
                out_schema,
                out,
                &RecordBatchOptions::new().with_row_count(Some(rows.len())),
            )?)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::once(work),
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use parquet::file::metadata::{FileMetaData, ParquetMetaData, RowGroupMetaData};
    use parquet::schema::types::SchemaDescriptor;

    use super::{MAX_FILE_ROWS, rows_of};

    fn meta(counts: &[i64]) -> ParquetMetaData {
        let schema =
            parquet::schema::parser::parse_message_type("message m { optional int32 a; }").unwrap();
        let descr = Arc::new(SchemaDescriptor::new(Arc::new(schema)));
        let groups = counts
            .iter()
            .map(|&n| {
                RowGroupMetaData::builder(descr.clone())
                    .set_num_rows(n)
                    .set_column_metadata(vec![
                        parquet::file::metadata::ColumnChunkMetaData::builder(descr.column(0))
                            .build()
                            .unwrap(),
                    ])
                    .build()
                    .unwrap()
            })
            .collect();
        let file = FileMetaData::new(1, 0, None, None, descr, None);
        ParquetMetaData::new(file, groups)
    }

    #[test]
    fn hostile_row_counts_are_refused_not_summed() {
        assert_eq!(rows_of(&meta(&[3, 4])).unwrap(), 7);
        assert_eq!(rows_of(&meta(&[])).unwrap(), 0);
        for bad in [
            vec![5, -1],
            vec![MAX_FILE_ROWS, 1],
            vec![i64::MAX, i64::MAX],
        ] {
            let e = rows_of(&meta(&bad)).unwrap_err().to_string();
            assert!(e.contains("the file is corrupt"), "{bad:?}: {e}");
        }
    }
}
