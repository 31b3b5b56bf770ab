//! Compare-and-swap objects in the lake, and the per-partition compaction lock built on them
//! (`_compact/{tenant}/{date}/lock.json`): one compactor per partition at a time, with a TTL the
//! holder renews while it works, so a crashed holder's lock lapses and the next one recovers.
//!
//! The swap is the consumer lease's primitive (lake/ does not import ingest/): on S3
//! object_store's conditional PUT (`If-None-Match: *` to create, `If-Match: etag` to update);
//! a local directory has no conditional update in object_store, so there the swap runs under an
//! exclusive `flock` on a file beside the lock, every contender being on the same machine.
//! Expiry is judged by wall clock, so hosts need roughly synchronised clocks (the TTL should
//! dwarf the skew). Tombstones' state changes use the same [`Cas`] so that a committing
//! compactor and a recovering one cannot both win.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chrono::NaiveDate;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use super::Lake;
use crate::error::{Error, Result};

/// Default lifetime of a compaction lock between renewals.
pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(60);

/// A version token to compare against: the S3 ETag (and version id), or a content hash locally.
#[derive(Debug, Clone, PartialEq)]
pub struct Version(Option<String>, Option<String>);

/// One object written only by compare-and-swap.
#[derive(Debug, Clone)]
pub struct Cas {
    lake: Lake,
    path: Path,
    /// Local lakes: the file itself and the flock file that serialises swaps.
    local: Option<(PathBuf, PathBuf)>,
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// `_compact/{tenant}/{date}/`: the partition's lock and the flock file of its swaps. Outside
/// `data/`, so neither readers nor Athena ever list it.
pub fn partition_dir(lake: &Lake, tenant: &str, date: NaiveDate) -> Path {
    lake.path(&format!("_compact/{tenant}/{}", date.format("%Y-%m-%d")))
}

impl Cas {
    /// The object at `path`, swapped under the partition's flock on a local lake.
    pub fn new(lake: &Lake, path: Path, tenant: &str, date: NaiveDate) -> Cas {
        let local = lake.is_local().then(|| {
            let dir = PathBuf::from(lake.display());
            let flock = dir
                .join(partition_dir(lake, tenant, date).as_ref())
                .join(".flock");
            (dir.join(path.as_ref()), flock)
        });
        Cas {
            lake: lake.clone(),
            path,
            local,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The object's bytes and version, or None when absent.
    pub async fn read(&self) -> Result<Option<(Bytes, Version)>> {
        match &self.local {
            None => match self.lake.store().get(&self.path).await {
                Ok(r) => {
                    let v = Version(r.meta.e_tag.clone(), r.meta.version.clone());
                    let bytes = r
                        .bytes()
                        .await
                        .map_err(|e| Error::store(self.path.to_string(), e))?;
                    Ok(Some((bytes, v)))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(Error::store(self.path.to_string(), e)),
            },
            Some((file, _)) => match std::fs::read(file) {
                Ok(b) => {
                    let v = Version(Some(sha(&b)), None);
                    Ok(Some((Bytes::from(b), v)))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io("read", file.clone(), e)),
            },
        }
    }

    /// Writes `bytes` if the object is still at `expected` (None: absent). `Ok(None)`: lost the
    /// race (someone else changed it since it was read).
    pub async fn swap(
        &self,
        expected: Option<&Version>,
        bytes: Vec<u8>,
    ) -> Result<Option<Version>> {
        match &self.local {
            None => {
                let mode = match expected {
                    None => PutMode::Create,
                    Some(v) => PutMode::Update(UpdateVersion {
                        e_tag: v.0.clone(),
                        version: v.1.clone(),
                    }),
                };
                let opts = PutOptions {
                    mode,
                    ..Default::default()
                };
                match self
                    .lake
                    .store()
                    .put_opts(&self.path, PutPayload::from(bytes), opts)
                    .await
                {
                    Ok(r) => Ok(Some(Version(r.e_tag, r.version))),
                    Err(
                        object_store::Error::AlreadyExists { .. }
                        | object_store::Error::Precondition { .. },
                    ) => Ok(None),
                    Err(e) => Err(Error::store(self.path.to_string(), e)),
                }
            }
            Some((file, flock)) => {
                let (file, flock) = (file.clone(), flock.clone());
                let expected = expected.cloned();
                tokio::task::spawn_blocking(move || local_swap(&file, &flock, expected, &bytes))
                    .await
                    .map_err(|e| Error::Other(format!("compare-and-swap task failed: {e}")))?
            }
        }
    }
}

/// Compare-and-swap of a local file under an exclusive flock; the new content is staged in a
/// hidden file (no reader lists `.` names) and renamed over, so readers see old or new whole.
fn local_swap(
    file: &std::path::Path,
    flock: &std::path::Path,
    expected: Option<Version>,
    bytes: &[u8],
) -> Result<Option<Version>> {
    use std::os::fd::AsRawFd;
    let (Some(dir), Some(fdir), Some(fname)) = (file.parent(), flock.parent(), file.file_name())
    else {
        return Err(Error::Other(format!("no directory for {}", file.display())));
    };
    std::fs::create_dir_all(fdir).map_err(|e| Error::io("create", fdir, e))?;
    let lf = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(flock)
        .map_err(|e| Error::io("open", flock, e))?;
    // SAFETY: flock on a file descriptor we own; released when `lf` is closed.
    if unsafe { libc::flock(lf.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(Error::io("lock", flock, std::io::Error::last_os_error()));
    }
    let current = match std::fs::read(file) {
        Ok(b) => Some(Version(Some(sha(&b)), None)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("read", file, e)),
    };
    if current != expected {
        return Ok(None);
    }
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        fname.to_string_lossy(),
        std::process::id()
    ));
    // The directory may have just been removed by the store's empty-directory cleanup.
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("write", &tmp, e))?;
    f.sync_all().map_err(|e| Error::io("sync", &tmp, e))?;
    std::fs::rename(&tmp, file).map_err(|e| Error::io("rename", file, e))?;
    Ok(Some(Version(Some(sha(bytes)), None)))
}

/// What the lock object holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LockDoc {
    /// Who holds it (`host:pid:uuid`).
    pub holder: String,
    /// When it lapses unless renewed (Unix ms, wall clock).
    pub expires_unix_ms: i64,
}

fn parse_lock(path: &Path, bytes: &[u8]) -> Result<LockDoc> {
    serde_json::from_slice(bytes).map_err(|e| Error::json(format!("the lock {path}"), e))
}

/// A unique holder name for this process and call.
pub fn holder_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    format!("{host}:{}:{}", std::process::id(), uuid::Uuid::new_v4())
}

/// The result of trying to take a partition's lock.
pub enum Acquired {
    Held(Box<LockGuard>),
    /// Someone else holds it until then (Unix ms).
    Busy {
        holder: String,
        expires_unix_ms: i64,
    },
}

struct Held {
    version: Version,
    doc: LockDoc,
}

/// A held lock, renewed in the background every third of its TTL until released or dropped.
pub struct LockGuard {
    cas: Cas,
    ttl: Duration,
    holder: String,
    state: Arc<tokio::sync::Mutex<Option<Held>>>,
    lost: Arc<AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
}

/// Takes the partition's compaction lock if it is free or lapsed.
pub async fn acquire(
    lake: &Lake,
    tenant: &str,
    date: NaiveDate,
    ttl: Duration,
) -> Result<Acquired> {
    let path = partition_dir(lake, tenant, date).join("lock.json");
    let cas = Cas::new(lake, path, tenant, date);
    let holder = holder_name();
    let ttl = ttl.max(Duration::from_millis(300));
    let current = cas.read().await?;
    let expected = match &current {
        None => None,
        Some((bytes, v)) => {
            let doc = parse_lock(cas.path(), bytes)?;
            if doc.expires_unix_ms > now_ms() {
                return Ok(Acquired::Busy {
                    holder: doc.holder,
                    expires_unix_ms: doc.expires_unix_ms,
                });
            }
            Some(v.clone())
        }
    };
    let doc = LockDoc {
        holder: holder.clone(),
        expires_unix_ms: now_ms() + ttl.as_millis() as i64,
    };
    let body = serde_json::to_vec(&doc).map_err(|e| Error::json("the lock", e))?;
    let Some(version) = cas.swap(expected.as_ref(), body).await? else {
        // Somebody else won the race; report who.
        let (holder, expires_unix_ms) = match cas.read().await? {
            Some((b, _)) => {
                let d = parse_lock(cas.path(), &b)?;
                (d.holder, d.expires_unix_ms)
            }
            None => ("unknown".into(), now_ms()),
        };
        return Ok(Acquired::Busy {
            holder,
            expires_unix_ms,
        });
    };
    tracing::debug!(lock = %cas.path(), %holder, "took the compaction lock");
    let state = Arc::new(tokio::sync::Mutex::new(Some(Held { version, doc })));
    let lost = Arc::new(AtomicBool::new(false));
    let renewer = {
        let (cas, state, lost) = (cas.clone(), state.clone(), lost.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                match renew_locked(&cas, ttl, &state).await {
                    Ok(true) => {}
                    Ok(false) => {
                        lost.store(true, Ordering::SeqCst);
                        tracing::warn!(lock = %cas.path(), "compaction lock lost");
                        return;
                    }
                    // A transient store error: the next tick retries while the TTL lasts.
                    Err(e) => {
                        tracing::warn!(lock = %cas.path(), error = %e.chain(": "), "cannot renew the compaction lock")
                    }
                }
            }
        })
    };
    Ok(Acquired::Held(Box::new(LockGuard {
        cas,
        ttl,
        holder,
        state,
        lost,
        renewer,
    })))
}

/// One renewal by compare-and-swap, serialised with every other use of the held version.
async fn renew_locked(
    cas: &Cas,
    ttl: Duration,
    state: &tokio::sync::Mutex<Option<Held>>,
) -> Result<bool> {
    let mut st = state.lock().await;
    let Some(h) = st.as_ref() else {
        return Ok(false);
    };
    let next = LockDoc {
        expires_unix_ms: now_ms() + ttl.as_millis() as i64,
        ..h.doc.clone()
    };
    let body = serde_json::to_vec(&next).map_err(|e| Error::json("the lock", e))?;
    match cas.swap(Some(&h.version), body).await? {
        Some(version) => {
            *st = Some(Held { version, doc: next });
            Ok(true)
        }
        None => {
            *st = None;
            Ok(false)
        }
    }
}

impl LockGuard {
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Extends the lock now; false when it was lost (taken over after it lapsed). A true answer
    /// proves nobody took the lock between our last write and this one.
    pub async fn renew(&self) -> Result<bool> {
        if self.lost.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let ok = renew_locked(&self.cas, self.ttl, &self.state).await?;
        if !ok {
            self.lost.store(true, Ordering::SeqCst);
        }
        Ok(ok)
    }

    /// Has a renewal failed?
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Gives the lock up (an expired lock any compactor can take at once).
    pub async fn release(self) -> Result<()> {
        self.renewer.abort();
        let mut st = self.state.lock().await;
        let Some(h) = st.take() else {
            return Ok(());
        };
        let gone = LockDoc {
            expires_unix_ms: 0,
            ..h.doc
        };
        let body = serde_json::to_vec(&gone).map_err(|e| Error::json("the lock", e))?;
        self.cas.swap(Some(&h.version), body).await?;
        Ok(())
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Not released (an error path): stop renewing and let the TTL free it.
        self.renewer.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_then_takeover_after_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let d = NaiveDate::from_ymd_opt(2024, 3, 20).unwrap();
        let ttl = Duration::from_millis(600);
        let Acquired::Held(a) = acquire(&lake, "acme", d, ttl).await.unwrap() else {
            panic!("first acquire is busy");
        };
        assert!(matches!(
            acquire(&lake, "acme", d, ttl).await.unwrap(),
            Acquired::Busy { .. }
        ));
        // Another partition is independent.
        let other = d.succ_opt().unwrap();
        assert!(matches!(
            acquire(&lake, "acme", other, ttl).await.unwrap(),
            Acquired::Held(_)
        ));
        // The renewer keeps it past its TTL.
        tokio::time::sleep(ttl * 2).await;
        assert!(matches!(
            acquire(&lake, "acme", d, ttl).await.unwrap(),
            Acquired::Busy { .. }
        ));
        assert!(a.renew().await.unwrap());
        (*a).release().await.unwrap();
        let Acquired::Held(b) = acquire(&lake, "acme", d, ttl).await.unwrap() else {
            panic!("released lock is busy");
        };
        // A stalled holder (no renewer) loses it to a takeover, and its renewal then fails.
        b.renewer.abort();
        tokio::time::sleep(ttl + Duration::from_millis(100)).await;
        let Acquired::Held(c) = acquire(&lake, "acme", d, ttl).await.unwrap() else {
            panic!("lapsed lock is busy");
        };
        assert!(!b.renew().await.unwrap());
        assert!(b.lost());
        assert!(c.renew().await.unwrap());
    }
}
