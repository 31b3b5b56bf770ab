//! Compaction: a partition's small files → well-sized sorted files with one row per `uid`. The
//! switch readers see is the tombstone protocol of [`super::listing`].

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use arrow::array::{Array, BooleanArray, RecordBatch, StringArray};
use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

use super::listing::{TOMBSTONE_PREFIX, Tombstone, is_tombstone, live_files, name, read_tombstone};
use super::writer::{self, WriterOptions};
use super::{Lake, layout};
use crate::error::{Error, Result};
use crate::schema;

/// Rows per compacted file: large enough for few files a day, small enough to encode in
/// bounded memory.
pub const TARGET_ROWS: usize = 2_000_000;

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
    /// Nothing to do (one file already).
    pub skipped: bool,
}

/// Reads a whole Parquet file of the lake into batches of the file schema (compaction reads
/// every row anyway, so one GET and a synchronous decode beat ranged reads).
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

/// Keeps the first row of each `uid` across `batches` (in order).
pub fn dedup_by_uid(batches: Vec<RecordBatch>) -> Result<(Vec<RecordBatch>, usize)> {
    let uid_idx = schema::column_index("uid").expect("uid column");
    let mut seen: HashSet<String> = HashSet::new();
    let mut dropped = 0;
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        let uids = b
            .column(uid_idx)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| Error::Other("uid column is not a string column".into()))?;
        let keep: BooleanArray = (0..uids.len())
            .map(|i| {
                // A NULL or empty uid cannot be compared: keep the row.
                let k = uids.is_valid(i) && !uids.value(i).is_empty();
                Some(!k || seen.insert(uids.value(i).to_string()))
            })
            .collect();
        let kept = arrow::compute::filter_record_batch(&b, &keep)?;
        dropped += b.num_rows() - kept.num_rows();
        out.push(kept);
    }
    Ok((out, dropped))
}

/// Compacts one partition. `min_files`: do nothing when fewer live files than this.
pub async fn compact_partition(
    lake: &Lake,
    tenant: &str,
    date: NaiveDate,
    min_files: usize,
) -> Result<CompactSummary> {
    let start = Instant::now();
    let store = lake.store().clone();
    let prefix = layout::partition_prefix(lake, tenant, date);
    let serr = |e| Error::store(prefix.to_string(), e);
    let listing: Vec<ObjectMeta> = store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(serr)?;
    let mut summary = CompactSummary {
        tenant: tenant.into(),
        date: date.to_string(),
        ..Default::default()
    };
    // Finish or roll back a compaction that crashed half-way, before looking at live files.
    for t in listing.iter().filter(|m| is_tombstone(&m.location)) {
        recover(lake, &prefix, &listing, &t.location).await?;
    }
    let listing: Vec<ObjectMeta> = store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(serr)?;
    let mut live = live_files(store.as_ref(), listing).await.map_err(serr)?;
    live.sort_by(|a, b| a.location.cmp(&b.location));
    summary.files_before = live.len();
    summary.bytes_before = live.iter().map(|m| m.size).sum();
    if live.len() < min_files.max(1) || live.is_empty() {
        summary.skipped = true;
        summary.files_after = live.len();
        return Ok(summary);
    }

    // Oldest file first (UUIDv7 names sort by write time), so the first copy of a uid wins.
    let mut batches = Vec::new();
    for m in &live {
        batches.extend(read_file(store.as_ref(), &m.location).await?);
    }
    summary.rows_before = batches.iter().map(|b| b.num_rows()).sum();
    let (batches, dropped) = dedup_by_uid(batches)?;
    summary.duplicates_removed = dropped;
    let label = format!("{tenant}/{date}");
    let file_schema = schema::file_schema();
    let encoded = tokio::task::spawn_blocking(move || -> Result<Vec<(Vec<u8>, usize)>> {
        let all = arrow::compute::concat_batches(&file_schema, &batches)?;
        drop(batches);
        let sorted = writer::sort_batch(&all)?;
        drop(all);
        let mut out = Vec::new();
        let mut offset = 0;
        while offset < sorted.num_rows() {
            let len = TARGET_ROWS.min(sorted.num_rows() - offset);
            let part = sorted.slice(offset, len);
            out.push((
                writer::encode(&part, &WriterOptions::default(), &label)?,
                len,
            ));
            offset += len;
        }
        Ok(out)
    })
    .await
    .map_err(|e| Error::Other(format!("compaction encoder failed: {e}")))??;

    let new_paths: Vec<Path> = encoded
        .iter()
        .map(|_| layout::new_file_path(lake, tenant, date))
        .collect();
    let tomb = Tombstone {
        by: new_paths.iter().map(name).collect(),
        replaces: live.iter().map(|m| name(&m.location)).collect(),
    };
    let tomb_path = prefix
        .clone()
        .join(format!("{TOMBSTONE_PREFIX}{}.json", uuid::Uuid::now_v7()));
    let body = serde_json::to_vec(&tomb).map_err(|e| Error::json("a compaction tombstone", e))?;
    store
        .put(&tomb_path, PutPayload::from(body))
        .await
        .map_err(|e| Error::store(tomb_path.to_string(), e))?;
    for ((bytes, rows), path) in encoded.into_iter().zip(&new_paths) {
        summary.rows_after += rows;
        summary.bytes_after += bytes.len() as u64;
        store
            .put(path, PutPayload::from(bytes))
            .await
            .map_err(|e| Error::store(path.to_string(), e))?;
    }
    summary.files_after = new_paths.len();
    // The switch happened with the last PUT; now remove what readers no longer read.
    for m in &live {
        delete_if_present(store.as_ref(), &m.location).await?;
    }
    delete_if_present(store.as_ref(), &tomb_path).await?;
    summary.elapsed_ms = start.elapsed().as_millis();
    tracing::info!(
        tenant,
        %date,
        files_before = summary.files_before,
        files_after = summary.files_after,
        duplicates = summary.duplicates_removed,
        "compacted partition"
    );
    Ok(summary)
}

async fn delete_if_present(store: &dyn ObjectStore, p: &Path) -> Result<()> {
    match store.delete(p).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(Error::store(p.to_string(), e)),
    }
}

/// A tombstone left by a crashed compaction: if all its new files made it, finish (delete the
/// replaced files); otherwise roll back (delete the new files that made it). Then drop it.
async fn recover(lake: &Lake, prefix: &Path, listing: &[ObjectMeta], tomb: &Path) -> Result<()> {
    let store = lake.store();
    let t = match read_tombstone(store.as_ref(), tomb).await {
        Ok(t) => t,
        Err(object_store::Error::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(Error::store(tomb.to_string(), e)),
    };
    let present: HashMap<String, &ObjectMeta> =
        listing.iter().map(|m| (name(&m.location), m)).collect();
    let complete = t.by.iter().all(|b| present.contains_key(b));
    let doomed = if complete { &t.replaces } else { &t.by };
    for f in doomed {
        if let Some(m) = present.get(f) {
            delete_if_present(store.as_ref(), &m.location).await?;
        }
    }
    tracing::warn!(%prefix, complete, "recovered an interrupted compaction");
    delete_if_present(store.as_ref(), tomb).await
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
