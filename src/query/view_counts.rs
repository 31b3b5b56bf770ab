//! `GROUP BY <one string>` with `count`s (or with no aggregate: `DISTINCT`, `count(DISTINCT …)`),
//! partially aggregated on the 16-byte string views the Parquet reader emits rather than on the
//! strings: a physical rule replaces such a partial aggregation by `ViewCountExec`.
//!
//! Why: "top identities / IPs / event types" are what an analyst types first, and they group
//! 820 K rows into a few hundred keys. DataFusion's partial aggregation hashes every row's bytes
//! and compares them with the group's (10–14 ms of CPU of a warm 17 ms `GROUP BY ip`; DuckDB
//! 17 ms). But a dictionary-encoded column chunk — every low-cardinality column of ours — is
//! decoded into views that all point into the one dictionary page: equal strings from the same
//! dictionary carry identical views. Hashing the view (a `u128`) finds the group; the string is
//! hashed once per distinct view.
//!
//! Correctness does not depend on that sharing: a view is a cache key only. An inline view
//! (≤ 12 bytes) *is* its string, so its cache holds for the whole stream; a longer view names
//! (buffer, offset, length), so its cache holds only while the batch's buffers are the very
//! buffers the cache was filled from (compared by pointer, and kept alive by the cache so a
//! pointer cannot be reused). On a miss the string is looked up by its bytes. Plain-encoded
//! pages, coalesced or garbage-collected views only cost more misses.
//!
//! When it applies — anything else keeps DataFusion's plan:
//! - a `Partial` aggregation (not grouping sets), one group expression of type `Utf8View`, no
//!   limit, no declared ordering, input not sorted on the key, no dynamic filter;
//! - every aggregate is a plain `count` of one expression (`count(*)` is `count(1)`): not
//!   distinct, no `FILTER (WHERE …)`, no ordering, state one `Int64`.
//!
//! Partial rows may repeat a group (the final aggregation merges them, as it does when
//! DataFusion skips or spills a partial aggregation): when the groups held pass
//! [`GROUP_LIMIT`] or the memory pool refuses their growth, they are emitted and the state
//! starts over, so memory here stays bounded. Keys whose views do not repeat (`GROUP BY uid`,
//! plain-encoded pages, computed strings) gain nothing from the cache and make groups slower
//! than DataFusion does: when more than one row in [`MISS_SHARE`] of the first [`PROBE_ROWS`]
//! missed it, the groups held are emitted and DataFusion's own partial aggregation (spilling,
//! skipping, as planned) is run over the rest of the stream (`rows_delegated` in `EXPLAIN
//! ANALYZE` counts its output).
//! `AUDITLAKE_VIEW_COUNTS=0` leaves the rule out.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, RecordBatchOptions, StringViewArray,
    StringViewBuilder,
};
use datafusion::arrow::buffer::{Buffer, NullBuffer};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::hash_map::Entry;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{HashMap, Result};
use datafusion::config::ConfigOptions;
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion::physical_plan::{InputOrderMode, Partitioning};
use futures::{Stream, StreamExt};

use super::footer_counts::{replace_agg_child, replace_bottom_up};

/// Groups one partition holds before it emits them and starts over: enough for every
/// identity, IP or event type of a tenant; a `uid` column emits every 64 Ki rows.
pub const GROUP_LIMIT: usize = 1 << 16;

/// Cached long views kept per buffer set before the cache is dropped (distinct views, not
/// distinct strings: plain-encoded pages give every row its own view).
const LONG_CACHE_LIMIT: usize = 2 * GROUP_LIMIT;

/// The physical optimizer rule (see the module doc); runs after DataFusion's.
#[derive(Debug, Default)]
pub struct ViewCounts;

impl PhysicalOptimizerRule for ViewCounts {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        replace_bottom_up(plan, ViewCountExec::replacing)
    }

    fn name(&self) -> &str {
        "auditlake_view_counts"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// What one aggregate counts.
#[derive(Debug, Clone)]
enum Counted {
    /// Every row (`count(*)`, `count(<non-null literal>)`).
    Rows,
    /// Rows where the expression is not null.
    NonNull(Arc<dyn PhysicalExpr>),
}

/// The partial aggregation `ViewCountExec` computes: the replaced node (for its schema,
/// properties and display) and its input.
#[derive(Debug)]
pub struct ViewCountExec {
    agg: Arc<dyn ExecutionPlan>,
    input: Arc<dyn ExecutionPlan>,
    key: Arc<dyn PhysicalExpr>,
    counts: Vec<Counted>,
    metrics: ExecutionPlanMetricsSet,
}

impl ViewCountExec {
    /// `Some` when `plan` is a partial aggregation this rule may compute.
    fn replacing(plan: &Arc<dyn ExecutionPlan>) -> Option<ViewCountExec> {
        let agg = plan.downcast_ref::<AggregateExec>()?;
        let input = agg.input();
        let gby = agg.group_expr();
        if *agg.mode() != AggregateMode::Partial
            || !gby.is_single()
            || gby.expr().len() != 1
            || agg.filter_expr().iter().any(Option::is_some)
            || agg.limit_options().is_some()
            || !agg.dynamic_expressions_produced().is_empty()
            || agg.properties().output_ordering().is_some()
            || *agg.input_order_mode() != InputOrderMode::Linear
        {
            return None;
        }
        let key = Arc::clone(&gby.expr()[0].0);
        if key.data_type(&input.schema()).ok()? != DataType::Utf8View {
            return None;
        }
        let mut counts = Vec::with_capacity(agg.aggr_expr().len());
        for a in agg.aggr_expr() {
            let args = a.expressions();
            let state = a.state_fields().ok()?;
            if a.fun().name() != "count"
                || a.is_distinct()
                || !a.order_bys().is_empty()
                || args.len() != 1
                || state.len() != 1
                || *state[0].data_type() != DataType::Int64
            {
                return None;
            }
            counts.push(match args[0].downcast_ref::<Literal>() {
                Some(l) if !l.value().is_null() => Counted::Rows,
                _ => Counted::NonNull(Arc::clone(&args[0])),
            });
        }
        // The output must be the replaced node's: group column, then one Int64 per count.
        let schema = agg.schema();
        if schema.fields().len() != 1 + counts.len()
            || *schema.field(0).data_type() != DataType::Utf8View
            || schema.fields()[1..]
                .iter()
                .any(|f| *f.data_type() != DataType::Int64)
        {
            return None;
        }
        Some(ViewCountExec {
            agg: Arc::clone(plan),
            input: Arc::clone(input),
            key,
            counts,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }
}

impl DisplayAs for ViewCountExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let schema = self.agg.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        write!(
            f,
            "ViewCountExec: gby=[{}], aggr=[{}]",
            names[0],
            names[1..].join(", ")
        )
    }
}

impl ExecutionPlan for ViewCountExec {
    fn name(&self) -> &'static str {
        "ViewCountExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.agg.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
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
            "ViewCountExec",
            &self.agg,
            children,
            options,
            ViewCountExec::replacing,
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

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, Arc::clone(&context))?;
        let reservation = MemoryConsumer::new(format!("ViewCountExec[{partition}]"))
            .register(context.memory_pool());
        Ok(Box::pin(ViewCountStream {
            input: Some(input),
            schema: self.agg.schema(),
            agg: Arc::clone(&self.agg),
            key: Arc::clone(&self.key),
            counts: self.counts.clone(),
            groups: Groups::new(self.counts.len()),
            ids: Vec::new(),
            pending: VecDeque::new(),
            batch_size: context.session_config().batch_size().max(1),
            probed_rows: 0,
            probed_misses: 0,
            delegate: None,
            rows_delegated: MetricBuilder::new(&self.metrics).counter("rows_delegated", partition),
            context,
            reservation,
            baseline: BaselineMetrics::new(&self.metrics, partition),
        }))
    }
}

/// Rows counted before judging whether the views repeat: one default batch (the rows counted
/// while probing a key that does not repeat cost ~8 % of a `GROUP BY uid` at four batches).
pub const PROBE_ROWS: usize = 8 * 1024;

/// Past the probe, more than one row in `MISS_SHARE` looking its string up means the views do
/// not repeat (high-cardinality keys, plain-encoded pages, computed strings): DataFusion's
/// partial aggregation, which is faster at making groups, takes the rest of the stream.
pub const MISS_SHARE: usize = 16;

/// The partial counts of one partition's input.
struct ViewCountStream {
    /// `None` once exhausted or handed to `delegate`.
    input: Option<SendableRecordBatchStream>,
    schema: SchemaRef,
    /// The partial aggregation replaced, re-planned over the rest of the input if delegated.
    agg: Arc<dyn ExecutionPlan>,
    key: Arc<dyn PhysicalExpr>,
    counts: Vec<Counted>,
    groups: Groups,
    /// Per-row group ids of the batch being counted (reused).
    ids: Vec<u32>,
    pending: VecDeque<RecordBatch>,
    batch_size: usize,
    /// Rows counted so far and the view-cache misses among them, until the probe ends.
    probed_rows: usize,
    probed_misses: usize,
    /// DataFusion's partial aggregation of the rest of the input, once handed over.
    delegate: Option<SendableRecordBatchStream>,
    rows_delegated: Count,
    context: Arc<TaskContext>,
    reservation: MemoryReservation,
    baseline: BaselineMetrics,
}

impl ViewCountStream {
    fn add_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let keys = self.key.evaluate(batch)?.into_array(batch.num_rows())?;
        let keys = keys.as_string_view_opt().ok_or_else(|| {
            DataFusionError::Internal(format!(
                "ViewCountExec: group key is {}, not Utf8View",
                keys.data_type()
            ))
        })?;
        let mut args: Vec<Option<NullBuffer>> = Vec::with_capacity(self.counts.len());
        for c in &self.counts {
            args.push(match c {
                Counted::Rows => None,
                Counted::NonNull(e) => e
                    .evaluate(batch)?
                    .into_array(batch.num_rows())?
                    .logical_nulls(),
            });
        }
        let misses = self.groups.count(keys, &args, &mut self.ids);
        if self.probed_rows < PROBE_ROWS {
            self.probed_rows += batch.num_rows();
            self.probed_misses += misses;
            if self.probed_rows >= PROBE_ROWS
                && self.probed_misses.saturating_mul(MISS_SHARE) > self.probed_rows
            {
                return self.hand_over();
            }
        }
        let over = self.groups.len() > GROUP_LIMIT
            || self.reservation.try_resize(self.groups.bytes()).is_err();
        if over {
            self.emit()?;
        }
        Ok(())
    }

    /// Emits the groups held and re-plans the replaced partial aggregation over the rest of
    /// the input.
    fn hand_over(&mut self) -> Result<()> {
        self.emit()?;
        let Some(rest) = self.input.take() else {
            return Ok(());
        };
        let source: Arc<dyn ExecutionPlan> = Arc::new(StreamExec::new(rest));
        let agg = Arc::clone(&self.agg).replace_children(
            vec![source],
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )?;
        self.delegate = Some(agg.execute(0, Arc::clone(&self.context))?);
        Ok(())
    }

    /// Moves the groups held into `pending` and starts over.
    fn emit(&mut self) -> Result<()> {
        let batch = self.groups.take(&self.schema)?;
        self.reservation.free();
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = self.batch_size.min(batch.num_rows() - offset);
            self.pending.push_back(batch.slice(offset, len));
            offset += len;
        }
        Ok(())
    }
}

impl Stream for ViewCountStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                return self.baseline.record_poll(Poll::Ready(Some(Ok(b))));
            }
            if let Some(delegate) = self.delegate.as_mut() {
                let next = delegate.poll_next_unpin(cx);
                if let Poll::Ready(Some(Ok(b))) = &next {
                    self.rows_delegated.add(b.num_rows());
                }
                return self.baseline.record_poll(next);
            }
            let Some(input) = self.input.as_mut() else {
                return Poll::Ready(None);
            };
            match input.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(batch))) => {
                    let elapsed = self.baseline.elapsed_compute().clone();
                    let _timer = elapsed.timer();
                    if let Err(e) = self.add_batch(&batch) {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Poll::Ready(None) => {
                    self.input = None;
                    let elapsed = self.baseline.elapsed_compute().clone();
                    let _timer = elapsed.timer();
                    if let Err(e) = self.emit() {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
            }
        }
    }
}

impl RecordBatchStream for ViewCountStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// A plan of one partition that yields a stream already running: the rest of a
/// `ViewCountExec`'s input, for the partial aggregation it hands over to. Executed once.
struct StreamExec {
    stream: Mutex<Option<SendableRecordBatchStream>>,
    properties: Arc<PlanProperties>,
}

impl StreamExec {
    fn new(stream: SendableRecordBatchStream) -> StreamExec {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(stream.schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        StreamExec {
            stream: Mutex::new(Some(stream)),
            properties: Arc::new(properties),
        }
    }
}

impl fmt::Debug for StreamExec {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("StreamExec")
    }
}

impl DisplayAs for StreamExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("StreamExec: the rest of a ViewCountExec input")
    }
}

impl ExecutionPlan for StreamExec {
    fn name(&self) -> &'static str {
        "StreamExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "StreamExec has no children".into(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "StreamExec: no partition {partition}"
            )));
        }
        self.stream
            .lock()
            .map_err(|_| DataFusionError::Internal("StreamExec: lock poisoned".into()))?
            .take()
            .ok_or_else(|| DataFusionError::Internal("StreamExec: executed twice".into()))
    }
}

/// Distinct keys and their counts; the view caches that find a row's group.
struct Groups {
    n_counts: usize,
    /// Key → group id.
    ids: HashMap<String, u32>,
    null_id: Option<u32>,
    /// `counts[id * n_counts + a]`: aggregate `a` of group `id`.
    counts: Vec<i64>,
    key_bytes: usize,
    /// Inline view (the string itself) → group id; valid for the whole stream.
    inline: HashMap<u128, u32>,
    /// Long view → group id; valid while the batch's buffers are `long_buffers`.
    long: HashMap<u128, u32>,
    long_buffers: Vec<Buffer>,
}

impl Groups {
    fn new(n_counts: usize) -> Groups {
        Groups {
            n_counts,
            ids: HashMap::default(),
            null_id: None,
            counts: Vec::new(),
            key_bytes: 0,
            inline: HashMap::default(),
            long: HashMap::default(),
            long_buffers: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.ids.len() + usize::from(self.null_id.is_some())
    }

    /// Memory held, for the pool: keys, maps, counts.
    fn bytes(&self) -> usize {
        // A hashbrown slot is the entry plus a control byte: `(String, u32)` and `(u128, u32)`
        // both pad to 32 bytes. The cached buffers are the batch's own, counted by its reader.
        self.key_bytes
            + (self.ids.capacity() + self.inline.capacity() + self.long.capacity()) * 33
            + self.counts.capacity() * 8
    }

    fn new_group(&mut self) -> u32 {
        let id = self.len() as u32;
        self.counts.extend(std::iter::repeat_n(0, self.n_counts));
        id
    }

    /// Adds one batch: `args[a]` is aggregate `a`'s null mask (`None`: every row counts).
    /// Returns the rows that missed the view caches (looked their string up).
    fn count(
        &mut self,
        keys: &StringViewArray,
        args: &[Option<NullBuffer>],
        ids: &mut Vec<u32>,
    ) -> usize {
        let buffers = keys.data_buffers();
        let same_buffers = buffers.len() == self.long_buffers.len()
            && buffers
                .iter()
                .zip(&self.long_buffers)
                .all(|(a, b)| a.ptr_eq(b));
        if !same_buffers || self.long.len() > LONG_CACHE_LIMIT {
            self.long.clear();
            self.long_buffers = buffers.to_vec();
        }
        ids.clear();
        ids.reserve(keys.len());
        let mut misses = 0;
        let nulls = keys.logical_nulls();
        for (i, &view) in keys.views().iter().enumerate() {
            if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                let id = match self.null_id {
                    Some(id) => id,
                    None => {
                        let id = self.new_group();
                        self.null_id = Some(id);
                        id
                    }
                };
                ids.push(id);
                continue;
            }
            let cache = if (view as u32) <= 12 {
                &mut self.inline
            } else {
                &mut self.long
            };
            let id = match cache.entry(view) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => {
                    misses += 1;
                    let s = keys.value(i);
                    let next = self.ids.len() as u32 + u32::from(self.null_id.is_some());
                    let id = *self.ids.entry_ref(s).or_insert_with(|| {
                        self.key_bytes += s.len();
                        next
                    });
                    if id == next {
                        self.counts.extend(std::iter::repeat_n(0, self.n_counts));
                    }
                    *e.insert(id)
                }
            };
            ids.push(id);
        }
        let n = self.n_counts;
        for (a, arg) in args.iter().enumerate() {
            match arg {
                None => {
                    for &g in ids.iter() {
                        self.counts[g as usize * n + a] += 1;
                    }
                }
                Some(valid) => {
                    for (i, &g) in ids.iter().enumerate() {
                        self.counts[g as usize * n + a] += i64::from(valid.is_valid(i));
                    }
                }
            }
        }
        misses
    }

    /// The groups as partial-aggregate rows (`schema`: key, then one count per aggregate),
    /// leaving `self` empty.
    fn take(&mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        let rows = self.len();
        let mut keys: Vec<Option<&str>> = vec![None; rows];
        for (k, &id) in &self.ids {
            keys[id as usize] = Some(k);
        }
        let mut builder = StringViewBuilder::with_capacity(rows);
        for k in &keys {
            builder.append_option(*k);
        }
        let mut columns: Vec<ArrayRef> = vec![Arc::new(builder.finish())];
        for a in 0..self.n_counts {
            columns.push(Arc::new(Int64Array::from_iter_values(
                (0..rows).map(|g| self.counts[g * self.n_counts + a]),
            )));
        }
        drop(keys);
        let batch = RecordBatch::try_new_with_options(
            Arc::clone(schema),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?;
        *self = Groups::new(self.n_counts);
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, AsArray, StringViewArray};
    use datafusion::arrow::buffer::NullBuffer;
    use datafusion::arrow::datatypes::Int64Type;
    use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

    use super::Groups;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8View, true),
            Field::new("rows", DataType::Int64, false),
            Field::new("nonnull", DataType::Int64, false),
        ]))
    }

    /// Counts per key from `take`, folded (a key may repeat across emissions).
    fn fold(out: &mut BTreeMap<Option<String>, (i64, i64)>, g: &mut Groups) {
        let b = g.take(&schema()).unwrap();
        let k = b.column(0).as_string_view();
        let r = b.column(1).as_primitive::<Int64Type>();
        let n = b.column(2).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let e = out
                .entry(k.is_valid(i).then(|| k.value(i).to_string()))
                .or_default();
            e.0 += r.value(i);
            e.1 += n.value(i);
        }
    }

    /// Equal strings under different views (distinct buffers, plain and long), a view reused
    /// with other buffers behind it, nulls, inline and long keys: the counts are those of a
    /// plain string count.
    #[test]
    fn counts_equal_a_string_count_whatever_the_views() {
        let long_a = "10.200.300.400-long-key";
        let long_b = "10.200.300.401-long-key";
        let batches: Vec<StringViewArray> = vec![
            StringViewArray::from(vec![Some("a"), Some(long_a), None, Some(long_a), Some("b")]),
            // Same strings, new buffers: long views may coincide with the last batch's
            // (same offsets) while naming other bytes.
            StringViewArray::from(vec![Some(long_b), Some("a"), Some(long_b), None]),
            StringViewArray::from(vec![Some(long_a), Some(long_b), Some("a")]),
        ];
        let masks: Vec<Option<NullBuffer>> = vec![
            Some(NullBuffer::from(vec![true, false, true, true, true])),
            None,
            Some(NullBuffer::from(vec![false, false, true])),
        ];
        let mut want: BTreeMap<Option<String>, (i64, i64)> = BTreeMap::new();
        for (b, m) in batches.iter().zip(&masks) {
            for i in 0..b.len() {
                let e = want
                    .entry(b.is_valid(i).then(|| b.value(i).to_string()))
                    .or_default();
                e.0 += 1;
                e.1 += i64::from(m.as_ref().is_none_or(|m| m.is_valid(i)));
            }
        }
        // Once straight through, once emitting after every batch.
        for emit_each in [false, true] {
            let mut g = Groups::new(2);
            let mut ids = Vec::new();
            let mut got = BTreeMap::new();
            for (b, m) in batches.iter().zip(&masks) {
                g.count(b, &[None, m.clone()], &mut ids);
                if emit_each {
                    fold(&mut got, &mut g);
                }
            }
            fold(&mut got, &mut g);
            assert_eq!(got, want, "emit_each={emit_each}");
            assert_eq!(g.len(), 0);
        }
    }

    /// A slice shares its parent's buffers and views; a second array built with the same
    /// views but other bytes in its buffer must not be read through the first one's cache.
    #[test]
    fn a_long_view_is_trusted_only_with_its_own_buffers() {
        let x = StringViewArray::from(vec!["first-long-string-xx", "other"]);
        let y = StringViewArray::from(vec!["second-long-string-y", "other"]);
        // Same length, same offset, same (empty) prefix difference aside: the views of the
        // first rows differ only in their prefix bytes; force the question with equal
        // prefixes.
        let p = StringViewArray::from(vec!["same-prefix-AAAAAAAAAA"]);
        let q = StringViewArray::from(vec!["same-prefix-BBBBBBBBBB"]);
        assert_eq!(p.views()[0], q.views()[0], "views equal, bytes differ");
        let mut g = Groups::new(1);
        let mut ids = Vec::new();
        for a in [&x, &y, &p, &q, &p.slice(0, 1)] {
            g.count(a, &[None], &mut ids);
        }
        let b = g
            .take(&Arc::new(Schema::new(vec![
                Field::new("k", DataType::Utf8View, true),
                Field::new("n", DataType::Int64, false),
            ])))
            .unwrap();
        let mut got: Vec<(String, i64)> = (0..b.num_rows())
            .map(|i| {
                (
                    b.column(0).as_string_view().value(i).to_string(),
                    b.column(1).as_primitive::<Int64Type>().value(i),
                )
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("first-long-string-xx".into(), 1),
                ("other".into(), 2),
                ("same-prefix-AAAAAAAAAA".into(), 2),
                ("same-prefix-BBBBBBBBBB".into(), 1),
                ("second-long-string-y".into(), 1),
            ]
        );
    }
}
