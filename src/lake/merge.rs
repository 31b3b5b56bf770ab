//! Compaction's data path under a memory budget: an exact uid dedup pass that reads only the
//! `uid` column, then a streaming k-way merge of the (already sorted by event_type,
//! event_time) files into new files written by multipart upload.
//!
//! Memory bound, from the inputs' Parquet footers (see [`MergePlan`]):
//! - dedup: the set of uids seen, ≈ `uid bytes + 64 B` per row. When that exceeds half the
//!   budget the uids are split into `P` hash buckets (a per-run random hash, so input cannot
//!   aim at one bucket) and the uid column is read `P` times, one bucket per pass. Exact: uids
//!   are compared as strings; only a bucket choice uses the hash.
//! - merge: per open input, its largest row group's compressed bytes (the reader fetches a row
//!   group's column chunks at once) plus two decoded batches; plus the output's row group
//!   being encoded and the upload buffer. When the inputs do not fit the budget at once, the
//!   merge runs in levels: groups of `fan_in` files into sorted runs under
//!   `_compact/{tenant}/{date}/runs/`, then the runs.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use arrow::array::{Array, BooleanArray, RecordBatch, StringArray};
use arrow::row::{RowConverter, Rows, SortField};
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use parquet::arrow::AsyncArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::{
    AsyncFileReader, ParquetRecordBatchStream, ParquetRecordBatchStreamBuilder,
};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::WriterProperties;

use super::grams;
use super::writer::{self, ROW_GROUP_ROWS};
use crate::error::{Error, Result};
use crate::schema;

/// Default memory budget of one compaction.
pub const DEFAULT_MEMORY_BUDGET: usize = 256 * 1024 * 1024;

/// Rows per decoded batch while merging.
const BATCH_ROWS: usize = 4096;

/// Upload buffer of each output (the S3 part size).
const UPLOAD_BUFFER: usize = 8 * 1024 * 1024;

/// Estimated bytes per uid held in the dedup set beyond the uid itself (box, table slot,
/// growth slack).
const SET_OVERHEAD: u64 = 64;

/// Ranged reads of one lake file for the Parquet decoder (only the column chunks asked for).
pub struct LakeReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

fn ext(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for LakeReader {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> futures::future::BoxFuture<'_, parquet::errors::Result<bytes::Bytes>> {
        Box::pin(async move { self.store.get_range(&self.path, range).await.map_err(ext) })
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> futures::future::BoxFuture<'_, parquet::errors::Result<Vec<bytes::Bytes>>> {
        Box::pin(async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(ext)
        })
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> futures::future::BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        Box::pin(async move {
            let size = self.size;
            let m = ParquetMetaDataReader::new()
                .with_metadata_options(options.map(|o| o.metadata_options().clone()))
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(m))
        })
    }
}

/// One input file with its footer.
pub struct Input {
    pub meta: ObjectMeta,
    arrow: ArrowReaderMetadata,
}

impl Input {
    pub fn rows(&self) -> u64 {
        self.arrow.metadata().file_metadata().num_rows().max(0) as u64
    }

    /// The largest row group's compressed bytes and its decoded bytes per row.
    fn row_group_cost(&self) -> (u64, u64) {
        let mut compressed = 0u64;
        let mut per_row = 0u64;
        for rg in self.arrow.metadata().row_groups() {
            compressed = compressed.max(rg.compressed_size().max(0) as u64);
            if rg.num_rows() > 0 {
                per_row = per_row.max(rg.total_byte_size().max(0) as u64 / rg.num_rows() as u64);
            }
        }
        (compressed, per_row)
    }

    fn uid_bytes(&self, uid: usize) -> u64 {
        self.arrow
            .metadata()
            .row_groups()
            .iter()
            .filter(|rg| uid < rg.num_columns())
            .map(|rg| rg.column(uid).uncompressed_size().max(0) as u64)
            .sum()
    }

    fn reader(&self, store: &Arc<dyn ObjectStore>) -> LakeReader {
        LakeReader {
            store: store.clone(),
            path: self.meta.location.clone(),
            size: self.meta.size,
        }
    }

    fn stream(
        &self,
        store: &Arc<dyn ObjectStore>,
        projection: Option<ProjectionMask>,
    ) -> Result<ParquetRecordBatchStream<LakeReader>> {
        let mut b = ParquetRecordBatchStreamBuilder::new_with_metadata(
            self.reader(store),
            self.arrow.clone(),
        )
        .with_batch_size(BATCH_ROWS);
        if let Some(p) = projection {
            b = b.with_projection(p);
        }
        b.build().map_err(|e| perr(&self.meta.location, e))
    }
}

fn perr(p: &Path, source: parquet::errors::ParquetError) -> Error {
    Error::Parquet {
        partition: p.to_string(),
        source,
    }
}

/// Builds a file's n-gram index from its `event_data` column, streamed a batch at a time (for
/// a file written without one: a lake older than the indexes, or a failed index write).
pub async fn build_index(store: &Arc<dyn ObjectStore>, input: &Input) -> Result<Vec<u8>> {
    let idx = input
        .arrow
        .schema()
        .index_of(schema::EVENT_DATA_COLUMN)
        .map_err(|_| Error::Other(format!("{} has no event_data column", input.meta.location)))?;
    let mask = ProjectionMask::roots(input.arrow.parquet_schema(), [idx]);
    let mut s = input.stream(store, Some(mask))?;
    let mut b = grams::Builder::default();
    while let Some(batch) = s.next().await {
        let batch = batch.map_err(|e| perr(&input.meta.location, e))?;
        b.push_batch(&batch)?;
    }
    if b.rows() != input.rows() {
        return Err(Error::Other(format!(
            "{}: read {} rows of event_data, the footer says {}",
            input.meta.location,
            b.rows(),
            input.rows()
        )));
    }
    Ok(b.finish(input.meta.size))
}

/// Reads the footers of the inputs (one small ranged read each).
pub async fn open(store: &Arc<dyn ObjectStore>, metas: Vec<ObjectMeta>) -> Result<Vec<Input>> {
    let mut out = Vec::with_capacity(metas.len());
    for meta in metas {
        let mut r = LakeReader {
            store: store.clone(),
            path: meta.location.clone(),
            size: meta.size,
        };
        let arrow = ArrowReaderMetadata::load_async(&mut r, ArrowReaderOptions::new())
            .await
            .map_err(|e| perr(&meta.location, e))?;
        out.push(Input { meta, arrow });
    }
    Ok(out)
}

/// What the budget allows, computed from the footers before anything is read.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct MergePlan {
    /// Passes over the uid column (hash buckets of the dedup set).
    pub dedup_passes: usize,
    /// Files merged at once.
    pub fan_in: usize,
    /// Estimated peak bytes of the merge at `fan_in`.
    pub merge_bytes: u64,
}

fn per_input_cost(i: &Input) -> u64 {
    let (compressed, per_row) = i.row_group_cost();
    compressed + 2 * (BATCH_ROWS as u64).min(i.rows()) * per_row
}

fn output_cost(inputs: &[Input]) -> u64 {
    let per_row = inputs
        .iter()
        .map(|i| i.row_group_cost().1)
        .max()
        .unwrap_or(0);
    let rows: u64 = inputs.iter().map(Input::rows).sum();
    let bytes: u64 = inputs.iter().map(|i| i.meta.size).sum();
    // The encoder holds the row group being written (encoded, at most its decoded size) and
    // one assembled batch; the upload buffer holds one part.
    (ROW_GROUP_ROWS as u64).min(rows) * per_row
        + (BATCH_ROWS as u64).min(rows) * per_row
        + (UPLOAD_BUFFER as u64).min(bytes)
}

/// Plans the passes and the fan-in for `budget` bytes, or refuses when even two inputs at
/// once do not fit.
pub fn plan(inputs: &[Input], budget: usize) -> Result<MergePlan> {
    let budget = budget as u64;
    let uid = uid_index()?;
    let set: u64 = inputs
        .iter()
        .map(|i| i.uid_bytes(uid) + i.rows() * SET_OVERHEAD)
        .sum();
    let dedup_passes = set.div_ceil((budget / 2).max(1)).max(1) as usize;
    let mut costs: Vec<u64> = inputs.iter().map(per_input_cost).collect();
    costs.sort_unstable_by(|a, b| b.cmp(a));
    let out = output_cost(inputs);
    let room = budget.saturating_sub(out);
    // Worst case: the costliest inputs open together.
    let mut fan_in = 0;
    let mut used = 0;
    for c in &costs {
        if used + c > room {
            break;
        }
        used += c;
        fan_in += 1;
    }
    if fan_in < 2.min(inputs.len()) {
        let need = out + costs.iter().take(2).sum::<u64>();
        // The budget is the caller's setting: refusing names the value that would work.
        return Err(Error::Config(format!(
            "compaction needs about {} MiB to merge these files (their row groups are large) \
             but the memory budget is {} MiB; raise --memory-budget-mib",
            need.div_ceil(1 << 20),
            budget >> 20
        )));
    }
    Ok(MergePlan {
        dedup_passes,
        fan_in: fan_in.max(1),
        merge_bytes: out + used,
    })
}

fn uid_index() -> Result<usize> {
    schema::column_index("uid").ok_or_else(|| Error::Other("the schema has no uid column".into()))
}

/// Pass 1: for each input (oldest first), the sorted row numbers to drop because an older row
/// (an older file, or earlier in the same file) has the same uid. NULL or empty uids cannot be
/// compared and are kept.
pub async fn duplicates(
    store: &Arc<dyn ObjectStore>,
    inputs: &[Input],
    passes: usize,
) -> Result<Vec<Vec<u32>>> {
    let hasher = RandomState::new();
    let mut drops: Vec<Vec<u32>> = vec![Vec::new(); inputs.len()];
    for pass in 0..passes {
        let mut seen: HashSet<Box<str>> = HashSet::new();
        for (n, input) in inputs.iter().enumerate() {
            let idx =
                input.arrow.schema().index_of("uid").map_err(|_| {
                    Error::Other(format!("{} has no uid column", input.meta.location))
                })?;
            let mask = ProjectionMask::roots(input.arrow.parquet_schema(), [idx]);
            let mut s = input.stream(store, Some(mask))?;
            let mut row = 0u32;
            while let Some(b) = s.next().await {
                let b = b.map_err(|e| perr(&input.meta.location, e))?;
                let uids = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| Error::Other("uid column is not a string column".into()))?;
                for i in 0..uids.len() {
                    let r = row + i as u32;
                    if !uids.is_valid(i) || uids.value(i).is_empty() {
                        continue;
                    }
                    let u = uids.value(i);
                    if passes > 1 && hasher.hash_one(u) % passes as u64 != pass as u64 {
                        continue;
                    }
                    if !seen.insert(u.into()) {
                        drops[n].push(r);
                    }
                }
                row += uids.len() as u32;
            }
        }
    }
    for d in &mut drops {
        d.sort_unstable();
    }
    Ok(drops)
}

/// A sorted input of a merge: its batches in order, and its name for errors.
pub struct SortedStream {
    pub batches: BoxStream<'static, Result<RecordBatch>>,
    pub label: Path,
}

/// One input being merged: its stream, current batch, that batch's sort keys and position.
struct Cursor {
    stream: BoxStream<'static, Result<RecordBatch>>,
    label: Path,
    drops: Vec<u32>,
    /// Row number (in the file) of the current batch's first row, before dropping.
    base: u32,
    batch: Option<RecordBatch>,
    keys: Option<Rows>,
    pos: usize,
}

impl Cursor {
    /// Loads the next non-empty batch (duplicates dropped); false at the end.
    async fn load(&mut self, conv: &RowConverter) -> Result<bool> {
        loop {
            let Some(b) = self.stream.next().await else {
                self.keys = None;
                return Ok(false);
            };
            let b = b?;
            let n = b.num_rows() as u32;
            let start = self.base;
            self.base += n;
            let b = if self.drops.is_empty() {
                b
            } else {
                let lo = self.drops.partition_point(|&d| d < start);
                let hi = self.drops.partition_point(|&d| d < start + n);
                if lo == hi {
                    b
                } else {
                    let dropped: HashSet<u32> = self.drops[lo..hi].iter().copied().collect();
                    let keep: BooleanArray = (start..start + n)
                        .map(|r| Some(!dropped.contains(&r)))
                        .collect();
                    arrow::compute::filter_record_batch(&b, &keep)?
                }
            };
            if b.num_rows() == 0 {
                continue;
            }
            let cols: Vec<_> = ["event_type", "event_time"]
                .iter()
                .map(|c| {
                    b.schema()
                        .index_of(c)
                        .map(|i| b.column(i).clone())
                        .map_err(|_| Error::Other(format!("{} has no {c} column", self.label)))
                })
                .collect::<Result<_>>()?;
            self.keys = Some(conv.convert_columns(&cols)?);
            self.batch = Some(b);
            self.pos = 0;
            return Ok(true);
        }
    }

    fn key(&self) -> Option<arrow::row::Row<'_>> {
        self.keys.as_ref().map(|k| k.row(self.pos))
    }
}

/// Where merged rows go: files of at most `rows_per_file` rows at the given paths of `store`
/// (which may differ from the inputs' store: ingest merges local spills into the lake), in
/// order, written with `props`.
pub struct Sink<'a> {
    pub store: &'a Arc<dyn ObjectStore>,
    pub paths: &'a [Path],
    pub rows_per_file: usize,
    pub props: WriterProperties,
    /// Write each file's n-gram index beside it (lake files; not a merge's intermediate runs).
    pub index: bool,
}

/// Rows and bytes written per output file.
pub type Written = Vec<(usize, u64)>;

/// Merges `inputs` (each sorted by event_type, event_time, read from `store`) into the sink,
/// dropping `drops[i]` rows of input `i`. Ties keep input order, so the merge is stable.
pub async fn merge(
    store: &Arc<dyn ObjectStore>,
    inputs: &[Input],
    drops: Vec<Vec<u32>>,
    sink: Sink<'_>,
    label: &str,
) -> Result<Written> {
    let mut streams = Vec::with_capacity(inputs.len());
    for i in inputs {
        let loc = i.meta.location.clone();
        streams.push(SortedStream {
            batches: i
                .stream(store, None)?
                .map(move |r| r.map_err(|e| perr(&loc, e)))
                .boxed(),
            label: i.meta.location.clone(),
        });
    }
    merge_streams(streams, drops, sink, label).await
}

/// [`merge`] over any sorted streams (ingest's spilled runs are Arrow IPC files).
pub async fn merge_streams(
    inputs: Vec<SortedStream>,
    drops: Vec<Vec<u32>>,
    sink: Sink<'_>,
    label: &str,
) -> Result<Written> {
    let fields = ["event_type", "event_time"]
        .iter()
        .map(|c| {
            let s = schema::file_schema();
            s.field_with_name(c)
                .map(|f| SortField::new(f.data_type().clone()))
                .map_err(|_| Error::Other(format!("the schema has no {c} column")))
        })
        .collect::<Result<Vec<_>>>()?;
    let conv = RowConverter::new(fields)?;
    let mut cursors = Vec::with_capacity(inputs.len());
    for (i, d) in inputs.into_iter().zip(drops) {
        let mut c = Cursor {
            stream: i.batches,
            label: i.label,
            drops: d,
            base: 0,
            batch: None,
            keys: None,
            pos: 0,
        };
        c.load(&conv).await?;
        cursors.push(c);
    }
    // A binary min-heap of cursor indices by (key, index).
    let less = |cs: &[Cursor], a: usize, b: usize| match (cs[a].key(), cs[b].key()) {
        (Some(x), Some(y)) => (x, a) < (y, b),
        (Some(_), None) => true,
        _ => false,
    };
    let mut heap: Vec<usize> = (0..cursors.len())
        .filter(|&i| cursors[i].keys.is_some())
        .collect();
    for i in (0..heap.len() / 2).rev() {
        sift_down(&mut heap, i, |a, b| less(&cursors, a, b));
    }
    let mut out = Output::new(sink, label);
    let mut pending: Vec<(usize, usize)> = Vec::with_capacity(BATCH_ROWS);
    while let Some(&top) = heap.first() {
        pending.push((top, cursors[top].pos));
        cursors[top].pos += 1;
        let exhausted = cursors[top].pos >= cursors[top].batch.as_ref().map_or(0, |b| b.num_rows());
        if exhausted || pending.len() >= BATCH_ROWS || out.room() <= pending.len() {
            // Rows refer to the cursors' current batches: emit before any is replaced.
            out.write(&mut cursors, &mut pending).await?;
        }
        if exhausted && !cursors[top].load(&conv).await? {
            let last = heap.len() - 1;
            heap.swap(0, last);
            heap.pop();
        }
        sift_down(&mut heap, 0, |a, b| less(&cursors, a, b));
    }
    out.write(&mut cursors, &mut pending).await?;
    out.finish().await
}

fn sift_down(heap: &mut [usize], mut i: usize, less: impl Fn(usize, usize) -> bool) {
    loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut m = i;
        if l < heap.len() && less(heap[l], heap[m]) {
            m = l;
        }
        if r < heap.len() && less(heap[r], heap[m]) {
            m = r;
        }
        if m == i {
            return;
        }
        heap.swap(i, m);
        i = m;
    }
}

/// The file being written: its writer, rows so far, path and index.
struct Current {
    writer: AsyncArrowWriter<BufWriter>,
    rows: usize,
    path: Path,
    index: Option<grams::Builder>,
}

impl Current {
    async fn put(&mut self, batch: &RecordBatch, label: &str) -> Result<()> {
        self.writer.write(batch).await.map_err(|e| Error::Parquet {
            partition: label.to_string(),
            source: e,
        })
    }
}

/// The output side: one streaming Parquet writer at a time, rolled at `rows_per_file`.
struct Output<'a> {
    sink: Sink<'a>,
    label: &'a str,
    current: Option<Current>,
    next: usize,
    written: Written,
}

impl<'a> Output<'a> {
    fn new(sink: Sink<'a>, label: &'a str) -> Self {
        Output {
            sink,
            label,
            current: None,
            next: 0,
            written: Vec::new(),
        }
    }

    fn perr(&self, source: parquet::errors::ParquetError) -> Error {
        Error::Parquet {
            partition: self.label.to_string(),
            source,
        }
    }

    /// Rows the current file still takes.
    fn room(&self) -> usize {
        match &self.current {
            Some(c) => self.sink.rows_per_file.saturating_sub(c.rows),
            None => self.sink.rows_per_file,
        }
    }

    async fn write(
        &mut self,
        cursors: &mut [Cursor],
        pending: &mut Vec<(usize, usize)>,
    ) -> Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        // Map cursor indices to the batches the rows refer to.
        let mut slot = vec![usize::MAX; cursors.len()];
        let mut refs = Vec::new();
        for &(c, _) in pending.iter() {
            if slot[c] == usize::MAX {
                slot[c] = refs.len();
                if let Some(b) = cursors[c].batch.as_ref() {
                    refs.push(b);
                }
            }
        }
        let idx: Vec<(usize, usize)> = pending.iter().map(|&(c, r)| (slot[c], r)).collect();
        let batch = arrow::compute::interleave_record_batch(&refs, &idx)?;
        pending.clear();
        let batch = RecordBatch::try_new(schema::file_schema(), batch.columns().to_vec())?;
        if self.current.is_none() {
            let Some(path) = self.sink.paths.get(self.next) else {
                return Err(Error::Other(format!(
                    "{}: more rows than planned; the partition changed during compaction",
                    self.label
                )));
            };
            self.next += 1;
            let w = BufWriter::with_capacity(self.sink.store.clone(), path.clone(), UPLOAD_BUFFER);
            let props = self.sink.props.clone();
            let writer = AsyncArrowWriter::try_new(w, schema::file_schema(), Some(props))
                .map_err(|e| self.perr(e))?;
            self.current = Some(Current {
                writer,
                rows: 0,
                path: path.clone(),
                index: self.sink.index.then(grams::Builder::default),
            });
        }
        let Some(c) = self.current.as_mut() else {
            return Ok(());
        };
        if let Some(ix) = c.index.as_mut() {
            ix.push_batch(&batch)?;
        }
        c.rows += batch.num_rows();
        c.put(&batch, self.label).await?;
        if c.rows >= self.sink.rows_per_file {
            self.close().await?;
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<()> {
        if let Some(mut c) = self.current.take() {
            c.writer.finish().await.map_err(|e| self.perr(e))?;
            let bytes = c.writer.bytes_written() as u64;
            if let Some(ix) = c.index.take() {
                writer::put_index(self.sink.store.as_ref(), &c.path, ix.finish(bytes)).await;
            }
            self.written.push((c.rows, bytes));
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<Written> {
        self.close().await?;
        Ok(self.written)
    }
}

/// Where the intermediate runs of a merge in levels go: files under `dir` of the inputs'
/// store, written with `props`, each deleted once the next level has consumed it.
pub struct Levels {
    pub dir: Path,
    pub props: WriterProperties,
    /// Memory budget each level is planned for.
    pub budget: usize,
    /// At most this many files merged at once (tests force levels with it).
    pub max_fan_in: Option<usize>,
    /// A level the budget cannot plan is an error (compaction, whose budget is the user's
    /// setting); otherwise it merges two at a time (ingest, whose runs are bounded already).
    pub strict: bool,
}

/// Merges `inputs` into `sink`, in levels of `first.fan_in` files (then as planned for each
/// level) when they do not fit the budget at once. `check` runs before each merge (compaction stops there when its lock
/// lapsed). Returns what the last level wrote and the number of levels.
#[allow(clippy::too_many_arguments)]
pub async fn merge_levels(
    store: &Arc<dyn ObjectStore>,
    mut inputs: Vec<Input>,
    mut drops: Vec<Vec<u32>>,
    first: MergePlan,
    levels: &Levels,
    sink: Sink<'_>,
    label: &str,
    check: &(dyn Fn() -> Result<()> + Send + Sync),
) -> Result<(Written, usize)> {
    let cap = |n: usize| levels.max_fan_in.map_or(n, |m| n.min(m)).max(2);
    let mut fan_in = cap(first.fan_in);
    let mut depth = 1;
    let mut temp: Vec<Path> = Vec::new();
    while inputs.len() > fan_in {
        let mut next = Vec::new();
        let mut rest = drops.into_iter();
        for chunk in inputs.chunks(fan_in) {
            check()?;
            let d: Vec<Vec<u32>> = rest.by_ref().take(chunk.len()).collect();
            let run = levels
                .dir
                .clone()
                .join(format!("{}.parquet", uuid::Uuid::now_v7()));
            let run_sink = Sink {
                store,
                paths: std::slice::from_ref(&run),
                rows_per_file: usize::MAX,
                props: levels.props.clone(),
                index: false,
            };
            merge(store, chunk, d, run_sink, label).await?;
            next.push(
                store
                    .head(&run)
                    .await
                    .map_err(|e| Error::store(run.to_string(), e))?,
            );
        }
        for p in temp.drain(..) {
            delete_if_present(store.as_ref(), &p).await?;
        }
        temp = next.iter().map(|m| m.location.clone()).collect();
        inputs = open(store, next).await?;
        drops = vec![Vec::new(); inputs.len()];
        fan_in = cap(match plan(&inputs, levels.budget) {
            Ok(p) => p.fan_in,
            Err(_) if !levels.strict => 2,
            Err(e) => return Err(e),
        });
        depth += 1;
    }
    check()?;
    let written = merge(store, &inputs, drops, sink, label).await;
    for p in temp {
        delete_if_present(store.as_ref(), &p).await?;
    }
    Ok((written?, depth))
}

/// Deletes a file, absent or not.
pub async fn delete_if_present(store: &dyn ObjectStore, p: &Path) -> Result<()> {
    match store.delete(p).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(Error::store(p.to_string(), e)),
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use arrow::array::AsArray;
    use object_store::local::LocalFileSystem;

    use super::*;
    use crate::lake::writer::{self, WriterOptions};
    use crate::schema::{Row, RowBatchBuilder};

    /// A lake file of rows with these uids (None: a NULL uid), written to `store` at `name`.
    async fn file(store: &Arc<dyn ObjectStore>, name: &str, uids: &[Option<String>]) -> ObjectMeta {
        let mut b = RowBatchBuilder::with_capacity(uids.len());
        for (i, u) in uids.iter().enumerate() {
            b.push(&Row {
                event_type: Cow::Borrowed(["exec", "auth"][i % 2]),
                event_time_ms: 1_714_521_600_000 + i as i64,
                uid: u.clone().map_or(Cow::Borrowed(""), Cow::Owned),
                event_data: Cow::Borrowed("{}"),
                ..Default::default()
            });
        }
        let batch = b.finish();
        // The file is sorted on write: its row numbers follow the sorted order.
        let bytes = writer::encode(vec![batch], &WriterOptions::default(), name)
            .unwrap()
            .parquet;
        let path = Path::from(name);
        store.put(&path, bytes.into()).await.unwrap();
        store.head(&path).await.unwrap()
    }

    /// What pass 1 must drop, computed directly: every row whose non-empty uid occurred before
    /// it (an older file, or an earlier row of the same file).
    async fn expected(store: &Arc<dyn ObjectStore>, inputs: &[Input]) -> Vec<Vec<u32>> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for i in inputs {
            let mut drops = Vec::new();
            let mut row = 0u32;
            let mut s = i.stream(store, None).unwrap();
            while let Some(b) = s.next().await {
                let b = b.unwrap();
                let uids = b.column(uid_index().unwrap()).as_string::<i32>().clone();
                for u in uids.iter() {
                    if let Some(u) = u.filter(|u| !u.is_empty())
                        && !seen.insert(u.to_string())
                    {
                        drops.push(row);
                    }
                    row += 1;
                }
            }
            out.push(drops);
        }
        out
    }

    /// The dedup set split into several passes (what a budget smaller than the set plans:
    /// uids hashed into buckets, one bucket per pass over the uid column) drops exactly the
    /// rows one pass drops — duplicates across files and inside one, empty uids never.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dedup_in_several_passes_drops_what_one_pass_drops() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> =
            Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let u = |i: usize| Some(format!("uid-{i:05}"));
        // File 0: 0..600 and 50 of them again; file 1: 400..1000 (200 shared with file 0) and
        // three empty uids; file 2: every 7th uid of 0..1000 again.
        let f0: Vec<_> = (0..600).map(u).chain((100..150).map(u)).collect();
        let f1: Vec<_> = (400..1000)
            .map(u)
            .chain([None, None, Some(String::new())])
            .collect();
        let f2: Vec<_> = (0..1000).step_by(7).map(u).collect();
        let metas = vec![
            file(&store, "a.parquet", &f0).await,
            file(&store, "b.parquet", &f1).await,
            file(&store, "c.parquet", &f2).await,
        ];
        let inputs = open(&store, metas).await.unwrap();
        let want = expected(&store, &inputs).await;
        assert_eq!(
            want.iter().map(Vec::len).sum::<usize>(),
            50 + 200 + f2.len(),
            "the fixture's duplicates"
        );
        for passes in [1, 2, 3, 8] {
            let got = duplicates(&store, &inputs, passes).await.unwrap();
            assert_eq!(got, want, "{passes} passes");
        }
        assert_eq!(
            plan(&inputs, DEFAULT_MEMORY_BUDGET).unwrap().dedup_passes,
            1
        );
    }
}
