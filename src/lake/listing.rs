//! The listing rule every reader applies to a partition (the engine's table, `sync`, the
//! consumer's dedup, compaction itself), so a compaction's switch is atomic for all of them.
//!
//! Object stores have no multi-object rename, so the switch is a tombstone: compaction first
//! puts `_compact-{id}.json` = `{"by": [new files], "replaces": [old files]}`, then the new
//! files, then deletes the old files and the tombstone. A reader that lists the partition
//! applies each tombstone: when every `by` file is present it skips the `replaces` files,
//! otherwise it skips the `by` files already present. So readers see either the old files or
//! the new ones — the moment of the switch is the PUT of the last new file — never both.

use std::collections::HashSet;

use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use super::layout;

/// Tombstone file name prefix; `is_data_file` ignores names starting with `_`.
pub const TOMBSTONE_PREFIX: &str = "_compact-";

/// A tombstone of an in-progress (or crashed) compaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tombstone {
    /// File names (not paths) of the compacted files.
    pub by: Vec<String>,
    /// File names this compaction replaces.
    pub replaces: Vec<String>,
}

pub fn is_tombstone(p: &Path) -> bool {
    p.filename()
        .is_some_and(|f| f.starts_with(TOMBSTONE_PREFIX) && f.ends_with(".json"))
}

pub fn name(p: &Path) -> String {
    p.filename().unwrap_or_default().to_string()
}

pub async fn read_tombstone(store: &dyn ObjectStore, p: &Path) -> object_store::Result<Tombstone> {
    let bytes = store.get(p).await?.bytes().await?;
    serde_json::from_slice(&bytes).map_err(|e| object_store::Error::Generic {
        store: "auditlake",
        source: format!("tombstone {p}: {e}").into(),
    })
}

/// The data files a reader should read from one partition's listing (see the module doc).
/// Costs one small GET per tombstone, and tombstones exist only while a compaction runs.
pub async fn live_files(
    store: &dyn ObjectStore,
    metas: Vec<ObjectMeta>,
) -> object_store::Result<Vec<ObjectMeta>> {
    let tombstones: Vec<&ObjectMeta> = metas.iter().filter(|m| is_tombstone(&m.location)).collect();
    if tombstones.is_empty() {
        return Ok(metas
            .into_iter()
            .filter(|m| layout::is_data_file(&m.location))
            .collect());
    }
    let present: HashSet<String> = metas
        .iter()
        .filter(|m| layout::is_data_file(&m.location))
        .map(|m| name(&m.location))
        .collect();
    let mut read = Vec::with_capacity(tombstones.len());
    for t in tombstones {
        match read_tombstone(store, &t.location).await {
            Ok(t) => read.push(t),
            // Deleted between list and get: the compaction finished; its old files are gone too.
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    let hidden = hidden(&present, read);
    Ok(metas
        .into_iter()
        .filter(|m| layout::is_data_file(&m.location) && !hidden.contains(&name(&m.location)))
        .collect())
}

/// The rule itself, on names: which of the `present` data files a reader must skip given the
/// tombstones of the partition. A finished switch (every `by` present) hides the replaced files;
/// an unfinished one hides the new files written so far.
pub fn hidden(present: &HashSet<String>, tombstones: Vec<Tombstone>) -> HashSet<String> {
    let mut hidden = HashSet::new();
    for t in tombstones {
        if t.by.iter().all(|b| present.contains(b)) {
            hidden.extend(t.replaces);
        } else {
            hidden.extend(t.by);
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

    /// Every state a compaction of {a, b} into {x, y} passes through, including a crash after
    /// each step: readers see exactly the old set or exactly the new set, never both or neither.
    #[test]
    fn every_state_of_a_crashed_compaction() {
        let t = || Tombstone {
            by: vec!["x".into(), "y".into()],
            replaces: vec!["a".into(), "b".into()],
        };
        // (files present, tombstone present?, files a reader must see)
        let states: &[(&[&str], bool, &[&str])] = &[
            (&["a", "b"], false, &["a", "b"]),          // before
            (&["a", "b"], true, &["a", "b"]),           // tombstone written
            (&["a", "b", "x"], true, &["a", "b"]),      // first new file
            (&["a", "b", "x", "y"], true, &["x", "y"]), // the switch: last new file
            (&["b", "x", "y"], true, &["x", "y"]),      // deleting old files
            (&["x", "y"], true, &["x", "y"]),           // old files gone
            (&["x", "y"], false, &["x", "y"]),          // tombstone removed: done
        ];
        for (files, tomb, want) in states {
            let present = set(files);
            let tombs = if *tomb { vec![t()] } else { vec![] };
            let hidden = hidden(&present, tombs);
            let mut seen: Vec<&str> = files
                .iter()
                .copied()
                .filter(|f| !hidden.contains(*f))
                .collect();
            seen.sort();
            assert_eq!(&seen, want, "state {files:?} tombstone={tomb}");
        }
    }
}
