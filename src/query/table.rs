//! The `events` table: a DataFusion `TableProvider` over `data/{tenant_id}/{YYYY-MM-DD}/*.parquet`.
//!
//! ListingTable only understands Hive-style `key=value` directories, so this provider lists
//! tenants and dates itself, prunes partitions by evaluating the query's partition-only
//! predicates on (tenant_id, event_date), applies the session's scope (a tenant, a date window)
//! before any listing a query could influence, and hands the surviving files to DataFusion's
//! Parquet scan (row-group statistics, page index, filter pushdown). A thin `LakeScanExec`
//! above the scan reports the pruning in `EXPLAIN ANALYZE` and enforces the bytes-scanned
//! cutoff on bytes actually read.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, BooleanArray, Date32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, FieldRef, Schema, SchemaRef};
use async_trait::async_trait;
use chrono::NaiveDate;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::listing::helpers::expr_applicable_for_cols;
use datafusion::datasource::physical_plan::ParquetSource;
use datafusion::datasource::physical_plan::parquet::ParquetRowSelection;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::{PhysicalExpr, create_physical_expr};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::filter_pushdown::{
    ChildPushdownResult, FilterDescription, FilterPushdownPhase, FilterPushdownPropagation,
};
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, MetricBuilder, MetricType, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, project_schema,
};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::RowSelection;

use crate::lake::{Lake, grams, layout};
use crate::schema::{self, EVENT_DATE, TENANT_ID};

/// What a session may see: set by the engine's constructor, never by SQL.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    /// Only this tenant's directory is ever listed.
    pub tenant: Option<String>,
    /// Only partitions on or after this date.
    pub since: Option<NaiveDate>,
    /// Only partitions on or before this date.
    pub until: Option<NaiveDate>,
}

impl Scope {
    fn admits(&self, tenant: &str, date: NaiveDate) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == tenant)
            && self.since.is_none_or(|s| date >= s)
            && self.until.is_none_or(|u| date <= u)
    }
}

/// Guardrails applied inside the scan.
#[derive(Debug, Clone, Copy)]
pub struct ScanLimits {
    /// Stop a query once it has read more than this many bytes from the lake.
    pub max_bytes_scanned: u64,
}

/// The `events` table provider.
#[derive(Debug)]
pub struct EventsTable {
    lake: Lake,
    scope: Scope,
    limits: ScanLimits,
    store_url: ObjectStoreUrl,
    /// Set: the table is exactly these partitions' files, as listed by the caller (the view
    /// sidecar builds from the file set its key names, never from a later listing).
    pinned: Option<Arc<Vec<PinnedPartition>>>,
    /// The n-gram indexes read by earlier `LIKE` scans of this session.
    indexes: Arc<IndexCache>,
    /// The Bloom filters read by earlier filtered scans of this session (`query::reader`).
    blooms: Arc<crate::query::reader::BloomCache>,
}

/// One partition and its live files, as a caller listed them.
#[derive(Debug, Clone)]
pub struct PinnedPartition {
    pub tenant: String,
    pub date: NaiveDate,
    pub files: Vec<object_store::ObjectMeta>,
}

impl EventsTable {
    pub fn new(lake: Lake, scope: Scope, limits: ScanLimits) -> DfResult<Self> {
        let store_url = ObjectStoreUrl::parse(store_url_root(&lake))?;
        Ok(Self {
            lake,
            scope,
            limits,
            store_url,
            pinned: None,
            indexes: Arc::default(),
            blooms: Arc::default(),
        })
    }

    /// The same table reduced to exactly these partitions and files (no listing at scan).
    pub fn pinned(&self, parts: Vec<PinnedPartition>) -> EventsTable {
        EventsTable {
            lake: self.lake.clone(),
            scope: self.scope.clone(),
            limits: self.limits,
            store_url: self.store_url.clone(),
            pinned: Some(Arc::new(parts)),
            indexes: self.indexes.clone(),
            blooms: self.blooms.clone(),
        }
    }

    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    pub fn limits(&self) -> ScanLimits {
        self.limits
    }

    /// The live data files of one partition: its listing with compaction tombstones applied,
    /// so a partition being compacted shows either its old files or its new ones.
    pub async fn live_files(
        &self,
        tenant: &str,
        date: NaiveDate,
    ) -> object_store::Result<Vec<object_store::ObjectMeta>> {
        if let Some(p) = &self.pinned {
            return Ok(p
                .iter()
                .find(|p| p.tenant == tenant && p.date == date)
                .map(|p| p.files.clone())
                .unwrap_or_default());
        }
        let store = self.lake.store();
        let prefix = layout::partition_prefix(&self.lake, tenant, date);
        let metas: Vec<_> = store.list(Some(&prefix)).try_collect().await?;
        crate::lake::listing::live_files(store.as_ref(), metas).await
    }

    /// On a local lake, the objects of the kept partitions from one recursive listing per
    /// tenant (one directory walk instead of a listing per day: ~1 ms of a 30-day query).
    /// `None` on S3, where a tenant's whole history is far more than the days a query keeps.
    async fn list_tenants(
        &self,
        kept: &[(String, NaiveDate)],
    ) -> DfResult<Option<HashMap<(String, NaiveDate), Vec<ObjectMeta>>>> {
        if !self.lake.is_local() || self.pinned.is_some() || kept.len() < 2 {
            return Ok(None);
        }
        let wanted: std::collections::HashSet<&(String, NaiveDate)> = kept.iter().collect();
        let mut tenants: Vec<&str> = kept.iter().map(|k| k.0.as_str()).collect();
        tenants.dedup();
        let mut out: HashMap<(String, NaiveDate), Vec<ObjectMeta>> = HashMap::new();
        let store = self.lake.store();
        for t in tenants {
            let prefix = layout::tenant_prefix(&self.lake, t);
            let depth = prefix.parts().count();
            let metas: Vec<ObjectMeta> = store
                .list(Some(&prefix))
                .try_collect()
                .await
                .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;
            for m in metas {
                let parts: Vec<_> = m.location.parts().collect();
                // data/{tenant}/{date}/{name}: deeper objects are no partition's files.
                if parts.len() != depth + 2 {
                    continue;
                }
                let Some(date) = layout::parse_date(parts[depth].as_ref()) else {
                    continue;
                };
                let key = (t.to_string(), date);
                if wanted.contains(&key) {
                    out.entry(key).or_default().push(m);
                }
            }
        }
        Ok(Some(out))
    }

    /// A partition's live data files, and the n-gram indexes of its listing by data file name
    /// (from `prelisted` when given: that partition's objects of a wider listing).
    async fn listed_files(
        &self,
        tenant: &str,
        date: NaiveDate,
        prelisted: Option<Vec<ObjectMeta>>,
    ) -> object_store::Result<(Vec<ObjectMeta>, HashMap<String, ObjectMeta>)> {
        if self.pinned.is_some() {
            return Ok((self.live_files(tenant, date).await?, HashMap::new()));
        }
        let store = self.lake.store();
        let metas: Vec<ObjectMeta> = match prelisted {
            Some(m) => m,
            None => {
                let prefix = layout::partition_prefix(&self.lake, tenant, date);
                store.list(Some(&prefix)).try_collect().await?
            }
        };
        let indexes = metas
            .iter()
            .filter(|m| grams::is_index(&m.location))
            .filter_map(|m| Some((grams::data_name(&m.location)?, m.clone())))
            .collect();
        let live = crate::lake::listing::live_files(store.as_ref(), metas).await?;
        Ok((live, indexes))
    }

    /// Applies the n-gram indexes to a `LIKE` scan's files: a file none of whose granules can
    /// hold the literals is dropped, one with some is read through a row selection of those
    /// granules. A file without a usable index is read whole.
    async fn index_prune(
        &self,
        listed: Vec<(PartitionedFile, Option<ObjectMeta>)>,
        grams: &[u32],
        stats: &mut IndexStats,
    ) -> Vec<PartitionedFile> {
        let store = self.lake.store();
        let loaded: Vec<(PartitionedFile, Option<Arc<grams::Index>>)> =
            futures::stream::iter(listed)
                .map(|(f, ix)| async move {
                    let index = match ix {
                        Some(ix) => self.load_index(store.as_ref(), &f.object_meta, ix).await,
                        None => None,
                    };
                    (f, index)
                })
                .buffered(16)
                .collect()
                .await;
        let mut out = Vec::with_capacity(loaded.len());
        for (f, index) in loaded {
            let Some(index) = index else {
                stats.unindexed_files += 1;
                out.push(f);
                continue;
            };
            let runs = index.kept_runs(grams);
            let kept: u64 = runs.iter().map(|r| r.1).sum();
            stats.granules += index.granules();
            stats.granules_pruned += index.granules()
                - runs
                    .iter()
                    .map(|r| r.1.div_ceil(grams::GRANULE_ROWS as u64) as usize)
                    .sum::<usize>();
            if kept == 0 {
                stats.files_pruned += 1;
                continue;
            }
            if kept == index.rows() {
                out.push(f);
                continue;
            }
            let rows = index.rows() as usize;
            let sel = RowSelection::from_consecutive_ranges(
                runs.iter().map(|&(s, l)| s as usize..(s + l) as usize),
                rows,
            );
            out.push(f.with_extension(ParquetRowSelection::new(sel)));
        }
        out
    }

    /// A data file's index, from the cache or the store; `None` (the file is read whole) when
    /// it is missing, older than the file, too large, malformed or for another file.
    async fn load_index(
        &self,
        store: &dyn ObjectStore,
        data: &ObjectMeta,
        ix: ObjectMeta,
    ) -> Option<Arc<grams::Index>> {
        if ix.last_modified < data.last_modified || ix.size > grams::MAX_INDEX_BYTES {
            tracing::debug!(index = %ix.location, "n-gram index older than its file or too large: not used");
            return None;
        }
        let key = (ix.location.to_string(), ix.size, ix.last_modified);
        if let Some(hit) = self.indexes.get(&key) {
            return Some(hit);
        }
        let bytes = match store.get(&ix.location).await {
            Ok(r) => r.bytes().await.ok()?,
            Err(_) => return None,
        };
        match grams::Index::parse(&bytes).and_then(|i| i.check_size(data.size).map(|()| i)) {
            Ok(i) => {
                let i = Arc::new(i);
                self.indexes.put(key, i.clone());
                Some(i)
            }
            Err(e) => {
                tracing::warn!(index = %ix.location, error = %e, "n-gram index not used; the file is read whole");
                None
            }
        }
    }

    /// The object store URL this table reads through (register the lake's store under it).
    pub fn object_store_url(&self) -> &ObjectStoreUrl {
        &self.store_url
    }

    /// Lists the (tenant, date) partitions the scope admits, in order.
    pub async fn partitions(&self) -> DfResult<Vec<(String, NaiveDate)>> {
        if let Some(p) = &self.pinned {
            let mut out: Vec<_> = p
                .iter()
                .filter(|p| self.scope.admits(&p.tenant, p.date))
                .map(|p| (p.tenant.clone(), p.date))
                .collect();
            out.sort();
            return Ok(out);
        }
        let store = self.lake.store();
        let tenants: Vec<String> = match &self.scope.tenant {
            Some(t) => vec![t.clone()],
            None => list_dirs(store.as_ref(), &layout::data_prefix(&self.lake)).await?,
        };
        let mut out = Vec::new();
        let listed = futures::stream::iter(tenants.into_iter().filter(|t| crate::tenant::valid(t)))
            .map(|t| async move {
                let dirs =
                    list_dirs(store.as_ref(), &layout::tenant_prefix(&self.lake, &t)).await?;
                Ok::<_, DataFusionError>((t, dirs))
            })
            .buffer_unordered(16)
            .try_collect::<Vec<_>>()
            .await?;
        for (t, dirs) in listed {
            for d in dirs {
                if let Some(date) = layout::parse_date(&d)
                    && self.scope.admits(&t, date)
                {
                    out.push((t.clone(), date));
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// `file:///` for a local lake (paths are relative to the store's prefix), `s3://bucket/`.
pub fn store_url_root(lake: &Lake) -> String {
    let u = lake.store_url();
    if u.scheme() == "file" {
        format!("auditlake-{}://lake/", local_store_id(lake))
    } else {
        format!("{}://{}/", u.scheme(), u.host_str().unwrap_or_default())
    }
}

/// A local lake's store is rooted at its directory, so it gets a URL of its own (DataFusion
/// maps URLs to stores by scheme and host) instead of shadowing `file:///`.
fn local_store_id(lake: &Lake) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    lake.store_url().as_str().hash(&mut h);
    format!("{:016x}", h.finish())
}

async fn list_dirs(store: &dyn ObjectStore, prefix: &Path) -> DfResult<Vec<String>> {
    let res = store.list_with_delimiter(Some(prefix)).await;
    let res = match res {
        Ok(r) => r,
        Err(object_store::Error::NotFound { .. }) => return Ok(vec![]),
        Err(e) => return Err(DataFusionError::ObjectStore(Box::new(e))),
    };
    Ok(res
        .common_prefixes
        .into_iter()
        .filter_map(|p| p.filename().map(str::to_string))
        .collect())
}

pub(crate) fn date_to_days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

/// The file columns as the scan reads them: every string column as `Utf8View`. The Parquet
/// reader then hands out views into its decoded pages (and into the dictionary, for the
/// dictionary-encoded low-cardinality columns) instead of copying every value into a fresh
/// buffer; a full `event_data` scan spent a quarter of its CPU on that copy and the page faults
/// of its buffers. Results leave the engine as `Utf8` again (`Engine::plan_with_params`), so no
/// face, client or file sees the view types.
static SCAN_FILE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let file = schema::file_schema();
    Arc::new(Schema::new_with_metadata(
        file.fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Utf8 => Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8View)),
                _ => f.clone(),
            })
            .collect::<Vec<_>>(),
        file.metadata().clone(),
    ))
});

/// The table as the engine plans it: the scan's file columns, then the partition columns
/// (whose values the scan fills in from the path, as `Utf8` and `Date32`).
static SCAN_TABLE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let table = schema::table_schema();
    let mut fields: Vec<FieldRef> = SCAN_FILE_SCHEMA.fields().iter().cloned().collect();
    fields.extend(table.fields()[schema::COLUMNS.len()..].iter().cloned());
    Arc::new(Schema::new_with_metadata(fields, table.metadata().clone()))
});

pub(crate) const PARTITION_COLS: [&str; 2] = [TENANT_ID, EVENT_DATE];

#[async_trait]
impl datafusion::catalog::TableProvider for EventsTable {
    fn schema(&self) -> SchemaRef {
        SCAN_TABLE_SCHEMA.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if expr_applicable_for_cols(&PARTITION_COLS, f) {
                    // Fully applied by partition pruning below.
                    TableProviderFilterPushDown::Exact
                } else {
                    // Kept above the scan and pushed into Parquet by the physical optimizer
                    // (row-group statistics, page index, late materialization).
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let table_schema = SCAN_TABLE_SCHEMA.clone();
        let partition_filters: Vec<Expr> = filters
            .iter()
            .filter(|f| expr_applicable_for_cols(&PARTITION_COLS, f))
            .cloned()
            .collect();

        let all = self.partitions().await?;
        let total = all.len();
        let kept = prune(&all, &partition_filters, state)?;

        // `event_data LIKE '%…%'` conjuncts: the grams every matching value holds, so the
        // files' n-gram indexes can skip granules (`lake::grams`).
        let grams = like_grams(filters);
        // List the files of the surviving partitions, a few listings at a time.
        let mut prelisted = self.list_tenants(&kept).await?;
        let listed: Vec<(PartitionedFile, Option<ObjectMeta>)> =
            futures::stream::iter(kept.iter().cloned())
                .map(|(tenant, date)| {
                    let pre = prelisted
                        .as_mut()
                        .map(|m| m.remove(&(tenant.clone(), date)).unwrap_or_default());
                    async move {
                        let (metas, mut indexes) = self.listed_files(&tenant, date, pre).await?;
                        Ok::<_, object_store::Error>(
                            metas
                                .into_iter()
                                .map(|m| {
                                    let ix =
                                        indexes.remove(&crate::lake::listing::name(&m.location));
                                    let f = PartitionedFile::from(m).with_partition_values(vec![
                                        ScalarValue::Utf8(Some(tenant.clone())),
                                        ScalarValue::Date32(Some(date_to_days(date))),
                                    ]);
                                    (f, ix)
                                })
                                .collect::<Vec<_>>(),
                        )
                    }
                })
                .buffer_unordered(16)
                .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))
                .try_collect::<Vec<_>>()
                .await?
                .into_iter()
                .flatten()
                .collect();
        // Files whose cached footers prove no row can pass the filters (`query::file_stats`).
        let runtime = state.runtime_env();
        let mut footer_pruned = 0;
        let listed = if *FILE_STATS_PRUNING {
            let candidates: Vec<PartitionedFile> = listed.iter().map(|(f, _)| f.clone()).collect();
            match crate::query::file_stats::keep(
                &candidates,
                filters,
                &table_schema,
                &PARTITION_COLS,
                runtime.cache_manager.get_file_metadata_cache().as_ref(),
                state,
            ) {
                Some(keep) => {
                    footer_pruned = keep.iter().filter(|k| !**k).count();
                    listed
                        .into_iter()
                        .zip(keep)
                        .filter_map(|(f, k)| k.then_some(f))
                        .collect()
                }
                None => listed,
            }
        } else {
            listed
        };
        let mut index_stats = IndexStats::default();
        let files: Vec<PartitionedFile> = if grams.is_empty() {
            listed.into_iter().map(|(f, _)| f).collect()
        } else {
            self.index_prune(listed, &grams, &mut index_stats).await
        };

        let stats = PruneStats {
            partitions_total: total,
            partitions_scanned: kept.len(),
            files: files.len(),
            bytes: files.iter().map(|f| f.object_meta.size).sum(),
            footer_pruned,
            index: index_stats,
        };
        tracing::debug!(?stats, "events scan planned");

        if files.is_empty() {
            let projected = project_schema(&table_schema, projection)?;
            return Ok(Arc::new(LakeScanExec::new(
                Arc::new(EmptyExec::new(projected)),
                stats,
                self.limits,
            )));
        }

        let groups = split_groups(files, state.config().target_partitions());
        let mut parquet = state.table_options().parquet.clone();
        // The predicate cache keeps a filter column's decoded batches for the output, and
        // decodes whole 8,192-row batches to do so. That pays for `event_data` (large, and a
        // `LIKE` over it usually projects it too); for the small dictionary columns a lookup
        // filters on (`ip`, `status`, `event_type`) decoding again is cheaper than decoding
        // the rows a page-index or Bloom selection skipped (measured: 1–3 ms of a 15 ms query).
        if !filters
            .iter()
            .any(|f| mentions(f, schema::EVENT_DATA_COLUMN))
        {
            parquet.global.max_predicate_cache_size = Some(0);
        }
        let ts = TableSchema::builder(SCAN_FILE_SCHEMA.clone())
            .with_table_partition_cols(table_schema.fields()[schema::COLUMNS.len()..].to_vec())
            .build();
        // What `ParquetFormat::create_physical_plan` builds, with our reader factory in place
        // of its cached one (see `query::reader`: page indexes cached for filtered scans).
        let page_index = filters.iter().any(|f| {
            f.column_refs()
                .iter()
                .any(|c| schema::COLUMNS.iter().any(|col| col.0 == c.name))
        });
        let factory = crate::query::reader::Factory::new(
            runtime.object_store(&self.store_url)?,
            runtime.cache_manager.get_file_metadata_cache(),
            page_index,
            Arc::clone(&self.blooms),
        );
        // The first read of a file fetches this many bytes from its end, hoping to get the
        // footer (and page index) in one request: worth 512 KiB (DataFusion's default) on S3,
        // where a second request costs a round trip; locally each byte is a copy from the
        // page cache, and ours take ~6.5 KB of footer plus the page index. Measured on a
        // month's first query (30 files): 64 KiB takes 1–2 ms less than 512 KiB.
        // Set before the source takes the options: `query::footer_counts` reads it there.
        if self.lake.is_local() {
            parquet.global.metadata_size_hint = Some(LOCAL_METADATA_HINT);
        }
        let mut source = ParquetSource::new(ts)
            .with_table_parquet_options(parquet.clone())
            .with_parquet_file_reader_factory(Arc::new(factory));
        if let Some(hint) = parquet.global.metadata_size_hint {
            source = source.with_metadata_size_hint(hint);
        }
        // The reader decodes in batches of the session's size (8,192 rows), and the predicate
        // cache decodes whole batches: a row selection of 1,024-row granules would save
        // nothing. Batches of one granule make each skipped granule a skipped page.
        let batch_size = (index_stats.granules_pruned > 0).then_some(grams::GRANULE_ROWS);
        let conf = FileScanConfigBuilder::new(self.store_url.clone(), Arc::new(source))
            .with_file_groups(groups)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .with_batch_size(batch_size)
            .build();
        let plan: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(conf);
        Ok(Arc::new(LakeScanExec::new(plan, stats, self.limits)))
    }
}

/// `AUDITLAKE_FILE_STATS=0` turns off pruning files by their cached footers' statistics (to
/// measure it, or to rule it out when a query's answer is in doubt).
static FILE_STATS_PRUNING: LazyLock<bool> =
    LazyLock::new(|| std::env::var("AUDITLAKE_FILE_STATS").as_deref() != Ok("0"));

/// Bytes read from a local file's end to find its footer (see `scan`).
const LOCAL_METADATA_HINT: usize = 64 << 10;

/// Evaluates partition-only predicates on every (tenant, date) at once.
pub(crate) fn prune(
    parts: &[(String, NaiveDate)],
    filters: &[Expr],
    state: &dyn Session,
) -> DfResult<Vec<(String, NaiveDate)>> {
    let Some(pred) = conjunction(filters.iter().cloned()) else {
        return Ok(parts.to_vec());
    };
    if parts.is_empty() {
        return Ok(vec![]);
    }
    let schema = schema::table_schema();
    let part_schema = Arc::new(arrow::datatypes::Schema::new(vec![
        schema.field_with_name(TENANT_ID)?.clone(),
        schema.field_with_name(EVENT_DATE)?.clone(),
    ]));
    let tenants: ArrayRef = Arc::new(StringArray::from_iter_values(
        parts.iter().map(|p| p.0.as_str()),
    ));
    let dates: ArrayRef = Arc::new(Date32Array::from_iter_values(
        parts.iter().map(|p| date_to_days(p.1)),
    ));
    let batch = RecordBatch::try_new(part_schema.clone(), vec![tenants, dates])?;
    let df_schema = DFSchema::try_from(part_schema)?;
    let phys = create_physical_expr(
        &pred,
        &df_schema,
        state.execution_props(),
        &datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext::default(),
    )?;
    let mask = phys.evaluate(&batch)?.into_array(parts.len())?;
    let mask = mask
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| DataFusionError::Internal("partition predicate is not boolean".into()))?;
    Ok(parts
        .iter()
        .enumerate()
        .filter(|(i, _)| mask.is_valid(*i) && mask.value(*i))
        .map(|(_, p)| p.clone())
        .collect())
}

/// Spreads files over `n` groups, largest first onto the lightest group.
pub(crate) fn split_groups(mut files: Vec<PartitionedFile>, n: usize) -> Vec<FileGroup> {
    let n = n.max(1).min(files.len().max(1));
    files.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
    let mut groups: Vec<(u64, Vec<PartitionedFile>)> = (0..n).map(|_| (0, Vec::new())).collect();
    for f in files {
        let g = groups.iter_mut().min_by_key(|g| g.0).expect("n >= 1");
        g.0 += f.object_meta.size;
        g.1.push(f);
    }
    groups
        .into_iter()
        .filter(|g| !g.1.is_empty())
        .map(|g| FileGroup::new(g.1))
        .collect()
}

/// What partition pruning did for one scan.
#[derive(Debug, Clone, Copy, Default)]
pub struct PruneStats {
    pub partitions_total: usize,
    pub partitions_scanned: usize,
    pub files: usize,
    pub bytes: u64,
    /// Files of the scanned partitions left out because their cached footers' statistics
    /// prove no row can pass the filters (`query::file_stats`); not in `files`.
    pub footer_pruned: usize,
    pub index: IndexStats,
}

/// What the n-gram indexes did for one `LIKE` scan (all zero for other scans).
#[derive(Debug, Clone, Copy, Default)]
pub struct IndexStats {
    /// Granules of the indexed files.
    pub granules: usize,
    /// Of those, skipped: no value in them can match.
    pub granules_pruned: usize,
    /// Files not read at all.
    pub files_pruned: usize,
    /// Files read whole: no index, or one that could not be used.
    pub unindexed_files: usize,
}

/// `event_data LIKE 'pattern'` conjuncts (case-sensitive, not negated, a literal pattern):
/// the 4-gram hashes a row must hold to pass them all. Empty: the indexes cannot help.
pub(crate) fn like_grams(filters: &[Expr]) -> Vec<u32> {
    use datafusion::logical_expr::utils::split_conjunction;
    let mut out = Vec::new();
    for f in filters {
        for e in split_conjunction(f) {
            let Expr::Like(l) = e else { continue };
            if l.negated || l.case_insensitive {
                continue;
            }
            let mut target = l.expr.as_ref();
            while let Expr::Cast(c) = target {
                target = c.expr.as_ref();
            }
            let Expr::Column(c) = target else { continue };
            if c.name != schema::EVENT_DATA_COLUMN {
                continue;
            }
            let mut pat = l.pattern.as_ref();
            while let Expr::Cast(c) = pat {
                pat = c.expr.as_ref();
            }
            let Expr::Literal(v, _) = pat else { continue };
            let (ScalarValue::Utf8(Some(p))
            | ScalarValue::Utf8View(Some(p))
            | ScalarValue::LargeUtf8(Some(p))) = v
            else {
                continue;
            };
            out.extend(grams::pattern_grams(p, l.escape_char));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Does `e` read the column `name`?
fn mentions(e: &Expr, name: &str) -> bool {
    e.column_refs().iter().any(|c| c.name == name)
}

/// Parsed indexes, by (path, size, last modified), bounded in memory: a session typing one
/// `LIKE` after another reads each index once.
#[derive(Debug, Default)]
pub(crate) struct IndexCache {
    inner: std::sync::Mutex<(usize, HashMap<IndexKey, Arc<grams::Index>>)>,
}

type IndexKey = (String, u64, chrono::DateTime<chrono::Utc>);

/// Memory the index cache may hold (a year of a busy tenant's indexes is larger: the cache
/// then starts over, and indexes are read again).
const INDEX_CACHE_BYTES: usize = 64 << 20;

impl IndexCache {
    fn get(&self, k: &IndexKey) -> Option<Arc<grams::Index>> {
        self.inner.lock().ok()?.1.get(k).cloned()
    }

    fn put(&self, k: IndexKey, v: Arc<grams::Index>) {
        let Ok(mut g) = self.inner.lock() else { return };
        let b = v.heap_bytes();
        if g.0 + b > INDEX_CACHE_BYTES {
            g.1.clear();
            g.0 = 0;
        }
        g.0 += b;
        g.1.insert(k, v);
    }
}

/// Prefix of the error raised when the bytes-scanned cutoff is hit (classified as a limit).
pub const BYTES_LIMIT_MSG: &str = "bytes scanned exceeded the cutoff";

/// Wraps the Parquet scan: shows partition pruning in `EXPLAIN ANALYZE`, and stops the query
/// when the bytes the scan has actually read pass the cutoff.
#[derive(Debug)]
pub struct LakeScanExec {
    input: Arc<dyn ExecutionPlan>,
    stats: PruneStats,
    limits: ScanLimits,
    metrics: ExecutionPlanMetricsSet,
    counters: [Count; 5],
}

impl LakeScanExec {
    pub(crate) fn new(
        input: Arc<dyn ExecutionPlan>,
        stats: PruneStats,
        limits: ScanLimits,
    ) -> Self {
        let metrics = ExecutionPlanMetricsSet::new();
        let c = |name: &'static str, v: usize| {
            let c = MetricBuilder::new(&metrics)
                .with_type(MetricType::Summary)
                .global_counter(name);
            c.add(v);
            c
        };
        let counters = [
            c("partitions_scanned", stats.partitions_scanned),
            c(
                "partitions_pruned",
                stats.partitions_total - stats.partitions_scanned,
            ),
            c("files_scanned", stats.files),
            c("index_granules_pruned", stats.index.granules_pruned),
            c("index_files_pruned", stats.index.files_pruned),
        ];
        Self {
            input,
            stats,
            limits,
            metrics,
            counters,
        }
    }

    pub fn stats(&self) -> PruneStats {
        self.stats
    }
}

impl DisplayAs for LakeScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "LakeScanExec: partitions={}/{} files={} bytes={}",
            self.stats.partitions_scanned,
            self.stats.partitions_total,
            self.stats.files,
            self.stats.bytes
        )?;
        if self.stats.footer_pruned > 0 {
            write!(
                f,
                " footer_stats: files_pruned={}",
                self.stats.footer_pruned
            )?;
        }
        let ix = &self.stats.index;
        if ix.granules > 0 || ix.unindexed_files > 0 {
            write!(
                f,
                " ngram_index: granules_pruned={}/{} files_pruned={} unindexed_files={}",
                ix.granules_pruned, ix.granules, ix.files_pruned, ix.unindexed_files
            )?;
        }
        Ok(())
    }
}

impl ExecutionPlan for LakeScanExec {
    fn name(&self) -> &'static str {
        "LakeScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(
                "LakeScanExec has one child".into(),
            ));
        }
        Ok(Arc::new(LakeScanExec::new(
            children.swap_remove(0),
            self.stats,
            self.limits,
        )))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let inner = self.input.execute(partition, context)?;
        let schema = inner.schema();
        let input = self.input.clone();
        let max = self.limits.max_bytes_scanned;
        let mut batches = 0u64;
        let stream = inner.map(move |batch| {
            let batch = batch?;
            // The Parquet scan counts the bytes it fetched from the store (a counter per file,
            // so the sum is taken from a copy of its metrics: ~4 % of a short query when done
            // for every batch). Every 8th batch bounds the overshoot to 8 batches' reads.
            batches += 1;
            if batches % 8 == 1
                && let Some(read) = bytes_scanned(&input)
                && read > max
            {
                return Err(crate::error::LimitExceeded(format!(
                    "{BYTES_LIMIT_MSG}: read {read} bytes, limit {max} (narrow the query with \
                         event_date/tenant_id predicates, --days, or raise --max-bytes-scanned)"
                ))
                .into_datafusion());
            }
            Ok(batch)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        let _ = &self.counters;
        Some(self.metrics.clone_inner())
    }

    fn gather_filters_for_pushdown(
        &self,
        _phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> DfResult<FilterDescription> {
        FilterDescription::from_children(parent_filters, &self.children())
    }

    fn handle_child_pushdown_result(
        &self,
        _phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &ConfigOptions,
    ) -> DfResult<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        Ok(FilterPushdownPropagation::if_all(child_pushdown_result))
    }
}

/// Bytes the Parquet scan under `plan` has read so far.
pub fn bytes_scanned(plan: &Arc<dyn ExecutionPlan>) -> Option<u64> {
    plan.metrics()
        .and_then(|m| m.sum_by_name("bytes_scanned"))
        .map(|v| v.as_usize() as u64)
}
