//! `auditlake sync`: copies a tenant's partitions for a date range from one lake (usually S3)
//! to another (usually a laptop directory) for offline investigations — in parallel, resumable
//! (a file already present with the same size and ETag is skipped), each file verified (its
//! Parquet footer must parse) before it becomes visible. A data file's n-gram index
//! (`lake::grams`) comes with it, verified too and written after it (an index older than its
//! file is ignored); an index that fails to arrive or to verify is a warning, not a failure:
//! offline `LIKE` then reads that file whole.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::NaiveDate;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::{Lake, grams, layout};

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
    /// N-gram indexes copied (beside the data files; not counted in `fetched_files`).
    pub fetched_indexes: usize,
    /// Indexes the source has that did not arrive or did not verify (see the warnings).
    pub failed_indexes: usize,
}

/// `_sync/manifest.json` in the destination: source ETag and size of every file copied, so a
/// resumed or repeated run skips what it already has.
const MANIFEST: &str = "_sync/manifest.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    files: BTreeMap<String, (u64, Option<String>)>,
}

/// The days of `since..=until` that have a partition directory in `lake`, in order, from one
/// listing of the tenant's directory rather than one per day of the range: `--since
/// 1900-01-01` is a call (paginated by the store), not 45,000.
async fn partition_days(
    lake: &Lake,
    tenant: &str,
    since: chrono::NaiveDate,
    until: chrono::NaiveDate,
) -> Result<Vec<chrono::NaiveDate>> {
    let prefix = layout::tenant_prefix(lake, tenant);
    let listed = match lake.store().list_with_delimiter(Some(&prefix)).await {
        Ok(l) => l,
        // No directory of the tenant yet (a first sync's destination): no days.
        Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Store {
                path: prefix.to_string(),
                source: e,
            });
        }
    };
    let mut days: Vec<chrono::NaiveDate> = listed
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().and_then(layout::parse_date))
        .filter(|d| (since..=until).contains(d))
        .collect();
    days.sort();
    days.dedup();
    Ok(days)
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

/// The relative path of the data file an index belongs to.
fn data_rel(lake: &Lake, index: &Path) -> Option<String> {
    let r = rel(lake, index);
    let (dir, _) = r.rsplit_once('/')?;
    Some(format!("{dir}/{}", grams::data_name(index)?))
}

/// One unit of download: a data file and/or its index (the index always after the file).
struct Job {
    /// The data file's relative path.
    rel: String,
    /// Its source object, when the file itself is to be fetched.
    data: Option<ObjectMeta>,
    /// Its index's source object and relative path, when that is to be fetched.
    index: Option<(ObjectMeta, String)>,
}

/// What a job brought: the data file's bytes, and whether its index arrived.
#[derive(Default)]
struct Fetched {
    data: Option<u64>,
    index: Option<bool>,
}

async fn fetch(src: &Lake, m: &ObjectMeta) -> Result<Bytes> {
    let err = |e| Error::Store {
        path: m.location.to_string(),
        source: e,
    };
    src.store()
        .get(&m.location)
        .await
        .map_err(err)?
        .bytes()
        .await
        .map_err(err)
}

async fn put(dst: &Lake, r: &str, bytes: Bytes) -> Result<()> {
    dst.store()
        .put(&dst.path(r), PutPayload::from(bytes))
        .await
        .map_err(|e| Error::Store {
            path: r.to_string(),
            source: e,
        })?;
    Ok(())
}

/// Copies one index once it verifies: bounded in size, well-formed, and for a file of the
/// size the local copy of its data file (`data`) has.
async fn copy_index(src: &Lake, dst: &Lake, im: &ObjectMeta, ir: &str, data: &str) -> Result<()> {
    if im.size > grams::MAX_INDEX_BYTES {
        return Err(Error::Other(format!(
            "{ir} is {} bytes, over the {} an index may have",
            im.size,
            grams::MAX_INDEX_BYTES
        )));
    }
    let bytes = fetch(src, im).await?;
    let data_size = dst
        .store()
        .head(&dst.path(data))
        .await
        .map_err(|e| Error::Store {
            path: data.to_string(),
            source: e,
        })?
        .size;
    grams::Index::parse(&bytes)
        .and_then(|i| i.check_size(data_size))
        .map_err(|e| Error::Other(format!("{ir}: {e}")))?;
    put(dst, ir, bytes).await
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
    // List the tenant's partitions in range: the days that have one, then each of those.
    let mut files: Vec<ObjectMeta> = Vec::new();
    // The source's indexes, by their data file's relative path.
    let mut indexes: std::collections::HashMap<String, ObjectMeta> = Default::default();
    let mut partitions = 0;
    for day in partition_days(src, &opts.tenant, opts.since, until).await? {
        let (prefix, metas) = list_partition(src, &opts.tenant, day).await?;
        for m in metas.iter().filter(|m| grams::is_index(&m.location)) {
            if let Some(data) = data_rel(src, &m.location) {
                indexes.insert(data, m.clone());
            }
        }
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
    }
    let manifest = Arc::new(Mutex::new(load_manifest(dst).await?));
    let mut summary = SyncSummary {
        partitions,
        ..Default::default()
    };
    let mut todo: Vec<Job> = Vec::new();
    let wanted: std::collections::HashSet<String> =
        files.iter().map(|m| rel(src, &m.location)).collect();
    for m in files {
        let r = rel(src, &m.location);
        let fresh = |r: &str, m: &ObjectMeta| {
            let man = manifest.lock().expect("manifest lock");
            man.files
                .get(r)
                .is_some_and(|(size, etag)| *size == m.size && *etag == m.e_tag)
        };
        let present = |r: String, size: u64| async move {
            dst.store()
                .head(&dst.path(&r))
                .await
                .is_ok_and(|local| local.size == size)
        };
        let data_ok = fresh(&r, &m) && present(r.clone(), m.size).await;
        let index = match indexes.remove(&r) {
            Some(im) => {
                let ir = rel(src, &im.location);
                // A refetched data file is newer than the index beside it: fetch that again.
                let ok = data_ok && fresh(&ir, &im) && present(ir.clone(), im.size).await;
                (!ok).then_some((im, ir))
            }
            None => None,
        };
        if data_ok {
            summary.skipped_files += 1;
        }
        if !data_ok || index.is_some() {
            todo.push(Job {
                data: (!data_ok).then_some(m),
                rel: r,
                index,
            });
        }
    }
    let total: u64 = todo
        .iter()
        .flat_map(|j| j.data.iter().chain(j.index.iter().map(|(m, _)| m)))
        .map(|m| m.size)
        .sum();
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
    let results: Vec<Result<Fetched>> = futures::stream::iter(todo)
        .map(|job| {
            let manifest = manifest.clone();
            let bar = bar.clone();
            async move {
                let mut got = Fetched::default();
                let r = job.rel;
                if let Some(m) = job.data {
                    let bytes = fetch(src, &m).await?;
                    // Verify before the file becomes visible: a truncated copy must not be queried.
                    parquet::file::metadata::ParquetMetaDataReader::new()
                        .parse_and_finish(&bytes)
                        .map_err(|e| Error::Parquet {
                            partition: r.clone(),
                            source: e,
                        })?;
                    let n = bytes.len() as u64;
                    put(dst, &r, bytes).await?;
                    manifest
                        .lock()
                        .expect("manifest lock")
                        .files
                        .insert(r.clone(), (m.size, m.e_tag.clone()));
                    bar.inc(n);
                    got.data = Some(n);
                }
                if let Some((im, ir)) = job.index {
                    // After its data file: the reader ignores an index older than its file.
                    match copy_index(src, dst, &im, &ir, &r).await {
                        Ok(()) => {
                            manifest
                                .lock()
                                .expect("manifest lock")
                                .files
                                .insert(ir, (im.size, im.e_tag.clone()));
                            got.index = Some(true);
                        }
                        Err(e) => {
                            tracing::warn!(index = %ir, error = %e, "n-gram index not copied; offline LIKE reads its file whole");
                            got.index = Some(false);
                        }
                    }
                    bar.inc(im.size);
                }
                Ok(got)
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
        let got = r?;
        if let Some(n) = got.data {
            summary.fetched_files += 1;
            summary.fetched_bytes += n;
        }
        match got.index {
            Some(true) => summary.fetched_indexes += 1,
            Some(false) => summary.failed_indexes += 1,
            None => {}
        }
    }
    // Mirror: a file the source no longer lists (a compaction there replaced it) would double
    // its rows offline. Only once everything new has arrived.
    for day in partition_days(dst, &opts.tenant, opts.since, until).await? {
        let (_, local) = list_partition(dst, &opts.tenant, day).await?;
        for m in local {
            // A data file, or an index, whose data file the source no longer lists.
            let (data, is_data) = if layout::is_data_file(&m.location) {
                (rel(dst, &m.location), true)
            } else if grams::is_index(&m.location) {
                match data_rel(dst, &m.location) {
                    Some(d) => (d, false),
                    None => continue,
                }
            } else {
                continue;
            };
            if !wanted.contains(&data) {
                dst.store()
                    .delete(&m.location)
                    .await
                    .map_err(|e| Error::Store {
                        path: rel(dst, &m.location),
                        source: e,
                    })?;
                summary.removed_files += usize::from(is_data);
            }
        }
    }
    Ok(summary)
}
