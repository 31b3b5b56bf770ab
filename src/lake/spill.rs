//! Ingest's sorted runs on local disk: when an ingest's buffered rows outgrow their memory
//! budget, each buffered partition is spilled as a sorted run (an Arrow IPC file) to a
//! temporary directory, and at the end each partition's runs (with its rows still in memory)
//! are merged into one Snappy Parquet file in the lake — so a run writes one sorted file per
//! partition whatever the order of its input (an export of several sources, a backfill), and
//! memory stays bounded by the budget.
//!
//! Why Arrow IPC runs: every row is still encoded for the lake exactly once (by the merge); a
//! run is the Arrow buffers themselves, so writing one is a copy and reading it back none: each
//! batch is mapped from the file (`mapped`) (uncompressed Parquet runs cost an encode and a
//! decode more: a fifth of an arbitrary-order ingest). The price is disk: about the rows' Arrow size (≈ the NDJSON size) in the spill
//! directory, bounded by `max_bytes`: when the runs reach it, they are merged into the lake
//! then and the spill starts empty again (one more file per partition for each `max_bytes` of
//! spilled rows). When a partition has more runs than its merge budget opens at once, groups
//! of runs are first merged into uncompressed Parquet runs, which the lake's merge in levels
//! takes from there.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

mod mapped;

use super::merge::{self, Levels, Sink, SortedStream};
use super::writer::{self, WriterOptions, WrittenFile};
use super::{Lake, layout};
use crate::error::{Error, Result};
use crate::schema;

/// Rows per batch of a run, and bytes (a single larger row is a batch alone): what one open
/// run costs while merging.
const RUN_ROW_GROUP_ROWS: usize = 8192;
const RUN_ROW_GROUP_BYTES: usize = 8 << 20;

/// Rows per row group of the Parquet files a merge writes (the lake's).
const LAKE_ROW_GROUP_ROWS: u64 = super::writer::ROW_GROUP_ROWS as u64;

/// Memory of all final merges together, split among those running at once.
pub const MERGE_BUDGET: usize = 512 << 20;

/// Default bound of the spill directory's size before its runs are merged into the lake.
pub const DEFAULT_MAX_SPILL_BYTES: u64 = 4 << 30;

/// Writer settings of a Parquet run (a level of a merge): no compression, statistics or
/// dictionaries (read once, in order).
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
    /// Rows and bytes written to the runs (for the merge's memory plan).
    rows: u64,
    bytes: u64,
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

/// A run to write: its partition, where, and the rows.
pub struct RunFile {
    pub key: (String, NaiveDate),
    pub file: std::path::PathBuf,
    pub batches: Vec<RecordBatch>,
}

/// A run written: its partition, rows and bytes on disk.
pub struct RunWritten {
    pub key: (String, NaiveDate),
    pub rows: u64,
    pub bytes: u64,
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
        let key = (tenant.to_string(), date);
        let runs = self.runs.entry(key.clone()).or_insert_with(|| {
            *next_index += 1;
            Runs {
                index: *next_index,
                ..Runs::default()
            }
        });
        let name = format!("p{}-{:06}.arrow", runs.index, runs.files.len());
        runs.files.push(Path::from(name.as_str()));
        RunFile {
            key,
            file: self.dir.path().join(name),
            batches,
        }
    }

    /// Counts a run written to the directory.
    pub fn add_run(&mut self, w: &RunWritten) {
        self.bytes += w.bytes;
        if let Some(r) = self.runs.get_mut(&w.key) {
            r.rows += w.rows;
            r.bytes += w.bytes;
        }
    }

    /// Has the directory reached its bound (time to merge into the lake)?
    pub fn full(&self) -> bool {
        self.bytes >= self.max_bytes
    }

    /// Merges every partition's runs into one new lake file each, `threads` partitions at a
    /// time, and empties the spill. `tails` are rows still in memory of partitions that have
    /// runs (the end of the run: the last buffer), merged from memory as each partition's
    /// newest input rather than written to disk and read back — at the end of an
    /// arbitrary-order ingest that is the last buffer's worth of rows spared the round trip.
    /// A tail whose partition is not in the spill is ignored (the caller writes those).
    /// Returns the files written, and the first error (the files written before it are
    /// returned too, so a roll-back finds them).
    pub async fn merge_into(
        &mut self,
        lake: &Lake,
        opts: &Arc<WriterOptions>,
        threads: usize,
        mut tails: HashMap<(String, NaiveDate), Vec<RecordBatch>>,
    ) -> (Vec<WrittenFile>, Option<Error>) {
        let at_once = threads.clamp(1, 4);
        let budget = MERGE_BUDGET / at_once;
        let jobs = std::mem::take(&mut self.runs)
            .into_iter()
            .map(|(key, runs)| {
                let (store, lake, opts) = (self.store.clone(), lake.clone(), opts.clone());
                let dir = self.dir.path().to_path_buf();
                let tail = tails.remove(&key).unwrap_or_default();
                let (tenant, date) = key;
                async move {
                    let part = Partition {
                        lake: &lake,
                        tenant: &tenant,
                        date,
                    };
                    merge_partition(store, dir, runs, tail, part, &opts, budget).await
                }
            })
            .collect::<Vec<_>>();
        let (written, first_err) = writer::in_parallel(at_once, jobs).await;
        self.bytes = 0;
        (written, first_err)
    }
}

/// Sorts a partition's rows and writes them as one run, an Arrow IPC file of batches of at
/// most [`RUN_ROW_GROUP_ROWS`] rows and [`RUN_ROW_GROUP_BYTES`] bytes (blocking).
pub fn write_run(run: RunFile) -> Result<RunWritten> {
    let sorted = writer::SortedRows::new(run.batches)?;
    let f = std::fs::File::create(&run.file).map_err(|e| Error::io("write", &run.file, e))?;
    let mut w = arrow::ipc::writer::FileWriter::try_new(
        std::io::BufWriter::with_capacity(1 << 20, f),
        &schema::file_schema(),
    )?;
    let mut start = 0;
    for end in sorted.slice_ends(RUN_ROW_GROUP_ROWS, RUN_ROW_GROUP_BYTES) {
        // Each slice is gathered right before it is written: the copy the kernel takes of it
        // comes from cache.
        w.write(&sorted.gather(start, end)?)?;
        start = end;
    }
    w.finish()?;
    let mut out = w.into_inner()?;
    std::io::Write::flush(&mut out).map_err(|e| Error::io("write", &run.file, e))?;
    drop(out);
    // The file's size once closed: the spill bound is kept on this.
    let bytes = std::fs::metadata(&run.file)
        .map_err(|e| Error::io("read the size of", &run.file, e))?
        .len();
    Ok(RunWritten {
        key: run.key,
        rows: sorted.num_rows() as u64,
        bytes,
    })
}

/// Rows still in memory as a sorted input of a merge: the order is found on the blocking pool,
/// then slices of [`RUN_ROW_GROUP_ROWS`] rows are gathered as the merge asks for them (the
/// rows are held until the merge has taken the last slice; they were held in the buffer
/// anyway).
async fn memory_stream(batches: Vec<RecordBatch>, label: &str) -> Result<SortedStream> {
    let sorted = Arc::new(writer::blocking(move || writer::SortedRows::new(batches)).await?);
    let ends = sorted.slice_ends(RUN_ROW_GROUP_ROWS, RUN_ROW_GROUP_BYTES);
    let starts = std::iter::once(0).chain(ends.clone());
    let slices = starts
        .zip(ends)
        .map(move |(start, end)| sorted.gather(start, end));
    Ok(SortedStream {
        batches: futures::stream::iter(slices).boxed(),
        label: Path::from(format!("memory/{label}")),
    })
}

/// The lake partition a merge writes.
struct Partition<'a> {
    lake: &'a Lake,
    tenant: &'a str,
    date: NaiveDate,
}

/// A run's batches, each mapped from the file rather than read into fresh memory, on the
/// blocking pool.
fn ipc_stream(file: std::path::PathBuf) -> SortedStream {
    let label = Path::from(file.display().to_string().as_str());
    let open = move || mapped::Run::open(&file);
    // (the reader once open, the opener until then); after an error both are gone: the end.
    let start: (Option<mapped::Run>, Option<_>) = (None, Some(open));
    let batches = futures::stream::unfold(start, |(reader, open)| async move {
        let step = tokio::task::spawn_blocking(move || {
            let mut reader = match (reader, open) {
                (Some(r), _) => r,
                (None, Some(open)) => match open() {
                    Ok(r) => r,
                    Err(e) => return Some((Err(e), None)),
                },
                (None, None) => return None,
            };
            match reader.next()? {
                Ok(b) => Some((Ok(b), Some(reader))),
                Err(e) => Some((Err(e), None)),
            }
        })
        .await;
        match step {
            Ok(Some((item, reader))) => Some((item, (reader, None))),
            Ok(None) => None,
            Err(e) => Some((
                Err(Error::Other(format!("a spill reader failed: {e}"))),
                (None, None),
            )),
        }
    })
    .boxed();
    SortedStream { batches, label }
}

/// Runs of a partition one merge opens at once within `budget`: each open run holds two
/// batches (the current one and the next being read), the output its row group being encoded,
/// an assembled batch and the upload buffer. At least two.
fn run_fan_in(runs: &Runs, budget: usize) -> usize {
    let per_row = runs.bytes / runs.rows.max(1);
    let out = (LAKE_ROW_GROUP_ROWS.min(runs.rows) + RUN_ROW_GROUP_ROWS as u64) * per_row
        + (8u64 << 20).min(runs.bytes);
    let one_run = runs.bytes / (runs.files.len() as u64).max(1);
    let per_run = 2 * (RUN_ROW_GROUP_BYTES as u64).min(one_run.max(1));
    let room = (budget as u64).saturating_sub(out);
    ((room / per_run.max(1)) as usize).max(2)
}

/// Merges one partition's runs, and its rows still in memory (`tail`, newest), into a new
/// lake file: at once when the budget opens every run, else in levels (the tail spilled as one
/// more run, then groups of runs into Parquet runs under the spill directory first).
async fn merge_partition(
    store: Arc<dyn ObjectStore>,
    dir: std::path::PathBuf,
    mut runs: Runs,
    tail: Vec<RecordBatch>,
    part: Partition<'_>,
    opts: &WriterOptions,
    budget: usize,
) -> Result<WrittenFile> {
    let Partition { lake, tenant, date } = part;
    if !layout::is_partition_date(date) {
        return Err(Error::Other(format!(
            "refusing to write partition {tenant}/{date}: not a YYYY-MM-DD date"
        )));
    }
    let label = format!("{tenant}/{date}");
    let path = layout::new_file_path(lake, tenant, date);
    let sink = Sink {
        store: lake.store(),
        paths: std::slice::from_ref(&path),
        rows_per_file: usize::MAX,
        props: writer::properties(opts),
        index: true,
    };
    let fan_in = run_fan_in(&runs, budget);
    let streams = |files: &[Path]| -> Vec<SortedStream> {
        files
            .iter()
            .map(|p| ipc_stream(dir.join(p.as_ref())))
            .collect()
    };
    let mut memory = None;
    if !tail.is_empty() {
        if runs.files.len() < fan_in {
            memory = Some(memory_stream(tail, &label).await?);
        } else {
            // No room to hold it open beside every run: one more run on disk.
            let name = format!("p{}-{:06}.arrow", runs.index, runs.files.len());
            let run = RunFile {
                key: (tenant.to_string(), date),
                file: dir.join(&name),
                batches: tail,
            };
            let w = writer::blocking(move || write_run(run)).await?;
            runs.files.push(Path::from(name.as_str()));
            runs.rows += w.rows;
            runs.bytes += w.bytes;
        }
    }
    let (written, depth) = if let Some(memory) = memory {
        let mut inputs = streams(&runs.files);
        inputs.push(memory);
        let n = inputs.len();
        let w = merge::merge_streams(inputs, vec![Vec::new(); n], sink, &label);
        (w.await?, 1)
    } else if runs.files.len() <= fan_in {
        let n = runs.files.len();
        let w = merge::merge_streams(streams(&runs.files), vec![Vec::new(); n], sink, &label);
        (w.await?, 1)
    } else {
        // More runs than fit at once: merge groups of them into Parquet runs, then those in
        // levels as compaction does (two at a time at worst: ingest's runs are bounded).
        let mut metas = Vec::new();
        let mut level = Vec::new();
        for (g, group) in runs.files.chunks(fan_in).enumerate() {
            let run = Path::from(format!("levels-{}/first-{g:04}.parquet", runs.index));
            let run_sink = Sink {
                store: &store,
                paths: std::slice::from_ref(&run),
                rows_per_file: usize::MAX,
                props: run_properties(),
                index: false,
            };
            let n = group.len();
            merge::merge_streams(streams(group), vec![Vec::new(); n], run_sink, &label).await?;
            for p in group {
                merge::delete_if_present(store.as_ref(), p).await?;
            }
            metas.push(
                store
                    .head(&run)
                    .await
                    .map_err(|e| Error::store(run.to_string(), e))?,
            );
            level.push(run);
        }
        let inputs = merge::open(&store, metas).await?;
        let plan = merge::plan(&inputs, budget).unwrap_or(merge::MergePlan {
            dedup_passes: 1,
            fan_in: 2,
            merge_bytes: 0,
        });
        let drops = vec![Vec::new(); inputs.len()];
        let levels = Levels {
            dir: Path::from(format!("levels-{}", runs.index)),
            props: run_properties(),
            budget,
            max_fan_in: None,
            strict: false,
        };
        let (w, depth) =
            merge::merge_levels(&store, inputs, drops, plan, &levels, sink, &label, &|| {
                Ok(())
            })
            .await?;
        for p in &level {
            merge::delete_if_present(store.as_ref(), p).await?;
        }
        (w, depth + 1)
    };
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use arrow::array::AsArray;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;
    use crate::schema::{Row, RowBatchBuilder};

    fn rows(run: usize, n: usize, data: &str) -> RecordBatch {
        let mut b = RowBatchBuilder::with_capacity(n);
        for i in 0..n {
            // Types and times in no order, with ties across runs.
            let ty = ["exec", "auth", "session.start"][(i * 7 + run) % 3];
            b.push(&Row {
                event_type: Cow::Borrowed(ty),
                event_time_ms: 1_714_521_600_000 + ((i * 7919 + run * 31) % 500) as i64,
                uid: Cow::Owned(format!("{run}-{i}")),
                event_data: Cow::Borrowed(data),
                ..Default::default()
            });
        }
        b.finish()
    }

    fn lake_rows(lake_dir: &std::path::Path, f: &WrittenFile) -> Vec<(String, i64, String)> {
        let bytes = std::fs::read(lake_dir.join(f.path.as_ref())).unwrap();
        let r = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap();
        let mut out = Vec::new();
        for b in r {
            let b = b.unwrap();
            let col = |n: &str| b.column(schema::column_index(n).unwrap()).clone();
            let (ty, t, uid) = (col("event_type"), col("event_time"), col("uid"));
            let t = t.as_primitive::<arrow::datatypes::TimestampMillisecondType>();
            for i in 0..b.num_rows() {
                out.push((
                    ty.as_string::<i32>().value(i).to_string(),
                    t.value(i),
                    uid.as_string::<i32>().value(i).to_string(),
                ));
            }
        }
        out
    }

    /// More runs than the budget opens at once: groups of runs become Parquet runs, merged in
    /// levels into one file that holds every row once, sorted; the spill directory is left
    /// empty. The same runs with room for all merge at once into the same rows. Either way, the
    /// last rows may still be in memory (the end of an ingest): merged from there when the
    /// budget has room, spilled as one more run when it has not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_runs_merge_in_levels_into_one_sorted_file() {
        for (budget, in_memory) in [
            (1usize, false),
            (1, true),
            (MERGE_BUDGET, false),
            (MERGE_BUDGET, true),
        ] {
            let lake_dir = tempfile::tempdir().unwrap();
            let lake = Lake::open(lake_dir.path().to_str().unwrap()).unwrap();
            let mut sp = Spill::new(None, u64::MAX).unwrap();
            let date = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
            let mut want = Vec::new();
            let mut tail = Vec::new();
            for run in 0..7 {
                let batch = rows(run, 300 + run * 40, "{}");
                want.extend((0..batch.num_rows()).map(|i| format!("{run}-{i}")));
                if in_memory && run == 6 {
                    // Two batches, as a buffer holds them.
                    tail = vec![
                        batch.slice(0, 100),
                        batch.slice(100, batch.num_rows() - 100),
                    ];
                    continue;
                }
                let w = write_run(sp.next_run("acme", date, vec![batch])).unwrap();
                sp.add_run(&w);
            }
            let runs = sp.runs.remove(&("acme".to_string(), date)).unwrap();
            assert_eq!(run_fan_in(&runs, budget) < 6, budget == 1);
            let part = Partition {
                lake: &lake,
                tenant: "acme",
                date,
            };
            let f = merge_partition(
                sp.store.clone(),
                sp.dir.path().to_path_buf(),
                runs,
                tail,
                part,
                &WriterOptions::default(),
                budget,
            )
            .await
            .unwrap();
            let got = lake_rows(lake_dir.path(), &f);
            assert_eq!(f.rows, want.len(), "budget {budget}, in memory {in_memory}");
            assert!(
                got.windows(2)
                    .all(|w| (&w[0].0, w[0].1) <= (&w[1].0, w[1].1)),
                "not sorted by (event_type, event_time)"
            );
            let mut uids: Vec<String> = got.into_iter().map(|r| r.2).collect();
            uids.sort();
            want.sort();
            assert_eq!(uids, want, "budget {budget}, in memory {in_memory}");
            let left: Vec<_> = walk(sp.dir.path());
            assert!(left.is_empty(), "left in the spill directory: {left:?}");
        }
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    /// A run's batches are bounded in bytes as well as rows: big rows make more, smaller
    /// batches, and a row over the bound is a batch alone.
    #[test]
    fn run_batches_are_bounded_in_bytes() {
        let sp = Spill::new(None, u64::MAX).unwrap();
        let date = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
        let big = "x".repeat(RUN_ROW_GROUP_BYTES + 1);
        let mid = "y".repeat(64 << 10);
        let batches = vec![rows(0, 1000, &mid), rows(1, 1, &big), rows(2, 10, "{}")];
        let mut sp = sp;
        let run = sp.next_run("acme", date, batches);
        let file = run.file.clone();
        let w = write_run(run).unwrap();
        assert_eq!(w.rows, 1011);
        let r = arrow::ipc::reader::FileReader::try_new(std::fs::File::open(&file).unwrap(), None)
            .unwrap();
        let mut total = 0;
        let mut alone = 0;
        for b in r {
            let b = b.unwrap();
            total += b.num_rows();
            let data = b.column(schema::column_index("event_data").unwrap());
            let bytes: usize = data
                .as_string::<i32>()
                .iter()
                .map(|v| v.map_or(0, str::len))
                .sum();
            if b.num_rows() == 1 && bytes > RUN_ROW_GROUP_BYTES {
                alone += 1;
            } else {
                assert!(
                    bytes <= RUN_ROW_GROUP_BYTES,
                    "{} rows, {bytes} bytes",
                    b.num_rows()
                );
            }
        }
        assert_eq!((total, alone), (1011, 1));
    }

    fn keys(b: &RecordBatch) -> Vec<(String, i64, String)> {
        let col = |n: &str| b.column(schema::column_index(n).unwrap()).clone();
        let (ty, t, uid) = (col("event_type"), col("event_time"), col("uid"));
        let t = t.as_primitive::<arrow::datatypes::TimestampMillisecondType>();
        (0..b.num_rows())
            .map(|i| {
                (
                    ty.as_string::<i32>().value(i).to_string(),
                    t.value(i),
                    uid.as_string::<i32>().value(i).to_string(),
                )
            })
            .collect()
    }

    /// Rows spread over many small batches (and empty ones) come out in key order, each row
    /// once and whole, in slices bounded by rows and by bytes.
    #[test]
    fn sorted_rows_gather_many_batches_in_key_order() {
        let batches = vec![
            rows(0, 50, "{\"a\":1}"),
            RecordBatch::new_empty(schema::file_schema()),
            rows(1, 1, "{}"),
            rows(2, 300, &"z".repeat(1000)),
        ];
        let mut want: Vec<_> = batches.iter().flat_map(keys).collect();
        let sorted = writer::SortedRows::new(batches).unwrap();
        assert_eq!(sorted.num_rows(), 351);
        let all = sorted.gather(0, 351).unwrap();
        let got = keys(&all);
        assert!(
            got.windows(2)
                .all(|w| (&w[0].0, w[0].1) <= (&w[1].0, w[1].1))
        );
        let mut got_sorted = got.clone();
        got_sorted.sort();
        want.sort();
        assert_eq!(got_sorted, want);
        // Whole values: the 1,000-byte documents are still 1,000 bytes each.
        let data = all.column(schema::column_index("event_data").unwrap());
        let long = data
            .as_string::<i32>()
            .iter()
            .filter(|v| v.is_some_and(|v| v.len() == 1000))
            .count();
        assert_eq!(long, 300);
        // Slices: by rows, then by bytes (a row over the bound is a slice alone).
        let ends = sorted.slice_ends(7, usize::MAX);
        assert_eq!(ends.last(), Some(&351));
        assert!(ends.windows(2).all(|w| w[1] - w[0] <= 7 && w[1] > w[0]));
        let ends = sorted.slice_ends(usize::MAX, 500);
        assert_eq!(ends.last(), Some(&351));
        let mut start = 0;
        for end in ends {
            let slice = sorted.gather(start, end).unwrap();
            let text: usize = slice
                .column(schema::column_index("event_data").unwrap())
                .as_string::<i32>()
                .iter()
                .map(|v| v.map_or(0, str::len))
                .sum();
            assert!(
                end - start == 1 || text <= 500,
                "{} rows, {text} bytes",
                end - start
            );
            start = end;
        }
        let empty = writer::SortedRows::new(Vec::new()).unwrap();
        assert_eq!(empty.num_rows(), 0);
        assert!(empty.slice_ends(8, 8).is_empty());
    }

    /// A run read through its mapping gives back the batches written; a damaged run (cut short,
    /// cut in the middle, not Arrow at all, another schema) is an error, never a fault.
    #[test]
    fn mapped_runs_read_back_and_refuse_damaged_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.arrow");
        let written = [rows(0, 100, "{\"k\":\"v\"}"), rows(1, 3, &"w".repeat(5000))];
        {
            let f = std::fs::File::create(&path).unwrap();
            let mut w = arrow::ipc::writer::FileWriter::try_new(f, &schema::file_schema()).unwrap();
            for b in &written {
                w.write(b).unwrap();
            }
            w.finish().unwrap();
        }
        let mut run = mapped::Run::open(&path).unwrap();
        let mut back = Vec::new();
        while let Some(b) = run.next() {
            back.push(b.unwrap());
        }
        assert_eq!(back, written);
        drop(run);
        // The batches outlive the run that mapped them.
        assert_eq!(keys(&back[1]), keys(&written[1]));

        let bytes = std::fs::read(&path).unwrap();
        let damaged = |name: &str, b: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, b).unwrap();
            p
        };
        let mut middle = bytes[..64].to_vec();
        middle.extend_from_slice(&bytes[bytes.len() / 2..]);
        let other = {
            let p = dir.path().join("other.arrow");
            let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
                arrow::datatypes::Field::new("x", arrow::datatypes::DataType::Int32, false),
            ]));
            let f = std::fs::File::create(&p).unwrap();
            let mut w = arrow::ipc::writer::FileWriter::try_new(f, &schema).unwrap();
            w.finish().unwrap();
            p
        };
        for p in [
            damaged("short", &bytes[..bytes.len() - 1]),
            damaged("tiny", &bytes[..5]),
            damaged("middle", &middle),
            damaged("garbage", &vec![0xAB; 4096]),
            other,
        ] {
            let read = mapped::Run::open(&p).and_then(|mut r| {
                let mut n = 0;
                while let Some(b) = r.next() {
                    b?;
                    n += 1;
                }
                Ok(n)
            });
            assert!(read.is_err(), "{}: {read:?}", p.display());
        }
        // Any single byte changed: a result (an error, or batches that decode), never a panic
        // or a fault.
        let flipped = dir.path().join("flipped");
        for at in (0..bytes.len()).step_by(13) {
            let mut b = bytes.clone();
            b[at] ^= 0x5A;
            std::fs::write(&flipped, &b).unwrap();
            if let Ok(mut r) = mapped::Run::open(&flipped) {
                while let Some(Ok(_)) = r.next() {}
            }
        }
    }
}
