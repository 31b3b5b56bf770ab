//! Compaction: a partition's small files → well-sized sorted files with one row per `uid`.
//!
//! Safe against itself, readers and crashes: one compactor per partition holds the lock of
//! [`super::lock`] (renewed while it works); the switch readers see is the compare-and-swap
//! tombstone of [`super::listing`]; replaced files are deleted only after a grace period, by
//! the next compaction or cleanup of the partition (the CLI waits for it; the consumer's
//! leader schedules it). The data path is the bounded-memory merge of [`super::merge`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

use super::listing::{self, State, TOMBSTONE_PREFIX, Tombstone, is_tombstone, live_files, name};
use super::lock::{self, Acquired, Cas, LockGuard, Version, now_ms};
use super::merge::{self, Input, MergePlan, Sink, delete_if_present};
use super::writer::{self, WriterOptions};
use super::{Lake, grams, layout};
use crate::error::{Error, Result};

/// Rows per compacted file: large enough for few files a day; memory does not depend on it
/// (files are written as they are merged).
pub const TARGET_ROWS: usize = 2_000_000;

/// How long replaced files stay after the switch, so that a query that listed the partition
/// before it finishes on the old files.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5 * 60);

/// How one compaction runs.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// Do nothing when fewer live files than this.
    pub min_files: usize,
    /// Rows per output file at most.
    pub target_rows: usize,
    /// Replaced files are deleted no sooner than this after the switch.
    pub grace: Duration,
    /// Lifetime of the partition lock between renewals.
    pub lock_ttl: Duration,
    /// Bytes the dedup set and the merge may hold.
    pub memory_budget: usize,
    /// Files merged at once at most (None: as many as the budget allows).
    pub max_fan_in: Option<usize>,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            min_files: 2,
            target_rows: TARGET_ROWS,
            grace: DEFAULT_GRACE,
            lock_ttl: lock::DEFAULT_LOCK_TTL,
            memory_budget: merge::DEFAULT_MEMORY_BUDGET,
            max_fan_in: None,
        }
    }
}

/// What compacting one partition did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompactSummary {
    pub tenant: String,
    pub date: String,
    pub files_before: usize,
    pub files_after: usize,
    pub rows_before: usize,
    pub rows_after: usize,
    pub duplicates_removed: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub elapsed_ms: u128,
    /// Nothing done: too few files, or another compactor holds the partition.
    pub skipped: bool,
    /// Who held the partition's lock when skipped for that reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_by: Option<String>,
    /// Interrupted compactions rolled back before this one.
    pub recovered: usize,
    /// Earlier compactions whose replaced files were deleted (grace over).
    pub cleaned: usize,
    /// When this compaction's replaced files may go (Unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_after_unix_ms: Option<i64>,
    /// How the memory budget was spent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<MergePlan>,
    /// Merge levels (1: every input at once).
    pub merge_levels: usize,
    /// N-gram indexes built for files left as they were that had none (or an outdated one).
    pub indexes_built: usize,
}

/// Reads a whole Parquet file of the lake into batches of the file schema (the consumer's
/// dedup loads a flush's uids with it).
pub async fn read_file(store: &dyn ObjectStore, path: &Path) -> Result<Vec<RecordBatch>> {
    let bytes = store
        .get(path)
        .await
        .map_err(|e| Error::store(path.to_string(), e))?
        .bytes()
        .await
        .map_err(|e| Error::store(path.to_string(), e))?;
    let label = path.to_string();
    tokio::task::spawn_blocking(move || {
        let perr = |source| Error::Parquet {
            partition: label.clone(),
            source,
        };
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .map_err(perr)?
            .with_batch_size(64 * 1024)
            .build()
            .map_err(perr)?;
        reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(Error::from)
    })
    .await
    .map_err(|e| Error::Other(format!("parquet reader failed: {e}")))?
}

/// Compacts one partition with the default options; when it switched, the replaced files are
/// deleted by a background task after the grace period (or by the next compaction, should
/// this process exit first).
pub async fn compact_partition(
    lake: &Lake,
    tenant: &str,
    date: NaiveDate,
    min_files: usize,
) -> Result<CompactSummary> {
    let opts = CompactOptions {
        min_files,
        ..Default::default()
    };
    let s = compact_partition_with(lake, tenant, date, &opts).await?;
    if let Some(at) = s.delete_after_unix_ms {
        let (lake, tenant, ttl) = (lake.clone(), tenant.to_string(), opts.lock_ttl);
        tokio::spawn(async move {
            tokio::time::sleep(until(at)).await;
            if let Err(e) = cleanup_partition(&lake, &tenant, date, ttl).await {
                tracing::warn!(%tenant, %date, error = %e.chain(": "), "deferred cleanup failed; the next compaction retries");
            }
        });
    }
    Ok(s)
}

/// Time from now until a Unix-ms instant (zero when past), with a little slack for clocks.
pub fn until(unix_ms: i64) -> Duration {
    Duration::from_millis((unix_ms - now_ms()).max(0) as u64 + 50)
}

/// Compacts one partition unless another compactor holds it (then `skipped`, `locked_by`).
pub async fn compact_partition_with(
    lake: &Lake,
    tenant: &str,
    date: NaiveDate,
    o: &CompactOptions,
) -> Result<CompactSummary> {
    let start = Instant::now();
    let mut summary = CompactSummary {
        tenant: tenant.into(),
        date: date.to_string(),
        ..Default::default()
    };
    let guard = match lock::acquire(lake, tenant, date, o.lock_ttl).await? {
        Acquired::Held(g) => *g,
        Acquired::Busy { holder, .. } => {
            tracing::info!(tenant, %date, %holder, "partition is being compacted; skipped");
            summary.skipped = true;
            summary.locked_by = Some(holder);
            return Ok(summary);
        }
    };
    let r = compact_locked(lake, tenant, date, o, &guard, &mut summary).await;
    // Released on every path: what an error leaves behind is what recovery handles.
    let released = guard.release().await;
    r?;
    released?;
    summary.elapsed_ms = start.elapsed().as_millis();
    Ok(summary)
}

/// What tidying a partition did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tidy {
    pub recovered: usize,
    pub cleaned: usize,
    /// The earliest grace period still running (Unix ms).
    pub waiting_until: Option<i64>,
}

/// Deletes what compactions whose grace period is over replaced, and rolls back interrupted
/// ones; under the partition's lock (None: someone else holds it and will).
pub async fn cleanup_partition(
    lake: &Lake,
    tenant: &str,
    date: NaiveDate,
    lock_ttl: Duration,
) -> Result<Option<Tidy>> {
    let guard = match lock::acquire(lake, tenant, date, lock_ttl).await? {
        Acquired::Held(g) => *g,
        Acquired::Busy { .. } => return Ok(None),
    };
    let r = tidy(lake, tenant, date, lock_ttl).await;
    let released = guard.release().await;
    let t = r?;
    released?;
    Ok(Some(t))
}

async fn list(store: &dyn ObjectStore, prefix: &Path) -> Result<Vec<ObjectMeta>> {
    store
        .list(Some(prefix))
        .try_collect()
        .await
        .map_err(|e| Error::store(prefix.to_string(), e))
}

fn to_json(t: &Tombstone) -> Result<Vec<u8>> {
    serde_json::to_vec(t).map_err(|e| Error::json("a compaction tombstone", e))
}

async fn read_tomb(cas: &Cas) -> Result<Option<(Tombstone, Version)>> {
    match cas.read().await? {
        None => Ok(None),
        Some((b, v)) => {
            let t = listing::parse_tombstone(cas.path(), &b)
                .map_err(|e| Error::store(cas.path().to_string(), e))?;
            Ok(Some((t, v)))
        }
    }
}

/// Deletes `files` (names in `prefix`), then the tombstone: in that order, so a reader never
/// sees files without the tombstone that hides them.
async fn drop_files_then(
    store: &dyn ObjectStore,
    prefix: &Path,
    files: &[String],
    tomb: &Path,
) -> Result<()> {
    for f in files {
        let data = prefix.clone().join(f.as_str());
        delete_if_present(store, &data).await?;
        if let Some(ix) = grams::index_path(&data) {
            delete_if_present(store, &ix).await?;
        }
    }
    delete_if_present(store, tomb).await
}

/// Under the lock: every pending tombstone belongs to a holder whose lock lapsed, so it is
/// swapped to aborted (the swap its holder's commit races) and rolled back; committed ones
/// past their grace period lose their replaced files, oldest chain link first; leftover merge
/// runs are removed.
async fn tidy(lake: &Lake, tenant: &str, date: NaiveDate, lock_ttl: Duration) -> Result<Tidy> {
    let store = lake.store().as_ref();
    let prefix = layout::partition_prefix(lake, tenant, date);
    let listing = list(store, &prefix).await?;
    // A local swap killed between its staging write and its rename leaves a hidden staging
    // file; no reader lists it, and under the lock no swap of ours is in flight.
    for m in &listing {
        let n = name(&m.location);
        if n.starts_with(&format!(".{TOMBSTONE_PREFIX}")) && n.ends_with(".tmp") {
            delete_if_present(store, &m.location).await?;
        }
    }
    let mut paths: Vec<Path> = listing
        .into_iter()
        .map(|m| m.location)
        .filter(is_tombstone)
        .collect();
    paths.sort();
    let mut out = Tidy::default();
    let mut committed: Vec<(Path, Tombstone)> = Vec::new();
    for p in paths {
        let cas = Cas::new(lake, p.clone(), tenant, date);
        // A pending swap can race its holder's commit: re-read until a final state.
        let mut t = None;
        for _ in 0..4 {
            let Some((doc, v)) = read_tomb(&cas).await? else {
                break;
            };
            if doc.state != Some(State::Pending) {
                t = Some(doc);
                break;
            }
            let aborted = Tombstone {
                state: Some(State::Aborted),
                ..doc.clone()
            };
            if cas.swap(Some(&v), to_json(&aborted)?).await?.is_some() {
                tracing::warn!(tomb = %p, holder = %doc.holder, "aborted a compaction whose lock lapsed");
                t = Some(aborted);
                break;
            }
        }
        let Some(t) = t else { continue };
        match t.state {
            Some(State::Committed) => committed.push((p, t)),
            Some(State::Aborted) | Some(State::Pending) => {
                drop_files_then(store, &prefix, &t.by, &p).await?;
                out.recovered += 1;
            }
            None => {
                // An older auditlake's tombstone: its switch was the last new file.
                let present: std::collections::HashSet<String> = list(store, &prefix)
                    .await?
                    .iter()
                    .map(|m| name(&m.location))
                    .collect();
                let complete = t.by.iter().all(|b| present.contains(b));
                let doomed = if complete { &t.replaces } else { &t.by };
                drop_files_then(store, &prefix, doomed, &p).await?;
                out.recovered += 1;
            }
        }
    }
    // A compaction's replaced files may be another's new files: delete a link only when no
    // remaining tombstone still names them as new, or that one's readers would lose them.
    let now = now_ms();
    loop {
        let pos = committed.iter().position(|(_, t)| {
            t.delete_after_unix_ms.unwrap_or(0) <= now
                && !committed
                    .iter()
                    .any(|(_, o)| o.by.iter().any(|b| t.replaces.contains(b)))
        });
        let Some(i) = pos else { break };
        let (p, t) = committed.remove(i);
        drop_files_then(store, &prefix, &t.replaces, &p).await?;
        out.cleaned += 1;
    }
    out.waiting_until = committed
        .iter()
        .filter_map(|(_, t)| t.delete_after_unix_ms)
        .min();
    let runs = lock::partition_dir(lake, tenant, date).join("runs");
    for m in list(store, &runs).await? {
        delete_if_present(store, &m.location).await?;
    }
    // A run whose upload was killed midway is a local staging file (`….parquet#1`) that the
    // store's listing hides; only compactions write under runs/, and we hold the lock.
    if lake.is_local() {
        let dir = std::path::PathBuf::from(lake.display()).join(runs.as_ref());
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.path().is_file() {
                    std::fs::remove_file(e.path())
                        .map_err(|err| Error::io("remove", e.path(), err))?;
                }
            }
        }
    }
    // A local put or upload killed midway leaves a staging file (`….parquet#1`,
    // `_grams-….bin#1`) that the listing hides. Compactions of this partition are excluded by
    // the lock we hold, but an ingest is not: a staging file is removed only once nothing has
    // written to it for half a lock's lifetime (a live writer writes every part within
    // seconds; the lock lives a minute by default).
    if lake.is_local() {
        let dir = std::path::PathBuf::from(lake.display()).join(prefix.as_ref());
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                let staging = n.contains(".parquet#")
                    || (n.starts_with(grams::PREFIX) && n.contains(".bin#"));
                let idle = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= lock_ttl / 2);
                if staging && idle {
                    std::fs::remove_file(e.path())
                        .map_err(|err| Error::io("remove", e.path(), err))?;
                }
            }
        }
    }
    // An n-gram index is written after its data file and deleted with it, so one whose file
    // is gone was left by a crash between the two deletions: it only takes space.
    let listing = list(store, &prefix).await?;
    let names: std::collections::HashSet<String> =
        listing.iter().map(|m| name(&m.location)).collect();
    for m in &listing {
        if grams::is_index(&m.location)
            && grams::data_name(&m.location).is_some_and(|d| !names.contains(&d))
        {
            delete_if_present(store, &m.location).await?;
        }
    }
    Ok(out)
}

/// Builds the n-gram index of every live file that has no current one (none, or one older
/// than its file, which readers ignore): a lake written before indexes existed gets them from
/// its next `compact`, partitions with nothing to merge included. Under the partition's lock,
/// so no compaction replaces a file meanwhile; one file's `event_data` streamed at a time.
async fn build_missing_indexes(
    store: &Arc<dyn ObjectStore>,
    listing: &[ObjectMeta],
    live: Vec<ObjectMeta>,
) -> Result<usize> {
    let indexes: std::collections::HashMap<String, &ObjectMeta> = listing
        .iter()
        .filter(|m| grams::is_index(&m.location))
        .filter_map(|m| Some((grams::data_name(&m.location)?, m)))
        .collect();
    let missing: Vec<ObjectMeta> = live
        .into_iter()
        .filter(|m| {
            indexes
                .get(&name(&m.location))
                .is_none_or(|ix| ix.last_modified < m.last_modified)
        })
        .collect();
    let mut built = 0;
    for m in missing {
        let path = m.location.clone();
        // A file that cannot be read is the query's error to report, not this one's: the
        // partition stays as it was, unindexed.
        let index = async {
            let inputs = merge::open(store, vec![m]).await?;
            merge::build_index(store, &inputs[0]).await
        }
        .await;
        match index {
            Ok(index) => {
                if writer::put_index(store.as_ref(), &path, index).await {
                    tracing::info!(file = %path, "built a missing n-gram index");
                    built += 1;
                }
            }
            Err(e) => {
                tracing::warn!(file = %path, error = %e.chain(": "), "could not build the n-gram index; LIKE reads the file whole")
            }
        }
    }
    Ok(built)
}

async fn compact_locked(
    lake: &Lake,
    tenant: &str,
    date: NaiveDate,
    o: &CompactOptions,
    guard: &LockGuard,
    summary: &mut CompactSummary,
) -> Result<()> {
    let store = lake.store().clone();
    let prefix = layout::partition_prefix(lake, tenant, date);
    let t = tidy(lake, tenant, date, o.lock_ttl).await?;
    summary.recovered = t.recovered;
    summary.cleaned = t.cleaned;
    let listing = list(store.as_ref(), &prefix).await?;
    let mut live = live_files(store.as_ref(), listing.clone())
        .await
        .map_err(|e| Error::store(prefix.to_string(), e))?;
    // Oldest file first (UUIDv7 names sort by write time), so the first copy of a uid wins.
    live.sort_by(|a, b| a.location.cmp(&b.location));
    summary.files_before = live.len();
    summary.bytes_before = live.iter().map(|m| m.size).sum();
    if live.len() < o.min_files.max(1) {
        summary.skipped = true;
        summary.files_after = live.len();
        summary.indexes_built = build_missing_indexes(&store, &listing, live).await?;
        return Ok(());
    }
    let inputs = merge::open(&store, live).await?;
    summary.rows_before = inputs.iter().map(|i| i.rows() as usize).sum();
    let plan = merge::plan(&inputs, o.memory_budget)?;
    summary.plan = Some(plan);
    let drops = merge::duplicates(&store, &inputs, plan.dedup_passes).await?;
    summary.duplicates_removed = drops.iter().map(Vec::len).sum();
    let rows_after = summary.rows_before - summary.duplicates_removed;
    let target = o.target_rows.max(1);
    let new_paths: Vec<Path> = (0..rows_after.div_ceil(target))
        .map(|_| layout::new_file_path(lake, tenant, date))
        .collect();

    let tomb_path = prefix
        .clone()
        .join(format!("{TOMBSTONE_PREFIX}{}.json", uuid::Uuid::now_v7()));
    let cas = Cas::new(lake, tomb_path.clone(), tenant, date);
    let pending = Tombstone {
        by: new_paths.iter().map(name).collect(),
        replaces: inputs.iter().map(|i| name(&i.meta.location)).collect(),
        state: Some(State::Pending),
        holder: guard.holder().to_string(),
        delete_after_unix_ms: None,
    };
    let Some(version) = cas.swap(None, to_json(&pending)?).await? else {
        return Err(Error::Other(format!("{tomb_path} exists already")));
    };
    let label = format!("{tenant}/{date}");
    let written = match merge_levels(
        lake, tenant, date, inputs, drops, plan, &new_paths, target, o, guard, &label, summary,
    )
    .await
    {
        Ok(w) => w,
        Err(e) => {
            abort_own(store.as_ref(), &prefix, &cas, &version, &pending).await;
            return Err(e);
        }
    };
    // A successful renewal proves nobody took the lock since the pending tombstone was put, so
    // whoever takes it later lists that tombstone and can only abort it by the swap that this
    // commit races: one of the two wins, never both.
    if !guard.renew().await? {
        abort_own(store.as_ref(), &prefix, &cas, &version, &pending).await;
        return Err(Error::LockLost(format!(
            "{label}: the compaction lock lapsed while merging; nothing was switched (raise --lock-ttl?)"
        )));
    }
    let delete_after = now_ms() + o.grace.as_millis() as i64;
    let committed = Tombstone {
        state: Some(State::Committed),
        delete_after_unix_ms: Some(delete_after),
        ..pending.clone()
    };
    if cas
        .swap(Some(&version), to_json(&committed)?)
        .await?
        .is_none()
    {
        abort_own(store.as_ref(), &prefix, &cas, &version, &pending).await;
        return Err(Error::LockLost(format!(
            "{label}: another compactor aborted this compaction (its lock had lapsed); nothing was switched"
        )));
    }
    summary.files_after = written.len();
    summary.rows_after = written.iter().map(|w| w.0).sum();
    summary.bytes_after = written.iter().map(|w| w.1).sum();
    tracing::info!(
        tenant,
        %date,
        files_before = summary.files_before,
        files_after = summary.files_after,
        duplicates = summary.duplicates_removed,
        merge_levels = summary.merge_levels,
        "compacted partition"
    );
    if o.grace.is_zero() {
        summary.cleaned += tidy(lake, tenant, date, o.lock_ttl).await?.cleaned;
    } else {
        summary.delete_after_unix_ms = Some(delete_after);
    }
    Ok(())
}

/// Rolls back our own compaction (best effort: what fails here, recovery finishes later).
async fn abort_own(store: &dyn ObjectStore, prefix: &Path, cas: &Cas, v: &Version, t: &Tombstone) {
    let aborted = Tombstone {
        state: Some(State::Aborted),
        ..t.clone()
    };
    let r = async {
        // Lost the swap: a recoverer aborted it already. Either way it is aborted now.
        cas.swap(Some(v), to_json(&aborted)?).await?;
        drop_files_then(store, prefix, &t.by, cas.path()).await
    }
    .await;
    if let Err(e) = r {
        tracing::warn!(tomb = %cas.path(), error = %e.chain(": "), "cannot roll back; the next compaction will");
    }
}

/// Merges the inputs into `new_paths`, in levels of `plan.fan_in` files when they do not fit
/// the budget at once (runs under `_compact/{tenant}/{date}/runs/`, removed as consumed),
/// stopping before each merge once the lock lapsed.
#[allow(clippy::too_many_arguments)]
async fn merge_levels(
    lake: &Lake,
    tenant: &str,
    date: NaiveDate,
    inputs: Vec<Input>,
    drops: Vec<Vec<u32>>,
    plan: MergePlan,
    new_paths: &[Path],
    target: usize,
    o: &CompactOptions,
    guard: &LockGuard,
    label: &str,
    summary: &mut CompactSummary,
) -> Result<merge::Written> {
    let store: Arc<dyn ObjectStore> = lake.store().clone();
    let props = writer::properties(&WriterOptions::default());
    let levels = merge::Levels {
        dir: lock::partition_dir(lake, tenant, date).join("runs"),
        props: props.clone(),
        budget: o.memory_budget,
        max_fan_in: o.max_fan_in,
        strict: true,
    };
    let sink = Sink {
        store: &store,
        paths: new_paths,
        rows_per_file: target,
        props,
        index: true,
    };
    let check = || {
        if guard.lost() {
            Err(Error::LockLost(format!(
                "{label}: the compaction lock lapsed while merging"
            )))
        } else {
            Ok(())
        }
    };
    let (written, depth) =
        merge::merge_levels(&store, inputs, drops, plan, &levels, sink, label, &check).await?;
    summary.merge_levels = depth;
    Ok(written)
}

/// Partitions of the lake (optionally one tenant, one date) as (tenant, date).
pub async fn partitions(
    lake: &Lake,
    tenant: Option<&str>,
    date: Option<NaiveDate>,
) -> Result<Vec<(String, NaiveDate)>> {
    let store = lake.store();
    let dirs = |p: Path| async move {
        let r = store
            .list_with_delimiter(Some(&p))
            .await
            .map_err(|e| Error::store(p.to_string(), e))?;
        Ok::<_, Error>(
            r.common_prefixes
                .iter()
                .filter_map(|c| c.filename().map(str::to_string))
                .collect::<Vec<_>>(),
        )
    };
    let tenants = match tenant {
        Some(t) => vec![t.to_string()],
        None => dirs(layout::data_prefix(lake)).await?,
    };
    let mut out = Vec::new();
    for t in tenants.into_iter().filter(|t| crate::tenant::valid(t)) {
        for d in dirs(layout::tenant_prefix(lake, &t)).await? {
            if let Some(day) = layout::parse_date(&d)
                && date.is_none_or(|want| want == day)
            {
                out.push((t.clone(), day));
            }
        }
    }
    out.sort();
    Ok(out)
}
