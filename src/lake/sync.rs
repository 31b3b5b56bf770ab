//! `auditlake sync`: copies a tenant's partitions for a date range from one lake (usually S3)
//! to another (usually a laptop directory) for offline investigations — in parallel, resumable
//! (a file already present with the same size and ETag is skipped), each file verified (its
//! Parquet footer must parse) before it becomes visible.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::NaiveDate;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::{Lake, layout};

/// Files downloaded at once by default.
pub const DEFAULT_PARALLEL: usize = 8;

/// What to copy.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub tenant: String,
    pub since: NaiveDate,
    /// Inclusive; today when unset.
    pub until: Option<NaiveDate>,
    /// Files downloaded at once.
    pub parallel: usize,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncSummary {
    pub partitions: usize,
    pub fetched_files: usize,
    pub fetched_bytes: u64,
    pub skipped_files: usize,
    /// Local files the source no longer has (replaced by a compaction there), removed.
    pub removed_files: usize,
}

/// `_sync/manifest.json` in the destination: source ETag and size of every file copied, so a
/// resumed or repeated run skips what it already has.
const MANIFEST: &str = "_sync/manifest.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    files: BTreeMap<String, (u64, Option<String>)>,
}

/// Every object of one partition of a lake, with the partition's prefix.
async fn list_partition(
    lake: &Lake,
    tenant: &str,
    day: chrono::NaiveDate,
) -> Result<(Path, Vec<ObjectMeta>)> {
    let prefix = layout::partition_prefix(lake, tenant, day);
    let metas = lake
        .store()
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| Error::Store {
            path: prefix.to_string(),
            source: e,
        })?;
    Ok((prefix, metas))
}

fn rel(src: &Lake, p: &Path) -> String {
    let root: Vec<String> = src.root().parts().map(|x| x.as_ref().to_string()).collect();
    let parts: Vec<String> = p.parts().map(|x| x.as_ref().to_string()).collect();
    parts[root.len().min(parts.len())..].join("/")
}

async fn load_manifest(dst: &Lake) -> Result<Manifest> {
    let path = dst.path(MANIFEST);
    match dst.store().get(&path).await {
        Ok(r) => {
            let b = r.bytes().await.map_err(|e| Error::Store {
                path: path.to_string(),
                source: e,
            })?;
            Ok(serde_json::from_slice(&b).unwrap_or_default())
        }
        Err(object_store::Error::NotFound { .. }) => Ok(Manifest::default()),
        Err(e) => Err(Error::Store {
            path: path.to_string(),
            source: e,
        }),
    }
}

async fn save_manifest(dst: &Lake, m: &Manifest) -> Result<()> {
    let path = dst.path(MANIFEST);
    let body = serde_json::to_vec_pretty(m).map_err(|e| Error::json("the sync manifest", e))?;
    dst.store()
        .put(&path, PutPayload::from(Bytes::from(body)))
        .await
        .map_err(|e| Error::Store {
            path: path.to_string(),
            source: e,
        })?;
    Ok(())
}

/// Copies the partitions; safe to interrupt and run again.
pub async fn sync(src: &Lake, dst: &Lake, opts: &SyncOptions) -> Result<SyncSummary> {
    crate::tenant::check(&opts.tenant)?;
    let until = opts
        .until
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    if until < opts.since {
        return Err(Error::Config(format!(
            "--until {until} is before --since {}",
            opts.since
        )));
    }
    // List the tenant's partitions in range (one listing per day, so a year is 365 small calls).
    let mut files: Vec<ObjectMeta> = Vec::new();
    let mut partitions = 0;
    let mut day = opts.since;
    while day <= until {
        let (prefix, metas) = list_partition(src, &opts.tenant, day).await?;
        // Only the files a reader would read: a compaction in progress shows one side.
        let metas = crate::lake::listing::live_files(src.store().as_ref(), metas)
            .await
            .map_err(|e| Error::Store {
                path: prefix.to_string(),
                source: e,
            })?;
        if !metas.is_empty() {
            partitions += 1;
        }
        files.extend(metas);
        day = day.succ_opt().expect("dates before year 262143");
    }
    let manifest = Arc::new(Mutex::new(load_manifest(dst).await?));
    let mut summary = SyncSummary {
        partitions,
        ..Default::default()
    };
    let mut todo = Vec::new();
    let wanted: std::collections::HashSet<String> =
        files.iter().map(|m| rel(src, &m.location)).collect();
    for m in files {
        let r = rel(src, &m.location);
        let have = {
            let man = manifest.lock().expect("manifest lock");
            man.files.get(&r).cloned()
        };
        let present = match dst.store().head(&dst.path(&r)).await {
            Ok(local) => local.size == m.size,
            Err(_) => false,
        };
        if present && have.is_some_and(|(size, etag)| size == m.size && etag == m.e_tag) {
            summary.skipped_files += 1;
        } else {
            todo.push((m, r));
        }
    }
    let total: u64 = todo.iter().map(|(m, _)| m.size).sum();
    let bar = if opts.progress {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let results: Vec<Result<u64>> = futures::stream::iter(todo)
        .map(|(m, r)| {
            let manifest = manifest.clone();
            let bar = bar.clone();
            async move {
                let bytes = src
                    .store()
                    .get(&m.location)
                    .await
                    .map_err(|e| Error::Store {
                        path: m.location.to_string(),
                        source: e,
                    })?
                    .bytes()
                    .await
                    .map_err(|e| Error::Store {
                        path: m.location.to_string(),
                        source: e,
                    })?;
                // Verify before the file becomes visible: a truncated copy must not be queried.
                parquet::file::metadata::ParquetMetaDataReader::new()
                    .parse_and_finish(&bytes)
                    .map_err(|e| Error::Parquet {
                        partition: r.clone(),
                        source: e,
                    })?;
                let n = bytes.len() as u64;
                dst.store()
                    .put(&dst.path(&r), PutPayload::from(bytes))
                    .await
                    .map_err(|e| Error::Store {
                        path: r.clone(),
                        source: e,
                    })?;
                manifest
                    .lock()
                    .expect("manifest lock")
                    .files
                    .insert(r, (m.size, m.e_tag.clone()));
                bar.inc(n);
                Ok(n)
            }
        })
        .buffer_unordered(opts.parallel.max(1))
        .collect()
        .await;
    bar.finish_and_clear();
    // Record what did arrive even when something failed, so the rerun resumes from there.
    let m = std::mem::take(&mut *manifest.lock().expect("manifest lock"));
    save_manifest(dst, &m).await?;
    for r in results {
        let n = r?;
        summary.fetched_files += 1;
        summary.fetched_bytes += n;
    }
    // Mirror: a file the source no longer lists (a compaction there replaced it) would double
    // its rows offline. Only once everything new has arrived.
    let mut day = opts.since;
    while day <= until {
        let (_, local) = list_partition(dst, &opts.tenant, day).await?;
        for m in local
            .into_iter()
            .filter(|m| layout::is_data_file(&m.location))
        {
            let r = rel(dst, &m.location);
            if !wanted.contains(&r) {
                dst.store()
                    .delete(&m.location)
                    .await
                    .map_err(|e| Error::Store {
                        path: r.clone(),
                        source: e,
                    })?;
                summary.removed_files += 1;
            }
        }
        day = day.succ_opt().expect("dates before year 262143");
    }
    Ok(summary)
}
