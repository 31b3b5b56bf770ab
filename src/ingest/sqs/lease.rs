//! Leader election without a database: one lease object in the lake (`_consumer/lease.json`),
//! written only by compare-and-swap — create if absent, update only if unchanged since read.
//!
//! On S3 the swap is object_store's conditional put (`If-None-Match: *` / `If-Match: etag`).
//! A local directory has no conditional update in object_store, so there the swap runs under an
//! exclusive `flock` on a lock file beside the lease: every contender is on the same machine.
//! Expiry is judged by wall clock (`expires_unix_ms`), so hosts need roughly synchronised clocks
//! (seconds of skew shorten or lengthen a takeover by as much; the TTL should dwarf them).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::Lake;

/// The lease object, relative to the lake root.
pub const LEASE_PATH: &str = "_consumer/lease.json";

/// What the lease object holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeaseDoc {
    /// Who holds it (`host:pid:uuid`).
    pub holder: String,
    /// Increases at every takeover; logs and metrics show it.
    pub term: u64,
    /// When it lapses unless renewed (Unix ms, wall clock).
    pub expires_unix_ms: i64,
}

/// A version token to compare against: the S3 ETag, or a content hash locally.
#[derive(Debug, Clone, PartialEq)]
struct Version(Option<String>, Option<String>);

enum Backend {
    Store(Path),
    Local { file: PathBuf, lock: PathBuf },
}

/// This process's view of the lease.
pub struct Lease {
    lake: Lake,
    backend: Backend,
    holder: String,
    ttl: Duration,
    /// Version of the object as we last wrote it, while we hold it.
    held: Option<(Version, LeaseDoc)>,
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// We hold the lease (term given).
    Leader(u64),
    /// Someone else does, until then (Unix ms).
    Follower {
        holder: String,
        expires_unix_ms: i64,
    },
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

impl Lease {
    pub fn new(lake: &Lake, ttl: Duration) -> Lease {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
        let holder = format!("{host}:{}:{}", std::process::id(), uuid::Uuid::new_v4());
        let backend = if lake.is_local() {
            let dir = PathBuf::from(lake.display());
            Backend::Local {
                file: dir.join(LEASE_PATH),
                lock: dir.join("_consumer/lease.lock"),
            }
        } else {
            Backend::Store(lake.path(LEASE_PATH))
        };
        Lease {
            lake: lake.clone(),
            backend,
            holder,
            ttl,
            held: None,
        }
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Reads the current lease object, with its version.
    async fn read(&self) -> Result<Option<(LeaseDoc, Version)>> {
        match &self.backend {
            Backend::Store(p) => match self.lake.store().get(p).await {
                Ok(r) => {
                    let v = Version(r.meta.e_tag.clone(), r.meta.version.clone());
                    let bytes = r
                        .bytes()
                        .await
                        .map_err(|e| Error::store(p.to_string(), e))?;
                    Ok(Some((parse(&bytes)?, v)))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(Error::store(p.to_string(), e)),
            },
            Backend::Local { file, .. } => match std::fs::read(file) {
                Ok(bytes) => Ok(Some((parse(&bytes)?, Version(Some(sha(&bytes)), None)))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::Io {
                    op: "read",
                    path: file.clone(),
                    source: e,
                }),
            },
        }
    }

    /// Writes `doc` if the object is still at `expected` (None: absent). `Ok(None)`: lost the
    /// race.
    async fn swap(&self, expected: Option<&Version>, doc: &LeaseDoc) -> Result<Option<Version>> {
        let bytes = serde_json::to_vec(doc).map_err(|e| Error::json("the lease", e))?;
        match &self.backend {
            Backend::Store(p) => {
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
                    .put_opts(p, PutPayload::from(bytes), opts)
                    .await
                {
                    Ok(r) => Ok(Some(Version(r.e_tag, r.version))),
                    Err(
                        object_store::Error::AlreadyExists { .. }
                        | object_store::Error::Precondition { .. },
                    ) => Ok(None),
                    Err(e) => Err(Error::store(p.to_string(), e)),
                }
            }
            Backend::Local { file, lock } => {
                let (file, lock) = (file.clone(), lock.clone());
                let expected = expected.cloned();
                tokio::task::spawn_blocking(move || local_swap(&file, &lock, expected, &bytes))
                    .await
                    .map_err(|e| Error::Other(format!("lease task failed: {e}")))?
            }
        }
    }

    /// Takes the lease if it is free, expired, or ours; renews it if ours.
    pub async fn try_acquire(&mut self) -> Result<Attempt> {
        let current = self.read().await?;
        let (expected, term) = match &current {
            None => (None, 1),
            Some((doc, v)) => {
                let ours = doc.holder == self.holder;
                if !ours && doc.expires_unix_ms > now_ms() {
                    self.held = None;
                    return Ok(Attempt::Follower {
                        holder: doc.holder.clone(),
                        expires_unix_ms: doc.expires_unix_ms,
                    });
                }
                (Some(v.clone()), if ours { doc.term } else { doc.term + 1 })
            }
        };
        let doc = LeaseDoc {
            holder: self.holder.clone(),
            term,
            expires_unix_ms: now_ms() + self.ttl.as_millis() as i64,
        };
        match self.swap(expected.as_ref(), &doc).await? {
            Some(v) => {
                self.held = Some((v, doc));
                Ok(Attempt::Leader(term))
            }
            None => {
                self.held = None;
                // Somebody else won the race; report who.
                match self.read().await? {
                    Some((d, _)) => Ok(Attempt::Follower {
                        holder: d.holder,
                        expires_unix_ms: d.expires_unix_ms,
                    }),
                    None => Ok(Attempt::Follower {
                        holder: "unknown".into(),
                        expires_unix_ms: now_ms(),
                    }),
                }
            }
        }
    }

    /// Extends a held lease; false when it was lost (someone took it over after it lapsed).
    pub async fn renew(&mut self) -> Result<bool> {
        let Some((v, doc)) = self.held.clone() else {
            return Ok(false);
        };
        let next = LeaseDoc {
            expires_unix_ms: now_ms() + self.ttl.as_millis() as i64,
            ..doc
        };
        match self.swap(Some(&v), &next).await? {
            Some(v) => {
                self.held = Some((v, next));
                Ok(true)
            }
            None => {
                self.held = None;
                Ok(false)
            }
        }
    }

    /// Is the lease held with at least `margin` left before it lapses?
    pub fn valid_for(&self, margin: Duration) -> bool {
        self.held
            .as_ref()
            .is_some_and(|(_, d)| d.expires_unix_ms - margin.as_millis() as i64 > now_ms())
    }

    /// Gives the lease up (an expired lease any instance can take at once).
    pub async fn release(&mut self) -> Result<()> {
        let Some((v, doc)) = self.held.take() else {
            return Ok(());
        };
        let gone = LeaseDoc {
            expires_unix_ms: 0,
            ..doc
        };
        self.swap(Some(&v), &gone).await?;
        Ok(())
    }
}

fn parse(bytes: &[u8]) -> Result<LeaseDoc> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Other(format!("the lease object {LEASE_PATH} is not valid: {e}")))
}

/// Compare-and-swap of a local file under an exclusive flock.
fn local_swap(
    file: &std::path::Path,
    lock: &std::path::Path,
    expected: Option<Version>,
    bytes: &[u8],
) -> Result<Option<Version>> {
    use std::os::fd::AsRawFd;
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| Error::Io {
            op: "update",
            path,
            source,
        }
    };
    let dir = file.parent().expect("lease file has a parent");
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let lf = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock)
        .map_err(io(lock))?;
    // SAFETY: flock on a file descriptor we own; released when `lf` is closed.
    if unsafe { libc::flock(lf.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(io(lock)(std::io::Error::last_os_error()));
    }
    let current = match std::fs::read(file) {
        Ok(b) => Some(Version(Some(sha(&b)), None)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(file)(e)),
    };
    if current != expected {
        return Ok(None);
    }
    let tmp = dir.join(format!(".lease.{}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, file).map_err(io(file))?;
    Ok(Some(Version(Some(sha(bytes)), None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_then_takeover_after_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let mut a = Lease::new(&lake, Duration::from_millis(300));
        let mut b = Lease::new(&lake, Duration::from_millis(300));
        assert_eq!(a.try_acquire().await.unwrap(), Attempt::Leader(1));
        assert!(matches!(
            b.try_acquire().await.unwrap(),
            Attempt::Follower { .. }
        ));
        assert!(a.renew().await.unwrap());
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(b.try_acquire().await.unwrap(), Attempt::Leader(2));
        // The old holder's renewal fails: its version is stale.
        assert!(!a.renew().await.unwrap());
        assert!(!a.valid_for(Duration::ZERO));
        b.release().await.unwrap();
        assert_eq!(a.try_acquire().await.unwrap(), Attempt::Leader(3));
    }
}
