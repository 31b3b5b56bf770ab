//! Ingest's sorted runs on local disk: when an ingest's buffered rows outgrow their memory
//! budget, each buffered partition is spilled as a sorted, uncompressed Parquet run to a
//! temporary directory, and at the end each partition's runs are merged into one Snappy file in
//! the lake — so a run writes one sorted file per partition whatever the order of its input
//! (an export of several sources, a backfill), and memory stays bounded by the budget.
//!
//! Why uncompressed runs: every row is still encoded for the lake exactly once (by the merge);
//! a run costs little more than a copy to write and to read back. The price is disk: about the
//! rows' Arrow size (≈ the NDJSON size) in the spill directory, bounded by `max_bytes`: when the
//! runs reach it, they are merged into the lake then and the spill starts empty again (one more
//! file per partition for each `max_bytes` of spilled rows).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::merge::{self, Levels, Sink};
use super::writer::{self, WriterOptions, WrittenFile};
use super::{Lake, layout};
use crate::error::{Error, Result};
use crate::schema;

/// Rows per row group of a run, and bytes: what one open run costs while merging.
const RUN_ROW_GROUP_ROWS: usize = 8192;
const RUN_ROW_GROUP_BYTES: usize = 8 << 20;

/// Memory of all final merges together, split among those running at once.
pub const MERGE_BUDGET: usize = 512 << 20;

/// Default bound of the spill directory's size before its runs are merged into the lake.
pub const DEFAULT_MAX_SPILL_BYTES: u64 = 4 << 30;

/// Writer settings of a run: no compression, statistics or dictionaries (read once, in order).
pub fn run_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_dictionary_enabled(false)
        .set_max_row_group_row_count(Some(RUN_ROW_GROUP_ROWS))
        .set_max_row_group_bytes(Some(RUN_ROW_GROUP_BYTES))
        .build()
}

/// One partition's runs, oldest first (ties in the merge keep that order, so rows with equal
/// keys stay in input order).
#[derive(Debug, Default)]
struct Runs {
    /// Index of the partition: runs are named by it, never by the tenant string.
    index: usize,
    files: Vec<Path>,
}

/// The spill directory of one ingest run (deleted when dropped, on success or failure).
pub struct Spill {
    dir: tempfile::TempDir,
    store: Arc<dyn ObjectStore>,
    runs: BTreeMap<(String, NaiveDate), Runs>,
    next_index: usize,
    bytes: u64,
    max_bytes: u64,
}

/// A run to write: where, and the rows.
pub struct RunFile {
    pub file: std::path::PathBuf,
    pub batches: Vec<RecordBatch>,
}

impl Spill {
    /// Creates `auditlake-spill-…` under `parent` (the system's temporary directory when none).
    pub fn new(parent: Option<&std::path::Path>, max_bytes: u64) -> Result<Spill> {
        let base = parent.map_or_else(std::env::temp_dir, std::path::Path::to_path_buf);
        let dir = tempfile::Builder::new()
            .prefix("auditlake-spill-")
            .tempdir_in(&base)
            .map_err(|e| Error::io("create the spill directory in", &base, e))?;
        let store = LocalFileSystem::new_with_prefix(dir.path())
            .map_err(|e| Error::store(dir.path().display().to_string(), e))?;
        Ok(Spill {
            dir,
            store: Arc::new(store),
            runs: BTreeMap::new(),
            next_index: 0,
            bytes: 0,
            max_bytes: max_bytes.max(1),
        })
    }

    /// Has this partition rows on disk?
    pub fn has(&self, tenant: &str, date: NaiveDate) -> bool {
        self.runs.contains_key(&(tenant.to_string(), date))
    }

    /// Registers the next run of a partition and says where to write it.
    pub fn next_run(
        &mut self,
        tenant: &str,
        date: NaiveDate,
        batches: Vec<RecordBatch>,
    ) -> RunFile {
        let next_index = &mut self.next_index;
        let runs = self
            .runs
            .entry((tenant.to_string(), date))
            .or_insert_with(|| {
                *next_index += 1;
                Runs {
                    index: *next_index,
                    files: Vec::new(),
                }
            });
        let name = format!("p{}-{:06}.parquet", runs.index, runs.files.len());
        runs.files.push(Path::from(name.as_str()));
        RunFile {
            file: self.dir.path().join(name),
            batches,
        }
    }

    /// Counts bytes written to the directory.
    pub fn add_bytes(&mut self, n: u64) {
        self.bytes += n;
    }

    /// Has the directory reached its bound (time to merge into the lake)?
    pub fn full(&self) -> bool {
        self.bytes >= self.max_bytes
    }

    /// Merges every partition's runs into one new lake file each, `threads` partitions at a
    /// time, and empties the spill. Returns the files written, and the first error (the files
    /// written before it are returned too, so a roll-back finds them).
    pub async fn merge_into(
        &mut self,
        lake: &Lake,
        opts: &Arc<WriterOptions>,
        threads: usize,
    ) -> (Vec<WrittenFile>, Option<Error>) {
        let at_once = threads.clamp(1, 4);
        let budget = MERGE_BUDGET / at_once;
        let jobs =
            std::mem::take(&mut self.runs)
                .into_iter()
                .map(|((tenant, date), runs)| {
                    let (store, lake, opts) = (self.store.clone(), lake.clone(), opts.clone());
                    async move {
                        merge_partition(store, runs, &lake, &tenant, date, &opts, budget).await
                    }
                })
                .collect::<Vec<_>>();
        let (written, first_err) = writer::in_parallel(at_once, jobs).await;
        self.bytes = 0;
        (written, first_err)
    }
}

/// Sorts a partition's rows and writes them as one run (blocking). Returns the bytes written.
pub fn write_run(run: RunFile) -> Result<u64> {
    let schema = schema::file_schema();
    let batch = arrow::compute::concat_batches(&schema, &run.batches)?;
    drop(run.batches);
    let sorted = writer::sort_batch(&batch)?;
    drop(batch);
    let label = run.file.display().to_string();
    let perr = |source| Error::Parquet {
        partition: label.clone(),
        source,
    };
    let f = std::fs::File::create(&run.file).map_err(|e| Error::io("write", &run.file, e))?;
    let mut w = ArrowWriter::try_new(
        std::io::BufWriter::with_capacity(1 << 20, f),
        schema,
        Some(run_properties()),
    )
    .map_err(perr)?;
    w.write(&sorted).map_err(perr)?;
    w.close().map_err(perr)?;
    // The file's size once closed (the writer's count before closing misses the row groups
    // it still holds, and the spill bound is kept on this).
    let bytes = std::fs::metadata(&run.file)
        .map_err(|e| Error::io("read the size of", &run.file, e))?
        .len();
    Ok(bytes)
}

/// Merges one partition's runs into a new lake file, in levels (under the spill directory)
/// when they do not fit `budget` at once.
async fn merge_partition(
    store: Arc<dyn ObjectStore>,
    runs: Runs,
    lake: &Lake,
    tenant: &str,
    date: NaiveDate,
    opts: &WriterOptions,
    budget: usize,
) -> Result<WrittenFile> {
    if !layout::is_partition_date(date) {
        return Err(Error::Other(format!(
            "refusing to write partition {tenant}/{date}: not a YYYY-MM-DD date"
        )));
    }
    let label = format!("{tenant}/{date}");
    let mut metas = Vec::with_capacity(runs.files.len());
    for p in &runs.files {
        metas.push(
            store
                .head(p)
                .await
                .map_err(|e| Error::store(p.to_string(), e))?,
        );
    }
    let inputs = merge::open(&store, metas).await?;
    // Two runs always merge: their row groups are bounded (rows and bytes) and so are their
    // rows (each was a flush), so when the budget is smaller than two of them the merge takes
    // what two need rather than failing the ingest.
    let plan = merge::plan(&inputs, budget).unwrap_or(merge::MergePlan {
        dedup_passes: 1,
        fan_in: 2,
        merge_bytes: 0,
    });
    let drops = vec![Vec::new(); inputs.len()];
    let path = layout::new_file_path(lake, tenant, date);
    let levels = Levels {
        dir: Path::from(format!("levels-{}", runs.index)),
        props: run_properties(),
        budget,
        max_fan_in: None,
        strict: false,
    };
    let sink = Sink {
        store: lake.store(),
        paths: std::slice::from_ref(&path),
        rows_per_file: usize::MAX,
        props: writer::properties(opts),
    };
    let (written, depth) =
        merge::merge_levels(&store, inputs, drops, plan, &levels, sink, &label, &|| {
            Ok(())
        })
        .await?;
    writer::sync_local(lake, &path)?;
    let (rows, bytes) = written.first().copied().unwrap_or((0, 0));
    tracing::debug!(%path, rows, bytes, runs = runs.files.len(), levels = depth, "merged spilled runs");
    for p in &runs.files {
        merge::delete_if_present(store.as_ref(), p).await?;
    }
    Ok(WrittenFile {
        path,
        tenant: tenant.to_string(),
        date,
        rows,
        bytes: bytes as usize,
    })
}
