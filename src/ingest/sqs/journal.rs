//! Exactly-once rows on at-least-once delivery: the flush journal (`_consumer/flushes/{id}.json`,
//! the files a flush is about to write) and the dedup window (uids written recently, bounded in
//! time by `dedup_window` and in size by `dedup_max_uids`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use arrow::array::{Array, StringArray};
use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::{Lake, compact, layout, writer};

/// Journal of flushes whose messages are not yet known deleted, relative to the lake root.
pub const JOURNAL_DIR: &str = "_consumer/flushes";

/// Journal entry: the files a flush is about to write.
#[derive(Debug, Serialize, Deserialize)]
pub struct JournalEntry {
    pub files: Vec<JournalFile>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct JournalFile {
    pub path: String,
    pub tenant: String,
}

impl JournalEntry {
    /// Writes the entry (durably: fsynced on a local lake) and returns its path.
    pub async fn write(&self, lake: &Lake) -> Result<Path> {
        let path = lake.path(&format!("{JOURNAL_DIR}/{}.json", uuid::Uuid::now_v7()));
        let body = serde_json::to_vec(self).map_err(|e| Error::json("a flush journal entry", e))?;
        lake.store()
            .put(&path, PutPayload::from(body))
            .await
            .map_err(|e| Error::store(path.to_string(), e))?;
        writer::sync_local(lake, &path)?;
        Ok(path)
    }
}

pub fn uid_hash(tenant: &str, uid: &str) -> u64 {
    // DefaultHasher::new() is deterministic within a build; hashes never leave the process.
    let mut h = std::hash::DefaultHasher::new();
    tenant.hash(&mut h);
    uid.hash(&mut h);
    h.finish()
}

/// uids (hashed with their tenant) written recently, to drop redelivered copies. Bounded: an
/// entry leaves after `window`, or earlier when more than `max` are held (oldest first).
pub struct Dedup {
    window: Duration,
    max: usize,
    /// hash → sequence number of its latest commit.
    seen: HashMap<u64, u64>,
    /// Commit order, for eviction; may hold stale entries of re-committed hashes.
    order: VecDeque<(Instant, u64, u64)>,
    seq: u64,
}

impl Dedup {
    pub fn new(window: Duration, max: usize) -> Self {
        Self {
            window,
            max: max.max(1),
            seen: HashMap::new(),
            order: VecDeque::new(),
            seq: 0,
        }
    }

    pub fn contains(&self, h: u64) -> bool {
        self.seen.contains_key(&h)
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    pub fn commit(&mut self, hashes: impl IntoIterator<Item = u64>) {
        let now = Instant::now();
        for h in hashes {
            self.seq += 1;
            self.seen.insert(h, self.seq);
            self.order.push_back((now, self.seq, h));
        }
        while let Some(&(t, seq, h)) = self.order.front() {
            if now.duration_since(t) < self.window && self.order.len() <= self.max {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&h) == Some(&seq) {
                self.seen.remove(&h);
            }
        }
    }

    pub fn commit_uids(&mut self, tenant: &str, batches: &[arrow::array::RecordBatch]) -> usize {
        let Some(uid_idx) = crate::schema::column_index("uid") else {
            return 0;
        };
        let mut hashes = Vec::new();
        for b in batches {
            if let Some(uids) = b.column(uid_idx).as_any().downcast_ref::<StringArray>() {
                for i in 0..uids.len() {
                    if uids.is_valid(i) {
                        hashes.push(uid_hash(tenant, uids.value(i)));
                    }
                }
            }
        }
        let n = hashes.len();
        self.commit(hashes);
        n
    }

    /// Loads the uids of files named by journal entries younger than the window (deleting older
    /// entries): the files a crashed leader wrote without knowing its messages were deleted.
    pub async fn load_in_doubt(&mut self, lake: &Lake) -> Result<usize> {
        let store = lake.store();
        let dir = lake.path(JOURNAL_DIR);
        let entries: Vec<_> = store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(|e| Error::store(dir.to_string(), e))?;
        let mut loaded = 0;
        let mut whole: HashSet<(String, NaiveDate)> = HashSet::new();
        for meta in entries {
            let age = chrono::Utc::now() - meta.last_modified;
            if age.to_std().unwrap_or_default() > self.window {
                let _ = store.delete(&meta.location).await;
                continue;
            }
            let bytes = match store.get(&meta.location).await {
                Ok(r) => r
                    .bytes()
                    .await
                    .map_err(|e| Error::store(meta.location.to_string(), e))?,
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(Error::store(meta.location.to_string(), e)),
            };
            let Ok(entry) = serde_json::from_slice::<JournalEntry>(&bytes) else {
                tracing::warn!(path = %meta.location, "ignoring an unreadable journal entry");
                continue;
            };
            for f in entry.files {
                let path = Path::from(f.path.as_str());
                let batches = match compact::read_file(store.as_ref(), &path).await {
                    Ok(b) => b,
                    // Never written (a crash before the PUT), or compacted since: then its
                    // rows live in the partition's new files, so remember the partition's.
                    Err(Error::Store {
                        source: object_store::Error::NotFound { .. },
                        ..
                    }) => {
                        if let Some(part) = partition_of(&path) {
                            whole.insert((f.tenant.clone(), part));
                        }
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                loaded += self.commit_uids(&f.tenant, &batches);
            }
        }
        for (tenant, date) in whole {
            let prefix = layout::partition_prefix(lake, &tenant, date);
            let metas: Vec<_> = store
                .list(Some(&prefix))
                .try_collect()
                .await
                .map_err(|e| Error::store(prefix.to_string(), e))?;
            let live = crate::lake::listing::live_files(store.as_ref(), metas)
                .await
                .map_err(|e| Error::store(prefix.to_string(), e))?;
            for m in live {
                let batches = compact::read_file(store.as_ref(), &m.location).await?;
                loaded += self.commit_uids(&tenant, &batches);
            }
        }
        Ok(loaded)
    }
}

/// The date of a data file's partition (`…/data/{tenant}/{date}/{file}`).
fn partition_of(path: &Path) -> Option<NaiveDate> {
    let parts: Vec<_> = path.parts().collect();
    let n = parts.len();
    (n >= 2).then(|| layout::parse_date(parts[n - 2].as_ref()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_bounded_in_size() {
        let mut d = Dedup::new(Duration::from_secs(3600), 3);
        d.commit([1, 2, 3]);
        assert!(d.contains(1));
        d.commit([4]);
        assert!(!d.contains(1), "the oldest leaves first");
        assert!(d.contains(2) && d.contains(4));
        // Re-committing keeps a hash; its stale entry does not evict it.
        d.commit([2, 5, 6]);
        assert!(d.contains(2) && d.contains(6));
        assert!(d.len() <= 3, "{}", d.len());
    }

    #[test]
    fn the_window_is_bounded_in_time() {
        let mut d = Dedup::new(Duration::ZERO, 100);
        d.commit([1, 2]);
        assert!(d.is_empty());
    }
}
