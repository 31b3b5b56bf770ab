//! The Parquet writer: rows of one (tenant, date) → one Snappy Parquet file with the exact Glue
//! schema, sorted by (event_type, event_time), with statistics and the page index, put whole
//! and, on a local lake, fsynced (file and directories) before the write counts as done.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::{SortColumn, lexsort_to_indices};
use chrono::NaiveDate;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::{Lake, grams, layout};
use crate::error::{Error, Result};
use crate::schema::GeoProvenance;
use crate::schema::{self, RowBatchBuilder};

/// Rows per row group. Smaller than parquet's default (1 M) so that, with rows sorted by
/// event_type, a view's `event_type = '…'` filter skips most row groups by statistics.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// False-positive rate of the `uid` and `ip` Bloom filters (~75 KB per 64 Ki-row row group
/// each, at most; a file per partition per day is a few MB).
const BLOOM_FPP: f64 = 0.01;

/// Rows per data page: 1,024 unless `AUDITLAKE_PAGE_ROWS` (64 ..= 1,048,576) says otherwise —
/// a knob for `benches/` to measure the choice (small pages help a view's filtered scan, may
/// cost a full scan), not a setting a lake needs.
pub fn page_rows() -> usize {
    static ROWS: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
        std::env::var("AUDITLAKE_PAGE_ROWS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .map_or(1024, |n| n.clamp(64, 1 << 20))
    });
    *ROWS
}

/// What a flush wrote.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    pub path: Path,
    pub tenant: String,
    pub date: NaiveDate,
    pub rows: usize,
    pub bytes: usize,
}

/// Writer settings shared by every file of a run.
#[derive(Debug, Clone, Default)]
pub struct WriterOptions {
    /// GeoIP database used for enrichment, recorded in each file's metadata.
    pub geoip: Option<GeoProvenance>,
}

/// The writer settings of every lake file (compaction streams with the same).
pub fn properties(opts: &WriterOptions) -> WriterProperties {
    let mut kv = vec![
        KeyValue::new(
            "auditlake.writer".into(),
            format!("auditlake {}", env!("CARGO_PKG_VERSION")),
        ),
        KeyValue::new("auditlake.sort".into(), "event_type,event_time".to_string()),
    ];
    if let Some(g) = &opts.geoip {
        kv.push(KeyValue::new(
            "auditlake.geoip.database_type".into(),
            g.database_type.clone(),
        ));
        kv.push(KeyValue::new(
            "auditlake.geoip.build_epoch".into(),
            g.build_epoch.to_string(),
        ));
    }
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        // Page-level statistics also write the column index and offset index (the page index),
        // which lets readers skip pages inside a row group.
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        // Small pages: rows are sorted by event_type, so the page index of `event_type` then
        // selects little more than a view's own rows, and only their `event_data` pages are
        // read (8 Ki-row pages read ~8× more JSON for a rare event type; measured in benches/).
        .set_data_page_row_count_limit(page_rows())
        // Unique or near-unique strings gain nothing from dictionaries and cost CPU.
        .set_column_dictionary_enabled(ColumnPath::from("event_data"), false)
        .set_column_dictionary_enabled(ColumnPath::from("uid"), false)
        // Statistics on the raw JSON are useless for pruning and would be truncated anyway.
        .set_column_statistics_enabled(ColumnPath::from("event_data"), EnabledStatistics::None)
        // Point lookups (`uid = …`, `ip = …`) are what an investigation types; rows are sorted
        // by (event_type, event_time), so min/max of these say nothing, but a Bloom filter per
        // row group lets a reader (DataFusion, Trino/Athena) skip every file without the value.
        .set_column_bloom_filter_enabled(ColumnPath::from("uid"), true)
        .set_column_bloom_filter_fpp(ColumnPath::from("uid"), BLOOM_FPP)
        .set_column_bloom_filter_max_ndv(ColumnPath::from("uid"), ROW_GROUP_ROWS as u64)
        .set_column_bloom_filter_enabled(ColumnPath::from("ip"), true)
        .set_column_bloom_filter_fpp(ColumnPath::from("ip"), BLOOM_FPP)
        .set_column_bloom_filter_max_ndv(ColumnPath::from("ip"), ROW_GROUP_ROWS as u64)
        .set_key_value_metadata(Some(kv))
        .build()
}

/// Rows of one partition in (event_type, event_time) order, as (batch, row) pairs over the
/// batches they arrived in.
///
/// Why not concatenate and `take`: that copies every row twice, and in arbitrary-order input a
/// partition's rows arrive as thousands of small batches (a decoded chunk spreads over ~30
/// days). Only the two key columns are concatenated to sort; the rows are copied once, a slice
/// at a time, by whoever consumes them (a run, a merge, the Parquet encoder), so the copy is
/// cache-sized and the sorted partition never exists whole in memory beside its input.
pub struct SortedRows {
    batches: Vec<RecordBatch>,
    order: Vec<(usize, usize)>,
}

impl SortedRows {
    pub fn new(batches: Vec<RecordBatch>) -> Result<SortedRows> {
        let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
        let key = |name: &str| -> Result<arrow::array::ArrayRef> {
            let i = schema::column_index(name).expect("known column");
            let cols: Vec<&dyn arrow::array::Array> =
                batches.iter().map(|b| b.column(i).as_ref()).collect();
            Ok(match cols.as_slice() {
                [one] => arrow::array::make_array(one.to_data()),
                _ => arrow::compute::concat(&cols)?,
            })
        };
        let n: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let order = if n == 0 {
            Vec::new()
        } else {
            let sort = |values| SortColumn {
                values,
                options: None,
            };
            let idx =
                lexsort_to_indices(&[sort(key("event_type")?), sort(key("event_time")?)], None)?;
            // Global row number → (batch, row in batch).
            let mut starts = Vec::with_capacity(batches.len());
            let mut at = 0;
            for b in &batches {
                starts.push(at);
                at += b.num_rows();
            }
            idx.values()
                .iter()
                .map(|&g| {
                    let g = g as usize;
                    let b = starts.partition_point(|&s| s <= g) - 1;
                    (b, g - starts[b])
                })
                .collect()
        };
        Ok(SortedRows { batches, order })
    }

    pub fn num_rows(&self) -> usize {
        self.order.len()
    }

    /// The sorted rows `start..end` as one batch (a copy of just those rows).
    pub fn gather(&self, start: usize, end: usize) -> Result<RecordBatch> {
        let refs: Vec<&RecordBatch> = self.batches.iter().collect();
        if refs.is_empty() {
            return Ok(RecordBatch::new_empty(schema::file_schema()));
        }
        Ok(arrow::compute::interleave_record_batch(
            &refs,
            &self.order[start..end],
        )?)
    }

    /// Where the slices of at most `rows` rows and about `bytes` bytes of text end (a single
    /// larger row is a slice alone), in order; the last is `num_rows()`.
    pub fn slice_ends(&self, rows: usize, bytes: usize) -> Vec<usize> {
        let text: Vec<Vec<&[i32]>> = self
            .batches
            .iter()
            .map(|b| {
                b.columns()
                    .iter()
                    .filter(|c| c.data_type() == &arrow::datatypes::DataType::Utf8)
                    .map(|c| arrow::array::AsArray::as_string::<i32>(c.as_ref()).value_offsets())
                    .collect()
            })
            .collect();
        let row_bytes = |(b, r): (usize, usize)| -> usize {
            text[b]
                .iter()
                .map(|o| (o[r + 1] - o[r]).max(0) as usize)
                .sum::<usize>()
                + 64
        };
        let mut ends = Vec::new();
        let (mut in_slice, mut size) = (0, 0);
        for (i, &at) in self.order.iter().enumerate() {
            let b = row_bytes(at);
            if in_slice > 0 && (in_slice == rows || size + b > bytes) {
                ends.push(i);
                (in_slice, size) = (0, 0);
            }
            in_slice += 1;
            size += b;
        }
        if in_slice > 0 {
            ends.push(self.order.len());
        }
        ends
    }
}

/// A data file encoded in memory, with its n-gram index ([`grams`]).
#[derive(Debug)]
pub struct Encoded {
    pub parquet: Vec<u8>,
    pub index: Vec<u8>,
}

/// Rows per slice the encoder gathers at a time (the Parquet writer buffers its row group).
const ENCODE_SLICE_ROWS: usize = 8192;

/// Encodes rows (in any order, as they arrived) as one Parquet file in memory, sorted, and the
/// file's n-gram index.
pub fn encode(batches: Vec<RecordBatch>, opts: &WriterOptions, partition: &str) -> Result<Encoded> {
    let perr = |source| Error::Parquet {
        partition: partition.to_string(),
        source,
    };
    let bytes: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
    let sorted = SortedRows::new(batches)?;
    let mut buf = Vec::with_capacity(bytes / 3);
    let mut w = ArrowWriter::try_new(&mut buf, schema::file_schema(), Some(properties(opts)))
        .map_err(perr)?;
    let mut index = grams::Builder::default();
    let mut start = 0;
    while start < sorted.num_rows() {
        let end = (start + ENCODE_SLICE_ROWS).min(sorted.num_rows());
        let slice = sorted.gather(start, end)?;
        w.write(&slice).map_err(perr)?;
        index.push_batch(&slice)?;
        start = end;
    }
    drop(sorted);
    w.close().map_err(perr)?;
    let index = index.finish(buf.len() as u64);
    Ok(Encoded {
        parquet: buf,
        index,
    })
}

/// Writes rows of one partition as a new file. The object appears whole or not at all: the
/// local store writes a hidden staging file and renames it; S3 makes it visible on PUT.
pub async fn write_partition(
    lake: &Lake,
    tenant: &str,
    date: NaiveDate,
    builder: &mut RowBatchBuilder,
    opts: &WriterOptions,
) -> Result<WrittenFile> {
    let batch = builder.finish();
    let partition = format!("{tenant}/{date}");
    let rows = batch.num_rows();
    let encoded = tokio::task::block_in_place(|| encode(vec![batch], opts, &partition))?;
    put_file(lake, tenant, date, encoded, rows).await
}

/// Puts an encoded file as a new file of the partition.
pub async fn put_file(
    lake: &Lake,
    tenant: &str,
    date: NaiveDate,
    encoded: Encoded,
    rows: usize,
) -> Result<WrittenFile> {
    let path = layout::new_file_path(lake, tenant, date);
    put_file_at(lake, path, tenant, date, encoded, rows).await
}

/// Puts an encoded file at a path chosen by the caller (the consumer names its files in a
/// journal before writing them), then its index.
pub async fn put_file_at(
    lake: &Lake,
    path: Path,
    tenant: &str,
    date: NaiveDate,
    encoded: Encoded,
    rows: usize,
) -> Result<WrittenFile> {
    let Encoded {
        parquet: bytes,
        index,
    } = encoded;
    let len = bytes.len();
    if !layout::is_partition_date(date) {
        // Decoders reject such times; this is the last line before a directory no reader lists.
        return Err(Error::Other(format!(
            "refusing to write partition {tenant}/{date}: not a YYYY-MM-DD date"
        )));
    }
    lake.store()
        .put(&path, PutPayload::from(bytes))
        .await
        .map_err(|e| Error::store(path.to_string(), e))?;
    sync_local(lake, &path)?;
    tracing::debug!(%path, rows, bytes = len, "wrote parquet file");
    put_index(lake.store().as_ref(), &path, index).await;
    Ok(WrittenFile {
        path,
        tenant: tenant.to_string(),
        date,
        rows,
        bytes: len,
    })
}

/// Puts a data file's n-gram index, after the file itself: a reader that finds an index finds
/// its file. Failing to write it costs speed, not data (the file is then read whole), so it is
/// a warning, not an error; it is not fsynced for the same reason (a torn index fails its
/// checksum and is ignored). Whether it was written.
pub async fn put_index(store: &dyn object_store::ObjectStore, data: &Path, index: Vec<u8>) -> bool {
    let Some(p) = grams::index_path(data) else {
        return false;
    };
    match store.put(&p, PutPayload::from(index)).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(path = %p, error = %e, "could not write the n-gram index; LIKE reads the file whole");
            false
        }
    }
}

/// Makes a just-written object of a local lake durable: fsyncs the file and every directory
/// from its own up to the lake root (new partition directories are entries of their parents).
/// S3 needs nothing: a PUT that returned is durable. Blocking, but a few syscalls per file.
pub fn sync_local(lake: &Lake, path: &Path) -> Result<()> {
    sync_local_upto(lake, path, true)
}

/// [`sync_local`] of the file alone, for what can be rebuilt (a view sidecar): its contents
/// are durable before a reader trusts them, but a name lost in a crash only means a rebuild.
pub fn sync_local_file(lake: &Lake, path: &Path) -> Result<()> {
    sync_local_upto(lake, path, false)
}

fn sync_local_upto(lake: &Lake, path: &Path, dirs: bool) -> Result<()> {
    if !lake.is_local() {
        return Ok(());
    }
    let root = std::path::PathBuf::from(lake.display());
    let file = root.join(path.as_ref());
    let sync = |p: &std::path::Path| -> Result<()> {
        std::fs::File::open(p)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io("sync", p, e))
    };
    sync(&file)?;
    if !dirs {
        return Ok(());
    }
    let mut dir = file.parent();
    while let Some(d) = dir {
        sync(d)?;
        if d == root {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

/// Shared handle so decode threads can encode while the async side uploads.
pub type SharedOptions = Arc<WriterOptions>;

/// Runs `jobs` (each writing files), at most `at_once` at a time. Returns what the successful
/// ones produced — even when a sibling failed, so a roll-back finds every file written — and
/// the first error.
pub async fn in_parallel<T, F>(
    at_once: usize,
    jobs: impl IntoIterator<Item = F>,
) -> (Vec<T>, Option<Error>)
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T>> + Send + 'static,
{
    let sem = Arc::new(tokio::sync::Semaphore::new(at_once.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for job in jobs {
        let sem = sem.clone();
        tasks.spawn(async move {
            let _permit = sem
                .acquire_owned()
                .await
                .map_err(|e| Error::Other(e.to_string()))?;
            job.await
        });
    }
    let mut done = Vec::new();
    let mut first_err = None;
    while let Some(res) = tasks.join_next().await {
        match res.map_err(|e| Error::Other(format!("a writer task failed: {e}"))) {
            Ok(Ok(v)) => done.push(v),
            Ok(Err(e)) | Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    (done, first_err)
}

/// Runs a blocking job (encoding) on the blocking pool, as an error if it panicked.
pub async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| Error::Other(format!("encoder thread failed: {e}")))?
}
