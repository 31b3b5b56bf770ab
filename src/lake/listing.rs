//! The listing rule every reader applies to a partition (the engine's table, `sync`, the
//! consumer's dedup, compaction itself), so a compaction's switch is atomic for all of them.
//!
//! Object stores have no multi-object rename, so the switch is a tombstone
//! `_compact-{id}.json` = `{"by": [new files], "replaces": [old files], "state": …}` whose
//! state changes only by compare-and-swap ([`super::lock::Cas`]):
//!
//! 1. `pending` is put before any new file, under the partition's compaction lock;
//! 2. the new files are written (readers skip them: the tombstone is pending);
//! 3. the switch: `pending` → `committed` with `delete_after_unix_ms` = now + grace. From then on
//!    readers skip the replaced files. A recovering compactor that finds a pending tombstone of a
//!    lapsed lock swaps it to `aborted` instead; the two swaps exclude each other;
//! 4. after the grace period (a query that listed before the switch finishes on the old files)
//!    the next compaction or cleanup of the partition deletes the replaced files, then the
//!    tombstone. An aborted one loses its new files, then itself.
//!
//! A reader applies each tombstone of its listing: pending or aborted hides `by`; committed
//! hides `replaces` — unless the listing lacks one of `by` that no other committed tombstone
//! replaces, which means the listing was taken before the switch (when the old files were all
//! still there), so it keeps the old set. Readers thus see either the old files or the new
//! ones, never both, never neither. A tombstone without `state` was written by an older
//! auditlake, whose switch was the PUT of the last new file.

use std::collections::HashSet;

use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use super::layout;

/// Tombstone file name prefix; `is_data_file` ignores names starting with `_`.
pub const TOMBSTONE_PREFIX: &str = "_compact-";

/// Relistings when a tombstone vanishes between a listing and its GET (its cleanup ran).
const RELISTS: usize = 5;

/// Where a compaction is (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Committed,
    Aborted,
}

/// A tombstone of a compaction: in progress, committed and awaiting the deletion of the
/// replaced files, or aborted and awaiting the deletion of its new files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tombstone {
    /// File names (not paths) of the compacted files.
    pub by: Vec<String>,
    /// File names this compaction replaces.
    pub replaces: Vec<String>,
    /// None: written by an auditlake before the compare-and-swap protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    /// The compactor that wrote it (`host:pid:uuid`).
    #[serde(default)]
    pub holder: String,
    /// When the replaced files may be deleted (committed only; Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_after_unix_ms: Option<i64>,
}

pub fn is_tombstone(p: &Path) -> bool {
    p.filename()
        .is_some_and(|f| f.starts_with(TOMBSTONE_PREFIX) && f.ends_with(".json"))
}

pub fn name(p: &Path) -> String {
    p.filename().unwrap_or_default().to_string()
}

pub fn parse_tombstone(p: &Path, bytes: &[u8]) -> object_store::Result<Tombstone> {
    serde_json::from_slice(bytes).map_err(|e| object_store::Error::Generic {
        store: "auditlake",
        source: format!("tombstone {p}: {e}").into(),
    })
}

pub async fn read_tombstone(store: &dyn ObjectStore, p: &Path) -> object_store::Result<Tombstone> {
    let bytes = store.get(p).await?.bytes().await?;
    parse_tombstone(p, &bytes)
}

/// The data files a reader should read from one partition's listing (see the module doc).
/// Costs one small GET per tombstone, and tombstones exist only while a compaction runs or its
/// grace period lasts. A tombstone deleted between the listing and its GET means its replaced
/// files were deleted too, so the partition is listed again (a few times at most).
pub async fn live_files(
    store: &dyn ObjectStore,
    mut metas: Vec<ObjectMeta>,
) -> object_store::Result<Vec<ObjectMeta>> {
    for _ in 0..RELISTS {
        let tombstones: Vec<Path> = metas
            .iter()
            .filter(|m| is_tombstone(&m.location))
            .map(|m| m.location.clone())
            .collect();
        if tombstones.is_empty() {
            return Ok(metas
                .into_iter()
                .filter(|m| layout::is_data_file(&m.location))
                .collect());
        }
        let mut read = Vec::with_capacity(tombstones.len());
        let mut vanished = None;
        for t in &tombstones {
            match read_tombstone(store, t).await {
                Ok(t) => read.push(t),
                Err(object_store::Error::NotFound { .. }) => {
                    vanished = Some(t.clone());
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(t) = vanished {
            let parent = Path::from_iter(
                t.parts()
                    .collect::<Vec<_>>()
                    .split_last()
                    .map(|(_, dir)| dir.to_vec())
                    .unwrap_or_default(),
            );
            use futures::TryStreamExt;
            metas = store.list(Some(&parent)).try_collect().await?;
            continue;
        }
        let present: HashSet<String> = metas
            .iter()
            .filter(|m| layout::is_data_file(&m.location))
            .map(|m| name(&m.location))
            .collect();
        let hidden = hidden(&present, read);
        return Ok(metas
            .into_iter()
            .filter(|m| layout::is_data_file(&m.location) && !hidden.contains(&name(&m.location)))
            .collect());
    }
    Err(object_store::Error::Generic {
        store: "auditlake",
        source: format!("the partition kept changing while listed ({RELISTS} tries)").into(),
    })
}

/// The rule itself, on names: which of the `present` data files a reader must skip given the
/// tombstones of its listing (see the module doc).
pub fn hidden(present: &HashSet<String>, tombstones: Vec<Tombstone>) -> HashSet<String> {
    // A committed compaction's new file can be gone only because a later committed one
    // replaced it and its grace period ended.
    let replaced_later: HashSet<&String> = tombstones
        .iter()
        .filter(|t| t.state == Some(State::Committed))
        .flat_map(|t| t.replaces.iter())
        .collect();
    let mut hidden = HashSet::new();
    for t in &tombstones {
        let switched = match t.state {
            Some(State::Pending) | Some(State::Aborted) => false,
            Some(State::Committed) => {
                t.by.iter()
                    .all(|b| present.contains(b) || replaced_later.contains(b))
            }
            None => t.by.iter().all(|b| present.contains(b)),
        };
        if switched {
            hidden.extend(t.replaces.iter().cloned());
        } else {
            hidden.extend(t.by.iter().cloned());
        }
    }
    hidden
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> HashSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn tomb(by: &[&str], replaces: &[&str], state: Option<State>) -> Tombstone {
        Tombstone {
            by: by.iter().map(|s| s.to_string()).collect(),
            replaces: replaces.iter().map(|s| s.to_string()).collect(),
            state,
            holder: "h".into(),
            delete_after_unix_ms: None,
        }
    }

    fn seen(files: &[&str], tombs: Vec<Tombstone>) -> Vec<String> {
        let hidden = hidden(&set(files), tombs);
        let mut v: Vec<String> = files
            .iter()
            .filter(|f| !hidden.contains(**f))
            .map(|f| f.to_string())
            .collect();
        v.sort();
        v
    }

    /// Every state a compaction of {a, b} into {x, y} passes through — committed, aborted by
    /// a recoverer, crashed after any step, listed by a reader racing the switch — and the
    /// files a reader must see: exactly the old set or exactly the new set.
    #[test]
    fn every_state_of_a_compaction() {
        use State::*;
        let t = |s| vec![tomb(&["x", "y"], &["a", "b"], s)];
        let none = Vec::new;
        // (what, files present, tombstones, files a reader must see)
        type Case<'a> = (&'a str, &'a [&'a str], Vec<Tombstone>, &'a [&'a str]);
        let cases: Vec<Case> = vec![
            ("before", &["a", "b"], none(), &["a", "b"]),
            (
                "pending written",
                &["a", "b"],
                t(Some(Pending)),
                &["a", "b"],
            ),
            (
                "first new file",
                &["a", "b", "x"],
                t(Some(Pending)),
                &["a", "b"],
            ),
            (
                "all new files, not switched",
                &["a", "b", "x", "y"],
                t(Some(Pending)),
                &["a", "b"],
            ),
            (
                "the switch",
                &["a", "b", "x", "y"],
                t(Some(Committed)),
                &["x", "y"],
            ),
            // A listing taken before the switch lacks y but read the tombstone after it.
            (
                "listing raced the switch",
                &["a", "b", "x"],
                t(Some(Committed)),
                &["a", "b"],
            ),
            (
                "grace over, deleting",
                &["b", "x", "y"],
                t(Some(Committed)),
                &["x", "y"],
            ),
            (
                "old files gone",
                &["x", "y"],
                t(Some(Committed)),
                &["x", "y"],
            ),
            ("done", &["x", "y"], none(), &["x", "y"]),
            (
                "aborted by a recoverer",
                &["a", "b", "x", "y"],
                t(Some(Aborted)),
                &["a", "b"],
            ),
            (
                "rolling back",
                &["a", "b", "y"],
                t(Some(Aborted)),
                &["a", "b"],
            ),
            ("rolled back", &["a", "b"], t(Some(Aborted)), &["a", "b"]),
            // An older auditlake's tombstone: the last new file was the switch.
            ("legacy, unfinished", &["a", "b", "x"], t(None), &["a", "b"]),
            (
                "legacy, switched",
                &["a", "b", "x", "y"],
                t(None),
                &["x", "y"],
            ),
        ];
        for (what, files, tombs, want) in cases {
            assert_eq!(seen(files, tombs), want.to_vec(), "{what}");
        }
    }

    /// Two compactions in a row, {a, b} → {x, y} then {x, y, c} → {z}, both within their grace
    /// periods: whatever was deleted already, a reader sees only the newest set.
    #[test]
    fn a_chain_of_compactions() {
        use State::*;
        let t1 = || tomb(&["x", "y"], &["a", "b"], Some(Committed));
        let t2 = |s| tomb(&["z"], &["x", "y", "c"], Some(s));
        assert_eq!(
            seen(&["a", "b", "c", "x", "y", "z"], vec![t1(), t2(Committed)]),
            ["z"]
        );
        assert_eq!(
            seen(&["a", "b", "c", "x", "y", "z"], vec![t1(), t2(Pending)]),
            ["c", "x", "y"]
        );
        // The second's grace ended first and its replaced files went: the first still holds.
        assert_eq!(seen(&["a", "b", "z"], vec![t1(), t2(Committed)]), ["z"]);
        assert_eq!(seen(&["c", "x", "y", "z"], vec![t2(Committed)]), ["z"]);
        // A concurrent ingest's new file is in no tombstone: always seen.
        assert_eq!(
            seen(&["a", "b", "n", "x", "y"], vec![t1()]),
            ["n", "x", "y"]
        );
    }
}
