//! The n-gram index beside each data file: `LIKE '%literal%'` over `event_data` skips the
//! granules that cannot hold the literal and answers exactly as a full scan does — for literals
//! cut from the data itself, after a compaction, and whatever is in the index files (garbage,
//! another file's index, a stale one).

use std::path::Path as FsPath;

use auditlake::lake::Lake;

use crate::common;

/// Two days of demo Teleport events, in the order the generator wrote them.
async fn demo_lake(dir: &FsPath) -> Lake {
    demo_lake_seeded(dir, 11).await
}

async fn demo_lake_seeded(dir: &FsPath, seed: u64) -> Lake {
    let events = dir.join(format!("demo-{seed}.ndjson"));
    let text = common::demo_lines(seed, 2, 6000, Some("acme")).join("\n");
    std::fs::write(&events, &text).unwrap();
    let lake = Lake::open(dir.join("lake").to_str().unwrap()).unwrap();
    common::ingest(&lake, "acme", std::slice::from_ref(&events)).await;
    lake
}

fn index_files(dir: &FsPath) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for day in std::fs::read_dir(dir.join("lake/data/acme")).unwrap() {
        for f in std::fs::read_dir(day.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            if p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("_grams-")
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Sets the modification time of an index's data file to now (its bytes unchanged): the
/// index is then older than its file.
fn touch_data_file_of(index: &FsPath) {
    let name = index.file_name().unwrap().to_str().unwrap();
    let data = index.with_file_name(format!(
        "{}.parquet",
        name.trim_start_matches("_grams-").trim_end_matches(".bin")
    ));
    let f = std::fs::File::options().append(true).open(&data).unwrap();
    f.set_modified(std::time::SystemTime::now()).unwrap();
}

async fn count(engine: &auditlake::query::engine::Engine, sql: &str) -> String {
    common::rows(engine, sql).await[0][0].clone()
}

/// `(with the index, by strpos)` counts of rows whose event_data holds `lit`.
async fn both(engine: &auditlake::query::engine::Engine, lit: &str) -> (String, String) {
    let q = lit.replace('\'', "''");
    let like = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    (
        count(
            engine,
            &format!("SELECT count(*) FROM events WHERE event_data LIKE '%{like}%'"),
        )
        .await,
        count(
            engine,
            &format!("SELECT count(*) FROM events WHERE strpos(event_data, '{q}') > 0"),
        )
        .await,
    )
}

fn pruned(explain: &str) -> (usize, usize) {
    let at = explain
        .find("granules_pruned=")
        .unwrap_or_else(|| panic!("no index line in {explain}"));
    let rest = &explain[at + "granules_pruned=".len()..];
    let (a, rest) = rest.split_once('/').unwrap();
    let b: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (a.parse().unwrap(), b.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn like_skips_granules_and_answers_as_a_full_scan() {
    let dir = tempfile::tempdir().unwrap();
    let lake = demo_lake(dir.path()).await;
    let indexes = index_files(dir.path());
    assert!(
        !indexes.is_empty(),
        "ingest writes an index beside each file"
    );
    let engine = common::engine(&lake, None).await;

    // A literal of one event type: most granules (rows are sorted by event type) lack it.
    let sql = r#"SELECT count(*) FROM events WHERE event_data LIKE '%"login":"root"%'"#;
    let text = common::explain_analyze(&engine, sql).await;
    let (skipped, of) = pruned(&text);
    assert!(of > 4 && skipped > 0 && skipped < of, "{text}");
    let (a, b) = both(&engine, r#""login":"root""#).await;
    assert_eq!(a, b);
    assert_ne!(a, "0", "the literal is in the data");

    // A literal no row has: every granule of every file skipped, nothing read.
    let text = common::explain_analyze(
        &engine,
        "SELECT count(*) FROM events WHERE event_data LIKE '%zz-no-such-user-zz%'",
    )
    .await;
    let (skipped, of) = pruned(&text);
    assert_eq!(skipped, of, "{text}");
    assert!(text.contains("files=0"), "{text}");

    // Substrings cut from real rows (uids, times, names, keys, escapes): each found as often
    // as a scan finds it. A wrong prune would lose the very row it was cut from.
    let sample = common::rows(
        &engine,
        "SELECT event_data FROM events ORDER BY uid LIMIT 400",
    )
    .await;
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    for r in sample.iter().step_by(10) {
        let v = &r[0];
        let chars: Vec<char> = v.chars().collect();
        let len = 4 + next(20);
        let start = next(chars.len().saturating_sub(len).max(1));
        let lit: String = chars[start..(start + len).min(chars.len())]
            .iter()
            .collect();
        let (a, b) = both(&engine, &lit).await;
        assert_eq!(a, b, "literal {lit:?}");
        assert_ne!(a, "0", "literal {lit:?} cut from a row");
    }

    // Shapes the index must not prune on, or must prune conservatively.
    for sql in [
        r#"SELECT count(*) FROM events WHERE event_data NOT LIKE '%"login":"root"%'"#,
        r#"SELECT count(*) FROM events WHERE event_data ILIKE '%"LOGIN":"ROOT"%'"#,
        r#"SELECT count(*) FROM events WHERE event_data LIKE '%"login"%' OR uid LIKE '%a%'"#,
        r#"SELECT count(*) FROM events WHERE event_data LIKE '%"login":"r__t"%'"#,
        r#"SELECT count(*) FROM events WHERE event_data LIKE '%"login":%"root"%'"#,
    ] {
        let plain = common::engine_plain(&lake, None).await;
        // The reference: the same predicate evaluated above the scan, over every row.
        let reference = sql.replace(
            "FROM events WHERE",
            "FROM (SELECT * FROM events LIMIT 1000000000) WHERE",
        );
        assert_eq!(
            count(&engine, sql).await,
            count(&plain, &reference).await,
            "{sql}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_or_stale_index_files_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let lake = demo_lake(dir.path()).await;
    let engine = common::engine(&lake, None).await;
    let lit = r#""login":"root""#;
    let (want, _) = both(&engine, lit).await;
    let indexes = index_files(dir.path());
    assert!(indexes.len() >= 2);

    let originals: Vec<Vec<u8>> = indexes.iter().map(|p| std::fs::read(p).unwrap()).collect();
    // Swap two files' indexes (each valid, each for another file), garbage in a third.
    let a = std::fs::read(&indexes[0]).unwrap();
    let b = std::fs::read(&indexes[1]).unwrap();
    std::fs::write(&indexes[0], &b).unwrap();
    std::fs::write(&indexes[1], &a).unwrap();
    if let Some(c) = indexes.get(2) {
        std::fs::write(c, b"ALGRAM01 not really an index").unwrap();
    }
    let engine = common::engine(&lake, None).await;
    let (got, scan) = both(&engine, lit).await;
    assert_eq!(got, want);
    assert_eq!(got, scan);
    let text = common::explain_analyze(
        &engine,
        &format!("SELECT count(*) FROM events WHERE event_data LIKE '%{lit}%'"),
    )
    .await;
    assert!(text.contains("unindexed_files="), "{text}");
    assert!(!text.contains("unindexed_files=0"), "{text}");

    // An index that says every granule lacks the literal, written before its data file was
    // rewritten: older than the file, so not used.
    for (ix, bytes) in indexes.iter().zip(&originals) {
        std::fs::write(ix, bytes).unwrap();
    }
    for ix in &indexes {
        let mut bytes = std::fs::read(ix).unwrap();
        // Zero every bitmap and fix the checksum: a well-formed index of an empty text.
        let n = bytes.len();
        let granules = u32::from_le_bytes(bytes[32..36].try_into().unwrap()) as usize;
        for x in &mut bytes[36 + granules..n - 4] {
            *x = 0;
        }
        let crc = crc32fast::hash(&bytes[..n - 4]);
        bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(ix, &bytes).unwrap();
    }
    // As written, the zeroed indexes are trusted (they are newer than their files and well
    // formed): the literal is then "nowhere" — which is why the writer alone writes them.
    let engine = common::engine(&lake, None).await;
    assert_eq!(both(&engine, lit).await.0, "0");
    // Touch the data files: now each index is older than its file and ignored.
    std::thread::sleep(std::time::Duration::from_millis(20));
    for ix in &indexes {
        touch_data_file_of(ix);
    }
    let engine = common::engine(&lake, None).await;
    assert_eq!(both(&engine, lit).await.0, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_writes_indexes_for_its_files_and_drops_the_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let lake = demo_lake(dir.path()).await;
    // A second ingest of other events: two files per partition.
    demo_lake_seeded(dir.path(), 12).await;
    let before = index_files(dir.path());
    let engine = common::engine(&lake, None).await;
    let (want, _) = both(&engine, r#""login":"root""#).await;
    use auditlake::lake::compact;
    let opts = compact::CompactOptions {
        grace: std::time::Duration::ZERO,
        ..Default::default()
    };
    for (tenant, date) in compact::partitions(&lake, Some("acme"), None)
        .await
        .unwrap()
    {
        let s = compact::compact_partition_with(&lake, &tenant, date, &opts)
            .await
            .unwrap();
        assert!(!s.skipped);
        // Grace zero: the replaced files (and their indexes) go now.
        compact::cleanup_partition(&lake, &tenant, date, opts.lock_ttl)
            .await
            .unwrap();
    }
    let after = index_files(dir.path());
    assert!(!after.is_empty());
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "old indexes deleted with their files: {before:?} → {after:?}"
    );
    let engine = common::engine(&lake, None).await;
    let (got, scan) = both(&engine, r#""login":"root""#).await;
    assert_eq!(
        (got.as_str(), scan.as_str()),
        (want.as_str(), want.as_str())
    );
    let text = common::explain_analyze(
        &engine,
        r#"SELECT count(*) FROM events WHERE event_data LIKE '%"login":"root"%'"#,
    )
    .await;
    assert!(text.contains("unindexed_files=0"), "{text}");
}

/// A lake whose files have no index (written before indexes existed, or an index write that
/// failed) and one whose index is older than its file get them from `compact`, even where
/// there is nothing to merge: the same bytes the writer made, and `LIKE` prunes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_builds_missing_and_outdated_indexes_of_files_it_leaves_alone() {
    let dir = tempfile::tempdir().unwrap();
    let lake = demo_lake(dir.path()).await;
    let indexes = index_files(dir.path());
    assert!(indexes.len() >= 2, "{indexes:?}");
    let written: Vec<Vec<u8>> = indexes.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let lit = r#""login":"root""#;
    let engine = common::engine(&lake, None).await;
    let (want, _) = both(&engine, lit).await;
    // All but the last lost; the last is made older than its file (touched after it).
    let (last, lost) = indexes.split_last().unwrap();
    for p in lost {
        std::fs::remove_file(p).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    touch_data_file_of(last);
    let engine = common::engine(&lake, None).await;
    let sql = format!("SELECT count(*) FROM events WHERE event_data LIKE '%{lit}%'");
    assert!(
        !common::explain_analyze(&engine, &sql)
            .await
            .contains("unindexed_files=0")
    );

    // And a partition whose one file is not Parquet: no index for it, and no failure of the
    // run (the file is the queries' error to report).
    let junk = dir.path().join("lake/data/acme/2030-01-01");
    std::fs::create_dir_all(&junk).unwrap();
    std::fs::write(
        junk.join("01a2374f-0000-7000-8000-000000000000.parquet"),
        b"PAR1 junk",
    )
    .unwrap();
    let summaries = compact_all(&lake).await;
    std::fs::remove_dir_all(&junk).unwrap();
    assert!(
        summaries.iter().all(|s| s.skipped),
        "one file per partition: nothing to merge"
    );
    assert!(
        summaries
            .iter()
            .any(|s| s.date == "2030-01-01" && s.indexes_built == 0)
    );
    let built: usize = summaries.iter().map(|s| s.indexes_built).sum();
    assert_eq!(built, indexes.len());
    assert_eq!(index_files(dir.path()), indexes);
    for (p, w) in indexes.iter().zip(&written) {
        assert_eq!(&std::fs::read(p).unwrap(), w, "{p:?} as the writer made it");
    }
    let engine = common::engine(&lake, None).await;
    assert_eq!(both(&engine, lit).await, (want.clone(), want));
    assert!(
        common::explain_analyze(&engine, &sql)
            .await
            .contains("unindexed_files=0")
    );
    // Nothing left to build the second time.
    assert!(
        compact_all(&lake)
            .await
            .iter()
            .all(|s| s.indexes_built == 0)
    );
}

/// `compact` with the default options over every partition of `acme`.
async fn compact_all(lake: &Lake) -> Vec<auditlake::lake::compact::CompactSummary> {
    use auditlake::lake::compact;
    let mut out = Vec::new();
    for (tenant, date) in compact::partitions(lake, Some("acme"), None).await.unwrap() {
        out.push(
            compact::compact_partition_with(lake, &tenant, date, &Default::default())
                .await
                .unwrap(),
        );
    }
    out
}

/// Every data page of `event_data` starts on a granule boundary, in files merged from spilled
/// runs of arbitrary-order input (whose batches end anywhere): a granule the index skips is a
/// page never decompressed, one it keeps costs its own page only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_data_pages_start_on_granule_boundaries() {
    use parquet::file::reader::FileReader;
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("demo.ndjson");
    let mut lines = common::demo_lines(3, 2, 9000, None);
    // Arbitrary order, and a buffer small enough to spill: the files come from the merge of
    // runs, whose batches end anywhere.
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    for i in (1..lines.len()).rev() {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        lines.swap(i, (rng % (i as u64 + 1)) as usize);
    }
    std::fs::write(&events, lines.join("\n")).unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    let opts = auditlake::ingest::IngestOptions {
        tenant: "acme".into(),
        threads: 2,
        flush_rows: 1500,
        ..Default::default()
    };
    auditlake::ingest::ingest_files(
        &lake,
        vec![auditlake::ingest::Input::File(events)],
        opts,
        false,
    )
    .await
    .unwrap();
    let col = auditlake::schema::column_index("event_data").unwrap();
    let mut pages = 0;
    for ix in index_files(dir.path()) {
        let name = ix.file_name().unwrap().to_str().unwrap();
        let data = ix.with_file_name(format!(
            "{}.parquet",
            name.trim_start_matches("_grams-").trim_end_matches(".bin")
        ));
        let f = std::fs::File::open(&data).unwrap();
        let opts = parquet::file::serialized_reader::ReadOptionsBuilder::new()
            .with_page_index()
            .build();
        let r = parquet::file::serialized_reader::SerializedFileReader::new_with_options(f, opts)
            .unwrap();
        let md = r.metadata();
        let offsets = md.offset_index().expect("page index written");
        let mut base = 0i64;
        for (rg, per_col) in offsets.iter().enumerate() {
            for loc in per_col[col].page_locations() {
                assert_eq!(
                    (base + loc.first_row_index) % auditlake::lake::grams::GRANULE_ROWS as i64,
                    0,
                    "{data:?} row group {rg}: page at row {}",
                    loc.first_row_index
                );
                pages += 1;
            }
            base += md.row_group(rg).num_rows();
        }
    }
    assert!(pages > 10, "{pages} pages");
}
