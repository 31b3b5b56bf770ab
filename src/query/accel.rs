//! The view-acceleration sidecar: a catalog view's rows of one partition as typed Parquet
//! columns, `accel/{tenant}/{date}/{view}/{key}.parquet` beside `data/` (Athena's table reads
//! `data/…` only, so it never lists them; the Glue files are untouched).
//!
//! Why: every view is `json_extract…(event_data, …)` per row; DuckDB parses the same JSON, so
//! parsing faster gains a factor, typed columns an order of magnitude. The view's SQL stays the
//! one text Athena runs: the sidecar is that very view, evaluated by this engine over the
//! partition's files and stored, so its answers are the view's answers by construction.
//!
//! Never stale: `key` hashes the view's text, this build's version and the partition's live
//! file set (name, size, e-tag, after compaction tombstones). A query lists each partition it
//! reads, computes the key, and reads the sidecar of exactly that key; a partition whose files
//! changed (a new ingest, a compaction) has no sidecar of its key and is rebuilt from exactly
//! the files that were listed, before the query reads it. When a sidecar cannot be written (a
//! read-only lake) the view is read from `event_data` as without acceleration; a partition
//! whose rows a view column cannot convert (`CAST` of a hostile value) is marked
//! `{key}{columns}.unbuildable` and that partition alone is read from `event_data` for those
//! columns, so it answers (or fails) exactly as the plain view would, and is not rebuilt until
//! its files change.
//!
//! Columns: a first query builds a sidecar of the columns it reads (`{key}.c{hex}.w{nonce}.parquet`,
//! see `Cols`; the nonce is the build's own, see `parse_name`); the fourth column set of a
//! partition builds the whole view (`{key}.w{nonce}.parquet`).
//!
//! Tenant scope: the partitions come from the session's `events` table, which lists only the
//! scope's tenant and dates; a sidecar is read and written only under those partitions.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arrow::array::{Array, Date32Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, SchemaRef};
use async_trait::async_trait;
use chrono::NaiveDate;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::listing::helpers::expr_applicable_for_cols;
use datafusion::datasource::physical_plan::FileScanConfigBuilder;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::datasource::{TableType, ViewTable, provider_as_source, source_as_provider};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::{ExecutionPlan, execute_stream_partitioned, project_schema};
use futures::{StreamExt, TryStreamExt};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use sha2::{Digest, Sha256};

use super::table::{
    EventsTable, PARTITION_COLS, PinnedPartition, PruneStats, date_to_days, prune, split_groups,
};
use crate::lake::Lake;
use crate::schema::{EVENT_DATE, TENANT_ID};

/// Top directory of the sidecars, under the lake root (beside `data/`).
pub const ACCEL_DIR: &str = "accel";

/// Changes when the sidecar's contents or this build's functions might: a new key, a rebuild.
/// `AUDITLAKE_UDF_DIGEST` (build.rs) hashes the source of the functions a view's columns are computed
/// with and of this builder, so new code never reads a sidecar the old code wrote.
const FORMAT: &str = concat!(
    "auditlake-accel-1/",
    env!("CARGO_PKG_VERSION"),
    "/",
    env!("AUDITLAKE_UDF_DIGEST")
);

/// Partitions built by one plan: each has an open writer (one row group in memory each).
const GROUP_PARTITIONS: usize = 8;

/// Input bytes (the partitions' Parquet) built by one plan, so a build's writers stay bounded.
const GROUP_BYTES: u64 = 256 << 20;

/// Rows per row group of a sidecar (bounds each open writer's memory).
const SIDECAR_ROW_GROUP_ROWS: usize = 32 * 1024;

/// Superseded sidecars are deleted once this old: longer than any query may run
/// (`DEFAULT_TIMEOUT_SECS`), so a query that listed before the change still finds its file.
const STALE_AFTER: Duration = Duration::from_secs(2 * 60 * 60);

/// Sidecars of one partition's view that hold some of its columns, past which the next column
/// set a query asks for builds the whole view instead (which then answers every query).
const MAX_PARTIAL: usize = 3;

/// Is view acceleration on? `AUDITLAKE_VIEW_ACCEL=0` turns it off (every view is read from
/// `event_data`, as Athena reads it): to measure it, or on a lake the session may not write.
pub fn enabled_by_env() -> bool {
    std::env::var("AUDITLAKE_VIEW_ACCEL").as_deref() != Ok("0")
}

/// `accel/{tenant}/{date}/{view}/`
pub fn sidecar_dir(lake: &Lake, tenant: &str, date: NaiveDate, view: &str) -> Path {
    lake.path(&format!(
        "{ACCEL_DIR}/{tenant}/{}/{view}",
        date.format("%Y-%m-%d")
    ))
}

/// A view whose scan reads its sidecars (building the missing ones first), and falls back to
/// the view over `event_data` when they cannot be had.
pub struct AccelView {
    name: String,
    /// The view body, planned over the session's `events`.
    plan: LogicalPlan,
    /// The view as DataFusion's own: the fallback, and the schema.
    plain: ViewTable,
    events: Arc<EventsTable>,
    /// Hash of the format, the view's name and its text: the per-view part of every key.
    digest: [u8; 32],
    /// A write failed in this process (a read-only lake): stop trying to build.
    unwritable: AtomicBool,
}

impl std::fmt::Debug for AccelView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccelView")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Which of a view's columns a sidecar holds: a bit per column of the view's schema.
///
/// Why not always all: a view has up to ~50 columns, each a JSON path, and a query reads a
/// few. Building the whole view on a partition's first read cost 4–8× reading the few columns
/// from `event_data`; a sidecar of just the columns asked costs about that one read, and the
/// next query of those columns reads typed values. A partition keeps at most `MAX_PARTIAL`
/// such sidecars per view, then the whole view is built.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Cols(Vec<bool>);

impl Cols {
    fn all(n: usize) -> Cols {
        Cols(vec![true; n])
    }

    /// The columns a scan's projection reads (all for none), with the partition columns, which
    /// every sidecar holds (a build splits its rows by them).
    fn needed(n: usize, projection: Option<&Vec<usize>>, (ti, di): (usize, usize)) -> Cols {
        let Some(p) = projection else {
            return Cols::all(n);
        };
        let mut c = vec![false; n];
        for &i in p.iter().chain([&ti, &di]) {
            if let Some(b) = c.get_mut(i) {
                *b = true;
            }
        }
        Cols(c)
    }

    fn is_all(&self) -> bool {
        self.0.iter().all(|&b| b)
    }

    /// Every column of `other` is here.
    fn covers(&self, other: &Cols) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).all(|(&a, &b)| a || !b)
    }

    fn indices(&self) -> Vec<usize> {
        (0..self.0.len()).filter(|&i| self.0[i]).collect()
    }

    /// The file name's part after the key: empty for the whole view, `.c{hex}` for some
    /// columns (4 columns a digit, column 0 in the first digit's lowest bit).
    fn suffix(&self) -> String {
        if self.is_all() {
            return String::new();
        }
        let digits: String = self
            .0
            .chunks(4)
            .map(|c| {
                let v = c
                    .iter()
                    .enumerate()
                    .fold(0u32, |v, (i, &b)| v | (u32::from(b) << i));
                char::from_digit(v, 16).unwrap_or('0')
            })
            .collect();
        format!(".c{digits}")
    }

    /// The inverse of `suffix` for a view of `n` columns; `None` for a name this build did
    /// not write (wrong length, a digit naming a column past the view's end).
    fn parse(suffix: &str, n: usize) -> Option<Cols> {
        if suffix.is_empty() {
            return Some(Cols::all(n));
        }
        let hex = suffix.strip_prefix(".c")?;
        if hex.len() != n.div_ceil(4) {
            return None;
        }
        let mut c = Vec::with_capacity(n);
        for d in hex.chars() {
            let v = d.to_digit(16)?;
            for i in 0..4 {
                let bit = v >> i & 1 == 1;
                if c.len() < n {
                    c.push(bit);
                } else if bit {
                    return None;
                }
            }
        }
        Some(Cols(c))
    }
}

/// A file of a sidecar directory, by its name: `{key}{suffix}.w{nonce}.parquet` (a sidecar)
/// or `{key}{suffix}.unbuildable` (a marker). `None` for any other name.
///
/// Why a nonce: two processes building the same sidecar at once write different bytes (row
/// order follows the threads), and a reader that listed one file's size must never open the
/// other's under that name; each build writes a name of its own, and readers pick one.
fn parse_name(name: &str, n: usize) -> Option<(&str, Cols, bool)> {
    let (stem, sidecar) = match name.strip_suffix(".parquet") {
        Some(s) => (
            s.rsplit_once('.')
                .filter(|(_, w)| is_nonce(w))
                .map_or(s, |(head, _)| head),
            true,
        ),
        None => (name.strip_suffix(".unbuildable")?, false),
    };
    let (key, suffix) = stem.split_at(stem.find('.').unwrap_or(stem.len()));
    Some((key, Cols::parse(suffix, n)?, sidecar))
}

/// `w` and 16 lower-case hex digits: a build's own part of a sidecar's name.
fn is_nonce(s: &str) -> bool {
    s.strip_prefix('w').is_some_and(|h| {
        h.len() == 16
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// A partition whose sidecar is missing: the files it is built from, the columns built, the
/// columns the query needs (built alone when the wider build cannot convert a value), and
/// the directory and key its files are named by.
struct Missing {
    part: PinnedPartition,
    cols: Cols,
    needed: Cols,
    dir: Path,
    key: String,
}

impl Missing {
    /// A new sidecar's path: this build's own name (see `parse_name`).
    fn path(&self) -> Path {
        let nonce = uuid::Uuid::new_v4().as_u64_pair().0;
        self.dir
            .clone()
            .join(format!("{}{}.w{nonce:016x}.parquet", self.key, self.cols.suffix()).as_str())
    }

    /// Written when these columns of this partition cannot be built (a value a view column
    /// cannot convert).
    fn marker(&self) -> Path {
        self.dir
            .clone()
            .join(format!("{}{}.unbuildable", self.key, self.cols.suffix()).as_str())
    }
}

/// What a build made: the sidecars written, the partitions read from `event_data` instead.
#[derive(Default)]
struct Built {
    written: Vec<ObjectMeta>,
    unbuildable: Vec<PinnedPartition>,
}

/// An error a partition's rows cause every time (a cast the view makes fails on a value), as
/// opposed to one of the moment (the store, memory, a limit of the session).
fn is_data_error(e: &DataFusionError) -> bool {
    let root = e.find_root();
    matches!(
        root,
        DataFusionError::ArrowError(..) | DataFusionError::Execution(_)
    ) && !root.to_string().contains(super::table::BYTES_LIMIT_MSG)
}

/// Why a sidecar could not be had.
enum Failure {
    /// Writing it failed: the lake is not writable by this session (or the store failed).
    Write(DataFusionError),
    /// Anything else (listing, planning, a row the view cannot convert).
    Other(DataFusionError),
}

impl From<DataFusionError> for Failure {
    fn from(e: DataFusionError) -> Self {
        Failure::Other(e)
    }
}

fn store_err(e: object_store::Error) -> DataFusionError {
    DataFusionError::ObjectStore(Box::new(e))
}

impl AccelView {
    pub fn new(
        name: &str,
        body: &str,
        plan: LogicalPlan,
        ddl: String,
        events: Arc<EventsTable>,
    ) -> AccelView {
        let mut h = Sha256::new();
        for part in [FORMAT, name, body] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        AccelView {
            name: name.to_string(),
            plain: ViewTable::new(plan.clone(), Some(ddl)),
            plan,
            events,
            digest: h.finalize().into(),
            unwritable: AtomicBool::new(false),
        }
    }

    /// The key of a partition's sidecar: this view's digest and the live file set.
    fn key(&self, files: &[ObjectMeta]) -> String {
        let mut rows: Vec<String> = files
            .iter()
            .map(|m| {
                format!(
                    "{}\t{}\t{}",
                    m.location.filename().unwrap_or_default(),
                    m.size,
                    m.e_tag.as_deref().unwrap_or_default()
                )
            })
            .collect();
        rows.sort();
        let mut h = Sha256::new();
        h.update(self.digest);
        for r in rows {
            h.update(r.as_bytes());
            h.update([b'\n']);
        }
        let d = h.finalize();
        d[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The positions of the partition columns in the view's output, when it has them as the
    /// lake's partition columns (every view of the catalog does).
    fn partition_columns(&self) -> Option<(usize, usize)> {
        let s = self.plain.schema();
        let t = s.index_of(TENANT_ID).ok()?;
        let d = s.index_of(EVENT_DATE).ok()?;
        (matches!(s.field(t).data_type(), DataType::Utf8 | DataType::Utf8View)
            && s.field(d).data_type() == &DataType::Date32)
            .then_some((t, d))
    }

    /// Plans the scan over the sidecars (building missing ones); `None` when this view
    /// cannot be accelerated.
    async fn accel_scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>, Failure> {
        let Some(cols) = self.partition_columns() else {
            return Ok(None);
        };
        let lake = self.events.lake().clone();
        let store = lake.store().clone();
        let all = self.events.partitions().await?;
        let partition_filters: Vec<Expr> = filters
            .iter()
            .filter(|f| expr_applicable_for_cols(&PARTITION_COLS, f))
            .cloned()
            .collect();
        let kept = prune(&all, &partition_filters, state)?;

        // Each partition: its live files, its key, what its sidecar directory holds.
        let listed: Vec<(PinnedPartition, Path, Vec<ObjectMeta>)> =
            futures::stream::iter(kept.iter().cloned())
                .map(|(tenant, date)| {
                    let store = store.clone();
                    let lake = &lake;
                    async move {
                        let files = self.events.live_files(&tenant, date).await?;
                        let dir = sidecar_dir(lake, &tenant, date, &self.name);
                        let present = match store.list(Some(&dir)).try_collect::<Vec<_>>().await {
                            Ok(v) => v,
                            Err(object_store::Error::NotFound { .. }) => vec![],
                            Err(e) => return Err(e),
                        };
                        Ok((
                            PinnedPartition {
                                tenant,
                                date,
                                files,
                            },
                            dir,
                            present,
                        ))
                    }
                })
                .buffer_unordered(16)
                .map_err(store_err)
                .try_collect()
                .await?;

        let n = self.plain.schema().fields().len();
        let needed = Cols::needed(n, projection, cols);
        let mut sidecars: Vec<ObjectMeta> = Vec::new();
        let mut missing: Vec<Missing> = Vec::new();
        let mut unbuildable: Vec<PinnedPartition> = Vec::new();
        let mut stale: Vec<Path> = Vec::new();
        let cutoff = chrono::Utc::now() - STALE_AFTER;
        for (part, dir, present) in listed {
            // A partition directory without live files has no rows for any view.
            if part.files.is_empty() {
                continue;
            }
            let key = self.key(&part.files);
            // This key's sidecars and markers, by their columns; anything else is superseded.
            let mut built: Vec<(&ObjectMeta, Cols)> = Vec::new();
            let mut marked: Vec<Cols> = Vec::new();
            for m in &present {
                match m
                    .location
                    .filename()
                    .and_then(|f| parse_name(f, n))
                    .filter(|(k, ..)| *k == key)
                {
                    Some((_, c, true)) => built.push((m, c)),
                    Some((_, c, false)) => marked.push(c),
                    None if m.last_modified < cutoff => stale.push(m.location.clone()),
                    None => {}
                }
            }
            // Two builds at once leave two files of the same columns: every reader takes the
            // first by name, and the others go once older than any query.
            built.sort_by(|a, b| a.0.location.cmp(&b.0.location));
            let mut seen: Vec<Cols> = Vec::new();
            built.retain(|(m, c)| {
                if seen.contains(c) {
                    if m.last_modified < cutoff {
                        stale.push(m.location.clone());
                    }
                    false
                } else {
                    seen.push(c.clone());
                    true
                }
            });
            if let Some(w) = built.iter().find(|(_, c)| c.is_all()).map(|(m, _)| *m) {
                // The whole view answers every query, and is the only file read once it
                // exists: its column sidecars are superseded, deleted once the whole view is
                // older than any query (one that listed before it may still read them).
                if w.last_modified < cutoff {
                    stale.extend(
                        built
                            .iter()
                            .filter(|(_, c)| !c.is_all())
                            .map(|(m, _)| m.location.clone()),
                    );
                }
                built.retain(|(_, c)| c.is_all());
            }
            // The smallest sidecar holding every column the query reads.
            if let Some((m, _)) = built
                .iter()
                .filter(|(_, c)| c.covers(&needed))
                .min_by_key(|(m, _)| m.size)
            {
                sidecars.push((*m).clone());
            } else if marked.iter().any(|c| needed.covers(c)) {
                // Some column read cannot be converted on some row: as the plain view does.
                unbuildable.push(part);
            } else {
                // Partial sidecars and markers of this key: past `MAX_PARTIAL` the whole view
                // is built; when the whole view cannot be (a hostile value), the partition is
                // read from `event_data`, so a stream of new column sets cannot pile up files.
                let partial = built.iter().filter(|(_, c)| !c.is_all()).count()
                    + marked.iter().filter(|c| !c.is_all()).count();
                if partial >= MAX_PARTIAL && marked.iter().any(Cols::is_all) {
                    unbuildable.push(part);
                    continue;
                }
                let cols = if partial >= MAX_PARTIAL {
                    Cols::all(n)
                } else {
                    needed.clone()
                };
                missing.push(Missing {
                    part,
                    cols,
                    needed: needed.clone(),
                    dir,
                    key,
                });
            }
        }
        if !missing.is_empty() {
            if self.unwritable.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let parts = missing.len();
            let started = std::time::Instant::now();
            let built = self.build(state, missing).await?;
            tracing::debug!(view = %self.name, partitions = parts, unbuildable = built.unbuildable.len(), elapsed_ms = started.elapsed().as_millis() as u64, "built view sidecars");
            sidecars.extend(built.written);
            unbuildable.extend(built.unbuildable);
        }
        for p in stale {
            // Best effort: a superseded sidecar only takes space.
            let _ = store.delete(&p).await;
        }

        let stats = PruneStats {
            partitions_total: all.len(),
            partitions_scanned: kept.len(),
            files: sidecars.len(),
            bytes: sidecars.iter().map(|m| m.size).sum(),
            ..Default::default()
        };
        let schema = self.plain.schema();
        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        if !sidecars.is_empty() {
            let files: Vec<PartitionedFile> =
                sidecars.into_iter().map(PartitionedFile::from).collect();
            let groups = split_groups(files, state.config().target_partitions());
            let format =
                ParquetFormat::default().with_options(state.table_options().parquet.clone());
            let source = format.file_source(TableSchema::builder(schema.clone()).build());
            let conf = FileScanConfigBuilder::new(self.events.object_store_url().clone(), source)
                .with_file_groups(groups)
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
            inputs.push(format.create_physical_plan(state, conf).await?);
        }
        if !unbuildable.is_empty() {
            // These partitions are read as the view reads them, from exactly the listed files.
            let plan = project(self.pinned_plan(unbuildable)?, projection.map(|p| &p[..]))?;
            inputs.push(state.create_physical_plan(&plan).await?);
        }
        let plan = match inputs.len() {
            0 => Arc::new(EmptyExec::new(project_schema(&schema, projection)?)),
            _ => datafusion::physical_plan::union::UnionExec::try_new(inputs)?,
        };
        Ok(Some(Arc::new(super::table::LakeScanExec::new(
            plan,
            stats,
            self.events.limits(),
        ))))
    }

    /// The view's plan with its `events` scans reading exactly these partitions' files.
    fn pinned_plan(&self, parts: Vec<PinnedPartition>) -> DfResult<LogicalPlan> {
        let pinned: Arc<dyn TableProvider> = Arc::new(self.events.pinned(parts));
        Ok(self
            .plan
            .clone()
            .transform_up(|p| match p {
                LogicalPlan::TableScan(mut scan)
                    if source_as_provider(&scan.source)?
                        .downcast_ref::<EventsTable>()
                        .is_some() =>
                {
                    scan.source = provider_as_source(Arc::clone(&pinned));
                    Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
                }
                other => Ok(Transformed::no(other)),
            })?
            .data)
    }

    /// Builds the missing sidecars, a few partitions of the same columns per plan, each from
    /// exactly the files its key names.
    async fn build(&self, state: &dyn Session, missing: Vec<Missing>) -> Result<Built, Failure> {
        let mut by_cols: Vec<(Cols, Vec<Missing>)> = Vec::new();
        for m in missing {
            match by_cols.iter_mut().find(|(c, _)| *c == m.cols) {
                Some((_, v)) => v.push(m),
                None => by_cols.push((m.cols.clone(), vec![m])),
            }
        }
        let mut groups: Vec<Vec<Missing>> = Vec::new();
        for (_, ms) in by_cols {
            let mut bytes = 0u64;
            let mut first = true;
            for m in ms {
                let size: u64 = m.part.files.iter().map(|f| f.size).sum();
                match groups.last_mut() {
                    Some(g)
                        if !first && g.len() < GROUP_PARTITIONS && bytes + size <= GROUP_BYTES =>
                    {
                        bytes += size;
                        g.push(m);
                    }
                    _ => {
                        bytes = size;
                        groups.push(vec![m]);
                    }
                }
                first = false;
            }
        }
        let mut out = Built::default();
        for g in groups {
            if g.len() == 1 {
                self.build_one(state, g, &mut out).await?;
                continue;
            }
            match self.build_group(state, &g).await {
                Ok(w) => out.written.extend(w),
                // Which partition? Each alone, so one bad row costs only its own partition.
                Err(Failure::Other(e)) if is_data_error(&e) => {
                    for m in g {
                        self.build_one(state, vec![m], &mut out).await?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Builds one partition's sidecar. A data error marks those columns unbuildable (for its
    /// key: new files are tried again); the whole view failing, the query's own columns are
    /// tried alone, and failing those too, its rows are read from `event_data`.
    async fn build_one(
        &self,
        state: &dyn Session,
        mut one: Vec<Missing>,
        out: &mut Built,
    ) -> Result<(), Failure> {
        loop {
            match self.build_group(state, &one).await {
                Ok(w) => {
                    out.written.extend(w);
                    return Ok(());
                }
                Err(Failure::Other(e)) if is_data_error(&e) => {
                    let Some(mut m) = one.pop() else {
                        return Ok(());
                    };
                    tracing::warn!(view = %self.name, partition = %format!("{}/{}", m.part.tenant, m.part.date), columns = m.cols.indices().len(), error = %e, "view columns cannot be built for this partition");
                    let store = self.events.lake().store();
                    store
                        .put(&m.marker(), object_store::PutPayload::from(e.to_string()))
                        .await
                        .map_err(|e| Failure::Write(store_err(e)))?;
                    if m.cols == m.needed {
                        tracing::warn!(view = %self.name, partition = %format!("{}/{}", m.part.tenant, m.part.date), "this partition is read from event_data");
                        out.unbuildable.push(m.part);
                        return Ok(());
                    }
                    m.cols = m.needed.clone();
                    one = vec![m];
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn build_group(
        &self,
        state: &dyn Session,
        group: &[Missing],
    ) -> Result<Vec<ObjectMeta>, Failure> {
        let Some(first) = group.first() else {
            return Ok(vec![]);
        };
        let lake = self.events.lake().clone();
        let store = lake.store().clone();
        let plan = self.pinned_plan(group.iter().map(|m| m.part.clone()).collect())?;
        let cols = first.cols.indices();
        let plan = project(plan, Some(&cols))?;
        let physical = state.create_physical_plan(&plan).await?;
        let schema = physical.schema();
        let at = |c: &str| {
            schema.index_of(c).map_err(|_| {
                Failure::Other(DataFusionError::Internal(format!(
                    "a sidecar build of view {} lacks {c}",
                    self.name
                )))
            })
        };
        let (ti, di) = (at(TENANT_ID)?, at(EVENT_DATE)?);
        let props = sidecar_properties();
        let mut writers: Writers = HashMap::new();
        for m in group {
            let path = m.path();
            let w = AsyncArrowWriter::try_new(
                BufWriter::new(store.clone(), path.clone()),
                schema.clone(),
                Some(props.clone()),
            )
            .map_err(|e| Failure::Other(e.into()))?;
            writers.insert(
                (m.part.tenant.clone(), date_to_days(m.part.date)),
                tokio::sync::Mutex::new((path, w)),
            );
        }
        // One task per output partition of the plan, each computing its rows and encoding them
        // into the partitions' writers: the Parquet encoding runs on every core, not only on
        // the one consuming a merged stream.
        let writers = Arc::new(writers);
        let mut tasks = tokio::task::JoinSet::new();
        for mut stream in execute_stream_partitioned(physical, state.task_ctx())? {
            let writers = Arc::clone(&writers);
            let name = self.name.clone();
            tasks.spawn(async move {
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    for ((tenant, day), rows) in split_by_partition(&batch, ti, di)? {
                        let Some(slot) = writers.get(&(tenant.clone(), day)) else {
                            return Err(Failure::Other(DataFusionError::Internal(format!(
                                "view {name} returned a row of partition {tenant}/{day} it was \
                                 not built for"
                            ))));
                        };
                        let mut w = slot.lock().await;
                        w.1.write(&rows)
                            .await
                            .map_err(|e| Failure::Write(e.into()))?;
                    }
                }
                Ok::<(), Failure>(())
            });
        }
        let mut copied: Result<(), Failure> = Ok(());
        while let Some(r) = tasks.join_next().await {
            let r = r
                .map_err(|e| Failure::Other(DataFusionError::ExecutionJoin(Box::new(e))))
                .and_then(|r| r);
            if let Err(e) = r {
                copied = Err(e);
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                break;
            }
        }
        let writers = Arc::try_unwrap(writers).map_err(|_| {
            Failure::Other(DataFusionError::Internal(
                "a sidecar writer outlived its build".into(),
            ))
        })?;
        if let Err(e) = copied {
            // Nothing of a failed build is left behind (an upload begun is aborted).
            for (_, slot) in writers {
                let _ = slot.into_inner().1.into_inner().abort().await;
            }
            return Err(e);
        }
        // Closing encodes each writer's last row group: on every core, not one after another.
        let mut closing = tokio::task::JoinSet::new();
        for (_, slot) in writers {
            let (path, w) = slot.into_inner();
            let (lake, store) = (lake.clone(), store.clone());
            closing.spawn(async move {
                w.close().await.map_err(|e| Failure::Write(e.into()))?;
                crate::lake::writer::sync_local_file(&lake, &path)
                    .map_err(|e| Failure::Write(DataFusionError::External(Box::new(e))))?;
                store
                    .head(&path)
                    .await
                    .map_err(|e| Failure::Other(store_err(e)))
            });
        }
        // Every close is awaited, a failed one or not: dropping the set would cancel the
        // others mid-upload.
        let mut out = Vec::with_capacity(closing.len());
        let mut first_err = None;
        while let Some(r) = closing.join_next().await {
            match r
                .map_err(|e| Failure::Other(DataFusionError::ExecutionJoin(Box::new(e))))
                .and_then(|r| r)
            {
                Ok(m) => out.push(m),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

/// `plan` with only these of its output columns (all for `None`); DataFusion then computes
/// only the view columns they are.
fn project(plan: LogicalPlan, columns: Option<&[usize]>) -> DfResult<LogicalPlan> {
    let Some(p) = columns else {
        return Ok(plan);
    };
    let cols: Vec<Expr> = p
        .iter()
        .map(|&i| {
            Expr::Column(datafusion::common::Column::from(
                plan.schema().qualified_field(i),
            ))
        })
        .collect();
    datafusion::logical_expr::LogicalPlanBuilder::from(plan)
        .project(cols)?
        .build()
}

/// The open writers of a build, by (tenant, days since the epoch).
type Writers = HashMap<(String, i32), tokio::sync::Mutex<(Path, AsyncArrowWriter<BufWriter>)>>;

/// Snappy, page statistics and index (the sidecar is scanned with filters), no dictionary
/// fallback tuning: the columns are short typed values.
fn sidecar_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(SIDECAR_ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(crate::lake::writer::page_rows())
        .build()
}

/// Splits a batch of view rows by (tenant_id, event_date); one slice when all rows share it
/// (a scan's batch comes from one file, so that is the common case).
fn split_by_partition(
    batch: &RecordBatch,
    ti: usize,
    di: usize,
) -> DfResult<Vec<((String, i32), RecordBatch)>> {
    if batch.num_rows() == 0 {
        return Ok(vec![]);
    }
    let tenants = arrow::compute::cast(batch.column(ti), &DataType::Utf8)?;
    let tenants = tenants
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| DataFusionError::Internal("tenant_id is not a string".into()))?;
    let days = batch
        .column(di)
        .as_any()
        .downcast_ref::<Date32Array>()
        .ok_or_else(|| DataFusionError::Internal("event_date is not a date".into()))?;
    if tenants.null_count() > 0 || days.null_count() > 0 {
        return Err(DataFusionError::Internal(
            "a view row without tenant_id or event_date".into(),
        ));
    }
    let first = (tenants.value(0), days.value(0));
    if (1..batch.num_rows()).all(|i| (tenants.value(i), days.value(i)) == first) {
        return Ok(vec![((first.0.to_string(), first.1), batch.clone())]);
    }
    let mut idx: HashMap<(&str, i32), Vec<u32>> = HashMap::new();
    for i in 0..batch.num_rows() {
        idx.entry((tenants.value(i), days.value(i)))
            .or_default()
            .push(i as u32);
    }
    idx.into_iter()
        .map(|((t, d), rows)| {
            let rows = arrow::compute::take_record_batch(batch, &UInt32Array::from(rows))?;
            Ok(((t.to_string(), d), rows))
        })
        .collect()
}

#[async_trait]
impl TableProvider for AccelView {
    fn schema(&self) -> SchemaRef {
        self.plain.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.plain.get_table_definition()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Partition predicates prune sidecars; every predicate is also applied above the scan
        // and handed to the Parquet reader (statistics, page index) by the physical optimizer.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        match self.accel_scan(state, projection, filters, limit).await {
            Ok(Some(plan)) => return Ok(plan),
            Ok(None) => {}
            Err(Failure::Write(e)) => {
                self.unwritable.store(true, Ordering::Relaxed);
                tracing::warn!(view = %self.name, error = %e, "cannot write view sidecars (read-only lake?); reading views from event_data");
            }
            Err(Failure::Other(e)) => {
                tracing::warn!(view = %self.name, error = %e, "view sidecar unavailable; reading the view from event_data");
            }
        }
        self.plain.scan(state, projection, filters, limit).await
    }
}

/// What `build_views` builds.
#[derive(Debug, Clone, Copy)]
pub enum Builds<'a> {
    /// Every view, every column.
    Whole,
    /// For each view these statements read, one sidecar of the union of the columns they
    /// read of it (so one build serves all of them).
    ReadBy(&'a [String]),
}

/// What `build_views` did.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildSummary {
    /// Views built (or found current).
    pub views: usize,
    pub partitions: usize,
    /// Statements of `Builds::ReadBy` that did not plan (a saved query the catalog no longer
    /// fits): skipped.
    pub skipped: usize,
    /// Views whose build failed (each is then built by its first query, as without this).
    pub failed: usize,
    pub elapsed: Duration,
}

/// Views built at once: each build runs on every core for most of its time, but its planning,
/// small partitions and closing do not.
const BUILDS_AT_ONCE: usize = 2;

/// Days one build statement names (its partition filter), at most.
const DAYS_PER_BUILD: usize = 256;

/// Builds view sidecars for exactly these dates of one tenant now (what `ingest` runs after
/// writing), so the first queries read typed columns. Each view is planned once through the
/// session's own path, which builds what is missing; the dates are a partition filter of that
/// plan, so dates far apart do not build the partitions between them.
pub async fn build_views(
    lake: &Lake,
    tenant: &str,
    dates: &[NaiveDate],
    what: Builds<'_>,
) -> crate::error::Result<BuildSummary> {
    let (Some(&since), Some(&until)) = (dates.iter().min(), dates.iter().max()) else {
        return Ok(BuildSummary::default());
    };
    let started = std::time::Instant::now();
    let mut opts = super::engine::EngineOptions::new(lake.clone());
    opts.tenant = Some(tenant.to_string());
    opts.since = Some(since);
    opts.until = Some(until);
    opts.view_accel = true;
    let engine = super::engine::Engine::new(opts).await?;
    let mut summary = BuildSummary {
        partitions: dates.len(),
        ..Default::default()
    };
    let reads: Vec<(String, Option<Vec<String>>)> = match what {
        Builds::Whole => engine.view_names().into_iter().map(|v| (v, None)).collect(),
        Builds::ReadBy(statements) => {
            let (reads, skipped) = view_reads(&engine, statements).await;
            summary.skipped = skipped;
            reads.into_iter().collect()
        }
    };
    let mut days: Vec<NaiveDate> = dates.to_vec();
    days.sort();
    days.dedup();
    // A run may write thousands of days (a backfill, or a hostile file's far-apart dates):
    // a statement names at most `DAYS_PER_BUILD` of them.
    let filters: Vec<String> = days
        .chunks(DAYS_PER_BUILD)
        .map(|c| {
            let list: Vec<String> = c.iter().map(|d| format!("DATE '{d}'")).collect();
            format!("WHERE event_date IN ({})", list.join(", "))
        })
        .collect();
    summary.views = reads.len();
    let plans: Vec<(String, String)> = reads
        .into_iter()
        .flat_map(|(view, cols)| {
            // Names come from the catalog's view schemas; quoting keeps them identifiers.
            let list = match cols {
                None => "*".to_string(),
                // A view only counted still needs its partition columns (every sidecar has).
                Some(c) if c.is_empty() => quote(EVENT_DATE),
                Some(c) => c.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", "),
            };
            let select = format!("SELECT {list} FROM {}", quote(&view));
            filters
                .iter()
                .map(move |f| (view.clone(), format!("{select} {f}")))
                .collect::<Vec<_>>()
        })
        .collect();
    // Planning the scan builds its sidecars (the build happens while the scan is planned);
    // nothing is read.
    let mut done = futures::stream::iter(plans)
        .map(|(view, sql)| {
            let engine = &engine;
            async move { (view, engine.plan(&sql).await) }
        })
        .buffer_unordered(BUILDS_AT_ONCE);
    let mut failed = std::collections::BTreeSet::new();
    while let Some((view, r)) = done.next().await {
        if let Err(e) = r {
            failed.insert(view.clone());
            tracing::warn!(view = %view, error = %e, "view sidecars not built; the first query of the view builds them");
        }
    }
    summary.failed = failed.len();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// `"name"`, with `"` doubled.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The columns of each view these statements read (`None`: all of them), from their
/// optimized plans, and how many statements did not plan.
async fn view_reads(
    engine: &super::engine::Engine,
    statements: &[String],
) -> (
    std::collections::BTreeMap<String, Option<Vec<String>>>,
    usize,
) {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut reads: std::collections::BTreeMap<String, Option<std::collections::BTreeSet<String>>> =
        Default::default();
    let mut skipped = 0;
    for sql in statements {
        let plan = match engine.plan_with_params(sql, None).await {
            Ok(df) => df.into_optimized_plan(),
            Err(e) => Err(DataFusionError::Plan(e.to_string())),
        };
        let plan = match plan {
            Ok(p) => p,
            Err(e) => {
                skipped += 1;
                tracing::debug!(error = %e, "a statement does not plan; its views are not prepared");
                continue;
            }
        };
        let _ = plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node
                && let Ok(provider) = source_as_provider(&scan.source)
                && let Some(view) = provider.downcast_ref::<AccelView>()
            {
                let schema = view.plain.schema();
                let entry = reads
                    .entry(view.name.clone())
                    .or_insert_with(|| Some(Default::default()));
                match (&scan.projection, entry.as_mut()) {
                    (Some(p), Some(cols)) => {
                        cols.extend(
                            p.iter()
                                .filter_map(|&i| schema.fields().get(i).map(|f| f.name().clone())),
                        );
                    }
                    (None, _) => *entry = None,
                    (Some(_), None) => {}
                }
            }
            Ok(TreeNodeRecursion::Continue)
        });
    }
    let reads = reads
        .into_iter()
        .map(|(v, c)| (v, c.map(|c| c.into_iter().collect())))
        .collect();
    (reads, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every column set names its file and reads back from the name, for view widths around
    /// the 4-columns-a-digit boundaries.
    #[test]
    fn column_sets_round_trip_through_file_names() {
        for n in [1usize, 3, 4, 5, 8, 9, 50, 53] {
            let all = Cols::all(n);
            assert_eq!(all.suffix(), "");
            assert_eq!(Cols::parse("", n), Some(all.clone()));
            for seed in 0..64u64 {
                let c = Cols(
                    (0..n)
                        .map(|i| (seed.wrapping_mul(2654435761) >> (i % 61)) & 1 == 1 || i == n - 1)
                        .collect(),
                );
                if c.is_all() {
                    continue;
                }
                let s = c.suffix();
                assert_eq!(s.len(), 2 + n.div_ceil(4), "{s}");
                assert_eq!(Cols::parse(&s, n), Some(c.clone()), "{s} n={n}");
                assert!(all.covers(&c) && !c.covers(&all));
            }
        }
    }

    /// Names this build did not write are not sidecars: wrong width, a bit past the view's
    /// last column, a non-hex digit, another extension.
    #[test]
    fn foreign_names_are_not_sidecars() {
        assert_eq!(Cols::parse(".c1", 5), None, "too short");
        assert_eq!(Cols::parse(".c111", 5), None, "too long");
        assert_eq!(Cols::parse(".c12", 5), None, "bit 5 of a 5-column view");
        assert_eq!(Cols::parse(".cg1", 5), None);
        assert_eq!(Cols::parse(".x11", 5), None);
        assert_eq!(
            parse_name("abc.c11.parquet", 5).map(|(k, c, s)| (k, c.indices(), s)),
            Some(("abc", vec![0, 4], true))
        );
        assert_eq!(
            parse_name("abc.unbuildable", 5).map(|(k, c, s)| (k, c.is_all(), s)),
            Some(("abc", true, false))
        );
        assert!(parse_name("abc.parquet.tmp", 5).is_none());
        assert_eq!(
            parse_name("abc.c11.w0123456789abcdef.parquet", 5).map(|(k, c, s)| (k, c.indices(), s)),
            Some(("abc", vec![0, 4], true))
        );
        assert_eq!(
            parse_name("abc.w0123456789abcdef.parquet", 5).map(|(k, c, _)| (k, c.is_all())),
            Some(("abc", true))
        );
        // Not a nonce: too short, upper case; then it is read as a column suffix and refused.
        assert!(parse_name("abc.w0123.parquet", 5).is_none());
        assert!(parse_name("abc.w0123456789ABCDEF.parquet", 5).is_none());
        assert!(parse_name("abc.c1.c1.parquet", 5).is_none());
    }

    /// Two builds of the same sidecar never write the same name (a reader holding one file's
    /// size must not open the other's bytes), and both names parse back to the same key and
    /// columns, so readers treat them as one sidecar.
    #[test]
    fn each_build_names_its_own_file() {
        let m = Missing {
            part: PinnedPartition {
                tenant: "acme".into(),
                date: NaiveDate::from_ymd_opt(2024, 5, 1).expect("a date"),
                files: vec![],
            },
            cols: Cols(vec![true, false, true, true, false]),
            needed: Cols(vec![true, false, true, true, false]),
            dir: Path::from("accel/acme/2024-05-01/v"),
            key: "0123abcd".into(),
        };
        let (a, b) = (m.path(), m.path());
        assert_ne!(a, b);
        for p in [&a, &b] {
            let (key, cols, sidecar) =
                parse_name(p.filename().expect("a name"), 5).expect("our own name parses");
            assert_eq!((key, &cols, sidecar), ("0123abcd", &m.cols, true), "{p}");
        }
    }

    /// A query's columns always include the partition columns (a build splits by them), and a
    /// scan without a projection needs every column.
    #[test]
    fn needed_columns_include_the_partition_columns() {
        assert!(Cols::needed(6, None, (0, 1)).is_all());
        assert_eq!(
            Cols::needed(6, Some(&vec![4]), (0, 2)).indices(),
            vec![0, 2, 4]
        );
        assert_eq!(Cols::needed(6, Some(&vec![]), (5, 1)).indices(), vec![1, 5]);
        // A projection index past the schema (never from DataFusion) is ignored, not a panic.
        assert_eq!(
            Cols::needed(3, Some(&vec![7]), (0, 1)).indices(),
            vec![0, 1]
        );
    }
}
